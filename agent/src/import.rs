//! The one import path shared by the CLI, the daily timer and the RPC service:
//! fetch from Silae -> journal (plan and checks) -> (Odoo: resolve) -> `decide` (pure) ->
//! its effects (write, chatter, attachment) -> record the run.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::agent::interrupt_stale_runs;
use crate::journal::{self, ImportPlan, MovePlan};
use crate::odoo::{self, Existing, MoveState, OdooClient, ResolveError, Resolved, Target, WriteOutcome, WriteResult};
use crate::outcome::{Facts, MoveRef, OdooCheck, Outcome, RuptureTotal, Totals};
use crate::period::Period;
use crate::secrets::SecretName;
use crate::store::{RunOutcome, StoreError, Trigger};

// The run's types and the agent live in their own modules; their old paths still work.
pub use crate::agent::{now_in, Agent, DossierLock, LockError};
pub use crate::run::{ErrorKind, Failure, ImportOptions, RunReport, Status};

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
    let target_of = number.clone();
    let target = agent.db(move |s| s.dossier_target(&target_of)).await.unwrap_or_else(|_| report.target.clone());
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
    RunReport { run_id, target, ..report }
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
        target: crate::store::default_target(),
    }
}

/// What the daily timer runs: every enabled dossier's due periods, missed ones caught up
/// oldest first, dossiers side by side (at most `concurrency` at once per Odoo target, every
/// target at once: a slow or failing database holds up only its own dossiers; at most
/// [`MAX_IMPORTS_IN_FLIGHT`] in all), each dossier by one process at a time.
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
    let in_flight = tokio::sync::Semaphore::new(MAX_IMPORTS_IN_FLIGHT);
    let per_dossier = |d: crate::store::Dossier| {
        let opts = opts.clone();
        let in_flight = &in_flight;
        async move {
            let Ok(_permit) = in_flight.acquire().await else { return Vec::new() };
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
            let latest = crate::schedule::latest_due(today, d.transfer_day);
            let recheck = d.payments && done.contains(&latest);
            let mut due = due(done);
            // With salary payments, the latest due period is looked at again each day until
            // the next one is due: a batch Silae publishes after the payroll lands then
            // (what is in Odoo already stays, exactly once).
            if recheck && !due.contains(&latest) {
                due.push(latest);
            }
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
    };
    let mut by_target: std::collections::BTreeMap<String, Vec<crate::store::Dossier>> = Default::default();
    for d in dossiers.into_iter().filter(|d| d.enabled) {
        by_target.entry(d.target.clone()).or_default().push(d);
    }
    let per_target = by_target.into_values().map(|list| {
        futures::stream::iter(list).map(&per_dossier).buffer_unordered(concurrency.max(1)).collect::<Vec<_>>()
    });
    futures::future::join_all(per_target).await.into_iter().flatten().flatten().collect()
}

/// The most imports `run_due` has in flight at once over all targets (each holds a lock file
/// and connections): far above a target's `concurrency`, so slow targets hold up others only
/// when this many of their imports are stuck at once.
pub const MAX_IMPORTS_IN_FLIGHT: usize = 256;

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
    let started = agent
        .db(move |s| {
            Ok((s.start_run(&number, period, trigger, by.as_deref(), dry_run, &now)?, s.dossier_target(&number)?))
        })
        .await;
    let (run_id, target) = match started {
        Ok((id, target)) => (Some(id), target),
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
                net_pay: None,
            };
            if let Some(plan) = &done.plan {
                plans =
                    plan.moves.iter().map(|m| plan_json(m, done.journal.as_ref(), done.resolved.as_ref())).collect();
                outcome.totals = Some(totals(plan));
                if let Some(d) = done.journal.as_ref().filter(|d| d.payments) {
                    let mut net = crate::payments::net_pay(plan);
                    if !opts.dry_run && matches!(done.status, Status::Imported | Status::AlreadyImported) {
                        net.odoo = reconcile_standard(agent, d, plan).await;
                    }
                    outcome.net_pay = Some(net);
                }
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
        target,
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

/// Standard write mode (no addon) reconciles a period's 421 lines itself, once its moves are
/// all posted (the addon does it on posting): where they stand after the run (docs/payments.md).
async fn reconcile_standard(
    agent: &Agent,
    d: &crate::store::Dossier,
    plan: &ImportPlan,
) -> Option<crate::payments::InOdoo> {
    let odoo = agent.odoo_for(&d.target).await.ok()?;
    if !odoo.writes_standard() {
        return None;
    }
    let state = odoo.standard_reconcile(d.company_id, &plan.key_prefix()).await;
    Some(state.unwrap_or_else(|e| crate::payments::InOdoo::Failed { detail: e.to_string() }))
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
                payment: crate::payments::Source::of_key(&m.import_key),
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

impl Done {
    /// A run that ends before any plan (waiting for Silae, no data).
    fn bare(status: Status, facts: Facts) -> Done {
        Done { status, facts, moves: Vec::new(), plan: None, journal: None, resolved: None }
    }
}

fn move_ref(id: i64, name: Option<&str>) -> MoveRef {
    MoveRef { id, name: name.map(str::to_owned), rupture_label: None }
}

/// What an import does with a plan, given what Odoo holds: the pure part of `attempt`.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Nothing is written: the plan cannot be (a renamed rupture, the addon missing).
    Refuse(Failure),
    /// Every rupture's move is in Odoo already (posted, or a draft of the same payload).
    AlreadyImported { moves: Vec<MoveRef> },
    /// A preview: what an import would do.
    Preview(OdooCheck),
    /// Write these moves of the plan (indexes, in its order): new ones, and untouched drafts
    /// of another payload (replaced). Posted moves are never touched.
    Write { pending: Vec<usize> },
}

/// Posted moves Odoo holds under another payload than the plan's (Silae corrected them): a
/// refusal, where `payflow_import_plan` is missing (it alone compares the amounts and adjusts).
fn posted_changed(plan: &ImportPlan, held: &Resolved) -> Option<Failure> {
    let moves: Vec<crate::outcome::CorrectedMove> = plan
        .moves
        .iter()
        .filter_map(|m| {
            let e = held.existing.get(&m.import_key)?;
            let other = e.payload_hash.as_deref() != Some(m.payload_hash.as_str());
            (e.state == MoveState::Posted && other).then(|| crate::outcome::CorrectedMove {
                import_key: m.import_key.clone(),
                odoo_move: MoveRef { id: e.id, name: e.name.clone(), rupture_label: Some(m.rupture_label.clone()) },
                state: "posted".into(),
                changed_by: None,
                changed_at: None,
                reasons: Vec::new(),
                adjustments: Vec::new(),
                diff: Vec::new(),
            })
        })
        .collect();
    if moves.is_empty() {
        return None;
    }
    let message = format!(
        "{}\nThe payflow_silae addon of this database has no payflow_import_plan: update it to see the difference per account (and to let `--corrections adjust` book it)",
        crate::outcome::corrected_english(&moves)
    );
    Some(Failure { kind: ErrorKind::PostedChanged, message, facts: Some(Facts::Corrected { moves }) })
}

/// Decides over the plan (legacy keys already adopted) and what Odoo holds for it. No I/O.
pub fn decide(plan: &ImportPlan, held: &Resolved, dry_run: bool) -> Decision {
    if let Some(why) = plan.renamed(&held.period_keys) {
        return Decision::Refuse(Failure::new(ErrorKind::SilaeBadResponse, why));
    }
    if let Some(missing) = &held.addon_missing {
        if !dry_run {
            return Decision::Refuse(missing.clone().into());
        }
    }
    if let Some(refused) = posted_changed(plan, held) {
        return Decision::Refuse(refused);
    }
    // A draft of the same payload is already there; posted moves are never touched.
    let pending: Vec<usize> = (0..plan.moves.len())
        .filter(|&i| {
            let m = &plan.moves[i];
            match held.existing.get(&m.import_key) {
                None => true,
                Some(e) => e.state == MoveState::Draft && e.payload_hash.as_deref() != Some(m.payload_hash.as_str()),
            }
        })
        .collect();
    if pending.is_empty() {
        let moves = plan
            .moves
            .iter()
            .filter_map(|m| held.existing.get(&m.import_key).map(|e| move_ref(e.id, e.name.as_deref())))
            .collect();
        return Decision::AlreadyImported { moves };
    }
    if dry_run {
        let replace = pending.iter().filter(|&&i| held.existing.contains_key(&plan.moves[i].import_key)).count();
        return Decision::Preview(OdooCheck {
            company: held.company_name.clone(),
            create: (pending.len() - replace) as i64,
            replace: replace as i64,
            already: (plan.moves.len() - pending.len()) as i64,
            adjust: 0,
            addon_missing: held.addon_missing.as_ref().map(|e| e.to_string()),
            unseparated: Vec::new(),
        });
    }
    Decision::Write { pending }
}

/// After a refused or cut-off write, what Odoo holds now: every rupture's move, when all are
/// there (posted, or a draft of our payload: another run wrote them, or our write committed).
fn found_after_write_error(plan: &ImportPlan, now: &HashMap<String, Existing>) -> Option<Vec<MoveRef>> {
    plan.moves
        .iter()
        .map(|m| {
            now.get(&m.import_key)
                .filter(|x| x.state != MoveState::Draft || x.payload_hash.as_deref() == Some(m.payload_hash.as_str()))
                .map(|x| move_ref(x.id, x.name.as_deref()))
        })
        .collect()
}

/// What a write gives: its status, facts and each rupture's move in the plan's order (the one
/// just written, else the one already there).
fn after_write(plan: &ImportPlan, held: &Resolved, results: &[WriteResult]) -> (Status, Facts, Vec<MoveRef>) {
    let written: HashMap<&str, MoveRef> =
        results.iter().map(|r| (r.import_key.as_str(), move_ref(r.id, r.name.as_deref()))).collect();
    // The adjustments of posted moves Silae corrected come after the plan's moves.
    let (adjustments, results): (Vec<&WriteResult>, Vec<&WriteResult>) =
        results.iter().partition(|r| journal::is_adjustment_key(&r.import_key));
    let moves: Vec<MoveRef> = plan
        .moves
        .iter()
        .filter_map(|m| {
            written
                .get(m.import_key.as_str())
                .cloned()
                .or_else(|| held.existing.get(&m.import_key).map(|e| move_ref(e.id, e.name.as_deref())))
        })
        .filter(|m| m.id > 0)
        .chain(adjustments.iter().map(|r| move_ref(r.id, r.name.as_deref())))
        .collect();
    let created = results.iter().filter(|r| r.result == WriteOutcome::Created).count();
    let replaced = results.iter().filter(|r| r.result == WriteOutcome::Replaced).count();
    let adjusted = adjustments.len() as i64;
    let status = if created + replaced == 0 && adjusted == 0 { Status::AlreadyImported } else { Status::Imported };
    let facts = Facts::Imported {
        company: held.company_name.clone(),
        created: created as i64,
        replaced: replaced as i64,
        already: plan.moves.len().saturating_sub(created + replaced) as i64,
        adjusted,
    };
    (status, facts, moves)
}

/// A period before the dossier's start is refused before anything is asked of Silae.
fn before_start(dossier: &crate::store::Dossier, period: Period) -> Option<Failure> {
    let start = dossier.start_period.filter(|s| period < *s)?;
    let message = format!(
        "dossier {} starts at {start}: the period {period} is before it (change start_period to import it)",
        dossier.silae_number
    );
    Some(Failure { kind: ErrorKind::Config, message, facts: Some(Facts::BeforeStart { start: start.to_string() }) })
}

/// One import's effects around `decide`: Silae's reads, Odoo's reads, then the decision's write
/// (moves, chatter, attachment).
async fn attempt(agent: &Agent, dossier_number: &str, period: Period, opts: &ImportOptions) -> Result<Done, Failure> {
    let number = dossier_number.to_owned();
    let dossier = agent.db(move |s| s.dossier(&number)).await?;
    if let Some(refused) = before_start(&dossier, period) {
        return Err(refused);
    }
    if agent.config.odoo_target(&dossier.target).is_none() {
        return Err(crate::agent::unknown_target(&dossier.target, &agent.config));
    }
    let silae = agent.silae().await?;
    if dossier.wait_closed {
        let open = silae.periode_en_cours(dossier_number).await?;
        if period >= open {
            return Ok(Done::bare(Status::Waiting, Facts::Waiting { in_progress: open.to_string() }));
        }
    }
    let (payload, raw) = silae.ecritures_for(dossier_number, period, dossier.large).await?;
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
        return Ok(Done::bare(Status::NoData, Facts::NoData));
    }
    // With `payments`, the period's salary payments join its plan: same checks, same write
    // (docs/payments.md).
    let mut payment_raw = std::collections::HashMap::new();
    if dossier.payments {
        use crate::payments::fetch::{fetch, FetchError};
        match fetch(silae, dossier_number, period, &dossier.account_map).await {
            Ok(fetched) => {
                plan.moves.extend(fetched.moves);
                payment_raw = fetched.raw;
            }
            Err(FetchError::Silae(e)) => return Err(e.into()),
            Err(FetchError::Problems(p)) => return Err(p.into()),
        }
    }
    let journal_code = Some(dossier.clone());
    // A preview checks Odoo too when it can (accounts, journal, lock dates, existing moves),
    // and says so when it cannot.
    if opts.dry_run && agent.secrets.get(SecretName::odoo_target(&dossier.target))?.is_none() {
        return Ok(Done {
            status: Status::Previewed,
            facts: Facts::Previewed { odoo: None },
            moves: Vec::new(),
            plan: Some(plan),
            journal: journal_code,
            resolved: None,
        });
    }
    let odoo = agent.odoo_for(&dossier.target).await?;
    let target = Target {
        company_id: dossier.company_id,
        journal_code: &dossier.journal_code,
        journal_map: &dossier.journal_map,
        account_map: &dossier.account_map,
        analytic: &dossier.analytic,
        payments_journal: dossier.payments_journal.as_deref().filter(|_| dossier.payments),
        corrections: dossier.corrections,
        partner_map: &dossier.partner_map,
    };
    // A payment move carries its own Silae answer and says what it pays.
    let messages: Vec<String> = plan
        .moves
        .iter()
        .map(|m| match payment_raw.contains_key(&m.import_key) {
            true => crate::payments::chatter_message(&dossier.name, dossier_number, period, m),
            false => chatter_message(&dossier.name, dossier_number, period, m),
        })
        .collect();
    let file = |name: String, raw: &[u8]| {
        serde_json::json!({
            "name": name,
            "datas": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, raw),
            "mimetype": "application/json",
        })
    };
    let attachment = (!opts.dry_run).then(|| file(format!("silae-{dossier_number}-{period}.json"), &raw));
    let attachments: HashMap<String, Value> = match opts.dry_run {
        true => HashMap::new(),
        false => payment_raw
            .iter()
            .map(|(key, raw)| {
                let part = key.rsplit(':').next().unwrap_or_default();
                (key.clone(), file(format!("silae-{dossier_number}-{period}-{part}.json"), raw))
            })
            .collect(),
    };
    // With the addon, the whole import (or preview) is one call: docs/odoo-protocol.md.
    // In standard write mode (no addon) the agent reads and writes with stock methods.
    let one_call = match odoo.writes_standard() {
        true => Err(odoo::PlanError::NotAvailable("odoo.write_mode = \"standard\"".into())),
        false => odoo.import_plan(&target, &plan, opts.dry_run, attachment.clone(), &attachments, &messages).await,
    };
    if let Some(s) = odoo.current_session().await {
        agent.remember_for(&dossier.target, s);
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
    // The adjustments a preview found to create (posted moves Silae corrected).
    let mut adjust = 0;
    let resolved = match one_call {
        Ok(answer) if answer.written => {
            // The moves Odoo holds under their legacy key keep it (its rows name that key).
            plan.adopt_legacy_keys(&|k| answer.moves.iter().any(|r| r.import_key == k));
            let company_id = dossier.company_id;
            let rows = answer.moves.into_iter().chain(answer.adjustments).collect();
            return written(odoo, company_id, Ok(rows), plan, journal_code, Some(answer.resolved)).await;
        }
        Ok(answer) => {
            refused = !opts.dry_run || answer.renamed;
            adjust = answer.adjustments.len() as i64;
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
            match odoo.resolve_for_mode(&target, &plan).await {
                Ok(r) => r,
                Err(e) => return Err(with_labels(e)),
            }
        }
    };
    plan.adopt_legacy_keys(&|k| resolved.existing.contains_key(k));
    let mut decision = decide(&plan, &resolved, opts.dry_run);
    if adjust > 0 {
        decision = match decision {
            Decision::Preview(check) => Decision::Preview(OdooCheck { adjust, ..check }),
            Decision::AlreadyImported { .. } => Decision::Preview(OdooCheck {
                company: resolved.company_name.clone(),
                create: 0,
                replace: 0,
                already: plan.moves.len() as i64,
                adjust,
                addon_missing: None,
                unseparated: Vec::new(),
            }),
            other => other,
        };
    }
    if refused && !matches!(decision, Decision::Refuse(_)) {
        let why = "payflow_import_plan wrote nothing and named no problem the agent knows (a rename it does not see)";
        return Err(write_failure(odoo::WriteError::Malformed(why.to_owned())));
    }
    let done = |status, facts, moves, plan| Done {
        status,
        facts,
        moves,
        plan: Some(plan),
        journal: journal_code.clone(),
        resolved: Some(resolved.clone()),
    };
    let pending = match decision {
        Decision::Refuse(failure) => return Err(failure),
        Decision::AlreadyImported { moves } => {
            return Ok(done(Status::AlreadyImported, Facts::AlreadyImported, moves, plan))
        }
        Decision::Preview(mut check) => {
            // Silae accounts sharing an Odoo account without partners: a warning (issue 19).
            let landing = resolved.accounts.iter().map(|(silae, (_, odoo))| (silae.as_str(), odoo.as_str()));
            check.unseparated = crate::partners::unseparated(landing, &dossier.partner_map);
            return Ok(done(Status::Previewed, Facts::Previewed { odoo: Some(check) }, Vec::new(), plan));
        }
        Decision::Write { pending } => pending,
    };
    let no_attachment = Value::Null;
    let entries: Vec<Value> = pending
        .iter()
        .map(|&i| {
            let m = &plan.moves[i];
            let file = attachments.get(&m.import_key).or(attachment.as_ref()).unwrap_or(&no_attachment);
            odoo::move_entry(m, &resolved, dossier.company_id, file, &messages[i])
        })
        .collect();
    if odoo.writes_standard() {
        let in_flight = odoo::standard::InFlight::new(&agent.config.data_dir, &plan);
        return standard_write(odoo, &in_flight, dossier.company_id, entries, plan, journal_code, resolved).await;
    }
    let results = odoo.write(entries).await;
    written(odoo, dossier.company_id, results, plan, journal_code, Some(resolved)).await
}

/// The write of standard mode (`odoo::standard`): the drafts replaced unlinked, the moves
/// created in one call. A create whose answer is unknown (this run's, lost; or a run that died
/// after sending it) is searched for, until it shows or its grace passes, before anything else.
async fn standard_write(
    odoo: &OdooClient,
    in_flight: &odoo::standard::InFlight,
    company_id: i64,
    mut entries: Vec<Value>,
    plan: ImportPlan,
    journal_code: Option<crate::store::Dossier>,
    resolved: Resolved,
) -> Result<Done, Failure> {
    let grace = odoo.in_flight_grace();
    let found = |moves, error: String, plan, resolved| {
        in_flight.end();
        Done {
            status: Status::AlreadyImported,
            facts: Facts::FoundAfterWriteError { error },
            moves,
            plan: Some(plan),
            journal: journal_code.clone(),
            resolved: Some(resolved),
        }
    };
    if let Some(age) = in_flight.age().filter(|age| *age < grace) {
        tracing::info!(
            age_ms = age.as_millis() as u64,
            "a create of this period was sent without its answer: searching for it first"
        );
        let now = odoo.standard_wait_found(company_id, &plan, &resolved, grace - age).await;
        if let Some(moves) = now.and_then(|now| found_after_write_error(&plan, &now)) {
            let why = "an earlier run sent these moves and did not see Odoo's answer".to_owned();
            return Ok(found(moves, why, plan, resolved));
        }
    }
    let mut replace = Vec::new();
    for e in &mut entries {
        if let Some(x) = e["import_key"].as_str().and_then(|k| resolved.existing.get(k)) {
            replace.push(x.id);
            e["replaces"] = json!(true);
        }
    }
    if let Err(e) = in_flight.begin() {
        let why = format!("cannot mark the standard write in flight in the data folder, so nothing was written: {e}");
        return Err(Failure::new(ErrorKind::State, why));
    }
    let results = match odoo.standard_write(company_id, &replace, &entries).await {
        Err(odoo::WriteError::Odoo(e)) => {
            // Lost or refused: Odoo may still commit it. Search (polling, within the grace)
            // before anything else; never sent again in this run.
            let now = odoo.standard_wait_found(company_id, &plan, &resolved, grace).await;
            if let Some(moves) = now.and_then(|now| found_after_write_error(&plan, &now)) {
                return Ok(found(moves, e.to_string(), plan, resolved));
            }
            in_flight.end();
            return Err(e.into());
        }
        other => other,
    };
    in_flight.end();
    written(odoo, company_id, results, plan, journal_code, Some(resolved)).await
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
            let Ok(now) = odoo.existing(company_id, &keys).await else { return Err(e.into()) };
            let mut plan = plan;
            plan.adopt_legacy_keys(&|k| now.contains_key(k));
            let Some(moves) = found_after_write_error(&plan, &now) else { return Err(e.into()) };
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
    let held = resolved.clone().unwrap_or_else(|| Resolved {
        company_name: String::new(),
        journal_id: 0,
        journal_of: Default::default(),
        payments_journal_id: None,
        accounts: Default::default(),
        analytic: Default::default(),
        partners: Default::default(),
        existing: Default::default(),
        period_keys: Vec::new(),
        addon_missing: None,
    });
    let (status, facts, moves) = after_write(&plan, &held, &results);
    Ok(Done { status, facts, moves, plan: Some(plan), journal: journal_code, resolved })
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

pub(crate) fn escape(s: &str) -> String {
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
        "journal": dossier.map(|d| match d.payments_journal.as_deref() {
            Some(j) if crate::payments::is_payment_key(&m.import_key) => j,
            _ => d.odoo_journal(m.code_journal.as_deref()),
        }),
        "code_journal": m.code_journal,
        "total_debit": m.total_debit.to_json_number(),
        "total_credit": m.total_credit.to_json_number(),
        "total_debit_cents": m.total_debit.0,
        "total_credit_cents": m.total_credit.0,
        "line_count": m.lines.len(),
        "payload_hash": m.payload_hash,
        "odoo_move": resolved.and_then(|r| r.existing.get(&m.import_key)).map(|e| json!({"id": e.id, "state": e.state.as_str()})),
        "lines": lines,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use super::*;

    /// The two-establishment sample: two moves.
    fn plan() -> ImportPlan {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/sim/samples/dossier-100300-2026-10-two-establishments.json");
        let payload = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let p = journal::plan("100300", "2026-10".parse().unwrap(), &payload, &BTreeMap::new()).unwrap();
        assert_eq!(p.moves.len(), 2);
        p
    }

    /// What Odoo holds: (move index, id, state, same payload?) per move.
    type Holds<'a> = &'a [(usize, i64, &'a str, bool)];

    fn held(plan: &ImportPlan, moves: Holds) -> Resolved {
        let existing: HashMap<String, Existing> = moves
            .iter()
            .map(|&(i, id, state, same)| {
                let m = &plan.moves[i];
                let hash = if same { m.payload_hash.clone() } else { "other".into() };
                let e = Existing {
                    id,
                    name: Some(format!("SAL/2026/10/{id:04}")),
                    state: MoveState::from_odoo(state),
                    payload_hash: Some(hash),
                };
                (m.import_key.clone(), e)
            })
            .collect();
        Resolved {
            company_name: "My Company".into(),
            journal_id: 7,
            journal_of: HashMap::new(),
            payments_journal_id: None,
            accounts: HashMap::new(),
            analytic: HashMap::new(),
            partners: HashMap::new(),
            period_keys: existing.keys().cloned().collect(),
            existing,
            addon_missing: None,
        }
    }

    fn ids(moves: &[MoveRef]) -> Vec<(i64, Option<&str>)> {
        moves.iter().map(|m| (m.id, m.name.as_deref())).collect()
    }

    #[test]
    fn writes_what_odoo_lacks_and_replaces_only_drafts_of_another_payload() {
        let p = plan();
        // (what Odoo holds, the moves written)
        let cases: &[(Holds, &[usize])] = &[
            (&[], &[0, 1]),
            (&[(0, 11, "posted", true)], &[1]),
            (&[(0, 11, "draft", false)], &[0, 1]),
            (&[(0, 11, "draft", false), (1, 12, "draft", true)], &[0]),
        ];
        for (odoo, expected) in cases {
            match decide(&p, &held(&p, odoo), false) {
                Decision::Write { pending } => assert_eq!(&pending, expected, "{odoo:?}"),
                other => panic!("{odoo:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn already_imported_when_each_move_is_posted_or_a_draft_of_the_same_payload() {
        let p = plan();
        let cases: &[Holds] = &[
            &[(0, 11, "posted", true), (1, 12, "posted", true)],
            &[(0, 11, "posted", true), (1, 12, "draft", true)],
            // A cancelled move is never touched, whatever its payload.
            &[(0, 11, "cancel", false), (1, 12, "posted", true)],
        ];
        for odoo in cases {
            for dry_run in [false, true] {
                match decide(&p, &held(&p, odoo), dry_run) {
                    Decision::AlreadyImported { moves } => {
                        assert_eq!(ids(&moves), [(11, Some("SAL/2026/10/0011")), (12, Some("SAL/2026/10/0012"))])
                    }
                    other => panic!("{odoo:?}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn a_posted_move_of_another_payload_is_refused_without_payflow_import_plan() {
        let p = plan();
        // (payflow_import_plan compares the amounts and adjusts; the agent's own reads cannot.)
        for odoo in [
            &[(0, 11, "posted", false), (1, 12, "draft", true)][..],
            &[(0, 11, "cancel", false), (1, 12, "posted", false)],
        ] {
            for dry_run in [false, true] {
                match decide(&p, &held(&p, odoo), dry_run) {
                    Decision::Refuse(f) => {
                        assert_eq!(f.kind, ErrorKind::PostedChanged, "{}", f.message);
                        assert!(f.message.contains("SAL/2026/10/00"), "{}", f.message);
                        assert!(f.message.contains("update it"), "{}", f.message);
                        let Some(Facts::Corrected { moves }) = &f.facts else { panic!("{:?}", f.facts) };
                        assert_eq!(moves.len(), 1);
                        assert_eq!(moves[0].state, "posted");
                    }
                    other => panic!("{odoo:?}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn a_preview_counts_what_an_import_would_do_and_writes_nothing() {
        let p = plan();
        let cases: &[(Holds, (i64, i64, i64))] = &[
            (&[], (2, 0, 0)),
            (&[(0, 11, "posted", true)], (1, 0, 1)),
            (&[(0, 11, "draft", false), (1, 12, "posted", true)], (0, 1, 1)),
        ];
        for (odoo, (create, replace, already)) in cases {
            let check = OdooCheck {
                company: "My Company".into(),
                create: *create,
                replace: *replace,
                already: *already,
                adjust: 0,
                addon_missing: None,
                unseparated: Vec::new(),
            };
            match decide(&p, &held(&p, odoo), true) {
                Decision::Preview(found) => assert_eq!(found, check, "{odoo:?}"),
                other => panic!("{odoo:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn without_the_addon_a_preview_goes_on_and_an_import_is_refused() {
        let p = plan();
        let mut odoo = held(&p, &[]);
        odoo.addon_missing =
            Some(odoo::ResolveError::AddonMissing { database: "payflow".into(), detail: "no payflow_import".into() });
        match decide(&p, &odoo, false) {
            Decision::Refuse(f) => assert_eq!(f.kind, ErrorKind::Config, "{}", f.message),
            other => panic!("{other:?}"),
        }
        match decide(&p, &odoo, true) {
            Decision::Preview(check) => {
                assert_eq!((check.create, check.replace, check.already), (2, 0, 0));
                assert!(check.addon_missing.is_some_and(|m| m.contains("payflow")));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_rupture_that_looks_renamed_is_refused_even_in_a_preview() {
        let p = plan();
        let mut odoo = held(&p, &[(0, 11, "posted", true)]);
        odoo.period_keys.push("silae:100300:2026-10:old-name".into());
        for dry_run in [false, true] {
            match decide(&p, &odoo, dry_run) {
                Decision::Refuse(f) => {
                    assert_eq!(f.kind, ErrorKind::SilaeBadResponse);
                    assert!(f.message.contains("old-name"), "{}", f.message);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn after_a_write_error_the_period_is_found_only_when_every_move_is_there() {
        let p = plan();
        let all = held(&p, &[(0, 11, "posted", false), (1, 12, "draft", true)]).existing;
        assert_eq!(ids(&found_after_write_error(&p, &all).unwrap()).len(), 2);
        let part = held(&p, &[(0, 11, "posted", true)]).existing;
        assert!(found_after_write_error(&p, &part).is_none());
        let other_draft = held(&p, &[(0, 11, "posted", true), (1, 12, "draft", false)]).existing;
        assert!(found_after_write_error(&p, &other_draft).is_none());
    }

    #[test]
    fn a_write_gives_each_rupture_its_move_in_the_plans_order() {
        let p = plan();
        let odoo = held(&p, &[(0, 11, "posted", true)]);
        let result = |i: usize, id, result: WriteOutcome| WriteResult {
            import_key: p.moves[i].import_key.clone(),
            id,
            name: Some(format!("SAL/{id}")),
            result,
            state: MoveState::Posted,
        };
        let (status, facts, moves) = after_write(&p, &odoo, &[result(1, 12, WriteOutcome::Created)]);
        assert_eq!(status, Status::Imported);
        assert_eq!(
            facts,
            Facts::Imported { company: "My Company".into(), created: 1, replaced: 0, already: 1, adjusted: 0 }
        );
        assert_eq!(ids(&moves), [(11, Some("SAL/2026/10/0011")), (12, Some("SAL/12"))]);
        let (status, _, _) = after_write(&p, &odoo, &[result(1, 12, WriteOutcome::Unchanged)]);
        assert_eq!(status, Status::AlreadyImported);
    }
}
