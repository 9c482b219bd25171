//! The ticket: its record, its status and priority, and its history of events.
//!
//! What a ticket goes through — status, priority, owner, tier, participants, time, notes — is
//! changed by the methods here, each change an [`Event`] with who and when, so `tickets show`
//! can tell the whole story; the status methods move the SLA clock with them. The fields stay
//! public for what is not a change in its life: the identification set when it opens
//! (`crate::support::identify`), the SLA clock started then, and the views that read it.

use crate::core::address::Address;
use crate::core::service::sla::SlaClock;
use crate::core::str_enum::str_enum;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

str_enum! {
    /// Where a ticket stands.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Status {
        New => "new",
        Open => "open",
        Pending => "pending",
        Resolved => "resolved",
        Closed => "closed",
    }
    from_str: "status";
}

/// P1 (outage) to P4 (question).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Priority {
    P1,
    P2,
    P3,
    P4,
}

impl Priority {
    /// `P1` … `P4`: as plans name their targets, and as mails and reports show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::P1 => "P1",
            Priority::P2 => "P2",
            Priority::P3 => "P3",
            Priority::P4 => "P4",
        }
    }
}

/// One change in a ticket's life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at: DateTime<Utc>,
    /// Who caused it: a mail address, or `deskgate` for automatic changes.
    pub by: String,
    #[serde(flatten)]
    pub change: Change,
}

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Change {
    Created {
        message_id: String,
    },
    Status {
        from: Status,
        to: Status,
    },
    Priority {
        from: Priority,
        to: Priority,
    },
    /// Owner by staff login; None means unowned.
    Owner {
        from: Option<String>,
        to: Option<String>,
    },
    Tier {
        from: u8,
        to: u8,
    },
    TimeLogged {
        minutes: u32,
    },
    ParticipantAdded {
        address: String,
    },
    ParticipantRemoved {
        address: String,
    },
    /// An internal note: never shown to the customer.
    Note {
        text: String,
    },
}

/// The ticket record. Messages are stored beside it, keyed by ticket and sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    #[serde(rename = "ref")]
    pub reference: String,
    pub desk: String,
    pub subject: String,
    pub status: Status,
    pub priority: Priority,
    pub requester: Address,
    /// Customer-side addresses that may write to this ticket and receive its replies.
    pub participants: Vec<Address>,
    pub language: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Message-ID of the mail that opened the ticket: the root of its thread.
    pub root_message_id: String,
    /// Message-IDs of the thread, oldest first (capped), for References in what we send.
    pub thread: Vec<String>,
    pub message_count: u32,
    /// Staff login of the owner.
    #[serde(default)]
    pub owner: Option<String>,
    /// The support tier working the ticket (1 customer support … 3 operations engineering).
    #[serde(default = "first_tier")]
    pub tier: u8,
    /// Expert time logged with `#time`, in minutes.
    #[serde(default)]
    pub minutes_logged: u32,
    /// Logins of staff who wrote on the ticket (they are told of internal notes).
    #[serde(default)]
    pub staff: Vec<String>,
    /// Message-ID of the customer's latest mail: what an engineer's answer replies to.
    #[serde(default)]
    pub last_customer_message_id: Option<String>,
    /// The customer account, when the requester is known (see `core::service::accounts`).
    #[serde(default)]
    pub account: Option<String>,
    /// The partner that manages the account, when there is one: the ticket is in its view.
    #[serde(default)]
    pub partner: Option<String>,
    /// Who the requester is to us.
    #[serde(default)]
    pub identity: RequesterIdentity,
    /// The support plan whose targets apply.
    #[serde(default)]
    pub plan: Option<String>,
    /// False while the priority is only proposed from the mail's words; an engineer's
    /// `#priority` confirms it.
    #[serde(default = "confirmed")]
    pub priority_confirmed: bool,
    /// The SLA clock, when the plan has targets for the priority.
    #[serde(default)]
    pub sla: Option<SlaClock>,
    /// The instant under which the ticket sits in the store's timer queue (its next SLA notice).
    #[serde(default)]
    pub sla_timer: Option<DateTime<Utc>>,
    pub events: Vec<Event>,
}

fn first_tier() -> u8 {
    1
}

fn confirmed() -> bool {
    true
}

/// Who the requester is to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequesterIdentity {
    /// A registered contact of the ticket's account.
    Contact,
    /// Writes from a known account's domain, but is not a registered contact.
    Unregistered,
    /// Belongs to no account we know: the ticket is unverified.
    #[default]
    Unverified,
    /// A contact of an account supported by its partner: redirected there.
    PartnerRedirect,
}

/// The highest tier: operations engineering, the last point of escalation.
pub const LAST_TIER: u8 = 3;

/// How many Message-IDs a ticket keeps for References headers (root plus the latest ones).
const THREAD_KEEP: usize = 20;

/// What a ticket is opened with.
#[derive(Debug, Clone)]
pub struct Opening<'a> {
    pub reference: String,
    pub desk: &'a str,
    pub language: &'a str,
    /// The display subject (prefixes already removed).
    pub subject: &'a str,
    pub requester: Address,
    /// Other customer-side addresses of the first mail (To/Cc, desks excluded).
    pub others: &'a [Address],
    pub message_id: &'a str,
}

impl Ticket {
    /// Opens a ticket from its first mail.
    pub fn open(o: Opening<'_>, now: DateTime<Utc>) -> Ticket {
        let Opening {
            reference,
            desk,
            language,
            subject,
            requester,
            others,
            message_id,
        } = o;
        let mut participants = vec![requester.clone()];
        for a in others {
            if !participants.iter().any(|p| p.email == a.email) {
                participants.push(a.clone());
            }
        }
        Ticket {
            reference,
            desk: desk.to_string(),
            subject: subject.to_string(),
            status: Status::New,
            priority: Priority::P3,
            requester: requester.clone(),
            participants,
            language: language.to_string(),
            created_at: now,
            updated_at: now,
            root_message_id: message_id.to_string(),
            thread: vec![message_id.to_string()],
            message_count: 0,
            owner: None,
            tier: 1,
            minutes_logged: 0,
            staff: Vec::new(),
            last_customer_message_id: Some(message_id.to_string()),
            account: None,
            partner: None,
            identity: RequesterIdentity::Unverified,
            plan: None,
            priority_confirmed: true,
            sla: None,
            sla_timer: None,
            events: vec![Event {
                at: now,
                by: requester.email,
                change: Change::Created {
                    message_id: message_id.to_string(),
                },
            }],
        }
    }

    /// True when `email` is the requester or another participant.
    pub fn is_participant(&self, email: &str) -> bool {
        self.participants.iter().any(|p| p.email == email)
    }

    /// Records that a message joined the thread.
    pub fn push_thread_id(&mut self, message_id: &str, now: DateTime<Utc>) {
        if !self.thread.iter().any(|m| m == message_id) {
            self.thread.push(message_id.to_string());
            if self.thread.len() > THREAD_KEEP {
                // Keep the root: clients thread on it.
                self.thread.remove(1);
            }
        }
        self.message_count += 1;
        self.updated_at = now;
    }

    /// Sets the status, recording the change; does nothing when it is already `to`.
    pub fn set_status(&mut self, to: Status, by: &str, now: DateTime<Utc>) {
        if self.status == to {
            return;
        }
        self.events.push(Event {
            at: now,
            by: by.to_string(),
            change: Change::Status {
                from: self.status,
                to,
            },
        });
        let from = self.status;
        self.status = to;
        self.updated_at = now;
        // The SLA clock follows the status: it stands still while the customer is awaited and
        // once the service is restored, and runs again when the ticket comes back.
        if let Some(sla) = self.sla.as_mut() {
            let done = |s: Status| matches!(s, Status::Resolved | Status::Closed);
            if from == Status::Pending {
                sla.resume(now);
            }
            if done(from) && !done(to) {
                sla.reopened(now);
            }
            if done(to) && !done(from) {
                sla.restored(now);
            }
            if to == Status::Pending {
                sla.pause(now);
            }
        }
    }

    /// Adds a customer-side participant, recording the change.
    pub fn add_participant(&mut self, address: &Address, by: &str, now: DateTime<Utc>) {
        if address.email.is_empty() || self.is_participant(&address.email) {
            return;
        }
        self.participants.push(address.clone());
        self.events.push(Event {
            at: now,
            by: by.to_string(),
            change: Change::ParticipantAdded {
                address: address.email.clone(),
            },
        });
    }

    /// Adds an internal note.
    pub fn note(&mut self, text: impl Into<String>, by: &str, now: DateTime<Utc>) {
        self.events.push(Event {
            at: now,
            by: by.to_string(),
            change: Change::Note { text: text.into() },
        });
        self.updated_at = now;
    }

    fn record(&mut self, by: &str, now: DateTime<Utc>, change: Change) {
        self.events.push(Event {
            at: now,
            by: by.to_string(),
            change,
        });
        self.updated_at = now;
    }

    /// An engineer sets the priority: a change, or the confirmation of a proposed one (both are
    /// recorded in the history).
    pub fn confirm_priority(&mut self, to: Priority, by: &str, now: DateTime<Utc>) {
        if self.priority == to && !self.priority_confirmed {
            self.record(by, now, Change::Priority { from: to, to });
        }
        self.priority_confirmed = true;
        self.set_priority(to, by, now);
    }

    pub fn set_priority(&mut self, to: Priority, by: &str, now: DateTime<Utc>) {
        if self.priority != to {
            let from = self.priority;
            self.priority = to;
            self.record(by, now, Change::Priority { from, to });
        }
    }

    pub fn set_owner(&mut self, to: Option<String>, by: &str, now: DateTime<Utc>) {
        if self.owner != to {
            let from = self.owner.take();
            self.owner = to.clone();
            self.record(by, now, Change::Owner { from, to });
        }
    }

    /// Moves the ticket to `to` (1..=LAST_TIER); returns false when it is already there or the
    /// tier does not exist.
    pub fn set_tier(&mut self, to: u8, by: &str, now: DateTime<Utc>) -> bool {
        if self.tier == to || !(1..=LAST_TIER).contains(&to) {
            return false;
        }
        let from = self.tier;
        self.tier = to;
        self.record(by, now, Change::Tier { from, to });
        true
    }

    pub fn log_time(&mut self, minutes: u32, by: &str, now: DateTime<Utc>) {
        self.minutes_logged = self.minutes_logged.saturating_add(minutes);
        self.record(by, now, Change::TimeLogged { minutes });
    }

    pub fn remove_participant(&mut self, email: &str, by: &str, now: DateTime<Utc>) -> bool {
        let before = self.participants.len();
        // The requester stays: they opened the ticket and receive its answers.
        self.participants
            .retain(|p| p.email != email || p.email == self.requester.email);
        let removed = self.participants.len() != before;
        if removed {
            self.record(
                by,
                now,
                Change::ParticipantRemoved {
                    address: email.to_string(),
                },
            );
        }
        removed
    }

    /// The customer mail an answer should reply to: their latest, else the one that opened it.
    pub fn last_customer_message_id(&self) -> Option<&str> {
        self.last_customer_message_id
            .as_deref()
            .or(Some(self.root_message_id.as_str()))
    }

    /// Remembers that a staff member worked on the ticket.
    pub fn involve_staff(&mut self, login: &str) {
        if !self.staff.iter().any(|s| s == login) {
            self.staff.push(login.to_string());
        }
    }

    /// A customer wrote again: a resolved or pending ticket opens again.
    pub fn customer_replied(&mut self, by: &str, now: DateTime<Utc>) {
        if matches!(self.status, Status::Resolved | Status::Pending) {
            self.set_status(Status::Open, by, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::service::sla::Targets;
    use chrono::Duration;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .expect("instant")
            .into()
    }

    fn ticket() -> Ticket {
        let mut t = Ticket::open(
            Opening {
                reference: "NL-000001".into(),
                desk: "nl",
                language: "en",
                subject: "link down",
                requester: Address::new(Some("Jane"), "jane@acme.example"),
                others: &[
                    Address::new(None, "ops@acme.example"),
                    Address::new(None, "jane@acme.example"),
                ],
                message_id: "m1@acme.example",
            },
            t0(),
        );
        t.sla = Some(SlaClock::start(
            t0(),
            Targets {
                first_response: Some(Duration::minutes(15)),
                restore: Some(Duration::hours(4)),
            },
        ));
        t
    }

    #[test]
    fn a_new_ticket_has_its_requester_once_and_its_opening_as_first_event() {
        let t = ticket();
        let emails: Vec<&str> = t.participants.iter().map(|p| p.email.as_str()).collect();
        assert_eq!(emails, ["jane@acme.example", "ops@acme.example"]);
        assert_eq!(
            (t.status, t.priority, t.tier),
            (Status::New, Priority::P3, 1)
        );
        assert_eq!(
            t.events[0].change,
            Change::Created {
                message_id: "m1@acme.example".into()
            }
        );
    }

    /// Each status change and what it does to the SLA clock: (to, paused after, restored after).
    #[test]
    fn the_sla_clock_follows_the_status() {
        let mut t = ticket();
        let cases = [
            (Status::Open, false, false),
            (Status::Pending, true, false),
            (Status::Open, false, false),
            (Status::Resolved, false, true),
            // Reopened: the restore clock runs again.
            (Status::Open, false, false),
            (Status::Pending, true, false),
            // Resolved while pending: the pause ends, the restore stops the clock.
            (Status::Resolved, false, true),
            (Status::Closed, false, true),
        ];
        for (i, (to, paused, restored)) in cases.into_iter().enumerate() {
            let at = t0() + Duration::minutes(10 * (i as i64 + 1));
            t.set_status(to, "alice@provider.example", at);
            let sla = t.sla.as_ref().expect("clock");
            assert_eq!(
                (
                    t.status,
                    sla.paused_since.is_some(),
                    sla.restored_at.is_some()
                ),
                (to, paused, restored),
                "step {i}: to {to:?}"
            );
        }
        let changes = t
            .events
            .iter()
            .filter(|e| matches!(e.change, Change::Status { .. }))
            .count();
        assert_eq!(changes, cases.len());
    }

    #[test]
    fn setting_the_same_status_records_nothing() {
        let mut t = ticket();
        t.set_status(Status::New, "alice@provider.example", t0());
        assert_eq!(t.events.len(), 1);
    }

    #[test]
    fn participants_come_once_and_the_requester_stays() {
        let mut t = ticket();
        let by = "alice@provider.example";
        t.add_participant(&Address::new(None, "ops@acme.example"), by, t0());
        t.add_participant(&Address::new(None, ""), by, t0());
        assert_eq!(t.participants.len(), 2, "no duplicate, no empty address");
        assert!(!t.remove_participant("jane@acme.example", by, t0()));
        assert!(t.remove_participant("ops@acme.example", by, t0()));
        assert!(!t.remove_participant("ops@acme.example", by, t0()));
        assert_eq!(t.participants.len(), 1);
    }

    #[test]
    fn tiers_stop_at_the_last_and_a_move_says_whether_it_happened() {
        let mut t = ticket();
        let by = "alice@provider.example";
        assert!(t.set_tier(2, by, t0()));
        assert!(!t.set_tier(2, by, t0()), "already there");
        assert!(!t.set_tier(LAST_TIER + 1, by, t0()), "no such tier");
        assert!(!t.set_tier(0, by, t0()));
        assert_eq!(t.tier, 2);
    }

    #[test]
    fn confirming_a_proposed_priority_is_recorded_even_when_it_stays() {
        let mut t = ticket();
        t.priority = Priority::P1;
        t.priority_confirmed = false;
        t.confirm_priority(Priority::P1, "alice@provider.example", t0());
        assert!(t.priority_confirmed);
        assert_eq!(
            t.events.last().map(|e| &e.change),
            Some(&Change::Priority {
                from: Priority::P1,
                to: Priority::P1
            })
        );
        let before = t.events.len();
        t.confirm_priority(Priority::P1, "alice@provider.example", t0());
        assert_eq!(
            t.events.len(),
            before,
            "a confirmed priority restated is no event"
        );
    }

    #[test]
    fn the_thread_keeps_its_root_when_it_grows_past_the_cap() {
        let mut t = ticket();
        for i in 0..THREAD_KEEP + 5 {
            t.push_thread_id(&format!("m{}@acme.example", i + 2), t0());
        }
        assert_eq!(t.thread.len(), THREAD_KEEP);
        assert_eq!(t.thread[0], "m1@acme.example");
        assert_eq!(t.message_count as usize, THREAD_KEEP + 5);
        t.push_thread_id("m1@acme.example", t0());
        assert_eq!(t.thread.len(), THREAD_KEEP, "a known id is not added twice");
    }
}
