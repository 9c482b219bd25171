//! The one path by which mail enters the outbox.
//!
//! Whatever deskgate sends — an acknowledgement, an engineer's answer, a notice to staff, an
//! SLA warning, a handover, a maintenance or incident notice — is composed into fixed bytes
//! with a fixed Message-ID and put into the outbox by [`enqueue`], in the same transaction as
//! the change that caused it: the delivery only ever sends what is recorded there. Mail made
//! from a template about a ticket (or about none) goes through [`queue`] first: rendered in the
//! reader's language, composed, checked against the storm limits, and recorded on its ticket.
//!
//! Held back, never sent: automatic mail to an address flagged after repeated hard bounces,
//! and automatic mail to a customer who already had too much of it this hour.

use crate::config::Desk;
use crate::context::Context;
use crate::core::address::Address;
use crate::core::mail::subject;
use crate::core::service::limits::Window;
use crate::core::service::message::{Direction, MessageKind, MessageRecord};
use crate::core::service::outbox::{OutboxEntry, OutboxState};
use crate::core::service::sla::{Target, TargetState};
use crate::core::service::ticket::Ticket;
use crate::outbound::compose::{compose, OutgoingAttachment, OutgoingMail};
use crate::render::context;
use crate::store::{RecipientRecord, StoreError, Txn};
use crate::timings::Phase;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// A mail to make from a template.
pub struct Draft {
    /// Outbox kind, shown by `outbox list`: `ack`, `reply`, `notify`, `command_error`, …
    pub kind: &'static str,
    pub template: &'static str,
    /// The reader's language (falls back to the desk's, then English).
    pub language: String,
    /// The template's context: one of `render::context`'s types, as a value.
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

/// A composed mail on its way into the outbox.
pub struct Composed {
    /// Outbox kind, shown by `outbox list`.
    pub kind: String,
    /// The ticket it is about, if any.
    pub ticket: Option<String>,
    /// Envelope recipients.
    pub to: Vec<String>,
    pub subject: String,
    pub message_id: String,
    pub bytes: Vec<u8>,
    /// When the first attempt may be made (now, or a rate limit's slot).
    pub first_attempt: DateTime<Utc>,
    /// Why it is held back, if it is: a held entry is never sent.
    pub held: Option<String>,
}

/// Puts a composed mail into the outbox in `txn`, sent from `desk`. Returns its outbox id.
pub fn enqueue(
    ctx: &Context,
    txn: &mut Txn<'_>,
    desk: &Desk,
    mail: Composed,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let id = txn.new_outbox_id()?;
    let entry = OutboxEntry {
        id,
        ticket: mail.ticket,
        kind: mail.kind,
        from: envelope_sender(ctx, desk, id),
        to: mail.to,
        subject: mail.subject,
        message_id: mail.message_id,
        state: if mail.held.is_some() {
            OutboxState::Held
        } else {
            OutboxState::Queued
        },
        attempts: 0,
        created_at: now,
        next_attempt_at: mail.first_attempt,
        sent_at: None,
        last_error: mail.held.map(|r| format!("held: {r}")),
    };
    txn.put_outbox(&entry, Some(&mail.bytes));
    Ok(id)
}

/// Why automatic mail to `email` is held, if it is: the address is flagged after repeated hard
/// bounces.
pub fn flagged(ctx: &Context, email: &str) -> Result<Option<String>, StoreError> {
    Ok(flag_reason(email, &ctx.store.recipient(email)?))
}

fn flag_reason(email: &str, r: &RecipientRecord) -> Option<String> {
    r.flagged
        .then(|| format!("{email} is flagged after {} hard bounces", r.hard_bounces))
}

/// Renders, composes and queues `draft` about `ticket` (or about none: a handover, an error
/// reply to a staff mail naming no ticket). Returns the outbox id and Message-ID, or None (with
/// a note on the ticket) when the mail could not be made: that never stops the ticket change.
pub fn queue(
    ctx: &Context,
    txn: &mut Txn<'_>,
    mut ticket: Option<&mut Ticket>,
    desk: &Desk,
    draft: Draft,
    now: DateTime<Utc>,
) -> Result<Option<(u64, String)>, StoreError> {
    let note = |ticket: &mut Option<&mut Ticket>, text: String| match ticket {
        Some(t) => t.note(text, "deskgate", now),
        None => tracing::warn!(kind = draft.kind, "{text}"),
    };
    let to: Vec<Address> = draft
        .to
        .into_iter()
        .filter(|a| !a.email.is_empty() && !ctx.is_desk(&a.email))
        .collect();
    if to.is_empty() {
        note(
            &mut ticket,
            format!("no {} sent: no usable recipient", draft.kind),
        );
        return Ok(None);
    }
    let started = std::time::Instant::now();
    let rendered =
        match ctx
            .templates
            .render(draft.template, &draft.language, &desk.language, &draft.ctx)
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, kind = draft.kind, "mail not rendered");
                note(&mut ticket, format!("no {} sent: {e}", draft.kind));
                return Ok(None);
            }
        };
    let reference = ticket.as_ref().map(|t| t.reference.clone());
    let subject_line = match &reference {
        Some(r) if !rendered.subject.contains(&subject::tag(r)) => {
            format!("{} {}", subject::tag(r), rendered.subject)
        }
        _ => rendered.subject.clone(),
    };
    let message_id = ctx.stamp.message_id(reference.as_deref(), rand::random());
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
        loop_marker: ctx.stamp.installation().to_string(),
        date: now,
        calendar: None,
        notice: None,
    };
    let composed = compose(&out);
    ctx.timings.add(Phase::Render, started.elapsed());
    let bytes = match composed {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, kind = draft.kind, "mail not composed");
            note(&mut ticket, format!("no {} sent: {e}", draft.kind));
            return Ok(None);
        }
    };
    let mut envelope_to: Vec<String> = Vec::new();
    for a in out.to.iter().chain(out.cc.iter()) {
        if !envelope_to.contains(&a.email) {
            envelope_to.push(a.email.clone());
        }
    }
    let held = if draft.limited {
        storm_check(ctx, txn, &envelope_to, now)?
    } else {
        None
    };
    if let Some(reason) = &held {
        tracing::warn!(kind = draft.kind, to = ?envelope_to, reason = %reason, "automatic mail held back");
        note(
            &mut ticket,
            format!(
                "{} to {} held back: {reason}",
                draft.kind,
                envelope_to.join(", ")
            ),
        );
    }
    let id = enqueue(
        ctx,
        txn,
        desk,
        Composed {
            kind: draft.kind.to_string(),
            ticket: reference.clone(),
            to: envelope_to,
            subject: subject_line.clone(),
            message_id: message_id.clone(),
            bytes,
            first_attempt: now,
            held,
        },
        now,
    )?;
    if let Some(ticket) = ticket {
        match draft.record_as {
            Some(kind) => {
                ticket.push_thread_id(&message_id, now);
                txn.put_message(MessageRecord {
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
                    new_text: None,
                    attachments: vec![],
                    desk: desk.name.clone(),
                    outbox_id: Some(id),
                    classification: None,
                    warnings: rendered.warnings,
                });
            }
            None => txn.index_message_id(&message_id, &ticket.reference, Direction::Out),
        }
    }
    Ok(Some((id, message_id)))
}

/// Whether automatic mail to `recipients` must be held, and why; records the send otherwise.
fn storm_check(
    ctx: &Context,
    txn: &mut Txn<'_>,
    recipients: &[String],
    now: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    let limits = &ctx.config.limits;
    let window = Window::per_hour(limits.auto_per_recipient_per_hour);
    let mut records = Vec::new();
    for email in recipients {
        let mut r = ctx.store.recipient(email)?;
        if let Some(reason) = flag_reason(email, &r) {
            return Ok(Some(reason));
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
pub fn envelope_sender(ctx: &Context, desk: &Desk, id: u64) -> String {
    match (ctx.config.outbox.verp, desk.address.split_once('@')) {
        (true, Some((local, domain))) => format!("{local}+dg-{id}@{domain}"),
        _ => desk.address.clone(),
    }
}

/// The desk as a sender, optionally in someone's name ("Alice Martin (Service Desk NL)").
pub fn desk_sender(desk: &Desk, name: Option<&str>) -> Address {
    match name {
        Some(n) => Address::new(
            Some(&format!("{n} ({})", desk.display_name())),
            &desk.address,
        ),
        None => Address::new(Some(&desk.display_name()), &desk.address),
    }
}

/// The `desk` object of every template context.
pub fn desk_ctx(desk: &Desk) -> context::DeskCtx {
    context::DeskCtx {
        name: desk.name.clone(),
        address: desk.address.clone(),
        display_name: desk.display_name(),
    }
}

/// A person as templates greet them.
pub fn person(a: &Address) -> context::PersonCtx {
    context::PersonCtx {
        name: a.name.clone().unwrap_or_default(),
        email: a.email.clone(),
    }
}

/// A notice to staff about a ticket event.
pub struct StaffNotice<'a> {
    /// What happened, as the notice's headline ("New ticket", "SLA breached: …").
    pub label: &'a str,
    pub to: Vec<Address>,
    /// Whose mail caused it: not told of their own mail, unless `tell_author`.
    pub author: &'a Address,
    /// The author is told too: the mail only claims to be theirs (a staff address without
    /// proof), so whoever really has the address learns that it changed nothing.
    pub tell_author: bool,
    pub text: &'a str,
    /// The whole mail, when `text` is only its new part: shown below it.
    pub full_text: Option<&'a str>,
    /// The Message-ID the notice answers (so replies thread).
    pub answering: Option<&'a str>,
}

/// The ticket's account as staff read it: its name with its id, `Acme Hosting B.V. (acme)`; the
/// id alone when the accounts file no longer knows it; empty without an account.
pub fn account_label(ctx: &Context, ticket: &Ticket) -> String {
    ticket
        .account
        .as_deref()
        .map(|a| {
            ctx.directory()
                .account(a)
                .map(|acc| format!("{} ({a})", acc.name))
                .unwrap_or_else(|| a.to_string())
        })
        .unwrap_or_default()
}

/// A plan's name as written in mail: `gold` → `Gold`.
pub fn plan_label(plan: &str) -> String {
    let mut chars = plan.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Tells staff of a ticket event. Recipients are deduplicated and never include the author
/// (deskgate never notifies the sender of a mail about that mail). Staff (and teams) get one
/// notice that invites them to work the ticket by replying; anyone else told (an account's
/// customer success manager) gets their own, for information.
pub fn notify(
    ctx: &Context,
    txn: &mut Txn<'_>,
    ticket: &mut Ticket,
    desk: &Desk,
    notice: StaffNotice<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let author = notice.author;
    let mut to: Vec<Address> = Vec::new();
    for r in &notice.to {
        let own = r.email.eq_ignore_ascii_case(&author.email) && !notice.tell_author;
        if !own && !to.iter().any(|t| t.email.eq_ignore_ascii_case(&r.email)) {
            to.push(r.clone());
        }
    }
    let config = &ctx.config;
    let (staff, others): (Vec<Address>, Vec<Address>) = to.into_iter().partition(|a| {
        config.staff_by_address(&a.email).is_some()
            || config
                .teams
                .iter()
                .any(|t| t.address.eq_ignore_ascii_case(&a.email))
    });
    for (readers, staff_reply) in [(staff, true), (others, false)] {
        if !readers.is_empty() {
            notify_readers(ctx, txn, ticket, desk, &notice, readers, staff_reply, now)?;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)] // The parts of one notice, split by who reads it.
fn notify_readers(
    ctx: &Context,
    txn: &mut Txn<'_>,
    ticket: &mut Ticket,
    desk: &Desk,
    notice: &StaffNotice<'_>,
    to: Vec<Address>,
    staff_reply: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let author = notice.author;
    let reader = to.first().map(|a| a.email.clone()).unwrap_or_default();
    let account = account_label(ctx, ticket);
    let priority = if ticket.priority_confirmed {
        ticket.priority.as_str().to_string()
    } else {
        format!("{} (proposed)", ticket.priority.as_str())
    };
    let text = notice.text.trim_end();
    let full_text = notice
        .full_text
        .map(str::trim_end)
        .filter(|full| *full != text)
        .unwrap_or_default();
    let template_ctx = context::Notify {
        reference: ticket.reference.clone(),
        subject: ticket.subject.clone(),
        event_label: notice.label.to_string(),
        desk: desk_ctx(desk),
        ticket: context::TicketFacts {
            status: ticket.status.as_str().to_string(),
            priority,
            tier: ticket.tier,
            owner: ticket.owner.clone().unwrap_or_default(),
            requester: ticket.requester.email.clone(),
            requester_name: ticket.requester.name.clone().unwrap_or_default(),
            account,
            plan: ticket.plan.as_deref().map(plan_label).unwrap_or_default(),
            sla_due: sla_due_text(ctx, ticket, now, &reader),
        },
        author: person(author),
        text: text.to_string(),
        full_text: full_text.to_string(),
        staff_reply,
    };
    let draft = Draft {
        kind: "notify",
        template: "notify",
        language: "en".into(),
        ctx: context::value(&template_ctx),
        from: desk_sender(desk, Some(author.name.as_deref().unwrap_or(&author.email))),
        to,
        cc: vec![],
        // Replies go to the desk, where they thread onto the ticket by In-Reply-To.
        reply_to: Some(Address::new(Some(&desk.display_name()), &desk.address)),
        in_reply_to: notice.answering.map(str::to_string),
        references: ticket.thread.clone(),
        auto_submitted: Some("auto-generated"),
        attachments: vec![],
        limited: false,
        record_as: None,
    };
    queue(ctx, txn, Some(ticket), desk, draft, now)?;
    Ok(())
}

/// The earliest SLA due times still running, as the reader sees them.
fn sla_due_text(ctx: &Context, ticket: &Ticket, now: DateTime<Utc>, reader: &str) -> String {
    let cal = ctx.support.calendar_of(ticket);
    let Some(sla) = ticket.sla.as_ref() else {
        return String::new();
    };
    let mut parts = Vec::new();
    for target in Target::ALL {
        match sla.state(target, now, &cal) {
            TargetState::Running { due } => parts.push(format!(
                "{} {}",
                target_label(target),
                ctx.local_time(due, reader)
            )),
            TargetState::Breached { due } => parts.push(format!(
                "{} BREACHED ({})",
                target_label(target),
                ctx.local_time(due, reader)
            )),
            TargetState::Paused => parts.push(format!("{} paused", target_label(target))),
            _ => {}
        }
    }
    parts.join("; ")
}

/// How an SLA target is named in mail to staff.
pub fn target_label(t: Target) -> &'static str {
    match t {
        Target::FirstResponse => "first response",
        Target::Restore => "restore",
    }
}
