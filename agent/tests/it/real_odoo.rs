//! The import scenarios on a real Odoo 18 (../shared/tools/odoo-dev), with the same assertions
//! as on the simulator. Skipped, with the reason printed, when no real Odoo answers.
//! `PAYFLOW_TEST_ODOO_URL` (default http://127.0.0.1:8069), `PAYFLOW_TEST_ODOO_DB` (default
//! payflow), login admin, `PAYFLOW_TEST_ODOO_PASSWORD` (default admin).

use payflow_agent::import::{ErrorKind, Status};
use serde_json::{json, Value};

use crate::util::*;

struct Real {
    url: String,
    db: String,
    password: String,
    http: reqwest::Client,
}

impl Real {
    async fn call(&self, model: &str, method: &str, args: Value, kwargs: Value) -> Result<Value, String> {
        let body = json!({"jsonrpc": "2.0", "method": "call", "id": 1, "params": {"service": "object", "method": "execute_kw",
            "args": [self.db, 2, self.password, model, method, args, kwargs]}});
        let v: Value = self
            .http
            .post(format!("{}/jsonrpc", self.url))
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        match v.get("error") {
            Some(e) => Err(e["data"]["message"].as_str().unwrap_or("error").to_owned()),
            None => Ok(v["result"].clone()),
        }
    }

    /// The real Odoo, or why the tests are skipped.
    async fn find() -> Result<Real, String> {
        let url = std::env::var("PAYFLOW_TEST_ODOO_URL").unwrap_or_else(|_| "http://127.0.0.1:8069".into());
        let db = std::env::var("PAYFLOW_TEST_ODOO_DB").unwrap_or_else(|_| "payflow".into());
        let password = std::env::var("PAYFLOW_TEST_ODOO_PASSWORD").unwrap_or_else(|_| "admin".into());
        let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60)).build().unwrap();
        let real = Real { url: url.clone(), db, password, http };
        let installed = real
            .call(
                "ir.module.module",
                "search_read",
                json!([[["name", "=", "payflow_silae"], ["state", "=", "installed"]]]),
                json!({"fields": ["id"]}),
            )
            .await
            .map_err(|e| format!("no real Odoo at {url} ({e}); install one with ../shared/tools/odoo-dev"))?;
        if installed.as_array().is_none_or(|a| a.is_empty()) {
            return Err(format!("the payflow_silae addon is not installed in the Odoo database {} at {url}", real.db));
        }
        Ok(real)
    }

    /// A payroll journal and the accounts of the samples; no move of earlier runs.
    async fn prepare(&self) {
        let journals = self
            .call(
                "account.journal",
                "search_read",
                json!([[["code", "=", "SAL"], ["company_id", "=", 1]]]),
                json!({"fields": ["id"]}),
            )
            .await
            .unwrap();
        if journals.as_array().unwrap().is_empty() {
            self.call(
                "account.journal",
                "create",
                json!([{"name": "Salaires", "code": "SAL", "type": "general", "company_id": 1}]),
                json!({}),
            )
            .await
            .unwrap();
        }
        for code in [
            "421000", "431000", "437000", "442100", "641100", "641400", "645100", "645300", "645400", "645800",
            "647500",
        ] {
            let found = self
                .call(
                    "account.account",
                    "search_read",
                    json!([[["code", "=", code], ["company_ids", "in", [1]]]]),
                    json!({"fields": ["id"], "context": {"allowed_company_ids": [1]}}),
                )
                .await
                .unwrap();
            if found.as_array().unwrap().is_empty() {
                let account_type = if code.starts_with('6') { "expense" } else { "liability_current" };
                self.call("account.account", "create", json!([{"code": code, "name": format!("PayFlow test {code}"), "account_type": account_type, "company_ids": [1]}]), json!({"context": {"allowed_company_ids": [1]}}))
                    .await
                    .unwrap();
            }
        }
        // Analytic accounting is a group of its own: the user the agent logs in as needs it.
        let group = self
            .call(
                "ir.model.data",
                "search_read",
                json!([[["module", "=", "analytic"], ["name", "=", "group_analytic_accounting"]]]),
                json!({"fields": ["res_id"]}),
            )
            .await
            .unwrap();
        let group = group[0]["res_id"].as_i64().unwrap();
        self.call("res.users", "write", json!([[2], {"groups_id": [[4, group]]}]), json!({})).await.unwrap();
        let plan = self
            .call(
                "account.analytic.plan",
                "search_read",
                json!([[["name", "=", "PayFlow Établissements"]]]),
                json!({"fields": ["id"]}),
            )
            .await
            .unwrap();
        let plan = match plan[0]["id"].as_i64() {
            Some(id) => id,
            None => self
                .call("account.analytic.plan", "create", json!([{"name": "PayFlow Établissements"}]), json!({}))
                .await
                .unwrap()
                .as_i64()
                .unwrap(),
        };
        for code in ["PARIS", "LYON"] {
            let found = self
                .call(
                    "account.analytic.account",
                    "search_read",
                    json!([[["code", "=", code]]]),
                    json!({"fields": ["id"]}),
                )
                .await
                .unwrap();
            if found.as_array().unwrap().is_empty() {
                self.call(
                    "account.analytic.account",
                    "create",
                    json!([{"name": format!("Établissement {code}"), "code": code, "plan_id": plan}]),
                    json!({}),
                )
                .await
                .unwrap();
            }
        }
        self.call("res.company", "write", json!([[1], {"fiscalyear_lock_date": false}]), json!({})).await.unwrap();
        self.cleanup().await;
    }

    async fn cleanup(&self) {
        let moves = self.moves().await;
        let ids: Vec<i64> = moves.iter().filter_map(|m| m["id"].as_i64()).collect();
        if ids.is_empty() {
            return;
        }
        let posted: Vec<i64> =
            moves.iter().filter(|m| m["state"] != "draft").filter_map(|m| m["id"].as_i64()).collect();
        if !posted.is_empty() {
            self.call("account.move", "button_draft", json!([posted]), json!({})).await.unwrap();
        }
        self.call("account.move", "unlink", json!([ids]), json!({})).await.unwrap();
    }

    async fn moves(&self) -> Vec<Value> {
        let moves = self
            .call(
                "account.move",
                "search_read",
                json!([[["payflow_import_key", "like", "silae:"]]]),
                json!({"fields": ["id", "state", "payflow_import_key", "ref", "date", "line_ids"], "order": "id"}),
            )
            .await
            .unwrap();
        moves.as_array().unwrap().clone()
    }

    async fn lines(&self, move_id: i64) -> Vec<Value> {
        let v = self
            .call(
                "account.move.line",
                "search_read",
                json!([[["move_id", "=", move_id]]]),
                json!({"fields": ["debit", "credit", "name", "analytic_distribution"]}),
            )
            .await
            .unwrap();
        v.as_array().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_odoo_18_imports_exactly_once() {
    let real = match Real::find().await {
        Ok(r) => r,
        Err(why) => {
            println!("skipped: {why}");
            return;
        }
    };
    real.prepare().await;
    let w = World::with_odoo(None, real.url.clone(), real.db.clone(), real.password.clone()).await;

    // The two establishments, balanced to the cent, once, with the key and the analytic split.
    let ids = crate::import::scenario_imports_once(&w).await;
    let moves = real.moves().await;
    assert_eq!(moves.len(), 2, "{moves:?}");
    for (m, key, total, count) in [
        (&moves[0], "silae:100300:2026-10:etablissement-paris", 16_400_394, 15),
        (&moves[1], "silae:100300:2026-10:etablissement-lyon", 4_268_207, 13),
    ] {
        assert!(ids.contains(&m["id"].as_i64().unwrap()));
        assert_eq!(m["payflow_import_key"], key);
        assert_eq!(m["state"], "draft");
        assert_eq!(m["date"], "2026-10-31");
        let lines = real.lines(m["id"].as_i64().unwrap()).await;
        assert_eq!(lines.len(), count);
        let debit: i64 = lines.iter().map(|l| cents(&l["debit"])).sum();
        let credit: i64 = lines.iter().map(|l| cents(&l["credit"])).sum();
        assert_eq!((debit, credit), (total, total));
    }
    assert_eq!(moves[0]["ref"], "SALAIRES OCTOBRE 2026 - Établissement Paris");
    // Salaries and allowances of Paris: 60 % on PARIS, 40 % on LYON, each line 100 % on one.
    let paris_lines = real.lines(moves[0]["id"].as_i64().unwrap()).await;
    let analytic: Vec<(i64, String)> = paris_lines
        .iter()
        .filter_map(|l| {
            l["analytic_distribution"].as_object().map(|d| (cents(&l["debit"]), d.keys().next().unwrap().clone()))
        })
        .collect();
    assert_eq!(analytic.len(), 4, "{paris_lines:?}");
    let on = |account: &str| analytic.iter().filter(|(_, a)| a == account).map(|(c, _)| c).sum::<i64>();
    let (a, b) = (analytic[0].1.clone(), analytic.iter().find(|(_, x)| *x != analytic[0].1).unwrap().1.clone());
    let (sixty, forty) = if on(&a) > on(&b) { (on(&a), on(&b)) } else { (on(&b), on(&a)) };
    assert_eq!((sixty, forty), (6_779_337 + 203_379, 4_519_558 + 135_587));

    // The single establishment too, by two agent processes of two instances (their own data
    // folders, so no shared lock) started at the same moment: only Odoo's unique key is between them.
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    let second = w.config_at("state2");
    add_dossier(&w.agent_at("state2"), &dossier("100200", 5));
    let spawn = |config: &std::path::Path| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_payflow-agent"));
        cmd.args(["import", "--dossier", "100200", "--period", "2026-10", "--json"]).env("PAYFLOW_CONFIG", config);
        for (k, v) in PLANTED {
            cmd.env(k, if k == "PAYFLOW_ODOO_SECRET" { real.password.as_str() } else { v });
        }
        cmd.stdout(std::process::Stdio::piped()).spawn().unwrap()
    };
    let (a, b) = (spawn(&w.config_path), spawn(&second));
    let outputs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    outputs.iter().for_each(|o| keep_for_scan("two agent processes on the real Odoo", &text(o)));
    let statuses: Vec<String> = outputs
        .iter()
        .map(|o| {
            serde_json::from_slice::<Value>(&o.stdout)
                .map(|v| v["status"].as_str().unwrap_or("?").to_owned())
                .unwrap_or_default()
        })
        .collect();
    let shown: Vec<String> = outputs.iter().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).collect();
    assert!(statuses.contains(&"imported".to_owned()), "{statuses:?} {shown:?}");
    assert!(statuses.iter().all(|s| s == "imported" || s == "already_imported"), "{statuses:?}");
    assert_eq!(real.moves().await.len(), 3, "one move for the period, whoever won");

    // Missing accounts, all at once; a locked period; nothing written.
    let mut d = dossier("100200", 5);
    d.account_map.insert("43730000".into(), "999991".into());
    d.account_map.insert("44210000".into(), "999992".into());
    add_dossier(&agent, &d);
    real.cleanup().await;
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.error_kind, Some(ErrorKind::MissingAccounts), "{}", r.message);
    assert!(
        r.message.contains("43730000 (tried 999991)") && r.message.contains("44210000 (tried 999992)"),
        "{}",
        r.message
    );
    add_dossier(&agent, &dossier("100200", 5));
    real.call("res.company", "write", json!([[1], {"fiscalyear_lock_date": "2026-12-31"}]), json!({})).await.unwrap();
    let r = import(&agent, "100200", "2026-10", false).await;
    real.call("res.company", "write", json!([[1], {"fiscalyear_lock_date": false}]), json!({})).await.unwrap();
    assert_eq!(r.error_kind, Some(ErrorKind::OdooRejected), "{}", r.message);
    assert!(real.moves().await.is_empty(), "nothing written");

    // The empty month.
    assert_eq!(import(&agent, "100200", "2026-08", false).await.status, Status::NoData);
    real.cleanup().await;
}

/// JSON-2 on a real Odoo 19 (`PAYFLOW_TEST_ODOO19_URL`, default http://127.0.0.1:8019, database
/// `PAYFLOW_TEST_ODOO19_DB` (payflow19), API key `PAYFLOW_TEST_ODOO19_KEY`, which scripts/test
/// makes with odoo-dev). Skipped, with the reason, when there is none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_odoo_19_imports_once_over_json_2() {
    let url = std::env::var("PAYFLOW_TEST_ODOO19_URL").unwrap_or_else(|_| "http://127.0.0.1:8019".into());
    let db = std::env::var("PAYFLOW_TEST_ODOO19_DB").unwrap_or_else(|_| "payflow19".into());
    let Ok(key) = std::env::var("PAYFLOW_TEST_ODOO19_KEY") else {
        println!("skipped: no PAYFLOW_TEST_ODOO19_KEY (an API key of a real Odoo 19; scripts/test makes one when odoo-dev has 19)");
        return;
    };
    let http = reqwest::Client::new();
    let json2 = |model: &str, method: &str, body: Value| {
        let (http, url, db, key) = (http.clone(), url.clone(), db.clone(), key.clone());
        let path = format!("{url}/json/2/{model}/{method}");
        async move {
            let r = http.post(path).bearer_auth(key).header("X-Odoo-Database", db).json(&body).send().await;
            match r {
                Ok(r) if r.status().is_success() => Ok(r.json::<Value>().await.unwrap_or(Value::Null)),
                Ok(r) => Err(format!("HTTP {}: {}", r.status(), r.text().await.unwrap_or_default())),
                Err(e) => Err(e.to_string()),
            }
        }
    };
    if let Err(e) = json2("res.users", "search_read", json!({"domain": [], "fields": ["id"], "limit": 1})).await {
        println!("skipped: no real Odoo 19 answers at {url} with that key ({e})");
        return;
    }
    let clean = || async {
        let moves = json2(
            "account.move",
            "search_read",
            json!({"domain": [["payflow_import_key", "like", "silae:"]], "fields": ["id"]}),
        )
        .await
        .unwrap();
        let ids: Vec<i64> = moves.as_array().unwrap().iter().filter_map(|m| m["id"].as_i64()).collect();
        if !ids.is_empty() {
            json2("account.move", "unlink", json!({"ids": ids})).await.unwrap();
        }
    };
    clean().await;
    let w = World::with_odoo(None, url.clone(), db.clone(), key.clone()).await;
    let agent = w.agent();
    let mut d = dossier("100200", 5);
    d.journal_code = "MISC".into();
    add_dossier(&agent, &d);
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    let again = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(again.status, Status::AlreadyImported, "{}", again.message);
    let moves = json2("account.move", "search_read", json!({"domain": [["payflow_import_key", "like", "silae:"]], "fields": ["id", "amount_total", "state", "date"]}))
        .await
        .unwrap();
    assert_eq!(moves.as_array().unwrap().len(), 1, "{moves}");
    assert_eq!(cents(&moves[0]["amount_total"]), 7_729_840);
    assert_eq!(moves[0]["date"], "2026-10-31");
    let session = agent.store().odoo_session(&url, &db, "admin").unwrap().unwrap();
    assert_eq!((session.protocol.as_str(), session.major), ("json2", 19));
    clean().await;
}
