//! The Odoo simulator: JSON-RPC, XML-RPC and JSON-2 on loopback over an in-memory database
//! (models.rs) that behaves as Odoo does where PayFlow depends on it.

mod models;
mod xml;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Map, Value};

use models::Db;
pub use models::OdooErr;

#[derive(Debug, Clone)]
pub struct OdooSimConfig {
    pub version: u32,
    pub database: String,
    pub login: String,
    pub password: String,
    pub api_key: String,
    pub addon_installed: bool,
}

impl OdooSimConfig {
    pub fn demo(version: u32) -> Self {
        OdooSimConfig {
            version,
            database: "payflow".into(),
            login: "admin".into(),
            password: "admin".into(),
            api_key: "demo-odoo-api-key".into(),
            addon_installed: true,
        }
    }
}

/// A fault applied to the next call (or the next call of one method).
#[derive(Debug, Clone, PartialEq)]
pub enum OdooFault {
    Status(u16),
    Slow(Duration),
}

struct Inner {
    cfg: Mutex<OdooSimConfig>,
    db: Mutex<Db>,
    calls: Mutex<Vec<(String, String)>>,
    faults: Mutex<VecDeque<OdooFault>>,
    method_faults: Mutex<HashMap<(String, String), VecDeque<OdooFault>>>,
}

struct Stopper(tokio::sync::watch::Sender<bool>);

impl Drop for Stopper {
    fn drop(&mut self) {
        let _ = self.0.send(true);
    }
}

#[derive(Clone)]
pub struct OdooSim {
    inner: Arc<Inner>,
    addr: SocketAddr,
    stop: Arc<Stopper>,
}

impl OdooSim {
    pub async fn start(cfg: OdooSimConfig) -> anyhow::Result<OdooSim> {
        OdooSim::start_on(cfg, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    pub async fn start_on(cfg: OdooSimConfig, addr: SocketAddr) -> anyhow::Result<OdooSim> {
        let inner = Arc::new(Inner {
            db: Mutex::new(Db::seeded(cfg.version, cfg.addon_installed)),
            cfg: Mutex::new(cfg),
            calls: Mutex::default(),
            faults: Mutex::default(),
            method_faults: Mutex::default(),
        });
        let app = Router::new()
            .route("/jsonrpc", post(jsonrpc))
            .route("/xmlrpc/2/{service}", post(xmlrpc))
            .route("/json/2/{model}/{method}", post(json2))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (tx, mut rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await;
        });
        Ok(OdooSim { inner, addr, stop: Arc::new(Stopper(tx)) })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn calls(&self) -> Vec<(String, String)> {
        self.inner.calls.lock().unwrap().clone()
    }

    pub fn reset_calls(&self) {
        self.inner.calls.lock().unwrap().clear();
    }

    pub fn push_fault(&self, f: OdooFault) {
        self.inner.faults.lock().unwrap().push_back(f);
    }

    pub fn push_fault_on(&self, model: &str, method: &str, f: OdooFault) {
        self.inner.method_faults.lock().unwrap().entry((model.into(), method.into())).or_default().push_back(f);
    }

    pub fn set_addon_installed(&self, yes: bool) {
        self.inner.db.lock().unwrap().set_addon(yes);
    }

    pub fn set_lock_date(&self, company_id: i64, field: &str, date: Option<&str>) {
        let mut db = self.inner.db.lock().unwrap();
        if let Some(c) = db.tables.get_mut("res.company").and_then(|t| t.get_mut(&company_id)) {
            c.insert(field.into(), date.map_or(json!(false), |d| json!(d)));
        }
    }

    pub fn set_password(&self, password: &str) {
        self.inner.cfg.lock().unwrap().password = password.into();
    }

    /// Every account.move with its lines.
    pub fn moves(&self) -> Vec<Value> {
        let db = self.inner.db.lock().unwrap();
        let moves = db.tables.get("account.move").cloned().unwrap_or_default();
        moves
            .values()
            .map(|m| {
                let mut m = m.clone();
                let id = m["id"].as_i64().unwrap_or(0);
                m.insert("line_ids".into(), Value::Array(db.lines_of(id).into_iter().map(Value::Object).collect()));
                Value::Object(m)
            })
            .collect()
    }

    pub fn post_move(&self, id: i64) {
        let mut db = self.inner.db.lock().unwrap();
        if let Some(m) = db.tables.get_mut("account.move").and_then(|t| t.get_mut(&id)) {
            m.insert("state".into(), json!("posted"));
        }
    }

    pub fn attachments(&self) -> Vec<Value> {
        self.table("ir.attachment")
    }

    pub fn messages(&self) -> Vec<Value> {
        self.table("mail.message")
    }

    fn table(&self, model: &str) -> Vec<Value> {
        let db = self.inner.db.lock().unwrap();
        db.tables.get(model).map(|t| t.values().cloned().map(Value::Object).collect()).unwrap_or_default()
    }

    pub fn shutdown(&self) {
        let _ = self.stop.0.send(true);
    }
}

impl Inner {
    /// Records the call and applies a pending fault: `Some(response)` when the call fails.
    async fn fault(&self, model: &str, method: &str) -> Option<Response> {
        self.calls.lock().unwrap().push((model.to_owned(), method.to_owned()));
        let specific = self
            .method_faults
            .lock()
            .unwrap()
            .get_mut(&(model.to_owned(), method.to_owned()))
            .and_then(VecDeque::pop_front);
        let fault = specific.or_else(|| self.faults.lock().unwrap().pop_front());
        match fault {
            Some(OdooFault::Status(code)) => {
                let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
                Some(
                    (
                        status,
                        format!(
                            "<html><body><h1>{code} {}</h1></body></html>",
                            status.canonical_reason().unwrap_or("")
                        ),
                    )
                        .into_response(),
                )
            }
            Some(OdooFault::Slow(d)) => {
                tokio::time::sleep(d).await;
                None
            }
            None => None,
        }
    }

    fn version(&self) -> Value {
        let v = self.cfg.lock().unwrap().version;
        json!({"server_version": format!("{v}.0"), "server_version_info": [v, 0, 0, "final", 0, ""], "server_serie": format!("{v}.0"), "protocol_version": 1})
    }

    fn common(&self, method: &str, args: &[Value]) -> Result<Value, OdooErr> {
        let cfg = self.cfg.lock().unwrap().clone();
        match method {
            "version" => Ok(self.version()),
            "authenticate" | "login" => {
                let db = args.first().and_then(Value::as_str).unwrap_or_default();
                if db != cfg.database {
                    return Err(OdooErr::DatabaseMissing(format!("FATAL:  database \"{db}\" does not exist\n")));
                }
                let ok = args.get(1).and_then(Value::as_str) == Some(cfg.login.as_str())
                    && matches!(args.get(2).and_then(Value::as_str), Some(p) if p == cfg.password || p == cfg.api_key);
                Ok(if ok { json!(2) } else { json!(false) })
            }
            other => Err(OdooErr::AttributeError(format!("'common' service has no method {other:?}"))),
        }
    }

    fn execute_kw(&self, args: &[Value]) -> Result<(String, String, Value), OdooErr> {
        let cfg = self.cfg.lock().unwrap().clone();
        let db = args.first().and_then(Value::as_str).unwrap_or_default();
        if db != cfg.database {
            return Err(OdooErr::DatabaseMissing(format!("FATAL:  database \"{db}\" does not exist\n")));
        }
        let secret_ok = matches!(args.get(2).and_then(Value::as_str), Some(p) if p == cfg.password || p == cfg.api_key);
        if args.get(1).and_then(Value::as_i64) != Some(2) || !secret_ok {
            return Err(OdooErr::AccessDenied);
        }
        let model = args.get(3).and_then(Value::as_str).unwrap_or_default().to_owned();
        let method = args.get(4).and_then(Value::as_str).unwrap_or_default().to_owned();
        Ok((
            model,
            method,
            json!([args.get(5).cloned().unwrap_or(json!([])), args.get(6).cloned().unwrap_or(json!({}))]),
        ))
    }

    fn run(&self, model: &str, method: &str, args: &[Value], kwargs: &Map<String, Value>) -> Result<Value, OdooErr> {
        self.db.lock().unwrap().call(model, method, args, kwargs)
    }
}

fn debug_of(e: &OdooErr) -> String {
    format!("Traceback (most recent call last):\n  File \"/opt/odoo/odoo/http.py\", line 1, in _serve_db\n    (simulated)\n{}: {}\n", e.name(), e.message())
}

fn jsonrpc_error(id: &Value, e: &OdooErr) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": 200, "message": "Odoo Server Error", "data": {
        "name": e.name(), "debug": debug_of(e), "message": e.message(), "arguments": [e.message()], "context": {}}}})
}

async fn jsonrpc(State(s): State<Arc<Inner>>, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "<html><body>Bad Request: invalid JSON</body></html>").into_response();
    };
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let params = &req["params"];
    let service = params["service"].as_str().unwrap_or_default();
    let method = params["method"].as_str().unwrap_or_default();
    let args = params["args"].as_array().cloned().unwrap_or_default();
    let result = match service {
        "common" => {
            if let Some(r) = s.fault("common", method).await {
                return r;
            }
            s.common(method, &args)
        }
        "object" if method == "execute_kw" => match s.execute_kw(&args) {
            Ok((model, m, rest)) => {
                if let Some(r) = s.fault(&model, &m).await {
                    return r;
                }
                let a = rest[0].as_array().cloned().unwrap_or_default();
                let k = rest[1].as_object().cloned().unwrap_or_default();
                s.run(&model, &m, &a, &k)
            }
            Err(e) => {
                s.calls
                    .lock()
                    .unwrap()
                    .push((args.get(3).and_then(Value::as_str).unwrap_or("").into(), "execute_kw".into()));
                Err(e)
            }
        },
        _ => Err(OdooErr::AttributeError(format!("no such service or method: {service}.{method}"))),
    };
    let answer = match result {
        Ok(v) => json!({"jsonrpc": "2.0", "id": id, "result": v}),
        Err(e) => jsonrpc_error(&id, &e),
    };
    axum::Json(answer).into_response()
}

async fn xmlrpc(State(s): State<Arc<Inner>>, Path(service): Path<String>, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body);
    let xml_response =
        |body: String| ([(axum::http::header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response();
    let (method, args) = match xml::parse_call(&text) {
        Ok(x) => x,
        Err(e) => {
            return xml_response(xml::fault(
                1,
                &format!("Traceback (most recent call last):\nxml.parsers.expat.ExpatError: {e}"),
            ))
        }
    };
    let result = match service.as_str() {
        "common" => {
            if let Some(r) = s.fault("common", &method).await {
                return r;
            }
            s.common(&method, &args)
        }
        "object" if method == "execute_kw" => match s.execute_kw(&args) {
            Ok((model, m, rest)) => {
                if let Some(r) = s.fault(&model, &m).await {
                    return r;
                }
                let a = rest[0].as_array().cloned().unwrap_or_default();
                let k = rest[1].as_object().cloned().unwrap_or_default();
                s.run(&model, &m, &a, &k)
            }
            Err(e) => Err(e),
        },
        _ => Err(OdooErr::AttributeError(format!("no such service: {service}"))),
    };
    match result {
        Ok(v) => xml_response(xml::response(&v)),
        // Odoo's /xmlrpc/2 codes: 3 AccessDenied, 4 AccessError, 2 warnings (UserError…), 1 the rest.
        Err(OdooErr::AccessDenied) => xml_response(xml::fault(3, "Access Denied")),
        Err(e @ (OdooErr::UserError(_) | OdooErr::ValidationError(_) | OdooErr::MissingError(_))) => {
            xml_response(xml::fault(2, &e.message()))
        }
        Err(e) => xml_response(xml::fault(1, &debug_of(&e))),
    }
}

async fn json2(
    State(s): State<Arc<Inner>>,
    Path((model, method)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let cfg = s.cfg.lock().unwrap().clone();
    let error = |status: StatusCode, e: &OdooErr| {
        (status, axum::Json(json!({"name": e.name(), "message": e.message(), "arguments": [e.message()], "context": {}, "debug": debug_of(e)}))).into_response()
    };
    if cfg.version < 19 {
        return (StatusCode::NOT_FOUND, "<html><body>404 Not Found</body></html>").into_response();
    }
    let key = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bearer ").or_else(|| v.strip_prefix("Bearer ")));
    if key != Some(cfg.api_key.as_str()) {
        s.calls.lock().unwrap().push((model.clone(), method.clone()));
        return error(StatusCode::UNAUTHORIZED, &OdooErr::AccessDenied);
    }
    if let Some(r) = s.fault(&model, &method).await {
        return r;
    }
    let mut kwargs = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(m)) => m,
        _ => return error(StatusCode::BAD_REQUEST, &OdooErr::ValueError("the body must be a JSON object".into())),
    };
    let args = match kwargs.remove("ids") {
        Some(ids) => vec![ids],
        None => vec![],
    };
    match s.run(&model, &method, &args, &kwargs) {
        Ok(v) => axum::Json(v).into_response(),
        Err(e @ OdooErr::AccessDenied) => error(StatusCode::UNAUTHORIZED, &e),
        Err(e @ (OdooErr::UserError(_) | OdooErr::ValidationError(_))) => error(StatusCode::UNPROCESSABLE_ENTITY, &e),
        Err(e @ (OdooErr::MissingError(_) | OdooErr::KeyError(_))) => error(StatusCode::NOT_FOUND, &e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}
