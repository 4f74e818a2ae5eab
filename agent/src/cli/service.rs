//! `payflow-agent service install|uninstall|run`: the command line of the Windows service
//! (`crate::winservice`). On Linux the systemd units of the Debian package do this; there the
//! subcommand says so and exits 2.

use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::winservice::instance_name_ok;

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Register the Windows service payflow-agent-NAME (automatic start, runs `serve`) and the
    /// scheduled task "PayFlow run-due NAME" (daily at 06:00, catching up a missed day).
    /// Config: --config, else %ProgramData%\PayFlow\NAME.toml. Run it as an administrator.
    Install(Instance),
    /// Stop and remove the service and the scheduled task of one instance (or of every
    /// instance with a config in %ProgramData%\PayFlow, with --all). Data and configs are kept.
    Uninstall(Uninstall),
    /// What the Service Control Manager starts: `serve` under the service dispatcher.
    Run(Instance),
}

#[derive(Debug, Args)]
pub struct Instance {
    /// The instance's name (letters, digits, '-' or '_').
    #[arg(long, value_name = "NAME")]
    instance: String,
}

#[derive(Debug, Args)]
pub struct Uninstall {
    /// The instance's name.
    #[arg(long, value_name = "NAME", required_unless_present = "all", conflicts_with = "all")]
    instance: Option<String>,
    /// Every instance whose config is in %ProgramData%\PayFlow (what the MSI's uninstall runs).
    #[arg(long)]
    all: bool,
}

impl Cmd {
    /// Whether this command logs to a file of its own (a service has no console).
    pub fn logs_to_file(&self) -> bool {
        matches!(self, Cmd::Run(_))
    }

    pub fn run(self, config: Option<&Path>) -> anyhow::Result<ExitCode> {
        let instance = match &self {
            Cmd::Install(i) | Cmd::Run(i) => Some(i.instance.as_str()),
            Cmd::Uninstall(u) => u.instance.as_deref(),
        };
        if let Some(name) = instance {
            if !instance_name_ok(name) {
                anyhow::bail!("instance {name:?}: expected a name of letters, digits, '-' or '_' (at most 64)");
            }
        }
        platform::run(self, config)
    }
}

#[cfg(not(windows))]
mod platform {
    use super::*;

    pub fn run(_cmd: Cmd, _config: Option<&Path>) -> anyhow::Result<ExitCode> {
        eprintln!(
            "error: `payflow-agent service` is Windows-only; on Linux enable the systemd units of the package: \
             `systemctl enable --now payflow-agent@NAME payflow-run-due@NAME.timer`"
        );
        Ok(ExitCode::from(2))
    }
}

#[cfg(windows)]
mod platform {
    use anyhow::Context;

    use super::*;
    use crate::winservice::{default_config, install, instances_in, payflow_dir, program_data, run_service, uninstall};

    pub fn run(cmd: Cmd, config: Option<&Path>) -> anyhow::Result<ExitCode> {
        let config_for =
            |instance: &str| config.map(Path::to_owned).unwrap_or_else(|| default_config(&program_data(), instance));
        match cmd {
            Cmd::Install(i) => install(&i.instance, &config_for(&i.instance)),
            Cmd::Uninstall(u) => {
                let names = match u.instance {
                    Some(name) => vec![name],
                    None => {
                        let dir = payflow_dir(&program_data());
                        instances_in(&dir).with_context(|| format!("cannot list the configs in {}", dir.display()))?
                    }
                };
                for name in names {
                    uninstall(&name)?;
                }
                Ok(ExitCode::SUCCESS)
            }
            Cmd::Run(i) => run_service(&i.instance, &config_for(&i.instance)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::winservice::service_arguments;

    #[test]
    fn service_runs_serve_for_its_instance_and_config() {
        let args = service_arguments(Path::new(r"C:\ProgramData\PayFlow\prod.toml"), "prod");
        let args: Vec<_> = args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(args, ["--config", r"C:\ProgramData\PayFlow\prod.toml", "service", "run", "--instance", "prod"]);
        // And clap reads them back as the `service run` command with that config.
        let cli =
            <crate::cli::Cli as clap::Parser>::try_parse_from(std::iter::once("payflow-agent").chain(args)).unwrap();
        assert_eq!(cli.config.as_deref(), Some(Path::new(r"C:\ProgramData\PayFlow\prod.toml")));
        assert!(matches!(cli.command, crate::cli::Command::Service(Cmd::Run(ref i)) if i.instance == "prod"));
    }
}
