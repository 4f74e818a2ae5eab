//! The reliability suite: tries to break "nothing lost, nothing twice". Every loop is bounded and
//! all traffic stays on loopback. CI runs the short sizes; `scripts/reliability` (see
//! docs/reliability.md) runs the full ones through these environment variables:
//! `PAYFLOW_CRASH_KILLS` (default 30, full 200) and `PAYFLOW_FUZZ_INPUTS` (default 30,000, full
//! 1,000,000). Each test prints one `reliability:` line with its figures.

use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::time::{Duration, Instant};

use payflow_agent::import::{ErrorKind, Status};
use payflow_agent::journal;
use payflow_agent::silae::wire::EcrituresComptablesAvecRuptures;
use payflow_agent::store::RunFilter;
use payflow_sim::odoo::OdooFault;
use payflow_sim::silae::Fault;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::util::*;

pub(crate) fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(default)
}

fn sample(name: &str) -> String {
    std::fs::read_to_string(samples_dir().join(name)).unwrap()
}

/// The 100200 payroll (one rupture, 13 lines) under another dossier number.
pub(crate) fn payroll_of(number: &str) -> Vec<u8> {
    sample("dossier-100200-2026-10.json").replace("\"100200\"", &format!("\"{number}\"")).into_bytes()
}

/// Moves per import key in the simulated Odoo.
fn moves_by_key(w: &World) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for m in w.odoo().moves() {
        if let Some(key) = m.get("payflow_import_key").and_then(Value::as_str) {
            *out.entry(key.to_owned()).or_default() += 1;
        }
    }
    out
}

fn payflow_import_plan_calls(w: &World) -> usize {
    w.odoo().calls().iter().filter(|(model, method)| model == "account.move" && method == "payflow_import_plan").count()
}

/// 200 `kill -9` (30 in CI) of the agent's process at random points of an import, each followed
/// by a normal run: no move twice in Odoo, no period left without its move, no run left
/// `running`, the SQLite store intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_never_doubles_nor_loses_a_payroll() {
    let kills = env_count("PAYFLOW_CRASH_KILLS", 30);
    let numbers: Vec<String> = (0..kills + 1).map(|i| format!("{}", 700_000 + i)).collect();
    let samples = tempfile::tempdir().unwrap();
    for n in &numbers {
        std::fs::write(samples.path().join(format!("dossier-{n}-2026-10.json")), payroll_of(n)).unwrap();
    }
    let w = World::with_silae_samples(samples.path().to_owned()).await;
    let agent = w.agent();
    for n in &numbers {
        add_dossier(&agent, &dossier(n, 5));
    }
    let import = |n: &str| w.cli_command(&w.config_path, &["import", "--dossier", n, "--period", "2026-10", "--json"]);
    // Every write takes 40 ms in Odoo, so that "the write is in flight" is a real window.
    let slow_write =
        || w.odoo().push_fault_on("account.move", "payflow_import_plan", OdooFault::Slow(Duration::from_millis(40)));

    // One uninterrupted import gives the span over which the kills are spread.
    slow_write();
    let t = Instant::now();
    let out = w.output(&mut import(&numbers[kills]));
    let span = t.elapsed();
    assert!(out.status.success(), "{}", text(&out));

    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let mut phases: BTreeMap<&str, usize> = BTreeMap::new();
    let payroll_gets = |w: &World| w.silae.requests().iter().filter(|r| r.path.contains("EcrituresComptables")).count();
    for n in &numbers[..kills] {
        slow_write();
        let (gets, writes) = (payroll_gets(&w), payflow_import_plan_calls(&w));
        let mut child = import(n).spawn().unwrap();
        let at = span.mul_f64(rng.gen_range(0.0..1.1));
        std::thread::sleep(at);
        child.kill().unwrap(); // SIGKILL
        let killed = child.wait_with_output().unwrap();
        keep_for_scan("an import killed by SIGKILL", &text(&killed));
        let status = killed.status;
        // A write Odoo received commits even though its client died: wait until it has.
        if payflow_import_plan_calls(&w) > writes {
            let key = format!("silae:{n}:2026-10:");
            let deadline = Instant::now() + Duration::from_secs(10);
            while !moves_by_key(&w).keys().any(|k| k.starts_with(&key)) {
                assert!(Instant::now() < deadline, "the write received by Odoo never committed");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let latest = agent.store().runs(&RunFilter { dossier: Some(n.clone()), limit: Some(1), ..Default::default() });
        let recorded = latest.unwrap().first().is_some_and(|r| r.status != Status::Running);
        let phase = if status.success() || recorded {
            "after the run was recorded"
        } else if payflow_import_plan_calls(&w) > writes {
            "Odoo write in flight or its run being recorded"
        } else if payroll_gets(&w) > gets {
            "Silae fetched, before the Odoo write"
        } else {
            "starting, before the payroll was fetched"
        };
        *phases.entry(phase).or_default() += 1;

        let out = w.output(&mut import(n));
        assert!(out.status.success(), "the run after a kill ({phase}) failed: {}", text(&out));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            matches!(report["status"].as_str(), Some("imported" | "already_imported")),
            "after a kill ({phase}): {report}"
        );
    }

    let by_key = moves_by_key(&w);
    let duplicates: usize = by_key.values().map(|n| n - 1).sum();
    let lost = numbers.iter().filter(|n| !by_key.keys().any(|k| k.starts_with(&format!("silae:{n}:2026-10:")))).count();
    let running = agent.store().runs(&RunFilter { status: Some(Status::Running), ..Default::default() }).unwrap();
    let conn = rusqlite::Connection::open(w.config().database_path()).unwrap();
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    println!(
        "reliability: {kills} kill -9 over a {:.0} ms import: {phases:?}; duplicate moves {duplicates}, periods never imported {lost}, runs left running {}, store integrity {integrity}",
        span.as_secs_f64() * 1e3,
        running.len()
    );
    assert_eq!(duplicates, 0, "{by_key:?}");
    assert_eq!(lost, 0);
    assert!(running.is_empty(), "{running:?}");
    assert_eq!(integrity, "ok");
    assert!(phases.len() >= 3 || kills < 20, "the kills hit too few phases: {phases:?}");
}

/// One Silae fault case: what is queued, and what the import must end with.
struct SilaeCase {
    name: &'static str,
    setup: fn(&World),
    status: Status,
    kind: Option<ErrorKind>,
}

/// Every Silae fault: the right status and error kind, and not one write when it fails.
#[tokio::test]
async fn silae_faults_end_with_the_right_kind_and_no_write() {
    let wrong_totals: fn(&World) = |w| {
        let body = sample("dossier-100200-2026-10.json").replace("52885.91", "52885.90");
        w.silae.set_payload("100200", "2026-10", body.into_bytes());
    };
    let cases = [
        SilaeCase {
            name: "429 with Retry-After",
            setup: |w| w.silae.push_fault(Fault::TooManyRequests { retry_after_secs: 1 }),
            status: Status::Imported,
            kind: None,
        },
        SilaeCase {
            name: "one 500",
            setup: |w| w.silae.push_fault(Fault::Status(500)),
            status: Status::Imported,
            kind: None,
        },
        SilaeCase {
            name: "503 on every attempt",
            setup: |w| (0..8).for_each(|_| w.silae.push_fault(Fault::Status(503))),
            status: Status::Failed,
            kind: Some(ErrorKind::SilaeUnavailable),
        },
        SilaeCase {
            name: "one timeout",
            setup: |w| w.silae.push_fault(Fault::Slow(Duration::from_millis(1500))),
            status: Status::Imported,
            kind: None,
        },
        SilaeCase {
            name: "a timeout on every attempt",
            setup: |w| (0..8).for_each(|_| w.silae.push_fault(Fault::Slow(Duration::from_millis(1500)))),
            status: Status::Failed,
            kind: Some(ErrorKind::SilaeUnavailable),
        },
        SilaeCase {
            name: "truncated answers",
            setup: |w| (0..8).for_each(|_| w.silae.push_fault(Fault::Truncated)),
            status: Status::Failed,
            kind: Some(ErrorKind::SilaeBadResponse),
        },
        SilaeCase {
            name: "invalid JSON",
            setup: |w| (0..8).for_each(|_| w.silae.push_fault(Fault::InvalidJson)),
            status: Status::Failed,
            kind: Some(ErrorKind::SilaeBadResponse),
        },
        SilaeCase {
            name: "wrong totals",
            setup: wrong_totals,
            status: Status::Failed,
            kind: Some(ErrorKind::Unbalanced),
        },
        SilaeCase {
            name: "recoverable: false",
            setup: |w| w.silae.push_fault(Fault::Unrecoverable),
            status: Status::Failed,
            kind: Some(ErrorKind::SilaeAuth),
        },
        SilaeCase {
            name: "token refused",
            setup: |w| w.silae.push_fault(Fault::TokenError),
            status: Status::Failed,
            kind: Some(ErrorKind::SilaeAuth),
        },
    ];
    let mut failed_writes = 0;
    for case in &cases {
        let w = World::start().await;
        let fast = std::fs::read_to_string(&w.config_path).unwrap().replace("timeout_secs = 5", "timeout_secs = 1");
        std::fs::write(&w.config_path, fast).unwrap();
        let agent = w.agent();
        add_dossier(&agent, &dossier("100200", 5));
        (case.setup)(&w);
        let r = import(&agent, "100200", "2026-10", false).await;
        assert_eq!((r.status, r.error_kind), (case.status, case.kind), "{}: {}", case.name, r.message);
        if case.status == Status::Failed {
            failed_writes += payflow_import_plan_calls(&w) + w.odoo().moves().len();
            assert_eq!(payflow_import_plan_calls(&w), 0, "{}: Odoo was written", case.name);
        } else {
            assert_eq!(w.odoo().moves().len(), 1, "{}", case.name);
        }
        assert_no_secret(&r.message);
    }

    // The token expires in the middle of a run: renewed once, imported.
    let w = World::start().await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    w.silae.set_token_ttl(3600);
    assert_eq!(import(&agent, "100200", "2026-08", true).await.status, Status::NoData); // a token is cached
    w.silae.push_fault(Fault::ExpireTokens);
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    assert_eq!(w.silae.token_requests(), 2);
    println!("reliability: {} Silae fault cases + expired token mid-run: every status and kind as expected, {failed_writes} writes on failure", cases.len());
    assert_eq!(failed_writes, 0);
}

/// Every Odoo fault: a clear error, no partial and no duplicate move, and a later run imports
/// the payroll exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odoo_faults_leave_no_partial_nor_duplicate_move() {
    let mut summary = Vec::new();
    let check_once = |w: &World, case: &str| {
        let by_key = moves_by_key(w);
        assert!(by_key.values().all(|n| *n == 1), "{case}: {by_key:?}");
        for m in w.odoo().moves() {
            let lines = m["line_ids"].as_array().unwrap();
            assert_eq!(lines.len(), 13, "{case}: a partial move");
            let sum = |f: &str| lines.iter().map(|l| cents(&l[f])).sum::<i64>();
            assert_eq!(sum("debit"), sum("credit"), "{case}: an unbalanced move");
        }
    };

    // Down before the import: nothing listens on the port.
    let w = World::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let down = std::fs::read_to_string(&w.config_path).unwrap().replace(&w.odoo_url, &format!("http://{closed}"));
    std::fs::write(&w.config_path, down).unwrap();
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.error_kind, Some(ErrorKind::OdooUnavailable), "{}", r.message);
    assert!(r.message.contains(&closed.to_string()), "the message names the address: {}", r.message);
    summary.push("down before: odoo_unavailable");

    // Down during the write, a 5xx from the proxy on the write, and on a read: nothing written;
    // the next run imports once.
    for (case, fault, method) in [
        ("connection dropped during the write", OdooFault::Drop, "payflow_import_plan"),
        ("502 on the write", OdooFault::Status(502), "payflow_import_plan"),
        ("503 from the proxy on the first call", OdooFault::Status(503), ""),
    ] {
        let w = World::start().await;
        let agent = w.agent();
        add_dossier(&agent, &dossier("100200", 5));
        match method {
            "" => w.odoo().push_fault(fault),
            _ => w.odoo().push_fault_on("account.move", method, fault),
        }
        let r = import(&agent, "100200", "2026-10", false).await;
        assert_eq!(
            (r.status, r.error_kind),
            (Status::Failed, Some(ErrorKind::OdooUnavailable)),
            "{case}: {}",
            r.message
        );
        assert!(w.odoo().moves().is_empty(), "{case}");
        let again = import(&agent, "100200", "2026-10", false).await;
        assert_eq!(again.status, Status::Imported, "{case}: {}", again.message);
        check_once(&w, case);
        summary.push(case);
    }

    // Committed in Odoo, but the answer comes after the agent's timeout: found, never doubled.
    let w = World::start().await;
    w.write_config("timeout_secs = 1");
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    w.odoo().push_fault_on("account.move", "payflow_import_plan", OdooFault::Slow(Duration::from_millis(1800)));
    let first = import(&agent, "100200", "2026-10", false).await;
    // The write commits in Odoo after the agent gave up waiting: wait until it has.
    let deadline = Instant::now() + Duration::from_secs(10);
    while moves_by_key(&w).is_empty() {
        assert!(Instant::now() < deadline, "the slow write never committed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let again = import(&agent, "100200", "2026-10", false).await;
    assert!(
        matches!(first.status, Status::Imported | Status::Failed) && again.status != Status::Failed,
        "{:?} {} / {:?} {}",
        first.status,
        first.message,
        again.status,
        again.message
    );
    assert_eq!(moves_by_key(&w).len(), 1);
    check_once(&w, "answer lost after the commit");
    summary.push("answer lost after the commit");

    // Authentication revoked after a first import (the remembered session is refused).
    let w = World::start().await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    add_dossier(&agent, &dossier("100300", 5));
    assert_eq!(import(&agent, "100200", "2026-10", false).await.status, Status::Imported);
    w.odoo().set_password("rotated-by-the-admin");
    let r = import(&agent, "100300", "2026-10", false).await;
    assert_eq!(r.error_kind, Some(ErrorKind::OdooAuth), "{}", r.message);
    assert_eq!(w.odoo().moves().len(), 1);
    summary.push("auth revoked: odoo_auth");

    // The lock date, the missing accounts, the missing journal: refused before writing.
    let w = World::start().await;
    let agent = w.agent();
    let mut unmapped = dossier("100200", 5);
    unmapped.account_map.clear();
    add_dossier(&agent, &unmapped);
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.error_kind, Some(ErrorKind::MissingAccounts), "{}", r.message);
    let mut journal = dossier("100200", 5);
    journal.journal_code = "PAIE9".into();
    add_dossier(&agent, &journal);
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.error_kind, Some(ErrorKind::MissingJournal), "{}", r.message);
    add_dossier(&agent, &dossier("100200", 5));
    w.odoo().set_lock_date(1, "fiscalyear_lock_date", Some("2026-10-31"));
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.error_kind, Some(ErrorKind::OdooRejected), "{}", r.message);
    // Refused inside the one call (payflow_import_plan answers the problems, writes nothing).
    assert!(w.odoo().moves().is_empty(), "nothing written");
    summary.push("missing accounts, missing journal, lock date: refused, nothing written");

    // Two agent processes (two instances) import the same period at the same moment.
    let w = World::start().await;
    w.odoo().push_fault_on("account.move", "payflow_import_plan", OdooFault::Slow(Duration::from_millis(200)));
    let second = w.config_at("state2");
    for config in [&w.config_path, &second] {
        let mut args = vec!["dossier", "add", "--silae", "100200", "--name", "A", "--company", "1", "--journal", "SAL"];
        args.extend(["--day", "5", "--map", "43730000=437000", "--map", "43740000=437000", "--map", "43750000=437000"]);
        let out = w.output(&mut w.cli_command(config, &args));
        assert!(out.status.success(), "{}", text(&out));
    }
    let racers: Vec<_> = [&w.config_path, &second]
        .into_iter()
        .map(|config| {
            w.cli_command(config, &["import", "--dossier", "100200", "--period", "2026-10", "--json"]).spawn().unwrap()
        })
        .collect();
    let outs: Vec<_> = racers.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    outs.iter().for_each(|o| keep_for_scan("two agent processes", &text(o)));
    let statuses: Vec<String> = outs
        .iter()
        .map(|o| {
            serde_json::from_slice::<Value>(&o.stdout).map(|v| v["status"].to_string()).unwrap_or_else(|_| text(o))
        })
        .collect();
    assert!(outs.iter().all(|o| o.status.success()), "{statuses:?}");
    assert_eq!(moves_by_key(&w).len(), 1, "{statuses:?}");
    check_once(&w, "two processes");
    summary.push("two processes on one period: one move");
    println!("reliability: {} Odoo fault cases, 0 partial and 0 duplicate moves: {summary:?}", summary.len());
}

/// Mutates a sample payload: bytes flipped, cut, repeated; numbers, strings and structure
/// replaced by hostile values.
fn mutate(rng: &mut rand::rngs::StdRng, base: &str, base_json: &Value) -> Vec<u8> {
    const HOSTILE: [&str; 14] = [
        "1e309",
        "-0",
        "0.001",
        "99999999999999999999999999.99",
        "\"12,50\"",
        "null",
        "[]",
        "{}",
        "\"\"",
        "-1e-400",
        "18446744073709551616",
        "\"\\u0000\"",
        "true",
        "\"D\"",
    ];
    match rng.gen_range(0..4) {
        0 => {
            let mut bytes = base.as_bytes().to_vec();
            for _ in 0..rng.gen_range(1..8) {
                if bytes.is_empty() {
                    break;
                }
                let i = rng.gen_range(0..bytes.len());
                match rng.gen_range(0..4) {
                    0 => bytes[i] = rng.gen(),
                    1 => {
                        bytes.remove(i);
                    }
                    2 => {
                        let specials = b"{}[]\",:0-.eE\\";
                        bytes.insert(i, specials[rng.gen_range(0..specials.len())]);
                    }
                    _ => bytes.truncate(i.max(1)),
                }
            }
            bytes
        }
        1 => {
            let mut v = base_json.clone();
            for _ in 0..rng.gen_range(1..6) {
                let hostile: Value =
                    serde_json::from_str(HOSTILE[rng.gen_range(0..HOSTILE.len())]).unwrap_or(Value::Null);
                replace_random(rng, &mut v, hostile);
            }
            v.to_string().into_bytes()
        }
        2 => {
            // Hostile text spliced in place of a number or a string.
            let mut text = base.to_owned();
            let at = rng.gen_range(0..text.len());
            let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
            text.insert_str(at, HOSTILE[rng.gen_range(0..HOSTILE.len())]);
            text.into_bytes()
        }
        _ => {
            // Deep nesting and long repetitions.
            let depth = rng.gen_range(1..300);
            format!("{}{}", "[".repeat(depth), "]".repeat(rng.gen_range(0..=depth))).into_bytes()
        }
    }
}

fn replace_random(rng: &mut rand::rngs::StdRng, v: &mut Value, with: Value) {
    let len = match v {
        Value::Object(map) => map.len(),
        Value::Array(items) => items.len(),
        _ => 0,
    };
    if len == 0 || !rng.gen_bool(0.8) {
        *v = with;
        return;
    }
    let i = rng.gen_range(0..len);
    let child = match v {
        Value::Object(map) => map.values_mut().nth(i),
        Value::Array(items) => items.get_mut(i),
        _ => None,
    };
    if let Some(child) = child {
        replace_random(rng, child, with);
    }
}

/// At least 1,000,000 generated Silae answers (30,000 in CI) through the parser and the
/// transform: each is planned or refused with its problems, none panics, every plan balances.
#[test]
fn fuzzed_silae_answers_never_panic_and_every_plan_balances() {
    let inputs = env_count("PAYFLOW_FUZZ_INPUTS", 30_000);
    let bases: Vec<(String, Value, &str)> = [
        ("dossier-100200-2026-10.json", "100200"),
        ("dossier-100300-2026-10-two-establishments.json", "100300"),
        ("dossier-100200-2026-08-empty.json", "100200"),
    ]
    .iter()
    .map(|(file, number)| {
        let text = sample(file);
        let json = serde_json::from_str(&text).unwrap();
        (text, json, *number)
    })
    .collect();
    let october = "2026-10".parse().unwrap();
    let map = BTreeMap::from([("43730000".to_owned(), "437000".to_owned())]);
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let (mut parsed, mut planned, mut refused, mut panics) = (0usize, 0usize, 0usize, 0usize);
    let t = Instant::now();
    for _ in 0..inputs {
        let (text, json, number) = &bases[rng.gen_range(0..bases.len())];
        let input = mutate(&mut rng, text, json);
        let outcome = std::panic::catch_unwind(|| {
            let Ok(payload) = serde_json::from_slice::<EcrituresComptablesAvecRuptures>(&input) else { return None };
            Some(
                journal::plan(number, october, &payload, &map)
                    .map(|p| p.moves.iter().all(|m| m.total_debit == m.total_credit)),
            )
        });
        match outcome {
            Err(_) => panics += 1,
            Ok(None) => {}
            Ok(Some(Ok(balanced))) => {
                parsed += 1;
                planned += 1;
                assert!(balanced, "an unbalanced plan from {}", String::from_utf8_lossy(&input));
            }
            Ok(Some(Err(problems))) => {
                parsed += 1;
                refused += 1;
                assert!(!problems.0.is_empty());
            }
        }
    }
    println!(
        "reliability: {inputs} fuzzed Silae answers in {:.1} s: {parsed} parsed ({planned} planned and balanced, {refused} refused with their problems), {} refused by the parser, {panics} panics",
        t.elapsed().as_secs_f64(),
        inputs - parsed
    );
    assert_eq!(panics, 0);
    assert!(planned > 0 && refused > 0, "the generator must reach both outcomes");
}

/// A config with every key, as a sysadmin could write it.
const FULL_CONFIG: &str = r#"instance = "prod"
data_dir = "state"
timezone = "Europe/Paris"
secrets_key_file = "secrets.key"

[rpc]
listen = "127.0.0.1:8390"
allow_remote = false

[silae]
api_url = "https://payroll-api.silae.fr/payroll"
token_url = "https://payroll-api-auth.silae.fr/oauth2/v2.0/token"
scope = "https://silaecloudb2c.onmicrosoft.com/36658aca-9556-41b7-9e48-77e90b006f34/.default"
timeout_secs = 30
max_retries = 4
retry_base_ms = 500

[odoo]
url = "http://127.0.0.1:8069"
database = "prod"
login = "payflow-bot@example.com"
protocol = "auto"
timeout_secs = 60

[smtp]
host = "mail.example.com"
port = 587
security = "starttls"
from = "PayFlow <notifications@example.com>"
username = "notifications@example.com"
reminder_days = 3
timeout_secs = 30
"#;

/// Malformed configs, generated from a full one: each key removed, each value replaced by
/// every wrong type, unknown keys, and cut or garbled text. Each is taken (when still valid)
/// or refused with the file's name — and the key's, when one key is wrong — never a panic.
/// Through the binary, a refused config changes nothing on disk.
#[test]
fn malformed_configs_are_refused_with_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prod.toml");
    payflow_agent::config::Config::parse(&path, FULL_CONFIG).expect("the full config is valid");
    let lines: Vec<&str> = FULL_CONFIG.lines().collect();
    let mut variants: Vec<(String, Option<String>)> = Vec::new(); // (text, the key it spoils)
    let replacements =
        ["\"text\"", "42", "true", "[]", "{}", "\"\"", "-1", "99999999999999999999", "1.5", "\"../../etc\""];
    for (i, line) in lines.iter().enumerate() {
        let Some((key, _)) = line.split_once(" = ") else { continue };
        let without: Vec<&str> = lines.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, l)| *l).collect();
        variants.push((without.join("\n"), None));
        for r in replacements {
            let mut changed = lines.clone();
            let spoiled = format!("{key} = {r}");
            changed[i] = &spoiled;
            variants.push((changed.join("\n"), Some(key.to_owned())));
        }
    }
    for table in ["", "[rpc]", "[silae]", "[odoo]", "[smtp]"] {
        let text = FULL_CONFIG.replacen(&format!("{table}\n"), &format!("{table}\nunknwon_key = 1\n"), 1);
        variants.push((
            if table.is_empty() { format!("unknwon_key = 1\n{FULL_CONFIG}") } else { text },
            Some("unknwon_key".into()),
        ));
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..400 {
        let mut text = FULL_CONFIG.as_bytes().to_vec();
        let at = rng.gen_range(0..text.len());
        match rng.gen_range(0..3) {
            0 => text.truncate(at),
            1 => text.insert(at, b"=[]\"'#\n\\{x"[rng.gen_range(0..10)]),
            _ => text[at] = rng.gen(),
        }
        variants.push((String::from_utf8_lossy(&text).into_owned(), None));
    }
    let (mut taken, mut refused, mut panics) = (0, 0, 0);
    for (text, key) in &variants {
        match std::panic::catch_unwind(|| payflow_agent::config::Config::parse(&path, text)) {
            Err(_) => panics += 1,
            Ok(Ok(_)) => taken += 1,
            Ok(Err(e)) => {
                refused += 1;
                let message = e.to_string();
                assert!(message.contains("prod.toml"), "no file named: {message}");
                assert!(!message.contains('\n'), "one line: {message}");
                if let Some(key) = key {
                    assert!(message.contains(key.as_str()), "the key {key} is not named: {message}\n{text}");
                }
            }
        }
    }

    // Through the binary: a non-zero exit, a message naming the file and the key, no state.
    let w_dir = tempfile::tempdir().unwrap();
    for (text, key) in variants.iter().filter(|(_, k)| k.is_some()).step_by(25) {
        let config = w_dir.path().join("bad.toml");
        std::fs::write(&config, text).unwrap();
        if payflow_agent::config::Config::parse(&config, text).is_ok() {
            continue;
        }
        let out = Command::new(env!("CARGO_BIN_EXE_payflow-agent"))
            .args(["import", "--dossier", "100200", "--period", "2026-10"])
            .env("PAYFLOW_CONFIG", &config)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        keep_for_scan("a refused config", &stderr);
        assert!(!out.status.success(), "{text}");
        assert!(stderr.contains("bad.toml") && stderr.contains(key.as_deref().unwrap()), "{stderr}");
        assert!(!w_dir.path().join("state").exists(), "a refused config created its state: {stderr}");
    }
    println!(
        "reliability: {} malformed configs: {taken} still valid, {refused} refused naming the file (and the key when one was spoiled), {panics} panics",
        variants.len()
    );
    assert_eq!(panics, 0);
    assert!(refused > variants.len() / 2);
}

/// The last word of the suite, run by `scripts/test` once every other test is done (hence
/// ignored in a plain `cargo test`): all that the suite kept — the binary's outputs and logs,
/// the agent's in-process logs at debug level, JSON-RPC answers, run reports, e-mails — holds
/// none of the planted secret values.
#[test]
#[ignore = "run by scripts/test after the whole suite: scans what the suite kept"]
fn the_whole_suite_s_outputs_hold_no_planted_secret() {
    let mut files = 0;
    let mut bytes = 0;
    let mut found: BTreeMap<&str, usize> = BTreeMap::new();
    for entry in std::fs::read_dir(scan_dir()).expect("run the suite first: scripts/test") {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        files += 1;
        bytes += text.len();
        for secret in SEARCHED {
            let n = text.matches(secret).count();
            if n > 0 {
                *found.entry(secret).or_default() += n;
            }
        }
    }
    println!(
        "reliability: secret scan of the whole suite: {files} files, {:.1} MB of outputs, logs, answers and e-mails; {} planted values, {} occurrences {found:?}",
        bytes as f64 / 1e6,
        SEARCHED.len(),
        found.values().sum::<usize>()
    );
    assert!(bytes > 100_000, "the suite's outputs were not kept");
    assert!(found.is_empty(), "secrets leaked: {found:?}");
}
