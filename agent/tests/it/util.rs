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

/// Secret values planted in every test: none may ever appear in an output, a log or an answer.
pub const PLANTED: [(&str, &str); 4] = [
    ("PAYFLOW_SILAE_CLIENT_ID", "demo-client-id"),
    ("PAYFLOW_SILAE_CLIENT_SECRET", "demo-client-secret"),
    ("PAYFLOW_SILAE_SUBSCRIPTION_KEY", "demo-subscription-key"),
    ("PAYFLOW_ODOO_SECRET", "admin"),
];
/// The values searched for in outputs (the demo Odoo password "admin" is too common a word to
/// search for; tests that check Odoo secrets use a distinctive one).
pub const SEARCHED: [&str; 3] = ["demo-client-secret", "demo-subscription-key", "demo-client-id"];

pub fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/silae/samples")
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
        World::start_with(OdooSimConfig::demo(18)).await
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

    /// The simulated Odoo and a Silae serving the payrolls of `samples`.
    pub async fn with_silae_samples(samples: PathBuf) -> World {
        let sim = OdooSim::start(OdooSimConfig::demo(18)).await.unwrap();
        World::with_samples(Some(sim.clone()), sim.url(), "payflow".into(), "admin".into(), samples).await
    }

    async fn with_samples(
        sim: Option<OdooSim>,
        odoo_url: String,
        odoo_db: String,
        odoo_secret: String,
        samples: PathBuf,
    ) -> World {
        let silae = SilaeSim::start(SilaeSimConfig::demo(samples)).await.unwrap();
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
        child.wait_with_output().unwrap()
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
        alert_emails: vec!["paie@example.com".into()],
        enabled: true,
        // The demo chart has 437000 but not 437300/437400/437500: mapped explicitly.
        account_map: BTreeMap::from([
            ("43730000".into(), "437000".into()),
            ("43740000".into(), "437000".into()),
            ("43750000".into(), "437000".into()),
        ]),
        analytic: BTreeMap::new(),
        start_period: None,
        wait_closed: true,
    }
}

pub fn add_dossier(agent: &Agent, d: &Dossier) {
    agent.store().upsert_dossier(d, "2026-11-25T06:00:00+01:00").unwrap();
}

pub async fn import(agent: &Agent, dossier: &str, period: &str, dry_run: bool) -> RunReport {
    let opts = ImportOptions { dry_run, trigger: Trigger::Cli, triggered_by: Some("test".into()) };
    run_period(agent, dossier, period.parse().unwrap(), &opts).await
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
