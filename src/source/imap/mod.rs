//! An IMAP mailbox as a desk's source, over async-imap.
//!
//! The source connects lazily, keeps one session with the desk's mailbox selected, and hands out
//! mails by UID above the stored [`Position`]. Fetching never sets `\Seen`; only [`ImapSource::ack`]
//! does (and moves the mail, when configured), which the pipeline calls once a batch is safely
//! stored. Any error drops the session, so the next call starts on a fresh connection; the caller
//! owns the back-off. A call whose future is dropped half-way (a caller's timeout) also drops the
//! session, since a command cut off in the middle leaves the protocol state unknown. New mail is
//! awaited with IDLE where the server offers it.
//!
//! Commands after login go through `Conn::command` (`session.rs`), which checks every tagged
//! reply, rather than async-imap's typed helpers.
//!
//! The folder separates the protocol from the session, as Stalwart separates `imap-proto` from
//! `imap`: `wire.rs` holds the pure protocol helpers (URL, UID sets, quoting), `connect.rs` gets
//! a logged-in session, `session.rs` runs commands on it, and this file is the public source API
//! with its time limits. It may import the source's own types, [`crate::config`] (the desk's
//! `[desk.imap]`) and [`crate::core`]; never another adapter (`store`, `outbound`, `render`) or
//! the pipeline.

mod connect;
mod session;
mod wire;

use super::{sleep_or_shutdown, Origin, Position, RawMail, SourceError, Woken};
use crate::clock::{Clock, SystemClock};
use crate::config::{AuthMethod, ImapConfig};
use crate::oauth::Tokens;
use connect::ImapStream;
use session::Conn;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::timeout;
use tracing::Instrument;

/// How long the TCP connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long greeting, TLS, login, CAPABILITY and SELECT may take together.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one fetch or ack may take; generous, since a batch may hold mails of 25 MB.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a session may stay silent before servers log it out (RFC 3501 §5.4: at least 30
/// minutes); a poll interval as long as this is slept without a connection.
const AUTOLOGOUT: Duration = Duration::from_secs(25 * 60);
/// How long LOGOUT or the DONE that ends an IDLE may take before the connection is just dropped.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(5);

type Session = async_imap::Session<ImapStream>;

/// A desk's IMAP mailbox.
pub struct ImapSource {
    names: Names,
    cfg: ImapConfig,
    /// The access tokens, with `auth = "oauth2"`; kept across connections.
    tokens: Option<Tokens>,
    conn: Option<Conn>,
}

impl ImapSource {
    /// A source for `cfg`; it connects on first use. Token expiry is judged by the wall clock.
    pub fn new(desk: &str, cfg: ImapConfig) -> ImapSource {
        ImapSource::with_clock(desk, cfg, Arc::new(SystemClock))
    }

    /// A source whose OAuth2 token expiry is judged by `clock`.
    pub fn with_clock(desk: &str, cfg: ImapConfig, clock: Arc<dyn Clock>) -> ImapSource {
        let names = Names {
            desk: desk.to_string(),
            url: cfg.url.clone(),
            user: cfg.user.clone(),
        };
        let tokens = match (cfg.auth, &cfg.oauth2) {
            (AuthMethod::Oauth2, Some(o)) => Some(Tokens::new(o.clone(), clock)),
            _ => None,
        };
        ImapSource {
            names,
            cfg,
            tokens,
            conn: None,
        }
    }

    /// Whether [`ImapSource::wait`] would wait in IDLE now: IDLE is wanted, and the connection
    /// is up and its server offers it (else the wait opens a connection or sleeps a poll).
    pub fn would_idle(&self) -> bool {
        self.cfg.idle
            && self
                .conn
                .as_ref()
                .is_some_and(|c| c.info.can_idle && !c.info.news)
    }

    /// The server, user and mailbox, for start-up logs and `deskgate check`.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} user {} mailbox {}",
            self.cfg.url, self.cfg.user, self.cfg.mailbox
        );
        if let Some(to) = &self.cfg.move_to {
            let _ = write!(s, " (done mail moved to {to})");
        }
        s
    }

    /// Up to `limit` mails above `position`, ascending by UID (see [`ImapSource::fetch_each`]).
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

    /// Up to `limit` mails above `position`, ascending by UID, each handed to `emit` as soon as
    /// it (and every lower UID asked for) has come, while the rest are still being fetched.
    /// When the server's UIDVALIDITY is not the position's (or there is no position), it starts
    /// from the first UID. Returns how many mails were handed on.
    pub async fn fetch_each(
        &mut self,
        position: Option<Position>,
        limit: usize,
        emit: &mut (dyn FnMut(RawMail) + Send),
    ) -> Result<usize, SourceError> {
        let span = tracing::info_span!("imap", desk = %self.names.desk);
        async {
            if limit == 0 {
                return Ok(0);
            }
            let mut conn = self.take_or_open().await?;
            let result = bounded(
                &self.names,
                "fetch",
                COMMAND_TIMEOUT,
                conn.fetch(position, limit, emit),
            )
            .await;
            // On error the session is dropped here, so the next call reconnects.
            if result.is_ok() {
                self.conn = Some(conn);
            }
            result
        }
        .instrument(span)
        .await
    }

    /// Marks the mails `\Seen` and, when `move_to` is set, moves them there. Origins of another
    /// UIDVALIDITY are skipped: their UIDs now name other mails, or none.
    pub async fn ack(&mut self, done: &[Origin]) -> Result<(), SourceError> {
        let span = tracing::info_span!("imap", desk = %self.names.desk);
        async {
            if !done.iter().any(|o| matches!(o, Origin::Imap { .. })) {
                return Ok(());
            }
            let mut conn = self.take_or_open().await?;
            let result = bounded(
                &self.names,
                "ack",
                COMMAND_TIMEOUT,
                conn.ack(done, self.cfg.move_to.as_deref()),
            )
            .await;
            if result.is_ok() {
                self.conn = Some(conn);
            }
            result
        }
        .instrument(span)
        .await
    }

    /// Waits until new mail may be there: with IDLE when the server offers it and `idle` is on,
    /// else for the poll interval.
    pub async fn wait(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Woken, SourceError> {
        let span = tracing::info_span!("imap", desk = %self.names.desk);
        self.wait_inner(shutdown).instrument(span).await
    }

    /// Drops the connection, logging out first when the server still answers.
    pub async fn reset(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            if timeout(GOODBYE_TIMEOUT, conn.session.logout())
                .await
                .is_err()
            {
                tracing::debug!("no answer to LOGOUT; dropping the connection");
            }
        }
    }

    async fn wait_inner(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Woken, SourceError> {
        if *shutdown.borrow() {
            return Ok(Woken::Shutdown);
        }
        let poll = Duration::from_secs(self.cfg.poll_interval_secs.max(1));
        if !self.cfg.idle {
            return Ok(sleep_or_shutdown(poll, shutdown).await);
        }
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => {
                let conn = tokio::select! {
                    conn = self.open() => conn?,
                    _ = shutdown.changed() => return Ok(Woken::Shutdown),
                };
                // Mail may have come while there was no connection, and IDLE only reports what
                // comes after it starts.
                self.conn = Some(conn);
                return Ok(Woken::Poll);
            }
        };
        conn.drain();
        if conn.info.news {
            // The server reported new mail during an earlier command; IDLE would not repeat it.
            self.conn = Some(conn);
            return Ok(Woken::Poll);
        }
        if !conn.info.can_idle {
            self.conn = Some(conn);
            if poll >= AUTOLOGOUT {
                // The server would log the session out during so long a pause anyway.
                self.reset().await;
            }
            return Ok(sleep_or_shutdown(poll, shutdown).await);
        }
        // RFC 2177: an IDLE is ended and issued again before 29 minutes; Exchange Online and
        // Gmail drop one left alone for about 30 (`idle_renew_secs`, default 25 minutes).
        let renew = Duration::from_secs(self.cfg.idle_renew_secs.max(1));
        let (conn, woken) = conn.idle(shutdown, renew).await?;
        self.conn = conn;
        Ok(woken)
    }

    async fn take_or_open(&mut self) -> Result<Conn, SourceError> {
        match self.conn.take() {
            Some(conn) => Ok(conn),
            None => self.open().await,
        }
    }

    async fn open(&self) -> Result<Conn, SourceError> {
        bounded(
            &self.names,
            "login",
            LOGIN_TIMEOUT,
            connect::open(self.names.clone(), &self.cfg, self.tokens.as_ref()),
        )
        .await
    }
}

/// What errors name: the desk, the server and the user.
#[derive(Debug, Clone)]
struct Names {
    desk: String,
    url: String,
    user: String,
}

impl Names {
    fn connect(&self, message: impl Into<String>) -> SourceError {
        SourceError::Connect {
            desk: self.desk.clone(),
            url: self.url.clone(),
            message: message.into(),
        }
    }

    /// The connection worked and then went away.
    fn lost(&self, message: impl Into<String>) -> SourceError {
        SourceError::Lost {
            desk: self.desk.clone(),
            url: self.url.clone(),
            message: message.into(),
        }
    }

    fn protocol(&self, message: impl std::fmt::Display) -> SourceError {
        SourceError::Protocol {
            desk: self.desk.clone(),
            message: format!("{}: {message}", self.url),
        }
    }

    /// The server refused or hung up with words that say it is throttling us
    /// ([`wire::throttling`]); otherwise `otherwise`.
    fn refused(&self, text: &str, otherwise: impl FnOnce() -> SourceError) -> SourceError {
        match wire::throttling(text) {
            Some(wait) => SourceError::Throttled {
                desk: self.desk.clone(),
                url: self.url.clone(),
                message: text.to_string(),
                wait,
            },
            None => otherwise(),
        }
    }

    fn auth(&self, message: impl Into<String>) -> SourceError {
        SourceError::Auth {
            desk: self.desk.clone(),
            user: self.user.clone(),
            message: message.into(),
        }
    }

    /// An async-imap error: trouble with the connection is `Connect`, anything else `Protocol`.
    fn imap(&self, doing: &str, e: async_imap::error::Error) -> SourceError {
        use async_imap::error::Error as E;
        match e {
            E::Io(io) => self.lost(format!("during {doing}: {io}")),
            E::ConnectionLost => self.lost(format!("during {doing}")),
            _ => self.protocol(format!("{doing}: {e}")),
        }
    }
}

/// Runs `f` for at most `limit`; running out of time counts as a connection problem.
async fn bounded<T>(
    names: &Names,
    what: &str,
    limit: Duration,
    f: impl Future<Output = Result<T, SourceError>>,
) -> Result<T, SourceError> {
    match timeout(limit, f).await {
        Ok(result) => result,
        Err(_) => Err(names.connect(format!("{what}: no answer within {} s", limit.as_secs()))),
    }
}
