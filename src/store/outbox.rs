//! What goes out: outbox entries and their bytes, the time-ordered queue index that says which
//! are due, and what deskgate knows of the addresses it sends to.
//!
//! The queue index holds a marker per *queued* entry at its next attempt time, so finding what
//! is due reads only what is due. [`Txn::put_outbox`] keeps the markers in step with the
//! entries; nothing else writes them.

use super::{codec, decode_json, keys, unpacked, Store, StoreError, Txn};
use crate::core::service::outbox::{OutboxEntry, OutboxState};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What deskgate knows of an address it sends to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientRecord {
    /// Permanent failures reported by bounces, in a row (a delivered mail does not reset it:
    /// a bounce is the only news we get).
    pub hard_bounces: u32,
    /// Set after repeated hard bounces: automatic mail to the address is held.
    pub flagged: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_bounce: Option<String>,
    /// When automatic mails were queued to it recently (the storm limit's window).
    #[serde(default)]
    pub recent_automatic: Vec<DateTime<Utc>>,
}

/// An outbox entry about to be sent, as stored now ([`Store::outbox_to_send`]).
#[derive(Debug)]
pub struct ToSend {
    pub id: u64,
    /// `None`: no such entry any more.
    pub entry: Option<OutboxEntry>,
    /// `None`: its bytes are missing (it can never be sent).
    pub bytes: Option<Vec<u8>>,
}

impl Store {
    pub fn outbox_entry(&self, id: u64) -> Result<Option<OutboxEntry>, StoreError> {
        self.get_json(&keys::outbox(id))
    }

    /// The outbox entry that sent the mail with this Message-ID.
    pub fn outbox_by_message_id(
        &self,
        message_id: &str,
    ) -> Result<Option<OutboxEntry>, StoreError> {
        let id = self
            .engine
            .get(keys::outbox_by_message_id(message_id).as_bytes())?
            .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
            .map(u64::from_be_bytes);
        match id {
            Some(id) => self.outbox_entry(id),
            None => Ok(None),
        }
    }

    /// What deskgate knows of a mail address it sends to (bounces, recent automatic mail).
    pub fn recipient(&self, email: &str) -> Result<RecipientRecord, StoreError> {
        Ok(self.get_json(&keys::recipient(email))?.unwrap_or_default())
    }

    pub fn outbox_bytes(&self, id: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let key = keys::outbox_bytes(id);
        self.engine
            .get(key.as_bytes())?
            .map(|v| unpacked(&key, v))
            .transpose()
    }

    /// Every outbox entry, oldest first.
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.scan_json(keys::OUTBOX)
    }

    /// Queued entries whose next attempt is due at `now`, in the order they came due (then by
    /// id), at most `limit`. Reads the queue index only up to `now`: entries due later and
    /// entries no longer queued cost nothing.
    pub fn outbox_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.outbox_due_from(keys::OUTBOX_QUEUE.to_vec(), now, limit)
    }

    /// Like [`Store::outbox_due`], but only entries that come after `previous` in the queue: a
    /// cursor for reading the due entries in pages (`previous` is the last entry of the page
    /// before, as it was returned).
    pub fn outbox_due_after(
        &self,
        previous: &OutboxEntry,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut start = keys::outbox_marker(previous.next_attempt_at, previous.id).into_bytes();
        start.push(0);
        self.outbox_due_from(start, now, limit)
    }

    fn outbox_due_from(
        &self,
        mut start: Vec<u8>,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        // Every marker due at `now` sorts below the first key of the next millisecond.
        let end = keys::outbox_queue_after(now);
        let mut due = Vec::new();
        // Pages of markers, in case some are stale (see `queued_at_marker`).
        while due.len() < limit {
            let wanted = (limit - due.len()).min(1024);
            let page = self.engine.scan_range(&start, end.as_bytes(), wanted)?;
            let markers: Vec<&[u8]> = page.iter().map(|(k, _)| k.as_slice()).collect();
            due.extend(self.queued_at_markers(&markers)?);
            match page.last() {
                Some((last, _)) if page.len() == wanted => {
                    start = last.clone();
                    start.push(0);
                }
                _ => break,
            }
        }
        Ok(due)
    }

    /// When the earliest queued entry is due, if any (the first key of the queue index).
    pub fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let mut start = keys::OUTBOX_QUEUE.to_vec();
        loop {
            let first = self.engine.scan_range(&start, keys::OUTBOX_QUEUE_END, 1)?;
            let Some((k, _)) = first.first() else {
                return Ok(None);
            };
            if let Some(e) = self.queued_at_marker(k)? {
                return Ok(Some(e.next_attempt_at));
            }
            start = k.clone();
            start.push(0);
        }
    }

    /// How many entries wait to be sent (queued, due or not), and when the oldest of them was
    /// created: the whole queue index, read in pages (it holds only queued entries).
    pub fn outbox_queued(&self) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
        let mut start = keys::OUTBOX_QUEUE.to_vec();
        let (mut count, mut oldest) = (0u64, None::<DateTime<Utc>>);
        loop {
            let page = self
                .engine
                .scan_range(&start, keys::OUTBOX_QUEUE_END, 1024)?;
            let markers: Vec<&[u8]> = page.iter().map(|(k, _)| k.as_slice()).collect();
            for e in self.queued_at_markers(&markers)? {
                count += 1;
                oldest = Some(oldest.map_or(e.created_at, |o| o.min(e.created_at)));
            }
            match page.last() {
                Some((last, _)) if page.len() == 1024 => {
                    start = last.clone();
                    start.push(0);
                }
                _ => return Ok((count, oldest)),
            }
        }
    }

    /// The entry a queue marker points to, if it is still queued for that time. A marker left
    /// behind by two unlocked writers of one entry (the writer lock prevents it) is skipped
    /// rather than sending the entry early or twice.
    fn queued_at_marker(&self, key: &[u8]) -> Result<Option<OutboxEntry>, StoreError> {
        Ok(self.queued_at_markers(&[key])?.pop())
    }

    /// [`Store::queued_at_marker`] for several markers, read in one round trip: the entries
    /// still queued at them, in the markers' order.
    fn queued_at_markers(&self, markers: &[&[u8]]) -> Result<Vec<OutboxEntry>, StoreError> {
        let ids: Vec<(u64, &[u8])> = markers
            .iter()
            .filter_map(|&k| Some((keys::id_of_outbox_marker(k)?, k)))
            .collect();
        let wanted: Vec<Vec<u8>> = ids
            .iter()
            .map(|(id, _)| keys::outbox(*id).into_bytes())
            .collect();
        let mut queued = Vec::new();
        for ((id, marker), value) in ids.iter().zip(self.engine.get_many(&wanted)?) {
            let Some(v) = value else {
                continue;
            };
            let e: OutboxEntry = decode_json(&keys::outbox(*id), &v)?;
            if e.state == OutboxState::Queued
                && keys::outbox_marker(e.next_attempt_at, e.id).as_bytes() == *marker
            {
                queued.push(e);
            }
        }
        Ok(queued)
    }

    /// Entries about to be sent, read again with their bytes in one round trip (after they
    /// were claimed on a shared store): for each id, the entry and its bytes as stored now.
    pub fn outbox_to_send(&self, ids: &[u64]) -> Result<Vec<ToSend>, StoreError> {
        let wanted: Vec<Vec<u8>> = ids
            .iter()
            .flat_map(|&id| [keys::outbox(id), keys::outbox_bytes(id)].map(String::into_bytes))
            .collect();
        let mut found = self.engine.get_many(&wanted)?.into_iter();
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            let (entry, bytes) = (found.next().flatten(), found.next().flatten());
            let entry = match entry {
                Some(v) => Some(decode_json(&keys::outbox(id), &v)?),
                None => None,
            };
            let bytes = match bytes {
                Some(v) => Some(unpacked(&keys::outbox_bytes(id), v)?),
                None => None,
            };
            out.push(ToSend { id, entry, bytes });
        }
        Ok(out)
    }
}

impl Txn<'_> {
    /// Reserves the id of a new outbox entry. Nothing is stored under it (ids are never handed
    /// out twice), so its first [`Txn::put_outbox`] has no earlier version to read: one look-up
    /// fewer per queued mail.
    pub fn new_outbox_id(&mut self) -> Result<u64, StoreError> {
        let id = self.next_seq("outbox")?;
        self.outbox_markers.insert(id, None);
        Ok(id)
    }

    /// Stores an outbox entry (and, the first time, its bytes; once it is sent, its bytes are
    /// deleted), and keeps the queue index in step: the entry's previous marker (from the stored
    /// version, or from an earlier write in this transaction) is removed, and a queued entry
    /// gets one at its `next_attempt_at`.
    /// Callers need not know the previous state; a failure to read it fails the commit.
    pub fn put_outbox(&mut self, e: &OutboxEntry, bytes: Option<&[u8]>) {
        let previous = match self.outbox_markers.get(&e.id) {
            Some(marker) => marker.clone(),
            None => match self.store.outbox_entry(e.id) {
                Ok(stored) => stored
                    .filter(|p| p.state == OutboxState::Queued)
                    .map(|p| keys::outbox_marker(p.next_attempt_at, p.id)),
                Err(err) => {
                    self.failed_read.get_or_insert(err);
                    None
                }
            },
        };
        self.put_json(keys::outbox(e.id), e);
        if let Some(b) = bytes {
            // Packed from the borrowed bytes: copied only when kept as they are.
            self.batch
                .put(keys::outbox_bytes(e.id), codec::pack(b).into_owned());
            // A bounce names the mail it reports by Message-ID: find the entry from it.
            self.batch.put(
                keys::outbox_by_message_id(&e.message_id),
                e.id.to_be_bytes().to_vec(),
            );
        }
        if e.state == OutboxState::Sent {
            // Never sent again (its outcome is durable with this commit): the entry and the
            // ticket's message record keep what it was; its bytes would only take space.
            self.batch.delete(keys::outbox_bytes(e.id));
        }
        let marker =
            (e.state == OutboxState::Queued).then(|| keys::outbox_marker(e.next_attempt_at, e.id));
        if let Some(old) = previous.filter(|old| Some(old) != marker.as_ref()) {
            self.batch.delete(old);
        }
        if let Some(new) = &marker {
            self.batch.put(new.clone(), Vec::new());
        }
        self.outbox_markers.insert(e.id, marker);
    }

    pub fn put_recipient(&mut self, email: &str, r: &RecipientRecord) {
        self.put_json(keys::recipient(email), r);
    }
}
