//! The one import path shared by the CLI, the daily timer and the RPC service:
//! fetch from Silae -> journal (plan and checks) -> (Odoo: resolve, write) -> record the run.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use crate::config::Config;
use crate::journal::{self, ImportPlan, MovePlan, Problems};
use crate::odoo::{self, OdooClient, OdooError, Protocol, ResolveError, Resolved, Session, Target};
use crate::outcome::{Facts, MissingAccount, MoveRef, OdooCheck, Outcome, RuptureTotal, Totals};
use crate::period::Period;
use crate::secrets::{SecretError, SecretName, Secrets};
use crate::silae::{SilaeClient, SilaeCredentials, SilaeError};
use crate::store::{RunOutcome, Store, StoreError, Trigger};

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
            ResolveError::Company { .. } | ResolveError::AddonMissing { .. } => ErrorKind::Config,
            ResolveError::Journal(_) => ErrorKind::MissingJournal,
            ResolveError::Accounts(..) => ErrorKind::MissingAccounts,
            ResolveError::Locked(_) => ErrorKind::OdooRejected,
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
    pub store: Arc<Store>,
    pub secrets: Secrets,
    silae: tokio::sync::OnceCell<SilaeClient>,
    odoo: tokio::sync::OnceCell<OdooClient>,
}

impl Agent {
    pub fn open(config: Config) -> Result<Agent, StoreError> {
        let store = Store::open(&config.database_path())?;
        let secrets = Secrets::for_config(&config);
        Ok(Agent::with(config, store, secrets))
    }

    pub fn with(config: Config, store: Store, secrets: Secrets) -> Agent {
        Agent::sharing(config, Arc::new(store), secrets)
    }

    /// An agent on a store already open (a config reload keeps the database it had).
    pub fn sharing(config: Config, store: Arc<Store>, secrets: Secrets) -> Agent {
        Agent { config, store, secrets, silae: tokio::sync::OnceCell::new(), odoo: tokio::sync::OnceCell::new() }
    }

    /// Runs SQLite work on the blocking pool: a database locked by another process (busy
    /// timeout) never holds up the async tasks (the service's `/healthz`, other requests).
    pub async fn db<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || work(&store)).await {
            Ok(r) => r,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(StoreError::Unavailable(e.to_string())),
        }
    }

    /// The current time in the configured zone, RFC 3339 with its offset.
    pub fn now(&self) -> String {
        now_in(&self.config.time_zone())
    }

    pub fn store(&self) -> &Store {
        &self.store
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

/// An exclusive lock on a dossier for this process: an OS file lock, released by the kernel if
/// the process dies.
pub struct DossierLock(#[allow(dead_code)] std::fs::File);

/// Why a dossier's lock was not taken.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LockError {
    /// Another process held it for the whole wait.
    #[error("another PayFlow run has been working on dossier {dossier} for more than {waited} s (lock {path}): this period was not imported; it will be on the next run, or import it when that run has finished")]
    Busy { dossier: String, path: String, waited: u64 },
    /// The lock file cannot be made or locked: not contention, a problem to fix.
    #[error("cannot lock dossier {dossier}: {path}: {error}. The data folder must be writable by the user PayFlow runs as (check data_dir and the service's ReadWritePaths/StateDirectory)")]
    Io { dossier: String, path: String, error: String },
}

impl From<LockError> for Failure {
    fn from(e: LockError) -> Failure {
        Failure::new(ErrorKind::State, e.to_string())
    }
}

impl Agent {
    /// Locks a dossier, waiting at most `wait` for another process to release it. Contention
    /// ("would block") and real I/O errors on the lock file are told apart.
    pub async fn lock_dossier(&self, dossier: &str, wait: Duration) -> Result<DossierLock, LockError> {
        let dir = self.config.data_dir.join("locks");
        let path = dir.join(format!("{}.lock", dossier.replace(|c: char| !c.is_ascii_alphanumeric(), "_")));
        let io = |error: std::io::Error, at: &std::path::Path| LockError::Io {
            dossier: dossier.to_owned(),
            path: at.display().to_string(),
            error: error.to_string(),
        };
        std::fs::create_dir_all(&dir).map_err(|e| io(e, &dir))?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io(e, &path))?;
        let started = std::time::Instant::now();
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(DossierLock(file)),
                Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < wait => {
                    if !told && !wait.is_zero() {
                        told = true;
                        tracing::info!(
                            dossier,
                            "another run is working on this dossier: waiting for it (at most {} s)",
                            wait.as_secs()
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(LockError::Busy {
                        dossier: dossier.to_owned(),
                        path: path.display().to_string(),
                        waited: wait.as_secs(),
                    })
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io(e, &path)),
            }
        }
    }

    /// Marks `interrupted` the runs left `running` on the dossiers no process works on (their
    /// process died, was killed or stopped): what `serve` does at start-up and a stopped
    /// import does before it exits. Returns how many runs were marked.
    pub async fn interrupt_orphaned_runs(&self) -> usize {
        let dossiers = match self.db(|s| s.dossiers_with_running_runs()).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("cannot look for interrupted runs: {e}");
                return 0;
            }
        };
        let mut marked = 0;
        for dossier in dossiers {
            // Held by a live process: its run is really running.
            let Ok(lock) = self.lock_dossier(&dossier, Duration::ZERO).await else { continue };
            marked += interrupt_stale_runs(self, &dossier).await.unwrap_or(0);
            drop(lock);
        }
        marked
    }

    /// The Odoo client, built on first use, connected with the session remembered in the
    /// store (so an import does not authenticate again).
    pub async fn odoo(&self) -> Result<&OdooClient, Failure> {
        let client = self
            .odoo
            .get_or_try_init(|| async {
                let secret = self.secrets.require(SecretName::OdooSecret)?;
                Ok::<_, Failure>(OdooClient::new(&self.config.odoo, secret)?)
            })
            .await?;
        let o = &self.config.odoo;
        let remembered = self.store().odoo_session(&o.url, &o.database, &o.login)?.and_then(|s| {
            let protocol = match s.protocol.as_str() {
                "json2" => Protocol::Json2,
                "jsonrpc" => Protocol::JsonRpc,
                // "xmlrpc", remembered by an older agent: authenticate again.
                _ => return None,
            };
            Some(Session { protocol, major: u32::try_from(s.major).ok()?, uid: s.uid })
        });
        let session = client.connect(remembered).await?;
        if remembered != Some(session) {
            self.remember(session);
        }
        Ok(client)
    }

    /// The clients already built, for the metrics (none is built for that).
    pub fn built_clients(&self) -> (Option<&SilaeClient>, Option<&OdooClient>) {
        (self.silae.get(), self.odoo.get())
    }

    /// Keeps the session for the next process.
    pub fn remember(&self, s: Session) {
        let o = &self.config.odoo;
        let row = crate::store::OdooSession { protocol: s.protocol.as_str().into(), major: s.major.into(), uid: s.uid };
        if let Err(e) = self.store().save_odoo_session(&o.url, &o.database, &o.login, Some(&row), &self.now()) {
            tracing::warn!("cannot remember the Odoo session: {e}");
        }
    }
}

pub fn now_in(tz: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::now().to_zoned(tz.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// Imports (or previews) one period of one dossier, and records the run. Waits (a bounded
/// time) while another process works on the same dossier.
pub async fn run_period(agent: &Agent, dossier: &str, period: Period, opts: &ImportOptions) -> RunReport {
    let lock = match agent.lock_dossier(dossier, LOCK_WAIT).await {
        Ok(l) => l,
        Err(e) => return not_run(agent, dossier, period, opts, e.into(), true).await,
    };
    let report = match interrupt_stale_runs(agent, dossier).await {
        Ok(_) => run_period_locked(agent, dossier, period, opts).await,
        Err(e) => not_run(agent, dossier, period, opts, cannot_record(e), false).await,
    };
    drop(lock);
    report
}

/// With the dossier's lock held, no other process works on it: a run still `running` is one
/// whose process died (a crash, `kill -9`, a power cut). It is marked `interrupted`.
async fn interrupt_stale_runs(agent: &Agent, dossier: &str) -> Result<usize, StoreError> {
    let (number, now) = (dossier.to_owned(), agent.now());
    let marked = agent.db(move |s| s.interrupt_stale_runs(&number, &now)).await;
    match &marked {
        Ok(0) => {}
        Ok(n) => tracing::info!(dossier, "{n} run(s) cut by a stopped process marked interrupted"),
        Err(e) => tracing::warn!(dossier, "cannot mark interrupted runs: {e}"),
    }
    marked
}

/// The failure of a run the state database does not take (locked past its busy timeout, disk
/// full, file deleted): nothing else is done.
fn cannot_record(e: StoreError) -> Failure {
    let mut f = Failure::from(e);
    if f.kind == ErrorKind::State {
        f.message = format!(
            "the run cannot be recorded in the state database, so nothing was asked of Silae or Odoo: {}. Is another program holding the database (a `sqlite3` shell, a backup) or is its disk full?",
            f.message
        );
    }
    f
}

/// The longest wait for another process's run on the same dossier (an import takes seconds).
pub const LOCK_WAIT: Duration = Duration::from_secs(600);

/// A run that could not start (its dossier's lock, or the state database): recorded as failed
/// when `record` and the database takes it, reported either way, and nothing asked of Silae or
/// Odoo.
async fn not_run(
    agent: &Agent,
    dossier: &str,
    period: Period,
    opts: &ImportOptions,
    f: Failure,
    record: bool,
) -> RunReport {
    tracing::warn!(dossier, %period, kind = %f.kind, "import not run: {}", f.message);
    let (number, trigger, by, dry_run, now) =
        (dossier.to_owned(), opts.trigger, opts.triggered_by.clone(), opts.dry_run, agent.now());
    let report = failed_report(dossier, period, opts, None, f);
    let end = RunOutcome { outcome: report.outcome.clone(), plan_json: None };
    let run_id = if record {
        let recorded = agent.db(move |s| {
            let id = s.start_run(&number, period, trigger, by.as_deref(), dry_run, &now)?;
            s.finish_run(id, &end, &now)?;
            Ok(id)
        });
        recorded.await.ok()
    } else {
        None
    };
    RunReport { run_id, ..report }
}

/// The report of a run that failed with `f` (recorded as `run_id`, if it was).
fn failed_report(dossier: &str, period: Period, opts: &ImportOptions, run_id: Option<i64>, f: Failure) -> RunReport {
    let facts = f.facts.unwrap_or(Facts::Error { detail: f.message });
    let outcome = Outcome::failed(dossier, &period.to_string(), f.kind, facts);
    RunReport {
        run_id,
        dossier: dossier.to_owned(),
        period: period.to_string(),
        status: Status::Failed,
        error_kind: Some(f.kind),
        message: outcome.english(),
        moves: Vec::new(),
        dry_run: opts.dry_run,
        plans: Vec::new(),
        outcome,
    }
}

/// What the daily timer runs: every enabled dossier's due periods, missed ones caught up
/// oldest first, dossiers side by side (at most `concurrency` at once), each dossier by one
/// process at a time.
pub async fn run_due(agent: &Agent, today: jiff::civil::Date, concurrency: usize) -> Vec<RunReport> {
    use futures::StreamExt;
    let dossiers = match agent.db(|s| s.dossiers()).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("cannot read the dossiers: {e}");
            return Vec::new();
        }
    };
    let opts = ImportOptions { dry_run: false, trigger: Trigger::Timer, triggered_by: None };
    let per_dossier = futures::stream::iter(dossiers.into_iter().filter(|d| d.enabled))
        .map(|d| {
            let opts = opts.clone();
            async move {
                // Another run-due or import on this dossier: wait for it (bounded), then do
                // what it left; past the wait, each due period is recorded as not imported.
                let due = |done| crate::schedule::due_periods(d.start_period, d.transfer_day, today, &done, 24);
                let lock = agent.lock_dossier(&d.silae_number, LOCK_WAIT).await;
                // (failure, whether the database can take a record of it)
                let stale = match &lock {
                    Ok(_) => interrupt_stale_runs(agent, &d.silae_number).await.map_err(|e| (cannot_record(e), false)),
                    Err(e) => Err((e.clone().into(), true)),
                };
                let number = d.silae_number.clone();
                let done = agent.db(move |s| s.done_periods(&number)).await;
                let (done, failure) = match (done, stale) {
                    (Ok(done), Ok(_)) => (done, None),
                    (Ok(done), Err(f)) => (done, Some(f)),
                    (Err(e), _) => (Default::default(), Some((cannot_record(e), false))),
                };
                if let Some((f, record)) = failure {
                    let mut reports = Vec::new();
                    for period in due(done) {
                        reports.push(not_run(agent, &d.silae_number, period, &opts, f.clone(), record).await);
                    }
                    if reports.is_empty() && !matches!(lock, Err(LockError::Busy { .. })) {
                        // Nothing due, or the due periods unknown: the failure is still told.
                        let period = crate::schedule::latest_due(today, d.transfer_day);
                        reports.push(not_run(agent, &d.silae_number, period, &opts, f, record).await);
                    }
                    return reports;
                }
                let due = due(done);
                let mut reports = Vec::new();
                for period in due {
                    let r = run_period_locked(agent, &d.silae_number, period, &opts).await;
                    // A period Silae has not closed: the later ones are not closed either.
                    let stop = r.status == Status::Waiting;
                    reports.push(r);
                    if stop {
                        break;
                    }
                }
                drop(lock);
                reports
            }
        })
        .buffer_unordered(concurrency.max(1));
    per_dossier.collect::<Vec<_>>().await.into_iter().flatten().collect()
}

async fn run_period_locked(agent: &Agent, dossier: &str, period: Period, opts: &ImportOptions) -> RunReport {
    let report = record_period(agent, dossier, period, opts).await;
    // The store's guard must not live across the await: bind the dossier first.
    let number = dossier.to_owned();
    let found = agent.db(move |s| s.dossier(&number)).await;
    if let Ok(d) = found {
        crate::alert::after_run(agent, &d, &report).await;
    }
    report
}

async fn record_period(agent: &Agent, dossier: &str, period: Period, opts: &ImportOptions) -> RunReport {
    // Record first: a run that cannot be recorded asks nothing of Silae or Odoo.
    let (number, trigger, by, dry_run, now) =
        (dossier.to_owned(), opts.trigger, opts.triggered_by.clone(), opts.dry_run, agent.now());
    let started = agent.db(move |s| s.start_run(&number, period, trigger, by.as_deref(), dry_run, &now)).await;
    let run_id = match started {
        Ok(id) => Some(id),
        Err(e) => {
            tracing::error!(dossier, %period, "cannot record the run: {e}");
            return failed_report(dossier, period, opts, None, cannot_record(e));
        }
    };
    let result = attempt(agent, dossier, period, opts).await;
    let period_text = period.to_string();
    let mut plans = Vec::new();
    let mut plan_text = None;
    let outcome = match result {
        Ok(done) => {
            let mut outcome = Outcome {
                status: done.status,
                error_kind: None,
                action: match done.status {
                    Status::Waiting => crate::outcome::Action::WaitSilaeClose,
                    _ => crate::outcome::Action::None,
                },
                facts: done.facts,
                totals: None,
                moves: done.moves,
                dossier: dossier.to_owned(),
                period: period_text.clone(),
            };
            if let Some(plan) = &done.plan {
                plans =
                    plan.moves.iter().map(|m| plan_json(m, done.journal.as_ref(), done.resolved.as_ref())).collect();
                outcome.totals = Some(totals(plan));
                plan_text = Some(Value::Array(plans.clone()).to_string());
                // The moves' rupture labels, in the plan's order.
                for (m, r) in outcome.moves.iter_mut().zip(plan.moves.iter()) {
                    m.rupture_label.get_or_insert_with(|| r.rupture_label.clone());
                }
            }
            outcome
        }
        Err(f) => {
            let facts = f.facts.unwrap_or(Facts::Error { detail: f.message });
            Outcome::failed(dossier, &period_text, f.kind, facts)
        }
    };
    let report = RunReport {
        run_id,
        dossier: dossier.to_owned(),
        period: period_text,
        status: outcome.status,
        error_kind: outcome.error_kind,
        message: outcome.english(),
        moves: outcome.move_ids(),
        dry_run: opts.dry_run,
        plans,
        outcome,
    };
    match report.status {
        Status::Failed => {
            tracing::warn!(dossier, %period, kind = ?report.error_kind, "import failed: {}", report.message)
        }
        s => tracing::info!(dossier, %period, status = s.as_str(), "{}", report.message),
    }
    if let Some(id) = run_id {
        let end = RunOutcome { outcome: report.outcome.clone(), plan_json: plan_text };
        let now = agent.now();
        if let Err(e) = agent.db(move |s| s.finish_run(id, &end, &now)).await {
            tracing::error!(run = id, "cannot record the end of the run: {e}");
        }
    }
    report
}

/// Silae's totals of a plan, per rupture, in cents.
fn totals(plan: &ImportPlan) -> Totals {
    Totals {
        moves: plan.moves.len() as i64,
        lines: plan.line_count() as i64,
        debit_cents: plan.total_debit().0,
        credit_cents: plan.total_credit().0,
        ruptures: plan
            .moves
            .iter()
            .map(|m| RuptureTotal {
                rupture: m.rupture.to_string(),
                label: m.rupture_label.clone(),
                lines: m.lines.len() as i64,
                debit_cents: m.total_debit.0,
                credit_cents: m.total_credit.0,
            })
            .collect(),
    }
}

/// Silae's label of each missing account (the first line's), from the plan.
fn label_missing(facts: &mut Facts, plan: &ImportPlan) {
    if let Facts::MissingAccounts { accounts, .. } = facts {
        for a in accounts {
            a.label = plan.moves.iter().flat_map(|m| &m.lines).find(|l| l.account == a.code).map(|l| l.label.clone());
        }
    }
}

struct Done {
    status: Status,
    facts: Facts,
    moves: Vec<MoveRef>,
    plan: Option<ImportPlan>,
    /// The dossier whose journals the moves go to (its journal, or its journal map's entry).
    journal: Option<crate::store::Dossier>,
    resolved: Option<Resolved>,
}

fn move_ref(id: i64, name: Option<&str>) -> MoveRef {
    MoveRef { id, name: name.map(str::to_owned), rupture_label: None }
}

async fn attempt(agent: &Agent, dossier_number: &str, period: Period, opts: &ImportOptions) -> Result<Done, Failure> {
    let number = dossier_number.to_owned();
    let dossier = agent.db(move |s| s.dossier(&number)).await?;
    if let Some(start) = dossier.start_period.filter(|s| period < *s) {
        let facts = Facts::BeforeStart { start: start.to_string() };
        let message = format!(
            "dossier {dossier_number} starts at {start}: the period {period} is before it (change start_period to import it)"
        );
        return Err(Failure { kind: ErrorKind::Config, message, facts: Some(facts) });
    }
    let silae = agent.silae().await?;
    if dossier.wait_closed {
        let open = silae.periode_en_cours(dossier_number).await?;
        if period >= open {
            return Ok(Done {
                status: Status::Waiting,
                facts: Facts::Waiting { in_progress: open.to_string() },
                moves: Vec::new(),
                plan: None,
                journal: None,
                resolved: None,
            });
        }
    }
    let (payload, raw) = silae.ecritures(dossier_number, period).await?;
    remember_key_expiry(agent, silae.key_expiry()).await;
    let mut plan = journal::plan(dossier_number, period, &payload, &dossier.account_map)?;
    if !plan.moves.is_empty() {
        // Establishments' SIRETs key their ruptures; without them, the label slugs do (and a
        // key change is refused below, never doubled).
        match silae.etablissements(dossier_number).await {
            Ok(list) => journal::key_on_establishments(&mut plan, &list),
            Err(e) => {
                tracing::warn!(dossier = dossier_number, "establishments not read, ruptures keyed on their labels: {e}")
            }
        }
    }
    if plan.moves.is_empty() {
        return Ok(Done {
            status: Status::NoData,
            facts: Facts::NoData,
            moves: Vec::new(),
            plan: None,
            journal: None,
            resolved: None,
        });
    }
    let journal_code = Some(dossier.clone());
    // A preview checks Odoo too when it can (accounts, journal, lock dates, existing moves),
    // and says so when it cannot.
    if opts.dry_run && agent.secrets.get(SecretName::OdooSecret)?.is_none() {
        return Ok(Done {
            status: Status::Previewed,
            facts: Facts::Previewed { odoo: None },
            moves: Vec::new(),
            plan: Some(plan),
            journal: journal_code,
            resolved: None,
        });
    }
    let odoo = agent.odoo().await?;
    let target = Target {
        company_id: dossier.company_id,
        journal_code: &dossier.journal_code,
        journal_map: &dossier.journal_map,
        account_map: &dossier.account_map,
        analytic: &dossier.analytic,
    };
    let messages: Vec<String> =
        plan.moves.iter().map(|m| chatter_message(&dossier.name, dossier_number, period, m)).collect();
    let attachment = (!opts.dry_run).then(|| {
        serde_json::json!({
            "name": format!("silae-{dossier_number}-{period}.json"),
            "datas": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &raw),
            "mimetype": "application/json",
        })
    });
    // With the addon, the whole import (or preview) is one call: docs/odoo-protocol.md.
    let one_call = odoo.import_plan(&target, &plan, opts.dry_run, attachment.clone(), &messages).await;
    if let Some(s) = odoo.current_session().await {
        agent.remember(s);
    }
    let with_labels = |e: ResolveError| {
        let mut failure = Failure::from(e);
        if let Some(facts) = failure.facts.as_mut() {
            label_missing(facts, &plan);
        }
        failure
    };
    // Set when Odoo was asked to write and wrote nothing: only a rename refusal explains that.
    let mut refused = false;
    let resolved = match one_call {
        Ok(answer) if answer.written => {
            // The moves Odoo holds under their legacy key keep it (its rows name that key).
            plan.adopt_legacy_keys(&|k| answer.moves.iter().any(|r| r.import_key == k));
            let company_id = dossier.company_id;
            return written(odoo, company_id, Ok(answer.moves), plan, journal_code, Some(answer.resolved)).await;
        }
        Ok(answer) => {
            refused = !opts.dry_run || answer.renamed;
            answer.resolved
        }
        Err(odoo::PlanError::Resolve(e)) => return Err(with_labels(e)),
        Err(odoo::PlanError::Write(e)) if opts.dry_run => return Err(write_failure(e)),
        Err(odoo::PlanError::Write(e)) => {
            return written(odoo, dossier.company_id, Err(e), plan, journal_code, None).await;
        }
        // No payflow_import_plan in this database (no addon, or an older one): the agent's own
        // reads, then payflow_import.
        Err(odoo::PlanError::NotAvailable(why)) => {
            tracing::debug!("resolving with the agent's own reads: {why}");
            match odoo.resolve(&target, &plan).await {
                Ok(r) => r,
                Err(e) => return Err(with_labels(e)),
            }
        }
    };
    plan.adopt_legacy_keys(&|k| resolved.existing.contains_key(k));
    if let Some(why) = plan.renamed(&resolved.period_keys) {
        return Err(Failure::new(ErrorKind::SilaeBadResponse, why));
    }
    if refused {
        let why = "payflow_import_plan wrote nothing and named no problem the agent knows (a rename it does not see)";
        return Err(write_failure(odoo::WriteError::Malformed(why.to_owned())));
    }
    if let Some(missing) = &resolved.addon_missing {
        if !opts.dry_run {
            return Err(missing.clone().into());
        }
    }
    // Posted moves are never touched; a draft of the same payload is already there.
    let pending: Vec<&MovePlan> = plan
        .moves
        .iter()
        .filter(|m| match resolved.existing.get(&m.import_key) {
            None => true,
            Some(e) => e.state == "draft" && e.payload_hash.as_deref() != Some(m.payload_hash.as_str()),
        })
        .collect();
    let replaced = pending.iter().filter(|m| resolved.existing.contains_key(&m.import_key)).count();
    let present: Vec<MoveRef> = plan
        .moves
        .iter()
        .filter_map(|m| resolved.existing.get(&m.import_key).map(|e| move_ref(e.id, e.name.as_deref())))
        .collect();
    if pending.is_empty() {
        let done = Done {
            status: Status::AlreadyImported,
            facts: Facts::AlreadyImported,
            moves: present,
            plan: Some(plan),
            journal: journal_code,
            resolved: Some(resolved),
        };
        return Ok(done);
    }
    if opts.dry_run {
        return Ok(Done {
            status: Status::Previewed,
            facts: Facts::Previewed {
                odoo: Some(OdooCheck {
                    company: resolved.company_name.clone(),
                    create: (pending.len() - replaced) as i64,
                    replace: replaced as i64,
                    already: (plan.moves.len() - pending.len()) as i64,
                    addon_missing: resolved.addon_missing.as_ref().map(|e| e.to_string()),
                }),
            },
            moves: Vec::new(),
            plan: Some(plan),
            journal: journal_code,
            resolved: Some(resolved),
        });
    }
    let attachment = attachment.unwrap_or(Value::Null);
    let entries: Vec<Value> = plan
        .moves
        .iter()
        .zip(&messages)
        .filter(|(m, _)| pending.iter().any(|p| p.import_key == m.import_key))
        .map(|(m, message)| odoo::move_entry(m, &resolved, dossier.company_id, &attachment, message))
        .collect();
    let results = odoo.write(entries).await;
    written(odoo, dossier.company_id, results, plan, journal_code, Some(resolved)).await
}

/// A write's answer that cannot be read: failed, never "already imported"; the next run reads
/// Odoo again and finds what is there.
fn write_failure(e: odoo::WriteError) -> Failure {
    match e {
        odoo::WriteError::Malformed(_) => Failure::new(ErrorKind::OdooRejected, e.to_string()),
        odoo::WriteError::Odoo(e) => e.into(),
    }
}

/// The run after a write (`payflow_import_plan` or `payflow_import`): the moves written, or,
/// when the write failed, what Odoo holds now.
async fn written(
    odoo: &OdooClient,
    company_id: i64,
    results: Result<Vec<odoo::WriteResult>, odoo::WriteError>,
    plan: ImportPlan,
    journal_code: Option<crate::store::Dossier>,
    resolved: Option<Resolved>,
) -> Result<Done, Failure> {
    let results = match results {
        Ok(r) => r,
        Err(e @ odoo::WriteError::Malformed(_)) => return Err(write_failure(e)),
        Err(odoo::WriteError::Odoo(e)) => {
            // Refused or cut off: look again. Another run may have written the same period at
            // the same moment (the unique key refused ours), or our write may have committed
            // before the connection broke.
            // (Under their legacy key too: the one call keeps it for moves Odoo holds so.)
            let keys: Vec<&str> = plan
                .moves
                .iter()
                .flat_map(|m| std::iter::once(m.import_key.as_str()).chain(m.legacy_key.as_deref()))
                .collect();
            let now = match odoo.existing(company_id, &keys).await {
                Ok(now) => now,
                Err(_) => return Err(e.into()),
            };
            let mut plan = plan;
            plan.adopt_legacy_keys(&|k| now.contains_key(k));
            let complete = plan.moves.iter().all(|m| {
                now.get(&m.import_key)
                    .is_some_and(|x| x.state != "draft" || x.payload_hash.as_deref() == Some(m.payload_hash.as_str()))
            });
            if !complete {
                return Err(e.into());
            }
            let moves: Vec<MoveRef> = plan
                .moves
                .iter()
                .map(|m| {
                    let x = &now[&m.import_key];
                    move_ref(x.id, x.name.as_deref())
                })
                .collect();
            return Ok(Done {
                status: Status::AlreadyImported,
                facts: Facts::FoundAfterWriteError { error: e.to_string() },
                moves,
                plan: Some(plan),
                journal: journal_code,
                resolved,
            });
        }
    };
    // Each rupture's move, in the plan's order: the one just written, else the one already there.
    let written: std::collections::HashMap<&str, MoveRef> =
        results.iter().map(|r| (r.import_key.as_str(), move_ref(r.id, r.name.as_deref()))).collect();
    let moves: Vec<MoveRef> =
        plan.moves
            .iter()
            .filter_map(|m| {
                written.get(m.import_key.as_str()).cloned().or_else(|| {
                    resolved.as_ref()?.existing.get(&m.import_key).map(|e| move_ref(e.id, e.name.as_deref()))
                })
            })
            .filter(|m| m.id > 0)
            .collect();
    let created = results.iter().filter(|r| r.result == "created").count();
    let replaced = results.iter().filter(|r| r.result == "replaced").count();
    let status = if created + replaced == 0 { Status::AlreadyImported } else { Status::Imported };
    Ok(Done {
        status,
        facts: Facts::Imported {
            company: resolved.as_ref().map(|r| r.company_name.clone()).unwrap_or_default(),
            created: created as i64,
            replaced: replaced as i64,
            already: (plan.moves.len() - created - replaced) as i64,
        },
        moves,
        plan: Some(plan),
        journal: journal_code,
        resolved,
    })
}

/// Records the client secrets' expiry Silae announced (shown by `status` and `check`); a store
/// that cannot take it only logs: the import goes on.
async fn remember_key_expiry(agent: &Agent, expiry: crate::silae::KeyExpiry) {
    let now = agent.now();
    let recorded = agent
        .db(move |s| {
            s.record_key_expiry("primary", expiry.primary.as_deref(), &now)?;
            s.record_key_expiry("secondary", expiry.secondary.as_deref(), &now)
        })
        .await;
    if let Err(e) = recorded {
        tracing::warn!("cannot record the Silae secrets' expiry: {e}");
    }
}

/// The chatter message of a created move, in French: accountants read it.
fn chatter_message(name: &str, number: &str, period: Period, m: &MovePlan) -> String {
    format!(
        "<p>Écritures de paie importées de Silae par PayFlow {}.</p><ul><li>Dossier : {} ({})</li><li>Période : {}</li>\
         <li>Rupture : {}</li><li>Total débit : {} € ; total crédit : {} €</li><li>{} lignes</li><li>Clé d'import : {}</li></ul>",
        env!("CARGO_PKG_VERSION"),
        escape(name),
        escape(number),
        period,
        escape(&m.rupture_label),
        m.total_debit,
        m.total_credit,
        m.lines.len(),
        escape(&m.import_key)
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The JSON of one move plan: amounts as numbers with two decimals and as integer cents.
pub fn plan_json(m: &MovePlan, dossier: Option<&crate::store::Dossier>, resolved: Option<&Resolved>) -> Value {
    let lines: Vec<Value> = m
        .lines
        .iter()
        .map(|l| {
            json!({
                "account": l.account,
                "mapped_account": l.mapped_account,
                "odoo_account": resolved.and_then(|r| r.accounts.get(&l.account)).map(|(_, code)| code),
                "label": l.label,
                "debit": l.debit.to_json_number(),
                "credit": l.credit.to_json_number(),
                "debit_cents": l.debit.0,
                "credit_cents": l.credit.0,
                "analytic": l.repartition.map(|r| json!({"index": r.index, "pct": crate::money::Cents(r.pct.0).to_json_number()})),
                "code_journal": l.code_journal,
            })
        })
        .collect();
    json!({
        "rupture": m.rupture,
        "rupture_label": m.rupture_label,
        "import_key": m.import_key,
        "ref": m.reference,
        "date": m.date.to_string(),
        "journal": dossier.map(|d| d.odoo_journal(m.code_journal.as_deref())),
        "code_journal": m.code_journal,
        "total_debit": m.total_debit.to_json_number(),
        "total_credit": m.total_credit.to_json_number(),
        "total_debit_cents": m.total_debit.0,
        "total_credit_cents": m.total_credit.0,
        "line_count": m.lines.len(),
        "payload_hash": m.payload_hash,
        "odoo_move": resolved.and_then(|r| r.existing.get(&m.import_key)).map(|e| json!({"id": e.id, "state": e.state})),
        "lines": lines,
    })
}
