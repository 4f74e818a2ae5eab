//! The local SQLite store: dossiers and runs. The only module that holds SQL.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard, OnceLock};

use rusqlite::{params, Connection, OptionalExtension, Row};
use rusqlite_migration::{Migrations, M};
use serde::{Deserialize, Serialize};

use crate::outcome::{sql_text_enum, ErrorKind, Outcome, Status};
use crate::period::Period;

static MIGRATIONS: LazyLock<Migrations<'static>> = LazyLock::new(|| {
    Migrations::new(vec![
        M::up(include_str!("migrations/0001_init.sql")),
        M::up(include_str!("migrations/0002_odoo_sessions.sql")),
        M::up(include_str!("migrations/0003_alerts.sql")),
        M::up(include_str!("migrations/0004_jobs.sql")),
        M::up(include_str!("migrations/0005_run_outcome.sql")),
        M::up(include_str!("migrations/0006_journal_map.sql")),
        M::up(include_str!("migrations/0007_silae_key_expiry.sql")),
        M::up(include_str!("migrations/0008_large_dossiers_key_notices.sql")),
        M::up(include_str!("migrations/0009_payments.sql")),
        M::up(include_str!("migrations/0010_corrections.sql")),
        M::up(include_str!("migrations/0011_partner_map.sql")),
        M::up(include_str!("migrations/0012_targets.sql")),
    ])
});

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database {path}: {source}")]
    Open { path: String, source: rusqlite::Error },
    #[error("the database {path} could not be migrated: {source}")]
    Migrate { path: String, source: rusqlite_migration::Error },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("no dossier {0} is configured: add it with `payflow-agent dossier add --silae {0} ...`")]
    UnknownDossier(String),
    #[error("no run {0}")]
    UnknownRun(i64),
    #[error("invalid dossier: {0}")]
    InvalidDossier(String),
    #[error("the state database {path} {what} while PayFlow had it open: nothing more is recorded in it. Put the file back and restart the service (a restart without it starts an empty database: dossiers and run log lost)")]
    Replaced { path: String, what: &'static str },
    #[error("the state database cannot be reached: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// Whether the error is about the dossier asked for (a config matter), not the database.
    pub fn is_about_input(&self) -> bool {
        matches!(self, StoreError::UnknownDossier(_) | StoreError::UnknownRun(_) | StoreError::InvalidDossier(_))
    }
}

/// A payroll file to transfer: what sysadmins and accountants configure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dossier {
    pub silae_number: String,
    pub name: String,
    pub company_id: i64,
    pub journal_code: String,
    pub transfer_day: u8,
    #[serde(default)]
    pub alert_emails: Vec<AlertEmail>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Silae account code -> Odoo account code; always wins over normalisation.
    #[serde(default)]
    pub account_map: BTreeMap<String, String>,
    /// Silae repartition index (`1`, `2`…) -> Odoo analytic account (code or name).
    #[serde(default)]
    pub analytic: BTreeMap<String, String>,
    /// The first period to import; nothing before it is caught up.
    #[serde(default)]
    pub start_period: Option<Period>,
    /// Wait for Silae to close the period before importing it.
    #[serde(default = "yes")]
    pub wait_closed: bool,
    /// Silae journal code (`codeJournal` of the lines) -> Odoo journal code; lines whose code
    /// has no entry go to `journal_code`.
    #[serde(default)]
    pub journal_map: BTreeMap<String, String>,
    /// Import the period's salary payments (transfer batches and advances) too, into
    /// `payments_journal` (docs/payments.md).
    #[serde(default)]
    pub payments: bool,
    /// The Odoo journal code of the payment moves (a bank or general journal of the company).
    #[serde(default)]
    pub payments_journal: Option<String>,
    /// A big dossier: its journal is always asked for asynchronously (docs/silae.md).
    #[serde(default)]
    pub large: bool,
    /// The Odoo database its moves go to: a `[odoo.targets.<name>]` of the config, or
    /// `default` (`[odoo]`).
    #[serde(default = "default_target")]
    pub target: String,
    /// What a run does when Silae corrected a payroll already posted in Odoo
    /// (docs/odoo-protocol.md, "Corrections").
    #[serde(default)]
    pub corrections: Corrections,
    /// Silae account code -> Odoo partner (its `ref`, else VAT number, else exact name): the
    /// partner put on the lines of that account (docs/odoo-protocol.md).
    #[serde(default)]
    pub partner_map: BTreeMap<String, String>,
}

/// A dossier with every optional setting at its default, for building one field by field
/// (`Dossier { silae_number, name, …, ..Default::default() }`); its required fields are empty
/// until set, and `validate` refuses them so.
impl Default for Dossier {
    fn default() -> Dossier {
        Dossier {
            silae_number: String::new(),
            name: String::new(),
            company_id: 0,
            journal_code: String::new(),
            transfer_day: 0,
            alert_emails: Vec::new(),
            enabled: true,
            account_map: BTreeMap::new(),
            analytic: BTreeMap::new(),
            start_period: None,
            wait_closed: true,
            journal_map: BTreeMap::new(),
            payments: false,
            payments_journal: None,
            large: false,
            target: default_target(),
            corrections: Corrections::Alert,
            partner_map: BTreeMap::new(),
        }
    }
}

pub fn default_target() -> String {
    crate::config::DEFAULT_TARGET.to_owned()
}

/// A dossier's answer to a posted payroll Silae corrected: the posted move is never touched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Corrections {
    /// The run fails (`posted_changed`) with the difference per account; nothing written.
    #[default]
    Alert,
    /// A draft adjustment move in the same journal holds exactly the difference.
    Adjust,
}

impl Corrections {
    pub const ALL: [Corrections; 2] = [Corrections::Alert, Corrections::Adjust];

    pub fn as_str(self) -> &'static str {
        match self {
            Corrections::Alert => "alert",
            Corrections::Adjust => "adjust",
        }
    }
}

impl std::str::FromStr for Corrections {
    type Err = String;
    fn from_str(s: &str) -> Result<Corrections, String> {
        Corrections::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("corrections {s:?}: expected alert or adjust"))
    }
}
crate::outcome::sql_text_enum!(Corrections);

impl Dossier {
    /// The Odoo journal of the lines carrying this Silae journal code.
    pub fn odoo_journal(&self, code_journal: Option<&str>) -> &str {
        code_journal.and_then(|c| self.journal_map.get(c)).map_or(self.journal_code.as_str(), String::as_str)
    }
}

fn yes() -> bool {
    true
}

mod email;
pub use email::{AlertEmail, BadAlertEmail};

/// The bounds of the free-text fields people (or the JSON-RPC) give: a stored dossier and the
/// run log stay small whatever a caller sends.
pub mod limits {
    /// A Silae dossier number.
    pub const NUMBER: usize = 32;
    /// A dossier's name.
    pub const NAME: usize = 200;
    /// Alert addresses per dossier, and the length of one (RFC 5321's path limit).
    pub const EMAILS: usize = 20;
    pub const EMAIL: usize = 254;
    /// Entries of an account map or analytic map, and the length of one code or name.
    pub const MAP_ENTRIES: usize = 2_000;
    pub const CODE: usize = 128;
    /// Who asked for an import (an Odoo login or name), recorded on its runs.
    pub const USER: usize = 256;

    /// The start of a long text, for an error message that stays short.
    pub fn shown(text: &str) -> String {
        if text.chars().count() <= 40 {
            text.to_owned()
        } else {
            format!("{}…", text.chars().take(40).collect::<String>())
        }
    }
}

impl Dossier {
    /// Checks the fields a person types; the message names the field and what is expected.
    pub fn validate(&self) -> Result<(), StoreError> {
        let bad = |m: String| Err(StoreError::InvalidDossier(m));
        if self.silae_number.is_empty()
            || self.silae_number.len() > limits::NUMBER
            || !self.silae_number.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return bad(format!(
                "silae_number {:?}: expected the Silae dossier number, e.g. 100200 (at most {} characters)",
                limits::shown(&self.silae_number),
                limits::NUMBER
            ));
        }
        if self.name.trim().is_empty() || self.name.chars().count() > limits::NAME {
            return bad(format!("name: expected a non-empty name of at most {} characters", limits::NAME));
        }
        if self.alert_emails.len() > limits::EMAILS {
            return bad(format!(
                "alert_emails: {} addresses, expected at most {}",
                self.alert_emails.len(),
                limits::EMAILS
            ));
        }
        for (k, v) in &self.journal_map {
            if k.trim().is_empty() || k.len() > limits::CODE || v.trim().is_empty() || v.len() > 16 {
                return bad(format!(
                    "journal_map {:?} -> {:?}: expected SILAE_JOURNAL_CODE=ODOO_JOURNAL_CODE, both non-empty (Odoo's at most 16 characters)",
                    limits::shown(k),
                    limits::shown(v)
                ));
            }
        }
        match (self.payments, self.payments_journal.as_deref().map(str::trim)) {
            (true, None | Some("")) => {
                return bad("payments: the salary payments need their Odoo journal: give payments_journal (--payments-journal CODE), a bank or general journal's code".to_owned())
            }
            (_, Some(code)) if code.is_empty() || code.chars().count() > 16 => {
                return bad(format!(
                    "payments_journal {:?}: expected an Odoo journal code, 1 to 16 characters",
                    limits::shown(code)
                ))
            }
            _ => {}
        }
        for (k, v) in &self.partner_map {
            if k.trim().is_empty() || k.len() > limits::CODE || v.trim().is_empty() || v.chars().count() > limits::CODE
            {
                return bad(format!(
                    "partner_map {:?} -> {:?}: expected SILAE_CODE=PARTNER (the Odoo partner's reference, VAT number or exact name), both non-empty, at most {} characters",
                    limits::shown(k),
                    limits::shown(v),
                    limits::CODE
                ));
            }
        }
        if self.account_map.len() > limits::MAP_ENTRIES
            || self.analytic.len() > limits::MAP_ENTRIES
            || self.journal_map.len() > limits::MAP_ENTRIES
            || self.partner_map.len() > limits::MAP_ENTRIES
        {
            return bad(format!(
                "account_map, analytic, journal_map, partner_map: {}, {}, {} and {} entries, expected at most {} each",
                self.account_map.len(),
                self.analytic.len(),
                self.journal_map.len(),
                self.partner_map.len(),
                limits::MAP_ENTRIES
            ));
        }
        let too_long = {
            let map = self.account_map.iter().chain(self.analytic.iter());
            map.flat_map(|(k, v)| [k, v])
                .find(|t| t.chars().count() > limits::CODE)
                .map(|t| ("account_map or analytic", t))
        };
        if let Some((field, text)) = too_long {
            return bad(format!(
                "{field} {:?}: too long ({} characters; at most {} for an address, {} for an account code or name)",
                limits::shown(text),
                text.chars().count(),
                limits::EMAIL,
                limits::CODE
            ));
        }
        if !crate::config::valid_target_name(&self.target) {
            return bad(format!(
                "target {:?}: expected {}",
                limits::shown(&self.target),
                crate::config::TARGET_NAME_EXPECTED
            ));
        }
        if self.company_id <= 0 {
            return bad(format!("company_id {}: expected the Odoo company id (a positive integer)", self.company_id));
        }
        if self.journal_code.trim().is_empty() || self.journal_code.len() > 16 {
            return bad(format!(
                "journal_code {:?}: expected the Odoo journal's short code, e.g. SAL (at most 16 characters)",
                limits::shown(&self.journal_code)
            ));
        }
        if !(1..=31).contains(&self.transfer_day) {
            return bad(format!("transfer_day {}: expected a day of the month from 1 to 31", self.transfer_day));
        }
        for (k, v) in &self.account_map {
            if k.trim().is_empty() || v.trim().is_empty() {
                return bad(format!("account_map {k:?} -> {v:?}: expected SILAE_CODE=ODOO_CODE, both non-empty"));
            }
        }
        for (k, v) in &self.analytic {
            if k.parse::<u32>().map_or(true, |i| i == 0) || v.trim().is_empty() {
                return bad(format!(
                    "analytic {k:?} -> {v:?}: expected INDEX=ANALYTIC_ACCOUNT with Silae's repartition index (1, 2, …)"
                ));
            }
        }
        Ok(())
    }
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Cli,
    Timer,
    Rpc,
}

impl Trigger {
    pub const ALL: [Trigger; 3] = [Trigger::Cli, Trigger::Timer, Trigger::Rpc];

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Cli => "cli",
            Trigger::Timer => "timer",
            Trigger::Rpc => "rpc",
        }
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Trigger {
    type Err = String;
    fn from_str(s: &str) -> Result<Trigger, String> {
        Trigger::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| format!("unknown trigger {s:?}"))
    }
}

sql_text_enum!(Trigger);

/// One run as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    pub id: i64,
    pub dossier: String,
    pub period: String,
    pub trigger: Trigger,
    pub triggered_by: Option<String>,
    pub dry_run: bool,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: Status,
    pub error_kind: Option<ErrorKind>,
    pub message: String,
    pub moves: Vec<i64>,
    pub total_debit_cents: Option<i64>,
    pub total_credit_cents: Option<i64>,
    pub line_count: Option<i64>,
    pub alert: Option<String>,
    /// The typed outcome (rebuilt from the columns for runs recorded before it existed).
    pub outcome: Outcome,
    /// The Odoo target of its dossier when it started (`default`: `[odoo]`).
    pub target: String,
}

/// The end of a run: its typed outcome (the status, kind, message, moves and totals columns
/// are written from it) and the move plans as JSON.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub outcome: Outcome,
    pub plan_json: Option<String>,
}

/// Filters of the run log.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub dossier: Option<String>,
    /// Only the runs made for this Odoo target.
    pub target: Option<String>,
    pub status: Option<Status>,
    pub period: Option<String>,
    pub before_id: Option<i64>,
    pub limit: Option<u32>,
}

/// One writer connection and a few read-only ones (opened on first use): WAL lets readers
/// run beside the writer, so the run log stays quick while an import records its run.
pub struct Store {
    path: std::path::PathBuf,
    /// The database file's identity (device, inode) when opened: a file deleted or replaced
    /// under a running process is an error, never a fresh empty database.
    identity: Option<(u64, u64)>,
    writer: Mutex<Connection>,
    readers: [OnceLock<Mutex<Connection>>; READERS],
    next_reader: AtomicUsize,
}

const READERS: usize = 2;

impl Store {
    /// Opens (creating if needed) and migrates the database.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let shown = path.display().to_string();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                path: shown.clone(),
                source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
            })?;
        }
        let mut conn = Connection::open(path).map_err(|source| StoreError::Open { path: shown.clone(), source })?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        MIGRATIONS.to_latest(&mut conn).map_err(|source| StoreError::Migrate { path: shown, source })?;
        Ok(Store {
            identity: file_identity(path),
            path: path.to_owned(),
            writer: Mutex::new(conn),
            readers: Default::default(),
            next_reader: AtomicUsize::new(0),
        })
    }

    /// The database file this store opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Fails when the database file was deleted or replaced since it was opened (what was
    /// written would go to a file nobody sees).
    pub fn check(&self) -> Result<(), StoreError> {
        let Some(opened) = self.identity else { return Ok(()) };
        let shown = || self.path.display().to_string();
        match file_identity(&self.path) {
            None => Err(StoreError::Replaced { path: shown(), what: "was deleted" }),
            Some(now) if now != opened => {
                Err(StoreError::Replaced { path: shown(), what: "was replaced by another file" })
            }
            Some(_) => Ok(()),
        }
    }

    /// The writer; every change goes through it, one at a time.
    fn write(&self) -> MutexGuard<'_, Connection> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A read-only connection: a free one if any, else the next in turn. Falls back to the
    /// writer if a reader cannot be opened.
    fn read(&self) -> MutexGuard<'_, Connection> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        // A free reader already open first: another connection (its own page cache) is opened
        // only when every open one is busy, so an idle service keeps one.
        for opened in [true, false] {
            for i in 0..READERS {
                let slot = &self.readers[(start + i) % READERS];
                if slot.get().is_some() != opened {
                    continue;
                }
                let Some(reader) = self.reader(slot) else { return self.write() };
                match reader.try_lock() {
                    Ok(guard) => return guard,
                    Err(std::sync::TryLockError::Poisoned(e)) => return e.into_inner(),
                    Err(std::sync::TryLockError::WouldBlock) => {}
                }
            }
        }
        match self.reader(&self.readers[start % READERS]) {
            Some(reader) => reader.lock().unwrap_or_else(|e| e.into_inner()),
            None => self.write(),
        }
    }

    fn reader<'a>(&self, slot: &'a OnceLock<Mutex<Connection>>) -> Option<&'a Mutex<Connection>> {
        if let Some(r) = slot.get() {
            return Some(r);
        }
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).ok()?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).ok()?;
        Some(slot.get_or_init(|| Mutex::new(conn)))
    }

    pub fn upsert_dossier(&self, d: &Dossier, now: &str) -> Result<Dossier, StoreError> {
        d.validate()?;
        self.check()?;
        let conn = self.write();
        conn.execute(
            "INSERT INTO dossiers (silae_number, name, company_id, journal_code, transfer_day, alert_emails, enabled,
                                   account_map, analytic, start_period, wait_closed, created_at, updated_at, journal_map,
                                   payments, payments_journal, large, target, corrections, partner_map)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
             ON CONFLICT (silae_number) DO UPDATE SET
                name = excluded.name, company_id = excluded.company_id, journal_code = excluded.journal_code,
                transfer_day = excluded.transfer_day, alert_emails = excluded.alert_emails, enabled = excluded.enabled,
                account_map = excluded.account_map, analytic = excluded.analytic, start_period = excluded.start_period,
                wait_closed = excluded.wait_closed, updated_at = excluded.updated_at, journal_map = excluded.journal_map,
                payments = excluded.payments, payments_journal = excluded.payments_journal,
                large = excluded.large, target = excluded.target, corrections = excluded.corrections, partner_map = excluded.partner_map",
            params![
                d.silae_number,
                d.name,
                d.company_id,
                d.journal_code,
                d.transfer_day,
                serde_json::to_string(&d.alert_emails).expect("json"),
                d.enabled,
                serde_json::to_string(&d.account_map).expect("json"),
                serde_json::to_string(&d.analytic).expect("json"),
                d.start_period.map(|p| p.to_string()),
                d.wait_closed,
                now,
                serde_json::to_string(&d.journal_map).expect("json"),
                d.payments,
                d.payments_journal.as_deref().map(str::trim),
                d.large,
                d.target,
                d.corrections,
                serde_json::to_string(&d.partner_map).expect("json"),
            ],
        )?;
        self.dossier(&d.silae_number)
    }

    pub fn dossier(&self, silae_number: &str) -> Result<Dossier, StoreError> {
        self.read()
            .query_row(&format!("{DOSSIER_SELECT} WHERE silae_number = ?1"), [silae_number], dossier_from_row)
            .optional()?
            .ok_or_else(|| StoreError::UnknownDossier(silae_number.to_owned()))
    }

    pub fn dossiers(&self) -> Result<Vec<Dossier>, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare(&format!("{DOSSIER_SELECT} ORDER BY silae_number"))?;
        let rows = stmt.query_map([], dossier_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A dossier's target (`default` for a dossier not configured: its run fails anyway).
    pub fn dossier_target(&self, silae_number: &str) -> Result<String, StoreError> {
        let found = self
            .read()
            .query_row("SELECT target FROM dossiers WHERE silae_number = ?1", [silae_number], |r| r.get(0))
            .optional()?;
        Ok(found.unwrap_or_else(default_target))
    }

    /// Removes a dossier (its runs stay in the log); `false` when there was none.
    pub fn remove_dossier(&self, silae_number: &str) -> Result<bool, StoreError> {
        let conn = self.write();
        Ok(conn.execute("DELETE FROM dossiers WHERE silae_number = ?1", [silae_number])? > 0)
    }

    /// Records the start of a run; returns its id.
    pub fn start_run(
        &self,
        dossier: &str,
        period: Period,
        trigger: Trigger,
        triggered_by: Option<&str>,
        dry_run: bool,
        now: &str,
    ) -> Result<i64, StoreError> {
        self.check()?;
        let conn = self.write();
        conn.execute(
            "INSERT INTO runs (dossier, period, trigger, triggered_by, dry_run, started_at, status, target)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running',
                     coalesce((SELECT target FROM dossiers WHERE silae_number = ?1), 'default'))",
            params![dossier, period.to_string(), trigger.as_str(), triggered_by, dry_run, now],
        )?;
        Ok(conn.last_insert_rowid())
    }

    pub fn finish_run(&self, id: i64, end: &RunOutcome, now: &str) -> Result<(), StoreError> {
        let o = &end.outcome;
        let conn = self.write();
        let n = conn.execute(
            "UPDATE runs SET finished_at = ?2, status = ?3, error_kind = ?4, message = ?5, moves = ?6,
                 total_debit = ?7, total_credit = ?8, line_count = ?9, plan = ?10, outcome = ?11
             WHERE id = ?1",
            params![
                id,
                now,
                o.status,
                o.error_kind,
                o.english(),
                serde_json::to_string(&o.move_ids()).expect("json"),
                o.totals.as_ref().map(|t| t.debit_cents),
                o.totals.as_ref().map(|t| t.credit_cents),
                o.totals.as_ref().map(|t| t.lines),
                end.plan_json,
                serde_json::to_string(o).expect("json"),
            ],
        )?;
        if n == 0 {
            return Err(StoreError::UnknownRun(id));
        }
        Ok(())
    }

    pub fn run(&self, id: i64) -> Result<Run, StoreError> {
        self.read()
            .query_row(&format!("{RUN_SELECT} WHERE id = ?1"), [id], run_from_row)
            .optional()?
            .ok_or(StoreError::UnknownRun(id))
    }

    /// The plan recorded with a run, as JSON.
    pub fn run_plan(&self, id: i64) -> Result<Option<String>, StoreError> {
        Ok(self.read().query_row("SELECT plan FROM runs WHERE id = ?1", [id], |r| r.get(0)).optional()?.flatten())
    }

    /// The run log, newest first. Only the filters given reach the SQL, so SQLite can use the
    /// index that fits (dossier, status or period) whatever the log's size.
    pub fn runs(&self, f: &RunFilter) -> Result<Vec<Run>, StoreError> {
        let limit = f.limit.unwrap_or(100).min(10_000);
        let mut args: Vec<&dyn rusqlite::ToSql> = Vec::new();
        args.extend(f.dossier.as_ref().map(|v| v as &dyn rusqlite::ToSql));
        args.extend(f.target.as_ref().map(|v| v as &dyn rusqlite::ToSql));
        args.extend(f.status.as_ref().map(|v| v as &dyn rusqlite::ToSql));
        args.extend(f.period.as_ref().map(|v| v as &dyn rusqlite::ToSql));
        args.extend(f.before_id.as_ref().map(|v| v as &dyn rusqlite::ToSql));
        args.push(&limit);
        let conn = self.read();
        let mut stmt = conn.prepare_cached(&runs_sql(f))?;
        let rows = stmt.query_map(args.as_slice(), run_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// The run log's query with only the filters given, in `runs`' order of arguments.
fn runs_sql(f: &RunFilter) -> String {
    let mut sql = format!("{RUN_SELECT} WHERE 1");
    let clauses = [
        (f.dossier.is_some(), " AND dossier = ?"),
        (f.target.is_some(), " AND target = ?"),
        (f.status.is_some(), " AND status = ?"),
        (f.period.is_some(), " AND period = ?"),
        (f.before_id.is_some(), " AND id < ?"),
    ];
    for (_, clause) in clauses.iter().filter(|(given, _)| *given) {
        sql.push_str(clause);
    }
    sql + " ORDER BY id DESC LIMIT ?"
}

impl Store {
    /// The periods of a dossier that need no more work: imported, already there, or without payroll.
    pub fn done_periods(&self, dossier: &str) -> Result<std::collections::BTreeSet<Period>, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT DISTINCT period FROM runs WHERE dossier = ?1 AND dry_run = 0
               AND status IN ('imported', 'already_imported', 'no_data')",
        )?;
        let rows = stmt.query_map([dossier], |r| r.get::<_, String>(0))?;
        let mut out = std::collections::BTreeSet::new();
        for r in rows {
            if let Ok(p) = r?.parse() {
                out.insert(p);
            }
        }
        Ok(out)
    }

    /// The dossiers with a run still `running` (its process may have died).
    pub fn dossiers_with_running_runs(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.read();
        let mut stmt =
            conn.prepare_cached("SELECT DISTINCT dossier FROM runs WHERE status = 'running' ORDER BY dossier")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Runs left `running` by a process that died: marked `interrupted`, never left running.
    pub fn interrupt_stale_runs(&self, dossier: &str, now: &str) -> Result<usize, StoreError> {
        self.check()?;
        let conn = self.write();
        Ok(conn.execute(
            "UPDATE runs SET status = 'interrupted', finished_at = ?2,
                 message = 'the process running this import stopped before its end; nothing was half-written (one transaction in Odoo)'
             WHERE dossier = ?1 AND status = 'running'",
            params![dossier, now],
        )?)
    }
}

/// A dossier whose imports fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertState {
    pub failing_since: String,
    pub last_sent_at: Option<String>,
    pub last_kind: Option<ErrorKind>,
}

impl Store {
    /// Records what Silae's last answer announced of its client secrets' expiry (`which` is
    /// `primary` or `secondary`; `None`: not announced, the row goes). Unchanged rows keep
    /// their `seen_at`: the first time the date was seen.
    pub fn record_key_expiry(&self, which: &str, expires: Option<&str>, now: &str) -> Result<(), StoreError> {
        let conn = self.write();
        match expires {
            Some(e) => conn.execute(
                "INSERT INTO silae_key_expiry (which, expires, seen_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (which) DO UPDATE SET expires = excluded.expires, seen_at = excluded.seen_at
                 WHERE expires IS NOT excluded.expires",
                params![which, e, now],
            )?,
            None => conn.execute("DELETE FROM silae_key_expiry WHERE which = ?1", [which])?,
        };
        Ok(())
    }

    /// Records a notice sent; `false` when it already was (another process sent it first).
    pub fn record_key_notice(
        &self,
        which: &str,
        expires: &str,
        notice: &str,
        sent_at: &str,
        sent_to: &str,
    ) -> Result<bool, StoreError> {
        let n = self.write().execute(
            "INSERT INTO silae_key_notices (which, expires, notice, sent_at, sent_to) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT DO NOTHING",
            params![which, expires, notice, sent_at, sent_to],
        )?;
        Ok(n == 1)
    }

    /// Forgets a notice claimed but not sent (it is tried again on the next run).
    pub fn forget_key_notice(&self, which: &str, expires: &str, notice: &str) -> Result<(), StoreError> {
        self.write().execute(
            "DELETE FROM silae_key_notices WHERE which = ?1 AND expires = ?2 AND notice = ?3",
            params![which, expires, notice],
        )?;
        Ok(())
    }

    /// The notices sent: (which, expires, notice, sent at).
    pub fn key_notices(&self) -> Result<Vec<(String, String, String, String)>, StoreError> {
        let conn = self.read();
        let mut stmt = conn
            .prepare("SELECT which, expires, notice, sent_at FROM silae_key_notices ORDER BY which, expires, notice")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The announced expiries: (which, expires, first seen at), primary first.
    pub fn key_expiry(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare("SELECT which, expires, seen_at FROM silae_key_expiry ORDER BY which")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn alert_state(&self, dossier: &str) -> Result<Option<AlertState>, StoreError> {
        Ok(self
            .read()
            .query_row(
                "SELECT failing_since, last_sent_at, last_kind FROM alert_states WHERE dossier = ?1",
                [dossier],
                |r| Ok(AlertState { failing_since: r.get(0)?, last_sent_at: r.get(1)?, last_kind: r.get(2)? }),
            )
            .optional()?)
    }

    pub fn set_alert_state(&self, dossier: &str, state: Option<&AlertState>) -> Result<(), StoreError> {
        let conn = self.write();
        match state {
            Some(s) => conn.execute(
                "INSERT INTO alert_states (dossier, failing_since, last_sent_at, last_kind) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (dossier) DO UPDATE SET failing_since = excluded.failing_since,
                    last_sent_at = excluded.last_sent_at, last_kind = excluded.last_kind",
                params![dossier, s.failing_since, s.last_sent_at, s.last_kind],
            )?,
            None => conn.execute("DELETE FROM alert_states WHERE dossier = ?1", [dossier])?,
        };
        Ok(())
    }

    /// Notes on a run what was done about alerting.
    pub fn set_run_alert(&self, run: i64, alert: &str) -> Result<(), StoreError> {
        let conn = self.write();
        conn.execute("UPDATE runs SET alert = ?2 WHERE id = ?1", params![run, alert])?;
        Ok(())
    }
}

/// A background import job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub job_id: i64,
    pub dossier: String,
    pub periods: Vec<String>,
    pub dry_run: bool,
    pub requested_by: Option<String>,
    pub state: JobState,
    pub done: i64,
    pub total: i64,
    pub runs: Vec<i64>,
    pub created_at: String,
    pub finished_at: Option<String>,
}

/// Where an RPC import job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Running,
    Done,
    Interrupted,
}

impl JobState {
    pub const ALL: [JobState; 3] = [JobState::Running, JobState::Done, JobState::Interrupted];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Interrupted => "interrupted",
        }
    }
}

impl std::str::FromStr for JobState {
    type Err = String;
    fn from_str(s: &str) -> Result<JobState, String> {
        JobState::ALL.into_iter().find(|j| j.as_str() == s).ok_or_else(|| format!("unknown job state {s:?}"))
    }
}

sql_text_enum!(JobState);

impl Store {
    pub fn create_job(
        &self,
        dossier: &str,
        periods: &[Period],
        dry_run: bool,
        by: Option<&str>,
        now: &str,
    ) -> Result<i64, StoreError> {
        self.check()?;
        let conn = self.write();
        let list: Vec<String> = periods.iter().map(|p| p.to_string()).collect();
        conn.execute(
            "INSERT INTO jobs (dossier, periods, dry_run, requested_by, state, total, created_at) VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6)",
            params![dossier, serde_json::to_string(&list).expect("json"), dry_run, by, list.len() as i64, now],
        )?;
        Ok(conn.last_insert_rowid())
    }

    pub fn job_progress(&self, id: i64, done: i64, runs: &[i64]) -> Result<(), StoreError> {
        let conn = self.write();
        conn.execute(
            "UPDATE jobs SET done = ?2, runs = ?3 WHERE id = ?1",
            params![id, done, serde_json::to_string(runs).expect("json")],
        )?;
        Ok(())
    }

    pub fn finish_job(&self, id: i64, state: JobState, now: &str) -> Result<(), StoreError> {
        let conn = self.write();
        conn.execute("UPDATE jobs SET state = ?2, finished_at = ?3 WHERE id = ?1", params![id, state, now])?;
        Ok(())
    }

    /// Jobs left running by a process that stopped: interrupted, never running forever.
    pub fn interrupt_jobs(&self, now: &str) -> Result<usize, StoreError> {
        Ok(self
            .write()
            .execute("UPDATE jobs SET state = 'interrupted', finished_at = ?1 WHERE state = 'running'", [now])?)
    }

    pub fn job(&self, id: i64) -> Result<Option<Job>, StoreError> {
        Ok(self
            .read()
            .query_row(
                "SELECT id, dossier, periods, dry_run, requested_by, state, done, total, runs, created_at, finished_at FROM jobs WHERE id = ?1",
                [id],
                |r| {
                    Ok(Job {
                        job_id: r.get(0)?,
                        dossier: r.get(1)?,
                        periods: json_col(r, 2)?,
                        dry_run: r.get(3)?,
                        requested_by: r.get(4)?,
                        state: r.get(5)?,
                        done: r.get(6)?,
                        total: r.get(7)?,
                        runs: json_col(r, 8)?,
                        created_at: r.get(9)?,
                        finished_at: r.get(10)?,
                    })
                },
            )
            .optional()?)
    }

    /// Runs by status and error kind, for the metrics.
    pub fn run_counts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT status, COALESCE(error_kind, ''), COUNT(*) FROM runs GROUP BY 1, 2 ORDER BY 1, 2",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The end of the latest successful (non-preview) run of each dossier.
    pub fn last_successes(&self) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT dossier, MAX(finished_at) FROM runs WHERE dry_run = 0 AND finished_at IS NOT NULL
               AND status IN ('imported', 'already_imported', 'no_data') GROUP BY dossier ORDER BY dossier",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The latest finished non-preview run of each configured dossier, for the health check:
    /// one index walk per dossier, not a scan of the whole log.
    pub fn latest_runs(&self) -> Result<Vec<Run>, StoreError> {
        let sql = format!(
            "{RUN_SELECT} WHERE id IN (SELECT (SELECT r.id FROM runs r WHERE r.dossier = d.silae_number
                AND r.dry_run = 0 AND r.status != 'running' ORDER BY r.id DESC LIMIT 1) FROM dossiers d)
             ORDER BY dossier"
        );
        let conn = self.read();
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([], run_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// A remembered Odoo session: protocol, major version and uid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OdooSession {
    pub protocol: crate::odoo::Protocol,
    pub major: i64,
    pub uid: i64,
}

impl Store {
    /// The session remembered for this Odoo user; `None` when there is none, or when its
    /// protocol is one this agent does not speak (an `xmlrpc` row of an older agent): the
    /// agent then authenticates again and replaces it. Never an error for that.
    pub fn odoo_session(&self, url: &str, database: &str, login: &str) -> Result<Option<OdooSession>, StoreError> {
        let row = self
            .read()
            .query_row(
                "SELECT protocol, major, uid FROM odoo_sessions WHERE url = ?1 AND database = ?2 AND login = ?3",
                params![url, database, login],
                |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        Ok(row.and_then(|(protocol, major, uid)| {
            let protocol = crate::odoo::Protocol::from_text(&protocol);
            if protocol.is_none() {
                tracing::info!("the remembered Odoo session is for another protocol: authenticating again");
            }
            Some(OdooSession { protocol: protocol?, major, uid })
        }))
    }

    pub fn save_odoo_session(
        &self,
        url: &str,
        database: &str,
        login: &str,
        s: Option<&OdooSession>,
        now: &str,
    ) -> Result<(), StoreError> {
        let conn = self.write();
        match s {
            Some(s) => conn.execute(
                "INSERT INTO odoo_sessions (url, database, login, protocol, major, uid, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (url, database, login) DO UPDATE SET protocol = excluded.protocol, major = excluded.major,
                    uid = excluded.uid, updated_at = excluded.updated_at",
                params![url, database, login, s.protocol.as_str(), s.major, s.uid, now],
            )?,
            None => conn.execute(
                "DELETE FROM odoo_sessions WHERE url = ?1 AND database = ?2 AND login = ?3",
                params![url, database, login],
            )?,
        };
        Ok(())
    }
}

/// (device, inode) of a file; `None` when it does not exist (or on systems without them).
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(path).ok().map(|_| (0, 0))
    }
}

const DOSSIER_SELECT: &str = "SELECT silae_number, name, company_id, journal_code, transfer_day, alert_emails, enabled,
    account_map, analytic, start_period, wait_closed, journal_map, payments, payments_journal, large, target, corrections, partner_map FROM dossiers";

fn json_col<T: serde::de::DeserializeOwned>(row: &Row, i: usize) -> rusqlite::Result<T> {
    let text: String = row.get(i)?;
    serde_json::from_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e)))
}

/// A dossier's alert addresses as stored. One an older agent let in but that is no address
/// (its check was looser) is left out with a warning: the dossier stays readable, and the
/// alert goes to the others (before, that address failed the whole e-mail).
fn stored_emails(row: &Row, i: usize) -> rusqlite::Result<Vec<AlertEmail>> {
    let texts: Vec<String> = json_col(row, i)?;
    Ok(texts
        .iter()
        .filter_map(|t| match t.parse() {
            Ok(a) => Some(a),
            Err(e) => {
                tracing::warn!("a stored alert e-mail is left out: {e}; set the dossier's alert e-mails again");
                None
            }
        })
        .collect())
}

fn dossier_from_row(row: &Row) -> rusqlite::Result<Dossier> {
    let start: Option<String> = row.get(9)?;
    Ok(Dossier {
        silae_number: row.get(0)?,
        name: row.get(1)?,
        company_id: row.get(2)?,
        journal_code: row.get(3)?,
        transfer_day: row.get(4)?,
        alert_emails: stored_emails(row, 5)?,
        enabled: row.get(6)?,
        account_map: json_col(row, 7)?,
        analytic: json_col(row, 8)?,
        start_period: start.and_then(|s| s.parse().ok()),
        wait_closed: row.get(10)?,
        journal_map: json_col(row, 11)?,
        payments: row.get(12)?,
        payments_journal: row.get(13)?,
        large: row.get(14)?,
        target: row.get(15)?,
        corrections: row.get(16)?,
        partner_map: json_col(row, 17)?,
    })
}

const RUN_SELECT: &str = "SELECT id, dossier, period, trigger, triggered_by, dry_run, started_at, finished_at, status,
    error_kind, message, moves, total_debit, total_credit, line_count, alert, outcome, target FROM runs";

fn run_from_row(row: &Row) -> rusqlite::Result<Run> {
    let stored: Option<String> = row.get(16)?;
    let typed = stored.and_then(|json| match serde_json::from_str::<Outcome>(&json) {
        Ok(o) => Some(o),
        Err(e) => {
            tracing::warn!("run outcome not readable, read from its columns: {e}");
            None
        }
    });
    let outcome = match typed {
        Some(o) => o,
        None => {
            let moves: Vec<i64> = json_col(row, 11)?;
            let status: Status = row.get(8)?;
            let kind: Option<ErrorKind> = row.get(9)?;
            let message: String = row.get(10)?;
            Outcome::legacy(&row.get::<_, String>(1)?, &row.get::<_, String>(2)?, status, kind, &message, &moves)
        }
    };
    Ok(Run {
        id: row.get(0)?,
        dossier: row.get(1)?,
        period: row.get(2)?,
        trigger: row.get(3)?,
        triggered_by: row.get(4)?,
        dry_run: row.get(5)?,
        started_at: row.get(6)?,
        finished_at: row.get(7)?,
        status: row.get(8)?,
        error_kind: row.get(9)?,
        message: row.get(10)?,
        moves: json_col(row, 11)?,
        total_debit_cents: row.get(12)?,
        total_credit_cents: row.get(13)?,
        line_count: row.get(14)?,
        alert: row.get(15)?,
        outcome,
        target: row.get(17)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn dossier(n: &str) -> Dossier {
        Dossier {
            silae_number: n.into(),
            name: "ACME".into(),
            company_id: 1,
            journal_code: "SAL".into(),
            transfer_day: 5,
            alert_emails: vec!["paie@example.com".parse().unwrap()],
            account_map: BTreeMap::from([("42100000".into(), "421100".into())]),
            analytic: BTreeMap::from([("1".into(), "PARIS".into())]),
            start_period: Some("2026-01".parse().unwrap()),
            partner_map: BTreeMap::from([("43100000".into(), "URSSAF".into())]),
            ..Default::default()
        }
    }

    #[test]
    fn an_odoo_session_reads_back_typed_and_an_old_xmlrpc_one_as_none() {
        use crate::odoo::Protocol;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let (url, db) = ("http://odoo", "payflow");
        assert_eq!(store.odoo_session(url, db, "admin").unwrap(), None);
        let s = OdooSession { protocol: Protocol::Json2, major: 19, uid: 2 };
        store.save_odoo_session(url, db, "admin", Some(&s), "2026-11-01T00:00:00Z").unwrap();
        assert_eq!(store.odoo_session(url, db, "admin").unwrap(), Some(s));
        // A row an older agent wrote: read as "no session" (authenticate again), no error.
        store
            .write()
            .execute("UPDATE odoo_sessions SET protocol = 'xmlrpc', major = 16 WHERE url = ?1", params![url])
            .unwrap();
        assert_eq!(store.odoo_session(url, db, "admin").unwrap(), None);
        let s = OdooSession { protocol: Protocol::JsonRpc, major: 18, uid: 2 };
        store.save_odoo_session(url, db, "admin", Some(&s), "2026-11-02T00:00:00Z").unwrap();
        assert_eq!(store.odoo_session(url, db, "admin").unwrap(), Some(s), "replaced by the new session");
    }

    #[test]
    fn migrates_and_uses_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b.sqlite3");
        let s = Store::open(&path).unwrap();
        let mode: String = s.write().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        drop(s);
        // Re-opening an up-to-date database is fine.
        Store::open(&path).unwrap();
    }

    #[test]
    fn runs_of_a_database_before_typed_outcomes_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite3");
        {
            // A database as the previous version left it: migrations 1 to 4, a finished run.
            let mut conn = Connection::open(&path).unwrap();
            let old = Migrations::new(MIGRATIONS_UP_TO_4.iter().map(|sql| M::up(sql)).collect());
            old.to_latest(&mut conn).unwrap();
            conn.execute(
                "INSERT INTO runs (dossier, period, trigger, started_at, finished_at, status, error_kind, message, moves)
                 VALUES ('100200', '2026-10', 'timer', 't0', 't1', 'failed', 'missing_accounts', 'old words', '[]'),
                        ('100200', '2026-09', 'timer', 't0', 't1', 'imported', NULL, 'done', '[41]')",
                [],
            )
            .unwrap();
        }
        let s = Store::open(&path).unwrap();
        let runs = s.runs(&RunFilter::default()).unwrap();
        assert_eq!(runs.len(), 2);
        let failed = &runs[1].outcome;
        assert_eq!((failed.status, failed.error_kind), (Status::Failed, Some(ErrorKind::MissingAccounts)));
        assert_eq!(failed.english(), "old words");
        assert_eq!(failed.action, crate::outcome::Action::CreateOrMapAccounts);
        assert_eq!(runs[0].outcome.move_ids(), [41]);
        assert_eq!((runs[0].trigger, runs[0].status, runs[0].error_kind), (Trigger::Timer, Status::Imported, None));
    }

    #[test]
    fn unknown_state_text_in_the_database_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db")).unwrap();
        for (column, value, said) in [
            ("status", "exploded", "unknown status \"exploded\""),
            ("trigger", "cron", "unknown trigger \"cron\""),
            ("error_kind", "gremlins", "unknown error kind \"gremlins\""),
        ] {
            let id = s.start_run("100200", "2026-10".parse().unwrap(), Trigger::Cli, None, false, "t0").unwrap();
            s.write().execute(&format!("UPDATE runs SET {column} = ?1 WHERE id = ?2"), params![value, id]).unwrap();
            let err = s.run(id).unwrap_err();
            assert!(matches!(err, StoreError::Sql(_)), "{err:?}");
            assert!(err.to_string().contains(said), "{err}");
            s.write().execute("DELETE FROM runs WHERE id = ?1", [id]).unwrap();
        }
    }

    const MIGRATIONS_UP_TO_4: [&str; 4] = [
        include_str!("migrations/0001_init.sql"),
        include_str!("migrations/0002_odoo_sessions.sql"),
        include_str!("migrations/0003_alerts.sql"),
        include_str!("migrations/0004_jobs.sql"),
    ];

    #[test]
    fn the_salary_payments_setting_is_kept_and_needs_its_journal() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db")).unwrap();
        let mut d = dossier("100200");
        assert_eq!((s.upsert_dossier(&d, "t0").unwrap().payments, d.payments_journal.as_deref()), (false, None));
        d.payments = true;
        let err = s.upsert_dossier(&d, "t1").unwrap_err().to_string();
        assert!(err.contains("payments_journal (--payments-journal CODE)"), "{err}");
        assert!(!s.dossier("100200").unwrap().payments, "a refused change changes nothing");
        d.payments_journal = Some("x".repeat(17));
        assert!(s.upsert_dossier(&d, "t1").unwrap_err().to_string().contains("1 to 16 characters"));
        d.payments_journal = Some(" BNK1 ".into());
        let saved = s.upsert_dossier(&d, "t2").unwrap();
        assert_eq!((saved.payments, saved.payments_journal.as_deref()), (true, Some("BNK1")));
        // Off again, the journal kept for the next time.
        d.payments = false;
        let saved = s.upsert_dossier(&d, "t3").unwrap();
        assert_eq!((saved.payments, saved.payments_journal.as_deref()), (false, Some("BNK1")));
        // The RPC's dossiers.add: a dossier without the fields is one without payments.
        let v = serde_json::to_value(dossier("100300")).unwrap();
        let mut o = v.as_object().unwrap().clone();
        o.remove("payments");
        o.remove("payments_journal");
        let back: Dossier = serde_json::from_value(serde_json::Value::Object(o)).unwrap();
        assert_eq!((back.payments, back.payments_journal), (false, None));
    }

    #[test]
    fn dossiers_round_trip_and_update() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db")).unwrap();
        let d = dossier("100200");
        assert_eq!(s.upsert_dossier(&d, "t0").unwrap(), d);
        let mut d2 = d.clone();
        d2.name = "ACME SAS".into();
        d2.transfer_day = 31;
        assert_eq!(s.upsert_dossier(&d2, "t1").unwrap(), d2);
        assert_eq!(s.dossiers().unwrap(), [d2]);
        assert!(matches!(s.dossier("9"), Err(StoreError::UnknownDossier(_))));
        assert!(s.remove_dossier("100200").unwrap());
        assert!(!s.remove_dossier("100200").unwrap());
    }

    #[test]
    fn invalid_dossiers_are_refused_with_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db")).unwrap();
        type Change = fn(&mut Dossier);
        let cases: [(Change, &str); 7] = [
            (|d| d.transfer_day = 32, "transfer_day 32"),
            (|d| d.company_id = 0, "company_id 0"),
            (|d| d.alert_emails = vec!["a@example.com".parse().unwrap(); 21], "alert_emails: 21 addresses"),
            (|d| d.silae_number = "10 02".into(), "silae_number"),
            (|d| d.analytic = BTreeMap::from([("0".into(), "X".into())]), "analytic \"0\""),
            (|d| d.partner_map = BTreeMap::from([("43100000".into(), " ".into())]), "partner_map \"43100000\""),
            (|d| d.partner_map = BTreeMap::from([("43100000".into(), "U".repeat(129))]), "SILAE_CODE=PARTNER"),
        ];
        for (change, expected) in cases {
            let mut d = dossier("1");
            change(&mut d);
            let err = s.upsert_dossier(&d, "t").unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
        assert!(s.dossiers().unwrap().is_empty());
    }

    #[test]
    fn runs_are_listed_newest_first_with_filters() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db")).unwrap();
        let p: Period = "2026-10".parse().unwrap();
        let a = s.start_run("100200", p, Trigger::Cli, Some("root"), true, "t0").unwrap();
        let b = s.start_run("100300", p, Trigger::Timer, None, false, "t1").unwrap();
        let long = "x".repeat(10_000);
        let failed = Outcome::failed(
            "100200",
            "2026-10",
            ErrorKind::Unbalanced,
            crate::outcome::Facts::Error { detail: long.clone() },
        );
        s.finish_run(a, &RunOutcome { outcome: failed, plan_json: None }, "t2").unwrap();
        let imported = Outcome::legacy("100300", "2026-10", Status::Imported, None, "ok", &[7, 8]);
        s.finish_run(b, &RunOutcome { outcome: imported.clone(), plan_json: None }, "t3").unwrap();
        let all = s.runs(&RunFilter::default()).unwrap();
        assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), [b, a]);
        assert_eq!(all[1].message.len(), 10_000, "messages are never cut");
        assert_eq!(all[0].moves, [7, 8]);
        assert_eq!(all[0].outcome, imported, "the typed outcome reads back as written");
        assert_eq!(all[1].outcome.error_kind, Some(ErrorKind::Unbalanced));
        let failed = s.runs(&RunFilter { status: Some(Status::Failed), ..Default::default() }).unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!((failed[0].status, failed[0].error_kind), (Status::Failed, Some(ErrorKind::Unbalanced)));
        assert_eq!((all[0].trigger, all[1].trigger), (Trigger::Timer, Trigger::Cli));
        let older = s.runs(&RunFilter { before_id: Some(b), ..Default::default() }).unwrap();
        assert_eq!(older[0].id, a);
        assert_eq!(s.runs(&RunFilter { dossier: Some("100300".into()), ..Default::default() }).unwrap()[0].id, b);
        assert_eq!(s.run(a).unwrap().triggered_by.as_deref(), Some("root"));
        let both = RunFilter {
            dossier: Some("100200".into()),
            status: Some(Status::Failed),
            period: Some("2026-10".into()),
            before_id: Some(b),
            limit: Some(1),
            target: Some("default".into()),
        };
        assert_eq!(s.runs(&both).unwrap().iter().map(|r| r.id).collect::<Vec<_>>(), [a]);
        assert!(s
            .runs(&RunFilter { dossier: Some("100300".into()), status: Some(Status::Failed), ..both })
            .unwrap()
            .is_empty());
    }

    #[test]
    fn readers_see_each_write_at_once_while_writes_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db")).unwrap();
        let p: Period = "2026-10".parse().unwrap();
        std::thread::scope(|scope| {
            for t in 0..4 {
                let s = &s;
                scope.spawn(move || {
                    for i in 0..50 {
                        let id = s.start_run(&format!("D{t}"), p, Trigger::Cli, None, false, "t").unwrap();
                        let newest = s.runs(&RunFilter { dossier: Some(format!("D{t}")), ..Default::default() });
                        assert_eq!(newest.unwrap()[0].id, id, "thread {t}, write {i}");
                    }
                });
            }
        });
        assert_eq!(s.runs(&RunFilter { limit: Some(1000), ..Default::default() }).unwrap().len(), 200);
    }

    #[test]
    fn a_filtered_run_log_reads_an_index_not_the_whole_log() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db")).unwrap();
        let plan = |sql: &str| -> String {
            let conn = s.read();
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows = stmt.query_map([], |r| r.get::<_, String>(3)).unwrap();
            rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("; ")
        };
        let x = Some("x".to_string());
        let cases = [
            (RunFilter { dossier: x.clone(), ..Default::default() }, "runs_by_dossier"),
            (RunFilter { status: Some(Status::Failed), ..Default::default() }, "runs_by_status"),
            (RunFilter { period: x.clone(), ..Default::default() }, "runs_by_period"),
            (RunFilter { dossier: x.clone(), before_id: Some(9), ..Default::default() }, "runs_by_dossier"),
            (RunFilter { target: x.clone(), ..Default::default() }, "runs_by_target"),
        ];
        for (filter, index) in cases {
            let sql = runs_sql(&filter).replacen("?", "'x'", 1).replace("?", "50");
            let shown = plan(&sql);
            assert!(shown.contains(index), "{filter:?}: {shown}");
        }
    }
}
