//! The simulator's HTTP side: the token endpoint, the API under `/payroll`, and `/_sim/…`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use rand::distributions::{Alphanumeric, DistString};
use serde_json::{json, Map, Value};

use super::samples::Month;
use super::{Fault, RecordedRequest, Shared, Task};

pub(super) const TOKEN_PATH: &str = "/oauth2/v2.0/token";

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(TOKEN_PATH, post(token))
        .route("/payroll/{*rest}", any(api))
        .route("/_sim/faults", post(control))
        .route("/_sim/requests", get(recorded))
        .route("/_sim/counters", get(counters))
        .with_state(shared)
}

// ---------------------------------------------------------------------------------------------
// The token endpoint, answering as Azure AD's v2.0 endpoint does.

async fn token(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    s.state().token_requests += 1;
    let form = parse_form(&body);
    let (status, answer) = token_answer(&s, &form);
    let logged: Map<String, Value> = form
        .iter()
        .map(|(k, v)| {
            let v = if k == "client_secret" { "<redacted>" } else { v.as_str() };
            (k.clone(), Value::from(v))
        })
        .collect();
    s.record(recorded_request(&Method::POST, TOKEN_PATH, &headers, Value::Object(logged), status));
    (status, Json(answer)).into_response()
}

fn token_answer(s: &Shared, form: &HashMap<String, String>) -> (StatusCode, Value) {
    let missing = |name: &str| {
        aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("AADSTS900144: The request body must contain the following parameter: '{name}'."),
        )
    };
    {
        let mut state = s.state();
        if state.token_faults > 0 {
            state.token_faults -= 1;
            return invalid_client_secret();
        }
    }
    let field = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
    match field("grant_type") {
        None => return missing("grant_type"),
        Some("client_credentials") => {}
        Some(_) => {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "AADSTS70003: The app requested an unsupported grant type.",
            )
        }
    }
    let Some(client_id) = field("client_id") else { return missing("client_id") };
    let Some(scope) = field("scope") else { return missing("scope") };
    if !scope.split(' ').any(|s| s.ends_with("/.default")) {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a scope \
             value with /.default suffixed to the resource identifier (application ID URI).",
        );
    }
    if client_id != s.cfg.client_id {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS700016: Application with the identifier given was not found in the directory. This can happen \
             if the application has not been installed by the administrator of the tenant.",
        );
    }
    match field("client_secret") {
        None => aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or \
             'client_secret'.",
        ),
        Some(secret) if secret != s.cfg.client_secret => invalid_client_secret(),
        Some(_) => {
            let access_token = Alphanumeric.sample_string(&mut rand::thread_rng(), 64);
            let mut state = s.state();
            let ttl = state.token_ttl_secs;
            let now = Instant::now();
            state.tokens.retain(|_, until| *until > now);
            // A huge ttl (a test of the agent's clamping) must not overflow here either.
            let until =
                now.checked_add(Duration::from_secs(ttl)).unwrap_or(now + Duration::from_secs(u64::from(u32::MAX)));
            state.tokens.insert(access_token.clone(), until);
            let answer =
                json!({"token_type": "Bearer", "expires_in": ttl, "ext_expires_in": ttl, "access_token": access_token});
            (StatusCode::OK, answer)
        }
    }
}

fn invalid_client_secret() -> (StatusCode, Value) {
    aad_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client \
         secret value, not the client secret ID, for a secret added to app.",
    )
}

fn aad_error(status: StatusCode, error: &str, description: &str) -> (StatusCode, Value) {
    (status, json!({"error": error, "error_description": description, "error_codes": [aadsts_code(description)]}))
}

fn aadsts_code(description: &str) -> u64 {
    description.strip_prefix("AADSTS").and_then(|d| d.split(':').next()).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// `application/x-www-form-urlencoded` fields; the first of a repeated name wins.
fn parse_form(body: &[u8]) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        fields.entry(percent_decode(k)).or_insert_with(|| percent_decode(v));
    }
    fields
}

fn percent_decode(text: &[u8]) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < text.len() => match (hex(text[i + 1]), hex(text[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------------
// The payroll API.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    EcrituresComptables4,
    EcrituresComptables4Asynchrone,
    StatutEcrituresComptables4Asynchrone,
    DossierRecupererPeriodeEnCours,
    ListeDossiers,
    ListeEtablissementsDossierPaie,
}

impl Operation {
    fn of(method: &Method, path: &str) -> Option<Operation> {
        let path = path.trim_end_matches('/');
        if method == Method::GET {
            let status = "/payroll/v1/EcrituresComptables/StatutEcrituresComptables4Asynchrone";
            return (path == status).then_some(Operation::StatutEcrituresComptables4Asynchrone);
        }
        if method != Method::POST {
            return None;
        }
        match path {
            "/payroll/v1/EcrituresComptables/EcrituresComptables4Asynchrone" => {
                Some(Operation::EcrituresComptables4Asynchrone)
            }
            "/payroll/v1/EcrituresComptables/EcrituresComptables4" => Some(Operation::EcrituresComptables4),
            "/payroll/v1/InfosTechniquesDossiers/DossierRecupererPeriodeEnCours" => {
                Some(Operation::DossierRecupererPeriodeEnCours)
            }
            "/payroll/v1/InfosTechniquesDossiers/ListeDossiers" => Some(Operation::ListeDossiers),
            "/payroll/v1/FicheSociete/ListeEtablissementsDossierPaie" => {
                Some(Operation::ListeEtablissementsDossierPaie)
            }
            _ => None,
        }
    }
}

/// An error answer of the API.
struct Failure {
    status: StatusCode,
    body: Value,
}

impl Failure {
    /// An `ApiErrors` body.
    fn api(status: StatusCode, code: &str, message: &str, source: &str, recoverable: bool) -> Failure {
        let body =
            json!({"errors": [{"code": code, "message": message}], "recoverable": recoverable, "source": source});
        Failure { status, body }
    }

    /// A request the API refuses (`source: "Api"`, HTTP 400 unless told).
    fn invalid(code: &str, message: &str) -> Failure {
        Failure::api(StatusCode::BAD_REQUEST, code, message, "Api", true)
    }

    /// API Management's own `{"statusCode": …, "message": …}`.
    fn gateway(status: StatusCode, message: &str) -> Failure {
        Failure { status, body: json!({"statusCode": status.as_u16(), "message": message}) }
    }

    fn into_parts(self) -> (StatusCode, Bytes) {
        (self.status, Bytes::from(self.body.to_string()))
    }
}

async fn api(State(s): State<Arc<Shared>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    s.state().api_requests += 1;
    let path = uri.path().to_owned();
    // Answering runs on its own task, so that a client giving up (a timeout during a `Slow`
    // fault) still leaves the request in the log with what it would have got.
    let task = tokio::spawn(async move {
        let (status, extra, bytes) = match Operation::of(&method, &path) {
            None => {
                let (status, bytes) = Failure::gateway(StatusCode::NOT_FOUND, "Resource not found").into_parts();
                (status, None, bytes)
            }
            Some(op) => answer(&s, op, uri.query(), &headers, &body).await,
        };
        let logged = serde_json::from_slice(&body).unwrap_or(Value::Null);
        s.record(recorded_request(&method, &path, &headers, logged, status));
        let mut response = (status, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], bytes).into_response();
        if let Some((name, value)) = extra {
            response.headers_mut().insert(name, value);
        }
        if status.is_success() {
            let (primary, secondary) = s.state().key_expiration_warnings.clone();
            for (name, value) in
                [("x-primarykeyexpirationwarning", primary), ("x-secondarykeyexpirationwarning", secondary)]
            {
                if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                    response.headers_mut().insert(name, v);
                }
            }
        }
        response
    });
    task.await.unwrap_or_else(|e| {
        let message = format!("the simulator failed: {e}");
        (StatusCode::INTERNAL_SERVER_ERROR, message).into_response()
    })
}

type ExtraHeader = Option<(header::HeaderName, HeaderValue)>;

/// The gate (subscription key, token), then the fault due, then the operation.
async fn answer(
    s: &Shared,
    op: Operation,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> (StatusCode, ExtraHeader, Bytes) {
    if let Err(f) = gate(s, headers) {
        let (status, bytes) = f.into_parts();
        return (status, None, bytes);
    }
    let fault = s.state().faults.pop_front();
    let mut spoil = None;
    match fault {
        None | Some(Fault::ExpireTokens | Fault::TokenError) => {}
        Some(Fault::TooManyRequests { retry_after_secs }) => {
            let message = format!("Rate limit is exceeded. Try again in {retry_after_secs} seconds.");
            let (status, bytes) = Failure::gateway(StatusCode::TOO_MANY_REQUESTS, &message).into_parts();
            return (status, Some((header::RETRY_AFTER, HeaderValue::from(retry_after_secs))), bytes);
        }
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let reason = status.canonical_reason().unwrap_or("Server Error").replace(' ', "");
            let message = format!("Erreur simulée : HTTP {} ({reason}).", status.as_u16());
            let (status, bytes) = Failure::api(status, &reason, &message, "Server", true).into_parts();
            return (status, None, bytes);
        }
        Some(Fault::Unrecoverable) => {
            let message = "La configuration API utilisée est en erreur : les appels suivants seront bloqués. \
                           Corrigez-la dans le portail API de Silae.";
            let (status, bytes) =
                Failure::api(StatusCode::UNAUTHORIZED, "ConfigurationApiInvalide", message, "Api", false).into_parts();
            return (status, None, bytes);
        }
        Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
        Some(f @ (Fault::Truncated | Fault::InvalidJson)) => spoil = Some(f),
    }
    let (status, bytes) = match operation(s, op, query, headers, body).await {
        Ok(answer) => answer,
        Err(f) => f.into_parts(),
    };
    match spoil {
        Some(Fault::InvalidJson) => (StatusCode::OK, None, Bytes::from_static(b"{\"numeroDossier\": ")),
        Some(_) => (status, None, bytes.slice(..bytes.len() / 2)),
        None => (status, None, bytes),
    }
}

/// API Management's checks: the subscription key first, then the bearer token.
fn gate(s: &Shared, headers: &HeaderMap) -> Result<(), Failure> {
    match headers.get("ocp-apim-subscription-key") {
        None => {
            return Err(Failure::gateway(
                StatusCode::UNAUTHORIZED,
                "Access denied due to missing subscription key. Make sure to include subscription key when making \
                 requests to an API.",
            ))
        }
        Some(k) if k.as_bytes() != s.cfg.subscription_key.as_bytes() => {
            return Err(Failure::gateway(
                StatusCode::UNAUTHORIZED,
                "Access denied due to invalid subscription key. Make sure to provide a valid key for an active \
                 subscription.",
            ))
        }
        Some(_) => {}
    }
    let unauthorized = |message: &str| Failure::api(StatusCode::UNAUTHORIZED, "Unauthorized", message, "Proxy", true);
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized("Le jeton d'accès est absent (en-tête Authorization: Bearer <jeton>)."));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(unauthorized("L'en-tête Authorization doit être de la forme « Bearer <jeton> »."));
    };
    let valid = s.state().tokens.get(token).is_some_and(|until| *until > Instant::now());
    if valid {
        Ok(())
    } else {
        Err(unauthorized("Le jeton d'accès est invalide ou expiré."))
    }
}

async fn operation(
    s: &Shared,
    op: Operation,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(StatusCode, Bytes), Failure> {
    if op == Operation::StatutEcrituresComptables4Asynchrone {
        return task_status(s, query).await;
    }
    let request = json_object(headers, body)?;
    let ok = |bytes: Bytes| Ok((StatusCode::OK, bytes));
    match op {
        Operation::StatutEcrituresComptables4Asynchrone => unreachable!("answered above"),
        Operation::EcrituresComptables4 => {
            let (numero, month, analytic) = ecritures_request(s, &request, headers)?;
            let delay = s.state().journal_delays.get(&numero).copied();
            if let Some(d) = delay {
                // A dossier too big to compute within one request.
                tokio::time::sleep(d).await;
            }
            ok(ecritures(s, numero, month, analytic).await?)
        }
        Operation::EcrituresComptables4Asynchrone => {
            let (numero, month, analytic) = ecritures_request(s, &request, headers)?;
            let guid = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
            let mut state = s.state();
            let plan = state.async_plans.get(&numero).cloned().unwrap_or_default();
            let task = Task { numero, month, analytic, polls_left: plan.polls, fail: plan.fail, polls: 0 };
            state.tasks.insert(guid.clone(), task);
            Ok((StatusCode::ACCEPTED, Bytes::from(json!({"guidTache": guid}).to_string())))
        }
        Operation::DossierRecupererPeriodeEnCours => {
            let numero = dossier_in_scope(s, &request, headers)?;
            let periode = s.periode_en_cours(&numero);
            ok(Bytes::from(json!({"periodeEnCours": periode.first_day()}).to_string()))
        }
        Operation::ListeEtablissementsDossierPaie => {
            let numero = dossier_in_scope(s, &request, headers)?;
            let set = s.state().etablissements.get(&numero).cloned();
            ok(set.unwrap_or_else(|| Bytes::from(json!({"informationsEtablissements": []}).to_string())))
        }
        Operation::ListeDossiers => {
            let _type_dossiers = int_field(&request, "typeDossiers")?;
            let etat = int_field(&request, "etatDossier")?;
            let liste: Vec<&Value> = s
                .samples
                .dossiers
                .iter()
                .filter(|d| etat.is_none_or(|e| d["etatDossier"].as_i64() == Some(e)))
                .collect();
            ok(Bytes::from(json!({"listeDossiers": liste}).to_string()))
        }
    }
}

/// An `EcrituresComptables4Request` checked: the dossier, the month asked, and whether every
/// analytic repartition is asked for (`avecToutesLesRepartitionsAnalytiques`, absent = false).
fn ecritures_request(
    s: &Shared,
    request: &Map<String, Value>,
    headers: &HeaderMap,
) -> Result<(String, Month, bool), Failure> {
    let numero = dossier_in_scope(s, request, headers)?;
    let debut = date_time(request, "periodeDebut")?
        .ok_or_else(|| Failure::invalid("ValidationError", "Le champ periodeDebut est obligatoire."))?;
    if let Some(fin) = date_time(request, "periodeFin")? {
        if fin.1 < debut.1 {
            let message = "Le champ periodeFin ne peut pas précéder periodeDebut.";
            return Err(Failure::invalid("ValidationError", message));
        }
    }
    let analytic = match request.get("avecToutesLesRepartitionsAnalytiques") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            let message = "Le champ avecToutesLesRepartitionsAnalytiques doit être un booléen.";
            return Err(Failure::invalid("ValidationError", message));
        }
    };
    Ok((numero, debut.0, analytic))
}

/// `StatutEcrituresComptables4Asynchrone?guidTache=…`: 202 while the task runs (one poll less
/// each time), then 200 with the journal, or 200 with `statut: "Erreur"` and `messageErreur`.
async fn task_status(s: &Shared, query: Option<&str>) -> Result<(StatusCode, Bytes), Failure> {
    let fields = parse_form(query.unwrap_or_default().as_bytes());
    let Some(guid) = fields.get("guidTache").filter(|g| !g.is_empty()) else {
        return Err(Failure::invalid("ValidationError", "Le paramètre guidTache est obligatoire."));
    };
    let (numero, month, analytic) = {
        let mut state = s.state();
        let Some(task) = state.tasks.get_mut(guid) else {
            let message = format!("La tâche {guid} est inconnue ou expirée.");
            return Err(Failure::invalid("TacheInconnue", &message));
        };
        task.polls += 1;
        if task.polls_left > 0 {
            task.polls_left -= 1;
            let progression = 100.0 * f64::from(task.polls) / f64::from(task.polls + task.polls_left + 1);
            let body = json!({"statut": "EnCours", "progression": progression.round(), "dureeExecution": "00:00:01"});
            return Ok((StatusCode::ACCEPTED, Bytes::from(body.to_string())));
        }
        if let Some(message) = &task.fail {
            let body =
                json!({"statut": "Erreur", "messageErreur": message, "progression": 100, "dureeExecution": "00:00:02"});
            return Ok((StatusCode::OK, Bytes::from(body.to_string())));
        }
        (task.numero.clone(), task.month, task.analytic)
    };
    let journal = ecritures(s, numero, month, analytic).await?;
    let journal: Value =
        serde_json::from_slice(&journal).unwrap_or(Value::String(String::from_utf8_lossy(&journal).into()));
    let body =
        json!({"statut": "Termine", "progression": 100, "dureeExecution": "00:00:03", "ecrituresComptables": journal});
    Ok((StatusCode::OK, Bytes::from(body.to_string())))
}

/// The dossier's payload for the month: set by a test, else its sample file, else no entries.
/// Asked without every analytic repartition, the lines of a split account come as one line at
/// its whole amount (see [`without_repartitions`]).
async fn ecritures(s: &Shared, numero: String, month: Month, analytic: bool) -> Result<Bytes, Failure> {
    let bytes = payload(s, numero, month).await?;
    Ok(if analytic { bytes } else { without_repartitions(bytes) })
}

async fn payload(s: &Shared, numero: String, month: Month) -> Result<Bytes, Failure> {
    let key = (numero, month);
    if let Some(bytes) = s.state().payloads.get(&key) {
        return Ok(bytes.clone());
    }
    match s.samples.files.get(&key) {
        Some(path) => tokio::fs::read(path).await.map(Bytes::from).map_err(|e| {
            let message = format!("Le simulateur ne peut pas lire {} : {e}", path.display());
            Failure::api(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", &message, "Server", true)
        }),
        None => {
            let (numero, month) = key;
            let empty = json!({"numeroDossier": numero, "periodeDebut": month.first_day(),
                               "periodeFin": month.last_day(), "ruptures": []});
            Ok(Bytes::from(empty.to_string()))
        }
    }
}

/// The journal as `avecToutesLesRepartitionsAnalytiques: false` gives it (docs/silae.md): the
/// lines of one account split over analytic repartitions (`indexRepartition` 1, 2…) become one
/// line (`indexRepartition` 0, `pctRepartition` 100) at their summed amount; the rupture's
/// totals are unchanged. A payload that is not such a journal is served as it is.
fn without_repartitions(bytes: Bytes) -> Bytes {
    let Ok(mut journal) = serde_json::from_slice::<Value>(&bytes) else { return bytes };
    let Some(ruptures) = journal.get_mut("ruptures").and_then(Value::as_array_mut) else { return bytes };
    for rupture in ruptures {
        let Some(lines) = rupture.get_mut("ecritures").and_then(Value::as_array_mut) else { continue };
        let mut merged: Vec<Value> = Vec::new();
        let mut cents: Vec<i64> = Vec::new();
        for line in lines.iter() {
            let split = line.get("indexRepartition").and_then(Value::as_i64).is_some_and(|i| i > 0);
            let amount = (line.get("valeur").and_then(Value::as_f64).unwrap_or(0.0) * 100.0).round() as i64;
            let same = |m: &Value| {
                ["codeJournal", "periode", "compte", "libelle", "sens"].iter().all(|k| m.get(*k) == line.get(*k))
                    && m.get("indexRepartition").and_then(Value::as_i64) == Some(0)
            };
            match merged.iter().position(|m| split && same(m)) {
                Some(i) => cents[i] += amount,
                None => {
                    let mut one = line.clone();
                    if split {
                        one["indexRepartition"] = json!(0);
                        one["pctRepartition"] = json!(100.0);
                    }
                    merged.push(one);
                    cents.push(amount);
                }
            }
        }
        for (line, c) in merged.iter_mut().zip(&cents) {
            line["valeur"] = json!(*c as f64 / 100.0);
        }
        *lines = merged;
    }
    Bytes::from(journal.to_string())
}

/// The body as a JSON object (the spec's operations all take one).
fn json_object(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, Failure> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media != "application/json" && !media.ends_with("+json") {
        let message = format!(
            "Le type de contenu « {content_type} » n'est pas pris en charge : envoyez du JSON (Content-Type: \
             application/json)."
        );
        return Err(Failure::api(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType", &message, "Api", true));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Failure::invalid("ValidationError", "Le corps de la requête est absent."));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Failure::invalid("ValidationError", "Le corps de la requête doit être un objet JSON.")),
        Err(e) => {
            let message = format!("Le corps de la requête n'est pas du JSON valide : {e}.");
            Err(Failure::invalid("ValidationError", &message))
        }
    }
}

/// `numeroDossier`, known, and listed in the `dossiers` header when there is one.
fn dossier_in_scope(s: &Shared, request: &Map<String, Value>, headers: &HeaderMap) -> Result<String, Failure> {
    let numero = match request.get("numeroDossier") {
        None | Some(Value::Null) => {
            return Err(Failure::invalid("ValidationError", "Le champ numeroDossier est obligatoire."));
        }
        Some(Value::String(n)) if !n.trim().is_empty() => n.trim().to_owned(),
        Some(Value::String(_)) => {
            return Err(Failure::invalid("ValidationError", "Le champ numeroDossier ne peut pas être vide."));
        }
        Some(_) => {
            let message = "Le champ numeroDossier doit être une chaîne de caractères.";
            return Err(Failure::invalid("ValidationError", message));
        }
    };
    let listed = headers.get("dossiers").map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    // The spec does not ask for a `dossiers` header: a request without one is served; one that
    // has it must list the dossier (Silae's documented scoping of a partner's dossiers).
    match listed.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        None => {}
        Some(l) if !l.split(',').any(|d| d.trim() == numero) => {
            let message = format!("Le dossier {numero} n'est pas dans l'en-tête « dossiers » ({l}).");
            return Err(Failure::invalid("DossierNonAutorise", &message));
        }
        Some(_) => {}
    }
    if !s.samples.is_known(&numero) {
        let message = format!("Le dossier {numero} n'existe pas ou n'est pas accessible avec cette configuration.");
        return Err(Failure::invalid("DossierInconnu", &message));
    }
    Ok(numero)
}

/// An optional `date-time` field: its month and its `YYYY-MM-DD`.
fn date_time(request: &Map<String, Value>, name: &str) -> Result<Option<(Month, String)>, Failure> {
    match request.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => match Month::of_date_time(text) {
            Some(month) => Ok(Some((month, text[..10].to_owned()))),
            None => {
                let message = format!("Le champ {name} n'est pas une date valide (AAAA-MM-JJTHH:MM:SS) : « {text} ».");
                Err(Failure::invalid("ValidationError", &message))
            }
        },
        Some(_) => Err(Failure::invalid("ValidationError", &format!("Le champ {name} doit être une date (chaîne)."))),
    }
}

fn int_field(request: &Map<String, Value>, name: &str) -> Result<Option<i64>, Failure> {
    match request.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64().filter(|n| i32::try_from(*n).is_ok()) {
            Some(n) => Ok(Some(n)),
            None => Err(Failure::invalid("ValidationError", &format!("Le champ {name} doit être un entier."))),
        },
    }
}

fn recorded_request(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: Value,
    status: StatusCode,
) -> RecordedRequest {
    RecordedRequest {
        method: method.as_str().to_owned(),
        path: path.to_owned(),
        authorization: headers.contains_key(header::AUTHORIZATION),
        subscription_key: headers.contains_key("ocp-apim-subscription-key"),
        dossiers: headers.get("dossiers").map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        body,
        status: status.as_u16(),
    }
}

// ---------------------------------------------------------------------------------------------
// Steering by other processes.

enum Control {
    Fault(Fault),
    Periode(String, Month),
    TokenTtl(u64),
    Payload(String, Month, Bytes),
}

/// `POST /_sim/faults` with one object, or an array of them, each one of:
/// `{"fault":"status","status":503}`, `{"fault":"too_many_requests","retry_after_secs":1}`,
/// `{"fault":"slow","millis":500}`, `{"fault":"truncated"}`, `{"fault":"invalid_json"}`,
/// `{"fault":"unrecoverable"}`, `{"fault":"expire_tokens"}`, `{"fault":"token_error"}`,
/// `{"periode_en_cours":{"dossier":"100200","period":"2026-10"}}`, `{"token_ttl_secs":60}`,
/// `{"payload":{"dossier":"100200","period":"2026-10","body":<JSON, or a string sent as is>}}`.
/// Nothing is applied unless all are understood: 204, else 400 with the reason.
async fn control(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let parsed = serde_json::from_slice::<Value>(&body).map_err(|e| format!("not JSON: {e}")).and_then(|v| match v {
        Value::Array(items) => items.iter().map(parse_control).collect::<Result<Vec<_>, _>>(),
        one => parse_control(&one).map(|c| vec![c]),
    });
    let actions = match parsed {
        Ok(a) => a,
        Err(why) => return (StatusCode::BAD_REQUEST, why).into_response(),
    };
    for action in actions {
        match action {
            Control::Fault(f) => s.push_fault(f),
            Control::Periode(d, m) => {
                s.state().periods.insert(d, m);
            }
            Control::TokenTtl(secs) => s.state().token_ttl_secs = secs,
            Control::Payload(d, m, bytes) => {
                s.state().payloads.insert((d, m), bytes);
            }
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

fn parse_control(v: &Value) -> Result<Control, String> {
    let dossier_month = |o: &Value, what: &str| -> Result<(String, Month), String> {
        let dossier = o["dossier"].as_str().filter(|d| !d.is_empty()).ok_or(format!("{what} needs a \"dossier\""))?;
        let period =
            o["period"].as_str().and_then(Month::parse).ok_or(format!("{what} needs a \"period\": YYYY-MM"))?;
        Ok((dossier.to_owned(), period))
    };
    if let Some(p) = v.get("periode_en_cours") {
        let (d, m) = dossier_month(p, "periode_en_cours")?;
        return Ok(Control::Periode(d, m));
    }
    if let Some(t) = v.get("token_ttl_secs") {
        return t.as_u64().map(Control::TokenTtl).ok_or("token_ttl_secs needs a number of seconds".into());
    }
    if let Some(p) = v.get("payload") {
        let (d, m) = dossier_month(p, "payload")?;
        let bytes = match p.get("body") {
            Some(Value::String(text)) => Bytes::from(text.clone()),
            Some(json) => Bytes::from(json.to_string()),
            None => return Err("payload needs a \"body\"".into()),
        };
        return Ok(Control::Payload(d, m, bytes));
    }
    let secs = |name: &str, default: u64| v.get(name).map_or(Some(default), Value::as_u64);
    let fault = match v["fault"].as_str() {
        Some("status") => {
            let code = v["status"].as_u64().filter(|c| (100..=599).contains(c)).ok_or("status needs a \"status\"")?;
            Fault::Status(code as u16)
        }
        Some("too_many_requests") => Fault::TooManyRequests {
            retry_after_secs: secs("retry_after_secs", 1).ok_or("retry_after_secs needs a number")?,
        },
        Some("slow") => Fault::Slow(Duration::from_millis(secs("millis", 1000).ok_or("millis needs a number")?)),
        Some("truncated") => Fault::Truncated,
        Some("invalid_json") => Fault::InvalidJson,
        Some("unrecoverable") => Fault::Unrecoverable,
        Some("expire_tokens") => Fault::ExpireTokens,
        Some("token_error") => Fault::TokenError,
        Some(other) => return Err(format!("unknown fault {other:?}")),
        None => return Err("expected \"fault\", \"periode_en_cours\", \"token_ttl_secs\" or \"payload\"".into()),
    };
    Ok(Control::Fault(fault))
}

/// `GET /_sim/requests`: the recorded requests, oldest first.
async fn recorded(State(s): State<Arc<Shared>>) -> Json<Vec<RecordedRequest>> {
    Json(s.state().requests.iter().cloned().collect())
}

/// `GET /_sim/counters`: `{"token_requests": …, "api_requests": …, "pending_faults": …}`.
async fn counters(State(s): State<Arc<Shared>>) -> Json<Value> {
    let state = s.state();
    Json(json!({
        "token_requests": state.token_requests,
        "api_requests": state.api_requests,
        "pending_faults": state.faults.len() + state.token_faults,
    }))
}
