//! Building the MIME bytes of an outgoing mail with lettre.
//!
//! Every value that becomes a header goes through lettre's encoder (RFC 2047 for non-ASCII) after
//! control characters are removed, so nothing a customer wrote can add a header.

use crate::core::address::Address;
use chrono::{DateTime, Utc};
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};

/// The marker header on everything deskgate sends; seeing it come back means a loop.
use crate::core::mail::own::LOOP_HEADER;

/// What an outgoing mail says and to whom.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    pub from: Address,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub reply_to: Option<Address>,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// Without angle brackets.
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// `auto-replied` or `auto-generated` for automatic mail; None for a person's words.
    pub auto_submitted: Option<&'static str>,
    /// Files carried along (an engineer's attachments relayed to the customer).
    pub attachments: Vec<OutgoingAttachment>,
    /// Value of the loop marker: the deskgate instance (its Message-ID domain).
    pub loop_marker: String,
    pub date: DateTime<Utc>,
    /// An iCalendar object carried as a third alternative (after text and HTML), as calendar
    /// clients and the BCOP maintenance parsers expect it.
    pub calendar: Option<CalendarPart>,
    /// For a broadcast notice: its key, in an `X-Deskgate-Notice` header (for the desk's own
    /// tracing and for tests that count notices).
    pub notice: Option<String>,
}

/// A `text/calendar` part: the iTIP method (`PUBLISH`, `CANCEL`) and the VCALENDAR text.
#[derive(Debug, Clone)]
pub struct CalendarPart {
    pub method: &'static str,
    pub text: String,
}

/// The header naming the broadcast notice a mail carries.
pub const NOTICE_HEADER: &str = "X-Deskgate-Notice";

/// A file attached to an outgoing mail.
#[derive(Debug, Clone)]
pub struct OutgoingAttachment {
    pub name: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("address {0:?} cannot be used in a mail header")]
    Address(String),
    #[error("cannot build mail: {0}")]
    Build(String),
}

fn mailbox(a: &Address) -> Result<Mailbox, ComposeError> {
    let email = a
        .email
        .parse()
        .map_err(|_| ComposeError::Address(a.email.clone()))?;
    let name = a.name.as_deref().map(clean).filter(|n| !n.is_empty());
    Ok(Mailbox::new(name, email))
}

/// Removes control characters (CR, LF, …) and collapses whitespace.
fn clean(s: &str) -> String {
    crate::core::mail::subject::one_line(s)
}

fn bracket(id: &str) -> String {
    format!("<{}>", id.trim_matches(|c| c == '<' || c == '>'))
}

/// Builds the mail; returns its bytes.
pub fn compose(mail: &OutgoingMail) -> Result<Vec<u8>, ComposeError> {
    let mut b = lettre::Message::builder()
        .from(mailbox(&mail.from)?)
        .subject(clean(&mail.subject))
        .message_id(Some(bracket(&mail.message_id)))
        .date(std::time::SystemTime::from(mail.date));
    for a in &mail.to {
        b = b.to(mailbox(a)?);
    }
    for a in &mail.cc {
        b = b.cc(mailbox(a)?);
    }
    if let Some(r) = &mail.reply_to {
        b = b.reply_to(mailbox(r)?);
    }
    if let Some(irt) = &mail.in_reply_to {
        b = b.in_reply_to(bracket(irt));
    }
    if !mail.references.is_empty() {
        let refs: Vec<String> = mail.references.iter().map(|r| bracket(r)).collect();
        b = b.references(refs.join(" "));
    }
    if let Some(kind) = mail.auto_submitted {
        b = b
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                kind.to_string(),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"),
                "All".into(),
            ));
    }
    b = b.raw_header(HeaderValue::new(
        HeaderName::new_from_ascii_str(LOOP_HEADER),
        clean(&mail.loop_marker),
    ));
    if let Some(key) = &mail.notice {
        b = b.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(NOTICE_HEADER),
            clean(key),
        ));
    }
    let body = match (&mail.html, &mail.calendar) {
        (Some(html), None) => MultiPart::alternative_plain_html(mail.text.clone(), html.clone()),
        (html, Some(cal)) => {
            let mut alt = MultiPart::alternative().singlepart(SinglePart::plain(mail.text.clone()));
            if let Some(html) = html {
                alt = alt.singlepart(SinglePart::html(html.clone()));
            }
            let ct = ContentType::parse(&format!(
                "text/calendar; charset=utf-8; method={}",
                cal.method
            ))
            .map_err(|e| ComposeError::Build(e.to_string()))?;
            alt.singlepart(
                SinglePart::builder()
                    .header(ct)
                    .header(ContentTransferEncoding::Base64)
                    .body(cal.text.clone()),
            )
        }
        (None, None) => MultiPart::mixed().singlepart(SinglePart::plain(mail.text.clone())),
    };
    let message = if mail.attachments.is_empty() {
        match (&mail.html, &mail.calendar) {
            (None, None) => b.body(mail.text.clone()),
            _ => b.multipart(body),
        }
    } else {
        let mut mixed = MultiPart::mixed().multipart(body);
        for a in &mail.attachments {
            let ct = lettre::message::header::ContentType::parse(&a.content_type).unwrap_or(
                lettre::message::header::ContentType::parse("application/octet-stream")
                    .map_err(|e| ComposeError::Build(e.to_string()))?,
            );
            mixed = mixed.singlepart(Attachment::new(clean(&a.name)).body(a.data.clone(), ct));
        }
        b.multipart(mixed)
    }
    .map_err(|e| ComposeError::Build(e.to_string()))?;
    Ok(message.formatted())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::parse::{parse, ParseLimits};

    fn sample() -> OutgoingMail {
        OutgoingMail {
            from: Address::new(Some("Service Desk Amsterdam"), "servicedesk.nl@example.net"),
            to: vec![Address::new(
                Some("Jöhn \"Evil\"\r\nBcc: victim@x.example"),
                "john@customer.example",
            )],
            cc: vec![],
            reply_to: None,
            subject: "[NL-000001] Reçu: panne\r\nBcc: victim@x.example".into(),
            text: "Bonjour".into(),
            html: Some("<p>Bonjour</p>".into()),
            message_id: "dg.NL-000001.abc@example.net".into(),
            in_reply_to: Some("orig@customer.example".into()),
            references: vec!["orig@customer.example".into()],
            auto_submitted: Some("auto-replied"),
            attachments: vec![],
            loop_marker: "example.net".into(),
            date: Utc::now(),
            calendar: None,
            notice: None,
        }
    }

    #[test]
    fn a_calendar_part_rides_as_the_third_alternative_with_its_method() {
        let mut m = sample();
        let ics =
            "BEGIN:VCALENDAR\r\nMETHOD:CANCEL\r\nSUMMARY:Caf\u{e9} router\r\nEND:VCALENDAR\r\n";
        m.calendar = Some(CalendarPart {
            method: "CANCEL",
            text: ics.into(),
        });
        m.notice = Some("MNT-7/20261201T230000Z/cancellation/3".into());
        let bytes = compose(&m).expect("compose");
        let raw = String::from_utf8_lossy(&bytes);
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(
            raw.contains("text/calendar; charset=utf-8; method=CANCEL"),
            "{raw}"
        );
        let parsed = mail_parser::MessageParser::default()
            .parse(&bytes[..])
            .expect("parses");
        let part = parsed
            .parts
            .iter()
            .find(|p| {
                use mail_parser::MimeHeaders;
                p.is_content_type("text", "calendar")
            })
            .expect("a text/calendar part");
        assert_eq!(
            part.text_contents(),
            Some(ics),
            "the exact bytes, CRLF kept"
        );
        assert_eq!(
            parsed.header_raw("X-Deskgate-Notice").map(str::trim),
            Some("MNT-7/20261201T230000Z/cancellation/3")
        );
        assert_eq!(
            parsed.body_text(0).as_deref().map(str::trim),
            Some("Bonjour")
        );
    }

    #[test]
    fn headers_survive_a_round_trip_and_cannot_be_injected() {
        let bytes = compose(&sample()).expect("compose");
        let m = parse(&bytes, ParseLimits::default());
        assert_eq!(m.message_id, "dg.NL-000001.abc@example.net");
        assert_eq!(m.in_reply_to, vec!["orig@customer.example"]);
        assert_eq!(m.subject, "[NL-000001] Reçu: panne Bcc: victim@x.example");
        assert_eq!(m.header("auto-submitted"), Some("auto-replied"));
        assert_eq!(m.header("x-auto-response-suppress"), Some("All"));
        assert!(m.header("bcc").is_none(), "no header was injected");
        assert_eq!(m.to.len(), 1);
        assert_eq!(m.to[0].email, "john@customer.example");
        assert_eq!(m.text.trim(), "Bonjour");
    }

    #[test]
    fn attachments_are_carried_with_safe_names() {
        let mut m = sample();
        m.attachments = vec![OutgoingAttachment {
            name: "trace\r\nBcc: x.pcap".into(),
            content_type: "application/vnd.tcpdump.pcap".into(),
            data: vec![0, 1, 2, 3],
        }];
        let bytes = compose(&m).expect("compose");
        let parsed = parse(&bytes, ParseLimits::default());
        assert_eq!(parsed.attachments.len(), 1);
        assert_eq!(
            parsed.attachments[0].name, "trace Bcc_ x.pcap",
            "one line, and sanitised on the way back in"
        );
        assert_eq!(parsed.attachments[0].size, 4);
        assert_eq!(parsed.text.trim(), "Bonjour");
    }

    #[test]
    fn a_bad_address_is_an_error_not_a_panic() {
        let mut m = sample();
        m.to = vec![Address {
            name: None,
            email: "not an address".into(),
        }];
        assert!(compose(&m).is_err());
    }
}
