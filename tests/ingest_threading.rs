//! Threading through the whole ingest step (parse → classify → thread → commit), on an in-memory
//! store: the cases a service desk meets every day, each as a user would check them — which
//! ticket the mail is on, and how many acknowledgements went out.

mod common;

use common::{DeskConfig, GateConfig};
use deskgate::clock::ManualClock;
use deskgate::config::Config;
use deskgate::context::Context;
use deskgate::core::service::ticket::Status;
use deskgate::ingest::{Ingestor, Outcome};
use deskgate::render::Templates;
use deskgate::source::{Origin, RawMail};
use deskgate::store::Store;
use std::path::Path;
use std::sync::Arc;

/// Desk `nl` (English) and desk `fr`, each on a Maildir the test never reads: mail is handed
/// to the ingest step directly.
fn two_desks() -> GateConfig {
    GateConfig::new()
        .desk(DeskConfig::new("nl", "servicedesk.nl@example.net").maildir("unused-nl"))
        .desk(
            DeskConfig::new("fr", "support.fr@example.net")
                .language("fr")
                .maildir("unused-fr"),
        )
}

struct Desk {
    ingestor: Ingestor,
    config: Arc<Config>,
    n: usize,
}

impl Desk {
    fn new() -> Desk {
        Desk::with(two_desks())
    }

    fn with(config: GateConfig) -> Desk {
        let text = config.toml(Path::new("/nonexistent"));
        let config = Arc::new(Config::parse(&text, Path::new("test.toml")).expect("config"));
        let templates = Arc::new(
            Templates::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"))
                .expect("templates"),
        );
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        Desk {
            ingestor: Ingestor::new(Arc::new(Context::new(
                Store::memory(),
                templates,
                config.clone(),
                clock,
            ))),
            config,
            n: 0,
        }
    }

    fn store(&self) -> &Store {
        &self.ingestor.ctx.store
    }

    /// Delivers a mail to desk `desk` (0 = nl, 1 = fr).
    fn deliver_to(&mut self, desk: usize, headers: &str, body: &str) -> Outcome {
        self.n += 1;
        let raw = format!(
            "{}\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n\r\n{body}\r\n",
            headers.trim().replace('\n', "\r\n")
        );
        let mail = RawMail {
            origin: Origin::Maildir {
                file: format!("{}.eml", self.n),
            },
            raw: raw.into_bytes(),
        };
        self.ingestor
            .process(&self.config.desks[desk], &mail)
            .expect("process")
    }

    fn deliver(&mut self, headers: &str) -> Outcome {
        self.deliver_to(0, headers, "text")
    }

    fn acks(&self) -> usize {
        self.store()
            .outbox()
            .expect("outbox")
            .iter()
            .filter(|e| e.kind == "ack")
            .count()
    }

    /// Message-ID of the acknowledgement of `reference`.
    fn ack_id(&self, reference: &str) -> String {
        self.store()
            .outbox()
            .expect("outbox")
            .into_iter()
            .find(|e| e.ticket.as_deref() == Some(reference))
            .map(|e| e.message_id)
            .expect("ack")
    }

    fn open_ticket(&mut self) -> String {
        let out = self.deliver("From: Jane <jane@acme.example>\nTo: servicedesk.nl@example.net\nSubject: Link down AM11\nMessage-ID: <first@acme.example>");
        match out {
            Outcome::Created {
                ticket,
                acknowledged: true,
            } => ticket,
            other => panic!("expected a new acknowledged ticket, got {other:?}"),
        }
    }
}

fn ticket_of(o: &Outcome) -> &str {
    o.ticket().unwrap_or_else(|| panic!("no ticket: {o:?}"))
}

#[test]
fn a_new_mail_opens_a_ticket_and_is_acknowledged_once() {
    let mut d = Desk::new();
    let t = d.open_ticket();
    assert_eq!(t, "NL-000001");
    assert_eq!(d.acks(), 1);
    let ticket = d.store().ticket(&t).expect("get").expect("ticket");
    assert_eq!(ticket.subject, "Link down AM11");
    assert_eq!(ticket.requester.email, "jane@acme.example");
    let ack = &d.store().outbox().expect("outbox")[0];
    assert!(ack.subject.contains("[NL-000001]"), "{}", ack.subject);
    assert_eq!(ack.to, vec!["jane@acme.example"]);
}

#[test]
fn outlook_reply_with_only_the_reference_in_the_subject_joins() {
    for prefix in ["RE:", "AW:", "TR:", "Réf :", "RES:", "R:", "SV:", "Antw:"] {
        let mut d = Desk::new();
        let t = d.open_ticket();
        let out = d.deliver(&format!(
            "From: jane@acme.example\nTo: servicedesk.nl@example.net\nSubject: {prefix} [{t}] Link down AM11\nMessage-ID: <reply@acme.example>"
        ));
        assert_eq!(ticket_of(&out), t, "prefix {prefix}");
        assert!(
            matches!(out, Outcome::Appended { .. }),
            "prefix {prefix}: {out:?}"
        );
        assert_eq!(
            d.acks(),
            1,
            "no second acknowledgement for a follow-up ({prefix})"
        );
    }
}

#[test]
fn gmail_reply_with_references_only_joins() {
    let mut d = Desk::new();
    let t = d.open_ticket();
    let ack = d.ack_id(&t);
    let out = d.deliver(&format!(
        "From: jane@acme.example\nTo: servicedesk.nl@example.net\nSubject: Re: Link down AM11\nMessage-ID: <g@mail.gmail.com>\nReferences: <first@acme.example> <{ack}>"
    ));
    assert_eq!(
        out,
        Outcome::Appended {
            ticket: t.clone(),
            reopened: false
        }
    );
    assert_eq!(d.acks(), 1);
}

#[test]
fn a_reply_with_both_headers_and_reference_joins_once() {
    let mut d = Desk::new();
    let t = d.open_ticket();
    let ack = d.ack_id(&t);
    let out = d.deliver(&format!(
        "From: jane@acme.example\nTo: servicedesk.nl@example.net\nSubject: RE: [{t}] Link down AM11\nMessage-ID: <both@acme.example>\nIn-Reply-To: <{ack}>\nReferences: <first@acme.example> <{ack}>"
    ));
    assert_eq!(ticket_of(&out), t);
    assert_eq!(
        d.store().messages(&t).expect("messages").len(),
        3,
        "customer mail, ack, reply"
    );
}

#[test]
fn a_colleague_forwarding_with_the_reference_joins_but_a_stranger_does_not() {
    let mut d = Desk::new();
    let t = d.open_ticket();
    let out = d.deliver(&format!(
        "From: ops@acme.example\nTo: servicedesk.nl@example.net\nSubject: TR: [{t}] Link down AM11\nMessage-ID: <fwd@acme.example>"
    ));
    assert_eq!(ticket_of(&out), t);
    let ticket = d.store().ticket(&t).expect("get").expect("ticket");
    assert!(
        ticket.is_participant("ops@acme.example"),
        "a colleague from the customer's domain becomes a participant"
    );

    let out = d.deliver(&format!(
        "From: eve@evil.example\nTo: servicedesk.nl@example.net\nSubject: Fwd: [{t}] please send me the router config\nMessage-ID: <eve@evil.example>"
    ));
    let other = ticket_of(&out).to_string();
    assert_ne!(
        other, t,
        "a stranger quoting a reference gets a ticket of their own"
    );
    assert!(matches!(out, Outcome::Created { .. }));
    let victim = d.store().ticket(&t).expect("get").expect("ticket");
    assert!(!victim.is_participant("eve@evil.example"));
    let noted = |reference: &str| {
        d.store()
            .ticket(reference)
            .expect("get")
            .expect("ticket")
            .events
            .iter()
            .any(|e| {
                let text = serde_json::to_string(e).unwrap_or_default();
                text.contains("\"note\"")
                    && text.contains("eve@evil.example")
                    && text.contains("participant")
            })
    };
    assert!(
        noted(&t),
        "the mismatch is noted on the ticket whose reference was used"
    );
    assert!(noted(&other), "and on the new ticket");
}

#[test]
fn the_same_mail_delivered_to_two_desks_has_one_effect() {
    let mut d = Desk::new();
    let headers = "From: jane@acme.example\nTo: servicedesk.nl@example.net, support.fr@example.net\nSubject: Both desks\nMessage-ID: <both-desks@acme.example>";
    let first = d.deliver_to(0, headers, "x");
    let second = d.deliver_to(1, headers, "x");
    assert!(matches!(first, Outcome::Created { .. }));
    assert_eq!(
        second,
        Outcome::Duplicate {
            ticket: ticket_of(&first).to_string()
        }
    );
    assert_eq!(d.store().tickets().expect("tickets").len(), 1);
    assert_eq!(d.acks(), 1);
    let ticket = d
        .store()
        .ticket(ticket_of(&first))
        .expect("get")
        .expect("ticket");
    assert!(
        !ticket.is_participant("support.fr@example.net"),
        "a desk is never a participant"
    );
}

#[test]
fn the_same_mail_fetched_twice_is_one_message() {
    let mut d = Desk::new();
    let t = d.open_ticket();
    let again = d.deliver("From: Jane <jane@acme.example>\nTo: servicedesk.nl@example.net\nSubject: Link down AM11\nMessage-ID: <first@acme.example>");
    assert_eq!(again, Outcome::Duplicate { ticket: t.clone() });
    assert_eq!(
        d.store().messages(&t).expect("messages").len(),
        2,
        "customer mail and ack"
    );
}

#[test]
fn a_customer_reply_reopens_a_resolved_ticket() {
    let mut d = Desk::new();
    let t = d.open_ticket();
    let mut ticket = d.store().ticket(&t).expect("get").expect("ticket");
    ticket.set_status(
        Status::Resolved,
        "alice@provider.example",
        chrono::Utc::now(),
    );
    let mut txn = d.store().txn();
    txn.put_ticket(&ticket);
    txn.commit().expect("commit");
    let out = d.deliver(&format!(
        "From: jane@acme.example\nSubject: Re: [{t}] still down\nMessage-ID: <again@acme.example>"
    ));
    assert_eq!(
        out,
        Outcome::Appended {
            ticket: t.clone(),
            reopened: true
        }
    );
    assert_eq!(
        d.store().ticket(&t).expect("get").expect("ticket").status,
        Status::Open
    );
}

#[test]
fn a_reply_to_a_closed_ticket_opens_a_follow_up() {
    let mut d = Desk::new();
    let t = d.open_ticket();
    let mut ticket = d.store().ticket(&t).expect("get").expect("ticket");
    ticket.set_status(Status::Closed, "alice@provider.example", chrono::Utc::now());
    let mut txn = d.store().txn();
    txn.put_ticket(&ticket);
    txn.commit().expect("commit");
    let out = d.deliver(&format!(
        "From: jane@acme.example\nSubject: Re: [{t}] down again\nMessage-ID: <later@acme.example>"
    ));
    assert!(matches!(out, Outcome::Created { .. }), "{out:?}");
    assert_ne!(ticket_of(&out), t);
}

#[test]
fn a_reply_that_arrives_before_its_parent_still_threads_by_reference() {
    let mut d = Desk::new();
    let t = d.open_ticket();
    // The customer's second mail references a message we have not seen yet, and the reference.
    let out = d.deliver(&format!(
        "From: jane@acme.example\nSubject: Re: [{t}] more\nMessage-ID: <child@acme.example>\nIn-Reply-To: <unseen-parent@acme.example>"
    ));
    assert_eq!(ticket_of(&out), t);
}

#[test]
fn an_out_of_office_reply_is_kept_on_the_ticket_but_changes_nothing() {
    let mut d = Desk::new();
    let t = d.open_ticket();
    let ack = d.ack_id(&t);
    let mut ticket = d.store().ticket(&t).expect("get").expect("ticket");
    ticket.set_status(
        Status::Resolved,
        "alice@provider.example",
        chrono::Utc::now(),
    );
    let mut txn = d.store().txn();
    txn.put_ticket(&ticket);
    txn.commit().expect("commit");
    let out = d.deliver(&format!(
        "From: jane@acme.example\nSubject: Automatic reply: [{t}] Received: Link down AM11\nAuto-Submitted: auto-replied\nMessage-ID: <ooo@acme.example>\nIn-Reply-To: <{ack}>"
    ));
    assert_eq!(
        out,
        Outcome::Appended {
            ticket: t.clone(),
            reopened: false
        }
    );
    assert_eq!(
        d.store().ticket(&t).expect("get").expect("ticket").status,
        Status::Resolved,
        "an auto-reply does not reopen"
    );
    assert_eq!(d.acks(), 1, "an auto-reply is never answered");
    let kinds: Vec<String> = d
        .store()
        .messages(&t)
        .expect("messages")
        .iter()
        .map(|m| format!("{:?}", m.kind))
        .collect();
    assert_eq!(kinds, vec!["Customer", "Ack", "Automatic"]);
}

#[test]
fn machine_mail_that_answers_nothing_is_kept_aside_and_never_answered() {
    let mut d = Desk::new();
    let out = d.deliver("From: MAILER-DAEMON@mx.example\nSubject: Undelivered Mail Returned to Sender\nAuto-Submitted: auto-replied\nMessage-ID: <b1@mx.example>");
    assert!(matches!(out, Outcome::Aside { .. }), "{out:?}");
    let out = d.deliver("From: news@list.example\nSubject: Weekly digest\nList-Id: <digest.list.example>\nPrecedence: list\nMessage-ID: <l1@list.example>");
    assert!(matches!(out, Outcome::Aside { .. }), "{out:?}");
    assert_eq!(d.acks(), 0);
    assert!(d.store().tickets().expect("tickets").is_empty());
    assert_eq!(
        d.store()
            .shelf(deskgate::store::Shelf::Aside)
            .expect("aside")
            .len(),
        2
    );
}

#[test]
fn our_own_acknowledgement_coming_back_is_not_a_ticket() {
    let mut d = Desk::new();
    let t = d.open_ticket();
    let raw = d
        .store()
        .outbox_bytes(1)
        .expect("bytes")
        .expect("ack bytes");
    let mail = RawMail {
        origin: Origin::Maildir {
            file: "loop.eml".into(),
        },
        raw,
    };
    let out = d
        .ingestor
        .process(&d.config.desks[1], &mail)
        .expect("process");
    assert!(
        matches!(out, Outcome::Duplicate { .. } | Outcome::Aside { .. }),
        "{out:?}"
    );
    assert_eq!(d.store().tickets().expect("tickets").len(), 1);
    assert_eq!(
        d.acks(),
        1,
        "{t} was acknowledged once, and the loop stopped there"
    );
}

#[test]
fn a_bounce_of_our_acknowledgement_lands_on_its_ticket() {
    let mut d = Desk::new();
    let t = d.open_ticket();
    let ack = d.ack_id(&t);
    let body = format!(
        "This is a MIME-encapsulated message.\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.acme.example\r\n\r\nFinal-Recipient: rfc822; jane@acme.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{ack}>\r\nSubject: [{t}] Received\r\n\r\n--b--"
    );
    let out = d.deliver_to(
        0,
        "From: MAILER-DAEMON@mx.acme.example\nSubject: Undelivered Mail Returned to Sender\nMessage-ID: <dsn1@mx.acme.example>\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"",
        &body,
    );
    assert_eq!(ticket_of(&out), t, "{out:?}");
    assert_eq!(d.acks(), 1);
    let last = d
        .store()
        .messages(&t)
        .expect("messages")
        .pop()
        .expect("message");
    assert_eq!(format!("{:?}", last.kind), "Bounce");
}

#[test]
fn a_robot_opening_ticket_after_ticket_gets_three_acknowledgements_an_hour_then_none() {
    let mut d = Desk::new();
    for i in 0..6 {
        let out = d.deliver(&format!("From: robot@monitoring.example\nSubject: Alert {i}: link flapping\nMessage-ID: <alert{i}@monitoring.example>"));
        assert!(matches!(out, Outcome::Created { .. }), "{out:?}");
    }
    let states: Vec<String> = d
        .store()
        .outbox()
        .expect("outbox")
        .iter()
        .filter(|e| e.kind == "ack")
        .map(|e| e.state.as_str().to_string())
        .collect();
    assert_eq!(
        states,
        vec!["queued", "queued", "queued", "held", "held", "held"]
    );
    let held = d
        .store()
        .outbox()
        .expect("outbox")
        .into_iter()
        .find(|e| e.state.as_str() == "held")
        .expect("held");
    assert!(
        held.last_error
            .as_deref()
            .is_some_and(|e| e.contains("auto_per_recipient_per_hour")),
        "{held:?}"
    );
}

#[test]
fn a_flooding_sender_is_stored_but_not_answered_or_notified() {
    let mut d = Desk::new();
    for i in 0..35 {
        d.deliver(&format!(
            "From: flood@spam.example\nSubject: Buy now {i}\nMessage-ID: <f{i}@spam.example>"
        ));
    }
    assert_eq!(
        d.store().tickets().expect("tickets").len(),
        35,
        "nothing is lost"
    );
    let last = d.store().ticket("NL-000035").expect("get").expect("ticket");
    let noted = last.events.iter().any(|e| {
        serde_json::to_string(e)
            .unwrap_or_default()
            .contains("sender_flood_per_hour")
    });
    assert!(noted, "the breaker is noted on the ticket");
    let acks: Vec<_> = d
        .store()
        .outbox()
        .expect("outbox")
        .into_iter()
        .filter(|e| e.kind == "ack")
        .collect();
    assert_eq!(
        acks.iter().filter(|e| e.state.as_str() == "queued").count(),
        3,
        "the storm limit caps the first hour"
    );
    assert_eq!(
        acks.len(),
        30,
        "past the breaker no acknowledgement is even queued"
    );
}

fn bounce_for(message_id: &str, rcpt: &str) -> (String, String) {
    let headers = "From: MAILER-DAEMON@mx.acme.example\nSubject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"".to_string();
    let body = format!(
        "--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.acme.example\r\n\r\nFinal-Recipient: rfc822; {rcpt}\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{message_id}>\r\n\r\n--b--"
    );
    (headers, body)
}

#[test]
fn a_bounce_fails_the_entry_it_reports_and_repeated_ones_flag_the_address() {
    let mut d = Desk::new();
    for i in 0..3 {
        let out = d.deliver(&format!(
            "From: gone@acme.example\nSubject: Case {i}\nMessage-ID: <case{i}@acme.example>"
        ));
        let t = ticket_of(&out).to_string();
        let ack = d.ack_id(&t);
        let (headers, body) = bounce_for(&ack, "gone@acme.example");
        let out = d.deliver_to(
            0,
            &format!("{headers}\nMessage-ID: <dsn{i}@mx.acme.example>"),
            &body,
        );
        assert_eq!(
            ticket_of(&out),
            t,
            "the bounce lands on the ticket whose mail it reports"
        );
        let entry = d
            .store()
            .outbox_by_message_id(&ack)
            .expect("get")
            .expect("entry");
        assert_eq!(entry.state.as_str(), "failed");
        assert!(
            entry
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("5.1.1")),
            "{entry:?}"
        );
        let ticket = d.store().ticket(&t).expect("get").expect("ticket");
        assert!(ticket.events.iter().any(|e| serde_json::to_string(e)
            .unwrap_or_default()
            .contains("bounced")));
    }
    let r = d.store().recipient("gone@acme.example").expect("recipient");
    assert_eq!((r.hard_bounces, r.flagged), (3, true));
    // The next hour's acknowledgement would have been allowed by the rate limit; the flag holds it.
    let out =
        d.deliver("From: gone@acme.example\nSubject: Case 4\nMessage-ID: <case4@acme.example>");
    let t = ticket_of(&out).to_string();
    let entry = d
        .store()
        .outbox()
        .expect("outbox")
        .into_iter()
        .find(|e| e.ticket.as_deref() == Some(t.as_str()))
        .expect("entry");
    assert_eq!(entry.state.as_str(), "held");
    assert!(
        entry
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("flagged")),
        "{entry:?}"
    );
}

#[test]
fn with_verp_a_bounce_that_quotes_nothing_still_finds_its_mail() {
    let mut d = Desk::with(two_desks().set("outbox", "verp", true));
    let t = d.open_ticket();
    let entry = d.store().outbox().expect("outbox").remove(0);
    assert_eq!(
        entry.from,
        format!("servicedesk.nl+dg-{}@example.net", entry.id)
    );
    let out = d.deliver_to(
        0,
        &format!("From: MAILER-DAEMON@mx.acme.example\nTo: {}\nSubject: failure notice\nMessage-ID: <q1@mx.acme.example>", entry.from),
        "Hi. This is the qmail-send program at mx.acme.example.\r\nI'm afraid I wasn't able to deliver your message to the following addresses.\r\nThis is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n<jane@acme.example>:\r\nSorry, no mailbox here by that name. (#5.1.1)\r\n",
    );
    assert!(
        matches!(out, Outcome::Aside { .. } | Outcome::Appended { .. }),
        "{out:?}"
    );
    let entry = d
        .store()
        .outbox_entry(entry.id)
        .expect("get")
        .expect("entry");
    assert_eq!(entry.state.as_str(), "failed", "{entry:?} ({t})");
}

#[test]
fn a_mail_that_makes_the_mime_parser_fail_is_quarantined_not_fatal() {
    // Found by the fuzzer: nested multiparts with junk after the boundary's closing quote make
    // mail-parser 0.11 hit a debug assertion.
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/artifacts/ingest/crash-mail-parser-invalid-part-id-minimized");
    let raw = std::fs::read(&path).expect("fuzz artifact");
    let d = Desk::new();
    let mail = RawMail {
        origin: Origin::Maildir {
            file: "crash.eml".into(),
        },
        raw,
    };
    let out = d
        .ingestor
        .process(&d.config.desks[0], &mail)
        .expect("process");
    if cfg!(debug_assertions) {
        assert!(matches!(out, Outcome::Quarantined { .. }), "{out:?}");
        let q = d
            .store()
            .shelf(deskgate::store::Shelf::Quarantine)
            .expect("quarantine");
        assert!(q[0].error.contains("MIME parser"), "{q:?}");
    }
    // Whatever the build, the daemon goes on: the next mail is processed normally.
    let mut d = d;
    assert!(matches!(
        d.deliver("From: jane@acme.example\nSubject: next\nMessage-ID: <next@acme.example>"),
        Outcome::Created { .. }
    ));
}
