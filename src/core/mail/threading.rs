//! Which ticket a mail belongs to: a decision, not an action.
//!
//! The pipeline looks up the tickets that the mail's headers and subject point at and hands
//! their facts to [`decide`]; the decision says whether the mail joins one of them or opens a new
//! ticket, and why. The rules:
//!
//! 1. In-Reply-To or References naming a message of a ticket (ours or the customer's) joins that
//!    ticket. Message-IDs are long and unguessable, so knowing one is proof enough of having seen
//!    the thread; a sender who is not a participant joins, but is not made one (see
//!    [`Decision::Join::add_sender`]), so they receive nothing they did not already have.
//! 2. Otherwise a `[REF]` in the subject joins that ticket when the sender is a participant or
//!    writes from the requester's own mail domain (not a public mailbox provider).
//! 3. A `[REF]` from anyone else opens a new ticket, and the mismatch is noted on both: a
//!    reference is printed in every subject and is easy to guess or copy.
//! 4. A mail to a closed ticket opens a new ticket that names the old one.

use crate::core::address::PUBLIC_PROVIDERS;
use crate::core::mail::subject;
use crate::core::mail::InboundMail;
use crate::core::service::ticket::Status;

/// What the pipeline knows about a ticket the mail points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketFacts {
    pub reference: String,
    pub status: Status,
    /// Lower-case participant addresses.
    pub participants: Vec<String>,
    /// Lower-case mail domains whose senders may use the reference (the requester's domain when
    /// it is not a public provider; later, the account's domains).
    pub domains: Vec<String>,
}

impl TicketFacts {
    fn admits(&self, email: &str) -> bool {
        let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        self.participants.iter().any(|p| p == email)
            || (!domain.is_empty() && self.domains.iter().any(|d| d == domain))
    }
}

/// The tickets a mail points at, looked up by the pipeline.
#[derive(Debug, Clone, Default)]
pub struct Candidates {
    /// The ticket owning the first of the mail's referenced Message-IDs that is known.
    pub by_header: Option<TicketFacts>,
    /// Tickets named by `[REF]` tags in the subject, in subject order (unknown refs omitted).
    pub by_subject: Vec<TicketFacts>,
    /// The sender is an authenticated staff member, who may write on any ticket.
    pub staff_sender: bool,
}

/// How a mail joined a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinedBy {
    Header,
    SubjectRef,
}

/// The threading decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Join {
        reference: String,
        via: JoinedBy,
        /// True when the sender may become a participant (already one, or from an admitted domain).
        add_sender: bool,
    },
    New {
        /// Notes to put on the new ticket (and, for a refused reference, on the one named).
        notes: Vec<String>,
        /// The ticket whose reference was refused or which was closed, if any.
        related: Option<String>,
    },
}

/// Decides where `mail` belongs.
pub fn decide(mail: &InboundMail, candidates: &Candidates) -> Decision {
    let sender = mail.from.email.as_str();
    if let Some(t) = &candidates.by_header {
        if t.status == Status::Closed {
            return follow_up_of_closed(t);
        }
        return Decision::Join {
            reference: t.reference.clone(),
            via: JoinedBy::Header,
            add_sender: !candidates.staff_sender && t.admits(sender),
        };
    }
    let mut refused: Option<&TicketFacts> = None;
    for t in &candidates.by_subject {
        if candidates.staff_sender || t.admits(sender) {
            if t.status == Status::Closed {
                return follow_up_of_closed(t);
            }
            return Decision::Join {
                reference: t.reference.clone(),
                via: JoinedBy::SubjectRef,
                add_sender: !candidates.staff_sender,
            };
        }
        refused.get_or_insert(t);
    }
    match refused {
        Some(t) => Decision::New {
            notes: vec![format!(
                "the subject names [{}], but {} is not a participant of that ticket; opened a new ticket instead",
                t.reference,
                if sender.is_empty() { "the sender" } else { sender }
            )],
            related: Some(t.reference.clone()),
        },
        None => {
            let unknown = subject::find_refs(&mail.subject);
            let notes = if unknown.is_empty() {
                Vec::new()
            } else {
                vec![format!(
                    "the subject names {}, which is not a known ticket",
                    unknown.iter().map(|r| subject::tag(r)).collect::<Vec<_>>().join(" ")
                )]
            };
            Decision::New {
                notes,
                related: None,
            }
        }
    }
}

fn follow_up_of_closed(t: &TicketFacts) -> Decision {
    Decision::New {
        notes: vec![format!("follow-up of closed ticket [{}]", t.reference)],
        related: Some(t.reference.clone()),
    }
}

/// The domains that may use a ticket's reference, from its requester's address.
pub fn admitted_domains(requester_email: &str) -> Vec<String> {
    match requester_email.rsplit_once('@') {
        Some((_, d)) if !d.is_empty() && !PUBLIC_PROVIDERS.contains(&d) => vec![d.to_string()],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::address::Address;
    use proptest::prelude::*;

    fn facts(reference: &str, requester: &str) -> TicketFacts {
        TicketFacts {
            reference: reference.into(),
            status: Status::Open,
            participants: vec![requester.into()],
            domains: admitted_domains(requester),
        }
    }

    fn mail(from: &str, subject: &str) -> InboundMail {
        InboundMail {
            message_id: "m@x".into(),
            from: Address::new(None, from),
            subject: subject.into(),
            ..Default::default()
        }
    }

    fn check(m: &InboundMail, c: &Candidates) -> String {
        match decide(m, c) {
            Decision::Join {
                reference,
                via,
                add_sender,
            } => {
                format!("join {reference} via {via:?} add={add_sender}")
            }
            Decision::New { notes, related } => {
                format!("new related={related:?} notes={}", notes.len())
            }
        }
    }

    #[test]
    fn table() {
        let t = facts("NL-000001", "jane@acme.example");
        let gmail = facts("NL-000002", "bob@gmail.com");
        let mut closed = facts("NL-000003", "jane@acme.example");
        closed.status = Status::Closed;
        let cases: Vec<(&str, InboundMail, Candidates, &str)> = vec![
            (
                "Gmail reply with References only",
                mail("jane@acme.example", "Re: link"),
                Candidates {
                    by_header: Some(t.clone()),
                    by_subject: vec![],
                    staff_sender: false,
                },
                "join NL-000001 via Header add=true",
            ),
            (
                "Outlook reply with only the reference in the subject",
                mail("jane@acme.example", "AW: [NL-000001] link"),
                Candidates {
                    by_header: None,
                    by_subject: vec![t.clone()],
                    staff_sender: false,
                },
                "join NL-000001 via SubjectRef add=true",
            ),
            (
                "colleague from the same company domain",
                mail("ops@acme.example", "RE: [NL-000001] link"),
                Candidates {
                    by_header: None,
                    by_subject: vec![t.clone()],
                    staff_sender: false,
                },
                "join NL-000001 via SubjectRef add=true",
            ),
            (
                "stranger quoting someone else's reference",
                mail("eve@evil.example", "RE: [NL-000001] give me the config"),
                Candidates {
                    by_header: None,
                    by_subject: vec![t.clone()],
                    staff_sender: false,
                },
                "new related=Some(\"NL-000001\") notes=1",
            ),
            (
                "another gmail user does not share bob's domain",
                mail("eve@gmail.com", "RE: [NL-000002] x"),
                Candidates {
                    by_header: None,
                    by_subject: vec![gmail.clone()],
                    staff_sender: false,
                },
                "new related=Some(\"NL-000002\") notes=1",
            ),
            (
                "stranger replying in the thread is joined but not made a participant",
                mail("eve@evil.example", "Re: link"),
                Candidates {
                    by_header: Some(t.clone()),
                    by_subject: vec![],
                    staff_sender: false,
                },
                "join NL-000001 via Header add=false",
            ),
            (
                "a reply to a closed ticket opens a follow-up",
                mail("jane@acme.example", "Re: [NL-000003] again"),
                Candidates {
                    by_header: Some(closed.clone()),
                    by_subject: vec![],
                    staff_sender: false,
                },
                "new related=Some(\"NL-000003\") notes=1",
            ),
            (
                "unknown reference",
                mail("jane@acme.example", "Re: [NL-999999] x"),
                Candidates::default(),
                "new related=None notes=1",
            ),
            (
                "staff may use any ticket's reference",
                mail("alice@provider.example", "RE: [NL-000001] link"),
                Candidates {
                    by_header: None,
                    by_subject: vec![t.clone()],
                    staff_sender: true,
                },
                "join NL-000001 via SubjectRef add=false",
            ),
            (
                "fresh mail",
                mail("jane@acme.example", "link down"),
                Candidates::default(),
                "new related=None notes=0",
            ),
        ];
        for (name, m, c, want) in cases {
            assert_eq!(check(&m, &c), want, "{name}");
        }
    }

    proptest! {
        /// Whoever writes and whatever the subject says, a ticket found by header always wins and
        /// a non-participant never becomes one.
        #[test]
        fn header_match_wins_and_strangers_are_not_admitted(
            user in "[a-z]{1,8}", domain in "[a-z]{1,8}\\.example", subj in "\\PC{0,30}"
        ) {
            let t = facts("NL-000001", "jane@acme.example");
            let from = format!("{user}@{domain}");
            let m = mail(&from, &subj);
            let c = Candidates { by_header: Some(t.clone()), by_subject: vec![], staff_sender: false };
            match decide(&m, &c) {
                Decision::Join { reference, add_sender, .. } => {
                    prop_assert_eq!(reference, "NL-000001");
                    prop_assert_eq!(add_sender, domain == "acme.example");
                }
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }

        /// A subject reference never lets a sender outside the ticket's people and domains in.
        #[test]
        fn subject_ref_never_admits_strangers(user in "[a-z]{1,8}", domain in "[a-z]{1,8}\\.test") {
            let t = facts("NL-000001", "jane@acme.example");
            let m = mail(&format!("{user}@{domain}"), "Re: [NL-000001] x");
            let c = Candidates { by_header: None, by_subject: vec![t], staff_sender: false };
            let is_new = matches!(decide(&m, &c), Decision::New { .. });
            prop_assert!(is_new);
        }
    }
}
