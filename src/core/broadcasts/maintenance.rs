//! Maintenance windows: what ops schedule, when each window happens, and which notices it owes.
//!
//! A maintenance is one window ([`Schedule::Once`]) or a standing window that recurs
//! ([`Schedule::Recurring`]: an RRULE such as `FREQ=MONTHLY;BYDAY=1WE`, a local start time, a
//! duration and the ops' time zone). Every change goes through [`Maintenance::update`], which
//! bumps the sequence (the iCalendar SEQUENCE of every later notice) and records the change in
//! the history. Nothing here reads the clock or the store: `now` and the keys already sent come
//! in as arguments, and the answer is a list of notices for the broadcast to carry out.
//!
//! Occurrences. The `rrule` crate expands the rule in *floating* local time: it is handed naive
//! local date-times dressed as UTC, so it never applies a zone itself, and this module turns
//! each local start into an instant. So "00:00 Europe/Paris" stays 00:00 local on both sides of
//! a daylight-saving change, and the zone rule is the business-hours calendar's: a local start
//! that occurs twice (clocks going back) is taken at its first occurrence, and a local start
//! that does not exist (clocks going forward, such as 02:30 on the last Sunday of March in
//! Paris) at the instant of the jump (03:00 CEST). We do not leave this to rrule because it
//! silently drops an occurrence whose local midnight does not exist (Santiago in September)
//! and moves a skipped 02:30 to 03:30. The duration is real elapsed time, so a 6 h window that
//! spans a change ends at 05:00 or 07:00 local. As in python-dateutil (which rrule follows),
//! the first date of a recurrence is an occurrence only if it matches the rule.
//!
//! Notices. [`Maintenance::notices_due`] lists the notices due at `now`, given the keys of
//! those already sent. Each has a [`NoticeKey`] (maintenance id, occurrence start, kind,
//! sequence): the broadcast records it (with each recipient, in the outbox), and a restarted
//! pass computes the same keys again, so nobody is told anything twice. The decision reads the
//! sent keys as history, not only as a filter: one announcement per occurrence whatever the
//! sequence, one reschedule per rescheduling update made after the last notice customers got,
//! and a cancellation for each announced occurrence that no longer exists.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::core::service::calendar::local_instant;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// At most this many occurrences come out of one [`Maintenance::occurrences`] call, so a daily
/// rule asked about a century cannot exhaust memory.
pub const MAX_OCCURRENCES: usize = 10_000;

/// The longest window of a standing maintenance: it bounds how far back a pass has to look.
pub const MAX_RECURRING_DURATION_DAYS: i64 = 7;

/// What customers should expect during the window (the BCOP `X-MAINTNOTE-IMPACT` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Impact {
    /// The services in scope are completely out of service.
    Outage,
    /// Service continues, degraded.
    Degraded,
    /// No visible impact, but without the normal redundancy.
    ReducedRedundancy,
    /// No impact expected.
    NoImpact,
}

impl Impact {
    /// The BCOP value: `OUTAGE`, `DEGRADED`, `REDUCED-REDUNDANCY` or `NO-IMPACT`.
    pub fn bcop(self) -> &'static str {
        match self {
            Impact::Outage => "OUTAGE",
            Impact::Degraded => "DEGRADED",
            Impact::ReducedRedundancy => "REDUCED-REDUNDANCY",
            Impact::NoImpact => "NO-IMPACT",
        }
    }

    /// Reads a BCOP value. The BCOP says an unknown impact is to be treated as an outage; that
    /// is the caller's call, so this answers `None`.
    pub fn from_bcop(value: &str) -> Option<Impact> {
        match value.trim().to_ascii_uppercase().as_str() {
            "OUTAGE" => Some(Impact::Outage),
            "DEGRADED" => Some(Impact::Degraded),
            "REDUCED-REDUNDANCY" => Some(Impact::ReducedRedundancy),
            "NO-IMPACT" => Some(Impact::NoImpact),
            _ => None,
        }
    }
}

impl FromStr for Impact {
    type Err = String;

    /// The CLI spelling (`outage`, `degraded`, `reduced-redundancy`, `no-impact`) or the BCOP one.
    fn from_str(s: &str) -> Result<Impact, String> {
        Impact::from_bcop(&s.replace('_', "-")).ok_or_else(|| {
            format!("unknown impact {s:?}: use outage, degraded, reduced-redundancy or no-impact")
        })
    }
}

/// Where a maintenance stands. For a standing window only `Tentative`, `Scheduled` and
/// `Cancelled` apply: its occurrences start and complete with the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Possible, not confirmed (BCOP `TENTATIVE`).
    Tentative,
    /// Confirmed (BCOP `CONFIRMED`).
    Scheduled,
    /// Under way (BCOP `IN-PROCESS`).
    Ongoing,
    /// Done (BCOP `COMPLETED`).
    Completed,
    /// Will not happen, or stopped (BCOP `CANCELLED`).
    Cancelled,
}

impl Status {
    /// The BCOP `X-MAINTNOTE-STATUS` value.
    pub fn bcop(self) -> &'static str {
        match self {
            Status::Tentative => "TENTATIVE",
            Status::Scheduled => "CONFIRMED",
            Status::Ongoing => "IN-PROCESS",
            Status::Completed => "COMPLETED",
            Status::Cancelled => "CANCELLED",
        }
    }

    /// Reads a BCOP status value.
    pub fn from_bcop(value: &str) -> Option<Status> {
        match value.trim().to_ascii_uppercase().as_str() {
            "TENTATIVE" => Some(Status::Tentative),
            "CONFIRMED" => Some(Status::Scheduled),
            "IN-PROCESS" => Some(Status::Ongoing),
            "COMPLETED" => Some(Status::Completed),
            "CANCELLED" => Some(Status::Cancelled),
            _ => None,
        }
    }

    /// Completed and cancelled maintenance no longer change.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Completed | Status::Cancelled)
    }

    /// Tentative or scheduled: still to happen.
    pub fn is_planned(self) -> bool {
        matches!(self, Status::Tentative | Status::Scheduled)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Tentative => "tentative",
            Status::Scheduled => "scheduled",
            Status::Ongoing => "ongoing",
            Status::Completed => "completed",
            Status::Cancelled => "cancelled",
        })
    }
}

/// One maintenance window: from `start` (inclusive) to `end` (exclusive), `start < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Window {
    /// A window, refused when it does not end after it starts.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Window, String> {
        if end <= start {
            return Err(format!(
                "a maintenance window must end after it starts ({} .. {})",
                start.to_rfc3339(),
                end.to_rfc3339()
            ));
        }
        Ok(Window { start, end })
    }

    pub fn duration(&self) -> Duration {
        self.end - self.start
    }

    /// Whether the window shares time with `[from, to)`.
    pub fn overlaps(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        self.start < to && self.end > from
    }
}

/// A standing window: an RRULE over local dates, a local start time, a duration, a zone.
///
/// Built only through [`Recurrence::new`] (deserialising checks the same way), so the rule is
/// known to expand. Accepted rule parts: `FREQ` (DAILY, WEEKLY, MONTHLY or YEARLY), `INTERVAL`,
/// `COUNT`, `UNTIL`, `BYDAY` (with ordinals such as `1WE` or `-1FR` only for MONTHLY and
/// YEARLY, as RFC 5545 says; rrule 0.14 silently misreads them under WEEKLY), `BYMONTHDAY`,
/// `BYMONTH`, `BYSETPOS` and `WKST`. The time of day comes from `at`, so `BYHOUR`, `BYMINUTE`
/// and `BYSECOND` are refused. `UNTIL` may be UTC (`…Z`, the RFC form when DTSTART has a zone),
/// local (no `Z`) or a date (up to the end of that local day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RecurrenceSpec", into = "RecurrenceSpec")]
pub struct Recurrence {
    rule: String,
    from: NaiveDate,
    at: NaiveTime,
    duration: Duration,
    tz: Tz,
    skipped: BTreeSet<DateTime<Utc>>,
}

impl Recurrence {
    /// A standing window whose first possible occurrence is on local date `from`.
    pub fn new(
        rule: &str,
        from: NaiveDate,
        at: NaiveTime,
        duration: Duration,
        tz: Tz,
    ) -> Result<Recurrence, String> {
        let rule = normalise_rule(rule);
        if duration <= Duration::zero() {
            return Err("a standing window needs a positive duration".to_string());
        }
        if duration > Duration::days(MAX_RECURRING_DURATION_DAYS) {
            return Err(format!(
                "a standing window lasts at most {MAX_RECURRING_DURATION_DAYS} days"
            ));
        }
        let recurrence = Recurrence {
            rule,
            from,
            at,
            duration,
            tz,
            skipped: BTreeSet::new(),
        };
        if recurrence.local_starts()?.next().is_none() {
            return Err(format!(
                "recurrence rule {:?} has no occurrence from {}",
                recurrence.rule, from
            ));
        }
        Ok(recurrence)
    }

    /// The rule as stored: upper case, without an `RRULE:` prefix.
    pub fn rule(&self) -> &str {
        &self.rule
    }

    pub fn from(&self) -> NaiveDate {
        self.from
    }

    pub fn at(&self) -> NaiveTime {
        self.at
    }

    pub fn duration(&self) -> Duration {
        self.duration
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// Occurrence starts taken out with [`Change::Skip`].
    pub fn skipped(&self) -> &BTreeSet<DateTime<Utc>> {
        &self.skipped
    }

    /// The windows that share time with `[from, to)`, in order, at most [`MAX_OCCURRENCES`].
    pub fn windows(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Window> {
        // The rule was checked when this value was built, so expanding it does not fail.
        let Ok(starts) = self.local_starts() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for local in starts {
            let start = local_instant(self.tz, local);
            if start >= to {
                break;
            }
            let Some(end) = start.checked_add_signed(self.duration) else {
                break;
            };
            if end <= from || self.skipped.contains(&start) {
                continue;
            }
            out.push(Window { start, end });
            if out.len() >= MAX_OCCURRENCES {
                break;
            }
        }
        out
    }

    /// Whether some occurrence starts exactly at `start`.
    pub fn starts_at(&self, start: DateTime<Utc>) -> bool {
        let to = plus(start, Duration::seconds(1));
        self.windows(start, to).iter().any(|w| w.start == start)
    }

    /// The local start date-times, in order, as rrule expands them in floating time.
    fn local_starts(&self) -> Result<impl Iterator<Item = NaiveDateTime>, String> {
        let parsed = parse_rule(&self.rule)?;
        let mut rule: rrule::RRule<rrule::Unvalidated> = parsed
            .base
            .parse()
            .map_err(|e| format!("recurrence rule {:?}: {e}", self.rule))?;
        if let Some(until) = parsed.until {
            let until = match until {
                Until::Utc(at) => at.with_timezone(&self.tz).naive_local(),
                Until::Local(at) => at,
            };
            rule = rule.until(rrule::Tz::UTC.from_utc_datetime(&until));
        }
        let start = rrule::Tz::UTC.from_utc_datetime(&self.from.and_time(self.at));
        let set = rule
            .build(start)
            .map_err(|e| format!("recurrence rule {:?}: {e}", self.rule))?;
        Ok(set.into_iter().map(|at| at.naive_utc()))
    }
}

/// How a [`Recurrence`] is stored.
#[derive(Serialize, Deserialize)]
struct RecurrenceSpec {
    rule: String,
    from: NaiveDate,
    at: NaiveTime,
    duration_secs: i64,
    tz: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    skipped: Vec<DateTime<Utc>>,
}

impl TryFrom<RecurrenceSpec> for Recurrence {
    type Error = String;

    fn try_from(spec: RecurrenceSpec) -> Result<Recurrence, String> {
        let tz: Tz = spec
            .tz
            .parse()
            .map_err(|_| format!("unknown time zone {:?}", spec.tz))?;
        let mut recurrence = Recurrence::new(
            &spec.rule,
            spec.from,
            spec.at,
            Duration::seconds(spec.duration_secs),
            tz,
        )?;
        recurrence.skipped = spec.skipped.into_iter().collect();
        Ok(recurrence)
    }
}

impl From<Recurrence> for RecurrenceSpec {
    fn from(r: Recurrence) -> RecurrenceSpec {
        RecurrenceSpec {
            rule: r.rule,
            from: r.from,
            at: r.at,
            duration_secs: r.duration.num_seconds(),
            tz: r.tz.name().to_string(),
            skipped: r.skipped.into_iter().collect(),
        }
    }
}

/// When a maintenance happens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    Once(Window),
    Recurring(Recurrence),
}

/// One change to a maintenance; [`Maintenance::update`] applies several as one update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Title(String),
    Impact(Impact),
    Sites(Vec<String>),
    Services(Vec<String>),
    /// New times: a window for a one-off maintenance, a recurrence for a standing one.
    Schedule(Schedule),
    /// Takes one occurrence (by its start) out of a standing window.
    Skip(DateTime<Utc>),
    Status(Status),
}

/// One update: the sequence it produced, when, and what changed. The first entry (sequence 0)
/// is the creation and records the initial schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub sequence: u32,
    pub at: DateTime<Utc>,
    pub changes: Vec<Change>,
}

/// What ops give to schedule a maintenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMaintenance {
    /// Letters, digits, `.`, `_` and `-`: it goes into UIDs and notice keys.
    pub id: String,
    pub title: String,
    pub impact: Impact,
    /// `Tentative` or `Scheduled`.
    pub status: Status,
    pub sites: Vec<String>,
    pub services: Vec<String>,
    pub schedule: Schedule,
}

/// A maintenance with its history. Fields change only through [`Maintenance::update`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Maintenance {
    id: String,
    title: String,
    impact: Impact,
    status: Status,
    sites: Vec<String>,
    services: Vec<String>,
    schedule: Schedule,
    sequence: u32,
    created: DateTime<Utc>,
    history: Vec<HistoryEntry>,
}

/// When notices go out; the broadcast takes it from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoticeSchedule {
    /// How long before each occurrence of a standing window it is announced. (A one-off
    /// maintenance is announced as soon as it is scheduled.)
    pub lead_time: Duration,
    /// How long before a window the reminder goes out. No reminder goes to customers who were
    /// told of the window (or of its new times) less than this long before it.
    pub reminder_before: Duration,
    /// How long after an occurrence of a standing window ends its completion notice may still
    /// go out; a pass that comes later (the daemon was down) skips it as stale.
    pub completion_grace: Duration,
}

impl Default for NoticeSchedule {
    /// A week's notice, a reminder a day before, completions up to six hours late.
    fn default() -> NoticeSchedule {
        NoticeSchedule {
            lead_time: Duration::days(7),
            reminder_before: Duration::hours(24),
            completion_grace: Duration::hours(6),
        }
    }
}

/// The kinds of notice, in the order of a window's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoticeKind {
    Announcement,
    Reschedule,
    Reminder,
    Start,
    Completion,
    Cancellation,
}

impl NoticeKind {
    const ALL: [NoticeKind; 6] = [
        NoticeKind::Announcement,
        NoticeKind::Reschedule,
        NoticeKind::Reminder,
        NoticeKind::Start,
        NoticeKind::Completion,
        NoticeKind::Cancellation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Announcement => "announcement",
            NoticeKind::Reschedule => "reschedule",
            NoticeKind::Reminder => "reminder",
            NoticeKind::Start => "start",
            NoticeKind::Completion => "completion",
            NoticeKind::Cancellation => "cancellation",
        }
    }

    /// Whether customers who got this notice know the window's times.
    pub fn informs(self) -> bool {
        matches!(
            self,
            NoticeKind::Announcement | NoticeKind::Reschedule | NoticeKind::Start
        )
    }
}

impl fmt::Display for NoticeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NoticeKind {
    type Err = String;

    fn from_str(s: &str) -> Result<NoticeKind, String> {
        NoticeKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown notice kind {s:?}"))
    }
}

/// The idempotency key of one notice of one occurrence: a broadcast records it (per recipient
/// in the outbox) before or as it sends, and never sends a recorded key again.
///
/// Its text form, `<maintenance>/<occurrence start, UTC, basic ISO>/<kind>/<sequence>` (for
/// example `MNT-7/20261201T230000Z/reminder/2`), reads back with `parse`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NoticeKey {
    pub maintenance: String,
    pub occurrence: DateTime<Utc>,
    pub kind: NoticeKind,
    pub sequence: u32,
}

const KEY_TIME: &str = "%Y%m%dT%H%M%SZ";

impl fmt::Display for NoticeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.maintenance,
            self.occurrence.format(KEY_TIME),
            self.kind,
            self.sequence
        )
    }
}

impl FromStr for NoticeKey {
    type Err = String;

    fn from_str(s: &str) -> Result<NoticeKey, String> {
        let bad = || format!("notice key {s:?} is not <maintenance>/<start>/<kind>/<sequence>");
        let mut parts = s.rsplitn(4, '/');
        let sequence = parts.next().ok_or_else(bad)?;
        let kind = parts.next().ok_or_else(bad)?;
        let occurrence = parts.next().ok_or_else(bad)?;
        let maintenance = parts.next().ok_or_else(bad)?;
        check_id(maintenance).map_err(|_| bad())?;
        let occurrence = NaiveDateTime::parse_from_str(occurrence, KEY_TIME)
            .map_err(|_| bad())?
            .and_utc();
        Ok(NoticeKey {
            maintenance: maintenance.to_string(),
            occurrence,
            kind: kind.parse()?,
            sequence: sequence.parse().map_err(|_| bad())?,
        })
    }
}

/// A notice due now: its kind, the occurrence it is about, and its key. (The cancellation of
/// an occurrence the schedule no longer holds carries its start and the current duration.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub kind: NoticeKind,
    pub occurrence: Window,
    pub key: NoticeKey,
}

impl Notice {
    /// The status the notice reports (the iCalendar part's `X-MAINTNOTE-STATUS`).
    pub fn status(&self, m: &Maintenance) -> Status {
        match self.kind {
            NoticeKind::Announcement | NoticeKind::Reschedule | NoticeKind::Reminder => {
                match m.status {
                    Status::Tentative => Status::Tentative,
                    Status::Ongoing => Status::Ongoing,
                    _ => Status::Scheduled,
                }
            }
            NoticeKind::Start => Status::Ongoing,
            NoticeKind::Completion => Status::Completed,
            NoticeKind::Cancellation => Status::Cancelled,
        }
    }
}

impl Maintenance {
    /// Schedules a maintenance at `now`, sequence 0. Every problem is named, `; `-separated.
    pub fn new(spec: NewMaintenance, now: DateTime<Utc>) -> Result<Maintenance, String> {
        let mut problems = Vec::new();
        if let Err(e) = check_id(&spec.id) {
            problems.push(e);
        }
        let title = spec.title.trim().to_string();
        if title.is_empty() {
            problems.push("a maintenance needs a title".to_string());
        }
        if !spec.status.is_planned() {
            problems.push(format!(
                "a new maintenance is tentative or scheduled, not {}",
                spec.status
            ));
        }
        if let Err(e) = check_schedule(&spec.schedule) {
            problems.push(e);
        }
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        Ok(Maintenance {
            id: spec.id,
            title,
            impact: spec.impact,
            status: spec.status,
            sites: clean_names(spec.sites),
            services: clean_names(spec.services),
            schedule: spec.schedule.clone(),
            sequence: 0,
            created: now,
            history: vec![HistoryEntry {
                sequence: 0,
                at: now,
                changes: vec![Change::Schedule(spec.schedule)],
            }],
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn title(&self) -> &str {
        &self.title
    }

    pub fn impact(&self) -> Impact {
        self.impact
    }

    pub fn status(&self) -> Status {
        self.status
    }

    pub fn sites(&self) -> &[String] {
        &self.sites
    }

    pub fn services(&self) -> &[String] {
        &self.services
    }

    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The iCalendar SEQUENCE: 0 at creation, one more with each update.
    pub fn sequence(&self) -> u32 {
        self.sequence
    }

    pub fn created(&self) -> DateTime<Utc> {
        self.created
    }

    pub fn history(&self) -> &[HistoryEntry] {
        &self.history
    }

    /// Applies `changes` as one update at `now` and returns the new sequence. Nothing changes
    /// when any of them is refused: a finished maintenance, a transition that does not exist
    /// (see [`Status`]), a one-off turned into a standing window or back, a skip of a start
    /// that is not an occurrence.
    pub fn update(&mut self, changes: Vec<Change>, now: DateTime<Utc>) -> Result<u32, String> {
        if changes.is_empty() {
            return Err(format!("maintenance {}: nothing to change", self.id));
        }
        if self.status.is_terminal() {
            return Err(format!(
                "maintenance {} is {}: it can no longer change",
                self.id, self.status
            ));
        }
        let mut next = self.clone();
        for change in &changes {
            next.apply(change)
                .map_err(|e| format!("maintenance {}: {e}", self.id))?;
        }
        next.sequence = self
            .sequence
            .checked_add(1)
            .ok_or_else(|| format!("maintenance {}: sequence exhausted", self.id))?;
        next.history.push(HistoryEntry {
            sequence: next.sequence,
            at: now,
            changes,
        });
        *self = next;
        Ok(self.sequence)
    }

    /// Marks a one-off maintenance as under way.
    pub fn start(&mut self, now: DateTime<Utc>) -> Result<u32, String> {
        self.update(vec![Change::Status(Status::Ongoing)], now)
    }

    /// Marks a one-off maintenance as done.
    pub fn complete(&mut self, now: DateTime<Utc>) -> Result<u32, String> {
        self.update(vec![Change::Status(Status::Completed)], now)
    }

    /// Cancels a maintenance (a whole series, for a standing window).
    pub fn cancel(&mut self, now: DateTime<Utc>) -> Result<u32, String> {
        self.update(vec![Change::Status(Status::Cancelled)], now)
    }

    /// The windows that share time with `[from, to)`, whatever the status.
    pub fn occurrences(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Window> {
        match &self.schedule {
            Schedule::Once(w) if w.overlaps(from, to) => vec![*w],
            Schedule::Once(_) => Vec::new(),
            Schedule::Recurring(r) => r.windows(from, to),
        }
    }

    /// The identifier of one occurrence for the outside world (`X-MAINTNOTE-MAINTENANCE-ID`
    /// and the UID): the id for a one-off, the id and the occurrence's UTC start for a standing
    /// window (`PLAT-1-20261201T230000Z`), so that each occurrence is its own event for
    /// calendars and ticketing tools rather than an endless reschedule of one.
    pub fn occurrence_id(&self, occurrence: &Window) -> String {
        match self.schedule {
            Schedule::Once(_) => self.id.clone(),
            Schedule::Recurring(_) => {
                format!("{}-{}", self.id, occurrence.start.format(KEY_TIME))
            }
        }
    }

    /// Whether an account with these sites and services is in scope (names compared without
    /// regard to ASCII case). A maintenance with neither sites nor services is platform-wide and
    /// affects everybody.
    pub fn affects(&self, sites: &[String], services: &[String]) -> bool {
        in_scope(&self.sites, &self.services, sites, services)
    }

    /// The notices due at `now`, given the keys already sent (keys of other maintenance are
    /// ignored), ordered by occurrence and kind. A notice's key is never among `sent`.
    ///
    /// A one-off maintenance, by status:
    /// - tentative or scheduled, before its end: the announcement if customers were told
    ///   nothing yet, else a reschedule if its times changed since they were last told; a
    ///   reminder from `reminder_before` before the start, for the current start, if customers
    ///   know the current times and were told them at least `reminder_before` before the start;
    /// - ongoing: the start notice (once), then a reschedule when the window is changed (an
    ///   extension);
    /// - completed: the completion notice (once);
    /// - cancelled: the cancellation (once), if customers had been told anything.
    ///
    /// A standing window, for each occurrence that starts after the maintenance was created,
    /// while tentative or scheduled: the announcement from `lead_time` before its start (a
    /// reschedule instead when an announced occurrence's window changed); the reminder as above
    /// (none when `lead_time` is not longer than `reminder_before`); the start notice during the
    /// window; the completion notice up to `completion_grace` after it, if customers had heard
    /// of the occurrence. An announced occurrence still to come that no longer exists (the rule
    /// changed, the occurrence was skipped, the series cancelled) gets a cancellation; should a
    /// later rule bring it back, it is announced again.
    ///
    /// Each notice carries the current sequence in its key, but what is due is decided from
    /// what was sent whatever its sequence (the sequences order the sent notices), so an update
    /// never repeats an announcement, a reminder, a start or a completion. A pass that comes
    /// late (the daemon was down) sends what is still true: it may send the announcement and,
    /// at its next pass, the reminder.
    pub fn notices_due(
        &self,
        schedule: &NoticeSchedule,
        sent: &[NoticeKey],
        now: DateTime<Utc>,
    ) -> Vec<Notice> {
        let ledger = Ledger {
            keys: sent.iter().filter(|k| k.maintenance == self.id).collect(),
        };
        let mut due = Vec::new();
        match &self.schedule {
            Schedule::Once(w) => self.due_once(*w, schedule, &ledger, now, &mut due),
            Schedule::Recurring(r) => self.due_recurring(r, schedule, &ledger, now, &mut due),
        }
        due.retain(|n| !ledger.keys.contains(&&n.key));
        due.sort_by_key(|n| (n.occurrence.start, n.kind));
        due
    }

    fn due_once(
        &self,
        w: Window,
        schedule: &NoticeSchedule,
        ledger: &Ledger<'_>,
        now: DateTime<Utc>,
        due: &mut Vec<Notice>,
    ) {
        let told = ledger.told(None);
        match self.status {
            Status::Tentative | Status::Scheduled if now < w.end => match told {
                None => due.push(self.notice(NoticeKind::Announcement, w)),
                Some(seq) if self.changed_since(seq, w) => {
                    due.push(self.notice(NoticeKind::Reschedule, w))
                }
                Some(_) => {
                    if self.reminder_due(w, schedule, now)
                        && !ledger.sent(NoticeKind::Reminder, Some(w.start))
                    {
                        due.push(self.notice(NoticeKind::Reminder, w));
                    }
                }
            },
            Status::Ongoing => {
                if !ledger.sent(NoticeKind::Start, None) {
                    due.push(self.notice(NoticeKind::Start, w));
                } else if told.is_some_and(|seq| self.changed_since(seq, w)) {
                    due.push(self.notice(NoticeKind::Reschedule, w));
                }
            }
            Status::Completed => {
                if !ledger.sent(NoticeKind::Completion, None) {
                    due.push(self.notice(NoticeKind::Completion, w));
                }
            }
            Status::Cancelled => {
                if told.is_some() {
                    due.push(self.notice(NoticeKind::Cancellation, w));
                }
            }
            Status::Tentative | Status::Scheduled => {}
        }
    }

    fn due_recurring(
        &self,
        r: &Recurrence,
        schedule: &NoticeSchedule,
        ledger: &Ledger<'_>,
        now: DateTime<Utc>,
        due: &mut Vec<Notice>,
    ) {
        let planned = self.status.is_planned();
        if planned {
            let back = r.duration + schedule.completion_grace.max(Duration::zero());
            let ahead = schedule.lead_time.max(Duration::zero()) + Duration::seconds(1);
            let (from, to) = (minus(now, back), plus(now, ahead));
            for w in r.windows(from, to) {
                if w.start < self.created {
                    continue;
                }
                let told = ledger.told(Some(w.start));
                if now < w.start {
                    if now >= minus(w.start, schedule.lead_time) {
                        match told {
                            None => due.push(self.notice(NoticeKind::Announcement, w)),
                            Some(seq) if self.changed_since(seq, w) => {
                                due.push(self.notice(NoticeKind::Reschedule, w))
                            }
                            Some(_) => {}
                        }
                    }
                    if schedule.lead_time > schedule.reminder_before
                        && told.is_some_and(|seq| !self.changed_since(seq, w))
                        && self.reminder_due(w, schedule, now)
                        && !ledger.sent(NoticeKind::Reminder, Some(w.start))
                    {
                        due.push(self.notice(NoticeKind::Reminder, w));
                    }
                } else if now < w.end {
                    if !ledger.sent(NoticeKind::Start, Some(w.start)) {
                        due.push(self.notice(NoticeKind::Start, w));
                    }
                } else if now < plus(w.end, schedule.completion_grace)
                    && told.is_some()
                    && !ledger.sent(NoticeKind::Completion, Some(w.start))
                {
                    due.push(self.notice(NoticeKind::Completion, w));
                }
            }
        }
        // Occurrences still to come that customers know of and the schedule no longer holds.
        for start in ledger.told_starts() {
            if start <= now {
                continue;
            }
            if planned && r.starts_at(start) {
                continue;
            }
            let end = plus(start, r.duration);
            due.push(self.notice(NoticeKind::Cancellation, Window { start, end }));
        }
    }

    /// Whether the reminder window of `w` is open and customers were told of `w`'s current
    /// times long enough before it for a reminder to make sense.
    fn reminder_due(&self, w: Window, schedule: &NoticeSchedule, now: DateTime<Utc>) -> bool {
        let opens = minus(w.start, schedule.reminder_before);
        now >= opens && now < w.start && self.schedule_set_at() < opens
    }

    /// When the current times were set: the creation or the last change of schedule.
    fn schedule_set_at(&self) -> DateTime<Utc> {
        self.history
            .iter()
            .filter(|h| h.changes.iter().any(|c| matches!(c, Change::Schedule(_))))
            .map(|h| h.at)
            .max()
            .unwrap_or(self.created)
            .max(self.created)
    }

    /// Whether window `w` differs from what the schedule in force at sequence `seq` said.
    fn changed_since(&self, seq: u32, w: Window) -> bool {
        let then = self
            .history
            .iter()
            .filter(|h| h.sequence <= seq)
            .flat_map(|h| &h.changes)
            .filter_map(|c| match c {
                Change::Schedule(s) => Some(s),
                _ => None,
            })
            .next_back();
        match then {
            Some(Schedule::Once(old)) => *old != w,
            Some(Schedule::Recurring(old)) => !old
                .windows(w.start, plus(w.start, Duration::seconds(1)))
                .contains(&w),
            // A history without its creation entry: take the times as known.
            None => false,
        }
    }

    fn notice(&self, kind: NoticeKind, occurrence: Window) -> Notice {
        Notice {
            kind,
            occurrence,
            key: NoticeKey {
                maintenance: self.id.clone(),
                occurrence: occurrence.start,
                kind,
                sequence: self.sequence,
            },
        }
    }

    fn apply(&mut self, change: &Change) -> Result<(), String> {
        match change {
            Change::Title(title) => {
                let title = title.trim();
                if title.is_empty() {
                    return Err("a maintenance needs a title".to_string());
                }
                self.title = title.to_string();
            }
            Change::Impact(impact) => self.impact = *impact,
            Change::Sites(sites) => self.sites = clean_names(sites.clone()),
            Change::Services(services) => self.services = clean_names(services.clone()),
            Change::Schedule(schedule) => {
                check_schedule(schedule)?;
                match (&self.schedule, schedule) {
                    (Schedule::Once(_), Schedule::Once(_)) => {}
                    (Schedule::Recurring(old), Schedule::Recurring(new)) => {
                        // Skipped occurrences stay skipped if the new rule still has them.
                        let mut new = new.clone();
                        new.skipped = old.skipped.clone();
                        self.schedule = Schedule::Recurring(new);
                        return Ok(());
                    }
                    _ => {
                        return Err(
                            "a one-off maintenance cannot become a standing window or back: \
                             cancel it and schedule a new one"
                                .to_string(),
                        )
                    }
                }
                self.schedule = schedule.clone();
            }
            Change::Skip(start) => match &mut self.schedule {
                Schedule::Recurring(r) => {
                    if !r.starts_at(*start) {
                        return Err(format!(
                            "no occurrence starts at {}",
                            start.format(KEY_TIME)
                        ));
                    }
                    r.skipped.insert(*start);
                }
                Schedule::Once(_) => {
                    return Err("only a standing window has occurrences to skip".to_string())
                }
            },
            Change::Status(status) => {
                let recurring = matches!(self.schedule, Schedule::Recurring(_));
                let allowed = match (self.status, *status) {
                    (Status::Tentative, Status::Scheduled) => true,
                    (_, Status::Cancelled) => !self.status.is_terminal(),
                    (Status::Tentative | Status::Scheduled, Status::Ongoing) => !recurring,
                    (Status::Scheduled | Status::Ongoing, Status::Completed) => !recurring,
                    _ => false,
                };
                if !allowed {
                    return Err(if recurring {
                        format!(
                            "a standing window cannot go from {} to {}: its occurrences \
                             start and complete with the clock, and cancelling ends the series",
                            self.status, status
                        )
                    } else {
                        format!("cannot go from {} to {}", self.status, status)
                    });
                }
                self.status = *status;
            }
        }
        Ok(())
    }
}

/// The sent keys of one maintenance, read as its notice history.
struct Ledger<'a> {
    keys: Vec<&'a NoticeKey>,
}

impl Ledger<'_> {
    /// Whether a notice of `kind` was sent (for the occurrence starting at `at`, if given).
    fn sent(&self, kind: NoticeKind, at: Option<DateTime<Utc>>) -> bool {
        self.keys
            .iter()
            .any(|k| k.kind == kind && at.is_none_or(|at| k.occurrence == at))
    }

    /// The highest sequence at which customers were told the times (of the occurrence starting
    /// at `at`, if given), or `None` if they never were or were last told it is cancelled.
    /// Sequences order the notices: at one sequence an occurrence cannot be both announced and
    /// cancelled.
    fn told(&self, at: Option<DateTime<Utc>>) -> Option<u32> {
        let latest = |informs: bool| {
            self.keys
                .iter()
                .filter(|k| {
                    let kind = if informs {
                        k.kind.informs()
                    } else {
                        k.kind == NoticeKind::Cancellation
                    };
                    kind && at.is_none_or(|at| k.occurrence == at)
                })
                .map(|k| k.sequence)
                .max()
        };
        match (latest(true), latest(false)) {
            (Some(told), Some(cancelled)) if cancelled >= told => None,
            (told, _) => told,
        }
    }

    /// The starts of the occurrences customers were told of (and not told are cancelled).
    fn told_starts(&self) -> BTreeSet<DateTime<Utc>> {
        self.keys
            .iter()
            .filter(|k| k.kind.informs())
            .map(|k| k.occurrence)
            .filter(|at| self.told(Some(*at)).is_some())
            .collect()
    }
}

/// `t - d`, or the earliest instant when that is out of range.
fn minus(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t.checked_sub_signed(d).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `t + d`, or the latest instant when that is out of range.
fn plus(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t.checked_add_signed(d).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A rule's `UNTIL`, which this module places in local time itself.
#[derive(Debug, Clone, Copy)]
enum Until {
    Utc(DateTime<Utc>),
    Local(NaiveDateTime),
}

/// A checked rule: the text for rrule without `UNTIL`, and the `UNTIL`.
struct ParsedRule {
    base: String,
    until: Option<Until>,
}

fn normalise_rule(rule: &str) -> String {
    let rule = rule.trim().to_ascii_uppercase();
    rule.strip_prefix("RRULE:")
        .unwrap_or(&rule)
        .trim()
        .to_string()
}

fn parse_rule(rule: &str) -> Result<ParsedRule, String> {
    let problem = |what: String| format!("recurrence rule {rule:?}: {what}");
    let mut base = Vec::new();
    let mut until = None;
    let mut freq = None;
    let mut ordinal_days = false;
    let mut count = false;
    for part in rule.split(';').filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| problem(format!("{part:?} is not NAME=VALUE")))?;
        match key {
            "FREQ" => {
                if !matches!(value, "DAILY" | "WEEKLY" | "MONTHLY" | "YEARLY") {
                    return Err(problem(format!(
                        "FREQ={value} is not supported: use DAILY, WEEKLY, MONTHLY or YEARLY"
                    )));
                }
                freq = Some(value);
            }
            "UNTIL" => {
                until = Some(parse_until(value).ok_or_else(|| {
                    problem(format!(
                        "UNTIL={value} is not YYYYMMDD, YYYYMMDDTHHMMSS or YYYYMMDDTHHMMSSZ"
                    ))
                })?);
                continue;
            }
            "BYDAY" => {
                ordinal_days = value.split(',').any(|d| {
                    d.trim_start_matches(['+', '-'])
                        .starts_with(|c: char| c.is_ascii_digit())
                });
            }
            "COUNT" => count = true,
            "INTERVAL" | "BYMONTHDAY" | "BYMONTH" | "BYSETPOS" | "WKST" => {}
            "BYHOUR" | "BYMINUTE" | "BYSECOND" => {
                return Err(problem(format!(
                    "{key} is not allowed: the time of day is the window's start time"
                )))
            }
            _ => return Err(problem(format!("{key} is not supported"))),
        }
        base.push(part);
    }
    let Some(freq) = freq else {
        return Err(problem("FREQ is missing".to_string()));
    };
    if count && until.is_some() {
        return Err(problem("COUNT and UNTIL exclude each other".to_string()));
    }
    if ordinal_days && !matches!(freq, "MONTHLY" | "YEARLY") {
        return Err(problem(
            "a numbered BYDAY (such as 1WE) needs FREQ=MONTHLY or FREQ=YEARLY".to_string(),
        ));
    }
    Ok(ParsedRule {
        base: base.join(";"),
        until,
    })
}

fn parse_until(value: &str) -> Option<Until> {
    if let Some(utc) = value.strip_suffix('Z') {
        let at = NaiveDateTime::parse_from_str(utc, "%Y%m%dT%H%M%S").ok()?;
        return Some(Until::Utc(at.and_utc()));
    }
    if let Ok(at) = NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%S") {
        return Some(Until::Local(at));
    }
    let date = NaiveDate::parse_from_str(value, "%Y%m%d").ok()?;
    // A date UNTIL includes that whole local day.
    let last = NaiveTime::from_hms_opt(23, 59, 59)?;
    Some(Until::Local(date.and_time(last)))
}

pub(crate) fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "maintenance id {id:?}: use 1 to 64 letters, digits, '.', '_' or '-'"
        ))
    }
}

fn check_schedule(schedule: &Schedule) -> Result<(), String> {
    match schedule {
        Schedule::Once(w) => Window::new(w.start, w.end).map(|_| ()),
        // A Recurrence is checked when it is built.
        Schedule::Recurring(_) => Ok(()),
    }
}

/// Whether an account with `sites` and `services` is in a scope of `our_sites` and
/// `our_services` (maintenance and incidents alike): with neither, everybody; else anyone
/// sharing a site or a service, names compared without regard to ASCII case.
pub(crate) fn in_scope(
    our_sites: &[String],
    our_services: &[String],
    sites: &[String],
    services: &[String],
) -> bool {
    if our_sites.is_empty() && our_services.is_empty() {
        return true;
    }
    let meets = |ours: &[String], theirs: &[String]| {
        ours.iter()
            .any(|a| theirs.iter().any(|b| a.eq_ignore_ascii_case(b.trim())))
    };
    meets(our_sites, sites) || meets(our_services, services)
}

/// Trimmed, without empty entries or repeats (ignoring ASCII case), in the given order.
pub(crate) fn clean_names(names: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let name = name.trim();
        if !name.is_empty() && !out.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            out.push(name.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use chrono_tz::America::Santiago;
    use chrono_tz::Europe::Paris;
    use proptest::prelude::*;

    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test instant")
            .with_timezone(&Utc)
    }

    fn hhmm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).expect("test time")
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("test date")
    }

    fn rec(rule: &str, from: NaiveDate, at: NaiveTime, hours: i64, tz: Tz) -> Recurrence {
        Recurrence::new(rule, from, at, Duration::hours(hours), tz).expect("test rule")
    }

    /// "00:00–06:00 Europe/Paris" from 2026-01-01 under `rule`.
    fn paris_nights(rule: &str) -> Recurrence {
        rec(rule, day(2026, 1, 1), hhmm(0, 0), 6, Paris)
    }

    fn starts(windows: &[Window]) -> Vec<String> {
        windows
            .iter()
            .map(|w| w.start.format("%Y-%m-%dT%H:%MZ").to_string())
            .collect()
    }

    fn maintenance(schedule: Schedule, created: DateTime<Utc>) -> Maintenance {
        Maintenance::new(
            NewMaintenance {
                id: "MNT-1".to_string(),
                title: "Core router upgrade AM11".to_string(),
                impact: Impact::Outage,
                status: Status::Scheduled,
                sites: vec!["AM11".to_string()],
                services: vec![],
                schedule,
            },
            created,
        )
        .expect("test maintenance")
    }

    fn once(start: &str, end: &str, created: &str) -> Maintenance {
        let w = Window::new(utc(start), utc(end)).expect("test window");
        maintenance(Schedule::Once(w), utc(created))
    }

    // The first Wednesday of each month, 00:00 Paris, in UTC: 23:00 the day before in winter,
    // 22:00 in summer (computed independently with Python's zoneinfo).
    const FIRST_WEDNESDAYS: [&str; 24] = [
        "2026-01-06T23:00Z",
        "2026-02-03T23:00Z",
        "2026-03-03T23:00Z",
        "2026-03-31T22:00Z",
        "2026-05-05T22:00Z",
        "2026-06-02T22:00Z",
        "2026-06-30T22:00Z",
        "2026-08-04T22:00Z",
        "2026-09-01T22:00Z",
        "2026-10-06T22:00Z",
        "2026-11-03T23:00Z",
        "2026-12-01T23:00Z",
        "2027-01-05T23:00Z",
        "2027-02-02T23:00Z",
        "2027-03-02T23:00Z",
        "2027-04-06T22:00Z",
        "2027-05-04T22:00Z",
        "2027-06-01T22:00Z",
        "2027-07-06T22:00Z",
        "2027-08-03T22:00Z",
        "2027-08-31T22:00Z",
        "2027-10-05T22:00Z",
        "2027-11-02T23:00Z",
        "2027-11-30T23:00Z",
    ];

    #[test]
    fn first_wednesday_of_the_month_in_paris_over_2026_and_2027() {
        let r = paris_nights("FREQ=MONTHLY;BYDAY=1WE");
        let ws = r.windows(utc("2026-01-01T00:00:00Z"), utc("2028-01-01T00:00:00Z"));
        assert_eq!(starts(&ws), FIRST_WEDNESDAYS);
        for w in &ws {
            assert_eq!(w.duration(), Duration::hours(6));
            assert_eq!(w.start.with_timezone(&Paris).time(), hhmm(0, 0));
        }
    }

    #[test]
    fn other_wednesdays_across_both_changes_of_2026() {
        let r = paris_nights("FREQ=MONTHLY;BYDAY=2WE,3WE,4WE,5WE");
        let table = [
            (
                "2026-03-01T00:00:00Z",
                "2026-05-01T00:00:00Z",
                vec![
                    "2026-03-10T23:00Z",
                    "2026-03-17T23:00Z",
                    "2026-03-24T23:00Z",
                    "2026-04-07T22:00Z",
                    "2026-04-14T22:00Z",
                    "2026-04-21T22:00Z",
                    "2026-04-28T22:00Z",
                ],
            ),
            (
                "2026-10-01T00:00:00Z",
                "2026-12-01T00:00:00Z",
                vec![
                    "2026-10-13T22:00Z",
                    "2026-10-20T22:00Z",
                    "2026-10-27T23:00Z",
                    "2026-11-10T23:00Z",
                    "2026-11-17T23:00Z",
                    "2026-11-24T23:00Z",
                ],
            ),
        ];
        for (from, to, expected) in table {
            assert_eq!(
                starts(&r.windows(utc(from), utc(to))),
                expected,
                "{from}..{to}"
            );
        }
    }

    #[test]
    fn first_and_other_wednesdays_are_every_wednesday_once() {
        let (from, to) = (utc("2026-01-01T00:00:00Z"), utc("2028-01-01T00:00:00Z"));
        let first = paris_nights("FREQ=MONTHLY;BYDAY=1WE").windows(from, to);
        let others = paris_nights("FREQ=MONTHLY;BYDAY=2WE,3WE,4WE,5WE").windows(from, to);
        let all = paris_nights("FREQ=WEEKLY;BYDAY=WE").windows(from, to);
        let mut both: Vec<Window> = first.iter().chain(&others).copied().collect();
        both.sort();
        assert_eq!(both, all);
        assert_eq!(all.len(), 104);
    }

    #[test]
    fn count_until_and_interval() {
        let (from, to) = (utc("2025-01-01T00:00:00Z"), utc("2030-01-01T00:00:00Z"));
        let table: [(&str, &[&str]); 7] = [
            ("FREQ=MONTHLY;BYDAY=1WE;COUNT=3", &FIRST_WEDNESDAYS[..3]),
            // UNTIL in UTC, the RFC form; inclusive, and compared as an instant.
            (
                "FREQ=MONTHLY;BYDAY=1WE;UNTIL=20260303T230000Z",
                &FIRST_WEDNESDAYS[..3],
            ),
            (
                "FREQ=MONTHLY;BYDAY=1WE;UNTIL=20260303T225959Z",
                &FIRST_WEDNESDAYS[..2],
            ),
            // UNTIL as a local date includes that whole local day.
            (
                "FREQ=MONTHLY;BYDAY=1WE;UNTIL=20260304",
                &FIRST_WEDNESDAYS[..3],
            ),
            (
                "FREQ=MONTHLY;BYDAY=1WE;UNTIL=20260303",
                &FIRST_WEDNESDAYS[..2],
            ),
            // UNTIL in local time.
            (
                "FREQ=MONTHLY;BYDAY=1WE;UNTIL=20260401T000000",
                &FIRST_WEDNESDAYS[..4],
            ),
            (
                "RRULE:freq=monthly;interval=6;byday=1we;count=4",
                &[
                    FIRST_WEDNESDAYS[0],
                    FIRST_WEDNESDAYS[6],
                    FIRST_WEDNESDAYS[12],
                    FIRST_WEDNESDAYS[18],
                ],
            ),
        ];
        for (rule, expected) in table {
            assert_eq!(
                starts(&paris_nights(rule).windows(from, to)),
                expected,
                "{rule}"
            );
        }
    }

    #[test]
    fn a_nonexistent_local_start_is_the_instant_of_the_jump() {
        // 02:30 on 2026-03-29 does not exist in Paris: the clocks jump from 02:00 CET
        // (01:00Z) to 03:00 CEST. The window starts at the jump and keeps its hour.
        let r = rec(
            "FREQ=WEEKLY;BYDAY=SU",
            day(2026, 3, 22),
            hhmm(2, 30),
            1,
            Paris,
        );
        let ws = r.windows(utc("2026-03-22T00:00:00Z"), utc("2026-04-06T00:00:00Z"));
        assert_eq!(
            starts(&ws),
            [
                "2026-03-22T01:30Z",
                "2026-03-29T01:00Z",
                "2026-04-05T00:30Z"
            ]
        );
        assert_eq!(ws[1].end, utc("2026-03-29T02:00:00Z"));
        // 02:30 on 2026-10-25 occurs twice: the first (CEST, 00:30Z) is taken.
        let r = rec(
            "FREQ=WEEKLY;BYDAY=SU",
            day(2026, 10, 18),
            hhmm(2, 30),
            1,
            Paris,
        );
        let ws = r.windows(utc("2026-10-18T00:00:00Z"), utc("2026-11-02T00:00:00Z"));
        assert_eq!(
            starts(&ws),
            [
                "2026-10-18T00:30Z",
                "2026-10-25T00:30Z",
                "2026-11-01T01:30Z"
            ]
        );
    }

    #[test]
    fn a_nonexistent_local_midnight_is_not_dropped() {
        // Santiago skips 2026-09-06 00:00 (-04 to -03); rrule alone drops that day.
        let r = rec("FREQ=DAILY", day(2026, 9, 4), hhmm(0, 0), 2, Santiago);
        let ws = r.windows(utc("2026-09-04T00:00:00Z"), utc("2026-09-08T12:00:00Z"));
        assert_eq!(
            starts(&ws),
            [
                "2026-09-04T04:00Z",
                "2026-09-05T04:00Z",
                "2026-09-06T04:00Z",
                "2026-09-07T03:00Z",
                "2026-09-08T03:00Z",
            ]
        );
    }

    #[test]
    fn the_duration_is_real_time_across_a_change() {
        let r = rec("FREQ=DAILY", day(2026, 3, 28), hhmm(0, 0), 6, Paris);
        let ws = r.windows(utc("2026-03-28T12:00:00Z"), utc("2026-03-29T12:00:00Z"));
        assert_eq!(ws.len(), 1);
        assert_eq!(ws[0].start, utc("2026-03-28T23:00:00Z"));
        // 07:00 CEST: six real hours.
        assert_eq!(ws[0].end.with_timezone(&Paris).time(), hhmm(7, 0));
    }

    #[test]
    fn rules_refused_with_a_reason() {
        let table = [
            ("FREQ=WEEKLY;BYDAY=1WE", "numbered BYDAY"),
            ("FREQ=HOURLY", "FREQ=HOURLY is not supported"),
            ("BYDAY=WE", "FREQ is missing"),
            ("FREQ=DAILY;BYHOUR=3", "BYHOUR is not allowed"),
            (
                "FREQ=DAILY;DTSTART=20260101T000000",
                "DTSTART is not supported",
            ),
            ("FREQ=DAILY;UNTIL=tomorrow", "UNTIL=TOMORROW"),
            ("FREQ=DAILY;UNTIL=20250101", "UNTIL"),
            ("FREQ=MONTHLY;BYMONTH=2;BYMONTHDAY=30", "no occurrence"),
            ("FREQ=DAILY;COUNT=2;UNTIL=20270101", "COUNT"),
            ("FREQ", "not NAME=VALUE"),
        ];
        for (rule, expected) in table {
            let err = Recurrence::new(rule, day(2026, 1, 1), hhmm(0, 0), Duration::hours(1), Paris)
                .expect_err(rule);
            assert!(err.contains(expected), "{rule}: {err}");
        }
        for hours in [0, -1, 24 * 8] {
            assert!(Recurrence::new(
                "FREQ=DAILY",
                day(2026, 1, 1),
                hhmm(0, 0),
                Duration::hours(hours),
                Paris
            )
            .is_err());
        }
    }

    #[test]
    fn a_maintenance_survives_serialisation() {
        let mut m = maintenance(
            Schedule::Recurring(paris_nights("FREQ=MONTHLY;BYDAY=1WE")),
            utc("2026-01-01T00:00:00Z"),
        );
        m.update(
            vec![Change::Skip(utc(FIRST_WEDNESDAYS[1]
                .replace('Z', ":00Z")
                .as_str()))],
            utc("2026-01-02T00:00:00Z"),
        )
        .expect("skip");
        let json = serde_json::to_string(&m).expect("serialise");
        let back: Maintenance = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, m);
        let broken = json.replace("BYDAY=1WE", "BYDAY=1WE;BYHOUR=2");
        assert!(serde_json::from_str::<Maintenance>(&broken).is_err());
    }

    #[test]
    fn notice_keys_read_back() {
        let key = NoticeKey {
            maintenance: "MNT-7".to_string(),
            occurrence: utc("2026-12-01T23:00:00Z"),
            kind: NoticeKind::Reminder,
            sequence: 2,
        };
        assert_eq!(key.to_string(), "MNT-7/20261201T230000Z/reminder/2");
        assert_eq!(key.to_string().parse::<NoticeKey>(), Ok(key));
        for bad in [
            "",
            "MNT-7/20261201T230000Z/reminder",
            "MNT-7/x/reminder/2",
            "a b/20261201T230000Z/start/1",
        ] {
            assert!(bad.parse::<NoticeKey>().is_err(), "{bad}");
        }
    }

    #[test]
    fn new_names_every_problem() {
        let err = Maintenance::new(
            NewMaintenance {
                id: "bad id".to_string(),
                title: "  ".to_string(),
                impact: Impact::Outage,
                status: Status::Ongoing,
                sites: vec![],
                services: vec![],
                schedule: Schedule::Once(Window {
                    start: utc("2026-12-02T06:00:00Z"),
                    end: utc("2026-12-02T00:00:00Z"),
                }),
            },
            utc("2026-11-01T00:00:00Z"),
        )
        .expect_err("invalid");
        for part in ["maintenance id", "title", "not ongoing", "must end after"] {
            assert!(err.contains(part), "{err}");
        }
    }

    #[test]
    fn updates_bump_the_sequence_and_are_all_or_nothing() {
        let mut m = once(
            "2026-12-01T23:00:00Z",
            "2026-12-02T05:00:00Z",
            "2026-11-01T00:00:00Z",
        );
        assert_eq!(m.sequence(), 0);
        let t = utc("2026-11-02T00:00:00Z");
        assert_eq!(m.update(vec![Change::Impact(Impact::Degraded)], t), Ok(1));
        // One bad change refuses the whole update.
        let before = m.clone();
        let err = m
            .update(vec![Change::Title("New".into()), Change::Skip(t)], t)
            .expect_err("skip on a one-off");
        assert!(err.contains("MNT-1"), "{err}");
        assert_eq!(m, before);
        let recurring = Schedule::Recurring(paris_nights("FREQ=DAILY"));
        assert!(m.update(vec![Change::Schedule(recurring)], t).is_err());
        assert!(m.update(vec![], t).is_err());
        assert_eq!(m.start(t), Ok(2));
        assert!(m
            .update(vec![Change::Status(Status::Scheduled)], t)
            .is_err());
        assert_eq!(m.complete(t), Ok(3));
        assert!(m.cancel(t).expect_err("finished").contains("completed"));
        let seqs: Vec<u32> = m.history().iter().map(|h| h.sequence).collect();
        assert_eq!(seqs, [0, 1, 2, 3]);
    }

    #[test]
    fn a_standing_window_is_only_cancelled_by_hand() {
        let mut m = maintenance(
            Schedule::Recurring(paris_nights("FREQ=MONTHLY;BYDAY=1WE")),
            utc("2026-01-01T00:00:00Z"),
        );
        let t = utc("2026-01-02T00:00:00Z");
        assert!(m.start(t).expect_err("clock").contains("with the clock"));
        assert!(m.complete(t).is_err());
        assert!(m
            .update(vec![Change::Skip(utc("2026-01-08T23:00:00Z"))], t)
            .expect_err("not an occurrence")
            .contains("no occurrence"));
        assert_eq!(m.cancel(t), Ok(1));
    }

    #[test]
    fn affects_by_site_or_service() {
        let mut m = once(
            "2026-12-01T23:00:00Z",
            "2026-12-02T05:00:00Z",
            "2026-11-01T00:00:00Z",
        );
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let t = utc("2026-11-02T00:00:00Z");
        m.update(vec![Change::Services(s(&["transit", " "]))], t)
            .expect("services");
        let table: [(&[&str], &[&str], bool); 5] = [
            (&["AM11"], &[], true),
            (&["am11"], &[], true),
            (&["FR5"], &["Transit"], true),
            (&["FR5"], &["colo"], false),
            (&[], &[], false),
        ];
        for (sites, services, expected) in table {
            assert_eq!(
                m.affects(&s(sites), &s(services)),
                expected,
                "{sites:?} {services:?}"
            );
        }
        assert_eq!(m.services(), ["transit"]);
        m.update(vec![Change::Sites(vec![]), Change::Services(vec![])], t)
            .expect("platform-wide");
        assert!(m.affects(&[], &[]), "platform-wide affects everybody");
    }

    /// Runs one pass: what is due at `now`, recorded as sent.
    fn pass(
        m: &Maintenance,
        schedule: &NoticeSchedule,
        sent: &mut Vec<NoticeKey>,
        now: DateTime<Utc>,
    ) -> Vec<NoticeKind> {
        let due = m.notices_due(schedule, sent, now);
        for n in &due {
            assert!(!sent.contains(&n.key), "{} sent twice", n.key);
            assert_eq!(n.key.kind, n.kind);
            assert_eq!(n.key.occurrence, n.occurrence.start);
        }
        sent.extend(due.iter().map(|n| n.key.clone()));
        due.iter().map(|n| n.kind).collect()
    }

    use NoticeKind::{Announcement, Cancellation, Completion, Reminder, Reschedule, Start};

    #[test]
    fn a_one_off_through_its_life() {
        let sched = NoticeSchedule::default();
        let mut m = once(
            "2026-12-01T23:00:00Z",
            "2026-12-02T05:00:00Z",
            "2026-11-01T09:00:00Z",
        );
        let mut sent = Vec::new();
        let steps: [(&str, &[NoticeKind]); 6] = [
            ("2026-11-01T09:00:00Z", &[Announcement]),
            ("2026-11-01T09:05:00Z", &[]),
            ("2026-11-30T22:59:59Z", &[]),
            ("2026-11-30T23:00:00Z", &[Reminder]),
            ("2026-11-30T23:30:00Z", &[]),
            ("2026-12-01T23:10:00Z", &[]),
        ];
        for (now, expected) in steps {
            assert_eq!(pass(&m, &sched, &mut sent, utc(now)), expected, "{now}");
        }
        m.start(utc("2026-12-01T23:15:00Z")).expect("start");
        assert_eq!(
            pass(&m, &sched, &mut sent, utc("2026-12-01T23:15:00Z")),
            [Start]
        );
        // Extended while under way: customers hear of the new end.
        let longer = Window::new(utc("2026-12-01T23:00:00Z"), utc("2026-12-02T07:00:00Z"));
        m.update(
            vec![Change::Schedule(Schedule::Once(longer.expect("window")))],
            utc("2026-12-02T04:00:00Z"),
        )
        .expect("extend");
        assert_eq!(
            pass(&m, &sched, &mut sent, utc("2026-12-02T04:00:00Z")),
            [Reschedule]
        );
        assert_eq!(pass(&m, &sched, &mut sent, utc("2026-12-02T04:01:00Z")), []);
        m.complete(utc("2026-12-02T06:00:00Z")).expect("complete");
        assert_eq!(
            pass(&m, &sched, &mut sent, utc("2026-12-02T06:00:00Z")),
            [Completion]
        );
        assert_eq!(pass(&m, &sched, &mut sent, utc("2026-12-09T00:00:00Z")), []);
        let seqs: Vec<u32> = sent.iter().map(|k| k.sequence).collect();
        assert_eq!(seqs, [0, 0, 1, 2, 3]);
    }

    #[test]
    fn a_rescheduled_one_off_is_reminded_of_its_new_time() {
        let sched = NoticeSchedule::default();
        let mut m = once(
            "2026-12-01T23:00:00Z",
            "2026-12-02T05:00:00Z",
            "2026-11-01T09:00:00Z",
        );
        let mut sent = Vec::new();
        assert_eq!(
            pass(&m, &sched, &mut sent, utc("2026-11-01T09:00:00Z")),
            [Announcement]
        );
        assert_eq!(
            pass(&m, &sched, &mut sent, utc("2026-11-30T23:00:00Z")),
            [Reminder]
        );
        let later =
            Window::new(utc("2026-12-08T23:00:00Z"), utc("2026-12-09T05:00:00Z")).expect("window");
        m.update(
            vec![Change::Schedule(Schedule::Once(later))],
            utc("2026-12-01T12:00:00Z"),
        )
        .expect("reschedule");
        assert_eq!(
            pass(&m, &sched, &mut sent, utc("2026-12-01T12:00:00Z")),
            [Reschedule]
        );
        assert_eq!(
            pass(&m, &sched, &mut sent, utc("2026-12-07T23:00:00Z")),
            [Reminder]
        );
        // Back to a time customers were already told of at sequence 0 is still news.
        let first =
            Window::new(utc("2026-12-01T23:00:00Z"), utc("2026-12-02T05:00:00Z")).expect("window");
        m.update(
            vec![Change::Schedule(Schedule::Once(first))],
            utc("2026-12-01T20:00:00Z"),
        )
        .expect("reschedule back");
        assert_eq!(
            pass(&m, &sched, &mut sent, utc("2026-12-01T20:00:00Z")),
            [Reschedule]
        );
        // Told less than a day before: no reminder on top, the reminder key already exists.
        assert_eq!(pass(&m, &sched, &mut sent, utc("2026-12-01T22:00:00Z")), []);
    }

    #[test]
    fn a_one_off_rescheduled_before_anyone_was_told_is_just_announced() {
        let sched = NoticeSchedule::default();
        let mut m = once(
            "2026-12-01T23:00:00Z",
            "2026-12-02T05:00:00Z",
            "2026-11-01T09:00:00Z",
        );
        let later =
            Window::new(utc("2026-12-08T23:00:00Z"), utc("2026-12-09T05:00:00Z")).expect("window");
        m.update(
            vec![Change::Schedule(Schedule::Once(later))],
            utc("2026-11-01T09:01:00Z"),
        )
        .expect("reschedule");
        let due = m.notices_due(&sched, &[], utc("2026-11-01T09:02:00Z"));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].kind, Announcement);
        assert_eq!(due[0].occurrence, later);
        assert_eq!(due[0].key.sequence, 1);
        assert_eq!(due[0].status(&m), Status::Scheduled);
    }

    #[test]
    fn a_cancelled_one_off_is_cancelled_only_if_announced() {
        let sched = NoticeSchedule::default();
        let now = utc("2026-11-02T00:00:00Z");
        let mut m = once(
            "2026-12-01T23:00:00Z",
            "2026-12-02T05:00:00Z",
            "2026-11-01T09:00:00Z",
        );
        let mut quiet = m.clone();
        quiet.cancel(now).expect("cancel");
        assert_eq!(quiet.notices_due(&sched, &[], now), []);
        let mut sent = Vec::new();
        assert_eq!(
            pass(&m, &sched, &mut sent, utc("2026-11-01T09:00:00Z")),
            [Announcement]
        );
        m.cancel(now).expect("cancel");
        assert_eq!(pass(&m, &sched, &mut sent, now), [Cancellation]);
        assert_eq!(pass(&m, &sched, &mut sent, utc("2026-11-30T23:00:00Z")), []);
        assert_eq!(
            m.notices_due(&sched, &sent[..1], now)[0].status(&m),
            Status::Cancelled
        );
    }

    /// Every notice of a standing window, walking the clock in `step`s from `from` to `to`.
    fn walk(
        m: &Maintenance,
        sched: &NoticeSchedule,
        sent: &mut Vec<NoticeKey>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        step: Duration,
    ) -> BTreeMap<DateTime<Utc>, Vec<(NoticeKind, DateTime<Utc>)>> {
        let mut by_occurrence: BTreeMap<_, Vec<_>> = BTreeMap::new();
        let mut now = from;
        while now < to {
            for n in m.notices_due(sched, sent, now) {
                by_occurrence
                    .entry(n.occurrence.start)
                    .or_default()
                    .push((n.kind, now));
                sent.push(n.key);
            }
            now += step;
        }
        by_occurrence
    }

    #[test]
    fn a_standing_window_gets_each_notice_of_each_occurrence_once() {
        let sched = NoticeSchedule::default();
        let m = maintenance(
            Schedule::Recurring(paris_nights("FREQ=MONTHLY;BYDAY=1WE")),
            utc("2025-12-15T00:00:00Z"),
        );
        let mut sent = Vec::new();
        let step = Duration::minutes(10);
        let seen = walk(
            &m,
            &sched,
            &mut sent,
            utc("2025-12-15T00:00:00Z"),
            utc("2026-12-20T00:00:00Z"),
            step,
        );
        let expected: Vec<DateTime<Utc>> = FIRST_WEDNESDAYS[..12]
            .iter()
            .map(|s| utc(&s.replace('Z', ":00Z")))
            .collect();
        assert_eq!(seen.keys().copied().collect::<Vec<_>>(), expected);
        for (start, notices) in &seen {
            let kinds: Vec<NoticeKind> = notices.iter().map(|(k, _)| *k).collect();
            assert_eq!(
                kinds,
                [Announcement, Reminder, Start, Completion],
                "{start}"
            );
            let at: Vec<DateTime<Utc>> = notices.iter().map(|(_, t)| *t).collect();
            let end = *start + Duration::hours(6);
            assert!(at[0] >= *start - sched.lead_time && at[0] < *start - sched.lead_time + step);
            assert!(at[1] >= *start - sched.reminder_before);
            assert!(at[1] < *start - sched.reminder_before + step);
            assert!(at[2] >= *start && at[2] < *start + step);
            assert!(at[3] >= end && at[3] < end + step);
        }
    }

    #[test]
    fn a_standing_window_skipped_changed_and_cancelled() {
        let sched = NoticeSchedule::default();
        let mut m = maintenance(
            Schedule::Recurring(paris_nights("FREQ=WEEKLY;BYDAY=WE")),
            utc("2026-01-01T00:00:00Z"),
        );
        let mut sent = Vec::new();
        let now = utc("2026-01-01T00:00:00Z");
        // 7 days ahead: the 7th (Jan 6, 23:00Z) is announced.
        assert_eq!(pass(&m, &sched, &mut sent, now), [Announcement]);
        let jan7 = utc("2026-01-06T23:00:00Z");
        m.update(vec![Change::Skip(jan7)], now).expect("skip");
        assert_eq!(pass(&m, &sched, &mut sent, now), [Cancellation]);
        assert_eq!(sent.last().map(|k| k.occurrence), Some(jan7));
        // Move the series to 01:00: the announced 14th at 00:00 is cancelled, 01:00 announced.
        let at = utc("2026-01-07T12:00:00Z");
        assert_eq!(pass(&m, &sched, &mut sent, at), [Announcement]);
        let one_am = rec(
            "FREQ=WEEKLY;BYDAY=WE",
            day(2026, 1, 1),
            hhmm(1, 0),
            5,
            Paris,
        );
        m.update(vec![Change::Schedule(Schedule::Recurring(one_am))], at)
            .expect("move");
        let due = m.notices_due(&sched, &sent, at);
        let got: Vec<(NoticeKind, String)> = due
            .iter()
            .map(|n| (n.kind, n.occurrence.start.format("%dT%H:%M").to_string()))
            .collect();
        assert_eq!(
            got,
            [
                (Cancellation, "13T23:00".to_string()),
                (Announcement, "14T00:00".to_string()),
            ]
        );
        sent.extend(due.into_iter().map(|n| n.key));
        // Cancelling the series cancels what was announced and still to come, once.
        m.cancel(at).expect("cancel");
        assert_eq!(pass(&m, &sched, &mut sent, at), [Cancellation]);
        assert_eq!(pass(&m, &sched, &mut sent, at), []);
        assert_eq!(pass(&m, &sched, &mut sent, utc("2026-02-01T00:00:00Z")), []);
    }

    #[test]
    fn no_reminder_when_the_lead_time_is_not_longer() {
        let sched = NoticeSchedule {
            lead_time: Duration::hours(24),
            reminder_before: Duration::hours(24),
            completion_grace: Duration::hours(1),
        };
        let m = maintenance(
            Schedule::Recurring(paris_nights("FREQ=MONTHLY;BYDAY=1WE")),
            utc("2026-01-01T00:00:00Z"),
        );
        let mut sent = Vec::new();
        let seen = walk(
            &m,
            &sched,
            &mut sent,
            utc("2026-01-01T00:00:00Z"),
            utc("2026-03-01T00:00:00Z"),
            Duration::minutes(30),
        );
        for notices in seen.values() {
            let kinds: Vec<NoticeKind> = notices.iter().map(|(k, _)| *k).collect();
            assert_eq!(kinds, [Announcement, Start, Completion]);
        }
    }

    #[test]
    fn a_pass_after_the_grace_sends_no_stale_completion() {
        let sched = NoticeSchedule::default();
        let m = maintenance(
            Schedule::Recurring(paris_nights("FREQ=MONTHLY;BYDAY=1WE")),
            utc("2026-01-01T00:00:00Z"),
        );
        let mut sent = Vec::new();
        assert_eq!(
            pass(&m, &sched, &mut sent, utc("2026-01-01T00:00:00Z")),
            [Announcement]
        );
        // The daemon was down from before the window until well after it.
        assert_eq!(pass(&m, &sched, &mut sent, utc("2026-01-07T12:00:00Z")), []);
    }

    const RULES: [&str; 5] = [
        "FREQ=MONTHLY;BYDAY=1WE",
        "FREQ=MONTHLY;BYDAY=2WE,3WE,4WE,5WE",
        "FREQ=WEEKLY;BYDAY=SU",
        "FREQ=DAILY;INTERVAL=3",
        "FREQ=MONTHLY;BYDAY=-1SU;COUNT=20",
    ];

    fn zones() -> [Tz; 5] {
        [
            Paris,
            Santiago,
            chrono_tz::America::New_York,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::Asia::Kolkata,
        ]
    }

    proptest! {
        #[test]
        fn occurrences_keep_their_local_time_and_split_cleanly(
            rule in 0..RULES.len(),
            zone in 0..5usize,
            hour in 0u32..24,
            minute in prop::sample::select(vec![0u32, 30]),
            a in 0i64..800,
            b in 0i64..800,
            c in 0i64..800,
        ) {
            let tz = zones()[zone];
            let r = rec(RULES[rule], day(2026, 1, 1), hhmm(hour, minute), 3, tz);
            let mut cuts = [a, b, c];
            cuts.sort();
            let base = utc("2026-01-01T00:00:00Z");
            let [a, b, c] = cuts.map(|d| base + Duration::days(d));
            let whole = r.windows(a, c);
            let mut parts = r.windows(a, b);
            for w in r.windows(b, c) {
                if !parts.contains(&w) {
                    parts.push(w);
                }
            }
            prop_assert_eq!(&parts, &whole);
            for pair in whole.windows(2) {
                prop_assert!(pair[0].start < pair[1].start);
            }
            for w in &whole {
                prop_assert_eq!(w.duration(), Duration::hours(3));
                let local = w.start.with_timezone(&tz);
                let wanted = local.date_naive().and_time(hhmm(hour, minute));
                // Either the local start is the wanted time, or that time does not exist
                // that day and the start is the jump.
                prop_assert!(
                    local.time() == hhmm(hour, minute)
                        || tz.from_local_datetime(&wanted).earliest().is_none(),
                    "{} in {}", w.start, tz
                );
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Jump to this many minutes after the base (backwards too).
        Now(i64),
        /// Move on this many minutes.
        Tick(i64),
        Shift(i64),
        Longer,
        Skip,
        Start,
        Complete,
        Cancel,
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        prop::collection::vec(
            prop_oneof![
                3 => (-3i64 * 24 * 60..75 * 24 * 60).prop_map(Op::Now),
                6 => (0i64..3 * 24 * 60).prop_map(Op::Tick),
                1 => (-48i64..48).prop_map(Op::Shift),
                1 => Just(Op::Longer),
                1 => Just(Op::Skip),
                1 => Just(Op::Start),
                1 => Just(Op::Complete),
                1 => Just(Op::Cancel),
            ],
            1..80,
        )
    }

    fn send_due(
        m: &Maintenance,
        sched: &NoticeSchedule,
        sent: &mut Vec<NoticeKey>,
        now: DateTime<Utc>,
    ) -> Result<(), TestCaseError> {
        for n in m.notices_due(sched, sent, now) {
            prop_assert!(!sent.contains(&n.key), "{} again", n.key);
            sent.push(n.key);
        }
        Ok(())
    }

    /// Applies `ops` (updates happen at the last `now`), recording what each pass sends, and
    /// checks that no key is sent twice and no notice repeats for an occurrence.
    fn run(mut m: Maintenance, ops: Vec<Op>) -> Result<(), TestCaseError> {
        let sched = NoticeSchedule::default();
        let base = utc("2026-01-01T00:00:00Z");
        let mut now = base;
        let mut sent: Vec<NoticeKey> = Vec::new();
        for op in ops {
            // Refused updates (a finished maintenance, a transition that does not exist) are
            // part of the exploration.
            let _ = match op {
                Op::Now(minutes) => {
                    now = base + Duration::minutes(minutes);
                    send_due(&m, &sched, &mut sent, now)?;
                    Ok(0)
                }
                Op::Tick(minutes) => {
                    now += Duration::minutes(minutes);
                    send_due(&m, &sched, &mut sent, now)?;
                    Ok(0)
                }
                Op::Shift(hours) => {
                    let schedule = match m.schedule() {
                        Schedule::Once(w) => Window::new(
                            w.start + Duration::hours(hours),
                            w.end + Duration::hours(hours),
                        )
                        .map(Schedule::Once),
                        Schedule::Recurring(r) => {
                            let at = r.at() + Duration::hours(hours);
                            Recurrence::new(r.rule(), r.from(), at, r.duration(), r.tz())
                                .map(Schedule::Recurring)
                        }
                    };
                    match schedule {
                        Ok(s) => m.update(vec![Change::Schedule(s)], now),
                        Err(e) => Err(e),
                    }
                }
                Op::Longer => {
                    let schedule = match m.schedule() {
                        Schedule::Once(w) => {
                            Window::new(w.start, w.end + Duration::hours(1)).map(Schedule::Once)
                        }
                        Schedule::Recurring(r) => Recurrence::new(
                            r.rule(),
                            r.from(),
                            r.at(),
                            r.duration() + Duration::hours(1),
                            r.tz(),
                        )
                        .map(Schedule::Recurring),
                    };
                    match schedule {
                        Ok(s) => m.update(vec![Change::Schedule(s)], now),
                        Err(e) => Err(e),
                    }
                }
                Op::Skip => match m.occurrences(now, now + Duration::days(40)).first() {
                    Some(w) => m.update(vec![Change::Skip(w.start)], now),
                    None => Ok(0),
                },
                Op::Start => m.start(now),
                Op::Complete => m.complete(now),
                Op::Cancel => m.cancel(now),
            };
        }
        let unique: HashSet<&NoticeKey> = sent.iter().collect();
        prop_assert_eq!(unique.len(), sent.len());
        let once_only = |kind: NoticeKind, per_occurrence: bool| {
            let mut seen = HashSet::new();
            sent.iter()
                .filter(|k| k.kind == kind)
                .all(|k| seen.insert(per_occurrence.then_some(k.occurrence)))
        };
        let recurring = matches!(m.schedule(), Schedule::Recurring(_));
        prop_assert!(once_only(Reminder, true));
        prop_assert!(once_only(Start, recurring));
        prop_assert!(once_only(Completion, recurring));
        if !recurring {
            prop_assert!(once_only(Announcement, false));
            prop_assert!(once_only(Cancellation, false));
        }
        // Per occurrence, customers are told of it (announcement or start) and told it is
        // cancelled in turn, never twice the same; reschedules and reminders go only to
        // customers who know of it.
        let mut by_start: BTreeMap<Option<DateTime<Utc>>, Vec<&NoticeKey>> = BTreeMap::new();
        for k in &sent {
            by_start
                .entry(recurring.then_some(k.occurrence))
                .or_default()
                .push(k);
        }
        for keys in by_start.values() {
            let mut on = false;
            for k in keys {
                match k.kind {
                    Announcement => {
                        prop_assert!(!on, "announced twice: {}", k);
                        on = true;
                    }
                    Cancellation => {
                        prop_assert!(on, "cancelled unannounced: {}", k);
                        on = false;
                    }
                    Start => on = true,
                    Reschedule | Reminder => prop_assert!(on, "{} before the announcement", k),
                    Completion => {}
                }
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn a_one_off_sends_each_notice_once_whatever_happens(ops in ops()) {
            run(once("2026-02-01T08:00:00Z", "2026-02-01T12:00:00Z", "2026-01-01T00:00:00Z"), ops)?;
        }

        #[test]
        fn a_standing_window_sends_each_notice_once_whatever_happens(ops in ops()) {
            let r = rec("FREQ=WEEKLY;BYDAY=WE", day(2026, 1, 1), hhmm(0, 0), 6, Paris);
            run(maintenance(Schedule::Recurring(r), utc("2026-01-01T00:00:00Z")), ops)?;
        }
    }
}
