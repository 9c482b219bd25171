//! The registry: every count and state the daemon exposes, kept in atomics (and two small
//! locks) that the pipeline writes from any thread and a scrape reads without stopping it.
//!
//! Built once per process from the config (one entry per desk, so every desk's series exist
//! from the first scrape, at zero), shared behind an `Arc` by the context and the HTTP
//! endpoint. Times are the injected clock's (`now` comes in from the caller), so a test under
//! a manual clock or faketime sees the times it set.

use crate::config::Config;
use crate::core::mail::classify::MailKind;
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

/// A mail too large or too broken to be classified is counted under this kind.
pub const UNCLASSIFIED: &str = "unclassified";

/// How long a finished broadcast stays listed, so a scrape after its last batch still sees it
/// complete.
pub const FINISHED_BROADCAST_KEPT: Duration = Duration::minutes(60);

/// Readiness never asks a desk for a fetch more often than this, whatever its interval: one
/// long batch must not make the daemon look broken.
pub const MIN_READY_WINDOW: Duration = Duration::seconds(10);

/// A Maildir desk looks at its folder every second.
const MAILDIR_INTERVAL_SECS: i64 = 1;

/// The longest desk interval readiness reckons with (a year).
const MAX_INTERVAL_SECS: u64 = 366 * 24 * 3600;

/// What became of a processed mail (the ingest's outcome, in the registry's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processed {
    Created,
    Appended,
    Duplicate,
    Aside,
    Quarantined,
}

impl Processed {
    pub const ALL: [Processed; 5] = [
        Processed::Created,
        Processed::Appended,
        Processed::Duplicate,
        Processed::Aside,
        Processed::Quarantined,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Processed::Created => "created",
            Processed::Appended => "appended",
            Processed::Duplicate => "duplicate",
            Processed::Aside => "aside",
            Processed::Quarantined => "quarantined",
        }
    }
}

/// What became of one delivery attempt, as the outbox records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    Sent,
    /// A transient failure: the entry is tried again later.
    Retried,
    /// Refused for good, or out of attempts.
    Failed,
}

impl Delivered {
    pub const ALL: [Delivered; 3] = [Delivered::Sent, Delivered::Retried, Delivered::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Delivered::Sent => "sent",
            Delivered::Retried => "retried",
            Delivered::Failed => "failed",
        }
    }
}

/// Everything counted, for the whole process.
#[derive(Debug)]
pub struct Metrics {
    desks: Vec<DeskMetrics>,
    deliveries: [AtomicU64; 3],
    sla_warnings: AtomicU64,
    sla_breaches: AtomicU64,
    handovers: AtomicU64,
    /// The last word on the SMTP server: a delivery that went through, or a check.
    smtp: Mutex<Option<SmtpState>>,
    broadcasts: Mutex<BTreeMap<String, Broadcast>>,
    /// `/readyz` asks each desk for a successful fetch within this many of its intervals.
    pub ready_within_intervals: u32,
    /// When the process started counting (a desk not fetched yet is judged from here).
    pub started: DateTime<Utc>,
}

/// One desk's counts and state.
#[derive(Debug)]
pub struct DeskMetrics {
    pub name: String,
    /// How often the desk looks for mail when it is not in IDLE.
    pub interval: Duration,
    fetched: AtomicU64,
    kinds: [AtomicU64; MailKind::ALL.len() + 1],
    processed: [AtomicU64; 5],
    fetch_errors: AtomicU64,
    /// Unix milliseconds of the last successful fetch; `i64::MIN` before the first.
    last_success_ms: AtomicI64,
    idle: AtomicBool,
    last_error: Mutex<Option<String>>,
}

/// What the SMTP server last said, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpState {
    pub at: DateTime<Utc>,
    /// `None` when it worked; else what went wrong.
    pub error: Option<String>,
}

/// A maintenance or incident notice on its way to its audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Broadcast {
    /// Recipients whose notice is made and durably queued (or held).
    pub done: u64,
    /// The whole audience.
    pub total: u64,
    /// When the last recipient was queued; `None` while the notice is being carried out.
    pub finished: Option<DateTime<Utc>>,
}

impl Metrics {
    /// A registry with one entry per desk of `config`, all at zero.
    pub fn from_config(config: &Config, now: DateTime<Utc>) -> Metrics {
        let desks = config
            .desks
            .iter()
            .map(|d| {
                // Capped at a year: a larger poll is a mistake, and the window must not
                // overflow when multiplied.
                let secs = d.imap.as_ref().map_or(MAILDIR_INTERVAL_SECS, |i| {
                    i64::try_from(i.poll_interval_secs.clamp(1, MAX_INTERVAL_SECS))
                        .unwrap_or(MAILDIR_INTERVAL_SECS)
                });
                DeskMetrics::new(&d.name, Duration::seconds(secs))
            })
            .collect();
        Metrics {
            desks,
            deliveries: Default::default(),
            sla_warnings: AtomicU64::new(0),
            sla_breaches: AtomicU64::new(0),
            handovers: AtomicU64::new(0),
            smtp: Mutex::new(None),
            broadcasts: Mutex::new(BTreeMap::new()),
            ready_within_intervals: config.metrics.ready_within_intervals.max(1),
            started: now,
        }
    }

    /// The desk named `name`; `None` for a desk the config does not have.
    pub fn desk(&self, name: &str) -> Option<&DeskMetrics> {
        self.desks.iter().find(|d| d.name == name)
    }

    /// Every desk, in config order.
    pub fn desks(&self) -> &[DeskMetrics] {
        &self.desks
    }

    /// Counts the outcomes of one delivery pass.
    pub fn delivered(&self, outcome: Delivered, n: u64) {
        self.deliveries[outcome as usize].fetch_add(n, Ordering::Relaxed);
    }

    pub fn deliveries(&self, outcome: Delivered) -> u64 {
        self.deliveries[outcome as usize].load(Ordering::Relaxed)
    }

    /// Counts the SLA notices and handovers one timer pass sent.
    pub fn timers_fired(&self, warnings: u64, breaches: u64, handovers: u64) {
        self.sla_warnings.fetch_add(warnings, Ordering::Relaxed);
        self.sla_breaches.fetch_add(breaches, Ordering::Relaxed);
        self.handovers.fetch_add(handovers, Ordering::Relaxed);
    }

    /// SLA warnings, breaches and handovers sent.
    pub fn timers(&self) -> (u64, u64, u64) {
        (
            self.sla_warnings.load(Ordering::Relaxed),
            self.sla_breaches.load(Ordering::Relaxed),
            self.handovers.load(Ordering::Relaxed),
        )
    }

    /// Records what the SMTP server last did: `Ok` when it took a mail or answered a check.
    pub fn smtp_checked(&self, at: DateTime<Utc>, result: Result<(), String>) {
        *self.smtp.lock().unwrap_or_else(|e| e.into_inner()) = Some(SmtpState {
            at,
            error: result.err(),
        });
    }

    pub fn smtp(&self) -> Option<SmtpState> {
        self.smtp.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records a notice's progress: `done` of `total` recipients queued; `finished` when the
    /// last batch is in. Finished notices older than [`FINISHED_BROADCAST_KEPT`] are dropped.
    pub fn broadcast_progress(
        &self,
        notice: &str,
        done: u64,
        total: u64,
        finished: Option<DateTime<Utc>>,
    ) {
        let mut all = self.broadcasts.lock().unwrap_or_else(|e| e.into_inner());
        all.insert(
            notice.to_string(),
            Broadcast {
                done,
                total,
                finished,
            },
        );
        if let Some(now) = finished {
            all.retain(|_, b| {
                b.finished
                    .is_none_or(|f| now - f <= FINISHED_BROADCAST_KEPT)
            });
        }
    }

    /// The notices being carried out, and those finished within [`FINISHED_BROADCAST_KEPT`]
    /// of `now`, by notice key.
    pub fn broadcasts(&self, now: DateTime<Utc>) -> Vec<(String, Broadcast)> {
        let all = self.broadcasts.lock().unwrap_or_else(|e| e.into_inner());
        all.iter()
            .filter(|(_, b)| {
                b.finished
                    .is_none_or(|f| now - f <= FINISHED_BROADCAST_KEPT)
            })
            .map(|(k, b)| (k.clone(), *b))
            .collect()
    }
}

impl DeskMetrics {
    fn new(name: &str, interval: Duration) -> DeskMetrics {
        DeskMetrics {
            name: name.to_string(),
            interval,
            fetched: AtomicU64::new(0),
            kinds: Default::default(),
            processed: Default::default(),
            fetch_errors: AtomicU64::new(0),
            last_success_ms: AtomicI64::new(i64::MIN),
            idle: AtomicBool::new(false),
            last_error: Mutex::new(None),
        }
    }

    /// A mail came from the mailbox.
    pub fn fetched_one(&self) {
        self.fetched.fetch_add(1, Ordering::Relaxed);
    }

    pub fn fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }

    /// A mail was processed and committed: its kind (`None`: it could not be classified) and
    /// what it became.
    pub fn processed(&self, kind: Option<MailKind>, outcome: Processed) {
        let k = kind.map_or(MailKind::ALL.len(), |k| k as usize);
        self.kinds[k].fetch_add(1, Ordering::Relaxed);
        self.processed[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Every kind's name with its count, the unclassified last.
    pub fn kinds(&self) -> Vec<(&'static str, u64)> {
        MailKind::ALL
            .iter()
            .map(|k| k.as_str())
            .chain([UNCLASSIFIED])
            .zip(&self.kinds)
            .map(|(name, n)| (name, n.load(Ordering::Relaxed)))
            .collect()
    }

    pub fn outcomes(&self) -> Vec<(&'static str, u64)> {
        Processed::ALL
            .iter()
            .zip(&self.processed)
            .map(|(o, n)| (o.as_str(), n.load(Ordering::Relaxed)))
            .collect()
    }

    /// A fetch (or a wait for mail) went through.
    pub fn fetch_succeeded(&self, now: DateTime<Utc>) {
        self.last_success_ms
            .store(now.timestamp_millis(), Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Talking to the mailbox failed with `error`.
    pub fn fetch_failed(&self, error: &str) {
        self.fetch_errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.to_string());
    }

    pub fn fetch_errors(&self) -> u64 {
        self.fetch_errors.load(Ordering::Relaxed)
    }

    /// The last error since the last success.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn last_success(&self) -> Option<DateTime<Utc>> {
        match self.last_success_ms.load(Ordering::Relaxed) {
            i64::MIN => None,
            ms => DateTime::from_timestamp_millis(ms),
        }
    }

    /// How long the desk may go without a successful fetch before `/readyz` fails: its
    /// interval × `intervals`, at least [`MIN_READY_WINDOW`].
    pub fn ready_window(&self, intervals: u32) -> Duration {
        self.interval
            .checked_mul(i32::try_from(intervals).unwrap_or(i32::MAX))
            .unwrap_or(Duration::MAX)
            .max(MIN_READY_WINDOW)
    }

    /// Whether the desk waits for mail in IMAP IDLE (its connection is up and the server will
    /// tell it of new mail).
    pub fn set_idle(&self, idle: bool) {
        self.idle.store(idle, Ordering::Relaxed);
    }

    pub fn idle(&self) -> bool {
        self.idle.load(Ordering::Relaxed)
    }
}
