//! Each Odoo series is told apart in one request without a deprecated endpoint: the web client's
//! `/web/webclient/version_info` (17, 18, 19; then JSON-2 only from 19 on), with `GET
//! /web/version` and JSON-RPC's `common.version` behind it where that route is missing.
//! The Odoo simulator as 19 refuses `/jsonrpc` and `/xmlrpc/2/…` as Odoo 20 will, and records
//! them: every test here asserts it recorded none.

use payflow_agent::import::{ErrorKind, Status};
use payflow_agent::rpc::Service;
use payflow_agent::secrets::SecretName;
use payflow_sim::odoo::{OdooFault, OdooSimConfig};
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
async fn every_series_is_found_in_one_version_request_the_first_time() {
    // The web client's `/web/webclient/version_info` answers on 17, 18 and 19 alike: the first
    // import of a new instance is 3 calls everywhere (version, authentication, the import).
    for version in [17, 18, 19] {
        let cfg = if version == 19 { odoo_19() } else { OdooSimConfig::demo(version) };
        let w = World::start_with(cfg).await;
        let agent = w.agent();
        add_dossier(&agent, &dossier("100200", 5));
        let r = import(&agent, "100200", "2026-10", false).await;
        assert_eq!(r.status, Status::Imported, "Odoo {version}: {}", r.message);
        let calls: Vec<String> = w.odoo().calls().iter().map(|(m, f)| format!("{m}.{f}")).collect();
        let login = if version >= 19 { "res.users.search_read" } else { "common.authenticate" };
        assert_eq!(calls, ["web.version_info", login, "account.move.payflow_import_plan"], "Odoo {version}");
        assert_eq!(agent.built_clients().1.map(|o| o.calls()), Some(3), "Odoo {version}: HTTP requests");
        assert_eq!(w.odoo().deprecated_calls(), Vec::<String>::new(), "Odoo {version}");
    }
}

#[tokio::test]
async fn without_the_web_client_s_version_route_the_older_probes_still_find_the_series() {
    // A proxy that lets only the RPC endpoints through: `/web/webclient/version_info` answers
    // 404; then `GET /web/version` (19) or, where that is missing too, `common.version` (17, 18).
    for version in [18, 19] {
        let cfg = if version == 19 { odoo_19() } else { OdooSimConfig::demo(version) };
        let w = World::start_with(cfg).await;
        w.odoo().push_fault_on("web", "version_info", OdooFault::Status(404));
        let agent = w.agent();
        add_dossier(&agent, &dossier("100200", 5));
        let r = import(&agent, "100200", "2026-10", false).await;
        assert_eq!(r.status, Status::Imported, "Odoo {version}: {}", r.message);
        let calls: Vec<String> = w.odoo().calls().iter().map(|(m, f)| format!("{m}.{f}")).collect();
        let expected: &[&str] = if version >= 19 {
            &["web.version_info", "res.users.search_read", "account.move.payflow_import_plan"]
        } else {
            &["web.version_info", "common.version", "common.authenticate", "account.move.payflow_import_plan"]
        };
        assert_eq!(calls, expected, "Odoo {version}");
        // Plus `GET /web/version`, not in the simulator's call log (404 on 18).
        let requests = if version >= 19 { 4 } else { 5 };
        assert_eq!(agent.built_clients().1.map(|o| o.calls()), Some(requests), "Odoo {version}: HTTP requests");
        assert_eq!(w.odoo().deprecated_calls(), Vec::<String>::new(), "Odoo {version}");
    }
}
