//! What the status page shows, decided without I/O: which incidents are current, which
//! maintenance is ongoing or upcoming, the overall state, and the reader's language.
//!
//! Everything here is a plain function of a [`Snapshot`] (with its `now`) and the page's
//! settings, so the HTML, JSON, Atom and iCalendar outputs all show the same [`Board`].

use chrono::{DateTime, Duration, Utc};

use super::{IncidentItem, Snapshot};
use crate::core::broadcasts::maintenance::{Impact, Maintenance, Schedule, Status, Window};
use crate::core::lang::Lang;

/// How long a resolved incident stays on the page, marked resolved.
pub const RESOLVED_SHOWN_FOR_HOURS: i64 = 24;

/// The banner at the top of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    Operational,
    Degraded,
    Outage,
}

impl State {
    /// The JSON value and CSS class.
    pub fn code(self) -> &'static str {
        match self {
            State::Operational => "operational",
            State::Degraded => "degraded",
            State::Outage => "outage",
        }
    }
}

/// One occurrence of a maintenance as the page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence<'a> {
    pub maintenance: &'a Maintenance,
    pub window: Window,
    /// `Ongoing` when under way; else the maintenance's `Tentative` or `Scheduled`.
    pub status: Status,
}

impl Occurrence<'_> {
    /// The occurrence's identifier for the outside world (the BCOP maintenance id).
    pub fn id(&self) -> String {
        self.maintenance.occurrence_id(&self.window)
    }
}

/// Everything one rendering shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Board<'a> {
    pub now: DateTime<Utc>,
    pub state: State,
    /// Open incidents (most recently opened first), then those resolved in the last 24 hours
    /// (most recently resolved first).
    pub incidents: Vec<&'a IncidentItem>,
    /// By start.
    pub ongoing: Vec<Occurrence<'a>>,
    /// By start, starting before `now + horizon`.
    pub upcoming: Vec<Occurrence<'a>>,
}

/// The board of `snapshot` with maintenance shown up to `horizon` ahead.
pub fn board(snapshot: &Snapshot, horizon: Duration) -> Board<'_> {
    let incidents = current_incidents(&snapshot.incidents, snapshot.now);
    let (ongoing, upcoming) = maintenance(&snapshot.maintenances, snapshot.now, horizon);
    Board {
        now: snapshot.now,
        state: overall_state(&incidents, &ongoing),
        incidents,
        ongoing,
        upcoming,
    }
}

/// Whether an incident is resolved: it has a resolution time.
pub fn is_resolved(incident: &IncidentItem) -> bool {
    incident.resolved.is_some()
}

/// Open incidents, then those resolved at most [`RESOLVED_SHOWN_FOR_HOURS`] before `now`.
pub fn current_incidents(incidents: &[IncidentItem], now: DateTime<Utc>) -> Vec<&IncidentItem> {
    let shown_since = now - Duration::hours(RESOLVED_SHOWN_FOR_HOURS);
    let mut open: Vec<&IncidentItem> = incidents.iter().filter(|i| !is_resolved(i)).collect();
    open.sort_by_key(|i| std::cmp::Reverse(i.opened));
    let mut resolved: Vec<&IncidentItem> = incidents
        .iter()
        .filter(|i| i.resolved.is_some_and(|r| r >= shown_since))
        .collect();
    resolved.sort_by_key(|i| std::cmp::Reverse(i.resolved));
    open.extend(resolved);
    open
}

/// The ongoing and the upcoming occurrences at `now`. Ongoing: an occurrence whose window
/// holds `now`, or a one-off marked ongoing (early or overrunning). Upcoming: an occurrence
/// starting after `now` and before `now + horizon`. Cancelled and completed maintenance is left
/// out, whatever its times.
pub fn maintenance(
    maintenances: &[Maintenance],
    now: DateTime<Utc>,
    horizon: Duration,
) -> (Vec<Occurrence<'_>>, Vec<Occurrence<'_>>) {
    let mut ongoing = Vec::new();
    let mut upcoming = Vec::new();
    let until = now.checked_add_signed(horizon).unwrap_or(now);
    for m in maintenances {
        match (m.status(), m.schedule()) {
            (Status::Cancelled | Status::Completed, _) => {}
            (Status::Ongoing, Schedule::Once(w)) => ongoing.push(Occurrence {
                maintenance: m,
                window: *w,
                status: Status::Ongoing,
            }),
            (planned, _) => {
                // `occurrences` lists the windows that share time with [now, until): those
                // that began are under way.
                for w in m.occurrences(now, until) {
                    let started = w.start <= now;
                    let occurrence = Occurrence {
                        maintenance: m,
                        window: w,
                        status: if started { Status::Ongoing } else { planned },
                    };
                    if started {
                        ongoing.push(occurrence);
                    } else {
                        upcoming.push(occurrence);
                    }
                }
            }
        }
    }
    let by_start = |a: &Occurrence<'_>, b: &Occurrence<'_>| {
        (a.window.start, a.maintenance.id()).cmp(&(b.window.start, b.maintenance.id()))
    };
    ongoing.sort_by(by_start);
    upcoming.sort_by(by_start);
    (ongoing, upcoming)
}

/// The banner: the worst impact among open incidents and ongoing maintenance. An outage makes
/// it "outage", a degradation "degraded"; reduced redundancy and no impact leave it operational
/// (the incident or maintenance is still listed).
pub fn overall_state(incidents: &[&IncidentItem], ongoing: &[Occurrence<'_>]) -> State {
    let state_of = |impact: Impact| match impact {
        Impact::Outage => State::Outage,
        Impact::Degraded => State::Degraded,
        Impact::ReducedRedundancy | Impact::NoImpact => State::Operational,
    };
    incidents
        .iter()
        .filter(|i| !is_resolved(i))
        .map(|i| state_of(i.impact))
        .chain(ongoing.iter().map(|o| state_of(o.maintenance.impact())))
        .max()
        .unwrap_or(State::Operational)
}

/// The reader's language: `?lang=` when the page offers it, else the best match of the
/// `Accept-Language` header (by q-value, then by order; `*` means the first offered), else the
/// first offered language.
pub fn choose_language(
    query: Option<&str>,
    accept_language: Option<&str>,
    offered: &[Lang],
) -> Lang {
    let first = offered.first().copied().unwrap_or(Lang::En);
    if let Some(l) = query.and_then(Lang::parse).filter(|l| offered.contains(l)) {
        return l;
    }
    let Some(header) = accept_language else {
        return first;
    };
    let mut best: Option<(f32, Lang)> = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or_default().trim();
        let mut q = 1.0f32;
        let mut valid = true;
        for param in parts {
            if let Some((k, v)) = param.split_once('=') {
                if k.trim().eq_ignore_ascii_case("q") {
                    match v.trim().parse::<f32>() {
                        Ok(x) if (0.0..=1.0).contains(&x) => q = x,
                        _ => valid = false,
                    }
                }
            }
        }
        let lang = if tag == "*" {
            Some(first)
        } else {
            Lang::parse(tag).filter(|l| offered.contains(l))
        };
        if let (true, Some(lang)) = (valid && q > 0.0, lang) {
            if best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
    }
    best.map(|(_, l)| l).unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, NaiveTime};

    use super::*;
    use crate::core::broadcasts::maintenance::{NewMaintenance, Recurrence};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test instant")
            .with_timezone(&Utc)
    }

    const NOW: &str = "2026-03-04T12:00:00Z";

    fn incident(id: &str, impact: Impact, opened: &str, resolved: Option<&str>) -> IncidentItem {
        IncidentItem {
            id: id.to_string(),
            title: format!("Incident {id}"),
            impact,
            status: if resolved.is_some() {
                "resolved"
            } else {
                "investigating"
            }
            .to_string(),
            sites: vec![],
            services: vec![],
            opened: utc(opened),
            resolved: resolved.map(utc),
            updates: vec![],
        }
    }

    fn one_off(id: &str, impact: Impact, from: &str, to: &str) -> Maintenance {
        let w = Window::new(utc(from), utc(to)).expect("window");
        Maintenance::new(
            NewMaintenance {
                id: id.to_string(),
                title: format!("Maintenance {id}"),
                impact,
                status: Status::Scheduled,
                sites: vec![],
                services: vec![],
                schedule: Schedule::Once(w),
            },
            utc("2026-02-01T00:00:00Z"),
        )
        .expect("maintenance")
    }

    fn monthly_first_wednesday() -> Maintenance {
        let r = Recurrence::new(
            "FREQ=MONTHLY;BYDAY=1WE",
            NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
            NaiveTime::from_hms_opt(0, 0, 0).expect("time"),
            Duration::hours(6),
            chrono_tz::Europe::Paris,
        )
        .expect("rule");
        Maintenance::new(
            NewMaintenance {
                id: "PLAT-1".to_string(),
                title: "Platform".to_string(),
                impact: Impact::NoImpact,
                status: Status::Tentative,
                sites: vec![],
                services: vec![],
                schedule: Schedule::Recurring(r),
            },
            utc("2026-01-01T00:00:00Z"),
        )
        .expect("maintenance")
    }

    fn ids(items: &[&IncidentItem]) -> Vec<String> {
        items.iter().map(|i| i.id.clone()).collect()
    }

    #[test]
    fn open_incidents_first_then_those_resolved_in_the_last_day() {
        let now = utc(NOW);
        let incidents = [
            incident("old-open", Impact::Degraded, "2026-03-01T00:00:00Z", None),
            incident("new-open", Impact::Outage, "2026-03-04T10:00:00Z", None),
            incident(
                "just-resolved",
                Impact::Outage,
                "2026-03-04T01:00:00Z",
                Some("2026-03-04T11:00:00Z"),
            ),
            incident(
                "resolved-24h-ago",
                Impact::Outage,
                "2026-03-03T00:00:00Z",
                Some("2026-03-03T12:00:00Z"),
            ),
            incident(
                "resolved-yesterday-morning",
                Impact::Outage,
                "2026-03-02T00:00:00Z",
                Some("2026-03-03T11:59:59Z"),
            ),
        ];
        assert_eq!(
            ids(&current_incidents(&incidents, now)),
            ["new-open", "old-open", "just-resolved", "resolved-24h-ago"]
        );
    }

    #[test]
    fn the_worst_open_impact_sets_the_banner() {
        let now = utc(NOW);
        let table: [(&[(Impact, bool)], State); 6] = [
            (&[], State::Operational),
            (&[(Impact::NoImpact, false)], State::Operational),
            (&[(Impact::ReducedRedundancy, false)], State::Operational),
            (
                &[(Impact::Degraded, false), (Impact::NoImpact, false)],
                State::Degraded,
            ),
            (
                &[(Impact::Degraded, false), (Impact::Outage, false)],
                State::Outage,
            ),
            // A resolved outage no longer counts.
            (
                &[(Impact::Outage, true), (Impact::Degraded, false)],
                State::Degraded,
            ),
        ];
        for (list, expected) in table {
            let incidents: Vec<IncidentItem> = list
                .iter()
                .enumerate()
                .map(|(n, (impact, resolved))| {
                    incident(
                        &n.to_string(),
                        *impact,
                        "2026-03-04T10:00:00Z",
                        resolved.then_some("2026-03-04T11:00:00Z"),
                    )
                })
                .collect();
            let current = current_incidents(&incidents, now);
            assert_eq!(overall_state(&current, &[]), expected, "{list:?}");
        }
    }

    #[test]
    fn ongoing_outage_maintenance_sets_the_banner_and_upcoming_does_not() {
        let now = utc(NOW);
        let ms = [
            one_off(
                "NOW",
                Impact::Outage,
                "2026-03-04T11:00:00Z",
                "2026-03-04T13:00:00Z",
            ),
            one_off(
                "LATER",
                Impact::Outage,
                "2026-03-05T11:00:00Z",
                "2026-03-05T13:00:00Z",
            ),
        ];
        let (ongoing, upcoming) = maintenance(&ms, now, Duration::days(30));
        assert_eq!(overall_state(&[], &ongoing), State::Outage);
        assert_eq!(upcoming.len(), 1);
        let (ongoing, upcoming) = maintenance(&ms[1..], now, Duration::days(30));
        assert_eq!((ongoing.len(), upcoming.len()), (0, 1));
        assert_eq!(overall_state(&[], &ongoing), State::Operational);
    }

    #[test]
    fn ongoing_and_upcoming_maintenance() {
        let now = utc(NOW);
        let mut started_early = one_off(
            "EARLY",
            Impact::Degraded,
            "2026-03-04T14:00:00Z",
            "2026-03-04T16:00:00Z",
        );
        started_early.start(now).expect("start");
        let mut cancelled = one_off(
            "CXL",
            Impact::Outage,
            "2026-03-10T00:00:00Z",
            "2026-03-10T02:00:00Z",
        );
        cancelled.cancel(now).expect("cancel");
        let mut completed = one_off(
            "DONE",
            Impact::Outage,
            "2026-03-04T11:00:00Z",
            "2026-03-04T13:00:00Z",
        );
        completed.complete(now).expect("complete");
        let ms = [
            one_off(
                "IN",
                Impact::Outage,
                "2026-03-04T11:00:00Z",
                "2026-03-04T13:00:00Z",
            ),
            one_off(
                "ENDED",
                Impact::Outage,
                "2026-03-04T09:00:00Z",
                "2026-03-04T12:00:00Z",
            ),
            one_off(
                "SOON",
                Impact::Outage,
                "2026-03-04T12:00:01Z",
                "2026-03-04T13:00:00Z",
            ),
            one_off(
                "FAR",
                Impact::Outage,
                "2026-04-03T12:00:00Z",
                "2026-04-03T13:00:00Z",
            ),
            one_off(
                "EDGE",
                Impact::Outage,
                "2026-04-03T11:59:59Z",
                "2026-04-03T13:00:00Z",
            ),
            started_early,
            cancelled,
            completed,
            monthly_first_wednesday(),
        ];
        let (ongoing, upcoming) = maintenance(&ms, now, Duration::days(30));
        let show = |list: &[Occurrence<'_>]| -> Vec<(String, Status)> {
            list.iter().map(|o| (o.id(), o.status)).collect()
        };
        assert_eq!(
            show(&ongoing),
            [
                ("IN".to_string(), Status::Ongoing),
                ("EARLY".to_string(), Status::Ongoing),
            ]
        );
        // The first Wednesday of April 2026 is the 1st: 00:00 in Paris is 22:00 UTC the day
        // before (summer time since March 29).
        assert_eq!(
            show(&upcoming),
            [
                ("SOON".to_string(), Status::Scheduled),
                ("PLAT-1-20260331T220000Z".to_string(), Status::Tentative),
                ("EDGE".to_string(), Status::Scheduled),
            ]
        );
    }

    #[test]
    fn an_occurrence_of_a_standing_window_under_way_is_ongoing() {
        let ms = [monthly_first_wednesday()];
        // March 4, 2026 is the first Wednesday: 00:00-06:00 Paris is 23:00Z (3rd)-05:00Z.
        let (ongoing, upcoming) = maintenance(&ms, utc("2026-03-04T01:00:00Z"), Duration::days(20));
        assert_eq!(
            ongoing
                .iter()
                .map(|o| (o.id(), o.status))
                .collect::<Vec<_>>(),
            [("PLAT-1-20260303T230000Z".to_string(), Status::Ongoing)]
        );
        assert_eq!(upcoming, []);
    }

    #[test]
    fn language_choice() {
        use Lang::*;
        let offered = [En, Fr, Nl, De];
        let table: [(Option<&str>, Option<&str>, Lang); 12] = [
            (None, None, En),
            (Some("nl"), Some("fr"), Nl),
            (Some("NL"), None, Nl),
            // Not offered or not a language: the header decides.
            (Some("pt"), Some("de"), De),
            (Some("zz"), None, En),
            (
                None,
                Some("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5"),
                Fr,
            ),
            (None, Some("pt-PT, de;q=0.4, nl;q=0.6"), Nl),
            (None, Some("en;q=0.2, de;q=0.2"), En),
            (None, Some("de;q=0, fr;q=0.1"), Fr),
            (None, Some("pl, *;q=0.1"), En),
            (None, Some("de;q=2, nl;q=abc, fr;q=0.5"), Fr),
            (None, Some(",,;;=garbage"), En),
        ];
        for (query, header, expected) in table {
            assert_eq!(
                choose_language(query, header, &offered),
                expected,
                "{query:?} {header:?}"
            );
        }
        assert_eq!(choose_language(None, Some("fr"), &[De, Fr]), Fr);
        assert_eq!(choose_language(None, None, &[De, Fr]), De);
        assert_eq!(choose_language(Some("fr"), None, &[]), En);
    }
}
