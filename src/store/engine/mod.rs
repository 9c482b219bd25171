//! The key-value engine interface under the store, and one file per engine.
//!
//! The domain store ([`super::Store`]) speaks tickets and outbox entries; an engine only speaks
//! ordered byte keys, atomic batches and flushes. A new engine is one more file here, one more
//! entry in the contract suite (`store/contract.rs`), and its errors mapped to
//! [`StoreError::Engine`] (saying whether a retry may help). That covers one process on one
//! engine: the interface is synchronous, and the store's read-modify-write safety is an
//! in-process lock, so several daemons sharing the PostgreSQL engine need more than a file here
//! (leases and claims in the database; see ARCHITECTURE.md).
//!
//! This folder owns the engines and their crates (sled, tokio-postgres). It may import only the store's
//! [`StoreError`]: no domain type, no key layout (that is `store/keys.rs`), nothing outside
//! `store`.

mod memory;
mod postgres;
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
}
