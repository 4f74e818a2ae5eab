//! Alert e-mails against a real SMTP server on loopback.

use payflow_agent::import::{ErrorKind, Status};
use payflow_agent::secrets::SecretName;
use payflow_agent::store::AlertState;
use payflow_sim::smtp::SmtpSim;
use secrecy::SecretString;

use crate::util::*;

async fn world_with_smtp(username: Option<&str>) -> (World, SmtpSim) {
    let w = World::start().await;
    let smtp = SmtpSim::start().await.unwrap();
    let user = username.map(|u| format!("username = \"{u}\"\n")).unwrap_or_default();
    let text = std::fs::read_to_string(&w.config_path).unwrap();
    let text = text.replace(
        "[odoo]",
        &format!("[smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nfrom = \"PayFlow <payflow@example.com>\"\n{user}reminder_days = 3\ntimeout_secs = 5\n\n[odoo]", smtp.port()),
    );
    std::fs::write(&w.config_path, text).unwrap();
    (w, smtp)
}

/// A dossier whose import fails: no map for the three 437xxxxx accounts.
fn failing() -> payflow_agent::store::Dossier {
    let mut d = dossier("100300", 5);
    d.account_map.clear();
    d.alert_emails = vec!["paie@example.com".parse().unwrap(), "expert@cabinet.fr".parse().unwrap()];
    d
}

fn decoded(mail: &payflow_sim::smtp::Mail) -> String {
    decoded_data(&mail.data)
}

/// The subject, a blank line, then the body of a message as lettre sent it (CRLF line ends).
pub fn decoded_data(data: &str) -> String {
    // lettre encodes a UTF-8 body as quoted-printable or base64, and the subject as RFC 2047.
    let (headers, body) = data.split_once("\r\n\r\n").unwrap();
    let body = if headers.contains("Content-Transfer-Encoding: base64") {
        use base64::Engine;
        let joined: String = body.split_whitespace().collect();
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(joined).unwrap()).unwrap()
    } else if headers.contains("quoted-printable") {
        let soft = body.replace("=\r\n", "");
        let mut out = Vec::new();
        let bytes = soft.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'=' && i + 2 < bytes.len() {
                out.push(u8::from_str_radix(&soft[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    } else {
        body.to_owned()
    };
    let mail = format!("{}\n\n{body}", subject(headers));
    keep_for_scan("alert e-mail", &mail);
    mail
}

fn subject(headers: &str) -> String {
    use base64::Engine;
    let line = headers
        .split("\r\n")
        .skip_while(|l| !l.starts_with("Subject:"))
        .take_while(|l| l.starts_with("Subject:") || l.starts_with(' '))
        .collect::<Vec<_>>()
        .join("");
    let raw = line.trim_start_matches("Subject:").trim();
    // RFC 2047: white space between two encoded words is not part of the text.
    let words: Vec<(bool, String)> = raw
        .split_whitespace()
        .map(|w| {
            match w
                .strip_prefix("=?utf-8?b?")
                .or_else(|| w.strip_prefix("=?UTF-8?B?"))
                .and_then(|x| x.strip_suffix("?="))
            {
                Some(b) => {
                    (true, String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b).unwrap()).unwrap())
                }
                None => (false, w.to_owned()),
            }
        })
        .collect();
    let mut out = String::new();
    for (i, (encoded, text)) in words.iter().enumerate() {
        if i > 0 && !(*encoded && words[i - 1].0) {
            out.push(' ');
        }
        out.push_str(text);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_sends_one_french_e_mail_then_nothing_until_the_reminder_then_the_recovery() {
    let (w, smtp) = world_with_smtp(None).await;
    let agent = w.agent();
    add_dossier(&agent, &failing());
    let check = w.cli(&["check"], None);
    assert!(text(&check).contains("ok    smtp: 127.0.0.1"), "{}", text(&check));
    let r = import(&agent, "100300", "2026-10", false).await;
    assert_eq!(r.error_kind, Some(ErrorKind::MissingAccounts));
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["paie@example.com", "expert@cabinet.fr"]);
    assert_eq!(mails[0].from, "payflow@example.com");
    let text = decoded(&mails[0]);
    assert!(
        text.contains("Échec de l'import de la paie")
            && text.contains("Dossier 100300")
            && text.contains("octobre 2026"),
        "{text}"
    );
    assert!(text.contains("n'ont pas de compte correspondant dans Odoo"), "{text}");
    for code in ["43730000", "43740000", "43750000"] {
        assert!(text.contains(&format!("- {code} « ")), "each missing account with Silae's label: {text}");
    }
    // Accountants read it: the fix is in Odoo, never a shell command.
    for shell in ["--map", "payflow-agent", "`"] {
        assert!(!text.contains(shell), "{shell} in {text}");
    }
    assert!(text.contains("Créer les comptes manquants"), "{text}");
    assert!(text.contains("Journal des imports"), "{text}");
    assert_no_secret(&mails[0].data);
    assert!(agent
        .store()
        .run(r.run_id.unwrap())
        .unwrap()
        .alert
        .unwrap()
        .contains("failure alert sent to paie@example.com"));

    // The next day, still failing: no new e-mail.
    import(&agent, "100300", "2026-10", false).await;
    assert_eq!(smtp.mails().len(), 1, "no e-mail per run");

    // Four days after the first alert: one reminder.
    let mut state = agent.store().alert_state("100300").unwrap().unwrap();
    state.last_sent_at = Some((jiff::Timestamp::now() - jiff::SignedDuration::from_hours(96)).to_string());
    agent.store().set_alert_state("100300", Some(&state)).unwrap();
    import(&agent, "100300", "2026-10", false).await;
    assert_eq!(smtp.mails().len(), 2);
    assert!(decoded(&smtp.mails()[1]).contains("Rappel"), "{}", decoded(&smtp.mails()[1]));

    // Fixed: one back-to-normal e-mail, then silence.
    add_dossier(&agent, &{
        let mut d = failing();
        d.account_map = dossier("100300", 5).account_map;
        d
    });
    let r = import(&agent, "100300", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    assert_eq!(smtp.mails().len(), 3);
    assert!(decoded(&smtp.mails()[2]).contains("Import de la paie rétabli"), "{}", decoded(&smtp.mails()[2]));
    let back = decoded(&smtp.mails()[2]);
    assert!(back.contains("débit 206\u{a0}686,01\u{a0}€"), "amounts written the French way: {back}");
    assert!(back.contains("SAL/2026/10/"), "the moves by their Odoo names: {back}");
    assert_eq!(agent.store().alert_state("100300").unwrap(), None::<AlertState>);
    import(&agent, "100300", "2026-10", false).await;
    assert_eq!(smtp.mails().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_leaves_the_import_result_unchanged() {
    let (w, smtp) = world_with_smtp(None).await;
    smtp.set_refuse(true);
    let agent = w.agent();
    add_dossier(&agent, &failing());
    let r = import(&agent, "100300", "2026-10", false).await;
    assert_eq!((r.status, r.error_kind), (Status::Failed, Some(ErrorKind::MissingAccounts)));
    let run = agent.store().run(r.run_id.unwrap()).unwrap();
    assert_eq!(run.status, Status::Failed);
    assert!(run.alert.unwrap().contains("not sent"), "the SMTP failure is noted on the run");
    assert!(smtp.mails().is_empty());
    // An import that succeeds is not turned into a failure by a broken SMTP server either.
    let ok = import(&agent, "100200", "2026-10", false).await;
    assert!(ok.status.is_success() || ok.error_kind == Some(ErrorKind::Config), "{}", ok.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_credentials_come_from_the_secrets_and_never_appear_in_the_e_mail() {
    let (w, smtp) = world_with_smtp(Some("notifications@example.com")).await;
    let agent = w.agent();
    agent.secrets.set(SecretName::SmtpPassword, &SecretString::from("planted-smtp-pa55")).unwrap();
    add_dossier(&agent, &failing());
    import(&agent, "100300", "2026-10", false).await;
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    assert!(!mails[0].data.contains("planted-smtp-pa55"));
    let auth = smtp.auths();
    assert_eq!(auth.len(), 1, "AUTH PLAIN was used");
    use base64::Engine;
    let plain = base64::engine::general_purpose::STANDARD.decode(&auth[0]).unwrap();
    assert!(String::from_utf8_lossy(&plain).ends_with("planted-smtp-pa55"));
}

/// `YYYY-MM-DD` in `days` from today (the tests' machine clock, UTC as the test config).
fn in_days(days: i64) -> String {
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    today.checked_add(jiff::Span::new().days(days)).unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_silae_secret_sends_one_french_e_mail_then_one_a_week_before() {
    let (w, smtp) = world_with_smtp(None).await;
    let config = std::fs::read_to_string(&w.config_path).unwrap();
    std::fs::write(&w.config_path, format!("timezone = \"UTC\"\n{config}")).unwrap();
    let agent = w.agent();
    let mut d = dossier("100200", 5);
    d.alert_emails = vec!["paie@example.com".parse().unwrap(), "expert@cabinet.fr".parse().unwrap()];
    add_dossier(&agent, &d);
    let mut other = dossier("100300", 5);
    other.alert_emails = vec!["Expert@cabinet.fr".parse().unwrap(), "dsi@example.com".parse().unwrap()];
    add_dossier(&agent, &other);

    let far = in_days(20);
    w.silae.set_key_expiration_warnings(Some(&format!("{far}T00:00:00Z")), None);
    // check: the line; RPC status: the date, the days left.
    let check = w.cli(&["check"], None);
    assert!(
        text(&check).contains(&format!("WARN  silae secret: the primary client secret expires on {far}")),
        "{}",
        text(&check)
    );
    assert!(smtp.mails().is_empty(), "check sends nothing");
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "one e-mail when the warning first appears");
    assert_eq!(
        mails[0].to,
        ["paie@example.com", "expert@cabinet.fr", "dsi@example.com"],
        "the instance's addresses, once each"
    );
    let mail = decoded(&mails[0]);
    let (year, month, day) = (&far[..4], &far[5..7], far[8..].trim_start_matches('0'));
    let mois = payflow_agent::outcome::mois(&format!("{year}-{month}"));
    assert!(
        mail.contains(&format!("Le secret client Silae expire le {day} {mois}"))
            && mail.contains("il reste 20 jours")
            && mail.contains("secret client principal")
            && mail.contains("payflow-agent secret set silae_client_secret"),
        "{mail}"
    );
    let served = w.agent();
    served.secrets.set(SecretName::RpcToken, &SecretString::from("status-token")).unwrap();
    let svc = payflow_agent::rpc::Service::new(served, &w.config_path).unwrap();
    let status = svc.status().await;
    let primary = &status["silae"]["secret_expiry"]["primary"];
    assert_eq!(primary["expires"], far.as_str(), "{status}");
    assert_eq!(primary["days_left"], 20, "{status}");
    assert_eq!(primary["notified"], serde_json::json!(["announced"]), "{status}");

    // A second run, and another agent on the same data (a restart): nothing more.
    import(&agent, "100200", "2026-10", false).await;
    import(&w.agent(), "100300", "2026-10", true).await;
    assert_eq!(smtp.mails().len(), 1, "never repeated by later runs or restarts");

    // A date 6 days ahead: the week-before e-mail, once.
    let near = in_days(6);
    w.silae.set_key_expiration_warnings(Some(&near), None);
    import(&agent, "100200", "2026-10", true).await;
    import(&w.agent(), "100200", "2026-10", false).await;
    let mails = smtp.mails();
    assert_eq!(mails.len(), 2, "one e-mail a week before");
    let mail = decoded(&mails[1]);
    assert!(mail.contains("Rappel : le secret client Silae expire") && mail.contains("il reste 6 jours"), "{mail}");
    let status = svc.status().await;
    let primary = &status["silae"]["secret_expiry"]["primary"];
    assert_eq!(
        (primary["days_left"].clone(), primary["notified"].clone()),
        (serde_json::json!(6), serde_json::json!(["announced", "week_before"])),
        "{status}"
    );
}
