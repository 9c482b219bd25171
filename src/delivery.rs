//! The delivery worker: sends due outbox entries and records each outcome durably.
//!
//! An entry's bytes, Message-ID included, are fixed when it is queued, so sending it again
//! sends the same mail. What a crash can repeat is bounded by `[outbox] max_in_flight` (N):
//!
//! - **N = 1** (the default): one transaction at a time, split at SMTP's commit point, the
//!   server's answer to the final `.`. An entry's outcome is committed and flushed on a
//!   blocking thread; meanwhile the next entry goes out up to its `.` (MAIL, RCPT, DATA, body),
//!   and the `.` waits until that commit and flush have succeeded (if they fail, the session is
//!   dropped without the `.` and the mail is not delivered). At any instant at most one mail
//!   has been committed by the server without a durable outcome: a crash repeats at most that
//!   one transaction.
//! - **N > 1**: a sliding window. Up to N transactions run at once, each on its own SMTP
//!   session, and the next entry starts as soon as a place is free. Outcomes are made durable in
//!   groups: once half the window's outcomes are in (or nothing else is in flight) and no flush
//!   runs, they are committed as one transaction and a flush starts beside the sends; outcomes
//!   arriving meanwhile wait for the next group. An entry holds its place from the moment its transaction starts until its
//!   outcome is flushed, so at any instant at most N entries have been handed to the server
//!   without a durable outcome: a crash repeats at most N transactions, each with its own fixed
//!   Message-ID.
//!
//! The trade-off: N = 1 pays each mail's SMTP round trips, plus whatever of the previous flush
//! outlasts the transaction up to its `.` (`benches/broadcast.rs`); N = 8 or 16 overlaps the
//! transactions and commits and flushes once per group, for broadcasts of thousands of notices,
//! at the price of up to N duplicate mails after a crash (recipients see the same Message-ID
//! twice).

use crate::clock::Clock;
use crate::config::OutboxConfig;
use crate::core::service::outbox::{Attempt, OutboxEntry, OutboxState, RetryPolicy};
use crate::core::service::ticket::Ticket;
use crate::outbound::{Pending, Transport};
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

/// An entry sent up to its commit point, or what stopped it before.
enum Begun<'a> {
    Open(Pending<'a>),
    /// The attempt ended before the commit point (refused, connection lost).
    Ended(Attempt),
    /// The store has no bytes for the entry.
    NoBytes,
}

/// An entry whose bytes are missing: it can never be sent, so it fails.
fn without_bytes(mut entry: OutboxEntry) -> Recorded {
    tracing::error!("outbox entry has no bytes; marking it failed");
    entry.state = OutboxState::Failed;
    entry.last_error = Some("bytes missing from the store".into());
    Recorded {
        entry,
        note: None,
        outcome: Outcome::Failed,
    }
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
        if self.max_in_flight <= 1 {
            return self.pass_one_at_a_time().await;
        }
        let window = self.max_in_flight;
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
                let Some(next) = due.next(&self.store).await? else {
                    break;
                };
                let span = next.span();
                // The span goes with the future: entered across an await it would leak into
                // whatever else the worker thread runs meanwhile.
                sends.push(self.deliver_one(next).instrument(span));
            }
            let group_ready =
                pending.len() >= group_size || (sends.is_empty() && !pending.is_empty());
            if flushing.is_none() && group_ready {
                let group = std::mem::take(&mut pending);
                let count = group.len();
                let store = self.store.clone();
                // One batch for the group: sled's flush costs about 0.1 ms per batch committed
                // since the last one, whatever its size (benches/broadcast.rs). The commit
                // (which waits for the writer lock) and the flush (which blocks on fsync) run
                // off the async workers, beside the sends.
                let flush = tokio::task::spawn_blocking(move || commit_durably(&store, group));
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

    /// `max_in_flight = 1`: one transaction at a time, each outcome committed and flushed while
    /// the next transaction runs up to its final `.`, which waits for that flush. At any
    /// instant at most one mail has been committed by the server without a durable outcome.
    async fn pass_one_at_a_time(&self) -> Result<PassReport, StoreError> {
        let mut due = DueEntries::new(self.clock.now());
        let mut report = PassReport::default();
        let mut flushing: Option<tokio::task::JoinHandle<Result<(), StoreError>>> = None;
        while let Some(next) = due.next(&self.store).await? {
            let span = next.span();
            let recorded = self
                .deliver_after_flush(next, flushing.take())
                .instrument(span)
                .await?;
            report.count(recorded.outcome);
            let store = self.store.clone();
            // The commit and sled's flush (which blocks on fsync) run off the async workers,
            // beside the next transaction.
            flushing = Some(tokio::task::spawn_blocking(move || {
                commit_durably(&store, vec![recorded])
            }));
        }
        if let Some(mut flush) = flushing {
            flushed(&mut flush, &self.store).await?;
        }
        Ok(report)
    }

    /// Sends one entry up to its commit point (SMTP's final `.`) while `flushing` makes the
    /// previous outcome durable, and past it only once that flush has succeeded. If the flush
    /// fails, the transaction is dropped without its `.`: the mail is not delivered.
    async fn deliver_after_flush(
        &self,
        due: Due,
        flushing: Option<tokio::task::JoinHandle<Result<(), StoreError>>>,
    ) -> Result<Recorded, StoreError> {
        let begun = self.begin_one(&due).await;
        if let Some(mut flush) = flushing {
            flushed(&mut flush, &self.store).await?;
        }
        let attempt = match begun {
            Begun::Open(pending) => pending.finish().await,
            Begun::Ended(attempt) => attempt,
            Begun::NoBytes => return Ok(without_bytes(due.entry)),
        };
        Ok(self.record(due.entry, attempt))
    }

    /// Sends one entry and records the outcome in it (committed with its group).
    async fn deliver_one(&self, due: Due) -> Result<Recorded, StoreError> {
        let attempt = match self.begin_one(&due).await {
            Begun::Open(pending) => pending.finish().await,
            Begun::Ended(attempt) => attempt,
            Begun::NoBytes => return Ok(without_bytes(due.entry)),
        };
        Ok(self.record(due.entry, attempt))
    }

    /// Sends an entry's bytes up to the mail's commit point.
    async fn begin_one<'a>(&'a self, due: &Due) -> Begun<'a> {
        let Some(bytes) = &due.bytes else {
            return Begun::NoBytes;
        };
        let entry = &due.entry;
        match self
            .transport
            .begin(&entry.from, &entry.to, &entry.message_id, bytes)
            .await
        {
            Ok(pending) => Begun::Open(pending),
            Err(attempt) => Begun::Ended(attempt),
        }
    }

    /// Records an attempt's result in its entry.
    fn record(&self, mut entry: OutboxEntry, attempt: Attempt) -> Recorded {
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
        Recorded {
            entry,
            note,
            outcome,
        }
    }
}

/// Commits a group of outcomes durably (one round trip on a database server); then, on a
/// shared store, gives up the claims on their entries (another daemon that claims one now
/// reads its outcome first). The outcomes are durable whether or not the claims could be
/// given up: a claim left runs out by itself.
fn commit_durably(store: &Store, group: Vec<Recorded>) -> Result<(), StoreError> {
    let ids: Vec<u64> = group.iter().map(|r| r.entry.id).collect();
    commit(store, group)?;
    if store.is_shared() {
        if let Err(e) = store.release_outbox(&ids) {
            tracing::warn!(error = %e, entries = ids.len(), "outbox claims not given up; they run out by themselves");
        }
    }
    Ok(())
}

/// Entries to send next, in queue order, with their bytes. On a shared store they are claimed
/// first (another daemon may have read the same page), then read again with their bytes, since
/// that daemon may have sent one (and released its claim) since the page was read: those no
/// longer queued and due are left out, and their claims given back. On a store of one process
/// the entries as the page read them are current. With the instant the claims were asked for
/// ([`Store::claims_hold`]).
async fn ready_to_send(
    store: &Store,
    entries: Vec<OutboxEntry>,
    now: DateTime<Utc>,
) -> Result<(Vec<Due>, std::time::Instant), StoreError> {
    let store = store.clone();
    let ready = tokio::task::spawn_blocking(move || {
        if !store.is_shared() {
            let ready = entries
                .into_iter()
                .map(|entry| {
                    let bytes = store.outbox_bytes(entry.id)?;
                    Ok(Due { entry, bytes })
                })
                .collect::<Result<Vec<Due>, StoreError>>()?;
            return Ok((ready, std::time::Instant::now()));
        }
        let (claimed, asked) =
            store.claim_outbox_timed(&entries.iter().map(|e| e.id).collect::<Vec<_>>())?;
        let claimed: HashSet<u64> = claimed.into_iter().collect();
        let ids: Vec<u64> = entries
            .iter()
            .map(|e| e.id)
            .filter(|id| claimed.contains(id))
            .collect();
        let mut ready = Vec::with_capacity(ids.len());
        let mut gone = Vec::new();
        for found in store.outbox_to_send(&ids)? {
            match found.entry {
                Some(entry)
                    if entry.state == OutboxState::Queued && entry.next_attempt_at <= now =>
                {
                    ready.push(Due {
                        entry,
                        bytes: found.bytes,
                    })
                }
                _ => gone.push(found.id),
            }
        }
        if !gone.is_empty() {
            store.release_outbox(&gone)?;
        }
        Ok((ready, asked))
    })
    .await;
    match ready {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Cancelled: the runtime is going down; the claims run out by themselves.
        Err(_) => Ok((Vec::new(), std::time::Instant::now())),
    }
}

/// Commits a group of outcomes in one durable transaction: the entries, and the notes on the
/// tickets of mails that failed for good.
fn commit(store: &Store, group: Vec<Recorded>) -> Result<(), StoreError> {
    let _writer = store.write_lock();
    let mut txn = store.txn();
    let mut tickets: HashMap<String, Ticket> = HashMap::new();
    for recorded in &group {
        txn.put_outbox(&recorded.entry, None);
        let (Some((at, text)), Some(reference)) = (&recorded.note, &recorded.entry.ticket) else {
            continue;
        };
        let ticket = match tickets.entry(reference.clone()) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(slot) => match store.ticket(reference)? {
                Some(t) => slot.insert(t),
                None => continue,
            },
        };
        ticket.note(text.clone(), "deskgate", *at);
    }
    for ticket in tickets.values() {
        txn.put_ticket(ticket);
    }
    txn.commit_durably()
}

/// Waits for the running flush (never called without one).
async fn flush_done(
    flushing: &mut Option<(tokio::task::JoinHandle<Result<(), StoreError>>, usize)>,
    store: &Store,
) -> Result<(), StoreError> {
    let Some((handle, _)) = flushing else {
        return std::future::pending().await;
    };
    flushed(handle, store).await
}

/// Waits for a flush to finish.
async fn flushed(
    handle: &mut tokio::task::JoinHandle<Result<(), StoreError>>,
    store: &Store,
) -> Result<(), StoreError> {
    match handle.await {
        Ok(flushed) => flushed,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Cancelled (the runtime is shutting down): the outcomes must still be made durable.
        Err(_) => store.flush(),
    }
}

/// An entry to send now, with its bytes (`None`: missing from the store).
struct Due {
    entry: OutboxEntry,
    bytes: Option<Vec<u8>>,
}

impl Due {
    fn span(&self) -> tracing::Span {
        let e = &self.entry;
        tracing::info_span!("send", outbox = e.id, message_id = %e.message_id, ticket = e.ticket.as_deref().unwrap_or(""))
    }
}

/// Entries are claimed (on a shared store) and read with their bytes this many at a time: a
/// round trip or two per group rather than three per entry.
const READY_AT_ONCE: usize = 32;

/// The entries due at the start of a pass, read page by page in queue order. An entry comes
/// once per pass even if a retry makes it due again at once (a zero backoff).
struct DueEntries {
    now: DateTime<Utc>,
    page: VecDeque<OutboxEntry>,
    /// Claimed and read with their bytes, waiting for a place in the window.
    ready: VecDeque<Due>,
    /// When `ready` was claimed (when the claim was asked for, after any renewal of the life
    /// lease). Once half the claim time
    /// has passed (a slow server), or this process's life lease broke since (a hang, the
    /// database out of reach: another process may have taken the claims over,
    /// `Store::claims_hold`), what is left of `ready` is claimed again, and read again, before
    /// any of it is sent.
    claimed_at: std::time::Instant,
    last: Option<OutboxEntry>,
    exhausted: bool,
    tried: HashSet<u64>,
}

impl DueEntries {
    fn new(now: DateTime<Utc>) -> DueEntries {
        DueEntries {
            now,
            page: VecDeque::new(),
            ready: VecDeque::new(),
            claimed_at: std::time::Instant::now(),
            last: None,
            exhausted: false,
            tried: HashSet::new(),
        }
    }

    /// Claims `group` and keeps what is ready to send, with when it was claimed.
    async fn take_ready(
        &mut self,
        store: &Store,
        group: Vec<OutboxEntry>,
    ) -> Result<(), StoreError> {
        let (ready, claimed_at) = ready_to_send(store, group, self.now).await?;
        self.ready = ready.into();
        self.claimed_at = claimed_at;
        Ok(())
    }

    async fn next(&mut self, store: &Store) -> Result<Option<Due>, StoreError> {
        loop {
            if let Some(due) = self.ready.pop_front() {
                let stale = self.claimed_at.elapsed() > store.claim_time() / 2
                    || !store.claims_hold(self.claimed_at);
                if !(store.is_shared() && stale) {
                    return Ok(Some(due));
                }
                let mut group = vec![due.entry];
                group.extend(self.ready.drain(..).map(|d| d.entry));
                self.take_ready(store, group).await?;
                continue;
            }
            if !self.page.is_empty() {
                let mut group = Vec::with_capacity(READY_AT_ONCE);
                while group.len() < READY_AT_ONCE {
                    let Some(entry) = self.page.pop_front() else {
                        break;
                    };
                    if self.tried.insert(entry.id) {
                        group.push(entry);
                    }
                }
                self.take_ready(store, group).await?;
                continue;
            }
            if self.exhausted {
                return Ok(None);
            }
            let (store, now, last) = (store.clone(), self.now, self.last.clone());
            // Store reads, and the flush below, block: off the async workers.
            let page = tokio::task::spawn_blocking(move || {
                let page = match &last {
                    None => store.outbox_due(now, PAGE)?,
                    Some(last) => store.outbox_due_after(last, now, PAGE)?,
                };
                // An entry queued by another task (a broadcast between its commit and its
                // flush) is sent only once its record is durable: a crash could otherwise take
                // back the record of a mail already sent, and the mail would be queued and
                // sent again under a new Message-ID.
                if !page.is_empty() {
                    store.make_durable()?;
                }
                Ok::<_, StoreError>(page)
            })
            .await;
            let page = match page {
                Ok(page) => page?,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // Cancelled: the runtime is going down; nothing more is sent in this pass.
                Err(_) => return Ok(None),
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
    use crate::core::address::Address;
    use crate::core::service::ticket::{Change, Opening, Ticket};
    use crate::store::engine::{Batch, Engine, Entries, MemoryEngine};
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

    /// An engine whose writes become durable only when a flush, which takes `delay`, is done.
    struct SlowFlush {
        live: MemoryEngine,
        /// What a crash would keep: everything applied before the last flush started.
        durable: Arc<MemoryEngine>,
        delay: Duration,
    }

    /// The reads and writes of a test engine, passed to the memory engine in `$data`.
    macro_rules! data_in {
        ($data:ident) => {
            fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
                self.$data.get(key)
            }

            fn scan_prefix(&self, prefix: &[u8], limit: usize) -> Result<Entries, StoreError> {
                self.$data.scan_prefix(prefix, limit)
            }

            fn scan_range(
                &self,
                start: &[u8],
                end: &[u8],
                limit: usize,
            ) -> Result<Entries, StoreError> {
                self.$data.scan_range(start, end, limit)
            }

            fn apply(&self, batch: Batch) -> Result<(), StoreError> {
                self.$data.apply(batch)
            }
        };
    }

    impl Engine for SlowFlush {
        data_in!(live);

        fn flush(&self) -> Result<(), StoreError> {
            let snapshot = self.live.scan_prefix(b"", usize::MAX)?;
            std::thread::sleep(self.delay);
            let mut batch = Batch::default();
            for (key, _) in self.durable.scan_prefix(b"", usize::MAX)? {
                batch.delete(key);
            }
            for (key, value) in snapshot {
                batch.put(key, value);
            }
            self.durable.apply(batch)
        }
    }

    /// A store whose flushes take `delay`, and a view of what it has made durable.
    fn slow_flushing_store(delay: Duration) -> (Store, Store) {
        let durable = Arc::new(MemoryEngine::default());
        let engine = SlowFlush {
            live: MemoryEngine::default(),
            durable: durable.clone(),
            delay,
        };
        (
            Store::with_engine(Arc::new(engine)),
            Store::with_engine(durable),
        )
    }

    fn queue(store: &Store, n: u64, to: &str, ticket: Option<&str>) {
        queue_with_body(store, n, to, ticket, "body\r\n");
    }

    fn queue_with_body(store: &Store, n: u64, to: &str, ticket: Option<&str>, body: &str) {
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
                "Message-ID: <{}>\r\nSubject: notice {id}\r\n\r\n{body}",
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
        Transport::from_config(&c, Arc::new(ManualClock::new(t0()))).expect("transport")
    }

    /// What the test SMTP server saw.
    #[derive(Default)]
    struct Seen {
        /// Message-IDs of accepted mails, in order.
        accepted: Vec<String>,
        /// Mails whose final "." came while their outbox record was not durable yet (queued
        /// and committed, not flushed): a crash then would forget a mail already sent.
        sent_before_queued_durably: Vec<String>,
        /// Transactions between MAIL and the answer to their final ".".
        open: usize,
        max_open: usize,
        /// The most mails ever handed to the server without a recorded outcome in the store
        /// (open transactions plus accepted mails the store does not show as sent).
        max_unrecorded: usize,
        /// Final "." received and not answered yet.
        dotted: usize,
        /// The most mails the server could ever have committed without their outcome being
        /// durable, counted as each final "." arrives (mails whose "." it has, plus accepted
        /// mails the durable store does not show as sent): what a crash then would repeat.
        max_undurable: usize,
        /// The accepted messages as the server stored them (dots unstuffed, CRLF line ends).
        bodies: Vec<String>,
    }

    /// A minimal SMTP server on loopback that accepts everything and answers each final "."
    /// after `delay`. At every MAIL it counts the mails whose outcome `store` does not show
    /// yet; at every final "." those whose outcome is not durable in `durable`.
    async fn server(store: Store, durable: Store, delay: Duration) -> (u16, Arc<Mutex<Seen>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = seen.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (seen, store, durable) = (shared.clone(), store.clone(), durable.clone());
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
                                let mut body = String::new();
                                while let Ok(Some(l)) = lines.next_line().await {
                                    if l == "." {
                                        break;
                                    }
                                    let l = l.strip_prefix('.').unwrap_or(&l);
                                    if let Some(id) = l.strip_prefix("Message-ID: ") {
                                        message_id = id.trim_matches(['<', '>']).to_string();
                                    }
                                    body.push_str(l);
                                    body.push_str("\r\n");
                                }
                                let durable_sent = durable
                                    .outbox()
                                    .expect("outbox")
                                    .iter()
                                    .filter(|e| e.state == OutboxState::Sent)
                                    .count();
                                let queued_durably = durable
                                    .outbox_by_message_id(&message_id)
                                    .expect("durable outbox")
                                    .is_some();
                                {
                                    let mut s = seen.lock().expect("seen");
                                    if !queued_durably {
                                        s.sent_before_queued_durably.push(message_id.clone());
                                    }
                                    s.dotted += 1;
                                    let undurable =
                                        (s.dotted + s.accepted.len()).saturating_sub(durable_sent);
                                    s.max_undurable = s.max_undurable.max(undurable);
                                }
                                tokio::time::sleep(delay).await;
                                let mut s = seen.lock().expect("seen");
                                s.dotted -= 1;
                                s.open -= 1;
                                s.bodies.push(body);
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
        // A flush slower than the transaction before the final ".": a "." that did not wait
        // for the previous outcome's flush would find it not durable yet.
        let (store, durable) = slow_flushing_store(Duration::from_millis(5));
        queue(&store, n, "customer@acme.example", None);
        let (port, seen) = server(store.clone(), durable.clone(), Duration::from_millis(5)).await;
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
        let (mut accepted, max_unrecorded, max_undurable, max_open) = {
            let seen = seen.lock().expect("seen");
            (
                seen.accepted.clone(),
                seen.max_unrecorded,
                seen.max_undurable,
                seen.max_open,
            )
        };
        accepted.sort();
        accepted.dedup();
        assert_eq!(accepted.len(), n as usize, "each mail once: {accepted:?}");
        // The entries were queued without a flush, as a broadcast between its commit and its
        // flush leaves them: none may be sent before its record is durable.
        let early = seen
            .lock()
            .expect("seen")
            .sent_before_queued_durably
            .clone();
        assert!(early.is_empty(), "sent before durably queued: {early:?}");
        // In a window an entry holds its place from MAIL on. One at a time, a transaction
        // starts while the previous outcome is still being stored (MAIL commits nothing).
        let at_mail = if max_in_flight == 1 { 2 } else { max_in_flight };
        assert!(
            max_unrecorded <= at_mail,
            "at most {at_mail} mails without a recorded outcome at a MAIL, saw {max_unrecorded}"
        );
        assert!(
            max_undurable <= max_in_flight,
            "a crash could repeat at most {max_in_flight} mails, but {max_undurable} were \
             committable without a durable outcome"
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
        assert!(
            durable
                .outbox()
                .expect("outbox")
                .iter()
                .all(|e| e.state == OutboxState::Sent),
            "every outcome durable when the pass returns"
        );
        assert!(store.outbox_due(t0(), 10).expect("due").is_empty());
        assert_eq!(d.pass().await.expect("pass"), PassReport::default());
    }

    /// An engine that several processes share, as far as the delivery can tell: it records
    /// every claim asked of it and refuses ids another process is said to hold.
    struct SharedEngine {
        data: MemoryEngine,
        asked: Mutex<Vec<Vec<u64>>>,
        held_elsewhere: Vec<u64>,
    }

    impl Engine for SharedEngine {
        data_in!(data);

        fn flush(&self) -> Result<(), StoreError> {
            Ok(())
        }

        fn shared(&self) -> bool {
            true
        }

        fn claim(
            &self,
            ids: &[u64],
            _: &str,
            _: Duration,
            _: bool,
        ) -> Result<Vec<u64>, StoreError> {
            self.asked.lock().expect("asked").push(ids.to_vec());
            Ok(ids
                .iter()
                .copied()
                .filter(|id| !self.held_elsewhere.contains(id))
                .collect())
        }
    }

    #[tokio::test]
    async fn a_shared_store_claims_due_entries_as_a_group_and_again_those_that_waited_long() {
        let engine = Arc::new(SharedEngine {
            data: MemoryEngine::default(),
            asked: Mutex::new(Vec::new()),
            held_elsewhere: vec![4],
        });
        let store = Store::with_engine(engine.clone());
        // Claims run 200 ms: an entry still waiting after 100 ms is claimed again before it goes.
        store.set_lease_times(Duration::from_secs(30), Duration::from_millis(200));
        queue(&store, 4, "customer@acme.example", None);
        // Each mail takes 150 ms at the server.
        let (port, seen) = server(store.clone(), store.clone(), Duration::from_millis(150)).await;

        let report = delivery(&store, smtp(port), 1).pass().await.expect("pass");

        assert_eq!(
            report.sent, 3,
            "the entry another daemon holds is left to it"
        );
        let accepted = seen.lock().expect("seen").accepted.clone();
        assert_eq!(
            accepted,
            [
                "n1@provider.example",
                "n2@provider.example",
                "n3@provider.example"
            ]
        );
        assert_eq!(
            *engine.asked.lock().expect("asked"),
            [vec![1, 2, 3, 4], vec![2, 3], vec![3]],
            "one claim for the group; once 2 had waited past half its claim, what was left (2 \
             and 3) was claimed again, and 3 once more after 2's 150 ms"
        );
        let left = store.outbox_entry(4).expect("entry").expect("entry 4");
        assert_eq!(left.state, OutboxState::Queued);
    }

    #[tokio::test]
    async fn one_in_flight_makes_each_outcome_durable_before_the_next_final_dot() {
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
        let (port, seen) = server(store.clone(), store.clone(), Duration::from_millis(20)).await;
        let report = delivery(&store, smtp(port), 4).pass().await.expect("pass");
        assert_eq!(report.sent, 8);
        assert!(
            seen.lock().expect("seen").max_open > 1,
            "transactions overlapped"
        );
    }

    #[tokio::test]
    async fn a_body_with_lines_starting_with_a_dot_arrives_intact() {
        let store = Store::memory();
        let body = ".\r\n.hidden\r\n..two dots\r\nmiddle . dot\r\n.\r\nend\r\n";
        queue_with_body(&store, 1, "customer@acme.example", None, body);
        let (port, seen) = server(store.clone(), store.clone(), Duration::ZERO).await;

        let report = delivery(&store, smtp(port), 1).pass().await.expect("pass");

        assert_eq!(report.sent, 1);
        let bodies = seen.lock().expect("seen").bodies.clone();
        let sent = format!("Message-ID: <n1@provider.example>\r\nSubject: notice 1\r\n\r\n{body}");
        assert_eq!(bodies, vec![sent]);
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
