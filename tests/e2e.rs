//! The whole path against real servers: a real Dovecot (IMAP and IMAPS) in, the `deskgate`
//! binary in the middle, Postfix's smtp-sink out. What is asserted is what a customer and an
//! administrator would check: the tickets the CLI shows and the mails that arrived.

mod common;

use common::{Dovecot, SmtpSink};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "secret-pw";

/// A deskgate set up in a temp dir against the given servers.
struct Deskgate {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Deskgate {
    fn new(imap_url: &str, ca_file: Option<&Path>, smtp_port: u16) -> Deskgate {
        let dir = tempfile::tempdir().expect("tempdir");
        let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let ca = ca_file
            .map(|p| format!("ca_file = {:?}\n", p.display().to_string()))
            .unwrap_or_default();
        let text = format!(
            r#"
[store]
path = {store:?}
[smtp]
url = "smtp://127.0.0.1:{smtp_port}"
[general]
templates = {templates:?}
message_id_domain = "desk.example.net"
[[desk]]
name = "nl"
address = "servicedesk.nl@example.net"
display_name = "Service Desk Amsterdam"
language = "en"
[desk.imap]
url = "{imap_url}"
user = "nl"
password = "{PASSWORD}"
poll_interval_secs = 1
{ca}
[[desk]]
name = "fr"
address = "support.fr@example.net"
display_name = "Support Paris"
language = "fr"
[desk.imap]
url = "{imap_url}"
user = "fr"
password_command = "printf '{PASSWORD}'"
{ca}
"#,
            store = dir.path().join("store").display().to_string(),
            templates = templates.display().to_string(),
        );
        let config = dir.path().join("deskgate.toml");
        std::fs::write(&config, text).expect("write config");
        Deskgate { dir, config }
    }

    /// A deskgate reading both desks of `dovecot` over plain IMAP, sending to `smtp_port`.
    fn plain(dovecot: &Dovecot, smtp_port: u16) -> Deskgate {
        Deskgate::new(
            &format!("imap://127.0.0.1:{}", dovecot.imap_port()),
            None,
            smtp_port,
        )
    }

    /// Points the config at another SMTP port (a sink restarted with other options).
    fn set_smtp_port(&self, port: u16) {
        let text = std::fs::read_to_string(&self.config).expect("read config");
        let start = text.find("smtp://127.0.0.1:").expect("smtp url") + "smtp://127.0.0.1:".len();
        let end = start + text[start..].find('"').expect("end of url");
        std::fs::write(
            &self.config,
            format!("{}{port}{}", &text[..start], &text[end..]),
        )
        .expect("write config");
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

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run deskgate")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "deskgate {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).expect("json output")
    }

    fn tickets(&self) -> Vec<Value> {
        self.json(&["tickets", "list", "--json"])
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// A Dovecot with the two desks' mailboxes.
fn two_desks() -> Dovecot {
    Dovecot::start(&[("nl", PASSWORD), ("fr", PASSWORD)])
}

fn mail(from: &str, to: &str, subject: &str, message_id: &str, extra: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n{extra}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello desk,\r\nour link is down.\r\n"
    )
    .into_bytes()
}

fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.lines()
        .take_while(|l| !l.is_empty())
        .find(|l| {
            l.len() > name.len()
                && l[..name.len()].eq_ignore_ascii_case(name)
                && l.as_bytes()[name.len()] == b':'
        })
        .map(|l| l[name.len() + 1..].trim())
}

fn decoded_subject(raw: &[u8]) -> String {
    deskgate::ingest::parse::parse(raw, Default::default()).subject
}

#[test]
fn a_customer_mail_becomes_a_ticket_and_replies_from_any_client_join_it() {
    let dovecot = two_desks();
    let sink = SmtpSink::start();
    let dg = Deskgate::plain(&dovecot, sink.port());

    assert!(dg.ok(&["check"]).contains("valid"));

    dovecot.append(
        "nl",
        PASSWORD,
        "INBOX",
        &mail(
            "Jane Doe <jane@acme.example>",
            "servicedesk.nl@example.net",
            "Link down AM11",
            "first@acme.example",
            "",
        ),
    );
    dg.ok(&["run", "--once"]);

    let tickets = dg.tickets();
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    let reference = tickets[0]["ref"].as_str().expect("ref").to_string();
    assert_eq!(reference, "NL-000001");
    assert_eq!(tickets[0]["requester"], "jane@acme.example");
    assert_eq!(tickets[0]["status"], "new");

    let acks = sink.wait_for(1, Duration::from_secs(10));
    assert_eq!(acks.len(), 1);
    let ack = String::from_utf8_lossy(&acks[0].raw).into_owned();
    assert_eq!(acks[0].rcpt_to, vec!["jane@acme.example".to_string()]);
    assert!(
        decoded_subject(&acks[0].raw).contains("[NL-000001]"),
        "{ack}"
    );
    assert_eq!(header(&ack, "In-Reply-To"), Some("<first@acme.example>"));
    assert_eq!(header(&ack, "Auto-Submitted"), Some("auto-replied"));
    assert!(header(&ack, "From").is_some_and(|f| f.contains("servicedesk.nl@example.net")));
    let ack_id = header(&ack, "Message-ID")
        .expect("ack Message-ID")
        .trim_matches(['<', '>'])
        .to_string();

    // The mailbox is told only after the ticket is stored.
    let flags = dovecot.flags("nl", PASSWORD, "INBOX");
    assert!(flags.iter().all(|(_, f)| f.contains("\\Seen")), "{flags:?}");

    // Outlook: no In-Reply-To, only the reference in the subject.
    dovecot.append(
        "nl",
        PASSWORD,
        "INBOX",
        &mail(
            "jane@acme.example",
            "servicedesk.nl@example.net",
            "AW: [NL-000001] Link down AM11",
            "outlook@acme.example",
            "",
        ),
    );
    // Gmail: References only.
    dovecot.append(
        "nl",
        PASSWORD,
        "INBOX",
        &mail(
            "jane@acme.example",
            "servicedesk.nl@example.net",
            "Re: Link down AM11",
            "gmail@acme.example",
            &format!("References: <first@acme.example> <{ack_id}>\r\n"),
        ),
    );
    // Both.
    dovecot.append(
        "nl",
        PASSWORD,
        "INBOX",
        &mail(
            "jane@acme.example",
            "servicedesk.nl@example.net",
            "Réf : [NL-000001] Link down AM11",
            "both@acme.example",
            &format!("In-Reply-To: <{ack_id}>\r\n"),
        ),
    );
    dg.ok(&["run", "--once"]);

    let tickets = dg.tickets();
    assert_eq!(
        tickets.len(),
        1,
        "every reply joined the ticket: {tickets:?}"
    );
    let show = dg.json(&["tickets", "show", &reference, "--json"]);
    let messages = show["messages"].as_array().expect("messages");
    let inbound: Vec<&str> = messages
        .iter()
        .filter(|m| m["direction"] == "in")
        .filter_map(|m| m["message_id"].as_str())
        .collect();
    assert_eq!(
        inbound,
        vec![
            "first@acme.example",
            "outlook@acme.example",
            "gmail@acme.example",
            "both@acme.example"
        ]
    );
    for m in messages {
        for field in [
            "message_id",
            "direction",
            "from",
            "to",
            "kind",
            "date",
            "subject",
            "text",
            "attachments",
        ] {
            assert!(m.get(field).is_some(), "message has no {field}: {m}");
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        sink.messages().len(),
        1,
        "no second acknowledgement for follow-ups"
    );

    // The French desk answers in French.
    dovecot.append(
        "fr",
        PASSWORD,
        "INBOX",
        &mail(
            "Paul <paul@client.example>",
            "support.fr@example.net",
            "Panne serveur",
            "fr1@client.example",
            "",
        ),
    );
    dg.ok(&["run", "--once"]);
    let all = sink.wait_for(2, Duration::from_secs(10));
    let fr = all
        .iter()
        .find(|m| m.rcpt_to == vec!["paul@client.example".to_string()])
        .expect("French ack");
    let subject = decoded_subject(&fr.raw);
    assert!(
        subject.contains("[FR-000002]") && subject.contains("reçue"),
        "{subject}"
    );

    let outbox = dg.json(&["outbox", "list", "--json"]);
    let outbox = outbox.as_array().expect("outbox");
    assert_eq!(outbox.len(), 2);
    for e in outbox {
        assert_eq!(e["state"], "sent", "{e}");
        for field in [
            "id",
            "ticket",
            "to",
            "subject",
            "state",
            "attempts",
            "message_id",
        ] {
            assert!(e.get(field).is_some(), "outbox entry has no {field}: {e}");
        }
    }
}

/// Starts `deskgate run` and waits for its admin socket.
fn start_daemon(dg: &Deskgate) -> Child {
    let child = dg
        .cmd(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn daemon");
    let socket = dg.dir.path().join("store.sock");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !socket.exists() {
        assert!(
            Instant::now() < deadline,
            "daemon did not open its admin socket"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn stop_daemon(mut child: Child) -> String {
    // SIGTERM, as systemd would.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            assert!(status.success(), "daemon exited with {status}:\n{err}");
            return err;
        }
        assert!(Instant::now() < deadline, "daemon did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_daemon_picks_up_new_mail_by_idle_and_the_cli_works_beside_it() {
    let dovecot = two_desks();
    let sink = SmtpSink::start();
    let dg = Deskgate::plain(&dovecot, sink.port());
    let daemon = start_daemon(&dg);

    // Give the desks a moment to enter IDLE, then deliver.
    std::thread::sleep(Duration::from_millis(1500));
    dovecot.append(
        "nl",
        PASSWORD,
        "INBOX",
        &mail(
            "jane@acme.example",
            "servicedesk.nl@example.net",
            "Power feed B lost",
            "idle1@acme.example",
            "",
        ),
    );
    // The CLI asks the running daemon (the store is locked by it).
    wait_until("the ticket to appear", Duration::from_secs(15), || {
        !dg.tickets().is_empty()
    });
    let acks = sink.wait_for(1, Duration::from_secs(15));
    assert_eq!(acks[0].rcpt_to, vec!["jane@acme.example".to_string()]);
    let show = dg.json(&["tickets", "show", "NL-000001", "--json"]);
    assert_eq!(show["subject"], "Power feed B lost");
    let _ = dg.json(&["outbox", "list", "--json"]);

    let log = stop_daemon(daemon);
    assert!(log.contains("stopped"), "clean shutdown is logged:\n{log}");
    // After the daemon is gone the CLI opens the store itself.
    assert_eq!(dg.tickets().len(), 1);
}

#[test]
fn imaps_with_a_private_ca_works() {
    let dovecot = two_desks();
    let sink = SmtpSink::start();
    let dg = Deskgate::new(
        &format!("imaps://127.0.0.1:{}", dovecot.imaps_port()),
        Some(dovecot.ca_cert_path()),
        sink.port(),
    );
    dovecot.append(
        "nl",
        PASSWORD,
        "INBOX",
        &mail(
            "jane@acme.example",
            "servicedesk.nl@example.net",
            "Over TLS",
            "tls1@acme.example",
            "",
        ),
    );
    dg.ok(&["run", "--once"]);
    assert_eq!(dg.tickets().len(), 1);
    assert_eq!(sink.wait_for(1, Duration::from_secs(10)).len(), 1);
}

#[test]
fn a_uidvalidity_reset_neither_loses_nor_duplicates_mail() {
    let dovecot = two_desks();
    let sink = SmtpSink::start();
    let dg = Deskgate::plain(&dovecot, sink.port());
    for i in 1..=2 {
        dovecot.append(
            "nl",
            PASSWORD,
            "INBOX",
            &mail(
                "jane@acme.example",
                "servicedesk.nl@example.net",
                &format!("Case {i}"),
                &format!("case{i}@acme.example"),
                "",
            ),
        );
    }
    dg.ok(&["run", "--once"]);
    assert_eq!(dg.tickets().len(), 2);

    dovecot.uidvalidity_reset("nl");
    dovecot.append(
        "nl",
        PASSWORD,
        "INBOX",
        &mail(
            "jane@acme.example",
            "servicedesk.nl@example.net",
            "Case 3",
            "case3@acme.example",
            "",
        ),
    );
    dg.ok(&["run", "--once"]);

    let subjects: Vec<String> = dg
        .tickets()
        .iter()
        .filter_map(|t| t["subject"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        subjects,
        vec!["Case 1", "Case 2", "Case 3"],
        "no mail lost or doubled"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.messages().len(), 3, "one acknowledgement per ticket");
}

#[test]
fn run_once_fails_loudly_when_a_server_cannot_be_reached() {
    let dovecot = two_desks();
    let dead_smtp = common::free_port();
    let dg = Deskgate::new(
        &format!("imap://127.0.0.1:{}", dovecot.imap_port()),
        None,
        dead_smtp,
    );
    dovecot.append(
        "nl",
        PASSWORD,
        "INBOX",
        &mail(
            "jane@acme.example",
            "servicedesk.nl@example.net",
            "Queued",
            "q1@acme.example",
            "",
        ),
    );
    let out = dg.run(&["run", "--once"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("smtp"),
        "the message names the SMTP server: {err}"
    );
    // The ticket exists and its acknowledgement waits in the outbox.
    assert_eq!(dg.tickets().len(), 1);
    let outbox = dg.json(&["outbox", "list", "--json"]);
    assert_eq!(outbox[0]["state"], "queued");

    let dead_imap = common::free_port();
    let dg2 = Deskgate::new(&format!("imap://127.0.0.1:{dead_imap}"), None, dead_smtp);
    let out = dg2.run(&["run", "--once"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot connect"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_permanent_smtp_refusal_fails_the_entry_and_notes_the_ticket() {
    let dovecot = two_desks();
    let sink = SmtpSink::start_with_args(&["-f", "rcpt"]);
    let dg = Deskgate::plain(&dovecot, sink.port());
    dovecot.append(
        "nl",
        PASSWORD,
        "INBOX",
        &mail(
            "jane@acme.example",
            "servicedesk.nl@example.net",
            "Refused",
            "r1@acme.example",
            "",
        ),
    );
    dg.ok(&["run", "--once"]);
    let outbox = dg.json(&["outbox", "list", "--json"]);
    assert_eq!(outbox[0]["state"], "failed", "{outbox}");
    assert_eq!(outbox[0]["attempts"], 1, "a 5xx is not retried");
    assert!(
        outbox[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains('5')),
        "{outbox}"
    );
    let show = dg.json(&["tickets", "show", "NL-000001", "--json"]);
    let noted = show["events"].as_array().expect("events").iter().any(|e| {
        e["event"] == "note"
            && e["text"]
                .as_str()
                .is_some_and(|t| t.contains("could not be delivered"))
    });
    assert!(
        noted,
        "the ticket says the acknowledgement was not delivered: {show}"
    );
}

#[test]
fn a_transient_smtp_failure_is_retried_later_with_the_same_message_id() {
    let dovecot = two_desks();
    let mut soft = SmtpSink::start_with_args(&["-r", "rcpt"]);
    let dg = Deskgate::plain(&dovecot, soft.port());
    dovecot.append(
        "nl",
        PASSWORD,
        "INBOX",
        &mail(
            "jane@acme.example",
            "servicedesk.nl@example.net",
            "Greylisted",
            "g1@acme.example",
            "",
        ),
    );
    dg.ok(&["run", "--once"]);
    let outbox = dg.json(&["outbox", "list", "--json"]);
    assert_eq!(outbox[0]["state"], "queued", "{outbox}");
    assert_eq!(outbox[0]["attempts"], 1);
    let message_id = outbox[0]["message_id"]
        .as_str()
        .expect("message_id")
        .to_string();
    soft.stop();

    let sink = SmtpSink::start();
    dg.set_smtp_port(sink.port());
    // Not due yet: the first retry waits 30 s.
    dg.ok(&["run", "--once"]);
    assert_eq!(dg.json(&["outbox", "list", "--json"])[0]["state"], "queued");
    // An hour later it is.
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    dg.ok(&["run", "--once", "--now", &later]);
    let outbox = dg.json(&["outbox", "list", "--json"]);
    assert_eq!(outbox[0]["state"], "sent", "{outbox}");
    assert_eq!(outbox[0]["attempts"], 2);
    let got = sink.wait_for(1, Duration::from_secs(10));
    assert_eq!(
        got[0]
            .header("Message-ID")
            .map(|m| m.trim_matches(['<', '>']).to_string()),
        Some(message_id),
        "the retry is the same mail"
    );
}

/// Plays an auto-responder at jane@acme.example: every mail the desk sent her since the last
/// round gets an answer, shaped by `answer`. Returns how many mails reached her in all.
fn storm(answer: impl Fn(usize, &common::Captured) -> Vec<u8>) -> usize {
    let dovecot = two_desks();
    let sink = SmtpSink::start();
    let dg = Deskgate::plain(&dovecot, sink.port());
    dovecot.append(
        "nl",
        PASSWORD,
        "INBOX",
        &mail(
            "jane@acme.example",
            "servicedesk.nl@example.net",
            "Link down",
            "storm0@acme.example",
            "",
        ),
    );
    let mut answered = 0;
    for round in 0..6 {
        dg.ok(&["run", "--once"]);
        std::thread::sleep(Duration::from_millis(200));
        let to_jane: Vec<common::Captured> = sink
            .messages()
            .into_iter()
            .filter(|m| m.rcpt_to == vec!["jane@acme.example".to_string()])
            .collect();
        for m in &to_jane[answered..] {
            dovecot.append("nl", PASSWORD, "INBOX", &answer(round, m));
        }
        answered = to_jane.len();
    }
    answered
}

#[test]
fn an_auto_responder_answering_every_mail_stops_after_the_first_acknowledgement() {
    // RFC 3834 responder: Auto-Submitted, In-Reply-To, "Automatic reply:" subject.
    let polite = storm(|round, m| {
        let id = m.header("Message-ID").unwrap_or_default();
        mail(
            "jane@acme.example",
            "servicedesk.nl@example.net",
            &format!("Automatic reply: {}", decoded_subject(&m.raw)),
            &format!("ooo{round}@acme.example"),
            &format!("Auto-Submitted: auto-replied\r\nIn-Reply-To: {id}\r\n"),
        )
    });
    assert_eq!(polite, 1, "one acknowledgement, and the exchange stopped");

    // A careless robot: no auto-reply headers, but it answers in the thread.
    let careless = storm(|round, m| {
        let id = m.header("Message-ID").unwrap_or_default();
        mail(
            "jane@acme.example",
            "servicedesk.nl@example.net",
            &format!("Re: {}", decoded_subject(&m.raw)),
            &format!("bot{round}@acme.example"),
            &format!("In-Reply-To: {id}\r\n"),
        )
    });
    assert_eq!(
        careless, 1,
        "a reply in the thread is a follow-up: never acknowledged"
    );

    // The worst: a robot that opens a fresh conversation every time. The storm limit caps it.
    let rogue = storm(|round, _| {
        mail(
            "jane@acme.example",
            "servicedesk.nl@example.net",
            &format!("Ticket {round} from our system"),
            &format!("rogue{round}@acme.example"),
            "",
        )
    });
    assert_eq!(
        rogue, 3,
        "at most limits.auto_per_recipient_per_hour automatic mails an hour"
    );
}
