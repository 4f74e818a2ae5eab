//! The typed outcome of a run: a status, an error kind, and the facts behind them (moves with
//! their Odoo names, totals in cents per rupture, missing accounts with what was tried and
//! Silae's label, what to do as an action code). Built once by the import, stored as JSON in
//! the run log (`runs.outcome`), carried by the RPC; each reader renders it in its reader's
//! language: [`Outcome::english`] for the CLI and the contract's `message`, [`Outcome::french`]
//! for the alert e-mails; the addon renders the same object through Odoo's translations.
//! Pure: no I/O.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The contract's error kinds of a failed run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// The local state cannot be written (database locked, full disk, deleted, lock file
    /// unusable): nothing was asked of Silae or Odoo.
    State,
    /// Silae gives another payroll for a draft a person changed in Odoo: never replaced.
    ChangedInOdoo,
    /// Silae corrected a payroll already posted in Odoo (the dossier's `corrections = "alert"`).
    PostedChanged,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 13] = [
        ErrorKind::Config,
        ErrorKind::SilaeAuth,
        ErrorKind::SilaeUnavailable,
        ErrorKind::SilaeBadResponse,
        ErrorKind::Unbalanced,
        ErrorKind::MissingAccounts,
        ErrorKind::MissingJournal,
        ErrorKind::OdooAuth,
        ErrorKind::OdooUnavailable,
        ErrorKind::OdooRejected,
        ErrorKind::State,
        ErrorKind::ChangedInOdoo,
        ErrorKind::PostedChanged,
    ];

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
            ErrorKind::State => "state",
            ErrorKind::ChangedInOdoo => "changed_in_odoo",
            ErrorKind::PostedChanged => "posted_changed",
        }
    }

    /// Whether trying again later may succeed without anyone changing anything.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::SilaeUnavailable | ErrorKind::OdooUnavailable)
    }

    /// What someone has to do about a failure of this kind.
    pub fn action(self) -> Action {
        match self {
            ErrorKind::Config => Action::FixConfig,
            ErrorKind::SilaeAuth => Action::RenewSilaeCredentials,
            ErrorKind::SilaeUnavailable | ErrorKind::OdooUnavailable => Action::RetryLater,
            ErrorKind::SilaeBadResponse | ErrorKind::State => Action::ReportToAdministrator,
            ErrorKind::Unbalanced => Action::FixPayrollInSilae,
            ErrorKind::MissingAccounts => Action::CreateOrMapAccounts,
            ErrorKind::MissingJournal => Action::CreateJournal,
            ErrorKind::OdooAuth => Action::CheckOdooUser,
            ErrorKind::OdooRejected => Action::ReadOdooRefusal,
            ErrorKind::ChangedInOdoo => Action::ReviewChangedDraft,
            ErrorKind::PostedChanged => Action::BookPostedCorrection,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ErrorKind {
    type Err = String;
    fn from_str(s: &str) -> Result<ErrorKind, String> {
        ErrorKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| format!("unknown error kind {s:?}"))
    }
}

/// The statuses of the run log. A run's report carries the contract's six (`previewed` is a dry
/// run that found nothing wrong); `running` and `interrupted` exist only in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Imported,
    AlreadyImported,
    NoData,
    Waiting,
    Previewed,
    Failed,
    Running,
    Interrupted,
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::Imported,
        Status::AlreadyImported,
        Status::NoData,
        Status::Waiting,
        Status::Previewed,
        Status::Failed,
        Status::Running,
        Status::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Imported => "imported",
            Status::AlreadyImported => "already_imported",
            Status::NoData => "no_data",
            Status::Waiting => "waiting",
            Status::Previewed => "previewed",
            Status::Failed => "failed",
            Status::Running => "running",
            Status::Interrupted => "interrupted",
        }
    }

    pub fn is_success(self) -> bool {
        !matches!(self, Status::Failed | Status::Interrupted | Status::Running)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Status, String> {
        Status::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| format!("unknown status {s:?}"))
    }
}

/// `ToSql`/`FromSql` for an enum stored as its `as_str()` text and read back with `FromStr`:
/// unknown text in the database is a conversion error (a `StoreError`), never a panic.
macro_rules! sql_text_enum {
    ($t:ty) => {
        impl rusqlite::types::ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
            }
        }
        impl rusqlite::types::FromSql for $t {
            fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
                value.as_str()?.parse().map_err(|e: String| rusqlite::types::FromSqlError::Other(e.into()))
            }
        }
    };
}
pub(crate) use sql_text_enum;
sql_text_enum!(Status);
sql_text_enum!(ErrorKind);

/// What to do, as a code each reader renders in its language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Nothing to do.
    None,
    /// Nothing to do: the next daily run tries again.
    RetryLater,
    /// Nothing to do: imported once Silae closes the period.
    WaitSilaeClose,
    CreateOrMapAccounts,
    CreateJournal,
    FixPayrollInSilae,
    RenewSilaeCredentials,
    CheckOdooUser,
    ReadOdooRefusal,
    FixConfig,
    ReportToAdministrator,
    /// Report Silae's differences on the changed draft by hand, or delete it so that the next
    /// run imports Silae's payroll again.
    ReviewChangedDraft,
    /// Book the difference by hand, or set the dossier's corrections to `adjust`.
    BookPostedCorrection,
}

/// One account (and analytic account) whose amounts differ between what Odoo holds and what
/// Silae now says, in cents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountDiff {
    /// The Odoo account code (Silae's code when it has no Odoo account).
    pub account: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub analytic: Option<String>,
    pub odoo_debit_cents: i64,
    pub odoo_credit_cents: i64,
    pub silae_debit_cents: i64,
    pub silae_credit_cents: i64,
}

impl AccountDiff {
    fn head(&self) -> String {
        let mut text = self.account.clone();
        if let Some(n) = self.name.as_deref().filter(|n| !n.is_empty()) {
            text.push_str(&format!(" {n}"));
        }
        if let Some(a) = &self.analytic {
            text.push_str(&format!(" ({a})"));
        }
        text
    }

    fn amounts(debit: i64, credit: i64, amount: fn(i64) -> String, words: (&str, &str)) -> String {
        match (debit, credit) {
            (d, 0) => format!("{} {}", words.0, amount(d)),
            (0, c) => format!("{} {}", words.1, amount(c)),
            (d, c) => format!("{} {}, {} {}", words.0, amount(d), words.1, amount(c)),
        }
    }

    pub fn english(&self) -> String {
        let a = |d, c| AccountDiff::amounts(d, c, en_amount, ("debit", "credit"));
        let (o, s) =
            (a(self.odoo_debit_cents, self.odoo_credit_cents), a(self.silae_debit_cents, self.silae_credit_cents));
        match (
            self.odoo_debit_cents == 0 && self.odoo_credit_cents == 0,
            self.silae_debit_cents == 0 && self.silae_credit_cents == 0,
        ) {
            (true, _) => format!("{}: added by Silae, {s}", self.head()),
            (_, true) => format!("{}: removed by Silae (Odoo holds {o})", self.head()),
            _ => format!("{}: {o} in Odoo, {s} by Silae", self.head()),
        }
    }

    pub fn french(&self) -> String {
        let a = |d, c| AccountDiff::amounts(d, c, fr_amount, ("débit", "crédit"));
        let (o, s) =
            (a(self.odoo_debit_cents, self.odoo_credit_cents), a(self.silae_debit_cents, self.silae_credit_cents));
        match (
            self.odoo_debit_cents == 0 && self.odoo_credit_cents == 0,
            self.silae_debit_cents == 0 && self.silae_credit_cents == 0,
        ) {
            (true, _) => format!("{} : ajouté par Silae, {s}", self.head()),
            (_, true) => format!("{} : retiré par Silae (Odoo porte {o})", self.head()),
            _ => format!("{} : {o} dans Odoo, {s} selon Silae", self.head()),
        }
    }
}

/// A move of the period Odoo holds under another payload than Silae's latest: a draft a person
/// changed (never replaced), or a posted move Silae corrected (never touched).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorrectedMove {
    pub import_key: String,
    #[serde(rename = "move")]
    pub odoo_move: MoveRef,
    /// `draft` or `posted`.
    pub state: String,
    /// Who changed the draft last, and when (Odoo's time, UTC).
    #[serde(default)]
    pub changed_by: Option<String>,
    #[serde(default)]
    pub changed_at: Option<String>,
    /// What changed: `move`, `lines`, `attachment`, `message`.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// The adjustments already booked for a posted move (counted in `diff`).
    #[serde(default)]
    pub adjustments: Vec<MoveRef>,
    /// Per account: what Odoo holds against what Silae now says.
    pub diff: Vec<AccountDiff>,
}

impl CorrectedMove {
    fn english(&self) -> String {
        let mut text = match self.state.as_str() {
            "draft" => format!(
                "- the draft {} ({}), changed in Odoo by {} on {} UTC ({}):",
                self.odoo_move.label(),
                self.import_key,
                self.changed_by.as_deref().unwrap_or("?"),
                self.changed_at.as_deref().unwrap_or("?"),
                self.reasons.join(", ")
            ),
            _ => format!(
                "- the posted move {} ({}{}):",
                self.odoo_move.label(),
                self.import_key,
                match self.adjustments.is_empty() {
                    true => String::new(),
                    false => format!(
                        ", with its adjustments {}",
                        self.adjustments.iter().map(MoveRef::label).collect::<Vec<_>>().join(", ")
                    ),
                }
            ),
        };
        for d in &self.diff {
            text.push_str(&format!("\n    {}", d.english()));
        }
        text
    }

    fn french(&self) -> String {
        let mut text = match self.state.as_str() {
            "draft" => format!(
                "- le brouillon {}, modifié dans Odoo par {} le {} (UTC) ({}) :",
                self.odoo_move.label(),
                self.changed_by.as_deref().unwrap_or("?"),
                self.changed_at.as_deref().unwrap_or("?"),
                self.reasons.iter().map(|r| reason_fr(r)).collect::<Vec<_>>().join(", ")
            ),
            _ => format!(
                "- la pièce comptabilisée {}{} :",
                self.odoo_move.label(),
                match self.adjustments.is_empty() {
                    true => String::new(),
                    false => format!(
                        " (avec ses régularisations {})",
                        self.adjustments.iter().map(MoveRef::label).collect::<Vec<_>>().join(", ")
                    ),
                }
            ),
        };
        for d in &self.diff {
            text.push_str(&format!("\n    {}", d.french()));
        }
        text
    }
}

fn reason_fr(reason: &str) -> &str {
    match reason {
        "move" => "pièce",
        "lines" => "lignes",
        "attachment" => "pièce jointe",
        "message" => "message",
        other => other,
    }
}

/// The words of a corrected moves' text in one language (`corrected_text`).
struct CorrectedWords {
    drafts: fn(usize) -> String,
    drafts_todo: &'static str,
    posted: fn(usize) -> String,
    posted_todo: &'static str,
    line: fn(&CorrectedMove) -> String,
}

/// Drafts a person changed, then posted moves Silae corrected: each group's head, one line per
/// move, what to do.
fn corrected_text(moves: &[CorrectedMove], w: &CorrectedWords) -> String {
    let (drafts, posted): (Vec<&CorrectedMove>, Vec<&CorrectedMove>) = moves.iter().partition(|m| m.state == "draft");
    let mut parts = Vec::new();
    for (group, head, todo) in [(drafts, w.drafts, w.drafts_todo), (posted, w.posted, w.posted_todo)] {
        if group.is_empty() {
            continue;
        }
        let mut text = head(group.len());
        for m in group {
            text.push('\n');
            text.push_str(&(w.line)(m));
        }
        text.push('\n');
        text.push_str(todo);
        parts.push(text);
    }
    parts.join("\n")
}

/// The English text of corrected moves (the run's message, the refusal's text).
pub fn corrected_english(moves: &[CorrectedMove]) -> String {
    corrected_text(
        moves,
        &CorrectedWords {
            drafts: |n| format!("nothing was written: Silae now gives another payroll for {n} draft(s) a person changed in Odoo, which PayFlow never replaces:"),
            drafts_todo: "What to do: report Silae's differences on the draft by hand (then the next runs leave it), or delete the draft so that the next run imports Silae's payroll again.",
            posted: |n| format!("nothing was written: Silae corrected {n} payroll move(s) already posted in Odoo (never touched):"),
            posted_todo: "What to do: book the difference by hand, or let PayFlow book it as a draft adjustment move: payflow-agent dossier add ... --corrections adjust (the dossier's form in Odoo: Corrections = Adjust).",
            line: CorrectedMove::english,
        },
    )
}

fn corrected_french(moves: &[CorrectedMove]) -> String {
    corrected_text(
        moves,
        &CorrectedWords {
            drafts: |n| format!("Rien n'a été écrit : Silae donne une autre paie pour {n} brouillon(s) modifié(s) dans Odoo, que PayFlow ne remplace jamais :"),
            drafts_todo: "À faire : reportez à la main les écarts de Silae sur le brouillon, ou supprimez le brouillon pour que le prochain import reprenne la paie de Silae.",
            posted: |n| format!("Rien n'a été écrit : Silae a corrigé {n} pièce(s) de paie déjà comptabilisée(s) dans Odoo (jamais modifiées) :"),
            posted_todo: "À faire : passez l'écart à la main, ou choisissez « Régulariser » (Corrections) sur le dossier pour que PayFlow crée une pièce de régularisation en brouillon.",
            line: CorrectedMove::french,
        },
    )
}

/// One move in Odoo, by id and by name (SAL/2026/10/0001).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveRef {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub rupture_label: Option<String>,
}

impl MoveRef {
    /// The name when Odoo gave one ("/" is a draft without a number), else `#id`.
    pub fn label(&self) -> String {
        match self.name.as_deref().filter(|n| !n.is_empty() && *n != "/") {
            Some(n) => n.to_owned(),
            None => format!("#{}", self.id),
        }
    }
}

/// Silae's totals of one rupture (one move), in cents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuptureTotal {
    pub rupture: String,
    pub label: String,
    pub lines: i64,
    pub debit_cents: i64,
    pub credit_cents: i64,
    /// A salary payment move's batch (or the advances), shown in the import log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<crate::payments::Source>,
}

/// Silae's totals of the period, in cents, and per rupture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub moves: i64,
    pub lines: i64,
    pub debit_cents: i64,
    pub credit_cents: i64,
    pub ruptures: Vec<RuptureTotal>,
}

/// A Silae account with no Odoo account: what was tried and Silae's label for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingAccount {
    pub code: String,
    pub tried: Vec<String>,
    pub label: Option<String>,
}

/// What a preview found in Odoo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OdooCheck {
    pub company: String,
    pub create: i64,
    pub replace: i64,
    pub already: i64,
    /// Adjustment moves to create for posted moves Silae corrected (`corrections = "adjust"`).
    #[serde(default)]
    pub adjust: i64,
    /// The addon is missing: a preview works, an import would not.
    pub addon_missing: Option<String>,
    /// Odoo accounts several Silae accounts land on, some without a partner (a warning).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unseparated: Vec<crate::partners::UnseparatedAccount>,
}

/// The facts behind a status, by case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "case", rename_all = "snake_case")]
pub enum Facts {
    /// Written: `created` new moves, `replaced` drafts, `already` left as they were, and
    /// `adjusted` draft adjustments of posted moves Silae corrected (listed last in `moves`).
    Imported {
        company: String,
        created: i64,
        replaced: i64,
        already: i64,
        #[serde(default)]
        adjusted: i64,
    },
    /// Every move of the period is already in Odoo; nothing written.
    AlreadyImported,
    /// The write answered an error but the moves are in Odoo (a concurrent run, or a commit
    /// whose answer was lost); nothing doubled.
    FoundAfterWriteError {
        error: String,
    },
    /// A dry run; `odoo` is `None` when Odoo could not be checked (no odoo_secret).
    Previewed {
        odoo: Option<OdooCheck>,
    },
    NoData,
    /// Silae has not closed the period; `in_progress` is Silae's current period.
    Waiting {
        in_progress: String,
    },
    /// The period is before the dossier's first one.
    BeforeStart {
        start: String,
    },
    MissingAccounts {
        accounts: Vec<MissingAccount>,
        analytic: Vec<String>,
        detail: String,
    },
    /// Moves Odoo holds under another payload than Silae's latest that cannot be replaced:
    /// drafts a person changed (`changed_in_odoo`), posted moves (`posted_changed`).
    Corrected {
        moves: Vec<CorrectedMove>,
    },
    /// Any other failure, with the English text of the error (names what to fix).
    Error {
        detail: String,
    },
    /// The process running the import stopped before its end.
    Interrupted,
    /// A run recorded before outcomes were typed: its English message only.
    Legacy {
        message: String,
    },
}

/// A run's typed outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub status: Status,
    pub error_kind: Option<ErrorKind>,
    pub action: Action,
    pub facts: Facts,
    /// Silae's totals, when the payroll was read and planned.
    pub totals: Option<Totals>,
    /// The period's moves in Odoo, in the plan's order.
    pub moves: Vec<MoveRef>,
    pub dossier: String,
    pub period: String,
    /// The period's net pay (421) by Silae's figures, when the dossier imports its salary
    /// payments (docs/payments.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_pay: Option<NetPay>,
}

/// Net pay due by the payroll and paid by the imported batches and advances, in cents;
/// `difference` = paid − due (0: the 421 lines match to the cent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetPay {
    pub due_cents: i64,
    pub paid_cents: i64,
    pub difference_cents: i64,
    /// In standard write mode (no addon), where the period's 421 lines stand in Odoo after the
    /// run, which reconciles them once all posted (with the addon, posting does it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub odoo: Option<crate::payments::InOdoo>,
}

use crate::payments::InOdoo;

impl NetPay {
    fn english(&self) -> String {
        let state = match self.difference_cents {
            0 => "matched to the cent".to_owned(),
            d => format!("not matched, difference {}", en_amount(d)),
        };
        let odoo = match &self.odoo {
            None => String::new(),
            Some(InOdoo::NotPosted { drafts }) => format!(
                "; not reconciled in Odoo yet: {drafts} of the period's moves not posted (the first run after they are posted reconciles)"
            ),
            Some(InOdoo::Reconciled { lines: 0 }) => "; already reconciled in Odoo".to_owned(),
            Some(InOdoo::Reconciled { lines }) => format!("; {lines} lines on 421 reconciled in Odoo"),
            Some(InOdoo::Open { lines, difference_cents }) => format!(
                "; {lines} lines on 421 left open in Odoo (their balance {})",
                en_amount(*difference_cents)
            ),
            Some(InOdoo::Failed { detail }) => format!("; not reconciled in Odoo: {detail}"),
        };
        format!(
            "; net pay (421): due {}, paid {}: {state}{odoo}",
            en_amount(self.due_cents),
            en_amount(self.paid_cents)
        )
    }

    fn french(&self) -> String {
        let state = match self.difference_cents {
            0 => "soldé au centime".to_owned(),
            d => format!("non soldé, écart {}", fr_amount(d)),
        };
        let odoo = match &self.odoo {
            None => String::new(),
            Some(InOdoo::NotPosted { drafts }) => format!(
                " Lettrage dans Odoo en attente : {drafts} écriture(s) de la période non validée(s) ; fait à la première exécution après leur validation."
            ),
            Some(InOdoo::Reconciled { lines: 0 }) => " Déjà lettré dans Odoo.".to_owned(),
            Some(InOdoo::Reconciled { lines }) => format!(" {lines} lignes du 421 lettrées dans Odoo."),
            Some(InOdoo::Open { lines, difference_cents }) => format!(
                " {lines} lignes du 421 laissées ouvertes dans Odoo (solde {}).",
                fr_amount(*difference_cents)
            ),
            Some(InOdoo::Failed { detail }) => format!(" Non lettré dans Odoo : {detail}."),
        };
        format!(
            " Net à payer (421) : dû {}, payé {} : {state}.{odoo}",
            fr_amount(self.due_cents),
            fr_amount(self.paid_cents)
        )
    }
}

const INTERRUPTED_EN: &str =
    "the process running this import stopped before its end; nothing was half-written (one transaction in Odoo)";

impl Outcome {
    /// A failure: the action follows from the kind.
    pub fn failed(dossier: &str, period: &str, kind: ErrorKind, facts: Facts) -> Outcome {
        Outcome {
            status: Status::Failed,
            error_kind: Some(kind),
            action: kind.action(),
            facts,
            totals: None,
            moves: Vec::new(),
            dossier: dossier.to_owned(),
            period: period.to_owned(),
            net_pay: None,
        }
    }

    /// A run of the log recorded before typed outcomes (or interrupted): rebuilt from its
    /// columns.
    pub fn legacy(
        dossier: &str,
        period: &str,
        status: Status,
        kind: Option<ErrorKind>,
        message: &str,
        moves: &[i64],
    ) -> Outcome {
        let facts = match status {
            Status::Interrupted => Facts::Interrupted,
            _ => Facts::Legacy { message: message.to_owned() },
        };
        let action = match (status, kind) {
            (_, Some(k)) => k.action(),
            (Status::Waiting, None) => Action::WaitSilaeClose,
            _ => Action::None,
        };
        Outcome {
            status,
            error_kind: kind,
            action,
            facts,
            totals: None,
            moves: moves.iter().map(|&id| MoveRef { id, name: None, rupture_label: None }).collect(),
            dossier: dossier.to_owned(),
            period: period.to_owned(),
            net_pay: None,
        }
    }

    pub fn move_ids(&self) -> Vec<i64> {
        self.moves.iter().map(|m| m.id).collect()
    }

    fn move_list(&self) -> String {
        self.moves.iter().map(MoveRef::label).collect::<Vec<_>>().join(", ")
    }

    /// The English text for sysadmins (the CLI, logs, the contract's `message`).
    pub fn english(&self) -> String {
        let net_pay = self.net_pay.as_ref().map(NetPay::english).unwrap_or_default();
        format!("{}{net_pay}", self.english_facts())
    }

    fn english_facts(&self) -> String {
        let summary = self.totals.as_ref().map(|t| {
            format!(
                "{} move(s), {} lines, debit {} = credit {}",
                t.moves,
                t.lines,
                en_amount(t.debit_cents),
                en_amount(t.credit_cents)
            )
        });
        let summary = summary.unwrap_or_default();
        match &self.facts {
            Facts::Imported { company, created, replaced, already, adjusted } => format!(
                "{summary}; in Odoo ({company}): {created} created, {replaced} draft(s) replaced, {already} already there{}: move(s) {}",
                match adjusted {
                    0 => String::new(),
                    n => format!(", {n} draft adjustment(s) of posted move(s) Silae corrected"),
                },
                self.move_list()
            ),
            Facts::AlreadyImported => format!("already in Odoo: move(s) {}; nothing was written", self.move_list()),
            Facts::FoundAfterWriteError { error } => format!(
                "the write answered \"{error}\", but the moves are in Odoo: {} (imported by a concurrent run, or committed before the answer was lost); nothing doubled",
                self.move_list()
            ),
            Facts::Previewed { odoo: None } => format!(
                "dry run: {summary}; Odoo not checked (the secret odoo_secret is not set); nothing was written"
            ),
            Facts::Previewed { odoo: Some(c) } => format!(
                "dry run: {summary}; checked in Odoo ({}): would create {}, replace {} draft(s), leave {} already imported{}; nothing was written{}",
                c.company,
                c.create,
                c.replace,
                c.already,
                match c.adjust {
                    0 => String::new(),
                    n => format!(", create {n} draft adjustment(s) of posted move(s) Silae corrected"),
                },
                c.addon_missing.as_ref().map(|e| format!(". Warning: {e}")).unwrap_or_default()
            ) + &c.unseparated.iter().map(|u| format!(". Warning: {}", u.english())).collect::<String>(),
            Facts::NoData => format!("Silae has no payroll entries for dossier {} in {}", self.dossier, self.period),
            Facts::Waiting { in_progress } => format!(
                "the payroll of {} is not closed in Silae yet (period in progress: {in_progress}); it will be imported once closed",
                self.period
            ),
            Facts::BeforeStart { start } => format!(
                "dossier {} starts at {start}: the period {} is before it (change start_period to import it)",
                self.dossier, self.period
            ),
            Facts::MissingAccounts { detail, .. } | Facts::Error { detail } => detail.clone(),
            Facts::Corrected { moves } => corrected_english(moves),
            Facts::Interrupted => INTERRUPTED_EN.to_owned(),
            Facts::Legacy { message } => message.clone(),
        }
    }

    /// The French text for accountants (alert e-mails): no shell command, French amounts.
    pub fn french(&self) -> String {
        let net_pay = self.net_pay.as_ref().map(NetPay::french).unwrap_or_default();
        format!("{}{net_pay}", self.french_facts())
    }

    fn french_facts(&self) -> String {
        let summary = self.totals.as_ref().map(|t| {
            format!(
                "{} pièce(s), {} lignes, débit {} = crédit {}",
                t.moves,
                t.lines,
                fr_amount(t.debit_cents),
                fr_amount(t.credit_cents)
            )
        });
        let summary = summary.unwrap_or_default();
        let mois = mois(&self.period);
        match &self.facts {
            Facts::Imported { company, created, replaced, already, adjusted } => format!(
                "{summary} ; dans Odoo ({company}) : {created} créée(s), {replaced} brouillon(s) remplacé(s), {already} déjà présente(s){} : {}",
                match adjusted {
                    0 => String::new(),
                    n => format!(", {n} régularisation(s) en brouillon de pièces comptabilisées corrigées par Silae"),
                },
                self.move_list()
            ),
            Facts::AlreadyImported | Facts::FoundAfterWriteError { .. } => {
                format!("Déjà dans Odoo : {} ; rien n'a été écrit en double.", self.move_list())
            }
            Facts::Previewed { odoo: None } => {
                format!("Aperçu : {summary} ; Odoo non vérifié ; rien n'a été écrit.")
            }
            Facts::Previewed { odoo: Some(c) } => format!(
                "Aperçu : {summary} ; vérifié dans Odoo ({}) : {} à créer, {} brouillon(s) à remplacer, {} déjà importée(s){} ; rien n'a été écrit.{}",
                c.company,
                c.create,
                c.replace,
                c.already,
                match c.adjust {
                    0 => String::new(),
                    n => format!(", {n} régularisation(s) à créer"),
                },
                c.unseparated.iter().map(|u| format!(" Attention : {}", u.french())).collect::<String>()
            ),
            Facts::NoData => format!("Silae n'a aucune écriture de paie pour {mois}."),
            Facts::Waiting { in_progress } => format!(
                "La paie de {mois} n'est pas encore clôturée dans Silae (période en cours : {}) ; elle sera importée dès sa clôture.",
                crate::outcome::mois(in_progress)
            ),
            Facts::BeforeStart { start } => format!(
                "Le dossier commence en {} : la période de {mois} est antérieure et n'est pas importée.",
                crate::outcome::mois(start)
            ),
            Facts::MissingAccounts { accounts, analytic, .. } => {
                let mut text = format!(
                    "{} compte(s) Silae n'ont pas de compte dans Odoo ; rien n'a été écrit :",
                    accounts.len()
                );
                for a in accounts {
                    let label = a.label.as_deref().map(|l| format!(" « {l} »")).unwrap_or_default();
                    text.push_str(&format!("\n- {}{label} (essayé : {})", a.code, a.tried.join(", ")));
                }
                if !analytic.is_empty() {
                    text.push_str(&format!("\n{} problème(s) de comptes analytiques.", analytic.len()));
                }
                text.push_str(
                    "\nDans Odoo, ouvrez le dossier (PayFlow (Silae) > Dossiers) : « Créer les comptes manquants » ou « Associer à un compte existant ».",
                );
                text
            }
            Facts::Corrected { moves } => corrected_french(moves),
            Facts::Error { detail } => format!("Détail technique (pour l'administrateur) : {detail}"),
            Facts::Interrupted => {
                "L'import a été interrompu avant sa fin ; rien n'a été écrit à moitié dans Odoo.".to_owned()
            }
            Facts::Legacy { message } => message.clone(),
        }
    }
}

/// `77298.40` (the CLI's, the contract's amounts).
pub fn en_amount(cents: i64) -> String {
    crate::money::Cents(cents).to_string()
}

/// `77 298,40 €`: French grouping (a no-break space, as Odoo's fr_FR), decimal comma, no-break space
/// before the euro sign.
pub fn fr_amount(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    let units = (abs / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in units.chars().enumerate() {
        if i > 0 && (units.len() - i).is_multiple_of(3) {
            grouped.push('\u{a0}');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped},{:02}\u{a0}€", abs % 100)
}

const MOIS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// "août 2026" for "2026-08" (the text itself when it is not a period).
pub fn mois(period: &str) -> String {
    match period.parse::<crate::period::Period>() {
        Ok(p) => format!("{} {}", MOIS[(p.month() - 1) as usize], p.year()),
        Err(_) => period.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals() -> Totals {
        Totals {
            moves: 1,
            lines: 13,
            debit_cents: 7_729_840,
            credit_cents: 7_729_840,
            ruptures: vec![RuptureTotal {
                rupture: "1".into(),
                label: "Siège".into(),
                lines: 13,
                debit_cents: 7_729_840,
                credit_cents: 7_729_840,
                payment: None,
            }],
        }
    }

    #[test]
    fn the_net_pay_is_told_matched_or_with_its_difference() {
        let mut o = Outcome::failed("100300", "2026-10", ErrorKind::Config, Facts::AlreadyImported);
        o.status = Status::AlreadyImported;
        o.net_pay = Some(NetPay { due_cents: 11_854_378, paid_cents: 11_854_377, difference_cents: -1, odoo: None });
        assert!(
            o.english().ends_with("; net pay (421): due 118543.78, paid 118543.77: not matched, difference -0.01"),
            "{}",
            o.english()
        );
        assert!(o.french().ends_with(" Net à payer (421) : dû 118\u{a0}543,78\u{a0}€, payé 118\u{a0}543,77\u{a0}€ : non soldé, écart -0,01\u{a0}€."), "{}", o.french());
        o.net_pay = Some(NetPay { due_cents: 5, paid_cents: 5, difference_cents: 0, odoo: None });
        assert!(o.english().ends_with("matched to the cent") && o.french().ends_with("soldé au centime."));
        // Standard write mode: where the 421 lines stand in Odoo, said after.
        for (odoo, en, fr) in [
            (InOdoo::Reconciled { lines: 7 }, "; 7 lines on 421 reconciled in Odoo", " 7 lignes du 421 lettrées dans Odoo."),
            (
                InOdoo::Open { lines: 7, difference_cents: -1 },
                "; 7 lines on 421 left open in Odoo (their balance -0.01)",
                " 7 lignes du 421 laissées ouvertes dans Odoo (solde -0,01\u{a0}€).",
            ),
            (
                InOdoo::NotPosted { drafts: 2 },
                "; not reconciled in Odoo yet: 2 of the period's moves not posted (the first run after they are posted reconciles)",
                " Lettrage dans Odoo en attente : 2 écriture(s) de la période non validée(s) ; fait à la première exécution après leur validation.",
            ),
        ] {
            o.net_pay.as_mut().unwrap().odoo = Some(odoo);
            assert!(o.english().ends_with(en), "{}", o.english());
            assert!(o.french().ends_with(fr), "{}", o.french());
            let back: Outcome = serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
            assert_eq!(back, o);
        }
        o.net_pay.as_mut().unwrap().odoo = None;
        // Stored and read back; an outcome without it (every run before) reads as before.
        let back: Outcome = serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
        assert_eq!(back, o);
        o.net_pay = None;
        let text = serde_json::to_string(&o).unwrap();
        assert!(!text.contains("net_pay"));
        assert_eq!(serde_json::from_str::<Outcome>(&text).unwrap(), o);
    }

    #[test]
    fn french_amounts() {
        assert_eq!(fr_amount(7_729_840), "77\u{a0}298,40\u{a0}€");
        assert_eq!(fr_amount(5), "0,05\u{a0}€");
        assert_eq!(fr_amount(-123_456_789), "-1\u{a0}234\u{a0}567,89\u{a0}€");
        assert_eq!(fr_amount(100_000), "1\u{a0}000,00\u{a0}€");
    }

    #[test]
    fn enums_round_trip_through_text_and_sql() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        for s in Status::ALL {
            let back: Status = db.query_row("SELECT ?1", [s], |r| r.get(0)).unwrap();
            assert_eq!(back, s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for k in ErrorKind::ALL {
            let back: ErrorKind = db.query_row("SELECT ?1", [k], |r| r.get(0)).unwrap();
            assert_eq!(back, k);
        }
        let bad: rusqlite::Result<Status> = db.query_row("SELECT 'nope'", [], |r| r.get(0));
        assert!(bad.is_err(), "an unknown status is an error, not a default");
    }

    #[test]
    fn an_import_reads_in_english_and_french_with_move_names() {
        let o = Outcome {
            status: Status::Imported,
            error_kind: None,
            action: Action::None,
            facts: Facts::Imported { company: "My Company".into(), created: 1, replaced: 0, already: 0, adjusted: 0 },
            totals: Some(totals()),
            moves: vec![MoveRef { id: 7, name: Some("SAL/2026/10/0001".into()), rupture_label: None }],
            dossier: "100200".into(),
            period: "2026-10".into(),
            net_pay: None,
        };
        assert_eq!(
            o.english(),
            "1 move(s), 13 lines, debit 77298.40 = credit 77298.40; in Odoo (My Company): 1 created, 0 draft(s) replaced, 0 already there: move(s) SAL/2026/10/0001"
        );
        let fr = o.french();
        assert!(fr.contains("77\u{a0}298,40\u{a0}€"), "{fr}");
        assert!(fr.contains("SAL/2026/10/0001"), "{fr}");
        let json = serde_json::to_value(&o).unwrap();
        assert_eq!(json["facts"]["case"], "imported");
        assert_eq!(json["totals"]["ruptures"][0]["debit_cents"], 7_729_840);
        assert_eq!(serde_json::from_value::<Outcome>(json).unwrap(), o);
    }

    #[test]
    fn missing_accounts_in_french_name_no_shell_command() {
        let o = Outcome::failed(
            "100200",
            "2026-10",
            ErrorKind::MissingAccounts,
            Facts::MissingAccounts {
                accounts: vec![MissingAccount {
                    code: "43730000".into(),
                    tried: vec!["43730000".into(), "437300".into()],
                    label: Some("Retraite complémentaire".into()),
                }],
                analytic: vec![],
                detail:
                    "1 Silae account(s) have no Odoo account; payflow-agent dossier add ... --map 43730000=ODOO_CODE"
                        .into(),
            },
        );
        assert_eq!(o.action, Action::CreateOrMapAccounts);
        let fr = o.french();
        assert!(fr.contains("43730000 « Retraite complémentaire » (essayé : 43730000, 437300)"), "{fr}");
        for shell in ["payflow-agent", "--map", "dossier add"] {
            assert!(!fr.contains(shell), "{shell} in {fr}");
        }
        assert!(o.english().contains("--map 43730000=ODOO_CODE"), "the CLI keeps the command for sysadmins");
    }

    #[test]
    fn corrected_moves_read_with_who_when_and_the_diff_per_account() {
        let diff = |account: &str, o: (i64, i64), s: (i64, i64)| AccountDiff {
            account: account.into(),
            name: Some("Salaires".into()),
            analytic: None,
            odoo_debit_cents: o.0,
            odoo_credit_cents: o.1,
            silae_debit_cents: s.0,
            silae_credit_cents: s.1,
        };
        let draft = CorrectedMove {
            import_key: "silae:100200:2026-10:siege".into(),
            odoo_move: MoveRef { id: 7, name: Some("SAL/2026/10/0001".into()), rupture_label: None },
            state: "draft".into(),
            changed_by: Some("Jeanne Comptable".into()),
            changed_at: Some("2026-11-02 10:14:00".into()),
            reasons: vec!["lines".into()],
            adjustments: vec![],
            diff: vec![
                diff("641100", (6_779_337, 0), (6_809_337, 0)),
                diff("645300", (0, 0), (12_050, 0)),
                diff("431100", (0, 500), (0, 0)),
            ],
        };
        let o = Outcome::failed(
            "100200",
            "2026-10",
            ErrorKind::ChangedInOdoo,
            Facts::Corrected { moves: vec![draft.clone()] },
        );
        assert_eq!(o.action, Action::ReviewChangedDraft);
        let en = o.english();
        assert!(en.contains("the draft SAL/2026/10/0001 (silae:100200:2026-10:siege), changed in Odoo by Jeanne Comptable on 2026-11-02 10:14:00 UTC (lines)"), "{en}");
        assert!(en.contains("641100 Salaires: debit 67793.37 in Odoo, debit 68093.37 by Silae"), "{en}");
        assert!(en.contains("645300 Salaires: added by Silae, debit 120.50"), "{en}");
        assert!(en.contains("431100 Salaires: removed by Silae (Odoo holds credit 5.00)"), "{en}");
        assert!(en.contains("delete the draft"), "{en}");
        let fr = o.french();
        assert!(fr.contains("le brouillon SAL/2026/10/0001, modifié dans Odoo par Jeanne Comptable"), "{fr}");
        assert!(fr.contains("débit 67\u{a0}793,37\u{a0}€ dans Odoo, débit 68\u{a0}093,37\u{a0}€ selon Silae"), "{fr}");
        assert!(!fr.contains("payflow-agent"), "{fr}");
        let json = serde_json::to_value(&o).unwrap();
        assert_eq!(json["facts"]["case"], "corrected");
        assert_eq!(json["facts"]["moves"][0]["move"]["id"], 7);
        assert_eq!(json["facts"]["moves"][0]["diff"][0]["silae_debit_cents"], 6_809_337);
        assert_eq!(serde_json::from_value::<Outcome>(json).unwrap(), o);
        let posted = CorrectedMove { state: "posted".into(), changed_by: None, changed_at: None, ..draft };
        let o =
            Outcome::failed("100200", "2026-10", ErrorKind::PostedChanged, Facts::Corrected { moves: vec![posted] });
        assert_eq!(o.action, Action::BookPostedCorrection);
        assert!(o.english().contains("already posted in Odoo (never touched)"), "{}", o.english());
        assert!(o.english().contains("--corrections adjust"), "{}", o.english());
        assert!(o.french().contains("Régulariser"), "{}", o.french());
        assert!(!o.french().contains("--corrections"), "{}", o.french());
    }

    #[test]
    fn old_runs_read_as_legacy_outcomes() {
        let o = Outcome::legacy("1", "2026-10", Status::Failed, Some(ErrorKind::Unbalanced), "old text", &[3]);
        assert_eq!(o.english(), "old text");
        assert_eq!(o.action, Action::FixPayrollInSilae);
        assert_eq!(o.move_ids(), [3]);
        let i = Outcome::legacy("1", "2026-10", Status::Interrupted, None, "x", &[]);
        assert_eq!(i.facts, Facts::Interrupted);
        assert!(i.french().contains("interrompu"));
    }
}
