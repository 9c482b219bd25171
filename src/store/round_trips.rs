//! Sparing a shared store's round trips. On PostgreSQL every read is a round trip to the server
//! (about as long as the rest of a mail's processing together), so this process:
//!
//! - reserves counter values in blocks where their order means nothing to anyone: outbox ids,
//!   [`OUTBOX_IDS_AT_ONCE`] at a time (a process that stops leaves the rest of its block
//!   unused; ids are never handed out twice). Ticket numbers, which customers see, are taken
//!   one at a time;
//! - reads a mail's look-ups in one go ([`Store::read_ahead`]) once it holds the write lock:
//!   under the writer lease no other process changes them, so the same thread's reads of those
//!   keys are answered from memory until its next commit or the end of its write lock.
//!
//! On a store of one process (sled, memory) reads are cheap and counters are part of the
//! transaction: nothing here is used.

use super::{keys, Store, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;
use std::thread::ThreadId;

/// Outbox ids reserved from the database at once (a broadcast queues thousands in one pass).
pub const OUTBOX_IDS_AT_ONCE: u64 = 32;

/// What this process keeps between calls.
#[derive(Default)]
pub(super) struct RoundTrips {
    /// Counter name → the values reserved and not yet used (`next..end`).
    reserved: Mutex<HashMap<String, (u64, u64)>>,
    /// Values read ahead by the thread holding the write lock.
    read_ahead: Mutex<Option<ReadAhead>>,
}

struct ReadAhead {
    thread: ThreadId,
    values: HashMap<Vec<u8>, Option<Vec<u8>>>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The look-ups one incoming mail makes while it is threaded and applied.
#[derive(Debug, Default)]
pub struct MailLookups<'a> {
    /// Its own Message-ID (the duplicate check) and those it refers to.
    pub message_ids: Vec<&'a str>,
    /// The desk and sender whose recent mail the flood check reads.
    pub sender: Option<(&'a str, &'a str)>,
    /// Tickets its subject names.
    pub tickets: Vec<String>,
}

/// A mail refers to at most this many Message-IDs worth reading ahead (a long thread's
/// References; the first of them decide).
const READ_AHEAD_REFERENCES: usize = 16;

impl Store {
    /// The next value of counter `name` from a shared engine, from this process's block when
    /// one is left; `None` on an engine that leaves counters to transactions.
    pub(super) fn reserved_seq(&self, name: &str, key: &[u8]) -> Result<Option<u64>, StoreError> {
        if !self.is_shared() {
            return Ok(None);
        }
        let count = if name == "outbox" {
            OUTBOX_IDS_AT_ONCE
        } else {
            1
        };
        let mut reserved = locked(&self.round_trips.reserved);
        if let Some((next, end)) = reserved.get_mut(name) {
            if *next < *end {
                *next += 1;
                return Ok(Some(*next - 1));
            }
        }
        let Some(first) = self.engine.next_seq(key, count)? else {
            return Ok(None);
        };
        reserved.insert(name.to_string(), (first + 1, first + count));
        Ok(Some(first))
    }

    /// Reads what `mail` will look up in one round trip, for this thread, which holds the
    /// write lock: until its next commit or the end of the lock, its reads of those keys are
    /// answered from memory. Does nothing on a store of one process.
    pub fn read_ahead(&self, mail: &MailLookups<'_>) -> Result<(), StoreError> {
        if !self.is_shared() {
            return Ok(());
        }
        let mut wanted: Vec<Vec<u8>> = Vec::new();
        for id in mail.message_ids.iter().take(READ_AHEAD_REFERENCES + 1) {
            wanted.push(keys::message_index(id).into_bytes());
        }
        if let Some((desk, email)) = mail.sender.filter(|(_, e)| !e.is_empty()) {
            wanted.push(keys::sender(desk, email).into_bytes());
        }
        for t in &mail.tickets {
            wanted.push(keys::ticket(t).into_bytes());
        }
        wanted.sort_unstable();
        wanted.dedup();
        let found = self.engine.get_many(&wanted)?;
        *locked(&self.round_trips.read_ahead) = Some(ReadAhead {
            thread: std::thread::current().id(),
            values: wanted.into_iter().zip(found).collect(),
        });
        Ok(())
    }

    /// The value of `key` if this thread read it ahead: `Some(None)` for a key read ahead and
    /// found missing, `None` for a key not read ahead.
    pub(super) fn read_ahead_value(&self, key: &[u8]) -> Option<Option<Vec<u8>>> {
        if !self.is_shared() {
            return None;
        }
        let ahead = locked(&self.round_trips.read_ahead);
        let ahead = ahead.as_ref()?;
        if ahead.thread != std::thread::current().id() {
            return None;
        }
        ahead.values.get(key).cloned()
    }

    /// Forgets what was read ahead (a commit, the end of a write lock).
    pub(super) fn forget_read_ahead(&self) {
        if self.is_shared() {
            locked(&self.round_trips.read_ahead).take();
        }
    }
}
