//! Fault injection against the real servers and the real binary: a `deskgate` daemon killed
//! with SIGKILL at pseudo-random moments, `run --once` passes killed half-way, and a Dovecot and
//! an smtp-sink that go away in the middle of the work and come back. After each ordeal the test
//! checks the invariants of ARCHITECTURE.md from the outside, the way an administrator would:
//! every mail became exactly one ticket holding it exactly once, every acknowledgement reached
//! the SMTP server, a mail sent twice is only ever the same mail again (same Message-ID, at most
//! one in-flight transaction per crash or outage), every outbox entry ends `sent` and every mail
//! in the mailbox ends `\Seen`.
//!
//! The kill moments come from a fixed seed (override it with `DESKGATE_FAULT_SEED=<u64>`), so
//! the schedule of a failing run can be repeated; what a kill hits still depends on the machine's
//! timing. Every wait is bounded and every failure shows the tail of the daemon's stderr, which is
//! kept in a file in the test's temp dir.

mod common;

use common::{Captured, Dovecot, SmtpSink};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::Write as _;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const PASSWORD: &str = "secret-pw";
/// The one desk of these tests; its IMAP user has the same name.
const DESK: &str = "nl";
const DESK_ADDRESS: &str = "servicedesk.nl@example.net";
/// The default seed of the kill moments.
const SEED: u64 = 0x5eed_dead_beef_0001;
/// How long one CLI query may take on a busy machine.
const CLI_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the daemon may take to stop on SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// Lines of the daemon's stderr shown in panic messages.
const LOG_TAIL: usize = 40;

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}
const SIGTERM: i32 = 15;

/// The seed of this run: `DESKGATE_FAULT_SEED` when set, else [`SEED`].
fn seed() -> u64 {
    std::env::var("DESKGATE_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED)
}

/// SplitMix64: a small deterministic generator, so the kill moments depend only on the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A duration of `lo..hi` milliseconds.
    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo))
    }
}

/// One customer mail put in the desk's mailbox, and what the ticket it opens must show.
struct CustomerMail {
    message_id: String,
    requester: String,
    subject: String,
    raw: Vec<u8>,
}

impl CustomerMail {
    /// Mail number `i` of a series: its own sender on its own domain (so no per-address or
    /// per-domain limit can hold its acknowledgement back), its own subject and Message-ID, and
    /// nothing that could thread it onto another ticket.
    fn new(series: &str, i: usize) -> CustomerMail {
        let domain = format!("{series}{i}.client.example");
        let requester = format!("customer{i}@{domain}");
        let message_id = format!("{series}-{i}@{domain}");
        let subject = format!("{series} case {i:03}: uplink {i} flapping");
        let raw = format!(
            "From: Customer {i} <{requester}>\r\nTo: {DESK_ADDRESS}\r\nSubject: {subject}\r\n\
             Message-ID: <{message_id}>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             Hello desk,\r\nuplink {i} has been flapping since this morning.\r\n\r\nRegards,\r\n\
             Customer {i}\r\n"
        )
        .into_bytes();
        CustomerMail {
            message_id,
            requester,
            subject,
            raw,
        }
    }
}

fn series(name: &str, range: std::ops::Range<usize>) -> Vec<CustomerMail> {
    range.map(|i| CustomerMail::new(name, i)).collect()
}

/// A deskgate config and store in a temp dir, with the daemon's stderr kept in `daemon.log`.
struct Gate {
    dir: tempfile::TempDir,
    config: PathBuf,
    log: PathBuf,
    runs: std::cell::Cell<u32>,
}

impl Gate {
    fn new(imap_port: u16, smtp_port: u16, batch_size: usize) -> Gate {
        let dir = tempfile::tempdir().expect("tempdir");
        let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        // Retries after a failed SMTP attempt wait 1 s, then 2 s: a test must not wait the
        // default 30 s for a server that is back.
        let text = format!(
            r#"
[store]
path = {store:?}
[smtp]
url = "smtp://127.0.0.1:{smtp_port}"
timeout_secs = 10
[general]
templates = {templates:?}
message_id_domain = "desk.example.net"
[ingest]
batch_size = {batch_size}
[outbox]
retry_initial_secs = 1
retry_max_secs = 2
[[desk]]
name = "{DESK}"
address = "{DESK_ADDRESS}"
display_name = "Service Desk Amsterdam"
language = "en"
[desk.imap]
url = "imap://127.0.0.1:{imap_port}"
user = "{DESK}"
password = "{PASSWORD}"
poll_interval_secs = 1
"#,
            store = dir.path().join("store").display().to_string(),
            templates = templates.display().to_string(),
        );
        let config = dir.path().join("deskgate.toml");
        fs::write(&config, text).expect("write config");
        let log = dir.path().join("daemon.log");
        Gate {
            dir,
            config,
            log,
            runs: std::cell::Cell::new(0),
        }
    }

    /// The admin socket: `<store.path>.sock`.
    fn socket(&self) -> PathBuf {
        self.dir.path().join("store.sock")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_deskgate"));
        c.arg("--config")
            .arg(&self.config)
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        c
    }

    /// Starts `deskgate <args>` (the daemon or one pass) with its stderr appended to
    /// `daemon.log` after a line naming the run.
    fn spawn(&self, args: &[&str]) -> Child {
        let run = self.runs.get() + 1;
        self.runs.set(run);
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open daemon.log");
        writeln!(log, "===== test: run #{run}: deskgate {}", args.join(" ")).expect("log");
        // The IMAP source logs each acknowledged UID at debug level.
        self.cmd(args)
            .env("DESKGATE_LOG", "info,deskgate::source=debug")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn deskgate")
    }

    /// The last lines the daemon (all its runs) wrote to stderr.
    fn log_tail(&self) -> String {
        format!(
            "\n----- {} (last {LOG_TAIL} lines) -----\n{}",
            self.log.display(),
            common::tail(&self.log, LOG_TAIL)
        )
    }

    /// Every run whose stderr mentions `needle`: its header line, the lines naming `needle`, and
    /// how the run ended (its last lines), for failure messages.
    fn runs_mentioning(&self, needle: &str) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let mut out = String::new();
        for run in text.split("===== test: ").filter(|r| r.contains(needle)) {
            let lines: Vec<&str> = run.lines().collect();
            out.push_str(&format!("\n----- daemon.log, {} -----\n", lines[0]));
            for line in lines.iter().skip(1).filter(|l| l.contains(needle)) {
                out.push_str(line);
                out.push('\n');
            }
            out.push_str("  [...] the run's last lines:\n");
            for line in &lines[lines.len().saturating_sub(8).max(1)..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// The first `n` WARN and ERROR lines of the daemon's stderr (all runs).
    fn warnings(&self, n: usize) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
            .take(n)
            .collect();
        lines.join("\n")
    }

    fn fail(&self, msg: impl std::fmt::Display) -> ! {
        panic!("{msg}{}", self.log_tail())
    }

    /// Runs a CLI command to completion (bounded).
    fn cli(&self, args: &[&str]) -> Output {
        common::run_with_timeout(&mut self.cmd(args), CLI_TIMEOUT)
    }

    /// Runs a CLI query and parses its JSON; `context` says what state the store was in.
    fn json(&self, args: &[&str], context: &str) -> Value {
        let out = self.cli(args);
        if !out.status.success() {
            self.fail(format!(
                "`deskgate {}` failed ({}) {context}:\n--- stderr ---\n{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            self.fail(format!(
                "`deskgate {}` printed no JSON ({e}) {context}:\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout)
            ))
        })
    }

    fn tickets(&self, context: &str) -> Vec<Value> {
        self.json(&["tickets", "list", "--json"], context)
            .as_array()
            .cloned()
            .unwrap_or_else(|| self.fail("tickets list --json is not an array"))
    }

    fn outbox(&self, context: &str) -> Vec<Value> {
        self.json(&["outbox", "list", "--json"], context)
            .as_array()
            .cloned()
            .unwrap_or_else(|| self.fail("outbox list --json is not an array"))
    }

    /// Progress as the CLI shows it: (tickets, outbox entries sent, outbox entries).
    fn progress(&self, context: &str) -> (usize, usize, usize) {
        let tickets = self.tickets(context).len();
        let outbox = self.outbox(context);
        let sent = outbox.iter().filter(|e| e["state"] == "sent").count();
        (tickets, sent, outbox.len())
    }

    /// Whether a daemon answers on the admin socket (a stale socket file refuses).
    fn daemon_answers(&self) -> bool {
        UnixStream::connect(self.socket()).is_ok()
    }

    /// Waits until the daemon `child` answers on its admin socket.
    fn wait_daemon_up(&self, child: &mut Child) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.daemon_answers() {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.fail(format!("the daemon exited on its own ({status})"));
            }
            if Instant::now() >= deadline {
                self.fail("the daemon did not answer on its admin socket within 20 s");
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, as systemd would; returns the exit status.
    fn stop(&self, mut child: Child) -> ExitStatus {
        let pid = i32::try_from(child.id()).expect("pid fits in i32");
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our unreaped child.
        unsafe {
            kill(pid, SIGTERM);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                self.fail(format!(
                    "the daemon did not stop within {STOP_TIMEOUT:?} of SIGTERM"
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls the CLI until there are `n` tickets.
    fn wait_tickets(&self, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let tickets = self.tickets("(waiting for tickets)").len();
            if tickets >= n {
                return;
            }
            if Instant::now() >= deadline {
                self.fail(format!("{tickets}/{n} tickets after {timeout:?}"));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Polls the CLI until every mail is a ticket and every outbox entry is sent.
    fn wait_done(&self, expected_tickets: usize, timeout: Duration, context: &str) {
        let deadline = Instant::now() + timeout;
        loop {
            let (tickets, sent, entries) = self.progress(context);
            if tickets == expected_tickets && sent == entries && entries >= expected_tickets {
                return;
            }
            if Instant::now() >= deadline {
                self.fail(format!(
                    "not done within {timeout:?} {context}: {tickets}/{expected_tickets} tickets, \
                     {sent}/{entries} outbox entries sent"
                ));
            }
            thread::sleep(Duration::from_millis(200));
        }
    }
}

/// What the final checks found, for the summary line.
struct Verified {
    captured: usize,
    repeated_ids: usize,
    extra_copies: usize,
}

/// The Message-ID of a captured mail, without angle brackets.
fn captured_id(m: &Captured) -> Option<String> {
    m.header("Message-ID")
        .map(|v| v.trim().trim_matches(['<', '>']).to_string())
}

/// Checks every invariant after the work is done. `allowed_extra` bounds the mails the sink may
/// have received more than once (one in-flight transaction per crash or SMTP outage);
/// `seen_wait` is how long the mailbox may still take to show `\Seen` (a running daemon).
fn verify(
    gate: &Gate,
    dovecot: &Dovecot,
    sink: &SmtpSink,
    mails: &[&CustomerMail],
    allowed_extra: usize,
    seen_wait: Duration,
) -> Verified {
    let context = "after the work was done";

    // Exactly one ticket per mail, each with its own requester and subject.
    let tickets = gate.tickets(context);
    let by_requester: HashMap<&str, &CustomerMail> =
        mails.iter().map(|m| (m.requester.as_str(), *m)).collect();
    let mut ticket_of: BTreeMap<String, &CustomerMail> = BTreeMap::new();
    let mut requesters_seen = BTreeSet::new();
    for t in &tickets {
        let reference = t["ref"].as_str().expect("ticket ref").to_string();
        let requester = t["requester"].as_str().unwrap_or_default();
        let Some(mail) = by_requester.get(requester) else {
            gate.fail(format!("a ticket nobody asked for: {t}"));
        };
        assert!(
            requesters_seen.insert(requester.to_string()),
            "two tickets for the mail of {requester} (the mail was processed twice): {tickets:#?}"
        );
        assert_eq!(t["subject"], mail.subject.as_str(), "{t}");
        // The customer's mail and the acknowledgement: nothing more, nothing twice.
        assert_eq!(
            t["message_count"], 2,
            "{reference} should hold the customer's mail and its acknowledgement: {t}"
        );
        ticket_of.insert(reference, *mail);
    }
    let missing: Vec<&str> = mails
        .iter()
        .filter(|m| !requesters_seen.contains(&m.requester))
        .map(|m| m.message_id.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "mails lost (no ticket): {missing:?}{}",
        gate.log_tail()
    );
    assert_eq!(tickets.len(), mails.len());

    // A sample of tickets in full: the inbound mail exactly once.
    let refs: Vec<&String> = ticket_of.keys().collect();
    let step = (refs.len() / 10).max(1);
    for reference in refs.iter().step_by(step).chain(refs.last()) {
        let show = gate.json(&["tickets", "show", reference, "--json"], context);
        let messages = show["messages"].as_array().expect("messages");
        let inbound: Vec<&str> = messages
            .iter()
            .filter(|m| m["direction"] == "in")
            .filter_map(|m| m["message_id"].as_str())
            .collect();
        assert_eq!(
            inbound,
            vec![ticket_of[*reference].message_id.as_str()],
            "{reference}: the customer's mail exactly once: {show:#}"
        );
        assert_eq!(
            messages.len() as u64,
            show["message_count"].as_u64().unwrap_or(u64::MAX),
            "{reference}: message_count counts the messages shown: {show:#}"
        );
    }

    // One acknowledgement per ticket, every outbox entry sent.
    let outbox = gate.outbox(context);
    let mut ack_of: BTreeMap<String, String> = BTreeMap::new();
    let mut entry_of_id: HashMap<String, &Value> = HashMap::new();
    for e in &outbox {
        assert_eq!(e["state"], "sent", "every outbox entry ends sent: {e}");
        let id = e["message_id"].as_str().expect("message_id").to_string();
        assert!(
            entry_of_id.insert(id.clone(), e).is_none(),
            "two outbox entries share the Message-ID {id}"
        );
        if e["kind"] == "ack" {
            let reference = e["ticket"].as_str().expect("ack ticket").to_string();
            if let Some(other) = ack_of.insert(reference.clone(), id.clone()) {
                gate.fail(format!(
                    "{reference} has two acknowledgements queued ({other} and {id}): the mail \
                     was processed twice"
                ));
            }
            let mail = ticket_of
                .get(&reference)
                .unwrap_or_else(|| gate.fail(format!("ack for an unknown ticket: {e}")));
            assert_eq!(e["to"], serde_json::json!([mail.requester]), "{e}");
        }
    }
    assert_eq!(
        ack_of.len(),
        mails.len(),
        "one acknowledgement per ticket: {outbox:#?}"
    );

    // Every acknowledgement reached the sink; a repeat is only ever the same mail again.
    let wanted: BTreeSet<&String> = entry_of_id.keys().collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    let captured = loop {
        let captured = sink.messages();
        let got: BTreeSet<String> = captured.iter().filter_map(captured_id).collect();
        if wanted.iter().all(|id| got.contains(*id)) {
            break captured;
        }
        if Instant::now() >= deadline {
            let lost: Vec<&&String> = wanted.iter().filter(|id| !got.contains(**id)).collect();
            gate.fail(format!(
                "outbox entries marked sent that never reached smtp-sink: {lost:?}"
            ));
        }
        thread::sleep(Duration::from_millis(100));
    };
    let mut copies: BTreeMap<String, usize> = BTreeMap::new();
    let mut ids_per_ticket: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for m in &captured {
        let Some(id) = captured_id(m) else {
            gate.fail(format!(
                "smtp-sink got a mail without Message-ID:\n{}",
                m.text()
            ));
        };
        let Some(entry) = entry_of_id.get(&id) else {
            gate.fail(format!(
                "smtp-sink got a mail no outbox entry knows ({id}), i.e. a second, different \
                 mail:\n{}",
                m.text()
            ));
        };
        assert_eq!(
            serde_json::json!(m.rcpt_to),
            entry["to"],
            "envelope of {id}"
        );
        *copies.entry(id.clone()).or_default() += 1;
        if let Some(reference) = entry["ticket"].as_str() {
            ids_per_ticket
                .entry(reference.to_string())
                .or_default()
                .insert(id);
        }
    }
    for (reference, ids) in &ids_per_ticket {
        assert_eq!(
            ids.len(),
            1,
            "{reference}: the customer got different acknowledgements {ids:?}"
        );
    }
    let repeated: Vec<(&String, &usize)> = copies.iter().filter(|(_, n)| **n > 1).collect();
    let extra_copies: usize = repeated.iter().map(|(_, n)| **n - 1).sum();
    assert!(
        extra_copies <= allowed_extra,
        "{extra_copies} repeated SMTP transactions, at most {allowed_extra} allowed (one \
         in-flight transaction per crash or outage): {repeated:?}"
    );

    // Every mail is marked \Seen in the mailbox.
    let deadline = Instant::now() + seen_wait;
    loop {
        let flags = dovecot.flags(DESK, PASSWORD, "INBOX");
        assert_eq!(flags.len(), mails.len(), "mails in INBOX: {flags:?}");
        let unseen: Vec<u32> = flags
            .iter()
            .filter(|(_, f)| !f.split_whitespace().any(|f| f == "\\Seen"))
            .map(|(uid, _)| *uid)
            .collect();
        if unseen.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            let ids = message_ids_of(dovecot, &unseen);
            let first = ids
                .first()
                .and_then(|l| l.split_once(": "))
                .map(|(_, id)| gate.runs_mentioning(id))
                .unwrap_or_default();
            panic!(
                "{} of {} mails never marked \\Seen although their tickets exist \
                 (UID: Message-ID): {ids:?}\nThe run(s) that processed the first of them:{first}\
                 \n----- the daemon's first warnings and errors -----\n{}",
                unseen.len(),
                mails.len(),
                gate.warnings(12)
            );
        }
        thread::sleep(Duration::from_millis(100));
    }

    Verified {
        captured: captured.len(),
        repeated_ids: repeated.len(),
        extra_copies,
    }
}

/// `uid: Message-ID` of the given INBOX mails, for failure messages.
fn message_ids_of(dovecot: &Dovecot, uids: &[u32]) -> Vec<String> {
    let mut imap = dovecot.imap(DESK, PASSWORD);
    let _ = imap.command("EXAMINE INBOX");
    let set: Vec<String> = uids.iter().map(u32::to_string).collect();
    let (lines, _) = imap
        .command(&format!(
            "UID FETCH {} (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])",
            set.join(",")
        ))
        .unwrap_or_default();
    imap.logout();
    lines
        .iter()
        .filter_map(|l| {
            let uid = l.split("UID ").nth(1)?.split_whitespace().next()?;
            let id = l.split_once('<')?.1.split_once('>')?.0;
            Some(format!("{uid}: {id}"))
        })
        .collect()
}

/// Sleeps until `until` (no-op when it has passed).
fn sleep_until(until: Instant) {
    let now = Instant::now();
    if until > now {
        thread::sleep(until - now);
    }
}

#[test]
fn sigkill_at_random_points_loses_nothing_and_doubles_nothing() {
    const MAILS: usize = 300;
    /// After this many kills a last daemon finishes the work unharmed.
    const MAX_KILLS: usize = 30;
    let started = Instant::now();
    let seed = seed();
    let mut rng = Rng(seed);

    let dovecot = Dovecot::start(&[(DESK, PASSWORD)]);
    let sink = SmtpSink::start();
    let mails = series("kill", 0..MAILS);
    dovecot.append_many(DESK, PASSWORD, "INBOX", mails.iter().map(|m| &m.raw));
    let gate = Gate::new(dovecot.imap_port(), sink.port(), 20);

    let mut kills = 0;
    let mut stale_sockets = 0;
    let mut queries_through_daemon = 0;
    let mut done = false;
    while !done && kills < MAX_KILLS {
        let mut child = gate.spawn(&["run"]);
        let kill_at = Instant::now() + rng.millis(50, 600);
        // Every third run, ask the running daemon once before the kill (the CLI's socket path).
        if kills % 3 == 0 {
            while Instant::now() < kill_at && !gate.daemon_answers() {
                thread::sleep(Duration::from_millis(10));
            }
            if gate.daemon_answers() {
                gate.tickets("while the daemon runs");
                queries_through_daemon += 1;
            }
        }
        sleep_until(kill_at);
        if let Some(status) = child.try_wait().expect("try_wait") {
            gate.fail(format!("the daemon exited on its own ({status})"));
        }
        child.kill().expect("SIGKILL the daemon");
        child.wait().expect("reap the daemon");
        kills += 1;
        // No daemon now; a socket file left behind must not confuse the CLI.
        let stale = gate.socket().exists();
        stale_sockets += usize::from(stale);
        let context =
            format!("(no daemon running, kill #{kills}, stale socket file present: {stale})");
        let (tickets, sent, entries) = gate.progress(&context);
        done = tickets == MAILS && entries >= MAILS && sent == entries;
    }

    // A last daemon, not killed: it finishes whatever is left, resends nothing and stops cleanly.
    let mut child = gate.spawn(&["run"]);
    gate.wait_daemon_up(&mut child);
    gate.wait_done(
        MAILS,
        Duration::from_secs(30),
        "(the last daemon, not killed)",
    );
    eprintln!(
        "sigkill daemon: seed {seed}, {MAILS} mails, {kills} kills, {stale_sockets} stale \
         sockets survived by the CLI, {queries_through_daemon} queries through the daemon"
    );
    let verified = verify(
        &gate,
        &dovecot,
        &sink,
        &mails.iter().collect::<Vec<_>>(),
        kills,
        Duration::from_secs(5),
    );
    let status = gate.stop(child);
    if !status.success() {
        gate.fail(format!("the daemon exited with {status} on SIGTERM"));
    }
    eprintln!(
        "sigkill daemon: {} mails captured, {} Message-IDs repeated ({} extra copies, at most \
         {kills} allowed), {:.1} s",
        verified.captured,
        verified.repeated_ids,
        verified.extra_copies,
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn sigkill_during_run_once_loses_nothing() {
    const MAILS: usize = 200;
    /// After this many kills a last pass runs unharmed.
    const MAX_KILLS: usize = 20;
    let started = Instant::now();
    let seed = seed() ^ 0x0002;
    let mut rng = Rng(seed);

    let dovecot = Dovecot::start(&[(DESK, PASSWORD)]);
    let sink = SmtpSink::start();
    let mails = series("once", 0..MAILS);
    dovecot.append_many(DESK, PASSWORD, "INBOX", mails.iter().map(|m| &m.raw));
    let gate = Gate::new(dovecot.imap_port(), sink.port(), 20);

    let mut kills = 0;
    let mut passes = 0;
    loop {
        let mut child = gate.spawn(&["run", "--once"]);
        passes += 1;
        let kill_at = (kills < MAX_KILLS).then(|| Instant::now() + rng.millis(30, 1500));
        let deadline = Instant::now() + Duration::from_secs(30);
        let finished = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break Some(status);
            }
            if kill_at.is_some_and(|t| Instant::now() >= t) {
                break None;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                gate.fail("`run --once` did not finish within 30 s");
            }
            thread::sleep(Duration::from_millis(5));
        };
        match finished {
            Some(status) if status.success() => break,
            Some(status) => gate.fail(format!("`run --once` failed ({status})")),
            None => {
                child.kill().expect("SIGKILL run --once");
                child.wait().expect("reap run --once");
                kills += 1;
            }
        }
    }

    eprintln!("sigkill run --once: seed {seed}, {MAILS} mails, {kills} kills in {passes} passes");
    let verified = verify(
        &gate,
        &dovecot,
        &sink,
        &mails.iter().collect::<Vec<_>>(),
        kills,
        Duration::ZERO,
    );
    eprintln!(
        "sigkill run --once: {} mails captured, {} Message-IDs repeated ({} extra copies, at \
         most {kills} allowed), {:.1} s",
        verified.captured,
        verified.repeated_ids,
        verified.extra_copies,
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn servers_restarting_mid_work_are_waited_for() {
    let started = Instant::now();

    let mut dovecot = Dovecot::start(&[(DESK, PASSWORD)]);
    let mut sink = SmtpSink::start();
    // Small batches: the first mails take a while to ingest, so Dovecot dies in the middle.
    let gate = Gate::new(dovecot.imap_port(), sink.port(), 5);
    let mut daemon = gate.spawn(&["run"]);
    gate.wait_daemon_up(&mut daemon);

    let first = series("first", 0..200);
    let second = series("second", 0..40);
    let third = series("third", 0..20);
    dovecot.append_many(DESK, PASSWORD, "INBOX", first.iter().map(|m| &m.raw));
    // Cut Dovecot off as soon as the daemon is at work on the first mails. A clean stop lets
    // the sessions in progress finish (about a second, enough for all 200 mails), so the
    // outage in the middle of a batch is a crash.
    let deadline = Instant::now() + Duration::from_secs(20);
    while gate.tickets("(waiting for the first tickets)").is_empty() {
        if Instant::now() >= deadline {
            gate.fail("no ticket within 20 s");
        }
        thread::sleep(Duration::from_millis(10));
    }
    dovecot.kill();
    let (tickets_at_crash, _, _) = gate.progress("(Dovecot killed)");
    // The SMTP server goes away too, while the IMAP server is still down.
    sink.stop();
    thread::sleep(Duration::from_millis(1500));
    // Appending needs the server: the second mails arrive after the restart.
    dovecot.restart();
    dovecot.append_many(DESK, PASSWORD, "INBOX", second.iter().map(|m| &m.raw));
    gate.wait_tickets(first.len() + second.len(), Duration::from_secs(20));
    // A clean stop and restart of Dovecot while the daemon waits for mail in IDLE.
    dovecot.stop();
    thread::sleep(Duration::from_millis(1500));
    dovecot.restart();
    dovecot.append_many(DESK, PASSWORD, "INBOX", third.iter().map(|m| &m.raw));
    // Acknowledgements piled up in the outbox while smtp-sink was down.
    let (_, sent_at_restart, queued_at_restart) = gate.progress("(smtp-sink stopped)");
    assert!(
        sent_at_restart < queued_at_restart,
        "the SMTP outage should have left acknowledgements waiting"
    );
    sink.restart();

    let mails: Vec<&CustomerMail> = first.iter().chain(&second).chain(&third).collect();
    gate.wait_done(mails.len(), Duration::from_secs(40), "(both servers back)");
    // One SMTP outage: at most the one transaction in flight when it began is repeated.
    let verified = verify(&gate, &dovecot, &sink, &mails, 1, Duration::from_secs(5));
    let status = gate.stop(daemon);
    if !status.success() {
        gate.fail(format!("the daemon exited with {status} on SIGTERM"));
    }
    let log = fs::read_to_string(&gate.log).unwrap_or_default();
    assert!(
        log.contains("stopped"),
        "clean shutdown is logged{}",
        gate.log_tail()
    );
    let count = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
    eprintln!(
        "servers restarting: {} mails, {tickets_at_crash} tickets when Dovecot was killed, \
         {sent_at_restart}/{queued_at_restart} outbox entries sent when smtp-sink came back, \
         {} IMAP retries and {} SMTP retries logged, {} mails captured, {} Message-IDs \
         repeated, {:.1} s",
        mails.len(),
        count("retrying"),
        count("will retry"),
        verified.captured,
        verified.repeated_ids,
        started.elapsed().as_secs_f64()
    );
}
