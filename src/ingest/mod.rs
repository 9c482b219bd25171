//! Ingest: one raw mail in, one committed ticket change out.
//!
//! This is the pipeline step that joins the pure core to the store and the templates. For each
//! mail it keeps the raw bytes, parses, deduplicates by Message-ID, classifies, threads, applies
//! the change to the ticket, renders and queues the acknowledgement, and advances the desk's
//! checkpoint — all in one store transaction, so a mail has all its effects or none. The caller
//! flushes once per batch and only then acknowledges the batch to the mailbox (group commit).

pub mod parse;

use crate::clock::Clock;
use crate::config::{Config, Desk};
use crate::core::classify::{classify, ClassifyContext, MailKind};
use crate::core::mail::{Address, InboundMail};
use crate::core::message::{Direction, MessageKind, MessageRecord};
use crate::core::outbox::{OutboxEntry, OutboxState};
use crate::core::subject;
use crate::core::threading::{self, Candidates, Decision, TicketFacts};
use crate::core::ticket::{Opening, Ticket};
use crate::outbound::compose::{compose, new_message_id, OutgoingMail};
use crate::render::Templates;
use crate::source::{Origin, RawMail};
use crate::store::{Checkpoint, QuarantineEntry, Shelf, Store, StoreError, Txn};
use chrono::{DateTime, Utc};
use parse::ParseLimits;
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

/// Everything ingest needs, shared by every desk's task.
pub struct Ingestor {
    pub store: Store,
    pub templates: Arc<Templates>,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    own_domains: Vec<String>,
    desk_addresses: Vec<String>,
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
        Ingestor {
            store,
            templates,
            config,
            clock,
            own_domains,
            desk_addresses,
        }
    }

    /// Processes one mail from `desk` and commits its effects (durable after the next flush).
    /// Only a store failure is an error; anything wrong with the mail itself is an [`Outcome`].
    pub fn process(&self, desk: &Desk, mail: &RawMail) -> Result<Outcome, StoreError> {
        let _writer = self.store.write_lock();
        let now = self.clock.now();
        let mut txn = self.store.txn();
        if let Origin::Imap { uid_validity, uid } = mail.origin {
            txn.put_checkpoint(
                &desk.name,
                Checkpoint {
                    uid_validity,
                    last_uid: uid,
                },
            );
        }
        let span = tracing::info_span!("mail", desk = %desk.name, origin = %mail.origin, message_id = tracing::field::Empty, ticket = tracing::field::Empty);
        let _enter = span.enter();

        if mail.raw.len() > self.config.ingest.max_message_bytes {
            let error = format!(
                "mail of {} bytes exceeds ingest.max_message_bytes ({})",
                mail.raw.len(),
                self.config.ingest.max_message_bytes
            );
            return self.shelve(txn, Shelf::Quarantine, desk, mail, None, error, now);
        }

        let limits = ParseLimits::default();
        let parsed = std::panic::catch_unwind(|| parse::parse(&mail.raw, limits));
        let parsed = match parsed {
            Ok(p) => p,
            Err(_) => {
                return self.shelve(
                    txn,
                    Shelf::Quarantine,
                    desk,
                    mail,
                    None,
                    "the parser panicked on this mail".into(),
                    now,
                )
            }
        };
        span.record("message_id", parsed.message_id.as_str());
        for w in &parsed.warnings {
            tracing::warn!(warning = %w, "mail parsed with a problem");
        }

        if let Some(idx) = self.store.message_index(&parsed.message_id)? {
            tracing::info!(ticket = %idx.ticket, "duplicate Message-ID: already processed");
            txn.commit()?;
            return Ok(Outcome::Duplicate { ticket: idx.ticket });
        }

        let ctx = ClassifyContext {
            own_domains: &self.own_domains,
            desk_addresses: &self.desk_addresses,
        };
        let class = classify(&parsed, &ctx);
        let class_text = format!("{}: {}", class.kind.as_str(), class.reasons.join("; "));
        if class.kind == MailKind::OwnMail {
            return self.shelve(
                txn,
                Shelf::Aside,
                desk,
                mail,
                Some(&parsed),
                format!("our own mail came back ({class_text})"),
                now,
            );
        }

        // A bounce rarely says In-Reply-To; the original's Message-ID inside the report does.
        let reported = class
            .bounce
            .as_ref()
            .and_then(|b| b.original_message_id.clone())
            .or_else(|| parsed.original_message_id.clone());
        let candidates = self.candidates(&parsed, reported.as_deref())?;
        let decision = threading::decide(&parsed, &candidates);
        let kind = match class.kind {
            MailKind::Human => MessageKind::Customer,
            MailKind::Bounce => MessageKind::Bounce,
            _ => MessageKind::Automatic,
        };

        let outcome = match decision {
            Decision::Join {
                reference,
                add_sender,
                ..
            } => {
                let Some(mut ticket) = self.store.ticket(&reference)? else {
                    // The index names a ticket that is not there: treat the store as the truth.
                    return Err(StoreError::Corrupt {
                        key: format!("t/{reference}"),
                        message: "indexed ticket is missing".into(),
                    });
                };
                span.record("ticket", reference.as_str());
                let by = parsed.from.email.clone();
                let mut reopened = false;
                if kind == MessageKind::Customer {
                    let before = ticket.status;
                    ticket.customer_replied(&by, now);
                    reopened = before != ticket.status;
                    if add_sender {
                        ticket.add_participant(&parsed.from, &by, now);
                        for a in parsed.cc.iter().chain(parsed.to.iter()) {
                            if !self.is_desk(&a.email)
                                && threading::admitted_domains(&ticket.requester.email)
                                    .iter()
                                    .any(|d| d == a.domain())
                            {
                                ticket.add_participant(a, &by, now);
                            }
                        }
                    } else {
                        ticket.note(
                            format!(
                                "{by} wrote in this thread but is not a participant; not added"
                            ),
                            "deskgate",
                            now,
                        );
                    }
                }
                self.append_message(
                    &mut txn,
                    &mut ticket,
                    desk,
                    &parsed,
                    kind,
                    &class_text,
                    mail,
                    now,
                );
                txn.put_ticket(&ticket);
                tracing::info!(ticket = %reference, kind = ?kind, reopened, "mail added to ticket");
                Outcome::Appended {
                    ticket: reference,
                    reopened,
                }
            }
            Decision::New { notes, related } => {
                // A robot (a customer's monitoring, a purchase system) may open a ticket, which is
                // never acknowledged; other machine mail answers something or nothing.
                if kind != MessageKind::Customer && class.kind != MailKind::Robot {
                    let reason = format!("{class_text}; answers no known ticket");
                    return self.shelve(txn, Shelf::Aside, desk, mail, Some(&parsed), reason, now);
                }
                let n = txn.next_seq("ticket")?;
                let reference = format!("{}-{n:06}", desk.ref_prefix());
                span.record("ticket", reference.as_str());
                let requester = parsed
                    .reply_to
                    .clone()
                    .filter(|r| !r.email.is_empty() && !self.is_desk(&r.email))
                    .unwrap_or_else(|| parsed.from.clone());
                let others: Vec<Address> = parsed
                    .to
                    .iter()
                    .chain(parsed.cc.iter())
                    .filter(|a| !self.is_desk(&a.email) && a.email != requester.email)
                    .cloned()
                    .collect();
                let display_subject = subject::normalize(&parsed.subject);
                let opening = Opening {
                    reference: reference.clone(),
                    desk: &desk.name,
                    language: &desk.language,
                    subject: &display_subject,
                    requester,
                    others: &others,
                    message_id: &parsed.message_id,
                };
                let mut ticket = Ticket::open(opening, now);
                for note in &notes {
                    ticket.note(note.clone(), "deskgate", now);
                    tracing::warn!(ticket = %reference, "{note}");
                }
                if let Some(rel) = related.as_deref().filter(|r| {
                    notes.iter().any(|n| n.contains("not a participant")) && !r.is_empty()
                }) {
                    if let Some(mut other) = self.store.ticket(rel)? {
                        other.note(
                            format!("{} used this ticket's reference without being a participant; their mail opened [{reference}]", parsed.from.email),
                            "deskgate",
                            now,
                        );
                        txn.put_ticket(&other);
                    }
                }
                self.append_message(
                    &mut txn,
                    &mut ticket,
                    desk,
                    &parsed,
                    kind,
                    &class_text,
                    mail,
                    now,
                );
                let acknowledged = self.queue_ack(&mut txn, &mut ticket, desk, &parsed, now)?;
                txn.put_ticket(&ticket);
                tracing::info!(ticket = %reference, acknowledged, "new ticket");
                Outcome::Created {
                    ticket: reference,
                    acknowledged,
                }
            }
        };
        txn.commit()?;
        Ok(outcome)
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

    #[allow(clippy::too_many_arguments)] // One call site; a struct would only rename the list.
    fn append_message(
        &self,
        txn: &mut Txn<'_>,
        ticket: &mut Ticket,
        desk: &Desk,
        parsed: &InboundMail,
        kind: MessageKind,
        class_text: &str,
        mail: &RawMail,
        now: DateTime<Utc>,
    ) {
        ticket.push_thread_id(&parsed.message_id, now);
        txn.put_raw(&parsed.message_id, &mail.raw);
        txn.put_message(&MessageRecord {
            ticket: ticket.reference.clone(),
            seq: ticket.message_count,
            message_id: parsed.message_id.clone(),
            direction: Direction::In,
            kind,
            from: parsed.from.clone(),
            to: parsed.to.clone(),
            cc: parsed.cc.clone(),
            date: parsed.date.unwrap_or(now),
            subject: parsed.subject.clone(),
            text: parsed.text.clone(),
            attachments: parsed.attachments.clone(),
            desk: desk.name.clone(),
            outbox_id: None,
            classification: Some(class_text.to_string()),
            warnings: parsed.warnings.clone(),
        });
    }

    /// Renders and queues the acknowledgement of a new ticket. Returns false (with a note on the
    /// ticket) when it cannot be sent, which never stops the ticket from being created.
    fn queue_ack(
        &self,
        txn: &mut Txn<'_>,
        ticket: &mut Ticket,
        desk: &Desk,
        parsed: &InboundMail,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let to = ticket.requester.clone();
        if to.email.is_empty() || self.is_desk(&to.email) {
            ticket.note(
                "no acknowledgement: the mail has no usable sender address",
                "deskgate",
                now,
            );
            return Ok(false);
        }
        let ctx = serde_json::json!({
            "ref": ticket.reference,
            "subject": ticket.subject,
            "desk": {"name": desk.name, "address": desk.address, "display_name": desk.display_name()},
            "requester": {"name": to.name.clone().unwrap_or_default(), "email": to.email},
            "received_at": self.local_time(now),
        });
        let rendered = match self
            .templates
            .render("ack", &ticket.language, &desk.language, &ctx)
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "acknowledgement not rendered");
                ticket.note(format!("no acknowledgement: {e}"), "deskgate", now);
                return Ok(false);
            }
        };
        let tag = subject::tag(&ticket.reference);
        let subject_line = if rendered.subject.contains(&tag) {
            rendered.subject.clone()
        } else {
            format!("{tag} {}", rendered.subject)
        };
        let domain = self.config.message_id_domain();
        let message_id = new_message_id(Some(&ticket.reference), &domain);
        let mut references = parsed.references.clone();
        references.push(parsed.message_id.clone());
        let out = OutgoingMail {
            from: Address::new(Some(&desk.display_name()), &desk.address),
            to: vec![to.clone()],
            cc: vec![],
            reply_to: None,
            subject: subject_line.clone(),
            text: rendered.text.clone(),
            html: rendered.html.clone(),
            message_id: message_id.clone(),
            in_reply_to: Some(parsed.message_id.clone()),
            references,
            auto_submitted: Some("auto-replied"),
            attachments: vec![],
            loop_marker: domain,
            date: now,
        };
        let bytes = match compose(&out) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "acknowledgement not composed");
                ticket.note(format!("no acknowledgement: {e}"), "deskgate", now);
                return Ok(false);
            }
        };
        let id = txn.next_seq("outbox")?;
        let entry = OutboxEntry {
            id,
            ticket: Some(ticket.reference.clone()),
            kind: "ack".into(),
            from: desk.address.clone(),
            to: vec![to.email.clone()],
            subject: subject_line.clone(),
            message_id: message_id.clone(),
            state: OutboxState::Queued,
            attempts: 0,
            created_at: now,
            next_attempt_at: now,
            sent_at: None,
            last_error: None,
        };
        txn.put_outbox(&entry, Some(&bytes));
        ticket.push_thread_id(&message_id, now);
        txn.put_message(&MessageRecord {
            ticket: ticket.reference.clone(),
            seq: ticket.message_count,
            message_id,
            direction: Direction::Out,
            kind: MessageKind::Ack,
            from: out.from.clone(),
            to: out.to.clone(),
            cc: vec![],
            date: now,
            subject: subject_line,
            text: rendered.text,
            attachments: vec![],
            desk: desk.name.clone(),
            outbox_id: Some(id),
            classification: None,
            warnings: rendered.warnings,
        });
        Ok(true)
    }

    #[allow(clippy::too_many_arguments)] // Mirrors QuarantineEntry's fields.
    fn shelve(
        &self,
        mut txn: Txn<'_>,
        shelf: Shelf,
        desk: &Desk,
        mail: &RawMail,
        parsed: Option<&InboundMail>,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<Outcome, StoreError> {
        let id = txn.next_seq("shelf")?;
        let entry = QuarantineEntry {
            id,
            shelf,
            desk: desk.name.clone(),
            message_id: parsed.map(|p| p.message_id.clone()).unwrap_or_default(),
            from: parsed.map(|p| p.from.email.clone()).unwrap_or_default(),
            subject: parsed.map(|p| p.subject.clone()).unwrap_or_default(),
            origin: mail.origin.to_string(),
            error: reason.clone(),
            at: now,
            size: mail.raw.len(),
        };
        txn.put_shelved(&entry, &mail.raw);
        if let Some(p) = parsed {
            // Index it so the same mail fetched again is recognised as a duplicate.
            txn.index_message_id(&p.message_id, "", Direction::In);
        }
        txn.commit()?;
        match shelf {
            Shelf::Quarantine => {
                tracing::warn!(id, reason = %reason, "mail quarantined");
                Ok(Outcome::Quarantined { error: reason })
            }
            Shelf::Aside => {
                tracing::info!(id, reason = %reason, "mail kept aside");
                Ok(Outcome::Aside { reason })
            }
        }
    }

    /// A time as readers of this deployment see it.
    fn local_time(&self, t: DateTime<Utc>) -> String {
        match self.config.general.timezone.parse::<chrono_tz::Tz>() {
            Ok(tz) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string(),
            Err(_) => t.format("%Y-%m-%d %H:%M UTC").to_string(),
        }
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
