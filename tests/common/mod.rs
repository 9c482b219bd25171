//! Integration-test harness: owns starting REAL mail servers on 127.0.0.1 for tests — an isolated Dovecot (IMAP + IMAPS) per test, Postfix's `smtp-sink` as an SMTP capture server, and tiny hand-written IMAP/SMTP clients to feed and inspect them.
//!
//! Deliberately uses only `std` + `tempfile` (no tokio, nothing from the
//! `deskgate` library), so it keeps working while the library changes.
//!
//! Every server instance lives in its own temporary directory with its own
//! ports, sockets, state and logs, so tests can run in parallel threads.
//! Every wait is bounded (see [`TIMEOUT`]); failures panic with the tail of
//! the server's log files.
//!
//! Requirements (see `.ci/run`): Linux, `dovecot` 2.3.x (`dovecot-imapd`),
//! Postfix's `smtp-sink`, and the `openssl` CLI. Running as root works.

// Every integration test binary includes this module with `mod common;` but
// each one uses only a subset of it, so unused items are expected here.
// (So a `mod common;` declaration must NOT add its own `#[allow(dead_code)]`:
// clippy rejects the duplicate.)
#![allow(dead_code)]

use std::collections::HashSet;
use std::fmt::Display;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, UNIX_EPOCH};

use tempfile::TempDir;

/// Upper bound for every wait in this harness (server start-up, greetings,
/// IMAP/SMTP replies, subprocesses).
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// How many log lines to show in panic messages.
const LOG_TAIL_LINES: usize = 60;

const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;

// ---------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------

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
    let deadline = Instant::now() + timeout;
    while !port_open(port) {
        if Instant::now() >= deadline {
            panic!(
                "wait_port: nothing accepted connections on 127.0.0.1:{port} within {timeout:?}"
            );
        }
        thread::sleep(Duration::from_millis(25));
    }
}

/// Wait until 127.0.0.1:`port` refuses TCP connections; panics after `timeout`.
pub fn wait_port_closed(port: u16, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while port_open(port) {
        if Instant::now() >= deadline {
            panic!(
                "wait_port_closed: 127.0.0.1:{port} still accepts connections after {timeout:?}"
            );
        }
        thread::sleep(Duration::from_millis(25));
    }
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/// libc functions (std already links libc; no crate needed).
mod sys {
    extern "C" {
        pub fn kill(pid: i32, sig: i32) -> i32;
        pub fn geteuid() -> u32;
        pub fn getegid() -> u32;
    }
    pub const SIGKILL: i32 = 9;
    pub const SIGTERM: i32 = 15;
}

fn send_signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions. It is only called
    // with the pid / process group of a child this harness spawned and has
    // not reaped yet, so the id cannot have been recycled (the one exception
    // is the timeout path of `run_with_timeout`, where a child finishing at
    // that very instant is a theoretical race).
    unsafe {
        sys::kill(pid, sig);
    }
}

fn euid() -> u32 {
    // SAFETY: geteuid(2) always succeeds and has no preconditions.
    unsafe { sys::geteuid() }
}

fn egid() -> u32 {
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

fn log_report(logs: &[&Path]) -> String {
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
struct ServerProcess {
    child: Option<Child>,
    pid: i32,
    /// Set if the child had to be reaped early (no /proc): from then on its
    /// pid/group id may be recycled and must not be signalled.
    reaped: bool,
}

impl ServerProcess {
    fn spawn(what: &str, mut cmd: Command, output_log: &Path) -> ServerProcess {
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
    fn has_exited(&mut self) -> bool {
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
    fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
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
fn run_ok(cmd: &mut Command, what: &str) -> Output {
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
fn find_binary(name: &str, candidates: &[&str]) -> PathBuf {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

fn make_tempdir(prefix: &str) -> TempDir {
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

fn mkdir(path: &Path, mode: u32) {
    fs::create_dir_all(path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

fn write_file(path: &Path, contents: impl AsRef<[u8]>) {
    fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// (uid, gid) of a user from /etc/passwd.
fn passwd_lookup(name: &str) -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() > 3 && f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

/// User name of a uid from /etc/passwd.
fn passwd_name(uid: u32) -> Option<String> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() > 2 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[0].to_string())
    })
}

/// Group name of a gid from /etc/group.
fn group_name(gid: u32) -> Option<String> {
    let group = fs::read_to_string("/etc/group").ok()?;
    group.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() > 2 && f[2].parse::<u32>().ok() == Some(gid)).then(|| f[0].to_string())
    })
}

fn what_happened(status: Option<ExitStatus>) -> String {
    match status {
        Some(s) => format!("exited early ({s})"),
        None => "exited early".to_string(),
    }
}

/// Outcome of one launch attempt of a server process.
enum Launch {
    Ready(ServerProcess),
    /// The server could not bind its port (someone else took it).
    PortInUse,
    Failed(String),
}

// ---------------------------------------------------------------------------
// TLS material
// ---------------------------------------------------------------------------

const OPENSSL_CNF: &str = "\
# Generated by tests/common/mod.rs (independent of the system openssl.cnf).
[req]
distinguished_name = dn
prompt = no
[dn]
CN = deskgate test
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

/// Paths of the generated TLS files.
pub struct Tls {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

/// Generate a throw-away CA plus a server certificate (CN 127.0.0.1, SAN
/// IP:127.0.0.1 + DNS:localhost) signed by it, with the `openssl` CLI.
///
/// A separate CA (instead of one self-signed leaf) is used because webpki /
/// rustls rejects a CA:TRUE certificate used as the server certificate.
pub fn make_tls(dir: &Path) -> Tls {
    mkdir(dir, 0o755);
    let cnf = dir.join("openssl.cnf");
    write_file(&cnf, OPENSSL_CNF);
    let tls = Tls {
        ca_cert: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
    };
    let ca_key = dir.join("ca.key");
    let csr = dir.join("server.csr");
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    run_ok(
        Command::new("openssl")
            .args(["req", "-x509", "-config"])
            .arg(&cnf)
            .args(["-extensions", "v3_ca"])
            .args(ec)
            .args(["-nodes", "-sha256", "-days", "3650"])
            .args(["-subj", "/CN=deskgate test CA"])
            .arg("-keyout")
            .arg(&ca_key)
            .arg("-out")
            .arg(&tls.ca_cert),
        "openssl (test CA)",
    );
    run_ok(
        Command::new("openssl")
            .args(["req", "-new", "-config"])
            .arg(&cnf)
            .args(ec)
            .args(["-nodes", "-subj", "/CN=127.0.0.1"])
            .arg("-keyout")
            .arg(&tls.server_key)
            .arg("-out")
            .arg(&csr),
        "openssl (server key)",
    );
    run_ok(
        Command::new("openssl")
            .args(["x509", "-req", "-in"])
            .arg(&csr)
            .arg("-CA")
            .arg(&tls.ca_cert)
            .arg("-CAkey")
            .arg(&ca_key)
            .arg("-CAcreateserial")
            .arg("-CAserial")
            .arg(dir.join("ca.srl"))
            .args(["-sha256", "-days", "3650", "-extfile"])
            .arg(&cnf)
            .args(["-extensions", "v3_leaf", "-out"])
            .arg(&tls.server_cert),
        "openssl (sign server cert)",
    );
    tls
}

// ---------------------------------------------------------------------------
// Dovecot
// ---------------------------------------------------------------------------

/// An isolated Dovecot instance on 127.0.0.1 with a plaintext `imap` and an
/// implicit-TLS `imaps` listener, passwd-file users (PLAIN passwords) and
/// Maildir storage in its own temp dir. Killed on drop. Written for 2.3
/// (Debian bookworm); writes 2.4 config syntax when 2.4 is installed.
pub struct Dovecot {
    imap_port: u16,
    imaps_port: u16,
    conf: PathBuf,
    log: PathBuf,
    output_log: PathBuf,
    home: PathBuf,
    tls: Tls,
    users: Vec<(String, String)>,
    process: Option<ServerProcess>,
    // Dropped last: the directory must outlive the server.
    dir: TempDir,
}

impl Dovecot {
    /// Start a fresh Dovecot with the given `(user, password)` accounts and
    /// wait until its IMAP port greets. Panics (with the log) on failure.
    pub fn start(users: &[(&str, &str)]) -> Dovecot {
        let dir = make_tempdir("deskgate-dovecot-");
        let root = dir.path().to_path_buf();
        let root_str = root.to_str().expect("temp dir path is UTF-8");
        assert!(
            !root_str.contains(|c: char| c.is_whitespace() || c == '"' || c == '%'),
            "Dovecot::start: temp dir path {root_str:?} cannot be used in dovecot.conf"
        );
        for dir in ["run", "state"] {
            mkdir(&root.join(dir), 0o755);
        }
        let home = root.join("home");
        mkdir(&home, 0o755);

        let (mail_uid, mail_gid) = mail_owner();
        let mut passwd = String::new();
        for (user, password) in users {
            for (what, value) in [("user", user), ("password", password)] {
                // Dovecot lower-cases login names by default, so upper-case
                // user names would not match their passwd-file line.
                assert!(
                    !value.is_empty()
                        && !value.contains([':', '\n', '\r', '\0'])
                        && (what == "password"
                            || !value.contains(|c: char| {
                                matches!(c, '/' | '%' | ' ' | '"' | '\\') || c.is_uppercase()
                            })),
                    "Dovecot::start: unsupported {what} {value:?}"
                );
            }
            passwd.push_str(&format!("{user}:{{PLAIN}}{password}::::::\n"));
            let user_home = home.join(user);
            mkdir(&user_home, 0o700);
            std::os::unix::fs::chown(&user_home, Some(mail_uid), Some(mail_gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", user_home.display()));
        }
        let users_file = root.join("users");
        write_file(&users_file, passwd);

        let tls = make_tls(&root.join("tls"));

        let mut dovecot = Dovecot {
            imap_port: 0,
            imaps_port: 0,
            conf: root.join("dovecot.conf"),
            log: root.join("dovecot.log"),
            output_log: root.join("dovecot.out"),
            home,
            tls,
            users: users
                .iter()
                .map(|(u, p)| (u.to_string(), p.to_string()))
                .collect(),
            process: None,
            dir,
        };

        let mut last_error = String::new();
        for _attempt in 0..5 {
            dovecot.imap_port = free_port();
            dovecot.imaps_port = free_port();
            dovecot.write_config(mail_uid, mail_gid);
            match dovecot.launch() {
                Launch::Ready(process) => {
                    dovecot.process = Some(process);
                    return dovecot;
                }
                Launch::PortInUse => {
                    last_error = "ports taken by another process".to_string();
                }
                Launch::Failed(msg) => dovecot.fail(format!("cannot start Dovecot: {msg}")),
            }
        }
        dovecot.fail(format!(
            "cannot start Dovecot after 5 attempts: {last_error}"
        ))
    }

    /// Plaintext IMAP port on 127.0.0.1 (LOGIN allowed without TLS).
    pub fn imap_port(&self) -> u16 {
        self.imap_port
    }

    /// Implicit-TLS IMAP port on 127.0.0.1.
    pub fn imaps_port(&self) -> u16 {
        self.imaps_port
    }

    /// PEM of the CA that signed the server certificate — the one to trust.
    /// The server certificate is valid for `127.0.0.1` and `localhost`.
    pub fn ca_cert_path(&self) -> &Path {
        &self.tls.ca_cert
    }

    /// The server certificate (leaf, PEM).
    pub fn server_cert_path(&self) -> &Path {
        &self.tls.server_cert
    }

    /// The Maildir of `user` (INBOX is its root; other folders are
    /// Maildir++ `.Name` subdirectories). Created by Dovecot on first access.
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.home.join(user).join("Maildir")
    }

    /// Dovecot's log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The generated dovecot.conf.
    pub fn config_path(&self) -> &Path {
        &self.conf
    }

    /// The instance's temp dir (config, logs, TLS files, homes).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The `(user, password)` accounts it was started with.
    pub fn users(&self) -> &[(String, String)] {
        &self.users
    }

    /// Whether the server is currently started.
    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    /// Stop the server (SIGTERM, then SIGKILL of leftovers) and wait until
    /// both ports refuse connections. Data stays. No-op if stopped.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.terminate(Duration::from_secs(10));
            for port in [self.imap_port, self.imaps_port] {
                wait_port_closed(port, TIMEOUT);
            }
        }
    }

    /// Kill the server abruptly (SIGKILL to all its processes, like a crash
    /// or power loss) and wait until both ports refuse connections.
    /// Faster than [`Dovecot::stop`]. No-op if stopped.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.terminate(Duration::ZERO);
            for port in [self.imap_port, self.imaps_port] {
                wait_port_closed(port, TIMEOUT);
            }
        }
    }

    /// Stop (if running) and start again on the same ports with the same
    /// data. Retries while a port is still in use, up to [`TIMEOUT`].
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.launch() {
                Launch::Ready(process) => {
                    self.process = Some(process);
                    return;
                }
                Launch::PortInUse if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(200))
                }
                Launch::PortInUse => self.fail("restart: ports stayed in use"),
                Launch::Failed(msg) => self.fail(format!("restart failed: {msg}")),
            }
        }
    }

    /// Deliver one message with IMAP APPEND (creating `mailbox` if needed).
    /// Returns the APPENDUID, or 0 if the server did not report one.
    pub fn append(&self, user: &str, password: &str, mailbox: &str, raw: &[u8]) -> u32 {
        let mut imap = self.login(user, password);
        let uid = imap
            .append(mailbox, raw)
            .unwrap_or_else(|e| self.fail(format!("APPEND for {user}: {e}")));
        imap.logout();
        uid
    }

    /// Deliver many messages over ONE connection, in MULTIAPPEND batches
    /// (up to 100 messages / 4 MiB per APPEND command). Returns the
    /// APPENDUIDs in order (0 where none was reported).
    pub fn append_many<I, M>(&self, user: &str, password: &str, mailbox: &str, mails: I) -> Vec<u32>
    where
        I: IntoIterator<Item = M>,
        M: AsRef<[u8]>,
    {
        const MAX_BATCH: usize = 100;
        const MAX_BATCH_BYTES: usize = 4 << 20;
        let mut imap = self.login(user, password);
        let mut uids = Vec::new();
        let mut batch: Vec<M> = Vec::new();
        let mut batch_bytes = 0;
        let mut flush = |batch: &mut Vec<M>, uids: &mut Vec<u32>| {
            let refs: Vec<&[u8]> = batch.iter().map(AsRef::as_ref).collect();
            let done = uids.len();
            uids.extend(imap.append_batch(mailbox, &refs).unwrap_or_else(|e| {
                self.fail(format!(
                    "APPEND of mails #{done}..#{} for {user}: {e}",
                    done + refs.len() - 1
                ))
            }));
            batch.clear();
        };
        for raw in mails {
            batch_bytes += raw.as_ref().len();
            batch.push(raw);
            if batch.len() >= MAX_BATCH || batch_bytes >= MAX_BATCH_BYTES {
                flush(&mut batch, &mut uids);
                batch_bytes = 0;
            }
        }
        if !batch.is_empty() {
            flush(&mut batch, &mut uids);
        }
        imap.logout();
        uids
    }

    /// Create a mailbox (no error if it already exists).
    pub fn create_mailbox(&self, user: &str, password: &str, mailbox: &str) {
        let mut imap = self.login(user, password);
        imap.create(mailbox)
            .unwrap_or_else(|e| self.fail(format!("CREATE for {user}: {e}")));
        imap.logout();
    }

    /// Number of messages in `mailbox` (STATUS MESSAGES).
    pub fn count(&self, user: &str, password: &str, mailbox: &str) -> u32 {
        let mut imap = self.login(user, password);
        let cmd = format!("STATUS {} (MESSAGES)", quote(mailbox));
        let (untagged, _) = imap
            .command(&cmd)
            .unwrap_or_else(|e| self.fail(format!("{user}: {e}")));
        imap.logout();
        untagged
            .iter()
            .find_map(|line| number_after(line, "MESSAGES "))
            .unwrap_or_else(|| self.fail(format!("no MESSAGES in STATUS reply: {untagged:?}")))
    }

    /// `(uid, flags)` of every message in `mailbox`, sorted by UID, via
    /// `UID FETCH 1:* (FLAGS)` in a read-only EXAMINE session. Flags are
    /// space-separated as the server sent them, minus the session-dependent
    /// `\Recent` (so a fresh, untouched message has `""`).
    pub fn flags(&self, user: &str, password: &str, mailbox: &str) -> Vec<(u32, String)> {
        let mut imap = self.login(user, password);
        let (untagged, _) = imap
            .command(&format!("EXAMINE {}", quote(mailbox)))
            .unwrap_or_else(|e| self.fail(format!("{user}: {e}")));
        let exists = untagged
            .iter()
            .find_map(|l| {
                l.strip_suffix(" EXISTS")?
                    .strip_prefix("* ")?
                    .parse::<u32>()
                    .ok()
            })
            .unwrap_or(0);
        let mut result = Vec::new();
        if exists > 0 {
            let (untagged, _) = imap
                .command("UID FETCH 1:* (FLAGS)")
                .unwrap_or_else(|e| self.fail(format!("{user}: {e}")));
            for line in untagged.iter().filter(|l| l.contains(" FETCH (")) {
                let uid = number_after(line, "UID ")
                    .unwrap_or_else(|| self.fail(format!("no UID in {line:?}")));
                let flags = line
                    .split_once("FLAGS (")
                    .and_then(|(_, rest)| rest.split_once(')'))
                    .map(|(flags, _)| flags)
                    .unwrap_or_else(|| self.fail(format!("no FLAGS in {line:?}")));
                let flags: Vec<&str> = flags
                    .split_whitespace()
                    .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
                    .collect();
                result.push((uid, flags.join(" ")));
            }
        }
        imap.logout();
        result.sort_by_key(|(uid, _)| *uid);
        result
    }

    /// UIDVALIDITY of `mailbox` as reported by SELECT.
    pub fn uidvalidity(&self, user: &str, password: &str, mailbox: &str) -> u32 {
        let mut imap = self.login(user, password);
        let (untagged, _) = imap
            .command(&format!("SELECT {}", quote(mailbox)))
            .unwrap_or_else(|e| self.fail(format!("{user}: {e}")));
        imap.logout();
        untagged
            .iter()
            .find_map(|line| number_after(line, "[UIDVALIDITY "))
            .unwrap_or_else(|| self.fail(format!("no UIDVALIDITY in SELECT reply: {untagged:?}")))
    }

    /// Make the server change the UIDVALIDITY of `user`'s INBOX (like a
    /// mailbox rebuilt on the server) and return the new value. Needs the
    /// server to be running. Messages stay; clients must resync.
    pub fn uidvalidity_reset(&self, user: &str) -> u32 {
        self.uidvalidity_reset_mailbox(user, "INBOX")
    }

    /// [`Dovecot::uidvalidity_reset`] for any mailbox. Uses
    /// `doveadm mailbox update --uid-validity <old+1>` and verifies the
    /// change with `doveadm mailbox status`.
    pub fn uidvalidity_reset_mailbox(&self, user: &str, mailbox: &str) -> u32 {
        if !self.is_running() {
            self.fail("uidvalidity_reset needs a running server (doveadm asks its auth service)");
        }
        let old = self.doveadm_uidvalidity(user, mailbox);
        let new = if old == u32::MAX { 1 } else { old + 1 };
        self.doveadm(&[
            "mailbox",
            "update",
            "-u",
            user,
            "--uid-validity",
            &new.to_string(),
            mailbox,
        ]);
        let now = self.doveadm_uidvalidity(user, mailbox);
        if now != new {
            self.fail(format!(
                "uidvalidity_reset: {user}/{mailbox} UIDVALIDITY is {now}, expected {new} (was {old})"
            ));
        }
        new
    }

    /// A logged-in IMAP session (plaintext port). Panics on failure.
    pub fn imap(&self, user: &str, password: &str) -> ImapClient {
        self.login(user, password)
    }

    /// Panic with `msg` plus the tail of Dovecot's logs.
    pub fn fail(&self, msg: impl Display) -> ! {
        panic!(
            "[Dovecot imap={} imaps={} dir={}] {msg}{}",
            self.imap_port,
            self.imaps_port,
            self.dir.path().display(),
            log_report(&[&self.log, &self.output_log])
        )
    }

    fn login(&self, user: &str, password: &str) -> ImapClient {
        let mut imap = ImapClient::connect(self.imap_port)
            .unwrap_or_else(|e| self.fail(format!("IMAP connect: {e}")));
        imap.login(user, password)
            .unwrap_or_else(|e| self.fail(format!("IMAP login: {e}")));
        imap
    }

    fn doveadm(&self, args: &[&str]) -> String {
        let doveadm = find_binary("doveadm", &["/usr/bin/doveadm"]);
        let out = run_with_timeout(
            Command::new(doveadm).arg("-c").arg(&self.conf).args(args),
            TIMEOUT,
        );
        if !out.status.success() {
            self.fail(format!(
                "doveadm {args:?} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn doveadm_uidvalidity(&self, user: &str, mailbox: &str) -> u32 {
        let out = self.doveadm(&["mailbox", "status", "-u", user, "uidvalidity", mailbox]);
        number_after(&out, "uidvalidity=")
            .unwrap_or_else(|| self.fail(format!("no uidvalidity in doveadm output {out:?}")))
    }

    fn write_config(&self, mail_uid: u32, mail_gid: u32) {
        let root = self.dir.path().display();
        let (imap, imaps) = (self.imap_port, self.imaps_port);
        // When not root, Dovecot must run everything as the current user and
        // cannot chroot its login/anvil processes.
        let (unprivileged, login_chroot) = if euid() == 0 {
            (String::new(), "")
        } else {
            let me = passwd_name(euid())
                .unwrap_or_else(|| panic!("Dovecot: uid {} not in /etc/passwd", euid()));
            let group = group_name(egid())
                .unwrap_or_else(|| panic!("Dovecot: gid {} not in /etc/group", egid()));
            (
                format!(
                    "default_login_user = {me}\ndefault_internal_user = {me}\n\
                     default_internal_group = {group}\n\
                     service anvil {{\n  chroot =\n}}\n"
                ),
                "  chroot =\n",
            )
        };
        let (cert, key) = (
            self.tls.server_cert.display(),
            self.tls.server_key.display(),
        );
        // The settings that differ between the 2.3 and 2.4 config syntax.
        // (Only the 2.3 variant is exercised on Debian bookworm; the 2.4 one
        // follows the upstream 2.3 -> 2.4 upgrade guide.)
        let (head, version_specific) = if dovecot_version() >= (2, 4) {
            (
                "dovecot_config_version = 2.4.0\ndovecot_storage_version = 2.4.0\n",
                format!(
                    "auth_allow_cleartext = yes
mail_driver = maildir
mail_path = ~/Maildir
mail_home = {root}/home/%{{user}}
ssl_server_cert_file = {cert}
ssl_server_key_file = {key}
namespace inbox {{
  inbox = yes
}}
passdb passwd-file {{
  passwd_file_path = {root}/users
}}
userdb passwd-file {{
  passwd_file_path = {root}/users
}}
"
                ),
            )
        } else {
            (
                "",
                format!(
                    "disable_plaintext_auth = no
auth_verbose = yes
auth_failure_delay = 0
mail_location = maildir:~/Maildir
mail_home = {root}/home/%u
ssl_cert = <{cert}
ssl_key = <{key}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users
}}
"
                ),
            )
        };
        let conf = format!(
            "{head}# Generated by tests/common/mod.rs: one isolated Dovecot test instance.
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = deskgate-test-{imap}
log_path = {root}/dovecot.log
auth_mechanisms = plain login
mail_uid = {mail_uid}
mail_gid = {mail_gid}
first_valid_uid = {mail_uid}
last_valid_uid = {mail_uid}
first_valid_gid = {mail_gid}
last_valid_gid = {mail_gid}
mail_fsync = never
ssl = yes
{version_specific}{unprivileged}protocol imap {{
  mail_max_userip_connections = 1000
}}
service imap-login {{
{login_chroot}  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
"
        );
        write_file(&self.conf, conf);
    }

    fn launch(&self) -> Launch {
        // Only look at log lines written by this launch attempt.
        let log_len = |p: &Path| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let (log_start, out_start) = (log_len(&self.log), log_len(&self.output_log));
        let dovecot = find_binary("dovecot", &["/usr/sbin/dovecot"]);
        let mut cmd = Command::new(dovecot);
        cmd.arg("-F").arg("-c").arg(&self.conf);
        let mut process = ServerProcess::spawn("dovecot", cmd, &self.output_log);
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if process.has_exited() {
                let status = process.terminate(Duration::ZERO);
                let new_text = |p: &Path, start: u64| {
                    fs::read(p)
                        .map(|b| {
                            String::from_utf8_lossy(&b[(start as usize).min(b.len())..])
                                .into_owned()
                        })
                        .unwrap_or_default()
                };
                let text = new_text(&self.log, log_start) + &new_text(&self.output_log, out_start);
                if text.contains("Address already in use") {
                    return Launch::PortInUse;
                }
                return Launch::Failed(what_happened(status));
            }
            if let Ok(greeting) = read_greeting(self.imap_port) {
                if greeting.starts_with("* OK") && port_open(self.imaps_port) {
                    return Launch::Ready(process);
                }
                if !greeting.starts_with("* OK") {
                    process.terminate(Duration::ZERO);
                    return Launch::Failed(format!("unexpected IMAP greeting {greeting:?}"));
                }
            }
            if Instant::now() >= deadline {
                process.terminate(Duration::ZERO);
                return Launch::Failed(format!("no IMAP greeting within {TIMEOUT:?}"));
            }
            thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.terminate(Duration::ZERO);
        }
    }
}

/// `(major, minor)` of the installed Dovecot (`dovecot --version`), which
/// decides between the 2.3 and the (incompatible) 2.4 config syntax.
pub fn dovecot_version() -> (u32, u32) {
    static VERSION: OnceLock<(u32, u32)> = OnceLock::new();
    *VERSION.get_or_init(|| {
        let dovecot = find_binary("dovecot", &["/usr/sbin/dovecot"]);
        let out = run_ok(Command::new(dovecot).arg("--version"), "dovecot --version");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut parts = text.split(|c: char| !c.is_ascii_digit());
        match (parts.next().map(str::parse), parts.next().map(str::parse)) {
            (Some(Ok(major)), Some(Ok(minor))) => (major, minor),
            _ => panic!("cannot parse `dovecot --version` output {text:?}"),
        }
    })
}

/// uid/gid that owns the mailboxes. Dovecot refuses mail access as root, so
/// when running as root the mail user is `nobody`.
fn mail_owner() -> (u32, u32) {
    if euid() == 0 {
        passwd_lookup("nobody").unwrap_or((65534, 65534))
    } else {
        (euid(), egid())
    }
}

/// Connect and read the first line the server sends.
fn read_greeting(port: u16) -> std::io::Result<String> {
    let stream =
        TcpStream::connect_timeout(&SocketAddr::from((LOOPBACK, port)), Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    Ok(line.trim_end().to_string())
}

/// The number right after the first occurrence of `key` in `text`.
fn number_after(text: &str, key: &str) -> Option<u32> {
    let rest = &text[text.find(key)? + key.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// IMAP quoted string.
fn quote(s: &str) -> String {
    assert!(
        !s.contains(['\r', '\n', '\0']) && s.is_ascii(),
        "IMAP quote: unsupported string {s:?}"
    );
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

// ---------------------------------------------------------------------------
// Minimal IMAP client (blocking std TcpStream, timeouts on every read/write)
// ---------------------------------------------------------------------------

/// A minimal blocking IMAP client for feeding/inspecting test servers.
/// Not a general-purpose client: no parsing beyond what the harness needs.
pub struct ImapClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    tag: u32,
    /// Capabilities seen so far (greeting, LOGIN reply), upper-case.
    capabilities: String,
}

impl ImapClient {
    /// Connect to 127.0.0.1:`port` and read the `* OK` greeting.
    pub fn connect(port: u16) -> Result<ImapClient, String> {
        let stream = TcpStream::connect_timeout(&SocketAddr::from((LOOPBACK, port)), TIMEOUT)
            .map_err(|e| format!("connect 127.0.0.1:{port}: {e}"))?;
        stream
            .set_read_timeout(Some(TIMEOUT))
            .and_then(|_| stream.set_write_timeout(Some(TIMEOUT)))
            .and_then(|_| stream.set_nodelay(true))
            .map_err(|e| e.to_string())?;
        let writer = stream.try_clone().map_err(|e| e.to_string())?;
        let mut client = ImapClient {
            reader: BufReader::new(stream),
            writer,
            tag: 0,
            capabilities: String::new(),
        };
        let greeting = client.read_line()?;
        if !greeting.starts_with("* OK") {
            return Err(format!("unexpected greeting {greeting:?}"));
        }
        client.note_capabilities(&greeting);
        Ok(client)
    }

    /// LOGIN (password is kept out of error messages).
    pub fn login(&mut self, user: &str, password: &str) -> Result<(), String> {
        let cmd = format!("LOGIN {} {}", quote(user), quote(password));
        let (untagged, tagged) = self.command_quiet(&cmd)?;
        for line in untagged.iter().chain([&tagged]) {
            self.note_capabilities(line);
        }
        if ok_status(&tagged) {
            Ok(())
        } else {
            Err(format!("LOGIN as {user:?} rejected: {tagged}"))
        }
    }

    /// Send one command; return `(untagged lines, tagged line)` if the
    /// tagged status is OK, else an error with the server's reply.
    pub fn command(&mut self, cmd: &str) -> Result<(Vec<String>, String), String> {
        let (untagged, tagged) = self.command_quiet(cmd)?;
        if ok_status(&tagged) {
            Ok((untagged, tagged))
        } else {
            Err(format!("{cmd} -> {tagged}"))
        }
    }

    /// APPEND one message; CREATEs the mailbox and retries on `[TRYCREATE]`.
    /// Returns the APPENDUID or 0.
    pub fn append(&mut self, mailbox: &str, raw: &[u8]) -> Result<u32, String> {
        Ok(self.append_batch(mailbox, &[raw])?[0])
    }

    /// APPEND several messages with ONE command (MULTIAPPEND, RFC 3502) if
    /// the server supports it, else one by one; CREATEs the mailbox and
    /// retries on `[TRYCREATE]`. Returns the APPENDUIDs (0s if unknown).
    pub fn append_batch(&mut self, mailbox: &str, mails: &[&[u8]]) -> Result<Vec<u32>, String> {
        if mails.is_empty() {
            return Ok(Vec::new());
        }
        if mails.len() > 1 && !self.has_capability("MULTIAPPEND") {
            return mails.iter().map(|raw| self.append(mailbox, raw)).collect();
        }
        match self.append_once(mailbox, mails) {
            Err(e) if e.contains("[TRYCREATE]") => {
                self.create(mailbox)?;
                self.append_once(mailbox, mails)
            }
            other => other,
        }
    }

    /// CREATE, accepting "already exists".
    pub fn create(&mut self, mailbox: &str) -> Result<(), String> {
        match self.command(&format!("CREATE {}", quote(mailbox))) {
            Err(e) if e.contains("[ALREADYEXISTS]") => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// LOGOUT, ignoring errors (the server may close first).
    pub fn logout(mut self) {
        let _ = self.command_quiet("LOGOUT");
    }

    fn has_capability(&self, name: &str) -> bool {
        self.capabilities.split_whitespace().any(|c| c == name)
    }

    fn note_capabilities(&mut self, line: &str) {
        let upper = line.to_ascii_uppercase();
        if let Some((_, rest)) = upper.split_once("CAPABILITY ") {
            let caps = rest.split(']').next().unwrap_or(rest);
            self.capabilities.push(' ');
            self.capabilities.push_str(caps);
        }
    }

    /// One APPEND command carrying all `mails` as literals.
    fn append_once(&mut self, mailbox: &str, mails: &[&[u8]]) -> Result<Vec<u32>, String> {
        let tag = self.next_tag();
        let literal_plus = self.has_capability("LITERAL+");
        let plus = if literal_plus { "+" } else { "" };
        let mut buf = format!("{tag} APPEND {}", quote(mailbox)).into_bytes();
        for raw in mails {
            buf.extend_from_slice(format!(" {{{}{plus}}}\r\n", raw.len()).as_bytes());
            if !literal_plus {
                // Synchronising literal: wait for the "+" continuation.
                self.write(&buf)?;
                buf.clear();
                let line = self.read_line()?;
                if !line.starts_with('+') {
                    return Err(format!("APPEND to {mailbox} -> {line}"));
                }
            }
            buf.extend_from_slice(raw);
        }
        buf.extend_from_slice(b"\r\n");
        self.write(&buf)?;
        let (_, tagged) = self.read_until_tagged(&tag)?;
        if !ok_status(&tagged) {
            return Err(format!("APPEND to {mailbox} -> {tagged}"));
        }
        // "[APPENDUID <uidvalidity> <uid-set>]", e.g. "[APPENDUID 17 901:1000]"
        let uids = tagged
            .split_once("[APPENDUID ")
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .map(|set| expand_uid_set(set.trim_end_matches(']')))
            .unwrap_or_default();
        Ok(if uids.len() == mails.len() {
            uids
        } else {
            vec![0; mails.len()]
        })
    }

    fn command_quiet(&mut self, cmd: &str) -> Result<(Vec<String>, String), String> {
        let tag = self.next_tag();
        self.write(format!("{tag} {cmd}\r\n").as_bytes())?;
        self.read_until_tagged(&tag)
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("h{}", self.tag)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.writer
            .write_all(bytes)
            .map_err(|e| format!("IMAP write: {e}"))
    }

    fn read_until_tagged(&mut self, tag: &str) -> Result<(Vec<String>, String), String> {
        let mut untagged = Vec::new();
        let prefix = format!("{tag} ");
        loop {
            let line = self.read_line()?;
            if let Some(rest) = line.strip_prefix(&prefix) {
                return Ok((untagged, rest.to_string()));
            }
            untagged.push(line);
        }
    }

    /// One response line without CRLF; a trailing `{n}` literal is read and
    /// inlined (lossy UTF-8) together with the rest of the line.
    fn read_line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        loop {
            let mut buf = Vec::new();
            let n = self
                .reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| format!("IMAP read: {e}"))?;
            if n == 0 {
                return Err(format!(
                    "IMAP: connection closed by server (after {line:?})"
                ));
            }
            let part = String::from_utf8_lossy(&buf);
            let part = part.trim_end_matches(['\r', '\n']);
            line.push_str(part);
            let literal = part
                .strip_suffix('}')
                .and_then(|p| p.rsplit_once('{'))
                .and_then(|(_, n)| n.parse::<usize>().ok());
            match literal {
                Some(len) => {
                    let mut data = vec![0; len];
                    self.reader
                        .read_exact(&mut data)
                        .map_err(|e| format!("IMAP read literal: {e}"))?;
                    line.push_str(&String::from_utf8_lossy(&data));
                }
                None => return Ok(line),
            }
        }
    }
}

fn ok_status(tagged: &str) -> bool {
    tagged.starts_with("OK")
}

/// "1,3:5" -> [1, 3, 4, 5]; unparsable parts are skipped.
fn expand_uid_set(set: &str) -> Vec<u32> {
    let mut uids = Vec::new();
    for part in set.split(',') {
        match part.split_once(':') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    uids.extend(a.min(b)..=a.max(b));
                }
            }
            None => uids.extend(part.parse::<u32>().ok()),
        }
    }
    uids
}

// ---------------------------------------------------------------------------
// smtp-sink
// ---------------------------------------------------------------------------

/// One mail transaction captured by [`SmtpSink`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// MAIL FROM address without `<>` and parameters ("" for the null sender).
    pub mail_from: String,
    /// RCPT TO addresses (accepted ones), in order, without `<>`/parameters.
    pub rcpt_to: Vec<String>,
    /// The message as sent in DATA: dot-unstuffed, CRLF line endings.
    /// (smtp-sink stores lines without CR, so a bare LF sent by the client
    /// also comes back as CRLF, and bare CRs are lost.)
    pub raw: Vec<u8>,
    /// HELO/EHLO argument, if the client sent one.
    pub helo: Option<String>,
}

impl Captured {
    /// `raw` as (lossy) UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }

    /// First header `name` (case-insensitive), unfolded, value trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        let text = self.text();
        let head = text.split("\r\n\r\n").next().unwrap_or("");
        let mut found: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(value) = found.as_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
                continue;
            }
            if found.is_some() {
                break;
            }
            if let Some((key, value)) = line.split_once(':') {
                if key.trim().eq_ignore_ascii_case(name) {
                    found = Some(value.trim().to_string());
                }
            }
        }
        found
    }
}

/// Postfix's `smtp-sink` on 127.0.0.1 dumping every mail transaction to its
/// own file (`-d`), parsed back as [`Captured`]. Killed on drop.
pub struct SmtpSink {
    port: u16,
    args: Vec<String>,
    dump_dir: PathBuf,
    log: PathBuf,
    process: Option<ServerProcess>,
    dir: TempDir,
}

impl SmtpSink {
    /// Start an accepting sink on a free port.
    pub fn start() -> SmtpSink {
        SmtpSink::start_with_args(&[])
    }

    /// Start with extra smtp-sink options, e.g. `&["-r", "rcpt"]` (soft 4xx
    /// for RCPT), `&["-f", "data"]` (hard 5xx), `&["-q", "mail"]`
    /// (disconnect) — see `man smtp-sink`. `-d`/`-D`/`-S`/`-u` are managed
    /// by the harness. Note: a rejection of "." (`-r .`/`-f .`) still leaves
    /// the dumped message behind.
    pub fn start_with_args(args: &[&str]) -> SmtpSink {
        for managed in ["-d", "-D", "-S", "-u", "-R"] {
            assert!(
                !args.contains(&managed),
                "SmtpSink: option {managed} is managed by the harness"
            );
        }
        let dir = make_tempdir("deskgate-smtp-sink-");
        let dump_dir = dir.path().join("dump");
        mkdir(&dump_dir, 0o755);
        let dump_dir = dump_dir
            .canonicalize()
            .unwrap_or_else(|e| panic!("canonicalize {}: {e}", dump_dir.display()));
        let mut sink = SmtpSink {
            port: 0,
            args: args.iter().map(|a| a.to_string()).collect(),
            dump_dir,
            log: dir.path().join("smtp-sink.log"),
            process: None,
            dir,
        };
        for _attempt in 0..5 {
            sink.port = free_port();
            match sink.launch() {
                Launch::Ready(process) => {
                    sink.process = Some(process);
                    return sink;
                }
                Launch::PortInUse => continue,
                Launch::Failed(msg) => sink.fail(format!("cannot start smtp-sink: {msg}")),
            }
        }
        sink.fail("cannot start smtp-sink: ports kept being taken")
    }

    /// SMTP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Directory holding one dump file per completed transaction.
    pub fn dump_dir(&self) -> &Path {
        &self.dump_dir
    }

    /// smtp-sink's stdout/stderr.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Whether the server is currently started.
    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    /// All completed transactions so far (including those from before a
    /// restart), oldest first. Transactions still in progress are skipped.
    pub fn messages(&self) -> Vec<Captured> {
        let open = self.open_dump_files();
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = fs::read_dir(&self.dump_dir)
            .unwrap_or_else(|e| self.fail(format!("read_dir {}: {e}", self.dump_dir.display())))
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let meta = entry.metadata().ok()?;
                let path = entry.path();
                (meta.is_file() && !open.contains(&path))
                    .then(|| (meta.modified().unwrap_or(UNIX_EPOCH), path))
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, path)| parse_dump(&fs::read(path).ok()?))
            .collect()
    }

    /// Poll until at least `n` transactions are captured; panics (with the
    /// sink's log) after `timeout`.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Captured> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            if Instant::now() >= deadline {
                self.fail(format!(
                    "wait_for: expected at least {n} message(s) within {timeout:?}, got {}: {messages:#?}",
                    messages.len()
                ));
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// Delete all captured messages.
    pub fn clear(&self) {
        for entry in fs::read_dir(&self.dump_dir).into_iter().flatten().flatten() {
            let _ = fs::remove_file(entry.path());
        }
    }

    /// Stop the server and wait until its port refuses connections.
    /// Captured messages stay. No-op if stopped.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.terminate(Duration::from_secs(5));
            wait_port_closed(self.port, TIMEOUT);
        }
    }

    /// Kill the server abruptly (SIGKILL); transactions in progress are
    /// cut off. No-op if stopped.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.terminate(Duration::ZERO);
            wait_port_closed(self.port, TIMEOUT);
        }
    }

    /// Stop (if running) and start again on the same port with the same
    /// options and dump directory.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.launch() {
                Launch::Ready(process) => {
                    self.process = Some(process);
                    return;
                }
                Launch::PortInUse if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(200))
                }
                Launch::PortInUse => self.fail("restart: port stayed in use"),
                Launch::Failed(msg) => self.fail(format!("restart failed: {msg}")),
            }
        }
    }

    /// Panic with `msg` plus the tail of smtp-sink's log.
    pub fn fail(&self, msg: impl Display) -> ! {
        panic!(
            "[smtp-sink port={} dir={}] {msg}{}",
            self.port,
            self.dir.path().display(),
            log_report(&[&self.log])
        )
    }

    fn launch(&self) -> Launch {
        let log_start = fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
        let binary = find_binary(
            "smtp-sink",
            &["/usr/sbin/smtp-sink", "/usr/lib/postfix/sbin/smtp-sink"],
        );
        let mut cmd = Command::new(binary);
        if euid() == 0 {
            // smtp-sink refuses to run as root without -u.
            cmd.args(["-u", "root"]);
        }
        // One file per transaction: <dump>/<strftime>.<random hex>.
        let template = format!(
            "{}/%Y%m%d%H%M%S.",
            self.dump_dir
                .to_str()
                .expect("UTF-8 path")
                .replace('%', "%%")
        );
        cmd.args(&self.args)
            .arg("-d")
            .arg(template)
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("128");
        let mut process = ServerProcess::spawn("smtp-sink", cmd, &self.log);
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if process.has_exited() {
                let status = process.terminate(Duration::ZERO);
                let text = fs::read(&self.log)
                    .map(|b| {
                        String::from_utf8_lossy(&b[(log_start as usize).min(b.len())..])
                            .into_owned()
                    })
                    .unwrap_or_default();
                if text.contains("Address already in use") {
                    return Launch::PortInUse;
                }
                return Launch::Failed(what_happened(status));
            }
            // Readiness = the port accepts. (Not reading the greeting, since
            // the extra options may change or suppress it.)
            if port_open(self.port) && !process.has_exited() {
                return Launch::Ready(process);
            }
            if Instant::now() >= deadline {
                process.terminate(Duration::ZERO);
                return Launch::Failed(format!("port not open within {TIMEOUT:?}"));
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// Dump files the running smtp-sink still has open (transactions in
    /// progress), from /proc/<pid>/fd.
    fn open_dump_files(&self) -> HashSet<PathBuf> {
        let Some(process) = self.process.as_ref() else {
            return HashSet::new();
        };
        fs::read_dir(format!("/proc/{}/fd", process.pid))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|fd| fs::read_link(fd.path()).ok())
            .filter(|target| target.starts_with(&self.dump_dir))
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.terminate(Duration::ZERO);
        }
    }
}

/// Parse one smtp-sink `-d` dump file:
///
/// ```text
/// X-Client-Addr: 127.0.0.1
/// X-Client-Proto: ESMTP
/// X-Helo-Args: client.example          (only if HELO/EHLO was sent)
/// X-Mail-Args: <a@x.org> SIZE=10        (everything after "MAIL FROM:")
/// X-Rcpt-Args: <b@y.org> NOTIFY=NEVER   (one per accepted RCPT)
/// Received: from client.example ([127.0.0.1])
/// \tby smtp-sink (smtp-sink) with ESMTP id 0ca6d402;
/// \tMon, 23 Nov 2026 18:45:23 +0000 (UTC)
/// <message as received: LF line ends, dot-unstuffed>
/// <one empty line>
/// ```
fn parse_dump(bytes: &[u8]) -> Option<Captured> {
    let mut pos = 0;
    let next_line = |pos: &mut usize| -> Option<String> {
        let rest = bytes.get(*pos..)?;
        let end = rest.iter().position(|&b| b == b'\n')?;
        *pos += end + 1;
        Some(String::from_utf8_lossy(&rest[..end]).into_owned())
    };
    let mut mail_from = None;
    let mut rcpt_to = Vec::new();
    let mut helo = None;
    loop {
        let line = next_line(&mut pos)?;
        if let Some(v) = line.strip_prefix("X-Mail-Args: ") {
            mail_from = Some(envelope_address(v));
        } else if let Some(v) = line.strip_prefix("X-Rcpt-Args: ") {
            rcpt_to.push(envelope_address(v));
        } else if let Some(v) = line.strip_prefix("X-Helo-Args: ") {
            helo = Some(v.to_string());
        } else if line.starts_with("Received: ") {
            break;
        } else if !line.starts_with("X-Client-") {
            return None;
        }
    }
    // The two continuation lines of the Received: header.
    for _ in 0..2 {
        if !next_line(&mut pos)?.starts_with('\t') {
            return None;
        }
    }
    // Data is followed by one empty line written after the final ".".
    let data = bytes[pos..].strip_suffix(b"\n")?;
    let mut raw = Vec::with_capacity(data.len() + data.len() / 32);
    for &b in data {
        if b == b'\n' {
            raw.push(b'\r');
        }
        raw.push(b);
    }
    Some(Captured {
        mail_from: mail_from?,
        rcpt_to,
        raw,
        helo,
    })
}

/// "<a@b> SIZE=1" -> "a@b"; "a@b" -> "a@b"; "<>" -> "".
fn envelope_address(args: &str) -> String {
    let args = args.trim();
    match args.strip_prefix('<') {
        Some(rest) => rest.split('>').next().unwrap_or("").to_string(),
        None => args.split_whitespace().next().unwrap_or("").to_string(),
    }
}

// ---------------------------------------------------------------------------
// Minimal SMTP client
// ---------------------------------------------------------------------------

/// Send one message to 127.0.0.1:`port` with a hand-written SMTP client
/// (EHLO, MAIL FROM, RCPT TO per recipient, DATA, QUIT). `raw` may use LF or
/// CRLF line ends; it is sent with CRLF and dot-stuffed. Returns the first
/// unexpected reply as `Err("<command> -> <reply>")`.
pub fn smtp_send(port: u16, from: &str, rcpts: &[&str], raw: &[u8]) -> Result<(), String> {
    let mut conn = SmtpConn::connect(port)?;
    let result = (|| {
        conn.expect(None, &["220"])?;
        conn.expect(Some("EHLO harness.test"), &["250"])?;
        conn.expect(Some(&format!("MAIL FROM:<{from}>")), &["250"])?;
        for rcpt in rcpts {
            conn.expect(Some(&format!("RCPT TO:<{rcpt}>")), &["250", "251"])?;
        }
        conn.expect(Some("DATA"), &["354"])?;
        conn.send(&smtp_data(raw))?;
        conn.expect(Some("."), &["250"]).map(|_| ())
    })();
    // Best effort; the server may already have closed the connection.
    let _ = conn.expect(Some("QUIT"), &["221"]);
    result
}

struct SmtpConn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl SmtpConn {
    fn connect(port: u16) -> Result<SmtpConn, String> {
        let stream = TcpStream::connect_timeout(&SocketAddr::from((LOOPBACK, port)), TIMEOUT)
            .map_err(|e| format!("connect 127.0.0.1:{port}: {e}"))?;
        stream
            .set_read_timeout(Some(TIMEOUT))
            .and_then(|_| stream.set_write_timeout(Some(TIMEOUT)))
            .map_err(|e| e.to_string())?;
        let writer = stream.try_clone().map_err(|e| e.to_string())?;
        Ok(SmtpConn {
            reader: BufReader::new(stream),
            writer,
        })
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.writer
            .write_all(bytes)
            .map_err(|e| format!("SMTP write: {e}"))
    }

    /// Send `cmd` (if any), read the (multi-line) reply, check its code.
    fn expect(&mut self, cmd: Option<&str>, codes: &[&str]) -> Result<String, String> {
        if let Some(cmd) = cmd {
            self.send(format!("{cmd}\r\n").as_bytes())?;
        }
        let what = cmd.unwrap_or("<greeting>");
        let mut reply = String::new();
        loop {
            let mut line = String::new();
            let n = self
                .reader
                .read_line(&mut line)
                .map_err(|e| format!("{what}: SMTP read: {e}"))?;
            if n == 0 {
                return Err(format!(
                    "{what} -> connection closed (reply so far {reply:?})"
                ));
            }
            reply.push_str(&line);
            // "250-..." continues, "250 ..." (or a bare "250") ends the reply.
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                break;
            }
        }
        let reply = reply.trim_end().to_string();
        if codes.iter().any(|code| reply.starts_with(code)) {
            Ok(reply)
        } else {
            Err(format!("{what} -> {reply}"))
        }
    }
}

/// CRLF-normalise and dot-stuff a message for DATA (without the final ".").
fn smtp_data(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 64);
    let mut at_line_start = true;
    for (i, &b) in raw.iter().enumerate() {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}
