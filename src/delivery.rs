//! The delivery worker: sends due outbox entries and records each outcome durably.
//!
//! An entry is marked sent (and flushed) right after the SMTP server accepts it, before the next
//! one is sent, so a crash repeats at most the one transaction in flight — with the same bytes and
//! the same Message-ID, because the bytes were fixed when the entry was queued.

use crate::clock::Clock;
use crate::config::OutboxConfig;
use crate::core::outbox::{Attempt, OutboxEntry, OutboxState, RetryPolicy};
use crate::outbound::Transport;
use crate::store::{Store, StoreError};
use std::sync::Arc;
use tracing::Instrument;

pub struct Delivery {
    pub store: Store,
    pub transport: Transport,
    pub clock: Arc<dyn Clock>,
    pub policy: RetryPolicy,
}

/// What one pass over the outbox did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
}

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
        Delivery {
            store,
            transport,
            clock,
            policy,
        }
    }

    /// Tries every entry due now, once each. Entries queued meanwhile wait for the next pass
    /// (the delivery task is woken for them), so one scan of the queue is enough.
    pub async fn pass(&self) -> Result<PassReport, StoreError> {
        let mut report = PassReport::default();
        for entry in self.store.outbox_due(self.clock.now(), usize::MAX)? {
            let span = tracing::info_span!("send", outbox = entry.id, message_id = %entry.message_id, ticket = entry.ticket.as_deref().unwrap_or(""));
            // The span goes with the future: entered across an await it would leak into
            // whatever else the worker thread runs meanwhile.
            self.deliver_one(entry, &mut report)
                .instrument(span)
                .await?;
        }
        Ok(report)
    }

    /// Sends one entry and records the outcome durably.
    async fn deliver_one(
        &self,
        mut entry: OutboxEntry,
        report: &mut PassReport,
    ) -> Result<(), StoreError> {
        let Some(bytes) = self.store.outbox_bytes(entry.id)? else {
            tracing::error!("outbox entry has no bytes; marking it failed");
            entry.state = OutboxState::Failed;
            entry.last_error = Some("bytes missing from the store".into());
            let _writer = self.store.write_lock();
            let mut txn = self.store.txn();
            txn.put_outbox(&entry, None);
            txn.commit()?;
            report.failed += 1;
            return Ok(());
        };
        let attempt = self
            .transport
            .send(&entry.from, &entry.to, &entry.message_id, &bytes)
            .await;
        let now = self.clock.now();
        let _writer = self.store.write_lock();
        let mut txn = self.store.txn();
        match &attempt {
            Attempt::Sent => {
                tracing::info!(to = ?entry.to, "sent");
                report.sent += 1;
            }
            Attempt::Transient(e) => {
                tracing::warn!(error = %e, attempts = entry.attempts + 1, "delivery failed; will retry")
            }
            Attempt::Permanent(e) => {
                tracing::error!(error = %e, "delivery refused permanently")
            }
        }
        let failed_now = entry.record(attempt, &self.policy, now);
        if failed_now {
            report.failed += 1;
            if let Some(reference) = &entry.ticket {
                if let Some(mut t) = self.store.ticket(reference)? {
                    t.note(
                        format!(
                            "mail {} to {} could not be delivered: {}",
                            entry.message_id,
                            entry.to.join(", "),
                            entry.last_error.as_deref().unwrap_or("unknown error")
                        ),
                        "deskgate",
                        now,
                    );
                    txn.put_ticket(&t);
                }
            }
        } else if entry.state == OutboxState::Queued {
            report.retrying += 1;
        }
        txn.put_outbox(&entry, None);
        txn.commit()?;
        self.store.flush()?;
        Ok(())
    }
}
