//! The JSON-RPC service over real HTTP.

use std::sync::Arc;
use std::time::Duration;

use payflow_agent::rpc::{serve, watch_config, Service};
use payflow_agent::secrets::SecretName;
use payflow_agent::store::JobState;
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::util::*;

const TOKEN: &str = "planted-rpc-t0ken";

struct Served {
    w: World,
    url: String,
    http: reqwest::Client,
    svc: Arc<Service>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

async fn served() -> Served {
    served_with_grace(Duration::from_secs(5)).await
}

async fn served_with_grace(grace: Duration) -> Served {
    let w = World::start().await;
    let agent = w.agent();
    agent.secrets.set(SecretName::RpcToken, &SecretString::from(TOKEN)).unwrap();
    add_dossier(&agent, &dossier("100200", 5));
    let svc = Service::new(agent, &w.config_path).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let s = svc.clone();
    let task = tokio::spawn(async move {
        serve(
            s,
            listener,
            async move {
                let _ = rx.await;
            },
            grace,
        )
        .await
        .unwrap();
    });
    Served { w, url, http: reqwest::Client::new(), svc, stop: Some(tx), task }
}

impl Served {
    async fn raw(&self, body: &str, token: Option<&str>) -> reqwest::Response {
        let mut r = self.http.post(&self.url).header("Content-Type", "application/json").body(body.to_owned());
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.unwrap()
    }

    async fn call(&self, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
        let answer: Value = self.raw(&body, Some(TOKEN)).await.json().await.unwrap();
        let text = answer.to_string();
        keep_for_scan(&format!("JSON-RPC {method}"), &text);
        assert_no_secret(&text);
        answer
    }

    async fn ok(&self, method: &str, params: Value) -> Value {
        let a = self.call(method, params).await;
        assert!(a.get("error").is_none(), "{method}: {a}");
        a["result"].clone()
    }

    async fn stop(mut self) -> World {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
        self.w
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_required_before_anything_and_bodies_are_bounded() {
    let s = served().await;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "status"}).to_string();
    assert_eq!(s.raw(&body, None).await.status(), 401);
    assert_eq!(s.raw(&body, Some("wrong")).await.status(), 401);
    assert_eq!(s.raw(&body, Some(TOKEN)).await.status(), 200);
    let huge = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\",\"params\":{{\"x\":\"{}\"}}}}",
        "a".repeat(2 * 1024 * 1024)
    );
    // The service reads and drops the rest (up to 8 MiB) before its 413: the client reads it.
    let sent =
        s.http.post(&s.url).bearer_auth(TOKEN).header("Content-Type", "application/json").body(huge).send().await;
    assert_eq!(sent.unwrap().status(), 413);
    assert_eq!(s.raw(&body, Some(TOKEN)).await.status(), 200, "the service answers after a refused body");
    let parse: Value = s.raw("{not json", Some(TOKEN)).await.json().await.unwrap();
    assert_eq!(parse["error"]["code"], -32700);
    let unknown = s.call("nope.nope", json!({})).await;
    assert_eq!(unknown["error"]["code"], -32601);
    let bad = s.call("dossiers.get", json!({"silae": "100200"})).await;
    assert_eq!(bad["error"]["code"], -32602);
    assert!(bad["error"]["message"].as_str().unwrap().contains("silae"), "{bad}");
    let bad = s.call("runs.list", json!({"limit": "ten"})).await;
    assert!(bad["error"]["message"].as_str().unwrap().contains("invalid type"), "{bad}");
    let health = s.http.get(format!("{}healthz", s.url)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "ok");
    assert_eq!(s.http.get(format!("{}metrics", s.url)).send().await.unwrap().status(), 401);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_answers() {
    let s = served().await;
    let status = s.ok("status", json!({})).await;
    assert_eq!(status["instance"], "test");
    assert_eq!(status["odoo"]["reachable"], true);
    assert_eq!(status["silae"]["configured"], true);
    assert!(status["config_file"].as_str().unwrap().ends_with("test.toml"));

    let mut d = serde_json::to_value(dossier("100300", 7)).unwrap();
    d["name"] = json!("ACME Lyon");
    let saved = s.ok("dossiers.upsert", json!({"dossier": d})).await;
    assert_eq!((saved["name"].as_str(), saved["transfer_day"].as_i64()), (Some("ACME Lyon"), Some(7)));
    assert_eq!(s.ok("dossiers.list", json!({})).await.as_array().unwrap().len(), 2);
    assert_eq!(s.ok("dossiers.get", json!({"silae_number": "100300"})).await["name"], "ACME Lyon");
    d["transfer_day"] = json!(40);
    let bad = s.call("dossiers.upsert", json!({"dossier": d})).await;
    assert_eq!(bad["error"]["code"], -32002, "{bad}");
    assert!(bad["error"]["message"].as_str().unwrap().contains("transfer_day 40"), "{bad}");
    assert_eq!(s.ok("dossiers.remove", json!({"silae_number": "100300"})).await["removed"], "100300");
    assert_eq!(s.call("dossiers.get", json!({"silae_number": "100300"})).await["error"]["code"], -32001);

    let silae = s.ok("silae.dossiers", json!({})).await;
    assert!(silae.as_array().unwrap().iter().any(|d| d["number"] == "100200"), "{silae}");
    let companies = s.ok("odoo.companies", json!({})).await;
    assert!(companies[0]["journals"].as_array().unwrap().iter().any(|j| j["code"] == "SAL"), "{companies}");

    let ok = s.ok("connections.test", json!({"target": "odoo"})).await;
    assert_eq!(ok["ok"], true, "{ok}");
    // The facts the addon renders in French (no English sentence to show there).
    assert_eq!(ok["facts"]["addon_installed"], true, "{ok}");
    assert!(ok["facts"]["series"].as_u64().is_some_and(|n| n >= 17), "{ok}");
    let silae = s.ok("connections.test", json!({"target": "silae"})).await;
    assert_eq!(silae["ok"], true);
    assert!(silae["facts"]["dossiers"].as_u64().is_some_and(|n| n >= 1), "{silae}");
    let smtp = s.ok("connections.test", json!({"target": "smtp"})).await;
    assert_eq!(smtp["ok"], false);
    assert_eq!(smtp["facts"]["configured"], false, "{smtp}");
    assert!(smtp["message"].as_str().unwrap().contains("[smtp]"));
    assert_eq!(s.call("connections.test", json!({"target": "ftp"})).await["error"]["code"], -32602);

    // An import job, followed to its end; the log shows it.
    let job = s
        .ok(
            "imports.start",
            json!({"dossier": "100200", "periods": ["2026-10", "2026-08"], "user": "comptable@example.com"}),
        )
        .await;
    let id = job["job_id"].as_i64().unwrap();
    let mut state = Value::Null;
    for _ in 0..100 {
        state = s.ok("jobs.get", json!({"job_id": id})).await;
        if state["state"] == "done" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        (state["state"].as_str(), state["done"].as_i64(), state["total"].as_i64()),
        (Some("done"), Some(2), Some(2)),
        "{state}"
    );
    let statuses: Vec<&str> = state["runs"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["imported", "no_data"]);
    // The typed outcome travels beside the contract's fields.
    let outcome = &state["runs"][0]["outcome"];
    assert_eq!((outcome["status"].as_str(), outcome["facts"]["case"].as_str()), (Some("imported"), Some("imported")));
    assert_eq!(outcome["totals"]["debit_cents"], 7_729_840, "{outcome}");
    assert_eq!(outcome["moves"][0]["id"], state["runs"][0]["moves"][0]);
    assert!(outcome["moves"][0]["name"].as_str().is_some_and(|n| n.contains("/2026/10/")), "{outcome}");
    assert_eq!(state["runs"][1]["outcome"]["facts"]["case"], "no_data");
    assert_eq!(state["runs"][0]["trigger"], "rpc");
    assert_eq!(state["runs"][0]["triggered_by"], "comptable@example.com");
    let runs = s.ok("runs.list", json!({"dossier": "100200", "status": "imported"})).await;
    assert_eq!(runs.as_array().unwrap().len(), 1);
    let run = s.ok("runs.get", json!({"id": runs[0]["id"]})).await;
    assert_eq!(run["moves"].as_array().unwrap().len(), 1);
    assert_eq!(run["plans"][0]["total_debit_cents"], 7_729_840);
    assert_eq!(run["outcome"]["totals"]["ruptures"][0]["debit_cents"], 7_729_840, "{run}");
    assert_eq!(runs[0]["outcome"]["status"], "imported");
    assert_eq!(
        s.call("imports.start", json!({"dossier": "100200", "periods": ["2026-13"]})).await["error"]["code"],
        -32602
    );
    assert_eq!(
        s.call("imports.start", json!({"dossier": "999", "periods": ["2026-10"]})).await["error"]["code"],
        -32001
    );
    assert_eq!(s.call("jobs.get", json!({"job_id": 999})).await["error"]["code"], -32001);

    let metrics =
        s.http.get(format!("{}metrics", s.url)).bearer_auth(TOKEN).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("payflow_runs{status=\"imported\",kind=\"\"} 1"), "{metrics}");
    assert!(metrics.contains("payflow_import_duration_seconds_count 2"), "{metrics}");
    assert!(metrics.contains("payflow_last_success_timestamp_seconds{dossier=\"100200\"}"), "{metrics}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_config_edit_is_taken_and_an_invalid_one_refused() {
    let s = served().await;
    let _watcher = watch_config(s.svc.clone()).unwrap();
    let before = s.ok("status", json!({})).await;
    let good = std::fs::read_to_string(&s.w.config_path).unwrap();
    std::fs::write(
        &s.w.config_path,
        good.replace("login = \"admin\"", "login = \"admin\"\ntimeout_secs = 7\n")
            .replace(&s.w.silae.api_url(), &format!("{}/", s.w.silae.api_url())),
    )
    .unwrap();
    let mut after = before.clone();
    for _ in 0..60 {
        after = s.ok("status", json!({})).await;
        if after["config_loaded_at"] != before["config_loaded_at"]
            || after["silae"]["api_url"] != before["silae"]["api_url"]
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(after["silae"]["api_url"], format!("{}/", s.w.silae.api_url()), "the valid edit was taken");
    std::fs::write(&s.w.config_path, "instance = \n").unwrap();
    // Waits until the watcher has looked at the bad edit and refused it.
    let refused = std::sync::atomic::Ordering::Relaxed;
    for _ in 0..200 {
        if s.svc.config_refusals.load(refused) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(s.svc.config_refusals.load(refused), 1, "the bad edit was looked at once");
    let still = s.ok("status", json!({})).await;
    assert_eq!(still["silae"]["api_url"], after["silae"]["api_url"], "the last good config stays");
    assert_eq!(still["instance"], "test");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cut_by_a_restart_is_marked_interrupted() {
    let w = World::start().await;
    let agent = w.agent();
    agent.secrets.set(SecretName::RpcToken, &SecretString::from(TOKEN)).unwrap();
    let id = agent.store().create_job("100200", &["2026-10".parse().unwrap()], false, None, "t0").unwrap();
    assert_eq!(agent.store().job(id).unwrap().unwrap().state, JobState::Running);
    let svc = Service::new(w.agent(), &w.config_path).unwrap();
    let job = svc.agent().store().job(id).unwrap().unwrap();
    assert_eq!(job.state, JobState::Interrupted);
    assert!(job.finished_at.is_some());
}

#[tokio::test]
async fn serve_refuses_to_start_without_a_token() {
    let w = World::start().await;
    let err = Service::new(w.agent(), &w.config_path).err().unwrap();
    assert!(err.contains("payflow-agent secret set rpc_token"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_during_a_job_marks_it_interrupted_with_nothing_half_written() {
    let s = served_with_grace(Duration::from_millis(100)).await;
    s.w.silae.push_fault(payflow_sim::silae::Fault::Slow(Duration::from_secs(3)));
    let job = s.ok("imports.start", json!({"dossier": "100200", "periods": ["2026-10", "2026-08"]})).await;
    let id = job["job_id"].as_i64().unwrap();
    // Stops once the job's first run is under way (recorded `running`, Silae answering slowly).
    let running =
        payflow_agent::store::RunFilter { status: Some(payflow_agent::import::Status::Running), ..Default::default() };
    for _ in 0..200 {
        if !s.svc.agent().store().runs(&running).unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(s.svc.agent().store().runs(&running).unwrap().len(), 1, "the job's run never started");
    let svc = s.svc.clone();
    let w = s.stop().await;
    let job = svc.agent().store().job(id).unwrap().unwrap();
    assert_eq!(job.state, JobState::Interrupted);
    assert!(job.done < 2, "{job:?}");
    assert!(svc.agent().store().runs(&running).unwrap().is_empty(), "a run of the stopped job is left running");
    // Whatever was in flight: a move is whole (one transaction) or absent, never half.
    for m in w.odoo().moves() {
        let lines = m["line_ids"].as_array().unwrap();
        assert_eq!(lines.len(), 13);
        let debit: i64 = lines.iter().map(|l| cents(&l["debit"])).sum();
        let credit: i64 = lines.iter().map(|l| cents(&l["credit"])).sum();
        assert_eq!((debit, credit), (7_729_840, 7_729_840));
    }
    // And the period is imported once by the next run.
    let agent = w.agent();
    let r = import(&agent, "100200", "2026-10", false).await;
    assert!(
        matches!(r.status, payflow_agent::import::Status::Imported | payflow_agent::import::Status::AlreadyImported),
        "{}",
        r.message
    );
    assert_eq!(w.odoo().moves().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_s_trace_logs_never_show_the_token_or_a_secret() {
    let w = World::start().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let text = std::fs::read_to_string(&w.config_path)
        .unwrap()
        .replace("[silae]", &format!("[rpc]\nlisten = \"127.0.0.1:{port}\"\n\n[silae]"));
    std::fs::write(&w.config_path, text).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_payflow-agent"));
    cmd.arg("serve").env("PAYFLOW_CONFIG", &w.config_path).env("PAYFLOW_LOG", "trace").env("PAYFLOW_RPC_TOKEN", TOKEN);
    for (k, v) in PLANTED {
        cmd.env(k, v);
    }
    let child = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let url = format!("http://127.0.0.1:{port}/");
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http.get(format!("{url}healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (method, token) in [("status", TOKEN), ("silae.dossiers", TOKEN), ("status", "wrong-planted-token")] {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": {}}).to_string();
        http.post(&url).bearer_auth(token).header("Content-Type", "application/json").body(body).send().await.unwrap();
    }
    // SIGTERM, as systemd stops the service.
    // SAFETY: kill only sends a signal to the child this test started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    keep_for_scan("serve's trace logs", &logs);
    assert!(logs.contains("JSON-RPC service ready"), "the logs were captured: {logs}");
    assert!(!logs.contains(TOKEN) && !logs.contains("wrong-planted-token"), "a token in the logs");
    assert_no_secret(&logs);
}

/// JSON-RPC abuse: no or wrong token, huge and deeply nested bodies, bytes that are not UTF-8,
/// batches, and every method's params with the wrong types. Each gets a clear HTTP or JSON-RPC
/// error, no answer shows a secret, nothing is changed, and the service answers afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abusive_requests_get_clear_errors_and_change_nothing() {
    let s = served().await;
    let before = (s.ok("dossiers.list", json!({})).await, s.ok("runs.list", json!({})).await);
    let mut sent = 0;
    let status = json!({"jsonrpc": "2.0", "id": 1, "method": "status"}).to_string();
    for token in [None, Some("wrong"), Some(""), Some(&TOKEN[..TOKEN.len() - 1]), Some("planted-rpc-t0kenX")] {
        assert_eq!(s.raw(&status, token).await.status(), 401, "{token:?}");
        sent += 1;
    }
    let mut lower = s.http.post(&s.url).header("Authorization", format!("bearer {TOKEN}")).body(status.clone());
    lower = lower.header("Content-Type", "application/json");
    assert_eq!(lower.send().await.unwrap().status(), 200, "the scheme is case-insensitive");

    // Bodies: deep nesting, not UTF-8, empty, not an object, a batch, a huge one.
    let deep = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\",\"params\":{}{}}}",
        "[".repeat(200_000),
        "]".repeat(200_000)
    );
    let shapes: Vec<(Vec<u8>, &str)> = vec![
        (deep.into_bytes(), "deep nesting"),
        (b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"st\xffatus\"}".to_vec(), "not UTF-8"),
        (Vec::new(), "empty"),
        (b"42".to_vec(), "a number"),
        (b"{\"id\":1,\"method\":\"status\"}".to_vec(), "JSON-RPC 1.0"),
        (b"{\"jsonrpc\":\"2.0\",\"id\":1}".to_vec(), "no method"),
        (b"{\"jsonrpc\":\"2.0\",\"id\":{\"a\":1},\"method\":\"status\"}".to_vec(), "an object id"),
        (format!("[{}]", vec![status.as_str(); 2000].join(",")).into_bytes(), "a batch of 2,000"),
    ];
    for (body, what) in shapes {
        let r = s
            .http
            .post(&s.url)
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let code = r.status();
        let text = r.text().await.unwrap();
        assert!(code.is_client_error() || code == 200, "{what}: HTTP {code}");
        if code == 200 {
            let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}: {text}"));
            let errors = |v: &Value| v.get("error").is_some();
            let refused = errors(&v) || v.as_array().is_some_and(|a| a.iter().all(errors));
            assert!(refused, "{what} was accepted: {}", &text[..text.len().min(300)]);
        }
        keep_for_scan(what, &text);
        assert_no_secret(&text);
        sent += 1;
    }

    // Every method with params of the wrong types: -32602 (bad params) or -32002 (invalid
    // input), with the param's name or the expected type in the message.
    let wrong: [Value; 7] = [json!(1), json!("x"), json!(true), json!(null), json!([]), json!({}), json!(-1e308)];
    // (method, [(param, its JSON type: s string, i integer, a array, b bool, o object, - any)]).
    type Params = &'static [(&'static str, char)];
    let methods: [(&str, Params); 10] = [
        ("dossiers.get", &[("silae_number", 's')]),
        ("dossiers.upsert", &[("dossier", 'o')]),
        ("dossiers.remove", &[("silae_number", 's')]),
        ("runs.list", &[("dossier", 's'), ("status", 's'), ("period", 's'), ("limit", 'i'), ("before_id", 'i')]),
        ("runs.get", &[("id", 'i')]),
        ("imports.start", &[("dossier", 's'), ("periods", 'a'), ("dry_run", 'b')]),
        ("jobs.get", &[("job_id", 'i')]),
        ("connections.test", &[("target", 's')]),
        ("status", &[("x", '-')]),
        ("silae.dossiers", &[("x", '-')]),
    ];
    let optional = ["status", "period", "limit", "before_id", "dry_run"];
    let valid = json!({"silae_number": "100200", "dossier": "nope", "periods": ["2026-10"], "id": 1, "job_id": 1, "target": "odoo"});
    let mut errors_seen = 0;
    for (method, params) in methods {
        for (param, kind) in params {
            for value in &wrong {
                let fits = match kind {
                    's' => value.is_string(),
                    'i' => value.is_i64(),
                    'a' => value.is_array(),
                    'b' => value.is_boolean(),
                    'o' => value.is_object(),
                    _ => true,
                };
                let mut p = json!({});
                for (other, _) in params.iter() {
                    if let Some(v) = valid.get(*other) {
                        p[*other] = v.clone();
                    }
                }
                p[*param] = value.clone();
                let a = s.call(method, p.clone()).await;
                sent += 1;
                let Some(e) = a.get("error") else {
                    let may_pass = fits || value.is_null() && (optional.contains(param) || method == "runs.list");
                    assert!(may_pass, "{method} {p} was accepted: {a}");
                    continue;
                };
                errors_seen += 1;
                let code = e["code"].as_i64().unwrap();
                assert!(matches!(code, -32602 | -32002 | -32001), "{method} {p}: {e}");
                let message = e["message"].as_str().unwrap();
                assert!(!message.is_empty() && message.len() < 2_000, "{method} {p}: {message}");
            }
        }
    }
    assert!(errors_seen > 100, "{errors_seen}");

    // A dossier with absurd values is refused with the field, and nothing changes.
    let mut d = serde_json::to_value(dossier("100200", 5)).unwrap();
    for (field, value) in [
        ("transfer_day", json!(255)),
        ("company_id", json!(-1)),
        ("name", json!("")),
        ("silae_number", json!("../../etc/passwd")),
        ("alert_emails", json!(["not an address"])),
        ("journal_code", json!("X".repeat(100_000))),
    ] {
        let saved = d[field].clone();
        d[field] = value;
        let a = s.call("dossiers.upsert", json!({"dossier": d})).await;
        sent += 1;
        assert!(matches!(a["error"]["code"].as_i64(), Some(-32002 | -32602)), "{field}: {a}");
        assert!(a["error"]["message"].as_str().unwrap().contains(field), "{field}: {a}");
        d[field] = saved;
    }
    let after = (s.ok("dossiers.list", json!({})).await, s.ok("runs.list", json!({})).await);
    assert_eq!(before, after, "abuse changed the state");
    assert_eq!(s.ok("status", json!({})).await["instance"], "test");
    println!(
        "reliability: {sent} abusive JSON-RPC requests: each refused with a clear error, state unchanged, service up"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_silae_secret_expiry_silae_announced() {
    let s = served().await;
    assert_eq!(s.ok("status", json!({})).await["silae"]["secret_expiry"], json!({}));
    s.w.silae.set_key_expiration_warnings(None, Some("2026-12-24T00:00:00Z"));
    let agent = s.w.agent();
    let r = import(&agent, "100200", "2026-10", true).await;
    assert_eq!(r.status, payflow_agent::import::Status::Previewed, "{}", r.message);
    let expiry = s.ok("status", json!({})).await["silae"]["secret_expiry"].clone();
    assert_eq!(expiry["secondary"]["expires"], "2026-12-24", "{expiry}");
    assert!(expiry.get("primary").is_none(), "{expiry}");
    // Renewed: Silae stops announcing it, the status forgets it.
    s.w.silae.set_key_expiration_warnings(None, None);
    import(&agent, "100200", "2026-10", true).await;
    assert_eq!(s.ok("status", json!({})).await["silae"]["secret_expiry"], json!({}));
    s.stop().await;
}
