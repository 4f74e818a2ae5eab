//! The one import path shared by the CLI, the daily timer and the RPC service:
//! fetch from Silae -> journal (plan and checks) -> (Odoo: resolve, write) -> record the run.

use std::fmt;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::{json, Value};

use crate::config::Config;
use crate::journal::{self, ImportPlan, MovePlan, Problems};
use crate::period::Period;
use crate::secrets::{SecretError, SecretName, Secrets};
use crate::silae::{SilaeClient, SilaeCredentials, SilaeError};
use crate::store::{RunOutcome, Store, StoreError, Trigger};

/// The contract's error kinds of a failed run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Config,
    SilaeAuth,
    SilaeUnavailable,
    SilaeBadResponse,
    Unbalanced,
    MissingAccounts,
    MissingJournal,
    OdooAuth,
    OdooUnavailable,
    OdooRejected,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::SilaeAuth => "silae_auth",
            ErrorKind::SilaeUnavailable => "silae_unavailable",
            ErrorKind::SilaeBadResponse => "silae_bad_response",
            ErrorKind::Unbalanced => "unbalanced",
            ErrorKind::MissingAccounts => "missing_accounts",
            ErrorKind::MissingJournal => "missing_journal",
            ErrorKind::OdooAuth => "odoo_auth",
            ErrorKind::OdooUnavailable => "odoo_unavailable",
            ErrorKind::OdooRejected => "odoo_rejected",
        }
    }

    /// Whether trying again later may succeed without anyone changing anything.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::SilaeUnavailable | ErrorKind::OdooUnavailable
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The contract's run statuses (`previewed` is a dry run that found nothing wrong).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Imported,
    AlreadyImported,
    NoData,
    Waiting,
    Previewed,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Imported => "imported",
            Status::AlreadyImported => "already_imported",
            Status::NoData => "no_data",
            Status::Waiting => "waiting",
            Status::Previewed => "previewed",
            Status::Failed => "failed",
        }
    }

    pub fn is_success(self) -> bool {
        self != Status::Failed
    }
}

/// A failure of an import, with its contract kind and a message that says what to fix.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: ErrorKind,
    pub message: String,
}

impl From<SilaeError> for Failure {
    fn from(e: SilaeError) -> Failure {
        let kind = match &e {
            SilaeError::Auth(_) | SilaeError::Blocked(_) => ErrorKind::SilaeAuth,
            SilaeError::Unavailable(_) => ErrorKind::SilaeUnavailable,
            SilaeError::BadResponse(_) => ErrorKind::SilaeBadResponse,
        };
        Failure {
            kind,
            message: e.to_string(),
        }
    }
}

impl From<Problems> for Failure {
    fn from(p: Problems) -> Failure {
        let kind = if p.is_balance_only() {
            ErrorKind::Unbalanced
        } else {
            ErrorKind::SilaeBadResponse
        };
        Failure {
            kind,
            message: p.to_string(),
        }
    }
}

impl From<SecretError> for Failure {
    fn from(e: SecretError) -> Failure {
        Failure {
            kind: ErrorKind::Config,
            message: e.to_string(),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure {
            kind: ErrorKind::Config,
            message: e.to_string(),
        }
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
    pub message: String,
    pub moves: Vec<i64>,
    pub dry_run: bool,
    /// The move plans, one per Silae rupture (what is, or would be, written).
    pub plans: Vec<Value>,
}

/// How an import was asked for.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub dry_run: bool,
    pub trigger: Trigger,
    pub triggered_by: Option<String>,
}

/// One agent instance: its config, state and clients. Built once per process (or per config
/// reload); a run reads the config once, at its start.
pub struct Agent {
    pub config: Config,
    pub store: Mutex<Store>,
    pub secrets: Secrets,
    silae: tokio::sync::OnceCell<SilaeClient>,
}

impl Agent {
    pub fn open(config: Config) -> Result<Agent, StoreError> {
        let store = Store::open(&config.database_path())?;
        let secrets = Secrets::for_config(&config);
        Ok(Agent::with(config, store, secrets))
    }

    pub fn with(config: Config, store: Store, secrets: Secrets) -> Agent {
        Agent {
            config,
            store: Mutex::new(store),
            secrets,
            silae: tokio::sync::OnceCell::new(),
        }
    }

    /// The current time in the configured zone, RFC 3339 with its offset.
    pub fn now(&self) -> String {
        now_in(&self.config.time_zone())
    }

    pub fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The Silae client, built on first use from the secrets.
    pub async fn silae(&self) -> Result<&SilaeClient, Failure> {
        self.silae
            .get_or_try_init(|| async {
                let credentials = SilaeCredentials {
                    client_id: self.secrets.require(SecretName::SilaeClientId)?,
                    client_secret: self.secrets.require(SecretName::SilaeClientSecret)?,
                    subscription_key: self.secrets.require(SecretName::SilaeSubscriptionKey)?,
                };
                Ok::<_, Failure>(SilaeClient::new(self.config.silae.clone(), credentials)?)
            })
            .await
    }
}

pub fn now_in(tz: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::now()
        .to_zoned(tz.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// Imports (or previews) one period of one dossier, and records the run.
pub async fn run_period(
    agent: &Agent,
    dossier: &str,
    period: Period,
    opts: &ImportOptions,
) -> RunReport {
    let started = agent.store().start_run(
        dossier,
        period,
        opts.trigger,
        opts.triggered_by.as_deref(),
        opts.dry_run,
        &agent.now(),
    );
    let run_id = match started {
        Ok(id) => Some(id),
        Err(e) => {
            tracing::error!(dossier, %period, "cannot record the run: {e}");
            None
        }
    };
    let result = attempt(agent, dossier, period, opts).await;
    let mut report = RunReport {
        run_id,
        dossier: dossier.to_owned(),
        period: period.to_string(),
        status: Status::Failed,
        error_kind: None,
        message: String::new(),
        moves: Vec::new(),
        dry_run: opts.dry_run,
        plans: Vec::new(),
    };
    let mut outcome = RunOutcome::default();
    match result {
        Ok(done) => {
            report.status = done.status;
            report.message = done.message;
            report.moves = done.moves;
            if let Some(plan) = &done.plan {
                report.plans = plan
                    .moves
                    .iter()
                    .map(|m| plan_json(m, done.journal.as_deref()))
                    .collect();
                outcome.total_debit_cents = Some(plan.total_debit().0);
                outcome.total_credit_cents = Some(plan.total_credit().0);
                outcome.line_count = Some(plan.line_count() as i64);
                outcome.plan_json = Some(Value::Array(report.plans.clone()).to_string());
            }
        }
        Err(f) => {
            report.error_kind = Some(f.kind);
            report.message = f.message;
        }
    }
    match report.status {
        Status::Failed => {
            tracing::warn!(dossier, %period, kind = ?report.error_kind, "import failed: {}", report.message)
        }
        s => tracing::info!(dossier, %period, status = s.as_str(), "{}", report.message),
    }
    if let Some(id) = run_id {
        outcome.status = report.status.as_str().to_owned();
        outcome.error_kind = report.error_kind.map(|k| k.as_str().to_owned());
        outcome.message = report.message.clone();
        outcome.moves = report.moves.clone();
        if let Err(e) = agent.store().finish_run(id, &outcome, &agent.now()) {
            tracing::error!(run = id, "cannot record the end of the run: {e}");
        }
    }
    report
}

struct Done {
    status: Status,
    message: String,
    moves: Vec<i64>,
    plan: Option<ImportPlan>,
    journal: Option<String>,
}

async fn attempt(
    agent: &Agent,
    dossier_number: &str,
    period: Period,
    opts: &ImportOptions,
) -> Result<Done, Failure> {
    let dossier = agent.store().dossier(dossier_number)?;
    if let Some(start) = dossier.start_period.filter(|s| period < *s) {
        return Err(Failure {
            kind: ErrorKind::Config,
            message: format!("dossier {dossier_number} starts at {start}: the period {period} is before it (change start_period to import it)"),
        });
    }
    let silae = agent.silae().await?;
    if dossier.wait_closed {
        let open = silae.periode_en_cours(dossier_number).await?;
        if period >= open {
            return Ok(Done {
                status: Status::Waiting,
                message: format!(
                    "the payroll of {period} is not closed in Silae yet (period in progress: {open}); it will be imported once closed"
                ),
                moves: Vec::new(),
                plan: None,
                journal: None,
            });
        }
    }
    let payload = silae.ecritures(dossier_number, period).await?;
    let plan = journal::plan(dossier_number, period, &payload, &dossier.account_map)?;
    if plan.moves.is_empty() {
        return Ok(Done {
            status: Status::NoData,
            message: format!(
                "Silae has no payroll entries for dossier {dossier_number} in {period}"
            ),
            moves: Vec::new(),
            plan: None,
            journal: None,
        });
    }
    let summary = format!(
        "{} move(s), {} lines, debit {} = credit {}",
        plan.moves.len(),
        plan.line_count(),
        plan.total_debit(),
        plan.total_credit()
    );
    if opts.dry_run {
        return Ok(Done {
            status: Status::Previewed,
            message: format!("dry run: {summary}; nothing was written"),
            moves: Vec::new(),
            plan: Some(plan),
            journal: Some(dossier.journal_code),
        });
    }
    Err(Failure {
        kind: ErrorKind::Config,
        message: format!(
            "checked {summary}, but this build cannot write to Odoo yet: use --dry-run"
        ),
    })
}

/// The JSON of one move plan: amounts as numbers with two decimals and as integer cents.
pub fn plan_json(m: &MovePlan, journal: Option<&str>) -> Value {
    let lines: Vec<Value> = m
        .lines
        .iter()
        .map(|l| {
            json!({
                "account": l.account,
                "mapped_account": l.mapped_account,
                "label": l.label,
                "debit": l.debit.to_json_number(),
                "credit": l.credit.to_json_number(),
                "debit_cents": l.debit.0,
                "credit_cents": l.credit.0,
                "analytic": l.repartition.map(|r| json!({"index": r.index, "pct": crate::money::Cents(r.pct.0).to_json_number()})),
            })
        })
        .collect();
    json!({
        "rupture": m.rupture,
        "rupture_label": m.rupture_label,
        "import_key": m.import_key,
        "ref": m.reference,
        "date": m.date.to_string(),
        "journal": journal,
        "total_debit": m.total_debit.to_json_number(),
        "total_credit": m.total_credit.to_json_number(),
        "total_debit_cents": m.total_debit.0,
        "total_credit_cents": m.total_credit.0,
        "line_count": m.lines.len(),
        "payload_hash": m.payload_hash,
        "lines": lines,
    })
}
