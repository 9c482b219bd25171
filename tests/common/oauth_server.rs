//! An OAuth2 authorization server on 127.0.0.1 for tests: a token endpoint (RFC 6749: the
//! refresh-token and client-credentials grants) and a token-introspection endpoint (RFC 7662,
//! form POST), which Dovecot's `oauth2` passdb and the capturing SMTP server ask whether a
//! bearer token is good.
//!
//! Tokens are `at-<n>` with the lifetime the test sets (`expires_in`); the test can make every
//! token issued so far expire at once (as if their hour were up), and revoke a refresh token
//! (its access tokens die with it and the token endpoint answers `invalid_grant`). It counts
//! what it issued and introspected. Plain HTTP/1.1 on std threads, one request per connection;
//! every read is bounded.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

/// `(token, user) → accepted`, for servers that check bearer tokens themselves.
pub type TokenCheck = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// A client the server knows: its id, its secret, and whose mailbox its tokens open.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub id: String,
    pub secret: Option<String>,
    /// The user of the client-credentials grant (a shared mailbox's app-only access).
    pub user: String,
}

/// An issued access token.
#[derive(Debug, Clone)]
struct Issued {
    user: String,
    scope: String,
    refresh: Option<String>,
    active: bool,
}

#[derive(Default)]
struct State {
    clients: Vec<OAuthClient>,
    /// refresh token → user.
    refresh_tokens: HashMap<String, String>,
    revoked: Vec<String>,
    tokens: HashMap<String, Issued>,
    next: u32,
    expires_in: u64,
    issued: usize,
    introspections: usize,
    /// Every token request, as `grant_type` and the error it got (if any).
    log: Vec<String>,
}

/// The server; dropping it stops it.
pub struct OAuthServer {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl OAuthServer {
    /// Starts a server knowing `clients`; tokens last `expires_in` seconds (as announced; only
    /// [`OAuthServer::expire_all`] and [`OAuthServer::revoke`] end them).
    pub fn start(clients: &[OAuthClient], expires_in: u64) -> OAuthServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the OAuth server");
        let port = listener.local_addr().expect("local addr").port();
        let state = Arc::new(Mutex::new(State {
            clients: clients.to_vec(),
            expires_in,
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let state = state.clone();
            let stop = stop.clone();
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = state.clone();
                    thread::spawn(move || {
                        let _ = serve(stream, &state);
                    });
                }
            });
        }
        OAuthServer { port, state, stop }
    }

    /// Gives out `refresh_token` for `user` (as a consent screen would have).
    pub fn grant(&self, refresh_token: &str, user: &str) {
        lock(&self.state)
            .refresh_tokens
            .insert(refresh_token.to_string(), user.to_string());
    }

    pub fn token_url(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    pub fn introspection_url(&self) -> String {
        format!("http://127.0.0.1:{}/introspect", self.port)
    }

    /// Every access token issued so far stops being active, as when its lifetime is over.
    pub fn expire_all(&self) {
        for t in lock(&self.state).tokens.values_mut() {
            t.active = false;
        }
    }

    /// Revokes `refresh_token`: refused from now on, and its access tokens inactive.
    pub fn revoke(&self, refresh_token: &str) {
        let mut s = lock(&self.state);
        s.revoked.push(refresh_token.to_string());
        for t in s.tokens.values_mut() {
            if t.refresh.as_deref() == Some(refresh_token) {
                t.active = false;
            }
        }
    }

    /// Issues an access token for `user` with `scope` directly (what a `token_command`'s own
    /// OAuth2 client would have got).
    pub fn issue_for(&self, user: &str, scope: &str) -> String {
        let mut s = lock(&self.state);
        s.next += 1;
        s.issued += 1;
        let token = format!("at-{}-{}", s.next, std::process::id());
        s.tokens.insert(
            token.clone(),
            Issued {
                user: user.to_string(),
                scope: scope.to_string(),
                refresh: None,
                active: true,
            },
        );
        token
    }

    /// How many access tokens were issued.
    pub fn issued(&self) -> usize {
        lock(&self.state).issued
    }

    /// How many introspection requests came.
    pub fn introspections(&self) -> usize {
        lock(&self.state).introspections
    }

    /// The token requests so far: `<grant_type> ok` or `<grant_type> <error>`.
    pub fn log(&self) -> Vec<String> {
        lock(&self.state).log.clone()
    }

    /// Whether `token` is active for `user` with `scope` among its scopes (for servers in the
    /// test that check tokens themselves, like the capturing SMTP server).
    pub fn check(&self, token: &str, user: &str, scope: &str) -> bool {
        check(&self.state, token, user, scope)
    }

    /// A checker for the capturing SMTP server: `(token, user) → accepted`.
    pub fn checker(&self, scope: &str) -> TokenCheck {
        let state = self.state.clone();
        let scope = scope.to_string();
        Arc::new(move |token: &str, user: &str| check(&state, token, user, &scope))
    }
}

fn check(state: &Mutex<State>, token: &str, user: &str, scope: &str) -> bool {
    let mut s = lock(state);
    s.introspections += 1;
    s.tokens
        .get(token)
        .is_some_and(|t| t.active && t.user == user && t.scope.split(' ').any(|x| x == scope))
}

impl Drop for OAuthServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length.min(64 * 1024)];
    reader.read_exact(&mut body)?;
    let form = parse_form(&String::from_utf8_lossy(&body));
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    let (status, json) = match path {
        "/token" => token(state, &form),
        "/introspect" => introspect(state, &form),
        _ => (404, r#"{"error":"not_found"}"#.to_string()),
    };
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        _ => "Not Found",
    };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n{json}",
        json.len()
    )?;
    out.flush()
}

fn token(state: &Mutex<State>, form: &HashMap<String, String>) -> (u16, String) {
    let mut s = lock(state);
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    let answer = issue(&mut s, &grant, form);
    let entry = match &answer {
        Ok(_) => format!("{grant} ok"),
        Err((_, e)) => format!("{grant} {e}"),
    };
    s.log.push(entry);
    match answer {
        Ok(json) => (200, json),
        Err((status, error)) => (
            status,
            format!(r#"{{"error":"{error}","error_description":"refused by the test server"}}"#),
        ),
    }
}

fn issue(
    s: &mut State,
    grant: &str,
    form: &HashMap<String, String>,
) -> Result<String, (u16, &'static str)> {
    let id = form.get("client_id").map(String::as_str).unwrap_or("");
    let client = s
        .clients
        .iter()
        .find(|c| c.id == id)
        .cloned()
        .ok_or((401, "invalid_client"))?;
    if let Some(secret) = &client.secret {
        if form.get("client_secret") != Some(secret) {
            return Err((401, "invalid_client"));
        }
    }
    let (user, refresh) = match grant {
        "refresh_token" => {
            let r = form.get("refresh_token").cloned().unwrap_or_default();
            if s.revoked.contains(&r) {
                return Err((400, "invalid_grant"));
            }
            let user = s
                .refresh_tokens
                .get(&r)
                .cloned()
                .ok_or((400, "invalid_grant"))?;
            (user, Some(r))
        }
        "client_credentials" => {
            if client.secret.is_none() {
                return Err((401, "unauthorized_client"));
            }
            (client.user.clone(), None)
        }
        _ => return Err((400, "unsupported_grant_type")),
    };
    let scope = form
        .get("scope")
        .cloned()
        .filter(|x| !x.is_empty())
        .unwrap_or_else(|| "mail".to_string());
    s.next += 1;
    s.issued += 1;
    let token = format!("at-{}-{}", s.next, std::process::id());
    s.tokens.insert(
        token.clone(),
        Issued {
            user,
            scope: scope.clone(),
            refresh,
            active: true,
        },
    );
    Ok(format!(
        r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":{},"scope":"{scope}"}}"#,
        s.expires_in
    ))
}

fn introspect(state: &Mutex<State>, form: &HashMap<String, String>) -> (u16, String) {
    let mut s = lock(state);
    s.introspections += 1;
    let token = form.get("token").map(String::as_str).unwrap_or("");
    match s.tokens.get(token) {
        Some(t) if t.active => (
            200,
            format!(
                r#"{{"active":true,"username":"{}","scope":"{}","token_type":"Bearer"}}"#,
                t.user, t.scope
            ),
        ),
        _ => (200, r#"{"active":false}"#.to_string()),
    }
}

/// `a=b&c=d`, percent- and plus-decoded.
fn parse_form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
