//! Building the MIME bytes of an outgoing mail with lettre.
//!
//! Every value that becomes a header goes through lettre's encoder (RFC 2047 for non-ASCII) after
//! control characters are removed, so nothing a customer wrote can add a header.

use crate::core::mail::Address;
use chrono::{DateTime, Utc};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};

/// The marker header on everything deskgate sends; seeing it come back means a loop.
pub const LOOP_HEADER: &str = "X-Deskgate-Loop";

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
    /// Value of the loop marker: the deskgate instance (its Message-ID domain).
    pub loop_marker: String,
    pub date: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("address {0:?} cannot be used in a mail header")]
    Address(String),
    #[error("cannot build mail: {0}")]
    Build(String),
}

/// A new Message-ID (without brackets) for a mail about `reference`.
pub fn new_message_id(reference: Option<&str>, domain: &str) -> String {
    let r: u128 = rand::random();
    match reference {
        Some(t) => format!("dg.{t}.{r:032x}@{domain}"),
        None => format!("dg.{r:032x}@{domain}"),
    }
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
    crate::render::one_line(s)
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
    let message = match &mail.html {
        Some(html) => b.multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            html.clone(),
        )),
        None => b.body(mail.text.clone()),
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
            loop_marker: "example.net".into(),
            date: Utc::now(),
        }
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
    fn a_bad_address_is_an_error_not_a_panic() {
        let mut m = sample();
        m.to = vec![Address {
            name: None,
            email: "not an address".into(),
        }];
        assert!(compose(&m).is_err());
    }
}
