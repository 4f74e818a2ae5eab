//! Many Odoo targets per instance (issue 21): dossiers of one instance written into their own
//! Odoo databases, one slow or failing database never holding up another's dossiers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use payflow_agent::import::{run_due, run_period, Agent, ImportOptions, Status};
use payflow_agent::secrets::Secrets;
use payflow_agent::store::{RunFilter, Store, StoreError, Trigger};
use payflow_sim::odoo::{OdooSim, OdooSimConfig};

use crate::util::*;

/// The second Odoo's password: planted, searched for in every output.
const CLIENT_B_SECRET: &str = "planted-odoo-secret-client-b-41d9";

/// The world's simulated Odoo as `[odoo]` (target `default`) and a second simulated Odoo as
/// `[odoo.targets.client_b]`.
async fn two_targets() -> (World, OdooSim) {
    let w = World::start().await;
    let mut cfg = OdooSimConfig::demo(18);
    cfg.database = "client_b".into();
    cfg.password = CLIENT_B_SECRET.into();
    let b = OdooSim::start(cfg).await.unwrap();
    w.write_config(&format!(
        "\n[odoo.targets.client_b]\nurl = \"{}\"\ndatabase = \"client_b\"\nlogin = \"admin\"\ntimeout_secs = 30\n",
        b.url()
    ));
    (w, b)
}

/// An agent of the world's config with the planted secrets and `odoo_secret_client_b`.
fn agent(w: &World) -> Agent {
    let config = w.config();
    let store = Store::open(&config.database_path()).unwrap();
    let mut env: BTreeMap<String, String> = PLANTED.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    env.insert("PAYFLOW_ODOO_SECRET_CLIENT_B".into(), CLIENT_B_SECRET.into());
    let secrets = Secrets::new(
        config.data_dir.join("secrets.store"),
        config.secrets_key_path(),
        None,
        Box::new(move |k| env.get(k).cloned()),
    );
    Agent::with(config, store, secrets)
}

fn on(number: &str, target: &str) -> payflow_agent::store::Dossier {
    let mut d = dossier(number, 5);
    d.start_period = Some("2026-10".parse().unwrap());
    d.target = target.into();
    d
}

fn latest(agent: &Agent, number: &str) -> Option<payflow_agent::store::Run> {
    let filter = RunFilter { dossier: Some(number.into()), limit: Some(1), ..Default::default() };
    agent.store().runs(&filter).unwrap().into_iter().next()
}

/// Polls `cond` until it holds, failing after a minute.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "still not the case after 60 s: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn each_dossier_lands_in_its_own_database_and_a_hanging_one_holds_up_only_its_own() {
    let (w, b) = two_targets().await;
    let agent = Arc::new(agent(&w));
    // 100200 on client_b comes first in the dossiers' order: with one dossier at a time over
    // the whole instance, 100300 would wait behind it.
    agent.save_dossier(&on("100200", "client_b")).unwrap();
    agent.save_dossier(&on("100300", "default")).unwrap();
    b.hold(true);
    let running = agent.clone();
    let due = tokio::spawn(async move { run_due(&running, "2026-11-05".parse().unwrap(), 1).await });
    until("100300 imported into the default database while client_b hangs", || {
        latest(&agent, "100300").is_some_and(|r| r.status == Status::Imported)
    })
    .await;
    assert_eq!(w.odoo().moves().len(), 2, "the two establishments of 100300");
    let held = latest(&agent, "100200").expect("recorded first");
    assert_eq!((held.status, held.target.as_str()), (Status::Running, "client_b"));
    assert!(b.moves().is_empty());
    b.hold(false);
    let reports = due.await.unwrap();
    let mut seen: Vec<(String, String, &str)> =
        reports.iter().map(|r| (r.dossier.clone(), r.target.clone(), r.status.as_str())).collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("100200".to_owned(), "client_b".to_owned(), "imported"),
            ("100300".to_owned(), "default".to_owned(), "imported")
        ]
    );
    // Each dossier's moves in its own database, nothing in the other.
    let refs = |sim: &OdooSim| -> Vec<String> {
        sim.moves().iter().map(|m| m["payflow_import_key"].as_str().unwrap_or_default().to_owned()).collect()
    };
    assert!(refs(&b).len() == 1 && refs(&b).iter().all(|k| k.starts_with("silae:100200:")), "{:?}", refs(&b));
    assert!(refs(w.odoo()).iter().all(|k| k.starts_with("silae:100300:")), "{:?}", refs(w.odoo()));
    assert_eq!(latest(&agent, "100300").unwrap().target, "default");
    // Each target's session is remembered for the next process, under its own database.
    let s = agent.store();
    assert!(s.odoo_session(&w.odoo_url, "payflow", "admin").unwrap().is_some());
    assert!(s.odoo_session(&b.url(), "client_b", "admin").unwrap().is_some());
    // The run log by target.
    let only_b = s.runs(&RunFilter { target: Some("client_b".into()), ..Default::default() }).unwrap();
    assert_eq!(only_b.iter().map(|r| r.dossier.as_str()).collect::<Vec<_>>(), ["100200"]);
    // A re-run creates nothing anywhere.
    assert!(run_due(&agent, "2026-11-06".parse().unwrap(), 1).await.is_empty());
    assert_eq!((w.odoo().moves().len(), b.moves().len()), (2, 1));
}

#[tokio::test]
async fn a_failing_database_fails_only_its_dossiers_and_the_summary_says_where() {
    let (w, b) = two_targets().await;
    let agent = agent(&w);
    agent.save_dossier(&on("100200", "client_b")).unwrap();
    agent.save_dossier(&on("100300", "default")).unwrap();
    b.shutdown();
    let reports = run_due(&agent, "2026-11-05".parse().unwrap(), 4).await;
    let by: BTreeMap<&str, &payflow_agent::import::RunReport> =
        reports.iter().map(|r| (r.dossier.as_str(), r)).collect();
    assert_eq!(by["100300"].status, Status::Imported);
    let failed = by["100200"];
    assert_eq!(
        (failed.status, failed.error_kind.map(|k| k.as_str()), failed.target.as_str()),
        (Status::Failed, Some("odoo_unavailable"), "client_b")
    );
    let today = "2026-11-06".parse().unwrap();
    let summary = payflow_agent::summary::gather(agent.store(), &agent.config, today).unwrap();
    let shape: Vec<(&str, usize, usize, usize)> =
        summary.iter().map(|t| (t.target.as_str(), t.dossiers.len(), t.failing, t.late)).collect();
    assert_eq!(shape, [("default", 1, 0, 0), ("client_b", 1, 1, 1)]);
    assert_eq!(summary[1].dossiers[0].late, ["2026-10"]);
    assert_eq!(summary[1].database.as_deref(), Some("client_b"));
    // Its French alert names the client database, in the subject and where to look.
    let d = agent.store().dossier("100200").unwrap();
    let (subject, body) =
        payflow_agent::alert::compose(&agent, &d, failed, &payflow_agent::alert::Decision::Failure { reminder: false });
    assert!(subject.contains("base client « client_b »"), "{subject}");
    assert!(body.contains("Base client : « client_b » — base Odoo « client_b »"), "{body}");
    keep_for_scan("targets summary", &serde_json::to_string(&summary).unwrap());
}

#[tokio::test]
async fn an_unknown_target_is_refused_with_what_to_do_and_changes_nothing() {
    let (w, _b) = two_targets().await;
    let agent = agent(&w);
    agent.save_dossier(&on("100200", "client_b")).unwrap();
    for bad in ["client_c", "Client-B", ""] {
        let err = agent.save_dossier(&on("100200", bad)).unwrap_err();
        assert!(matches!(err, StoreError::InvalidDossier(_)), "{err}");
        let text = err.to_string();
        assert!(text.contains("target"), "{text}");
        if bad == "client_c" {
            assert!(text.contains("default, client_b") && text.contains("[odoo.targets.client_c]"), "{text}");
        }
    }
    assert_eq!(agent.store().dossier("100200").unwrap().target, "client_b", "unchanged");
    // A target removed from the config since: the dossier's runs fail, nothing asked of any Odoo.
    w.write_config("");
    let agent = self::agent(&w);
    let opts = ImportOptions { dry_run: false, trigger: Trigger::Cli, triggered_by: None };
    let r = run_period(&agent, "100200", "2026-10".parse().unwrap(), &opts).await;
    assert_eq!(
        (r.status, r.error_kind.map(|k| k.as_str()), r.target.as_str()),
        (Status::Failed, Some("config"), "client_b")
    );
    assert!(
        r.message.contains("[odoo.targets.client_b]") && r.message.contains("odoo_secret_client_b"),
        "{}",
        r.message
    );
    assert!(w.odoo().calls().is_empty(), "{:?}", w.odoo().calls());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_names_the_target_everywhere() {
    let (w, b) = two_targets().await;
    let cli = |args: &[&str]| {
        let mut cmd = w.cli_command(&w.config_path, args);
        cmd.env("PAYFLOW_ODOO_SECRET_CLIENT_B", CLIENT_B_SECRET);
        w.output(&mut cmd)
    };
    // An unknown target: a clear error, nothing saved.
    let out = cli(&[
        "dossier",
        "add",
        "--silae",
        "100200",
        "--name",
        "B",
        "--company",
        "1",
        "--journal",
        "SAL",
        "--day",
        "5",
        "--target",
        "client_c",
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("target \"client_c\"") && text(&out).contains("default, client_b"), "{}", text(&out));
    let out = cli(&["dossier", "list", "--json"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    w.cli_add_sample_dossier("100300", &[]);
    let mut args = vec!["dossier", "add", "--silae", "100200", "--name", "B", "--company", "1", "--journal", "SAL"];
    args.extend(["--day", "5", "--start-period", "2026-10", "--target", "client_b"]);
    for m in ["43730000=437000", "43740000=437000", "43750000=437000"] {
        args.extend(["--map", m]);
    }
    let out = cli(&args);
    assert!(out.status.success() && text(&out).contains("target client_b"), "{}", text(&out));
    let out = cli(&["odoo", "companies", "--target", "client_b", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(b.calls().iter().any(|(m, _)| m == "res.company"), "asked of client_b's Odoo");
    let out = cli(&["secret", "list"]);
    assert!(text(&out).contains("odoo_secret_client_b") && text(&out).contains("set (environment)"), "{}", text(&out));
    let out = cli(&["check"]);
    let shown = text(&out);
    assert!(shown.contains("ok    odoo client_b: ") && shown.contains("database client_b"), "{shown}");
    assert!(shown.contains("ok    secret odoo_secret_client_b"), "{shown}");
    assert!(shown.contains("ok    dossier 100200 in Odoo"), "{shown}");
    let out = cli(&["import", "--dossier", "100200", "--period", "2026-10"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!((b.moves().len(), w.odoo().moves().len()), (1, 0));
    let out = cli(&["runs"]);
    assert!(text(&out).contains("dossier 100200 (target client_b) period 2026-10: imported"), "{}", text(&out));
    let out = cli(&["runs", "--target", "default", "--json"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    let out = cli(&["runs", "--summary"]);
    let shown = text(&out);
    assert!(shown.contains("target client_b (") && shown.contains("1 dossier(s), 0 failed, 0 late"), "{shown}");
    assert!(shown.contains("last run #1 2026-10 imported"), "{shown}");
}
