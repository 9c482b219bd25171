//! Maintenance broadcasts end to end: the `deskgate` binary driven by the ops commands and
//! `run --once --now T` (a manual clock), a Maildir desk, Postfix's smtp-sink out. What is
//! asserted is what ops and a customer's NOC would check in the mails that arrived: who got
//! which notice, once, in their language and time zone, and the iCalendar part their tools read
//! (`parse_bcop`, field by field). Three scenarios: a one-off window's whole life, a standing
//! window across a daylight-saving change, and a notice that bounces. (Who is told of what, for
//! partners and incidents, is in `e2e_broadcast_audience.rs`; 10,000 recipients through two
//! SIGKILLs in `faults_broadcast.rs`.)
//!
//! Each ops command is run without a daemon (the CLI opens the store and queues the notices
//! itself); the `run --once --now` that follows delivers them. `Broadcast::run_at` hands out
//! exactly the mails its pass sent, so each step sees its own notices only.

mod common;
#[path = "common/notice.rs"]
mod notice;

use notice::{
    assert_contains, check_event, one_each, summary, Broadcast, Expected, Notice, DESK_ADDRESS,
    DESK_NAME, PROVIDER,
};
use serde_json::Value;
use std::collections::BTreeSet;

/// Four accounts at AM11 with readers in English, Dutch and French and in three zones (one
/// without anybody holding the maintenance role), and one account elsewhere.
const LIFECYCLE: &str = include_str!("fixtures/accounts/broadcast_lifecycle.toml");
/// Two accounts at AM11: one reading English in Amsterdam, one French in Paris.
const TWO_SITES: &str = include_str!("fixtures/accounts/broadcast_two_sites.toml");
/// One account whose second maintenance contact has left: their mailbox is gone.
const BOUNCING: &str = include_str!("fixtures/accounts/broadcast_bouncing.toml");

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
    let g = Broadcast::start(LIFECYCLE, "");
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
        g.gate.json(&["maintenance", "list", "--json"]),
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

#[test]
fn a_standing_window_tells_each_occurrence_across_a_daylight_saving_change() {
    let g = Broadcast::start(TWO_SITES, "");
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
    let step = |g: &Broadcast,
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
        &g,
        "2027-02-23T23:00:00Z",
        "announcement",
        march,
        0,
        "CONFIRMED",
    );
    g.quiet_at(&["2027-03-01T22:59:00Z"]);
    step(
        &g,
        "2027-03-01T23:00:00Z",
        "reminder",
        march,
        0,
        "CONFIRMED",
    );
    step(&g, "2027-03-02T23:00:00Z", "start", march, 0, "IN-PROCESS");
    g.quiet_at(&["2027-03-03T04:59:00Z"]);
    step(
        &g,
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
        &g,
        "2027-03-30T22:00:00Z",
        "announcement",
        april,
        0,
        "CONFIRMED",
    );
    step(
        &g,
        "2027-04-05T22:00:00Z",
        "reminder",
        april,
        0,
        "CONFIRMED",
    );
    step(&g, "2027-04-06T22:00:00Z", "start", april, 0, "IN-PROCESS");
    step(
        &g,
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
        &g,
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
    step(&g, t, "cancellation", may, 1, "CANCELLED");
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
        &g,
        "2027-05-25T22:00:00Z",
        "announcement",
        june,
        1,
        "CONFIRMED",
    );
}

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
    let g = Broadcast::start(BOUNCING, "[limits]\nflag_after_hard_bounces = 2\n");
    let both = ["noc@acme.example", "gone@acme.example"];
    let entry = |g: &Broadcast, message_id: &str| -> Value {
        g.gate
            .outbox()
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
    g.gate.deliver(
        "1796115600.dsn1.mx",
        dsn(1, "gone@acme.example", &announcement),
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
    g.gate.deliver(
        "1796202000.dsn2.mx",
        dsn(2, "gone@acme.example", &reschedule),
    );
    let mails = g.run_at("2026-12-02T10:00:00Z");
    assert!(mails.is_empty(), "{:#?}", summary(&mails));
    assert_eq!(entry(&g, &reschedule.message_id)["state"], "failed");

    // The reminder goes to the working address only; the flagged one's is held, visibly.
    let t3 = "2026-12-09T23:00:00Z";
    let mails = g.run_at(t3);
    one_each(&mails, "reminder", &["noc@acme.example"]);
    let reminders: Vec<Value> = g
        .gate
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
    let v = g.gate.json(&["maintenance", "show", "MNT-1", "--json"]);
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
