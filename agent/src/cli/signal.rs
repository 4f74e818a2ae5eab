//! The signals that stop a command: SIGTERM (systemd's stop), SIGINT (Ctrl-C) and SIGHUP (the
//! terminal closed). A command stopped by one marks its run `interrupted` before it exits.

/// Resolves with the signal's name when one of them arrives.
pub async fn stop() -> &'static str {
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

/// The exit code of a command stopped by a signal (130, as shells report Ctrl-C, for all).
pub const STOPPED: u8 = 130;
