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
use payflow_agent::odoo::standard::parse_narration;
use payflow_agent::payments::InOdoo;
use serde_json::{json, Value};

use crate::util::*;

mod payments;

struct Real {
    series: u32,
    url: String,
    db: String,
    /// The admin's password (17, 18) or API key (19, JSON-2).
    secret: String,
    http: reqwest::Client,
    /// A database without the payflow_silae addon (`write_mode = "standard"`): the key is in
    /// each move's note.
    standard: bool,
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

    /// The real Odoo 18's database without the addon (`PAYFLOW_TEST_ODOO_STD_DB`, default
    /// `payflow_std`, at `PAYFLOW_TEST_ODOO_URL`), or why its test is skipped.
    async fn find_standard() -> Result<Real, String> {
        let db = std::env::var("PAYFLOW_TEST_ODOO_STD_DB").unwrap_or_else(|_| "payflow_std".into());
        let url = std::env::var("PAYFLOW_TEST_ODOO_STD_URL").unwrap_or_else(|_| "http://127.0.0.1:8071".into());
        let mut real = Real::find_db(18, Some((url, db)), false).await?;
        real.standard = true;
        Ok(real)
    }

    /// The real Odoo of a series, or why its test is skipped.
    async fn find(series: u32) -> Result<Real, String> {
        Real::find_db(series, None, true).await
    }

    /// `at`: the URL and database, instead of the series' defaults.
    async fn find_db(series: u32, at: Option<(String, String)>, addon: bool) -> Result<Real, String> {
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
        let (url, db) = at.unwrap_or((url, db));
        let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60)).build().unwrap();
        let real = Real { series, url: url.clone(), db, secret, http, standard: !addon };
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
        let installed = rows.iter().any(|m| m["name"] == "payflow_silae" && m["state"] == "installed");
        if addon && !installed {
            return Err(format!("the payflow_silae addon is not installed in the Odoo database {} at {url}", real.db));
        }
        if !addon && installed {
            return Err(format!("the payflow_silae addon is installed in the Odoo database {} at {url}: standard mode's test needs a database without it", real.db));
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
        if self.standard {
            // The key from each move's note, under the addon's field name for the assertions.
            let v = self
                .ok(
                    "account.move",
                    "search_read",
                    None,
                    json!({"domain": [["narration", "ilike", "silae:"]], "fields": ["id", "state", "narration", "ref", "date", "line_ids"], "order": "id"}),
                )
                .await;
            return v
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|mut m| {
                    let key = parse_narration(m["narration"].as_str().unwrap_or_default()).map(|(k, _)| k);
                    m["payflow_import_key"] = json!(key);
                    m
                })
                .collect();
        }
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
            &["debit", "credit", "name", "analytic_distribution", "account_id"],
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

/// The two tests on the database without the addon clean it: one at a time.
static STANDARD_DB: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Whether the standard-mode database's test may not skip (`PAYFLOW_REQUIRE_REAL_ODOO` names
/// `18std`, or is `1` / `all`).
fn standard_required() -> bool {
    let v = std::env::var("PAYFLOW_REQUIRE_REAL_ODOO").unwrap_or_default();
    v.split(',').any(|s| s.trim() == "18std")
}

/// Issue 21: the real Odoo 18 WITHOUT the addon, `write_mode = "auto"` finding it absent
/// (standard mode): the samples imported as with the addon (same lines, totals, date, ref,
/// analytic, attachment), a re-run creating nothing, a key edited away refused, not doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_odoo_18_without_the_addon_imports_exactly_once_in_standard_mode() {
    let _one_at_a_time = STANDARD_DB.lock().await;
    let real = match Real::find_standard().await {
        Ok(r) => r,
        Err(why) => {
            assert!(
                !standard_required(),
                "the real Odoo 18 without the addon is required (PAYFLOW_REQUIRE_REAL_ODOO) but: {why}"
            );
            println!("skipped: real Odoo 18 without the addon: {why}");
            return;
        }
    };
    real.prepare().await;
    let w = World::with_odoo(None, real.url.clone(), real.db.clone(), real.secret.clone()).await;
    let ids = crate::import::scenario_imports_once(&w).await;
    let moves = real.moves().await;
    assert_eq!(moves.len(), 2, "{moves:?}");
    for (m, key, total, count) in [
        (&moves[0], "silae:100300:2026-10:etablissement-paris", 16_400_394, 15),
        (&moves[1], "silae:100300:2026-10:etablissement-lyon", 4_268_207, 13),
    ] {
        let id = m["id"].as_i64().unwrap();
        assert!(ids.contains(&id));
        assert_eq!(m["payflow_import_key"], key);
        assert_eq!((m["state"].as_str(), m["date"].as_str()), (Some("draft"), Some("2026-10-31")));
        let lines = real.lines(id).await;
        assert_eq!(lines.len(), count);
        let debit: i64 = lines.iter().map(|l| cents(&l["debit"])).sum();
        let credit: i64 = lines.iter().map(|l| cents(&l["credit"])).sum();
        assert_eq!((debit, credit), (total, total));
        // Silae's answer attached in the same create, as the addon attaches it, naming the key.
        let files = real
            .search(
                "ir.attachment",
                json!([["res_model", "=", "account.move"], ["res_id", "=", id]]),
                &["name", "mimetype", "description", "datas"],
            )
            .await;
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files[0]["name"], "silae-100300-2026-10.json");
        assert_eq!(files[0]["mimetype"], "application/json");
        assert_eq!(files[0]["description"], key);
        assert!(files[0]["datas"].as_str().is_some_and(|d| d.len() > 100));
    }
    assert_eq!(moves[0]["ref"], "SALAIRES OCTOBRE 2026 - Établissement Paris");
    let paris_lines = real.lines(moves[0]["id"].as_i64().unwrap()).await;
    let analytic: Vec<i64> = paris_lines
        .iter()
        .filter(|l| l["analytic_distribution"].as_object().is_some_and(|d| !d.is_empty()))
        .map(|l| cents(&l["debit"]))
        .collect();
    assert_eq!(analytic.len(), 4, "{paris_lines:?}");
    assert_eq!(analytic.iter().sum::<i64>(), 6_779_337 + 203_379 + 4_519_558 + 135_587);

    // A key edited away in Odoo (the Paris note's key line removed): refused, never doubled.
    let agent = w.agent();
    let paris = moves[0]["id"].as_i64().unwrap();
    let note = moves[0]["narration"].clone();
    real.ok("account.move", "write", Some(json!([paris])), json!({"vals": {"narration": "<p>Note modifiée</p>"}}))
        .await;
    let r = import(&agent, "100300", "2026-10", false).await;
    assert_eq!(r.error_kind, Some(ErrorKind::OdooRejected), "{}", r.message);
    assert!(r.message.contains("edited away") && r.message.contains("nothing was written"), "{}", r.message);
    assert_eq!(real.moves().await.len(), 1, "the edited move no longer shows its key; nothing created");
    real.ok("account.move", "write", Some(json!([paris])), json!({"vals": {"narration": note}})).await;
    assert_eq!(import(&agent, "100300", "2026-10", false).await.status, Status::AlreadyImported);
    assert_eq!(real.moves().await.len(), 2);

    // The single establishment; missing accounts; a locked period (the agent's own check); the empty month.
    add_dossier(&agent, &dossier("100200", 5));
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    assert_eq!(import(&agent, "100200", "2026-10", false).await.status, Status::AlreadyImported);
    assert_eq!(real.moves().await.len(), 3);
    real.cleanup().await;
    let mut d = dossier("100200", 5);
    d.account_map.insert("43730000".into(), "999991".into());
    add_dossier(&agent, &d);
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.error_kind, Some(ErrorKind::MissingAccounts), "{}", r.message);
    add_dossier(&agent, &dossier("100200", 5));
    real.lock(Some("2026-12-31")).await;
    let r = import(&agent, "100200", "2026-10", false).await;
    real.lock(None).await;
    assert_eq!(r.error_kind, Some(ErrorKind::OdooRejected), "{}", r.message);
    assert!(real.moves().await.is_empty(), "nothing written");
    assert_eq!(import(&agent, "100200", "2026-08", false).await.status, Status::NoData);

    // Issue 20 without the addon: a period with its salary payments, imported as drafts, posted
    // as an accountant would, then reconciled by the next run (Odoo's own `reconcile`).
    real.cleanup().await;
    let bank = real.payments_journal().await;
    let mut d = dossier("100200", 5);
    d.payments = true;
    d.payments_journal = Some(payments::JOURNAL.into());
    d.account_map.insert("51200000".into(), bank);
    add_dossier(&agent, &d);
    w.silae.publish_late_batches("100200", "2026-10");
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    let moves = real.moves().await;
    assert_eq!(moves.len(), 4, "the payroll, two batches, the advances: {moves:?}");
    let all: Vec<i64> = moves.iter().filter_map(|m| m["id"].as_i64()).collect();
    let in_odoo = |r: &payflow_agent::run::RunReport| r.outcome.net_pay.as_ref().and_then(|n| n.odoo.clone());
    assert_eq!(in_odoo(&r), Some(InOdoo::NotPosted { drafts: 4 }), "{}", r.message);
    real.post(&all).await;
    assert!(real.net_pay_lines(&all).await.iter().all(|(_, full)| !full), "posting alone reconciles nothing here");
    let r = import(&agent, "100200", "2026-10", false).await;
    let lines = real.net_pay_lines(&all).await;
    assert_eq!(
        (r.status, in_odoo(&r)),
        (Status::AlreadyImported, Some(InOdoo::Reconciled { lines: 8 })),
        "{}",
        r.message
    );
    assert_eq!(lines.len(), 8, "the payroll's 421 line and the payments' 7: {lines:?}");
    assert!(lines.iter().all(|(_, full)| *full), "every 421 line has full_reconcile_id: {lines:?}");
    assert_eq!(lines.iter().map(|(b, _)| b).sum::<i64>(), 0);
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(
        (r.status, in_odoo(&r)),
        (Status::AlreadyImported, Some(InOdoo::Reconciled { lines: 0 })),
        "{}",
        r.message
    );
    assert_eq!(real.moves().await.len(), 4, "a re-run creates nothing");
    // One cent short, all posted: the 421 lines left open, the difference named.
    real.cleanup().await;
    let mut short = dossier("100300", 5);
    short.payments = true;
    short.payments_journal = d.payments_journal.clone();
    short.account_map.insert("51200000".into(), d.account_map["51200000"].clone());
    add_dossier(&agent, &short);
    assert_eq!(import(&agent, "100300", "2026-10", false).await.status, Status::Imported);
    let all: Vec<i64> = real.moves().await.iter().filter_map(|m| m["id"].as_i64()).collect();
    assert_eq!(all.len(), 3, "two establishments' payroll moves and the batch");
    real.post(&all).await;
    let r = import(&agent, "100300", "2026-10", false).await;
    let lines = real.net_pay_lines(&all).await;
    let open = Some(InOdoo::Open { lines: lines.len() as i64, difference_cents: -1 });
    assert_eq!((r.status, in_odoo(&r)), (Status::AlreadyImported, open), "{}", r.message);
    assert!(r.message.contains("not matched, difference -0.01"), "{}", r.message);
    assert!(lines.iter().all(|(_, full)| !full), "left open: {lines:?}");
    assert_eq!(lines.iter().map(|(b, _)| b).sum::<i64>(), -1);
    // Only stock models and methods: the agent never asked for an addon's method again once
    // auto found it absent (one refused payflow_import_plan per process at most).
    real.cleanup().await;
}

/// Issue 21: `kill -9` at random points of standard-mode imports on the real Odoo 18 without
/// the addon (`PAYFLOW_STD_CRASH_KILLS`, 5 by default; scripts/reliability runs 200), each
/// followed by a normal run: no move twice, no period left without its move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_odoo_18_without_the_addon_survives_kill_9_in_standard_mode() {
    use rand::{Rng, SeedableRng};
    use std::time::{Duration, Instant};
    let _one_at_a_time = STANDARD_DB.lock().await;
    let real = match Real::find_standard().await {
        Ok(r) => r,
        Err(why) => {
            assert!(
                !standard_required(),
                "the real Odoo 18 without the addon is required (PAYFLOW_REQUIRE_REAL_ODOO) but: {why}"
            );
            println!("skipped: real Odoo 18 without the addon: {why}");
            return;
        }
    };
    let kills = crate::reliability::env_count("PAYFLOW_STD_CRASH_KILLS", 5);
    real.prepare().await;
    let numbers: Vec<String> = (0..kills + 1).map(|i| format!("{}", 710_000 + i)).collect();
    let samples = tempfile::tempdir().unwrap();
    for n in &numbers {
        std::fs::write(samples.path().join(format!("dossier-{n}-2026-10.json")), crate::reliability::payroll_of(n))
            .unwrap();
    }
    let w = World::with_odoo_and_samples(real.url.clone(), real.db.clone(), real.secret.clone(), samples.path().into())
        .await;
    // A create in flight is waited for up to twice the timeout: kept short here.
    w.write_config("write_mode = \"standard\"\ntimeout_secs = 10");
    let agent = w.agent();
    for n in &numbers {
        add_dossier(&agent, &dossier(n, 5));
    }
    let import = |n: &str| {
        let mut cmd = w.cli_command(&w.config_path, &["import", "--dossier", n, "--period", "2026-10", "--json"]);
        cmd.env("PAYFLOW_ODOO_SECRET", &real.secret);
        cmd
    };
    // A preview first (the session found and remembered), then one uninterrupted import gives
    // the span over which the kills are spread.
    let mut preview = import(&numbers[kills]);
    preview.arg("--dry-run");
    assert!(w.output(&mut preview).status.success());
    let t = Instant::now();
    let out = w.output(&mut import(&numbers[kills]));
    let span = t.elapsed();
    assert!(out.status.success(), "{}", text(&out));
    let pending = w.dir.path().join("state").join("standard-writes");
    let mut rng = rand::rngs::StdRng::seed_from_u64(21);
    let mut phases: std::collections::BTreeMap<&str, usize> = Default::default();
    for n in &numbers[..kills] {
        let mut child = import(n).spawn().unwrap();
        std::thread::sleep(span.mul_f64(rng.gen_range(0.0..1.1)));
        child.kill().unwrap(); // SIGKILL
        let killed = child.wait_with_output().unwrap();
        keep_for_scan("a standard-mode import killed by SIGKILL", &text(&killed));
        let latest = agent.store().runs(&payflow_agent::store::RunFilter {
            dossier: Some(n.clone()),
            limit: Some(1),
            ..Default::default()
        });
        let recorded = latest.unwrap().first().is_some_and(|r| r.status != Status::Running);
        let in_flight = std::fs::read_dir(&pending)
            .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().contains(n.as_str())))
            .unwrap_or(false);
        let phase = if killed.status.success() || recorded {
            "after the run was recorded"
        } else if in_flight {
            "create sent, its answer not seen"
        } else {
            "before the create was sent"
        };
        *phases.entry(phase).or_default() += 1;
        let t = Instant::now();
        let out = w.output(&mut import(n));
        assert!(out.status.success(), "the run after a kill ({phase}) failed: {}", text(&out));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            matches!(report["status"].as_str(), Some("imported" | "already_imported")),
            "after a kill ({phase}): {report}"
        );
        assert!(t.elapsed() < Duration::from_secs(60), "the run after a kill took {:?}", t.elapsed());
    }
    let mut by_key: std::collections::HashMap<String, usize> = Default::default();
    for m in real.moves().await {
        if let Some(k) = m["payflow_import_key"].as_str().filter(|k| k.starts_with("silae:71")) {
            *by_key.entry(k.to_owned()).or_default() += 1;
        }
    }
    let duplicates: usize = by_key.values().map(|c| c - 1).sum();
    let lost = numbers.iter().filter(|n| !by_key.keys().any(|k| k.starts_with(&format!("silae:{n}:2026-10:")))).count();
    println!(
        "reliability: standard mode on the real Odoo 18 without the addon: {kills} kill -9 over a {:.0} ms import: {phases:?}; duplicate moves {duplicates}, periods never imported {lost}",
        span.as_secs_f64() * 1e3
    );
    assert_eq!(duplicates, 0, "{by_key:?}");
    assert_eq!(lost, 0);
    real.cleanup().await;
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
    // first time, then the one call: 3 requests on every series (the version is the web
    // client's `/web/webclient/version_info`, on 17, 18 and 19 alike).
    let first = w.agent_at("state3");
    add_dossier(&first, &dossier("100200", 5));
    let r = import(&first, "100200", "2026-10", true).await;
    assert_eq!(r.status, Status::Previewed, "{}", r.message);
    assert_eq!(first.built_clients().1.map(|o| o.calls()), Some(3), "Odoo {series}: the first time");

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

    // Salary payments: batches, advances, the late batch by the next `run-due`, reconciliation.
    payments::scenario(&real, &w).await;
    corrections(&real, &w).await;
}

/// Issue 19: a draft edited by another user then a corrected payroll → untouched, failed
/// `changed_in_odoo` with the diff; an untouched draft → rewritten in place; a posted move with
/// `adjust` → one adjustment holding the difference, totals reconciled, a re-run creates nothing.
async fn corrections(real: &Real, w: &World) {
    let series = real.series;
    real.cleanup().await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    w.silae.set_payload("100200", "2026-10", crate::import::corrected_100200(0));
    assert_eq!(import(&agent, "100200", "2026-10", false).await.status, Status::Imported);
    let id = real.moves().await[0]["id"].as_i64().unwrap();
    let line = real.lines(id).await.iter().find(|l| cents(&l["debit"]) == 5_288_591).unwrap()["id"].as_i64().unwrap();
    // Another user re-labels a line (on 19, over JSON-2, the admin does: the fingerprint tells).
    let edit = json!({"line_ids": [[1, line, {"name": "Salaires revus"}]]});
    let editor = if series < 19 {
        let login = format!("payflow-accountant-{series}");
        let password = "PayFlow-accountant-2026";
        let manager = real
            .search(
                "ir.model.data",
                json!([["module", "=", "account"], ["name", "=", "group_account_manager"]]),
                &["res_id"],
            )
            .await[0]["res_id"]
            .as_i64()
            .unwrap();
        let uid = match real.search("res.users", json!([["login", "=", login]]), &["id"]).await.first() {
            Some(u) => u["id"].as_i64().unwrap(),
            None => {
                real.create(
                    "res.users",
                    json!({"name": "Jeanne Comptable", "login": login, "password": password, "groups_id": [[4, manager]]}),
                )
                .await
            }
        };
        let body = json!({"jsonrpc": "2.0", "method": "call", "id": 1, "params": {"service": "object", "method": "execute_kw",
            "args": [real.db, uid, password, "account.move", "write", [[id], edit], {}]}});
        let v: Value =
            real.http.post(format!("{}/jsonrpc", real.url)).json(&body).send().await.unwrap().json().await.unwrap();
        assert!(v.get("error").is_none(), "the accountant's edit: {v}");
        "Jeanne Comptable"
    } else {
        real.ok("account.move", "write", Some(json!([id])), json!({"vals": edit})).await;
        ""
    };
    w.silae.set_payload("100200", "2026-10", crate::import::corrected_100200(1_000));
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(
        (r.status, r.error_kind),
        (Status::Failed, Some(ErrorKind::ChangedInOdoo)),
        "Odoo {series}: {}",
        r.message
    );
    assert!(r.message.contains(&format!("changed in Odoo by {editor}")), "{}", r.message);
    assert!(r.message.contains("debit 52885.91 in Odoo, debit 52895.91 by Silae"), "{}", r.message);
    let lines = real.lines(id).await;
    assert!(lines.iter().any(|l| l["name"] == "Salaires revus"), "the draft is untouched");
    assert_eq!(lines.iter().map(|l| cents(&l["debit"])).sum::<i64>(), 7_729_840);
    assert_eq!(real.moves().await.len(), 1);

    // An untouched draft: rewritten in place, same id.
    real.cleanup().await;
    assert_eq!(import(&agent, "100200", "2026-10", false).await.status, Status::Imported);
    let id = real.moves().await[0]["id"].as_i64().unwrap();
    w.silae.set_payload("100200", "2026-10", crate::import::corrected_100200(2_000));
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    assert!(r.message.contains("1 draft(s) replaced"), "{}", r.message);
    let moves = real.moves().await;
    assert_eq!((moves.len(), moves[0]["id"].as_i64()), (1, Some(id)), "the same move");
    assert_eq!(real.lines(id).await.iter().map(|l| cents(&l["debit"])).sum::<i64>(), 7_731_840);

    // Posted, then corrected with `adjust`: one draft adjustment, exactly the difference.
    real.ok("account.move", "action_post", Some(json!([id])), json!({})).await;
    let mut d = dossier("100200", 5);
    d.corrections = payflow_agent::store::Corrections::Adjust;
    add_dossier(&agent, &d);
    w.silae.set_payload("100200", "2026-10", crate::import::corrected_100200(4_550));
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "Odoo {series}: {}", r.message);
    assert!(r.message.contains("1 draft adjustment(s)"), "{}", r.message);
    let moves = real.moves().await;
    assert_eq!(moves.len(), 2, "{moves:?}");
    let adjustment = &moves[1];
    assert!(adjustment["payflow_import_key"].as_str().unwrap().ends_with(":regul-1"), "{adjustment}");
    assert_eq!(adjustment["state"], "draft");
    assert!(adjustment["ref"].as_str().unwrap().starts_with("REGULARISATION SALAIRES OCTOBRE 2026"), "{adjustment}");
    assert_eq!(moves[0]["state"], "posted");
    let adjustment_lines = real.lines(adjustment["id"].as_i64().unwrap()).await;
    assert_eq!(adjustment_lines.iter().map(|l| cents(&l["debit"])).sum::<i64>(), 2_550, "{adjustment_lines:?}");
    assert_eq!(adjustment_lines.iter().map(|l| cents(&l["credit"])).sum::<i64>(), 2_550);
    // Original + adjustment = Silae's latest, per account, to the cent.
    let mut odoo = std::collections::BTreeMap::<String, i64>::new();
    for l in [real.lines(id).await, adjustment_lines].concat() {
        let code = l["account_id"][1].as_str().unwrap().split_whitespace().next().unwrap().to_owned();
        *odoo.entry(code).or_default() += cents(&l["debit"]) - cents(&l["credit"]);
    }
    let mut silae = std::collections::BTreeMap::<String, i64>::new();
    for l in r.plans[0]["lines"].as_array().unwrap() {
        let code = l["odoo_account"].as_str().unwrap().to_owned();
        *silae.entry(code).or_default() += l["debit_cents"].as_i64().unwrap() - l["credit_cents"].as_i64().unwrap();
    }
    odoo.retain(|_, v| *v != 0);
    silae.retain(|_, v| *v != 0);
    assert_eq!(odoo, silae, "Odoo {series}: the original and its adjustment = Silae's latest");
    assert_eq!(r.plans[0]["total_debit_cents"], 7_729_840 + 4_550);
    let again = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(again.status, Status::AlreadyImported, "{}", again.message);
    assert_eq!(real.moves().await.len(), 2, "a re-run creates nothing more");
    add_dossier(&agent, &dossier("100200", 5));
    real.cleanup().await;
}
