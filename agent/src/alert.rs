//! Alert e-mails, in French (accountants read them): one when a dossier's imports start
//! failing, a reminder after `smtp.reminder_days`, one when they work again — never one per
//! run. And, for the whole instance, one when Silae first announces that a client secret
//! expires and one a week before the date (`key_notices_due`; each recorded once sent). Sent with lettre over SMTP (STARTTLS, TLS or plain, per the config); a failing SMTP
//! server never changes an import's result: it is logged and noted on the run.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::Tls;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::agent::Agent;
use crate::config::{SmtpConfig, SmtpSecurity};
use crate::run::{ErrorKind, RunReport, Status};
use crate::secrets::SecretName;
use crate::store::{AlertEmail, AlertState, Dossier};

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

/// Called after every run: the secret-expiry notices due (previews too: they read Silae's
/// answer as well), then, for a non-preview run, decides, sends, records. Never fails the run.
pub async fn after_run(agent: &Agent, dossier: &Dossier, report: &RunReport) {
    key_expiry_notices(agent).await;
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
    let to = with_firm(&agent.config.alerts.firm_emails, dossier.alert_emails.clone());
    let outcome = send(agent, &to, &subject, &body).await;
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
            last_kind: report.error_kind,
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

/// The e-mails about an expiring Silae client secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyNotice {
    /// Silae announced the date (its last 31 days).
    Announced,
    /// Seven days or fewer are left.
    WeekBefore,
}

impl KeyNotice {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyNotice::Announced => "announced",
            KeyNotice::WeekBefore => "week_before",
        }
    }
}

/// One e-mail to send about a secret: which, its expiry as Silae gave it, the days left when
/// it is a date, the notice, and every notice it stands for (a date first seen within a week
/// gets one e-mail, the week-before one, standing for both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyNoticeDue {
    pub which: String,
    pub expires: String,
    pub days_left: Option<i64>,
    pub notice: KeyNotice,
    pub covers: Vec<KeyNotice>,
}

/// The days from `today` to an expiry given as a date (`None` for a text without one).
pub fn days_left(expires: &str, today: jiff::civil::Date) -> Option<i64> {
    let date = crate::silae::wire::date_part(expires)?;
    today.until(date).ok().map(|span| i64::from(span.get_days()))
}

/// The notices due (pure): for each announced expiry (which, expires), `Announced` unless sent,
/// and `WeekBefore` once seven days or fewer are left, unless sent; `sent` holds (which,
/// expires, notice) of what was sent.
pub fn key_notices_due(
    announced: &[(String, String)],
    sent: &[(String, String, String)],
    today: jiff::civil::Date,
) -> Vec<KeyNoticeDue> {
    let was_sent = |which: &str, expires: &str, n: KeyNotice| {
        sent.iter().any(|(w, e, s)| w == which && e == expires && s == n.as_str())
    };
    let mut due = Vec::new();
    for (which, expires) in announced {
        let days = days_left(expires, today);
        let mut covers: Vec<KeyNotice> = [KeyNotice::Announced, KeyNotice::WeekBefore]
            .into_iter()
            .filter(|n| *n == KeyNotice::Announced || days.is_some_and(|d| d <= 7))
            .filter(|n| !was_sent(which, expires, *n))
            .collect();
        let Some(notice) = covers.last().copied() else { continue };
        if notice == KeyNotice::WeekBefore && !covers.contains(&KeyNotice::Announced) {
            covers = vec![KeyNotice::WeekBefore];
        }
        due.push(KeyNoticeDue { which: which.clone(), expires: expires.clone(), days_left: days, notice, covers });
    }
    due
}

/// The addresses of an alert: `to`, then the firm's (`[alerts] firm_emails`), once each.
fn with_firm(firm: &[String], mut to: Vec<AlertEmail>) -> Vec<AlertEmail> {
    for address in firm {
        // Checked on load (`Config::validate`); one that fails here is left out, logged.
        let Ok(firm) = address.parse::<AlertEmail>() else {
            tracing::warn!("alerts.firm_emails: {address:?} is not an e-mail address; left out");
            continue;
        };
        if !to.iter().any(|a| a.as_str().eq_ignore_ascii_case(firm.as_str())) {
            to.push(firm);
        }
    }
    to
}

/// The instance's alert addresses: every enabled dossier's, once each, in order.
fn instance_addresses(dossiers: &[Dossier]) -> Vec<AlertEmail> {
    let mut all: Vec<AlertEmail> = Vec::new();
    for address in dossiers.iter().filter(|d| d.enabled).flat_map(|d| &d.alert_emails) {
        if !all.iter().any(|a| a.as_str().eq_ignore_ascii_case(address.as_str())) {
            all.push(address.clone());
        }
    }
    all
}

/// Sends the secret-expiry notices due and records each sent one, so that later runs and
/// restarts never send it again. A notice is claimed in the store before it is sent (two runs
/// at once send it once) and released if it could not be sent (tried again next run).
async fn key_expiry_notices(agent: &Agent) {
    let tz = agent.config.time_zone().clone();
    let today = jiff::Timestamp::now().to_zoned(tz).date();
    let read = agent
        .db(|s| {
            let announced: Vec<(String, String)> = s.key_expiry()?.into_iter().map(|(w, e, _)| (w, e)).collect();
            let sent = s.key_notices()?.into_iter().map(|(w, e, n, _)| (w, e, n)).collect::<Vec<_>>();
            Ok((announced, sent, s.dossiers()?))
        })
        .await;
    let (announced, sent, dossiers) = match read {
        Ok(r) => r,
        Err(e) => return tracing::warn!("cannot read the Silae secrets' expiry notices: {e}"),
    };
    let due = key_notices_due(&announced, &sent, today);
    if due.is_empty() {
        return;
    }
    let to = with_firm(&agent.config.alerts.firm_emails, instance_addresses(&dossiers));
    for notice in due {
        let now = agent.now();
        let (claim, stamp, dest) =
            (notice.clone(), now.clone(), to.iter().map(AlertEmail::as_str).collect::<Vec<_>>().join(", "));
        let claimed = agent
            .db(move |s| {
                let mut all = true;
                for n in &claim.covers {
                    all &= s.record_key_notice(&claim.which, &claim.expires, n.as_str(), &stamp, &dest)?;
                }
                Ok(all)
            })
            .await;
        match claimed {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!("cannot record the Silae secret expiry notice: {e}");
                continue;
            }
        }
        let (subject, body) = compose_key_notice(agent, &notice);
        match send(agent, &to, &subject, &body).await {
            Ok(to) => {
                tracing::info!(which = notice.which, expires = notice.expires, "secret expiry notice sent to {to}")
            }
            Err(why) => {
                tracing::warn!(which = notice.which, "the Silae secret expiry notice was not sent: {why}");
                let release = notice.clone();
                let released = agent
                    .db(move |s| {
                        for n in &release.covers {
                            s.forget_key_notice(&release.which, &release.expires, n.as_str())?;
                        }
                        Ok(())
                    })
                    .await;
                if let Err(e) = released {
                    tracing::warn!("cannot release the Silae secret expiry notice: {e}");
                }
            }
        }
    }
}

/// `24 décembre 2026` from a date, else the text as Silae gave it.
fn date_fr(expires: &str) -> String {
    match crate::silae::wire::date_part(expires) {
        Some(d) => format!("{} {}", d.day(), mois(&format!("{:04}-{:02}", d.year(), d.month()))),
        None => expires.to_owned(),
    }
}

/// The subject and text of a secret-expiry notice, in French.
pub fn compose_key_notice(agent: &Agent, n: &KeyNoticeDue) -> (String, String) {
    let which = if n.which == "primary" { "principal" } else { "secondaire" };
    let date = date_fr(&n.expires);
    let left = match n.days_left {
        Some(d) if d < 0 => "la date est passée".to_owned(),
        Some(0) => "c'est aujourd'hui".to_owned(),
        Some(1) => "il reste 1 jour".to_owned(),
        Some(d) => format!("il reste {d} jours"),
        None => "date non précisée par Silae".to_owned(),
    };
    let instance = &agent.config.instance;
    let subject = match n.notice {
        KeyNotice::Announced => format!("[PayFlow] Le secret client Silae expire le {date} — instance « {instance} »"),
        KeyNotice::WeekBefore => {
            format!("[PayFlow] Rappel : le secret client Silae expire le {date} ({left}) — instance « {instance} »")
        }
    };
    let body = format!(
        "Bonjour,\n\nSilae annonce que le secret client {which} utilisé par PayFlow (instance « {instance} ») expire le {date} ({left}).\n\nCe jour-là, les imports de paie de tous les dossiers de cette instance échoueront.\n\nQue faire : renouvelez le secret dans le portail API de Silae, puis transmettez le nouveau à l'administrateur de PayFlow, qui l'enregistre (payflow-agent secret set silae_client_secret) avant le {date}.\n\n{}\n\n— PayFlow\n",
        match n.notice {
            KeyNotice::Announced => "Un rappel vous sera envoyé une semaine avant cette date.",
            KeyNotice::WeekBefore => "Ceci est le dernier rappel avant l'expiration.",
        }
    );
    (subject, body)
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

async fn send(agent: &Agent, to: &[AlertEmail], subject: &str, body: &str) -> Result<String, String> {
    let Some(smtp) = &agent.config.smtp else { return Err("no [smtp] in the config".into()) };
    if to.is_empty() {
        return Err("the dossier has no alert e-mail address (dossier add --alert-email)".into());
    }
    let mut builder = Message::builder().from(smtp.from.clone()).subject(subject).header(ContentType::TEXT_PLAIN);
    for address in to {
        builder = builder.to(Mailbox::new(None, address.address().clone()));
    }
    let message = builder.body(body.to_owned()).map_err(|e| format!("cannot build the e-mail: {e}"))?;
    let transport = transport(agent, smtp)?;
    transport.send(message).await.map_err(|e| format!("{}:{}: {e}", smtp.host, smtp.port))?;
    Ok(to.iter().map(AlertEmail::as_str).collect::<Vec<_>>().join(", "))
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
        Some(ErrorKind::ChangedInOdoo) => (
            "Silae donne une autre paie pour un brouillon modifié à la main dans Odoo ; PayFlow ne le remplace pas et n'a rien écrit.",
            "Reportez à la main sur le brouillon les écarts listés ci-dessous, ou supprimez le brouillon pour que le prochain import reprenne la paie de Silae.",
        ),
        Some(ErrorKind::PostedChanged) => (
            "Silae a corrigé une paie déjà comptabilisée dans Odoo ; la pièce comptabilisée n'est pas modifiée et rien n'a été écrit.",
            "Passez l'écart listé ci-dessous à la main, ou choisissez « Régulariser » (Corrections) sur le dossier : PayFlow créera une pièce de régularisation en brouillon.",
        ),
        Some(ErrorKind::Config) | None => (
            "la configuration de PayFlow est incomplète.",
            "Transmettez ce message à l'administrateur de PayFlow.",
        ),
    }
}

/// The subject and text of an alert, in French.
pub fn compose(agent: &Agent, dossier: &Dossier, report: &RunReport, decision: &Decision) -> (String, String) {
    // With several Odoo targets, the client's database is named wherever the dossier is.
    let base = agent.config.odoo_target(&dossier.target).filter(|_| !agent.config.odoo.targets.is_empty());
    let who = match base {
        Some(_) => {
            format!("{} (dossier Silae {}, base client « {} »)", dossier.name, dossier.silae_number, dossier.target)
        }
        None => format!("{} (dossier Silae {})", dossier.name, dossier.silae_number),
    };
    let when = mois(&report.period);
    let mut where_ = format!(
        "Où regarder : dans Odoo, menu Facturation (ou Comptabilité) > PayFlow (Silae) > Journal des imports, dossier {} (instance PayFlow « {} »).",
        dossier.silae_number, agent.config.instance
    );
    if let Some(o) = base {
        where_.push_str(&format!(
            "\nBase client : « {} » — base Odoo « {} » sur {}, où les écritures de ce dossier sont passées.",
            dossier.target, o.database, o.url
        ));
    }
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
    fn one_notice_when_announced_and_one_a_week_before() {
        let today: jiff::civil::Date = "2026-12-01".parse().unwrap();
        let announced = |e: &str| vec![("primary".to_owned(), e.to_owned())];
        let sent = |notices: &[&str], e: &str| -> Vec<(String, String, String)> {
            notices.iter().map(|n| ("primary".to_owned(), e.to_owned(), n.to_string())).collect()
        };
        let due = |a: &[(String, String)], s: &[(String, String, String)]| {
            key_notices_due(a, s, today).into_iter().map(|d| (d.notice, d.covers, d.days_left)).collect::<Vec<_>>()
        };
        let far = "2026-12-24T00:00:00Z";
        // First seen 23 days before: the announcement; then nothing until 7 days are left.
        assert_eq!(due(&announced(far), &[]), [(KeyNotice::Announced, vec![KeyNotice::Announced], Some(23))]);
        assert!(due(&announced(far), &sent(&["announced"], far)).is_empty());
        let week = |d: &str| key_notices_due(&announced(far), &sent(&["announced"], far), d.parse().unwrap());
        assert!(week("2026-12-16").is_empty(), "8 days left");
        let at_7 = week("2026-12-17");
        assert_eq!((at_7[0].notice, at_7[0].days_left), (KeyNotice::WeekBefore, Some(7)));
        assert!(due(&announced(far), &sent(&["announced", "week_before"], far)).is_empty());
        // First seen 6 days before: one e-mail, the week-before one, standing for both.
        let near = "2026-12-07";
        assert_eq!(
            due(&announced(near), &[]),
            [(KeyNotice::WeekBefore, vec![KeyNotice::Announced, KeyNotice::WeekBefore], Some(6))]
        );
        // A new date (a renewed secret announced again) is a new announcement.
        assert_eq!(due(&announced(far), &sent(&["announced", "week_before"], near))[0].0, KeyNotice::Announced);
        // A text without a date: the announcement only.
        assert_eq!(due(&announced("bientôt"), &[]), [(KeyNotice::Announced, vec![KeyNotice::Announced], None)]);
    }

    #[test]
    fn the_firm_s_addresses_come_after_the_dossier_s_once_each() {
        let firm = ["paie@cabinet.fr".to_owned(), "Compta@Client.fr".to_owned()];
        let text = |to: Vec<AlertEmail>| to.iter().map(|a| a.as_str().to_owned()).collect::<Vec<_>>();
        let to = with_firm(&firm, vec!["compta@client.fr".parse().unwrap()]);
        assert_eq!(text(to), ["compta@client.fr", "paie@cabinet.fr"]);
        assert_eq!(text(with_firm(&firm, vec![])), ["paie@cabinet.fr", "Compta@Client.fr"]);
    }

    #[test]
    fn french_months() {
        assert_eq!(mois("2026-08"), "août 2026");
        assert_eq!(mois("2026-12"), "décembre 2026");
    }
}
