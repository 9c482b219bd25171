//! The delivery worker: sends due outbox entries and records each outcome durably.
//!
//! An entry's bytes, Message-ID included, are fixed when it is queued, so sending it again
//! sends the same mail. What a crash can repeat is bounded by `[outbox] max_in_flight` (N):
//!
//! - **N = 1** (the default): an entry is sent, its outcome committed and flushed, and only then
//!   does the next transaction start. A crash repeats at most the one transaction in flight.
//! - **N > 1**: a sliding window. Up to N transactions run at once, each on its own SMTP
//!   session, and the next entry starts as soon as a place is free. Outcomes are made durable in
//!   groups: once half the window's outcomes are in (or nothing else is in flight) and no flush
//!   runs, they are committed as one transaction and a flush starts beside the sends; outcomes
//!   arriving meanwhile wait for the next group. An entry holds its place from the moment its transaction starts until its
//!   outcome is flushed, so at any instant at most N entries have been handed to the server
//!   without a durable outcome: a crash repeats at most N transactions, each with its own fixed
//!   Message-ID.
//!
//! The trade-off: N = 1 pays the SMTP round trips plus one store commit and flush per mail
//! (about 2,400 mails/s to a local relay, `benches/broadcast.rs`); N = 8 or 16 overlaps them and
//! commits and flushes once per group, for broadcasts of thousands of notices, at the price of
//! up to N duplicate mails after a crash (recipients see the same Message-ID twice).

use crate::clock::Clock;
use crate::config::OutboxConfig;
use crate::core::outbox::{Attempt, OutboxEntry, OutboxState, RetryPolicy};
use crate::core::ticket::Ticket;
use crate::outbound::Transport;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use futures::stream::{FuturesUnordered, StreamExt};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use tracing::Instrument;

pub struct Delivery {
    pub store: Store,
    pub transport: Transport,
    pub clock: Arc<dyn Clock>,
    pub policy: RetryPolicy,
    /// Transactions at once; see the module documentation for what a crash then repeats.
    pub max_in_flight: usize,
}

/// What one pass over the outbox did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
}

/// One attempt's result, waiting to be committed with its group.
struct Recorded {
    /// The entry as the attempt left it (sent, retry later, failed).
    entry: OutboxEntry,
    /// When the mail failed for good: what to note on its ticket, and when.
    note: Option<(DateTime<Utc>, String)>,
    outcome: Outcome,
}

/// What became of one entry in a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Sent,
    Retrying,
    Failed,
}

impl PassReport {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Sent => self.sent += 1,
            Outcome::Retrying => self.retrying += 1,
            Outcome::Failed => self.failed += 1,
        }
    }
}

/// Due entries are read from the queue index in pages of this many.
const PAGE: usize = 256;

impl Delivery {
    pub fn new(
        store: Store,
        transport: Transport,
        clock: Arc<dyn Clock>,
        c: &OutboxConfig,
    ) -> Delivery {
        let policy = RetryPolicy {
            initial: chrono::Duration::seconds(c.retry_initial_secs as i64),
            max: chrono::Duration::seconds(c.retry_max_secs as i64),
            max_attempts: c.max_attempts,
        };
        let max_in_flight = c.max_in_flight.max(1);
        transport.keep_sessions(max_in_flight);
        Delivery {
            store,
            transport,
            clock,
            policy,
            max_in_flight,
        }
    }

    /// Tries every entry due now, once each, at most `max_in_flight` at a time. Entries queued
    /// meanwhile wait for the next pass (the delivery task is woken for them). Returns when
    /// every outcome is durable.
    pub async fn pass(&self) -> Result<PassReport, StoreError> {
        let window = self.max_in_flight.max(1);
        // Half the window: groups large enough to make commits and flushes rare, while the
        // other half keeps sending.
        let group_size = window.div_ceil(2);
        let mut due = DueEntries::new(self.clock.now());
        let mut report = PassReport::default();
        let mut sends = FuturesUnordered::new();
        // Outcomes not committed yet, and the flush running with how many outcomes it covers.
        let mut pending: Vec<Recorded> = Vec::new();
        let mut flushing: Option<(tokio::task::JoinHandle<Result<(), StoreError>>, usize)> = None;
        loop {
            let flushing_count = flushing.as_ref().map_or(0, |(_, n)| *n);
            while sends.len() + pending.len() + flushing_count < window {
                let Some(entry) = due.next(&self.store)? else {
                    break;
                };
                let span = tracing::info_span!("send", outbox = entry.id, message_id = %entry.message_id, ticket = entry.ticket.as_deref().unwrap_or(""));
                // The span goes with the future: entered across an await it would leak into
                // whatever else the worker thread runs meanwhile.
                sends.push(self.deliver_one(entry).instrument(span));
            }
            let group_ready =
                pending.len() >= group_size || (sends.is_empty() && !pending.is_empty());
            if flushing.is_none() && group_ready {
                let group = std::mem::take(&mut pending);
                let count = group.len();
                // One batch for the group: sled's flush costs about 0.1 ms per batch committed
                // since the last one, whatever its size (benches/broadcast.rs).
                self.commit(group)?;
                let store = self.store.clone();
                // sled's flush blocks on fsync: off the async workers, beside the sends.
                let flush = tokio::task::spawn_blocking(move || store.flush());
                flushing = Some((flush, count));
            }
            if sends.is_empty() && flushing.is_none() {
                return Ok(report);
            }
            tokio::select! {
                Some(recorded) = sends.next(), if !sends.is_empty() => {
                    let recorded = recorded?;
                    report.count(recorded.outcome);
                    pending.push(recorded);
                }
                flushed = flush_done(&mut flushing, &self.store), if flushing.is_some() => {
                    flushing = None;
                    flushed?;
                }
            }
        }
    }

    /// Sends one entry and records the outcome in it (committed with its group).
    async fn deliver_one(&self, mut entry: OutboxEntry) -> Result<Recorded, StoreError> {
        let Some(bytes) = self.store.outbox_bytes(entry.id)? else {
            tracing::error!("outbox entry has no bytes; marking it failed");
            entry.state = OutboxState::Failed;
            entry.last_error = Some("bytes missing from the store".into());
            return Ok(Recorded {
                entry,
                note: None,
                outcome: Outcome::Failed,
            });
        };
        let attempt = self
            .transport
            .send(&entry.from, &entry.to, &entry.message_id, &bytes)
            .await;
        let now = self.clock.now();
        match &attempt {
            Attempt::Sent => tracing::info!(to = ?entry.to, "sent"),
            Attempt::Transient(e) => {
                tracing::warn!(error = %e, attempts = entry.attempts + 1, "delivery failed; will retry")
            }
            Attempt::Permanent(e) => {
                tracing::error!(error = %e, "delivery refused permanently")
            }
        }
        let failed_now = entry.record(attempt, &self.policy, now);
        let (outcome, note) = if failed_now {
            let note = format!(
                "mail {} to {} could not be delivered: {}",
                entry.message_id,
                entry.to.join(", "),
                entry.last_error.as_deref().unwrap_or("unknown error")
            );
            (Outcome::Failed, Some((now, note)))
        } else if entry.state == OutboxState::Queued {
            (Outcome::Retrying, None)
        } else {
            (Outcome::Sent, None)
        };
        Ok(Recorded {
            entry,
            note,
            outcome,
        })
    }

    /// Commits a group of outcomes in one transaction: the entries, and the notes on the
    /// tickets of mails that failed for good.
    fn commit(&self, group: Vec<Recorded>) -> Result<(), StoreError> {
        let _writer = self.store.write_lock();
        let mut txn = self.store.txn();
        let mut tickets: HashMap<String, Ticket> = HashMap::new();
        for recorded in &group {
            txn.put_outbox(&recorded.entry, None);
            let (Some((at, text)), Some(reference)) = (&recorded.note, &recorded.entry.ticket)
            else {
                continue;
            };
            let ticket = match tickets.entry(reference.clone()) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(slot) => match self.store.ticket(reference)? {
                    Some(t) => slot.insert(t),
                    None => continue,
                },
            };
            ticket.note(text.clone(), "deskgate", *at);
        }
        for ticket in tickets.values() {
            txn.put_ticket(ticket);
        }
        txn.commit()
    }
}

/// Waits for the running flush (never called without one).
async fn flush_done(
    flushing: &mut Option<(tokio::task::JoinHandle<Result<(), StoreError>>, usize)>,
    store: &Store,
) -> Result<(), StoreError> {
    let Some((handle, _)) = flushing else {
        return std::future::pending().await;
    };
    match handle.await {
        Ok(flushed) => flushed,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Cancelled (the runtime is shutting down): the outcomes must still be made durable.
        Err(_) => store.flush(),
    }
}

/// The entries due at the start of a pass, read page by page in queue order. An entry comes
/// once per pass even if a retry makes it due again at once (a zero backoff).
struct DueEntries {
    now: DateTime<Utc>,
    page: VecDeque<OutboxEntry>,
    last: Option<OutboxEntry>,
    exhausted: bool,
    tried: HashSet<u64>,
}

impl DueEntries {
    fn new(now: DateTime<Utc>) -> DueEntries {
        DueEntries {
            now,
            page: VecDeque::new(),
            last: None,
            exhausted: false,
            tried: HashSet::new(),
        }
    }

    fn next(&mut self, store: &Store) -> Result<Option<OutboxEntry>, StoreError> {
        loop {
            if let Some(entry) = self.page.pop_front() {
                if self.tried.insert(entry.id) {
                    return Ok(Some(entry));
                }
                continue;
            }
            if self.exhausted {
                return Ok(None);
            }
            let page = match &self.last {
                None => store.outbox_due(self.now, PAGE)?,
                Some(last) => store.outbox_due_after(last, self.now, PAGE)?,
            };
            self.exhausted = page.len() < PAGE;
            self.last = page.last().cloned();
            self.page = page.into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::core::mail::Address;
    use crate::core::ticket::{Change, Opening, Ticket};
    use std::sync::Mutex;
    use std::time::Duration;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    fn t0() -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("fixed instant")
    }

    fn config(max_in_flight: usize) -> OutboxConfig {
        OutboxConfig {
            max_in_flight,
            max_attempts: 3,
            retry_initial_secs: 30,
            retry_max_secs: 3600,
            ..OutboxConfig::default()
        }
    }

    fn queue(store: &Store, n: u64, to: &str, ticket: Option<&str>) {
        let mut txn = store.txn();
        for id in 1..=n {
            let entry = OutboxEntry {
                id,
                ticket: ticket.map(str::to_string),
                kind: "notice".into(),
                from: "desk@provider.example".into(),
                to: vec![to.to_string()],
                subject: format!("notice {id}"),
                message_id: format!("n{id}@provider.example"),
                state: OutboxState::Queued,
                attempts: 0,
                created_at: t0(),
                next_attempt_at: t0(),
                sent_at: None,
                last_error: None,
            };
            let bytes = format!(
                "Message-ID: <{}>\r\nSubject: notice {id}\r\n\r\nbody\r\n",
                entry.message_id
            );
            txn.put_outbox(&entry, Some(bytes.as_bytes()));
        }
        txn.commit().expect("commit");
    }

    fn delivery(store: &Store, transport: Transport, max_in_flight: usize) -> Delivery {
        Delivery::new(
            store.clone(),
            transport,
            Arc::new(ManualClock::new(t0())),
            &config(max_in_flight),
        )
    }

    fn smtp(port: u16) -> Transport {
        let c: crate::config::SmtpConfig = toml::from_str(&format!(
            "url = \"smtp://127.0.0.1:{port}\"\ntimeout_secs = 10"
        ))
        .expect("smtp config");
        Transport::from_config(&c).expect("transport")
    }

    /// What the test SMTP server saw.
    #[derive(Default)]
    struct Seen {
        /// Message-IDs of accepted mails, in order.
        accepted: Vec<String>,
        /// Transactions between MAIL and the answer to their final ".".
        open: usize,
        max_open: usize,
        /// The most mails ever handed to the server without a recorded outcome in the store
        /// (open transactions plus accepted mails the store does not show as sent).
        max_unrecorded: usize,
    }

    /// A minimal SMTP server on loopback that accepts everything, answers each final "." after
    /// `delay`, and at every MAIL counts the mails whose outcome the store does not show yet.
    async fn server(store: Store, delay: Duration) -> (u16, Arc<Mutex<Seen>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = seen.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (seen, store) = (shared.clone(), store.clone());
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read).lines();
                    let _ = write.write_all(b"220 test ESMTP\r\n").await;
                    let mut message_id = String::new();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                        let reply: &[u8] = match verb.as_str() {
                            "EHLO" => b"250-test\r\n250 8BITMIME\r\n",
                            "MAIL" => {
                                let sent = store
                                    .outbox()
                                    .expect("outbox")
                                    .iter()
                                    .filter(|e| e.state == OutboxState::Sent)
                                    .count();
                                let mut s = seen.lock().expect("seen");
                                s.open += 1;
                                s.max_open = s.max_open.max(s.open);
                                let unrecorded = s.open + s.accepted.len() - sent;
                                s.max_unrecorded = s.max_unrecorded.max(unrecorded);
                                b"250 ok\r\n"
                            }
                            "DATA" => {
                                let _ = write.write_all(b"354 go on\r\n").await;
                                while let Ok(Some(l)) = lines.next_line().await {
                                    if l == "." {
                                        break;
                                    }
                                    if let Some(id) = l.strip_prefix("Message-ID: ") {
                                        message_id = id.trim_matches(['<', '>']).to_string();
                                    }
                                }
                                tokio::time::sleep(delay).await;
                                let mut s = seen.lock().expect("seen");
                                s.open -= 1;
                                s.accepted.push(std::mem::take(&mut message_id));
                                b"250 queued\r\n"
                            }
                            "QUIT" => {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                break;
                            }
                            _ => b"250 ok\r\n",
                        };
                        if write.write_all(reply).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        (port, seen)
    }

    async fn deliver_through_server(max_in_flight: usize, n: u64) {
        let store = Store::memory();
        queue(&store, n, "customer@acme.example", None);
        let (port, seen) = server(store.clone(), Duration::from_millis(5)).await;
        let d = delivery(&store, smtp(port), max_in_flight);

        let report = d.pass().await.expect("pass");

        assert_eq!(
            report,
            PassReport {
                sent: n as usize,
                retrying: 0,
                failed: 0
            }
        );
        let (mut accepted, max_unrecorded, max_open) = {
            let seen = seen.lock().expect("seen");
            (seen.accepted.clone(), seen.max_unrecorded, seen.max_open)
        };
        accepted.sort();
        accepted.dedup();
        assert_eq!(accepted.len(), n as usize, "each mail once: {accepted:?}");
        assert!(
            max_unrecorded <= max_in_flight,
            "at most {max_in_flight} mails without a recorded outcome, saw {max_unrecorded}"
        );
        assert!(max_open <= max_in_flight, "{max_open}");
        assert!(
            store
                .outbox()
                .expect("outbox")
                .iter()
                .all(|e| e.state == OutboxState::Sent && e.sent_at == Some(t0())),
            "every entry recorded as sent"
        );
        assert!(store.outbox_due(t0(), 10).expect("due").is_empty());
        assert_eq!(d.pass().await.expect("pass"), PassReport::default());
    }

    #[tokio::test]
    async fn one_in_flight_records_each_outcome_before_the_next_transaction() {
        deliver_through_server(1, 12).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_window_of_four_sends_concurrently_and_never_has_more_than_four_unrecorded() {
        deliver_through_server(4, 40).await;
    }

    #[tokio::test]
    async fn the_window_really_overlaps_transactions() {
        let store = Store::memory();
        queue(&store, 8, "customer@acme.example", None);
        let (port, seen) = server(store.clone(), Duration::from_millis(20)).await;
        let report = delivery(&store, smtp(port), 4).pass().await.expect("pass");
        assert_eq!(report.sent, 8);
        assert!(
            seen.lock().expect("seen").max_open > 1,
            "transactions overlapped"
        );
    }

    #[tokio::test]
    async fn a_transient_failure_backs_off_and_is_not_retried_in_the_same_pass() {
        let store = Store::memory();
        queue(&store, 3, "customer@acme.example", None);
        let missing = tempfile::tempdir().expect("tempdir").path().join("gone");
        let d = delivery(&store, Transport::File(missing), 2);

        let report = d.pass().await.expect("pass");

        assert_eq!(
            report,
            PassReport {
                sent: 0,
                retrying: 3,
                failed: 0
            }
        );
        for e in store.outbox().expect("outbox") {
            assert_eq!(e.state, OutboxState::Queued);
            assert_eq!(e.attempts, 1);
            assert_eq!(e.next_attempt_at, t0() + chrono::Duration::seconds(30));
        }
        assert!(store.outbox_due(t0(), 10).expect("due").is_empty());
        assert_eq!(
            store.outbox_next_due().expect("next"),
            Some(t0() + chrono::Duration::seconds(30))
        );
    }

    #[tokio::test]
    async fn a_permanent_failure_fails_the_entry_and_notes_it_on_the_ticket() {
        let store = Store::memory();
        let ticket = Ticket::open(
            Opening {
                reference: "NL-000001".into(),
                desk: "nl",
                language: "en",
                subject: "link down",
                requester: Address::new(None, "jane@acme.example"),
                others: &[],
                message_id: "m1@acme.example",
            },
            t0(),
        );
        let mut txn = store.txn();
        txn.put_ticket(&ticket);
        txn.commit().expect("commit");
        // Refused before any connection: the recipient is no address.
        queue(&store, 1, "not an address", Some("NL-000001"));
        let d = delivery(&store, smtp(9), 4);

        let report = d.pass().await.expect("pass");

        assert_eq!(report.failed, 1);
        let entry = store.outbox_entry(1).expect("read").expect("entry");
        assert_eq!(entry.state, OutboxState::Failed);
        assert!(store.outbox_next_due().expect("next").is_none());
        let ticket = store.ticket("NL-000001").expect("read").expect("ticket");
        let noted = ticket.events.iter().any(|e| {
            matches!(&e.change, Change::Note { text } if text.contains("n1@provider.example") && text.contains("could not be delivered"))
        });
        assert!(noted, "{:?}", ticket.events);
    }
}
