use std::process::ExitCode;

use clap::Subcommand;

use super::out::outln;
use crate::agent::Agent;

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// The Odoo companies with their journals (id, code, name, type).
    Companies {
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
        /// The Odoo target to ask: a `[odoo.targets.<name>]` of the config (default: `[odoo]`).
        #[arg(long, value_name = "NAME", default_value = crate::config::DEFAULT_TARGET)]
        target: String,
    },
}

impl Cmd {
    pub async fn run(self, agent: &Agent) -> anyhow::Result<ExitCode> {
        let Cmd::Companies { json, target } = self;
        let odoo = agent.odoo_for(&target).await.map_err(|f| anyhow::anyhow!("{} [{}]", f.message, f.kind))?;
        let companies = odoo.companies().await?;
        if json {
            outln!("{}", serde_json::to_string_pretty(&companies)?);
            return Ok(ExitCode::SUCCESS);
        }
        for c in companies.as_array().into_iter().flatten() {
            outln!("company {}: {}", c["id"], c["name"].as_str().unwrap_or("?"));
            for j in c["journals"].as_array().into_iter().flatten() {
                outln!(
                    "    {:<8} {:<40} {}",
                    j["code"].as_str().unwrap_or("?"),
                    j["name"].as_str().unwrap_or("?"),
                    j["type"].as_str().unwrap_or("?")
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
