//! Salary payments: Silae's entries of a period's transfer batches (*lots de virement*,
//! `EcrituresComptablesPaiementSalaires` per `numeroLotVirement`) and advances (*acomptes*,
//! `EcrituresComptablesPaiementAcomptes`) become one checked move plan each, for the dossier's
//! payments journal; and the net pay account (421) of a period is judged reconciled or open.
//! Pure code, like `journal`: no I/O, no clock, no float in a sum (`fetch` reads Silae
//! around it). docs/payments.md.
//!
//! The entries come in the payroll's shape (`EcrituresComptablesAvecRuptures`), so `journal`
//! checks them: every problem at once, each rupture balanced and equal to Silae's totals, to the
//! cent. A batch's ruptures (one per establishment) then make **one** move: one batch is one
//! transfer order, one bank movement.

pub mod fetch;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::journal::{self, MovePlan, Problems};
use crate::money::Cents;
use crate::period::Period;
use crate::silae::wire::EcrituresComptablesAvecRuptures;

/// What a payment move pays; in a run's outcome `{"kind":"batch","batch":2}` or
/// `{"kind":"advances"}` (each rupture total's `payment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "batch")]
pub enum Source {
    /// A transfer batch, by Silae's `numeroLotVirement`.
    Batch(i32),
    /// The advances of the period.
    Advances,
}

impl Source {
    /// The last part of the move's import key: `virement-<N>` or `acomptes`.
    pub fn key_part(self) -> String {
        match self {
            Source::Batch(n) => format!("virement-{n}"),
            Source::Advances => "acomptes".to_owned(),
        }
    }

    /// The import key: `silae:<dossier>:<YYYY-MM>:virement-<N>` / `…:acomptes`. It shares the
    /// period's prefix with the payroll's keys, so one search finds the whole period.
    pub fn import_key(self, dossier: &str, period: Period) -> String {
        format!("silae:{dossier}:{period}:{}", self.key_part())
    }

    /// The move's French reference: `VIREMENTS SALAIRES OCTOBRE 2026 - LOT 2`,
    /// `ACOMPTES OCTOBRE 2026`.
    pub fn reference(self, period: Period) -> String {
        match self {
            Source::Batch(n) => format!("VIREMENTS SALAIRES {} {} - LOT {n}", period.french_month(), period.year()),
            Source::Advances => format!("ACOMPTES {} {}", period.french_month(), period.year()),
        }
    }

    /// The label shown where a rupture's would be (run outcomes, the import log).
    pub fn label(self) -> String {
        match self {
            Source::Batch(n) => format!("Lot de virement {n}"),
            Source::Advances => "Acomptes".to_owned(),
        }
    }
}

impl Source {
    /// What a payment move's import key pays (its last part is `virement-<digits>` or
    /// `acomptes`); `None` for any other key.
    pub fn of_key(key: &str) -> Option<Source> {
        let last = key.splitn(4, ':').nth(3)?;
        if last == "acomptes" {
            return Some(Source::Advances);
        }
        let n = last.strip_prefix("virement-").filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))?;
        n.parse().ok().map(Source::Batch)
    }
}

/// Whether an import key is a payment move's (its last part is `virement-<digits>` or
/// `acomptes`): the payroll's rename check leaves those keys alone.
pub fn is_payment_key(key: &str) -> bool {
    Source::of_key(key).is_some()
}

/// One batch's (or the advances') entries as one move plan, or every problem at once; `None`
/// when Silae has no line for it (nothing to write). The move is dated on the batch's date
/// when Silae gives one within the period or after it, else on the period's last day.
pub fn plan(
    dossier: &str,
    period: Period,
    source: Source,
    date: Option<jiff::civil::Date>,
    payload: &EcrituresComptablesAvecRuptures,
    account_map: &BTreeMap<String, String>,
) -> Result<Option<MovePlan>, Problems> {
    let checked = journal::plan(dossier, period, payload, account_map).map_err(|p| name_source(p, source))?;
    let lines: Vec<_> = checked.moves.into_iter().flat_map(|m| m.lines).collect();
    if lines.is_empty() {
        return Ok(None);
    }
    // Each rupture balanced on its own (checked above), so their union does too.
    let total_debit: Cents = lines.iter().map(|l| l.debit).sum();
    let total_credit: Cents = lines.iter().map(|l| l.credit).sum();
    let date = date.filter(|d| *d >= period.first_day()).unwrap_or_else(|| period.last_day());
    let import_key = source.import_key(dossier, period);
    let payload_hash = journal::hash_lines(&import_key, period, &lines, total_debit, total_credit);
    Ok(Some(MovePlan {
        rupture: 1,
        rupture_label: source.label(),
        code_journal: None,
        import_key,
        legacy_key: None,
        reference: source.reference(period),
        date,
        lines,
        total_debit,
        total_credit,
        payload_hash,
    }))
}

/// A period's net pay for the run's outcome: its payroll moves against its payment moves (told
/// apart by their keys).
pub fn net_pay(plan: &journal::ImportPlan) -> crate::outcome::NetPay {
    let (paid, payroll): (Vec<&MovePlan>, Vec<&MovePlan>) =
        plan.moves.iter().partition(|m| is_payment_key(&m.import_key));
    match reconciliation(&payroll, &paid) {
        Reconciliation::Balanced { amount } => {
            crate::outcome::NetPay { due_cents: amount.0, paid_cents: amount.0, difference_cents: 0, odoo: None }
        }
        Reconciliation::Open { due, paid, difference } => {
            crate::outcome::NetPay { due_cents: due.0, paid_cents: paid.0, difference_cents: difference.0, odoo: None }
        }
    }
}

/// The chatter message of a payment move, in French: accountants read it.
pub fn chatter_message(name: &str, number: &str, period: Period, m: &MovePlan) -> String {
    let esc = crate::import::escape;
    format!(
        "<p>Paiement des salaires importé de Silae par PayFlow {}.</p><ul><li>Dossier : {} ({})</li><li>Période : {}</li>\
         <li>{}</li><li>Total : {}</li><li>{} lignes</li><li>Clé d'import : {}</li></ul>",
        env!("CARGO_PKG_VERSION"),
        esc(name),
        esc(number),
        period,
        esc(&m.rupture_label),
        crate::outcome::fr_amount(m.total_debit.0),
        m.lines.len(),
        esc(&m.import_key)
    )
}

/// Problems name their rupture; a payment's also name their batch (or the advances).
fn name_source(mut problems: Problems, source: Source) -> Problems {
    use crate::journal::Problem::*;
    for p in &mut problems.0 {
        match p {
            MissingField { at, .. }
            | BadAmount { at, .. }
            | BadSens { at, .. }
            | LineOutsidePeriod { at, .. }
            | Unbalanced { at, .. }
            | TotalMismatch { at, .. } => at.label = format!("{}, {}", source.label(), at.label),
            DossierMismatch { .. } | PeriodMismatch { .. } => {}
        }
    }
    problems
}

/// Whether a Silae account is net pay due to employees (`421…`, *Personnel - rémunérations dues*).
pub fn is_net_pay(account: &str) -> bool {
    account.starts_with("421")
}

/// The balance (debit − credit) of the net pay lines of these moves.
pub fn net_pay_balance(moves: &[&MovePlan]) -> Cents {
    moves.iter().flat_map(|m| &m.lines).filter(|l| is_net_pay(&l.account)).map(|l| Cents(l.debit.0 - l.credit.0)).sum()
}

/// A period's net pay, judged from its payroll move(s) and its payment moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Reconciliation {
    /// What the payroll owes is paid to the cent: the 421 lines can be reconciled.
    Balanced { amount: Cents },
    /// Left open: `due` (the payroll's 421 credit), `paid` (the payments' 421 debit) and
    /// `difference` = paid − due (negative: not all paid yet, or paid short).
    Open { due: Cents, paid: Cents, difference: Cents },
}

/// Judges a period: `payroll` its payroll moves, `payments` its payment moves.
pub fn reconciliation(payroll: &[&MovePlan], payments: &[&MovePlan]) -> Reconciliation {
    let due = Cents(-net_pay_balance(payroll).0);
    let paid = net_pay_balance(payments);
    if due == paid {
        Reconciliation::Balanced { amount: due }
    } else {
        Reconciliation::Open { due, paid, difference: Cents(paid.0 - due.0) }
    }
}

/// Where a period's net pay (421) stands in Odoo after a run in standard write mode (no addon),
/// where the agent reconciles it itself once everything is posted (docs/payments.md). In a run's
/// outcome as `net_pay.odoo`: `{"state":"reconciled","lines":7}`…
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum InOdoo {
    /// `drafts` of the period's moves are not posted: nothing done (Odoo reconciles posted lines
    /// only, and posting is the accountant's); the first run after they are posted does it.
    NotPosted { drafts: i64 },
    /// `lines` open lines on 421 reconciled by this run with Odoo's `reconcile` (0: none was
    /// left open, the period was already reconciled).
    Reconciled { lines: i64 },
    /// Left open: the `lines` open 421 lines balance to `difference_cents` (paid − due), or to
    /// zero but not account by account (`difference_cents` 0).
    Open { lines: i64, difference_cents: i64 },
    /// Odoo could not be read or refused the reconciliation (`detail`, its message); nothing
    /// done, the next run tries again.
    Failed { detail: String },
}

/// An open line on a 421 account in Odoo: its id, its account's id, its balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenLine {
    pub id: i64,
    pub account_id: i64,
    pub balance: Cents,
}

/// What to reconcile among a period's open 421 lines (all its moves posted): the lines of
/// each account (Odoo reconciles one account at a time), when they balance to the cent, in
/// total and per account; else what stays open. No line open: nothing to do (`Ok(empty)`).
pub fn to_reconcile(lines: &[OpenLine]) -> Result<Vec<Vec<i64>>, InOdoo> {
    let total: Cents = lines.iter().map(|l| l.balance).sum();
    let mut by_account: BTreeMap<i64, (Cents, Vec<i64>)> = BTreeMap::new();
    for l in lines {
        let (sum, ids) = by_account.entry(l.account_id).or_insert((Cents(0), Vec::new()));
        *sum = *sum + l.balance;
        ids.push(l.id);
    }
    if total != Cents(0) || by_account.values().any(|(sum, _)| *sum != Cents(0)) {
        return Err(InOdoo::Open { lines: lines.len() as i64, difference_cents: total.0 });
    }
    Ok(by_account.into_values().map(|(_, ids)| ids).collect())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::journal::Problem;

    fn samples() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sim/samples")
    }

    /// The entries of one batch (`Some(n)`) or the advances (`None`) of a `paiements-…` sample.
    fn entries(file: &str, batch: Option<i64>) -> EcrituresComptablesAvecRuptures {
        let bytes = std::fs::read(samples().join(file)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let part = match batch {
            Some(n) => v["lotsVirement"].as_array().unwrap().iter().find(|b| b["numeroLotVirement"] == n).unwrap()
                ["ecritures"]
                .clone(),
            None => v["acomptes"].clone(),
        };
        // Through the text, as the client reads it: amounts stay exact.
        serde_json::from_str(&part.to_string()).unwrap()
    }

    fn payroll(file: &str, dossier: &str) -> journal::ImportPlan {
        let bytes = std::fs::read(samples().join(file)).unwrap();
        journal::plan(dossier, october(), &serde_json::from_slice(&bytes).unwrap(), &BTreeMap::new()).unwrap()
    }

    fn october() -> Period {
        "2026-10".parse().unwrap()
    }

    fn date(text: &str) -> Option<jiff::civil::Date> {
        Some(text.parse().unwrap())
    }

    fn one(file: &str, source: Source, batch: Option<i64>, on: Option<jiff::civil::Date>) -> MovePlan {
        let dossier = &file["paiements-".len()..][..6];
        plan(dossier, october(), source, on, &entries(file, batch), &BTreeMap::new()).unwrap().unwrap()
    }

    #[test]
    fn keys_and_references() {
        let p = october();
        assert_eq!(Source::Batch(2).import_key("100200", p), "silae:100200:2026-10:virement-2");
        assert_eq!(Source::Advances.import_key("100200", p), "silae:100200:2026-10:acomptes");
        assert_eq!(Source::Batch(2).reference(p), "VIREMENTS SALAIRES OCTOBRE 2026 - LOT 2");
        assert_eq!(Source::Advances.reference("2026-08".parse().unwrap()), "ACOMPTES AOÛT 2026");
        for (key, payment) in [
            ("silae:100200:2026-10:virement-2", true),
            ("silae:100200:2026-10:acomptes", true),
            ("silae:100200:2026-10:virement-", false),
            ("silae:100200:2026-10:virement-paris", false),
            ("silae:100200:2026-10:journal-de-paie-octobre-2026", false),
            ("silae:100200:2026-10:siret-12345678900011", false),
            ("acomptes", false),
        ] {
            assert_eq!(is_payment_key(key), payment, "{key}");
        }
        assert_eq!(Source::of_key("silae:100200:2026-10:virement-12"), Some(Source::Batch(12)));
        assert_eq!(Source::of_key("silae:100200:2026-10:acomptes"), Some(Source::Advances));
        // In the run's outcome, as the addon reads it.
        for (source, json) in
            [(Source::Batch(2), r#"{"kind":"batch","batch":2}"#), (Source::Advances, r#"{"kind":"advances"}"#)]
        {
            assert_eq!(serde_json::to_string(&source).unwrap(), json);
            assert_eq!(serde_json::from_str::<Source>(json).unwrap(), source);
        }
    }

    #[test]
    fn a_batch_is_one_balanced_move_in_exact_cents() {
        let m = one("paiements-100200-2026-10.json", Source::Batch(1), Some(1), date("2026-10-30"));
        assert_eq!(m.import_key, "silae:100200:2026-10:virement-1");
        assert_eq!(m.reference, "VIREMENTS SALAIRES OCTOBRE 2026 - LOT 1");
        assert_eq!(m.date.to_string(), "2026-10-30");
        assert_eq!(m.lines.len(), 5);
        assert_eq!((m.total_debit, m.total_credit), (Cents(3_646_031), Cents(3_646_031)));
        let bank = m.lines.last().unwrap();
        assert_eq!((bank.account.as_str(), bank.credit), ("51200000", Cents(3_646_031)));
        assert_eq!(m.code_journal, None, "the dossier's payments journal, whatever Silae's code");
        // A batch paid after the month is dated on its day; a date before the period is not used.
        let late = one("paiements-100200-2026-10.json", Source::Batch(2), Some(2), date("2026-11-04"));
        assert_eq!((late.date.to_string(), late.total_debit), ("2026-11-04".into(), Cents(813_545)));
        let undated = one("paiements-100200-2026-10.json", Source::Batch(2), Some(2), date("2026-09-30"));
        assert_eq!(undated.date.to_string(), "2026-10-31");
        assert_ne!(late.payload_hash, m.payload_hash);
    }

    #[test]
    fn a_batch_of_two_establishments_is_still_one_move() {
        let m = one("paiements-100300-2026-10-one-cent-short.json", Source::Batch(1), Some(1), None);
        assert_eq!(m.lines.len(), 7);
        assert_eq!(m.total_debit, Cents(11_854_377));
        assert_eq!(m.date.to_string(), "2026-10-31");
    }

    #[test]
    fn advances_are_one_move() {
        let m = one("paiements-100200-2026-10.json", Source::Advances, None, None);
        assert_eq!(
            (m.import_key.as_str(), m.reference.as_str()),
            ("silae:100200:2026-10:acomptes", "ACOMPTES OCTOBRE 2026")
        );
        assert_eq!(m.total_credit, Cents(150_000));
    }

    #[test]
    fn nothing_paid_is_no_move_and_a_bad_batch_every_problem() {
        let empty = EcrituresComptablesAvecRuptures {
            numero_dossier: Some("100200".into()),
            periode_debut: Some("2026-10-01T00:00:00".into()),
            periode_fin: Some("2026-10-31T00:00:00".into()),
            ruptures: Some(vec![]),
        };
        assert_eq!(plan("100200", october(), Source::Advances, None, &empty, &BTreeMap::new()), Ok(None));
        let mut bad = entries("paiements-100200-2026-10.json", Some(1));
        let rupture = &mut bad.ruptures.as_mut().unwrap()[0];
        let lines = rupture.ecritures.as_mut().unwrap();
        lines[0].valeur = Some(crate::silae::wire::Decimal("12450.31".into()));
        lines[1].sens = Some("X".into());
        let problems = plan("100200", october(), Source::Batch(1), None, &bad, &BTreeMap::new()).unwrap_err();
        assert!(problems.0.iter().any(|p| matches!(p, Problem::BadSens { .. })), "{problems}");
        assert!(problems.to_string().contains("(\"Lot de virement 1, Journal de paie - Octobre 2026\")"), "{problems}");
        let wrong = plan(
            "100300",
            october(),
            Source::Batch(1),
            None,
            &entries("paiements-100200-2026-10.json", Some(1)),
            &BTreeMap::new(),
        );
        assert!(matches!(wrong.unwrap_err().0[0], Problem::DossierMismatch { .. }));
    }

    #[test]
    fn net_pay_reconciles_to_the_cent_or_names_the_difference() {
        let pay = payroll("dossier-100200-2026-10.json", "100200");
        let file = "paiements-100200-2026-10.json";
        let lot1 = one(file, Source::Batch(1), Some(1), None);
        let lot2 = one(file, Source::Batch(2), Some(2), None);
        let advances = one(file, Source::Advances, None, None);
        let moves: Vec<&MovePlan> = pay.moves.iter().collect();
        assert_eq!(
            reconciliation(&moves, &[&lot1, &lot2, &advances]),
            Reconciliation::Balanced { amount: Cents(4_609_576) }
        );
        // The late batch not imported yet: open, what is missing named.
        assert_eq!(
            reconciliation(&moves, &[&lot1, &advances]),
            Reconciliation::Open { due: Cents(4_609_576), paid: Cents(3_796_031), difference: Cents(-813_545) }
        );
        let pay = payroll("dossier-100300-2026-10-two-establishments.json", "100300");
        let short = one("paiements-100300-2026-10-one-cent-short.json", Source::Batch(1), Some(1), None);
        assert_eq!(
            reconciliation(&pay.moves.iter().collect::<Vec<_>>(), &[&short]),
            Reconciliation::Open { due: Cents(11_854_378), paid: Cents(11_854_377), difference: Cents(-1) }
        );
    }

    #[test]
    fn open_421_lines_are_reconciled_per_account_only_when_they_balance_to_the_cent() {
        let line = |id, account_id, cents| OpenLine { id, account_id, balance: Cents(cents) };
        let balanced = [line(1, 7, -4_609_576), line(2, 7, 3_646_031), line(3, 7, 813_545), line(4, 7, 150_000)];
        assert_eq!(to_reconcile(&balanced), Ok(vec![vec![1, 2, 3, 4]]));
        let short = [line(1, 7, -11_854_378), line(2, 7, 11_854_377)];
        assert_eq!(to_reconcile(&short), Err(InOdoo::Open { lines: 2, difference_cents: -1 }));
        // Two 421 accounts: one reconcile each, when each balances.
        let two = [line(1, 7, -100), line(2, 8, -50), line(3, 7, 100), line(4, 8, 50)];
        assert_eq!(to_reconcile(&two), Ok(vec![vec![1, 3], vec![2, 4]]));
        let crossed = [line(1, 7, -100), line(2, 8, 100)];
        assert_eq!(to_reconcile(&crossed), Err(InOdoo::Open { lines: 2, difference_cents: 0 }));
        assert_eq!(to_reconcile(&[]), Ok(vec![]));
        let json = serde_json::to_value(InOdoo::Open { lines: 7, difference_cents: -1 }).unwrap();
        assert_eq!(json, serde_json::json!({"state": "open", "lines": 7, "difference_cents": -1}));
    }
}
