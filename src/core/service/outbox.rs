//! Outbox entries and their retry policy: when to try again, when to give up.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::core::str_enum::str_enum;

str_enum! {
    /// Where an outbox entry stands.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum OutboxState {
        Queued => "queued",
        Sent => "sent",
        Failed => "failed",
        /// Held back by a storm limit: never sent, kept for inspection (`last_error` says why).
        Held => "held",
    }
}

/// One mail to send. The rendered bytes are stored beside it, so a retry sends exactly the same
/// mail with the same Message-ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub id: u64,
    /// The ticket the mail is about, if any.
    pub ticket: Option<String>,
    /// What kind of mail: `ack`, …
    pub kind: String,
    /// Envelope sender (may be empty for bounces of our own).
    pub from: String,
    /// Envelope recipients.
    pub to: Vec<String>,
    pub subject: String,
    pub message_id: String,
    pub state: OutboxState,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// How deliveries are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
    pub max_attempts: u32,
}

/// The outcome of one delivery attempt, as the transport reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Sent,
    /// Worth trying again (connection trouble, 4xx).
    Transient(String),
    /// Never worth trying again (5xx).
    Permanent(String),
}

impl OutboxEntry {
    /// Applies an attempt's outcome at `now`; returns true when the entry just failed for good.
    pub fn record(&mut self, attempt: Attempt, policy: &RetryPolicy, now: DateTime<Utc>) -> bool {
        self.attempts += 1;
        match attempt {
            Attempt::Sent => {
                self.state = OutboxState::Sent;
                self.sent_at = Some(now);
                self.last_error = None;
                false
            }
            Attempt::Permanent(e) => {
                self.state = OutboxState::Failed;
                self.last_error = Some(e);
                true
            }
            Attempt::Transient(e) => {
                self.last_error = Some(e);
                if self.attempts >= policy.max_attempts {
                    self.state = OutboxState::Failed;
                    true
                } else {
                    self.next_attempt_at = now + policy.delay(self.attempts);
                    false
                }
            }
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff: initial × 2^(attempts-1), capped at `max`.
    pub fn delay(&self, attempts: u32) -> Duration {
        let factor = 1i64 << attempts.saturating_sub(1).min(30);
        let secs = self.initial.num_seconds().saturating_mul(factor);
        Duration::seconds(secs.min(self.max.num_seconds()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(now: DateTime<Utc>) -> OutboxEntry {
        OutboxEntry {
            id: 1,
            ticket: None,
            kind: "ack".into(),
            from: "desk@x".into(),
            to: vec!["c@y".into()],
            subject: "s".into(),
            message_id: "m@x".into(),
            state: OutboxState::Queued,
            attempts: 0,
            created_at: now,
            next_attempt_at: now,
            sent_at: None,
            last_error: None,
        }
    }

    #[test]
    fn transient_failures_back_off_then_give_up() {
        let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("fixed instant");
        let policy = RetryPolicy {
            initial: Duration::seconds(30),
            max: Duration::seconds(100),
            max_attempts: 4,
        };
        let mut e = entry(now);
        assert!(!e.record(Attempt::Transient("421".into()), &policy, now));
        assert_eq!(e.next_attempt_at - now, Duration::seconds(30));
        assert!(!e.record(Attempt::Transient("421".into()), &policy, now));
        assert_eq!(e.next_attempt_at - now, Duration::seconds(60));
        assert!(!e.record(Attempt::Transient("421".into()), &policy, now));
        assert_eq!(
            e.next_attempt_at - now,
            Duration::seconds(100),
            "capped at max"
        );
        assert!(e.record(Attempt::Transient("421".into()), &policy, now));
        assert_eq!(e.state, OutboxState::Failed);
    }

    #[test]
    fn a_permanent_failure_fails_at_once() {
        let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("fixed instant");
        let policy = RetryPolicy {
            initial: Duration::seconds(30),
            max: Duration::seconds(100),
            max_attempts: 4,
        };
        let mut e = entry(now);
        assert!(e.record(Attempt::Permanent("550 no such user".into()), &policy, now));
        assert_eq!(e.state, OutboxState::Failed);
        assert_eq!(e.attempts, 1);
    }
}
