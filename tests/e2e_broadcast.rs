//! Maintenance and incident broadcasts end to end: the `deskgate` binary driven by the ops
//! commands and `run --once --now T` (a manual clock), a Maildir desk, Postfix's smtp-sink out.
//! What is asserted is what ops and a customer's NOC would check in the mails that arrived:
//! who got which notice, once, in their language and time zone, and the iCalendar part their
//! tools read (`parse_bcop`, field by field). Six scenarios: a one-off window's whole life, a
//! standing window across a daylight-saving change, a partner-managed account, an incident,
//! 10,000 recipients with the daemon killed twice, and a notice that bounces.
//!
//! Each ops command is run without a daemon (the CLI opens the store and queues the notices
//! itself); the `run --once --now` that follows delivers them. `Gate::run_at` hands out exactly
//! the mails its pass sent, so each step sees its own notices only.

mod common;

use common::{Captured, SmtpSink};
use deskgate::core::broadcasts::icalendar::{parse_bcop, ParsedEvent};
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The provider's domain in the iCalendar part (`[broadcast] provider`).
const PROVIDER: &str = "provider.example";
/// The desk that sends the notices (From, Reply-To, ORGANIZER).
const DESK_ADDRESS: &str = "noc@provider.example";
const DESK_NAME: &str = "Provider NOC";

/// A deskgate with a Maildir desk, its own smtp-sink, store, config and accounts file.
struct Gate {
    sink: SmtpSink,
    dir: tempfile::TempDir,
    config: PathBuf,
    /// Captured mails already handed out by [`Gate::run_at`].
    seen: usize,
}

impl Gate {
    /// Writes an accounts file with `accounts` and a config with `extra` appended (TOML tables
    /// such as `[limits]`). Notices are not rate-limited (`per_minute = 0`): what a pass
    /// queues at T, a pass at T delivers.
    fn start(accounts: &str, extra: &str) -> Gate {
        let sink = SmtpSink::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("deskgate.toml");
        let accounts_path = dir.path().join("accounts.toml");
        fs::write(&accounts_path, accounts).expect("write accounts");
        let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        fs::write(
            &config,
            format!(
                r#"
[store]
path = {store:?}
[smtp]
url = "smtp://127.0.0.1:{smtp}"
[general]
templates = {templates:?}
message_id_domain = "desk.example.net"
timezone = "Europe/Amsterdam"
accounts = {accounts:?}
[broadcast]
provider = "{PROVIDER}"
per_minute = 0
{extra}
[[desk]]
name = "noc"
address = "{DESK_ADDRESS}"
display_name = "{DESK_NAME}"
language = "en"
[desk.maildir]
path = {inbox:?}
"#,
                store = dir.path().join("store").display().to_string(),
                smtp = sink.port(),
                templates = templates.display().to_string(),
                accounts = accounts_path.display().to_string(),
                inbox = dir.path().join("inbox").display().to_string(),
            ),
        )
        .expect("write config");
        Gate {
            sink,
            dir,
            config,
            seen: 0,
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_deskgate"));
        c.arg("--config")
            .arg(&self.config)
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }

    /// Runs deskgate to completion (bounded) and returns its stdout; panics on failure.
    fn deskgate(&self, args: &[&str]) -> String {
        let out = common::run_with_timeout(&mut self.cmd(args), common::TIMEOUT);
        assert!(
            out.status.success(),
            "deskgate {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.deskgate(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("deskgate {args:?}: {e}:\n{out}"))
    }

    /// An ops command (`maintenance …`, `incident …`) as if it were `now`, answered in JSON.
    fn ops(&self, args: &[&str], now: &str) -> Value {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--json", "--now", now]);
        self.json(&all)
    }

    fn outbox(&self) -> Vec<Value> {
        self.json(&["outbox", "list", "--json"])
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Drops a raw mail into the desk's Maildir `new/`.
    fn deliver_to_desk(&self, name: &str, raw: &str) {
        let new = self.dir.path().join("inbox").join("new");
        fs::create_dir_all(&new).expect("maildir");
        fs::write(new.join(name), raw).expect("write mail");
    }

    /// One pass as if it were `now`; waits until the sink holds every mail the pass sent and
    /// returns those, read as notices.
    fn run_at(&mut self, now: &str) -> Vec<Notice> {
        let report = self.json(&["run", "--once", "--now", now, "--json"]);
        assert_eq!(
            (
                report["failed"].as_u64(),
                report["retrying"].as_u64(),
                report["broadcast"]["failed"].as_u64()
            ),
            (Some(0), Some(0), Some(0)),
            "pass at {now}: every notice was made and accepted: {report}"
        );
        let sent = report["sent"].as_u64().expect("sent count") as usize;
        let all = self
            .sink
            .wait_for(self.seen + sent, Duration::from_secs(10));
        assert_eq!(
            all.len(),
            self.seen + sent,
            "pass at {now}: the sink holds more mails than were sent"
        );
        let mails = all[self.seen..].iter().map(Notice::read).collect();
        self.seen = all.len();
        mails
    }

    /// Asserts that passes at each of `times` send nothing.
    fn quiet_at(&mut self, times: &[&str]) {
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
struct Notice {
    /// The envelope recipient (one per notice).
    to: String,
    subject: String,
    /// The decoded text/plain part.
    text: String,
    /// The `X-Deskgate-Notice` header: the notice key.
    key: String,
    message_id: String,
    /// The `text/calendar` part: the `method` of its content type, and its event read back.
    calendar: Option<(String, ParsedEvent)>,
}

impl Notice {
    fn read(m: &Captured) -> Notice {
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
    fn kind(&self) -> &str {
        self.key.rsplit('/').nth(1).unwrap_or("")
    }

    fn event(&self) -> &ParsedEvent {
        &self
            .calendar
            .as_ref()
            .unwrap_or_else(|| panic!("notice to {} has no calendar part", self.to))
            .1
    }

    fn method(&self) -> &str {
        &self
            .calendar
            .as_ref()
            .unwrap_or_else(|| panic!("notice to {} has no calendar part", self.to))
            .0
    }
}

/// (recipient, notice key) of each notice, sorted: what a failure message shows.
fn summary(mails: &[Notice]) -> Vec<(String, String)> {
    let mut s: Vec<(String, String)> = mails
        .iter()
        .map(|m| (m.to.clone(), m.key.clone()))
        .collect();
    s.sort();
    s
}

/// Asserts that `mails` are exactly one notice of `kind` to each of `to`, and returns them by
/// recipient.
fn one_each<'a>(mails: &'a [Notice], kind: &str, to: &[&str]) -> BTreeMap<String, &'a Notice> {
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

fn utc(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("a fixed RFC 3339 instant")
        .with_timezone(&chrono::Utc)
}

/// The event fields every maintenance notice carries, checked field by field.
struct Expected<'a> {
    uid: &'a str,
    maintenance_id: &'a str,
    sequence: u32,
    start: &'a str,
    end: &'a str,
    summary: &'a str,
    account: &'a str,
    objects: &'a [&'a str],
    impact: &'a str,
    /// `X-MAINTNOTE-STATUS`, and the VEVENT's own `STATUS`.
    status: &'a str,
    event_status: &'a str,
    /// The iTIP method, in the MIME content type and the VCALENDAR alike.
    method: &'a str,
    /// When the notice was made (its pass's `now`).
    dtstamp: &'a str,
}

/// Checks a notice's calendar part against `want`. (`parse_bcop` reads only UTC times, `…Z`,
/// so DTSTART and DTEND being written in UTC is checked by reading them at all.)
fn check_event(n: &Notice, want: &Expected<'_>) {
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

fn assert_contains(n: &Notice, needles: &[&str]) {
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

/// Four accounts at AM11 with readers in English, Dutch and French and in three zones (one
/// without anybody holding the maintenance role), and one account elsewhere.
const LIFECYCLE_ACCOUNTS: &str = r#"
[[account]]
id = "acme"
name = "Acme Hosting"
language = "en"
timezone = "Europe/Amsterdam"
sites = ["AM11"]
[[account.contact]]
address = "noc@acme.example"
name = "Acme NOC"
roles = ["technical", "maintenance"]
[[account.contact]]
address = "ops@acme.example"
name = "Acme Ops"
language = "nl"
roles = ["maintenance"]
[[account.contact]]
address = "billing@acme.example"
name = "Acme Billing"
roles = ["billing"]

[[account]]
id = "bistro"
name = "Bistro Numérique"
language = "fr"
timezone = "Europe/Paris"
sites = ["PA3", "AM11"]
services = ["colocation"]
[[account.contact]]
address = "noc@bistro.example"
name = "Bistro NOC"
roles = ["maintenance"]

[[account]]
id = "gotham"
name = "Gotham Transit"
language = "en"
timezone = "America/New_York"
sites = ["AM11"]
[[account.contact]]
address = "nyc-noc@gotham.example"
name = "Gotham NOC"
roles = ["maintenance"]

[[account]]
id = "quiet"
name = "Quiet Ltd"
language = "en"
timezone = "Europe/London"
sites = ["AM11"]
[[account.contact]]
address = "it@quiet.example"
name = "Quiet IT"
roles = ["technical"]

[[account]]
id = "lisboa"
name = "Lisboa Media"
language = "pt"
timezone = "Europe/Lisbon"
sites = ["LS1"]
[[account.contact]]
address = "suporte@lisboa.example"
name = "Suporte"
roles = ["maintenance"]
"#;

const IN_SCOPE: [&str; 4] = [
    "noc@acme.example",
    "ops@acme.example",
    "noc@bistro.example",
    "nyc-noc@gotham.example",
];

/// The account each in-scope reader's notices are about.
fn account_of(address: &str) -> &'static str {
    match address {
        "noc@acme.example" | "ops@acme.example" => "acme",
        "noc@bistro.example" => "bistro",
        "nyc-noc@gotham.example" => "gotham",
        other => panic!("{other} is not in scope"),
    }
}

#[test]
fn a_one_off_maintenance_is_told_once_per_step_in_each_readers_language_and_zone() {
    let mut g = Gate::start(LIFECYCLE_ACCOUNTS, "");
    let title = "Core router upgrade AM11";
    let schedule = [
        "maintenance",
        "schedule",
        "--title",
        title,
        "--sites",
        "AM11",
        "--start",
        "2026-12-10T00:00",
        "--end",
        "2026-12-10T04:00",
        "--tz",
        "Europe/Amsterdam",
    ];

    // The dry run lists who would be told, per account and language, and stores nothing.
    let t0 = "2026-12-01T09:00:00Z";
    let mut dry = schedule.to_vec();
    dry.push("--dry-run");
    let v = g.ops(&dry, t0);
    let audience = &v["audience"];
    let accounts: Vec<(String, Vec<(String, String)>)> = audience["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .map(|a| {
            let recipients = a["recipients"]
                .as_array()
                .expect("recipients")
                .iter()
                .map(|r| {
                    (
                        r["address"].as_str().unwrap_or("").to_string(),
                        r["language"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect();
            (a["id"].as_str().unwrap_or("").to_string(), recipients)
        })
        .collect();
    let pair = |a: &str, l: &str| (a.to_string(), l.to_string());
    assert_eq!(
        accounts,
        vec![
            (
                "acme".to_string(),
                vec![
                    pair("noc@acme.example", "en"),
                    pair("ops@acme.example", "nl")
                ]
            ),
            ("bistro".to_string(), vec![pair("noc@bistro.example", "fr")]),
            (
                "gotham".to_string(),
                vec![pair("nyc-noc@gotham.example", "en")]
            ),
            ("quiet".to_string(), vec![]),
        ],
        "the in-scope accounts and their maintenance contacts: {audience:#}"
    );
    assert_eq!(audience["recipients"], 4);
    assert_eq!(
        audience["by_language"],
        serde_json::json!({"en": 2, "fr": 1, "nl": 1})
    );
    assert!(
        g.run_at(t0).is_empty(),
        "a dry run sends nothing, even after a pass"
    );
    assert_eq!(
        g.json(&["maintenance", "list", "--json"]),
        serde_json::json!([]),
        "a dry run stores nothing"
    );

    // Scheduled: the announcement, once to each reader, in their language and zone.
    let v = g.ops(&schedule, t0);
    assert_eq!(v["id"], "MNT-1", "the dry run took no id");
    assert_eq!(v["broadcast"]["queued"], 4);
    let mails = g.run_at(t0);
    let by = one_each(&mails, "announcement", &IN_SCOPE);
    let event = |sequence, status, event_status, dtstamp, to: &str| Expected {
        uid: "MNT-1@provider.example",
        maintenance_id: "MNT-1",
        sequence,
        start: "2026-12-09T23:00:00Z",
        end: "2026-12-10T03:00:00Z",
        summary: title,
        account: account_of(to),
        objects: &["AM11"],
        impact: "OUTAGE",
        status,
        event_status,
        method: "PUBLISH",
        dtstamp,
    };
    for (to, n) in &by {
        assert!(
            n.subject.contains("MNT-1") && n.subject.contains(title),
            "{}",
            n.subject
        );
        assert_contains(n, &["2026-12-09 23:00 UTC – 2026-12-10 03:00 UTC"]);
        check_event(n, &event(0, "CONFIRMED", "CONFIRMED", t0, to));
    }
    assert!(by["noc@acme.example"]
        .subject
        .starts_with("[Maintenance MNT-1] Announcement: "));
    assert_contains(
        by["noc@acme.example"],
        &[
            "Thu 10 Dec 2026 00:00",
            "Thu 10 Dec 2026 04:00",
            "Europe/Amsterdam (CET, UTC+01:00)",
        ],
    );
    assert!(by["ops@acme.example"]
        .subject
        .starts_with("[Onderhoud MNT-1] Aankondiging: "));
    assert_contains(
        by["ops@acme.example"],
        &["do 10 dec 2026 00:00", "Europe/Amsterdam (CET, UTC+01:00)"],
    );
    assert!(by["noc@bistro.example"]
        .subject
        .starts_with("[Maintenance MNT-1] Annonce : "));
    assert_contains(
        by["noc@bistro.example"],
        &["jeu. 10 déc. 2026 00:00", "Europe/Paris (CET, UTC+01:00)"],
    );
    assert_contains(
        by["nyc-noc@gotham.example"],
        &[
            "Wed 9 Dec 2026 18:00",
            "Wed 9 Dec 2026 22:00",
            "America/New_York (EST, UTC-05:00)",
        ],
    );
    let mut message_ids: BTreeSet<String> = mails.iter().map(|m| m.message_id.clone()).collect();

    // Moved by six days: a reschedule at SEQUENCE 1, with the new times.
    let t1 = "2026-12-03T10:00:00Z";
    let v = g.ops(
        &[
            "maintenance",
            "update",
            "MNT-1",
            "--start",
            "2026-12-16T00:00",
            "--end",
            "2026-12-16T04:00",
        ],
        t1,
    );
    assert_eq!(v["sequence"], 1);
    let mails = g.run_at(t1);
    let moved = |sequence, status, event_status, dtstamp, to: &str| Expected {
        start: "2026-12-15T23:00:00Z",
        end: "2026-12-16T03:00:00Z",
        ..event(sequence, status, event_status, dtstamp, to)
    };
    for (to, n) in one_each(&mails, "reschedule", &IN_SCOPE) {
        check_event(n, &moved(1, "CONFIRMED", "CONFIRMED", t1, &to));
        assert_contains(n, &["2026-12-15 23:00 UTC – 2026-12-16 03:00 UTC"]);
    }
    let by = one_each(&mails, "reschedule", &IN_SCOPE);
    assert!(by["noc@acme.example"]
        .subject
        .starts_with("[Maintenance MNT-1] Rescheduled: "));
    assert_contains(by["noc@acme.example"], &["Wed 16 Dec 2026 00:00"]);
    message_ids.extend(mails.iter().map(|m| m.message_id.clone()));

    // The reminder opens 24 h before the new start, not before.
    g.quiet_at(&["2026-12-08T23:30:00Z", "2026-12-14T22:59:00Z"]);
    let t2 = "2026-12-14T23:00:00Z";
    let mails = g.run_at(t2);
    for (to, n) in one_each(&mails, "reminder", &IN_SCOPE) {
        check_event(n, &moved(1, "CONFIRMED", "CONFIRMED", t2, &to));
    }
    message_ids.extend(mails.iter().map(|m| m.message_id.clone()));
    g.quiet_at(&["2026-12-15T08:00:00Z"]);

    // Work starts: IN-PROCESS at SEQUENCE 2.
    let t3 = "2026-12-15T23:05:00Z";
    g.ops(&["maintenance", "start", "MNT-1"], t3);
    let mails = g.run_at(t3);
    for (to, n) in one_each(&mails, "start", &IN_SCOPE) {
        check_event(n, &moved(2, "IN-PROCESS", "CONFIRMED", t3, &to));
    }
    message_ids.extend(mails.iter().map(|m| m.message_id.clone()));

    // Work done: COMPLETED at SEQUENCE 3.
    let t4 = "2026-12-16T02:40:00Z";
    g.ops(&["maintenance", "complete", "MNT-1"], t4);
    let mails = g.run_at(t4);
    for (to, n) in one_each(&mails, "completion", &IN_SCOPE) {
        check_event(n, &moved(3, "COMPLETED", "CONFIRMED", t4, &to));
    }
    assert!(
        one_each(&mails, "completion", &IN_SCOPE)["noc@acme.example"]
            .subject
            .starts_with("[Maintenance MNT-1] Completed: ")
    );
    message_ids.extend(mails.iter().map(|m| m.message_id.clone()));
    assert_eq!(
        message_ids.len(),
        5 * 4,
        "every notice has its own Message-ID"
    );

    // Later passes send nothing more.
    g.quiet_at(&[
        "2026-12-16T03:00:00Z",
        "2026-12-17T00:00:00Z",
        "2027-01-15T00:00:00Z",
    ]);

    // A second window, announced, then cancelled: the cancellation is a CANCEL.
    let t5 = "2027-01-04T09:00:00Z";
    let v = g.ops(
        &[
            "maintenance",
            "schedule",
            "--title",
            "Power feed B works",
            "--sites",
            "AM11",
            "--impact",
            "reduced-redundancy",
            "--start",
            "2027-01-20T08:00Z",
            "--duration",
            "2h",
        ],
        t5,
    );
    assert_eq!(v["id"], "MNT-2");
    let power = |sequence, status, event_status, method, dtstamp, to: &str| Expected {
        uid: "MNT-2@provider.example",
        maintenance_id: "MNT-2",
        sequence,
        start: "2027-01-20T08:00:00Z",
        end: "2027-01-20T10:00:00Z",
        summary: "Power feed B works",
        account: account_of(to),
        objects: &["AM11"],
        impact: "REDUCED-REDUNDANCY",
        status,
        event_status,
        method,
        dtstamp,
    };
    let mails = g.run_at(t5);
    for (to, n) in one_each(&mails, "announcement", &IN_SCOPE) {
        check_event(n, &power(0, "CONFIRMED", "CONFIRMED", "PUBLISH", t5, &to));
    }
    let t6 = "2027-01-05T16:00:00Z";
    g.ops(&["maintenance", "cancel", "MNT-2"], t6);
    let mails = g.run_at(t6);
    let by = one_each(&mails, "cancellation", &IN_SCOPE);
    for (to, n) in &by {
        check_event(n, &power(1, "CANCELLED", "CANCELLED", "CANCEL", t6, to));
    }
    assert!(by["noc@acme.example"]
        .subject
        .starts_with("[Maintenance MNT-2] Cancelled: "));
    g.quiet_at(&["2027-01-19T09:00:00Z", "2027-01-20T09:00:00Z"]);
}

/// Two accounts at AM11: one reading English in Amsterdam, one French in Paris.
const TWO_ACCOUNTS: &str = r#"
[[account]]
id = "acme"
name = "Acme Hosting"
language = "en"
timezone = "Europe/Amsterdam"
sites = ["AM11"]
[[account.contact]]
address = "noc@acme.example"
name = "Acme NOC"
roles = ["maintenance"]

[[account]]
id = "bistro"
name = "Bistro Numérique"
language = "fr"
timezone = "Europe/Paris"
sites = ["AM11"]
[[account.contact]]
address = "noc@bistro.example"
name = "Bistro NOC"
roles = ["maintenance"]
"#;

#[test]
fn a_standing_window_tells_each_occurrence_across_a_daylight_saving_change() {
    let mut g = Gate::start(TWO_ACCOUNTS, "");
    let both = ["noc@acme.example", "noc@bistro.example"];
    let title = "Monthly core software rollout";
    // First Wednesday of the month, 00:00 to 06:00 Paris time, announced seven days ahead.
    let t0 = "2027-02-20T12:00:00Z";
    let v = g.ops(
        &[
            "maintenance",
            "recurring",
            "--title",
            title,
            "--sites",
            "AM11",
            "--impact",
            "degraded",
            "--rrule",
            "FREQ=MONTHLY;BYDAY=1WE",
            "--at",
            "00:00",
            "--duration",
            "6h",
            "--tz",
            "Europe/Paris",
        ],
        t0,
    );
    assert_eq!(v["id"], "MNT-1");
    assert_eq!(
        v["broadcast"]["queued"], 0,
        "nothing is announced more than 7 days ahead"
    );

    // (occurrence id, UTC start, UTC end, local zone label in Amsterdam)
    let march = (
        "MNT-1-20270302T230000Z",
        "2027-03-02T23:00:00Z",
        "2027-03-03T05:00:00Z",
        "Europe/Amsterdam (CET, UTC+01:00)",
    );
    let april = (
        "MNT-1-20270406T220000Z",
        "2027-04-06T22:00:00Z",
        "2027-04-07T04:00:00Z",
        "Europe/Amsterdam (CEST, UTC+02:00)",
    );
    let step = |g: &mut Gate,
                now: &str,
                kind: &str,
                occ: (&str, &str, &str, &str),
                sequence: u32,
                status: &str| {
        let mails = g.run_at(now);
        for (to, n) in one_each(&mails, kind, &both) {
            let uid = format!("{}@{PROVIDER}", occ.0);
            check_event(
                n,
                &Expected {
                    uid: &uid,
                    maintenance_id: occ.0,
                    sequence,
                    start: occ.1,
                    end: occ.2,
                    summary: title,
                    account: if to == "noc@acme.example" {
                        "acme"
                    } else {
                        "bistro"
                    },
                    objects: &["AM11"],
                    impact: "DEGRADED",
                    status,
                    event_status: if status == "CANCELLED" {
                        "CANCELLED"
                    } else {
                        "CONFIRMED"
                    },
                    method: if kind == "cancellation" {
                        "CANCEL"
                    } else {
                        "PUBLISH"
                    },
                    dtstamp: now,
                },
            );
            // 00:00 local on both sides of the change, whatever the UTC time.
            if to == "noc@acme.example" {
                assert_contains(n, &[" 00:00", " 06:00", occ.3, occ.0]);
            } else {
                assert_contains(n, &[" 00:00", " 06:00", occ.0]);
            }
        }
    };

    // March, in winter time: DTSTART 23:00Z the evening before.
    g.quiet_at(&["2027-02-23T22:59:00Z"]);
    step(
        &mut g,
        "2027-02-23T23:00:00Z",
        "announcement",
        march,
        0,
        "CONFIRMED",
    );
    g.quiet_at(&["2027-03-01T22:59:00Z"]);
    step(
        &mut g,
        "2027-03-01T23:00:00Z",
        "reminder",
        march,
        0,
        "CONFIRMED",
    );
    step(
        &mut g,
        "2027-03-02T23:00:00Z",
        "start",
        march,
        0,
        "IN-PROCESS",
    );
    g.quiet_at(&["2027-03-03T04:59:00Z"]);
    step(
        &mut g,
        "2027-03-03T05:00:00Z",
        "completion",
        march,
        0,
        "COMPLETED",
    );
    g.quiet_at(&["2027-03-03T09:00:00Z"]);

    // The clocks go forward on 28 March. April, in summer time: DTSTART 22:00Z.
    g.quiet_at(&["2027-03-28T12:00:00Z", "2027-03-30T21:59:00Z"]);
    step(
        &mut g,
        "2027-03-30T22:00:00Z",
        "announcement",
        april,
        0,
        "CONFIRMED",
    );
    step(
        &mut g,
        "2027-04-05T22:00:00Z",
        "reminder",
        april,
        0,
        "CONFIRMED",
    );
    step(
        &mut g,
        "2027-04-06T22:00:00Z",
        "start",
        april,
        0,
        "IN-PROCESS",
    );
    step(
        &mut g,
        "2027-04-07T04:00:00Z",
        "completion",
        april,
        0,
        "COMPLETED",
    );

    // May is announced, then skipped: its cancellation alone, as a CANCEL at SEQUENCE 1.
    let may = (
        "MNT-1-20270504T220000Z",
        "2027-05-04T22:00:00Z",
        "2027-05-05T04:00:00Z",
        "Europe/Amsterdam (CEST, UTC+02:00)",
    );
    step(
        &mut g,
        "2027-04-27T22:00:00Z",
        "announcement",
        may,
        0,
        "CONFIRMED",
    );
    let t = "2027-04-28T09:00:00Z";
    let v = g.ops(
        &[
            "maintenance",
            "update",
            "MNT-1",
            "--skip",
            "2027-05-04T22:00Z",
        ],
        t,
    );
    assert_eq!(v["sequence"], 1);
    step(&mut g, t, "cancellation", may, 1, "CANCELLED");
    // No reminder, start or completion for May; June goes ahead, at the new sequence.
    g.quiet_at(&[
        "2027-05-03T22:00:00Z",
        "2027-05-04T22:00:00Z",
        "2027-05-05T04:00:00Z",
        "2027-05-25T21:59:00Z",
    ]);
    let june = (
        "MNT-1-20270601T220000Z",
        "2027-06-01T22:00:00Z",
        "2027-06-02T04:00:00Z",
        "Europe/Amsterdam (CEST, UTC+02:00)",
    );
    step(
        &mut g,
        "2027-05-25T22:00:00Z",
        "announcement",
        june,
        1,
        "CONFIRMED",
    );
}

/// A reseller managing a bakery at AM11, and a direct customer at AM11.
const MANAGED_ACCOUNTS: &str = r#"
[[account]]
id = "reseller"
name = "Cloud Reseller Ltd"
language = "en"
timezone = "Europe/London"
services = ["resale"]
[[account.contact]]
address = "ops@reseller.example"
name = "Reseller Ops"
roles = ["technical", "maintenance"]
[[account.contact]]
address = "billing@reseller.example"
name = "Reseller Billing"
roles = ["billing"]

[[account]]
id = "boulangerie"
name = "Boulangerie Martin"
language = "fr"
timezone = "Europe/Paris"
partner = "reseller"
sites = ["AM11"]
[[account.contact]]
address = "chef@boulangerie.example"
name = "Paul Martin"
roles = ["technical", "maintenance"]

[[account]]
id = "acme"
name = "Acme Hosting"
language = "en"
timezone = "Europe/Amsterdam"
sites = ["AM11"]
[[account.contact]]
address = "noc@acme.example"
name = "Acme NOC"
roles = ["maintenance"]
"#;

#[test]
fn a_partner_is_told_for_its_customer_and_the_customer_itself_only_of_security_incidents() {
    let mut g = Gate::start(MANAGED_ACCOUNTS, "");
    let t0 = "2026-12-01T09:00:00Z";
    let schedule = [
        "maintenance",
        "schedule",
        "--title",
        "Core router upgrade AM11",
        "--sites",
        "AM11",
        "--start",
        "2026-12-10T00:00+01:00",
        "--end",
        "2026-12-10T04:00+01:00",
    ];
    let mut dry = schedule.to_vec();
    dry.push("--dry-run");
    let v = g.ops(&dry, t0);
    let bakery = v["audience"]["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .find(|a| a["id"] == "boulangerie")
        .cloned()
        .expect("the managed account is in scope");
    assert_eq!(
        bakery["recipients"],
        serde_json::json!([{
            "address": "ops@reseller.example",
            "name": "Reseller Ops",
            "language": "en",
            "timezone": "Europe/London",
            "via": "reseller",
        }]),
        "the dry run shows the partner standing in for its customer"
    );

    g.ops(&schedule, t0);
    let mails = g.run_at(t0);
    let by = one_each(
        &mails,
        "announcement",
        &["ops@reseller.example", "noc@acme.example"],
    );
    let partner = by["ops@reseller.example"];
    assert_eq!(
        partner.event().account,
        "boulangerie",
        "X-MAINTNOTE-ACCOUNT is the customer's, so the partner's tools book it there"
    );
    assert!(
        partner.subject.ends_with("– customer Boulangerie Martin"),
        "{}",
        partner.subject
    );
    assert_contains(
        partner,
        &[
            "as the partner managing the account of",
            "your customer Boulangerie Martin (boulangerie)",
            // In the partner's zone, London, not the customer's.
            "Wed 9 Dec 2026 23:00",
            "Europe/London (GMT, UTC+00:00)",
        ],
    );
    assert_eq!(by["noc@acme.example"].event().account, "acme");
    assert!(!by["noc@acme.example"].subject.contains("customer"));

    // An ordinary incident: the same audience.
    let t1 = "2026-12-05T10:00:00Z";
    g.ops(
        &[
            "incident",
            "open",
            "--title",
            "Packet loss on AM11 core",
            "--sites",
            "AM11",
            "--message",
            "We see packet loss on one core router.",
        ],
        t1,
    );
    let mails = g.run_at(t1);
    let by = one_each(
        &mails,
        "opened",
        &["ops@reseller.example", "noc@acme.example"],
    );
    assert!(by["ops@reseller.example"]
        .subject
        .ends_with("– customer Boulangerie Martin"));
    assert!(
        mails.iter().all(|m| m.calendar.is_none()),
        "an incident carries no calendar event"
    );

    // A security incident: the bakery's own contact is told as well, in French, as the account
    // holder rather than on anybody's behalf.
    let t2 = "2026-12-06T08:00:00Z";
    g.ops(
        &[
            "incident",
            "open",
            "--security",
            "--title",
            "Credential leak in the AM11 portal",
            "--sites",
            "AM11",
            "--impact",
            "no-impact",
            "--message",
            "Rotate your portal API keys.",
        ],
        t2,
    );
    let mails = g.run_at(t2);
    let by = one_each(
        &mails,
        "opened",
        &[
            "ops@reseller.example",
            "chef@boulangerie.example",
            "noc@acme.example",
        ],
    );
    assert!(by["ops@reseller.example"]
        .subject
        .ends_with("– customer Boulangerie Martin"));
    let chef = by["chef@boulangerie.example"];
    assert!(
        chef.subject.starts_with("[Incident INC-2] Ouverture : "),
        "{}",
        chef.subject
    );
    assert!(!chef.subject.contains("client"), "{}", chef.subject);
    assert_contains(chef, &["Rotate your portal API keys.", "Europe/Paris"]);
    g.quiet_at(&["2026-12-06T09:00:00Z"]);
}

/// Affected by site (AM11), affected by service (cloud-connect), and not affected.
const INCIDENT_ACCOUNTS: &str = r#"
[[account]]
id = "acme"
name = "Acme Hosting"
language = "en"
timezone = "Europe/Amsterdam"
sites = ["AM11"]
[[account.contact]]
address = "noc@acme.example"
name = "Acme NOC"
roles = ["maintenance"]
[[account.contact]]
address = "dev@acme.example"
name = "Acme Dev"
roles = ["technical"]

[[account]]
id = "nuage"
name = "Nuage SAS"
language = "fr"
timezone = "Europe/Paris"
sites = ["PA3"]
services = ["cloud-connect"]
[[account.contact]]
address = "exploitation@nuage.example"
name = "Exploitation Nuage"
roles = ["maintenance"]

[[account]]
id = "lisboa"
name = "Lisboa Media"
language = "pt"
timezone = "Europe/Lisbon"
sites = ["LS1"]
services = ["colocation"]
[[account.contact]]
address = "suporte@lisboa.example"
name = "Suporte"
roles = ["maintenance"]
"#;

#[test]
fn an_incident_is_told_to_the_affected_accounts_only_with_each_update_verbatim() {
    let mut g = Gate::start(INCIDENT_ACCOUNTS, "");
    let affected = ["noc@acme.example", "exploitation@nuage.example"];
    let title = "Packet loss on AM11 core";

    let t0 = "2026-12-05T10:00:00Z";
    let v = g.ops(
        &[
            "incident",
            "open",
            "--title",
            title,
            "--sites",
            "AM11",
            "--services",
            "cloud-connect",
            "--message",
            "We see packet loss on one of the AM11 core routers.",
        ],
        t0,
    );
    assert_eq!(v["id"], "INC-1");
    let mails = g.run_at(t0);
    let by = one_each(&mails, "opened", &affected);
    assert!(
        by["noc@acme.example"]
            .subject
            .starts_with("[Incident INC-1] Opened: Packet loss on AM11 core"),
        "{}",
        by["noc@acme.example"].subject
    );
    assert!(
        by["exploitation@nuage.example"]
            .subject
            .starts_with("[Incident INC-1] Ouverture : Packet loss on AM11 core"),
        "{}",
        by["exploitation@nuage.example"].subject
    );
    for n in by.values() {
        assert_contains(n, &["We see packet loss on one of the AM11 core routers."]);
        assert!(
            n.calendar.is_none(),
            "an incident carries no calendar event"
        );
    }
    assert_contains(by["noc@acme.example"], &["Sat 5 Dec 2026 11:00"]);

    // The update's message reaches customers exactly as ops wrote it: several lines, and
    // characters a template engine would escape in HTML.
    let update = "Cause: a faulty line card in core-rtr-2 (AM11) — replaced at 11:40.\n\
                  Traffic is back on both paths; latency < 2 ms & no loss since 11:45.";
    let t1 = "2026-12-05T10:50:00Z";
    g.ops(
        &[
            "incident",
            "update",
            "INC-1",
            "--status",
            "monitoring",
            "--message",
            update,
        ],
        t1,
    );
    let mails = g.run_at(t1);
    let by = one_each(&mails, "update", &affected);
    for n in by.values() {
        let text = n.text.replace("\r\n", "\n");
        assert!(
            text.contains(update),
            "notice to {}: the update verbatim:\n{text}",
            n.to
        );
    }
    assert!(
        by["noc@acme.example"]
            .subject
            .starts_with("[Incident INC-1] Update (monitoring): "),
        "{}",
        by["noc@acme.example"].subject
    );

    let resolution =
        "Resolved: the line card was replaced and traffic has been stable for an hour.";
    let t2 = "2026-12-05T12:00:00Z";
    g.ops(
        &["incident", "resolve", "INC-1", "--message", resolution],
        t2,
    );
    let mails = g.run_at(t2);
    let by = one_each(&mails, "resolved", &affected);
    for n in by.values() {
        assert_contains(n, &[resolution]);
    }
    assert!(by["noc@acme.example"]
        .subject
        .starts_with("[Incident INC-1] Resolved: "));
    assert_contains(by["noc@acme.example"], &["Sat 5 Dec 2026 13:00"]);

    // Nothing more, ever; and the CLI shows each step told to the two affected recipients.
    g.quiet_at(&["2026-12-05T13:00:00Z", "2026-12-12T00:00:00Z"]);
    let v = g.json(&["incident", "show", "INC-1", "--json"]);
    let mut notices: Vec<(String, u64)> = v["notices"]
        .as_array()
        .expect("notices")
        .iter()
        .map(|n| {
            (
                n["kind"].as_str().unwrap_or("").to_string(),
                n["queued"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    notices.sort();
    assert_eq!(
        notices,
        vec![
            ("opened".to_string(), 2),
            ("resolved".to_string(), 2),
            ("update".to_string(), 2)
        ],
        "{v:#}"
    );
}

/// One account whose second maintenance contact has left: their mailbox is gone.
const BOUNCING_ACCOUNT: &str = r#"
[[account]]
id = "acme"
name = "Acme Hosting"
language = "en"
timezone = "Europe/Amsterdam"
sites = ["AM11"]
[[account.contact]]
address = "noc@acme.example"
name = "Acme NOC"
roles = ["maintenance"]
[[account.contact]]
address = "gone@acme.example"
name = "Former Engineer"
roles = ["maintenance"]
"#;

/// The DSN Acme's mail server sends back when `notice` cannot be delivered to `rcpt`: it names
/// the notice by the Message-ID in its returned headers (no VERP).
fn dsn(n: usize, rcpt: &str, notice: &Notice) -> String {
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.acme.example>\r\n\
         To: {DESK_ADDRESS}\r\n\
         Subject: Undelivered Mail Returned to Sender\r\n\
         Message-ID: <dsn-{n}@mx.acme.example>\r\n\
         Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\r\n\
         \r\n\
         --r\r\n\
         Content-Type: text/plain\r\n\
         \r\n\
         Your message could not be delivered: the mailbox does not exist.\r\n\
         --r\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; mx.acme.example\r\n\
         \r\n\
         Final-Recipient: rfc822; {rcpt}\r\n\
         Action: failed\r\n\
         Status: 5.1.1\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: user unknown\r\n\
         \r\n\
         --r\r\n\
         Content-Type: text/rfc822-headers\r\n\
         \r\n\
         From: {DESK_NAME} <{DESK_ADDRESS}>\r\n\
         To: {rcpt}\r\n\
         Message-ID: <{mid}>\r\n\
         Subject: {subject}\r\n\
         \r\n\
         --r--\r\n",
        mid = notice.message_id,
        subject = notice.subject,
    )
}

#[test]
fn a_bouncing_address_is_flagged_and_its_next_notice_held() {
    // Flagged after two hard bounces.
    let mut g = Gate::start(BOUNCING_ACCOUNT, "[limits]\nflag_after_hard_bounces = 2\n");
    let both = ["noc@acme.example", "gone@acme.example"];
    let entry = |g: &Gate, message_id: &str| -> Value {
        g.outbox()
            .into_iter()
            .find(|e| e["message_id"] == message_id)
            .unwrap_or_else(|| panic!("no outbox entry for {message_id}"))
    };

    let t0 = "2026-12-01T09:00:00Z";
    g.ops(
        &[
            "maintenance",
            "schedule",
            "--title",
            "Core router upgrade AM11",
            "--sites",
            "AM11",
            "--start",
            "2026-12-10T00:00",
            "--end",
            "2026-12-10T04:00",
        ],
        t0,
    );
    let mails = g.run_at(t0);
    let announcement = one_each(&mails, "announcement", &both)["gone@acme.example"].clone();

    // The announcement bounces: its entry is failed, and the bouncer is not answered.
    g.deliver_to_desk(
        "1796115600.dsn1.mx",
        &dsn(1, "gone@acme.example", &announcement),
    );
    let t1 = "2026-12-01T10:00:00Z";
    let mails = g.run_at(t1);
    assert!(
        mails.is_empty(),
        "nothing is sent back to a bounce: {:#?}",
        summary(&mails)
    );
    let e = entry(&g, &announcement.message_id);
    assert_eq!(e["state"], "failed", "{e:#}");
    assert!(
        e["last_error"].as_str().unwrap_or("").contains("5.1.1"),
        "{e:#}"
    );

    // Rescheduled; that notice bounces too: the second hard bounce flags the address.
    let t2 = "2026-12-02T09:00:00Z";
    g.ops(
        &[
            "maintenance",
            "update",
            "MNT-1",
            "--start",
            "2026-12-11T00:00",
            "--end",
            "2026-12-11T04:00",
        ],
        t2,
    );
    let mails = g.run_at(t2);
    let reschedule = one_each(&mails, "reschedule", &both)["gone@acme.example"].clone();
    g.deliver_to_desk(
        "1796202000.dsn2.mx",
        &dsn(2, "gone@acme.example", &reschedule),
    );
    let mails = g.run_at("2026-12-02T10:00:00Z");
    assert!(mails.is_empty(), "{:#?}", summary(&mails));
    assert_eq!(entry(&g, &reschedule.message_id)["state"], "failed");

    // The reminder goes to the working address only; the flagged one's is held, visibly.
    let t3 = "2026-12-09T23:00:00Z";
    let mails = g.run_at(t3);
    one_each(&mails, "reminder", &["noc@acme.example"]);
    let reminders: Vec<Value> = g
        .outbox()
        .into_iter()
        .filter(|e| {
            e["kind"] == "maintenance" && e["subject"].as_str().unwrap_or("").contains("Reminder")
        })
        .collect();
    let held: Vec<&Value> = reminders.iter().filter(|e| e["state"] == "held").collect();
    assert_eq!(held.len(), 1, "{reminders:#?}");
    assert_eq!(held[0]["to"], serde_json::json!(["gone@acme.example"]));
    assert!(
        held[0]["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("gone@acme.example is flagged after 2 hard bounces"),
        "{:#}",
        held[0]
    );
    let v = g.json(&["maintenance", "show", "MNT-1", "--json"]);
    let reminder = v["notices"]
        .as_array()
        .expect("notices")
        .iter()
        .find(|n| n["kind"] == "reminder")
        .cloned()
        .expect("the reminder's record");
    assert_eq!(
        (reminder["queued"].as_u64(), reminder["held"].as_u64()),
        (Some(1), Some(1))
    );

    // Held means never sent, whatever passes follow.
    g.quiet_at(&["2026-12-10T01:00:00Z"]);
    let everyone: BTreeSet<String> = g
        .sink
        .messages()
        .iter()
        .flat_map(|m| m.rcpt_to.clone())
        .collect();
    assert_eq!(
        everyone,
        both.iter().map(|s| s.to_string()).collect(),
        "only the maintenance contacts ever got mail; never the bouncer"
    );
}

/// `accounts` accounts at AM11 with four maintenance contacts each, in four languages and
/// four zones.
fn many_accounts(accounts: usize) -> String {
    let languages = ["en", "fr", "nl", "de"];
    let zones = [
        "Europe/Amsterdam",
        "Europe/Paris",
        "America/New_York",
        "Asia/Tokyo",
    ];
    let mut out = String::new();
    for a in 0..accounts {
        out.push_str(&format!(
            "[[account]]\nid = \"c{a:05}\"\nname = \"Customer {a}\"\nlanguage = \"{}\"\n\
             timezone = \"{}\"\nsites = [\"AM11\"]\n",
            languages[a % 4],
            zones[a % 4]
        ));
        for c in 0..4 {
            out.push_str(&format!(
                "[[account.contact]]\naddress = \"noc{c}@c{a:05}.example\"\nname = \"NOC {c}\"\n\
                 roles = [\"maintenance\"]\n"
            ));
        }
    }
    out
}

/// The daemon's runs, with their stderr in one log.
impl Gate {
    fn log_path(&self) -> PathBuf {
        self.dir.path().join("daemon.log")
    }

    /// Starts `deskgate run`, its stderr appended to `daemon.log` after a line naming the run.
    fn spawn_daemon(&self, run: u32) -> Child {
        use std::io::Write;
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open daemon.log");
        writeln!(log, "===== test: daemon run #{run}").expect("log");
        self.cmd(&["run"])
            .env("DESKGATE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn the daemon")
    }

    fn daemon_log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Waits until `what` holds, checking every 20 ms; panics with the log's tail after
    /// `timeout` or when the daemon exits on its own.
    fn wait_until(
        &self,
        daemon: &mut Child,
        timeout: Duration,
        what: &str,
        mut done: impl FnMut() -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        while !done() {
            if let Some(status) = daemon.try_wait().expect("try_wait") {
                panic!(
                    "the daemon exited ({status}) while waiting for {what}\n{}",
                    common::tail(&self.log_path(), 40)
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "{what}: not within {timeout:?}\n{}",
                    common::tail(&self.log_path(), 40)
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Mails in the sink so far (a transaction in progress included): a cheap count.
    fn sink_count(&self) -> usize {
        fs::read_dir(self.sink.dump_dir())
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// The broadcast record of maintenance `id`'s only notice, as `maintenance show` has it
    /// (run without a daemon: the store is free).
    fn only_notice(&self, id: &str) -> Value {
        let v = self.json(&["maintenance", "show", id, "--json"]);
        let notices = v["notices"].as_array().cloned().unwrap_or_default();
        assert_eq!(notices.len(), 1, "one notice begun: {:#}", v["notices"]);
        notices[0].clone()
    }
}

/// How many SMTP transactions a killed daemon may have had in flight (`[outbox]
/// max_in_flight`, 1 by default): each may be sent again after a restart, with the same bytes
/// and Message-ID, since the server had accepted it before the outcome was made durable.
const MAX_IN_FLIGHT: usize = 1;

/// How long delivering the 10,000 may take: the whole test takes about 20 s on 2 cores (debug
/// build); the margin is for a loaded CI machine.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn ten_thousand_recipients_get_a_notice_once_through_two_sigkills() {
    const ACCOUNTS: usize = 2_500;
    const RECIPIENTS: usize = ACCOUNTS * 4;
    let began = Instant::now();
    let g = Gate::start(&many_accounts(ACCOUNTS), "");
    let mut daemon = g.spawn_daemon(1);
    let socket = g.dir.path().join("store.sock");
    g.wait_until(
        &mut daemon,
        Duration::from_secs(20),
        "the admin socket",
        || std::os::unix::net::UnixStream::connect(&socket).is_ok(),
    );

    // Ops schedule a window a month ahead; the daemon queues the announcement to everybody.
    let start = (chrono::Utc::now() + chrono::Duration::days(30))
        .format("%Y-%m-%dT00:00")
        .to_string();
    let mut ops = g
        .cmd(&[
            "maintenance",
            "schedule",
            "--json",
            "--title",
            "Core router replacement AM11",
            "--sites",
            "AM11",
            "--start",
            &start,
            "--duration",
            "4h",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the ops command");

    // SIGKILL while it queues: after its first batch is durable, before the last is.
    g.wait_until(
        &mut daemon,
        Duration::from_secs(30),
        "the first batch of notices queued",
        || g.daemon_log().contains("notice batch queued"),
    );
    daemon.kill().expect("SIGKILL the daemon");
    daemon.wait().expect("reap the daemon");
    let queueing = began.elapsed();
    let _ = ops.wait();
    // The delivery task is woken after each flushed batch, so a few notices of the first batch
    // may already be in the sink: the count at the end says whether any went twice.
    let record = g.only_notice("MNT-1");
    let queued = record["queued"].as_u64().unwrap_or(0) as usize;
    assert!(
        record["done"].is_null() && queued > 0 && queued < RECIPIENTS,
        "the kill interrupted the queueing: {record:#}"
    );

    // Restarted: it finishes the queueing (the recipients without an entry only) and delivers;
    // SIGKILL again when about half the notices are in the sink.
    let mut daemon = g.spawn_daemon(2);
    g.wait_until(
        &mut daemon,
        DELIVERY_TIMEOUT,
        "half of the notices delivered",
        || g.sink_count() >= RECIPIENTS / 2,
    );
    daemon.kill().expect("SIGKILL the daemon");
    daemon.wait().expect("reap the daemon");
    let delivered_before_kill = g.sink_count();
    assert!(
        delivered_before_kill < RECIPIENTS,
        "killed while delivering: {delivered_before_kill} of {RECIPIENTS} in the sink"
    );
    let record = g.only_notice("MNT-1");
    assert!(!record["done"].is_null(), "queueing finished: {record:#}");
    assert_eq!(
        record["queued"].as_u64(),
        Some(RECIPIENTS as u64),
        "each recipient queued once across both runs: {record:#}"
    );
    assert!(g
        .daemon_log()
        .contains("finishing a notice a restart interrupted"));

    // Restarted again: it delivers the rest and falls quiet.
    let mut daemon = g.spawn_daemon(3);
    let mut last = (0, Instant::now());
    g.wait_until(
        &mut daemon,
        DELIVERY_TIMEOUT,
        "every notice delivered, then quiet",
        || {
            let n = g.sink_count();
            if n != last.0 {
                last = (n, Instant::now());
            }
            n >= RECIPIENTS && last.1.elapsed() > Duration::from_millis(1500)
        },
    );
    daemon.kill().expect("stop the daemon");
    daemon.wait().expect("reap the daemon");
    let delivery = began.elapsed() - queueing;

    let outbox = g.outbox();
    let unsent: Vec<&Value> = outbox.iter().filter(|e| e["state"] != "sent").collect();
    assert_eq!(outbox.len(), RECIPIENTS, "one outbox entry per recipient");
    assert!(
        unsent.is_empty(),
        "every entry sent: {:#?}",
        &unsent[..unsent.len().min(5)]
    );

    // Every recipient exactly once, by (notice, recipient).
    let captured = g.sink.messages();
    let mut by_pair: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for m in &captured {
        let key = m.header("X-Deskgate-Notice").unwrap_or_default();
        let mid = m.header("Message-ID").unwrap_or_default();
        for to in &m.rcpt_to {
            by_pair
                .entry((key.clone(), to.clone()))
                .or_default()
                .push(mid.clone());
        }
    }
    let keys: BTreeSet<&String> = by_pair.keys().map(|(k, _)| k).collect();
    assert_eq!(keys.len(), 1, "one notice: {keys:?}");
    let expected: BTreeSet<String> = (0..ACCOUNTS)
        .flat_map(|a| (0..4).map(move |c| format!("noc{c}@c{a:05}.example")))
        .collect();
    let got: BTreeSet<String> = by_pair.keys().map(|(_, to)| to.clone()).collect();
    let missing: Vec<&String> = expected.difference(&got).take(5).collect();
    let strangers: Vec<&String> = got.difference(&expected).take(5).collect();
    assert!(
        missing.is_empty() && strangers.is_empty(),
        "{} missing (e.g. {missing:?}), {} not expected (e.g. {strangers:?})",
        expected.difference(&got).count(),
        got.difference(&expected).count()
    );
    // A repeat is allowed only for a transaction in flight at a kill: the same mail (same
    // Message-ID) again, at most MAX_IN_FLIGHT per kill.
    let repeats: Vec<(&(String, String), &Vec<String>)> =
        by_pair.iter().filter(|(_, mids)| mids.len() > 1).collect();
    for (pair, mids) in &repeats {
        assert!(
            mids.iter().all(|m| m == &mids[0]),
            "{pair:?} got two different mails: {mids:?}"
        );
    }
    let extra: usize = repeats.iter().map(|(_, mids)| mids.len() - 1).sum();
    assert!(
        extra <= 2 * MAX_IN_FLIGHT,
        "{extra} repeated transactions after 2 kills: {repeats:?}"
    );
    assert_eq!(captured.len(), RECIPIENTS + extra);
    eprintln!(
        "{RECIPIENTS} recipients: queueing until the first kill {queueing:.1?} ({queued} queued), \
         the rest (finishing the queue, delivery with a kill at {delivered_before_kill}, quiet) \
         {delivery:.1?}, {extra} repeated; whole test {:.1?}",
        began.elapsed()
    );
}
