//! What an operator installs and reads, through the real binary: one self-contained `deskgate`
//! (templates built in, overrides per file, paths relative to the config file, run from any
//! folder), `templates list`/`preview`, `check` on overrides, the one-line pass summary, JSON
//! logs, systemd's notification protocol (READY, WATCHDOG, RELOADING, STOPPING) heard on a
//! socket the test binds as systemd would, and output into a reader that went away (`| head`).

mod common;

use common::{run_with_timeout, DeskConfig, Gate, GateConfig, TextMail};
use serde_json::Value;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(120);

/// Desk `nl` on the Maildir `inbox/`, with template overrides in `overrides/` of the gate's dir
/// (written relative, as an administrator would: resolved against the config's folder).
fn gate() -> Gate {
    GateConfig::new()
        .templates("overrides")
        .desk(DeskConfig::nl())
        .start()
}

/// A customer's first mail.
fn first_mail(gate: &Gate) {
    let mail = TextMail::new(
        "Jane Doe <jane@customer.example>",
        "Link down in AM11",
        "m1@customer.example",
    );
    gate.deliver("1.mail", mail.bytes());
}

/// Writes an override `<key>.hbs` (`en/ack.subject`) into the gate's `overrides/`.
fn write_override(gate: &Gate, key: &str, text: &str) {
    let path = gate.path("overrides").join(format!("{key}.hbs"));
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, text).expect("write override");
}

/// `deskgate --config <gate's config> <args>`, run from `cwd`.
fn run_in(gate: &Gate, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = gate.cmd(args);
    cmd.current_dir(cwd).envs(env.iter().copied());
    run_with_timeout(&mut cmd, LIMIT)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The subjects of the mails "sent" into the gate's `outbox/` folder (the file transport).
fn sent_subjects(gate: &Gate) -> Vec<String> {
    let mut subjects: Vec<String> = std::fs::read_dir(gate.path("outbox"))
        .expect("read outbox/")
        .flatten()
        .filter_map(|f| std::fs::read_to_string(f.path()).ok())
        .filter_map(|mail| {
            mail.lines()
                .find_map(|l| l.strip_prefix("Subject: ").map(str::to_string))
        })
        .collect();
    subjects.sort();
    subjects
}

#[test]
fn a_pass_from_another_folder_without_templates_uses_the_built_in_ones_and_ends_with_one_line() {
    let gate = gate();
    assert!(!gate.path("overrides").exists());
    first_mail(&gate);
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let out = run_in(&gate, elsewhere.path(), &["run", "--once"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let line = stdout(&out);
    assert_eq!(
        line.trim_end(),
        "1 mail: 1 new ticket; 1 mail sent",
        "{}",
        stderr(&out)
    );
    assert_eq!(line.lines().count(), 1);
    assert!(
        !stderr(&out).contains("OnceReport"),
        "no debug dump in the log: {}",
        stderr(&out)
    );
    // Nothing was created in the working directory: the store is beside the config.
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).expect("read").count(),
        0
    );
    assert!(gate.path("store").exists());
    let subjects = sent_subjects(&gate);
    assert_eq!(subjects.len(), 1, "{subjects:?}");
    assert!(subjects[0].contains("[NL-000001]"), "{subjects:?}");

    // The same pass again: nothing new, and the machine form is unchanged.
    let out = run_in(&gate, elsewhere.path(), &["run", "--once", "--json"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).expect("--json prints JSON");
    assert_eq!(
        (report["fetched"].as_u64(), report["sent"].as_u64()),
        (Some(0), Some(0))
    );
    let out = run_in(&gate, elsewhere.path(), &["run", "--once"], &[]);
    assert_eq!(stdout(&out).trim_end(), "no new mail; nothing sent");
}

#[test]
fn an_override_on_disk_wins_for_its_template_and_the_others_stay_built_in() {
    let gate = gate();
    write_override(
        &gate,
        "en/ack.subject",
        "[{{ref}}] We have your mail: {{subject}}",
    );
    first_mail(&gate);
    gate.run_once();
    assert_eq!(
        sent_subjects(&gate),
        ["[NL-000001] We have your mail: Link down in AM11"]
    );

    let list = gate.ok(&["templates", "list"]);
    let line = |name: &str| {
        list.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} in:\n{list}"))
            .to_string()
    };
    assert!(line("ack").contains("overridden: en/ack.subject"), "{list}");
    assert!(line("ack").contains("de,en,es,fr,it,nl,pt"), "{list}");
    assert!(line("reply").ends_with("built-in"), "{list}");
    assert!(
        line("notify").contains("staff") && line("notify").contains(" en "),
        "{list}"
    );
    let override_path = gate.path("overrides/en/ack.subject.hbs");
    assert!(
        list.contains(&override_path.display().to_string()),
        "{list}"
    );

    let json = gate.json(&["templates", "list", "--json"]);
    let ack = json
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == "ack"))
        .expect("ack in the JSON list");
    assert_eq!(ack["source"], "overridden");
    assert_eq!(ack["overrides"][0]["template"], "en/ack.subject");

    let en = gate.ok(&["templates", "preview", "ack", "--lang", "en"]);
    assert!(
        en.starts_with("Subject: [NL-000001] We have your mail: Link down in AM11\n"),
        "{en}"
    );
    let fr = gate.ok(&["templates", "preview", "ack", "--lang", "fr"]);
    assert!(fr.starts_with("Subject: [NL-000001] Demande reçue"), "{fr}");
    assert!(fr.contains("Bonjour Jane Doe"), "{fr}");
    let html = gate.ok(&["templates", "preview", "reply", "--lang", "fr", "--html"]);
    assert!(
        html.starts_with("<!DOCTYPE html>") && html.contains("lang=\"fr\""),
        "{html}"
    );
    let unknown = gate.output(&["templates", "preview", "akc"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("no template is called \"akc\""),
        "{}",
        stderr(&unknown)
    );

    let check = gate.ok(&["check"]);
    assert!(check.contains("1 override"), "{check}");
}

#[test]
fn check_rejects_broken_overrides_naming_each_file() {
    let gate = gate();
    write_override(
        &gate,
        "fr/reply.txt",
        "{{#if staff.nmae}}{{staff.name}}{{/if}} {{text}} {{ref}}",
    );
    write_override(&gate, "nl/akc.subject", "[{{ref}}]");
    let out = gate.output(&["check"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    let reply = gate
        .path("overrides/fr/reply.txt.hbs")
        .display()
        .to_string();
    assert!(
        err.contains(&format!(
            "{reply}: {{{{staff.nmae}}}} is not a variable of reply"
        )),
        "{err}"
    );
    assert!(err.contains("no template is called \"akc\""), "{err}");

    // One that does not compile stops the daemon from starting, and check names it.
    write_override(&gate, "de/ack.txt", "{{#if ref}}never closed");
    let out = gate.output(&["check"]);
    assert_eq!(out.status.code(), Some(1));
    let ack = gate.path("overrides/de/ack.txt.hbs").display().to_string();
    assert!(stderr(&out).contains(&ack), "{}", stderr(&out));
    let pass = gate.output(&["run", "--once"]);
    assert!(!pass.status.success());
    assert!(stderr(&pass).contains(&ack), "{}", stderr(&pass));
}

#[test]
fn the_example_config_passes_check_from_any_folder() {
    // Copied as an operator installs it, with its desk's Maildir made (check refuses a Maildir
    // that does not exist); its relative paths are read from its own folder.
    let installed = tempfile::tempdir().expect("tempdir");
    let example = installed.path().join("deskgate.toml");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/deskgate.example.toml"),
        &example,
    )
    .expect("copy the example");
    std::fs::create_dir_all(installed.path().join("var/inbox-pt/new")).expect("the Maildir");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let out = run_with_timeout(
        std::process::Command::new(env!("CARGO_BIN_EXE_deskgate"))
            .arg("--config")
            .arg(&example)
            .arg("check")
            .current_dir(elsewhere.path()),
        LIMIT,
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn queries_answer_on_stdout_without_log_lines_unless_asked() {
    let gate = gate();
    first_mail(&gate);
    let pass = run_with_timeout(
        gate.cmd(&["run", "--once"]).env_remove("DESKGATE_LOG"),
        LIMIT,
    );
    assert!(
        stderr(&pass).contains("INFO"),
        "a pass logs its progress: {}",
        stderr(&pass)
    );
    let quiet = run_with_timeout(
        gate.cmd(&["tickets", "list"]).env_remove("DESKGATE_LOG"),
        LIMIT,
    );
    assert!(quiet.status.success(), "{}", stderr(&quiet));
    assert!(stdout(&quiet).contains("NL-000001"), "{}", stdout(&quiet));
    assert_eq!(stderr(&quiet), "", "nothing but the answer");
    let asked = run_in(
        &gate,
        gate.dir(),
        &["tickets", "list"],
        &[("DESKGATE_LOG", "info")],
    );
    assert!(
        stderr(&asked).contains("opening store"),
        "{}",
        stderr(&asked)
    );
}

#[test]
fn json_logs_are_one_json_object_per_line() {
    let gate = gate();
    first_mail(&gate);
    let out = run_in(
        &gate,
        gate.dir(),
        &["run", "--once"],
        &[("DESKGATE_LOG_FORMAT", "json")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let log = stderr(&out);
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() > 3, "{log}");
    for l in &lines {
        assert!(l["timestamp"].is_string() && l["level"].is_string(), "{l}");
    }
    let done = lines
        .iter()
        .find(|l| l["fields"]["message"] == "pass complete")
        .unwrap_or_else(|| panic!("no pass complete line in {log}"));
    assert_eq!(done["fields"]["created"], 1);
    assert_eq!(
        done["fields"]["summary"],
        "1 mail: 1 new ticket; 1 mail sent"
    );
    // A mail's span comes along, so a shipper can index by desk and Message-ID.
    assert!(
        lines
            .iter()
            .any(|l| l["spans"].as_array().is_some_and(|s| !s.is_empty())),
        "{log}"
    );
}

/// The messages on `socket` until one contains `want`, or a panic after `timeout`.
fn wait_message(socket: &UnixDatagram, want: &str, timeout: Duration, seen: &mut Vec<String>) {
    let until = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    while Instant::now() < until {
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        if let Ok(n) = socket.recv(&mut buf) {
            let message = String::from_utf8_lossy(&buf[..n]).into_owned();
            let found = message.lines().any(|l| l == want);
            seen.push(message);
            if found {
                return;
            }
        }
    }
    panic!("no {want} within {timeout:?}; heard {seen:?}");
}

#[test]
fn systemd_hears_ready_watchdog_reloading_and_stopping() {
    let gate = gate();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
    let notify = path.display().to_string();
    let daemon = gate.spawn_with_env(
        &["run"],
        &[
            ("NOTIFY_SOCKET", notify.as_str()),
            ("WATCHDOG_USEC", "1000000"),
        ],
    );
    let mut seen = Vec::new();
    wait_message(&socket, "READY=1", Duration::from_secs(20), &mut seen);
    assert!(
        seen.last()
            .is_some_and(|m| m.contains("STATUS=running: 1 desk")),
        "{seen:?}"
    );
    // Once READY=1 is said, the CLI reaches the daemon.
    assert!(gate.daemon_answers());
    // Half of WATCHDOG_USEC: twice a second.
    wait_message(&socket, "WATCHDOG=1", Duration::from_secs(5), &mut seen);
    wait_message(&socket, "WATCHDOG=1", Duration::from_secs(5), &mut seen);

    daemon.hangup();
    seen.clear();
    wait_message(&socket, "RELOADING=1", Duration::from_secs(10), &mut seen);
    wait_message(&socket, "READY=1", Duration::from_secs(10), &mut seen);

    let stopping = std::thread::spawn(move || {
        let mut seen = Vec::new();
        wait_message(&socket, "STOPPING=1", Duration::from_secs(20), &mut seen);
        seen
    });
    let status = daemon.terminate();
    assert!(status.success(), "{status}");
    stopping.join().expect("STOPPING=1 heard");
}

/// The unit in `contrib/` says what the daemon does (and `systemd-analyze verify` accepts it;
/// run by hand where systemd is installed, see README).
#[test]
fn the_systemd_unit_waits_for_readiness_is_hardened_and_reloads_with_sighup() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/deskgate.service"),
    )
    .expect("contrib/deskgate.service");
    let keys: Vec<(&str, &str)> = unit
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .collect();
    for (key, value) in [
        ("Type", "notify"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("ProtectSystem", "strict"),
        ("ReadWritePaths", "/var/lib/deskgate"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("KillSignal", "SIGTERM"),
    ] {
        assert!(keys.contains(&(key, value)), "{key}={value} in the unit");
    }
    assert!(keys.iter().any(|(k, _)| *k == "WatchdogSec"));
}

/// One account at AM11 with a maintenance contact.
const AM11: &str = r#"
[[account]]
id = "acme"
name = "Acme"
language = "en"
timezone = "Europe/Amsterdam"
sites = ["AM11"]
[[account.contact]]
address = "noc@acme.example"
name = "Acme NOC"
roles = ["maintenance"]
"#;

/// `deskgate <args>` with its stdout a pipe whose reader has already gone (`… | true`, `…
/// | head` done reading); its exit status and stderr.
fn into_closed_pipe(gate: &Gate, args: &[&str]) -> (Option<i32>, String) {
    // A connected socket pair stands in for the pipe (std::io::pipe is newer than our MSRV):
    // once its peer is closed, a write fails with EPIPE, exactly as into a pipe nobody reads.
    let (reader, writer) = std::os::unix::net::UnixStream::pair().expect("socket pair");
    drop(reader);
    let mut child = gate
        .cmd(args)
        .stdout(std::os::fd::OwnedFd::from(writer))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn deskgate");
    let deadline = Instant::now() + LIMIT;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("`deskgate {}` did not finish", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    (out.status.code(), stderr(&out))
}

/// `deskgate maintenance show MNT-2 | true` and `maintenance list | true` panicked with rc 101
/// ("failed printing to stdout: Broken pipe") where `tickets list | true` ended quietly: every
/// command that prints meets a reader that went away the same way, with rc 0.
#[test]
fn a_reader_that_went_away_ends_every_listing_quietly() {
    let gate = GateConfig::new()
        .desk(DeskConfig::nl())
        .accounts(AM11)
        .start();
    let now = "2026-12-06T09:00:00Z";
    gate.ok(&[
        "maintenance",
        "schedule",
        "--title",
        "Core router upgrade",
        "--sites",
        "AM11",
        "--start",
        "2026-12-21T00:00+01:00",
        "--duration",
        "6h",
        "--now",
        now,
    ]);
    gate.ok(&[
        "incident",
        "open",
        "--title",
        "Packet loss",
        "--sites",
        "AM11",
        "--message",
        "We are looking into it.",
        "--now",
        now,
    ]);
    first_mail(&gate);
    gate.ok(&["run", "--once", "--now", now]);
    let commands: [&[&str]; 9] = [
        &["maintenance", "show", "MNT-1", "--now", now],
        &["maintenance", "list", "--now", now],
        &["maintenance", "list", "--json", "--now", now],
        &["incident", "show", "INC-1"],
        &["incident", "list"],
        &["tickets", "list"],
        &["outbox", "list"],
        &["templates", "list"],
        &["run", "--once", "--now", now],
    ];
    for args in commands {
        let (code, err) = into_closed_pipe(&gate, args);
        assert_eq!(code, Some(0), "`deskgate {}`: {err}", args.join(" "));
        assert!(
            !err.contains("panicked"),
            "`deskgate {}`: {err}",
            args.join(" ")
        );
    }
}
