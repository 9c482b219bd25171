//! Ingest: one raw mail in, one committed ticket change out.
//!
//! This is the pipeline step that joins the pure core to the store and the templates. For each
//! mail it keeps the raw bytes, parses, deduplicates by Message-ID, classifies, decides who wrote
//! it (a customer, or an authenticated staff member), threads it, applies the change to the
//! ticket, and queues the mails the change causes — all in one store transaction together with
//! the desk's checkpoint, so a mail has all its effects or none. The caller flushes once per batch
//! and only then acknowledges the batch to the mailbox (group commit).
//!
//! The two paths live beside this file: `customer.rs` (new tickets, replies, acknowledgements)
//! and `staff.rs` (engineers' replies, notes and commands); `outgoing.rs` renders, composes and
//! queues every mail either path sends.

mod customer;
mod outgoing;
pub mod parse;
mod prepare;
mod service;
mod staff;
mod timers;
pub mod timings;

pub use prepare::Prepared;
pub use timers::TimerReport;

use crate::clock::Clock;
use crate::config::{Config, Desk};
use crate::core::mail::classify::{Classification, MailKind};
use crate::core::mail::subject;
use crate::core::mail::threading::{self, Candidates, Decision, TicketFacts};
use crate::core::mail::InboundMail;
use crate::core::service::message::{Direction, MessageKind, MessageRecord};
use crate::core::service::ticket::Ticket;
use crate::render::Templates;
use crate::source::{Origin, RawMail};
use crate::store::{Checkpoint, QuarantineEntry, Shelf, Store, StoreError, Txn};
use chrono::{DateTime, Utc};
use prepare::Sender;
use std::sync::Arc;
use timings::{Phase, Timings};

/// What became of one mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The Message-ID was already known: nothing changed.
    Duplicate { ticket: String },
    /// A new ticket; `acknowledged` says whether an acknowledgement was queued.
    Created { ticket: String, acknowledged: bool },
    /// Added to an existing ticket.
    Appended { ticket: String, reopened: bool },
    /// Kept aside: it belongs to no ticket and needs no answer.
    Aside { reason: String },
    /// Could not be processed: kept with its error.
    Quarantined { error: String },
}

impl Outcome {
    pub fn ticket(&self) -> Option<&str> {
        match self {
            Outcome::Duplicate { ticket }
            | Outcome::Created { ticket, .. }
            | Outcome::Appended { ticket, .. } => Some(ticket),
            _ => None,
        }
    }
}

/// Everything ingest needs, shared by every desk's task.
pub struct Ingestor {
    pub store: Store,
    pub templates: Arc<Templates>,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    own_domains: Vec<String>,
    desk_addresses: Vec<String>,
    /// The accounts directory; replaced as a whole when the accounts file is reloaded.
    accounts: std::sync::RwLock<Arc<crate::core::service::accounts::Directory>>,
    /// Every plan (defaults merged with the config's), computed once.
    plans: Vec<crate::config::Plan>,
    /// Business calendars by name (the plans' "calendar" key).
    calendars: std::collections::HashMap<String, crate::core::service::calendar::Calendar>,
    /// Held for a whole broadcast pass (see `crate::broadcast::run_due`).
    broadcasting: std::sync::Mutex<crate::broadcast::PassMemory>,
    /// Woken when a long job (a broadcast) has made part of its mail durable in the outbox, so
    /// the delivery task starts sending while the rest is still being queued.
    outbox_waker: std::sync::OnceLock<Arc<tokio::sync::Notify>>,
    /// Where ingest spends its time (see [`timings`]).
    pub timings: Timings,
}

/// One mail being processed: where it came from, what it says, what kind it is.
struct Incoming<'a> {
    desk: &'a Desk,
    mail: &'a RawMail,
    parsed: InboundMail,
    class: Classification,
    /// The classification as a line for the message record: kind and the signals seen.
    class_text: String,
    /// Set when the mail was too large to process: its size and its quarantine id. Only its
    /// headers were read; the customer is told, and the raw mail waits in quarantine.
    oversized: Option<(usize, u64)>,
    now: DateTime<Utc>,
    /// What staff are shown of it (see [`prepare::notice_text`]).
    notice_text: String,
    /// The priority its words suggest, for a new ticket.
    proposed_priority: Option<crate::core::service::ticket::Priority>,
}

impl Incoming<'_> {
    fn message_kind(&self) -> MessageKind {
        match self.class.kind {
            MailKind::Human => MessageKind::Customer,
            MailKind::Bounce => MessageKind::Bounce,
            _ => MessageKind::Automatic,
        }
    }
}

impl Ingestor {
    pub fn new(
        store: Store,
        templates: Arc<Templates>,
        config: Arc<Config>,
        clock: Arc<dyn Clock>,
    ) -> Ingestor {
        let own_domains = vec![config.message_id_domain()];
        let desk_addresses = config
            .desks
            .iter()
            .map(|d| d.address.to_ascii_lowercase())
            .collect();
        let plans = config.plans();
        let calendars = config
            .calendars
            .iter()
            .filter_map(|c| {
                let cal = crate::core::service::calendar::Calendar::parse(
                    &c.timezone,
                    &c.hours,
                    &c.days,
                    &c.holidays,
                )
                .ok()?;
                Some((c.name.clone(), cal))
            })
            .collect();
        Ingestor {
            store,
            templates,
            config,
            clock,
            own_domains,
            desk_addresses,
            accounts: std::sync::RwLock::new(Arc::default()),
            plans,
            calendars,
            broadcasting: std::sync::Mutex::default(),
            outbox_waker: std::sync::OnceLock::new(),
            timings: Timings::default(),
        }
    }

    /// Names the delivery task's wake-up (the daemon does, once).
    pub fn set_outbox_waker(&self, waker: Arc<tokio::sync::Notify>) {
        let _ = self.outbox_waker.set(waker);
    }

    /// Tells the delivery task that durable outbox entries are waiting.
    pub(crate) fn outbox_changed(&self) {
        if let Some(w) = self.outbox_waker.get() {
            w.notify_one();
        }
    }

    /// Taken by a broadcast pass, so two passes never queue the same recipient twice.
    pub(crate) fn broadcast_lock(&self) -> std::sync::MutexGuard<'_, crate::broadcast::PassMemory> {
        // A pass that panicked left nothing half-written (batches are atomic): carry on.
        self.broadcasting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Processes one mail from `desk` and commits its effects (durable after the next flush).
    /// Only a store failure is an error; anything wrong with the mail itself is an [`Outcome`].
    /// The same as [`Ingestor::prepare`] then [`Ingestor::apply`].
    pub fn process(&self, desk: &Desk, mail: &RawMail) -> Result<Outcome, StoreError> {
        let prepared = self.prepare(desk, mail.clone());
        self.apply(desk, prepared, None)
    }

    /// The second half of ingest, under the store's writer lock: the duplicate check, threading,
    /// the ticket change and the mails it causes, committed as one transaction with the desk's
    /// checkpoint. `known_ticket` is the ticket the mail is known to belong to (a retried mail
    /// whose headers were already recorded there).
    pub fn apply(
        &self,
        desk: &Desk,
        prepared: Prepared,
        known_ticket: Option<&str>,
    ) -> Result<Outcome, StoreError> {
        debug_assert_eq!(prepared.desk, desk.name);
        let _writer = self.store.write_lock();
        let now = self.clock.now();
        let mut txn = self.store.txn();
        if let Origin::Imap { uid_validity, uid } = prepared.mail.origin {
            txn.put_checkpoint(
                &desk.name,
                Checkpoint {
                    uid_validity,
                    last_uid: uid,
                },
            );
        }
        let span = tracing::info_span!("mail", desk = %desk.name, origin = %prepared.mail.origin, message_id = tracing::field::Empty, ticket = tracing::field::Empty);
        let _enter = span.enter();
        let outcome = self.decide_and_apply(&mut txn, desk, prepared, now, &span, known_ticket)?;
        self.timings.time(Phase::Commit, || txn.commit())?;
        Ok(outcome)
    }

    /// Processes a shelved mail again and takes it off the shelf. Its Message-ID index entry
    /// (which made it a duplicate) goes first, in the same commit as the removal.
    pub fn retry_shelved(&self, shelf: Shelf, id: u64) -> Result<Outcome, StoreError> {
        let (Some(entry), Some(raw)) = (
            self.store.shelved(shelf, id)?,
            self.store.shelved_raw(shelf, id)?,
        ) else {
            return Err(StoreError::Corrupt {
                key: format!("shelf {id}"),
                message: "no such shelved mail".into(),
            });
        };
        let desk = self
            .config
            .desk(&entry.desk)
            .or(self.config.desks.first())
            .cloned()
            .ok_or_else(|| StoreError::Corrupt {
                key: format!("shelf {id}"),
                message: format!("desk {} is not configured", entry.desk),
            })?;
        // An oversized mail's headers already opened or joined a ticket: the whole mail goes there.
        let known = match entry.message_id.as_str() {
            "" => None,
            mid => self
                .store
                .message_index(mid)?
                .map(|i| i.ticket)
                .filter(|t| !t.is_empty()),
        };
        {
            let _writer = self.store.write_lock();
            let mut txn = self.store.txn();
            txn.delete_shelved(shelf, id);
            if !entry.message_id.is_empty() {
                txn.delete_message_index(&entry.message_id);
            }
            txn.commit()?;
        }
        let mail = RawMail {
            origin: Origin::Maildir {
                file: format!("shelf {id}"),
            },
            raw,
        };
        let prepared = self.prepare(&desk, mail);
        let outcome = self.apply(&desk, prepared, known.as_deref())?;
        self.store.flush()?;
        tracing::info!(id, ?outcome, "shelved mail retried");
        Ok(outcome)
    }

    fn decide_and_apply(
        &self,
        txn: &mut Txn<'_>,
        desk: &Desk,
        prepared: Prepared,
        now: DateTime<Utc>,
        span: &tracing::Span,
        known_ticket: Option<&str>,
    ) -> Result<Outcome, StoreError> {
        let Prepared {
            mail,
            mut parsed,
            oversized,
            understood,
            ..
        } = prepared;
        let mail = &mail;
        if let Some(error) = parsed.parse_failed.take() {
            return self.shelve(txn, Shelf::Quarantine, desk, mail, None, error, now);
        }
        span.record("message_id", parsed.message_id.as_str());
        for w in &parsed.warnings {
            tracing::warn!(warning = %w, "mail parsed with a problem");
        }
        let started = std::time::Instant::now();
        if let Some(idx) = self.store.message_index(&parsed.message_id)? {
            tracing::info!(ticket = %idx.ticket, "duplicate Message-ID: already processed");
            // Fetched again because a crash took its raw bytes (`Store::recover_blobs`): keep
            // them again. (An oversized mail's bytes are in quarantine; mail we sent, and mail
            // kept aside, have none on a ticket.)
            if !oversized
                && !idx.ticket.is_empty()
                && idx.direction == crate::core::service::message::Direction::In
                && self.store.raw(&parsed.message_id)?.is_none()
            {
                tracing::warn!(ticket = %idx.ticket, "raw mail lost in a crash kept again");
                txn.put_raw(&parsed.message_id, &mail.raw);
            }
            return Ok(Outcome::Duplicate { ticket: idx.ticket });
        }
        self.timings.add(Phase::Thread, started.elapsed());
        let mut oversized_in = None;
        if oversized {
            let max = self.config.ingest.max_message_bytes;
            let error = format!(
                "mail of {} bytes exceeds ingest.max_message_bytes ({max})",
                mail.raw.len()
            );
            let id = self.keep_shelved(
                txn,
                Shelf::Quarantine,
                desk,
                mail,
                Some(&parsed),
                &error,
                now,
            )?;
            parsed.text = format!(
                "[deskgate: this mail of {:.1} MB exceeded the limit of {:.1} MB and was not processed; it is kept in quarantine as {id}]",
                mail.raw.len() as f64 / 1e6,
                max as f64 / 1e6
            );
            parsed.attachments.clear();
            oversized_in = Some((mail.raw.len(), id));
            if self.config.staff_by_address(&parsed.from.email).is_some() {
                return Ok(Outcome::Quarantined { error });
            }
        }
        // An oversized mail is understood from its note, now that it has one.
        let understood = match understood {
            Some(u) => u,
            None => self
                .timings
                .time(Phase::Classify, || self.understand(&parsed)),
        };
        let class_text = understood.class_text;
        if understood.class.kind == MailKind::OwnMail {
            let reason = format!("our own mail came back ({class_text})");
            return self.shelve(txn, Shelf::Aside, desk, mail, Some(&parsed), reason, now);
        }
        // Who wrote it: a staff address proves nothing until the mail is authenticated.
        let (staff_member, unauthenticated_staff) = match understood.sender {
            Sender::Customer => (None, None),
            Sender::Staff { member, reason } => {
                tracing::info!(staff = %member.login, reason = %reason, "staff mail");
                (Some(member), None)
            }
            Sender::UnverifiedStaff { login, note } => {
                tracing::warn!(staff = %login, reason = %note, "mail from a staff address is not authenticated: treated as ordinary mail, commands ignored");
                (None, Some(note))
            }
        };
        let class = understood.class;

        let started = std::time::Instant::now();
        // A bounce rarely says In-Reply-To; the original's Message-ID inside the report does.
        let reported = class
            .bounce
            .as_ref()
            .and_then(|b| b.original_message_id.clone())
            .or_else(|| parsed.original_message_id.clone());
        let mut candidates = self.candidates(&parsed, reported.as_deref())?;
        if let Some(t) = known_ticket
            .map(|r| self.store.ticket(r))
            .transpose()?
            .flatten()
        {
            candidates.by_header = Some(facts(&t));
        }
        // A staff address may name any ticket; unauthenticated, its mail lands there as an ordinary
        // message that only staff see, with a warning noted.
        candidates.staff_sender = staff_member.is_some() || unauthenticated_staff.is_some();
        let decision = threading::decide(&parsed, &candidates);
        self.timings.add(Phase::Thread, started.elapsed());
        if let Decision::Join { reference, .. } = &decision {
            span.record("ticket", reference.as_str());
        }
        if oversized_in.is_some() && class.kind != MailKind::Human {
            return Ok(Outcome::Quarantined {
                error: format!("oversized {}", class.kind.as_str()),
            });
        }
        let incoming = Incoming {
            desk,
            mail,
            parsed,
            class,
            class_text,
            oversized: oversized_in,
            now,
            notice_text: understood.notice_text,
            proposed_priority: understood.proposed,
        };
        self.timings.time(Phase::Apply, || match staff_member {
            Some(member) => self.staff_mail(txn, &incoming, &member, decision),
            None => self.customer_mail(txn, &incoming, decision, unauthenticated_staff),
        })
    }

    fn is_desk(&self, email: &str) -> bool {
        self.desk_addresses.iter().any(|d| d == email)
    }

    /// Looks up the tickets the mail's headers and subject point at.
    fn candidates(
        &self,
        mail: &InboundMail,
        reported: Option<&str>,
    ) -> Result<Candidates, StoreError> {
        let mut c = Candidates::default();
        for id in mail.referenced_ids().into_iter().chain(reported) {
            if let Some(idx) = self.store.message_index(id)? {
                if let Some(t) = self.store.ticket(&idx.ticket)? {
                    c.by_header = Some(facts(&t));
                    break;
                }
            }
        }
        for r in subject::find_refs(&mail.subject) {
            if let Some(t) = self.store.ticket(&r)? {
                c.by_subject.push(facts(&t));
            }
        }
        Ok(c)
    }

    fn load_ticket(&self, reference: &str) -> Result<Ticket, StoreError> {
        self.store
            .ticket(reference)?
            .ok_or_else(|| StoreError::Corrupt {
                key: format!("t/{reference}"),
                message: "indexed ticket is missing".into(),
            })
    }

    /// Records the inbound mail on the ticket (raw bytes, message record, Message-ID index).
    fn append_message(
        &self,
        txn: &mut Txn<'_>,
        ticket: &mut Ticket,
        incoming: &Incoming<'_>,
        kind: MessageKind,
        text: String,
        outbox_id: Option<u64>,
    ) {
        let parsed = &incoming.parsed;
        ticket.push_thread_id(&parsed.message_id, incoming.now);
        if incoming.oversized.is_none() {
            // An oversized mail's bytes are in quarantine already; one copy is enough.
            txn.put_raw(&parsed.message_id, &incoming.mail.raw);
        }
        txn.put_message(&MessageRecord {
            ticket: ticket.reference.clone(),
            seq: ticket.message_count,
            message_id: parsed.message_id.clone(),
            direction: Direction::In,
            kind,
            from: parsed.from.clone(),
            to: parsed.to.clone(),
            cc: parsed.cc.clone(),
            date: parsed.date.unwrap_or(incoming.now),
            subject: parsed.subject.clone(),
            text,
            attachments: parsed.attachments.clone(),
            desk: incoming.desk.name.clone(),
            outbox_id,
            classification: Some(incoming.class_text.clone()),
            warnings: parsed.warnings.clone(),
        });
    }

    /// Keeps a mail on a shelf (quarantine or aside) with the reason.
    #[allow(clippy::too_many_arguments)] // Mirrors QuarantineEntry's fields.
    fn shelve(
        &self,
        txn: &mut Txn<'_>,
        shelf: Shelf,
        desk: &Desk,
        mail: &RawMail,
        parsed: Option<&InboundMail>,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<Outcome, StoreError> {
        self.keep_shelved(txn, shelf, desk, mail, parsed, &reason, now)?;
        Ok(match shelf {
            Shelf::Quarantine => Outcome::Quarantined { error: reason },
            Shelf::Aside => Outcome::Aside { reason },
        })
    }

    /// Writes a mail to a shelf; returns its shelf id.
    #[allow(clippy::too_many_arguments)] // Mirrors QuarantineEntry's fields.
    fn keep_shelved(
        &self,
        txn: &mut Txn<'_>,
        shelf: Shelf,
        desk: &Desk,
        mail: &RawMail,
        parsed: Option<&InboundMail>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let id = txn.next_seq("shelf")?;
        let entry = QuarantineEntry {
            id,
            shelf,
            desk: desk.name.clone(),
            message_id: parsed.map(|p| p.message_id.clone()).unwrap_or_default(),
            from: parsed.map(|p| p.from.email.clone()).unwrap_or_default(),
            subject: parsed.map(|p| p.subject.clone()).unwrap_or_default(),
            origin: mail.origin.to_string(),
            error: reason.to_string(),
            at: now,
            size: mail.raw.len(),
        };
        txn.put_shelved(&entry, &mail.raw);
        if let Some(p) = parsed {
            // Index it so the same mail fetched again is recognised as a duplicate.
            txn.index_message_id(&p.message_id, "", Direction::In);
        }
        match shelf {
            Shelf::Quarantine => tracing::warn!(id, reason = %reason, "mail quarantined"),
            Shelf::Aside => tracing::info!(id, reason = %reason, "mail kept aside"),
        }
        Ok(id)
    }

    /// A time as `reader` sees it, in their time zone.
    fn local_time(&self, t: DateTime<Utc>, reader: &str) -> String {
        let zone = self.zone_of(reader);
        match zone.parse::<chrono_tz::Tz>() {
            Ok(tz) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string(),
            Err(_) => t.format("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }

    /// The time zone a reader sees times in: their team's (staff and team addresses), their
    /// account's (customers), else the deployment's.
    fn zone_of(&self, reader: &str) -> String {
        if let Some(team) = self
            .config
            .teams
            .iter()
            .find(|t| t.address.eq_ignore_ascii_case(reader))
        {
            return team.timezone.clone();
        }
        if let Some(team) = self
            .config
            .staff_by_address(reader)
            .and_then(|s| self.config.team(&s.team))
        {
            return team.timezone.clone();
        }
        let directory = self.directory();
        if let Some(account) = directory
            .identify(reader)
            .account()
            .and_then(|a| directory.account(a))
        {
            return account.timezone.clone();
        }
        self.config.general.timezone.clone()
    }
}

fn facts(t: &Ticket) -> TicketFacts {
    TicketFacts {
        reference: t.reference.clone(),
        status: t.status,
        participants: t.participants.iter().map(|p| p.email.clone()).collect(),
        domains: threading::admitted_domains(&t.requester.email),
    }
}
