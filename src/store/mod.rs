//! The store: tickets, messages, raw mail, checkpoints, outbox and shelves, in domain terms.
//!
//! Everything persistent goes through [`Store`]; below it an [`engine::Engine`] (sled, PostgreSQL,
//! or memory for tests) only sees byte keys, laid out in one place (`keys.rs`). Writes are grouped in a
//! [`Txn`] and committed atomically; a commit is durable only after [`Store::flush`], which the
//! pipeline calls once per fetched batch before telling the mailbox that the batch is done
//! (group commit).
//!
//! This file holds the store itself: opening (schema check in `schema.rs`, crash recovery of the
//! raw-mail log here), transactions, durability, errors and the small per-desk records. The
//! domain records are one file each: [`tickets`](Store::ticket) (and messages, raw mail,
//! timers), [`outbox`](Store::outbox) (and its queue index), [`shelves`](Store::shelf) and
//! [`broadcasts`]; [`blobs`] is the raw-mail log; `contract.rs` is the test suite every engine
//! must pass.
//!
//! The store is an adapter: it may import [`crate::core`] (the records it keeps) and nothing
//! else of the crate: no other adapter (`source`, `outbound`, `render`), nor the pipeline that
//! combines them (`ingest`, `delivery`, `broadcast`, `daemon`, `admin`, `cli`). No engine type
//! (sled's, tokio-postgres's) leaves `engine/`.

pub mod blobs;
pub mod broadcasts;
mod codec;
pub mod engine;
mod keys;
pub mod leases;
mod outbox;
mod round_trips;
mod schema;
mod shelves;
mod tickets;

pub use broadcasts::{NoticeRecord, Subject};
pub use codec::Packed;
pub use outbox::{RecipientRecord, ToSend};
pub use round_trips::MailLookups;
pub use schema::SCHEMA_VERSION;
pub use shelves::{QuarantineEntry, Shelf};
pub use tickets::pack_texts;
pub use tickets::MessageIndex;

use blobs::{BlobLog, BlobRef};
use engine::{Batch, Engine, MemoryEngine, PostgresEngine, SledEngine};

pub use engine::PostgresTarget;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the directory {path} for the store: {message}")]
    Directory { path: String, message: String },
    #[error("cannot open store at {path}: {message}")]
    Open { path: String, message: String },
    /// Another process holds the store's lock (sled: one process per store). Said in one line
    /// with what to do, not with the engine's own error, which is a dump of Rust internals.
    #[error(
        "store {path} is in use by another deskgate (is the daemon running? stop it, or use \
         the CLI, which talks to it)"
    )]
    InUse { path: String },
    #[error("store at {path} has schema version {found}, this deskgate reads version {expected}")]
    Schema {
        path: String,
        found: String,
        expected: u32,
    },
    /// The engine failed; its own error, as text, so no engine type is part of the interface.
    #[error("store engine: {message}")]
    Engine {
        message: String,
        /// The engine says the same call may succeed later (a networked engine's lost
        /// connection); sled never does.
        transient: bool,
    },
    #[error("corrupt record under {key}: {message}")]
    Corrupt { key: String, message: String },
    #[error("raw-mail log {path}: {message}")]
    Blob { path: String, message: String },
    #[error("cannot measure the store at {path}: {message}")]
    Size { path: String, message: String },
    /// A commit made under a lease (a desk, the timers, the broadcasts, the writer) that this
    /// process no longer holds at the epoch it took: another process took the work over, and
    /// this process's view of it is stale. Nothing was written.
    #[error(
        "lease {leases} is no longer this process's (another took it over, or the database \
         could not be reached to take it): nothing committed"
    )]
    Fenced { leases: String },
}

impl StoreError {
    /// Worth retrying the same work after a pause. Only an engine can say so; a store that
    /// cannot open, a wrong schema, a corrupt record or a failing raw-mail log need a person.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Engine {
                transient: true,
                ..
            } | StoreError::Fenced { .. }
        )
    }
}

/// A desk's position in its IMAP mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub uid_validity: u32,
    /// Highest UID whose effects are committed.
    pub last_uid: u32,
}

/// The domain store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    engine: Arc<dyn Engine>,
    /// Serialises read-modify-write sequences (ingest, delivery outcomes) across tasks.
    writer: Arc<std::sync::Mutex<()>>,
    /// How many commits were applied, and how many of them the last flush made durable.
    commits: Arc<Durability>,
    /// Where raw mail goes (sled stores); `None` keeps it inline in the engine (memory,
    /// PostgreSQL).
    blobs: Option<Arc<BlobLog>>,
    /// The store's directory (sled and the raw-mail log); `None` in memory.
    dir: Option<Arc<PathBuf>>,
    /// The leases this process holds on a shared store (`leases.rs`).
    leases: Arc<leases::Leases>,
    /// Counter blocks and reads ahead that spare a shared store's round trips
    /// (`round_trips.rs`).
    round_trips: Arc<round_trips::RoundTrips>,
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
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Directory {
                path: parent.display().to_string(),
                message: e.to_string(),
            })?;
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
            dir: Some(Arc::new(path.to_path_buf())),
            leases: Arc::default(),
            round_trips: Arc::default(),
        };
        store.check_schema(&path.display().to_string())?;
        store.recover_blobs()?;
        Ok(store)
    }

    /// Opens (or creates) a store in a PostgreSQL database and checks its schema version. Raw
    /// mail lives in the database too (there is no log beside it), so every machine that reaches
    /// the database sees the whole store.
    pub fn open_postgres(target: PostgresTarget) -> Result<Store, StoreError> {
        let name = target.describe();
        let store = Store {
            engine: Arc::new(PostgresEngine::open(target)?),
            writer: Arc::default(),
            commits: Arc::default(),
            blobs: None,
            dir: None,
            leases: Arc::default(),
            round_trips: Arc::default(),
        };
        store.check_schema(&name)?;
        Ok(store)
    }

    /// A fresh in-memory store.
    pub fn memory() -> Store {
        let store = Store {
            engine: Arc::new(MemoryEngine::default()),
            writer: Arc::default(),
            commits: Arc::default(),
            blobs: None,
            dir: None,
            leases: Arc::default(),
            round_trips: Arc::default(),
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
            dir: None,
            leases: Arc::default(),
            round_trips: Arc::default(),
        };
        let _ = store.check_schema("test engine");
        store
    }

    /// The bytes the store takes on disk: every file under its directory (0 in memory).
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        fn walk(dir: &Path) -> std::io::Result<u64> {
            let mut total = 0;
            for entry in std::fs::read_dir(dir)? {
                let entry = entry?;
                let meta = entry.metadata()?;
                total += if meta.is_dir() {
                    walk(&entry.path())?
                } else {
                    meta.len()
                };
            }
            Ok(total)
        }
        match &self.dir {
            Some(dir) => walk(dir).map_err(|e| StoreError::Size {
                path: dir.display().to_string(),
                message: e.to_string(),
            }),
            None => Ok(self.engine.stored_bytes()?.unwrap_or(0)),
        }
    }

    /// Takes the writer lock: hold it from the first read of a record to the commit of its new
    /// version, so two tasks never overwrite each other's change. On a shared store it is also
    /// the `writer` lease, so two *processes* never do either: every commit made under it
    /// carries the lease's fence, and is refused if the lease ran out and another process took
    /// it meanwhile.
    pub fn write_lock(&self) -> WriteGuard<'_> {
        let local = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        self.lock_writers();
        WriteGuard {
            store: self,
            _local: local,
        }
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
                keys::BLOBS_PENDING,
                keys::blob_pending(durable.segment, durable.len).as_bytes(),
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
        // The end of a unit of work (a batch, a command): the writer lease is not kept for
        // what may come later, nor held by a command about to exit.
        self.let_unused_writer_go();
        Ok(())
    }

    /// Flushes if anything committed so far is not durable yet. A reader that is about to act
    /// on what it read outside (the delivery, before it sends) calls this, so it never acts on
    /// a record a crash could still take back, whoever committed it.
    pub fn make_durable(&self) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering;
        // The counters see this process's commits only: on a shared store another process may
        // have committed what we read, so the flush is never skipped.
        if self.is_shared()
            || self.commits.durable.load(Ordering::SeqCst)
                < self.commits.applied.load(Ordering::SeqCst)
        {
            self.flush()?;
        }
        Ok(())
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
        let pending = self.engine.scan_prefix(keys::BLOBS_PENDING, usize::MAX)?;
        if pending.is_empty() {
            return Ok(());
        }
        let mut b = Batch::default();
        let mut broken = 0usize;
        for (k, key) in pending {
            b.delete(k.clone());
            let Some(message_id) = keys::message_id_of_raw(&key) else {
                continue;
            };
            let ref_key = keys::raw_ref(message_id);
            let Some(r) = self.engine.get(ref_key.as_bytes())? else {
                continue;
            };
            let Some(r) = BlobRef::decode(&r) else {
                continue;
            };
            if keys::blob_pending(r.segment, r.offset).as_bytes() != k.as_slice() {
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
            for (k, _) in self.engine.scan_prefix(keys::CHECKPOINTS, usize::MAX)? {
                let desk = keys::desk_of_checkpoint(&k);
                match self.engine.get(keys::acked(&desk).as_bytes())? {
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
        self.get_json(&keys::checkpoint(desk))
    }

    /// How far the desk's mailbox has been told which mails are done (`\Seen`, moved).
    pub fn acked(&self, desk: &str) -> Result<Option<Checkpoint>, StoreError> {
        self.get_json(&keys::acked(desk))
    }

    /// This installation's secret (32 random bytes), drawn and made durable the first time it
    /// is asked for: the key of the tags deskgate puts into its Message-IDs.
    pub fn installation_secret(&self) -> Result<Vec<u8>, StoreError> {
        let key = "installation_secret";
        if let Some(hex) = self.meta::<String>(key)? {
            if let Some(secret) = from_hex(&hex) {
                return Ok(secret);
            }
        }
        let secret: [u8; 32] = rand::random();
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let _writer = self.write_lock();
        // Another process starting beside us may have drawn one meanwhile: one secret only.
        if let Some(secret) = self.meta::<String>(key)?.as_deref().and_then(from_hex) {
            return Ok(secret);
        }
        let mut txn = self.txn();
        txn.put_meta(key, &hex);
        txn.commit()?;
        self.flush()?;
        Ok(secret.to_vec())
    }

    /// A small named value (`meta/<name>`), e.g. when handovers were last checked.
    pub fn meta<T: for<'de> Deserialize<'de>>(&self, name: &str) -> Result<Option<T>, StoreError> {
        self.get_json(&keys::meta(name))
    }

    /// The next value of a named counter, reserved in `txn` (committed with it).
    pub fn next_seq(&self, name: &str, txn: &mut Txn<'_>) -> Result<u64, StoreError> {
        let key = keys::seq(name);
        // A shared engine hands out numbers itself, committed at once: two processes never get
        // the same ticket or outbox id, whatever their transactions do (a failed one leaves a
        // gap).
        if let Some(n) = self.reserved_seq(name, key.as_bytes())? {
            return Ok(n);
        }
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

    fn get_json<T: for<'de> Deserialize<'de>>(&self, key: &str) -> Result<Option<T>, StoreError> {
        let value = match self.read_ahead_value(key.as_bytes()) {
            Some(ahead) => ahead,
            None => self.engine.get(key.as_bytes())?,
        };
        value.map(|v| decode_json(key, &v)).transpose()
    }

    fn scan_json<T: for<'de> Deserialize<'de>>(&self, prefix: &str) -> Result<Vec<T>, StoreError> {
        self.engine
            .scan_prefix(prefix.as_bytes(), usize::MAX)?
            .into_iter()
            .map(|(k, v)| decode_json(&String::from_utf8_lossy(&k), &v))
            .collect()
    }
}

/// A record as stored under `key`, read back.
fn decode_json<T: for<'de> Deserialize<'de>>(key: &str, value: &[u8]) -> Result<T, StoreError> {
    let corrupt = |message: String| StoreError::Corrupt {
        key: key.to_string(),
        message,
    };
    let value = codec::unpack(value).map_err(corrupt)?;
    serde_json::from_slice(&value).map_err(|e| corrupt(e.to_string()))
}

/// Bytes stored packed ([`codec::pack_owned`]), as they were given.
fn unpacked(key: &str, value: Vec<u8>) -> Result<Vec<u8>, StoreError> {
    codec::unpack_owned(value).map_err(|message| StoreError::Corrupt {
        key: key.to_string(),
        message,
    })
}

/// The store's writer lock (see [`Store::write_lock`]); released when dropped.
pub struct WriteGuard<'a> {
    store: &'a Store,
    _local: std::sync::MutexGuard<'a, ()>,
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        self.store.forget_read_ahead();
        self.store.unlock_writers();
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
    /// Raw mails to append to the raw-mail log at commit: (Message-ID, packed bytes).
    raw: Vec<(String, codec::Packed)>,
}

impl Txn<'_> {
    /// Moves a desk's checkpoint: only under the desk's lease, when this process asked for it
    /// (so the whole transaction is refused if another process took the desk over).
    pub fn put_checkpoint(&mut self, desk: &str, cp: Checkpoint) {
        self.fence(&leases::desk(desk));
        self.put_json(keys::checkpoint(desk), &cp);
    }

    pub fn delete_checkpoint(&mut self, desk: &str) {
        self.batch.delete(keys::checkpoint(desk));
    }

    pub fn put_acked(&mut self, desk: &str, cp: Checkpoint) {
        self.put_json(keys::acked(desk), &cp);
    }

    pub fn put_meta<T: Serialize>(&mut self, name: &str, value: &T) {
        self.put_json(keys::meta(name), value);
    }

    /// Reserves the next value of a named counter in this transaction.
    pub fn next_seq(&mut self, name: &str) -> Result<u64, StoreError> {
        let store = self.store;
        store.next_seq(name, self)
    }

    /// Applies every write atomically. Durable after the store's next flush.
    pub fn commit(mut self) -> Result<(), StoreError> {
        if !self.seal()? {
            return Ok(());
        }
        self.store.engine.apply(self.batch)?;
        self.store
            .commits
            .applied
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// Commits and makes durable everything committed so far, as [`Txn::commit`] then
    /// [`Store::flush`], but in one round trip on a database server, and keeping the writer
    /// lease for the next commit (it is let go when unused, as ever). For the delivery, which
    /// commits each outcome durably before the next mail's final `.`.
    pub fn commit_durably(mut self) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering;
        let store = self.store;
        // A store with a raw-mail log syncs the log before the engine: the plain way.
        if store.blobs.is_some() {
            self.commit()?;
            return store.flush();
        }
        if self.seal()? {
            store.engine.apply_durably(self.batch)?;
            store.commits.applied.fetch_add(1, Ordering::SeqCst);
        } else {
            store.engine.flush()?;
        }
        let applied = store.commits.applied.load(Ordering::SeqCst);
        store.commits.durable.fetch_max(applied, Ordering::SeqCst);
        Ok(())
    }

    /// Readies the batch to be applied: the raw mail appended to its log, the writer's fence
    /// added. False if there is nothing to apply.
    fn seal(&mut self) -> Result<bool, StoreError> {
        if let Some(err) = self.failed_read.take() {
            return Err(err);
        }
        if let Some(log) = &self.store.blobs {
            for (message_id, raw) in std::mem::take(&mut self.raw) {
                let key = keys::raw(&message_id);
                let r = log
                    .append_packed(key.as_bytes(), raw)
                    .map_err(|e| self.store.blob_error(e))?;
                self.batch.put(keys::raw_ref(&message_id), r.encode());
                self.batch
                    .put(keys::blob_pending(r.segment, r.offset), key.into_bytes());
            }
        }
        if self.batch.is_empty() {
            return Ok(false);
        }
        if let Some(writer) = self.store.commit_fences() {
            self.batch.fences.push(writer);
        }
        self.store.forget_read_ahead();
        Ok(true)
    }

    fn put_json<T: Serialize>(&mut self, key: String, value: &T) {
        let bytes = serde_json::to_vec(value).expect(
            "the store's records are our own plain structs (no map with non-string keys, no \
             Serialize impl that can fail), so they always serialise to JSON",
        );
        self.batch.put(key, codec::pack_owned(bytes));
    }
}

#[doc(hidden)]
pub mod contract;

fn from_hex(s: &str) -> Option<Vec<u8>> {
    (s.len() % 2 == 0 && !s.is_empty())
        .then(|| {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
                .collect::<Option<Vec<u8>>>()
        })
        .flatten()
}

#[cfg(test)]
mod tests {
    //! What only a store on disk can show: reopening, and crashes between flushes.
    use super::*;

    fn cp(last_uid: u32) -> Checkpoint {
        Checkpoint {
            uid_validity: 1,
            last_uid,
        }
    }

    #[test]
    fn a_store_whose_directory_cannot_be_made_says_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"not a directory").expect("write");
        match Store::open(&file.join("var").join("store")) {
            Err(StoreError::Directory { path, .. }) => {
                assert_eq!(path, file.join("var").display().to_string())
            }
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("a store was opened below a file"),
        }
    }

    #[test]
    fn only_an_engine_that_says_so_makes_an_error_transient() {
        let engine = |transient| StoreError::Engine {
            message: "connection reset".into(),
            transient,
        };
        assert!(engine(true).is_transient());
        assert!(!engine(false).is_transient());
        let corrupt = StoreError::Corrupt {
            key: "t/NL-1".into(),
            message: "eof".into(),
        };
        assert!(!corrupt.is_transient());
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
                .scan_prefix(keys::BLOBS_PENDING, 10)
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
