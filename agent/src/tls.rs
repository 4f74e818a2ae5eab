//! TLS trust, built in one place for the three clients (Silae and Odoo over HTTPS, SMTP).
//!
//! A connection trusts, in this order of naming: its section's `ca_file` (a company's own CA,
//! PEM), the operating system's store (`rustls-native-certs`: `/etc/ssl/certs` as kept by
//! `update-ca-certificates` on Debian, or `SSL_CERT_FILE`/`SSL_CERT_DIR` when set; the Windows
//! store), and the Mozilla roots bundled in the binary (`webpki-roots`). Every certificate is
//! verified (chain, validity, name): there is no setting that turns verification off.
//!
//! The verifier records each verdict (the chain presented and rustls' error, if any) so that
//! `check` can name the CA that verified a connection, or say which certificate was refused,
//! why, and what to set ([`Trust::explain`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use x509_cert::der::{Decode, Encode};

/// The certificates of a `ca_file`, read once when the config is loaded.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM file: {e}"))?;
    if certs.is_empty() {
        return Err("no \"-----BEGIN CERTIFICATE-----\" block in it".into());
    }
    let mut store = RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        store.add(cert.clone()).map_err(|e| format!("certificate {} of the file is unusable as a CA: {e}", i + 1))?;
    }
    Ok(certs)
}

/// Where a trusted root comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    CaFile { key: String, path: PathBuf },
    System,
    Bundled,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::CaFile { key, path } => write!(f, "from {key} {}", path.display()),
            Origin::System => f.write_str("from the system's certificate store"),
            Origin::Bundled => f.write_str("from the Mozilla roots bundled in payflow-agent"),
        }
    }
}

/// One TLS verification: the server name, the chain it presented, and the refusal if any.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub server: String,
    pub chain: Vec<CertificateDer<'static>>,
    pub error: Option<rustls::Error>,
}

/// The trust of one connection (`[odoo]`, `[silae]`, `[smtp]`, later each Odoo target).
#[derive(Debug, Clone)]
pub struct Trust {
    /// The config section, named in what to set: `odoo`, `silae`, `smtp`.
    section: String,
    ca_file: Option<PathBuf>,
    roots: Arc<RootCertStore>,
    /// The subject (DER contents) of each root and where it comes from, `ca_file` first.
    anchors: Arc<Vec<(Vec<u8>, Origin)>>,
    /// The roots that are not bundled (for lettre, which builds its own rustls config).
    extra: Arc<Vec<CertificateDer<'static>>>,
    verifier: Arc<Recorder>,
}

impl Trust {
    /// Builds the roots: `ca_file` (already read by the config), the system store, the bundled
    /// roots. A system certificate that cannot be read is skipped with a warning.
    pub fn new(section: &str, ca_file: Option<(&Path, &[CertificateDer<'static>])>) -> Result<Trust, String> {
        let mut roots = RootCertStore::empty();
        let mut anchors = Vec::new();
        let mut extra = Vec::new();
        let mut add = |cert: &CertificateDer<'static>, origin: Origin| {
            if roots.add(cert.clone()).is_ok() {
                let subject = roots.roots.last().expect("just added").subject.as_ref().to_vec();
                anchors.push((subject, origin));
                extra.push(cert.clone());
                true
            } else {
                false
            }
        };
        if let Some((path, certs)) = ca_file {
            for cert in certs {
                let origin = Origin::CaFile { key: format!("{section}.ca_file"), path: path.to_owned() };
                if !add(cert, origin) {
                    return Err(format!("{section}.ca_file {}: a certificate is unusable as a CA", path.display()));
                }
            }
        }
        let system = rustls_native_certs::load_native_certs();
        for e in &system.errors {
            tracing::warn!("the system's certificate store: {e}");
        }
        let mut skipped = 0;
        for cert in &system.certs {
            if !add(cert, Origin::System) {
                skipped += 1;
            }
        }
        if skipped > 0 {
            tracing::debug!("{skipped} certificate(s) of the system's store are not usable as roots");
        }
        for anchor in webpki_roots::TLS_SERVER_ROOTS {
            anchors.push((anchor.subject.as_ref().to_vec(), Origin::Bundled));
        }
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let roots = Arc::new(roots);
        let inner = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider())
            .build()
            .map_err(|e| format!("cannot build the TLS verifier: {e}"))?;
        Ok(Trust {
            section: section.to_owned(),
            ca_file: ca_file.map(|(p, _)| p.to_owned()),
            roots,
            anchors: Arc::new(anchors),
            extra: Arc::new(extra),
            verifier: Arc::new(Recorder { inner, seen: Mutex::default() }),
        })
    }

    /// The rustls configuration of the HTTPS clients (reqwest's `use_preconfigured_tls`).
    pub fn client_config(&self) -> ClientConfig {
        ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            // `dangerous()` is rustls' door to a custom verifier; ours is rustls' own WebPKI
            // verifier, wrapped to record its verdicts: nothing is relaxed.
            .dangerous()
            .with_custom_certificate_verifier(self.verifier.clone())
            .with_no_client_auth()
    }

    /// lettre's TLS parameters with the same roots (lettre builds its own rustls config, with
    /// rustls' standard verification).
    pub fn lettre_parameters(&self, domain: &str) -> Result<lettre::transport::smtp::client::TlsParameters, String> {
        use lettre::transport::smtp::client::{Certificate, CertificateStore, TlsParameters};
        let mut builder = TlsParameters::builder(domain.to_owned()).certificate_store(CertificateStore::WebpkiRoots);
        for cert in self.extra.iter() {
            builder = builder.add_root_certificate(Certificate::from_der(cert.to_vec()).map_err(|e| e.to_string())?);
        }
        builder.build_rustls().map_err(|e| format!("cannot build the TLS settings: {e}"))
    }

    /// How many roots this connection trusts (logs).
    pub fn root_count(&self) -> usize {
        self.roots.len()
    }

    /// The verdicts recorded so far, the last one per server name.
    pub fn verdicts(&self) -> Vec<Verdict> {
        self.verifier.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// One line for `check`: `Ok` names the CA that verified the server and where it was
    /// trusted from; `Err` says which certificate was refused, why, and what to set.
    pub fn explain(&self, v: &Verdict) -> Result<String, String> {
        let leaf = v.chain.first().and_then(|c| Cert::parse(c));
        let top = v.chain.last().and_then(|c| Cert::parse(c));
        let leaf_name = leaf.as_ref().map_or_else(|| "?".to_owned(), |c| c.subject.clone());
        let issuer_name = top.as_ref().map_or_else(|| "?".to_owned(), |c| c.issuer.clone());
        let Some(error) = &v.error else {
            let origin = top
                .as_ref()
                .and_then(|t| self.anchors.iter().find(|(s, _)| *s == t.issuer_der).map(|(_, o)| o.to_string()))
                .unwrap_or_else(|| "from a trusted root".to_owned());
            let until = leaf.as_ref().map(|c| format!("; certificate «{}» valid until {}", c.subject, c.not_after));
            return Ok(format!("{} verified by CA «{issuer_name}» ({origin}){}", v.server, until.unwrap_or_default()));
        };
        let key = format!("{}.ca_file", self.section);
        let (reason, what) = match error {
            rustls::Error::InvalidCertificate(e) => match e {
                CertificateError::UnknownIssuer => (
                    format!(
                        "unknown issuer: «{issuer_name}» is not a trusted CA (trusted: the system's store, the bundled roots{})",
                        self.ca_file.as_ref().map(|p| format!(", {key} {}", p.display())).unwrap_or_default()
                    ),
                    format!(
                        "if it is your company's CA, set {key} = \"/path/to/ca.pem\" (its certificate, PEM) or install it in the system's store (Debian: copy it to /usr/local/share/ca-certificates/NAME.crt and run update-ca-certificates; Windows: Trusted Root Certification Authorities)"
                    ),
                ),
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => (
                    format!(
                        "expired{}",
                        leaf.as_ref().map(|c| format!(" on {}", c.not_after)).unwrap_or_default()
                    ),
                    "have the server's certificate renewed (no setting of payflow-agent accepts an expired certificate)"
                        .to_owned(),
                ),
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => (
                    "not valid yet".to_owned(),
                    "check this machine's clock, or the certificate's start date".to_owned(),
                ),
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                    let names = match e {
                        CertificateError::NotValidForNameContext { presented, .. } if !presented.is_empty() => {
                            presented.iter().map(|n| bare_name(n)).collect::<Vec<_>>().join(", ")
                        }
                        _ => leaf_name.clone(),
                    };
                    (
                        format!("name mismatch: it is for {names}, not for {}", v.server),
                        format!(
                            "connect by a name the certificate holds (in [{}]), or have it reissued for {}",
                            self.section, v.server
                        ),
                    )
                }
                other => (format!("{other:?}"), "have the server's certificate fixed".to_owned()),
            },
            other => (other.to_string(), "check the server's TLS set-up".to_owned()),
        };
        Err(format!(
            "{}: certificate «{leaf_name}» issued by «{}» refused: {reason}; {what}",
            v.server,
            leaf.as_ref().map_or("?", |c| c.issuer.as_str())
        ))
    }

    /// `check` for SMTP: connects, says EHLO and STARTTLS when asked, and does the TLS handshake
    /// with these roots, sending nothing else. `Ok` is the verdict; `Err` a network failure
    /// before any certificate was seen.
    pub async fn probe(&self, host: &str, port: u16, starttls: bool, timeout: Duration) -> Result<Verdict, String> {
        let name = ServerName::try_from(host.to_owned()).map_err(|e| format!("{host}: not a host name: {e}"))?;
        let attempt = async {
            let mut tcp =
                tokio::net::TcpStream::connect((host, port)).await.map_err(|e| format!("{host}:{port}: {e}"))?;
            if starttls {
                smtp_reply(&mut tcp, "220").await?;
                tcp.write_all(b"EHLO payflow-check\r\n").await.map_err(|e| e.to_string())?;
                smtp_reply(&mut tcp, "250").await?;
                tcp.write_all(b"STARTTLS\r\n").await.map_err(|e| e.to_string())?;
                smtp_reply(&mut tcp, "220").await?;
            }
            let connector = tokio_rustls::TlsConnector::from(Arc::new(self.client_config()));
            Ok::<_, String>(connector.connect(name, tcp).await)
        };
        let handshake = tokio::time::timeout(timeout, attempt)
            .await
            .map_err(|_| format!("{host}:{port}: no answer within {} s", timeout.as_secs()))??;
        let seen = self.verdicts().into_iter().rev().find(|v| v.server == host);
        match (handshake, seen) {
            (_, Some(v)) => Ok(v),
            (Err(e), None) => Err(format!("{host}:{port}: TLS handshake failed before any certificate: {e}")),
            (Ok(_), None) => Err(format!("{host}:{port}: no certificate was verified")),
        }
    }
}

/// Reads one SMTP reply (its lines up to `NNN `), bounded, and checks its code.
async fn smtp_reply(tcp: &mut tokio::net::TcpStream, code: &str) -> Result<(), String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        let n = tcp.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the SMTP server closed the connection".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 16 * 1024 {
            return Err("the SMTP server's reply is too long".into());
        }
        let text = String::from_utf8_lossy(&buf);
        if text.ends_with("\r\n") {
            let last = text.trim_end().lines().last().unwrap_or("");
            if last.as_bytes().get(3) != Some(&b'-') {
                return if last.starts_with(code) {
                    Ok(())
                } else {
                    Err(format!("the SMTP server answered {last:?} where {code} was expected"))
                };
            }
        }
    }
}

/// rustls shows a certificate's names as `DnsName("a.b")` or `IpAddress(1.2.3.4)`: the name alone.
fn bare_name(shown: &str) -> &str {
    match shown.split_once('(') {
        Some((_, rest)) => rest.trim_end_matches(')').trim_matches('"'),
        None => shown,
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Records the verdicts of rustls' WebPKI verifier, the last one per server name (at most 16).
#[derive(Debug)]
struct Recorder {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Vec<Verdict>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        let chain = std::iter::once(end_entity).chain(intermediates).map(|c| c.clone().into_owned()).collect();
        let verdict =
            Verdict { server: server_name.to_str().into_owned(), chain, error: result.as_ref().err().cloned() };
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.retain(|v| v.server != verdict.server);
        if seen.len() >= 16 {
            seen.remove(0);
        }
        seen.push(verdict);
        result
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// What `check` shows of a certificate.
struct Cert {
    subject: String,
    issuer: String,
    /// The issuer's name as webpki keeps a root's subject: the DER contents of the Name.
    issuer_der: Vec<u8>,
    not_after: String,
}

impl Cert {
    fn parse(der: &CertificateDer<'_>) -> Option<Cert> {
        let cert = x509_cert::Certificate::from_der(der.as_ref()).ok()?;
        let tbs = &cert.tbs_certificate;
        let issuer_tlv = tbs.issuer.to_der().ok()?;
        let issuer_der = x509_cert::der::asn1::AnyRef::from_der(&issuer_tlv).ok()?.value().to_vec();
        let not_after = jiff::Timestamp::from_second(tbs.validity.not_after.to_unix_duration().as_secs() as i64)
            .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|_| "?".into());
        Some(Cert { subject: tbs.subject.to_string(), issuer: tbs.issuer.to_string(), issuer_der, not_after })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_shown_bare() {
        assert_eq!(bare_name("DnsName(\"odoo.example.net\")"), "odoo.example.net");
        assert_eq!(bare_name("IpAddress(127.0.0.1)"), "127.0.0.1");
        assert_eq!(bare_name("odoo.example.net"), "odoo.example.net");
    }

    #[test]
    fn a_ca_file_comes_first_and_the_bundled_roots_are_always_there() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&key).unwrap();
        let certs = vec![ca.der().clone()];
        let trust = Trust::new("odoo", Some((Path::new("/etc/payflow/ca.pem"), &certs))).unwrap();
        assert_eq!(
            trust.anchors[0].1,
            Origin::CaFile { key: "odoo.ca_file".into(), path: PathBuf::from("/etc/payflow/ca.pem") }
        );
        let bundled = trust.anchors.iter().filter(|(_, o)| *o == Origin::Bundled).count();
        assert_eq!(bundled, webpki_roots::TLS_SERVER_ROOTS.len());
        assert!(trust.root_count() > bundled);
        assert!(trust.verdicts().is_empty());
    }
}
