//! The HTTP side: `/jsonrpc` and `/xmlrpc/2/<service>` (17 and 18; refused as 19, see
//! [`super::OdooSim::deprecated_calls`]), `/json/2/<model>/<method>` and `GET /web/version` (19
//! on), the web client's `/web/webclient/version_info` (every series), the fault switches, and a connection loop that can close a connection without answering.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use super::error::{Kind, OdooError};
use super::service::{self, ADMIN_UID};
use super::{xml, OdooFault, Shared};

/// How many calls the log keeps.
const MAX_CALLS: usize = 100_000;

/// Closes the connection a request came on (the `Drop` fault).
#[derive(Clone)]
struct Killer(Arc<Notify>);

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/jsonrpc", post(jsonrpc))
        .route("/xmlrpc/2/{service}", post(xmlrpc))
        .route("/json/2/{model}/{method}", post(json2))
        .route("/web/version", get(web_version).post(web_version))
        .route("/web/webclient/version_info", post(webclient_version_info))
        .route("/web/login", get(web_login))
        .with_state(shared)
}

/// Accepts connections until `stop`; each is served by hyper and dropped at once when a
/// handler asks for it.
/// With `tls`, each connection is TLS first (HTTPS).
pub(super) async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("odoo simulator: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = async { drop(stop.wait_for(|s| *s).await) } => return,
        };
        let kill = Arc::new(Notify::new());
        let app = app.clone().layer(Extension(Killer(kill.clone())));
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(stream, app, kill).await,
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => serve_connection(stream, app, kill).await,
                    // A client that refuses the certificate ends here (what the agent's TLS tests see).
                    Err(e) => tracing::debug!("odoo simulator: TLS handshake failed: {e}"),
                },
            }
        });
    }
}

async fn serve_connection<S>(stream: S, app: Router, kill: Arc<Notify>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper_util::service::TowerToHyperService::new(app);
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::select! {
        _ = conn => {}
        _ = kill.notified() => {} // dropping the connection closes the socket
    }
}

impl Shared {
    /// One JSON-RPC or XML-RPC call: logged, its queued fault applied (`Err`: the fault's answer),
    /// then dispatched to its end even if the client goes away meanwhile.
    async fn rpc(
        self: &Arc<Self>,
        service: String,
        method: String,
        args: Vec<Value>,
        killer: &Killer,
    ) -> Result<Result<Value, OdooError>, Response> {
        let (model, m) = match service.as_str() {
            "object" => service::object_target(&method, &args),
            _ => (service.clone(), method.clone()),
        };
        let delay = self.intercept(&model, &m, killer).await?;
        let call = self.clone();
        Ok(detached(async move { call.dispatch(&service, &method, &args, delay).await }).await)
    }

    /// Logs the call, then applies the next fault queued for it: `Err(response)` when the fault
    /// answers instead, `Ok(Some(delay))` when the call must take that long.
    async fn intercept(&self, model: &str, method: &str, killer: &Killer) -> Result<Option<Duration>, Response> {
        tracing::info!(model, method, "odoo");
        {
            let mut calls = self.calls.lock().unwrap();
            // A simulator left running (the demo) keeps the latest calls only.
            if calls.len() >= MAX_CALLS {
                calls.drain(..MAX_CALLS / 10);
            }
            calls.push((model.to_owned(), method.to_owned()));
        }
        let _ = self.held.subscribe().wait_for(|held| !held).await;
        let latency = *self.latency.lock().unwrap();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let specific = self
            .method_faults
            .lock()
            .unwrap()
            .get_mut(&(model.to_owned(), method.to_owned()))
            .and_then(std::collections::VecDeque::pop_front);
        let fault = specific.or_else(|| self.faults.lock().unwrap().pop_front());
        let Some(fault) = fault else { return Ok(None) };
        match fault {
            OdooFault::Status(code) => {
                let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
                let title = format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or(""));
                let body = format!(
                    "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
                );
                Err((status, [(header::CONTENT_TYPE, "text/html")], body).into_response())
            }
            OdooFault::Refused { status, retry_after_secs, body } => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                let mut r = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
                if let Some(s) = retry_after_secs {
                    r.headers_mut().insert(header::RETRY_AFTER, s.into());
                }
                Err(r)
            }
            OdooFault::Slow(d) => Ok(Some(d)),
            OdooFault::Answer(text) => {
                let result: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
                Err(json_response(StatusCode::OK, &serde_json::json!({"jsonrpc": "2.0", "id": null, "result": result})))
            }
            OdooFault::Huge(n) => {
                let result = Value::String(" ".repeat(n));
                Err(json_response(StatusCode::OK, &serde_json::json!({"jsonrpc": "2.0", "id": null, "result": result})))
            }
            OdooFault::Drop => {
                killer.0.notify_one();
                std::future::pending::<()>().await;
                Ok(None)
            }
        }
    }
}

/// Runs a call to its end even when the client goes away meanwhile, as Odoo does: a request it
/// received is committed whether or not anyone reads the answer.
async fn detached<T: Send + 'static>(call: impl std::future::Future<Output = T> + Send + 'static) -> T {
    tokio::spawn(call).await.expect("a simulated Odoo call panicked")
}

fn html(status: StatusCode, text: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], text.to_owned()).into_response()
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], v.to_string()).into_response()
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| matches!(m.trim(), "application/json" | "application/json-rpc"))
}

/// Odoo 19 logs "The /xmlrpc, /xmlrpc/2 and /jsonrpc endpoints are deprecated in Odoo 19 and
/// scheduled for removal in Odoo 20" and Odoo 20 answers 404: the simulator as 19 records the
/// call and answers as 20 will, so nothing that still needs those endpoints passes a test.
fn refuse_deprecated(s: &Shared, path: &str) -> Option<Response> {
    if s.cfg.lock().unwrap().version < 19 {
        return None;
    }
    tracing::warn!(path, "odoo simulator as 19: deprecated endpoint called (removed in Odoo 20)");
    s.deprecated.lock().unwrap().push(path.to_owned());
    Some(html(
        StatusCode::NOT_FOUND,
        "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The /xmlrpc, /xmlrpc/2 and /jsonrpc endpoints are deprecated in Odoo 19 and scheduled for removal in Odoo 20 (this simulator of Odoo 19 refuses them): use JSON-2, /json/2/&lt;model&gt;/&lt;method&gt;.</p>\n",
    ))
}

async fn jsonrpc(
    State(s): State<Arc<Shared>>,
    Extension(killer): Extension<Killer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = refuse_deprecated(&s, "/jsonrpc") {
        return refused;
    }
    if !is_json(&headers) {
        return html(
            StatusCode::BAD_REQUEST,
            "<!doctype html>\n<html lang=en>\n<title>400 Bad Request</title>\n<h1>Bad Request</h1>\n<p>Request inferred type is compatible with [&#39;http&#39;] but &#39;/jsonrpc&#39; is type=&#39;json&#39;.</p>\n",
        );
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return html(StatusCode::BAD_REQUEST, "Invalid JSON data");
    };
    let Some(request) = request.as_object() else {
        return html(StatusCode::BAD_REQUEST, "Invalid JSON-RPC data");
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let params = request.get("params").cloned().unwrap_or(json!({}));
    let service = params.get("service").and_then(Value::as_str).unwrap_or_default().to_owned();
    let method = params.get("method").and_then(Value::as_str).unwrap_or_default().to_owned();
    let args = params.get("args").and_then(Value::as_array).cloned().unwrap_or_default();
    let result = match s.rpc(service, method, args, &killer).await {
        Ok(result) => result,
        Err(r) => return r,
    };
    let mut answer = json!({"jsonrpc": "2.0", "id": id});
    match result {
        // A method returning None: Odoo leaves `result` out.
        Ok(Value::Null) => {}
        Ok(v) => answer["result"] = v,
        Err(e) => answer["error"] = e.jsonrpc(),
    }
    json_response(StatusCode::OK, &answer)
}

fn xml_response(text: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], text).into_response()
}

async fn xmlrpc(
    State(s): State<Arc<Shared>>,
    Extension(killer): Extension<Killer>,
    Path(service): Path<String>,
    body: Bytes,
) -> Response {
    if let Some(refused) = refuse_deprecated(&s, &format!("/xmlrpc/2/{service}")) {
        return refused;
    }
    let text = String::from_utf8_lossy(&body);
    let (method, args) = match xml::parse_call(&text) {
        Ok(call) => call,
        Err(e) => {
            let e = OdooError::new(Kind::Exception, e);
            let traceback = e.traceback().replace("Exception: ", "xml.parsers.expat.ExpatError: ");
            return xml_response(xml::fault(1, &traceback));
        }
    };
    let result = match s.rpc(service, method, args, &killer).await {
        Ok(result) => result,
        Err(r) => return r,
    };
    match result {
        Ok(v) => match xml::response(&v) {
            Some(text) => xml_response(text),
            // Done and committed, but Python cannot marshal the None it returned.
            None => {
                let e = OdooError::type_error("cannot marshal None unless allow_none is enabled");
                xml_response(xml::fault(1, &e.traceback()))
            }
        },
        Err(e) => {
            let (code, text) = e.xmlrpc_fault();
            xml_response(xml::fault(code, &text))
        }
    }
}

async fn json2(
    State(s): State<Arc<Shared>>,
    Extension(killer): Extension<Killer>,
    Path((model, method)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let cfg = s.cfg.lock().unwrap().clone();
    if cfg.version < 19 {
        // Before 19, /json/<path> is the web client's, which sends strangers to the login page.
        let location = format!("/web/login?redirect=%2Fjson%2F2%2F{model}%2F{method}%3F");
        return (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, location.clone()), (header::CONTENT_TYPE, "text/html; charset=utf-8".into())],
            format!("<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n<p>You should be redirected automatically to the target URL: <a href=\"{location}\">{location}</a>. If not, click the link.\n"),
        )
            .into_response();
    }
    if let Some(db) = headers.get("x-odoo-database").and_then(|v| v.to_str().ok()) {
        if db != cfg.database {
            return html(
                StatusCode::NOT_FOUND,
                "<!DOCTYPE html>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>No database is selected and the requested URL was not found in the server-wide controllers.</p>\n<p>Please verify the hostname, <a href=/web/login>login</a> and try again.</p>\n\n<!-- Alternatively, use the X-Odoo-Database header. -->\n",
            );
        }
    }
    let delay = match s.intercept(&model, &method, &killer).await {
        Ok(delay) => delay,
        Err(r) => return r,
    };
    let error = |e: OdooError| {
        let status = StatusCode::from_u16(e.json2_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = json_response(status, &e.json2_body());
        if e.kind == Kind::Unauthorized {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        r
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(char::is_whitespace))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim().to_owned());
    match token {
        None => {
            return error(OdooError::new(
                Kind::Unauthorized,
                "User not authenticated, use the \"Authorization\" header",
            ))
        }
        Some(key) if key.is_empty() || key != cfg.api_key => {
            return error(OdooError::new(Kind::Unauthorized, "Invalid apikey"))
        }
        Some(_) => {}
    }
    let body = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => v,
            Err(e) => return error(OdooError::new(Kind::BadRequest, format!("could not parse the body as json: {e}"))),
        }
    };
    let call = s.clone();
    let result = detached(async move {
        call.transact(delay, |db| service::json2(db, ADMIN_UID, &model, &method, body.clone())).await
    })
    .await;
    match result {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => error(e),
    }
}

/// `GET /web/version`: Odoo 19's (its `rpc` module); 17 and 18 have no such route.
async fn web_version(State(s): State<Arc<Shared>>) -> Response {
    let cfg = s.cfg.lock().unwrap().clone();
    if cfg.version < 19 {
        return html(
            StatusCode::NOT_FOUND,
            "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n",
        );
    }
    let v = service::version(&cfg);
    json_response(StatusCode::OK, &json!({"version_info": v["server_version_info"], "version": v["server_version"]}))
}

/// `POST /web/webclient/version_info`: the web client's own JSON-RPC route (`auth="none"`) on
/// every series, answering `common.version`'s dict; logged as `("web", "version_info")` (its
/// faults too). Not the external `/jsonrpc` endpoint: Odoo 19 does not deprecate it.
async fn webclient_version_info(
    State(s): State<Arc<Shared>>,
    Extension(killer): Extension<Killer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_json(&headers) {
        return html(
            StatusCode::BAD_REQUEST,
            "<!doctype html>\n<html lang=en>\n<title>400 Bad Request</title>\n<h1>Bad Request</h1>\n<p>Request inferred type is compatible with [&#39;http&#39;] but &#39;/web/webclient/version_info&#39; is type=&#39;json&#39;.</p>\n",
        );
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return html(StatusCode::BAD_REQUEST, "Invalid JSON data");
    };
    match s.intercept("web", "version_info", &killer).await {
        Ok(Some(delay)) => tokio::time::sleep(delay).await,
        Ok(None) => {}
        Err(r) => return r,
    }
    let cfg = s.cfg.lock().unwrap().clone();
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    json_response(StatusCode::OK, &json!({"jsonrpc": "2.0", "id": id, "result": service::version(&cfg)}))
}

async fn web_login() -> Response {
    html(StatusCode::OK, "<!DOCTYPE html>\n<html><head><title>Odoo</title></head><body><form class=\"oe_login_form\" action=\"/web/login\" method=\"post\"></form></body></html>\n")
}
