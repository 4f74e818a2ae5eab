//! The command line: one file per subcommand, each a clap `Args` with `run()`. Thin: the work
//! lives in the domain modules.

pub(crate) mod check;
mod dossier;
mod import;
mod odoo;
pub(crate) mod out;
mod run_due;
mod runs;
mod secret;
pub(crate) mod serve;
mod service;
mod stop;
pub mod systemd;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::agent::Agent;
use crate::config::Config;

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
    // SAFETY: umask only changes this process's file mask.
    unsafe {
        libc::umask(0o077);
    }
    // SIGPIPE stays ignored (a closed socket or log pipe must never kill `serve`): a closed
    // standard output ends a command quietly through `out::outln!` instead.
    let cli = Cli::parse();
    if !matches!(&cli.command, Command::Service(cmd) if cmd.logs_to_file()) {
        init_logging(std::io::stderr, std::io::IsTerminal::is_terminal(&std::io::stderr()));
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let config = e.downcast_ref::<ConfigProblem>().is_some();
            let mut text = format!("error: {e:#}\n");
            if config {
                text.push_str(
                    "a configuration error (exit 78, EX_CONFIG): fix it, then start again; \
                     `payflow-agent check --offline` lists every problem\n",
                );
            }
            eprint!("{}", systemd::prefixed(&text, 3, systemd::is_journal(&std::io::stderr())));
            ExitCode::from(if config { EX_CONFIG } else { 2 })
        }
    }
}

/// The exit code of an error the administrator must fix in the config or the secrets (BSD's
/// `EX_CONFIG`): the systemd units do not restart on it (`RestartPreventExitStatus=78`).
pub const EX_CONFIG: u8 = 78;

/// An error in the config file or the secrets: exits with [`EX_CONFIG`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigProblem(pub String);

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
    // Under systemd (stderr is the journal's stream), journald stamps each line itself, shows no
    // colours, and takes each line's priority from its `<N>` prefix (`journalctl -p warning`).
    let journal = systemd::is_journal(&std::io::stderr());
    let layer = tracing_subscriber::fmt::layer().with_target(false).with_ansi(ansi && !journal);
    let _ = if journal {
        tracing_subscriber::registry()
            .with(layer.with_writer(systemd::Prioritized(writer)).without_time().with_filter(filter))
            .try_init()
    } else {
        tracing_subscriber::registry().with(layer.with_writer(writer).with_filter(filter)).try_init()
    };
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config_path = cli.config.clone();
    let load = || -> anyhow::Result<Config> {
        let path = config_path
            .as_deref()
            .context("no config file: pass --config PATH or set PAYFLOW_CONFIG (e.g. /etc/payflow/prod.toml)")?;
        Config::load(path).map_err(|e| ConfigProblem(e.to_string()).into())
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    match cli.command {
        Command::Dossier(cmd) => runtime.block_on(cmd.run(&open(load()?)?)),
        Command::Import(cmd) => {
            let agent = open(load()?)?;
            runtime.block_on(stop::until_stopped(&agent, cmd.run(&agent)))
        }
        Command::Runs(cmd) => cmd.run(&open(load()?)?),
        Command::RunDue(cmd) => {
            let agent = open(load()?)?;
            runtime.block_on(stop::until_stopped(&agent, cmd.run(&agent)))
        }
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
