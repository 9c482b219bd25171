//! One batch of a desk: fetched from the mailbox, prepared and applied while it streams in,
//! flushed, then acknowledged (`\Seen`, MOVE) — in that order, so a crash at any point loses
//! no mail (what was not flushed is fetched again; what was flushed but not acknowledged is
//! acknowledged at the next pass).

use super::{DaemonError, OnceReport, Parts};
use crate::clock::Clock;
use crate::config::Desk;
use crate::core::mail::classify::MailKind;
use crate::ingest::{Ingestor, Outcome, Prepared};
use crate::metrics::Processed;
use crate::source::{imap::ImapSource, maildir::MaildirSource, Origin, Position, RawMail, Source};
use crate::store::Checkpoint;
use crate::timings::Phase;
use std::sync::Arc;
use std::time::Duration;

pub(super) fn source_for(desk: &Desk, clock: Arc<dyn Clock>) -> Result<Source, DaemonError> {
    if let Some(imap) = &desk.imap {
        return Ok(Source::Imap(Box::new(ImapSource::with_clock(
            &desk.name,
            imap.clone(),
            clock,
        ))));
    }
    let (path, create) = desk
        .maildir
        .as_ref()
        .map(|m| (m.path.clone(), m.create))
        .unwrap_or_default();
    let open = if create {
        MaildirSource::create
    } else {
        MaildirSource::open
    };
    Ok(Source::Maildir(open(
        &desk.name,
        path,
        Duration::from_secs(1),
    )?))
}

/// Fetches and processes one batch; returns how many mails it held. The batch is flushed to the
/// store before the source is told it is done.
///
/// Fetching, preparing and applying overlap, each mail passed on as soon as the step before is
/// done with it (in UID order): the mailbox sends, one blocking thread parses and classifies
/// ([`Ingestor::prepare`], no store, no lock), another applies and commits
/// ([`Ingestor::apply`]). On a small machine that keeps the mail server and both halves of the
/// ingest busy at once instead of taking turns, and the store's work (and its fsync) stays off
/// the async workers.
pub(super) async fn one_batch(
    parts: &Parts,
    desk: &Desk,
    source: &mut Source,
    report: &mut OnceReport,
) -> Result<usize, DaemonError> {
    let checkpoint = parts.store().checkpoint(&desk.name)?;
    if let Some(cp) = checkpoint {
        catch_up_acks(parts, desk, source, cp).await?;
    }
    let position = checkpoint.map(|c| Position {
        uid_validity: c.uid_validity,
        last_uid: c.last_uid,
    });
    let (tx, fetched_rx) = std::sync::mpsc::channel::<RawMail>();
    let (prepared_tx, prepared_rx) = std::sync::mpsc::channel::<Handed>();
    let preparing = {
        let ingestor = parts.ingestor.clone();
        let desk = desk.clone();
        tokio::task::spawn_blocking(move || {
            prepare_stream(&ingestor, &desk, fetched_rx, prepared_tx)
        })
    };
    let applying = {
        let ingestor = parts.ingestor.clone();
        let desk = desk.clone();
        tokio::task::spawn_blocking(move || apply_stream(&ingestor, &desk, prepared_rx))
    };
    let desk_metrics = parts.ctx.metrics.desk(&desk.name);
    let fetched = source
        .fetch_each(position, parts.config().ingest.batch_size, &mut |mail| {
            if let Some(m) = desk_metrics {
                m.fetched_one();
            }
            // The worker only stops taking mail after a store error, reported below.
            let _ = tx.send(mail);
        })
        .await;
    drop(tx);
    let worker_failed = |e| DaemonError::Worker(format!("ingest of desk {}: {e}", desk.name));
    preparing.await.map_err(worker_failed)?;
    let processed = applying.await.map_err(worker_failed)?;
    // Whatever was processed is committed; a fetch error after it leaves those mails to be
    // acknowledged on the next pass (`catch_up_acks`) once their checkpoint is durable.
    let (done, counts) = processed?;
    counts.add_to(report);
    if let Some(m) = desk_metrics {
        for (kind, outcome) in &counts.mails {
            m.processed(*kind, *outcome);
        }
    }
    fetched?;
    if let Some(m) = desk_metrics {
        m.fetch_succeeded(parts.ctx.clock.now());
    }
    if done.is_empty() {
        return Ok(0);
    }
    let timings = &parts.ctx.timings;
    let started = std::time::Instant::now();
    let store = parts.store().clone();
    tokio::task::spawn_blocking(move || store.flush())
        .await
        .map_err(|e| DaemonError::Worker(format!("flush: {e}")))??;
    timings.add(Phase::Flush, started.elapsed());
    let started = std::time::Instant::now();
    source.ack(&done).await?;
    timings.add(Phase::Ack, started.elapsed());
    record_acked(parts, desk, &done)?;
    report.fetched += done.len();
    Ok(done.len())
}

/// What the mails of one batch became.
#[derive(Debug, Default)]
struct Counts {
    created: usize,
    appended: usize,
    auto_replies: usize,
    bounces: usize,
    machine_mail: usize,
    duplicates: usize,
    aside: usize,
    quarantined: usize,
    /// Each mail's kind (`None`: not classified) and what it became, for the metrics.
    mails: Vec<(Option<MailKind>, Processed)>,
}

impl Counts {
    fn count(&mut self, kind: Option<MailKind>, outcome: &Outcome) {
        let processed = match outcome {
            Outcome::Created { .. } => {
                self.created += 1;
                Processed::Created
            }
            Outcome::Appended { .. } => {
                self.appended += 1;
                match kind {
                    Some(MailKind::AutoReply) => self.auto_replies += 1,
                    Some(MailKind::Bounce) => self.bounces += 1,
                    Some(MailKind::Human) | None => {}
                    Some(_) => self.machine_mail += 1,
                }
                Processed::Appended
            }
            Outcome::Duplicate { .. } => {
                self.duplicates += 1;
                Processed::Duplicate
            }
            Outcome::Aside { .. } => {
                self.aside += 1;
                Processed::Aside
            }
            Outcome::Quarantined { .. } => {
                self.quarantined += 1;
                Processed::Quarantined
            }
        };
        self.mails.push((kind, processed));
    }

    fn add_to(&self, report: &mut OnceReport) {
        report.created += self.created;
        report.appended += self.appended;
        report.auto_replies += self.auto_replies;
        report.bounces += self.bounces;
        report.machine_mail += self.machine_mail;
        report.duplicates += self.duplicates;
        report.aside += self.aside;
        report.quarantined += self.quarantined;
    }
}

/// A mail on its way from the preparing thread to the applying one: prepared, or the mail
/// whose preparation panicked, with the panic's message.
type Handed = Result<Prepared, (RawMail, String)>;

/// Prepares each mail of a batch as it comes (on a blocking thread) and passes it on. Time
/// spent waiting for the mailbox is the fetch time that nothing overlapped.
fn prepare_stream(
    ingestor: &Ingestor,
    desk: &Desk,
    mails: std::sync::mpsc::Receiver<RawMail>,
    prepared: std::sync::mpsc::Sender<Handed>,
) {
    loop {
        let waiting = std::time::Instant::now();
        let Ok(mail) = mails.recv() else {
            break;
        };
        ingestor.ctx.timings.add(Phase::Fetch, waiting.elapsed());
        // A copy survives a panic: the mail is then quarantined instead of stopping the desk.
        let copy = mail.clone();
        let handed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ingestor.prepare(desk, mail)
        }))
        .map_err(|panic| (copy, panic_message(&*panic)));
        if prepared.send(handed).is_err() {
            // The applying thread stopped on a store error, which it reports.
            break;
        }
    }
}

/// Applies each prepared mail of a batch in order (on a blocking thread). Returns the origins
/// of the mails processed, in order, and what they became. A mail whose processing panics is
/// quarantined with the panic's message, and the batch goes on.
fn apply_stream(
    ingestor: &Ingestor,
    desk: &Desk,
    prepared: std::sync::mpsc::Receiver<Handed>,
) -> Result<(Vec<Origin>, Counts), crate::store::StoreError> {
    let mut done = Vec::new();
    let mut counts = Counts::default();
    for handed in prepared {
        let (kind, outcome, origin) = match handed {
            Ok(mail) => {
                let origin = mail.origin().clone();
                let kind = mail.kind();
                let copy = mail.raw_mail().clone();
                let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    ingestor.apply(desk, mail, None)
                }));
                match applied {
                    Ok(outcome) => (kind, outcome?, origin),
                    Err(panic) => (kind, unprocessable(ingestor, desk, &copy, &*panic)?, origin),
                }
            }
            Err((mail, message)) => {
                tracing::error!(desk = %desk.name, origin = %mail.origin, panic = %message, "preparing a mail panicked; it goes to quarantine");
                let outcome = ingestor.quarantine_unprocessable(desk, &mail, &message)?;
                (None, outcome, mail.origin)
            }
        };
        counts.count(kind, &outcome);
        done.push(origin);
    }
    Ok((done, counts))
}

fn unprocessable(
    ingestor: &Ingestor,
    desk: &Desk,
    mail: &RawMail,
    panic: &(dyn std::any::Any + Send),
) -> Result<Outcome, crate::store::StoreError> {
    let message = panic_message(panic);
    tracing::error!(desk = %desk.name, origin = %mail.origin, panic = %message, "processing a mail panicked; it goes to quarantine");
    ingestor.quarantine_unprocessable(desk, mail, &message)
}

/// What a panic said.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Acknowledges to the mailbox every UID up to the checkpoint that was not acknowledged yet.
///
/// A checkpoint can become durable without its batch's `\Seen` (the connection dropped after the
/// flush, the daemon was killed between the two, or the store flushed by itself mid-batch);
/// the next fetch starts after the checkpoint, so without this those mails would stay unread
/// (and unmoved) on the server for ever. Acknowledging twice is harmless.
async fn catch_up_acks(
    parts: &Parts,
    desk: &Desk,
    source: &mut Source,
    cp: Checkpoint,
) -> Result<(), DaemonError> {
    let from = match parts.store().acked(&desk.name)? {
        Some(a) if a.uid_validity == cp.uid_validity && a.last_uid >= cp.last_uid => return Ok(()),
        Some(a) if a.uid_validity == cp.uid_validity => a.last_uid + 1,
        _ => 1,
    };
    tracing::info!(desk = %desk.name, from, to = cp.last_uid, "acknowledging mail processed before an interruption");
    // The checkpoint read above may not be durable yet (a fetch that failed half-way leaves the
    // mails processed before the failure committed but unflushed): make it so before the
    // mailbox is told.
    let store = parts.store().clone();
    tokio::task::spawn_blocking(move || store.flush())
        .await
        .map_err(|e| DaemonError::Worker(format!("flush: {e}")))??;
    let origins: Vec<Origin> = (from..=cp.last_uid)
        .map(|uid| Origin::Imap {
            uid_validity: cp.uid_validity,
            uid,
        })
        .collect();
    source.ack(&origins).await?;
    let mut txn = parts.store().txn();
    txn.put_acked(&desk.name, cp);
    txn.commit()?;
    Ok(())
}

/// Remembers how far the mailbox has been told (durable with the next flush; losing it only
/// means acknowledging again).
fn record_acked(parts: &Parts, desk: &Desk, done: &[Origin]) -> Result<(), DaemonError> {
    let last = done.iter().rev().find_map(|o| match o {
        Origin::Imap { uid_validity, uid } => Some(Checkpoint {
            uid_validity: *uid_validity,
            last_uid: *uid,
        }),
        Origin::Maildir { .. } | Origin::History { .. } => None,
    });
    if let Some(cp) = last {
        let mut txn = parts.store().txn();
        txn.put_acked(&desk.name, cp);
        txn.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::config::Config;
    use crate::context::Context;
    use crate::render::Templates;
    use crate::store::{Shelf, Store};
    use std::path::Path;
    use std::sync::Arc;

    #[test]
    fn mails_added_to_tickets_are_counted_by_who_wrote_them() {
        let mut counts = Counts::default();
        let appended = || Outcome::Appended {
            ticket: "NL-000001".into(),
            reopened: false,
        };
        for kind in [
            Some(MailKind::Human),
            Some(MailKind::AutoReply),
            Some(MailKind::Bounce),
            Some(MailKind::Report),
            None,
        ] {
            counts.count(kind, &appended());
        }
        let mut report = OnceReport {
            fetched: 5,
            ..OnceReport::default()
        };
        counts.add_to(&mut report);
        assert_eq!(
            (
                report.appended,
                report.auto_replies,
                report.bounces,
                report.machine_mail
            ),
            (5, 1, 1, 1)
        );
        assert_eq!(
            report.summary(),
            "5 mails: 2 replies, 1 auto-reply, 1 bounce, 1 machine mail; nothing sent"
        );
    }

    fn ingestor() -> (Ingestor, Desk) {
        let config = Config::parse(
            "[store]\npath = \"unused\"\n[smtp]\nurl = \"file:///unused\"\n[[desk]]\nname = \"nl\"\naddress = \"servicedesk.nl@example.net\"\nlanguage = \"en\"\n[desk.maildir]\npath = \"unused\"\n",
            Path::new("test.toml"),
        )
        .expect("config");
        let desk = config.desks[0].clone();
        let templates = Templates::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"))
            .expect("templates");
        let clock = ManualClock::new(
            chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
                .expect("instant")
                .into(),
        );
        let ctx = Context::new(
            Store::memory(),
            Arc::new(templates),
            Arc::new(config),
            Arc::new(clock),
        );
        (Ingestor::new(Arc::new(ctx)), desk)
    }

    fn mail(uid: u32, subject: &str) -> RawMail {
        RawMail {
            origin: Origin::Imap {
                uid_validity: 9,
                uid,
            },
            raw: format!(
                "From: jane@acme.example\r\nTo: servicedesk.nl@example.net\r\nSubject: {subject}\r\nMessage-ID: <{uid}@acme.example>\r\n\r\nhello\r\n"
            )
            .into_bytes(),
        }
    }

    #[test]
    fn a_mail_whose_preparation_panicked_is_quarantined_and_the_batch_goes_on() {
        let (ingestor, desk) = ingestor();
        let (tx, rx) = std::sync::mpsc::channel::<Handed>();
        tx.send(Err((mail(1, "poison"), "index out of bounds".into())))
            .expect("send");
        tx.send(Ok(ingestor.prepare(&desk, mail(2, "link down"))))
            .expect("send");
        drop(tx);
        let (done, counts) = apply_stream(&ingestor, &desk, rx).expect("apply");
        assert_eq!(
            done.len(),
            2,
            "both mails are done: neither is fetched again"
        );
        assert_eq!((counts.quarantined, counts.created), (1, 1));
        let store = &ingestor.ctx.store;
        let shelved = store.shelf(Shelf::Quarantine).expect("quarantine");
        assert_eq!(shelved.len(), 1);
        assert!(
            shelved[0].error.contains("index out of bounds"),
            "{:?}",
            shelved[0].error
        );
        assert_eq!(
            store.checkpoint("nl").expect("checkpoint"),
            Some(Checkpoint {
                uid_validity: 9,
                last_uid: 2
            })
        );
    }

    #[test]
    fn a_panic_says_what_it_said() {
        let caught = std::panic::catch_unwind(|| panic!("slice index {} out of range", 7))
            .expect_err("panicked");
        assert_eq!(panic_message(&*caught), "slice index 7 out of range");
        let caught = std::panic::catch_unwind(|| panic!("plain")).expect_err("panicked");
        assert_eq!(panic_message(&*caught), "plain");
    }
}
