//! Smoke tests of the integration-test harness itself (tests/common): real Dovecot and smtp-sink instances start, accept, capture, reject, restart and stay isolated from each other, and the config the harness writes is one `deskgate check` accepts.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Command;
use std::thread;
use std::time::Duration;

use common::{
    free_port, port_open, run_with_timeout, smtp_send, wait_until, DeskConfig, Dovecot, GateConfig,
    ImapClient, SmtpSink, TIMEOUT,
};

fn mail(n: u32) -> Vec<u8> {
    format!(
        "From: customer@example.org\r\nTo: desk@example.net\r\nSubject: Ticket {n}\r\n\
         Message-ID: <{n}@harness.test>\r\n\r\nBody of mail {n}\r\n"
    )
    .into_bytes()
}

fn files_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn dovecot_append_count_flags() {
    let dovecot = Dovecot::start(&[("alice", "secret"), ("bob@example.net", "hunter2")]);
    let uids: Vec<u32> = (1..=3)
        .map(|n| dovecot.append("alice", "secret", "INBOX", &mail(n)))
        .collect();
    assert_eq!(uids, [1, 2, 3], "APPENDUIDs");
    assert_eq!(dovecot.count("alice", "secret", "INBOX"), 3);
    assert_eq!(
        dovecot.flags("alice", "secret", "INBOX"),
        vec![(1, String::new()), (2, String::new()), (3, String::new())]
    );
    // Users are separate; user names with a domain work.
    assert_eq!(dovecot.count("bob@example.net", "hunter2", "INBOX"), 0);
    assert!(dovecot
        .flags("bob@example.net", "hunter2", "INBOX")
        .is_empty());
    // The mails really are in alice's Maildir.
    let maildir = dovecot.maildir("alice");
    assert_eq!(
        files_in(&maildir.join("cur")) + files_in(&maildir.join("new")),
        3
    );
    // APPEND to a missing mailbox creates it.
    assert_eq!(dovecot.append("alice", "secret", "Processed", &mail(9)), 1);
    assert_eq!(dovecot.count("alice", "secret", "Processed"), 1);
    assert!(maildir.join(".Processed").is_dir());
}

#[test]
fn dovecot_append_many_and_flag_changes() {
    let dovecot = Dovecot::start(&[("alice", "secret")]);
    let uids = dovecot.append_many("alice", "secret", "INBOX", (1..=200).map(mail));
    assert_eq!(uids, (1..=200).collect::<Vec<u32>>());
    assert_eq!(dovecot.count("alice", "secret", "INBOX"), 200);
    // Batched APPEND into a mailbox that does not exist yet.
    let bulk = dovecot.append_many("alice", "secret", "Bulk", (1..=3).map(mail));
    assert_eq!(bulk, [1, 2, 3]);
    assert_eq!(dovecot.count("alice", "secret", "Bulk"), 3);

    let mut imap = dovecot.imap("alice", "secret");
    imap.command("SELECT INBOX").unwrap();
    imap.command("UID STORE 5 +FLAGS (\\Seen \\Flagged)")
        .unwrap();
    imap.logout();
    let flags = dovecot.flags("alice", "secret", "INBOX");
    assert_eq!(flags.len(), 200);
    let (uid, five) = &flags[4];
    assert_eq!(*uid, 5);
    let mut five: Vec<&str> = five.split(' ').collect();
    five.sort();
    assert_eq!(five, ["\\Flagged", "\\Seen"]);
    assert!(flags
        .iter()
        .filter(|(uid, _)| *uid != 5)
        .all(|(_, f)| f.is_empty()));
}

#[test]
fn dovecot_rejects_wrong_password() {
    let dovecot = Dovecot::start(&[("alice", "secret")]);
    let mut imap = ImapClient::connect(dovecot.imap_port()).unwrap();
    let err = imap.login("alice", "wrong").unwrap_err();
    assert!(err.contains("NO"), "{err}");
}

#[test]
fn dovecot_imaps_handshake_verifies_against_ca() {
    let dovecot = Dovecot::start(&[("alice", "secret")]);
    let connect = format!("127.0.0.1:{}", dovecot.imaps_port());
    for (verify, name) in [
        ("-verify_ip", "127.0.0.1"),
        ("-verify_hostname", "localhost"),
    ] {
        let out = run_with_timeout(
            Command::new("openssl")
                .args([
                    "s_client",
                    "-connect",
                    &connect,
                    "-brief",
                    "-verify_return_error",
                ])
                .arg("-CAfile")
                .arg(dovecot.ca_cert_path())
                .args([verify, name]),
            TIMEOUT,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.contains("Verification: OK"),
            "s_client {verify} {name} failed ({}):\n{stderr}",
            out.status
        );
    }
    // Without trusting the test CA, verification must fail.
    let out = run_with_timeout(
        Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &connect,
                "-brief",
                "-verify_return_error",
            ])
            .args(["-no-CAfile", "-no-CApath", "-no-CAstore"]),
        TIMEOUT,
    );
    assert!(!out.status.success(), "handshake verified without the CA");
}

#[test]
fn dovecot_uidvalidity_reset_changes_select_value() {
    let dovecot = Dovecot::start(&[("alice", "secret")]);
    dovecot.append("alice", "secret", "INBOX", &mail(1));
    dovecot.append("alice", "secret", "INBOX", &mail(2));
    let before = dovecot.uidvalidity("alice", "secret", "INBOX");
    let new = dovecot.uidvalidity_reset("alice");
    assert_ne!(new, before);
    assert_eq!(dovecot.uidvalidity("alice", "secret", "INBOX"), new);
    assert_eq!(dovecot.count("alice", "secret", "INBOX"), 2);
    // Survives a restart.
    let mut dovecot = dovecot;
    dovecot.restart();
    assert_eq!(dovecot.uidvalidity("alice", "secret", "INBOX"), new);
}

#[test]
fn dovecot_stop_restart_keeps_ports_and_data() {
    let mut dovecot = Dovecot::start(&[("alice", "secret")]);
    let (imap, imaps) = (dovecot.imap_port(), dovecot.imaps_port());
    dovecot.append("alice", "secret", "INBOX", &mail(1));
    dovecot.append("alice", "secret", "INBOX", &mail(2));
    let uidvalidity = dovecot.uidvalidity("alice", "secret", "INBOX");

    dovecot.stop();
    assert!(!dovecot.is_running());
    assert!(
        !port_open(imap) && !port_open(imaps),
        "ports still open after stop"
    );
    dovecot.restart();
    assert_eq!((dovecot.imap_port(), dovecot.imaps_port()), (imap, imaps));
    assert!(port_open(imap) && port_open(imaps));
    assert_eq!(dovecot.count("alice", "secret", "INBOX"), 2);
    assert_eq!(dovecot.uidvalidity("alice", "secret", "INBOX"), uidvalidity);
    assert_eq!(dovecot.append("alice", "secret", "INBOX", &mail(3)), 3);

    // restart() while running also works.
    dovecot.restart();
    assert_eq!(dovecot.count("alice", "secret", "INBOX"), 3);

    // A crash (SIGKILL) loses nothing that was acknowledged.
    dovecot.kill();
    assert!(
        !port_open(imap) && !port_open(imaps),
        "ports still open after kill"
    );
    dovecot.restart();
    assert_eq!(dovecot.count("alice", "secret", "INBOX"), 3);
    assert_eq!(dovecot.imap_port(), imap);
}

#[test]
fn dovecot_instances_are_isolated() {
    let handles: Vec<_> = (1..=3u32)
        .map(|n| {
            thread::spawn(move || {
                let dovecot = Dovecot::start(&[("alice", "secret")]);
                dovecot.append_many("alice", "secret", "INBOX", (0..n).map(mail));
                thread::sleep(Duration::from_millis(200));
                let count = dovecot.count("alice", "secret", "INBOX");
                (dovecot.imap_port(), dovecot.imaps_port(), count, n)
            })
        })
        .collect();
    let mut ports = Vec::new();
    for handle in handles {
        let (imap, imaps, count, n) = handle.join().unwrap();
        assert_eq!(count, n);
        ports.extend([imap, imaps]);
    }
    let unique: std::collections::HashSet<_> = ports.iter().collect();
    assert_eq!(unique.len(), ports.len(), "ports reused: {ports:?}");
}

#[test]
fn smtp_sink_captures_envelope_and_body() {
    let sink = SmtpSink::start();
    let raw: &[u8] = b"From: desk@example.net\r\nTo: a@example.org, b@example.org\r\n\
        Subject: Re: [DESK-1] Outage\r\n\r\nLine one\r\n.leading dot\r\n..two dots\r\n\r\n\
        Last line\r\n";
    smtp_send(
        sink.port(),
        "desk@example.net",
        &["a@example.org", "b@example.org"],
        raw,
    )
    .unwrap();
    let messages = sink.wait_for(1, TIMEOUT);
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(m.mail_from, "desk@example.net");
    assert_eq!(m.rcpt_to, ["a@example.org", "b@example.org"]);
    assert_eq!(m.helo.as_deref(), Some("harness.test"));
    assert_eq!(m.text(), String::from_utf8_lossy(raw));
    assert_eq!(m.raw, raw);
    assert_eq!(m.header("subject").as_deref(), Some("Re: [DESK-1] Outage"));

    // A second transaction is a second capture, in order.
    smtp_send(sink.port(), "", &["c@example.org"], &mail(2)).unwrap();
    let messages = sink.wait_for(2, TIMEOUT);
    assert_eq!(messages[1].mail_from, "");
    assert_eq!(messages[1].raw, mail(2));
    sink.clear();
    assert!(sink.messages().is_empty());
}

/// Read one (multi-line) SMTP reply.
fn reply(reader: &mut BufReader<TcpStream>) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        all.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            return all;
        }
    }
}

#[test]
fn smtp_sink_hides_transactions_in_progress() {
    let sink = SmtpSink::start();
    let stream = TcpStream::connect(("127.0.0.1", sink.port())).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    assert!(reply(&mut reader).starts_with("220"));
    for (cmd, code) in [
        ("EHLO slow.test", "250"),
        ("MAIL FROM:<a@example.org>", "250"),
        ("RCPT TO:<b@example.org>", "250"),
        ("DATA", "354"),
    ] {
        writer.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
        let r = reply(&mut reader);
        assert!(r.starts_with(code), "{cmd} -> {r}");
    }
    writer.write_all(b"Subject: slow\r\n\r\nhalf").unwrap();
    wait_until("the dump file of the open transaction", TIMEOUT, || {
        files_in(sink.dump_dir()) == 1
    });
    assert!(
        sink.messages().is_empty(),
        "unfinished transaction reported"
    );
    writer.write_all(b" done\r\n.\r\n").unwrap();
    assert!(reply(&mut reader).starts_with("250"));
    let messages = sink.wait_for(1, TIMEOUT);
    assert_eq!(messages[0].raw, b"Subject: slow\r\n\r\nhalf done\r\n");
}

#[test]
fn smtp_sink_stop_restart_keeps_port_and_messages() {
    let mut sink = SmtpSink::start();
    let port = sink.port();
    smtp_send(port, "a@example.org", &["b@example.org"], &mail(1)).unwrap();
    sink.wait_for(1, TIMEOUT);

    sink.stop();
    assert!(!sink.is_running());
    assert!(!port_open(port));
    let err = smtp_send(port, "a@example.org", &["b@example.org"], &mail(2)).unwrap_err();
    assert!(err.contains("connect"), "{err}");

    sink.restart();
    assert_eq!(sink.port(), port);
    smtp_send(port, "a@example.org", &["b@example.org"], &mail(3)).unwrap();
    let messages = sink.wait_for(2, TIMEOUT);
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].raw, mail(1));
    assert_eq!(messages[1].raw, mail(3));
}

#[test]
fn smtp_sink_can_reject() {
    let soft = SmtpSink::start_with_args(&["-r", "rcpt"]);
    let err = smtp_send(soft.port(), "a@example.org", &["b@example.org"], &mail(1)).unwrap_err();
    assert!(err.starts_with("RCPT TO:<b@example.org> -> 4"), "{err}");

    let hard = SmtpSink::start_with_args(&["-f", "data"]);
    let err = smtp_send(hard.port(), "a@example.org", &["b@example.org"], &mail(1)).unwrap_err();
    assert!(err.starts_with("DATA -> 5"), "{err}");

    let gone = SmtpSink::start_with_args(&["-q", "mail"]);
    let err = smtp_send(gone.port(), "a@example.org", &["b@example.org"], &mail(1)).unwrap_err();
    assert!(err.contains("MAIL FROM"), "{err}");

    // The sink survives rejections and nothing was captured.
    for sink in [&soft, &hard, &gone] {
        assert!(port_open(sink.port()));
        assert!(sink.messages().is_empty(), "{:?}", sink.messages());
    }
}

#[test]
fn gate_config_writes_what_deskgate_check_accepts() {
    let gate = GateConfig::new()
        .smtp_port(free_port())
        .general("timezone", "Europe/Amsterdam")
        .trusted_mx()
        .set("ingest", "batch_size", 7)
        .set("outbox", "retry_initial_secs", 1)
        .set("ingest", "batch_size", 8)
        .team(
            "css",
            1,
            "css@provider.example",
            Some(("Europe/Amsterdam", "07:00-19:00")),
        )
        .team("noc", 2, "noc@provider.example", None)
        .staff(
            "alice",
            "alice@provider.example",
            "Alice \"Al\" Martin",
            "css",
        )
        .plans(
            "[[plan]]\nname = \"Office\"\nallowance_hours = 1\n\
             [plan.targets]\nP2 = { response = \"1h\", restore = \"8h\" }\n",
        )
        .accounts(
            "[[account]]\nid = \"acme\"\nname = \"Acme\"\nplan = \"Office\"\n\
             language = \"en\"\ntimezone = \"Europe/Amsterdam\"\n",
        )
        .extra("[limits]\nflag_after_hard_bounces = 2\n")
        .desk(
            DeskConfig::nl()
                .imap("imap://127.0.0.1:1", "nl", "pw")
                .poll_interval_secs(1)
                .password_command("printf pw"),
        )
        .desk(DeskConfig::new("fr", "support.fr@example.net").language("fr"))
        .start();
    let config = std::fs::read_to_string(gate.config_path()).expect("the config");
    let out = gate.output(&["check"]);
    assert!(
        out.status.success(),
        "{}\n{config}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A key set twice is written once, with its last value; a password command replaces the
    // password; the Maildir desk's folders exist.
    assert!(
        config.contains("batch_size = 8\n") && !config.contains("batch_size = 7"),
        "{config}"
    );
    assert!(
        config.contains("password_command") && !config.contains("password = "),
        "{config}"
    );
    assert!(gate.path("inbox/new").is_dir());
    assert!(gate.path("accounts.toml").is_file());
}
