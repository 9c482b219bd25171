//! The SLA clock of one ticket: when its first response and its restore are due, and which
//! warnings and breaches to send.
//!
//! The clock starts when the ticket is created and counts the open time of the plan's calendar.
//! It stands still while the ticket waits for the customer (pending) and while it is resolved,
//! and runs again when the customer replies or the ticket is reopened. At 75 % of a target the
//! owner or team is warned; at 100 % the target is breached; each notice goes out once.
//!
//! The clock stores instants only (start, pauses, response, restore, notices sent); every answer
//! is computed from them with the calendar and `now` passed in. So a changed priority
//! ([`SlaClock::set_targets`]) or calendar applies to the whole history at once, and a pause
//! that begins after a target was already breached does not un-breach it.
//!
//! How a ticket's events drive the clock: entering `pending` calls [`SlaClock::pause`], leaving
//! it [`SlaClock::resume`]; the first reply from staff [`SlaClock::responded`]; entering
//! `resolved` or `closed` [`SlaClock::restored`]; leaving them for `open`
//! [`SlaClock::reopened`] (then `pause` as well if reopened into `pending`). After each change the
//! caller asks [`SlaClock::next_notice_at`] again for its timer queue.
//!
//! The vocabulary of targets and levels, and durations as plans write them, are in `targets.rs`;
//! this file is the clock.
//!
//! Owns: the SLA clock of a ticket. Builds on `service::calendar` (the open time it counts);
//! must not import `mail` or `broadcasts`, nor the ticket that stores the clock.

mod targets;
pub use targets::{
    format_duration, parse_duration, parse_target, Level, Target, TargetState, Targets,
};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::core::service::calendar::Calendar;

/// The warning comes when this share of a target has passed: 3/4.
const WARN_NUMERATOR: i32 = 3;
const WARN_DENOMINATOR: i32 = 4;

/// A finished pause of the clock, from the instant it stopped until the instant it ran again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// The SLA clock of one ticket, stored inside the ticket record.
///
/// Pauses are kept as instants rather than as a sum of paused time: whether a pause moves a due
/// time depends on whether it began before that due time, which differs per target and changes
/// when the targets change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaClock {
    pub started_at: DateTime<Utc>,
    /// As applicable now; a priority change replaces them through [`SlaClock::set_targets`].
    pub targets: Targets,
    /// Set while the clock is paused.
    #[serde(default)]
    pub paused_since: Option<DateTime<Utc>>,
    /// Finished pauses, in time order, not overlapping.
    #[serde(default)]
    pub pauses: Vec<Pause>,
    #[serde(default)]
    pub responded_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub restored_at: Option<DateTime<Utc>>,
    /// The warnings and breaches already sent (or deliberately skipped), each at most once.
    #[serde(default)]
    pub notified: Vec<(Target, Level)>,
}

impl SlaClock {
    /// The clock of a ticket created at `at`.
    pub fn start(at: DateTime<Utc>, targets: Targets) -> SlaClock {
        SlaClock {
            started_at: at,
            targets,
            paused_since: None,
            pauses: Vec::new(),
            responded_at: None,
            restored_at: None,
            notified: Vec::new(),
        }
    }

    /// The ticket waits for the customer from `at`. Idempotent: pausing a paused clock keeps the
    /// first instant. An instant before the start or before the end of the previous pause is
    /// moved up to it, so pauses stay in order.
    pub fn pause(&mut self, at: DateTime<Utc>) {
        if self.paused_since.is_some() {
            return;
        }
        let earliest = self
            .pauses
            .last()
            .map_or(self.started_at, |p| p.until)
            .max(self.started_at);
        self.paused_since = Some(at.max(earliest));
    }

    /// The clock runs again from `at`. Idempotent: resuming a running clock does nothing.
    ///
    /// No calendar is needed here: the pause is kept as instants, and its open time is counted
    /// when a due time is asked for.
    pub fn resume(&mut self, at: DateTime<Utc>) {
        if let Some(from) = self.paused_since.take() {
            if at > from {
                self.pauses.push(Pause { from, until: at });
            }
        }
    }

    /// Staff answered the customer at `at`. Only the first response counts.
    pub fn responded(&mut self, at: DateTime<Utc>) {
        self.responded_at.get_or_insert(at);
    }

    /// The ticket was resolved at `at`. A resolution is also a response: the first-response
    /// clock stops too if it still ran. Only the first restore (since the last reopening) counts.
    pub fn restored(&mut self, at: DateTime<Utc>) {
        self.restored_at.get_or_insert(at);
        self.responded_at.get_or_insert(at);
    }

    /// The ticket was reopened at `at`: its restore clock runs again.
    ///
    /// The time it spent resolved counts as a pause (the desk believed the service restored and
    /// waited on the customer), so the due time moves by the open time in between. Notices
    /// already sent stay sent.
    pub fn reopened(&mut self, at: DateTime<Utc>) {
        let Some(restored) = self.restored_at.take() else {
            return;
        };
        // A clock already paused (resolved while pending) stays paused until resumed.
        if self.paused_since.is_none() {
            self.pause(restored);
            self.resume(at);
        }
    }

    /// The priority changed: due times move, notices already sent stay sent.
    pub fn set_targets(&mut self, targets: Targets) {
        self.targets = targets;
    }

    /// When `target` is due.
    ///
    /// `None` when there is no such target, when it was met, and while the clock is paused
    /// before the due time: a paused clock has no due time, since it depends on when the
    /// customer replies (the tickets list shows "paused", see [`SlaClock::state`], and
    /// [`SlaClock::remaining`] gives the time left). A due time that passed before the pause
    /// began is fixed and still returned.
    pub fn due(&self, target: Target, cal: &Calendar) -> Option<DateTime<Utc>> {
        if self.met_at(target).is_some() {
            return None;
        }
        self.reached(self.targets.get(target)?, cal)
    }

    /// The instant of the 75 % warning for `target`; `None` as for [`SlaClock::due`].
    pub fn warn_at(&self, target: Target, cal: &Calendar) -> Option<DateTime<Utc>> {
        if self.met_at(target).is_some() {
            return None;
        }
        self.reached(warn_share(self.targets.get(target)?), cal)
    }

    /// Open time left for `target` at `now` (negative once breached); `None` if there is no
    /// target or it was met. Works while paused, for "paused, 2h10m left".
    pub fn remaining(
        &self,
        target: Target,
        now: DateTime<Utc>,
        cal: &Calendar,
    ) -> Option<Duration> {
        if self.met_at(target).is_some() {
            return None;
        }
        let work = self.targets.get(target)?;
        Some(work - self.running_time(now, cal))
    }

    /// Where `target` stands at `now`.
    pub fn state(&self, target: Target, now: DateTime<Utc>, cal: &Calendar) -> TargetState {
        let Some(work) = self.targets.get(target) else {
            return TargetState::None;
        };
        let due = self.reached(work, cal);
        if let Some(at) = self.met_at(target) {
            // A due time still open was not reached before the pause in which the target was met.
            let in_time = due.is_none_or(|due| at <= due);
            return TargetState::Met { at, in_time };
        }
        match due {
            Some(due) if now >= due => TargetState::Breached { due },
            Some(due) => TargetState::Running { due },
            None => TargetState::Paused,
        }
    }

    /// The notices due at `now` that were not sent yet, in time order, each with the instant it
    /// became due; they are marked sent.
    ///
    /// When the warning and the breach of a target are both due (the daemon was down, or the
    /// priority was raised), only the breach is returned: a warning that the target is about to
    /// be missed, sent after it was missed, is noise. The warning is marked sent all the same, so
    /// it never goes out later.
    pub fn take_due_notices(
        &mut self,
        now: DateTime<Utc>,
        cal: &Calendar,
    ) -> Vec<(Target, Level, DateTime<Utc>)> {
        let mut out = Vec::new();
        for target in Target::ALL {
            let warning = self.pending_notice(target, Level::Warning, cal);
            let breach = self.pending_notice(target, Level::Breach, cal);
            match (
                warning.filter(|at| *at <= now),
                breach.filter(|at| *at <= now),
            ) {
                (warning, Some(at)) => {
                    if warning.is_some() {
                        self.notified.push((target, Level::Warning));
                    }
                    self.notified.push((target, Level::Breach));
                    out.push((target, Level::Breach, at));
                }
                (Some(at), None) => {
                    self.notified.push((target, Level::Warning));
                    out.push((target, Level::Warning, at));
                }
                (None, None) => {}
            }
        }
        out.sort_by_key(|&(target, level, at)| (at, target, level));
        out
    }

    /// The next instant at which a notice not yet sent becomes due, for the timer queue; it may
    /// lie in the past when the notices were not taken yet. `None` while nothing is pending,
    /// including while the clock is paused: ask again after [`SlaClock::resume`].
    pub fn next_notice_at(&self, cal: &Calendar) -> Option<DateTime<Utc>> {
        Target::ALL
            .into_iter()
            .flat_map(|t| [(t, Level::Warning), (t, Level::Breach)])
            .filter_map(|(t, l)| self.pending_notice(t, l, cal))
            .min()
    }

    /// When `target` was met, if it was.
    fn met_at(&self, target: Target) -> Option<DateTime<Utc>> {
        match target {
            Target::FirstResponse => self.responded_at,
            Target::Restore => self.restored_at,
        }
    }

    /// When the notice `level` of `target` becomes due, if it is still to be sent.
    fn pending_notice(
        &self,
        target: Target,
        level: Level,
        cal: &Calendar,
    ) -> Option<DateTime<Utc>> {
        if self.notified.contains(&(target, level)) {
            return None;
        }
        match (level, self.met_at(target)) {
            // A target met after its due time was breached all the same: if no pass ran between
            // the due time and the answer, the breach notice is still owed.
            (Level::Breach, Some(met)) => {
                let due = self.reached(self.targets.get(target)?, cal)?;
                (met > due).then_some(due)
            }
            (Level::Warning, _) => self.warn_at(target, cal),
            (Level::Breach, None) => self.due(target, cal),
        }
    }

    /// The instant at which `work` of running time (open and not paused) has passed since the
    /// start; `None` if the clock is paused before reaching it.
    fn reached(&self, work: Duration, cal: &Calendar) -> Option<DateTime<Utc>> {
        let mut from = self.started_at;
        let mut left = work;
        for pause in &self.pauses {
            let at = cal.add(from, left);
            if at <= pause.from {
                return Some(at);
            }
            // The target lies beyond this pause: what ran before it counts, the pause does not.
            left -= cal.open_between(from, pause.from);
            from = from.max(pause.until);
        }
        let at = cal.add(from, left);
        match self.paused_since {
            Some(since) if at > since => None,
            _ => Some(at),
        }
    }

    /// Running time (open and not paused) between the start and `now`.
    fn running_time(&self, now: DateTime<Utc>, cal: &Calendar) -> Duration {
        let mut total = cal.open_between(self.started_at, now);
        let ongoing = self.paused_since.map(|from| Pause { from, until: now });
        for pause in self.pauses.iter().copied().chain(ongoing) {
            total -= cal.open_between(pause.from, pause.until.min(now));
        }
        total
    }
}

/// 75 % of a target.
fn warn_share(work: Duration) -> Duration {
    work * WARN_NUMERATOR / WARN_DENOMINATOR
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::ams;
    use proptest::prelude::*;
    use Level::{Breach, Warning};
    use Target::{FirstResponse, Restore};

    fn office() -> Calendar {
        Calendar::parse(
            "Europe/Amsterdam",
            "08:00-18:00",
            "Mon-Fri",
            &["2026-12-25".to_string()],
        )
        .expect("calendar")
    }

    fn gold_p1() -> Targets {
        Targets {
            first_response: Some(Duration::minutes(15)),
            restore: Some(Duration::hours(4)),
        }
    }

    /// A Gold P1 ticket opened on Friday 2026-06-05 at 23:50 in Amsterdam.
    fn friday_night() -> SlaClock {
        SlaClock::start(ams("2026-06-05 23:50"), gold_p1())
    }

    /// One row: the calendar, the pause (local times) if any, and the expected restore warning
    /// and due time.
    struct Row {
        name: &'static str,
        cal: Calendar,
        pause: Option<(&'static str, &'static str)>,
        warn: &'static str,
        due: &'static str,
    }

    fn check(row: Row) {
        let mut clock = friday_night();
        if let Some((from, until)) = row.pause {
            clock.pause(ams(from));
            // A pause before the due time leaves it open; one after it leaves it fixed.
            let (due, state) = if ams(from) < ams(row.due) {
                (None, TargetState::Paused)
            } else {
                let due = ams(row.due);
                (Some(due), TargetState::Breached { due })
            };
            assert_eq!(clock.due(Restore, &row.cal), due, "{}: paused", row.name);
            assert_eq!(
                clock.state(Restore, ams(from), &row.cal),
                state,
                "{}",
                row.name
            );
            clock.resume(ams(until));
        }
        assert_eq!(
            clock.warn_at(Restore, &row.cal),
            Some(ams(row.warn)),
            "{}: warning",
            row.name
        );
        assert_eq!(
            clock.due(Restore, &row.cal),
            Some(ams(row.due)),
            "{}: due",
            row.name
        );
    }

    #[test]
    fn a_target_met_late_without_a_pass_in_between_still_owes_its_breach() {
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time");
        let targets = Targets {
            first_response: Some(Duration::minutes(15)),
            restore: None,
        };
        let mut clock = SlaClock::start(t0, targets);
        clock.responded(t0 + Duration::minutes(40));
        let cal = Calendar::always();
        assert_eq!(clock.next_notice_at(&cal), Some(t0 + Duration::minutes(15)));
        let notices = clock.take_due_notices(t0 + Duration::minutes(40), &cal);
        assert_eq!(
            notices,
            vec![(FirstResponse, Breach, t0 + Duration::minutes(15))]
        );
        assert!(
            clock
                .take_due_notices(t0 + Duration::hours(5), &cal)
                .is_empty(),
            "once"
        );
        let mut on_time = SlaClock::start(t0, targets);
        on_time.responded(t0 + Duration::minutes(5));
        assert_eq!(on_time.next_notice_at(&cal), None);
    }

    #[test]
    fn gold_p1_restore_table() {
        let rows = [
            Row {
                name: "24x7",
                cal: Calendar::always(),
                pause: None,
                warn: "2026-06-06 02:50",
                due: "2026-06-06 03:50",
            },
            Row {
                name: "business hours",
                cal: office(),
                pause: None,
                warn: "2026-06-08 11:00",
                due: "2026-06-08 12:00",
            },
            // 1h10m ran before the pause; 2h50m (1h50m to the warning) run from Monday 09:00.
            Row {
                name: "24x7, pending Sat 01:00 to Mon 09:00",
                cal: Calendar::always(),
                pause: Some(("2026-06-06 01:00", "2026-06-08 09:00")),
                warn: "2026-06-08 10:50",
                due: "2026-06-08 11:50",
            },
            // Nothing ran before the pause; the clock starts at Monday 09:00, not 08:00.
            Row {
                name: "business hours, pending Sat 01:00 to Mon 09:00",
                cal: office(),
                pause: Some(("2026-06-06 01:00", "2026-06-08 09:00")),
                warn: "2026-06-08 12:00",
                due: "2026-06-08 13:00",
            },
            // After the 03:50 due time: the pause changes nothing.
            Row {
                name: "24x7, pending after the breach",
                cal: Calendar::always(),
                pause: Some(("2026-06-06 05:00", "2026-06-08 09:00")),
                warn: "2026-06-06 02:50",
                due: "2026-06-06 03:50",
            },
        ];
        for row in rows {
            check(row);
        }
        // Thursday 24 December 2026 17:00, Christmas on Friday: due Monday 11:00.
        let mut clock = SlaClock::start(ams("2026-12-24 17:00"), gold_p1());
        assert_eq!(clock.due(Restore, &office()), Some(ams("2026-12-28 11:00")));
        assert_eq!(
            clock.warn_at(Restore, &office()),
            Some(ams("2026-12-28 10:00"))
        );
        clock.restored(ams("2026-12-28 10:30"));
        assert_eq!(clock.due(Restore, &office()), None, "met");
    }

    #[test]
    fn dst_change_days() {
        let targets = Targets {
            first_response: None,
            restore: Some(Duration::hours(8)),
        };
        // 24x7: 8 real hours across the October change (25 h day) and the March one (23 h day).
        let clock = SlaClock::start(ams("2026-10-25 00:00"), targets);
        assert_eq!(
            clock.due(Restore, &Calendar::always()),
            Some(ams("2026-10-25 07:00"))
        );
        let clock = SlaClock::start(ams("2026-03-29 00:00"), targets);
        assert_eq!(
            clock.due(Restore, &Calendar::always()),
            Some(ams("2026-03-29 09:00"))
        );
        // Business hours every day: the change days have their 10 hours, 08:00-16:00 is 8.
        let daily =
            Calendar::parse("Europe/Amsterdam", "08:00-18:00", "Mon-Sun", &[]).expect("cal");
        for day in ["2026-03-29", "2026-10-25"] {
            let clock = SlaClock::start(ams(&format!("{day} 00:00")), targets);
            assert_eq!(
                clock.due(Restore, &daily),
                Some(ams(&format!("{day} 16:00")))
            );
            assert_eq!(
                clock.warn_at(Restore, &daily),
                Some(ams(&format!("{day} 14:00")))
            );
        }
    }

    #[test]
    fn state_through_a_tickets_life() {
        let cal = Calendar::always();
        let mut clock = friday_night();
        let fr = FirstResponse;
        assert_eq!(
            clock.state(fr, ams("2026-06-05 23:55"), &cal),
            TargetState::Running {
                due: ams("2026-06-06 00:05")
            }
        );
        assert_eq!(
            clock.state(fr, ams("2026-06-06 00:05"), &cal),
            TargetState::Breached {
                due: ams("2026-06-06 00:05")
            }
        );
        clock.responded(ams("2026-06-06 00:20"));
        clock.responded(ams("2026-06-06 00:30"));
        assert_eq!(
            clock.state(fr, ams("2026-06-06 01:00"), &cal),
            TargetState::Met {
                at: ams("2026-06-06 00:20"),
                in_time: false
            }
        );
        assert_eq!(clock.remaining(fr, ams("2026-06-06 01:00"), &cal), None);
        let none = SlaClock::start(ams("2026-06-05 23:50"), Targets::default());
        assert_eq!(
            none.state(Restore, ams("2026-06-06 01:00"), &cal),
            TargetState::None
        );
        assert_eq!(none.next_notice_at(&cal), None);

        // Restored at 01:00 in time, reopened Saturday 09:00: the restore clock runs again from
        // there with the 2h50m it had left.
        clock.restored(ams("2026-06-06 01:00"));
        assert_eq!(
            clock.state(Restore, ams("2026-06-06 02:00"), &cal),
            TargetState::Met {
                at: ams("2026-06-06 01:00"),
                in_time: true
            }
        );
        clock.reopened(ams("2026-06-06 09:00"));
        assert_eq!(clock.due(Restore, &cal), Some(ams("2026-06-06 11:50")));
        assert_eq!(
            clock.remaining(Restore, ams("2026-06-06 10:00"), &cal),
            Some(Duration::minutes(110))
        );
        // Pending while paused: the time left stands still.
        clock.pause(ams("2026-06-06 10:00"));
        clock.pause(ams("2026-06-06 10:30"));
        assert_eq!(
            clock.remaining(Restore, ams("2026-06-06 15:00"), &cal),
            Some(Duration::minutes(110))
        );
        assert_eq!(
            clock.state(Restore, ams("2026-06-06 15:00"), &cal),
            TargetState::Paused
        );
        clock.resume(ams("2026-06-06 16:00"));
        clock.resume(ams("2026-06-06 17:00"));
        assert_eq!(clock.due(Restore, &cal), Some(ams("2026-06-06 17:50")));
        // The first response stays met after the reopening.
        assert_eq!(clock.responded_at, Some(ams("2026-06-06 00:20")));
    }

    #[test]
    fn restore_is_also_a_response() {
        let mut clock = friday_night();
        clock.restored(ams("2026-06-06 00:00"));
        assert_eq!(clock.responded_at, Some(ams("2026-06-06 00:00")));
        assert_eq!(clock.next_notice_at(&Calendar::always()), None);
    }

    #[test]
    fn a_breach_before_a_pause_stays_a_breach() {
        let cal = Calendar::always();
        let mut clock = friday_night();
        clock.pause(ams("2026-06-06 05:00"));
        assert_eq!(
            clock.due(Restore, &cal),
            Some(ams("2026-06-06 03:50")),
            "fixed"
        );
        assert_eq!(
            clock.state(Restore, ams("2026-06-06 06:00"), &cal),
            TargetState::Breached {
                due: ams("2026-06-06 03:50")
            }
        );
        clock.resume(ams("2026-06-08 09:00"));
        assert_eq!(
            clock.state(Restore, ams("2026-06-08 10:00"), &cal),
            TargetState::Breached {
                due: ams("2026-06-06 03:50")
            }
        );
    }

    #[test]
    fn notices_come_once_in_time_order() {
        let cal = Calendar::always();
        let mut clock = friday_night();
        // 75 % of 15 minutes is 11m15s.
        let fr_warn = ams("2026-06-05 23:50") + Duration::seconds(675);
        assert_eq!(clock.next_notice_at(&cal), Some(fr_warn));
        assert_eq!(
            clock.take_due_notices(fr_warn - Duration::seconds(1), &cal),
            vec![]
        );
        assert_eq!(
            clock.take_due_notices(fr_warn, &cal),
            vec![(FirstResponse, Warning, fr_warn)]
        );
        assert_eq!(clock.take_due_notices(fr_warn, &cal), vec![]);
        assert_eq!(clock.next_notice_at(&cal), Some(ams("2026-06-06 00:05")));
        // The daemon was down until 04:00: the first-response breach, then the restore breach
        // alone (its warning is skipped and never sent later).
        assert_eq!(
            clock.take_due_notices(ams("2026-06-06 04:00"), &cal),
            vec![
                (FirstResponse, Breach, ams("2026-06-06 00:05")),
                (Restore, Breach, ams("2026-06-06 03:50")),
            ]
        );
        assert_eq!(clock.next_notice_at(&cal), None);
        assert_eq!(
            clock.take_due_notices(ams("2026-06-09 00:00"), &cal),
            vec![]
        );
        assert!(clock.notified.contains(&(Restore, Warning)));
    }

    #[test]
    fn a_priority_change_moves_due_times_and_keeps_notices_sent() {
        let cal = Calendar::always();
        let p3 = Targets {
            first_response: Some(Duration::hours(2)),
            restore: None,
        };
        let mut clock = SlaClock::start(ams("2026-06-05 10:00"), p3);
        assert_eq!(
            clock.take_due_notices(ams("2026-06-05 11:30"), &cal),
            vec![(FirstResponse, Warning, ams("2026-06-05 11:30"))]
        );
        // Raised to P1 at 11:40: the first response was due at 10:15, the restore warning is
        // skipped for the breach at 14:00.
        clock.set_targets(gold_p1());
        assert_eq!(
            clock.due(FirstResponse, &cal),
            Some(ams("2026-06-05 10:15"))
        );
        assert_eq!(clock.next_notice_at(&cal), Some(ams("2026-06-05 10:15")));
        assert_eq!(
            clock.take_due_notices(ams("2026-06-05 11:40"), &cal),
            vec![(FirstResponse, Breach, ams("2026-06-05 10:15"))]
        );
        assert_eq!(clock.next_notice_at(&cal), Some(ams("2026-06-05 13:00")));
        // Lowered again: no new warning for the first response, which was already warned about.
        clock.set_targets(p3);
        assert_eq!(clock.next_notice_at(&cal), None);
    }

    #[test]
    fn the_record_round_trips_through_json() {
        let mut clock = friday_night();
        clock.pause(ams("2026-06-06 01:00"));
        clock.resume(ams("2026-06-08 09:00"));
        clock.pause(ams("2026-06-08 10:00"));
        clock.take_due_notices(ams("2026-06-08 10:00"), &Calendar::always());
        let json = serde_json::to_string(&clock).expect("serialize");
        assert!(json.contains("\"first_response\":900"), "{json}");
        assert!(json.contains("[\"first_response\",\"breach\"]"), "{json}");
        let back: SlaClock = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, clock);
        let minimal: SlaClock = serde_json::from_str(
            r#"{"started_at":"2026-06-05T21:50:00Z","targets":{"restore":14400}}"#,
        )
        .expect("minimal record");
        assert_eq!(minimal.targets.first_response, None);
        assert_eq!(
            minimal.due(Restore, &Calendar::always()),
            Some(ams("2026-06-06 03:50"))
        );
    }

    /// Instants in 2026, covering both DST changes.
    fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        (1_767_225_600i64..1_798_761_600)
            .prop_map(|s| DateTime::<Utc>::from_timestamp(s, 0).expect("in range"))
    }

    fn targets() -> impl Strategy<Value = Targets> {
        let target = prop::option::of((1i64..72 * 60).prop_map(Duration::minutes));
        (target.clone(), target).prop_map(|(first_response, restore)| Targets {
            first_response,
            restore,
        })
    }

    /// Pauses as (gap before, length) in minutes from the start.
    fn pauses() -> impl Strategy<Value = Vec<(i64, i64)>> {
        prop::collection::vec((0i64..3000, 1i64..3000), 0..5)
    }

    fn calendar(which: bool) -> Calendar {
        if which {
            Calendar::always()
        } else {
            office()
        }
    }

    fn with_pauses(start: DateTime<Utc>, targets: Targets, pauses: &[(i64, i64)]) -> SlaClock {
        let mut clock = SlaClock::start(start, targets);
        let mut t = start;
        for (gap, len) in pauses {
            t += Duration::minutes(*gap);
            clock.pause(t);
            t += Duration::minutes(*len);
            clock.resume(t);
        }
        clock
    }

    proptest! {
        #[test]
        fn a_pause_never_moves_a_due_time_earlier(
            start in instant(), t in targets(), ps in pauses(), business in any::<bool>()
        ) {
            let cal = calendar(business);
            for k in 0..ps.len() {
                let before = with_pauses(start, t, &ps[..k]);
                let after = with_pauses(start, t, &ps[..=k]);
                for target in Target::ALL {
                    prop_assert!(after.due(target, &cal) >= before.due(target, &cal));
                    prop_assert!(after.warn_at(target, &cal) >= before.warn_at(target, &cal));
                }
            }
        }

        /// However the notices are polled, each goes out at most once, the warning before the
        /// breach, and by the end every unmet target has had its breach.
        #[test]
        fn each_notice_at_most_once(
            start in instant(),
            t in targets(),
            ps in pauses(),
            polls in prop::collection::vec(0i64..10_000, 1..20),
            business in any::<bool>(),
        ) {
            let cal = calendar(business);
            let mut clock = with_pauses(start, t, &ps);
            let mut seen: Vec<(Target, Level)> = Vec::new();
            let far = start + Duration::days(400);
            for now in polls.iter().map(|m| start + Duration::minutes(*m)).chain([far]) {
                let notices = clock.take_due_notices(now, &cal);
                let mut last = None;
                for (target, level, at) in notices {
                    prop_assert!(at <= now);
                    prop_assert!(last <= Some(at), "in time order");
                    last = Some(at);
                    prop_assert!(!seen.contains(&(target, level)), "{target:?} {level:?} twice");
                    if level == Warning {
                        prop_assert!(!seen.contains(&(target, Breach)));
                    }
                    seen.push((target, level));
                }
            }
            for target in Target::ALL {
                prop_assert_eq!(t.get(target).is_some(), seen.contains(&(target, Breach)));
            }
            prop_assert_eq!(clock.next_notice_at(&cal), None);
        }

        #[test]
        fn due_is_where_the_running_time_reaches_the_target(
            start in instant(), t in targets(), ps in pauses(), business in any::<bool>()
        ) {
            let cal = calendar(business);
            let clock = with_pauses(start, t, &ps);
            for target in Target::ALL {
                if let Some(due) = clock.due(target, &cal) {
                    let just_before = due - Duration::seconds(1);
                    prop_assert_eq!(clock.remaining(target, due, &cal), Some(Duration::zero()));
                    let left = clock.remaining(target, just_before, &cal);
                    prop_assert!(left > Some(Duration::zero()));
                }
            }
        }

    }
}
