use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::out::outln;
use crate::agent::Agent;
use crate::import::run_due;
use crate::run::Status;

#[derive(Debug, Args)]
pub struct Cmd {
    /// The day to run for (default: today in the configured time zone).
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: Option<jiff::civil::Date>,
    /// How many dossiers of one Odoo target are worked on at once (every target at once).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// One JSON object per run, one per line.
    #[arg(long)]
    json: bool,
}

impl Cmd {
    pub async fn run(self, agent: &Agent) -> anyhow::Result<ExitCode> {
        let today = match self.date {
            Some(d) => d,
            None => jiff::Timestamp::now().to_zoned(agent.config.time_zone().clone()).date(),
        };
        let reports = run_due(agent, today, self.concurrency.into()).await;
        for r in &reports {
            if self.json {
                outln!("{}", serde_json::to_string(r).context("JSON")?);
            } else {
                let kind = r.error_kind.map(|k| format!(" [{k}]")).unwrap_or_default();
                let target = match r.target.as_str() {
                    crate::config::DEFAULT_TARGET => String::new(),
                    t => format!(" (target {t})"),
                };
                outln!(
                    "dossier {}{target} period {}: {}{kind} — {}",
                    r.dossier,
                    r.period,
                    r.status.as_str(),
                    r.message.lines().next().unwrap_or("")
                );
            }
        }
        if reports.is_empty() && !self.json {
            outln!("nothing due on {today}");
        }
        let failed = reports.iter().filter(|r| r.status == Status::Failed).count();
        Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    }
}
