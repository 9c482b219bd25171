//! Dates and times as a reader expects them: in their zone, with day and month names in their
//! language, on a 24-hour clock.
//!
//! chrono formats names in English only (its `unstable-locales` feature pulls in a locale
//! database for seven words a language); the desk languages are few, so the names are here.
//! A language we have no names for is written in English.

use crate::core::lang::Lang;
use chrono::{DateTime, Datelike, Offset, Timelike, Utc};
use chrono_tz::Tz;

/// Abbreviated weekday (Monday first) and month names, and the word order of a date.
struct Names {
    days: [&'static str; 7],
    months: [&'static str; 12],
    /// "2." rather than "2" before the month (German).
    day_dot: bool,
}

fn names(language: &str) -> Names {
    match Lang::parse(language).unwrap_or(Lang::En) {
        Lang::Fr => Names {
            days: ["lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."],
            months: [
                "janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.",
                "nov.", "déc.",
            ],
            day_dot: false,
        },
        Lang::De => Names {
            days: ["Mo.", "Di.", "Mi.", "Do.", "Fr.", "Sa.", "So."],
            months: [
                "Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sep.", "Okt.",
                "Nov.", "Dez.",
            ],
            day_dot: true,
        },
        Lang::Nl => Names {
            days: ["ma", "di", "wo", "do", "vr", "za", "zo"],
            months: [
                "jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec",
            ],
            day_dot: false,
        },
        Lang::Es => Names {
            days: ["lun", "mar", "mié", "jue", "vie", "sáb", "dom"],
            months: [
                "ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic",
            ],
            day_dot: false,
        },
        Lang::It => Names {
            days: ["lun", "mar", "mer", "gio", "ven", "sab", "dom"],
            months: [
                "gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic",
            ],
            day_dot: false,
        },
        Lang::Pt => Names {
            days: ["seg", "ter", "qua", "qui", "sex", "sáb", "dom"],
            months: [
                "jan", "fev", "mar", "abr", "mai", "jun", "jul", "ago", "set", "out", "nov", "dez",
            ],
            day_dot: false,
        },
        Lang::En => Names {
            days: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
            months: [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ],
            day_dot: false,
        },
    }
}

/// `t` in `tz`, in `language`: "Wed 2 Dec 2026 00:00", "mer. 2 déc. 2026 00:00",
/// "Mi. 2. Dez. 2026 00:00".
pub fn local(t: DateTime<Utc>, tz: Tz, language: &str) -> String {
    let n = names(language);
    let l = t.with_timezone(&tz);
    let day = n.days[l.weekday().num_days_from_monday() as usize];
    let month = n.months[l.month0() as usize];
    let dot = if n.day_dot { "." } else { "" };
    format!(
        "{day} {}{dot} {month} {} {:02}:{:02}",
        l.day(),
        l.year(),
        l.hour(),
        l.minute()
    )
}

/// The zone as a reader recognises it at `t`: "Europe/Amsterdam (CET, UTC+01:00)".
pub fn zone_label(t: DateTime<Utc>, tz: Tz) -> String {
    let l = t.with_timezone(&tz);
    let secs = l.offset().fix().local_minus_utc();
    let sign = if secs < 0 { '-' } else { '+' };
    let secs = secs.abs();
    format!(
        "{} ({}, UTC{sign}{:02}:{:02})",
        tz.name(),
        l.format("%Z"),
        secs / 3600,
        (secs % 3600) / 60
    )
}

/// `t` in UTC: "2026-12-01 23:00 UTC".
pub fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A duration as "6 h", "45 min", "1 h 30 min", "2 d 4 h" (the units read the same in every
/// desk language).
pub fn duration(d: chrono::Duration) -> String {
    let mins = d.num_minutes().max(0);
    let (days, hours, minutes) = (mins / 1440, (mins % 1440) / 60, mins % 60);
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(format!("{days} d"));
    }
    if hours > 0 {
        parts.push(format!("{hours} h"));
    }
    if minutes > 0 || parts.is_empty() {
        parts.push(format!("{minutes} min"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::at;

    #[test]
    fn a_winter_night_in_amsterdam_in_each_language() {
        let t = at(2026, 12, 1, 23, 0);
        let tz: Tz = "Europe/Amsterdam".parse().expect("zone");
        assert_eq!(local(t, tz, "en"), "Wed 2 Dec 2026 00:00");
        assert_eq!(local(t, tz, "fr"), "mer. 2 déc. 2026 00:00");
        assert_eq!(local(t, tz, "de"), "Mi. 2. Dez. 2026 00:00");
        assert_eq!(local(t, tz, "nl"), "wo 2 dec 2026 00:00");
        assert_eq!(local(t, tz, "es-ES"), "mié 2 dic 2026 00:00");
        assert_eq!(local(t, tz, "it"), "mer 2 dic 2026 00:00");
        assert_eq!(local(t, tz, "pt_BR"), "qua 2 dez 2026 00:00");
        assert_eq!(local(t, tz, "xx"), "Wed 2 Dec 2026 00:00");
    }

    #[test]
    fn the_zone_label_follows_daylight_saving() {
        let tz: Tz = "Europe/Paris".parse().expect("zone");
        assert_eq!(
            zone_label(at(2026, 12, 1, 23, 0), tz),
            "Europe/Paris (CET, UTC+01:00)"
        );
        assert_eq!(
            zone_label(at(2026, 7, 1, 12, 0), tz),
            "Europe/Paris (CEST, UTC+02:00)"
        );
        let tz: Tz = "America/St_Johns".parse().expect("zone");
        assert_eq!(
            zone_label(at(2026, 12, 1, 12, 0), tz),
            "America/St_Johns (NST, UTC-03:30)"
        );
    }

    #[test]
    fn durations_read_in_hours_and_minutes() {
        assert_eq!(duration(chrono::Duration::hours(6)), "6 h");
        assert_eq!(duration(chrono::Duration::minutes(90)), "1 h 30 min");
        assert_eq!(duration(chrono::Duration::minutes(45)), "45 min");
        assert_eq!(duration(chrono::Duration::hours(52)), "2 d 4 h");
        assert_eq!(duration(chrono::Duration::zero()), "0 min");
    }
}
