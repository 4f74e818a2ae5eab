//! The JSON-RPC service over real HTTP.

use std::sync::Arc;
use std::time::Duration;

use payflow_agent::rpc::{serve, watch_config, Service};
use payflow_agent::secrets::SecretName;
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
        assert!(!text.contains(TOKEN) && !text.contains("demo-client-secret"), "a secret in an answer: {text}");
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
    assert_eq!(s.raw(&huge, Some(TOKEN)).await.status(), 413);
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
    assert_eq!(s.ok("connections.test", json!({"target": "silae"})).await["ok"], true);
    let smtp = s.ok("connections.test", json!({"target": "smtp"})).await;
    assert_eq!(smtp["ok"], false);
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
    assert_eq!(state["runs"][0]["trigger"], "rpc");
    assert_eq!(state["runs"][0]["triggered_by"], "comptable@example.com");
    let runs = s.ok("runs.list", json!({"dossier": "100200", "status": "imported"})).await;
    assert_eq!(runs.as_array().unwrap().len(), 1);
    let run = s.ok("runs.get", json!({"id": runs[0]["id"]})).await;
    assert_eq!(run["moves"].as_array().unwrap().len(), 1);
    assert_eq!(run["plans"][0]["total_debit_cents"], 7_729_840);
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
    tokio::time::sleep(Duration::from_millis(1500)).await;
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
    assert_eq!(agent.store().job(id).unwrap().unwrap().state, "running");
    let svc = Service::new(w.agent(), &w.config_path).unwrap();
    let job = svc.agent().store().job(id).unwrap().unwrap();
    assert_eq!(job.state, "interrupted");
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
    tokio::time::sleep(Duration::from_millis(300)).await;
    let svc = s.svc.clone();
    let w = s.stop().await;
    let job = svc.agent().store().job(id).unwrap().unwrap();
    assert_eq!(job.state, "interrupted");
    assert!(job.done < 2, "{job:?}");
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
    assert!(logs.contains("JSON-RPC service ready"), "the logs were captured: {logs}");
    assert!(!logs.contains(TOKEN) && !logs.contains("wrong-planted-token"), "a token in the logs");
    assert_no_secret(&logs);
}
