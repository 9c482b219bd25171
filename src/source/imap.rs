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
//! Commands after login go through [`Conn::command`] rather than async-imap's typed helpers: those
//! end their response streams at the tagged reply without looking at its status, and take a closed
//! connection for an empty answer, so a refused `UID STORE` or a server that went away would pass
//! for success here.

use super::in_order::InUidOrder;
use super::{sleep_or_shutdown, Origin, Position, RawMail, SourceError, Woken};
use crate::config::ImapConfig;
use async_imap::extensions::idle::IdleResponse;
use async_imap::imap_proto::{
    AttributeValue, Capability, MailboxDatum, Response, ResponseCode, Status,
};
use async_imap::types::UnsolicitedResponse;
use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{timeout, Instant};
use tracing::Instrument;

/// How long the TCP connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long greeting, TLS, login, CAPABILITY and SELECT may take together.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one fetch or ack may take; generous, since a batch may hold mails of 25 MB.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);
/// How long one IDLE lasts before it is renewed: RFC 2177 asks for less than 29 minutes, and
/// servers log idle clients out after 30.
const IDLE_CYCLE: Duration = Duration::from_secs(25 * 60);
/// How long LOGOUT or the DONE that ends an IDLE may take before the connection is just dropped.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(5);

type Session = async_imap::Session<ImapStream>;

/// A desk's IMAP mailbox.
pub struct ImapSource {
    names: Names,
    cfg: ImapConfig,
    conn: Option<Conn>,
}

impl ImapSource {
    /// A source for `cfg`; it connects on first use.
    pub fn new(desk: &str, cfg: ImapConfig) -> ImapSource {
        let names = Names {
            desk: desk.to_string(),
            url: cfg.url.clone(),
            user: cfg.user.clone(),
        };
        ImapSource {
            names,
            cfg,
            conn: None,
        }
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
            if poll >= IDLE_CYCLE {
                // The server would log the session out during so long a pause anyway.
                self.reset().await;
            }
            return Ok(sleep_or_shutdown(poll, shutdown).await);
        }
        let (conn, woken) = conn.idle(shutdown).await?;
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
            open(self.names.clone(), &self.cfg),
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

/// A logged-in session with the mailbox selected.
struct Conn {
    session: Session,
    names: Names,
    info: Info,
}

/// What was learnt about the server and the mailbox on this connection.
#[derive(Debug, Clone, Copy)]
struct Info {
    uid_validity: u32,
    can_idle: bool,
    can_move: bool,
    uidplus: bool,
    /// The `move_to` folder is known to exist.
    target_ready: bool,
    /// The server reported new mail (EXISTS or RECENT) since the last fetch.
    news: bool,
}

/// Connects, logs in, selects the mailbox and reads the capabilities.
async fn open(names: Names, cfg: &ImapConfig) -> Result<Conn, SourceError> {
    let endpoint = Endpoint::parse(&cfg.url).map_err(|m| names.connect(m))?;
    // A password_command may take a while, so it runs off the async threads. Its failure is
    // transient: nothing reached the server, and a secret store may just be unavailable.
    let secret_cfg = cfg.clone();
    let password = tokio::task::spawn_blocking(move || secret_cfg.secret().resolve())
        .await
        .map_err(|e| names.connect(format!("password_command did not finish: {e}")))?
        .map_err(|m| names.connect(format!("no password: {m}")))?;

    let tcp = match timeout(
        CONNECT_TIMEOUT,
        TcpStream::connect((endpoint.host.as_str(), endpoint.port)),
    )
    .await
    {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => return Err(names.connect(e.to_string())),
        Err(_) => {
            return Err(names.connect(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())))
        }
    };
    // IMAP is a chatty line protocol; Nagle's delay would only slow each command down.
    let _ = tcp.set_nodelay(true);

    let client = match endpoint.security {
        Security::Plain => {
            let mut client = async_imap::Client::new(ImapStream::Plain(tcp));
            greeting(&names, &mut client).await?;
            client
        }
        Security::Tls => {
            let tls = tls_handshake(&names, cfg, &endpoint.host, tcp).await?;
            let mut client = async_imap::Client::new(ImapStream::Tls(Box::new(tls)));
            greeting(&names, &mut client).await?;
            client
        }
        Security::StartTls => {
            let mut plain = async_imap::Client::new(tcp);
            greeting(&names, &mut plain).await?;
            plain
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| names.imap("STARTTLS", e))?;
            let tls = tls_handshake(&names, cfg, &endpoint.host, plain.into_inner()).await?;
            // No greeting follows the handshake: the server waits for the next command.
            async_imap::Client::new(ImapStream::Tls(Box::new(tls)))
        }
    };

    let session = match client.login(&cfg.user, password.expose()).await {
        Ok(session) => session,
        Err((e, _)) => {
            use async_imap::error::Error as E;
            return Err(match e {
                E::No(m) => {
                    let text = server_text(&m);
                    if text.starts_with("[UNAVAILABLE]") {
                        // RFC 5530: the server's password check is down, not the password wrong.
                        names.connect(format!("login as {} not possible now: {text}", cfg.user))
                    } else {
                        names.auth(text)
                    }
                }
                E::Validate(v) => names.auth(format!(
                    "the user name or password cannot be sent in LOGIN: {v}"
                )),
                other => names.imap("LOGIN", other),
            });
        }
    };

    let mut conn = Conn {
        session,
        names,
        info: Info {
            uid_validity: 0,
            can_idle: false,
            can_move: false,
            uidplus: false,
            target_ready: false,
            news: false,
        },
    };
    conn.read_capabilities().await?;
    conn.select(&cfg.mailbox).await?;
    conn.drain();
    conn.info.news = false;
    tracing::info!(
        url = %cfg.url,
        user = %cfg.user,
        mailbox = %cfg.mailbox,
        uid_validity = conn.info.uid_validity,
        idle = conn.info.can_idle,
        r#move = conn.info.can_move,
        "connected"
    );
    Ok(conn)
}

/// The server's own words from an async-imap NO/BAD error, which reads
/// `code: None, info: Some("[AUTHENTICATIONFAILED] Authentication failed.")`.
fn server_text(message: &str) -> String {
    message
        .split_once("info: Some(\"")
        .and_then(|(_, rest)| rest.strip_suffix("\")"))
        .map(|text| text.replace("\\\"", "\"").replace("\\\\", "\\"))
        .unwrap_or_else(|| message.to_string())
}

/// Reads the server's greeting, which must be `* OK`.
async fn greeting<T>(names: &Names, client: &mut async_imap::Client<T>) -> Result<(), SourceError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let response = match client.read_response().await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Err(names.connect("the server closed the connection before its greeting"))
        }
        Err(e) => return Err(names.connect(format!("reading the greeting: {e}"))),
    };
    match response.parsed() {
        Response::Data {
            status: Status::Ok, ..
        } => Ok(()),
        Response::Data { status, outcome } => Err(names.connect(format!(
            "the server greeted with {status:?} {}",
            outcome.information.as_deref().unwrap_or("")
        ))),
        other => Err(names.protocol(format!("unexpected greeting {other:?}"))),
    }
}

/// Wraps `tcp` in TLS, trusting the webpki roots plus the certificates of `ca_file`.
async fn tls_handshake(
    names: &Names,
    cfg: &ImapConfig,
    host: &str,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, SourceError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &cfg.ca_file {
        let shown = path.display();
        let pem = tokio::fs::read(path)
            .await
            .map_err(|e| names.connect(format!("ca_file {shown}: {e}")))?;
        let mut added = 0;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| names.connect(format!("ca_file {shown}: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| names.connect(format!("ca_file {shown}: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(names.connect(format!("ca_file {shown}: no PEM certificate in it")));
        }
    }
    // The provider is named rather than taken from the process default, so this never depends on
    // which rustls backends other crates compiled in.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| names.connect(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let server_name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| names.connect(format!("{host:?} is not a valid TLS server name: {e}")))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await
        .map_err(|e| names.connect(format!("TLS handshake with {host}: {e}")))
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
                    return match status {
                        Status::Ok => Ok(()),
                        _ => Err(self.names.protocol(format!(
                            "{cmd}: the server answered {status:?} {}",
                            outcome.information.as_deref().unwrap_or("")
                        ))),
                    };
                }
                Response::Data {
                    status: Status::Bye,
                    outcome,
                } => {
                    return Err(self.names.connect(format!(
                        "{cmd}: the server closed the connection: {}",
                        outcome.information.as_deref().unwrap_or("BYE")
                    )));
                }
                _ => {
                    if !each(parsed) {
                        self.note(parsed);
                    }
                }
            }
        }
    }

    /// Remembers that the server announced new mail in passing, so [`ImapSource::wait`] does not
    /// go to sleep on it.
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
    fn drain(&mut self) {
        while let Ok(u) = self.session.unsolicited_responses.try_recv() {
            if matches!(
                u,
                UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
            ) {
                self.info.news = true;
            }
        }
    }

    async fn read_capabilities(&mut self) -> Result<(), SourceError> {
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

    async fn select(&mut self, mailbox: &str) -> Result<(), SourceError> {
        let quoted = quote(mailbox).ok_or_else(|| {
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

    async fn fetch(
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

    async fn ack(&mut self, done: &[Origin], move_to: Option<&str>) -> Result<(), SourceError> {
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
            let quoted = quote(target)
                .ok_or_else(|| self.names.protocol("move_to contains a line break"))?;
            if !self.info.target_ready {
                self.ensure_mailbox(target, &quoted).await?;
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

    /// Creates the `move_to` folder unless it exists.
    async fn ensure_mailbox(&mut self, name: &str, quoted: &str) -> Result<(), SourceError> {
        let mut exists = false;
        self.command(&format!("LIST \"\" {quoted}"), |r| match r {
            Response::MailboxData(MailboxDatum::List(l)) => {
                exists |= l.name == name;
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

    /// One IDLE: until the server reports new mail, the cycle ends, or shutdown is asked for.
    /// The connection comes back unless it failed (or could not end the IDLE on shutdown).
    async fn idle(
        self,
        shutdown: &mut watch::Receiver<bool>,
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

        let deadline = Instant::now() + IDLE_CYCLE;
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
                        return Err(names.connect(format!(
                            "the server closed the connection during IDLE: {}",
                            outcome.information.as_deref().unwrap_or("BYE")
                        )));
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

/// How the connection is secured, from the URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    Plain,
    StartTls,
    Tls,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Endpoint {
    security: Security,
    host: String,
    port: u16,
}

impl Endpoint {
    /// Parses `imap://host[:port]`, `imap+starttls://…` or `imaps://…`; an IPv6 host goes in
    /// brackets. A trailing path is ignored.
    fn parse(url: &str) -> Result<Endpoint, String> {
        let bad = |why: &str| format!("{url:?} is not a usable IMAP URL: {why}");
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let (security, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "imap" => (Security::Plain, 143),
            "imap+starttls" => (Security::StartTls, 143),
            "imaps" => (Security::Tls, 993),
            _ => return Err(bad("the scheme must be imap, imap+starttls or imaps")),
        };
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.contains('@') {
            return Err(bad("put the user in `user`, not in the URL"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            match after {
                "" => (host, None),
                _ => (
                    host,
                    Some(after.strip_prefix(':').ok_or_else(|| bad("junk after ]"))?),
                ),
            }
        } else {
            match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| bad("the port is not a number from 1 to 65535"))?,
            None => default_port,
        };
        if port == 0 {
            return Err(bad("the port is not a number from 1 to 65535"));
        }
        Ok(Endpoint {
            security,
            host: host.to_string(),
            port,
        })
    }
}

/// A UID set in ranges, `1:5,7,9:12`, so batches stay short on the command line.
fn uid_set(uids: impl IntoIterator<Item = u32>) -> String {
    let mut sorted: Vec<u32> = uids.into_iter().collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut rest = sorted.into_iter().peekable();
    while let Some(start) = rest.next() {
        let mut end = start;
        while let Some(&next) = rest.peek() {
            if end.checked_add(1) != Some(next) {
                break;
            }
            end = next;
            rest.next();
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}:{end}");
        }
    }
    out
}

/// An IMAP quoted string; `None` for line breaks, which no quoting can carry.
fn quote(s: &str) -> Option<String> {
    if s.contains(['\r', '\n']) {
        return None;
    }
    Some(format!(
        "\"{}\"",
        s.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

/// The connection under the IMAP client: plain TCP (loopback, tests) or TLS, as one type so the
/// session has one type whatever the URL says.
#[derive(Debug)]
enum ImapStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for ImapStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ImapStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ImapStream::Plain(s) => s.is_write_vectored(),
            ImapStream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_lists_are_compressed_into_ranges() {
        assert_eq!(uid_set([9, 1, 2, 3, 4, 5, 7, 10, 11, 12, 3]), "1:5,7,9:12");
        assert_eq!(uid_set([42]), "42");
        assert_eq!(uid_set([u32::MAX - 1, u32::MAX]), "4294967294:4294967295");
        assert_eq!(uid_set(std::iter::empty()), "");
    }

    #[test]
    fn urls_give_security_host_and_port() {
        let e = |u: &str| Endpoint::parse(u).expect(u);
        assert_eq!(
            e("imap://127.0.0.1:1143"),
            Endpoint {
                security: Security::Plain,
                host: "127.0.0.1".into(),
                port: 1143
            }
        );
        assert_eq!(
            e("imaps://mail.example.net"),
            Endpoint {
                security: Security::Tls,
                host: "mail.example.net".into(),
                port: 993
            }
        );
        assert_eq!(
            e("imap+starttls://mx/"),
            Endpoint {
                security: Security::StartTls,
                host: "mx".into(),
                port: 143
            }
        );
        assert_eq!(
            e("imaps://[::1]:1993"),
            Endpoint {
                security: Security::Tls,
                host: "::1".into(),
                port: 1993
            }
        );
        for bad in [
            "http://x",
            "imap://",
            "imap://h:0",
            "imap://h:99999",
            "imap://u@h",
            "imaps://[::1",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn server_text_is_taken_out_of_async_imap_errors() {
        let m = r#"code: None, info: Some("[AUTHENTICATIONFAILED] Authentication \"failed\".")"#;
        assert_eq!(
            server_text(m),
            r#"[AUTHENTICATIONFAILED] Authentication "failed"."#
        );
        assert_eq!(
            server_text("code: None, info: None"),
            "code: None, info: None"
        );
    }

    #[test]
    fn mailbox_names_are_quoted() {
        assert_eq!(quote("INBOX").as_deref(), Some("\"INBOX\""));
        assert_eq!(quote(r#"a"b\c"#).as_deref(), Some(r#""a\"b\\c""#));
        assert_eq!(quote("a\r\nb"), None);
    }
}
