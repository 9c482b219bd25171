//! The metrics and health endpoint of a running daemon, as Prometheus and a load balancer see
//! it: `/metrics` scraped while mail arrives in a real Dovecot and acknowledgements leave
//! through smtp-sink (read with a small parser of the text format, which must accept every
//! line), `/healthz`, and `/readyz` turning 503 (naming the desk) when the desk's Dovecot is
//! stopped, and 200 again once it is back.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{free_port, wait_port, Daemon, Rig, TIMEOUT};

/// One HTTP answer: status code and body.
struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

/// `GET path` on loopback `port`, HTTP/1.1 with `Connection: close`.
fn get(port: u16, path: &str) -> Reply {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the endpoint");
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read reply");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    Reply {
        status,
        content_type,
        body: body.to_string(),
    }
}

/// A scrape, parsed: each sample by name and labels.
struct Scrape {
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Scrape {
    /// The value of the sample `name` whose labels include `labels`; panics when there is none.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.find(name, labels)
            .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
    }

    fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| *v)
    }
}

/// Parses the Prometheus text format strictly: every family has `# HELP` then `# TYPE`
/// (`counter` or `gauge`, counters named `…_total`) before its samples, appears once, and
/// each sample line is `name{label="value",…} value` with the family's name.
fn parse(text: &str) -> Scrape {
    let mut samples = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut family: Option<String> = None;
    let mut helped: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let at = || format!("line {}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default().to_string();
            assert!(!seen.contains(&name), "family {name} twice, {}", at());
            assert!(rest.len() > name.len() + 1, "empty help, {}", at());
            helped = Some(name);
            family = None;
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("{}", at()));
            assert_eq!(helped.as_deref(), Some(name), "TYPE without HELP, {}", at());
            assert!(matches!(kind, "counter" | "gauge"), "type {kind}, {}", at());
            if kind == "counter" {
                assert!(name.ends_with("_total"), "counter {name}, {}", at());
            }
            seen.push(name.to_string());
            family = Some(name.to_string());
        } else {
            assert!(!line.starts_with('#') && !line.is_empty(), "{}", at());
            let name_end = line
                .find(['{', ' '])
                .unwrap_or_else(|| panic!("no value, {}", at()));
            let name = &line[..name_end];
            assert_eq!(
                family.as_deref(),
                Some(name),
                "sample outside its family, {}",
                at()
            );
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "{}",
                at()
            );
            let mut rest = &line[name_end..];
            let mut labels = BTreeMap::new();
            if let Some(inner) = rest.strip_prefix('{') {
                let (parsed, after) = parse_labels(inner).unwrap_or_else(|| panic!("{}", at()));
                labels = parsed;
                rest = after;
            }
            let value = rest
                .strip_prefix(' ')
                .and_then(|v| match v {
                    "NaN" => Some(f64::NAN),
                    "+Inf" => Some(f64::INFINITY),
                    "-Inf" => Some(f64::NEG_INFINITY),
                    v => v.parse::<f64>().ok(),
                })
                .unwrap_or_else(|| panic!("bad value, {}", at()));
            samples.push((name.to_string(), labels, value));
        }
    }
    Scrape { samples }
}

/// `label="value",…}` (after the `{`): the labels and what follows the `}`.
fn parse_labels(mut s: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    loop {
        if let Some(after) = s.strip_prefix('}') {
            return Some((labels, after));
        }
        let (name, rest) = s.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    _ => return None,
                },
                (_, c) => value.push(c),
            }
        };
        labels.insert(name.to_string(), value);
        s = &rest[end + 1..];
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

fn scrape(port: u16) -> Scrape {
    let reply = get(port, "/metrics");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.content_type.starts_with("text/plain; version=0.0.4"),
        "{}",
        reply.content_type
    );
    parse(&reply.body)
}

/// A rig whose daemon serves metrics on a free port; returns the rig, the daemon and the port.
fn started() -> (Rig, Daemon, u16) {
    let port = free_port();
    let rig = Rig::start(|c| c.set("metrics", "listen", format!("127.0.0.1:{port}")));
    let daemon = rig.gate.spawn_daemon();
    wait_port(port, TIMEOUT);
    (rig, daemon, port)
}

#[test]
fn the_scrape_parses_and_its_counters_move_as_mail_arrives_and_leaves() {
    let (rig, daemon, port) = started();
    let health = get(port, "/healthz");
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    assert_eq!(get(port, "/nothing").status, 404);

    let before = scrape(port);
    assert_eq!(
        before.value("deskgate_mails_total", &[("desk", "nl"), ("kind", "human")]),
        0.0
    );
    assert_eq!(
        before.value("deskgate_outbox_deliveries_total", &[("outcome", "sent")]),
        0.0
    );

    daemon.wait_idle("nl");
    let idle = scrape(port);
    assert_eq!(idle.value("deskgate_desk_idle", &[("desk", "nl")]), 1.0);
    assert!(
        idle.value(
            "deskgate_desk_last_fetch_success_timestamp_seconds",
            &[("desk", "nl")]
        ) > 0.0
    );

    let human = rig.mail("jane@acme.example", "Port 12 flapping on AMS1-SW3");
    rig.append_mail(&human);
    let away = rig
        .mail("joe@acme.example", "Out of office")
        .headers("Auto-Submitted: auto-replied\r\n");
    rig.append_mail(&away);

    // The human mail is acknowledged; the auto-reply is only kept.
    rig.sink.wait_for(1, TIMEOUT);
    let mut last = String::new();
    daemon.wait_until("the counters to move", TIMEOUT, || {
        let s = scrape(port);
        last = format!("{:?}", s.samples);
        s.value("deskgate_mails_fetched_total", &[("desk", "nl")]) == 2.0
            && s.value("deskgate_mails_total", &[("desk", "nl"), ("kind", "human")]) == 1.0
            && s.value(
                "deskgate_mails_total",
                &[("desk", "nl"), ("kind", "auto-reply")],
            ) == 1.0
            && s.value("deskgate_outbox_deliveries_total", &[("outcome", "sent")]) == 1.0
            && s.value("deskgate_outbox_queued", &[]) == 0.0
    });
    let s = scrape(port);
    assert_eq!(
        s.value(
            "deskgate_mails_processed_total",
            &[("desk", "nl"), ("outcome", "created")]
        ),
        1.0,
        "{last}"
    );
    assert_eq!(
        s.value(
            "deskgate_mails_total",
            &[("desk", "nl"), ("kind", "bounce")]
        ),
        0.0
    );
    assert_eq!(
        s.value("deskgate_outbox_deliveries_total", &[("outcome", "failed")]),
        0.0
    );
    assert_eq!(
        s.value("deskgate_outbox_oldest_queued_age_seconds", &[]),
        0.0
    );
    assert_eq!(
        s.value("deskgate_desk_fetch_errors_total", &[("desk", "nl")]),
        0.0
    );
    assert!(s.value("deskgate_store_size_bytes", &[]) > 0.0);
    assert_eq!(s.value("deskgate_sla_breaches_total", &[]), 0.0);

    let ready = get(port, "/readyz");
    assert_eq!((ready.status, ready.body.as_str()), (200, "ready\n"));
    daemon.stop();
}

#[test]
fn a_desk_whose_dovecot_stops_turns_readyz_red_naming_it_and_green_once_it_is_back() {
    let (mut rig, daemon, port) = started();
    daemon.wait_until("/readyz to say ready", TIMEOUT, || {
        get(port, "/readyz").status == 200
    });

    rig.dovecot.stop();
    // The desk's window is 10 s (its 1 s poll × 3, raised to the floor); then some slack.
    let mut body = String::new();
    daemon.wait_until("/readyz to fail", Duration::from_secs(40), || {
        let r = get(port, "/readyz");
        body = r.body;
        r.status == 503
    });
    assert!(body.starts_with("not ready:\n"), "{body}");
    assert!(body.contains("desk nl: no successful fetch"), "{body}");
    assert!(
        body.contains("last error:"),
        "the desk's error is named: {body}"
    );
    assert!(!body.contains("smtp"), "the SMTP server is fine: {body}");
    let s = scrape(port);
    assert!(s.value("deskgate_desk_fetch_errors_total", &[("desk", "nl")]) >= 1.0);
    assert_eq!(s.value("deskgate_desk_idle", &[("desk", "nl")]), 0.0);
    assert_eq!(get(port, "/healthz").status, 200, "alive all the same");

    rig.dovecot.restart();
    // The desk retries with a backoff of at most 60 s.
    daemon.wait_until("/readyz to recover", Duration::from_secs(90), || {
        get(port, "/readyz").status == 200
    });
    daemon.stop();
}
