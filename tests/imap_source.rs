//! The IMAP source against a real Dovecot: fetch by UID, acknowledge (`\Seen`, MOVE), a changed
//! UIDVALIDITY, IMAPS with a private CA, a refused login, IDLE wake-ups and shutdown, and recovery
//! after the server went away.
//!
//! What the source logs is caught ([`Logged`]): "idling" says it waits in IDLE, which is when a
//! test delivers, stops or shuts down; "connected" counts its logins. No test times the source:
//! a wake-up is shown to come from IDLE by what else could cause it (a 60 s poll interval, a
//! 25-minute IDLE cycle, a 20 s bound), not by how fast it was.

mod common;

use common::{poll_until, Dovecot, ImapClient, TIMEOUT};
use deskgate::config::ImapConfig;
use deskgate::source::imap::ImapSource;
use deskgate::source::{Origin, Position, RawMail, SourceError, Woken};
use futures::FutureExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;

const USER: &str = "nl";
const PASS: &str = "secret-nl";

fn config(url: String) -> ImapConfig {
    ImapConfig {
        url,
        user: USER.into(),
        password: Some(PASS.into()),
        password_command: None,
        auth: Default::default(),
        oauth2: None,
        mailbox: "INBOX".into(),
        move_to: None,
        poll_interval_secs: 60,
        idle: true,
        idle_renew_secs: 25 * 60,
        ca_file: None,
    }
}

fn plain(server: &Dovecot) -> ImapConfig {
    config(format!("imap://127.0.0.1:{}", server.imap_port()))
}

fn mail(n: u32) -> Vec<u8> {
    format!(
        "From: customer{n}@example.com\r\nTo: servicedesk.nl@example.net\r\nSubject: test {n}\r\n\
         Message-ID: <test-{n}@example.com>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nbody {n}\r\n"
    )
    .into_bytes()
}

fn subject_of(m: &RawMail) -> String {
    let text = String::from_utf8_lossy(&m.raw);
    text.lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or_default()
        .to_string()
}

fn uid_of(m: &RawMail) -> (u32, u32) {
    match m.origin {
        Origin::Imap { uid_validity, uid } => (uid_validity, uid),
        ref other => panic!("not an IMAP origin: {other:?}"),
    }
}

/// The position after the last mail of a batch, as the pipeline stores it.
fn after(batch: &[RawMail]) -> Position {
    let (uid_validity, last_uid) = uid_of(batch.last().expect("a non-empty batch"));
    Position {
        uid_validity,
        last_uid,
    }
}

fn origins(batch: &[RawMail]) -> Vec<Origin> {
    batch.iter().map(|m| m.origin.clone()).collect()
}

/// What deskgate logged on this test's thread (debug level), caught from [`Logged::catch`] on
/// until the guard it returns is dropped. The source and the tasks of a current-thread runtime
/// all log on this thread.
#[derive(Clone, Default)]
struct Logged(Arc<Mutex<Vec<u8>>>);

impl Logged {
    fn catch() -> (Logged, tracing::subscriber::DefaultGuard) {
        let logged = Logged::default();
        let writer = logged.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new("deskgate=debug"))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (logged, tracing::subscriber::set_default(subscriber))
    }

    /// How many events of the IMAP source (any of its modules) said `message` ("idling",
    /// "connected"). A line reads `<time> <level> <spans>: <target>: <message> <fields>`.
    fn count(&self, message: &str) -> usize {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| l.find("deskgate::source::imap").map(|at| &l[at..]))
            .filter_map(|target| target.split_once(": ").map(|(_, said)| said))
            .filter(|said| *said == message || said.starts_with(&format!("{message} ")))
            .count()
    }

    /// Waits (yielding to the runtime) until the source has entered IDLE `n` times.
    async fn idled(&self, n: usize) {
        tokio::time::timeout(TIMEOUT, async {
            while self.count("idling") < n {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the source enters IDLE");
    }
}

impl std::io::Write for Logged {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut bytes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn mails_come_in_uid_order_unseen_and_ack_marks_them_seen() {
    let server = Dovecot::start(&[(USER, PASS)]);
    for n in 1..=3 {
        server.append(USER, PASS, "INBOX", &mail(n));
    }
    let mut source = ImapSource::new("nl", plain(&server));

    let batch = source.fetch(None, 10).await.expect("fetch");
    assert_eq!(
        batch.iter().map(subject_of).collect::<Vec<_>>(),
        ["test 1", "test 2", "test 3"]
    );
    let uids: Vec<u32> = batch.iter().map(|m| uid_of(m).1).collect();
    assert!(
        uids.windows(2).all(|w| w[0] < w[1]),
        "ascending UIDs: {uids:?}"
    );
    assert!(
        server
            .flags(USER, PASS, "INBOX")
            .iter()
            .all(|(_, f)| !f.contains("\\Seen")),
        "fetching must not mark mail seen: {:?}",
        server.flags(USER, PASS, "INBOX")
    );

    source.ack(&origins(&batch)).await.expect("ack");
    let flags = server.flags(USER, PASS, "INBOX");
    assert_eq!(flags.len(), 3, "{flags:?}");
    assert!(flags.iter().all(|(_, f)| f.contains("\\Seen")), "{flags:?}");

    let again = source
        .fetch(Some(after(&batch)), 10)
        .await
        .expect("fetch after the position");
    assert!(
        again.is_empty(),
        "nothing above the last UID: {:?}",
        again.iter().map(subject_of).collect::<Vec<_>>()
    );
    source.reset().await;
}

#[tokio::test]
async fn the_limit_splits_the_mailbox_into_batches() {
    let server = Dovecot::start(&[(USER, PASS)]);
    for n in 1..=5 {
        server.append(USER, PASS, "INBOX", &mail(n));
    }
    let mut source = ImapSource::new("nl", plain(&server));

    let mut position = None;
    let mut sizes = Vec::new();
    let mut subjects = Vec::new();
    loop {
        let batch = source.fetch(position, 2).await.expect("fetch");
        if batch.is_empty() {
            break;
        }
        sizes.push(batch.len());
        subjects.extend(batch.iter().map(subject_of));
        position = Some(after(&batch));
    }
    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(subjects, ["test 1", "test 2", "test 3", "test 4", "test 5"]);
}

#[tokio::test]
async fn move_to_moves_done_mail_into_a_folder_it_creates() {
    let server = Dovecot::start(&[(USER, PASS)]);
    for n in 1..=3 {
        server.append(USER, PASS, "INBOX", &mail(n));
    }
    let mut cfg = plain(&server);
    cfg.move_to = Some("Processed".into());
    let mut source = ImapSource::new("nl", cfg);

    let batch = source.fetch(None, 10).await.expect("fetch");
    assert_eq!(batch.len(), 3);
    source
        .ack(&origins(&batch[..1]))
        .await
        .expect("ack the first (creates the folder)");
    source
        .ack(&origins(&batch[1..]))
        .await
        .expect("ack the rest (folder exists)");

    assert_eq!(server.count(USER, PASS, "INBOX"), 0);
    assert_eq!(server.count(USER, PASS, "Processed"), 3);
    let moved = server.flags(USER, PASS, "Processed");
    assert!(
        moved.iter().all(|(_, f)| f.contains("\\Seen")),
        "moved mail keeps \\Seen: {moved:?}"
    );
}

#[tokio::test]
async fn move_to_a_non_ascii_folder_uses_its_modified_utf7_name() {
    let server = Dovecot::start(&[(USER, PASS)]);
    for n in 1..=3 {
        server.append(USER, PASS, "INBOX", &mail(n));
    }
    let mut cfg = plain(&server);
    cfg.move_to = Some("Traité".into());
    let mut source = ImapSource::new("nl", cfg.clone());
    let batch = source.fetch(None, 10).await.expect("fetch");
    source
        .ack(&origins(&batch[..2]))
        .await
        .expect("ack into Traité (creates the folder)");
    // A new connection finds the folder it created (listed in modified UTF-7) and moves into
    // it rather than trying to create it again.
    let mut again = ImapSource::new("nl", cfg);
    let rest = again
        .fetch(Some(after(&batch[..2])), 10)
        .await
        .expect("fetch");
    again
        .ack(&origins(&rest))
        .await
        .expect("ack into the existing Traité");

    assert_eq!(server.count(USER, PASS, "INBOX"), 0);
    assert_eq!(server.count(USER, PASS, "Trait&AOk-"), 3);
    let mut imap = server.imap(USER, PASS);
    let (listed, _) = imap.command("LIST \"\" \"*\"").expect("LIST");
    let folders: Vec<&String> = listed.iter().filter(|l| l.contains("Trait")).collect();
    assert_eq!(
        folders.len(),
        1,
        "one folder, in modified UTF-7: {listed:?}"
    );
    assert!(
        folders[0]
            .trim_end()
            .trim_end_matches('"')
            .ends_with(" Trait&AOk-")
            || folders[0].trim_end().ends_with("\"Trait&AOk-\""),
        "{folders:?}"
    );
}

#[tokio::test]
async fn a_changed_uidvalidity_fetches_the_mailbox_from_scratch() {
    let server = Dovecot::start(&[(USER, PASS)]);
    for n in 1..=2 {
        server.append(USER, PASS, "INBOX", &mail(n));
    }
    let mut source = ImapSource::new("nl", plain(&server));
    let batch = source.fetch(None, 10).await.expect("fetch");
    assert_eq!(batch.len(), 2);
    let old = after(&batch);
    source.ack(&origins(&batch)).await.expect("ack");

    server.uidvalidity_reset(USER);

    let again = match source.fetch(Some(old), 10).await {
        Ok(again) => again,
        // Dovecot ends a session whose mailbox changed under it ("IMAP session state is
        // inconsistent, please relogin"); the source reconnects on the next call.
        Err(e) => {
            assert!(e.is_transient(), "{e}");
            source
                .fetch(Some(old), 10)
                .await
                .expect("fetch after the reset")
        }
    };
    assert_eq!(
        again.iter().map(subject_of).collect::<Vec<_>>(),
        ["test 1", "test 2"]
    );
    let (uid_validity, _) = uid_of(&again[0]);
    assert_ne!(
        uid_validity, old.uid_validity,
        "the new origins carry the new UIDVALIDITY"
    );

    // Acknowledging mails of the old UIDVALIDITY touches nothing: those UIDs may name other mail.
    source
        .ack(&origins(&batch))
        .await
        .expect("stale ack is skipped");
}

#[tokio::test]
async fn imaps_works_with_the_private_ca_file() {
    let server = Dovecot::start(&[(USER, PASS)]);
    server.append(USER, PASS, "INBOX", &mail(1));
    let mut cfg = config(format!("imaps://127.0.0.1:{}", server.imaps_port()));
    cfg.ca_file = Some(server.ca_cert_path().to_path_buf());
    let mut source = ImapSource::new("nl", cfg.clone());
    let batch = source.fetch(None, 10).await.expect("fetch over IMAPS");
    assert_eq!(batch.iter().map(subject_of).collect::<Vec<_>>(), ["test 1"]);

    // Without the CA the certificate is refused, which is worth retrying (it may be renewed).
    cfg.ca_file = None;
    let err = ImapSource::new("nl", cfg)
        .fetch(None, 10)
        .await
        .expect_err("unknown CA");
    assert!(matches!(err, SourceError::Connect { .. }), "{err}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn starttls_upgrades_the_plain_port() {
    let server = Dovecot::start(&[(USER, PASS)]);
    server.append(USER, PASS, "INBOX", &mail(1));
    let mut cfg = config(format!("imap+starttls://127.0.0.1:{}", server.imap_port()));
    cfg.ca_file = Some(server.ca_cert_path().to_path_buf());
    let mut source = ImapSource::new("nl", cfg);
    let batch = source.fetch(None, 10).await.expect("fetch after STARTTLS");
    assert_eq!(batch.len(), 1);
}

#[tokio::test]
async fn a_wrong_password_is_an_auth_error_not_worth_retrying() {
    let server = Dovecot::start(&[(USER, PASS)]);
    let mut cfg = plain(&server);
    cfg.password = Some("wrong".into());
    let mut source = ImapSource::new("nl", cfg);
    let err = source.fetch(None, 10).await.expect_err("login refused");
    assert!(matches!(err, SourceError::Auth { .. }), "{err}");
    assert!(!err.is_transient());
    let text = err.to_string();
    assert!(text.contains("nl"), "{text}");
    assert!(
        !text.contains("wrong"),
        "the password must not show: {text}"
    );
}

#[tokio::test]
async fn password_command_supplies_the_password() {
    let server = Dovecot::start(&[(USER, PASS)]);
    server.append(USER, PASS, "INBOX", &mail(1));
    let mut cfg = plain(&server);
    cfg.password = None;
    cfg.password_command = Some(format!("printf '%s\\n' '{PASS}'"));
    let mut source = ImapSource::new("nl", cfg);
    assert_eq!(source.fetch(None, 10).await.expect("fetch").len(), 1);
}

/// Restarts `server` advertising only `capabilities` after login, as an older server would.
fn limit_capabilities(server: &mut Dovecot, capabilities: &str) {
    let mut conf = std::fs::read_to_string(server.config_path()).expect("read dovecot.conf");
    conf.push_str(&format!("imap_capability = {capabilities}\n"));
    std::fs::write(server.config_path(), conf).expect("write dovecot.conf");
    server.restart();
}

#[tokio::test]
async fn without_move_done_mail_is_copied_flagged_deleted_and_expunged() {
    let mut server = Dovecot::start(&[(USER, PASS)]);
    limit_capabilities(&mut server, "IMAP4rev1 LITERAL+ ID ENABLE NAMESPACE");
    for n in 1..=3 {
        server.append(USER, PASS, "INBOX", &mail(n));
    }
    let mut cfg = plain(&server);
    cfg.move_to = Some("Processed".into());
    let mut source = ImapSource::new("nl", cfg);

    let batch = source.fetch(None, 10).await.expect("fetch");
    source
        .ack(&origins(&batch[..2]))
        .await
        .expect("ack two of three");

    assert_eq!(server.count(USER, PASS, "Processed"), 2);
    let left = server.flags(USER, PASS, "INBOX");
    assert_eq!(
        left.len(),
        1,
        "only the unacknowledged mail stays: {left:?}"
    );
    assert_eq!(left[0].1, "", "and it is untouched");
}

#[tokio::test]
async fn without_idle_wait_sleeps_the_poll_interval() {
    let (logged, _guard) = Logged::catch();
    let mut server = Dovecot::start(&[(USER, PASS)]);
    limit_capabilities(
        &mut server,
        "IMAP4rev1 LITERAL+ ID ENABLE NAMESPACE UIDPLUS MOVE",
    );
    let mut cfg = plain(&server);
    cfg.poll_interval_secs = 1;
    let mut source = ImapSource::new("nl", cfg);
    assert!(source.fetch(None, 10).await.expect("fetch").is_empty());

    let (_stop, mut shutdown) = watch::channel(false);
    let mut wait = Box::pin(source.wait(&mut shutdown));
    // Nothing on the wire to wait for (no IDLE, the connection is open): it sleeps.
    assert!(
        wait.as_mut().now_or_never().is_none(),
        "the wait returned at once instead of sleeping"
    );
    let woken = tokio::time::timeout(TIMEOUT, wait)
        .await
        .expect("the poll interval ends the wait")
        .expect("wait");
    // No mail came and nobody asked it to stop: only the poll interval ends that sleep.
    assert_eq!(woken, Woken::Poll);
    assert_eq!(logged.count("idling"), 0, "a server without IDLE is polled");
}

#[tokio::test]
async fn a_wait_on_a_new_connection_polls_at_once() {
    // Mail may have come while the source was disconnected, and IDLE reports only later mail.
    let (logged, _guard) = Logged::catch();
    let server = Dovecot::start(&[(USER, PASS)]);
    let mut source = ImapSource::new("nl", plain(&server));
    let (_stop, mut shutdown) = watch::channel(false);
    // An IDLE would wait for mail up to its 25-minute cycle, a poll 60 s: the bound is a hang
    // guard, what is checked is that no IDLE was begun.
    let woken = tokio::time::timeout(TIMEOUT, source.wait(&mut shutdown))
        .await
        .expect("no IDLE on a fresh connection")
        .expect("wait");
    assert_eq!(woken, Woken::Poll);
    assert_eq!(logged.count("connected"), 1, "the wait connected");
    assert_eq!(logged.count("idling"), 0, "no IDLE on a fresh connection");
}

#[tokio::test]
async fn an_idle_ends_when_idle_renew_secs_have_passed_so_it_can_be_issued_again() {
    let (logged, _guard) = Logged::catch();
    let server = Dovecot::start(&[(USER, PASS)]);
    // One second instead of the default 25 minutes (the config allows 60 at least; the struct
    // is built here without validation to keep the test short).
    let mut cfg = plain(&server);
    cfg.idle_renew_secs = 1;
    let mut source = ImapSource::new("nl", cfg);
    assert!(source.fetch(None, 10).await.expect("fetch").is_empty());
    let (_stop, mut shutdown) = watch::channel(false);
    for round in 1..=2 {
        // No mail comes and the poll interval is 60 s: only the renewal ends the IDLE.
        let woken = tokio::time::timeout(TIMEOUT, source.wait(&mut shutdown))
            .await
            .expect("the IDLE is ended for renewal")
            .expect("wait");
        assert_eq!(woken, Woken::Poll);
        assert_eq!(logged.count("idling"), round, "a new IDLE each round");
    }
    assert_eq!(logged.count("connected"), 1, "on the same connection");
}

#[tokio::test]
async fn idle_wakes_up_when_mail_arrives() {
    let (logged, _guard) = Logged::catch();
    let server = Dovecot::start(&[(USER, PASS)]);
    let mut source = ImapSource::new("nl", plain(&server));
    // Connects, so the wait below is an IDLE on a live session.
    assert!(source.fetch(None, 10).await.expect("fetch").is_empty());

    let (_stop, mut shutdown) = watch::channel(false);
    // Another client delivers, from another thread, once this one idles.
    let port = server.imap_port();
    let appending = Arc::new(AtomicBool::new(false));
    let (idling, started) = (logged.clone(), appending.clone());
    let appender = std::thread::spawn(move || -> Result<(), String> {
        if !poll_until(TIMEOUT, || idling.count("idling") > 0) {
            return Err("the source never entered IDLE".into());
        }
        let mut other = ImapClient::connect(port)?;
        other.login(USER, PASS)?;
        started.store(true, Ordering::SeqCst);
        other.append("INBOX", &mail(7))?;
        other.logout();
        Ok(())
    });
    // The poll interval is 60 s and an IDLE lasts 25 minutes: waking within the bound, only
    // the server's news of the APPEND can explain it.
    let woken = tokio::time::timeout(TIMEOUT, source.wait(&mut shutdown))
        .await
        .expect("IDLE wakes up when new mail arrives")
        .expect("wait");
    let woke_after_append = appending.load(Ordering::SeqCst);
    appender.join().expect("append thread").expect("append");
    assert_eq!(woken, Woken::Poll);
    assert!(woke_after_append, "woke before the mail came");
    assert_eq!(logged.count("idling"), 1, "it waited in IDLE");

    let batch = source.fetch(None, 10).await.expect("fetch after IDLE");
    assert_eq!(batch.iter().map(subject_of).collect::<Vec<_>>(), ["test 7"]);
}

#[tokio::test]
async fn shutdown_ends_idle_promptly_and_cleanly() {
    let (logged, _guard) = Logged::catch();
    let server = Dovecot::start(&[(USER, PASS)]);
    let mut source = ImapSource::new("nl", plain(&server));
    assert!(source.fetch(None, 10).await.expect("fetch").is_empty());

    let (stop, mut shutdown) = watch::channel(false);
    let idling = logged.clone();
    tokio::spawn(async move {
        idling.idled(1).await;
        let _ = stop.send(true);
    });
    // Without the shutdown the IDLE would last its 25-minute cycle: the bound is a hang guard.
    let woken = tokio::time::timeout(TIMEOUT, source.wait(&mut shutdown))
        .await
        .expect("shutdown ends IDLE")
        .expect("wait");
    assert_eq!(woken, Woken::Shutdown);

    // DONE was sent and answered: the same session still works, with no second login (an
    // unanswered DONE drops the session after 5 s, and the fetch would log in again).
    server.append(USER, PASS, "INBOX", &mail(1));
    assert_eq!(
        source
            .fetch(None, 10)
            .await
            .expect("fetch after shutdown")
            .len(),
        1
    );
    assert_eq!(
        logged.count("connected"),
        1,
        "the session that idled fetched"
    );
}

#[tokio::test]
async fn a_stopped_server_gives_transient_errors_and_a_restart_recovers() {
    let (logged, _guard) = Logged::catch();
    let mut server = Dovecot::start(&[(USER, PASS)]);
    server.append(USER, PASS, "INBOX", &mail(1));
    let mut source = ImapSource::new("nl", plain(&server));
    assert_eq!(source.fetch(None, 10).await.expect("fetch").len(), 1);

    // The server goes away while the source idles: the wait ends with a transient error.
    let (_stop, mut shutdown) = watch::channel(false);
    let waiting = tokio::spawn(async move {
        let woken = source.wait(&mut shutdown).await;
        (source, woken)
    });
    logged.idled(1).await;
    server.stop();
    let (mut source, woken) = tokio::time::timeout(TIMEOUT, waiting)
        .await
        .expect("the wait ends when the server goes")
        .expect("wait task");
    let err = woken.expect_err("no IDLE without a server");
    assert!(err.is_transient(), "{err}");
    let err = source
        .fetch(None, 10)
        .await
        .expect_err("the server is gone");
    assert!(err.is_transient(), "{err}");
    let url = format!("imap://127.0.0.1:{}", server.imap_port());
    assert!(err.to_string().starts_with("nl: "), "names the desk: {err}");
    assert!(err.to_string().contains(&url), "names the server: {err}");
    let err = source
        .fetch(None, 10)
        .await
        .expect_err("still gone (reconnect refused)");
    assert!(matches!(err, SourceError::Connect { .. }), "{err}");
    assert!(err.is_transient(), "{err}");

    server.restart();
    source.reset().await;
    let batch = source
        .fetch(None, 10)
        .await
        .expect("fetch after the restart");
    assert_eq!(batch.iter().map(subject_of).collect::<Vec<_>>(), ["test 1"]);
}

#[test]
fn the_source_futures_can_be_spawned() {
    fn send<T: Send>(_: &T) {}
    let mut source = ImapSource::new("nl", config("imap://127.0.0.1:9".into()));
    let (_tx, mut rx) = watch::channel(false);
    send(&source.fetch(None, 1));
    send(&source.ack(&[]));
    send(&source.wait(&mut rx));
    send(&source.reset());
}

/// A scripted IMAP server on 127.0.0.1 for what Dovecot will not say: it greets, then answers
/// each command line with what `answer` returns for it (`{tag}` stands for the command's tag),
/// and hangs up after an answer holding `* BYE`. Returns the URL; the thread ends with the
/// connection.
fn scripted_server(answer: fn(&str) -> String) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let _ = stream.set_read_timeout(Some(TIMEOUT));
        let mut out = stream.try_clone().expect("clone");
        let _ = out.write_all(b"* OK scripted server ready\r\n");
        let mut lines = BufReader::new(stream);
        let mut line = String::new();
        while lines.read_line(&mut line).is_ok_and(|n| n > 0) {
            let tag = line.split(' ').next().unwrap_or("*").to_string();
            let reply = answer(line.trim_end()).replace("{tag}", &tag);
            let _ = out.write_all(reply.as_bytes());
            if reply.contains("* BYE") {
                return;
            }
            line.clear();
        }
    });
    format!("imap://127.0.0.1:{port}")
}

#[tokio::test]
async fn a_login_refused_for_throttling_is_a_throttled_error_with_the_suggested_wait() {
    let url = scripted_server(|_| {
        "{tag} NO [THROTTLED] Request is throttled. Suggested Backoff Time: 2000 milliseconds\r\n"
            .into()
    });
    let mut source = ImapSource::new("nl", config(url));
    let e = source.fetch(None, 10).await.expect_err("throttled");
    assert!(matches!(e, SourceError::Throttled { .. }), "{e:?}");
    assert_eq!(e.throttled(), Some(Some(Duration::from_secs(2))));
    assert!(e.is_transient(), "not a refused login: {e}");
    assert!(e.to_string().contains("is throttling this desk"), "{e}");
}

#[tokio::test]
async fn a_bye_over_bandwidth_limits_is_a_throttled_error() {
    let url = scripted_server(|line| {
        if line.contains("LOGIN") {
            "{tag} OK logged in\r\n".into()
        } else {
            "* BYE Account exceeded command or bandwidth limits. (Failure)\r\n".into()
        }
    });
    let mut source = ImapSource::new("nl", config(url));
    let e = source.fetch(None, 10).await.expect_err("throttled");
    assert_eq!(e.throttled(), Some(None), "{e:?}");
    assert!(e.to_string().contains("bandwidth limits"), "{e}");
}
