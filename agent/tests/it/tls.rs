//! TLS as companies run it, over real TLS on loopback with a CA made by the test: the Odoo
//! simulator over HTTPS and a real SMTP server (Debian's aiosmtpd) requiring STARTTLS. Each is
//! refused without the CA, accepted with `ca_file`, and accepted through the system's store when
//! the CA is in it (a throwaway store: `SSL_CERT_FILE`), with `check`'s lines for each case.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use payflow_agent::import::ErrorKind;
use payflow_agent::secrets::SecretName;
use payflow_sim::odoo::{OdooSim, OdooSimConfig};
use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose};
use secrecy::SecretString;

use crate::util::*;

/// As `check` shows a name: RFC 4514 (the last RDN first).
const CA_NAME: &str = "O=ACME Paie,CN=PayFlow Test CA";
const SMTP_PASSWORD: &str = "planted-smtp-pa55word";

/// A company's own CA, made for the test.
struct Pki {
    key: KeyPair,
    cert: rcgen::Certificate,
}

/// A server's certificate chain and key, PEM.
struct ServerCert {
    chain: String,
    key: String,
}

impl Pki {
    fn new(cn: &str) -> Pki {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.distinguished_name.push(DnType::OrganizationName, "ACME Paie");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        Pki { key, cert }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A server certificate for `names`, valid from `from` to `until` (years).
    fn server(&self, cn: &str, names: &[&str], from: i32, until: i32) -> ServerCert {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.not_before = rcgen::date_time_ymd(from, 1, 1);
        params.not_after = rcgen::date_time_ymd(until, 1, 1);
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        ServerCert { chain: cert.pem(), key: key.serialize_pem() }
    }

    fn good_server(&self, cn: &str) -> ServerCert {
        self.server(cn, &["localhost", "127.0.0.1"], 2024, 2099)
    }
}

/// The CA's file, and two throwaway system stores: one holding it, one holding another CA only.
struct Stores {
    ca_file: PathBuf,
    with_ca: PathBuf,
    without_ca: PathBuf,
}

fn stores(dir: &Path, pki: &Pki) -> Stores {
    let ca_file = dir.join("company-ca.pem");
    std::fs::write(&ca_file, pki.pem()).unwrap();
    let other = Pki::new("Some Other CA");
    let with_ca = dir.join("store-with-ca.pem");
    std::fs::write(&with_ca, format!("{}{}", other.pem(), pki.pem())).unwrap();
    let without_ca = dir.join("store-without-ca.pem");
    std::fs::write(&without_ca, other.pem()).unwrap();
    Stores { ca_file, with_ca, without_ca }
}

/// `payflow-agent check` with `store` as the system's store (`SSL_CERT_FILE`).
fn check(w: &World, store: &Path) -> (bool, String) {
    let mut cmd = w.cli_command(&w.config_path, &["check"]);
    cmd.env("SSL_CERT_FILE", store).env_remove("SSL_CERT_DIR").env("PAYFLOW_SMTP_PASSWORD", SMTP_PASSWORD);
    let out = w.output(&mut cmd);
    let text = text(&out);
    // The `tls` lines of each case, shown with --nocapture.
    for l in text.lines().filter(|l| l.contains(" tls ")) {
        println!("{l}");
    }
    (out.status.success(), text)
}

fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no line {prefix:?} in:\n{out}"))
}

async fn https_odoo(cert: &ServerCert) -> World {
    let mut cfg = OdooSimConfig::demo(18);
    cfg.password = ODOO_SECRET.into();
    let db = cfg.database.clone();
    let sim = OdooSim::start_https(cfg, &cert.chain, &cert.key).await.unwrap();
    assert!(sim.url().starts_with("https://127.0.0.1:"));
    World::with_odoo(Some(sim.clone()), sim.url(), db, ODOO_SECRET.into()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odoo_over_https_is_refused_without_the_ca_and_accepted_with_ca_file_or_the_system_store() {
    let pki = Pki::new("PayFlow Test CA");
    let w = https_odoo(&pki.good_server("odoo.payflow.test")).await;
    let s = stores(w.dir.path(), &pki);

    // Not in the system's store, no ca_file: refused, with the certificate, the reason, the fix.
    let (ok, out) = check(&w, &s.without_ca);
    assert!(!ok, "{out}");
    let tls = line(&out, "FAIL  tls odoo: ");
    assert!(
        tls.contains("127.0.0.1: certificate «CN=odoo.payflow.test» issued by «O=ACME Paie,CN=PayFlow Test CA» refused: unknown issuer"),
        "{tls}"
    );
    assert!(tls.contains("set odoo.ca_file = ") && tls.contains("update-ca-certificates"), "{tls}");
    assert!(line(&out, "FAIL  odoo: ").len() > 12, "{out}");
    assert!(w.odoo().calls().is_empty(), "nothing reached Odoo: {:?}", w.odoo().calls());

    // The company's CA in odoo.ca_file (relative: from the config's folder).
    w.write_config("ca_file = \"company-ca.pem\"");
    let (ok, out) = check(&w, &s.without_ca);
    assert!(ok, "{out}");
    let tls = line(&out, "ok    tls odoo: ");
    assert!(
        tls.contains(&format!("127.0.0.1 verified by CA «{CA_NAME}» (from odoo.ca_file {})", s.ca_file.display())),
        "{tls}"
    );
    assert!(tls.contains("certificate «CN=odoo.payflow.test» valid until 2099-01-01"), "{tls}");
    assert!(line(&out, "ok    odoo: ").contains(&format!("{} database payflow as admin", w.odoo_url)), "{out}");

    // No ca_file, the CA installed in the system's store.
    w.write_config("");
    let (ok, out) = check(&w, &s.with_ca);
    assert!(ok, "{out}");
    let tls = line(&out, "ok    tls odoo: ");
    assert!(tls.contains(&format!("verified by CA «{CA_NAME}» (from the system's certificate store)")), "{tls}");

    // An import goes through HTTPS with the CA from the config file (in process).
    w.write_config("ca_file = \"company-ca.pem\"");
    let agent = w.agent();
    add_dossier(&agent, &dossier("100300", 5));
    let r = import(&agent, "100300", "2026-10", false).await;
    assert!(r.status.is_success(), "{}", r.message);
    assert_eq!(w.odoo().moves().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_name_or_an_expired_certificate_is_refused_with_the_precise_reason() {
    let pki = Pki::new("PayFlow Test CA");
    let w = https_odoo(&pki.server("odoo.example.net", &["odoo.example.net"], 2024, 2099)).await;
    let s = stores(w.dir.path(), &pki);
    w.write_config("ca_file = \"company-ca.pem\"");
    let (ok, out) = check(&w, &s.without_ca);
    assert!(!ok, "{out}");
    let tls = line(&out, "FAIL  tls odoo: ");
    assert!(
        tls.contains("certificate «CN=odoo.example.net» issued by «O=ACME Paie,CN=PayFlow Test CA» refused: name mismatch: it is for odoo.example.net, not for 127.0.0.1"),
        "{tls}"
    );
    assert!(tls.contains("have it reissued for 127.0.0.1"), "{tls}");

    let expired = https_odoo(&pki.server("odoo.payflow.test", &["127.0.0.1"], 2020, 2021)).await;
    std::fs::write(expired.dir.path().join("company-ca.pem"), pki.pem()).unwrap();
    expired.write_config("ca_file = \"company-ca.pem\"");
    let (ok, out) = check(&expired, &s.with_ca);
    assert!(!ok, "{out}");
    let tls = line(&out, "FAIL  tls odoo: ");
    assert!(tls.contains("certificate «CN=odoo.payflow.test» issued by «O=ACME Paie,CN=PayFlow Test CA» refused: expired on 2021-01-01 00:00 UTC"), "{tls}");
    assert!(tls.contains("have the server's certificate renewed"), "{tls}");
}

/// The first Python that has aiosmtpd (Debian's package is in /usr/bin/python3's).
fn python_with_aiosmtpd() -> &'static str {
    ["python3", "/usr/bin/python3"]
        .into_iter()
        .find(|p| {
            Command::new(p).args(["-c", "import aiosmtpd"]).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
        })
        .expect("no python3 with aiosmtpd: install Debian's python3-aiosmtpd (.ci/run does)")
}

/// Debian's aiosmtpd running `tests/smtpd/starttls_server.py`: STARTTLS required, AUTH over
/// TLS only, each message written to a folder. Killed when dropped.
struct RealSmtp {
    child: Child,
    port: u16,
    folder: PathBuf,
}

impl RealSmtp {
    fn start(dir: &Path, cert: &ServerCert) -> RealSmtp {
        let (cert_path, key_path, folder) = (dir.join("smtp-cert.pem"), dir.join("smtp-key.pem"), dir.join("maildir"));
        std::fs::write(&cert_path, &cert.chain).unwrap();
        std::fs::write(&key_path, &cert.key).unwrap();
        std::fs::create_dir_all(&folder).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtpd/starttls_server.py");
        let mut child = Command::new(python_with_aiosmtpd())
            .arg(script)
            .args(["--cert".as_ref(), cert_path.as_os_str(), "--key".as_ref(), key_path.as_os_str()])
            .args(["--folder".as_ref(), folder.as_os_str()])
            .env("SMTPD_PASSWORD", SMTP_PASSWORD)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // Its log (a refused handshake is a traceback there): kept beside the messages.
            .stderr(std::fs::File::create(dir.join("smtpd.log")).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut first = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut first);
            let _ = tx.send(first);
        });
        let first = rx.recv_timeout(Duration::from_secs(30)).expect("aiosmtpd did not start within 30 s");
        let port = first
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("aiosmtpd did not start (is python3-aiosmtpd installed?): {first:?}"));
        RealSmtp { child, port, folder }
    }

    /// The messages received so far: (envelope as JSON, message).
    fn messages(&self) -> Vec<(serde_json::Value, String)> {
        let mut names: Vec<_> = std::fs::read_dir(&self.folder)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|eml| {
                let meta = std::fs::read_to_string(eml.with_extension("json")).unwrap();
                (serde_json::from_str(&meta).unwrap(), std::fs::read_to_string(&eml).unwrap())
            })
            .collect()
    }

    fn wait_for_messages(&self, n: usize) -> Vec<(serde_json::Value, String)> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let m = self.messages();
            if m.len() >= n || Instant::now() > deadline {
                return m;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RealSmtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn smtp_config(w: &World, port: u16, ca_file: Option<&str>) {
    let text = std::fs::read_to_string(&w.config_path).unwrap();
    let ca = ca_file.map(|c| format!("ca_file = \"{c}\"\n")).unwrap_or_default();
    let smtp = format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"starttls\"\nfrom = \"PayFlow <payflow@example.com>\"\nusername = \"notifications@example.com\"\ntimeout_secs = 10\n{ca}\n[odoo]"
    );
    let text = match text.find("[smtp]") {
        Some(i) => {
            let end = text.find("[odoo]").unwrap();
            format!("{}{}{}", &text[..i], smtp, &text[end + "[odoo]".len()..])
        }
        None => text.replace("[odoo]", &smtp),
    };
    std::fs::write(&w.config_path, text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alert_e_mail_is_delivered_through_starttls_to_a_real_smtp_server() {
    let pki = Pki::new("PayFlow Test CA");
    let w = World::start().await;
    let s = stores(w.dir.path(), &pki);
    let smtp = RealSmtp::start(w.dir.path(), &pki.good_server("smtp.payflow.test"));

    // Without the CA: check says which certificate and what to set; no alert goes out.
    smtp_config(&w, smtp.port, None);
    let (ok, out) = check(&w, &s.without_ca);
    assert!(!ok, "{out}");
    let tls = line(&out, "FAIL  tls smtp: ");
    assert!(
        tls.contains("127.0.0.1: certificate «CN=smtp.payflow.test» issued by «O=ACME Paie,CN=PayFlow Test CA» refused: unknown issuer"),
        "{tls}"
    );
    assert!(tls.contains("set smtp.ca_file = "), "{tls}");
    assert!(line(&out, "FAIL  smtp: ").contains("alert e-mails cannot be sent"), "{out}");

    // With smtp.ca_file: verified, named, and the connection (STARTTLS, AUTH) accepted.
    smtp_config(&w, smtp.port, Some("company-ca.pem"));
    let (ok, out) = check(&w, &s.without_ca);
    assert!(ok, "{out}");
    let tls = line(&out, "ok    tls smtp: ");
    assert!(
        tls.contains(&format!("127.0.0.1 verified by CA «{CA_NAME}» (from smtp.ca_file {})", s.ca_file.display())),
        "{tls}"
    );
    assert_eq!(line(&out, "ok    smtp: "), format!("ok    smtp: 127.0.0.1:{} (starttls)", smtp.port));

    // Through the system's store.
    smtp_config(&w, smtp.port, None);
    let (ok, out) = check(&w, &s.with_ca);
    assert!(ok, "{out}");
    assert!(
        line(&out, "ok    tls smtp: ")
            .contains(&format!("verified by CA «{CA_NAME}» (from the system's certificate store)")),
        "{out}"
    );
    assert!(smtp.messages().is_empty(), "check sends nothing");

    // The alert itself, in process: refused without the CA (noted on the run), delivered with it.
    let failing = {
        let mut d = dossier("100300", 5);
        d.account_map.clear();
        d.alert_emails = vec!["paie@example.com".parse().unwrap()];
        d
    };
    let agent = w.agent();
    agent.secrets.set(SecretName::SmtpPassword, &SecretString::from(SMTP_PASSWORD)).unwrap();
    add_dossier(&agent, &failing);
    let r = import(&agent, "100300", "2026-10", false).await;
    assert_eq!(r.error_kind, Some(ErrorKind::MissingAccounts));
    let note = agent.store().run(r.run_id.unwrap()).unwrap().alert.unwrap();
    assert!(note.contains("failure alert not sent") && note.contains("127.0.0.1"), "{note}");
    assert!(smtp.messages().is_empty());

    smtp_config(&w, smtp.port, Some("company-ca.pem"));
    let agent = w.agent();
    agent.secrets.set(SecretName::SmtpPassword, &SecretString::from(SMTP_PASSWORD)).unwrap();
    let r = import(&agent, "100300", "2026-10", false).await;
    assert_eq!(r.error_kind, Some(ErrorKind::MissingAccounts));
    let note = agent.store().run(r.run_id.unwrap()).unwrap().alert.unwrap();
    assert_eq!(note, "failure alert sent to paie@example.com");
    let mails = smtp.wait_for_messages(1);
    assert_eq!(mails.len(), 1, "one alert delivered");
    let (envelope, data) = &mails[0];
    assert_eq!(envelope["tls"], true, "delivered inside STARTTLS: {envelope}");
    assert_eq!(envelope["authenticated"], true, "{envelope}");
    assert_eq!(envelope["mail_from"], "payflow@example.com");
    assert_eq!(envelope["rcpt_tos"], serde_json::json!(["paie@example.com"]));
    let data = data.replace("\r\n", "\n").replace('\n', "\r\n");
    let mail = crate::alert::decoded_data(&data);
    assert!(
        mail.lines().next().is_some_and(|subject| subject.starts_with("[PayFlow] Échec de l'import de la paie")
            && subject.contains("Dossier 100300")
            && subject.contains("octobre 2026")),
        "{mail}"
    );
    assert!(mail.contains("n'ont pas de compte correspondant dans Odoo"), "{mail}");
    assert_no_secret(&data);
    assert!(!data.contains(SMTP_PASSWORD));
}
