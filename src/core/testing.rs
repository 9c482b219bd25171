//! Test support for the core's unit tests: instants written the way the tests think of them.
//!
//! Built only under `cfg(test)`. The helpers panic on a malformed literal, which is a mistake in
//! the test, never in the code under test.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// An RFC 3339 instant: `utc("2026-12-01T23:00:00Z")`.
pub(crate) fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test instant")
        .with_timezone(&Utc)
}

/// A wall-clock time in `tz` ("2026-06-05 23:50") as an instant; the first one if repeated.
pub(crate) fn wall(tz: Tz, s: &str) -> DateTime<Utc> {
    let local = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("test time");
    tz.from_local_datetime(&local)
        .earliest()
        .expect("existing local time")
        .with_timezone(&Utc)
}

/// A wall-clock time in Amsterdam, the zone of the business-hours examples.
pub(crate) fn ams(s: &str) -> DateTime<Utc> {
    wall(chrono_tz::Europe::Amsterdam, s)
}

/// The instant of a UTC date and time to the minute.
pub(crate) fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("valid instant")
}
