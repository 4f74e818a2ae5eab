//! Salary payments (docs/payments.md) on the real Odoo of a series, by real `payflow-agent`
//! processes: two transfer batches (the second published by Silae after the payroll's import,
//! picked up by the next `run-due`) and one advance become the payroll move, two payment moves
//! and one advance move; posted as an accountant would, every 421 line is fully reconciled to
//! 0.00 by the addon; re-runs create nothing; a batch one cent short leaves the lines open and
//! the difference named, in the run and in the payroll move's chatter.

use serde_json::{json, Value};

use super::Real;
use crate::util::*;

/// The payments journal the scenario writes in: a bank journal of company 1.
pub(super) const JOURNAL: &str = "PFVIR";

impl Real {
    /// The payments journal (created once) and the code of its bank account; 421000 allows
    /// reconciliation (Odoo reconciles only such accounts).
    pub(super) async fn payments_journal(&self) -> String {
        let found = self
            .search("account.journal", json!([["code", "=", JOURNAL], ["company_id", "=", 1]]), &["default_account_id"])
            .await;
        let account = match found.first() {
            Some(j) => j["default_account_id"][0].as_i64(),
            None => {
                let id = self
                    .create(
                        "account.journal",
                        json!({"name": "PayFlow virements", "code": JOURNAL, "type": "bank", "company_id": 1}),
                    )
                    .await;
                let j = self.search("account.journal", json!([["id", "=", id]]), &["default_account_id"]).await;
                j[0]["default_account_id"][0].as_i64()
            }
        }
        .expect("the payments journal has its bank account");
        let ctx = json!({"allowed_company_ids": [1]});
        let bank = self
            .ok(
                "account.account",
                "search_read",
                None,
                json!({"domain": [["id", "=", account]], "fields": ["code"], "context": ctx}),
            )
            .await;
        let net_pay = self
            .ok(
                "account.account",
                "search_read",
                None,
                json!({"domain": [["code", "=", "421000"]], "fields": ["id"], "context": ctx}),
            )
            .await;
        let ids: Vec<i64> = net_pay.as_array().unwrap().iter().filter_map(|a| a["id"].as_i64()).collect();
        assert!(!ids.is_empty(), "real Odoo {}: no 421000 account", self.series);
        self.ok("account.account", "write", Some(json!(ids)), json!({"vals": {"reconcile": true}, "context": ctx}))
            .await;
        bank[0]["code"].as_str().expect("the bank account's code").to_owned()
    }

    /// The 421 lines of these moves: (balance in cents, fully reconciled).
    pub(super) async fn net_pay_lines(&self, moves: &[i64]) -> Vec<(i64, bool)> {
        self.search(
            "account.move.line",
            json!([["move_id", "in", moves], ["account_id.code", "=like", "421%"]]),
            &["balance", "full_reconcile_id"],
        )
        .await
        .iter()
        .map(|l| (cents(&l["balance"]), l["full_reconcile_id"].is_array()))
        .collect()
    }

    /// The bodies of the messages in a move's chatter.
    async fn chatter(&self, move_id: i64) -> Vec<String> {
        self.search("mail.message", json!([["model", "=", "account.move"], ["res_id", "=", move_id]]), &["body"])
            .await
            .iter()
            .filter_map(|m| m["body"].as_str().map(str::to_owned))
            .collect()
    }

    pub(super) async fn post(&self, ids: &[i64]) {
        self.ok("account.move", "action_post", Some(json!(ids)), json!({})).await;
    }
}

fn ids_of<'a>(moves: impl IntoIterator<Item = &'a Value>) -> Vec<i64> {
    moves.into_iter().filter_map(|m| m["id"].as_i64()).collect()
}

fn is_payment(m: &Value) -> bool {
    m["payflow_import_key"].as_str().is_some_and(|k| k.ends_with(":acomptes") || k.contains(":virement-"))
}

/// `payflow-agent run-due --date <day> --json` as a process of its own: its runs.
fn run_due(w: &World, config: &std::path::Path, day: &str) -> Vec<Value> {
    let out = w.output(&mut w.cli_command(config, &["run-due", "--date", day, "--json"]));
    assert!(out.status.success(), "run-due {day}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn statuses(runs: &[Value]) -> Vec<(String, String)> {
    runs.iter().map(|r| (r["period"].as_str().unwrap().to_owned(), r["status"].as_str().unwrap().to_owned())).collect()
}

pub(super) async fn scenario(real: &Real, w: &World) {
    let series = real.series;
    real.cleanup().await;
    let bank = real.payments_journal().await;
    // An instance of its own (its own data folder), run as the daily timer runs it.
    let config = w.config_at("payments");
    let agent = w.agent_at("payments");
    let paying = |number: &str| {
        let mut d = dossier(number, 5);
        d.payments = true;
        d.payments_journal = Some(JOURNAL.into());
        d.account_map.insert("51200000".into(), bank.clone());
        d.start_period = Some("2026-10".parse().unwrap());
        d
    };
    add_dossier(&agent, &paying("100200"));
    let period = |moves: &[Value]| {
        moves
            .iter()
            .filter(|m| m["payflow_import_key"].as_str().is_some_and(|k| k.starts_with("silae:100200:2026-10:")))
            .cloned()
            .collect::<Vec<_>>()
    };

    // The day the payroll is due: the payroll, batch 1 and the advances (batch 2 not yet in Silae).
    let runs = run_due(w, &config, "2026-11-05");
    assert_eq!(statuses(&runs), [("2026-10".into(), "imported".into())], "Odoo {series}: {runs:?}");
    let moves = period(&real.moves().await);
    let refs: Vec<&str> = moves.iter().filter_map(|m| m["ref"].as_str()).collect();
    assert_eq!(
        refs,
        ["SALAIRES OCTOBRE 2026", "VIREMENTS SALAIRES OCTOBRE 2026 - LOT 1", "ACOMPTES OCTOBRE 2026"],
        "Odoo {series}"
    );
    // The next day: looked at again, nothing new.
    let runs = run_due(w, &config, "2026-11-06");
    assert_eq!(statuses(&runs), [("2026-10".into(), "already_imported".into())], "Odoo {series}: {runs:?}");
    assert_eq!(period(&real.moves().await).len(), 3);

    // Silae publishes batch 2: the next daily run imports it alone, and the net pay matches.
    w.silae.publish_late_batches("100200", "2026-10");
    let runs = run_due(w, &config, "2026-11-07");
    assert_eq!(statuses(&runs), [("2026-10".into(), "imported".into())], "Odoo {series}: {runs:?}");
    assert_eq!(runs[0]["outcome"]["net_pay"]["difference_cents"], 0, "{}", runs[0]["message"]);
    assert!(runs[0]["message"].as_str().unwrap().ends_with("matched to the cent"), "{}", runs[0]["message"]);
    let moves = period(&real.moves().await);
    assert_eq!(moves.len(), 4, "the payroll, two batches, the advances: {moves:?}");
    let lot2 = moves.iter().find(|m| m["payflow_import_key"] == "silae:100200:2026-10:virement-2").unwrap();
    assert_eq!(
        (lot2["ref"].as_str(), lot2["date"].as_str(), lot2["state"].as_str()),
        (Some("VIREMENTS SALAIRES OCTOBRE 2026 - LOT 2"), Some("2026-11-04"), Some("draft"))
    );
    let runs = run_due(w, &config, "2026-11-08");
    assert_eq!(statuses(&runs), [("2026-10".into(), "already_imported".into())], "Odoo {series}: {runs:?}");

    // Posted as an accountant would: the payments first (nothing to reconcile yet), then the
    // payroll: every 421 line fully reconciled, their balance 0.00.
    let (payments, payroll): (Vec<&Value>, Vec<&Value>) = moves.iter().partition(|m| is_payment(m));
    let (payments, payroll) = (ids_of(payments), ids_of(payroll));
    let all = ids_of(&moves);
    real.post(&payments).await;
    assert!(real.net_pay_lines(&all).await.iter().all(|(_, full)| !full), "Odoo {series}: reconciled too early");
    real.post(&payroll).await;
    let lines = real.net_pay_lines(&all).await;
    assert_eq!(lines.len(), 8, "Odoo {series}: {lines:?}");
    assert!(lines.iter().all(|(_, full)| *full), "Odoo {series}: every 421 line has full_reconcile_id: {lines:?}");
    assert_eq!(lines.iter().map(|(b, _)| b).sum::<i64>(), 0, "Odoo {series}: the 421 balance is 0.00");
    let said = real.chatter(payroll[0]).await;
    let note = said.iter().find(|b| b.contains("421")).unwrap_or_else(|| panic!("Odoo {series}: {said:?}"));
    for id in &payments {
        assert!(note.contains(&format!("data-oe-id=\"{id}\"")), "the payroll's chatter links payment {id}: {note}");
    }
    // Re-runs create nothing (posted moves are never touched).
    let runs = run_due(w, &config, "2026-11-09");
    assert_eq!(statuses(&runs), [("2026-10".into(), "already_imported".into())], "Odoo {series}: {runs:?}");
    assert_eq!(period(&real.moves().await).len(), 4);
    real.cleanup().await;

    // A batch one cent short: imported, posted, the 421 lines left open and the difference named.
    let mut d = paying("100300");
    d.analytic.insert("1".into(), "PARIS".into());
    d.analytic.insert("2".into(), "LYON".into());
    add_dossier(&agent, &d);
    let r = import(&agent, "100300", "2026-10", false).await;
    assert_eq!(r.status, payflow_agent::import::Status::Imported, "{}", r.message);
    assert!(r.message.ends_with("not matched, difference -0.01"), "{}", r.message);
    let moves = real.moves().await;
    assert_eq!(moves.len(), 3, "two establishments' payroll moves and the batch: {moves:?}");
    let all = ids_of(&moves);
    real.post(&all).await;
    let lines = real.net_pay_lines(&all).await;
    assert_eq!(lines.len(), 7, "Odoo {series}: {lines:?}");
    assert!(lines.iter().all(|(_, full)| !full), "Odoo {series}: one cent short stays open: {lines:?}");
    assert_eq!(lines.iter().map(|(b, _)| b).sum::<i64>(), -1, "Odoo {series}: 0.01 still due");
    let payroll = moves.iter().find(|m| !is_payment(m)).and_then(|m| m["id"].as_i64()).unwrap();
    let said = real.chatter(payroll).await;
    assert!(
        said.iter().any(|b| b.contains("421") && (b.contains("0.01") || b.contains("0,01"))),
        "Odoo {series}: the payroll's chatter names the difference: {said:?}"
    );
    let again = import(&agent, "100300", "2026-10", false).await;
    assert_eq!(again.status, payflow_agent::import::Status::AlreadyImported, "{}", again.message);
    assert_eq!(real.moves().await.len(), 3);
    real.cleanup().await;
}
