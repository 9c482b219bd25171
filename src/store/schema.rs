//! The on-disk layout version: checked when a store opens, and the migrations from older ones.
//!
//! A store of an unknown version is refused rather than read wrongly; a known older one is
//! migrated in one atomic batch, made durable before the store is used.

use super::engine::Batch;
use super::{keys, Store, StoreError};
use crate::core::service::outbox::OutboxState;

/// The on-disk layout version. Bump it when keys or records change incompatibly, and teach
/// `Store::check_schema` the step from the previous one.
///
/// 2: the outbox queue marker `oq/<id>` became the time-ordered `oq/<due ms>/<id>`.
/// 3: values may be packed with zstd (`\0ZS1`, `codec.rs`) and message records split into head
/// and texts (`\0MSG`, `tickets.rs`). Nothing is rewritten: the step is there so that a deskgate
/// that cannot read them refuses the store at open, by its version, rather than failing on
/// the first such record.
pub const SCHEMA_VERSION: u32 = 3;

impl Store {
    /// Writes the version into a new store, migrates an older one, refuses any other. `path`
    /// names the store in the error.
    pub(super) fn check_schema(&self, path: &str) -> Result<(), StoreError> {
        match self.engine.get(keys::SCHEMA)? {
            None => {
                let mut b = Batch::default();
                b.put(keys::SCHEMA, SCHEMA_VERSION.to_string());
                self.engine.apply(b)?;
                self.engine.flush()
            }
            Some(v) if v == SCHEMA_VERSION.to_string().as_bytes() => Ok(()),
            Some(v) if v == b"1" => self.migrate_from_v1(),
            Some(v) if v == b"2" => self.migrate_from_v2(),
            Some(v) => Err(StoreError::Schema {
                path: path.to_string(),
                found: String::from_utf8_lossy(&v).into_owned(),
                expected: SCHEMA_VERSION,
            }),
        }
    }

    /// Schema 2 → 3: the version only (every value of schema 2 reads as it was).
    fn migrate_from_v2(&self) -> Result<(), StoreError> {
        let mut b = Batch::default();
        b.put(keys::SCHEMA, SCHEMA_VERSION.to_string());
        self.engine.apply(b)?;
        self.engine.flush()?;
        tracing::info!("store migrated from schema 2 to 3 (zstd-packed values)");
        Ok(())
    }

    /// Schema 1 → 3 (by way of 2: nothing else changes): every `oq/<id>` marker becomes
    /// `oq/<due ms>/<id>` (or goes, when its entry is no longer queued), and the version
    /// changes, in one atomic batch made durable before the store is used.
    fn migrate_from_v1(&self) -> Result<(), StoreError> {
        let mut b = Batch::default();
        let mut moved = 0usize;
        for (k, _) in self.engine.scan_prefix(keys::OUTBOX_QUEUE, usize::MAX)? {
            let Some(id) = keys::id_of_outbox_marker_v1(&k) else {
                continue;
            };
            b.delete(k);
            if let Some(e) = self.outbox_entry(id)? {
                if e.state == OutboxState::Queued {
                    b.put(keys::outbox_marker(e.next_attempt_at, e.id), Vec::new());
                    moved += 1;
                }
            }
        }
        b.put(keys::SCHEMA, SCHEMA_VERSION.to_string());
        self.engine.apply(b)?;
        self.engine.flush()?;
        tracing::info!(
            queued = moved,
            "store migrated from schema 1 to 3 (time-ordered outbox queue, zstd-packed values)"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::service::outbox::OutboxEntry;
    use crate::store::contract::{ids, outbox_entry, queue_markers};
    use crate::store::engine::{Engine, SledEngine};
    use chrono::{DateTime, Utc};

    #[test]
    fn a_schema_2_store_with_lz4_values_opens_as_schema_3_and_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store");
        let note = "Remote hands booked for rack 0412, AM11. ".repeat(20);
        {
            // What the stop before wrote: schema 2, a record packed with LZ4.
            let engine = SledEngine::open(&path).expect("open");
            let json = serde_json::to_vec(&note).expect("json");
            let mut packed = b"\0LZ4".to_vec();
            packed.extend_from_slice(&(json.len() as u32).to_be_bytes());
            packed.extend_from_slice(&lz4_flex::block::compress(&json));
            let mut b = Batch::default();
            b.put(keys::SCHEMA, &b"2"[..]);
            b.put(keys::meta("handover_note"), packed);
            engine.apply(b).expect("apply");
            engine.flush().expect("flush");
        }
        let store = Store::open(&path).expect("open migrates");
        assert_eq!(
            store.engine.get(keys::SCHEMA).expect("get").as_deref(),
            Some(&b"3"[..])
        );
        assert_eq!(
            store.meta::<String>("handover_note").expect("meta"),
            Some(note)
        );
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
            b.put(keys::SCHEMA, &b"1"[..]);
            let mut sent = outbox_entry(3, t0);
            sent.state = OutboxState::Sent;
            let entries: [OutboxEntry; 3] = [
                outbox_entry(1, t0 + chrono::Duration::minutes(5)),
                outbox_entry(2, t0),
                sent,
            ];
            for e in entries {
                b.put(keys::outbox(e.id), serde_json::to_vec(&e).expect("json"));
                b.put(keys::outbox_bytes(e.id), &b"bytes"[..]);
                // Schema 1 left the marker of a sent entry only after a crash; it must go.
                b.put(keys::outbox_marker_v1(e.id), Vec::new());
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
            store.engine.get(keys::SCHEMA).expect("get").as_deref(),
            Some(SCHEMA_VERSION.to_string().as_bytes())
        );
        assert_eq!(queue_markers(&store).len(), 2);
    }

    #[test]
    fn a_store_of_another_schema_version_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store");
        {
            let engine = SledEngine::open(&path).expect("open");
            let mut b = Batch::default();
            b.put(keys::SCHEMA, &b"999"[..]);
            engine.apply(b).expect("apply");
            engine.flush().expect("flush");
        }
        match Store::open(&path) {
            Err(StoreError::Schema { found, .. }) => assert_eq!(found, "999"),
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("a store of schema 999 was opened"),
        }
    }
}
