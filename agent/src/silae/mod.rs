//! The Silae client: OAuth2 client credentials, the payroll journal of a period (synchronous,
//! or asynchronous for big dossiers), its salary payments (transfer batches and advances), the
//! period in progress and the readable dossiers. Retries 429 (honouring `Retry-After`), 5xx and
//! timeouts through `crate::retry`; everything else is a clear typed error.

pub mod wire;

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::config::SilaeConfig;
use crate::period::Period;
use crate::retry::{self, GaveUp, Policy, Step};
use wire::{
    ApiErrors, DossierRecupererPeriodeEnCoursResponse, DossierRequest, EcrituresComptables4Request,
    EcrituresComptablesAvecRuptures, ListeDossiersRequest, ListeDossiersResponse, ProprietesDossier,
};

/// The three Silae credentials.
pub struct SilaeCredentials {
    pub client_id: SecretString,
    pub client_secret: SecretString,
    pub subscription_key: SecretString,
}

#[derive(Debug, thiserror::Error)]
pub enum SilaeError {
    #[error("Silae refused the credentials: {0}. Check silae_client_id, silae_client_secret and silae_subscription_key (`payflow-agent secret set ...`)")]
    Auth(String),
    #[error("Silae has blocked this API subscription (recoverable: false): {0}. The subscription's configuration must be fixed in Silae's API portal before any call can succeed")]
    Blocked(String),
    #[error("Silae is unavailable: {0}")]
    Unavailable(String),
    #[error("Silae's answer is not usable: {0}")]
    BadResponse(String),
}

impl SilaeError {
    pub fn kind(&self) -> &'static str {
        match self {
            SilaeError::Auth(_) | SilaeError::Blocked(_) => "silae_auth",
            SilaeError::Unavailable(_) => "silae_unavailable",
            SilaeError::BadResponse(_) => "silae_bad_response",
        }
    }
}

struct CachedToken {
    value: SecretString,
    valid_until: Instant,
}

/// Why a call stopped, before it becomes a [`SilaeError`].
#[derive(Debug)]
enum CallError {
    /// A clear refusal or an unusable answer: not retried.
    Silae(SilaeError),
    /// Worth another attempt (429, 5xx, a transport failure): the reason.
    Transient(String),
    /// The request itself timed out and the caller asked to be told ([`OnTimeout::Stop`]).
    TimedOut(String),
}

impl CallError {
    fn why(&self) -> String {
        match self {
            CallError::Silae(e) => e.to_string(),
            CallError::Transient(why) | CallError::TimedOut(why) => why.clone(),
        }
    }
}

impl From<GaveUp<CallError>> for SilaeError {
    fn from(gave_up: GaveUp<CallError>) -> SilaeError {
        match gave_up {
            GaveUp::Failed(CallError::Silae(e)) => e,
            GaveUp::Failed(e) => SilaeError::Unavailable(e.why()),
            GaveUp::Exhausted { error: CallError::Silae(e), .. } => e,
            GaveUp::Exhausted { error, attempts } => {
                SilaeError::Unavailable(format!("{} (after {attempts} attempts)", error.why()))
            }
            GaveUp::WaitTooLong { error, wait } => SilaeError::Unavailable(format!(
                "{}; Silae asks to wait {} s, longer than PayFlow waits: the period will be tried again on the next run",
                error.why(),
                wait.as_secs()
            )),
        }
    }
}

/// What a call does when its own request times out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnTimeout {
    Retry,
    /// Stop and say so: the synchronous journal then asks for the asynchronous one.
    Stop,
}

pub struct SilaeClient {
    http: reqwest::Client,
    /// The roots trusted for Silae and the verdicts seen (`check`).
    pub tls: crate::tls::Trust,
    config: SilaeConfig,
    credentials: SilaeCredentials,
    token: Mutex<Option<CachedToken>>,
    /// After a 429, no request leaves before this instant: the limit is Silae's, shared by every
    /// dossier this process works on.
    paused_until: std::sync::Mutex<Option<Instant>>,
    /// The client secrets' expiry as Silae's last answer announced it (its last 31 days).
    key_expiry: std::sync::Mutex<KeyExpiry>,
    /// HTTP calls made and failed (any non-success), for the metrics.
    pub calls: std::sync::atomic::AtomicU64,
    pub errors: std::sync::atomic::AtomicU64,
}

/// What Silae announces of its client secrets' expiry: during a secret's last 31 days, answers
/// carry `X-PrimaryKeyExpirationWarning` / `X-SecondaryKeyExpirationWarning` (Silae's
/// documentation on client secrets). The value's date when it holds one (`YYYY-MM-DD` at its
/// start), else its text, at most 200 characters.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct KeyExpiry {
    pub primary: Option<String>,
    pub secondary: Option<String>,
}

impl KeyExpiry {
    fn read(headers: &reqwest::header::HeaderMap) -> KeyExpiry {
        let one = |name: &str| {
            let text = String::from_utf8_lossy(headers.get(name)?.as_bytes()).trim().to_owned();
            match wire::date_part(&text) {
                Some(date) => Some(date.to_string()),
                None if text.is_empty() => None,
                None => Some(text.chars().take(200).collect()),
            }
        };
        KeyExpiry { primary: one("x-primarykeyexpirationwarning"), secondary: one("x-secondarykeyexpirationwarning") }
    }

    /// `check`'s line, `None` when no secret is announced as expiring.
    pub fn describe(&self) -> Option<String> {
        let parts: Vec<String> = [("primary", &self.primary), ("secondary", &self.secondary)]
            .iter()
            .filter_map(|(which, d)| d.as_ref().map(|d| format!("the {which} client secret expires on {d}")))
            .collect();
        (!parts.is_empty()).then(|| {
            format!(
                "{}: renew it in Silae's API portal and set the new one (payflow-agent secret set silae_client_secret) before then, or every dossier fails that day",
                parts.join(", ")
            )
        })
    }
}

/// How long before its expiry a token is renewed.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);
/// The longest wait a `Retry-After` may impose before the call is given up.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The largest Silae answer read. A journal line takes about 270 bytes of JSON (the samples), so
/// 64 MiB is some 250,000 lines where a real month has at most a few thousand (accounts ×
/// establishments × analytic repartitions); it bounds what a broken or hostile answer can make
/// the agent hold (read in pieces, dropped as soon as it passes the bound).
pub const MAX_ANSWER: usize = 64 * 1024 * 1024;
/// The token endpoint's answer is a few hundred bytes.
const MAX_TOKEN_ANSWER: usize = 64 * 1024;
/// The longest a token is kept, whatever `expires_in` says.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Why an answer's body was not read whole.
pub(crate) enum BodyError {
    TooLarge(usize),
    Transport(reqwest::Error),
}

/// Reads a body in pieces, giving up as soon as it passes `limit` (declared or received).
pub(crate) async fn read_capped(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    if let Some(declared) = response.content_length().filter(|n| *n > limit as u64) {
        return Err(BodyError::TooLarge(usize::try_from(declared).unwrap_or(usize::MAX)));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge(body.len() + chunk.len()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn too_large(what: &str, received: usize, limit: usize) -> SilaeError {
    SilaeError::BadResponse(format!(
        "{what}: the answer is larger than PayFlow reads ({} MiB or more received, the limit is {} MiB): no real payroll journal is this large; ask Silae's support",
        received / (1024 * 1024),
        limit / (1024 * 1024)
    ))
}

impl SilaeClient {
    pub fn new(config: SilaeConfig, credentials: SilaeCredentials) -> Result<SilaeClient, SilaeError> {
        let tls = crate::config::trust("silae", config.ca_file.as_ref()).map_err(SilaeError::Unavailable)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls.client_config())
            .timeout(Duration::from_secs(config.timeout_secs))
            .connect_timeout(Duration::from_secs(config.timeout_secs.min(15)))
            .user_agent(concat!("payflow-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SilaeError::Unavailable(format!("cannot build the HTTP client: {e}")))?;
        Ok(SilaeClient {
            http,
            tls,
            config,
            credentials,
            token: Mutex::new(None),
            paused_until: std::sync::Mutex::new(None),
            key_expiry: std::sync::Mutex::new(KeyExpiry::default()),
            calls: Default::default(),
            errors: Default::default(),
        })
    }

    /// The payroll journal of one dossier and period, asked synchronously (and asynchronously
    /// when that times out): [`SilaeClient::ecritures_for`] of a dossier not marked large.
    pub async fn ecritures(
        &self,
        dossier: &str,
        period: Period,
    ) -> Result<(EcrituresComptablesAvecRuptures, Vec<u8>), SilaeError> {
        self.ecritures_for(dossier, period, false).await
    }

    /// The payroll journal of one dossier and period (`EcrituresComptables4`), with every
    /// analytic repartition. A dossier marked `large` asks for it asynchronously at once; the
    /// others ask synchronously and, when that call times out, asynchronously (docs/silae.md).
    pub async fn ecritures_for(
        &self,
        dossier: &str,
        period: Period,
        large: bool,
    ) -> Result<(EcrituresComptablesAvecRuptures, Vec<u8>), SilaeError> {
        let body = EcrituresComptables4Request {
            numero_dossier: dossier.to_owned(),
            periode_debut: format!("{}T00:00:00", period.first_day()),
            periode_fin: format!("{}T00:00:00", period.last_day()),
            avec_toutes_les_repartitions_analytiques: true,
        };
        if !large {
            let path = "v1/EcrituresComptables/EcrituresComptables4";
            match self.call(Method::POST, path, None, Some(dossier), Some(&body), OnTimeout::Stop).await {
                Ok((_, bytes)) => return Ok((parse(path, &bytes)?, bytes)),
                Err(GaveUp::Failed(CallError::TimedOut(why))) => tracing::warn!(
                    dossier,
                    "the synchronous journal did not come in time ({why}): asking for it asynchronously"
                ),
                Err(e) => return Err(e.into()),
            }
        }
        self.ecritures_asynchrone(dossier, &body).await
    }

    /// `EcrituresComptables4Asynchrone` once, then `StatutEcrituresComptables4Asynchrone` with
    /// its task id until the journal is ready, the task fails, or `async_wait_secs` pass. The
    /// generation is asked for once per call: a failed poll is retried with the same task id.
    async fn ecritures_asynchrone(
        &self,
        dossier: &str,
        body: &EcrituresComptables4Request,
    ) -> Result<(EcrituresComptablesAvecRuptures, Vec<u8>), SilaeError> {
        let start = "v1/EcrituresComptables/EcrituresComptables4Asynchrone";
        let (_, bytes) = self.call(Method::POST, start, None, Some(dossier), Some(body), OnTimeout::Retry).await?;
        let task: wire::TraitementAsynchroneResponse = parse(start, &bytes)?;
        let guid = task
            .guid_tache
            .map(|g| g.trim().to_owned())
            .filter(|g| !g.is_empty() && g.len() <= 200)
            .ok_or_else(|| SilaeError::BadResponse(format!("{start}: the answer has no task id (`guidTache`)")))?;
        tracing::info!(dossier, task = guid, "Silae is generating the journal asynchronously");
        let status = "v1/EcrituresComptables/StatutEcrituresComptables4Asynchrone";
        let policy = Policy {
            base: Duration::from_millis(self.config.async_poll_ms),
            max_delay: MAX_BACKOFF,
            max_attempts: u32::MAX,
            deadline: Some(Duration::from_secs(self.config.async_wait_secs)),
            max_retry_after: MAX_RETRY_AFTER,
        };
        let query = [("guidTache", guid.as_str())];
        let polled = retry::run(
            &policy,
            |_| async {
                let answer = self.call(Method::GET, status, Some(&query), Some(dossier), None::<&()>, OnTimeout::Retry);
                let (http, bytes) = match answer.await {
                    Ok(a) => a,
                    Err(e) => return Step::Fail(SilaeError::from(e)),
                };
                match parse::<wire::StatutEcrituresComptables4AsynchroneResponse>(status, &bytes) {
                    Err(e) => Step::Fail(e),
                    Ok(answer) => match task_state(http, &answer) {
                        TaskState::Ready(raw) => Step::Done(raw.get().as_bytes().to_vec()),
                        TaskState::Running(what) => Step::Retry { error: SilaeError::Unavailable(what), after: None },
                        TaskState::Failed(why) => Step::Fail(SilaeError::BadResponse(format!(
                            "Silae's asynchronous generation of the journal failed (task {guid}): {why}; nothing was written, the next run asks again"
                        ))),
                    },
                }
            },
            |why, polls, delay| tracing::debug!(dossier, task = guid, polls, delay_ms = delay.as_millis() as u64, "{why}"),
        )
        .await;
        let bytes = match polled {
            Ok(bytes) => bytes,
            Err(GaveUp::Failed(e)) => return Err(e),
            Err(GaveUp::Exhausted { error, attempts }) => {
                return Err(SilaeError::Unavailable(format!(
                    "Silae's asynchronous journal (task {guid}) was not ready after {attempts} polls in {} s at most ({error}); the next run asks again (silae.async_wait_secs)",
                    self.config.async_wait_secs
                )))
            }
            Err(GaveUp::WaitTooLong { error, .. }) => return Err(error),
        };
        Ok((parse(status, &bytes)?, bytes))
    }

    /// The transfer batches (*lots de virement*) of a period
    /// (`EcrituresComptablesPaiementSalairesLotsVirement`), by number. A batch without a number,
    /// or a number given twice, makes the answer unusable.
    pub async fn lots_virement(&self, dossier: &str, period: Period) -> Result<Vec<TransferBatch>, SilaeError> {
        let body = wire::LotsVirementRequest {
            numero_dossier: dossier.to_owned(),
            date_debut: period.first_day().to_string(),
            date_fin: period.last_day().to_string(),
        };
        let path = "v1/EcrituresComptables/EcrituresComptablesPaiementSalairesLotsVirement";
        let answer: wire::LotsVirementResponse = self.post(path, Some(dossier), &body).await?;
        transfer_batches(path, answer)
    }

    /// One transfer batch's accounting entries (`EcrituresComptablesPaiementSalaires` with
    /// `numeroLotVirement`), parsed and as received.
    pub async fn paiement_salaires(
        &self,
        dossier: &str,
        period: Period,
        batch: i32,
    ) -> Result<(EcrituresComptablesAvecRuptures, Vec<u8>), SilaeError> {
        let body = wire::PaiementSalairesRequest {
            numero_dossier: dossier.to_owned(),
            periode_debut: format!("{}T00:00:00", period.first_day()),
            periode_fin: format!("{}T00:00:00", period.last_day()),
            numero_lot_virement: Some(batch),
        };
        let path = "v1/EcrituresComptables/EcrituresComptablesPaiementSalaires";
        let (_, bytes) = self.call(Method::POST, path, None, Some(dossier), Some(&body), OnTimeout::Retry).await?;
        Ok((parse(path, &bytes)?, bytes))
    }

    /// The advances' (*acomptes*) accounting entries of a period
    /// (`EcrituresComptablesPaiementAcomptes`), parsed and as received.
    pub async fn paiement_acomptes(
        &self,
        dossier: &str,
        period: Period,
    ) -> Result<(EcrituresComptablesAvecRuptures, Vec<u8>), SilaeError> {
        let body = wire::DossierPeriodeRangeRequest {
            numero_dossier: dossier.to_owned(),
            periode_debut: format!("{}T00:00:00", period.first_day()),
            periode_fin: format!("{}T00:00:00", period.last_day()),
        };
        let path = "v1/EcrituresComptables/EcrituresComptablesPaiementAcomptes";
        let (_, bytes) = self.call(Method::POST, path, None, Some(dossier), Some(&body), OnTimeout::Retry).await?;
        Ok((parse(path, &bytes)?, bytes))
    }

    /// The payroll period in progress in Silae; the periods before it are closed.
    pub async fn periode_en_cours(&self, dossier: &str) -> Result<Period, SilaeError> {
        let body = DossierRequest { numero_dossier: dossier.to_owned() };
        let answer: DossierRecupererPeriodeEnCoursResponse =
            self.post("v1/InfosTechniquesDossiers/DossierRecupererPeriodeEnCours", Some(dossier), &body).await?;
        let text =
            answer.periode_en_cours.ok_or_else(|| SilaeError::BadResponse("`periodeEnCours` is missing".into()))?;
        wire::date_part(&text)
            .map(Period::of_date)
            .ok_or_else(|| SilaeError::BadResponse(format!("`periodeEnCours` is not a date: {text:?}")))
    }

    /// The dossier's establishments (`ListeEtablissementsDossierPaie`): their SIRET is the
    /// stable identity of a rupture whose label is an establishment's name.
    pub async fn etablissements(&self, dossier: &str) -> Result<Vec<wire::InformationsEtablissement>, SilaeError> {
        let body = DossierRequest { numero_dossier: dossier.to_owned() };
        let answer: wire::ListeEtablissementsDossierPaieResponse =
            self.post("v1/FicheSociete/ListeEtablissementsDossierPaie", Some(dossier), &body).await?;
        Ok(answer.informations_etablissements.unwrap_or_default())
    }

    /// The client secrets' expiry as the last successful answer announced it.
    pub fn key_expiry(&self) -> KeyExpiry {
        self.key_expiry.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The dossiers these credentials can read.
    pub async fn liste_dossiers(&self) -> Result<Vec<ProprietesDossier>, SilaeError> {
        let answer: ListeDossiersResponse =
            self.post("v1/InfosTechniquesDossiers/ListeDossiers", None, &ListeDossiersRequest::default()).await?;
        Ok(answer.liste_dossiers.unwrap_or_default())
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        dossier: Option<&str>,
        body: &B,
    ) -> Result<T, SilaeError> {
        let (_, bytes) = self.call(Method::POST, path, None, dossier, Some(body), OnTimeout::Retry).await?;
        parse(path, &bytes)
    }

    /// One API call, retried per the config (`crate::retry`): the status and the body of the
    /// successful answer.
    async fn call<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        query: Option<&[(&str, &str)]>,
        dossier: Option<&str>,
        body: Option<&B>,
        on_timeout: OnTimeout,
    ) -> Result<(StatusCode, Vec<u8>), GaveUp<CallError>> {
        let url = format!("{}/{path}", self.config.api_url.as_str().trim_end_matches('/'));
        let refreshed = std::sync::atomic::AtomicBool::new(false);
        let transport = |e: &reqwest::Error| {
            let why = describe_transport(e, &url);
            if e.is_timeout() && on_timeout == OnTimeout::Stop {
                Step::Fail(CallError::TimedOut(why))
            } else {
                Step::Retry { error: CallError::Transient(why), after: None }
            }
        };
        retry::run(
            &self.policy(),
            |_| async {
                let pause = self
                    .paused_until
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .and_then(|t| t.checked_duration_since(Instant::now()));
                if let Some(wait) = pause {
                    tokio::time::sleep(wait).await;
                }
                let token = match self.token().await {
                    Ok(t) => t,
                    Err(e) => return Step::Fail(CallError::Silae(e)),
                };
                let mut request = self
                    .http
                    .request(method.clone(), &url)
                    .bearer_auth(token.expose_secret())
                    .header("Ocp-Apim-Subscription-Key", self.credentials.subscription_key.expose_secret());
                if let Some(q) = query {
                    request = request.query(q);
                }
                if let Some(b) = body {
                    request = request.json(b);
                }
                if let Some(d) = dossier {
                    request = request.header("dossiers", d);
                }
                self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let step = match request.send().await {
                    Err(e) => transport(&e),
                    Ok(response) => {
                        let status = response.status();
                        let retry_after = parse_retry_after(response.headers());
                        if status.is_success() {
                            *self.key_expiry.lock().unwrap_or_else(|e| e.into_inner()) =
                                KeyExpiry::read(response.headers());
                        }
                        match read_capped(response, MAX_ANSWER).await {
                            Err(BodyError::Transport(e)) => transport(&e),
                            Err(BodyError::TooLarge(n)) => Step::Fail(CallError::Silae(too_large(path, n, MAX_ANSWER))),
                            Ok(bytes) => self.judge(status, retry_after, bytes, path, &refreshed).await,
                        }
                    }
                };
                if !matches!(step, Step::Done(_)) {
                    self.errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                step
            },
            |why, attempt, delay| {
                tracing::warn!(
                    path,
                    attempt,
                    delay_ms = delay.as_millis() as u64,
                    "Silae call failed, retrying: {}",
                    why.why()
                )
            },
        )
        .await
    }

    /// The retry policy of one call, from the config.
    fn policy(&self) -> Policy {
        Policy {
            base: Duration::from_millis(self.config.retry_base_ms),
            max_delay: MAX_BACKOFF,
            max_attempts: self.config.max_retries + 1,
            deadline: None,
            max_retry_after: MAX_RETRY_AFTER,
        }
    }

    /// Decides what an HTTP answer means.
    async fn judge(
        &self,
        status: StatusCode,
        retry_after: Option<Duration>,
        bytes: Vec<u8>,
        path: &str,
        refreshed: &std::sync::atomic::AtomicBool,
    ) -> Step<(StatusCode, Vec<u8>), CallError> {
        if status.is_success() {
            return Step::Done((status, bytes));
        }
        let errors: Option<ApiErrors> = serde_json::from_slice(&bytes).ok();
        let detail = describe_error_body(status, errors.as_ref(), &bytes);
        if errors.as_ref().and_then(|e| e.recoverable) == Some(false) {
            return Step::Fail(CallError::Silae(SilaeError::Blocked(detail)));
        }
        match status {
            StatusCode::TOO_MANY_REQUESTS => {
                // Silae's limit is shared by every dossier this process works on.
                let wait = retry_after.unwrap_or_default();
                if wait <= MAX_RETRY_AFTER {
                    *self.paused_until.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now().checked_add(wait);
                }
                Step::Retry { error: CallError::Transient(format!("{path}: {detail}")), after: Some(wait) }
            }
            s if s.is_server_error() => {
                Step::Retry { error: CallError::Transient(format!("{path}: {detail}")), after: retry_after }
            }
            StatusCode::UNAUTHORIZED if !refreshed.swap(true, std::sync::atomic::Ordering::Relaxed) => {
                // The token may have expired early or been revoked: one fresh token, once.
                tracing::info!(path, "{detail}; renewing the token");
                *self.token.lock().await = None;
                Step::Again
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Step::Fail(CallError::Silae(SilaeError::Auth(format!("{path}: {detail}"))))
            }
            _ => Step::Fail(CallError::Silae(SilaeError::BadResponse(format!("{path}: {detail}")))),
        }
    }

    /// A valid access token, from the cache or a new one.
    async fn token(&self) -> Result<SecretString, SilaeError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| t.valid_until > Instant::now()) {
            return Ok(t.value.clone());
        }
        let fresh = self.fetch_token().await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    async fn fetch_token(&self) -> Result<CachedToken, SilaeError> {
        #[derive(serde::Deserialize)]
        struct TokenError {
            error: Option<String>,
            error_description: Option<String>,
        }
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.credentials.client_id.expose_secret()),
            ("client_secret", self.credentials.client_secret.expose_secret()),
            ("scope", self.config.scope.as_str()),
        ];
        let url = self.config.token_url.as_str();
        let fetched = retry::run(
            &self.policy(),
            |_| async {
                let started = Instant::now();
                let r = match self.http.post(url).form(&form).send().await {
                    Ok(r) => r,
                    Err(e) => return Step::Retry { error: describe_transport(&e, url), after: None },
                };
                let status = r.status();
                if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                    let why = format!("the token endpoint answered HTTP {}", status.as_u16());
                    return Step::Retry { error: why, after: parse_retry_after(r.headers()) };
                }
                let bytes = match read_capped(r, MAX_TOKEN_ANSWER).await {
                    Ok(b) => b,
                    Err(BodyError::TooLarge(n)) => {
                        return Step::Done(Err(too_large("the token endpoint", n, MAX_TOKEN_ANSWER)))
                    }
                    Err(BodyError::Transport(e)) if status.is_success() => {
                        return Step::Done(Err(SilaeError::Unavailable(describe_transport(&e, url))))
                    }
                    Err(BodyError::Transport(_)) => Vec::new(),
                };
                if !status.is_success() {
                    let detail = match serde_json::from_slice::<TokenError>(&bytes) {
                        Ok(TokenError { error: Some(e), error_description: d }) => {
                            format!("{e}{}", d.map(|d| format!(" ({})", first_line(&d))).unwrap_or_default())
                        }
                        _ => "no detail".into(),
                    };
                    let why = format!("the token endpoint answered HTTP {}: {detail}", status.as_u16());
                    return Step::Done(Err(SilaeError::Auth(why)));
                }
                Step::Done(token_from(&bytes, started))
            },
            |why, attempt, delay| {
                tracing::warn!(
                    attempt,
                    delay_ms = delay.as_millis() as u64,
                    "Silae token request failed, retrying: {why}"
                )
            },
        )
        .await;
        match fetched {
            Ok(token) => token,
            Err(GaveUp::Exhausted { error, attempts }) => {
                Err(SilaeError::Unavailable(format!("{error} (after {attempts} attempts)")))
            }
            Err(gave_up) => Err(SilaeError::Unavailable(gave_up.into_error())),
        }
    }
}

/// A transfer batch of a period: its number and, when Silae gives it, its date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TransferBatch {
    pub number: i32,
    pub date: Option<jiff::civil::Date>,
}

/// The batches of an answer, by number; a batch without a number (or a negative one), or a
/// number listed twice, is a bad answer (which batch to import would be a guess).
fn transfer_batches(path: &str, answer: wire::LotsVirementResponse) -> Result<Vec<TransferBatch>, SilaeError> {
    let mut out: Vec<TransferBatch> = Vec::new();
    for (i, lot) in answer.liste_lots_virement.unwrap_or_default().into_iter().enumerate() {
        let number = lot.numero_lot_virement.filter(|n| *n >= 0).ok_or_else(|| {
            SilaeError::BadResponse(format!("{path}: the batch at position {} has no numeroLotVirement", i + 1))
        })?;
        if out.iter().any(|b| b.number == number) {
            return Err(SilaeError::BadResponse(format!("{path}: the batch {number} is listed twice")));
        }
        out.push(TransferBatch { number, date: lot.date.as_deref().and_then(wire::date_part) });
    }
    out.sort();
    Ok(out)
}

/// The token in a successful answer of the token endpoint, valid from `started`.
fn token_from(bytes: &[u8], started: Instant) -> Result<CachedToken, SilaeError> {
    #[derive(serde::Deserialize)]
    struct TokenAnswer {
        access_token: Option<String>,
        expires_in: Option<serde_json::Value>,
    }
    let answer: TokenAnswer = serde_json::from_slice(bytes)
        .map_err(|e| SilaeError::BadResponse(format!("the token endpoint's answer is not valid JSON: {e}")))?;
    let value = answer
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| SilaeError::BadResponse("the token endpoint gave no access_token".into()))?;
    let secs = match answer.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .unwrap_or(300);
    // Clamped: a huge `expires_in` keeps the token a day, never overflows.
    let secs = secs.min(MAX_TOKEN_LIFETIME.as_secs());
    let lifetime = Duration::from_secs(secs).saturating_sub(TOKEN_MARGIN).max(Duration::from_secs(secs / 2));
    let valid_until = started.checked_add(lifetime).unwrap_or(started);
    Ok(CachedToken { value: SecretString::from(value), valid_until })
}

/// Where an asynchronous task stands.
#[derive(Debug)]
enum TaskState<'a> {
    Ready(&'a serde_json::value::RawValue),
    /// Still running: what to log.
    Running(String),
    /// The task failed: Silae's message.
    Failed(String),
}

/// Reads a `StatutEcrituresComptables4Asynchrone` answer (pure). The spec gives `statut` as a
/// bare string: an answer with `messageErreur`, or a `statut` saying an error, a failure or a
/// cancellation, is a failed task; one with `ecrituresComptables` and HTTP 200 is ready;
/// anything else (HTTP 202 first) is taken as still running (docs/silae.md).
fn task_state(http: StatusCode, answer: &wire::StatutEcrituresComptables4AsynchroneResponse) -> TaskState<'_> {
    let statut = answer.statut.as_deref().map(str::trim).unwrap_or_default();
    let lower = statut.to_lowercase();
    let failed_word =
        ["erreur", "echec", "échec", "error", "fail", "annul", "cancel"].iter().any(|w| lower.contains(w));
    if let Some(m) = answer.message_erreur.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        return TaskState::Failed(format!("{m} (status {statut:?})").chars().take(500).collect());
    }
    if failed_word {
        return TaskState::Failed(format!("status {statut:?}, no message"));
    }
    match &answer.ecritures_comptables {
        Some(raw) if http != StatusCode::ACCEPTED && raw.get() != "null" => TaskState::Ready(raw),
        _ => TaskState::Running(format!(
            "the journal is not ready yet (status {statut:?}{})",
            answer.progression.map(|p| format!(", {p:.0} %")).unwrap_or_default()
        )),
    }
}

fn parse<T: DeserializeOwned>(path: &str, bytes: &[u8]) -> Result<T, SilaeError> {
    serde_json::from_slice(bytes)
        .map_err(|e| SilaeError::BadResponse(format!("{path}: invalid JSON ({e}); {} bytes received", bytes.len())))
}

pub(crate) fn parse_retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn describe_transport(e: &reqwest::Error, url: &str) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "the answer was cut"
    } else {
        "request failed"
    };
    // reqwest's errors carry the URL but never headers or bodies: no secret in them.
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    format!("{url}: {what}{}", if detail.is_empty() { String::new() } else { format!(" ({detail})") })
}

fn describe_error_body(status: StatusCode, errors: Option<&ApiErrors>, bytes: &[u8]) -> String {
    let summary = match errors {
        Some(e) if !e.errors.is_empty() => e.summary(),
        _ => {
            // API Management's own answers: {"statusCode": 401, "message": "..."}.
            let v: Option<serde_json::Value> = serde_json::from_slice(bytes).ok();
            v.and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
                .unwrap_or_else(|| first_line(&String::from_utf8_lossy(&bytes[..bytes.len().min(300)])))
        }
    };
    format!("HTTP {}: {summary}", status.as_u16())
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lots(json: &str) -> Result<Vec<TransferBatch>, SilaeError> {
        transfer_batches("lots", serde_json::from_str(json).unwrap())
    }

    #[test]
    fn transfer_batches_are_numbered_once_each() {
        let got = lots(
            r#"{"listeLotsVirement": [{"numeroLotVirement": 2, "date": "2026-11-04T00:00:00"},
                                                 {"numeroLotVirement": 1}]}"#,
        )
        .unwrap();
        assert_eq!(got.iter().map(|b| b.number).collect::<Vec<_>>(), [1, 2]);
        assert_eq!((got[0].date, got[1].date.map(|d| d.to_string())), (None, Some("2026-11-04".into())));
        assert!(lots("{}").unwrap().is_empty());
        let no_number = lots(r#"{"listeLotsVirement": [{"numeroLotVirement": 1}, {"date": "2026-10-30"}]}"#);
        assert!(no_number.unwrap_err().to_string().contains("position 2 has no numeroLotVirement"));
        let twice = lots(r#"{"listeLotsVirement": [{"numeroLotVirement": 1}, {"numeroLotVirement": 1}]}"#);
        assert!(twice.unwrap_err().to_string().contains("the batch 1 is listed twice"));
    }

    fn state(http: u16, answer: &str) -> String {
        let answer: wire::StatutEcrituresComptables4AsynchroneResponse = serde_json::from_str(answer).unwrap();
        match task_state(StatusCode::from_u16(http).unwrap(), &answer) {
            TaskState::Ready(raw) => format!("ready {}", raw.get()),
            TaskState::Running(what) => format!("running: {what}"),
            TaskState::Failed(why) => format!("failed: {why}"),
        }
    }

    #[test]
    fn reads_an_asynchronous_task_s_status() {
        let cases = [
            (
                202,
                r#"{"statut": "EnCours", "progression": 40.0}"#,
                r#"running: the journal is not ready yet (status "EnCours", 40 %)"#,
            ),
            (202, r#"{}"#, r#"running: the journal is not ready yet (status "")"#),
            // A 202 is running even if it carries a journal; a 200 without one is too.
            (
                202,
                r#"{"ecrituresComptables": {"ruptures": []}}"#,
                r#"running: the journal is not ready yet (status "")"#,
            ),
            (
                200,
                r#"{"statut": "EnAttente", "ecrituresComptables": null}"#,
                r#"running: the journal is not ready yet (status "EnAttente")"#,
            ),
            (200, r#"{"statut": "Termine", "ecrituresComptables": {"ruptures": []}}"#, r#"ready {"ruptures": []}"#),
            (200, r#"{"ecrituresComptables": {"ruptures": []}}"#, r#"ready {"ruptures": []}"#),
            (
                200,
                r#"{"statut": "Erreur", "messageErreur": "Calcul interrompu"}"#,
                r#"failed: Calcul interrompu (status "Erreur")"#,
            ),
            (200, r#"{"statut": "Echec"}"#, r#"failed: status "Echec", no message"#),
            (
                200,
                r#"{"statut": "Annulee", "ecrituresComptables": {"ruptures": []}}"#,
                r#"failed: status "Annulee", no message"#,
            ),
        ];
        for (http, answer, expected) in cases {
            assert_eq!(state(http, answer), expected, "{http} {answer}");
        }
    }
}
