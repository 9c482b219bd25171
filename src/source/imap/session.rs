//! A logged-in session with the mailbox selected: sending commands and reading their answers,
//! and the work done on it (fetch, ack, IDLE).
//!
//! Commands go through [`Conn::command`] rather than async-imap's typed helpers: those end their
//! response streams at the tagged reply without looking at its status, and take a closed
//! connection for an empty answer, so a refused `UID STORE` or a server that went away would
//! pass for success here.

use super::wire::{mailbox_utf7, quote, uid_set};
use super::{bounded, Names, Session, GOODBYE_TIMEOUT, LOGIN_TIMEOUT};
use crate::source::in_order::InUidOrder;
use crate::source::{Origin, Position, RawMail, SourceError, Woken};
use async_imap::extensions::idle::IdleResponse;
use async_imap::imap_proto::{
    AttributeValue, Capability, MailboxDatum, Response, ResponseCode, Status,
};
use async_imap::types::UnsolicitedResponse;
use std::collections::{BTreeSet, HashSet};
use tokio::sync::watch;
use tokio::time::{timeout, Instant};

/// A logged-in session with the mailbox selected.
pub(super) struct Conn {
    pub(super) session: Session,
    pub(super) names: Names,
    pub(super) info: Info,
}

/// What was learnt about the server and the mailbox on this connection.
#[derive(Debug, Clone, Copy)]
pub(super) struct Info {
    pub(super) uid_validity: u32,
    pub(super) can_idle: bool,
    pub(super) can_move: bool,
    pub(super) uidplus: bool,
    /// The `move_to` folder is known to exist.
    pub(super) target_ready: bool,
    /// The server reported new mail (EXISTS or RECENT) since the last fetch.
    pub(super) news: bool,
}

impl Conn {
    /// Sends `cmd` and reads until its tagged reply, which must be OK. Untagged responses go to
    /// `each`, which says whether it used them; the others are noted (see [`Conn::note`]).
    async fn command(
        &mut self,
        cmd: &str,
        mut each: impl FnMut(&Response<'_>) -> bool,
    ) -> Result<(), SourceError> {
        let tag = self
            .session
            .run_command(cmd)
            .await
            .map_err(|e| self.names.imap(cmd, e))?;
        loop {
            let response = match self.session.read_response().await {
                Ok(Some(r)) => r,
                Ok(None) => {
                    return Err(self
                        .names
                        .connect(format!("{cmd}: the server closed the connection")))
                }
                Err(e) => return Err(self.names.lost(format!("during {cmd}: {e}"))),
            };
            let parsed = response.parsed();
            match parsed {
                Response::Done {
                    tag: t,
                    status,
                    outcome,
                } if *t == tag => {
                    let text = response_text(outcome);
                    return match status {
                        Status::Ok => Ok(()),
                        _ => Err(self.names.refused(&text, || {
                            self.names
                                .protocol(format!("{cmd}: the server answered {status:?} {text}"))
                        })),
                    };
                }
                Response::Data {
                    status: Status::Bye,
                    outcome,
                } => {
                    let text = response_text(outcome);
                    return Err(self.names.refused(&text, || {
                        self.names
                            .connect(format!("{cmd}: the server closed the connection: {text}"))
                    }));
                }
                _ => {
                    if !each(parsed) {
                        self.note(parsed);
                    }
                }
            }
        }
    }

    /// Remembers that the server announced new mail in passing, so
    /// [`super::ImapSource::wait`] does not go to sleep on it.
    fn note(&mut self, response: &Response<'_>) {
        if matches!(
            response,
            Response::MailboxData(MailboxDatum::Exists(_) | MailboxDatum::Recent(_))
        ) {
            self.info.news = true;
        }
    }

    /// Empties async-imap's channel of unsolicited responses (filled by LOGIN and IDLE), noting
    /// new mail. The channel is bounded and drops what does not fit, so it must not be left full.
    pub(super) fn drain(&mut self) {
        while let Ok(u) = self.session.unsolicited_responses.try_recv() {
            if matches!(
                u,
                UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
            ) {
                self.info.news = true;
            }
        }
    }

    pub(super) async fn read_capabilities(&mut self) -> Result<(), SourceError> {
        let mut caps = HashSet::new();
        self.command("CAPABILITY", |r| match r {
            Response::Capabilities(list) => {
                for c in list {
                    if let Capability::Atom(a) = c {
                        caps.insert(a.to_ascii_uppercase());
                    }
                }
                true
            }
            _ => false,
        })
        .await?;
        self.info.can_idle = caps.contains("IDLE");
        self.info.can_move = caps.contains("MOVE");
        self.info.uidplus = caps.contains("UIDPLUS");
        Ok(())
    }

    pub(super) async fn select(&mut self, mailbox: &str) -> Result<(), SourceError> {
        let quoted = quote(&mailbox_utf7(mailbox)).ok_or_else(|| {
            self.names
                .protocol("the mailbox name contains a line break")
        })?;
        let mut uid_validity = None;
        self.command(&format!("SELECT {quoted}"), |r| {
            if let Response::Data {
                status: Status::Ok,
                outcome,
            } = r
            {
                if let Some(ResponseCode::UidValidity(v)) = outcome.code {
                    uid_validity = Some(v);
                }
            }
            // EXISTS and RECENT belong to the SELECT here, not news.
            true
        })
        .await?;
        self.info.uid_validity = uid_validity.ok_or_else(|| {
            self.names
                .protocol(format!("SELECT {quoted}: the server sent no UIDVALIDITY"))
        })?;
        Ok(())
    }

    pub(super) async fn fetch(
        &mut self,
        position: Option<Position>,
        limit: usize,
        emit: &mut (dyn FnMut(RawMail) + Send),
    ) -> Result<usize, SourceError> {
        // A server shows a session new mail only between commands (Dovecot: after a command
        // finishes), and SEARCH answers about the mails the session was shown; the NOOP brings
        // the view up to date first.
        self.command("NOOP", |_| false).await?;
        // Whatever the server announced so far is covered by the search below.
        self.drain();
        self.info.news = false;
        let uid_validity = self.info.uid_validity;
        let start = match position {
            Some(p) if p.uid_validity == uid_validity => match p.last_uid.checked_add(1) {
                Some(start) => start,
                None => return Ok(0),
            },
            Some(p) => {
                tracing::warn!(
                    old = p.uid_validity,
                    new = uid_validity,
                    "the mailbox's UIDVALIDITY changed from {} to {}; fetching it again from the start",
                    p.uid_validity,
                    uid_validity
                );
                1
            }
            None => 1,
        };

        let mut found = BTreeSet::new();
        self.command(&format!("UID SEARCH UID {start}:*"), |r| match r {
            Response::MailboxData(MailboxDatum::Search(uids)) => {
                found.extend(uids.iter().copied());
                true
            }
            _ => false,
        })
        .await?;
        // `n:*` always includes the highest UID, even when that is below n.
        let wanted: BTreeSet<u32> = found
            .into_iter()
            .filter(|u| *u >= start)
            .take(limit)
            .collect();
        if wanted.is_empty() {
            return Ok(0);
        }

        let set = uid_set(wanted.iter().copied());
        let mut order = InUidOrder::new(wanted.iter().copied());
        let mut handed = 0usize;
        let mut hand_on = |uid: u32, raw: Vec<u8>| {
            tracing::debug!(uid, bytes = raw.len(), "fetched");
            handed += 1;
            emit(RawMail {
                origin: Origin::Imap { uid_validity, uid },
                raw,
            });
        };
        self.command(&format!("UID FETCH {set} (UID BODY.PEEK[])"), |r| {
            let Response::Fetch(_, attrs) = r else {
                return false;
            };
            let mut uid = None;
            let mut body = None;
            for a in attrs {
                match a {
                    AttributeValue::Uid(u) => uid = Some(*u),
                    AttributeValue::BodySection {
                        section: None,
                        data: Some(d),
                        ..
                    } => body = Some(d),
                    _ => {}
                }
            }
            match (uid, body) {
                (Some(uid), Some(body)) if order.wants(uid) => {
                    order.arrive(uid, body.to_vec(), &mut hand_on);
                    true
                }
                // A flag change reported in passing.
                _ => false,
            }
        })
        .await?;
        for uid in order.finish(&mut hand_on) {
            tracing::debug!(
                uid,
                "mail gone before it was fetched (expunged by another client)"
            );
        }
        Ok(handed)
    }

    pub(super) async fn ack(
        &mut self,
        done: &[Origin],
        move_to: Option<&str>,
    ) -> Result<(), SourceError> {
        let mut uids = BTreeSet::new();
        for o in done {
            if let Origin::Imap { uid_validity, uid } = o {
                if *uid_validity == self.info.uid_validity {
                    uids.insert(*uid);
                } else {
                    tracing::warn!(
                        uid,
                        uid_validity,
                        current = self.info.uid_validity,
                        "not acknowledged: the mailbox's UIDVALIDITY changed since it was fetched"
                    );
                }
            }
        }
        if uids.is_empty() {
            return Ok(());
        }
        let set = uid_set(uids.iter().copied());
        self.command(&format!("UID STORE {set} +FLAGS.SILENT (\\Seen)"), |_| {
            false
        })
        .await?;

        if let Some(target) = move_to {
            // Non-ASCII folder names (`Traité`) go in modified UTF-7, as the server lists them.
            let wire = mailbox_utf7(target);
            let quoted =
                quote(&wire).ok_or_else(|| self.names.protocol("move_to contains a line break"))?;
            if !self.info.target_ready {
                self.ensure_mailbox(target, &wire, &quoted).await?;
            }
            if self.info.can_move {
                self.command(&format!("UID MOVE {set} {quoted}"), |_| false)
                    .await?;
            } else {
                self.command(&format!("UID COPY {set} {quoted}"), |_| false)
                    .await?;
                self.command(
                    &format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)"),
                    |_| false,
                )
                .await?;
                if self.info.uidplus {
                    self.command(&format!("UID EXPUNGE {set}"), |_| false)
                        .await?;
                } else {
                    // Without UIDPLUS this also expunges mail that others marked deleted.
                    self.command("EXPUNGE", |_| false).await?;
                }
            }
        }
        for uid in &uids {
            tracing::debug!(uid, moved_to = move_to.unwrap_or(""), "acknowledged");
        }
        Ok(())
    }

    /// Creates the `move_to` folder unless it exists; `wire` is its name in modified UTF-7.
    async fn ensure_mailbox(
        &mut self,
        name: &str,
        wire: &str,
        quoted: &str,
    ) -> Result<(), SourceError> {
        let mut exists = false;
        self.command(&format!("LIST \"\" {quoted}"), |r| match r {
            Response::MailboxData(MailboxDatum::List(l)) => {
                exists |= l.name == wire;
                true
            }
            _ => false,
        })
        .await?;
        if !exists {
            self.command(&format!("CREATE {quoted}"), |_| false).await?;
            tracing::info!(folder = name, "created the folder for done mail");
        }
        self.info.target_ready = true;
        Ok(())
    }

    /// One IDLE: until the server reports new mail, `renew` has passed (the caller then issues
    /// a new one), or shutdown is asked for. The connection comes back unless it failed (or
    /// could not end the IDLE on shutdown).
    pub(super) async fn idle(
        self,
        shutdown: &mut watch::Receiver<bool>,
        renew: std::time::Duration,
    ) -> Result<(Option<Conn>, Woken), SourceError> {
        let Conn {
            session,
            names,
            info,
        } = self;
        let mut handle = session.idle();
        bounded(&names, "IDLE", LOGIN_TIMEOUT, async {
            handle.init().await.map_err(|e| names.imap("IDLE", e))
        })
        .await?;
        tracing::debug!("idling");

        let deadline = Instant::now() + renew;
        let woken = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Woken::Poll;
            }
            // The stop source ends the wait when dropped, so it must live as long as the wait.
            let (idle, stop) = handle.wait_with_timeout(left);
            let response = tokio::select! {
                r = idle => r,
                _ = shutdown.changed() => break Woken::Shutdown,
            };
            drop(stop);
            match response {
                Ok(IdleResponse::NewData(data)) => match data.parsed() {
                    Response::MailboxData(MailboxDatum::Exists(_) | MailboxDatum::Recent(_)) => {
                        break Woken::Poll
                    }
                    Response::Data {
                        status: Status::Bye,
                        outcome,
                    } => {
                        let text = response_text(outcome);
                        return Err(names.refused(&text, || {
                            names.connect(format!(
                                "the server closed the connection during IDLE: {text}"
                            ))
                        }));
                    }
                    // Flag changes and expunges by other clients bring nothing to fetch.
                    _ => continue,
                },
                Ok(IdleResponse::Timeout) => break Woken::Poll,
                // The stop source was held, so the response stream itself ended.
                Ok(IdleResponse::ManualInterrupt) => {
                    return Err(names.connect("the server closed the connection during IDLE"));
                }
                Err(e) => return Err(names.imap("IDLE", e)),
            }
        };

        match timeout(GOODBYE_TIMEOUT, handle.done()).await {
            Ok(Ok(session)) => {
                let mut conn = Conn {
                    session,
                    names,
                    info,
                };
                conn.drain();
                Ok((Some(conn), woken))
            }
            // Leaving anyway: the connection is dropped unfinished.
            _ if woken == Woken::Shutdown => Ok((None, Woken::Shutdown)),
            Ok(Err(e)) => Err(names.imap("DONE", e)),
            Err(_) => Err(names.connect(format!(
                "DONE: no answer within {} s",
                GOODBYE_TIMEOUT.as_secs()
            ))),
        }
    }
}

/// A status response's words with its response code, as the server wrote them
/// (`[LIMIT] Too many commands`).
fn response_text(outcome: &async_imap::imap_proto::Outcome<'_>) -> String {
    let info = outcome.information.as_deref().unwrap_or("");
    match &outcome.code {
        Some(code) => format!("[{}] {info}", code_name(code)),
        None => info.to_string(),
    }
}

/// The name of a response code imap-proto knows (`ALERT`, `UIDVALIDITY`); codes it does not
/// know, such as `[LIMIT]`, stay at the start of the information.
fn code_name(code: &ResponseCode<'_>) -> String {
    format!("{code:?}")
        .split(['(', ' '])
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase()
}
