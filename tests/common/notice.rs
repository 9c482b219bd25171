//! Maintenance and incident notices as their readers see them, and the deskgate that sends
//! them: [`Broadcast`] (a Maildir desk for the provider's NOC, an smtp-sink and an accounts file,
//! driven by the ops commands and `run --once --now T`) and [`Notice`] (a captured notice read
//! back: subject, text, notice key and the iCalendar event its tools read, with `parse_bcop`).
//!
//! Not part of `common`, which never uses the library: the broadcast tests include it with
//! `#[path = "common/notice.rs"] mod notice;` beside `mod common;`.

// Each broadcast test binary uses a part of it.
#![allow(dead_code)]

use crate::common::{Captured, DeskConfig, Gate, GateConfig, SmtpSink};
use deskgate::core::broadcasts::icalendar::{parse_bcop, ParsedEvent};
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::Value;
use std::collections::BTreeMap;

/// The provider's domain in the iCalendar part (`[broadcast] provider`).
pub const PROVIDER: &str = "provider.example";
/// The desk that sends the notices (From, Reply-To, ORGANIZER).
pub const DESK_ADDRESS: &str = "noc@provider.example";
pub const DESK_NAME: &str = "Provider NOC";

/// A deskgate with a Maildir desk (the provider's NOC), its own smtp-sink and an accounts file.
pub struct Broadcast {
    pub gate: Gate,
    pub sink: SmtpSink,
}

impl Broadcast {
    /// Writes an accounts file with `accounts` and a config with `extra` appended (TOML tables
    /// such as `[limits]`). Notices are not rate-limited (`per_minute = 0`): what a pass
    /// queues at T, a pass at T delivers.
    pub fn start(accounts: &str, extra: &str) -> Broadcast {
        let sink = SmtpSink::start();
        let gate = GateConfig::new()
            .smtp_port(sink.port())
            .general("timezone", "Europe/Amsterdam")
            .accounts(accounts)
            .set("broadcast", "provider", PROVIDER)
            .set("broadcast", "per_minute", 0)
            .extra(extra)
            .desk(DeskConfig::new("noc", DESK_ADDRESS).display_name(DESK_NAME))
            .start();
        Broadcast { gate, sink }
    }

    /// An ops command (`maintenance …`, `incident …`) as if it were `now`, answered in JSON.
    pub fn ops(&self, args: &[&str], now: &str) -> Value {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--json", "--now", now]);
        self.gate.json(&all)
    }

    /// One pass as if it were `now`, whose every notice was made and accepted; the mails it
    /// sent, read as notices.
    pub fn run_at(&self, now: &str) -> Vec<Notice> {
        let pass = self.gate.pass_at(&self.sink, now);
        assert_eq!(
            pass.report["broadcast"]["failed"].as_u64(),
            Some(0),
            "pass at {now}: every notice was made: {}",
            pass.report
        );
        pass.mails.iter().map(Notice::read).collect()
    }

    /// Asserts that passes at each of `times` send nothing.
    pub fn quiet_at(&self, times: &[&str]) {
        for now in times {
            let mails = self.run_at(now);
            assert!(
                mails.is_empty(),
                "nothing more is due at {now}, yet: {:#?}",
                summary(&mails)
            );
        }
    }
}

/// A captured notice as its reader sees it.
#[derive(Debug, Clone)]
pub struct Notice {
    /// The envelope recipient (one per notice).
    pub to: String,
    pub subject: String,
    /// The decoded text/plain part.
    pub text: String,
    /// The `X-Deskgate-Notice` header: the notice key.
    pub key: String,
    pub message_id: String,
    /// The `text/calendar` part: the `method` of its content type, and its event read back.
    pub calendar: Option<(String, ParsedEvent)>,
}

impl Notice {
    pub fn read(m: &Captured) -> Notice {
        assert_eq!(
            m.rcpt_to.len(),
            1,
            "one recipient per notice: {:?}",
            m.rcpt_to
        );
        let parsed = MessageParser::default()
            .parse(&m.raw[..])
            .unwrap_or_else(|| panic!("unparsable mail:\n{}", m.text()));
        let calendar = parsed
            .parts
            .iter()
            .find(|p| p.is_content_type("text", "calendar"))
            .map(|p| {
                let method = p
                    .content_type()
                    .and_then(|ct| ct.attribute("method"))
                    .unwrap_or("")
                    .to_string();
                let text = p.text_contents().expect("calendar text");
                let event = parse_bcop(text)
                    .unwrap_or_else(|e| panic!("calendar part does not read back: {e}\n{text}"));
                (method, event)
            });
        Notice {
            to: m.rcpt_to[0].clone(),
            subject: parsed.subject().unwrap_or("").to_string(),
            text: parsed
                .body_text(0)
                .map(|t| t.into_owned())
                .unwrap_or_default(),
            key: m.header("X-Deskgate-Notice").unwrap_or_default(),
            message_id: parsed.message_id().unwrap_or("").to_string(),
            calendar,
        }
    }

    /// The notice kind, from its key (`MNT-1/20261209T230000Z/announcement/0`, `INC-1/update/1`).
    pub fn kind(&self) -> &str {
        self.key.rsplit('/').nth(1).unwrap_or("")
    }

    pub fn event(&self) -> &ParsedEvent {
        &self
            .calendar
            .as_ref()
            .unwrap_or_else(|| panic!("notice to {} has no calendar part", self.to))
            .1
    }

    pub fn method(&self) -> &str {
        &self
            .calendar
            .as_ref()
            .unwrap_or_else(|| panic!("notice to {} has no calendar part", self.to))
            .0
    }
}

/// (recipient, notice key) of each notice, sorted: what a failure message shows.
pub fn summary(mails: &[Notice]) -> Vec<(String, String)> {
    let mut s: Vec<(String, String)> = mails
        .iter()
        .map(|m| (m.to.clone(), m.key.clone()))
        .collect();
    s.sort();
    s
}

/// Asserts that `mails` are exactly one notice of `kind` to each of `to`, and returns them by
/// recipient.
pub fn one_each<'a>(mails: &'a [Notice], kind: &str, to: &[&str]) -> BTreeMap<String, &'a Notice> {
    let mut want: Vec<(String, String)> = to
        .iter()
        .map(|t| (t.to_string(), kind.to_string()))
        .collect();
    want.sort();
    let mut got: Vec<(String, String)> = mails
        .iter()
        .map(|m| (m.to.clone(), m.kind().to_string()))
        .collect();
    got.sort();
    assert_eq!(got, want, "who got what: {:#?}", summary(mails));
    mails.iter().map(|m| (m.to.clone(), m)).collect()
}

pub fn utc(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("a fixed RFC 3339 instant")
        .with_timezone(&chrono::Utc)
}

/// The event fields every maintenance notice carries, checked field by field.
pub struct Expected<'a> {
    pub uid: &'a str,
    pub maintenance_id: &'a str,
    pub sequence: u32,
    pub start: &'a str,
    pub end: &'a str,
    pub summary: &'a str,
    pub account: &'a str,
    pub objects: &'a [&'a str],
    pub impact: &'a str,
    /// `X-MAINTNOTE-STATUS`, and the VEVENT's own `STATUS`.
    pub status: &'a str,
    pub event_status: &'a str,
    /// The iTIP method, in the MIME content type and the VCALENDAR alike.
    pub method: &'a str,
    /// When the notice was made (its pass's `now`).
    pub dtstamp: &'a str,
}

/// Checks a notice's calendar part against `want`. (`parse_bcop` reads only UTC times, `…Z`,
/// so DTSTART and DTEND being written in UTC is checked by reading them at all.)
pub fn check_event(n: &Notice, want: &Expected<'_>) {
    let e = n.event();
    let ctx = format!("notice {} to {}", n.key, n.to);
    assert_eq!(n.method(), want.method, "{ctx}: content-type method");
    assert_eq!(e.method.as_deref(), Some(want.method), "{ctx}: METHOD");
    assert_eq!(e.uid, want.uid, "{ctx}: UID");
    assert_eq!(e.sequence, want.sequence, "{ctx}: SEQUENCE");
    assert_eq!(e.start, utc(want.start), "{ctx}: DTSTART");
    assert_eq!(e.end, utc(want.end), "{ctx}: DTEND");
    assert_eq!(e.dtstamp, utc(want.dtstamp), "{ctx}: DTSTAMP");
    assert_eq!(e.summary, want.summary, "{ctx}: SUMMARY");
    assert_eq!(
        e.organizer.as_deref(),
        Some(format!("mailto:{DESK_ADDRESS}").as_str()),
        "{ctx}: ORGANIZER"
    );
    assert_eq!(
        e.organizer_name.as_deref(),
        Some(DESK_NAME),
        "{ctx}: ORGANIZER CN"
    );
    assert_eq!(e.provider, PROVIDER, "{ctx}: X-MAINTNOTE-PROVIDER");
    assert_eq!(e.account, want.account, "{ctx}: X-MAINTNOTE-ACCOUNT");
    assert_eq!(
        e.maintenance_id, want.maintenance_id,
        "{ctx}: X-MAINTNOTE-MAINTENANCE-ID"
    );
    assert_eq!(e.object_ids, want.objects, "{ctx}: X-MAINTNOTE-OBJECT-ID");
    assert_eq!(e.impact, want.impact, "{ctx}: X-MAINTNOTE-IMPACT");
    assert_eq!(
        e.status.as_deref(),
        Some(want.status),
        "{ctx}: X-MAINTNOTE-STATUS"
    );
    assert_eq!(
        e.event_status.as_deref(),
        Some(want.event_status),
        "{ctx}: STATUS"
    );
}

pub fn assert_contains(n: &Notice, needles: &[&str]) {
    for needle in needles {
        assert!(
            n.text.contains(needle),
            "notice {} to {}: the text has no {needle:?}:\n{}",
            n.key,
            n.to,
            n.text
        );
    }
}
