//! The customer side: machine mail that may open a ticket, the requester, the first answer to
//! a new ticket, and what a reply to an existing one changes.

use crate::core::address::Address;
use crate::core::mail::classify::MailKind;
use crate::core::mail::threading;
use crate::core::service::message::MessageKind;
use crate::core::service::ticket::{RequesterIdentity, Ticket};
use chrono::{DateTime, Utc};

/// Whether a mail that answers no known ticket opens one: a customer's mail does, and so does a
/// robot's (a customer's monitoring, a purchase system); other machine mail (bounces,
/// auto-replies, lists) answers something or nothing and is kept aside.
pub fn opens_ticket(message: MessageKind, mail: MailKind) -> bool {
    message == MessageKind::Customer || mail == MailKind::Robot
}

/// Who a new ticket is for: the Reply-To when it names someone other than the desk, else the
/// sender.
pub fn requester(
    from: &Address,
    reply_to: Option<&Address>,
    is_desk: impl Fn(&str) -> bool,
) -> Address {
    reply_to
        .filter(|r| !r.email.is_empty() && !is_desk(&r.email))
        .unwrap_or(from)
        .clone()
}

/// How the desk first answers a new ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstAnswer {
    /// "We received your mail, your reference is …".
    Ack,
    /// The sender is unknown: how to register as a contact.
    Register,
    /// The account is supported by its partner: where to write instead.
    PartnerRedirect,
    /// The mail was too large to process: say so, instead of "received".
    TooLarge,
    /// Nothing is sent; the note says why, when the ticket should show it.
    Nothing { note: Option<String> },
}

/// What decides the first answer.
#[derive(Debug, Clone, Copy)]
pub struct NewTicket<'a> {
    pub identity: RequesterIdentity,
    /// An accounts file is in use: without one nobody can be verified, and everyone is
    /// acknowledged.
    pub accounts_in_use: bool,
    pub kind: MailKind,
    /// The classification line, for the note on an unanswered robot's ticket.
    pub class_text: &'a str,
    pub oversized: bool,
    /// The sender's flood breaker is open: nothing is sent (the flood is noted apart).
    pub flooded: bool,
}

pub fn first_answer(t: NewTicket<'_>) -> FirstAnswer {
    if t.flooded {
        return FirstAnswer::Nothing { note: None };
    }
    if t.oversized {
        return FirstAnswer::TooLarge;
    }
    if !t.kind.may_be_answered() {
        return FirstAnswer::Nothing {
            note: Some(format!(
                "opened from automated mail ({}); not acknowledged",
                t.class_text
            )),
        };
    }
    match t.identity {
        RequesterIdentity::Unverified if t.accounts_in_use => FirstAnswer::Register,
        RequesterIdentity::PartnerRedirect => FirstAnswer::PartnerRedirect,
        _ => FirstAnswer::Ack,
    }
}

/// A mail joining an existing ticket, as the reply policy sees it.
#[derive(Debug, Clone)]
pub struct Reply<'a> {
    pub kind: MessageKind,
    pub from: &'a Address,
    pub message_id: &'a str,
    /// The mail's To and Cc, without the desks' and staff's addresses.
    pub copies: &'a [Address],
    /// Threading admitted the sender as a participant (see `threading::decide`).
    pub add_sender: bool,
    /// The sender's flood breaker is open: the note that says so.
    pub flood: Option<&'a str>,
}

/// What a reply changed, and whom to tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyEffects {
    /// A resolved or pending ticket opened again.
    pub reopened: bool,
    /// The label of the notice to the ticket's owner (or team), when they are told.
    pub notify: Option<&'static str>,
}

/// Applies a reply to its ticket: a customer's reply reopens a resolved or pending ticket and
/// is what an engineer's next answer replies to; a participant's colleagues of the requester's
/// own domain in copy join the ticket; a writer who is not admitted is noted, not added; the
/// owner is told, unless the sender floods the desk.
pub fn customer_reply(ticket: &mut Ticket, reply: &Reply<'_>, now: DateTime<Utc>) -> ReplyEffects {
    let by = reply.from.email.as_str();
    let mut reopened = false;
    if reply.kind == MessageKind::Customer {
        ticket.last_customer_message_id = Some(reply.message_id.to_string());
        let before = ticket.status;
        ticket.customer_replied(by, now);
        reopened = before != ticket.status;
        if reply.add_sender {
            ticket.add_participant(reply.from, by, now);
            let domains = threading::admitted_domains(&ticket.requester.email);
            for a in reply.copies {
                if domains.iter().any(|d| d == a.domain()) {
                    ticket.add_participant(a, by, now);
                }
            }
        } else {
            ticket.note(
                format!("{by} wrote in this thread but is not a participant; not added"),
                "deskgate",
                now,
            );
        }
    }
    if let Some(note) = reply.flood {
        ticket.note(note, "deskgate", now);
    }
    let notify =
        (reply.kind == MessageKind::Customer && reply.flood.is_none()).then_some(if reopened {
            "Customer reply (reopened)"
        } else {
            "Customer reply"
        });
    ReplyEffects { reopened, notify }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::service::ticket::{Change, Opening, Status};

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .expect("instant")
            .into()
    }

    fn ticket(status: Status) -> Ticket {
        let mut t = Ticket::open(
            Opening {
                reference: "NL-000001".into(),
                desk: "nl",
                language: "en",
                subject: "link down",
                requester: Address::new(Some("Jane"), "jane@acme.example"),
                others: &[],
                message_id: "m1@acme.example",
            },
            now(),
        );
        t.set_status(status, "alice@provider.example", now());
        t
    }

    fn notes(t: &Ticket) -> Vec<String> {
        t.events
            .iter()
            .filter_map(|e| match &e.change {
                Change::Note { text } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn only_customers_and_robots_open_tickets() {
        use MailKind::*;
        let cases = [
            (MessageKind::Customer, Human, true),
            (MessageKind::Automatic, Robot, true),
            (MessageKind::Automatic, AutoReply, false),
            (MessageKind::Automatic, List, false),
            (MessageKind::Bounce, Bounce, false),
        ];
        for (message, mail, opens) in cases {
            assert_eq!(opens_ticket(message, mail), opens, "{message:?} / {mail:?}");
        }
    }

    #[test]
    fn the_requester_is_the_reply_to_unless_it_points_at_the_desk() {
        let from = Address::new(None, "noc@acme.example");
        let boss = Address::new(None, "boss@acme.example");
        let desk = Address::new(None, "servicedesk.nl@example.net");
        let empty = Address::new(None, "");
        let is_desk = |e: &str| e == "servicedesk.nl@example.net";
        assert_eq!(requester(&from, Some(&boss), is_desk), boss);
        assert_eq!(requester(&from, Some(&desk), is_desk), from);
        assert_eq!(requester(&from, Some(&empty), is_desk), from);
        assert_eq!(requester(&from, None, is_desk), from);
    }

    #[test]
    fn the_first_answer_follows_who_wrote_and_how() {
        use FirstAnswer::{Ack, Nothing, Register, TooLarge};
        use RequesterIdentity::{Contact, Unregistered, Unverified};
        let base = NewTicket {
            identity: Contact,
            accounts_in_use: true,
            kind: MailKind::Human,
            class_text: "robot: X-Mailer zabbix",
            oversized: false,
            flooded: false,
        };
        let robot_note = Some(
            "opened from automated mail (robot: X-Mailer zabbix); not acknowledged".to_string(),
        );
        let cases: Vec<(NewTicket, FirstAnswer)> = vec![
            (base, Ack),
            (
                NewTicket {
                    identity: Unregistered,
                    ..base
                },
                Ack,
            ),
            (
                NewTicket {
                    identity: Unverified,
                    ..base
                },
                Register,
            ),
            // Without an accounts file nobody can be verified: everyone is acknowledged.
            (
                NewTicket {
                    identity: Unverified,
                    accounts_in_use: false,
                    ..base
                },
                Ack,
            ),
            (
                NewTicket {
                    identity: RequesterIdentity::PartnerRedirect,
                    ..base
                },
                FirstAnswer::PartnerRedirect,
            ),
            (
                NewTicket {
                    oversized: true,
                    ..base
                },
                TooLarge,
            ),
            (
                NewTicket {
                    kind: MailKind::Robot,
                    ..base
                },
                Nothing { note: robot_note },
            ),
            (
                NewTicket {
                    flooded: true,
                    ..base
                },
                Nothing { note: None },
            ),
            // A flood wins over everything: nothing at all is sent.
            (
                NewTicket {
                    flooded: true,
                    oversized: true,
                    identity: Unverified,
                    ..base
                },
                Nothing { note: None },
            ),
        ];
        for (facts, want) in cases {
            assert_eq!(first_answer(facts), want, "{facts:?}");
        }
    }

    fn reply<'a>(from: &'a Address, copies: &'a [Address]) -> Reply<'a> {
        Reply {
            kind: MessageKind::Customer,
            from,
            message_id: "m2@acme.example",
            copies,
            add_sender: true,
            flood: None,
        }
    }

    #[test]
    fn a_customer_reply_reopens_what_waited_on_them_or_was_resolved() {
        let jane = Address::new(None, "jane@acme.example");
        let cases = [
            (Status::New, Status::New, false),
            (Status::Open, Status::Open, false),
            (Status::Pending, Status::Open, true),
            (Status::Resolved, Status::Open, true),
            // Closed is final: a new mail on it is stored, the ticket stays closed.
            (Status::Closed, Status::Closed, false),
        ];
        for (before, after, reopened) in cases {
            let mut t = ticket(before);
            let effects = customer_reply(&mut t, &reply(&jane, &[]), now());
            assert_eq!(
                (t.status, effects.reopened),
                (after, reopened),
                "{before:?}"
            );
            let label = if reopened {
                "Customer reply (reopened)"
            } else {
                "Customer reply"
            };
            assert_eq!(effects.notify, Some(label));
            assert_eq!(
                t.last_customer_message_id.as_deref(),
                Some("m2@acme.example")
            );
        }
    }

    #[test]
    fn colleagues_of_the_requesters_domain_in_copy_join_others_do_not() {
        let mut t = ticket(Status::Open);
        let jane = Address::new(None, "jane@acme.example");
        let copies = [
            Address::new(None, "ops@acme.example"),
            Address::new(None, "someone@gmail.com"),
            Address::new(None, "vendor@carrier.example"),
        ];
        customer_reply(&mut t, &reply(&jane, &copies), now());
        let emails: Vec<&str> = t.participants.iter().map(|p| p.email.as_str()).collect();
        assert_eq!(emails, ["jane@acme.example", "ops@acme.example"]);
    }

    #[test]
    fn a_writer_not_admitted_is_noted_not_added_and_the_owner_is_still_told() {
        let mut t = ticket(Status::Open);
        let stranger = Address::new(None, "eve@other.example");
        let effects = customer_reply(
            &mut t,
            &Reply {
                add_sender: false,
                ..reply(&stranger, &[])
            },
            now(),
        );
        assert!(!t.is_participant("eve@other.example"));
        assert_eq!(
            notes(&t),
            ["eve@other.example wrote in this thread but is not a participant; not added"]
        );
        assert_eq!(effects.notify, Some("Customer reply"));
    }

    #[test]
    fn a_flood_is_noted_and_tells_nobody() {
        let mut t = ticket(Status::Open);
        let jane = Address::new(None, "jane@acme.example");
        let effects = customer_reply(
            &mut t,
            &Reply {
                flood: Some("jane@acme.example sent more than 20 mails"),
                ..reply(&jane, &[])
            },
            now(),
        );
        assert_eq!(notes(&t), ["jane@acme.example sent more than 20 mails"]);
        assert_eq!(effects.notify, None);
    }

    #[test]
    fn machine_mail_on_a_ticket_changes_no_status_and_tells_nobody() {
        for kind in [MessageKind::Automatic, MessageKind::Bounce] {
            let mut t = ticket(Status::Resolved);
            let robot = Address::new(None, "mailer-daemon@mx.acme.example");
            let effects = customer_reply(
                &mut t,
                &Reply {
                    kind,
                    ..reply(&robot, &[])
                },
                now(),
            );
            assert_eq!(
                (t.status, effects.notify),
                (Status::Resolved, None),
                "{kind:?}"
            );
            assert!(!t.is_participant("mailer-daemon@mx.acme.example"));
        }
    }
}
