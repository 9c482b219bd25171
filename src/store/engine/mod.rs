//! The key-value engine interface under the store, and one file per engine.
//!
//! The domain store ([`super::Store`]) speaks tickets and outbox entries; an engine only speaks
//! ordered byte keys, atomic batches and flushes. A new engine is one more file here, one more
//! entry in the contract suite (`store/contract.rs`), and its errors mapped to
//! [`StoreError::Engine`] (saying whether a retry may help). An engine that several processes
//! can open at once (PostgreSQL) says so with [`Engine::shared`] and implements the
//! coordination they need in the database itself: leases with fencing epochs, outbox claims and
//! counters (see ARCHITECTURE.md, "Several daemons"). The embedded engines keep the defaults:
//! one process, so every lease and claim is theirs.
//!
//! This folder owns the engines and their crates (sled, tokio-postgres). It may import only the store's
//! [`StoreError`]: no domain type, no key layout (that is `store/keys.rs`), nothing outside
//! `store`.

mod memory;
mod postgres;
mod postgres_io;
mod postgres_tls;
mod sled;

pub use self::memory::MemoryEngine;
pub use self::postgres::{PostgresEngine, PostgresTarget};
pub use self::sled::SledEngine;

use super::StoreError;

/// Key-value pairs read from an engine, in key order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// A set of writes applied atomically.
#[derive(Debug, Default)]
pub struct Batch {
    pub ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Leases the writer must still hold, at these epochs, when the batch commits; checked in
    /// the same database transaction, so a process that lost a lease while it was paused cannot
    /// commit what it prepared under it. Only shared engines check them.
    pub fences: Vec<Fence>,
}

/// A lease as its holder last took it: checked when a batch commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub lease: String,
    pub holder: String,
    /// Grows each time the lease changes hands; 0 is never granted, so a fence at epoch 0 (a
    /// lease wanted but not held) refuses the commit.
    pub epoch: u64,
}

impl Batch {
    pub fn put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push((key.into(), Some(value.into())));
    }

    pub fn delete(&mut self, key: impl Into<Vec<u8>>) {
        self.ops.push((key.into(), None));
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// An ordered byte-key store with atomic batches.
pub trait Engine: Send + Sync {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Entries whose key starts with `prefix`, in key order, at most `limit`.
    fn scan_prefix(&self, prefix: &[u8], limit: usize) -> Result<Entries, StoreError>;
    /// Entries whose key is at least `start` and below `end`, in key order, at most `limit`.
    fn scan_range(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Entries, StoreError>;
    /// Applies every write of `batch` or none.
    fn apply(&self, batch: Batch) -> Result<(), StoreError>;
    /// Makes everything applied so far durable.
    fn flush(&self) -> Result<(), StoreError>;

    /// The bytes the engine's data takes where it keeps them itself (a database server's
    /// tables); `None` for an engine in files the store measures (sled) or in memory.
    fn stored_bytes(&self) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }

    /// Other processes may write the same data: nothing read may be trusted to stay as read
    /// without a lease, and counters and claims must be taken in the engine.
    fn shared(&self) -> bool {
        false
    }

    /// Takes or renews the lease `name` for `holder` until `ttl` from now (the engine's clock):
    /// the epoch it holds it at, or `None` while another holder's lease runs.
    fn take_lease(
        &self,
        _name: &str,
        _holder: &str,
        _ttl: std::time::Duration,
    ) -> Result<Option<u64>, StoreError> {
        Ok(Some(1))
    }

    /// Lets the lease go at once (another holder may take it now), if `holder` has it; true if
    /// another holder asked for it ([`Engine::want_lease`]) while `holder` had it.
    fn release_lease(&self, _name: &str, _holder: &str) -> Result<bool, StoreError> {
        Ok(false)
    }

    /// Tells the lease's present holder that `holder` waits for it: its next release answers
    /// true, so it can stand back long enough for `holder` to take the lease.
    fn want_lease(&self, _name: &str, _holder: &str) -> Result<(), StoreError> {
        Ok(())
    }

    /// Claims outbox entries `ids` (ascending, distinct) for `holder` until `ttl` from now: the
    /// ids claimed, without those another holder's claim still runs on. A claim runs until its
    /// time is out or, with `take_over_lives`, until its holder's life lease
    /// ([`super::leases::life`]) has run out or was let go: a process that died leaves nothing
    /// claimed for long. Committed before it returns, so no other process sends these entries
    /// meanwhile.
    fn claim(
        &self,
        ids: &[u64],
        _holder: &str,
        _ttl: std::time::Duration,
        _take_over_lives: bool,
    ) -> Result<Vec<u64>, StoreError> {
        Ok(ids.to_vec())
    }

    /// Applies `batch` and makes it, and everything applied before it, durable: [`Engine::apply`]
    /// then [`Engine::flush`], which a database server may do in one round trip.
    fn apply_durably(&self, batch: Batch) -> Result<(), StoreError> {
        self.apply(batch)?;
        self.flush()
    }

    /// Gives up `holder`'s claims on these entries.
    fn release_claims(&self, _ids: &[u64], _holder: &str) -> Result<(), StoreError> {
        Ok(())
    }

    /// Forgets the life leases ([`super::leases::life`]) of processes that ended (run out or let
    /// go) and hold no running claim: one row per process that ever ran would pile up.
    fn forget_ended_lives(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Reserves the next `count` values of the counter under `key`, advanced atomically and
    /// committed at once (never handed out twice, by any process; a value whose transaction
    /// fails is skipped): the first of them. `None`: the engine leaves counters to the store's
    /// transactions (one process).
    fn next_seq(&self, _key: &[u8], _count: u64) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }

    /// The values of several keys, in the order asked: one round trip on a database server.
    fn get_many(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        keys.iter().map(|k| self.get(k)).collect()
    }
}
