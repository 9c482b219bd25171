//! The store's contract: one suite, run against every engine, so an engine is correct when it
//! passes it. Memory and sled run it as unit tests (one test per check, below); an engine that
//! needs a server runs [`run`] from an integration test that starts one (PostgreSQL:
//! `tests/store_postgres.rs`). Hence public, and hidden from the docs. A new check is one more
//! name in `checks!`.

use super::*;
use crate::core::address::Address;
use crate::core::service::message::{Direction, MessageKind, MessageRecord};
use crate::core::service::outbox::{OutboxEntry, OutboxState};
use crate::core::service::ticket::Ticket;
use chrono::{DateTime, Utc};

/// An engine under test.
pub trait Subject {
    /// The engine's name, in failure messages.
    fn name(&self) -> &str;
    /// An empty store for the check `label`.
    fn open(&self, label: &str) -> Store;
    /// The store of check `label` opened again (after the first one was dropped), when the
    /// engine keeps data across opening; `None` for memory.
    fn reopen(&self, label: &str) -> Option<Store>;
}

/// One check of the contract, given the engine and the check's own label.
pub type Check = fn(&dyn Subject, &str);

/// Declares the checks: the [`CHECKS`] list, and a unit test per check on memory and sled.
macro_rules! checks {
    ($($check:ident),* $(,)?) => {
        /// Every check, by name.
        pub const CHECKS: &[(&str, Check)] = &[$((stringify!($check), $check)),*];

        #[cfg(test)]
        mod on_memory_and_sled {
            $(
                #[test]
                fn $check() {
                    super::tests::on_memory_and_sled(stringify!($check), super::$check);
                }
            )*
        }
    };
}

checks!(
    a_committed_ticket_is_found_by_ref_and_message_id,
    an_uncommitted_txn_leaves_no_trace,
    counters_advance_within_and_across_transactions,
    outbox_entries_come_due_in_due_time_order_then_by_id,
    a_retry_moves_the_queue_marker_and_sending_removes_it,
    an_entry_written_twice_in_one_transaction_keeps_one_marker,
    only_queued_and_due_outbox_entries_are_due,
    timers_come_due_in_time_order_and_once_deleted_are_gone,
    raw_mail_reads_back_on_every_engine_and_after_reopening,
    a_batch_keeps_the_last_write_of_each_key_and_scans_in_byte_order,
    tickets_come_in_pages_after_a_reference_and_through_a_filter,
    every_queued_entry_is_counted_due_or_not_with_the_oldest_creation,
    the_size_on_disk_is_that_of_the_files_and_zero_in_memory,
);

/// Runs every check on `subject`, each on a store of its own; panics at the first failure,
/// naming the check and the engine.
pub fn run(subject: &dyn Subject) {
    for (label, check) in CHECKS {
        tracing::info!(check = label, engine = subject.name(), "contract check");
        check(subject, label);
    }
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

fn a_committed_ticket_is_found_by_ref_and_message_id(subject: &dyn Subject, label: &str) {
    let name = subject.name();
    let store = subject.open(label);
    let mut txn = store.txn();
    txn.put_ticket(&ticket("NL-000001"));
    txn.put_message(MessageRecord {
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
        new_text: None,
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
    // A long text (on sled, kept in the blob log beside the record) reads back whole, after
    // the short one, in order.
    let long: String = (0..200)
        .map(|i| {
            format!(
                "{i:03} Trace {} ms via ae{}.cr{}.ams{} ",
                i * 13 % 101,
                i % 7,
                i % 3,
                i % 5
            )
        })
        .collect();
    let mut txn = store.txn();
    txn.put_message(MessageRecord {
        seq: 2,
        message_id: "m2@acme.example".into(),
        text: long.clone(),
        new_text: Some("Trace attached.".into()),
        ..store.messages("NL-000001").expect("msgs").remove(0)
    });
    txn.commit().expect("commit");
    store.flush().expect("flush");
    let texts: Vec<(String, Option<String>)> = store
        .messages("NL-000001")
        .expect("msgs")
        .into_iter()
        .map(|m| (m.text, m.new_text))
        .collect();
    assert_eq!(
        texts,
        vec![
            ("hello".to_string(), None),
            (long, Some("Trace attached.".to_string()))
        ],
        "{name}"
    );
}

fn an_uncommitted_txn_leaves_no_trace(subject: &dyn Subject, label: &str) {
    let name = subject.name();
    let store = subject.open(label);
    let mut txn = store.txn();
    txn.put_ticket(&ticket("NL-000001"));
    drop(txn);
    assert!(store.ticket("NL-000001").expect("get").is_none(), "{name}");
}

fn counters_advance_within_and_across_transactions(subject: &dyn Subject, label: &str) {
    let name = subject.name();
    let store = subject.open(label);
    let mut txn = store.txn();
    assert_eq!(txn.next_seq("ticket").expect("seq"), 1, "{name}");
    assert_eq!(txn.next_seq("ticket").expect("seq"), 2, "{name}");
    txn.commit().expect("commit");
    let mut txn = store.txn();
    assert_eq!(txn.next_seq("ticket").expect("seq"), 3, "{name}");
}

pub fn outbox_entry(id: u64, due: DateTime<Utc>) -> OutboxEntry {
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

pub fn ids(entries: &[OutboxEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.id).collect()
}

/// The raw queue index, to check that no marker is left behind.
pub fn queue_markers(store: &Store) -> Vec<String> {
    store
        .engine
        .scan_prefix(keys::OUTBOX_QUEUE, usize::MAX)
        .expect("scan")
        .into_iter()
        .map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
        .collect()
}

fn outbox_entries_come_due_in_due_time_order_then_by_id(subject: &dyn Subject, label: &str) {
    let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time");
    let minutes = chrono::Duration::minutes;
    let name = subject.name();
    let store = subject.open(label);
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

fn a_retry_moves_the_queue_marker_and_sending_removes_it(subject: &dyn Subject, label: &str) {
    let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time");
    let name = subject.name();
    let store = subject.open(label);
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

fn an_entry_written_twice_in_one_transaction_keeps_one_marker(subject: &dyn Subject, label: &str) {
    let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time");
    let name = subject.name();
    let store = subject.open(label);
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

fn only_queued_and_due_outbox_entries_are_due(subject: &dyn Subject, label: &str) {
    let name = subject.name();
    let store = subject.open(label);
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
        store.outbox_bytes(1).expect("bytes"),
        None,
        "{name}: a sent entry's bytes are not kept"
    );
    assert_eq!(
        store.outbox_bytes(2).expect("bytes").as_deref(),
        Some(&b"bytes2"[..]),
        "{name}: a queued entry keeps its bytes"
    );
    assert_eq!(
        store.outbox_next_due().expect("next"),
        Some(later.next_attempt_at),
        "{name}"
    );
}

fn timers_come_due_in_time_order_and_once_deleted_are_gone(subject: &dyn Subject, label: &str) {
    let name = subject.name();
    let store = subject.open(label);
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

fn raw_mail_reads_back_on_every_engine_and_after_reopening(subject: &dyn Subject, label: &str) {
    let name = subject.name();
    let store = subject.open(label);
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
    drop(store);
    if let Some(store) = subject.reopen(label) {
        assert_eq!(
            store.raw("a@acme.example").expect("raw").as_deref(),
            Some(&b"From: a\r\n\r\nhello"[..])
        );
    }
}

/// The engine itself: a batch's writes apply in order (the last one of a key wins), keys order
/// byte by byte (high bytes after low ones, a prefix before its extensions), and a large value
/// comes back whole.
fn a_batch_keeps_the_last_write_of_each_key_and_scans_in_byte_order(
    subject: &dyn Subject,
    label: &str,
) {
    let name = subject.name();
    let store = subject.open(label);
    let engine = &store.engine;
    let mut b = Batch::default();
    b.put(&b"x/a"[..], &b"1"[..]);
    b.delete(&b"x/a"[..]);
    b.delete(&b"x/b"[..]);
    b.put(&b"x/b"[..], &b"2"[..]);
    b.put(&b"x/\xff"[..], &b"3"[..]);
    b.put(&b"x/"[..], &b"4"[..]);
    b.put(&b"x/b\x00"[..], &b"5"[..]);
    b.put(&b"y"[..], &b"6"[..]);
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    b.put(&b"x/big"[..], big.clone());
    engine.apply(b).expect("apply");
    engine.flush().expect("flush");
    assert_eq!(engine.get(b"x/a").expect("get"), None, "{name}");
    let keys: Vec<Vec<u8>> = engine
        .scan_prefix(b"x/", usize::MAX)
        .expect("scan")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        keys,
        vec![
            b"x/".to_vec(),
            b"x/b".to_vec(),
            b"x/b\x00".to_vec(),
            b"x/big".to_vec(),
            b"x/\xff".to_vec()
        ],
        "{name}"
    );
    assert_eq!(
        engine.scan_prefix(b"x/", 2).expect("scan").len(),
        2,
        "{name}"
    );
    assert_eq!(
        engine.scan_range(b"x/b", b"x/c", 10).expect("range").len(),
        3,
        "{name}: from x/b to x/big"
    );
    assert!(
        engine
            .scan_range(b"x/c", b"x/b", 10)
            .expect("range")
            .is_empty(),
        "{name}"
    );
    assert_eq!(engine.get(b"x/big").expect("get"), Some(big), "{name}");
}

/// More tickets than one chunk of the paged scan, every third one resolved.
fn tickets_come_in_pages_after_a_reference_and_through_a_filter(
    subject: &dyn Subject,
    label: &str,
) {
    use crate::core::service::ticket::Status;
    let name = subject.name();
    let store = subject.open(label);
    let mut txn = store.txn();
    for n in 1..=600u32 {
        let mut t = ticket(&format!("NL-{n:06}"));
        if n % 3 == 0 {
            t.status = Status::Resolved;
        }
        txn.put_ticket(&t);
    }
    txn.commit().expect("commit");
    let refs =
        |page: Vec<Ticket>| -> Vec<String> { page.into_iter().map(|t| t.reference).collect() };
    let first = refs(store.tickets_page(None, 3, |_| true).expect("page"));
    assert_eq!(first, ["NL-000001", "NL-000002", "NL-000003"], "{name}");
    let next = refs(
        store
            .tickets_page(Some("NL-000003"), 2, |_| true)
            .expect("page"),
    );
    assert_eq!(next, ["NL-000004", "NL-000005"], "{name}");
    let resolved = refs(
        store
            .tickets_page(Some("NL-000290"), 1000, |t| t.status == Status::Resolved)
            .expect("page"),
    );
    assert_eq!(resolved.len(), 104, "{name}: 291..=600, every third");
    assert_eq!(resolved[0], "NL-000291", "{name}");
    assert_eq!(
        store
            .tickets_page(Some("NL-000600"), 10, |_| true)
            .expect("page")
            .len(),
        0,
        "{name}: nothing after the last"
    );
    assert_eq!(
        store
            .tickets_page(None, usize::MAX, |_| true)
            .expect("page")
            .len(),
        600,
        "{name}"
    );
}

fn every_queued_entry_is_counted_due_or_not_with_the_oldest_creation(
    subject: &dyn Subject,
    label: &str,
) {
    let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time");
    let name = subject.name();
    let store = subject.open(label);
    assert_eq!(store.outbox_queued().expect("queued"), (0, None), "{name}");
    let mut txn = store.txn();
    // Created later but due first, created first but retried an hour later, and sent.
    let mut retried = outbox_entry(1, t0);
    retried.next_attempt_at = t0 + chrono::Duration::hours(1);
    let soon = outbox_entry(2, t0 + chrono::Duration::minutes(5));
    let mut sent = outbox_entry(3, t0 - chrono::Duration::days(1));
    sent.state = OutboxState::Sent;
    for e in [&retried, &soon, &sent] {
        txn.put_outbox(e, Some(b"bytes"));
    }
    txn.commit().expect("commit");
    assert_eq!(
        store.outbox_queued().expect("queued"),
        (2, Some(t0)),
        "{name}"
    );
}

/// The store's size as the metrics show it: the files of a store in a directory (sled), the
/// tables as a database server keeps them (PostgreSQL), none in memory; it grows with what is
/// stored.
fn the_size_on_disk_is_that_of_the_files_and_zero_in_memory(subject: &dyn Subject, label: &str) {
    let name = subject.name();
    let store = subject.open(label);
    let before = store.size_on_disk().expect("size");
    let mut txn = store.txn();
    for i in 0..200 {
        txn.put_meta(&format!("filler-{i}"), &"x".repeat(4096));
    }
    txn.commit().expect("commit");
    store.flush().expect("flush");
    let after = store.size_on_disk().expect("size");
    if name == "memory" {
        assert_eq!((before, after), (0, 0), "{name}");
    } else {
        assert!(before > 0, "{name}: {before}");
        assert!(after > before, "{name}: {before} -> {after} after 800 KB");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Memory;

    impl Subject for Memory {
        fn name(&self) -> &str {
            "memory"
        }
        fn open(&self, _label: &str) -> Store {
            Store::memory()
        }
        fn reopen(&self, _label: &str) -> Option<Store> {
            None
        }
    }

    struct Sled(tempfile::TempDir);

    impl Subject for Sled {
        fn name(&self) -> &str {
            "sled"
        }
        fn open(&self, label: &str) -> Store {
            Store::open(&self.0.path().join(label)).expect("open sled")
        }
        fn reopen(&self, label: &str) -> Option<Store> {
            Some(self.open(label))
        }
    }

    pub(super) fn on_memory_and_sled(label: &str, check: Check) {
        check(&Memory, label);
        check(&Sled(tempfile::tempdir().expect("tempdir")), label);
    }
}
