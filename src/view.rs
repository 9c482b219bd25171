//! The JSON shapes of the CLI's output (the interface contract of `PRODUCT.md`).
//!
//! Stored records may grow; these views are what scripts rely on, so every field here is
//! documented in the README and changes only by adding.

use crate::core::service::message::MessageRecord;
use crate::core::service::outbox::OutboxEntry;
use crate::core::service::sla::{Level, Target, TargetState};
use crate::core::service::ticket::Ticket;
use crate::support::SupportModel;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// One line of `tickets list --json`.
pub fn ticket_summary(t: &Ticket) -> Value {
    json!({
        "ref": t.reference,
        "desk": t.desk,
        "subject": t.subject,
        "status": t.status,
        "priority": t.priority,
        "requester": t.requester.email,
        "requester_name": t.requester.name,
        "participants": t.participants.iter().map(|p| p.email.clone()).collect::<Vec<_>>(),
        "language": t.language,
        "owner": t.owner,
        "account": t.account,
        "partner": t.partner,
        "identity": t.identity,
        "plan": t.plan,
        "priority_confirmed": t.priority_confirmed,
        "tier": t.tier,
        "minutes_logged": t.minutes_logged,
        "message_count": t.message_count,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
    })
}

/// `tickets show REF --json`: the summary plus messages and history.
pub fn ticket_detail(t: &Ticket, messages: &[MessageRecord]) -> Value {
    let mut v = ticket_summary(t);
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "messages".into(),
            Value::Array(messages.iter().map(message).collect()),
        );
        o.insert(
            "events".into(),
            serde_json::to_value(&t.events).unwrap_or(Value::Null),
        );
    }
    v
}

fn message(m: &MessageRecord) -> Value {
    json!({
        "seq": m.seq,
        "message_id": m.message_id,
        "direction": m.direction,
        "kind": m.kind,
        "from": m.from.email,
        "from_name": m.from.name,
        "to": m.to.iter().map(|a| a.email.clone()).collect::<Vec<_>>(),
        "cc": m.cc.iter().map(|a| a.email.clone()).collect::<Vec<_>>(),
        "date": m.date,
        "subject": m.subject,
        "text": m.text,
        "new_text": m.new_text.as_deref().unwrap_or(&m.text),
        "attachments": m.attachments,
        "desk": m.desk,
        "outbox_id": m.outbox_id,
        "classification": m.classification,
        "warnings": m.warnings,
    })
}

/// One entry of `outbox list --json`. Written here rather than by the stored record's serde
/// shape, which leaves out empty optional fields to keep records small: scripts get every
/// field, `null` when it has no value (as the tickets' `owner`).
pub fn outbox_entry(e: &OutboxEntry) -> Value {
    json!({
        "id": e.id,
        "ticket": e.ticket,
        "kind": e.kind,
        "from": e.from,
        "to": e.to,
        "subject": e.subject,
        "message_id": e.message_id,
        "state": e.state,
        "attempts": e.attempts,
        "created_at": e.created_at,
        "next_attempt_at": e.next_attempt_at,
        "sent_at": e.sent_at,
        "last_error": e.last_error,
    })
}

/// A ticket's JSON with its SLA state (`sla`) judged at `now`.
pub fn with_sla(mut v: Value, support: &SupportModel, t: &Ticket, now: DateTime<Utc>) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.insert("sla".into(), sla(support, t, now));
    }
    v
}

/// The SLA part of a ticket's JSON: per target its state and due time, and whether any target
/// was breached.
pub fn sla(support: &SupportModel, ticket: &Ticket, now: DateTime<Utc>) -> Value {
    let cal = support.calendar_of(ticket);
    let Some(sla) = ticket.sla.as_ref() else {
        return Value::Null;
    };
    let mut v = serde_json::Map::new();
    let mut breached = false;
    for target in Target::ALL {
        let mut state = sla.state(target, now, &cal);
        // A breach already notified stands, whatever clock the reader runs on (a dry run with
        // `--now` in the future, then `tickets list` on the real clock).
        if let (TargetState::Running { due }, true) =
            (&state, sla.notified.contains(&(target, Level::Breach)))
        {
            state = TargetState::Breached { due: *due };
        }
        breached |= matches!(
            state,
            TargetState::Breached { .. } | TargetState::Met { in_time: false, .. }
        );
        let mut entry = serde_json::to_value(state).unwrap_or(Value::Null);
        if let Some(o) = entry.as_object_mut() {
            o.insert(
                "due".into(),
                serde_json::to_value(sla.due(target, &cal)).unwrap_or(Value::Null),
            );
            o.insert(
                "warn_at".into(),
                serde_json::to_value(sla.warn_at(target, &cal)).unwrap_or(Value::Null),
            );
        }
        v.insert(target.as_str().to_string(), entry);
    }
    v.insert("breached".into(), Value::Bool(breached));
    Value::Object(v)
}
