//! A stop request during a CLI `import` or `run-due`: SIGTERM (`systemctl stop`, `apt remove`),
//! SIGINT (Ctrl-C) or SIGHUP (the terminal closed). The run in flight is dropped and recorded
//! `interrupted`, never left `running`.

use std::process::ExitCode;

use crate::agent::Agent;

/// The exit code after a stop request: 128 + SIGTERM, as a shell reports it. The run-due unit
/// counts it as a clean stop (`SuccessExitStatus=143`).
pub const STOPPED: u8 = 143;

/// Runs `work` until it ends or a stop request comes. On a stop, the work is dropped where it
/// stood (Odoo's write is one transaction: whole or absent) and its dossier locks released; then
/// every run still `running` whose dossier lock can be taken at once is marked `interrupted`
/// (a run whose lock another live process holds is that process's own), and the exit code is
/// [`STOPPED`].
pub async fn until_stopped(
    agent: &Agent,
    work: impl std::future::Future<Output = anyhow::Result<ExitCode>>,
) -> anyhow::Result<ExitCode> {
    tokio::select! {
        done = work => done,
        signal = stop_requested() => {
            let marked = agent.interrupt_orphaned_runs().await;
            tracing::warn!(signal, runs = marked, "stopped: the run in progress is recorded as interrupted; the next import or run-due does what is left");
            Ok(ExitCode::from(STOPPED))
        }
    }
}

/// Resolves with the signal's name when one of them arrives.
async fn stop_requested() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut hup)) = (signal(SignalKind::terminate()), signal(SignalKind::hangup())) else {
            tracing::warn!("cannot handle SIGTERM and SIGHUP: only Ctrl-C stops this command cleanly");
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            _ = term.recv() => "SIGTERM",
            _ = hup.recv() => "SIGHUP",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
