use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use payflow_agent::config::Config;
use payflow_agent::import::{run_period, Agent, ImportOptions, RunReport};
use payflow_agent::secrets::Secrets;
use payflow_agent::store::{Dossier, Store, Trigger};
use payflow_sim::odoo::{OdooSim, OdooSimConfig};
use payflow_sim::silae::{SilaeSim, SilaeSimConfig};
use tempfile::TempDir;

/// Secret values planted in every test on the simulators (the simulators are set up with
/// them): none may ever appear in an output, a log, an answer or an e-mail.
pub const SILAE_CLIENT_ID: &str = "planted-silae-client-id-7c1f";
pub const SILAE_CLIENT_SECRET: &str = "planted-silae-client-secret-94be";
pub const SILAE_SUBSCRIPTION_KEY: &str = "planted-silae-subscription-3d0a";
pub const ODOO_SECRET: &str = "planted-odoo-secret-5e27";
pub const PLANTED: [(&str, &str); 4] = [
    ("PAYFLOW_SILAE_CLIENT_ID", SILAE_CLIENT_ID),
    ("PAYFLOW_SILAE_CLIENT_SECRET", SILAE_CLIENT_SECRET),
    ("PAYFLOW_SILAE_SUBSCRIPTION_KEY", SILAE_SUBSCRIPTION_KEY),
    ("PAYFLOW_ODOO_SECRET", ODOO_SECRET),
];
/// Every secret value the suite plants somewhere (the RPC token and the SMTP password in their
/// tests, the simulators' demo credentials in the Silae client's), searched for in outputs.
pub const SEARCHED: [&str; 11] = [
    "planted-odoo-secret-client-b-41d9",
    SILAE_CLIENT_ID,
    SILAE_CLIENT_SECRET,
    SILAE_SUBSCRIPTION_KEY,
    ODOO_SECRET,
    "planted-rpc-t0ken",
    "wrong-planted-token",
    "planted-smtp-pa55word",
    "demo-client-secret",
    "demo-subscription-key",
    "demo-client-id",
];

/// Where the suite keeps what it saw (outputs, logs, answers, e-mails) for the final scan.
pub fn scan_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("secret-scan")
}

fn scan_file() -> &'static std::sync::Mutex<std::fs::File> {
    static FILE: std::sync::OnceLock<std::sync::Mutex<std::fs::File>> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        std::fs::create_dir_all(scan_dir()).unwrap();
        let path = scan_dir().join(format!("outputs-{}.log", std::process::id()));
        std::sync::Mutex::new(std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap())
    })
}

/// Keeps `text` for the final secret scan (`reliability::the_whole_suite_s_outputs_hold_no_planted_secret`).
pub fn keep_for_scan(what: &str, text: &str) {
    use std::io::Write;
    let mut file = scan_file().lock().unwrap_or_else(|e| e.into_inner());
    let _ = writeln!(file, "=== {what}\n{text}");
}

/// The agent's in-process logs, at debug level, kept for the final scan (once per process).
pub fn keep_logs_for_scan() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::fs::create_dir_all(scan_dir()).unwrap();
        let path = scan_dir().join(format!("logs-{}.log", std::process::id()));
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file))
            .try_init();
    });
}

pub fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sim/samples")
}

pub struct World {
    pub dir: TempDir,
    pub config_path: PathBuf,
    pub silae: SilaeSim,
    /// The simulator, or `None` on the real Odoo.
    pub sim: Option<OdooSim>,
    pub odoo_url: String,
    pub odoo_db: String,
    pub odoo_secret: String,
}

impl World {
    pub async fn start() -> World {
        let mut cfg = OdooSimConfig::demo(18);
        cfg.password = ODOO_SECRET.into();
        World::start_with(cfg).await
    }

    pub async fn start_with(odoo_cfg: OdooSimConfig) -> World {
        let odoo_secret = odoo_cfg.password.clone();
        let odoo_db = odoo_cfg.database.clone();
        let sim = OdooSim::start(odoo_cfg).await.unwrap();
        World::with_odoo(Some(sim.clone()), sim.url(), odoo_db, odoo_secret).await
    }

    pub async fn with_odoo(sim: Option<OdooSim>, odoo_url: String, odoo_db: String, odoo_secret: String) -> World {
        World::with_samples(sim, odoo_url, odoo_db, odoo_secret, samples_dir()).await
    }

    /// A real Odoo and a Silae serving the payrolls of `samples`.
    pub async fn with_odoo_and_samples(
        odoo_url: String,
        odoo_db: String,
        odoo_secret: String,
        samples: PathBuf,
    ) -> World {
        World::with_samples(None, odoo_url, odoo_db, odoo_secret, samples).await
    }

    /// The simulated Odoo and a Silae serving the payrolls of `samples`.
    pub async fn with_silae_samples(samples: PathBuf) -> World {
        let mut cfg = OdooSimConfig::demo(18);
        cfg.password = ODOO_SECRET.into();
        let sim = OdooSim::start(cfg).await.unwrap();
        World::with_samples(Some(sim.clone()), sim.url(), "payflow".into(), ODOO_SECRET.into(), samples).await
    }

    async fn with_samples(
        sim: Option<OdooSim>,
        odoo_url: String,
        odoo_db: String,
        odoo_secret: String,
        samples: PathBuf,
    ) -> World {
        keep_logs_for_scan();
        let silae_cfg = SilaeSimConfig {
            client_id: SILAE_CLIENT_ID.into(),
            client_secret: SILAE_CLIENT_SECRET.into(),
            subscription_key: SILAE_SUBSCRIPTION_KEY.into(),
            ..SilaeSimConfig::demo(samples)
        };
        let silae = SilaeSim::start(silae_cfg).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("test.toml");
        let world = World { dir, config_path, silae, sim, odoo_url, odoo_db, odoo_secret };
        world.write_config("");
        world
    }

    pub fn odoo(&self) -> &OdooSim {
        self.sim.as_ref().expect("this test runs on the simulator")
    }

    /// Writes the config, with `extra` appended to the `[odoo]` table.
    pub fn write_config(&self, odoo_extra: &str) {
        let text = format!(
            r#"instance = "test"
data_dir = "state"

[silae]
api_url = "{}"
token_url = "{}"
timeout_secs = 5
max_retries = 3
retry_base_ms = 10

[odoo]
url = "{}"
database = "{}"
login = "admin"
{odoo_extra}
"#,
            self.silae.api_url(),
            self.silae.token_url(),
            self.odoo_url,
            self.odoo_db,
        );
        std::fs::write(&self.config_path, text).unwrap();
    }

    pub fn config(&self) -> Config {
        Config::load(&self.config_path).unwrap()
    }

    /// An agent in this process, with the planted secrets.
    pub fn agent(&self) -> Agent {
        self.agent_at("state")
    }

    /// An agent with its own data folder: another instance (another machine) on the same Odoo.
    pub fn agent_at(&self, data_dir: &str) -> Agent {
        let mut config = self.config();
        config.data_dir = self.dir.path().join(data_dir);
        let store = Store::open(&config.database_path()).unwrap();
        let odoo_secret = self.odoo_secret.clone();
        let env: BTreeMap<String, String> = PLANTED
            .iter()
            .map(|(k, v)| {
                (k.to_string(), if *k == "PAYFLOW_ODOO_SECRET" { odoo_secret.clone() } else { v.to_string() })
            })
            .collect();
        let secrets = Secrets::new(
            config.data_dir.join("secrets.store"),
            config.secrets_key_path(),
            None,
            Box::new(move |k| env.get(k).cloned()),
        );
        Agent::with(config, store, secrets)
    }

    /// `payflow-agent dossier add` for a sample dossier (company 1, journal SAL, day 5, the
    /// three 437xxxxx accounts mapped), with `extra` arguments; asserts success.
    pub fn cli_add_sample_dossier(&self, number: &str, extra: &[&str]) {
        let mut args = vec![
            "dossier",
            "add",
            "--silae",
            number,
            "--name",
            "ACME",
            "--company",
            "1",
            "--journal",
            "SAL",
            "--day",
            "5",
        ];
        for m in ["43730000=437000", "43740000=437000", "43750000=437000"] {
            args.extend(["--map", m]);
        }
        args.extend_from_slice(extra);
        let out = self.cli(&args, None);
        assert!(out.status.success(), "{}", text(&out));
    }

    /// A copy of the config with its own data folder, for a second instance.
    pub fn config_at(&self, data_dir: &str) -> PathBuf {
        let text = std::fs::read_to_string(&self.config_path)
            .unwrap()
            .replace("data_dir = \"state\"", &format!("data_dir = \"{data_dir}\""));
        let path = self.dir.path().join(format!("{data_dir}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The built binary, with this world's config and the planted secrets in its environment.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = self.cli_command(&self.config_path, args);
        cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        let mut child = cmd.spawn().unwrap();
        if let Some(input) = stdin {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        keep_for_scan(&format!("payflow-agent {}", args.join(" ")), &text(&out));
        out
    }

    /// Runs a command to its end and keeps its outputs for the final scan.
    pub fn output(&self, cmd: &mut Command) -> Output {
        let out = cmd.output().unwrap();
        let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy()).collect();
        keep_for_scan(&format!("payflow-agent {}", args.join(" ")), &text(&out));
        out
    }

    /// The built binary on `config`, with the planted secrets, its outputs piped.
    pub fn cli_command(&self, config: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_payflow-agent"));
        cmd.args(args).env("PAYFLOW_CONFIG", config).env_remove("CREDENTIALS_DIRECTORY");
        for (k, v) in PLANTED {
            cmd.env(k, if k == "PAYFLOW_ODOO_SECRET" { self.odoo_secret.as_str() } else { v });
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    }
}

pub fn dossier(number: &str, day: u8) -> Dossier {
    Dossier {
        silae_number: number.into(),
        name: format!("Dossier {number}"),
        company_id: 1,
        journal_code: "SAL".into(),
        transfer_day: day,
        alert_emails: vec!["paie@example.com".parse().unwrap()],
        // The demo chart has 437000 but not 437300/437400/437500: mapped explicitly.
        account_map: BTreeMap::from([
            ("43730000".into(), "437000".into()),
            ("43740000".into(), "437000".into()),
            ("43750000".into(), "437000".into()),
        ]),
        ..Default::default()
    }
}

pub fn add_dossier(agent: &Agent, d: &Dossier) {
    agent.store().upsert_dossier(d, "2026-11-25T06:00:00+01:00").unwrap();
}

pub async fn import(agent: &Agent, dossier: &str, period: &str, dry_run: bool) -> RunReport {
    let opts = ImportOptions { dry_run, trigger: Trigger::Cli, triggered_by: Some("test".into()) };
    let report = run_period(agent, dossier, period.parse().unwrap(), &opts).await;
    keep_for_scan("run report", &format!("{} {:?}", report.message, report.plans));
    report
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

pub fn assert_no_secret(haystack: &str) {
    for s in SEARCHED {
        assert!(!haystack.contains(s), "a secret value leaked: {s:?} in {haystack}");
    }
}

pub fn cents(v: &serde_json::Value) -> i64 {
    // The simulator's amounts are JSON numbers; round to cents for comparison.
    (v.as_f64().unwrap() * 100.0).round() as i64
}

#[allow(dead_code)]
pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
