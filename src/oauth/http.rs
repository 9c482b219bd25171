//! One HTTP request to a token endpoint, for the `oauth2` crate: a new connection (TLS for
//! `https://`), HTTP/1.1 through hyper's connection-level client, the whole answer read, the
//! connection closed.
//!
//! Why not the `oauth2` crate's reqwest client: reqwest would bring a second HTTP stack and its
//! own TLS set-up into the tree, for one small POST every hour or so. hyper is already here
//! (axum serves the status page on it), and the TLS set-up is the one IMAP uses (webpki roots,
//! aws-lc-rs named explicitly).

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// How long connecting, sending and reading the answer may take together.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A token answer is a few kilobytes; anything far larger is not one.
const MAX_ANSWER: usize = 1 << 20;

/// Why a request got no HTTP answer.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(pub String);

/// Sends `request` (absolute URI) and returns the server's answer, whatever its status.
pub async fn send(request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, HttpError> {
    match tokio::time::timeout(REQUEST_TIMEOUT, exchange(request)).await {
        Ok(result) => result,
        Err(_) => Err(HttpError(format!(
            "no answer within {} s",
            REQUEST_TIMEOUT.as_secs()
        ))),
    }
}

async fn exchange(request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, HttpError> {
    let (mut parts, body) = request.into_parts();
    let uri = parts.uri.clone();
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(HttpError(format!("{uri} is not an http(s) URL"))),
    };
    let host = uri
        .host()
        .ok_or_else(|| HttpError(format!("{uri} has no host")))?
        .trim_matches(['[', ']'])
        .to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    // Origin form on the request line, the authority in Host, as HTTP/1.1 asks.
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = path.parse().map_err(|e| HttpError(format!("{uri}: {e}")))?;
    let authority = uri.authority().map_or(host.clone(), |a| a.to_string());
    parts.headers.insert(
        http::header::HOST,
        authority
            .parse()
            .map_err(|e| HttpError(format!("{uri}: {e}")))?,
    );
    parts.headers.insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    let request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));

    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| HttpError(format!("connecting to {host}:{port}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let response = if https {
        let tls = tls_connect(&host, tcp).await?;
        round_trip(TokioIo::new(tls), request).await?
    } else {
        round_trip(TokioIo::new(tcp), request).await?
    };
    Ok(response)
}

async fn round_trip<T>(
    io: T,
    request: http::Request<Full<Bytes>>,
) -> Result<oauth2::HttpResponse, HttpError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| HttpError(format!("HTTP handshake: {e}")))?;
    // The connection is driven on its own while the request is sent and read; it ends when the
    // server closes it (Connection: close) or when this function's future is dropped.
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| HttpError(format!("HTTP request: {e}")))?;
        let (parts, body) = response.into_parts();
        let bytes = Limited::new(body, MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| HttpError(format!("reading the answer: {e}")))?
            .to_bytes();
        Ok(http::Response::from_parts(parts, bytes.to_vec()))
    }
    .await;
    driver.abort();
    result
}

async fn tls_connect(
    host: &str,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, HttpError> {
    let config = crate::tls::client_config(None).map_err(HttpError)?;
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| HttpError(format!("{host:?} is not a valid TLS server name: {e}")))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| HttpError(format!("TLS handshake with {host}: {e}")))
}
