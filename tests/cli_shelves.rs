//! The quarantine and aside shelves from the command line, on the embedded Maildir setup: an
//! oversized mail is kept raw and its sender told politely; after the limit is raised,
//! `quarantine retry` processes it; `drop` removes what nobody needs.

mod common;

use common::{DeskConfig, Gate, GateConfig};

/// Desk `nl`, in Dutch, on the Maildir `inbox/`, taking mails of at most `max_bytes`.
fn setup(max_bytes: u32) -> Gate {
    GateConfig::new()
        .set("ingest", "max_message_bytes", max_bytes)
        .desk(DeskConfig::new("nl", "servicedesk.nl@example.net").language("nl"))
        .start()
}

fn big_mail(id: &str, from: &str, size: usize) -> String {
    let body =
        "All the logs of the core router, one line after the other.\r\n".repeat(size / 60 + 1);
    format!("From: {from}\r\nTo: servicedesk.nl@example.net\r\nSubject: Logs\r\nMessage-ID: <{id}>\r\n\r\n{body}")
}

#[test]
fn an_oversized_mail_is_kept_its_sender_told_and_it_can_be_retried() {
    let s = setup(4_000);
    s.deliver(
        "1.big",
        big_mail("big@acme.example", "Jan <jan@acme.example>", 20_000),
    );
    s.deliver("2.small", "From: jan@acme.example\r\nTo: servicedesk.nl@example.net\r\nSubject: Hello\r\nMessage-ID: <small@acme.example>\r\n\r\nshort\r\n");
    s.run_once();

    let q = s.json(&["quarantine", "list", "--json"]);
    assert_eq!(q.as_array().map(Vec::len), Some(1), "{q}");
    assert!(
        q[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("max_message_bytes")),
        "{q}"
    );
    let id = q[0]["id"].as_u64().expect("id");
    let shown = s.json(&["quarantine", "show", &id.to_string(), "--json"]);
    assert!(
        shown["raw"]
            .as_str()
            .is_some_and(|r| r.contains("core router")),
        "kept raw"
    );

    let tickets = s.json(&["tickets", "list", "--json"]);
    assert_eq!(tickets.as_array().map(Vec::len), Some(2));
    let outbox = s.json(&["outbox", "list", "--json"]);
    let notice = outbox
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["kind"] == "too_large")
        .expect("the sender is told");
    assert!(
        notice["subject"]
            .as_str()
            .is_some_and(|t| t.contains("te groot")),
        "in the desk's language: {notice}"
    );
    let big_ticket = notice["ticket"].as_str().expect("ticket").to_string();
    let t = s.json(&["tickets", "show", &big_ticket, "--json"]);
    assert!(t["events"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| e["event"] == "note"
            && e["text"].as_str().is_some_and(|x| x.contains("quarantine"))));

    // The administrator raises the limit and retries: the whole mail is processed now.
    s.reconfigure(|c| c.set("ingest", "max_message_bytes", 1_000_000));
    let retried = s.json(&["quarantine", "retry", &id.to_string(), "--json"]);
    assert_eq!(
        retried["ticket"].as_str(),
        Some(big_ticket.as_str()),
        "the whole mail joins the ticket its headers opened: {retried}"
    );
    assert_eq!(
        s.json(&["tickets", "list", "--json"])
            .as_array()
            .map(Vec::len),
        Some(2),
        "no second ticket"
    );
    assert_eq!(
        s.json(&["quarantine", "list", "--json"])
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    let all = s.json(&["tickets", "list", "--json"]);
    let found = all.as_array().into_iter().flatten().any(|t| {
        let r = t["ref"].as_str().unwrap_or("");
        let detail = s.json(&["tickets", "show", r, "--json"]);
        detail["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| {
                m["text"]
                    .as_str()
                    .is_some_and(|x| x.contains("core router"))
            })
    });
    assert!(found, "the retried mail's text is on a ticket");
}

#[test]
fn machine_mail_kept_aside_can_be_listed_and_dropped() {
    let s = setup(1_000_000);
    s.deliver("1.ooo", "From: someone@acme.example\r\nTo: servicedesk.nl@example.net\r\nSubject: Out of Office\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <ooo@acme.example>\r\n\r\nAway.\r\n");
    s.run_once();
    let aside = s.json(&["aside", "list", "--json"]);
    assert_eq!(aside.as_array().map(Vec::len), Some(1), "{aside}");
    let id = aside[0]["id"].as_u64().expect("id").to_string();
    s.ok(&["aside", "drop", &id]);
    assert_eq!(
        s.json(&["aside", "list", "--json"])
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    assert_eq!(
        s.json(&["tickets", "list", "--json"])
            .as_array()
            .map(Vec::len),
        Some(0),
        "an auto-reply opens no ticket"
    );
}

#[test]
fn retrying_an_entry_that_does_not_exist_says_no_entry_as_drop_does() {
    let s = setup(1_000_000);
    for shelf in ["aside", "quarantine"] {
        let retry = s.output(&[shelf, "retry", "99"]);
        let drop = s.output(&[shelf, "drop", "99"]);
        let said = |o: &std::process::Output| {
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(said(&retry), "deskgate: no entry 99", "{shelf} retry");
        assert_eq!(said(&drop), "deskgate: no entry 99", "{shelf} drop");
        assert_eq!(retry.status.code(), drop.status.code(), "{shelf}");
        assert_ne!(retry.status.code(), Some(0), "{shelf}");
    }
}
