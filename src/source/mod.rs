//! Mail sources: where a desk's mail comes from (an IMAP mailbox, or a local Maildir).
//!
//! A source hands out raw mails in batches and is told afterwards which ones are done
//! ([`Source::ack`]); it never decides anything about their content. The pipeline acks a batch
//! only after its effects are flushed to the store, so a crash re-fetches rather than loses.
//!
//! The folder owns getting raw mail and acknowledging it: [`imap`] (a folder of its own),
//! [`maildir`], and the UID ordering of a fetch (`in_order.rs`); and reading a desk's history
//! for an import ([`history`]: an mbox file, read by [`mbox`], a Maildir or a folder of `.eml`
//! files), which is only read, never changed. It may import [`crate::config`]
//! (a desk's `[desk.imap]` or `[desk.maildir]`) and [`crate::core`]; never another adapter
//! (`store`, `outbound`, `render`) or the pipeline, which decides when a mail is done.

pub mod history;
pub mod imap;
mod in_order;
pub mod maildir;
pub mod mbox;

use std::time::Duration;
use tokio::sync::watch;

/// Where a raw mail came from, so it can be acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Imap {
        uid_validity: u32,
        uid: u32,
    },
    Maildir {
        file: String,
    },
    /// A mail of a desk's history being imported: its file, and its place in an mbox.
    History {
        path: String,
        number: Option<usize>,
    },
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Imap { uid_validity, uid } => {
                write!(f, "imap uid {uid} (uidvalidity {uid_validity})")
            }
            Origin::Maildir { file } => write!(f, "maildir {file}"),
            Origin::History { path, number: None } => write!(f, "file {path}"),
            Origin::History {
                path,
                number: Some(n),
            } => write!(f, "mbox {path}, mail {n}"),
        }
    }
}

impl Origin {
    /// Whether an origin as written (`to_string`, kept with shelved mail) is a mail of a
    /// desk's history.
    pub fn is_history(shown: &str) -> bool {
        shown.starts_with("file ") || shown.starts_with("mbox ")
    }
}

/// One fetched mail.
#[derive(Debug, Clone)]
pub struct RawMail {
    pub origin: Origin,
    pub raw: Vec<u8>,
}

/// The position a source resumes from (IMAP only; a Maildir's `new/` is its own position).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub uid_validity: u32,
    pub last_uid: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{desk}: cannot connect to {url}: {message}")]
    Connect {
        desk: String,
        url: String,
        message: String,
    },
    #[error("{desk}: connection to {url} lost: {message}")]
    Lost {
        desk: String,
        url: String,
        message: String,
    },
    #[error("{desk}: login as {user} refused: {message}")]
    Auth {
        desk: String,
        user: String,
        message: String,
    },
    /// The server is holding this client back (RFC 5530 `[LIMIT]`, Exchange's `[THROTTLED]`
    /// and "Suggested Backoff Time", Gmail's bandwidth and connection limits).
    #[error("{desk}: {url} is throttling this desk: {message}")]
    Throttled {
        desk: String,
        url: String,
        message: String,
        /// How long the server asked us to wait, when it said.
        wait: Option<Duration>,
    },
    #[error("{desk}: {message}")]
    Protocol { desk: String, message: String },
    /// A Maildir named in the config is not there (a typo, a volume not mounted): refused
    /// rather than created, which would read as an empty mailbox for ever.
    #[error("desk {desk}: maildir {path} does not exist")]
    Missing { desk: String, path: String },
    #[error("{desk}: {path}: {message}")]
    Io {
        desk: String,
        path: String,
        message: String,
    },
}

impl SourceError {
    /// Worth retrying after a pause (connection trouble) rather than a configuration mistake.
    pub fn is_transient(&self) -> bool {
        !matches!(self, SourceError::Auth { .. })
    }

    /// When the server is throttling: `Some` with the wait it asked for, if any.
    pub fn throttled(&self) -> Option<Option<Duration>> {
        match self {
            SourceError::Throttled { wait, .. } => Some(*wait),
            _ => None,
        }
    }
}

/// How a wait for new mail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// The server said something changed (or the poll interval passed): fetch again.
    Poll,
    /// Shutdown was requested.
    Shutdown,
}

/// A desk's source.
pub enum Source {
    /// Boxed: the IMAP session is large, and a desk holds one source for its whole life.
    Imap(Box<imap::ImapSource>),
    Maildir(maildir::MaildirSource),
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::Imap(s) => s.describe(),
            Source::Maildir(s) => s.describe(),
        }
    }

    /// Up to `limit` mails not yet done, oldest first. `position` is the stored checkpoint; when
    /// the server's UIDVALIDITY differs, the source starts over from the first UID (the store's
    /// Message-ID index turns the re-fetched mails into no-ops).
    pub async fn fetch(
        &mut self,
        position: Option<Position>,
        limit: usize,
    ) -> Result<Vec<RawMail>, SourceError> {
        let mut mails = Vec::new();
        self.fetch_each(position, limit, &mut |m| mails.push(m))
            .await?;
        Ok(mails)
    }

    /// [`Source::fetch`], handing each mail to `emit` as soon as it is there, oldest first, so
    /// that it can be processed while the rest are still coming. Returns how many were handed
    /// on; after an error, those handed on before it are still to be processed (or fetched
    /// again).
    pub async fn fetch_each(
        &mut self,
        position: Option<Position>,
        limit: usize,
        emit: &mut (dyn FnMut(RawMail) + Send),
    ) -> Result<usize, SourceError> {
        match self {
            Source::Imap(s) => s.fetch_each(position, limit, emit).await,
            Source::Maildir(s) => {
                let mails = s.fetch(limit)?;
                let n = mails.len();
                mails.into_iter().for_each(emit);
                Ok(n)
            }
        }
    }

    /// Marks mails done: `\Seen` (and moved, when configured) on IMAP, `new/` → `cur/` in a
    /// Maildir.
    pub async fn ack(&mut self, done: &[Origin]) -> Result<(), SourceError> {
        match self {
            Source::Imap(s) => s.ack(done).await,
            Source::Maildir(s) => s.ack(done),
        }
    }

    /// Whether [`Source::wait`] would wait in IMAP IDLE now (the server then tells of new mail
    /// as it comes); a Maildir never does.
    pub fn would_idle(&self) -> bool {
        match self {
            Source::Imap(s) => s.would_idle(),
            Source::Maildir(_) => false,
        }
    }

    /// Waits until new mail may be there: IDLE where offered, else a poll interval.
    pub async fn wait(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Woken, SourceError> {
        match self {
            Source::Imap(s) => s.wait(shutdown).await,
            Source::Maildir(s) => Ok(sleep_or_shutdown(s.poll_interval(), shutdown).await),
        }
    }

    /// Drops any connection (after an error), so the next call reconnects.
    pub async fn reset(&mut self) {
        if let Source::Imap(s) = self {
            s.reset().await;
        }
    }
}

/// Sleeps for `d` unless shutdown is requested first.
pub async fn sleep_or_shutdown(d: Duration, shutdown: &mut watch::Receiver<bool>) -> Woken {
    if *shutdown.borrow() {
        return Woken::Shutdown;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => Woken::Poll,
        _ = shutdown.changed() => Woken::Shutdown,
    }
}
