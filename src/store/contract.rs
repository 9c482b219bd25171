//! The store's contract: one suite, run against every engine, so an engine is correct when it
//! passes it. A new engine adds one entry to `engines()`.

use super::*;
use crate::core::address::Address;
use crate::core::service::message::{Direction, MessageKind, MessageRecord};
use crate::core::service::outbox::{OutboxEntry, OutboxState};
use crate::core::service::ticket::Ticket;
use chrono::{DateTime, Utc};

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

pub(super) fn outbox_entry(id: u64, due: DateTime<Utc>) -> OutboxEntry {
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

pub(super) fn ids(entries: &[OutboxEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.id).collect()
}

/// The raw queue index, to check that no marker is left behind.
pub(super) fn queue_markers(store: &Store) -> Vec<String> {
    store
        .engine
        .scan_prefix(keys::OUTBOX_QUEUE, usize::MAX)
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
fn every_queued_entry_is_counted_due_or_not_with_the_oldest_creation() {
    let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time");
    for (name, store, _dir) in engines() {
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
}

#[test]
fn the_size_on_disk_is_that_of_the_files_and_zero_in_memory() {
    for (name, store, dir) in engines() {
        let size = store.size_on_disk().expect("size");
        match dir {
            Some(_) => assert!(size > 0, "{name}: {size}"),
            None => assert_eq!(size, 0, "{name}"),
        }
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
