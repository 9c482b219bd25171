//! The configuration file: serde structs, defaults, secrets and validation.
//!
//! Reading is two steps, as in ripgrep: [`Config::load`] parses TOML into checked values with no
//! other I/O, and [`Config::validate`] lists every problem at once (each naming the file and key),
//! so an administrator fixes them in one round. Secrets come inline or from a `password_command`
//! run only when a connection needs them ([`Secret::resolve`]).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The default config path, relative to the working directory.
pub const DEFAULT_PATH: &str = "config/deskgate.toml";

/// The embedded defaults: one desk reading a local Maildir, mail written as files, a local store.
/// `deskgate run` uses them when no config file exists, so it runs with no server at all.
pub const EMBEDDED: &str = r#"
[store]
path = "var/store"

[smtp]
url = "file://var/outbox"

[[desk]]
name = "nl"
address = "servicedesk.nl@example.net"
display_name = "Service Desk Amsterdam"
language = "en"
[desk.maildir]
path = "var/inbox-nl"
"#;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub store: StoreConfig,
    pub smtp: SmtpConfig,
    #[serde(default)]
    pub general: General,
    #[serde(default)]
    pub ingest: IngestConfig,
    #[serde(default)]
    pub outbox: OutboxConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Maintenance and incident notices.
    #[serde(default)]
    pub broadcast: BroadcastConfig,
    #[serde(rename = "desk", default)]
    pub desks: Vec<Desk>,
    /// Whose word we take that a staff member's mail is really theirs.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Support teams (tier 1 customer support, tier 2 network support, tier 3 operations).
    #[serde(rename = "team", default)]
    pub teams: Vec<Team>,
    /// The staff directory.
    #[serde(rename = "staff", default)]
    pub staff: Vec<Staff>,
    /// Support plans; see `config/plans.default.toml` for the defaults and `Config::plans`.
    #[serde(rename = "plan", default)]
    pub plans: Vec<Plan>,
    /// Business-hours calendars that plans count in.
    #[serde(rename = "calendar", default)]
    pub calendars: Vec<CalendarConfig>,
    /// The public status page; served only when `status.listen` is set.
    #[serde(default)]
    pub status: StatusConfig,
    /// Where the file was read from (for messages); not a key.
    #[serde(skip)]
    pub source: PathBuf,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    pub path: PathBuf,
    /// Unix socket of the admin endpoint; default `<store.path>.sock`.
    #[serde(default)]
    pub admin_socket: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub url: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_command: Option<String>,
    /// Trust this PEM CA file in addition to the system roots (self-signed relays).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Name sent in EHLO; default the host name.
    #[serde(default)]
    pub hello_name: Option<String>,
    /// Seconds before an SMTP command times out.
    #[serde(default = "default_smtp_timeout")]
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct General {
    /// Domain of the Message-IDs deskgate writes; default the first desk address's domain.
    #[serde(default)]
    pub message_id_domain: Option<String>,
    /// Directory of templates (`<lang>/<name>.{subject,txt,html}.hbs`).
    #[serde(default = "default_templates")]
    pub templates: PathBuf,
    /// Languages that have templates; others fall back to the desk's language, then English.
    #[serde(default = "default_languages")]
    pub languages: Vec<String>,
    /// The accounts file (TOML): accounts, contacts, plans, partners. Reloaded on SIGHUP.
    #[serde(default)]
    pub accounts: Option<PathBuf>,
    /// Time zone in which times are shown in mails when the recipient's is unknown.
    #[serde(default = "default_timezone")]
    pub timezone: String,
}

impl Default for General {
    fn default() -> Self {
        General {
            message_id_domain: None,
            accounts: None,
            templates: default_templates(),
            languages: default_languages(),
            timezone: default_timezone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Mails larger than this are kept raw and not parsed (default 25 MB).
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// How many mails are fetched and committed together (one flush per batch).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_message_bytes: default_max_message_bytes(),
            batch_size: default_batch_size(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// Attempts before a transiently failing entry is given up as failed.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// First retry delay in seconds; doubles each attempt.
    #[serde(default = "default_retry_initial")]
    pub retry_initial_secs: u64,
    /// Longest retry delay in seconds.
    #[serde(default = "default_retry_max")]
    pub retry_max_secs: u64,
    /// Send with a per-mail envelope sender `<desk local part>+dg-<outbox id>@<desk domain>`
    /// (VERP), so a bounce names the mail it reports even when it quotes nothing. Needs the
    /// desk's mail server to deliver plus-addressed mail to the desk mailbox.
    #[serde(default)]
    pub verp: bool,
    /// SMTP transactions run at once, each on its own session. 1: each outcome is durable
    /// before the next transaction starts, so a crash repeats at most the one in flight. N: a
    /// crash repeats at most N (each with its own fixed Message-ID); outcomes are flushed in
    /// groups, which is what makes broadcasts fast.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
}

/// Maintenance and incident notices: who sends them, when, and how fast.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BroadcastConfig {
    /// The desk whose address sends notices (From, Reply-To, ORGANIZER; bounces come back to
    /// it). Default: the first desk.
    #[serde(default)]
    pub desk: Option<String>,
    /// The provider's domain in the iCalendar part (`X-MAINTNOTE-PROVIDER`, the UID's domain).
    /// Default: the Message-ID domain.
    #[serde(default)]
    pub provider: Option<String>,
    /// The organiser's name in the iCalendar part. Default: the sending desk's display name.
    #[serde(default)]
    pub organizer_name: Option<String>,
    /// Send rate limit, notices per minute (spread evenly); 0 sends as fast as the outbox can.
    #[serde(default = "default_per_minute")]
    pub per_minute: u32,
    /// How long before each occurrence of a standing window it is announced ("7d").
    #[serde(default = "default_lead_time")]
    pub lead_time: String,
    /// How long before a window the reminder goes out ("24h").
    #[serde(default = "default_reminder_before")]
    pub reminder_before: String,
    /// How late a standing window's completion notice may still go out ("6h").
    #[serde(default = "default_completion_grace")]
    pub completion_grace: String,
}

impl Default for BroadcastConfig {
    fn default() -> Self {
        BroadcastConfig {
            desk: None,
            provider: None,
            organizer_name: None,
            per_minute: default_per_minute(),
            lead_time: default_lead_time(),
            reminder_before: default_reminder_before(),
            completion_grace: default_completion_grace(),
        }
    }
}

fn default_per_minute() -> u32 {
    600
}
fn default_lead_time() -> String {
    "7d".into()
}
fn default_reminder_before() -> String {
    "24h".into()
}
fn default_completion_grace() -> String {
    "6h".into()
}

impl BroadcastConfig {
    /// When notices go out, from the three durations (validated by [`Config::validate`]).
    pub fn schedule(&self) -> Result<crate::core::broadcasts::maintenance::NoticeSchedule, String> {
        let d = |key: &str, v: &str| {
            crate::core::service::sla::parse_duration(v)
                .map_err(|e| format!("broadcast.{key}: {e}"))
        };
        Ok(crate::core::broadcasts::maintenance::NoticeSchedule {
            lead_time: d("lead_time", &self.lead_time)?,
            reminder_before: d("reminder_before", &self.reminder_before)?,
            completion_grace: d("completion_grace", &self.completion_grace)?,
        })
    }
}

/// Storm limits: what keeps deskgate quiet when something keeps writing to it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// At most this many automatic mails (acknowledgements, notices) to one address per hour;
    /// further ones are held (visible in `outbox list` as `held`).
    #[serde(default = "default_auto_per_recipient")]
    pub auto_per_recipient_per_hour: u32,
    /// A sender whose mails to one desk exceed this many per hour trips the breaker: their mail
    /// is still stored, but nothing is sent or notified about it until the rate drops.
    #[serde(default = "default_sender_flood")]
    pub sender_flood_per_hour: u32,
    /// After this many hard bounces an address is flagged and automatic mail to it is held.
    #[serde(default = "default_flag_after")]
    pub flag_after_hard_bounces: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            auto_per_recipient_per_hour: default_auto_per_recipient(),
            sender_flood_per_hour: default_sender_flood(),
            flag_after_hard_bounces: default_flag_after(),
        }
    }
}

fn default_auto_per_recipient() -> u32 {
    3
}
fn default_sender_flood() -> u32 {
    30
}
fn default_flag_after() -> u32 {
    3
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            max_attempts: default_max_attempts(),
            retry_initial_secs: default_retry_initial(),
            retry_max_secs: default_retry_max(),
            verp: false,
            max_in_flight: default_max_in_flight(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Desk {
    pub name: String,
    pub address: String,
    pub language: String,
    /// Shown as the sender name, e.g. "Service Desk Amsterdam"; default "Service Desk <NAME>".
    #[serde(default)]
    pub display_name: Option<String>,
    /// Prefix of this desk's ticket references; default the name in upper case.
    #[serde(default)]
    pub ref_prefix: Option<String>,
    /// The tier-1 team told of this desk's new tickets; default the first tier-1 team.
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub imap: Option<ImapConfig>,
    #[serde(default)]
    pub maildir: Option<MaildirConfig>,
}

/// Which mail authentication results are believed.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// authserv-ids of our own mail servers, whose Authentication-Results headers are believed
    /// (they must strip such headers arriving from outside, as RFC 8601 requires).
    #[serde(default)]
    pub trusted_authserv_ids: Vec<String>,
    /// Host names or IP addresses of internal relays: staff mail received from one of them (top
    /// Received header) counts as authenticated. Weaker than DKIM/SPF; use only for relays that
    /// authenticate their own users.
    #[serde(default)]
    pub trusted_relays: Vec<String>,
}

/// A support team.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Team {
    pub name: String,
    /// 1 customer support, 2 network support, 3 operations engineering.
    pub tier: u8,
    /// Where the team's notifications go.
    pub address: String,
    /// IANA time zone of the team's working hours.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Working hours, `HH:MM-HH:MM` local time (for follow-the-sun routing).
    #[serde(default)]
    pub hours: Option<String>,
}

/// A support plan: targets per priority, the calendar they count in, expert hours.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub name: String,
    /// "24x7" or the name of a [[calendar]].
    #[serde(default = "default_calendar")]
    pub calendar: String,
    /// Monthly allowance of expert hours.
    #[serde(default)]
    pub allowance_hours: f64,
    /// The allowance applies to the first N months of the contract only.
    #[serde(default)]
    pub allowance_months: Option<u32>,
    /// Per priority ("P1".."P4"): first-response and restore targets ("30m", "4h", "2d").
    #[serde(default)]
    pub targets: std::collections::BTreeMap<String, PlanTarget>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlanTarget {
    #[serde(default)]
    pub response: Option<String>,
    #[serde(default)]
    pub restore: Option<String>,
}

/// Business hours in a time zone, with holidays.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    pub name: String,
    pub timezone: String,
    /// "08:00-18:00" (several ranges comma-separated).
    pub hours: String,
    /// "Mon-Fri", "Mon,Wed,Fri", "Mon-Sun".
    #[serde(default = "default_days")]
    pub days: String,
    /// Local dates, "2026-12-25".
    #[serde(default)]
    pub holidays: Vec<String>,
}

fn default_calendar() -> String {
    "24x7".into()
}
fn default_days() -> String {
    "Mon-Fri".into()
}

/// The public status page (incidents, maintenance, their feeds). Off unless `listen` is set.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StatusConfig {
    /// Address and port to serve plain HTTP on, such as "127.0.0.1:8080" (a reverse proxy adds
    /// TLS). Absent: no status page.
    #[serde(default)]
    pub listen: Option<String>,
    /// The page's title; default "Service status" in the reader's language.
    #[serde(default)]
    pub title: Option<String>,
    /// IANA time zone the page shows times in; default `general.timezone`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Languages offered, the first being the default; default the desks' languages.
    #[serde(default)]
    pub languages: Option<Vec<String>>,
    /// How many days ahead upcoming maintenance is shown.
    #[serde(default = "default_status_horizon_days")]
    pub horizon_days: u32,
}

impl Default for StatusConfig {
    fn default() -> Self {
        StatusConfig {
            listen: None,
            title: None,
            timezone: None,
            languages: None,
            horizon_days: default_status_horizon_days(),
        }
    }
}

impl StatusConfig {
    /// The address to serve the status page on; `None` when it is off.
    pub fn listen_addr(&self) -> Result<Option<std::net::SocketAddr>, String> {
        self.listen
            .as_deref()
            .map(|a| {
                a.trim().parse().map_err(|_| {
                    format!("{a:?} is not an IP address and port, such as \"127.0.0.1:8080\"")
                })
            })
            .transpose()
    }

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

fn default_status_horizon_days() -> u32 {
    30
}

/// The shipped default plans (config/plans.default.toml).
pub const DEFAULT_PLANS: &str = include_str!("../config/plans.default.toml");

#[derive(Deserialize)]
struct PlansFile {
    plan: Vec<Plan>,
}

/// A staff member.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Staff {
    pub login: String,
    pub address: String,
    pub name: String,
    pub team: String,
}

impl Desk {
    pub fn display_name(&self) -> String {
        self.display_name
            .clone()
            .unwrap_or_else(|| format!("Service Desk {}", self.name.to_uppercase()))
    }

    pub fn ref_prefix(&self) -> String {
        self.ref_prefix.clone().unwrap_or_else(|| {
            self.name
                .to_ascii_uppercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "")
        })
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    /// `imap://host:port` (plain), `imap+starttls://host:port` or `imaps://host:port`.
    pub url: String,
    pub user: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_command: Option<String>,
    #[serde(default = "default_mailbox")]
    pub mailbox: String,
    /// After processing, move the mail to this folder (MOVE, or COPY + delete + EXPUNGE).
    #[serde(default)]
    pub move_to: Option<String>,
    /// Seconds between polls when the server has no IDLE (or `idle = false`).
    #[serde(default = "default_poll")]
    pub poll_interval_secs: u64,
    /// Use IDLE when the server offers it.
    #[serde(default = "default_true")]
    pub idle: bool,
    /// Trust this PEM CA file in addition to the system roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MaildirConfig {
    pub path: PathBuf,
}

/// A password given inline or by a command.
#[derive(Debug, Clone)]
pub struct Secret<'a> {
    pub inline: Option<&'a str>,
    pub command: Option<&'a str>,
}

impl Secret<'_> {
    /// The password: inline, or the trimmed stdout of `sh -c command`.
    pub fn resolve(&self) -> Result<String, String> {
        if let Some(p) = self.inline {
            return Ok(p.to_string());
        }
        let Some(cmd) = self.command else {
            return Ok(String::new());
        };
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("password_command could not be started: {e}"))?;
        if !out.status.success() {
            return Err(format!("password_command exited with {}", out.status));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .trim_end_matches(['\n', '\r'])
            .to_string())
    }
}

impl ImapConfig {
    pub fn secret(&self) -> Secret<'_> {
        Secret {
            inline: self.password.as_deref(),
            command: self.password_command.as_deref(),
        }
    }
}

impl SmtpConfig {
    pub fn secret(&self) -> Secret<'_> {
        Secret {
            inline: self.password.as_deref(),
            command: self.password_command.as_deref(),
        }
    }
}

/// A config that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{}", .problems.join("\n"))]
    Invalid { problems: Vec<String> },
}

impl Config {
    /// Reads and parses a config file (or the embedded defaults when `path` is None), then
    /// validates it. Relative paths in the file are relative to the working directory.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let (text, source) = match path {
            Some(p) => (
                std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.display().to_string(),
                    source,
                })?,
                p.to_path_buf(),
            ),
            None => (EMBEDDED.to_string(), PathBuf::from("<embedded defaults>")),
        };
        let mut config = Config::parse(&text, &source)?;
        config.source = source;
        let problems = config.validate();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid { problems })
        }
    }

    /// Parses TOML text; `source` names the file in errors.
    pub fn parse(text: &str, source: &Path) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: source.display().to_string(),
            message: e.to_string().trim_end().to_string(),
        })
    }

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
        if self.smtp.username.is_some()
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
                    if imap.password.is_none() && imap.password_command.is_none() {
                        bad(
                            &key("imap.password"),
                            "password or password_command is needed".into(),
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

    /// The desk that sends maintenance and incident notices.
    pub fn broadcast_desk(&self) -> Option<&Desk> {
        match &self.broadcast.desk {
            Some(name) => self.desk(name),
            None => self.desks.first(),
        }
    }

    /// The provider domain of the notices' iCalendar parts.
    pub fn provider_domain(&self) -> String {
        self.broadcast
            .provider
            .clone()
            .unwrap_or_else(|| self.message_id_domain())
    }

    /// The domain of the Message-IDs deskgate writes.
    pub fn message_id_domain(&self) -> String {
        self.general.message_id_domain.clone().unwrap_or_else(|| {
            self.desks
                .first()
                .and_then(|d| d.address.rsplit_once('@'))
                .map(|(_, d)| d.to_string())
                .unwrap_or_else(|| "deskgate.invalid".into())
        })
    }

    pub fn admin_socket(&self) -> PathBuf {
        self.store.admin_socket.clone().unwrap_or_else(|| {
            let mut s = self.store.path.clone().into_os_string();
            s.push(".sock");
            PathBuf::from(s)
        })
    }

    /// Every plan: the shipped defaults, replaced or extended by the config's [[plan]] tables.
    pub fn plans(&self) -> Vec<Plan> {
        let mut plans: Vec<Plan> = toml::from_str::<PlansFile>(DEFAULT_PLANS)
            .map(|f| f.plan)
            .unwrap_or_default();
        for p in &self.plans {
            match plans
                .iter_mut()
                .find(|d| d.name.eq_ignore_ascii_case(&p.name))
            {
                Some(d) => *d = p.clone(),
                None => plans.push(p.clone()),
            }
        }
        plans
    }

    pub fn plan(&self, name: &str) -> Option<Plan> {
        self.plans()
            .into_iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// The staff member writing from `email` (lower-case), if any.
    pub fn staff_by_address(&self, email: &str) -> Option<&Staff> {
        self.staff
            .iter()
            .find(|s| s.address.eq_ignore_ascii_case(email))
    }

    /// A staff member by login or address.
    pub fn staff_by_name(&self, who: &str) -> Option<&Staff> {
        self.staff
            .iter()
            .find(|s| s.login.eq_ignore_ascii_case(who) || s.address.eq_ignore_ascii_case(who))
    }

    pub fn team(&self, name: &str) -> Option<&Team> {
        self.teams.iter().find(|t| t.name == name)
    }

    /// The team that handles `tier` for `desk`: the desk's own team for tier 1, else the first
    /// team of that tier.
    pub fn team_for_tier(&self, desk: &Desk, tier: u8) -> Option<&Team> {
        if tier == 1 {
            if let Some(t) = desk.team.as_deref().and_then(|n| self.team(n)) {
                return Some(t);
            }
        }
        self.teams.iter().find(|t| t.tier == tier)
    }

    pub fn desk(&self, name: &str) -> Option<&Desk> {
        self.desks.iter().find(|d| d.name == name)
    }
}

fn is_address(a: &str) -> bool {
    matches!(a.split_once('@'), Some((l, d)) if !l.is_empty() && d.contains('.') || d == "localhost")
        && !a
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
}

/// Parses `HH:MM-HH:MM` into minutes after midnight (start, end); end may be before start
/// (a night shift).
pub fn parse_hours(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('-')?;
    let hm = |t: &str| -> Option<u32> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
        (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
    };
    Some((hm(a)?, hm(b)?))
}

fn valid_smtp_url(url: &str) -> bool {
    ["smtp://", "smtp+starttls://", "smtps://", "file://"]
        .iter()
        .any(|s| url.starts_with(s) && url.len() > s.len())
}

fn default_smtp_timeout() -> u64 {
    30
}
fn default_templates() -> PathBuf {
    PathBuf::from("templates")
}
fn default_languages() -> Vec<String> {
    crate::core::lang::Lang::ALL
        .iter()
        .map(|l| l.code().to_string())
        .collect()
}
fn default_timezone() -> String {
    "Europe/Amsterdam".into()
}
fn default_max_message_bytes() -> usize {
    25 * 1024 * 1024
}
fn default_batch_size() -> usize {
    200
}
fn default_max_in_flight() -> usize {
    1
}
/// More sessions at once than this helps no relay and looks like an attack to most.
const MAX_IN_FLIGHT: usize = 64;
fn default_max_attempts() -> u32 {
    12
}
fn default_retry_initial() -> u64 {
    30
}
fn default_retry_max() -> u64 {
    3600
}
fn default_mailbox() -> String {
    "INBOX".into()
}
fn default_poll() -> u64 {
    60
}
fn default_true() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_documents_a_valid_config() {
        let text = include_str!("../config/deskgate.example.toml");
        let mut c = Config::parse(text, Path::new("deskgate.example.toml")).expect("parses");
        c.source = PathBuf::from("deskgate.example.toml");
        assert_eq!(c.validate(), Vec::<String>::new());
        assert_eq!(
            c.team_for_tier(&c.desks[0], 1).map(|t| t.name.as_str()),
            Some("css-emea")
        );
        assert_eq!(
            c.staff_by_name("ALICE").map(|s| s.address.as_str()),
            Some("alice@provider.example")
        );
    }

    #[test]
    fn the_shipped_plans_follow_the_product_brief() {
        let c = Config::load(None).expect("embedded config");
        let restore = |plan: &str| {
            c.plan(plan)
                .and_then(|p| p.targets.get("P1").and_then(|t| t.restore.clone()))
        };
        assert_eq!(restore("Standard"), None);
        assert_eq!(restore("Bronze").as_deref(), Some("8h"));
        assert_eq!(restore("Silver").as_deref(), Some("8h"));
        assert_eq!(restore("Gold").as_deref(), Some("4h"));
        let bronze = c.plan("bronze").expect("bronze");
        assert_eq!(
            (bronze.allowance_hours, bronze.allowance_months),
            (2.0, Some(3))
        );
        for p in c.plans() {
            for t in p.targets.values() {
                for v in [&t.response, &t.restore].into_iter().flatten() {
                    assert!(
                        crate::core::service::sla::parse_target(v).is_ok(),
                        "{}: {v}",
                        p.name
                    );
                }
            }
        }
    }

    #[test]
    fn embedded_defaults_are_valid() {
        let c = Config::load(None).expect("embedded config");
        assert_eq!(c.desks[0].ref_prefix(), "NL");
    }

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
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let err = Config::parse(
            "[store]\npath = \"x\"\npaht = 1\n[smtp]\nurl=\"file:///tmp\"\n",
            Path::new("c.toml"),
        )
        .expect_err("unknown key");
        assert!(err.to_string().contains("paht"), "{err}");
    }

    #[test]
    fn password_command_supplies_the_secret() {
        let s = Secret {
            inline: None,
            command: Some("printf 's3cret\\n'"),
        };
        assert_eq!(s.resolve().as_deref(), Ok("s3cret"));
    }
}
