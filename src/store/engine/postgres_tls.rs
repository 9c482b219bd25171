//! TLS to PostgreSQL over rustls, for `sslmode=require`: tokio-postgres defines the traits, we
//! give it the rustls connector the rest of deskgate uses (IMAP, SMTP, OAuth2), rather than
//! another crate (tokio-postgres-rustls) for forty lines.
//!
//! The server's certificate is always verified, against the webpki roots plus the certificates
//! of `[store] ca_file` (a private CA, as most database servers use), and must name the host of
//! the URL: libpq's `verify-full`. libpq's `require` would accept any certificate; a desk's
//! store is not worth encrypting to whoever answers, so deskgate does not offer that.

use rustls::pki_types::ServerName;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::tls::{ChannelBinding, TlsConnect, TlsStream};
use tokio_rustls::client::TlsStream as RustlsStream;

/// Makes a TLS connector per connection, for the host tokio-postgres connects to.
#[derive(Clone)]
pub(super) struct RustlsMake {
    config: Arc<rustls::ClientConfig>,
}

impl RustlsMake {
    /// The connector, trusting the webpki roots plus the certificates in `ca_file`.
    pub(super) fn new(ca_file: Option<&Path>) -> Result<RustlsMake, String> {
        let pem = match ca_file {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| format!("store.ca_file {}: {e}", path.display()))?,
            ),
            None => None,
        };
        let config = crate::tls::client_config(pem.as_deref()).map_err(|e| match ca_file {
            Some(path) => format!("store.ca_file {}: {e}", path.display()),
            None => e,
        })?;
        Ok(RustlsMake {
            config: Arc::new(config),
        })
    }
}

impl RustlsMake {
    /// The connector for one connection to `domain` (the host the certificate must name).
    pub(super) fn connector(&self, domain: &str) -> Result<Connect, String> {
        let name = ServerName::try_from(domain.to_string())
            .map_err(|e| format!("{domain:?} is not a valid TLS server name: {e}"))?;
        Ok(Connect {
            config: self.config.clone(),
            name,
        })
    }
}

pub(super) struct Connect {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for Connect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Stream<S>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Stream<S>, std::io::Error>> + Send>>;

    fn connect(self, socket: S) -> Self::Future {
        Box::pin(async move {
            let tls = tokio_rustls::TlsConnector::from(self.config)
                .connect(self.name, socket)
                .await?;
            Ok(Stream(Box::new(tls)))
        })
    }
}

pub(super) struct Stream<S>(Box<RustlsStream<S>>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for Stream<S> {
    /// No channel binding: SCRAM's `-PLUS` variants are not offered, plain SCRAM over the
    /// verified TLS connection is.
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(self.get_mut().0.as_mut()).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        Pin::new(self.get_mut().0.as_mut()).poll_write(cx, buf)
    }

    fn poll_flush(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(self.get_mut().0.as_mut()).poll_flush(cx)
    }

    fn poll_shutdown(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(self.get_mut().0.as_mut()).poll_shutdown(cx)
    }
}
