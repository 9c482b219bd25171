//! iCalendar text for maintenance notices, in the BCOP maintenance notification format.
//!
//! Network operators' tools (the Maintenance Notifications BCOP, draft-gunter-calext-
//! maintenance-notifications, as read by networktocode's circuit-maintenance-parser) ingest a
//! VEVENT with the standard `UID`, `SEQUENCE`, `DTSTAMP`, `DTSTART`, `DTEND`, `SUMMARY` and
//! `ORGANIZER` plus `X-MAINTNOTE-PROVIDER`, `-ACCOUNT`, `-MAINTENANCE-ID`, `-OBJECT-ID` (one
//! per object), `-IMPACT` and `-STATUS`. [`bcop_event`] writes one such event in a VCALENDAR;
//! [`parse_bcop`] reads those fields back, so tests (and, later, mail from carriers) can be
//! checked field by field.
//!
//! The text is written here rather than with the icalendar crate: the format is a dozen
//! properties, and what matters is exactly what that crate would hide, RFC 5545 content lines:
//! CRLF endings, lines folded at 75 octets without splitting a UTF-8 character, and TEXT values
//! with `\`, `;`, `,` and newlines escaped. Times are always UTC (`…Z`), so no VTIMEZONE is
//! needed; recipients show them in their own zone.
//!
//! The UID is `<occurrence id>@<provider domain>`: one per maintenance for a one-off, one per
//! occurrence for a standing window (see [`Maintenance::occurrence_id`]), the same in every
//! notice, with the maintenance's SEQUENCE, so calendars update the event in place.
//!
//! This file writes and reads the BCOP events; `content.rs` is the RFC 5545 text layer under
//! them (escaping, folding, content lines), which knows nothing of maintenance.
//!
//! Owns: the calendar form of a maintenance notice. Builds on `broadcasts::maintenance`; must not
//! import `broadcasts::incident`, `mail` or `service`.

mod content;
pub use content::{escape_text, fold, unescape_text};

use chrono::{DateTime, Utc};

use crate::core::broadcasts::maintenance::{Maintenance, Notice, NoticeKind, Status, Window};
use crate::core::str_enum::str_enum;
use content::{content_line, line, param_text, parse_utc, text_property, unfold, utc, ContentLine};

str_enum! {
    /// The iTIP method of the calendar object. The mail part's content type should say the same:
    /// `text/calendar; charset=UTF-8; method=PUBLISH` (or `CANCEL`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Method {
        Publish => "PUBLISH",
        Cancel => "CANCEL",
    }
}

impl Method {
    /// `CANCEL` for a cancellation, `PUBLISH` for every other notice.
    pub fn for_notice(kind: NoticeKind) -> Method {
        match kind {
            NoticeKind::Cancellation => Method::Cancel,
            _ => Method::Publish,
        }
    }
}

/// Who sends the notice; the BCOP parsers treat an event without ORGANIZER as incomplete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Organizer<'a> {
    /// The display name (`CN`), such as "Example NOC".
    pub name: Option<&'a str>,
    /// The address, without `mailto:`.
    pub email: &'a str,
}

/// What one event needs besides the maintenance and the occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventContext<'a> {
    /// The provider's domain (`example.net`): `X-MAINTNOTE-PROVIDER` and the UID's domain.
    pub provider: &'a str,
    /// The customer account the notice is for (`X-MAINTNOTE-ACCOUNT`).
    pub account: &'a str,
    /// The account's objects in scope (circuits, services, sites): one `X-MAINTNOTE-OBJECT-ID`
    /// each. When empty, the maintenance's own services and sites stand in.
    pub object_ids: &'a [String],
    pub organizer: Option<Organizer<'a>>,
    /// When the notice was made (`DTSTAMP`); the broadcast passes its `now`.
    pub dtstamp: DateTime<Utc>,
}

/// The UID of an occurrence's event: `<occurrence id>@<provider domain>`.
pub fn uid(m: &Maintenance, occurrence: &Window, provider: &str) -> String {
    format!("{}@{}", m.occurrence_id(occurrence), provider)
}

/// The VCALENDAR of a notice: its status and method follow from its kind.
pub fn notice_event(m: &Maintenance, notice: &Notice, cx: &EventContext<'_>) -> String {
    bcop_event(
        m,
        &notice.occurrence,
        notice.status(m),
        Method::for_notice(notice.kind),
        cx,
    )
}

/// A VCALENDAR with one BCOP VEVENT for `occurrence` of `m`, reporting `status`.
pub fn bcop_event(
    m: &Maintenance,
    occurrence: &Window,
    status: Status,
    method: Method,
    cx: &EventContext<'_>,
) -> String {
    let event = bcop_vevent(m, occurrence, status, cx);
    vcalendar(Some(method), &[event])
}

/// Wraps VEVENTs (from [`bcop_vevent`]) in a VCALENDAR; a feed passes no method.
pub fn vcalendar(method: Option<Method>, events: &[String]) -> String {
    let mut out = String::new();
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, "VERSION:2.0");
    line(&mut out, "PRODID:-//deskgate//maintenance notice//EN");
    line(&mut out, "CALSCALE:GREGORIAN");
    if let Some(method) = method {
        line(&mut out, &format!("METHOD:{}", method.as_str()));
    }
    for event in events {
        out.push_str(event);
    }
    line(&mut out, "END:VCALENDAR");
    out
}

/// One BCOP VEVENT, folded, with CRLF line ends.
pub fn bcop_vevent(
    m: &Maintenance,
    occurrence: &Window,
    status: Status,
    cx: &EventContext<'_>,
) -> String {
    let mut out = String::new();
    line(&mut out, "BEGIN:VEVENT");
    text_property(&mut out, "UID", &uid(m, occurrence, cx.provider));
    line(&mut out, &format!("SEQUENCE:{}", m.sequence()));
    line(&mut out, &format!("DTSTAMP:{}", utc(cx.dtstamp)));
    line(&mut out, &format!("DTSTART:{}", utc(occurrence.start)));
    line(&mut out, &format!("DTEND:{}", utc(occurrence.end)));
    text_property(&mut out, "SUMMARY", m.title());
    let event_status = match status {
        Status::Tentative => "TENTATIVE",
        Status::Cancelled => "CANCELLED",
        _ => "CONFIRMED",
    };
    line(&mut out, &format!("STATUS:{event_status}"));
    if let Some(organizer) = cx.organizer {
        let name = organizer
            .name
            .map(|n| format!(";CN=\"{}\"", param_text(n)))
            .unwrap_or_default();
        let email: String = organizer
            .email
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        line(&mut out, &format!("ORGANIZER{name}:mailto:{email}"));
    }
    text_property(&mut out, "X-MAINTNOTE-PROVIDER", cx.provider);
    text_property(&mut out, "X-MAINTNOTE-ACCOUNT", cx.account);
    text_property(
        &mut out,
        "X-MAINTNOTE-MAINTENANCE-ID",
        &m.occurrence_id(occurrence),
    );
    let own: Vec<String>;
    let objects = if cx.object_ids.is_empty() {
        own = m.services().iter().chain(m.sites()).cloned().collect();
        &own
    } else {
        cx.object_ids
    };
    for object in objects {
        text_property(&mut out, "X-MAINTNOTE-OBJECT-ID", object);
    }
    line(
        &mut out,
        &format!("X-MAINTNOTE-IMPACT:{}", m.impact().bcop()),
    );
    line(&mut out, &format!("X-MAINTNOTE-STATUS:{}", status.bcop()));
    line(&mut out, "END:VEVENT");
    out
}

/// The fields of one BCOP VEVENT as read back; text values unescaped, times in UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedEvent {
    /// The VCALENDAR's `METHOD`, if any.
    pub method: Option<String>,
    pub uid: String,
    /// 0 when absent, as RFC 5545 says.
    pub sequence: u32,
    pub dtstamp: DateTime<Utc>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub summary: String,
    /// The VEVENT's standard `STATUS`, if any.
    pub event_status: Option<String>,
    /// The `ORGANIZER` value as written (`mailto:…`) and its `CN`.
    pub organizer: Option<String>,
    pub organizer_name: Option<String>,
    pub provider: String,
    pub account: String,
    pub maintenance_id: String,
    pub object_ids: Vec<String>,
    pub impact: String,
    /// `X-MAINTNOTE-STATUS`, optional in the BCOP.
    pub status: Option<String>,
}

/// Reads a VCALENDAR holding exactly one VEVENT back into its BCOP fields.
pub fn parse_bcop(text: &str) -> Result<ParsedEvent, String> {
    let mut events = parse_bcop_all(text)?;
    match events.len() {
        1 => Ok(events.remove(0)),
        n => Err(format!("expected one VEVENT, found {n}")),
    }
}

/// Reads every VEVENT of a VCALENDAR (a feed) back into its BCOP fields.
pub fn parse_bcop_all(text: &str) -> Result<Vec<ParsedEvent>, String> {
    let mut method = None;
    let mut events = Vec::new();
    let mut current: Option<Vec<ContentLine>> = None;
    for raw in unfold(text) {
        if raw.trim().is_empty() {
            continue;
        }
        let cl = content_line(&raw)?;
        match (cl.name.as_str(), cl.value.to_ascii_uppercase().as_str()) {
            ("BEGIN", "VEVENT") => current = Some(Vec::new()),
            ("END", "VEVENT") => {
                let lines = current
                    .take()
                    .ok_or_else(|| "END:VEVENT without BEGIN:VEVENT".to_string())?;
                events.push(lines);
            }
            ("METHOD", _) if current.is_none() => method = Some(cl.value.clone()),
            _ => {
                if let Some(lines) = current.as_mut() {
                    lines.push(cl);
                }
            }
        }
    }
    if current.is_some() {
        return Err("VEVENT not closed by END:VEVENT".to_string());
    }
    if events.is_empty() {
        return Err("no VEVENT found".to_string());
    }
    events
        .into_iter()
        .map(|lines| event(&lines, method.clone()))
        .collect()
}

fn event(lines: &[ContentLine], method: Option<String>) -> Result<ParsedEvent, String> {
    let first = |name: &str| lines.iter().find(|l| l.name == name);
    let text = |name: &str| first(name).map(|l| unescape_text(&l.value));
    let required = |name: &str| text(name).ok_or_else(|| format!("VEVENT has no {name}"));
    let time = |name: &str| -> Result<DateTime<Utc>, String> {
        let l = first(name).ok_or_else(|| format!("VEVENT has no {name}"))?;
        parse_utc(&l.value).ok_or_else(|| {
            format!(
                "{name} {:?} is not a UTC date-time (YYYYMMDDTHHMMSSZ)",
                l.value
            )
        })
    };
    let sequence = match first("SEQUENCE") {
        Some(l) => l
            .value
            .trim()
            .parse()
            .map_err(|_| format!("SEQUENCE {:?} is not a number", l.value))?,
        None => 0,
    };
    let organizer = first("ORGANIZER");
    Ok(ParsedEvent {
        method,
        uid: required("UID")?,
        sequence,
        dtstamp: time("DTSTAMP")?,
        start: time("DTSTART")?,
        end: time("DTEND")?,
        summary: text("SUMMARY").unwrap_or_default(),
        event_status: text("STATUS"),
        organizer: organizer.map(|l| l.value.clone()),
        organizer_name: organizer.and_then(|l| {
            l.params
                .iter()
                .find(|(k, _)| k == "CN")
                .map(|(_, v)| v.clone())
        }),
        provider: required("X-MAINTNOTE-PROVIDER")?,
        account: required("X-MAINTNOTE-ACCOUNT")?,
        maintenance_id: required("X-MAINTNOTE-MAINTENANCE-ID")?,
        object_ids: lines
            .iter()
            .filter(|l| l.name == "X-MAINTNOTE-OBJECT-ID")
            .map(|l| unescape_text(&l.value))
            .collect(),
        impact: required("X-MAINTNOTE-IMPACT")?,
        status: text("X-MAINTNOTE-STATUS"),
    })
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, NaiveDate, NaiveTime};
    use proptest::prelude::*;

    use super::*;
    use crate::core::broadcasts::maintenance::{
        Change, Impact, NewMaintenance, NoticeSchedule, Recurrence, Schedule,
    };
    use crate::core::testing::utc;

    fn one_off(title: &str) -> Maintenance {
        let w =
            Window::new(utc("2026-12-01T23:00:00Z"), utc("2026-12-02T05:00:00Z")).expect("window");
        Maintenance::new(
            NewMaintenance {
                id: "MNT-42".to_string(),
                title: title.to_string(),
                impact: Impact::Outage,
                status: Status::Scheduled,
                sites: vec!["AM11".to_string()],
                services: vec!["transit".to_string()],
                schedule: Schedule::Once(w),
            },
            utc("2026-11-01T09:00:00Z"),
        )
        .expect("maintenance")
    }

    fn window(m: &Maintenance) -> Window {
        match m.schedule() {
            Schedule::Once(w) => *w,
            Schedule::Recurring(_) => panic!("a one-off was expected"),
        }
    }

    const OBJECTS: [&str; 2] = ["XC-1001", "XC-1002"];

    fn objects() -> Vec<String> {
        OBJECTS.iter().map(|s| s.to_string()).collect()
    }

    fn cx<'a>(objects: &'a [String]) -> EventContext<'a> {
        EventContext {
            provider: "example.net",
            account: "ACME-7",
            object_ids: objects,
            organizer: Some(Organizer {
                name: Some("Example NOC"),
                email: "noc@example.net",
            }),
            dtstamp: utc("2026-11-01T09:00:05Z"),
        }
    }

    #[test]
    fn a_one_off_announcement_as_written() {
        let m = one_off("Core router upgrade AM11");
        let objects = objects();
        let text = bcop_event(
            &m,
            &window(&m),
            Status::Scheduled,
            Method::Publish,
            &cx(&objects),
        );
        let expected = [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//deskgate//maintenance notice//EN",
            "CALSCALE:GREGORIAN",
            "METHOD:PUBLISH",
            "BEGIN:VEVENT",
            "UID:MNT-42@example.net",
            "SEQUENCE:0",
            "DTSTAMP:20261101T090005Z",
            "DTSTART:20261201T230000Z",
            "DTEND:20261202T050000Z",
            "SUMMARY:Core router upgrade AM11",
            "STATUS:CONFIRMED",
            "ORGANIZER;CN=\"Example NOC\":mailto:noc@example.net",
            "X-MAINTNOTE-PROVIDER:example.net",
            "X-MAINTNOTE-ACCOUNT:ACME-7",
            "X-MAINTNOTE-MAINTENANCE-ID:MNT-42",
            "X-MAINTNOTE-OBJECT-ID:XC-1001",
            "X-MAINTNOTE-OBJECT-ID:XC-1002",
            "X-MAINTNOTE-IMPACT:OUTAGE",
            "X-MAINTNOTE-STATUS:CONFIRMED",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
        .join("\r\n");
        assert_eq!(text, expected);
    }

    #[test]
    fn the_event_reads_back_field_by_field() {
        let m = one_off("Upgrade; phase 1, \\ \"core\"\nsecond line — été");
        let objects = objects();
        let text = bcop_event(
            &m,
            &window(&m),
            Status::Scheduled,
            Method::Publish,
            &cx(&objects),
        );
        let e = parse_bcop(&text).expect("parse");
        assert_eq!(e.method.as_deref(), Some("PUBLISH"));
        assert_eq!(e.uid, "MNT-42@example.net");
        assert_eq!(e.sequence, 0);
        assert_eq!(e.dtstamp, utc("2026-11-01T09:00:05Z"));
        assert_eq!(e.start, utc("2026-12-01T23:00:00Z"));
        assert_eq!(e.end, utc("2026-12-02T05:00:00Z"));
        assert_eq!(e.summary, m.title());
        assert_eq!(e.event_status.as_deref(), Some("CONFIRMED"));
        assert_eq!(e.organizer.as_deref(), Some("mailto:noc@example.net"));
        assert_eq!(e.organizer_name.as_deref(), Some("Example NOC"));
        assert_eq!(e.provider, "example.net");
        assert_eq!(e.account, "ACME-7");
        assert_eq!(e.maintenance_id, "MNT-42");
        assert_eq!(e.object_ids, OBJECTS);
        assert_eq!(Impact::from_bcop(&e.impact), Some(Impact::Outage));
        assert_eq!(
            e.status.as_deref().and_then(Status::from_bcop),
            Some(Status::Scheduled)
        );
    }

    #[test]
    fn uid_stays_and_sequence_grows_across_updates() {
        let mut m = one_off("Core router upgrade AM11");
        let objects = objects();
        let read = |m: &Maintenance, status: Status, method: Method| {
            parse_bcop(&bcop_event(m, &window(m), status, method, &cx(&objects))).expect("parse")
        };
        let first = read(&m, Status::Scheduled, Method::Publish);
        let later =
            Window::new(utc("2026-12-08T23:00:00Z"), utc("2026-12-09T05:00:00Z")).expect("window");
        let t = utc("2026-11-02T00:00:00Z");
        m.update(vec![Change::Schedule(Schedule::Once(later))], t)
            .expect("reschedule");
        let second = read(&m, Status::Scheduled, Method::Publish);
        m.cancel(t).expect("cancel");
        let third = read(&m, Status::Cancelled, Method::Cancel);
        assert_eq!([first.sequence, second.sequence, third.sequence], [0, 1, 2]);
        for e in [&second, &third] {
            assert_eq!(e.uid, first.uid);
            assert_eq!(e.maintenance_id, first.maintenance_id);
        }
        assert_eq!(second.start, later.start);
        assert_eq!(third.method.as_deref(), Some("CANCEL"));
        assert_eq!(third.event_status.as_deref(), Some("CANCELLED"));
        assert_eq!(third.status.as_deref(), Some("CANCELLED"));
    }

    #[test]
    fn each_occurrence_of_a_standing_window_is_its_own_event() {
        let r = Recurrence::new(
            "FREQ=MONTHLY;BYDAY=1WE",
            NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
            NaiveTime::MIN,
            Duration::hours(6),
            chrono_tz::Europe::Paris,
        )
        .expect("rule");
        let m = Maintenance::new(
            NewMaintenance {
                id: "PLAT-1".to_string(),
                title: "Platform maintenance".to_string(),
                impact: Impact::NoImpact,
                status: Status::Scheduled,
                sites: vec![],
                services: vec!["cloud".to_string()],
                schedule: Schedule::Recurring(r),
            },
            utc("2026-01-01T00:00:00Z"),
        )
        .expect("maintenance");
        let sched = NoticeSchedule::default();
        let due = m.notices_due(&sched, &[], utc("2026-01-01T00:00:00Z"));
        let [notice] = due.as_slice() else {
            panic!("one announcement expected: {due:?}");
        };
        // No object ids given: the maintenance's own services and sites stand in.
        let e = parse_bcop(&notice_event(&m, notice, &cx(&[]))).expect("parse");
        assert_eq!(e.uid, "PLAT-1-20260106T230000Z@example.net");
        assert_eq!(e.maintenance_id, "PLAT-1-20260106T230000Z");
        assert_eq!(e.object_ids, ["cloud"]);
        assert_eq!(e.impact, "NO-IMPACT");
        assert_eq!(e.method.as_deref(), Some("PUBLISH"));
        let next = m.occurrences(utc("2026-01-08T00:00:00Z"), utc("2026-03-01T00:00:00Z"));
        assert_eq!(
            uid(&m, &next[0], "example.net"),
            "PLAT-1-20260203T230000Z@example.net"
        );
    }

    #[test]
    fn reads_a_bcop_event_written_elsewhere() {
        // As another provider's tool writes it: LF endings, VALUE params, a folded property,
        // per-object impact, lower-case names.
        let text = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Other//EN\nBEGIN:VEVENT\n\
            SUMMARY:Fibre repair\nDTSTART;VALUE=DATE-TIME:20261010T080000Z\n\
            DTEND;VALUE=DATE-TIME:20261010T100000Z\nDTSTAMP;VALUE=DATE-TIME:20261001T001000Z\n\
            UID:77\nSEQUENCE:3\nx-maintnote-provider:carrier.example\n\
            X-MAINTNOTE-ACCOUNT:137.035\nX-MAINTNOTE-MAINTENANCE-ID:WO-31\n\
            X-MAINTNOTE-OBJECT-ID;X-MAINTNOTE-OBJECT-IMPACT=NO-IMPACT:circuit-a\n\
            X-MAINTNOTE-OBJECT-ID:circ\n uit-b\nX-MAINTNOTE-IMPACT:OUTAGE\n\
            X-MAINTNOTE-STATUS:IN-PROCESS\n\
            ORGANIZER;CN=\"Carrier NOC: nights\":mailto:noc@carrier.example\n\
            END:VEVENT\nEND:VCALENDAR\n";
        let e = parse_bcop(text).expect("parse");
        assert_eq!(e.method, None);
        assert_eq!(e.sequence, 3);
        assert_eq!(e.start, utc("2026-10-10T08:00:00Z"));
        assert_eq!(e.provider, "carrier.example");
        assert_eq!(e.object_ids, ["circuit-a", "circuit-b"]);
        assert_eq!(e.status.as_deref(), Some("IN-PROCESS"));
        assert_eq!(e.organizer_name.as_deref(), Some("Carrier NOC: nights"));
        assert_eq!(e.organizer.as_deref(), Some("mailto:noc@carrier.example"));
    }

    #[test]
    fn parse_errors_name_the_problem() {
        let m = one_off("Core router upgrade AM11");
        let objects = objects();
        let good = bcop_event(
            &m,
            &window(&m),
            Status::Scheduled,
            Method::Publish,
            &cx(&objects),
        );
        let table = [
            (good.replace("DTSTART:", "X-GONE:"), "no DTSTART"),
            (
                good.replace(
                    "DTSTART:20261201T230000Z",
                    "DTSTART;TZID=Europe/Paris:20261202T000000",
                ),
                "not a UTC date-time",
            ),
            (good.replace("SEQUENCE:0", "SEQUENCE:x"), "SEQUENCE"),
            (
                good.replace("X-MAINTNOTE-ACCOUNT:ACME-7\r\n", ""),
                "X-MAINTNOTE-ACCOUNT",
            ),
            (good.replace("END:VEVENT\r\n", ""), "not closed"),
            (
                "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n".to_string(),
                "no VEVENT",
            ),
            ("garbage".to_string(), "without ':'"),
        ];
        for (text, expected) in table {
            let err = parse_bcop(&text).expect_err(expected);
            assert!(err.contains(expected), "{expected}: {err}");
        }
        let event = bcop_vevent(&m, &window(&m), Status::Scheduled, &cx(&objects));
        let feed = vcalendar(None, &[event.clone(), event]);
        assert!(parse_bcop(&feed).expect_err("two").contains("found 2"));
        assert_eq!(parse_bcop_all(&feed).map(|v| v.len()), Ok(2));
    }

    proptest! {
        #[test]
        fn any_title_folds_within_75_octets_and_reads_back(title in "\\PC{1,300}", pad in 0usize..80) {
            let title = format!("{}{}", "p".repeat(pad), title);
            prop_assume!(!title.trim().is_empty());
            let m = one_off(&title);
            let objects = vec![format!("obj;{title}")];
            let text = bcop_event(&m, &window(&m), Status::Tentative, Method::Publish, &cx(&objects));
            prop_assert!(text.ends_with("\r\n"));
            for physical in text.split("\r\n") {
                prop_assert!(physical.len() <= 75, "{} octets", physical.len());
                prop_assert!(!physical.contains('\n') && !physical.contains('\r'));
            }
            let e = parse_bcop(&text).map_err(TestCaseError::fail)?;
            let normalised = unescape_text(&escape_text(m.title()));
            prop_assert_eq!(&e.summary, &normalised);
            prop_assert_eq!(&e.object_ids, &vec![unescape_text(&escape_text(&objects[0]))]);
            prop_assert_eq!(e.status.as_deref(), Some("TENTATIVE"));
        }

    }
}
