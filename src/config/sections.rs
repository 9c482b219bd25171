//! The sections of the config file: one serde struct per table, each refusing unknown keys.
//!
//! Only shapes and documentation live here; what a missing key means is in
//! [`super::defaults`], whether a value is acceptable in [`super::validate`], and how a password
//! is kept and resolved in [`super::secret`].

use super::defaults::*;
use super::secret::Secret;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The sled store's directory: the embedded engine, one process per store. Give this or
    /// `url`, not both.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// A PostgreSQL database instead: `postgres://user@host:port/dbname` (a `host` of the form
    /// `%2Frun%2Fpostgresql` is a Unix socket directory). Raw mail is kept in the database too.
    #[serde(default)]
    pub url: Option<String>,
    /// The database password, when the URL carries none; or `password_command`.
    #[serde(default)]
    pub password: Option<Secret>,
    #[serde(default)]
    pub password_command: Option<String>,
    /// Unix socket of the admin endpoint; default `<store.path>.sock`, or `var/deskgate.sock`
    /// with a PostgreSQL store.
    #[serde(default)]
    pub admin_socket: Option<PathBuf>,
    /// PostgreSQL with several daemons: how long a lease (a desk, the timers, the broadcasts,
    /// the writer) runs without renewal. A holder renews every third of it; a daemon that dies
    /// or hangs is taken over within about this long plus a third.
    #[serde(default = "default_lease_secs")]
    pub lease_secs: u64,
    /// PostgreSQL with several daemons: how long a claim on an outbox entry keeps other daemons
    /// from sending it; longer than an SMTP transaction (`smtp.timeout_secs`) can take.
    #[serde(default = "default_claim_secs")]
    pub claim_secs: u64,
    /// PostgreSQL with `sslmode=require` in the URL: PEM certificates of the CA that signed the
    /// server's certificate, trusted beside the webpki roots. The certificate is always
    /// verified and must name the URL's host (libpq's `verify-full`).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PostgreSQL: the longest a statement may run before the server cancels it
    /// (`statement_timeout`); 0 leaves the server's setting. A stuck lock then shows as an
    /// error in the log instead of a daemon that waits forever.
    #[serde(default = "default_statement_timeout_secs")]
    pub statement_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub url: String,
    #[serde(default)]
    pub username: Option<String>,
    /// Kept as a [`Secret`]: it never shows in `Debug`.
    #[serde(default)]
    pub password: Option<Secret>,
    #[serde(default)]
    pub password_command: Option<String>,
    /// `password` (AUTH with `username` and the password, the default) or `oauth2` (SASL
    /// XOAUTH2 or OAUTHBEARER with an access token for `username`, see [`OAuth2Config`]).
    #[serde(default)]
    pub auth: AuthMethod,
    /// Where access tokens come from when `auth = "oauth2"`.
    #[serde(default)]
    pub oauth2: Option<OAuth2Config>,
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
    /// This desk's own accepted proofs of staff identity, over `[auth]`'s.
    #[serde(default)]
    pub auth: Option<DeskAuth>,
}

/// Which proofs that a staff mail is really theirs are believed, and how deskgate checks DKIM
/// itself. The four proof keys are the default of every desk; a `[desk.auth]` table replaces
/// any of them for its desk. The DNS keys are global (one resolver, one key cache).
#[derive(Debug, Clone, Deserialize, Serialize)]
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
    /// Verify the DKIM signatures (and ARC chains) of staff mail in-process, with DNS lookups
    /// of the keys, when no trusted header or relay vouches for it.
    #[serde(default)]
    pub dkim: bool,
    /// Domains (`d=` of the `ARC-Seal`) of forwarders whose ARC results are believed when they
    /// sealed the mail last (needs `dkim = true`).
    #[serde(default)]
    pub trusted_arc_sealers: Vec<String>,
    /// The nameserver for DKIM key lookups, "address:port" (or an address, port 53); default
    /// the system's (/etc/resolv.conf).
    #[serde(default)]
    pub dns_server: Option<String>,
    /// Seconds one mail's whole DKIM/ARC check may take before it counts as not authenticated.
    #[serde(default = "default_dns_timeout")]
    pub dns_timeout_secs: u64,
    /// Keys (and key errors) kept in memory, each for its DNS TTL but at most
    /// `key_cache_max_secs`.
    #[serde(default = "default_key_cache_entries")]
    pub key_cache_entries: usize,
    #[serde(default = "default_key_cache_max")]
    pub key_cache_max_secs: u64,
}

/// A desk's own `[desk.auth]`: each key given replaces the `[auth]` one for this desk.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeskAuth {
    #[serde(default)]
    pub trusted_authserv_ids: Option<Vec<String>>,
    #[serde(default)]
    pub trusted_relays: Option<Vec<String>>,
    #[serde(default)]
    pub dkim: Option<bool>,
    #[serde(default)]
    pub trusted_arc_sealers: Option<Vec<String>>,
}

/// The proofs of staff identity one desk accepts, its `[desk.auth]` over `[auth]`.
#[derive(Debug, Clone, Copy)]
pub struct StaffProofs<'a> {
    pub trusted_authserv_ids: &'a [String],
    pub trusted_relays: &'a [String],
    pub dkim: bool,
    pub trusted_arc_sealers: &'a [String],
}

impl AuthConfig {
    /// The nameserver for key lookups; `None` means the system's.
    pub fn dns_server_addr(&self) -> Result<Option<std::net::SocketAddr>, String> {
        let Some(text) = self.dns_server.as_deref().map(str::trim) else {
            return Ok(None);
        };
        if let Ok(addr) = text.parse::<std::net::SocketAddr>() {
            return Ok(Some(addr));
        }
        text.trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .map(|ip| Some(std::net::SocketAddr::new(ip, 53)))
            .map_err(|_| {
                format!(
                    "{text:?} is not an IP address with an optional port, such as \"127.0.0.1:53\""
                )
            })
    }

    /// The proofs `desk` accepts.
    pub fn proofs<'a>(&'a self, desk: &'a Desk) -> StaffProofs<'a> {
        let own = desk.auth.as_ref();
        StaffProofs {
            trusted_authserv_ids: own
                .and_then(|a| a.trusted_authserv_ids.as_deref())
                .unwrap_or(&self.trusted_authserv_ids),
            trusted_relays: own
                .and_then(|a| a.trusted_relays.as_deref())
                .unwrap_or(&self.trusted_relays),
            dkim: own.and_then(|a| a.dkim).unwrap_or(self.dkim),
            trusted_arc_sealers: own
                .and_then(|a| a.trusted_arc_sealers.as_deref())
                .unwrap_or(&self.trusted_arc_sealers),
        }
    }

    /// The proofs `[auth]` alone gives (a mail not read for any one desk).
    pub fn global_proofs(&self) -> StaffProofs<'_> {
        StaffProofs {
            trusted_authserv_ids: &self.trusted_authserv_ids,
            trusted_relays: &self.trusted_relays,
            dkim: self.dkim,
            trusted_arc_sealers: &self.trusted_arc_sealers,
        }
    }

    /// Whether any desk checks DKIM itself.
    pub fn any_dkim(&self, desks: &[Desk]) -> bool {
        self.dkim || desks.iter().any(|d| self.proofs(d).dkim)
    }
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
}

/// The metrics and health endpoint (`/metrics`, `/healthz`, `/readyz`). Off unless `listen` is
/// set.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address and port to serve plain HTTP on, such as "127.0.0.1:9464". Absent: no endpoint.
    #[serde(default)]
    pub listen: Option<String>,
    /// `/readyz` fails for a desk without a successful fetch in this many of its intervals
    /// (`poll_interval_secs`, or a second for a Maildir), and never sooner than 10 seconds.
    #[serde(default = "default_ready_within_intervals")]
    pub ready_within_intervals: u32,
}

impl MetricsConfig {
    /// The address to serve metrics on; `None` when it is off.
    pub fn listen_addr(&self) -> Result<Option<std::net::SocketAddr>, String> {
        self.listen
            .as_deref()
            .map(|a| {
                a.trim().parse().map_err(|_| {
                    format!("{a:?} is not an IP address and port, such as \"127.0.0.1:9464\"")
                })
            })
            .transpose()
    }
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
    /// Kept as a [`Secret`]: it never shows in `Debug`.
    #[serde(default)]
    pub password: Option<Secret>,
    #[serde(default)]
    pub password_command: Option<String>,
    /// `password` (LOGIN, the default) or `oauth2` (SASL XOAUTH2 or OAUTHBEARER with an access
    /// token for `user`, see [`OAuth2Config`]).
    #[serde(default)]
    pub auth: AuthMethod,
    /// Where access tokens come from when `auth = "oauth2"`.
    #[serde(default)]
    pub oauth2: Option<OAuth2Config>,
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
    /// Seconds after which an IDLE is ended and issued again: RFC 2177 asks for less than 29
    /// minutes, and Exchange Online and Gmail drop an IDLE left alone for about 30.
    #[serde(default = "default_idle_renew")]
    pub idle_renew_secs: u64,
    /// Trust this PEM CA file in addition to the system roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// How a login to IMAP or SMTP proves who it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// A password (IMAP LOGIN, SMTP AUTH PLAIN/LOGIN).
    #[default]
    Password,
    /// An OAuth2 access token over SASL XOAUTH2 or OAUTHBEARER (Microsoft 365, Google).
    Oauth2,
}

/// The SASL mechanism that carries an OAuth2 access token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SaslMechanism {
    /// Google's and Microsoft's `XOAUTH2`, which both providers accept for IMAP and SMTP.
    #[default]
    Xoauth2,
    /// RFC 7628 `OAUTHBEARER`, the standard one (Google, Dovecot, Stalwart; not Microsoft).
    Oauthbearer,
}

impl SaslMechanism {
    /// The mechanism's name as it goes on the wire.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Xoauth2 => "XOAUTH2",
            SaslMechanism::Oauthbearer => "OAUTHBEARER",
        }
    }
}

/// Where the access tokens of an `auth = "oauth2"` login come from: a `token_command` that
/// prints one (like mbsync's PassCmd; the command caches and refreshes), or deskgate's own
/// client for the provider's token endpoint (`token_url`), with the refresh-token grant when a
/// refresh token is given and the client-credentials grant otherwise.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Config {
    /// `xoauth2` (default) or `oauthbearer`.
    #[serde(default)]
    pub mechanism: SaslMechanism,
    /// `sh -c` command whose standard output is a fresh access token; run for each login.
    #[serde(default)]
    pub token_command: Option<String>,
    /// The token endpoint (`https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token`,
    /// `https://oauth2.googleapis.com/token`).
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    /// Kept as a [`Secret`]; absent for a public client.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    #[serde(default)]
    pub client_secret_command: Option<String>,
    /// With a refresh token the refresh-token grant is used (Google's installed apps, delegated
    /// Microsoft access); without one the client-credentials grant (Microsoft's app-only access).
    #[serde(default)]
    pub refresh_token: Option<Secret>,
    #[serde(default)]
    pub refresh_token_command: Option<String>,
    /// Scopes asked for, separated by spaces (`https://outlook.office365.com/.default`,
    /// `https://mail.google.com/`).
    #[serde(default)]
    pub scope: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MaildirConfig {
    pub path: PathBuf,
    /// Whether a missing folder is created rather than refused. Only the embedded defaults'
    /// Maildir is: the operator wrote no path there, so a missing one cannot be a typo, and
    /// `deskgate run` on a fresh machine waits for mail instead of failing. A path written in
    /// a config file must exist, or a typo would be read as an empty mailbox for ever.
    #[serde(skip)]
    pub create: bool,
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
