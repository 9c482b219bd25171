//! What kind of mail this is: a person writing, or a machine (auto-reply, bounce, list, report,
//! robot), or our own mail coming back. The answer decides whether the desk may answer the mail.
//!
//! [`classify`] is pure: it reads only the [`InboundMail`] and the [`ClassifyContext`], never the
//! clock or the network, and it cannot fail. It collects every signal that fires (headers from
//! RFC 3834, RFC 2369/2919, RFC 3464 and RFC 5965; sender addresses; subject and body wording of
//! the common non-standard bounces and out-of-office replies), then picks one [`MailKind`] by a
//! fixed precedence (see [`classify`] for why that order). Every fired signal is kept as a
//! human-readable reason so an agent can see why a mail was set aside. For bounces it also reads
//! who failed and why ([`BounceInfo`]), from the delivery-status part when there is one and from
//! the text otherwise.
//!
//! The wording lists are generic MTA and mail-client phrasings, not tuned to single samples: a
//! wrong guess here either swallows a customer's mail (a false machine verdict) or lets the desk
//! answer a robot (a mail loop), so a non-standard bounce needs both bounce-like content and an
//! automated sender before it counts.

use crate::core::mail::InboundMail;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// The kind of an inbound mail, from the desk's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MailKind {
    /// Written by a person: the only kind the desk may answer.
    Human,
    /// An out-of-office or other automatic answer (RFC 3834 `auto-replied` and friends).
    AutoReply,
    /// A delivery failure or delay notice (RFC 3464 DSN or a non-standard MTA notice).
    Bounce,
    /// Mail distributed by a mailing list or newsletter system.
    List,
    /// Mail we sent ourselves, come back: answering it would start a loop.
    OwnMail,
    /// Other machine-sent mail: notifications, other ticket systems, no-reply senders.
    Robot,
    /// A machine report that is not a failure: feedback reports (ARF), delivery-success DSNs,
    /// read receipts.
    Report,
}

impl MailKind {
    /// Whether the desk may send an automatic answer (an acknowledgement) to this mail. Only a
    /// person gets one; answering any machine risks a mail loop or mail to nobody.
    pub fn may_be_answered(self) -> bool {
        self == MailKind::Human
    }

    /// The stable name used in logs, the store and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Human => "human",
            MailKind::AutoReply => "auto-reply",
            MailKind::Bounce => "bounce",
            MailKind::List => "list",
            MailKind::OwnMail => "own-mail",
            MailKind::Robot => "robot",
            MailKind::Report => "report",
        }
    }
}

impl std::fmt::Display for MailKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the classifier needs to know about this installation.
#[derive(Debug, Clone, Copy)]
pub struct ClassifyContext<'a> {
    /// The domains we put into our own Message-IDs (the part after `@`).
    pub own_domains: &'a [String],
    /// Every desk's address, lower-case.
    pub desk_addresses: &'a [String],
}

/// The verdict on one mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    pub kind: MailKind,
    /// Every signal that fired, human-readable (e.g. `Auto-Submitted: auto-replied`), the ones
    /// that decided the kind first. Empty for a plain human mail.
    pub reasons: Vec<String>,
    /// What a bounce says about the failed delivery; `Some` exactly when `kind` is `Bounce`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounce: Option<BounceInfo>,
}

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

/// Classifies one mail.
///
/// The kinds are tried in this order, and the first with a deciding signal wins:
///
/// 1. **OwnMail**: our own Message-ID domain, or a desk address as the sender. Nothing else
///    matters: whatever our own mail looks like, processing it again would loop.
/// 2. **Bounce**: bounces often carry `Auto-Submitted: auto-replied`, a null Return-Path and
///    list or robot headers copied from the original, so every weaker kind would claim them; and
///    only a bounce carries failure facts (which recipient, permanent or not) that the desk acts on.
/// 3. **Report**: feedback reports and success DSNs are built like bounces (null sender,
///    `multipart/report`, `Auto-Submitted`) but report no failure; they must not fall through to
///    AutoReply or Robot, and must not be mistaken for bounces either (checked inside step 2).
/// 4. **AutoReply**: an out-of-office reply is an answer to one of our mails; it may come through
///    a list or carry `Precedence: bulk`, but "the person is away" is the more useful fact.
/// 5. **List**: list headers are specific (a list server put them there), while robot signals
///    such as `X-Loop` or `Precedence: bulk` are routinely added by list servers too.
/// 6. **Robot**: the catch-all for machine-sent mail.
/// 7. **Human**: no machine signal fired.
pub fn classify(mail: &InboundMail, ctx: &ClassifyContext) -> Classification {
    let facts = Facts::new(mail);

    let own = own_mail_signals(mail, ctx);
    let bounce = bounce_signals(mail, &facts);
    let auto = auto_reply_signals(mail, &facts);
    let list = list_signals(mail);
    let robot = robot_signals(mail, &facts);

    let mut reasons = Vec::new();
    let mut add = |r: &[String]| {
        for x in r {
            if !reasons.contains(x) {
                reasons.push(x.clone());
            }
        }
    };

    let (kind, info) = if !own.is_empty() {
        (MailKind::OwnMail, None)
    } else {
        match &bounce.verdict {
            Some(Verdict::Bounce(info)) => (MailKind::Bounce, Some(info.clone())),
            Some(Verdict::Report) => (MailKind::Report, None),
            None if auto.decided => (MailKind::AutoReply, None),
            None if !list.is_empty() => (MailKind::List, None),
            None if !robot.is_empty() => (MailKind::Robot, None),
            None => (MailKind::Human, None),
        }
    };

    // The deciding signals come first, then every other signal that fired, so the log line shows
    // both the verdict's grounds and what else the mail looked like.
    match kind {
        MailKind::OwnMail => add(&own),
        MailKind::Bounce | MailKind::Report => add(&bounce.reasons),
        MailKind::AutoReply => add(&auto.reasons),
        MailKind::List => add(&list),
        MailKind::Robot => add(&robot),
        MailKind::Human => {}
    }
    if kind != MailKind::Human {
        add(&own);
        add(&bounce.reasons);
        add(&auto.reasons);
        add(&list);
        add(&robot);
    } else {
        // A human verdict can still come with weak hints that did not suffice on their own
        // (a bounce-like subject, say); keeping them helps explain a borderline call.
        add(&bounce.reasons);
        add(&auto.reasons);
    }

    Classification {
        kind,
        reasons,
        bounce: info,
    }
}

// ---------------------------------------------------------------------------------------------
// Facts shared by several detectors.
// ---------------------------------------------------------------------------------------------

/// How much of the text the wording checks read. Bounce and auto-reply wording sits at the
/// top; reading a whole megabyte of quoted original would only add false matches and cost.
const TEXT_SCAN_BYTES: usize = 32 * 1024;

/// Derived facts that more than one detector needs, computed once.
struct Facts<'m> {
    /// The start of the text, lower-case.
    text_lower: String,
    /// The start of the text as written (for extracting addresses and codes).
    text_head: &'m str,
    subject_lower: String,
    /// The topmost `Return-Path` is `<>`.
    null_sender: bool,
    /// `Auto-Submitted` with a value other than `no`: (value, lower-case first token).
    auto_submitted: Option<(String, String)>,
    /// The sender is a mail system's own mailbox (MAILER-DAEMON, postmaster, …).
    daemon_sender: bool,
    /// The sender is MAILER-DAEMON or a "Mail Delivery System": never a person. (Postmaster
    /// and mail-admin mailboxes are read and written by people, so they count only as bounce
    /// evidence, not as a robot verdict on their own.)
    mailer_daemon: bool,
    /// The sender's address is a no-reply address.
    noreply_sender: bool,
    /// Part types include a quoted original message or its headers.
    has_original: bool,
}

impl<'m> Facts<'m> {
    fn new(mail: &'m InboundMail) -> Facts<'m> {
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
fn prefix(s: &str, max: usize) -> &str {
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
fn first_token(v: &str) -> String {
    v.trim()
        .split(|c: char| c.is_whitespace() || c == ';' || c == '(' || c == ',')
        .find(|t| !t.is_empty())
        .unwrap_or("")
        .to_ascii_lowercase()
}

// ---------------------------------------------------------------------------------------------
// Word lists. Each is a regex built once; they are constant, so building cannot fail at run time
// in a way that depends on input (the unit tests build every one of them).
// ---------------------------------------------------------------------------------------------

fn re(pattern: &str) -> Regex {
    // The patterns are literals in this file, covered by the tests; a typo is a programming
    // error found by the first test run, never something a mail can trigger.
    Regex::new(pattern).expect("classify: built-in pattern must compile")
}

/// Local parts that mail systems send their own notices from.
static DAEMON_LOCAL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:mailer[-_.]?daemon|mail[-_.]?daemon|post[-_.]?master|mail[-_.]?delivery[-_.a-z]*|mail[-_.]?system|mailerdaemon|mdaemon|smtp[-_.]?daemon|mail[-_.]?admin|bounces?)$",
    )
});

/// Display names that mail systems send their own notices under.
static DAEMON_NAME: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:mail delivery (?:sub)?system|mailer[- ]daemon|mail[- ]daemon|postmaster|post master|mail administrator|mail delivery service|internet mail delivery|delivery status notification)\b",
    )
});

/// The subset of [`DAEMON_LOCAL`] that no person writes from.
static MAILER_DAEMON_LOCAL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:mailer[-_.]?daemon|mail[-_.]?daemon|mailerdaemon|mdaemon|smtp[-_.]?daemon|mail[-_.]?delivery[-_.a-z]*)$",
    )
});

/// The subset of [`DAEMON_NAME`] that no person writes under.
static MAILER_DAEMON_NAME: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:mail delivery (?:sub)?system|mailer[- ]daemon|mail[- ]daemon|mail delivery service|internet mail delivery)\b",
    )
});

/// No-reply local parts: `noreply`, `no-reply`, `do_not_reply`, `noreply-alerts`, …
static NOREPLY_LOCAL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:^|[-_.+])(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|dont[-_.]?reply|no[-_.]?response|do[-_.]?not[-_.]?respond)(?:$|[-_.+0-9])",
    )
});

/// Subjects of delivery failure and delay notices, as the common MTAs and providers word them.
/// Matched anywhere in the lower-case subject, because some MTAs prefix the host name.
static BOUNCE_SUBJECT: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"undelivered mail returned to sender|undeliver(?:able|ed)\b|delivery status notification",
        r"|(?:mail|message)?\s*delivery (?:has )?(?:failed|failure|problem|error|report|notification|status)",
        r"|failed delivery|failure delivery|delivery fail|returned mail|returning message to sender",
        r"|failure notice|mail system error|mail failure|mail could not be delivered|mail failed",
        r"|could not be delivered|(?:was|were) not delivered|postmaster notify|\[postmaster\]",
        r"|delayed mail|delivery delayed|has been delayed|could not send (?:message|mail)",
        r"|message .{0,80} delayed|there was an error sending your mail|message you sent blocked",
        r"|non remis|non recapitabile|unzustellbar|nicht zustellbar|no se pudo entregar|onbestelbaar",
        r"|non distribuable|não entregue|nao entregue|niedostarczalna|返送|不達|配信不能",
        r"|недоставленное|не доставлено|не может быть доставлено|недоставлен",
    ))
});

/// Body wording of delivery failure notices: MTA banners and the usual failure phrases. Used only
/// together with an automated sender, so a customer quoting a bounce is not enough.
static BOUNCE_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        // Banners of the common MTAs (qmail, Exim, Postfix, Sendmail, Exchange, Gmail, Domino…).
        r"this is the qmail-send program|created automatically by mail delivery software",
        r"|this is the mail system at host|i'm sorry to have to inform you that your message",
        r"|the original message was received at|following addresses had permanent fatal errors",
        r"|transcript of session follows|delivery has failed to these recipients",
        r"|could not be delivered to one or more (?:of its )?recipients",
        r"|(?:message|mail) (?:you sent )?(?:could not|couldn't|cannot|can't|was not|wasn't|has not been|will not be) (?:be )?delivered",
        r"|(?:unable|not able|failed) to deliver|could not deliver|couldn't deliver|cannot deliver",
        r"|delivery (?:to the following recipients? )?(?:has )?failed|delivery failure|delivery status notification",
        r"|permanent(?:ly)? (?:fatal )?(?:error|failure|failed)",
        r"|undeliver(?:able|ed)|returned to sender|message (?:was )?(?:rejected|blocked|bounced|refused)",
        r"|user unknown|unknown user|no such (?:user|mailbox|recipient|address)|mailbox (?:unavailable|is full|full|not found|does not exist)",
        r"|recipient address rejected|address rejected|over quota|quota exceeded|host unknown|relay(?:ing)? (?:access )?denied",
        r"|(?:has been|was) delayed|(?:still being|will be) retried|will (?:continue|keep) (?:trying|to try)",
        r"|could not be delivered|retry time(?:out)? (?:was )?exceeded|not yet been delivered",
        r"|the following (?:message|recipient|address)e?s? (?:to )?.{0,80}(?:failed|could not|was undeliverable)",
        r"|reporting-mta:|final-recipient:|diagnostic-code:",
    ))
});

/// An enhanced status code (RFC 3463) of a failure or delay, e.g. `5.1.1` or `4.4.7`.
static ENHANCED_STATUS: LazyLock<Regex> = LazyLock::new(|| {
    // The subject digit is 0-7 (RFC 3463 registry); allowing more would read software versions
    // such as "Exim 4.92.3" as status codes.
    re(r"(?:^|[^0-9.])([245]\.[0-7]\.[0-9]{1,3})(?:$|[^0-9.]|\.(?:$|[^0-9]))")
});

/// An SMTP reply code in a transcript (`550 user unknown`, `550-5.1.1`, `<<< 452 …`).
static SMTP_REPLY: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?m)(?:^|[\s:(\[<>#])([45][0-5][0-9])[ -](?:[45]\.[0-9]|[A-Za-z<#(\[])"));

/// The line that starts the quoted original in a text bounce: what follows is the original's
/// headers and body, whose addresses are not recipients of the failed delivery.
static ORIGINAL_MARKER: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"(?mi)^\s*>?\s*(?:",
        // A separator line: "------ This is a copy of the message ------", "--- Original message ---".
        r"[-=_*#]{2,}[^\n]{0,40}(?:original|copy of|message follows|undelivered message|returned message|message headers?|returned mail)",
        // Or an announcement in words, without dashes.
        r"|[^\n]{0,40}(?:below (?:this line )?is a copy of|this is a copy of (?:the|your) message|original message follows",
        r"|copy of the original message|(?:original )?message headers? follows?|headers of (?:the )?(?:original|returned|your) message",
        r"|original message headers|returned message follows|original mail as follows|unsent message below)",
        // Or the first header line of the quoted original itself.
        r"|(?:received|return-path|dkim-signature|message-id|mime-version):",
        r")"
    ))
});

/// A `Message-ID:` header line inside quoted original headers.
static MESSAGE_ID_LINE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?mi)^[\s>]*message-id:\s*<?([^\s<>@]+@[^\s<>]+?)>?\s*$"));

/// A mail address in angle brackets, or alone on a line (Exim, qmail: `<a@b>:`).
static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?m)<([A-Za-z0-9._%+=/'!#$&*?^`{|}~-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})>|^\s*([A-Za-z0-9._%+=/'!#$&*?^`{|}~-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})\s*:?\s*$",
    )
});

/// Out-of-office and automatic-reply subjects in the desk languages. Anchored at the start and
/// followed by a colon or the end, because that is where clients put them ("Automatic reply:
/// <original subject>"), and a person writing about an absence puts the words elsewhere.
static AUTO_REPLY_SUBJECT: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"^\s*\[?(?:",
        r"out of (?:the )?office(?: autoreply| reply)?|automatic reply|auto[- ]?reply|auto[- ]?response|auto[- ]?respons",
        r"|automated reply|automated response|autosvar|automatisk svar|vacation(?: reply)?|away from (?:the )?office",
        r"|réponse automatique|reponse automatique|absence(?: du bureau)?|absent",
        r"|abwesenheitsnotiz|abwesenheit|automatische antwort|automatische rückantwort|autom\. antwort",
        r"|resposta automática|resposta automatica|ausente|fora do escritório",
        r"|risposta automatica|fuori sede|fuori ufficio|assente",
        r"|respuesta automática|respuesta automatica|fuera de la oficina",
        r"|afwezigheidsbericht|automatisch antwoord|afwezig|niet aanwezig",
        r"|automatyczna odpowiedź|poza biurem|frånvaro|fraværende|poissa",
        r")\]?\s*(?:[:：\-–]|$|\()",
        // Lotus Notes: "AUTO: Jane Doe is out of the office (returning 05/05/2020)".
        r"|^\s*auto:\s.*\bis out of (?:the )?office\b",
    ))
});

// ---------------------------------------------------------------------------------------------
// OwnMail.
// ---------------------------------------------------------------------------------------------

fn own_mail_signals(mail: &InboundMail, ctx: &ClassifyContext) -> Vec<String> {
    let mut out = Vec::new();
    if !mail.synthetic_id {
        if let Some((_, domain)) = mail.message_id.rsplit_once('@') {
            let domain = domain.to_ascii_lowercase();
            for own in ctx.own_domains {
                let own = own.trim().to_ascii_lowercase();
                // Exact match only: our Message-IDs use exactly this domain, while colleagues'
                // mail clients use host names below it (`@mail.company.example`), and their mail
                // is not a loop.
                if !own.is_empty() && domain == own {
                    out.push(format!("Message-ID in our own domain {own}"));
                    break;
                }
            }
        }
    }
    let from = mail.from.email.as_str();
    if !from.is_empty()
        && ctx
            .desk_addresses
            .iter()
            .any(|d| d.eq_ignore_ascii_case(from))
    {
        out.push(format!("sender {from} is a desk address"));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Bounces and reports.
// ---------------------------------------------------------------------------------------------

enum Verdict {
    Bounce(BounceInfo),
    Report,
}

struct BounceSignals {
    verdict: Option<Verdict>,
    reasons: Vec<String>,
}

fn bounce_signals(mail: &InboundMail, facts: &Facts) -> BounceSignals {
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

fn sender_label(mail: &InboundMail) -> String {
    match &mail.from.name {
        Some(n) if mail.from.email.is_empty() => n.clone(),
        _ => mail.from.email.clone(),
    }
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

fn push_unique(mut v: Vec<String>, s: String) -> Vec<String> {
    if !v.contains(&s) {
        v.push(s);
    }
    v
}

/// One recipient block of a delivery-status report.
#[derive(Debug, Default, Clone)]
struct DsnRecipient {
    final_recipient: Option<String>,
    original_recipient: Option<String>,
    action: Option<String>,
    status: Option<String>,
    diagnostic: Option<String>,
}

impl DsnRecipient {
    fn has_recipient(&self) -> bool {
        self.final_recipient.is_some() || self.original_recipient.is_some()
    }

    fn address(&self) -> Option<&str> {
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
    fn is_success(&self) -> bool {
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
    fn is_permanent(&self) -> bool {
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
fn parse_dsn(text: &str) -> Vec<DsnRecipient> {
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
fn clean_diagnostic(s: &str) -> String {
    let joined = s.split_whitespace().collect::<Vec<_>>().join(" ");
    prefix(&joined, 500).to_string()
}

/// The first enhanced status code of a failure or delay in the text, e.g. `5.1.1`.
fn first_status_code(text: &str) -> Option<String> {
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

/// A generic `x.0.0` status replaced by the remote server's more specific code of the same class
/// from the diagnostic (`5.0.0` with `550 5.7.1 relaying denied` gives `5.7.1`): many MTAs write
/// only the class into the Status field.
fn more_specific_status(status: String, diagnostic: Option<&str>) -> String {
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

/// Wording of a delay notice (the MTA keeps trying), as opposed to a final failure.
static DELAY_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\bdelay(?:ed)?\b|still being retried|will (?:continue|keep) (?:trying|to try)|not yet been delivered|warning: could not send|will be retried|temporar(?:y|ily)",
    )
});

/// The failed recipients named in a text bounce (the part before the quoted original). Addresses
/// in angle brackets or alone on a line are the usual way (qmail `<a@b>:`, Sendmail, Exim); only
/// when there are none, addresses that start a line (`a@b [User unknown]`, `Unknown user: a@b`)
/// count. Lines that name someone else (the original's headers, `MAIL FROM`, "please contact")
/// are skipped.
fn text_recipients(mail: &InboundMail, region: &str) -> Vec<String> {
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
fn text_diagnostic(region: &str) -> Option<String> {
    region
        .lines()
        .map(|l| l.trim().trim_start_matches(['>', '<', ' ']).trim())
        .find(|l| !l.is_empty() && (ENHANCED_STATUS.is_match(l) || SMTP_REPLY.is_match(l)))
        .map(clean_diagnostic)
}

// ---------------------------------------------------------------------------------------------
// AutoReply.
// ---------------------------------------------------------------------------------------------

struct AutoSignals {
    /// A deciding signal fired (a weak one alone, like `auto-generated`, is a robot instead).
    decided: bool,
    reasons: Vec<String>,
}

fn auto_reply_signals(mail: &InboundMail, facts: &Facts) -> AutoSignals {
    let mut reasons = Vec::new();
    let mut decided = false;
    let auto_generated = matches!(&facts.auto_submitted, Some((_, t)) if t != "auto-replied");
    if let Some((v, token)) = &facts.auto_submitted {
        if token == "auto-replied" {
            reasons.push(format!("Auto-Submitted: {v}"));
            decided = true;
        }
    }
    for name in ["x-autoreply", "x-autorespond", "x-autoresponder"] {
        if let Some(v) = mail.header(name) {
            if !matches!(first_token(v).as_str(), "no" | "false" | "0") {
                reasons.push(format!("{}: {}", header_label(name), v.trim()));
                decided = true;
            }
        }
    }
    if let Some(v) = mail.header("x-autogenerated") {
        if first_token(v) == "reply" {
            reasons.push(format!("X-Autogenerated: {}", v.trim()));
            decided = true;
        }
    }
    if let Some(v) = mail.header("precedence") {
        if matches!(first_token(v).as_str(), "auto_reply" | "auto-reply") {
            reasons.push(format!("Precedence: {}", v.trim()));
            decided = true;
        }
    }
    if mail
        .headers
        .iter()
        .any(|(n, v)| n == "delivered-to" && v.trim().eq_ignore_ascii_case("autoresponder"))
    {
        reasons.push("Delivered-To: autoresponder".into());
        decided = true;
    }
    if AUTO_REPLY_SUBJECT.is_match(&facts.subject_lower) {
        reasons.push(format!(
            "out-of-office subject (\"{}\")",
            mail.subject.trim()
        ));
        // A subject alone can be written by a person ("Absence: Monday"); it decides only when
        // some machine signal backs it, or when it is unambiguous client wording.
        let machine = auto_generated
            || facts.null_sender
            || mail.header("x-auto-response-suppress").is_some()
            || facts.noreply_sender;
        if machine || CLIENT_AUTO_REPLY_SUBJECT.is_match(&facts.subject_lower) {
            decided = true;
        }
    }
    // Exchange puts X-Auto-Response-Suppress on its own out-of-office replies, but also on mail
    // that people send from Outlook and from many applications: it asks the *receiver* not to
    // auto-reply, it does not say the mail is automatic. Ticket systems that trusted it alone
    // swallowed customers' mail (osTicket #726, Redmine #19558, Discourse #21367, sisimai #491),
    // so it only backs an out-of-office subject (above) and is otherwise just a hint.
    if let Some(v) = mail.header("x-auto-response-suppress") {
        reasons.push(format!("X-Auto-Response-Suppress: {}", v.trim()));
    }
    AutoSignals { decided, reasons }
}

/// Subject prefixes that mail clients and servers put on automatic replies and that people do not
/// write themselves: these decide AutoReply without a header. A bare "Out of office:" is not
/// among them, because a person announcing their own absence writes exactly that.
static CLIENT_AUTO_REPLY_SUBJECT: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"^\s*\[?(?:out of (?:the )?office (?:autoreply|auto reply|reply)|automatic reply|auto[- ]?reply|auto[- ]?respons(?:e)?",
        r"|automated reply|automated response|autosvar|automatisk svar|réponse automatique|reponse automatique",
        r"|abwesenheitsnotiz|automatische antwort|automatische rückantwort|resposta automática|resposta automatica",
        r"|risposta automatica|respuesta automática|respuesta automatica|afwezigheidsbericht|automatisch antwoord",
        r"|automatyczna odpowiedź)\]?\s*(?:[:：\-–]|$|\()",
        r"|^\s*auto:\s.*\bis out of (?:the )?office\b",
    ))
});

/// The header name as it is usually written, for reasons.
fn header_label(name: &str) -> String {
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

// ---------------------------------------------------------------------------------------------
// List.
// ---------------------------------------------------------------------------------------------

fn list_signals(mail: &InboundMail) -> Vec<String> {
    let mut out = Vec::new();
    for name in [
        "list-id",
        "list-unsubscribe",
        "list-post",
        "mailing-list",
        "x-mailing-list",
        // List servers that predate RFC 2919 mark their mail with their own headers: Mailman
        // and fml (widespread in Japan).
        "x-mailman-version",
        "x-ml-name",
        "x-mlserver",
    ] {
        if let Some(v) = mail.header(name) {
            out.push(format!("{}: {}", header_label(name), prefix(v.trim(), 120)));
        }
    }
    if let Some(v) = mail.header("precedence") {
        if first_token(v) == "list" {
            out.push(format!("Precedence: {}", v.trim()));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Robot.
// ---------------------------------------------------------------------------------------------

/// Headers that ticket systems and loop-aware mailers put on mail they generate. Their presence
/// says a machine sent the mail, so answering it would start a ping-pong between two systems.
const ROBOT_HEADERS: &[&str] = &[
    "x-loop",
    "x-otrs-loop",
    "x-rt-loop-prevention",
    "rt-loop-prevention",
    "x-zammad-loop",
    "x-jira-fingerprint",
    "x-freshdesk-api-version",
    "x-zendesk-from-account-id",
    "x-helpscout-thread-id",
    "x-autogenerated",
    "x-auto-generated",
];

fn robot_signals(mail: &InboundMail, facts: &Facts) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((v, token)) = &facts.auto_submitted {
        if token != "auto-replied" {
            out.push(format!("Auto-Submitted: {v}"));
        }
    }
    if let Some(v) = mail.header("precedence") {
        if matches!(first_token(v).as_str(), "bulk" | "junk") {
            out.push(format!("Precedence: {}", v.trim()));
        }
    }
    for name in ROBOT_HEADERS {
        if let Some(v) = mail.header(name) {
            out.push(format!("{}: {}", header_label(name), prefix(v.trim(), 80)));
        }
    }
    // ServiceNow names its headers after the instance; any X-ServiceNow-* header counts.
    if let Some((n, _)) = mail
        .headers
        .iter()
        .find(|(n, _)| n.starts_with("x-servicenow-") && !ROBOT_HEADERS.contains(&n.as_str()))
    {
        out.push(format!("{} header (ServiceNow)", header_label(n)));
    }
    if facts.noreply_sender {
        out.push(format!("no-reply sender {}", mail.from.email));
    }
    if facts.mailer_daemon {
        out.push(format!(
            "sender {} is a mail system mailbox",
            sender_label(mail)
        ));
    }
    if facts.null_sender {
        out.push("Return-Path: <> (null sender)".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::address::Address;

    fn ctx() -> (Vec<String>, Vec<String>) {
        (
            vec!["desk.example".to_string()],
            vec!["servicedesk@provider.example".to_string()],
        )
    }

    /// A plain human mail, which each row changes a little.
    fn human() -> InboundMail {
        InboundMail {
            message_id: "abc@customer.example".into(),
            from: Address::new(Some("Jane Doe"), "jane@customer.example"),
            to: vec![Address::new(None, "servicedesk@provider.example")],
            subject: "Link down in rack 12".into(),
            text: "Hello,\nour uplink is down since 10:00.\nRegards, Jane\n".into(),
            headers: vec![
                ("from".into(), "Jane Doe <jane@customer.example>".into()),
                ("return-path".into(), "<jane@customer.example>".into()),
            ],
            content_type: "text/plain".into(),
            part_types: vec!["text/plain".into()],
            ..Default::default()
        }
    }

    fn with_header(name: &str, value: &str) -> InboundMail {
        let mut m = human();
        m.headers.push((name.to_ascii_lowercase(), value.into()));
        m
    }

    fn with_subject(subject: &str) -> InboundMail {
        let mut m = human();
        m.subject = subject.into();
        m
    }

    fn from_daemon(subject: &str, text: &str) -> InboundMail {
        let mut m = human();
        m.from = Address::new(
            Some("Mail Delivery System"),
            "MAILER-DAEMON@mx.customer.example",
        );
        m.headers = vec![("return-path".into(), "<>".into())];
        m.subject = subject.into();
        m.text = text.into();
        m
    }

    fn dsn(status: &str, action: &str) -> InboundMail {
        let mut m = from_daemon(
            "Undelivered Mail Returned to Sender",
            "This is the mail system at host mx.",
        );
        m.content_type = "multipart/report".into();
        m.report_type = Some("delivery-status".into());
        m.part_types = vec![
            "multipart/report".into(),
            "text/plain".into(),
            "message/delivery-status".into(),
            "text/rfc822-headers".into(),
        ];
        m.original_message_id = Some("ack-1@desk.example".into());
        m.delivery_status = Some(format!(
            "Reporting-MTA: dns; mx.customer.example\n\nFinal-Recipient: rfc822; Bob@Customer.example\n\
Original-Recipient: rfc822;bob@customer.example\nAction: {action}\nStatus: {status}\n\
Diagnostic-Code: smtp; 550 {status} <bob@customer.example>:\n Recipient address rejected\n"
        ));
        m
    }

    struct Row {
        name: &'static str,
        mail: InboundMail,
        kind: MailKind,
        /// A reason that must be among the fired signals (substring).
        reason: &'static str,
    }

    fn row(name: &'static str, mail: InboundMail, kind: MailKind, reason: &'static str) -> Row {
        Row {
            name,
            mail,
            kind,
            reason,
        }
    }

    fn rows() -> Vec<Row> {
        use MailKind::*;
        let mut own_id = human();
        own_id.message_id = "20240101.ack-1@desk.example".into();
        let mut own_from = human();
        own_from.from = Address::new(None, "ServiceDesk@Provider.example");
        let mut own_bounce = dsn("5.1.1", "failed");
        own_bounce.message_id = "x@desk.example".into();
        let mut colleague = human();
        colleague.message_id = "123@mail.desk.example".into();
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
        let mut mid_body = human();
        mid_body.text = "Hi, I will be out of office next week; my colleague takes over.\n".into();
        let mut ses = human();
        ses.from = Address::new(Some("SES"), "no-reply@sns.amazonaws.com");
        ses.subject = "AWS Notification Message".into();
        ses.text = r#"{"notificationType":"Complaint","complaint":{}}"#.into();
        let mut noreply = human();
        noreply.from = Address::new(None, "no-reply@monitoring.example");
        let mut null_rp = human();
        null_rp.headers = vec![("return-path".into(), "<>".into())];

        vec![
            row("plain human", human(), Human, ""),
            row("own Message-ID domain", own_id, OwnMail, "our own domain"),
            row("desk address as sender", own_from, OwnMail, "desk address"),
            row("colleague at a subdomain is human", colleague, Human, ""),
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
                "own mail wins over bounce look",
                own_bounce,
                OwnMail,
                "our own domain",
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
            row(
                "Auto-Submitted: auto-replied",
                with_header("Auto-Submitted", "auto-replied"),
                AutoReply,
                "Auto-Submitted: auto-replied",
            ),
            row(
                "Auto-Submitted: no is human",
                with_header("Auto-Submitted", "no"),
                Human,
                "",
            ),
            row(
                "Auto-Submitted: auto-generated",
                with_header("Auto-Submitted", "auto-generated"),
                Robot,
                "Auto-Submitted: auto-generated",
            ),
            row(
                "X-Autoreply",
                with_header("X-Autoreply", "yes"),
                AutoReply,
                "X-Autoreply",
            ),
            row(
                "X-Autorespond",
                with_header("X-Autorespond", "Out of office"),
                AutoReply,
                "X-Autorespond",
            ),
            row(
                "Precedence: auto_reply",
                with_header("Precedence", "auto_reply"),
                AutoReply,
                "Precedence: auto_reply",
            ),
            row(
                "Precedence: bulk",
                with_header("Precedence", "bulk"),
                Robot,
                "Precedence: bulk",
            ),
            row(
                "Precedence: junk",
                with_header("Precedence", "junk"),
                Robot,
                "Precedence: junk",
            ),
            row(
                "Precedence: list",
                with_header("Precedence", "list"),
                List,
                "Precedence: list",
            ),
            row(
                "X-Auto-Response-Suppress alone is human (Outlook sends it on people's mail)",
                with_header("X-Auto-Response-Suppress", "All"),
                Human,
                "X-Auto-Response-Suppress",
            ),
            row(
                "X-Auto-Response-Suppress backs an out-of-office subject",
                {
                    let mut m = with_subject("Out of Office: Link down");
                    m.headers
                        .push(("x-auto-response-suppress".into(), "All".into()));
                    m
                },
                AutoReply,
                "out-of-office",
            ),
            row(
                "a person's bare 'Out of office:' subject is human",
                with_subject("Out of office: Friday 12 May"),
                Human,
                "out-of-office",
            ),
            row(
                "List-Id",
                with_header("List-Id", "<ops.lists.example>"),
                List,
                "List-Id",
            ),
            row(
                "List-Unsubscribe",
                with_header("List-Unsubscribe", "<mailto:u@lists.example>"),
                List,
                "List-Unsubscribe",
            ),
            row("null Return-Path alone", null_rp, Robot, "Return-Path: <>"),
            row(
                "X-OTRS-Loop",
                with_header("X-OTRS-Loop", "yes"),
                Robot,
                "X-Otrs-Loop",
            ),
            row(
                "X-Loop",
                with_header("X-Loop", "helpdesk@other.example"),
                Robot,
                "X-Loop",
            ),
            row(
                "X-RT-Loop-Prevention",
                with_header("X-RT-Loop-Prevention", "rt.example"),
                Robot,
                "X-Rt-Loop-Prevention",
            ),
            row(
                "X-Zammad-Loop",
                with_header("X-Zammad-Loop", "1"),
                Robot,
                "X-Zammad-Loop",
            ),
            row(
                "X-Jira-Fingerprint",
                with_header("X-JIRA-FingerPrint", "abc"),
                Robot,
                "X-Jira-Fingerprint",
            ),
            row(
                "X-ServiceNow-*",
                with_header("X-ServiceNow-Source", "Notification-1"),
                Robot,
                "ServiceNow",
            ),
            row("no-reply sender", noreply, Robot, "no-reply sender"),
            row(
                "Out of Office AutoReply subject",
                with_subject("Out of Office AutoReply: Link down"),
                AutoReply,
                "out-of-office",
            ),
            row(
                "Automatic reply",
                with_subject("Automatic reply: Link down"),
                AutoReply,
                "out-of-office",
            ),
            row(
                "Autoreply",
                with_subject("Autoreply: Link down"),
                AutoReply,
                "out-of-office",
            ),
            row(
                "French",
                with_subject("Réponse automatique : Panne"),
                AutoReply,
                "out-of-office",
            ),
            row(
                "German",
                with_subject("Abwesenheitsnotiz: Störung"),
                AutoReply,
                "out-of-office",
            ),
            row(
                "German 2",
                with_subject("Automatische Antwort: Störung"),
                AutoReply,
                "out-of-office",
            ),
            row(
                "Portuguese",
                with_subject("Resposta automática: Falha"),
                AutoReply,
                "out-of-office",
            ),
            row(
                "Italian",
                with_subject("Risposta automatica: Guasto"),
                AutoReply,
                "out-of-office",
            ),
            row(
                "Spanish",
                with_subject("Respuesta automática: Avería"),
                AutoReply,
                "out-of-office",
            ),
            row(
                "Dutch",
                with_subject("Automatisch antwoord: Storing"),
                AutoReply,
                "out-of-office",
            ),
            row(
                "Dutch 2",
                with_subject("Afwezigheidsbericht: Storing"),
                AutoReply,
                "out-of-office",
            ),
            row(
                "Lotus Notes",
                with_subject("AUTO: Jane Doe is out of the office (returning 05/05)"),
                AutoReply,
                "out-of-office",
            ),
            row(
                "'Fuori sede' with a machine signal",
                {
                    let mut m = with_subject("Fuori sede: Guasto");
                    m.headers
                        .push(("auto-submitted".into(), "auto-generated".into()));
                    m
                },
                AutoReply,
                "out-of-office",
            ),
            row(
                "'Absence:' from a person is human",
                with_subject("Absence: Monday, please reassign"),
                Human,
                "out-of-office",
            ),
            row(
                "person writing 'out of office' mid-body",
                mid_body,
                Human,
                "",
            ),
            row(
                "reply to an OOF is human",
                with_subject("Re: Automatic reply: Link down"),
                Human,
                "",
            ),
            row(
                "auto-reply through a list is an auto-reply",
                {
                    let mut m = with_header("List-Id", "<ops.lists.example>");
                    m.headers
                        .push(("auto-submitted".into(), "auto-replied".into()));
                    m
                },
                AutoReply,
                "List-Id",
            ),
            row(
                "list with X-Loop is a list",
                {
                    let mut m = with_header("List-Id", "<ops.lists.example>");
                    m.headers
                        .push(("x-loop".into(), "ops@lists.example".into()));
                    m
                },
                List,
                "X-Loop",
            ),
        ]
    }

    #[test]
    fn every_signal_decides_as_documented() {
        let (own, desks) = ctx();
        let ctx = ClassifyContext {
            own_domains: &own,
            desk_addresses: &desks,
        };
        let mut failures = Vec::new();
        for r in rows() {
            let c = classify(&r.mail, &ctx);
            let reason_ok = r.reason.is_empty() || c.reasons.iter().any(|x| x.contains(r.reason));
            if c.kind != r.kind || !reason_ok {
                failures.push(format!(
                    "{}: got {:?} {:?}, want {:?} with reason {:?}",
                    r.name, c.kind, c.reasons, r.kind, r.reason
                ));
            }
            assert_eq!(
                c.bounce.is_some(),
                c.kind == MailKind::Bounce,
                "{}: bounce info iff Bounce",
                r.name
            );
            if r.kind == MailKind::Human && r.reason.is_empty() {
                assert!(
                    c.reasons.is_empty(),
                    "{}: a plain human mail has no reasons: {:?}",
                    r.name,
                    c.reasons
                );
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    fn classify_plain(m: &InboundMail) -> Classification {
        let (own, desks) = ctx();
        classify(
            m,
            &ClassifyContext {
                own_domains: &own,
                desk_addresses: &desks,
            },
        )
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

    #[test]
    fn kind_names_are_stable() {
        use MailKind::*;
        let all = [Human, AutoReply, Bounce, List, OwnMail, Robot, Report];
        let names: Vec<&str> = all.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "human",
                "auto-reply",
                "bounce",
                "list",
                "own-mail",
                "robot",
                "report"
            ]
        );
        for k in all {
            assert_eq!(k.may_be_answered(), k == Human);
            let json = serde_json::to_string(&k).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
    }

    #[test]
    fn every_built_in_pattern_compiles() {
        for r in [
            &DAEMON_LOCAL,
            &DAEMON_NAME,
            &MAILER_DAEMON_LOCAL,
            &MAILER_DAEMON_NAME,
            &NOREPLY_LOCAL,
            &BOUNCE_SUBJECT,
            &BOUNCE_TEXT,
            &ENHANCED_STATUS,
            &SMTP_REPLY,
            &ORIGINAL_MARKER,
            &MESSAGE_ID_LINE,
            &ADDRESS,
            &AUTO_REPLY_SUBJECT,
            &CLIENT_AUTO_REPLY_SUBJECT,
            &DELAY_WORDS,
            &NOT_A_RECIPIENT_LINE,
            &LINE_START_ADDRESS,
        ] {
            LazyLock::force(r);
        }
    }
}
