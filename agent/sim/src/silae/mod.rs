//! The Silae simulator: the Azure AD style OAuth2 token endpoint and the payroll API operations
//! PayFlow uses, shaped as in Silae's OpenAPI spec (`EcrituresComptables4` and its asynchronous
//! pair `EcrituresComptables4Asynchrone` / `StatutEcrituresComptables4Asynchrone`,
//! `DossierRecupererPeriodeEnCours`, `ListeDossiers`, `ListeEtablissementsDossierPaie`) behind an API Management style gate
//! (subscription key, bearer token, `dossiers` header). It serves the payload files of a samples
//! folder (see [`SilaeSimConfig::samples_dir`]) and has fault switches for tests and drills.
//!
//! Over HTTP, other processes steer it with `POST /_sim/faults` and read it with
//! `GET /_sim/requests` and `GET /_sim/counters` (see the `http` module).

mod http;
mod samples;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use serde::Serialize;
use serde_json::Value;

use samples::{Month, Samples};

#[derive(Debug, Clone)]
pub struct SilaeSimConfig {
    /// A folder of `dossier-<NUMBER>-<YYYY-MM>[-anything].json` files, each an
    /// `EcrituresComptablesAvecRuptures`, and optionally a `dossiers.json` (a
    /// `ListeDossiersResponse`) naming the dossiers.
    pub samples_dir: PathBuf,
    pub client_id: String,
    pub client_secret: String,
    pub subscription_key: String,
    /// The lifetime of the tokens issued (`expires_in`).
    pub token_ttl_secs: u64,
}

impl SilaeSimConfig {
    /// The demo credentials: `demo-client-id`, `demo-client-secret`, `demo-subscription-key`,
    /// tokens valid for an hour.
    pub fn demo(samples_dir: impl Into<PathBuf>) -> Self {
        SilaeSimConfig {
            samples_dir: samples_dir.into(),
            client_id: "demo-client-id".into(),
            client_secret: "demo-client-secret".into(),
            subscription_key: "demo-subscription-key".into(),
            token_ttl_secs: 3600,
        }
    }
}

/// A one-shot fault. All but `ExpireTokens` and `TokenError` wait in one FIFO queue and each
/// spoils the next API request that gets past the subscription key and token checks (a request
/// refused there consumes none). `ExpireTokens` acts at once; `TokenError` spoils the next token
/// request, whatever it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 429 with `Retry-After` and API Management's rate-limit body.
    TooManyRequests { retry_after_secs: u64 },
    /// That status (meant for 500, 502, 503) with an `ApiErrors` body, `source: "Server"`.
    Status(u16),
    /// Waits, then answers as usual.
    Slow(Duration),
    /// The usual status with the first half of the usual body (Content-Length says so).
    Truncated,
    /// HTTP 200 with `{"numeroDossier": ` and nothing more.
    InvalidJson,
    /// HTTP 401 `ApiErrors` with `recoverable: false`: the API configuration is blocked.
    Unrecoverable,
    /// Every token issued so far stops being valid now.
    ExpireTokens,
    /// The next token request gets HTTP 401 `invalid_client`.
    TokenError,
}

/// A request the simulator received, token requests included (their `client_secret` redacted).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// An `Authorization` header was sent.
    pub authorization: bool,
    /// An `Ocp-Apim-Subscription-Key` header was sent.
    pub subscription_key: bool,
    /// The `dossiers` header, as sent.
    pub dossiers: Option<String>,
    /// The body: its JSON, the token request's form fields as an object, or `null`.
    pub body: Value,
    /// The HTTP status answered.
    pub status: u16,
}

/// At most this many requests are kept in the log (the oldest go first).
const MAX_RECORDED: usize = 10_000;

/// How a dossier's asynchronous tasks go: `polls` status requests answered 202 (running)
/// before the end, then the journal, or `fail`'s message.
#[derive(Debug, Clone, Default)]
struct AsyncPlan {
    polls: u32,
    fail: Option<String>,
}

/// An asynchronous journal being generated.
#[derive(Debug, Clone)]
struct Task {
    numero: String,
    month: Month,
    analytic: bool,
    polls_left: u32,
    fail: Option<String>,
    /// Status requests received.
    polls: u32,
}

struct Shared {
    cfg: SilaeSimConfig,
    samples: Samples,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    token_ttl_secs: u64,
    tokens: HashMap<String, Instant>,
    faults: VecDeque<Fault>,
    token_faults: usize,
    periods: HashMap<String, Month>,
    payloads: HashMap<(String, Month), Bytes>,
    etablissements: HashMap<String, Bytes>,
    /// Per dossier: how long its synchronous `EcrituresComptables4` takes.
    journal_delays: HashMap<String, Duration>,
    /// Per dossier: how its asynchronous tasks go.
    async_plans: HashMap<String, AsyncPlan>,
    /// The asynchronous tasks started, by task id.
    tasks: HashMap<String, Task>,
    /// `X-PrimaryKeyExpirationWarning` / `X-SecondaryKeyExpirationWarning` of the API's answers.
    key_expiration_warnings: (Option<String>, Option<String>),
    requests: VecDeque<RecordedRequest>,
    token_requests: usize,
    api_requests: usize,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves nothing half-done worth refusing to serve.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn push_fault(&self, fault: Fault) {
        let mut state = self.state();
        match fault {
            Fault::ExpireTokens => state.tokens.clear(),
            Fault::TokenError => state.token_faults += 1,
            other => state.faults.push_back(other),
        }
    }

    fn record(&self, request: RecordedRequest) {
        tracing::info!(method = %request.method, path = %request.path, status = request.status, "silae");
        let mut state = self.state();
        if state.requests.len() == MAX_RECORDED {
            state.requests.pop_front();
        }
        state.requests.push_back(request);
    }

    /// The period in progress: as set, else the month after the dossier's latest sample, else
    /// the month after the folder's latest sample, else the current month.
    fn periode_en_cours(&self, numero: &str) -> Month {
        if let Some(m) = self.state().periods.get(numero) {
            return *m;
        }
        match self.samples.latest_month(Some(numero)).or_else(|| self.samples.latest_month(None)) {
            Some(m) => m.next(),
            None => Month::current(),
        }
    }
}

struct Stopper(tokio::sync::watch::Sender<bool>);

impl Drop for Stopper {
    fn drop(&mut self) {
        let _ = self.0.send(true);
    }
}

/// A running simulator. Clones share it; it stops when the last clone is dropped or on
/// [`SilaeSim::shutdown`].
#[derive(Clone)]
pub struct SilaeSim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Arc<Stopper>,
}

impl SilaeSim {
    /// Starts on a free loopback port.
    pub async fn start(cfg: SilaeSimConfig) -> anyhow::Result<SilaeSim> {
        SilaeSim::start_on(cfg, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Reads the samples folder, then listens on `addr`.
    pub async fn start_on(cfg: SilaeSimConfig, addr: SocketAddr) -> anyhow::Result<SilaeSim> {
        let samples = Samples::scan(&cfg.samples_dir)?;
        let state = State { token_ttl_secs: cfg.token_ttl_secs, ..State::default() };
        let shared = Arc::new(Shared { cfg, samples, state: Mutex::new(state) });
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("the Silae simulator cannot listen on {addr}: {e}"))?;
        let addr = listener.local_addr()?;
        let app = http::router(shared.clone());
        let (tx, mut rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let stopped = async move {
                let _ = rx.wait_for(|stop| *stop).await;
            };
            if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stopped).await {
                tracing::error!("the Silae simulator stopped: {e}");
            }
        });
        Ok(SilaeSim { shared, addr, stop: Arc::new(Stopper(tx)) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The agent's `api_url`: `http://127.0.0.1:PORT/payroll`.
    pub fn api_url(&self) -> String {
        format!("http://{}/payroll", self.addr)
    }

    /// The agent's `token_url`: `http://127.0.0.1:PORT/oauth2/v2.0/token`.
    pub fn token_url(&self) -> String {
        format!("http://{}/oauth2/v2.0/token", self.addr)
    }

    /// Queues a fault (see [`Fault`] for which request it spoils).
    pub fn push_fault(&self, f: Fault) {
        self.shared.push_fault(f);
    }

    /// Sets the period `DossierRecupererPeriodeEnCours` answers for a dossier (`YYYY-MM`).
    ///
    /// # Panics
    /// If `yyyy_mm` is not a `YYYY-MM` month.
    pub fn set_periode_en_cours(&self, dossier: &str, yyyy_mm: &str) {
        let month = Month::parse(yyyy_mm).unwrap_or_else(|| panic!("set_periode_en_cours: {yyyy_mm:?} is not YYYY-MM"));
        self.shared.state().periods.insert(dossier.to_owned(), month);
    }

    /// Serves `body` (exactly) as the dossier's `EcrituresComptables4` answer for that month,
    /// instead of the samples folder's.
    ///
    /// # Panics
    /// If `yyyy_mm` is not a `YYYY-MM` month.
    pub fn set_payload(&self, dossier: &str, yyyy_mm: &str, body: Vec<u8>) {
        let month = Month::parse(yyyy_mm).unwrap_or_else(|| panic!("set_payload: {yyyy_mm:?} is not YYYY-MM"));
        self.shared.state().payloads.insert((dossier.to_owned(), month), Bytes::from(body));
    }

    /// Serves `body` (exactly) as the dossier's `ListeEtablissementsDossierPaie` answer
    /// (else: no establishments).
    pub fn set_etablissements(&self, dossier: &str, body: Vec<u8>) {
        self.shared.state().etablissements.insert(dossier.to_owned(), Bytes::from(body));
    }

    /// From now on, the dossier's synchronous `EcrituresComptables4` takes `delay` before it
    /// answers (a dossier too big for one request; the asynchronous pair is not slowed).
    pub fn set_journal_delay(&self, dossier: &str, delay: Duration) {
        self.shared.state().journal_delays.insert(dossier.to_owned(), delay);
    }

    /// From now on, the dossier's asynchronous tasks answer `polls` status requests with 202
    /// (`statut: "EnCours"`) before their end: the journal, or when `fail` is given a 200 with
    /// `statut: "Erreur"` and that `messageErreur`. (Default: ready at the first poll.)
    pub fn set_async_task(&self, dossier: &str, polls: u32, fail: Option<&str>) {
        let plan = AsyncPlan { polls, fail: fail.map(str::to_owned) };
        self.shared.state().async_plans.insert(dossier.to_owned(), plan);
    }

    /// The asynchronous tasks started so far: (dossier, status requests received each).
    pub fn tasks(&self) -> Vec<(String, u32)> {
        let mut tasks: Vec<(String, u32)> =
            self.shared.state().tasks.values().map(|t| (t.numero.clone(), t.polls)).collect();
        tasks.sort();
        tasks
    }

    /// From now on, the API's successful answers carry these expiry warnings (`None`: absent),
    /// as Silae's do during a client secret's last 31 days.
    pub fn set_key_expiration_warnings(&self, primary: Option<&str>, secondary: Option<&str>) {
        self.shared.state().key_expiration_warnings = (primary.map(str::to_owned), secondary.map(str::to_owned));
    }

    /// The lifetime of the tokens issued from now on (0: they are expired as soon as issued).
    pub fn set_token_ttl(&self, secs: u64) {
        self.shared.state().token_ttl_secs = secs;
    }

    /// The requests received so far (the latest [`MAX_RECORDED`] ones), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.iter().cloned().collect()
    }

    /// Requests to the token endpoint so far.
    pub fn token_requests(&self) -> usize {
        self.shared.state().token_requests
    }

    /// Requests under `/payroll` so far, refused ones included.
    pub fn api_requests(&self) -> usize {
        self.shared.state().api_requests
    }

    /// Stops listening; requests under way are answered first.
    pub fn shutdown(&self) {
        let _ = self.stop.0.send(true);
    }
}
