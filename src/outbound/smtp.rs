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

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
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
    pub credentials: Option<Credentials>,
    /// Limit for connecting (TCP, TLS, EHLO, AUTH) and for each transaction.
    pub timeout: Duration,
}

/// Why a session or a transaction failed.
#[derive(Debug)]
pub enum SessionError {
    /// The server's answer, or lettre's protocol error.
    Smtp(lettre::transport::smtp::Error),
    /// No session could be set up (TCP, TLS) or a step took too long.
    Connect(String),
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionError::Smtp(e) => write!(f, "{e}"),
            SessionError::Connect(e) => f.write_str(e),
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
    conn: AsyncSmtpConnection,
    since: Instant,
}

/// One checked-out session: `fresh` when it was opened for this use.
struct Session {
    conn: AsyncSmtpConnection,
    fresh: bool,
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

    /// Sends one mail transaction (MAIL, RCPT, DATA). A failure without an answer from the
    /// server on a reused session (it hung up meanwhile) is tried once more on a new one.
    pub async fn send(&self, envelope: &Envelope, bytes: &[u8]) -> Result<(), SessionError> {
        let mut session = self.checkout().await?;
        match self.transaction(&mut session.conn, envelope, bytes).await {
            Err(SessionError::Smtp(e)) if !session.fresh && e.status().is_none() => {
                tracing::debug!(error = %e, "reused SMTP session failed; trying a new one");
                session.conn.abort().await;
                let mut conn = self.connect().await?;
                let result = self.transaction(&mut conn, envelope, bytes).await;
                self.park(conn).await;
                result
            }
            result => {
                self.park(session.conn).await;
                result
            }
        }
    }

    /// Checks that the server answers NOOP on a session (opened if none is parked).
    pub async fn test(&self) -> Result<(), SessionError> {
        let mut session = self.checkout().await?;
        let answered = tokio::time::timeout(self.server.timeout, session.conn.test_connected())
            .await
            .unwrap_or(false);
        if !answered {
            session.conn.abort().await;
            return Err(SessionError::Connect(
                "the SMTP server did not answer NOOP".into(),
            ));
        }
        self.park(session.conn).await;
        Ok(())
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
                && tokio::time::timeout(self.server.timeout, conn.test_connected())
                    .await
                    .unwrap_or(false)
            {
                return Ok(Session { conn, fresh: false });
            }
            conn.abort().await;
        }
    }

    async fn park(&self, mut conn: AsyncSmtpConnection) {
        if conn.has_broken() {
            conn.abort().await;
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
            let _ = tokio::time::timeout(self.server.timeout, conn.quit()).await;
        }
    }

    /// Opens a session: TCP with `TCP_NODELAY`, TLS as configured, EHLO, AUTH.
    async fn connect(&self) -> Result<AsyncSmtpConnection, SessionError> {
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
            let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &s.hello)
                .await
                .map_err(SessionError::Smtp)?;
            if let Security::StartTls(params) = &s.security {
                conn.starttls(params.clone(), &s.hello)
                    .await
                    .map_err(SessionError::Smtp)?;
            }
            if let Some(credentials) = &s.credentials {
                if let Err(e) = conn.auth(DEFAULT_MECHANISMS, credentials).await {
                    conn.abort().await;
                    return Err(SessionError::Smtp(e));
                }
            }
            Ok(conn)
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
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = ca_pem {
        let mut added = 0;
        for cert in rustls_pemfile::certs(&mut &pem[..]) {
            roots
                .add(cert.map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            added += 1;
        }
        if added == 0 {
            return Err("no PEM certificate in it".into());
        }
    }
    // The provider is named rather than taken from the process default, so this never depends on
    // which rustls backends other crates compiled in.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}
