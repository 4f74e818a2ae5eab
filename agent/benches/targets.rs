//! `cargo bench -p payflow-agent --bench targets` — an accounting firm's daily run: one instance,
//! `BENCH_TARGETS` Odoo targets (default 100) of `BENCH_PER_TARGET` dossiers each (default 10),
//! each target its own simulated Odoo answering every call after `BENCH_LATENCY_MS` (default
//! 20 ms). The agent runs as its own process (`payflow-agent run-due --concurrency N`,
//! `BENCH_CONCURRENCY`, default 4 per target), so its CPU time and peak RSS are its own: the
//! simulators run in this process. Prints the wall time against the floor the per-target limit
//! sets, the agent's CPU time per import and its peak RSS.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use payflow_agent::config::Config;
use payflow_agent::store::{Dossier, Store};
use payflow_sim::odoo::{OdooSim, OdooSimConfig};
use payflow_sim::silae::{SilaeSim, SilaeSimConfig};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let targets = env("BENCH_TARGETS", 100).max(1);
    let per_target = env("BENCH_PER_TARGET", 10).max(1);
    let latency = Duration::from_millis(env("BENCH_LATENCY_MS", 20) as u64);
    let concurrency = env("BENCH_CONCURRENCY", 4).max(1);
    let count = targets * per_target;
    let dir = tempfile::tempdir().unwrap();
    // Each dossier the 100200 sample (one 13-line move) under its own number.
    let samples = dir.path().join("samples");
    std::fs::create_dir(&samples).unwrap();
    let sample = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sim/samples/dossier-100200-2026-10.json"),
    )
    .unwrap();
    let numbers: Vec<String> = (0..count).map(|i| format!("{}", 300_000 + i)).collect();
    for n in &numbers {
        let text = sample.replace("\"100200\"", &format!("\"{n}\""));
        std::fs::write(samples.join(format!("dossier-{n}-2026-10.json")), text).unwrap();
    }
    let silae = SilaeSim::start(SilaeSimConfig::demo(&samples)).await.unwrap();
    let mut sims = Vec::new();
    for _ in 0..targets {
        let sim = OdooSim::start(OdooSimConfig::demo(18)).await.unwrap();
        sim.set_latency(latency);
        sims.push(sim);
    }
    // Target 0 is [odoo] ("default"), the others [odoo.targets.tNNN].
    let name = |t: usize| if t == 0 { "default".to_owned() } else { format!("t{t:03}") };
    let mut text = format!(
        "instance = \"bench\"\ndata_dir = \"state\"\n[silae]\napi_url = \"{}\"\ntoken_url = \"{}\"\n[odoo]\nurl = \"{}\"\ndatabase = \"payflow\"\nlogin = \"admin\"\n",
        silae.api_url(),
        silae.token_url(),
        sims[0].url()
    );
    for (t, sim) in sims.iter().enumerate().skip(1) {
        let _ = write!(
            text,
            "[odoo.targets.{}]\nurl = \"{}\"\ndatabase = \"payflow\"\nlogin = \"admin\"\n",
            name(t),
            sim.url()
        );
    }
    let path = dir.path().join("bench.toml");
    std::fs::write(&path, text).unwrap();
    let config = Config::load(&path).unwrap();
    let store = Store::open(&config.database_path()).unwrap();
    let map = BTreeMap::from([
        ("43730000".to_owned(), "437000".to_owned()),
        ("43740000".to_owned(), "437000".to_owned()),
        ("43750000".to_owned(), "437000".to_owned()),
    ]);
    for (i, n) in numbers.iter().enumerate() {
        let d = Dossier {
            silae_number: n.clone(),
            name: format!("Dossier {n}"),
            company_id: 1,
            journal_code: "SAL".into(),
            transfer_day: 5,
            account_map: map.clone(),
            start_period: Some("2026-10".parse().unwrap()),
            target: name(i % targets),
            ..Default::default()
        };
        store.upsert_dossier(&d, "t").unwrap();
    }
    drop(store);

    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_payflow-agent"));
    cmd.args(["run-due", "--date", "2026-11-05", "--concurrency", &concurrency.to_string(), "--json"])
        .env("PAYFLOW_CONFIG", &path)
        .env("PAYFLOW_SILAE_CLIENT_ID", "demo-client-id")
        .env("PAYFLOW_SILAE_CLIENT_SECRET", "demo-client-secret")
        .env("PAYFLOW_SILAE_SUBSCRIPTION_KEY", "demo-subscription-key")
        .env("PAYFLOW_ODOO_SECRET", "admin")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for t in 1..targets {
        cmd.env(format!("PAYFLOW_ODOO_SECRET_{}", name(t).to_ascii_uppercase()), "admin");
    }
    let started = Instant::now();
    let (out, usage) = tokio::task::spawn_blocking(move || {
        let out = cmd.output().unwrap();
        // The only child this process waited for: its CPU time and peak RSS.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage writes into the struct given.
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
        (out, usage)
    })
    .await
    .unwrap();
    let wall = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let imported = stdout.lines().filter(|l| l.contains("\"status\":\"imported\"")).count();
    assert_eq!(imported, count, "{}\n{}", stdout.lines().next().unwrap_or(""), String::from_utf8_lossy(&out.stderr));
    let moves: usize = sims.iter().map(|s| s.moves().len()).sum();
    assert_eq!(moves, count, "one move per dossier, each in its own target's database");
    for (t, sim) in sims.iter().enumerate() {
        assert_eq!(sim.moves().len(), per_target, "target {}", name(t));
    }
    let calls: Vec<usize> = sims.iter().map(|s| s.calls().len()).collect();
    let busiest = *calls.iter().max().unwrap();
    let cpu = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu_secs = cpu(usage.ru_utime) + cpu(usage.ru_stime);
    // The floor: each target's calls, `concurrency` at a time, each `latency` long; its first
    // calls (version, authentication) one at a time.
    let first = 2;
    let per_import = (busiest - first) as f64 / per_target as f64;
    let rounds = per_target.div_ceil(concurrency) as f64;
    let floor = latency.as_secs_f64() * (first as f64 + rounds * per_import);
    println!(
        "targets: {targets} targets x {per_target} dossiers = {count} imports, {} ms per Odoo call, {concurrency} per target at once: wall {:.2} s against a floor of {:.2} s ({:.1} Odoo calls per import, {} calls on the busiest target); agent CPU {:.1} ms per import ({:.2} s in all); peak RSS {} MiB",
        latency.as_millis(),
        wall.as_secs_f64(),
        floor,
        per_import,
        busiest,
        cpu_secs * 1e3 / count as f64,
        cpu_secs,
        usage.ru_maxrss / 1024,
    );
}
