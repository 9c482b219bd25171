//! OAuth2 logins for real: the IMAP source against Dovecot's `oauth2` passdb (XOAUTH2 and
//! OAUTHBEARER, tokens checked at a token-introspection endpoint), and the SMTP transport
//! against a capturing server that accepts AUTH XOAUTH2, both with tokens from the token
//! endpoint of [`OAuthServer`] on loopback.
//!
//! Shown: mail fetched with a token from the refresh-token grant and from the
//! client-credentials grant; a token from `token_command`; a kept token replaced before it
//! expires (expiry judged by the injected clock, turned by the test) and after the server
//! refused it; a revoked grant and a token without the mail scope give a refused login that
//! says why.

mod common;
// Shared with tests/smtp_tls.rs, which uses the rest of it.
#[allow(dead_code)]
#[path = "common/smtp_tls_server.rs"]
mod smtp_tls_server;

use chrono::TimeZone;
use common::{Dovecot, OAuthClient, OAuthServer};
use deskgate::clock::ManualClock;
use deskgate::config::{ImapConfig, SmtpConfig};
use deskgate::core::service::outbox::Attempt;
use deskgate::outbound::Transport;
use deskgate::source::imap::ImapSource;
use deskgate::source::SourceError;
use smtp_tls_server::{BearerCheck, CapturingSmtpServer, Options, TlsMode};
use std::sync::Arc;
use std::time::Duration;

const USER: &str = "nl";
const PASS: &str = "secret-nl";
const CLIENT: &str = "deskgate";
const CLIENT_SECRET: &str = "client-s3cret";
const REFRESH: &str = "rt-nl";

/// A token server that knows deskgate as a client (app-only access to `nl`) and has given it a
/// refresh token for `nl`; tokens announced to last an hour.
fn token_server() -> OAuthServer {
    let server = OAuthServer::start(
        &[OAuthClient {
            id: CLIENT.into(),
            secret: Some(CLIENT_SECRET.into()),
            user: USER.into(),
        }],
        3600,
    );
    server.grant(REFRESH, USER);
    server
}

/// Both servers, Dovecot asking the token server about every token.
fn servers() -> (OAuthServer, Dovecot) {
    let tokens = token_server();
    let dovecot = Dovecot::start_oauth2(&[(USER, PASS)], &tokens.introspection_url());
    (tokens, dovecot)
}

/// `[desk.imap]` with `auth = "oauth2"` and the given `[desk.imap.oauth2]` keys.
fn imap_config(dovecot: &Dovecot, oauth2: &str) -> ImapConfig {
    let text = format!(
        "url = \"imap://127.0.0.1:{}\"\nuser = {USER:?}\nauth = \"oauth2\"\n[oauth2]\n{oauth2}",
        dovecot.imap_port()
    );
    toml::from_str(&text).unwrap_or_else(|e| panic!("[desk.imap] {text}: {e}"))
}

/// The refresh-token grant, as for Google or delegated Microsoft access.
fn refresh_grant(tokens: &OAuthServer, scope: &str) -> String {
    format!(
        "token_url = {:?}\nclient_id = {CLIENT:?}\nclient_secret = {CLIENT_SECRET:?}\n\
         refresh_token = {REFRESH:?}\nscope = {scope:?}\n",
        tokens.token_url()
    )
}

fn mail(n: u32) -> Vec<u8> {
    format!(
        "From: customer{n}@example.com\r\nTo: servicedesk.nl@example.net\r\nSubject: test {n}\r\n\
         Message-ID: <oauth-{n}@example.com>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nbody {n}\r\n"
    )
    .into_bytes()
}

fn clock() -> ManualClock {
    ManualClock::new(
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
            .unwrap(),
    )
}

/// Fetches everything in the mailbox on a new connection, returning how many mails came.
async fn fetch_fresh(source: &mut ImapSource) -> Result<usize, SourceError> {
    source.reset().await;
    source.fetch(None, 100).await.map(|m| m.len())
}

#[tokio::test]
async fn mail_is_fetched_with_an_xoauth2_token_from_the_refresh_token_grant() {
    let (tokens, dovecot) = servers();
    dovecot.append(USER, PASS, "INBOX", &mail(1));
    let mut source = ImapSource::new("nl", imap_config(&dovecot, &refresh_grant(&tokens, "mail")));
    let n = fetch_fresh(&mut source)
        .await
        .unwrap_or_else(|e| dovecot.fail(format!("fetch with XOAUTH2: {e}")));
    assert_eq!(n, 1);
    assert_eq!(tokens.log(), vec!["refresh_token ok"]);
    assert!(
        tokens.introspections() >= 1,
        "Dovecot asked about the token"
    );
}

#[tokio::test]
async fn oauthbearer_works_with_the_client_credentials_grant() {
    let (tokens, dovecot) = servers();
    dovecot.append(USER, PASS, "INBOX", &mail(1));
    let oauth2 = format!(
        "mechanism = \"oauthbearer\"\ntoken_url = {:?}\nclient_id = {CLIENT:?}\n\
         client_secret_command = \"printf {CLIENT_SECRET}\"\nscope = \"mail\"\n",
        tokens.token_url()
    );
    let mut source = ImapSource::new("nl", imap_config(&dovecot, &oauth2));
    let n = fetch_fresh(&mut source)
        .await
        .unwrap_or_else(|e| dovecot.fail(format!("fetch with OAUTHBEARER: {e}")));
    assert_eq!(n, 1);
    assert_eq!(tokens.log(), vec!["client_credentials ok"]);
}

#[tokio::test]
async fn token_command_supplies_the_token() {
    let (tokens, dovecot) = servers();
    dovecot.append(USER, PASS, "INBOX", &mail(1));
    let file = dovecot.dir().join("token");
    std::fs::write(&file, format!("{}\n", tokens.issue_for(USER, "mail"))).expect("token file");
    let oauth2 = format!("token_command = \"cat {}\"\n", file.display());
    let mut source = ImapSource::new("nl", imap_config(&dovecot, &oauth2));
    let n = fetch_fresh(&mut source)
        .await
        .unwrap_or_else(|e| dovecot.fail(format!("fetch with a token_command: {e}")));
    assert_eq!(n, 1);
    assert!(
        tokens.log().is_empty(),
        "deskgate asked the token endpoint itself"
    );
}

#[tokio::test]
async fn a_kept_token_is_replaced_when_its_expiry_comes_near() {
    let (tokens, dovecot) = servers();
    dovecot.append(USER, PASS, "INBOX", &mail(1));
    let clock = clock();
    let mut source = ImapSource::with_clock(
        "nl",
        imap_config(&dovecot, &refresh_grant(&tokens, "mail")),
        Arc::new(clock.clone()),
    );
    assert_eq!(fetch_fresh(&mut source).await.expect("first login"), 1);
    clock.advance(chrono::Duration::minutes(50));
    assert_eq!(fetch_fresh(&mut source).await.expect("second login"), 1);
    assert_eq!(tokens.issued(), 1, "a token with 10 minutes left is kept");
    // 56 minutes into its hour: within the last five minutes, so a new one is fetched.
    clock.advance(chrono::Duration::minutes(6));
    assert_eq!(fetch_fresh(&mut source).await.expect("third login"), 1);
    assert_eq!(tokens.log(), vec!["refresh_token ok", "refresh_token ok"]);
}

#[tokio::test]
async fn a_kept_token_the_server_refuses_is_replaced_and_the_login_tried_again() {
    let (tokens, dovecot) = servers();
    dovecot.append(USER, PASS, "INBOX", &mail(1));
    let mut source = ImapSource::new("nl", imap_config(&dovecot, &refresh_grant(&tokens, "mail")));
    assert_eq!(fetch_fresh(&mut source).await.expect("first login"), 1);
    // The provider ends the token early (a password change, a policy): the client still thinks
    // it has most of an hour.
    tokens.expire_all();
    let n = fetch_fresh(&mut source)
        .await
        .unwrap_or_else(|e| dovecot.fail(format!("login after the token expired: {e}")));
    assert_eq!(n, 1);
    assert_eq!(tokens.issued(), 2);
}

#[tokio::test]
async fn a_revoked_grant_is_a_refused_login_that_names_the_token_endpoint() {
    let (tokens, dovecot) = servers();
    let mut source = ImapSource::new("nl", imap_config(&dovecot, &refresh_grant(&tokens, "mail")));
    assert_eq!(fetch_fresh(&mut source).await.expect("first login"), 0);
    tokens.revoke(REFRESH);
    let e = fetch_fresh(&mut source)
        .await
        .expect_err("a revoked grant cannot log in");
    let text = e.to_string();
    assert!(matches!(e, SourceError::Auth { .. }), "{e:?}");
    assert!(!e.is_transient(), "{text}");
    assert!(
        text.contains("invalid_grant") && text.contains(&tokens.token_url()),
        "{text}"
    );
    assert!(
        !text.contains("rt-nl") && !text.contains("at-"),
        "a secret shows: {text}"
    );
}

#[tokio::test]
async fn an_unreachable_token_endpoint_is_passing_trouble_retried_soon() {
    let (tokens, dovecot) = servers();
    let closed = common::free_port();
    let oauth2 = refresh_grant(&tokens, "mail").replace(
        &tokens.token_url(),
        &format!("http://127.0.0.1:{closed}/token"),
    );
    let mut source = ImapSource::new("nl", imap_config(&dovecot, &oauth2));
    let e = fetch_fresh(&mut source)
        .await
        .expect_err("no token endpoint, no login");
    let text = e.to_string();
    assert!(e.is_transient(), "{text}");
    assert!(
        text.contains("no access token: token endpoint") && text.contains(&closed.to_string()),
        "{text}"
    );
}

#[tokio::test]
async fn a_token_without_the_mail_scope_is_refused_with_the_reason() {
    let (tokens, dovecot) = servers();
    let mut source = ImapSource::new(
        "nl",
        imap_config(&dovecot, &refresh_grant(&tokens, "calendar")),
    );
    let e = fetch_fresh(&mut source)
        .await
        .expect_err("a token for the calendar does not open the mailbox");
    let text = e.to_string();
    assert!(matches!(e, SourceError::Auth { .. }), "{e:?}");
    // "login as nl refused: XOAUTH2 with a new access token: status 401, the server wants
    // scope "mail"; [AUTHENTICATIONFAILED] Authentication failed."
    assert!(
        text.contains("XOAUTH2 with a new access token") && text.contains("scope \"mail\""),
        "{text}"
    );
    assert_eq!(
        tokens.issued(),
        1,
        "a new token refused is not fetched again at once"
    );
    assert!(!text.contains("at-"), "the token shows: {text}");
}

/// The capturing SMTP server accepting the token server's tokens with the `mail` scope.
fn smtp_server(tokens: &OAuthServer) -> CapturingSmtpServer {
    let check = BearerCheck(tokens.checker("mail"));
    CapturingSmtpServer::start(Options::new(TlsMode::Implicit, "unused", "unused").bearer(check))
}

fn smtp_config(server: &CapturingSmtpServer, oauth2: &str) -> SmtpConfig {
    let text = format!(
        "url = {:?}\ntimeout_secs = 10\nusername = \"nl\"\nauth = \"oauth2\"\nca_file = {:?}\n\
         [oauth2]\n{oauth2}",
        server.url(),
        server.ca_cert_path().display().to_string()
    );
    toml::from_str(&text).unwrap_or_else(|e| panic!("[smtp] {text}: {e}"))
}

fn send(config: &SmtpConfig) -> Attempt {
    send_each(config, 1, |_| {}).remove(0)
}

/// Sends `n` mails over one transport (one token cache), calling `between(i)` before mail `i`.
fn send_each(config: &SmtpConfig, n: usize, between: impl Fn(usize)) -> Vec<Attempt> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let transport = Transport::from_config(config, Arc::new(clock())).expect("transport");
        let mut attempts = Vec::new();
        for i in 0..n {
            between(i);
            let id = format!("m{i}@example.net");
            let bytes = format!(
                "From: servicedesk.nl@example.net\r\nTo: jane@acme.example\r\n\
                 Subject: hello\r\nMessage-ID: <{id}>\r\n\r\nhello\r\n"
            );
            let attempt = tokio::time::timeout(
                Duration::from_secs(60),
                transport.send(
                    "servicedesk.nl@example.net",
                    &["jane@acme.example".to_string()],
                    &id,
                    bytes.as_bytes(),
                ),
            )
            .await
            .expect("the send finishes");
            attempts.push(attempt);
        }
        attempts
    })
}

#[test]
fn smtp_sends_with_an_xoauth2_token() {
    let tokens = token_server();
    let server = smtp_server(&tokens);
    let attempt = send(&smtp_config(&server, &refresh_grant(&tokens, "mail")));
    if attempt != Attempt::Sent {
        server.fail(format!("expected Sent, got {attempt:?}"));
    }
    let logins = server.logins();
    assert_eq!(logins.len(), 1, "{logins:?}");
    assert_eq!(logins[0].user, "nl");
    assert_eq!(logins[0].mechanism, "XOAUTH2");
    assert_eq!(server.transactions().len(), 1);
}

#[test]
fn smtp_replaces_a_kept_token_the_server_refuses() {
    let tokens = token_server();
    let mut options = Options::new(TlsMode::Implicit, "unused", "unused")
        .bearer(BearerCheck(tokens.checker("mail")));
    // Every mail on a session of its own, so the second one logs in again.
    options.one_mail_per_session = true;
    let server = CapturingSmtpServer::start(options);
    let config = smtp_config(&server, &refresh_grant(&tokens, "mail"));
    let attempts = send_each(&config, 2, |i| {
        if i == 1 {
            // The first token dies early; the transport still keeps it.
            tokens.expire_all();
        }
    });
    if attempts != [Attempt::Sent, Attempt::Sent] {
        server.fail(format!("expected two Sent, got {attempts:?}"));
    }
    assert_eq!(tokens.issued(), 2, "{:?}", tokens.log());
    assert_eq!(
        server.auth_failures(),
        vec!["nl"],
        "the kept token was refused once"
    );
    assert_eq!(server.logins().len(), 2);
}

#[test]
fn smtp_sends_with_oauthbearer_and_the_client_credentials_grant() {
    let tokens = token_server();
    let server = smtp_server(&tokens);
    let oauth2 = format!(
        "mechanism = \"oauthbearer\"\ntoken_url = {:?}\nclient_id = {CLIENT:?}\n\
         client_secret = {CLIENT_SECRET:?}\nscope = \"mail\"\n",
        tokens.token_url()
    );
    let attempt = send(&smtp_config(&server, &oauth2));
    if attempt != Attempt::Sent {
        server.fail(format!("expected Sent, got {attempt:?}"));
    }
    assert_eq!(server.logins()[0].mechanism, "OAUTHBEARER");
}

#[test]
fn smtp_with_a_token_without_the_mail_scope_is_retried_later_and_says_why() {
    let tokens = token_server();
    let server = smtp_server(&tokens);
    let attempt = send(&smtp_config(&server, &refresh_grant(&tokens, "calendar")));
    let Attempt::Transient(why) = attempt else {
        server.fail(format!("expected a transient failure, got {attempt:?}"));
    };
    assert!(
        why.contains("XOAUTH2") && why.contains("invalid_token") && why.contains("\"mail\""),
        "{why}"
    );
    assert!(!why.contains("at-"), "the token shows: {why}");
    assert!(server.transactions().is_empty());
}
