//! Alert e-mails, in French (accountants read them): one when a dossier's imports start
//! failing, a reminder after `smtp.reminder_days`, one when they work again — never one per
//! run. Sent with lettre over SMTP (STARTTLS, TLS or plain, per the config); a failing SMTP
//! server never changes an import's result: it is logged and noted on the run.

use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::Tls;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::agent::Agent;
use crate::config::{SmtpConfig, SmtpSecurity};
use crate::run::{ErrorKind, RunReport, Status};
use crate::secrets::SecretName;
use crate::store::{AlertState, Dossier};

/// What to send after a run, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    None,
    Failure { reminder: bool },
    Recovered,
}

/// Decides from the dossier's alert state, the run's result and the time (pure).
pub fn decide(state: Option<&AlertState>, status: Status, now: jiff::Timestamp, reminder_days: u32) -> Decision {
    let failing = status == Status::Failed;
    match (state, failing) {
        (None, true) => Decision::Failure { reminder: false },
        (None, false) => Decision::None,
        (Some(_), false) => match status {
            // Waiting for Silae or a preview says nothing about the failure being over.
            Status::Waiting | Status::Previewed => Decision::None,
            _ => Decision::Recovered,
        },
        (Some(s), true) => {
            let last = s.last_sent_at.as_deref().and_then(|t| t.parse::<jiff::Timestamp>().ok());
            match last {
                None => Decision::Failure { reminder: false },
                Some(last)
                    if now.duration_since(last) >= jiff::SignedDuration::from_hours(24 * reminder_days as i64) =>
                {
                    Decision::Failure { reminder: true }
                }
                Some(_) => Decision::None,
            }
        }
    }
}

/// Called after every non-preview run: decides, sends, records. Never fails the run.
pub async fn after_run(agent: &Agent, dossier: &Dossier, report: &RunReport) {
    if report.dry_run {
        return;
    }
    let now = jiff::Timestamp::now();
    let stamp = agent.now();
    let store_state = agent.store().alert_state(&dossier.silae_number).unwrap_or(None);
    let reminder_days = agent.config.smtp.as_ref().map_or(3, |s| s.reminder_days);
    let decision = decide(store_state.as_ref(), report.status, now, reminder_days);
    if decision == Decision::None {
        return;
    }
    let (subject, body) = compose(agent, dossier, report, &decision);
    let outcome = send(agent, &dossier.alert_emails, &subject, &body).await;
    let note = match &outcome {
        Ok(to) => format!("{} sent to {to}", describe(&decision)),
        Err(why) if agent.config.smtp.is_none() => {
            tracing::info!(dossier = dossier.silae_number, "no alert e-mail: {why}");
            format!("{} not sent: {why}", describe(&decision))
        }
        Err(why) => {
            tracing::warn!(dossier = dossier.silae_number, "alert e-mail not sent: {why}");
            format!("{} not sent: {why}", describe(&decision))
        }
    };
    let sent = outcome.is_ok();
    let next = match decision {
        Decision::Recovered if sent => None,
        Decision::Recovered => store_state.clone(),
        Decision::Failure { .. } => Some(AlertState {
            failing_since: store_state.as_ref().map_or(stamp.clone(), |s| s.failing_since.clone()),
            last_sent_at: if sent {
                Some(now.to_string())
            } else {
                store_state.as_ref().and_then(|s| s.last_sent_at.clone())
            },
            last_kind: report.error_kind.map(|k| k.as_str().to_owned()),
        }),
        Decision::None => store_state.clone(),
    };
    let (number, run) = (dossier.silae_number.clone(), report.run_id);
    let recorded = agent
        .db(move |store| {
            store.set_alert_state(&number, next.as_ref())?;
            if let Some(id) = run {
                store.set_run_alert(id, &note)?;
            }
            Ok(())
        })
        .await;
    if let Err(e) = recorded {
        tracing::warn!("cannot record the alert state: {e}");
    }
}

/// Connects to the SMTP server (and authenticates) without sending anything: for `check`.
pub async fn test_connection(agent: &Agent) -> Result<String, String> {
    let Some(smtp) = &agent.config.smtp else { return Err("no [smtp] in the config: no alert e-mails".into()) };
    let transport = transport(agent, smtp)?;
    match transport.test_connection().await {
        Ok(true) => Ok(format!("{}:{} ({:?})", smtp.host, smtp.port, smtp.security).to_lowercase()),
        Ok(false) => Err(format!("{}:{} did not accept the connection", smtp.host, smtp.port)),
        Err(e) => Err(format!("{}:{}: {e}", smtp.host, smtp.port)),
    }
}

fn describe(d: &Decision) -> &'static str {
    match d {
        Decision::Failure { reminder: false } => "failure alert",
        Decision::Failure { reminder: true } => "reminder",
        Decision::Recovered => "back-to-normal e-mail",
        Decision::None => "nothing",
    }
}

async fn send(agent: &Agent, to: &[String], subject: &str, body: &str) -> Result<String, String> {
    let Some(smtp) = &agent.config.smtp else { return Err("no [smtp] in the config".into()) };
    if to.is_empty() {
        return Err("the dossier has no alert e-mail address (dossier add --alert-email)".into());
    }
    let from: Mailbox = smtp.from.parse().map_err(|e| format!("smtp.from: {e}"))?;
    let mut builder = Message::builder().from(from).subject(subject).header(ContentType::TEXT_PLAIN);
    for address in to {
        builder = builder.to(address.parse().map_err(|e| format!("alert e-mail {address:?}: {e}"))?);
    }
    let message = builder.body(body.to_owned()).map_err(|e| format!("cannot build the e-mail: {e}"))?;
    let transport = transport(agent, smtp)?;
    transport.send(message).await.map_err(|e| format!("{}:{}: {e}", smtp.host, smtp.port))?;
    Ok(to.join(", "))
}

fn transport(agent: &Agent, smtp: &SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let builder = match smtp.security {
        SmtpSecurity::Starttls | SmtpSecurity::Tls => {
            let trust = crate::config::trust("smtp", smtp.ca_file.as_ref())?;
            let parameters = trust.lettre_parameters(&smtp.host)?;
            let tls = match smtp.security {
                SmtpSecurity::Starttls => Tls::Required(parameters),
                _ => Tls::Wrapper(parameters),
            };
            // What lettre's `relay`/`starttls_relay` do, with our roots instead of the bundled only.
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host).tls(tls)
        }
        // Plain SMTP, as configured (`security = "none"`): no TLS at all, hence nothing to verify.
        SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
    };
    let mut builder = builder.port(smtp.port).timeout(Some(Duration::from_secs(smtp.timeout_secs)));
    if let Some(user) = &smtp.username {
        let password = agent.secrets.require(SecretName::SmtpPassword).map_err(|e| e.to_string())?;
        builder = builder.credentials(Credentials::new(user.clone(), password.expose_secret().to_owned()));
    }
    Ok(builder.build())
}

use crate::outcome::mois;

fn kind_fr(kind: Option<ErrorKind>) -> (&'static str, &'static str) {
    match kind {
        Some(ErrorKind::MissingAccounts) => (
            "des comptes Silae n'ont pas de compte correspondant dans Odoo.",
            "Créez ces comptes dans le plan comptable de la société, ou indiquez pour chacun le compte Odoo à utiliser (dans Odoo, sur le dossier : « Créer les comptes manquants » ou « Associer à un compte existant »). Rien n'a été écrit dans Odoo.",
        ),
        Some(ErrorKind::MissingJournal) => (
            "le journal de paie du dossier est introuvable dans Odoo.",
            "Créez le journal (type « Opérations diverses ») dans la société, ou corrigez le code journal du dossier.",
        ),
        Some(ErrorKind::Unbalanced) => (
            "les écritures de Silae ne sont pas équilibrées ou ne correspondent pas à leurs totaux.",
            "Vérifiez la paie de la période dans Silae et faites-la corriger ; l'import sera retenté automatiquement.",
        ),
        Some(ErrorKind::SilaeAuth) => (
            "Silae refuse les identifiants de PayFlow.",
            "Demandez à l'administrateur de PayFlow de renouveler les identifiants Silae (client, secret, clé d'abonnement).",
        ),
        Some(ErrorKind::SilaeUnavailable) => ("Silae ne répond pas.", "Rien à faire : l'import est retenté automatiquement chaque jour."),
        Some(ErrorKind::SilaeBadResponse) => (
            "la réponse de Silae est inexploitable.",
            "Si le problème persiste, transmettez ce message à l'administrateur de PayFlow.",
        ),
        Some(ErrorKind::OdooAuth) => (
            "Odoo refuse l'utilisateur de PayFlow.",
            "Demandez à l'administrateur de vérifier l'utilisateur PayFlow dans Odoo (mot de passe ou clé API).",
        ),
        Some(ErrorKind::OdooUnavailable) => ("Odoo ne répond pas.", "Rien à faire : l'import est retenté automatiquement chaque jour."),
        Some(ErrorKind::OdooRejected) => (
            "Odoo a refusé les écritures (par exemple une période verrouillée).",
            "Lisez le détail ci-dessous ; si la période est verrouillée, un conseiller doit déplacer la date de verrouillage pour permettre l'import.",
        ),
        Some(ErrorKind::State) => (
            "PayFlow ne peut pas enregistrer son travail sur le serveur (base locale verrouillée, disque plein ou dossier de données inaccessible) ; rien n'a été envoyé à Odoo.",
            "Transmettez ce message à l'administrateur de PayFlow ; l'import sera retenté à la prochaine exécution.",
        ),
        Some(ErrorKind::Config) | None => (
            "la configuration de PayFlow est incomplète.",
            "Transmettez ce message à l'administrateur de PayFlow.",
        ),
    }
}

/// The subject and text of an alert, in French.
pub fn compose(agent: &Agent, dossier: &Dossier, report: &RunReport, decision: &Decision) -> (String, String) {
    let who = format!("{} (dossier Silae {})", dossier.name, dossier.silae_number);
    let when = mois(&report.period);
    let where_ = format!(
        "Où regarder : dans Odoo, menu Facturation (ou Comptabilité) > PayFlow (Silae) > Journal des imports, dossier {} (instance PayFlow « {} »).",
        dossier.silae_number, agent.config.instance
    );
    match decision {
        Decision::Recovered => (
            format!("[PayFlow] Import de la paie rétabli — {who}"),
            format!(
                "Bonjour,\n\nL'import de la paie du dossier {who} fonctionne de nouveau : la période de {when} a été traitée ({}).\n\n{}\n\nAucune action n'est nécessaire.\n\n{where_}\n\n— PayFlow\n",
                statut_fr(report.status),
                report.outcome.french()
            ),
        ),
        Decision::Failure { reminder } => {
            let (what, todo) = kind_fr(report.error_kind);
            let prefix = if *reminder { "Rappel : échec" } else { "Échec" };
            (
                format!("[PayFlow] {prefix} de l'import de la paie — {who} — {when}"),
                format!(
                    "Bonjour,\n\nL'import de la paie de {when} du dossier {who} a échoué{} : {what}\n\nQue faire : {todo}\n\nDétail :\n{}\n\nL'import est retenté automatiquement chaque jour ; vous recevrez un message quand tout sera rentré dans l'ordre.\n\n{where_}\n\n— PayFlow\n",
                    if *reminder { " et échoue toujours" } else { "" },
                    report.outcome.french()
                ),
            )
        }
        Decision::None => (String::new(), String::new()),
    }
}

fn statut_fr(s: Status) -> &'static str {
    match s {
        Status::Imported => "importée",
        Status::AlreadyImported => "déjà présente dans Odoo",
        Status::NoData => "sans écriture de paie",
        Status::Waiting => "en attente de clôture dans Silae",
        Status::Previewed => "aperçu",
        Status::Failed => "échec",
        Status::Running => "en cours",
        Status::Interrupted => "interrompue",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(last: Option<&str>) -> AlertState {
        AlertState { failing_since: "x".into(), last_sent_at: last.map(str::to_owned), last_kind: None }
    }

    #[test]
    fn one_alert_a_reminder_and_the_end() {
        let t0: jiff::Timestamp = "2026-11-05T05:00:00Z".parse().unwrap();
        assert_eq!(decide(None, Status::Failed, t0, 3), Decision::Failure { reminder: false });
        assert_eq!(decide(None, Status::Imported, t0, 3), Decision::None);
        let sent = state(Some("2026-11-05T05:00:00Z"));
        let day = |d: i64| t0 + jiff::SignedDuration::from_hours(24 * d);
        assert_eq!(decide(Some(&sent), Status::Failed, day(1), 3), Decision::None);
        assert_eq!(decide(Some(&sent), Status::Failed, day(3), 3), Decision::Failure { reminder: true });
        assert_eq!(decide(Some(&sent), Status::Waiting, day(1), 3), Decision::None);
        assert_eq!(decide(Some(&sent), Status::Imported, day(1), 3), Decision::Recovered);
        assert_eq!(decide(Some(&sent), Status::NoData, day(1), 3), Decision::Recovered);
        // A first alert that could not be sent is tried again.
        assert_eq!(decide(Some(&state(None)), Status::Failed, day(1), 3), Decision::Failure { reminder: false });
    }

    #[test]
    fn french_months() {
        assert_eq!(mois("2026-08"), "août 2026");
        assert_eq!(mois("2026-12"), "décembre 2026");
    }
}
