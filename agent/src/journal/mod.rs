//! The journal transform: a Silae payroll journal (`EcrituresComptablesAvecRuptures`) becomes
//! one checked move plan per rupture. Pure code: no I/O, no clock, no float in a sum.
//!
//! Architecture invariant: every problem of a payload is reported at once (all ruptures, all
//! lines), and a payload with any problem yields no plan at all, so nothing can be written.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::money::{parse_cents, parse_scaled, Cents};
use crate::period::Period;
use crate::silae::wire::{
    date_part, Decimal, EcrituresComptablesAvecRuptures, InformationsEtablissement, Ligne, Rupture,
};

/// A repartition percentage, in hundredths of a percent (`60.0` -> `6000`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Hundredths(pub i64);

impl fmt::Display for Hundredths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Cents(self.0))
    }
}

/// The analytic repartition of a line: Silae's `indexRepartition` (1, 2, …) and its share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Repartition {
    pub index: i32,
    pub pct: Hundredths,
}

/// One line of a move plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanLine {
    /// Silae's account code, as sent (`64110000`).
    pub account: String,
    /// The Odoo account code the dossier's map sends it to, when it has an entry.
    pub mapped_account: Option<String>,
    pub label: String,
    pub debit: Cents,
    pub credit: Cents,
    /// Whether Silae sent it as a debit (`sens` D), whatever the sign of its value.
    pub silae_debit: bool,
    /// `None` when the line is not split (`indexRepartition` 0).
    pub repartition: Option<Repartition>,
    /// Silae's `codeJournal` of the line, trimmed; `None` when absent or empty.
    pub code_journal: Option<String>,
}

/// One Odoo move to create: one Silae rupture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MovePlan {
    /// Position of the rupture in Silae's answer, from 1.
    pub rupture: usize,
    pub rupture_label: String,
    /// The Silae journal code of its lines (`codeJournal`), when they carry one. A rupture
    /// whose lines carry several codes gives one move per code.
    pub code_journal: Option<String>,
    /// Unique per (dossier, period, rupture[, journal code]): `silae:<dossier>:<YYYY-MM>:<rupture
    /// slug>`, then `~<journal code slug>` for the second and later journal codes of a rupture.
    pub import_key: String,
    /// The label-slug key the move had before it was keyed on its establishment's SIRET: a
    /// period imported under it is still found.
    pub legacy_key: Option<String>,
    /// `SALAIRES OCTOBRE 2026`, with the rupture's label when there are several.
    pub reference: String,
    /// The last day of the period.
    pub date: jiff::civil::Date,
    pub lines: Vec<PlanLine>,
    pub total_debit: Cents,
    pub total_credit: Cents,
    /// SHA-256 of the lines and totals: tells a draft of the same payload from a corrected one.
    pub payload_hash: String,
}

impl MovePlan {
    /// Amounts per repartition index (lines without repartition under index 0), in order.
    pub fn analytic_split(&self) -> BTreeMap<i32, Cents> {
        let mut split = BTreeMap::new();
        for l in &self.lines {
            let index = l.repartition.map_or(0, |r| r.index);
            let sum = split.entry(index).or_insert(Cents::ZERO);
            *sum = *sum + l.debit + l.credit;
        }
        split
    }
}

/// The whole import of one dossier and period: every rupture's move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportPlan {
    pub dossier: String,
    pub period: Period,
    pub moves: Vec<MovePlan>,
}

impl ImportPlan {
    pub fn line_count(&self) -> usize {
        self.moves.iter().map(|m| m.lines.len()).sum()
    }

    pub fn total_debit(&self) -> Cents {
        self.moves.iter().map(|m| m.total_debit).sum()
    }

    pub fn total_credit(&self) -> Cents {
        self.moves.iter().map(|m| m.total_credit).sum()
    }
}

/// Keys each move whose rupture is an establishment of the dossier (its label is the
/// establishment's `nomInterne`, ignoring case and outer spaces) on that establishment's SIRET:
/// `silae:<dossier>:<YYYY-MM>:siret-<SIRET>[~<code>]`, which survives a rename in Silae. The
/// label-slug key is kept as `legacy_key`; ruptures matching no establishment, or one without
/// a SIRET, or one two ruptures match, keep their slug key.
pub fn key_on_establishments(plan: &mut ImportPlan, establishments: &[InformationsEtablissement]) {
    let siret_of = |label: &str| -> Option<String> {
        let mut hits = establishments.iter().filter(|e| {
            e.nom_interne.as_deref().is_some_and(|n| n.trim().to_lowercase() == label.trim().to_lowercase())
        });
        let (one, None) = (hits.next()?, hits.next()) else { return None };
        let siret: String = one.siret.as_deref()?.chars().filter(|c| !c.is_whitespace()).collect();
        (!siret.is_empty() && siret.len() <= 32 && siret.chars().all(|c| c.is_ascii_alphanumeric())).then_some(siret)
    };
    let prefix = format!("silae:{}:{}:", plan.dossier, plan.period);
    let mut sirets: BTreeMap<usize, String> = BTreeMap::new();
    for m in &plan.moves {
        if let Some(s) = siret_of(&m.rupture_label) {
            sirets.insert(m.rupture, s);
        }
    }
    // One SIRET for two ruptures would give one key to both: neither is rekeyed.
    let ruptures_of = |s: &String| sirets.values().filter(|x| *x == s).count();
    let unique: BTreeMap<usize, String> =
        sirets.iter().filter(|(_, s)| ruptures_of(s) == 1).map(|(r, s)| (*r, s.clone())).collect();
    for m in &mut plan.moves {
        let Some(siret) = unique.get(&m.rupture) else { continue };
        let Some(rest) = m.import_key.strip_prefix(&prefix) else { continue };
        let suffix = rest.find('~').map_or("", |i| &rest[i..]);
        let key = format!("{prefix}siret-{siret}{suffix}");
        m.legacy_key = Some(std::mem::replace(&mut m.import_key, key));
    }
}

impl ImportPlan {
    /// Moves Odoo holds under their legacy (label-slug) key keep that key: found, not doubled.
    pub fn adopt_legacy_keys(&mut self, in_odoo: &dyn Fn(&str) -> bool) {
        for m in &mut self.moves {
            if let Some(legacy) = m.legacy_key.clone() {
                if !in_odoo(&m.import_key) && in_odoo(&legacy) {
                    m.import_key = legacy;
                }
            }
        }
    }

    /// The prefix every import key of this dossier and period starts with.
    pub fn key_prefix(&self) -> String {
        format!("silae:{}:{}:", self.dossier, self.period)
    }

    /// A rupture that looks renamed: a move whose key Odoo does not hold while Odoo holds, for
    /// this period, a key no move of the plan has. `period_keys` are Odoo's keys of the period.
    pub fn renamed(&self, period_keys: &[String]) -> Option<String> {
        let ours: HashSet<&str> = self
            .moves
            .iter()
            .flat_map(|m| std::iter::once(m.import_key.as_str()).chain(m.legacy_key.as_deref()))
            .collect();
        // The period's payment moves (crate::payments) share its prefix: they are not ruptures.
        let orphans: Vec<&str> = period_keys
            .iter()
            .map(String::as_str)
            .filter(|k| !ours.contains(k) && !crate::payments::is_payment_key(k) && !is_adjustment_key(k))
            .collect();
        let new: Vec<&MovePlan> = self.moves.iter().filter(|m| !period_keys.contains(&m.import_key)).collect();
        if orphans.is_empty() || new.is_empty() {
            return None;
        }
        let ruptures: Vec<String> = new
            .iter()
            .map(|m| format!("rupture {} ({:?}, key {})", m.rupture, m.rupture_label, m.import_key))
            .collect();
        Some(format!(
            "{} looks renamed; nothing written: Odoo already holds this period under {} which this answer no longer has. \
             If the establishment was renamed in Silae, its moves are already in Odoo; if it is a new one, delete the old move(s) in Odoo only if they are wrong",
            ruptures.join(", "),
            orphans.join(", ")
        ))
    }
}

/// The key of an adjustment move the addon books for a posted move Silae corrected
/// (`<key>:regul-<n>`, docs/odoo-protocol.md): not a rupture.
pub fn is_adjustment_key(key: &str) -> bool {
    key.rsplit_once(":regul-").is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Where in the payload a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At {
    pub rupture: usize,
    pub label: String,
    pub line: Option<usize>,
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rupture {} ({:?})", self.rupture, self.label)?;
        if let Some(l) = self.line {
            write!(f, ", line {l}")?;
        }
        Ok(())
    }
}

/// One thing wrong with a Silae payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    DossierMismatch { asked: String, got: Option<String> },
    PeriodMismatch { asked: Period, start: Option<String>, end: Option<String> },
    MissingField { at: At, field: &'static str },
    BadAmount { at: At, field: &'static str, why: String },
    BadSens { at: At, sens: String },
    LineOutsidePeriod { at: At, periode: String },
    Unbalanced { at: At, debit: Cents, credit: Cents },
    TotalMismatch { at: At, side: &'static str, lines: Cents, announced: Cents },
}

impl Problem {
    /// Balance problems are `unbalanced`; the others mean Silae's answer is not usable.
    pub fn is_balance(&self) -> bool {
        matches!(self, Problem::Unbalanced { .. } | Problem::TotalMismatch { .. })
    }
}

/// A value Silae gave, as text: quoted, or "(none)" when absent.
fn shown(v: Option<&str>) -> String {
    v.map_or_else(|| "(none)".to_owned(), |v| format!("{v:?}"))
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::DossierMismatch { asked, got } => {
                write!(f, "Silae answered for dossier {} when dossier {asked} was asked", shown(got.as_deref()))
            }
            Problem::PeriodMismatch { asked, start, end } => write!(
                f,
                "Silae answered for the period {} to {} when {asked} ({} to {}) was asked",
                shown(start.as_deref()),
                shown(end.as_deref()),
                asked.first_day(),
                asked.last_day()
            ),
            Problem::MissingField { at, field } => write!(f, "{at}: `{field}` is missing"),
            Problem::BadAmount { at, field, why } => write!(f, "{at}: `{field}` is not a valid amount: {why}"),
            Problem::BadSens { at, sens } => write!(f, "{at}: `sens` is {sens:?}, expected \"D\" or \"C\""),
            Problem::LineOutsidePeriod { at, periode } => {
                write!(f, "{at}: the line is dated {periode}, outside the period")
            }
            Problem::Unbalanced { at, debit, credit } => write!(
                f,
                "{at}: unbalanced: debit {debit} ≠ credit {credit} (difference {})",
                Cents(debit.0 - credit.0)
            ),
            Problem::TotalMismatch { at, side, lines, announced } => write!(
                f,
                "{at}: the lines' {side} is {lines} but Silae's total{} is {announced} (difference {})",
                if *side == "debit" { "Debit" } else { "Credit" },
                Cents(lines.0 - announced.0)
            ),
        }
    }
}

/// Every problem found in a payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn is_balance_only(&self) -> bool {
        self.0.iter().all(Problem::is_balance)
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(f, "{n} problem{} in Silae's payroll journal, nothing was written:", if n == 1 { "" } else { "s" })?;
        for p in &self.0 {
            write!(f, "\n- {p}")?;
        }
        Ok(())
    }
}

/// The transform: a payload into a checked plan, or every problem at once.
///
/// `account_map` is the dossier's explicit map (Silae code -> Odoo code); it is recorded on
/// each line here, and it always wins over the normalisation done when resolving in Odoo.
pub fn plan(
    dossier: &str,
    period: Period,
    payload: &EcrituresComptablesAvecRuptures,
    account_map: &BTreeMap<String, String>,
) -> Result<ImportPlan, Problems> {
    let mut problems = Vec::new();
    if payload.numero_dossier.as_deref().map(str::trim) != Some(dossier) {
        problems.push(Problem::DossierMismatch { asked: dossier.to_owned(), got: payload.numero_dossier.clone() });
    }
    let start = payload.periode_debut.as_deref().and_then(date_part);
    let end = payload.periode_fin.as_deref().and_then(date_part);
    if !period_fits(period, start, end) {
        problems.push(Problem::PeriodMismatch {
            asked: period,
            start: payload.periode_debut.clone(),
            end: payload.periode_fin.clone(),
        });
    }
    // When the whole answer is for another period, its lines are not reported one by one.
    let check_line_dates = problems.is_empty();
    let ruptures = payload.ruptures.as_deref().unwrap_or_default();
    let several = ruptures.len() > 1;
    let mut keys = HashSet::new();
    let mut moves = Vec::with_capacity(ruptures.len());
    for (i, rupture) in ruptures.iter().enumerate() {
        let number = i + 1;
        let label = rupture.libelle.clone().unwrap_or_default().trim().to_owned();
        let ctx = RuptureCtx { dossier, period, number, label: &label, several, check_line_dates, account_map };
        let rupture_key = format!("silae:{dossier}:{period}:{}", slug(&label).unwrap_or_else(|| format!("r{number}")));
        let split = plan_rupture(&ctx, rupture, &mut problems);
        // The first journal code keeps the rupture's key (as before codes were read: a period
        // imported then is still found); the others add theirs.
        for (g, m) in split.into_iter().enumerate() {
            let mut key = match (&m.code_journal, g > 0) {
                (Some(code), true) => format!("{rupture_key}~{}", slug(code).unwrap_or_else(|| "j".to_owned())),
                _ => rupture_key.clone(),
            };
            let base = key.clone();
            let mut n = 1;
            while !keys.insert(key.clone()) {
                n += 1;
                key = format!("{base}-{n}");
            }
            moves.push(MovePlan { import_key: key, ..m });
        }
    }
    if problems.is_empty() {
        Ok(ImportPlan { dossier: dossier.to_owned(), period, moves })
    } else {
        Err(Problems(problems))
    }
}

/// Whether Silae's answer covers the asked month. The spec only says `date-time`, so an answer
/// whose period lies within the month is taken, and so is an end given as the first day of the
/// next month (an exclusive end); any other month is refused.
fn period_fits(period: Period, start: Option<jiff::civil::Date>, end: Option<jiff::civil::Date>) -> bool {
    let (Some(start), Some(end)) = (start, end) else { return false };
    let end = if end == period.next().first_day() { period.last_day() } else { end };
    Period::of_date(start) == period && Period::of_date(end) == period && start <= end
}

struct RuptureCtx<'a> {
    dossier: &'a str,
    period: Period,
    number: usize,
    label: &'a str,
    several: bool,
    check_line_dates: bool,
    account_map: &'a BTreeMap<String, String>,
}

/// A rupture's moves: one, or one per Silae journal code when its lines carry several (each
/// must balance on its own); none when it has a problem or no lines.
fn plan_rupture(ctx: &RuptureCtx, rupture: &Rupture, problems: &mut Vec<Problem>) -> Vec<MovePlan> {
    let RuptureCtx { dossier, period, number, label, several, .. } = *ctx;
    let before = problems.len();
    let at = |line: Option<usize>| At { rupture: number, label: label.to_owned(), line };
    let announced = |field: &'static str, value: &Option<Decimal>, problems: &mut Vec<Problem>| match value {
        None => {
            problems.push(Problem::MissingField { at: at(None), field });
            None
        }
        Some(d) => match parse_cents(&d.0) {
            Ok(c) if c.0 >= 0 => Some(c),
            Ok(c) => {
                problems.push(Problem::BadAmount { at: at(None), field, why: format!("{c} is negative") });
                None
            }
            Err(e) => {
                problems.push(Problem::BadAmount { at: at(None), field, why: e.to_string() });
                None
            }
        },
    };
    let total_debit = announced("totalDebit", &rupture.total_debit, problems);
    let total_credit = announced("totalCredit", &rupture.total_credit, problems);
    let ecritures = rupture.ecritures.as_deref().unwrap_or_default();
    let mut lines = Vec::with_capacity(ecritures.len());
    for (j, ligne) in ecritures.iter().enumerate() {
        let period = ctx.check_line_dates.then_some(period);
        if let Some(l) = plan_line(period, at(Some(j + 1)), ligne, ctx.account_map, problems) {
            lines.push(l);
        }
    }
    if problems.len() > before {
        return Vec::new();
    }
    // Silae's totals are the signed sums of each side's values (a negative debit value lowers
    // the debit total); the move's totals are what Odoo will show once negatives change sides.
    // Both balance together. Every amount is at most MAX_CENTS, so 5,000 lines cannot overflow.
    let debit_values: Cents = lines.iter().filter(|l| l.silae_debit).map(|l| Cents(l.debit.0 - l.credit.0)).sum();
    let credit_values: Cents = lines.iter().filter(|l| !l.silae_debit).map(|l| Cents(l.credit.0 - l.debit.0)).sum();
    let debit: Cents = lines.iter().map(|l| l.debit).sum();
    let credit: Cents = lines.iter().map(|l| l.credit).sum();
    if debit != credit {
        problems.push(Problem::Unbalanced { at: at(None), debit, credit });
    }
    if let Some(t) = total_debit.filter(|t| *t != debit_values) {
        problems.push(Problem::TotalMismatch { at: at(None), side: "debit", lines: debit_values, announced: t });
    }
    if let Some(t) = total_credit.filter(|t| *t != credit_values) {
        problems.push(Problem::TotalMismatch { at: at(None), side: "credit", lines: credit_values, announced: t });
    }
    // A rupture without lines (and totals of zero, checked above) has nothing to write.
    if problems.len() > before || lines.is_empty() {
        return Vec::new();
    }
    let reference =
        if several && !label.is_empty() { format!("{} - {label}", period.salary_ref()) } else { period.salary_ref() };
    // Lines by journal code, in the order the codes first appear.
    let mut groups: Vec<(Option<String>, Vec<PlanLine>)> = Vec::new();
    for l in lines {
        match groups.iter_mut().find(|(code, _)| *code == l.code_journal) {
            Some((_, g)) => g.push(l),
            None => groups.push((l.code_journal.clone(), vec![l])),
        }
    }
    let split = groups.len() > 1;
    let mut moves = Vec::with_capacity(groups.len());
    for (code, lines) in groups {
        let debit: Cents = lines.iter().map(|l| l.debit).sum();
        let credit: Cents = lines.iter().map(|l| l.credit).sum();
        if split && debit != credit {
            let label = format!("{label}, journal code {}", code.as_deref().unwrap_or("(none)"));
            problems.push(Problem::Unbalanced { at: At { rupture: number, label, line: None }, debit, credit });
            continue;
        }
        let reference = match (&code, split) {
            (Some(c), true) => format!("{reference} ({c})"),
            _ => reference.clone(),
        };
        let payload_hash = hash_lines(dossier, period, &lines, debit, credit);
        moves.push(MovePlan {
            rupture: number,
            rupture_label: label.to_owned(),
            code_journal: code,
            import_key: String::new(),
            legacy_key: None,
            reference,
            date: period.last_day(),
            lines,
            total_debit: debit,
            total_credit: credit,
            payload_hash,
        });
    }
    if problems.len() > before {
        return Vec::new();
    }
    moves
}

fn plan_line(
    period: Option<Period>,
    at: At,
    ligne: &Ligne,
    account_map: &BTreeMap<String, String>,
    problems: &mut Vec<Problem>,
) -> Option<PlanLine> {
    let before = problems.len();
    let account = match ligne.compte.as_deref().map(str::trim) {
        Some(c) if !c.is_empty() => c.to_owned(),
        _ => {
            problems.push(Problem::MissingField { at: at.clone(), field: "compte" });
            String::new()
        }
    };
    let value = match &ligne.valeur {
        None => {
            problems.push(Problem::MissingField { at: at.clone(), field: "valeur" });
            None
        }
        Some(d) => parse_cents(&d.0)
            .map_err(|e| problems.push(Problem::BadAmount { at: at.clone(), field: "valeur", why: e.to_string() }))
            .ok(),
    };
    let debit_side = match ligne.sens.as_deref().map(str::trim) {
        Some("D" | "d") => Some(true),
        Some("C" | "c") => Some(false),
        Some(other) => {
            problems.push(Problem::BadSens { at: at.clone(), sens: other.to_owned() });
            None
        }
        None => {
            problems.push(Problem::MissingField { at: at.clone(), field: "sens" });
            None
        }
    };
    if let (Some(p), Some(period)) = (&ligne.periode, period) {
        if date_part(p).map(crate::period::Period::of_date) != Some(period) {
            problems.push(Problem::LineOutsidePeriod { at: at.clone(), periode: p.clone() });
        }
    }
    let repartition = match ligne.index_repartition {
        None | Some(0) => None,
        Some(index) if index < 0 => {
            problems.push(Problem::BadAmount {
                at: at.clone(),
                field: "indexRepartition",
                why: format!("{index} is negative"),
            });
            None
        }
        Some(index) => match ligne.pct_repartition.as_ref().map(|d| parse_scaled(&d.0, 2)) {
            Some(Ok(p)) if p > 0 && p <= 10_000 => Some(Repartition { index, pct: Hundredths(p) }),
            Some(Ok(p)) => {
                problems.push(Problem::BadAmount {
                    at: at.clone(),
                    field: "pctRepartition",
                    why: format!("{} is not between 0 and 100", Hundredths(p)),
                });
                None
            }
            Some(Err(e)) => {
                problems.push(Problem::BadAmount { at: at.clone(), field: "pctRepartition", why: e.to_string() });
                None
            }
            None => {
                problems.push(Problem::MissingField { at: at.clone(), field: "pctRepartition" });
                None
            }
        },
    };
    if problems.len() > before {
        return None;
    }
    let (value, debit_side) = (value?, debit_side?);
    // A negative amount on one side is a positive amount on the other.
    let (debit, credit) = match (debit_side, value.0 >= 0) {
        (true, true) => (value, Cents::ZERO),
        (false, true) => (Cents::ZERO, value),
        (true, false) => (Cents::ZERO, Cents(-value.0)),
        (false, false) => (Cents(-value.0), Cents::ZERO),
    };
    Some(PlanLine {
        mapped_account: account_map.get(&account).cloned(),
        account,
        label: ligne.libelle.clone().unwrap_or_default().trim().to_owned(),
        debit,
        credit,
        silae_debit: debit_side,
        repartition,
        code_journal: ligne.code_journal.as_deref().map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned),
    })
}

pub(crate) fn hash_lines(dossier: &str, period: Period, lines: &[PlanLine], debit: Cents, credit: Cents) -> String {
    let mut h = Sha256::new();
    h.update(format!("{dossier}\n{period}\n{debit}\n{credit}\n"));
    for l in lines {
        let (i, p) = l.repartition.map_or((0, 0), |r| (r.index, r.pct.0));
        h.update(format!("{}\t{}\t{}\t{}\t{i}\t{p}\n", l.account, l.label, l.debit, l.credit));
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A stable, readable key part from a rupture label: `Établissement Paris` -> `etablissement-paris`.
pub fn slug(label: &str) -> Option<String> {
    let mut out = String::new();
    for c in label.chars().flat_map(fold_char) {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    (!out.is_empty()).then_some(out)
}

fn fold_char(c: char) -> Vec<char> {
    let s = match c {
        'à' | 'â' | 'ä' | 'á' | 'ã' | 'å' => "a",
        'À' | 'Â' | 'Ä' | 'Á' | 'Ã' | 'Å' => "A",
        'é' | 'è' | 'ê' | 'ë' => "e",
        'É' | 'È' | 'Ê' | 'Ë' => "E",
        'î' | 'ï' | 'í' | 'ì' => "i",
        'Î' | 'Ï' | 'Í' | 'Ì' => "I",
        'ô' | 'ö' | 'ó' | 'ò' | 'õ' => "o",
        'Ô' | 'Ö' | 'Ó' | 'Ò' | 'Õ' => "O",
        'ù' | 'û' | 'ü' | 'ú' => "u",
        'Ù' | 'Û' | 'Ü' | 'Ú' => "U",
        'ç' => "c",
        'Ç' => "C",
        'ÿ' => "y",
        'ñ' => "n",
        'œ' => "oe",
        'Œ' => "OE",
        'æ' => "ae",
        'Æ' => "AE",
        _ => return vec![c],
    };
    s.chars().collect()
}

/// The Odoo account codes to try for a Silae code, best first: the dossier's map entry alone
/// when it has one; else the code as sent, then without its trailing zeros down to the
/// six digits of the French chart (`64110000` -> `6411000`, `641100`).
pub fn account_candidates(silae_code: &str, account_map: &BTreeMap<String, String>) -> Vec<String> {
    if let Some(mapped) = account_map.get(silae_code) {
        return vec![mapped.clone()];
    }
    let mut out = vec![silae_code.to_owned()];
    let mut code = silae_code;
    while code.len() > 6 && code.ends_with('0') {
        code = &code[..code.len() - 1];
        out.push(code.to_owned());
    }
    out
}

#[cfg(test)]
mod tests;
