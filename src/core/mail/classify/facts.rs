//! What more than one detector needs to know about a mail, worked out once ([`Facts`]), and the
//! small readers of header values and sender names they share.

use crate::core::mail::InboundMail;

use super::words::{
    DAEMON_LOCAL, DAEMON_NAME, MAILER_DAEMON_LOCAL, MAILER_DAEMON_NAME, NOREPLY_LOCAL,
};

/// How much of the text the wording checks read. Bounce and auto-reply wording sits at the
/// top; reading a whole megabyte of quoted original would only add false matches and cost.
const TEXT_SCAN_BYTES: usize = 32 * 1024;

/// Derived facts that more than one detector needs, computed once.
pub(super) struct Facts<'m> {
    /// The start of the text, lower-case.
    pub(super) text_lower: String,
    /// The start of the text as written (for extracting addresses and codes).
    pub(super) text_head: &'m str,
    pub(super) subject_lower: String,
    /// The topmost `Return-Path` is `<>`.
    pub(super) null_sender: bool,
    /// `Auto-Submitted` with a value other than `no`: (value, lower-case first token).
    pub(super) auto_submitted: Option<(String, String)>,
    /// The sender is a mail system's own mailbox (MAILER-DAEMON, postmaster, …).
    pub(super) daemon_sender: bool,
    /// The sender is MAILER-DAEMON or a "Mail Delivery System": never a person. (Postmaster
    /// and mail-admin mailboxes are read and written by people, so they count only as bounce
    /// evidence, not as a robot verdict on their own.)
    pub(super) mailer_daemon: bool,
    /// The sender's address is a no-reply address.
    pub(super) noreply_sender: bool,
    /// Part types include a quoted original message or its headers.
    pub(super) has_original: bool,
}

impl<'m> Facts<'m> {
    pub(super) fn new(mail: &'m InboundMail) -> Facts<'m> {
        let text_head = prefix(&mail.text, TEXT_SCAN_BYTES);
        let null_sender = mail
            .header("return-path")
            .map(|v| {
                let v = v.trim();
                v.is_empty()
                    || v.trim_matches(|c| c == '<' || c == '>' || c == ' ')
                        .is_empty()
            })
            .unwrap_or(false);
        let auto_submitted = mail.header("auto-submitted").and_then(|v| {
            let token = first_token(v);
            (token != "no").then(|| (v.trim().to_string(), token))
        });
        let local = mail
            .from
            .email
            .rsplit_once('@')
            .map(|(l, _)| l)
            .unwrap_or(&mail.from.email);
        let name = mail.from.name.as_deref().unwrap_or("").to_lowercase();
        let daemon_sender = DAEMON_LOCAL.is_match(local) || DAEMON_NAME.is_match(&name);
        let mailer_daemon =
            MAILER_DAEMON_LOCAL.is_match(local) || MAILER_DAEMON_NAME.is_match(&name);
        let noreply_sender = NOREPLY_LOCAL.is_match(local);
        let has_original = mail.part_types.iter().any(|t| {
            matches!(
                t.as_str(),
                "message/rfc822"
                    | "text/rfc822-headers"
                    | "message/global"
                    | "message/global-headers"
            )
        });
        Facts {
            text_lower: text_head.to_lowercase(),
            text_head,
            subject_lower: mail.subject.to_lowercase(),
            null_sender,
            auto_submitted,
            daemon_sender,
            mailer_daemon,
            noreply_sender,
            has_original,
        }
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(super) fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The first word of a header value, lower-case, without comments or parameters:
/// `auto-generated (failure)` gives `auto-generated`.
pub(super) fn first_token(v: &str) -> String {
    v.trim()
        .split(|c: char| c.is_whitespace() || c == ';' || c == '(' || c == ',')
        .find(|t| !t.is_empty())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// The header name as it is usually written, for reasons.
pub(super) fn header_label(name: &str) -> String {
    name.split('-')
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

pub(super) fn sender_label(mail: &InboundMail) -> String {
    match &mail.from.name {
        Some(n) if mail.from.email.is_empty() => n.clone(),
        _ => mail.from.email.clone(),
    }
}
