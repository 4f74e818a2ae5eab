//! A small SMTP server on loopback (RFC 5321 without TLS): it accepts mail and keeps it, so
//! alert e-mails are tested over the real protocol. A switch makes it refuse every message.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One message as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The DATA, dot-unstuffed, CRLF line ends.
    pub data: String,
}

#[derive(Default)]
struct Inner {
    mails: Mutex<Vec<Mail>>,
    refuse: AtomicBool,
    auth: Mutex<Vec<String>>,
}

#[derive(Clone)]
pub struct SmtpSim {
    inner: Arc<Inner>,
    addr: SocketAddr,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Drop for SmtpSim {
    fn drop(&mut self) {
        if Arc::strong_count(&self.task) == 1 {
            self.task.abort();
        }
    }
}

impl SmtpSim {
    pub async fn start() -> anyhow::Result<SmtpSim> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner::default());
        let shared = inner.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let inner = shared.clone();
                tokio::spawn(async move {
                    let _ = session(stream, inner).await;
                });
            }
        });
        Ok(SmtpSim { inner, addr, task: Arc::new(task) })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.inner.mails.lock().unwrap().clone()
    }

    /// The `AUTH PLAIN` payloads received (base64), to check credentials are sent.
    pub fn auths(&self) -> Vec<String> {
        self.inner.auth.lock().unwrap().clone()
    }

    /// Refuse (554) every message from now on, as a broken relay would.
    pub fn set_refuse(&self, yes: bool) {
        self.inner.refuse.store(yes, Ordering::Relaxed);
    }
}

async fn session(stream: TcpStream, inner: Arc<Inner>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 payflow-sim ESMTP ready\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let upper = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-payflow-sim\r\n250-AUTH PLAIN LOGIN\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
        } else if upper.starts_with("HELO") {
            b"250 payflow-sim\r\n"
        } else if upper.starts_with("AUTH PLAIN") {
            let payload = line.trim_end()[10..].trim().to_owned();
            inner.auth.lock().unwrap().push(payload);
            b"235 2.7.0 Authentication successful\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            if inner.refuse.load(Ordering::Relaxed) {
                b"554 5.3.0 Service unavailable (simulated)\r\n"
            } else {
                from = address(&line[10..]);
                to.clear();
                b"250 2.1.0 Ok\r\n"
            }
        } else if upper.starts_with("RCPT TO:") {
            to.push(address(&line[8..]));
            b"250 2.1.5 Ok\r\n"
        } else if upper == "DATA" {
            write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            inner.mails.lock().unwrap().push(Mail { from: from.clone(), to: to.clone(), data });
            b"250 2.0.0 Ok: queued\r\n"
        } else if upper == "QUIT" {
            write.write_all(b"221 2.0.0 Bye\r\n").await?;
            return Ok(());
        } else if upper == "RSET" || upper == "NOOP" {
            b"250 2.0.0 Ok\r\n"
        } else {
            b"502 5.5.2 Command not recognized\r\n"
        };
        write.write_all(reply).await?;
    }
}

fn address(s: &str) -> String {
    let s = s.trim();
    let start = s.find('<').map_or(0, |i| i + 1);
    let end = s.find('>').unwrap_or(s.len());
    s[start..end].to_owned()
}
