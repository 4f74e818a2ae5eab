use std::process::ExitCode;

use clap::builder::TypedValueParser;
use clap::Args;

use super::out::outln;
use crate::agent::Agent;
use crate::outcome::Status;
use crate::period::Period;
use crate::store::RunFilter;

#[derive(Debug, Args)]
pub struct Cmd {
    /// Only this dossier's runs.
    #[arg(long, value_name = "N")]
    dossier: Option<String>,
    /// Only runs with this status (imported, already_imported, no_data, waiting, previewed, failed,
    /// running, interrupted).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(Status::ALL.map(Status::as_str)).map(|s| s.parse::<Status>().expect("one of Status::ALL")))]
    status: Option<Status>,
    /// Only the runs of this Odoo target (`default`: `[odoo]`).
    #[arg(long, value_name = "NAME")]
    target: Option<String>,
    /// Per Odoo target and dossier: the latest run, what failed and what is late (due periods
    /// not imported yet), instead of the log.
    #[arg(long, conflicts_with_all = ["dossier", "status", "period", "limit"])]
    summary: bool,
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
        if self.summary {
            return summary(agent, self.target.as_deref(), self.json);
        }
        let filter = RunFilter {
            target: self.target,
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
            let kind = r.error_kind.map(|k| format!(" [{k}]")).unwrap_or_default();
            let dry = if r.dry_run { " (dry run)" } else { "" };
            let target = match r.target.as_str() {
                crate::config::DEFAULT_TARGET => String::new(),
                t => format!(" (target {t})"),
            };
            outln!(
                "#{} {} dossier {}{target} period {}: {}{kind}{dry} ({})",
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

/// `runs --summary`: per target, its dossiers' latest run, what failed and what is late.
fn summary(agent: &Agent, only: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let today = jiff::Timestamp::now().to_zoned(agent.config.time_zone().clone()).date();
    let mut all = crate::summary::gather(agent.store(), &agent.config, today)?;
    all.retain(|t| only.is_none_or(|o| o == t.target));
    if json {
        outln!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(ExitCode::SUCCESS);
    }
    for t in &all {
        let odoo = match agent.config.odoo_target(&t.target) {
            Some(o) => format!("{} database {}", o.url, o.database),
            None => "not in the config: its dossiers cannot be imported".to_owned(),
        };
        outln!("target {} ({odoo}): {} dossier(s), {} failed, {} late", t.target, t.dossiers.len(), t.failing, t.late);
        for d in &t.dossiers {
            let last = match &d.last_run {
                Some(r) => {
                    let kind = r.error_kind.map(|k| format!(" [{k}]")).unwrap_or_default();
                    format!("last run #{} {} {}{kind}", r.id, r.period, r.status)
                }
                None => "no run yet".to_owned(),
            };
            let late = match d.late.as_slice() {
                [] => String::new(),
                periods => format!("; late: {}", periods.join(", ")),
            };
            let off = if d.enabled { "" } else { " (disabled)" };
            outln!("    {:<10} {:<30} {last}{late}{off}", d.dossier, d.name);
            if d.failing {
                outln!("        {}", d.last_run.as_ref().map_or("", |r| r.message.as_str()));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
