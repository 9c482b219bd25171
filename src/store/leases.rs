//! Leases and claims: how several processes share one store (PostgreSQL) without doing the same
//! work twice.
//!
//! A lease names a piece of work one process at a time may do: a desk's mailbox
//! ([`desk`]), the SLA timers and handovers ([`TIMERS`]), the broadcast passes ([`BROADCAST`]),
//! and every read-modify-write of the store ([`WRITER`], taken by [`Store::write_lock`]). It is
//! a row in the database with a holder, an expiry by the database's clock and an epoch that
//! grows whenever it changes hands. Whoever wants the work takes or renews it
//! ([`Store::take_lease`]); a holder that dies or hangs stops renewing, and after the lease's
//! time another process takes it over. The holder's commits carry the epoch it holds
//! ([`engine::Fence`]) and the database refuses them once the lease has moved on
//! ([`StoreError::Fenced`]): a daemon paused past its lease cannot commit what it prepared under
//! it.
//!
//! This file keeps what this process believes it holds (renewed by the daemon, see
//! `daemon/leases.rs`) and the fences its transactions carry. On an engine for one process
//! (sled, memory) every lease is always ours and nothing here reaches the engine.

use super::engine::Engine;
use super::engine::Fence;
use super::{Store, StoreError, Txn};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// The SLA timers and shift handovers.
pub const TIMERS: &str = "timers";
/// The maintenance and incident notices' passes.
pub const BROADCAST: &str = "broadcast";
/// Every read-modify-write of the store: held from the first read of a record to the commit
/// of its new version.
pub const WRITER: &str = "writer";

/// The lease of a desk's mailbox (fetching, and moving its checkpoint).
pub fn desk(name: &str) -> String {
    format!("desk:{name}")
}

/// The lease of one process's life (named by its holder, so nobody else ever takes it): held
/// from its first outbox claim, renewed by the daemon with its other leases, let go when it
/// stops. A claim is honoured only while its holder's life lease runs, so the entries a killed
/// daemon had claimed are sent by another within a lease time or two, not a claim time. The
/// PostgreSQL engine's claim statements spell the same `life:` prefix.
pub fn life(holder: &str) -> String {
    format!("life:{holder}")
}

/// How long a lease runs without renewal, and a claim on an outbox entry, unless configured
/// (`[store] lease_secs`, `claim_secs`).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
pub const DEFAULT_CLAIM: Duration = Duration::from_secs(300);

/// What this process holds, and as whom.
pub(super) struct Leases {
    /// This process's name in the lease table: host, process id and a random tag (a restarted
    /// daemon is a new holder, so its first lease is a new epoch).
    holder: String,
    /// This process's life lease ([`life`] of `holder`), named once.
    life: String,
    ttl: Mutex<(Duration, Duration)>,
    held: Mutex<HashMap<String, Held>>,
    /// Leases this process let go (it is done with that work: it is stopping), and those it
    /// stood down from until a time (the work kept failing here: another process may do
    /// better). Held across the engine's call while taking or releasing, so a renewal racing a
    /// release cannot take the lease back after it was let go.
    given_up: Mutex<HashMap<String, Option<Instant>>>,
    /// The writer lease, kept between write locks (see [`Store::lock_writers`]).
    writer: WriterLease,
    /// Ended processes' life leases were forgotten (once per process, at its first claim).
    lives_forgotten: AtomicBool,
    /// Since when this process has held its life lease without a break (by its own clock).
    life_since: Mutex<Option<Instant>>,
}

/// How long this process keeps the writer lease once taken, through as many write locks as it
/// takes meanwhile, before it lets it go for others: a busy ingest takes it once per slice,
/// not twice per mail (two round trips and two updates of one hot row fewer per commit).
const WRITER_SLICE: Duration = Duration::from_millis(100);
/// How long the writer lease is kept unused before it is let go (by the releasing thread).
const WRITER_IDLE: Duration = Duration::from_millis(5);
/// How long a process that was asked for the writer lease stays away after letting it go, so
/// that the process waiting for it (which asks again at least every 20 ms) gets it.
const WRITER_STAND_BACK: Duration = Duration::from_millis(30);
/// The longest pause between two tries of a process waiting for the writer lease.
const WRITER_POLL_MAX: Duration = Duration::from_millis(20);

/// The writer lease of this process: held from its first write lock to the end of its slice or
/// until it is unused for [`WRITER_IDLE`], whichever comes first.
#[derive(Default)]
pub(super) struct WriterLease {
    state: Mutex<WriterState>,
    /// The releasing thread, once started: unparked when the lease is kept after a write lock,
    /// and when the store is dropped (to end). It waits by sleeping and parking, never with a
    /// timed condition variable: those wait until an absolute time of the monotonic clock,
    /// which a shifted clock (libfaketime in CI, three years ahead) moves out of reach.
    releaser: Mutex<Option<std::thread::Thread>>,
}

impl Drop for Leases {
    fn drop(&mut self) {
        if let Some(t) = locked(&self.writer.releaser).as_ref() {
            t.unpark();
        }
    }
}

#[derive(Default)]
struct WriterState {
    /// The lease as taken, while this process holds it (between write locks too).
    held: Option<HeldWriter>,
    /// A write lock is held now: every commit carries the fence.
    locked: bool,
    /// When the last write lock ended.
    used: Option<Instant>,
    /// Another process asked for the lease: it is not taken again before this.
    away_until: Option<Instant>,
}

struct HeldWriter {
    fence: Fence,
    /// When it was taken: the slice runs from here.
    taken: Instant,
    /// When it runs out by our clock.
    until: Instant,
}

/// One lease as this process last took it.
#[derive(Debug, Clone, Copy)]
struct Held {
    /// `None`: wanted, but another process holds it.
    epoch: Option<u64>,
    /// When it runs out by our own clock: the time of the request that took it plus its
    /// length, so we stop before the database could give it to another.
    until: Instant,
}

impl Default for Leases {
    fn default() -> Leases {
        let tag: u32 = rand::random();
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "host".into());
        let holder = format!("{host}:{}:{tag:08x}", std::process::id());
        Leases {
            life: life(&holder),
            holder,
            ttl: Mutex::new((DEFAULT_LEASE, DEFAULT_CLAIM)),
            held: Mutex::default(),
            given_up: Mutex::default(),
            writer: WriterLease::default(),
            lives_forgotten: AtomicBool::new(false),
            life_since: Mutex::new(None),
        }
    }
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Leases {
    fn fence(&self, name: &str) -> Option<Fence> {
        locked(&self.held).get(name).map(|h| Fence {
            lease: name.to_string(),
            holder: self.holder.clone(),
            epoch: h.epoch.unwrap_or(0),
        })
    }
}

impl Store {
    /// Whether other processes may use this store at the same time (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.engine.shared()
    }

    /// This process's name in the lease and claim tables.
    pub fn holder(&self) -> &str {
        &self.leases.holder
    }

    /// Sets how long leases and outbox claims run (`[store] lease_secs`, `claim_secs`).
    pub fn set_lease_times(&self, lease: Duration, claim: Duration) {
        *locked(&self.leases.ttl) = (lease, claim);
    }

    /// How long a lease runs without renewal.
    pub fn lease_time(&self) -> Duration {
        locked(&self.leases.ttl).0
    }

    /// Takes or renews the lease `name`; true if this process holds it now. From now on the
    /// transactions that need it carry its fence (at epoch 0, which always refuses, while
    /// another process holds it). A failure (the database unreachable) changes nothing: what
    /// we held runs out by itself. A lease this process let go is not taken again.
    pub fn take_lease(&self, name: &str) -> Result<bool, StoreError> {
        let ttl = self.lease_time();
        let mut given_up = locked(&self.leases.given_up);
        match given_up.get(name) {
            Some(None) => return Ok(false),
            Some(Some(until)) if Instant::now() < *until => return Ok(false),
            Some(Some(_)) => {
                given_up.remove(name);
            }
            None => {}
        }
        let asked = Instant::now();
        let epoch = self.engine.take_lease(name, &self.leases.holder, ttl)?;
        drop(given_up);
        if epoch.is_some() && name == self.life_lease() {
            // Unbroken only if the answer came before the lease ran out by our clock (which
            // is never later than the database's): the renewal was then made in time. After a
            // break, the new unbroken run is counted from the answer.
            let answered = Instant::now();
            let before = locked(&self.leases.held).get(name).copied();
            let unbroken = before.is_some_and(|b| b.epoch.is_some() && answered < b.until);
            if !unbroken {
                *locked(&self.leases.life_since) = Some(answered);
            }
        }
        locked(&self.leases.held).insert(
            name.to_string(),
            Held {
                epoch,
                until: asked + ttl,
            },
        );
        Ok(epoch.is_some())
    }

    /// Lets a lease go for good, so another process takes it over at once (this process is
    /// done with that work: it is stopping).
    pub fn release_lease(&self, name: &str) -> Result<(), StoreError> {
        self.let_lease_go(name, None)
    }

    /// Lets a lease go and does not take it again for `rest`: the work it stands for keeps
    /// failing in this process (a desk whose mailbox this machine cannot reach, or logs in to
    /// with a password another machine has the new version of), so another process that wants
    /// it takes it over at once. With no other process, this one takes it back after `rest`.
    pub fn stand_down(&self, name: &str, rest: Duration) -> Result<(), StoreError> {
        self.let_lease_go(name, Some(Instant::now() + rest))
    }

    fn let_lease_go(&self, name: &str, until: Option<Instant>) -> Result<(), StoreError> {
        let mut given_up = locked(&self.leases.given_up);
        // Let go for good (the process stops) outlasts any rest.
        let was = given_up.insert(name.to_string(), until);
        if was == Some(None) {
            given_up.insert(name.to_string(), None);
        }
        if let Some(h) = locked(&self.leases.held).get_mut(name) {
            h.epoch = None;
        }
        self.engine
            .release_lease(name, &self.leases.holder)
            .map(drop)
    }

    /// The epoch at which this process holds `name`, if it does and the lease has not run out
    /// by our clock.
    pub fn lease_epoch(&self, name: &str) -> Option<u64> {
        let held = locked(&self.leases.held).get(name).copied()?;
        held.epoch.filter(|_| Instant::now() < held.until)
    }

    /// Whether this process may do the work `name` stands for now: always on a store of one
    /// process; on a shared one, while it holds the lease. A process that never asked for the
    /// lease (`run --once`, a CLI command without a daemon) asks once here.
    pub fn may_act(&self, name: &str) -> bool {
        if !self.is_shared() {
            return true;
        }
        let known = locked(&self.leases.held).contains_key(name);
        if !known {
            if let Err(e) = self.take_lease(name) {
                tracing::warn!(lease = name, error = %e, "cannot take the lease");
                return false;
            }
        }
        self.lease_epoch(name).is_some()
    }

    /// This process's life lease ([`life`]).
    pub fn life_lease(&self) -> &str {
        &self.leases.life
    }

    /// Claims outbox entries before their SMTP transactions, in one round trip: those no
    /// other process holds a claim on (in ascending order). Committed before it returns. On a
    /// store of one process, every one. This process's life lease is taken or renewed first
    /// when a third of its time has passed: the claims hold while it runs
    /// ([`Store::claims_hold`]). Without it (let go: the process is stopping), nothing is
    /// claimed.
    pub fn claim_outbox(&self, ids: &[u64]) -> Result<Vec<u64>, StoreError> {
        Ok(self.claim_outbox_timed(ids)?.0)
    }

    /// [`Store::claim_outbox`], with the instant the claim was asked for (after any renewal
    /// of the life lease): the claims hold while [`Store::claims_hold`] says so of it.
    pub fn claim_outbox_timed(&self, ids: &[u64]) -> Result<(Vec<u64>, Instant), StoreError> {
        if !self.is_shared() {
            return Ok((ids.to_vec(), Instant::now()));
        }
        let (lease, claim) = *locked(&self.leases.ttl);
        let name = self.life_lease();
        let fresh = locked(&self.leases.held)
            .get(name)
            .is_some_and(|h| h.epoch.is_some() && Instant::now() + lease * 2 / 3 < h.until);
        if !fresh && !self.take_lease(name)? {
            tracing::warn!(lease = %name, "no life lease (stopping): nothing claimed");
            return Ok((Vec::new(), Instant::now()));
        }
        if !self.leases.lives_forgotten.swap(true, Ordering::Relaxed) {
            if let Err(e) = self.engine.forget_ended_lives() {
                tracing::debug!(error = %e, "ended processes' life leases not forgotten");
            }
        }
        // Ascending, once each: two processes claiming overlapping sets lock the rows in the
        // same order, so neither waits for the other in a cycle.
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let asked = Instant::now();
        let claimed =
            self.engine
                .claim(&ids, &self.leases.holder, claim, self.may_take_over_lives())?;
        Ok((claimed, asked))
    }

    /// How long a claim runs ([`Store::claim_outbox`]).
    pub fn claim_time(&self) -> std::time::Duration {
        locked(&self.leases.ttl).1
    }

    /// Whether this process may take over the claims of processes whose life lease has run
    /// out: only once its own has run without a break for a lease time. A database that was
    /// out of reach lets every process's life lease run out at once; the living renew theirs
    /// within a lease time of its return and commit the outcomes of what they sent meanwhile,
    /// so only a life still lapsed after that is a sign of death.
    fn may_take_over_lives(&self) -> bool {
        let since = *locked(&self.leases.life_since);
        since.is_some_and(|t| t.elapsed() >= self.lease_time())
            && self.lease_epoch(self.life_lease()).is_some()
    }

    /// Whether the claims this process asked for at `claimed_at` still hold by its own clock:
    /// its life lease has run without a break since then (a break is when another process may
    /// have taken them over). Checked before each SMTP transaction; when false, the entry is
    /// claimed again first (which renews the life lease), and is sent only if no other process
    /// took it meanwhile. Always true on a store of one process.
    pub fn claims_hold(&self, claimed_at: Instant) -> bool {
        if !self.is_shared() {
            return true;
        }
        let since = *locked(&self.leases.life_since);
        self.lease_epoch(self.life_lease()).is_some() && since.is_some_and(|s| s <= claimed_at)
    }

    /// Gives up this process's claims on these entries (their outcomes are durable).
    pub fn release_outbox(&self, ids: &[u64]) -> Result<(), StoreError> {
        self.engine.release_claims(ids, &self.leases.holder)
    }

    /// Takes the writer lease for [`Store::write_lock`] on a shared store, or goes on with the
    /// one this process still holds from an earlier write lock within its slice. Waits while
    /// another process holds it (at most its lease time, if that process hangs), telling it so,
    /// so that it lets go at the end of its slice and stands back. If the database cannot be
    /// reached, the fence is at epoch 0, so every commit under this lock is refused rather than
    /// made on reads another process may have changed.
    pub(super) fn lock_writers(&self) {
        if !self.is_shared() {
            return;
        }
        let writer = &self.leases.writer;
        let mut st = locked(&writer.state);
        st.locked = true;
        let now = Instant::now();
        if let Some(h) = &st.held {
            if now < h.taken + WRITER_SLICE && now + WRITER_SLICE < h.until {
                return;
            }
            // Its slice is over: let it go first, so that a process waiting for it gets it.
            self.let_writer_go(&mut st);
        }
        // Waiting (to stand back, or for another process) is done without the state's lock, so
        // a flush meanwhile never waits for it; the store's own writer mutex, which the caller
        // holds, keeps other write locks of this process out.
        let back = st.away_until.take();
        drop(st);
        if let Some(back) = back {
            std::thread::sleep(back.saturating_duration_since(Instant::now()));
        }
        let ttl = self.lease_time();
        let mut pause = Duration::from_millis(1);
        let asked = loop {
            let asked = Instant::now();
            match self.engine.take_lease(WRITER, &self.leases.holder, ttl) {
                Ok(Some(epoch)) => break Some((asked, epoch)),
                Ok(None) => {
                    if let Err(e) = self.engine.want_lease(WRITER, &self.leases.holder) {
                        tracing::debug!(error = %e, "cannot ask for the store's writer lease");
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(WRITER_POLL_MAX);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take the store's writer lease");
                    break None;
                }
            }
        };
        let (taken, epoch) = asked.unwrap_or((now, 0));
        locked(&writer.state).held = Some(HeldWriter {
            fence: Fence {
                lease: WRITER.into(),
                holder: self.leases.holder.clone(),
                epoch,
            },
            taken,
            until: taken + ttl,
        });
    }

    /// The end of a [`Store::write_lock`]: the writer lease is let go at the end of its slice,
    /// and kept otherwise for the next write lock (the releasing thread lets it go once it is
    /// unused for [`WRITER_IDLE`]).
    pub(super) fn unlock_writers(&self) {
        if !self.is_shared() {
            return;
        }
        let writer = &self.leases.writer;
        let mut st = locked(&writer.state);
        st.locked = false;
        let now = Instant::now();
        st.used = Some(now);
        let keep = match &st.held {
            Some(h) => h.fence.epoch != 0 && now < h.taken + WRITER_SLICE,
            None => return,
        };
        if !keep {
            self.let_writer_go(&mut st);
            return;
        }
        drop(st);
        let mut releaser = locked(&writer.releaser);
        if releaser.is_none() {
            *releaser = self.start_writer_releaser();
        }
        if let Some(t) = releaser.as_ref() {
            t.unpark();
        }
    }

    /// Lets the writer lease go if this process keeps it unused (the end of a unit of work: a
    /// flush), unless a write lock is held right now.
    pub(super) fn let_unused_writer_go(&self) {
        if !self.is_shared() {
            return;
        }
        let mut st = locked(&self.leases.writer.state);
        if !st.locked && st.held.is_some() {
            self.let_writer_go(&mut st);
        }
    }

    fn let_writer_go(&self, st: &mut WriterState) {
        let Some(h) = st.held.take() else { return };
        if h.fence.epoch == 0 {
            return;
        }
        released(st, self.engine.release_lease(WRITER, &self.leases.holder));
    }

    /// Starts the thread that lets the writer lease go once it is unused for [`WRITER_IDLE`].
    /// It holds the store only weakly, and only while it looks: it ends once the store's last
    /// clone is gone (dropping the store wakes it).
    fn start_writer_releaser(&self) -> Option<std::thread::Thread> {
        let leases: Weak<Leases> = Arc::downgrade(&self.leases);
        let engine: Weak<dyn Engine> = Arc::downgrade(&self.engine);
        let spawned = std::thread::Builder::new()
            .name("deskgate-writer-lease".into())
            .spawn(move || loop {
                let sleep = {
                    let (Some(leases), Some(engine)) = (leases.upgrade(), engine.upgrade()) else {
                        return;
                    };
                    let mut st = locked(&leases.writer.state);
                    match (&st.held, st.locked, st.used) {
                        (Some(_), false, Some(used)) => {
                            let now = Instant::now();
                            if now >= used + WRITER_IDLE {
                                st.held = None;
                                released(&mut st, engine.release_lease(WRITER, &leases.holder));
                                None
                            } else {
                                Some(used + WRITER_IDLE - now)
                            }
                        }
                        // Nothing kept, or a write lock holds it: its end wakes this thread.
                        _ => None,
                    }
                };
                match sleep {
                    Some(d) => std::thread::sleep(d),
                    None => std::thread::park(),
                }
            });
        spawned.ok().map(|handle| handle.thread().clone())
    }

    /// The fences every commit carries now: the writer lease while a write lock is held.
    pub(super) fn commit_fences(&self) -> Option<Fence> {
        if !self.is_shared() {
            return None;
        }
        let st = locked(&self.leases.writer.state);
        st.held
            .as_ref()
            .filter(|_| st.locked)
            .map(|h| h.fence.clone())
    }
}

/// After the writer lease was given back: if another process asked for it meanwhile, this one
/// stands back before it takes it again. A release that failed changes nothing: the lease runs
/// out by itself.
fn released(st: &mut WriterState, released: Result<bool, StoreError>) {
    match released {
        Ok(true) => st.away_until = Some(Instant::now() + WRITER_STAND_BACK),
        Ok(false) => {}
        Err(e) => tracing::debug!(error = %e, "cannot release the store's writer lease"),
    }
}

impl Txn<'_> {
    /// Makes this transaction commit only while this process still holds the lease `name` at
    /// the epoch it took it at (a lease it never asked for adds nothing: a process alone on its
    /// store, or one run of a command).
    pub fn fence(&mut self, name: &str) {
        if let Some(f) = self.store.leases.fence(name) {
            if !self.batch.fences.contains(&f) {
                self.batch.fences.push(f);
            }
        }
    }
}
