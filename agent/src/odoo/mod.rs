//! The Odoo client: one session (protocol, version, uid) reused across imports, every account
//! of every rupture resolved in one search, and one atomic write through the `payflow_silae`
//! addon. See docs/odoo-protocol.md for the calls.

pub mod standard;
pub mod transport;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use secrecy::SecretString;
use serde_json::{json, Map, Value};
use tokio::sync::Mutex;

use crate::config::{OdooConfig, OdooProtocol};
use crate::journal::{account_candidates, ImportPlan, MovePlan};
use crate::retry::Step;
pub use transport::Protocol;
use transport::Transport;

#[derive(Debug, Clone, thiserror::Error)]
pub enum OdooError {
    #[error("{0}")]
    Auth(String),
    #[error("Odoo is unavailable: {0}")]
    Unavailable(String),
    #[error("Odoo refused: {name}: {message}")]
    Rejected { name: String, message: String },
}

/// The session of this agent in Odoo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub protocol: Protocol,
    pub major: u32,
    pub uid: i64,
}

pub struct OdooClient {
    transport: Transport,
    /// The roots trusted for this Odoo and the verdicts seen (`check`).
    pub tls: crate::tls::Trust,
    config: OdooConfig,
    secret: SecretString,
    session: Mutex<Option<Session>>,
    /// `write_mode = "auto"` once this database was found without the addon (kept with the
    /// session for the process's later imports).
    pub(crate) standard_found: std::sync::atomic::AtomicBool,
}

/// What an import targets in Odoo.
pub struct Target<'a> {
    pub company_id: i64,
    pub journal_code: &'a str,
    /// Silae journal code -> Odoo journal code, for lines not bound for `journal_code`.
    pub journal_map: &'a BTreeMap<String, String>,
    pub account_map: &'a BTreeMap<String, String>,
    /// Silae repartition index -> analytic account code or name.
    pub analytic: &'a BTreeMap<String, String>,
    /// The journal of the salary payment moves (`crate::payments`), when the dossier imports them.
    pub payments_journal: Option<&'a str>,
    /// What to do with a posted move Silae corrected (`payflow_import_plan`'s `corrections`).
    pub corrections: crate::store::Corrections,
    /// Silae account code -> Odoo partner (reference, VAT number or exact name): the partner of
    /// that account's lines (`crate::partners`).
    pub partner_map: &'a BTreeMap<String, String>,
}

/// A move already carrying one of the import keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub id: i64,
    /// The move's name (SAL/2026/10/0001; "/" for a draft Odoo has not numbered).
    pub name: Option<String>,
    pub state: MoveState,
    pub payload_hash: Option<String>,
}

/// An Odoo move's `state`, typed where Odoo's answer is read. Only a draft is ever replaced;
/// a state Odoo adds later reads as `Other` and is left alone like a posted move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveState {
    Draft,
    Posted,
    Cancel,
    Other,
}

impl MoveState {
    pub fn from_odoo(state: &str) -> MoveState {
        match state {
            "draft" => MoveState::Draft,
            "posted" => MoveState::Posted,
            "cancel" => MoveState::Cancel,
            _ => MoveState::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MoveState::Draft => "draft",
            MoveState::Posted => "posted",
            MoveState::Cancel => "cancel",
            MoveState::Other => "other",
        }
    }
}

/// What `payflow_import` did with one move (its `result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Created,
    Replaced,
    Unchanged,
    Posted,
}

impl WriteOutcome {
    pub const ALL: [WriteOutcome; 4] =
        [WriteOutcome::Created, WriteOutcome::Replaced, WriteOutcome::Unchanged, WriteOutcome::Posted];

    pub fn as_str(self) -> &'static str {
        match self {
            WriteOutcome::Created => "created",
            WriteOutcome::Replaced => "replaced",
            WriteOutcome::Unchanged => "unchanged",
            WriteOutcome::Posted => "posted",
        }
    }
}

/// Everything the plan needs from Odoo, found in one round of concurrent reads.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub company_name: String,
    pub journal_id: i64,
    /// Silae journal code -> (Odoo journal id, code), for the codes the dossier maps.
    pub journal_of: HashMap<String, (i64, String)>,
    /// The journal of the payment moves, when the plan has some.
    pub payments_journal_id: Option<i64>,
    /// Silae code -> (Odoo account id, Odoo code).
    pub accounts: HashMap<String, (i64, String)>,
    /// Repartition index -> analytic account id.
    pub analytic: HashMap<i32, i64>,
    /// Silae account code -> the id of the Odoo partner its lines carry (the dossier's
    /// `partner_map`, for the codes the plan uses).
    pub partners: HashMap<String, i64>,
    pub existing: HashMap<String, Existing>,
    /// Every import key Odoo holds for this dossier and period (to tell a renamed rupture).
    pub period_keys: Vec<String>,
    /// Why writing is impossible, when the payflow_silae addon is missing (a preview goes on).
    pub addon_missing: Option<ResolveError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingAccount {
    pub silae_code: String,
    pub tried: Vec<String>,
}

/// Every problem of a plan, found at once (by the addon's `payflow_import_plan`, or by the
/// agent's own reads where the addon is missing): both paths give the same.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems {
    /// The period falls on or before a lock date (one text per move date).
    pub locked: Vec<String>,
    pub journal: Option<String>,
    pub accounts: Vec<MissingAccount>,
    pub analytic: Vec<String>,
    /// Moves held under another payload that cannot be replaced (`crate::corrections`).
    pub corrected: Vec<crate::outcome::CorrectedMove>,
    /// The dossier's partner map entries without exactly one Odoo partner.
    pub partners: Vec<String>,
}

impl Problems {
    pub fn is_empty(&self) -> bool {
        self.locked.is_empty()
            && self.journal.is_none()
            && self.accounts.is_empty()
            && self.analytic.is_empty()
            && self.corrected.is_empty()
            && self.partners.is_empty()
    }

    /// The error telling every problem: its kind is the lock date's, else the journal's, else
    /// the accounts' (with the missing accounts typed); its text names all of them.
    pub fn into_result(self, company: &str) -> Result<(), ResolveError> {
        if self.is_empty() {
            return Ok(());
        }
        let mut parts: Vec<String> = self.locked.clone();
        parts.extend(self.journal.clone());
        if !self.accounts.is_empty() || !self.analytic.is_empty() {
            parts.push(describe_missing(&self.accounts, &self.analytic, company));
        }
        if !self.partners.is_empty() {
            parts.push(format!(
                "{} partner map problem(s) in {company}; nothing was written:\n- {}",
                self.partners.len(),
                self.partners.join("\n- ")
            ));
        }
        if !self.corrected.is_empty() {
            parts.push(crate::outcome::corrected_english(&self.corrected));
        }
        let text = parts.join("\n");
        Err(if !self.locked.is_empty() {
            ResolveError::Locked(text)
        } else if self.journal.is_some() {
            ResolveError::Journal(text)
        } else if !self.accounts.is_empty() || !self.analytic.is_empty() {
            ResolveError::Accounts(text, self.accounts)
        } else {
            if !self.partners.is_empty() {
                ResolveError::Partners(text)
            } else {
                ResolveError::Corrected(text, self.corrected)
            }
        })
    }
}

/// The lock date's text; Odoo names the lock (`fiscalyear_lock_date`, `hard_lock_date`) on 18+
/// and says `user` on 17, so the text gives the date only.
fn locked_text(period: &crate::period::Period, date: jiff::civil::Date, company: &str, lock: &str) -> String {
    format!(
        "the period {period} (moves dated {date}) is locked in Odoo for {company} until {lock}. \
         Nothing was written; an adviser must move the lock date (Accounting > Configuration > Settings or Lock Dates) to import it"
    )
}

/// What `payflow_import_plan` answered, read into the agent's types.
#[derive(Debug, Clone)]
pub struct PlanAnswer {
    /// Company, journal, accounts, analytic accounts, and the moves already there (from the
    /// answer's rows that name an existing move).
    pub resolved: Resolved,
    /// What was done with each move (written) or would be (preview): `created`, `replaced`,
    /// `unchanged`, `posted`.
    pub moves: Vec<WriteResult>,
    pub written: bool,
    /// Odoo refused the plan as renamed (see [`ImportPlan::renamed`]); nothing written.
    pub renamed: bool,
    /// The adjustment moves of posted moves Silae corrected (`corrections = "adjust"`): written,
    /// or that a preview would create (id 0).
    pub adjustments: Vec<WriteResult>,
}

/// Why `payflow_import_plan` gave no plan answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PlanError {
    /// The database's addon has no `payflow_import_plan` (absent, or older): the agent resolves
    /// with its own reads.
    #[error("payflow_import_plan is not available: {0}")]
    NotAvailable(String),
    /// Nothing written: these problems (all of them) stand in the way.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The call failed or its answer cannot be read (written or not is unknown).
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// Why a plan cannot be written, found before anything is written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Odoo(#[from] OdooError),
    #[error("the Odoo company {asked} does not exist or is not allowed to {login}; companies: {available}")]
    Company { asked: i64, login: String, available: String },
    #[error("{0}")]
    Journal(String),
    #[error("{0}")]
    Accounts(String, Vec<MissingAccount>),
    #[error("{0}")]
    Locked(String),
    /// Standard write mode found what it cannot write over (docs/reliability.md).
    #[error("{0}")]
    Refused(String),
    /// Drafts a person changed, or posted moves, that Silae corrected (docs/odoo-protocol.md).
    #[error("{0}")]
    Corrected(String, Vec<crate::outcome::CorrectedMove>),
    /// The dossier's partner map names partners Odoo does not have (or has twice).
    #[error("{0}")]
    Partners(String),
    #[error("the payflow_silae addon is not installed in the Odoo database {database} ({detail}): install it from odoo_addon/payflow_silae (Apps > PayFlow (Silae)), or write without it with odoo.write_mode = \"standard\" (or \"auto\"); previews (--dry-run) work without it")]
    AddonMissing { database: String, detail: String },
}

/// What the addon did with one move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteResult {
    pub import_key: String,
    pub id: i64,
    pub name: Option<String>,
    pub result: WriteOutcome,
    pub state: MoveState,
}

/// Why a write has no usable answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    /// The call failed: refused, cut, timed out.
    #[error(transparent)]
    Odoo(#[from] OdooError),
    /// Odoo answered, but not what `payflow_import` answers: whether the moves were written is
    /// unknown from it.
    #[error("payflow_import's answer cannot be read ({0}); whether the moves were written is unknown: the next run checks Odoo again (is the payflow_silae addon up to date?)")]
    Malformed(String),
}

/// `payflow_import`'s answer: one `{import_key, id, result, state}` per move sent, with a known
/// result and a positive id; anything else is described.
pub fn parse_write_answer(answer: &Value, sent: &[String]) -> Result<Vec<WriteResult>, String> {
    let out = parse_rows(answer, sent)?;
    if let Some(missing) = sent.iter().find(|k| !out.iter().any(|r| &r.import_key == *k)) {
        return Err(format!("it says nothing of the move {missing}"));
    }
    Ok(out)
}

/// The rows of a write's answer, each naming one of the keys `known`.
fn parse_rows(answer: &Value, known: &[String]) -> Result<Vec<WriteResult>, String> {
    #[derive(serde::Deserialize)]
    struct Row {
        import_key: String,
        id: i64,
        // Odoo's name of the move (SAL/2026/10/0001); `false` or absent while it has none.
        #[serde(default, deserialize_with = "name_or_false")]
        name: Option<String>,
        result: String,
        state: String,
    }
    fn name_or_false<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match <Value as serde::Deserialize>::deserialize(d)? {
            Value::String(s) if !s.is_empty() && s != "/" => Some(s),
            _ => None,
        })
    }
    let shown = |v: &Value| {
        let t = v.to_string();
        if t.chars().count() > 200 {
            format!("{}…", t.chars().take(200).collect::<String>())
        } else {
            t
        }
    };
    let rows: Vec<Row> = serde_json::from_value(answer.clone())
        .map_err(|e| format!("expected a list of {{import_key, id, result, state}}: {e}; got {}", shown(answer)))?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        if !known.contains(&r.import_key) {
            return Err(format!("it names the key {:?}, which was not sent", r.import_key));
        }
        if r.id <= 0 {
            return Err(format!("the move of {} has the id {}", r.import_key, r.id));
        }
        let Some(result) = WriteOutcome::ALL.into_iter().find(|w| w.as_str() == r.result) else {
            return Err(format!(
                "the result of {} is {:?}, expected one of {:?}",
                r.import_key,
                r.result,
                WriteOutcome::ALL.map(WriteOutcome::as_str)
            ));
        };
        let state = MoveState::from_odoo(&r.state);
        out.push(WriteResult { import_key: r.import_key, id: r.id, name: r.name, result, state });
    }
    Ok(out)
}

/// Attempts of a read (a write is never retried: it may have been applied).
const READ_ATTEMPTS: u32 = 3;

impl OdooClient {
    pub fn new(config: &OdooConfig, secret: SecretString) -> Result<OdooClient, OdooError> {
        OdooClient::in_section("odoo", config, secret)
    }

    /// The client of the config table `section` (`odoo`, `odoo.targets.<name>`: named in
    /// `check`'s TLS hints).
    pub fn in_section(section: &str, config: &OdooConfig, secret: SecretString) -> Result<OdooClient, OdooError> {
        let tls = crate::config::trust(section, config.ca_file.as_ref()).map_err(OdooError::Unavailable)?;
        Ok(OdooClient {
            transport: Transport::new(
                config.url.as_str(),
                &config.database,
                Duration::from_secs(config.timeout_secs),
                &tls,
            )?
            .with_rate_limit(config.max_calls_per_sec),
            tls,
            config: config.clone(),
            secret,
            session: Mutex::new(None),
            standard_found: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// How many calls failed (metrics).
    pub fn errors(&self) -> u64 {
        self.transport.errors.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many HTTP calls this client has made (tests and benchmarks count them).
    pub fn calls(&self) -> u64 {
        self.transport.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Starts from a remembered session (no call at all), or finds one.
    pub async fn connect(&self, remembered: Option<Session>) -> Result<Session, OdooError> {
        let mut current = self.session.lock().await;
        if let Some(s) = *current {
            return Ok(s);
        }
        // A session of Odoo 19 or later over JSON-RPC (remembered by an older agent) is not
        // reused: only JSON-2 is spoken there.
        let s = match remembered
            .filter(|s| self.protocol_allowed(s.protocol) && (s.major < 19 || s.protocol == Protocol::Json2))
        {
            Some(s) => s,
            None => self.authenticate().await?,
        };
        *current = Some(s);
        Ok(s)
    }

    pub async fn current_session(&self) -> Option<Session> {
        *self.session.lock().await
    }

    fn protocol_allowed(&self, p: Protocol) -> bool {
        match self.config.protocol {
            OdooProtocol::Auto => true,
            OdooProtocol::Json2 => p == Protocol::Json2,
            OdooProtocol::Jsonrpc => p == Protocol::JsonRpc,
            // Refused when the config is read (XML-RPC is not spoken any more).
            OdooProtocol::Xmlrpc => false,
        }
    }

    /// The server's major version and version text, in one request on Odoo 17, 18 and 19 and
    /// without any deprecated endpoint: the web client's `/web/webclient/version_info`. Where
    /// that route is missing (a proxy that only lets the RPC endpoints through), `GET
    /// /web/version` (19 on), then JSON-RPC's `common.version` (a page that is not the
    /// version's JSON counts as missing: a 17 or 18 may render its own 404 page).
    pub async fn version(&self) -> Result<(u32, String), OdooError> {
        let (v, info) = match self.transport.webclient_version().await? {
            Some(v) => (v, "server_version_info"),
            None => match self.transport.web_version().await? {
                Some(v) => {
                    let info = v.get("version_info").cloned().unwrap_or(Value::Null);
                    let text = v.get("version").cloned().unwrap_or(Value::Null);
                    (json!({"server_version": text, "server_version_info": info}), "version_info")
                }
                None => (self.transport.common("version", vec![]).await?, "server_version_info"),
            },
        };
        let text = v.get("server_version").and_then(Value::as_str).unwrap_or_default().to_owned();
        let major = v
            .get("server_version_info")
            .and_then(|i| i.get(0))
            .and_then(Value::as_u64)
            .or_else(|| text.split(['.', '-', '~']).find_map(|p| p.trim_start_matches("saas").parse().ok()))
            .ok_or_else(|| {
                OdooError::Unavailable(format!("{}: cannot read the server version ({info}) from {v}", self.config.url))
            })?;
        Ok((major as u32, text))
    }

    /// Finds the protocol and the uid (the only costly call, about 350 ms on Odoo 18). On Odoo 19
    /// and later only JSON-2 is spoken: JSON-RPC and XML-RPC are deprecated there and removed in 20.
    pub async fn authenticate(&self) -> Result<Session, OdooError> {
        let (major, text) = self.version().await?;
        let protocol = match self.config.protocol {
            OdooProtocol::Auto if major >= 19 => Protocol::Json2,
            OdooProtocol::Xmlrpc => {
                return Err(OdooError::Rejected {
                    name: "protocol".into(),
                    message: "odoo.protocol = \"xmlrpc\" is not supported any more: use \"auto\"".into(),
                })
            }
            OdooProtocol::Jsonrpc if major >= 19 => {
                return Err(OdooError::Rejected {
                    name: "protocol".into(),
                    message: format!(
                        "odoo.protocol = \"{}\" is deprecated from Odoo 19 and removed in Odoo 20, and this server is {text}: use \"auto\" (JSON-2, with an API key as odoo_secret)",
                        self.config.protocol
                    ),
                });
            }
            OdooProtocol::Auto | OdooProtocol::Jsonrpc => Protocol::JsonRpc,
            OdooProtocol::Json2 if major < 19 => {
                return Err(OdooError::Rejected {
                    name: "protocol".into(),
                    message: format!(
                        "odoo.protocol = \"json2\" needs Odoo 19 or later, this server is {text}: use \"auto\""
                    ),
                })
            }
            OdooProtocol::Json2 => Protocol::Json2,
        };
        if protocol == Protocol::Json2 {
            // JSON-2 has no login step: the API key is checked on each call.
            let me = self
                .transport
                .execute(
                    protocol,
                    0,
                    &self.secret,
                    "res.users",
                    "search_read",
                    None,
                    params(json!({
                        "domain": [["login", "=", self.config.login]], "fields": ["id"], "limit": 1,
                    })),
                )
                .await?;
            let uid = me.get(0).and_then(|u| u.get("id")).and_then(Value::as_i64).unwrap_or(0);
            return Ok(Session { protocol, major, uid });
        }
        let answer = self
            .transport
            .common(
                "authenticate",
                vec![
                    json!(self.config.database),
                    json!(self.config.login),
                    json!(secrecy::ExposeSecret::expose_secret(&self.secret)),
                    json!({}),
                ],
            )
            .await
            .map_err(|e| match e {
                OdooError::Rejected { message, .. } => OdooError::Auth(format!(
                    "Odoo could not authenticate on database {:?}: {message} (check odoo.database)",
                    self.config.database
                )),
                other => other,
            })?;
        match answer.as_i64() {
            Some(uid) if uid > 0 => Ok(Session { protocol, major, uid }),
            _ => Err(OdooError::Auth(format!(
                "Odoo refused the login {:?} on database {:?}: check odoo.login and the secret odoo_secret (password or API key)",
                self.config.login, self.config.database
            ))),
        }
    }

    /// One call, as this session; reads are retried on transient failures, and an
    /// authentication refusal of a remembered session leads to one fresh authentication.
    pub async fn call(
        &self,
        model: &str,
        method: &str,
        ids: Option<Vec<i64>>,
        kwargs: Map<String, Value>,
        retry: bool,
    ) -> Result<Value, OdooError> {
        let reauthenticated = std::sync::atomic::AtomicBool::new(false);
        let policy = crate::retry::Policy {
            base: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
            max_attempts: if retry { READ_ATTEMPTS } else { 1 },
            deadline: None,
            // A 429 or 503's `Retry-After` is honoured up to a minute.
            max_retry_after: Duration::from_secs(60),
        };
        crate::retry::run(
            &policy,
            |_| async {
                let session = match self.connect(None).await {
                    Ok(s) => s,
                    Err(e) => return Step::Fail(e),
                };
                let result = self
                    .transport
                    .execute(session.protocol, session.uid, &self.secret, model, method, ids.clone(), kwargs.clone())
                    .await;
                match result {
                    Ok(v) => Step::Done(v),
                    Err(OdooError::Auth(_)) if !reauthenticated.swap(true, std::sync::atomic::Ordering::Relaxed) => {
                        match self.authenticate().await {
                            Ok(fresh) => {
                                *self.session.lock().await = Some(fresh);
                                Step::Again
                            }
                            Err(e) => Step::Fail(e),
                        }
                    }
                    Err(e @ OdooError::Unavailable(_)) => {
                        Step::Retry { error: e, after: self.transport.take_retry_after() }
                    }
                    Err(e) => Step::Fail(e),
                }
            },
            |why, attempt, _| tracing::warn!(model, method, attempt, "Odoo call failed, retrying: {why}"),
        )
        .await
        .map_err(crate::retry::GaveUp::into_error)
    }

    async fn search_read(
        &self,
        model: &str,
        domain: Value,
        fields: &[&str],
        context: Value,
    ) -> Result<Vec<Value>, OdooError> {
        let v = self
            .call(
                model,
                "search_read",
                None,
                params(json!({"domain": domain, "fields": fields, "context": context})),
                true,
            )
            .await?;
        match v {
            Value::Array(rows) => Ok(rows),
            other => Err(OdooError::Unavailable(format!("{model}.search_read answered {other} instead of a list"))),
        }
    }

    /// The companies and their journals, to help the set-up.
    pub async fn companies(&self) -> Result<Value, OdooError> {
        let (companies, journals) = tokio::try_join!(
            self.search_read("res.company", json!([]), &["id", "name"], json!({})),
            self.search_read("account.journal", json!([]), &["id", "code", "name", "type", "company_id"], json!({})),
        )?;
        let out: Vec<Value> = companies
            .iter()
            .map(|c| {
                let id = c["id"].as_i64().unwrap_or_default();
                let js: Vec<Value> = journals
                    .iter()
                    .filter(|j| j["company_id"].get(0).and_then(Value::as_i64) == Some(id))
                    .map(|j| json!({"id": j["id"], "code": j["code"], "name": j["name"], "type": j["type"]}))
                    .collect();
                json!({"id": id, "name": c["name"], "journals": js})
            })
            .collect();
        Ok(Value::Array(out))
    }

    /// A company's chart of accounts (code, type, reconcile flag).
    pub async fn chart(&self, company_id: i64) -> Result<Vec<crate::accounts::ChartAccount>, OdooError> {
        let rows = self
            .search_read(
                "account.account",
                json!([]),
                &["code", "account_type", "reconcile"],
                json!({"allowed_company_ids": [company_id]}),
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(crate::accounts::ChartAccount {
                    code: r["code"].as_str()?.to_owned(),
                    account_type: r["account_type"].as_str().unwrap_or_default().to_owned(),
                    reconcile: r["reconcile"].as_bool().unwrap_or(false),
                })
            })
            .collect())
    }

    /// Creates an account in a company's chart; answers its id.
    pub async fn create_account(&self, company_id: i64, a: &crate::accounts::NewAccount) -> Result<i64, OdooError> {
        let vals = json!({"code": a.code, "name": a.name, "account_type": a.account_type, "reconcile": a.reconcile});
        let kwargs = params(json!({"vals_list": [vals], "context": {"allowed_company_ids": [company_id]}}));
        let answer = self.call("account.account", "create", None, kwargs, false).await?;
        answer
            .as_i64()
            .or_else(|| answer.get(0).and_then(Value::as_i64))
            .ok_or_else(|| OdooError::Unavailable(format!("account.account.create answered {answer}")))
    }

    /// Whether the payflow_silae addon is installed.
    pub async fn addon_installed(&self) -> Result<bool, OdooError> {
        let rows = self
            .search_read(
                "ir.module.module",
                json!([["name", "=", "payflow_silae"], ["state", "=", "installed"]]),
                &["id"],
                json!({}),
            )
            .await?;
        Ok(!rows.is_empty())
    }

    /// Resolves company, journal, accounts, analytic accounts and existing keys, concurrently.
    pub async fn resolve(&self, target: &Target<'_>, plan: &ImportPlan) -> Result<Resolved, ResolveError> {
        self.resolve_with(target, plan, true).await
    }

    /// [`Self::resolve`]; without `keys`, the addon's key field is not searched (standard mode).
    pub async fn resolve_with(
        &self,
        target: &Target<'_>,
        plan: &ImportPlan,
        keys: bool,
    ) -> Result<Resolved, ResolveError> {
        let search_keys = keys;
        let session = self.connect(None).await?;
        let cid = target.company_id;
        let lock_fields: &[&str] = if session.major >= 18 {
            &["id", "name", "fiscalyear_lock_date", "hard_lock_date"]
        } else {
            &["id", "name", "fiscalyear_lock_date", "period_lock_date"]
        };
        let mut codes = BTreeSet::new();
        for m in &plan.moves {
            for l in &m.lines {
                codes.extend(account_candidates(&l.account, target.account_map));
            }
        }
        let codes: Vec<String> = codes.into_iter().collect();
        let mut account_domain = vec![json!(["code", "in", codes])];
        if session.major >= 18 {
            account_domain.push(json!(["company_ids", "in", [cid]]));
        } else {
            account_domain.push(json!(["company_id", "=", cid]));
        }
        if session.major <= 18 {
            account_domain.push(json!(["deprecated", "=", false]));
        }
        let uses_analytic =
            !target.analytic.is_empty() && plan.moves.iter().any(|m| m.lines.iter().any(|l| l.repartition.is_some()));
        let analytic_names: Vec<&String> = target.analytic.values().collect();
        let keys: Vec<&str> = plan
            .moves
            .iter()
            .flat_map(|m| std::iter::once(m.import_key.as_str()).chain(m.legacy_key.as_deref()))
            .collect();
        let prefix = format!("{}%", plan.key_prefix());
        let company_ctx = json!({"allowed_company_ids": [cid]});
        let wanted_partners = used_partners(plan, target.partner_map);
        let partner_texts: BTreeSet<&str> = wanted_partners.values().copied().collect();
        let (companies, journals, accounts, analytic, existing, period, partner_rows) = tokio::join!(
            self.search_read("res.company", json!([]), lock_fields, json!({})),
            self.search_read(
                "account.journal",
                json!([["company_id", "=", cid]]),
                &["id", "code", "name", "type", "active"],
                json!({"active_test": false})
            ),
            self.search_read(
                "account.account",
                Value::Array(account_domain),
                &["id", "code", "name"],
                company_ctx.clone()
            ),
            async {
                if uses_analytic {
                    self.search_read(
                        "account.analytic.account",
                        json!(["|", ["code", "in", analytic_names], ["name", "in", analytic_names]]),
                        &["id", "code", "name"],
                        company_ctx.clone(),
                    )
                    .await
                } else {
                    Ok(Vec::new())
                }
            },
            async {
                match search_keys {
                    true => self.search_existing(cid, &keys).await,
                    false => Ok(Vec::new()),
                }
            },
            async {
                if !search_keys {
                    return Ok(Vec::new());
                }
                self.search_read(
                    "account.move",
                    json!([["payflow_import_key", "=like", prefix], ["company_id", "=", cid]]),
                    &["payflow_import_key"],
                    json!({}),
                )
                .await
            },
            async {
                if partner_texts.is_empty() {
                    return Ok(Vec::new());
                }
                self.search_read(
                    "res.partner",
                    json!([
                        "|",
                        "|",
                        ["ref", "in", partner_texts],
                        ["vat", "in", partner_texts],
                        ["name", "in", partner_texts],
                        ["company_id", "in", [cid, false]]
                    ]),
                    &["id", "name", "ref", "vat"],
                    company_ctx.clone(),
                )
                .await
            },
        );
        // Company and lock dates first: they decide whether anything else matters.
        let companies = companies?;
        let company =
            companies.iter().find(|c| c["id"].as_i64() == Some(cid)).ok_or_else(|| ResolveError::Company {
                asked: cid,
                login: self.config.login.clone(),
                available: companies
                    .iter()
                    .map(|c| format!("{} ({})", c["id"], c["name"].as_str().unwrap_or("?")))
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let company_name = company["name"].as_str().unwrap_or_default().to_owned();
        let mut problems = Problems::default();
        let dates: BTreeSet<jiff::civil::Date> = plan.moves.iter().map(|m| m.date).collect();
        for date in dates {
            // The latest lock date the moves' date violates, as Odoo lists them (sorted).
            let violated = lock_fields[2..]
                .iter()
                .filter_map(|f| Some((company[*f].as_str()?.parse::<jiff::civil::Date>().ok()?, *f)))
                .filter(|(lock, _)| date <= *lock)
                .max();
            if let Some((lock, _)) = violated {
                problems.locked.push(locked_text(&plan.period, date, &company_name, &lock.to_string()));
            }
        }
        let (existing, addon_missing) = match existing {
            Err(OdooError::Rejected { message, .. }) if message.contains("payflow_import_key") => (
                Vec::new(),
                Some(ResolveError::AddonMissing { database: self.config.database.clone(), detail: message }),
            ),
            other => (other?, None),
        };
        // Without the addon there is no key field: no key of the period either.
        let period_keys = match (period, &addon_missing) {
            (_, Some(_)) => Vec::new(),
            (period, None) => {
                period?.iter().filter_map(|m| m["payflow_import_key"].as_str().map(str::to_owned)).collect()
            }
        };
        let journals = journals?;
        let mut journal_problems = Vec::new();
        let journal_id = pick_journal(&journals, target.journal_code, &company_name)
            .map_err(|e| journal_problems.push(e.to_string()))
            .unwrap_or_default();
        let payments_journal_id = match target.payments_journal {
            Some(code) if plan.moves.iter().any(|m| crate::payments::is_payment_key(&m.import_key)) => {
                pick_payments_journal(&journals, code, &company_name)
                    .map_err(|e| journal_problems.push(e.to_string()))
                    .ok()
            }
            _ => None,
        };
        let mut journal_of = HashMap::new();
        for code in plan.moves.iter().filter_map(|m| m.code_journal.as_ref()) {
            if let (Some(odoo_code), false) = (target.journal_map.get(code), journal_of.contains_key(code)) {
                match pick_journal(&journals, odoo_code, &company_name) {
                    Ok(id) => {
                        journal_of.insert(code.clone(), (id, odoo_code.clone()));
                    }
                    Err(e) if !journal_problems.contains(&e.to_string()) => journal_problems.push(e.to_string()),
                    Err(_) => {}
                }
            }
        }
        if !journal_problems.is_empty() {
            problems.journal = Some(journal_problems.join("\n"));
        }
        let accounts = accounts?;
        let analytic = analytic?;
        let mut found: HashMap<&str, (i64, String)> = HashMap::new();
        for a in &accounts {
            if let (Some(id), Some(code)) = (a["id"].as_i64(), a["code"].as_str()) {
                found.entry(code).or_insert((id, code.to_owned()));
            }
        }
        let mut resolved_accounts = HashMap::new();
        let mut missing = Vec::new();
        let mut seen = BTreeSet::new();
        for m in &plan.moves {
            for l in &m.lines {
                if !seen.insert(l.account.clone()) {
                    continue;
                }
                let tried = account_candidates(&l.account, target.account_map);
                match tried.iter().find_map(|c| found.get(c.as_str())) {
                    Some(hit) => {
                        resolved_accounts.insert(l.account.clone(), hit.clone());
                    }
                    None => missing.push(MissingAccount { silae_code: l.account.clone(), tried }),
                }
            }
        }
        let mut analytic_ids = HashMap::new();
        let mut missing_analytic = Vec::new();
        if uses_analytic {
            let used: BTreeSet<i32> =
                plan.moves.iter().flat_map(|m| m.lines.iter().filter_map(|l| l.repartition.map(|r| r.index))).collect();
            for index in used {
                let Some(name) = target.analytic.get(&index.to_string()) else {
                    missing_analytic.push(format!(
                        "repartition {index}: no analytic account mapped (add `--analytic {index}=ACCOUNT`)"
                    ));
                    continue;
                };
                match analytic
                    .iter()
                    .find(|a| a["code"].as_str() == Some(name))
                    .or_else(|| analytic.iter().find(|a| a["name"].as_str() == Some(name)))
                {
                    Some(a) => {
                        analytic_ids.insert(index, a["id"].as_i64().unwrap_or_default());
                    }
                    None => missing_analytic
                        .push(format!("repartition {index}: no analytic account with code or name {name:?}")),
                }
            }
        }
        problems.accounts = missing;
        problems.analytic = missing_analytic;
        let partner_rows = partner_rows?;
        let mut partners = HashMap::new();
        for (silae_code, wanted) in &wanted_partners {
            match pick_partner(&partner_rows, wanted) {
                Ok(id) => {
                    partners.insert((*silae_code).to_owned(), id);
                }
                Err(found) => problems.partners.push(partner_problem(silae_code, wanted, &found)),
            }
        }
        problems.into_result(&company_name)?;
        let existing = existing_by_key(&existing);
        Ok(Resolved {
            company_name,
            journal_id,
            journal_of,
            payments_journal_id,
            accounts: resolved_accounts,
            analytic: analytic_ids,
            partners,
            existing,
            period_keys,
            addon_missing,
        })
    }

    /// The whole import in one call to the addon's `payflow_import_plan` (one transaction):
    /// Odoo resolves the accounts, the analytic accounts and the journal, checks its lock dates,
    /// finds the keys already there, and writes, or writes nothing and answers every problem.
    /// `messages` holds each move's chatter message (in the plan's order); with `dry_run`
    /// nothing is written and the answer says what would be done.
    pub async fn import_plan(
        &self,
        target: &Target<'_>,
        plan: &ImportPlan,
        dry_run: bool,
        attachment: Option<Value>,
        attachments: &HashMap<String, Value>,
        messages: &[String],
    ) -> Result<PlanAnswer, PlanError> {
        let moves: Vec<Value> = plan
            .moves
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let lines: Vec<Value> = m
                    .lines
                    .iter()
                    .map(|l| {
                        json!({
                            "account": l.account,
                            "name": l.label,
                            "debit": l.debit.to_json_number(),
                            "credit": l.credit.to_json_number(),
                            "analytic": l.repartition.map(|r| r.index.to_string()),
                        })
                    })
                    .collect();
                // The Odoo journal of the move: the dossier's, or its Silae code's when mapped; a
                // salary payment's goes to the payments journal (which may be a bank journal).
                let payment = crate::payments::is_payment_key(&m.import_key);
                let journal = match (payment, target.payments_journal) {
                    (true, Some(code)) => code,
                    _ => m
                        .code_journal
                        .as_ref()
                        .and_then(|c| target.journal_map.get(c))
                        .map_or(target.journal_code, |j| j),
                };
                json!({
                    "import_key": m.import_key,
                    "legacy_key": m.legacy_key,
                    "journal": journal,
                    "payment": payment,
                    "attachment": attachments.get(&m.import_key),
                    "payload_hash": m.payload_hash,
                    "date": m.date.to_string(),
                    "ref": m.reference,
                    "lines": lines,
                    "message": messages.get(i),
                })
            })
            .collect();
        let mut kwargs = params(json!({
            "company_id": target.company_id,
            "journal_code": target.journal_code,
            "moves": moves,
            "account_map": target.account_map,
            "analytic_map": target.analytic,
            "dry_run": dry_run,
            "key_prefix": plan.key_prefix(),
            "corrections": target.corrections.as_str(),
        }));
        if let Some(a) = attachment {
            kwargs.insert("attachment".into(), a);
        }
        // Sent only when set: an addon older than the partners step takes no such argument.
        if !target.partner_map.is_empty() {
            kwargs.insert("partner_map".into(), json!(target.partner_map));
        }
        let answer = match self.call("account.move", "payflow_import_plan", None, kwargs, dry_run).await {
            Ok(a) => a,
            Err(OdooError::Rejected { message, .. })
                if message.contains("payflow_import_plan") && message.contains("does not exist") =>
            {
                return Err(PlanError::NotAvailable(message))
            }
            Err(e) => return Err(WriteError::Odoo(e).into()),
        };
        parse_plan_answer(&answer, plan, target, &self.config.login).map_err(|e| match e {
            PlanError::Write(WriteError::Malformed(why)) if !dry_run => WriteError::Malformed(why).into(),
            other => other,
        })
    }

    /// Writes the moves in one call to the addon (one transaction: all or none). The answer
    /// must say, for every move sent, what was done; anything else is an error
    /// ([`WriteError::Malformed`]), never "nothing written".
    pub async fn write(&self, moves: Vec<Value>) -> Result<Vec<WriteResult>, WriteError> {
        let keys: Vec<String> = moves.iter().map(|m| m["import_key"].as_str().unwrap_or_default().to_owned()).collect();
        let answer = self.call("account.move", "payflow_import", None, params(json!({"moves": moves})), false).await?;
        parse_write_answer(&answer, &keys).map_err(WriteError::Malformed)
    }

    /// The keys' moves as they are now (after a refused write, to tell a lost race).
    pub async fn existing(&self, company_id: i64, keys: &[&str]) -> Result<HashMap<String, Existing>, OdooError> {
        Ok(existing_by_key(&self.search_existing(company_id, keys).await?))
    }

    /// The moves of a company that carry one of the keys (call 5 of docs/odoo-protocol.md).
    async fn search_existing(&self, company_id: i64, keys: &[&str]) -> Result<Vec<Value>, OdooError> {
        self.search_read(
            "account.move",
            json!([["payflow_import_key", "in", keys], ["company_id", "=", company_id]]),
            &["id", "name", "state", "payflow_import_key", "payflow_payload_hash"],
            json!({}),
        )
        .await
    }
}

impl Resolved {
    /// The Odoo journal of a move: its Silae journal code's when the dossier maps it.
    pub fn journal_id_of(&self, m: &MovePlan) -> i64 {
        if let Some(id) = self.payments_journal_id.filter(|_| crate::payments::is_payment_key(&m.import_key)) {
            return id;
        }
        m.code_journal.as_ref().and_then(|c| self.journal_of.get(c)).map_or(self.journal_id, |(id, _)| *id)
    }
}

/// Reads `payflow_import_plan`'s answer (docs/odoo-protocol.md) into the agent's types: the
/// problems into the same [`Problems`] the agent's own resolution gives, the moves already there
/// (under their key or their legacy key) and the period's keys for the rename check.
pub fn parse_plan_answer(
    answer: &Value,
    plan: &ImportPlan,
    target: &Target<'_>,
    login: &str,
) -> Result<PlanAnswer, PlanError> {
    #[derive(serde::Deserialize)]
    struct Wire {
        company: Value,
        journal: Value,
        /// Odoo journal code -> the journal, for every journal a move goes to.
        #[serde(default)]
        journals: HashMap<String, WireRecord>,
        #[serde(default)]
        accounts: HashMap<String, WireRecord>,
        #[serde(default)]
        analytic: HashMap<String, i64>,
        /// Silae account code -> its partner (`partner_map`).
        #[serde(default)]
        partners: HashMap<String, WirePartner>,
        #[serde(default)]
        problems: Vec<WireProblem>,
        #[serde(default)]
        moves: Vec<Value>,
        #[serde(default)]
        period_keys: Vec<String>,
        #[serde(default)]
        written: bool,
    }
    #[derive(serde::Deserialize)]
    struct WireRecord {
        id: i64,
        code: String,
    }
    #[derive(serde::Deserialize)]
    struct WirePartner {
        id: i64,
    }
    #[derive(serde::Deserialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum WireProblem {
        Company {
            asked: i64,
            #[serde(default)]
            available: Vec<(i64, Value)>,
        },
        Journal {
            code: String,
            #[serde(default)]
            journals: Vec<(Value, Value, Value, bool)>,
        },
        Account {
            silae_code: String,
            tried: Vec<String>,
        },
        Analytic {
            index: String,
            name: Value,
        },
        Locked {
            date: String,
            lock_date: String,
        },
        /// A `partner_map` entry without exactly one partner (`found`: [id, name] of those
        /// matching, when several).
        Partner {
            silae_code: String,
            partner: String,
            #[serde(default)]
            found: Vec<(i64, Value)>,
        },
        /// The plan's keys against the period's (`period_keys`): the agent words it.
        Renamed {},
        /// A draft a person changed, or a posted move, that Silae corrected.
        ChangedInOdoo(WireCorrected),
        PostedChanged(WireCorrected),
    }
    #[derive(serde::Deserialize)]
    struct WireCorrected {
        import_key: String,
        #[serde(rename = "move")]
        odoo_move: WireMove,
        state: String,
        #[serde(default, deserialize_with = "text_or_false")]
        changed_by: Option<String>,
        #[serde(default, deserialize_with = "text_or_false")]
        changed_at: Option<String>,
        #[serde(default)]
        reasons: Vec<String>,
        #[serde(default)]
        adjustments: Vec<WireMove>,
        diff: Vec<WireDiff>,
    }
    #[derive(serde::Deserialize)]
    struct WireMove {
        id: i64,
        #[serde(default, deserialize_with = "text_or_false")]
        name: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct WireDiff {
        account: String,
        #[serde(default, deserialize_with = "text_or_false")]
        name: Option<String>,
        #[serde(default, deserialize_with = "text_or_false")]
        analytic: Option<String>,
        odoo_debit: i64,
        odoo_credit: i64,
        silae_debit: i64,
        silae_credit: i64,
    }
    /// Odoo's `False` for an empty text.
    fn text_or_false<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match <Value as serde::Deserialize>::deserialize(d)? {
            Value::String(s) if !s.is_empty() && s != "/" => Some(s),
            _ => None,
        })
    }
    let corrected = |w: WireCorrected| {
        let move_ref = |m: WireMove| crate::outcome::MoveRef { id: m.id, name: m.name, rupture_label: None };
        crate::outcome::CorrectedMove {
            import_key: w.import_key,
            odoo_move: move_ref(w.odoo_move),
            state: w.state,
            changed_by: w.changed_by,
            changed_at: w.changed_at,
            reasons: w.reasons,
            adjustments: w.adjustments.into_iter().map(move_ref).collect(),
            diff: w
                .diff
                .into_iter()
                .map(|d| crate::outcome::AccountDiff {
                    account: d.account,
                    name: d.name,
                    analytic: d.analytic,
                    odoo_debit_cents: d.odoo_debit,
                    odoo_credit_cents: d.odoo_credit,
                    silae_debit_cents: d.silae_debit,
                    silae_credit_cents: d.silae_credit,
                })
                .collect(),
        }
    };
    let malformed = |why: String| PlanError::Write(WriteError::Malformed(why));
    let wire: Wire = serde_json::from_value(answer.clone()).map_err(|e| {
        let mut shown = answer.to_string();
        if shown.chars().count() > 200 {
            shown = format!("{}…", shown.chars().take(200).collect::<String>());
        }
        malformed(format!("expected payflow_import_plan's answer: {e}; got {shown}"))
    })?;
    let company_name = wire.company.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
    let mut problems = Problems::default();
    let mut journal_problems: Vec<String> = Vec::new();
    let mut renamed = false;
    for p in wire.problems {
        match p {
            WireProblem::Company { asked, available } => {
                return Err(ResolveError::Company {
                    asked,
                    login: login.to_owned(),
                    available: available
                        .iter()
                        .map(|(id, name)| format!("{id} ({})", name.as_str().unwrap_or("?")))
                        .collect::<Vec<_>>()
                        .join(", "),
                }
                .into())
            }
            WireProblem::Journal { code, journals } => {
                let rows: Vec<Value> = journals
                    .into_iter()
                    .map(|(c, n, t, active)| json!({"code": c, "name": n, "type": t, "active": active}))
                    .collect();
                let picked = match target.payments_journal {
                    Some(p) if p == code => pick_payments_journal(&rows, &code, &company_name).map(drop),
                    _ => pick_journal(&rows, &code, &company_name).map(drop),
                };
                if let Err(e) = picked {
                    if !journal_problems.contains(&e.to_string()) {
                        journal_problems.push(e.to_string());
                    }
                }
            }
            WireProblem::Account { silae_code, tried } => problems.accounts.push(MissingAccount { silae_code, tried }),
            WireProblem::Analytic { index, name } => problems.analytic.push(match name.as_str() {
                Some(name) => format!("repartition {index}: no analytic account with code or name {name:?}"),
                None => format!("repartition {index}: no analytic account mapped (add `--analytic {index}=ACCOUNT`)"),
            }),
            WireProblem::Locked { date, lock_date } => {
                let date = date.parse().map_err(|e| malformed(format!("the date {date:?}: {e}")))?;
                problems.locked.push(locked_text(&plan.period, date, &company_name, &lock_date));
            }
            WireProblem::Partner { silae_code, partner, found } => {
                let found: Vec<(i64, String)> =
                    found.into_iter().map(|(id, n)| (id, n.as_str().unwrap_or("?").to_owned())).collect();
                problems.partners.push(partner_problem(&silae_code, &partner, &found));
            }
            WireProblem::Renamed {} => renamed = true,
            WireProblem::ChangedInOdoo(w) | WireProblem::PostedChanged(w) => problems.corrected.push(corrected(w)),
        }
    }
    if !journal_problems.is_empty() {
        problems.journal = Some(journal_problems.join("\n"));
    }
    problems.into_result(&company_name)?;
    let journal_id = wire
        .journal
        .get("id")
        .and_then(Value::as_i64)
        .ok_or_else(|| malformed(format!("no journal in an answer without problems: {}", wire.journal)))?;
    let mut journal_of = HashMap::new();
    for code in plan.moves.iter().filter_map(|m| m.code_journal.as_ref()) {
        if let Some(odoo_code) = target.journal_map.get(code) {
            let j = wire
                .journals
                .get(odoo_code)
                .ok_or_else(|| malformed(format!("no journal {odoo_code:?} in an answer without problems")))?;
            journal_of.insert(code.clone(), (j.id, j.code.clone()));
        }
    }
    let payments_journal_id = match target.payments_journal {
        Some(code) if plan.moves.iter().any(|m| crate::payments::is_payment_key(&m.import_key)) => Some(
            wire.journals
                .get(code)
                .ok_or_else(|| malformed(format!("no journal {code:?} in an answer without problems")))?
                .id,
        ),
        _ => None,
    };
    // A move is named by its key, or by its legacy key when Odoo holds it under that one.
    let known: Vec<String> =
        plan.moves.iter().flat_map(|m| std::iter::once(m.import_key.clone()).chain(m.legacy_key.clone())).collect();
    let mut existing = HashMap::new();
    let mut results = Vec::new();
    // The adjustments of posted moves Silae corrected: `<key>:regul-<n>`, `adjusts` = the key.
    let (adjusting, moves): (Vec<Value>, Vec<Value>) =
        wire.moves.into_iter().partition(|row| row.get("adjusts").is_some_and(Value::is_string));
    let mut adjustments = Vec::new();
    for row in &adjusting {
        let (Some(key), Some(of)) = (row["import_key"].as_str(), row["adjusts"].as_str()) else { continue };
        let numbered = key.strip_prefix(of).and_then(|n| n.strip_prefix(":regul-"));
        if !known.iter().any(|k| k == of)
            || !numbered.is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(malformed(format!("an adjustment row {row} that adjusts no move sent")));
        }
        adjustments.push(WriteResult {
            import_key: key.to_owned(),
            id: row["id"].as_i64().unwrap_or(0),
            name: row["name"].as_str().filter(|n| !n.is_empty() && *n != "/").map(str::to_owned),
            result: WriteOutcome::Created,
            state: MoveState::from_odoo(row["state"].as_str().unwrap_or("draft")),
        });
    }
    if wire.written && adjustments.iter().any(|a| a.id <= 0) {
        return Err(malformed("a written adjustment without its id".to_owned()));
    }
    if wire.written {
        results = parse_rows(&Value::Array(moves), &known).map_err(malformed)?;
        if let Some(m) = plan.moves.iter().find(|m| {
            !results.iter().any(|r| r.import_key == m.import_key || Some(&r.import_key) == m.legacy_key.as_ref())
        }) {
            return Err(malformed(format!("it says nothing of the move {}", m.import_key)));
        }
        for r in &results {
            if matches!(r.result, WriteOutcome::Unchanged | WriteOutcome::Posted) {
                let hash = plan
                    .moves
                    .iter()
                    .find(|m| m.import_key == r.import_key || m.legacy_key.as_ref() == Some(&r.import_key))
                    .map(|m| m.payload_hash.clone());
                existing.insert(
                    r.import_key.clone(),
                    Existing { id: r.id, name: r.name.clone(), state: r.state, payload_hash: hash },
                );
            }
        }
    } else {
        // A preview (or a refusal): the rows of the moves already there carry their id; the
        // others `false`.
        for row in &moves {
            let (Some(key), Some(result)) = (row["import_key"].as_str(), row["result"].as_str()) else {
                return Err(malformed(format!("a preview row without import_key or result: {row}")));
            };
            if !known.iter().any(|k| k == key) {
                return Err(malformed(format!("it names the key {key:?}, which was not sent")));
            }
            let Some(id) = row["id"].as_i64().filter(|id| *id > 0) else { continue };
            let plan_hash = plan
                .moves
                .iter()
                .find(|m| m.import_key == key || m.legacy_key.as_deref() == Some(key))
                .map(|m| m.payload_hash.clone());
            existing.insert(
                key.to_owned(),
                Existing {
                    id,
                    name: row["name"].as_str().filter(|n| !n.is_empty() && *n != "/").map(str::to_owned),
                    state: MoveState::from_odoo(row["state"].as_str().unwrap_or_default()),
                    // "unchanged" says the fingerprint is the plan's; a posted move the answer
                    // names without a problem is Silae's (same amounts, or adjusted).
                    payload_hash: if matches!(result, "unchanged" | "posted") { plan_hash } else { None },
                },
            );
        }
    }
    let accounts = wire.accounts.into_iter().map(|(k, a)| (k, (a.id, a.code))).collect();
    let analytic = wire.analytic.into_iter().filter_map(|(k, id)| Some((k.parse().ok()?, id))).collect();
    let partners = wire.partners.into_iter().map(|(k, p)| (k, p.id)).collect();
    Ok(PlanAnswer {
        resolved: Resolved {
            company_name,
            journal_id,
            journal_of,
            payments_journal_id,
            accounts,
            analytic,
            partners,
            existing,
            period_keys: wire.period_keys,
            addon_missing: None,
        },
        moves: results,
        written: wire.written,
        renamed,
        adjustments,
    })
}

fn existing_by_key(rows: &[Value]) -> HashMap<String, Existing> {
    rows.iter()
        .filter_map(|m| {
            Some((
                m["payflow_import_key"].as_str()?.to_owned(),
                Existing {
                    id: m["id"].as_i64()?,
                    // Odoo names a draft "/" (or nothing) until it numbers it.
                    name: m["name"].as_str().filter(|n| !n.is_empty() && *n != "/").map(str::to_owned),
                    state: MoveState::from_odoo(m["state"].as_str().unwrap_or_default()),
                    payload_hash: m["payflow_payload_hash"].as_str().map(str::to_owned),
                },
            ))
        })
        .collect()
}

fn params(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn pick_journal(journals: &[Value], code: &str, company: &str) -> Result<i64, ResolveError> {
    let listing = || {
        let list: Vec<String> = journals
            .iter()
            .map(|j| {
                format!(
                    "{} ({}, {}{})",
                    j["code"].as_str().unwrap_or("?"),
                    j["name"].as_str().unwrap_or("?"),
                    j["type"].as_str().unwrap_or("?"),
                    if j["active"].as_bool() == Some(false) { ", archived" } else { "" }
                )
            })
            .collect();
        if list.is_empty() {
            "none".to_owned()
        } else {
            list.join(", ")
        }
    };
    let hit = journals
        .iter()
        .find(|j| j["code"].as_str() == Some(code))
        .or_else(|| journals.iter().find(|j| j["code"].as_str().is_some_and(|c| c.eq_ignore_ascii_case(code))));
    let Some(j) = hit else {
        return Err(ResolveError::Journal(format!(
            "no journal with code {code:?} in {company}; journals there: {}. Create a Miscellaneous (general) journal with that code, or change the dossier's journal",
            listing()
        )));
    };
    if j["active"].as_bool() == Some(false) {
        return Err(ResolveError::Journal(format!(
            "the journal {code:?} of {company} is archived: unarchive it, or change the dossier's journal"
        )));
    }
    if j["type"].as_str() != Some("general") {
        return Err(ResolveError::Journal(format!(
            "the journal {code:?} of {company} is of type {:?}, not a Miscellaneous (general) journal; general journals there: {}",
            j["type"].as_str().unwrap_or("?"),
            listing()
        )));
    }
    Ok(j["id"].as_i64().unwrap_or_default())
}

/// The payments journal: a bank, cash or general journal of the company, active.
fn pick_payments_journal(journals: &[Value], code: &str, company: &str) -> Result<i64, ResolveError> {
    let hit = journals
        .iter()
        .find(|j| j["code"].as_str() == Some(code))
        .or_else(|| journals.iter().find(|j| j["code"].as_str().is_some_and(|c| c.eq_ignore_ascii_case(code))));
    let usable: Vec<String> = journals
        .iter()
        .filter(|j| {
            matches!(j["type"].as_str(), Some("bank" | "cash" | "general")) && j["active"].as_bool() != Some(false)
        })
        .map(|j| format!("{} ({})", j["code"].as_str().unwrap_or("?"), j["name"].as_str().unwrap_or("?")))
        .collect();
    let why = match hit {
        None => format!("no journal with code {code:?} in {company}"),
        Some(j) if j["active"].as_bool() == Some(false) => format!("the journal {code:?} of {company} is archived"),
        Some(j) if !matches!(j["type"].as_str(), Some("bank" | "cash" | "general")) => format!(
            "the journal {code:?} of {company} is of type {:?}, not a bank, cash or general journal",
            j["type"].as_str().unwrap_or("?")
        ),
        Some(j) => return Ok(j["id"].as_i64().unwrap_or_default()),
    };
    Err(ResolveError::Journal(format!(
        "{why}: the salary payments go to the dossier's payments journal (payments_journal); usable journals there: {}",
        if usable.is_empty() { "none".to_owned() } else { usable.join(", ") }
    )))
}

fn describe_missing(missing: &[MissingAccount], analytic: &[String], company: &str) -> String {
    let mut text = String::new();
    if !missing.is_empty() {
        text.push_str(&format!(
            "{} Silae account(s) have no Odoo account in {company}; nothing was written:",
            missing.len()
        ));
        for m in missing {
            text.push_str(&format!("\n- {} (tried {})", m.silae_code, m.tried.join(", ")));
        }
        text.push_str(
            "\nCreate these accounts in Odoo, or map each one to an existing account: payflow-agent dossier add ... ",
        );
        text.push_str(
            &missing.iter().map(|m| format!("--map {}=ODOO_CODE", m.silae_code)).collect::<Vec<_>>().join(" "),
        );
    }
    if !analytic.is_empty() {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&format!("{} analytic mapping problem(s):", analytic.len()));
        for a in analytic {
            text.push_str(&format!("\n- {a}"));
        }
    }
    text
}

/// The partner map entries (of the Silae codes the plan uses) Odoo must resolve.
fn used_partners<'a>(plan: &ImportPlan, map: &'a BTreeMap<String, String>) -> BTreeMap<&'a str, &'a str> {
    let used: BTreeSet<&str> = plan.moves.iter().flat_map(|m| m.lines.iter().map(|l| l.account.as_str())).collect();
    map.iter().filter(|(k, _)| used.contains(k.as_str())).map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The one partner `wanted` names among `rows` (`id`, `name`, `ref`, `vat`), as the addon picks
/// it: the partners with that exact reference, else that VAT number, else that exact name;
/// exactly one, else those found (none, or several: [id, name]).
pub fn pick_partner(rows: &[Value], wanted: &str) -> Result<i64, Vec<(i64, String)>> {
    for field in ["ref", "vat", "name"] {
        let hits: Vec<(i64, String)> = rows
            .iter()
            .filter(|r| r[field].as_str() == Some(wanted))
            .filter_map(|r| Some((r["id"].as_i64()?, r["name"].as_str().unwrap_or("?").to_owned())))
            .collect();
        match hits.as_slice() {
            [] => continue,
            [(id, _)] => return Ok(*id),
            _ => return Err(hits),
        }
    }
    Err(Vec::new())
}

/// What to fix for a partner map entry without exactly one partner.
fn partner_problem(silae_code: &str, partner: &str, found: &[(i64, String)]) -> String {
    if found.is_empty() {
        format!(
            "Silae account {silae_code}: no Odoo partner has the reference, VAT number or name {partner:?}; create it in Contacts, or change the dossier's partner (--partner {silae_code}=PARTNER)"
        )
    } else {
        // By id: both paths list them alike, whatever order Odoo read them in.
        let mut found = found.to_vec();
        found.sort();
        let listed: Vec<String> = found.iter().map(|(id, name)| format!("{name} (id {id})")).collect();
        format!(
            "Silae account {silae_code}: {} Odoo partners match {partner:?}: {}; give the right one its own reference (Internal Reference) and use it (--partner {silae_code}=REFERENCE)",
            found.len(),
            listed.join(", ")
        )
    }
}

/// The `payflow_import` entry of one move plan.
pub fn move_entry(m: &MovePlan, resolved: &Resolved, company_id: i64, attachment: &Value, message: &str) -> Value {
    let lines: Vec<Value> = m
        .lines
        .iter()
        .map(|l| {
            let (account_id, _) = &resolved.accounts[&l.account];
            let mut vals = json!({
                "account_id": account_id,
                "name": l.label,
                "debit": l.debit.to_json_number(),
                "credit": l.credit.to_json_number(),
            });
            if let Some(id) = l.repartition.and_then(|r| resolved.analytic.get(&r.index)) {
                vals["analytic_distribution"] = json!({ id.to_string(): 100.0 });
            }
            if let Some(id) = resolved.partners.get(&l.account) {
                vals["partner_id"] = json!(id);
            }
            json!([0, 0, vals])
        })
        .collect();
    json!({
        "import_key": m.import_key,
        "payload_hash": m.payload_hash,
        "vals": {
            "move_type": "entry",
            "journal_id": resolved.journal_id_of(m),
            "company_id": company_id,
            "date": m.date.to_string(),
            "ref": m.reference,
            "line_ids": lines,
        },
        "attachment": attachment,
        "message": message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_answer_is_read_whole_or_refused() {
        let sent = vec!["k1".to_owned(), "k2".to_owned()];
        let good = json!([
            {"import_key": "k1", "id": 7, "result": "created", "state": "draft"},
            {"import_key": "k2", "id": 8, "result": "unchanged", "state": "posted"},
        ]);
        let rows = parse_write_answer(&good, &sent).unwrap();
        assert_eq!((rows[0].id, rows[1].result), (7, WriteOutcome::Unchanged));
        assert_eq!((rows[0].state, rows[1].state), (MoveState::Draft, MoveState::Posted));
        let cases = [
            (json!(null), "expected a list"),
            (json!(true), "expected a list"),
            (json!({"import_key": "k1"}), "expected a list"),
            (json!([]), "says nothing of the move k1"),
            (json!([{"import_key": "k1", "id": 7, "result": "created", "state": "draft"}]), "nothing of the move k2"),
            (json!([{"import_key": "k1", "id": "7", "result": "created", "state": "draft"}]), "expected a list"),
            (
                json!([{"import_key": "k1", "id": 0, "result": "created", "state": "draft"},
                       {"import_key": "k2", "id": 8, "result": "created", "state": "draft"}]),
                "the id 0",
            ),
            (
                json!([{"import_key": "k1", "id": 7, "result": "??", "state": "draft"},
                       {"import_key": "k2", "id": 8, "result": "created", "state": "draft"}]),
                "expected one of",
            ),
            (json!([{"import_key": "k9", "id": 7, "result": "created", "state": "draft"}]), "was not sent"),
        ];
        for (answer, expected) in cases {
            let err = parse_write_answer(&answer, &sent).unwrap_err();
            assert!(err.contains(expected), "{answer}: {err}");
        }
    }
}
