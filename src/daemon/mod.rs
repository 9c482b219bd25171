//! Wiring: opens the store, builds the context and the roles, and runs the workers — one per
//! desk, the delivery, the timers and broadcasts, the accounts reload, the admin endpoint, the
//! metrics endpoint and the status page — until shutdown (or one pass of each with `--once`).
//!
//! `batch.rs` is one fetched batch of a desk, from the mailbox to the flush and the `\Seen`;
//! `workers.rs` holds the long-running loops and their supervisor: a worker that panics is
//! logged and started again after a pause, so one bad moment never leaves a desk dead while the
//! daemon looks alive. Shutdown follows mini-redis: a `watch` channel says "stop"; each worker
//! finishes the mail or batch in hand, flushes and returns; `run` waits for all of them, at most
//! [`SHUTDOWN_DEADLINE`], then flushes the store once more and returns. `leases.rs` keeps, on
//! a store several daemons share, the leases that say which of them does what (renewed until
//! the workers are done, then let go so another daemon takes over at once).
//!
//! Owns: the workers and their supervision. May import every role and adapter (it is the
//! wiring); must not be imported by them: only `cli` and `admin` reach it.

mod batch;
mod leases;
mod notify;
mod workers;

pub(crate) use batch::panic_message;
pub use notify::{Health, Notifier};

use crate::broadcast::Broadcaster;
use crate::clock::{Clock, ManualClock, SystemClock};
use crate::config::Config;
use crate::context::Context;
use crate::delivery::Delivery;
use crate::ingest::Ingestor;
use crate::outbound::Transport;
use crate::render::Templates;
use crate::store::Store;
use crate::timers::{TimerReport, Timers};
use crate::timings::PhaseSecs;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// How long `run` waits, after the stop signal, for the workers to finish what they hold. An
/// IMAP command can wait minutes for a server that stopped answering; past this the daemon
/// stops anyway: nothing unflushed has been acknowledged to a mailbox or reported sent.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(20);

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
    #[error("store.password_command: {0}")]
    StorePassword(String),
    #[error("status page: {0}")]
    Status(String),
    #[error("metrics: {0}")]
    Metrics(String),
    #[error("the pass did not complete: {}", .0.join("; "))]
    Incomplete(Vec<String>),
    #[error("a worker thread failed: {0}")]
    Worker(String),
}

impl DaemonError {
    /// Worth retrying soon (a connection dropped, a server restarting), rather than a mistake
    /// that only an operator can fix (a refused login, a broken accounts file).
    pub fn is_transient(&self) -> bool {
        match self {
            DaemonError::Source(e) => e.is_transient(),
            DaemonError::Accounts(_)
            | DaemonError::Templates(_)
            | DaemonError::Status(_)
            | DaemonError::Metrics(_)
            | DaemonError::StorePassword(_) => false,
            _ => true,
        }
    }
}

impl DaemonError {
    /// When a mail server is throttling the desk: `Some` with the wait it asked for, if any.
    pub fn throttled(&self) -> Option<Option<std::time::Duration>> {
        match self {
            DaemonError::Source(e) => e.throttled(),
            _ => None,
        }
    }
}

/// What one `run --once` pass did (printed by `run --once --json`).
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
pub struct OnceReport {
    pub fetched: usize,
    pub created: usize,
    /// Mails added to existing tickets, of every kind; of them, the machines' (below).
    pub appended: usize,
    /// Auto-replies (out of office …) added to tickets.
    pub auto_replies: usize,
    /// Bounces added to tickets (tied to the mail of ours they report on).
    pub bounces: usize,
    /// Other machine mail added to tickets (notifications, reports, list mail).
    pub machine_mail: usize,
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

impl OnceReport {
    /// The pass in one line an operator reads, e.g. `3 mails: 1 new ticket, 1 reply, 1 kept
    /// aside; 1 mail sent`. Counts that are zero are left out; `run --once --json` keeps the
    /// whole report for machines.
    pub fn summary(&self) -> String {
        let mut line = match self.fetched {
            0 => "no new mail".to_string(),
            n => count(n, "mail", "mails"),
        };
        let machines = self.auto_replies + self.bounces + self.machine_mail;
        let mails = [
            (self.created, "new ticket", "new tickets"),
            (self.appended.saturating_sub(machines), "reply", "replies"),
            (self.auto_replies, "auto-reply", "auto-replies"),
            (self.bounces, "bounce", "bounces"),
            (self.machine_mail, "machine mail", "machine mails"),
            (self.duplicates, "duplicate", "duplicates"),
            (self.aside, "kept aside", "kept aside"),
            (self.quarantined, "quarantined", "quarantined"),
        ];
        let mails = counts(&mails);
        if !mails.is_empty() {
            line.push_str(": ");
            line.push_str(&mails);
        }
        let t = &self.timers;
        let b = &self.broadcast;
        let timers = counts(&[
            (t.sla_warnings, "SLA warning", "SLA warnings"),
            (t.sla_breaches, "SLA breach", "SLA breaches"),
            (t.handovers, "handover", "handovers"),
            (b.queued, "notice queued", "notices queued"),
            (b.held, "notice held", "notices held"),
        ]);
        if !timers.is_empty() {
            line.push_str("; ");
            line.push_str(&timers);
        }
        let sent = match self.sent {
            0 if self.failed + self.retrying == 0 => "nothing sent".to_string(),
            n => format!("{} sent", count(n, "mail", "mails")),
        };
        line.push_str("; ");
        line.push_str(&sent);
        for (n, what) in [(self.failed, "failed"), (self.retrying, "to retry")] {
            if n > 0 {
                line.push_str(&format!(", {n} {what}"));
            }
        }
        line
    }
}

/// `1 mail`, `3 mails`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The non-zero counts, joined with commas.
fn counts(items: &[(usize, &str, &str)]) -> String {
    items
        .iter()
        .filter(|(n, _, _)| *n > 0)
        .map(|(n, one, many)| count(*n, one, many))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The context and the roles, shared by both modes.
struct Parts {
    ctx: Arc<Context>,
    ingestor: Arc<Ingestor>,
    timers: Arc<Timers>,
    broadcaster: Arc<Broadcaster>,
    delivery: Arc<Delivery>,
    /// Woken when this daemon gains a lease (several daemons on one store): a desk waiting for
    /// its lease starts at once.
    lease_gained: Arc<Notify>,
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
    let transport = Transport::from_config(&ctx.config.smtp, ctx.clock.clone())?;
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
        lease_gained: Arc::new(Notify::new()),
        ctx,
    })
}

/// Opens the store and loads the templates named in `config`.
fn open_context(config: Config, clock: Arc<dyn Clock>) -> Result<Context, DaemonError> {
    let config = Arc::new(config);
    let store = open_store(&config)?;
    let templates = Arc::new(Templates::load(&config.general.templates)?);
    tracing::info!(
        overrides = templates.overrides().count(),
        dir = %config.general.templates.display(),
        "templates loaded (built in, with the overrides found in dir)"
    );
    Ok(Context::new(store, templates, config, clock))
}

/// The store named in `config`: PostgreSQL when it gives a URL, sled otherwise.
fn open_store(config: &Config) -> Result<Store, DaemonError> {
    match (&config.store.url, &config.store.path) {
        (Some(url), _) => {
            let password = match (&config.store.password, &config.store.password_command) {
                (None, None) => None,
                _ => Some(
                    config
                        .store
                        .secret()
                        .resolve()
                        .map_err(DaemonError::StorePassword)?
                        .expose()
                        .to_string(),
                ),
            };
            let target = crate::store::PostgresTarget {
                url: url.clone(),
                password,
                ca_file: config.store.ca_file.clone(),
                statement_timeout: (config.store.statement_timeout_secs > 0)
                    .then(|| Duration::from_secs(config.store.statement_timeout_secs)),
            };
            tracing::info!(database = %target.describe(), "opening store on PostgreSQL");
            let store = Store::open_postgres(target)?;
            store.set_lease_times(
                Duration::from_secs(config.store.lease_secs),
                Duration::from_secs(config.store.claim_secs),
            );
            tracing::info!(
                holder = store.holder(),
                "leases and outbox claims are taken as this holder"
            );
            Ok(store)
        }
        (None, Some(path)) => {
            tracing::info!(path = %path.display(), "opening store");
            Ok(Store::open(path)?)
        }
        (None, None) => Err(DaemonError::Store(crate::store::StoreError::Open {
            path: "store".into(),
            message: "the config names no store.path nor store.url".into(),
        })),
    }
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

/// The context for `deskgate import`: the store (which must not be in use by a daemon) and the
/// accounts, which must load (imported tickets are tied to their accounts).
pub fn import_context(config: Config) -> Result<Arc<Context>, DaemonError> {
    let ctx = Arc::new(open_context(config, Arc::new(SystemClock))?);
    load_accounts(&ctx)?;
    Ok(ctx)
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
        // Beside daemons on a shared store: a desk one of them fetches is left to it.
        if !parts
            .store()
            .may_act(&crate::store::leases::desk(&desk.name))
        {
            tracing::warn!(desk = %desk.name, "another daemon fetches this desk now; skipped");
            continue;
        }
        let mut source = match batch::source_for(&desk, parts.ctx.clock.clone()) {
            Ok(s) => s,
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        tracing::info!(desk = %desk.name, source = %source.describe(), "fetching");
        loop {
            match batch::one_batch(&parts, &desk, &mut source, &mut report).await {
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
    // What this pass took, daemons may take at once.
    leases::release(
        parts.store(),
        &leases::wanted(parts.store(), &parts.config().desks),
    );
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
    let notifier = Arc::new(Notifier::from_env());
    let health = Arc::new(Health::default());
    let parts = Arc::new(assemble(config, Arc::new(SystemClock))?);
    let (stop_tx, stop_rx) = watch::channel(false);
    let wake_delivery = Arc::new(Notify::new());
    parts.ctx.set_outbox_waker(wake_delivery.clone());
    let mut tasks = tokio::task::JoinSet::new();

    // Bound before READY=1, so that the CLI reaches the daemon once systemd says it started.
    let socket = parts.config().admin_socket();
    match crate::admin::bind(&socket) {
        Ok(listener) => {
            let admin_roles = parts.roles();
            let admin_stop = stop_rx.clone();
            let admin_wake = wake_delivery.clone();
            tasks.spawn(async move {
                if let Err(e) =
                    crate::admin::serve(listener, &socket, admin_roles, admin_wake, admin_stop)
                        .await
                {
                    tracing::error!(error = %e, socket = %socket.display(), "admin endpoint failed; the CLI cannot reach this daemon");
                }
            });
        }
        Err(e) => {
            tracing::error!(error = %e, socket = %socket.display(), "admin endpoint failed; the CLI cannot reach this daemon")
        }
    }

    // The leases are renewed until the workers are done (they may still commit under them
    // while they finish), so the keeper has a stop signal of its own.
    let lease_names = leases::wanted(parts.store(), &parts.config().desks);
    let (keeper_stop, keeper_stop_rx) = watch::channel(false);
    let keeper = tokio::spawn(leases::keep(
        parts.store().clone(),
        lease_names.clone(),
        parts.lease_gained.clone(),
        stop_rx.clone(),
        keeper_stop_rx,
    ));
    for desk in parts.config().desks.clone() {
        let (parts, stop, wake) = (parts.clone(), stop_rx.clone(), wake_delivery.clone());
        let name = format!("desk {}", desk.name);
        tasks.spawn(workers::supervise(
            name,
            stop_rx.clone(),
            health.clone(),
            move || workers::desk(parts.clone(), desk.clone(), stop.clone(), wake.clone()),
        ));
    }
    {
        let (parts, stop, wake) = (parts.clone(), stop_rx.clone(), wake_delivery.clone());
        tasks.spawn(workers::supervise(
            "delivery".into(),
            stop_rx.clone(),
            health.clone(),
            move || workers::delivery(parts.clone(), stop.clone(), wake.clone()),
        ));
    }
    {
        let (parts, stop, wake) = (parts.clone(), stop_rx.clone(), wake_delivery.clone());
        tasks.spawn(workers::supervise(
            "timers".into(),
            stop_rx.clone(),
            health.clone(),
            move || workers::timers(parts.clone(), stop.clone(), wake.clone()),
        ));
    }
    {
        let parts = parts.clone();
        let stop = stop_rx.clone();
        let notifier = notifier.clone();
        tasks.spawn(async move { workers::reload(parts, stop, hup, notifier).await });
    }
    if let Some(listener) = metrics_listener(parts.config()).await? {
        let metrics = parts.ctx.metrics.clone();
        let probes = metrics_probes(parts.clone());
        let stop = stop_rx.clone();
        tasks.spawn(async move {
            if let Err(e) = crate::metrics::serve(listener, metrics, probes, stop).await {
                tracing::error!(error = %e, "metrics endpoint failed");
            }
        });
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

    if let Some(every) = notifier.watchdog_interval() {
        let (notifier, health, stop) = (notifier.clone(), health.clone(), stop_rx.clone());
        tasks.spawn(workers::watchdog(notifier, health, every, stop));
    }
    let desks = parts.config().desks.len();
    tracing::info!(desks, "started");
    notifier.ready(&format!(
        "running: {desks} desk{}",
        if desks == 1 { "" } else { "s" }
    ));

    shutdown.await;
    notifier.stopping();
    tracing::info!("shutting down: finishing the work in hand");
    let _ = stop_tx.send(true);
    // A broadcast pass runs on a blocking thread, out of reach of the stop signal's receivers.
    parts.broadcaster.stop();
    let finished = tokio::time::timeout(SHUTDOWN_DEADLINE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            deadline = ?SHUTDOWN_DEADLINE,
            "workers still busy at the shutdown deadline: stopping them (nothing they hold was acknowledged or reported sent)"
        );
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    let _ = keeper_stop.send(true);
    let _ = keeper.await;
    let store = parts.store().clone();
    tokio::task::spawn_blocking(move || {
        store.flush()?;
        // Only now: another daemon takes the work over at once, after our last commit.
        leases::release(&store, &lease_names);
        Ok::<_, crate::store::StoreError>(())
    })
    .await
    .map_err(|e| DaemonError::Worker(format!("final flush: {e}")))??;
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

/// The metrics endpoint's listener, bound before the tasks start (as the status page's).
async fn metrics_listener(config: &Config) -> Result<Option<tokio::net::TcpListener>, DaemonError> {
    let Some(addr) = config.metrics.listen_addr().map_err(DaemonError::Metrics)? else {
        return Ok(None);
    };
    tokio::net::TcpListener::bind(addr)
        .await
        .map(Some)
        .map_err(|e| DaemonError::Metrics(format!("metrics.listen {addr}: {e}")))
}

/// What the metrics endpoint reads: the outbox queue and the store's size (each scrape, on a
/// blocking thread), and a check of the SMTP server (when readiness has no recent word on it).
fn metrics_probes(parts: Arc<Parts>) -> crate::metrics::Probes {
    let store = parts.store().clone();
    let clock = parts.ctx.clock.clone();
    crate::metrics::Probes {
        store: Arc::new(move || {
            let (queued, oldest_queued) = store.outbox_queued().map_err(|e| e.to_string())?;
            let size_bytes = store.size_on_disk().map_err(|e| e.to_string())?;
            Ok(crate::metrics::StoreGauges {
                queued,
                oldest_queued,
                size_bytes,
            })
        }),
        smtp: Arc::new(move || {
            let parts = parts.clone();
            Box::pin(async move { parts.delivery.transport.test_connection().await })
        }),
        clock,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_ends_with_one_line_an_operator_reads() {
        let pass = |f: &dyn Fn(&mut OnceReport)| {
            let mut r = OnceReport::default();
            f(&mut r);
            r.summary()
        };
        let cases: Vec<(String, &str)> = vec![
            (pass(&|_| {}), "no new mail; nothing sent"),
            (
                pass(&|r| {
                    (r.fetched, r.created, r.appended, r.aside, r.sent) = (3, 1, 1, 1, 1);
                }),
                "3 mails: 1 new ticket, 1 reply, 1 kept aside; 1 mail sent",
            ),
            (
                // The walkthrough's pass: a reply, an out-of-office and a bounce on tickets
                // read "3 replies" before.
                pass(&|r| {
                    (r.fetched, r.appended, r.auto_replies, r.bounces) = (3, 3, 1, 1);
                }),
                "3 mails: 1 reply, 1 auto-reply, 1 bounce; nothing sent",
            ),
            (
                pass(&|r| {
                    (r.fetched, r.appended, r.machine_mail) = (2, 2, 2);
                }),
                "2 mails: 2 machine mails; nothing sent",
            ),
            (
                pass(&|r| {
                    (r.fetched, r.created, r.duplicates, r.quarantined) = (4, 2, 1, 1);
                    (r.sent, r.failed, r.retrying) = (3, 1, 2);
                }),
                "4 mails: 2 new tickets, 1 duplicate, 1 quarantined; 3 mails sent, 1 failed, 2 to retry",
            ),
            (
                pass(&|r| {
                    r.timers.sla_warnings = 2;
                    r.timers.sla_breaches = 1;
                    r.broadcast.queued = 5;
                    r.sent = 8;
                }),
                "no new mail; 2 SLA warnings, 1 SLA breach, 5 notices queued; 8 mails sent",
            ),
            (
                pass(&|r| {
                    (r.fetched, r.appended, r.retrying) = (1, 1, 1);
                }),
                "1 mail: 1 reply; 0 mails sent, 1 to retry",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }
}
