//! When a maintenance happens: its [`Window`]s, one-off or produced by a standing window's
//! [`Recurrence`] (an RRULE such as `FREQ=MONTHLY;BYDAY=1WE`, a local start time, a duration and
//! the ops' time zone), and where each occurrence falls in time.
//!
//! The `rrule` crate expands the rule in *floating* local time: it is handed naive local date-times
//! dressed as UTC, so it never applies a zone itself, and this module turns each local start into
//! an instant. So "00:00 Europe/Paris" stays 00:00 local on both sides of a daylight-saving change,
//! and the zone rule is the business-hours calendar's: a local start that occurs twice (clocks
//! going back) is taken at its first occurrence, and a local start that does not exist (clocks
//! going forward, such as 02:30 on the last Sunday of March in Paris) at the instant of the jump
//! (03:00 CEST). We do not leave this to rrule because it silently drops an occurrence whose local
//! midnight does not exist (Santiago in September) and moves a skipped 02:30 to 03:30. The duration
//! is real elapsed time, so a 6 h window that spans a change ends at 05:00 or 07:00 local. As in
//! python-dateutil (which rrule follows), the first date of a recurrence is an occurrence only if
//! it matches the rule.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::core::service::calendar::local_instant;

/// At most this many occurrences come out of one
/// [`Maintenance::occurrences`](super::Maintenance::occurrences) call, so a daily rule asked about
/// a century cannot exhaust memory.
pub const MAX_OCCURRENCES: usize = 10_000;

/// The longest window of a standing maintenance: it bounds how far back a pass has to look.
pub const MAX_RECURRING_DURATION_DAYS: i64 = 7;

/// An occurrence's start as notice keys and occurrence ids write it: UTC, basic ISO 8601
/// (`20261201T230000Z`).
pub(super) const KEY_TIME: &str = "%Y%m%dT%H%M%SZ";

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
    /// Taken out by the aggregate ([`Change::Skip`](super::Change::Skip)), and kept when a new
    /// rule replaces this one.
    pub(super) skipped: BTreeSet<DateTime<Utc>>,
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

    /// Occurrence starts taken out with [`Change::Skip`](super::Change::Skip).
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

/// `t - d`, or the earliest instant when that is out of range.
pub(super) fn minus(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t.checked_sub_signed(d).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `t + d`, or the latest instant when that is out of range.
pub(super) fn plus(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
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

#[cfg(test)]
pub(super) mod tests {
    use chrono_tz::America::Santiago;
    use chrono_tz::Europe::Paris;
    use proptest::prelude::*;

    use super::*;
    use crate::core::testing::utc;

    pub(crate) fn hhmm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).expect("test time")
    }

    pub(crate) fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("test date")
    }

    pub(crate) fn rec(
        rule: &str,
        from: NaiveDate,
        at: NaiveTime,
        hours: i64,
        tz: Tz,
    ) -> Recurrence {
        Recurrence::new(rule, from, at, Duration::hours(hours), tz).expect("test rule")
    }

    /// "00:00–06:00 Europe/Paris" from 2026-01-01 under `rule`.
    pub(crate) fn paris_nights(rule: &str) -> Recurrence {
        rec(rule, day(2026, 1, 1), hhmm(0, 0), 6, Paris)
    }

    fn starts(windows: &[Window]) -> Vec<String> {
        windows
            .iter()
            .map(|w| w.start.format("%Y-%m-%dT%H:%MZ").to_string())
            .collect()
    }

    // The first Wednesday of each month, 00:00 Paris, in UTC: 23:00 the day before in winter,
    // 22:00 in summer (computed independently with Python's zoneinfo).
    pub(crate) const FIRST_WEDNESDAYS: [&str; 24] = [
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
}
