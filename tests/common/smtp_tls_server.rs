//! A capturing ESMTP server over TLS, for tests of the outbound transport: Postfix's smtp-sink
//! speaks no TLS, so this one stands in for a submission relay on 127.0.0.1.
//!
//! It listens either with implicit TLS (`smtps`) or in plaintext offering STARTTLS
//! (`smtp+starttls`), with a certificate signed by a throw-away CA from the harness's
//! `make_tls` (the same one Dovecot gets). It speaks greeting,
//! EHLO/HELO, STARTTLS, AUTH PLAIN and AUTH LOGIN (checked against one user; a wrong password
//! gets 535), AUTH XOAUTH2 and OAUTHBEARER when given a bearer-token check (a refused token gets
//! the RFC 7628 error challenge, then 535), MAIL FROM, RCPT TO, DATA (dot-unstuffed), RSET, NOOP and QUIT. Like a real
//! submission server it takes mail only over TLS from an authenticated client. Every accepted
//! transaction is captured with its envelope, its exact data, the authenticated user and whether
//! it went over TLS; failed logins and failed TLS handshakes are recorded too, and a transcript
//! (passwords left out) goes into every panic message.
//!
//! The server runs on its own tokio runtime, so both synchronous tests and tests on another
//! runtime can use it; dropping it stops it. Every wait is bounded.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

/// Upper bound for the waits of the test side (certificate generation, captured mail).
pub const WAIT: Duration = Duration::from_secs(20);

/// How long the server waits for a client's next line or a TLS handshake before hanging up.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest command line accepted (RFC 5321 allows 512 octets; AUTH responses are longer).
const MAX_COMMAND_LINE: usize = 4096;

/// Longest line accepted inside DATA, and the largest message.
const MAX_DATA_LINE: usize = 1024 * 1024;
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// How many transcript lines are kept (the oldest are forgotten).
const TRANSCRIPT_LINES: usize = 400;

/// How the server offers TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (`smtps://`, port 465 in real life).
    Implicit,
    /// Plaintext greeting, STARTTLS advertised before TLS (`smtp+starttls://`, port 587).
    StartTls,
}

/// What the server is started with.
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: TlsMode,
    /// The one account that may log in.
    pub user: String,
    pub password: String,
    /// The SASL mechanisms advertised after TLS, in order (default PLAIN and LOGIN).
    pub mechanisms: Vec<String>,
    /// Whether a bearer token is good for a user (XOAUTH2, OAUTHBEARER).
    pub bearer: Option<BearerCheck>,
    /// Hang up after each accepted mail, as a relay limiting mails per session does.
    pub one_mail_per_session: bool,
}

/// `(token, user) → accepted`, such as [`super::OAuthServer::checker`].
#[derive(Clone)]
#[allow(clippy::type_complexity)] // The type is spelled out once here, for its Debug.
pub struct BearerCheck(pub Arc<dyn Fn(&str, &str) -> bool + Send + Sync>);

impl std::fmt::Debug for BearerCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerCheck")
    }
}

impl Options {
    pub fn new(mode: TlsMode, user: &str, password: &str) -> Options {
        Options {
            mode,
            user: user.to_string(),
            password: password.to_string(),
            mechanisms: vec!["PLAIN".to_string(), "LOGIN".to_string()],
            bearer: None,
            one_mail_per_session: false,
        }
    }

    /// Accepts bearer tokens that `check` approves, over XOAUTH2 and OAUTHBEARER (advertised
    /// with PLAIN and LOGIN).
    #[allow(dead_code)] // Used by tests/oauth.rs, not by tests/smtp_tls.rs.
    pub fn bearer(mut self, check: BearerCheck) -> Options {
        self.bearer = Some(check);
        self.mechanisms = ["PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"]
            .iter()
            .map(|m| m.to_string())
            .collect();
        self
    }

    /// Advertises (and accepts) only these mechanisms, e.g. `["LOGIN"]` to make a client that
    /// prefers PLAIN use LOGIN.
    pub fn mechanisms(mut self, mechanisms: &[&str]) -> Options {
        self.mechanisms = mechanisms.iter().map(|m| m.to_ascii_uppercase()).collect();
        self
    }
}

/// One accepted mail transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// The EHLO/HELO argument of the session.
    pub hello: String,
    /// The reverse path without angle brackets (empty for the null sender).
    pub mail_from: String,
    /// The forward paths without angle brackets, in order.
    pub rcpts: Vec<String>,
    /// The message as the client meant it: dot-unstuffed, up to and including the CRLF that
    /// ends its last line (the "." line is not part of it).
    pub data: Vec<u8>,
    /// Who had logged in, and with which mechanism.
    pub user: Option<String>,
    pub mechanism: Option<String>,
    /// Whether the transaction went over TLS.
    pub tls: bool,
}

/// One successful AUTH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub user: String,
    pub mechanism: String,
    pub tls: bool,
}

/// Everything the connections record, shared with the test.
#[derive(Default)]
struct Shared {
    transactions: Vec<Transaction>,
    logins: Vec<Login>,
    /// The user names of refused logins.
    auth_failures: Vec<String>,
    /// Why TLS handshakes failed.
    tls_failures: Vec<String>,
    connections: usize,
    transcript: Vec<String>,
}

impl Shared {
    fn note(&mut self, line: String) {
        if self.transcript.len() >= TRANSCRIPT_LINES {
            self.transcript.remove(0);
        }
        self.transcript.push(line);
    }
}

/// The throw-away CA and the server certificate it signed, in a temporary directory.
pub struct TestCa {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    // Dropped last: the files live in it.
    _dir: TempDir,
}

impl TestCa {
    /// Generates a CA and a leaf (CN 127.0.0.1, SAN IP:127.0.0.1 and DNS:localhost, CA:FALSE:
    /// webpki refuses a CA certificate as a server certificate) with the `openssl` CLI.
    pub fn generate() -> TestCa {
        let dir = tempfile::Builder::new()
            .prefix("deskgate-smtp-tls-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        // The same CA and leaf as the Dovecot harness makes.
        let tls = crate::common::make_tls(&dir.path().join("tls"));
        TestCa {
            ca_cert: tls.ca_cert,
            server_cert: tls.server_cert,
            server_key: tls.server_key,
            _dir: dir,
        }
    }

    /// A rustls server config for the leaf, on the aws-lc-rs provider only.
    fn server_config(&self) -> rustls::ServerConfig {
        let certs: Vec<CertificateDer<'static>> =
            rustls_pemfile::certs(&mut pem(&self.server_cert))
                .collect::<Result<_, _>>()
                .unwrap_or_else(|e| panic!("{}: {e}", self.server_cert.display()));
        let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut pem(&self.server_key))
            .unwrap_or_else(|e| panic!("{}: {e}", self.server_key.display()))
            .unwrap_or_else(|| panic!("{}: no private key", self.server_key.display()));
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports the default protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("the generated certificate and key fit together")
    }
}

fn pem(path: &Path) -> std::io::BufReader<fs::File> {
    std::io::BufReader::new(
        fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display())),
    )
}

/// The running server. Dropping it stops it (and removes its certificates).
pub struct CapturingSmtpServer {
    port: u16,
    options: Options,
    shared: Arc<Mutex<Shared>>,
    runtime: Option<tokio::runtime::Runtime>,
    // Dropped last: the CA file may still be read by a client until the server is gone.
    ca: TestCa,
}

impl CapturingSmtpServer {
    /// Generates certificates and starts listening on 127.0.0.1 (a free port); it accepts
    /// connections as soon as this returns.
    pub fn start(options: Options) -> CapturingSmtpServer {
        let ca = TestCa::generate();
        let acceptor = TlsAcceptor::from(Arc::new(ca.server_config()));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("smtp-tls-server")
            .enable_all()
            .build()
            .expect("a tokio runtime for the SMTP server");
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
            .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0: {e}"));
        let port = listener.local_addr().expect("local address").port();
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let server = Arc::new(ServerSide {
            options: options.clone(),
            acceptor,
            shared: shared.clone(),
        });
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener)
                .expect("a tokio listener from the bound socket");
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let id = {
                    let mut s = lock(&server.shared);
                    s.connections += 1;
                    s.connections
                };
                tokio::spawn(server.clone().connection(id, tcp));
            }
        });
        CapturingSmtpServer {
            port,
            options,
            shared,
            runtime: Some(runtime),
            ca,
        }
    }

    /// The CA that signed the server's certificate (for a client's `ca_file`).
    pub fn ca_cert_path(&self) -> &Path {
        &self.ca.ca_cert
    }

    /// The URL a client uses: `smtps://127.0.0.1:PORT` or `smtp+starttls://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        let scheme = match self.options.mode {
            TlsMode::Implicit => "smtps",
            TlsMode::StartTls => "smtp+starttls",
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Every transaction accepted so far, in order.
    pub fn transactions(&self) -> Vec<Transaction> {
        lock(&self.shared).transactions.clone()
    }

    /// Every successful login so far.
    pub fn logins(&self) -> Vec<Login> {
        lock(&self.shared).logins.clone()
    }

    /// The user names of every refused login so far.
    pub fn auth_failures(&self) -> Vec<String> {
        lock(&self.shared).auth_failures.clone()
    }

    /// Why each failed TLS handshake failed, so far.
    pub fn tls_failures(&self) -> Vec<String> {
        lock(&self.shared).tls_failures.clone()
    }

    /// The conversation so far (`cN <` client, `cN >` server), for messages.
    pub fn transcript(&self) -> String {
        lock(&self.shared).transcript.join("\n")
    }

    /// Waits until at least `n` transactions were accepted; panics with the transcript after
    /// `limit`.
    pub fn wait_for(&self, n: usize, limit: Duration) -> Vec<Transaction> {
        self.wait_until(limit, &format!("{n} transaction(s)"), |s| {
            s.transactions.len() >= n
        });
        self.transactions()
    }

    /// Waits until at least `n` TLS handshakes failed; panics with the transcript after `limit`.
    pub fn wait_for_tls_failures(&self, n: usize, limit: Duration) -> Vec<String> {
        self.wait_until(limit, &format!("{n} failed TLS handshake(s)"), |s| {
            s.tls_failures.len() >= n
        });
        self.tls_failures()
    }

    fn wait_until(&self, limit: Duration, what: &str, done: impl Fn(&Shared) -> bool) {
        if !crate::common::poll_until(limit, || done(&lock(&self.shared))) {
            self.fail(format!("no {what} within {limit:?}"));
        }
    }

    /// Panics with `msg` and the transcript.
    pub fn fail(&self, msg: impl std::fmt::Display) -> ! {
        panic!(
            "{msg}\n----- SMTP transcript of 127.0.0.1:{} -----\n{}",
            self.port,
            self.transcript()
        )
    }
}

impl Drop for CapturingSmtpServer {
    fn drop(&mut self) {
        // Not `drop(runtime)`: that blocks, and panics when the test itself runs on a runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What every connection task shares.
struct ServerSide {
    options: Options,
    acceptor: TlsAcceptor,
    shared: Arc<Mutex<Shared>>,
}

/// A byte stream, plaintext or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Stream = BufReader<Box<dyn Io>>;

/// The session is over early: the client went away, sent too much, or was too slow.
struct Closed;

impl ServerSide {
    fn note(&self, id: usize, line: String) {
        lock(&self.shared).note(format!("c{id} {line}"));
    }

    async fn handshake(&self, id: usize, io: Box<dyn Io>) -> Option<Stream> {
        match timeout(IO_TIMEOUT, self.acceptor.accept(io)).await {
            Ok(Ok(tls)) => {
                self.note(id, "= TLS established".to_string());
                Some(BufReader::new(Box::new(tls)))
            }
            Ok(Err(e)) => {
                self.note(id, format!("= TLS handshake failed: {e}"));
                lock(&self.shared).tls_failures.push(e.to_string());
                None
            }
            Err(_) => {
                self.note(id, "= TLS handshake timed out".to_string());
                lock(&self.shared)
                    .tls_failures
                    .push("handshake timed out".to_string());
                None
            }
        }
    }

    async fn connection(self: Arc<Self>, id: usize, tcp: tokio::net::TcpStream) {
        self.note(id, "= connected".to_string());
        let plain: Box<dyn Io> = Box::new(tcp);
        let (stream, tls) = match self.options.mode {
            TlsMode::Implicit => match self.handshake(id, plain).await {
                Some(s) => (s, true),
                None => return,
            },
            TlsMode::StartTls => (BufReader::new(plain), false),
        };
        let mut session = Session {
            id,
            server: self.clone(),
            stream,
            tls,
            hello: String::new(),
            login: None,
            mail_from: None,
            rcpts: Vec::new(),
        };
        let _ = session.run().await;
        self.note(id, "= closed".to_string());
    }
}

/// One client connection.
struct Session {
    id: usize,
    server: Arc<ServerSide>,
    stream: Stream,
    tls: bool,
    hello: String,
    /// The user logged in, and the mechanism used.
    login: Option<(String, String)>,
    mail_from: Option<String>,
    rcpts: Vec<String>,
}

impl Session {
    fn note(&self, line: String) {
        self.server.note(self.id, line);
    }

    /// Sends one reply (lines separated by `\n` become a multi-line reply's lines, already
    /// numbered by the caller).
    async fn reply(&mut self, text: &str) -> Result<(), Closed> {
        for line in text.lines() {
            self.note(format!("> {line}"));
        }
        let wire = text.replace('\n', "\r\n") + "\r\n";
        let write = async {
            let io = self.stream.get_mut();
            io.write_all(wire.as_bytes()).await?;
            io.flush().await
        };
        match timeout(IO_TIMEOUT, write).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(Closed),
        }
    }

    /// Reads one line including its line end; `Closed` at EOF, on a timeout, or when the
    /// line is longer than `limit`.
    async fn read_line(&mut self, limit: usize) -> Result<Vec<u8>, Closed> {
        let mut line = Vec::new();
        let mut bounded = (&mut self.stream).take(limit as u64);
        match timeout(IO_TIMEOUT, bounded.read_until(b'\n', &mut line)).await {
            Ok(Ok(n)) if n > 0 && line.ends_with(b"\n") => Ok(line),
            Ok(Ok(0)) => {
                self.note("= EOF".to_string());
                Err(Closed)
            }
            Ok(Ok(_)) => {
                self.note(format!("= line longer than {limit} bytes or cut off"));
                Err(Closed)
            }
            Ok(Err(e)) => {
                self.note(format!("= read error: {e}"));
                Err(Closed)
            }
            Err(_) => {
                self.note("= timed out waiting for the client".to_string());
                Err(Closed)
            }
        }
    }

    /// Reads one command line (or SASL response) without its line end.
    async fn read_command(&mut self) -> Result<String, Closed> {
        let line = self.read_line(MAX_COMMAND_LINE).await?;
        let text = String::from_utf8_lossy(&line);
        Ok(text.trim_end_matches(['\r', '\n']).to_string())
    }

    fn reset_transaction(&mut self) {
        self.mail_from = None;
        self.rcpts.clear();
    }

    async fn run(&mut self) -> Result<(), Closed> {
        self.reply("220 localhost ESMTP deskgate capturing test server")
            .await?;
        loop {
            let line = self.read_command().await?;
            let (verb, args) = match line.split_once(' ') {
                Some((v, a)) => (v.to_ascii_uppercase(), a.trim().to_string()),
                None => (line.to_ascii_uppercase(), String::new()),
            };
            if verb == "AUTH" {
                // The mechanism only: what follows may be a password.
                let mechanism = args.split_whitespace().next().unwrap_or("");
                self.note(format!("< AUTH {mechanism} …"));
            } else {
                self.note(format!("< {line}"));
            }
            match verb.as_str() {
                "EHLO" | "HELO" => self.ehlo(&verb, &args).await?,
                "STARTTLS" => self.starttls().await?,
                "AUTH" => self.auth(&args).await?,
                "MAIL" => self.mail(&args).await?,
                "RCPT" => self.rcpt(&args).await?,
                "DATA" => self.data().await?,
                "RSET" => {
                    self.reset_transaction();
                    self.reply("250 2.0.0 Ok").await?;
                }
                "NOOP" => self.reply("250 2.0.0 Ok").await?,
                "QUIT" => {
                    self.reply("221 2.0.0 Bye").await?;
                    return Ok(());
                }
                _ => self.reply("500 5.5.2 Command not recognized").await?,
            }
        }
    }

    async fn ehlo(&mut self, verb: &str, args: &str) -> Result<(), Closed> {
        if args.is_empty() {
            return self.reply("501 5.5.4 Syntax: EHLO hostname").await;
        }
        self.hello = args.to_string();
        self.reset_transaction();
        if verb == "HELO" {
            return self.reply("250 localhost").await;
        }
        let mut lines = vec![
            format!("localhost greets {args}"),
            "PIPELINING".to_string(),
            "SIZE 16777216".to_string(),
            "8BITMIME".to_string(),
            "SMTPUTF8".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
        ];
        if self.server.options.mode == TlsMode::StartTls && !self.tls {
            lines.push("STARTTLS".to_string());
        }
        // Like a careful submission server, AUTH only where the password is protected.
        if self.tls {
            lines.push(format!("AUTH {}", self.server.options.mechanisms.join(" ")));
        }
        let last = lines.len() - 1;
        let text: Vec<String> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| format!("250{}{l}", if i == last { ' ' } else { '-' }))
            .collect();
        self.reply(&text.join("\n")).await
    }

    async fn starttls(&mut self) -> Result<(), Closed> {
        if self.server.options.mode != TlsMode::StartTls || self.tls {
            return self.reply("503 5.5.1 STARTTLS not available").await;
        }
        // Anything the client sent after STARTTLS would be read as if it came over TLS
        // (CVE-2011-0411): refuse it.
        if !self.stream.buffer().is_empty() {
            self.reply("501 5.5.2 Nothing may follow STARTTLS before the handshake")
                .await?;
            return Err(Closed);
        }
        self.reply("220 2.0.0 Ready to start TLS").await?;
        let placeholder: Box<dyn Io> = Box::new(tokio::io::duplex(1).0);
        let plain = std::mem::replace(&mut self.stream, BufReader::new(placeholder));
        match self.server.handshake(self.id, plain.into_inner()).await {
            Some(tls) => {
                self.stream = tls;
                self.tls = true;
                // RFC 3207: everything learnt before TLS is forgotten.
                self.hello.clear();
                self.login = None;
                self.reset_transaction();
                Ok(())
            }
            None => Err(Closed),
        }
    }

    async fn auth(&mut self, args: &str) -> Result<(), Closed> {
        let mut words = args.split_whitespace();
        let mechanism = words.next().unwrap_or("").to_ascii_uppercase();
        let initial = words.next().map(str::to_string);
        if !self.tls {
            return self
                .reply("538 5.7.11 Encryption required for requested authentication mechanism")
                .await;
        }
        if self.hello.is_empty() {
            return self.reply("503 5.5.1 Send EHLO first").await;
        }
        if self.login.is_some() || self.mail_from.is_some() {
            return self.reply("503 5.5.1 Already authenticated").await;
        }
        if !self.server.options.mechanisms.contains(&mechanism) {
            return self
                .reply("504 5.5.4 Unrecognized authentication type")
                .await;
        }
        let (user, password) = match mechanism.as_str() {
            "PLAIN" => {
                let response = match initial {
                    Some(r) => r,
                    None => self.challenge("334 ").await?,
                };
                if response == "*" {
                    return self.reply("501 5.7.0 Authentication cancelled").await;
                }
                let decoded = base64_decode(&response).unwrap_or_default();
                let parts: Vec<&[u8]> = decoded.split(|b| *b == 0).collect();
                let [_authzid, authcid, passwd] = parts.as_slice() else {
                    return self.reply("501 5.5.2 Cannot decode response").await;
                };
                (
                    String::from_utf8_lossy(authcid).into_owned(),
                    String::from_utf8_lossy(passwd).into_owned(),
                )
            }
            "LOGIN" => {
                let user = match initial {
                    Some(r) => r,
                    // "Username:" and "Password:", base64-encoded.
                    None => self.challenge("334 VXNlcm5hbWU6").await?,
                };
                let password = self.challenge("334 UGFzc3dvcmQ6").await?;
                if user == "*" || password == "*" {
                    return self.reply("501 5.7.0 Authentication cancelled").await;
                }
                match (base64_decode(&user), base64_decode(&password)) {
                    (Some(u), Some(p)) => (
                        String::from_utf8_lossy(&u).into_owned(),
                        String::from_utf8_lossy(&p).into_owned(),
                    ),
                    _ => return self.reply("501 5.5.2 Cannot decode response").await,
                }
            }
            "XOAUTH2" | "OAUTHBEARER" => {
                let response = match initial {
                    Some(r) => r,
                    None => self.challenge("334 ").await?,
                };
                let decoded = base64_decode(&response).unwrap_or_default();
                let text = String::from_utf8_lossy(&decoded).into_owned();
                let user = if mechanism == "XOAUTH2" {
                    text.split('\x01')
                        .find_map(|f| f.strip_prefix("user="))
                        .unwrap_or("")
                        .to_string()
                } else {
                    text.split(',')
                        .find_map(|f| f.strip_prefix("a="))
                        .unwrap_or("")
                        .replace("=2C", ",")
                        .replace("=3D", "=")
                };
                let token = text
                    .split('\x01')
                    .find_map(|f| f.strip_prefix("auth=Bearer "))
                    .unwrap_or("")
                    .to_string();
                let good = self
                    .server
                    .options
                    .bearer
                    .as_ref()
                    .is_some_and(|check| (check.0)(&token, &user));
                if !good {
                    self.note(format!("= bearer token refused for {user:?}"));
                    lock(&self.server.shared).auth_failures.push(user);
                    // RFC 7628 3.2.2: the error as a challenge, the client's %x01 (or an empty
                    // line for XOAUTH2), then the final refusal.
                    let error = base64_encode(
                        br#"{"status":"invalid_token","schemes":"bearer","scope":"mail"}"#,
                    );
                    self.challenge(&format!("334 {error}")).await?;
                    return self
                        .reply("535 5.7.8 Username and Password not accepted")
                        .await;
                }
                (user, String::new())
            }
            _ => {
                return self
                    .reply("504 5.5.4 Mechanism advertised but not implemented")
                    .await
            }
        };
        let bearer = matches!(mechanism.as_str(), "XOAUTH2" | "OAUTHBEARER");
        if bearer || (user == self.server.options.user && password == self.server.options.password)
        {
            self.note(format!("= logged in as {user:?} with {mechanism}"));
            lock(&self.server.shared).logins.push(Login {
                user: user.clone(),
                mechanism: mechanism.clone(),
                tls: self.tls,
            });
            self.login = Some((user, mechanism));
            self.reply("235 2.7.0 Authentication successful").await
        } else {
            self.note(format!("= wrong credentials for {user:?}"));
            lock(&self.server.shared).auth_failures.push(user);
            self.reply("535 5.7.8 Authentication credentials invalid")
                .await
        }
    }

    /// Sends a 334 challenge and reads the client's response (kept out of the transcript).
    async fn challenge(&mut self, prompt: &str) -> Result<String, Closed> {
        self.reply(prompt).await?;
        let response = self.read_command().await?;
        self.note("< (SASL response)".to_string());
        Ok(response.trim().to_string())
    }

    async fn mail(&mut self, args: &str) -> Result<(), Closed> {
        let Some(path) = strip_prefix_ignore_case(args, "FROM:").and_then(angle_path) else {
            return self.reply("501 5.5.4 Syntax: MAIL FROM:<address>").await;
        };
        if self.hello.is_empty() {
            return self.reply("503 5.5.1 Send EHLO first").await;
        }
        if !self.tls {
            return self
                .reply("530 5.7.0 Must issue a STARTTLS command first")
                .await;
        }
        if self.login.is_none() {
            return self.reply("530 5.7.0 Authentication required").await;
        }
        if self.mail_from.is_some() {
            return self.reply("503 5.5.1 Nested MAIL command").await;
        }
        self.mail_from = Some(path);
        self.reply("250 2.1.0 Ok").await
    }

    async fn rcpt(&mut self, args: &str) -> Result<(), Closed> {
        let Some(path) = strip_prefix_ignore_case(args, "TO:").and_then(angle_path) else {
            return self.reply("501 5.5.4 Syntax: RCPT TO:<address>").await;
        };
        if self.mail_from.is_none() {
            return self.reply("503 5.5.1 Need MAIL command").await;
        }
        if path.is_empty() {
            return self.reply("501 5.1.3 Bad recipient address syntax").await;
        }
        self.rcpts.push(path);
        self.reply("250 2.1.5 Ok").await
    }

    async fn data(&mut self) -> Result<(), Closed> {
        if self.mail_from.is_none() {
            return self.reply("503 5.5.1 Need MAIL command").await;
        }
        if self.rcpts.is_empty() {
            return self.reply("554 5.5.1 No valid recipients").await;
        }
        self.reply("354 End data with <CR><LF>.<CR><LF>").await?;
        let mut data = Vec::new();
        loop {
            let line = self.read_line(MAX_DATA_LINE).await?;
            if line == b".\r\n" {
                break;
            }
            // Dot-unstuffing (RFC 5321 4.5.2): a leading "." was doubled by the client.
            let line = line.strip_prefix(b".").unwrap_or(&line);
            data.extend_from_slice(line);
            if data.len() > MAX_MESSAGE {
                self.note(format!("= message larger than {MAX_MESSAGE} bytes"));
                return Err(Closed);
            }
        }
        let (user, mechanism) = match &self.login {
            Some((u, m)) => (Some(u.clone()), Some(m.clone())),
            None => (None, None),
        };
        let transaction = Transaction {
            hello: self.hello.clone(),
            mail_from: self.mail_from.take().unwrap_or_default(),
            rcpts: std::mem::take(&mut self.rcpts),
            data,
            user,
            mechanism,
            tls: self.tls,
        };
        self.note(format!(
            "= captured {} bytes from <{}> to {:?}",
            transaction.data.len(),
            transaction.mail_from,
            transaction.rcpts
        ));
        // Captured before the 250, so a client that saw "sent" finds the mail here.
        let queued = {
            let mut shared = lock(&self.server.shared);
            shared.transactions.push(transaction);
            shared.transactions.len()
        };
        self.reply(&format!("250 2.0.0 Ok: queued as {queued}"))
            .await?;
        if self.server.options.one_mail_per_session {
            self.note("= hanging up after one mail".to_string());
            return Err(Closed);
        }
        Ok(())
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s[prefix.len()..].trim_start())
}

/// The address of `<address> PARAMETERS…` (empty for `<>`), without the brackets.
fn angle_path(s: &str) -> Option<String> {
    let rest = s.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some(rest[..end].to_string())
}

/// Standard base64 (RFC 4648, padding optional); None on any other character.
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in s.trim_end_matches('=').as_bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[test]
fn base64_decodes_what_sasl_clients_send() {
    assert_eq!(
        base64_decode("AHVzZXIAcGFzcw==").as_deref(),
        Some(&b"\0user\0pass"[..])
    );
    assert_eq!(
        base64_decode("VXNlcm5hbWU6").as_deref(),
        Some(&b"Username:"[..])
    );
    assert_eq!(base64_decode("").as_deref(), Some(&b""[..]));
    assert_eq!(base64_decode("a b"), None);
}
