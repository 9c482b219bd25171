//! Who is told of a broadcast, end to end: the `deskgate` binary driven by the ops commands and
//! `run --once --now T`, a Maildir desk, Postfix's smtp-sink out. A partner is told for the
//! account it manages, and the account itself only of security incidents; an incident reaches
//! the accounts it affects (by site or by service) and no others, with each update verbatim.

mod common;
#[path = "common/notice.rs"]
mod notice;

use notice::{assert_contains, one_each, Broadcast};

/// A reseller managing a bakery at AM11, and a direct customer at AM11.
const PARTNER: &str = include_str!("fixtures/accounts/broadcast_partner.toml");
/// Affected by site (AM11), affected by service (cloud-connect), and not affected.
const INCIDENT: &str = include_str!("fixtures/accounts/broadcast_incident.toml");

#[test]
fn a_partner_is_told_for_its_customer_and_the_customer_itself_only_of_security_incidents() {
    let g = Broadcast::start(PARTNER, "");
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

#[test]
fn an_incident_is_told_to_the_affected_accounts_only_with_each_update_verbatim() {
    let g = Broadcast::start(INCIDENT, "");
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
    let v = g.gate.json(&["incident", "show", "INC-1", "--json"]);
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
