use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::out::outln;
use crate::agent::Agent;
use crate::outcome::Facts;
use crate::period::Period;
use crate::store::Dossier;

// Parsed once per process: the size of its biggest variant costs nothing.
#[allow(clippy::large_enum_variant)]
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
    /// Fix the accounts a dossier's last run found missing: map them to existing Odoo accounts
    /// (--map), or create them in the company's chart (--create-missing: lists them, --yes
    /// creates them).
    Accounts(Accounts),
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
    alert_emails: Vec<crate::store::AlertEmail>,
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
    /// A partner entry SILAE_CODE=PARTNER: the lines of that Silae account carry that Odoo
    /// partner (its reference, else its VAT number, else its exact name), e.g.
    /// `--partner 43100000=URSSAF`; repeat for several.
    #[arg(long = "partner", value_name = "SILAE=PARTNER", value_parser = parse_pair)]
    partner: Vec<(String, String)>,
    /// Import the salary payments too (transfer batches and advances, docs/payments.md) into
    /// this Odoo journal (a bank or general journal of the company).
    #[arg(long, value_name = "CODE")]
    payments_journal: Option<String>,
    /// The first period to import (YYYY-MM); nothing earlier is caught up.
    #[arg(long, value_name = "YYYY-MM")]
    start_period: Option<Period>,
    /// A big dossier: always ask Silae for its journal asynchronously
    /// (`EcrituresComptables4Asynchrone`), as is done anyway when the synchronous call times out.
    #[arg(long)]
    large: bool,
    /// Import a period even if Silae has not closed it.
    #[arg(long)]
    no_wait_closed: bool,
    /// When Silae corrects a payroll already posted in Odoo: `alert` (the run fails with the
    /// difference, nothing written) or `adjust` (a draft adjustment move holds the difference).
    #[arg(long, value_name = "MODE", default_value = "alert", value_parser = |s: &str| s.parse::<crate::store::Corrections>())]
    corrections: crate::store::Corrections,
    /// Keep the dossier but do not import it.
    #[arg(long)]
    disabled: bool,
    /// The Odoo database its moves go to: a `[odoo.targets.<name>]` of the config (default:
    /// `[odoo]`, the target `default`).
    #[arg(long, value_name = "NAME", default_value = crate::config::DEFAULT_TARGET)]
    target: String,
}

#[derive(Debug, Args)]
pub struct Accounts {
    /// The Silae dossier number.
    #[arg(long, value_name = "N")]
    dossier: String,
    /// An account map entry SILAE_CODE=ODOO_CODE to add (repeat for several).
    #[arg(long = "map", value_name = "SILAE=ODOO", value_parser = parse_pair)]
    map: Vec<(String, String)>,
    /// The accounts the last run found missing, as they would be created (codes and names
    /// from Silae, type and reconcile flag from the nearest account of the chart).
    #[arg(long, conflicts_with = "map")]
    create_missing: bool,
    /// With --create-missing: create them in Odoo.
    #[arg(long, requires = "create_missing")]
    yes: bool,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

impl Cmd {
    pub async fn run(self, agent: &Agent) -> anyhow::Result<ExitCode> {
        let store = agent.store();
        match self {
            Cmd::Accounts(a) => return accounts(agent, a).await,
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
                    payments: a.payments_journal.is_some(),
                    payments_journal: a.payments_journal,
                    large: a.large,
                    target: a.target,
                    corrections: a.corrections,
                    partner_map: a.partner.into_iter().collect::<BTreeMap<_, _>>(),
                };
                let saved = agent.save_dossier(&d)?;
                outln!(
                    "dossier {} saved: {} (target {}, company {}, journal {}, day {}){}",
                    saved.silae_number,
                    saved.name,
                    saved.target,
                    saved.company_id,
                    saved.journal_code,
                    saved.transfer_day,
                    match (saved.payments, &saved.payments_journal) {
                        (true, Some(j)) => format!("; salary payments into journal {j}"),
                        _ => String::new(),
                    }
                );
            }
            Cmd::List { json } => {
                let all = store.dossiers()?;
                if json {
                    outln!("{}", serde_json::to_string_pretty(&all)?);
                } else if all.is_empty() {
                    outln!("no dossier: add one with `payflow-agent dossier add`");
                } else {
                    outln!(
                        "{:<10} {:<30} {:<12} {:>7} {:<8} {:>3} {:<8} ALERTS",
                        "SILAE",
                        "NAME",
                        "TARGET",
                        "COMPANY",
                        "JOURNAL",
                        "DAY",
                        "ENABLED"
                    );
                    for d in all {
                        outln!(
                            "{:<10} {:<30} {:<12} {:>7} {:<8} {:>3} {:<8} {}",
                            d.silae_number,
                            d.name,
                            d.target,
                            d.company_id,
                            d.journal_code,
                            d.transfer_day,
                            if d.enabled { "yes" } else { "no" },
                            d.alert_emails.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", ")
                        );
                    }
                }
            }
            Cmd::Remove { silae } => {
                if store.remove_dossier(&silae)? {
                    outln!("dossier {silae} removed (its runs stay in the log)");
                } else {
                    anyhow::bail!("no dossier {silae} to remove (see `payflow-agent dossier list`)");
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

async fn accounts(agent: &Agent, a: Accounts) -> anyhow::Result<ExitCode> {
    let mut dossier = agent.store().dossier(&a.dossier)?;
    if !a.map.is_empty() {
        dossier.account_map.extend(a.map);
        let saved = agent.store().upsert_dossier(&dossier, &agent.now())?;
        for (silae, odoo) in &saved.account_map {
            outln!("{silae} -> {odoo}");
        }
        outln!("dossier {}: account map saved; the next import uses it", saved.silae_number);
        return Ok(ExitCode::SUCCESS);
    }
    if !a.create_missing {
        anyhow::bail!("say what to do: --map SILAE=ODOO (repeat for several) or --create-missing");
    }
    let filter = crate::store::RunFilter { dossier: Some(a.dossier.clone()), limit: Some(1), ..Default::default() };
    let last = agent.store().runs(&filter)?.into_iter().next();
    let missing = match last.as_ref().map(|r| &r.outcome.facts) {
        Some(Facts::MissingAccounts { accounts, .. }) => accounts.clone(),
        _ => anyhow::bail!(
            "the last run of dossier {} does not lack accounts; preview a period first: payflow-agent import --dossier {} --period YYYY-MM --dry-run",
            a.dossier,
            a.dossier
        ),
    };
    let odoo = agent.odoo_for(&dossier.target).await.map_err(|f| anyhow::anyhow!("{} [{}]", f.message, f.kind))?;
    let chart = odoo.chart(dossier.company_id).await?;
    let planned = crate::accounts::plan(&missing, &chart);
    outln!("{:<10} {:<8} {:<40} {:<20} {:<9} LIKE", "SILAE", "CODE", "NAME", "TYPE", "RECONCILE");
    for n in &planned {
        outln!(
            "{:<10} {:<8} {:<40} {:<20} {:<9} {}",
            n.silae_code,
            n.code,
            n.name,
            n.account_type,
            if n.reconcile { "yes" } else { "no" },
            n.like.as_deref().unwrap_or("-")
        );
    }
    if !a.yes {
        outln!(
            "nothing created: add --yes to create these {} account(s) in company {}",
            planned.len(),
            dossier.company_id
        );
        return Ok(ExitCode::SUCCESS);
    }
    for n in &planned {
        let id = odoo.create_account(dossier.company_id, n).await?;
        outln!("created {} {} (id {id})", n.code, n.name);
    }
    outln!("{} account(s) created; import the period again", planned.len());
    Ok(ExitCode::SUCCESS)
}
