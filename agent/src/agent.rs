//! One agent instance: its config, state database, secrets and clients (built on first use),
//! the dossiers' locks, and the blocking pool for SQLite work.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::odoo::{OdooClient, Session};
use crate::run::Failure;
use crate::secrets::{SecretName, Secrets};
use crate::silae::{SilaeClient, SilaeCredentials};
use crate::store::{Store, StoreError};

/// One agent instance: its config, state and clients. Built once per process (or per config
/// reload); a run reads the config once, at its start.
pub struct Agent {
    pub config: Config,
    pub store: Arc<Store>,
    pub secrets: Secrets,
    silae: tokio::sync::OnceCell<SilaeClient>,
    odoo: tokio::sync::OnceCell<OdooClient>,
    /// One client per `[odoo.targets.<name>]`, each built on first use: its own session,
    /// connections and pause (docs/targets.md).
    targets: std::collections::BTreeMap<String, tokio::sync::OnceCell<OdooClient>>,
}

impl Agent {
    pub fn open(config: Config) -> Result<Agent, StoreError> {
        let store = Store::open(&config.database_path())?;
        let secrets = Secrets::for_config(&config);
        Ok(Agent::with(config, store, secrets))
    }

    pub fn with(config: Config, store: Store, secrets: Secrets) -> Agent {
        Agent::sharing(config, Arc::new(store), secrets)
    }

    /// An agent on a store already open (a config reload keeps the database it had).
    pub fn sharing(config: Config, store: Arc<Store>, secrets: Secrets) -> Agent {
        let targets = config.odoo.targets.keys().map(|name| (name.clone(), tokio::sync::OnceCell::new())).collect();
        Agent {
            config,
            store,
            secrets,
            silae: tokio::sync::OnceCell::new(),
            odoo: tokio::sync::OnceCell::new(),
            targets,
        }
    }

    /// Saves a dossier (CLI `dossier add`, RPC `dossiers.upsert`) once its target is one of
    /// the config's: an unknown target is refused with what to do, and changes nothing.
    pub fn save_dossier(&self, d: &crate::store::Dossier) -> Result<crate::store::Dossier, StoreError> {
        d.validate()?;
        if self.config.odoo_target(&d.target).is_none() {
            return Err(StoreError::InvalidDossier(format!(
                "target {:?}: this instance's config has no such Odoo target (it has: {}); declare [odoo.targets.{}] and its secret odoo_secret_{} first",
                d.target,
                self.config.target_names().join(", "),
                d.target,
                d.target
            )));
        }
        self.store.upsert_dossier(d, &self.now())
    }

    /// Runs SQLite work on the blocking pool: a database locked by another process (busy
    /// timeout) never holds up the async tasks (the service's `/healthz`, other requests).
    pub async fn db<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || work(&store)).await {
            Ok(r) => r,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(StoreError::Unavailable(e.to_string())),
        }
    }

    /// The current time in the configured zone, RFC 3339 with its offset.
    pub fn now(&self) -> String {
        now_in(self.config.time_zone())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The Silae client, built on first use from the secrets.
    pub async fn silae(&self) -> Result<&SilaeClient, Failure> {
        self.silae
            .get_or_try_init(|| async {
                let credentials = SilaeCredentials {
                    client_id: self.secrets.require(SecretName::SilaeClientId)?,
                    client_secret: self.secrets.require(SecretName::SilaeClientSecret)?,
                    subscription_key: self.secrets.require(SecretName::SilaeSubscriptionKey)?,
                };
                Ok::<_, Failure>(SilaeClient::new(self.config.silae.clone(), credentials)?)
            })
            .await
    }
}

/// An exclusive lock on a dossier for this process: an OS file lock, released by the kernel if
/// the process dies.
pub struct DossierLock(#[allow(dead_code)] std::fs::File);

/// Why a dossier's lock was not taken.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LockError {
    /// Another process held it for the whole wait.
    #[error("another PayFlow run has been working on dossier {dossier} for more than {waited} s (lock {path}): this period was not imported; it will be on the next run, or import it when that run has finished")]
    Busy { dossier: String, path: String, waited: u64 },
    /// The lock file cannot be made or locked: not contention, a problem to fix.
    #[error("cannot lock dossier {dossier}: {path}: {error}. The data folder must be writable by the user PayFlow runs as (check data_dir and the service's ReadWritePaths/StateDirectory)")]
    Io { dossier: String, path: String, error: String },
}

impl Agent {
    /// Locks a dossier, waiting at most `wait` for another process to release it. Contention
    /// ("would block") and real I/O errors on the lock file are told apart.
    pub async fn lock_dossier(&self, dossier: &str, wait: Duration) -> Result<DossierLock, LockError> {
        let dir = self.config.data_dir.join("locks");
        let path = dir.join(format!("{}.lock", dossier.replace(|c: char| !c.is_ascii_alphanumeric(), "_")));
        let io = |error: std::io::Error, at: &std::path::Path| LockError::Io {
            dossier: dossier.to_owned(),
            path: at.display().to_string(),
            error: error.to_string(),
        };
        std::fs::create_dir_all(&dir).map_err(|e| io(e, &dir))?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io(e, &path))?;
        let started = std::time::Instant::now();
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(DossierLock(file)),
                Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < wait => {
                    if !told && !wait.is_zero() {
                        told = true;
                        tracing::info!(
                            dossier,
                            "another run is working on this dossier: waiting for it (at most {} s)",
                            wait.as_secs()
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(LockError::Busy {
                        dossier: dossier.to_owned(),
                        path: path.display().to_string(),
                        waited: wait.as_secs(),
                    })
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io(e, &path)),
            }
        }
    }

    /// Marks `interrupted` the runs left `running` on the dossiers no process works on (their
    /// process died, was killed or stopped): what `serve` does at start-up and a stopped
    /// import does before it exits. Returns how many runs were marked.
    pub async fn interrupt_orphaned_runs(&self) -> usize {
        let dossiers = match self.db(|s| s.dossiers_with_running_runs()).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("cannot look for interrupted runs: {e}");
                return 0;
            }
        };
        let mut marked = 0;
        for dossier in dossiers {
            // Held by a live process: its run is really running.
            let Ok(lock) = self.lock_dossier(&dossier, Duration::ZERO).await else { continue };
            marked += interrupt_stale_runs(self, &dossier).await.unwrap_or(0);
            drop(lock);
        }
        marked
    }

    /// The Odoo client of `[odoo]` (the target `default`), built on first use, connected with
    /// the session remembered in the store (so an import does not authenticate again).
    pub async fn odoo(&self) -> Result<&OdooClient, Failure> {
        self.odoo_for(crate::config::DEFAULT_TARGET).await
    }

    /// The Odoo client of a target (`default` or a `[odoo.targets.<name>]`), built on first use
    /// with its secret `odoo_secret_<name>`, connected with the session remembered for it. A
    /// target the config does not declare fails with kind `config`, nothing asked of any Odoo.
    pub async fn odoo_for(&self, target: &str) -> Result<&OdooClient, Failure> {
        let (cell, o, section) = match self.targets.get(target) {
            Some(cell) => (cell, &self.config.odoo.targets[target], format!("odoo.targets.{target}")),
            None if target == crate::config::DEFAULT_TARGET => (&self.odoo, &self.config.odoo, "odoo".to_owned()),
            None => return Err(unknown_target(target, &self.config)),
        };
        let client = cell
            .get_or_try_init(|| async {
                let secret = self.secrets.require(SecretName::odoo_target(target))?;
                Ok::<_, Failure>(OdooClient::in_section(&section, o, secret)?)
            })
            .await?;
        // An "xmlrpc" session of an older agent reads as none: authenticate again.
        let remembered = self
            .store()
            .odoo_session(o.url.as_str(), &o.database, &o.login)?
            .and_then(|s| Some(Session { protocol: s.protocol, major: u32::try_from(s.major).ok()?, uid: s.uid }));
        let session = client.connect(remembered).await?;
        if remembered != Some(session) {
            self.remember_for(target, session);
        }
        Ok(client)
    }

    /// The clients already built, for the metrics (none is built for that).
    pub fn built_clients(&self) -> (Option<&SilaeClient>, Option<&OdooClient>) {
        (self.silae.get(), self.odoo.get())
    }

    /// A target's client if it was built (`check` reads its TLS verdicts after a failure).
    pub fn built_client(&self, target: &str) -> Option<&OdooClient> {
        match self.targets.get(target) {
            Some(cell) => cell.get(),
            None => self.odoo.get(),
        }
    }

    /// Keeps the session of `[odoo]` for the next process.
    pub fn remember(&self, s: Session) {
        self.remember_for(crate::config::DEFAULT_TARGET, s)
    }

    /// Keeps a target's session for the next process (keyed by its url, database and login).
    pub fn remember_for(&self, target: &str, s: Session) {
        let Some(o) = self.config.odoo_target(target) else { return };
        let row = crate::store::OdooSession { protocol: s.protocol, major: s.major.into(), uid: s.uid };
        if let Err(e) = self.store().save_odoo_session(o.url.as_str(), &o.database, &o.login, Some(&row), &self.now()) {
            tracing::warn!("cannot remember the Odoo session: {e}");
        }
    }
}

/// The failure of a dossier naming a target the config lacks (removed from the config since).
pub fn unknown_target(target: &str, config: &Config) -> Failure {
    Failure::new(
        crate::run::ErrorKind::Config,
        format!(
            "the Odoo target {target:?} is not in the config (targets: {}): declare [odoo.targets.{target}] with its secret odoo_secret_{target}, or change the dossier's target",
            config.target_names().join(", ")
        ),
    )
}

pub fn now_in(tz: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::now().to_zoned(tz.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// With the dossier's lock held, no other process works on it: a run still `running` is one
/// whose process died (a crash, `kill -9`, a power cut). It is marked `interrupted`.
pub(crate) async fn interrupt_stale_runs(agent: &Agent, dossier: &str) -> Result<usize, StoreError> {
    let (number, now) = (dossier.to_owned(), agent.now());
    let marked = agent.db(move |s| s.interrupt_stale_runs(&number, &now)).await;
    match &marked {
        Ok(0) => {}
        Ok(n) => tracing::info!(dossier, "{n} run(s) cut by a stopped process marked interrupted"),
        Err(e) => tracing::warn!(dossier, "cannot mark interrupted runs: {e}"),
    }
    marked
}
