//! The built binary, as sysadmins run it.

use serde_json::Value;

use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_demo_previews_two_moves_with_the_sample_s_totals() {
    let w = World::start().await;
    w.cli_add_sample_dossier("100300", &[]);
    let out = w.cli(&["import", "--dossier", "100300", "--period", "2026-10", "--dry-run", "--json"], None);
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["status"], "previewed");
    assert_eq!(report["dossier"], "100300");
    assert_eq!(report["period"], "2026-10");
    assert_eq!(report["moves"], serde_json::json!([]));
    let plans = report["plans"].as_array().unwrap();
    assert_eq!(plans.len(), 2);
    assert_eq!(
        (plans[0]["total_debit"].as_f64(), plans[0]["total_credit"].as_f64()),
        (Some(164003.94), Some(164003.94))
    );
    assert_eq!((plans[1]["total_debit"].as_f64(), plans[1]["total_credit"].as_f64()), (Some(42682.07), Some(42682.07)));
    assert_no_secret(&text(&out));
    // The text form shows the same, and the run is in the log.
    let human = w.cli(&["import", "--dossier", "100300", "--period", "2026-10", "--dry-run"], None);
    let shown = text(&human);
    assert!(shown.contains("SALAIRES OCTOBRE 2026 - Établissement Lyon") && shown.contains("42682.07"), "{shown}");
    let runs = w.cli(&["runs", "--json"], None);
    let runs: Value = serde_json::from_slice(&runs.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 2);
    assert_eq!(runs[0]["status"], "previewed");
    assert_eq!(runs[0]["outcome"]["facts"]["case"], "previewed", "{runs}");
    assert_eq!(runs[0]["outcome"]["totals"]["moves"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_writes_and_exits_zero_then_reports_already_imported() {
    let w = World::start().await;
    w.cli_add_sample_dossier("100200", &[]);
    let out = w.cli(&["import", "--dossier", "100200", "--period", "2026-10", "--json"], None);
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["status"], "imported", "{report}");
    assert_eq!(report["moves"].as_array().unwrap().len(), 1);
    let again = w.cli(&["import", "--dossier", "100200", "--period", "2026-10", "--json"], None);
    let report2: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report2["status"], "already_imported");
    assert_eq!(report2["moves"], report["moves"]);
    assert_eq!(w.odoo().moves().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_import_exits_non_zero_with_its_kind() {
    let w = World::start().await;
    w.cli(
        &["dossier", "add", "--silae", "100200", "--name", "ACME", "--company", "1", "--journal", "SAL", "--day", "5"],
        None,
    );
    let out = w.cli(&["import", "--dossier", "100200", "--period", "2026-10", "--json"], None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((report["status"].as_str(), report["error_kind"].as_str()), (Some("failed"), Some("missing_accounts")));
    let unknown = w.cli(&["import", "--dossier", "999", "--period", "2026-10", "--json"], None);
    let report: Value = serde_json::from_slice(&unknown.stdout).unwrap();
    assert_eq!(report["error_kind"], "config");
    assert!(report["message"].as_str().unwrap().contains("dossier add --silae 999"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_and_configs_are_refused_with_what_to_fix() {
    let w = World::start().await;
    let out = w.cli(&["import", "--dossier", "100200", "--period", "2026-13"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("expected YYYY-MM"), "{}", text(&out));
    let out = w.cli(
        &["dossier", "add", "--silae", "1", "--name", "x", "--company", "1", "--journal", "SAL", "--day", "32"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let out = w.cli(
        &[
            "dossier",
            "add",
            "--silae",
            "1",
            "--name",
            "x",
            "--company",
            "1",
            "--journal",
            "SAL",
            "--day",
            "3",
            "--alert-email",
            "nobody",
        ],
        None,
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out).contains("alert_emails \"nobody\""), "{}", text(&out));
    let listed = w.cli(&["dossier", "list", "--json"], None);
    assert_eq!(serde_json::from_slice::<Value>(&listed.stdout).unwrap(), serde_json::json!([]), "nothing saved");
    std::fs::write(
        &w.config_path,
        "instance = \"x\"\ndata_dir = \"s\"\n[odoo]\nurl = \"nope\"\ndatabase = \"d\"\nlogin = \"l\"\n",
    )
    .unwrap();
    let out = w.cli(&["runs"], None);
    assert_eq!(out.status.code(), Some(78), "a config error is EX_CONFIG (no restart by systemd)");
    let shown = text(&out);
    assert!(shown.contains("test.toml") && shown.contains("key `odoo.url`"), "{shown}");
    assert!(shown.contains("check --offline"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dossiers_are_added_listed_updated_and_removed() {
    let w = World::start().await;
    let add = |name: &str| {
        w.cli(
            &[
                "dossier",
                "add",
                "--silae",
                "100200",
                "--name",
                name,
                "--company",
                "1",
                "--journal",
                "SAL",
                "--day",
                "31",
                "--alert-email",
                "paie@example.com",
                "--alert-email",
                "dsi@example.com",
                "--analytic",
                "1=PARIS",
                "--start-period",
                "2026-01",
            ],
            None,
        )
    };
    assert!(add("ACME").status.success());
    assert!(add("ACME SAS").status.success());
    let list: Value = serde_json::from_slice(&w.cli(&["dossier", "list", "--json"], None).stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "ACME SAS");
    assert_eq!(list[0]["transfer_day"], 31);
    assert_eq!(list[0]["alert_emails"], serde_json::json!(["paie@example.com", "dsi@example.com"]));
    assert_eq!(list[0]["analytic"]["1"], "PARIS");
    assert_eq!(list[0]["start_period"], "2026-01");
    assert!(w.cli(&["dossier", "remove", "--silae", "100200"], None).status.success());
    assert!(!w.cli(&["dossier", "remove", "--silae", "100200"], None).status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_set_from_stdin_and_listed_without_values() {
    let w = World::start().await;
    let set = w.cli(&["secret", "set", "smtp_password"], Some("planted-smtp-pa55word\n"));
    assert!(set.status.success(), "{}", text(&set));
    let list = w.cli(&["secret", "list"], None);
    let shown = text(&list);
    assert!(shown.contains("smtp_password") && shown.contains("set (encrypted store)"), "{shown}");
    assert!(shown.contains("rpc_token") && shown.contains("not set"), "{shown}");
    assert!(shown.contains("silae_client_secret") && shown.contains("set (environment)"), "{shown}");
    assert!(!shown.contains("planted-smtp-pa55word"));
    assert_no_secret(&shown);
    let store = std::fs::read_to_string(w.dir.path().join("state/secrets.store")).unwrap();
    assert!(!store.contains("planted-smtp-pa55word"));
    let bad = w.cli(&["secret", "set", "odoo_password"], Some("x"));
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad).contains("unknown secret name"), "{}", text(&bad));
    assert!(w.cli(&["secret", "delete", "smtp_password"], None).status.success());
    assert!(text(&w.cli(&["secret", "list"], None)).contains("smtp_password            not set"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_never_show_a_secret() {
    let w = World::start().await;
    w.cli(
        &["dossier", "add", "--silae", "100200", "--name", "ACME", "--company", "1", "--journal", "SAL", "--day", "5"],
        None,
    );
    w.silae.push_fault(payflow_sim::silae::Fault::Status(503));
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_payflow-agent"));
    cmd.args(["import", "--dossier", "100200", "--period", "2026-10", "--dry-run"])
        .env("PAYFLOW_CONFIG", &w.config_path)
        .env("PAYFLOW_LOG", "trace");
    for (k, v) in PLANTED {
        cmd.env(k, v);
    }
    let out = w.output(&mut cmd);
    let all = text(&out);
    assert!(all.contains("retrying"), "the logs were captured: {all}");
    assert_no_secret(&all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_what_to_fix() {
    let w = World::start().await;
    let out = w.cli(&["check"], None);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("ok    silae") && shown.contains("ok    odoo"), "{shown}");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_payflow-agent"));
    let out = cmd
        .args(["check", "--offline"])
        .env("PAYFLOW_CONFIG", &w.config_path)
        .env_remove("PAYFLOW_ODOO_SECRET")
        .output()
        .unwrap();
    let shown = text(&out);
    keep_for_scan("check --offline", &shown);
    assert_eq!(out.status.code(), Some(78), "a missing secret is EX_CONFIG: {shown}");
    assert!(
        shown.contains("FAIL  secret odoo_secret") && shown.contains("payflow-agent secret set odoo_secret"),
        "{shown}"
    );
}

/// Polls `done` every 50 ms until it holds, failing after `secs`.
async fn wait_until(secs: u64, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "not after {secs} s: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_an_import_records_the_run_interrupted_not_running() {
    use payflow_agent::store::RunFilter;
    use payflow_sim::odoo::OdooFault;
    let w = World::start().await;
    w.cli_add_sample_dossier("100300", &[]);
    // The Odoo write lasts 20 s: the stop comes while it is in flight.
    w.odoo().push_fault_on("account.move", "payflow_import_plan", OdooFault::Slow(std::time::Duration::from_secs(20)));
    let child =
        w.cli_command(&w.config_path, &["import", "--dossier", "100300", "--period", "2026-10"]).spawn().unwrap();
    let writes = || w.odoo().calls().iter().filter(|(m, f)| m == "account.move" && f == "payflow_import_plan").count();
    wait_until(30, "the Odoo write started", || writes() == 1).await;
    // SAFETY: kill() sends a signal to our own child, whose pid is valid until it is waited on.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let out = child.wait_with_output().unwrap();
    keep_for_scan("an import stopped by SIGTERM", &text(&out));
    assert_eq!(out.status.code(), Some(143), "{}", text(&out));
    assert!(text(&out).contains("recorded as interrupted"), "{}", text(&out));
    let runs = w.agent().store().runs(&RunFilter { dossier: Some("100300".into()), ..Default::default() }).unwrap();
    assert_eq!(runs.iter().map(|r| r.status.as_str()).collect::<Vec<_>>(), ["interrupted"], "no run left running");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_the_journal_log_lines_carry_their_priority_and_a_missing_secret_is_ex_config() {
    use std::os::unix::fs::MetadataExt;
    let w = World::start().await;
    w.cli(
        &["dossier", "add", "--silae", "100200", "--name", "ACME", "--company", "1", "--journal", "SAL", "--day", "5"],
        None,
    );
    // stderr is a file that JOURNAL_STREAM names, as systemd names the journal's socket.
    let log = w.dir.path().join("stderr.log");
    let under_journal = |args: &[&str]| {
        let file = std::fs::File::create(&log).unwrap();
        let meta = file.metadata().unwrap();
        let mut cmd = w.cli_command(&w.config_path, args);
        cmd.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino())).stderr(file);
        let out = cmd.output().unwrap();
        let logged = std::fs::read_to_string(&log).unwrap();
        keep_for_scan("payflow-agent under the journal", &logged);
        (out, logged)
    };
    // 100200's accounts are not mapped: the import fails, a warning.
    let (out, logged) = under_journal(&["import", "--dossier", "100200", "--period", "2026-10"]);
    assert_eq!(out.status.code(), Some(1), "{logged}");
    let warning = logged.lines().find(|l| l.contains("import failed")).unwrap_or_else(|| panic!("{logged}"));
    assert!(warning.starts_with("<4>"), "{logged}");
    assert!(logged.lines().all(|l| l.starts_with('<')), "every line has its priority: {logged}");
    // serve without its rpc_token: exit 78, the reason at priority 3 (error).
    let (out, logged) = under_journal(&["serve"]);
    assert_eq!(out.status.code(), Some(78), "{logged}");
    assert!(logged.starts_with("<3>error: the secret rpc_token is not set"), "{logged}");
    assert!(logged.contains("payflow-agent secret set rpc_token"), "{logged}");
    // Without a secret an import needs, serve does not start either, and says which.
    let out = w.output(w.cli_command(&w.config_path, &["serve"]).env_remove("PAYFLOW_ODOO_SECRET"));
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(text(&out).contains("the secret odoo_secret is not set"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_accounts_are_listed_then_created_or_mapped_from_the_cli() {
    let w = World::start().await;
    let agent = w.agent();
    let mut d = dossier("100300", 5);
    d.account_map.clear();
    add_dossier(&agent, &d);
    let r = import(&agent, "100300", "2026-10", true).await;
    assert_eq!(r.error_kind, Some(payflow_agent::import::ErrorKind::MissingAccounts), "{}", r.message);
    // Listed first, nothing created.
    let listed = w.cli(&["dossier", "accounts", "--dossier", "100300", "--create-missing"], None);
    let shown = text(&listed);
    assert!(listed.status.success(), "{shown}");
    for code in ["437300", "437400", "437500"] {
        assert!(shown.contains(code), "{shown}");
    }
    assert!(shown.contains("437000") && shown.contains("nothing created"), "{shown}");
    assert!(!import(&agent, "100300", "2026-10", true).await.status.is_success());
    // Confirmed: created, and the import goes through.
    let made = w.cli(&["dossier", "accounts", "--dossier", "100300", "--create-missing", "--yes"], None);
    assert!(made.status.success(), "{}", text(&made));
    assert!(text(&made).contains("3 account(s) created"), "{}", text(&made));
    let r = import(&agent, "100300", "2026-10", false).await;
    assert_eq!(r.status, payflow_agent::import::Status::Imported, "{}", r.message);
    // --map adds to the account map and keeps the rest.
    let mapped = w.cli(&["dossier", "accounts", "--dossier", "100300", "--map", "43730000=437000"], None);
    assert!(mapped.status.success(), "{}", text(&mapped));
    assert_eq!(agent.store().dossier("100300").unwrap().account_map["43730000"], "437000");
    // Nothing missing any more: --create-missing says what to do instead.
    let none = w.cli(&["dossier", "accounts", "--dossier", "100300", "--create-missing"], None);
    assert!(!none.status.success() && text(&none).contains("does not lack accounts"), "{}", text(&none));
}

/// A reader that goes away (`payflow-agent runs | head -1`): the command stops quietly with
/// status 141, no panic, whatever it was printing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_standard_output_ends_a_command_quietly_with_141() {
    let w = World::start().await;
    w.cli_add_sample_dossier("100300", &[]);
    for args in [&["runs"][..], &["dossier", "list", "--json"], &["secret", "list"]] {
        // The reading end is closed before the command starts: its first write finds no reader.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut cmd = w.cli_command(&w.config_path, args);
        cmd.stdout(writer);
        let out = w.output(&mut cmd);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{args:?}: {:?} {stderr}", out.status);
        assert!(!stderr.contains("panicked") && !stderr.contains("error"), "{args:?}: {stderr}");
    }
}
