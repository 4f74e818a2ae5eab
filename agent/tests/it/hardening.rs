//! What an outside break test found (issue 13), each case as a test over real processes, real
//! SQLite files and real sockets. Every wait polls an observable condition with a deadline;
//! each test prints one `reliability:` line with its figures (docs/reliability.md).

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use payflow_agent::import::{ErrorKind, Status};
use payflow_agent::secrets::{SecretName, Secrets};
use payflow_agent::store::{RunFilter, Store};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::util::*;

const TOKEN: &str = "planted-rpc-t0ken";

/// Polls `check` until it gives a value, failing the test after `limit`.
async fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "waited {} s for {what}", limit.as_secs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn database(w: &World) -> PathBuf {
    w.config().database_path()
}

fn payflow_import_plan_calls(w: &World) -> usize {
    w.odoo().calls().iter().filter(|(model, method)| model == "account.move" && method == "payflow_import_plan").count()
}

/// A second connection holding SQLite's write lock, as `sqlite3 db 'BEGIN IMMEDIATE'` does.
fn write_lock(db: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    conn
}

/// `payflow-agent serve` as its own process on a free port; its stderr collected.
struct Serve {
    child: Child,
    url: String,
    logs: std::sync::Arc<std::sync::Mutex<String>>,
    http: reqwest::Client,
}

impl Serve {
    async fn start(w: &World, extra_env: &[(&str, &str)], limit_files: Option<u64>) -> Serve {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let text = std::fs::read_to_string(&w.config_path).unwrap();
        let text = match text.find("[rpc]") {
            Some(_) => text,
            None => text.replace("[silae]", &format!("[rpc]\nlisten = \"127.0.0.1:{port}\"\n\n[silae]")),
        };
        std::fs::write(&w.config_path, &text).unwrap();
        let listen = text.split("listen = \"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        let mut cmd = w.cli_command(&w.config_path, &["serve"]);
        cmd.env("PAYFLOW_RPC_TOKEN", TOKEN).env("PAYFLOW_LOG", "info").stdout(Stdio::null());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        #[cfg(unix)]
        if let Some(n) = limit_files {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe; it only lowers this child's own limit.
            unsafe {
                cmd.pre_exec(move || {
                    let rl = libc::rlimit { rlim_cur: n, rlim_max: n };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().unwrap();
        let logs = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (stderr, sink) = (child.stderr.take().unwrap(), logs.clone());
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let s = Serve { child, url: format!("http://{listen}/"), logs, http: reqwest::Client::new() };
        s.wait_ready().await;
        s
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = self.http.get(format!("{}healthz", self.url)).timeout(Duration::from_secs(5)).send().await;
            if r.is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "serve did not answer: {}", self.logs());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    async fn call(&self, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let r = self.http.post(&self.url).bearer_auth(TOKEN).json(&body).send().await.unwrap();
        let v: Value = r.json().await.unwrap();
        keep_for_scan(&format!("serve {method}"), &v.to_string());
        v
    }

    async fn metric(&self, name: &str) -> u64 {
        let text = self
            .http
            .get(format!("{}metrics", self.url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill only sends a signal to the child this test started.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Waits for the process to end (bounded) and returns how long it took.
    async fn wait_exit(&mut self, limit: Duration) -> (std::process::ExitStatus, Duration) {
        let t = Instant::now();
        let status = wait_for("serve to exit", limit, || self.child.try_wait().unwrap()).await;
        keep_for_scan("serve's logs", &self.logs());
        (status, t.elapsed())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Item 1: a run that cannot be recorded asks nothing of Silae or Odoo and fails with `state`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_cannot_be_recorded_calls_nobody_and_fails_with_state() {
    let w = World::start().await;
    w.cli_add_sample_dossier("100200", &[]);
    let lock = write_lock(&database(&w));
    let t = Instant::now();
    let out = w.cli(&["import", "--dossier", "100200", "--period", "2026-10", "--json"], None);
    let waited = t.elapsed();
    assert!(!out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    assert_eq!((report["status"].as_str(), report["error_kind"].as_str()), (Some("failed"), Some("state")), "{report}");
    assert!(report["message"].as_str().unwrap().contains("nothing was asked of Silae or Odoo"), "{report}");
    assert_eq!(w.silae.requests().len(), 0, "Silae was called");
    assert!(w.odoo().calls().is_empty(), "Odoo was called: {:?}", w.odoo().calls());
    assert!(w.odoo().moves().is_empty());
    drop(lock);
    // Once the database is free, the same command imports the period, once.
    let out = w.cli(&["import", "--dossier", "100200", "--period", "2026-10", "--json"], None);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(w.odoo().moves().len(), 1);
    println!(
        "reliability: import with the state database write-locked by another connection: failed [state] after {:.1} s, 0 Silae and 0 Odoo calls; imported once unlocked",
        waited.as_secs_f64()
    );
}

/// Item 2: reads of the config never reload it; a reload does not trigger another; only a
/// content change is applied. A deleted database is reported, never recreated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_the_config_never_reloads_it_and_a_deleted_database_is_an_error() {
    let w = World::start().await;
    w.cli_add_sample_dossier("100200", &[]);
    let s = Serve::start(&w, &[], None).await;
    let original = std::fs::read(&w.config_path).unwrap();
    for _ in 0..1000 {
        assert!(!std::fs::read(&w.config_path).unwrap().is_empty());
    }
    // The same bytes written again: an event the watcher must look at (a check), not a reload.
    // Events come in order, so once that check is seen, every read before it was handled.
    std::fs::write(&w.config_path, &original).unwrap();
    wait_for_metric(&s, "payflow_config_checks_total", 1).await;
    assert_eq!(s.metric("payflow_config_reloads_total").await, 0, "reads or a same-content write reloaded");
    // A real edit: one reload, which does not set off another.
    let edited = String::from_utf8(original.clone())
        .unwrap()
        .replace("login = \"admin\"", "login = \"admin\"\ntimeout_secs = 7");
    std::fs::write(&w.config_path, &edited).unwrap();
    wait_for_metric(&s, "payflow_config_reloads_total", 1).await;
    for _ in 0..1000 {
        let _ = std::fs::read(&w.config_path).unwrap();
    }
    let checks = s.metric("payflow_config_checks_total").await;
    std::fs::write(&w.config_path, &edited).unwrap();
    wait_for_metric(&s, "payflow_config_checks_total", checks + 1).await;
    let reloads = s.metric("payflow_config_reloads_total").await;
    assert_eq!(reloads, 1, "{}", s.logs());
    assert_eq!(s.metric("payflow_config_refusals_total").await, 0);
    assert_eq!(s.logs().matches("config reloaded").count(), 1, "{}", s.logs());

    // An rpc.listen change is said to need a restart, and the old port keeps serving.
    let moved = edited.replace("listen = \"127.0.0.1:", "listen = \"127.0.0.2:");
    std::fs::write(&w.config_path, &moved).unwrap();
    wait_for_metric(&s, "payflow_config_reloads_total", 2).await;
    assert!(s.logs().contains("takes effect at the next restart"), "{}", s.logs());
    assert_eq!(s.http.get(format!("{}healthz", s.url)).send().await.unwrap().status(), 200);

    // The state database deleted under the service: degraded, imports fail, no new empty file.
    let db = database(&w);
    std::fs::remove_file(&db).unwrap();
    let health = s.http.get(format!("{}healthz", s.url)).send().await.unwrap();
    assert_eq!(health.status(), 503);
    let body = health.text().await.unwrap();
    assert!(body.contains("was deleted"), "{body}");
    let job = s.call("imports.start", json!({"dossier": "100200", "periods": ["2026-10"]})).await;
    assert!(job.get("result").is_some() || job.get("error").is_some(), "{job}");
    // A reload after the deletion keeps the same (deleted) database: still no new file.
    std::fs::write(&w.config_path, &original).unwrap();
    wait_for_metric(&s, "payflow_config_reloads_total", 3).await;
    let health = s.http.get(format!("{}healthz", s.url)).send().await.unwrap();
    assert_eq!(health.status(), 503);
    assert!(!db.exists(), "the deleted database was recreated");
    assert_eq!(payflow_import_plan_calls(&w), 0, "an import ran without its record");
    println!(
        "reliability: config watcher: 2,000 reads of the config with serve running: 0 reloads; one edit: 1 reload (not set off again); a deleted state database: /healthz degraded, no empty database recreated"
    );
}

async fn wait_for_metric(s: &Serve, name: &str, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if s.metric(name).await >= at_least {
            return;
        }
        assert!(Instant::now() < deadline, "{name} never reached {at_least}: {}", s.logs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Item 3: `secret set` of every name at once, on a fresh data folder: each value kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_secret_sets_each_keep_their_value() {
    let rounds = 6;
    let mut kept = 0;
    for round in 0..rounds {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("p.toml");
        std::fs::write(
            &config,
            "instance = \"p\"\ndata_dir = \"state\"\n[odoo]\nurl = \"http://127.0.0.1:9\"\ndatabase = \"x\"\nlogin = \"x\"\n",
        )
        .unwrap();
        let children: Vec<(SecretName, Child)> = SecretName::ALL
            .iter()
            .map(|name| {
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_payflow-agent"));
                cmd.args(["secret", "set", name.as_str()])
                    .env("PAYFLOW_CONFIG", &config)
                    .env_remove("CREDENTIALS_DIRECTORY");
                for n in SecretName::ALL {
                    cmd.env_remove(n.env_var());
                }
                let mut child =
                    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
                child.stdin.take().unwrap().write_all(format!("value-{round}-{name}\n").as_bytes()).unwrap();
                (*name, child)
            })
            .collect();
        for (name, child) in children {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "round {round}, {name}: {}", text(&out));
        }
        let data = dir.path().join("state");
        let secrets = Secrets::new(data.join("secrets.store"), data.join("secrets.key"), None, Box::new(|_| None));
        for name in SecretName::ALL {
            let v = secrets.get(name).unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert_eq!(v.map(|v| v.expose_secret().to_owned()), Some(format!("value-{round}-{name}")), "round {round}");
            kept += 1;
        }
        let leftovers: Vec<_> = std::fs::read_dir(&data)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
    println!(
        "reliability: {rounds} rounds of {} parallel `secret set` on a fresh data folder: {kept} of {kept} values kept",
        SecretName::ALL.len()
    );
}

/// Item 4: slow clients cannot take the service down; a stop is bounded even with a request
/// half sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_and_a_stop_is_bounded() {
    let w = World::start().await;
    // 256 descriptors: the cap (limit - 128) is 128 connections; 300 slow ones are sent.
    let mut s = Serve::start(&w, &[], Some(256)).await;
    let addr = s.url.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let slow = 300;
    let mut held = Vec::new();
    for _ in 0..slow {
        let mut c = std::net::TcpStream::connect(&addr).unwrap();
        c.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Ty").unwrap();
        held.push(c);
    }
    let t = Instant::now();
    let status = wait_for("a good client's /healthz", Duration::from_secs(90), || {
        let mut c = std::net::TcpStream::connect(&addr).ok()?;
        c.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
        let mut answer = String::new();
        c.read_to_string(&mut answer).ok()?;
        answer.split(' ').nth(1).map(str::to_owned)
    })
    .await;
    let answered = t.elapsed();
    assert!(matches!(status.as_str(), "200" | "503"), "{status}");
    // Every half-header connection is closed by the service.
    for c in &held {
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    }
    let t_closed = Instant::now();
    for (i, c) in held.iter_mut().enumerate() {
        // Closed by the service: an end of stream (after an answer, if any) or a reset.
        let mut rest = Vec::new();
        match c.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("connection {i} still open after {:.0} s: {e}", t_closed.elapsed().as_secs_f64()),
        }
    }
    let all_closed = t_closed.elapsed() + answered;
    // A keep-alive connection left idle after its answer is closed too.
    let mut idle = std::net::TcpStream::connect(&addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let t_idle = Instant::now();
    let mut answer = Vec::new();
    match idle.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("an idle keep-alive connection still open after 30 s: {e}"),
    }
    assert!(answer.starts_with(b"HTTP/1.1 "), "{}", String::from_utf8_lossy(&answer));
    let idle_closed = t_idle.elapsed();
    // A stop with a request half sent (its body) ends within the bound.
    let mut c = std::net::TcpStream::connect(&addr).unwrap();
    let header =
        format!("POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 100\r\n\r\n{{\"js");
    c.write_all(header.as_bytes()).unwrap();
    // Its body timeout (15 s) has not passed when the stop comes: the stop's own bound ends it.
    s.signal(libc::SIGTERM);
    let (code, took) = s.wait_exit(Duration::from_secs(30)).await;
    assert!(code.success(), "{code:?}: {}", s.logs());
    println!(
        "reliability: {slow} half-header connections against a 256-descriptor serve (cap 128): a good /healthz answered after {:.1} s, all slow ones closed within {:.1} s; an idle keep-alive connection closed after {:.1} s; SIGTERM with a half-sent body: exited in {:.1} s",
        answered.as_secs_f64(),
        all_closed.as_secs_f64(),
        idle_closed.as_secs_f64(),
        took.as_secs_f64()
    );
}

/// A Silae stub: tokens with `expires_in` as given, and an answer body without end.
async fn endless_silae(expires_in: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut c, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                if head.starts_with(b"POST /oauth2") {
                    let body = format!("{{\"access_token\":\"stub-token\",\"expires_in\":{expires_in}}}");
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = c.write_all(answer.as_bytes()).await;
                    return;
                }
                let _ = c
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                    )
                    .await;
                let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
                // Bounded: 512 MiB at most, or until the client goes.
                for _ in 0..8192 {
                    if c.write_all(chunk.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

/// Items 5 and 8: an answer without end stops at the cap with `silae_bad_response`; a huge
/// `expires_in` is clamped, never a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_silae_answer_stops_at_the_cap_and_a_huge_expires_in_does_not_panic() {
    let w = World::start().await;
    let stub = endless_silae("18446744073709551615").await;
    let text = std::fs::read_to_string(&w.config_path)
        .unwrap()
        .replace(&w.silae.api_url(), &format!("{stub}/payroll"))
        .replace(&w.silae.token_url(), &format!("{stub}/oauth2/v2.0/token"))
        .replace("timeout_secs = 5", "timeout_secs = 60");
    std::fs::write(&w.config_path, text).unwrap();
    let agent = w.agent();
    let mut d = dossier("100200", 5);
    d.wait_closed = false;
    add_dossier(&agent, &d);
    let t = Instant::now();
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!((r.status, r.error_kind), (Status::Failed, Some(ErrorKind::SilaeBadResponse)), "{}", r.message);
    assert!(r.message.contains("64 MiB"), "{}", r.message);
    assert!(w.odoo().calls().iter().all(|(_, m)| m != "payflow_import_plan"));
    let run = agent.store().run(r.run_id.unwrap()).unwrap();
    assert_eq!(run.error_kind, Some(ErrorKind::SilaeBadResponse));
    println!(
        "reliability: a Silae answer without end: refused at the 64 MiB cap in {:.1} s (silae_bad_response); a token with expires_in = 2^64-1: clamped, no panic",
        t.elapsed().as_secs_f64()
    );
    // The same huge expires_in through the real simulator: imported.
    let w = World::start().await;
    w.silae.set_token_ttl(u64::MAX);
    w.cli_add_sample_dossier("100200", &[]);
    let out = w.cli(&["import", "--dossier", "100200", "--period", "2026-10", "--json"], None);
    assert!(out.status.success(), "{}", crate::util::text(&out));
}

/// Issue 18, item 5: an Odoo answer past the 64 MiB cap is a clear error (what was received, the
/// limit, what to check), read in pieces and dropped; nothing is written and the next run imports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_odoo_answer_past_the_cap_is_refused_clearly() {
    let w = World::start().await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    let cap = payflow_agent::odoo::transport::MAX_ANSWER;
    w.odoo().push_fault_on("account.move", "payflow_import_plan", payflow_sim::odoo::OdooFault::Huge(cap + 1024));
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!((r.status, r.error_kind), (Status::Failed, Some(ErrorKind::OdooUnavailable)), "{}", r.message);
    for part in ["the answer is larger than PayFlow reads", "the limit is 64 MiB", "check that odoo.url"] {
        assert!(r.message.contains(part), "{part} in {}", r.message);
    }
    assert!(w.odoo().moves().is_empty());
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    assert_eq!(w.odoo().moves().len(), 1);
}

/// Item 6: with the store write-locked by another process and writes waiting on it, `/healthz`
/// still answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_while_the_store_is_write_locked() {
    let w = World::start().await;
    w.cli_add_sample_dossier("100200", &[]);
    let s = Serve::start(&w, &[], None).await;
    let lock = write_lock(&database(&w));
    let mut upserts = Vec::new();
    for i in 0..3 {
        let mut d = serde_json::to_value(dossier(&format!("10030{i}"), 5)).unwrap();
        d["name"] = json!(format!("Locked {i}"));
        let (http, url) = (s.http.clone(), s.url.clone());
        upserts.push(tokio::spawn(async move {
            let body = json!({"jsonrpc": "2.0", "id": 1, "method": "dossiers.upsert", "params": {"dossier": d}});
            http.post(url).bearer_auth(TOKEN).json(&body).send().await.unwrap().json::<Value>().await.unwrap()
        }));
    }
    let mut latencies = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let r = s.http.get(format!("{}healthz", s.url)).timeout(Duration::from_secs(5)).send().await;
        latencies.push(t.elapsed());
        let r = r.expect("/healthz did not answer while the store was locked");
        assert!(matches!(r.status().as_u16(), 200 | 503));
    }
    assert!(upserts.iter().any(|u| !u.is_finished()), "the writes were not waiting on the lock");
    drop(lock);
    for u in upserts {
        let a = u.await.unwrap();
        assert!(
            a.get("result").is_some() || a["error"]["message"].as_str().is_some_and(|m| m.contains("locked")),
            "{a}"
        );
    }
    let worst = latencies.iter().max().unwrap();
    println!(
        "reliability: /healthz with the store write-locked by another process and 3 writes waiting: answered 5 of 5, slowest {:.1} ms",
        worst.as_secs_f64() * 1e3
    );
}

/// Item 7: run-due waits for another run's lock instead of skipping; a lock file that cannot be
/// used is an error, never "another run is working".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_due_waits_for_a_held_dossier_and_reports_a_broken_lock() {
    let w = World::start().await;
    w.cli_add_sample_dossier("100200", &[]);
    let locks = w.dir.path().join("state/locks");
    std::fs::create_dir_all(&locks).unwrap();
    let held =
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(locks.join("100200.lock")).unwrap();
    held.lock().unwrap();
    let mut child = w.cli_command(&w.config_path, &["run-due", "--date", "2026-11-06", "--json"]).spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    wait_for("run-due to say it waits", Duration::from_secs(30), || {
        seen.extend(rx.try_iter());
        seen.iter().any(|l| l.contains("waiting for it")).then_some(())
    })
    .await;
    assert!(child.try_wait().unwrap().is_none(), "run-due ended while the dossier was held: {seen:?}");
    held.unlock().unwrap();
    let out = child.wait_with_output().unwrap();
    keep_for_scan("run-due after a wait", &text(&out));
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((report["period"].as_str(), report["status"].as_str()), (Some("2026-10"), Some("imported")), "{report}");

    // A lock path that cannot be opened (here a folder in its place): a clear error, exit 1.
    w.cli_add_sample_dossier("100300", &[]);
    std::fs::create_dir_all(locks.join("100300.lock")).unwrap();
    let out = w.cli(&["run-due", "--date", "2026-11-06"], None);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("cannot lock dossier 100300") && shown.contains("[state]"), "{shown}");
    assert!(!shown.contains("skipped"), "{shown}");
    println!("reliability: run-due with its dossier held by another run: waited, then imported; a broken lock file: failed [state], exit 1");
}

/// Item 9: runs left `running` by a `kill -9` of serve are interrupted at its next start;
/// SIGHUP reloads serve instead of killing it; a CLI import stopped by SIGHUP marks its run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_and_hung_up_runs_are_marked_interrupted() {
    let w = World::start().await;
    w.cli_add_sample_dossier("100200", &[]);
    let db = database(&w);
    let running = |db: &Path| {
        let store = Store::open(db).unwrap();
        store.runs(&RunFilter { status: Some(Status::Running), ..Default::default() }).unwrap()
    };
    let mut s = Serve::start(&w, &[], None).await;
    w.silae.push_fault(payflow_sim::silae::Fault::Slow(Duration::from_secs(60)));
    let job = s.call("imports.start", json!({"dossier": "100200", "periods": ["2026-10"]})).await;
    assert!(job["result"]["job_id"].is_i64(), "{job}");
    let run =
        wait_for("the job's run to be running", Duration::from_secs(20), || running(&db).into_iter().next()).await;
    s.child.kill().unwrap(); // SIGKILL
    s.child.wait().unwrap();
    let s = Serve::start(&w, &[], None).await;
    let store = Store::open(&db).unwrap();
    assert_eq!(store.run(run.id).unwrap().status, Status::Interrupted, "{}", s.logs());

    // SIGHUP: the service reads its config again and goes on.
    let checks = s.metric("payflow_config_checks_total").await;
    s.signal(libc::SIGHUP);
    wait_for_metric(&s, "payflow_config_checks_total", checks + 1).await;
    assert_eq!(s.http.get(format!("{}healthz", s.url)).send().await.unwrap().status().as_u16() / 100, 2);
    drop(s);

    // A CLI import hung up in the middle: its run is marked, not left running.
    w.silae.push_fault(payflow_sim::silae::Fault::Slow(Duration::from_secs(60)));
    let mut child =
        w.cli_command(&w.config_path, &["import", "--dossier", "100200", "--period", "2026-10"]).spawn().unwrap();
    let run =
        wait_for("the import's run to be running", Duration::from_secs(20), || running(&db).into_iter().next()).await;
    // SAFETY: kill only sends a signal to the child this test started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGHUP);
    }
    let out = wait_for("the import to stop", Duration::from_secs(20), || child.try_wait().unwrap()).await;
    assert_eq!(out.code(), Some(143));
    assert_eq!(store.run(run.id).unwrap().status, Status::Interrupted);
    assert!(running(&db).is_empty());
    println!("reliability: serve killed by SIGKILL mid-job: its run interrupted at the next start; SIGHUP: config read again, service up; import stopped by SIGHUP: run interrupted, exit 143");
}

/// Item 10: a key or store readable by others is refused with the chmod to run.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_file_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::start().await;
    let out = w.cli(&["secret", "set", "smtp_password"], Some("planted-smtp-pa55word\n"));
    assert!(out.status.success(), "{}", text(&out));
    for file in ["secrets.key", "secrets.store"] {
        let path = w.dir.path().join("state").join(file);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = w.cli(&["secret", "list"], None);
        let shown = text(&out);
        assert!(!out.status.success(), "{file}: {shown}");
        assert!(shown.contains(&format!("chmod 600 {}", path.display())), "{shown}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    assert!(w.cli(&["secret", "list"], None).status.success());
}

/// Item 11: free-text RPC fields are bounded; nothing is stored from an oversized call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_rpc_fields_are_refused_and_store_nothing() {
    let w = World::start().await;
    w.cli_add_sample_dossier("100200", &[]);
    let s = Serve::start(&w, &[], None).await;
    let size = || {
        std::fs::metadata(database(&w)).unwrap().len()
            + std::fs::metadata(database(&w).with_extension("sqlite3-wal")).map_or(0, |m| m.len())
    };
    let before = size();
    let big = "u".repeat(1_000_000);
    let periods: Vec<String> = (1..=12).map(|m| format!("2025-{m:02}")).collect();
    for _ in 0..3 {
        let a = s.call("imports.start", json!({"dossier": "100200", "periods": periods, "user": big})).await;
        assert_eq!(a["error"]["code"], -32602, "{}", &a.to_string()[..200]);
        assert!(a["error"]["message"].as_str().unwrap().contains("`user`"));
    }
    let mut d = serde_json::to_value(dossier("100400", 5)).unwrap();
    let cases = [
        ("name", json!("n".repeat(10_000))),
        ("alert_emails", json!(vec!["a@example.com"; 21])),
        ("alert_emails", json!([format!("{}@example.com", "a".repeat(300))])),
        ("account_map", json!({"4210": "x".repeat(1000)})),
        ("silae_number", json!("1".repeat(100))),
    ];
    for (field, value) in cases {
        let saved = d[field].clone();
        d[field] = value;
        let a = s.call("dossiers.upsert", json!({"dossier": d})).await;
        let message = a["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(field) && message.len() < 500, "{field}: {a}");
        d[field] = saved;
    }
    let a = s.call("runs.list", json!({"dossier": "9".repeat(100_000)})).await;
    assert_eq!(a["error"]["code"], -32602);
    assert!(s.call("jobs.get", json!({"job_id": 1})).await.get("error").is_some(), "a job was created");
    assert_eq!(s.call("dossiers.list", json!({})).await["result"].as_array().unwrap().len(), 1);
    assert!(size() < before + 200_000, "the database grew from {before} to {}", size());
}

/// Item 12: a body over the limit always gets its 413, read by the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2_mib_body_always_gets_its_413() {
    let w = World::start().await;
    let s = Serve::start(&w, &[], None).await;
    let huge = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\",\"params\":{{\"x\":\"{}\"}}}}",
        "x".repeat(2 << 20)
    );
    let tries = 30;
    for i in 0..tries {
        let r = s
            .http
            .post(&s.url)
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/json")
            .body(huge.clone())
            .send()
            .await;
        let r = r.unwrap_or_else(|e| panic!("try {i}: {e:?}"));
        assert_eq!(r.status(), 413, "try {i}");
    }
    println!("reliability: {tries} requests with a 2 MiB body: {tries} got their 413, no reset");
}

/// A `payflow_import` answer that is not one: failed `odoo_rejected`, never `already_imported`,
/// and the next run imports the period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_write_answer_fails_and_the_period_is_imported_later() {
    let w = World::start().await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    let answers = [
        "{\"ok\": true}",
        "[]",
        "null",
        "[{\"import_key\": \"x\", \"id\": 1, \"result\": \"created\", \"state\": \"draft\"}]",
    ];
    for answer in answers {
        let fault = payflow_sim::odoo::OdooFault::Answer(answer.into());
        w.odoo().push_fault_on("account.move", "payflow_import_plan", fault);
        let r = import(&agent, "100200", "2026-10", false).await;
        assert_eq!(
            (r.status, r.error_kind),
            (Status::Failed, Some(ErrorKind::OdooRejected)),
            "{answer}: {}",
            r.message
        );
        assert!(r.message.contains("cannot be read"), "{}", r.message);
        assert!(w.odoo().moves().is_empty());
    }
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    assert_eq!(w.odoo().moves().len(), 1);
}
