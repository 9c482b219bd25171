//! Bounces and machine reports: whether a mail is a delivery failure or delay (a standard RFC 3464
//! DSN, an Amazon SES notification, or a non-standard MTA notice with an automated sender), a
//! report that is no failure (feedback report, success DSN, read receipt), and for a bounce
//! what it says failed ([`BounceInfo`]).

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::dsn::{
    clean_diagnostic, first_status_code, more_specific_status, parse_dsn, push_unique,
    text_diagnostic, text_recipients, DsnRecipient, ENHANCED_STATUS,
};
use super::facts::{sender_label, Facts};
use super::words::{BOUNCE_SUBJECT, BOUNCE_TEXT, DELAY_WORDS, ORIGINAL_MARKER};
use crate::core::mail::pattern::re;
use crate::core::mail::InboundMail;

/// What a bounce tells about the failed delivery.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BounceInfo {
    /// True for a final failure (status 5.x.x, or `Action: failed` without a 4.x.x status);
    /// false for a delay or a temporary failure, after which the MTA may still deliver.
    pub permanent: bool,
    /// The enhanced status code of the first failed recipient, e.g. `5.1.1`.
    pub status: Option<String>,
    /// The remote server's or the MTA's explanation, e.g. `550 5.1.1 user unknown`.
    pub diagnostic: Option<String>,
    /// The recipients that failed, lower-case.
    pub recipients: Vec<String>,
    /// The Message-ID of the mail that bounced (ours, if we sent it), without brackets.
    pub original_message_id: Option<String>,
}

pub(super) enum Verdict {
    Bounce(BounceInfo),
    Report,
}

pub(super) struct BounceSignals {
    pub(super) verdict: Option<Verdict>,
    pub(super) reasons: Vec<String>,
}

pub(super) fn bounce_signals(mail: &InboundMail, facts: &Facts) -> BounceSignals {
    let mut reasons = Vec::new();
    let report_type = mail.report_type.as_deref().unwrap_or("");
    let is_multipart_report = mail.content_type == "multipart/report";
    let has_part = |t: &str| mail.part_types.iter().any(|p| p == t);

    // Feedback reports (RFC 5965) are complaints about a mail, not failures of its delivery.
    if report_type == "feedback-report" || has_part("message/feedback-report") {
        reasons.push("feedback report (ARF, message/feedback-report)".into());
        return BounceSignals {
            verdict: Some(Verdict::Report),
            reasons,
        };
    }

    let automated = automated_sender_signals(mail, facts);

    // A standard DSN (RFC 3464): the delivery-status part says per recipient what happened. A
    // delivery-status part outside a `multipart/report` is what a person gets by attaching the
    // parts of a bounce to a mail of their own, so there it counts only from an automated sender.
    let dsn_part =
        has_part("message/delivery-status") || has_part("message/global-delivery-status");
    if report_type == "delivery-status"
        || (dsn_part && (is_multipart_report || !automated.is_empty()))
    {
        reasons.push(if report_type == "delivery-status" {
            "multipart/report; report-type=delivery-status (RFC 3464)".to_string()
        } else {
            "message/delivery-status part (RFC 3464)".to_string()
        });
        reasons.extend(automated.iter().cloned());
        let recipients = mail
            .delivery_status
            .as_deref()
            .map(parse_dsn)
            .unwrap_or_default();
        if !recipients.is_empty() && recipients.iter().all(DsnRecipient::is_success) {
            reasons.push("every recipient delivered, relayed or expanded (success DSN)".into());
            return BounceSignals {
                verdict: Some(Verdict::Report),
                reasons,
            };
        }
        let info = bounce_info(mail, facts, &recipients);
        return BounceSignals {
            verdict: Some(Verdict::Bounce(info)),
            reasons,
        };
    }

    // Read receipts (RFC 8098) and any other report type are machine reports, not failures.
    if is_multipart_report && !report_type.is_empty() {
        reasons.push(format!("multipart/report; report-type={report_type}"));
        return BounceSignals {
            verdict: Some(Verdict::Report),
            reasons,
        };
    }
    if has_part("message/disposition-notification") {
        reasons.push("message/disposition-notification part (read receipt)".into());
        return BounceSignals {
            verdict: Some(Verdict::Report),
            reasons,
        };
    }

    // Amazon SES notifications arrive through SNS as JSON in a plain mail; the JSON says whether
    // it is a bounce, a complaint or a delivery.
    if let Some(v) = ses_notification(mail, facts, &mut reasons) {
        return BounceSignals {
            verdict: Some(v),
            reasons,
        };
    }

    // A non-standard bounce needs bounce-like content *and* an automated sender: either alone is
    // common in human mail (a customer writing "Undeliverable mail from your server", pasting a
    // bounce, or a no-reply sender of ordinary notifications).
    let mut content = Vec::new();
    if let Some(m) = BOUNCE_SUBJECT.find(&facts.subject_lower) {
        content.push(format!(
            "subject looks like a bounce (\"{}\")",
            m.as_str().trim()
        ));
    }
    if let Some(m) = BOUNCE_TEXT.find(&facts.text_lower) {
        content.push(format!(
            "text looks like a bounce (\"{}\")",
            m.as_str().trim()
        ));
    }
    if let Some(code) = first_status_code(facts.text_head) {
        content.push(format!("text has a delivery status code ({code})"));
    }
    if mail.header("x-failed-recipients").is_some() {
        content.push("X-Failed-Recipients header".to_string());
    }

    // A mail from MAILER-DAEMON that quotes an original message is a bounce even when its text is
    // in a language the lists above do not cover.
    let daemon_with_original = facts.daemon_sender && facts.has_original;
    // `Auto-Submitted` is on every kind of machine mail (monitoring, cron, ticket systems), and a
    // monitoring alert easily says "job has failed" or "permanent failure"; so when it is the
    // only automated signal, it takes two pieces of bounce content.
    let only_auto_submitted = automated.len() == 1 && facts.auto_submitted.is_some();
    let enough_content = if only_auto_submitted {
        content.len() >= 2
    } else {
        !content.is_empty()
    };
    let is_bounce = (!automated.is_empty() && enough_content) || daemon_with_original;
    if daemon_with_original {
        content.push("quotes the original message".to_string());
    }
    let fired: Vec<String> = automated.iter().chain(content.iter()).cloned().collect();
    if is_bounce {
        reasons.extend(fired);
        // Some MTAs write the delivery-status fields into the text. They belong before the quoted
        // original; when a relay quoted a whole bounce (fields and all) below its own notice,
        // they are only found further down.
        let mut text_recipients = parse_dsn(region_before_original(facts.text_head));
        if text_recipients.is_empty() {
            text_recipients = parse_dsn(facts.text_head);
        }
        let info = bounce_info(mail, facts, &text_recipients);
        return BounceSignals {
            verdict: Some(Verdict::Bounce(info)),
            reasons,
        };
    }
    // Not a bounce: only content signals are worth reporting as hints (the automated-sender
    // signals are reported by the auto-reply and robot detectors in their own words), plus a
    // postmaster-like sender, which no other detector reports.
    reasons.extend(content);
    if facts.daemon_sender && !facts.mailer_daemon {
        reasons.push(format!(
            "sender {} is a mail system mailbox (postmaster-like, may be a person)",
            sender_label(mail)
        ));
    }
    BounceSignals {
        verdict: None,
        reasons,
    }
}

/// Signs that a mail system, not a person, sent the mail. Bounce evidence in the content counts
/// only together with one of these.
fn automated_sender_signals(mail: &InboundMail, facts: &Facts) -> Vec<String> {
    let mut automated = Vec::new();
    if facts.daemon_sender {
        automated.push(format!(
            "sender {} is a mail system mailbox",
            sender_label(mail)
        ));
    }
    if facts.null_sender {
        automated.push("Return-Path: <> (null sender)".to_string());
    }
    if let Some((v, _)) = &facts.auto_submitted {
        automated.push(format!("Auto-Submitted: {v}"));
    }
    if let Some(v) = mail.header("x-failed-recipients") {
        automated.push(format!("X-Failed-Recipients: {v}"));
    }
    if mail.from.email.is_empty() {
        automated.push("no sender address".to_string());
    }
    // A no-reply sender alone is any notification system (a courier's "could not be delivered"
    // is not a bounce); quoting the original message as a MIME part is what mail systems do.
    if facts.noreply_sender && facts.has_original {
        automated.push(format!(
            "no-reply sender {} quoting the original message",
            mail.from.email
        ));
    }

    automated
}

/// Reads an Amazon SES notification (delivered by SNS as a JSON mail body).
fn ses_notification(
    mail: &InboundMail,
    facts: &Facts,
    reasons: &mut Vec<String>,
) -> Option<Verdict> {
    static KIND: LazyLock<Regex> = LazyLock::new(|| re(r#""notificationType"\s*:\s*"(\w+)""#));
    static EMAIL: LazyLock<Regex> =
        LazyLock::new(|| re(r#""emailAddress"\s*:\s*"([^"\s]+@[^"\s]+)""#));
    static STATUS: LazyLock<Regex> =
        LazyLock::new(|| re(r#""status"\s*:\s*"([245]\.[0-9]{1,3}\.[0-9]{1,3})""#));
    static DIAG: LazyLock<Regex> =
        LazyLock::new(|| re(r#""diagnosticCode"\s*:\s*"((?:[^"\\]|\\.)*)""#));
    static TYPE: LazyLock<Regex> = LazyLock::new(|| re(r#""bounceType"\s*:\s*"(\w+)""#));
    static MSGID: LazyLock<Regex> =
        LazyLock::new(|| re(r#""name"\s*:\s*"Message-ID"\s*,\s*"value"\s*:\s*"<?([^"<>\s]+)>?""#));

    // SNS wraps the SES JSON as a string inside its own JSON, so the inner quotes arrive
    // escaped; unescaping them lets one set of patterns read both forms.
    let unescaped = facts.text_head.trim_start().replace("\\\"", "\"");
    let text = unescaped.as_str();
    if !text.starts_with('{')
        || !(facts.noreply_sender || mail.from.domain().ends_with("amazonaws.com"))
    {
        return None;
    }
    let kind = KIND.captures(text)?.get(1)?.as_str().to_string();
    reasons.push(format!("Amazon SES notification (notificationType {kind})"));
    match kind.as_str() {
        "Bounce" => {
            let recipients = EMAIL
                .captures_iter(text)
                .filter_map(|c| c.get(1))
                .map(|m| m.as_str().to_ascii_lowercase())
                .fold(Vec::new(), push_unique);
            let status = STATUS
                .captures(text)
                .and_then(|c| c.get(1))
                .map(|m| m.as_str().to_string());
            let permanent = match TYPE.captures(text).and_then(|c| c.get(1)) {
                Some(t) => t.as_str() == "Permanent",
                None => status.as_deref().is_some_and(|s| s.starts_with('5')),
            };
            let diagnostic = DIAG
                .captures(text)
                .and_then(|c| c.get(1))
                .map(|m| clean_diagnostic(&m.as_str().replace("\\\"", "\"")));
            let original_message_id = mail.original_message_id.clone().or_else(|| {
                MSGID
                    .captures(text)
                    .and_then(|c| c.get(1))
                    .map(|m| m.as_str().to_string())
            });
            Some(Verdict::Bounce(BounceInfo {
                permanent,
                status,
                diagnostic,
                recipients,
                original_message_id,
            }))
        }
        "Complaint" | "Delivery" => Some(Verdict::Report),
        _ => {
            reasons.pop();
            None
        }
    }
}

/// The part of a text bounce before the quoted original message.
fn region_before_original(text: &str) -> &str {
    match ORIGINAL_MARKER.find(text) {
        Some(m) if m.start() > 0 => &text[..m.start()],
        _ => text,
    }
}

/// Fills [`BounceInfo`] from the delivery-status recipients when there are some, from the text
/// otherwise.
fn bounce_info(mail: &InboundMail, facts: &Facts, dsn: &[DsnRecipient]) -> BounceInfo {
    let original_message_id = mail.original_message_id.clone().or_else(|| {
        MESSAGE_ID_LINE
            .captures_iter(&mail.text)
            .filter_map(|c| c.get(1))
            .map(|m| m.as_str().to_string())
            .find(|id| *id != mail.message_id)
    });

    // Recipients that did not succeed; when no block says what happened, all of them.
    let failed: Vec<&DsnRecipient> = dsn.iter().filter(|r| !r.is_success()).collect();
    if !failed.is_empty() {
        let first = failed
            .iter()
            .find(|r| r.is_permanent())
            .or(failed.first())
            .copied();
        let text_code = || {
            first_status_code(region_before_original(facts.text_head)).filter(|c| c.contains('.'))
        };
        let status = first
            .and_then(|r| r.status.clone())
            .or_else(|| {
                first
                    .and_then(|r| r.diagnostic.as_deref())
                    .and_then(|d| ENHANCED_STATUS.captures(d))
                    .and_then(|c| c.get(1))
                    .map(|m| m.as_str().to_string())
            })
            .or_else(text_code)
            .map(|s| more_specific_status(s, first.and_then(|r| r.diagnostic.as_deref())));
        let any_temporary = failed
            .iter()
            .any(|r| r.status.as_deref().is_some_and(|s| s.starts_with('4')));
        let permanent = failed.iter().any(|r| r.is_permanent())
            || (status.as_deref().is_some_and(|s| s.starts_with('5')) && !any_temporary);
        let diagnostic = first
            .and_then(|r| r.diagnostic.clone())
            .or_else(|| text_diagnostic(facts.text_head));
        let recipients = failed
            .iter()
            .filter_map(|r| r.address())
            .map(str::to_string)
            .fold(Vec::new(), push_unique);
        return BounceInfo {
            permanent,
            status,
            diagnostic,
            recipients,
            original_message_id,
        };
    }

    // A non-standard bounce: read what we can from the text before the quoted original.
    let region = region_before_original(facts.text_head);
    let code = first_status_code(region);
    let status = code.clone().filter(|c| c.contains('.'));
    let delay_words =
        DELAY_WORDS.is_match(&facts.subject_lower) || DELAY_WORDS.is_match(&region.to_lowercase());
    let permanent = match code.as_deref() {
        Some(c) if c.starts_with('5') => true,
        Some(c) if c.starts_with('4') => false,
        _ => !delay_words,
    };
    let mut recipients: Vec<String> = Vec::new();
    if let Some(v) = mail.header("x-failed-recipients") {
        for a in v.split([',', ' ']) {
            let a = a
                .trim()
                .trim_matches(|c| c == '<' || c == '>')
                .to_ascii_lowercase();
            if a.contains('@') {
                recipients = push_unique(recipients, a);
            }
        }
    }
    if recipients.is_empty() {
        recipients = text_recipients(mail, region);
    }
    BounceInfo {
        permanent,
        status,
        diagnostic: text_diagnostic(region),
        recipients,
        original_message_id,
    }
}

/// A `Message-ID:` header line inside quoted original headers.
static MESSAGE_ID_LINE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?mi)^[\s>]*message-id:\s*<?([^\s<>@]+@[^\s<>]+?)>?\s*$"));

#[cfg(test)]
mod tests {
    use super::super::tests::{
        check, classify_plain, dsn, from_daemon, human, row, with_header, with_subject,
    };
    use super::super::MailKind;
    use super::*;
    use crate::core::address::Address;

    #[test]
    fn bounces_and_reports_decide_as_documented() {
        use MailKind::*;
        let mut arf = human();
        arf.content_type = "multipart/report".into();
        arf.report_type = Some("feedback-report".into());
        arf.part_types = vec![
            "multipart/report".into(),
            "text/plain".into(),
            "message/feedback-report".into(),
        ];
        let mut mdn = human();
        mdn.content_type = "multipart/report".into();
        mdn.report_type = Some("disposition-notification".into());
        let mut qmail = from_daemon(
            "failure notice",
            "Hi. This is the qmail-send program at mx.example.\n\n<bob@customer.example>:\n\
Sorry, no mailbox here by that name. (#5.1.1)\n\n--- Below this line is a copy of the message.\n\nReturn-Path: <a@b.example>\n",
        );
        qmail.headers.clear();
        let exim = from_daemon(
            "Mail delivery failed: returning message to sender",
            "This message was created automatically by mail delivery software.\n\n\
A message that you sent could not be delivered to one or more of its\nrecipients. This is a permanent error.\n\n  bob@customer.example\n    host mx: 550 5.1.1 unknown user\n",
        );
        let mut pasted = with_subject("Undeliverable mail from your server");
        pasted.text = "Hi, your mail bounced with: 550 5.1.1 user unknown. Please check.\n".into();
        let mut forwarded = with_subject("Fwd: Returned mail: see transcript for details");
        forwarded.text = "See below.\n> The original message was received at Mon\n> 550 5.1.1 <bob@x.example>... User unknown\n".into();
        let mut ses = human();
        ses.from = Address::new(Some("SES"), "no-reply@sns.amazonaws.com");
        ses.subject = "AWS Notification Message".into();
        ses.text = r#"{"notificationType":"Complaint","complaint":{}}"#.into();

        check(vec![
            row(
                "a monitoring alert saying 'failed' is a robot, not a bounce",
                {
                    let mut m = with_header("Auto-Submitted", "auto-generated");
                    m.from = Address::new(Some("Nagios"), "nagios@monitor.customer.example");
                    m.subject = "PROBLEM: backup job has failed".into();
                    m.text = "Backup job failed with a permanent error on host db1.\n".into();
                    m
                },
                Robot,
                "Auto-Submitted: auto-generated",
            ),
            row(
                "a postmaster writing in person is human",
                {
                    let mut m = human();
                    m.from = Address::new(Some("Postmaster"), "postmaster@customer.example");
                    m.subject = "Your relay rejects our mail".into();
                    m
                },
                Human,
                "may be a person",
            ),
            row(
                "MAILER-DAEMON without bounce content is a robot",
                {
                    let mut m = human();
                    m.from = Address::new(None, "MAILER-DAEMON@mx.customer.example");
                    m
                },
                Robot,
                "mail system mailbox",
            ),
            row(
                "RFC 3464 failure",
                dsn("5.1.1", "failed"),
                Bounce,
                "delivery-status",
            ),
            row(
                "RFC 3464 delay",
                dsn("4.4.7", "delayed"),
                Bounce,
                "delivery-status",
            ),
            row(
                "RFC 3464 success is a report",
                dsn("2.0.0", "delivered"),
                Report,
                "success DSN",
            ),
            row(
                "relayed is a report",
                dsn("2.0.0", "relayed"),
                Report,
                "success DSN",
            ),
            row("ARF feedback report", arf, Report, "feedback report"),
            row("read receipt", mdn, Report, "disposition-notification"),
            row("qmail bounce", qmail, Bounce, "qmail-send"),
            row("Exim bounce", exim, Bounce, "mail delivery software"),
            row(
                "daemon with bounce subject",
                from_daemon("Undeliverable: Hello", ""),
                Bounce,
                "subject looks like a bounce",
            ),
            row(
                "customer subject 'Undeliverable' alone is human",
                with_subject("Undeliverable mail from your server"),
                Human,
                "subject looks like a bounce",
            ),
            row(
                "customer pasting a bounce is human",
                pasted,
                Human,
                "delivery status code",
            ),
            row(
                "customer forwarding a bounce is human",
                forwarded,
                Human,
                "text looks like a bounce",
            ),
            row("Amazon SES complaint", ses, Report, "Amazon SES"),
        ]);
    }

    #[test]
    fn dsn_bounce_info_comes_from_the_delivery_status() {
        let c = classify_plain(&dsn("5.1.1", "failed"));
        let b = c.bounce.unwrap_or_default();
        assert!(b.permanent);
        assert_eq!(b.status.as_deref(), Some("5.1.1"));
        assert_eq!(b.recipients, vec!["bob@customer.example"]);
        assert_eq!(b.original_message_id.as_deref(), Some("ack-1@desk.example"));
        assert_eq!(
            b.diagnostic.as_deref(),
            Some("550 5.1.1 <bob@customer.example>: Recipient address rejected")
        );
    }

    #[test]
    fn a_delay_is_not_permanent() {
        let b = classify_plain(&dsn("4.4.7", "delayed"))
            .bounce
            .unwrap_or_default();
        assert!(!b.permanent);
        assert_eq!(b.status.as_deref(), Some("4.4.7"));
    }

    #[test]
    fn action_failed_without_status_is_permanent() {
        let mut m = dsn("x", "failed");
        m.delivery_status =
            Some("Final-Recipient: rfc822; bob@customer.example\nAction: failed\n".into());
        let b = classify_plain(&m).bounce.unwrap_or_default();
        assert!(b.permanent);
        assert_eq!(b.status, None);
    }

    #[test]
    fn mixed_dsn_reports_only_the_failed_recipients() {
        let mut m = dsn("x", "failed");
        m.delivery_status = Some(
            "Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; ok@x.example\nAction: delivered\nStatus: 2.0.0\n\n\
Final-Recipient: rfc822; bad@x.example\nAction: failed\nStatus: 5.2.2\n"
                .into(),
        );
        let c = classify_plain(&m);
        assert_eq!(c.kind, MailKind::Bounce);
        let b = c.bounce.unwrap_or_default();
        assert_eq!(b.recipients, vec!["bad@x.example"]);
        assert_eq!(b.status.as_deref(), Some("5.2.2"));
    }

    #[test]
    fn text_bounce_info_comes_from_the_text() {
        let qmail = from_daemon(
            "failure notice",
            "Hi. This is the qmail-send program at mx.example.\n\n<bob@customer.example>:\n\
Sorry, no mailbox here by that name. (#5.1.1)\n\n--- Below this line is a copy of the message.\n\n\
Return-Path: <jane@customer.example>\nMessage-ID: <orig-7@desk.example>\nTo: <carol@customer.example>\n",
        );
        let b = classify_plain(&qmail).bounce.unwrap_or_default();
        assert!(b.permanent);
        assert_eq!(b.status.as_deref(), Some("5.1.1"));
        assert_eq!(b.recipients, vec!["bob@customer.example"]);
        assert_eq!(
            b.original_message_id.as_deref(),
            Some("orig-7@desk.example")
        );
        assert_eq!(
            b.diagnostic.as_deref(),
            Some("Sorry, no mailbox here by that name. (#5.1.1)")
        );
    }

    #[test]
    fn a_text_delay_notice_is_not_permanent() {
        let m = from_daemon(
            "Warning: could not send message for past 4 hours",
            "The original message was received at Mon, 1 Jan\n\n----- Transcript follows -----\n451 4.4.1 reply: read error from mx\n",
        );
        let c = classify_plain(&m);
        assert_eq!(c.kind, MailKind::Bounce);
        assert!(!c.bounce.unwrap_or_default().permanent);
    }

    #[test]
    fn the_message_id_pattern_compiles() {
        LazyLock::force(&MESSAGE_ID_LINE);
    }
}
