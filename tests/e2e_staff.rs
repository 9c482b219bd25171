//! Engineers work tickets from their mail client, against the real Dovecot and smtp-sink: the
//! tier-1 notification, answers relayed without quoted history, notes that never reach the
//! customer, every command, a bad command's error reply, and a forged staff address.

mod common;
#[path = "common/decoded.rs"]
mod decoded;

use common::{Captured, Rig, DKIM_OK};
use decoded::body;
use serde_json::Value;

/// Desk `nl` with three tiers (tier 1 on shift 07:00-19:00 in Amsterdam), Alice in tier 1 and
/// Bob in tier 2, whose mails our own mail server authenticates.
struct Desk {
    rig: Rig,
}

impl Desk {
    fn start() -> Desk {
        let rig = Rig::start(|c| {
            c.trusted_mx()
                .team(
                    "css-emea",
                    1,
                    "css-emea@provider.example",
                    Some(("Europe/Amsterdam", "07:00-19:00")),
                )
                .team("netsupport", 2, "noc@provider.example", None)
                .team("opseng", 3, "opseng@provider.example", None)
                .staff(
                    "alice",
                    "alice@provider.example",
                    "Alice Martin",
                    "css-emea",
                )
                .staff("bob", "bob@provider.example", "Bob Jansen", "netsupport")
        });
        Desk { rig }
    }

    fn ticket(&self) -> Value {
        self.rig.gate.ticket("NL-000001")
    }

    /// Delivers a mail and runs one pass; returns the mails sent in that pass.
    fn deliver(&self, from: &str, headers: &str, subject: &str, body: &str) -> Vec<Captured> {
        let mail = self.rig.mail(from, subject).headers(headers).body(body);
        self.deliver_raw(&mail.bytes())
    }

    /// Delivers a complete raw mail and runs one pass; returns the mails sent in that pass.
    fn deliver_raw(&self, raw: &[u8]) -> Vec<Captured> {
        self.rig.append(raw);
        self.rig.pass().mails
    }

    /// A mail from an authenticated engineer answering `in_reply_to`.
    fn staff(&self, who: &str, in_reply_to: &str, body: &str) -> Vec<Captured> {
        let headers = format!("{DKIM_OK}In-Reply-To: <{in_reply_to}>\r\n");
        self.deliver(
            &format!("{who}@provider.example"),
            &headers,
            "RE: [NL-000001] Cross-connect down",
            body,
        )
    }
}

fn to(m: &Captured) -> Vec<String> {
    m.rcpt_to.clone()
}

fn msgid(m: &Captured) -> String {
    m.message_id()
}

fn events(t: &Value, kind: &str) -> Vec<Value> {
    t["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["event"] == kind)
        .cloned()
        .collect()
}

#[test]
fn an_engineer_works_a_ticket_entirely_by_mail() {
    let d = Desk::start();
    let sent = d.deliver(
        "Jane Doe <jane@acme.example>",
        "",
        "Cross-connect down",
        "Our cross-connect XC-1 is down since 09:40.",
    );
    let notice = sent
        .iter()
        .find(|m| to(m) == vec!["css-emea@provider.example"])
        .expect("tier-1 team notified");
    assert!(
        sent.iter().any(|m| to(m) == vec!["jane@acme.example"]),
        "customer acknowledged"
    );
    let subject = decoded::subject(notice);
    assert!(subject.contains("[NL-000001]"), "{subject}");
    assert!(notice
        .header("Reply-To")
        .is_some_and(|r| r.contains("servicedesk.nl@example.net")));
    let text = body(notice);
    assert!(
        text.contains("XC-1 is down"),
        "the customer's text is in the notification: {text}"
    );
    assert!(
        text.contains("jane@acme.example"),
        "the essentials are in the header block: {text}"
    );
    let notice_id = msgid(notice);

    // Alice answers from her client, with quoted history in each language.
    let quotes = [
        "On Mon, 23 Nov 2026 at 10:00, Service Desk <servicedesk.nl@example.net> wrote:",
        "Le lun. 23 nov. 2026 à 10:00, Service Desk <servicedesk.nl@example.net> a écrit :",
        "Em seg., 23 de nov. de 2026 às 10:00, Service Desk <servicedesk.nl@example.net> escreveu:",
        "El lun, 23 nov 2026 a las 10:00, Service Desk (<servicedesk.nl@example.net>) escribió:",
        "Il giorno lun 23 nov 2026 alle ore 10:00 Service Desk <servicedesk.nl@example.net> ha scritto:",
        "Op ma 23 nov. 2026 om 10:00 schreef Service Desk <servicedesk.nl@example.net>:",
        "Am Mo., 23. Nov. 2026 um 10:00 Uhr schrieb Service Desk <servicedesk.nl@example.net>:",
    ];
    let mut last = notice_id.clone();
    for (i, q) in quotes.iter().enumerate() {
        // Signed as Outlook's signature block signs it: the template signs with her name too.
        let reply = format!("#take\nAnswer {i}: we are checking the optics.\n\nBest regards,\nAlice Martin\nNetwork Support | Provider\n\n{q}\n> Our cross-connect XC-1 is down since 09:40.\n> SECRET-QUOTE\n");
        let sent = d.staff("alice", &last, &reply);
        let to_customer: Vec<&Captured> = sent
            .iter()
            .filter(|m| to(m) == vec!["jane@acme.example"])
            .collect();
        assert_eq!(
            to_customer.len(),
            1,
            "answer {i} relayed once: {:?}",
            sent.iter().map(to).collect::<Vec<_>>()
        );
        let m = to_customer[0];
        let text = body(m);
        assert!(
            text.contains(&format!("Answer {i}: we are checking")),
            "{text}"
        );
        assert!(
            !text.contains("SECRET-QUOTE") && !text.contains("#take"),
            "no quote, no command: {text}"
        );
        assert!(
            text.contains("Best regards,")
                && text.matches("Alice Martin").count() == 1
                && !text.contains("Network Support | Provider"),
            "her closing, then her name once, in the template's signature: {text}"
        );
        let from = m.header("From").unwrap_or_default();
        assert!(
            from.contains("servicedesk.nl@example.net") && from.contains("Alice Martin"),
            "{from}"
        );
        assert!(
            !m.text().contains("alice@provider.example"),
            "the engineer's own address is never shown"
        );
        assert!(
            m.header("In-Reply-To")
                .is_some_and(|r| r.contains("m1@test.example")),
            "continues the customer's thread"
        );
        last = msgid(m);
    }
    let t = d.ticket();
    assert_eq!(t["owner"], "alice");
    assert_eq!(t["status"], "open", "the first answer opens the ticket");

    // The customer answers the relayed mail: the owner is told.
    let sent = d.deliver(
        "jane@acme.example",
        &format!("In-Reply-To: <{last}>\r\n"),
        "Re: [NL-000001] Cross-connect down",
        "Optics reseated on our side, still down.",
    );
    let to_owner = sent
        .iter()
        .find(|m| to(m) == vec!["alice@provider.example"])
        .expect("owner told of the customer's reply");
    assert!(body(to_owner).contains("still down"));
    let customer_msg = msgid(to_owner);

    // A note from Bob reaches Alice (the owner), never the customer.
    let sent = d.staff(
        "bob",
        &customer_msg,
        "#note\nLOS on our side too, checking the MMR patch.",
    );
    assert!(
        sent.iter()
            .all(|m| !to(m).contains(&"jane@acme.example".to_string())),
        "a note never reaches the customer"
    );
    assert!(
        sent.iter().any(|m| to(m) == vec!["alice@provider.example"]),
        "the owner is told of the note"
    );

    // Each command.
    d.staff("alice", &customer_msg, "#status pending\n#priority P1\n#time 45m\n#cc +ops@acme.example\nWe have replaced the patch cord, can you confirm?");
    let t = d.ticket();
    assert_eq!(
        (
            t["status"].as_str(),
            t["priority"].as_str(),
            t["minutes_logged"].as_u64()
        ),
        (Some("pending"), Some("P1"), Some(45))
    );
    assert!(t["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .any(|p| p == "ops@acme.example"));
    let sent = d.staff(
        "alice",
        &customer_msg,
        "#escalate\n#note\nNeeds network support.",
    );
    assert!(
        sent.iter().any(|m| to(m) == vec!["noc@provider.example"]),
        "tier 2 told of the escalation"
    );
    assert_eq!(d.ticket()["tier"], 2);
    let sent = d.staff(
        "alice",
        &customer_msg,
        "#assign bob\n#cc -ops@acme.example\n#tier 3\n#note\nOps to look at the line card.",
    );
    assert!(
        sent.iter().any(|m| to(m) == vec!["bob@provider.example"]),
        "the new owner is told"
    );
    assert!(
        sent.iter()
            .any(|m| to(m) == vec!["opseng@provider.example"]),
        "tier 3 told"
    );
    let t = d.ticket();
    assert_eq!(
        (t["owner"].as_str(), t["tier"].as_u64()),
        (Some("bob"), Some(3))
    );
    assert!(!t["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .any(|p| p == "ops@acme.example"));
    for kind in [
        "status",
        "priority",
        "owner",
        "tier",
        "time_logged",
        "participant_added",
        "participant_removed",
    ] {
        let e = events(&t, kind);
        assert!(!e.is_empty(), "history has a {kind} event: {}", t["events"]);
        assert!(
            e.iter().all(|e| e["by"]
                .as_str()
                .is_some_and(|b| b.ends_with("@provider.example"))
                && e["at"].is_string()),
            "{kind} says who and when"
        );
    }
    d.staff(
        "bob",
        &customer_msg,
        "#status resolved\nThe line card was replaced; the link is up.",
    );
    assert_eq!(d.ticket()["status"], "resolved");

    // An unknown command: an error reply to the engineer alone, and nothing changes.
    let before = d.ticket();
    let sent = d.staff(
        "bob",
        &customer_msg,
        "#status closed\n#stauts pending\nThis must not reach the customer.",
    );
    assert_eq!(
        sent.len(),
        1,
        "only the error reply: {:?}",
        sent.iter().map(to).collect::<Vec<_>>()
    );
    assert_eq!(to(&sent[0]), vec!["bob@provider.example"]);
    let err = body(&sent[0]);
    assert!(
        err.contains("Line 2") && err.contains("#stauts"),
        "names the line: {err}"
    );
    assert_eq!(
        d.ticket()["status"],
        before["status"],
        "nothing was applied"
    );

    // A forged staff address (an Authentication-Results header of an untrusted server): it
    // changes nothing — no command, no status, no clock — is kept as an internal note, and the
    // ticket's owner is told, with the reason.
    let before = d.ticket();
    let sent = d.deliver(
        "alice@provider.example",
        "Authentication-Results: evil.example; dkim=pass header.d=provider.example\r\n",
        "Re: [NL-000001] Cross-connect down",
        "#status closed\n#assign alice\nClosing this.",
    );
    assert!(
        sent.iter()
            .all(|m| !to(m).contains(&"jane@acme.example".to_string())),
        "nothing relayed to the customer"
    );
    let t = d.ticket();
    assert_eq!(t["owner"], "bob", "commands ignored");
    assert_ne!(t["status"], "closed");
    for field in ["status", "owner", "priority", "tier", "participants", "sla"] {
        assert_eq!(
            t[field], before[field],
            "{field} unchanged by an unverified staff claim"
        );
    }
    let noted = events(&t, "note").iter().any(|e| {
        e["text"].as_str().is_some_and(|x| {
            x.contains("unverified mail from staff address alice@provider.example")
        })
    });
    assert!(noted, "the warning is noted on the ticket");
    let last = t["messages"]
        .as_array()
        .and_then(|m| m.last())
        .cloned()
        .expect("message");
    assert_eq!(last["kind"], "note", "kept as an internal note");
    let told: Vec<_> = sent
        .iter()
        .filter(|m| to(m).contains(&"bob@provider.example".to_string()))
        .collect();
    assert_eq!(told.len(), 1, "the owner is told once");
    assert!(
        body(told[0]).contains("Unverified mail from a staff address"),
        "{}",
        body(told[0])
    );
    // So is the engineer whose address it claims: if it was her (a client or relay that
    // leaves no proof), she learns that her mail changed nothing and reached nobody.
    let claimed: Vec<_> = sent
        .iter()
        .filter(|m| to(m).contains(&"alice@provider.example".to_string()))
        .collect();
    assert_eq!(claimed.len(), 1, "the claimed engineer is told once");
    assert!(body(claimed[0]).contains("Unverified mail from a staff address"));

    // The owner's own address without proof: he is told, not left believing the customer got
    // his answer.
    let before = d.ticket();
    let sent = d.deliver(
        "bob@provider.example",
        "",
        "Re: [NL-000001] Cross-connect down",
        "The link is back up; closing.\n#status closed",
    );
    assert!(
        sent.iter()
            .all(|m| !to(m).contains(&"jane@acme.example".to_string())),
        "nothing relayed to the customer"
    );
    assert_eq!(d.ticket()["status"], before["status"], "no command ran");
    let told: Vec<_> = sent
        .iter()
        .filter(|m| to(m) == vec!["bob@provider.example"])
        .collect();
    assert_eq!(
        told.len(),
        1,
        "the owner is told of a mail in his name: {:?}",
        sent.iter().map(to).collect::<Vec<_>>()
    );
    assert!(body(told[0]).contains("The link is back up"));
    // Internal notes are never in what the customer received.
    for m in d
        .rig
        .sink
        .messages()
        .iter()
        .filter(|m| to(m).contains(&"jane@acme.example".to_string()))
    {
        let text = body(m);
        assert!(
            !text.contains("LOS on our side")
                && !text.contains("Needs network support")
                && !text.contains("line card."),
            "{text}"
        );
    }
}

#[test]
fn attachments_are_relayed_and_a_bounced_notification_opens_no_ticket() {
    let d = Desk::start();
    let sent = d.deliver(
        "Jane Doe <jane@acme.example>",
        "",
        "Optics",
        "Which optic do you need?",
    );
    let notice = sent
        .iter()
        .find(|m| to(m) == vec!["css-emea@provider.example"])
        .expect("notification");
    let notice_id = msgid(notice);

    // Alice answers with a PDF attached.
    let raw = format!(
        "From: Alice Martin <alice@provider.example>\r\nTo: servicedesk.nl@example.net\r\nSubject: RE: [NL-000001] Optics\r\nMessage-ID: <att1@provider.example>\r\n{DKIM_OK}In-Reply-To: <{notice_id}>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe datasheet is attached.\r\n--zz\r\nContent-Type: application/pdf; name=\"LR4-datasheet.pdf\"\r\nContent-Disposition: attachment; filename=\"LR4-datasheet.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfsj6IK\r\n--zz--\r\n"
    );
    let sent = d.deliver_raw(raw.as_bytes());
    let reply = sent
        .iter()
        .find(|m| to(m) == vec!["jane@acme.example"])
        .expect("relayed to the customer");
    let parsed = deskgate::ingest::parse::parse(&reply.raw, Default::default());
    assert_eq!(parsed.attachments.len(), 1, "{:?}", parsed.attachments);
    assert_eq!(parsed.attachments[0].name, "LR4-datasheet.pdf");
    assert_eq!(parsed.attachments[0].content_type, "application/pdf");
    assert!(parsed.text.contains("The datasheet is attached."));

    // The team's mail server bounces a notification: the bounce lands on the ticket, and no
    // ticket is opened for it, nor is anybody answered.
    let tickets_before = d.rig.gate.tickets();
    let bounce = format!(
        "From: MAILER-DAEMON@mx.provider.example\r\nTo: servicedesk.nl@example.net\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-notice@mx.provider.example>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\r\n\r\n--r\r\nContent-Type: text/plain\r\n\r\nMailbox full.\r\n--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.provider.example\r\n\r\nFinal-Recipient: rfc822; css-emea@provider.example\r\nAction: failed\r\nStatus: 5.2.2\r\n\r\n--r\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{notice_id}>\r\nSubject: [NL-000001] New ticket: Optics\r\n\r\n--r--\r\n"
    );
    let sent = d.deliver_raw(bounce.as_bytes());
    assert!(
        sent.is_empty(),
        "nobody is answered about a bounce: {:?}",
        sent.iter().map(to).collect::<Vec<_>>()
    );
    let tickets = d.rig.gate.tickets();
    assert_eq!(tickets.len(), tickets_before.len(), "no ticket opened");
    let t = d.ticket();
    let last = t["messages"]
        .as_array()
        .and_then(|m| m.last())
        .cloned()
        .expect("message");
    assert_eq!(last["kind"], "bounce", "the bounce is kept on the ticket");
    let outbox = d.rig.gate.outbox();
    let failed = outbox
        .iter()
        .find(|e| e["message_id"] == notice_id.as_str())
        .expect("the notification's entry");
    assert_eq!(
        failed["state"], "failed",
        "the bounced notification is marked failed: {failed}"
    );
}
