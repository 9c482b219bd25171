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
//!
//! The folder, in reading order: `facts.rs` (what several detectors need, worked out once),
//! `bounce.rs` (bounces and reports) with `dsn.rs` (what a bounce says about its recipients),
//! `auto_reply.rs`, `lists.rs` (list and robot mail) and `words.rs` (the wording they look for).
//! This file keeps the verdict: the precedence between the kinds and our own mail coming back.
//!
//! Owns: the kind of a mail. Builds on `mail::inbound` and `mail::pattern`; must not import the
//! rest of `mail`, nor `service` or `broadcasts`. Inside the folder the detectors read `facts.rs`
//! and `words.rs`, `bounce.rs` reads `dsn.rs`, and only this file reads the detectors.

mod facts;
mod bounce;
mod dsn;
mod auto_reply;
mod lists;
mod words;

pub use bounce::BounceInfo;

use serde::{Deserialize, Serialize};

use crate::core::mail::own::Stamp;
use crate::core::mail::InboundMail;
use crate::core::str_enum::str_enum;
use auto_reply::auto_reply_signals;
use bounce::{bounce_signals, Verdict};
use facts::Facts;
use lists::{list_signals, robot_signals};

str_enum! {
    /// The kind of an inbound mail, from the desk's point of view. The names are also serde's.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "kebab-case")]
    pub enum MailKind {
        /// Written by a person: the only kind the desk may answer.
        Human => "human",
        /// An out-of-office or other automatic answer (RFC 3834 `auto-replied` and friends).
        AutoReply => "auto-reply",
        /// A delivery failure or delay notice (RFC 3464 DSN or a non-standard MTA notice).
        Bounce => "bounce",
        /// Mail distributed by a mailing list or newsletter system.
        List => "list",
        /// Mail we sent ourselves, come back: answering it would start a loop.
        OwnMail => "own-mail",
        /// Other machine-sent mail: notifications, other ticket systems, no-reply senders.
        Robot => "robot",
        /// A machine report that is not a failure: feedback reports (ARF), delivery-success DSNs,
        /// read receipts.
        Report => "report",
    }
}

impl MailKind {
    /// Whether the desk may send an automatic answer (an acknowledgement) to this mail. Only a
    /// person gets one; answering any machine risks a mail loop or mail to nobody.
    pub fn may_be_answered(self) -> bool {
        self == MailKind::Human
    }
}

/// What the classifier needs to know about this installation.
#[derive(Debug, Clone, Copy)]
pub struct ClassifyContext<'a> {
    /// What this installation writes into its mail (see [`crate::core::mail::own`]).
    pub stamp: &'a Stamp,
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

/// Classifies one mail.
///
/// The kinds are tried in this order, and the first with a deciding signal wins:
///
/// 1. **OwnMail**: a Message-ID or `X-Deskgate-Loop` header this installation wrote, or a desk
///    address as the sender — never the domain alone, which engineers' own clients share.
///    Nothing else matters: whatever our own mail looks like, processing it again would loop.
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

    let own = ctx.stamp.signals(mail, ctx.desk_addresses);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::address::Address;

    /// The installation of the tests: Message-IDs in `desk.example`, one desk.
    pub(super) fn stamp() -> Stamp {
        Stamp::new(b"classify tests", "desk.example")
    }

    fn ctx() -> (Stamp, Vec<String>) {
        (stamp(), vec!["servicedesk@provider.example".to_string()])
    }

    /// A plain human mail, which each row changes a little.
    pub(super) fn human() -> InboundMail {
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

    pub(super) fn with_header(name: &str, value: &str) -> InboundMail {
        let mut m = human();
        m.headers.push((name.to_ascii_lowercase(), value.into()));
        m
    }

    pub(super) fn with_subject(subject: &str) -> InboundMail {
        let mut m = human();
        m.subject = subject.into();
        m
    }

    pub(super) fn from_daemon(subject: &str, text: &str) -> InboundMail {
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

    pub(super) fn dsn(status: &str, action: &str) -> InboundMail {
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

    pub(super) struct Row {
        name: &'static str,
        mail: InboundMail,
        kind: MailKind,
        /// A reason that must be among the fired signals (substring).
        reason: &'static str,
    }

    pub(super) fn row(
        name: &'static str,
        mail: InboundMail,
        kind: MailKind,
        reason: &'static str,
    ) -> Row {
        Row {
            name,
            mail,
            kind,
            reason,
        }
    }

    /// Classifies each row's mail and checks its kind and a reason, and that bounce information
    /// comes exactly with a bounce; a plain human mail must fire no signal at all.
    pub(super) fn check(rows: Vec<Row>) {
        let (stamp, desks) = ctx();
        let ctx = ClassifyContext {
            stamp: &stamp,
            desk_addresses: &desks,
        };
        let mut failures = Vec::new();
        for r in rows {
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

    pub(super) fn classify_plain(m: &InboundMail) -> Classification {
        let (stamp, desks) = ctx();
        classify(
            m,
            &ClassifyContext {
                stamp: &stamp,
                desk_addresses: &desks,
            },
        )
    }

    #[test]
    fn the_precedence_decides_as_documented() {
        use MailKind::*;
        let mut own_id = human();
        own_id.message_id = stamp().message_id(Some("NL-000001"), 42);
        let mut own_from = human();
        own_from.from = Address::new(None, "ServiceDesk@Provider.example");
        let mut own_bounce = dsn("5.1.1", "failed");
        own_bounce.message_id = stamp().message_id(None, 7);
        let mut colleague = human();
        colleague.message_id = "123@mail.desk.example".into();
        // A colleague's client writing ids in the desk's own domain (Thunderbird, Apple Mail,
        // Exchange): the domain alone is no loop.
        let mut same_domain = human();
        same_domain.message_id = "9f3c2a1e-5b7d-4c2a-8e1f-0a1b2c3d4e5f@desk.example".into();

        check(vec![
            row("plain human", human(), Human, ""),
            row(
                "own Message-ID",
                own_id,
                OwnMail,
                "written by this deskgate",
            ),
            row("desk address as sender", own_from, OwnMail, "desk address"),
            row("colleague at a subdomain is human", colleague, Human, ""),
            row(
                "colleague in the own domain is human",
                same_domain,
                Human,
                "",
            ),
            row(
                "own mail wins over bounce look",
                own_bounce,
                OwnMail,
                "written by this deskgate",
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
        ]);
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
}
