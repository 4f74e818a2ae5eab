use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::agent::Agent;
use crate::config::Config;
use crate::rpc::{serve, watch_config, Service};

pub async fn run(config_path: &Path, config: Config) -> anyhow::Result<ExitCode> {
    run_until(config_path, config, shutdown_signal()).await
}

/// `serve` until `shutdown` completes (a signal, or the Windows Service Control Manager's Stop).
pub async fn run_until(
    config_path: &Path,
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<ExitCode> {
    // A service without the secrets an import needs does not start (exit 78), as `check --offline`.
    super::check::require_secrets(&config)?;
    let listen = config.rpc.listen;
    let scheme = if config.rpc.tls().is_some() { "https" } else { "http" };
    let agent = Agent::open(config)?;
    let svc = Service::new(agent, config_path)
        .map_err(|e| super::ConfigProblem(format!("{e}: the Odoo addon authenticates with it")))?;
    svc.interrupt_orphaned_runs().await;
    let _watcher = watch_config(svc.clone()).context("cannot watch the config file")?;
    #[cfg(unix)]
    reload_on_sighup(svc.clone());
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(%listen, "PayFlow JSON-RPC service ready on {scheme}://{listen}/");
    super::systemd::notify_ready();
    serve(svc, listener, shutdown, Duration::from_secs(60)).await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM or Ctrl-C: a graceful stop, bounded (connections 5 s, then jobs 60 s).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        let signal = tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        };
        tracing::info!("{signal}: stopping");
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// SIGHUP (`systemctl reload`, or a closed terminal): the config file is read again and
/// applied if its content changed; the service goes on.
#[cfg(unix)]
fn reload_on_sighup(svc: std::sync::Arc<Service>) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        tracing::warn!("cannot handle SIGHUP");
        return;
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reading the config again");
            let svc = svc.clone();
            let _ = tokio::task::spawn_blocking(move || svc.reload_if_changed()).await;
        }
    });
}
