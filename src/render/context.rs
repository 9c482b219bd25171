//! What each template is given: one type per template, used by the code that sends the mail
//! and by `deskgate check` (with the samples here), so the two cannot drift apart.
//!
//! Every field is always present (handlebars runs in strict mode: a missing key is an error,
//! not an empty string). Changing a field here changes what templates may use: the shipped
//! templates in every language are rendered with these samples by `tests/templates.rs`.

use serde::Serialize;
use serde_json::Value;

/// The desk a mail is from: in every template.
#[derive(Debug, Clone, Serialize)]
pub struct DeskCtx {
    pub name: String,
    pub address: String,
    pub display_name: String,
}

/// A person, as templates greet them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PersonCtx {
    pub name: String,
    pub email: String,
}

/// `ack`: a new ticket was received.
#[derive(Debug, Clone, Serialize)]
pub struct Ack {
    #[serde(rename = "ref")]
    pub reference: String,
    pub subject: String,
    pub desk: DeskCtx,
    pub requester: PersonCtx,
    /// When the mail came in, in the requester's zone.
    pub received_at: String,
}

/// `too_large`: the mail was over the size limit and was not processed.
#[derive(Debug, Clone, Serialize)]
pub struct TooLarge {
    #[serde(rename = "ref")]
    pub reference: String,
    pub subject: String,
    pub desk: DeskCtx,
    pub requester: PersonCtx,
    pub size_mb: String,
    pub limit_mb: String,
}

/// `register`: the sender is not a known contact.
#[derive(Debug, Clone, Serialize)]
pub struct Register {
    #[serde(rename = "ref")]
    pub reference: String,
    pub subject: String,
    pub desk: DeskCtx,
    pub requester: PersonCtx,
}

/// The account a partner redirect is about.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AccountName {
    pub name: String,
}

/// The partner that supports an account.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PartnerCtx {
    pub name: String,
    pub support_name: String,
    pub support_address: String,
}

/// `partner_redirect`: the account is supported by its partner.
#[derive(Debug, Clone, Serialize)]
pub struct PartnerRedirect {
    #[serde(rename = "ref")]
    pub reference: String,
    pub subject: String,
    pub desk: DeskCtx,
    pub requester: PersonCtx,
    pub account: AccountName,
    pub partner: PartnerCtx,
}

/// The engineer who answered.
#[derive(Debug, Clone, Serialize)]
pub struct StaffName {
    pub name: String,
}

/// `reply`: an engineer's answer, relayed to the customer.
#[derive(Debug, Clone, Serialize)]
pub struct Reply {
    #[serde(rename = "ref")]
    pub reference: String,
    pub subject: String,
    pub desk: DeskCtx,
    pub requester: PersonCtx,
    pub staff: StaffName,
    pub text: String,
}

/// The ticket facts a notice to staff shows in its header block.
#[derive(Debug, Clone, Serialize)]
pub struct TicketFacts {
    pub status: String,
    /// `P2`, or `P2 (proposed)` until tier 1 confirms it.
    pub priority: String,
    pub tier: u8,
    pub owner: String,
    pub requester: String,
    pub requester_name: String,
    pub account: String,
    pub plan: String,
    /// The SLA due times still running, in the reader's zone.
    pub sla_due: String,
}

/// `notify`: a ticket event, told to staff.
#[derive(Debug, Clone, Serialize)]
pub struct Notify {
    #[serde(rename = "ref")]
    pub reference: String,
    pub subject: String,
    pub event_label: String,
    pub desk: DeskCtx,
    pub ticket: TicketFacts,
    pub author: PersonCtx,
    /// What the writer wrote: the new text, shown first.
    pub text: String,
    /// The whole mail's text when it holds more than `text` (quoted history, a signature);
    /// empty otherwise.
    pub full_text: String,
    /// The readers are staff, whose replies (and commands) work the ticket; false for others
    /// told of an event (an account's customer success manager).
    pub staff_reply: bool,
}

/// One command line that was refused.
#[derive(Debug, Clone, Serialize)]
pub struct CommandLineError {
    pub line: usize,
    pub text: String,
    pub message: String,
}

/// `command_error`: an engineer's mail was not applied.
#[derive(Debug, Clone, Serialize)]
pub struct CommandErrors {
    /// Empty when the mail named no ticket.
    #[serde(rename = "ref")]
    pub reference: String,
    pub subject: String,
    pub desk: DeskCtx,
    pub errors: Vec<CommandLineError>,
    pub help: String,
}

/// One open ticket in a handover.
#[derive(Debug, Clone, Serialize)]
pub struct HandoverTicket {
    #[serde(rename = "ref")]
    pub reference: String,
    pub subject: String,
    pub priority: String,
    pub status: String,
    pub owner: String,
    pub account: String,
    pub tier: u8,
    pub response_due: String,
    pub restore_due: String,
    pub breached: bool,
}

/// `handover`: the open P1/P2 tickets a team takes over at a shift end.
#[derive(Debug, Clone, Serialize)]
pub struct Handover {
    pub team: String,
    pub from_team: String,
    /// The shift end, in the team's zone.
    pub at: String,
    pub desk: DeskCtx,
    pub count: usize,
    pub tickets: Vec<HandoverTicket>,
}

/// A context as handlebars takes it. Our own plain structs always serialise (no map has a
/// key that is not a string), so a failure here is a bug, not bad input.
pub fn value<T: Serialize>(ctx: &T) -> Value {
    serde_json::to_value(ctx).expect("template contexts are plain structs and always serialise")
}

/// Sample contexts for `deskgate check` and the template tests.
pub mod samples {
    use super::*;

    pub fn desk() -> DeskCtx {
        DeskCtx {
            name: "nl".into(),
            address: "servicedesk.nl@example.net".into(),
            display_name: "Service Desk Amsterdam".into(),
        }
    }

    fn jane() -> PersonCtx {
        PersonCtx {
            name: "Jane Doe".into(),
            email: "jane@customer.example".into(),
        }
    }

    const REF: &str = "NL-000001";
    const SUBJECT: &str = "Link down in AM11";

    pub fn ack() -> Ack {
        Ack {
            reference: REF.into(),
            subject: SUBJECT.into(),
            desk: desk(),
            requester: jane(),
            received_at: "2026-11-23 19:40 CET".into(),
        }
    }

    pub fn reply() -> Reply {
        Reply {
            reference: REF.into(),
            subject: SUBJECT.into(),
            desk: desk(),
            requester: jane(),
            staff: StaffName {
                name: "Alice Martin".into(),
            },
            text: "We replaced the optic.\n\nPlease check on your side.".into(),
        }
    }

    pub fn too_large() -> TooLarge {
        TooLarge {
            reference: REF.into(),
            subject: SUBJECT.into(),
            desk: desk(),
            requester: jane(),
            size_mb: "31.4".into(),
            limit_mb: "25".into(),
        }
    }

    pub fn register() -> Register {
        Register {
            reference: REF.into(),
            subject: SUBJECT.into(),
            desk: desk(),
            requester: jane(),
        }
    }

    pub fn partner_redirect() -> PartnerRedirect {
        PartnerRedirect {
            reference: REF.into(),
            subject: SUBJECT.into(),
            desk: desk(),
            requester: jane(),
            account: AccountName {
                name: "Shop Ltd".into(),
            },
            partner: PartnerCtx {
                name: "Reseller BV".into(),
                support_name: "Reseller Support".into(),
                support_address: "support@reseller.example".into(),
            },
        }
    }

    pub fn handover() -> Handover {
        Handover {
            team: "css-americas".into(),
            from_team: "css-emea".into(),
            at: "2026-11-27 19:00 CET".into(),
            desk: desk(),
            count: 1,
            tickets: vec![HandoverTicket {
                reference: REF.into(),
                subject: "Link down".into(),
                priority: "P1".into(),
                status: "open".into(),
                owner: "alice".into(),
                account: "acme".into(),
                tier: 2,
                response_due: String::new(),
                restore_due: "2026-11-28 03:50 CET".into(),
                breached: false,
            }],
        }
    }

    pub fn notify() -> Notify {
        Notify {
            reference: REF.into(),
            subject: SUBJECT.into(),
            event_label: "New ticket".into(),
            desk: desk(),
            ticket: TicketFacts {
                status: "new".into(),
                priority: "P3".into(),
                tier: 1,
                owner: String::new(),
                requester: "jane@customer.example".into(),
                requester_name: "Jane Doe".into(),
                account: String::new(),
                plan: String::new(),
                sla_due: String::new(),
            },
            author: jane(),
            text: "Our link is down.".into(),
            full_text: String::new(),
            staff_reply: true,
        }
    }

    pub fn command_errors() -> CommandErrors {
        CommandErrors {
            reference: REF.into(),
            subject: SUBJECT.into(),
            desk: desk(),
            errors: vec![CommandLineError {
                line: 2,
                text: "#stauts pending".into(),
                message: "unknown command".into(),
            }],
            help: "#status new|open|pending|resolved|closed".into(),
        }
    }
}
