//! What the clock says against what ops tell of a maintenance: a window scheduled when it is
//! already over, work marked started long before its window, work marked completed before its
//! window began. Ops type dates by hand, and each of these slips sends customers a notice that
//! is false ("has been completed" a fortnight early, "has started" for next month), so the ops
//! commands refuse them. A [`ClockObjection`] says why; the caller reports it, or lets ops
//! override it for the rare real case (work finished early, a past window recorded after the
//! fact).
//!
//! Pure: `now` comes in as an argument and the answer is a value. A standing window is judged
//! by its occurrence under way or next, as its notices are.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::recurrence::{Window, MAX_RECURRING_DURATION_DAYS};
use super::{Maintenance, Schedule, Status};

/// How long before its window's start the work may be marked started. Work often begins a
/// little early (preparation, a change freeze lifted the evening before); a day is also the
/// default distance of the reminder, so a start inside it tells customers nothing they were
/// not about to hear, while a date typed a week or a month wrong falls well outside it.
pub const EARLY_START_HOURS: i64 = 24;

/// How far ahead a standing window is looked at for an occurrence that has not ended: further
/// than any rule ops use (a yearly rule on 29 February included), and bounded so that a daily
/// rule is not expanded for ever.
const LOOK_AHEAD_DAYS: i64 = 4 * 366 + MAX_RECURRING_DURATION_DAYS;

/// Why the clock contradicts a change ops asked for at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClockObjection {
    /// Every window of the schedule has ended. `id` is absent for a maintenance being
    /// scheduled (its id is not chosen yet); `window` is the one-off window, absent for a
    /// standing window with no occurrence left.
    Over {
        id: Option<String>,
        window: Option<Window>,
        now: DateTime<Utc>,
        new: bool,
    },
    /// Marked started more than [`EARLY_START_HOURS`] before the window.
    TooEarlyToStart {
        id: String,
        window: Window,
        now: DateTime<Utc>,
    },
    /// Marked completed before the window started.
    NotStarted { id: String, window: Window },
}

impl ClockObjection {
    /// The objection for ops, with times in `tz` (theirs): what the clock says, then what was
    /// not done.
    pub fn describe(&self, tz: Tz) -> String {
        let time = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %:z");
        match self {
            ClockObjection::Over {
                id,
                window,
                now,
                new,
            } => {
                let what = if *new { "not scheduled" } else { "not changed" };
                let whose = id.as_deref().map(|i| format!("{i}: ")).unwrap_or_default();
                match window {
                    Some(w) => format!(
                        "{whose}the window {} – {} has ended: {what}",
                        time(w.start),
                        time(w.end)
                    ),
                    None => format!(
                        "{whose}no occurrence of the standing window ends after {} (looking {} \
                         years ahead): {what}",
                        time(*now),
                        LOOK_AHEAD_DAYS / 366
                    ),
                }
            }
            ClockObjection::TooEarlyToStart { id, window, now } => format!(
                "{id} starts {}, in {}; work may be marked started from {EARLY_START_HOURS} h \
                 before its start: not started",
                time(window.start),
                crate::core::broadcasts::datefmt::duration(window.start - *now)
            ),
            ClockObjection::NotStarted { id, window } => format!(
                "{id} starts {}; it has not started: not completed",
                time(window.start)
            ),
        }
    }
}

impl Schedule {
    /// The window under way at `now`, or else the next one; `None` when every window has ended
    /// (a standing window: none within the look-ahead). Skipped occurrences do not count.
    pub fn current_or_next(&self, now: DateTime<Utc>) -> Option<Window> {
        match self {
            Schedule::Once(w) => (w.end > now).then_some(*w),
            Schedule::Recurring(r) => r
                .windows(now, now + Duration::days(LOOK_AHEAD_DAYS))
                .first()
                .copied(),
        }
    }

    /// Whether two schedules give the same windows, skipped occurrences aside: times restated
    /// as they are change nothing.
    pub fn same_times(&self, other: &Schedule) -> bool {
        match (self, other) {
            (Schedule::Once(x), Schedule::Once(y)) => x == y,
            (Schedule::Recurring(x), Schedule::Recurring(y)) => {
                (x.rule(), x.from(), x.at(), x.duration(), x.tz())
                    == (y.rule(), y.from(), y.at(), y.duration(), y.tz())
            }
            _ => false,
        }
    }
}

/// What the clock objects to in scheduling a new maintenance on `schedule` at `now`: a
/// schedule whose every window has ended. A window that has begun and not ended is fine.
pub fn objection_to_schedule(schedule: &Schedule, now: DateTime<Utc>) -> Option<ClockObjection> {
    over(None, schedule, now, true)
}

impl Maintenance {
    /// What the clock objects to in `before` becoming `self` at `now` (an update ops asked
    /// for): new times that have all passed; a start more than [`EARLY_START_HOURS`] before
    /// the window; a completion before the window started. A one-off is judged by its window,
    /// a standing window by its occurrence under way or next. Changes that leave the times and
    /// the status alone (a title, the scope) are never objected to, so a window left behind
    /// can still be corrected.
    pub fn clock_objection(
        &self,
        before: &Maintenance,
        now: DateTime<Utc>,
    ) -> Option<ClockObjection> {
        if !self.schedule.same_times(&before.schedule) {
            if let Some(o) = over(Some(&self.id), &self.schedule, now, false) {
                return Some(o);
            }
        }
        if self.status == before.status {
            return None;
        }
        let window = match &self.schedule {
            Schedule::Once(w) => *w,
            recurring => recurring.current_or_next(now)?,
        };
        let id = self.id.clone();
        match self.status {
            Status::Ongoing if now < window.start - Duration::hours(EARLY_START_HOURS) => {
                Some(ClockObjection::TooEarlyToStart { id, window, now })
            }
            Status::Completed if now < window.start => {
                Some(ClockObjection::NotStarted { id, window })
            }
            _ => None,
        }
    }
}

fn over(
    id: Option<&str>,
    schedule: &Schedule,
    now: DateTime<Utc>,
    new: bool,
) -> Option<ClockObjection> {
    if schedule.current_or_next(now).is_some() {
        return None;
    }
    Some(ClockObjection::Over {
        id: id.map(str::to_string),
        window: match schedule {
            Schedule::Once(w) => Some(*w),
            Schedule::Recurring(_) => None,
        },
        now,
        new,
    })
}

#[cfg(test)]
mod tests {
    use super::super::recurrence::tests::{day, hhmm, paris_nights, rec};
    use super::super::tests::{maintenance, once};
    use super::super::Change;
    use super::*;
    use crate::core::testing::utc;

    fn paris() -> Tz {
        "Europe/Paris".parse().expect("zone")
    }

    /// MNT-1 from 21 December 00:00 to 06:00 Paris time, scheduled on 1 December.
    fn december() -> Maintenance {
        once(
            "2026-12-20T23:00:00Z",
            "2026-12-21T05:00:00Z",
            "2026-12-01T00:00:00Z",
        )
    }

    /// The objection to `act` at `now`, described in Paris time.
    fn check(
        m: &Maintenance,
        now: &str,
        act: impl Fn(&mut Maintenance, DateTime<Utc>),
    ) -> Option<String> {
        let now = utc(now);
        let mut after = m.clone();
        act(&mut after, now);
        after.clock_objection(m, now).map(|o| o.describe(paris()))
    }

    #[test]
    fn completing_before_the_window_starts_is_objected_to() {
        let complete = |m: &mut Maintenance, t| {
            m.complete(t).expect("complete");
        };
        assert_eq!(
            check(&december(), "2026-12-06T10:00:00Z", complete).as_deref(),
            Some("MNT-1 starts 2026-12-21 00:00 +01:00; it has not started: not completed")
        );
        assert!(check(&december(), "2026-12-20T22:59:00Z", complete).is_some());
        // From the start on (early, late, long after the end), completing is fine.
        for now in [
            "2026-12-20T23:00:00Z",
            "2026-12-21T03:00:00Z",
            "2027-01-10T00:00:00Z",
        ] {
            assert_eq!(check(&december(), now, complete), None, "{now}");
        }
    }

    #[test]
    fn starting_more_than_a_day_before_the_window_is_objected_to() {
        let start = |m: &mut Maintenance, t| {
            m.start(t).expect("start");
        };
        assert_eq!(
            check(&december(), "2026-12-04T23:00:00Z", start).as_deref(),
            Some(
                "MNT-1 starts 2026-12-21 00:00 +01:00, in 16 d; work may be marked started \
                 from 24 h before its start: not started"
            )
        );
        assert!(check(&december(), "2026-12-19T22:59:00Z", start).is_some());
        for now in [
            "2026-12-19T23:00:00Z",
            "2026-12-20T22:00:00Z",
            "2026-12-21T01:00:00Z",
        ] {
            assert_eq!(check(&december(), now, start), None, "{now}");
        }
    }

    #[test]
    fn a_schedule_whose_windows_have_all_ended_is_objected_to() {
        let past = Schedule::Once(
            Window::new(utc("2024-12-31T23:00:00Z"), utc("2025-01-01T05:00:00Z")).expect("window"),
        );
        let now = utc("2026-12-06T10:00:00Z");
        assert_eq!(
            objection_to_schedule(&past, now).map(|o| o.describe(paris())),
            Some(
                "the window 2025-01-01 00:00 +01:00 – 2025-01-01 06:00 +01:00 has ended: \
                 not scheduled"
                    .to_string()
            )
        );
        // Begun and not ended: fine.
        assert_eq!(
            objection_to_schedule(&past, utc("2025-01-01T04:59:00Z")),
            None
        );
        // A standing window whose rule ended last year has no occurrence left; one that goes
        // on is fine.
        let paris_2025 = |rule| rec(rule, day(2025, 1, 1), hhmm(0, 0), 6, paris());
        let ended = Schedule::Recurring(paris_2025("FREQ=MONTHLY;BYDAY=1WE;UNTIL=20251231"));
        let objection = objection_to_schedule(&ended, now).expect("over");
        assert!(
            objection
                .describe(paris())
                .starts_with("no occurrence of the standing window ends after 2026-12-06 11:00"),
            "{objection:?}"
        );
        let going_on = Schedule::Recurring(paris_nights("FREQ=MONTHLY;BYDAY=1WE"));
        assert_eq!(objection_to_schedule(&going_on, now), None);
    }

    #[test]
    fn an_update_is_judged_only_on_what_it_changes() {
        let m = december();
        let after_the_end = "2027-01-10T00:00:00Z";
        // A window left behind can still be retitled.
        let retitle = |m: &mut Maintenance, t| {
            m.update(vec![Change::Title("Router upgrade".into())], t)
                .expect("title");
        };
        assert_eq!(check(&m, after_the_end, retitle), None);
        // New times that have passed are objected to, naming the maintenance.
        let into_the_past = |m: &mut Maintenance, t| {
            let w = Window::new(utc("2026-12-01T23:00:00Z"), utc("2026-12-02T05:00:00Z"))
                .expect("window");
            m.update(vec![Change::Schedule(Schedule::Once(w))], t)
                .expect("moved");
        };
        assert_eq!(
            check(&m, "2026-12-06T10:00:00Z", into_the_past).as_deref(),
            Some(
                "MNT-1: the window 2026-12-02 00:00 +01:00 – 2026-12-02 06:00 +01:00 has \
                 ended: not changed"
            )
        );
    }

    #[test]
    fn a_standing_window_is_judged_by_its_current_or_next_occurrence() {
        let m = maintenance(
            Schedule::Recurring(paris_nights("FREQ=MONTHLY;BYDAY=1WE")),
            utc("2026-01-01T00:00:00Z"),
        );
        // The first Wednesday of February 2026 is the 4th: 00:00 Paris is 23:00Z on the 3rd.
        let next = m.schedule().current_or_next(utc("2026-01-20T00:00:00Z"));
        assert_eq!(next.map(|w| w.start), Some(utc("2026-02-03T23:00:00Z")));
        let under_way = m.schedule().current_or_next(utc("2026-02-04T01:00:00Z"));
        assert_eq!(
            under_way, next,
            "the occurrence under way is the current one"
        );
    }
}
