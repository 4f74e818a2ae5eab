//! The ways to call Odoo: JSON-2 (Odoo 19 on) and JSON-RPC (17 and 18; deprecated in 19, gone
//! in 20), and the web client's `/web/webclient/version_info` to tell them apart. Every call is a model, a method and named
//! parameters; faults become `OdooError` with Odoo's own message. XML-RPC is not spoken: it
//! gives nothing JSON-RPC does not on 17 and 18, 19 deprecates it and 20 removes it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};

use super::OdooError;
use crate::silae::{read_capped, BodyError};

/// The largest Odoo answer read. The largest the agent asks for is a company's chart of accounts
/// (a few thousand rows, some hundred KiB) or one import's answer (a row per move); 64 MiB, as
/// for Silae, bounds what a broken or hostile server can make the agent hold (read in pieces,
/// dropped as soon as it passes the bound).
pub const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// An answer's body, whole and within [`MAX_ANSWER`].
async fn read_body(response: reqwest::Response, url: &str) -> Result<Vec<u8>, OdooError> {
    match read_capped(response, MAX_ANSWER).await {
        Ok(bytes) => Ok(bytes),
        Err(BodyError::Transport(e)) => Err(transport_error(&e, url)),
        Err(BodyError::TooLarge(n)) => Err(OdooError::Unavailable(format!(
            "{url}: the answer is larger than PayFlow reads ({} MiB or more received, the limit is {} MiB): no answer PayFlow asks for is this large; check that odoo.url is the Odoo server (not a proxy's page) and ask its administrator",
            n / (1024 * 1024),
            MAX_ANSWER / (1024 * 1024)
        ))),
    }
}

/// The wire protocol in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Json2,
    JsonRpc,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Json2 => "json2",
            Protocol::JsonRpc => "jsonrpc",
        }
    }

    /// The protocol stored as `text`; `None` for any other text (an `xmlrpc` session
    /// remembered by an older agent).
    pub fn from_text(text: &str) -> Option<Protocol> {
        [Protocol::Json2, Protocol::JsonRpc].into_iter().find(|p| p.as_str() == text)
    }
}

/// One HTTP endpoint of Odoo, with the call counter the tests and benchmarks read.
pub struct Transport {
    pub http: reqwest::Client,
    pub base: String,
    pub database: String,
    pub calls: AtomicU64,
    pub errors: AtomicU64,
    next_id: AtomicU64,
    /// The `Retry-After` of the last 429 or 503 answer, in ms (0: none), taken by the next retry.
    retry_after_ms: AtomicU64,
    /// `odoo.max_calls_per_sec`: the least time between two calls, and when the next may start.
    pace: Option<(Duration, tokio::sync::Mutex<tokio::time::Instant>)>,
}

impl Transport {
    pub fn new(url: &str, database: &str, timeout: Duration, tls: &crate::tls::Trust) -> Result<Transport, OdooError> {
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls.client_config())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(15)))
            .user_agent(concat!("payflow-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OdooError::Unavailable(format!("cannot build the HTTP client: {e}")))?;
        Ok(Transport {
            http,
            base: url.trim_end_matches('/').to_owned(),
            database: database.to_owned(),
            calls: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
            retry_after_ms: AtomicU64::new(0),
            pace: None,
        })
    }

    /// At most `per_sec` calls a second through this transport (every call waits its turn).
    pub fn with_rate_limit(mut self, per_sec: Option<std::num::NonZeroU32>) -> Transport {
        self.pace =
            per_sec.map(|n| (Duration::from_secs(1) / n.get(), tokio::sync::Mutex::new(tokio::time::Instant::now())));
        self
    }

    /// Waits until this call may start under the rate limit.
    async fn paced(&self) {
        let Some((interval, next)) = &self.pace else { return };
        let start = {
            let mut next = next.lock().await;
            let start = (*next).max(tokio::time::Instant::now());
            *next = start + *interval;
            start
        };
        tokio::time::sleep_until(start).await;
    }

    /// The wait the last 429 or 503 answer asked for (`Retry-After`), once.
    pub fn take_retry_after(&self) -> Option<Duration> {
        let ms = self.retry_after_ms.swap(0, Ordering::Relaxed);
        (ms > 0).then(|| Duration::from_millis(ms))
    }

    /// Reads the answer's `Retry-After` (kept for the retry) and gives it for the message.
    fn note_retry_after(&self, response: &reqwest::Response) -> Option<Duration> {
        let wait = crate::silae::parse_retry_after(response.headers())?;
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
        self.retry_after_ms.store(ms, Ordering::Relaxed);
        Some(wait)
    }

    /// A `common` service call (`version`, `authenticate`) over JSON-RPC.
    pub async fn common(&self, method: &str, args: Vec<Value>) -> Result<Value, OdooError> {
        let r = self.jsonrpc("common", method, args).await;
        self.count(r)
    }

    fn count(&self, r: Result<Value, OdooError>) -> Result<Value, OdooError> {
        if r.is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    /// `model.method(*ids?, **params)` as the given user.
    #[allow(clippy::too_many_arguments)]
    pub async fn execute(
        &self,
        protocol: Protocol,
        uid: i64,
        secret: &SecretString,
        model: &str,
        method: &str,
        ids: Option<Vec<i64>>,
        params: Map<String, Value>,
    ) -> Result<Value, OdooError> {
        let r = self.execute_inner(protocol, uid, secret, model, method, ids, params).await;
        self.count(r)
    }

    #[allow(clippy::too_many_arguments)]
    async fn execute_inner(
        &self,
        protocol: Protocol,
        uid: i64,
        secret: &SecretString,
        model: &str,
        method: &str,
        ids: Option<Vec<i64>>,
        params: Map<String, Value>,
    ) -> Result<Value, OdooError> {
        match protocol {
            Protocol::Json2 => {
                let mut body = params;
                if let Some(ids) = ids {
                    body.insert("ids".into(), json!(ids));
                }
                self.json2(secret, model, method, Value::Object(body)).await
            }
            Protocol::JsonRpc => {
                let mut params = params;
                let args = match ids {
                    Some(ids) => json!([ids]),
                    // `create` reads its values positionally (`_call_kw_model_create`: args[0]).
                    None if method == "create" => json!([params.remove("vals_list").unwrap_or(json!([]))]),
                    None => json!([]),
                };
                let all = vec![
                    json!(self.database),
                    json!(uid),
                    json!(secret.expose_secret()),
                    json!(model),
                    json!(method),
                    args,
                    Value::Object(params),
                ];
                self.jsonrpc("object", "execute_kw", all).await
            }
        }
    }

    /// `POST /web/webclient/version_info`: the web client's own JSON-RPC route, `auth="none"`,
    /// on Odoo 17, 18 and 19 alike (not the external `/jsonrpc` endpoint 19 deprecates). Its
    /// `result` is `common.version`'s: `{"server_version": "18.0", "server_version_info": [18, 0,
    /// …], …}`. `None` where the route is missing (HTTP 404, or an answer that is not that JSON).
    pub async fn webclient_version(&self) -> Result<Option<Value>, OdooError> {
        let r = self.webclient_version_inner().await;
        if r.is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    async fn webclient_version_inner(&self) -> Result<Option<Value>, OdooError> {
        self.paced().await;
        self.calls.fetch_add(1, Ordering::Relaxed);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let url = format!("{}/web/webclient/version_info", self.base);
        let body = json!({"jsonrpc": "2.0", "method": "call", "params": {}, "id": id});
        let response = self.http.post(&url).json(&body).send().await.map_err(|e| transport_error(&e, &url))?;
        let status = response.status();
        let wait = self.note_retry_after(&response);
        let bytes = read_body(response, &url).await?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(http_error(status, &bytes, &url, wait));
        }
        Ok(serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v.get("result").cloned())
            .filter(|r| r.get("server_version_info").is_some()))
    }

    /// `GET /web/version`: Odoo 19 and later answer `{"version_info": [19, 0, …], "version":
    /// "19.0"}` without login and without any deprecated endpoint; 17 and 18 have no such route
    /// (`None`: HTTP 404, or a page that is not that JSON).
    pub async fn web_version(&self) -> Result<Option<Value>, OdooError> {
        let r = self.web_version_inner().await;
        if r.is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    async fn web_version_inner(&self) -> Result<Option<Value>, OdooError> {
        self.paced().await;
        self.calls.fetch_add(1, Ordering::Relaxed);
        let url = format!("{}/web/version", self.base);
        let response = self.http.get(&url).send().await.map_err(|e| transport_error(&e, &url))?;
        let status = response.status();
        let wait = self.note_retry_after(&response);
        let bytes = read_body(response, &url).await?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(http_error(status, &bytes, &url, wait));
        }
        Ok(serde_json::from_slice::<Value>(&bytes).ok().filter(|v| v.get("version_info").is_some()))
    }

    async fn jsonrpc(&self, service: &str, method: &str, args: Vec<Value>) -> Result<Value, OdooError> {
        self.paced().await;
        self.calls.fetch_add(1, Ordering::Relaxed);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let url = format!("{}/jsonrpc", self.base);
        let body = json!({"jsonrpc": "2.0", "method": "call", "params": {"service": service, "method": method, "args": args}, "id": id});
        let response = self.http.post(&url).json(&body).send().await.map_err(|e| transport_error(&e, &url))?;
        let status = response.status();
        let wait = self.note_retry_after(&response);
        let bytes = read_body(response, &url).await?;
        if !status.is_success() {
            return Err(http_error(status, &bytes, &url, wait));
        }
        let answer: Value = serde_json::from_slice(&bytes).map_err(|e| {
            OdooError::Unavailable(format!("{url}: the answer is not JSON ({e}): is this an Odoo server?"))
        })?;
        if let Some(error) = answer.get("error") {
            return Err(rpc_error(error));
        }
        // Odoo leaves `result` out when a method returns nothing.
        Ok(answer.get("result").cloned().unwrap_or(Value::Null))
    }

    async fn json2(&self, secret: &SecretString, model: &str, method: &str, body: Value) -> Result<Value, OdooError> {
        self.paced().await;
        self.calls.fetch_add(1, Ordering::Relaxed);
        let url = format!("{}/json/2/{model}/{method}", self.base);
        let response = self
            .http
            .post(&url)
            .header(reqwest::header::AUTHORIZATION, format!("bearer {}", secret.expose_secret()))
            .header("X-Odoo-Database", &self.database)
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error(&e, &url))?;
        let status = response.status();
        let wait = self.note_retry_after(&response);
        let bytes = read_body(response, &url).await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| OdooError::Unavailable(format!("{url}: the answer is not JSON ({e})")));
        }
        if status == reqwest::StatusCode::UNAUTHORIZED {
            let detail = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| "invalid API key".into());
            return Err(OdooError::Auth(format!("Odoo refused the API key (HTTP 401: {detail})")));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) if v.get("name").is_some() => Err(rpc_error_named(
                v["name"].as_str().unwrap_or_default(),
                v.get("message").and_then(Value::as_str).unwrap_or_default(),
            )),
            _ => Err(http_error(status, &bytes, &url, wait)),
        }
    }
}

fn transport_error(e: &reqwest::Error, url: &str) -> OdooError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    OdooError::Unavailable(format!(
        "{url}: {what}{}",
        if detail.is_empty() { String::new() } else { format!(" ({detail})") }
    ))
}

fn http_error(status: reqwest::StatusCode, bytes: &[u8], url: &str, wait: Option<Duration>) -> OdooError {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]);
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    if status == reqwest::StatusCode::NOT_FOUND {
        return OdooError::Unavailable(format!(
            "{url}: HTTP 404: this URL does not serve this protocol (check odoo.url and odoo.protocol)"
        ));
    }
    let after = wait.map(|w| format!(", retry after {} s", w.as_secs())).unwrap_or_default();
    let said = if first.is_empty() { String::new() } else { format!(" Odoo said: {first}") };
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return OdooError::Unavailable(format!(
            "{url}: HTTP 429 (too many requests{after}): the Odoo host limits the calls to this database (Odoo Online does). PayFlow waits as asked and retries its reads; a write is not sent again and the next run tries again.{said}"
        ));
    }
    if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
        return OdooError::Unavailable(format!(
            "{url}: HTTP 503 (service unavailable{after}): the database is asleep, being upgraded, in maintenance or over its quota (Odoo Online), or the server is down. Nothing was written by this call; the next run tries again (for Odoo Online, see the database's status on odoo.com).{said}"
        ));
    }
    OdooError::Unavailable(format!(
        "{url}: HTTP {}{}",
        status.as_u16(),
        if first.is_empty() { String::new() } else { format!(": {first}") }
    ))
}

/// A JSON-RPC `error` object: `{"code": 200, "message": "Odoo Server Error", "data": {"name", "message"}}`.
fn rpc_error(error: &Value) -> OdooError {
    let data = error.get("data");
    let name = data.and_then(|d| d.get("name")).and_then(Value::as_str).unwrap_or_default();
    let message = data
        .and_then(|d| d.get("message"))
        .and_then(Value::as_str)
        .or_else(|| error.get("message").and_then(Value::as_str))
        .unwrap_or("no message");
    if error.get("code").and_then(Value::as_i64) == Some(100) {
        return OdooError::Auth(format!("Odoo session refused: {message}"));
    }
    rpc_error_named(name, message)
}

fn rpc_error_named(name: &str, message: &str) -> OdooError {
    let message = message.trim();
    if name.ends_with("AccessDenied") {
        OdooError::Auth(format!("Odoo refused the login or secret: {message}"))
    } else {
        OdooError::Rejected { name: name.rsplit('.').next().unwrap_or(name).to_owned(), message: message.to_owned() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_rpc_errors_keep_odoo_s_message() {
        let e = rpc_error(&json!({"code": 200, "message": "Odoo Server Error",
            "data": {"name": "odoo.exceptions.ValidationError", "message": "The move is not balanced."}}));
        assert!(
            matches!(&e, OdooError::Rejected { name, message } if name == "ValidationError" && message == "The move is not balanced.")
        );
        let e = rpc_error(&json!({"code": 200, "message": "Odoo Server Error",
            "data": {"name": "odoo.exceptions.AccessDenied", "message": "Access Denied"}}));
        assert!(matches!(e, OdooError::Auth(_)));
    }
}
