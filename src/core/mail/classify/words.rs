//! The wording the detectors look for: how mail systems name their own mailboxes, how MTAs and
//! providers word bounces and delays, where a text bounce quotes the original, and how mail
//! clients title automatic replies.
//!
//! Each list is a regex built once. They are generic MTA and mail-client phrasings, not tuned to
//! single samples; the unit test below builds every one of them, so a typo fails the first test
//! run and never depends on input.

use std::sync::LazyLock;

use regex::Regex;

use crate::core::mail::pattern::re;

/// Local parts that mail systems send their own notices from.
pub(super) static DAEMON_LOCAL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:mailer[-_.]?daemon|mail[-_.]?daemon|post[-_.]?master|mail[-_.]?delivery[-_.a-z]*|mail[-_.]?system|mailerdaemon|mdaemon|smtp[-_.]?daemon|mail[-_.]?admin|bounces?)$",
    )
});

/// Display names that mail systems send their own notices under.
pub(super) static DAEMON_NAME: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:mail delivery (?:sub)?system|mailer[- ]daemon|mail[- ]daemon|postmaster|post master|mail administrator|mail delivery service|internet mail delivery|delivery status notification)\b",
    )
});

/// The subset of [`DAEMON_LOCAL`] that no person writes from.
pub(super) static MAILER_DAEMON_LOCAL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:mailer[-_.]?daemon|mail[-_.]?daemon|mailerdaemon|mdaemon|smtp[-_.]?daemon|mail[-_.]?delivery[-_.a-z]*)$",
    )
});

/// The subset of [`DAEMON_NAME`] that no person writes under.
pub(super) static MAILER_DAEMON_NAME: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:mail delivery (?:sub)?system|mailer[- ]daemon|mail[- ]daemon|mail delivery service|internet mail delivery)\b",
    )
});

/// No-reply local parts: `noreply`, `no-reply`, `do_not_reply`, `noreply-alerts`, …
pub(super) static NOREPLY_LOCAL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:^|[-_.+])(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|dont[-_.]?reply|no[-_.]?response|do[-_.]?not[-_.]?respond)(?:$|[-_.+0-9])",
    )
});

/// Subjects of delivery failure and delay notices, as the common MTAs and providers word them.
/// Matched anywhere in the lower-case subject, because some MTAs prefix the host name.
pub(super) static BOUNCE_SUBJECT: LazyLock<Regex> = LazyLock::new(|| {
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
pub(super) static BOUNCE_TEXT: LazyLock<Regex> = LazyLock::new(|| {
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

/// The line that starts the quoted original in a text bounce: what follows is the original's
/// headers and body, whose addresses are not recipients of the failed delivery.
pub(super) static ORIGINAL_MARKER: LazyLock<Regex> = LazyLock::new(|| {
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

/// Out-of-office and automatic-reply subjects in the desk languages. Anchored at the start and
/// followed by a colon or the end, because that is where clients put them ("Automatic reply:
/// <original subject>"), and a person writing about an absence puts the words elsewhere.
pub(super) static AUTO_REPLY_SUBJECT: LazyLock<Regex> = LazyLock::new(|| {
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

/// Wording of a delay notice (the MTA keeps trying), as opposed to a final failure.
pub(super) static DELAY_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\bdelay(?:ed)?\b|still being retried|will (?:continue|keep) (?:trying|to try)|not yet been delivered|warning: could not send|will be retried|temporar(?:y|ily)",
    )
});

/// Subject prefixes that mail clients and servers put on automatic replies and that people do not
/// write themselves: these decide AutoReply without a header. A bare "Out of office:" is not
/// among them, because a person announcing their own absence writes exactly that.
pub(super) static CLIENT_AUTO_REPLY_SUBJECT: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"^\s*\[?(?:out of (?:the )?office (?:autoreply|auto reply|reply)|automatic reply|auto[- ]?reply|auto[- ]?respons(?:e)?",
        r"|automated reply|automated response|autosvar|automatisk svar|réponse automatique|reponse automatique",
        r"|abwesenheitsnotiz|automatische antwort|automatische rückantwort|resposta automática|resposta automatica",
        r"|risposta automatica|respuesta automática|respuesta automatica|afwezigheidsbericht|automatisch antwoord",
        r"|automatyczna odpowiedź)\]?\s*(?:[:：\-–]|$|\()",
        r"|^\s*auto:\s.*\bis out of (?:the )?office\b",
    ))
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_list_compiles() {
        for r in [
            &DAEMON_LOCAL,
            &DAEMON_NAME,
            &MAILER_DAEMON_LOCAL,
            &MAILER_DAEMON_NAME,
            &NOREPLY_LOCAL,
            &BOUNCE_SUBJECT,
            &BOUNCE_TEXT,
            &ORIGINAL_MARKER,
            &AUTO_REPLY_SUBJECT,
            &CLIENT_AUTO_REPLY_SUBJECT,
            &DELAY_WORDS,
        ] {
            LazyLock::force(r);
        }
    }
}
