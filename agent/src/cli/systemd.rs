//! Running under systemd, without a dependency: the journal's priorities on stderr (journald
//! reads a `<N>` syslog prefix at the start of each line of a unit's output) and readiness
//! (`READY=1`) over `$NOTIFY_SOCKET` for `Type=notify`. Elsewhere both are no-ops.

use std::io::Write;

use tracing::Level;

/// The journal priority of a tracing level (syslog numbers: 3 error, 4 warning, 6 info, 7 debug).
pub fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// True when `JOURNAL_STREAM` (`DEVICE:INODE`, set by systemd) names the stream `fd` is: the
/// journal reads that stream. A stream redirected to a file or a pipe is not prefixed.
pub fn is_journal(stream: &impl AsFdLike) -> bool {
    std::env::var_os("JOURNAL_STREAM").and_then(|v| v.into_string().ok()).is_some_and(|v| names(&v, stream))
}

/// True when `value` (`DEVICE:INODE`) is the device and inode of `stream`.
fn names(value: &str, stream: &impl AsFdLike) -> bool {
    let Some((dev, ino)) = value.split_once(':') else { return false };
    match stream.dev_ino() {
        Some((d, i)) => dev.parse() == Ok(d) && ino.parse() == Ok(i),
        None => false,
    }
}

/// A stream whose device and inode can be read (stdout, stderr).
pub trait AsFdLike {
    fn dev_ino(&self) -> Option<(u64, u64)>;
}

#[cfg(unix)]
impl<T: std::os::fd::AsFd> AsFdLike for T {
    fn dev_ino(&self) -> Option<(u64, u64)> {
        use std::os::unix::fs::MetadataExt;
        let fd = self.as_fd().try_clone_to_owned().ok()?;
        let meta = std::fs::File::from(fd).metadata().ok()?;
        Some((meta.dev(), meta.ino()))
    }
}

#[cfg(not(unix))]
impl<T> AsFdLike for T {
    fn dev_ino(&self) -> Option<(u64, u64)> {
        None
    }
}

/// Writes `text` with `<priority>` before each of its lines when `journal`, as is otherwise.
pub fn prefixed(text: &str, priority: u8, journal: bool) -> String {
    if !journal {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for line in text.split_inclusive('\n') {
        out.push_str(&format!("<{priority}>"));
        out.push_str(line);
    }
    out
}

/// A `MakeWriter` that puts each event's journal priority before every line it writes.
pub struct Prioritized<M>(pub M);

impl<'a, M: tracing_subscriber::fmt::MakeWriter<'a>> tracing_subscriber::fmt::MakeWriter<'a> for Prioritized<M> {
    type Writer = PrefixLines<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        PrefixLines { inner: self.0.make_writer(), priority: 6, line_start: true }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        PrefixLines { inner: self.0.make_writer_for(meta), priority: priority(*meta.level()), line_start: true }
    }
}

/// The writer of one event (tracing's fmt layer writes an event whole, then drops its writer).
pub struct PrefixLines<W> {
    inner: W,
    priority: u8,
    line_start: bool,
}

impl<W: Write> Write for PrefixLines<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut out = Vec::with_capacity(buf.len() + 8);
        for line in buf.split_inclusive(|&b| b == b'\n') {
            if self.line_start {
                out.extend_from_slice(format!("<{}>", self.priority).as_bytes());
            }
            out.extend_from_slice(line);
            self.line_start = line.ends_with(b"\n");
        }
        self.inner.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Tells systemd the service is ready (`Type=notify`): one `READY=1` datagram to
/// `$NOTIFY_SOCKET` (a path, or `@name` for an abstract socket). Without the variable (not under
/// systemd, or another `Type=`), nothing. A failure is logged, not fatal: systemd then ends the
/// start on `TimeoutStartSec=` and says so in the journal.
pub fn notify_ready() {
    if let Err(e) = notify("READY=1\nSTATUS=serving") {
        tracing::warn!("cannot tell systemd the service is ready: {e}");
    }
}

/// Sends `state` to `$NOTIFY_SOCKET`; `Ok` without the variable.
pub fn notify(state: &str) -> std::io::Result<()> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else { return Ok(()) };
    send(&path, state)
}

#[cfg(target_os = "linux")]
fn send(path: &std::ffi::OsStr, state: &str) -> std::io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let bytes = path.as_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None => SocketAddr::from_pathname(path)?,
    };
    let socket = UnixDatagram::unbound()?;
    let sent = socket.send_to_addr(state.as_bytes(), &addr)?;
    if sent != state.len() {
        return Err(std::io::Error::other("short write to NOTIFY_SOCKET"));
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn send(_path: &std::ffi::OsStr, _state: &str) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_of_an_event_carries_its_priority() {
        let mut w = PrefixLines { inner: Vec::new(), priority: 4, line_start: true };
        w.write_all(b"WARN import failed: 2 accounts missing\n  43730000\n").unwrap();
        w.write_all(b"  43740000\n").unwrap();
        assert_eq!(
            String::from_utf8(w.inner).unwrap(),
            "<4>WARN import failed: 2 accounts missing\n<4>  43730000\n<4>  43740000\n"
        );
        assert_eq!(prefixed("error: x\nfix y\n", 3, true), "<3>error: x\n<3>fix y\n");
        assert_eq!(prefixed("error: x\n", 3, false), "error: x\n");
        assert_eq!([Level::ERROR, Level::WARN, Level::INFO, Level::DEBUG].map(priority), [3, 4, 6, 7]);
    }

    #[cfg(unix)]
    #[test]
    fn journal_stream_is_recognised_by_device_and_inode() {
        use std::os::unix::fs::MetadataExt;
        let file = tempfile::tempfile().unwrap();
        let meta = file.metadata().unwrap();
        assert!(names(&format!("{}:{}", meta.dev(), meta.ino()), &file));
        assert!(!names(&format!("{}:{}", meta.dev(), meta.ino() + 1), &file));
        assert!(!names("garbage", &file));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn ready_is_one_datagram_to_the_notify_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        send(path.as_os_str(), "READY=1\nSTATUS=serving").unwrap();
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=serving");
    }
}
