//! The TOML configuration: no secret in it. Loaded strictly (unknown keys refused), then
//! validated; every error names the file, the key and what is expected.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use lettre::message::Mailbox;
use serde::{Deserialize, Deserializer, Serialize};

pub const DEFAULT_SILAE_API_URL: &str = "https://payroll-api.silae.fr/payroll";
pub const DEFAULT_SILAE_TOKEN_URL: &str = "https://payroll-api-auth.silae.fr/oauth2/v2.0/token";
pub const DEFAULT_SILAE_SCOPE: &str =
    "https://silaecloudb2c.onmicrosoft.com/36658aca-9556-41b7-9e48-77e90b006f34/.default";

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub instance: String,
    /// The SQLite database and the encrypted secret store. A relative path is taken from the
    /// folder of the config file.
    pub data_dir: PathBuf,
    /// The time zone of "today" and of the times shown to people (its IANA name; resolved once,
    /// on load, into [`Config::time_zone`]).
    #[serde(default = "default_timezone")]
    pub timezone: String,
    #[serde(skip, default = "utc")]
    time_zone: jiff::tz::TimeZone,
    /// Where the key of the encrypted secret store lives (default: `<data_dir>/secrets.key`).
    /// Keep it apart from the data folder's backups for the store to protect anything.
    #[serde(default)]
    pub secrets_key_file: Option<PathBuf>,
    #[serde(default)]
    pub rpc: RpcConfig,
    #[serde(default)]
    pub silae: SilaeConfig,
    pub odoo: OdooConfig,
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
    #[serde(default)]
    pub alerts: AlertsConfig,
}

/// `[alerts]`: who gets the alert e-mails besides each dossier's own addresses.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// The accounting firm's own addresses: every alert of every dossier (every target) and
    /// the Silae secrets' expiry notices go to them as well.
    #[serde(default)]
    pub firm_emails: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RpcConfig {
    #[serde(default = "default_listen", deserialize_with = "de_listen")]
    pub listen: SocketAddr,
    /// Kept for older configs: listening beyond loopback now needs `tls_cert` and `tls_key`
    /// (plain HTTP is never served beyond loopback).
    #[serde(default)]
    pub allow_remote: bool,
    /// The service's certificate chain (PEM, the server's first) and private key (PEM): it
    /// then speaks HTTPS only. Relative paths are taken from the config file's folder; both
    /// are read and checked on load.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
}

impl Default for RpcConfig {
    fn default() -> Self {
        RpcConfig { listen: default_listen(), allow_remote: false, tls_cert: None, tls_key: None }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SilaeConfig {
    #[serde(default = "default_api_url", deserialize_with = "de_silae_api_url")]
    pub api_url: HttpUrl,
    #[serde(default = "default_token_url", deserialize_with = "de_silae_token_url")]
    pub token_url: HttpUrl,
    #[serde(default = "default_scope")]
    pub scope: String,
    /// Seconds before one HTTP call to Silae is abandoned.
    #[serde(default = "default_silae_timeout")]
    pub timeout_secs: u64,
    /// How many times a 429, a 5xx or a timeout is retried.
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// The first backoff delay, doubled at each retry (with jitter, at most 30 s).
    #[serde(default = "default_retry_base_ms")]
    pub retry_base_ms: u64,
    /// The first wait between two polls of an asynchronous journal, doubled at each poll
    /// (with jitter, at most 30 s).
    #[serde(default = "default_async_poll_ms")]
    pub async_poll_ms: u64,
    /// The longest an asynchronous journal is waited for before the run fails (the next run
    /// asks again).
    #[serde(default = "default_async_wait_secs")]
    pub async_wait_secs: u64,
    /// A CA to trust for Silae besides the system's store and the bundled roots (PEM).
    #[serde(default)]
    pub ca_file: Option<CaFile>,
}

impl Default for SilaeConfig {
    fn default() -> Self {
        SilaeConfig {
            api_url: default_api_url(),
            token_url: default_token_url(),
            scope: default_scope(),
            timeout_secs: default_silae_timeout(),
            max_retries: default_retries(),
            retry_base_ms: default_retry_base_ms(),
            async_poll_ms: default_async_poll_ms(),
            async_wait_secs: default_async_wait_secs(),
            ca_file: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum OdooProtocol {
    #[default]
    Auto,
    Json2,
    Jsonrpc,
    Xmlrpc,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OdooConfig {
    #[serde(deserialize_with = "de_odoo_url")]
    pub url: HttpUrl,
    pub database: String,
    pub login: String,
    #[serde(default)]
    pub protocol: OdooProtocol,
    #[serde(default = "default_odoo_timeout")]
    pub timeout_secs: u64,
    /// A CA to trust for this Odoo besides the system's store and the bundled roots (PEM): a
    /// company's own CA. Each `[odoo.targets.<name>]` takes the same key.
    #[serde(default)]
    pub ca_file: Option<CaFile>,
    /// How moves are written: through the payflow_silae addon, or with Odoo's stock models only
    /// (`standard`: Odoo Online); `auto` picks the addon when it is installed.
    #[serde(default)]
    pub write_mode: WriteMode,
    /// At most this many calls a second to this Odoo (Odoo Online limits the calls per
    /// database); none: no limit of the agent's own.
    #[serde(default)]
    pub max_calls_per_sec: Option<std::num::NonZeroU32>,
    /// Other Odoo databases this instance writes to (`[odoo.targets.<name>]`, the same keys; the
    /// secret `odoo_secret_<name>`): a dossier names its target, `[odoo]` itself is the target
    /// `default`, of the dossiers naming none. Only under `[odoo]` (docs/targets.md).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub targets: BTreeMap<String, OdooConfig>,
}

/// `odoo.write_mode` (docs/odoo-protocol.md, docs/reliability.md).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum WriteMode {
    /// The addon when `payflow_silae` is installed, else `standard`.
    #[default]
    Auto,
    /// Only through the addon: a database without it refuses writing.
    Addon,
    /// Odoo's stock models and methods only (what Odoo Online allows), even where the addon is.
    Standard,
}

impl RpcConfig {
    /// The certificate chain and key files, when the service speaks HTTPS.
    pub fn tls(&self) -> Option<(&Path, &Path)> {
        Some((self.tls_cert.as_deref()?, self.tls_key.as_deref()?))
    }
}

/// The name of the `[odoo]` table itself as a target: of the dossiers naming none.
pub const DEFAULT_TARGET: &str = "default";

/// A target's name: lowercase letters, digits and `_`, a letter first, at most 40 (it names the
/// secret `odoo_secret_<name>` and its environment variable `PAYFLOW_ODOO_SECRET_<NAME>`).
pub fn valid_target_name(name: &str) -> bool {
    name.len() <= 40
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// What a target's name must be, for the errors.
pub const TARGET_NAME_EXPECTED: &str =
    "a target name of lowercase letters, digits and '_', a letter first, at most 40 (\"default\" is [odoo] itself)";

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    #[default]
    Starttls,
    Tls,
    None,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    #[serde(default = "default_smtp_host")]
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default)]
    pub security: SmtpSecurity,
    #[serde(deserialize_with = "de_smtp_from", serialize_with = "ser_display")]
    pub from: Mailbox,
    #[serde(default)]
    pub username: Option<String>,
    /// Days between the first alert of a failing dossier and a reminder.
    #[serde(default = "default_reminder_days")]
    pub reminder_days: u32,
    /// Seconds before the SMTP server is given up.
    #[serde(default = "default_smtp_timeout")]
    pub timeout_secs: u64,
    /// A CA to trust for the SMTP server besides the system's store and the bundled roots (PEM):
    /// an internal relay's.
    #[serde(default)]
    pub ca_file: Option<CaFile>,
}

/// `ca_file = "PATH"`: a PEM file of one or more CA certificates. A relative path is taken from
/// the config file's folder; the file is read and its certificates checked once, on load.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(from = "PathBuf", into = "PathBuf")]
pub struct CaFile {
    pub path: PathBuf,
    certs: Vec<rustls::pki_types::CertificateDer<'static>>,
}

impl From<PathBuf> for CaFile {
    fn from(path: PathBuf) -> CaFile {
        CaFile { path, certs: Vec::new() }
    }
}

impl From<CaFile> for PathBuf {
    fn from(c: CaFile) -> PathBuf {
        c.path
    }
}

impl CaFile {
    /// Reads the file (done by `Config::parse`; call it for a `CaFile` built in code).
    pub fn load(&mut self) -> Result<(), String> {
        self.certs = crate::tls::read_ca_file(&self.path)?;
        Ok(())
    }

    /// The path and the certificates, as `tls::Trust::new` takes them.
    pub fn trust_input(&self) -> (&Path, &[rustls::pki_types::CertificateDer<'static>]) {
        (&self.path, &self.certs)
    }
}

/// The trust of one connection: its optional `ca_file` and its section, named in `check`'s hints.
pub fn trust(section: &str, ca_file: Option<&CaFile>) -> Result<crate::tls::Trust, String> {
    match ca_file {
        // Built in code rather than loaded: read now, never silently empty.
        Some(ca) if ca.certs.is_empty() => {
            let certs = crate::tls::read_ca_file(&ca.path)
                .map_err(|why| format!("{section}.ca_file {}: {why}", ca.path.display()))?;
            crate::tls::Trust::new(section, Some((&ca.path, &certs)))
        }
        _ => crate::tls::Trust::new(section, ca_file.map(CaFile::trust_input)),
    }
}

fn default_timezone() -> String {
    "Europe/Paris".into()
}
fn utc() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::UTC
}
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8390))
}
fn default_api_url() -> HttpUrl {
    HttpUrl::parse(DEFAULT_SILAE_API_URL).expect("a constant http URL")
}
fn default_token_url() -> HttpUrl {
    HttpUrl::parse(DEFAULT_SILAE_TOKEN_URL).expect("a constant http URL")
}
fn default_scope() -> String {
    DEFAULT_SILAE_SCOPE.into()
}
fn default_silae_timeout() -> u64 {
    60
}
fn default_retries() -> u32 {
    4
}
fn default_retry_base_ms() -> u64 {
    500
}
fn default_async_poll_ms() -> u64 {
    2000
}
fn default_async_wait_secs() -> u64 {
    1800
}
fn default_odoo_timeout() -> u64 {
    120
}
fn default_reminder_days() -> u32 {
    3
}
fn default_smtp_timeout() -> u64 {
    30
}
fn default_smtp_host() -> String {
    "mail.infomaniak.com".into()
}
fn default_smtp_port() -> u16 {
    587
}

/// An `http://` or `https://` URL with a host, checked once on load. Its text is kept as
/// written (`as_str`): it names the Odoo session remembered in the store and is shown as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    text: String,
    url: reqwest::Url,
}

impl HttpUrl {
    /// `None` unless `text` is an http(s) URL with a host.
    pub fn parse(text: &str) -> Option<HttpUrl> {
        let url = reqwest::Url::parse(text).ok()?;
        (matches!(url.scheme(), "http" | "https") && url.host_str().is_some())
            .then(|| HttpUrl { text: text.to_owned(), url })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn url(&self) -> &reqwest::Url {
        &self.url
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for HttpUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

fn ser_display<T: fmt::Display, S: serde::Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

/// Deserializes a text key into its type with `parse`; a bad value is refused with the key
/// and what is expected (TOML adds the file's line).
fn parsed<'de, D: Deserializer<'de>, T>(
    d: D,
    key: &str,
    expected: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, D::Error> {
    let text = String::deserialize(d)?;
    parse(&text).ok_or_else(|| serde::de::Error::custom(format!("key `{key}`: expected {expected}, found {text:?}")))
}

const EXPECTED_URL: &str = "an http:// or https:// URL";

fn de_listen<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    parsed(d, "rpc.listen", "an address and port such as \"127.0.0.1:8390\"", |s| s.parse().ok())
}
fn de_silae_api_url<'de, D: Deserializer<'de>>(d: D) -> Result<HttpUrl, D::Error> {
    parsed(d, "silae.api_url", EXPECTED_URL, HttpUrl::parse)
}
fn de_silae_token_url<'de, D: Deserializer<'de>>(d: D) -> Result<HttpUrl, D::Error> {
    parsed(d, "silae.token_url", EXPECTED_URL, HttpUrl::parse)
}
fn de_odoo_url<'de, D: Deserializer<'de>>(d: D) -> Result<HttpUrl, D::Error> {
    parsed(d, "odoo.url", EXPECTED_URL, HttpUrl::parse)
}
fn de_smtp_from<'de, D: Deserializer<'de>>(d: D) -> Result<Mailbox, D::Error> {
    parsed(d, "smtp.from", "an address such as \"PayFlow <notifications@example.com>\"", |s| {
        if looks_like_mailbox(s) {
            s.parse().ok()
        } else {
            None
        }
    })
}

/// A configuration error: which file, which key, what is expected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {file}: {error}; pass --config PATH or set PAYFLOW_CONFIG")]
    Read { file: PathBuf, error: std::io::Error },
    #[error("{file}: {message}")]
    Syntax { file: PathBuf, message: String },
    #[error("{file}: key `{key}`: expected {expected}, found {found:?}")]
    Invalid { file: PathBuf, key: &'static str, expected: &'static str, found: String },
    /// A key of one `[odoo.targets.<name>]` table.
    #[error("{file}: key `{key}`: expected {expected}, found {found:?}")]
    Target { file: PathBuf, key: String, expected: &'static str, found: String },
}

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read { file: path.to_owned(), error })?;
        Config::parse(path, &text)
    }

    /// Parses and validates config text; `path` is named in errors and anchors a relative
    /// `data_dir`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text)
            .map_err(|e| ConfigError::Syntax { file: path.to_owned(), message: one_line(&e.to_string()) })?;
        if config.data_dir.is_relative() {
            let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            config.data_dir = base.join(&config.data_dir);
        }
        if let Some(k) = &config.secrets_key_file {
            if k.is_relative() {
                let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                config.secrets_key_file = Some(base.join(k));
            }
        }
        config.time_zone = jiff::tz::TimeZone::get(&config.timezone).map_err(|_| ConfigError::Invalid {
            file: path.to_owned(),
            key: "timezone",
            expected: "an IANA time zone such as \"Europe/Paris\"",
            found: config.timezone.clone(),
        })?;
        let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_owned();
        for file in [config.rpc.tls_cert.as_mut(), config.rpc.tls_key.as_mut()].into_iter().flatten() {
            if file.is_relative() {
                *file = base.join(&*file);
            }
        }
        config.validate(path)?;
        if let Some((cert, key)) = config.rpc.tls() {
            crate::rpc::server::tls_acceptor(cert, key).map_err(|found| ConfigError::Invalid {
                file: path.to_owned(),
                key: "rpc.tls_cert",
                expected: "a PEM certificate chain (the server's first) and, in rpc.tls_key, its PEM private key",
                found,
            })?;
        }
        let Config { silae, odoo, smtp, .. } = &mut config;
        let (odoo_ca, targets) = (odoo.ca_file.as_mut(), &mut odoo.targets);
        for (key, ca) in [
            ("silae.ca_file", silae.ca_file.as_mut()),
            ("odoo.ca_file", odoo_ca),
            ("smtp.ca_file", smtp.as_mut().and_then(|s| s.ca_file.as_mut())),
        ]
        .into_iter()
        .chain(targets.values_mut().map(|t| ("odoo.targets.<name>.ca_file", t.ca_file.as_mut())))
        {
            let Some(ca) = ca else { continue };
            if ca.path.is_relative() {
                ca.path = base.join(&ca.path);
            }
            ca.load().map_err(|why| ConfigError::Invalid {
                file: path.to_owned(),
                key,
                expected: "a PEM file of one or more CA certificates (-----BEGIN CERTIFICATE-----)",
                found: format!("{}: {why}", ca.path.display()),
            })?;
        }
        Ok(config)
    }

    pub fn validate(&self, file: &Path) -> Result<(), ConfigError> {
        let invalid = |key, expected, found: &str| {
            Err(ConfigError::Invalid { file: file.to_owned(), key, expected, found: found.to_owned() })
        };
        let name_ok = |s: &str| {
            !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !name_ok(&self.instance) {
            return invalid("instance", "a name of letters, digits, '-' or '_' (at most 64)", &self.instance);
        }
        if self.data_dir.as_os_str().is_empty() {
            return invalid("data_dir", "a folder path", "");
        }
        if self.rpc.tls_cert.is_some() != self.rpc.tls_key.is_some() {
            let (key, found) = match &self.rpc.tls_cert {
                Some(cert) => ("rpc.tls_key", cert.display().to_string()),
                None => ("rpc.tls_cert", String::new()),
            };
            return invalid(key, "both rpc.tls_cert and rpc.tls_key (PEM files), or neither", &found);
        }
        if !self.rpc.listen.ip().is_loopback() && self.rpc.tls().is_none() {
            return invalid(
                "rpc.listen",
                "a loopback address (127.0.0.1), or rpc.tls_cert and rpc.tls_key (PEM) to serve HTTPS beyond loopback: plain HTTP is never served beyond loopback",
                &self.rpc.listen.to_string(),
            );
        }
        if self.odoo.protocol == OdooProtocol::Xmlrpc {
            return invalid(
                "odoo.protocol",
                "\"auto\" (JSON-RPC on Odoo 17 and 18, JSON-2 on 19 and later), \"jsonrpc\" or \"json2\": XML-RPC is not supported any more (Odoo 19 deprecates it, Odoo 20 removes it)",
                "xmlrpc",
            );
        }
        if self.silae.scope.trim().is_empty() {
            return invalid("silae.scope", "the OAuth2 scope given by Silae", "");
        }
        if !(1..=3600).contains(&self.silae.timeout_secs) {
            return invalid("silae.timeout_secs", "seconds between 1 and 3600", &self.silae.timeout_secs.to_string());
        }
        if self.silae.max_retries > 10 {
            return invalid("silae.max_retries", "at most 10", &self.silae.max_retries.to_string());
        }
        if self.silae.retry_base_ms > 60_000 {
            return invalid("silae.retry_base_ms", "at most 60000 ms", &self.silae.retry_base_ms.to_string());
        }
        if !(1..=60_000).contains(&self.silae.async_poll_ms) {
            return invalid("silae.async_poll_ms", "between 1 and 60000 ms", &self.silae.async_poll_ms.to_string());
        }
        if !(1..=86_400).contains(&self.silae.async_wait_secs) {
            let got = self.silae.async_wait_secs.to_string();
            return invalid("silae.async_wait_secs", "seconds between 1 and 86400 (a day)", &got);
        }
        if self.odoo.database.trim().is_empty() {
            return invalid("odoo.database", "the Odoo database name", "");
        }
        if self.odoo.login.trim().is_empty() {
            return invalid("odoo.login", "the Odoo user's login", "");
        }
        if !(1..=3600).contains(&self.odoo.timeout_secs) {
            return invalid("odoo.timeout_secs", "seconds between 1 and 3600", &self.odoo.timeout_secs.to_string());
        }
        for (name, t) in &self.odoo.targets {
            if !valid_target_name(name) || name == DEFAULT_TARGET {
                return invalid("odoo.targets", TARGET_NAME_EXPECTED, name);
            }
            let at = |key: &str, expected: &'static str, found: String| {
                Err(ConfigError::Target {
                    file: file.to_owned(),
                    key: format!("odoo.targets.{name}.{key}"),
                    expected,
                    found,
                })
            };
            if !t.targets.is_empty() {
                return at(
                    "targets",
                    "targets only under [odoo] ([odoo.targets.<name>]), not within a target",
                    String::new(),
                );
            }
            if t.protocol == OdooProtocol::Xmlrpc {
                return at(
                    "protocol",
                    "\"auto\", \"jsonrpc\" or \"json2\" (XML-RPC is not supported)",
                    "xmlrpc".into(),
                );
            }
            if t.database.trim().is_empty() {
                return at("database", "the Odoo database name", String::new());
            }
            if t.login.trim().is_empty() {
                return at("login", "the Odoo user's login", String::new());
            }
            if !(1..=3600).contains(&t.timeout_secs) {
                return at("timeout_secs", "seconds between 1 and 3600", t.timeout_secs.to_string());
            }
        }
        for e in &self.alerts.firm_emails {
            // The alerts' own rule (`AlertEmail`): an address the config takes is one they send to.
            if e.parse::<crate::store::AlertEmail>().is_err() {
                return invalid("alerts.firm_emails", "e-mail addresses such as [\"paie@cabinet.fr\"]", e);
            }
        }
        if self.alerts.firm_emails.len() > 20 {
            return invalid("alerts.firm_emails", "at most 20 addresses", &self.alerts.firm_emails.len().to_string());
        }
        if let Some(smtp) = &self.smtp {
            if smtp.host.trim().is_empty() {
                return invalid("smtp.host", "the SMTP server's host name", "");
            }
            if smtp.port == 0 {
                return invalid("smtp.port", "a port between 1 and 65535", "0");
            }
        }
        Ok(())
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("payflow.sqlite3")
    }

    pub fn secrets_key_path(&self) -> PathBuf {
        self.secrets_key_file.clone().unwrap_or_else(|| self.data_dir.join("secrets.key"))
    }

    /// The Odoo a dossier's target names: `[odoo.targets.<name>]`, or `[odoo]` for `default`;
    /// `None` for a name the config does not declare.
    pub fn odoo_target(&self, name: &str) -> Option<&OdooConfig> {
        match name {
            DEFAULT_TARGET => Some(&self.odoo),
            other => self.odoo.targets.get(other),
        }
    }

    /// Every target's name, `default` first.
    pub fn target_names(&self) -> Vec<&str> {
        std::iter::once(DEFAULT_TARGET).chain(self.odoo.targets.keys().map(String::as_str)).collect()
    }

    /// The time zone named by `timezone`, resolved on load.
    pub fn time_zone(&self) -> &jiff::tz::TimeZone {
        &self.time_zone
    }
}

/// `a@b.c` or `Name <a@b.c>`.
pub fn looks_like_mailbox(s: &str) -> bool {
    let addr = match (s.find('<'), s.rfind('>')) {
        (Some(i), Some(j)) if i < j && s.trim_end().ends_with('>') => &s[i + 1..j],
        (None, None) => s.trim(),
        _ => return false,
    };
    match addr.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !addr.contains(char::is_whitespace)
        }
        None => false,
    }
}

fn one_line(s: &str) -> String {
    s.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()).collect::<Vec<_>>().join(" | ")
}

impl fmt::Display for OdooProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OdooProtocol::Auto => "auto",
            OdooProtocol::Json2 => "json2",
            OdooProtocol::Jsonrpc => "jsonrpc",
            OdooProtocol::Xmlrpc => "xmlrpc",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
instance = "prod"
data_dir = "state"

[odoo]
url = "http://127.0.0.1:8069"
database = "prod"
login = "payflow-bot@example.com"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/payflow/prod.toml"), text)
    }

    #[test]
    fn defaults_fill_what_is_left_out() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/etc/payflow/state"));
        assert_eq!(c.silae.api_url.as_str(), DEFAULT_SILAE_API_URL);
        assert_eq!(c.silae.token_url.as_str(), DEFAULT_SILAE_TOKEN_URL);
        assert_eq!(c.silae.scope, DEFAULT_SILAE_SCOPE);
        assert_eq!(c.rpc.listen, SocketAddr::from(([127, 0, 0, 1], 8390)));
        assert_eq!(c.odoo.protocol, OdooProtocol::Auto);
        assert_eq!(c.timezone, "Europe/Paris");
        assert_eq!(c.time_zone().iana_name(), Some("Europe/Paris"));
        assert!(c.smtp.is_none());
        assert_eq!(c.secrets_key_path(), PathBuf::from("/etc/payflow/state/secrets.key"));
    }

    #[test]
    fn the_contract_example_loads() {
        let text = r#"
instance = "prod"
data_dir = "/var/lib/payflow/prod"
[rpc]
listen = "127.0.0.1:8390"
[silae]
api_url   = "https://payroll-api.silae.fr/payroll"
token_url = "https://payroll-api-auth.silae.fr/oauth2/v2.0/token"
scope     = "https://silaecloudb2c.onmicrosoft.com/36658aca-9556-41b7-9e48-77e90b006f34/.default"
[odoo]
url      = "http://127.0.0.1:8069"
database = "prod"
login    = "payflow-bot@example.com"
protocol = "auto"
[smtp]
host     = "mail.infomaniak.com"
port     = 587
security = "starttls"
from     = "PayFlow <notifications@example.com>"
username = "notifications@example.com"
"#;
        let c = parse(text).unwrap();
        let smtp = c.smtp.unwrap();
        assert_eq!((smtp.port, smtp.security), (587, SmtpSecurity::Starttls));
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/payflow/prod"));
        assert_eq!(smtp.from.email.to_string(), "notifications@example.com");
        assert_eq!(c.odoo.url.url().port(), Some(8069));
        assert_eq!(c.odoo.url.as_str(), "http://127.0.0.1:8069", "kept as written");
    }

    #[test]
    fn errors_name_the_file_the_key_and_what_is_expected() {
        let cases = [
            (
                MINIMAL.replace("http://127.0.0.1:8069", "ftp://x"),
                "key `odoo.url`: expected an http:// or https:// URL",
            ),
            (MINIMAL.replace("\"prod\"\ndata", "\"pr od\"\ndata"), "key `instance`"),
            (
                format!("{MINIMAL}\n[rpc]\nlisten = \"localhost\"\n"),
                "key `rpc.listen`: expected an address and port such as \"127.0.0.1:8390\", found \"localhost\"",
            ),
            (format!("{MINIMAL}\n[rpc]\nlisten = \"0.0.0.0:8390\"\n"), "key `rpc.listen`: expected a loopback address"),
            (
                format!("{MINIMAL}\n[silae]\napi_url = \"payroll\"\n"),
                "key `silae.api_url`: expected an http:// or https:// URL, found \"payroll\"",
            ),
            (format!("{MINIMAL}\n[silae]\ntoken_url = \"http://\"\n"), "key `silae.token_url`: expected an http://"),
            (
                format!("timezone = \"Mars/Olympus\"\n{MINIMAL}"),
                "key `timezone`: expected an IANA time zone such as \"Europe/Paris\", found \"Mars/Olympus\"",
            ),
            (
                format!("{MINIMAL}\n[smtp]\nfrom = \"nobody\"\n"),
                "key `smtp.from`: expected an address such as \"PayFlow <notifications@example.com>\", found \"nobody\"",
            ),
            (MINIMAL.replace("protocol", "x").replace("login = ", "protocol = \"soap\"\nlogin = "), "soap"),
            (
                MINIMAL.replace("protocol", "x").replace("login = ", "protocol = \"xmlrpc\"\nlogin = "),
                "key `odoo.protocol`: expected \"auto\" (JSON-RPC on Odoo 17 and 18, JSON-2 on 19 and later)",
            ),
            (format!("{MINIMAL}\ncolour = \"blue\"\n"), "unknown field `colour`"),
            (MINIMAL.replace("login = \"payflow-bot@example.com\"", ""), "missing field `login`"),
            ("instance = ".to_owned(), "/etc/payflow/prod.toml"),
        ];
        for (text, expected) in cases {
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.starts_with("/etc/payflow/prod.toml: "), "{err}");
            assert!(err.contains(expected), "{err:?} should contain {expected:?}");
        }
    }

    #[test]
    fn ca_file_is_read_on_load_from_the_config_s_folder_and_a_bad_one_is_refused_with_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prod.toml");
        let not_pem = dir.path().join("not-a-ca.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        let with = |section: &str, file: &str| {
            let text = format!("{MINIMAL}\n[{section}]\nca_file = \"{file}\"\n")
                .replace("[smtp]", "[smtp]\nfrom = \"a@b.fr\"");
            let text = if section == "odoo" {
                MINIMAL.replace("login = ", &format!("ca_file = \"{file}\"\nlogin = "))
            } else {
                text
            };
            Config::parse(&config, &text)
        };
        for section in ["odoo", "silae", "smtp"] {
            let err = with(section, "not-a-ca.pem").unwrap_err().to_string();
            assert!(err.contains(&format!("key `{section}.ca_file`")), "{err}");
            assert!(err.contains(&not_pem.display().to_string()) && err.contains("BEGIN CERTIFICATE"), "{err}");
            let err = with(section, "missing.pem").unwrap_err().to_string();
            assert!(err.contains(&format!("key `{section}.ca_file`")) && err.contains("cannot read it"), "{err}");
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        std::fs::write(dir.path().join("ca.pem"), params.self_signed(&key).unwrap().pem()).unwrap();
        let c = with("odoo", "ca.pem").unwrap();
        let (path, certs) = c.odoo.ca_file.as_ref().unwrap().trust_input();
        assert_eq!((path, certs.len()), (dir.path().join("ca.pem").as_path(), 1));
        // No TLS key turns verification off: such a key is refused as unknown.
        let err = parse(&MINIMAL.replace("login = ", "tls_verify = false\nlogin = ")).unwrap_err().to_string();
        assert!(err.contains("unknown field `tls_verify`"), "{err}");
    }

    #[test]
    fn odoo_targets_take_the_keys_of_odoo_and_are_named_with_care() {
        let with = |extra: &str| parse(&format!("{MINIMAL}{extra}"));
        let c = with(
            "\n[odoo.targets.client_b]\nurl = \"https://b.example.com\"\ndatabase = \"b\"\nlogin = \"bot\"\ntimeout_secs = 30\n\n[odoo.targets.c2]\nurl = \"http://c\"\ndatabase = \"c\"\nlogin = \"bot\"\n\n[alerts]\nfirm_emails = [\"paie@cabinet.fr\"]\n",
        )
        .unwrap();
        assert_eq!(c.target_names(), ["default", "c2", "client_b"]);
        assert_eq!(c.odoo_target("default").unwrap().database, "prod");
        let b = c.odoo_target("client_b").unwrap();
        assert_eq!((b.url.as_str(), b.timeout_secs, b.protocol), ("https://b.example.com", 30, OdooProtocol::Auto));
        assert_eq!(c.odoo_target("c2").unwrap().timeout_secs, 120, "the same defaults as [odoo]");
        assert!(c.odoo_target("nope").is_none());
        assert_eq!(c.alerts.firm_emails, ["paie@cabinet.fr"]);
        assert!(parse(MINIMAL).unwrap().alerts.firm_emails.is_empty());
        let target = |name: &str, body: &str| with(&format!("\n[odoo.targets.{name}]\n{body}\n"));
        let ok = "url = \"http://b\"\ndatabase = \"b\"\nlogin = \"bot\"";
        let cases = [
            (target("Client-B", ok), "key `odoo.targets`: expected a target name of lowercase letters"),
            (target("default", ok), "found \"default\""),
            (target("b", &ok.replace("\"b\"\n", "\" \"\n")), "key `odoo.targets.b.database`"),
            (target("b", &format!("{ok}\nprotocol = \"xmlrpc\"")), "key `odoo.targets.b.protocol`"),
            (target("b", &format!("{ok}\ntimeout_secs = 0")), "key `odoo.targets.b.timeout_secs`"),
            (target("b", &format!("{ok}\ncolour = 1")), "unknown field `colour`"),
            (target("b", "url = \"http://b\"\ndatabase = \"b\""), "missing field `login`"),
            (
                with(&format!("\n[odoo.targets.b]\n{ok}\n[odoo.targets.b.targets.c]\n{ok}\n")),
                "key `odoo.targets.b.targets`: expected targets only under [odoo]",
            ),
            (with("\n[alerts]\nfirm_emails = [\"cabinet\"]\n"), "key `alerts.firm_emails`"),
            // What the alerts would leave out is refused on load, not dropped at sending.
            (with("\n[alerts]\nfirm_emails = [\"paie@localhost\"]\n"), "key `alerts.firm_emails`"),
        ];
        for (result, expected) in cases {
            let err = result.unwrap_err().to_string();
            assert!(
                err.starts_with("/etc/payflow/prod.toml: ") && err.contains(expected),
                "{err:?} should contain {expected:?}"
            );
        }
        assert!(valid_target_name("client_b2") && !valid_target_name("2b") && !valid_target_name(&"a".repeat(41)));
    }

    #[test]
    fn missing_file_says_how_to_point_at_one() {
        let err = Config::load(Path::new("/nonexistent/payflow.toml")).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/payflow.toml") && err.contains("PAYFLOW_CONFIG"), "{err}");
    }

    #[test]
    fn mailboxes() {
        assert!(looks_like_mailbox("PayFlow <notifications@example.com>"));
        assert!(looks_like_mailbox("a@b.fr"));
        assert!(!looks_like_mailbox("PayFlow <notifications>"));
        assert!(!looks_like_mailbox("a b@c.fr"));
    }
}
