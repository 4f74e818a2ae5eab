//! What failed where and what is late, per Odoo target and dossier: `runs --summary` and the
//! RPC `status`'s `targets`. `summarise` is pure (over the dossiers, each one's latest run and
//! done periods); `gather` reads them from the store.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::outcome::{ErrorKind, Status};
use crate::period::Period;
use crate::store::{Dossier, Run, Store, StoreError};

/// One dossier: its latest run (not a preview) and the due periods not done yet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DossierSummary {
    pub dossier: String,
    pub name: String,
    pub enabled: bool,
    pub last_run: Option<LastRun>,
    /// Its latest run failed.
    pub failing: bool,
    /// The due periods not imported yet, oldest first (enabled dossiers only).
    pub late: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastRun {
    pub id: i64,
    pub period: String,
    pub status: Status,
    pub error_kind: Option<ErrorKind>,
    pub finished_at: Option<String>,
    /// The first line of its message (English).
    pub message: String,
}

/// One Odoo target and its dossiers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetSummary {
    pub target: String,
    /// Whether the config declares it (a dossier may name a target removed since: its runs fail).
    pub declared: bool,
    /// Its Odoo (`gather` fills them from the config).
    pub url: Option<String>,
    pub database: Option<String>,
    pub dossiers: Vec<DossierSummary>,
    /// How many of its dossiers failed on their latest run, and how many are late.
    pub failing: usize,
    pub late: usize,
}

/// Per target (the config's, in its order, then any other a dossier names), its dossiers.
pub fn summarise(
    targets: &[&str],
    dossiers: &[Dossier],
    latest: &[Run],
    done: &BTreeMap<String, BTreeSet<Period>>,
    today: jiff::civil::Date,
) -> Vec<TargetSummary> {
    let mut names: Vec<String> = targets.iter().map(|t| (*t).to_owned()).collect();
    for d in dossiers {
        if !names.contains(&d.target) {
            names.push(d.target.clone());
        }
    }
    let none = BTreeSet::new();
    names
        .into_iter()
        .map(|target| {
            let list: Vec<DossierSummary> = dossiers
                .iter()
                .filter(|d| d.target == target)
                .map(|d| {
                    let last = latest.iter().find(|r| r.dossier == d.silae_number);
                    let done = done.get(&d.silae_number).unwrap_or(&none);
                    let late = match d.enabled {
                        true => crate::schedule::due_periods(d.start_period, d.transfer_day, today, done, 24),
                        false => Vec::new(),
                    };
                    DossierSummary {
                        dossier: d.silae_number.clone(),
                        name: d.name.clone(),
                        enabled: d.enabled,
                        failing: last.is_some_and(|r| r.status == Status::Failed),
                        last_run: last.map(|r| LastRun {
                            id: r.id,
                            period: r.period.clone(),
                            status: r.status,
                            error_kind: r.error_kind,
                            finished_at: r.finished_at.clone(),
                            message: r.message.lines().next().unwrap_or_default().to_owned(),
                        }),
                        late: late.iter().map(Period::to_string).collect(),
                    }
                })
                .collect();
            TargetSummary {
                declared: targets.contains(&target.as_str()),
                url: None,
                database: None,
                failing: list.iter().filter(|d| d.failing).count(),
                late: list.iter().filter(|d| !d.late.is_empty()).count(),
                target,
                dossiers: list,
            }
        })
        .collect()
}

/// The summary of an instance's store on `today` (the targets of `config`).
pub fn gather(
    store: &Store,
    config: &crate::config::Config,
    today: jiff::civil::Date,
) -> Result<Vec<TargetSummary>, StoreError> {
    let dossiers = store.dossiers()?;
    let latest = store.latest_runs()?;
    let mut done = BTreeMap::new();
    for d in &dossiers {
        done.insert(d.silae_number.clone(), store.done_periods(&d.silae_number)?);
    }
    let mut all = summarise(&config.target_names(), &dossiers, &latest, &done, today);
    for t in &mut all {
        if let Some(o) = config.odoo_target(&t.target) {
            (t.url, t.database) = (Some(o.url.to_string()), Some(o.database.clone()));
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Facts, Outcome};

    fn dossier(n: &str, target: &str) -> Dossier {
        Dossier {
            silae_number: n.into(),
            name: format!("D{n}"),
            company_id: 1,
            journal_code: "SAL".into(),
            transfer_day: 5,
            start_period: Some("2026-10".parse().unwrap()),
            target: target.into(),
            ..Default::default()
        }
    }

    fn run(id: i64, dossier: &str, status: Status, kind: Option<ErrorKind>) -> Run {
        let outcome = match kind {
            Some(k) => Outcome::failed(dossier, "2026-10", k, Facts::Error { detail: "Odoo is unavailable".into() }),
            None => Outcome::legacy(dossier, "2026-10", status, None, "imported", &[]),
        };
        Run {
            id,
            dossier: dossier.into(),
            period: "2026-10".into(),
            trigger: crate::store::Trigger::Timer,
            triggered_by: None,
            dry_run: false,
            started_at: "t".into(),
            finished_at: Some("t".into()),
            status,
            error_kind: kind,
            message: "Odoo is unavailable\nmore".into(),
            moves: vec![],
            total_debit_cents: None,
            total_credit_cents: None,
            line_count: None,
            alert: None,
            outcome,
            target: String::new(),
        }
    }

    #[test]
    fn each_target_lists_its_dossiers_what_failed_and_what_is_late() {
        let dossiers = [dossier("1", "default"), dossier("2", "client_b"), dossier("3", "client_b"), {
            let mut d = dossier("4", "gone");
            d.enabled = false;
            d
        }];
        let latest =
            [run(10, "1", Status::Imported, None), run(11, "2", Status::Failed, Some(ErrorKind::OdooUnavailable))];
        let october: BTreeSet<Period> = ["2026-10".parse().unwrap()].into();
        let done = BTreeMap::from([("1".to_owned(), october)]);
        let today: jiff::civil::Date = "2026-11-20".parse().unwrap();
        let s = summarise(&["default", "client_b", "client_c"], &dossiers, &latest, &done, today);
        let shape: Vec<(&str, bool, usize, usize, usize)> =
            s.iter().map(|t| (t.target.as_str(), t.declared, t.dossiers.len(), t.failing, t.late)).collect();
        assert_eq!(
            shape,
            [
                ("default", true, 1, 0, 0),
                ("client_b", true, 2, 1, 2),
                ("client_c", true, 0, 0, 0),
                ("gone", false, 1, 0, 0)
            ]
        );
        let b = &s[1].dossiers[0];
        assert_eq!((b.dossier.as_str(), b.failing, b.late.clone()), ("2", true, vec!["2026-10".to_owned()]));
        let last = b.last_run.as_ref().unwrap();
        assert_eq!((last.error_kind, last.message.as_str()), (Some(ErrorKind::OdooUnavailable), "Odoo is unavailable"));
        assert!(s[1].dossiers[1].last_run.is_none());
    }
}
