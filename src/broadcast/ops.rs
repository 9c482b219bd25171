//! What ops do to maintenance and incidents (`deskgate maintenance …`, `deskgate incident …`):
//! the forms the CLI sends, their checks, the store writes, and the JSON views they answer with.
//!
//! Every change is stored and then followed by a broadcast pass at the same `now`, so the
//! announcement of a new maintenance (or the notice of an update) is queued before the command
//! returns, and its answer says how many recipients it reached. `dry_run` does all the checks
//! and answers with the audience — who would be told, per account and language — but stores
//! and queues nothing.
//!
//! Two kinds of check protect customers from a slip of the keyboard, and `force` (`--force`)
//! overrides both for the rare real case: what the clock contradicts (the core's
//! [`ClockObjection`]: a window already over, a start days early, a completion before the
//! start) and sites or services no account lists (`scope::unknown_names`: a typo that would
//! tell nobody). They run before anything is stored, a new id taken included, and the same way
//! whether the daemon or the CLI answers.

use super::BroadcastReport;
use super::Broadcaster;
use crate::core::broadcasts::incident::{Incident, IncidentChange, IncidentStatus, NewIncident};
use crate::core::broadcasts::maintenance::{
    objection_to_schedule, Change, ClockObjection, Impact, Maintenance, NewMaintenance, Recurrence,
    Schedule, Status, Window,
};
use crate::core::broadcasts::scope::unknown_names;
use crate::core::service::accounts::{Account, Directory, Role};
use crate::core::service::calendar::local_instant;
use crate::store::Subject;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The fields of `maintenance schedule|recurring|update`, as typed (checked here).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceForm {
    /// Default: the next `MNT-<n>`.
    pub id: Option<String>,
    pub title: Option<String>,
    /// outage, degraded, reduced-redundancy, no-impact.
    pub impact: Option<String>,
    pub sites: Option<Vec<String>>,
    pub services: Option<Vec<String>>,
    /// A one-off window: RFC 3339 with or without seconds (`2026-12-02T00:00+01:00`), or a
    /// local time in `tz` (`2026-12-02T00:00`).
    pub start: Option<String>,
    pub end: Option<String>,
    /// Instead of `end` ("6h"); the length of each occurrence of a standing window.
    pub duration: Option<String>,
    /// A standing window: the RRULE (`FREQ=MONTHLY;BYDAY=1WE`), its local start time, its zone
    /// and the first date it may occur on (default: today in that zone).
    pub rrule: Option<String>,
    pub at: Option<String>,
    pub tz: Option<String>,
    pub from: Option<String>,
    /// Scheduled as tentative (not confirmed).
    #[serde(default)]
    pub tentative: bool,
    /// Update: confirm a tentative maintenance.
    #[serde(default)]
    pub confirm: bool,
    /// Update: take the occurrence starting at this instant out of a standing window.
    pub skip: Option<String>,
    /// Override the refusals of the clock (a window already over) and of sites or services no
    /// account lists (a new site before its accounts are added).
    #[serde(default)]
    pub force: bool,
}

/// The fields of `incident open|update|resolve`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentForm {
    pub id: Option<String>,
    pub title: Option<String>,
    pub impact: Option<String>,
    pub sites: Option<Vec<String>>,
    pub services: Option<Vec<String>>,
    /// investigating, identified, monitoring.
    pub status: Option<String>,
    /// What customers are told.
    pub message: Option<String>,
    /// A security incident: managed accounts' own contacts are told too.
    #[serde(default)]
    pub security: bool,
    /// Accept sites or services no account lists (a new site before its accounts are added).
    #[serde(default)]
    pub force: bool,
}

/// The one-word lifecycle steps of a maintenance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Start,
    Complete,
    Cancel,
}

fn impact(s: &Option<String>, default: Impact) -> Result<Impact, String> {
    s.as_deref().map_or(Ok(default), str::parse)
}

fn zone(form_tz: Option<&str>, broadcaster: &Broadcaster) -> Result<Tz, String> {
    let name = form_tz.unwrap_or(&broadcaster.ctx().config.general.timezone);
    name.parse()
        .map_err(|_| format!("unknown time zone {name:?} (use an IANA name such as Europe/Paris)"))
}

/// An instant as ops type it: with an offset or `Z`, with or without seconds, or local in `tz`.
pub fn parse_instant(s: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M%#z", "%Y-%m-%d %H:%M%#z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    if let Some(naive) = s.strip_suffix('Z') {
        for f in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"] {
            if let Ok(t) = NaiveDateTime::parse_from_str(naive, f) {
                return Ok(t.and_utc());
            }
        }
    }
    for f in ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Ok(local_instant(tz, t));
        }
    }
    Err(format!(
        "{s:?} is not a time: write 2026-12-02T00:00+01:00, 2026-12-02T00:00Z or 2026-12-02T00:00 (in --tz)"
    ))
}

fn duration(s: &str) -> Result<Duration, String> {
    crate::core::service::sla::parse_duration(s)
}

/// The schedule a form describes, if it describes one.
fn schedule(
    form: &MaintenanceForm,
    broadcaster: &Broadcaster,
    now: DateTime<Utc>,
    current: Option<&Schedule>,
) -> Result<Option<Schedule>, String> {
    let tz = zone(form.tz.as_deref(), broadcaster)?;
    let recurring = form.rrule.is_some()
        || form.at.is_some()
        || matches!(current, Some(Schedule::Recurring(_)));
    if recurring {
        if form.start.is_some() || form.end.is_some() {
            return Err(
                "--start and --end are for one-off windows: a standing window takes \
                        --rrule, --at, --duration, --tz and --from (or --skip for one occurrence)"
                    .into(),
            );
        }
        let old = match current {
            Some(Schedule::Recurring(r)) => Some(r),
            _ => None,
        };
        if old.is_some()
            && form.rrule.is_none()
            && form.at.is_none()
            && form.duration.is_none()
            && form.tz.is_none()
            && form.from.is_none()
        {
            return Ok(None);
        }
        let rule = form
            .rrule
            .clone()
            .or_else(|| old.map(|r| r.rule().to_string()))
            .ok_or("a standing window needs --rrule")?;
        let at = match (&form.at, old) {
            (Some(a), _) => NaiveTime::parse_from_str(a.trim(), "%H:%M")
                .map_err(|_| format!("--at {a:?} is not a time of day such as 00:00"))?,
            (None, Some(r)) => r.at(),
            (None, None) => {
                return Err("a standing window needs --at (its local start time)".into())
            }
        };
        let length = match (&form.duration, old) {
            (Some(d), _) => duration(d)?,
            (None, Some(r)) => r.duration(),
            (None, None) => return Err("a standing window needs --duration".into()),
        };
        let tz = match (&form.tz, old) {
            (None, Some(r)) => r.tz(),
            _ => tz,
        };
        let from = match (&form.from, old) {
            (Some(f), _) => NaiveDate::parse_from_str(f.trim(), "%Y-%m-%d")
                .map_err(|_| format!("--from {f:?} is not a date such as 2026-12-01"))?,
            (None, Some(r)) => r.from(),
            (None, None) => now.with_timezone(&tz).date_naive(),
        };
        return Recurrence::new(&rule, from, at, length, tz).map(|r| Some(Schedule::Recurring(r)));
    }
    let old = match current {
        Some(Schedule::Once(w)) => Some(*w),
        _ => None,
    };
    if form.start.is_none() && form.end.is_none() && form.duration.is_none() {
        return match old {
            Some(_) => Ok(None),
            None => Err("a maintenance needs --start and --end (or --duration)".into()),
        };
    }
    let start = match (&form.start, old) {
        (Some(s), _) => parse_instant(s, tz)?,
        (None, Some(w)) => w.start,
        (None, None) => return Err("a maintenance needs --start".into()),
    };
    let end = match (&form.end, &form.duration, old) {
        (Some(_), Some(_), _) => return Err("give --end or --duration, not both".into()),
        (Some(e), None, _) => parse_instant(e, tz)?,
        (None, Some(d), _) => start + duration(d)?,
        // A new start keeps the window's length.
        (None, None, Some(w)) => start + w.duration(),
        (None, None, None) => return Err("a maintenance needs --end or --duration".into()),
    };
    Window::new(start, end).map(|w| Some(Schedule::Once(w)))
}

fn names(v: &Option<Vec<String>>) -> Vec<String> {
    v.iter()
        .flatten()
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// What ops are told when the clock contradicts them, times in `tz`.
fn clock_refusal(objection: &ClockObjection, tz: Tz) -> String {
    format!("{} (--force overrides)", objection.describe(tz))
}

/// Refuses `sites` and `services` that no account in the accounts file lists: such a scope
/// tells nobody, and is most often a typo (`AM1` for `AM11`). Every unknown name is named.
fn check_names(
    broadcaster: &Broadcaster,
    sites: &[String],
    services: &[String],
) -> Result<(), String> {
    if sites.is_empty() && services.is_empty() {
        return Ok(());
    }
    let directory = broadcaster.ctx().directory();
    let known = |of: fn(&Account) -> &Vec<String>| -> Vec<String> {
        directory.accounts().iter().flat_map(of).cloned().collect()
    };
    let mut problems = unknown_names("site", sites, &known(|a| &a.sites));
    problems.extend(unknown_names("service", services, &known(|a| &a.services)));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}; --force overrides", problems.join("; ")))
    }
}

/// Applies `write` to the store under the writer lock, commits and flushes.
fn save(
    broadcaster: &Broadcaster,
    write: impl FnOnce(&mut crate::store::Txn<'_>),
) -> Result<(), String> {
    let store = &broadcaster.ctx().store;
    let _writer = store.write_lock();
    let mut txn = store.txn();
    write(&mut txn);
    txn.commit().map_err(|e| e.to_string())?;
    store.flush().map_err(|e| e.to_string())
}

/// The id of a new maintenance or incident: the one ops gave (unless taken, in any case, so
/// that an id typed in any case names one), else the next
/// `<prefix>-<n>` from the `<what>` counter (a placeholder for a dry run, which stores nothing).
fn choose_id(
    broadcaster: &Broadcaster,
    given: &Option<String>,
    exists: impl Fn(&str) -> Result<bool, crate::store::StoreError>,
    (what, prefix): (&str, &str),
    dry_run: bool,
) -> Result<String, String> {
    match given {
        Some(id) if exists(id).map_err(|e| e.to_string())? => {
            Err(format!("{what} {id} exists already"))
        }
        Some(id) => Ok(id.clone()),
        None if dry_run => Ok(format!("{prefix}-DRY-RUN")),
        None => next_id(broadcaster, what, prefix),
    }
}

fn next_id(broadcaster: &Broadcaster, counter: &str, prefix: &str) -> Result<String, String> {
    let store = &broadcaster.ctx().store;
    let _writer = store.write_lock();
    let mut txn = store.txn();
    let n = txn.next_seq(counter).map_err(|e| e.to_string())?;
    txn.commit().map_err(|e| e.to_string())?;
    Ok(format!("{prefix}-{n}"))
}

/// Stores a change, broadcasts what is due, and answers with the view.
fn commit_maintenance(
    broadcaster: &Broadcaster,
    m: &Maintenance,
    now: DateTime<Utc>,
) -> Result<Value, String> {
    save(broadcaster, |txn| txn.put_maintenance(m))?;
    let report = broadcaster.run_due(now).map_err(|e| e.to_string())?;
    let mut view = maintenance_view(broadcaster, m, now)?;
    insert(&mut view, "broadcast", json!(report));
    Ok(view)
}

fn insert(view: &mut Value, key: &str, value: Value) {
    if let Some(o) = view.as_object_mut() {
        o.insert(key.into(), value);
    }
}

pub fn schedule_maintenance(
    broadcaster: &Broadcaster,
    form: &MaintenanceForm,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<Value, String> {
    let schedule =
        schedule(form, broadcaster, now, None)?.ok_or("a maintenance needs a schedule")?;
    let (sites, services) = (names(&form.sites), names(&form.services));
    if !form.force {
        check_names(broadcaster, &sites, &services)?;
        if let Some(o) = objection_to_schedule(&schedule, now) {
            return Err(clock_refusal(&o, zone(form.tz.as_deref(), broadcaster)?));
        }
    }
    let exists = |id: &str| find_maintenance(broadcaster, id).map(|m| m.is_some());
    let id = choose_id(
        broadcaster,
        &form.id,
        exists,
        ("maintenance", "MNT"),
        dry_run,
    )?;
    let m = Maintenance::new(
        NewMaintenance {
            id,
            title: form.title.clone().unwrap_or_default(),
            impact: impact(&form.impact, Impact::Outage)?,
            status: if form.tentative {
                Status::Tentative
            } else {
                Status::Scheduled
            },
            sites,
            services,
            schedule,
        },
        now,
    )?;
    if dry_run {
        return maintenance_view(broadcaster, &m, now);
    }
    tracing::info!(
        maintenance = m.id(),
        title = m.title(),
        "maintenance scheduled"
    );
    commit_maintenance(broadcaster, &m, now)
}

fn existing_maintenance(broadcaster: &Broadcaster, id: &str) -> Result<Maintenance, String> {
    find_maintenance(broadcaster, id)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no maintenance {id}"))
}

/// The maintenance `id` names, in any case ([`find_any_case`]).
fn find_maintenance(
    broadcaster: &Broadcaster,
    id: &str,
) -> Result<Option<Maintenance>, crate::store::StoreError> {
    let store = &broadcaster.ctx().store;
    find_any_case(
        id,
        |id| store.maintenance(id),
        || store.maintenances(),
        Maintenance::id,
    )
}

/// The record `id` names, in any case: ids are shown as they were made (`MNT-2`) and typed as
/// people please (`mnt-2`). Ids differ in more than case ([`choose_id`]), so at most one
/// matches. The whole list (`all`) is read only when the exact id is not there, and
/// maintenances and incidents are few.
fn find_any_case<T>(
    id: &str,
    exact: impl FnOnce(&str) -> Result<Option<T>, crate::store::StoreError>,
    all: impl FnOnce() -> Result<Vec<T>, crate::store::StoreError>,
    id_of: impl Fn(&T) -> &str,
) -> Result<Option<T>, crate::store::StoreError> {
    if let Some(found) = exact(id)? {
        return Ok(Some(found));
    }
    Ok(all()?
        .into_iter()
        .find(|t| id_of(t).eq_ignore_ascii_case(id)))
}

pub fn update_maintenance(
    broadcaster: &Broadcaster,
    id: &str,
    form: &MaintenanceForm,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<Value, String> {
    let mut m = existing_maintenance(broadcaster, id)?;
    if !form.force {
        check_names(broadcaster, &names(&form.sites), &names(&form.services))?;
    }
    let mut changes = Vec::new();
    if let Some(t) = &form.title {
        changes.push(Change::Title(t.clone()));
    }
    if form.impact.is_some() {
        changes.push(Change::Impact(impact(&form.impact, m.impact())?));
    }
    if form.sites.is_some() {
        changes.push(Change::Sites(names(&form.sites)));
    }
    if form.services.is_some() {
        changes.push(Change::Services(names(&form.services)));
    }
    if let Some(s) = schedule(form, broadcaster, now, Some(m.schedule()))? {
        // Times restated as they are (a --tz given only to read --skip) are no change: a
        // change of times would make customers be told again.
        if !s.same_times(m.schedule()) {
            changes.push(Change::Schedule(s));
        }
    }
    if let Some(skip) = &form.skip {
        let tz = zone(form.tz.as_deref(), broadcaster)?;
        changes.push(Change::Skip(parse_instant(skip, tz)?));
    }
    if form.confirm {
        changes.push(Change::Status(Status::Scheduled));
    }
    let before = m.clone();
    m.update(changes, now)?;
    if let Some(o) = m.clock_objection(&before, now).filter(|_| !form.force) {
        return Err(clock_refusal(&o, zone(form.tz.as_deref(), broadcaster)?));
    }
    if dry_run {
        return maintenance_view(broadcaster, &m, now);
    }
    tracing::info!(
        maintenance = m.id(),
        sequence = m.sequence(),
        "maintenance updated"
    );
    commit_maintenance(broadcaster, &m, now)
}

/// Starts, completes or cancels a maintenance. A start more than a day before the window, or a
/// completion before it began, is refused unless `force`: customers would be told so.
pub fn step_maintenance(
    broadcaster: &Broadcaster,
    id: &str,
    step: Step,
    dry_run: bool,
    force: bool,
    now: DateTime<Utc>,
) -> Result<Value, String> {
    let mut m = existing_maintenance(broadcaster, id)?;
    let before = m.clone();
    match step {
        Step::Start => m.start(now),
        Step::Complete => m.complete(now),
        Step::Cancel => m.cancel(now),
    }?;
    if let Some(o) = m.clock_objection(&before, now).filter(|_| !force) {
        return Err(clock_refusal(&o, zone(None, broadcaster)?));
    }
    if dry_run {
        return maintenance_view(broadcaster, &m, now);
    }
    tracing::info!(maintenance = m.id(), status = %m.status(), "maintenance status changed");
    commit_maintenance(broadcaster, &m, now)
}

pub fn maintenance_list(broadcaster: &Broadcaster, now: DateTime<Utc>) -> Result<Value, String> {
    let all = broadcaster
        .ctx()
        .store
        .maintenances()
        .map_err(|e| e.to_string())?;
    Ok(Value::Array(
        all.iter().map(|m| maintenance_summary(m, now)).collect(),
    ))
}

pub fn maintenance_show(
    broadcaster: &Broadcaster,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Value, String> {
    maintenance_view(broadcaster, &existing_maintenance(broadcaster, id)?, now)
}

/// The windows worth showing: the one-off window, or the next five occurrences (and one under way).
fn upcoming(m: &Maintenance, now: DateTime<Utc>) -> Vec<Window> {
    match m.schedule() {
        Schedule::Once(w) => vec![*w],
        Schedule::Recurring(_) => m
            .occurrences(now, now + Duration::days(800))
            .into_iter()
            .take(5)
            .collect(),
    }
}

fn maintenance_summary(m: &Maintenance, now: DateTime<Utc>) -> Value {
    let next = upcoming(m, now).first().copied();
    json!({
        "id": m.id(),
        "title": m.title(),
        "status": m.status().to_string(),
        "impact": m.impact(),
        "recurring": matches!(m.schedule(), Schedule::Recurring(_)),
        "sites": m.sites(),
        "services": m.services(),
        "sequence": m.sequence(),
        "next_start": next.map(|w| w.start),
        "next_end": next.map(|w| w.end),
    })
}

fn maintenance_view(
    broadcaster: &Broadcaster,
    m: &Maintenance,
    now: DateTime<Utc>,
) -> Result<Value, String> {
    let mut v = maintenance_summary(m, now);
    let schedule = match m.schedule() {
        Schedule::Once(w) => json!({"type": "once", "start": w.start, "end": w.end}),
        Schedule::Recurring(r) => json!({
            "type": "recurring",
            "rule": r.rule(),
            "at": r.at().format("%H:%M").to_string(),
            "duration": crate::core::broadcasts::datefmt::duration(r.duration()),
            "timezone": r.tz().name(),
            "from": r.from(),
            "skipped": r.skipped(),
        }),
    };
    let occurrences: Vec<Value> = upcoming(m, now)
        .iter()
        .map(|w| json!({"reference": m.occurrence_id(w), "start": w.start, "end": w.end}))
        .collect();
    let notices = broadcaster
        .ctx()
        .store
        .notices(Subject::Maintenance, m.id())
        .map_err(|e| e.to_string())?;
    let audience = audience_view(
        &broadcaster.ctx().directory(),
        |a| m.affects(&a.sites, &a.services),
        false,
    );
    insert(&mut v, "schedule", schedule);
    insert(&mut v, "occurrences", Value::Array(occurrences));
    insert(&mut v, "created", json!(m.created()));
    insert(&mut v, "history", json!(m.history()));
    insert(&mut v, "notices", json!(notices));
    insert(&mut v, "audience", audience);
    Ok(v)
}

/// Who is (or would be) told, per account and language: what `--dry-run` and `show` print.
/// Notices go to the maintenance-role contacts of the accounts `in_scope` says are concerned.
fn audience_view(
    directory: &Directory,
    in_scope: impl Fn(&Account) -> bool,
    security: bool,
) -> Value {
    let audience = directory.audience(&in_scope, Role::Maintenance, security);
    let in_scope: Vec<&Account> = directory
        .accounts()
        .iter()
        .filter(|a| in_scope(a))
        .collect();
    let mut by_language: BTreeMap<String, usize> = BTreeMap::new();
    for r in &audience {
        *by_language.entry(r.language().to_string()).or_default() += 1;
    }
    let accounts: Vec<Value> = in_scope
        .iter()
        .map(|a| {
            let recipients: Vec<Value> = audience
                .iter()
                .filter(|r| r.account.id == a.id)
                .map(|r| {
                    json!({
                        "address": r.contact.address,
                        "name": r.contact.name,
                        "language": r.language(),
                        "timezone": r.timezone(),
                        "via": r.on_behalf().then_some(&r.via.id),
                    })
                })
                .collect();
            json!({"id": a.id, "name": a.name, "partner": a.partner, "recipients": recipients})
        })
        .collect();
    json!({
        "recipients": audience.len(),
        "accounts_in_scope": in_scope.len(),
        "by_language": by_language,
        "accounts": accounts,
    })
}

fn incident_status(s: &Option<String>) -> Result<Option<IncidentStatus>, String> {
    s.as_deref().map(str::parse).transpose()
}

fn existing_incident(broadcaster: &Broadcaster, id: &str) -> Result<Incident, String> {
    find_incident(broadcaster, id)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no incident {id}"))
}

/// The incident `id` names, in any case ([`find_any_case`]).
fn find_incident(
    broadcaster: &Broadcaster,
    id: &str,
) -> Result<Option<Incident>, crate::store::StoreError> {
    let store = &broadcaster.ctx().store;
    find_any_case(
        id,
        |id| store.incident(id),
        || store.incidents(),
        Incident::id,
    )
}

fn commit_incident(
    broadcaster: &Broadcaster,
    i: &Incident,
    now: DateTime<Utc>,
) -> Result<Value, String> {
    save(broadcaster, |txn| txn.put_incident(i))?;
    let report: BroadcastReport = broadcaster.run_due(now).map_err(|e| e.to_string())?;
    let mut view = incident_view(broadcaster, i)?;
    insert(&mut view, "broadcast", json!(report));
    Ok(view)
}

pub fn open_incident(
    broadcaster: &Broadcaster,
    form: &IncidentForm,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<Value, String> {
    if !form.force {
        check_names(broadcaster, &names(&form.sites), &names(&form.services))?;
    }
    let exists = |id: &str| find_incident(broadcaster, id).map(|i| i.is_some());
    let id = choose_id(broadcaster, &form.id, exists, ("incident", "INC"), dry_run)?;
    let i = Incident::new(
        NewIncident {
            id,
            title: form.title.clone().unwrap_or_default(),
            impact: impact(&form.impact, Impact::Degraded)?,
            sites: names(&form.sites),
            services: names(&form.services),
            security: form.security,
            status: incident_status(&form.status)?.unwrap_or(IncidentStatus::Investigating),
            message: form.message.clone().unwrap_or_default(),
        },
        now,
    )?;
    if dry_run {
        return incident_view(broadcaster, &i);
    }
    tracing::info!(incident = i.id(), title = i.title(), "incident opened");
    commit_incident(broadcaster, &i, now)
}

pub fn update_incident(
    broadcaster: &Broadcaster,
    id: &str,
    form: &IncidentForm,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<Value, String> {
    let mut i = existing_incident(broadcaster, id)?;
    if !form.force {
        check_names(broadcaster, &names(&form.sites), &names(&form.services))?;
    }
    i.update(
        IncidentChange {
            message: form.message.clone().unwrap_or_default(),
            status: incident_status(&form.status)?,
            impact: form.impact.as_deref().map(str::parse).transpose()?,
            title: form.title.clone(),
            sites: form.sites.as_ref().map(|_| names(&form.sites)),
            services: form.services.as_ref().map(|_| names(&form.services)),
        },
        now,
    )?;
    if dry_run {
        return incident_view(broadcaster, &i);
    }
    tracing::info!(
        incident = i.id(),
        sequence = i.sequence(),
        "incident updated"
    );
    commit_incident(broadcaster, &i, now)
}

pub fn resolve_incident(
    broadcaster: &Broadcaster,
    id: &str,
    message: &str,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<Value, String> {
    let mut i = existing_incident(broadcaster, id)?;
    i.resolve(message.to_string(), now)?;
    if dry_run {
        return incident_view(broadcaster, &i);
    }
    tracing::info!(incident = i.id(), "incident resolved");
    commit_incident(broadcaster, &i, now)
}

pub fn incident_list(broadcaster: &Broadcaster) -> Result<Value, String> {
    let all = broadcaster
        .ctx()
        .store
        .incidents()
        .map_err(|e| e.to_string())?;
    Ok(Value::Array(all.iter().map(incident_summary).collect()))
}

pub fn incident_show(broadcaster: &Broadcaster, id: &str) -> Result<Value, String> {
    incident_view(broadcaster, &existing_incident(broadcaster, id)?)
}

fn incident_summary(i: &Incident) -> Value {
    json!({
        "id": i.id(),
        "title": i.title(),
        "status": i.status().to_string(),
        "impact": i.impact(),
        "security": i.security(),
        "sites": i.sites(),
        "services": i.services(),
        "sequence": i.sequence(),
        "opened": i.opened(),
        "resolved": i.resolved(),
    })
}

fn incident_view(broadcaster: &Broadcaster, i: &Incident) -> Result<Value, String> {
    let mut v = incident_summary(i);
    let notices = broadcaster
        .ctx()
        .store
        .notices(Subject::Incident, i.id())
        .map_err(|e| e.to_string())?;
    let audience = audience_view(
        &broadcaster.ctx().directory(),
        |a| i.affects(&a.sites, &a.services),
        i.security(),
    );
    insert(&mut v, "updates", json!(i.updates()));
    insert(&mut v, "notices", json!(notices));
    insert(&mut v, "audience", audience);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{am11, at, ctx, outbox, CONFIG};
    use super::*;

    /// The error of `result`, which must be a refusal.
    fn refused(result: Result<Value, String>) -> String {
        match result {
            Ok(v) => panic!("accepted: {v}"),
            Err(e) => e,
        }
    }

    /// `maintenance complete` on 6 December of a window starting on 21 December was accepted,
    /// and customers were told the work was done; `start` 16 days ahead answered `[ongoing]`.
    #[test]
    fn start_and_complete_long_before_the_window_are_refused_dry_run_included() {
        let i = ctx(CONFIG);
        let scheduled = at("2026-12-06T09:00:00Z");
        let form = MaintenanceForm {
            start: Some("2026-12-21T00:00+01:00".into()),
            end: Some("2026-12-21T06:00+01:00".into()),
            ..am11("AM11")
        };
        schedule_maintenance(&i, &form, false, scheduled).expect("scheduled");
        let announced = outbox(&i).len();
        for dry_run in [true, false] {
            let e = refused(step_maintenance(
                &i,
                "MNT-1",
                Step::Complete,
                dry_run,
                false,
                scheduled,
            ));
            assert_eq!(
                e,
                "MNT-1 starts 2026-12-21 00:00 +01:00; it has not started: not completed \
                 (--force overrides)"
            );
            let e = refused(step_maintenance(
                &i,
                "MNT-1",
                Step::Start,
                dry_run,
                false,
                scheduled,
            ));
            assert!(
                e.starts_with("MNT-1 starts 2026-12-21 00:00 +01:00, in 14 d 14 h; work may be"),
                "{e}"
            );
        }
        let m = existing_maintenance(&i, "MNT-1").expect("stored");
        assert_eq!((m.status(), m.sequence()), (Status::Scheduled, 0));
        assert_eq!(outbox(&i).len(), announced, "nobody was told anything more");

        // From a day before the start, the work may be marked started; then completed.
        let eve = at("2026-12-19T23:00:00Z");
        let v = step_maintenance(&i, "MNT-1", Step::Start, false, false, eve).expect("started");
        assert_eq!(v["status"], "ongoing");
        let e = refused(step_maintenance(
            &i,
            "MNT-1",
            Step::Complete,
            false,
            false,
            eve,
        ));
        assert!(e.contains("it has not started: not completed"), "{e}");
        let v = step_maintenance(
            &i,
            "MNT-1",
            Step::Complete,
            false,
            false,
            at("2026-12-21T01:00:00Z"),
        )
        .expect("completed");
        assert_eq!(v["status"], "completed");

        // Work really done early is recorded with --force.
        let next = MaintenanceForm {
            start: Some("2027-01-21T00:00+01:00".into()),
            end: Some("2027-01-21T06:00+01:00".into()),
            ..form
        };
        schedule_maintenance(&i, &next, false, scheduled).expect("scheduled");
        let v =
            step_maintenance(&i, "MNT-2", Step::Complete, false, true, scheduled).expect("forced");
        assert_eq!(v["status"], "completed");
    }

    /// `maintenance schedule --start 2025-01-01T00:00+01:00 --end 2025-01-01T06:00+01:00` was
    /// accepted.
    #[test]
    fn a_window_entirely_in_the_past_is_refused_dry_run_included() {
        let i = ctx(CONFIG);
        let now = at("2026-12-06T09:00:00Z");
        let past = MaintenanceForm {
            start: Some("2025-01-01T00:00+01:00".into()),
            end: Some("2025-01-01T06:00+01:00".into()),
            ..am11("AM11")
        };
        for dry_run in [true, false] {
            assert_eq!(
                refused(schedule_maintenance(&i, &past, dry_run, now)),
                "the window 2025-01-01 00:00 +01:00 – 2025-01-01 06:00 +01:00 has ended: not \
                 scheduled (--force overrides)"
            );
        }
        assert!(i.ctx().store.maintenances().expect("read").is_empty());
        assert!(outbox(&i).is_empty());

        // A window under way is fine, and took the first id: the refusals used none.
        let begun = MaintenanceForm {
            start: Some("2026-12-06T09:00+01:00".into()),
            end: Some("2026-12-06T12:00+01:00".into()),
            ..am11("AM11")
        };
        let v = schedule_maintenance(&i, &begun, false, now).expect("scheduled");
        assert_eq!(v["id"], "MNT-1");
        // Moving it into the past is refused too.
        let moved = MaintenanceForm {
            start: Some("2026-12-05T09:00+01:00".into()),
            end: Some("2026-12-05T12:00+01:00".into()),
            ..MaintenanceForm::default()
        };
        let e = refused(update_maintenance(&i, "MNT-1", &moved, true, now));
        assert!(
            e.starts_with("MNT-1: the window 2026-12-05 09:00 +01:00"),
            "{e}"
        );

        // A past window recorded after the fact, with --force.
        let forced = MaintenanceForm {
            force: true,
            ..past
        };
        let v = schedule_maintenance(&i, &forced, false, now).expect("forced");
        assert_eq!(v["id"], "MNT-2");
    }

    /// `maintenance schedule … --sites AM1` (for AM11) stored a maintenance that told nobody.
    #[test]
    fn sites_and_services_no_account_lists_are_refused_dry_run_included() {
        let i = ctx(CONFIG);
        let now = at("2026-11-23T12:00:00Z");
        for dry_run in [true, false] {
            assert_eq!(
                refused(schedule_maintenance(&i, &am11("AM1"), dry_run, now)),
                "unknown site \"AM1\" (did you mean AM11? known: AM11, PA3); --force overrides"
            );
        }
        let typo = MaintenanceForm {
            services: Some(vec!["cross-conect".into()]),
            ..am11("AM11")
        };
        assert_eq!(
            refused(schedule_maintenance(&i, &typo, false, now)),
            "unknown service \"cross-conect\" (did you mean cross-connect? known: \
             cross-connect); --force overrides"
        );
        assert!(i.ctx().store.maintenances().expect("read").is_empty());
        assert!(outbox(&i).is_empty());

        schedule_maintenance(&i, &am11("am11"), false, now).expect("known, in any case");
        let widened = MaintenanceForm {
            sites: Some(vec!["AM11,PA33".into()]),
            ..MaintenanceForm::default()
        };
        let e = refused(update_maintenance(&i, "MNT-1", &widened, true, now));
        assert!(
            e.starts_with("unknown site \"PA33\" (did you mean PA3?"),
            "{e}"
        );

        let incident = IncidentForm {
            title: Some("Packet loss".into()),
            sites: Some(vec!["AM1".into()]),
            message: Some("We are looking into it.".into()),
            ..IncidentForm::default()
        };
        for dry_run in [true, false] {
            let e = refused(open_incident(&i, &incident, dry_run, now));
            assert!(e.starts_with("unknown site \"AM1\""), "{e}");
        }
        assert!(i.ctx().store.incidents().expect("read").is_empty());
        let known = IncidentForm {
            sites: Some(vec!["AM11".into()]),
            ..incident.clone()
        };
        open_incident(&i, &known, false, now).expect("opened");
        let e = refused(update_incident(&i, "INC-1", &incident, false, now));
        assert!(e.starts_with("unknown site \"AM1\""), "{e}");

        // A new site before its accounts are added, with --force.
        let new_site = MaintenanceForm {
            force: true,
            ..am11("LS1")
        };
        let v = schedule_maintenance(&i, &new_site, false, now).expect("forced");
        assert_eq!(v["sites"], serde_json::json!(["LS1"]));
        let forced = IncidentForm {
            force: true,
            ..incident
        };
        update_incident(&i, "INC-1", &forced, false, now).expect("forced");
    }

    #[test]
    fn instants_are_read_as_ops_type_them() {
        let paris: Tz = "Europe/Paris".parse().expect("zone");
        let want = DateTime::parse_from_rfc3339("2026-12-01T23:00:00Z")
            .expect("fixed")
            .with_timezone(&Utc);
        for s in [
            "2026-12-02T00:00+01:00",
            "2026-12-02T00:00:00+01:00",
            "2026-12-01T23:00Z",
            "2026-12-01T23:00:00Z",
            "2026-12-02T00:00",
            "2026-12-02 00:00",
        ] {
            assert_eq!(parse_instant(s, paris), Ok(want), "{s}");
        }
        assert!(parse_instant("tomorrow", paris).is_err());
    }
}
