//! Broadcasts: maintenance and incident notices, carried to every recipient exactly once.
//!
//! A pass ([`run_due`]) looks at every maintenance and incident in the store, asks the pure core
//! which notices are due (`Maintenance::notices_due`, `Incident::notices_due`, given the notices
//! already begun), and carries each one out: for every recipient of the audience
//! (`Directory::audience`: the maintenance-role contacts of each account in scope, the partner's
//! for a managed account) it renders the notice in the recipient's language and zone, composes
//! it (text, HTML and, for maintenance, the BCOP iCalendar part) and queues it in the outbox.
//!
//! Exactly once per recipient per notice, whatever crashes: the notice's record (`bn/`) is
//! written with its first recipients, each recipient's key (`bs/<notice>/<account>/<address>`)
//! in the same atomic batch as the outbox entry that carries the notice to them, and every
//! batch is flushed before the delivery task can send from it. A pass that finds a notice begun
//! but not done queues only the recipients without a key; a notice begun counts as sent for
//! the core, so a later update cannot make it send the same step again.
//!
//! The send rate limit (`[broadcast] per_minute`) spreads the entries' first attempts over
//! time (`core::limits::spread`), remembered across passes, so a campaign of 10,000 takes its
//! 17 minutes at 600/min while acknowledgements queued meanwhile go out at once.

pub mod notice;
pub mod ops;

use crate::config::Desk;
use crate::core::accounts::{NoticeRecipient, Role};
use crate::core::incident::{Incident, IncidentNoticeKey};
use crate::core::maintenance::{Maintenance, Notice, NoticeKey};
use crate::core::outbox::{OutboxEntry, OutboxState};
use crate::ingest::Ingestor;
use crate::store::{NoticeRecord, StoreError, Subject};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Recipients queued per transaction (and flush).
const BATCH: usize = 500;

/// What a broadcast pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BroadcastReport {
    /// Notices carried out (or finished) in this pass.
    pub notices: usize,
    /// Outbox entries queued.
    pub queued: usize,
    /// Entries held back: the address is flagged after hard bounces.
    pub held: usize,
    /// Recipients whose notice could not be made (a template error): logged, not queued.
    pub failed: usize,
}

impl std::ops::AddAssign for BroadcastReport {
    fn add_assign(&mut self, o: BroadcastReport) {
        self.notices += o.notices;
        self.queued += o.queued;
        self.held += o.held;
        self.failed += o.failed;
    }
}

/// One notice to carry out: about what, and its record.
pub(crate) enum Work<'a> {
    Maintenance {
        m: &'a Maintenance,
        notice: Notice,
    },
    Incident {
        i: &'a Incident,
        key: IncidentNoticeKey,
    },
}

impl Work<'_> {
    fn subject(&self) -> Subject {
        match self {
            Work::Maintenance { .. } => Subject::Maintenance,
            Work::Incident { .. } => Subject::Incident,
        }
    }

    fn key(&self) -> String {
        match self {
            Work::Maintenance { notice, .. } => notice.key.to_string(),
            Work::Incident { key, .. } => key.to_string(),
        }
    }

    fn record(&self, now: DateTime<Utc>) -> NoticeRecord {
        let (of, kind, window) = match self {
            Work::Maintenance { m, notice } => (
                m.id().to_string(),
                notice.kind.to_string(),
                Some(notice.occurrence),
            ),
            Work::Incident { i, key } => (i.id().to_string(), key.kind.to_string(), None),
        };
        NoticeRecord {
            subject: self.subject(),
            of,
            key: self.key(),
            kind,
            window,
            begun: now,
            done: None,
            queued: 0,
            held: 0,
        }
    }

    /// Who is told.
    fn audience<'d>(
        &self,
        directory: &'d crate::core::accounts::Directory,
    ) -> Vec<NoticeRecipient<'d>> {
        match self {
            Work::Maintenance { m, .. } => directory.audience(
                |a| m.affects(&a.sites, &a.services),
                Role::Maintenance,
                false,
            ),
            Work::Incident { i, .. } => directory.audience(
                |a| i.affects(&a.sites, &a.services),
                Role::Maintenance,
                i.security(),
            ),
        }
    }
}

/// Carries out every notice due at `now`, and finishes those a crash interrupted. Holds the
/// broadcast lock for the whole pass, so two passes (the timer task's and an ops command's)
/// never queue the same recipient twice.
pub fn run_due(ingestor: &Ingestor, now: DateTime<Utc>) -> Result<BroadcastReport, StoreError> {
    let _one_pass = ingestor.broadcast_lock();
    let mut report = BroadcastReport::default();
    let Some(desk) = ingestor.config.broadcast_desk().cloned() else {
        return Ok(report);
    };
    let schedule = match ingestor.config.broadcast.schedule() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "broadcasts stopped: bad [broadcast] durations");
            return Ok(report);
        }
    };
    for m in ingestor.store.maintenances()? {
        let records = ingestor.store.notices(Subject::Maintenance, m.id())?;
        for r in records.iter().filter(|r| r.done.is_none()) {
            let (Ok(key), Some(window)) = (r.key.parse::<NoticeKey>(), r.window) else {
                tracing::error!(notice = %r.key, "unreadable notice record; skipped");
                continue;
            };
            let notice = Notice {
                kind: key.kind,
                occurrence: window,
                key,
            };
            let work = Work::Maintenance { m: &m, notice };
            report += carry_out(ingestor, &desk, &work, r.clone(), now)?;
        }
        let sent: Vec<NoticeKey> = records.iter().filter_map(|r| r.key.parse().ok()).collect();
        for notice in m.notices_due(&schedule, &sent, now) {
            let work = Work::Maintenance { m: &m, notice };
            let record = work.record(now);
            report += carry_out(ingestor, &desk, &work, record, now)?;
        }
    }
    for i in ingestor.store.incidents()? {
        let records = ingestor.store.notices(Subject::Incident, i.id())?;
        for r in records.iter().filter(|r| r.done.is_none()) {
            let Ok(key) = r.key.parse::<IncidentNoticeKey>() else {
                tracing::error!(notice = %r.key, "unreadable notice record; skipped");
                continue;
            };
            let work = Work::Incident { i: &i, key };
            report += carry_out(ingestor, &desk, &work, r.clone(), now)?;
        }
        let sent: Vec<IncidentNoticeKey> =
            records.iter().filter_map(|r| r.key.parse().ok()).collect();
        for n in i.notices_due(&sent) {
            let work = Work::Incident { i: &i, key: n.key };
            let record = work.record(now);
            report += carry_out(ingestor, &desk, &work, record, now)?;
        }
    }
    Ok(report)
}

/// Queues `work` for every recipient of its audience who has no entry for it yet, in flushed
/// batches, then marks the notice done.
fn carry_out(
    ingestor: &Ingestor,
    desk: &Desk,
    work: &Work<'_>,
    mut record: NoticeRecord,
    now: DateTime<Utc>,
) -> Result<BroadcastReport, StoreError> {
    let store = &ingestor.store;
    let directory = ingestor.directory();
    let audience = work.audience(&directory);
    let key = work.key();
    let subject = work.subject();
    let done = store.notice_recipients(subject, &key)?;
    let todo: Vec<&NoticeRecipient<'_>> = audience
        .iter()
        .filter(|r| !done.contains(&(r.account.id.clone(), r.contact.address.clone())))
        .collect();
    let span = tracing::info_span!("notice", notice = %key);
    let _entered = span.enter();
    if audience.is_empty() {
        tracing::warn!("nobody holds the maintenance role in an account in scope: notice recorded, sent to no one");
    } else if todo.len() < audience.len() {
        tracing::info!(
            done = audience.len() - todo.len(),
            remaining = todo.len(),
            "finishing a notice a restart interrupted"
        );
    }
    let mut report = BroadcastReport {
        notices: 1,
        ..BroadcastReport::default()
    };
    let composer = notice::Composer::new(ingestor, desk, now);
    for chunk in todo.chunks(BATCH) {
        let _writer = store.write_lock();
        let mut txn = store.txn();
        let mut slot: Option<DateTime<Utc>> = store.meta("broadcast_slot")?;
        for r in chunk {
            let mail = match composer.compose(work, r) {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!(to = %r.contact.address, error = %e, "notice not made for this recipient");
                    report.failed += 1;
                    continue;
                }
            };
            let id = txn.next_seq("outbox")?;
            let flagged = store.recipient(&r.contact.address)?;
            let (at, next) =
                crate::core::limits::spread(slot, now, ingestor.config.broadcast.per_minute);
            slot = Some(next);
            let held = flagged.flagged.then(|| {
                format!(
                    "held: {} is flagged after {} hard bounces",
                    r.contact.address, flagged.hard_bounces
                )
            });
            let entry = OutboxEntry {
                id,
                ticket: None,
                kind: match subject {
                    Subject::Maintenance => "maintenance".into(),
                    Subject::Incident => "incident".into(),
                },
                from: ingestor.envelope_sender(desk, id),
                to: vec![r.contact.address.clone()],
                subject: mail.subject,
                message_id: mail.message_id,
                state: if held.is_some() {
                    OutboxState::Held
                } else {
                    OutboxState::Queued
                },
                attempts: 0,
                created_at: now,
                next_attempt_at: at,
                sent_at: None,
                last_error: held.clone(),
            };
            if held.is_some() {
                record.held += 1;
                report.held += 1;
            } else {
                record.queued += 1;
                report.queued += 1;
            }
            txn.put_outbox(&entry, Some(&mail.bytes));
            txn.put_notice_recipient(subject, &key, &r.account.id, &r.contact.address, id);
        }
        if let Some(slot) = slot {
            txn.put_meta("broadcast_slot", &slot);
        }
        txn.put_notice(&record);
        txn.commit()?;
        // Durable before the delivery task may send from it: a crash can then repeat nothing.
        store.flush()?;
        // Progress of a large campaign, for ops watching the log.
        tracing::info!(
            queued = record.queued,
            held = record.held,
            audience = audience.len(),
            "notice batch queued"
        );
    }
    record.done = Some(now);
    let _writer = store.write_lock();
    let mut txn = store.txn();
    txn.put_notice(&record);
    txn.commit()?;
    store.flush()?;
    tracing::info!(
        queued = record.queued,
        held = record.held,
        "notice broadcast"
    );
    Ok(report)
}
