use std::path::Path;
use std::process::ExitCode;

use clap::Args;

use super::out::{out, outln};
use crate::agent::Agent;
use crate::config::Config;
use crate::secrets::{SecretName, Source};

#[derive(Debug, Args)]
pub struct Cmd {
    /// Check the config and secrets only, without any network call.
    #[arg(long)]
    offline: bool,
}

struct Report {
    failures: usize,
    /// Under systemd (`ExecStartPre=`), a failure is an error in the journal (`<3>`).
    journal: bool,
}

impl Report {
    fn ok(&mut self, what: &str, detail: impl std::fmt::Display) {
        outln!("ok    {what}: {detail}");
    }
    /// Works today, needs someone before a date: not a failure (warning priority in the journal).
    fn warn(&mut self, what: &str, detail: impl std::fmt::Display) {
        out!("{}", super::systemd::prefixed(&format!("WARN  {what}: {detail}\n"), 4, self.journal));
    }
    fn fail(&mut self, what: &str, detail: impl std::fmt::Display) {
        self.failures += 1;
        out!("{}", super::systemd::prefixed(&format!("FAIL  {what}: {detail}\n"), 3, self.journal));
    }
}

impl Cmd {
    pub async fn run(self, path: Option<&Path>) -> anyhow::Result<ExitCode> {
        let mut r = Report { failures: 0, journal: super::systemd::is_journal(&std::io::stdout()) };
        let config_error = ExitCode::from(super::EX_CONFIG);
        let Some(path) = path else {
            r.fail("config", "no config file: pass --config PATH or set PAYFLOW_CONFIG");
            return Ok(config_error);
        };
        let config = match Config::load(path) {
            Ok(c) => {
                r.ok("config", format!("{} (instance {})", path.display(), c.instance));
                c
            }
            Err(e) => {
                r.fail("config", e);
                return Ok(config_error);
            }
        };
        let agent = match Agent::open(config) {
            Ok(a) => {
                r.ok("state", a.config.database_path().display());
                a
            }
            Err(e) => {
                r.fail("state", e);
                return Ok(config_error);
            }
        };
        for name in needed(&agent.config) {
            match agent.secrets.source(name) {
                Ok(Source::Unset) => r.fail(
                    &format!("secret {name}"),
                    format_args!(
                        "not set: run `payflow-agent secret set {name}` (value on standard input) or set {}",
                        name.env_var()
                    ),
                ),
                Ok(source) => r.ok(&format!("secret {name}"), source),
                Err(e) => r.fail(&format!("secret {name}"), e),
            }
        }
        // Silae accounts a dossier maps onto one Odoo account without partners: their balances
        // mix there (a warning; the preview also finds those the normalisation joins).
        for d in agent.store().dossiers().unwrap_or_default() {
            let landing = d.account_map.iter().map(|(silae, odoo)| (silae.as_str(), odoo.as_str()));
            for u in crate::partners::unseparated(landing, &d.partner_map) {
                r.warn(&format!("dossier {} partners", d.silae_number), u.english());
            }
        }
        // What the administrator must fix on this machine (config, state, secrets): exit 78.
        let setup_failures = r.failures;
        if !self.offline {
            match agent.silae().await {
                Err(f) => r.fail("silae", f.message),
                Ok(silae) => match tls_lines(&mut r, "silae", &silae.tls, silae.liste_dossiers().await) {
                    Ok(list) => {
                        r.ok("silae", format_args!("{} dossier(s) readable with these credentials", list.len()));
                        if let Some(expiry) = silae.key_expiry().describe() {
                            r.warn("silae secret", expiry);
                        }
                        let readable: Vec<_> = list.iter().filter_map(|d| d.numero.clone()).collect();
                        for d in agent.store().dossiers().unwrap_or_default() {
                            if readable.contains(&d.silae_number) {
                                r.ok(&format!("dossier {}", d.silae_number), "readable in Silae");
                            } else {
                                r.fail(
                                    &format!("dossier {}", d.silae_number),
                                    "not among the dossiers these Silae credentials can read: check the number, or ask Silae to grant access",
                                );
                            }
                        }
                    }
                    Err(e) => r.fail("silae", e),
                },
            }
        }
        if !self.offline {
            for target in agent.config.target_names() {
                check_odoo(&agent, &mut r, target).await;
            }
            if let Some(smtp) = &agent.config.smtp {
                check_smtp_tls(smtp, &mut r).await;
                match crate::alert::test_connection(&agent).await {
                    Ok(what) => r.ok("smtp", what),
                    Err(why) => r.fail(
                        "smtp",
                        format_args!("{why}: alert e-mails cannot be sent; check [smtp] and smtp_password"),
                    ),
                }
                for d in agent
                    .store()
                    .dossiers()
                    .unwrap_or_default()
                    .iter()
                    .filter(|d| d.enabled && d.alert_emails.is_empty())
                {
                    r.fail(
                        &format!("dossier {} alerts", d.silae_number),
                        "no alert e-mail address: add one with `dossier add ... --alert-email E`",
                    );
                }
            } else {
                r.ok("smtp", "not configured: no alert e-mails will be sent");
            }
        }
        if r.failures == 0 {
            outln!("all checks passed");
            Ok(ExitCode::SUCCESS)
        } else {
            outln!("{} check(s) failed", r.failures);
            Ok(if setup_failures > 0 { config_error } else { ExitCode::FAILURE })
        }
    }
}

/// The secrets an import needs with this config.
fn needed(config: &Config) -> Vec<SecretName> {
    let mut needed = vec![
        SecretName::SilaeClientId,
        SecretName::SilaeClientSecret,
        SecretName::SilaeSubscriptionKey,
        SecretName::OdooSecret,
    ];
    needed.extend(config.odoo.targets.keys().map(|t| SecretName::odoo_target(t)));
    if config.smtp.as_ref().is_some_and(|s| s.username.is_some()) {
        needed.push(SecretName::SmtpPassword);
    }
    needed
}

/// What `serve` checks before it starts, as `check --offline` does: every secret an import
/// needs, and the `rpc_token` the Odoo addon authenticates with, is set, else one [`ConfigProblem`](super::ConfigProblem) naming each missing one and
/// how to set it (the service then exits 78 and systemd does not restart it).
pub fn require_secrets(config: &Config) -> Result<(), super::ConfigProblem> {
    let secrets = crate::secrets::Secrets::for_config(config);
    let problems: Vec<String> = needed(config)
        .into_iter()
        .chain([SecretName::RpcToken])
        .filter_map(|name| match secrets.source(name) {
            Ok(Source::Unset) => Some(format!(
                "the secret {name} is not set: run `payflow-agent secret set {name}` as the service's user (value on standard input), or set {}",
                name.env_var()
            )),
            Ok(_) => None,
            Err(e) => Some(e.to_string()),
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(super::ConfigProblem(problems.join("; ")))
    }
}

/// One Odoo target: `odoo …` lines for `[odoo]`, `odoo <name> …` for `[odoo.targets.<name>]`,
/// then its dossiers.
async fn check_odoo(agent: &Agent, r: &mut Report, target: &str) {
    let Some(config) = agent.config.odoo_target(target) else { return };
    let label = match target {
        crate::config::DEFAULT_TARGET => "odoo".to_owned(),
        name => format!("odoo {name}"),
    };
    let label = label.as_str();
    let odoo = match agent.odoo_for(target).await {
        Ok(o) => o,
        Err(f) => {
            // The client is built before it connects: its TLS verdicts say why, if TLS was it.
            if let Some(client) = agent.built_client(target) {
                tls_lines(r, label, &client.tls, ());
            }
            return r.fail(label, format_args!("{} [{}]", f.message, f.kind));
        }
    };
    let session = odoo.current_session().await.expect("connected");
    match tls_lines(r, label, &odoo.tls, odoo.authenticate().await) {
        Ok(s) => {
            agent.remember_for(target, s);
            r.ok(
                label,
                format_args!(
                    "{} database {} as {} (Odoo {}, {} protocol, uid {})",
                    config.url,
                    config.database,
                    config.login,
                    s.major,
                    s.protocol.as_str(),
                    s.uid
                ),
            )
        }
        Err(e) => return r.fail(label, format_args!("{e} (remembered session: Odoo {})", session.major)),
    }
    use crate::config::WriteMode;
    match (odoo.addon_installed().await, config.write_mode) {
        (Ok(true), WriteMode::Standard) => r.ok(&format!("{label} addon"), "payflow_silae installed, not used: odoo.write_mode = \"standard\""),
        (Ok(true), _) => r.ok(&format!("{label} addon"), "payflow_silae installed"),
        (Ok(false), WriteMode::Auto | WriteMode::Standard) => r.warn(
            &format!("{label} addon"),
            "payflow_silae is not installed: moves are written in standard mode (Odoo's stock methods, the key in each move's note); what that cannot guarantee: docs/reliability.md",
        ),
        (Ok(false), WriteMode::Addon) => r.fail(
            &format!("{label} addon"),
            "payflow_silae is not installed and odoo.write_mode = \"addon\": install odoo_addon/payflow_silae (Apps > PayFlow (Silae)), or set write_mode = \"standard\"; until then nothing can be written",
        ),
        (Err(e), _) => r.fail(&format!("{label} addon"), e),
    }
    let companies = match odoo.companies().await {
        Ok(c) => c,
        Err(e) => return r.fail(&format!("{label} companies"), e),
    };
    for d in agent.store().dossiers().unwrap_or_default().into_iter().filter(|d| d.target == target) {
        let what = format!("dossier {} in Odoo", d.silae_number);
        let Some(company) = companies.as_array().into_iter().flatten().find(|c| c["id"].as_i64() == Some(d.company_id))
        else {
            r.fail(&what, format_args!("company {} not found or not allowed to {}", d.company_id, config.login));
            continue;
        };
        let journal =
            company["journals"].as_array().into_iter().flatten().find(|j| j["code"].as_str() == Some(&d.journal_code));
        match journal {
            Some(j) if j["type"] == "general" => {
                r.ok(&what, format_args!("{}, journal {} ({})", company["name"].as_str().unwrap_or("?"), d.journal_code, j["name"].as_str().unwrap_or("?")))
            }
            Some(_) => r.fail(&what, format_args!("journal {} is not a Miscellaneous (general) journal", d.journal_code)),
            None => r.fail(
                &what,
                format_args!(
                    "no journal {} in {}: create a Miscellaneous journal with that code, or change the dossier (`payflow-agent odoo companies --target {target}` lists them)",
                    d.journal_code,
                    company["name"].as_str().unwrap_or("?")
                ),
            ),
        }
    }
}

/// The `tls <section>` lines of the TLS connections a call made: the CA that verified each, or
/// the certificate refused, why, and what to set. Returns the call's result.
fn tls_lines<T>(r: &mut Report, section: &str, trust: &crate::tls::Trust, result: T) -> T {
    for verdict in trust.verdicts() {
        match trust.explain(&verdict) {
            Ok(line) => r.ok(&format!("tls {section}"), line),
            Err(line) => r.fail(&format!("tls {section}"), line),
        }
    }
    result
}

/// SMTP: a handshake of its own (STARTTLS or TLS as configured) with the same roots as the
/// alert e-mails, to name the CA or the refused certificate; nothing is sent.
async fn check_smtp_tls(smtp: &crate::config::SmtpConfig, r: &mut Report) {
    use crate::config::SmtpSecurity;
    let starttls = match smtp.security {
        SmtpSecurity::None => return,
        SmtpSecurity::Starttls => true,
        SmtpSecurity::Tls => false,
    };
    let trust = match crate::config::trust("smtp", smtp.ca_file.as_ref()) {
        Ok(t) => t,
        Err(why) => return r.fail("tls smtp", why),
    };
    let timeout = std::time::Duration::from_secs(smtp.timeout_secs);
    match trust.probe(&smtp.host, smtp.port, starttls, timeout).await {
        Ok(verdict) => match trust.explain(&verdict) {
            Ok(line) => r.ok("tls smtp", line),
            Err(line) => r.fail("tls smtp", line),
        },
        Err(why) => r.fail("tls smtp", why),
    }
}
