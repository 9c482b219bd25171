//! Postfix's `smtp-sink` as the SMTP server deskgate sends to: one dump file per transaction,
//! parsed back as [`Captured`] mails; stopped, killed and restarted on demand.

use std::collections::HashSet;
use std::fmt::Display;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant, UNIX_EPOCH};

use tempfile::TempDir;

use super::process::{
    euid, find_binary, free_port, log_report, make_tempdir, mkdir, poll_until, port_open, relaunch,
    wait_port_closed, what_happened, Launch, ServerProcess,
};
use super::TIMEOUT;

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

    /// The `Message-ID` header without its angle brackets ("" when there is none).
    pub fn message_id(&self) -> String {
        self.header("Message-ID")
            .unwrap_or_default()
            .trim()
            .trim_matches(['<', '>'])
            .to_string()
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
        let mut messages = Vec::new();
        if !poll_until(timeout, || {
            messages = self.messages();
            messages.len() >= n
        }) {
            self.fail(format!(
                "wait_for: expected at least {n} message(s) within {timeout:?}, got {}: {messages:#?}",
                messages.len()
            ));
        }
        messages
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
        match relaunch(|| self.launch()) {
            Ok(process) => self.process = Some(process),
            Err(e) => self.fail(format!("restart: {e}")),
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
