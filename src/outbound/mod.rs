//! Outbound transports: SMTP (plain, STARTTLS, implicit TLS) through lettre, or `.eml` files.
//!
//! A transport sends bytes it is given to the envelope it is given and reports an
//! [`Attempt`]: sent, transient (retry) or permanent (give up). It knows nothing of tickets or
//! the outbox; the delivery worker does. SMTP sessions stay open between mails and several
//! mails may be sent at once, each on its own session ([`smtp::Sessions`]).

pub mod compose;
pub mod smtp;

use crate::config::SmtpConfig;
use crate::core::outbox::Attempt;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use smtp::{Security, Server, SessionError, Sessions};
use std::path::PathBuf;
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
    /// Builds the transport from the `[smtp]` config (resolving its password).
    pub fn from_config(c: &SmtpConfig) -> Result<Transport, TransportError> {
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
        let credentials = match &c.username {
            Some(user) => {
                let password = c.secret().resolve().map_err(err)?;
                Some(Credentials::new(user.clone(), password))
            }
            None => None,
        };
        let server = Server {
            host,
            port: port.unwrap_or(default_port),
            security,
            hello: c
                .hello_name
                .as_ref()
                .map_or_else(ClientId::default, |name| ClientId::Domain(name.clone())),
            credentials,
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
        match self {
            Transport::Smtp(sessions) => {
                let from = if from.is_empty() {
                    None
                } else {
                    match from.parse() {
                        Ok(a) => Some(a),
                        Err(e) => {
                            return Attempt::Permanent(format!("envelope sender {from:?}: {e}"))
                        }
                    }
                };
                let mut rcpts = Vec::new();
                for r in to {
                    match r.parse() {
                        Ok(a) => rcpts.push(a),
                        Err(e) => return Attempt::Permanent(format!("recipient {r:?}: {e}")),
                    }
                }
                let envelope = match Envelope::new(from, rcpts) {
                    Ok(e) => e,
                    Err(e) => return Attempt::Permanent(format!("envelope: {e}")),
                };
                match sessions.send(&envelope, bytes).await {
                    Ok(()) => Attempt::Sent,
                    // A refused login (530, 534, 535, 538) is the relay's problem with us, not
                    // the mail's: retried, so a rotated password does not fail the whole outbox.
                    Err(SessionError::Smtp(e)) if e.is_permanent() && !is_auth_failure(&e) => {
                        Attempt::Permanent(e.to_string())
                    }
                    Err(e) => Attempt::Transient(e.to_string()),
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
                let path = dir.join(format!("{safe}.eml"));
                let tmp = dir.join(format!(".{safe}.tmp"));
                let mut content = format!(
                    "X-Envelope-From: <{from}>\r\nX-Envelope-To: {}\r\n",
                    to.join(", ")
                )
                .into_bytes();
                content.extend_from_slice(bytes);
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
