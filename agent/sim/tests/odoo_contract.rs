//! One contract, two targets: the same assertions against the Odoo simulator and against a real
//! Odoo 18 (../shared/tools/odoo-dev, with the payflow_silae addon). The real half prints
//! `skipped: <reason>` when no such server answers. `PAYFLOW_TEST_ODOO_URL` (default
//! http://127.0.0.1:8069), `PAYFLOW_TEST_ODOO_DB` (default payflow), admin / admin.

use payflow_sim::odoo::{OdooSim, OdooSimConfig};
use serde_json::{json, Value};

struct Target {
    url: String,
    db: String,
    http: reqwest::Client,
    _sim: Option<OdooSim>,
}

impl Target {
    async fn rpc(&self, service: &str, method: &str, args: Value) -> Result<Value, Value> {
        let body = json!({"jsonrpc": "2.0", "method": "call", "id": 7, "params": {"service": service, "method": method, "args": args}});
        let v: Value =
            self.http.post(format!("{}/jsonrpc", self.url)).json(&body).send().await.unwrap().json().await.unwrap();
        match v.get("error") {
            Some(e) => Err(e.clone()),
            None => Ok(v["result"].clone()),
        }
    }

    async fn call(&self, model: &str, method: &str, args: Value, kwargs: Value) -> Result<Value, Value> {
        self.rpc("object", "execute_kw", json!([self.db, 2, "admin", model, method, args, kwargs])).await
    }

    async fn ok(&self, model: &str, method: &str, args: Value, kwargs: Value) -> Value {
        self.call(model, method, args, kwargs).await.unwrap_or_else(|e| panic!("{model}.{method}: {e}"))
    }

    async fn xml(&self, service: &str, body: &str) -> String {
        self.http
            .post(format!("{}/xmlrpc/2/{service}", self.url))
            .header("Content-Type", "text/xml")
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

fn err_name(e: &Value) -> &str {
    e["data"]["name"].as_str().unwrap_or_default()
}

fn err_message(e: &Value) -> &str {
    e["data"]["message"].as_str().unwrap_or_default()
}

async fn sim() -> Target {
    let sim = OdooSim::start(OdooSimConfig::demo(18)).await.unwrap();
    Target { url: sim.url(), db: "payflow".into(), http: reqwest::Client::new(), _sim: Some(sim) }
}

async fn real() -> Result<Target, String> {
    let url = std::env::var("PAYFLOW_TEST_ODOO_URL").unwrap_or_else(|_| "http://127.0.0.1:8069".into());
    let db = std::env::var("PAYFLOW_TEST_ODOO_DB").unwrap_or_else(|_| "payflow".into());
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60)).build().unwrap();
    let t = Target { url: url.clone(), db, http, _sim: None };
    let probe = t.http.post(format!("{url}/jsonrpc")).json(&json!({"jsonrpc": "2.0", "method": "call", "params": {"service": "common", "method": "version", "args": []}})).send().await;
    if probe.is_err() {
        return Err(format!("no Odoo answers at {url}"));
    }
    let installed = t
        .call(
            "ir.module.module",
            "search_read",
            json!([[["name", "=", "payflow_silae"], ["state", "=", "installed"]]]),
            json!({"fields": ["id"]}),
        )
        .await
        .map_err(|e| format!("{url}: {}", err_message(&e)))?;
    if installed.as_array().is_none_or(|a| a.is_empty()) {
        return Err(format!("the payflow_silae addon is not installed in {} at {url}", t.db));
    }
    Ok(t)
}

/// The contract: what PayFlow relies on, as Odoo 18 answers it.
async fn contract(t: &Target) {
    // Version and authentication.
    let v = t.rpc("common", "version", json!([])).await.unwrap();
    assert_eq!(v["server_version_info"][0], 18);
    assert_eq!(v["server_version"], "18.0");
    assert_eq!(t.rpc("common", "authenticate", json!([t.db, "admin", "admin", {}])).await.unwrap(), json!(2));
    assert_eq!(t.rpc("common", "authenticate", json!([t.db, "admin", "wrong", {}])).await.unwrap(), json!(false));
    let denied = t
        .rpc("object", "execute_kw", json!([t.db, 2, "wrong", "res.company", "search_read", [], {"fields": ["id"]}]))
        .await
        .unwrap_err();
    assert_eq!((denied["code"].as_i64(), denied["message"].as_str()), (Some(200), Some("Odoo Server Error")));
    assert_eq!((err_name(&denied), err_message(&denied)), ("odoo.exceptions.AccessDenied", "Access Denied"));

    // Reads the agent makes.
    let companies = t
        .ok(
            "res.company",
            "search_read",
            json!([]),
            json!({"fields": ["id", "name", "fiscalyear_lock_date", "hard_lock_date"]}),
        )
        .await;
    let first = &companies[0];
    assert_eq!(first["id"], 1);
    assert_eq!(first["fiscalyear_lock_date"], false);
    let accounts = t
        .ok(
            "account.account",
            "search_read",
            json!([[
                ["code", "in", ["641100", "421000", "99999999"]],
                ["company_ids", "in", [1]],
                ["deprecated", "=", false]
            ]]),
            json!({"fields": ["id", "code", "name"], "context": {"allowed_company_ids": [1]}}),
        )
        .await;
    let mut codes: Vec<&str> = accounts.as_array().unwrap().iter().filter_map(|a| a["code"].as_str()).collect();
    codes.sort();
    assert_eq!(codes, ["421000", "641100"]);
    let journals = t
        .ok(
            "account.journal",
            "search_read",
            json!([[["company_id", "=", 1], ["type", "=", "general"]]]),
            json!({"fields": ["id", "code", "type", "active"], "context": {"active_test": false}}),
        )
        .await;
    let journal = journals[0]["id"].as_i64().unwrap();
    assert_eq!(journals[0]["type"], "general");
    let (expense, payable) = (
        accounts.as_array().unwrap().iter().find(|a| a["code"] == "641100").unwrap()["id"].as_i64().unwrap(),
        accounts.as_array().unwrap().iter().find(|a| a["code"] == "421000").unwrap()["id"].as_i64().unwrap(),
    );

    // Errors: an unknown field, an unknown method.
    let e = t
        .call("account.move", "search_read", json!([[["nope", "=", 1]]]), json!({"fields": ["id"]}))
        .await
        .unwrap_err();
    assert_eq!(err_name(&e), "builtins.ValueError");
    assert_eq!(err_message(&e), "Invalid field account.move.nope in leaf ('nope', '=', 1)");
    let e = t.call("account.move", "payflow_nope", json!([]), json!({})).await.unwrap_err();
    assert_eq!(
        (err_name(&e), err_message(&e)),
        ("builtins.AttributeError", "The method 'payflow_nope' does not exist on the model 'account.move'")
    );

    let run = format!("contract-{}-{}", std::process::id(), t._sim.is_some());
    let vals = |debit: f64, credit: f64, key: Option<&str>| {
        let mut v = json!({"move_type": "entry", "journal_id": journal, "company_id": 1, "date": "2026-10-31", "ref": run,
            "line_ids": [[0, 0, {"account_id": expense, "name": "Salaires", "debit": debit, "credit": 0.0}],
                         [0, 0, {"account_id": payable, "name": "Net", "debit": 0.0, "credit": credit}]]});
        if let Some(k) = key {
            v["payflow_import_key"] = json!(k);
        }
        v
    };

    // A balanced draft; an unbalanced one refused with Odoo's UserError.
    let id = t.ok("account.move", "create", json!([vals(10.0, 10.0, None)]), json!({})).await;
    let id = id.as_i64().or_else(|| id[0].as_i64()).unwrap();
    let read = t.ok("account.move", "read", json!([[id]]), json!({"fields": ["state", "date"]})).await;
    assert_eq!((read[0]["state"].as_str(), read[0]["date"].as_str()), (Some("draft"), Some("2026-10-31")));
    assert_eq!(t.ok("account.move", "unlink", json!([[id]]), json!({})).await, json!(true));
    let e = t.call("account.move", "create", json!([vals(10.0, 9.0, None)]), json!({})).await.unwrap_err();
    assert_eq!(err_name(&e), "odoo.exceptions.UserError");
    assert!(err_message(&e).contains("is not balanced") && err_message(&e).contains("10.00"), "{}", err_message(&e));

    // The import key is unique per company: Odoo's answer to the SQL constraint.
    let key = format!("{run}-dup");
    let first = t.ok("account.move", "create", json!([vals(10.0, 10.0, Some(&key))]), json!({})).await;
    let e = t.call("account.move", "create", json!([vals(10.0, 10.0, Some(&key))]), json!({})).await.unwrap_err();
    assert_eq!(err_name(&e), "odoo.exceptions.ValidationError");
    assert_eq!(
        err_message(&e),
        "The operation cannot be completed: A move with this PayFlow import key already exists in this company."
    );
    let first = first.as_i64().or_else(|| first[0].as_i64()).unwrap();

    // Lock dates: a draft may be created inside them; posting moves it after the lock date.
    t.ok("res.company", "write", json!([[1], {"fiscalyear_lock_date": "2026-12-31"}]), json!({})).await;
    let posted = t.call("account.move", "action_post", json!([[first]]), json!({})).await;
    t.ok("res.company", "write", json!([[1], {"fiscalyear_lock_date": false}]), json!({})).await;
    posted.unwrap();
    let read = t.ok("account.move", "read", json!([[first]]), json!({"fields": ["state", "date"]})).await;
    assert_eq!((read[0]["state"].as_str(), read[0]["date"].as_str()), (Some("posted"), Some("2027-01-01")));
    let e = t.call("account.move", "unlink", json!([[first]]), json!({})).await.unwrap_err();
    assert_eq!(err_name(&e), "odoo.exceptions.UserError");
    assert!(err_message(&e).contains("You can't delete a posted journal item"), "{}", err_message(&e));
    t.ok("account.move", "button_draft", json!([[first]]), json!({})).await;
    t.ok("account.move", "unlink", json!([[first]]), json!({})).await;

    // payflow_import: created, unchanged, replaced, posted; atomic.
    let entry = |k: &str, hash: &str, amount: f64| {
        json!({"import_key": k, "payload_hash": hash, "vals": vals(amount, amount, None),
        "attachment": {"name": "silae.json", "datas": "e30=", "mimetype": "application/json"}, "message": "<p>PayFlow</p>"})
    };
    let k = format!("{run}-import");
    let r = t.ok("account.move", "payflow_import", json!([]), json!({"moves": [entry(&k, "h1", 10.0)]})).await;
    assert_eq!((r[0]["result"].as_str(), r[0]["state"].as_str()), (Some("created"), Some("draft")));
    let created = r[0]["id"].as_i64().unwrap();
    let r = t.ok("account.move", "payflow_import", json!([]), json!({"moves": [entry(&k, "h1", 10.0)]})).await;
    assert_eq!((r[0]["result"].as_str(), r[0]["id"].as_i64()), (Some("unchanged"), Some(created)));
    let r = t.ok("account.move", "payflow_import", json!([]), json!({"moves": [entry(&k, "h2", 11.0)]})).await;
    assert_eq!(r[0]["result"], "replaced");
    let replaced = r[0]["id"].as_i64().unwrap();
    assert_ne!(replaced, created);
    let e = t.call("account.move", "payflow_import", json!([]), json!({"moves": [entry(&format!("{run}-ok"), "h", 5.0), {"import_key": format!("{run}-bad"), "payload_hash": "h", "vals": vals(5.0, 4.0, None)}]})).await.unwrap_err();
    assert_eq!(err_name(&e), "odoo.exceptions.UserError");
    let none = t
        .ok(
            "account.move",
            "search_read",
            json!([[["payflow_import_key", "in", [format!("{run}-ok"), format!("{run}-bad")]]]]),
            json!({"fields": ["id"]}),
        )
        .await;
    assert_eq!(none, json!([]), "one bad move writes none");
    t.ok("account.move", "action_post", json!([[replaced]]), json!({})).await;
    let r = t.ok("account.move", "payflow_import", json!([]), json!({"moves": [entry(&k, "h3", 12.0)]})).await;
    assert_eq!(
        (r[0]["result"].as_str(), r[0]["id"].as_i64(), r[0]["state"].as_str()),
        (Some("posted"), Some(replaced), Some("posted"))
    );
    let att = t
        .ok(
            "ir.attachment",
            "search_read",
            json!([[["res_model", "=", "account.move"], ["res_id", "=", replaced]]]),
            json!({"fields": ["name"]}),
        )
        .await;
    assert_eq!(att[0]["name"], "silae.json");
    t.ok("account.move", "button_draft", json!([[replaced]]), json!({})).await;
    t.ok("account.move", "unlink", json!([[replaced]]), json!({})).await;

    // XML-RPC: the version, and AccessDenied as fault 3.
    let v = t
        .xml(
            "common",
            "<?xml version=\"1.0\"?><methodCall><methodName>version</methodName><params></params></methodCall>",
        )
        .await;
    assert!(v.contains("<name>server_version</name>") && v.contains("18.0"), "{v}");
    let denied = t.xml("object", &format!("<?xml version=\"1.0\"?><methodCall><methodName>execute_kw</methodName><params><param><value><string>{}</string></value></param><param><value><int>2</int></value></param><param><value><string>wrong</string></value></param><param><value><string>res.company</string></value></param><param><value><string>search_read</string></value></param><param><value><array><data></data></array></value></param></params></methodCall>", t.db)).await;
    assert!(
        denied.contains("<fault>") && denied.contains("<int>3</int>") && denied.contains("Access Denied"),
        "{denied}"
    );
}

#[tokio::test]
async fn the_simulator_keeps_the_contract() {
    contract(&sim().await).await;
}

#[tokio::test]
async fn the_real_odoo_18_keeps_the_contract() {
    match real().await {
        Ok(t) => contract(&t).await,
        Err(why) => println!("skipped: {why}"),
    }
}
