//! The Silae simulator: the OAuth2 token endpoint and the payroll API operations PayFlow uses,
//! shaped as in Silae's OpenAPI spec (`EcrituresComptables4`, `DossierRecupererPeriodeEnCours`,
//! `ListeDossiers`), serving payload files from a folder, with fault switches.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct SilaeSimConfig {
    pub samples_dir: PathBuf,
    pub client_id: String,
    pub client_secret: String,
    pub subscription_key: String,
    pub token_ttl_secs: u64,
}

impl SilaeSimConfig {
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

/// A fault applied to the next request (FIFO); `ExpireTokens` applies at once.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    TooManyRequests { retry_after_secs: u64 },
    Status(u16),
    Slow(Duration),
    Truncated,
    InvalidJson,
    Unrecoverable,
    ExpireTokens,
    TokenError,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub authorization: bool,
    pub subscription_key: bool,
    pub dossiers: Option<String>,
    pub body: Value,
    pub status: u16,
}

struct Inner {
    cfg: SilaeSimConfig,
    ttl: AtomicU64,
    tokens: Mutex<HashMap<String, Instant>>,
    api_faults: Mutex<VecDeque<Fault>>,
    token_faults: Mutex<VecDeque<Fault>>,
    periods: Mutex<HashMap<String, String>>,
    payloads: Mutex<HashMap<(String, String), Vec<u8>>>,
    files: SampleFiles,
    dossiers: Vec<Value>,
    requests: Mutex<Vec<RecordedRequest>>,
    token_requests: AtomicUsize,
    api_requests: AtomicUsize,
    counter: AtomicU64,
}

struct Stopper(tokio::sync::watch::Sender<bool>);

impl Drop for Stopper {
    fn drop(&mut self) {
        let _ = self.0.send(true);
    }
}

/// A running simulator; the server stops when the last clone is dropped or on `shutdown()`.
#[derive(Clone)]
pub struct SilaeSim {
    inner: Arc<Inner>,
    addr: SocketAddr,
    stop: Arc<Stopper>,
}

impl SilaeSim {
    pub async fn start(cfg: SilaeSimConfig) -> anyhow::Result<SilaeSim> {
        SilaeSim::start_on(cfg, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    pub async fn start_on(cfg: SilaeSimConfig, addr: SocketAddr) -> anyhow::Result<SilaeSim> {
        let (files, dossiers) = scan(&cfg.samples_dir)?;
        let inner = Arc::new(Inner {
            ttl: AtomicU64::new(cfg.token_ttl_secs),
            cfg,
            tokens: Mutex::default(),
            api_faults: Mutex::default(),
            token_faults: Mutex::default(),
            periods: Mutex::default(),
            payloads: Mutex::default(),
            files,
            dossiers,
            requests: Mutex::default(),
            token_requests: AtomicUsize::new(0),
            api_requests: AtomicUsize::new(0),
            counter: AtomicU64::new(1),
        });
        let app = Router::new()
            .route("/oauth2/v2.0/token", post(token))
            .route("/payroll/v1/{group}/{operation}", post(api))
            .route("/_sim/faults", post(control))
            .route("/_sim/requests", get(recorded))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (tx, mut rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.wait_for(|stop| *stop).await;
                })
                .await;
        });
        Ok(SilaeSim { inner, addr, stop: Arc::new(Stopper(tx)) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn api_url(&self) -> String {
        format!("http://{}/payroll", self.addr)
    }

    pub fn token_url(&self) -> String {
        format!("http://{}/oauth2/v2.0/token", self.addr)
    }

    pub fn push_fault(&self, f: Fault) {
        self.inner.push_fault(f);
    }

    pub fn set_periode_en_cours(&self, dossier: &str, yyyy_mm: &str) {
        self.inner.periods.lock().unwrap().insert(dossier.to_owned(), yyyy_mm.to_owned());
    }

    pub fn set_payload(&self, dossier: &str, yyyy_mm: &str, body: Vec<u8>) {
        self.inner.payloads.lock().unwrap().insert((dossier.to_owned(), yyyy_mm.to_owned()), body);
    }

    pub fn set_token_ttl(&self, secs: u64) {
        self.inner.ttl.store(secs, Ordering::Relaxed);
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.requests.lock().unwrap().clone()
    }

    pub fn token_requests(&self) -> usize {
        self.inner.token_requests.load(Ordering::Relaxed)
    }

    pub fn api_requests(&self) -> usize {
        self.inner.api_requests.load(Ordering::Relaxed)
    }

    pub fn shutdown(&self) {
        let _ = self.stop.0.send(true);
    }
}

impl Inner {
    fn push_fault(&self, f: Fault) {
        match f {
            Fault::ExpireTokens => self.tokens.lock().unwrap().clear(),
            Fault::TokenError => self.token_faults.lock().unwrap().push_back(f),
            other => self.api_faults.lock().unwrap().push_back(other),
        }
    }

    fn record(&self, path: &str, headers: &HeaderMap, body: &[u8], status: StatusCode) {
        let has = |h: &str| headers.get(h).is_some();
        self.requests.lock().unwrap().push(RecordedRequest {
            method: "POST".into(),
            path: path.to_owned(),
            authorization: has("authorization"),
            subscription_key: has("ocp-apim-subscription-key"),
            dossiers: headers.get("dossiers").and_then(|v| v.to_str().ok()).map(str::to_owned),
            body: serde_json::from_slice(body).unwrap_or(Value::Null),
            status: status.as_u16(),
        });
    }

    /// The period in progress: set by a test, or the month after the dossier's last sample.
    fn periode_en_cours(&self, dossier: &str) -> String {
        if let Some(p) = self.periods.lock().unwrap().get(dossier) {
            return p.clone();
        }
        let last = self.files.keys().filter(|(d, _)| d == dossier).map(|(_, p)| p.clone()).max();
        match last {
            Some(p) => next_month(&p),
            None => "2026-11".to_owned(),
        }
    }
}

/// Finds `dossier-<N>-<YYYY-MM>[-…].json` files and an optional `dossiers.json`.
type SampleFiles = BTreeMap<(String, String), PathBuf>;

fn scan(dir: &Path) -> anyhow::Result<(SampleFiles, Vec<Value>)> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let Some(rest) = name.strip_prefix("dossier-").and_then(|r| r.strip_suffix(".json")) else { continue };
        let mut parts = rest.splitn(2, '-');
        let number = parts.next().unwrap_or_default().to_owned();
        let tail = parts.next().unwrap_or_default();
        if tail.len() >= 7 && number.chars().all(|c| c.is_ascii_alphanumeric()) {
            files.insert((number, tail[..7].to_owned()), path);
        }
    }
    let dossiers = match std::fs::read(dir.join("dossiers.json")) {
        Ok(bytes) => {
            let v: Value = serde_json::from_slice(&bytes)?;
            v["listeDossiers"].as_array().cloned().unwrap_or_default()
        }
        Err(_) => {
            let numbers: std::collections::BTreeSet<&String> = files.keys().map(|(d, _)| d).collect();
            numbers
                .into_iter()
                .enumerate()
                .map(|(i, n)| {
                    json!({"numero": n, "raisonSociale": format!("Dossier {n}"), "siret": format!("{:014}", 12_345_678_900_010u64 + i as u64),
                           "groupe": "", "jourPaiementMaxSSOC": 15, "etatDossier": 1, "numeroInterne": n})
                })
                .collect()
        }
    };
    Ok((files, dossiers))
}

fn next_month(p: &str) -> String {
    let (y, m) = p.split_once('-').unwrap_or(("2026", "10"));
    let (y, m): (i32, u32) = (y.parse().unwrap_or(2026), m.parse().unwrap_or(10));
    if m == 12 {
        format!("{}-01", y + 1)
    } else {
        format!("{y}-{:02}", m + 1)
    }
}

fn last_day(p: &str) -> String {
    let (y, m) = p.split_once('-').unwrap_or(("2026", "10"));
    let (y, m): (i32, u32) = (y.parse().unwrap_or(2026), m.parse().unwrap_or(10));
    let days = match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    format!("{p}-{days:02}")
}

fn api_errors(status: StatusCode, code: &str, message: &str, source: &str, recoverable: bool) -> Response {
    (
        status,
        Json(json!({"errors": [{"code": code, "message": message}], "recoverable": recoverable, "source": source})),
    )
        .into_response()
}

async fn token(State(s): State<Arc<Inner>>, body: Bytes) -> Response {
    s.token_requests.fetch_add(1, Ordering::Relaxed);
    let form: HashMap<String, String> = url_decode(&body);
    if s.token_faults.lock().unwrap().pop_front().is_some() {
        return invalid_client();
    }
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(_) => {
            return (StatusCode::BAD_REQUEST, Json(json!({"error": "unsupported_grant_type", "error_description": "AADSTS70003: The app requested an unsupported grant type."}))).into_response()
        }
        None => {
            return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_request", "error_description": "AADSTS900144: The request body must contain the following parameter: 'grant_type'."}))).into_response()
        }
    }
    if form.get("scope").is_none_or(|v| v.is_empty()) {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_request", "error_description": "AADSTS900144: The request body must contain the following parameter: 'scope'."}))).into_response();
    }
    if form.get("client_id") != Some(&s.cfg.client_id) || form.get("client_secret") != Some(&s.cfg.client_secret) {
        return invalid_client();
    }
    let ttl = s.ttl.load(Ordering::Relaxed);
    let n = s.counter.fetch_add(1, Ordering::Relaxed);
    let token = format!("sim-token-{n}-{}", std::process::id());
    s.tokens.lock().unwrap().insert(token.clone(), Instant::now() + Duration::from_secs(ttl));
    Json(json!({"token_type": "Bearer", "expires_in": ttl, "ext_expires_in": ttl, "access_token": token}))
        .into_response()
}

fn invalid_client() -> Response {
    (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID."}))).into_response()
}

fn url_decode(body: &[u8]) -> HashMap<String, String> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (percent_decode(k), percent_decode(v)))
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn api(
    State(s): State<Arc<Inner>>,
    axum::extract::Path((group, operation)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.api_requests.fetch_add(1, Ordering::Relaxed);
    let path = format!("/payroll/v1/{group}/{operation}");
    let response = answer(&s, &operation, &headers, &body).await;
    s.record(&path, &headers, &body, response.status());
    response
}

async fn answer(s: &Inner, operation: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    // API Management checks the subscription key first, then the token.
    match headers.get("ocp-apim-subscription-key").and_then(|v| v.to_str().ok()) {
        None => return (StatusCode::UNAUTHORIZED, Json(json!({"statusCode": 401, "message": "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."}))).into_response(),
        Some(k) if k != s.cfg.subscription_key => return (StatusCode::UNAUTHORIZED, Json(json!({"statusCode": 401, "message": "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."}))).into_response(),
        Some(_) => {}
    }
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let valid = bearer.is_some_and(|t| s.tokens.lock().unwrap().get(t).is_some_and(|exp| *exp > Instant::now()));
    if !valid {
        return api_errors(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Le jeton d'accès est absent, invalide ou expiré.",
            "Proxy",
            true,
        );
    }
    let fault = s.api_faults.lock().unwrap().pop_front();
    let mut cut = false;
    let mut garbage = false;
    match fault {
        Some(Fault::TooManyRequests { retry_after_secs }) => {
            let mut r = (StatusCode::TOO_MANY_REQUESTS, Json(json!({"statusCode": 429, "message": format!("Rate limit is exceeded. Try again in {retry_after_secs} seconds.")}))).into_response();
            r.headers_mut().insert("retry-after", retry_after_secs.to_string().parse().unwrap());
            return r;
        }
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return api_errors(
                status,
                "InternalServerError",
                "Une erreur interne est survenue (simulée).",
                "Server",
                true,
            );
        }
        Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
        Some(Fault::Truncated) => cut = true,
        Some(Fault::InvalidJson) => garbage = true,
        Some(Fault::Unrecoverable) => {
            return api_errors(
                StatusCode::UNAUTHORIZED,
                "ConfigurationApiInvalide",
                "La configuration API utilisée est en erreur : les appels sont bloqués.",
                "Api",
                false,
            )
        }
        Some(Fault::ExpireTokens | Fault::TokenError) | None => {}
    }
    let request: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return api_errors(
                StatusCode::BAD_REQUEST,
                "ValidationError",
                "Le corps de la requête est invalide ou absent.",
                "Api",
                true,
            )
        }
    };
    let dossier_scoped = matches!(operation, "EcrituresComptables4" | "DossierRecupererPeriodeEnCours");
    let numero = request.get("numeroDossier").and_then(Value::as_str).map(str::to_owned);
    if dossier_scoped {
        let Some(numero) = &numero else {
            return api_errors(
                StatusCode::BAD_REQUEST,
                "ValidationError",
                "Le champ numeroDossier est obligatoire.",
                "Api",
                true,
            );
        };
        let allowed = headers.get("dossiers").and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !allowed.split(',').any(|d| d.trim() == numero) {
            return api_errors(
                StatusCode::BAD_REQUEST,
                "DossierNonAutorise",
                &format!("L'en-tête dossiers doit contenir le dossier {numero}."),
                "Api",
                true,
            );
        }
        if !s.dossiers.iter().any(|d| d["numero"] == numero.as_str()) {
            return api_errors(
                StatusCode::BAD_REQUEST,
                "DossierInconnu",
                &format!("Le dossier {numero} n'existe pas ou n'est pas accessible."),
                "Api",
                true,
            );
        }
    }
    let bytes: Vec<u8> = match operation {
        "EcrituresComptables4" => {
            let numero = numero.unwrap_or_default();
            let start = request.get("periodeDebut").and_then(Value::as_str).unwrap_or_default();
            if start.len() < 7 {
                return api_errors(
                    StatusCode::BAD_REQUEST,
                    "ValidationError",
                    "Le champ periodeDebut est obligatoire.",
                    "Api",
                    true,
                );
            }
            let period = start[..7].to_owned();
            let key = (numero.clone(), period.clone());
            let overridden = s.payloads.lock().unwrap().get(&key).cloned();
            match overridden {
                Some(b) => b,
                None => match s.files.get(&key) {
                    Some(path) => std::fs::read(path).unwrap_or_default(),
                    None => serde_json::to_vec(
                        &json!({"numeroDossier": numero, "periodeDebut": format!("{period}-01T00:00:00"),
                        "periodeFin": format!("{}T00:00:00", last_day(&period)), "ruptures": []}),
                    )
                    .unwrap(),
                },
            }
        }
        "DossierRecupererPeriodeEnCours" => {
            let p = s.periode_en_cours(&numero.unwrap_or_default());
            serde_json::to_vec(&json!({"periodeEnCours": format!("{p}-01T00:00:00")})).unwrap()
        }
        "ListeDossiers" => serde_json::to_vec(&json!({"listeDossiers": s.dossiers})).unwrap(),
        other => {
            return api_errors(
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!("Opération inconnue du simulateur : {other}"),
                "Api",
                true,
            )
        }
    };
    let bytes = if garbage {
        b"{\"numeroDossier\": ".to_vec()
    } else if cut {
        bytes[..bytes.len() / 2].to_vec()
    } else {
        bytes
    };
    ([(axum::http::header::CONTENT_TYPE, "application/json; charset=utf-8")], bytes).into_response()
}

/// `POST /_sim/faults`: `{"fault":"status","status":503}`, `{"fault":"too_many_requests","retry_after_secs":1}`,
/// `{"fault":"slow","millis":500}`, `truncated`, `invalid_json`, `unrecoverable`, `expire_tokens`,
/// `token_error`, or `{"periode_en_cours":{"dossier":"100200","period":"2026-10"}}`.
async fn control(State(s): State<Arc<Inner>>, Json(v): Json<Value>) -> Response {
    if let Some(p) = v.get("periode_en_cours") {
        let (Some(d), Some(period)) = (p["dossier"].as_str(), p["period"].as_str()) else {
            return (StatusCode::BAD_REQUEST, "periode_en_cours needs dossier and period").into_response();
        };
        s.periods.lock().unwrap().insert(d.to_owned(), period.to_owned());
        return StatusCode::NO_CONTENT.into_response();
    }
    let fault = match v["fault"].as_str() {
        Some("status") => Fault::Status(v["status"].as_u64().unwrap_or(500) as u16),
        Some("too_many_requests") => {
            Fault::TooManyRequests { retry_after_secs: v["retry_after_secs"].as_u64().unwrap_or(1) }
        }
        Some("slow") => Fault::Slow(Duration::from_millis(v["millis"].as_u64().unwrap_or(1000))),
        Some("truncated") => Fault::Truncated,
        Some("invalid_json") => Fault::InvalidJson,
        Some("unrecoverable") => Fault::Unrecoverable,
        Some("expire_tokens") => Fault::ExpireTokens,
        Some("token_error") => Fault::TokenError,
        _ => return (StatusCode::BAD_REQUEST, "unknown fault").into_response(),
    };
    s.push_fault(fault);
    StatusCode::NO_CONTENT.into_response()
}

async fn recorded(State(s): State<Arc<Inner>>) -> Json<Value> {
    let list: Vec<Value> = s
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| json!({"path": r.path, "authorization": r.authorization, "subscription_key": r.subscription_key, "dossiers": r.dossiers, "body": r.body, "status": r.status}))
        .collect();
    Json(Value::Array(list))
}
