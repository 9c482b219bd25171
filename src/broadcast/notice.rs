//! One notice for one recipient: its template context (in their language and zone), the
//! BCOP iCalendar part of a maintenance notice, and the composed mail.

use super::Work;
use crate::config::Desk;
use crate::context::Context;
use crate::core::address::Address;
use crate::core::broadcasts::datefmt;
use crate::core::broadcasts::icalendar::{self, EventContext, Method, Organizer};
use crate::core::broadcasts::incident::{Incident, IncidentNoticeKey, IncidentUpdate};
use crate::core::broadcasts::maintenance::{Impact, Maintenance, Notice, Schedule};
use crate::core::service::accounts::NoticeRecipient;
use crate::outbound::compose::{compose, CalendarPart, OutgoingMail};
use crate::outgoing;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

/// A notice ready for the outbox.
pub(crate) struct ComposedNotice {
    pub subject: String,
    pub message_id: String,
    pub bytes: Vec<u8>,
}

/// Makes the notices of one pass: what is the same for every recipient is worked out once.
pub(crate) struct Composer<'a> {
    ctx: &'a Context,
    desk: &'a Desk,
    now: DateTime<Utc>,
    desk_ctx: Value,
    provider: String,
    organizer_name: String,
}

impl<'a> Composer<'a> {
    pub fn new(ctx: &'a Context, desk: &'a Desk, now: DateTime<Utc>) -> Composer<'a> {
        let config = &ctx.config;
        Composer {
            ctx,
            desk,
            now,
            desk_ctx: crate::render::context::value(&outgoing::desk_ctx(desk)),
            provider: config.provider_domain(),
            organizer_name: config
                .broadcast
                .organizer_name
                .clone()
                .unwrap_or_else(|| desk.display_name()),
        }
    }

    /// The mail carrying `work` to `r`.
    pub fn compose(
        &self,
        work: &Work<'_>,
        r: &NoticeRecipient<'_>,
    ) -> Result<ComposedNotice, String> {
        let (template, ctx, calendar, of) = match work {
            Work::Maintenance { m, notice } => (
                "maintenance_notice",
                self.maintenance_context(m, notice, r),
                Some(self.calendar(m, notice, r)),
                m.id(),
            ),
            Work::Incident { i, key } => (
                "incident_notice",
                self.incident_context(i, key, r)?,
                None,
                i.id(),
            ),
        };
        let rendered = self
            .ctx
            .templates
            .render(template, r.language(), &self.desk.language, &ctx)
            .map_err(|e| e.to_string())?;
        let message_id = self.ctx.stamp.message_id(Some(of), rand::random());
        let desk = Address::new(Some(&self.desk.display_name()), &self.desk.address);
        let mail = OutgoingMail {
            from: desk.clone(),
            to: vec![Address::new(Some(&r.contact.name), &r.contact.address)],
            cc: vec![],
            reply_to: Some(desk),
            subject: rendered.subject.clone(),
            text: rendered.text,
            html: rendered.html,
            message_id: message_id.clone(),
            in_reply_to: None,
            references: vec![],
            auto_submitted: Some("auto-generated"),
            attachments: vec![],
            loop_marker: self.ctx.stamp.installation().to_string(),
            date: self.now,
            calendar,
            notice: Some(work.key()),
        };
        let bytes = compose(&mail).map_err(|e| e.to_string())?;
        Ok(ComposedNotice {
            subject: rendered.subject,
            message_id,
            bytes,
        })
    }

    /// The BCOP event of a maintenance notice, for the account it is about.
    pub fn calendar(
        &self,
        m: &Maintenance,
        notice: &Notice,
        r: &NoticeRecipient<'_>,
    ) -> CalendarPart {
        let objects = objects_in_scope(m.sites(), m.services(), r);
        let cx = EventContext {
            provider: &self.provider,
            account: &r.account.id,
            object_ids: &objects,
            organizer: Some(Organizer {
                name: Some(&self.organizer_name),
                email: &self.desk.address,
            }),
            dtstamp: self.now,
        };
        CalendarPart {
            method: Method::for_notice(notice.kind).as_str(),
            text: icalendar::notice_event(m, notice, &cx),
        }
    }

    pub fn maintenance_context(
        &self,
        m: &Maintenance,
        notice: &Notice,
        r: &NoticeRecipient<'_>,
    ) -> Value {
        let (tz, lang) = (zone(r, &self.ctx.config.general.timezone), r.language());
        let w = notice.occurrence;
        let kind = notice.kind.as_str();
        let (recurring, rule) = match m.schedule() {
            Schedule::Once(_) => (false, String::new()),
            Schedule::Recurring(rec) => (true, rec.rule().to_string()),
        };
        json!({
            "desk": self.desk_ctx,
            "kind": kind,
            "is": flags(&["announcement", "reschedule", "reminder", "start", "completion", "cancellation"], kind),
            "recipient": recipient(r),
            "account": {"id": r.account.id, "name": r.account.name},
            "on_behalf": r.on_behalf(),
            "maintenance": {
                "id": m.id(),
                "reference": m.occurrence_id(&w),
                "title": m.title(),
                "impact": m.impact().bcop().to_ascii_lowercase(),
                "impact_is": impact_flags(m.impact()),
                "sites": m.sites().join(", "),
                "services": m.services().join(", "),
                "sequence": m.sequence(),
                "recurring": recurring,
                "rule": rule,
            },
            "window": {
                "start": datefmt::local(w.start, tz, lang),
                "end": datefmt::local(w.end, tz, lang),
                "timezone": datefmt::zone_label(w.start, tz),
                "start_utc": datefmt::utc(w.start),
                "end_utc": datefmt::utc(w.end),
                "duration": datefmt::duration(w.duration()),
            },
            "calendar_attached": true,
        })
    }

    pub fn incident_context(
        &self,
        i: &Incident,
        key: &IncidentNoticeKey,
        r: &NoticeRecipient<'_>,
    ) -> Result<Value, String> {
        let (tz, lang) = (zone(r, &self.ctx.config.general.timezone), r.language());
        let update: &IncidentUpdate = i
            .updates()
            .iter()
            .find(|u| u.sequence == key.sequence)
            .ok_or_else(|| format!("incident {} has no update {}", i.id(), key.sequence))?;
        let kind = key.kind.as_str();
        let status = i.status().to_string();
        Ok(json!({
            "desk": self.desk_ctx,
            "kind": kind,
            "is": flags(&["opened", "update", "resolved"], kind),
            "recipient": recipient(r),
            "account": {"id": r.account.id, "name": r.account.name},
            "on_behalf": r.on_behalf(),
            "incident": {
                "id": i.id(),
                "title": i.title(),
                "impact": i.impact().bcop().to_ascii_lowercase(),
                "impact_is": impact_flags(i.impact()),
                "status": status,
                "status_is": flags(&["investigating", "identified", "monitoring", "resolved"], &update.status.to_string()),
                "sites": i.sites().join(", "),
                "services": i.services().join(", "),
                "opened": datefmt::local(i.opened(), tz, lang),
                "resolved": i.resolved().map(|t| datefmt::local(t, tz, lang)).unwrap_or_default(),
                "timezone": datefmt::zone_label(update.at, tz),
            },
            "update": {
                "at": datefmt::local(update.at, tz, lang),
                "message": update.message,
            },
        }))
    }
}

/// The reader's zone: their account's, else the deployment's, else UTC.
fn zone(r: &NoticeRecipient<'_>, fallback: &str) -> Tz {
    r.timezone()
        .parse()
        .or_else(|_| fallback.parse())
        .unwrap_or(Tz::UTC)
}

fn recipient(r: &NoticeRecipient<'_>) -> Value {
    json!({"name": r.contact.name, "email": r.contact.address})
}

/// `{"a": false, "b": true, …}`: which of `names` is `chosen`, for templates in strict mode.
fn flags(names: &[&str], chosen: &str) -> Value {
    Value::Object(
        names
            .iter()
            .map(|n| (n.to_string(), Value::Bool(*n == chosen)))
            .collect(),
    )
}

fn impact_flags(impact: Impact) -> Value {
    json!({
        "outage": impact == Impact::Outage,
        "degraded": impact == Impact::Degraded,
        "reduced_redundancy": impact == Impact::ReducedRedundancy,
        "no_impact": impact == Impact::NoImpact,
    })
}

/// The account's sites and services the notice is about (`X-MAINTNOTE-OBJECT-ID`s): those it
/// shares with the scope; for a platform-wide maintenance every one of them (else the account
/// id), since BCOP readers refuse an event that names no object.
fn objects_in_scope(sites: &[String], services: &[String], r: &NoticeRecipient<'_>) -> Vec<String> {
    if sites.is_empty() && services.is_empty() {
        let mut all: Vec<String> = r
            .account
            .services
            .iter()
            .chain(&r.account.sites)
            .cloned()
            .collect();
        if all.is_empty() {
            all.push(r.account.id.clone());
        }
        return all;
    }
    let shared = |ours: &[String], theirs: &[String]| -> Vec<String> {
        theirs
            .iter()
            .filter(|t| ours.iter().any(|o| o.eq_ignore_ascii_case(t.trim())))
            .cloned()
            .collect()
    };
    let mut out = shared(services, &r.account.services);
    out.extend(shared(sites, &r.account.sites));
    out
}
