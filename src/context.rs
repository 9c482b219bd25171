//! The application context: what every part of the pipeline shares, and nothing else.
//!
//! One [`Context`] is built at start-up (by the daemon, by `run --once`, or by a CLI command
//! that opens the store itself) and handed, behind an `Arc`, to each role: the ingest
//! ([`crate::ingest::Ingestor`]), the timers ([`crate::timers::Timers`]), the broadcasts
//! ([`crate::broadcast::Broadcaster`]), the delivery, the admin endpoint. It holds the store,
//! the config, the templates, the clock, the support model built from the config once, and the
//! accounts directory (swapped as a whole on reload), and the DKIM checker with its resolver and
//! key cache (started on the first staff claim that needs it). Each role keeps its own state;
//! the context keeps none of theirs.
//!
//! Must not import a role (ingest, timers, broadcast, delivery, admin, daemon, cli): they
//! import it.

use crate::clock::Clock;
use crate::config::{Config, Desk};
use crate::core::address::Address;
use crate::core::mail::own::Stamp;
use crate::core::service::accounts::Directory;
use crate::core::service::shifts;
use crate::core::service::ticket::{Priority, Ticket};
use crate::dkim;
use crate::metrics::Metrics;
use crate::render::Templates;
use crate::store::Store;
use crate::support::SupportModel;
use crate::timings::Timings;
use chrono::{DateTime, Utc};
use std::sync::{Arc, OnceLock, RwLock};

/// The services every role shares.
pub struct Context {
    pub store: Store,
    pub config: Arc<Config>,
    pub templates: Arc<Templates>,
    pub clock: Arc<dyn Clock>,
    /// Plans, calendars and shift teams, worked out from the config once.
    pub support: SupportModel,
    /// Where the pipeline spends its time, per phase (for `run --once --json` and benchmarks).
    pub timings: Timings,
    /// What the metrics endpoint shows: counts and states the roles record as they go.
    pub metrics: Arc<Metrics>,
    /// What this installation writes into its mail, to know it when it comes back.
    pub stamp: Stamp,
    /// deskgate's own DKIM and ARC check of staff mail (`[auth] dkim`): one resolver and one
    /// key cache for every desk.
    pub signatures: dkim::Verifier,
    /// The accounts directory; replaced as a whole when the accounts file is reloaded.
    accounts: RwLock<Arc<Directory>>,
    /// Woken when durable outbox entries are waiting (the delivery task's).
    outbox_waker: OnceLock<Arc<tokio::sync::Notify>>,
    /// The desks' own addresses, lower-cased.
    desk_addresses: Vec<String>,
}

impl Context {
    pub fn new(
        store: Store,
        templates: Arc<Templates>,
        config: Arc<Config>,
        clock: Arc<dyn Clock>,
    ) -> Context {
        // The secret is drawn once and kept in the store; a store that cannot give it (a read
        // error at start-up) stamps with the config's domain, which still tells our mail apart
        // from anyone's who does not have the config.
        let secret = store.installation_secret().unwrap_or_else(|e| {
            tracing::error!(error = %e, "no installation secret in the store: using a weaker one");
            config.message_id_domain().into_bytes()
        });
        let desk_addresses = config
            .desks
            .iter()
            .map(|d| d.address.to_ascii_lowercase())
            .collect();
        Context {
            support: SupportModel::from_config(&config),
            timings: Timings::default(),
            metrics: Arc::new(Metrics::from_config(&config, clock.now())),
            stamp: Stamp::new(&secret, &config.message_id_domain()),
            signatures: dkim::Verifier::new(dkim::Settings::from_config(&config.auth)),
            store,
            templates,
            config,
            clock,
            accounts: RwLock::new(Arc::default()),
            outbox_waker: OnceLock::new(),
            desk_addresses,
        }
    }

    /// The accounts directory in force. Mail being processed keeps the one it started with.
    pub fn directory(&self) -> Arc<Directory> {
        self.accounts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the accounts directory (at start-up and on SIGHUP).
    pub fn set_directory(&self, directory: Directory) {
        *self.accounts.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(directory);
    }

    /// Names the delivery task's wake-up (the daemon does, once).
    pub fn set_outbox_waker(&self, waker: Arc<tokio::sync::Notify>) {
        let _ = self.outbox_waker.set(waker);
    }

    /// Tells the delivery task that durable outbox entries are waiting.
    pub fn outbox_changed(&self) {
        if let Some(w) = self.outbox_waker.get() {
            w.notify_one();
        }
    }

    /// The desk's own address (deskgate never writes to itself).
    pub fn desk_addresses(&self) -> &[String] {
        &self.desk_addresses
    }

    pub fn is_desk(&self, email: &str) -> bool {
        self.desk_addresses.iter().any(|d| d == email)
    }

    /// A time as `reader` sees it, in their time zone.
    pub fn local_time(&self, t: DateTime<Utc>, reader: &str) -> String {
        let zone = self.zone_of(reader);
        match zone.parse::<chrono_tz::Tz>() {
            Ok(tz) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string(),
            Err(_) => t.format("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }

    /// The time zone a reader sees times in: their team's (staff and team addresses), their
    /// account's (customers), else the deployment's.
    pub fn zone_of(&self, reader: &str) -> String {
        let config = &self.config;
        if let Some(team) = config
            .teams
            .iter()
            .find(|t| t.address.eq_ignore_ascii_case(reader))
        {
            return team.timezone.clone();
        }
        if let Some(team) = config
            .staff_by_address(reader)
            .and_then(|s| config.team(&s.team))
        {
            return team.timezone.clone();
        }
        let directory = self.directory();
        if let Some(account) = directory
            .identify(reader)
            .account()
            .and_then(|a| directory.account(a))
        {
            return account.timezone.clone();
        }
        config.general.timezone.clone()
    }

    /// Who hears of urgent news (a new P1/P2 ticket, an escalation) for `tier`: the team on
    /// shift now; else the next to come on shift; else the tier's configured team.
    pub fn on_shift_team(&self, tier: u8, desk: &Desk, now: DateTime<Utc>) -> Vec<Address> {
        let teams = self.support.shift_teams();
        let name = shifts::on_shift(teams, tier, now)
            .map(|t| t.name.clone())
            .or_else(|| shifts::next_on_shift(teams, tier, now).map(|(t, _)| t.name.clone()));
        match name.and_then(|n| self.config.team(&n)) {
            Some(t) => vec![Address::new(Some(&t.name), &t.address)],
            None => self.tier_team(tier, desk),
        }
    }

    /// The team to tell of news for `tier` and `priority`: on shift for P1/P2, else the tier's.
    pub fn team_for(
        &self,
        tier: u8,
        priority: Priority,
        desk: &Desk,
        now: DateTime<Utc>,
    ) -> Vec<Address> {
        if priority <= Priority::P2 {
            self.on_shift_team(tier, desk, now)
        } else {
            self.tier_team(tier, desk)
        }
    }

    /// Where notices about `ticket` go: its owner, else the team working its tier.
    pub fn owner_or_team(&self, ticket: &Ticket, desk: &Desk) -> Vec<Address> {
        if let Some(owner) = ticket
            .owner
            .as_deref()
            .and_then(|o| self.config.staff_by_name(o))
        {
            return vec![Address::new(Some(&owner.name), &owner.address)];
        }
        self.tier_team(ticket.tier, desk)
    }

    /// The team working `tier` for `desk`, as a recipient list (empty when none is configured).
    pub fn tier_team(&self, tier: u8, desk: &Desk) -> Vec<Address> {
        self.config
            .team_for_tier(desk, tier)
            .map(|t| vec![Address::new(Some(&t.name), &t.address)])
            .unwrap_or_default()
    }
}
