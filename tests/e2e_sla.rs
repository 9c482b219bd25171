//! SLA clocks and follow the sun, end to end with a manual clock: a real Dovecot in, the
//! `deskgate` binary driven by `run --once --now T`, Postfix's smtp-sink out. A Gold P1 opened
//! late on a Friday in Amsterdam is warned about and breached at the right instants to the right
//! people; pending stops its clock; three teams in three time zones hand over across a
//! daylight-saving change. Three further tests pin what those scenarios touch on: a target
//! missed between two passes is still reported, a pass with an earlier clock repeats no
//! handover, and times in mails are shown in the recipient's time zone.
//!
//! The SLA notices and handovers a pass sent are the mails its `--json` report counts as sent;
//! `Rig::pass_at` waits for exactly those in the sink, so each step sees its own mails only.

mod common;
#[path = "common/decoded.rs"]
mod decoded;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use common::{Captured, Pass, Rig, DKIM_OK};
use decoded::{body, rcpts, subject, summary};
use serde_json::Value;

/// Tier 1 on shift around the clock in Amsterdam, tiers 2 and 3 without working hours.
const THREE_TIERS: &str = include_str!("fixtures/teams/three_tiers.toml");
/// Three tier-1 teams following the sun, each 07:00-19:00 local time, and a tier-2 team.
const FOLLOW_THE_SUN: &str = include_str!("fixtures/teams/follow_the_sun.toml");
/// A Gold account with one contact and a customer success manager.
const ACME: &str = include_str!("fixtures/accounts/acme_gold.toml");
/// A Gold account in New York with one contact.
const NY_COLO: &str = include_str!("fixtures/accounts/ny_colo.toml");

/// Appends a mail sent on Friday 27 November 23:50 to the desk's INBOX; returns its Message-ID.
fn append(d: &Rig, from: &str, subject: &str, headers: &str, body: &str) -> String {
    let mail = d
        .mail(from, subject)
        .date("Fri, 27 Nov 2026 23:50:00 +0100");
    d.append_mail(&mail.headers(headers).body(body))
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
fn step_through(d: &Rig, steps: &[Step]) {
    for &(now, expected) in steps {
        let pass = d.pass_at(now);
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
    let d = Rig::staffed(THREE_TIERS, Some(ACME));
    append(
        &d,
        "Jane Doe <jane@acme.example>",
        "Link down between AM11 and PA3",
        "",
        "Our wave between AM11 and PA3 is down since 23:40.",
    );
    let opened = d.pass_at("2026-11-27T23:50:00+01:00");
    let to: Vec<Vec<String>> = opened.mails.iter().map(rcpts).collect();
    assert!(
        to.contains(&vec!["jane@acme.example".to_string()])
            && to.contains(&vec!["css@provider.example".to_string()]),
        "the contact is acknowledged and tier 1 told:{}",
        summary(&opened.mails)
    );
    assert!(sla_notices(&opened.mails).is_empty());

    let tickets = d.gate.tickets();
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
        &d,
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
    let tickets = d.gate.tickets();
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
    let show = d.gate.ticket("NL-000001");
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
    let d = Rig::staffed(THREE_TIERS, Some(ACME));
    append(
        &d,
        "Jane Doe <jane@acme.example>",
        "Link down between AM11 and PA3",
        "",
        "Our wave between AM11 and PA3 is down since 23:40.",
    );
    let opened = d.pass_at("2026-11-27T23:50:00+01:00");
    let notice = opened
        .mails
        .iter()
        .find(|m| m.rcpt_to == ["css@provider.example"])
        .unwrap_or_else(|| panic!("tier 1 told:{}", summary(&opened.mails)));
    let notice_id = notice.message_id();

    // The first response is missed at 00:05 (a breach, the warning skipped as it came too late).
    let pass = d.pass_at("2026-11-28T00:10:00+01:00");
    let notices = sla_notices(&pass.mails);
    assert!(
        notices.len() == 1 && notices[0].0.contains("SLA breached: first response"),
        "the first-response breach:{}",
        summary(&pass.mails)
    );

    // Alice takes the ticket and asks the customer something: pending from 00:30.
    append(
        &d,
        "Alice Martin <alice@provider.example>",
        "RE: [NL-000001] Link down between AM11 and PA3",
        &format!("{DKIM_OK}In-Reply-To: <{notice_id}>\r\n"),
        "#take\n#status pending\nWe see loss of light on our side. Is your CPE in AM11 powered?",
    );
    let pass = d.pass_at("2026-11-28T00:30:00+01:00");
    let relayed = pass
        .mails
        .iter()
        .find(|m| m.rcpt_to == ["jane@acme.example"])
        .unwrap_or_else(|| panic!("the answer reaches Jane:{}", summary(&pass.mails)));
    assert!(body(relayed).contains("Is your CPE in AM11 powered?"));
    let relayed_id = relayed.message_id();
    let tickets = d.gate.tickets();
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
        let pass = d.pass_at(now);
        assert_quiet(&pass, now);
    }
    let tickets = d.gate.tickets();
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
    append(
        &d,
        "Jane Doe <jane@acme.example>",
        "Re: [NL-000001] Link down between AM11 and PA3",
        &format!("In-Reply-To: <{relayed_id}>\r\n"),
        "Yes, the CPE is powered and shows LOS as well.",
    );
    let pass = d.pass_at("2026-11-28T05:00:00+01:00");
    assert!(
        pass.mails
            .iter()
            .any(|m| m.rcpt_to == ["alice@provider.example"]),
        "the owner hears of the reply:{}",
        summary(&pass.mails)
    );
    assert!(sla_notices(&pass.mails).is_empty());
    let tickets = d.gate.tickets();
    let t = find(&tickets, "NL-000001");
    assert_eq!(t["status"], "open", "{t:#}");
    assert_due(
        t,
        "restore",
        "2026-11-28T08:20:00+01:00",
        "2026-11-28T07:20:00+01:00",
    );

    step_through(
        &d,
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
    let d = Rig::staffed(THREE_TIERS, Some(ACME));
    append(
        &d,
        "Jane Doe <jane@acme.example>",
        "Link down between AM11 and PA3",
        "",
        "Our wave between AM11 and PA3 is down since 23:40.",
    );
    let opened = d.pass_at("2026-11-27T23:50:00+01:00");
    let notice = opened
        .mails
        .iter()
        .find(|m| m.rcpt_to == ["css@provider.example"])
        .unwrap_or_else(|| panic!("tier 1 told:{}", summary(&opened.mails)));
    let notice_id = notice.message_id();
    append(
        &d,
        "Alice Martin <alice@provider.example>",
        "RE: [NL-000001] Link down between AM11 and PA3",
        &format!("{DKIM_OK}In-Reply-To: <{notice_id}>\r\n"),
        "#take\nWe are on it.",
    );
    let pass = d.pass_at("2026-11-28T00:30:00+01:00");
    let tickets = d.gate.tickets();
    let t = find(&tickets, "NL-000001");
    assert_eq!(
        t["sla"]["breached"], true,
        "the first response came 25 minutes late: {}",
        t["sla"]
    );
    let later = d.pass_at("2026-11-28T00:31:00+01:00");
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
    let d = Rig::staffed(FOLLOW_THE_SUN, None);
    append(
        &d,
        "Jane Doe <jane@acme.example>",
        "Link down between AM11 and PA3",
        "",
        "Our wave between AM11 and PA3 is down.",
    );
    // Saturday 24 October, 12:00Z: Amsterdam (05:00Z-17:00Z until the change) is on shift and
    // hears of the new P1. This first pass only records how far shifts were checked: the
    // Singapore to Amsterdam handover of 11:00Z is not replayed.
    let first = d.pass_at("2026-10-24T12:00:00Z");
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
        let pass = d.pass_at(now);
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
    append(
        &d,
        "Jane Doe <jane@acme.example>",
        "Cross-connect XC-7 down",
        "",
        "XC-7 is down.",
    );
    let pass = d.pass_at("2026-10-27T02:00:00Z");
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
    let d = Rig::staffed(FOLLOW_THE_SUN, None);
    append(
        &d,
        "Jane Doe <jane@acme.example>",
        "Link down between AM11 and PA3",
        "",
        "Our wave between AM11 and PA3 is down.",
    );
    d.pass_at("2026-10-24T12:00:00Z");
    let pass = d.pass_at("2026-10-24T17:30:00Z");
    assert_eq!(
        handovers(&pass.mails).len(),
        1,
        "Amsterdam to New York at 17:00Z:{}",
        summary(&pass.mails)
    );
    let back = d.pass_at("2026-10-24T12:30:00Z");
    assert!(
        handovers(&back.mails).is_empty(),
        "{}",
        summary(&back.mails)
    );
    let again = d.pass_at("2026-10-24T17:45:00Z");
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
    let d = Rig::staffed(FOLLOW_THE_SUN, Some(NY_COLO));
    append(
        &d,
        "NY Ops <ops@nyco.example>",
        "Cross-connect XC-9 down",
        "",
        "XC-9 is down.",
    );
    let first = d.pass_at("2026-10-24T12:00:00Z");
    let later = d.pass_at("2026-10-24T17:30:00Z");
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
