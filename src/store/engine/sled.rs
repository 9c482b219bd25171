//! The sled 0.34 engine: one tree, batches applied atomically, durable after `flush`.
//!
//! sled's own error type stops here: every failure leaves as [`StoreError::Engine`], so no sled
//! type is part of the store's interface.

use super::{Batch, Engine, Entries};
use crate::store::StoreError;
use std::path::Path;

/// sled's page cache.
const CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// sled 0.34: one tree, batches applied atomically, durable after `flush`.
pub struct SledEngine {
    db: ::sled::Db,
}

impl SledEngine {
    pub fn open(path: &Path) -> Result<SledEngine, StoreError> {
        let config = ::sled::Config::new()
            .path(path)
            // sled's page cache (its default is 1 GB). 32 MB: with a million tickets stored the
            // process peaked at 280 MB (48 MB: 272-315 MB in five runs, 96 MB: 355-387) and
            // ingested at 1.47x mbsync (48 MB: 1.65x, same run). sled's page table alone takes
            // ~150 MB there, whatever the cache (BENCHMARKS.md). sled overshoots this figure, so
            // it is not RSS.
            .cache_capacity(CACHE_BYTES)
            .flush_every_ms(Some(1000));
        // A store closed a moment ago in this process (a restart, a reopen) may still be locked
        // by the closing instance's background thread: wait for it, briefly.
        let started = std::time::Instant::now();
        loop {
            match config.open() {
                Ok(db) => return Ok(SledEngine { db }),
                // sled says so only in its message (an `ErrorKind::Other` error).
                Err(::sled::Error::Io(e))
                    if e.to_string().starts_with("could not acquire lock") =>
                {
                    if started.elapsed() >= LOCK_WAIT {
                        return Err(StoreError::InUse {
                            path: path.display().to_string(),
                        });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => {
                    return Err(StoreError::Open {
                        path: path.display().to_string(),
                        message: e.to_string(),
                    })
                }
            }
        }
    }
}

/// How long an open waits for a store's lock that a closing instance still holds.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A sled failure as the store reports it. None is worth retrying: sled's I/O errors and
/// corruption do not go away by waiting, and the rest are bugs.
fn engine_error(e: ::sled::Error) -> StoreError {
    StoreError::Engine {
        message: e.to_string(),
        transient: false,
    }
}

impl Engine for SledEngine {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get(key).map_err(engine_error)?.map(|v| v.to_vec()))
    }

    fn scan_prefix(&self, prefix: &[u8], limit: usize) -> Result<Entries, StoreError> {
        let mut out = Vec::new();
        for item in self.db.scan_prefix(prefix).take(limit) {
            let (k, v) = item.map_err(engine_error)?;
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
            let (k, v) = item.map_err(engine_error)?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        let mut b = ::sled::Batch::default();
        for (k, v) in batch.ops {
            match v {
                Some(v) => b.insert(k, v),
                None => b.remove(k),
            }
        }
        self.db.apply_batch(b).map_err(engine_error)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(engine_error)?;
        Ok(())
    }
}
