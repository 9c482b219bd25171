//! The store: tickets, messages, raw mail, checkpoints, outbox and quarantine, in domain terms.
//!
//! Everything persistent goes through [`Store`]; below it an [`engine::Engine`] (sled, or memory
//! for tests) only sees byte keys. Writes are grouped in a [`Txn`] and committed atomically; a
//! commit is durable only after [`Store::flush`], which the pipeline calls once per fetched batch
//! before telling the mailbox that the batch is done (group commit).
//!
//! Key layout (one ordered key space):
//! `meta/schema`, `meta/seq/<name>` · `t/<ref>` ticket · `m/<ref>/<seq:08>` message ·
//! `mid/<message-id>` → ticket · `rawref/<message-id>` → where the raw mail is in the raw-mail
//! log ([`blobs`]; `raw/<message-id>` holds it inline in stores on the memory engine and in
//! stores written before the log) · `bref/<segment>/<offset>` raw mail not yet known durable · `cp/<desk>` checkpoint · `tmq/<ms>/<ref>` timer queue · `meta/v/<name>` small values · `ack/<desk>` acknowledged up to ·
//! `o/<id:016>` outbox entry · `ob/<id:016>` its bytes · `oq/<due ms:020>/<id:016>` queue
//! index (queued entries only, in the order they come due) ·
//! `omid/<message-id>` → outbox id · `rcpt/<email>` recipient record · `snd/<desk>/<email>` recent mail ·
//! `q/<id:016>`, `qr/<id:016>` quarantined mail and its bytes · `a/`, `ar/` mail kept aside ·
//! `mnt/`, `inc/`, `bn/`, `bs/` maintenance, incidents and their notices (see [`broadcasts`]).

pub mod blobs;
pub mod broadcasts;
pub mod engine;

pub use broadcasts::{NoticeRecord, Subject};

use crate::core::service::message::{Direction, MessageRecord};
use crate::core::service::outbox::{OutboxEntry, OutboxState};
use crate::core::service::ticket::Ticket;
use blobs::{BlobLog, BlobRef};
use chrono::{DateTime, Utc};
use engine::{Batch, Engine, MemoryEngine, SledEngine};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// The on-disk layout version. Bump it when keys or records change incompatibly, and teach
/// `Store::migrate` the step from the previous one.
///
/// 2: the outbox queue marker `oq/<id>` became the time-ordered `oq/<due ms>/<id>`.
pub const SCHEMA_VERSION: u32 = 2;

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
    #[error("raw-mail log {path}: {message}")]
    Blob { path: String, message: String },
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
    /// How many commits were applied, and how many of them the last flush made durable.
    commits: Arc<Durability>,
    /// Where raw mail goes (sled stores); `None` keeps it inline in the engine.
    blobs: Option<Arc<BlobLog>>,
}

/// Commit and flush counters, so a reader can tell whether what it read is durable yet.
#[derive(Debug, Default)]
struct Durability {
    applied: std::sync::atomic::AtomicU64,
    durable: std::sync::atomic::AtomicU64,
}

impl Store {
    /// Opens (or creates) a sled store and checks its schema version.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let engine = Arc::new(SledEngine::open(path)?);
        let blob_dir = path.join("raw-mail");
        let blobs = BlobLog::open(&blob_dir).map_err(|e| StoreError::Blob {
            path: blob_dir.display().to_string(),
            message: e.to_string(),
        })?;
        let store = Store {
            engine,
            writer: Arc::default(),
            commits: Arc::default(),
            blobs: Some(Arc::new(blobs)),
        };
        store.check_schema(&path.display().to_string())?;
        store.recover_blobs()?;
        Ok(store)
    }

    /// A fresh in-memory store.
    pub fn memory() -> Store {
        let store = Store {
            engine: Arc::new(MemoryEngine::default()),
            writer: Arc::default(),
            commits: Arc::default(),
            blobs: None,
        };
        // A new memory store cannot hold a wrong schema.
        let _ = store.check_schema("memory");
        store
    }

    /// A store on a given engine: for tests that watch what the engine makes durable.
    #[cfg(test)]
    pub(crate) fn with_engine(engine: Arc<dyn Engine>) -> Store {
        let store = Store {
            engine,
            writer: Arc::default(),
            commits: Arc::default(),
            blobs: None,
        };
        let _ = store.check_schema("test engine");
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
            Some(v) if v == b"1" => self.migrate_from_v1(),
            Some(v) => Err(StoreError::Schema {
                path: path.to_string(),
                found: String::from_utf8_lossy(&v).into_owned(),
                expected: SCHEMA_VERSION,
            }),
        }
    }

    /// Schema 1 → 2: every `oq/<id>` marker becomes `oq/<due ms>/<id>` (or goes, when its entry
    /// is no longer queued), and the version changes, in one atomic batch made durable before
    /// the store is used.
    fn migrate_from_v1(&self) -> Result<(), StoreError> {
        let mut b = Batch::default();
        let mut moved = 0usize;
        for (k, _) in self.engine.scan_prefix(b"oq/", usize::MAX)? {
            let Some(id) = std::str::from_utf8(&k[3..])
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            b.delete(k);
            if let Some(e) = self.outbox_entry(id)? {
                if e.state == OutboxState::Queued {
                    b.put(outbox_marker(e.next_attempt_at, e.id), Vec::new());
                    moved += 1;
                }
            }
        }
        b.put(&b"meta/schema"[..], SCHEMA_VERSION.to_string());
        self.engine.apply(b)?;
        self.engine.flush()?;
        tracing::info!(
            queued = moved,
            "store migrated from schema 1 to 2 (time-ordered outbox queue)"
        );
        Ok(())
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
            raw: Vec::new(),
            outbox_markers: HashMap::new(),
            failed_read: None,
        }
    }

    /// Makes every commit so far durable: the raw mail they refer to first, then the engine.
    pub fn flush(&self) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering;
        let applied = self.commits.applied.load(Ordering::SeqCst);
        if let Some(log) = &self.blobs {
            let durable = log.sync().map_err(|e| self.blob_error(e))?;
            // Raw mail up to here is durable: it needs no checking after a crash any more.
            let mut b = Batch::default();
            for (k, _) in self.engine.scan_range(
                b"bref/",
                bref_key(durable.segment, durable.len).as_bytes(),
                usize::MAX,
            )? {
                b.delete(k);
            }
            if !b.is_empty() {
                self.engine.apply(b)?;
            }
        }
        self.engine.flush()?;
        self.commits.durable.fetch_max(applied, Ordering::SeqCst);
        Ok(())
    }

    /// Flushes if anything committed so far is not durable yet. A reader that is about to act
    /// on what it read outside (the delivery, before it sends) calls this, so it never acts on
    /// a record a crash could still take back, whoever committed it.
    pub fn make_durable(&self) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering;
        if self.commits.durable.load(Ordering::SeqCst) < self.commits.applied.load(Ordering::SeqCst)
        {
            self.flush()?;
        }
        Ok(())
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

    /// The raw mail with this Message-ID, as it came in; `None` when it was never kept, or
    /// when a crash took its bytes (see [`Store::recover_blobs`]).
    pub fn raw(&self, message_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(log) = &self.blobs {
            if let Some(r) = self.engine.get(format!("rawref/{message_id}").as_bytes())? {
                let Some(r) = BlobRef::decode(&r) else {
                    return Err(StoreError::Corrupt {
                        key: format!("rawref/{message_id}"),
                        message: "not a raw-mail reference".into(),
                    });
                };
                return log
                    .read(r, format!("raw/{message_id}").as_bytes())
                    .map_err(|e| self.blob_error(e));
            }
        }
        self.engine.get(format!("raw/{message_id}").as_bytes())
    }

    fn blob_error(&self, e: std::io::Error) -> StoreError {
        StoreError::Blob {
            path: "raw-mail".into(),
            message: e.to_string(),
        }
    }

    /// After a crash: checks the raw mail committed since the last flush (its `bref/` entries).
    ///
    /// A process crash cannot break any (bytes are written before their reference), but a
    /// power loss can have taken bytes the engine's own timer had already made it persist a
    /// reference to. Such a mail's effects are committed, but its raw bytes are gone; it was
    /// not acknowledged to its mailbox (that waits for a flush), so every desk's checkpoint goes
    /// back to what the mailbox was told: those mails are fetched again, found to be
    /// duplicates, and their raw bytes kept again (see ingest's duplicate check).
    fn recover_blobs(&self) -> Result<(), StoreError> {
        let Some(log) = &self.blobs else {
            return Ok(());
        };
        let pending = self.engine.scan_prefix(b"bref/", usize::MAX)?;
        if pending.is_empty() {
            return Ok(());
        }
        let mut b = Batch::default();
        let mut broken = 0usize;
        for (k, key) in pending {
            b.delete(k.clone());
            let Some(message_id) = std::str::from_utf8(&key)
                .ok()
                .and_then(|k| k.strip_prefix("raw/"))
            else {
                continue;
            };
            let ref_key = format!("rawref/{message_id}");
            let Some(r) = self.engine.get(ref_key.as_bytes())? else {
                continue;
            };
            let Some(r) = BlobRef::decode(&r) else {
                continue;
            };
            if bref_key(r.segment, r.offset).as_bytes() != k.as_slice() {
                // Written again since (a retried mail): the newer reference is checked itself.
                continue;
            }
            if log.read(r, &key).map_err(|e| self.blob_error(e))?.is_none() {
                tracing::warn!(
                    message_id,
                    "raw mail lost in a crash; it will be fetched again"
                );
                b.delete(ref_key.into_bytes());
                broken += 1;
            }
        }
        if broken > 0 {
            for (k, _) in self.engine.scan_prefix(b"cp/", usize::MAX)? {
                let desk = String::from_utf8_lossy(&k[3..]).into_owned();
                match self.engine.get(format!("ack/{desk}").as_bytes())? {
                    Some(acked) => b.put(k, acked),
                    None => b.delete(k),
                }
                tracing::warn!(
                    desk,
                    "desk goes back to the last mail its mailbox was told of"
                );
            }
        }
        self.engine.apply(b)?;
        self.flush()
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

    /// Queued entries whose next attempt is due at `now`, in the order they came due (then by
    /// id), at most `limit`. Reads the queue index only up to `now`: entries due later and
    /// entries no longer queued cost nothing.
    pub fn outbox_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.outbox_due_from(b"oq/".to_vec(), now, limit)
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
        let mut start = outbox_marker(previous.next_attempt_at, previous.id).into_bytes();
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
        let end = format!(
            "oq/{:020}/",
            now.timestamp_millis().max(0).saturating_add(1)
        );
        let mut due = Vec::new();
        // Pages of markers, in case some are stale (see `queued_at_marker`).
        while due.len() < limit {
            let wanted = (limit - due.len()).min(1024);
            let page = self.engine.scan_range(&start, end.as_bytes(), wanted)?;
            for (k, _) in &page {
                if let Some(e) = self.queued_at_marker(k)? {
                    due.push(e);
                }
            }
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
        let mut start = b"oq/".to_vec();
        loop {
            let first = self.engine.scan_range(&start, b"oq0", 1)?;
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

    /// The entry a queue marker points to, if it is still queued for that time. A marker left
    /// behind by two unlocked writers of one entry (the writer lock prevents it) is skipped
    /// rather than sending the entry early or twice.
    fn queued_at_marker(&self, key: &[u8]) -> Result<Option<OutboxEntry>, StoreError> {
        let Some(id) = std::str::from_utf8(key)
            .ok()
            .and_then(|s| s.rsplit_once('/'))
            .and_then(|(_, id)| id.parse::<u64>().ok())
        else {
            return Ok(None);
        };
        Ok(self.outbox_entry(id)?.filter(|e| {
            e.state == OutboxState::Queued
                && outbox_marker(e.next_attempt_at, e.id).as_bytes() == key
        }))
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
    /// The queue marker each outbox entry written in this transaction now has (`None`: none),
    /// so a second write of the same entry removes the first one's marker.
    outbox_markers: HashMap<u64, Option<String>>,
    /// A read this transaction needed failed: committing it would leave the store inconsistent.
    failed_read: Option<StoreError>,
    /// Raw mails to append to the raw-mail log at commit: (Message-ID, bytes).
    raw: Vec<(String, Vec<u8>)>,
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

    /// Keeps a mail's raw bytes: in the raw-mail log when the store has one (appended at
    /// commit, before the engine's batch), else inline.
    pub fn put_raw(&mut self, message_id: &str, raw: &[u8]) {
        match self.store.blobs {
            Some(_) => self.raw.push((message_id.to_string(), raw.to_vec())),
            None => self.batch.put(format!("raw/{message_id}"), raw.to_vec()),
        }
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

    /// Stores an outbox entry (and, the first time, its bytes), and keeps the queue index in
    /// step: the entry's previous marker (from the stored version, or from an earlier write in
    /// this transaction) is removed, and a queued entry gets one at its `next_attempt_at`.
    /// Callers need not know the previous state; a failure to read it fails the commit.
    pub fn put_outbox(&mut self, e: &OutboxEntry, bytes: Option<&[u8]>) {
        let previous = match self.outbox_markers.get(&e.id) {
            Some(marker) => marker.clone(),
            None => match self.store.outbox_entry(e.id) {
                Ok(stored) => stored
                    .filter(|p| p.state == OutboxState::Queued)
                    .map(|p| outbox_marker(p.next_attempt_at, p.id)),
                Err(err) => {
                    self.failed_read.get_or_insert(err);
                    None
                }
            },
        };
        self.put_json(format!("o/{:016}", e.id), e);
        if let Some(b) = bytes {
            self.batch.put(format!("ob/{:016}", e.id), b.to_vec());
            // A bounce names the mail it reports by Message-ID: find the entry from it.
            self.batch.put(
                format!("omid/{}", e.message_id),
                e.id.to_be_bytes().to_vec(),
            );
        }
        let marker =
            (e.state == OutboxState::Queued).then(|| outbox_marker(e.next_attempt_at, e.id));
        if let Some(old) = previous.filter(|old| Some(old) != marker.as_ref()) {
            self.batch.delete(old);
        }
        if let Some(new) = &marker {
            self.batch.put(new.clone(), Vec::new());
        }
        self.outbox_markers.insert(e.id, marker);
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
    pub fn commit(mut self) -> Result<(), StoreError> {
        if let Some(err) = self.failed_read {
            return Err(err);
        }
        if let Some(log) = &self.store.blobs {
            for (message_id, raw) in std::mem::take(&mut self.raw) {
                let key = format!("raw/{message_id}");
                let r = log
                    .append(key.as_bytes(), &raw)
                    .map_err(|e| self.store.blob_error(e))?;
                self.batch.put(format!("rawref/{message_id}"), r.encode());
                self.batch
                    .put(bref_key(r.segment, r.offset), key.into_bytes());
            }
        }
        if self.batch.is_empty() {
            return Ok(());
        }
        self.store.engine.apply(self.batch)?;
        self.store
            .commits
            .applied
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    fn put_json<T: Serialize>(&mut self, key: String, value: &T) {
        // Serialising our own plain structs cannot fail (no maps with non-string keys).
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        self.batch.put(key, bytes);
    }
}

/// Raw mail not yet known durable, by where it is: `bref/<segment:08>/<offset:016>`.
fn bref_key(segment: u32, offset: u64) -> String {
    format!("bref/{segment:08}/{offset:016}")
}

/// Outbox queue markers sort by due time, then id: `oq/<ms since 1970, 20 digits>/<id:016>`.
fn outbox_marker(due: DateTime<Utc>, id: u64) -> String {
    format!("oq/{:020}/{id:016}", due.timestamp_millis().max(0))
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
    use crate::core::address::Address;
    use crate::core::service::message::MessageKind;

    fn engines() -> Vec<(&'static str, Store, Option<tempfile::TempDir>)> {
        let dir = tempfile::tempdir().expect("tempdir");
        let sled = Store::open(&dir.path().join("store")).expect("open sled");
        vec![("memory", Store::memory(), None), ("sled", sled, Some(dir))]
    }

    fn ticket(reference: &str) -> Ticket {
        let opening = crate::core::service::ticket::Opening {
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

    fn outbox_entry(id: u64, due: DateTime<Utc>) -> OutboxEntry {
        OutboxEntry {
            id,
            ticket: None,
            kind: "ack".into(),
            from: "d@x".into(),
            to: vec!["c@y".into()],
            subject: "s".into(),
            message_id: format!("o{id}@x"),
            state: OutboxState::Queued,
            attempts: 0,
            created_at: due,
            next_attempt_at: due,
            sent_at: None,
            last_error: None,
        }
    }

    fn ids(entries: &[OutboxEntry]) -> Vec<u64> {
        entries.iter().map(|e| e.id).collect()
    }

    /// The raw queue index, to check that no marker is left behind.
    fn queue_markers(store: &Store) -> Vec<String> {
        store
            .engine
            .scan_prefix(b"oq/", usize::MAX)
            .expect("scan")
            .into_iter()
            .map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
            .collect()
    }

    #[test]
    fn outbox_entries_come_due_in_due_time_order_then_by_id() {
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time");
        let minutes = chrono::Duration::minutes;
        for (name, store, _dir) in engines() {
            let mut txn = store.txn();
            // Ids and due times deliberately in different orders.
            for (id, due) in [
                (1, t0 + minutes(3)),
                (2, t0 + minutes(1)),
                (3, t0 + minutes(2)),
                (4, t0 + minutes(1)),
                (5, t0 + minutes(9)),
            ] {
                txn.put_outbox(&outbox_entry(id, due), Some(b"bytes"));
            }
            txn.commit().expect("commit");
            let due = store.outbox_due(t0 + minutes(3), 10).expect("due");
            assert_eq!(ids(&due), vec![2, 4, 3, 1], "{name}");
            assert_eq!(
                ids(&store.outbox_due(t0 + minutes(3), 2).expect("due")),
                vec![2, 4],
                "{name}: at most the limit"
            );
            assert!(
                store.outbox_due(t0, 10).expect("due").is_empty(),
                "{name}: nothing is due before its time"
            );
            let page = store
                .outbox_due_after(&due[1], t0 + minutes(3), 10)
                .expect("page");
            assert_eq!(ids(&page), vec![3, 1], "{name}: the page after entry 4");
            assert_eq!(
                store.outbox_next_due().expect("next"),
                Some(t0 + minutes(1)),
                "{name}"
            );
        }
    }

    #[test]
    fn a_retry_moves_the_queue_marker_and_sending_removes_it() {
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time");
        for (name, store, _dir) in engines() {
            let mut e = outbox_entry(7, t0);
            let mut txn = store.txn();
            txn.put_outbox(&e, Some(b"bytes"));
            txn.commit().expect("commit");
            let policy = crate::core::service::outbox::RetryPolicy {
                initial: chrono::Duration::seconds(30),
                max: chrono::Duration::seconds(3600),
                max_attempts: 5,
            };
            e.record(
                crate::core::service::outbox::Attempt::Transient("421 busy".into()),
                &policy,
                t0,
            );
            let mut txn = store.txn();
            txn.put_outbox(&e, None);
            txn.commit().expect("commit");
            assert!(
                store.outbox_due(t0, 10).expect("due").is_empty(),
                "{name}: not due again before the backoff"
            );
            assert_eq!(
                store.outbox_next_due().expect("next"),
                Some(t0 + chrono::Duration::seconds(30)),
                "{name}"
            );
            assert_eq!(queue_markers(&store).len(), 1, "{name}: one marker");
            let due = store
                .outbox_due(t0 + chrono::Duration::seconds(30), 10)
                .expect("due");
            assert_eq!(ids(&due), vec![7], "{name}");
            e.record(crate::core::service::outbox::Attempt::Sent, &policy, t0);
            let mut txn = store.txn();
            txn.put_outbox(&e, None);
            txn.commit().expect("commit");
            assert!(queue_markers(&store).is_empty(), "{name}: sent, not queued");
            assert_eq!(store.outbox_next_due().expect("next"), None, "{name}");
        }
    }

    #[test]
    fn an_entry_written_twice_in_one_transaction_keeps_one_marker() {
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time");
        for (name, store, _dir) in engines() {
            let mut e = outbox_entry(3, t0);
            let mut txn = store.txn();
            txn.put_outbox(&e, Some(b"bytes"));
            e.next_attempt_at = t0 + chrono::Duration::hours(1);
            txn.put_outbox(&e, None);
            txn.commit().expect("commit");
            assert_eq!(queue_markers(&store).len(), 1, "{name}");
            assert_eq!(
                store.outbox_next_due().expect("next"),
                Some(e.next_attempt_at),
                "{name}"
            );
        }
    }

    #[test]
    fn a_schema_1_store_gets_a_time_ordered_outbox_queue_at_open() {
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store");
        {
            // The layout deskgate wrote before: `oq/<id>` markers, schema 1.
            let engine = SledEngine::open(&path).expect("open");
            let mut b = Batch::default();
            b.put(&b"meta/schema"[..], &b"1"[..]);
            let mut sent = outbox_entry(3, t0);
            sent.state = OutboxState::Sent;
            for e in [
                outbox_entry(1, t0 + chrono::Duration::minutes(5)),
                outbox_entry(2, t0),
                sent,
            ] {
                b.put(
                    format!("o/{:016}", e.id),
                    serde_json::to_vec(&e).expect("json"),
                );
                b.put(format!("ob/{:016}", e.id), &b"bytes"[..]);
                // Schema 1 left the marker of a sent entry only after a crash; it must go.
                b.put(format!("oq/{:016}", e.id), Vec::new());
            }
            engine.apply(b).expect("apply");
            engine.flush().expect("flush");
        }
        {
            let store = Store::open(&path).expect("open migrates");
            let due = store
                .outbox_due(t0 + chrono::Duration::hours(1), 10)
                .expect("due");
            assert_eq!(ids(&due), vec![2, 1]);
            assert_eq!(store.outbox_next_due().expect("next"), Some(t0));
            assert_eq!(queue_markers(&store).len(), 2, "old markers are gone");
        }
        // Durable, and opening again is a no-op.
        let store = Store::open(&path).expect("reopen");
        assert_eq!(
            store.engine.get(b"meta/schema").expect("get").as_deref(),
            Some(SCHEMA_VERSION.to_string().as_bytes())
        );
        assert_eq!(queue_markers(&store).len(), 2);
    }

    #[test]
    fn only_queued_and_due_outbox_entries_are_due() {
        for (name, store, _dir) in engines() {
            let now = Utc::now();
            let mut e = outbox_entry(1, now);
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

    #[test]
    fn raw_mail_reads_back_on_every_engine_and_after_reopening() {
        for (name, store, dir) in engines() {
            let mut txn = store.txn();
            txn.put_raw("a@acme.example", b"From: a\r\n\r\nhello");
            txn.commit().expect("commit");
            store.flush().expect("flush");
            assert_eq!(
                store.raw("a@acme.example").expect("raw").as_deref(),
                Some(&b"From: a\r\n\r\nhello"[..]),
                "{name}"
            );
            assert_eq!(store.raw("b@acme.example").expect("raw"), None, "{name}");
            if let Some(dir) = dir {
                drop(store);
                let store = Store::open(&dir.path().join("store")).expect("reopen");
                assert_eq!(
                    store.raw("a@acme.example").expect("raw").as_deref(),
                    Some(&b"From: a\r\n\r\nhello"[..])
                );
            }
        }
    }

    fn cp(last_uid: u32) -> Checkpoint {
        Checkpoint {
            uid_validity: 1,
            last_uid,
        }
    }

    /// Commits mail A and flushes, then commits mail B (checkpoint 6) that only the engine's
    /// own timer persists (as sled's does every second). Returns the store's path and the
    /// raw-mail segment's length at the flush.
    fn crash_after_an_unflushed_commit(dir: &Path) -> (std::path::PathBuf, u64) {
        let path = dir.join("store");
        let store = Store::open(&path).expect("open");
        let mut txn = store.txn();
        txn.put_raw("a@acme.example", b"mail A");
        txn.put_checkpoint("nl", cp(5));
        txn.put_acked("nl", cp(5));
        txn.commit().expect("commit");
        store.flush().expect("flush");
        let segment = path.join("raw-mail/00000001.seg");
        let flushed = std::fs::metadata(&segment).expect("segment").len();
        let mut txn = store.txn();
        txn.put_raw("b@acme.example", b"mail B");
        txn.put_checkpoint("nl", cp(6));
        txn.commit().expect("commit");
        store
            .engine
            .flush()
            .expect("the engine persists on its own");
        (path, flushed)
    }

    #[test]
    fn after_a_process_crash_unflushed_raw_mail_is_still_there() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, _) = crash_after_an_unflushed_commit(dir.path());
        let store = Store::open(&path).expect("reopen");
        assert_eq!(
            store.raw("b@acme.example").expect("raw").as_deref(),
            Some(&b"mail B"[..])
        );
        assert_eq!(store.checkpoint("nl").expect("cp"), Some(cp(6)));
        assert!(
            store
                .engine
                .scan_prefix(b"bref/", 10)
                .expect("scan")
                .is_empty(),
            "checked once, not at every open"
        );
    }

    #[test]
    fn raw_mail_lost_in_a_power_cut_sends_the_desk_back_to_what_its_mailbox_was_told() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, flushed) = crash_after_an_unflushed_commit(dir.path());
        // The disk never got the bytes written after the flush; the engine's reference did.
        std::fs::OpenOptions::new()
            .write(true)
            .open(path.join("raw-mail/00000001.seg"))
            .expect("segment")
            .set_len(flushed)
            .expect("truncate");
        let store = Store::open(&path).expect("reopen");
        assert_eq!(
            store.raw("a@acme.example").expect("raw").as_deref(),
            Some(&b"mail A"[..]),
            "flushed before the cut"
        );
        assert_eq!(store.raw("b@acme.example").expect("raw"), None);
        assert_eq!(
            store.checkpoint("nl").expect("cp"),
            Some(cp(5)),
            "mail B is fetched again (its mailbox was never told it was done)"
        );
        // Fetched again, its bytes are kept again.
        let mut txn = store.txn();
        txn.put_raw("b@acme.example", b"mail B");
        txn.commit().expect("commit");
        assert_eq!(
            store.raw("b@acme.example").expect("raw").as_deref(),
            Some(&b"mail B"[..])
        );
    }
}
