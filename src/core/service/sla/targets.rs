//! What an SLA promises and how that is written: the two [`Target`]s of a plan, the [`Targets`]
//! that apply to one ticket, the warning and breach [`Level`]s, where one target stands
//! ([`TargetState`]), and durations as plans write them ("4h", "1h30m", "2d").

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::core::str_enum::str_enum;

/// The longest target `parse_duration` accepts; a longer one is surely a typo.
const MAX_TARGET_DAYS: i64 = 366;

str_enum! {
    /// The two targets of a plan, per priority.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Target {
        FirstResponse => "first_response",
        Restore => "restore",
    }
}

str_enum! {
    /// A warning at 75 % of a target, a breach at 100 %.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Level {
        Warning => "warning",
        Breach => "breach",
    }
}

/// The targets that apply to a ticket (from its plan and priority); `None` is "no target".
///
/// Stored as whole seconds, which is readable in the ticket record and more precise than any
/// plan needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    #[serde(default, with = "opt_secs")]
    pub first_response: Option<Duration>,
    #[serde(default, with = "opt_secs")]
    pub restore: Option<Duration>,
}

impl Targets {
    pub fn get(&self, target: Target) -> Option<Duration> {
        match target {
            Target::FirstResponse => self.first_response,
            Target::Restore => self.restore,
        }
    }
}
/// Where one target stands, for the tickets list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TargetState {
    /// The plan sets no such target for this priority.
    None,
    /// Met at `at`; `in_time` unless that was after the due time.
    Met { at: DateTime<Utc>, in_time: bool },
    /// Not met, due in the future.
    Running { due: DateTime<Utc> },
    /// Not met, the clock paused before the due time: no due time until it runs again.
    Paused,
    /// Not met, and the due time has passed.
    Breached { due: DateTime<Utc> },
}

/// A target as written in plans: "30m", "4h", "1h30m", "2d", "1d 4h".
///
/// Units are `d` (24 hours), `h` and `m`, largest first, each at most once. On a business
/// calendar "2d" is 48 hours of open time, not two business days: write "20h" for two days of
/// 08:00–18:00. "none" is an error here, since there is no duration to return: plans leave the
/// key out, and [`parse_target`] reads "none" as no target.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let text = s.trim();
    if text.eq_ignore_ascii_case("none") {
        return Err("\"none\" is no duration: leave the target out, or use parse_target".into());
    }
    let bad = || format!("invalid duration {s:?}: write e.g. \"30m\", \"4h\", \"1h30m\" or \"2d\"");
    let mut total: i64 = 0;
    let mut last_unit = i64::MAX;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let (number, after) = rest.split_at(digits);
        let mut chars = after.chars();
        let unit = match chars.next() {
            Some('d') => 86_400,
            Some('h') => 3_600,
            Some('m') => 60,
            _ => return Err(bad()),
        };
        if number.is_empty() || unit >= last_unit {
            return Err(bad());
        }
        let n: i64 = number.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(bad)?;
        last_unit = unit;
        rest = chars.as_str().trim_start();
    }
    if total == 0 && last_unit == i64::MAX {
        return Err(bad());
    }
    if total <= 0 {
        return Err(format!(
            "invalid duration {s:?}: a target must be longer than zero"
        ));
    }
    if total > MAX_TARGET_DAYS * 86_400 {
        return Err(format!(
            "invalid duration {s:?}: a target longer than {MAX_TARGET_DAYS} days is surely a typo"
        ));
    }
    Ok(Duration::seconds(total))
}

/// A target or "none": `Ok(None)` for "none" (any case), otherwise [`parse_duration`].
pub fn parse_target(s: &str) -> Result<Option<Duration>, String> {
    if s.trim().eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    parse_duration(s).map(Some)
}

/// A duration as plans write it ("1h30m", "2d", "45m"), to the minute, rounded down;
/// negative ones (time overdue) get a leading "-". Zero is "0m".
pub fn format_duration(d: Duration) -> String {
    let sign = if d < Duration::zero() { "-" } else { "" };
    let minutes = d.num_minutes().unsigned_abs();
    let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    let mut out = String::from(sign);
    for (n, unit) in [(days, 'd'), (hours, 'h'), (mins, 'm')] {
        if n > 0 {
            out.push_str(&n.to_string());
            out.push(unit);
        }
    }
    if minutes == 0 {
        out = "0m".into();
    }
    out
}

/// `Option<Duration>` as whole seconds (or null) in the ticket record.
mod opt_secs {
    use chrono::Duration;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        d.map(|d| d.num_seconds()).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Option::<i64>::deserialize(d)? {
            None => Ok(None),
            Some(secs) => Duration::try_seconds(secs).map(Some).ok_or_else(|| {
                serde::de::Error::custom(format!("target of {secs} s is out of range"))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn durations_table() {
        let ok = [
            ("30m", 30),
            ("4h", 240),
            ("1h30m", 90),
            ("1h 30m", 90),
            (" 2d ", 2880),
            ("1d4h", 1680),
            ("90m", 90),
        ];
        for (s, minutes) in ok {
            assert_eq!(parse_duration(s), Ok(Duration::minutes(minutes)), "{s}");
        }
        for s in [
            "",
            "none",
            "4",
            "h",
            "4x",
            "30m1h",
            "1h1h",
            "0m",
            "-1h",
            "367d",
            "99999999999999999d",
            "1.5h",
        ] {
            assert!(parse_duration(s).is_err(), "{s:?} must fail");
        }
        assert_eq!(parse_target("None"), Ok(None));
        assert_eq!(parse_target("4h"), Ok(Some(Duration::hours(4))));
        assert!(parse_target("soon").is_err());
        let formatted = [
            (Duration::minutes(90), "1h30m"),
            (Duration::hours(48), "2d"),
            (Duration::minutes(45), "45m"),
            (Duration::seconds(59), "0m"),
            (Duration::minutes(-70), "-1h10m"),
        ];
        for (d, s) in formatted {
            assert_eq!(format_duration(d), s);
        }
    }

    proptest! {
        #[test]
        fn durations_round_trip(minutes in 1i64..(366 * 1440)) {
            let d = Duration::minutes(minutes);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
