//! `cargo bench -p payflow-agent --bench rpc` — the JSON-RPC service under load, on loopback:
//! `payflow-agent serve` (release build, its own process) with 100,000 runs in its store answers
//! 10,000 `runs.list` requests (four filter shapes in turn) at 1, 4 and 64 in flight. Reports
//! errors, p50/p99 latency, the service's RSS idle and after the load, and the stripped binary's
//! size. `BENCH_RUNS`, `BENCH_REQUESTS` and `BENCH_CONCURRENCY` (e.g. `1,4,64`) change them.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use payflow_agent::config::Config;
use payflow_agent::outcome::{Outcome, Status};
use payflow_agent::store::{Dossier, RunOutcome, Store, Trigger};
use serde_json::json;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let requests: usize = std::env::var("BENCH_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config_path = dir.path().join("bench.toml");
    std::fs::write(&config_path, format!(
        "instance = \"bench\"\ndata_dir = \"state\"\n[rpc]\nlisten = \"127.0.0.1:{port}\"\n[odoo]\nurl = \"http://127.0.0.1:9\"\ndatabase = \"x\"\nlogin = \"x\"\n"
    )).unwrap();
    let config = Config::load(&config_path).unwrap();
    let store = Store::open(&config.database_path()).unwrap();
    let t = Instant::now();
    let dossiers = ["100200", "100300", "100400", "100500", "100600"];
    for number in dossiers {
        let dossier = Dossier {
            silae_number: number.into(),
            name: format!("Dossier {number}"),
            company_id: 1,
            journal_code: "SAL".into(),
            transfer_day: 5,
            ..Default::default()
        };
        store.upsert_dossier(&dossier, "2026-11-01T06:00:00+01:00").unwrap();
    }
    for i in 0..runs {
        let period = format!("{}-{:02}", 2000 + (i / 12) % 30, i % 12 + 1).parse().unwrap();
        let id =
            store.start_run(dossiers[i % 5], period, Trigger::Timer, None, false, "2026-11-05T06:00:00+01:00").unwrap();
        let status = if i % 7 == 0 { Status::Failed } else { Status::Imported };
        let typed =
            Outcome::legacy(dossiers[i % 5], &period.to_string(), status, None, &format!("run {i}"), &[i as i64]);
        let outcome = RunOutcome { outcome: typed, plan_json: None };
        store.finish_run(id, &outcome, "2026-11-05T06:00:01+01:00").unwrap();
    }
    drop(store);
    println!("store: {runs} runs written in {:.1} s", t.elapsed().as_secs_f64());

    let mut child = Command::new(env!("CARGO_BIN_EXE_payflow-agent"))
        .args(["serve"])
        .env("PAYFLOW_CONFIG", &config_path)
        .env("PAYFLOW_RPC_TOKEN", "bench-token")
        // serve starts only with every secret an import needs (none is used by this bench).
        .env("PAYFLOW_SILAE_CLIENT_ID", "bench-id")
        .env("PAYFLOW_SILAE_CLIENT_SECRET", "bench-secret")
        .env("PAYFLOW_SILAE_SUBSCRIPTION_KEY", "bench-key")
        .env("PAYFLOW_ODOO_SECRET", "bench-odoo")
        .env("PAYFLOW_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/");
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
    for _ in 0..100 {
        if http.get(format!("{url}healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = rss_kib(child.id());
    // What the addon asks: one dossier's page, failures only, one period across dossiers, and
    // the whole log's first page; each at 1, 4 and 64 requests in flight.
    let bodies: Vec<String> = [
        json!({"dossier": "100300", "limit": 50}),
        json!({"dossier": "100300", "status": "failed", "limit": 50}),
        json!({"period": "2026-10", "limit": 50}),
        json!({"limit": 50}),
    ]
    .iter()
    .map(|params| json!({"jsonrpc": "2.0", "id": 1, "method": "runs.list", "params": params}).to_string())
    .collect();
    let levels: Vec<usize> = std::env::var("BENCH_CONCURRENCY")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 4, 64]);
    for &in_flight in &levels {
        let started = Instant::now();
        let results: Vec<(bool, Duration)> = futures::stream::iter(0..requests)
            .map(|i| {
                let (http, url, body) = (http.clone(), url.clone(), bodies[i % bodies.len()].clone());
                async move {
                    let t = Instant::now();
                    let ok = match http
                        .post(&url)
                        .bearer_auth("bench-token")
                        .header("Content-Type", "application/json")
                        .body(body)
                        .send()
                        .await
                    {
                        Ok(r) if r.status().is_success() => r
                            .bytes()
                            .await
                            .map(|b| b.len() > 1000 && !b.starts_with(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"error\""))
                            .unwrap_or(false),
                        _ => false,
                    };
                    (ok, t.elapsed())
                }
            })
            .buffer_unordered(in_flight)
            .collect()
            .await;
        let wall = started.elapsed();
        let errors = results.iter().filter(|(ok, _)| !ok).count();
        let mut lat: Vec<Duration> = results.iter().map(|(_, d)| *d).collect();
        lat.sort();
        let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
        println!(
            "runs.list x{requests} at {in_flight} in flight ({runs} runs in the store): {errors} errors, p50 {:.2} ms, p99 {:.2} ms, {:.0} req/s",
            pct(0.50).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            requests as f64 / wall.as_secs_f64()
        );
    }
    let loaded = rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    println!("serve RSS: {:.1} MiB idle, {:.1} MiB after the load", idle as f64 / 1024.0, loaded as f64 / 1024.0);
    let size = std::fs::metadata(env!("CARGO_BIN_EXE_payflow-agent")).map(|m| m.len()).unwrap_or(0);
    let profile =
        if cfg!(debug_assertions) { "test profile: not the shipped size" } else { "release profile, stripped" };
    println!("payflow-agent binary ({profile}): {:.1} MiB", size as f64 / 1024.0 / 1024.0);
}
