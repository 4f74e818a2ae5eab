//! `cargo bench -p payflow-agent --bench import` — what an import costs, side by side in one run:
//!
//! - the journal transform's throughput on a 5,000-line payload;
//! - Odoo calls per import for 10, 300 and 3,000 lines: PayFlow against the first version's
//!   algorithm (one account search per line), counted on the Odoo simulator;
//! - a 300-line import end to end divided by one bare `account.move.create` of the same move
//!   (the limit; target ≤ 1.15), on the real Odoo 18 when one answers (`PAYFLOW_TEST_ODOO_URL`,
//!   default http://127.0.0.1:8069, db `payflow`, admin/admin, addon installed), and on the
//!   simulator; and the first version's algorithm (authenticate, one account search per line,
//!   create) timed the same way. `BENCH_ROUNDS` (default 7) rounds, medians reported;
//! - with `BENCH_PROCESSES=1`, only issue 18's measure on the real Odoo 18: a new
//!   `payflow-agent import` process per import against one bare create of the same move,
//!   interleaved, at 300 and 3,000 lines; the label says whether the database's addon has
//!   `payflow_import_plan` (one call) or not (the agent's own reads); `BENCH_WRITE_MODE=standard`
//!   measures standard write mode (no addon: `PAYFLOW_TEST_ODOO_DB=payflow_std`, its URL).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use payflow_agent::config::Config;
use payflow_agent::import::{run_period, Agent, ImportOptions, Status};
use payflow_agent::journal;
use payflow_agent::secrets::Secrets;
use payflow_agent::silae::wire::EcrituresComptablesAvecRuptures;
use payflow_agent::store::{Dossier, Store, Trigger};
use payflow_sim::odoo::{OdooSim, OdooSimConfig};
use payflow_sim::silae::{SilaeSim, SilaeSimConfig};
use serde_json::{json, Value};

const ACCOUNTS: [(&str, &str); 11] = [
    ("64110000", "D"),
    ("64140000", "D"),
    ("64510000", "D"),
    ("64530000", "D"),
    ("64540000", "D"),
    ("64580000", "D"),
    ("64750000", "D"),
    ("42100000", "C"),
    ("43100000", "C"),
    ("43700000", "C"),
    ("44210000", "C"),
];

/// A balanced Silae payload of `n` lines (one rupture), amounts in cents as text.
fn payload(n: usize, period: &str) -> Value {
    let mut lines = Vec::new();
    let mut debit = 0i64;
    let mut credit = 0i64;
    for i in 0..n - 1 {
        let (account, sens) = ACCOUNTS[i % ACCOUNTS.len()];
        let cents = 10_000 + (i as i64 * 7_919) % 500_000;
        if sens == "D" {
            debit += cents
        } else {
            credit += cents
        }
        lines.push((account, sens, cents));
    }
    let (sens, closing) = if debit >= credit { ("C", debit - credit) } else { ("D", credit - debit) };
    lines.push(("42100000", sens, closing));
    let total = debit.max(credit);
    let last = format!("{period}-{}", if period.ends_with("-09") { "30" } else { "31" });
    let amount = |c: i64| format!("{}.{:02}", c / 100, c % 100);
    let ecritures: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, (a, s, c))| format!(r#"{{"codeJournal":"PA","periode":"{last}T00:00:00","compte":"{a}","libelle":"Ligne {i}","sens":"{s}","indexRepartition":0,"valeur":{},"pctRepartition":100.0}}"#, amount(*c)))
        .collect();
    let text = format!(
        r#"{{"numeroDossier":"100200","periodeDebut":"{period}-01T00:00:00","periodeFin":"{last}T00:00:00","ruptures":[{{"libelle":"Bench","totalDebit":{t},"totalCredit":{t},"ecritures":[{}]}}]}}"#,
        ecritures.join(","),
        t = amount(total)
    );
    serde_json::from_str(&text).unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Odoo {
    url: String,
    db: String,
    password: String,
    http: reqwest::Client,
}

impl Odoo {
    async fn call(&self, model: &str, method: &str, args: Value, kwargs: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "method": "call", "id": 1, "params": {"service": "object", "method": "execute_kw",
            "args": [self.db, 2, self.password, model, method, args, kwargs]}});
        let v: Value =
            self.http.post(format!("{}/jsonrpc", self.url)).json(&body).send().await.unwrap().json().await.unwrap();
        if let Some(e) = v.get("error") {
            panic!("{model}.{method}: {}", e["data"]["message"]);
        }
        v["result"].clone()
    }

    async fn id_of(&self, model: &str, domain: Value) -> Option<i64> {
        self.call(model, "search_read", json!([domain]), json!({"fields": ["id"], "limit": 1})).await[0]["id"].as_i64()
    }

    async fn account(&self, code: &str) -> Option<i64> {
        self.id_of("account.account", json!([["code", "=", code], ["company_ids", "in", [1]]])).await
    }

    /// The bench's journal and accounts exist; no bench move is left.
    async fn prepare(&self) -> i64 {
        let journal = match self.id_of("account.journal", json!([["code", "=", "SAL"], ["company_id", "=", 1]])).await {
            Some(id) => id,
            None => self
                .call(
                    "account.journal",
                    "create",
                    json!([{"name": "Salaires", "code": "SAL", "type": "general", "company_id": 1}]),
                    json!({}),
                )
                .await
                .as_i64()
                .unwrap(),
        };
        for code in [
            "421000", "431000", "437000", "442100", "641100", "641400", "645100", "645300", "645400", "645800",
            "647500",
        ] {
            if self.account(code).await.is_none() {
                let t = if code.starts_with('6') { "expense" } else { "liability_current" };
                self.call(
                    "account.account",
                    "create",
                    json!([{"code": code, "name": format!("Bench {code}"), "account_type": t}]),
                    json!({}),
                )
                .await;
            }
        }
        self.clean().await;
        journal
    }

    async fn clean(&self) {
        let moves = self
            .call(
                "account.move",
                "search_read",
                // In standard mode (no addon field) the key is in the move's note.
                json!([["|", ["ref", "=", "BENCH BARE"], [key_field(), "like", "silae:100200:2026-09"]]]),
                json!({"fields": ["id", "state"]}),
            )
            .await;
        let ids: Vec<i64> = moves.as_array().unwrap().iter().filter_map(|m| m["id"].as_i64()).collect();
        if !ids.is_empty() {
            self.call("account.move", "unlink", json!([ids]), json!({})).await;
        }
    }
}

/// `BENCH_WRITE_MODE=standard`: the agent writes without the addon (issue 21), e.g. on a database
/// without it, for issue 18's comparison.
fn standard_mode() -> bool {
    std::env::var("BENCH_WRITE_MODE").is_ok_and(|m| m == "standard")
}

fn key_field() -> &'static str {
    if standard_mode() {
        "narration"
    } else {
        "payflow_import_key"
    }
}

async fn agent_for(dir: &std::path::Path, silae: &SilaeSim, odoo: &Odoo) -> Agent {
    let path = dir.join("bench.toml");
    let mode = if standard_mode() { "write_mode = \"standard\"\n" } else { "" };
    std::fs::write(&path, format!(
        "instance = \"bench\"\ndata_dir = \"state\"\n[silae]\napi_url = \"{}\"\ntoken_url = \"{}\"\n[odoo]\nurl = \"{}\"\ndatabase = \"{}\"\nlogin = \"admin\"\n{mode}",
        silae.api_url(), silae.token_url(), odoo.url, odoo.db
    )).unwrap();
    let config = Config::load(&path).unwrap();
    let store = Store::open(&config.database_path()).unwrap();
    let password = odoo.password.clone();
    let env = move |k: &str| match k {
        "PAYFLOW_SILAE_CLIENT_ID" => Some("demo-client-id".to_owned()),
        "PAYFLOW_SILAE_CLIENT_SECRET" => Some("demo-client-secret".to_owned()),
        "PAYFLOW_SILAE_SUBSCRIPTION_KEY" => Some("demo-subscription-key".to_owned()),
        "PAYFLOW_ODOO_SECRET" => Some(password.clone()),
        _ => None,
    };
    let secrets = Secrets::new(config.data_dir.join("secrets.store"), config.secrets_key_path(), None, Box::new(env));
    let agent = Agent::with(config, store, secrets);
    let map = BTreeMap::from([("43700000".to_owned(), "437000".to_owned())]);
    agent
        .store()
        .upsert_dossier(
            &Dossier {
                silae_number: "100200".into(),
                name: "Bench".into(),
                company_id: 1,
                journal_code: "SAL".into(),
                transfer_day: 5,
                account_map: map,
                ..Default::default()
            },
            "t",
        )
        .unwrap();
    agent
}

/// The 300-line move as one bare `account.move.create` would send it.
async fn bare_vals(odoo: &Odoo, journal: i64, p: &Value) -> Value {
    let mut ids = BTreeMap::new();
    for (code, _) in ACCOUNTS {
        let chart = if code == "43700000" { "437000".to_owned() } else { code[..6].to_owned() };
        ids.insert(code, odoo.account(&chart).await.unwrap());
    }
    let lines: Vec<Value> = p["ruptures"][0]["ecritures"].as_array().unwrap().iter().map(|l| {
        let v = l["valeur"].as_f64().unwrap();
        let (d, c) = if l["sens"] == "D" { (v, 0.0) } else { (0.0, v) };
        json!([0, 0, {"account_id": ids[l["compte"].as_str().unwrap()], "name": l["libelle"], "debit": d, "credit": c}])
    }).collect();
    json!({"move_type": "entry", "journal_id": journal, "company_id": 1, "date": "2026-09-30", "ref": "BENCH BARE", "line_ids": lines})
}

async fn ratio(label: &str, odoo: &Odoo, silae: &SilaeSim, rounds: usize) {
    let journal = odoo.prepare().await;
    let p = payload(300, "2026-09");
    silae.set_payload("100200", "2026-09", serde_json::to_vec(&p).unwrap());
    let vals = bare_vals(odoo, journal, &p).await;
    let dir = tempfile::tempdir().unwrap();
    let agent = agent_for(dir.path(), silae, odoo).await;
    // Warm up: the session is found and remembered once, as in production.
    let opts = ImportOptions { dry_run: false, trigger: Trigger::Cli, triggered_by: None };
    let warm = run_period(&agent, "100200", "2026-09".parse().unwrap(), &opts).await;
    assert_eq!(warm.status, Status::Imported, "{}", warm.message);
    odoo.clean().await;
    let (mut bare, mut ours, mut first) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        baseline_import(odoo, &p).await;
        first.push(t.elapsed());
        odoo.clean().await;
        let t = Instant::now();
        odoo.call("account.move", "create", json!([vals.clone()]), json!({})).await;
        bare.push(t.elapsed());
        let fresh = agent_for(dir.path(), silae, odoo).await; // a new process: no in-memory state
        let t = Instant::now();
        let r = run_period(&fresh, "100200", "2026-09".parse().unwrap(), &opts).await;
        ours.push(t.elapsed());
        assert_eq!(r.status, Status::Imported, "{}", r.message);
        odoo.clean().await;
    }
    let (b, o, f) = (median(bare), median(ours), median(first));
    println!(
        "{label}: 300-line import {:.0} ms, bare create {:.0} ms, ratio {:.2}; first version's algorithm {:.0} ms, ratio {:.2} (medians of {rounds})",
        o.as_secs_f64() * 1e3,
        b.as_secs_f64() * 1e3,
        o.as_secs_f64() / b.as_secs_f64(),
        f.as_secs_f64() * 1e3,
        f.as_secs_f64() / b.as_secs_f64()
    );
}

/// The first version's Odoo side, end to end: authenticate, the journal, one account search per
/// line, then the create of the same 300-line move.
async fn baseline_import(odoo: &Odoo, p: &Value) {
    let login = json!({"jsonrpc": "2.0", "method": "call", "id": 1, "params": {"service": "common", "method": "authenticate",
        "args": [odoo.db, "admin", odoo.password, {}]}});
    let uid: Value =
        odoo.http.post(format!("{}/jsonrpc", odoo.url)).json(&login).send().await.unwrap().json().await.unwrap();
    assert_eq!(uid["result"], 2, "{uid}");
    let journal = odoo.id_of("account.journal", json!([["code", "=", "SAL"], ["company_id", "=", 1]])).await.unwrap();
    let mut lines = Vec::new();
    for l in p["ruptures"][0]["ecritures"].as_array().unwrap() {
        let code = l["compte"].as_str().unwrap();
        let chart = if code == "43700000" { "437000".to_owned() } else { code[..6].to_owned() };
        let account = odoo.account(&chart).await.unwrap();
        let v = l["valeur"].as_f64().unwrap();
        let (d, c) = if l["sens"] == "D" { (v, 0.0) } else { (0.0, v) };
        lines.push(json!([0, 0, {"account_id": account, "name": l["libelle"], "debit": d, "credit": c}]));
    }
    let vals = json!({"move_type": "entry", "journal_id": journal, "company_id": 1, "date": "2026-09-30", "ref": "BENCH BARE", "line_ids": lines});
    odoo.call("account.move", "create", json!([vals]), json!({})).await;
}

/// The first version's algorithm: one search per line, then the create.
async fn baseline_calls(odoo: &Odoo, p: &Value) -> usize {
    let mut calls = 1; // the journal
    let _ = odoo.id_of("account.journal", json!([["code", "=", "SAL"]])).await;
    for l in p["ruptures"][0]["ecritures"].as_array().unwrap() {
        let code = l["compte"].as_str().unwrap();
        let _ = odoo.account(&code[..6]).await;
        calls += 1;
    }
    calls + 1
}

/// Issue 18's measure, from outside: a new `payflow-agent import` process per import (as the
/// timer runs it; the session remembered in its store, so one Odoo call each) against one bare
/// `account.move.create` of the same resolved move, interleaved, medians of `rounds`, at 300 and
/// 3,000 lines (`BENCH_LINES=300` for one size).
async fn processes(label: &str, odoo: &Odoo, silae: &SilaeSim, rounds: usize) {
    let journal = odoo.prepare().await;
    let sizes: Vec<usize> = match std::env::var("BENCH_LINES").ok().and_then(|v| v.parse().ok()) {
        Some(n) => vec![n],
        None => vec![300, 3_000],
    };
    for lines in sizes {
        let p = payload(lines, "2026-09");
        silae.set_payload("100200", "2026-09", serde_json::to_vec(&p).unwrap());
        let vals = bare_vals(odoo, journal, &p).await;
        let dir = tempfile::tempdir().unwrap();
        drop(agent_for(dir.path(), silae, odoo).await);
        let config = dir.path().join("bench.toml");
        let run = || {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_payflow-agent"))
                .args(["import", "--dossier", "100200", "--period", "2026-09"])
                .env("PAYFLOW_CONFIG", &config)
                .env("PAYFLOW_SILAE_CLIENT_ID", "demo-client-id")
                .env("PAYFLOW_SILAE_CLIENT_SECRET", "demo-client-secret")
                .env("PAYFLOW_SILAE_SUBSCRIPTION_KEY", "demo-subscription-key")
                .env("PAYFLOW_ODOO_SECRET", &odoo.password)
                .env_remove("CREDENTIALS_DIRECTORY")
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        };
        // The first process finds and remembers the session (version, authentication).
        tokio::task::block_in_place(run);
        odoo.clean().await;
        let (mut bare, mut ours) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let t = Instant::now();
            odoo.call("account.move", "create", json!([vals.clone()]), json!({})).await;
            bare.push(t.elapsed());
            odoo.clean().await;
            let t = Instant::now();
            tokio::task::block_in_place(run);
            ours.push(t.elapsed());
            odoo.clean().await;
        }
        let (b, o) = (median(bare), median(ours));
        println!(
            "{label}: a new process per {lines}-line import {:.0} ms, bare create {:.0} ms, ratio {:.2} (medians of {rounds}, interleaved)",
            o.as_secs_f64() * 1e3,
            b.as_secs_f64() * 1e3,
            o.as_secs_f64() / b.as_secs_f64()
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(7);
    if std::env::var("BENCH_PROCESSES").is_ok_and(|v| v == "1") {
        // Only the process-per-import measure, on the real Odoo 18 (PAYFLOW_TEST_ODOO_URL/_DB).
        let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sim/samples");
        let silae = SilaeSim::start(SilaeSimConfig::demo(samples)).await.unwrap();
        let real = Odoo {
            url: std::env::var("PAYFLOW_TEST_ODOO_URL").unwrap_or_else(|_| "http://127.0.0.1:8069".into()),
            db: std::env::var("PAYFLOW_TEST_ODOO_DB").unwrap_or_else(|_| "payflow".into()),
            password: "admin".into(),
            http: reqwest::Client::new(),
        };
        // Which path this database's addon gives: the one call, or (an addon without
        // payflow_import_plan) the agent's own reads then payflow_import.
        let body = json!({"jsonrpc": "2.0", "method": "call", "id": 1, "params": {"service": "object", "method": "execute_kw",
            "args": [real.db, 2, real.password, "account.move", "payflow_import_plan", [], {"company_id": 1, "journal_code": "SAL", "moves": [], "dry_run": true}]}});
        let probe: Value =
            real.http.post(format!("{}/jsonrpc", real.url)).json(&body).send().await.unwrap().json().await.unwrap();
        let mode = if standard_mode() {
            "standard write mode (BENCH_WRITE_MODE=standard: stock methods only, the key in the note)"
        } else if probe.get("error").is_some() {
            "without payflow_import_plan (the agent's own reads, then payflow_import)"
        } else {
            "with payflow_import_plan (one call)"
        };
        processes(&format!("real Odoo 18 at {}, {mode}", real.url), &real, &silae, rounds).await;
        return;
    }
    // 1. The transform.
    let big: EcrituresComptablesAvecRuptures = serde_json::from_str(&payload(5_000, "2026-10").to_string()).unwrap();
    let t = Instant::now();
    let n = 50;
    for _ in 0..n {
        let plan = journal::plan("100200", "2026-10".parse().unwrap(), &big, &BTreeMap::new()).unwrap();
        assert_eq!(plan.line_count(), 5_000);
    }
    let per = t.elapsed() / n;
    println!(
        "journal transform: 5,000 lines in {:.2} ms, {:.1} M lines/s",
        per.as_secs_f64() * 1e3,
        5_000.0 / per.as_secs_f64() / 1e6
    );

    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sim/samples");
    let silae = SilaeSim::start(SilaeSimConfig::demo(samples)).await.unwrap();
    let sim = OdooSim::start(OdooSimConfig::demo(18)).await.unwrap();
    let on_sim = Odoo { url: sim.url(), db: "payflow".into(), password: "admin".into(), http: reqwest::Client::new() };

    // 2. Calls per import.
    for lines in [10, 300, 3_000] {
        let p = payload(lines, "2026-09");
        silae.set_payload("100200", "2026-09", serde_json::to_vec(&p).unwrap());
        on_sim.prepare().await;
        let dir = tempfile::tempdir().unwrap();
        let agent = agent_for(dir.path(), &silae, &on_sim).await;
        let opts = ImportOptions { dry_run: false, trigger: Trigger::Cli, triggered_by: None };
        let warm =
            run_period(&agent, "100200", "2026-09".parse().unwrap(), &ImportOptions { dry_run: true, ..opts.clone() })
                .await;
        assert!(warm.status.is_success(), "{}", warm.message);
        sim.reset_calls();
        let r = run_period(&agent, "100200", "2026-09".parse().unwrap(), &opts).await;
        assert_eq!(r.status, Status::Imported, "{}", r.message);
        let ours = sim.calls().len();
        sim.reset_calls();
        let baseline = baseline_calls(&on_sim, &p).await;
        println!("Odoo calls for {lines:>5} lines: PayFlow {ours}, first version {baseline}");
    }

    // 3. The ratio to a bare create.
    let real_url = std::env::var("PAYFLOW_TEST_ODOO_URL").unwrap_or_else(|_| "http://127.0.0.1:8069".into());
    let real = Odoo {
        url: real_url.clone(),
        db: std::env::var("PAYFLOW_TEST_ODOO_DB").unwrap_or_else(|_| "payflow".into()),
        password: "admin".into(),
        http: reqwest::Client::new(),
    };
    let reachable = real.http.post(format!("{real_url}/jsonrpc")).json(&json!({"jsonrpc": "2.0", "method": "call", "params": {"service": "common", "method": "version", "args": []}})).send().await.is_ok();
    if reachable {
        ratio("real Odoo 18", &real, &silae, rounds).await;
    } else {
        println!("real Odoo 18: skipped (nothing answers at {real_url})");
    }
    ratio("Odoo simulator", &on_sim, &silae, rounds).await;
}
