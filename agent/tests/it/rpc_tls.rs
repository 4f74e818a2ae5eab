//! The JSON-RPC service over TLS (`rpc.tls_cert`, `rpc.tls_key`): HTTPS with its certificate,
//! and never plain HTTP beyond loopback.

use std::sync::Arc;

use payflow_agent::config::Config;
use payflow_agent::rpc::{serve, Service};
use payflow_agent::secrets::SecretName;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::util::*;

/// A test CA's PEM and a server certificate (for 127.0.0.1) with its key, signed by it.
fn pki() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "PayFlow RPC test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "payflow-agent");
    let cert = params.signed_by(&key, &ca_cert, &ca_key).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

/// A client trusting `ca` only (none: the bundled roots only).
fn client(ca: Option<&str>) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = ca {
        use rustls::pki_types::pem::PemObject;
        for c in rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder().use_preconfigured_tls(tls).build().unwrap()
}

const TOKEN: &str = "planted-rpc-t0ken";

#[tokio::test]
async fn the_service_speaks_https_with_its_certificate_and_nothing_else() {
    let w = World::start().await;
    let (ca, cert, key) = pki();
    std::fs::write(w.dir.path().join("rpc.pem"), &cert).unwrap();
    std::fs::write(w.dir.path().join("rpc.key"), &key).unwrap();
    w.write_config("\n[rpc]\ntls_cert = \"rpc.pem\"\ntls_key = \"rpc.key\"\n");
    let agent = w.agent();
    assert_eq!(
        agent.config.rpc.tls_cert.as_deref(),
        Some(w.dir.path().join("rpc.pem").as_path()),
        "from the config's folder"
    );
    agent.secrets.set(SecretName::RpcToken, &SecretString::from(TOKEN)).unwrap();
    let svc = Service::new(agent, &w.config_path).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        serve(
            svc,
            listener,
            async move {
                let _ = rx.await;
            },
            std::time::Duration::from_secs(5),
        )
        .await
        .unwrap();
    });
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "status", "params": {}}).to_string();
    let post = |client: reqwest::Client, url: String| {
        let body = body.clone();
        async move { client.post(url).bearer_auth(TOKEN).header("Content-Type", "application/json").body(body).send().await }
    };
    // HTTPS, the certificate verified against the firm's CA.
    let answer: Value = post(client(Some(&ca)), format!("https://{addr}/")).await.unwrap().json().await.unwrap();
    assert_eq!(answer["result"]["instance"], "test", "{answer}");
    keep_for_scan("JSON-RPC status over TLS", &answer.to_string());
    // A client that does not trust that CA is refused by its own verification.
    let err = post(client(None), format!("https://{addr}/")).await.unwrap_err();
    assert!(format!("{err:?}").contains("UnknownIssuer"), "{err:?}");
    // Plain HTTP on the TLS port: no answer at all.
    assert!(post(client(Some(&ca)), format!("http://{addr}/")).await.is_err());
    let _ = tx.send(());
    task.await.unwrap();
}

#[tokio::test]
async fn plain_http_beyond_loopback_is_refused_and_a_bad_certificate_names_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let (_ca, cert, key) = pki();
    std::fs::write(dir.path().join("rpc.pem"), &cert).unwrap();
    std::fs::write(dir.path().join("rpc.key"), &key).unwrap();
    std::fs::write(dir.path().join("not.pem"), "hello").unwrap();
    let parse = |rpc: &str| {
        let text = format!(
            "instance = \"t\"\ndata_dir = \"state\"\n[rpc]\n{rpc}\n[odoo]\nurl = \"http://127.0.0.1:8069\"\ndatabase = \"p\"\nlogin = \"a\"\n"
        );
        Config::parse(&dir.path().join("t.toml"), &text)
    };
    let err = parse("listen = \"0.0.0.0:8390\"").unwrap_err().to_string();
    assert!(err.contains("key `rpc.listen`") && err.contains("plain HTTP is never served beyond loopback"), "{err}");
    // allow_remote (older configs) no longer opens plain HTTP beyond loopback.
    let err = parse("listen = \"0.0.0.0:8390\"\nallow_remote = true").unwrap_err().to_string();
    assert!(err.contains("rpc.tls_cert and rpc.tls_key"), "{err}");
    let c = parse("listen = \"0.0.0.0:8390\"\ntls_cert = \"rpc.pem\"\ntls_key = \"rpc.key\"").unwrap();
    assert!(c.rpc.tls().is_some());
    let err = parse("tls_cert = \"rpc.pem\"").unwrap_err().to_string();
    assert!(err.contains("key `rpc.tls_key`: expected both rpc.tls_cert and rpc.tls_key"), "{err}");
    let err = parse("tls_cert = \"not.pem\"\ntls_key = \"rpc.key\"").unwrap_err().to_string();
    assert!(err.contains("key `rpc.tls_cert`") && err.contains("not.pem") && err.contains("no certificate"), "{err}");
    let err = parse("tls_cert = \"rpc.pem\"\ntls_key = \"not.pem\"").unwrap_err().to_string();
    assert!(err.contains("not.pem") && err.contains("no private key"), "{err}");
}
