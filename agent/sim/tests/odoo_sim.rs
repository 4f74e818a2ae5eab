//! What only the Odoo simulator has: its switches (faults, addon, password, lock dates), its
//! test API, Odoo 17 and 19 specifics, JSON-2's HTTP answers, and the `payflow-sim odoo`
//! binary. The behaviour both share with a real Odoo 18 is in odoo_contract.rs.

use std::time::{Duration, Instant};

use payflow_sim::odoo::{OdooFault, OdooSim, OdooSimConfig};
use serde_json::{json, Value};

struct Client {
    sim: OdooSim,
    http: reqwest::Client,
    password: String,
}

impl Client {
    async fn start(version: u32) -> Client {
        Client::with(OdooSimConfig::demo(version)).await
    }

    async fn with(cfg: OdooSimConfig) -> Client {
        let password = cfg.password.clone();
        let sim = OdooSim::start(cfg).await.unwrap();
        Client { sim, http: reqwest::Client::new(), password }
    }

    async fn post(&self, service: &str, method: &str, args: Value) -> Result<reqwest::Response, reqwest::Error> {
        let body = json!({"jsonrpc": "2.0", "method": "call", "id": 1, "params": {"service": service, "method": method, "args": args}});
        self.http.post(format!("{}/jsonrpc", self.sim.url())).json(&body).send().await
    }

    /// The whole JSON-RPC answer.
    async fn rpc(&self, service: &str, method: &str, args: Value) -> Value {
        self.post(service, method, args).await.unwrap().json().await.unwrap()
    }

    async fn call_as(&self, secret: &str, model: &str, method: &str, args: Value, kw: Value) -> Value {
        self.rpc("object", "execute_kw", json!(["payflow", 2, secret, model, method, args, kw])).await
    }

    /// `result`, or the error's `data` as `Err`.
    async fn call(&self, model: &str, method: &str, args: Value, kw: Value) -> Result<Value, Value> {
        let v = self.call_as(&self.password, model, method, args, kw).await;
        match v.get("error") {
            Some(e) => Err(e["data"].clone()),
            None => Ok(v.get("result").cloned().unwrap_or(Value::Null)),
        }
    }

    async fn ok(&self, model: &str, method: &str, args: Value, kw: Value) -> Value {
        self.call(model, method, args, kw).await.unwrap_or_else(|e| panic!("{model}.{method}: {e}"))
    }

    async fn err(&self, model: &str, method: &str, args: Value, kw: Value) -> (String, String) {
        let e = self.call(model, method, args, kw).await.expect_err("should fail");
        (e["name"].as_str().unwrap().to_owned(), e["message"].as_str().unwrap().to_owned())
    }

    async fn json2(&self, key: &str, model: &str, method: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/json/2/{model}/{method}", self.sim.url()))
            .header("Authorization", format!("bearer {key}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The first record's id: over JSON-2 on 19 (its JSON-RPC is refused), JSON-RPC before.
    async fn id_of(&self, model: &str, domain: Value) -> i64 {
        let body = json!({"domain": domain, "fields": ["id"]});
        let rows = if self.sim.version() >= 19 {
            let (status, rows) = self.json2("demo-odoo-api-key", model, "search_read", body).await;
            assert_eq!(status, 200, "{model}.search_read: {rows}");
            rows
        } else {
            self.ok(model, "search_read", json!([]), body).await
        };
        rows[0]["id"].as_i64().unwrap()
    }

    /// A balanced entry of company 1's SAL journal.
    async fn vals(&self, date: &str, amount: f64) -> Value {
        let journal = self.id_of("account.journal", json!([["code", "=", "SAL"], ["company_id", "=", 1]])).await;
        let expense = self.id_of("account.account", json!([["code", "=", "641100"], ["company_ids", "in", [1]]])).await;
        let payable = self.id_of("account.account", json!([["code", "=", "421000"], ["company_ids", "in", [1]]])).await;
        json!({"journal_id": journal, "date": date, "ref": "sim",
            "line_ids": [[0, 0, {"account_id": expense, "name": "Salaires", "debit": amount, "credit": 0.0}],
                         [0, 0, {"account_id": payable, "name": "Net", "debit": 0.0, "credit": amount}]]})
    }
}

#[tokio::test]
async fn status_faults_answer_an_error_page_in_order_then_calls_pass_again() {
    let c = Client::start(18).await;
    c.sim.push_fault(OdooFault::Status(502));
    c.sim.push_fault(OdooFault::Status(503));
    for expected in [502, 503] {
        let r = c.post("common", "version", json!([])).await.unwrap();
        assert_eq!(r.status().as_u16(), expected);
        assert!(r.text().await.unwrap().contains(&expected.to_string()));
    }
    assert_eq!(c.rpc("common", "version", json!([])).await["result"]["server_version"], "18.0");
    assert_eq!(c.sim.calls(), [("common", "version"); 3].map(|(a, b)| (a.to_owned(), b.to_owned())));
    c.sim.reset_calls();
    assert!(c.sim.calls().is_empty());
}

#[tokio::test]
async fn a_fault_on_one_method_waits_for_it_and_nothing_is_written() {
    let c = Client::start(18).await;
    c.sim.push_fault_on("account.move", "payflow_import", OdooFault::Status(504));
    let vals = c.vals("2026-10-31", 10.0).await; // reads pass
    let entry = json!([{"import_key": "k", "payload_hash": "h", "vals": vals}]);
    let r = c
        .post(
            "object",
            "execute_kw",
            json!(["payflow", 2, "admin", "account.move", "payflow_import", [], {"moves": entry}]),
        )
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 504);
    assert!(c.sim.moves().is_empty(), "the fault answers instead of Odoo");
    let done = c.ok("account.move", "payflow_import", json!([]), json!({ "moves": entry })).await;
    assert_eq!(done[0]["result"], "created");
    let calls = c.sim.calls();
    assert_eq!(calls.iter().filter(|(m, f)| m == "account.move" && f == "payflow_import").count(), 2, "{calls:?}");
}

#[tokio::test]
async fn slow_answers_late_but_right_and_drop_closes_the_connection() {
    let c = Client::start(18).await;
    c.sim.push_fault(OdooFault::Slow(Duration::from_millis(300)));
    let started = Instant::now();
    assert_eq!(c.rpc("common", "version", json!([])).await["result"]["server_version"], "18.0");
    assert!(started.elapsed() >= Duration::from_millis(300));

    c.sim.push_fault_on("common", "version", OdooFault::Drop);
    let e = c.post("common", "version", json!([])).await.expect_err("no answer");
    assert!(!e.is_timeout() && !e.is_status(), "{e:?}");
    // The next call opens a new connection and is answered.
    assert_eq!(c.rpc("common", "version", json!([])).await["result"]["server_version"], "18.0");
}

#[tokio::test]
async fn without_the_addon_its_fields_and_method_are_unknown() {
    let mut cfg = OdooSimConfig::demo(18);
    cfg.addon_installed = false;
    let c = Client::with(cfg).await;
    let module = c
        .ok("ir.module.module", "search_read", json!([[["name", "=", "payflow_silae"]]]), json!({"fields": ["state"]}))
        .await;
    assert_eq!(module[0]["state"], "uninstalled");
    let (name, message) = c
        .err(
            "account.move",
            "search_read",
            json!([]),
            json!({"domain": [["payflow_import_key", "in", ["k"]], ["company_id", "=", 1]], "fields": ["id"]}),
        )
        .await;
    assert_eq!(
        (name.as_str(), message.as_str()),
        (
            "builtins.ValueError",
            "Invalid field account.move.payflow_import_key in leaf ('payflow_import_key', 'in', ['k'])"
        )
    );
    let (_, message) =
        c.err("account.move", "search_read", json!([]), json!({"fields": ["payflow_payload_hash"]})).await;
    assert_eq!(message, "Invalid field 'payflow_payload_hash' on model 'account.move'");
    let (name, message) = c.err("account.move", "payflow_import", json!([]), json!({"moves": []})).await;
    assert_eq!(
        (name.as_str(), message.as_str()),
        ("builtins.AttributeError", "The method 'payflow_import' does not exist on the model 'account.move'")
    );
    // Installed later: the field and the method appear, existing moves have no key.
    let id = c.ok("account.move", "create", json!([c.vals("2026-10-31", 1.0).await]), json!({})).await;
    c.sim.set_addon_installed(true);
    let read = c.ok("account.move", "read", json!([[id]]), json!({"fields": ["payflow_import_key"]})).await;
    assert_eq!(read[0]["payflow_import_key"], false);
    assert_eq!(c.ok("account.move", "payflow_import", json!([]), json!({"moves": []})).await, json!([]));
}

#[tokio::test]
async fn a_new_password_revokes_the_old_one_but_not_the_api_key() {
    let c = Client::start(18).await;
    c.sim.set_password("n3w-secret");
    let denied = c.call_as("admin", "res.company", "search_read", json!([]), json!({"fields": ["id"]})).await;
    assert_eq!(denied["error"]["data"]["name"], "odoo.exceptions.AccessDenied");
    assert_eq!(denied["error"]["data"]["arguments"], json!(["Access Denied"]));
    assert_eq!(denied["error"]["code"], 200);
    assert_eq!(c.rpc("common", "authenticate", json!(["payflow", "admin", "admin", {}])).await["result"], false);
    assert_eq!(c.rpc("common", "authenticate", json!(["payflow", "admin", "n3w-secret", {}])).await["result"], 2);
    for secret in ["n3w-secret", "demo-odoo-api-key"] {
        let ok = c.call_as(secret, "res.company", "search_read", json!([]), json!({"fields": ["id"]})).await;
        assert_eq!(ok["result"].as_array().map(Vec::len), Some(2), "{ok}");
    }
    let calls = c.sim.calls();
    assert_eq!(calls[0], ("res.company".to_owned(), "search_read".to_owned()), "refused calls are logged too");
}

#[tokio::test]
async fn lock_dates_set_from_the_test_api_are_what_odoo_answers() {
    let c = Client::start(18).await;
    c.sim.set_lock_date(1, "fiscalyear_lock_date", Some("2026-12-31"));
    let fields = json!({"fields": ["id", "fiscalyear_lock_date", "hard_lock_date"]});
    let companies = c.ok("res.company", "search_read", json!([]), fields.clone()).await;
    assert_eq!(companies[0], json!({"id": 1, "fiscalyear_lock_date": "2026-12-31", "hard_lock_date": false}));
    c.sim.set_lock_date(1, "fiscalyear_lock_date", None);
    assert_eq!(c.ok("res.company", "search_read", json!([]), fields).await[0]["fiscalyear_lock_date"], false);

    // A hard lock date cannot be removed nor moved back, nor set over drafts.
    let draft = c.ok("account.move", "create", json!([c.vals("2026-01-31", 1.0).await]), json!({})).await;
    let (name, message) =
        c.err("res.company", "write", json!([[1], {"hard_lock_date": "2026-06-30"}]), json!({})).await;
    assert_eq!(name, "odoo.exceptions.RedirectWarning");
    assert_eq!(
        message,
        "There are still draft entries in the period you want to hard lock. You should either post or delete them."
    );
    c.ok("account.move", "unlink", json!([[draft]]), json!({})).await;
    c.ok("res.company", "write", json!([[1], {"hard_lock_date": "2026-06-30"}]), json!({})).await;
    let (_, message) = c.err("res.company", "write", json!([[1], {"hard_lock_date": false}]), json!({})).await;
    assert_eq!(message, "The Hard Lock Date cannot be removed.");
    let (_, message) = c.err("res.company", "write", json!([[1], {"hard_lock_date": "2026-05-31"}]), json!({})).await;
    assert_eq!(message, "A new Hard Lock Date must be posterior (or equal) to the previous one.");
    // Posting inside it dates the entry after it; the message names the lock.
    let posted = c.ok("account.move", "create", json!([c.vals("2026-07-31", 2.0).await]), json!({})).await;
    c.ok("account.move", "action_post", json!([[posted]]), json!({})).await;
    c.sim.set_lock_date(1, "hard_lock_date", Some("2026-07-31"));
    let (_, message) = c.err("account.move", "button_draft", json!([[posted]]), json!({})).await;
    assert_eq!(message, "You cannot add/modify entries prior to and inclusive of: Hard Lock Date (07/31/2026).");
    c.sim.set_lock_date(1, "fiscalyear_lock_date", Some("2026-07-31"));
    let (_, message) = c.err("account.move", "unlink", json!([[posted]]), json!({})).await;
    assert_eq!(
        message,
        "You cannot add/modify entries prior to and inclusive of: Global Lock Date (07/31/2026) and Hard Lock Date (07/31/2026)."
    );
}

#[tokio::test]
async fn odoo_17_has_its_own_fields() {
    let c = Client::start(17).await;
    let v = c.rpc("common", "version", json!([])).await;
    assert_eq!(v["result"]["server_version_info"], json!([17, 0, 0, "final", 0, ""]));
    let company = c
        .ok(
            "res.company",
            "read",
            json!([[1]]),
            json!({"fields": ["fiscalyear_lock_date", "period_lock_date", "tax_lock_date"]}),
        )
        .await;
    assert_eq!(company[0]["period_lock_date"], false);
    let (_, message) = c.err("res.company", "read", json!([[1]]), json!({"fields": ["hard_lock_date"]})).await;
    assert_eq!(message, "Invalid field 'hard_lock_date' on model 'res.company'");
    let accounts = c
        .ok(
            "account.account",
            "search_read",
            json!([]),
            json!({"domain": [["code", "=", "421000"], ["company_id", "=", 2], ["deprecated", "=", false]], "fields": ["company_id"]}),
        )
        .await;
    assert_eq!(accounts[0]["company_id"], json!([2, "PayFlow Filiale Lyon"]));
    let (_, message) =
        c.err("account.account", "search_read", json!([[["company_ids", "in", [1]]]]), json!({"fields": ["id"]})).await;
    assert_eq!(message, "Invalid field account.account.company_ids in leaf ('company_ids', 'in', [1])");
}

#[tokio::test]
async fn odoo_19_speaks_json_2_with_http_statuses() {
    let c = Client::start(19).await;
    let key = "demo-odoo-api-key";
    let (status, body) = c
        .json2(
            key,
            "account.account",
            "search_read",
            json!({"domain": [["code", "=", "641100"], ["company_ids", "in", [2]]], "fields": ["code", "active"]}),
        )
        .await;
    assert_eq!((status, &body[0]["code"], &body[0]["active"]), (200, &json!("641100"), &json!(true)));
    let (status, body) = c.json2(key, "account.account", "search_read", json!({"fields": ["deprecated"]})).await;
    assert_eq!((status, body["name"].as_str()), (500, Some("builtins.ValueError")), "19 has no deprecated: {body}");
    let (status, body) = c.json2(key, "x.nope", "search_read", json!({})).await;
    assert_eq!(
        (status, &body["name"], &body["message"]),
        (404, &json!("werkzeug.exceptions.NotFound"), &json!("the model 'x.nope' does not exist"))
    );
    assert_eq!(body["arguments"], json!(["the model 'x.nope' does not exist", 404]));
    assert!(body["debug"].as_str().is_some_and(|d| d.starts_with("Traceback")) && body["context"] == json!({}));
    let (status, body) = c.json2(key, "account.move", "search_read", json!({"ids": [1]})).await;
    assert_eq!((status, body["message"].as_str()), (422, Some("cannot call account.move.search_read with ids")));
    let (status, body) = c.json2(key, "account.move", "payflow_import", json!({})).await;
    assert_eq!((status, body["message"].as_str()), (422, Some("missing a required argument: 'moves'")));
    let (status, body) = c.json2(key, "account.move", "payflow_import", json!({"moves": [], "nope": 1})).await;
    assert_eq!((status, body["message"].as_str()), (422, Some("got an unexpected keyword argument 'nope'")));
    let (status, body) = c.json2(key, "account.move", "unlink", json!({"ids": [999]})).await;
    assert_eq!((status, body["name"].as_str()), (404, Some("odoo.exceptions.MissingError")));
    let (status, body) =
        c.json2(key, "account.move", "create", json!({"vals_list": [c.vals("2026-10-31", 1.0).await]})).await;
    assert_eq!((status, body.as_array().map(Vec::len)), (200, Some(1)), "create answers ids: {body}");
    let (status, body) = c.json2(key, "account.move", "button_draft", json!({"ids": body})).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (422, Some("Only posted/cancelled journal entries can be reset to draft."))
    );
    // The password is no bearer key; the right key on another database is a 404 page.
    let (status, body) = c.json2("admin", "res.company", "search_read", json!({})).await;
    assert_eq!((status, body["message"].as_str()), (401, Some("Invalid apikey")));
    let r = c
        .http
        .post(format!("{}/json/2/res.company/search_read", c.sim.url()))
        .header("Authorization", format!("bearer {key}"))
        .header("X-Odoo-Database", "other")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(c.sim.calls().iter().all(|(_, m)| m != "execute_kw"));

    // The deprecated endpoints: refused as Odoo 20 will (404), and recorded.
    let r = c
        .http
        .post(format!("{}/jsonrpc", c.sim.url()))
        .json(&json!({"jsonrpc": "2.0", "method": "call", "id": 1, "params": {"service": "common", "method": "version", "args": []}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("deprecated in Odoo 19"));
    let r = c.http.post(format!("{}/xmlrpc/2/common", c.sim.url())).body("<methodCall/>").send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(c.sim.deprecated_calls(), ["/jsonrpc", "/xmlrpc/2/common"]);
    let v: Value = c.http.get(format!("{}/web/version", c.sim.url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["version_info"][0], 19);

    // Before 19, /json/2 is the web client's: a redirect to the login page.
    let old = Client::start(18).await;
    // ... and there is no /web/version (Odoo 19's rpc module has it).
    assert_eq!(old.http.get(format!("{}/web/version", old.sim.url())).send().await.unwrap().status(), 404);
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/json/2/res.company/search_read", old.sim.url()))
        .header("Authorization", format!("bearer {key}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(r.headers()["location"].to_str().unwrap().starts_with("/web/login?redirect="));
}

#[tokio::test]
async fn companies_see_their_own_records_and_codes_are_unique_per_company() {
    let c = Client::start(18).await;
    let all = c
        .ok("account.journal", "search_read", json!([[["code", "=", "SAL"]]]), json!({"fields": ["company_id"]}))
        .await;
    assert_eq!(all.as_array().unwrap().len(), 2, "both companies without a context");
    let one = c
        .ok(
            "account.journal",
            "search_read",
            json!([[["code", "=", "SAL"]]]),
            json!({"fields": ["company_id"], "context": {"allowed_company_ids": [2]}}),
        )
        .await;
    assert_eq!(one, json!([{"id": one[0]["id"], "company_id": [2, "PayFlow Filiale Lyon"]}]));
    // 437300 is missing on purpose: tests create it, once per company.
    let create = |company: i64| {
        let c = &c;
        async move {
            c.call(
                "account.account",
                "create",
                json!([{"code": "437300", "name": "Prévoyance"}]),
                json!({"context": {"allowed_company_ids": [company]}}),
            )
            .await
        }
    };
    let id = create(1).await.unwrap();
    let read = c
        .ok(
            "account.account",
            "read",
            json!([[id]]),
            json!({"fields": ["company_ids", "account_type", "display_name"]}),
        )
        .await;
    assert_eq!(
        read[0],
        json!({"id": id, "company_ids": [1], "account_type": "liability_current", "display_name": "437300 Prévoyance"})
    );
    let e = create(1).await.unwrap_err();
    assert_eq!(
        e["message"],
        "Account codes must be unique. You can't create accounts with these duplicate codes: 437300"
    );
    assert!(create(2).await.is_ok());
    let journal = c
        .ok("account.journal", "create", json!([{"name": "Paie", "code": "PAIE2026", "type": "general"}]), json!({}))
        .await;
    let read =
        c.ok("account.journal", "read", json!([[journal]]), json!({"fields": ["code", "company_id", "active"]})).await;
    assert_eq!(read[0], json!({"id": journal, "code": "PAIE2", "company_id": [1, "PayFlow Démo SAS"], "active": true}));
}

#[tokio::test]
async fn json_rpc_transport_details() {
    let c = Client::start(18).await;
    let id = c.ok("account.move", "create", json!([c.vals("2026-10-31", 3.0).await]), json!({})).await;
    c.ok("account.move", "action_post", json!([[id]]), json!({})).await;
    let answer = c.call_as("admin", "account.move", "button_draft", json!([[id]]), json!({})).await;
    assert_eq!(answer, json!({"jsonrpc": "2.0", "id": 1}), "None: no result member");
    let r = c
        .http
        .post(format!("{}/jsonrpc", c.sim.url()))
        .header("Content-Type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (400, "Invalid JSON data".to_owned()));
    let r = c
        .http
        .post(format!("{}/jsonrpc", c.sim.url()))
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let unknown = c.rpc("nope", "version", json!([])).await;
    assert_eq!(
        (&unknown["error"]["data"]["name"], &unknown["error"]["data"]["message"]),
        (&json!("builtins.KeyError"), &json!("nope"))
    );
    let e = c.rpc("common", "nope", json!([])).await;
    assert_eq!(e["error"]["data"]["message"], "Method not found: nope");
}

#[tokio::test]
async fn the_binary_serves_the_version_and_addon_asked() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_payflow-sim"))
        .args(["odoo", "--listen", "127.0.0.1:0", "--version", "19", "--no-addon"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap().unwrap();
    let url = line.strip_prefix("odoo simulator listening on ").unwrap_or_else(|| panic!("{line}")).to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    let http = reqwest::Client::new();
    let v: Value = http.get(format!("{url}/web/version")).send().await.unwrap().json().await.unwrap();
    assert_eq!((&v["version"], &v["version_info"][0]), (&json!("19.0"), &json!(19)));
    let r = http
        .post(format!("{url}/json/2/ir.module.module/search_read"))
        .header("Authorization", "bearer demo-odoo-api-key")
        .json(&json!({"domain": [["name", "=", "payflow_silae"]], "fields": ["state"]}))
        .send()
        .await
        .unwrap();
    let modules: Value = r.json().await.unwrap();
    assert_eq!(modules[0]["state"], "uninstalled");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn a_slow_import_racing_another_on_the_same_key_fails_on_the_unique_constraint() {
    let c = Client::start(18).await;
    let vals = c.vals("2026-10-31", 10.0).await;
    let entry = |key: &str| json!([{"import_key": key, "payload_hash": "h", "vals": vals}]);
    // The slow call works on the database as it was when it started, like a transaction.
    c.sim.push_fault_on("account.move", "payflow_import", OdooFault::Slow(Duration::from_millis(400)));
    let slow = c.call("account.move", "payflow_import", json!([]), json!({"moves": entry("k")}));
    let fast = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let other = c.ok("account.move", "payflow_import", json!([]), json!({"moves": entry("other")})).await;
        let same = c.ok("account.move", "payflow_import", json!([]), json!({"moves": entry("k")})).await;
        // A slow read does not undo what was written meanwhile.
        c.sim.push_fault_on("res.company", "search_read", OdooFault::Slow(Duration::from_millis(50)));
        let read = c.call("res.company", "search_read", json!([]), json!({"fields": ["id"]}));
        let write = c.ok("account.move", "payflow_import", json!([]), json!({"moves": entry("third")}));
        let (read, _) = tokio::join!(read, write);
        assert!(read.is_ok());
        (other, same)
    };
    let (slow, (other, same)) = tokio::join!(slow, fast);
    assert_eq!((other[0]["result"].as_str(), same[0]["result"].as_str()), (Some("created"), Some("created")));
    let e = slow.expect_err("the second insert of the key fails");
    assert_eq!(
        (e["name"].as_str(), e["message"].as_str()),
        (
            Some("odoo.exceptions.ValidationError"),
            Some("The operation cannot be completed: A move with this PayFlow import key already exists in this company.")
        )
    );
    let keys: Vec<Value> = c.sim.moves().iter().map(|m| m["payflow_import_key"].clone()).collect();
    assert_eq!(keys, [json!("other"), json!("k"), json!("third")]);

    // Without a shared key, a slow import is simply run again on the new state.
    c.sim.push_fault_on("account.move", "payflow_import", OdooFault::Slow(Duration::from_millis(300)));
    let slow = c.call("account.move", "payflow_import", json!([]), json!({"moves": entry("fourth")}));
    let fast = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.ok("account.move", "payflow_import", json!([]), json!({"moves": entry("fifth")})).await
    };
    let (slow, _) = tokio::join!(slow, fast);
    assert_eq!(slow.unwrap()[0]["result"], "created");
    assert_eq!(c.sim.moves().len(), 5);
}

#[tokio::test]
async fn the_login_is_the_configured_one() {
    let mut cfg = OdooSimConfig::demo(18);
    cfg.login = "paie@payflow.example".into();
    let c = Client::with(cfg).await;
    assert_eq!(
        c.rpc("common", "authenticate", json!(["payflow", "paie@payflow.example", "admin", {}])).await["result"],
        2
    );
    assert_eq!(c.rpc("common", "authenticate", json!(["payflow", "admin", "admin", {}])).await["result"], false);
    let e = c.rpc("common", "authenticate", json!(["elsewhere", "paie@payflow.example", "admin", {}])).await;
    assert_eq!(e["error"]["data"]["name"], "psycopg2.OperationalError");
}

#[tokio::test]
async fn reconcile_is_odoo_s_own_refusals_then_one_full_reconciliation() {
    let c = Client::start(18).await;
    let payroll = c.vals("2026-10-31", 10.0).await;
    let mut payment = payroll.clone();
    // The same amount back: 421 debited, the other side credited.
    for line in payment["line_ids"].as_array_mut().unwrap() {
        let (d, cr) = (line[2]["debit"].clone(), line[2]["credit"].clone());
        line[2]["debit"] = cr;
        line[2]["credit"] = d;
    }
    let ids = c.ok("account.move", "create", json!([[payroll, payment]]), json!({})).await;
    let net_pay = || async {
        c.ok(
            "account.move.line",
            "search_read",
            json!([[["move_id", "in", ids.clone()], ["account_id.code", "=like", "421%"]]]),
            json!({"fields": ["reconciled", "full_reconcile_id", "balance"]}),
        )
        .await
    };
    let lines: Vec<i64> = net_pay().await.as_array().unwrap().iter().map(|l| l["id"].as_i64().unwrap()).collect();
    assert_eq!(lines.len(), 2);
    let err = c.err("account.move.line", "reconcile", json!([lines]), json!({})).await;
    assert_eq!(err, ("odoo.exceptions.UserError".into(), "You can only reconcile posted entries.".into()));
    c.ok("account.move", "action_post", json!([ids]), json!({})).await;
    let (name, message) = c.err("account.move.line", "reconcile", json!([lines]), json!({})).await;
    assert_eq!(
        (name.as_str(), message.as_str()),
        (
            "odoo.exceptions.UserError",
            "Account 421000 Personnel - Rémunérations dues does not allow reconciliation. First change the configuration of this account to allow it."
        )
    );
    assert!(net_pay().await.as_array().unwrap().iter().all(|l| l["reconciled"] == false), "nothing done");
    c.sim.set_account_reconcile("421000", true);
    assert_eq!(c.ok("account.move.line", "reconcile", json!([lines]), json!({})).await, Value::Null);
    let after = net_pay().await;
    let full = &after[0]["full_reconcile_id"];
    assert!(full[0].as_i64().is_some(), "{after}");
    for l in after.as_array().unwrap() {
        assert_eq!((&l["reconciled"], &l["full_reconcile_id"]), (&json!(true), full), "{after}");
    }
    let err = c.err("account.move.line", "reconcile", json!([lines]), json!({})).await;
    assert_eq!(err.1, "You are trying to reconcile some entries that are already reconciled.");
}
