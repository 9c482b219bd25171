//! An isolated Dovecot per test: its own temp dir, ports, users, Maildirs, TLS files and logs,
//! started, stopped, killed and restarted on demand, and fed and inspected through
//! [`ImapClient`] and `doveadm`.

use std::fmt::Display;
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::imap_client::{quote, ImapClient};
use super::process::{
    egid, euid, find_binary, free_port, group_name, log_report, make_tempdir, mkdir, passwd_lookup,
    passwd_name, port_open, relaunch, run_ok, run_with_timeout, wait_port_closed, what_happened,
    write_file, Launch, ServerProcess, LOOPBACK,
};
use super::tls::{make_tls, Tls};
use super::TIMEOUT;

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
    /// The introspection URL of the `oauth2` passdb, when XOAUTH2 and OAUTHBEARER are on.
    oauth2: Option<String>,
    process: Option<ServerProcess>,
    // Dropped last: the directory must outlive the server.
    dir: TempDir,
}

impl Dovecot {
    /// Start a fresh Dovecot with the given `(user, password)` accounts and
    /// wait until its IMAP port greets. Panics (with the log) on failure.
    pub fn start(users: &[(&str, &str)]) -> Dovecot {
        Dovecot::start_with(users, None)
    }

    /// [`Dovecot::start`] with SASL XOAUTH2 and OAUTHBEARER as well, checked by Dovecot's
    /// `oauth2` passdb against the token-introspection endpoint `introspection_url` (RFC 7662,
    /// `introspection_mode = post`): the token must be active, its `username` the login's user,
    /// and its `scope` must include `mail`. PLAIN and LOGIN keep working with the passwords.
    pub fn start_oauth2(users: &[(&str, &str)], introspection_url: &str) -> Dovecot {
        Dovecot::start_with(users, Some(introspection_url.to_string()))
    }

    fn start_with(users: &[(&str, &str)], oauth2: Option<String>) -> Dovecot {
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
            oauth2,
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
        match relaunch(|| self.launch()) {
            Ok(process) => self.process = Some(process),
            Err(e) => self.fail(format!("restart: {e}")),
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
        let password_mechanisms = if self.oauth2.is_some() {
            "  mechanisms = plain login\n"
        } else {
            ""
        };
        let (mechanisms, oauth2_passdb) = match &self.oauth2 {
            None => ("plain login", String::new()),
            Some(url) => {
                if dovecot_version() >= (2, 4) {
                    self.fail("the oauth2 passdb is written for Dovecot 2.3 only");
                }
                let ext = self.dir.path().join("dovecot-oauth2.conf.ext");
                write_file(
                    &ext,
                    format!(
                        "introspection_mode = post\nintrospection_url = {url}\n\
                         force_introspection = yes\nusername_attribute = username\n\
                         active_attribute = active\nactive_value = true\nscope = mail\n"
                    ),
                );
                (
                    "plain login xoauth2 oauthbearer",
                    format!(
                        "passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  \
                         args = {}\n}}\n",
                        ext.display()
                    ),
                )
            }
        };
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
{oauth2_passdb}passdb {{
  driver = passwd-file
{password_mechanisms}  args = scheme=PLAIN username_format=%u {root}/users
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
            "{head}# Generated by tests/common/dovecot.rs: one isolated Dovecot test instance.
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = deskgate-test-{imap}
log_path = {root}/dovecot.log
# Under CI's second pass the tests run three years ahead through libfaketime, inherited by
# Dovecot. Dovecot's master clears its environment at start; libfaketime re-reads FAKETIME
# every ten seconds, found it gone, and the master saw time jump back three years and stopped
# starting new processes for 180 s. Keeping both variables keeps Dovecot's clock steady.
import_environment = $import_environment LD_PRELOAD FAKETIME
auth_mechanisms = {mechanisms}
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
