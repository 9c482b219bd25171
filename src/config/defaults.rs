//! What a key left out of the config file means: the serde default functions, the `Default`
//! values of whole sections, the embedded config and the shipped plans.

use super::sections::{
    AuthConfig, BroadcastConfig, General, IngestConfig, LimitsConfig, MetricsConfig, OutboxConfig,
    StatusConfig,
};
use std::path::PathBuf;

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

/// The shipped default plans (config/plans.default.toml).
pub const DEFAULT_PLANS: &str = include_str!("../../config/plans.default.toml");

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

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_message_bytes: default_max_message_bytes(),
            batch_size: default_batch_size(),
        }
    }
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

/// A minute: far above any statement deskgate runs (a batch, a page of tickets), far below
/// "hung".
pub(super) fn default_statement_timeout_secs() -> u64 {
    60
}

pub(super) fn default_lease_secs() -> u64 {
    30
}
pub(super) fn default_claim_secs() -> u64 {
    300
}
pub(super) fn default_per_minute() -> u32 {
    600
}
pub(super) fn default_lead_time() -> String {
    "7d".into()
}
pub(super) fn default_reminder_before() -> String {
    "24h".into()
}
pub(super) fn default_completion_grace() -> String {
    "6h".into()
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            trusted_authserv_ids: Vec::new(),
            trusted_relays: Vec::new(),
            dkim: false,
            trusted_arc_sealers: Vec::new(),
            dns_server: None,
            dns_timeout_secs: default_dns_timeout(),
            key_cache_entries: default_key_cache_entries(),
            key_cache_max_secs: default_key_cache_max(),
        }
    }
}

pub(super) fn default_dns_timeout() -> u64 {
    5
}
pub(super) fn default_key_cache_entries() -> usize {
    1024
}
pub(super) fn default_key_cache_max() -> u64 {
    3600
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

pub(super) fn default_auto_per_recipient() -> u32 {
    3
}
pub(super) fn default_sender_flood() -> u32 {
    30
}
pub(super) fn default_flag_after() -> u32 {
    3
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

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: None,
            ready_within_intervals: default_ready_within_intervals(),
        }
    }
}

pub(super) fn default_ready_within_intervals() -> u32 {
    3
}

pub(super) fn default_status_horizon_days() -> u32 {
    30
}

pub(super) fn default_calendar() -> String {
    "24x7".into()
}
pub(super) fn default_days() -> String {
    "Mon-Fri".into()
}

pub(super) fn default_smtp_timeout() -> u64 {
    30
}
pub(super) fn default_templates() -> PathBuf {
    PathBuf::from("templates")
}
pub(super) fn default_languages() -> Vec<String> {
    crate::core::lang::Lang::ALL
        .iter()
        .map(|l| l.code().to_string())
        .collect()
}
pub(super) fn default_timezone() -> String {
    "Europe/Amsterdam".into()
}
pub(super) fn default_max_message_bytes() -> usize {
    25 * 1024 * 1024
}
pub(super) fn default_batch_size() -> usize {
    200
}
pub(super) fn default_max_in_flight() -> usize {
    1
}
pub(super) fn default_max_attempts() -> u32 {
    12
}
pub(super) fn default_retry_initial() -> u64 {
    30
}
pub(super) fn default_retry_max() -> u64 {
    3600
}
pub(super) fn default_mailbox() -> String {
    "INBOX".into()
}
pub(super) fn default_poll() -> u64 {
    60
}
/// 25 minutes: under RFC 2177's 29, with room for a slow network.
pub(super) fn default_idle_renew() -> u64 {
    25 * 60
}
pub(super) fn default_true() -> bool {
    true
}
