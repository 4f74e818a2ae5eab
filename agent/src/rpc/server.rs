//! The HTTP/1 front of `serve`, bounded everywhere: a connection must send its headers within
//! `HEADER_TIMEOUT` (an idle keep-alive connection is closed after the same time), at most
//! `max_connections` are served at once (the next wait in the listen queue), and a shutdown
//! closes the idle ones at once and cuts the others after `SHUTDOWN_DRAIN`.

use std::future::Future;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;

/// A client has this long to send a request's headers once connected (or once its previous
/// answer is sent): half-sent headers and idle connections are closed after it.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// A request's body must arrive within this.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(15);
/// On a stop, connections with a request in progress get this long to finish.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);
/// File descriptors kept for everything else (SQLite, Silae and Odoo clients, the watcher).
const RESERVED_FDS: u64 = 128;
/// Never more connections than this, whatever the descriptor limit.
const MAX_CONNECTIONS: u64 = 1024;

/// Raises the soft limit of open files to the hard one (systemd's default soft limit is 1024)
/// and returns how many connections to serve at once: well below it.
pub fn connection_cap() -> usize {
    let limit = raise_nofile_limit();
    let cap = limit.saturating_sub(RESERVED_FDS).clamp(8, MAX_CONNECTIONS);
    usize::try_from(cap).unwrap_or(8)
}

#[cfg(unix)]
fn raise_nofile_limit() -> u64 {
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return 1024;
        }
        if rl.rlim_cur < rl.rlim_max {
            let raised = libc::rlimit { rlim_cur: rl.rlim_max, rlim_max: rl.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                rl.rlim_cur = rl.rlim_max;
            }
        }
    }
    rl.rlim_cur
}

#[cfg(not(unix))]
fn raise_nofile_limit() -> u64 {
    // Windows sockets are not bounded by a descriptor table of this size.
    MAX_CONNECTIONS + RESERVED_FDS
}

/// The TLS side of `serve` (`rpc.tls_cert`, `rpc.tls_key`): TLS 1.2 and 1.3 with ring, the
/// chain and key read from their PEM files. The error says which file and why.
pub fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate (-----BEGIN CERTIFICATE-----) in it", cert.display()));
    }
    let key_der =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: no private key read: {e}", key.display()))?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| format!("{} and {}: {e}", cert.display(), key.display()))?;
    Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains the connections (bounded).
/// With `tls`, every connection is a TLS one (its handshake within `HEADER_TIMEOUT`).
pub async fn run(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    max_connections: usize,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(max_connections.max(1)));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            _ = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => slot.expect("never closed"),
        };
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors or memory for a moment: wait, never spin.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(app.clone());
        let stop = stop_rx.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            let _slot = slot;
            match tls {
                None => serve_connection(stream, service, stop).await,
                Some(acceptor) => match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => serve_connection(stream, service, stop).await,
                    // Plain HTTP, a refused or a slow handshake: the connection is closed.
                    Ok(Err(e)) => tracing::debug!("TLS handshake refused: {e}"),
                    Err(_) => tracing::debug!("TLS handshake not done within {} s", HEADER_TIMEOUT.as_secs()),
                },
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained =
        tokio::time::timeout(SHUTDOWN_DRAIN, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "connections still open {} s after the stop: closed",
            SHUTDOWN_DRAIN.as_secs()
        );
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}

/// One HTTP/1 connection (plain or TLS) until it ends or the service stops.
async fn serve_connection<I>(
    io: I,
    service: TowerToHyperService<axum::Router>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT).keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = async { stop.wait_for(|s| *s).await.map(|_| ()) } => {
            // Idle: closed at once; a request in progress: finished, then closed.
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}
