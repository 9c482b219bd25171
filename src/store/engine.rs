//! The key-value engine interface under the store, and its two engines.
//!
//! The domain store ([`super::Store`]) speaks tickets and outbox entries; an engine only speaks
//! ordered byte keys, atomic batches and flushes. Swapping sled for another engine means writing
//! one more implementation of [`Engine`] and running the store's contract tests on it.

use super::StoreError;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

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

/// sled 0.34: one tree, batches applied atomically, durable after `flush`.
pub struct SledEngine {
    db: sled::Db,
}

impl SledEngine {
    pub fn open(path: &Path) -> Result<SledEngine, StoreError> {
        let db = sled::Config::new()
            .path(path)
            // sled's page cache (its default is 1 GB). 96 MB keeps the indexes hot with 100k
            // tickets: ingest ran as fast as with 256 MB, and the process peaked at 219 MB
            // instead of 354 MB (BENCHMARKS.md); sled overshoots this figure, so it is not RSS.
            .cache_capacity(96 * 1024 * 1024)
            .flush_every_ms(Some(1000))
            .open()
            .map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        Ok(SledEngine { db })
    }
}

impl Engine for SledEngine {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get(key)?.map(|v| v.to_vec()))
    }

    fn scan_prefix(&self, prefix: &[u8], limit: usize) -> Result<Entries, StoreError> {
        let mut out = Vec::new();
        for item in self.db.scan_prefix(prefix).take(limit) {
            let (k, v) = item?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    fn scan_range(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Entries, StoreError> {
        let mut out = Vec::new();
        if start >= end {
            return Ok(out);
        }
        for item in self.db.range(start..end).take(limit) {
            let (k, v) = item?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        for (k, v) in batch.ops {
            match v {
                Some(v) => b.insert(k, v),
                None => b.remove(k),
            }
        }
        self.db.apply_batch(b)?;
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

/// An in-memory engine for unit tests: the same contract, nothing durable.
#[derive(Default)]
pub struct MemoryEngine {
    map: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl Engine for MemoryEngine {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned())
    }

    fn scan_prefix(&self, prefix: &[u8], limit: usize) -> Result<Entries, StoreError> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        Ok(map
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn scan_range(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Entries, StoreError> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if start >= end {
            return Ok(Vec::new());
        }
        Ok(map
            .range(start.to_vec()..end.to_vec())
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        for (k, v) in batch.ops {
            match v {
                Some(v) => map.insert(k, v),
                None => map.remove(&k),
            };
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
