//! A power cut between a commit and the next flush: the store's engine may have persisted a
//! mail's effects (sled writes on its own timer) while the raw-mail log lost the mail's bytes.
//! Nothing may be lost: the mail was never acknowledged to its mailbox, so at the next start the
//! desk goes back to where its mailbox was told, the mail comes again, is recognised as a
//! duplicate (its ticket is unchanged), and its raw bytes are kept again.

mod common;

use common::{DeskConfig, GateConfig};
use deskgate::clock::ManualClock;
use deskgate::config::Config;
use deskgate::context::Context;
use deskgate::ingest::{Ingestor, Outcome};
use deskgate::render::Templates;
use deskgate::source::{Origin, RawMail};
use deskgate::store::{Checkpoint, Store};
use std::path::Path;
use std::sync::Arc;

/// Desk `nl` on an IMAP server the test never reaches: mail is handed to the ingest step.
fn config() -> Config {
    let text = GateConfig::new()
        .desk(DeskConfig::nl().imap("imap://127.0.0.1:1", "nl", "unused"))
        .toml(Path::new("/nonexistent"));
    Config::parse(&text, Path::new("test.toml")).expect("config")
}

fn ingestor(store: &Path, config: &Arc<Config>) -> Ingestor {
    let templates = Arc::new(
        Templates::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"))
            .expect("templates"),
    );
    let clock = Arc::new(ManualClock::new(
        chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .expect("instant")
            .into(),
    ));
    Ingestor::new(Arc::new(Context::new(
        Store::open(store).expect("open store"),
        templates,
        config.clone(),
        clock,
    )))
}

fn mail(uid: u32, from: &str) -> RawMail {
    RawMail {
        origin: Origin::Imap {
            uid_validity: 7,
            uid,
        },
        raw: format!(
            "From: {from}\r\nTo: servicedesk.nl@example.net\r\nSubject: mail {uid}\r\nMessage-ID: <m{uid}@acme.example>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n\r\nThe link is down ({uid}).\r\n"
        )
        .into_bytes(),
    }
}

#[test]
fn raw_mail_lost_in_a_power_cut_is_fetched_and_kept_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store");
    let config = Arc::new(config());
    let desk = &config.desks[0];
    let segment = path.join("raw-mail/00000001.seg");
    let flushed = {
        let ing = ingestor(&path, &config);
        assert!(matches!(
            ing.process(desk, &mail(1, "jane@acme.example"))
                .expect("process"),
            Outcome::Created { .. }
        ));
        ing.ctx.store.flush().expect("flush");
        // What the daemon records once the mailbox has been told (\Seen).
        let mut txn = ing.ctx.store.txn();
        txn.put_acked(
            "nl",
            Checkpoint {
                uid_validity: 7,
                last_uid: 1,
            },
        );
        txn.commit().expect("commit");
        ing.ctx.store.flush().expect("flush");
        let flushed = std::fs::metadata(&segment).expect("segment").len();
        assert!(matches!(
            ing.process(desk, &mail(2, "joe@acme.example"))
                .expect("process"),
            Outcome::Created { .. }
        ));
        // No flush: the process ends here; sled persists what it has, the log's tail is lost.
        flushed
    };
    std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .expect("segment")
        .set_len(flushed)
        .expect("cut the tail");

    let ing = ingestor(&path, &config);
    assert!(ing.ctx.store.raw("m1@acme.example").expect("raw").is_some());
    assert_eq!(ing.ctx.store.raw("m2@acme.example").expect("raw"), None);
    assert_eq!(
        ing.ctx.store.checkpoint("nl").expect("checkpoint"),
        Some(Checkpoint {
            uid_validity: 7,
            last_uid: 1
        }),
        "mail 2 is fetched again"
    );
    let tickets = ing.ctx.store.tickets().expect("tickets").len();
    let again = ing
        .process(desk, &mail(2, "joe@acme.example"))
        .expect("process again");
    assert!(matches!(again, Outcome::Duplicate { .. }), "{again:?}");
    assert_eq!(
        ing.ctx.store.tickets().expect("tickets").len(),
        tickets,
        "no second ticket"
    );
    assert_eq!(
        ing.ctx.store.raw("m2@acme.example").expect("raw"),
        Some(mail(2, "joe@acme.example").raw),
        "its bytes are kept again"
    );
}
