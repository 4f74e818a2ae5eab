//! **Pure**: the accounts a payroll needs that a company's chart lacks, as they would be
//! created (`dossier accounts --create-missing`, and the addon's "Créer les comptes
//! manquants"): the code Silae gives at the length of the chart's codes, Silae's label as the
//! name, the type and reconcile flag of the chart's nearest account (longest common prefix).

use serde::Serialize;

use crate::outcome::MissingAccount;

/// An account of the company's chart, as read from Odoo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartAccount {
    pub code: String,
    pub account_type: String,
    pub reconcile: bool,
}

/// An account to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewAccount {
    pub silae_code: String,
    pub code: String,
    pub name: String,
    pub account_type: String,
    pub reconcile: bool,
    /// The chart's account it was modelled on.
    pub like: Option<String>,
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

/// The accounts to create for `missing` in `chart`.
pub fn plan(missing: &[MissingAccount], chart: &[ChartAccount]) -> Vec<NewAccount> {
    // The chart's usual code length (the French chart: 6).
    let size = {
        let mut counts = std::collections::BTreeMap::new();
        for a in chart {
            *counts.entry(a.code.len()).or_insert(0usize) += 1;
        }
        counts.into_iter().max_by_key(|(len, n)| (*n, *len)).map(|(len, _)| len)
    };
    missing
        .iter()
        .map(|m| {
            let code = size
                .and_then(|s| m.tried.iter().find(|c| c.len() == s))
                .or(m.tried.last())
                .cloned()
                .unwrap_or_else(|| m.code.clone());
            let nearest = chart
                .iter()
                .max_by_key(|a| (common_prefix(&a.code, &code), std::cmp::Reverse(a.code.len().abs_diff(code.len()))));
            NewAccount {
                silae_code: m.code.clone(),
                name: m.label.clone().filter(|l| !l.trim().is_empty()).unwrap_or_else(|| m.code.clone()),
                account_type: nearest.map_or_else(|| "liability_current".to_owned(), |a| a.account_type.clone()),
                reconcile: nearest.is_some_and(|a| a.reconcile),
                like: nearest.map(|a| a.code.clone()),
                code,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(code: &str, t: &str, reconcile: bool) -> ChartAccount {
        ChartAccount { code: code.into(), account_type: t.into(), reconcile }
    }

    #[test]
    fn french_payroll_accounts_are_modelled_on_their_neighbours() {
        let chart = [
            account("421000", "liability_current", true),
            account("437000", "liability_current", true),
            account("442000", "liability_current", false),
            account("641100", "expense", false),
        ];
        let missing = [
            MissingAccount {
                code: "43730000".into(),
                tried: vec!["43730000".into(), "4373000".into(), "437300".into()],
                label: Some("Retraite complémentaire".into()),
            },
            MissingAccount { code: "44210000".into(), tried: vec!["44210000".into(), "442100".into()], label: None },
        ];
        let made = plan(&missing, &chart);
        assert_eq!(
            made[0],
            NewAccount {
                silae_code: "43730000".into(),
                code: "437300".into(),
                name: "Retraite complémentaire".into(),
                account_type: "liability_current".into(),
                reconcile: true,
                like: Some("437000".into()),
            }
        );
        assert_eq!((made[1].code.as_str(), made[1].name.as_str()), ("442100", "44210000"));
        assert_eq!((made[1].like.as_deref(), made[1].reconcile), (Some("442000"), false));
    }

    #[test]
    fn an_empty_chart_keeps_silae_s_shortest_code() {
        let missing =
            [MissingAccount { code: "43730000".into(), tried: vec!["43730000".into(), "437300".into()], label: None }];
        let made = plan(&missing, &[]);
        assert_eq!((made[0].code.as_str(), made[0].like.as_ref()), ("437300", None));
    }
}
