//! Mail addresses, below both the reading of mail and the running of the service: who wrote,
//! who a ticket is for, and which domains say nothing about who someone is.

use serde::{Deserialize, Serialize};

/// A mail address with its optional display name. The address is stored lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub email: String,
}

impl Address {
    /// Builds an address, normalising the mailbox to lower case and trimming stray brackets.
    pub fn new(name: Option<&str>, email: &str) -> Address {
        let email = email
            .trim()
            .trim_matches(|c| c == '<' || c == '>')
            .to_ascii_lowercase();
        let name = name
            .map(|n| n.trim().trim_matches('"').trim().to_string())
            .filter(|n| !n.is_empty() && n.to_ascii_lowercase() != email);
        Address { name, email }
    }

    /// The part after the `@`, lower-cased; empty when the address has none.
    pub fn domain(&self) -> &str {
        self.email.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{n} <{}>", self.email),
            None => f.write_str(&self.email),
        }
    }
}

/// Public mailbox providers: sharing one of these domains says nothing about who someone is.
pub const PUBLIC_PROVIDERS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "yahoo.fr",
    "yahoo.es",
    "yahoo.it",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "orange.fr",
    "wanadoo.fr",
    "free.fr",
    "laposte.net",
    "sapo.pt",
    "libero.it",
    "virgilio.it",
    "ziggo.nl",
    "kpnmail.nl",
    "proton.me",
    "protonmail.com",
    "yandex.ru",
    "mail.ru",
    "qq.com",
    "163.com",
    "t-online.de",
];
