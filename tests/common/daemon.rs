//! A running `deskgate run` (or a `run --once` to kill half-way) started by `Gate::spawn`: its
//! log, the waits on it (a state of the world, a line of its log, its desk entering IDLE), the
//! signals an administrator or a crash sends it, and how it ended.

use std::fs;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, ExitStatus};
use std::sync::Mutex;
use std::time::Duration;

use super::process::{poll_until, send_signal, sys};
use super::TIMEOUT;

/// How long the daemon may take to stop on SIGTERM, or to answer on its admin socket.
const DAEMON_LIMIT: Duration = Duration::from_secs(20);
/// Lines of the daemon's log shown in panic messages.
const LOG_TAIL: usize = 40;

/// A running `deskgate run` (or `run --once`) started by `Gate::spawn`. It is SIGKILLed when
/// dropped, so a failing test leaves nothing behind.
pub struct Daemon {
    pid: i32,
    child: Mutex<Option<Child>>,
    what: String,
    log: PathBuf,
    /// Where this run's lines begin in the log.
    from: u64,
    socket: PathBuf,
}

impl Daemon {
    /// `child`, described by `what`, logging to `log` from byte `from` on, answering (when it
    /// is the daemon) on `socket`.
    pub(super) fn new(
        child: Child,
        what: String,
        log: PathBuf,
        from: u64,
        socket: PathBuf,
    ) -> Daemon {
        Daemon {
            pid: i32::try_from(child.id()).expect("pid fits in i32"),
            child: Mutex::new(Some(child)),
            what,
            log,
            from,
            socket,
        }
    }

    /// Its process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// What this run logged so far.
    pub fn log(&self) -> String {
        let bytes = fs::read(&self.log).unwrap_or_default();
        let from = usize::try_from(self.from)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        String::from_utf8_lossy(&bytes[from..]).into_owned()
    }

    /// How often `needle` is in this run's log.
    pub fn count(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }

    /// The last lines of this run's log, for panic messages.
    pub fn tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "----- {} ({}), last {LOG_TAIL} lines -----\n{}",
            self.log.display(),
            self.what,
            lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n")
        )
    }

    /// Panics with `msg` and the tail of this run's log.
    pub fn fail(&self, msg: impl std::fmt::Display) -> ! {
        panic!("{msg}\n{}", self.tail())
    }

    /// Its exit status once it has exited (reaped then).
    pub fn exited(&self) -> Option<ExitStatus> {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let status = child.as_mut()?.try_wait().expect("try_wait");
        status
    }

    pub fn is_running(&self) -> bool {
        self.exited().is_none()
    }

    /// Waits until `done` holds; panics with the log's tail after `timeout`, or at once when the
    /// daemon exits.
    pub fn wait_until(&self, what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
        let mut exited = None;
        let held = poll_until(timeout, || {
            if done() {
                return true;
            }
            exited = self.exited();
            exited.is_some()
        });
        match exited {
            Some(status) => self.fail(format!("it exited ({status}) while waiting for {what}")),
            None if !held => self.fail(format!("timed out after {timeout:?} waiting for {what}")),
            None => {}
        }
    }

    /// Waits until a line of this run's log satisfies `line`.
    pub fn wait_for_line(&self, what: &str, timeout: Duration, line: impl Fn(&str) -> bool) {
        self.wait_until(what, timeout, || self.log().lines().any(&line));
    }

    /// Waits until the IMAP source of `desk` waits in IDLE: the last line it logged in its
    /// `imap{desk=…}` span is "idling" (debug level, which `Gate::spawn` turns on), so no
    /// fetch or acknowledgement came after it.
    pub fn wait_idle(&self, desk: &str) {
        let span = format!("imap{{desk={desk}}}");
        self.wait_until(&format!("desk {desk} in IDLE"), TIMEOUT, || {
            self.log()
                .lines()
                .rev()
                .find(|l| l.contains(&span))
                .is_some_and(|l| l.trim_end().ends_with(" idling"))
        });
    }

    /// Waits until it answers on its admin socket.
    pub fn wait_ready(&self) {
        self.wait_until("the admin socket", DAEMON_LIMIT, || {
            UnixStream::connect(&self.socket).is_ok()
        });
    }

    /// SIGHUP: reload the accounts file.
    pub fn hangup(&self) {
        self.signal(sys::SIGHUP);
    }

    /// SIGTERM without waiting for the exit ([`Daemon::stop`] waits).
    pub fn ask_to_stop(&self) {
        self.signal(sys::SIGTERM);
    }

    /// SIGSTOP: the process hangs (a stalled VM, a debugger), keeping its connections.
    pub fn pause(&self) {
        self.signal(sys::SIGSTOP);
    }

    /// SIGCONT after [`Daemon::pause`].
    pub fn resume(&self) {
        self.signal(sys::SIGCONT);
    }

    fn signal(&self, sig: i32) {
        let child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        // Only while not reaped: the pid cannot have been reused.
        if child.is_some() {
            send_signal(self.pid, sig);
        }
    }

    /// SIGKILL, like a crash or a power cut, and reaps it.
    pub fn kill(self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut child) = child.take() {
            let _ = child.kill();
            child.wait().expect("reap the killed deskgate");
        }
    }

    /// SIGTERM, as systemd sends it; its exit status (SIGKILLed and a panic after 20 s).
    pub fn terminate(self) -> ExitStatus {
        self.terminate_ref()
    }

    /// SIGTERM; it must exit cleanly. Returns this run's log.
    pub fn stop(self) -> String {
        let status = self.terminate_ref();
        if !status.success() {
            self.fail(format!("it exited with {status} on SIGTERM"));
        }
        self.log()
    }

    /// SIGTERM; the exit status.
    fn terminate_ref(&self) -> ExitStatus {
        self.signal(sys::SIGTERM);
        let mut status = None;
        if !poll_until(DAEMON_LIMIT, || {
            status = self.exited();
            status.is_some()
        }) {
            self.fail(format!(
                "it did not stop within {DAEMON_LIMIT:?} of SIGTERM"
            ));
        }
        status.expect("exited")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut child) = child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
