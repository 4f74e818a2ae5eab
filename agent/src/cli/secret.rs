use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use secrecy::SecretString;

use super::out::outln;
use crate::config::Config;
use crate::secrets::{SecretName, Secrets};

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Store a secret, encrypted; the value is read from standard input, never from arguments.
    Set { name: String },
    /// The secrets' names and whether each is set (never their values).
    List,
    /// Remove a secret from the encrypted store.
    Delete { name: String },
}

impl Cmd {
    pub fn run(self, config: &Config) -> anyhow::Result<ExitCode> {
        let secrets = Secrets::for_config(config);
        match self {
            Cmd::Set { name } => {
                let name: SecretName = name.parse()?;
                if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                    eprintln!("Type the value of {name}, then Enter and Ctrl-D (or pipe it in):");
                }
                let mut value = String::new();
                std::io::stdin().read_to_string(&mut value).context("cannot read the value from standard input")?;
                secrets.set(name, &SecretString::from(value))?;
                outln!("{name} stored in {}", secrets.store_path().display());
            }
            Cmd::List => {
                let targets = config.odoo.targets.keys().map(|t| SecretName::odoo_target(t));
                for name in SecretName::ALL.into_iter().chain(targets) {
                    outln!("{:<24} {}", name.as_str(), secrets.source(name)?);
                }
            }
            Cmd::Delete { name } => {
                let name: SecretName = name.parse()?;
                if secrets.delete(name)? {
                    outln!("{name} deleted from the encrypted store");
                } else {
                    outln!("{name} was not in the encrypted store");
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
