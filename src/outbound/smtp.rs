//! SMTP sessions for the outbound transport: lettre speaks the protocol, this module keeps the
//! connections.
//!
//! Why not lettre's pooled `AsyncSmtpTransport`: lettre 0.11.23 leaves Nagle's algorithm on and
//! writes the final `.` of a message as a separate small write, which then waits for the
//! server's delayed ACK (40 ms on Linux) — 22 mails/s on a connection that carries 7,700 without
//! the stall (`benches/broadcast.rs`; fixed upstream in lettre pull request 1159, not released).
//! Its pool also sends NOOP on every checkout and has no time limit on a transaction. Here each
//! connection is opened with `TCP_NODELAY` and handed to
//! `AsyncSmtpConnection::connect_with_transport`; a parked session is checked with NOOP only
//! after it has been idle for a while, and every step runs under the configured timeout.
//!
//! A transaction can stop short of its final `.` ([`Sessions::begin`], [`Open::finish`]): the
//! server's answer to that `.` is SMTP's commit point, so the delivery worker sends MAIL, RCPT,
//! DATA and the body of the next mail while the previous outcome is being flushed, and the `.`
//! only once it is durable. lettre writes the commands; the body goes on the same stream through
//! a second handle ([`Wire`]) because lettre's `message` always ends with the `.`. Under
//! STARTTLS lettre encrypts above that handle, so there the whole transaction waits and is sent
//! in one go by [`Open::finish`].

use crate::oauth::{sasl, Tokens};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// A parked session idle for less than this is reused without a NOOP: during a burst the server
/// has had no time to hang up, and a NOOP per mail costs a round trip (10 % of the rate).
const TRUSTED_IDLE: Duration = Duration::from_secs(2);

/// A parked session idle for longer than this is closed rather than reused (servers drop idle
/// sessions after a few minutes: Postfix's `smtpd_timeout` is 300 s).
const MAX_IDLE: Duration = Duration::from_secs(60);

/// How the connection is secured.
pub enum Security {
    Plain,
    /// STARTTLS after the greeting, required (lettre upgrades the stream).
    StartTls(TlsParameters),
    /// TLS from the first byte (SMTPS).
    Implicit(tokio_rustls::TlsConnector),
}

/// Where and how to connect.
pub struct Server {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub hello: ClientId,
    pub login: Option<Login>,
    /// Limit for connecting (TCP, TLS, EHLO, AUTH) and for each transaction.
    pub timeout: Duration,
}

/// How a session logs in.
pub enum Login {
    /// AUTH PLAIN or LOGIN with a user name and password (lettre's).
    Password(Credentials),
    /// AUTH XOAUTH2 or OAUTHBEARER with an access token for `user`.
    OAuth2 { user: String, tokens: Box<Tokens> },
}

/// Why a session or a transaction failed.
#[derive(Debug)]
pub enum SessionError {
    /// The server's answer, or lettre's protocol error.
    Smtp(lettre::transport::smtp::Error),
    /// No session could be set up (TCP, TLS), a step took too long, or the server lacks an
    /// extension the mail needs.
    Connect(String),
    /// The connection failed while this module wrote on it.
    Lost(String),
    /// The server refused a new access token (with its reason), or none could be had.
    Auth(String),
}

impl SessionError {
    /// Whether the session failed without the server answering (it may have hung up while
    /// the session was parked).
    fn unanswered(&self) -> bool {
        match self {
            SessionError::Smtp(e) => e.status().is_none(),
            SessionError::Lost(_) => true,
            SessionError::Connect(_) | SessionError::Auth(_) => false,
        }
    }
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionError::Smtp(e) => write!(f, "{e}"),
            SessionError::Connect(e) | SessionError::Lost(e) | SessionError::Auth(e) => {
                f.write_str(e)
            }
        }
    }
}

/// Open SMTP sessions to one server, reused across mails and shared by concurrent senders.
pub struct Sessions {
    server: Server,
    idle: Mutex<Vec<Parked>>,
    /// At most this many sessions are kept open while idle; more may be open while busy.
    keep: AtomicUsize,
}

struct Parked {
    conn: Conn,
    since: Instant,
}

/// One checked-out session: `fresh` when it was opened for this use.
struct Session {
    conn: Conn,
    fresh: bool,
}

/// An open SMTP connection.
struct Conn {
    smtp: AsyncSmtpConnection,
    /// The stream lettre reads and writes, for writing a body without its final `.`; `None`
    /// under STARTTLS, where lettre's encryption sits above it.
    body: Option<Wire>,
}

/// A mail transaction sent up to, not including, its final `.`, on a session of its own.
pub struct Open<'a> {
    sessions: &'a Sessions,
    session: Session,
    rest: Rest,
}

/// What is left to send of an [`Open`] transaction.
enum Rest {
    /// The final `.`: everything before it has been sent and accepted.
    Dot,
    /// All of it (a session where the body cannot be written apart from the `.`).
    Whole { envelope: Envelope, bytes: Vec<u8> },
}

impl Sessions {
    pub fn new(server: Server, keep: usize) -> Sessions {
        Sessions {
            server,
            idle: Mutex::new(Vec::new()),
            keep: AtomicUsize::new(keep.max(1)),
        }
    }

    /// Keeps up to `n` idle sessions: as many as mails are sent at once, so none is reopened.
    pub fn keep_open(&self, n: usize) {
        self.keep.store(n.max(1), Ordering::Relaxed);
    }

    /// Sends one mail transaction (MAIL, RCPT, DATA).
    pub async fn send(&self, envelope: &Envelope, bytes: &[u8]) -> Result<(), SessionError> {
        self.begin(envelope, bytes).await?.finish().await
    }

    /// Sends a mail transaction except its final `.`: MAIL, RCPT, DATA and the body. A failure
    /// without an answer from the server on a reused session (it hung up meanwhile) is tried
    /// once more on a new one; nothing can have been delivered yet. Dropping the returned
    /// transaction closes its session without the `.`, so the mail is not delivered.
    pub async fn begin(&self, envelope: &Envelope, bytes: &[u8]) -> Result<Open<'_>, SessionError> {
        let mut session = self.checkout().await?;
        if session.conn.body.is_none() {
            return Ok(Open {
                sessions: self,
                session,
                rest: Rest::Whole {
                    envelope: envelope.clone(),
                    bytes: bytes.to_vec(),
                },
            });
        }
        match self.until_dot(&mut session.conn, envelope, bytes).await {
            Ok(()) => {}
            Err(e) if !session.fresh && e.unanswered() => {
                tracing::debug!(error = %e, "reused SMTP session failed; trying a new one");
                session = Session {
                    conn: self.connect().await?,
                    fresh: true,
                };
                self.until_dot(&mut session.conn, envelope, bytes).await?;
            }
            Err(e) => return Err(e),
        }
        Ok(Open {
            sessions: self,
            session,
            rest: Rest::Dot,
        })
    }

    /// MAIL, RCPT, DATA and the dot-stuffed body, under the timeout. After a failure the caller
    /// drops the connection without QUIT: the server may be reading data, where QUIT is text.
    async fn until_dot(
        &self,
        conn: &mut Conn,
        envelope: &Envelope,
        bytes: &[u8],
    ) -> Result<(), SessionError> {
        let Some(wire) = conn.body.clone() else {
            return Err(SessionError::Connect(
                "this session cannot send a body apart from its end".into(),
            ));
        };
        let info = conn.smtp.server_info().clone();
        let smtp = &mut conn.smtp;
        let steps = async {
            let mut options = Vec::new();
            let addresses = envelope.from().into_iter().chain(envelope.to());
            if addresses
                .map(|a| -> &str { a.as_ref() })
                .any(|a| !a.is_ascii())
            {
                if !info.supports_feature(Extension::SmtpUtfEight) {
                    return Err(SessionError::Connect(
                        "the envelope has non-ASCII addresses and the server lacks SMTPUTF8".into(),
                    ));
                }
                options.push(MailParameter::SmtpUtfEight);
            }
            if !bytes.is_ascii() {
                if !info.supports_feature(Extension::EightBitMime) {
                    return Err(SessionError::Connect(
                        "the message is not ASCII and the server lacks 8BITMIME".into(),
                    ));
                }
                options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
            }
            smtp.command(Mail::new(envelope.from().cloned(), options))
                .await
                .map_err(SessionError::Smtp)?;
            for to in envelope.to() {
                smtp.command(Rcpt::new(to.clone(), vec![]))
                    .await
                    .map_err(SessionError::Smtp)?;
            }
            smtp.command(Data).await.map_err(SessionError::Smtp)?;
            let mut wire = wire;
            let lost = |e: std::io::Error| SessionError::Lost(format!("writing the message: {e}"));
            wire.write_all(&dot_stuffed(bytes)).await.map_err(lost)?;
            wire.flush().await.map_err(lost)
        };
        tokio::time::timeout(self.server.timeout, steps)
            .await
            .unwrap_or_else(|_| Err(self.late("before the end of the data")))
    }

    fn late(&self, when: &str) -> SessionError {
        SessionError::Connect(format!(
            "{}:{}: no answer within {:?} {when}",
            self.server.host, self.server.port, self.server.timeout
        ))
    }

    /// Checks that the server answers NOOP on a session (opened if none is parked).
    pub async fn test(&self) -> Result<(), SessionError> {
        let mut session = self.checkout().await?;
        let answered =
            tokio::time::timeout(self.server.timeout, session.conn.smtp.test_connected())
                .await
                .unwrap_or(false);
        if !answered {
            session.conn.smtp.abort().await;
            return Err(SessionError::Connect(
                "the SMTP server did not answer NOOP".into(),
            ));
        }
        self.park(session.conn).await;
        Ok(())
    }

    /// Sends a whole transaction through lettre, trying once more on a new session as
    /// [`Sessions::begin`] does.
    async fn whole(
        &self,
        mut session: Session,
        envelope: &Envelope,
        bytes: &[u8],
    ) -> Result<(), SessionError> {
        match self
            .transaction(&mut session.conn.smtp, envelope, bytes)
            .await
        {
            Err(e) if !session.fresh && e.unanswered() => {
                tracing::debug!(error = %e, "reused SMTP session failed; trying a new one");
                session.conn.smtp.abort().await;
                let mut conn = self.connect().await?;
                let result = self.transaction(&mut conn.smtp, envelope, bytes).await;
                self.park(conn).await;
                result
            }
            result => {
                self.park(session.conn).await;
                result
            }
        }
    }

    async fn transaction(
        &self,
        conn: &mut AsyncSmtpConnection,
        envelope: &Envelope,
        bytes: &[u8],
    ) -> Result<(), SessionError> {
        match tokio::time::timeout(self.server.timeout, conn.send(envelope, bytes)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(SessionError::Smtp(e)),
            Err(_) => {
                conn.abort().await;
                Err(SessionError::Connect(format!(
                    "{}:{}: no answer within {:?} during the mail transaction",
                    self.server.host, self.server.port, self.server.timeout
                )))
            }
        }
    }

    async fn checkout(&self) -> Result<Session, SessionError> {
        loop {
            let parked = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some(Parked { mut conn, since }) = parked else {
                return Ok(Session {
                    conn: self.connect().await?,
                    fresh: true,
                });
            };
            let idle = since.elapsed();
            if idle < TRUSTED_IDLE {
                return Ok(Session { conn, fresh: false });
            }
            if idle < MAX_IDLE
                && tokio::time::timeout(self.server.timeout, conn.smtp.test_connected())
                    .await
                    .unwrap_or(false)
            {
                return Ok(Session { conn, fresh: false });
            }
            conn.smtp.abort().await;
        }
    }

    async fn park(&self, mut conn: Conn) {
        if conn.smtp.has_broken() {
            conn.smtp.abort().await;
            return;
        }
        let keep = self.keep.load(Ordering::Relaxed);
        let rejected = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < keep {
                idle.push(Parked {
                    conn,
                    since: Instant::now(),
                });
                None
            } else {
                Some(conn)
            }
        };
        if let Some(mut conn) = rejected {
            // QUIT, without waiting longer than the timeout for a goodbye.
            let _ = tokio::time::timeout(self.server.timeout, conn.smtp.quit()).await;
        }
    }

    /// Opens a session: TCP with `TCP_NODELAY`, TLS as configured, EHLO, AUTH.
    async fn connect(&self) -> Result<Conn, SessionError> {
        let s = &self.server;
        let at = format!("{}:{}", s.host, s.port);
        let steps = async {
            let tcp = TcpStream::connect((s.host.as_str(), s.port))
                .await
                .map_err(|e| SessionError::Connect(format!("connecting to {at}: {e}")))?;
            tcp.set_nodelay(true)
                .map_err(|e| SessionError::Connect(format!("{at}: TCP_NODELAY: {e}")))?;
            let stream: Box<dyn AsyncTokioStream> = match &s.security {
                Security::Implicit(connector) => {
                    let name =
                        rustls::pki_types::ServerName::try_from(s.host.clone()).map_err(|e| {
                            SessionError::Connect(format!(
                                "{:?} is not a valid TLS server name: {e}",
                                s.host
                            ))
                        })?;
                    let tls = connector.connect(name, tcp).await.map_err(|e| {
                        SessionError::Connect(format!("TLS handshake with {at}: {e}"))
                    })?;
                    Box::new(TlsTcp(tls))
                }
                _ => Box::new(tcp),
            };
            let wire = Wire(Arc::new(Mutex::new(stream)));
            let mut conn =
                AsyncSmtpConnection::connect_with_transport(Box::new(wire.clone()), &s.hello)
                    .await
                    .map_err(SessionError::Smtp)?;
            let mut body = Some(wire);
            if let Security::StartTls(params) = &s.security {
                conn.starttls(params.clone(), &s.hello)
                    .await
                    .map_err(SessionError::Smtp)?;
                body = None;
            }
            match &s.login {
                Some(Login::Password(credentials)) => {
                    if let Err(e) = conn.auth(DEFAULT_MECHANISMS, credentials).await {
                        conn.abort().await;
                        return Err(SessionError::Smtp(e));
                    }
                }
                Some(Login::OAuth2 { user, tokens }) => {
                    if let Err(e) = oauth_login(&mut conn, user, tokens).await {
                        conn.abort().await;
                        return Err(e);
                    }
                }
                None => {}
            }
            Ok(Conn { smtp: conn, body })
        };
        tokio::time::timeout(s.timeout, steps)
            .await
            .unwrap_or_else(|_| {
                Err(SessionError::Connect(format!(
                    "{at}: no session within {:?}",
                    s.timeout
                )))
            })
    }
}

impl Open<'_> {
    /// Sends the rest of the transaction (its final `.`, or all of it) and reads the server's
    /// answer, which commits the mail.
    pub async fn finish(self) -> Result<(), SessionError> {
        let Open {
            sessions,
            mut session,
            rest,
        } = self;
        match rest {
            Rest::Dot => {
                let answer = tokio::time::timeout(
                    sessions.server.timeout,
                    session.conn.smtp.command(EndOfData),
                )
                .await;
                match answer {
                    Ok(Ok(_)) => {
                        sessions.park(session.conn).await;
                        Ok(())
                    }
                    Ok(Err(e)) => Err(SessionError::Smtp(e)),
                    Err(_) => Err(sessions.late("to the end of the data")),
                }
            }
            Rest::Whole { envelope, bytes } => sessions.whole(session, &envelope, &bytes).await,
        }
    }
}

/// AUTH XOAUTH2 or OAUTHBEARER with the initial response on the command line (RFC 4954). A
/// kept token the server refuses is replaced once, on the same session; a new one refused is
/// the answer, with the reason from the server's error challenge (such as the scope it wants).
async fn oauth_login(
    conn: &mut AsyncSmtpConnection,
    user: &str,
    tokens: &Tokens,
) -> Result<(), SessionError> {
    let mechanism = tokens.mechanism();
    let no_token = |e: crate::oauth::OAuthError| {
        if e.is_transient() {
            SessionError::Connect(format!("no access token: {e}"))
        } else {
            SessionError::Auth(format!("no access token: {e}"))
        }
    };
    let mut token = tokens.token().await.map_err(no_token)?;
    loop {
        let first = Line(format!(
            "AUTH {} {}",
            mechanism.name(),
            sasl::initial_response_base64(mechanism, user, token.secret.expose())
        ));
        let (reason, refusal) = match conn.command(first).await {
            Ok(r) if r.has_code(334) => {
                let reason = sasl::describe_challenge(r.message().next().unwrap_or(""));
                let end = Line(sasl::error_acknowledgement(mechanism).to_string());
                match conn.command(end).await {
                    Ok(_) => {
                        return Err(SessionError::Auth(format!(
                            "AUTH {}: the server went on after its error challenge ({reason})",
                            mechanism.name()
                        )))
                    }
                    Err(e) => (Some(reason), e),
                }
            }
            Ok(_) => return Ok(()),
            Err(e) => (None, e),
        };
        if refusal.status().is_none() {
            return Err(SessionError::Smtp(refusal));
        }
        if !token.fresh {
            tracing::info!(
                mechanism = mechanism.name(),
                "the SMTP server refused the kept access token; fetching a new one"
            );
            token = tokens.renew(&token.secret).await.map_err(no_token)?;
            continue;
        }
        tokens.forget(&token.secret).await;
        let reason = reason.map(|r| format!("{r}; ")).unwrap_or_default();
        return Err(SessionError::Auth(format!(
            "AUTH {} as {user} with a new access token refused: {reason}{refusal}",
            mechanism.name()
        )));
    }
}

/// One command line as written, with its CRLF.
struct Line(String);

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\r\n", self.0)
    }
}

/// The line that ends a message's data: a `.` alone (the body before it ends with CRLF).
struct EndOfData;

impl std::fmt::Display for EndOfData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(".\r\n")
    }
}

/// A message as DATA carries it (RFC 5321 4.5.2): a line that starts with `.` gets one more, so
/// that no line of the message reads as the end; and the last line ends with CRLF, so that the
/// final `.` is a line of its own. `bytes` has CRLF line ends.
fn dot_stuffed(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 64 + 2);
    let mut line_start = true;
    for (i, &b) in bytes.iter().enumerate() {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n' && i > 0 && bytes[i - 1] == b'\r';
    }
    if !bytes.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The stream under a session with two handles: lettre's, for the commands and answers, and
/// this module's, for a body written without its final `.`. Each read or write locks it for
/// one poll; the two never take turns mid-step, because a body is only written between
/// lettre's reading of the answer to DATA and its sending of the `.`.
#[derive(Clone, Debug)]
struct Wire(Arc<Mutex<Box<dyn AsyncTokioStream>>>);

impl Wire {
    fn lock(&self) -> std::sync::MutexGuard<'_, Box<dyn AsyncTokioStream>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl AsyncTokioStream for Wire {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.lock().peer_addr()
    }
}

impl AsyncRead for Wire {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.lock()).poll_read(cx, buf)
    }
}

impl AsyncWrite for Wire {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.lock()).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.lock()).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.lock()).poll_shutdown(cx)
    }
}

/// A TLS stream as lettre takes one (the trait is lettre's, the stream tokio-rustls').
#[derive(Debug)]
struct TlsTcp(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncTokioStream for TlsTcp {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl AsyncRead for TlsTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsTcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// The TLS client setup for SMTPS: the webpki roots plus the certificates of `ca_file`.
pub fn implicit_tls(ca_pem: Option<&[u8]>) -> Result<tokio_rustls::TlsConnector, String> {
    let config = crate::tls::client_config(ca_pem)?;
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_starting_with_a_dot_get_one_more_and_the_body_ends_its_last_line() {
        assert_eq!(
            dot_stuffed(b".\r\n.x\r\na.b\r\n..\r\nend"),
            b"..\r\n..x\r\na.b\r\n...\r\nend\r\n".to_vec()
        );
        assert_eq!(dot_stuffed(b"a\r\n"), b"a\r\n".to_vec());
        assert_eq!(dot_stuffed(b""), b"\r\n".to_vec());
    }
}
