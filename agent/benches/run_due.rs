//! `cargo bench -p payflow-agent --bench run_due` — the daily run over 1,000 dossiers on the
//! simulators (each dossier one 13-line payroll), and a cold `payflow-agent runs --json`.
//! `BENCH_DOSSIERS` changes the count; `BENCH_CONCURRENCY` (default 8) the dossiers at once.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use payflow_agent::config::Config;
use payflow_agent::import::{run_due, Agent, Status};
use payflow_agent::secrets::Secrets;
use payflow_agent::store::{Dossier, Store};
use payflow_sim::odoo::{OdooSim, OdooSimConfig};
use payflow_sim::silae::{Fault, SilaeSim, SilaeSimConfig};

#[tokio::main]
async fn main() {
    let count: usize = std::env::var("BENCH_DOSSIERS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000);
    let concurrency: usize = std::env::var("BENCH_CONCURRENCY").ok().and_then(|v| v.parse().ok()).unwrap_or(8);
    let dir = tempfile::tempdir().unwrap();
    // A samples folder of `count` dossiers, each the 100200 sample under its own number.
    let samples = dir.path().join("samples");
    std::fs::create_dir(&samples).unwrap();
    let sample = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sim/samples/dossier-100200-2026-10.json"),
    )
    .unwrap();
    let numbers: Vec<String> = (0..count).map(|i| format!("{}", 200_000 + i)).collect();
    for n in &numbers {
        std::fs::write(
            samples.join(format!("dossier-{n}-2026-10.json")),
            sample.replace("\"100200\"", &format!("\"{n}\"")),
        )
        .unwrap();
    }
    let silae = SilaeSim::start(SilaeSimConfig::demo(&samples)).await.unwrap();
    let odoo = OdooSim::start(OdooSimConfig::demo(18)).await.unwrap();
    let path = dir.path().join("bench.toml");
    std::fs::write(&path, format!(
        "instance = \"bench\"\ndata_dir = \"state\"\n[silae]\napi_url = \"{}\"\ntoken_url = \"{}\"\nretry_base_ms = 50\n[odoo]\nurl = \"{}\"\ndatabase = \"payflow\"\nlogin = \"admin\"\n",
        silae.api_url(), silae.token_url(), odoo.url()
    )).unwrap();
    let config = Config::load(&path).unwrap();
    let store = Store::open(&config.database_path()).unwrap();
    let env = |k: &str| match k {
        "PAYFLOW_SILAE_CLIENT_ID" => Some("demo-client-id".to_owned()),
        "PAYFLOW_SILAE_CLIENT_SECRET" => Some("demo-client-secret".to_owned()),
        "PAYFLOW_SILAE_SUBSCRIPTION_KEY" => Some("demo-subscription-key".to_owned()),
        "PAYFLOW_ODOO_SECRET" => Some("admin".to_owned()),
        _ => None,
    };
    let secrets = Secrets::new(config.data_dir.join("secrets.store"), config.secrets_key_path(), None, Box::new(env));
    let agent = Agent::with(config, store, secrets);
    let map = BTreeMap::from([
        ("43730000".to_owned(), "437000".to_owned()),
        ("43740000".to_owned(), "437000".to_owned()),
        ("43750000".to_owned(), "437000".to_owned()),
    ]);
    for n in &numbers {
        agent
            .store()
            .upsert_dossier(
                &Dossier {
                    silae_number: n.clone(),
                    name: format!("Dossier {n}"),
                    company_id: 1,
                    journal_code: "SAL".into(),
                    transfer_day: 5,
                    account_map: map.clone(),
                    start_period: Some("2026-10".parse().unwrap()),
                    ..Default::default()
                },
                "t",
            )
            .unwrap();
    }
    // Silae's rate limit answers now and then: a 429 with Retry-After 1 s every 250 requests.
    for _ in 0..(count * 3 / 250) {
        for _ in 0..249 {
            silae.push_fault(Fault::Slow(std::time::Duration::ZERO));
        }
        silae.push_fault(Fault::TooManyRequests { retry_after_secs: 1 });
    }
    let t = Instant::now();
    let reports = run_due(&agent, "2026-11-05".parse().unwrap(), concurrency).await;
    let took = t.elapsed();
    let imported = reports.iter().filter(|r| r.status == Status::Imported).count();
    assert_eq!(imported, count, "{:?}", reports.iter().find(|r| r.status != Status::Imported).map(|r| &r.message));
    assert_eq!(odoo.moves().len(), count);
    let throttled = silae.requests().iter().filter(|r| r.status == 429).count();
    println!(
        "run-due: {count} dossiers imported in {:.1} s at {concurrency} at once ({} Silae API requests, {throttled} answered 429 + Retry-After 1 s, waited out by all)",
        took.as_secs_f64(),
        silae.api_requests(),
    );

    // A cold `runs --json` (a new process, the whole log).
    let t = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_payflow-agent"))
        .args(["runs", "--json", "--limit", "1000"])
        .env("PAYFLOW_CONFIG", &path)
        .output()
        .unwrap();
    assert!(out.status.success());
    println!(
        "cold `payflow-agent runs --json --limit 1000`: {:.0} ms, {} kB",
        t.elapsed().as_secs_f64() * 1e3,
        out.stdout.len() / 1024
    );
}
