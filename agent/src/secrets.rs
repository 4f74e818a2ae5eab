//! Secrets: the only module that reads them. Looked up in the environment
//! (`PAYFLOW_<NAME>`), then in systemd's `$CREDENTIALS_DIRECTORY/<name>`, then in the encrypted
//! store of `data_dir` (XChaCha20-Poly1305, the key in its own owner-only file). Values are
//! held in `secrecy` types and never formatted: errors name the secret, never its value.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, OsRng, Payload};
use chacha20poly1305::{AeadCore, XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecretName {
    SilaeClientId,
    SilaeClientSecret,
    SilaeSubscriptionKey,
    OdooSecret,
    SmtpPassword,
    RpcToken,
    /// `odoo_secret_<name>`: the password or API key of the Odoo target `<name>`
    /// (`[odoo.targets.<name>]`); made by [`SecretName::odoo_target`].
    OdooTarget(&'static str),
}

impl SecretName {
    pub const ALL: [SecretName; 6] = [
        SecretName::SilaeClientId,
        SecretName::SilaeClientSecret,
        SecretName::SilaeSubscriptionKey,
        SecretName::OdooSecret,
        SecretName::SmtpPassword,
        SecretName::RpcToken,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SecretName::SilaeClientId => "silae_client_id",
            SecretName::SilaeClientSecret => "silae_client_secret",
            SecretName::SilaeSubscriptionKey => "silae_subscription_key",
            SecretName::OdooSecret => "odoo_secret",
            SecretName::SmtpPassword => "smtp_password",
            SecretName::RpcToken => "rpc_token",
            SecretName::OdooTarget(name) => name,
        }
    }

    /// The secret of an Odoo target: `odoo_secret` for `default` (`[odoo]`), else
    /// `odoo_secret_<name>`. (Names are kept for the process's life: a config has a few.)
    pub fn odoo_target(target: &str) -> SecretName {
        if target == crate::config::DEFAULT_TARGET {
            return SecretName::OdooSecret;
        }
        static NAMES: std::sync::Mutex<std::collections::BTreeSet<&'static str>> =
            std::sync::Mutex::new(std::collections::BTreeSet::new());
        let full = format!("odoo_secret_{target}");
        let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
        let name = match names.get(full.as_str()) {
            Some(n) => n,
            None => {
                let leaked: &'static str = Box::leak(full.into_boxed_str());
                names.insert(leaked);
                leaked
            }
        };
        SecretName::OdooTarget(name)
    }

    pub fn env_var(self) -> String {
        format!("PAYFLOW_{}", self.as_str().to_ascii_uppercase())
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SecretName {
    type Err = SecretError;
    fn from_str(s: &str) -> Result<SecretName, SecretError> {
        if let Some(target) = s.strip_prefix("odoo_secret_").filter(|t| crate::config::valid_target_name(t)) {
            return Ok(SecretName::odoo_target(target));
        }
        SecretName::ALL.into_iter().find(|n| n.as_str() == s).ok_or_else(|| SecretError::UnknownName(s.to_owned()))
    }
}

/// Where a secret's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Env,
    Credential,
    Store,
    Unset,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Env => "set (environment)",
            Source::Credential => "set (systemd credential)",
            Source::Store => "set (encrypted store)",
            Source::Unset => "not set",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "unknown secret name {0:?}: expected one of silae_client_id, silae_client_secret, silae_subscription_key, odoo_secret, odoo_secret_<target>, smtp_password, rpc_token"
    )]
    UnknownName(String),
    #[error(
        "the secret {name} is not set: run `payflow-agent secret set {name}` (value on standard input), or set {env}"
    )]
    Missing { name: SecretName, env: String },
    #[error("the secret {0} is empty: give a non-empty value")]
    Empty(SecretName),
    #[error("{path}: {action}: {source}")]
    Io { path: PathBuf, action: &'static str, source: std::io::Error },
    #[error("the secret store {store} cannot be decrypted with the key {key}: {why}. Restore the key file, or delete both files and set the secrets again")]
    Undecryptable { store: PathBuf, key: PathBuf, why: String },
    #[error("the secret store {0} is damaged: {1}. Delete it and set the secrets again")]
    Damaged(PathBuf, String),
    #[error("{path} is readable by other users (mode {mode:o}): run `chmod 600 {path}`{dir}")]
    TooOpen { path: PathBuf, mode: u32, dir: String },
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StoreFile {
    version: u32,
    entries: BTreeMap<String, Sealed>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Sealed {
    nonce: String,
    ciphertext: String,
}

type EnvLookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The secrets of one agent instance.
pub struct Secrets {
    store_path: PathBuf,
    key_path: PathBuf,
    credentials_dir: Option<PathBuf>,
    env: EnvLookup,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets").field("store_path", &self.store_path).field("key_path", &self.key_path).finish()
    }
}

impl Secrets {
    /// The secrets of a configured instance, reading the process environment.
    pub fn for_config(config: &Config) -> Secrets {
        Secrets::new(
            config.data_dir.join("secrets.store"),
            config.secrets_key_path(),
            std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from),
            Box::new(|k| std::env::var(k).ok()),
        )
    }

    pub fn new(store_path: PathBuf, key_path: PathBuf, credentials_dir: Option<PathBuf>, env: EnvLookup) -> Secrets {
        Secrets { store_path, key_path, credentials_dir, env }
    }

    pub fn store_path(&self) -> &Path {
        &self.store_path
    }

    /// The value, from the first source that has it.
    pub fn get(&self, name: SecretName) -> Result<Option<SecretString>, SecretError> {
        Ok(self.lookup(name)?.map(|(v, _)| v))
    }

    /// The value, or an error that says how to set it.
    pub fn require(&self, name: SecretName) -> Result<SecretString, SecretError> {
        self.get(name)?.ok_or_else(|| SecretError::Missing { name, env: name.env_var() })
    }

    pub fn source(&self, name: SecretName) -> Result<Source, SecretError> {
        Ok(self.lookup(name)?.map_or(Source::Unset, |(_, s)| s))
    }

    fn lookup(&self, name: SecretName) -> Result<Option<(SecretString, Source)>, SecretError> {
        if let Some(v) = (self.env)(&name.env_var()).filter(|v| !v.is_empty()) {
            return Ok(Some((SecretString::from(v), Source::Env)));
        }
        if let Some(dir) = &self.credentials_dir {
            let path = dir.join(name.as_str());
            match std::fs::read_to_string(&path) {
                Ok(v) => {
                    let v = v.trim_end_matches(['\n', '\r']).to_owned();
                    if !v.is_empty() {
                        return Ok(Some((SecretString::from(v), Source::Credential)));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(SecretError::Io { path, action: "cannot read the credential", source }),
            }
        }
        let store = self.read_store()?;
        let Some(sealed) = store.entries.get(name.as_str()) else {
            return Ok(None);
        };
        let cipher = self.cipher(false)?.expect("a store with entries has a key");
        let nonce =
            B64.decode(&sealed.nonce).map_err(|e| SecretError::Damaged(self.store_path.clone(), e.to_string()))?;
        let ct =
            B64.decode(&sealed.ciphertext).map_err(|e| SecretError::Damaged(self.store_path.clone(), e.to_string()))?;
        if nonce.len() != 24 {
            return Err(SecretError::Damaged(self.store_path.clone(), "a nonce has the wrong length".into()));
        }
        let plain = cipher
            .decrypt(XNonce::from_slice(&nonce), Payload { msg: &ct, aad: name.as_str().as_bytes() })
            .map_err(|_| SecretError::Undecryptable {
                store: self.store_path.clone(),
                key: self.key_path.clone(),
                why: format!("the entry {name} does not authenticate (wrong key or altered file)"),
            })?;
        let value = String::from_utf8(plain)
            .map_err(|_| SecretError::Damaged(self.store_path.clone(), format!("{name} is not UTF-8")))?;
        Ok(Some((SecretString::from(value), Source::Store)))
    }

    /// Encrypts and stores a value (creating the key on first use). Writers are serialised
    /// by an exclusive lock, so parallel `secret set` each keep their value.
    pub fn set(&self, name: SecretName, value: &SecretString) -> Result<(), SecretError> {
        let value = value.expose_secret().trim_end_matches(['\n', '\r']);
        if value.is_empty() {
            return Err(SecretError::Empty(name));
        }
        let _lock = self.lock_for_writing()?;
        let mut store = self.read_store()?;
        let cipher = self.cipher(true)?.expect("created when asked");
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ct = cipher
            .encrypt(&nonce, Payload { msg: value.as_bytes(), aad: name.as_str().as_bytes() })
            .map_err(|_| SecretError::Damaged(self.store_path.clone(), "encryption failed".into()))?;
        store.version = 1;
        store.entries.insert(name.as_str().to_owned(), Sealed { nonce: B64.encode(nonce), ciphertext: B64.encode(ct) });
        self.write_store(&store)
    }

    /// Removes a value from the store; `false` when it held none.
    pub fn delete(&self, name: SecretName) -> Result<bool, SecretError> {
        let _lock = self.lock_for_writing()?;
        let mut store = self.read_store()?;
        let removed = store.entries.remove(name.as_str()).is_some();
        if removed {
            self.write_store(&store)?;
        }
        Ok(removed)
    }

    /// An exclusive OS lock on `<store>.lock` for a read-modify-write of the store (and the
    /// key's creation); released when dropped, or by the kernel if the process dies.
    fn lock_for_writing(&self) -> Result<std::fs::File, SecretError> {
        let path = self.store_path.with_extension("lock");
        let io = |action, source| SecretError::Io { path: path.clone(), action, source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io("cannot create the folder", e))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path).map_err(|e| io("cannot open the lock file", e))?;
        file.lock().map_err(|e| io("cannot lock", e))?;
        Ok(file)
    }

    fn read_store(&self) -> Result<StoreFile, SecretError> {
        check_private(&self.store_path)?;
        match std::fs::read(&self.store_path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| SecretError::Damaged(self.store_path.clone(), e.to_string()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StoreFile::default()),
            Err(source) => {
                Err(SecretError::Io { path: self.store_path.clone(), action: "cannot read the secret store", source })
            }
        }
    }

    fn write_store(&self, store: &StoreFile) -> Result<(), SecretError> {
        let bytes = serde_json::to_vec_pretty(store).expect("serialisable");
        write_private(&self.store_path, &bytes)
    }

    /// The cipher from the key file (or the `secrets_key` credential); with `create`, a new
    /// random key is written when there is none.
    fn cipher(&self, create: bool) -> Result<Option<XChaCha20Poly1305>, SecretError> {
        let from_credential = self.credentials_dir.as_ref().map(|d| d.join("secrets_key")).filter(|p| p.exists());
        let path = from_credential.unwrap_or_else(|| self.key_path.clone());
        let undecryptable =
            |why: String| SecretError::Undecryptable { store: self.store_path.clone(), key: path.clone(), why };
        if from_credential_is(&path, &self.credentials_dir) {
            // systemd's credentials are its own (read-only, owned by the service).
        } else {
            check_private(&path)?;
        }
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let key = B64.decode(text.trim()).map_err(|e| undecryptable(format!("the key is not base64: {e}")))?;
                if key.len() != 32 {
                    return Err(undecryptable("the key is not 32 bytes".into()));
                }
                Ok(Some(XChaCha20Poly1305::new_from_slice(&key).expect("32 bytes")))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !create {
                    return Err(undecryptable("the key file is missing".into()));
                }
                let key = XChaCha20Poly1305::generate_key(&mut OsRng);
                write_private(&path, format!("{}\n", B64.encode(key)).as_bytes())?;
                Ok(Some(XChaCha20Poly1305::new(&key)))
            }
            Err(source) => Err(SecretError::Io { path, action: "cannot read the secret key", source }),
        }
    }
}

fn from_credential_is(path: &Path, credentials_dir: &Option<PathBuf>) -> bool {
    credentials_dir.as_ref().is_some_and(|d| path.starts_with(d))
}

/// Refuses a secret file (key or store) that users other than its owner can read or write.
fn check_private(path: &Path) -> Result<(), SecretError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = match std::fs::metadata(path) {
            Ok(m) => m.permissions().mode() & 0o777,
            Err(_) => return Ok(()), // missing: said by the read that follows
        };
        if mode & 0o077 != 0 {
            return Err(SecretError::TooOpen {
                path: path.to_owned(),
                mode,
                dir: String::from(" (and keep its folder closed to others: `chmod 700` on it)"),
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Writes a file readable by its owner only, atomically: a temporary file of its own (unique
/// per write, so parallel writers never share one), synced, then renamed over the target.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), SecretError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let io = |action, source| SecretError::Io { path: path.to_owned(), action, source };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io("cannot create the folder", e))?;
    }
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let unique = format!(
        ".{file_name}.{}.{}.{:x}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand::random::<u64>()
    );
    let tmp = path.with_file_name(unique);
    let written = (|| {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp).map_err(|e| io("cannot write", e))?;
        f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| io("cannot write", e))?;
        std::fs::rename(&tmp, path).map_err(|e| io("cannot replace", e))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(dir: &Path, env: &[(&str, &str)], creds: Option<PathBuf>) -> Secrets {
        let env: BTreeMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Secrets::new(
            dir.join("secrets.store"),
            dir.join("key/secrets.key"),
            creds,
            Box::new(move |k| env.get(k).cloned()),
        )
    }

    #[test]
    fn store_round_trip_is_encrypted_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let s = secrets(dir.path(), &[], None);
        assert_eq!(s.source(SecretName::OdooSecret).unwrap(), Source::Unset);
        s.set(SecretName::OdooSecret, &SecretString::from("hunter2-planted\n")).unwrap();
        assert_eq!(s.get(SecretName::OdooSecret).unwrap().unwrap().expose_secret(), "hunter2-planted");
        assert_eq!(s.source(SecretName::OdooSecret).unwrap(), Source::Store);
        let on_disk = std::fs::read_to_string(s.store_path()).unwrap();
        assert!(!on_disk.contains("hunter2"), "the store holds the value in clear");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for p in [s.store_path().to_owned(), dir.path().join("key/secrets.key")] {
                assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600, "{}", p.display());
            }
        }
        assert!(s.delete(SecretName::OdooSecret).unwrap());
        assert!(!s.delete(SecretName::OdooSecret).unwrap());
        assert!(s.get(SecretName::OdooSecret).unwrap().is_none());
    }

    #[test]
    fn lookup_order_is_env_then_credential_then_store() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("creds");
        std::fs::create_dir(&creds).unwrap();
        std::fs::write(creds.join("odoo_secret"), "from-credential\n").unwrap();
        let store_only = secrets(dir.path(), &[], None);
        store_only.set(SecretName::OdooSecret, &SecretString::from("from-store")).unwrap();
        let with_creds = secrets(dir.path(), &[], Some(creds.clone()));
        assert_eq!(with_creds.get(SecretName::OdooSecret).unwrap().unwrap().expose_secret(), "from-credential");
        assert_eq!(with_creds.source(SecretName::OdooSecret).unwrap(), Source::Credential);
        let with_env = secrets(dir.path(), &[("PAYFLOW_ODOO_SECRET", "from-env")], Some(creds));
        assert_eq!(with_env.get(SecretName::OdooSecret).unwrap().unwrap().expose_secret(), "from-env");
        assert_eq!(store_only.get(SecretName::OdooSecret).unwrap().unwrap().expose_secret(), "from-store");
    }

    #[test]
    fn errors_say_what_to_do_and_never_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let s = secrets(dir.path(), &[], None);
        let err = s.require(SecretName::SilaeClientSecret).unwrap_err().to_string();
        assert!(
            err.contains("payflow-agent secret set silae_client_secret") && err.contains("PAYFLOW_SILAE_CLIENT_SECRET"),
            "{err}"
        );
        assert!(matches!("nope".parse::<SecretName>(), Err(SecretError::UnknownName(_))));
        // A target's secret: its name, its environment variable; `default` is odoo_secret.
        let b: SecretName = "odoo_secret_client_b".parse().unwrap();
        assert_eq!((b.as_str(), b.env_var()), ("odoo_secret_client_b", "PAYFLOW_ODOO_SECRET_CLIENT_B".to_owned()));
        assert_eq!(b, SecretName::odoo_target("client_b"));
        assert_eq!(SecretName::odoo_target("default"), SecretName::OdooSecret);
        assert!("odoo_secret_Client-B".parse::<SecretName>().is_err());
        assert!(matches!(s.set(SecretName::RpcToken, &SecretString::from("\n")), Err(SecretError::Empty(_))));
        // A lost key: the store cannot be read, and the error says so without any value.
        s.set(SecretName::RpcToken, &SecretString::from("planted-token-value")).unwrap();
        std::fs::remove_file(dir.path().join("key/secrets.key")).unwrap();
        let err = s.get(SecretName::RpcToken).unwrap_err().to_string();
        assert!(err.contains("key file is missing") && !err.contains("planted-token-value"), "{err}");
        // A tampered store does not authenticate.
        let other = secrets(dir.path(), &[], None);
        other.set(SecretName::SmtpPassword, &SecretString::from("x")).unwrap();
        let err = other.get(SecretName::RpcToken).unwrap_err().to_string();
        assert!(err.contains("does not authenticate"), "{err}");
    }

    #[test]
    fn names_map_to_env_vars() {
        assert_eq!(SecretName::SilaeClientSecret.env_var(), "PAYFLOW_SILAE_CLIENT_SECRET");
        for n in SecretName::ALL {
            assert_eq!(n.as_str().parse::<SecretName>().unwrap(), n);
        }
    }
}
