//! A stop request (SIGTERM from `systemctl stop` or `apt remove`, Ctrl-C) during a CLI `import`
//! or `run-due`: the run in flight is dropped and recorded `interrupted`, never left `running`.

use std::process::ExitCode;

use crate::import::Agent;

/// The exit code after a stop request: 128 + SIGTERM, as a shell reports it. The run-due unit
/// counts it as a clean stop (`SuccessExitStatus=143`).
pub const STOPPED: u8 = 143;

/// Runs `work` until it ends or a stop request comes. On a stop, the work is dropped (its
/// dossier locks released), then each dossier whose lock can be taken at once has its runs
/// still `running` marked `interrupted` (taking the lock first, so that no other process's live
/// run is touched: that process marks its own), and the exit code is [`STOPPED`].
pub async fn until_stopped(
    agent: &Agent,
    work: impl std::future::Future<Output = anyhow::Result<ExitCode>>,
) -> anyhow::Result<ExitCode> {
    tokio::select! {
        done = work => done,
        () = stop_requested() => {
            tracing::warn!("stop requested: the run in progress is stopped and recorded as interrupted");
            let dossiers = agent.store().dossiers().unwrap_or_default();
            for d in dossiers {
                let Ok(_lock) = agent.lock_dossier(&d.silae_number, std::time::Duration::ZERO).await else { continue };
                match agent.store().interrupt_stale_runs(&d.silae_number, &agent.now()) {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(dossier = d.silae_number, "{n} run(s) marked interrupted"),
                    Err(e) => tracing::error!(dossier = d.silae_number, "cannot mark the run interrupted: {e}"),
                }
            }
            Ok(ExitCode::from(STOPPED))
        }
    }
}

async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!("no SIGTERM handler ({e}): a stop ends the process without recording the run");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
