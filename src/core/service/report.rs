//! The monthly report: tickets opened and resolved, SLA targets met per priority, and expert
//! hours used against each account's allowance, for one calendar month.
//!
//! The month runs from local midnight of its first day to local midnight of the next month's
//! first day, in one time zone: the account's when the report is for one account, else the
//! deployment's. In Amsterdam, a ticket opened on 31 October at 23:30 belongs to October, and
//! one opened on 1 November at 00:30 (still 31 October in UTC) to November.
//!
//! The figures, each counted once per ticket:
//! - **opened**: tickets created in the month;
//! - **resolved**: tickets that entered `resolved` in the month, or `closed` from a status other
//!   than `resolved` (a ticket closed straight away was resolved too, and its SLA clock says so);
//! - **targets** (first response and restore, per priority), over the tickets *opened* in the
//!   month only, judged by their SLA clock at the report's `as_of` instant: **met** when the
//!   response or restore came at or before its due time (pauses while pending move the due
//!   time), **missed** when it came after it or has not come and the due time has passed,
//!   **running** when it has not come and is not yet due (or the clock is paused). A ticket
//!   whose plan sets no such target is in none of the three;
//! - **expert hours**: the minutes of `time_logged` events dated in the month, per account
//!   (tickets without one under [`UNASSIGNED`]), against the monthly allowance of the account's
//!   plan. An allowance limited to the first N months of the contract holds in the first N
//!   calendar months, the month of the account's `since` date being the first; outside them (or
//!   without a `since` date) it is zero. `remaining_hours` is negative when more was used.
//!
//! A ticket's priority is its current one, and its target states come from its current clock:
//! a reopened ticket's restore counts as not yet met.
//!
//! Everything is computed from the inputs; `as_of` comes in as an argument, like every `now`
//! in the core.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Duration, LocalResult, Months, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::core::service::accounts::Account;
use crate::core::service::calendar::Calendar;
use crate::core::service::sla::{Target, TargetState};
use crate::core::service::ticket::{Change, Priority, Status, Ticket};

/// The name under which time logged on tickets without an account is counted.
pub const UNASSIGNED: &str = "unassigned";

/// The priorities of the table, in order: every report lists all four.
const PRIORITIES: [Priority; 4] = [Priority::P1, Priority::P2, Priority::P3, Priority::P4];

/// A calendar month, written "2026-11".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    /// Always the first day of the month.
    first: NaiveDate,
}

impl Month {
    /// The month `month` (1–12) of `year`, if chrono can represent it.
    pub fn new(year: i32, month: u32) -> Option<Month> {
        NaiveDate::from_ymd_opt(year, month, 1).map(|first| Month { first })
    }

    /// Reads "YYYY-MM" (as `--month` takes it); the error says what to write.
    pub fn parse(s: &str) -> Result<Month, String> {
        let bad = || format!("invalid month {s:?}: write the year and month, e.g. \"2026-11\"");
        let (year, month) = s.trim().split_once('-').ok_or_else(bad)?;
        let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(year, 4) || !digits(month, 2) {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        let month: u32 = month.parse().map_err(|_| bad())?;
        Month::new(year, month).ok_or_else(bad)
    }

    pub fn first_day(self) -> NaiveDate {
        self.first
    }

    /// The month's last day; `None` only at the end of chrono's range.
    pub fn last_day(self) -> Option<NaiveDate> {
        self.next().and_then(|m| m.first.pred_opt())
    }

    /// The following month; `None` only at the end of chrono's range.
    pub fn next(self) -> Option<Month> {
        self.first
            .checked_add_months(Months::new(1))
            .map(|first| Month { first })
    }

    /// The instants the month begins (inclusive) and ends (exclusive) in `tz`: local midnight
    /// of its first day and of the next month's first day.
    pub fn bounds(self, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        let end = self
            .next()
            .map_or(DateTime::<Utc>::MAX_UTC, |m| day_start(tz, m.first));
        (day_start(tz, self.first), end)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.first.format("%Y-%m"))
    }
}

impl Serialize for Month {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Month {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Month, D::Error> {
        let s = String::deserialize(d)?;
        Month::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The expert-hours allowance of a plan, as the report needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Allowance {
    pub plan: String,
    /// Hours per month.
    pub hours: f64,
    /// The allowance holds in the first N months of the contract only.
    pub months: Option<u32>,
}

/// What one report covers.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    pub month: Month,
    /// The zone whose local midnights bound the month.
    pub tz: Tz,
    /// Only this account's tickets, when given.
    pub account: Option<&'a str>,
    /// The instant at which open targets are judged (running or missed).
    pub as_of: DateTime<Utc>,
}

/// The monthly report, as `report --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthlyReport {
    pub month: Month,
    /// The IANA zone of the month's boundaries.
    pub timezone: String,
    pub account: Option<String>,
    /// When open targets were judged.
    pub as_of: DateTime<Utc>,
    pub opened: u32,
    pub resolved: u32,
    /// P1 to P4, each always present.
    pub per_priority: Vec<PriorityRow>,
    /// One row per account: those with time logged in the month, those with an allowance in
    /// it, and the report's account; sorted by id, [`UNASSIGNED`] last.
    pub expert_hours: Vec<ExpertHours>,
}

/// The figures of one priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorityRow {
    pub priority: Priority,
    pub opened: u32,
    pub resolved: u32,
    pub first_response: TargetCount,
    pub restore: TargetCount,
}

/// How the tickets opened in the month stand against one target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetCount {
    pub met: u32,
    pub missed: u32,
    pub running: u32,
}

/// Expert hours of one account in the month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpertHours {
    /// The account id, or [`UNASSIGNED`].
    pub account: String,
    /// The account's plan, spelt as the plans spell it (none for [`UNASSIGNED`]).
    pub plan: Option<String>,
    /// Exactly what was logged; the hours below are rounded to two decimals.
    pub used_minutes: u64,
    pub used_hours: f64,
    /// Zero when the plan grants none, or its first-months allowance has expired.
    pub allowance_hours: f64,
    /// Negative when more was used than allowed.
    pub remaining_hours: f64,
}

/// Computes the report over `tickets`, each with the calendar of its plan.
///
/// `allowances` are the plans' expert-hours allowances (names compared without regard to case)
/// and `accounts` the accounts directory: an account's plan and contract start come from there,
/// and for an account no longer in it from its latest ticket.
pub fn monthly(
    scope: &Scope<'_>,
    tickets: &[(&Ticket, &Calendar)],
    allowances: &[Allowance],
    accounts: &[Account],
) -> MonthlyReport {
    let (start, end) = scope.month.bounds(scope.tz);
    let in_month = |at: DateTime<Utc>| start <= at && at < end;
    let mut rows: Vec<PriorityRow> = PRIORITIES
        .iter()
        .map(|&priority| PriorityRow {
            priority,
            opened: 0,
            resolved: 0,
            first_response: TargetCount::default(),
            restore: TargetCount::default(),
        })
        .collect();
    // Minutes per account, with the plan of its latest ticket for accounts not in the directory.
    let mut minutes: BTreeMap<String, (u64, Option<String>, DateTime<Utc>)> = BTreeMap::new();
    let mut opened = 0;
    let mut resolved = 0;

    let wanted = tickets.iter().filter(|(t, _)| {
        scope
            .account
            .is_none_or(|a| t.account.as_deref() == Some(a))
    });
    for &(ticket, cal) in wanted {
        let row = &mut rows[priority_index(ticket.priority)];
        if in_month(ticket.created_at) {
            opened += 1;
            row.opened += 1;
            if let Some(sla) = &ticket.sla {
                for (target, count) in [
                    (Target::FirstResponse, &mut row.first_response),
                    (Target::Restore, &mut row.restore),
                ] {
                    tally(count, sla.state(target, scope.as_of, cal));
                }
            }
        }
        if ticket
            .events
            .iter()
            .any(|e| in_month(e.at) && is_resolution(&e.change))
        {
            resolved += 1;
            row.resolved += 1;
        }
        let logged: u64 = ticket
            .events
            .iter()
            .filter(|e| in_month(e.at))
            .filter_map(|e| match e.change {
                Change::TimeLogged { minutes } => Some(u64::from(minutes)),
                _ => None,
            })
            .sum();
        if logged > 0 {
            let key = ticket.account.as_deref().unwrap_or(UNASSIGNED).to_string();
            let entry = minutes
                .entry(key)
                .or_insert((0, None, DateTime::<Utc>::MIN_UTC));
            entry.0 += logged;
            if ticket.created_at >= entry.2 {
                entry.1 = ticket.plan.clone();
                entry.2 = ticket.created_at;
            }
        }
    }

    // Accounts with hours to account for are listed even when nothing was logged.
    let last_day = scope.month.last_day().unwrap_or(scope.month.first_day());
    for a in accounts {
        let chosen = scope.account.is_none_or(|id| id == a.id);
        let listed = match scope.account {
            Some(id) => id == a.id,
            None => allowance_of(a, allowances, last_day) > 0.0,
        };
        if chosen && listed {
            minutes
                .entry(a.id.clone())
                .or_insert((0, None, DateTime::<Utc>::MIN_UTC));
        }
    }

    let mut expert_hours: Vec<ExpertHours> = minutes
        .into_iter()
        .map(|(id, (used, ticket_plan, _))| {
            let account = accounts.iter().find(|a| a.id == id);
            let (plan, allowance) = match account {
                Some(a) => (
                    Some(plan_name(allowances, &a.plan)),
                    allowance_of(a, allowances, last_day),
                ),
                None if id == UNASSIGNED => (None, 0.0),
                // Without a contract start, a first-months allowance is not granted on a guess.
                None => {
                    let hours = ticket_plan
                        .as_deref()
                        .and_then(|p| find_allowance(allowances, p))
                        .filter(|al| al.months.is_none())
                        .map_or(0.0, |al| al.hours);
                    (ticket_plan.map(|p| plan_name(allowances, &p)), hours)
                }
            };
            let used_hours = used as f64 / 60.0;
            ExpertHours {
                account: id,
                plan,
                used_minutes: used,
                used_hours: round2(used_hours),
                allowance_hours: round2(allowance),
                remaining_hours: round2(allowance - used_hours),
            }
        })
        .collect();
    // BTreeMap order is by id; the tickets nobody owns come last.
    expert_hours.sort_by_key(|h| h.account == UNASSIGNED);

    MonthlyReport {
        month: scope.month,
        timezone: scope.tz.name().to_string(),
        account: scope.account.map(str::to_string),
        as_of: scope.as_of,
        opened,
        resolved,
        per_priority: rows,
        expert_hours,
    }
}

fn priority_index(p: Priority) -> usize {
    match p {
        Priority::P1 => 0,
        Priority::P2 => 1,
        Priority::P3 => 2,
        Priority::P4 => 3,
    }
}

/// Counts one target's state: met, missed, running, or nothing when there is no such target.
fn tally(count: &mut TargetCount, state: TargetState) {
    match state {
        TargetState::Met { in_time: true, .. } => count.met += 1,
        TargetState::Met { in_time: false, .. } | TargetState::Breached { .. } => count.missed += 1,
        TargetState::Running { .. } | TargetState::Paused => count.running += 1,
        TargetState::None => {}
    }
}

/// Whether a change resolves the ticket: into `resolved`, or into `closed` without passing
/// through `resolved` (which was counted when it happened).
fn is_resolution(change: &Change) -> bool {
    match change {
        Change::Status { to, from } => {
            *to == Status::Resolved || (*to == Status::Closed && *from != Status::Resolved)
        }
        _ => false,
    }
}

fn find_allowance<'a>(allowances: &'a [Allowance], plan: &str) -> Option<&'a Allowance> {
    allowances
        .iter()
        .find(|a| a.plan.eq_ignore_ascii_case(plan))
}

/// The plan's name as the plans spell it ("Gold" for an account's "gold").
fn plan_name(allowances: &[Allowance], plan: &str) -> String {
    find_allowance(allowances, plan).map_or_else(|| plan.to_string(), |a| a.plan.clone())
}

/// The account's allowance in the month whose last day is `last_day`.
///
/// Checking the last day makes the month of `since` the first of the N months, whatever day the
/// contract started, and grants exactly N calendar months.
fn allowance_of(account: &Account, allowances: &[Allowance], last_day: NaiveDate) -> f64 {
    let Some(al) = find_allowance(allowances, &account.plan) else {
        return 0.0;
    };
    match al.months {
        Some(n) if !account.within_first_months(n, last_day) => 0.0,
        _ => al.hours,
    }
}

/// Hours to two decimals, so that 50 minutes reads 0.83 rather than 0.8333333333333334.
fn round2(hours: f64) -> f64 {
    (hours * 100.0).round() / 100.0
}

/// The first instant of local date `date` in `tz`.
///
/// Midnight may not exist (a few zones move their clocks forward at 00:00): the day then begins
/// when the clocks jump, the first local minute that exists. When midnight occurs twice, the
/// first occurrence begins the day.
fn day_start(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_time(NaiveTime::MIN);
    // Clock changes are at most a few hours long, and always on a whole minute.
    for minute in 0..24 * 60 {
        match tz.from_local_datetime(&(midnight + Duration::minutes(minute))) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => return t.with_timezone(&Utc),
            LocalResult::None => {}
        }
    }
    Utc.from_utc_datetime(&midnight)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::address::Address;
    use crate::core::service::sla::{SlaClock, Targets};
    use crate::core::service::ticket::Opening;
    use crate::core::testing::{ams, utc};
    use chrono_tz::Europe::Amsterdam;

    fn november() -> Month {
        Month::new(2026, 11).expect("month")
    }

    fn ticket(n: u32, account: Option<&str>, at: DateTime<Utc>) -> Ticket {
        let mut t = Ticket::open(
            Opening {
                reference: format!("NL-{n:06}"),
                desk: "nl",
                language: "nl",
                subject: "test",
                requester: Address::new(None, "jan@acme.example"),
                others: &[],
                message_id: &format!("{n}@acme.example"),
            },
            at,
        );
        t.account = account.map(str::to_string);
        t.plan = Some("Gold".into());
        t
    }

    /// Gold P1: respond in 15 minutes, restore in 4 hours.
    fn gold_p1(t: &mut Ticket) {
        t.priority = Priority::P1;
        t.sla = Some(SlaClock::start(
            t.created_at,
            Targets {
                first_response: Some(Duration::minutes(15)),
                restore: Some(Duration::hours(4)),
            },
        ));
    }

    fn respond(t: &mut Ticket, at: DateTime<Utc>) {
        if let Some(sla) = t.sla.as_mut() {
            sla.responded(at);
        }
    }

    fn account(id: &str, plan: &str, since: Option<&str>) -> Account {
        Account {
            id: id.into(),
            name: id.into(),
            plan: plan.into(),
            language: "en".into(),
            timezone: "Europe/Amsterdam".into(),
            domains: Vec::new(),
            contacts: Vec::new(),
            team: Default::default(),
            sites: Vec::new(),
            services: Vec::new(),
            partner: None,
            support_by: Default::default(),
            since: since.map(|s| s.parse().expect("date")),
        }
    }

    fn allowances() -> Vec<Allowance> {
        vec![
            Allowance {
                plan: "Bronze".into(),
                hours: 2.0,
                months: Some(3),
            },
            Allowance {
                plan: "Gold".into(),
                hours: 4.0,
                months: None,
            },
        ]
    }

    fn hours(
        account: &str,
        plan: Option<&str>,
        used_minutes: u64,
        used_hours: f64,
        allowance_hours: f64,
        remaining_hours: f64,
    ) -> ExpertHours {
        ExpertHours {
            account: account.into(),
            plan: plan.map(str::to_string),
            used_minutes,
            used_hours,
            allowance_hours,
            remaining_hours,
        }
    }

    fn run(tickets: &[Ticket], accounts: &[Account], account: Option<&str>) -> MonthlyReport {
        let cal = Calendar::always();
        let pairs: Vec<(&Ticket, &Calendar)> = tickets.iter().map(|t| (t, &cal)).collect();
        let scope = Scope {
            month: november(),
            tz: Amsterdam,
            account,
            as_of: utc("2026-12-05T12:00:00Z"),
        };
        monthly(&scope, &pairs, &allowances(), accounts)
    }

    #[test]
    fn months_parse_strictly_and_print_back() {
        assert_eq!(Month::parse("2026-11"), Ok(november()));
        assert_eq!(november().to_string(), "2026-11");
        assert_eq!(
            Month::parse(" 2026-01 ").map(|m| m.to_string()),
            Ok("2026-01".into())
        );
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-11",
            "2026/11",
            "2026-11-01",
            "",
            "november",
        ] {
            assert!(Month::parse(bad).is_err(), "{bad:?} accepted");
        }
        let json = serde_json::to_string(&november()).expect("json");
        assert_eq!(json, "\"2026-11\"");
        assert_eq!(serde_json::from_str::<Month>(&json).ok(), Some(november()));
    }

    #[test]
    fn month_bounds_are_local_midnights() {
        // Amsterdam is at +01:00 on both ends of November.
        assert_eq!(
            november().bounds(Amsterdam),
            (utc("2026-10-31T23:00:00Z"), utc("2026-11-30T23:00:00Z"))
        );
        // October begins in summer time (+02:00) and ends in winter time (+01:00).
        let october = Month::new(2026, 10).expect("month");
        assert_eq!(
            october.bounds(Amsterdam),
            (utc("2026-09-30T22:00:00Z"), utc("2026-10-31T23:00:00Z"))
        );
        let december = Month::new(2026, 12).expect("month");
        assert_eq!(december.bounds(Tz::UTC).1, utc("2027-01-01T00:00:00Z"));
        assert_eq!(december.last_day(), "2026-12-31".parse().ok());
    }

    #[test]
    fn a_day_whose_midnight_is_skipped_begins_when_the_clocks_jump() {
        // Santiago moves from -04:00 to -03:00 at 00:00 on Sunday 6 September 2026.
        let santiago: Tz = "America/Santiago".parse().expect("zone");
        let date: NaiveDate = "2026-09-06".parse().expect("date");
        assert_eq!(day_start(santiago, date), utc("2026-09-06T04:00:00Z"));
    }

    #[test]
    fn opened_and_resolved_count_in_local_time_and_once_per_ticket() {
        // 31 Oct 23:30 in Amsterdam is October, 1 Nov 00:10 is November; 30 Nov 23:59 too, and
        // 1 Dec 00:00 is December.
        let october_night = ticket(1, Some("acme"), ams("2026-10-31 23:30"));
        let mut november_night = ticket(2, Some("acme"), ams("2026-11-01 00:10"));
        let last_minute = ticket(3, Some("acme"), ams("2026-11-30 23:59"));
        let december = ticket(4, Some("acme"), ams("2026-12-01 00:00"));
        // Resolved, reopened and resolved again in November: one resolved ticket; then closed.
        let by = "e@provider.example";
        november_night.set_status(Status::Resolved, by, ams("2026-11-02 10:00"));
        november_night.set_status(Status::Open, by, ams("2026-11-03 10:00"));
        november_night.set_status(Status::Resolved, by, ams("2026-11-04 10:00"));
        november_night.set_status(Status::Closed, by, ams("2026-11-05 10:00"));
        // Opened in October, closed straight away in November: resolved in November.
        let mut closed = october_night.clone();
        closed.reference = "NL-000005".into();
        closed.set_status(Status::Closed, by, ams("2026-11-01 09:00"));
        let r = run(
            &[october_night, november_night, last_minute, december, closed],
            &[],
            None,
        );
        assert_eq!((r.opened, r.resolved), (2, 2));
        // Every ticket is P3 (the opening default).
        assert_eq!(r.per_priority[2].opened, 2);
        assert_eq!(r.per_priority[2].resolved, 2);
        assert_eq!(r.per_priority.len(), 4);
    }

    #[test]
    fn targets_are_met_missed_or_running() {
        let by = "e@provider.example";
        // Responded after 10 minutes, restored after 3 hours: both met.
        let mut met = ticket(1, Some("acme"), ams("2026-11-10 09:00"));
        gold_p1(&mut met);
        respond(&mut met, ams("2026-11-10 09:10"));
        met.set_status(Status::Resolved, by, ams("2026-11-10 12:00"));
        // Responded after 20 minutes, restored after 5 hours: both missed.
        let mut late = ticket(2, Some("acme"), ams("2026-11-11 09:00"));
        gold_p1(&mut late);
        respond(&mut late, ams("2026-11-11 09:20"));
        late.set_status(Status::Resolved, by, ams("2026-11-11 14:00"));
        // Pending from 10:00 to 12:00 (1 hour into the 4): restored at 14:30 is 3h30m of
        // running time, met although 5h30m passed.
        let mut paused = ticket(3, Some("acme"), ams("2026-11-12 09:00"));
        gold_p1(&mut paused);
        respond(&mut paused, ams("2026-11-12 09:05"));
        paused.set_status(Status::Pending, by, ams("2026-11-12 10:00"));
        paused.set_status(Status::Open, by, ams("2026-11-12 12:00"));
        paused.set_status(Status::Resolved, by, ams("2026-11-12 14:30"));
        // Never answered, long past due at `as_of`: missed twice.
        let mut silent = ticket(4, Some("acme"), ams("2026-11-13 09:00"));
        gold_p1(&mut silent);
        // Answered, then pending before the restore was due and still pending: running.
        let mut waiting = ticket(5, Some("acme"), ams("2026-11-14 09:00"));
        gold_p1(&mut waiting);
        respond(&mut waiting, ams("2026-11-14 09:01"));
        waiting.set_status(Status::Pending, by, ams("2026-11-14 10:00"));
        // A P1 without a restore target (Standard) counts for the response only.
        let mut standard = ticket(6, None, ams("2026-11-15 09:00"));
        standard.priority = Priority::P1;
        standard.sla = Some(SlaClock::start(
            standard.created_at,
            Targets {
                first_response: Some(Duration::hours(1)),
                restore: None,
            },
        ));
        respond(&mut standard, ams("2026-11-15 09:30"));

        let r = run(&[met, late, paused, silent, waiting, standard], &[], None);
        let p1 = &r.per_priority[0];
        assert_eq!(p1.opened, 6);
        assert_eq!(p1.resolved, 3);
        // Met: met, paused, waiting, standard; missed: late, silent.
        assert_eq!(
            p1.first_response,
            TargetCount {
                met: 4,
                missed: 2,
                running: 0
            }
        );
        // Met: met, paused; missed: late, silent; running: waiting; standard has no target.
        assert_eq!(
            p1.restore,
            TargetCount {
                met: 2,
                missed: 2,
                running: 1
            }
        );
    }

    #[test]
    fn expert_hours_count_the_month_per_account_against_the_allowance() {
        let by = "e@provider.example";
        let mut a = ticket(1, Some("acme"), ams("2026-10-20 09:00"));
        a.log_time(90, by, ams("2026-10-31 23:30")); // October in Amsterdam
        a.log_time(45, by, ams("2026-11-01 00:30"));
        a.log_time(60, by, ams("2026-11-20 10:00"));
        a.log_time(30, by, ams("2026-12-01 00:00")); // December
        let mut b = ticket(2, Some("oldbronze"), ams("2026-11-05 09:00"));
        b.plan = Some("Bronze".into());
        b.log_time(50, by, ams("2026-11-05 10:00"));
        let mut c = ticket(3, None, ams("2026-11-06 09:00"));
        c.plan = Some("Standard".into());
        c.log_time(20, by, ams("2026-11-06 10:00"));
        // Not in the directory any more: its latest ticket's plan (Gold) grants 4 hours.
        let d = {
            let mut d = ticket(4, Some("gone"), ams("2026-11-07 09:00"));
            d.log_time(15, by, ams("2026-11-07 10:00"));
            d
        };
        let accounts = [
            account("acme", "gold", Some("2026-01-15")),
            // Since 1 July, three months: July to September; November has none.
            account("oldbronze", "Bronze", Some("2026-07-01")),
            // Since 20 September: September, October, November.
            account("newbronze", "Bronze", Some("2026-09-20")),
            // Bronze without a start date: no allowance, nothing logged, not listed.
            account("nostart", "bronze", None),
        ];
        let r = run(&[a, b, c, d], &accounts, None);
        assert_eq!(
            r.expert_hours,
            vec![
                // 45 + 60 = 105 min = 1.75 h of 4: 2.25 left.
                hours("acme", Some("Gold"), 105, 1.75, 4.0, 2.25),
                hours("gone", Some("Gold"), 15, 0.25, 4.0, 3.75),
                hours("newbronze", Some("Bronze"), 0, 0.0, 2.0, 2.0),
                // 50 min = 0.83 h against nothing.
                hours("oldbronze", Some("Bronze"), 50, 0.83, 0.0, -0.83),
                hours("unassigned", None, 20, 0.33, 0.0, -0.33),
            ]
        );

        // One account: its row alone, even when nothing was logged.
        let r = run(&[], &accounts, Some("nostart"));
        assert_eq!(r.expert_hours.len(), 1);
        assert_eq!(r.expert_hours[0].account, "nostart");
        assert_eq!(r.expert_hours[0].allowance_hours, 0.0);
    }

    #[test]
    fn one_account_sees_only_its_tickets() {
        let mut mine = ticket(1, Some("acme"), ams("2026-11-10 09:00"));
        mine.log_time(30, "e@provider.example", ams("2026-11-10 10:00"));
        let mut theirs = ticket(2, Some("other"), ams("2026-11-10 09:00"));
        theirs.log_time(30, "e@provider.example", ams("2026-11-10 10:00"));
        let r = run(
            &[mine, theirs],
            &[account("acme", "Gold", None)],
            Some("acme"),
        );
        assert_eq!(r.account.as_deref(), Some("acme"));
        assert_eq!(r.opened, 1);
        assert_eq!(r.expert_hours.len(), 1);
        assert_eq!(r.expert_hours[0].used_minutes, 30);
    }
}
