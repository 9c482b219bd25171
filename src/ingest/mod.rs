//! Ingest: one raw mail in, one committed ticket change out.
//!
//! This is the pipeline step that joins the pure core to the store and the templates. For each
//! mail it keeps the raw bytes, parses, deduplicates by Message-ID, classifies, decides who wrote
//! it (a customer, or an authenticated staff member), threads it, applies the change to the
//! ticket, and queues the mails the change causes — all in one store transaction together with
//! the desk's checkpoint, so a mail has all its effects or none. The caller flushes once per batch
//! and only then acknowledges the batch to the mailbox (group commit).
//!
//! A mail goes through two halves: `prepare.rs` (parse, classify, the staff proof, the new
//! text: no store, no lock, so it runs while the mailbox is still sending) and
//! [`Ingestor::apply`] (under the store's writer lock). The two paths of the second half live
//! beside this file: `customer.rs` (new tickets, replies, acknowledgements) and `staff.rs`
//! (engineers' replies, notes and commands); the mail either causes goes into the outbox
//! through [`crate::outgoing`].
//!
//! Owns: the `Ingestor` role. May import the core, the adapters, `context`, `support` and
//! `outgoing`; must not import the other roles (`broadcast`, `timers`, `delivery`), `daemon`
//! or the interface.

mod customer;
mod flowed;
mod html;
pub mod parse;
mod prepare;
mod staff;

pub use prepare::Prepared;

use crate::config::Desk;
use crate::context::Context;
use crate::core::mail::classify::{Classification, MailKind};
use crate::core::mail::subject;
use crate::core::mail::threading::{self, Candidates, Decision, TicketFacts};
use crate::core::mail::InboundMail;
use crate::core::service::message::{Direction, MessageKind, MessageRecord};
use crate::core::service::ticket::Ticket;
use crate::outgoing::{self, Draft, StaffNotice};
use crate::source::{Origin, RawMail};
use crate::store::{Checkpoint, MailLookups, QuarantineEntry, Shelf, StoreError, Txn};
use crate::timings::Phase;
use chrono::{DateTime, Utc};
use prepare::Sender;
use std::sync::Arc;

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

/// The ingest role: turns fetched mail into ticket changes. Shared by every desk's task.
pub struct Ingestor {
    pub ctx: Arc<Context>,
    mode: Mode,
}

/// What the ingest does besides the ticket change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Mail arriving now: acknowledged, told to staff, relayed, counted against the sender's
    /// flood limit; it happens at the clock's time.
    Live,
    /// A desk's history (`deskgate import`): every mail is threaded into tickets exactly as
    /// live, but happens at its own `Date:` (never later than the clock), and nothing enters
    /// the outbox: no acknowledgement, notice, relay or "too large" reply, and no flood
    /// breaker. SLA clocks start at the opening mail's date; the notices that fell due before
    /// the clock's now are marked as given without being sent (a breach in the past is
    /// history, still reported as missed), and the ones still ahead fire as usual.
    History,
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
    /// Its raw bytes and text packed by the preparing thread, taken when they are stored.
    packed: prepare::PackedAhead,
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
    pub fn new(ctx: Arc<Context>) -> Ingestor {
        Ingestor {
            ctx,
            mode: Mode::Live,
        }
    }

    /// An ingest for a desk's history (see [`Mode::History`]).
    pub fn history(ctx: Arc<Context>) -> Ingestor {
        Ingestor {
            ctx,
            mode: Mode::History,
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
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
        let _writer = self.ctx.store.write_lock();
        let now = self.ctx.clock.now();
        // History happens when it was written (a Date in the future is the sender's clock).
        let now = match self.mode {
            Mode::Live => now,
            Mode::History => prepared.parsed.date.filter(|d| *d <= now).unwrap_or(now),
        };
        let mut txn = self.ctx.store.txn();
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
        self.ctx.timings.time(Phase::Commit, || txn.commit())?;
        Ok(outcome)
    }

    /// Quarantines a mail that could not be processed at all (its processing panicked: a bug,
    /// which the fuzzer and the corpus tests are there to catch), with the reason, and moves the
    /// desk's checkpoint past it: one bad mail must not stop a desk, nor be fetched for ever.
    pub fn quarantine_unprocessable(
        &self,
        desk: &Desk,
        mail: &RawMail,
        reason: &str,
    ) -> Result<Outcome, StoreError> {
        let _writer = self.ctx.store.write_lock();
        let now = self.ctx.clock.now();
        let mut txn = self.ctx.store.txn();
        if let Origin::Imap { uid_validity, uid } = mail.origin {
            txn.put_checkpoint(
                &desk.name,
                Checkpoint {
                    uid_validity,
                    last_uid: uid,
                },
            );
        }
        let error = format!("processing failed: {reason}");
        self.keep_shelved(&mut txn, Shelf::Quarantine, desk, mail, None, &error, now)?;
        txn.commit()?;
        Ok(Outcome::Quarantined { error })
    }

    /// Processes a shelved mail again and takes it off the shelf; `None` when the shelf holds
    /// no entry `id` (an operator's typo, not a damaged store). Its Message-ID index entry
    /// (which made it a duplicate) goes first, in the same commit as the removal.
    pub fn retry_shelved(&self, shelf: Shelf, id: u64) -> Result<Option<Outcome>, StoreError> {
        let Some(entry) = self.ctx.store.shelved(shelf, id)? else {
            return Ok(None);
        };
        // An entry without its bytes is what a damaged store looks like.
        let Some(raw) = self.ctx.store.shelved_raw(shelf, id)? else {
            return Err(StoreError::Corrupt {
                key: format!("shelf {id}"),
                message: "the shelved mail's raw bytes are missing".into(),
            });
        };
        let desk = self
            .ctx
            .config
            .desk(&entry.desk)
            .or(self.ctx.config.desks.first())
            .cloned()
            .ok_or_else(|| StoreError::Corrupt {
                key: format!("shelf {id}"),
                message: format!("desk {} is not configured", entry.desk),
            })?;
        // An oversized mail's headers already opened or joined a ticket: the whole mail goes there.
        let known = match entry.message_id.as_str() {
            "" => None,
            mid => self
                .ctx
                .store
                .message_index(mid)?
                .map(|i| i.ticket)
                .filter(|t| !t.is_empty()),
        };
        {
            let _writer = self.ctx.store.write_lock();
            let mut txn = self.ctx.store.txn();
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
        // A mail kept by an import is history whoever retries it: it must not be answered now.
        let history;
        let ingestor = if Origin::is_history(&entry.origin) {
            history = Ingestor::history(self.ctx.clone());
            &history
        } else {
            self
        };
        let prepared = ingestor.prepare(&desk, mail);
        let outcome = ingestor.apply(&desk, prepared, known.as_deref())?;
        self.ctx.store.flush()?;
        tracing::info!(id, ?outcome, "shelved mail retried");
        Ok(Some(outcome))
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
            packed,
            ..
        } = prepared;
        let mail = &mail;
        if let Some(error) = parsed.parse_failed.take() {
            // An import is run again over the same files: its unreadable mails are indexed by
            // their digest, so the second run knows them (a mailbox never hands one out twice).
            let indexed = (self.mode == Mode::History).then_some(&parsed);
            if indexed.is_some() && self.ctx.store.message_index(&parsed.message_id)?.is_some() {
                return Ok(Outcome::Duplicate {
                    ticket: String::new(),
                });
            }
            return self.shelve(txn, Shelf::Quarantine, desk, mail, indexed, error, now);
        }
        span.record("message_id", parsed.message_id.as_str());
        for w in &parsed.warnings {
            tracing::warn!(warning = %w, "mail parsed with a problem");
        }
        let started = std::time::Instant::now();
        // On a database server each look-up is a round trip: those below are read in one.
        self.ctx.store.read_ahead(&MailLookups {
            message_ids: std::iter::once(parsed.message_id.as_str())
                .chain(parsed.referenced_ids())
                .collect(),
            sender: Some((desk.name.as_str(), parsed.from.email.as_str())),
            tickets: subject::find_refs(&parsed.subject),
        })?;
        if let Some(idx) = self.ctx.store.message_index(&parsed.message_id)? {
            tracing::info!(ticket = %idx.ticket, "duplicate Message-ID: already processed");
            // Fetched again because a crash took its raw bytes (`Store::recover_blobs`): keep
            // them again. (An oversized mail's bytes are in quarantine; mail we sent, and mail
            // kept aside, have none on a ticket.)
            if !oversized
                && !idx.ticket.is_empty()
                && idx.direction == Direction::In
                && self.ctx.store.raw(&parsed.message_id)?.is_none()
            {
                tracing::warn!(ticket = %idx.ticket, "raw mail lost in a crash kept again");
                txn.put_raw_packed(&parsed.message_id, packed.raw_or(&mail.raw));
            }
            return Ok(Outcome::Duplicate { ticket: idx.ticket });
        }
        self.ctx.timings.add(Phase::Thread, started.elapsed());
        let mut oversized_in = None;
        if oversized {
            let max = self.ctx.config.ingest.max_message_bytes;
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
            if self
                .ctx
                .config
                .staff_by_address(&parsed.from.email)
                .is_some()
            {
                return Ok(Outcome::Quarantined { error });
            }
        }
        // An oversized mail is understood from its note, now that it has one.
        let understood = match understood {
            Some(u) => u,
            None => self
                .ctx
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
                tracing::warn!(staff = %login, reason = %note, "mail from a staff address is not authenticated: it changes nothing");
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
            .map(|r| self.ctx.store.ticket(r))
            .transpose()?
            .flatten()
        {
            candidates.by_header = Some(facts(&t));
        }
        // A staff address may name any ticket; unauthenticated, its mail lands there as an
        // internal note that only staff see, and changes nothing else.
        candidates.staff_sender = staff_member.is_some() || unauthenticated_staff.is_some();
        let decision = threading::decide(&parsed, &candidates);
        self.ctx.timings.add(Phase::Thread, started.elapsed());
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
            packed,
        };
        self.ctx.timings.time(Phase::Apply, || {
            match (staff_member, unauthenticated_staff) {
                (Some(member), _) => self.staff_mail(txn, &incoming, &member, decision),
                (None, Some(note)) => self.unverified_staff_mail(txn, &incoming, decision, note),
                (None, None) => self.customer_mail(txn, &incoming, decision),
            }
        })
    }

    /// Looks up the tickets the mail's headers and subject point at.
    fn candidates(
        &self,
        mail: &InboundMail,
        reported: Option<&str>,
    ) -> Result<Candidates, StoreError> {
        let mut c = Candidates::default();
        for id in mail.referenced_ids().into_iter().chain(reported) {
            if let Some(idx) = self.ctx.store.message_index(id)? {
                if let Some(t) = self.ctx.store.ticket(&idx.ticket)? {
                    c.by_header = Some(facts(&t));
                    break;
                }
            }
        }
        for r in subject::find_refs(&mail.subject) {
            if let Some(t) = self.ctx.store.ticket(&r)? {
                c.by_subject.push(facts(&t));
            }
        }
        Ok(c)
    }

    fn load_ticket(&self, reference: &str) -> Result<Ticket, StoreError> {
        self.ctx
            .store
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
            txn.put_raw_packed(
                &parsed.message_id,
                incoming.packed.raw_or(&incoming.mail.raw),
            );
        }
        // The texts packed ahead are those of the parsed text; an engineer's answer keeps less.
        let new_text = prepare::stored_new_text(&text, &incoming.notice_text).map(str::to_string);
        let packed_texts = incoming.packed.texts.take().filter(|_| text == parsed.text);
        txn.put_message_packed(
            MessageRecord {
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
                new_text,
                text,
                attachments: parsed.attachments.clone(),
                desk: incoming.desk.name.clone(),
                outbox_id,
                classification: Some(incoming.class_text.clone()),
                warnings: parsed.warnings.clone(),
            },
            packed_texts,
        );
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
            // Shelved now, even when the mail is history.
            at: match self.mode {
                Mode::Live => now,
                Mode::History => self.ctx.clock.now(),
            },
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
}

/// The mails a change causes, and the ticket's save: where live and history part.
impl Ingestor {
    /// Renders and queues `draft` (see [`outgoing::queue`]); in history, nothing is made.
    fn queue(
        &self,
        txn: &mut Txn<'_>,
        ticket: Option<&mut Ticket>,
        desk: &Desk,
        draft: Draft,
        now: DateTime<Utc>,
    ) -> Result<Option<(u64, String)>, StoreError> {
        match self.mode {
            Mode::Live => outgoing::queue(&self.ctx, txn, ticket, desk, draft, now),
            Mode::History => Ok(None),
        }
    }

    /// Tells staff of a ticket event (see [`outgoing::notify`]); in history, nobody.
    fn notify(
        &self,
        txn: &mut Txn<'_>,
        ticket: &mut Ticket,
        desk: &Desk,
        notice: StaffNotice<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self.mode {
            Mode::Live => outgoing::notify(&self.ctx, txn, ticket, desk, notice, now),
            Mode::History => Ok(()),
        }
    }

    /// Stores the ticket with its timer entry. In history, the SLA notices that fell due
    /// before the clock's now are marked as given first, with a note saying so: they would
    /// tell staff today of deadlines missed long ago. `now` is the mail's time.
    fn save_ticket(&self, txn: &mut Txn<'_>, ticket: &mut Ticket, now: DateTime<Utc>) {
        if self.mode == Mode::History {
            let cal = self.ctx.support.calendar_of(ticket);
            let wall = self.ctx.clock.now();
            let past = match ticket.sla.as_mut() {
                Some(sla) => sla.take_due_notices(wall, &cal),
                None => Vec::new(),
            };
            if !past.is_empty() {
                let what: Vec<String> = past
                    .iter()
                    .map(|(target, level, at)| {
                        format!(
                            "{} {} due {}",
                            outgoing::target_label(*target),
                            level.as_str(),
                            at.format("%Y-%m-%d %H:%M UTC")
                        )
                    })
                    .collect();
                ticket.note(
                    format!(
                        "imported history: SLA notices due before the import were not sent ({})",
                        what.join("; ")
                    ),
                    "deskgate",
                    now,
                );
            }
        }
        self.ctx.support.save_ticket(txn, ticket);
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
