//! Raw bytes → [`InboundMail`]: the only place that looks at MIME.
//!
//! For an HTML-only mail it also renders the HTML by its structure ([`super::html`]): the quote
//! containers that clients write become `>`-quoted lines and Outlook's history is cut off, so
//! that new-text extraction can drop the history by structure instead of guessing it from the
//! text.
//!
//! Parsing never fails: a mail that mail-parser cannot make sense of still yields an
//! `InboundMail` (with what could be read and a warning), because broken mail must reach a
//! ticket or the quarantine, never stop the mailbox. Limits on MIME depth and part count keep a
//! hostile mail from costing more than a fixed amount of work.

use crate::core::address::Address;
use crate::core::mail::InboundMail;
use crate::core::service::message::AttachmentInfo;
use chrono::{DateTime, Utc};
use mail_parser::{HeaderValue, MessageParser, MimeHeaders, PartType};
use sha2::{Digest, Sha256};

/// Subjects longer than this are cut (RFC 5322 lines are at most 998 bytes; a longer subject is
/// folded, and beyond this length it is noise or an attack).
const MAX_SUBJECT_BYTES: usize = 2000;

/// Limits applied while reading a mail.
#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    /// Parts beyond this count are not looked at (their bytes stay in the raw mail).
    pub max_parts: usize,
    /// Text beyond this many bytes is cut (the raw mail keeps all of it).
    pub max_text_bytes: usize,
    /// A mail declaring more MIME parts than this is not parsed at all (quarantined): the MIME
    /// parser would build every part before we could stop it.
    pub max_declared_parts: usize,
    /// A mail nesting multiparts deeper than this is not parsed (quarantined).
    pub max_depth: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_parts: 500,
            max_text_bytes: 1 << 20,
            max_declared_parts: 5_000,
            max_depth: 50,
        }
    }
}

/// The header block of a raw mail (up to and including the blank line), at most 256 KiB: what
/// is read of a mail too large to process.
pub fn header_block(raw: &[u8]) -> &[u8] {
    let limit = raw.len().min(256 * 1024);
    let head = &raw[..limit];
    let end = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .or_else(|| head.windows(2).position(|w| w == b"\n\n").map(|p| p + 2))
        .unwrap_or(limit);
    &raw[..end]
}

/// Whether a raw mail declares more MIME parts, or nests multiparts deeper, than the limits allow
/// — read from its `Content-Type:` header lines in one pass, before any parsing.
///
/// Each part has a Content-Type line, so counting those lines bounds the parts; every
/// `multipart/` type opens one level, so counting those bounds the depth (a mail with many
/// sibling multiparts is over-counted, which only makes the limit stricter for odd mail).
fn mime_shape_exceeds(raw: &[u8], limits: ParseLimits) -> Option<String> {
    let mut parts = 0usize;
    let mut multiparts = 0usize;
    for line in raw.split(|b| *b == b'\n') {
        let Some(head) = line.get(..13) else { continue };
        if !head.eq_ignore_ascii_case(b"content-type:") {
            continue;
        }
        parts += 1;
        let value = &line[13..];
        if value
            .windows(10)
            .any(|w| w.eq_ignore_ascii_case(b"multipart/"))
        {
            multiparts += 1;
        }
        if parts > limits.max_declared_parts {
            return Some(format!(
                "the mail declares more than {} MIME parts",
                limits.max_declared_parts
            ));
        }
    }
    if multiparts > limits.max_depth && multiparts * 2 > parts {
        // Mostly multiparts inside multiparts: a nesting bomb rather than a big mail.
        return Some(format!(
            "the mail nests more than {} multipart levels",
            limits.max_depth
        ));
    }
    None
}

/// Whether the mail's text is a `text/plain; format=flowed` part (RFC 3676), and with
/// `DelSp=yes`.
fn flowed(msg: &mail_parser::Message<'_>) -> Option<bool> {
    let part = msg.part(*msg.text_body.first()?)?;
    let ct = part.content_type()?;
    let plain = ct.ctype().eq_ignore_ascii_case("text")
        && ct
            .subtype()
            .is_some_and(|s| s.eq_ignore_ascii_case("plain"));
    let flowed = ct
        .attribute("format")
        .is_some_and(|f| f.eq_ignore_ascii_case("flowed"));
    (plain && flowed).then(|| {
        ct.attribute("delsp")
            .is_some_and(|d| d.eq_ignore_ascii_case("yes"))
    })
}

/// A stable identity for a mail without a Message-ID: a digest of its bytes.
pub fn synthetic_message_id(raw: &[u8]) -> String {
    let digest = Sha256::digest(raw);
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{hex}@synthetic.deskgate.invalid")
}

/// Parses a raw mail. Never panics on input and never fails; problems become warnings.
pub fn parse(raw: &[u8], limits: ParseLimits) -> InboundMail {
    let mut mail = InboundMail {
        size: raw.len(),
        ..Default::default()
    };
    if let Some(why) = mime_shape_exceeds(raw, limits) {
        mail.message_id = synthetic_message_id(raw);
        mail.synthetic_id = true;
        mail.parse_failed = Some(why);
        return mail;
    }
    // mail-parser can panic on hostile input (the fuzzer found such mails: a debug assertion on
    // nested multiparts with a broken boundary). Such a mail is reported as failed, to be
    // quarantined, instead of taking the daemon down.
    let parsed = std::panic::catch_unwind(|| MessageParser::default().parse(raw));
    let Ok(parsed) = parsed else {
        mail.message_id = synthetic_message_id(raw);
        mail.synthetic_id = true;
        mail.parse_failed = Some("the MIME parser failed on this mail".into());
        return mail;
    };
    let Some(msg) = parsed else {
        mail.message_id = synthetic_message_id(raw);
        mail.synthetic_id = true;
        mail.warnings
            .push("unparseable mail: no header could be read".into());
        return mail;
    };

    match msg.message_id().map(clean_id).filter(|id| !id.is_empty()) {
        Some(id) => mail.message_id = id,
        None => {
            mail.message_id = synthetic_message_id(raw);
            mail.synthetic_id = true;
        }
    }
    mail.in_reply_to = id_list(msg.in_reply_to());
    mail.references = id_list(msg.references());
    mail.from = msg
        .from()
        .and_then(|a| a.first())
        .map(to_address)
        .or_else(|| msg.sender().and_then(|a| a.first()).map(to_address))
        .unwrap_or_default();
    mail.reply_to = msg.reply_to().and_then(|a| a.first()).map(to_address);
    mail.to = msg
        .to()
        .map(|a| a.iter().map(to_address).collect())
        .unwrap_or_default();
    mail.cc = msg
        .cc()
        .map(|a| a.iter().map(to_address).collect())
        .unwrap_or_default();
    mail.to.retain(|a| !a.email.is_empty());
    mail.cc.retain(|a| !a.email.is_empty());
    mail.subject = msg.subject().map(single_line).unwrap_or_default();
    if mail.subject.len() > MAX_SUBJECT_BYTES {
        mail.warnings.push(format!(
            "subject of {} bytes cut to {MAX_SUBJECT_BYTES}",
            mail.subject.len()
        ));
        mail.subject = truncate(&mail.subject, MAX_SUBJECT_BYTES);
    }
    mail.date = msg
        .date()
        .filter(|d| d.is_valid())
        .and_then(|d| DateTime::<Utc>::from_timestamp(d.to_timestamp(), 0));
    mail.headers = msg
        .headers_raw()
        .map(|(n, v)| (n.to_ascii_lowercase(), unfold(v)))
        .collect();

    if let Some(ct) = msg.root_part().content_type() {
        mail.content_type = mime_type(ct.ctype(), ct.subtype());
        mail.report_type = ct.attribute("report-type").map(|s| s.to_ascii_lowercase());
    } else {
        mail.content_type = "text/plain".into();
    }

    if msg.parts.len() > limits.max_parts {
        mail.warnings.push(format!(
            "mail has {} MIME parts; only the first {} were read",
            msg.parts.len(),
            limits.max_parts
        ));
    }
    for part in msg.parts.iter().take(limits.max_parts) {
        let ptype = part
            .content_type()
            .map(|ct| mime_type(ct.ctype(), ct.subtype()))
            .unwrap_or_else(|| "text/plain".into());
        if part.is_encoding_problem {
            mail.warnings.push(format!(
                "a {ptype} part could not be decoded cleanly (charset or encoding)"
            ));
        }
        match (&part.body, ptype.as_str()) {
            (PartType::Text(t), "message/delivery-status")
            | (PartType::Text(t), "message/global-delivery-status") => {
                mail.delivery_status = Some(t.to_string());
            }
            (PartType::Text(t), "text/rfc822-headers") if mail.original_message_id.is_none() => {
                mail.original_message_id = find_message_id_header(t);
            }
            (PartType::Binary(b), "message/delivery-status")
            | (PartType::InlineBinary(b), "message/delivery-status") => {
                mail.delivery_status = Some(String::from_utf8_lossy(b).into_owned());
            }
            (PartType::Message(inner), _) if mail.original_message_id.is_none() => {
                mail.original_message_id = inner.message_id().map(clean_id);
            }
            _ => {}
        }
        mail.part_types.push(ptype);
    }

    mail.text = msg
        .body_text(0)
        .map(|t| match flowed(&msg) {
            Some(delsp) => super::flowed::unflow(&t, delsp),
            None => t.into_owned(),
        })
        .map(|t| truncate(&t, limits.max_text_bytes))
        .unwrap_or_default();
    if let Some(PartType::Html(html)) = msg.text_part(0).map(|p| &p.body) {
        // An HTML-only mail: its structure says where the history is, better than its text.
        let structured = super::html::structure_text(html);
        mail.html_text = Some(truncate(&structured.text, limits.max_text_bytes));
        mail.html_history_cut = structured.history_cut;
    }

    for att in msg.attachments().take(limits.max_parts) {
        let content_type = att
            .content_type()
            .map(|ct| mime_type(ct.ctype(), ct.subtype()))
            .unwrap_or_else(|| "application/octet-stream".into());
        let size = match &att.body {
            PartType::Message(m) => m.raw_message().len(),
            other => other.len(),
        };
        let name = att
            .attachment_name()
            .map(sanitize_file_name)
            .unwrap_or_else(|| default_attachment_name(&content_type));
        mail.attachments.push(AttachmentInfo {
            name,
            content_type,
            size,
        });
    }
    mail
}

/// The attachments of a raw mail with their bytes (decoded), names sanitised; for relaying an
/// engineer's files to the customer. At most `max_parts` are returned.
pub fn attachment_bytes(raw: &[u8], max_parts: usize) -> Vec<(AttachmentInfo, Vec<u8>)> {
    // mail-parser can panic on hostile input (the fuzzer found such mails); no attachments then.
    std::panic::catch_unwind(|| attachments_of(raw, max_parts)).unwrap_or_default()
}

fn attachments_of(raw: &[u8], max_parts: usize) -> Vec<(AttachmentInfo, Vec<u8>)> {
    let Some(msg) = MessageParser::default().parse(raw) else {
        return Vec::new();
    };
    msg.attachments()
        .take(max_parts)
        .map(|att| {
            let content_type = att
                .content_type()
                .map(|ct| mime_type(ct.ctype(), ct.subtype()))
                .unwrap_or_else(|| "application/octet-stream".into());
            let data = match &att.body {
                PartType::Message(m) => m.raw_message().to_vec(),
                _ => att.contents().to_vec(),
            };
            let name = att
                .attachment_name()
                .map(sanitize_file_name)
                .unwrap_or_else(|| default_attachment_name(&content_type));
            (
                AttachmentInfo {
                    name,
                    content_type,
                    size: data.len(),
                },
                data,
            )
        })
        .collect()
}

/// Makes an attachment name safe to show and to write to disk: no directories, no control
/// characters, no leading dots, at most 200 bytes.
pub fn sanitize_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_string();
    let cleaned = truncate(&cleaned, 200);
    if cleaned.is_empty() {
        "attachment".into()
    } else {
        cleaned
    }
}

fn default_attachment_name(content_type: &str) -> String {
    match content_type {
        "message/rfc822" => "message.eml".into(),
        "text/plain" => "attachment.txt".into(),
        _ => "attachment".into(),
    }
}

fn to_address(a: &mail_parser::Addr<'_>) -> Address {
    Address::new(a.name(), a.address().unwrap_or(""))
}

fn mime_type(ctype: &str, subtype: Option<&str>) -> String {
    match subtype {
        Some(s) => format!("{}/{}", ctype, s).to_ascii_lowercase(),
        None => ctype.to_ascii_lowercase(),
    }
}

fn clean_id(id: &str) -> String {
    id.trim()
        .trim_matches(|c| c == '<' || c == '>')
        .trim()
        .to_string()
}

fn id_list(v: &HeaderValue<'_>) -> Vec<String> {
    let ids: Vec<String> = match v {
        HeaderValue::Text(t) => vec![clean_id(t)],
        HeaderValue::TextList(l) => l.iter().map(|t| clean_id(t)).collect(),
        _ => Vec::new(),
    };
    ids.into_iter().filter(|i| !i.is_empty()).collect()
}

fn find_message_id_header(headers: &str) -> Option<String> {
    let mut lines = headers.lines().peekable();
    while let Some(line) = lines.next() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("message-id") {
            let mut value = value.trim().to_string();
            if value.is_empty() {
                if let Some(next) = lines.peek() {
                    value = next.trim().to_string();
                }
            }
            let id = clean_id(&value);
            return (!id.is_empty()).then_some(id);
        }
    }
    None
}

/// Collapses a header value onto one line: folding and any control character become a space.
fn unfold(v: &str) -> String {
    let s: String = v
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn single_line(v: &str) -> String {
    unfold(v)
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_threading_needs() {
        let raw = b"From: \"Jane\" <Jane@Customer.example>\r\nTo: servicedesk.nl@example.net\r\n\
Subject: RE: [NL-000001] link\r\n down\r\nMessage-ID: <abc@customer.example>\r\n\
In-Reply-To: <ack-1@deskgate.example>\r\nReferences: <orig@customer.example> <ack-1@deskgate.example>\r\n\
\r\nHello\r\n";
        let m = parse(raw, ParseLimits::default());
        assert_eq!(m.message_id, "abc@customer.example");
        assert!(!m.synthetic_id);
        assert_eq!(m.from.email, "jane@customer.example");
        assert_eq!(m.subject, "RE: [NL-000001] link down");
        assert_eq!(m.in_reply_to, vec!["ack-1@deskgate.example"]);
        assert_eq!(
            m.references,
            vec!["orig@customer.example", "ack-1@deskgate.example"]
        );
        assert_eq!(m.text.trim(), "Hello");
    }

    #[test]
    fn a_mail_without_message_id_gets_a_stable_synthetic_one() {
        let raw = b"From: a@b.example\r\nSubject: x\r\n\r\nbody\r\n";
        let a = parse(raw, ParseLimits::default());
        let b = parse(raw, ParseLimits::default());
        assert!(a.synthetic_id);
        assert_eq!(a.message_id, b.message_id);
    }

    #[test]
    fn garbage_does_not_panic() {
        for raw in [
            &b""[..],
            b"\x00\xff\xfe",
            b":::\r\n\r\n",
            b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n--x--",
        ] {
            let _ = parse(raw, ParseLimits::default());
        }
    }

    #[test]
    fn mime_bombs_are_refused_before_parsing() {
        let mut nested = String::from("From: a@b.example\r\n");
        for i in 0..200 {
            nested.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
            ));
        }
        let m = parse(nested.as_bytes(), ParseLimits::default());
        assert!(
            m.parse_failed
                .as_deref()
                .is_some_and(|e| e.contains("nests")),
            "{:?}",
            m.parse_failed
        );

        let mut many = String::from(
            "From: a@b.example\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n",
        );
        for _ in 0..6_000 {
            many.push_str("--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n");
        }
        let m = parse(many.as_bytes(), ParseLimits::default());
        assert!(
            m.parse_failed
                .as_deref()
                .is_some_and(|e| e.contains("MIME parts")),
            "{:?}",
            m.parse_failed
        );

        let ordinary = b"From: a@b.example\r\nContent-Type: multipart/alternative; boundary=\"x\"\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--\r\n";
        assert!(parse(ordinary, ParseLimits::default())
            .parse_failed
            .is_none());
    }

    #[test]
    fn attachment_names_cannot_climb_directories() {
        assert_eq!(sanitize_file_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_file_name("C:\\evil\\a.exe"), "a.exe");
        assert_eq!(sanitize_file_name("..."), "attachment");
        assert_eq!(sanitize_file_name("a\r\nb.txt"), "a__b.txt");
    }
}
