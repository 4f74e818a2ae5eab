//! Salary payments (docs/payments.md) on the simulators: a period's transfer batches and
//! advances imported with its payroll through the same write, exactly once; a late batch taken
//! by the next daily run; the Odoo calls of an import the same whatever the number of lines.

use payflow_agent::import::{run_due, Status};
use payflow_agent::payments::{InOdoo, Source};
use payflow_agent::store::Dossier;
use serde_json::{json, Value};

use crate::util::*;

/// 100200 with its payments imported into the bank journal BNK1 (Silae's 51200000 is the
/// demo chart's 512001).
fn paying(number: &str) -> Dossier {
    let mut d = dossier(number, 5);
    d.payments = true;
    d.payments_journal = Some("BNK1".into());
    d.account_map.insert("51200000".into(), "512001".into());
    d
}

fn keyed<'a>(moves: &'a [Value], key: &str) -> &'a Value {
    moves.iter().find(|m| m["payflow_import_key"] == key).unwrap_or_else(|| panic!("no move {key}"))
}

#[tokio::test]
async fn a_period_s_batches_and_advances_are_imported_with_its_payroll_exactly_once() {
    let w = World::start().await;
    let agent = w.agent();
    add_dossier(&agent, &paying("100200"));
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    let moves = w.odoo().moves();
    assert_eq!(moves.len(), 3, "the payroll, batch 1, the advances (batch 2 not published yet)");
    let lot = keyed(&moves, "silae:100200:2026-10:virement-1");
    assert_eq!(lot["ref"], "VIREMENTS SALAIRES OCTOBRE 2026 - LOT 1");
    assert_eq!((lot["state"].as_str(), lot["date"].as_str()), (Some("draft"), Some("2026-10-30")));
    assert_eq!(lot["line_ids"].as_array().map(Vec::len), Some(5));
    let advances = keyed(&moves, "silae:100200:2026-10:acomptes");
    assert_eq!(advances["ref"], "ACOMPTES OCTOBRE 2026");
    let payroll = keyed(&moves, "silae:100200:2026-10:journal-de-paie-octobre-2026");
    assert_ne!(payroll["journal_id"], lot["journal_id"], "payments go to the payments journal");
    assert_eq!(lot["journal_id"], advances["journal_id"]);
    // Each move carries its own Silae answer.
    let names: Vec<String> =
        w.odoo().attachments().iter().filter_map(|a| a["name"].as_str().map(str::to_owned)).collect();
    for name in
        ["silae-100200-2026-10.json", "silae-100200-2026-10-virement-1.json", "silae-100200-2026-10-acomptes.json"]
    {
        assert!(names.iter().any(|n| n == name), "{name} not in {names:?}");
    }
    // The run's totals name each move (the payments as their batch).
    let journals: Vec<&str> = r.plans.iter().map(|p| p["journal"].as_str().unwrap()).collect();
    assert_eq!(journals, ["SAL", "BNK1", "BNK1"], "the preview and the log show each move's journal");
    let labels: Vec<&str> = r.outcome.totals.as_ref().unwrap().ruptures.iter().map(|t| t.label.as_str()).collect();
    assert_eq!(labels, ["Journal de paie - Octobre 2026", "Lot de virement 1", "Acomptes"]);
    // Typed for the import log: the batch's number, or the advances.
    let paid: Vec<Option<Source>> = r.outcome.totals.as_ref().unwrap().ruptures.iter().map(|t| t.payment).collect();
    assert_eq!(paid, [None, Some(Source::Batch(1)), Some(Source::Advances)]);
    let json = serde_json::to_value(&r.outcome).unwrap();
    assert_eq!(json["totals"]["ruptures"][1]["payment"], json!({"kind": "batch", "batch": 1}));
    assert!(json["totals"]["ruptures"][0].get("payment").is_none(), "the payroll's rupture has none");

    let net = r.outcome.net_pay.unwrap();
    assert_eq!((net.due_cents, net.paid_cents, net.difference_cents), (4_609_576, 3_796_031, -813_545));
    assert!(
        r.message.ends_with("net pay (421): due 46095.76, paid 37960.31: not matched, difference -8135.45"),
        "{}",
        r.message
    );
    // Again: nothing more.
    let again = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(again.status, Status::AlreadyImported, "{}", again.message);
    assert_eq!(w.odoo().moves().len(), 3);

    // Silae publishes batch 2: the same import adds it alone.
    w.silae.publish_late_batches("100200", "2026-10");
    let late = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(late.status, Status::Imported, "{}", late.message);
    let moves = w.odoo().moves();
    assert_eq!(moves.len(), 4);
    let lot2 = keyed(&moves, "silae:100200:2026-10:virement-2");
    assert_eq!(
        (lot2["ref"].as_str(), lot2["date"].as_str()),
        (Some("VIREMENTS SALAIRES OCTOBRE 2026 - LOT 2"), Some("2026-11-04"))
    );
    // The 421 lines of the four moves net to zero, to the cent.
    assert_eq!(late.plans.len(), 4);
    let net: i64 = late
        .plans
        .iter()
        .flat_map(|m| m["lines"].as_array().cloned().unwrap_or_default())
        .filter(|l| l["account"].as_str().is_some_and(|a| a.starts_with("421")))
        .map(|l| l["debit_cents"].as_i64().unwrap() - l["credit_cents"].as_i64().unwrap())
        .sum();
    assert_eq!(net, 0);
    assert_eq!(late.outcome.net_pay.map(|n| n.difference_cents), Some(0));
    assert!(late.message.ends_with("matched to the cent"), "{}", late.message);
}

#[tokio::test]
async fn a_batch_one_cent_short_is_imported_and_the_difference_named() {
    let w = World::start().await;
    let agent = w.agent();
    add_dossier(&agent, &paying("100300"));
    let r = import(&agent, "100300", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    assert_eq!(w.odoo().moves().len(), 3, "two establishments' payroll moves and the batch");
    let net = r.outcome.net_pay.clone().unwrap();
    assert_eq!((net.due_cents, net.paid_cents, net.difference_cents), (11_854_378, 11_854_377, -1));
    assert!(r.outcome.french().contains("non soldé, écart -0,01\u{a0}€"), "{}", r.outcome.french());
}

#[tokio::test]
async fn without_the_setting_nothing_of_the_payments_is_asked_or_written() {
    let w = World::start().await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported);
    assert_eq!(w.odoo().moves().len(), 1);
    assert!(w.silae.requests().iter().all(|q| !q.path.contains("Paiement")), "no payment endpoint asked");
}

#[tokio::test]
async fn a_late_batch_is_imported_by_the_next_daily_run() {
    let w = World::start().await;
    let agent = w.agent();
    let mut d = paying("100200");
    d.start_period = Some("2026-10".parse().unwrap());
    add_dossier(&agent, &d);
    let day = |s: &str| s.parse::<jiff::civil::Date>().unwrap();
    let r = run_due(&agent, day("2026-11-05"), 4).await;
    assert_eq!(r.iter().map(|r| r.status).collect::<Vec<_>>(), [Status::Imported]);
    assert_eq!(w.odoo().moves().len(), 3);
    // The next day: looked at again, nothing new.
    let r = run_due(&agent, day("2026-11-06"), 4).await;
    assert_eq!(
        r.iter().map(|r| (r.period.as_str(), r.status)).collect::<Vec<_>>(),
        [("2026-10", Status::AlreadyImported)]
    );
    w.silae.publish_late_batches("100200", "2026-10");
    let r = run_due(&agent, day("2026-11-07"), 4).await;
    assert_eq!(r.iter().map(|r| r.status).collect::<Vec<_>>(), [Status::Imported], "{}", r[0].message);
    assert_eq!(w.odoo().moves().len(), 4);
    // Without the setting, a done period is not run again.
    let mut off = agent.store().dossier("100200").unwrap();
    off.payments = false;
    add_dossier(&agent, &off);
    assert!(run_due(&agent, day("2026-11-08"), 4).await.is_empty());
}

#[tokio::test]
async fn the_odoo_calls_of_an_import_do_not_grow_with_the_payment_lines() {
    let w = World::start().await;
    let agent = w.agent();
    add_dossier(&agent, &paying("100200"));
    // Authenticated first: the session is remembered, and counted apart (docs/odoo-protocol.md).
    agent.odoo().await.ok().unwrap().connect(None).await.unwrap();
    let (mut counts, mut batch_lines) = (Vec::new(), Vec::new());
    for (i, employees) in [2usize, 2_000].into_iter().enumerate() {
        let period = ["2026-10", "2026-11"][i];
        w.silae.set_payload("100200", period, payroll_of(period, employees));
        w.silae.set_payments("100200", period, payments_of(period, employees));
        w.silae.set_periode_en_cours("100200", "2027-01");
        w.odoo().reset_calls();
        let r = import(&agent, "100200", period, false).await;
        assert_eq!(r.status, Status::Imported, "{}", r.message);
        counts.push(w.odoo().calls().len());
        let totals = r.outcome.totals.unwrap();
        batch_lines.push(totals.ruptures.iter().filter(|t| t.payment.is_some()).map(|t| t.lines).collect::<Vec<_>>());
    }
    assert_eq!(
        batch_lines,
        [vec![2, 2], vec![1_001, 1_001]],
        "two batches of 1 and of 1,000 employees, and their bank line"
    );
    assert_eq!(counts[0], counts[1], "Odoo calls with batches of 2 and of 1,001 lines: {counts:?}");
    assert_eq!(counts[0], 1, "one payflow_import_plan call, payments included: {counts:?}");
}

/// Issue 20 without the addon (standard write mode): a simulated Odoo 18 without payflow_silae.
async fn without_addon() -> World {
    let mut cfg = payflow_sim::odoo::OdooSimConfig::demo(18);
    cfg.password = ODOO_SECRET.into();
    cfg.addon_installed = false;
    let w = World::start_with(cfg).await;
    w.write_config("write_mode = \"standard\"");
    w
}

/// The period's lines on these accounts: (line id, balance in cents, full_reconcile_id).
fn net_pay_lines(w: &World, accounts: &[i64]) -> Vec<(i64, i64, Value)> {
    w.odoo()
        .moves()
        .iter()
        .flat_map(|m| m["line_ids"].as_array().cloned().unwrap_or_default())
        .filter(|l| l["account_id"].as_i64().is_some_and(|a| accounts.contains(&a)))
        .map(|l| {
            let full = l.get("full_reconcile_id").cloned().unwrap_or(Value::Null);
            (l["id"].as_i64().unwrap(), cents(&l["debit"]) - cents(&l["credit"]), full)
        })
        .collect()
}

fn reconcile_calls(w: &World) -> usize {
    w.odoo().calls().iter().filter(|(m, f)| m == "account.move.line" && f == "reconcile").count()
}

fn in_odoo(r: &payflow_agent::run::RunReport) -> Option<InOdoo> {
    r.outcome.net_pay.as_ref().and_then(|n| n.odoo.clone())
}

#[tokio::test]
async fn without_the_addon_the_run_that_finds_the_period_posted_reconciles_its_421_lines() {
    let w = without_addon().await;
    let agent = w.agent();
    add_dossier(&agent, &paying("100200"));
    w.silae.publish_late_batches("100200", "2026-10");
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    let moves = w.odoo().moves();
    assert_eq!(moves.len(), 4, "the payroll, two batches, the advances");
    // Drafts: nothing reconciled (Odoo reconciles posted lines only; posting is the accountant's).
    assert_eq!(in_odoo(&r), Some(InOdoo::NotPosted { drafts: 4 }), "{}", r.message);
    assert!(r.message.contains("4 of the period's moves not posted"), "{}", r.message);
    let ids: Vec<i64> = moves.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    let payroll = moves.iter().find(|m| m["journal_id"] != moves[1]["journal_id"]).unwrap()["id"].as_i64().unwrap();
    for id in ids.iter().filter(|id| **id != payroll) {
        w.odoo().post_move(*id);
    }
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!((r.status, in_odoo(&r)), (Status::AlreadyImported, Some(InOdoo::NotPosted { drafts: 1 })));
    assert_eq!(reconcile_calls(&w), 0);
    // All posted, 421000 without "Allow Reconciliation": Odoo's refusal told, nothing done.
    w.odoo().post_move(payroll);
    let r = import(&agent, "100200", "2026-10", false).await;
    match in_odoo(&r) {
        Some(InOdoo::Failed { detail }) => assert!(detail.contains("does not allow reconciliation"), "{detail}"),
        other => panic!("{other:?}: {}", r.message),
    }
    let net_pay = w.odoo().set_account_reconcile("421000", true);
    assert!(net_pay_lines(&w, &net_pay).iter().all(|(_, _, full)| full.is_null() || *full == json!(false)));
    // The next run reconciles every 421 line, in one reconcile call, the balance 0.00.
    w.odoo().reset_calls();
    let r = import(&agent, "100200", "2026-10", false).await;
    let lines = net_pay_lines(&w, &net_pay);
    assert_eq!(lines.len(), 8, "the payroll's 421 line and the payments' (one per employee): {lines:?}");
    assert_eq!(
        (r.status, in_odoo(&r)),
        (Status::AlreadyImported, Some(InOdoo::Reconciled { lines: 8 })),
        "{}",
        r.message
    );
    assert_eq!(lines.iter().map(|(_, b, _)| b).sum::<i64>(), 0);
    assert!(lines.iter().all(|(_, _, full)| full.as_i64().is_some() && *full == lines[0].2), "{lines:?}");
    assert!(r.message.ends_with("matched to the cent; 8 lines on 421 reconciled in Odoo"), "{}", r.message);
    assert!(r.outcome.french().ends_with(" 8 lignes du 421 lettrées dans Odoo."), "{}", r.outcome.french());
    assert_eq!(reconcile_calls(&w), 1);
    assert_eq!(w.odoo().moves().len(), 4, "nothing written, nothing posted");
    // Again: nothing left open, nothing asked.
    w.odoo().reset_calls();
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(in_odoo(&r), Some(InOdoo::Reconciled { lines: 0 }), "{}", r.message);
    assert_eq!(reconcile_calls(&w), 0);
}

#[tokio::test]
async fn without_the_addon_one_cent_short_leaves_the_421_lines_open_and_names_the_difference() {
    let w = without_addon().await;
    let agent = w.agent();
    add_dossier(&agent, &paying("100300"));
    let net_pay = w.odoo().set_account_reconcile("421000", true);
    assert_eq!(import(&agent, "100300", "2026-10", false).await.status, Status::Imported);
    for m in w.odoo().moves() {
        w.odoo().post_move(m["id"].as_i64().unwrap());
    }
    let r = import(&agent, "100300", "2026-10", false).await;
    let lines = net_pay_lines(&w, &net_pay);
    let open = lines.len() as i64;
    assert_eq!(in_odoo(&r), Some(InOdoo::Open { lines: open, difference_cents: -1 }), "{}", r.message);
    assert!(r.message.contains("not matched, difference -0.01"), "{}", r.message);
    assert!(
        r.message.ends_with(&format!("{open} lines on 421 left open in Odoo (their balance -0.01)")),
        "{}",
        r.message
    );
    assert_eq!(reconcile_calls(&w), 0);
    assert!(lines.iter().all(|(_, _, full)| full.as_i64().is_none()), "{lines:?}");
}

#[tokio::test]
async fn without_the_addon_reconciling_takes_the_same_odoo_calls_whatever_the_lines() {
    let w = without_addon().await;
    let agent = w.agent();
    add_dossier(&agent, &paying("100200"));
    w.odoo().set_account_reconcile("421000", true);
    let mut counts = Vec::new();
    for (i, employees) in [2usize, 500].into_iter().enumerate() {
        let period = ["2026-10", "2026-11"][i];
        w.silae.set_payload("100200", period, payroll_of(period, employees));
        w.silae.set_payments("100200", period, payments_of(period, employees));
        w.silae.set_periode_en_cours("100200", "2027-01");
        assert_eq!(import(&agent, "100200", period, false).await.status, Status::Imported);
        for m in w.odoo().moves().iter().filter(|m| m["state"] == "draft") {
            w.odoo().post_move(m["id"].as_i64().unwrap());
        }
        w.odoo().reset_calls();
        let r = import(&agent, "100200", period, false).await;
        assert_eq!(in_odoo(&r), Some(InOdoo::Reconciled { lines: employees as i64 * 2 }), "{}", r.message);
        counts.push(w.odoo().calls());
    }
    assert_eq!(counts[0], counts[1], "the same calls with 4 and with 1,000 lines on 421");
    // On the lines: one read of the open 421 lines, one reconcile (one 421 account).
    let on_lines: Vec<&str> =
        counts[0].iter().filter(|(m, _)| m == "account.move.line").map(|(_, f)| f.as_str()).collect();
    assert_eq!(on_lines, ["search_read", "reconcile"], "{:?}", counts[0]);
}

/// A payroll of `n` employees, each paid 1,000.01: one 421 credit line per employee.
fn payroll_of(period: &str, n: usize) -> Vec<u8> {
    let (start, end) = bounds(period);
    let mut lines = vec![line(&end, "64110000", "Salaires", "D", n as i64 * 100_001)];
    for i in 0..n {
        lines.push(line(&end, "42100000", &format!("Net à payer {i:03}"), "C", 100_001));
    }
    let total = amount(n as i64 * 100_001);
    json!({"numeroDossier": "100200", "periodeDebut": start, "periodeFin": end,
           "ruptures": [{"libelle": "Paie", "totalDebit": total, "totalCredit": total, "ecritures": lines}]})
    .to_string()
    .into_bytes()
}

/// Two batches paying half the employees each, one line per employee.
fn payments_of(period: &str, n: usize) -> Value {
    let (start, end) = bounds(period);
    let batch = |number: usize, from: usize, to: usize| {
        let mut lines: Vec<Value> =
            (from..to).map(|i| line(&end, "42100000", &format!("Virement {i:03}"), "D", 100_001)).collect();
        let paid = (to - from) as i64 * 100_001;
        lines.push(line(&end, "51200000", "Banque", "C", paid));
        json!({"numeroLotVirement": number, "date": end, "ecritures": {"numeroDossier": "100200",
               "periodeDebut": start, "periodeFin": end,
               "ruptures": [{"libelle": "Paie", "totalDebit": amount(paid), "totalCredit": amount(paid), "ecritures": lines}]}})
    };
    json!({"lotsVirement": [batch(1, 0, n / 2), batch(2, n / 2, n)]})
}

fn bounds(period: &str) -> (String, String) {
    let p: payflow_agent::period::Period = period.parse().unwrap();
    (format!("{}T00:00:00", p.first_day()), format!("{}T00:00:00", p.last_day()))
}

fn amount(cents: i64) -> Value {
    serde_json::from_str(&format!("{}.{:02}", cents / 100, cents % 100)).unwrap()
}

fn line(end: &str, account: &str, label: &str, sens: &str, cents: i64) -> Value {
    json!({"codeJournal": "PA", "periode": end, "compte": account, "libelle": label, "sens": sens,
           "indexRepartition": 0, "valeur": amount(cents), "pctRepartition": 100.0})
}
