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
//! time (`core::service::limits::spread`), remembered across passes, so a campaign of 10,000 takes its
//! 17 minutes at 600/min while acknowledgements queued meanwhile go out at once.
//!
//! Owns: the pass memory (rate slots across passes) and its lock. A pipeline role: may import
//! the core, the adapters (store, render, outbound), `context` and `outgoing`; must not import
//! `ingest`, `timers`, `daemon` or the interface (`admin`, `cli`), which call it.

pub mod notice;
pub mod ops;

use crate::config::Desk;
use crate::context::Context;
use crate::core::broadcasts::incident::{Incident, IncidentNoticeKey};
use crate::core::broadcasts::maintenance::{Maintenance, Notice, NoticeKey};
use crate::core::service::accounts::{NoticeRecipient, Role};
use crate::outgoing::{self, Composed};
use crate::store::{leases, NoticeRecord, StoreError, Subject};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

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

/// The broadcast role: carries out the notices that come due, for the daemon's timer task and
/// for every ops command (which are followed by a pass). Owns what passes remember between
/// them, behind the lock that makes two passes never queue the same recipient twice.
pub struct Broadcaster {
    ctx: Arc<Context>,
    memory: Mutex<PassMemory>,
    /// Set when the daemon stops: a pass in hand ends after the batch it is queuing (see
    /// [`Broadcaster::stop`]).
    stopping: AtomicBool,
}

/// What broadcast passes remember between them (in memory, under the broadcast lock): for
/// which maintenance, at which sequence and with which accounts directory, accounts brought
/// into scope were last looked for. Lost at a restart, which only means looking once more.
#[derive(Default)]
struct PassMemory {
    directory: Option<std::sync::Arc<crate::core::service::accounts::Directory>>,
    scope_checked: std::collections::HashMap<String, u32>,
    /// The broadcast lease's epoch it was built under (several daemons on one store): passes
    /// another daemon ran meanwhile are not in it, so it starts again when the lease comes back.
    epoch: Option<u64>,
}

impl PassMemory {
    fn scope_checked(
        &mut self,
        m: &Maintenance,
        directory: &std::sync::Arc<crate::core::service::accounts::Directory>,
    ) -> bool {
        if !self
            .directory
            .as_ref()
            .is_some_and(|d| std::sync::Arc::ptr_eq(d, directory))
        {
            self.directory = Some(directory.clone());
            self.scope_checked.clear();
        }
        self.scope_checked.get(m.id()) == Some(&m.sequence())
    }

    fn mark_scope_checked(&mut self, m: &Maintenance) {
        self.scope_checked.insert(m.id().to_string(), m.sequence());
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
        directory: &'d crate::core::service::accounts::Directory,
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

impl Broadcaster {
    pub fn new(ctx: Arc<Context>) -> Broadcaster {
        Broadcaster {
            ctx,
            memory: Mutex::default(),
            stopping: AtomicBool::new(false),
        }
    }

    pub fn ctx(&self) -> &Context {
        &self.ctx
    }

    /// Carries out every notice due at `now`, and finishes those a crash interrupted. Holds
    /// the broadcast lock for the whole pass, so two passes (the timer task's and an ops
    /// command's) never queue the same recipient twice.
    pub fn run_due(&self, now: DateTime<Utc>) -> Result<BroadcastReport, StoreError> {
        // A pass that panicked left nothing half-written (batches are atomic): carry on.
        let mut memory = self
            .memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Several daemons on one store: the one holding the broadcast lease runs the passes.
        let store = &self.ctx.store;
        if !store.may_act(leases::BROADCAST) {
            return Ok(BroadcastReport::default());
        }
        let epoch = store.lease_epoch(leases::BROADCAST);
        if memory.epoch != epoch {
            *memory = PassMemory {
                epoch,
                ..PassMemory::default()
            };
        }
        let go_on = || !self.stopping.load(Ordering::Relaxed);
        run_due(&self.ctx, &mut memory, now, &go_on)
    }

    /// Ends the pass in hand after the batch it is queuing, and every later pass before it
    /// begins: the daemon is stopping. A notice left half-way is finished at the next start,
    /// for the recipients it has not reached (as after a crash, without one), so a campaign of
    /// many thousands does not hold up a SIGTERM.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }
}

/// One pass; `go_on` is asked before each batch of recipients (false: the daemon is stopping).
fn run_due(
    ctx: &Context,
    memory: &mut PassMemory,
    now: DateTime<Utc>,
    go_on: &dyn Fn() -> bool,
) -> Result<BroadcastReport, StoreError> {
    let mut report = BroadcastReport::default();
    let Some(desk) = ctx.config.broadcast_desk().cloned() else {
        return Ok(report);
    };
    let schedule = match ctx.config.broadcast.schedule() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "broadcasts stopped: bad [broadcast] durations");
            return Ok(report);
        }
    };
    for m in ctx.store.maintenances()? {
        let records = ctx.store.notices(Subject::Maintenance, m.id())?;
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
            report += carry_out(ctx, &desk, &work, r.clone(), now, go_on)?;
        }
        let sent: Vec<NoticeKey> = records.iter().filter_map(|r| r.key.parse().ok()).collect();
        for notice in m.notices_due(&schedule, &sent, now) {
            let work = Work::Maintenance { m: &m, notice };
            let record = work.record(now);
            report += carry_out(ctx, &desk, &work, record, now, go_on)?;
        }
        // Only an update or a reloaded accounts file can bring accounts into scope.
        if !memory.scope_checked(&m, &ctx.directory()) {
            report += announce_to_newcomers(ctx, &desk, &m, now, go_on)?;
            memory.mark_scope_checked(&m);
        }
    }
    for i in ctx.store.incidents()? {
        let records = ctx.store.notices(Subject::Incident, i.id())?;
        for r in records.iter().filter(|r| r.done.is_none()) {
            let Ok(key) = r.key.parse::<IncidentNoticeKey>() else {
                tracing::error!(notice = %r.key, "unreadable notice record; skipped");
                continue;
            };
            let work = Work::Incident { i: &i, key };
            report += carry_out(ctx, &desk, &work, r.clone(), now, go_on)?;
        }
        let sent: Vec<IncidentNoticeKey> =
            records.iter().filter_map(|r| r.key.parse().ok()).collect();
        for n in i.notices_due(&sent) {
            let work = Work::Incident { i: &i, key: n.key };
            let record = work.record(now);
            report += carry_out(ctx, &desk, &work, record, now, go_on)?;
        }
    }
    Ok(report)
}

/// When a maintenance's scope grew (sites or services added, accounts moved in) after customers
/// were told of an occurrence still to come, the newcomers get the announcement: one more
/// announcement notice at the current sequence, carried only to the audience members no
/// announcement or reschedule of that occurrence has reached (see `carry_out`).
fn announce_to_newcomers(
    ctx: &Context,
    desk: &Desk,
    m: &Maintenance,
    now: DateTime<Utc>,
    go_on: &dyn Fn() -> bool,
) -> Result<BroadcastReport, StoreError> {
    let mut report = BroadcastReport::default();
    if !m.status().is_planned() {
        return Ok(report);
    }
    let records = ctx.store.notices(Subject::Maintenance, m.id())?;
    let told_starts: std::collections::BTreeSet<DateTime<Utc>> = records
        .iter()
        .filter(|r| r.done.is_some())
        .filter_map(|r| Some((r.key.parse::<NoticeKey>().ok()?, r.window?)))
        .filter(|(k, w)| k.kind.informs() && w.start > now)
        .map(|(k, _)| k.occurrence)
        .collect();
    let directory = ctx.directory();
    for start in told_starts {
        let Some(window) = m
            .occurrences(start, start + chrono::Duration::seconds(1))
            .into_iter()
            .find(|w| w.start == start)
        else {
            continue;
        };
        let key = NoticeKey {
            maintenance: m.id().to_string(),
            occurrence: start,
            kind: crate::core::broadcasts::maintenance::NoticeKind::Announcement,
            sequence: m.sequence(),
        };
        if records.iter().any(|r| r.key == key.to_string()) {
            continue;
        }
        let work = Work::Maintenance {
            m,
            notice: Notice {
                kind: key.kind,
                occurrence: window,
                key,
            },
        };
        let told = told_of_occurrence(ctx, &work)?;
        let audience = work.audience(&directory);
        if audience
            .iter()
            .all(|r| told.contains(&(r.account.id.clone(), r.contact.address.clone())))
        {
            continue;
        }
        tracing::info!(
            maintenance = m.id(),
            "scope grew: announcing to the accounts now in scope"
        );
        let record = work.record(now);
        report += carry_out(ctx, desk, &work, record, now, go_on)?;
    }
    Ok(report)
}

/// For a maintenance announcement: the recipients any *other* announcement or reschedule of the
/// same occurrence reached (they know already). Empty for every other notice.
fn told_of_occurrence(
    ctx: &Context,
    work: &Work<'_>,
) -> Result<std::collections::HashSet<(String, String)>, StoreError> {
    let mut told = std::collections::HashSet::new();
    let Work::Maintenance { m, notice } = work else {
        return Ok(told);
    };
    if notice.kind != crate::core::broadcasts::maintenance::NoticeKind::Announcement {
        return Ok(told);
    }
    let same_occurrence: Vec<NoticeKey> = ctx
        .store
        .notices(Subject::Maintenance, m.id())?
        .iter()
        .filter_map(|r| r.key.parse::<NoticeKey>().ok())
        .filter(|k| k.occurrence == notice.key.occurrence && *k != notice.key)
        .collect();
    // A cancellation unsays what came before it: an occurrence brought back is news to all.
    let cancelled = same_occurrence
        .iter()
        .filter(|k| k.kind == crate::core::broadcasts::maintenance::NoticeKind::Cancellation)
        .map(|k| k.sequence)
        .max();
    for k in &same_occurrence {
        if k.kind.informs() && cancelled.is_none_or(|c| k.sequence > c) {
            told.extend(
                ctx.store
                    .notice_recipients(Subject::Maintenance, &k.to_string())?,
            );
        }
    }
    Ok(told)
}

/// Queues `work` for every recipient of its audience who has no entry for it yet (and, for an
/// announcement, whom no other announcement of the occurrence reached), in flushed batches,
/// then marks the notice done. Ends before a batch, the notice not done, when `go_on` says so.
fn carry_out(
    ctx: &Context,
    desk: &Desk,
    work: &Work<'_>,
    mut record: NoticeRecord,
    now: DateTime<Utc>,
    go_on: &dyn Fn() -> bool,
) -> Result<BroadcastReport, StoreError> {
    let store = &ctx.store;
    let directory = ctx.directory();
    let audience = work.audience(&directory);
    let key = work.key();
    let subject = work.subject();
    let mut done = store.notice_recipients(subject, &key)?;
    done.extend(told_of_occurrence(ctx, work)?);
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
    let composer = notice::Composer::new(ctx, desk, now);
    let total = audience.len() as u64;
    let mut carried = (audience.len() - todo.len()) as u64;
    ctx.metrics.broadcast_progress(&key, carried, total, None);
    for chunk in todo.chunks(BATCH) {
        if !go_on() {
            // Left as a crash would leave it, every batch so far durable: the next start
            // finishes it for the recipients without a key.
            tracing::info!(
                queued = record.queued,
                held = record.held,
                audience = audience.len(),
                "notice interrupted by the daemon's stop; the next start finishes it"
            );
            return Ok(report);
        }
        // Rendering and composing take most of the time: done before taking the writer lock,
        // so the delivery task can record its outcomes (and keep sending) meanwhile.
        let mut made = Vec::with_capacity(chunk.len());
        for r in chunk {
            match composer.compose(work, r) {
                Ok(m) => made.push((*r, m)),
                Err(e) => {
                    tracing::error!(to = %r.contact.address, error = %e, "notice not made for this recipient");
                    report.failed += 1;
                }
            }
        }
        let writer = store.write_lock();
        let mut txn = store.txn();
        txn.fence(leases::BROADCAST);
        let mut slot: Option<DateTime<Utc>> = store.meta("broadcast_slot")?;
        for (r, mail) in made {
            let held = outgoing::flagged(ctx, &r.contact.address)?;
            // A held entry is never sent, so it takes no slot of the rate limit.
            let first_attempt = if held.is_some() {
                now
            } else {
                let per_minute = ctx.config.broadcast.per_minute;
                let (at, next) = crate::core::service::limits::spread(slot, now, per_minute);
                slot = Some(next);
                at
            };
            if held.is_some() {
                record.held += 1;
                report.held += 1;
            } else {
                record.queued += 1;
                report.queued += 1;
            }
            let id = outgoing::enqueue(
                ctx,
                &mut txn,
                desk,
                Composed {
                    kind: match subject {
                        Subject::Maintenance => "maintenance".into(),
                        Subject::Incident => "incident".into(),
                    },
                    ticket: None,
                    to: vec![r.contact.address.clone()],
                    subject: mail.subject,
                    message_id: mail.message_id,
                    bytes: mail.bytes,
                    first_attempt,
                    held,
                },
                now,
            )?;
            txn.put_notice_recipient(subject, &key, &r.account.id, &r.contact.address, id);
        }
        if let Some(slot) = slot {
            txn.put_meta("broadcast_slot", &slot);
        }
        txn.put_notice(&record);
        txn.commit()?;
        drop(writer);
        // Durable before the delivery task may send from it: a crash can then repeat nothing.
        store.flush()?;
        // Delivery starts on this batch while the next ones are rendered.
        ctx.outbox_changed();
        carried += chunk.len() as u64;
        ctx.metrics.broadcast_progress(&key, carried, total, None);
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
    txn.fence(leases::BROADCAST);
    txn.put_notice(&record);
    txn.commit()?;
    store.flush()?;
    ctx.metrics
        .broadcast_progress(&key, total, total, Some(ctx.clock.now()));
    tracing::info!(
        queued = record.queued,
        held = record.held,
        "notice broadcast"
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::ops::{self, MaintenanceForm};
    use super::*;
    use crate::clock::ManualClock;
    use crate::config::Config;
    use crate::core::service::outbox::{OutboxEntry, OutboxState};
    use crate::render::Templates;
    use crate::store::Store;
    use std::path::Path;
    use std::sync::Arc;

    pub(super) const CONFIG: &str = r#"
[store]
path = "unused"
[smtp]
url = "file:///unused"
[general]
timezone = "Europe/Amsterdam"
[broadcast]
per_minute = 0
provider = "provider.example"
[[desk]]
name = "nl"
address = "servicedesk.nl@provider.example"
language = "en"
"#;

    /// Two accounts at AM11 (one managed by a reseller), one at PA3 with a cross-connect.
    const ACCOUNTS: &str = r#"
[[account]]
id = "acme"
name = "Acme"
language = "en"
timezone = "Europe/Amsterdam"
sites = ["AM11"]
[[account.contact]]
address = "noc@acme.example"
name = "Acme NOC"
roles = ["maintenance"]
[[account.contact]]
address = "cto@acme.example"
name = "Acme CTO"
language = "fr"
roles = ["maintenance"]
[[account]]
id = "reseller"
name = "Reseller"
language = "nl"
timezone = "Europe/Amsterdam"
[[account.contact]]
address = "noc@reseller.example"
name = "Reseller NOC"
roles = ["maintenance"]
[[account]]
id = "shop"
name = "Shop"
language = "en"
timezone = "Europe/Amsterdam"
sites = ["AM11"]
partner = "reseller"
[[account.contact]]
address = "it@shop.example"
name = "Shop IT"
roles = ["maintenance"]
[[account]]
id = "paris"
name = "Paris SA"
language = "fr"
timezone = "Europe/Paris"
sites = ["PA3"]
services = ["cross-connect"]
[[account.contact]]
address = "noc@paris.example"
name = "Paris NOC"
roles = ["maintenance"]
"#;

    pub(super) fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("fixed instant")
            .with_timezone(&Utc)
    }

    pub(super) fn ctx(config: &str) -> Broadcaster {
        let config = Config::parse(config, Path::new("test.toml")).expect("config");
        let templates = Templates::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"))
            .expect("templates");
        let ctx = Context::new(
            Store::memory(),
            Arc::new(templates),
            Arc::new(config),
            Arc::new(ManualClock::new(at("2026-11-23T12:00:00Z"))),
        );
        ctx.set_directory(
            crate::accounts_file::parse(ACCOUNTS, Path::new("accounts.toml")).expect("accounts"),
        );
        Broadcaster::new(Arc::new(ctx))
    }

    /// (kind, recipient) of every outbox entry, in queue order.
    pub(super) fn outbox(i: &Broadcaster) -> Vec<(String, String)> {
        i.ctx()
            .store
            .outbox()
            .expect("outbox")
            .into_iter()
            .map(|e| (e.kind, e.to.join(",")))
            .collect()
    }

    pub(super) fn am11(sites: &str) -> MaintenanceForm {
        MaintenanceForm {
            title: Some("Core router upgrade".into()),
            sites: Some(vec![sites.into()]),
            start: Some("2026-12-02T00:00+01:00".into()),
            end: Some("2026-12-02T06:00+01:00".into()),
            ..MaintenanceForm::default()
        }
    }

    #[test]
    fn an_announcement_reaches_each_recipient_in_scope_once_and_the_partner_for_its_customer() {
        let i = ctx(CONFIG);
        let now = at("2026-11-23T12:00:00Z");
        ops::schedule_maintenance(&i, &am11("AM11"), false, now).expect("scheduled");
        let mut to: Vec<String> = outbox(&i).into_iter().map(|(_, to)| to).collect();
        to.sort();
        assert_eq!(
            to,
            [
                "cto@acme.example",
                "noc@acme.example",
                "noc@reseller.example"
            ]
        );
        // Another pass at the same instant, or later the same day, queues nothing more.
        let again = i.run_due(now + chrono::Duration::hours(3)).expect("pass");
        assert_eq!(again.queued, 0);
        assert_eq!(outbox(&i).len(), 3);
    }

    #[test]
    fn accounts_brought_into_scope_are_announced_to_and_nobody_else_is_told_twice() {
        let i = ctx(CONFIG);
        let now = at("2026-11-23T12:00:00Z");
        ops::schedule_maintenance(&i, &am11("AM11"), false, now).expect("scheduled");
        let widened = MaintenanceForm {
            sites: Some(vec!["AM11".into(), "PA3".into()]),
            ..MaintenanceForm::default()
        };
        let v = ops::update_maintenance(
            &i,
            "MNT-1",
            &widened,
            false,
            now + chrono::Duration::hours(1),
        )
        .expect("updated");
        assert_eq!(v["broadcast"]["queued"], 1, "{v}");
        let last = outbox(&i).pop().expect("an entry");
        assert_eq!(last.1, "noc@paris.example");
        let notices = i
            .ctx()
            .store
            .notices(Subject::Maintenance, "MNT-1")
            .expect("notices");
        assert_eq!(
            notices.iter().map(|n| n.key.as_str()).collect::<Vec<_>>(),
            [
                "MNT-1/20261201T230000Z/announcement/0",
                "MNT-1/20261201T230000Z/announcement/1"
            ]
        );
        // A later reschedule goes to all four.
        let moved = MaintenanceForm {
            start: Some("2026-12-03T00:00+01:00".into()),
            end: Some("2026-12-03T06:00+01:00".into()),
            ..MaintenanceForm::default()
        };
        let v =
            ops::update_maintenance(&i, "MNT-1", &moved, false, now + chrono::Duration::hours(2))
                .expect("updated");
        assert_eq!(v["broadcast"]["queued"], 4, "{v}");
    }

    /// MNT-9 at AM11 in a week, as scheduled at `now`, and stored without a pass.
    fn mnt9_stored(i: &Broadcaster, now: DateTime<Utc>) -> Maintenance {
        use crate::core::broadcasts::maintenance::{
            Impact, NewMaintenance, Schedule, Status, Window,
        };
        let window =
            Window::new(at("2026-12-01T23:00:00Z"), at("2026-12-02T05:00:00Z")).expect("window");
        let spec = NewMaintenance {
            id: "MNT-9".into(),
            title: "Core router upgrade".into(),
            impact: Impact::Outage,
            status: Status::Scheduled,
            sites: vec!["AM11".into()],
            services: vec![],
            schedule: Schedule::Once(window),
        };
        let m = Maintenance::new(spec, now).expect("maintenance");
        let mut txn = i.ctx().store.txn();
        txn.put_maintenance(&m);
        txn.commit().expect("commit");
        m
    }

    #[test]
    fn a_stop_ends_the_pass_between_batches_and_the_next_start_finishes_the_notice() {
        // 126 accounts at AM11 with four contacts each: 504 recipients, a batch and 4 more.
        let mut accounts = String::new();
        for a in 0..126 {
            accounts.push_str(&format!(
                "[[account]]\nid = \"c{a:03}\"\nname = \"Customer {a}\"\nlanguage = \"en\"\n\
                 timezone = \"Europe/Amsterdam\"\nsites = [\"AM11\"]\n"
            ));
            for c in 0..4 {
                accounts.push_str(&format!(
                    "[[account.contact]]\naddress = \"noc{c}@c{a:03}.example\"\nname = \"NOC\"\n\
                     roles = [\"maintenance\"]\n"
                ));
            }
        }
        let i = ctx(CONFIG);
        i.ctx().set_directory(
            crate::accounts_file::parse(&accounts, Path::new("accounts.toml")).expect("accounts"),
        );
        let now = at("2026-11-23T12:00:00Z");
        mnt9_stored(&i, now);
        let notice = |i: &Broadcaster| {
            let n = i
                .ctx()
                .store
                .notices(Subject::Maintenance, "MNT-9")
                .expect("notices");
            assert_eq!(n.len(), 1, "one announcement, begun once");
            n[0].clone()
        };

        // The daemon is told to stop while the first batch is being queued.
        let asked = std::cell::Cell::new(0);
        let go_on = || {
            asked.set(asked.get() + 1);
            asked.get() == 1
        };
        let report = run_due(i.ctx(), &mut PassMemory::default(), now, &go_on).expect("pass");
        assert_eq!(report.queued, BATCH, "the batch in hand is queued whole");
        assert_eq!(outbox(&i).len(), BATCH);
        assert_eq!(notice(&i).done, None, "the notice is not done");
        // A stopping broadcaster begins no further batch.
        i.stop();
        let later = now + chrono::Duration::minutes(1);
        assert_eq!(i.run_due(later).expect("pass").queued, 0);
        assert_eq!(outbox(&i).len(), BATCH);

        // The next start finishes the notice for the four it had not reached, nobody twice.
        let restarted = Broadcaster::new(i.ctx.clone());
        assert_eq!(restarted.run_due(later).expect("pass").queued, 4);
        let to: std::collections::BTreeSet<String> =
            outbox(&i).into_iter().map(|(_, to)| to).collect();
        assert_eq!((to.len(), outbox(&i).len()), (504, 504));
        assert!(notice(&i).done.is_some());
        assert_eq!(notice(&i).queued, 504);
    }

    #[test]
    fn a_broadcast_interrupted_half_way_is_finished_for_the_missing_recipients_only() {
        let i = ctx(CONFIG);
        let now = at("2026-11-23T12:00:00Z");
        // The maintenance is stored, and a pass began its announcement but got only as far as
        // one recipient before the process died.
        let m = mnt9_stored(&i, now);
        let notice = m
            .notices_due(
                &i.ctx().config.broadcast.schedule().expect("schedule"),
                &[],
                now,
            )
            .remove(0);
        let work = Work::Maintenance { m: &m, notice };
        let mut record = work.record(now);
        record.queued = 1;
        let mut txn = i.ctx().store.txn();
        txn.put_notice(&record);
        txn.put_notice_recipient(
            Subject::Maintenance,
            &record.key,
            "acme",
            "noc@acme.example",
            1,
        );
        txn.commit().expect("commit");

        let report = i.run_due(now + chrono::Duration::minutes(5)).expect("pass");
        let mut to: Vec<String> = outbox(&i).into_iter().map(|(_, to)| to).collect();
        to.sort();
        assert_eq!(to, ["cto@acme.example", "noc@reseller.example"]);
        assert_eq!(report.queued, 2);
        let done = i
            .ctx()
            .store
            .notices(Subject::Maintenance, "MNT-9")
            .expect("notices");
        assert_eq!(
            done.len(),
            1,
            "the same notice was finished, not a new one begun"
        );
        assert_eq!(done[0].queued, 3);
        assert!(done[0].done.is_some());
        // The metrics show the notice complete, the recipient queued before the crash included.
        let progress = i.ctx().metrics.broadcasts(i.ctx().clock.now());
        assert_eq!(progress.len(), 1, "{progress:?}");
        assert_eq!(progress[0].0, record.key);
        assert_eq!((progress[0].1.done, progress[0].1.total), (3, 3));
        assert!(progress[0].1.finished.is_some());
    }

    #[test]
    fn the_rate_limit_spreads_first_attempts_and_a_flagged_address_is_held() {
        let i = ctx(&CONFIG.replace("per_minute = 0", "per_minute = 60"));
        let now = at("2026-11-23T12:00:00Z");
        let mut txn = i.ctx().store.txn();
        txn.put_recipient(
            "cto@acme.example",
            &crate::store::RecipientRecord {
                hard_bounces: 3,
                flagged: true,
                ..Default::default()
            },
        );
        txn.commit().expect("commit");
        ops::schedule_maintenance(&i, &am11("AM11"), false, now).expect("scheduled");
        let entries = i.ctx().store.outbox().expect("outbox");
        let mut times: Vec<i64> = entries
            .iter()
            .filter(|e| e.state == OutboxState::Queued)
            .map(|e| (e.next_attempt_at - now).num_seconds())
            .collect();
        times.sort();
        assert_eq!(times.len(), 2);
        assert_eq!(times[1] - times[0], 1, "60 a minute: one a second");
        let held: Vec<&OutboxEntry> = entries
            .iter()
            .filter(|e| e.state == OutboxState::Held)
            .collect();
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].to, ["cto@acme.example"]);
        assert!(held[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("hard bounces")));
    }
}
