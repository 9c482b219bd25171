//! The outbound SMTP transport over TLS with AUTH, against a capturing ESMTP server on loopback
//! (`tests/common/smtp_tls_server.rs`, since Postfix's smtp-sink speaks no TLS): implicit TLS
//! (`smtps://`) and STARTTLS (`smtp+starttls://`) with a private CA in `ca_file`, a password
//! inline or from `password_command`, AUTH PLAIN and AUTH LOGIN, a wrong password, a certificate
//! nobody vouches for, `test_connection`, and one `run --once` of the binary whose
//! acknowledgement arrives over smtps. Each test asserts what the server saw, not only what the
//! transport said.

mod common;
#[path = "common/smtp_tls_server.rs"]
mod smtp_tls_server;

use common::{DeskConfig, Gate, GateConfig};
use deskgate::config::SmtpConfig;
use deskgate::core::service::outbox::Attempt;
use deskgate::outbound::Transport;
use smtp_tls_server::{CapturingSmtpServer, Options, TlsMode, WAIT};
use std::time::Duration;

const USER: &str = "relay-user@desk.example.net";
const PASSWORD: &str = "correct horse: battery";

/// Upper bound for one client-side exchange (connect, TLS, AUTH, a transaction).
const CLIENT_LIMIT: Duration = Duration::from_secs(60);

/// An `[smtp]` section as an administrator writes it (parsed, so that keys added later keep
/// their defaults).
fn smtp_config(url: &str, extra: &str) -> SmtpConfig {
    let text = format!("url = {url:?}\ntimeout_secs = 10\n{extra}");
    toml::from_str(&text).unwrap_or_else(|e| panic!("[smtp] {text}: {e}"))
}

/// `username` + `password` + `ca_file` for the server's user and CA.
fn auth_with_ca(server: &CapturingSmtpServer, password: &str) -> String {
    format!(
        "username = {USER:?}\npassword = {password:?}\nca_file = {:?}\n",
        server.ca_cert_path().display().to_string()
    )
}

/// A transport with the runtime it runs on. lettre's connection pool spawns a task when the
/// transport is built and another when it is dropped, so both happen inside the runtime's
/// context; every call is bounded by [`CLIENT_LIMIT`].
struct Client {
    transport: Option<Transport>,
    runtime: tokio::runtime::Runtime,
}

impl Client {
    fn new(config: &SmtpConfig) -> Client {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let transport = {
            let _context = runtime.enter();
            Transport::from_config(config, std::sync::Arc::new(deskgate::clock::SystemClock))
                .expect("transport")
        };
        Client {
            transport: Some(transport),
            runtime,
        }
    }

    fn transport(&self) -> &Transport {
        self.transport.as_ref().expect("not dropped yet")
    }

    fn block_on<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.runtime
            .block_on(async { tokio::time::timeout(CLIENT_LIMIT, f).await })
            .unwrap_or_else(|_| panic!("the SMTP client did not finish within {CLIENT_LIMIT:?}"))
    }

    /// Sends [`message`] from the desk's address to `to`.
    fn send(&self, message_id: &str, to: &[&str]) -> Attempt {
        let to: Vec<String> = to.iter().map(|s| s.to_string()).collect();
        let bytes = message(message_id);
        self.block_on(
            self.transport()
                .send("servicedesk.nl@example.net", &to, message_id, &bytes),
        )
    }

    fn test_connection(&self) -> Result<(), String> {
        self.block_on(self.transport().test_connection())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _context = self.runtime.enter();
        self.transport.take();
    }
}

/// A message with what SMTP must carry unchanged: a line starting with "." (dot-stuffed on the
/// wire), a line of only "..", UTF-8 (8BITMIME), a long line and CRLF line ends.
fn message(message_id: &str) -> Vec<u8> {
    format!(
        "From: Service Desk <servicedesk.nl@example.net>\r\n\
         To: jane@acme.example\r\n\
         Subject: [NL-000001] Link down AM11\r\n\
         Message-ID: <{message_id}>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         Dear Zoë,\r\n\
         .this line starts with a dot\r\n\
         ..\r\n\
         .\r\n\
         {}\r\n\
         Groeten, de servicedesk\r\n",
        "x".repeat(990)
    )
    .into_bytes()
}

/// What the server captures of `bytes` sent over STARTTLS, where lettre writes the message: it
/// always ends the data with CRLF "." CRLF after the message, so a message that already ends
/// with CRLF arrives with one empty line more. (Over plain SMTP and implicit TLS deskgate
/// writes the body itself, to send the final dot apart: the bytes arrive exactly.)
fn as_captured(bytes: &[u8]) -> Vec<u8> {
    [bytes, b"\r\n"].concat()
}

#[test]
fn smtps_with_auth_and_a_private_ca_delivers() {
    let server = CapturingSmtpServer::start(Options::new(TlsMode::Implicit, USER, PASSWORD));
    let config = smtp_config(&server.url(), &auth_with_ca(&server, PASSWORD));
    let client = Client::new(&config);

    let attempt = client.send(
        "ack-1@desk.example.net",
        &["jane@acme.example", "ops@acme.example"],
    );
    if attempt != Attempt::Sent {
        server.fail(format!("expected Sent, got {attempt:?}"));
    }

    let captured = server.transactions();
    assert_eq!(captured.len(), 1, "one transaction: {captured:#?}");
    let t = &captured[0];
    assert!(t.tls, "the transaction went over TLS");
    assert_eq!(t.user.as_deref(), Some(USER), "authenticated as the user");
    assert_eq!(
        t.mechanism.as_deref(),
        Some("PLAIN"),
        "lettre prefers PLAIN"
    );
    assert_eq!(t.mail_from, "servicedesk.nl@example.net");
    assert_eq!(t.rcpts, ["jane@acme.example", "ops@acme.example"]);
    assert_eq!(
        String::from_utf8_lossy(&t.data),
        String::from_utf8_lossy(&message("ack-1@desk.example.net")),
        "the exact bytes, dot-unstuffed"
    );
    assert_eq!(server.auth_failures(), Vec::<String>::new());
    assert_eq!(server.tls_failures(), Vec::<String>::new());
}

#[test]
fn starttls_with_password_command_delivers() {
    // Only LOGIN is offered, so this also proves the transport's AUTH LOGIN.
    let server = CapturingSmtpServer::start(
        Options::new(TlsMode::StartTls, USER, "secret").mechanisms(&["LOGIN"]),
    );
    let config = smtp_config(
        &server.url(),
        &format!(
            "username = {USER:?}\npassword_command = \"printf secret\"\nca_file = {:?}\n",
            server.ca_cert_path().display().to_string()
        ),
    );
    let client = Client::new(&config);

    let attempt = client.send("ack-2@desk.example.net", &["jane@acme.example"]);
    if attempt != Attempt::Sent {
        server.fail(format!("expected Sent, got {attempt:?}"));
    }
    let captured = server.transactions();
    assert_eq!(captured.len(), 1, "{captured:#?}");
    let t = &captured[0];
    assert!(t.tls, "the transaction went over the upgraded connection");
    assert_eq!(t.user.as_deref(), Some(USER));
    assert_eq!(t.mechanism.as_deref(), Some("LOGIN"));
    assert_eq!(t.mail_from, "servicedesk.nl@example.net");
    assert_eq!(t.rcpts, ["jane@acme.example"]);
    assert_eq!(t.data, as_captured(&message("ack-2@desk.example.net")));
    // The EHLO that counted is the one after STARTTLS (the one before is forgotten).
    assert!(!t.hello.is_empty(), "{t:#?}");
    let transcript = server.transcript();
    let starttls = transcript.find("< STARTTLS").expect("STARTTLS was used");
    let auth = transcript
        .find("< AUTH LOGIN")
        .expect("AUTH LOGIN was used");
    assert!(starttls < auth, "AUTH only after STARTTLS:\n{transcript}");
}

#[test]
fn a_wrong_password_is_retried_not_a_permanent_failure() {
    for mode in [TlsMode::Implicit, TlsMode::StartTls] {
        let server = CapturingSmtpServer::start(Options::new(mode, USER, PASSWORD));
        let config = smtp_config(&server.url(), &auth_with_ca(&server, "not the password"));
        let client = Client::new(&config);

        let attempt = client.send("ack-3@desk.example.net", &["jane@acme.example"]);
        match &attempt {
            // The relay refusing our login says nothing about the mail: retried later, so a
            // rotated password does not fail the whole outbox.
            Attempt::Transient(why) if why.contains("535") => {}
            other => server.fail(format!(
                "{mode:?}: expected Transient(535 …), got {other:?}"
            )),
        }
        assert_eq!(
            server.auth_failures(),
            [USER],
            "{mode:?}: the server refused the login"
        );
        assert!(server.logins().is_empty(), "{mode:?}");
        assert!(
            server.transactions().is_empty(),
            "{mode:?}: nothing was sent"
        );

        // `run --once` checks the connection first: it must say why, too.
        match client.test_connection() {
            Err(why) if why.contains("535") => {}
            other => server.fail(format!("{mode:?}: test_connection: {other:?}")),
        }
    }
}

#[test]
fn an_untrusted_certificate_is_refused() {
    // No ca_file (only the public roots), and a ca_file with another private CA.
    let other = CapturingSmtpServer::start(Options::new(TlsMode::Implicit, USER, PASSWORD));
    let wrong_ca = format!(
        "ca_file = {:?}\n",
        other.ca_cert_path().display().to_string()
    );
    for mode in [TlsMode::Implicit, TlsMode::StartTls] {
        for ca in ["", wrong_ca.as_str()] {
            let server = CapturingSmtpServer::start(Options::new(mode, USER, PASSWORD));
            let extra = format!("username = {USER:?}\npassword = {PASSWORD:?}\n{ca}");
            let config = smtp_config(&server.url(), &extra);
            let client = Client::new(&config);
            let case = format!("{mode:?}, ca_file {:?}", ca.trim());

            let attempt = client.send("ack-4@desk.example.net", &["jane@acme.example"]);
            match &attempt {
                Attempt::Transient(why) if why.to_lowercase().contains("certificate") => {}
                other => server.fail(format!(
                    "{case}: expected Transient(certificate …), got {other:?}"
                )),
            }
            match client.test_connection() {
                Err(why) if why.to_lowercase().contains("certificate") => {}
                other => server.fail(format!("{case}: test_connection: {other:?}")),
            }
            // The client hung up in the handshake (with an alert, or by closing the connection
            // when the session is dropped on the error): no password was sent, nothing captured.
            let failures = server.wait_for_tls_failures(2, WAIT);
            assert!(
                failures
                    .iter()
                    .all(|f| f.contains("alert") || f.contains("handshake eof")),
                "{case}: the client refused the certificate: {failures:?}"
            );
            assert!(server.logins().is_empty(), "{case}");
            assert!(server.auth_failures().is_empty(), "{case}");
            assert!(server.transactions().is_empty(), "{case}");
        }
    }
}

#[test]
fn test_connection_works_over_smtps_and_starttls() {
    for mode in [TlsMode::Implicit, TlsMode::StartTls] {
        let server = CapturingSmtpServer::start(Options::new(mode, USER, PASSWORD));
        let config = smtp_config(&server.url(), &auth_with_ca(&server, PASSWORD));
        let client = Client::new(&config);

        let checked = client.test_connection();
        // The check leaves its connection in the pool; whichever connection the next mail
        // takes, the transport must still deliver it and pass the check again.
        let attempt = client.send("ack-5@desk.example.net", &["jane@acme.example"]);
        let checked_again = client.test_connection();
        if checked.is_err() || attempt != Attempt::Sent || checked_again.is_err() {
            server.fail(format!(
                "{mode:?}: test_connection {checked:?}, send {attempt:?}, test_connection {checked_again:?}"
            ));
        }
        let logins = server.logins();
        assert!(!logins.is_empty(), "{mode:?}: the check logged in");
        assert!(
            logins.iter().all(|l| l.tls && l.user == USER),
            "{mode:?}: {logins:?}"
        );
        assert_eq!(server.transactions().len(), 1, "{mode:?}");
        assert!(
            server.transcript().contains("< NOOP"),
            "{mode:?}: the check is a NOOP:\n{}",
            server.transcript()
        );
    }
}

/// `config` sending through `server` over smtps as its user, with `password`, trusting its CA.
fn via(config: GateConfig, server: &CapturingSmtpServer, password: &str) -> GateConfig {
    config
        .smtp_url(&server.url())
        .set("smtp", "username", USER)
        .set("smtp", "password", password)
        .set(
            "smtp",
            "ca_file",
            server.ca_cert_path().display().to_string(),
        )
        .set("smtp", "timeout_secs", 10)
}

/// A deskgate with one Maildir desk, sending through `server` with `password`, and a customer's
/// first mail waiting in the desk's Maildir.
fn deskgate(server: &CapturingSmtpServer, password: &str) -> Gate {
    let desk = DeskConfig::new("nl", "servicedesk.nl@example.net");
    let gate = via(GateConfig::new(), server, password).desk(desk).start();
    gate.deliver(
        "1.mail",
        "From: Jane Doe <jane@acme.example>\r\nTo: servicedesk.nl@example.net\r\nSubject: Link down AM11\r\nMessage-ID: <first@acme.example>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n\r\nHello desk,\r\nour link is down.\r\n",
    );
    gate
}

/// Runs `deskgate args…`, which must succeed; its stdout. A failure shows the SMTP transcript.
fn ok(gate: &Gate, server: &CapturingSmtpServer, args: &[&str]) -> String {
    gate.try_ok(args).unwrap_or_else(|e| server.fail(e))
}

#[test]
fn run_once_delivers_the_acknowledgement_over_smtps_with_auth() {
    let server = CapturingSmtpServer::start(Options::new(TlsMode::Implicit, USER, PASSWORD));
    let dg = deskgate(&server, PASSWORD);

    ok(&dg, &server, &["run", "--once"]);

    let captured = server.wait_for(1, WAIT);
    assert_eq!(captured.len(), 1, "one acknowledgement: {captured:#?}");
    let ack = &captured[0];
    assert!(ack.tls && ack.user.as_deref() == Some(USER), "{ack:#?}");
    assert_eq!(ack.rcpts, ["jane@acme.example"]);
    assert!(
        ack.mail_from.starts_with("servicedesk.nl") && ack.mail_from.ends_with("@example.net"),
        "from the desk: {ack:#?}"
    );
    let parsed = deskgate::ingest::parse::parse(&ack.data, Default::default());
    assert!(parsed.subject.contains("[NL-000001]"), "{}", parsed.subject);
    let text = String::from_utf8_lossy(&ack.data);
    assert!(text.contains("In-Reply-To: <first@acme.example>"), "{text}");
    assert!(text.contains("Auto-Submitted: auto-replied"), "{text}");

    let outbox = dg.outbox();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    assert_eq!(outbox[0]["state"], "sent", "{outbox:?}");
}

#[test]
fn run_once_with_a_wrong_password_fails_loudly_and_keeps_the_mail() {
    let server = CapturingSmtpServer::start(Options::new(TlsMode::Implicit, USER, PASSWORD));
    let dg = deskgate(&server, "an old password");

    // The connection check before delivery fails: non-zero, saying why, nothing sent.
    let out = dg.output(&["run", "--once"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() || !stderr.contains("535") {
        server.fail(format!(
            "expected a failure naming the 535 ({}):\n{stderr}",
            out.status
        ));
    }
    assert_eq!(server.auth_failures(), [USER]);
    assert!(server.transactions().is_empty());
    // The acknowledgement is not given up on: the ticket exists, its mail waits.
    let outbox = dg.outbox();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    assert_eq!(outbox[0]["state"], "queued", "{outbox:?}");

    // The administrator fixes the password: the waiting acknowledgement goes out.
    dg.reconfigure(|c| via(c, &server, PASSWORD));
    ok(&dg, &server, &["run", "--once"]);
    let captured = server.wait_for(1, WAIT);
    assert_eq!(captured.len(), 1, "{captured:#?}");
    assert_eq!(captured[0].rcpts, ["jane@acme.example"]);
    assert_eq!(dg.outbox()[0]["state"], "sent");
}
