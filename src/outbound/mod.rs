//! Outbound transports: SMTP (plain, STARTTLS, implicit TLS) through lettre, or `.eml` files.
//!
//! A transport sends bytes it is given to the envelope it is given and reports an
//! [`Attempt`]: sent, transient (retry) or permanent (give up). It knows nothing of tickets or
//! the outbox; the delivery worker does. SMTP sessions stay open between mails and several
//! mails may be sent at once, each on its own session ([`smtp::Sessions`]). A mail can be sent
//! in two steps, up to its commit point and then past it ([`Transport::begin`], [`Pending`]),
//! so that the delivery worker decides when the commit point is passed.
//!
//! Owns: transports and MIME composition. An adapter: may import the core and `config` only;
//! never the store, the other adapters or the pipeline.

pub mod compose;
pub mod smtp;

use crate::clock::Clock;
use crate::config::{AuthMethod, SmtpConfig};
use crate::core::service::outbox::Attempt;
use crate::oauth::Tokens;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use smtp::{Login, Security, Server, SessionError, Sessions};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Idle SMTP sessions kept open unless the delivery worker asks for more
/// ([`Transport::keep_sessions`]).
const DEFAULT_SESSIONS: usize = 4;

/// Whether an SMTP error is the relay refusing our credentials.
fn is_auth_failure(e: &lettre::transport::smtp::Error) -> bool {
    let code = e.status().map(|c| c.to_string()).unwrap_or_default();
    ["530", "534", "535", "538"].contains(&code.as_str())
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("smtp.url {url:?}: {message}")]
    Config { url: String, message: String },
}

/// Where mail goes.
pub enum Transport {
    Smtp(Sessions),
    /// Each mail becomes `<dir>/<message-id>.eml`: the embedded default, and idempotent.
    File(PathBuf),
}

impl Transport {
    /// Builds the transport from the `[smtp]` config (resolving its password; an OAuth2 token
    /// is fetched at the first login, its expiry judged by `clock`).
    pub fn from_config(c: &SmtpConfig, clock: Arc<dyn Clock>) -> Result<Transport, TransportError> {
        let err = |message: String| TransportError::Config {
            url: c.url.clone(),
            message,
        };
        if let Some(path) = c.url.strip_prefix("file://") {
            let dir = PathBuf::from(path);
            std::fs::create_dir_all(&dir)
                .map_err(|e| err(format!("cannot create {}: {e}", dir.display())))?;
            return Ok(Transport::File(dir));
        }
        let (scheme, rest) = c
            .url
            .split_once("://")
            .ok_or_else(|| err("no scheme".into()))?;
        let hostport = rest.trim_end_matches('/');
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                Some(
                    p.parse::<u16>()
                        .map_err(|_| err(format!("bad port {p:?}")))?,
                ),
            ),
            None => (hostport.to_string(), None),
        };
        let host = host.trim_matches(|c| c == '[' || c == ']').to_string();
        let tls_params = || -> Result<TlsParameters, TransportError> {
            let mut b = TlsParameters::builder(host.clone());
            if let Some(ca) = &c.ca_file {
                let pem =
                    std::fs::read(ca).map_err(|e| err(format!("ca_file {}: {e}", ca.display())))?;
                let cert = Certificate::from_pem(&pem)
                    .map_err(|e| err(format!("ca_file {}: {e}", ca.display())))?;
                b = b.add_root_certificate(cert);
            }
            b.build_rustls().map_err(|e| err(e.to_string()))
        };
        let implicit_tls = || -> Result<Security, TransportError> {
            let pem = match &c.ca_file {
                Some(ca) => Some(
                    std::fs::read(ca).map_err(|e| err(format!("ca_file {}: {e}", ca.display())))?,
                ),
                None => None,
            };
            smtp::implicit_tls(pem.as_deref())
                .map(Security::Implicit)
                .map_err(|e| match &c.ca_file {
                    Some(ca) => err(format!("ca_file {}: {e}", ca.display())),
                    None => err(e),
                })
        };
        let (security, default_port) = match scheme {
            "smtp" => (Security::Plain, 25),
            "smtp+starttls" => (Security::StartTls(tls_params()?), 587),
            "smtps" => (implicit_tls()?, 465),
            other => return Err(err(format!("unknown scheme {other:?}"))),
        };
        let login = match (&c.username, c.auth, &c.oauth2) {
            (Some(user), AuthMethod::Oauth2, Some(o)) => Some(Login::OAuth2 {
                user: user.clone(),
                tokens: Box::new(Tokens::new(o.clone(), clock)),
            }),
            (Some(user), _, _) => {
                let password = c.secret().resolve().map_err(err)?;
                Some(Login::Password(Credentials::new(
                    user.clone(),
                    password.expose().to_string(),
                )))
            }
            (None, _, _) => None,
        };
        let server = Server {
            host,
            port: port.unwrap_or(default_port),
            security,
            hello: c
                .hello_name
                .as_ref()
                .map_or_else(ClientId::default, |name| ClientId::Domain(name.clone())),
            login,
            timeout: Duration::from_secs(c.timeout_secs),
        };
        Ok(Transport::Smtp(Sessions::new(server, DEFAULT_SESSIONS)))
    }

    /// Keeps up to `n` idle SMTP sessions open: as many as the delivery worker sends at once.
    pub fn keep_sessions(&self, n: usize) {
        if let Transport::Smtp(sessions) = self {
            sessions.keep_open(n);
        }
    }

    /// Checks that the server answers (for `run --once`, which must fail loudly when it does not).
    pub async fn test_connection(&self) -> Result<(), String> {
        match self {
            Transport::Smtp(sessions) => sessions.test().await.map_err(|e| e.to_string()),
            Transport::File(dir) => {
                if dir.is_dir() {
                    Ok(())
                } else {
                    Err(format!("{} is not a directory", dir.display()))
                }
            }
        }
    }

    /// Sends `bytes` from `from` (empty: null sender) to `to`.
    pub async fn send(&self, from: &str, to: &[String], message_id: &str, bytes: &[u8]) -> Attempt {
        match self.begin(from, to, message_id, bytes).await {
            Ok(pending) => pending.finish().await,
            Err(ended) => ended,
        }
    }

    /// Sends `bytes` up to the mail's commit point: an SMTP transaction without its final `.`
    /// (nothing is delivered until [`Pending::finish`]). `Err` when the attempt ended before it
    /// (a refused recipient, a lost connection): what it came to.
    pub async fn begin(
        &self,
        from: &str,
        to: &[String],
        message_id: &str,
        bytes: &[u8],
    ) -> Result<Pending<'_>, Attempt> {
        match self {
            Transport::Smtp(sessions) => {
                let from = if from.is_empty() {
                    None
                } else {
                    match from.parse() {
                        Ok(a) => Some(a),
                        Err(e) => {
                            return Err(Attempt::Permanent(format!(
                                "envelope sender {from:?}: {e}"
                            )))
                        }
                    }
                };
                let mut rcpts = Vec::new();
                for r in to {
                    match r.parse() {
                        Ok(a) => rcpts.push(a),
                        Err(e) => return Err(Attempt::Permanent(format!("recipient {r:?}: {e}"))),
                    }
                }
                let envelope = match Envelope::new(from, rcpts) {
                    Ok(e) => e,
                    Err(e) => return Err(Attempt::Permanent(format!("envelope: {e}"))),
                };
                match sessions.begin(&envelope, bytes).await {
                    Ok(open) => Ok(Pending::Smtp(Box::new(open))),
                    Err(e) => Err(attempt_after(e)),
                }
            }
            Transport::File(dir) => {
                let safe: String = message_id
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || "@.-_".contains(c) {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                let mut content = format!(
                    "X-Envelope-From: <{from}>\r\nX-Envelope-To: {}\r\n",
                    to.join(", ")
                )
                .into_bytes();
                content.extend_from_slice(bytes);
                Ok(Pending::File {
                    path: dir.join(format!("{safe}.eml")),
                    tmp: dir.join(format!(".{safe}.tmp")),
                    content,
                })
            }
        }
    }
}

/// A mail sent up to its commit point ([`Transport::begin`]). Dropping it abandons the mail:
/// an SMTP session is closed without the final `.`, a file is not written.
pub enum Pending<'a> {
    /// Boxed: a session is large (lettre's buffers) and pending mails are moved around.
    Smtp(Box<smtp::Open<'a>>),
    File {
        path: PathBuf,
        tmp: PathBuf,
        content: Vec<u8>,
    },
}

impl Pending<'_> {
    /// Commits the mail: sends SMTP's final `.` and reads the answer, or writes the file.
    pub async fn finish(self) -> Attempt {
        match self {
            Pending::Smtp(open) => match open.finish().await {
                Ok(()) => Attempt::Sent,
                Err(e) => attempt_after(e),
            },
            Pending::File { path, tmp, content } => {
                let write = || -> std::io::Result<()> {
                    use std::io::Write;
                    let mut f = std::fs::File::create(&tmp)?;
                    f.write_all(&content)?;
                    f.sync_all()?;
                    std::fs::rename(&tmp, &path)
                };
                match write() {
                    Ok(()) => Attempt::Sent,
                    Err(e) => Attempt::Transient(format!("{}: {e}", path.display())),
                }
            }
        }
    }
}

/// What a failed SMTP session means for the mail.
fn attempt_after(e: SessionError) -> Attempt {
    match e {
        // A refused login (530, 534, 535, 538) is the relay's problem with us, not the mail's:
        // retried, so a rotated password does not fail the whole outbox.
        SessionError::Smtp(e) if e.is_permanent() && !is_auth_failure(&e) => {
            Attempt::Permanent(e.to_string())
        }
        e => Attempt::Transient(e.to_string()),
    }
}
