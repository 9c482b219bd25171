//! Every mail ingest sends: rendered from a template, composed into fixed bytes, queued in the
//! outbox in the same transaction as the ticket change that caused it.

use super::Ingestor;
use crate::config::Desk;
use crate::core::address::Address;
use crate::core::mail::subject;
use crate::core::service::limits::Window;
use crate::core::service::message::{Direction, MessageKind, MessageRecord};
use crate::core::service::outbox::{OutboxEntry, OutboxState};
use crate::core::service::ticket::Ticket;
use crate::outbound::compose::{compose, new_message_id, OutgoingAttachment, OutgoingMail};
use crate::store::{StoreError, Txn};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// A mail to send about a ticket.
pub(super) struct Draft {
    /// Outbox kind, shown by `outbox list`: `ack`, `reply`, `notify`, `command_error`.
    pub kind: &'static str,
    pub template: &'static str,
    /// The reader's language (falls back to the desk's, then English).
    pub language: String,
    pub ctx: Value,
    pub from: Address,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub reply_to: Option<Address>,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub auto_submitted: Option<&'static str>,
    pub attachments: Vec<OutgoingAttachment>,
    /// Subject to the storm limits (automatic mail to customers): held when the recipient had
    /// too much automatic mail this hour, or is flagged after repeated hard bounces.
    pub limited: bool,
    /// Record it on the ticket as a message of this kind; None for mail to staff, which is only
    /// indexed (so that a reply to it threads onto the ticket).
    pub record_as: Option<MessageKind>,
}

impl Ingestor {
    /// Renders, composes and queues `draft`. Returns the outbox id and Message-ID, or None (with
    /// a note on the ticket) when the mail could not be made: that never stops the ticket change.
    pub(super) fn queue(
        &self,
        txn: &mut Txn<'_>,
        ticket: &mut Ticket,
        desk: &Desk,
        draft: Draft,
        now: DateTime<Utc>,
    ) -> Result<Option<(u64, String)>, StoreError> {
        let to: Vec<Address> = draft
            .to
            .into_iter()
            .filter(|a| !a.email.is_empty() && !self.is_desk(&a.email))
            .collect();
        if to.is_empty() {
            ticket.note(
                format!("no {} sent: no usable recipient", draft.kind),
                "deskgate",
                now,
            );
            return Ok(None);
        }
        let started = std::time::Instant::now();
        let rendered =
            match self
                .templates
                .render(draft.template, &draft.language, &desk.language, &draft.ctx)
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, kind = draft.kind, "mail not rendered");
                    ticket.note(format!("no {} sent: {e}", draft.kind), "deskgate", now);
                    return Ok(None);
                }
            };
        // A mail about no ticket (an error reply to a staff mail naming none) has a scratch
        // ticket without a reference: no tag, no outbox link, no index entry.
        let has_ticket = !ticket.reference.is_empty();
        let tag = subject::tag(&ticket.reference);
        let subject_line = if !has_ticket || rendered.subject.contains(&tag) {
            rendered.subject.clone()
        } else {
            format!("{tag} {}", rendered.subject)
        };
        let domain = self.config.message_id_domain();
        let message_id = new_message_id(has_ticket.then_some(ticket.reference.as_str()), &domain);
        let out = OutgoingMail {
            from: draft.from,
            to: to.clone(),
            cc: draft.cc,
            reply_to: draft.reply_to,
            subject: subject_line.clone(),
            text: rendered.text.clone(),
            html: rendered.html.clone(),
            message_id: message_id.clone(),
            in_reply_to: draft.in_reply_to,
            references: draft.references,
            auto_submitted: draft.auto_submitted,
            attachments: draft.attachments,
            loop_marker: domain,
            date: now,
            calendar: None,
            notice: None,
        };
        let composed = compose(&out);
        self.timings
            .add(super::timings::Phase::Render, started.elapsed());
        let bytes = match composed {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, kind = draft.kind, "mail not composed");
                ticket.note(format!("no {} sent: {e}", draft.kind), "deskgate", now);
                return Ok(None);
            }
        };
        let id = txn.next_seq("outbox")?;
        let mut envelope_to: Vec<String> = out
            .to
            .iter()
            .chain(out.cc.iter())
            .map(|a| a.email.clone())
            .collect();
        envelope_to.dedup();
        let held = if draft.limited {
            self.storm_check(txn, &envelope_to, now)?
        } else {
            None
        };
        if let Some(reason) = &held {
            tracing::warn!(kind = draft.kind, to = ?envelope_to, reason = %reason, "automatic mail held back");
            ticket.note(
                format!(
                    "{} to {} held back: {reason}",
                    draft.kind,
                    envelope_to.join(", ")
                ),
                "deskgate",
                now,
            );
        }
        let entry = OutboxEntry {
            id,
            ticket: has_ticket.then(|| ticket.reference.clone()),
            kind: draft.kind.to_string(),
            from: self.envelope_sender(desk, id),
            to: envelope_to,
            subject: subject_line.clone(),
            message_id: message_id.clone(),
            state: if held.is_some() {
                OutboxState::Held
            } else {
                OutboxState::Queued
            },
            attempts: 0,
            created_at: now,
            next_attempt_at: now,
            sent_at: None,
            last_error: held.map(|r| format!("held: {r}")),
        };
        txn.put_outbox(&entry, Some(&bytes));
        match draft.record_as {
            Some(kind) => {
                ticket.push_thread_id(&message_id, now);
                txn.put_message(&MessageRecord {
                    ticket: ticket.reference.clone(),
                    seq: ticket.message_count,
                    message_id: message_id.clone(),
                    direction: Direction::Out,
                    kind,
                    from: out.from.clone(),
                    to: out.to.clone(),
                    cc: out.cc.clone(),
                    date: now,
                    subject: subject_line,
                    text: rendered.text,
                    attachments: vec![],
                    desk: desk.name.clone(),
                    outbox_id: Some(id),
                    classification: None,
                    warnings: rendered.warnings,
                });
            }
            None if has_ticket => {
                txn.index_message_id(&message_id, &ticket.reference, Direction::Out)
            }
            None => {}
        }
        Ok(Some((id, message_id)))
    }

    /// Whether automatic mail to `recipients` must be held, and why; records the send otherwise.
    fn storm_check(
        &self,
        txn: &mut Txn<'_>,
        recipients: &[String],
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let limits = &self.config.limits;
        let window = Window::per_hour(limits.auto_per_recipient_per_hour);
        let mut records = Vec::new();
        for email in recipients {
            let mut r = self.store.recipient(email)?;
            if r.flagged {
                return Ok(Some(format!(
                    "{email} is flagged after {} hard bounces",
                    r.hard_bounces
                )));
            }
            if !window.allows(&r.recent_automatic, now) {
                return Ok(Some(format!(
                    "{email} already had {} automatic mails this hour (limits.auto_per_recipient_per_hour)",
                    limits.auto_per_recipient_per_hour
                )));
            }
            r.recent_automatic = window.recent(&r.recent_automatic, now);
            r.recent_automatic.push(now);
            records.push((email, r));
        }
        for (email, r) in records {
            txn.put_recipient(email, &r);
        }
        Ok(None)
    }

    /// The envelope sender of outbox entry `id`: the desk's address, or its VERP form.
    pub(crate) fn envelope_sender(&self, desk: &Desk, id: u64) -> String {
        match (self.config.outbox.verp, desk.address.split_once('@')) {
            (true, Some((local, domain))) => format!("{local}+dg-{id}@{domain}"),
            _ => desk.address.clone(),
        }
    }

    /// The desk as a sender, optionally in someone's name ("Alice Martin").
    pub(super) fn desk_sender(&self, desk: &Desk, name: Option<&str>) -> Address {
        match name {
            Some(n) => Address::new(
                Some(&format!("{n} ({})", desk.display_name())),
                &desk.address,
            ),
            None => Address::new(Some(&desk.display_name()), &desk.address),
        }
    }

    /// The `desk` object of every template context.
    pub(crate) fn desk_ctx(&self, desk: &Desk) -> Value {
        serde_json::json!({"name": desk.name, "address": desk.address, "display_name": desk.display_name()})
    }

    /// Tells staff of a ticket event. Recipients are deduplicated and never include `author`
    /// (deskgate never notifies the sender of a mail about that mail).
    #[allow(clippy::too_many_arguments)] // Each argument is a different part of the notice.
    pub(super) fn notify(
        &self,
        txn: &mut Txn<'_>,
        ticket: &mut Ticket,
        desk: &Desk,
        event_label: &str,
        recipients: Vec<Address>,
        author: &Address,
        text: &str,
        answering: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut to: Vec<Address> = Vec::new();
        for r in recipients {
            if r.email != author.email && !to.iter().any(|t| t.email == r.email) {
                to.push(r);
            }
        }
        if to.is_empty() {
            return Ok(());
        }
        let ctx = serde_json::json!({
            "ref": ticket.reference,
            "subject": ticket.subject,
            "event_label": event_label,
            "desk": self.desk_ctx(desk),
            "ticket": {
                "status": ticket.status.as_str(),
                "priority": if ticket.priority_confirmed { format!("{:?}", ticket.priority) } else { format!("{:?} (proposed)", ticket.priority) },
                "tier": ticket.tier,
                "owner": ticket.owner.clone().unwrap_or_default(),
                "requester": ticket.requester.email,
                "requester_name": ticket.requester.name.clone().unwrap_or_default(),
                "account": ticket.account.as_deref().map(|a| self.directory().account(a).map(|acc| format!("{} ({a})", acc.name)).unwrap_or_else(|| a.to_string())).unwrap_or_default(),
                "plan": ticket.plan.clone().unwrap_or_default(),
                "sla_due": self.sla_due_text(ticket, now, to.first().map(|a| a.email.as_str()).unwrap_or("")),
            },
            "author": {"name": author.name.clone().unwrap_or_default(), "email": author.email},
            "text": text.trim_end(),
        });
        let draft = Draft {
            kind: "notify",
            template: "notify",
            language: "en".into(),
            ctx,
            from: self.desk_sender(desk, Some(author.name.as_deref().unwrap_or(&author.email))),
            to,
            cc: vec![],
            // Replies go to the desk, where they thread onto the ticket by In-Reply-To.
            reply_to: Some(Address::new(Some(&desk.display_name()), &desk.address)),
            in_reply_to: answering.map(str::to_string),
            references: ticket.thread.clone(),
            auto_submitted: Some("auto-generated"),
            attachments: vec![],
            limited: false,
            record_as: None,
        };
        self.queue(txn, ticket, desk, draft, now)?;
        Ok(())
    }

    /// Where notices about `ticket` go: its owner, else the team working its tier.
    pub(super) fn owner_or_team(&self, ticket: &Ticket, desk: &Desk) -> Vec<Address> {
        if let Some(owner) = ticket
            .owner
            .as_deref()
            .and_then(|o| self.config.staff_by_name(o))
        {
            return vec![Address::new(Some(&owner.name), &owner.address)];
        }
        self.tier_team(ticket.tier, desk)
    }

    /// The team working `tier` for `desk`, as a recipient list (empty when none is configured).
    pub(super) fn tier_team(&self, tier: u8, desk: &Desk) -> Vec<Address> {
        self.config
            .team_for_tier(desk, tier)
            .map(|t| vec![Address::new(Some(&t.name), &t.address)])
            .unwrap_or_default()
    }
}
