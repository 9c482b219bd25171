//! Getting a session: TCP, TLS (implicit or STARTTLS), the greeting, LOGIN or AUTHENTICATE
//! with an OAuth2 token (XOAUTH2, OAUTHBEARER), then the capabilities and the SELECT, and the
//! one stream type the session runs over.
//!
//! Everything here happens once per connection, within the caller's login time limit.

use super::session::{Conn, Info};
use super::wire::{self, server_text, Endpoint, Security};
use super::{Names, CONNECT_TIMEOUT};
use crate::config::{ImapConfig, SaslMechanism};
use crate::oauth::{sasl, OAuthError, Tokens};
use crate::source::SourceError;
use async_imap::imap_proto::{Response, Status};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Connects, logs in (with the password, or with a token from `tokens`), selects the mailbox
/// and reads the capabilities.
pub(super) async fn open(
    names: Names,
    cfg: &ImapConfig,
    tokens: Option<&Tokens>,
) -> Result<Conn, SourceError> {
    let endpoint = Endpoint::parse(&cfg.url).map_err(|m| names.connect(m))?;

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

    let session = match tokens {
        Some(tokens) => authenticate(&names, cfg, tokens, client).await?,
        None => login(&names, cfg, client).await?,
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

type Client = async_imap::Client<ImapStream>;

/// LOGIN with the password.
async fn login(
    names: &Names,
    cfg: &ImapConfig,
    client: Client,
) -> Result<super::Session, SourceError> {
    // A password_command may take a while, so it runs off the async threads. Its failure is
    // transient: nothing reached the server, and a secret store may just be unavailable.
    let secret_cfg = cfg.clone();
    let password = tokio::task::spawn_blocking(move || secret_cfg.secret().resolve())
        .await
        .map_err(|e| names.connect(format!("password_command did not finish: {e}")))?
        .map_err(|m| names.connect(format!("no password: {m}")))?;
    match client.login(&cfg.user, password.expose()).await {
        Ok(session) => Ok(session),
        Err((e, _)) => {
            use async_imap::error::Error as E;
            Err(match e {
                E::No(m) => {
                    let text = server_text(&m);
                    if wire::throttling(&text).is_some() {
                        names.refused(&text, || names.auth(text.clone()))
                    } else if text.starts_with("[UNAVAILABLE]") {
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
            })
        }
    }
}

/// AUTHENTICATE with an OAuth2 access token. A kept token the server refuses (expired early,
/// revoked) is replaced by a new one and tried once more on the same connection; a refusal of a
/// token fetched for this login is the final answer, with the server's reason (its SASL error
/// challenge names the scope it wants).
async fn authenticate(
    names: &Names,
    cfg: &ImapConfig,
    tokens: &Tokens,
    mut client: Client,
) -> Result<super::Session, SourceError> {
    let mechanism = tokens.mechanism();
    let mut token = tokens.token().await.map_err(|e| no_token(names, e))?;
    loop {
        let mut sasl = TokenLogin {
            mechanism,
            initial: sasl::initial_response(mechanism, &cfg.user, token.secret.expose()),
            sent: false,
            refusal: None,
        };
        match client.authenticate(mechanism.name(), &mut sasl).await {
            Ok(session) => return Ok(session),
            Err((e, back)) => {
                use async_imap::error::Error as E;
                let text = match e {
                    E::No(m) => server_text(&m),
                    E::Bad(m) => server_text(&m),
                    other => return Err(names.imap("AUTHENTICATE", other)),
                };
                if wire::throttling(&text).is_some() {
                    return Err(names.refused(&text, || names.auth(text.clone())));
                }
                if text.starts_with("[UNAVAILABLE]") {
                    return Err(
                        names.connect(format!("login as {} not possible now: {text}", cfg.user))
                    );
                }
                if !token.fresh {
                    tracing::info!(
                        mechanism = mechanism.name(),
                        "the server refused the kept access token; fetching a new one"
                    );
                    token = tokens
                        .renew(&token.secret)
                        .await
                        .map_err(|e| no_token(names, e))?;
                    client = back;
                    continue;
                }
                tokens.forget(&token.secret).await;
                let reason = match sasl.refusal {
                    Some(r) => format!("{r}; "),
                    None => String::new(),
                };
                return Err(names.auth(format!(
                    "{} with a new access token: {reason}{text}",
                    mechanism.name()
                )));
            }
        }
    }
}

/// A token that could not be had: a refusal by the token endpoint is a login refused (fixed
/// only by a new grant), anything else a passing connection problem.
fn no_token(names: &Names, e: OAuthError) -> SourceError {
    if e.is_transient() {
        names.connect(format!("no access token: {e}"))
    } else {
        names.auth(format!("no access token: {e}"))
    }
}

/// The client's side of AUTHENTICATE XOAUTH2/OAUTHBEARER: the token first, then, after an error
/// challenge, the acknowledgement that lets the server send its final NO.
struct TokenLogin {
    mechanism: SaslMechanism,
    initial: Vec<u8>,
    sent: bool,
    /// The server's error challenge, read.
    refusal: Option<String>,
}

impl async_imap::Authenticator for &mut TokenLogin {
    type Response = Vec<u8>;

    fn process(&mut self, challenge: &[u8]) -> Vec<u8> {
        if !self.sent {
            self.sent = true;
            return std::mem::take(&mut self.initial);
        }
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(challenge);
        self.refusal = Some(sasl::describe_challenge(&encoded));
        match self.mechanism {
            SaslMechanism::Xoauth2 => Vec::new(),
            SaslMechanism::Oauthbearer => vec![0x01],
        }
    }
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
    let pem = match &cfg.ca_file {
        Some(path) => Some(
            tokio::fs::read(path)
                .await
                .map_err(|e| names.connect(format!("ca_file {}: {e}", path.display())))?,
        ),
        None => None,
    };
    let config = crate::tls::client_config(pem.as_deref()).map_err(|e| match &cfg.ca_file {
        Some(path) => names.connect(format!("ca_file {}: {e}", path.display())),
        None => names.connect(e),
    })?;
    let server_name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| names.connect(format!("{host:?} is not a valid TLS server name: {e}")))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await
        .map_err(|e| names.connect(format!("TLS handshake with {host}: {e}")))
}

/// The connection under the IMAP client: plain TCP (loopback, tests) or TLS, as one type so the
/// session has one type whatever the URL says.
#[derive(Debug)]
pub(super) enum ImapStream {
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
