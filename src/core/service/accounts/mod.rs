//! Customer accounts and who is who: which account a sender belongs to, who receives which notice.
//!
//! An [`Account`] lists its registered contacts (each with the roles they hold), the mail domains
//! it owns, its account team, sites, services and, for a partner-managed account, the partner
//! (reseller) that manages it. A [`Directory`] is a validated set of accounts with indexes by
//! contact address and by domain; building one reports every problem at once, so that an
//! administrator fixes the accounts file in one round. Everything here is pure: the accounts
//! file adapter (`crate::accounts_file`) reads the file and hands the accounts in.
//!
//! This file holds what an account is: its contacts and their [`Role`]s, its team and how it is
//! supported. `directory.rs` holds the [`Directory`]: validating a set of accounts, finding who
//! a sender is, and who receives which notice.
//!
//! Owns: who is who. Builds on `address` only; must not import `mail` or `broadcasts` (which ask
//! the directory, not the reverse). Inside the folder, the directory reads the accounts and not
//! the reverse.

mod directory;
pub use directory::{Directory, NoticeRecipient};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// What a contact is there for: which mails and notices concern them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Faults, incidents and service requests.
    Technical,
    /// Invoices and account questions.
    Billing,
    /// Maintenance and event notices.
    Maintenance,
    /// Whom the provider escalates to (and who may escalate).
    Escalation,
}

/// A registered contact of an account.
///
/// The PIN authenticates the contact by phone. It is never serialised and never shown by
/// `Debug`, so that it cannot leak into JSON output or logs; compare it with [`Contact::pin_matches`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The mail address, lower-case.
    pub address: String,
    pub name: String,
    /// The contact's language when it differs from the account's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default)]
    pub roles: Vec<Role>,
    #[serde(default, skip_serializing)]
    pub pin: Option<String>,
}

impl Contact {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether `given` is this contact's PIN. A contact without a PIN matches nothing. The
    /// comparison looks at every byte whatever the first mismatch, so that its duration says
    /// nothing about how much of a guess was right.
    pub fn pin_matches(&self, given: &str) -> bool {
        let Some(pin) = &self.pin else {
            return false;
        };
        let (a, b) = (pin.as_bytes(), given.trim().as_bytes());
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl std::fmt::Debug for Contact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contact")
            .field("address", &self.address)
            .field("name", &self.name)
            .field("language", &self.language)
            .field("roles", &self.roles)
            .field("pin", &self.pin.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The provider's people named for an account (addresses). Mail about commercial matters,
/// service reviews, technical design or invoices may belong to them rather than to the desk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountTeam {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_manager: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_success_manager: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales_engineer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_analyst: Option<String>,
}

/// Who gives support to a partner-managed account's people.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupportBy {
    /// The provider's own desks answer them.
    #[default]
    Provider,
    /// The partner does: the desk redirects them to the partner's support contact.
    Partner,
}

/// A customer account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub name: String,
    /// The support plan (`standard`, `bronze`, `silver`, `gold`, …).
    pub plan: String,
    /// The account's language, used for contacts who have none of their own.
    pub language: String,
    /// IANA time zone in which times are shown to the account's contacts.
    pub timezone: String,
    /// Mail domains the account owns, lower-case.
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default)]
    pub contacts: Vec<Contact>,
    #[serde(default)]
    pub team: AccountTeam,
    /// Sites where the account has services (e.g. `AM11`, `PA3`).
    #[serde(default)]
    pub sites: Vec<String>,
    #[serde(default)]
    pub services: Vec<String>,
    /// The id of the partner account that manages this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner: Option<String>,
    #[serde(default)]
    pub support_by: SupportBy,
    /// Contract start, for allowances that hold only in the first months.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<NaiveDate>,
}

impl Account {
    /// The registered contact writing from `address` (any case).
    pub fn contact(&self, address: &str) -> Option<&Contact> {
        let address = normalise_address(address);
        self.contacts.iter().find(|c| c.address == address)
    }

    /// The language to write to `contact` in: their own, else the account's.
    pub fn language_of<'a>(&'a self, contact: &'a Contact) -> &'a str {
        contact.language.as_deref().unwrap_or(&self.language)
    }

    /// Whether `on` falls within the first `months` months of the contract (e.g. the Bronze
    /// expert-hours allowance of the first three months). An account without a start date is
    /// outside every such period, so that no allowance is granted on a guess.
    pub fn within_first_months(&self, months: u32, on: NaiveDate) -> bool {
        let Some(since) = self.since else {
            return false;
        };
        match since.checked_add_months(chrono::Months::new(months)) {
            Some(until) => on >= since && on < until,
            None => on >= since,
        }
    }
}

/// Who a sender is, as far as the accounts tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A registered contact of `account`.
    Contact {
        account: String,
        contact: Contact,
    },
    /// Not registered, but writing from a domain that `account` owns.
    Domain {
        account: String,
    },
    Unknown,
}

impl Identity {
    /// The account id, when the sender belongs to one.
    pub fn account(&self) -> Option<&str> {
        match self {
            Identity::Contact { account, .. } | Identity::Domain { account } => Some(account),
            Identity::Unknown => None,
        }
    }
}

/// The same normalisation as [`crate::core::address::Address::new`], so that a parsed sender and a
/// registered contact compare equal.
pub(super) fn normalise_address(a: &str) -> String {
    a.trim()
        .trim_matches(|c| c == '<' || c == '>')
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn contact(address: &str, roles: &[Role]) -> Contact {
        Contact {
            address: address.into(),
            name: address.split('@').next().unwrap_or("x").into(),
            language: None,
            roles: roles.to_vec(),
            pin: None,
        }
    }

    pub(super) fn account(id: &str, domains: &[&str], contacts: Vec<Contact>) -> Account {
        Account {
            id: id.into(),
            name: format!("{id} Ltd"),
            plan: "standard".into(),
            language: "en".into(),
            timezone: "Europe/Amsterdam".into(),
            domains: domains.iter().map(|d| d.to_string()).collect(),
            contacts,
            team: AccountTeam::default(),
            sites: Vec::new(),
            services: Vec::new(),
            partner: None,
            support_by: SupportBy::Provider,
            since: None,
        }
    }

    /// Acme (direct), a reseller, and two accounts the reseller manages: one it supports itself,
    /// one the provider supports.

    #[test]
    fn the_first_months_of_a_contract_are_counted_by_calendar_month() {
        let date = |s: &str| s.parse::<NaiveDate>().expect("date");
        let mut a = account("a", &[], vec![]);
        assert!(
            !a.within_first_months(3, date("2026-02-01")),
            "no start date"
        );
        a.since = Some(date("2025-11-30"));
        assert!(!a.within_first_months(3, date("2025-11-29")));
        assert!(a.within_first_months(3, date("2025-11-30")));
        assert!(a.within_first_months(3, date("2026-02-27")));
        assert!(!a.within_first_months(3, date("2026-02-28")));
    }
}
