//! The Silae simulator over real HTTP: tokens, the three operations against the samples of agent/sim/samples,
//! the gate's refusals, each fault, the control endpoint and the binary.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use payflow_sim::silae::{Fault, SilaeSim, SilaeSimConfig};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};

const ECRITURES: &str = "/v1/EcrituresComptables/EcrituresComptables4";
const PERIODE: &str = "/v1/InfosTechniquesDossiers/DossierRecupererPeriodeEnCours";
const LISTE: &str = "/v1/InfosTechniquesDossiers/ListeDossiers";
const SCOPE: &str = "https://silaecloudb2c.onmicrosoft.com/36658aca-9556-41b7-9e48-77e90b006f34/.default";

fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples")
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(samples_dir().join(name)).unwrap()
}

struct Fx {
    sim: SilaeSim,
    http: Client,
}

impl Fx {
    async fn start() -> Fx {
        Fx::start_with(SilaeSimConfig::demo(samples_dir())).await
    }

    async fn start_with(cfg: SilaeSimConfig) -> Fx {
        let sim = SilaeSim::start(cfg).await.unwrap();
        Fx { sim, http: Client::builder().timeout(Duration::from_secs(10)).build().unwrap() }
    }

    async fn token_request(&self, form: &[(&str, &str)]) -> Response {
        self.http.post(self.sim.token_url()).form(form).send().await.unwrap()
    }

    async fn token(&self) -> String {
        let r = self
            .token_request(&[
                ("grant_type", "client_credentials"),
                ("client_id", "demo-client-id"),
                ("client_secret", "demo-client-secret"),
                ("scope", SCOPE),
            ])
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_owned()
    }

    /// A call with every header right: a fresh token, the demo key, `dossiers` = the body's dossier.
    async fn call(&self, path: &str, body: Value) -> Response {
        let token = self.token().await;
        let dossier = body["numeroDossier"].as_str().map(str::to_owned);
        self.call_with(path, Some(&token), Some("demo-subscription-key"), dossier.as_deref(), body).await
    }

    async fn call_with(
        &self,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        dossiers: Option<&str>,
        body: Value,
    ) -> Response {
        let mut r = self.http.post(format!("{}{path}", self.sim.api_url())).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(k) = key {
            r = r.header("Ocp-Apim-Subscription-Key", k);
        }
        if let Some(d) = dossiers {
            r = r.header("dossiers", d);
        }
        r.send().await.unwrap()
    }
}

fn ecritures(dossier: &str, month: &str, last_day: u32) -> Value {
    json!({
        "numeroDossier": dossier,
        "periodeDebut": format!("{month}-01T00:00:00"),
        "periodeFin": format!("{month}-{last_day}T00:00:00"),
        "avecToutesLesRepartitionsAnalytiques": true,
    })
}

/// Status and JSON body (`Value::Null` when the body is not JSON).
async fn parts(r: Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn assert_api_error(body: &Value, code: &str, source: &str, recoverable: bool) {
    assert_eq!(body["errors"][0]["code"], code, "{body}");
    assert!(body["errors"][0]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert_eq!(body["source"], source, "{body}");
    assert_eq!(body["recoverable"], recoverable, "{body}");
}

#[tokio::test]
async fn issues_tokens_to_the_right_client_only() {
    let fx = Fx::start().await;
    let r = fx
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", "demo-client-id"),
            ("client_secret", "demo-client-secret"),
            ("scope", SCOPE),
        ])
        .await;
    let (status, v) = parts(r).await;
    assert_eq!(status, 200);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3600);
    assert_eq!(v["ext_expires_in"], 3600);
    let first = v["access_token"].as_str().unwrap().to_owned();
    assert!(first.len() >= 32, "{first}");
    assert_ne!(first, fx.token().await, "tokens are random");

    let good = [
        ("grant_type", "client_credentials"),
        ("client_id", "demo-client-id"),
        ("client_secret", "demo-client-secret"),
        ("scope", SCOPE),
    ];
    let without = |name: &str| good.iter().copied().filter(|(k, _)| *k != name).collect::<Vec<_>>();
    let with = |name: &str, value: &'static str| {
        good.iter().map(|(k, v)| if *k == name { (*k, value) } else { (*k, *v) }).collect::<Vec<_>>()
    };
    type Form<'a> = Vec<(&'a str, &'a str)>;
    let cases: Vec<(Form, u16, &str, &str)> = vec![
        (with("client_secret", "wrong"), 401, "invalid_client", "AADSTS7000215"),
        (with("client_id", "someone-else"), 401, "invalid_client", "AADSTS700016"),
        (without("client_secret"), 401, "invalid_client", "AADSTS7000218"),
        (without("grant_type"), 400, "invalid_request", "'grant_type'"),
        (with("grant_type", "password"), 400, "unsupported_grant_type", "AADSTS70003"),
        (without("scope"), 400, "invalid_request", "'scope'"),
        (with("scope", "openid"), 400, "invalid_scope", "AADSTS1002012"),
        (without("client_id"), 400, "invalid_request", "'client_id'"),
    ];
    for (form, status, error, detail) in cases {
        let (got, v) = parts(fx.token_request(&form).await).await;
        assert_eq!((got, v["error"].as_str().unwrap()), (status, error), "{form:?}: {v}");
        assert!(v["error_description"].as_str().unwrap().contains(detail), "{v}");
        assert!(v.get("access_token").is_none());
    }
    assert_eq!(fx.sim.token_requests(), 10);
    assert_eq!(fx.sim.api_requests(), 0);

    let logged = fx.sim.requests();
    assert_eq!(logged.len(), 10);
    assert_eq!(logged[0].path, "/oauth2/v2.0/token");
    assert_eq!(logged[0].method, "POST");
    assert_eq!(logged[0].body["client_id"], "demo-client-id");
    assert_eq!(logged[0].body["client_secret"], "<redacted>", "the secret is not kept");
    assert_eq!(logged[2].status, 401);
}

#[tokio::test]
async fn ecritures_serves_the_sample_bytes_as_they_are() {
    let fx = Fx::start().await;
    for (dossier, file) in
        [("100300", "dossier-100300-2026-10-two-establishments.json"), ("100200", "dossier-100200-2026-10.json")]
    {
        let r = fx.call(ECRITURES, ecritures(dossier, "2026-10", 31)).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        assert_eq!(r.bytes().await.unwrap().to_vec(), sample(file));
    }
    let r = fx.call(ECRITURES, ecritures("100200", "2026-08", 31)).await;
    assert_eq!(r.bytes().await.unwrap().to_vec(), sample("dossier-100200-2026-08-empty.json"));

    let last = fx.sim.requests().pop().unwrap();
    assert_eq!(last.method, "POST");
    assert_eq!(last.path, format!("/payroll{ECRITURES}"));
    assert!(last.authorization && last.subscription_key);
    assert_eq!(last.dossiers.as_deref(), Some("100200"));
    assert_eq!(last.body, ecritures("100200", "2026-08", 31));
    assert_eq!(last.status, 200);
    assert_eq!(fx.sim.api_requests(), 3);
    assert_eq!(fx.sim.token_requests(), 3);
}

#[tokio::test]
async fn a_month_without_a_file_has_no_entries() {
    let fx = Fx::start().await;
    let (status, v) = parts(fx.call(ECRITURES, ecritures("100200", "2026-09", 30)).await).await;
    assert_eq!(status, 200);
    assert_eq!(
        v,
        json!({"numeroDossier": "100200", "periodeDebut": "2026-09-01T00:00:00",
               "periodeFin": "2026-09-30T00:00:00", "ruptures": []})
    );
    // Only periodeDebut's month counts; periodeFin may be left out.
    let body = json!({"numeroDossier": "100300", "periodeDebut": "2028-02-01T00:00:00"});
    let (_, v) = parts(fx.call(ECRITURES, body).await).await;
    assert_eq!(v["periodeFin"], "2028-02-29T00:00:00");
    assert_eq!(v["ruptures"], json!([]));
}

#[tokio::test]
async fn a_set_payload_is_served_instead_of_the_sample() {
    let fx = Fx::start().await;
    let tampered = br#"{"numeroDossier":"100200","ruptures":[{"totalDebit":1.0,"totalCredit":2.0}]}"#.to_vec();
    fx.sim.set_payload("100200", "2026-10", tampered.clone());
    let r = fx.call(ECRITURES, ecritures("100200", "2026-10", 31)).await;
    assert_eq!(r.bytes().await.unwrap().to_vec(), tampered);
    fx.sim.set_payload("100200", "2026-07", b"{}".to_vec());
    let r = fx.call(ECRITURES, ecritures("100200", "2026-07", 31)).await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"{}");
}

#[tokio::test]
async fn the_period_in_progress_follows_the_latest_sample_unless_set() {
    let fx = Fx::start().await;
    for dossier in ["100200", "100300"] {
        let (status, v) = parts(fx.call(PERIODE, json!({"numeroDossier": dossier})).await).await;
        assert_eq!(status, 200);
        assert_eq!(v, json!({"periodeEnCours": "2026-11-01T00:00:00"}), "{dossier}");
    }
    fx.sim.set_periode_en_cours("100200", "2026-10");
    let (_, v) = parts(fx.call(PERIODE, json!({"numeroDossier": "100200"})).await).await;
    assert_eq!(v["periodeEnCours"], "2026-10-01T00:00:00");
    let (_, v) = parts(fx.call(PERIODE, json!({"numeroDossier": "100300"})).await).await;
    assert_eq!(v["periodeEnCours"], "2026-11-01T00:00:00", "the other dossier keeps its own");
}

#[tokio::test]
async fn the_dossier_list_names_the_sample_dossiers() {
    let fx = Fx::start().await;
    let token = fx.token().await;
    let r = fx.call_with(LISTE, Some(&token), Some("demo-subscription-key"), None, json!({})).await;
    let (status, v) = parts(r).await;
    assert_eq!(status, 200);
    let list = v["listeDossiers"].as_array().unwrap();
    let numbers: Vec<&str> = list.iter().map(|d| d["numero"].as_str().unwrap()).collect();
    assert_eq!(numbers, ["100200", "100300"]);
    for d in list {
        let siret = d["siret"].as_str().unwrap();
        assert!(siret.len() == 14 && siret.bytes().all(|b| b.is_ascii_digit()), "{siret}");
        assert_eq!(d["raisonSociale"], format!("Dossier {}", d["numero"].as_str().unwrap()));
        for field in ["groupe", "jourPaiementMaxSSOC", "etatDossier", "numeroInterne"] {
            assert!(d.get(field).is_some(), "{field} in {d}");
        }
    }
    let body = json!({"typeDossiers": 0, "etatDossier": 1});
    let (_, v) = parts(fx.call_with(LISTE, Some(&token), Some("demo-subscription-key"), None, body).await).await;
    assert_eq!(v["listeDossiers"].as_array().unwrap().len(), 2);
    let body = json!({"etatDossier": 2});
    let (_, v) = parts(fx.call_with(LISTE, Some(&token), Some("demo-subscription-key"), None, body).await).await;
    assert_eq!(v["listeDossiers"], json!([]));
    let body = json!({"etatDossier": "actif"});
    let (status, v) = parts(fx.call_with(LISTE, Some(&token), Some("demo-subscription-key"), None, body).await).await;
    assert_eq!(status, 400);
    assert_api_error(&v, "ValidationError", "Api", true);
}

#[tokio::test]
async fn dossiers_json_names_dossiers_and_file_names_add_theirs() {
    let dir = tempfile::tempdir().unwrap();
    let listed = json!({"listeDossiers": [
        {"numero": "7001", "raisonSociale": "Boulangerie Martin", "siret": "73282932000074", "groupe": "Nord",
         "jourPaiementMaxSSOC": 5, "etatDossier": 1, "numeroInterne": "BM"},
        {"numero": "7002", "raisonSociale": "Ancienne SARL", "siret": "55210055400013", "groupe": "",
         "jourPaiementMaxSSOC": 15, "etatDossier": 2, "numeroInterne": "AS"}
    ]});
    std::fs::write(dir.path().join("dossiers.json"), listed.to_string()).unwrap();
    std::fs::write(dir.path().join("dossier-7001-2027-01.json"), b"{\"mine\":1}").unwrap();
    std::fs::write(dir.path().join("dossier-8000-2026-12-extra.json"), b"{}").unwrap();
    std::fs::write(dir.path().join("notes.json"), b"not a sample").unwrap();
    let fx = Fx::start_with(SilaeSimConfig::demo(dir.path())).await;

    let token = fx.token().await;
    let (_, v) = parts(fx.call_with(LISTE, Some(&token), Some("demo-subscription-key"), None, json!({})).await).await;
    let list = v["listeDossiers"].as_array().unwrap();
    assert_eq!(list.len(), 3, "{v}");
    assert_eq!(list[0], listed["listeDossiers"][0]);
    assert_eq!(list[2]["numero"], "8000");
    assert_eq!(list[2]["raisonSociale"], "Dossier 8000");

    // 7002 is known without any file: its months are empty, its period follows the folder's latest.
    let (status, v) = parts(fx.call(ECRITURES, ecritures("7002", "2027-01", 31)).await).await;
    assert_eq!((status, v["ruptures"].clone()), (200, json!([])));
    let (_, v) = parts(fx.call(PERIODE, json!({"numeroDossier": "7002"})).await).await;
    assert_eq!(v["periodeEnCours"], "2027-02-01T00:00:00");
    let (_, v) = parts(fx.call(PERIODE, json!({"numeroDossier": "8000"})).await).await;
    assert_eq!(v["periodeEnCours"], "2027-01-01T00:00:00");
    let r = fx.call(ECRITURES, ecritures("7001", "2027-01", 31)).await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"{\"mine\":1}");
}

#[tokio::test]
async fn a_folder_with_two_files_for_one_month_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dossier-1-2026-10.json"), b"{}").unwrap();
    std::fs::write(dir.path().join("dossier-1-2026-10-bis.json"), b"{}").unwrap();
    let err = SilaeSim::start(SilaeSimConfig::demo(dir.path())).await.err().unwrap();
    assert!(err.to_string().contains("keep one"), "{err}");
    let err = SilaeSim::start(SilaeSimConfig::demo(dir.path().join("absent"))).await.err().unwrap();
    assert!(err.to_string().contains("samples folder"), "{err}");
}

#[tokio::test]
async fn the_gate_refuses_missing_or_wrong_keys_and_tokens() {
    let fx = Fx::start().await;
    let token = fx.token().await;
    let body = json!({"numeroDossier": "100200"});
    let key = Some("demo-subscription-key");

    let (status, v) = parts(fx.call_with(PERIODE, Some(&token), None, Some("100200"), body.clone()).await).await;
    assert_eq!(status, 401);
    assert_eq!(v["statusCode"], 401);
    assert!(v["message"].as_str().unwrap().contains("missing subscription key"), "{v}");

    let (status, v) =
        parts(fx.call_with(PERIODE, Some(&token), Some("nope"), Some("100200"), body.clone()).await).await;
    assert_eq!(status, 401);
    assert!(v["message"].as_str().unwrap().contains("invalid subscription key"), "{v}");

    let (status, v) = parts(fx.call_with(PERIODE, None, key, Some("100200"), body.clone()).await).await;
    assert_eq!(status, 401);
    assert_api_error(&v, "Unauthorized", "Proxy", true);

    let (status, v) = parts(fx.call_with(PERIODE, Some("forged"), key, Some("100200"), body.clone()).await).await;
    assert_eq!(status, 401);
    assert_api_error(&v, "Unauthorized", "Proxy", true);

    let r = fx
        .http
        .post(format!("{}{PERIODE}", fx.sim.api_url()))
        .header("Authorization", format!("Basic {token}"))
        .header("Ocp-Apim-Subscription-Key", "demo-subscription-key")
        .header("dossiers", "100200")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let (status, _) = parts(fx.call_with(PERIODE, Some(&token), key, Some("100200"), body.clone()).await).await;
    assert_eq!(status, 200, "the same call with everything right");

    let log = fx.sim.requests();
    let api: Vec<_> = log.iter().filter(|r| r.path.starts_with("/payroll")).collect();
    assert_eq!(api.iter().map(|r| r.status).collect::<Vec<_>>(), [401, 401, 401, 401, 401, 200]);
    assert!(!api[0].subscription_key && api[0].authorization);
    assert!(api[2].subscription_key && !api[2].authorization);
    assert_eq!(fx.sim.api_requests(), 6);
}

#[tokio::test]
async fn the_dossiers_header_is_optional_but_must_list_the_dossier_when_sent() {
    let fx = Fx::start().await;
    let token = fx.token().await;
    let key = Some("demo-subscription-key");
    for path in [ECRITURES, PERIODE] {
        let body = ecritures("100200", "2026-10", 31);
        // The spec asks for no `dossiers` header: a request without one is served.
        let r = fx.call_with(path, Some(&token), key, None, body.clone()).await;
        assert_eq!(r.status(), StatusCode::OK, "{path} without the header");

        let (status, v) = parts(fx.call_with(path, Some(&token), key, Some("100300"), body.clone()).await).await;
        assert_eq!(status, 400);
        assert_api_error(&v, "DossierNonAutorise", "Api", true);
        assert!(v["errors"][0]["message"].as_str().unwrap().contains("100200"), "{v}");

        let r = fx.call_with(path, Some(&token), key, Some("100300, 100200"), body.clone()).await;
        assert_eq!(r.status(), StatusCode::OK, "a list holding the dossier will do");
    }
    assert_eq!(fx.sim.requests().last().unwrap().dossiers.as_deref(), Some("100300, 100200"));
}

#[tokio::test]
async fn bad_bodies_and_unknown_dossiers_are_400_api_errors() {
    let fx = Fx::start().await;
    let token = fx.token().await;
    let key = Some("demo-subscription-key");
    let cases = [
        (json!({}), "ValidationError", "numeroDossier"),
        (json!({"numeroDossier": 100200}), "ValidationError", "numeroDossier"),
        (json!({"numeroDossier": "100200"}), "ValidationError", "periodeDebut"),
        (json!({"numeroDossier": "100200", "periodeDebut": "octobre"}), "ValidationError", "periodeDebut"),
        (json!({"numeroDossier": "100200", "periodeDebut": "2026-02-30T00:00:00"}), "ValidationError", "periodeDebut"),
        (
            json!({"numeroDossier": "100200", "periodeDebut": "2026-10-01T00:00:00", "periodeFin": "2026-09-30T00:00:00"}),
            "ValidationError",
            "periodeFin",
        ),
        (
            json!({"numeroDossier": "100200", "periodeDebut": "2026-10-01T00:00:00", "avecToutesLesRepartitionsAnalytiques": "oui"}),
            "ValidationError",
            "avecToutesLesRepartitionsAnalytiques",
        ),
        (json!({"numeroDossier": "999999", "periodeDebut": "2026-10-01T00:00:00"}), "DossierInconnu", "999999"),
        (json!(["100200"]), "ValidationError", "objet"),
    ];
    for (body, code, names) in cases {
        let (status, v) =
            parts(fx.call_with(ECRITURES, Some(&token), key, Some("100200,999999"), body.clone()).await).await;
        assert_eq!(status, 400, "{body}: {v}");
        assert_api_error(&v, code, "Api", true);
        assert!(v["errors"][0]["message"].as_str().unwrap().contains(names), "{body}: {v}");
    }
    let raw = |content_type: &'static str, body: &'static str| {
        fx.http
            .post(format!("{}{ECRITURES}", fx.sim.api_url()))
            .bearer_auth(&token)
            .header("Ocp-Apim-Subscription-Key", "demo-subscription-key")
            .header("dossiers", "100200")
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };
    let (status, v) = parts(raw("application/json", "{\"numeroDossier\": \"100200\",").await.unwrap()).await;
    assert_eq!(status, 400);
    assert_api_error(&v, "ValidationError", "Api", true);
    let (status, v) = parts(raw("application/json", "").await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("absent"), "{v}");
    let (status, v) = parts(raw("text/plain", "{\"numeroDossier\": \"100200\"}").await.unwrap()).await;
    assert_eq!(status, 415);
    assert_api_error(&v, "UnsupportedMediaType", "Api", true);
    let logged = fx.sim.requests();
    assert_eq!(logged.last().unwrap().body, json!({"numeroDossier": "100200"}));
    assert_eq!(logged[logged.len() - 2].body, Value::Null, "an empty body is logged as null");

    let (status, v) = parts(fx.call(&format!("{ECRITURES}5"), json!({"numeroDossier": "100200"})).await).await;
    assert_eq!((status, v["statusCode"].as_u64()), (404, Some(404)));
    let r = fx.http.get(format!("{}{PERIODE}", fx.sim.api_url())).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn too_many_requests_carries_retry_after_then_the_next_call_passes() {
    let fx = Fx::start().await;
    fx.sim.push_fault(Fault::TooManyRequests { retry_after_secs: 7 });
    let r = fx.call(PERIODE, json!({"numeroDossier": "100200"})).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "7");
    let (_, v) = parts(r).await;
    assert_eq!(v["statusCode"], 429);
    assert!(v["message"].as_str().unwrap().contains("Rate limit is exceeded"), "{v}");
    let r = fx.call(PERIODE, json!({"numeroDossier": "100200"})).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn status_faults_are_served_in_order_as_server_api_errors() {
    let fx = Fx::start().await;
    for code in [500, 502, 503] {
        fx.sim.push_fault(Fault::Status(code));
    }
    for code in [500, 502, 503, 200] {
        let (status, v) = parts(fx.call(ECRITURES, ecritures("100200", "2026-10", 31)).await).await;
        assert_eq!(status, code);
        if code != 200 {
            assert_eq!(v["source"], "Server", "{v}");
            assert_eq!(v["recoverable"], true);
            assert!(v["errors"][0]["message"].as_str().unwrap().contains(&code.to_string()), "{v}");
        }
    }
    let statuses: Vec<u16> =
        fx.sim.requests().iter().filter(|r| r.path.starts_with("/payroll")).map(|r| r.status).collect();
    assert_eq!(statuses, [500, 502, 503, 200]);
}

#[tokio::test]
async fn a_refused_request_does_not_consume_a_fault() {
    let fx = Fx::start().await;
    fx.sim.push_fault(Fault::Status(503));
    let body = json!({"numeroDossier": "100200"});
    let (status, _) =
        parts(fx.call_with(PERIODE, None, Some("demo-subscription-key"), Some("100200"), body.clone()).await).await;
    assert_eq!(status, 401);
    assert_eq!(fx.call(PERIODE, body.clone()).await.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(fx.call(PERIODE, body).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn slow_answers_late_but_right() {
    let fx = Fx::start().await;
    let token = fx.token().await;
    fx.sim.push_fault(Fault::Slow(Duration::from_millis(400)));
    let started = Instant::now();
    let r = fx
        .call_with(
            ECRITURES,
            Some(&token),
            Some("demo-subscription-key"),
            Some("100200"),
            ecritures("100200", "2026-10", 31),
        )
        .await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().to_vec(), sample("dossier-100200-2026-10.json"));

    // A client that gives up during the wait still leaves the request in the log.
    fx.sim.push_fault(Fault::Slow(Duration::from_millis(600)));
    let impatient = Client::builder().timeout(Duration::from_millis(150)).build().unwrap();
    let err = impatient
        .post(format!("{}{PERIODE}", fx.sim.api_url()))
        .bearer_auth(&token)
        .header("Ocp-Apim-Subscription-Key", "demo-subscription-key")
        .header("dossiers", "100200")
        .json(&json!({"numeroDossier": "100200"}))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(fx.sim.api_requests(), 2);
    let deadline = Instant::now() + Duration::from_secs(2);
    while fx.sim.requests().len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(fx.sim.requests().last().unwrap().path, format!("/payroll{PERIODE}"));
}

#[tokio::test]
async fn truncated_and_invalid_json_bodies() {
    let fx = Fx::start().await;
    let full = sample("dossier-100300-2026-10-two-establishments.json");
    fx.sim.push_fault(Fault::Truncated);
    let r = fx.call(ECRITURES, ecritures("100300", "2026-10", 31)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let length: usize = r.headers()["content-length"].to_str().unwrap().parse().unwrap();
    let bytes = r.bytes().await.unwrap();
    assert_eq!(length, full.len() / 2);
    assert_eq!(bytes.as_ref(), &full[..full.len() / 2]);
    assert!(serde_json::from_slice::<Value>(&bytes).is_err());

    fx.sim.push_fault(Fault::InvalidJson);
    let r = fx.call(ECRITURES, ecritures("100300", "2026-10", 31)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let bytes = r.bytes().await.unwrap();
    assert_eq!(bytes.as_ref(), b"{\"numeroDossier\": ");

    let r = fx.call(ECRITURES, ecritures("100300", "2026-10", 31)).await;
    assert_eq!(r.bytes().await.unwrap().to_vec(), full, "one-shot faults");
}

#[tokio::test]
async fn unrecoverable_is_a_401_that_says_not_to_retry() {
    let fx = Fx::start().await;
    fx.sim.push_fault(Fault::Unrecoverable);
    let (status, v) = parts(fx.call(PERIODE, json!({"numeroDossier": "100200"})).await).await;
    assert_eq!(status, 401);
    assert_api_error(&v, "ConfigurationApiInvalide", "Api", false);
}

#[tokio::test]
async fn expire_tokens_invalidates_every_token_issued() {
    let fx = Fx::start().await;
    let (a, b) = (fx.token().await, fx.token().await);
    let body = json!({"numeroDossier": "100200"});
    let key = Some("demo-subscription-key");
    assert_eq!(fx.call_with(PERIODE, Some(&a), key, Some("100200"), body.clone()).await.status(), StatusCode::OK);
    fx.sim.push_fault(Fault::ExpireTokens);
    for t in [&a, &b] {
        let (status, v) = parts(fx.call_with(PERIODE, Some(t), key, Some("100200"), body.clone()).await).await;
        assert_eq!(status, 401);
        assert_api_error(&v, "Unauthorized", "Proxy", true);
    }
    let fresh = fx.token().await;
    assert_eq!(fx.call_with(PERIODE, Some(&fresh), key, Some("100200"), body).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_token_ttl_of_zero_gives_tokens_that_are_already_expired() {
    let fx = Fx::start().await;
    fx.sim.set_token_ttl(0);
    let r = fx
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", "demo-client-id"),
            ("client_secret", "demo-client-secret"),
            ("scope", SCOPE),
        ])
        .await;
    let (_, v) = parts(r).await;
    assert_eq!(v["expires_in"], 0);
    let token = v["access_token"].as_str().unwrap();
    let body = json!({"numeroDossier": "100200"});
    let r = fx.call_with(PERIODE, Some(token), Some("demo-subscription-key"), Some("100200"), body).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    fx.sim.set_token_ttl(60);
    assert_eq!(fx.call(PERIODE, json!({"numeroDossier": "100200"})).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn token_error_refuses_the_next_token_request_only() {
    let fx = Fx::start().await;
    fx.sim.push_fault(Fault::TokenError);
    let good = [
        ("grant_type", "client_credentials"),
        ("client_id", "demo-client-id"),
        ("client_secret", "demo-client-secret"),
        ("scope", SCOPE),
    ];
    let (status, v) = parts(fx.token_request(&good).await).await;
    assert_eq!((status, v["error"].as_str()), (401, Some("invalid_client")));
    assert!(v["error_description"].as_str().unwrap().starts_with("AADSTS7000215"), "{v}");
    let (status, _) = parts(fx.token_request(&good).await).await;
    assert_eq!(status, 200);
    // The API faults queue is untouched.
    assert_eq!(fx.call(PERIODE, json!({"numeroDossier": "100200"})).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn other_processes_steer_it_over_http() {
    let fx = Fx::start().await;
    let base = format!("http://{}", fx.sim.addr());
    let control = |body: Value| fx.http.post(format!("{base}/_sim/faults")).json(&body).send();

    let r = control(json!([
        {"fault": "status", "status": 503},
        {"fault": "too_many_requests", "retry_after_secs": 2},
        {"periode_en_cours": {"dossier": "100200", "period": "2026-10"}},
        {"payload": {"dossier": "100200", "period": "2026-05", "body": {"numeroDossier": "100200", "ruptures": []}}}
    ]))
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let counters: Value = fx.http.get(format!("{base}/_sim/counters")).send().await.unwrap().json().await.unwrap();
    assert_eq!(counters["pending_faults"], 2);

    let body = json!({"numeroDossier": "100200"});
    assert_eq!(fx.call(PERIODE, body.clone()).await.status(), StatusCode::SERVICE_UNAVAILABLE);
    let r = fx.call(PERIODE, body.clone()).await;
    assert_eq!((r.status(), r.headers()["retry-after"].to_str().unwrap()), (StatusCode::TOO_MANY_REQUESTS, "2"));
    let (_, v) = parts(fx.call(PERIODE, body).await).await;
    assert_eq!(v["periodeEnCours"], "2026-10-01T00:00:00");
    let (_, v) = parts(fx.call(ECRITURES, ecritures("100200", "2026-05", 31)).await).await;
    assert_eq!(v, json!({"numeroDossier": "100200", "ruptures": []}));

    for bad in [
        json!({"fault": "meteor"}),
        json!({"fault": "status", "status": 42}),
        json!({"periode_en_cours": {"dossier": "100200", "period": "octobre"}}),
        json!([{"fault": "truncated"}, {"nothing": true}]),
    ] {
        let r = control(bad.clone()).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(!r.text().await.unwrap().is_empty());
    }
    let counters: Value = fx.http.get(format!("{base}/_sim/counters")).send().await.unwrap().json().await.unwrap();
    assert_eq!(counters["pending_faults"], 0, "a refused batch applies nothing");
    assert_eq!(counters["api_requests"], 4);
    assert_eq!(counters["token_requests"], 4);

    assert_eq!(control(json!({"fault": "token_error"})).await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(fx.sim.token_requests(), 4);
    let r = fx
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", "demo-client-id"),
            ("client_secret", "demo-client-secret"),
            ("scope", SCOPE),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let log: Value = fx.http.get(format!("{base}/_sim/requests")).send().await.unwrap().json().await.unwrap();
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), fx.sim.requests().len());
    let first_api = log.iter().find(|r| r["path"].as_str().unwrap().starts_with("/payroll")).unwrap();
    assert_eq!(first_api["status"], 503);
    assert_eq!(first_api["method"], "POST");
    assert_eq!(first_api["dossiers"], "100200");
    assert_eq!(first_api["authorization"], true);
    assert_eq!(first_api["body"], json!({"numeroDossier": "100200"}));
}

#[tokio::test]
async fn it_stops_on_shutdown_and_when_the_last_handle_drops() {
    let fx = Fx::start().await;
    let addr = fx.sim.addr();
    let clone = fx.sim.clone();
    drop(clone);
    assert_eq!(fx.token_request(&[]).await.status(), StatusCode::BAD_REQUEST, "a clone's drop stops nothing");
    fx.sim.shutdown();
    assert!(refuses_connections(addr).await, "shutdown()");

    let sim = SilaeSim::start(SilaeSimConfig::demo(samples_dir())).await.unwrap();
    let addr = sim.addr();
    drop(sim);
    assert!(refuses_connections(addr).await, "dropping the last handle");
}

async fn refuses_connections(addr: std::net::SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// The binary: one line on stdout with the address, then it serves until killed.
#[tokio::test]
async fn the_binary_prints_its_address_and_serves() {
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_payflow-sim"))
        .args(["silae", "--samples"])
        .arg(samples_dir())
        .args(["--listen", "127.0.0.1:0", "--client-secret", "s3cret", "--token-ttl-secs", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _child = KillOnDrop(child);
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .unwrap()
    .unwrap();
    let url = line.trim().strip_prefix("silae simulator listening on ").unwrap_or_else(|| panic!("printed {line:?}"));
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let http = Client::new();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "demo-client-id"),
        ("client_secret", "s3cret"),
        ("scope", SCOPE),
    ];
    let v: Value =
        http.post(format!("{url}/oauth2/v2.0/token")).form(&form).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["expires_in"], 120, "{v}");
    let r = http
        .post(format!("{url}/payroll{ECRITURES}"))
        .bearer_auth(v["access_token"].as_str().unwrap())
        .header("Ocp-Apim-Subscription-Key", "demo-subscription-key")
        .header("dossiers", "100300")
        .json(&ecritures("100300", "2026-10", 31))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let bytes = r.bytes().await.unwrap();
    assert_eq!(bytes.to_vec(), sample("dossier-100300-2026-10-two-establishments.json"));
}

const LOTS: &str = "/v1/EcrituresComptables/EcrituresComptablesPaiementSalairesLotsVirement";
const PAIEMENT: &str = "/v1/EcrituresComptables/EcrituresComptablesPaiementSalaires";
const ACOMPTES: &str = "/v1/EcrituresComptables/EcrituresComptablesPaiementAcomptes";

#[tokio::test]
async fn serves_the_salary_payments_and_a_late_batch_once_published() {
    let fx = Fx::start().await;
    let lots = json!({"numeroDossier": "100200", "dateDebut": "2026-10-01", "dateFin": "2026-10-31"});
    let (status, v) = parts(fx.call(LOTS, lots.clone()).await).await;
    assert_eq!(status, 202, "the spec answers 202 Accepted: {v}");
    assert_eq!(v, json!({"listeLotsVirement": [{"numeroLotVirement": 1, "date": "2026-10-30T00:00:00"}]}));
    let batch = |n: i64| {
        json!({"numeroDossier": "100200", "periodeDebut": "2026-10-01T00:00:00",
               "periodeFin": "2026-10-31T00:00:00", "numeroLotVirement": n})
    };
    let (status, v) = parts(fx.call(PAIEMENT, batch(1)).await).await;
    assert_eq!(status, 200);
    assert_eq!(
        (v["numeroDossier"].as_str(), v["ruptures"][0]["totalDebit"].as_f64()),
        (Some("100200"), Some(36460.31))
    );
    let (status, v) = parts(fx.call(PAIEMENT, batch(2)).await).await;
    assert_eq!(status, 400, "not published yet: {v}");
    assert_api_error(&v, "LotVirementInconnu", "Api", true);

    fx.sim.publish_late_batches("100200", "2026-10");
    let (_, v) = parts(fx.call(LOTS, lots).await).await;
    assert_eq!(v["listeLotsVirement"].as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!(v["listeLotsVirement"][1], json!({"numeroLotVirement": 2, "date": "2026-11-04T00:00:00"}));
    let (status, v) = parts(fx.call(PAIEMENT, batch(2)).await).await;
    assert_eq!((status, v["ruptures"][0]["totalCredit"].as_f64()), (200, Some(8135.45)));
    // Without a batch number: every published batch's ruptures.
    let mut all = batch(0);
    all.as_object_mut().unwrap().remove("numeroLotVirement");
    let (_, v) = parts(fx.call(PAIEMENT, all).await).await;
    assert_eq!(v["ruptures"].as_array().map(Vec::len), Some(2), "{v}");

    let range = |dossier: &str, month: &str| {
        json!({"numeroDossier": dossier, "periodeDebut": format!("{month}-01T00:00:00"),
               "periodeFin": format!("{month}-30T00:00:00")})
    };
    let (status, v) = parts(fx.call(ACOMPTES, range("100200", "2026-10")).await).await;
    assert_eq!((status, v["ruptures"][0]["totalDebit"].as_f64()), (200, Some(1500.0)));
    // A month without payments: an empty answer of that month, for payments and advances.
    let (_, v) = parts(fx.call(ACOMPTES, range("100200", "2026-09")).await).await;
    assert_eq!(
        (v["periodeDebut"].as_str(), v["ruptures"].as_array().map(Vec::len)),
        (Some("2026-09-01T00:00:00"), Some(0))
    );
    let (status, v) = parts(
        fx.call(LOTS, json!({"numeroDossier": "100200", "dateDebut": "2026-09-01", "dateFin": "2026-09-30"})).await,
    )
    .await;
    assert_eq!((status, v), (202, json!({"listeLotsVirement": []})));
    // The spec's checks: a dossier, a start.
    let (status, v) = parts(fx.call(LOTS, json!({"numeroDossier": "100200"})).await).await;
    assert_eq!(status, 400);
    assert_api_error(&v, "ValidationError", "Api", true);
    let (status, _) = parts(fx.call(LOTS, json!({"numeroDossier": "999999", "dateDebut": "2026-10-01"})).await).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn late_batches_are_published_over_http_too() {
    let fx = Fx::start().await;
    let control = |body: Value| fx.http.post(format!("http://{}/_sim/faults", fx.sim.addr())).json(&body).send();
    let r = control(json!({"publish_late": {"dossier": "100200"}})).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = control(json!({"publish_late": {"dossier": "100200", "period": "2026-10"}})).await.unwrap();
    assert_eq!(r.status(), 204);
    let lots = json!({"numeroDossier": "100200", "dateDebut": "2026-10-01", "dateFin": "2026-10-31"});
    let (_, v) = parts(fx.call(LOTS, lots).await).await;
    assert_eq!(v["listeLotsVirement"].as_array().map(Vec::len), Some(2), "{v}");
}
