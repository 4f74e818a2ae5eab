//! The Odoo simulator: a real HTTP server on loopback that speaks JSON-RPC (`/jsonrpc`),
//! XML-RPC (`/xmlrpc/2/common`, `/xmlrpc/2/object`) and, from 19 on, JSON-2
//! (`/json/2/<model>/<method>`), over an in-memory database that answers as Odoo 17, 18 or 19
//! does where PayFlow depends on it (docs/odoo-protocol.md): balanced entries, lock dates,
//! numbering, the payflow_silae addon's unique key and atomic `payflow_import`, and Odoo's own
//! error names and messages (compared with a real Odoo 18 by tests/odoo_contract.rs).
//!
//! Modules: `http` (routes, faults, connections), `service` (the RPC services and argument
//! checks), `orm` (storage, domains, read/create/write/unlink), `account` (accounting rules and
//! the addon), `schema` (models and fields per series), `seed` (the demo database), `xml`
//! (XML-RPC), `fmt` (Python's and Odoo's formatting), `error` (exceptions per protocol).

mod account;
mod corrections;
mod error;
mod fmt;
mod http;
mod orm;
mod schema;
mod seed;
mod service;
mod xml;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

pub use error::{Kind as OdooErrorKind, OdooError};

/// How the simulated server is set up.
#[derive(Debug, Clone)]
pub struct OdooSimConfig {
    /// The Odoo series: 17, 18 or 19.
    pub version: u32,
    pub database: String,
    pub login: String,
    pub password: String,
    /// Accepted as the secret of RPC calls (as the password is) and, from 19 on, as JSON-2's
    /// bearer key.
    pub api_key: String,
    /// Whether the payflow_silae addon is installed (its fields and `payflow_import`).
    pub addon_installed: bool,
}

impl OdooSimConfig {
    /// Database `payflow`, `admin`/`admin`, API key `demo-odoo-api-key`, addon installed.
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

/// A fault applied to the next call (or the next call of one method) instead of, or before,
/// its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OdooFault {
    /// An HTTP error page with this status (a proxy's: nothing reaches Odoo).
    Status(u16),
    /// The call is answered normally after this delay.
    Slow(Duration),
    /// The connection is closed without an answer (nothing reaches Odoo).
    Drop,
    /// What a SaaS front (Odoo Online) answers before Odoo: this status, its `Retry-After` (s)
    /// when given, and this body (nothing reaches Odoo). E.g. 429 (too many requests), 503 (the
    /// database asleep, being upgraded, in maintenance, over quota).
    Refused { status: u16, retry_after_secs: Option<u64>, body: String },
    /// HTTP 200 with this JSON text as the JSON-RPC `result` (nothing reaches Odoo): an answer
    /// that is not what the method returns.
    Answer(String),
    /// HTTP 200 with a JSON-RPC answer of about this many bytes (nothing reaches Odoo): an answer
    /// past what a client should read.
    Huge(usize),
}

struct Shared {
    cfg: Mutex<OdooSimConfig>,
    db: Mutex<orm::Db>,
    calls: Mutex<Vec<(String, String)>>,
    /// The paths of the deprecated endpoints (`/jsonrpc`, `/xmlrpc/2/…`) called while a 19.
    deprecated: Mutex<Vec<String>>,
    faults: Mutex<VecDeque<OdooFault>>,
    method_faults: Mutex<HashMap<(String, String), VecDeque<OdooFault>>>,
    /// Every call waits this long before it is worked on (a distant or busy Odoo).
    latency: Mutex<Duration>,
    /// While `true`, every call waits (held) until it is released: a database that hangs.
    held: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    /// One RPC call of the `common` or `object` service (JSON-RPC and XML-RPC), taking `delay`.
    async fn dispatch(
        &self,
        service: &str,
        method: &str,
        args: &[Value],
        delay: Option<Duration>,
    ) -> Result<Value, OdooError> {
        let cfg = self.cfg.lock().unwrap().clone();
        self.transact(delay, |db| match service {
            "common" => service::common(&cfg, db, method, args),
            "object" => service::object(&cfg, db, method, args),
            "db" => Err(OdooError::new(error::Kind::AccessDenied, "Access Denied")),
            other => Err(OdooError::new(error::Kind::KeyError, other)),
        })
        .await
    }

    /// Runs one call. With a delay (the `Slow` fault) the call is a transaction that lasts that
    /// long, as a slow Odoo's would: it works on the database as it was when it started, and
    /// commits at the end. If another call committed in between, two new moves with the same
    /// import key collide as in PostgreSQL (Odoo's ValidationError, nothing written); anything
    /// else is run again on the new state, as Odoo retries a serialization failure.
    async fn transact(
        &self,
        delay: Option<Duration>,
        call: impl Fn(&mut orm::Db) -> Result<Value, OdooError>,
    ) -> Result<Value, OdooError> {
        let Some(delay) = delay else {
            return call(&mut self.db.lock().unwrap());
        };
        let mut work = self.db.lock().unwrap().clone();
        let start = work.generation;
        let before: std::collections::HashSet<i64> =
            work.all("account.move").filter_map(|m| m.get("id").and_then(Value::as_i64)).collect();
        let result = call(&mut work);
        tokio::time::sleep(delay).await;
        let mut db = self.db.lock().unwrap();
        if work.generation == start {
            return result; // nothing to commit
        }
        if db.generation == start {
            *db = work;
            return result;
        }
        let new_keys = |d: &orm::Db| -> std::collections::HashSet<(i64, String)> {
            d.all("account.move")
                .filter(|m| m.get("id").and_then(Value::as_i64).is_some_and(|id| !before.contains(&id)))
                .filter_map(|m| {
                    Some((m.get("company_id").and_then(orm::as_id)?, m.get("payflow_import_key")?.as_str()?.to_owned()))
                })
                .collect()
        };
        if !new_keys(&work).is_disjoint(&new_keys(&db)) {
            return Err(account::duplicate_key());
        }
        call(&mut db)
    }
}

fn tls_acceptor(cert_chain_pem: &str, key_pem: &str) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_slice_iter(cert_chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("the simulator's certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| anyhow::anyhow!("the simulator's private key: {e}"))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

struct Stopper(tokio::sync::watch::Sender<bool>);

impl Drop for Stopper {
    fn drop(&mut self) {
        let _ = self.0.send(true);
    }
}

/// A running simulator. Clones share it; it stops listening when the last clone is dropped or
/// on [`OdooSim::shutdown`].
#[derive(Clone)]
pub struct OdooSim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    https: bool,
    stop: Arc<Stopper>,
}

impl OdooSim {
    /// Starts on a free loopback port.
    pub async fn start(cfg: OdooSimConfig) -> anyhow::Result<OdooSim> {
        OdooSim::start_on(cfg, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    pub async fn start_on(cfg: OdooSimConfig, addr: SocketAddr) -> anyhow::Result<OdooSim> {
        OdooSim::start_with(cfg, addr, None).await
    }

    /// Starts over HTTPS on a free loopback port, presenting `cert_chain_pem` (the server's
    /// certificate first) with `key_pem`.
    pub async fn start_https(cfg: OdooSimConfig, cert_chain_pem: &str, key_pem: &str) -> anyhow::Result<OdooSim> {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        OdooSim::start_with(cfg, addr, Some(tls_acceptor(cert_chain_pem, key_pem)?)).await
    }

    /// Over HTTPS on `addr` (the binary's `--tls-cert`/`--tls-key`).
    pub async fn start_https_on(
        cfg: OdooSimConfig,
        addr: SocketAddr,
        cert_chain_pem: &str,
        key_pem: &str,
    ) -> anyhow::Result<OdooSim> {
        OdooSim::start_with(cfg, addr, Some(tls_acceptor(cert_chain_pem, key_pem)?)).await
    }

    async fn start_with(
        cfg: OdooSimConfig,
        addr: SocketAddr,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> anyhow::Result<OdooSim> {
        if !(17..=19).contains(&cfg.version) {
            anyhow::bail!("the Odoo simulator knows the series 17, 18 and 19, not {}", cfg.version);
        }
        let shared = Arc::new(Shared {
            db: Mutex::new(seed::demo(cfg.version, cfg.addon_installed, &cfg.login)),
            cfg: Mutex::new(cfg),
            calls: Mutex::default(),
            deprecated: Mutex::default(),
            faults: Mutex::default(),
            method_faults: Mutex::default(),
            latency: Mutex::default(),
            held: tokio::sync::watch::Sender::new(false),
        });
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("the Odoo simulator cannot listen on {addr}: {e}"))?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::watch::channel(false);
        let https = tls.is_some();
        tokio::spawn(http::serve(listener, http::router(shared.clone()), tls, rx));
        Ok(OdooSim { shared, addr, https, stop: Arc::new(Stopper(tx)) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Odoo series it answers as (17, 18 or 19).
    pub fn version(&self) -> u32 {
        self.shared.cfg.lock().unwrap().version
    }

    /// `http://127.0.0.1:PORT`, or `https://` when started over HTTPS.
    pub fn url(&self) -> String {
        format!("{}://{}", if self.https { "https" } else { "http" }, self.addr)
    }

    /// `(model, method)` of every call so far, in order (`("common", "version")` for the
    /// common service), refused and faulted ones included.
    pub fn calls(&self) -> Vec<(String, String)> {
        self.shared.calls.lock().unwrap().clone()
    }

    pub fn reset_calls(&self) {
        self.shared.calls.lock().unwrap().clear();
    }

    /// The paths of the `/jsonrpc` and `/xmlrpc/2/…` requests received as Odoo 19, in order.
    /// Odoo 19 deprecates those endpoints and Odoo 20 removes them: the simulator as 19 refuses
    /// them (HTTP 404, as 20 will), so a client that still calls them fails, and tests assert
    /// this list stays empty.
    pub fn deprecated_calls(&self) -> Vec<String> {
        self.shared.deprecated.lock().unwrap().clone()
    }

    /// Every call from now on takes at least `d` more before it is worked on (zero: none).
    pub fn set_latency(&self, d: Duration) {
        *self.shared.latency.lock().unwrap() = d;
    }

    /// Holds every call (`true`: they wait, logged, without an answer) until released (`false`).
    pub fn hold(&self, yes: bool) {
        self.shared.held.send_replace(yes);
    }

    /// Queues a fault for the next call without a fault of its own (FIFO).
    pub fn push_fault(&self, f: OdooFault) {
        self.shared.faults.lock().unwrap().push_back(f);
    }

    /// Queues a fault for the next call of `model.method` (`"common"` for the common service).
    pub fn push_fault_on(&self, model: &str, method: &str, f: OdooFault) {
        self.shared.method_faults.lock().unwrap().entry((model.into(), method.into())).or_default().push_back(f);
    }

    /// An older payflow_silae addon: `payflow_import` without `payflow_import_plan` (`false`).
    pub fn set_addon_plan(&self, yes: bool) {
        self.shared.db.lock().unwrap().addon_plan = yes;
    }

    /// Installs or uninstalls the payflow_silae addon.
    pub fn set_addon_installed(&self, yes: bool) {
        self.shared.cfg.lock().unwrap().addon_installed = yes;
        seed::set_addon(&mut self.shared.db.lock().unwrap(), yes);
    }

    /// Sets (or clears) a lock date of a company directly, without Odoo's checks.
    pub fn set_lock_date(&self, company_id: i64, field: &str, date: Option<&str>) {
        if let Some(c) = self.shared.db.lock().unwrap().get_mut("res.company", company_id) {
            c.insert(field.into(), date.map_or(json!(false), |d| json!(d)));
        }
    }

    /// Sets "Allow Reconciliation" (`reconcile`) on every account of this code, directly: their ids.
    pub fn set_account_reconcile(&self, code: &str, yes: bool) -> Vec<i64> {
        let mut db = self.shared.db.lock().unwrap();
        let ids: Vec<i64> = db
            .all("account.account")
            .filter(|a| a.get("code").and_then(Value::as_str) == Some(code))
            .filter_map(|a| a.get("id").and_then(Value::as_i64))
            .collect();
        for id in &ids {
            if let Some(a) = db.get_mut("account.account", *id) {
                a.insert("reconcile".into(), json!(yes));
            }
        }
        ids
    }

    /// Changes the admin's password: the old one is refused from now on (the API key stays).
    pub fn set_password(&self, password: &str) {
        self.shared.cfg.lock().unwrap().password = password.into();
    }

    /// Every account.move, by id, with its lines (`line_ids`: the journal items, amounts as
    /// numbers) and its stored fields (`company_id`, `journal_id` as ids, `state`, `date`,
    /// `ref`, `name`, `payflow_import_key`, `payflow_payload_hash`).
    pub fn moves(&self) -> Vec<Value> {
        let db = self.shared.db.lock().unwrap();
        db.all("account.move")
            .map(|m| {
                let mut m = m.clone();
                let id = m.get("id").and_then(Value::as_i64).unwrap_or(0);
                let mut lines = db.lines_of(id);
                lines.sort_by_key(|l| l.get("id").and_then(Value::as_i64));
                m.insert("line_ids".into(), Value::Array(lines.into_iter().map(Value::Object).collect()));
                Value::Object(m)
            })
            .collect()
    }

    /// Posts a move as `action_post` would (numbered, dated after a lock date); if Odoo would
    /// refuse, it is marked posted anyway.
    pub fn post_move(&self, id: i64) {
        let mut db = self.shared.db.lock().unwrap();
        let Ok(env) = db.env(service::ADMIN_UID, serde_json::Map::new()) else { return };
        let mut work = db.clone();
        if account::action_post(&mut work, &env, &[id]).is_ok() {
            *db = work;
        } else if let Some(m) = db.get_mut("account.move", id) {
            m.insert("state".into(), json!("posted"));
            m.insert("posted_before".into(), json!(true));
        }
    }

    /// Sets one stored field of a move directly, as a person editing it in Odoo would (tests
    /// of standard write mode: a note edited, a date changed).
    pub fn edit_move(&self, id: i64, field: &str, value: Value) {
        if let Some(m) = self.shared.db.lock().unwrap().get_mut("account.move", id) {
            m.insert(field.into(), value);
        }
    }

    /// Writes on a move as a person does in Odoo's form (`write`, `line_ids` as commands).
    pub fn write_move(&self, id: i64, vals: Value) -> Result<(), String> {
        let mut db = self.shared.db.lock().unwrap();
        let env = db.env(service::ADMIN_UID, serde_json::Map::new()).map_err(|e| format!("{e:?}"))?;
        let mut work = db.clone();
        account::write(&mut work, &env, "account.move", &[id], &vals).map_err(|e| format!("{e:?}"))?;
        *db = work;
        Ok(())
    }

    /// Adds a contact (res.partner) directly: `company_id` `None` = shared by all companies.
    pub fn add_partner(&self, name: &str, reference: Option<&str>, vat: Option<&str>, company_id: Option<i64>) -> i64 {
        let mut db = self.shared.db.lock().unwrap();
        let text = |v: Option<&str>| v.map_or(json!(false), |v| json!(v));
        let record = json!({
            "name": name, "ref": text(reference), "vat": text(vat),
            "company_id": company_id.map_or(json!(false), |c| json!(c)), "active": true,
        });
        let Value::Object(record) = record else { unreachable!("a JSON object") };
        db.insert("res.partner", record)
    }

    /// Every ir.attachment (`name`, `datas`, `mimetype`, `res_model`, `res_id`…), by id.
    pub fn attachments(&self) -> Vec<Value> {
        self.table("ir.attachment")
    }

    /// Every mail.message (`model`, `res_id`, `body`, `message_type`), by id: the addon's
    /// chatter messages and Odoo's own "Journal Entry created".
    pub fn messages(&self) -> Vec<Value> {
        self.table("mail.message")
    }

    fn table(&self, model: &str) -> Vec<Value> {
        let db = self.shared.db.lock().unwrap();
        db.all(model).cloned().map(Value::Object).collect()
    }

    /// Stops listening (connections under way are served to their end).
    pub fn shutdown(&self) {
        let _ = self.stop.0.send(true);
    }
}
