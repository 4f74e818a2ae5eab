//! The Silae client: OAuth2 client credentials, the payroll journal of a period, the period in
//! progress and the readable dossiers. Retries 429 (honouring `Retry-After`), 5xx and timeouts
//! with bounded exponential backoff and jitter; everything else is a clear typed error.

pub mod wire;

use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::config::SilaeConfig;
use crate::period::Period;
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

/// What one attempt gave: done, or retry (after at least this delay), or stop.
enum Attempt<T> {
    Done(T),
    Retry { why: String, after: Option<Duration> },
    Fail(SilaeError),
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

    /// The payroll journal of one dossier and period (`EcrituresComptables4`), with every
    /// analytic repartition.
    pub async fn ecritures(
        &self,
        dossier: &str,
        period: Period,
    ) -> Result<(EcrituresComptablesAvecRuptures, Vec<u8>), SilaeError> {
        let body = EcrituresComptables4Request {
            numero_dossier: dossier.to_owned(),
            periode_debut: format!("{}T00:00:00", period.first_day()),
            periode_fin: format!("{}T00:00:00", period.last_day()),
            avec_toutes_les_repartitions_analytiques: true,
        };
        let path = "v1/EcrituresComptables/EcrituresComptables4";
        let bytes = self.post_raw(path, Some(dossier), &body).await?;
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
        let bytes = self.post_raw(path, dossier, body).await?;
        parse(path, &bytes)
    }

    async fn post_raw<B: Serialize>(&self, path: &str, dossier: Option<&str>, body: &B) -> Result<Vec<u8>, SilaeError> {
        let url = format!("{}/{path}", self.config.api_url.trim_end_matches('/'));
        let mut refreshed = false;
        let mut attempt = 0u32;
        loop {
            let pause = self
                .paused_until
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .and_then(|t| t.checked_duration_since(Instant::now()));
            if let Some(wait) = pause {
                tokio::time::sleep(wait).await;
            }
            let token = self.token().await?;
            let mut request = self
                .http
                .post(&url)
                .bearer_auth(token.expose_secret())
                .header("Ocp-Apim-Subscription-Key", self.credentials.subscription_key.expose_secret())
                .json(body);
            if let Some(d) = dossier {
                request = request.header("dossiers", d);
            }
            self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let outcome = match request.send().await {
                Err(e) => Attempt::Retry { why: describe_transport(&e, &url), after: None },
                Ok(response) => {
                    let status = response.status();
                    let retry_after = parse_retry_after(response.headers());
                    if status.is_success() {
                        *self.key_expiry.lock().unwrap_or_else(|e| e.into_inner()) =
                            KeyExpiry::read(response.headers());
                    }
                    match read_capped(response, MAX_ANSWER).await {
                        Err(BodyError::Transport(e)) => {
                            Attempt::Retry { why: describe_transport(&e, &url), after: None }
                        }
                        Err(BodyError::TooLarge(n)) => Attempt::Fail(too_large(path, n, MAX_ANSWER)),
                        Ok(bytes) => self.judge(status, retry_after, &bytes, path, &mut refreshed).await,
                    }
                }
            };
            if !matches!(outcome, Attempt::Done(_)) {
                self.errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            match outcome {
                Attempt::Done(bytes) => return Ok(bytes),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry { why, after } => {
                    if after.is_some_and(|d| d > MAX_RETRY_AFTER) {
                        return Err(SilaeError::Unavailable(format!(
                            "{why}; Silae asks to wait {} s, longer than PayFlow waits: the period will be tried again on the next run",
                            after.unwrap_or_default().as_secs()
                        )));
                    }
                    if attempt >= self.config.max_retries {
                        return Err(SilaeError::Unavailable(format!("{why} (after {} attempts)", attempt + 1)));
                    }
                    let delay = self.backoff(attempt).max(after.unwrap_or_default());
                    tracing::warn!(
                        path,
                        attempt = attempt + 1,
                        delay_ms = delay.as_millis() as u64,
                        "Silae call failed, retrying: {why}"
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }

    /// Decides what an HTTP answer means.
    async fn judge(
        &self,
        status: StatusCode,
        retry_after: Option<Duration>,
        bytes: &[u8],
        path: &str,
        refreshed: &mut bool,
    ) -> Attempt<Vec<u8>> {
        if status.is_success() {
            return Attempt::Done(bytes.to_vec());
        }
        let errors: Option<ApiErrors> = serde_json::from_slice(bytes).ok();
        let detail = describe_error_body(status, errors.as_ref(), bytes);
        if errors.as_ref().and_then(|e| e.recoverable) == Some(false) {
            return Attempt::Fail(SilaeError::Blocked(detail));
        }
        match status {
            StatusCode::TOO_MANY_REQUESTS => {
                Attempt::Retry { why: format!("{path}: {detail}"), after: retry_after.or(Some(Duration::ZERO)) }
            }
            s if s.is_server_error() => Attempt::Retry { why: format!("{path}: {detail}"), after: retry_after },
            StatusCode::UNAUTHORIZED if !*refreshed => {
                // The token may have expired early or been revoked: one fresh token, once.
                *refreshed = true;
                *self.token.lock().await = None;
                Attempt::Retry { why: format!("{path}: {detail}; renewing the token"), after: Some(Duration::ZERO) }
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Attempt::Fail(SilaeError::Auth(format!("{path}: {detail}")))
            }
            _ => Attempt::Fail(SilaeError::BadResponse(format!("{path}: {detail}"))),
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = Duration::from_millis(self.config.retry_base_ms);
        let exp = base.saturating_mul(2u32.saturating_pow(attempt)).min(MAX_BACKOFF);
        // Full jitter over the upper half: between exp/2 and exp.
        let half = exp / 2;
        half + Duration::from_millis(rand::thread_rng().gen_range(0..=half.as_millis() as u64))
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
        struct TokenAnswer {
            access_token: Option<String>,
            expires_in: Option<serde_json::Value>,
        }
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
        let mut attempt = 0;
        loop {
            let result = self.http.post(&self.config.token_url).form(&form).send().await;
            let why = match result {
                Ok(r) if r.status().is_success() => {
                    let started = Instant::now();
                    let bytes = match read_capped(r, MAX_TOKEN_ANSWER).await {
                        Ok(b) => b,
                        Err(BodyError::TooLarge(n)) => {
                            return Err(too_large("the token endpoint", n, MAX_TOKEN_ANSWER))
                        }
                        Err(BodyError::Transport(e)) => {
                            return Err(SilaeError::Unavailable(describe_transport(&e, &self.config.token_url)))
                        }
                    };
                    let answer: TokenAnswer = serde_json::from_slice(&bytes).map_err(|e| {
                        SilaeError::BadResponse(format!("the token endpoint's answer is not valid JSON: {e}"))
                    })?;
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
                    let lifetime =
                        Duration::from_secs(secs).saturating_sub(TOKEN_MARGIN).max(Duration::from_secs(secs / 2));
                    let valid_until = started.checked_add(lifetime).unwrap_or(started);
                    return Ok(CachedToken { value: SecretString::from(value), valid_until });
                }
                Ok(r) if r.status().is_server_error() || r.status() == StatusCode::TOO_MANY_REQUESTS => {
                    format!("the token endpoint answered HTTP {}", r.status().as_u16())
                }
                Ok(r) => {
                    let status = r.status();
                    let body = read_capped(r, MAX_TOKEN_ANSWER).await.unwrap_or_default();
                    let detail = match serde_json::from_slice::<TokenError>(&body) {
                        Ok(TokenError { error: Some(e), error_description: d }) => {
                            format!("{e}{}", d.map(|d| format!(" ({})", first_line(&d))).unwrap_or_default())
                        }
                        _ => "no detail".into(),
                    };
                    return Err(SilaeError::Auth(format!(
                        "the token endpoint answered HTTP {}: {detail}",
                        status.as_u16()
                    )));
                }
                Err(e) => describe_transport(&e, &self.config.token_url),
            };
            if attempt >= self.config.max_retries {
                return Err(SilaeError::Unavailable(format!("{why} (after {} attempts)", attempt + 1)));
            }
            tokio::time::sleep(self.backoff(attempt)).await;
            attempt += 1;
        }
    }
}

fn parse<T: DeserializeOwned>(path: &str, bytes: &[u8]) -> Result<T, SilaeError> {
    serde_json::from_slice(bytes)
        .map_err(|e| SilaeError::BadResponse(format!("{path}: invalid JSON ({e}); {} bytes received", bytes.len())))
}

fn parse_retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
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
