//! The JSON-RPC methods of contract.md, params by name, on a jsonrpsee `RpcModule`.

use std::sync::Arc;

use jsonrpsee::types::{ErrorObject, ErrorObjectOwned, Params};
use jsonrpsee::RpcModule;
use serde::Deserialize;
use serde_json::{json, Value};

use super::Service;
use crate::import::run_period;
use crate::period::Period;
use crate::run::{ImportOptions, Status};
use crate::store::{limits, Dossier, JobState, RunFilter, Trigger};

/// Application errors (JSON-RPC reserves -32768..-32000 for itself; -32000..-32099 are free).
pub const NOT_FOUND: i32 = -32001;
pub const INVALID: i32 = -32002;
pub const UNAVAILABLE: i32 = -32003;

fn err(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObject::owned(code, message.into(), None::<()>)
}

/// Refuses a free-text param longer than `max` characters, naming it.
fn bounded(name: &str, value: Option<&str>, max: usize) -> Result<(), ErrorObjectOwned> {
    match value {
        Some(v) if v.chars().count() > max => Err(err(
            -32602,
            format!("invalid params: `{name}` is {} characters long, at most {max} are accepted", v.chars().count()),
        )),
        _ => Ok(()),
    }
}

/// Named params, unknown names refused (the error names them).
fn parse<T: serde::de::DeserializeOwned>(params: &Params<'_>) -> Result<T, ErrorObjectOwned> {
    if params.as_str().is_some_and(|p| p.trim_start().starts_with('[')) {
        return Err(err(-32602, "params must be given by name (a JSON object)"));
    }
    let raw = params.as_str().unwrap_or("{}");
    // The message itself names the param (unknown field `x`, missing field `y`, invalid type…).
    serde_json::from_str(raw).map_err(|e| err(-32602, format!("invalid params: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoParams {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SilaeNumber {
    silae_number: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Upsert {
    dossier: Dossier,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunsList {
    dossier: Option<String>,
    /// Only the runs of this Odoo target (`default`: `[odoo]`).
    target: Option<String>,
    status: Option<Status>,
    period: Option<Period>,
    limit: Option<u32>,
    before_id: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Id {
    id: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportsStart {
    dossier: String,
    periods: Vec<Period>,
    #[serde(default)]
    dry_run: bool,
    /// Who asked (the Odoo user), recorded on the runs.
    #[serde(default)]
    user: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobId {
    job_id: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    target: String,
    /// With `target = "odoo"`: which Odoo target (default: `[odoo]`).
    #[serde(default = "crate::store::default_target")]
    odoo_target: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Companies {
    /// The Odoo target (default: `[odoo]`).
    #[serde(default = "crate::store::default_target")]
    target: String,
}

fn store_err(e: crate::store::StoreError) -> ErrorObjectOwned {
    match e {
        crate::store::StoreError::UnknownDossier(_) | crate::store::StoreError::UnknownRun(_) => {
            err(NOT_FOUND, e.to_string())
        }
        crate::store::StoreError::InvalidDossier(_) => err(INVALID, e.to_string()),
        other => err(-32603, other.to_string()),
    }
}

pub fn module(svc: Arc<Service>) -> RpcModule<Arc<Service>> {
    let mut m = RpcModule::new(svc);
    m.register_async_method("status", |p, svc, _| async move {
        parse::<NoParams>(&p)?;
        Ok::<Value, ErrorObjectOwned>(svc.status().await)
    })
    .expect("unique name");
    m.register_blocking_method("dossiers.list", |p, svc, _| {
        parse::<NoParams>(&p)?;
        svc.agent().store().dossiers().map_err(store_err)
    })
    .expect("unique name");
    m.register_blocking_method("dossiers.get", |p, svc, _| {
        let a: SilaeNumber = parse(&p)?;
        bounded("silae_number", Some(&a.silae_number), limits::NUMBER)?;
        svc.agent().store().dossier(&a.silae_number).map_err(store_err)
    })
    .expect("unique name");
    m.register_blocking_method("dossiers.upsert", |p, svc, _| {
        let a: Upsert = parse(&p)?;
        let agent = svc.agent();
        agent.save_dossier(&a.dossier).map_err(store_err)
    })
    .expect("unique name");
    m.register_blocking_method("dossiers.remove", |p, svc, _| {
        let a: SilaeNumber = parse(&p)?;
        bounded("silae_number", Some(&a.silae_number), limits::NUMBER)?;
        let removed = svc.agent().store().remove_dossier(&a.silae_number).map_err(store_err)?;
        if removed {
            Ok(json!({"removed": a.silae_number}))
        } else {
            Err(err(NOT_FOUND, format!("no dossier {}", a.silae_number)))
        }
    })
    .expect("unique name");
    m.register_async_method("silae.dossiers", |p, svc, _| async move {
        parse::<NoParams>(&p)?;
        let agent = svc.agent();
        let silae = agent.silae().await.map_err(|f| err(UNAVAILABLE, format!("{} [{}]", f.message, f.kind)))?;
        let list = silae.liste_dossiers().await.map_err(|e| err(UNAVAILABLE, format!("{e} [{}]", e.kind())))?;
        Ok::<Value, ErrorObjectOwned>(Value::Array(
            list.iter()
                .map(|d| json!({"number": d.numero, "company_name": d.raison_sociale, "siret": d.siret, "state": d.etat_dossier}))
                .collect(),
        ))
    })
    .expect("unique name");
    m.register_async_method("odoo.companies", |p, svc, _| async move {
        let a: Companies = parse(&p)?;
        bounded("target", Some(&a.target), 40)?;
        let agent = svc.agent();
        let odoo =
            agent.odoo_for(&a.target).await.map_err(|f| err(UNAVAILABLE, format!("{} [{}]", f.message, f.kind)))?;
        odoo.companies().await.map_err(|e| err(UNAVAILABLE, e.to_string()))
    })
    .expect("unique name");
    m.register_blocking_method("runs.list", |p, svc, _| {
        let a: RunsList = parse(&p)?;
        bounded("dossier", a.dossier.as_deref(), limits::NUMBER)?;
        bounded("target", a.target.as_deref(), 40)?;
        let filter = RunFilter {
            target: a.target,
            dossier: a.dossier,
            status: a.status,
            period: a.period.map(|p| p.to_string()),
            before_id: a.before_id,
            limit: Some(a.limit.unwrap_or(100)),
        };
        svc.agent().store().runs(&filter).map_err(store_err)
    })
    .expect("unique name");
    m.register_blocking_method("runs.get", |p, svc, _| {
        let a: Id = parse(&p)?;
        let agent = svc.agent();
        let store = agent.store();
        let run = store.run(a.id).map_err(store_err)?;
        let plan: Value =
            store.run_plan(a.id).map_err(store_err)?.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(Value::Null);
        let mut v = serde_json::to_value(run).expect("serialisable");
        v["plans"] = plan;
        Ok::<Value, ErrorObjectOwned>(v)
    })
    .expect("unique name");
    m.register_blocking_method("imports.start", |p, svc, _| {
        let a: ImportsStart = parse(&p)?;
        if a.periods.is_empty() || a.periods.len() > 36 {
            return Err(err(-32602, "invalid params: `periods` must hold 1 to 36 periods (YYYY-MM)"));
        }
        bounded("dossier", Some(&a.dossier), limits::NUMBER)?;
        bounded("user", a.user.as_deref(), limits::USER)?;
        let agent = svc.agent();
        agent.store().dossier(&a.dossier).map_err(store_err)?;
        let id = agent
            .store()
            .create_job(&a.dossier, &a.periods, a.dry_run, a.user.as_deref(), &agent.now())
            .map_err(store_err)?;
        svc.spawn_job(id, a.dossier, a.periods, a.dry_run, a.user);
        Ok(json!({"job_id": id}))
    })
    .expect("unique name");
    m.register_blocking_method("jobs.get", |p, svc, _| {
        let a: JobId = parse(&p)?;
        let agent = svc.agent();
        let store = agent.store();
        let job =
            store.job(a.job_id).map_err(store_err)?.ok_or_else(|| err(NOT_FOUND, format!("no job {}", a.job_id)))?;
        let runs: Vec<Value> = job
            .runs
            .iter()
            .filter_map(|id| store.run(*id).ok())
            .map(|r| {
                let plans = store.run_plan(r.id).ok().flatten().and_then(|t| serde_json::from_str::<Value>(&t).ok());
                let mut v = serde_json::to_value(r).expect("serialisable");
                v["plans"] = plans.unwrap_or(Value::Null);
                v
            })
            .collect();
        let mut v = serde_json::to_value(&job).expect("serialisable");
        v["runs"] = Value::Array(runs);
        Ok::<Value, ErrorObjectOwned>(v)
    })
    .expect("unique name");
    m.register_async_method("connections.test", |p, svc, _| async move {
        let a: Target = parse(&p)?;
        bounded("target", Some(&a.target), 16)?;
        bounded("odoo_target", Some(&a.odoo_target), 40)?;
        let agent = svc.agent();
        // `facts`: what the addon renders in the user's language; `message`: the English
        // sentence (the CLI's, and the detail of a failure).
        let mut facts = json!({});
        let result: Result<String, String> = match a.target.as_str() {
            "silae" => match agent.silae().await {
                Err(f) => Err(f.message),
                Ok(s) => s
                    .liste_dossiers()
                    .await
                    .map(|l| {
                        facts = json!({"dossiers": l.len()});
                        format!("{} dossier(s) readable", l.len())
                    })
                    .map_err(|e| e.to_string()),
            },
            "odoo" => match agent.odoo_for(&a.odoo_target).await {
                Err(f) => Err(f.message),
                Ok(o) => match o.authenticate().await {
                    Ok(s) => {
                        facts = json!({"series": s.major, "protocol": s.protocol.as_str(), "uid": s.uid});
                        match o.addon_installed().await {
                            Ok(installed) => {
                                facts["addon_installed"] = json!(installed);
                                if installed {
                                    Ok(format!(
                                        "Odoo {} over {}, uid {}, payflow_silae installed",
                                        s.major,
                                        s.protocol.as_str(),
                                        s.uid
                                    ))
                                } else {
                                    Err("the payflow_silae addon is not installed in this Odoo database".into())
                                }
                            }
                            Err(e) => Err(e.to_string()),
                        }
                    }
                    Err(e) => Err(e.to_string()),
                },
            },
            "smtp" => {
                facts = json!({"configured": agent.config.smtp.is_some()});
                crate::alert::test_connection(&agent).await
            }
            other => {
                return Err(err(
                    -32602,
                    format!("invalid params: `target` is {other:?}, expected \"silae\", \"odoo\" or \"smtp\""),
                ))
            }
        };
        Ok::<Value, ErrorObjectOwned>(match result {
            Ok(message) => json!({"target": a.target, "ok": true, "message": message, "facts": facts}),
            Err(message) => json!({"target": a.target, "ok": false, "message": message, "facts": facts}),
        })
    })
    .expect("unique name");
    m
}

/// Runs a job's periods one after the other, recording progress; stops between periods when
/// the service shuts down (the job is then `interrupted`).
pub async fn run_job(
    svc: Arc<Service>,
    id: i64,
    dossier: String,
    periods: Vec<Period>,
    dry_run: bool,
    user: Option<String>,
) {
    let agent = svc.agent();
    let opts = ImportOptions { dry_run, trigger: Trigger::Rpc, triggered_by: user };
    let mut runs = Vec::new();
    for (i, period) in periods.iter().enumerate() {
        if svc.stopping() {
            let now = agent.now();
            let _ = agent.db(move |s| s.finish_job(id, JobState::Interrupted, &now)).await;
            return;
        }
        let started = std::time::Instant::now();
        let report = run_period(&agent, &dossier, *period, &opts).await;
        svc.metrics.observe(report.status, started.elapsed());
        if let Some(r) = report.run_id {
            runs.push(r);
        }
        let done = runs.clone();
        let _ = agent.db(move |s| s.job_progress(id, i as i64 + 1, &done)).await;
    }
    let now = agent.now();
    let _ = agent.db(move |s| s.finish_job(id, JobState::Done, &now)).await;
}
