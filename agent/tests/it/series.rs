//! Each Odoo series is told apart without a deprecated endpoint: `GET /web/version` on 19 and
//! later (then JSON-2 only), JSON-RPC's `common.version` where that route is missing (17, 18).
//! The Odoo simulator as 19 refuses `/jsonrpc` and `/xmlrpc/2/…` as Odoo 20 will, and records
//! them: every test here asserts it recorded none.

use payflow_agent::import::{ErrorKind, Status};
use payflow_agent::rpc::Service;
use payflow_agent::secrets::SecretName;
use payflow_sim::odoo::OdooSimConfig;
use secrecy::SecretString;

use crate::util::*;

fn odoo_19() -> OdooSimConfig {
    let mut cfg = OdooSimConfig::demo(19);
    cfg.password = cfg.api_key.clone();
    cfg
}

#[tokio::test]
async fn odoo_19_is_found_and_used_without_any_deprecated_call() {
    let w = World::start_with(odoo_19()).await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100300", 5));
    let preview = import(&agent, "100300", "2026-10", true).await;
    assert_eq!(preview.status, Status::Previewed, "{}", preview.message);
    let r = import(&agent, "100300", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    // A new process: the remembered session, then a fresh one (the status of the RPC service
    // asks Odoo for its version).
    let fresh = w.agent();
    assert_eq!(import(&fresh, "100300", "2026-10", false).await.status, Status::AlreadyImported);
    fresh.secrets.set(SecretName::RpcToken, &SecretString::from("t0ken")).unwrap();
    let status = Service::new(fresh, &w.config_path).unwrap().status().await;
    assert_eq!(status["odoo"]["reachable"], true, "{status}");
    assert_eq!(w.odoo().moves().len(), 2);
    assert!(w.odoo().calls().iter().all(|(_, m)| m != "execute_kw" && m != "authenticate"), "{:?}", w.odoo().calls());
    assert_eq!(w.odoo().deprecated_calls(), Vec::<String>::new());
}

#[tokio::test]
async fn json_rpc_is_refused_on_odoo_19_before_any_call() {
    // (`protocol = "xmlrpc"` is refused when the config is read: config.rs.)
    for protocol in ["jsonrpc"] {
        let w = World::start_with(odoo_19()).await;
        w.write_config(&format!("protocol = \"{protocol}\""));
        let agent = w.agent();
        add_dossier(&agent, &dossier("100200", 5));
        let r = import(&agent, "100200", "2026-10", false).await;
        assert_eq!(r.status, Status::Failed, "{protocol}: {}", r.message);
        assert_eq!(r.error_kind, Some(ErrorKind::OdooRejected), "{protocol}: {}", r.message);
        assert!(
            r.message.contains(&format!("odoo.protocol = \"{protocol}\" is deprecated from Odoo 19"))
                && r.message.contains("use \"auto\""),
            "{protocol}: {}",
            r.message
        );
        assert!(w.odoo().moves().is_empty());
        assert_eq!(w.odoo().deprecated_calls(), Vec::<String>::new(), "{protocol}");
    }
}

#[tokio::test]
async fn odoo_17_and_18_are_found_over_json_rpc_where_web_version_is_missing() {
    for version in [17, 18] {
        let w = World::start_with(OdooSimConfig::demo(version)).await;
        let agent = w.agent();
        add_dossier(&agent, &dossier("100200", 5));
        let r = import(&agent, "100200", "2026-10", false).await;
        assert_eq!(r.status, Status::Imported, "Odoo {version}: {}", r.message);
        let calls = w.odoo().calls();
        assert_eq!(calls.first().map(|(m, f)| (m.as_str(), f.as_str())), Some(("common", "version")), "{calls:?}");
        assert!(calls.iter().any(|(_, m)| m == "authenticate"), "{calls:?}");
    }
}
