//! Wiring: opens the store, builds the sources and the transport, and runs the desk and delivery
//! tasks until shutdown (or for one pass with `--once`).
//!
//! Shutdown follows mini-redis: a `watch` channel says "stop"; each task finishes the mail or
//! batch in hand, flushes, and returns; `run` waits for all of them, flushes again and returns.

use crate::broadcast::Broadcaster;
use crate::clock::{Clock, ManualClock, SystemClock};
use crate::config::{Config, Desk};
use crate::context::Context;
use crate::delivery::Delivery;
use crate::ingest::{Ingestor, Outcome, Prepared};
use crate::outbound::Transport;
use crate::render::Templates;
use crate::source::{
    imap::ImapSource, maildir::MaildirSource, Origin, Position, RawMail, Source, Woken,
};
use crate::store::{Checkpoint, Store};
use crate::timers::{TimerReport, Timers};
use crate::timings::{Phase, PhaseSecs};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Templates(#[from] crate::render::RenderError),
    #[error(transparent)]
    Transport(#[from] crate::outbound::TransportError),
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    #[error("accounts: {0}")]
    Accounts(String),
    #[error("status page: {0}")]
    Status(String),
    #[error("the pass did not complete: {}", .0.join("; "))]
    Incomplete(Vec<String>),
    #[error("a worker thread failed: {0}")]
    Worker(String),
}

/// What one `run --once` pass did (printed by `run --once --json`).
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
pub struct OnceReport {
    pub fetched: usize,
    pub created: usize,
    pub appended: usize,
    pub duplicates: usize,
    pub aside: usize,
    pub quarantined: usize,
    pub sent: usize,
    pub failed: usize,
    pub retrying: usize,
    /// Seconds spent fetching and ingesting (all desks), and delivering.
    pub ingest_secs: f64,
    pub delivery_secs: f64,
    /// SLA warnings and breaches sent, and shift handovers.
    pub timers: TimerReport,
    /// Maintenance and incident notices queued.
    pub broadcast: crate::broadcast::BroadcastReport,
    /// Where the ingest's time went, per phase (fetch counts only the waits that processing
    /// did not overlap).
    pub phases: PhaseSecs,
}

/// The context and the roles, shared by both modes.
struct Parts {
    ctx: Arc<Context>,
    ingestor: Arc<Ingestor>,
    timers: Arc<Timers>,
    broadcaster: Arc<Broadcaster>,
    delivery: Arc<Delivery>,
}

impl Parts {
    fn config(&self) -> &Config {
        &self.ctx.config
    }

    fn store(&self) -> &Store {
        &self.ctx.store
    }

    /// What the admin endpoint answers with.
    fn roles(&self) -> crate::admin::Roles {
        crate::admin::Roles {
            ctx: self.ctx.clone(),
            ingestor: self.ingestor.clone(),
            broadcaster: self.broadcaster.clone(),
        }
    }
}

fn assemble(config: Config, clock: Arc<dyn Clock>) -> Result<Parts, DaemonError> {
    let ctx = Arc::new(open_context(config, clock)?);
    load_accounts(&ctx)?;
    tracing::info!(url = %ctx.config.smtp.url, "preparing outbound transport");
    let transport = Transport::from_config(&ctx.config.smtp)?;
    let delivery = Arc::new(Delivery::new(
        ctx.store.clone(),
        transport,
        ctx.clock.clone(),
        &ctx.config.outbox,
    ));
    Ok(Parts {
        ingestor: Arc::new(Ingestor::new(ctx.clone())),
        timers: Arc::new(Timers::new(ctx.clone())),
        broadcaster: Arc::new(Broadcaster::new(ctx.clone())),
        delivery,
        ctx,
    })
}

/// Opens the store and loads the templates named in `config`.
fn open_context(config: Config, clock: Arc<dyn Clock>) -> Result<Context, DaemonError> {
    let config = Arc::new(config);
    tracing::info!(path = %config.store.path.display(), "opening store");
    let store = Store::open(&config.store.path)?;
    tracing::info!(dir = %config.general.templates.display(), "loading templates");
    let templates = Arc::new(Templates::load(&config.general.templates)?);
    Ok(Context::new(store, templates, config, clock))
}

/// Loads the accounts file named in the config (if any) into the context.
fn load_accounts(ctx: &Context) -> Result<(), DaemonError> {
    if let Some(path) = &ctx.config.general.accounts {
        tracing::info!(path = %path.display(), "loading accounts");
        let directory =
            crate::accounts_file::load(path).map_err(|e| DaemonError::Accounts(e.to_string()))?;
        tracing::info!(accounts = directory.accounts().len(), "accounts loaded");
        ctx.set_directory(directory);
    }
    Ok(())
}

/// The roles over the store named in `config`, for CLI commands run without a daemon.
pub fn standalone(config: Config) -> Result<crate::admin::Roles, DaemonError> {
    let ctx = Arc::new(open_context(config, Arc::new(SystemClock))?);
    // A query still answers when the accounts file is broken (the daemon refuses to start).
    if let Err(e) = load_accounts(&ctx) {
        tracing::warn!(error = %e, "accounts not loaded; answering without them");
    }
    Ok(crate::admin::Roles::new(ctx))
}

fn source_for(desk: &Desk) -> Result<Source, DaemonError> {
    if let Some(imap) = &desk.imap {
        return Ok(Source::Imap(Box::new(ImapSource::new(
            &desk.name,
            imap.clone(),
        ))));
    }
    let path = desk
        .maildir
        .as_ref()
        .map(|m| m.path.clone())
        .unwrap_or_default();
    Ok(Source::Maildir(MaildirSource::open(
        &desk.name,
        path,
        Duration::from_secs(1),
    )?))
}

/// Fetches and processes one batch; returns how many mails it held. The batch is flushed to the
/// store before the source is told it is done.
///
/// Fetching, preparing and applying overlap, each mail passed on as soon as the step before is
/// done with it (in UID order): the mailbox sends, one blocking thread parses and classifies
/// ([`Ingestor::prepare`], no store, no lock), another applies and commits
/// ([`Ingestor::apply`]). On a small machine that keeps the mail server and both halves of the
/// ingest busy at once instead of taking turns, and the store's work (and its fsync) stays off
/// the async workers.
async fn one_batch(
    parts: &Parts,
    desk: &Desk,
    source: &mut Source,
    report: &mut OnceReport,
) -> Result<usize, DaemonError> {
    let checkpoint = parts.store().checkpoint(&desk.name)?;
    if let Some(cp) = checkpoint {
        catch_up_acks(parts, desk, source, cp).await?;
    }
    let position = checkpoint.map(|c| Position {
        uid_validity: c.uid_validity,
        last_uid: c.last_uid,
    });
    let (tx, fetched_rx) = std::sync::mpsc::channel::<RawMail>();
    let (prepared_tx, prepared_rx) = std::sync::mpsc::channel::<Prepared>();
    let preparing = {
        let ingestor = parts.ingestor.clone();
        let desk = desk.clone();
        tokio::task::spawn_blocking(move || {
            prepare_stream(&ingestor, &desk, fetched_rx, prepared_tx)
        })
    };
    let applying = {
        let ingestor = parts.ingestor.clone();
        let desk = desk.clone();
        tokio::task::spawn_blocking(move || apply_stream(&ingestor, &desk, prepared_rx))
    };
    let fetched = source
        .fetch_each(position, parts.config().ingest.batch_size, &mut |mail| {
            // The worker only stops taking mail after a store error, reported below.
            let _ = tx.send(mail);
        })
        .await;
    drop(tx);
    let worker_failed = |e| DaemonError::Worker(format!("ingest of desk {}: {e}", desk.name));
    preparing.await.map_err(worker_failed)?;
    let processed = applying.await.map_err(worker_failed)?;
    // Whatever was processed is committed; a fetch error after it leaves those mails to be
    // acknowledged on the next pass (`catch_up_acks`) once their checkpoint is durable.
    let (done, counts) = processed?;
    counts.add_to(report);
    fetched?;
    if done.is_empty() {
        return Ok(0);
    }
    let timings = &parts.ctx.timings;
    let started = std::time::Instant::now();
    let store = parts.store().clone();
    tokio::task::spawn_blocking(move || store.flush())
        .await
        .map_err(|e| DaemonError::Worker(format!("flush: {e}")))??;
    timings.add(Phase::Flush, started.elapsed());
    let started = std::time::Instant::now();
    source.ack(&done).await?;
    timings.add(Phase::Ack, started.elapsed());
    record_acked(parts, desk, &done)?;
    report.fetched += done.len();
    Ok(done.len())
}

/// What the mails of one batch became.
#[derive(Debug, Default)]
struct Counts {
    created: usize,
    appended: usize,
    duplicates: usize,
    aside: usize,
    quarantined: usize,
}

impl Counts {
    fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Created { .. } => self.created += 1,
            Outcome::Appended { .. } => self.appended += 1,
            Outcome::Duplicate { .. } => self.duplicates += 1,
            Outcome::Aside { .. } => self.aside += 1,
            Outcome::Quarantined { .. } => self.quarantined += 1,
        }
    }

    fn add_to(&self, report: &mut OnceReport) {
        report.created += self.created;
        report.appended += self.appended;
        report.duplicates += self.duplicates;
        report.aside += self.aside;
        report.quarantined += self.quarantined;
    }
}

/// Prepares each mail of a batch as it comes (on a blocking thread) and passes it on. Time
/// spent waiting for the mailbox is the fetch time that nothing overlapped.
fn prepare_stream(
    ingestor: &Ingestor,
    desk: &Desk,
    mails: std::sync::mpsc::Receiver<RawMail>,
    prepared: std::sync::mpsc::Sender<Prepared>,
) {
    loop {
        let waiting = std::time::Instant::now();
        let Ok(mail) = mails.recv() else {
            break;
        };
        ingestor.ctx.timings.add(Phase::Fetch, waiting.elapsed());
        if prepared.send(ingestor.prepare(desk, mail)).is_err() {
            // The applying thread stopped on a store error, which it reports.
            break;
        }
    }
}

/// Applies each prepared mail of a batch in order (on a blocking thread). Returns the origins
/// of the mails processed, in order, and what they became.
fn apply_stream(
    ingestor: &Ingestor,
    desk: &Desk,
    prepared: std::sync::mpsc::Receiver<Prepared>,
) -> Result<(Vec<Origin>, Counts), crate::store::StoreError> {
    let mut done = Vec::new();
    let mut counts = Counts::default();
    for mail in prepared {
        let origin = mail.origin().clone();
        counts.count(&ingestor.apply(desk, mail, None)?);
        done.push(origin);
    }
    Ok((done, counts))
}

/// Acknowledges to the mailbox every UID up to the checkpoint that was not acknowledged yet.
///
/// A checkpoint can become durable without its batch's `\Seen` (the connection dropped after the
/// flush, the daemon was killed between the two, or the store flushed by itself mid-batch);
/// the next fetch starts after the checkpoint, so without this those mails would stay unread
/// (and unmoved) on the server for ever. Acknowledging twice is harmless.
async fn catch_up_acks(
    parts: &Parts,
    desk: &Desk,
    source: &mut Source,
    cp: Checkpoint,
) -> Result<(), DaemonError> {
    let from = match parts.store().acked(&desk.name)? {
        Some(a) if a.uid_validity == cp.uid_validity && a.last_uid >= cp.last_uid => return Ok(()),
        Some(a) if a.uid_validity == cp.uid_validity => a.last_uid + 1,
        _ => 1,
    };
    tracing::info!(desk = %desk.name, from, to = cp.last_uid, "acknowledging mail processed before an interruption");
    // The checkpoint read above may not be durable yet (a fetch that failed half-way leaves the
    // mails processed before the failure committed but unflushed): make it so before the
    // mailbox is told.
    let store = parts.store().clone();
    tokio::task::spawn_blocking(move || store.flush())
        .await
        .map_err(|e| DaemonError::Worker(format!("flush: {e}")))??;
    let origins: Vec<Origin> = (from..=cp.last_uid)
        .map(|uid| Origin::Imap {
            uid_validity: cp.uid_validity,
            uid,
        })
        .collect();
    source.ack(&origins).await?;
    let mut txn = parts.store().txn();
    txn.put_acked(&desk.name, cp);
    txn.commit()?;
    Ok(())
}

/// Remembers how far the mailbox has been told (durable with the next flush; losing it only
/// means acknowledging again).
fn record_acked(parts: &Parts, desk: &Desk, done: &[Origin]) -> Result<(), DaemonError> {
    let last = done.iter().rev().find_map(|o| match o {
        Origin::Imap { uid_validity, uid } => Some(Checkpoint {
            uid_validity: *uid_validity,
            last_uid: *uid,
        }),
        Origin::Maildir { .. } => None,
    });
    if let Some(cp) = last {
        let mut txn = parts.store().txn();
        txn.put_acked(&desk.name, cp);
        txn.commit()?;
    }
    Ok(())
}

/// One complete pass: every desk's waiting mail, then every due outbox entry once.
/// `now` replaces the clock for the whole pass.
pub async fn run_once(
    config: Config,
    now: Option<DateTime<Utc>>,
) -> Result<OnceReport, DaemonError> {
    let clock: Arc<dyn Clock> = match now {
        Some(t) => Arc::new(ManualClock::new(t)),
        None => Arc::new(SystemClock),
    };
    let parts = assemble(config, clock)?;
    let mut report = OnceReport::default();
    let mut problems = Vec::new();
    // Timers first: a target that fell due before this pass's mail is breached all the same.
    let now = parts.ctx.clock.now();
    report.timers = parts.timers.run_due(now)?;
    let started = std::time::Instant::now();
    for desk in parts.config().desks.clone() {
        let mut source = match source_for(&desk) {
            Ok(s) => s,
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        tracing::info!(desk = %desk.name, source = %source.describe(), "fetching");
        loop {
            match one_batch(&parts, &desk, &mut source, &mut report).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(desk = %desk.name, error = %e, "desk pass failed");
                    problems.push(e.to_string());
                    break;
                }
            }
        }
        source.reset().await;
    }
    report.ingest_secs = started.elapsed().as_secs_f64();
    report.phases = parts.ctx.timings.snapshot();
    // And again after the mail: what it changed may be due already.
    let after = parts.timers.run_due(now)?;
    report.timers.sla_warnings += after.sla_warnings;
    report.timers.sla_breaches += after.sla_breaches;
    report.timers.handovers += after.handovers;
    // Notices due at this instant (and those a crash interrupted), before the delivery.
    report.broadcast = parts.broadcaster.run_due(now)?;
    let started = std::time::Instant::now();
    if let Err(e) = parts.delivery.transport.test_connection().await {
        problems.push(format!("smtp {}: {e}", parts.config().smtp.url));
    } else {
        let r = parts.delivery.pass().await?;
        report.sent = r.sent;
        report.failed = r.failed;
        report.retrying = r.retrying;
    }
    report.delivery_secs = started.elapsed().as_secs_f64();
    parts.store().flush()?;
    if problems.is_empty() {
        Ok(report)
    } else {
        Err(DaemonError::Incomplete(problems))
    }
}

/// Runs until `shutdown` resolves (SIGTERM/SIGINT in the binary; any future in tests).
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), DaemonError> {
    // Installed first: a SIGHUP's default action is to end the process.
    let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
    let parts = Arc::new(assemble(config, Arc::new(SystemClock))?);
    let (stop_tx, stop_rx) = watch::channel(false);
    let wake_delivery = Arc::new(Notify::new());
    parts.ctx.set_outbox_waker(wake_delivery.clone());
    let mut tasks = tokio::task::JoinSet::new();

    let socket = parts.config().admin_socket();
    let admin_roles = parts.roles();
    let admin_stop = stop_rx.clone();
    let admin_wake = wake_delivery.clone();
    tasks.spawn(async move {
        if let Err(e) = crate::admin::serve(&socket, admin_roles, admin_wake, admin_stop).await {
            tracing::error!(error = %e, socket = %socket.display(), "admin endpoint failed; the CLI cannot reach this daemon");
        }
    });

    for desk in parts.config().desks.clone() {
        let parts = parts.clone();
        let stop = stop_rx.clone();
        let wake = wake_delivery.clone();
        tasks.spawn(async move { desk_task(parts, desk, stop, wake).await });
    }
    {
        let parts = parts.clone();
        let stop = stop_rx.clone();
        let wake = wake_delivery.clone();
        tasks.spawn(async move { delivery_task(parts, stop, wake).await });
    }
    {
        let parts = parts.clone();
        let stop = stop_rx.clone();
        let wake = wake_delivery.clone();
        tasks.spawn(async move { timer_task(parts, stop, wake).await });
    }
    {
        let parts = parts.clone();
        let stop = stop_rx.clone();
        tasks.spawn(async move { reload_task(parts, stop, hup).await });
    }
    if let Some(listener) = status_listener(parts.config()).await? {
        let page = crate::status_page::StatusPage::from_config(parts.config())
            .map_err(DaemonError::Status)?;
        let source = status_snapshots(parts.clone());
        let stop = stop_rx.clone();
        tasks.spawn(async move {
            if let Err(e) = crate::status_page::serve(listener, page, source, stop).await {
                tracing::error!(error = %e, "status page failed");
            }
        });
    }

    shutdown.await;
    tracing::info!("shutting down: finishing the work in hand");
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    parts.store().flush()?;
    tracing::info!("stopped");
    Ok(())
}

/// The status page's listener, bound before the tasks start so that a port in use stops the
/// daemon with a clear error instead of a page that silently never comes up.
async fn status_listener(config: &Config) -> Result<Option<tokio::net::TcpListener>, DaemonError> {
    let Some(addr) = config.status.listen_addr().map_err(DaemonError::Status)? else {
        return Ok(None);
    };
    tokio::net::TcpListener::bind(addr)
        .await
        .map(Some)
        .map_err(|e| DaemonError::Status(format!("status.listen {addr}: {e}")))
}

/// What the status page shows, read from the store at each request.
fn status_snapshots(parts: Arc<Parts>) -> crate::status_page::SnapshotSource {
    Arc::new(move || {
        let store = parts.store();
        let maintenances = store.maintenances().map_err(|e| e.to_string())?;
        let incidents = store
            .incidents()
            .map_err(|e| e.to_string())?
            .iter()
            .map(crate::status_page::IncidentItem::from)
            .collect();
        Ok(crate::status_page::Snapshot {
            now: parts.ctx.clock.now(),
            maintenances,
            incidents,
        })
    })
}

async fn desk_task(
    parts: Arc<Parts>,
    desk: Desk,
    mut stop: watch::Receiver<bool>,
    wake: Arc<Notify>,
) {
    let mut source = match source_for(&desk) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(desk = %desk.name, error = %e, "desk cannot start");
            return;
        }
    };
    tracing::info!(desk = %desk.name, source = %source.describe(), "desk started");
    let mut backoff = Duration::from_secs(1);
    let mut report = OnceReport::default();
    loop {
        if *stop.borrow() {
            break;
        }
        match one_batch(&parts, &desk, &mut source, &mut report).await {
            Ok(n) => {
                backoff = Duration::from_secs(1);
                if n > 0 {
                    wake.notify_one();
                }
                if n == parts.config().ingest.batch_size {
                    continue;
                }
                match source.wait(&mut stop).await {
                    Ok(Woken::Poll) => {}
                    Ok(Woken::Shutdown) => break,
                    Err(e) => {
                        tracing::warn!(desk = %desk.name, error = %e, "waiting for mail failed; reconnecting");
                        source.reset().await;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(desk = %desk.name, error = %e, retry_in = ?backoff, "desk pass failed; retrying");
                source.reset().await;
                if crate::source::sleep_or_shutdown(backoff, &mut stop).await == Woken::Shutdown {
                    break;
                }
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
        }
    }
    source.reset().await;
    tracing::info!(desk = %desk.name, "desk stopped");
}

/// Fires SLA and handover timers as they come due, and broadcasts the maintenance and
/// incident notices due (checked at least every 30 s).
async fn timer_task(
    parts: Arc<Parts>,
    mut stop: watch::Receiver<bool>,
    wake_delivery: Arc<Notify>,
) {
    loop {
        if *stop.borrow() {
            break;
        }
        let now = parts.ctx.clock.now();
        let timers = parts.timers.clone();
        match tokio::task::spawn_blocking(move || timers.run_due(now)).await {
            Ok(Ok(r)) if r != TimerReport::default() => {
                tracing::info!(?r, "timers fired");
                wake_delivery.notify_one();
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "timers failed"),
            Err(e) => tracing::error!(error = %e, "timer task failed"),
        }
        let broadcaster = parts.broadcaster.clone();
        match tokio::task::spawn_blocking(move || broadcaster.run_due(now)).await {
            Ok(Ok(r)) if r.queued + r.held > 0 => {
                tracing::info!(?r, "notices queued");
                wake_delivery.notify_one();
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "broadcast failed"),
            Err(e) => tracing::error!(error = %e, "broadcast task failed"),
        }
        let until_next = match parts.store().next_timer() {
            Ok(Some(t)) if t > now => (t - now).to_std().unwrap_or(Duration::from_secs(30)),
            _ => Duration::from_secs(30),
        };
        tokio::select! {
            _ = tokio::time::sleep(until_next.min(Duration::from_secs(30))) => {}
            _ = stop.changed() => break,
        }
    }
}

/// Reloads the accounts file on SIGHUP. A file that does not validate is refused with a log
/// line naming every problem, and the accounts in force stay.
async fn reload_task(
    parts: Arc<Parts>,
    mut stop: watch::Receiver<bool>,
    hup: std::io::Result<tokio::signal::unix::Signal>,
) {
    let Ok(mut hup) = hup else {
        tracing::warn!("cannot listen for SIGHUP: accounts will not be reloaded");
        return;
    };
    loop {
        tokio::select! {
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading accounts");
                if let Err(e) = load_accounts(&parts.ctx) {
                    tracing::error!(error = %e, "accounts not reloaded; the previous ones stay in force");
                }
            }
            _ = stop.changed() => break,
        }
    }
}

async fn delivery_task(parts: Arc<Parts>, mut stop: watch::Receiver<bool>, wake: Arc<Notify>) {
    loop {
        if *stop.borrow() {
            break;
        }
        if let Err(e) = parts.delivery.pass().await {
            tracing::error!(error = %e, "delivery pass failed");
        }
        let now = parts.delivery.clock.now();
        let until_next = match parts.store().outbox_next_due() {
            Ok(Some(t)) if t > now => (t - now).to_std().unwrap_or(Duration::from_secs(30)),
            Ok(Some(_)) => Duration::from_millis(200),
            _ => Duration::from_secs(30),
        };
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(until_next.min(Duration::from_secs(30))) => {}
            _ = stop.changed() => break,
        }
    }
}
