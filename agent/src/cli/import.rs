use std::process::ExitCode;

use clap::Args;

use super::out::outln;
use crate::agent::Agent;
use crate::import::run_period;
use crate::period::Period;
use crate::run::{ImportOptions, RunReport};
use crate::store::Trigger;

#[derive(Debug, Args)]
pub struct Cmd {
    /// The Silae dossier number.
    #[arg(long, value_name = "N")]
    dossier: String,
    /// The payroll period.
    #[arg(long, value_name = "YYYY-MM")]
    period: Period,
    /// Check everything and show the moves, write nothing to Odoo.
    #[arg(long)]
    dry_run: bool,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

impl Cmd {
    pub async fn run(self, agent: &Agent) -> anyhow::Result<ExitCode> {
        let opts = ImportOptions { dry_run: self.dry_run, trigger: Trigger::Cli, triggered_by: super::os_user() };
        let report = run_period(agent, &self.dossier, self.period, &opts).await;
        if self.json {
            outln!("{}", serde_json::to_string(&report)?);
        } else {
            print_report(&report);
        }
        Ok(if report.status.is_success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    }
}

pub fn print_report(r: &RunReport) {
    let kind = r.error_kind.map(|k| format!(" [{k}]")).unwrap_or_default();
    outln!("dossier {}, period {}: {}{kind}", r.dossier, r.period, r.status.as_str());
    outln!("{}", r.message);
    for (i, p) in r.plans.iter().enumerate() {
        outln!();
        outln!(
            "move {}/{}: {}  date {}  journal {}{}",
            i + 1,
            r.plans.len(),
            p["ref"].as_str().unwrap_or(""),
            p["date"].as_str().unwrap_or(""),
            p["journal"].as_str().unwrap_or("-"),
            p["code_journal"].as_str().map(|c| format!(" (Silae journal code {c})")).unwrap_or_default()
        );
        outln!("  import key {}", p["import_key"].as_str().unwrap_or(""));
        outln!("  {:<10} {:<8} {:<48} {:>14} {:>14}  ANALYTIC", "ACCOUNT", "ODOO", "LABEL", "DEBIT", "CREDIT");
        for l in p["lines"].as_array().into_iter().flatten() {
            let cents = |k: &str| {
                l[k].as_i64().map(|c| crate::money::Cents(c).to_string()).filter(|s| s != "0.00").unwrap_or_default()
            };
            let analytic = match &l["analytic"] {
                serde_json::Value::Object(a) => format!("#{} {}%", a["index"], a["pct"]),
                _ => String::new(),
            };
            outln!(
                "  {:<10} {:<8} {:<48} {:>14} {:>14}  {}",
                l["account"].as_str().unwrap_or(""),
                l["odoo_account"].as_str().or(l["mapped_account"].as_str()).unwrap_or(""),
                truncate(l["label"].as_str().unwrap_or(""), 48),
                cents("debit_cents"),
                cents("credit_cents"),
                analytic
            );
        }
        let total = |k: &str| crate::money::Cents(p[k].as_i64().unwrap_or(0)).to_string();
        outln!(
            "  {:<10} {:<8} {:<48} {:>14} {:>14}",
            "TOTAL",
            "",
            format!("{} lines", p["line_count"]),
            total("total_debit_cents"),
            total("total_credit_cents")
        );
    }
    if !r.outcome.moves.is_empty() {
        let moves: Vec<String> = r.outcome.moves.iter().map(|m| format!("{} (id {})", m.label(), m.id)).collect();
        outln!("Odoo moves: {}", moves.join(", "));
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}
