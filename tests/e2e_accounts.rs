//! Accounts, plans, SLA clocks and follow the sun, end to end with a manual clock: a real
//! Dovecot in, the `deskgate` binary driven by `run --once --now T`, Postfix's smtp-sink out.
//! A Gold P1 opened late on a Friday in Amsterdam is warned about and breached at the right
//! instants to the right people; pending stops its clock; three teams in three time zones hand
//! over across a daylight-saving change; a partner-managed account's contact is pointed to the
//! partner; unknown senders are asked to register; and the daemon reloads the accounts file on
//! SIGHUP while mail flows. Three further tests pin what those scenarios touch on: a target
//! missed between two passes is still reported, a pass with an earlier clock repeats no
//! handover, and times in mails are shown in the recipient's time zone.
//!
//! The SLA notices and handovers a pass sent are the mails its `--json` report counts as sent;
//! `Desk::run_at` waits for exactly those in the sink, so each step sees its own mails only.

mod common;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use common::{Captured, Dovecot, SmtpSink};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PW: &str = "accounts-test-pw";

/// What our own mail server writes on mail from an authenticated engineer.
const DKIM_OK: &str = "Authentication-Results: mx.provider.example; dkim=pass header.d=provider.example header.s=sel; spf=pass smtp.mailfrom=provider.example\r\n";

/// Tier 1 on shift around the clock in Amsterdam, tiers 2 and 3 without working hours.
const THREE_TIERS: &str = r#"
[[team]]
name = "css"
tier = 1
address = "css@provider.example"
timezone = "Europe/Amsterdam"
hours = "00:00-24:00"
[[team]]
name = "noc"
tier = 2
address = "noc@provider.example"
[[team]]
name = "opseng"
tier = 3
address = "opseng@provider.example"
[[staff]]
login = "alice"
address = "alice@provider.example"
name = "Alice Martin"
team = "css"
"#;

/// A Gold account with one contact and a customer success manager.
const ACME: &str = r#"
[[account]]
id = "acme"
name = "Acme Hosting B.V."
plan = "gold"
language = "en"
timezone = "Europe/Amsterdam"
domains = ["acme.example"]

[account.team]
customer_success_manager = "csm@provider.example"

[[account.contact]]
address = "jane@acme.example"
name = "Jane Doe"
roles = ["technical", "escalation"]
"#;

/// A deskgate with its own Dovecot, smtp-sink, store, config and accounts file.
struct Desk {
    dovecot: Dovecot,
    sink: SmtpSink,
    dir: tempfile::TempDir,
    config: PathBuf,
    accounts: PathBuf,
    /// Mails appended so far (for unique Message-IDs).
    n: usize,
    /// Captured mails already handed out by [`Desk::run_at`].
    seen: usize,
    /// The `--now` of the last pass: queries are asked as of that instant.
    now: Option<String>,
}

/// One `run --once` pass: what it reported and the mails the sink received from it.
struct Pass {
    report: Value,
    mails: Vec<Captured>,
}

impl Desk {
    /// Starts the servers and writes a config with `teams` (TOML tables) and, when `accounts` is
    /// given, an accounts file with that text.
    fn start(teams: &str, accounts: Option<&str>) -> Desk {
        let dovecot = Dovecot::start(&[("nl", PW)]);
        let sink = SmtpSink::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("deskgate.toml");
        let accounts_path = dir.path().join("accounts.toml");
        let accounts_key = match accounts {
            Some(text) => {
                std::fs::write(&accounts_path, text).expect("write accounts");
                format!("accounts = {:?}\n", accounts_path.display().to_string())
            }
            None => String::new(),
        };
        let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        std::fs::write(
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
{accounts_key}
[auth]
trusted_authserv_ids = ["mx.provider.example"]
{teams}
[[desk]]
name = "nl"
address = "servicedesk.nl@example.net"
display_name = "Service Desk Amsterdam"
language = "en"
[desk.imap]
url = "imap://127.0.0.1:{imap}"
user = "nl"
password = "{PW}"
poll_interval_secs = 1
"#,
                store = dir.path().join("store").display().to_string(),
                smtp = sink.port(),
                imap = dovecot.imap_port(),
                templates = templates.display().to_string(),
            ),
        )
        .expect("write config");
        Desk {
            dovecot,
            sink,
            dir,
            config,
            accounts: accounts_path,
            n: 0,
            seen: 0,
            now: None,
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

    /// The tickets as of the last pass's `--now` (SLA states are judged at that instant, not
    /// at today's date).
    fn tickets(&self) -> Vec<Value> {
        self.json(&self.as_of(&["tickets", "list", "--json"]))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn ticket(&self, reference: &str) -> Value {
        self.json(&self.as_of(&["tickets", "show", reference, "--json"]))
    }

    /// `args` with `--now` set to the instant of the last pass, when there was one.
    fn as_of<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut args = args.to_vec();
        if let Some(now) = &self.now {
            args.extend(["--now", now.as_str()]);
        }
        args
    }

    fn outbox(&self) -> Vec<Value> {
        self.json(&["outbox", "list", "--json"])
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Appends a mail to the desk's INBOX; returns its Message-ID.
    fn append(&mut self, from: &str, subject: &str, headers: &str, body: &str) -> String {
        self.n += 1;
        let message_id = format!("m{}@test.example", self.n);
        let raw = format!(
            "From: {from}\r\nTo: servicedesk.nl@example.net\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\nDate: Fri, 27 Nov 2026 23:50:00 +0100\r\n{headers}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
            body.replace('\n', "\r\n")
        );
        self.dovecot.append("nl", PW, "INBOX", raw.as_bytes());
        message_id
    }

    /// One pass as if it were `now`; waits until the sink holds every mail the pass sent.
    fn run_at(&mut self, now: &str) -> Pass {
        let report = self.json(&["run", "--once", "--now", now, "--json"]);
        self.now = Some(now.to_string());
        assert_eq!(
            (report["failed"].as_u64(), report["retrying"].as_u64()),
            (Some(0), Some(0)),
            "pass at {now}: every mail was accepted: {report}"
        );
        let sent = report["sent"].as_u64().expect("sent count") as usize;
        let all = self
            .sink
            .wait_for(self.seen + sent, Duration::from_secs(10));
        let mut mails = all[self.seen..].to_vec();
        // The sink orders mails by file time, which ties for mails sent within one clock tick:
        // put the pass's mails in the order deskgate queued (and so sent) them.
        let queued: Vec<String> = self
            .json(&["outbox", "list", "--json"])
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["message_id"].as_str().map(str::to_string))
            .collect();
        mails.sort_by_key(|m| queued.iter().position(|id| *id == message_id(m)));
        assert_eq!(
            mails.len(),
            sent,
            "pass at {now}: the sink holds more mails than were sent: {}",
            summary(&mails)
        );
        self.seen = all.len();
        Pass { report, mails }
    }
}

/// The decoded subject of a captured mail.
fn subject(m: &Captured) -> String {
    deskgate::ingest::parse::parse(&m.raw, Default::default()).subject
}

/// The decoded text of a captured mail.
fn body(m: &Captured) -> String {
    deskgate::ingest::parse::parse(&m.raw, Default::default()).text
}

/// The envelope recipients, sorted.
fn rcpts(m: &Captured) -> Vec<String> {
    let mut r = m.rcpt_to.clone();
    r.sort();
    r
}

fn message_id(m: &Captured) -> String {
    m.header("Message-ID")
        .unwrap_or_default()
        .trim_matches(['<', '>'])
        .to_string()
}

/// One line per mail, for panic messages.
fn summary(mails: &[Captured]) -> String {
    if mails.is_empty() {
        return "(no mail)".into();
    }
    mails
        .iter()
        .map(|m| format!("\n  {:?}: {}", rcpts(m), subject(m)))
        .collect()
}

/// The SLA notices among `mails`, as (subject, sorted recipients).
fn sla_notices(mails: &[Captured]) -> Vec<(String, Vec<String>)> {
    // One notice per subject: staff and the account's CSM get it in separate mails (only staff
    // are invited to work the ticket by replying); their recipients are merged here.
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for m in mails.iter().filter(|m| subject(m).contains("SLA ")) {
        let s = subject(m);
        match out.iter_mut().find(|(known, _)| *known == s) {
            Some((_, to)) => {
                to.extend(rcpts(m));
                to.sort();
                to.dedup();
            }
            None => out.push((s, rcpts(m))),
        }
    }
    out
}

fn instant(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s:?} is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

/// A JSON date as an instant (None for null or a missing field).
fn json_instant(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().map(instant)
}

/// The ticket with `reference` from a `tickets list --json` array.
fn find<'a>(tickets: &'a [Value], reference: &str) -> &'a Value {
    tickets
        .iter()
        .find(|t| t["ref"] == reference)
        .unwrap_or_else(|| panic!("no ticket {reference} in {tickets:#?}"))
}

/// The name of one SLA target's state: `running`, `paused`, `met`, `breached` or `none`. The
/// README documents `state` as that string; an object holding it under `state` is read too,
/// so that the other checks still run where the shape is wrong (checked on its own).
fn sla_state(ticket: &Value, target: &str) -> String {
    let state = &ticket["sla"][target]["state"];
    state
        .as_str()
        .or_else(|| state["state"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| panic!("sla.{target} has no state: {}", ticket["sla"]))
}

/// Checks one target's due and warning instants in a ticket's `sla` object.
fn assert_due(ticket: &Value, target: &str, due: &str, warn_at: &str) {
    let sla = &ticket["sla"][target];
    assert_eq!(
        (json_instant(&sla["due"]), json_instant(&sla["warn_at"])),
        (Some(instant(due)), Some(instant(warn_at))),
        "sla.{target} of {}: {}",
        ticket["ref"],
        ticket["sla"]
    );
}

/// A pass that must send nothing.
fn assert_quiet(pass: &Pass, now: &str) {
    assert!(
        pass.mails.is_empty(),
        "nothing is due at {now}, yet the pass sent:{}",
        summary(&pass.mails)
    );
}

/// Where tier 1's notices go, an engineer's, and who hears of a breach of a tier-1 ticket: the
/// tier-2 team and Acme's customer success manager.
const CSS: &[&str] = &["css@provider.example"];
const ALICE: &[&str] = &["alice@provider.example"];
const BREACH_TO: &[&str] = &["csm@provider.example", "noc@provider.example"];

/// One step of the manual clock: the instant of a pass and the one SLA notice it must send (a
/// text of its subject and its sorted recipients), or None when it must send nothing at all.
type Step = (
    &'static str,
    Option<(&'static str, &'static [&'static str])>,
);

/// Runs a pass at each step's instant and checks what it sent and what its report counts.
fn step_through(d: &mut Desk, steps: &[Step]) {
    for &(now, expected) in steps {
        let pass = d.run_at(now);
        let Some((text, to)) = expected else {
            assert_quiet(&pass, now);
            continue;
        };
        let notices = sla_notices(&pass.mails);
        assert!(
            notices.len() == 1 && pass.mails.iter().all(|m| subject(m).contains("SLA ")),
            "at {now} exactly one notice, {text:?} to {to:?}, and nothing else; got:{}",
            summary(&pass.mails)
        );
        let (subject, rcpts) = &notices[0];
        assert!(
            subject.contains(text) && subject.contains("[NL-000001]"),
            "at {now}: {subject:?} should contain {text:?} and the reference"
        );
        assert_eq!(rcpts, to, "at {now}: recipients of {subject:?}");
        let warning = text.starts_with("SLA warning");
        assert_eq!(
            (
                pass.report["timers"]["sla_warnings"].as_u64(),
                pass.report["timers"]["sla_breaches"].as_u64()
            ),
            (Some(u64::from(warning)), Some(u64::from(!warning))),
            "at {now}: the pass report counts the notice: {}",
            pass.report
        );
    }
}

#[test]
fn a_gold_p1_opened_friday_2350_in_amsterdam_is_warned_and_breached_on_time() {
    let mut d = Desk::start(THREE_TIERS, Some(ACME));
    d.append(
        "Jane Doe <jane@acme.example>",
        "Link down between AM11 and PA3",
        "",
        "Our wave between AM11 and PA3 is down since 23:40.",
    );
    let opened = d.run_at("2026-11-27T23:50:00+01:00");
    let to: Vec<Vec<String>> = opened.mails.iter().map(rcpts).collect();
    assert!(
        to.contains(&vec!["jane@acme.example".to_string()])
            && to.contains(&vec!["css@provider.example".to_string()]),
        "the contact is acknowledged and tier 1 told:{}",
        summary(&opened.mails)
    );
    assert!(sla_notices(&opened.mails).is_empty());

    let tickets = d.tickets();
    let t = find(&tickets, "NL-000001");
    assert_eq!(
        (
            t["priority"].as_str(),
            t["priority_confirmed"].as_bool(),
            t["account"].as_str(),
            t["identity"].as_str(),
        ),
        (Some("P1"), Some(false), Some("acme"), Some("contact")),
        "a proposed P1 of account acme: {t:#}"
    );
    assert!(
        t["plan"]
            .as_str()
            .is_some_and(|p| p.eq_ignore_ascii_case("gold")),
        "the Gold plan: {}",
        t["plan"]
    );
    // Gold P1: first response 15 minutes (warned at 75 %, 11m15s), restore 4 hours (warned at 3 h).
    assert_due(
        t,
        "first_response",
        "2026-11-28T00:05:00+01:00",
        "2026-11-28T00:01:15+01:00",
    );
    assert_due(
        t,
        "restore",
        "2026-11-28T03:50:00+01:00",
        "2026-11-28T02:50:00+01:00",
    );
    assert_eq!(t["sla"]["breached"], false, "{}", t["sla"]);

    step_through(
        &mut d,
        &[
            ("2026-11-28T00:01:14+01:00", None),
            (
                "2026-11-28T00:01:15+01:00",
                Some(("SLA warning: first response due 2026-11-28 00:05 CET", CSS)),
            ),
            ("2026-11-28T00:01:15+01:00", None),
            ("2026-11-28T00:04:59+01:00", None),
            (
                "2026-11-28T00:05:00+01:00",
                Some((
                    "SLA breached: first response was due 2026-11-28 00:05 CET",
                    BREACH_TO,
                )),
            ),
            ("2026-11-28T00:05:00+01:00", None),
            ("2026-11-28T02:49:59+01:00", None),
            (
                "2026-11-28T02:50:00+01:00",
                Some(("SLA warning: restore due 2026-11-28 03:50 CET", CSS)),
            ),
            ("2026-11-28T02:50:00+01:00", None),
            ("2026-11-28T03:49:59+01:00", None),
            (
                "2026-11-28T03:50:00+01:00",
                Some((
                    "SLA breached: restore was due 2026-11-28 03:50 CET",
                    BREACH_TO,
                )),
            ),
            ("2026-11-28T03:50:00+01:00", None),
            ("2026-11-28T12:00:00+01:00", None),
        ],
    );

    // Over the whole night: each notice exactly once, in order.
    let all = d.sink.messages();
    let notices: Vec<String> = sla_notices(&all).into_iter().map(|(s, _)| s).collect();
    assert_eq!(notices.len(), 4, "four notices in all: {notices:#?}");
    for (notice, prefix) in notices.iter().zip([
        "SLA warning: first response",
        "SLA breached: first response",
        "SLA warning: restore",
        "SLA breached: restore",
    ]) {
        assert!(notice.contains(prefix), "{notices:#?}");
    }
    // The customer hears nothing of the SLA machinery.
    for m in all
        .iter()
        .filter(|m| m.rcpt_to.contains(&"jane@acme.example".into()))
    {
        assert!(!subject(m).contains("SLA"), "{}", subject(m));
    }

    // The tickets list shows the due times, unchanged, and whether a target was missed.
    let tickets = d.tickets();
    let t = find(&tickets, "NL-000001");
    assert_due(
        t,
        "first_response",
        "2026-11-28T00:05:00+01:00",
        "2026-11-28T00:01:15+01:00",
    );
    assert_due(
        t,
        "restore",
        "2026-11-28T03:50:00+01:00",
        "2026-11-28T02:50:00+01:00",
    );
    // Both targets were missed and both breach notices went out, so the ticket must say so, in
    // the documented shape (`state` one of running, paused, met, breached, none). Collected
    // first, so that one failure shows every deviation.
    let mut problems = Vec::new();
    for target in ["first_response", "restore"] {
        let state = &t["sla"][target]["state"];
        if !state.is_string() {
            problems.push(format!(
                "sla.{target}.state is {state}, not a string such as \"breached\""
            ));
        }
        if sla_state(t, target) != "breached" {
            problems.push(format!(
                "sla.{target} is {:?} after its breach notice went out",
                sla_state(t, target)
            ));
        }
    }
    if t["sla"]["breached"] != true {
        problems.push("sla.breached is not true after two breach notices".into());
    }
    assert!(
        problems.is_empty(),
        "tickets list --json after the night:\n  {}\nsla = {:#}",
        problems.join("\n  "),
        t["sla"]
    );
    let show = d.ticket("NL-000001");
    let noted: Vec<&str> = show["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["event"] == "note")
        .filter_map(|e| e["text"].as_str())
        .filter(|t| t.starts_with("SLA "))
        .collect();
    assert_eq!(
        noted.len(),
        4,
        "each notice is noted on the ticket: {noted:#?}"
    );
}

#[test]
fn pending_pauses_the_clock() {
    let mut d = Desk::start(THREE_TIERS, Some(ACME));
    d.append(
        "Jane Doe <jane@acme.example>",
        "Link down between AM11 and PA3",
        "",
        "Our wave between AM11 and PA3 is down since 23:40.",
    );
    let opened = d.run_at("2026-11-27T23:50:00+01:00");
    let notice = opened
        .mails
        .iter()
        .find(|m| m.rcpt_to == ["css@provider.example"])
        .unwrap_or_else(|| panic!("tier 1 told:{}", summary(&opened.mails)));
    let notice_id = message_id(notice);

    // The first response is missed at 00:05 (a breach, the warning skipped as it came too late).
    let pass = d.run_at("2026-11-28T00:10:00+01:00");
    let notices = sla_notices(&pass.mails);
    assert!(
        notices.len() == 1 && notices[0].0.contains("SLA breached: first response"),
        "the first-response breach:{}",
        summary(&pass.mails)
    );

    // Alice takes the ticket and asks the customer something: pending from 00:30.
    d.append(
        "Alice Martin <alice@provider.example>",
        "RE: [NL-000001] Link down between AM11 and PA3",
        &format!("{DKIM_OK}In-Reply-To: <{notice_id}>\r\n"),
        "#take\n#status pending\nWe see loss of light on our side. Is your CPE in AM11 powered?",
    );
    let pass = d.run_at("2026-11-28T00:30:00+01:00");
    let relayed = pass
        .mails
        .iter()
        .find(|m| m.rcpt_to == ["jane@acme.example"])
        .unwrap_or_else(|| panic!("the answer reaches Jane:{}", summary(&pass.mails)));
    assert!(body(relayed).contains("Is your CPE in AM11 powered?"));
    let relayed_id = message_id(relayed);
    let tickets = d.tickets();
    let t = find(&tickets, "NL-000001");
    assert_eq!(
        (t["status"].as_str(), t["owner"].as_str()),
        (Some("pending"), Some("alice")),
        "{t:#}"
    );
    assert_eq!(sla_state(t, "restore"), "paused", "{}", t["sla"]);
    assert_eq!(sla_state(t, "first_response"), "met", "{}", t["sla"]);
    assert_eq!(
        t["sla"]["breached"], true,
        "the first response was met late: {}",
        t["sla"]
    );

    // While pending, neither the restore warning (02:50) nor its breach (03:50) comes.
    for now in [
        "2026-11-28T02:50:00+01:00",
        "2026-11-28T03:50:00+01:00",
        "2026-11-28T04:59:59+01:00",
    ] {
        let pass = d.run_at(now);
        assert_quiet(&pass, now);
    }
    let tickets = d.tickets();
    let t = find(&tickets, "NL-000001");
    assert_eq!(
        (sla_state(t, "restore"), &t["sla"]["restore"]["due"]),
        ("paused".to_string(), &Value::Null),
        "no restore due time while paused: {}",
        t["sla"]
    );

    // Jane answers at 05:00: the clock runs again. It ran 40 minutes (22:50Z-23:30Z) and stood
    // still for 4h30m (23:30Z-04:00Z), so the restore is due 4h30m later than at first: 08:20
    // Amsterdam time, warned at 07:20.
    d.append(
        "Jane Doe <jane@acme.example>",
        "Re: [NL-000001] Link down between AM11 and PA3",
        &format!("In-Reply-To: <{relayed_id}>\r\n"),
        "Yes, the CPE is powered and shows LOS as well.",
    );
    let pass = d.run_at("2026-11-28T05:00:00+01:00");
    assert!(
        pass.mails
            .iter()
            .any(|m| m.rcpt_to == ["alice@provider.example"]),
        "the owner hears of the reply:{}",
        summary(&pass.mails)
    );
    assert!(sla_notices(&pass.mails).is_empty());
    let tickets = d.tickets();
    let t = find(&tickets, "NL-000001");
    assert_eq!(t["status"], "open", "{t:#}");
    assert_due(
        t,
        "restore",
        "2026-11-28T08:20:00+01:00",
        "2026-11-28T07:20:00+01:00",
    );

    step_through(
        &mut d,
        &[
            ("2026-11-28T07:19:59+01:00", None),
            (
                "2026-11-28T07:20:00+01:00",
                Some(("SLA warning: restore due 2026-11-28 08:20 CET", ALICE)),
            ),
            ("2026-11-28T07:20:00+01:00", None),
            ("2026-11-28T08:19:59+01:00", None),
            (
                "2026-11-28T08:20:00+01:00",
                Some((
                    "SLA breached: restore was due 2026-11-28 08:20 CET",
                    BREACH_TO,
                )),
            ),
            ("2026-11-28T08:20:00+01:00", None),
        ],
    );
    let all: Vec<String> = sla_notices(&d.sink.messages())
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(
        all.iter().filter(|s| s.contains("restore")).count(),
        2,
        "one restore warning and one restore breach, at the moved instants: {all:#?}"
    );
}

#[test]
fn a_target_missed_between_two_passes_is_still_reported() {
    // No pass runs between the ticket's creation at 23:50 and Alice's answer at 00:30: the first
    // response was due at 00:05 and was missed. The pass at 00:30 reads her answer and then runs
    // the due timers: the breach it finds (and the ticket's own `breached`) must still reach the
    // next tier and the customer success manager, or nobody is ever told.
    let mut d = Desk::start(THREE_TIERS, Some(ACME));
    d.append(
        "Jane Doe <jane@acme.example>",
        "Link down between AM11 and PA3",
        "",
        "Our wave between AM11 and PA3 is down since 23:40.",
    );
    let opened = d.run_at("2026-11-27T23:50:00+01:00");
    let notice = opened
        .mails
        .iter()
        .find(|m| m.rcpt_to == ["css@provider.example"])
        .unwrap_or_else(|| panic!("tier 1 told:{}", summary(&opened.mails)));
    let notice_id = message_id(notice);
    d.append(
        "Alice Martin <alice@provider.example>",
        "RE: [NL-000001] Link down between AM11 and PA3",
        &format!("{DKIM_OK}In-Reply-To: <{notice_id}>\r\n"),
        "#take\nWe are on it.",
    );
    let pass = d.run_at("2026-11-28T00:30:00+01:00");
    let tickets = d.tickets();
    let t = find(&tickets, "NL-000001");
    assert_eq!(
        t["sla"]["breached"], true,
        "the first response came 25 minutes late: {}",
        t["sla"]
    );
    let later = d.run_at("2026-11-28T00:31:00+01:00");
    let mut mails = pass.mails;
    mails.extend(later.mails);
    let notices = sla_notices(&mails);
    assert!(
        notices
            .iter()
            .any(|(s, to)| s.contains("SLA breached: first response")
                && to == &["csm@provider.example", "noc@provider.example"]),
        "the missed first response is reported to tier 2 and the CSM; the passes sent:{}",
        summary(&mails)
    );
}

/// Three tier-1 teams following the sun, each 07:00-19:00 local time, and a tier-2 team.
const FOLLOW_THE_SUN: &str = r#"
[[team]]
name = "ams"
tier = 1
address = "ams@provider.example"
timezone = "Europe/Amsterdam"
hours = "07:00-19:00"
[[team]]
name = "nyc"
tier = 1
address = "nyc@provider.example"
timezone = "America/New_York"
hours = "07:00-19:00"
[[team]]
name = "sgp"
tier = 1
address = "sgp@provider.example"
timezone = "Asia/Singapore"
hours = "07:00-19:00"
[[team]]
name = "noc"
tier = 2
address = "noc@provider.example"
"#;

/// The time zone of a team of [`FOLLOW_THE_SUN`].
fn team_zone(team: &str) -> Tz {
    match team {
        "ams" => Tz::Europe__Amsterdam,
        "nyc" => Tz::America__New_York,
        "sgp" => Tz::Asia__Singapore,
        _ => panic!("no team {team}"),
    }
}

/// An instant as mails show it in `tz`: local date, time and the zone's abbreviation.
fn shown(at: &str, tz: Tz) -> String {
    instant(at)
        .with_timezone(&tz)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

#[test]
fn handovers_follow_the_sun_across_three_zones_and_a_dst_change() {
    let mut d = Desk::start(FOLLOW_THE_SUN, None);
    d.append(
        "Jane Doe <jane@acme.example>",
        "Link down between AM11 and PA3",
        "",
        "Our wave between AM11 and PA3 is down.",
    );
    // Saturday 24 October, 12:00Z: Amsterdam (05:00Z-17:00Z until the change) is on shift and
    // hears of the new P1. This first pass only records how far shifts were checked: the
    // Singapore to Amsterdam handover of 11:00Z is not replayed.
    let first = d.run_at("2026-10-24T12:00:00Z");
    assert!(
        first
            .mails
            .iter()
            .any(|m| m.rcpt_to == ["ams@provider.example"] && subject(m).contains("New ticket")),
        "the team on shift hears of the P1:{}",
        summary(&first.mails)
    );
    assert_eq!(first.report["timers"]["handovers"], 0, "{}", first.report);

    // (instant of the pass, the handovers it must send: team taking over, team going off, and
    // the instant of the shift end). In UTC Amsterdam works 05-17 until the EU change on 25
    // October at 01:00Z and 06-18 after it, New York 11-23 (its change is on 1 November) and
    // Singapore 23-11.
    type Expected = &'static [(&'static str, &'static str, &'static str)];
    let steps: [(&str, Expected); 13] = [
        ("2026-10-24T16:59:59Z", &[]),
        (
            "2026-10-24T17:00:00Z",
            &[("nyc", "ams", "2026-10-24T17:00:00Z")],
        ),
        ("2026-10-24T17:00:00Z", &[]),
        ("2026-10-24T22:59:59Z", &[]),
        (
            "2026-10-24T23:00:00Z",
            &[("sgp", "nyc", "2026-10-24T23:00:00Z")],
        ),
        ("2026-10-25T10:59:59Z", &[]),
        (
            "2026-10-25T11:00:00Z",
            &[("ams", "sgp", "2026-10-25T11:00:00Z")],
        ),
        // Before the change Amsterdam went off at 17:00Z; now 19:00 local is 18:00Z.
        ("2026-10-25T17:00:00Z", &[]),
        ("2026-10-25T17:59:59Z", &[]),
        (
            "2026-10-25T18:00:00Z",
            &[("nyc", "ams", "2026-10-25T18:00:00Z")],
        ),
        // A day without a pass: every handover of it, once each, in order.
        (
            "2026-10-26T23:30:00Z",
            &[
                ("sgp", "nyc", "2026-10-25T23:00:00Z"),
                ("ams", "sgp", "2026-10-26T11:00:00Z"),
                ("nyc", "ams", "2026-10-26T18:00:00Z"),
                ("sgp", "nyc", "2026-10-26T23:00:00Z"),
            ],
        ),
        ("2026-10-26T23:30:00Z", &[]),
        ("2026-10-26T23:59:59Z", &[]),
    ];
    for (now, expected) in steps {
        let pass = d.run_at(now);
        let handovers: Vec<&Captured> = pass
            .mails
            .iter()
            .filter(|m| subject(m).starts_with("Handover"))
            .collect();
        let got: Vec<String> = handovers
            .iter()
            .map(|m| format!("{:?} {}", rcpts(m), subject(m)))
            .collect();
        assert_eq!(
            handovers.len(),
            expected.len(),
            "at {now} expected handovers {expected:?}, got {got:#?}"
        );
        assert_eq!(
            pass.report["timers"]["handovers"].as_u64(),
            Some(expected.len() as u64),
            "at {now}: {}",
            pass.report
        );
        for (m, (to, from, at)) in handovers.iter().zip(expected) {
            let text = body(m);
            assert_eq!(
                rcpts(m),
                [format!("{to}@provider.example")],
                "at {now}: {got:#?}"
            );
            assert!(
                subject(m).contains(&format!("Handover to {to}: 1 open")),
                "at {now}: {}",
                subject(m)
            );
            // The shift end as the deployment's zone shows it, or the receiving team's (which
            // the product brief asks for; checked on its own in the next test).
            let shown_at = [shown(at, Tz::Europe__Amsterdam), shown(at, team_zone(to))];
            assert!(
                shown_at
                    .iter()
                    .any(|at| text.contains(&format!("Shift handover to {to} from {from} at {at}"))),
                "at {now}: the handover from {from} at {shown_at:?}:\n{text}"
            );
            assert!(
                text.contains("[NL-000001] P1"),
                "at {now}: the open P1 is listed:\n{text}"
            );
        }
    }
    let all: Vec<Captured> = d
        .sink
        .messages()
        .into_iter()
        .filter(|m| subject(m).starts_with("Handover"))
        .collect();
    assert_eq!(all.len(), 8, "eight handovers in all:{}", summary(&all));

    // A new P1 at 02:00Z on Tuesday goes to Singapore, the team on shift then.
    d.append(
        "Jane Doe <jane@acme.example>",
        "Cross-connect XC-7 down",
        "",
        "XC-7 is down.",
    );
    let pass = d.run_at("2026-10-27T02:00:00Z");
    assert!(
        pass.mails
            .iter()
            .any(|m| m.rcpt_to == ["sgp@provider.example"] && subject(m).contains("New ticket")),
        "the team on shift hears of the P1:{}",
        summary(&pass.mails)
    );
}

/// The handover mails among `mails`, as (recipients, subject).
fn handovers(mails: &[Captured]) -> Vec<(Vec<String>, String)> {
    mails
        .iter()
        .filter(|m| subject(m).starts_with("Handover"))
        .map(|m| (rcpts(m), subject(m)))
        .collect()
}

#[test]
fn a_pass_with_an_earlier_clock_repeats_no_handover() {
    // A dry run with an earlier --now, or a wall clock stepped back, must not move "checked up
    // to" back: the next pass would send the handovers in between a second time.
    let mut d = Desk::start(FOLLOW_THE_SUN, None);
    d.append(
        "Jane Doe <jane@acme.example>",
        "Link down between AM11 and PA3",
        "",
        "Our wave between AM11 and PA3 is down.",
    );
    d.run_at("2026-10-24T12:00:00Z");
    let pass = d.run_at("2026-10-24T17:30:00Z");
    assert_eq!(
        handovers(&pass.mails).len(),
        1,
        "Amsterdam to New York at 17:00Z:{}",
        summary(&pass.mails)
    );
    let back = d.run_at("2026-10-24T12:30:00Z");
    assert!(
        handovers(&back.mails).is_empty(),
        "{}",
        summary(&back.mails)
    );
    let again = d.run_at("2026-10-24T17:45:00Z");
    assert!(
        handovers(&again.mails).is_empty(),
        "the 17:00Z handover was sent already; this pass sent it again:{}",
        summary(&again.mails)
    );
}

#[test]
fn times_in_mails_are_shown_in_the_recipients_time_zone() {
    // The product brief: "times in mails are shown in the recipient's time zone where known";
    // general.timezone is for recipients whose zone is unknown. A New York customer and the New
    // York team both have a known zone.
    let nyco = r#"
[[account]]
id = "nyco"
name = "NY Colo Inc."
plan = "gold"
language = "en"
timezone = "America/New_York"
domains = ["nyco.example"]

[[account.contact]]
address = "ops@nyco.example"
name = "NY Ops"
roles = ["technical"]
"#;
    let mut d = Desk::start(FOLLOW_THE_SUN, Some(nyco));
    d.append(
        "NY Ops <ops@nyco.example>",
        "Cross-connect XC-9 down",
        "",
        "XC-9 is down.",
    );
    let first = d.run_at("2026-10-24T12:00:00Z");
    let later = d.run_at("2026-10-24T17:30:00Z");
    let mut problems = Vec::new();
    match first
        .mails
        .iter()
        .find(|m| m.rcpt_to == ["ops@nyco.example"])
    {
        Some(ack) => {
            let want = shown("2026-10-24T12:00:00Z", Tz::America__New_York);
            if !body(ack).contains(&want) {
                problems.push(format!(
                    "the acknowledgement to the New York customer does not show {want:?}:\n{}",
                    body(ack)
                ));
            }
        }
        None => problems.push(format!("no acknowledgement:{}", summary(&first.mails))),
    }
    match later
        .mails
        .iter()
        .find(|m| subject(m).starts_with("Handover"))
    {
        Some(handover) => {
            let want = shown("2026-10-24T17:00:00Z", Tz::America__New_York);
            if !body(handover).contains(&format!("at {want}")) {
                problems.push(format!(
                    "the handover to the New York team does not show {want:?}:\n{}",
                    body(handover)
                ));
            }
        }
        None => problems.push(format!("no handover:{}", summary(&later.mails))),
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// A partner, an account it supports itself and one the provider supports directly.
const PARTNERS: &str = r#"
[[account]]
id = "cloudreseller"
name = "Cloudreseller SAS"
plan = "silver"
language = "fr"
timezone = "Europe/Paris"
domains = ["cloudreseller.example"]

[[account.contact]]
address = "support@cloudreseller.example"
name = "Cloudreseller Support"
roles = ["technical", "maintenance"]

[[account]]
id = "boulangerie-martin"
name = "Boulangerie Martin"
language = "fr"
timezone = "Europe/Paris"
domains = ["boulangerie-martin.example"]
partner = "cloudreseller"
support_by = "partner"

[[account.contact]]
address = "it@boulangerie-martin.example"
name = "Paul Martin"
roles = ["technical"]

[[account]]
id = "atelier-durand"
name = "Atelier Durand"
plan = "bronze"
language = "en"
timezone = "Europe/Paris"
domains = ["atelier-durand.example"]
partner = "cloudreseller"
support_by = "provider"

[[account.contact]]
address = "claire@atelier-durand.example"
name = "Claire Durand"
roles = ["technical"]
"#;

/// The outbox entries addressed to `to`, as their kinds.
fn kinds_to(outbox: &[Value], to: &str) -> Vec<String> {
    outbox
        .iter()
        .filter(|e| {
            e["to"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == to))
        })
        .filter_map(|e| e["kind"].as_str().map(str::to_string))
        .collect()
}

/// The ticket whose requester is `requester`.
fn by_requester<'a>(tickets: &'a [Value], requester: &str) -> &'a Value {
    tickets
        .iter()
        .find(|t| t["requester"] == requester)
        .unwrap_or_else(|| panic!("no ticket of {requester} in {tickets:#?}"))
}

#[test]
fn a_managed_accounts_contact_is_redirected_to_the_partner() {
    let mut d = Desk::start(THREE_TIERS, Some(PARTNERS));
    d.append(
        "Paul Martin <it@boulangerie-martin.example>",
        "Notre VM ne démarre plus",
        "",
        "Bonjour, notre VM web01 ne démarre plus depuis ce matin.",
    );
    d.append(
        "Claire Durand <claire@atelier-durand.example>",
        "Question about our rack",
        "",
        "Could you tell us the power budget of our rack in PA3?",
    );
    let pass = d.run_at("2026-11-24T10:00:00+01:00");
    let tickets = d.tickets();

    let paul = by_requester(&tickets, "it@boulangerie-martin.example");
    assert_eq!(
        (
            paul["account"].as_str(),
            paul["partner"].as_str(),
            paul["identity"].as_str()
        ),
        (
            Some("boulangerie-martin"),
            Some("cloudreseller"),
            Some("partner_redirect")
        ),
        "{paul:#}"
    );
    let to_paul: Vec<&Captured> = pass
        .mails
        .iter()
        .filter(|m| m.rcpt_to == ["it@boulangerie-martin.example"])
        .collect();
    assert_eq!(
        to_paul.len(),
        1,
        "one mail to Paul:{}",
        summary(&pass.mails)
    );
    let (subject_line, text) = (subject(to_paul[0]), body(to_paul[0]));
    assert!(
        subject_line.contains(paul["ref"].as_str().unwrap_or("?"))
            && subject_line.contains("Cloudreseller Support"),
        "the redirect, in French, names the partner's support: {subject_line}"
    );
    assert!(
        text.contains("support@cloudreseller.example") && text.contains("Cloudreseller SAS"),
        "the partner's support address is given:\n{text}"
    );
    let outbox = d.outbox();
    assert_eq!(
        kinds_to(&outbox, "it@boulangerie-martin.example"),
        ["partner_redirect"],
        "a redirect, not an acknowledgement: {outbox:#?}"
    );
    assert!(
        kinds_to(&outbox, "support@cloudreseller.example").is_empty(),
        "the partner is not written to"
    );

    // An account the partner manages but the provider supports: an ordinary contact.
    let claire = by_requester(&tickets, "claire@atelier-durand.example");
    assert_eq!(
        (
            claire["account"].as_str(),
            claire["partner"].as_str(),
            claire["identity"].as_str()
        ),
        (
            Some("atelier-durand"),
            Some("cloudreseller"),
            Some("contact")
        ),
        "{claire:#}"
    );
    assert_eq!(
        kinds_to(&outbox, "claire@atelier-durand.example"),
        ["ack"],
        "{outbox:#?}"
    );
}

#[test]
fn an_unknown_sender_gets_a_registration_hint() {
    let mut d = Desk::start(THREE_TIERS, Some(ACME));
    d.append(
        "Sam Stranger <sam@unknown-corp.example>",
        "Quote for a cage",
        "",
        "We would like a quote for a cage in AM11.",
    );
    d.append(
        "Bob Builder <bob@acme.example>",
        "Remote hands in AM11",
        "",
        "Please reseat the optic in port 12 of our switch.",
    );
    d.append(
        "Mo <mo.someone@gmail.com>",
        "Access to AM11",
        "",
        "Can I visit the data centre tomorrow?",
    );
    let pass = d.run_at("2026-11-24T10:00:00+01:00");
    let tickets = d.tickets();
    let outbox = d.outbox();

    for stranger in ["sam@unknown-corp.example", "mo.someone@gmail.com"] {
        let t = by_requester(&tickets, stranger);
        assert_eq!(
            (t["identity"].as_str(), &t["account"]),
            (Some("unverified"), &Value::Null),
            "{t:#}"
        );
        assert_eq!(
            kinds_to(&outbox, stranger),
            ["register"],
            "a registration hint, not an acknowledgement: {outbox:#?}"
        );
        let mail = pass
            .mails
            .iter()
            .find(|m| m.rcpt_to == [stranger])
            .unwrap_or_else(|| panic!("{stranger} is answered:{}", summary(&pass.mails)));
        let text = body(mail);
        assert!(
            subject(mail).contains("Company details needed") && text.contains("register"),
            "{}\n{text}",
            subject(mail)
        );
    }

    let bob = by_requester(&tickets, "bob@acme.example");
    assert_eq!(
        (bob["account"].as_str(), bob["identity"].as_str()),
        (Some("acme"), Some("unregistered")),
        "{bob:#}"
    );
    assert!(
        bob["plan"]
            .as_str()
            .is_some_and(|p| p.eq_ignore_ascii_case("gold")),
        "the account's plan applies: {bob:#}"
    );
    assert_eq!(
        kinds_to(&outbox, "bob@acme.example"),
        ["ack"],
        "{outbox:#?}"
    );
    let ack = pass
        .mails
        .iter()
        .find(|m| m.rcpt_to == ["bob@acme.example"])
        .unwrap_or_else(|| panic!("Bob is acknowledged:{}", summary(&pass.mails)));
    assert!(subject(ack).contains("Received:"), "{}", subject(ack));
    let show = d.ticket(bob["ref"].as_str().unwrap_or("?"));
    assert!(
        show["events"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["text"]
                .as_str()
                .is_some_and(|x| x.contains("not a registered contact"))),
        "the unregistered contact is noted for the engineers: {:#}",
        show["events"]
    );
}

/// A running `deskgate run` whose stderr is collected as it comes.
struct Daemon {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Daemon {
    fn start(d: &Desk) -> Daemon {
        let mut child = d
            .cmd(&["run"])
            .env("DESKGATE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn daemon");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap_or_else(|e| e.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        let daemon = Daemon { child, log };
        let socket = d.dir.path().join("store.sock");
        daemon.wait("the admin socket", Duration::from_secs(20), || {
            socket.exists()
        });
        daemon
    }

    fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The last lines of the daemon's log, for panic messages.
    fn tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Waits until `done` holds; panics with the log tail after `timeout`.
    fn wait(&self, what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !done() {
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}; daemon log:\n{}",
                self.tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn count(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{sig}");
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// SIGTERM, as systemd would; the daemon must exit 0 in time.
    fn stop(mut self) -> String {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Let the reader thread drain what is left of stderr.
                std::thread::sleep(Duration::from_millis(200));
                assert!(
                    status.success(),
                    "the daemon exited with {status}:\n{}",
                    self.tail()
                );
                return self.log();
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not stop on SIGTERM:\n{}",
                self.tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A mail from the newcomer, numbered.
fn order_mail(i: usize) -> Vec<u8> {
    format!(
        "From: Nora Newcomer <nora@newcomer-bv.example>\r\nTo: servicedesk.nl@example.net\r\nSubject: Order {i:02}\r\nMessage-ID: <order{i}@newcomer-bv.example>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease add cross-connect number {i} to our order.\r\n"
    )
    .into_bytes()
}

#[test]
fn sighup_reloads_accounts_while_mail_flows() {
    let d = Desk::start(THREE_TIERS, Some(ACME));
    let mut daemon = Daemon::start(&d);
    let tickets = |d: &Desk| d.tickets();

    // Nora is nobody's contact yet.
    for i in 1..=4 {
        d.dovecot.append("nl", PW, "INBOX", &order_mail(i));
    }
    daemon.wait("four tickets", Duration::from_secs(20), || {
        tickets(&d).len() == 4
    });
    assert!(
        tickets(&d).iter().all(|t| t["identity"] == "unverified"),
        "{:#?}",
        tickets(&d)
    );

    // While mails keep coming, Nora is added to Acme and the daemon told with SIGHUP.
    let loads_before = daemon.count("accounts loaded");
    let with_nora = format!(
        "{ACME}\n[[account.contact]]\naddress = \"nora@newcomer-bv.example\"\nname = \"Nora Newcomer\"\nroles = [\"technical\"]\n"
    );
    std::thread::scope(|s| {
        let dovecot = &d.dovecot;
        let feeder = s.spawn(move || {
            for i in 5..=16 {
                dovecot.append("nl", PW, "INBOX", &order_mail(i));
                std::thread::sleep(Duration::from_millis(150));
            }
        });
        std::thread::sleep(Duration::from_millis(700));
        std::fs::write(&d.accounts, &with_nora).expect("rewrite accounts");
        daemon.signal("HUP");
        daemon.wait("the reload", Duration::from_secs(10), || {
            daemon.count("accounts loaded") > loads_before
        });
        feeder.join().expect("feeder");
    });
    for i in 17..=20 {
        d.dovecot.append("nl", PW, "INBOX", &order_mail(i));
    }
    daemon.wait("twenty tickets", Duration::from_secs(20), || {
        tickets(&d).len() == 20
    });

    // No mail lost or doubled, and the identity changes once, in processing order.
    let mut all = tickets(&d);
    all.sort_by(|a, b| a["ref"].as_str().cmp(&b["ref"].as_str()));
    let mut subjects: Vec<String> = all
        .iter()
        .filter_map(|t| t["subject"].as_str().map(str::to_string))
        .collect();
    subjects.sort();
    let expected: Vec<String> = (1..=20).map(|i| format!("Order {i:02}")).collect();
    assert_eq!(subjects, expected, "every mail is a ticket, once");
    let identities: Vec<&str> = all
        .iter()
        .map(|t| t["identity"].as_str().unwrap_or("?"))
        .collect();
    let switch = identities
        .iter()
        .position(|i| *i == "contact")
        .unwrap_or_else(|| panic!("no mail was tied to Nora's account: {identities:?}"));
    assert!(
        switch >= 4
            && identities[..switch].iter().all(|i| *i == "unverified")
            && identities[switch..].iter().all(|i| *i == "contact"),
        "unverified until the reload, a contact after it: {identities:?}"
    );
    for t in &all[switch..] {
        assert_eq!(t["account"], "acme", "{t:#}");
    }
    for t in all.iter().filter(|t| {
        ["Order 17", "Order 18", "Order 19", "Order 20"]
            .contains(&t["subject"].as_str().unwrap_or(""))
    }) {
        assert_eq!(t["identity"], "contact", "mail after the reload: {t:#}");
    }

    // An accounts file that does not validate is refused: the accounts in force stay.
    let refusals_before = daemon.count("accounts not reloaded");
    std::fs::write(
        &d.accounts,
        ACME.replace("domains =", "colour = \"red\"\ndomains ="),
    )
    .expect("write a broken accounts file");
    daemon.signal("HUP");
    daemon.wait("the refusal", Duration::from_secs(10), || {
        daemon.count("accounts not reloaded") > refusals_before
    });
    assert!(
        daemon.running(),
        "the daemon keeps running:\n{}",
        daemon.tail()
    );
    assert!(
        daemon.log().contains("colour"),
        "the log names the problem:\n{}",
        daemon.tail()
    );
    d.dovecot.append("nl", PW, "INBOX", &order_mail(21));
    daemon.wait("the 21st ticket", Duration::from_secs(20), || {
        tickets(&d).len() == 21
    });
    let latest = tickets(&d)
        .into_iter()
        .find(|t| t["subject"] == "Order 21")
        .expect("Order 21");
    assert_eq!(
        (latest["identity"].as_str(), latest["account"].as_str()),
        (Some("contact"), Some("acme")),
        "Nora is still Acme's contact: {latest:#}"
    );

    let log = daemon.stop();
    assert!(
        log.contains("stopped"),
        "a clean shutdown is logged:\n{log}"
    );
    assert_eq!(d.tickets().len(), 21, "the store holds every ticket");
}
