//! The accounts file: customer accounts in reviewable TOML, read into a validated [`Directory`].
//!
//! The file format belongs to this adapter, not to the core: contacts are written as
//! `[[account.contact]]` tables, the contract start as a TOML date, and unknown keys are refused
//! so that a misspelt key is caught instead of silently ignored. Reading is two steps, as for the
//! config: TOML into file structs (an error names the file, the account, the key and the line),
//! then [`Directory::new`], whose problems are all reported at once, each prefixed with the file.
//! `config/accounts.example.toml` documents every key.

use crate::core::service::accounts::{Account, AccountTeam, Contact, Directory, Role, SupportBy};
use serde::Deserialize;
use std::path::Path;

/// An accounts file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// Not TOML, or not the accounts format: a misspelt key, a wrong type, a missing key.
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    /// Well-formed but inconsistent; each problem names the file, the account and the key.
    #[error("{}", .problems.join("\n"))]
    Invalid { path: String, problems: Vec<String> },
}

/// Reads and validates the accounts file at `path`.
pub fn load(path: &Path) -> Result<Directory, AccountsError> {
    let text = std::fs::read_to_string(path).map_err(|source| AccountsError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, path)
}

/// Parses and validates accounts from `text`; `source` names the file in errors.
pub fn parse(text: &str, source: &Path) -> Result<Directory, AccountsError> {
    let path = source.display().to_string();
    let file: AccountsFile = toml::from_str(text).map_err(|e| AccountsError::Parse {
        message: describe_toml_error(text, &e),
        path: path.clone(),
    })?;
    let mut problems = Vec::new();
    let accounts: Vec<Account> = file
        .accounts
        .into_iter()
        .enumerate()
        .map(|(i, entry)| entry.into_account(i, &mut problems))
        .collect();
    // The core's problems come after the file's own, so that all of them are reported together.
    let directory = Directory::new(accounts);
    if let Err(core) = &directory {
        problems.extend(core.iter().cloned());
    }
    match directory {
        Ok(directory) if problems.is_empty() => Ok(directory),
        _ => Err(AccountsError::Invalid {
            problems: problems
                .into_iter()
                .map(|p| format!("{path}: {p}"))
                .collect(),
            path,
        }),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountsFile {
    #[serde(rename = "account", default)]
    accounts: Vec<AccountEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountEntry {
    id: String,
    name: String,
    #[serde(default = "default_plan")]
    plan: String,
    language: String,
    timezone: String,
    #[serde(default)]
    domains: Vec<String>,
    #[serde(rename = "contact", default)]
    contacts: Vec<ContactEntry>,
    #[serde(default)]
    team: TeamEntry,
    #[serde(default)]
    sites: Vec<String>,
    #[serde(default)]
    services: Vec<String>,
    #[serde(default)]
    partner: Option<String>,
    #[serde(default)]
    support_by: SupportBy,
    #[serde(default)]
    since: Option<toml::value::Datetime>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactEntry {
    address: String,
    name: String,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    roles: Vec<Role>,
    #[serde(default)]
    pin: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TeamEntry {
    #[serde(default)]
    account_manager: Option<String>,
    #[serde(default)]
    customer_success_manager: Option<String>,
    #[serde(default)]
    sales_engineer: Option<String>,
    #[serde(default)]
    billing_analyst: Option<String>,
}

fn default_plan() -> String {
    "standard".into()
}

impl AccountEntry {
    /// The core account; what only the file format can get wrong (a `since` with a time) is
    /// added to `problems` in the core's `account[INDEX] (ID).KEY: …` form.
    fn into_account(self, index: usize, problems: &mut Vec<String>) -> Account {
        let since = self.since.and_then(|dt| {
            let date = match (dt.date, dt.time, dt.offset) {
                (Some(d), None, None) => chrono::NaiveDate::from_ymd_opt(
                    i32::from(d.year),
                    u32::from(d.month),
                    u32::from(d.day),
                ),
                _ => None,
            };
            if date.is_none() {
                problems.push(format!(
                    "account[{index}] ({}).since: {dt} is not a date such as 2026-01-15 (give \
                     no time of day)",
                    self.id
                ));
            }
            date
        });
        Account {
            id: self.id,
            name: self.name,
            // Plan names are identifiers: "Gold" and "gold" are the same plan.
            plan: self.plan.trim().to_ascii_lowercase(),
            language: self.language,
            timezone: self.timezone,
            domains: self.domains,
            contacts: self
                .contacts
                .into_iter()
                .map(|c| Contact {
                    address: c.address,
                    name: c.name,
                    language: c.language,
                    roles: c.roles,
                    pin: c.pin,
                })
                .collect(),
            team: AccountTeam {
                account_manager: self.team.account_manager,
                customer_success_manager: self.team.customer_success_manager,
                sales_engineer: self.team.sales_engineer,
                billing_analyst: self.team.billing_analyst,
            },
            sites: self.sites,
            services: self.services,
            partner: self.partner,
            support_by: self.support_by,
            since,
        }
    }
}

/// toml's message (line, column, the offending line and what is wrong), prefixed with where the
/// error is in account terms, e.g. `account[1] (acme).contact[0].roles`, so that the reader
/// need not count tables to know which account is meant.
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.to_string().trim_end().to_string();
    let Some(span) = e.span() else {
        return message;
    };
    let place = Place::of(text, span.start);
    let id = place.account.and_then(|i| account_id(text, i));
    let mut parts = Vec::new();
    if let Some(i) = place.account {
        parts.push(match id {
            Some(id) => format!("account[{i}] ({id})"),
            None => format!("account[{i}]"),
        });
    }
    parts.extend(place.section);
    parts.extend(place.key);
    if parts.is_empty() {
        message
    } else {
        format!("{}: {message}", parts.join("."))
    }
}

/// Where a byte offset lies in the accounts file, found from the table headers above it.
#[derive(Debug, Default, PartialEq)]
struct Place {
    /// The position of the enclosing `[[account]]`.
    account: Option<usize>,
    /// The table within it (`team`, `contact[N]`), or a table outside any account.
    section: Option<String>,
    /// The key on the offending line.
    key: Option<String>,
}

impl Place {
    /// Reads headers line by line; a header-like line inside a multi-line string would mislead
    /// it, which costs only the precision of a message.
    fn of(text: &str, offset: usize) -> Place {
        let mut place = Place::default();
        let mut accounts = 0usize;
        let mut contacts = 0usize;
        let mut line_start = 0usize;
        for line in text.split_inclusive('\n') {
            let line_end = line_start + line.len();
            let content = line.split('#').next().unwrap_or("").trim();
            if content.starts_with('[') {
                let header: String = content
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                let array = content.starts_with("[[");
                match header.as_str() {
                    "account" if array => {
                        place.account = Some(accounts);
                        place.section = None;
                        accounts += 1;
                        contacts = 0;
                    }
                    "account.contact" if array => {
                        place.section = Some(format!("contact[{contacts}]"));
                        contacts += 1;
                    }
                    h => match h.strip_prefix("account.") {
                        Some(sub) if place.account.is_some() => place.section = Some(sub.into()),
                        _ => {
                            place.account = None;
                            place.section = Some(h.into());
                        }
                    },
                }
                if offset < line_end {
                    // The error is on the header itself (a missing key, a duplicate table).
                    return place;
                }
            } else if offset < line_end {
                place.key = content
                    .split_once('=')
                    .map(|(k, _)| k.trim().trim_matches('"').to_string())
                    .filter(|k| !k.is_empty());
                return place;
            }
            line_start = line_end;
        }
        place
    }
}

/// The id of the `index`-th account, read from the file as plain TOML.
fn account_id(text: &str, index: usize) -> Option<String> {
    let table: toml::Table = toml::from_str(text).ok()?;
    table
        .get("account")?
        .as_array()?
        .get(index)?
        .get("id")?
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::service::accounts::Identity;

    const EXAMPLE: &str = include_str!("../config/accounts.example.toml");

    fn parse_err(text: &str) -> String {
        match parse(text, Path::new("accounts.toml")) {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    const MINIMAL: &str = r#"
[[account]]
id = "acme"
name = "Acme"
language = "en"
timezone = "Europe/Amsterdam"
domains = ["acme.example"]

[[account.contact]]
address = "noc@acme.example"
name = "NOC"
roles = ["technical"]
"#;

    #[test]
    fn the_example_file_parses_and_validates() {
        let d = parse(EXAMPLE, Path::new("accounts.example.toml")).expect("valid example");
        let ids: Vec<&str> = d.accounts().iter().map(|a| a.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "acme",
                "lisboa-media",
                "cloudreseller",
                "boulangerie-martin",
                "atelier-durand"
            ]
        );
        let acme = d.account("acme").expect("acme");
        assert_eq!(acme.plan, "gold");
        assert_eq!(acme.sites, ["AM11", "PA3"]);
        assert_eq!(
            acme.since.map(|s| s.to_string()).as_deref(),
            Some("2026-01-15")
        );
        assert_eq!(
            acme.team.billing_analyst.as_deref(),
            Some("billing-emea@provider.example")
        );
        assert_eq!(
            d.account("lisboa-media").map(|a| a.plan.as_str()),
            Some("standard")
        );
        assert!(matches!(
            d.identify("Jane.Doe@gmail.com"),
            Identity::Contact { ref account, .. } if account == "acme"
        ));
        assert_eq!(
            d.identify("someone@mail.acme.example"),
            Identity::Domain {
                account: "acme".into()
            }
        );
        let notices: Vec<&str> = d
            .notice_recipients("boulangerie-martin", Role::Maintenance, false)
            .iter()
            .map(|c| c.address.as_str())
            .collect();
        assert_eq!(notices, ["support@cloudreseller.example"]);
        let (partner, contact) = d
            .partner_support("boulangerie-martin")
            .expect("supported by its partner");
        assert_eq!(
            (partner.id.as_str(), contact.address.as_str()),
            ("cloudreseller", "support@cloudreseller.example")
        );
        assert!(d.partner_support("atelier-durand").is_none());
    }

    #[test]
    fn an_unknown_key_names_the_file_account_key_and_line() {
        let text = MINIMAL.replace("domains =", "colour = \"red\"\ndomains =");
        let err = parse_err(&text);
        assert!(
            err.starts_with("accounts.toml: account[0] (acme).colour: "),
            "{err}"
        );
        assert!(err.contains("line 7, column 1"), "{err}");
        assert!(err.contains("unknown field `colour`"), "{err}");
    }

    #[test]
    fn an_unknown_key_in_a_contact_names_the_contact() {
        let text = format!("{MINIMAL}\n[[account.contact]]\naddress = \"b@acme.example\"\nname = \"B\"\nphone = \"+31 20 000\"\n");
        let err = parse_err(&text);
        assert!(
            err.starts_with("accounts.toml: account[0] (acme).contact[1].phone: "),
            "{err}"
        );
        assert!(err.contains("unknown field `phone`"), "{err}");
    }

    #[test]
    fn an_unknown_role_names_the_roles_key_and_the_known_roles() {
        let text = MINIMAL.replace("[\"technical\"]", "[\"tech\"]");
        let err = parse_err(&text);
        assert!(
            err.starts_with("accounts.toml: account[0] (acme).contact[0].roles: "),
            "{err}"
        );
        assert!(err.contains("`technical`"), "{err}");
    }

    #[test]
    fn an_unknown_key_in_the_account_team_is_refused() {
        let text = format!("{MINIMAL}\n[[account]]\nid = \"b\"\nname = \"B\"\nlanguage = \"en\"\ntimezone = \"UTC\"\n[account.team]\naccount_manger = \"m@provider.example\"\n");
        let err = parse_err(&text);
        assert!(
            err.starts_with("accounts.toml: account[1] (b).team.account_manger: "),
            "{err}"
        );
    }

    #[test]
    fn a_missing_key_names_the_account() {
        let text = MINIMAL.replace("timezone = \"Europe/Amsterdam\"\n", "");
        let err = parse_err(&text);
        assert!(
            err.starts_with("accounts.toml: account[0] (acme): "),
            "{err}"
        );
        assert!(err.contains("missing field `timezone`"), "{err}");
    }

    #[test]
    fn a_toml_syntax_error_gives_the_line() {
        let err = parse_err("[[account]\nid = \"x\"\n");
        assert!(err.starts_with("accounts.toml: "), "{err}");
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn every_validation_problem_is_reported_at_once_with_the_file() {
        let text = format!(
            "{MINIMAL}\n[[account]]\nid = \"beta\"\nname = \"Beta\"\nlanguage = \"en\"\ntimezone \
             = \"UTC\"\ndomains = [\"ACME.example\", \"gmail.com\"]\npartner = \"nobody\"\n\
             since = 2026-01-15T10:00:00Z\n"
        );
        let Err(AccountsError::Invalid { path, problems }) =
            parse(&text, Path::new("accounts.toml"))
        else {
            panic!("expected validation problems");
        };
        assert_eq!(path, "accounts.toml");
        assert_eq!(
            problems,
            [
                "accounts.toml: account[1] (beta).since: 2026-01-15T10:00:00Z is not a date such \
                 as 2026-01-15 (give no time of day)",
                "accounts.toml: account[1] (beta).domains[0]: \"acme.example\" is also claimed \
                 by account[0] (acme)",
                "accounts.toml: account[1] (beta).domains[1]: \"gmail.com\" is a public mail \
                 provider: anyone can write from it, so register its users as contacts instead",
                "accounts.toml: account[1] (beta).partner: no account has the id \"nobody\"",
            ]
        );
    }

    #[test]
    fn plan_names_are_lower_cased_and_default_to_standard() {
        let d = parse(
            &MINIMAL.replace("name = \"Acme\"", "name = \"Acme\"\nplan = \"Gold\""),
            Path::new("a.toml"),
        )
        .expect("valid");
        assert_eq!(d.account("acme").map(|a| a.plan.as_str()), Some("gold"));
        let d = parse(MINIMAL, Path::new("a.toml")).expect("valid");
        assert_eq!(d.account("acme").map(|a| a.plan.as_str()), Some("standard"));
    }

    #[test]
    fn an_empty_file_is_an_empty_directory() {
        let d = parse("# no accounts yet\n", Path::new("a.toml")).expect("valid");
        assert!(d.accounts().is_empty());
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nope.toml");
        let err = load(&path).expect_err("missing");
        assert!(
            err.to_string()
                .starts_with(&format!("{}: cannot read", path.display())),
            "{err}"
        );
        std::fs::write(&path, MINIMAL).expect("write");
        assert_eq!(load(&path).map(|d| d.accounts().len()).ok(), Some(1));
    }
}
