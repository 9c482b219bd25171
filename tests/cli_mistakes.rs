//! What the command line says when an operator gets something wrong: a Maildir path with a
//! typo, a filter naming no desk or account, a reference typed in lower case, a second deskgate
//! on a sled store a daemon holds. Each test pins a defect found by trying the product; each
//! answer must name the thing and say what to do, in one line, with a non-zero exit.

mod common;

use common::{DeskConfig, Gate, GateConfig};
use serde_json::Value;

const MAIL: &str = "From: Jane <jane@acme.example>\r\nTo: servicedesk.nl@example.net\r\n\
                    Subject: Cross-connect down\r\nMessage-ID: <down@acme.example>\r\n\r\n\
                    The cross-connect in AM11 is down.\r\n";

/// Desk `nl` on the Maildir `inbox/`, with the accounts of `acme_gold.toml`.
fn setup() -> Gate {
    GateConfig::new()
        .accounts(include_str!("fixtures/accounts/acme_gold.toml"))
        .desk(DeskConfig::nl())
        .start()
}

/// Runs `deskgate <args>`, which must fail; its stderr.
fn fails(gate: &Gate, args: &[&str]) -> String {
    let out = gate.output(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "`deskgate {}` succeeded:\n{}{stderr}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

#[test]
fn a_maildir_path_with_a_typo_is_named_by_check_and_run_once_and_never_created() {
    let gate = setup();
    gate.reconfigure(|c| c.desk(DeskConfig::new("de", "servicedesk.de@example.net").maildir("x")));
    std::fs::remove_dir_all(gate.path("x")).expect("remove the second desk's Maildir");
    // The config names `x`; the operator meant it, but it is not there.
    let expected = format!(
        "desk de: maildir {} does not exist",
        gate.path("x").display()
    );

    let check = fails(&gate, &["check"]);
    assert!(check.contains(&expected), "{check}");

    let once = fails(&gate, &["run", "--once"]);
    assert!(once.contains(&expected), "{once}");
    assert!(
        !gate.path("x").exists(),
        "run --once created the Maildir it was told to read"
    );
    // The other desk was fetched all the same.
    gate.deliver("1.mail", MAIL);
    let again = fails(&gate, &["run", "--once"]);
    assert!(again.contains(&expected), "{again}");
    assert_eq!(gate.tickets().len(), 1, "desk nl still works");
}

#[test]
fn tickets_list_refuses_a_desk_or_account_it_does_not_know_and_names_the_known_ones() {
    let gate = setup();
    gate.deliver("1.mail", MAIL);
    gate.run_once();

    let desk = fails(&gate, &["tickets", "list", "--desk", "xx"]);
    assert!(desk.contains("no desk \"xx\""), "{desk}");
    assert!(desk.contains("nl"), "names the known desks: {desk}");
    let account = fails(&gate, &["tickets", "list", "--account", "nobody"]);
    assert!(
        account.contains("no account \"nobody\" in the accounts file"),
        "{account}"
    );
    assert!(
        account.contains("acme"),
        "names the known accounts: {account}"
    );

    // Known ones filter as before.
    assert_eq!(
        gate.list(&["tickets", "list", "--json", "--desk", "nl"])
            .len(),
        1
    );
    assert_eq!(
        gate.list(&["tickets", "list", "--json", "--account", "acme"])
            .len(),
        1
    );
}

#[test]
fn outbox_json_writes_every_field_of_the_readme_null_when_empty() {
    let gate = setup();
    gate.deliver("1.mail", MAIL);
    gate.run_once();
    let outbox = gate.outbox();
    assert!(!outbox.is_empty());
    for e in &outbox {
        for field in [
            "id",
            "ticket",
            "kind",
            "from",
            "to",
            "subject",
            "message_id",
            "state",
            "attempts",
            "created_at",
            "next_attempt_at",
            "sent_at",
            "last_error",
        ] {
            assert!(e.get(field).is_some(), "{field} missing in {e}");
        }
        assert_eq!(e["last_error"], Value::Null, "{e}");
    }
}

#[test]
fn references_typed_in_lower_case_are_found() {
    let gate = setup();
    gate.deliver("1.mail", MAIL);
    gate.run_once();
    let ticket = gate.json(&["tickets", "show", "nl-000001", "--json"]);
    assert_eq!(ticket["ref"], "NL-000001");
    let page = gate.list(&["tickets", "list", "--json", "--after", "nl-000000"]);
    assert_eq!(page.len(), 1, "--after in lower case");

    let now = "2026-12-01T09:00:00Z";
    let scheduled = gate.json(&[
        "maintenance",
        "schedule",
        "--title",
        "Core router upgrade AM11",
        "--start",
        "2026-12-10T00:00Z",
        "--end",
        "2026-12-10T04:00Z",
        "--json",
        "--now",
        now,
    ]);
    let id = scheduled["id"].as_str().expect("id").to_string();
    let shown = gate.json(&[
        "maintenance",
        "show",
        &id.to_ascii_lowercase(),
        "--json",
        "--now",
        now,
    ]);
    assert_eq!(shown["id"], id.as_str());

    let opened = gate.json(&[
        "incident",
        "open",
        "--title",
        "Packet loss AM11",
        "--message",
        "We are looking into it.",
        "--json",
        "--now",
        now,
    ]);
    let id = opened["id"].as_str().expect("id").to_string();
    let shown = gate.json(&["incident", "show", &id.to_ascii_lowercase(), "--json"]);
    assert_eq!(shown["id"], id.as_str());
}

#[test]
fn run_once_beside_a_running_daemon_says_the_store_is_in_use_in_one_line() {
    let gate = setup();
    let _daemon = gate.spawn_daemon();
    let err = fails(&gate, &["run", "--once"]);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.contains("is in use by another deskgate") && last.contains("is the daemon running?"),
        "{err}"
    );
    assert!(!err.contains("Os {"), "no Rust internals: {err}");
}
