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

use common::{poll_until, Captured, Daemon, Gate, Rig, TextMail, RIG_DESK, RIG_PASSWORD, TIMEOUT};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::thread;
use std::time::{Duration, Instant};

/// The default seed of the kill moments.
const SEED: u64 = 0x5eed_dead_beef_0001;

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
        let raw = TextMail::new(
            &format!("Customer {i} <{requester}>"),
            &subject,
            &message_id,
        )
        .body(&format!(
            "Hello desk,\nuplink {i} has been flapping since this morning.\n\nRegards,\n\
                 Customer {i}"
        ))
        .bytes();
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

/// Desk `nl` on its Dovecot and smtp-sink, taking `batch_size` mails a batch. Retries after a
/// failed SMTP attempt wait 1 s, then 2 s: a test must not wait the default 30 s for a server
/// that is back.
fn rig(batch_size: u32) -> Rig {
    Rig::start(|c| {
        c.set("smtp", "timeout_secs", 10)
            .set("ingest", "batch_size", batch_size)
            .set("outbox", "retry_initial_secs", 1)
            .set("outbox", "retry_max_secs", 2)
    })
}

/// Runs a CLI query and parses its JSON array; `context` says what state the store was in.
fn list(gate: &Gate, args: &[&str], context: &str) -> Vec<Value> {
    match gate.try_json(args) {
        Ok(Value::Array(items)) => items,
        Ok(other) => gate.fail(format!(
            "`deskgate {}` {context}: not an array: {other}",
            args.join(" ")
        )),
        Err(e) => gate.fail(format!("{e} {context}")),
    }
}

fn tickets(gate: &Gate, context: &str) -> Vec<Value> {
    list(gate, &["tickets", "list", "--json"], context)
}

fn outbox(gate: &Gate, context: &str) -> Vec<Value> {
    list(gate, &["outbox", "list", "--json"], context)
}

/// Progress as the CLI shows it: (tickets, outbox entries sent, outbox entries).
fn progress(gate: &Gate, context: &str) -> (usize, usize, usize) {
    let tickets = tickets(gate, context).len();
    let outbox = outbox(gate, context);
    let sent = outbox.iter().filter(|e| e["state"] == "sent").count();
    (tickets, sent, outbox.len())
}

/// Every run whose stderr mentions `needle`: its header line, the lines naming `needle`, and
/// how the run ended (its last lines), for failure messages.
fn runs_mentioning(gate: &Gate, needle: &str) -> String {
    let text = gate.log();
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
fn warnings(gate: &Gate, n: usize) -> String {
    let text = gate.log();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .take(n)
        .collect();
    lines.join("\n")
}

/// Polls the CLI until every mail is a ticket and every outbox entry is sent.
fn wait_done(gate: &Gate, expected_tickets: usize, timeout: Duration, context: &str) {
    let mut last = (0, 0, 0);
    if !poll_until(timeout, || {
        last = progress(gate, context);
        let (tickets, sent, entries) = last;
        tickets == expected_tickets && sent == entries && entries >= expected_tickets
    }) {
        let (tickets, sent, entries) = last;
        gate.fail(format!(
            "not done within {timeout:?} {context}: {tickets}/{expected_tickets} tickets, \
             {sent}/{entries} outbox entries sent"
        ));
    }
}

/// Waits until the daemon has noticed that Dovecot is gone: one more desk pass failed.
fn wait_outage_noticed(daemon: &Daemon, failures_before: usize) {
    daemon.wait_until("the desk to notice that Dovecot is gone", TIMEOUT, || {
        daemon.count("desk pass failed") > failures_before
    });
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
    rig: &Rig,
    mails: &[&CustomerMail],
    allowed_extra: usize,
    seen_wait: Duration,
) -> Verified {
    let context = "after the work was done";
    let gate = &rig.gate;

    // Exactly one ticket per mail, each with its own requester and subject.
    let tickets = tickets(gate, context);
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
    if !missing.is_empty() {
        gate.fail(format!("mails lost (no ticket): {missing:?}"));
    }
    assert_eq!(tickets.len(), mails.len());

    // A sample of tickets in full: the inbound mail exactly once.
    let refs: Vec<&String> = ticket_of.keys().collect();
    let step = (refs.len() / 10).max(1);
    for reference in refs.iter().step_by(step).chain(refs.last()) {
        let show = gate
            .try_json(&["tickets", "show", reference, "--json"])
            .unwrap_or_else(|e| gate.fail(format!("{e} {context}")));
        assert_eq!(
            Gate::inbound_ids(&show),
            vec![ticket_of[*reference].message_id.as_str()],
            "{reference}: the customer's mail exactly once: {show:#}"
        );
        let messages = show["messages"].as_array().map_or(0, Vec::len);
        assert_eq!(
            messages as u64,
            show["message_count"].as_u64().unwrap_or(u64::MAX),
            "{reference}: message_count counts the messages shown: {show:#}"
        );
    }

    // One acknowledgement per ticket, every outbox entry sent.
    let outbox = outbox(gate, context);
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
    let mut captured = Vec::new();
    let mut got = BTreeSet::new();
    if !poll_until(Duration::from_secs(10), || {
        captured = rig.sink.messages();
        got = captured.iter().filter_map(captured_id).collect();
        wanted.iter().all(|id| got.contains(*id))
    }) {
        let lost: Vec<&&String> = wanted.iter().filter(|id| !got.contains(**id)).collect();
        gate.fail(format!(
            "outbox entries marked sent that never reached smtp-sink: {lost:?}"
        ));
    }
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
    let mut unseen = Vec::new();
    if !poll_until(seen_wait, || {
        let flags = rig.inbox_flags();
        assert_eq!(flags.len(), mails.len(), "mails in INBOX: {flags:?}");
        unseen = flags
            .iter()
            .filter(|(_, f)| !f.split_whitespace().any(|f| f == "\\Seen"))
            .map(|(uid, _)| *uid)
            .collect();
        unseen.is_empty()
    }) {
        let ids = message_ids_of(rig, &unseen);
        let first = ids
            .first()
            .and_then(|l| l.split_once(": "))
            .map(|(_, id)| runs_mentioning(gate, id))
            .unwrap_or_default();
        panic!(
            "{} of {} mails never marked \\Seen although their tickets exist \
             (UID: Message-ID): {ids:?}\nThe run(s) that processed the first of them:{first}\
             \n----- the daemon's first warnings and errors -----\n{}",
            unseen.len(),
            mails.len(),
            warnings(gate, 12)
        );
    }

    Verified {
        captured: captured.len(),
        repeated_ids: repeated.len(),
        extra_copies,
    }
}

/// `uid: Message-ID` of the given INBOX mails, for failure messages.
fn message_ids_of(rig: &Rig, uids: &[u32]) -> Vec<String> {
    let mut imap = rig.dovecot.imap(RIG_DESK, RIG_PASSWORD);
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

    let rig = rig(20);
    let mails = series("kill", 0..MAILS);
    rig.dovecot.append_many(
        RIG_DESK,
        RIG_PASSWORD,
        "INBOX",
        mails.iter().map(|m| &m.raw),
    );
    let gate = &rig.gate;

    let mut kills = 0;
    let mut stale_sockets = 0;
    let mut queries_through_daemon = 0;
    let mut done = false;
    while !done && kills < MAX_KILLS {
        let daemon = gate.spawn(&["run"]);
        let kill_at = Instant::now() + rng.millis(50, 600);
        // Every third run, ask the running daemon once before the kill (the CLI's socket path).
        if kills % 3 == 0 {
            while Instant::now() < kill_at && !gate.daemon_answers() {
                thread::sleep(Duration::from_millis(10));
            }
            if gate.daemon_answers() {
                tickets(gate, "while the daemon runs");
                queries_through_daemon += 1;
            }
        }
        sleep_until(kill_at);
        if let Some(status) = daemon.exited() {
            gate.fail(format!("the daemon exited on its own ({status})"));
        }
        daemon.kill();
        kills += 1;
        // No daemon now; a socket file left behind must not confuse the CLI.
        let stale = gate.socket().exists();
        stale_sockets += usize::from(stale);
        let context =
            format!("(no daemon running, kill #{kills}, stale socket file present: {stale})");
        let (tickets, sent, entries) = progress(gate, &context);
        done = tickets == MAILS && entries >= MAILS && sent == entries;
    }

    // A last daemon, not killed: it finishes whatever is left, resends nothing and stops cleanly.
    let daemon = gate.spawn_daemon();
    wait_done(
        gate,
        MAILS,
        Duration::from_secs(30),
        "(the last daemon, not killed)",
    );
    eprintln!(
        "sigkill daemon: seed {seed}, {MAILS} mails, {kills} kills, {stale_sockets} stale \
         sockets survived by the CLI, {queries_through_daemon} queries through the daemon"
    );
    let verified = verify(
        &rig,
        &mails.iter().collect::<Vec<_>>(),
        kills,
        Duration::from_secs(5),
    );
    let status = daemon.terminate();
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

    let rig = rig(20);
    let mails = series("once", 0..MAILS);
    rig.dovecot.append_many(
        RIG_DESK,
        RIG_PASSWORD,
        "INBOX",
        mails.iter().map(|m| &m.raw),
    );
    let gate = &rig.gate;

    let mut kills = 0;
    let mut passes = 0;
    loop {
        let pass = gate.spawn(&["run", "--once"]);
        passes += 1;
        let kill_at = (kills < MAX_KILLS).then(|| Instant::now() + rng.millis(30, 1500));
        let deadline = Instant::now() + Duration::from_secs(30);
        let finished = loop {
            if let Some(status) = pass.exited() {
                break Some(status);
            }
            if kill_at.is_some_and(|t| Instant::now() >= t) {
                break None;
            }
            if Instant::now() >= deadline {
                pass.kill();
                gate.fail("`run --once` did not finish within 30 s");
            }
            thread::sleep(Duration::from_millis(5));
        };
        match finished {
            Some(status) if status.success() => break,
            Some(status) => gate.fail(format!("`run --once` failed ({status})")),
            None => {
                pass.kill();
                kills += 1;
            }
        }
    }

    eprintln!("sigkill run --once: seed {seed}, {MAILS} mails, {kills} kills in {passes} passes");
    let verified = verify(
        &rig,
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

    // Small batches: the first mails take a while to ingest, so Dovecot dies in the middle.
    let mut rig = rig(5);
    let daemon = rig.gate.spawn_daemon();

    let first = series("first", 0..200);
    let second = series("second", 0..40);
    let third = series("third", 0..20);
    rig.dovecot.append_many(
        RIG_DESK,
        RIG_PASSWORD,
        "INBOX",
        first.iter().map(|m| &m.raw),
    );
    // Cut Dovecot off as soon as the daemon is at work on the first mails. A clean stop lets
    // the sessions in progress finish (about a second, enough for all 200 mails), so the
    // outage in the middle of a batch is a crash.
    daemon.wait_until("the first tickets", Duration::from_secs(20), || {
        !tickets(&rig.gate, "(waiting for the first tickets)").is_empty()
    });
    let failures = daemon.count("desk pass failed");
    rig.dovecot.kill();
    let (tickets_at_crash, _, _) = progress(&rig.gate, "(Dovecot killed)");
    // The SMTP server goes away too, while the IMAP server is still down.
    rig.sink.stop();
    wait_outage_noticed(&daemon, failures);
    // Appending needs the server: the second mails arrive after the restart.
    rig.dovecot.restart();
    rig.dovecot.append_many(
        RIG_DESK,
        RIG_PASSWORD,
        "INBOX",
        second.iter().map(|m| &m.raw),
    );
    let expected = first.len() + second.len();
    daemon.wait_until(
        &format!("{expected} tickets"),
        Duration::from_secs(20),
        || tickets(&rig.gate, "(waiting for tickets)").len() >= expected,
    );
    // A clean stop and restart of Dovecot while the daemon waits for mail in IDLE.
    daemon.wait_idle(RIG_DESK);
    let failures = daemon.count("desk pass failed");
    rig.dovecot.stop();
    wait_outage_noticed(&daemon, failures);
    rig.dovecot.restart();
    rig.dovecot.append_many(
        RIG_DESK,
        RIG_PASSWORD,
        "INBOX",
        third.iter().map(|m| &m.raw),
    );
    // Acknowledgements piled up in the outbox while smtp-sink was down.
    let (_, sent_at_restart, queued_at_restart) = progress(&rig.gate, "(smtp-sink stopped)");
    assert!(
        sent_at_restart < queued_at_restart,
        "the SMTP outage should have left acknowledgements waiting"
    );
    rig.sink.restart();

    let mails: Vec<&CustomerMail> = first.iter().chain(&second).chain(&third).collect();
    wait_done(
        &rig.gate,
        mails.len(),
        Duration::from_secs(40),
        "(both servers back)",
    );
    // One SMTP outage: at most the one transaction in flight when it began is repeated.
    let verified = verify(&rig, &mails, 1, Duration::from_secs(5));
    let status = daemon.terminate();
    if !status.success() {
        rig.gate
            .fail(format!("the daemon exited with {status} on SIGTERM"));
    }
    let log = rig.gate.log();
    if !log.contains("stopped") {
        rig.gate.fail("clean shutdown is logged");
    }
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
