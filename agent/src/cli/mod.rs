//! The command line: one file per subcommand, each a clap `Args` with `run()`. Thin: the work
//! lives in the domain modules.

mod check;
mod dossier;
mod import;
mod odoo;
mod run_due;
mod runs;
mod secret;
mod serve;
mod service;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::import::Agent;

#[derive(Debug, Parser)]
#[command(name = "payflow-agent", version, about = "Moves Silae payroll journals into Odoo, exactly once")]
pub struct Cli {
    /// The instance's config file (TOML).
    #[arg(long, global = true, env = "PAYFLOW_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Add, list or remove the payroll dossiers to transfer.
    #[command(subcommand)]
    Dossier(dossier::Cmd),
    /// Import (or preview with --dry-run) one period of one dossier now.
    Import(import::Cmd),
    /// What the daily timer runs: every due dossier, missed periods caught up.
    RunDue(run_due::Cmd),
    /// The run log, newest first.
    Runs(runs::Cmd),
    /// The JSON-RPC service for the Odoo addon (and /healthz, /metrics).
    Serve,
    /// Test the config, the secrets and the connections; say what to fix.
    Check(check::Cmd),
    /// What Odoo holds, to help the set-up.
    #[command(subcommand)]
    Odoo(odoo::Cmd),
    /// Set, list or delete the secrets (values are read from standard input).
    #[command(subcommand)]
    Secret(secret::Cmd),
    /// Windows: this instance as a service plus its daily scheduled task (Linux: systemd units).
    #[command(subcommand)]
    Service(service::Cmd),
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    #[cfg(unix)]
    // SAFETY: umask and signal only change this process's file mask and SIGPIPE disposition.
    unsafe {
        libc::umask(0o077);
        // Like other Unix tools: end quietly when the reader of stdout goes (`| head`).
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    if !matches!(&cli.command, Command::Service(cmd) if cmd.logs_to_file()) {
        init_logging(std::io::stderr, std::io::IsTerminal::is_terminal(&std::io::stderr()));
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Logs to `writer`: `PAYFLOW_LOG` (`debug`, or `warn,payflow_agent=debug`), else `info` for the
/// services and `warn` for one-off commands.
pub(crate) fn init_logging<W>(writer: W, ansi: bool)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::prelude::*;
    let default = if std::env::args().any(|a| a == "serve" || a == "run-due" || a == "run") {
        tracing::Level::INFO
    } else {
        tracing::Level::WARN
    };
    let filter = std::env::var("PAYFLOW_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing_subscriber::filter::Targets>().ok())
        .unwrap_or_else(|| tracing_subscriber::filter::Targets::new().with_default(default));
    // Under systemd, journald stamps each line itself and shows no colours.
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let layer = tracing_subscriber::fmt::layer().with_writer(writer).with_target(false).with_ansi(ansi && !journald);
    let _ = if journald {
        tracing_subscriber::registry().with(layer.without_time().with_filter(filter)).try_init()
    } else {
        tracing_subscriber::registry().with(layer.with_filter(filter)).try_init()
    };
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config_path = cli.config.clone();
    let load = || -> anyhow::Result<Config> {
        let path = config_path
            .as_deref()
            .context("no config file: pass --config PATH or set PAYFLOW_CONFIG (e.g. /etc/payflow/prod.toml)")?;
        Ok(Config::load(path)?)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    match cli.command {
        Command::Dossier(cmd) => runtime.block_on(cmd.run(&open(load()?)?)),
        Command::Import(cmd) => runtime.block_on(cmd.run(&open(load()?)?)),
        Command::Runs(cmd) => cmd.run(&open(load()?)?),
        Command::RunDue(cmd) => runtime.block_on(cmd.run(&open(load()?)?)),
        Command::Check(cmd) => runtime.block_on(cmd.run(config_path.as_deref())),
        Command::Secret(cmd) => cmd.run(&load()?),
        Command::Service(cmd) => cmd.run(config_path.as_deref()),
        Command::Odoo(cmd) => runtime.block_on(cmd.run(&open(load()?)?)),
        Command::Serve => {
            let config = load()?;
            let path = config_path.clone().expect("load() checked it");
            runtime.block_on(serve::run(&path, config))
        }
    }
}

fn open(config: Config) -> anyhow::Result<Agent> {
    let path = config.database_path();
    Agent::open(config).with_context(|| format!("cannot open the state database {}", path.display()))
}

/// The OS user, recorded as who started a CLI run.
fn os_user() -> Option<String> {
    std::env::var("SUDO_USER").or_else(|_| std::env::var("USER")).or_else(|_| std::env::var("USERNAME")).ok()
}
