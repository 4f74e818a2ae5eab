//! The salary payments of a period, read from Silae: the batches listed, each batch's entries
//! and the advances' read and planned by the pure [`super::plan`]. The Silae calls are
//! 2 + one per batch; nothing here calls Odoo (the moves join the payroll's plan, so the
//! import's Odoo calls stay the same whatever their number).

use std::collections::{BTreeMap, HashMap};

use super::{plan, Source};
use crate::journal::{MovePlan, Problems};
use crate::period::Period;
use crate::silae::{SilaeClient, SilaeError};

/// A period's payment moves and, per import key, Silae's answer it came from (attached to
/// its move in Odoo).
#[derive(Debug, Default)]
pub struct Fetched {
    pub moves: Vec<MovePlan>,
    pub raw: HashMap<String, Vec<u8>>,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Silae(#[from] SilaeError),
    /// Every problem of every batch and of the advances, at once.
    #[error(transparent)]
    Problems(#[from] Problems),
}

/// Reads and plans the period's batches (by number) and advances. A batch or advances
/// without lines make no move; any problem anywhere makes no plan at all.
pub async fn fetch(
    silae: &SilaeClient,
    dossier: &str,
    period: Period,
    account_map: &BTreeMap<String, String>,
) -> Result<Fetched, FetchError> {
    let batches = silae.lots_virement(dossier, period).await?;
    let mut sources = Vec::with_capacity(batches.len() + 1);
    for b in &batches {
        let (entries, raw) = silae.paiement_salaires(dossier, period, b.number).await?;
        sources.push((Source::Batch(b.number), b.date, entries, raw));
    }
    let (entries, raw) = silae.paiement_acomptes(dossier, period).await?;
    sources.push((Source::Advances, None, entries, raw));
    let mut fetched = Fetched::default();
    let mut problems = Vec::new();
    for (source, date, entries, raw) in sources {
        match plan(dossier, period, source, date, &entries, account_map) {
            Ok(Some(m)) => {
                fetched.raw.insert(m.import_key.clone(), raw);
                fetched.moves.push(m);
            }
            Ok(None) => {}
            Err(Problems(p)) => problems.extend(p),
        }
    }
    if problems.is_empty() {
        Ok(fetched)
    } else {
        Err(Problems(problems).into())
    }
}
