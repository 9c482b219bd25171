//! What came in: tickets, their messages, the Message-ID index that threads replies, the raw
//! mail as it arrived, the SLA timer queue, and each sender's recent mail (the flood breaker).

use super::blobs::BlobRef;
use super::{decode_json, keys, Store, StoreError, Txn};
use crate::core::service::message::{Direction, MessageRecord};
use crate::core::service::ticket::Ticket;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a known Message-ID belongs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageIndex {
    pub ticket: String,
    pub direction: Direction,
}

impl Store {
    pub fn ticket(&self, reference: &str) -> Result<Option<Ticket>, StoreError> {
        self.get_json(&keys::ticket(reference))
    }

    /// Every ticket, in reference order.
    pub fn tickets(&self) -> Result<Vec<Ticket>, StoreError> {
        self.scan_json(keys::TICKETS)
    }

    /// A page of tickets in reference order: those after `after` (from the first when `None`)
    /// that `keep` admits, at most `limit`. The store is read in chunks, so a page holds no more
    /// than one chunk besides what it returns, however many tickets there are; a filter that
    /// admits few tickets reads further, never all at once.
    pub fn tickets_page(
        &self,
        after: Option<&str>,
        limit: usize,
        keep: impl Fn(&Ticket) -> bool,
    ) -> Result<Vec<Ticket>, StoreError> {
        const CHUNK: usize = 256;
        let end = keys::after_prefix(keys::TICKETS);
        let mut start = match after {
            Some(r) => keys::just_after(&keys::ticket(r)),
            None => keys::TICKETS.as_bytes().to_vec(),
        };
        let mut page = Vec::new();
        while page.len() < limit {
            let chunk = self.engine.scan_range(&start, &end, CHUNK)?;
            let Some((last, _)) = chunk.last() else {
                break;
            };
            start = keys::just_after_bytes(last);
            let full = chunk.len() == CHUNK;
            for (k, v) in chunk {
                let t: Ticket = decode_json(&String::from_utf8_lossy(&k), &v)?;
                if keep(&t) {
                    page.push(t);
                    if page.len() == limit {
                        break;
                    }
                }
            }
            if !full {
                break;
            }
        }
        Ok(page)
    }

    pub fn messages(&self, reference: &str) -> Result<Vec<MessageRecord>, StoreError> {
        self.scan_json(&keys::messages(reference))
    }

    pub fn message_index(&self, message_id: &str) -> Result<Option<MessageIndex>, StoreError> {
        self.get_json(&keys::message_index(message_id))
    }

    /// The raw mail with this Message-ID, as it came in; `None` when it was never kept, or
    /// when a crash took its bytes (see `Store::recover_blobs`).
    pub fn raw(&self, message_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(log) = &self.blobs {
            let ref_key = keys::raw_ref(message_id);
            if let Some(r) = self.engine.get(ref_key.as_bytes())? {
                let Some(r) = BlobRef::decode(&r) else {
                    return Err(StoreError::Corrupt {
                        key: ref_key,
                        message: "not a raw-mail reference".into(),
                    });
                };
                return log
                    .read(r, keys::raw(message_id).as_bytes())
                    .map_err(|e| self.blob_error(e));
            }
        }
        self.engine.get(keys::raw(message_id).as_bytes())
    }

    /// Tickets whose timer (next SLA notice) is due at `now`, earliest first.
    pub fn due_timers(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, String)>, StoreError> {
        let mut due = Vec::new();
        for (k, _) in self.engine.scan_prefix(keys::TIMERS, usize::MAX)? {
            let Some((at, reference)) = keys::parse_timer(&k) else {
                continue;
            };
            if at > now {
                break;
            }
            due.push((at, reference));
        }
        Ok(due)
    }

    /// When the earliest timer is due, if any.
    pub fn next_timer(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .engine
            .scan_prefix(keys::TIMERS, 1)?
            .first()
            .and_then(|(k, _)| keys::parse_timer(k))
            .map(|(at, _)| at))
    }

    /// Mails seen from a sender at a desk recently (for the flood breaker).
    pub fn sender_history(
        &self,
        desk: &str,
        email: &str,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        Ok(self
            .get_json(&keys::sender(desk, email))?
            .unwrap_or_default())
    }
}

impl Txn<'_> {
    pub fn put_ticket(&mut self, t: &Ticket) {
        self.put_json(keys::ticket(&t.reference), t);
    }

    pub fn put_message(&mut self, m: &MessageRecord) {
        self.put_json(keys::message(&m.ticket, m.seq), m);
        self.put_json(
            keys::message_index(&m.message_id),
            &MessageIndex {
                ticket: m.ticket.clone(),
                direction: m.direction,
            },
        );
    }

    /// Indexes a Message-ID without a message record (e.g. a duplicate's second copy).
    pub fn index_message_id(&mut self, message_id: &str, ticket: &str, direction: Direction) {
        self.put_json(
            keys::message_index(message_id),
            &MessageIndex {
                ticket: ticket.to_string(),
                direction,
            },
        );
    }

    /// Forgets a Message-ID (so a shelved mail can be processed again).
    pub fn delete_message_index(&mut self, message_id: &str) {
        self.batch.delete(keys::message_index(message_id));
    }

    /// Keeps a mail's raw bytes: in the raw-mail log when the store has one (appended at
    /// commit, before the engine's batch), else inline.
    pub fn put_raw(&mut self, message_id: &str, raw: &[u8]) {
        match self.store.blobs {
            Some(_) => self.raw.push((message_id.to_string(), raw.to_vec())),
            None => self.batch.put(keys::raw(message_id), raw.to_vec()),
        }
    }

    /// Files a ticket in the timer queue at `at` (its next SLA notice).
    pub fn put_timer(&mut self, at: DateTime<Utc>, reference: &str) {
        self.batch.put(keys::timer(at, reference), Vec::new());
    }

    pub fn delete_timer(&mut self, at: DateTime<Utc>, reference: &str) {
        self.batch.delete(keys::timer(at, reference));
    }

    pub fn put_sender_history(&mut self, desk: &str, email: &str, times: &[DateTime<Utc>]) {
        self.put_json(keys::sender(desk, email), &times);
    }
}
