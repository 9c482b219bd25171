//! systemd's service notification protocol (`sd_notify(3)`), for `Type=notify` units: READY=1
//! when the desks are started, WATCHDOG=1 while the workers are healthy, RELOADING=1 and READY=1
//! around a SIGHUP reload, STOPPING=1 at shutdown, and a STATUS= line for `systemctl status`.
//!
//! The protocol is one datagram per message, `KEY=VALUE` lines, sent to the Unix socket named
//! by `NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace). That is a dozen lines on
//! std's `UnixDatagram`, so we write it here rather than take a crate (and `libsystemd`'s C
//! library) for it. Without `NOTIFY_SOCKET` (not under systemd, or `Type=simple`) every call
//! does nothing. A message that cannot be sent is logged at debug level and otherwise ignored:
//! the daemon's work never depends on its supervisor hearing it.

use std::collections::BTreeSet;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::Mutex;
use std::time::Duration;

/// Where notifications go, read once from the environment systemd sets.
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// From `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` (the watchdog is ours only when
    /// `WATCHDOG_PID` is unset or names this process).
    pub fn from_env() -> Notifier {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let target = var("NOTIFY_SOCKET").and_then(|path| {
            let addr = match socket_addr(path.as_encoded_bytes()) {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(socket = ?path, error = %e, "NOTIFY_SOCKET is unusable: systemd will not hear from deskgate");
                    return None;
                }
            };
            match UnixDatagram::unbound() {
                Ok(socket) => Some((socket, addr)),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot open a datagram socket for NOTIFY_SOCKET");
                    None
                }
            }
        });
        let ours = std::env::var("WATCHDOG_PID")
            .ok()
            .is_none_or(|pid| pid.trim() == std::process::id().to_string());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|usec| usec.trim().parse::<u64>().ok())
            .filter(|usec| *usec > 0 && ours)
            .map(Duration::from_micros);
        Notifier { target, watchdog }
    }

    /// A notifier that sends nothing (tests, `run --once`).
    pub fn none() -> Notifier {
        Notifier {
            target: None,
            watchdog: None,
        }
    }

    /// A notifier sending to the socket at `path`, with no watchdog (tests of the daemon's
    /// side of the protocol).
    #[cfg(test)]
    pub(super) fn to_path(path: &std::path::Path) -> Notifier {
        Notifier {
            target: Some((
                UnixDatagram::unbound().expect("a datagram socket"),
                SocketAddr::from_pathname(path).expect("a socket path"),
            )),
            watchdog: None,
        }
    }

    /// How often to send WATCHDOG=1: half the supervisor's timeout, as `sd_watchdog_enabled(3)`
    /// advises; `None` when no watchdog is set for this process.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.target.as_ref()?;
        self.watchdog.map(|timeout| timeout / 2)
    }

    /// Sends `message` (one or more `KEY=VALUE` lines).
    pub fn send(&self, message: &str) {
        let Some((socket, addr)) = &self.target else {
            return;
        };
        match socket.send_to_addr(message.as_bytes(), addr) {
            Ok(_) => tracing::debug!(message, "told systemd"),
            Err(e) => tracing::debug!(message, error = %e, "could not tell systemd"),
        }
    }

    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    pub fn reloading(&self) {
        self.send("RELOADING=1\nSTATUS=reloading the accounts file");
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping: finishing the work in hand");
    }

    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }
}

/// `NOTIFY_SOCKET`'s value as an address: a path, or `@name` in Linux's abstract namespace.
fn socket_addr(value: &[u8]) -> std::io::Result<SocketAddr> {
    if let Some(name) = value.strip_prefix(b"@") {
        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            return SocketAddr::from_abstract_name(name);
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = name;
            return Err(std::io::Error::other(
                "abstract socket names exist only on Linux",
            ));
        }
    }
    use std::os::unix::ffi::OsStrExt;
    SocketAddr::from_pathname(std::ffi::OsStr::from_bytes(value))
}

/// Which supervised workers are down right now (panicked and waiting to be started again, or
/// ended while the daemon runs). The watchdog is fed only while none is: a desk that keeps
/// panicking, or a runtime too stuck to run the watchdog task, stops the pings and systemd
/// restarts the service.
#[derive(Debug, Default)]
pub struct Health {
    down: Mutex<BTreeSet<String>>,
}

impl Health {
    pub fn down(&self, worker: &str) {
        self.lock().insert(worker.to_string());
    }

    pub fn up(&self, worker: &str) {
        self.lock().remove(worker);
    }

    /// The workers down, by name; empty when all are healthy.
    pub fn down_workers(&self) -> Vec<String> {
        self.lock().iter().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        // The set stays consistent even if a holder panicked: every change is one insert or
        // remove.
        self.down.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_reach_the_socket_named_by_path_and_by_abstract_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).expect("bind");
        let n = Notifier {
            target: Some((
                UnixDatagram::unbound().expect("socket"),
                socket_addr(path.as_os_str().as_encoded_bytes()).expect("addr"),
            )),
            watchdog: Some(Duration::from_secs(10)),
        };
        n.ready("2 desks");
        let mut buf = [0u8; 256];
        let len = listener.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=2 desks");
        assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(5)));

        #[cfg(target_os = "linux")]
        {
            let name = format!("@deskgate-test-{}", std::process::id());
            let addr = socket_addr(name.as_bytes()).expect("abstract addr");
            let listener = UnixDatagram::bind_addr(&addr).expect("bind abstract");
            let n = Notifier {
                target: Some((UnixDatagram::unbound().expect("socket"), addr)),
                watchdog: None,
            };
            n.watchdog();
            let len = listener.recv(&mut buf).expect("recv");
            assert_eq!(&buf[..len], b"WATCHDOG=1");
            assert_eq!(n.watchdog_interval(), None);
        }
    }

    #[test]
    fn without_a_socket_nothing_is_sent_and_there_is_no_watchdog() {
        let n = Notifier::none();
        n.ready("x");
        assert_eq!(n.watchdog_interval(), None);
    }

    #[test]
    fn a_worker_is_down_from_its_panic_until_it_runs_again() {
        let h = Health::default();
        h.down("desk nl");
        h.down("delivery");
        assert_eq!(h.down_workers(), ["delivery", "desk nl"]);
        h.up("desk nl");
        assert_eq!(h.down_workers(), ["delivery"]);
    }
}
