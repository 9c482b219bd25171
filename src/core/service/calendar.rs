//! Business-hours calendars: the open time in which SLA targets are counted.
//!
//! A calendar is a time zone, opening hours per weekday (several ranges, or none) and holidays
//! (local dates), or the 24x7 calendar that is always open. The SLA clock asks it two questions:
//! when has a given amount of open time passed after an instant ([`Calendar::add`]), and how much
//! open time lies between two instants ([`Calendar::open_between`]). Both walk local dates one by
//! one, so skipping months of holidays costs one step per day, never one per minute.
//!
//! Local times become instants through chrono-tz. A local time that does not exist (the hour
//! skipped when the clocks go forward) is taken as the instant the clocks jump, and a local time
//! that occurs twice (the hour repeated when the clocks go back) as its first occurrence. So
//! opening hours away from the change (08:00–18:00 in Europe) keep their full length on change
//! days, a range across the change is as long as the real time it spans, and a day open
//! 00:00–24:00 lasts 23 or 25 real hours: open time is always real elapsed time.

use std::collections::BTreeSet;

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;

const DAY_SECS: u32 = 86_400;

/// When the SLA clock runs: 24x7, or business hours in a time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// The 24x7 calendar takes a shortcut: open time is plain elapsed time.
    always: bool,
    tz: Tz,
    /// Opening hours per weekday, Monday first: sorted, disjoint ranges of local time.
    week: [Vec<Range>; 7],
    holidays: BTreeSet<NaiveDate>,
}

/// Local opening hours of one range, in seconds since local midnight; `end` may be 24:00.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Range {
    start: u32,
    end: u32,
}

impl Calendar {
    /// The calendar that is always open: every target counts real elapsed time.
    pub fn always() -> Calendar {
        Calendar {
            always: true,
            tz: Tz::UTC,
            week: std::array::from_fn(|_| {
                vec![Range {
                    start: 0,
                    end: DAY_SECS,
                }]
            }),
            holidays: BTreeSet::new(),
        }
    }

    /// Business hours from configuration.
    ///
    /// `tz` is an IANA name ("Europe/Amsterdam"); `hours` the local opening hours of an open day,
    /// "08:00-18:00" or several ranges comma-separated ("08:00-12:00,13:00-17:00"), where an end
    /// may be "24:00"; `days` the open weekdays, "Mon-Fri", "Mon,Wed,Fri", "Mon-Sun" or a mix
    /// ("Mon-Wed,Fri"; a range may wrap around the week end, "Fri-Mon"); `holidays` local dates
    /// ("2026-12-25") on which the desk is closed all day. The error names the bad part.
    pub fn parse(
        tz: &str,
        hours: &str,
        days: &str,
        holidays: &[String],
    ) -> Result<Calendar, String> {
        let tz: Tz = tz.trim().parse().map_err(|_| {
            format!("unknown time zone {tz:?}: use an IANA name such as \"Europe/Amsterdam\"")
        })?;
        let ranges = parse_hours(hours)?;
        let open_days = parse_days(days)?;
        let mut week: [Vec<Range>; 7] = Default::default();
        for day in open_days {
            week[day.num_days_from_monday() as usize] = ranges.clone();
        }
        let holidays = holidays
            .iter()
            .map(|h| {
                NaiveDate::parse_from_str(h.trim(), "%Y-%m-%d").map_err(|_| {
                    format!("invalid holiday {h:?}: write a local date such as \"2026-12-25\"")
                })
            })
            .collect::<Result<BTreeSet<_>, _>>()?;
        Ok(Calendar {
            always: false,
            tz,
            week,
            holidays,
        })
    }

    /// Whether this is the 24x7 calendar.
    pub fn is_always(&self) -> bool {
        self.always
    }

    /// The time zone of the opening hours (UTC for the 24x7 calendar).
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// Whether the desk is open at `at` (opening hours include their start, not their end).
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        if self.always {
            return true;
        }
        // Where the clocks go back across midnight (00:30 to 23:30, as some zones did in the
        // past), an instant in the repeated time has yesterday's local date but may lie in
        // today's opening hours: look at both days.
        let date = self.local_date(at);
        std::iter::once(date)
            .chain(date.succ_opt())
            .flat_map(|d| self.open_intervals(d))
            .any(|(s, e)| s <= at && at < e)
    }

    /// The instant when `work` of open time has passed after `start`.
    ///
    /// `start` itself may be closed: counting begins at the next opening. When the work ends
    /// exactly at a closing time, that closing time is the answer (not the next opening). Zero
    /// or negative work gives `start`; a result beyond chrono's range saturates at its end.
    pub fn add(&self, start: DateTime<Utc>, work: Duration) -> DateTime<Utc> {
        if work <= Duration::zero() {
            return start;
        }
        if self.always {
            return start
                .checked_add_signed(work)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
        }
        let mut left = work;
        let mut date = self.local_date(start);
        // Intervals of earlier local dates all end before `start`, so the walk starts on the
        // local date of `start`. `parse` guarantees open hours on some weekday, and only a
        // finite number of days are holidays, so the walk ends.
        loop {
            for (s, e) in self.open_intervals(date) {
                if e <= start {
                    continue;
                }
                let s = s.max(start);
                let open = e - s;
                if left <= open {
                    return s + left;
                }
                left -= open;
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => return DateTime::<Utc>::MAX_UTC,
            }
        }
    }

    /// Open time between `a` and `b` (zero if `b <= a`).
    pub fn open_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
        if b <= a {
            return Duration::zero();
        }
        if self.always {
            return b - a;
        }
        // One day further than the local date of `b`, for the case described in `is_open`.
        let last = self.local_date(b).succ_opt().unwrap_or(NaiveDate::MAX);
        let mut date = self.local_date(a);
        let mut total = Duration::zero();
        while date <= last {
            for (s, e) in self.open_intervals(date) {
                let (s, e) = (s.max(a), e.min(b));
                if s < e {
                    total += e - s;
                }
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        total
    }

    fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }

    /// The open intervals of one local date as instants, in order, none empty.
    fn open_intervals(&self, date: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        if self.holidays.contains(&date) {
            return Vec::new();
        }
        self.week[date.weekday().num_days_from_monday() as usize]
            .iter()
            .map(|r| (self.instant(date, r.start), self.instant(date, r.end)))
            .filter(|(s, e)| s < e)
            .collect()
    }

    /// The instant of a local time: the first instant whose local time is at or after it.
    ///
    /// That is the time itself when it exists once, its first occurrence when the clocks go back
    /// over it, and the instant of the jump when the clocks go forward over it. The mapping never
    /// decreases, so the intervals of a day stay in order and the days do not overlap.
    fn instant(&self, date: NaiveDate, secs: u32) -> DateTime<Utc> {
        let local = if secs >= DAY_SECS {
            date.succ_opt().map(|d| d.and_time(NaiveTime::MIN))
        } else {
            NaiveTime::from_num_seconds_from_midnight_opt(secs, 0).map(|t| date.and_time(t))
        };
        let Some(local) = local else {
            return DateTime::<Utc>::MAX_UTC;
        };
        local_instant(self.tz, local)
    }
}

/// "08:00-18:00" or "08:00-12:00,13:00-17:00": sorted ranges; touching ones are merged.
fn parse_hours(hours: &str) -> Result<Vec<Range>, String> {
    let mut ranges = Vec::new();
    for part in hours.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("invalid opening hours {part:?}: write e.g. \"08:00-18:00\"");
        let (start, end) = part.split_once('-').ok_or_else(bad)?;
        let (start, end) = (
            parse_clock(start.trim()).ok_or_else(bad)?,
            parse_clock(end.trim()).ok_or_else(bad)?,
        );
        if start >= end {
            return Err(format!(
                "invalid opening hours {part:?}: the end must come after the start (a range \
                 cannot cross midnight; write \"22:00-24:00\" and \"00:00-06:00\" instead)"
            ));
        }
        ranges.push(Range { start, end });
    }
    if ranges.is_empty() {
        return Err(format!(
            "no opening hours in {hours:?}: write e.g. \"08:00-18:00\", or use the 24x7 calendar"
        ));
    }
    ranges.sort();
    let mut merged: Vec<Range> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(last) if r.start < last.end => {
                return Err(format!(
                    "opening hours {hours:?} overlap: list each time once"
                ));
            }
            Some(last) if r.start == last.end => last.end = r.end,
            _ => merged.push(r),
        }
    }
    Ok(merged)
}

/// "HH:MM" (00:00 to 24:00) as seconds since midnight.
fn parse_clock(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(DAY_SECS),
        (0..=23, 0..=59) => Some(h * 3600 + m * 60),
        _ => None,
    }
}

/// "Mon-Fri", "Mon,Wed,Fri", "Mon-Wed,Sat", "Fri-Mon" (wrapping): the open weekdays.
fn parse_days(days: &str) -> Result<Vec<Weekday>, String> {
    let day = |s: &str| {
        s.trim()
            .parse::<Weekday>()
            .map_err(|_| format!("invalid day {s:?} in {days:?}: write e.g. \"Mon-Fri\""))
    };
    let mut out: Vec<Weekday> = Vec::new();
    for part in days.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((from, to)) => {
                let (mut d, to) = (day(from)?, day(to)?);
                out.push(d);
                while d != to {
                    d = d.succ();
                    out.push(d);
                }
            }
            None => out.push(day(part)?),
        }
    }
    if out.is_empty() {
        return Err(format!(
            "no open days in {days:?}: write e.g. \"Mon-Fri\", or use the 24x7 calendar"
        ));
    }
    Ok(out)
}

/// The instant of local date-time `local` in `tz`: the time itself when it exists once, its
/// first occurrence when the clocks go back over it, and the instant of the jump when they go
/// forward over it. Calendars, shifts and maintenance windows all place local times this way, so
/// they agree on what "07:00 Amsterdam" means on a change day.
pub fn local_instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => jump_over(tz, local),
    }
}

/// The instant the clocks jump over the nonexistent local time `local`: no zone is more than
/// 26 hours off UTC, so a binary search over whole seconds within 26 hours of `local` read as
/// UTC finds the first instant whose local time has reached `local` (transitions fall on whole
/// seconds).
fn jump_over(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let target = local.and_utc().timestamp();
    let local_at = |ts: i64| {
        DateTime::<Utc>::from_timestamp(ts, 0).map(|u| u.with_timezone(&tz).naive_local())
    };
    let (mut lo, mut hi) = (target - 26 * 3600, target + 26 * 3600);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match local_at(mid) {
            Some(l) if l >= local => hi = mid,
            Some(_) => lo = mid,
            None => return local.and_utc(),
        }
    }
    DateTime::<Utc>::from_timestamp(hi, 0).unwrap_or_else(|| local.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::{ams, wall};
    use chrono_tz::UTC;
    use proptest::prelude::*;

    fn office() -> Calendar {
        Calendar::parse(
            "Europe/Amsterdam",
            "08:00-18:00",
            "Mon-Fri",
            &["2026-12-25".to_string(), "2026-12-28".to_string()],
        )
        .expect("calendar")
    }

    fn hours(h: i64) -> Duration {
        Duration::hours(h)
    }

    #[test]
    fn parse_rejects_bad_input_naming_the_part() {
        let none: &[String] = &[];
        let cases: &[(&str, &str, &str, &[String], &str)] = &[
            (
                "Europe/Amsterdan",
                "08:00-18:00",
                "Mon-Fri",
                none,
                "time zone",
            ),
            ("UTC", "8-18", "Mon-Fri", none, "\"8-18\""),
            ("UTC", "18:00-08:00", "Mon-Fri", none, "after the start"),
            ("UTC", "08:00-24:30", "Mon-Fri", none, "\"08:00-24:30\""),
            ("UTC", "08:00-12:00,11:00-17:00", "Mon-Fri", none, "overlap"),
            ("UTC", " , ", "Mon-Fri", none, "no opening hours"),
            ("UTC", "08:00-18:00", "Mon-Fry", none, "\"Fry\""),
            ("UTC", "08:00-18:00", "", none, "no open days"),
            (
                "UTC",
                "08:00-18:00",
                "Mon-Fri",
                &["2026-13-01".to_string()],
                "2026-13-01",
            ),
        ];
        for (tz, h, d, hol, needle) in cases {
            let err = Calendar::parse(tz, h, d, hol).expect_err("must fail");
            assert!(err.contains(needle), "{tz} {h} {d}: {err}");
        }
    }

    #[test]
    fn parse_accepts_lists_ranges_and_split_days() {
        let cal = Calendar::parse(
            "Europe/Amsterdam",
            "08:00-12:00, 13:00-17:00",
            "mon,Wed-Thu",
            &[],
        )
        .expect("calendar");
        let table = [
            ("2026-06-01 08:00", true), // Monday opening
            ("2026-06-01 11:59", true),
            ("2026-06-01 12:30", false), // lunch
            ("2026-06-01 17:00", false), // the end is not open
            ("2026-06-02 10:00", false), // Tuesday
            ("2026-06-03 10:00", true),
            ("2026-06-04 10:00", true),
            ("2026-06-05 10:00", false), // Friday
        ];
        for (t, open) in table {
            assert_eq!(cal.is_open(ams(t)), open, "{t}");
        }
        let wrap = Calendar::parse("UTC", "00:00-24:00", "Sat-Mon", &[]).expect("calendar");
        assert!(wrap.is_open(wall(UTC, "2026-06-01 12:00")), "Monday");
        assert!(!wrap.is_open(wall(UTC, "2026-06-02 12:00")), "Tuesday");
        assert!(wrap.is_open(wall(UTC, "2026-06-07 12:00")), "Sunday");
    }

    #[test]
    fn office_hours_holidays_and_weekends() {
        let cal = office();
        let table = [
            ("2026-06-05 07:59", false),
            ("2026-06-05 08:00", true),
            ("2026-06-05 17:59", true),
            ("2026-06-05 18:00", false),
            ("2026-06-06 12:00", false), // Saturday
            ("2026-12-25 12:00", false), // holiday (Friday)
            ("2026-12-24 12:00", true),
        ];
        for (t, open) in table {
            assert_eq!(cal.is_open(ams(t)), open, "{t}");
        }
    }

    #[test]
    fn add_table() {
        let cal = office();
        let table: &[(&str, Duration, &str)] = &[
            // Friday night: counting starts Monday 08:00.
            ("2026-06-05 23:50", hours(4), "2026-06-08 12:00"),
            ("2026-06-05 16:00", hours(4), "2026-06-08 10:00"),
            // Ending exactly at closing time gives the closing time.
            ("2026-06-05 16:00", hours(2), "2026-06-05 18:00"),
            (
                "2026-06-05 16:00",
                Duration::minutes(121),
                "2026-06-08 08:01",
            ),
            // Christmas Friday and the Monday after are holidays.
            ("2026-12-24 17:00", hours(4), "2026-12-29 11:00"),
            ("2026-06-01 09:00", hours(50), "2026-06-08 09:00"),
            ("2026-06-01 09:00", Duration::zero(), "2026-06-01 09:00"),
            ("2026-06-06 09:00", Duration::zero(), "2026-06-06 09:00"),
        ];
        for (start, work, want) in table {
            assert_eq!(cal.add(ams(start), *work), ams(want), "{start} + {work}");
            if *work > Duration::zero() {
                assert_eq!(cal.open_between(ams(start), ams(want)), *work, "{start}");
            }
        }
    }

    #[test]
    fn open_between_table() {
        let cal = office();
        assert_eq!(
            cal.open_between(ams("2026-06-05 12:00"), ams("2026-06-08 12:00")),
            hours(10)
        );
        assert_eq!(
            cal.open_between(ams("2026-06-06 00:00"), ams("2026-06-07 23:00")),
            hours(0)
        );
        assert_eq!(
            cal.open_between(ams("2026-06-08 12:00"), ams("2026-06-05 12:00")),
            hours(0)
        );
        assert_eq!(
            cal.open_between(ams("2026-06-01 00:00"), ams("2026-06-08 00:00")),
            hours(50)
        );
    }

    #[test]
    fn business_days_keep_ten_hours_on_both_dst_change_days() {
        // The last Sundays of March and October 2026 in Europe/Amsterdam.
        let cal = Calendar::parse("Europe/Amsterdam", "08:00-18:00", "Mon-Sun", &[]).expect("cal");
        for day in ["2026-03-29", "2026-10-25"] {
            let (a, b) = (ams(&format!("{day} 00:00")), ams(&format!("{day} 23:59")));
            assert_eq!(cal.open_between(a, b), hours(10), "{day}");
            assert_eq!(cal.add(a, hours(10)), ams(&format!("{day} 18:00")), "{day}");
        }
        // On the Mon-Fri calendar, a weekend with a change: Friday 17:00 + 2 h is Monday 09:00
        // local, whose UTC time moved by the change.
        let cal = office();
        assert_eq!(
            cal.add(ams("2026-03-27 17:00"), hours(2)),
            wall(UTC, "2026-03-30 07:00")
        );
        assert_eq!(
            cal.add(ams("2026-10-23 17:00"), hours(2)),
            wall(UTC, "2026-10-26 08:00")
        );
    }

    #[test]
    fn ranges_across_the_change_count_real_time() {
        let whole = Calendar::parse("Europe/Amsterdam", "00:00-24:00", "Mon-Sun", &[]).expect("c");
        let day = |d: &str, next: &str| {
            whole.open_between(ams(&format!("{d} 00:00")), ams(&format!("{next} 00:00")))
        };
        assert_eq!(day("2026-03-29", "2026-03-30"), hours(23));
        assert_eq!(day("2026-10-25", "2026-10-26"), hours(25));
        assert_eq!(day("2026-06-07", "2026-06-08"), hours(24));

        // 01:00-04:00 on the spring day spans 02:00-03:00, which does not exist: 2 real hours.
        let spring = Calendar::parse("Europe/Amsterdam", "01:00-04:00", "Sun", &[]).expect("c");
        let (a, b) = (wall(UTC, "2026-03-28 12:00"), wall(UTC, "2026-03-29 12:00"));
        assert_eq!(spring.open_between(a, b), hours(2));
        // A range wholly inside the skipped hour has no open time that day.
        let gap = Calendar::parse("Europe/Amsterdam", "02:15-02:45", "Sun", &[]).expect("c");
        assert_eq!(gap.open_between(a, b), hours(0));
        assert!(!gap.is_open(wall(UTC, "2026-03-29 01:30")));
        assert_eq!(gap.add(a, Duration::minutes(30)), ams("2026-04-05 02:45"));
        // 02:30-03:30 on the autumn day starts at the first 02:30 (summer time) and ends at
        // 03:30 winter time: 2 real hours.
        let fold = Calendar::parse("Europe/Amsterdam", "02:30-03:30", "Sun", &[]).expect("c");
        let (a, b) = (wall(UTC, "2026-10-24 12:00"), wall(UTC, "2026-10-25 12:00"));
        assert_eq!(fold.open_between(a, b), hours(2));
        assert!(
            fold.is_open(wall(UTC, "2026-10-25 00:30")),
            "02:30 summer time"
        );
        assert!(
            fold.is_open(wall(UTC, "2026-10-25 02:29")),
            "03:29 winter time"
        );
        assert!(
            !fold.is_open(wall(UTC, "2026-10-25 02:30")),
            "03:30 winter time"
        );
    }

    #[test]
    fn always_counts_real_elapsed_time_across_the_october_change() {
        let cal = Calendar::always();
        // Midnight summer time + 8 real hours is 07:00 winter time.
        assert_eq!(
            cal.add(ams("2026-10-25 00:00"), hours(8)),
            ams("2026-10-25 07:00")
        );
        assert_eq!(
            cal.open_between(ams("2026-10-25 00:00"), ams("2026-10-25 07:00")),
            hours(8)
        );
        assert!(cal.is_open(ams("2026-12-25 03:00")));
    }

    #[test]
    fn a_year_of_holidays_is_skipped_quickly() {
        let mut holidays = Vec::new();
        let mut d = NaiveDate::from_ymd_opt(2027, 1, 1).expect("date");
        while d.year() == 2027 {
            holidays.push(d.format("%Y-%m-%d").to_string());
            d = d.succ_opt().expect("date");
        }
        let cal = Calendar::parse("Europe/Amsterdam", "08:00-18:00", "Mon-Fri", &holidays)
            .expect("calendar");
        // 2028-01-03 is the first Monday after the closed year.
        let due = cal.add(ams("2026-12-31 17:00"), hours(2));
        assert_eq!(due, ams("2028-01-03 09:00"));
        assert_eq!(cal.open_between(ams("2026-12-31 17:00"), due), hours(2));
    }

    fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        // 2025 to 2029: several DST changes either way.
        (1_735_689_600i64..1_861_920_000)
            .prop_map(|s| DateTime::<Utc>::from_timestamp(s, 0).expect("in range"))
    }

    fn work() -> impl Strategy<Value = Duration> {
        (0i64..400 * 3600).prop_map(Duration::seconds)
    }

    fn calendars() -> Vec<Calendar> {
        let christmas = ["2025-12-25", "2026-12-25", "2027-12-24", "2028-03-26"]
            .map(String::from)
            .to_vec();
        vec![
            office(),
            Calendar::parse(
                "Europe/Amsterdam",
                "08:00-12:00,13:00-17:30",
                "Mon-Sat",
                &christmas,
            )
            .expect("cal"),
            Calendar::parse(
                "Europe/Amsterdam",
                "00:30-02:30,02:45-03:15,22:00-24:00",
                "Sun-Tue",
                &christmas,
            )
            .expect("cal"),
            Calendar::parse("America/New_York", "07:00-19:00", "Mon-Fri", &[]).expect("cal"),
            // Lebanon changes its clocks at midnight: 00:00 does not exist in spring, and in
            // autumn 23:00-24:00 of Saturday repeats.
            Calendar::parse("Asia/Beirut", "00:00-01:00,08:00-24:00", "Fri-Mon", &[]).expect("cal"),
        ]
    }

    proptest! {
        #[test]
        fn add_is_additive(start in instant(), a in work(), b in work(), which in 0usize..5) {
            let cal = &calendars()[which];
            prop_assert_eq!(cal.add(start, a + b), cal.add(cal.add(start, a), b));
        }

        #[test]
        fn open_between_undoes_add(start in instant(), w in work(), which in 0usize..5) {
            let cal = &calendars()[which];
            prop_assert_eq!(cal.open_between(start, cal.add(start, w)), w);
        }

        #[test]
        fn open_between_is_additive(
            a in instant(), b in instant(), c in instant(), which in 0usize..5
        ) {
            let mut v = [a, b, c];
            v.sort();
            let cal = &calendars()[which];
            prop_assert_eq!(
                cal.open_between(v[0], v[2]),
                cal.open_between(v[0], v[1]) + cal.open_between(v[1], v[2])
            );
        }

        #[test]
        fn always_is_plain_addition(start in instant(), w in work(), b in instant()) {
            let cal = Calendar::always();
            prop_assert_eq!(cal.add(start, w), start + w);
            prop_assert_eq!(cal.open_between(start, b), (b - start).max(Duration::zero()));
        }

        /// A calendar open round the clock in a zone with DST counts real time like 24x7.
        #[test]
        fn a_full_week_in_a_dst_zone_is_real_time(
            start in instant(), w in work(), b in instant(), beirut in any::<bool>()
        ) {
            let tz = if beirut { "Asia/Beirut" } else { "Europe/Amsterdam" };
            let cal = Calendar::parse(tz, "00:00-24:00", "Mon-Sun", &[]).expect("c");
            prop_assert_eq!(cal.add(start, w), start + w);
            prop_assert_eq!(cal.open_between(start, b), (b - start).max(Duration::zero()));
            prop_assert!(cal.is_open(start));
        }
    }
}
