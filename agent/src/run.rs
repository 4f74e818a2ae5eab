//! A run's types: how it was asked for (`ImportOptions`), how it failed (`Failure`, from each
//! domain's error) and what it gives (`RunReport`).

use serde::Serialize;
use serde_json::Value;

use crate::journal::Problems;
use crate::odoo::{OdooError, ResolveError};
use crate::outcome::{Facts, MissingAccount, Outcome};
use crate::secrets::SecretError;
use crate::silae::SilaeError;
use crate::store::{StoreError, Trigger};

pub use crate::outcome::{ErrorKind, Status};

/// A failure of an import, with its contract kind and a message that says what to fix.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: ErrorKind,
    pub message: String,
    /// The facts, when the error has more than its text (missing accounts).
    pub facts: Option<Facts>,
}

impl Failure {
    pub fn new(kind: ErrorKind, message: String) -> Failure {
        Failure { kind, message, facts: None }
    }
}

impl From<SilaeError> for Failure {
    fn from(e: SilaeError) -> Failure {
        let kind = match &e {
            SilaeError::Auth(_) | SilaeError::Blocked(_) => ErrorKind::SilaeAuth,
            SilaeError::Unavailable(_) => ErrorKind::SilaeUnavailable,
            SilaeError::BadResponse(_) => ErrorKind::SilaeBadResponse,
        };
        Failure::new(kind, e.to_string())
    }
}

impl From<Problems> for Failure {
    fn from(p: Problems) -> Failure {
        let kind = if p.is_balance_only() { ErrorKind::Unbalanced } else { ErrorKind::SilaeBadResponse };
        Failure::new(kind, p.to_string())
    }
}

impl From<OdooError> for Failure {
    fn from(e: OdooError) -> Failure {
        let kind = match &e {
            OdooError::Auth(_) => ErrorKind::OdooAuth,
            OdooError::Unavailable(_) => ErrorKind::OdooUnavailable,
            OdooError::Rejected { .. } => ErrorKind::OdooRejected,
        };
        Failure::new(kind, e.to_string())
    }
}

impl From<ResolveError> for Failure {
    fn from(e: ResolveError) -> Failure {
        if let ResolveError::Accounts(detail, missing) = &e {
            let accounts = missing
                .iter()
                .map(|m| MissingAccount { code: m.silae_code.clone(), tried: m.tried.clone(), label: None })
                .collect();
            let facts = Facts::MissingAccounts { accounts, analytic: Vec::new(), detail: detail.clone() };
            return Failure { kind: ErrorKind::MissingAccounts, message: detail.clone(), facts: Some(facts) };
        }
        let kind = match &e {
            ResolveError::Odoo(o) => return o.clone().into(),
            ResolveError::Company { .. } | ResolveError::AddonMissing { .. } | ResolveError::Partners(_) => {
                ErrorKind::Config
            }
            ResolveError::Journal(_) => ErrorKind::MissingJournal,
            ResolveError::Accounts(..) => ErrorKind::MissingAccounts,
            ResolveError::Locked(_) | ResolveError::Refused(_) => ErrorKind::OdooRejected,
            ResolveError::Corrected(text, moves) => {
                let kind = match moves.iter().any(|m| m.state == "draft") {
                    true => ErrorKind::ChangedInOdoo,
                    false => ErrorKind::PostedChanged,
                };
                let facts = Facts::Corrected { moves: moves.clone() };
                return Failure { kind, message: text.clone(), facts: Some(facts) };
            }
        };
        Failure::new(kind, e.to_string())
    }
}

impl From<SecretError> for Failure {
    fn from(e: SecretError) -> Failure {
        Failure::new(ErrorKind::Config, e.to_string())
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        let kind = if e.is_about_input() { ErrorKind::Config } else { ErrorKind::State };
        Failure::new(kind, e.to_string())
    }
}

/// What a run gives: what `--json` prints, what the RPC answers.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run_id: Option<i64>,
    pub dossier: String,
    pub period: String,
    pub status: Status,
    pub error_kind: Option<ErrorKind>,
    /// The outcome in English (the contract's field; `outcome` is the typed one).
    pub message: String,
    pub moves: Vec<i64>,
    pub dry_run: bool,
    /// The move plans, one per Silae rupture (what is, or would be, written).
    pub plans: Vec<Value>,
    pub outcome: Outcome,
    /// The Odoo target of the dossier (`default`: `[odoo]`).
    pub target: String,
}

/// How an import was asked for.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub dry_run: bool,
    pub trigger: Trigger,
    pub triggered_by: Option<String>,
}

impl From<crate::agent::LockError> for Failure {
    fn from(e: crate::agent::LockError) -> Failure {
        Failure::new(ErrorKind::State, e.to_string())
    }
}
