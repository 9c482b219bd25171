//! Follow the sun: which team is on shift, who comes on next, and where shifts hand over.
//!
//! A [`ShiftTeam`] works from `start` to `end` local time in its own time zone, on given weekdays.
//! Shifts are laid out day by day in local time and only then turned into instants, so that a
//! 07:00–19:00 Amsterdam shift ends at 19:00 local on both sides of a daylight-saving change.
//! Every function takes the instant it reasons about; nothing here reads the clock.
//!
//! Two rules keep the answers consistent with one another. A team's shifts that touch (a 24-hour
//! team, or Monday's shift ending when Tuesday's starts) count as one: only a real end is a
//! handover and only a real start is a coming on shift. And a local time that a daylight-saving
//! change skips means the instant the clock jumps, while one it repeats means its first
//! occurrence, so the same local time is the same instant for every team and back-to-back shifts
//! of different teams still meet.

use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, Utc, Weekday};
use serde::Serialize;

const DAY_MINUTES: u32 = 24 * 60;

/// A team's working hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftTeam {
    pub name: String,
    /// 1 customer support, 2 network support, 3 operations engineering.
    pub tier: u8,
    pub tz: chrono_tz::Tz,
    /// Minutes after local midnight, taken modulo 24 hours (so 24:00 is midnight).
    pub start: u32,
    /// Minutes after local midnight. Before `start`: the shift ends the next day (overnight);
    /// equal to `start`: the shift lasts until the same time the next day (24 hours).
    pub end: u32,
    /// The local weekdays on which a shift starts; empty means every day. An overnight shift
    /// belongs to the day it starts.
    pub days: Vec<Weekday>,
}

/// A shift end: `from_team` goes off shift at `at`, and `to_team` holds the tier's tickets
/// after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Handover {
    pub at: DateTime<Utc>,
    pub tier: u8,
    pub from_team: String,
    /// Another team of the same tier on shift at `at` (the one new tickets are routed to), else
    /// the next one to come on shift. None when the ending team itself is the next on shift, as
    /// when it is the tier's only team: its tickets wait for its own next shift.
    pub to_team: Option<String>,
}

impl ShiftTeam {
    /// Whether the team is on shift at `at` (a shift includes its start, not its end).
    pub fn is_on(&self, at: DateTime<Utc>) -> bool {
        self.shifts_around(at, at)
            .into_iter()
            .any(|(s, e)| s <= at && at < e)
    }

    /// Whether the team was on shift just before `at`.
    fn was_on_before(&self, at: DateTime<Utc>) -> bool {
        self.shifts_around(at, at)
            .into_iter()
            .any(|(s, e)| s < at && at <= e)
    }

    /// The team's first real shift start strictly after `at`, looking at most three weeks ahead.
    pub fn next_start(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let horizon = at
            .checked_add_signed(Duration::days(21))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.shifts_around(at, horizon)
            .into_iter()
            .map(|(s, _)| s)
            .filter(|&s| s > at && !self.was_on_before(s))
            .min()
    }

    /// The team's real shift ends in `(from, to]`, in time order.
    fn ends_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut ends: Vec<DateTime<Utc>> = self
            .shifts_around(from, to)
            .into_iter()
            .map(|(_, e)| e)
            .filter(|&e| from < e && e <= to && !self.is_on(e))
            .collect();
        ends.sort();
        ends.dedup();
        ends
    }

    /// Every shift, as `[start, end)` instants, that starts on a local date from a few days
    /// before `from` to the day after `to`. A shift lasts at most a day plus a daylight-saving
    /// hour, and a skipped local time pushes an instant forward by at most the skip, so this
    /// includes every shift that could contain or end at any instant of `[from, to]`.
    fn shifts_around(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        // Saturating at the ends of the calendar keeps extreme instants from panicking.
        let local_date = |t: DateTime<Utc>| t.with_timezone(&self.tz).date_naive();
        let first = local_date(from)
            .checked_sub_days(Days::new(3))
            .unwrap_or(NaiveDate::MIN);
        let last = local_date(to)
            .checked_add_days(Days::new(1))
            .unwrap_or(NaiveDate::MAX);
        first
            .iter_days()
            .take_while(|d| *d <= last)
            .filter_map(|d| self.shift_starting_on(d))
            .collect()
    }

    /// The shift starting on local date `date`, if the team works that day.
    fn shift_starting_on(&self, date: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.days.is_empty() && !self.days.contains(&date.weekday()) {
            return None;
        }
        let (start, end) = (self.start % DAY_MINUTES, self.end % DAY_MINUTES);
        let end_date = if end <= start { date.succ_opt()? } else { date };
        let s = local_instant(self.tz, date, start)?;
        let e = local_instant(self.tz, end_date, end)?;
        (s < e).then_some((s, e))
    }
}

/// The team of `tier` on shift at `at`, the first in list order when several are.
pub fn on_shift(teams: &[ShiftTeam], tier: u8, at: DateTime<Utc>) -> Option<&ShiftTeam> {
    teams.iter().find(|t| t.tier == tier && t.is_on(at))
}

/// The team of `tier` that comes on shift next after `at`, with the instant it starts; the first
/// in list order when several start together. A team already on shift at `at` counts only from
/// its next real start. None when no team of the tier starts within three weeks.
pub fn next_on_shift(
    teams: &[ShiftTeam],
    tier: u8,
    at: DateTime<Utc>,
) -> Option<(&ShiftTeam, DateTime<Utc>)> {
    next_starts(teams, tier, at)
        .into_iter()
        .min_by_key(|&(i, s)| (s, i))
        .map(|(i, s)| (&teams[i], s))
}

/// Every shift end in `(from, to]` of the teams of `tier_filter` (all tiers when None), in time
/// order and, at one instant, in list order. Each end is found on its own, without regard to
/// `from` or `to`, so splitting an interval neither loses nor repeats a handover.
pub fn handovers(
    teams: &[ShiftTeam],
    tier_filter: Option<u8>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Handover> {
    let mut found: Vec<(DateTime<Utc>, usize, Handover)> = Vec::new();
    for (i, team) in teams.iter().enumerate() {
        if tier_filter.is_some_and(|t| t != team.tier) {
            continue;
        }
        for at in team.ends_between(from, to) {
            found.push((
                at,
                i,
                Handover {
                    at,
                    tier: team.tier,
                    from_team: team.name.clone(),
                    to_team: taking_over(teams, i, at).map(|t| t.name.clone()),
                },
            ));
        }
    }
    found.sort_by_key(|&(at, i, _)| (at, i));
    found.into_iter().map(|(_, _, h)| h).collect()
}

/// Who holds the tickets of `teams[ending]` once it goes off shift at `at`: another team of its
/// tier on shift then, chosen as [`on_shift`] chooses (so handed-over tickets and new ones go to
/// the same team); else the next to come on shift, unless that is the ending team itself.
fn taking_over(teams: &[ShiftTeam], ending: usize, at: DateTime<Utc>) -> Option<&ShiftTeam> {
    let tier = teams[ending].tier;
    if let Some(t) = teams
        .iter()
        .enumerate()
        .find(|&(i, t)| i != ending && t.tier == tier && t.is_on(at))
        .map(|(_, t)| t)
    {
        return Some(t);
    }
    // On a tie, another team wins over the ending one: both are on shift from that instant.
    let (i, _) = next_starts(teams, tier, at)
        .into_iter()
        .min_by_key(|&(i, s)| (s, i == ending, i))?;
    (i != ending).then(|| &teams[i])
}

/// The next real start after `at` of each team of `tier`, by list position.
fn next_starts(teams: &[ShiftTeam], tier: u8, at: DateTime<Utc>) -> Vec<(usize, DateTime<Utc>)> {
    teams
        .iter()
        .enumerate()
        .filter(|(_, t)| t.tier == tier)
        .filter_map(|(i, t)| t.next_start(at).map(|s| (i, s)))
        .collect()
}

/// The instant of local time `minutes` after midnight on `date` in `tz`. A time skipped by a
/// daylight-saving change means the instant the clock jumps (the first local minute that exists
/// after it); a repeated time means its first occurrence.
fn local_instant(tz: chrono_tz::Tz, date: NaiveDate, minutes: u32) -> Option<DateTime<Utc>> {
    let local = date.and_hms_opt(minutes / 60, minutes % 60, 0)?;
    Some(crate::core::service::calendar::local_instant(tz, local))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::utc;
    use chrono_tz::Tz;
    use proptest::prelude::*;

    fn minutes(hhmm: &str) -> u32 {
        let (h, m) = hhmm.split_once(':').expect("HH:MM");
        h.parse::<u32>().expect("hours") * 60 + m.parse::<u32>().expect("minutes")
    }

    /// A tier-1 team working `hours` ("HH:MM-HH:MM") in `tz` on `days` (empty: every day).
    fn team(name: &str, tz: Tz, hours: &str, days: &[Weekday]) -> ShiftTeam {
        let (start, end) = hours.split_once('-').expect("HH:MM-HH:MM");
        ShiftTeam {
            name: name.into(),
            tier: 1,
            tz,
            start: minutes(start),
            end: minutes(end),
            days: days.to_vec(),
        }
    }

    /// Amsterdam, New York and Singapore, each 07:00-19:00 local every day, in that order.
    fn follow_the_sun() -> Vec<ShiftTeam> {
        vec![
            team("ams", Tz::Europe__Amsterdam, "07:00-19:00", &[]),
            team("nyc", Tz::America__New_York, "07:00-19:00", &[]),
            team("sgp", Tz::Asia__Singapore, "07:00-19:00", &[]),
        ]
    }

    /// Handovers as `INSTANT FROM -> TO` lines, compared with an expected table.
    fn check(teams: &[ShiftTeam], from: &str, to: &str, expected: &[&str]) {
        let got: Vec<String> = handovers(teams, None, utc(from), utc(to))
            .iter()
            .map(|h| {
                format!(
                    "{} {} -> {}",
                    h.at.format("%Y-%m-%dT%H:%MZ"),
                    h.from_team,
                    h.to_team.as_deref().unwrap_or("none")
                )
            })
            .collect();
        assert_eq!(got, expected);
    }

    fn on<'a>(teams: &'a [ShiftTeam], at: &str) -> Option<&'a str> {
        on_shift(teams, 1, utc(at)).map(|t| t.name.as_str())
    }

    fn next(teams: &[ShiftTeam], at: &str) -> Option<(String, String)> {
        next_on_shift(teams, 1, utc(at)).map(|(t, s)| (t.name.clone(), s.to_rfc3339()))
    }

    // In UTC: Amsterdam works 05-17 until the EU change on 25 October (01:00Z) and 06-18 after;
    // New York 11-23 until the US change on 1 November (06:00Z) and 12-00 after; Singapore 23-11
    // all along. So Singapore hands over to Amsterdam (already on since the morning), Amsterdam
    // to New York, and New York to Singapore, at instants that move with each change.
    #[test]
    fn a_week_of_follow_the_sun_handovers_across_both_dst_changes() {
        check(
            &follow_the_sun(),
            "2026-10-24T00:00:00Z",
            "2026-11-02T12:00:00Z",
            &[
                "2026-10-24T11:00Z sgp -> ams",
                "2026-10-24T17:00Z ams -> nyc",
                "2026-10-24T23:00Z nyc -> sgp",
                "2026-10-25T11:00Z sgp -> ams",
                "2026-10-25T18:00Z ams -> nyc",
                "2026-10-25T23:00Z nyc -> sgp",
                "2026-10-26T11:00Z sgp -> ams",
                "2026-10-26T18:00Z ams -> nyc",
                "2026-10-26T23:00Z nyc -> sgp",
                "2026-10-27T11:00Z sgp -> ams",
                "2026-10-27T18:00Z ams -> nyc",
                "2026-10-27T23:00Z nyc -> sgp",
                "2026-10-28T11:00Z sgp -> ams",
                "2026-10-28T18:00Z ams -> nyc",
                "2026-10-28T23:00Z nyc -> sgp",
                "2026-10-29T11:00Z sgp -> ams",
                "2026-10-29T18:00Z ams -> nyc",
                "2026-10-29T23:00Z nyc -> sgp",
                "2026-10-30T11:00Z sgp -> ams",
                "2026-10-30T18:00Z ams -> nyc",
                "2026-10-30T23:00Z nyc -> sgp",
                "2026-10-31T11:00Z sgp -> ams",
                "2026-10-31T18:00Z ams -> nyc",
                "2026-10-31T23:00Z nyc -> sgp",
                "2026-11-01T11:00Z sgp -> ams",
                "2026-11-01T18:00Z ams -> nyc",
                "2026-11-02T00:00Z nyc -> sgp",
                "2026-11-02T11:00Z sgp -> ams",
            ],
        );
    }

    #[test]
    fn the_tier_filter_keeps_only_that_tiers_handovers() {
        let mut teams = follow_the_sun();
        teams[1].tier = 2;
        let from = utc("2026-10-26T00:00:00Z");
        let to = utc("2026-10-27T00:00:00Z");
        let tier2 = handovers(&teams, Some(2), from, to);
        assert_eq!(
            tier2,
            [Handover {
                at: utc("2026-10-26T23:00:00Z"),
                tier: 2,
                from_team: "nyc".into(),
                to_team: None,
            }],
            "nyc is alone in tier 2: nobody else takes over"
        );
        let tier1: Vec<(String, Option<String>)> = handovers(&teams, Some(1), from, to)
            .into_iter()
            .map(|h| (h.from_team, h.to_team))
            .collect();
        assert_eq!(
            tier1,
            [
                ("sgp".to_string(), Some("ams".to_string())),
                ("ams".to_string(), Some("sgp".to_string())),
            ],
            "in tier 1, Amsterdam hands over to Singapore, who comes on at 23:00Z"
        );
        assert_eq!(handovers(&teams, Some(3), from, to), []);
    }

    #[test]
    fn the_first_team_in_list_order_is_on_shift_where_shifts_overlap() {
        let teams = follow_the_sun();
        assert_eq!(on(&teams, "2026-10-24T04:59:59Z"), Some("sgp"));
        assert_eq!(on(&teams, "2026-10-24T05:00:00Z"), Some("ams"));
        assert_eq!(
            on(&teams, "2026-10-25T05:30:00Z"),
            Some("sgp"),
            "after the EU change Amsterdam starts at 06:00Z"
        );
        assert_eq!(on(&teams, "2026-10-31T22:30:00Z"), Some("nyc"));
        assert_eq!(on(&teams, "2026-10-31T23:00:00Z"), Some("sgp"));
        assert_eq!(
            on(&teams, "2026-11-01T23:30:00Z"),
            Some("nyc"),
            "after the US change New York overlaps Singapore by an hour"
        );
        assert_eq!(on(&teams, "2026-11-02T00:00:00Z"), Some("sgp"));
        assert_eq!(on_shift(&teams, 2, utc("2026-11-02T00:00:00Z")), None);
    }

    #[test]
    fn the_next_team_on_shift_starts_at_its_local_time_after_a_dst_change() {
        let teams = follow_the_sun();
        assert_eq!(
            next(&teams, "2026-11-01T11:30:00Z"),
            Some(("nyc".into(), "2026-11-01T12:00:00+00:00".into()))
        );
        assert_eq!(
            next(&teams, "2026-10-31T10:00:00Z"),
            Some(("nyc".into(), "2026-10-31T11:00:00+00:00".into()))
        );
        assert_eq!(
            next(&teams, "2026-10-24T23:00:00Z"),
            Some(("ams".into(), "2026-10-25T06:00:00+00:00".into())),
            "Singapore starts at 23:00Z exactly: only later starts count"
        );
    }

    // Amsterdam and New York 09:00-17:00 on weekdays leave gaps every night and at weekends.
    #[test]
    fn gaps_hand_over_to_the_next_team_to_come_on_shift() {
        use Weekday::*;
        let weekdays = [Mon, Tue, Wed, Thu, Fri];
        let teams = vec![
            team("ams", Tz::Europe__Amsterdam, "09:00-17:00", &weekdays),
            team("nyc", Tz::America__New_York, "09:00-17:00", &weekdays),
        ];
        check(
            &teams,
            "2026-10-29T00:00:00Z",
            "2026-11-03T00:00:00Z",
            &[
                "2026-10-29T16:00Z ams -> nyc",
                "2026-10-29T21:00Z nyc -> ams",
                "2026-10-30T16:00Z ams -> nyc",
                "2026-10-30T21:00Z nyc -> ams",
                "2026-11-02T16:00Z ams -> nyc",
                "2026-11-02T22:00Z nyc -> ams",
            ],
        );
        assert_eq!(on(&teams, "2026-10-31T12:00:00Z"), None);
        assert_eq!(
            next(&teams, "2026-10-31T12:00:00Z"),
            Some(("ams".into(), "2026-11-02T08:00:00+00:00".into()))
        );
        assert_eq!(on(&teams, "2026-11-02T13:59:00Z"), Some("ams"));
        assert_eq!(
            next(&teams, "2026-11-02T13:00:00Z"),
            Some(("nyc".into(), "2026-11-02T14:00:00+00:00".into()))
        );
    }

    #[test]
    fn a_lone_team_hands_over_to_nobody() {
        let teams = vec![team("ams", Tz::Europe__Amsterdam, "07:00-19:00", &[])];
        check(
            &teams,
            "2026-10-24T00:00:00Z",
            "2026-10-26T00:00:00Z",
            &[
                "2026-10-24T17:00Z ams -> none",
                "2026-10-25T18:00Z ams -> none",
            ],
        );
    }

    #[test]
    fn an_overnight_shift_belongs_to_the_day_it_starts_and_spans_the_dst_change() {
        let teams = vec![team(
            "night",
            Tz::Europe__Amsterdam,
            "22:00-06:00",
            &[Weekday::Sat],
        )];
        // Saturday 24 October 22:00 CEST is 20:00Z; Sunday 06:00 CET is 05:00Z: nine hours.
        assert_eq!(on(&teams, "2026-10-24T19:59:59Z"), None);
        assert_eq!(on(&teams, "2026-10-24T20:00:00Z"), Some("night"));
        assert_eq!(
            on(&teams, "2026-10-25T01:30:00Z"),
            Some("night"),
            "the repeated hour"
        );
        assert_eq!(on(&teams, "2026-10-25T04:59:59Z"), Some("night"));
        assert_eq!(on(&teams, "2026-10-25T05:00:00Z"), None);
        assert_eq!(
            on(&teams, "2026-10-23T23:00:00Z"),
            None,
            "Friday night is not worked"
        );
        check(
            &teams,
            "2026-10-24T00:00:00Z",
            "2026-11-02T00:00:00Z",
            &[
                "2026-10-25T05:00Z night -> none",
                "2026-11-01T05:00Z night -> none",
            ],
        );
        assert_eq!(
            next(&teams, "2026-10-25T05:00:00Z"),
            Some(("night".into(), "2026-10-31T21:00:00+00:00".into()))
        );
    }

    #[test]
    fn a_shift_end_in_the_repeated_hour_is_its_first_occurrence() {
        let teams = vec![team("late", Tz::Europe__Amsterdam, "22:00-02:30", &[])];
        check(
            &teams,
            "2026-10-24T12:00:00Z",
            "2026-10-25T12:00:00Z",
            &["2026-10-25T00:30Z late -> none"],
        );
    }

    #[test]
    fn a_shift_start_in_the_skipped_hour_is_the_instant_the_clock_jumps() {
        let teams = vec![team(
            "early",
            Tz::Europe__Amsterdam,
            "02:30-10:00",
            &[Weekday::Sun],
        )];
        // On 29 March 2026 Amsterdam jumps from 02:00 CET to 03:00 CEST at 01:00Z.
        assert_eq!(on(&teams, "2026-03-29T00:59:59Z"), None);
        assert_eq!(on(&teams, "2026-03-29T01:00:00Z"), Some("early"));
        assert_eq!(
            next(&teams, "2026-03-28T12:00:00Z"),
            Some(("early".into(), "2026-03-29T01:00:00+00:00".into()))
        );
        assert_eq!(
            next(&teams, "2026-03-29T12:00:00Z"),
            Some(("early".into(), "2026-04-05T00:30:00+00:00".into()))
        );
    }

    #[test]
    fn a_round_the_clock_team_never_hands_over_and_touching_shifts_merge() {
        let always = vec![team("noc", Tz::Europe__Amsterdam, "07:00-07:00", &[])];
        assert_eq!(on(&always, "2026-10-25T01:30:00Z"), Some("noc"));
        check(&always, "2026-10-20T00:00:00Z", "2026-11-10T00:00:00Z", &[]);
        assert_eq!(next(&always, "2026-10-25T01:30:00Z"), None);

        use Weekday::*;
        let weekdays = vec![team(
            "week",
            Tz::Europe__Amsterdam,
            "00:00-24:00",
            &[Mon, Tue, Wed, Thu, Fri],
        )];
        check(
            &weekdays,
            "2026-10-26T00:00:00Z",
            "2026-11-03T00:00:00Z",
            &["2026-10-30T23:00Z week -> none"],
        );
        assert_eq!(
            next(&weekdays, "2026-10-27T12:00:00Z"),
            Some(("week".into(), "2026-11-01T23:00:00+00:00".into()))
        );
    }

    #[test]
    fn an_empty_or_reversed_interval_has_no_handovers() {
        let teams = follow_the_sun();
        let t = utc("2026-10-24T11:00:00Z");
        assert_eq!(handovers(&teams, None, t, t), []);
        assert_eq!(handovers(&teams, None, t, t - Duration::hours(30)), []);
        assert_eq!(
            handovers(&teams, None, t - Duration::seconds(1), t).len(),
            1
        );
    }

    const ZONES: &[Tz] = &[
        Tz::Europe__Amsterdam,
        Tz::America__New_York,
        Tz::Asia__Singapore,
        Tz::Australia__Lord_Howe,
        Tz::America__Sao_Paulo,
        Tz::Pacific__Chatham,
        Tz::UTC,
    ];

    fn arb_team() -> impl Strategy<Value = ShiftTeam> {
        (
            0..ZONES.len(),
            1u8..=2,
            0u32..DAY_MINUTES,
            0u32..DAY_MINUTES,
            proptest::collection::vec(0u8..7, 0..4),
        )
            .prop_map(|(z, tier, start, end, days)| ShiftTeam {
                name: String::new(),
                tier,
                tz: ZONES[z],
                start,
                end,
                days: days
                    .into_iter()
                    .filter_map(|d| Weekday::try_from(d).ok())
                    .collect(),
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn handovers_over_split_intervals_concatenate_to_the_whole(
            teams in proptest::collection::vec(arb_team(), 1..4),
            // Around the 2026 changes in both hemispheres, in minutes.
            start in 0i64..(366 * 24 * 60),
            cuts in proptest::collection::vec(0i64..(10 * 24 * 60), 0..6),
            tier_filter in proptest::option::of(1u8..=2),
        ) {
            // Names by position, so that two teams with the same hours stay apart.
            let teams: Vec<ShiftTeam> = teams
                .into_iter()
                .enumerate()
                .map(|(i, t)| ShiftTeam { name: format!("t{i}"), ..t })
                .collect();
            let from = utc("2026-01-01T00:00:00Z") + Duration::minutes(start);
            let to = from + Duration::days(10);
            let mut points: Vec<DateTime<Utc>> =
                cuts.into_iter().map(|c| from + Duration::minutes(c)).collect();
            points.push(from);
            points.push(to);
            points.sort();
            let whole = handovers(&teams, tier_filter, from, to);
            let pieces: Vec<Handover> = points
                .windows(2)
                .flat_map(|w| handovers(&teams, tier_filter, w[0], w[1]))
                .collect();
            prop_assert_eq!(&pieces, &whole);
            for h in &whole {
                let team = teams.iter().find(|t| t.name == h.from_team).expect("team");
                prop_assert!(h.at > from && h.at <= to);
                prop_assert!(team.is_on(h.at - Duration::seconds(1)), "{:?} was on before", h);
                prop_assert!(!team.is_on(h.at), "{:?} is off at its end", h);
                if let Some(to_team) = &h.to_team {
                    prop_assert_ne!(to_team, &h.from_team);
                }
            }
            prop_assert!(whole.windows(2).all(|w| w[0].at <= w[1].at));
        }
    }
}
