use std::process::ExitCode;

use clap::Args;

use super::out::outln;
use crate::agent::Agent;
use crate::period::Period;
use crate::store::RunFilter;

#[derive(Debug, Args)]
pub struct Cmd {
    /// Only this dossier's runs.
    #[arg(long, value_name = "N")]
    dossier: Option<String>,
    /// Only runs with this status (imported, already_imported, no_data, waiting, previewed, failed).
    #[arg(long, value_parser = ["running", "imported", "already_imported", "no_data", "waiting", "previewed", "failed", "interrupted"])]
    status: Option<String>,
    /// Only runs of this period.
    #[arg(long, value_name = "YYYY-MM")]
    period: Option<Period>,
    /// How many runs at most.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// One JSON array instead of a table (full messages).
    #[arg(long)]
    json: bool,
}

impl Cmd {
    pub fn run(self, agent: &Agent) -> anyhow::Result<ExitCode> {
        let filter = RunFilter {
            dossier: self.dossier,
            status: self.status,
            period: self.period.map(|p| p.to_string()),
            before_id: None,
            limit: Some(self.limit),
        };
        let runs = agent.store().runs(&filter)?;
        if self.json {
            outln!("{}", serde_json::to_string_pretty(&runs)?);
            return Ok(ExitCode::SUCCESS);
        }
        if runs.is_empty() {
            outln!("no run yet");
        }
        for r in runs {
            let kind = r.error_kind.as_deref().map(|k| format!(" [{k}]")).unwrap_or_default();
            let dry = if r.dry_run { " (dry run)" } else { "" };
            outln!(
                "#{} {} dossier {} period {}: {}{kind}{dry} ({})",
                r.id,
                r.started_at,
                r.dossier,
                r.period,
                r.status,
                r.trigger
            );
            for line in r.message.lines() {
                outln!("    {line}");
            }
            if !r.moves.is_empty() {
                outln!("    moves: {:?}", r.moves);
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
