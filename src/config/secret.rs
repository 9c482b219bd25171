//! Passwords in the config: the [`Secret`] that never shows in `Debug`, and the
//! [`SecretSource`] that resolves a password given inline or by a `password_command`.
//!
//! Resolving runs `sh -c`, so it happens only when a connection needs the password (or
//! `deskgate check` asks), never while the config is read.

use super::sections::{ImapConfig, OAuth2Config, SmtpConfig, StoreConfig};
use serde::{Deserialize, Serialize};

/// A password. `Debug` prints `<redacted>`, and there is no `Display`, so a config or an error
/// that is logged whole never carries it; the one way to the text is [`Secret::expose`], called
/// where the password is sent.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The password itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret(value.to_string())
    }
}

/// A password given inline or by a command.
#[derive(Debug, Clone)]
pub struct SecretSource<'a> {
    pub inline: Option<&'a Secret>,
    pub command: Option<&'a str>,
    /// The command's key, for messages (`password_command`, `refresh_token_command`).
    pub key: &'static str,
}

impl SecretSource<'_> {
    /// Whether the secret is given at all (inline or by a command).
    pub fn is_given(&self) -> bool {
        self.inline.is_some() || self.command.is_some()
    }

    /// The password: inline, or the trimmed stdout of `sh -c command`.
    pub fn resolve(&self) -> Result<Secret, String> {
        if let Some(p) = self.inline {
            return Ok(p.clone());
        }
        let Some(cmd) = self.command else {
            return Ok(Secret::new(""));
        };
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("{} could not be started: {e}", self.key))?;
        if !out.status.success() {
            return Err(format!("{} exited with {}", self.key, out.status));
        }
        Ok(Secret(
            String::from_utf8_lossy(&out.stdout)
                .trim_end_matches(['\n', '\r'])
                .to_string(),
        ))
    }
}

impl ImapConfig {
    pub fn secret(&self) -> SecretSource<'_> {
        SecretSource {
            inline: self.password.as_ref(),
            command: self.password_command.as_deref(),
            key: "password_command",
        }
    }
}

impl StoreConfig {
    pub fn secret(&self) -> SecretSource<'_> {
        SecretSource {
            inline: self.password.as_ref(),
            command: self.password_command.as_deref(),
            key: "password_command",
        }
    }
}

impl SmtpConfig {
    pub fn secret(&self) -> SecretSource<'_> {
        SecretSource {
            inline: self.password.as_ref(),
            command: self.password_command.as_deref(),
            key: "password_command",
        }
    }
}

impl OAuth2Config {
    /// The client secret (absent for a public client).
    pub fn client_secret(&self) -> SecretSource<'_> {
        SecretSource {
            inline: self.client_secret.as_ref(),
            command: self.client_secret_command.as_deref(),
            key: "client_secret_command",
        }
    }

    /// The refresh token (absent for the client-credentials grant).
    pub fn refresh_token(&self) -> SecretSource<'_> {
        SecretSource {
            inline: self.refresh_token.as_ref(),
            command: self.refresh_token_command.as_deref(),
            key: "refresh_token_command",
        }
    }

    /// The access token printed by `token_command` (trimmed), or `None` when there is none.
    pub fn token_command_source(&self) -> Option<SecretSource<'_>> {
        self.token_command.as_deref().map(|command| SecretSource {
            inline: None,
            command: Some(command),
            key: "token_command",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    #[test]
    fn password_command_supplies_the_secret() {
        let s = SecretSource {
            inline: None,
            command: Some("printf 's3cret\\n'"),
            key: "password_command",
        };
        assert_eq!(s.resolve().as_ref().map(Secret::expose), Ok("s3cret"));
    }

    #[test]
    fn an_inline_password_is_the_secret() {
        let inline = Secret::from("hunter2");
        let s = SecretSource {
            inline: Some(&inline),
            command: Some("exit 1"),
            key: "password_command",
        };
        assert_eq!(s.resolve().as_ref().map(Secret::expose), Ok("hunter2"));
    }

    #[test]
    fn passwords_do_not_show_when_a_config_is_printed_with_debug() {
        let text = r#"
[store]
path = "x"
[smtp]
url = "smtp://relay.example:587"
username = "desk"
password = "smtp-pa55word"
[[desk]]
name = "nl"
address = "servicedesk.nl@example.net"
language = "en"
[desk.imap]
url = "imaps://mail.example.net"
user = "nl"
password = "imap-pa55word"
"#;
        let c = Config::parse(text, Path::new("cfg.toml")).expect("parses");
        assert_eq!(
            c.desks[0]
                .imap
                .as_ref()
                .and_then(|i| i.password.as_ref())
                .map(Secret::expose),
            Some("imap-pa55word"),
            "the password is read"
        );
        let shown = format!("{c:?} {c:#?}");
        for password in ["smtp-pa55word", "imap-pa55word"] {
            assert!(!shown.contains(password), "{password} shows in {shown}");
        }
        assert!(shown.contains("<redacted>"), "{shown}");
        let resolved = c.smtp.secret().resolve().expect("inline");
        assert_eq!(format!("{resolved:?}"), "<redacted>");
    }
}
