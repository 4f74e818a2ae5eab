//! The Silae client against the Silae simulator, over real HTTP, fault by fault.

use std::time::Duration;

use payflow_agent::config::SilaeConfig;
use payflow_agent::silae::{SilaeClient, SilaeCredentials, SilaeError};
use payflow_sim::silae::{Fault, SilaeSim, SilaeSimConfig};
use secrecy::SecretString;

use crate::util::samples_dir;

async fn setup(timeout_secs: u64, max_retries: u32) -> (SilaeSim, SilaeClient) {
    let sim = SilaeSim::start(SilaeSimConfig::demo(samples_dir())).await.unwrap();
    let config = SilaeConfig {
        api_url: sim.api_url(),
        token_url: sim.token_url(),
        timeout_secs,
        max_retries,
        retry_base_ms: 10,
        async_poll_ms: 10,
        ..SilaeConfig::default()
    };
    let credentials = SilaeCredentials {
        client_id: SecretString::from("demo-client-id"),
        client_secret: SecretString::from("demo-client-secret"),
        subscription_key: SecretString::from("demo-subscription-key"),
    };
    let client = SilaeClient::new(config, credentials).unwrap();
    (sim, client)
}

fn october() -> payflow_agent::period::Period {
    "2026-10".parse().unwrap()
}

#[tokio::test]
async fn fetches_the_journal_with_the_spec_s_headers_and_caches_the_token() {
    let (sim, client) = setup(5, 2).await;
    let (payload, raw) = client.ecritures("100300", october()).await.unwrap();
    assert_eq!(payload.ruptures.as_ref().unwrap().len(), 2);
    let on_disk = std::fs::read(samples_dir().join("dossier-100300-2026-10-two-establishments.json")).unwrap();
    assert_eq!(raw, on_disk, "the raw payload is kept as received");
    client.ecritures("100200", october()).await.unwrap();
    assert_eq!(sim.token_requests(), 1, "the token is cached");
    let reqs = sim.requests();
    let last = reqs.last().unwrap();
    assert!(last.path.ends_with("/v1/EcrituresComptables/EcrituresComptables4"), "{}", last.path);
    assert!(last.authorization && last.subscription_key);
    assert_eq!(last.dossiers.as_deref(), Some("100200"));
    assert_eq!(last.body["numeroDossier"], "100200");
    assert_eq!(last.body["periodeDebut"], "2026-10-01T00:00:00");
    assert_eq!(last.body["periodeFin"], "2026-10-31T00:00:00");
}

#[tokio::test]
async fn period_in_progress_and_dossier_list() {
    let (sim, client) = setup(5, 2).await;
    assert_eq!(client.periode_en_cours("100200").await.unwrap().to_string(), "2026-11");
    sim.set_periode_en_cours("100200", "2026-10");
    assert_eq!(client.periode_en_cours("100200").await.unwrap().to_string(), "2026-10");
    let list = client.liste_dossiers().await.unwrap();
    let numbers: Vec<_> = list.iter().filter_map(|d| d.numero.clone()).collect();
    assert!(numbers.contains(&"100200".to_owned()) && numbers.contains(&"100300".to_owned()), "{numbers:?}");
}

#[tokio::test]
async fn retries_429_honouring_retry_after() {
    let (sim, client) = setup(5, 2).await;
    sim.push_fault(Fault::TooManyRequests { retry_after_secs: 1 });
    let started = std::time::Instant::now();
    client.ecritures("100200", october()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900), "Retry-After was not honoured");
    assert_eq!(sim.api_requests(), 2);
}

#[tokio::test]
async fn retries_5xx_then_gives_up_with_silae_unavailable() {
    let (sim, client) = setup(5, 2).await;
    sim.push_fault(Fault::Status(500));
    sim.push_fault(Fault::Status(503));
    client.ecritures("100200", october()).await.unwrap();
    assert_eq!(sim.api_requests(), 3);
    for _ in 0..3 {
        sim.push_fault(Fault::Status(503));
    }
    let err = client.ecritures("100200", october()).await.unwrap_err();
    assert_eq!(err.kind(), "silae_unavailable");
    assert!(err.to_string().contains("503") && err.to_string().contains("after 3 attempts"), "{err}");
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let (sim, client) = setup(1, 2).await;
    sim.push_fault(Fault::Slow(Duration::from_millis(2500)));
    client.periode_en_cours("100200").await.unwrap();
    assert_eq!(sim.api_requests(), 2);
}

fn paths(sim: &SilaeSim) -> Vec<(String, u16)> {
    sim.requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/payroll/"))
        .map(|r| (r.path.rsplit('/').next().unwrap().to_owned(), r.status))
        .collect()
}

#[tokio::test]
async fn a_large_dossier_s_journal_comes_asynchronously_over_three_polls() {
    let (sim, client) = setup(5, 2).await;
    sim.set_async_task("100200", 2, None);
    let (payload, raw) = client.ecritures_for("100200", october(), true).await.unwrap();
    assert_eq!(payload.ruptures.as_ref().unwrap().len(), 1);
    let sample: serde_json::Value =
        serde_json::from_slice(&std::fs::read(samples_dir().join("dossier-100200-2026-10.json")).unwrap()).unwrap();
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&raw).unwrap(), sample, "the journal as Silae gave it");
    let status = "StatutEcrituresComptables4Asynchrone".to_owned();
    assert_eq!(
        paths(&sim),
        [
            ("EcrituresComptables4Asynchrone".to_owned(), 202),
            (status.clone(), 202),
            (status.clone(), 202),
            (status, 200)
        ],
        "no synchronous call for a large dossier, one generation, three polls"
    );
    assert_eq!(sim.tasks(), [("100200".to_owned(), 3)]);
    let generation = &sim.requests().into_iter().find(|r| r.path.ends_with("4Asynchrone")).unwrap();
    assert_eq!(generation.body["avecToutesLesRepartitionsAnalytiques"], true);
    assert_eq!(generation.body["periodeDebut"], "2026-10-01T00:00:00");
}

#[tokio::test]
async fn a_failed_asynchronous_task_is_a_clear_error_and_is_not_restarted() {
    let (sim, client) = setup(5, 2).await;
    sim.set_async_task("100200", 1, Some("Le calcul des écritures a été interrompu."));
    let err = client.ecritures_for("100200", october(), true).await.unwrap_err();
    assert_eq!(err.kind(), "silae_bad_response", "{err}");
    let text = err.to_string();
    assert!(
        text.contains("asynchronous generation of the journal failed")
            && text.contains("Le calcul des écritures a été interrompu."),
        "{text}"
    );
    assert_eq!(sim.tasks(), [("100200".to_owned(), 2)], "one task, polled until it failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synchronous_timeout_falls_back_to_async_without_regenerating() {
    let (sim, client) = setup(1, 2).await;
    sim.set_journal_delay("100200", Duration::from_secs(3));
    sim.set_async_task("100200", 4, None);
    let fetch = tokio::spawn(async move { client.ecritures("100200", october()).await });
    // Once the task runs, a poll fails with a 503: retried with the same task id.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while sim.tasks().first().is_none_or(|(_, polls)| *polls < 2) {
        assert!(std::time::Instant::now() < deadline, "no task polled: {:?}", paths(&sim));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sim.push_fault(Fault::Status(503));
    let (payload, _) = fetch.await.unwrap().unwrap();
    assert_eq!(payload.ruptures.as_ref().unwrap().len(), 1);
    // The simulator logs a request once answered: the slow synchronous one comes last.
    while !paths(&sim).iter().any(|(p, _)| p == "EcrituresComptables4") {
        assert!(std::time::Instant::now() < deadline, "{:?}", paths(&sim));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let calls = paths(&sim);
    let count = |name: &str, status: u16| calls.iter().filter(|(p, s)| p == name && *s == status).count();
    assert_eq!(calls.iter().filter(|(p, _)| p == "EcrituresComptables4").count(), 1, "not retried: {calls:?}");
    assert_eq!(count("EcrituresComptables4Asynchrone", 202), 1, "one generation: {calls:?}");
    assert_eq!(count("StatutEcrituresComptables4Asynchrone", 503), 1, "{calls:?}");
    assert_eq!(sim.tasks(), [("100200".to_owned(), 5)], "the same task polled to its end");
}

#[tokio::test]
async fn truncated_or_invalid_answers_are_bad_responses() {
    let (sim, client) = setup(5, 2).await;
    sim.push_fault(Fault::Truncated);
    let err = client.ecritures("100200", october()).await.unwrap_err();
    assert_eq!(err.kind(), "silae_bad_response", "{err}");
    sim.push_fault(Fault::InvalidJson);
    let err = client.ecritures("100200", october()).await.unwrap_err();
    assert!(matches!(err, SilaeError::BadResponse(_)), "{err}");
}

#[tokio::test]
async fn an_unrecoverable_error_says_the_subscription_is_blocked() {
    let (sim, client) = setup(5, 2).await;
    sim.push_fault(Fault::Unrecoverable);
    let err = client.ecritures("100200", october()).await.unwrap_err();
    assert_eq!(err.kind(), "silae_auth");
    assert!(err.to_string().contains("blocked"), "{err}");
    assert_eq!(sim.api_requests(), 1, "a blocked subscription is not retried");
}

#[tokio::test]
async fn an_expired_token_is_renewed_once() {
    let (sim, client) = setup(5, 2).await;
    client.ecritures("100200", october()).await.unwrap();
    sim.push_fault(Fault::ExpireTokens);
    client.ecritures("100200", october()).await.unwrap();
    assert_eq!(sim.token_requests(), 2);
}

#[tokio::test]
async fn refused_credentials_are_silae_auth_without_the_secret() {
    let (sim, client) = setup(5, 2).await;
    sim.push_fault(Fault::TokenError);
    let err = client.ecritures("100200", october()).await.unwrap_err();
    assert_eq!(err.kind(), "silae_auth");
    let text = err.to_string();
    assert!(text.contains("invalid_client") && text.contains("silae_client_secret"), "{text}");
    crate::util::assert_no_secret(&text);
}
