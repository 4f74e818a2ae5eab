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
async fn an_import_is_one_odoo_call_after_the_remembered_session_and_a_preview_one() {
    let w = World::start().await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    add_dossier(&agent, &dossier("100300", 5));
    // The first time: the version, the authentication, then the one import call.
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    let first: Vec<String> = w.odoo().calls().iter().map(|(m, f)| format!("{m}.{f}")).collect();
    assert_eq!(first, ["web.version_info", "common.authenticate", "account.move.payflow_import_plan"]);
    // A new process (a new agent on the same store): the remembered session (series, protocol,
    // uid) is used as is, no version call, no authentication: one call per import, one per
    // preview.
    for dry_run in [true, false] {
        let fresh = w.agent();
        w.odoo().reset_calls();
        let r = import(&fresh, "100300", "2026-10", dry_run).await;
        let expected = if dry_run { Status::Previewed } else { Status::Imported };
        assert_eq!(r.status, expected, "{}", r.message);
        let calls = w.odoo().calls();
        assert_eq!(calls, [("account.move".to_owned(), "payflow_import_plan".to_owned())], "dry_run {dry_run}");
    }
    assert_eq!(w.odoo().moves().len(), 3);
    // An older addon (no payflow_import_plan): the agent's own reads, then payflow_import.
    let w = World::start().await;
    w.odoo().set_addon_plan(false);
    add_dossier(&w.agent(), &dossier("100200", 5));
    add_dossier(&w.agent(), &dossier("100300", 5));
    assert_eq!(import(&w.agent(), "100300", "2026-10", false).await.status, Status::Imported);
    let fresh = w.agent();
    w.odoo().reset_calls();
    let r = import(&fresh, "100200", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    let calls = w.odoo().calls();
    // The refused payflow_import_plan, the 5 reads (no analytic here), payflow_import.
    assert!(calls.len() <= 7, "{} calls: {calls:?}", calls.len());
    assert_eq!(calls.last().map(|(_, f)| f.as_str()), Some("payflow_import"), "{calls:?}");
    assert!(!calls.iter().any(|(_, m)| m == "authenticate" || m.starts_with("version")), "{calls:?}");
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

/// The sample of dossier 100200 with Silae's payroll corrected: the salaries (641100) and the
/// net pay (421000) up by `cents`.
pub fn corrected_100200(cents: i64) -> Vec<u8> {
    let sample = std::fs::read_to_string(samples_dir().join("dossier-100200-2026-10.json")).unwrap();
    let up = |text: &str, by: i64| {
        let c: i64 = (text.parse::<f64>().unwrap() * 100.0).round() as i64 + by;
        format!("{}.{:02}", c / 100, c % 100)
    };
    sample
        .replace("52885.91", &up("52885.91", cents))
        .replace("46095.76", &up("46095.76", cents))
        .replace("77298.4,", &format!("{},", up("77298.4", cents)))
        .replace("\"totalCredit\": 77298.4", &format!("\"totalCredit\": {}", up("77298.4", cents)))
        .into_bytes()
}

pub fn debit_of(m: &serde_json::Value) -> i64 {
    m["line_ids"].as_array().unwrap().iter().map(|l| cents(&l["debit"])).sum()
}

/// Balance per account code of the moves, in cents.
fn balances(moves: &[&serde_json::Value]) -> std::collections::BTreeMap<i64, i64> {
    let mut out = std::collections::BTreeMap::new();
    for m in moves {
        for l in m["line_ids"].as_array().unwrap() {
            *out.entry(l["account_id"].as_i64().unwrap()).or_insert(0) += cents(&l["debit"]) - cents(&l["credit"]);
        }
    }
    out.retain(|_, v| *v != 0);
    out
}

#[tokio::test]
async fn a_corrected_payroll_rewrites_an_untouched_draft_in_place_and_never_a_posted_move() {
    let w = World::start().await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    let first = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(first.status, Status::Imported);
    let id = w.odoo().moves()[0]["id"].as_i64().unwrap();
    // Silae's payroll is corrected: two lines move by 10.00.
    w.silae.set_payload("100200", "2026-10", corrected_100200(1_000));
    let second = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(second.status, Status::Imported, "{}", second.message);
    assert!(second.message.contains("1 draft(s) replaced"), "{}", second.message);
    let moves = w.odoo().moves();
    assert_eq!(moves.len(), 1, "the draft was replaced, not doubled");
    assert_eq!(moves[0]["id"].as_i64(), Some(id), "the same move, rewritten in place");
    assert_eq!(second.moves, [id]);
    assert_eq!(debit_of(&moves[0]), 7_730_840);
    // Once posted, a further correction never touches it: by default the run fails and tells
    // the difference per account.
    w.odoo().post_move(id);
    w.silae.set_payload("100200", "2026-10", corrected_100200(0));
    let third = import(&agent, "100200", "2026-10", false).await;
    assert_eq!((third.status, third.error_kind), (Status::Failed, Some(ErrorKind::PostedChanged)), "{}", third.message);
    assert!(third.message.contains("641100 Salaires") || third.message.contains("641100"), "{}", third.message);
    assert!(third.message.contains("debit 52895.91 in Odoo, debit 52885.91 by Silae"), "{}", third.message);
    assert!(third.message.contains("--corrections adjust"), "{}", third.message);
    let french = third.outcome.french();
    assert!(french.contains("52\u{a0}885,91\u{a0}€ selon Silae"), "{french}");
    let Facts::Corrected { moves: corrected } = &third.outcome.facts else { panic!("{:?}", third.outcome.facts) };
    assert_eq!((corrected[0].odoo_move.id, corrected[0].state.as_str()), (id, "posted"));
    assert_eq!(corrected[0].diff.len(), 2, "{:?}", corrected[0].diff);
    assert_eq!(w.odoo().moves().len(), 1);
    assert_eq!(debit_of(&w.odoo().moves()[0]), 7_730_840, "the posted move is untouched");
    assert_eq!(w.odoo().moves()[0]["state"], "posted");
}

#[tokio::test]
async fn adjust_books_the_difference_of_a_posted_move_once_and_totals_reconcile() {
    let w = World::start().await;
    let agent = w.agent();
    let mut d = dossier("100200", 5);
    d.corrections = payflow_agent::store::Corrections::Adjust;
    add_dossier(&agent, &d);
    assert_eq!(import(&agent, "100200", "2026-10", false).await.status, Status::Imported);
    let id = w.odoo().moves()[0]["id"].as_i64().unwrap();
    w.odoo().post_move(id);
    w.silae.set_payload("100200", "2026-10", corrected_100200(2_550));
    let preview = import(&agent, "100200", "2026-10", true).await;
    assert_eq!(preview.status, Status::Previewed, "{}", preview.message);
    assert!(preview.message.contains("create 1 draft adjustment(s)"), "{}", preview.message);
    assert_eq!(w.odoo().moves().len(), 1, "a preview writes nothing");
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    assert!(r.message.contains("1 draft adjustment(s)"), "{}", r.message);
    let moves = w.odoo().moves();
    assert_eq!(moves.len(), 2);
    let adjustment = moves.iter().find(|m| m["id"].as_i64() != Some(id)).unwrap();
    let original = moves.iter().find(|m| m["id"].as_i64() == Some(id)).unwrap();
    assert_eq!(r.moves, [id, adjustment["id"].as_i64().unwrap()]);
    let key = original["payflow_import_key"].as_str().unwrap();
    assert_eq!(adjustment["payflow_import_key"].as_str(), Some(format!("{key}:regul-1").as_str()));
    assert_eq!(adjustment["state"], "draft");
    assert_eq!(adjustment["journal_id"], original["journal_id"]);
    assert!(
        adjustment["ref"].as_str().unwrap().starts_with("REGULARISATION SALAIRES OCTOBRE 2026"),
        "{}",
        adjustment["ref"]
    );
    assert_eq!(debit_of(adjustment), 2_550, "exactly the difference");
    assert_eq!(debit_of(original), 7_729_840, "the posted move is untouched");
    // The original plus its adjustment = Silae's latest, per account, to the cent.
    let total = balances(&[original, adjustment]);
    let silae: i64 = r.plans[0]["lines"].as_array().unwrap().iter().map(|l| l["debit_cents"].as_i64().unwrap()).sum();
    assert_eq!(total.values().filter(|v| **v > 0).sum::<i64>(), silae);
    assert_eq!(silae, 7_729_840 + 2_550);
    let linked = w.odoo().messages();
    assert!(linked
        .iter()
        .any(|m| m["res_id"].as_i64() == Some(id) && m["body"].as_str().unwrap().contains("adjustment")));
    // A re-run creates nothing more.
    let again = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(again.status, Status::AlreadyImported, "{}", again.message);
    assert_eq!(w.odoo().moves().len(), 2);
}

#[tokio::test]
async fn a_draft_changed_in_odoo_is_never_replaced() {
    let w = World::start().await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    assert_eq!(import(&agent, "100200", "2026-10", false).await.status, Status::Imported);
    let m = w.odoo().moves()[0].clone();
    let id = m["id"].as_i64().unwrap();
    // The accountant re-labels a line.
    let line = m["line_ids"][0]["id"].as_i64().unwrap();
    w.odoo().write_move(id, serde_json::json!({"line_ids": [[1, line, {"name": "Salaires revus"}]]})).unwrap();
    w.silae.set_payload("100200", "2026-10", corrected_100200(1_000));
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!((r.status, r.error_kind), (Status::Failed, Some(ErrorKind::ChangedInOdoo)), "{}", r.message);
    assert_eq!(r.outcome.action, Action::ReviewChangedDraft);
    assert!(r.message.contains("changed in Odoo by"), "{}", r.message);
    assert!(r.message.contains("debit 52885.91 in Odoo, debit 52895.91 by Silae"), "{}", r.message);
    assert!(r.outcome.french().contains("modifié dans Odoo"), "{}", r.outcome.french());
    let now = w.odoo().moves();
    assert_eq!(now.len(), 1);
    assert_eq!(debit_of(&now[0]), 7_729_840, "the draft is untouched");
    assert!(now[0]["line_ids"].as_array().unwrap().iter().any(|l| l["name"] == "Salaires revus"));
    assert_eq!(now[0]["payflow_payload_hash"], m["payflow_payload_hash"]);
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
    // `auto` writes in standard mode there (standard.rs); `addon` refuses.
    w.write_config("write_mode = \"addon\"");
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

/// A remembered session Odoo no longer takes (here: another uid) is found anew once (the version,
/// the authentication), the call made again, and the new session remembered: the next process
/// makes one call again.
#[tokio::test]
async fn a_remembered_session_odoo_refuses_is_found_anew_once() {
    let w = World::start().await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    add_dossier(&agent, &dossier("100300", 5));
    assert_eq!(import(&agent, "100200", "2026-10", false).await.status, Status::Imported);
    let o = w.config().odoo;
    let (url, db) = (o.url.as_str(), o.database.as_str());
    let mut stale = agent.store().odoo_session(url, db, "admin").unwrap().expect("remembered");
    stale.uid = 1;
    agent.store().save_odoo_session(url, db, "admin", Some(&stale), "2026-11-01T00:00:00Z").unwrap();
    w.odoo().reset_calls();
    let fresh = w.agent();
    let r = import(&fresh, "100300", "2026-10", true).await;
    assert_eq!(r.status, Status::Previewed, "{}", r.message);
    let calls: Vec<String> = w.odoo().calls().iter().map(|(m, f)| format!("{m}.{f}")).collect();
    assert_eq!(
        calls,
        [
            "account.move.payflow_import_plan",
            "web.version_info",
            "common.authenticate",
            "account.move.payflow_import_plan"
        ]
    );
    assert_eq!(agent.store().odoo_session(url, db, "admin").unwrap().map(|s| s.uid), Some(2));
    w.odoo().reset_calls();
    let r = import(&w.agent(), "100300", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    assert_eq!(w.odoo().calls().len(), 1, "{:?}", w.odoo().calls());
}

#[tokio::test]
async fn odoo_down_during_the_write_leaves_nothing_and_a_retry_imports_once() {
    // With the addon's one-call method, and with an older addon (the agent's reads, then
    // payflow_import).
    for (plan, write) in [(true, "payflow_import_plan"), (false, "payflow_import")] {
        let w = World::start().await;
        w.odoo().set_addon_plan(plan);
        let agent = w.agent();
        add_dossier(&agent, &dossier("100200", 5));
        w.odoo().push_fault_on("account.move", write, payflow_sim::odoo::OdooFault::Status(502));
        let r = import(&agent, "100200", "2026-10", false).await;
        assert_eq!(r.error_kind, Some(ErrorKind::OdooUnavailable), "{write}: {}", r.message);
        assert!(w.odoo().moves().is_empty());
        let r = import(&agent, "100200", "2026-10", false).await;
        assert_eq!(r.status, Status::Imported, "{write}: {}", r.message);
        assert_eq!(w.odoo().moves().len(), 1);
    }
}

/// The addon's one call (`payflow_import_plan`) and the agent's own reads (databases without
/// it) resolve the same accounts and journals, find the same moves (under their key or their
/// legacy key) and report the same problems, renames included, case by case, on Odoo 17 and 18.
#[tokio::test]
async fn the_addon_and_the_agent_resolve_the_same_accounts_and_problems() {
    use payflow_agent::journal::ImportPlan;
    use payflow_agent::odoo::{ResolveError, Resolved, Target};
    use std::collections::BTreeMap;
    type Setup = fn(&payflow_sim::odoo::OdooSim, &mut payflow_agent::store::Dossier);
    // (case, set-up of Odoo and the dossier, whether the period is imported first, the plan's
    // keys changed as a later Silae answer would)
    type Case = (&'static str, Setup, bool, fn(&mut ImportPlan));
    const LYON: &str = "silae:100300:2026-10:etablissement-lyon";
    const PARIS: &str = "silae:100300:2026-10:etablissement-paris";
    let cases: [Case; 13] = [
        ("everything found", |_, _| {}, false, |_| {}),
        ("missing accounts", |_, d| d.account_map.clear(), false, |_| {}),
        (
            "a mapped account missing",
            |_, d| {
                d.account_map.insert("64110000".into(), "999999".into());
            },
            false,
            |_| {},
        ),
        ("missing journal", |_, d| d.journal_code = "PAIE9".into(), false, |_| {}),
        (
            "a journal code mapped to another journal",
            |_, d| {
                d.journal_map.insert("PA".into(), "OD".into());
            },
            false,
            |_| {},
        ),
        (
            "a journal code mapped to a missing journal",
            |_, d| {
                d.journal_map.insert("PA".into(), "PAIE8".into());
            },
            false,
            |_| {},
        ),
        ("locked", |o, _| o.set_lock_date(1, "fiscalyear_lock_date", Some("2026-10-31")), false, |_| {}),
        (
            "everything wrong at once",
            |o, d| {
                d.account_map.clear();
                d.journal_code = "PAIE9".into();
                d.journal_map.insert("PA".into(), "PAIE8".into());
                o.set_lock_date(1, "fiscalyear_lock_date", Some("2026-12-31"));
            },
            false,
            |_| {},
        ),
        ("already imported", |_, _| {}, true, |_| {}),
        (
            "imported under the legacy keys",
            |_, _| {},
            true,
            |p| {
                for (m, siret) in p.moves.iter_mut().zip(["siret-1", "siret-2"]) {
                    let key = format!("silae:100300:2026-10:{siret}");
                    m.legacy_key = Some(std::mem::replace(&mut m.import_key, key));
                }
            },
        ),
        ("a rupture renamed", |_, _| {}, true, |p| p.moves[1].import_key = format!("{LYON}-part-dieu")),
        (
            "partners by reference, VAT number and name",
            |o, d| {
                o.add_partner("URSSAF Île-de-France", Some("URSSAF"), None, None);
                o.add_partner("AGIRC-ARRCO", None, Some("FR11223344556"), Some(1));
                o.add_partner("SIE Paris 8e", None, None, None);
                d.partner_map.insert("43100000".into(), "URSSAF".into());
                d.partner_map.insert("43730000".into(), "FR11223344556".into());
                d.partner_map.insert("44210000".into(), "SIE Paris 8e".into());
                d.partner_map.insert("99990000".into(), "not in this payroll".into());
            },
            false,
            |_| {},
        ),
        (
            "a partner missing and one twice",
            |o, d| {
                o.add_partner("Malakoff Humanis", None, None, None);
                o.add_partner("Malakoff Humanis", None, None, Some(1));
                d.partner_map.insert("43100000".into(), "URSAF".into());
                d.partner_map.insert("43740000".into(), "Malakoff Humanis".into());
            },
            false,
            |_| {},
        ),
    ];
    for version in [17, 18] {
        for (case, setup, imported_first, rekey) in cases {
            let w = World::start_with(OdooSimConfig::demo(version)).await;
            let agent = w.agent();
            let mut d = dossier("100300", 5);
            if imported_first {
                add_dossier(&agent, &d);
                let r = import(&agent, "100300", "2026-10", false).await;
                assert_eq!(r.status, Status::Imported, "{case}: {}", r.message);
            }
            setup(w.odoo(), &mut d);
            let before = w.odoo().moves();
            let period: payflow_agent::period::Period = "2026-10".parse().unwrap();
            let (payload, _) = agent.silae().await.unwrap().ecritures("100300", period).await.unwrap();
            let mut plan = payflow_agent::journal::plan("100300", period, &payload, &d.account_map).unwrap();
            rekey(&mut plan);
            let odoo = agent.odoo().await.unwrap();
            let target = Target {
                company_id: 1,
                journal_code: &d.journal_code,
                journal_map: &d.journal_map,
                account_map: &d.account_map,
                analytic: &d.analytic,
                payments_journal: None,
                corrections: Default::default(),
                partner_map: &d.partner_map,
            };
            let label = format!("Odoo {version}, {case}");
            let own = odoo.resolve(&target, &plan).await;
            let addon =
                odoo.import_plan(&target, &plan, true, None, &Default::default(), &[]).await.map_err(|e| match e {
                    payflow_agent::odoo::PlanError::Resolve(e) => e,
                    other => panic!("{label}: {other}"),
                });
            // What the import does next on either path: legacy keys adopted, renames refused.
            let decide = |r: &Resolved| {
                let mut p = plan.clone();
                p.adopt_legacy_keys(&|k| r.existing.contains_key(k));
                let keys: Vec<String> = p.moves.iter().map(|m| m.import_key.clone()).collect();
                (keys, p.renamed(&r.period_keys))
            };
            match (own, addon) {
                (Ok(own), Ok(answer)) => {
                    let addon = &answer.resolved;
                    let sorted = |r: &Resolved| {
                        r.accounts.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<BTreeMap<_, _>>()
                    };
                    assert_eq!(sorted(&own), sorted(addon), "{label}");
                    assert!(!own.accounts.is_empty(), "{label}");
                    assert_eq!(
                        (own.journal_id, &own.company_name, &own.journal_of),
                        (addon.journal_id, &addon.company_name, &addon.journal_of),
                        "{label}"
                    );
                    let found = |r: &Resolved| {
                        r.existing.iter().map(|(k, e)| (k.clone(), (e.id, e.state))).collect::<BTreeMap<_, _>>()
                    };
                    assert_eq!(found(&own), found(addon), "{label}");
                    let partners =
                        |r: &Resolved| r.partners.iter().map(|(k, v)| (k.clone(), *v)).collect::<BTreeMap<_, _>>();
                    assert_eq!(partners(&own), partners(addon), "{label}");
                    let expected_partners = if case.starts_with("partners") { 3 } else { 0 };
                    assert_eq!(own.partners.len(), expected_partners, "{label}");
                    assert_eq!(decide(&own), decide(addon), "{label}");
                    assert_eq!(answer.renamed, decide(&own).1.is_some(), "{label}");
                    let expected = match case {
                        "already imported" | "imported under the legacy keys" => 2,
                        "a rupture renamed" => 1,
                        _ => 0,
                    };
                    assert_eq!(own.existing.len(), expected, "{label}");
                    match case {
                        "a journal code mapped to another journal" => assert_eq!(own.journal_of["PA"].1, "OD"),
                        "imported under the legacy keys" => assert_eq!(decide(&own).0, [PARIS, LYON], "{label}"),
                        "a rupture renamed" => {
                            let why = decide(&own).1.unwrap_or_default();
                            assert!(why.contains("looks renamed; nothing written"), "{label}: {why}");
                            assert!(why.contains(LYON), "{label}: {why}");
                        }
                        _ => assert_eq!(decide(&own).1, None, "{label}"),
                    }
                }
                (Err(own), Err(addon)) => {
                    let kind = |e: &ResolveError| std::mem::discriminant(e);
                    assert_eq!(kind(&own), kind(&addon), "{label}: {own:?} / {addon:?}");
                    assert_eq!(own.to_string(), addon.to_string(), "{label}");
                    if let (ResolveError::Accounts(_, a), ResolveError::Accounts(_, b)) = (&own, &addon) {
                        assert_eq!(a, b, "{label}");
                        assert!(!a.is_empty(), "{label}");
                    }
                    if case == "everything wrong at once" {
                        let text = addon.to_string();
                        for part in [
                            "is locked in Odoo",
                            "no journal with code \"PAIE9\"",
                            "no journal with code \"PAIE8\"",
                            "tried 43730000, 4373000, 437300",
                        ] {
                            assert!(text.contains(part), "{label}: {part} in {text}");
                        }
                    }
                }
                (own, addon) => panic!("{label}: the agent says {own:?}, the addon {addon:?}"),
            }
            assert_eq!(w.odoo().moves(), before, "{label}: nothing written");
        }
    }
}
