//! `deskgate import`: a desk's history (an mbox, a Maildir, a folder of `.eml` files) threaded
//! into tickets as ingest does, with nothing sent, each mail at its own date, no SLA notice for
//! deadlines long past, and nothing changed by a second run.
//!
//! The mbox fixture (`tests/fixtures/import/thread.mbox`) is an mboxrd file as RFC 4155 and
//! qmail's mbox(5) describe them: a thread of three mails and one unrelated request.

mod common;

use common::{DeskConfig, Gate, GateConfig, TextMail};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Desk `nl` (reading its own `inbox/` Maildir, empty here) with a tier-1 team that live mail
/// would notify, mail "sent" into files.
fn config() -> GateConfig {
    GateConfig::new()
        .desk(DeskConfig::nl())
        .team("Tier 1", 1, "tier1@provider.example", None)
}

fn gate() -> Gate {
    config().start()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
}

/// `deskgate import --desk nl PATH --json`: its summary.
fn import(gate: &Gate, path: &Path) -> Value {
    let path = path.to_string_lossy();
    gate.json(&["import", "--desk", "nl", &path, "--json"])
}

fn counts(summary: &Value) -> [u64; 5] {
    ["mails", "created", "appended", "duplicates", "quarantined"]
        .map(|k| summary[k].as_u64().unwrap_or(u64::MAX))
}

/// The tickets by subject: (subject, message count).
fn tickets(gate: &Gate) -> Vec<(String, u64)> {
    let mut t: Vec<(String, u64)> = gate
        .tickets()
        .iter()
        .map(|t| {
            (
                t["subject"].as_str().unwrap_or_default().to_string(),
                t["message_count"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    t.sort();
    t
}

fn reference_of(gate: &Gate, subject: &str) -> String {
    gate.tickets()
        .iter()
        .find(|t| t["subject"] == subject)
        .and_then(|t| t["ref"].as_str())
        .unwrap_or_else(|| gate.fail(format!("no ticket {subject:?}")))
        .to_string()
}

/// Every file the file transport wrote (mail "sent").
fn sent_files(gate: &Gate) -> usize {
    std::fs::read_dir(gate.path("outbox"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn an_mbox_thread_becomes_one_ticket_and_nothing_is_sent() {
    let gate = gate();
    let summary = import(&gate, &fixture("thread.mbox"));
    assert_eq!(counts(&summary), [4, 2, 2, 0, 0], "{summary}");
    assert_eq!(
        tickets(&gate),
        [
            ("Rack 12 uplink down".to_string(), 3),
            ("Request: cross-connect in AMS2".to_string(), 1),
        ]
    );
    assert!(gate.outbox().is_empty(), "queued: {:?}", gate.outbox());

    // The ticket keeps the history's dates, and the '>From ' line its text.
    let reference = reference_of(&gate, "Rack 12 uplink down");
    let ticket = gate.ticket(&reference);
    assert_eq!(ticket["created_at"], "2026-11-16T08:12:40Z", "{ticket}");
    let messages = ticket["messages"].as_array().cloned().unwrap_or_default();
    let dates: Vec<&str> = messages.iter().filter_map(|m| m["date"].as_str()).collect();
    assert_eq!(
        dates,
        [
            "2026-11-16T08:12:40Z",
            "2026-11-16T10:40:00Z",
            "2026-11-17T07:05:30Z"
        ]
    );
    let first = messages[0]["text"].as_str().unwrap_or_default();
    assert!(
        first.contains("\nFrom the rack we see no light on port 3."),
        "{first}"
    );
    assert!(!first.contains(">From"), "{first}");

    // Its SLA deadlines passed long before the import: nobody is told now.
    let pass = gate.run_once();
    assert_eq!(pass["timers"]["sla_warnings"], 0, "{pass}");
    assert_eq!(pass["timers"]["sla_breaches"], 0, "{pass}");
    assert!(gate.outbox().is_empty(), "queued: {:?}", gate.outbox());
    assert_eq!(sent_files(&gate), 0);
    let history = gate.ticket(&reference).to_string();
    assert!(
        history.contains("imported history: SLA notices due before the import were not sent"),
        "{history}"
    );
}

#[test]
fn importing_again_changes_nothing_and_says_duplicates() {
    let gate = gate();
    import(&gate, &fixture("thread.mbox"));
    let before = gate.tickets();
    let again = import(&gate, &fixture("thread.mbox"));
    assert_eq!(counts(&again), [4, 0, 0, 4, 0], "{again}");
    assert_eq!(gate.tickets(), before);
    assert!(gate.outbox().is_empty());
    // The summary an operator reads says so too.
    let path = fixture("thread.mbox");
    let line = gate.ok(&["import", "--desk", "nl", &path.to_string_lossy()]);
    assert!(
        line.starts_with(
            "4 mails: 0 tickets created, 0 added to tickets, 4 duplicates skipped, 0 kept aside"
        ),
        "{line}"
    );
}

fn thread() -> Vec<TextMail> {
    let root = TextMail::new("Jane <jane@acme.example>", "Link down", "root@acme.example")
        .date("Mon, 16 Nov 2026 09:00:00 +0100");
    let reply = TextMail::new(
        "Jane <jane@acme.example>",
        "Re: Link down",
        "r1@acme.example",
    )
    .date("Mon, 16 Nov 2026 10:00:00 +0100")
    .headers("In-Reply-To: <root@acme.example>\r\nReferences: <root@acme.example>\r\n")
    .body("Still down.");
    let other = TextMail::new("ops@globex.example", "Power feed B", "pf@globex.example")
        .date("Tue, 17 Nov 2026 09:00:00 +0100");
    vec![root, reply, other]
}

#[test]
fn a_maildir_is_imported_from_cur_and_new_and_left_as_it_was() {
    let gate = gate();
    let maildir = gate.path("old-desk");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).expect("mkdir");
    }
    let [root, reply, other]: [TextMail; 3] = thread().try_into().expect("three");
    let files = [
        ("cur/1763280000.1.host:2,S", root),
        ("cur/1763283600.2.host:2,S", reply),
        ("new/1763366400.3.host", other),
    ];
    for (name, mail) in &files {
        std::fs::write(maildir.join(name), mail.bytes()).expect("write");
    }
    let summary = import(&gate, &maildir);
    assert_eq!(counts(&summary), [3, 2, 1, 0, 0], "{summary}");
    assert_eq!(
        tickets(&gate),
        [
            ("Link down".to_string(), 2),
            ("Power feed B".to_string(), 1)
        ]
    );
    for (name, _) in &files {
        assert!(maildir.join(name).is_file(), "{name} was moved");
    }
    assert!(gate.outbox().is_empty());
}

#[test]
fn a_folder_of_eml_files_is_imported() {
    let gate = gate();
    let folder = gate.path("export");
    std::fs::create_dir_all(&folder).expect("mkdir");
    for (i, mail) in thread().iter().enumerate() {
        std::fs::write(folder.join(format!("{i:03}.eml")), mail.bytes()).expect("write");
    }
    std::fs::write(folder.join("index.txt"), "not mail").expect("write");
    let summary = import(&gate, &folder);
    assert_eq!(counts(&summary), [3, 2, 1, 0, 0], "{summary}");
    assert_eq!(
        tickets(&gate),
        [
            ("Link down".to_string(), 2),
            ("Power feed B".to_string(), 1)
        ]
    );
    assert!(gate.outbox().is_empty());
    let again = import(&gate, &folder);
    assert_eq!(counts(&again), [3, 0, 0, 3, 0], "{again}");
}

/// A MIME bomb: multiparts nested past the parser's limit, as the fuzzer found them.
fn nesting_bomb() -> Vec<u8> {
    let mut m = String::from("From: x@evil.example\nSubject: bomb\nMessage-ID: <bomb@evil.example>\nDate: Mon, 16 Nov 2026 12:00:00 +0100\nMIME-Version: 1.0\n");
    for i in 0..60 {
        m.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\n\n--b{i}\n"
        ));
    }
    m.push_str("Content-Type: text/plain\n\nx\n");
    m.into_bytes()
}

#[test]
fn a_broken_mail_is_quarantined_and_the_import_goes_on() {
    let gate = gate();
    let [root, reply, other]: [TextMail; 3] = thread().try_into().expect("three");
    let mut mbox = Vec::new();
    for raw in [root.bytes(), nesting_bomb(), reply.bytes(), other.bytes()] {
        mbox.extend_from_slice(b"From someone@example.net Mon Nov 16 12:00:00 2026\n");
        mbox.extend_from_slice(&raw);
        mbox.extend_from_slice(b"\n");
    }
    let path = gate.path("history.mbox");
    std::fs::write(&path, mbox).expect("write");
    let summary = import(&gate, &path);
    assert_eq!(counts(&summary), [4, 2, 1, 0, 1], "{summary}");
    assert_eq!(
        tickets(&gate),
        [
            ("Link down".to_string(), 2),
            ("Power feed B".to_string(), 1)
        ]
    );
    let quarantine = gate.list(&["quarantine", "list", "--json"]);
    assert_eq!(quarantine.len(), 1, "{quarantine:?}");
    assert!(
        quarantine[0].to_string().contains("mbox"),
        "{:?}",
        quarantine[0]
    );
    // Known the second time, by the digest of its bytes: not quarantined again.
    let again = import(&gate, &path);
    assert_eq!(counts(&again), [4, 0, 0, 4, 0], "{again}");
    assert_eq!(gate.list(&["quarantine", "list", "--json"]).len(), 1);
}

#[test]
fn an_unknown_desk_or_path_is_refused_with_its_name() {
    let gate = gate();
    let fixture = fixture("thread.mbox");
    let out = gate.output(&["import", "--desk", "xx", &fixture.to_string_lossy()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no desk \"xx\""));
    let empty = gate.path("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let out = gate.output(&["import", "--desk", "nl", &empty.to_string_lossy()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("neither an mbox file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_ticket_opened_minutes_ago_keeps_its_sla_notices_to_come() {
    let gate = gate();
    // Dated by the clock the binary reads too (faketime included).
    let date = (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc2822();
    let mail = TextMail::new(
        "Jane <jane@acme.example>",
        "Fresh outage",
        "fresh@acme.example",
    )
    .date(&date);
    let path = gate.path("fresh.eml");
    std::fs::write(&path, mail.bytes()).expect("write");
    let summary = import(&gate, &path);
    assert_eq!(counts(&summary), [1, 1, 0, 0, 0], "{summary}");
    let reference = reference_of(&gate, "Fresh outage");
    let ticket = gate.ticket(&reference);
    assert_eq!(
        ticket["sla"]["first_response"]["state"], "running",
        "{ticket}"
    );
    assert!(!ticket.to_string().contains("imported history"), "{ticket}");
    assert!(gate.outbox().is_empty());
}

#[test]
fn a_quarantined_mail_of_the_history_retried_is_still_not_answered() {
    let gate = config()
        .set("ingest", "max_message_bytes", 2_000i64)
        .start();
    let big = TextMail::new("Jane <jane@acme.example>", "Big logs", "big@acme.example")
        .date("Mon, 16 Nov 2026 09:00:00 +0100")
        .body(&"log line\n".repeat(400));
    let path = gate.path("big.eml");
    std::fs::write(&path, big.bytes()).expect("write");
    import(&gate, &path);
    assert!(gate.outbox().is_empty(), "{:?}", gate.outbox());
    let quarantine = gate.list(&["quarantine", "list", "--json"]);
    let id = quarantine
        .first()
        .and_then(|q| q["id"].as_u64())
        .unwrap_or_else(|| gate.fail("nothing in quarantine"));
    gate.reconfigure(|c| c.set("ingest", "max_message_bytes", 1_000_000i64));
    gate.ok(&["quarantine", "retry", &id.to_string()]);
    assert!(gate.outbox().is_empty(), "{:?}", gate.outbox());
    let ticket = gate.ticket(&reference_of(&gate, "Big logs"));
    assert_eq!(ticket["created_at"], "2026-11-16T08:00:00Z", "{ticket}");
}
