//! Accounts end to end with a manual clock: a real Dovecot in, the `deskgate` binary driven by
//! `run --once --now T`, Postfix's smtp-sink out. A partner-managed account's contact is pointed
//! to the partner; unknown senders are asked to register; and the daemon reloads the accounts
//! file on SIGHUP while mail flows. (The SLA clocks, handovers and times those accounts' plans
//! drive are in `e2e_sla.rs`.)

mod common;
#[path = "common/decoded.rs"]
mod decoded;

use common::{Captured, Rig, TextMail, RIG_DESK, RIG_PASSWORD};
use decoded::{body, subject, summary};
use serde_json::Value;
use std::time::Duration;

/// Tier 1 on shift around the clock in Amsterdam, tiers 2 and 3 without working hours.
const THREE_TIERS: &str = include_str!("fixtures/teams/three_tiers.toml");
/// A Gold account with one contact and a customer success manager.
const ACME: &str = include_str!("fixtures/accounts/acme_gold.toml");
/// A partner, an account it supports itself and one the provider supports directly.
const PARTNERS: &str = include_str!("fixtures/accounts/partner_support.toml");

/// Appends a mail sent on Friday 27 November 23:50 to the desk's INBOX; returns its Message-ID.
fn append(d: &Rig, from: &str, subject: &str, headers: &str, body: &str) -> String {
    let mail = d
        .mail(from, subject)
        .date("Fri, 27 Nov 2026 23:50:00 +0100");
    d.append_mail(&mail.headers(headers).body(body))
}

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
    let d = Rig::staffed(THREE_TIERS, Some(PARTNERS));
    append(
        &d,
        "Paul Martin <it@boulangerie-martin.example>",
        "Notre VM ne démarre plus",
        "",
        "Bonjour, notre VM web01 ne démarre plus depuis ce matin.",
    );
    append(
        &d,
        "Claire Durand <claire@atelier-durand.example>",
        "Question about our rack",
        "",
        "Could you tell us the power budget of our rack in PA3?",
    );
    let pass = d.pass_at("2026-11-24T10:00:00+01:00");
    let tickets = d.gate.tickets();

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
    let outbox = d.gate.outbox();
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
    let d = Rig::staffed(THREE_TIERS, Some(ACME));
    append(
        &d,
        "Sam Stranger <sam@unknown-corp.example>",
        "Quote for a cage",
        "",
        "We would like a quote for a cage in AM11.",
    );
    append(
        &d,
        "Bob Builder <bob@acme.example>",
        "Remote hands in AM11",
        "",
        "Please reseat the optic in port 12 of our switch.",
    );
    append(
        &d,
        "Mo <mo.someone@gmail.com>",
        "Access to AM11",
        "",
        "Can I visit the data centre tomorrow?",
    );
    let pass = d.pass_at("2026-11-24T10:00:00+01:00");
    let tickets = d.gate.tickets();
    let outbox = d.gate.outbox();

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
    let show = d.gate.ticket(bob["ref"].as_str().unwrap_or("?"));
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

/// A mail from the newcomer, numbered.
fn order_mail(i: usize) -> Vec<u8> {
    TextMail::new(
        "Nora Newcomer <nora@newcomer-bv.example>",
        &format!("Order {i:02}"),
        &format!("order{i}@newcomer-bv.example"),
    )
    .body(&format!(
        "Please add cross-connect number {i} to our order."
    ))
    .bytes()
}

#[test]
fn sighup_reloads_accounts_while_mail_flows() {
    let d = Rig::staffed(THREE_TIERS, Some(ACME));
    let daemon = d.gate.spawn_daemon();
    let tickets = |d: &Rig| d.gate.tickets();

    // Nora is nobody's contact yet.
    for i in 1..=4 {
        d.append(&order_mail(i));
    }
    daemon.wait_until("four tickets", Duration::from_secs(20), || {
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
                dovecot.append(RIG_DESK, RIG_PASSWORD, "INBOX", &order_mail(i));
                std::thread::sleep(Duration::from_millis(150));
            }
        });
        // The reload comes while the mails flow: once the daemon has made tickets of some.
        daemon.wait_until(
            "the first mails of the feeder",
            Duration::from_secs(20),
            || tickets(&d).len() >= 6,
        );
        d.gate.write_accounts(&with_nora);
        daemon.hangup();
        daemon.wait_until("the reload", Duration::from_secs(10), || {
            daemon.count("accounts loaded") > loads_before
        });
        feeder.join().expect("feeder");
    });
    for i in 17..=20 {
        d.append(&order_mail(i));
    }
    daemon.wait_until("twenty tickets", Duration::from_secs(20), || {
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
    d.gate
        .write_accounts(&ACME.replace("domains =", "colour = \"red\"\ndomains ="));
    daemon.hangup();
    daemon.wait_until("the refusal", Duration::from_secs(10), || {
        daemon.count("accounts not reloaded") > refusals_before
    });
    assert!(
        daemon.is_running(),
        "the daemon keeps running:\n{}",
        daemon.tail()
    );
    assert!(
        daemon.log().contains("colour"),
        "the log names the problem:\n{}",
        daemon.tail()
    );
    d.append(&order_mail(21));
    daemon.wait_until("the 21st ticket", Duration::from_secs(20), || {
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
    assert_eq!(d.gate.tickets().len(), 21, "the store holds every ticket");
}
