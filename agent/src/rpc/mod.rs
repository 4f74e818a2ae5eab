//! `payflow-agent serve`: the JSON-RPC 2.0 service the Odoo addon calls (jsonrpsee methods
//! behind an HTTP front that checks the bearer token before reading any body), `/healthz`,
//! `/metrics`, background import jobs, the config file watched and reloaded, and a graceful
//! shutdown. Only this module knows JSON-RPC.

pub mod methods;
pub mod server;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::agent::Agent;
use crate::config::Config;
use crate::outcome::ErrorKind;
use crate::period::Period;
use crate::run::Status;
use crate::secrets::SecretName;

/// The largest request body accepted.
pub const MAX_BODY: usize = 1024 * 1024;
/// A refused body up to this size is read and dropped before the 413 is sent, so that the
/// client, still sending, reads the answer instead of a reset connection.
pub const MAX_DRAINED: usize = 8 * 1024 * 1024;

/// Process-local measures for `/metrics`.
#[derive(Default)]
pub struct Metrics {
    /// Import durations: counts per upper bound (seconds), then the sum in ms and the count.
    buckets: [AtomicU64; 8],
    sum_ms: AtomicU64,
    count: AtomicU64,
}

const BOUNDS: [f64; 8] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

impl Metrics {
    pub fn observe(&self, _status: Status, d: Duration) {
        let secs = d.as_secs_f64();
        for (i, b) in BOUNDS.iter().enumerate() {
            if secs <= *b {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_ms.fetch_add(d.as_millis() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// The running service: the current agent (swapped on a valid config edit), the token.
pub struct Service {
    agent: RwLock<Arc<Agent>>,
    token_digest: RwLock<[u8; 32]>,
    config_path: PathBuf,
    loaded_at: Mutex<String>,
    /// The SHA-256 of the config file's content last looked at (applied or refused): only a
    /// different content is reloaded.
    config_digest: Mutex<[u8; 32]>,
    /// Config checks (the file changed, or SIGHUP), reloads applied, edits refused.
    pub config_checks: AtomicU64,
    pub config_reloads: AtomicU64,
    pub config_refusals: AtomicU64,
    stopping: AtomicBool,
    jobs: Mutex<tokio::task::JoinSet<()>>,
    pub metrics: Metrics,
    module: RwLock<Option<jsonrpsee::RpcModule<Arc<Service>>>>,
}

fn digest(token: &SecretString) -> [u8; 32] {
    Sha256::digest(token.expose_secret().as_bytes()).into()
}

impl Service {
    /// A service for an agent; fails when no `rpc_token` is set.
    pub fn new(agent: Agent, config_path: &Path) -> Result<Arc<Service>, String> {
        let token = agent.secrets.require(SecretName::RpcToken).map_err(|e| e.to_string())?;
        let now = agent.now();
        let svc = Arc::new(Service {
            token_digest: RwLock::new(digest(&token)),
            agent: RwLock::new(Arc::new(agent)),
            config_path: config_path.to_owned(),
            loaded_at: Mutex::new(now.clone()),
            config_digest: Mutex::new(std::fs::read(config_path).map(|b| Sha256::digest(b).into()).unwrap_or_default()),
            config_checks: AtomicU64::new(0),
            config_reloads: AtomicU64::new(0),
            config_refusals: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            jobs: Mutex::new(tokio::task::JoinSet::new()),
            metrics: Metrics::default(),
            module: RwLock::new(None),
        });
        *svc.module.write().unwrap() = Some(methods::module(svc.clone()));
        let interrupted = svc.agent().store().interrupt_jobs(&now).unwrap_or(0);
        if interrupted > 0 {
            tracing::warn!(jobs = interrupted, "jobs cut by the last stop are marked interrupted");
        }
        Ok(svc)
    }

    pub fn agent(&self) -> Arc<Agent> {
        self.agent.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    fn spawn_job(
        self: &Arc<Service>,
        id: i64,
        dossier: String,
        periods: Vec<Period>,
        dry_run: bool,
        user: Option<String>,
    ) {
        let svc = self.clone();
        self.jobs.lock().unwrap().spawn(methods::run_job(svc, id, dossier, periods, dry_run, user));
    }

    /// Marks `interrupted` the runs a stopped process left `running` (a `kill -9`, a crash, a
    /// power cut), on every dossier no live process holds: at start-up, so that `/healthz`
    /// and the run log never show a dead run as running.
    pub async fn interrupt_orphaned_runs(&self) {
        let marked = self.agent().interrupt_orphaned_runs().await;
        if marked > 0 {
            tracing::warn!(runs = marked, "runs cut by the last stop are marked interrupted");
        }
    }

    /// Re-reads the config if its content changed since it was last looked at: a valid one
    /// replaces the agent (new URLs, SMTP, …) on the same database; an invalid one is refused
    /// with one log line and the last good one stays. Logs what it did.
    pub fn reload_if_changed(&self) {
        self.config_checks.fetch_add(1, Ordering::Relaxed);
        let bytes = match std::fs::read(&self.config_path) {
            Ok(b) => b,
            Err(e) => {
                self.config_refusals.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(file = %self.config_path.display(), "cannot read the config, the last good one stays in force: {e}");
                return;
            }
        };
        let digest_now: [u8; 32] = Sha256::digest(&bytes).into();
        {
            let mut last = self.config_digest.lock().unwrap_or_else(|e| e.into_inner());
            if *last == digest_now {
                return;
            }
            *last = digest_now;
        }
        match self.reload_from(&bytes) {
            Ok(()) => {
                self.config_reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(file = %self.config_path.display(), "config reloaded");
            }
            Err(e) => {
                self.config_refusals.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("config edit refused, the last good config stays in force: {e}");
            }
        }
    }

    fn reload_from(&self, bytes: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| format!("{}: the file is not UTF-8 text", self.config_path.display()))?;
        let config = Config::parse(&self.config_path, text).map_err(|e| e.to_string())?;
        let current = self.agent();
        // The same database stays open: a deleted one is reported, never recreated empty.
        let store = if config.database_path() == current.config.database_path() {
            current.store.clone()
        } else {
            Arc::new(crate::store::Store::open(&config.database_path()).map_err(|e| e.to_string())?)
        };
        let secrets = crate::secrets::Secrets::for_config(&config);
        let token = secrets.require(SecretName::RpcToken).map_err(|e| e.to_string())?;
        if config.rpc != current.config.rpc {
            tracing::warn!(
                listen = %config.rpc.listen,
                "rpc.listen, rpc.tls_cert or rpc.tls_key changed: it takes effect at the next restart of the service (it still listens as before)"
            );
        }
        let agent = Agent::sharing(config, store, secrets);
        *self.token_digest.write().unwrap() = digest(&token);
        *self.loaded_at.lock().unwrap() = agent.now();
        *self.agent.write().unwrap() = Arc::new(agent);
        Ok(())
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let Some(token) = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")) else { return false };
        let given: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        let expected = *self.token_digest.read().unwrap();
        given.ct_eq(&expected).into()
    }

    /// The `status` method.
    pub async fn status(&self) -> Value {
        let agent = self.agent();
        let c = &agent.config;
        let odoo_reachable = match agent.odoo().await {
            Ok(o) => tokio::time::timeout(Duration::from_secs(5), o.version()).await.is_ok_and(|r| r.is_ok()),
            Err(_) => false,
        };
        let local = agent.clone();
        let (silae_configured, last_run, next_due, key_expiry, targets) = blocking(move || {
            let agent = local;
            let silae_configured =
                [SecretName::SilaeClientId, SecretName::SilaeClientSecret, SecretName::SilaeSubscriptionKey]
                    .iter()
                    .all(|n| agent.secrets.get(*n).ok().flatten().is_some());
            let store = agent.store();
            let last_run = store
                .runs(&crate::store::RunFilter { limit: Some(1), ..Default::default() })
                .ok()
                .and_then(|r| r.into_iter().next());
            let today = jiff::Timestamp::now().to_zoned(agent.config.time_zone().clone()).date();
            let next_due = store
                .dossiers()
                .unwrap_or_default()
                .iter()
                .filter(|d| d.enabled)
                .map(|d| {
                    let latest = crate::schedule::latest_due(today, d.transfer_day);
                    crate::schedule::transfer_date(latest.next(), d.transfer_day)
                })
                .min()
                .map(|d| d.to_string());
            // Each announced expiry, the days left when it is a date, and the e-mails sent of it.
            let notices = store.key_notices().unwrap_or_default();
            let key_expiry: serde_json::Map<String, Value> = store
                .key_expiry()
                .unwrap_or_default()
                .into_iter()
                .map(|(which, expires, seen_at)| {
                    let sent: Vec<&str> = notices
                        .iter()
                        .filter(|(w, e, _, _)| *w == which && *e == expires)
                        .map(|(_, _, n, _)| n.as_str())
                        .collect();
                    let days_left = crate::alert::days_left(&expires, today);
                    let entry =
                        json!({"expires": expires, "announced_at": seen_at, "days_left": days_left, "notified": sent});
                    (which, entry)
                })
                .collect();
            // Per Odoo target: its dossiers, what failed there and what is late.
            let targets = crate::summary::gather(store, &agent.config, today).unwrap_or_default();
            (silae_configured, last_run, next_due, key_expiry, targets)
        })
        .await;
        json!({
            "instance": c.instance,
            "version": env!("CARGO_PKG_VERSION"),
            "config_file": self.config_path.display().to_string(),
            "config_loaded_at": *self.loaded_at.lock().unwrap(),
            "odoo": {"url": c.odoo.url.as_str(), "database": c.odoo.database, "protocol": c.odoo.protocol.to_string(), "reachable": odoo_reachable},
            "silae": {"api_url": c.silae.api_url.as_str(), "configured": silae_configured, "secret_expiry": key_expiry},
            "smtp_configured": c.smtp.is_some(),
            "last_run": last_run,
            "next_due": next_due,
            "targets": targets,
        })
    }
}

/// Runs blocking work (SQLite, secret files) off the async workers.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Serves until `shutdown` resolves (connections bounded: see [`server`]); then running jobs
/// finish their current period (at most `grace`) or are stopped, their runs and jobs marked
/// interrupted.
pub async fn serve(
    svc: Arc<Service>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    serve_with_cap(svc, listener, shutdown, grace, server::connection_cap()).await
}

/// [`serve`] with an explicit cap on connections served at once.
pub async fn serve_with_cap(
    svc: Arc<Service>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: Duration,
    max_connections: usize,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/", post(rpc))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(svc.clone());
    // HTTPS when the config gives a certificate and key (checked on load: an error here is a
    // file changed since, and nothing is served rather than plain HTTP).
    let tls = match svc.agent().config.rpc.tls() {
        None => None,
        Some((cert, key)) => Some(server::tls_acceptor(cert, key).map_err(std::io::Error::other)?),
    };
    server::run(listener, app, shutdown, max_connections, tls).await;
    svc.stopping.store(true, Ordering::Relaxed);
    let mut jobs = std::mem::take(&mut *svc.jobs.lock().unwrap());
    let drained = tokio::time::timeout(grace, async { while jobs.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!("jobs still running {} s after the stop: stopped and marked interrupted", grace.as_secs());
        jobs.abort_all();
        while jobs.join_next().await.is_some() {}
        let agent = svc.agent();
        let now = agent.now();
        let _ = agent.db(move |s| s.interrupt_jobs(&now)).await;
        // The stopped jobs' locks are released: their runs are marked too.
        agent.interrupt_orphaned_runs().await;
    }
    Ok(())
}

fn rpc_error(code: i32, message: &str) -> Response {
    axum::Json(json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}})).into_response()
}

async fn rpc(State(svc): State<Arc<Service>>, headers: HeaderMap, body: Body) -> Response {
    // The token first: nothing of the body is read for an unauthorised caller.
    if !svc.authorized(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
            "missing or wrong bearer token\n",
        )
            .into_response();
    }
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        let drain = declared.is_some_and(|n| n <= MAX_DRAINED).then(|| body.into_data_stream());
        return too_large(drain).await;
    }
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(server::BODY_TIMEOUT, async {
        use futures::StreamExt;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| false)?;
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(true);
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(())
    })
    .await;
    match read {
        Ok(Ok(())) => {}
        Ok(Err(true)) => return too_large(Some(stream)).await,
        Ok(Err(false)) => return (StatusCode::BAD_REQUEST, "the request body was cut\n").into_response(),
        Err(_) => {
            return (
                StatusCode::REQUEST_TIMEOUT,
                [(axum::http::header::CONNECTION, "close")],
                format!("the request body did not arrive within {} s\n", server::BODY_TIMEOUT.as_secs()),
            )
                .into_response()
        }
    }
    let Ok(text) = std::str::from_utf8(&bytes) else { return rpc_error(-32700, "Parse error: the body is not UTF-8") };
    if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
        return rpc_error(-32700, "Parse error: the body is not JSON");
    }
    let module = svc.module.read().unwrap().clone().expect("built at start");
    match module.raw_json_request(text, 1).await {
        Ok((answer, _)) => ([(axum::http::header::CONTENT_TYPE, "application/json")], answer).into_response(),
        Err(_) => rpc_error(-32600, "Invalid request: expected {\"jsonrpc\": \"2.0\", \"method\", \"params\", \"id\"}"),
    }
}

/// The 413 of a body over [`MAX_BODY`]: with a body to drain, the rest of the body (at most
/// [`MAX_DRAINED`], within the body timeout) is read and dropped first so that the client, still
/// sending, can read the answer; the connection is closed after it.
async fn too_large(drain: Option<axum::body::BodyDataStream>) -> Response {
    if let Some(mut stream) = drain {
        let _ = tokio::time::timeout(server::BODY_TIMEOUT, async {
            use futures::StreamExt;
            let mut seen = 0usize;
            while let Some(Ok(chunk)) = stream.next().await {
                seen += chunk.len();
                if seen > MAX_DRAINED {
                    break;
                }
            }
        })
        .await;
    }
    (StatusCode::PAYLOAD_TOO_LARGE, [(axum::http::header::CONNECTION, "close")], "request body over 1 MiB\n")
        .into_response()
}

/// `GET /healthz`, no token: ok, or degraded with reasons (HTTP 503). Its reads run off the
/// async workers, so it answers whatever the store is doing.
async fn healthz(State(svc): State<Arc<Service>>) -> Response {
    let agent = svc.agent();
    let reasons = blocking(move || health_reasons(&agent)).await;
    if reasons.is_empty() {
        axum::Json(json!({"status": "ok"})).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"status": "degraded", "reasons": reasons}))).into_response()
    }
}

fn health_reasons(agent: &Agent) -> Vec<String> {
    let mut reasons = Vec::new();
    if let Err(e) = agent.store().check() {
        reasons.push(e.to_string());
    }
    match agent.store().latest_runs() {
        Ok(runs) => {
            for r in runs.iter().filter(|r| r.status == Status::Failed) {
                reasons.push(format!(
                    "dossier {}: last run failed ({})",
                    r.dossier,
                    r.error_kind.map_or("?", ErrorKind::as_str)
                ));
            }
        }
        Err(e) => reasons.push(format!("state database: {e}")),
    }
    if agent.secrets.get(SecretName::OdooSecret).ok().flatten().is_none() {
        reasons.push("the secret odoo_secret is not set".into());
    }
    reasons
}

/// `GET /metrics` (bearer token): Prometheus text.
async fn metrics(State(svc): State<Arc<Service>>, headers: HeaderMap) -> Response {
    if !svc.authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, "missing or wrong bearer token\n").into_response();
    }
    let agent = svc.agent();
    let local = agent.clone();
    let (counts, successes) = blocking(move || {
        (local.store().run_counts().unwrap_or_default(), local.store().last_successes().unwrap_or_default())
    })
    .await;
    let mut out = String::new();
    out.push_str("# HELP payflow_runs Runs in the run log, by status and error kind.\n# TYPE payflow_runs gauge\n");
    for (status, kind, n) in counts {
        out.push_str(&format!("payflow_runs{{status=\"{status}\",kind=\"{kind}\"}} {n}\n"));
    }
    out.push_str("# HELP payflow_last_success_timestamp_seconds End of the last successful import of a dossier.\n# TYPE payflow_last_success_timestamp_seconds gauge\n");
    for (dossier, at) in successes {
        if let Ok(t) = at.parse::<jiff::Timestamp>() {
            out.push_str(&format!(
                "payflow_last_success_timestamp_seconds{{dossier=\"{dossier}\"}} {}\n",
                t.as_second()
            ));
        }
    }
    let m = &svc.metrics;
    out.push_str("# HELP payflow_import_duration_seconds Duration of the imports run by this service.\n# TYPE payflow_import_duration_seconds histogram\n");
    for (i, b) in BOUNDS.iter().enumerate() {
        out.push_str(&format!(
            "payflow_import_duration_seconds_bucket{{le=\"{b}\"}} {}\n",
            m.buckets[i].load(Ordering::Relaxed)
        ));
    }
    let count = m.count.load(Ordering::Relaxed);
    out.push_str(&format!("payflow_import_duration_seconds_bucket{{le=\"+Inf\"}} {count}\n"));
    out.push_str(&format!(
        "payflow_import_duration_seconds_sum {}\n",
        m.sum_ms.load(Ordering::Relaxed) as f64 / 1000.0
    ));
    out.push_str(&format!("payflow_import_duration_seconds_count {count}\n"));
    let (silae, odoo) = agent.built_clients();
    out.push_str("# HELP payflow_silae_calls_total HTTP calls to Silae.\n# TYPE payflow_silae_calls_total counter\n");
    out.push_str(&format!("payflow_silae_calls_total {}\n", silae.map_or(0, |s| s.calls.load(Ordering::Relaxed))));
    out.push_str(
        "# HELP payflow_silae_errors_total Failed HTTP calls to Silae.\n# TYPE payflow_silae_errors_total counter\n",
    );
    out.push_str(&format!("payflow_silae_errors_total {}\n", silae.map_or(0, |s| s.errors.load(Ordering::Relaxed))));
    out.push_str("# HELP payflow_odoo_calls_total Calls to Odoo.\n# TYPE payflow_odoo_calls_total counter\n");
    out.push_str(&format!("payflow_odoo_calls_total {}\n", odoo.map_or(0, |o| o.calls())));
    out.push_str("# HELP payflow_odoo_errors_total Failed calls to Odoo.\n# TYPE payflow_odoo_errors_total counter\n");
    out.push_str(&format!("payflow_odoo_errors_total {}\n", odoo.map_or(0, |o| o.errors())));
    for (name, help, value) in [
        ("payflow_config_checks_total", "Looks at the config file after a change event or SIGHUP.", &svc.config_checks),
        ("payflow_config_reloads_total", "Config contents applied since the start.", &svc.config_reloads),
        ("payflow_config_refusals_total", "Config contents refused (the last good one stayed).", &svc.config_refusals),
    ] {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
            value.load(Ordering::Relaxed)
        ));
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// Whether a file event may have changed the file's content: writes, renames, creations,
/// removals; never a read (open, access, close without writing) nor a change of metadata.
pub fn may_change_content(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
    matches!(
        kind,
        EventKind::Create(_)
            | EventKind::Remove(_)
            | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any | ModifyKind::Other)
            | EventKind::Access(AccessKind::Close(AccessMode::Write))
    )
}

/// Watches the config file (its folder, as editors replace files) and, 500 ms after the last
/// write or rename, reloads it if its content changed (reads, by anyone, are ignored).
pub fn watch_config(svc: Arc<Service>) -> notify::Result<notify::RecommendedWatcher> {
    use notify::Watcher;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let file = svc.config_path.file_name().map(|f| f.to_owned());
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(e) = event {
            if may_change_content(&e.kind) && e.paths.iter().any(|p| p.file_name() == file.as_deref()) {
                let _ = tx.send(());
            }
        }
    })?;
    let dir = svc.config_path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_owned();
    watcher.watch(&dir, notify::RecursiveMode::NonRecursive)?;
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            tokio::time::sleep(Duration::from_millis(500)).await;
            while rx.try_recv().is_ok() {}
            let svc = svc.clone();
            blocking(move || svc.reload_if_changed()).await;
        }
    });
    Ok(watcher)
}
