//! Maintenance windows: what ops schedule, when each window happens, and which notices it owes.
//!
//! A maintenance is one window ([`Schedule::Once`]) or a standing window that recurs
//! ([`Schedule::Recurring`]: an RRULE such as `FREQ=MONTHLY;BYDAY=1WE`, a local start time, a
//! duration and the ops' time zone). Every change goes through [`Maintenance::update`], which
//! bumps the sequence (the iCalendar SEQUENCE of every later notice) and records the change in
//! the history. Nothing here reads the clock or the store: `now` and the keys already sent come
//! in as arguments, and the answer is a list of notices for the broadcast to carry out.
//!
//! This file holds the aggregate: the [`Maintenance`], its [`Status`], the [`Change`]s ops make
//! and its history. `recurrence.rs` says when it happens ([`Window`], [`Recurrence`] and the
//! placement of local times across daylight-saving changes), `notices.rs` what a notice is
//! ([`NoticeKind`], [`NoticeKey`], [`NoticeSchedule`]), `due.rs` which notices are due
//! ([`Maintenance::notices_due`]), and `timing.rs` what the clock says against a change ops ask
//! for ([`ClockObjection`]: a window already over, a start days early, a completion before the
//! start).
//!
//! Owns: the maintenance and its notice schedule. Builds on `broadcasts::scope` (impact, scope,
//! ids) and on the business calendar's placement of local times; must not import
//! `broadcasts::incident` or anything in `mail`. Inside the folder, `recurrence.rs` knows nothing
//! of the aggregate or its notices; `notices.rs`, `due.rs` and `timing.rs` read the aggregate,
//! which reads none of them.

mod recurrence;
use recurrence::KEY_TIME;
pub use recurrence::{Recurrence, Window, MAX_OCCURRENCES, MAX_RECURRING_DURATION_DAYS};

mod notices;
pub use notices::{Notice, NoticeKey, NoticeKind, NoticeSchedule};
mod due;
mod timing;
pub use timing::{objection_to_schedule, ClockObjection, EARLY_START_HOURS};

pub use crate::core::broadcasts::scope::Impact;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::broadcasts::scope::{check_id, clean_names, in_scope};
use crate::core::str_enum::str_enum;

str_enum! {
    /// Where a maintenance stands. For a standing window only `Tentative`, `Scheduled` and
    /// `Cancelled` apply: its occurrences start and complete with the clock.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "kebab-case")]
    pub enum Status {
        /// Possible, not confirmed (BCOP `TENTATIVE`).
        Tentative => "tentative",
        /// Confirmed (BCOP `CONFIRMED`).
        Scheduled => "scheduled",
        /// Under way (BCOP `IN-PROCESS`).
        Ongoing => "ongoing",
        /// Done (BCOP `COMPLETED`).
        Completed => "completed",
        /// Will not happen, or stopped (BCOP `CANCELLED`).
        Cancelled => "cancelled",
    }
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

fn check_schedule(schedule: &Schedule) -> Result<(), String> {
    match schedule {
        Schedule::Once(w) => Window::new(w.start, w.end).map(|_| ()),
        // A Recurrence is checked when it is built.
        Schedule::Recurring(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::recurrence::tests::{paris_nights, FIRST_WEDNESDAYS};
    use super::*;
    use crate::core::testing::utc;

    pub(super) fn maintenance(schedule: Schedule, created: DateTime<Utc>) -> Maintenance {
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

    pub(super) fn once(start: &str, end: &str, created: &str) -> Maintenance {
        let w = Window::new(utc(start), utc(end)).expect("test window");
        maintenance(Schedule::Once(w), utc(created))
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
}
