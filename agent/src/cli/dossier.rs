use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::import::Agent;
use crate::period::Period;
use crate::store::Dossier;

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Add a dossier, or update the one with this Silae number.
    Add(Add),
    /// List the dossiers.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a dossier (its runs stay in the log).
    Remove {
        #[arg(long, value_name = "N")]
        silae: String,
    },
}

#[derive(Debug, Args)]
pub struct Add {
    /// The Silae dossier number.
    #[arg(long, value_name = "N")]
    silae: String,
    /// A name people recognise.
    #[arg(long)]
    name: String,
    /// The Odoo company id.
    #[arg(long, value_name = "ID")]
    company: i64,
    /// The code of the Odoo payroll journal (a general journal of that company).
    #[arg(long, value_name = "CODE")]
    journal: String,
    /// The day of the month to transfer the previous month (29-31: the last day in short months).
    #[arg(long, value_name = "D", value_parser = clap::value_parser!(u8).range(1..=31))]
    day: u8,
    /// Who gets the alert e-mails (repeat for several).
    #[arg(long = "alert-email", value_name = "E")]
    alert_emails: Vec<String>,
    /// An account map entry SILAE_CODE=ODOO_CODE (repeat for several); wins over normalisation.
    #[arg(long = "map", value_name = "SILAE=ODOO", value_parser = parse_pair)]
    map: Vec<(String, String)>,
    /// An analytic entry INDEX=ANALYTIC_ACCOUNT: Silae's repartition index to an Odoo analytic
    /// account (code or name); repeat for several.
    #[arg(long = "analytic", value_name = "INDEX=ACCOUNT", value_parser = parse_pair)]
    analytic: Vec<(String, String)>,
    /// A journal map entry SILAE_CODE=ODOO_JOURNAL: the lines Silae gives with that
    /// `codeJournal` go to that Odoo journal (default: --journal); repeat for several.
    #[arg(long = "journal-map", value_name = "SILAE=ODOO", value_parser = parse_pair)]
    journal_map: Vec<(String, String)>,
    /// The first period to import (YYYY-MM); nothing earlier is caught up.
    #[arg(long, value_name = "YYYY-MM")]
    start_period: Option<Period>,
    /// Import a period even if Silae has not closed it.
    #[arg(long)]
    no_wait_closed: bool,
    /// Keep the dossier but do not import it.
    #[arg(long)]
    disabled: bool,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

impl Cmd {
    pub fn run(self, agent: &Agent) -> anyhow::Result<ExitCode> {
        let store = agent.store();
        match self {
            Cmd::Add(a) => {
                let d = Dossier {
                    silae_number: a.silae,
                    name: a.name,
                    company_id: a.company,
                    journal_code: a.journal,
                    transfer_day: a.day,
                    alert_emails: a.alert_emails,
                    enabled: !a.disabled,
                    account_map: a.map.into_iter().collect::<BTreeMap<_, _>>(),
                    analytic: a.analytic.into_iter().collect::<BTreeMap<_, _>>(),
                    start_period: a.start_period,
                    wait_closed: !a.no_wait_closed,
                    journal_map: a.journal_map.into_iter().collect::<BTreeMap<_, _>>(),
                };
                let saved = store.upsert_dossier(&d, &agent.now())?;
                println!(
                    "dossier {} saved: {} (company {}, journal {}, day {})",
                    saved.silae_number, saved.name, saved.company_id, saved.journal_code, saved.transfer_day
                );
            }
            Cmd::List { json } => {
                let all = store.dossiers()?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&all)?);
                } else if all.is_empty() {
                    println!("no dossier: add one with `payflow-agent dossier add`");
                } else {
                    println!(
                        "{:<10} {:<30} {:>7} {:<8} {:>3} {:<8} ALERTS",
                        "SILAE", "NAME", "COMPANY", "JOURNAL", "DAY", "ENABLED"
                    );
                    for d in all {
                        println!(
                            "{:<10} {:<30} {:>7} {:<8} {:>3} {:<8} {}",
                            d.silae_number,
                            d.name,
                            d.company_id,
                            d.journal_code,
                            d.transfer_day,
                            if d.enabled { "yes" } else { "no" },
                            d.alert_emails.join(", ")
                        );
                    }
                }
            }
            Cmd::Remove { silae } => {
                if store.remove_dossier(&silae)? {
                    println!("dossier {silae} removed (its runs stay in the log)");
                } else {
                    anyhow::bail!("no dossier {silae} to remove (see `payflow-agent dossier list`)");
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
