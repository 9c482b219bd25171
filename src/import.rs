//! Importing a desk's history: every mail of an mbox, a Maildir or a folder of `.eml` files
//! threaded into tickets as ingest does, with nothing sent.
//!
//! The mails go through the same two halves as live mail ([`Ingestor::prepare`] on one thread,
//! [`Ingestor::apply`] on this one) with an ingest in [`Mode::History`]: each mail happens at
//! its own date, nothing enters the outbox, and SLA notices that fell due before today are
//! marked as given without being sent. Running the import again changes nothing: every mail
//! is known by its Message-ID (or, without one, by a digest of its bytes), mail kept aside or
//! in quarantine included. A mail that cannot be read, parsed or processed is counted and kept
//! (in quarantine when its bytes could be read) and the import goes on.
//!
//! The store is flushed every [`FLUSH_EVERY`] mails and at the end, as the daemon does per
//! batch; an import interrupted between two flushes loses only work that the next run redoes.

use crate::config::Desk;
use crate::context::Context;
use crate::ingest::{Ingestor, Mode, Outcome, Prepared};
use crate::source::history::{History, HistoryError};
use crate::source::RawMail;
use crate::store::StoreError;
use serde::Serialize;
use std::sync::mpsc::sync_channel;
use std::sync::Arc;

/// Mails applied between two flushes of the store (the daemon's batch size).
pub const FLUSH_EVERY: usize = 500;

/// Mails read and prepared ahead of the applying thread; bounds the memory an import takes.
const READ_AHEAD: usize = 64;

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Mails read (whatever became of them), unreadable files included.
    pub mails: usize,
    /// New tickets.
    pub created: usize,
    /// Mails added to a ticket (one opened by this import, or one there before).
    pub appended: usize,
    /// Mails already in the store (an earlier import, or live ingest): nothing changed.
    pub duplicates: usize,
    /// Kept aside: machine mail answering no ticket, list mail, our own mail come back.
    pub aside: usize,
    /// Kept in quarantine: unparseable, too large, or processing failed.
    pub quarantined: usize,
    /// Files that could not be read at all, each named in the log.
    pub unreadable: usize,
}

impl ImportReport {
    fn count(&mut self, outcome: &Outcome) {
        self.mails += 1;
        match outcome {
            Outcome::Created { .. } => self.created += 1,
            Outcome::Appended { .. } => self.appended += 1,
            Outcome::Duplicate { .. } => self.duplicates += 1,
            Outcome::Aside { .. } => self.aside += 1,
            Outcome::Quarantined { .. } => self.quarantined += 1,
        }
    }

    /// The summary an operator reads.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "{} mails: {} tickets created, {} added to tickets, {} duplicates skipped, {} kept aside",
            self.mails,
            self.created,
            self.appended,
            self.duplicates,
            self.aside + self.quarantined
        );
        if self.quarantined > 0 {
            line.push_str(&format!(" ({} in quarantine)", self.quarantined));
        }
        if self.unreadable > 0 {
            line.push_str(&format!(", {} unreadable files", self.unreadable));
        }
        line
    }
}

/// Where an import stands, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub mails: usize,
    /// Bytes of the history read so far, and in all.
    pub read_bytes: u64,
    pub total_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error("the reading thread stopped: {0}")]
    Worker(String),
}

/// A mail on its way from the reading thread: prepared (or its preparation panicked, with the
/// panic's message), or a file that could not be read; and how far the reading got.
enum Read {
    Prepared(Box<Prepared>),
    Panicked(RawMail, String),
    Unreadable(HistoryError),
}

/// Imports `history` into `desk` through an ingest in [`Mode::History`]. `progress` is called
/// after each mail. Only a store failure stops it.
pub fn import(
    ctx: Arc<Context>,
    desk: &Desk,
    mut history: History,
    progress: &mut dyn FnMut(Progress),
) -> Result<ImportReport, ImportError> {
    let ingestor = Ingestor::history(ctx.clone());
    debug_assert_eq!(ingestor.mode(), Mode::History);
    tracing::info!(desk = %desk.name, from = %history.describe(), "importing history: nothing will be sent");
    let mut report = ImportReport::default();
    let (tx, rx) = sync_channel::<(Read, (u64, u64))>(READ_AHEAD);
    let (reader, history) = (&ingestor, &mut history);
    std::thread::scope(|scope| -> Result<(), ImportError> {
        let reading = scope.spawn(move || {
            while let Some((next, position)) = history.next_with_progress() {
                let read = match next {
                    Ok(mail) => {
                        // A copy survives a panic: the mail then goes to quarantine.
                        let copy = mail.clone();
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            reader.prepare(desk, mail)
                        }))
                        .map_or_else(
                            |panic| Read::Panicked(copy, crate::daemon::panic_message(&*panic)),
                            |p| Read::Prepared(Box::new(p)),
                        )
                    }
                    Err(e) => Read::Unreadable(e),
                };
                if tx.send((read, position)).is_err() {
                    // The applying side stopped on a store error, which it reports.
                    break;
                }
            }
        });
        let mut since_flush = 0;
        for (read, (read_bytes, total_bytes)) in rx {
            match read {
                Read::Prepared(prepared) => {
                    let copy = prepared.raw_mail().clone();
                    let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        ingestor.apply(desk, *prepared, None)
                    }));
                    let outcome = match applied {
                        Ok(outcome) => outcome?,
                        Err(panic) => {
                            let message = crate::daemon::panic_message(&*panic);
                            tracing::error!(origin = %copy.origin, panic = %message, "processing a mail panicked; it goes to quarantine");
                            ingestor.quarantine_unprocessable(desk, &copy, &message)?
                        }
                    };
                    report.count(&outcome);
                }
                Read::Panicked(mail, message) => {
                    tracing::error!(origin = %mail.origin, panic = %message, "preparing a mail panicked; it goes to quarantine");
                    let outcome = ingestor.quarantine_unprocessable(desk, &mail, &message)?;
                    report.count(&outcome);
                }
                Read::Unreadable(e) => {
                    tracing::warn!(error = %e, "mail not readable: skipped");
                    report.mails += 1;
                    report.unreadable += 1;
                }
            }
            since_flush += 1;
            if since_flush == FLUSH_EVERY {
                ctx.store.flush()?;
                since_flush = 0;
            }
            progress(Progress {
                mails: report.mails,
                read_bytes,
                total_bytes,
            });
        }
        reading
            .join()
            .map_err(|panic| ImportError::Worker(crate::daemon::panic_message(&*panic)))
    })?;
    ctx.store.flush()?;
    tracing::info!(desk = %desk.name, summary = %report.summary(), "import complete");
    Ok(report)
}
