//! The store: tickets, messages, raw mail, checkpoints, outbox and quarantine, in domain terms.
//!
//! Everything persistent goes through [`Store`]; below it an [`engine::Engine`] (sled, or memory
//! for tests) only sees byte keys. Writes are grouped in a [`Txn`] and committed atomically; a
//! commit is durable only after [`Store::flush`], which the pipeline calls once per fetched batch
//! before telling the mailbox that the batch is done (group commit).
//!
//! Key layout (one ordered key space):
//! `meta/schema`, `meta/seq/<name>` · `t/<ref>` ticket · `m/<ref>/<seq:08>` message ·
//! `mid/<message-id>` → ticket · `raw/<message-id>` raw mail · `cp/<desk>` checkpoint · `tmq/<ms>/<ref>` timer queue · `meta/v/<name>` small values · `ack/<desk>` acknowledged up to ·
//! `o/<id:016>` outbox entry · `ob/<id:016>` its bytes · `oq/<id:016>` queued marker ·
//! `omid/<message-id>` → outbox id · `rcpt/<email>` recipient record · `snd/<desk>/<email>` recent mail ·
//! `q/<id:016>`, `qr/<id:016>` quarantined mail and its bytes · `a/`, `ar/` mail kept aside ·
//! `mnt/`, `inc/`, `bn/`, `bs/` maintenance, incidents and their notices (see [`broadcasts`]).

pub mod broadcasts;
pub mod engine;

pub use broadcasts::{NoticeRecord, Subject};

use crate::core::message::{Direction, MessageRecord};
use crate::core::outbox::{OutboxEntry, OutboxState};
use crate::core::ticket::Ticket;
use chrono::{DateTime, Utc};
use engine::{Batch, Engine, MemoryEngine, SledEngine};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// The on-disk layout version. Bump it when keys or records change incompatibly.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open store at {path}: {message} (is another deskgate running on it?)")]
    Open { path: String, message: String },
    #[error("store at {path} has schema version {found}, this deskgate reads version {expected}")]
    Schema {
        path: String,
        found: String,
        expected: u32,
    },
    #[error("store engine: {0}")]
    Engine(#[from] sled::Error),
    #[error("corrupt record under {key}: {message}")]
    Corrupt { key: String, message: String },
}

/// A desk's position in its IMAP mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub uid_validity: u32,
    /// Highest UID whose effects are committed.
    pub last_uid: u32,
}

/// Where a known Message-ID belongs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageIndex {
    pub ticket: String,
    pub direction: Direction,
}

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

impl Shelf {
    fn prefix(self) -> &'static str {
        match self {
            Shelf::Quarantine => "q",
            Shelf::Aside => "a",
        }
    }
}

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

/// The domain store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    engine: Arc<dyn Engine>,
    /// Serialises read-modify-write sequences (ingest, delivery outcomes) across tasks.
    writer: Arc<std::sync::Mutex<()>>,
}

impl Store {
    /// Opens (or creates) a sled store and checks its schema version.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let store = Store {
            engine: Arc::new(SledEngine::open(path)?),
            writer: Arc::default(),
        };
        store.check_schema(&path.display().to_string())?;
        Ok(store)
    }

    /// A fresh in-memory store.
    pub fn memory() -> Store {
        let store = Store {
            engine: Arc::new(MemoryEngine::default()),
            writer: Arc::default(),
        };
        // A new memory store cannot hold a wrong schema.
        let _ = store.check_schema("memory");
        store
    }

    fn check_schema(&self, path: &str) -> Result<(), StoreError> {
        match self.engine.get(b"meta/schema")? {
            None => {
                let mut b = Batch::default();
                b.put(&b"meta/schema"[..], SCHEMA_VERSION.to_string());
                self.engine.apply(b)?;
                self.engine.flush()
            }
            Some(v) if v == SCHEMA_VERSION.to_string().as_bytes() => Ok(()),
            Some(v) => Err(StoreError::Schema {
                path: path.to_string(),
                found: String::from_utf8_lossy(&v).into_owned(),
                expected: SCHEMA_VERSION,
            }),
        }
    }

    /// Takes the writer lock: hold it from the first read of a record to the commit of its new
    /// version, so two tasks never overwrite each other's change.
    pub fn write_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a group of writes.
    pub fn txn(&self) -> Txn<'_> {
        Txn {
            store: self,
            batch: Batch::default(),
        }
    }

    /// Makes every commit so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.engine.flush()
    }

    pub fn ticket(&self, reference: &str) -> Result<Option<Ticket>, StoreError> {
        self.get_json(&format!("t/{reference}"))
    }

    /// Every ticket, in reference order.
    pub fn tickets(&self) -> Result<Vec<Ticket>, StoreError> {
        self.scan_json("t/")
    }

    pub fn messages(&self, reference: &str) -> Result<Vec<MessageRecord>, StoreError> {
        self.scan_json(&format!("m/{reference}/"))
    }

    pub fn message_index(&self, message_id: &str) -> Result<Option<MessageIndex>, StoreError> {
        self.get_json(&format!("mid/{message_id}"))
    }

    pub fn raw(&self, message_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.engine.get(format!("raw/{message_id}").as_bytes())
    }

    pub fn checkpoint(&self, desk: &str) -> Result<Option<Checkpoint>, StoreError> {
        self.get_json(&format!("cp/{desk}"))
    }

    /// Tickets whose timer (next SLA notice) is due at `now`, earliest first.
    pub fn due_timers(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, String)>, StoreError> {
        let mut due = Vec::new();
        for (k, _) in self.engine.scan_prefix(b"tmq/", usize::MAX)? {
            let Some((at, reference)) = parse_timer_key(&k) else {
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
            .scan_prefix(b"tmq/", 1)?
            .first()
            .and_then(|(k, _)| parse_timer_key(k))
            .map(|(at, _)| at))
    }

    /// A small named value (`meta/<name>`), e.g. when handovers were last checked.
    pub fn meta<T: for<'de> Deserialize<'de>>(&self, name: &str) -> Result<Option<T>, StoreError> {
        self.get_json(&format!("meta/v/{name}"))
    }

    /// How far the desk's mailbox has been told which mails are done (`\Seen`, moved).
    pub fn acked(&self, desk: &str) -> Result<Option<Checkpoint>, StoreError> {
        self.get_json(&format!("ack/{desk}"))
    }

    /// The next value of a named counter, reserved in `txn` (committed with it).
    pub fn next_seq(&self, name: &str, txn: &mut Txn<'_>) -> Result<u64, StoreError> {
        let key = format!("meta/seq/{name}");
        // A counter already advanced in this transaction wins over the stored one.
        let pending = txn
            .batch
            .ops
            .iter()
            .rev()
            .find(|(k, _)| k == key.as_bytes())
            .and_then(|(_, v)| v.clone());
        let current = match pending {
            Some(v) => Some(v),
            None => self.engine.get(key.as_bytes())?,
        };
        let n = current
            .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0)
            + 1;
        txn.batch.put(key, n.to_be_bytes().to_vec());
        Ok(n)
    }

    pub fn outbox_entry(&self, id: u64) -> Result<Option<OutboxEntry>, StoreError> {
        self.get_json(&format!("o/{id:016}"))
    }

    /// The outbox entry that sent the mail with this Message-ID.
    pub fn outbox_by_message_id(
        &self,
        message_id: &str,
    ) -> Result<Option<OutboxEntry>, StoreError> {
        let id = self
            .engine
            .get(format!("omid/{message_id}").as_bytes())?
            .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
            .map(u64::from_be_bytes);
        match id {
            Some(id) => self.outbox_entry(id),
            None => Ok(None),
        }
    }

    /// What deskgate knows of a mail address it sends to (bounces, recent automatic mail).
    pub fn recipient(&self, email: &str) -> Result<RecipientRecord, StoreError> {
        Ok(self.get_json(&format!("rcpt/{email}"))?.unwrap_or_default())
    }

    /// Mails seen from a sender at a desk recently (for the flood breaker).
    pub fn sender_history(
        &self,
        desk: &str,
        email: &str,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        Ok(self
            .get_json(&format!("snd/{desk}/{email}"))?
            .unwrap_or_default())
    }

    pub fn outbox_bytes(&self, id: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.engine.get(format!("ob/{id:016}").as_bytes())
    }

    /// Every outbox entry, oldest first.
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.scan_json("o/")
    }

    /// Queued entries whose next attempt is due at `now`, oldest first, at most `limit`.
    pub fn outbox_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut due = Vec::new();
        for (k, _) in self.engine.scan_prefix(b"oq/", usize::MAX)? {
            let id = std::str::from_utf8(&k[3..])
                .ok()
                .and_then(|s| s.parse::<u64>().ok());
            let Some(id) = id else { continue };
            if let Some(e) = self.outbox_entry(id)? {
                if e.state == OutboxState::Queued && e.next_attempt_at <= now {
                    due.push(e);
                    if due.len() >= limit {
                        break;
                    }
                }
            }
        }
        Ok(due)
    }

    /// When the earliest queued entry is due, if any.
    pub fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let mut next: Option<DateTime<Utc>> = None;
        for (k, _) in self.engine.scan_prefix(b"oq/", usize::MAX)? {
            let id = std::str::from_utf8(&k[3..])
                .ok()
                .and_then(|s| s.parse::<u64>().ok());
            if let Some(e) = id.map(|id| self.outbox_entry(id)).transpose()?.flatten() {
                next = Some(next.map_or(e.next_attempt_at, |n| n.min(e.next_attempt_at)));
            }
        }
        Ok(next)
    }

    /// The mails on a shelf, oldest first.
    pub fn shelf(&self, shelf: Shelf) -> Result<Vec<QuarantineEntry>, StoreError> {
        self.scan_json(&format!("{}/", shelf.prefix()))
    }

    pub fn shelved(&self, shelf: Shelf, id: u64) -> Result<Option<QuarantineEntry>, StoreError> {
        self.get_json(&format!("{}/{id:016}", shelf.prefix()))
    }

    pub fn shelved_raw(&self, shelf: Shelf, id: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.engine
            .get(format!("{}r/{id:016}", shelf.prefix()).as_bytes())
    }

    fn get_json<T: for<'de> Deserialize<'de>>(&self, key: &str) -> Result<Option<T>, StoreError> {
        match self.engine.get(key.as_bytes())? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| StoreError::Corrupt {
                    key: key.to_string(),
                    message: e.to_string(),
                }),
        }
    }

    fn scan_json<T: for<'de> Deserialize<'de>>(&self, prefix: &str) -> Result<Vec<T>, StoreError> {
        self.engine
            .scan_prefix(prefix.as_bytes(), usize::MAX)?
            .into_iter()
            .map(|(k, v)| {
                serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt {
                    key: String::from_utf8_lossy(&k).into_owned(),
                    message: e.to_string(),
                })
            })
            .collect()
    }
}

/// A group of writes committed together (all or nothing).
pub struct Txn<'a> {
    store: &'a Store,
    batch: Batch,
}

impl Txn<'_> {
    pub fn put_ticket(&mut self, t: &Ticket) {
        self.put_json(format!("t/{}", t.reference), t);
    }

    pub fn put_message(&mut self, m: &MessageRecord) {
        self.put_json(format!("m/{}/{:08}", m.ticket, m.seq), m);
        self.put_json(
            format!("mid/{}", m.message_id),
            &MessageIndex {
                ticket: m.ticket.clone(),
                direction: m.direction,
            },
        );
    }

    /// Indexes a Message-ID without a message record (e.g. a duplicate's second copy).
    pub fn index_message_id(&mut self, message_id: &str, ticket: &str, direction: Direction) {
        self.put_json(
            format!("mid/{message_id}"),
            &MessageIndex {
                ticket: ticket.to_string(),
                direction,
            },
        );
    }

    /// Forgets a Message-ID (so a shelved mail can be processed again).
    pub fn delete_message_index(&mut self, message_id: &str) {
        self.batch.delete(format!("mid/{message_id}"));
    }

    pub fn put_raw(&mut self, message_id: &str, raw: &[u8]) {
        self.batch.put(format!("raw/{message_id}"), raw.to_vec());
    }

    pub fn put_checkpoint(&mut self, desk: &str, cp: Checkpoint) {
        self.put_json(format!("cp/{desk}"), &cp);
    }

    /// Files a ticket in the timer queue at `at` (its next SLA notice).
    pub fn put_timer(&mut self, at: DateTime<Utc>, reference: &str) {
        self.batch.put(timer_key(at, reference), Vec::new());
    }

    pub fn delete_timer(&mut self, at: DateTime<Utc>, reference: &str) {
        self.batch.delete(timer_key(at, reference));
    }

    pub fn put_meta<T: Serialize>(&mut self, name: &str, value: &T) {
        self.put_json(format!("meta/v/{name}"), value);
    }

    pub fn put_acked(&mut self, desk: &str, cp: Checkpoint) {
        self.put_json(format!("ack/{desk}"), &cp);
    }

    pub fn delete_checkpoint(&mut self, desk: &str) {
        self.batch.delete(format!("cp/{desk}"));
    }

    /// Stores an outbox entry (and, the first time, its bytes); keeps the queued marker in step.
    pub fn put_outbox(&mut self, e: &OutboxEntry, bytes: Option<&[u8]>) {
        self.put_json(format!("o/{:016}", e.id), e);
        if let Some(b) = bytes {
            self.batch.put(format!("ob/{:016}", e.id), b.to_vec());
            // A bounce names the mail it reports by Message-ID: find the entry from it.
            self.batch.put(
                format!("omid/{}", e.message_id),
                e.id.to_be_bytes().to_vec(),
            );
        }
        let marker = format!("oq/{:016}", e.id);
        if e.state == OutboxState::Queued {
            self.batch.put(marker, Vec::new());
        } else {
            self.batch.delete(marker);
        }
    }

    pub fn put_recipient(&mut self, email: &str, r: &RecipientRecord) {
        self.put_json(format!("rcpt/{email}"), r);
    }

    pub fn put_sender_history(&mut self, desk: &str, email: &str, times: &[DateTime<Utc>]) {
        self.put_json(format!("snd/{desk}/{email}"), &times);
    }

    /// Keeps a mail on a shelf, with its raw bytes.
    pub fn put_shelved(&mut self, q: &QuarantineEntry, raw: &[u8]) {
        let p = q.shelf.prefix();
        self.put_json(format!("{p}/{:016}", q.id), q);
        self.batch.put(format!("{p}r/{:016}", q.id), raw.to_vec());
    }

    pub fn delete_shelved(&mut self, shelf: Shelf, id: u64) {
        let p = shelf.prefix();
        self.batch.delete(format!("{p}/{id:016}"));
        self.batch.delete(format!("{p}r/{id:016}"));
    }

    /// Reserves the next value of a named counter in this transaction.
    pub fn next_seq(&mut self, name: &str) -> Result<u64, StoreError> {
        let store = self.store;
        store.next_seq(name, self)
    }

    /// Applies every write atomically. Durable after the store's next flush.
    pub fn commit(self) -> Result<(), StoreError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.store.engine.apply(self.batch)
    }

    fn put_json<T: Serialize>(&mut self, key: String, value: &T) {
        // Serialising our own plain structs cannot fail (no maps with non-string keys).
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        self.batch.put(key, bytes);
    }
}

/// Timer keys sort by time: `tmq/<milliseconds since 1970, 20 digits>/<ref>`.
fn timer_key(at: DateTime<Utc>, reference: &str) -> String {
    format!("tmq/{:020}/{reference}", at.timestamp_millis().max(0))
}

fn parse_timer_key(k: &[u8]) -> Option<(DateTime<Utc>, String)> {
    let s = std::str::from_utf8(k).ok()?.strip_prefix("tmq/")?;
    let (ms, reference) = s.split_once('/')?;
    Some((
        DateTime::<Utc>::from_timestamp_millis(ms.parse().ok()?)?,
        reference.to_string(),
    ))
}

#[cfg(test)]
mod contract {
    //! One suite, run against every engine.
    use super::*;
    use crate::core::mail::Address;
    use crate::core::message::MessageKind;

    fn engines() -> Vec<(&'static str, Store, Option<tempfile::TempDir>)> {
        let dir = tempfile::tempdir().expect("tempdir");
        let sled = Store::open(&dir.path().join("store")).expect("open sled");
        vec![("memory", Store::memory(), None), ("sled", sled, Some(dir))]
    }

    fn ticket(reference: &str) -> Ticket {
        let opening = crate::core::ticket::Opening {
            reference: reference.into(),
            desk: "nl",
            language: "en",
            subject: "link down",
            requester: Address::new(None, "jane@acme.example"),
            others: &[],
            message_id: "m1@acme.example",
        };
        Ticket::open(opening, Utc::now())
    }

    #[test]
    fn a_committed_ticket_is_found_by_ref_and_message_id() {
        for (name, store, _dir) in engines() {
            let mut txn = store.txn();
            txn.put_ticket(&ticket("NL-000001"));
            txn.put_message(&MessageRecord {
                ticket: "NL-000001".into(),
                seq: 1,
                message_id: "m1@acme.example".into(),
                direction: Direction::In,
                kind: MessageKind::Customer,
                from: Address::new(None, "jane@acme.example"),
                to: vec![],
                cc: vec![],
                date: Utc::now(),
                subject: "link down".into(),
                text: "hello".into(),
                attachments: vec![],
                desk: "nl".into(),
                outbox_id: None,
                classification: None,
                warnings: vec![],
            });
            txn.commit().expect("commit");
            store.flush().expect("flush");
            assert_eq!(
                store.ticket("NL-000001").expect("get").map(|t| t.subject),
                Some("link down".into()),
                "{name}"
            );
            assert_eq!(
                store
                    .message_index("m1@acme.example")
                    .expect("idx")
                    .map(|i| i.ticket),
                Some("NL-000001".into()),
                "{name}"
            );
            assert_eq!(
                store.messages("NL-000001").expect("msgs").len(),
                1,
                "{name}"
            );
            assert_eq!(store.tickets().expect("list").len(), 1, "{name}");
        }
    }

    #[test]
    fn an_uncommitted_txn_leaves_no_trace() {
        for (name, store, _dir) in engines() {
            let mut txn = store.txn();
            txn.put_ticket(&ticket("NL-000001"));
            drop(txn);
            assert!(store.ticket("NL-000001").expect("get").is_none(), "{name}");
        }
    }

    #[test]
    fn counters_advance_within_and_across_transactions() {
        for (name, store, _dir) in engines() {
            let mut txn = store.txn();
            assert_eq!(txn.next_seq("ticket").expect("seq"), 1, "{name}");
            assert_eq!(txn.next_seq("ticket").expect("seq"), 2, "{name}");
            txn.commit().expect("commit");
            let mut txn = store.txn();
            assert_eq!(txn.next_seq("ticket").expect("seq"), 3, "{name}");
        }
    }

    #[test]
    fn only_queued_and_due_outbox_entries_are_due() {
        for (name, store, _dir) in engines() {
            let now = Utc::now();
            let mut e = OutboxEntry {
                id: 1,
                ticket: None,
                kind: "ack".into(),
                from: "d@x".into(),
                to: vec!["c@y".into()],
                subject: "s".into(),
                message_id: "o1@x".into(),
                state: OutboxState::Queued,
                attempts: 0,
                created_at: now,
                next_attempt_at: now,
                sent_at: None,
                last_error: None,
            };
            let mut txn = store.txn();
            txn.put_outbox(&e, Some(b"bytes"));
            let mut later = e.clone();
            later.id = 2;
            later.next_attempt_at = now + chrono::Duration::hours(1);
            txn.put_outbox(&later, Some(b"bytes2"));
            txn.commit().expect("commit");
            let due: Vec<u64> = store
                .outbox_due(now, 10)
                .expect("due")
                .iter()
                .map(|e| e.id)
                .collect();
            assert_eq!(due, vec![1], "{name}");
            e.state = OutboxState::Sent;
            let mut txn = store.txn();
            txn.put_outbox(&e, None);
            txn.commit().expect("commit");
            assert!(store.outbox_due(now, 10).expect("due").is_empty(), "{name}");
            assert_eq!(
                store.outbox_bytes(1).expect("bytes").as_deref(),
                Some(&b"bytes"[..]),
                "{name}"
            );
            assert_eq!(
                store.outbox_next_due().expect("next"),
                Some(later.next_attempt_at),
                "{name}"
            );
        }
    }

    #[test]
    fn timers_come_due_in_time_order_and_once_deleted_are_gone() {
        for (name, store, _dir) in engines() {
            let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time");
            let mut txn = store.txn();
            txn.put_timer(t0 + chrono::Duration::hours(2), "NL-000002");
            txn.put_timer(t0 + chrono::Duration::hours(1), "NL-000001");
            txn.put_timer(t0 + chrono::Duration::hours(3), "NL-000003");
            txn.commit().expect("commit");
            let due = store
                .due_timers(t0 + chrono::Duration::hours(2))
                .expect("due");
            let refs: Vec<&str> = due.iter().map(|(_, r)| r.as_str()).collect();
            assert_eq!(refs, vec!["NL-000001", "NL-000002"], "{name}");
            let mut txn = store.txn();
            txn.delete_timer(due[0].0, &due[0].1);
            txn.commit().expect("commit");
            assert_eq!(
                store.next_timer().expect("next"),
                Some(t0 + chrono::Duration::hours(2)),
                "{name}"
            );
        }
    }

    #[test]
    fn a_store_of_another_schema_version_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store");
        {
            let engine = SledEngine::open(&path).expect("open");
            let mut b = Batch::default();
            b.put(&b"meta/schema"[..], &b"999"[..]);
            engine.apply(b).expect("apply");
            engine.flush().expect("flush");
        }
        match Store::open(&path) {
            Err(StoreError::Schema { found, .. }) => assert_eq!(found, "999"),
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("a store of schema 999 was opened"),
        }
    }

    #[test]
    fn data_survives_reopening_after_flush() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store");
        {
            let store = Store::open(&path).expect("open");
            let mut txn = store.txn();
            txn.put_checkpoint(
                "nl",
                Checkpoint {
                    uid_validity: 7,
                    last_uid: 42,
                },
            );
            txn.commit().expect("commit");
            store.flush().expect("flush");
        }
        let store = Store::open(&path).expect("reopen");
        assert_eq!(
            store.checkpoint("nl").expect("cp"),
            Some(Checkpoint {
                uid_validity: 7,
                last_uid: 42
            })
        );
    }
}
