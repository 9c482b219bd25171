//! Mail that reached no ticket, kept with the reason: quarantined (needs a look) or set aside
//! (needs nothing), each with its raw bytes so it can be retried.

use super::{keys, Store, StoreError, Txn};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a mail that reached no ticket is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shelf {
    /// Could not be processed: needs a look (`deskgate quarantine list|show|retry|drop`).
    Quarantine,
    /// Processed, but belongs to no ticket and needs no answer (a bounce or auto-reply to
    /// nothing we know, list mail, our own mail coming back).
    Aside,
}

/// A mail kept on a shelf with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineEntry {
    pub id: u64,
    pub shelf: Shelf,
    pub desk: String,
    #[serde(default)]
    pub message_id: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub subject: String,
    /// Where it came from: `imap uid 42` or a Maildir file name.
    pub origin: String,
    pub error: String,
    pub at: DateTime<Utc>,
    pub size: usize,
}

impl Store {
    /// The mails on a shelf, oldest first.
    pub fn shelf(&self, shelf: Shelf) -> Result<Vec<QuarantineEntry>, StoreError> {
        self.scan_json(&keys::shelf(shelf))
    }

    pub fn shelved(&self, shelf: Shelf, id: u64) -> Result<Option<QuarantineEntry>, StoreError> {
        self.get_json(&keys::shelved(shelf, id))
    }

    pub fn shelved_raw(&self, shelf: Shelf, id: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.engine.get(keys::shelved_raw(shelf, id).as_bytes())
    }
}

impl Txn<'_> {
    /// Keeps a mail on a shelf, with its raw bytes.
    pub fn put_shelved(&mut self, q: &QuarantineEntry, raw: &[u8]) {
        self.put_json(keys::shelved(q.shelf, q.id), q);
        self.batch
            .put(keys::shelved_raw(q.shelf, q.id), raw.to_vec());
    }

    pub fn delete_shelved(&mut self, shelf: Shelf, id: u64) {
        self.batch.delete(keys::shelved(shelf, id));
        self.batch.delete(keys::shelved_raw(shelf, id));
    }
}
