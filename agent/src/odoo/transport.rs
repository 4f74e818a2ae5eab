//! The three ways to call Odoo: JSON-RPC, XML-RPC and JSON-2. Every call is a model, a method
//! and named parameters; faults become `OdooError` with Odoo's own message.

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};

use super::OdooError;

/// The wire protocol in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Json2,
    JsonRpc,
    XmlRpc,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Json2 => "json2",
            Protocol::JsonRpc => "jsonrpc",
            Protocol::XmlRpc => "xmlrpc",
        }
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
}

impl Transport {
    pub fn new(url: &str, database: &str, timeout: Duration) -> Result<Transport, OdooError> {
        let http = reqwest::Client::builder()
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
        })
    }

    /// A `common` service call (`version`, `authenticate`) over JSON-RPC or XML-RPC.
    pub async fn common(&self, protocol: Protocol, method: &str, args: Vec<Value>) -> Result<Value, OdooError> {
        let r = self.common_inner(protocol, method, args).await;
        self.count(r)
    }

    fn count(&self, r: Result<Value, OdooError>) -> Result<Value, OdooError> {
        if r.is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    async fn common_inner(&self, protocol: Protocol, method: &str, args: Vec<Value>) -> Result<Value, OdooError> {
        match protocol {
            Protocol::XmlRpc => self.xmlrpc("common", method, args).await,
            _ => self.jsonrpc("common", method, args).await,
        }
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
            Protocol::JsonRpc | Protocol::XmlRpc => {
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
                if protocol == Protocol::XmlRpc {
                    self.xmlrpc("object", "execute_kw", all).await
                } else {
                    self.jsonrpc("object", "execute_kw", all).await
                }
            }
        }
    }

    async fn jsonrpc(&self, service: &str, method: &str, args: Vec<Value>) -> Result<Value, OdooError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let url = format!("{}/jsonrpc", self.base);
        let body = json!({"jsonrpc": "2.0", "method": "call", "params": {"service": service, "method": method, "args": args}, "id": id});
        let response = self.http.post(&url).json(&body).send().await.map_err(|e| transport_error(&e, &url))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| transport_error(&e, &url))?;
        if !status.is_success() {
            return Err(http_error(status, &bytes, &url));
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

    async fn xmlrpc(&self, service: &str, method: &str, args: Vec<Value>) -> Result<Value, OdooError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let url = format!("{}/xmlrpc/2/{service}", self.base);
        let mut request = xmlrpc::Request::new(method);
        for a in &args {
            request = request.arg(to_xmlrpc(a));
        }
        let mut body = Vec::new();
        request.write_as_xml(&mut body).expect("writing to a Vec cannot fail");
        let response = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "text/xml")
            .body(body)
            .send()
            .await
            .map_err(|e| transport_error(&e, &url))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| transport_error(&e, &url))?;
        if !status.is_success() {
            return Err(http_error(status, &bytes, &url));
        }
        // The crate parses what we already received: its transport hands the bytes back.
        match request.call(Received(bytes.to_vec())) {
            Ok(v) => Ok(from_xmlrpc(v)),
            Err(e) => match e.fault() {
                Some(f) => Err(fault_error(f.fault_code, &f.fault_string)),
                None => Err(OdooError::Unavailable(format!("{url}: the XML-RPC answer cannot be read: {e}"))),
            },
        }
    }

    async fn json2(&self, secret: &SecretString, model: &str, method: &str, body: Value) -> Result<Value, OdooError> {
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
        let bytes = response.bytes().await.map_err(|e| transport_error(&e, &url))?;
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
            _ => Err(http_error(status, &bytes, &url)),
        }
    }
}

struct Received(Vec<u8>);

impl xmlrpc::Transport for Received {
    type Stream = Cursor<Vec<u8>>;
    fn transmit(self, _: &xmlrpc::Request<'_>) -> Result<Self::Stream, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Cursor::new(self.0))
    }
}

fn to_xmlrpc(v: &Value) -> xmlrpc::Value {
    match v {
        Value::Null => xmlrpc::Value::Bool(false),
        Value::Bool(b) => xmlrpc::Value::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) if i32::try_from(i).is_ok() => xmlrpc::Value::Int(i as i32),
            Some(i) => xmlrpc::Value::Int64(i),
            // Amounts travel as their shortest decimal text, parsed back by Odoo.
            None => xmlrpc::Value::Double(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => xmlrpc::Value::String(s.clone()),
        Value::Array(a) => xmlrpc::Value::Array(a.iter().map(to_xmlrpc).collect()),
        Value::Object(o) => xmlrpc::Value::Struct(o.iter().map(|(k, v)| (k.clone(), to_xmlrpc(v))).collect()),
    }
}

fn from_xmlrpc(v: xmlrpc::Value) -> Value {
    match v {
        xmlrpc::Value::Int(i) => json!(i),
        xmlrpc::Value::Int64(i) => json!(i),
        xmlrpc::Value::Bool(b) => json!(b),
        xmlrpc::Value::String(s) => json!(s),
        xmlrpc::Value::Double(d) => json!(d),
        xmlrpc::Value::DateTime(d) => json!(d.to_string()),
        xmlrpc::Value::Base64(b) => json!(base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b)),
        xmlrpc::Value::Struct(s) => Value::Object(s.into_iter().map(|(k, v)| (k, from_xmlrpc(v))).collect()),
        xmlrpc::Value::Array(a) => Value::Array(a.into_iter().map(from_xmlrpc).collect()),
        xmlrpc::Value::Nil => Value::Null,
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

fn http_error(status: reqwest::StatusCode, bytes: &[u8], url: &str) -> OdooError {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]);
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    if status == reqwest::StatusCode::NOT_FOUND {
        return OdooError::Unavailable(format!(
            "{url}: HTTP 404: this URL does not serve this protocol (check odoo.url and odoo.protocol)"
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

/// An XML-RPC fault: Odoo's codes are 3 for AccessDenied, 4 for AccessError, 2 for warnings,
/// 1 for the rest; the string holds the message (and, for 1, a traceback: its last line counts).
fn fault_error(code: i32, text: &str) -> OdooError {
    if code == 3 {
        return OdooError::Auth(format!("Odoo refused the login or secret: {}", text.trim()));
    }
    match code {
        2 => return OdooError::Rejected { name: "UserError".into(), message: text.trim().to_owned() },
        4 => return OdooError::Rejected { name: "AccessError".into(), message: text.trim().to_owned() },
        _ => {}
    }
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(text).trim();
    let (name, message) = match last.split_once(": ") {
        Some((n, m)) if !n.contains(' ') => (n.rsplit('.').next().unwrap_or(n).to_owned(), m.to_owned()),
        _ => (format!("fault {code}"), last.to_owned()),
    };
    OdooError::Rejected { name, message }
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

    #[test]
    fn xml_rpc_faults_are_typed() {
        assert!(matches!(fault_error(3, "Access Denied"), OdooError::Auth(_)));
        let e = fault_error(
            1,
            "Traceback (most recent call last):\n  File ...\nValueError: Invalid field 'x' on model 'account.move'\n",
        );
        assert!(
            matches!(&e, OdooError::Rejected { name, message } if name == "ValueError" && message.contains("Invalid field")),
            "{e}"
        );
    }

    #[test]
    fn values_convert_both_ways() {
        let v = json!({"a": [1, 2_000_000_000_000_i64, true, "x", 12.5, null]});
        let back = from_xmlrpc(to_xmlrpc(&v));
        assert_eq!(back, json!({"a": [1, 2_000_000_000_000_i64, true, "x", 12.5, false]}));
    }
}
