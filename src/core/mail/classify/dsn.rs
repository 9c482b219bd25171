//! What a bounce says about its recipients: RFC 3464 delivery-status fields ([`parse_dsn`]),
//! RFC 3463 status codes and SMTP replies, and, for a bounce without a delivery-status part, the
//! failed recipients and the diagnostic line read from its text.

use std::sync::LazyLock;

use regex::Regex;

use super::facts::{first_token, prefix};
use super::words::DAEMON_LOCAL;
use crate::core::mail::pattern::re;
use crate::core::mail::InboundMail;

/// One recipient block of a delivery-status report.
#[derive(Debug, Default, Clone)]
pub(super) struct DsnRecipient {
    pub(super) final_recipient: Option<String>,
    pub(super) original_recipient: Option<String>,
    pub(super) action: Option<String>,
    pub(super) status: Option<String>,
    pub(super) diagnostic: Option<String>,
}

impl DsnRecipient {
    fn has_recipient(&self) -> bool {
        self.final_recipient.is_some() || self.original_recipient.is_some()
    }

    pub(super) fn address(&self) -> Option<&str> {
        self.final_recipient
            .as_deref()
            .or(self.original_recipient.as_deref())
    }

    fn action_is(&self, prefix: &str) -> bool {
        self.action
            .as_deref()
            .is_some_and(|a| a.starts_with(prefix))
    }

    /// Delivered, relayed or expanded: the mail went on, nothing failed.
    pub(super) fn is_success(&self) -> bool {
        // Besides the three success actions of RFC 3464, a 2.x.x status (RFC 3463: success)
        // with any action other than failed or delayed counts, because some MTAs write
        // non-standard actions such as `deliverable`.
        let success_status = self.status.as_deref().is_some_and(|s| s.starts_with('2'));
        match self.action.as_deref() {
            Some(a)
                if ["delivered", "relayed", "expanded"]
                    .iter()
                    .any(|s| a.starts_with(s)) =>
            {
                true
            }
            Some(a) if a.starts_with("fail") || a.starts_with("delay") => false,
            _ => success_status,
        }
    }

    /// Failed for good: a 5.x.x status, or `Action: failed` without a 4.x.x status.
    pub(super) fn is_permanent(&self) -> bool {
        match self.status.as_deref() {
            Some(s) if s.starts_with('5') => true,
            Some(s) if s.starts_with('4') => false,
            _ => self.action_is("fail"),
        }
    }
}

/// Reads the recipient blocks of a delivery-status text (RFC 3464 section 2.3): folded lines
/// joined, one recipient per `Final-Recipient`/`Original-Recipient` group. Malformed reports
/// that put every field into one block without blank lines are split at each new recipient.
pub(super) fn parse_dsn(text: &str) -> Vec<DsnRecipient> {
    let mut out: Vec<DsnRecipient> = Vec::new();
    let mut cur = DsnRecipient::default();
    let mut fields: Vec<(String, String)> = Vec::new();
    // Unfold first: a line starting with white space continues the previous field. A blank line
    // is kept as a block separator.
    for line in text.lines() {
        if line.trim().is_empty() {
            fields.push((String::new(), String::new()));
        } else if line.starts_with([' ', '\t']) {
            if let Some((name, value)) = fields.last_mut() {
                if !name.is_empty() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
            }
        } else if let Some((name, value)) = line.split_once(':') {
            let name = name.trim().to_ascii_lowercase();
            if !name.is_empty() && !name.contains(' ') {
                fields.push((name, value.trim().to_string()));
            }
        }
    }
    for (name, value) in fields {
        match name.as_str() {
            "" => {
                if cur.has_recipient() {
                    out.push(std::mem::take(&mut cur));
                } else {
                    cur = DsnRecipient::default();
                }
            }
            "original-recipient" => {
                if cur.original_recipient.is_some() {
                    out.push(std::mem::take(&mut cur));
                }
                cur.original_recipient = dsn_address(&value);
            }
            "final-recipient" => {
                if cur.final_recipient.is_some() {
                    out.push(std::mem::take(&mut cur));
                }
                cur.final_recipient = dsn_address(&value);
            }
            "action" => cur.action = Some(first_token(&value)),
            "status" => {
                cur.status = ENHANCED_STATUS
                    .captures(&value)
                    .and_then(|c| c.get(1))
                    .map(|m| m.as_str().to_string())
            }
            "diagnostic-code" => {
                let v = value.split_once(';').map(|(_, d)| d).unwrap_or(&value);
                let v = clean_diagnostic(v);
                if !v.is_empty() {
                    cur.diagnostic = Some(v);
                }
            }
            _ => {}
        }
    }
    if cur.has_recipient() {
        out.push(cur);
    }
    out
}

/// The address of a `Final-Recipient: rfc822; <a@b>` field, lower-case, without brackets.
fn dsn_address(value: &str) -> Option<String> {
    let v = value.split_once(';').map(|(_, a)| a).unwrap_or(value);
    let v = v
        .trim()
        .trim_matches(|c| c == '<' || c == '>' || c == '"')
        .trim();
    (!v.is_empty()).then(|| v.to_ascii_lowercase())
}

/// A diagnostic on one line, at most 500 bytes.
pub(super) fn clean_diagnostic(s: &str) -> String {
    let joined = s.split_whitespace().collect::<Vec<_>>().join(" ");
    prefix(&joined, 500).to_string()
}

/// The first enhanced status code of a failure or delay in the text, e.g. `5.1.1`.
pub(super) fn first_status_code(text: &str) -> Option<String> {
    if !may_hold_status_code(text) {
        return None;
    }
    ENHANCED_STATUS
        .captures_iter(text)
        .filter_map(|c| c.get(1))
        .map(|m| m.as_str())
        .find(|s| !s.starts_with('2'))
        .map(str::to_string)
        .or_else(|| {
            SMTP_REPLY
                .captures(text)
                .and_then(|c| c.get(1))
                .map(|m| m.as_str().to_string())
        })
}

/// A cheap test, one pass over the bytes, for what either code pattern needs: `2.`, `4.` or `5.`
/// then a digit 0-7 and a dot (an enhanced status code), or 4 or 5, two digits and a space or
/// a dash (an SMTP reply code). Every mail's text is searched for a code, most hold neither, and
/// the patterns, with their Unicode classes, cost several nanoseconds per byte where this costs
/// well under one.
fn may_hold_status_code(text: &str) -> bool {
    text.as_bytes().windows(4).any(|w| {
        matches!(
            w,
            [b'2' | b'4' | b'5', b'.', b'0'..=b'7', b'.']
                | [b'4' | b'5', b'0'..=b'5', b'0'..=b'9', b' ' | b'-']
        )
    })
}

/// A generic `x.0.0` status replaced by the remote server's more specific code of the same class
/// from the diagnostic (`5.0.0` with `550 5.7.1 relaying denied` gives `5.7.1`): many MTAs write
/// only the class into the Status field.
pub(super) fn more_specific_status(status: String, diagnostic: Option<&str>) -> String {
    let Some(class) = status.strip_suffix(".0.0") else {
        return status;
    };
    diagnostic
        .and_then(|d| {
            ENHANCED_STATUS
                .captures_iter(d)
                .filter_map(|c| c.get(1))
                .map(|m| m.as_str())
                .find(|code| code.starts_with(class) && !code.ends_with(".0.0"))
        })
        .map(str::to_string)
        .unwrap_or(status)
}

/// An enhanced status code (RFC 3463) of a failure or delay, e.g. `5.1.1` or `4.4.7`.
pub(super) static ENHANCED_STATUS: LazyLock<Regex> = LazyLock::new(|| {
    // The subject digit is 0-7 (RFC 3463 registry); allowing more would read software versions
    // such as "Exim 4.92.3" as status codes.
    re(r"(?:^|[^0-9.])([245]\.[0-7]\.[0-9]{1,3})(?:$|[^0-9.]|\.(?:$|[^0-9]))")
});

/// An SMTP reply code in a transcript (`550 user unknown`, `550-5.1.1`, `<<< 452 …`).
pub(super) static SMTP_REPLY: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?m)(?:^|[\s:(\[<>#])([45][0-5][0-9])[ -](?:[45]\.[0-9]|[A-Za-z<#(\[])"));

/// A mail address in angle brackets, or alone on a line (Exim, qmail: `<a@b>:`).
static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?m)<([A-Za-z0-9._%+=/'!#$&*?^`{|}~-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})>|^\s*([A-Za-z0-9._%+=/'!#$&*?^`{|}~-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})\s*:?\s*$",
    )
});

/// The failed recipients named in a text bounce (the part before the quoted original). Addresses
/// in angle brackets or alone on a line are the usual way (qmail `<a@b>:`, Sendmail, Exim); only
/// when there are none, addresses that start a line (`a@b [User unknown]`, `Unknown user: a@b`)
/// count. Lines that name someone else (the original's headers, `MAIL FROM`, "please contact")
/// are skipped.
pub(super) fn text_recipients(mail: &InboundMail, region: &str) -> Vec<String> {
    let mut bracketed: Vec<String> = Vec::new();
    let mut line_start: Vec<String> = Vec::new();
    for line in region.lines() {
        let lower = line.trim_start().to_ascii_lowercase();
        if NOT_A_RECIPIENT_LINE.is_match(&lower) {
            continue;
        }
        for c in ADDRESS.captures_iter(line) {
            if let Some(m) = c.get(1).or(c.get(2)) {
                let a = m.as_str().to_ascii_lowercase();
                if !is_not_a_failed_recipient(mail, &a) && bracketed.len() < 50 {
                    bracketed = push_unique(bracketed, a);
                }
            }
        }
        if let Some(m) = LINE_START_ADDRESS.captures(line).and_then(|c| c.get(1)) {
            let a = m.as_str().to_ascii_lowercase();
            if !is_not_a_failed_recipient(mail, &a) && line_start.len() < 50 {
                line_start = push_unique(line_start, a);
            }
        }
    }
    if bracketed.is_empty() {
        line_start
    } else {
        bracketed
    }
}

/// Lines of a text bounce whose addresses are not failed recipients.
static NOT_A_RECIPIENT_LINE: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"^(?:message-id|in-reply-to|references|to|from|cc|bcc|sender|reply-to|return-path|delivered-to",
        r"|x-original-to|envelope-from|subject|date)\s*:|^from\s|mail from\s*:|contact",
    ))
});

/// An address at the start of a line, possibly after a short label such as `Unknown user:`.
static LINE_START_ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^\s*(?:[A-Za-z][A-Za-z -]{0,30}:\s*)?<?([A-Za-z0-9._%+=/'!#$&*?^`{|}~-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})>?(?:[\s:,;\[(]|$)",
    )
});

/// Addresses in a bounce text that are not failed recipients: the bounce's own sender and
/// addressee (the original sender), mail system mailboxes, and Message-IDs that look like
/// addresses.
fn is_not_a_failed_recipient(mail: &InboundMail, a: &str) -> bool {
    let local = a.rsplit_once('@').map(|(l, _)| l).unwrap_or(a);
    let is_id = |id: &String| id.eq_ignore_ascii_case(a);
    a == mail.from.email
        || mail.to.iter().any(|t| t.email == a)
        || DAEMON_LOCAL.is_match(local)
        || mail.original_message_id.as_ref().is_some_and(is_id)
        || mail.references.iter().chain(&mail.in_reply_to).any(is_id)
}

/// The first line of a text bounce that carries a status or reply code: usually the remote
/// server's answer.
pub(super) fn text_diagnostic(region: &str) -> Option<String> {
    region
        .lines()
        .map(|l| l.trim().trim_start_matches(['>', '<', ' ']).trim())
        .find(|l| !l.is_empty() && (ENHANCED_STATUS.is_match(l) || SMTP_REPLY.is_match(l)))
        .map(clean_diagnostic)
}

pub(super) fn push_unique(mut v: Vec<String>, s: String) -> Vec<String> {
    if !v.contains(&s) {
        v.push(s);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsn_parser_splits_recipients_without_blank_lines() {
        let r = parse_dsn(
            "Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 5.0.0\n\
Final-Recipient: rfc822; b@x.example\nAction: failed\nStatus: 4.0.0\n",
        );
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].address(), Some("b@x.example"));
        assert_eq!(r[1].status.as_deref(), Some("4.0.0"));
    }

    #[test]
    fn status_codes_are_not_read_from_ip_addresses_or_versions() {
        assert_eq!(first_status_code("from 192.5.1.1 via 10.4.4.7"), None);
        assert_eq!(first_status_code("postfix 2.5.1.1 release"), None);
        assert_eq!(
            first_status_code("said: 550 5.1.1 unknown."),
            Some("5.1.1".into())
        );
        assert_eq!(first_status_code("code 5.7.1."), Some("5.7.1".into()));
        assert_eq!(first_status_code("Exim 4.92.3 on 2.10.2020"), None);
        assert_eq!(
            first_status_code("<<< 452 too many recipients"),
            Some("452".into())
        );
    }

    proptest::proptest! {
        /// The byte test never turns away a text that either pattern would find a code in.
        #[test]
        fn the_quick_test_lets_every_status_code_through(text in "[245.07 \\-:a(\n]{0,40}") {
            if ENHANCED_STATUS.is_match(&text) || SMTP_REPLY.is_match(&text) {
                proptest::prop_assert!(may_hold_status_code(&text));
            }
        }
    }

    #[test]
    fn every_pattern_compiles() {
        for r in [
            &ENHANCED_STATUS,
            &SMTP_REPLY,
            &ADDRESS,
            &NOT_A_RECIPIENT_LINE,
            &LINE_START_ADDRESS,
        ] {
            LazyLock::force(r);
        }
    }
}
