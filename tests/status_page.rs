//! The status page over real HTTP: `status_page::serve` runs in-process on a loopback port with
//! a fixed snapshot, and is read by a small raw HTTP/1.1 client (what a proxy or `curl` sees)
//! and by Debian's chromium, headless, whose screenshot must show the outage banner.
//!
//! The snapshot, at Wednesday 2026-03-04 12:00 UTC (13:00 in Paris): an open outage incident
//! with two updates (its title holds a `<script>`), an incident resolved this morning, one from
//! two days ago, a one-off maintenance under way, a tentative one next week (rescheduled once),
//! a standing window on the first Wednesday of each month at 00:00 Paris time, and a cancelled
//! one.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use common::{DeskConfig, GateConfig};
use deskgate::core::broadcasts::icalendar::parse_bcop_all;
use deskgate::core::broadcasts::maintenance::{
    Change, Impact, Maintenance, NewMaintenance, Recurrence, Schedule, Status, Window,
};
use deskgate::status_page::{
    self, Contact, IncidentItem, Lang, Snapshot, SnapshotSource, StatusPage,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;

const NOW: &str = "2026-03-04T12:00:00Z";
const SCRIPT_TITLE: &str = "Packet loss <script>alert(\"x\")</script> & jitter on AMS-IX";
/// The page's outage red (#c62828).
const OUTAGE_RED: [u8; 3] = [0xc6, 0x28, 0x28];

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test instant")
        .with_timezone(&Utc)
}

fn update(at: &str, status: &str, message: &str) -> (DateTime<Utc>, String, String) {
    (utc(at), status.to_string(), message.to_string())
}

fn one_off(
    id: &str,
    title: &str,
    impact: Impact,
    status: Status,
    window: (&str, &str),
    created: &str,
) -> Maintenance {
    Maintenance::new(
        NewMaintenance {
            id: id.to_string(),
            title: title.to_string(),
            impact,
            status,
            sites: vec!["AMS1".to_string()],
            services: vec!["transit".to_string()],
            schedule: Schedule::Once(Window::new(utc(window.0), utc(window.1)).expect("window")),
        },
        utc(created),
    )
    .expect("maintenance")
}

fn snapshot() -> Snapshot {
    let ongoing = one_off(
        "MNT-1",
        "Storage firmware upgrade",
        Impact::Degraded,
        Status::Scheduled,
        ("2026-03-04T11:00:00Z", "2026-03-04T14:00:00Z"),
        "2026-02-15T08:00:00Z",
    );
    let mut upcoming = one_off(
        "MNT-2",
        "Core router replacement",
        Impact::Outage,
        Status::Tentative,
        ("2026-03-08T22:00:00Z", "2026-03-09T02:00:00Z"),
        "2026-02-20T10:00:00Z",
    );
    let later = Window::new(utc("2026-03-09T22:00:00Z"), utc("2026-03-10T02:00:00Z")).expect("w");
    upcoming
        .update(
            vec![Change::Schedule(Schedule::Once(later))],
            utc("2026-03-01T09:00:00Z"),
        )
        .expect("reschedule");
    let mut cancelled = one_off(
        "MNT-3",
        "Cancelled cabling work",
        Impact::Outage,
        Status::Scheduled,
        ("2026-03-12T22:00:00Z", "2026-03-13T02:00:00Z"),
        "2026-02-20T10:00:00Z",
    );
    cancelled
        .cancel(utc("2026-03-02T10:00:00Z"))
        .expect("cancel");
    let rule = Recurrence::new(
        "FREQ=MONTHLY;BYDAY=1WE",
        NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
        NaiveTime::MIN,
        Duration::hours(6),
        chrono_tz::Europe::Paris,
    )
    .expect("rule");
    let standing = Maintenance::new(
        NewMaintenance {
            id: "PLAT-1".to_string(),
            title: "Platform maintenance window".to_string(),
            impact: Impact::NoImpact,
            status: Status::Scheduled,
            sites: vec![],
            services: vec!["cloud".to_string()],
            schedule: Schedule::Recurring(rule),
        },
        utc("2026-01-01T00:00:00Z"),
    )
    .expect("standing window");
    let incident = |id: &str, title: &str, impact: Impact, opened: &str| IncidentItem {
        id: id.to_string(),
        title: title.to_string(),
        impact,
        status: "investigating".to_string(),
        sites: vec!["AMS1".to_string()],
        services: vec!["transit".to_string()],
        opened: utc(opened),
        resolved: None,
        updates: vec![],
    };
    let open = IncidentItem {
        status: "identified".to_string(),
        updates: vec![
            update(
                "2026-03-04T10:05:00Z",
                "investigating",
                "We are investigating packet loss.",
            ),
            update(
                "2026-03-04T11:30:00Z",
                "identified",
                "A faulty line card was found; <b>replacing</b> it.",
            ),
        ],
        ..incident(
            "INC-1",
            SCRIPT_TITLE,
            Impact::Outage,
            "2026-03-04T10:05:00Z",
        )
    };
    let resolved = IncidentItem {
        status: "resolved".to_string(),
        resolved: Some(utc("2026-03-04T08:00:00Z")),
        updates: vec![
            update("2026-03-04T06:00:00Z", "investigating", "Slow DNS answers."),
            update("2026-03-04T08:00:00Z", "resolved", "Resolver cache fixed."),
        ],
        ..incident(
            "INC-0",
            "DNS resolution slow",
            Impact::Degraded,
            "2026-03-04T06:00:00Z",
        )
    };
    let old = IncidentItem {
        resolved: Some(utc("2026-03-02T08:00:00Z")),
        ..incident(
            "INC-OLD",
            "Old trouble",
            Impact::Outage,
            "2026-03-02T06:00:00Z",
        )
    };
    Snapshot {
        now: utc(NOW),
        maintenances: vec![standing, cancelled, upcoming, ongoing],
        incidents: vec![old, resolved, open],
    }
}

fn page() -> StatusPage {
    StatusPage {
        title: Some("Example Networks status".to_string()),
        tz: chrono_tz::Europe::Paris,
        languages: vec![Lang::En, Lang::Fr, Lang::De],
        horizon: Duration::days(30),
        provider: "example.net".to_string(),
        organizer: Some(Contact {
            name: Some("Example NOC".to_string()),
            email: "noc@example.net".to_string(),
        }),
    }
}

struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start_with(source: SnapshotSource) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(status_page::serve(listener, page(), source, stop_rx));
    Server { addr, stop, task }
}

async fn start() -> Server {
    start_with(Arc::new(|| Ok(snapshot()))).await
}

/// One HTTP response as read off the wire.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request on `stream` and reads one response: the head, then `Content-Length`
/// bytes of body (none for HEAD), so the connection can be kept for another request.
async fn exchange(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: status.example.net\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send request");
    let mut raw = Vec::new();
    let head_end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.expect("read response");
        assert!(n > 0, "connection closed inside the head: {raw:?}");
        raw.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(raw[..head_end].to_vec()).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    let status: u16 = status_line[9..12].parse().expect("status code");
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').expect("header line");
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect();
    let mut body = raw[head_end + 4..].to_vec();
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse::<usize>().expect("numeric Content-Length"));
    assert!(
        !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding")),
        "bodies are sent whole, with a length: {headers:?}"
    );
    if method != "HEAD" {
        let length = length.expect("a Content-Length");
        while body.len() < length {
            let mut chunk = [0u8; 16384];
            let n = stream.read(&mut chunk).await.expect("read body");
            assert!(n > 0, "connection closed inside the body");
            body.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(body.len(), length, "no bytes past Content-Length");
    }
    Reply {
        status,
        headers,
        body: String::from_utf8(body).expect("UTF-8 body"),
    }
}

async fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    exchange(&mut stream, method, path, headers).await
}

async fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, &[]).await
}

#[tokio::test]
async fn every_route_answers_with_its_type_uncached_and_head_matches_get() {
    let server = start().await;
    let routes = [
        ("/", "text/html; charset=utf-8"),
        ("/status.json", "application/json"),
        ("/feed.atom", "application/atom+xml"),
        ("/maintenance.ics", "text/calendar; charset=utf-8"),
    ];
    for (path, content_type) in routes {
        let got = get(server.addr, path).await;
        assert_eq!(got.status, 200, "{path}");
        assert_eq!(got.header("content-type"), Some(content_type), "{path}");
        assert_eq!(got.header("cache-control"), Some("no-cache"), "{path}");
        assert!(got.body.len() > 200, "{path}: {}", got.body);
        let head = request(server.addr, "HEAD", path, &[]).await;
        assert_eq!(head.status, 200, "HEAD {path}");
        assert_eq!(
            head.header("content-type"),
            Some(content_type),
            "HEAD {path}"
        );
        assert_eq!(
            head.header("cache-control"),
            Some("no-cache"),
            "HEAD {path}"
        );
        assert_eq!(head.body, "", "HEAD {path} has no body");
        let length = got.body.len().to_string();
        assert_eq!(
            head.header("content-length"),
            Some(length.as_str()),
            "HEAD {path}"
        );
    }
    let missing = get(server.addr, "/admin").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("cache-control"), Some("no-cache"));
    assert_eq!(get(server.addr, "/feed.atom/x").await.status, 404);
    assert_eq!(
        request(server.addr, "POST", "/", &[("Content-Length", "0")])
            .await
            .status,
        405
    );
}

#[tokio::test]
async fn the_json_gives_the_state_incidents_and_maintenance_in_utc() {
    let server = start().await;
    let got = get(server.addr, "/status.json").await;
    let v: serde_json::Value = serde_json::from_str(&got.body).expect("JSON");
    assert_eq!(v["state"], "outage");
    assert_eq!(v["generated"], "2026-03-04T12:00:00Z");
    assert_eq!(v["timezone"], "Europe/Paris");
    assert_eq!(v["title"], "Example Networks status");
    let incidents = v["incidents"].as_array().expect("incidents");
    let ids: Vec<&str> = incidents
        .iter()
        .map(|i| i["id"].as_str().unwrap_or("?"))
        .collect();
    // Open first; the incident resolved two days ago is no longer shown.
    assert_eq!(ids, ["INC-1", "INC-0"]);
    let open = &incidents[0];
    assert_eq!(open["title"], SCRIPT_TITLE);
    assert_eq!(open["impact"], "outage");
    assert_eq!(open["status"], "identified");
    assert_eq!(open["opened"], "2026-03-04T10:05:00Z");
    assert_eq!(open["resolved"], serde_json::Value::Null);
    assert_eq!(open["sites"], serde_json::json!(["AMS1"]));
    assert_eq!(open["updates"][0]["at"], "2026-03-04T10:05:00Z");
    assert_eq!(open["updates"][1]["status"], "identified");
    assert_eq!(
        open["updates"][1]["message"],
        "A faulty line card was found; <b>replacing</b> it."
    );
    assert_eq!(incidents[1]["resolved"], "2026-03-04T08:00:00Z");
    assert_eq!(incidents[1]["impact"], "degraded");

    let ongoing = v["maintenance"]["ongoing"].as_array().expect("ongoing");
    assert_eq!(ongoing.len(), 1);
    assert_eq!(ongoing[0]["id"], "MNT-1");
    assert_eq!(ongoing[0]["status"], "ongoing");
    assert_eq!(ongoing[0]["impact"], "degraded");
    assert_eq!(ongoing[0]["start"], "2026-03-04T11:00:00Z");
    assert_eq!(ongoing[0]["end"], "2026-03-04T14:00:00Z");
    let upcoming = v["maintenance"]["upcoming"].as_array().expect("upcoming");
    let shown: Vec<(String, String, String, String)> = upcoming
        .iter()
        .map(|o| {
            let s = |k: &str| o[k].as_str().unwrap_or("?").to_string();
            (s("id"), s("status"), s("start"), s("end"))
        })
        .collect();
    let row = |a: &str, b: &str, c: &str, d: &str| {
        (a.to_string(), b.to_string(), c.to_string(), d.to_string())
    };
    assert_eq!(
        shown,
        [
            row(
                "MNT-2",
                "tentative",
                "2026-03-09T22:00:00Z",
                "2026-03-10T02:00:00Z"
            ),
            // April 1, 00:00 in Paris, summer time since March 29: 22:00 UTC the day before.
            row(
                "PLAT-1-20260331T220000Z",
                "scheduled",
                "2026-03-31T22:00:00Z",
                "2026-04-01T04:00:00Z"
            ),
        ]
    );
    assert_eq!(upcoming[0]["sequence"], 1);
    assert_eq!(upcoming[1]["maintenance_id"], "PLAT-1");
    assert!(
        !got.body.contains("MNT-3"),
        "cancelled maintenance is not shown"
    );
}

#[tokio::test]
async fn the_page_shows_everything_escaped_in_the_page_zone() {
    let server = start().await;
    let got = get(server.addr, "/").await;
    let html = &got.body;
    assert!(
        html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"),
        "{html}"
    );
    assert!(
        html.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    );
    assert!(
        !html.contains("<script"),
        "no script, and no data read as markup"
    );
    assert!(
        !html.contains("<b>"),
        "an update's markup is shown, not applied"
    );
    assert!(html.contains(
        "Packet loss &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; jitter on AMS-IX"
    ));
    assert!(html.contains("&lt;b&gt;replacing&lt;/b&gt;"));
    assert!(html.contains("<header id=\"state\" class=\"outage\">"));
    assert!(html.contains("<p>Service outage</p>"));
    // Now, in Paris (winter time), and an occurrence after the change to summer time.
    assert!(html.contains("2026-03-04 13:00 UTC+01:00"), "{html}");
    assert!(html.contains("2026-04-01 00:00 UTC+02:00"), "{html}");
    assert!(html.contains("Times are shown in the Europe/Paris time zone."));
    for shown in [
        "Storage firmware upgrade",
        "Core router replacement",
        "Platform maintenance window",
        "DNS resolution slow",
        "Tentative",
        "In progress",
    ] {
        assert!(html.contains(shown), "{shown} missing");
    }
    for hidden in ["Cancelled cabling work", "Old trouble"] {
        assert!(!html.contains(hidden), "{hidden} shown");
    }
    // The resolved incident is marked so, after the open one.
    let open = html.find("id=\"incident-INC-1\"").expect("open incident");
    let resolved = html
        .find("id=\"incident-INC-0\" class=\"incident resolved\"")
        .expect("resolved");
    assert!(open < resolved);
    // Sections in order: incidents, ongoing, upcoming.
    let order: Vec<usize> = ["id=\"incidents\"", "id=\"ongoing\"", "id=\"upcoming\""]
        .iter()
        .map(|s| html.find(s).expect("section"))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
}

#[tokio::test]
async fn the_language_is_the_query_then_the_header_then_the_first() {
    let server = start().await;
    let table: [(&str, Option<&str>, &str, &str); 6] = [
        ("/", None, "en", "Service outage"),
        ("/?lang=fr", Some("de"), "fr", "Interruption de service"),
        ("/", Some("de-CH, fr;q=0.8"), "de", "Dienstausfall"),
        (
            "/",
            Some("pt-PT, fr;q=0.5, en;q=0.4"),
            "fr",
            "Interruption de service",
        ),
        // Portuguese is a desk language but not offered by this page: the header decides.
        ("/?lang=pt", Some("de"), "de", "Dienstausfall"),
        ("/?lang=xx&lang=fr", Some("nl"), "en", "Service outage"),
    ];
    for (path, accept, lang, banner) in table {
        let headers: Vec<(&str, &str)> =
            accept.map(|a| ("Accept-Language", a)).into_iter().collect();
        let got = request(server.addr, "GET", path, &headers).await;
        assert_eq!(got.status, 200);
        assert!(
            got.body.contains(&format!("<html lang=\"{lang}\">")),
            "{path} {accept:?}: expected {lang}"
        );
        assert!(
            got.body.contains(&format!("<p>{banner}</p>")),
            "{path} {accept:?}"
        );
        assert_eq!(got.header("vary"), Some("Accept-Language"));
        // Links to the other offered languages, none to itself or to one not offered.
        for other in ["en", "fr", "de"] {
            let link = format!("href=\"?lang={other}\"");
            assert_eq!(got.body.contains(&link), other != lang, "{path}: {link}");
        }
        assert!(!got.body.contains("?lang=pt\""));
    }
    let feed = request(
        server.addr,
        "GET",
        "/feed.atom",
        &[("Accept-Language", "fr")],
    )
    .await;
    assert!(feed.body.contains("xml:lang=\"fr\""));
    assert!(
        feed.body.contains("<title>Maintenance : ") || feed.body.contains("<title>Maintenance: ")
    );
}

#[tokio::test]
async fn the_atom_feed_is_well_formed_with_an_entry_per_update_and_occurrence() {
    let server = start().await;
    let got = get(server.addr, "/feed.atom").await;
    let doc = roxmltree::Document::parse(&got.body).expect("well-formed XML");
    let feed = doc.root_element();
    const ATOM: &str = "http://www.w3.org/2005/Atom";
    assert_eq!(feed.tag_name().name(), "feed");
    assert_eq!(feed.tag_name().namespace(), Some(ATOM));
    let child_text = |node: roxmltree::Node<'_, '_>, name: &str| -> String {
        node.children()
            .find(|c| c.has_tag_name((ATOM, name)))
            .and_then(|c| c.text())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(child_text(feed, "title"), "Example Networks status");
    assert_eq!(child_text(feed, "updated"), "2026-03-04T11:30:00Z");
    assert!(child_text(feed, "id").starts_with("tag:example.net,"));
    assert!(feed.children().any(|c| c.has_tag_name((ATOM, "author"))));
    let entries: Vec<(String, String, String)> = feed
        .children()
        .filter(|c| c.has_tag_name((ATOM, "entry")))
        .map(|e| {
            (
                child_text(e, "id"),
                child_text(e, "updated"),
                child_text(e, "title"),
            )
        })
        .collect();
    let ids: Vec<&str> = entries.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "tag:example.net,2026-03-04:incident/INC-1/update/2",
            "tag:example.net,2026-03-04:incident/INC-1/update/1",
            "tag:example.net,2026-03-04:incident/INC-0/update/2",
            "tag:example.net,2026-03-04:incident/INC-0/update/1",
            "tag:example.net,2026-02-20:maintenance/MNT-2",
            "tag:example.net,2026-02-15:maintenance/MNT-1",
            "tag:example.net,2026-01-01:maintenance/PLAT-1-20260331T220000Z",
        ]
    );
    let updated: Vec<&str> = entries.iter().map(|(_, u, _)| u.as_str()).collect();
    assert_eq!(
        updated,
        [
            "2026-03-04T11:30:00Z",
            "2026-03-04T10:05:00Z",
            "2026-03-04T08:00:00Z",
            "2026-03-04T06:00:00Z",
            // The reschedule is MNT-2's last revision.
            "2026-03-01T09:00:00Z",
            "2026-02-15T08:00:00Z",
            "2026-01-01T00:00:00Z",
        ]
    );
    assert_eq!(
        entries[0].2,
        format!("Incident: {SCRIPT_TITLE} — Identified")
    );
    assert_eq!(entries[4].2, "Maintenance: Core router replacement");
    // The same request later gives the same ids: they are stable.
    let again = get(server.addr, "/feed.atom").await;
    assert_eq!(again.body, got.body);
}

#[tokio::test]
async fn the_calendar_has_one_bcop_event_per_ongoing_and_upcoming_occurrence() {
    let server = start().await;
    let got = get(server.addr, "/maintenance.ics").await;
    assert!(got.body.starts_with("BEGIN:VCALENDAR\r\n"));
    assert!(!got.body.contains("METHOD:"), "a feed has no METHOD");
    let events = parse_bcop_all(&got.body).expect("BCOP events");
    // One line per event: UID, DTSTART, DTEND, impact, BCOP status, VEVENT status, SEQUENCE.
    let rows: Vec<String> = events
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {} {} {} {}",
                e.uid,
                e.start.to_rfc3339(),
                e.end.to_rfc3339(),
                e.impact,
                e.status.as_deref().unwrap_or("-"),
                e.event_status.as_deref().unwrap_or("-"),
                e.sequence,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            "MNT-1@example.net 2026-03-04T11:00:00+00:00 2026-03-04T14:00:00+00:00 \
             DEGRADED IN-PROCESS CONFIRMED 0",
            "MNT-2@example.net 2026-03-09T22:00:00+00:00 2026-03-10T02:00:00+00:00 \
             OUTAGE TENTATIVE TENTATIVE 1",
            "PLAT-1-20260331T220000Z@example.net 2026-03-31T22:00:00+00:00 \
             2026-04-01T04:00:00+00:00 NO-IMPACT CONFIRMED CONFIRMED 0",
        ]
    );
    for e in &events {
        assert_eq!(e.method, None);
        assert_eq!(e.provider, "example.net");
        assert_eq!(
            e.account, "example.net",
            "BCOP readers refuse an empty account"
        );
        assert_eq!(e.organizer.as_deref(), Some("mailto:noc@example.net"));
        assert!(!e.object_ids.is_empty(), "{}", e.uid);
    }
    assert_eq!(events[1].summary, "Core router replacement");
    assert_eq!(events[1].maintenance_id, "MNT-2");
    assert_eq!(events[1].dtstamp, utc("2026-03-01T09:00:00Z"));
    assert_eq!(events[2].maintenance_id, "PLAT-1-20260331T220000Z");
}

#[tokio::test]
async fn a_failing_snapshot_is_a_503_and_the_server_keeps_serving() {
    let server = start_with(Arc::new(|| Err("store is closed".to_string()))).await;
    for path in ["/", "/status.json"] {
        let got = get(server.addr, path).await;
        assert_eq!(got.status, 503, "{path}");
        assert!(
            !got.body.contains("store is closed"),
            "internals stay in the log"
        );
        assert_eq!(got.header("cache-control"), Some("no-cache"));
    }
    assert_eq!(get(server.addr, "/nope").await.status, 404);
}

#[tokio::test]
async fn stop_closes_idle_connections_and_returns() {
    let server = start().await;
    let mut kept = TcpStream::connect(server.addr).await.expect("connect");
    let first = exchange(&mut kept, "GET", "/status.json", &[]).await;
    assert_eq!(first.status, 200);
    // The connection stays open for another request.
    let second = exchange(&mut kept, "GET", "/status.json", &[]).await;
    assert_eq!(second.status, 200);
    server.stop.send(true).expect("the server listens for stop");
    let served = tokio::time::timeout(StdDuration::from_secs(3), server.task)
        .await
        .expect("serve returns promptly after stop")
        .expect("serve task");
    assert!(served.is_ok(), "{served:?}");
    let mut rest = Vec::new();
    let n = tokio::time::timeout(StdDuration::from_secs(1), kept.read_to_end(&mut rest))
        .await
        .expect("the kept connection is closed");
    assert_eq!(n.ok(), Some(0), "nothing more on the idle connection");
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "no longer listening"
    );
}

/// Runs Debian's chromium headless with `args` and the page's URL; killed after 20 s.
async fn chromium(profile: &Path, args: &[String], url: &str) -> std::process::Output {
    const CHROMIUM: &str = "/usr/bin/chromium";
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: apt-get install chromium fonts-dejavu-core (see .ci/run)"
    );
    let mut cmd = tokio::process::Command::new(CHROMIUM);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--no-first-run",
        "--hide-scrollbars",
        "--window-size=390,844",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(args)
    .arg(url)
    .stdin(std::process::Stdio::null())
    .kill_on_drop(true);
    tokio::time::timeout(StdDuration::from_secs(20), cmd.output())
        .await
        .expect("chromium finishes within 20 s (killed otherwise)")
        .expect("chromium runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_sized_browser_renders_the_outage_banner() {
    let server = start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("http://{}/", server.addr);
    let shot = dir.path().join("page.png");
    let (shot_profile, dom_profile) = (dir.path().join("profile-1"), dir.path().join("profile-2"));
    let shot_args = [format!("--screenshot={}", shot.display())];
    let dom_args = ["--dump-dom".to_string()];
    // Two browsers at once: one screenshots, the other prints the DOM it built.
    let (screenshot, dom) = tokio::join!(
        chromium(&shot_profile, &shot_args, &url),
        chromium(&dom_profile, &dom_args, &url)
    );
    assert!(screenshot.status.success(), "{screenshot:?}");
    assert!(dom.status.success(), "{dom:?}");

    let bytes = std::fs::read(&shot).expect("chromium wrote the screenshot");
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("buffer size")];
    let info = reader.next_frame(&mut pixels).expect("PNG frame");
    assert_eq!(info.width, 390, "rendered at the phone's width");
    let channels = info.color_type.samples();
    let at = |x: usize, y: usize| -> [u8; 3] {
        let i = y * info.line_size + x * channels;
        [pixels[i], pixels[i + 1], pixels[i + 2]]
    };
    let red = |p: [u8; 3]| p.iter().zip(OUTAGE_RED).all(|(a, b)| a.abs_diff(b) <= 4);
    // The banner spans the top of the page, edge to edge, in the outage red ...
    for (x, y) in [(2, 2), (195, 4), (387, 2), (387, 40)] {
        assert!(
            red(at(x, y)),
            "pixel ({x},{y}) is {:?}, not the outage red",
            at(x, y)
        );
    }
    // ... and ends: it is a banner, not a red page.
    let height = (0..info.height as usize)
        .take_while(|&y| red(at(387, y)))
        .count();
    assert!((50..250).contains(&height), "banner {height} px high");
    assert!(!red(at(387, height + 20)));

    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("<html lang=\"en\">"), "{dom}");
    assert!(
        dom.contains(
            "Packet loss &lt;script&gt;alert(\"x\")&lt;/script&gt; &amp; jitter on AMS-IX"
        ),
        "{dom}"
    );
    assert!(!dom.contains("<script"), "the title stayed text");
    assert!(dom.contains("Service outage"));
}

/// The daemon binary serves the page from its store: an incident opened and a maintenance
/// scheduled with the CLI (through the daemon's admin socket) are on the page at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_shows_what_ops_just_opened_and_scheduled() {
    let port = common::free_port();
    // An account at AM11: ops commands refuse a site no account lists.
    let gate = GateConfig::new()
        .set("status", "listen", format!("127.0.0.1:{port}"))
        .desk(DeskConfig::new("nl", "servicedesk.nl@example.net"))
        .accounts(
            "[[account]]\nid = \"acme\"\nname = \"Acme\"\nlanguage = \"en\"\n\
             timezone = \"Europe/Amsterdam\"\nsites = [\"AM11\"]\n",
        )
        .start();
    let daemon = gate.spawn_daemon();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
    daemon.wait_until("the status page", common::TIMEOUT, || {
        std::net::TcpStream::connect(addr).is_ok()
    });
    let cli = |args: &[&str]| {
        gate.ok(args);
    };
    cli(&[
        "incident",
        "open",
        "--title",
        "Packet loss AM11",
        "--impact",
        "outage",
        "--sites",
        "AM11",
        "--message",
        "We are investigating.",
    ]);
    // The daemon runs on the real clock: a window three days from now is upcoming.
    let start = (Utc::now() + Duration::days(3))
        .format("%Y-%m-%dT%H:%MZ")
        .to_string();
    cli(&[
        "maintenance",
        "schedule",
        "--title",
        "Core router upgrade",
        "--start",
        &start,
        "--duration",
        "6h",
        "--sites",
        "AM11",
    ]);
    // The daemon refuses what the CLI alone would: a site no account lists, a start weeks
    // ahead.
    let typo = gate
        .try_ok(&[
            "maintenance",
            "schedule",
            "--title",
            "Typo",
            "--start",
            &start,
            "--duration",
            "6h",
            "--sites",
            "AM1",
        ])
        .expect_err("an unknown site");
    assert!(
        typo.contains("unknown site \"AM1\" (did you mean AM11? known: AM11)"),
        "{typo}"
    );
    let early = gate
        .try_ok(&["maintenance", "start", "MNT-1"])
        .expect_err("three days early");
    assert!(
        early.contains("work may be marked started from 24 h"),
        "{early}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&get(addr, "/status.json").await.body).expect("JSON");
    let html = get(addr, "/").await.body;
    // SIGTERM: the daemon stops its tasks, the status page among them.
    let stopped = daemon.terminate();
    assert_eq!(json["state"], "outage", "{json}");
    assert_eq!(json["incidents"][0]["title"], "Packet loss AM11", "{json}");
    assert_eq!(
        json["incidents"][0]["updates"][0]["message"],
        "We are investigating."
    );
    assert_eq!(
        json["maintenance"]["upcoming"][0]["title"], "Core router upgrade",
        "{json}"
    );
    assert!(html.contains("Packet loss AM11"), "{html}");
    assert!(html.contains("Core router upgrade"), "{html}");
    assert!(
        stopped.success(),
        "the daemon stops cleanly on SIGTERM: {stopped:?}"
    );
}
