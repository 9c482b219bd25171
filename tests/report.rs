//! `deskgate report`: the monthly report of November 2026 against figures computed by hand.
//!
//! The store is filled through the library (tickets, their SLA clocks, status changes and time
//! logged, as the ingest would leave them), then the binary is run on it, with no daemon and next
//! to a running one. Every instant is in the past of the day the tests were written
//! (2026-11-23), so the targets' states no longer change with the clock; `--now` asks the same
//! question as of an instant inside the month.
//!
//! The tickets, in Amsterdam time unless said otherwise (November 2026 is at +01:00; 1 November
//! is a Sunday):
//!
//! | ticket | account    | plan   | prio | opened             | what happens                                   |
//! |--------|------------|--------|------|--------------------|------------------------------------------------|
//! | T1     | acme       | Gold   | P1   | Sat 31 Oct 23:30   | answered 23:40, 60 min logged 23:50 (October); 30 min logged 1 Nov 01:00, resolved 1 Nov 02:00 |
//! | T2     | acme       | Gold   | P1   | Mon 2 Nov 09:00    | answered 09:10, 90 min logged 12:00, resolved 12:30 |
//! | T3     | acme       | Gold   | P1   | Tue 3 Nov 09:00    | answered 09:30, 45 min logged 13:00, resolved 14:00 |
//! | T4     | acme       | Gold   | P1   | Wed 4 Nov 09:00    | answered 09:05, pending 10:00–12:00, resolved 14:30 |
//! | T5     | acme       | Gold   | P2   | Thu 5 Nov 10:00    | answered 10:20, pending from 11:00 on          |
//! | T6     | newbronze  | Bronze | P3   | Sun 1 Nov 00:10    | never answered, 45 min logged 6 Nov 10:00     |
//! | T7     | oldbronze  | Bronze | P2   | Tue 10 Nov 09:00   | answered 10:00, 50 min logged, closed 20:00   |
//! | T8     | (none)     | Standard | P4 | Thu 12 Nov 09:00   | 20 min logged 10:00, answered 13 Nov 09:00    |
//! | T9     | office     | Office | P2   | Fri 6 Nov 16:00    | answered 16:30, resolved Mon 9 Nov 13:00      |
//! | T10    | tokyo      | Gold   | P3   | 31 Oct 16:30 UTC   | answered 17:00 UTC, 30 min logged 16:45 UTC   |
//!
//! Targets (config/plans.default.toml): Gold P1 15m / 4h, Gold P2 30m / 8h, Gold P3 2h / none,
//! Bronze P2 2h / 24h, Bronze P3 8h / none, Standard P4 2d / none; the test's Office plan P2
//! 1h / 8h counted in business hours (Mon–Fri 08:00–18:00 Amsterdam).

mod common;

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Europe::Amsterdam;
use common::{DeskConfig, Gate, GateConfig};
use deskgate::core::address::Address;
use deskgate::core::service::sla::{SlaClock, Targets};
use deskgate::core::service::ticket::{Opening, Priority, Status, Ticket};
use deskgate::store::Store;
use serde_json::{json, Value};

const ENGINEER: &str = "eva@provider.example";

/// An instant given in Amsterdam local time.
fn ams(s: &str) -> DateTime<Utc> {
    let local = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("test time");
    Amsterdam
        .from_local_datetime(&local)
        .earliest()
        .expect("existing local time")
        .with_timezone(&Utc)
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test instant")
        .with_timezone(&Utc)
}

/// A ticket as the ingest opens it: account, plan, priority, and its SLA clock started.
fn open(
    n: u32,
    account: Option<&str>,
    plan: &str,
    priority: Priority,
    targets: (Option<i64>, Option<i64>),
    at: DateTime<Utc>,
) -> Ticket {
    let mut t = Ticket::open(
        Opening {
            reference: format!("NL-{n:06}"),
            desk: "nl",
            language: "nl",
            subject: "report test",
            requester: Address::new(None, &format!("user{n}@customer.example")),
            others: &[],
            message_id: &format!("t{n}@customer.example"),
        },
        at,
    );
    t.account = account.map(str::to_string);
    t.plan = Some(plan.to_string());
    t.priority = priority;
    t.sla = Some(SlaClock::start(
        at,
        Targets {
            first_response: targets.0.map(Duration::minutes),
            restore: targets.1.map(Duration::minutes),
        },
    ));
    t
}

/// The first answer from staff.
fn answer(t: &mut Ticket, at: DateTime<Utc>) {
    if let Some(sla) = t.sla.as_mut() {
        sla.responded(at);
    }
    t.set_status(Status::Open, ENGINEER, at);
}

const H: i64 = 60;

/// The ten tickets of the table above.
fn tickets() -> Vec<Ticket> {
    let gold_p1 = (Some(15), Some(4 * H));
    let mut t1 = open(
        1,
        Some("acme"),
        "gold",
        Priority::P1,
        gold_p1,
        ams("2026-10-31 23:30"),
    );
    answer(&mut t1, ams("2026-10-31 23:40"));
    t1.log_time(60, ENGINEER, ams("2026-10-31 23:50"));
    t1.log_time(30, ENGINEER, ams("2026-11-01 01:00"));
    t1.set_status(Status::Resolved, ENGINEER, ams("2026-11-01 02:00"));

    let mut t2 = open(
        2,
        Some("acme"),
        "gold",
        Priority::P1,
        gold_p1,
        ams("2026-11-02 09:00"),
    );
    answer(&mut t2, ams("2026-11-02 09:10"));
    t2.log_time(90, ENGINEER, ams("2026-11-02 12:00"));
    t2.set_status(Status::Resolved, ENGINEER, ams("2026-11-02 12:30"));

    let mut t3 = open(
        3,
        Some("acme"),
        "gold",
        Priority::P1,
        gold_p1,
        ams("2026-11-03 09:00"),
    );
    answer(&mut t3, ams("2026-11-03 09:30"));
    t3.log_time(45, ENGINEER, ams("2026-11-03 13:00"));
    t3.set_status(Status::Resolved, ENGINEER, ams("2026-11-03 14:00"));

    let mut t4 = open(
        4,
        Some("acme"),
        "gold",
        Priority::P1,
        gold_p1,
        ams("2026-11-04 09:00"),
    );
    answer(&mut t4, ams("2026-11-04 09:05"));
    t4.set_status(Status::Pending, ENGINEER, ams("2026-11-04 10:00"));
    t4.set_status(
        Status::Open,
        "user4@customer.example",
        ams("2026-11-04 12:00"),
    );
    t4.set_status(Status::Resolved, ENGINEER, ams("2026-11-04 14:30"));

    let gold_p2 = (Some(30), Some(8 * H));
    let mut t5 = open(
        5,
        Some("acme"),
        "gold",
        Priority::P2,
        gold_p2,
        ams("2026-11-05 10:00"),
    );
    answer(&mut t5, ams("2026-11-05 10:20"));
    t5.set_status(Status::Pending, ENGINEER, ams("2026-11-05 11:00"));

    let bronze_p3 = (Some(8 * H), None);
    let mut t6 = open(
        6,
        Some("newbronze"),
        "bronze",
        Priority::P3,
        bronze_p3,
        ams("2026-11-01 00:10"),
    );
    t6.log_time(45, ENGINEER, ams("2026-11-06 10:00"));

    let bronze_p2 = (Some(2 * H), Some(24 * H));
    let mut t7 = open(
        7,
        Some("oldbronze"),
        "bronze",
        Priority::P2,
        bronze_p2,
        ams("2026-11-10 09:00"),
    );
    answer(&mut t7, ams("2026-11-10 10:00"));
    t7.log_time(50, ENGINEER, ams("2026-11-10 11:00"));
    t7.set_status(Status::Closed, ENGINEER, ams("2026-11-10 20:00"));

    let standard_p4 = (Some(48 * H), None);
    let mut t8 = open(
        8,
        None,
        "Standard",
        Priority::P4,
        standard_p4,
        ams("2026-11-12 09:00"),
    );
    t8.log_time(20, ENGINEER, ams("2026-11-12 10:00"));
    answer(&mut t8, ams("2026-11-13 09:00"));

    let office_p2 = (Some(H), Some(8 * H));
    let mut t9 = open(
        9,
        Some("office"),
        "Office",
        Priority::P2,
        office_p2,
        ams("2026-11-06 16:00"),
    );
    answer(&mut t9, ams("2026-11-06 16:30"));
    t9.set_status(Status::Resolved, ENGINEER, ams("2026-11-09 13:00"));

    let gold_p3 = (Some(2 * H), None);
    let mut t10 = open(
        10,
        Some("tokyo"),
        "gold",
        Priority::P3,
        gold_p3,
        utc("2026-10-31T16:30:00Z"),
    );
    t10.log_time(30, ENGINEER, utc("2026-10-31T16:45:00Z"));
    answer(&mut t10, utc("2026-10-31T17:00:00Z"));

    vec![t1, t2, t3, t4, t5, t6, t7, t8, t9, t10]
}

/// The accounts of the report: Gold, two Bronze of different ages, Office hours, Gold in Tokyo.
const ACCOUNTS: &str = include_str!("fixtures/accounts/report_november.toml");

/// The Office plan: 1 h of expert time a month, P2 targets counted in business hours.
const OFFICE_PLAN: &str = r#"
[[calendar]]
name = "office"
timezone = "Europe/Amsterdam"
hours = "08:00-18:00"
days = "Mon-Fri"
[[plan]]
name = "Office"
calendar = "office"
allowance_hours = 1
[plan.targets]
P2 = { response = "1h", restore = "8h" }
"#;

/// A deployment in Amsterdam time with the accounts above and the tickets in its store.
fn setup() -> Gate {
    let gate = GateConfig::new()
        .general("timezone", "Europe/Amsterdam")
        .accounts(ACCOUNTS)
        .plans(OFFICE_PLAN)
        .desk(DeskConfig::new("nl", "servicedesk.nl@example.net").language("nl"))
        .start();
    let store = Store::open(&gate.path("store")).expect("store");
    let mut txn = store.txn();
    for t in tickets() {
        txn.put_ticket(&t);
    }
    txn.commit().expect("commit");
    store.flush().expect("flush");
    gate
}

/// The JSON report of `deskgate <args>`, without `as_of` (the instant it was made).
fn report(gate: &Gate, args: &[&str]) -> Value {
    let mut v = gate.json(args);
    let as_of = v.as_object_mut().and_then(|o| o.remove("as_of"));
    assert!(
        as_of.as_ref().and_then(Value::as_str).is_some(),
        "no as_of in {v}"
    );
    v
}

/// One priority row: opened, resolved, first response and restore as [met, missed, running].
fn row(p: &str, opened: u32, resolved: u32, response: [u32; 3], restore: [u32; 3]) -> Value {
    let count = |c: [u32; 3]| json!({"met": c[0], "missed": c[1], "running": c[2]});
    json!({
        "priority": p,
        "opened": opened,
        "resolved": resolved,
        "first_response": count(response),
        "restore": count(restore),
    })
}

fn hours(
    account: &str,
    plan: Option<&str>,
    minutes: u64,
    used: f64,
    allowance: f64,
    remaining: f64,
) -> Value {
    json!({
        "account": account,
        "plan": plan,
        "used_minutes": minutes,
        "used_hours": used,
        "allowance_hours": allowance,
        "remaining_hours": remaining,
    })
}

/// The report of every account, in the deployment's zone (Amsterdam).
///
/// November in Amsterdam runs from 2026-10-31T23:00Z to 2026-11-30T23:00Z. T1 (31 Oct 23:30)
/// and T10 (31 Oct 17:30 local) were opened in October; T6 (1 Nov 00:10, still 31 Oct in UTC)
/// in November.
fn all_accounts() -> Value {
    json!({
        "month": "2026-11",
        "timezone": "Europe/Amsterdam",
        "account": null,
        // T2, T3, T4, T5, T6, T7, T8, T9.
        "opened": 8,
        // T1 (1 Nov 02:00), T2, T3, T4, T7 (closed without being resolved first), T9.
        "resolved": 6,
        "per_priority": [
            // P1 opened: T2, T3, T4; resolved T1..T4.
            // Response: T2 09:10 ≤ 09:15 met; T3 09:30 > 09:15 missed; T4 09:05 met.
            // Restore: T2 12:30 ≤ 13:00 met; T3 14:00 > 13:00 missed; T4 ran 1 h before the
            // pause, 3 h after 12:00, due 15:00: 14:30 met (without the pause, due 13:00: missed).
            row("P1", 3, 4, [2, 1, 0], [2, 1, 0]),
            // P2 opened: T5, T7, T9; resolved T7, T9.
            // Response: T5 20 min ≤ 30 met; T7 1 h ≤ 2 h met; T9 30 min ≤ 1 h met.
            // Restore: T5 paused after 1 h of 8: running; T7 11 h ≤ 24 h met; T9 in business
            // hours Fri 16:00-18:00 (2 h) + Mon 08:00-14:00 (6 h), due Mon 14:00: 13:00 met
            // (on 24x7 it would have been due Sat 00:00: missed).
            row("P2", 3, 2, [3, 0, 0], [2, 0, 1]),
            // P3 opened: T6 (T10 is October here). Never answered, due 1 Nov 08:10: missed.
            row("P3", 1, 0, [0, 1, 0], [0, 0, 0]),
            // P4 opened: T8, answered after 24 h of 48: met. Standard sets no restore target.
            row("P4", 1, 0, [1, 0, 0], [0, 0, 0]),
        ],
        "expert_hours": [
            // T1 30 (the 60 of 31 Oct are October's) + T2 90 + T3 45 = 165 min = 2.75 h; Gold 4 h.
            hours("acme", Some("Gold"), 165, 2.75, 4.0, 1.25),
            // T6 45 min = 0.75 h; Bronze 2 h in its third month (since 20 Sep).
            hours("newbronze", Some("Bronze"), 45, 0.75, 2.0, 1.25),
            // Nothing logged, but 1 h of allowance on the Office plan.
            hours("office", Some("Office"), 0, 0.0, 1.0, 1.0),
            // T7 50 min = 0.83 h; Bronze past its first three months (Jul-Sep): 0 h.
            hours("oldbronze", Some("Bronze"), 50, 0.83, 0.0, -0.83),
            // T10's 30 min are 31 Oct 17:45 in Amsterdam: October. Gold 4 h.
            hours("tokyo", Some("Gold"), 0, 0.0, 4.0, 4.0),
            // T8 20 min = 0.33 h, no account, no allowance.
            hours("unassigned", None, 20, 0.33, 0.0, -0.33),
        ],
    })
}

#[test]
fn the_monthly_report_matches_the_figures_computed_by_hand() {
    let s = setup();
    assert_eq!(
        report(&s, &["report", "--month", "2026-11", "--json"]),
        all_accounts()
    );
}

#[test]
fn one_account_counts_its_own_tickets_in_its_own_time_zone() {
    let s = setup();
    assert_eq!(
        report(
            &s,
            &[
                "report",
                "--month",
                "2026-11",
                "--account",
                "acme",
                "--json"
            ]
        ),
        json!({
            "month": "2026-11",
            "timezone": "Europe/Amsterdam",
            "account": "acme",
            // T2, T3, T4, T5.
            "opened": 4,
            // T1, T2, T3, T4.
            "resolved": 4,
            "per_priority": [
                row("P1", 3, 4, [2, 1, 0], [2, 1, 0]),
                row("P2", 1, 0, [1, 0, 0], [0, 0, 1]),
                row("P3", 0, 0, [0, 0, 0], [0, 0, 0]),
                row("P4", 0, 0, [0, 0, 0], [0, 0, 0]),
            ],
            "expert_hours": [hours("acme", Some("Gold"), 165, 2.75, 4.0, 1.25)],
        })
    );
    // November in Tokyo (+09:00) runs from 2026-10-31T15:00Z: T10, opened 16:30Z (1 Nov 01:30
    // there), is November's, and so are its 30 minutes (16:45Z). Answered after 30 min of 2 h.
    assert_eq!(
        report(
            &s,
            &[
                "report",
                "--month",
                "2026-11",
                "--account",
                "tokyo",
                "--json"
            ]
        ),
        json!({
            "month": "2026-11",
            "timezone": "Asia/Tokyo",
            "account": "tokyo",
            "opened": 1,
            "resolved": 0,
            "per_priority": [
                row("P1", 0, 0, [0, 0, 0], [0, 0, 0]),
                row("P2", 0, 0, [0, 0, 0], [0, 0, 0]),
                row("P3", 1, 0, [1, 0, 0], [0, 0, 0]),
                row("P4", 0, 0, [0, 0, 0], [0, 0, 0]),
            ],
            // 30 min = 0.5 h of Gold's 4 h.
            "expert_hours": [hours("tokyo", Some("Gold"), 30, 0.5, 4.0, 3.5)],
        })
    );
    // October for acme: T1 opened (answered 10 min in: met; restored 2 h 30 min in: met, but
    // resolved in November), 60 min logged.
    let october = report(
        &s,
        &[
            "report",
            "--month",
            "2026-10",
            "--account",
            "acme",
            "--json",
        ],
    );
    assert_eq!(october["opened"], 1);
    assert_eq!(october["resolved"], 0);
    assert_eq!(
        october["per_priority"][0],
        row("P1", 1, 0, [1, 0, 0], [1, 0, 0])
    );
    assert_eq!(
        october["expert_hours"],
        json!([hours("acme", Some("Gold"), 60, 1.0, 4.0, 3.0)])
    );
}

#[test]
fn csv_has_the_priority_table_a_blank_line_and_the_hours_table() {
    let s = setup();
    let csv = s.ok(&["report", "--month", "2026-11", "--csv"]);
    assert_eq!(
        csv,
        "priority,opened,resolved,first_response_met,first_response_missed,first_response_running,restore_met,restore_missed,restore_running\n\
         P1,3,4,2,1,0,2,1,0\n\
         P2,3,2,3,0,0,2,0,1\n\
         P3,1,0,0,1,0,0,0,0\n\
         P4,1,0,1,0,0,0,0,0\n\
         \n\
         account,plan,used_minutes,used_hours,allowance_hours,remaining_hours\n\
         acme,Gold,165,2.75,4.00,1.25\n\
         newbronze,Bronze,45,0.75,2.00,1.25\n\
         office,Office,0,0.00,1.00,1.00\n\
         oldbronze,Bronze,50,0.83,0.00,-0.83\n\
         tokyo,Gold,0,0.00,4.00,4.00\n\
         unassigned,,20,0.33,0.00,-0.33\n"
    );
}

#[test]
fn the_table_for_people_names_the_month_and_every_figure() {
    let s = setup();
    let text = s.ok(&["report", "--month", "2026-11", "--account", "oldbronze"]);
    assert!(
        text.starts_with("Report 2026-11 (Europe/Amsterdam), account oldbronze, targets as of "),
        "{text}"
    );
    assert!(text.contains("Opened 1, resolved 1."), "{text}");
    let p2 = text.lines().find(|l| l.starts_with("P2")).expect("P2 line");
    let figures: Vec<&str> = p2.split_whitespace().collect();
    assert_eq!(
        figures,
        ["P2", "1", "1", "1", "/", "0", "/", "0", "1", "/", "0", "/", "0"],
        "{text}"
    );
    let hours = text
        .lines()
        .find(|l| l.starts_with("oldbronze"))
        .expect("hours line");
    assert_eq!(
        hours.split_whitespace().collect::<Vec<_>>(),
        ["oldbronze", "Bronze", "0.83", "0.00", "-0.83"],
        "{text}"
    );
}

#[test]
fn a_bad_month_or_an_unknown_account_is_refused_with_a_reason() {
    let s = setup();
    let out = s.output(&["report", "--month", "2026-13"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid month \"2026-13\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = s.output(&["report", "--month", "2026-11", "--account", "nobody"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no account \"nobody\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = s.output(&["report", "--month", "2026-11", "--json", "--csv"]);
    assert_eq!(out.status.code(), Some(2), "--json and --csv together");
}

/// `--now` judges the targets still running as of that instant, not as of today: T6 (Bronze P3,
/// opened 1 Nov 00:10 and never answered, response due 08:10) is running at 08:00 and missed
/// from 08:10 on. The same question is answered the same way by a running daemon.
#[test]
fn report_now_judges_running_targets_as_of_that_instant() {
    let s = setup();
    let p3_response = |v: &Value| v["per_priority"][2]["first_response"].clone();
    let at =
        |now: &str| -> Value { s.json(&["report", "--month", "2026-11", "--json", "--now", now]) };
    let before = at("2026-11-01T08:00:00+01:00");
    assert_eq!(before["as_of"], json!("2026-11-01T07:00:00Z"));
    assert_eq!(
        p3_response(&before),
        json!({"met": 0, "missed": 0, "running": 1})
    );
    let after = at("2026-11-01T08:10:00+01:00");
    assert_eq!(
        p3_response(&after),
        json!({"met": 0, "missed": 1, "running": 0})
    );

    let daemon = s.spawn_daemon();
    let through_daemon = at("2026-11-01T08:00:00+01:00");
    daemon.stop();
    assert_eq!(through_daemon, before);
}

#[test]
fn a_running_daemon_answers_the_same_report() {
    let s = setup();
    let daemon = s.spawn_daemon();
    let through_daemon = report(&s, &["report", "--month", "2026-11", "--json"]);
    daemon.stop();
    assert_eq!(through_daemon, all_accounts());
}
