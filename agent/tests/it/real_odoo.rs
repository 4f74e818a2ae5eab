//! The import scenarios on the real Odoo 17, 18 and 19 of ../shared/tools/odoo-dev (the
//! `payflow_silae` addon built for each series by scripts/addon-build), with the same
//! assertions as on the simulator: each sample imported once, two processes at once, missing
//! accounts, a locked period, the empty month. Skipped, with the reason printed, when a series
//! does not answer; `PAYFLOW_REQUIRE_REAL_ODOO` (`1` or `all`, or a list such as `17,19`) turns
//! the skip of those series into a failure (scripts/test sets it for the series it started).
//!
//! | series | URL (default) | database (default) | the agent's secret |
//! | --- | --- | --- | --- |
//! | 17 | `PAYFLOW_TEST_ODOO17_URL` (http://127.0.0.1:8017) | `PAYFLOW_TEST_ODOO17_DB` (payflow17) | `PAYFLOW_TEST_ODOO17_PASSWORD` (admin) |
//! | 18 | `PAYFLOW_TEST_ODOO_URL` (http://127.0.0.1:8069) | `PAYFLOW_TEST_ODOO_DB` (payflow) | `PAYFLOW_TEST_ODOO_PASSWORD` (admin) |
//! | 19 | `PAYFLOW_TEST_ODOO19_URL` (http://127.0.0.1:8019) | `PAYFLOW_TEST_ODOO19_DB` (payflow19) | `PAYFLOW_TEST_ODOO19_KEY` (an API key: JSON-2) |
//!
//! The test itself talks to 17 and 18 over JSON-RPC and to 19 over JSON-2 only, so that the
//! Odoo 19 log holds no deprecated call at all (scripts/test checks it).

use payflow_agent::import::{ErrorKind, Status};
use serde_json::{json, Value};

use crate::util::*;

struct Real {
    series: u32,
    url: String,
    db: String,
    /// The admin's password (17, 18) or API key (19, JSON-2).
    secret: String,
    http: reqwest::Client,
}

/// Whether a skip of this series must fail the run.
fn required(series: u32) -> bool {
    let v = std::env::var("PAYFLOW_REQUIRE_REAL_ODOO").unwrap_or_default();
    let v = v.trim();
    v == "1" || v == "all" || v.split(',').any(|s| s.trim() == series.to_string())
}

/// Prints why the real-Odoo test of `series` does not run, or fails when it is required.
fn skip(series: u32, why: &str) {
    assert!(!required(series), "the real Odoo {series} is required (PAYFLOW_REQUIRE_REAL_ODOO) but: {why}");
    println!("skipped: real Odoo {series}: {why}");
}

impl Real {
    /// `model.method(**kwargs)` on `ids`: JSON-2 on 19, JSON-RPC's `execute_kw` before.
    async fn call(&self, model: &str, method: &str, ids: Option<Value>, kwargs: Value) -> Result<Value, String> {
        if self.series >= 19 {
            let mut body = kwargs;
            if let Some(ids) = ids {
                body["ids"] = ids;
            }
            let r = self
                .http
                .post(format!("{}/json/2/{model}/{method}", self.url))
                .bearer_auth(&self.secret)
                .header("X-Odoo-Database", &self.db)
                .json(&body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = r.status();
            let v: Value = r.json().await.unwrap_or(Value::Null);
            return if status.is_success() {
                Ok(v)
            } else {
                Err(format!("HTTP {status}: {}", v.get("message").and_then(Value::as_str).unwrap_or("error")))
            };
        }
        // Over JSON-RPC, `create` and `write` take their values by position (on 17 and 18
        // `vals_list=` fails and `res.company.write` names its parameter `values`).
        let mut kwargs = kwargs;
        let mut args: Vec<Value> = ids.into_iter().collect();
        for positional in ["vals_list", "vals"] {
            if let Some(v) = kwargs.as_object_mut().and_then(|o| o.remove(positional)) {
                args.push(v);
            }
        }
        let body = json!({"jsonrpc": "2.0", "method": "call", "id": 1, "params": {"service": "object", "method": "execute_kw",
            "args": [self.db, 2, self.secret, model, method, args, kwargs]}});
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

    async fn ok(&self, model: &str, method: &str, ids: Option<Value>, kwargs: Value) -> Value {
        self.call(model, method, ids, kwargs)
            .await
            .unwrap_or_else(|e| panic!("real Odoo {}: {model}.{method}: {e}", self.series))
    }

    async fn search(&self, model: &str, domain: Value, fields: &[&str]) -> Vec<Value> {
        let v = self.ok(model, "search_read", None, json!({"domain": domain, "fields": fields})).await;
        v.as_array().cloned().unwrap_or_default()
    }

    async fn create(&self, model: &str, vals: Value) -> i64 {
        let v = self.ok(model, "create", None, json!({"vals_list": [vals]})).await;
        v.get(0).and_then(Value::as_i64).or_else(|| v.as_i64()).unwrap_or_else(|| panic!("{model}.create: {v}"))
    }

    /// The real Odoo of a series, or why its test is skipped.
    async fn find(series: u32) -> Result<Real, String> {
        let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        let (url, db, secret) = match series {
            17 => (
                env("PAYFLOW_TEST_ODOO17_URL", "http://127.0.0.1:8017"),
                env("PAYFLOW_TEST_ODOO17_DB", "payflow17"),
                env("PAYFLOW_TEST_ODOO17_PASSWORD", "admin"),
            ),
            18 => (
                env("PAYFLOW_TEST_ODOO_URL", "http://127.0.0.1:8069"),
                env("PAYFLOW_TEST_ODOO_DB", "payflow"),
                env("PAYFLOW_TEST_ODOO_PASSWORD", "admin"),
            ),
            _ => (
                env("PAYFLOW_TEST_ODOO19_URL", "http://127.0.0.1:8019"),
                env("PAYFLOW_TEST_ODOO19_DB", "payflow19"),
                std::env::var("PAYFLOW_TEST_ODOO19_KEY").map_err(|_| {
                    "no PAYFLOW_TEST_ODOO19_KEY (an API key of a real Odoo 19; scripts/test makes one with odoo-dev)"
                        .to_owned()
                })?,
            ),
        };
        let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60)).build().unwrap();
        let real = Real { series, url: url.clone(), db, secret, http };
        let modules = real
            .call(
                "ir.module.module",
                "search_read",
                None,
                json!({"domain": [["name", "in", ["base", "payflow_silae"]]], "fields": ["name", "state", "latest_version"]}),
            )
            .await
            .map_err(|e| format!("no real Odoo at {url} ({e}); install one with ../shared/tools/odoo-dev"))?;
        let rows = modules.as_array().cloned().unwrap_or_default();
        let base = rows.iter().find(|m| m["name"] == "base").and_then(|m| m["latest_version"].as_str()).unwrap_or("");
        if !base.starts_with(&format!("{series}.")) {
            return Err(format!("the Odoo at {url} is not a {series}.0 (base {base:?})"));
        }
        if !rows.iter().any(|m| m["name"] == "payflow_silae" && m["state"] == "installed") {
            return Err(format!("the payflow_silae addon is not installed in the Odoo database {} at {url}", real.db));
        }
        Ok(real)
    }

    /// A payroll journal and the accounts of the samples; no move of earlier runs.
    async fn prepare(&self) {
        if self
            .search("account.journal", json!([["code", "=", "SAL"], ["company_id", "=", 1]]), &["id"])
            .await
            .is_empty()
        {
            self.create(
                "account.journal",
                json!({"name": "Salaires", "code": "SAL", "type": "general", "company_id": 1}),
            )
            .await;
        }
        // 17: one company per account (`company_id`); 18 and 19: `company_ids`.
        let company_field = if self.series == 17 { "company_id" } else { "company_ids" };
        for code in [
            "421000", "431000", "437000", "442100", "641100", "641400", "645100", "645300", "645400", "645800",
            "647500",
        ] {
            let domain = json!([["code", "=", code], [company_field, "in", [1]]]);
            let found = self
                .ok(
                    "account.account",
                    "search_read",
                    None,
                    json!({"domain": domain, "fields": ["id"], "context": {"allowed_company_ids": [1]}}),
                )
                .await;
            if found.as_array().is_none_or(|a| a.is_empty()) {
                let account_type = if code.starts_with('6') { "expense" } else { "liability_current" };
                let company = if self.series == 17 { json!(1) } else { json!([1]) };
                let vals = json!({"code": code, "name": format!("PayFlow test {code}"), "account_type": account_type, company_field: company});
                self.ok(
                    "account.account",
                    "create",
                    None,
                    json!({"vals_list": [vals], "context": {"allowed_company_ids": [1]}}),
                )
                .await;
            }
        }
        // Analytic accounting is a group of its own: the user the agent logs in as needs it
        // (`groups_id` up to 18, `group_ids` from 19).
        let group = self
            .search(
                "ir.model.data",
                json!([["module", "=", "analytic"], ["name", "=", "group_analytic_accounting"]]),
                &["res_id"],
            )
            .await;
        let group = group[0]["res_id"].as_i64().unwrap();
        let groups_field = if self.series >= 19 { "group_ids" } else { "groups_id" };
        self.ok("res.users", "write", Some(json!([2])), json!({"vals": {groups_field: [[4, group]]}})).await;
        let plan = match self
            .search("account.analytic.plan", json!([["name", "=", "PayFlow Établissements"]]), &["id"])
            .await
            .first()
        {
            Some(p) => p["id"].as_i64().unwrap(),
            None => self.create("account.analytic.plan", json!({"name": "PayFlow Établissements"})).await,
        };
        for code in ["PARIS", "LYON"] {
            if self.search("account.analytic.account", json!([["code", "=", code]]), &["id"]).await.is_empty() {
                self.create(
                    "account.analytic.account",
                    json!({"name": format!("Établissement {code}"), "code": code, "plan_id": plan}),
                )
                .await;
            }
        }
        self.lock(None).await;
        self.cleanup().await;
    }

    async fn lock(&self, date: Option<&str>) {
        let date = date.map_or(json!(false), |d| json!(d));
        self.ok("res.company", "write", Some(json!([1])), json!({"vals": {"fiscalyear_lock_date": date}})).await;
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
            self.ok("account.move", "button_draft", Some(json!(posted)), json!({})).await;
        }
        self.ok("account.move", "unlink", Some(json!(ids)), json!({})).await;
    }

    async fn moves(&self) -> Vec<Value> {
        let v = self
            .ok(
                "account.move",
                "search_read",
                None,
                json!({"domain": [["payflow_import_key", "like", "silae:"]], "fields": ["id", "state", "payflow_import_key", "ref", "date", "line_ids"], "order": "id"}),
            )
            .await;
        v.as_array().cloned().unwrap_or_default()
    }

    async fn lines(&self, move_id: i64) -> Vec<Value> {
        self.search(
            "account.move.line",
            json!([["move_id", "=", move_id]]),
            &["debit", "credit", "name", "analytic_distribution"],
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_odoo_17_imports_exactly_once() {
    scenario(17).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_odoo_18_imports_exactly_once() {
    scenario(18).await;
}

/// Over JSON-2 only: the agent finds 19 by `GET /web/version` and never calls `/jsonrpc`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_odoo_19_imports_exactly_once_over_json_2() {
    scenario(19).await;
}

/// Every sample on the real Odoo of `series`: the two establishments, the single one (by two
/// processes at once), missing accounts, a locked period, the empty month.
async fn scenario(series: u32) {
    let real = match Real::find(series).await {
        Ok(r) => r,
        Err(why) => return skip(series, &why),
    };
    real.prepare().await;
    let w = World::with_odoo(None, real.url.clone(), real.db.clone(), real.secret.clone()).await;

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
            cmd.env(k, if k == "PAYFLOW_ODOO_SECRET" { real.secret.as_str() } else { v });
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
    real.lock(Some("2026-12-31")).await;
    let r = import(&agent, "100200", "2026-10", false).await;
    real.lock(None).await;
    assert_eq!(r.error_kind, Some(ErrorKind::OdooRejected), "{}", r.message);
    assert!(real.moves().await.is_empty(), "nothing written");

    // The empty month.
    assert_eq!(import(&agent, "100200", "2026-08", false).await.status, Status::NoData);
    real.cleanup().await;

    // A new instance (its own store, no session yet): the version and the authentication the
    // first time, then the one call. The version is one request on 19 (`GET /web/version`), two
    // on 17 and 18 (that route answers 404 there, then `common.version`).
    let first = w.agent_at("state3");
    add_dossier(&first, &dossier("100200", 5));
    let r = import(&first, "100200", "2026-10", true).await;
    assert_eq!(r.status, Status::Previewed, "{}", r.message);
    let expected = if series >= 19 { 3 } else { 4 };
    assert_eq!(first.built_clients().1.map(|o| o.calls()), Some(expected), "Odoo {series}: the first time");

    // A new process with the session remembered: one Odoo call per import, one per preview (no
    // version call, no authentication), with the addon's payflow_import_plan.
    for (dry_run, status) in [(true, Status::Previewed), (false, Status::Imported)] {
        let fresh = w.agent();
        let r = import(&fresh, "100200", "2026-10", dry_run).await;
        assert_eq!(r.status, status, "{}", r.message);
        let calls = fresh.built_clients().1.map(|o| o.calls());
        assert_eq!(calls, Some(1), "Odoo {series}, dry_run {dry_run}: one call");
    }
    real.cleanup().await;

    // Partners on the liability lines (docs/odoo-protocol.md): by reference and by exact name.
    let mut partner_ids = Vec::new();
    for (name, reference) in [("PayFlow test URSSAF", Some("PF-URSSAF")), ("PayFlow test SIE", None)] {
        let found = real.search("res.partner", json!([["name", "=", name]]), &["id"]).await;
        let id = match found.first() {
            Some(p) => p["id"].as_i64().unwrap(),
            None => real.create("res.partner", json!({"name": name, "ref": reference.unwrap_or_default()})).await,
        };
        partner_ids.push(id);
    }
    let mut d = dossier("100200", 5);
    d.partner_map.insert("43100000".into(), "PF-URSSAF".into());
    d.partner_map.insert("44210000".into(), "PayFlow test SIE".into());
    add_dossier(&agent, &d);
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    let moves = real.moves().await;
    let lines = real
        .search("account.move.line", json!([["move_id", "=", moves[0]["id"]]]), &["partner_id", "account_id"])
        .await;
    let with =
        |partner: i64| lines.iter().filter(|l| l["partner_id"].get(0).and_then(Value::as_i64) == Some(partner)).count();
    assert_eq!((with(partner_ids[0]), with(partner_ids[1])), (1, 1), "Odoo {series}: {lines:?}");
    assert_eq!(lines.iter().filter(|l| l["partner_id"] == json!(false)).count(), lines.len() - 2);
    add_dossier(&agent, &dossier("100200", 5));
    real.cleanup().await;

    // The protocol the agent found and remembered for this series.
    let session = agent.store().odoo_session(&real.url, &real.db, "admin").unwrap().unwrap();
    let protocol = if series >= 19 { "json2" } else { "jsonrpc" };
    assert_eq!((session.protocol.as_str(), session.major), (protocol, i64::from(series)));
}
