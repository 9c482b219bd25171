//! Desks logging in with OAuth2, end to end: the `deskgate` daemon reads two desks of a real
//! Dovecot whose `oauth2` passdb asks a token server on loopback about every token; each desk
//! has its own grant. When one desk's grant is revoked, that desk says so in one line (the
//! token endpoint's `invalid_grant`, no secret) and is retried later, while the other desk goes
//! on fetching and answering mail.

mod common;

use common::{DeskConfig, Dovecot, GateConfig, OAuthClient, OAuthServer, SmtpSink, TextMail};
use std::time::Duration;

const PASSWORD: &str = "secret-pw";
const LIMIT: Duration = Duration::from_secs(30);

fn grant(tokens: &OAuthServer, refresh_token: &str) -> String {
    format!(
        "token_url = {:?}\nclient_id = \"deskgate\"\nclient_secret = \"client-s3cret\"\n\
         refresh_token = {refresh_token:?}\nscope = \"mail\"\n",
        tokens.token_url()
    )
}

#[test]
fn a_revoked_grant_stops_its_desk_with_a_clear_line_and_the_other_desk_goes_on() {
    let tokens = OAuthServer::start(
        &[OAuthClient {
            id: "deskgate".into(),
            secret: Some("client-s3cret".into()),
            user: "nl".into(),
        }],
        3600,
    );
    tokens.grant("rt-nl", "nl");
    tokens.grant("rt-fr", "fr");
    let mut dovecot = Dovecot::start_oauth2(
        &[("nl", PASSWORD), ("fr", PASSWORD)],
        &tokens.introspection_url(),
    );
    let sink = SmtpSink::start();
    let url = format!("imap://127.0.0.1:{}", dovecot.imap_port());
    let gate = GateConfig::new()
        .smtp_port(sink.port())
        .desk(DeskConfig::nl().imap_oauth2(&url, "nl", &grant(&tokens, "rt-nl")))
        .desk(
            DeskConfig::new("fr", "support.fr@example.net")
                .language("fr")
                .imap_oauth2(&url, "fr", &grant(&tokens, "rt-fr")),
        )
        .start();
    let daemon = gate.spawn_daemon();

    // Both desks fetch with their tokens: two tickets, two acknowledgements.
    let first = TextMail::new("jane@acme.example", "Link down AM11", "m1@acme.example");
    dovecot.append("nl", PASSWORD, "INBOX", &first.bytes());
    let second = TextMail::new("paul@acme.example", "Lien coupé PA2", "m2@acme.example")
        .to("support.fr@example.net");
    dovecot.append("fr", PASSWORD, "INBOX", &second.bytes());
    sink.wait_for(2, LIMIT);
    assert_eq!(tokens.log(), vec!["refresh_token ok", "refresh_token ok"]);

    // nl's grant is revoked (its tokens die with it); the restart makes both desks log in again.
    tokens.revoke("rt-nl");
    dovecot.restart();
    daemon.wait_for_line("nl's refused login", LIMIT, |l| {
        l.contains("desk=nl") && l.contains("invalid_grant")
    });
    let line = daemon
        .log()
        .lines()
        .find(|l| l.contains("desk=nl") && l.contains("invalid_grant"))
        .map(str::to_string)
        .unwrap_or_default();
    // "desk pass failed … desk=nl error=nl: login as nl refused: no access token: token
    // endpoint http://127.0.0.1:…/token refused: invalid_grant: … retry_in=600s"
    assert!(
        line.contains("no access token: token endpoint")
            && line.contains(&tokens.token_url())
            && line.contains("retry_in"),
        "{line}"
    );

    // fr logs in again with its kept token and answers new mail.
    let third = TextMail::new("paul@acme.example", "Encore", "m3@acme.example")
        .to("support.fr@example.net");
    dovecot.append("fr", PASSWORD, "INBOX", &third.bytes());
    sink.wait_for(3, LIMIT);
    let log = daemon.stop();
    for secret in ["rt-nl", "rt-fr", "client-s3cret", "at-"] {
        assert!(!log.contains(secret), "{secret} is in the log:\n{log}");
    }
    assert_eq!(gate.tickets().len(), 3);
}
