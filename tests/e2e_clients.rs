//! An engineer of the desk's own domain answers from each of the mail clients engineers use,
//! against the real Dovecot and smtp-sink: the desk is `servicedesk.nl@provider.example`, its
//! own Message-IDs are at `provider.example`, and Alice (`alice@provider.example`) writes from
//! Outlook on Exchange Online, Outlook on Exchange on-premises, Gmail (Google Workspace),
//! Thunderbird, Apple Mail, iOS Mail, Thunderbird for Android (K-9) and a client that writes no
//! Message-ID (Postfix adds one). Every client writes its Message-ID in a shape of its own, most
//! of them at the desk's own domain: none of those mails is deskgate's own mail coming back.
//! Each answer is relayed to the customer without the quoted history and the command line, and
//! its `#status` is applied.
//!
//! The header layouts and quoting styles follow real mails of those clients: the Message-ID
//! shapes are those of `src/core/mail/own.rs`'s table (each with the corpus sample it cites);
//! quoting as in the reply suites of `../shared/corpus/replies/` (Outlook's "From:/Sent:" block
//! under a rule, Gmail's two-line attribution, Apple Mail quoting its own attribution line, K-9's
//! "Please excuse my brevity" footer) and Thunderbird's `format=flowed` (RFC 3676).

mod common;
#[path = "common/decoded.rs"]
mod decoded;

use common::{Captured, Rig, DKIM_OK};
use decoded::{body, rcpts, summary};

const DESK: &str = "servicedesk.nl@provider.example";
const CUSTOMER: &str = "jane@acme.example";
/// What the customer wrote: the notification carries it, so every client quotes it.
const CUSTOMER_TEXT: &str = "Hello desk,\nour link to AM11 is down since 23:40.";

/// What one client is answering: the notification deskgate sent to the team.
struct Answering {
    /// The notification's subject, as the client shows it.
    subject: String,
    /// The notification's Message-ID, without angle brackets.
    message_id: String,
}

/// One mail client: its name, and the raw mail it writes when Alice answers with `text`.
struct Client {
    name: &'static str,
    write: fn(&Answering, &str) -> String,
}

/// The text quoted below an answer, `> `-prefixed.
fn quoted() -> String {
    CUSTOMER_TEXT.lines().map(|l| format!("> {l}\n")).collect()
}

/// The headers every answer carries: our MX's trace and its Authentication-Results (trusted
/// by the desk's `[auth]`), then `From`/`To`, the thread and the subject.
fn envelope(a: &Answering, subject_prefix: &str, message_id: &str, date: &str) -> String {
    format!(
        "Received: from [192.0.2.17] (vpn-17.provider.example [192.0.2.17])\n\
         \tby mx.provider.example (Postfix) with ESMTPSA id 4Q9ZxT0c1Kz9sWm\n\
         \tfor <{DESK}>; {date}\n\
         {}\n\
         From: Alice Martin <alice@provider.example>\n\
         To: Service Desk Amsterdam <{DESK}>\n\
         Subject: {subject_prefix} {}\n\
         Date: {date}\n\
         Message-ID: {message_id}\n\
         In-Reply-To: <{}>\n\
         References: <{}>\n",
        DKIM_OK.trim_end(),
        a.subject,
        a.message_id,
        a.message_id
    )
}

const CLIENTS: &[Client] = &[
    Client {
        name: "Outlook on Exchange Online",
        write: |a, text| {
            format!(
                "{}Thread-Topic: {}\n\
                 Thread-Index: AQHZ8y3kq1xW2bN0P0y8Zb9a3n4c5g==\n\
                 Accept-Language: en-US\n\
                 Content-Language: en-US\n\
                 X-MS-Has-Attach:\n\
                 X-MS-TNEF-Correlator:\n\
                 MIME-Version: 1.0\n\
                 Content-Type: text/plain; charset=\"us-ascii\"\n\
                 Content-Transfer-Encoding: 7bit\n\n\
                 {text}\n\nKind regards,\nAlice Martin\n\n\
                 ________________________________\n\
                 From: Service Desk Amsterdam <{DESK}>\n\
                 Sent: Friday, November 27, 2026 11:55 PM\n\
                 To: CSS <css@provider.example>\n\
                 Subject: {}\n\n\
                 {CUSTOMER_TEXT}\n",
                envelope(
                    a,
                    "RE:",
                    "<AM0PR07MB4420D6F0E9D8A1B3C2E5F7A1C1E20@AM0PR07MB4420.eurprd07.prod.outlook.com>",
                    "Fri, 27 Nov 2026 23:58:02 +0000",
                ),
                a.subject,
                a.subject
            )
        },
    },
    Client {
        name: "Outlook on Exchange on-premises",
        write: |a, text| {
            format!(
                "{}Thread-Topic: {}\n\
                 Thread-Index: AdnE3wKx8m0cT2pLQkW1bXvR9yZ4Ug==\n\
                 X-MS-Exchange-Organization-AuthAs: Internal\n\
                 X-Originating-IP: [192.0.2.17]\n\
                 MIME-Version: 1.0\n\
                 Content-Type: text/plain; charset=\"us-ascii\"\n\n\
                 {text}\n\nAlice\n\n\
                 -----Original Message-----\n\
                 From: Service Desk Amsterdam [mailto:{DESK}]\n\
                 Sent: Friday, 27 November 2026 23:55\n\
                 To: CSS <css@provider.example>\n\
                 Subject: {}\n\n\
                 {CUSTOMER_TEXT}\n",
                envelope(
                    a,
                    "RE:",
                    "<6B7EC235A6B1F44A9D8E2C6F1A2B3C4D01234567@EXCH01.provider.example>",
                    "Sat, 28 Nov 2026 00:58:02 +0100",
                ),
                a.subject,
                a.subject
            )
        },
    },
    Client {
        name: "Gmail (Google Workspace)",
        write: |a, text| {
            format!(
                "{}MIME-Version: 1.0\n\
                 Content-Type: text/plain; charset=\"UTF-8\"\n\n\
                 {text}\n\n\
                 On Fri, 27 Nov 2026 at 23:55, Service Desk Amsterdam <\n\
                 {DESK}> wrote:\n\n\
                 {}",
                envelope(
                    a,
                    "Re:",
                    "<CAEAsyCZ-sCHxZtoKyM3JmT5gSYpZd5GwY-cVNiV8H329zgJT4g@mail.gmail.com>",
                    "Sat, 28 Nov 2026 00:58:02 +0100",
                ),
                quoted()
            )
        },
    },
    Client {
        name: "Thunderbird",
        write: |a, text| {
            // format=flowed: the answer's first line is soft-broken (a space before the break).
            let (head, tail) = text.split_at(text.find(" please").unwrap_or(text.len()));
            format!(
                "{}User-Agent: Mozilla Thunderbird\n\
                 Content-Language: en-US\n\
                 MIME-Version: 1.0\n\
                 Content-Type: text/plain; charset=UTF-8; format=flowed\n\
                 Content-Transfer-Encoding: 7bit\n\n\
                 {head} \n{}\n\n\
                 On 27/11/2026 23:55, Service Desk Amsterdam wrote:\n\
                 {}",
                envelope(
                    a,
                    "Re:",
                    "<9f3c2a1e-5b7d-4c2a-8e1f-0a1b2c3d4e5f@provider.example>",
                    "Sat, 28 Nov 2026 00:58:02 +0100",
                ),
                tail.trim_start(),
                quoted()
            )
        },
    },
    Client {
        name: "Apple Mail",
        write: |a, text| {
            format!(
                "{}Content-Type: text/plain;\n\tcharset=us-ascii\n\
                 Content-Transfer-Encoding: 7bit\n\
                 Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3774.600.62\\))\n\
                 X-Mailer: Apple Mail (2.3774.600.62)\n\n\
                 {text}\n\nAlice\n\n\
                 > On 27 Nov 2026, at 23:55, Service Desk Amsterdam <{DESK}> wrote:\n\
                 > \n\
                 {}",
                envelope(
                    a,
                    "Re:",
                    "<9A1EA6A5-4FD3-4AD0-8DFD-2420E670DB53@provider.example>",
                    "Sat, 28 Nov 2026 00:58:02 +0100",
                ),
                quoted()
            )
        },
    },
    Client {
        name: "iOS Mail",
        write: |a, text| {
            format!(
                "{}Content-Type: text/plain; charset=utf-8\n\
                 Content-Transfer-Encoding: 8bit\n\
                 Mime-Version: 1.0 (1.0)\n\
                 X-Mailer: iPhone Mail (22B83)\n\n\
                 {text}\n\nSent from my iPhone\n\n\
                 > On 27 Nov 2026, at 23:55, Service Desk Amsterdam <{DESK}> wrote:\n\
                 > \n\
                 {}",
                envelope(
                    a,
                    "Re:",
                    "<06C90B12-13B9-4C5F-A9EF-4A809D94C078@provider.example>",
                    "Sat, 28 Nov 2026 00:58:02 +0100",
                ),
                quoted()
            )
        },
    },
    Client {
        name: "Thunderbird for Android (K-9)",
        write: |a, text| {
            format!(
                "{}User-Agent: K-9 Mail for Android\n\
                 MIME-Version: 1.0\n\
                 Content-Type: text/plain; charset=utf-8\n\
                 Content-Transfer-Encoding: 8bit\n\n\
                 {text}\n\
                 -- \n\
                 Sent from my Android device with K-9 Mail. Please excuse my brevity.\n\n\
                 On November 27, 2026 11:55:00 PM GMT+01:00, Service Desk Amsterdam <{DESK}> wrote:\n\
                 {}",
                envelope(
                    a,
                    "Re:",
                    "<a1b2c3d4-e5f6-4789-abcd-ef1234567890@provider.example>",
                    "Sat, 28 Nov 2026 00:58:02 +0100",
                ),
                quoted()
            )
        },
    },
    Client {
        name: "a client that writes no Message-ID (Postfix adds one)",
        write: |a, text| {
            format!(
                "{}MIME-Version: 1.0\n\
                 Content-Type: text/plain; charset=us-ascii\n\
                 Content-Disposition: inline\n\n\
                 {text}\n\n\
                 On Fri, Nov 27, 2026 at 11:55:00PM +0100, Service Desk Amsterdam wrote:\n\
                 {}",
                envelope(
                    a,
                    "Re:",
                    "<20261127235802.1A2B3C4D5E@mx.provider.example>",
                    "Sat, 28 Nov 2026 00:58:02 +0100",
                ),
                quoted()
            )
        },
    },
];

#[test]
fn an_engineer_of_the_desks_own_domain_is_heard_from_every_client() {
    let rig = Rig::start_desk(
        |desk| desk.address(DESK),
        |c| {
            c.general("message_id_domain", "provider.example")
                .trusted_mx()
                .team(
                    "css",
                    1,
                    "css@provider.example",
                    Some(("Europe/Amsterdam", "00:00-24:00")),
                )
                .staff("alice", "alice@provider.example", "Alice Martin", "css")
        },
    );

    for (i, client) in CLIENTS.iter().enumerate() {
        // The customer opens a ticket; the team is told.
        let customer = rig
            .mail(
                &format!("Jane Doe <{CUSTOMER}>"),
                &format!("Link down ({})", client.name),
            )
            .to(DESK)
            .body(CUSTOMER_TEXT);
        rig.append_mail(&customer);
        let opened = rig.pass().mails;
        let notice = opened
            .iter()
            .find(|m| rcpts(m) == ["css@provider.example"])
            .unwrap_or_else(|| {
                panic!(
                    "{}: the team is told of the new ticket:{}",
                    client.name,
                    summary(&opened)
                )
            });
        let reference = format!("NL-{:06}", i + 1);
        let answering = Answering {
            subject: decoded::subject(notice),
            message_id: notice.message_id(),
        };
        assert!(
            answering.subject.contains(&format!("[{reference}]")),
            "{}: {}",
            client.name,
            answering.subject
        );

        // Alice answers from her client, with a command first.
        let answer = format!(
            "We replaced the optic on XC-7 ({}); please check the link on your side.",
            client.name
        );
        let raw = (client.write)(&answering, &format!("#status pending\n{answer}"));
        rig.append(raw.replace('\n', "\r\n").as_bytes());
        let pass = rig.pass().mails;

        let relayed: Vec<&Captured> = pass.iter().filter(|m| rcpts(m) == [CUSTOMER]).collect();
        assert_eq!(
            relayed.len(),
            1,
            "{}: Alice's answer reaches the customer once:{}",
            client.name,
            summary(&pass)
        );
        let text = body(relayed[0]);
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains(&answer),
            "{}: the customer reads the answer:\n{text}",
            client.name
        );
        assert!(
            !text.contains("our link to AM11 is down") && !text.contains("#status"),
            "{}: neither the quoted history nor the command reaches the customer:\n{text}",
            client.name
        );
        assert!(
            pass.iter()
                .all(|m| !rcpts(m).contains(&"alice@provider.example".to_string())),
            "{}: Alice is not told her mail was not applied or not verified:{}",
            client.name,
            summary(&pass)
        );

        let ticket = rig.gate.ticket(&reference);
        assert_eq!(
            ticket["status"], "pending",
            "{}: the command was applied: {ticket:#}",
            client.name
        );
        assert_eq!(
            rig.gate.tickets().len(),
            i + 1,
            "{}: the answer opened no ticket of its own",
            client.name
        );
    }
}
