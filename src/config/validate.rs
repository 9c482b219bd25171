//! Whether a parsed config can run: [`Config::validate`] lists every problem at once, each
//! naming the file and key, so an administrator fixes them in one round.
//!
//! Validation reads values only; it never connects anywhere or runs a `password_command`
//! (`deskgate check` does that).

use super::sections::{parse_hours, AuthMethod, OAuth2Config, StatusConfig};
use super::Config;

/// More sessions at once than this helps no relay and looks like an attack to most.
const MAX_IN_FLIGHT: usize = 64;

impl Config {
    /// Every problem in the config, each naming the file and key; empty when it is valid.
    pub fn validate(&self) -> Vec<String> {
        let file = self.source.display().to_string();
        let mut p = Vec::new();
        let mut bad = |key: &str, what: String| p.push(format!("{file}: {key}: {what}"));
        if self.desks.is_empty() {
            bad("desk", "at least one [[desk]] is needed".into());
        }
        if !valid_smtp_url(&self.smtp.url) {
            bad(
                "smtp.url",
                format!(
                    "{:?} is not smtp://, smtp+starttls://, smtps:// or file:///dir",
                    self.smtp.url
                ),
            );
        }
        for (key, problem) in oauth_problems("smtp", self.smtp.auth, self.smtp.oauth2.as_ref()) {
            bad(&key, problem);
        }
        if self.smtp.auth == AuthMethod::Oauth2 && self.smtp.username.is_none() {
            bad(
                "smtp.username",
                "auth = \"oauth2\" needs the mailbox the token is for".into(),
            );
        }
        if self.smtp.auth == AuthMethod::Password
            && self.smtp.username.is_some()
            && self.smtp.password.is_none()
            && self.smtp.password_command.is_none()
        {
            bad(
                "smtp.username",
                "needs smtp.password or smtp.password_command".into(),
            );
        }
        if self.smtp.password.is_some() && self.smtp.password_command.is_some() {
            bad(
                "smtp.password",
                "give password or password_command, not both".into(),
            );
        }
        match (&self.store.path, &self.store.url) {
            (None, None) => bad(
                "store",
                "give store.path (sled, one process) or store.url (PostgreSQL)".into(),
            ),
            (Some(_), Some(_)) => bad(
                "store.url",
                "give store.path (sled) or store.url (PostgreSQL), not both".into(),
            ),
            (None, Some(url)) if !valid_store_url(url) => bad(
                "store.url",
                "is not postgres://user@host:port/dbname (or postgresql://)".into(),
            ),
            _ => {}
        }
        if self.store.url.is_none()
            && (self.store.password.is_some() || self.store.password_command.is_some())
        {
            bad(
                "store.password",
                "a password is only for a PostgreSQL store (store.url)".into(),
            );
        }
        if self.store.password.is_some() && self.store.password_command.is_some() {
            bad(
                "store.password",
                "give password or password_command, not both".into(),
            );
        }
        if let Some(ca) = &self.store.ca_file {
            if self.store.url.is_none() {
                bad(
                    "store.ca_file",
                    "only for a PostgreSQL store (store.url with sslmode=require)".into(),
                );
            } else if !ca.exists() {
                bad("store.ca_file", format!("{} does not exist", ca.display()));
            }
        }
        if self.store.lease_secs < 3 {
            bad(
                "store.lease_secs",
                "must be at least 3 (a lease is renewed every third of it)".into(),
            );
        }
        if self.store.claim_secs <= self.smtp.timeout_secs {
            bad(
                "store.claim_secs",
                format!(
                    "must be longer than smtp.timeout_secs ({}): a claim must outlast the \
                     SMTP transaction it covers",
                    self.smtp.timeout_secs
                ),
            );
        }
        if self.ingest.batch_size == 0 {
            bad("ingest.batch_size", "must be at least 1".into());
        }
        if self.outbox.max_attempts == 0 {
            bad("outbox.max_attempts", "must be at least 1".into());
        }
        if let Err(e) = self.broadcast.schedule() {
            let (key, what) = e.split_once(": ").unwrap_or(("broadcast", e.as_str()));
            bad(key, what.to_string());
        }
        if let Some(desk) = &self.broadcast.desk {
            if self.desk(desk).is_none() {
                bad("broadcast.desk", format!("no [[desk]] is named {desk:?}"));
            }
        }
        if !(1..=MAX_IN_FLIGHT).contains(&self.outbox.max_in_flight) {
            bad(
                "outbox.max_in_flight",
                format!(
                    "{} is not between 1 and {MAX_IN_FLIGHT}",
                    self.outbox.max_in_flight
                ),
            );
        }
        if self.general.timezone.parse::<chrono_tz::Tz>().is_err() {
            bad(
                "general.timezone",
                format!("{:?} is not a known time zone", self.general.timezone),
            );
        }
        for (key, problem) in self.status.problems() {
            bad(key, problem);
        }
        if let Err(e) = self.metrics.listen_addr() {
            bad("metrics.listen", e);
        }
        if !(1..=1000).contains(&self.metrics.ready_within_intervals) {
            bad(
                "metrics.ready_within_intervals",
                format!(
                    "{} is not between 1 and 1000",
                    self.metrics.ready_within_intervals
                ),
            );
        }
        if let (Ok(Some(m)), Ok(Some(s))) = (self.metrics.listen_addr(), self.status.listen_addr())
        {
            if m == s {
                bad(
                    "metrics.listen",
                    format!("{m} is status.listen too; give each its own port"),
                );
            }
        }
        for (key, problem) in self.auth_problems() {
            bad(&key, problem);
        }
        let mut team_names = std::collections::HashSet::new();
        for (i, t) in self.teams.iter().enumerate() {
            let key = |k: &str| format!("team[{i}] ({}).{k}", t.name);
            if !team_names.insert(t.name.clone()) {
                bad(&key("name"), "is used by two teams".into());
            }
            if !(1..=3).contains(&t.tier) {
                bad(&key("tier"), format!("{} is not 1, 2 or 3", t.tier));
            }
            if !is_address(&t.address) {
                bad(
                    &key("address"),
                    format!("{:?} is not a mail address", t.address),
                );
            }
            if t.timezone.parse::<chrono_tz::Tz>().is_err() {
                bad(
                    &key("timezone"),
                    format!("{:?} is not a known time zone", t.timezone),
                );
            }
            if let Some(h) = &t.hours {
                if parse_hours(h).is_none() {
                    bad(&key("hours"), format!("{h:?} is not HH:MM-HH:MM"));
                }
            }
        }
        let mut calendar_names = std::collections::HashSet::new();
        for (i, c) in self.calendars.iter().enumerate() {
            let key = |k: &str| format!("calendar[{i}] ({}).{k}", c.name);
            if c.name == "24x7" || !calendar_names.insert(c.name.clone()) {
                bad(&key("name"), "must be unique and not \"24x7\"".into());
            }
            if let Err(e) = crate::core::service::calendar::Calendar::parse(
                &c.timezone,
                &c.hours,
                &c.days,
                &c.holidays,
            ) {
                bad(&key("hours"), e);
            }
        }
        for (i, p) in self.plans.iter().enumerate() {
            let key = |k: &str| format!("plan[{i}] ({}).{k}", p.name);
            if p.calendar != "24x7" && !calendar_names.contains(&p.calendar) {
                bad(
                    &key("calendar"),
                    format!(
                        "{:?} is neither \"24x7\" nor a [[calendar]] name",
                        p.calendar
                    ),
                );
            }
            if p.allowance_hours < 0.0 {
                bad(&key("allowance_hours"), "must not be negative".into());
            }
            for (prio, t) in &p.targets {
                if !["P1", "P2", "P3", "P4"].contains(&prio.as_str()) {
                    bad(
                        &key(&format!("targets.{prio}")),
                        "priorities are P1, P2, P3 and P4".into(),
                    );
                }
                for (name, v) in [("response", &t.response), ("restore", &t.restore)] {
                    if let Some(v) = v {
                        if let Err(e) = crate::core::service::sla::parse_target(v) {
                            bad(&key(&format!("targets.{prio}.{name}")), e);
                        }
                    }
                }
            }
        }
        if let Some(path) = &self.general.accounts {
            if !path.exists() {
                bad(
                    "general.accounts",
                    format!("{} does not exist", path.display()),
                );
            }
        }
        let mut logins = std::collections::HashSet::new();
        let mut staff_addresses = std::collections::HashSet::new();
        for (i, m) in self.staff.iter().enumerate() {
            let key = |k: &str| format!("staff[{i}] ({}).{k}", m.login);
            if m.login.is_empty()
                || m.login.contains(['@', ' '])
                || !logins.insert(m.login.to_ascii_lowercase())
            {
                bad(
                    &key("login"),
                    "must be unique, non-empty, without @ or spaces".into(),
                );
            }
            if !is_address(&m.address) || !staff_addresses.insert(m.address.to_ascii_lowercase()) {
                bad(
                    &key("address"),
                    format!("{:?} is not a mail address, or is used twice", m.address),
                );
            }
            if !team_names.contains(&m.team) {
                bad(&key("team"), format!("no [[team]] is named {:?}", m.team));
            }
        }
        let mut names = std::collections::HashSet::new();
        let mut prefixes = std::collections::HashSet::new();
        for (i, d) in self.desks.iter().enumerate() {
            let key = |k: &str| format!("desk[{i}] ({}).{k}", d.name);
            if d.name.is_empty()
                || !d
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                bad(
                    &key("name"),
                    "must be non-empty letters, digits, - or _".into(),
                );
            }
            if !names.insert(d.name.clone()) {
                bad(&key("name"), "is used by two desks".into());
            }
            let prefix = d.ref_prefix();
            if !crate::core::mail::subject::is_ref(&format!("{prefix}-0000")) {
                bad(&key("ref_prefix"), format!("{prefix:?} must be 1-12 upper-case letters or digits, starting with a letter"));
            }
            if !prefixes.insert(prefix) {
                bad(&key("ref_prefix"), "is used by two desks".into());
            }
            if !d.address.contains('@')
                || d.address
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control())
            {
                bad(
                    &key("address"),
                    format!("{:?} is not a mail address", d.address),
                );
            }
            // Unchecked, a typo here would route the desk's new tickets to the first tier-1
            // team without a word ([`Config::team_for_tier`]).
            if let Some(team) = &d.team {
                if !team_names.contains(team) {
                    bad(&key("team"), format!("no [[team]] is named {team:?}"));
                }
            }
            if !self.general.languages.contains(&d.language) {
                bad(
                    &key("language"),
                    format!(
                        "{:?} is not in general.languages {:?}",
                        d.language, self.general.languages
                    ),
                );
            }
            match (&d.imap, &d.maildir) {
                (None, None) => bad(
                    &key("imap"),
                    "a desk needs [desk.imap] or [desk.maildir]".into(),
                ),
                (Some(_), Some(_)) => bad(
                    &key("imap"),
                    "give [desk.imap] or [desk.maildir], not both".into(),
                ),
                (Some(imap), None) => {
                    if !["imap://", "imaps://", "imap+starttls://"]
                        .iter()
                        .any(|s| imap.url.starts_with(s))
                    {
                        bad(
                            &key("imap.url"),
                            format!(
                                "{:?} is not imap://, imap+starttls:// or imaps://",
                                imap.url
                            ),
                        );
                    }
                    if imap.password.is_some() && imap.password_command.is_some() {
                        bad(
                            &key("imap.password"),
                            "give password or password_command, not both".into(),
                        );
                    }
                    match imap.auth {
                        AuthMethod::Password => {
                            if imap.password.is_none() && imap.password_command.is_none() {
                                bad(
                                    &key("imap.password"),
                                    "password or password_command is needed".into(),
                                );
                            }
                        }
                        AuthMethod::Oauth2 => {
                            if imap.password.is_some() || imap.password_command.is_some() {
                                bad(
                                    &key("imap.password"),
                                    "not used with auth = \"oauth2\"; leave it out".into(),
                                );
                            }
                        }
                    }
                    for (k, problem) in
                        oauth_problems(&key("imap"), imap.auth, imap.oauth2.as_ref())
                    {
                        bad(&k, problem);
                    }
                    if !(60..=29 * 60).contains(&imap.idle_renew_secs) {
                        bad(
                            &key("imap.idle_renew_secs"),
                            format!(
                                "{} is not between 60 and 1740 (RFC 2177: under 29 minutes)",
                                imap.idle_renew_secs
                            ),
                        );
                    }
                    if imap.poll_interval_secs == 0 {
                        bad(&key("imap.poll_interval_secs"), "must be at least 1".into());
                    }
                    if let Some(ca) = &imap.ca_file {
                        if !ca.exists() {
                            bad(
                                &key("imap.ca_file"),
                                format!("{} does not exist", ca.display()),
                            );
                        }
                    }
                }
                (None, Some(_)) => {}
            }
        }
        p
    }
}

/// The longest a staff mail's DKIM check may hold up its desk.
const MAX_DNS_TIMEOUT_SECS: u64 = 60;

impl Config {
    /// Every problem of `[auth]` and the desks' `[desk.auth]`, as (key, problem).
    fn auth_problems(&self) -> Vec<(String, String)> {
        let auth = &self.auth;
        let mut p = Vec::new();
        if let Err(e) = auth.dns_server_addr() {
            p.push(("auth.dns_server".to_string(), e));
        }
        if !(1..=MAX_DNS_TIMEOUT_SECS).contains(&auth.dns_timeout_secs) {
            p.push((
                "auth.dns_timeout_secs".to_string(),
                format!(
                    "{} is not between 1 and {MAX_DNS_TIMEOUT_SECS}",
                    auth.dns_timeout_secs
                ),
            ));
        }
        let sealers = |key: String, list: &[String], dkim: bool, p: &mut Vec<(String, String)>| {
            for s in list {
                if s.trim().is_empty() || s.contains(['@', ' ']) || !s.contains('.') {
                    p.push((key.clone(), format!("{s:?} is not a domain")));
                }
            }
            if !list.is_empty() && !dkim {
                p.push((
                    key,
                    "ARC is checked by deskgate's own DKIM check: set dkim = true".into(),
                ));
            }
        };
        sealers(
            "auth.trusted_arc_sealers".into(),
            &auth.trusted_arc_sealers,
            auth.any_dkim(&self.desks),
            &mut p,
        );
        for (i, d) in self.desks.iter().enumerate() {
            if let Some(own) = d.auth.as_ref().and_then(|a| a.trusted_arc_sealers.as_ref()) {
                sealers(
                    format!("desk[{i}] ({}).auth.trusted_arc_sealers", d.name),
                    own,
                    auth.proofs(d).dkim,
                    &mut p,
                );
            }
        }
        p
    }
}

impl StatusConfig {
    /// Every problem of the section, as (key, problem).
    fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        if let Err(e) = self.listen_addr() {
            p.push(("status.listen", e));
        }
        if self.title.as_deref().is_some_and(|t| t.trim().is_empty()) {
            p.push((
                "status.title",
                "must not be blank (leave it out for the default)".into(),
            ));
        }
        if let Some(zone) = &self.timezone {
            if zone.parse::<chrono_tz::Tz>().is_err() {
                p.push((
                    "status.timezone",
                    format!("{zone:?} is not a known time zone"),
                ));
            }
        }
        if let Some(languages) = &self.languages {
            if languages.is_empty() {
                p.push((
                    "status.languages",
                    "leave it out, or name at least one".into(),
                ));
            }
            for l in languages {
                if crate::core::lang::Lang::parse(l).is_none() {
                    p.push((
                        "status.languages",
                        format!("{l:?} is not one of en, fr, pt, es, it, nl, de"),
                    ));
                }
            }
        }
        if !(1..=366).contains(&self.horizon_days) {
            p.push(("status.horizon_days", "must be 1 to 366".into()));
        }
        p
    }
}

/// The problems of an `auth` key and its `oauth2` table, as (key, problem); `at` is the key of
/// the section (`smtp`, `desk[0] (nl).imap`).
fn oauth_problems(
    at: &str,
    auth: AuthMethod,
    oauth2: Option<&OAuth2Config>,
) -> Vec<(String, String)> {
    let mut p = Vec::new();
    let key = |k: &str| format!("{at}.{k}");
    let o = match (auth, oauth2) {
        (AuthMethod::Password, None) => return p,
        (AuthMethod::Password, Some(_)) => {
            p.push((
                key("auth"),
                "an oauth2 table is given: set auth = \"oauth2\" to use it, or remove it".into(),
            ));
            return p;
        }
        (AuthMethod::Oauth2, None) => {
            p.push((
                key("oauth2"),
                "auth = \"oauth2\" needs an oauth2 table with token_command or token_url".into(),
            ));
            return p;
        }
        (AuthMethod::Oauth2, Some(o)) => o,
    };
    let client_keys = o.client_id.is_some()
        || o.client_secret().is_given()
        || o.refresh_token().is_given()
        || o.scope.is_some();
    match (&o.token_command, &o.token_url) {
        (Some(_), Some(_)) => p.push((
            key("oauth2.token_command"),
            "give token_command or token_url, not both".into(),
        )),
        (None, None) => p.push((
            key("oauth2"),
            "needs token_command (a command printing an access token) or token_url".into(),
        )),
        (Some(_), None) => {
            if client_keys {
                p.push((
                    key("oauth2.token_command"),
                    "the command gets the token itself: client_id, client_secret, refresh_token \
                     and scope go with token_url only"
                        .into(),
                ));
            }
        }
        (None, Some(url)) => {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                p.push((
                    key("oauth2.token_url"),
                    format!("{url:?} is not an https:// URL"),
                ));
            }
            if o.client_id.as_deref().is_none_or(|c| c.trim().is_empty()) {
                p.push((key("oauth2.client_id"), "is needed with token_url".into()));
            }
            if !o.refresh_token().is_given() && !o.client_secret().is_given() {
                p.push((
                    key("oauth2.client_secret"),
                    "without a refresh_token the client-credentials grant is used, and it needs \
                     client_secret or client_secret_command"
                        .into(),
                ));
            }
        }
    }
    if o.client_secret.is_some() && o.client_secret_command.is_some() {
        p.push((
            key("oauth2.client_secret"),
            "give client_secret or client_secret_command, not both".into(),
        ));
    }
    if o.refresh_token.is_some() && o.refresh_token_command.is_some() {
        p.push((
            key("oauth2.refresh_token"),
            "give refresh_token or refresh_token_command, not both".into(),
        ));
    }
    p
}

fn is_address(a: &str) -> bool {
    matches!(a.split_once('@'), Some((l, d)) if !l.is_empty() && d.contains('.') || d == "localhost")
        && !a
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
}

/// The URL itself is parsed when the store opens (the config knows no database crate); its
/// value is never printed here, since it may carry a password.
fn valid_store_url(url: &str) -> bool {
    ["postgres://", "postgresql://"]
        .iter()
        .any(|s| url.starts_with(s) && url.len() > s.len())
}

fn valid_smtp_url(url: &str) -> bool {
    ["smtp://", "smtp+starttls://", "smtps://", "file://"]
        .iter()
        .any(|s| url.starts_with(s) && url.len() > s.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    #[test]
    fn every_problem_is_listed_with_file_and_key() {
        let text = r#"
[store]
path = "x"
[smtp]
url = "http://nope"
[[desk]]
name = "nl"
address = "not-an-address"
language = "xx"
"#;
        let mut c = Config::parse(text, Path::new("cfg.toml")).expect("parses");
        c.source = PathBuf::from("cfg.toml");
        let problems = c.validate();
        let all = problems.join("\n");
        assert!(all.contains("cfg.toml: smtp.url"), "{all}");
        assert!(all.contains("cfg.toml: desk[0] (nl).address"), "{all}");
        assert!(all.contains("desk[0] (nl).language"), "{all}");
        assert!(all.contains("desk[0] (nl).imap: a desk needs"), "{all}");
        assert!(!all.contains("store"), "{all}");
    }

    fn store_problems(store: &str) -> Vec<String> {
        let text = format!(
            "[store]\n{store}\n[smtp]\nurl = \"file:///tmp/x\"\n[[desk]]\nname = \"nl\"\n\
             address = \"d@example.net\"\nlanguage = \"en\"\n[desk.maildir]\npath = \"m\"\n"
        );
        let c = Config::parse(&text, Path::new("cfg.toml")).expect("parses");
        c.validate()
            .into_iter()
            .filter(|p| p.contains("store"))
            .collect()
    }

    #[test]
    fn a_desk_team_with_a_typo_is_refused_as_a_staff_team_is() {
        let text = r#"
[store]
path = "x"
[smtp]
url = "file:///tmp/x"
[[team]]
name = "css-emea"
tier = 1
address = "css@provider.example"
[[staff]]
login = "alice"
address = "alice@provider.example"
name = "Alice"
team = "css-emae"
[[desk]]
name = "nl"
address = "nl@example.net"
language = "en"
team = "css-emae"
[desk.maildir]
path = "nl"
"#;
        let mut c = Config::parse(text, Path::new("cfg.toml")).expect("parses");
        c.source = PathBuf::from("cfg.toml");
        let all = c.validate().join("\n");
        assert!(
            all.contains("cfg.toml: staff[0] (alice).team: no [[team]] is named \"css-emae\""),
            "{all}"
        );
        assert!(
            all.contains("cfg.toml: desk[0] (nl).team: no [[team]] is named \"css-emae\""),
            "{all}"
        );
    }

    #[test]
    fn a_store_is_sled_or_postgresql_never_both_nor_neither() {
        assert_eq!(store_problems("path = \"var/store\""), Vec::<String>::new());
        assert_eq!(
            store_problems(
                "url = \"postgres://desk@127.0.0.1:5432/deskgate\"\npassword_command = \"cat pw\""
            ),
            Vec::<String>::new()
        );
        let neither = store_problems("");
        assert!(neither[0].contains("store: give store.path"), "{neither:?}");
        let both = store_problems("path = \"s\"\nurl = \"postgres://h/db\"");
        assert!(both[0].contains("store.url: give"), "{both:?}");
        let mysql = store_problems("url = \"mysql://u:hunter2@h/db\"");
        assert!(
            mysql[0].contains("store.url: is not postgres://"),
            "{mysql:?}"
        );
        assert!(
            !mysql[0].contains("hunter2"),
            "the URL may carry a password"
        );
        let stray = store_problems("path = \"s\"\npassword = \"x\"");
        assert!(
            stray[0].contains("only for a PostgreSQL store"),
            "{stray:?}"
        );
    }

    #[test]
    fn a_ca_file_is_for_a_postgresql_store_and_must_exist() {
        let url = "url = \"postgres://desk@db.example/deskgate?sslmode=require\"";
        let missing = store_problems(&format!("{url}\nca_file = \"/nonexistent/ca.pem\""));
        assert!(
            missing[0].contains("store.ca_file: /nonexistent/ca.pem does not exist"),
            "{missing:?}"
        );
        let sled = store_problems("path = \"s\"\nca_file = \"/etc/passwd\"");
        assert!(sled[0].contains("only for a PostgreSQL store"), "{sled:?}");
        assert_eq!(
            store_problems(&format!("{url}\nca_file = \"/etc/passwd\"")),
            Vec::<String>::new()
        );
    }

    #[test]
    fn leases_renewed_every_third_and_claims_outlasting_an_smtp_transaction() {
        let url = "url = \"postgres://desk@127.0.0.1:5432/deskgate\"";
        assert_eq!(
            store_problems(&format!("{url}\nlease_secs = 3\nclaim_secs = 31")),
            Vec::<String>::new()
        );
        let short = store_problems(&format!("{url}\nlease_secs = 1"));
        assert!(
            short[0].contains("store.lease_secs: must be at least 3"),
            "{short:?}"
        );
        let claim = store_problems(&format!("{url}\nclaim_secs = 30"));
        assert!(
            claim[0].contains("store.claim_secs: must be longer than smtp.timeout_secs (30)"),
            "{claim:?}"
        );
    }

    #[test]
    fn auth_keys_are_checked_globally_and_per_desk() {
        let text = r#"
[store]
path = "x"
[smtp]
url = "file:///tmp/x"
[auth]
dns_server = "resolver.example"
dns_timeout_secs = 0
trusted_arc_sealers = ["lists.example"]
[[desk]]
name = "nl"
address = "nl@example.net"
language = "en"
[desk.maildir]
path = "nl"
[desk.auth]
trusted_arc_sealers = ["bad sealer"]
[[desk]]
name = "fr"
address = "fr@example.net"
language = "en"
[desk.maildir]
path = "fr"
"#;
        let mut c = Config::parse(text, Path::new("cfg.toml")).expect("parses");
        c.source = PathBuf::from("cfg.toml");
        let all = c.validate().join("\n");
        assert!(
            all.contains("cfg.toml: auth.dns_server: \"resolver.example\" is not an IP address"),
            "{all}"
        );
        assert!(
            all.contains("auth.dns_timeout_secs: 0 is not between 1 and 60"),
            "{all}"
        );
        assert!(
            all.contains("auth.trusted_arc_sealers: ARC is checked by deskgate's own DKIM check"),
            "{all}"
        );
        assert!(
            all.contains("desk[0] (nl).auth.trusted_arc_sealers: \"bad sealer\" is not a domain"),
            "{all}"
        );
        assert!(
            all.contains("desk[0] (nl).auth.trusted_arc_sealers: ARC is checked"),
            "{all}"
        );
        assert!(
            !all.contains("desk[1]"),
            "the fr desk inherits [auth] and is named once: {all}"
        );
    }

    #[test]
    fn a_desk_auth_key_replaces_the_global_one_and_only_that() {
        let text = r#"
[store]
path = "x"
[smtp]
url = "file:///tmp/x"
[auth]
trusted_authserv_ids = ["mx.provider.example"]
trusted_relays = ["10.0.0.5"]
dns_server = "127.0.0.1:5353"
[[desk]]
name = "nl"
address = "nl@example.net"
language = "en"
[desk.maildir]
path = "nl"
[desk.auth]
dkim = true
trusted_relays = []
[[desk]]
name = "fr"
address = "fr@example.net"
language = "en"
[desk.maildir]
path = "fr"
"#;
        let mut c = Config::parse(text, Path::new("cfg.toml")).expect("parses");
        c.source = PathBuf::from("cfg.toml");
        assert_eq!(c.validate(), Vec::<String>::new());
        let nl = c.auth.proofs(&c.desks[0]);
        assert!(nl.dkim);
        assert!(nl.trusted_relays.is_empty());
        assert_eq!(nl.trusted_authserv_ids, ["mx.provider.example"]);
        let fr = c.auth.proofs(&c.desks[1]);
        assert!(!fr.dkim);
        assert_eq!(fr.trusted_relays, ["10.0.0.5"]);
        assert!(c.auth.any_dkim(&c.desks));
        assert_eq!(
            c.auth.dns_server_addr(),
            Ok(Some("127.0.0.1:5353".parse().expect("addr")))
        );
        c.auth.dns_server = Some("::1".into());
        assert_eq!(
            c.auth.dns_server_addr(),
            Ok(Some("[::1]:53".parse().expect("addr")))
        );
    }

    #[test]
    fn oauth2_logins_are_checked_for_a_token_source_and_a_usable_grant() {
        let text = r#"
[store]
path = "x"
[smtp]
url = "smtps://smtp.office365.com"
auth = "oauth2"
[[desk]]
name = "nl"
address = "servicedesk.nl@example.net"
language = "en"
[desk.imap]
url = "imaps://outlook.office365.com"
user = "nl@example.net"
auth = "oauth2"
password = "left over"
idle_renew_secs = 3600
[desk.imap.oauth2]
token_url = "ftp://login.example"
token_command = "oama access nl@example.net"
client_secret = "a"
client_secret_command = "b"
[[desk]]
name = "de"
address = "servicedesk.de@example.net"
language = "en"
[desk.imap]
url = "imaps://imap.gmail.com"
user = "de@example.net"
[desk.imap.oauth2]
token_command = "x"
"#;
        let mut c = Config::parse(text, Path::new("cfg.toml")).expect("parses");
        c.source = PathBuf::from("cfg.toml");
        let all = c.validate().join("\n");
        for expected in [
            "smtp.oauth2: auth = \"oauth2\" needs an oauth2 table",
            "smtp.username: auth = \"oauth2\" needs the mailbox",
            "desk[0] (nl).imap.password: not used with auth = \"oauth2\"",
            "desk[0] (nl).imap.oauth2.token_command: give token_command or token_url, not both",
            "desk[0] (nl).imap.oauth2.client_secret: give client_secret or client_secret_command",
            "desk[0] (nl).imap.idle_renew_secs: 3600 is not between 60 and 1740",
            "desk[1] (de).imap.auth: an oauth2 table is given",
        ] {
            assert!(all.contains(expected), "{expected:?} not in\n{all}");
        }
    }

    #[test]
    fn the_client_credentials_grant_needs_a_client_id_and_secret() {
        let text = r#"
[store]
path = "x"
[smtp]
url = "file:///tmp/out"
[[desk]]
name = "nl"
address = "servicedesk.nl@example.net"
language = "en"
[desk.imap]
url = "imaps://outlook.office365.com"
user = "nl@example.net"
auth = "oauth2"
[desk.imap.oauth2]
token_url = "https://login.microsoftonline.com/t/oauth2/v2.0/token"
"#;
        let c = Config::parse(text, Path::new("cfg.toml")).expect("parses");
        let all = c.validate().join("\n");
        assert!(all.contains("imap.oauth2.client_id: is needed"), "{all}");
        assert!(
            all.contains(
                "imap.oauth2.client_secret: without a refresh_token the client-credentials grant"
            ),
            "{all}"
        );
    }
}
