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
