//! The SASL messages that carry an OAuth2 access token: XOAUTH2 (Google's and Microsoft's) and
//! OAUTHBEARER (RFC 7628), and the server's error report after a refusal.
//!
//! Pure functions over text; IMAP (`source/imap/connect.rs`) and SMTP (`outbound/smtp.rs`)
//! send what these build, each in its own protocol's way.

use crate::config::SaslMechanism;
use base64::Engine as _;

/// The client's first message for `mechanism`, before base64: the user and the bearer token.
///
/// XOAUTH2: `user=<user>^Aauth=Bearer <token>^A^A`. OAUTHBEARER (RFC 7628 §3.1):
/// `n,a=<user>,^Aauth=Bearer <token>^A^A`, the user escaped as a GS2 name (`=` → `=3D`,
/// `,` → `=2C`).
pub fn initial_response(mechanism: SaslMechanism, user: &str, token: &str) -> Vec<u8> {
    match mechanism {
        SaslMechanism::Xoauth2 => format!("user={user}\x01auth=Bearer {token}\x01\x01"),
        SaslMechanism::Oauthbearer => {
            let user = user.replace('=', "=3D").replace(',', "=2C");
            format!("n,a={user},\x01auth=Bearer {token}\x01\x01")
        }
    }
    .into_bytes()
}

/// [`initial_response`] in base64, as it goes on the line.
pub fn initial_response_base64(mechanism: SaslMechanism, user: &str, token: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(initial_response(mechanism, user, token))
}

/// What the client answers to the server's error challenge, base64-encoded: an empty line for
/// XOAUTH2, `%x01` for OAUTHBEARER (RFC 7628 §3.2.3); the server then sends its final refusal.
pub fn error_acknowledgement(mechanism: SaslMechanism) -> &'static str {
    match mechanism {
        SaslMechanism::Xoauth2 => "",
        SaslMechanism::Oauthbearer => "AQ==",
    }
}

/// The server's words in an error challenge (base64 of a JSON object such as
/// `{"status":"invalid_token","scope":"mail"}`), shortened to one readable line; the raw
/// challenge when it is not base64 JSON.
pub fn describe_challenge(challenge: &str) -> String {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(challenge.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    let Some(text) = decoded else {
        return challenge.trim().to_string();
    };
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(map)) => {
            let field = |k: &str| map.get(k).and_then(|v| v.as_str()).unwrap_or("");
            let mut s = format!("status {}", field("status"));
            if !field("scope").is_empty() {
                s.push_str(&format!(", the server wants scope {:?}", field("scope")));
            }
            s
        }
        _ => text.chars().filter(|c| !c.is_control()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoauth2_is_user_and_bearer_token_between_ctrl_a() {
        // Google's documented example, "someuser@example.com" with token "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg".
        assert_eq!(
            initial_response_base64(
                SaslMechanism::Xoauth2,
                "someuser@example.com",
                "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
            ),
            "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
        );
    }

    #[test]
    fn oauthbearer_has_a_gs2_header_with_the_user_escaped() {
        assert_eq!(
            initial_response(SaslMechanism::Oauthbearer, "a,b=c@example.net", "t0k"),
            b"n,a=a=2Cb=3Dc@example.net,\x01auth=Bearer t0k\x01\x01".to_vec()
        );
    }

    #[test]
    fn error_challenges_read_as_one_line() {
        let c = base64::engine::general_purpose::STANDARD
            .encode(r#"{"status":"invalid_token","schemes":"bearer","scope":"mail"}"#);
        assert_eq!(
            describe_challenge(&c),
            "status invalid_token, the server wants scope \"mail\""
        );
        assert_eq!(describe_challenge("not base64!"), "not base64!");
        assert_eq!(error_acknowledgement(SaslMechanism::Oauthbearer), "AQ==");
    }
}
