//! Leases and claims: how several processes share one store (PostgreSQL) without doing the same
//! work twice.
//!
//! A lease names a piece of work one process at a time may do: a desk's mailbox
//! ([`desk`]), the SLA timers and handovers ([`TIMERS`]), the broadcast passes ([`BROADCAST`]),
//! and every read-modify-write of the store ([`WRITER`], taken by [`Store::write_lock`]). It is
//! a row in the database with a holder, an expiry by the database's clock and an epoch that
//! grows whenever it changes hands. Whoever wants the work takes or renews it
//! ([`Store::take_lease`]); a holder that dies or hangs stops renewing, and after the lease's
//! time another process takes it over. The holder's commits carry the epoch it holds
//! ([`engine::Fence`]) and the database refuses them once the lease has moved on
//! ([`StoreError::Fenced`]): a daemon paused past its lease cannot commit what it prepared under
//! it.
//!
//! This file keeps what this process believes it holds (renewed by the daemon, see
//! `daemon/leases.rs`) and the fences its transactions carry. On an engine for one process
//! (sled, memory) every lease is always ours and nothing here reaches the engine.

use super::engine::Fence;
use super::{Store, StoreError, Txn};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The SLA timers and shift handovers.
pub const TIMERS: &str = "timers";
/// The maintenance and incident notices' passes.
pub const BROADCAST: &str = "broadcast";
/// Every read-modify-write of the store: held from the first read of a record to the commit
/// of its new version.
pub const WRITER: &str = "writer";

/// The lease of a desk's mailbox (fetching, and moving its checkpoint).
pub fn desk(name: &str) -> String {
    format!("desk:{name}")
}

/// How long a lease runs without renewal, and a claim on an outbox entry, unless configured
/// (`[store] lease_secs`, `claim_secs`).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
pub const DEFAULT_CLAIM: Duration = Duration::from_secs(300);

/// What this process holds, and as whom.
pub(super) struct Leases {
    /// This process's name in the lease table: host, process id and a random tag (a restarted
    /// daemon is a new holder, so its first lease is a new epoch).
    holder: String,
    ttl: Mutex<(Duration, Duration)>,
    held: Mutex<HashMap<String, Held>>,
    /// Leases this process let go (it is done with that work: it is stopping). Held across the
    /// engine's call while taking or releasing, so a renewal racing a release cannot take the
    /// lease back after it was let go.
    given_up: Mutex<std::collections::HashSet<String>>,
    /// The writer lease while [`Store::write_lock`] is held: every commit carries it.
    writer: Mutex<Option<Fence>>,
}

/// One lease as this process last took it.
#[derive(Debug, Clone, Copy)]
struct Held {
    /// `None`: wanted, but another process holds it.
    epoch: Option<u64>,
    /// When it runs out by our own clock: the time of the request that took it plus its
    /// length, so we stop before the database could give it to another.
    until: Instant,
}

impl Default for Leases {
    fn default() -> Leases {
        let tag: u32 = rand::random();
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "host".into());
        Leases {
            holder: format!("{host}:{}:{tag:08x}", std::process::id()),
            ttl: Mutex::new((DEFAULT_LEASE, DEFAULT_CLAIM)),
            held: Mutex::default(),
            given_up: Mutex::default(),
            writer: Mutex::default(),
        }
    }
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Leases {
    fn fence(&self, name: &str) -> Option<Fence> {
        locked(&self.held).get(name).map(|h| Fence {
            lease: name.to_string(),
            holder: self.holder.clone(),
            epoch: h.epoch.unwrap_or(0),
        })
    }
}

impl Store {
    /// Whether other processes may use this store at the same time (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.engine.shared()
    }

    /// This process's name in the lease and claim tables.
    pub fn holder(&self) -> &str {
        &self.leases.holder
    }

    /// Sets how long leases and outbox claims run (`[store] lease_secs`, `claim_secs`).
    pub fn set_lease_times(&self, lease: Duration, claim: Duration) {
        *locked(&self.leases.ttl) = (lease, claim);
    }

    /// How long a lease runs without renewal.
    pub fn lease_time(&self) -> Duration {
        locked(&self.leases.ttl).0
    }

    /// Takes or renews the lease `name`; true if this process holds it now. From now on the
    /// transactions that need it carry its fence (at epoch 0, which always refuses, while
    /// another process holds it). A failure (the database unreachable) changes nothing: what
    /// we held runs out by itself. A lease this process let go is not taken again.
    pub fn take_lease(&self, name: &str) -> Result<bool, StoreError> {
        let ttl = self.lease_time();
        let given_up = locked(&self.leases.given_up);
        if given_up.contains(name) {
            return Ok(false);
        }
        let asked = Instant::now();
        let epoch = self.engine.take_lease(name, &self.leases.holder, ttl)?;
        drop(given_up);
        locked(&self.leases.held).insert(
            name.to_string(),
            Held {
                epoch,
                until: asked + ttl,
            },
        );
        Ok(epoch.is_some())
    }

    /// Lets a lease go for good, so another process takes it over at once (this process is
    /// done with that work: it is stopping).
    pub fn release_lease(&self, name: &str) -> Result<(), StoreError> {
        let mut given_up = locked(&self.leases.given_up);
        given_up.insert(name.to_string());
        if let Some(h) = locked(&self.leases.held).get_mut(name) {
            h.epoch = None;
        }
        self.engine.release_lease(name, &self.leases.holder)
    }

    /// The epoch at which this process holds `name`, if it does and the lease has not run out
    /// by our clock.
    pub fn lease_epoch(&self, name: &str) -> Option<u64> {
        let held = locked(&self.leases.held).get(name).copied()?;
        held.epoch.filter(|_| Instant::now() < held.until)
    }

    /// Whether this process may do the work `name` stands for now: always on a store of one
    /// process; on a shared one, while it holds the lease. A process that never asked for the
    /// lease (`run --once`, a CLI command without a daemon) asks once here.
    pub fn may_act(&self, name: &str) -> bool {
        if !self.is_shared() {
            return true;
        }
        let known = locked(&self.leases.held).contains_key(name);
        if !known {
            if let Err(e) = self.take_lease(name) {
                tracing::warn!(lease = name, error = %e, "cannot take the lease");
                return false;
            }
        }
        self.lease_epoch(name).is_some()
    }

    /// Claims outbox entry `id` before its SMTP transaction: true if no other process holds a
    /// claim on it. Committed before it returns. On a store of one process, always true.
    pub fn claim_outbox(&self, id: u64) -> Result<bool, StoreError> {
        let claim = locked(&self.leases.ttl).1;
        self.engine.claim(id, &self.leases.holder, claim)
    }

    /// Gives up this process's claims on these entries (their outcomes are durable).
    pub fn release_outbox(&self, ids: &[u64]) -> Result<(), StoreError> {
        self.engine.release_claims(ids, &self.leases.holder)
    }

    /// Takes the writer lease for [`Store::write_lock`] on a shared store: waits while another
    /// process holds it (at most its lease time, if that process hangs). If the database cannot
    /// be reached, the fence stays at epoch 0, so every commit under this lock is refused rather
    /// than made on reads another process may have changed.
    pub(super) fn lock_writers(&self) {
        if !self.is_shared() {
            return;
        }
        let ttl = self.lease_time();
        let mut pause = Duration::from_millis(1);
        let epoch = loop {
            match self.engine.take_lease(WRITER, &self.leases.holder, ttl) {
                Ok(Some(epoch)) => break epoch,
                Ok(None) => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take the store's writer lease");
                    break 0;
                }
            }
        };
        *locked(&self.leases.writer) = Some(Fence {
            lease: WRITER.into(),
            holder: self.leases.holder.clone(),
            epoch,
        });
    }

    /// Lets the writer lease go (the end of [`Store::write_lock`]).
    pub(super) fn unlock_writers(&self) {
        if locked(&self.leases.writer).take().is_some() {
            if let Err(e) = self.engine.release_lease(WRITER, &self.leases.holder) {
                // It runs out by itself.
                tracing::debug!(error = %e, "cannot release the store's writer lease");
            }
        }
    }

    /// The fences every commit carries now: the writer lease while it is held.
    pub(super) fn commit_fences(&self) -> Option<Fence> {
        locked(&self.leases.writer).clone()
    }
}

impl Txn<'_> {
    /// Makes this transaction commit only while this process still holds the lease `name` at
    /// the epoch it took it at (a lease it never asked for adds nothing: a process alone on its
    /// store, or one run of a command).
    pub fn fence(&mut self, name: &str) {
        if let Some(f) = self.store.leases.fence(name) {
            if !self.batch.fences.contains(&f) {
                self.batch.fences.push(f);
            }
        }
    }
}
