use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "payflow-sim", about = "Loopback simulators of Silae and Odoo for PayFlow's tests and demo")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The Silae payroll API and its OAuth2 token endpoint, serving sample files.
    Silae {
        /// The folder of `dossier-<N>-<YYYY-MM>[-…].json` files (and an optional dossiers.json).
        #[arg(long)]
        samples: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8391")]
        listen: SocketAddr,
        #[arg(long, default_value = "demo-client-id")]
        client_id: String,
        #[arg(long, default_value = "demo-client-secret")]
        client_secret: String,
        #[arg(long, default_value = "demo-subscription-key")]
        subscription_key: String,
        /// The lifetime of the tokens issued, in seconds.
        #[arg(long, default_value_t = 3600)]
        token_ttl_secs: u64,
    },
    /// A minimal Odoo (JSON-RPC, XML-RPC, JSON-2) with a French chart subset and the addon.
    Odoo {
        #[arg(long, default_value = "127.0.0.1:8069")]
        listen: SocketAddr,
        /// The Odoo series to behave as: 17, 18 or 19.
        #[arg(long, default_value_t = 18, value_parser = clap::value_parser!(u32).range(17..=19))]
        version: u32,
        /// Behave as if the payflow_silae addon were not installed.
        #[arg(long)]
        no_addon: bool,
        /// Serve HTTPS with this certificate chain (PEM, the server's first); needs --tls-key.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The private key (PEM) of --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    match Cli::parse().command {
        Command::Silae { samples, listen, client_id, client_secret, subscription_key, token_ttl_secs } => {
            let cfg = payflow_sim::silae::SilaeSimConfig {
                samples_dir: samples,
                client_id,
                client_secret,
                subscription_key,
                token_ttl_secs,
            };
            let sim = payflow_sim::silae::SilaeSim::start_on(cfg, listen).await?;
            println!("silae simulator listening on http://{}", sim.addr());
            wait_for_stop().await;
        }
        Command::Odoo { listen, version, no_addon, tls_cert, tls_key } => {
            let mut cfg = payflow_sim::odoo::OdooSimConfig::demo(version);
            cfg.addon_installed = !no_addon;
            let sim = match (tls_cert, tls_key) {
                (Some(cert), Some(key)) => {
                    let cert = std::fs::read_to_string(&cert)
                        .map_err(|e| anyhow::anyhow!("--tls-cert {}: {e}", cert.display()))?;
                    let key = std::fs::read_to_string(&key)
                        .map_err(|e| anyhow::anyhow!("--tls-key {}: {e}", key.display()))?;
                    payflow_sim::odoo::OdooSim::start_https_on(cfg, listen, &cert, &key).await?
                }
                _ => payflow_sim::odoo::OdooSim::start_on(cfg, listen).await?,
            };
            println!("odoo simulator listening on {}", sim.url());
            wait_for_stop().await;
        }
    }
    Ok(())
}

async fn wait_for_stop() {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
