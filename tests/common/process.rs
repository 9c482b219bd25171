//! Ports, processes, files and waits: what every server of the harness (and `Gate`, which runs the `deskgate` binary) is built on.
//!
//! Ports are handed out once per test process; server processes run in their own process group
//! so that one signal stops them with all their helpers; every wait is bounded and panics with
//! what it waited for.

use std::collections::HashSet;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::TIMEOUT;

/// How many log lines to show in panic messages.
const LOG_TAIL_LINES: usize = 60;

/// The only address the harness listens on or connects to.
pub(super) const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// Ports already handed out by [`free_port`] in this test process; never
/// handed out twice, so parallel tests in one binary cannot collide.
fn handed_out_ports() -> &'static Mutex<HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    PORTS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// A currently unused TCP port on 127.0.0.1 (bind port 0, read it, release
/// it). Unique within this test process. Another process may still grab it
/// before the server binds; the server launchers retry with fresh ports.
pub fn free_port() -> u16 {
    for _ in 0..1000 {
        let listener = TcpListener::bind((LOOPBACK, 0))
            .unwrap_or_else(|e| panic!("free_port: cannot bind 127.0.0.1:0: {e}"));
        let port = listener
            .local_addr()
            .expect("free_port: local_addr of a bound listener")
            .port();
        drop(listener);
        let mut ports = handed_out_ports()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if ports.insert(port) {
            return port;
        }
    }
    panic!("free_port: no unused loopback port found after 1000 attempts");
}

/// True if something accepts TCP connections on 127.0.0.1:`port` right now.
pub fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from((LOOPBACK, port)),
        Duration::from_millis(500),
    )
    .is_ok()
}

/// Wait until 127.0.0.1:`port` accepts TCP connections; panics after `timeout`.
pub fn wait_port(port: u16, timeout: Duration) {
    if !poll_until(timeout, || port_open(port)) {
        panic!("wait_port: nothing accepted connections on 127.0.0.1:{port} within {timeout:?}");
    }
}

/// Wait until 127.0.0.1:`port` refuses TCP connections; panics after `timeout`.
pub fn wait_port_closed(port: u16, timeout: Duration) {
    if !poll_until(timeout, || !port_open(port)) {
        panic!("wait_port_closed: 127.0.0.1:{port} still accepts connections after {timeout:?}");
    }
}

// ---------------------------------------------------------------------------
// Waits
// ---------------------------------------------------------------------------

/// How often a wait looks again.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// Polls `done` until it holds (true), or until `timeout` has passed (false), so that the caller
/// can panic with what it knows (a log, a transcript).
pub fn poll_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL_EVERY);
    }
}

/// Polls `done` until it holds; panics naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, done: impl FnMut() -> bool) {
    if !poll_until(timeout, done) {
        panic!("timed out after {timeout:?} waiting for {what}");
    }
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/// libc functions (std already links libc; no crate needed).
pub(super) mod sys {
    extern "C" {
        pub fn kill(pid: i32, sig: i32) -> i32;
        pub fn geteuid() -> u32;
        pub fn getegid() -> u32;
    }
    pub const SIGHUP: i32 = 1;
    pub const SIGINT: i32 = 2;
    pub const SIGKILL: i32 = 9;
    pub const SIGTERM: i32 = 15;
    pub const SIGCONT: i32 = 18;
    pub const SIGSTOP: i32 = 19;
}

pub(super) fn send_signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions. It is only called
    // with the pid / process group of a child this harness spawned and has
    // not reaped yet, so the id cannot have been recycled (the one exception
    // is the timeout path of `run_with_timeout`, where a child finishing at
    // that very instant is a theoretical race).
    unsafe {
        sys::kill(pid, sig);
    }
}

pub(super) fn euid() -> u32 {
    // SAFETY: geteuid(2) always succeeds and has no preconditions.
    unsafe { sys::geteuid() }
}

pub(super) fn egid() -> u32 {
    // SAFETY: getegid(2) always succeeds and has no preconditions.
    unsafe { sys::getegid() }
}

/// Last `n` lines of a (log) file, or a note why it cannot be read.
pub fn tail(path: &Path, n: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(n);
            lines[start..].join("\n")
        }
        Err(e) => format!("<cannot read {}: {e}>", path.display()),
    }
}

pub(super) fn log_report(logs: &[&Path]) -> String {
    let mut out = String::new();
    for log in logs {
        out.push_str(&format!(
            "\n----- {} (last {LOG_TAIL_LINES} lines) -----\n{}",
            log.display(),
            tail(log, LOG_TAIL_LINES)
        ));
    }
    out
}

/// A long-running server child, started in its own process group so that it
/// and all of its helpers can be stopped together.
pub(super) struct ServerProcess {
    child: Option<Child>,
    pub(super) pid: i32,
    /// Set if the child had to be reaped early (no /proc): from then on its
    /// pid/group id may be recycled and must not be signalled.
    reaped: bool,
}

impl ServerProcess {
    pub(super) fn spawn(what: &str, mut cmd: Command, output_log: &Path) -> ServerProcess {
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(output_log)
            .unwrap_or_else(|e| panic!("{what}: cannot open {}: {e}", output_log.display()));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("{what}: cannot dup log handle: {e}"));
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("{what}: cannot spawn {cmd:?}: {e} (is it installed? see .ci/run)")
        });
        let pid = i32::try_from(child.id()).expect("pid fits in i32");
        ServerProcess {
            child: Some(child),
            pid,
            reaped: false,
        }
    }

    /// True once the process has exited. Reads /proc so the zombie is NOT
    /// reaped: its pid (== our process group id) stays reserved until
    /// [`ServerProcess::terminate`] has signalled the whole group.
    pub(super) fn has_exited(&mut self) -> bool {
        let Some(child) = self.child.as_mut() else {
            return true;
        };
        if self.reaped {
            return true;
        }
        match fs::read_to_string(format!("/proc/{}/stat", self.pid)) {
            // Format: "pid (comm) S ..." — comm may contain ") ", so use the last one.
            Ok(stat) => matches!(
                stat.rsplit_once(") ")
                    .and_then(|(_, rest)| rest.chars().next()),
                Some('Z') | Some('X') | None
            ),
            // No /proc: fall back to reaping.
            Err(_) => {
                self.reaped = !matches!(child.try_wait(), Ok(None));
                self.reaped
            }
        }
    }

    /// With a non-zero `grace`: SIGTERM the main process and give it that
    /// long to shut down cleanly. Then SIGKILL whatever is left in its
    /// process group (helpers included) and reap it.
    /// `Duration::ZERO` = SIGKILL everything immediately.
    pub(super) fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        self.child.as_ref()?;
        if !grace.is_zero() && !self.has_exited() {
            send_signal(self.pid, sys::SIGTERM);
            let deadline = Instant::now() + grace;
            while !self.has_exited() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
        }
        let mut child = self.child.take()?;
        if !self.reaped {
            // Not reaped yet, so the main process is at most a zombie and its
            // pid (= the group id) cannot have been reused.
            send_signal(-self.pid, sys::SIGKILL);
        }
        child.wait().ok()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Test is over, data is thrown away: no need for a clean shutdown
        // (Dovecot's takes ~1.5 s).
        self.terminate(Duration::ZERO);
    }
}

/// Run a short-lived command with stdin closed, capturing its output; kills
/// it and panics if it runs longer than `timeout`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    let desc = format!("{cmd:?}");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {desc}: {e}"));
    let pid = i32::try_from(child.id()).expect("pid fits in i32");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(result) => result.unwrap_or_else(|e| panic!("waiting for {desc}: {e}")),
        Err(_) => {
            send_signal(-pid, sys::SIGKILL);
            let _ = rx.recv_timeout(Duration::from_secs(5));
            panic!("{desc} did not finish within {timeout:?} (killed)");
        }
    }
}

/// Like [`run_with_timeout`] but panics (showing stdout/stderr) unless the
/// command exits successfully.
pub(super) fn run_ok(cmd: &mut Command, what: &str) -> Output {
    let out = run_with_timeout(cmd, TIMEOUT);
    if !out.status.success() {
        panic!(
            "{what} failed ({}): {cmd:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// First existing path among `candidates`, else the bare program name (PATH).
pub(super) fn find_binary(name: &str, candidates: &[&str]) -> PathBuf {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

pub(super) fn make_tempdir(prefix: &str) -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
    // Dovecot's unprivileged helpers (login/auth/mail processes) must be able
    // to traverse the instance directory.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.path().display()));
    dir
}

pub(super) fn mkdir(path: &Path, mode: u32) {
    fs::create_dir_all(path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

pub(super) fn write_file(path: &Path, contents: impl AsRef<[u8]>) {
    fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// (uid, gid) of a user from /etc/passwd.
pub(super) fn passwd_lookup(name: &str) -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() > 3 && f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

/// User name of a uid from /etc/passwd.
pub(super) fn passwd_name(uid: u32) -> Option<String> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() > 2 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[0].to_string())
    })
}

/// Group name of a gid from /etc/group.
pub(super) fn group_name(gid: u32) -> Option<String> {
    let group = fs::read_to_string("/etc/group").ok()?;
    group.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() > 2 && f[2].parse::<u32>().ok() == Some(gid)).then(|| f[0].to_string())
    })
}

pub(super) fn what_happened(status: Option<ExitStatus>) -> String {
    match status {
        Some(s) => format!("exited early ({s})"),
        None => "exited early".to_string(),
    }
}

/// Outcome of one launch attempt of a server process.
pub(super) enum Launch {
    Ready(ServerProcess),
    /// The server could not bind its port (someone else took it).
    PortInUse,
    Failed(String),
}

/// Launches a server again on the ports it had (after a stop), retrying while another process
/// still holds one of them, up to [`TIMEOUT`].
pub(super) fn relaunch(mut launch: impl FnMut() -> Launch) -> Result<ServerProcess, String> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match launch() {
            Launch::Ready(process) => return Ok(process),
            Launch::PortInUse if Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(200))
            }
            Launch::PortInUse => return Err("the ports stayed in use".to_string()),
            Launch::Failed(msg) => return Err(format!("failed: {msg}")),
        }
    }
}
