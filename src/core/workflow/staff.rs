//! The staff side: what an authenticated engineer's commands may do to a ticket, what they
//! did, and whether the rest of the mail is an answer for the customer or an internal note.

use crate::core::address::Address;
use crate::core::mail::commands::{Command, CommandError};
use crate::core::service::ticket::{Status, Ticket, LAST_TIER};
use chrono::{DateTime, Utc};

/// What the staff directory says, for the checks and effects of commands.
pub trait StaffDirectory {
    /// The login of the staff member `who` names (a login or an address), if there is one.
    fn login_of(&self, who: &str) -> Option<String>;
    /// Whether a team works `tier`.
    fn has_team_for_tier(&self, tier: u8) -> bool;
}

/// The errors only the ticket and the directory can reveal: an unknown staff member, no tier
/// above the last, a tier nobody works, removing the requester.
pub fn command_errors(
    ticket: &Ticket,
    commands: &[(usize, Command)],
    directory: &dyn StaffDirectory,
) -> Vec<CommandError> {
    let mut errors = Vec::new();
    for (line, cmd) in commands {
        let err = |message: String| CommandError {
            line: *line,
            text: cmd.to_string(),
            message,
        };
        match cmd {
            Command::Assign(who) if directory.login_of(who).is_none() => {
                errors.push(err(format!(
                    "no staff member has the login or address {who:?}"
                )));
            }
            Command::Escalate if ticket.tier >= LAST_TIER => {
                errors.push(err(format!(
                    "the ticket is already at tier {LAST_TIER}, the last point of escalation"
                )));
            }
            Command::Tier(t) if !directory.has_team_for_tier(*t) => {
                errors.push(err(format!("no team works tier {t}")));
            }
            Command::CcRemove(a) if a == &ticket.requester.email => {
                errors.push(err(
                    "the requester cannot be removed from their own ticket".into()
                ));
            }
            _ => {}
        }
    }
    errors
}

/// The engineer who wrote.
#[derive(Debug, Clone, Copy)]
pub struct Author<'a> {
    pub login: &'a str,
    pub address: &'a str,
}

/// What applying the commands asks of the pipeline afterwards.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    /// `#note`: the whole mail is internal.
    pub internal: bool,
    /// The tier the ticket moved up to: its team is told.
    pub escalated_to: Option<u8>,
    /// The staff member it was assigned to: they are told (unless it is the author).
    pub assigned_to: Option<String>,
    /// A `#status` was given: the answer does not move the status itself.
    pub status_set: bool,
    /// The priority changed: the SLA targets follow.
    pub priority_changed: bool,
}

/// Applies checked commands (see [`command_errors`]) in order, each as an event by the author.
pub fn apply_commands(
    ticket: &mut Ticket,
    author: Author<'_>,
    commands: &[(usize, Command)],
    directory: &dyn StaffDirectory,
    now: DateTime<Utc>,
) -> Applied {
    let by = author.address;
    let mut applied = Applied::default();
    for (_, cmd) in commands {
        match cmd {
            Command::Status(s) => {
                ticket.set_status(*s, by, now);
                applied.status_set = true;
            }
            Command::Priority(p) => {
                ticket.confirm_priority(*p, by, now);
                applied.priority_changed = true;
            }
            Command::Assign(who) => {
                let login = directory.login_of(who);
                ticket.set_owner(login.clone(), by, now);
                applied.assigned_to = login;
            }
            Command::Take => ticket.set_owner(Some(author.login.to_string()), by, now),
            Command::Escalate => {
                let next = ticket.tier + 1;
                if ticket.set_tier(next, by, now) {
                    applied.escalated_to = Some(next);
                }
            }
            Command::Tier(t) => {
                if ticket.set_tier(*t, by, now) && *t > 1 {
                    applied.escalated_to = Some(*t);
                }
            }
            Command::Time { minutes } => ticket.log_time(*minutes, by, now),
            Command::Note => applied.internal = true,
            Command::CcAdd(a) => ticket.add_participant(&Address::new(None, a), by, now),
            Command::CcRemove(a) => {
                ticket.remove_participant(a, by, now);
            }
        }
    }
    ticket.involve_staff(author.login);
    applied
}

/// What becomes of the text of an engineer's mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Relayed to the customer: the ticket is answered.
    Relay,
    /// Kept as an internal note; `tell` when it has text for the ticket's staff to read.
    Note { tell: bool },
}

/// Decides what the new text (commands, quotes and signature removed) is: an internal note
/// with `#note` or when nothing is left; else an answer to the customer, which opens a new
/// ticket (unless a `#status` said otherwise) and stops the first-response clock.
pub fn answer(
    ticket: &mut Ticket,
    applied: &Applied,
    new_text: &str,
    author: Author<'_>,
    now: DateTime<Utc>,
) -> Answer {
    let empty = new_text.trim().is_empty();
    if applied.internal || empty {
        return Answer::Note { tell: !empty };
    }
    if !applied.status_set && ticket.status == Status::New {
        ticket.set_status(Status::Open, author.address, now);
    }
    if let Some(sla) = ticket.sla.as_mut() {
        sla.responded(now);
    }
    Answer::Relay
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::service::sla::{SlaClock, Targets};
    use crate::core::service::ticket::{Change, Opening, Priority};

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .expect("instant")
            .into()
    }

    /// alice and bob are staff; teams work tiers 1 and 2.
    struct Directory;
    impl StaffDirectory for Directory {
        fn login_of(&self, who: &str) -> Option<String> {
            match who {
                "alice" | "alice@provider.example" => Some("alice".into()),
                "bob" | "bob@provider.example" => Some("bob".into()),
                _ => None,
            }
        }
        fn has_team_for_tier(&self, tier: u8) -> bool {
            tier <= 2
        }
    }

    const ALICE: Author<'static> = Author {
        login: "alice",
        address: "alice@provider.example",
    };

    fn ticket() -> Ticket {
        let mut t = Ticket::open(
            Opening {
                reference: "NL-000001".into(),
                desk: "nl",
                language: "en",
                subject: "link down",
                requester: Address::new(None, "jane@acme.example"),
                others: &[Address::new(None, "ops@acme.example")],
                message_id: "m1@acme.example",
            },
            now(),
        );
        t.sla = Some(SlaClock::start(
            now(),
            Targets {
                first_response: Some(chrono::Duration::minutes(15)),
                restore: None,
            },
        ));
        t
    }

    fn cmds(list: &[Command]) -> Vec<(usize, Command)> {
        list.iter()
            .cloned()
            .enumerate()
            .map(|(i, c)| (i + 1, c))
            .collect()
    }

    #[test]
    fn commands_the_ticket_or_the_directory_refuse_name_their_line() {
        let mut at_top = ticket();
        at_top.tier = LAST_TIER;
        let cases: Vec<(Ticket, Command, Option<&str>)> = vec![
            (
                ticket(),
                Command::Assign("carol".into()),
                Some("no staff member has the login or address \"carol\""),
            ),
            (
                ticket(),
                Command::Assign("bob@provider.example".into()),
                None,
            ),
            (
                at_top,
                Command::Escalate,
                Some("the ticket is already at tier 3, the last point of escalation"),
            ),
            (ticket(), Command::Escalate, None),
            (ticket(), Command::Tier(3), Some("no team works tier 3")),
            (ticket(), Command::Tier(2), None),
            (
                ticket(),
                Command::CcRemove("jane@acme.example".into()),
                Some("the requester cannot be removed from their own ticket"),
            ),
            (ticket(), Command::CcRemove("ops@acme.example".into()), None),
        ];
        for (t, cmd, want) in cases {
            let errors = command_errors(&t, &cmds(&[Command::Take, cmd.clone()]), &Directory);
            let got: Vec<(usize, &str)> = errors
                .iter()
                .map(|e| (e.line, e.message.as_str()))
                .collect();
            let want: Vec<(usize, &str)> = want.map(|m| (2, m)).into_iter().collect();
            assert_eq!(got, want, "{cmd:?}");
        }
    }

    #[test]
    fn each_command_changes_the_ticket_as_an_event_by_its_author() {
        let mut t = ticket();
        let applied = apply_commands(
            &mut t,
            ALICE,
            &cmds(&[
                Command::Status(Status::Pending),
                Command::Priority(Priority::P1),
                Command::Assign("bob".into()),
                Command::Escalate,
                Command::Time { minutes: 45 },
                Command::CcAdd("noc@acme.example".into()),
                Command::CcRemove("ops@acme.example".into()),
            ]),
            &Directory,
            now(),
        );
        assert_eq!(
            applied,
            Applied {
                internal: false,
                escalated_to: Some(2),
                assigned_to: Some("bob".into()),
                status_set: true,
                priority_changed: true,
            }
        );
        assert_eq!(
            (
                t.status,
                t.priority,
                t.owner.as_deref(),
                t.tier,
                t.minutes_logged
            ),
            (Status::Pending, Priority::P1, Some("bob"), 2, 45)
        );
        let emails: Vec<&str> = t.participants.iter().map(|p| p.email.as_str()).collect();
        assert_eq!(emails, ["jane@acme.example", "noc@acme.example"]);
        assert_eq!(t.staff, ["alice"], "the author worked on it");
        let by_alice = t
            .events
            .iter()
            .filter(|e| e.by == "alice@provider.example")
            .count();
        assert_eq!(by_alice, 7, "one event per command: {:?}", t.events);
    }

    #[test]
    fn take_assigns_to_the_author_and_tier_one_is_no_escalation() {
        let mut t = ticket();
        t.tier = 2;
        let applied = apply_commands(
            &mut t,
            ALICE,
            &cmds(&[Command::Take, Command::Tier(1)]),
            &Directory,
            now(),
        );
        assert_eq!(t.owner.as_deref(), Some("alice"));
        assert_eq!(
            (t.tier, applied.escalated_to, applied.assigned_to),
            (1, None, None)
        );
    }

    #[test]
    fn the_text_left_is_an_answer_unless_it_is_empty_or_marked_a_note() {
        let cases = [
            (false, "Fixed: the optic was reseated.", Answer::Relay),
            (
                true,
                "Checked with the carrier.",
                Answer::Note { tell: true },
            ),
            (false, "  \n ", Answer::Note { tell: false }),
            (true, "", Answer::Note { tell: false }),
        ];
        for (internal, text, want) in cases {
            let mut t = ticket();
            let applied = Applied {
                internal,
                ..Applied::default()
            };
            assert_eq!(
                answer(&mut t, &applied, text, ALICE, now()),
                want,
                "{text:?}"
            );
            let responded = t.sla.as_ref().and_then(|s| s.responded_at).is_some();
            assert_eq!(
                responded,
                want == Answer::Relay,
                "only an answer stops the response clock"
            );
            assert_eq!(t.status == Status::Open, want == Answer::Relay);
        }
    }

    #[test]
    fn an_answer_keeps_a_status_the_engineer_set() {
        let mut t = ticket();
        apply_commands(
            &mut t,
            ALICE,
            &cmds(&[Command::Status(Status::Pending)]),
            &Directory,
            now(),
        );
        let applied = Applied {
            status_set: true,
            ..Applied::default()
        };
        assert_eq!(
            answer(
                &mut t,
                &applied,
                "Please send the light levels.",
                ALICE,
                now()
            ),
            Answer::Relay
        );
        assert_eq!(t.status, Status::Pending);
        let statuses: Vec<&Change> = t
            .events
            .iter()
            .map(|e| &e.change)
            .filter(|c| matches!(c, Change::Status { .. }))
            .collect();
        assert_eq!(statuses.len(), 1);
    }
}
