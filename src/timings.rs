//! Where ingest spends its time: the seconds of each phase, summed over every mail since the
//! process started.
//!
//! The pipeline adds to it as it goes (the ingest's phases, rendering in `outgoing`, fetch,
//! flush and `\Seen` in the daemon); `run --once --json` prints it, and the ingest benchmark shows it per mail, so a
//! slower ingest says where it got slower. These are measurements of the machine, not domain
//! time: they read `Instant`, never the injected clock, and nothing decides anything by them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A step of ingest, in the order one mail goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Fetching from the mailbox (IMAP `UID FETCH`, or reading a Maildir), while nothing else
    /// waited for it: time the processing of earlier mail overlapped is not counted.
    Fetch,
    /// MIME parsing into the core's view of the mail.
    Parse,
    /// Classification, staff authentication, new-text extraction and the priority proposal.
    Classify,
    /// Compressing the raw mail and its text for the store, on the preparing thread.
    Pack,
    /// The duplicate check, the ticket lookups and the threading decision.
    Thread,
    /// The ticket change and the records it writes, rendering excluded.
    Apply,
    /// Rendering templates and composing the outgoing mail.
    Render,
    /// Committing the mail's transaction.
    Commit,
    /// Flushing the batch to disk.
    Flush,
    /// Telling the mailbox (`\Seen`, MOVE).
    Ack,
}

const PHASES: usize = 10;

/// Nanoseconds per [`Phase`], added from any thread.
#[derive(Debug, Default)]
pub struct Timings {
    nanos: [AtomicU64; PHASES],
}

impl Timings {
    pub fn add(&self, phase: Phase, d: Duration) {
        let n = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.nanos[phase as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Runs `f`, counting its time to `phase`.
    pub fn time<T>(&self, phase: Phase, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = f();
        self.add(phase, started.elapsed());
        out
    }

    pub fn snapshot(&self) -> PhaseSecs {
        let s = |p: Phase| self.nanos[p as usize].load(Ordering::Relaxed) as f64 / 1e9;
        PhaseSecs {
            fetch: s(Phase::Fetch),
            parse: s(Phase::Parse),
            classify: s(Phase::Classify),
            pack: s(Phase::Pack),
            thread: s(Phase::Thread),
            // Rendering happens inside the ticket change; it is shown apart.
            apply: (s(Phase::Apply) - s(Phase::Render)).max(0.0),
            render: s(Phase::Render),
            commit: s(Phase::Commit),
            flush: s(Phase::Flush),
            ack: s(Phase::Ack),
        }
    }
}

/// Seconds per phase (see [`Phase`]), as `run --once --json` prints them.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
pub struct PhaseSecs {
    pub fetch: f64,
    pub parse: f64,
    pub classify: f64,
    pub pack: f64,
    pub thread: f64,
    pub apply: f64,
    pub render: f64,
    pub commit: f64,
    pub flush: f64,
    pub ack: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_is_shown_apart_from_the_change_that_contains_it() {
        let t = Timings::default();
        t.add(Phase::Apply, Duration::from_millis(30));
        t.add(Phase::Render, Duration::from_millis(10));
        t.add(Phase::Flush, Duration::from_millis(5));
        t.add(Phase::Flush, Duration::from_millis(5));
        let s = t.snapshot();
        assert!((s.apply - 0.020).abs() < 1e-9, "{s:?}");
        assert!((s.render - 0.010).abs() < 1e-9, "{s:?}");
        assert!((s.flush - 0.010).abs() < 1e-9, "{s:?}");
        assert_eq!(s.parse, 0.0);
    }
}
