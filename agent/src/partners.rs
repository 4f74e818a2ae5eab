//! Partners on liability lines (docs/odoo-protocol.md, "Partners"): a dossier's `partner_map`
//! (Silae account code -> Odoo partner) puts a partner on the lines of those accounts, so each
//! body's balance (URSSAF, each retirement fund, the tax office) can be followed on one Odoo
//! account. **Pure**: which Silae accounts land on one Odoo account without a partner to tell
//! them apart (a warning of `check` and of the preview, never a failure).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Several Silae accounts landing on one Odoo account, some without a partner: their balances
/// mix on that account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnseparatedAccount {
    /// The Odoo account's code.
    pub odoo_account: String,
    /// Every Silae account landing on it, sorted.
    pub silae: Vec<String>,
    /// Those of them without a partner in the dossier's `partner_map`.
    pub without_partner: Vec<String>,
}

impl UnseparatedAccount {
    pub fn english(&self) -> String {
        format!(
            "the Silae accounts {} all land on the Odoo account {} and {} no partner, so their balances mix there: give each its partner (payflow-agent dossier add ... {})",
            self.silae.join(", "),
            self.odoo_account,
            match self.without_partner.len() {
                1 => format!("{} has", self.without_partner[0]),
                _ => format!("{} have", self.without_partner.join(", ")),
            },
            self.without_partner.iter().map(|c| format!("--partner {c}=PARTNER")).collect::<Vec<_>>().join(" ")
        )
    }

    pub fn french(&self) -> String {
        format!(
            "les comptes Silae {} arrivent tous sur le compte Odoo {} et {} sans partenaire : leurs soldes s'y mélangent. Associez un partenaire à chacun dans le dossier.",
            self.silae.join(", "),
            self.odoo_account,
            match self.without_partner.len() {
                1 => format!("{} est", self.without_partner[0]),
                _ => format!("{} sont", self.without_partner.join(", ")),
            }
        )
    }
}

/// The Odoo accounts that several Silae accounts land on while one of them at least has no
/// partner. `landing` gives (Silae code, Odoo account code) pairs, in any order, repeats allowed.
pub fn unseparated<'a>(
    landing: impl IntoIterator<Item = (&'a str, &'a str)>,
    partner_map: &BTreeMap<String, String>,
) -> Vec<UnseparatedAccount> {
    let mut by_account: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (silae, odoo) in landing {
        by_account.entry(odoo).or_default().insert(silae);
    }
    by_account
        .into_iter()
        .filter(|(_, silae)| silae.len() > 1)
        .filter_map(|(odoo, silae)| {
            let without: Vec<String> =
                silae.iter().filter(|c| !partner_map.contains_key(**c)).map(|c| (*c).to_owned()).collect();
            (!without.is_empty()).then(|| UnseparatedAccount {
                odoo_account: odoo.to_owned(),
                silae: silae.iter().map(|c| (*c).to_owned()).collect(),
                without_partner: without,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn several_silae_accounts_on_one_odoo_account_need_a_partner_each() {
        let landing = [
            ("43100000", "431000"),
            ("43700000", "431000"),
            ("43100000", "431000"),
            ("42100000", "421000"),
            ("43730000", "437300"),
            ("43740000", "437300"),
        ];
        // No partner at all: both shared accounts are named, the lone 421 is not.
        let found = unseparated(landing, &BTreeMap::new());
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].odoo_account, "431000");
        assert_eq!(found[0].silae, ["43100000", "43700000"]);
        assert_eq!(found[0].without_partner, ["43100000", "43700000"]);
        assert!(found[0].english().contains("--partner 43100000=PARTNER --partner 43700000=PARTNER"));
        assert!(found[0].french().contains("43100000, 43700000 sont sans partenaire"));
        // One partner of two: the other is still named.
        let found = unseparated(landing, &map(&[("43100000", "URSSAF")]));
        assert_eq!(found[0].without_partner, ["43700000"]);
        assert!(found[0].english().contains("43700000 has no partner"), "{}", found[0].english());
        // Each has its partner (the same partner twice is one body: fine): nothing to say.
        let all = map(&[("43100000", "URSSAF"), ("43700000", "URSSAF"), ("43730000", "AGIRC"), ("43740000", "IRCEM")]);
        assert!(unseparated(landing, &all).is_empty());
    }
}
