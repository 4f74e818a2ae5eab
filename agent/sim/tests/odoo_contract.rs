//! One contract, two targets: the same assertions, over JSON-RPC and XML-RPC, against the Odoo
//! simulator and against a real Odoo 18 (../shared/tools/odoo-dev, with the payflow_silae
//! addon), and over JSON-2 only against the simulator as Odoo 19 (and JSON-RPC as 17). The real half
//! prints `skipped: <reason>` when no such server answers. `PAYFLOW_TEST_ODOO_URL` (default
//! http://127.0.0.1:8069), `PAYFLOW_TEST_ODOO_DB` (default payflow), admin / admin.
//!
//! On the real server the suite only touches what it creates: moves dated 2019 in a general
//! journal, with references and keys unique to the run, deleted at the end; the global lock date
//! is set to 2019-12-31 for a few calls and always put back. It never sets a hard lock date
//! (Odoo 18 cannot remove one).

use std::time::Duration;

use payflow_sim::odoo::{OdooFault, OdooSim, OdooSimConfig};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    JsonRpc,
    XmlRpc,
    Json2,
}

/// An Odoo exception class, and how each protocol shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    AccessDenied,
    AccessError,
    UserError,
    ValidationError,
    ValueError,
    AttributeError,
    TypeError,
    IndexError,
    OperationalError,
}

impl Class {
    fn qualified(self) -> &'static str {
        match self {
            Class::AccessDenied => "odoo.exceptions.AccessDenied",
            Class::AccessError => "odoo.exceptions.AccessError",
            Class::UserError => "odoo.exceptions.UserError",
            Class::ValidationError => "odoo.exceptions.ValidationError",
            Class::ValueError => "builtins.ValueError",
            Class::AttributeError => "builtins.AttributeError",
            Class::TypeError => "builtins.TypeError",
            Class::IndexError => "builtins.IndexError",
            Class::OperationalError => "psycopg2.OperationalError",
        }
    }

    /// `/xmlrpc/2`'s fault code.
    fn xml_code(self) -> i64 {
        match self {
            Class::AccessDenied => 3,
            Class::AccessError => 4,
            Class::UserError | Class::ValidationError => 2,
            _ => 1,
        }
    }

    /// JSON-2's HTTP status.
    fn status(self) -> u16 {
        match self {
            Class::AccessDenied | Class::AccessError => 403,
            Class::UserError | Class::ValidationError => 422,
            _ => 500,
        }
    }
}

/// A refused call, as the protocol showed it.
#[derive(Debug)]
struct Failure {
    /// JSON-RPC: `error.data.name`; JSON-2: the body's `name`; XML-RPC: the traceback's last
    /// line's class (fault 1) or empty.
    name: String,
    message: String,
    xml_code: Option<i64>,
    status: Option<u16>,
    jsonrpc_code: Option<i64>,
}

impl Failure {
    /// Checks the class and the exact message.
    #[track_caller]
    fn is(&self, p: Proto, class: Class, message: &str) {
        self.is_class(p, class);
        let expected = match (p, class.xml_code()) {
            // A traceback only shows the message's last line.
            (Proto::XmlRpc, 1) => message.trim_end().lines().last().unwrap_or(""),
            _ => message,
        };
        assert_eq!(self.message, expected, "{p:?}: {self:?}");
    }

    #[track_caller]
    fn is_class(&self, p: Proto, class: Class) {
        match p {
            Proto::JsonRpc => {
                assert_eq!((self.name.as_str(), self.jsonrpc_code), (class.qualified(), Some(200)), "{self:?}")
            }
            Proto::Json2 => {
                assert_eq!((self.name.as_str(), self.status), (class.qualified(), Some(class.status())), "{self:?}")
            }
            Proto::XmlRpc => {
                assert_eq!(self.xml_code, Some(class.xml_code()), "{self:?}");
                if class.xml_code() == 1 {
                    let short = class.qualified().trim_start_matches("builtins.");
                    assert_eq!(self.name, short, "{self:?}");
                }
            }
        }
    }
}

type Answer = Result<Value, Failure>;

struct Target {
    label: String,
    url: String,
    db: String,
    password: String,
    api_key: String,
    version: u32,
    http: reqwest::Client,
    sim: Option<OdooSim>,
}

fn to_xml(v: &Value) -> xmlrpc::Value {
    match v {
        Value::Null => xmlrpc::Value::Bool(false),
        Value::Bool(b) => xmlrpc::Value::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) if i32::try_from(i).is_ok() => xmlrpc::Value::Int(i as i32),
            Some(i) => xmlrpc::Value::Int64(i),
            None => xmlrpc::Value::Double(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => xmlrpc::Value::String(s.clone()),
        Value::Array(a) => xmlrpc::Value::Array(a.iter().map(to_xml).collect()),
        Value::Object(o) => xmlrpc::Value::Struct(o.iter().map(|(k, v)| (k.clone(), to_xml(v))).collect()),
    }
}

fn from_xml(v: xmlrpc::Value) -> Value {
    match v {
        xmlrpc::Value::Int(i) => json!(i),
        xmlrpc::Value::Int64(i) => json!(i),
        xmlrpc::Value::Bool(b) => json!(b),
        xmlrpc::Value::String(s) => json!(s),
        xmlrpc::Value::Double(d) => json!(d),
        xmlrpc::Value::DateTime(d) => json!(d.to_string()),
        xmlrpc::Value::Base64(b) => json!(String::from_utf8_lossy(&b)),
        xmlrpc::Value::Struct(s) => Value::Object(s.into_iter().map(|(k, v)| (k, from_xml(v))).collect()),
        xmlrpc::Value::Array(a) => Value::Array(a.into_iter().map(from_xml).collect()),
        xmlrpc::Value::Nil => Value::Null,
    }
}

struct Received(Vec<u8>);

impl xmlrpc::Transport for Received {
    type Stream = std::io::Cursor<Vec<u8>>;
    fn transmit(self, _: &xmlrpc::Request<'_>) -> Result<Self::Stream, Box<dyn std::error::Error + Send + Sync>> {
        Ok(std::io::Cursor::new(self.0))
    }
}

impl Target {
    async fn jsonrpc(&self, service: &str, method: &str, args: Value) -> Answer {
        let body = json!({"jsonrpc": "2.0", "method": "call", "id": 7, "params": {"service": service, "method": method, "args": args}});
        let response = self.http.post(format!("{}/jsonrpc", self.url)).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200, "{}: /jsonrpc {service}.{method}", self.label);
        let v: Value = response.json().await.unwrap();
        assert_eq!((v["jsonrpc"].as_str(), &v["id"]), (Some("2.0"), &json!(7)), "{v}");
        match v.get("error") {
            Some(e) => Err(Failure {
                name: e["data"]["name"].as_str().unwrap_or_default().to_owned(),
                message: e["data"]["message"].as_str().unwrap_or_default().to_owned(),
                xml_code: None,
                status: None,
                jsonrpc_code: e["code"].as_i64(),
            }),
            // A method returning None: Odoo leaves `result` out.
            None => Ok(v.get("result").cloned().unwrap_or(Value::Null)),
        }
    }

    async fn xmlrpc(&self, service: &str, method: &str, args: &[Value]) -> Answer {
        let mut request = xmlrpc::Request::new(method);
        for a in args {
            request = request.arg(to_xml(a));
        }
        let mut body = Vec::new();
        request.write_as_xml(&mut body).unwrap();
        let response = self
            .http
            .post(format!("{}/xmlrpc/2/{service}", self.url))
            .header("Content-Type", "text/xml")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}: /xmlrpc/2/{service} {method}", self.label);
        let bytes = response.bytes().await.unwrap().to_vec();
        match request.call(Received(bytes)) {
            Ok(v) => Ok(from_xml(v)),
            Err(e) => {
                let f = e.fault().unwrap_or_else(|| panic!("{}: not an XML-RPC answer: {e}", self.label));
                let code = i64::from(f.fault_code);
                let (name, message) = if code == 1 {
                    // The traceback's last line: `module.Class: message`.
                    let last = f.fault_string.trim_end().lines().last().unwrap_or("").to_owned();
                    let (n, m) = last.split_once(": ").unwrap_or(("", last.as_str()));
                    (n.to_owned(), m.to_owned())
                } else {
                    (String::new(), f.fault_string.clone())
                };
                Err(Failure { name, message, xml_code: Some(code), status: None, jsonrpc_code: None })
            }
        }
    }

    async fn json2(&self, key: Option<&str>, model: &str, method: &str, body: Value) -> Answer {
        let mut request = self
            .http
            .post(format!("{}/json/2/{model}/{method}", self.url))
            .header("X-Odoo-Database", &self.db)
            .json(&body);
        if let Some(key) = key {
            request = request.header("Authorization", format!("bearer {key}"));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let v: Value = response.json().await.unwrap();
        if status == 200 {
            return Ok(v);
        }
        Err(Failure {
            name: v["name"].as_str().unwrap_or_default().to_owned(),
            message: v["message"].as_str().unwrap_or_default().to_owned(),
            xml_code: None,
            status: Some(status),
            jsonrpc_code: None,
        })
    }

    /// A `common` service call (JSON-RPC or XML-RPC; JSON-2 has none).
    async fn common(&self, p: Proto, method: &str, args: Value) -> Answer {
        match p {
            Proto::XmlRpc => self.xmlrpc("common", method, args.as_array().unwrap()).await,
            _ => self.jsonrpc("common", method, args).await,
        }
    }

    /// `model.method(**kwargs)` on `ids` (record methods) as the admin with `secret`.
    async fn call_as(
        &self,
        p: Proto,
        secret: &str,
        model: &str,
        method: &str,
        ids: Option<Value>,
        kw: Value,
    ) -> Answer {
        match p {
            Proto::Json2 => {
                let mut body = kw;
                if let Some(ids) = ids {
                    body["ids"] = ids;
                }
                self.json2(Some(secret), model, method, body).await
            }
            _ => {
                let args = match ids {
                    Some(ids) => json!([ids]),
                    None => json!([]),
                };
                let all = json!([self.db, 2, secret, model, method, args, kw]);
                if p == Proto::XmlRpc {
                    self.xmlrpc("object", "execute_kw", all.as_array().unwrap()).await
                } else {
                    self.jsonrpc("object", "execute_kw", all).await
                }
            }
        }
    }

    fn secret(&self, p: Proto) -> &str {
        if p == Proto::Json2 {
            &self.api_key
        } else {
            &self.password
        }
    }

    async fn call(&self, p: Proto, model: &str, method: &str, ids: Option<Value>, kw: Value) -> Answer {
        self.call_as(p, self.secret(p), model, method, ids, kw).await
    }

    #[track_caller]
    fn ok<'a>(
        &'a self,
        p: Proto,
        model: &'a str,
        method: &'a str,
        ids: Option<Value>,
        kw: Value,
    ) -> impl std::future::Future<Output = Value> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            self.call(p, model, method, ids, kw)
                .await
                .unwrap_or_else(|e| panic!("{} over {p:?}: {model}.{method} at {caller}: {e:?}", self.label))
        }
    }

    #[track_caller]
    fn err<'a>(
        &'a self,
        p: Proto,
        model: &'a str,
        method: &'a str,
        ids: Option<Value>,
        kw: Value,
    ) -> impl std::future::Future<Output = Failure> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            match self.call(p, model, method, ids, kw).await {
                Ok(v) => panic!("{} over {p:?}: {model}.{method} at {caller} should fail, answered {v}", self.label),
                Err(f) => f,
            }
        }
    }

    /// `create`: the values by position over JSON-RPC and XML-RPC (Odoo 18's `call_kw` fails on
    /// `vals_list` by name), by name over JSON-2 (which has no positions).
    async fn create_call(&self, p: Proto, model: &str, vals: Value) -> Answer {
        if p == Proto::Json2 {
            return self.json2(Some(&self.api_key), model, "create", json!({ "vals_list": vals })).await;
        }
        let all = json!([self.db, 2, self.password, model, "create", [vals], {}]);
        if p == Proto::XmlRpc {
            self.xmlrpc("object", "execute_kw", all.as_array().unwrap()).await
        } else {
            self.jsonrpc("object", "execute_kw", all).await
        }
    }

    /// `write`, values by position over JSON-RPC and XML-RPC: overrides name the parameter
    /// differently (`ResCompany.write(values)`, `AccountMove.write(vals)`).
    async fn write_call(&self, p: Proto, model: &str, ids: Value, vals: Value) -> Answer {
        if p == Proto::Json2 {
            let name = if model == "res.company" { "values" } else { "vals" };
            let mut body = json!({ "ids": ids });
            body[name] = vals;
            return self.json2(Some(&self.api_key), model, "write", body).await;
        }
        let all = json!([self.db, 2, self.password, model, "write", [ids, vals], {}]);
        if p == Proto::XmlRpc {
            self.xmlrpc("object", "execute_kw", all.as_array().unwrap()).await
        } else {
            self.jsonrpc("object", "execute_kw", all).await
        }
    }

    async fn create(&self, p: Proto, model: &str, vals: Value) -> i64 {
        let v = self
            .create_call(p, model, vals)
            .await
            .unwrap_or_else(|e| panic!("{} over {p:?}: {model}.create: {e:?}", self.label));
        // JSON-2 answers the ids; call_kw gives the one id.
        v.as_i64().or_else(|| v[0].as_i64()).unwrap_or_else(|| panic!("create answered {v}"))
    }

    /// Deletes moves, whatever their state (no result checked: XML-RPC cannot answer
    /// `button_draft`'s None, but it is done).
    async fn drop_moves(&self, p: Proto, ids: &[i64]) {
        for id in ids {
            let read = self.call(p, "account.move", "read", Some(json!([id])), json!({"fields": ["state"]})).await;
            let Ok(Value::Array(rows)) = read else { continue };
            let Some(row) = rows.first() else { continue };
            if row["state"] != "draft" {
                let _ = self.call(p, "account.move", "button_draft", Some(json!([id])), json!({})).await;
            }
            let _ = self.call(p, "account.move", "unlink", Some(json!([id])), json!({})).await;
        }
    }
}

async fn simulator(version: u32) -> Target {
    let cfg = OdooSimConfig::demo(version);
    let sim = OdooSim::start(cfg.clone()).await.unwrap();
    Target {
        label: format!("the simulator as Odoo {version}"),
        url: sim.url(),
        db: cfg.database,
        password: cfg.password,
        api_key: cfg.api_key,
        version,
        http: reqwest::Client::new(),
        sim: Some(sim),
    }
}

/// The real Odoo, or why its half is skipped.
async fn real() -> Result<Target, String> {
    let url = std::env::var("PAYFLOW_TEST_ODOO_URL").unwrap_or_else(|_| "http://127.0.0.1:8069".into());
    let db = std::env::var("PAYFLOW_TEST_ODOO_DB").unwrap_or_else(|_| "payflow".into());
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let probe = json!({"jsonrpc": "2.0", "method": "call", "id": 7, "params": {"service": "common", "method": "version", "args": []}});
    let version = match http.post(format!("{url}/jsonrpc")).json(&probe).timeout(Duration::from_secs(5)).send().await {
        Ok(r) => r.json::<Value>().await.map_err(|e| format!("{url} is not an Odoo ({e})"))?,
        Err(e) => return Err(format!("no Odoo answers at {url} ({e}); install one with ../shared/tools/odoo-dev")),
    };
    let major =
        version["result"]["server_version_info"][0].as_u64().ok_or(format!("{url}: no version in {version}"))?;
    if major != 18 {
        return Err(format!("{url} is Odoo {major}, this contract is Odoo 18's"));
    }
    let t = Target {
        label: format!("the real Odoo 18 at {url}"),
        url: url.clone(),
        db: db.clone(),
        password: "admin".into(),
        api_key: String::new(),
        version: 18,
        http,
        sim: None,
    };
    let installed = t
        .call(
            Proto::JsonRpc,
            "ir.module.module",
            "search_read",
            None,
            json!({"domain": [["name", "=", "payflow_silae"], ["state", "=", "installed"]], "fields": ["id"]}),
        )
        .await
        .map_err(|e| format!("{url}, database {db}: {}", e.message))?;
    if installed.as_array().is_none_or(|a| a.is_empty()) {
        return Err(format!("the payflow_silae addon is not installed in the database {db} at {url}"));
    }
    Ok(t)
}

fn cents(v: &Value) -> i64 {
    (v.as_f64().unwrap_or(0.0) * 100.0).round() as i64
}

fn today() -> (i32, u32) {
    // Civil date from the Unix day (Howard Hinnant's algorithm), enough for year and month.
    let days = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 86_400) as i64;
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((yoe + era * 400 + i64::from(month <= 2)) as i32, month)
}

/// What one run needs of the database: a general journal and two accounts of company 1.
struct Fixture {
    run: String,
    journal: i64,
    journal_name: String,
    journal_code: String,
    expense: i64,
    payable: i64,
}

impl Fixture {
    fn vals(&self, date: &str, debit: f64, credit: f64) -> Value {
        json!({"move_type": "entry", "journal_id": self.journal, "company_id": 1, "date": date, "ref": self.run,
            "line_ids": [[0, 0, {"account_id": self.expense, "name": "Salaires", "debit": debit, "credit": 0.0}],
                         [0, 0, {"account_id": self.payable, "name": "Net à payer", "debit": 0.0, "credit": credit}]]})
    }
}

/// The contract, over one protocol.
async fn contract(t: &Target, p: Proto) {
    let v = t.version;

    // -- Version and authentication ----------------------------------------------------------
    // The version in one request on every series, without the deprecated endpoints: the web
    // client's own JSON-RPC route (auth="none"), answering `common.version`'s dict.
    let body = json!({"jsonrpc": "2.0", "method": "call", "params": {}, "id": 3});
    let r = t.http.post(format!("{}/web/webclient/version_info", t.url)).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}: POST /web/webclient/version_info", t.label);
    let answer: Value = r.json().await.unwrap();
    assert_eq!((&answer["jsonrpc"], &answer["id"]), (&json!("2.0"), &json!(3)), "{}: {answer}", t.label);
    let version = &answer["result"];
    assert_eq!(version["server_version"], format!("{v}.0"), "{}: {answer}", t.label);
    assert_eq!(version["server_version_info"], json!([v, 0, 0, "final", 0, ""]), "{}: {answer}", t.label);
    assert_eq!(version["protocol_version"], 1, "{}: {answer}", t.label);
    if p == Proto::Json2 {
        // The version without the deprecated /jsonrpc: `GET /web/version` (19's rpc module).
        let r = t.http.get(format!("{}/web/version", t.url)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{}: GET /web/version", t.label);
        let version: Value = r.json().await.unwrap();
        assert_eq!(version, json!({"version": format!("{v}.0"), "version_info": [v, 0, 0, "final", 0, ""]}));
    } else {
        let version = t.common(p, "version", json!([])).await.unwrap();
        assert_eq!(version["server_version"], format!("{v}.0"));
        assert_eq!(version["server_version_info"], json!([v, 0, 0, "final", 0, ""]));
        assert_eq!(version["protocol_version"], 1);
    }
    if p == Proto::Json2 {
        // No login step: a wrong or missing key is a 401.
        let e =
            t.json2(Some("not-the-key"), "res.company", "search_read", json!({"fields": ["id"]})).await.unwrap_err();
        assert_eq!(
            (e.status, e.name.as_str(), e.message.as_str()),
            (Some(401), "werkzeug.exceptions.Unauthorized", "Invalid apikey")
        );
        let e = t.json2(None, "res.company", "search_read", json!({})).await.unwrap_err();
        assert_eq!(e.status, Some(401));
    } else {
        let auth = |secret: &str, db: &str| json!([db, "admin", secret, {}]);
        assert_eq!(t.common(p, "authenticate", auth(&t.password, &t.db)).await.unwrap(), json!(2));
        assert_eq!(t.common(p, "authenticate", auth("wrong", &t.db)).await.unwrap(), json!(false));
        let e = t.common(p, "authenticate", auth(&t.password, "payflow_nowhere")).await.unwrap_err();
        e.is_class(p, Class::OperationalError);
        assert!(e.message.contains("database \"payflow_nowhere\" does not exist"), "{e:?}");
        // A wrong secret: AccessDenied, as Odoo words it.
        let e = t.call_as(p, "wrong", "res.company", "search_read", None, json!({"fields": ["id"]})).await.unwrap_err();
        e.is(p, Class::AccessDenied, "Access Denied");
    }

    // -- The reads of an import ---------------------------------------------------------------
    let locks: &[&str] = if v >= 18 {
        &["fiscalyear_lock_date", "hard_lock_date"]
    } else {
        &["fiscalyear_lock_date", "period_lock_date"]
    };
    let mut fields = vec!["id", "name"];
    fields.extend(locks);
    let companies = t.ok(p, "res.company", "search_read", None, json!({"domain": [], "fields": fields})).await;
    let first = companies.as_array().unwrap().iter().find(|c| c["id"] == 1).expect("company 1");
    for lock in locks {
        assert!(first[*lock] == false || first[*lock].as_str().is_some_and(|d| d.len() == 10), "{first}");
    }
    let e = t
        .err(p, "res.company", "search_read", None, json!({"fields": ["id"], "context": {"allowed_company_ids": [99]}}))
        .await;
    e.is(p, Class::AccessError, "Access to unauthorized or invalid companies.");

    let journals = t
        .ok(
            p,
            "account.journal",
            "search_read",
            None,
            json!({"domain": [["company_id", "=", 1]], "fields": ["id", "code", "name", "type", "active", "company_id"], "context": {"active_test": false}}),
        )
        .await;
    let journals = journals.as_array().unwrap();
    assert!(journals.iter().all(|j| j["company_id"][0] == 1), "{journals:?}");
    let general: Vec<&Value> = journals.iter().filter(|j| j["type"] == "general" && j["active"] == true).collect();
    let journal = general.iter().find(|j| j["code"] == "SAL").or(general.first()).expect("a general journal");

    let company_leaf = if v >= 18 { json!(["company_ids", "in", [1]]) } else { json!(["company_id", "=", 1]) };
    let mut domain = vec![json!(["code", "in", ["641100", "421000", "99999999"]]), company_leaf];
    if v <= 18 {
        domain.push(json!(["deprecated", "=", false]));
    }
    let company_field = if v >= 18 { "company_ids" } else { "company_id" };
    let accounts = t
        .ok(
            p,
            "account.account",
            "search_read",
            None,
            json!({"domain": domain, "fields": ["id", "code", "name", company_field], "context": {"allowed_company_ids": [1]}}),
        )
        .await;
    let accounts = accounts.as_array().unwrap();
    let mut codes: Vec<&str> = accounts.iter().filter_map(|a| a["code"].as_str()).collect();
    codes.sort();
    assert_eq!(codes, ["421000", "641100"], "one account per code in company 1: {accounts:?}");
    assert!(accounts.iter().all(|a| a[company_field] == json!([1]) || a[company_field][0] == 1), "{accounts:?}");
    let id_of = |code: &str| accounts.iter().find(|a| a["code"] == code).unwrap()["id"].as_i64().unwrap();

    let analytic = t
        .ok(
            p,
            "account.analytic.account",
            "search_read",
            None,
            json!({"domain": ["|", ["code", "in", ["PARIS", "LYON"]], ["name", "in", ["PARIS", "LYON"]]], "fields": ["id", "code", "name"], "context": {"allowed_company_ids": [1]}}),
        )
        .await;
    for a in analytic.as_array().unwrap() {
        assert!(["PARIS", "LYON"].iter().any(|x| a["code"] == *x || a["name"] == *x), "{a}");
    }

    // Errors: a field the model lacks (in a domain, in `fields`), a method it lacks.
    let e =
        t.err(p, "account.move", "search_read", None, json!({"domain": [["nope", "=", 1]], "fields": ["id"]})).await;
    e.is(p, Class::ValueError, "Invalid field account.move.nope in leaf ('nope', '=', 1)");
    let e = t.err(p, "account.move", "search_read", None, json!({"domain": [], "fields": ["nope"], "limit": 1})).await;
    e.is(p, Class::ValueError, "Invalid field 'nope' on model 'account.move'");
    let e = t.err(p, "account.move", "payflow_nope", None, json!({})).await;
    let nope = "The method 'payflow_nope' does not exist on the model 'account.move'";
    if p == Proto::Json2 {
        assert_eq!((e.status, e.name.as_str(), e.message.as_str()), (Some(404), "werkzeug.exceptions.NotFound", nope));
    } else {
        e.is(p, Class::AttributeError, nope);
    }

    let f = Fixture {
        run: format!("contract-{}-{:?}-{}", std::process::id(), p, nanos()),
        journal: journal["id"].as_i64().unwrap(),
        journal_name: journal["name"].as_str().unwrap().to_owned(),
        journal_code: journal["code"].as_str().unwrap().to_owned(),
        expense: id_of("641100"),
        payable: id_of("421000"),
    };
    let mut created: Vec<i64> = Vec::new();
    let outcome = moves_contract(t, p, &f, &mut created).await;
    // Whatever happened, nothing of this run stays.
    let mut leftovers: Vec<i64> = t
        .ok(p, "account.move", "search_read", None, json!({"domain": [["ref", "=", f.run]], "fields": ["id"]}))
        .await
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_i64())
        .collect();
    leftovers.extend(created.iter().copied());
    leftovers.sort_unstable();
    leftovers.dedup();
    t.drop_moves(p, &leftovers).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    let left =
        t.ok(p, "account.move", "search_read", None, json!({"domain": [["ref", "=", f.run]], "fields": ["id"]})).await;
    assert_eq!(left, json!([]), "{} over {p:?} leaves nothing behind", t.label);
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

/// Runs the parts that create moves, catching a failed assertion so that the caller cleans up.
async fn moves_contract(
    t: &Target,
    p: Proto,
    f: &Fixture,
    created: &mut Vec<i64>,
) -> Result<(), Box<dyn std::any::Any + Send>> {
    use futures_like::CatchUnwind;
    CatchUnwind(Box::pin(moves_contract_inner(t, p, f, created))).await
}

/// A minimal `catch_unwind` for a future (the crate has no `futures` dependency).
mod futures_like {
    use std::future::Future;
    use std::panic::AssertUnwindSafe;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    pub struct CatchUnwind<'a>(pub Pin<Box<dyn Future<Output = ()> + Send + 'a>>);

    impl Future for CatchUnwind<'_> {
        type Output = Result<(), Box<dyn std::any::Any + Send>>;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            match std::panic::catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(())) => Poll::Ready(Ok(())),
                Err(panic) => Poll::Ready(Err(panic)),
            }
        }
    }
}

async fn moves_contract_inner(t: &Target, p: Proto, f: &Fixture, created: &mut Vec<i64>) {
    let v = t.version;

    // -- A balanced draft, read back, deleted ---------------------------------------------------
    if p != Proto::Json2 {
        // Odoo 18's `call_kw` reads `args[0]` after a create: values given by name fail (and
        // nothing is created). The agent never creates this way.
        let e = t.err(p, "account.move", "create", None, json!({"vals_list": f.vals("2019-03-31", 1.0, 1.0)})).await;
        e.is(p, Class::IndexError, "tuple index out of range");
    }
    let id = t.create(p, "account.move", f.vals("2019-03-31", 10.0, 10.0)).await;
    created.push(id);
    let read = t
        .ok(
            p,
            "account.move",
            "read",
            Some(json!([id])),
            json!({"fields": ["state", "date", "ref", "move_type", "journal_id", "company_id", "amount_total", "payflow_import_key"]}),
        )
        .await;
    let m = &read[0];
    assert_eq!(
        (m["state"].as_str(), m["date"].as_str(), m["move_type"].as_str()),
        (Some("draft"), Some("2019-03-31"), Some("entry"))
    );
    assert_eq!((&m["ref"], &m["journal_id"][0], &m["company_id"][0]), (&json!(f.run), &json!(f.journal), &json!(1)));
    assert_eq!((cents(&m["amount_total"]), &m["payflow_import_key"]), (1000, &json!(false)));
    let lines = t
        .ok(
            p,
            "account.move.line",
            "search_read",
            None,
            json!({"domain": [["move_id", "=", id]], "fields": ["debit", "credit", "balance", "name", "parent_state"], "order": "id"}),
        )
        .await;
    let amounts: Vec<(i64, i64, i64)> = lines
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (cents(&l["debit"]), cents(&l["credit"]), cents(&l["balance"])))
        .collect();
    assert_eq!(amounts, [(1000, 0, 1000), (0, 1000, -1000)]);
    assert_eq!(t.ok(p, "account.move", "unlink", Some(json!([id])), json!({})).await, json!(true));
    let gone = t.ok(p, "account.move", "read", Some(json!([id])), json!({"fields": ["state"]})).await;
    assert_eq!(gone, json!([]), "a deleted move reads as nothing");

    // -- Amounts are compared at the cent: 10.004 balances 10.00, 10.006 does not --------------
    let id = t.create(p, "account.move", f.vals("2019-03-31", 10.004, 10.0)).await;
    created.push(id);
    t.ok(p, "account.move", "unlink", Some(json!([id])), json!({})).await;
    // The unbalanced move names itself as Odoo would have numbered it: the first entry of the
    // journal's month gets a number at once, the next ones `/`.
    let siblings = t
        .ok(
            p,
            "account.move",
            "search_read",
            None,
            json!({"domain": [["journal_id", "=", f.journal], ["date", ">=", "2019-03-01"], ["date", "<=", "2019-03-31"], ["name", "!=", "/"]], "fields": ["id"]}),
        )
        .await;
    let number = if siblings == json!([]) { format!("{}/2019/03/0001", f.journal_code) } else { String::new() };
    let unbalanced = |debit: &str, credit: &str| {
        format!(
            "An error has occurred.\n\nThe move (Draft Entry {number} ({})) is not balanced.\nThe total of debits equals {debit}\u{a0}€ and the total of credits equals {credit}\u{a0}€.\nYou might want to specify a default account on journal \"{}\" to automatically balance each move.",
            f.run, f.journal_name
        )
    };
    let e = t.create_call(p, "account.move", f.vals("2019-03-31", 10.006, 10.0)).await.unwrap_err();
    e.is(p, Class::UserError, &unbalanced("10.01", "10.00"));
    let e = t.create_call(p, "account.move", f.vals("2019-03-31", 1_234_567.5, 9.0)).await.unwrap_err();
    e.is(p, Class::UserError, &unbalanced("1,234,567.50", "9.00"));

    // -- The import key is unique per company: Odoo's answer to the SQL constraint --------------
    let key = format!("{}-dup", f.run);
    let mut keyed = f.vals("2019-03-31", 3.0, 3.0);
    keyed["payflow_import_key"] = json!(key);
    let first = t.create(p, "account.move", keyed.clone()).await;
    created.push(first);
    let e = t.create_call(p, "account.move", keyed).await.unwrap_err();
    e.is(
        p,
        Class::ValidationError,
        "The operation cannot be completed: A move with this PayFlow import key already exists in this company.",
    );
    let found = t
        .ok(
            p,
            "account.move",
            "search_read",
            None,
            json!({"domain": [["payflow_import_key", "in", [key]], ["company_id", "=", 1]], "fields": ["id", "state", "payflow_import_key", "payflow_payload_hash"]}),
        )
        .await;
    assert_eq!(
        found,
        json!([{"id": first, "state": "draft", "payflow_import_key": key, "payflow_payload_hash": false}])
    );
    t.ok(p, "account.move", "unlink", Some(json!([first])), json!({})).await;

    // -- Lock dates ---------------------------------------------------------------------------
    lock_dates(t, p, f, created).await;

    // -- payflow_import -----------------------------------------------------------------------
    payflow_import(t, p, f, created).await;
    payflow_import_plan(t, p, f, created).await;
    corrections(t, p, f, created).await;
    payflow_import_plan_partners(t, p, f, created).await;

    // A posted move cannot be deleted; button_draft returns None, which each protocol shows its
    // way: no `result` (JSON-RPC), `null` (JSON-2), a TypeError fault although done (XML-RPC).
    let id = t.create(p, "account.move", f.vals("2019-04-30", 2.0, 2.0)).await;
    created.push(id);
    assert_eq!(t.ok(p, "account.move", "action_post", Some(json!([id])), json!({})).await, json!(false));
    let e = t.err(p, "account.move", "unlink", Some(json!([id])), json!({})).await;
    e.is(p, Class::UserError, "You can't delete a posted journal item. Don’t play games with your accounting records; reset the journal entry to draft before deleting it.");
    let e = t.err(p, "account.move", "action_post", Some(json!([id])), json!({})).await;
    assert!(e.message.ends_with(&format!("(id {id}) must be in draft.")), "{e:?}");
    match t.call(p, "account.move", "button_draft", Some(json!([id])), json!({})).await {
        Ok(v) => assert!(p != Proto::XmlRpc && v.is_null(), "{p:?}: {v}"),
        Err(e) => {
            assert_eq!(p, Proto::XmlRpc, "{e:?}");
            e.is(p, Class::TypeError, "cannot marshal None unless allow_none is enabled");
        }
    }
    let state = t.ok(p, "account.move", "read", Some(json!([id])), json!({"fields": ["state"]})).await;
    assert_eq!(state[0]["state"], "draft", "reset to draft, whatever the answer said");
    let e = t.err(p, "account.move", "button_draft", Some(json!([id])), json!({})).await;
    e.is(p, Class::UserError, "Only posted/cancelled journal entries can be reset to draft.");
    t.ok(p, "account.move", "unlink", Some(json!([id])), json!({})).await;
    let _ = v;
}

/// A posted move of a locked period cannot be reset, changed or deleted; a draft can still be
/// created there, and posting it dates it after the lock. The lock is always put back.
async fn lock_dates(t: &Target, p: Proto, f: &Fixture, created: &mut Vec<i64>) {
    let before = t.ok(p, "res.company", "read", Some(json!([1])), json!({"fields": ["fiscalyear_lock_date"]})).await;
    let before = before[0]["fiscalyear_lock_date"].clone();
    if before.as_str().is_some_and(|d| d >= "2019-06-30") {
        println!("{} over {p:?}: lock dates skipped: company 1 is already locked until {before}", t.label);
        return;
    }
    let posted = t.create(p, "account.move", f.vals("2019-06-30", 4.0, 4.0)).await;
    created.push(posted);
    t.ok(p, "account.move", "action_post", Some(json!([posted])), json!({})).await;
    let draft = t.create(p, "account.move", f.vals("2019-06-15", 5.0, 5.0)).await;
    created.push(draft);

    t.write_call(p, "res.company", json!([1]), json!({"fiscalyear_lock_date": "2019-12-31"})).await.unwrap();
    let reset = t.call(p, "account.move", "button_draft", Some(json!([posted])), json!({})).await;
    let redate = t.write_call(p, "account.move", json!([posted]), json!({"date": "2019-07-31"})).await;
    let delete = t.call(p, "account.move", "unlink", Some(json!([posted])), json!({})).await;
    let post = t.call(p, "account.move", "action_post", Some(json!([draft])), json!({})).await;
    let after_post =
        t.call(p, "account.move", "read", Some(json!([draft])), json!({"fields": ["state", "date", "name"]})).await;
    let inside = t.create_call(p, "account.move", f.vals("2019-05-31", 6.0, 6.0)).await;
    // Odoo takes drafts there; the addon refuses a payroll there (a lock could move between the
    // agent's check and its write).
    let import_key = format!("{}-locked", f.run);
    let imported = t
        .call(
            p,
            "account.move",
            "payflow_import",
            None,
            json!({"moves": [{"import_key": import_key, "payload_hash": "h", "vals": f.vals("2019-05-15", 7.0, 7.0)}]}),
        )
        .await;
    let mut restored = t.write_call(p, "res.company", json!([1]), json!({ "fiscalyear_lock_date": before })).await;
    if restored.is_err() {
        // Once more, over JSON-RPC: a lock date must never stay behind.
        restored =
            t.write_call(Proto::JsonRpc, "res.company", json!([1]), json!({ "fiscalyear_lock_date": before })).await;
    }
    if let Ok(v) = &inside {
        created.push(v.as_i64().or_else(|| v[0].as_i64()).unwrap_or(0));
    }
    restored.unwrap_or_else(|e| panic!("{}: the lock date could not be put back: {e:?}", t.label));

    let locked = if t.version >= 18 {
        "You cannot add/modify entries prior to and inclusive of: Global Lock Date (12/31/2019)."
    } else {
        "You cannot add/modify entries prior to and inclusive of the lock date 12/31/2019."
    };
    reset.unwrap_err().is(p, Class::UserError, locked);
    redate.unwrap_err().is(p, Class::UserError, locked);
    delete.unwrap_err().is(p, Class::UserError, locked);
    post.unwrap();
    // Dated the day after the lock, or the end of that month once it is over (today).
    let expected = if today() > (2020, 1) { "2020-01-31" } else { "2020-01-01" };
    let after_post = after_post.unwrap();
    assert_eq!((after_post[0]["state"].as_str(), after_post[0]["date"].as_str()), (Some("posted"), Some(expected)));
    let name = after_post[0]["name"].as_str().unwrap();
    assert!(name.starts_with(&format!("{}/2020/01/", f.journal_code)), "numbered in its new month: {name}");
    inside.unwrap();
    match imported {
        Ok(r) => {
            created.push(r[0]["id"].as_i64().unwrap_or(0));
            panic!("{} over {p:?}: payflow_import wrote into a locked period: {r}", t.label);
        }
        Err(e) if e.message.contains("does not exist on the model") => {
            println!("skipped: {} over {p:?}: payflow_import in a locked period: no such method", t.label)
        }
        Err(e) => assert!(
            e.message.contains("The payroll dated 2019-05-15 cannot be imported")
                && e.message.contains("is locked until 2019-12-31"),
            "{} over {p:?}: {e:?}",
            t.label
        ),
    }
}

/// A `payflow_import` answer with each move's `name` checked against the move as read, then
/// left out (names depend on the sequence's state).
async fn unnamed(t: &Target, p: Proto, mut r: Value) -> Value {
    for row in r.as_array_mut().into_iter().flatten() {
        let id = row["id"].clone();
        let read = t.ok(p, "account.move", "read", Some(json!([id])), json!({"fields": ["name"]})).await;
        let name = row.as_object_mut().unwrap().remove("name");
        assert_eq!(name, Some(read[0]["name"].clone()), "{} over {p:?}: the name of move {id}", t.label);
    }
    r
}

async fn payflow_import(t: &Target, p: Proto, f: &Fixture, created: &mut Vec<i64>) {
    let probe = t.call(p, "account.move", "payflow_import", None, json!({"moves": []})).await;
    match probe {
        Ok(v) => assert_eq!(v, json!([])),
        Err(e) if e.message.contains("does not exist on the model") => {
            println!("skipped: {} over {p:?}: payflow_import: the addon has no such method ({})", t.label, e.message);
            return;
        }
        Err(e) => panic!("{}: payflow_import(moves=[]): {e:?}", t.label),
    }
    let key = format!("{}-import", f.run);
    let entry = |k: &str, hash: &str, amount: f64| {
        json!({"import_key": k, "payload_hash": hash, "vals": f.vals("2019-02-28", amount, amount),
            "attachment": {"name": "silae-contract.json", "datas": "e30=", "mimetype": "application/json"},
            "message": "<p>PayFlow : contrat</p>"})
    };
    let import = |moves: Value| t.call(p, "account.move", "payflow_import", None, json!({ "moves": moves }));

    let r = unnamed(t, p, import(json!([entry(&key, "h1", 10.0)])).await.unwrap()).await;
    let first = r[0]["id"].as_i64().unwrap();
    created.push(first);
    assert_eq!(r, json!([{"import_key": key, "id": first, "result": "created", "state": "draft"}]));
    let attachments = t
        .ok(
            p,
            "ir.attachment",
            "search_read",
            None,
            json!({"domain": [["res_model", "=", "account.move"], ["res_id", "=", first]], "fields": ["name", "mimetype", "datas", "file_size"]}),
        )
        .await;
    assert_eq!(attachments.as_array().unwrap().len(), 1, "{attachments}");
    let a = &attachments[0];
    assert_eq!(
        (&a["name"], &a["mimetype"], &a["datas"], &a["file_size"]),
        (&json!("silae-contract.json"), &json!("application/json"), &json!("e30="), &json!(2))
    );
    let messages = t
        .ok(
            p,
            "mail.message",
            "search_read",
            None,
            json!({"domain": [["model", "=", "account.move"], ["res_id", "=", first]], "fields": ["body", "message_type"]}),
        )
        .await;
    let bodies: Vec<&str> = messages.as_array().unwrap().iter().filter_map(|m| m["body"].as_str()).collect();
    // The addon's move has its PayFlow note only: no automatic "created" log.
    assert_eq!(bodies, ["<p>PayFlow : contrat</p>"]);

    let r = unnamed(t, p, import(json!([entry(&key, "h1", 10.0)])).await.unwrap()).await;
    assert_eq!(r, json!([{"import_key": key, "id": first, "result": "unchanged", "state": "draft"}]));
    let r = unnamed(t, p, import(json!([entry(&key, "h2", 11.0)])).await.unwrap()).await;
    // An untouched draft is rewritten in place: the same move, Silae's new JSON beside the old.
    assert_eq!(r, json!([{"import_key": key, "id": first, "result": "replaced", "state": "draft"}]));
    let read = t.ok(p, "account.move", "read", Some(json!([first])), json!({"fields": ["amount_total"]})).await;
    assert_eq!(cents(&read[0]["amount_total"]), 1100);
    let files = t
        .ok(
            p,
            "ir.attachment",
            "search_read",
            None,
            json!({"domain": [["res_model", "=", "account.move"], ["res_id", "=", first]], "fields": ["id"]}),
        )
        .await;
    assert_eq!(files.as_array().unwrap().len(), 2, "{files}");
    // A draft changed in Odoo since (its reference here) is never replaced: nothing written.
    t.write_call(p, "account.move", json!([first]), json!({"ref": "revu par la comptable"})).await.unwrap();
    let e = import(json!([entry(&key, "h3", 12.0)])).await.unwrap_err();
    e.is_class(p, Class::UserError);
    assert!(e.message.contains("was changed in Odoo by") && e.message.contains("nothing was written"), "{e:?}");
    let read = t
        .ok(
            p,
            "account.move",
            "read",
            Some(json!([first])),
            json!({"fields": ["amount_total", "payflow_payload_hash"]}),
        )
        .await;
    assert_eq!((cents(&read[0]["amount_total"]), &read[0]["payflow_payload_hash"]), (1100, &json!("h2")));

    // All or nothing: a bad entry after a good one writes neither.
    let (ok_key, bad_key) = (format!("{}-ok", f.run), format!("{}-bad", f.run));
    let mut bad = entry(&bad_key, "h", 5.0);
    bad["vals"] = f.vals("2019-02-28", 5.0, 4.0);
    let e = import(json!([entry(&ok_key, "h", 5.0), bad])).await.unwrap_err();
    e.is_class(p, Class::UserError);
    assert!(
        e.message.contains("is not balanced") && e.message.contains("5.00\u{a0}€") && e.message.contains("4.00\u{a0}€"),
        "{e:?}"
    );
    let none = t
        .ok(
            p,
            "account.move",
            "search_read",
            None,
            json!({"domain": [["payflow_import_key", "in", [ok_key, bad_key]]], "fields": ["id"]}),
        )
        .await;
    assert_eq!(none, json!([]), "one bad move writes none");
    let e = import(json!([{"import_key": "", "vals": {}}])).await.unwrap_err();
    e.is(p, Class::UserError, "Each PayFlow move needs an import key and values.");

    // Two imports of one new key at the same moment: one move. The call that commits second
    // fails on the unique constraint (or, if the calls did not overlap, finds the move there).
    let race_key = format!("{}-race", f.run);
    let mut lines: Vec<Value> = (0..120)
        .map(|i| json!([0, 0, {"account_id": f.expense, "name": format!("L{i}"), "debit": 1.0, "credit": 0.0}]))
        .collect();
    lines.push(json!([0, 0, {"account_id": f.payable, "name": "Net", "debit": 0.0, "credit": 120.0}]));
    let mut big = f.vals("2019-02-28", 0.0, 0.0);
    big["line_ids"] = json!(lines);
    let racer = json!([{"import_key": race_key, "payload_hash": "h", "vals": big}]);
    if let Some(sim) = &t.sim {
        // The simulator answers at once: slow the first call down so that they overlap.
        sim.push_fault_on("account.move", "payflow_import", OdooFault::Slow(Duration::from_millis(300)));
    }
    let (a, b) = tokio::join!(import(racer.clone()), async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        import(racer.clone()).await
    });
    let winners: Vec<&Value> = [&a, &b].into_iter().filter_map(|r| r.as_ref().ok()).collect();
    let ids: Vec<i64> = winners.iter().filter_map(|r| r[0]["id"].as_i64()).collect();
    created.extend(&ids);
    assert!(winners.iter().any(|r| r[0]["result"] == "created"), "{a:?} {b:?}");
    for r in [&a, &b] {
        match r {
            Ok(v) => assert!(v[0]["result"] == "created" || v[0]["result"] == "unchanged", "{v}"),
            Err(e) => e.is(
                p,
                Class::ValidationError,
                "The operation cannot be completed: A move with this PayFlow import key already exists in this company.",
            ),
        }
    }
    if t.sim.is_some() {
        assert!(a.is_err(), "the slowed call commits second and fails: {a:?}");
    }
    let raced_too = a.is_err() || b.is_err();
    println!(
        "{} over {p:?}: concurrent imports of one key: {}",
        t.label,
        if raced_too { "the second failed on the unique key" } else { "they did not overlap" }
    );
    let raced = t
        .ok(
            p,
            "account.move",
            "search_read",
            None,
            json!({"domain": [["payflow_import_key", "=", race_key]], "fields": ["id"]}),
        )
        .await;
    assert_eq!(raced.as_array().unwrap().len(), 1, "one move for the key: {raced}");

    // Posted: never touched again.
    t.ok(p, "account.move", "action_post", Some(json!([first])), json!({})).await;
    let r = unnamed(t, p, import(json!([entry(&key, "h3", 12.0)])).await.unwrap()).await;
    assert_eq!(r, json!([{"import_key": key, "id": first, "result": "posted", "state": "posted"}]));
}

/// `payflow_import_plan`: the whole import in one call; every problem answered at once with
/// nothing written; a preview writes nothing and answers in the same shape; Odoo's own lock
/// dates.
async fn payflow_import_plan(t: &Target, p: Proto, f: &Fixture, created: &mut Vec<i64>) {
    let codes =
        t.ok(p, "account.account", "read", Some(json!([f.expense, f.payable])), json!({"fields": ["code"]})).await;
    let code_of = |id: i64| {
        codes.as_array().unwrap().iter().find(|a| a["id"] == id).unwrap()["code"].as_str().unwrap().to_owned()
    };
    // Silae's eight digits: the six-digit Odoo codes with two trailing zeros.
    let (expense, payable) = (format!("{}00", code_of(f.expense)), format!("{}00", code_of(f.payable)));
    let key = format!("{}-plan", f.run);
    let moves = |lines: Vec<Value>| {
        json!([{"import_key": key, "payload_hash": "p1", "date": "2019-01-31", "ref": f.run, "lines": lines,
                "message": "<p>PayFlow : contrat</p>"}])
    };
    let line = |account: &str, debit: f64, credit: f64| json!({"account": account, "name": "Paie", "debit": debit, "credit": credit});
    let good = moves(vec![line(&expense, 12.0, 0.0), line(&payable, 0.0, 12.0)]);
    let plan = |moves: &Value, journal: &str, dry_run: bool| {
        t.call(
            p,
            "account.move",
            "payflow_import_plan",
            None,
            json!({
                "company_id": 1, "journal_code": journal, "moves": moves, "account_map": {}, "analytic_map": {},
                "dry_run": dry_run, "key_prefix": key,
                "attachment": {"name": "silae-plan.json", "datas": "e30=", "mimetype": "application/json"},
            }),
        )
    };
    let keyed = || async {
        t.ok(
            p,
            "account.move",
            "search_read",
            None,
            json!({"domain": [["payflow_import_key", "=", key]], "fields": ["id"]}),
        )
        .await
        .as_array()
        .unwrap()
        .len()
    };
    match plan(&json!([]), &f.journal_code, true).await {
        Ok(_) => {}
        Err(e) if e.message.contains("does not exist on the model") => {
            println!("skipped: {} over {p:?}: payflow_import_plan: the addon has no such method", t.label);
            return;
        }
        Err(e) => panic!("{}: payflow_import_plan(moves=[]): {e:?}", t.label),
    }
    // Every problem at once: the dossier's journal and the move's own journal missing, a missing
    // account (with what was tried).
    let mut bad = moves(vec![line(&expense, 12.0, 0.0), line("99999910", 0.0, 12.0)]);
    bad[0]["journal"] = json!("ZZ8");
    for dry_run in [true, false] {
        let r = plan(&bad, "ZZ9", dry_run).await.unwrap();
        let problems = r["problems"].as_array().unwrap();
        let kinds: Vec<&str> = problems.iter().map(|x| x["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["journal", "journal", "account"], "{}: {r}", t.label);
        assert_eq!((&problems[0]["code"], &problems[0]["reason"]), (&json!("ZZ9"), &json!("missing")));
        assert_eq!((&problems[1]["code"], &problems[1]["reason"]), (&json!("ZZ8"), &json!("missing")));
        assert!(problems[0]["journals"].as_array().unwrap().iter().any(|j| j[0] == json!(f.journal_code)), "{r}");
        assert_eq!(problems[2], json!({"kind": "account", "silae_code": "99999910", "tried": ["99999910", "9999991"]}));
        assert_eq!(r["accounts"][&expense], json!({"id": f.expense, "code": code_of(f.expense)}), "{r}");
        assert_eq!(r["written"], json!(false));
        assert_eq!(
            r["moves"],
            json!([{"import_key": key, "id": false, "name": false, "result": "created", "state": false}])
        );
        assert_eq!(r["period_keys"], json!([]));
        assert_eq!(keyed().await, 0, "nothing written");
    }
    // A preview: what would be done, nothing written.
    let r = plan(&good, &f.journal_code, true).await.unwrap();
    assert_eq!(r["problems"], json!([]), "{r}");
    assert_eq!(r["journal"], json!({"id": f.journal, "code": f.journal_code}));
    assert_eq!(r["journals"][&f.journal_code], json!({"id": f.journal, "code": f.journal_code}));
    assert_eq!(r["company"]["id"], json!(1));
    assert_eq!(
        r["moves"],
        json!([{"import_key": key, "id": false, "name": false, "result": "created", "state": false}])
    );
    assert_eq!((&r["written"], keyed().await), (&json!(false), 0));
    // The import: one call, one transaction.
    let r = plan(&good, &f.journal_code, false).await.unwrap();
    let row = &r["moves"][0];
    let id = row["id"].as_i64().unwrap();
    created.push(id);
    assert_eq!(
        (&r["written"], &row["result"], &row["state"]),
        (&json!(true), &json!("created"), &json!("draft")),
        "{r}"
    );
    let read = t
        .ok(
            p,
            "account.move",
            "read",
            Some(json!([id])),
            json!({"fields": ["journal_id", "amount_total", "payflow_payload_hash"]}),
        )
        .await;
    assert_eq!((read[0]["journal_id"][0].as_i64(), cents(&read[0]["amount_total"])), (Some(f.journal), 1200));
    assert_eq!(read[0]["payflow_payload_hash"], "p1");
    let lines = t
        .ok(
            p,
            "account.move.line",
            "search_read",
            None,
            json!({"domain": [["move_id", "=", id]], "fields": ["account_id"]}),
        )
        .await;
    let mut accounts: Vec<i64> =
        lines.as_array().unwrap().iter().map(|l| l["account_id"][0].as_i64().unwrap()).collect();
    accounts.sort();
    let mut expected = vec![f.expense, f.payable];
    expected.sort();
    assert_eq!(accounts, expected);
    let attachments = t
        .ok(
            p,
            "ir.attachment",
            "search_read",
            None,
            json!({"domain": [["res_model", "=", "account.move"], ["res_id", "=", id]], "fields": ["name"]}),
        )
        .await;
    assert_eq!(attachments[0]["name"], "silae-plan.json", "{attachments}");
    // Again: unchanged, as a preview and as an import.
    for dry_run in [true, false] {
        let r = plan(&good, &f.journal_code, dry_run).await.unwrap();
        assert_eq!((&r["moves"][0]["result"], r["moves"][0]["id"].as_i64()), (&json!("unchanged"), Some(id)), "{r}");
    }
    assert_eq!(keyed().await, 1);
    // Keyed anew (on its establishment) with the old key as legacy_key: found under the old
    // key, never doubled; the period's keys are answered.
    let mut rekeyed = good.clone();
    rekeyed[0]["import_key"] = json!(format!("{key}:siret-1"));
    rekeyed[0]["legacy_key"] = json!(key);
    for dry_run in [true, false] {
        let r = plan(&rekeyed, &f.journal_code, dry_run).await.unwrap();
        assert_eq!(r["problems"], json!([]), "{r}");
        assert_eq!(r["period_keys"], json!([key]), "{r}");
        let row = &r["moves"][0];
        assert_eq!(
            (&row["import_key"], &row["result"], row["id"].as_i64()),
            (&json!(key), &json!("unchanged"), Some(id))
        );
    }
    // A new key while the period holds one no move has: looks renamed, nothing written.
    let mut renamed = good.clone();
    renamed[0]["import_key"] = json!(format!("{key}:renamed"));
    for dry_run in [true, false] {
        let r = plan(&renamed, &f.journal_code, dry_run).await.unwrap();
        assert_eq!(
            r["problems"],
            json!([{"kind": "renamed", "keys": [format!("{key}:renamed")], "orphans": [key]}]),
            "{r}"
        );
        assert_eq!((&r["written"], &r["period_keys"]), (&json!(false), &json!([key])));
    }
    assert_eq!(keyed().await, 1);
    // Odoo's own lock dates: a global lock date on the moves' date refuses the whole plan.
    let before = t.ok(p, "res.company", "read", Some(json!([1])), json!({"fields": ["fiscalyear_lock_date"]})).await;
    let before = before[0]["fiscalyear_lock_date"].clone();
    if before.as_str().is_some_and(|d| d >= "2019-01-31") {
        println!("{} over {p:?}: payflow_import_plan's lock date skipped: already locked until {before}", t.label);
        return;
    }
    t.write_call(p, "res.company", json!([1]), json!({"fiscalyear_lock_date": "2019-12-31"})).await.unwrap();
    let other = moves(vec![line(&expense, 13.0, 0.0), line(&payable, 0.0, 13.0)]);
    let locked = plan(&other, &f.journal_code, false).await;
    t.write_call(p, "res.company", json!([1]), json!({"fiscalyear_lock_date": before})).await.unwrap();
    let r = locked.unwrap();
    let problem = &r["problems"][0];
    assert_eq!(
        (&problem["kind"], &problem["date"], &problem["lock_date"]),
        (&json!("locked"), &json!("2019-01-31"), &json!("2019-12-31")),
        "{r}"
    );
    assert_eq!(r["written"], json!(false));
    let hash = t.ok(p, "account.move", "read", Some(json!([id])), json!({"fields": ["payflow_payload_hash"]})).await;
    assert_eq!(hash[0]["payflow_payload_hash"], "p1", "the draft was not replaced");
}

/// `payflow_import_plan`'s partners (`partner_map`): the partner of a Silae account found by its
/// reference and put on that account's lines (the others without); one Odoo lacks is a `partner`
/// problem with nothing written.
async fn payflow_import_plan_partners(t: &Target, p: Proto, f: &Fixture, created: &mut Vec<i64>) {
    let codes =
        t.ok(p, "account.account", "read", Some(json!([f.expense, f.payable])), json!({"fields": ["code"]})).await;
    let code_of = |id: i64| {
        codes.as_array().unwrap().iter().find(|a| a["id"] == id).unwrap()["code"].as_str().unwrap().to_owned()
    };
    let (expense, payable) = (format!("{}00", code_of(f.expense)), format!("{}00", code_of(f.payable)));
    let key = format!("{}-partners", f.run);
    let reference = format!("PF-{}", f.run);
    let name = format!("PayFlow contrat {}", f.run);
    let partner = t.create(p, "res.partner", json!({"name": name, "ref": reference})).await;
    let line = |account: &str, debit: f64, credit: f64| json!({"account": account, "name": "Paie", "debit": debit, "credit": credit});
    let moves = json!([{"import_key": key, "payload_hash": "p1", "date": "2019-01-31", "ref": f.run,
        "lines": [line(&expense, 14.0, 0.0), line(&payable, 0.0, 14.0)], "message": "<p>PayFlow : partenaires</p>"}]);
    let plan = |partner_map: Value, dry_run: bool| {
        t.call(
            p,
            "account.move",
            "payflow_import_plan",
            None,
            json!({
                "company_id": 1, "journal_code": f.journal_code, "moves": moves, "account_map": {}, "analytic_map": {},
                "dry_run": dry_run, "key_prefix": key, "partner_map": partner_map,
            }),
        )
    };
    match plan(json!({}), true).await {
        Ok(_) => {}
        Err(e) if e.message.contains("does not exist on the model") || e.message.contains("partner_map") => {
            println!("skipped: {} over {p:?}: payflow_import_plan has no partners step", t.label);
            return;
        }
        Err(e) => panic!("{}: payflow_import_plan(partner_map={{}}): {e:?}", t.label),
    }
    let missing = format!("nope-{}", f.run);
    let r = plan(json!({payable.clone(): missing}), false).await.unwrap();
    assert_eq!(
        r["problems"],
        json!([{"kind": "partner", "silae_code": payable, "partner": missing, "found": []}]),
        "{}: {r}",
        t.label
    );
    assert_eq!(r["written"], json!(false));
    let r = plan(json!({payable.clone(): reference, "99999999": "not in this plan"}), false).await.unwrap();
    assert_eq!(r["problems"], json!([]), "{}: {r}", t.label);
    assert_eq!(r["partners"], json!({payable.clone(): {"id": partner, "name": name}}), "{}: {r}", t.label);
    let id = r["moves"][0]["id"].as_i64().unwrap();
    created.push(id);
    let lines = t
        .ok(
            p,
            "account.move.line",
            "search_read",
            None,
            json!({"domain": [["move_id", "=", id]], "fields": ["account_id", "partner_id"]}),
        )
        .await;
    for l in lines.as_array().unwrap() {
        let expected = if l["account_id"][0].as_i64() == Some(f.payable) { json!(partner) } else { json!(null) };
        assert_eq!(l["partner_id"].get(0).cloned().unwrap_or(Value::Null), expected, "{}: {lines}", t.label);
    }
}

/// Corrections (docs/odoo-protocol.md): a draft changed in Odoo is a `changed_in_odoo` problem
/// with the difference per account; a posted move Silae corrected is a `posted_changed`
/// problem (`alert`) or gets one draft adjustment holding the difference (`adjust`), once.
async fn corrections(t: &Target, p: Proto, f: &Fixture, created: &mut Vec<i64>) {
    let codes =
        t.ok(p, "account.account", "read", Some(json!([f.expense, f.payable])), json!({"fields": ["code"]})).await;
    let code_of = |id: i64| {
        codes.as_array().unwrap().iter().find(|a| a["id"] == id).unwrap()["code"].as_str().unwrap().to_owned()
    };
    let (expense, payable) = (format!("{}00", code_of(f.expense)), format!("{}00", code_of(f.payable)));
    let key = format!("{}-corr", f.run);
    let moves = |hash: &str, amount: f64| {
        json!([{"import_key": key, "payload_hash": hash, "date": "2019-06-30", "ref": "SALAIRES JUIN 2019",
                "message": "<p>PayFlow : contrat</p>",
                "lines": [{"account": expense, "name": "Paie", "debit": amount, "credit": 0.0},
                          {"account": payable, "name": "Net", "debit": 0.0, "credit": amount}]}])
    };
    let plan = |moves: Value, corrections: &str, dry_run: bool| {
        t.call(
            p,
            "account.move",
            "payflow_import_plan",
            None,
            json!({
                "company_id": 1, "journal_code": f.journal_code, "moves": moves, "account_map": {}, "analytic_map": {},
                "dry_run": dry_run, "key_prefix": key, "corrections": corrections,
            }),
        )
    };
    match plan(json!([]), "alert", true).await {
        Ok(_) => {}
        Err(e) if e.message.contains("does not exist") || e.message.contains("corrections") => {
            println!("skipped: {} over {p:?}: corrections: the addon has no such step ({})", t.label, e.message);
            return;
        }
        Err(e) => panic!("{}: payflow_import_plan(corrections): {e:?}", t.label),
    }
    let r = plan(moves("c1", 10.0), "alert", false).await.unwrap();
    let id = r["moves"][0]["id"].as_i64().unwrap();
    created.push(id);
    t.write_call(p, "account.move", json!([id]), json!({"ref": "revu"})).await.unwrap();
    for dry_run in [true, false] {
        let r = plan(moves("c2", 12.0), "alert", dry_run).await.unwrap();
        assert_eq!(r["written"], json!(false));
        let problem = &r["problems"][0];
        assert_eq!(
            (&problem["kind"], &problem["state"], &problem["move"]["id"]),
            (&json!("changed_in_odoo"), &json!("draft"), &json!(id)),
            "{r}"
        );
        assert!(problem["changed_by"].as_str().is_some_and(|s| !s.is_empty()), "{r}");
        let rows: Vec<(String, i64, i64, i64, i64)> = problem["diff"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let c = |k: &str| d[k].as_i64().unwrap();
                (
                    d["account"].as_str().unwrap().to_owned(),
                    c("odoo_debit"),
                    c("odoo_credit"),
                    c("silae_debit"),
                    c("silae_credit"),
                )
            })
            .collect();
        let mut expected = vec![(code_of(f.expense), 1000, 0, 1200, 0), (code_of(f.payable), 0, 1000, 0, 1200)];
        expected.sort();
        let mut rows = rows;
        rows.sort();
        assert_eq!(rows, expected, "{r}");
    }
    t.drop_moves(p, &[id]).await;
    // Posted, then corrected.
    let r = plan(moves("c1", 10.0), "alert", false).await.unwrap();
    let id = r["moves"][0]["id"].as_i64().unwrap();
    created.push(id);
    t.ok(p, "account.move", "action_post", Some(json!([id])), json!({})).await;
    let r = plan(moves("c2", 12.0), "alert", false).await.unwrap();
    assert_eq!((&r["problems"][0]["kind"], &r["written"]), (&json!("posted_changed"), &json!(false)), "{r}");
    let r = plan(moves("c2", 12.0), "adjust", true).await.unwrap();
    assert_eq!(r["problems"], json!([]), "{r}");
    let regul = format!("{key}:regul-1");
    assert_eq!(
        r["moves"][1],
        json!({"import_key": regul, "id": false, "name": false, "result": "created", "state": false, "adjusts": key})
    );
    let r = plan(moves("c2", 12.0), "adjust", false).await.unwrap();
    let row = &r["moves"][1];
    let adjustment = row["id"].as_i64().unwrap();
    created.push(adjustment);
    assert_eq!(
        (&r["moves"][0]["result"], &row["import_key"], &row["result"], &row["state"]),
        (&json!("posted"), &json!(regul), &json!("created"), &json!("draft")),
        "{r}"
    );
    let read = t
        .ok(
            p,
            "account.move",
            "read",
            Some(json!([adjustment])),
            json!({"fields": ["ref", "amount_total", "journal_id", "state"]}),
        )
        .await;
    assert_eq!(read[0]["ref"], "REGULARISATION SALAIRES JUIN 2019");
    assert_eq!((cents(&read[0]["amount_total"]), read[0]["journal_id"][0].as_i64()), (200, Some(f.journal)));
    let r = plan(moves("c2", 12.0), "adjust", false).await.unwrap();
    assert_eq!(r["moves"].as_array().unwrap().len(), 1, "a re-run creates nothing more: {r}");
    t.drop_moves(p, &[adjustment, id]).await;
}

/// The contract on each protocol of a target, one after the other (they share its lock date).
async fn run_all(t: &Target, protocols: &[Proto]) {
    for p in protocols {
        let started = std::time::Instant::now();
        contract(t, *p).await;
        println!("{} over {p:?}: the contract holds ({} ms)", t.label, started.elapsed().as_millis());
    }
}

#[tokio::test]
async fn the_simulator_as_odoo_18_keeps_the_contract() {
    run_all(&simulator(18).await, &[Proto::JsonRpc, Proto::XmlRpc]).await;
}

#[tokio::test]
async fn the_simulator_as_odoo_19_keeps_it_over_json_2() {
    let t = simulator(19).await;
    run_all(&t, &[Proto::Json2]).await;
    assert_eq!(t.sim.as_ref().unwrap().deprecated_calls(), Vec::<String>::new());
}

#[tokio::test]
async fn the_simulator_as_odoo_17_keeps_it_with_17_s_fields() {
    run_all(&simulator(17).await, &[Proto::JsonRpc, Proto::XmlRpc]).await;
}

#[tokio::test]
async fn the_real_odoo_18_keeps_the_contract() {
    match real().await {
        Ok(t) => run_all(&t, &[Proto::JsonRpc, Proto::XmlRpc]).await,
        Err(why) => {
            // scripts/test requires the series it started (PAYFLOW_REQUIRE_REAL_ODOO: `1`, `all` or a list).
            let required = std::env::var("PAYFLOW_REQUIRE_REAL_ODOO").unwrap_or_default();
            let required =
                required.trim() == "1" || required.trim() == "all" || required.split(',').any(|s| s.trim() == "18");
            assert!(!required, "the real Odoo 18 is required (PAYFLOW_REQUIRE_REAL_ODOO) but: {why}");
            println!("skipped: {why}");
        }
    }
}

#[tokio::test]
async fn the_simulator_s_test_api_sees_what_went_through_rpc() {
    let t = simulator(18).await;
    let sim = t.sim.as_ref().unwrap();
    let p = Proto::JsonRpc;
    let find = |model: &'static str, domain: Value| {
        let t = &t;
        async move {
            t.ok(p, model, "search_read", None, json!({"domain": domain, "fields": ["id"]})).await[0]["id"]
                .as_i64()
                .unwrap()
        }
    };
    let f = Fixture {
        run: "test-api".into(),
        journal: find("account.journal", json!([["code", "=", "SAL"], ["company_id", "=", 1]])).await,
        journal_name: "Salaires".into(),
        journal_code: "SAL".into(),
        expense: find("account.account", json!([["code", "=", "641100"], ["company_ids", "in", [1]]])).await,
        payable: find("account.account", json!([["code", "=", "421000"], ["company_ids", "in", [1]]])).await,
    };
    let entry = json!({"import_key": "k1", "payload_hash": "h", "vals": f.vals("2026-10-31", 12.34, 12.34),
        "attachment": {"name": "a.json", "datas": "e30="}, "message": "<p>m</p>"});
    let r = t.ok(p, "account.move", "payflow_import", None, json!({ "moves": [entry] })).await;
    let id = r[0]["id"].as_i64().unwrap();
    let moves = sim.moves();
    assert_eq!(moves.len(), 1);
    let m = &moves[0];
    assert_eq!(
        (m["id"].as_i64(), &m["payflow_import_key"], &m["payflow_payload_hash"]),
        (Some(id), &json!("k1"), &json!("h"))
    );
    assert_eq!(
        (&m["state"], &m["company_id"], &m["journal_id"], &m["date"], &m["ref"]),
        (&json!("draft"), &json!(1), &json!(f.journal), &json!("2026-10-31"), &json!("test-api"))
    );
    let lines = m["line_ids"].as_array().unwrap();
    assert_eq!(
        lines.iter().map(|l| (cents(&l["debit"]), cents(&l["credit"]))).collect::<Vec<_>>(),
        [(1234, 0), (0, 1234)]
    );
    let attachments = sim.attachments();
    assert_eq!(
        (attachments.len(), &attachments[0]["res_id"], &attachments[0]["mimetype"]),
        (1, &json!(id), &json!("application/json"))
    );
    assert!(sim.messages().iter().any(|m| m["body"] == "<p>m</p>" && m["res_id"] == id));
    sim.post_move(id);
    assert_eq!((&sim.moves()[0]["state"], &sim.moves()[0]["name"]), (&json!("posted"), &json!("SAL/2026/10/0001")));
}
