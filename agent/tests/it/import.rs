//! The import path end to end, on the Silae and Odoo simulators. The scenarios that make
//! sense on a real Odoo also run there (see real_odoo.rs) with the same assertions.

use payflow_agent::import::{ErrorKind, Status};
use payflow_agent::outcome::{Action, Facts};
use payflow_sim::odoo::OdooSimConfig;
use payflow_sim::silae::Fault;
use serde_json::json;

use crate::util::*;

#[tokio::test]
async fn dry_run_previews_both_establishments_to_the_cent() {
    let w = World::start().await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100300", 5));
    let r = import(&agent, "100300", "2026-10", true).await;
    assert_eq!(r.status, Status::Previewed, "{}", r.message);
    assert_eq!(r.plans.len(), 2);
    assert_eq!(r.plans[0]["total_debit_cents"], 16_400_394);
    assert_eq!(r.plans[0]["total_credit_cents"], 16_400_394);
    assert_eq!(r.plans[1]["total_debit"], json!(42682.07));
    assert_eq!(r.plans[0]["ref"], "SALAIRES OCTOBRE 2026 - Établissement Paris");
    assert_eq!(r.plans[0]["lines"][0]["odoo_account"], "641100");
    assert!(r.message.contains("would create 2"), "{}", r.message);
    assert!(w.odoo().moves().is_empty(), "a dry run writes nothing");
    let run = agent.store().run(r.run_id.unwrap()).unwrap();
    assert_eq!((run.status.as_str(), run.dry_run, run.line_count), ("previewed", true, Some(28)));
    assert_eq!(run.total_debit_cents, Some(16_400_394 + 4_268_207));
}

/// Imports the two-establishment sample (repartitions 1 and 2 on the analytic accounts PARIS
/// and LYON), then again: the second run finds the same moves.
pub async fn scenario_imports_once(w: &World) -> Vec<i64> {
    let agent = w.agent();
    let mut d = dossier("100300", 5);
    d.analytic.insert("1".into(), "PARIS".into());
    d.analytic.insert("2".into(), "LYON".into());
    add_dossier(&agent, &d);
    let r = import(&agent, "100300", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    assert_eq!(r.moves.len(), 2);
    // Each move by id and by its Odoo name, in the message too.
    // (Odoo 17 and 18 number the first draft of a sequence, the others stay "/" until posted;
    // 19 numbers none before posting: then the move is shown by its id.)
    if let Some(first) = r.outcome.moves[0].name.as_deref() {
        assert!(first.starts_with("SAL/2026/10/"), "{first}");
    }
    for m in &r.outcome.moves {
        assert!(r.message.contains(&m.label()), "{} / {}", m.label(), r.message);
    }
    let again = import(&agent, "100300", "2026-10", false).await;
    assert_eq!(again.status, Status::AlreadyImported, "{}", again.message);
    let mut a = again.moves.clone();
    let mut b = r.moves.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b, "the second run points at the same moves");
    r.moves
}

#[tokio::test]
async fn imports_each_rupture_once_balanced_to_the_cent() {
    let w = World::start().await;
    let ids = scenario_imports_once(&w).await;
    let moves = w.odoo().moves();
    assert_eq!(moves.len(), 2, "a second run creates nothing");
    for (m, (key, total, lines)) in moves.iter().zip([
        ("silae:100300:2026-10:etablissement-paris", 16_400_394, 15),
        ("silae:100300:2026-10:etablissement-lyon", 4_268_207, 13),
    ]) {
        assert!(ids.contains(&m["id"].as_i64().unwrap()));
        assert_eq!(m["payflow_import_key"], key);
        assert_eq!(m["state"], "draft");
        assert_eq!(m["date"], "2026-10-31");
        let ls = m["line_ids"].as_array().unwrap();
        assert_eq!(ls.len(), lines);
        let debit: i64 = ls.iter().map(|l| cents(&l["debit"])).sum();
        let credit: i64 = ls.iter().map(|l| cents(&l["credit"])).sum();
        assert_eq!((debit, credit), (total, total));
    }
    assert_eq!(moves[0]["ref"], "SALAIRES OCTOBRE 2026 - Établissement Paris");
    // The audit trail: the payload attached, a chatter message in French.
    assert_eq!(w.odoo().attachments().len(), 2);
    let messages = w.odoo().messages();
    assert!(messages.iter().any(|m| m["body"].as_str().unwrap_or("").contains("Période : 2026-10")), "{messages:?}");
}

#[tokio::test]
async fn an_import_costs_at_most_six_calls_after_the_remembered_authentication() {
    let w = World::start().await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    add_dossier(&agent, &dossier("100300", 5));
    // Authentication happens once and is remembered in the store.
    assert_eq!(import(&agent, "100200", "2026-10", false).await.status, Status::Imported);
    let fresh = w.agent();
    w.odoo().reset_calls();
    let r = import(&fresh, "100300", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    let calls = w.odoo().calls();
    assert!(calls.len() <= 6, "{} calls: {calls:?}", calls.len());
    assert!(!calls.iter().any(|(_, m)| m == "authenticate"), "no fresh authentication: {calls:?}");
}

#[tokio::test]
async fn every_missing_account_is_reported_at_once_and_nothing_written() {
    let w = World::start().await;
    let agent = w.agent();
    let mut d = dossier("100300", 5);
    d.account_map.clear();
    add_dossier(&agent, &d);
    let r = import(&agent, "100300", "2026-10", false).await;
    assert_eq!((r.status, r.error_kind), (Status::Failed, Some(ErrorKind::MissingAccounts)), "{}", r.message);
    for code in ["43730000", "43740000", "43750000"] {
        assert!(r.message.contains(code), "{} should list {code}", r.message);
        assert!(r.message.contains(&format!("--map {code}=")), "{}", r.message);
    }
    assert!(r.message.contains("tried 43730000, 4373000, 437300"), "{}", r.message);
    assert!(w.odoo().moves().is_empty());
    // The same facts, typed: what was tried and Silae's label, for the addon and the e-mails.
    let Facts::MissingAccounts { accounts, .. } = &r.outcome.facts else { panic!("{:?}", r.outcome) };
    let first = accounts.iter().find(|a| a.code == "43730000").expect("43730000 listed");
    assert_eq!(first.tried, ["43730000", "4373000", "437300"]);
    assert!(first.label.as_deref().is_some_and(|l| !l.is_empty()), "{first:?}");
    assert_eq!(r.outcome.action, Action::CreateOrMapAccounts);
    let french = r.outcome.french();
    assert!(!french.contains("payflow-agent") && !french.contains("--map"), "{french}");
    let logged = agent.store().run(r.run_id.unwrap()).unwrap();
    assert_eq!(logged.outcome, r.outcome, "the log keeps the typed outcome");
}

#[tokio::test]
async fn a_missing_journal_lists_the_journals_there() {
    let w = World::start().await;
    let agent = w.agent();
    let mut d = dossier("100200", 5);
    d.journal_code = "PAIE".into();
    add_dossier(&agent, &d);
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.error_kind, Some(ErrorKind::MissingJournal), "{}", r.message);
    assert!(r.message.contains("SAL (Salaires, general)"), "{}", r.message);
    d.journal_code = "VTE".into();
    add_dossier(&agent, &d);
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.error_kind, Some(ErrorKind::MissingJournal), "{}", r.message);
    assert!(r.message.contains("not a Miscellaneous (general) journal"), "{}", r.message);
    assert!(w.odoo().moves().is_empty());
}

#[tokio::test]
async fn a_locked_period_is_refused_before_writing() {
    let w = World::start().await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    w.odoo().set_lock_date(1, "fiscalyear_lock_date", Some("2026-12-31"));
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.error_kind, Some(ErrorKind::OdooRejected), "{}", r.message);
    assert!(r.message.contains("locked") && r.message.contains("2026-12-31"), "{}", r.message);
    assert!(w.odoo().moves().is_empty());
}

#[tokio::test]
async fn a_corrected_payroll_replaces_a_draft_but_never_a_posted_move() {
    let w = World::start().await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    let first = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(first.status, Status::Imported);
    // Silae's payroll is corrected: two lines move by 10.00.
    let sample = std::fs::read_to_string(samples_dir().join("dossier-100200-2026-10.json")).unwrap();
    let corrected = sample
        .replace("52885.91", "52895.91")
        .replace("46095.76", "46105.76")
        .replace("77298.4,", "77308.4,")
        .replace("\"totalCredit\": 77298.4", "\"totalCredit\": 77308.4");
    w.silae.set_payload("100200", "2026-10", corrected.into_bytes());
    let second = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(second.status, Status::Imported, "{}", second.message);
    assert!(second.message.contains("1 draft(s) replaced"), "{}", second.message);
    let moves = w.odoo().moves();
    assert_eq!(moves.len(), 1, "the draft was replaced, not doubled");
    let debit: i64 = moves[0]["line_ids"].as_array().unwrap().iter().map(|l| cents(&l["debit"])).sum();
    assert_eq!(debit, 7_730_840);
    // Once posted, a further correction does not touch it.
    let id = moves[0]["id"].as_i64().unwrap();
    w.odoo().post_move(id);
    w.silae.set_payload("100200", "2026-10", sample.into_bytes());
    let third = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(third.status, Status::AlreadyImported, "{}", third.message);
    assert_eq!(w.odoo().moves().len(), 1);
    assert_eq!(w.odoo().moves()[0]["state"], "posted");
}

#[tokio::test]
async fn analytic_repartitions_land_on_the_mapped_analytic_accounts() {
    let w = World::start().await;
    let agent = w.agent();
    let mut d = dossier("100300", 5);
    d.analytic.insert("1".into(), "PARIS".into());
    d.analytic.insert("2".into(), "LYON".into());
    add_dossier(&agent, &d);
    let r = import(&agent, "100300", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    let moves = w.odoo().moves();
    let paris = moves.iter().find(|m| m["payflow_import_key"] == "silae:100300:2026-10:etablissement-paris").unwrap();
    let split: Vec<_> = paris["line_ids"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["analytic_distribution"].is_object())
        .map(|l| (cents(&l["debit"]), l["analytic_distribution"].clone()))
        .collect();
    assert_eq!(split.len(), 4, "{split:?}");
    let on = |i: usize| split[i].1.as_object().unwrap().values().next().unwrap().as_f64().unwrap();
    assert!((0..4).all(|i| on(i) == 100.0));
    let key = |i: usize| split[i].1.as_object().unwrap().keys().next().unwrap().clone();
    assert_eq!(key(0), key(2));
    assert_eq!(key(1), key(3));
    assert_ne!(key(0), key(1));
    // 60 % / 40 % of the salaries.
    assert_eq!((split[0].0, split[1].0), (6_779_337, 4_519_558));
}

#[tokio::test]
async fn waiting_then_imported_once_silae_closes_the_period() {
    let w = World::start().await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    w.silae.set_periode_en_cours("100200", "2026-10");
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.status, Status::Waiting, "{}", r.message);
    assert!(w.odoo().moves().is_empty());
    w.silae.set_periode_en_cours("100200", "2026-11");
    assert_eq!(import(&agent, "100200", "2026-10", false).await.status, Status::Imported);
}

#[tokio::test]
async fn an_empty_month_is_no_data() {
    let w = World::start().await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    let r = import(&agent, "100200", "2026-08", false).await;
    assert_eq!(r.status, Status::NoData, "{}", r.message);
    assert!(w.odoo().calls().is_empty(), "nothing asked of Odoo");
}

#[tokio::test]
async fn unbalanced_silae_totals_write_nothing() {
    let w = World::start().await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    let sample = std::fs::read_to_string(samples_dir().join("dossier-100200-2026-10.json")).unwrap();
    w.silae.set_payload("100200", "2026-10", sample.replace("52885.91", "52885.92").into_bytes());
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.error_kind, Some(ErrorKind::Unbalanced), "{}", r.message);
    assert!(r.message.contains("difference 0.01"), "{}", r.message);
    assert!(w.odoo().calls().is_empty() && w.odoo().moves().is_empty());
}

#[tokio::test]
async fn silae_faults_become_the_right_kinds() {
    let w = World::start().await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    for _ in 0..8 {
        w.silae.push_fault(Fault::Status(503));
    }
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.error_kind, Some(ErrorKind::SilaeUnavailable), "{}", r.message);
    let w = World::start().await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    w.silae.push_fault(Fault::Unrecoverable);
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.error_kind, Some(ErrorKind::SilaeAuth), "{}", r.message);
    assert!(w.odoo().moves().is_empty());
}

#[tokio::test]
async fn without_the_addon_writing_is_refused_but_a_preview_works() {
    let mut cfg = OdooSimConfig::demo(18);
    cfg.addon_installed = false;
    let w = World::start_with(cfg).await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.error_kind, Some(ErrorKind::Config), "{}", r.message);
    assert!(r.message.contains("payflow_silae addon is not installed"), "{}", r.message);
    assert!(w.odoo().moves().is_empty());
    let preview = import(&agent, "100200", "2026-10", true).await;
    assert_eq!(preview.status, Status::Previewed, "{}", preview.message);
    assert!(preview.message.contains("payflow_silae addon is not installed"), "{}", preview.message);
}

#[tokio::test]
async fn two_agents_racing_on_one_period_create_each_move_once() {
    let w = World::start().await;
    // Two instances (their own data folders, so no shared lock): only Odoo's key stands between them.
    let (a, b) = (w.agent(), w.agent_at("other"));
    add_dossier(&a, &dossier("100300", 5));
    add_dossier(&b, &dossier("100300", 5));
    let (ra, rb) = tokio::join!(import(&a, "100300", "2026-10", false), import(&b, "100300", "2026-10", false));
    let statuses = [ra.status, rb.status];
    assert!(statuses.contains(&Status::Imported), "{statuses:?}: {} / {}", ra.message, rb.message);
    assert!(
        statuses.iter().all(|s| matches!(s, Status::Imported | Status::AlreadyImported)),
        "{} / {}",
        ra.message,
        rb.message
    );
    assert_eq!(w.odoo().moves().len(), 2);
}

#[tokio::test]
async fn every_protocol_writes_the_same_moves() {
    for (version, protocol) in [(18, "jsonrpc"), (17, "jsonrpc"), (17, "auto"), (19, "auto"), (19, "json2")] {
        let mut cfg = OdooSimConfig::demo(version);
        if version == 19 {
            cfg.password = cfg.api_key.clone();
        }
        let w = World::start_with(cfg).await;
        w.write_config(&format!("protocol = \"{protocol}\""));
        let agent = w.agent();
        add_dossier(&agent, &dossier("100200", 5));
        let r = import(&agent, "100200", "2026-10", false).await;
        assert_eq!(r.status, Status::Imported, "Odoo {version} over {protocol}: {}", r.message);
        let moves = w.odoo().moves();
        assert_eq!(moves.len(), 1, "Odoo {version} over {protocol}");
        let credit: i64 = moves[0]["line_ids"].as_array().unwrap().iter().map(|l| cents(&l["credit"])).sum();
        assert_eq!(credit, 7_729_840, "Odoo {version} over {protocol}");
        let again = import(&agent, "100200", "2026-10", false).await;
        assert_eq!(again.status, Status::AlreadyImported, "Odoo {version} over {protocol}: {}", again.message);
        if version == 19 {
            assert!(w.odoo().calls().iter().all(|(_, m)| m != "execute_kw"), "JSON-2 on 19: {:?}", w.odoo().calls());
        }
    }
}

#[tokio::test]
async fn a_wrong_odoo_secret_is_odoo_auth_and_never_shown() {
    let mut cfg = OdooSimConfig::demo(18);
    cfg.password = "planted-Odoo-s3cret".into();
    let mut w = World::start_with(cfg).await;
    w.odoo_secret = "wrong-planted-Odoo-s3cret".into();
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.error_kind, Some(ErrorKind::OdooAuth), "{}", r.message);
    let json = serde_json::to_string(&r).unwrap();
    assert!(!json.contains("planted-Odoo-s3cret"), "{json}");
    assert!(w.odoo().moves().is_empty());
}

#[tokio::test]
async fn odoo_down_during_the_write_leaves_nothing_and_a_retry_imports_once() {
    let w = World::start().await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    w.odoo().push_fault_on("account.move", "payflow_import", payflow_sim::odoo::OdooFault::Status(502));
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.error_kind, Some(ErrorKind::OdooUnavailable), "{}", r.message);
    assert!(w.odoo().moves().is_empty());
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    assert_eq!(w.odoo().moves().len(), 1);
}
