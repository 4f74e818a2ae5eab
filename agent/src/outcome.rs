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
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 11] = [
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
    /// Written: `created` new moves, `replaced` drafts, `already` left as they were.
    Imported {
        company: String,
        created: i64,
        replaced: i64,
        already: i64,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetPay {
    pub due_cents: i64,
    pub paid_cents: i64,
    pub difference_cents: i64,
}

impl NetPay {
    fn english(&self) -> String {
        let state = match self.difference_cents {
            0 => "matched to the cent".to_owned(),
            d => format!("not matched, difference {}", en_amount(d)),
        };
        format!("; net pay (421): due {}, paid {}: {state}", en_amount(self.due_cents), en_amount(self.paid_cents))
    }

    fn french(&self) -> String {
        let state = match self.difference_cents {
            0 => "soldé au centime".to_owned(),
            d => format!("non soldé, écart {}", fr_amount(d)),
        };
        format!(" Net à payer (421) : dû {}, payé {} : {state}.", fr_amount(self.due_cents), fr_amount(self.paid_cents))
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
            Facts::Imported { company, created, replaced, already } => format!(
                "{summary}; in Odoo ({company}): {created} created, {replaced} draft(s) replaced, {already} already there: move(s) {}",
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
                "dry run: {summary}; checked in Odoo ({}): would create {}, replace {} draft(s), leave {} already imported; nothing was written{}",
                c.company,
                c.create,
                c.replace,
                c.already,
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
            Facts::Imported { company, created, replaced, already } => format!(
                "{summary} ; dans Odoo ({company}) : {created} créée(s), {replaced} brouillon(s) remplacé(s), {already} déjà présente(s) : {}",
                self.move_list()
            ),
            Facts::AlreadyImported | Facts::FoundAfterWriteError { .. } => {
                format!("Déjà dans Odoo : {} ; rien n'a été écrit en double.", self.move_list())
            }
            Facts::Previewed { odoo: None } => {
                format!("Aperçu : {summary} ; Odoo non vérifié ; rien n'a été écrit.")
            }
            Facts::Previewed { odoo: Some(c) } => format!(
                "Aperçu : {summary} ; vérifié dans Odoo ({}) : {} à créer, {} brouillon(s) à remplacer, {} déjà importée(s) ; rien n'a été écrit.{}",
                c.company,
                c.create,
                c.replace,
                c.already,
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
            }],
        }
    }

    #[test]
    fn the_net_pay_is_told_matched_or_with_its_difference() {
        let mut o = Outcome::failed("100300", "2026-10", ErrorKind::Config, Facts::AlreadyImported);
        o.status = Status::AlreadyImported;
        o.net_pay = Some(NetPay { due_cents: 11_854_378, paid_cents: 11_854_377, difference_cents: -1 });
        assert!(
            o.english().ends_with("; net pay (421): due 118543.78, paid 118543.77: not matched, difference -0.01"),
            "{}",
            o.english()
        );
        assert!(o.french().ends_with(" Net à payer (421) : dû 118\u{a0}543,78\u{a0}€, payé 118\u{a0}543,77\u{a0}€ : non soldé, écart -0,01\u{a0}€."), "{}", o.french());
        o.net_pay = Some(NetPay { due_cents: 5, paid_cents: 5, difference_cents: 0 });
        assert!(o.english().ends_with("matched to the cent") && o.french().ends_with("soldé au centime."));
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
            facts: Facts::Imported { company: "My Company".into(), created: 1, replaced: 0, already: 0 },
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
