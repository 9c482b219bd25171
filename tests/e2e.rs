//! The whole path against real servers: a real Dovecot (IMAP and IMAPS) in, the `deskgate`
//! binary in the middle, Postfix's smtp-sink out. What is asserted is what a customer and an
//! administrator would check: the tickets the CLI shows and the mails that arrived.

mod common;
#[path = "common/decoded.rs"]
mod decoded;

use common::{Captured, DeskConfig, Dovecot, Gate, GateConfig, SmtpSink, TextMail, TIMEOUT};
use std::path::Path;
use std::time::Duration;

const PASSWORD: &str = "secret-pw";

/// A deskgate reading both desks of a Dovecot at `imap_url` (trusting `ca` for IMAPS) and
/// sending to `smtp_port`: `nl` in English, and `fr` in French with its password from a command.
fn deskgate(imap_url: &str, ca: Option<&Path>, smtp_port: u16) -> Gate {
    let nl = DeskConfig::nl()
        .imap(imap_url, "nl", PASSWORD)
        .poll_interval_secs(1);
    let fr = DeskConfig::new("fr", "support.fr@example.net")
        .display_name("Support Paris")
        .language("fr")
        .imap(imap_url, "fr", PASSWORD)
        .password_command(&format!("printf '{PASSWORD}'"));
    let (nl, fr) = match ca {
        Some(ca) => (nl.ca_file(ca), fr.ca_file(ca)),
        None => (nl, fr),
    };
    GateConfig::new()
        .smtp_port(smtp_port)
        .desk(nl)
        .desk(fr)
        .start()
}

/// A deskgate reading both desks of `dovecot` over plain IMAP, sending to `smtp_port`.
fn plain(dovecot: &Dovecot, smtp_port: u16) -> Gate {
    deskgate(
        &format!("imap://127.0.0.1:{}", dovecot.imap_port()),
        None,
        smtp_port,
    )
}

/// A Dovecot with the two desks' mailboxes.
fn two_desks() -> Dovecot {
    Dovecot::start(&[("nl", PASSWORD), ("fr", PASSWORD)])
}

fn mail(from: &str, to: &str, subject: &str, message_id: &str, extra: &str) -> Vec<u8> {
    TextMail::new(from, subject, message_id)
        .to(to)
        .headers(extra)
        .bytes()
}

#[test]
fn a_customer_mail_becomes_a_ticket_and_replies_from_any_client_join_it() {
    let dovecot = two_desks();
    let sink = SmtpSink::start();
    let dg = plain(&dovecot, sink.port());

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
    dg.pass(&sink);

    let tickets = dg.tickets();
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    let reference = tickets[0]["ref"].as_str().expect("ref").to_string();
    assert_eq!(reference, "NL-000001");
    assert_eq!(tickets[0]["requester"], "jane@acme.example");
    assert_eq!(tickets[0]["status"], "new");

    let acks = sink.wait_for(1, TIMEOUT);
    assert_eq!(acks.len(), 1);
    let ack = &acks[0];
    assert_eq!(ack.rcpt_to, vec!["jane@acme.example".to_string()]);
    assert!(
        decoded::subject(ack).contains("[NL-000001]"),
        "{}",
        ack.text()
    );
    assert_eq!(
        ack.header("In-Reply-To").as_deref(),
        Some("<first@acme.example>")
    );
    assert_eq!(
        ack.header("Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert!(ack
        .header("From")
        .is_some_and(|f| f.contains("servicedesk.nl@example.net")));
    let ack_id = ack.message_id();
    assert!(!ack_id.is_empty(), "ack Message-ID");

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
    // The pass returns when its delivery is done and waits for what it sent to be captured.
    dg.pass(&sink);

    let tickets = dg.tickets();
    assert_eq!(
        tickets.len(),
        1,
        "every reply joined the ticket: {tickets:?}"
    );
    let show = dg.ticket(&reference);
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
    dg.pass(&sink);
    let all = sink.wait_for(2, TIMEOUT);
    let fr = all
        .iter()
        .find(|m| m.rcpt_to == vec!["paul@client.example".to_string()])
        .expect("French ack");
    let subject = decoded::subject(fr);
    assert!(
        subject.contains("[FR-000002]") && subject.contains("reçue"),
        "{subject}"
    );

    // Senders the accounts file does not know, writing to the English desk: one in French (an
    // Outlook mail whose Content-Language is its editor's, en-US: the text decides), one in
    // a few words with Content-Language pt-PT (the header decides).
    let unknown = [
        (
            "François Lévêque <f.leveque@atelier.example>",
            "Lien 10G en panne",
            "Content-Language: en-US\r\n",
            "Bonjour,\nNotre lien 10G vers AM11 est en panne depuis 9h40. Pouvez-vous vérifier ?\nMerci, cordialement",
            "Demande reçue",
        ),
        (
            "Rui <rui@loja.example>",
            "Fatura",
            "Content-Language: pt-PT\r\n",
            "Segue em anexo.",
            "Pedido recebido",
        ),
    ];
    for (i, (from, subject, headers, body, ack)) in unknown.iter().enumerate() {
        let raw = TextMail::new(from, subject, &format!("lang{i}@sender.example"))
            .headers(headers)
            .body(body)
            .bytes();
        dovecot.append("nl", PASSWORD, "INBOX", &raw);
        dg.pass(&sink);
        let address = from
            .split_once('<')
            .map_or(*from, |(_, a)| a.trim_end_matches('>'));
        let all = sink.wait_for(3 + i, TIMEOUT);
        let acked = all
            .iter()
            .find(|m| m.rcpt_to == vec![address.to_string()])
            .expect("acknowledged");
        let sent = decoded::subject(acked);
        assert!(sent.contains(ack), "{from}: {sent}");
    }

    let outbox = dg.outbox();
    assert_eq!(outbox.len(), 4);
    for e in &outbox {
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

#[test]
fn the_daemon_picks_up_new_mail_by_idle_and_the_cli_works_beside_it() {
    let dovecot = two_desks();
    let sink = SmtpSink::start();
    let dg = plain(&dovecot, sink.port());
    let daemon = dg.spawn_daemon();

    // Deliver once desk nl waits in IDLE (it logs so at debug level).
    daemon.wait_idle("nl");
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
    daemon.wait_until("the ticket to appear", Duration::from_secs(15), || {
        !dg.tickets().is_empty()
    });
    let acks = sink.wait_for(1, Duration::from_secs(15));
    assert_eq!(acks[0].rcpt_to, vec!["jane@acme.example".to_string()]);
    let show = dg.ticket("NL-000001");
    assert_eq!(show["subject"], "Power feed B lost");
    let _ = dg.outbox();

    let log = daemon.stop();
    assert!(log.contains("stopped"), "clean shutdown is logged:\n{log}");
    // After the daemon is gone the CLI opens the store itself.
    assert_eq!(dg.tickets().len(), 1);
}

#[test]
fn imaps_with_a_private_ca_works() {
    let dovecot = two_desks();
    let sink = SmtpSink::start();
    let dg = deskgate(
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
    dg.run_once();
    assert_eq!(dg.tickets().len(), 1);
    assert_eq!(sink.wait_for(1, TIMEOUT).len(), 1);
}

#[test]
fn a_uidvalidity_reset_neither_loses_nor_duplicates_mail() {
    let dovecot = two_desks();
    let sink = SmtpSink::start();
    let dg = plain(&dovecot, sink.port());
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
    dg.pass(&sink);
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
    dg.pass(&sink);

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
    assert_eq!(sink.messages().len(), 3, "one acknowledgement per ticket");
}

#[test]
fn run_once_fails_loudly_when_a_server_cannot_be_reached() {
    let dovecot = two_desks();
    let dead_smtp = common::free_port();
    let dg = deskgate(
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
    let out = dg.output(&["run", "--once"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("smtp"),
        "the message names the SMTP server: {err}"
    );
    // The ticket exists and its acknowledgement waits in the outbox.
    assert_eq!(dg.tickets().len(), 1);
    let outbox = dg.outbox();
    assert_eq!(outbox[0]["state"], "queued");

    let dead_imap = common::free_port();
    let dg2 = deskgate(&format!("imap://127.0.0.1:{dead_imap}"), None, dead_smtp);
    let out = dg2.output(&["run", "--once"]);
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
    let dg = plain(&dovecot, sink.port());
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
    dg.run_once();
    let outbox = dg.outbox();
    assert_eq!(outbox[0]["state"], "failed", "{outbox:?}");
    assert_eq!(outbox[0]["attempts"], 1, "a 5xx is not retried");
    assert!(
        outbox[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains('5')),
        "{outbox:?}"
    );
    let show = dg.ticket("NL-000001");
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
    let dg = plain(&dovecot, soft.port());
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
    dg.run_once();
    let outbox = dg.outbox();
    assert_eq!(outbox[0]["state"], "queued", "{outbox:?}");
    assert_eq!(outbox[0]["attempts"], 1);
    let message_id = outbox[0]["message_id"]
        .as_str()
        .expect("message_id")
        .to_string();
    soft.stop();

    let sink = SmtpSink::start();
    dg.reconfigure(|c| c.smtp_port(sink.port()));
    // Not due yet: the first retry waits 30 s.
    dg.run_once();
    assert_eq!(dg.outbox()[0]["state"], "queued");
    // An hour later it is.
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    dg.run_once_at(&later);
    let outbox = dg.outbox();
    assert_eq!(outbox[0]["state"], "sent", "{outbox:?}");
    assert_eq!(outbox[0]["attempts"], 2);
    let got = sink.wait_for(1, TIMEOUT);
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
fn storm(answer: impl Fn(usize, &Captured) -> Vec<u8>) -> usize {
    let dovecot = two_desks();
    let sink = SmtpSink::start();
    let dg = plain(&dovecot, sink.port());
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
        dg.pass(&sink);
        let to_jane: Vec<Captured> = sink
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
            &format!("Automatic reply: {}", decoded::subject(m)),
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
            &format!("Re: {}", decoded::subject(m)),
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
