//! The daemon's long-running workers, and the supervisor that restarts one that panics.
//!
//! Each worker loops until the stop signal: a desk fetches and waits for mail (IDLE or a
//! poll), the delivery sends what is due, the timers fire SLA notices, handovers and
//! broadcasts, the reload worker re-reads the accounts file on SIGHUP. Store work runs on
//! blocking threads, never on the async workers that keep IMAP sessions, the admin socket and
//! the status page answering.

use super::notify::{Health, Notifier};
use super::{batch, load_accounts, OnceReport, Parts};
use crate::config::Desk;
use crate::metrics::Delivered;
use crate::source::{sleep_or_shutdown, Woken};
use crate::store::leases;
use crate::timers::TimerReport;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// How long a desk whose login was refused (or whose configuration is wrong) waits before it
/// tries again: long enough not to hammer a server or lock an account, short enough to recover
/// without a restart once the password is fixed.
const PERMANENT_ERROR_RETRY: Duration = Duration::from_secs(600);

/// The shortest and longest wait after a server said it is throttling a desk: its limits
/// (Exchange Online's per-minute budgets, Gmail's bandwidth per day) do not recover in
/// seconds, and every try while throttled counts against them.
const THROTTLED_MIN: Duration = Duration::from_secs(60);
const THROTTLED_MAX: Duration = Duration::from_secs(30 * 60);

/// Several daemons on one store: after this many failed passes in a row (or at once, for a
/// failure that needs a person: a refused login, a broken configuration) a daemon lets the
/// desk's lease go so that another daemon fetches it, and rests this many lease times before it
/// takes the desk again (if nobody else has it by then).
const STAND_DOWN_AFTER: u32 = 3;
const STAND_DOWN_LEASES: u32 = 2;

/// Whether a desk that failed `failures` times in a row with `e` should be left to another
/// daemon: only for trouble with the mailbox, which may be this machine's alone. Throttling
/// is the server's answer to the account, whoever asks, and a store that fails, fails every
/// daemon alike: no reason to move.
fn stand_down(e: &super::DaemonError, failures: u32) -> bool {
    matches!(e, super::DaemonError::Source(_))
        && e.throttled().is_none()
        && (!e.is_transient() || failures >= STAND_DOWN_AFTER)
}

/// How long a desk waits after a failed pass, given the current backoff for connection
/// trouble: the server's suggestion (at least [`THROTTLED_MIN`]) or the backoff, whichever is
/// longer, when throttled; the backoff for other passing trouble;
/// [`PERMANENT_ERROR_RETRY`] for what only an operator can fix.
fn retry_after(e: &super::DaemonError, backoff: Duration) -> Duration {
    match e.throttled() {
        Some(suggested) => suggested
            .unwrap_or(Duration::ZERO)
            .max(backoff)
            .clamp(THROTTLED_MIN, THROTTLED_MAX),
        None if e.is_transient() => backoff,
        None => PERMANENT_ERROR_RETRY,
    }
}

/// Runs the worker `start` makes until it returns. A worker that panics is logged and started
/// again after a pause that doubles (1 s up to 5 min), unless the daemon is stopping: one bad
/// moment must not leave a desk dead while the daemon looks alive. `health` knows the worker
/// as down from its panic until it runs again, and for good when it ends before the daemon
/// stops (a desk that cannot start): the systemd watchdog is fed only while no worker is down.
pub(super) async fn supervise<F, Fut>(
    name: String,
    mut stop: watch::Receiver<bool>,
    health: Arc<Health>,
    start: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut pause = Duration::from_secs(1);
    loop {
        match tokio::spawn(start()).await {
            Ok(()) => {
                if !*stop.borrow() {
                    health.down(&name);
                }
                return;
            }
            Err(e) if e.is_panic() => {
                health.down(&name);
                let what = batch::panic_message(&*e.into_panic());
                tracing::error!(worker = %name, panic = %what, restart_in = ?pause, "worker panicked; starting it again");
            }
            // Cancelled: the runtime is going down.
            Err(_) => return,
        }
        if sleep_or_shutdown(pause, &mut stop).await == Woken::Shutdown {
            return;
        }
        health.up(&name);
        pause = (pause * 2).min(Duration::from_secs(300));
    }
}

/// Feeds systemd's watchdog every `every` (half its timeout) while no worker is down; logs
/// once when it holds back, and once when it resumes.
pub(super) async fn watchdog(
    notifier: Arc<Notifier>,
    health: Arc<Health>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    tracing::info!(every = ?every, "feeding the systemd watchdog");
    let mut held_back = false;
    loop {
        let down = health.down_workers();
        if down.is_empty() {
            if held_back {
                tracing::info!("every worker runs again: feeding the systemd watchdog");
                held_back = false;
            }
            notifier.watchdog();
        } else if !held_back {
            tracing::warn!(workers = ?down, "workers are down: not feeding the systemd watchdog");
            held_back = true;
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => break,
        }
    }
}

/// One desk: fetch what is waiting, then wait for more (IDLE or the poll interval). Connection
/// trouble is retried with a backoff (1 s … 60 s); a refused login or a broken configuration
/// waits [`PERMANENT_ERROR_RETRY`] and says what to fix.
pub(super) async fn desk(
    parts: Arc<Parts>,
    desk: Desk,
    mut stop: watch::Receiver<bool>,
    wake: Arc<Notify>,
) {
    let mut source = match batch::source_for(&desk, parts.ctx.clock.clone()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(desk = %desk.name, error = %e, "desk cannot start");
            if let Some(m) = parts.ctx.metrics.desk(&desk.name) {
                m.fetch_failed(&format!("the desk cannot start: {e}"));
            }
            return;
        }
    };
    tracing::info!(desk = %desk.name, source = %source.describe(), "desk started");
    let mut backoff = Duration::from_secs(1);
    let mut report = OnceReport::default();
    let metrics = parts.ctx.metrics.clone();
    let desk_metrics = metrics.desk(&desk.name);
    let store = parts.store().clone();
    // Several daemons on one store: the desk is fetched only under its lease.
    let lease = store.is_shared().then(|| leases::desk(&desk.name));
    let mut leased = false;
    // Failed passes in a row under the desk's lease (see `stand_down`).
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            break;
        }
        if let Some(lease) = &lease {
            if store.lease_epoch(lease).is_none() {
                if leased {
                    tracing::warn!(desk = %desk.name, "desk lease lost: another daemon fetches it now");
                    leased = false;
                }
                // Not ours: no session kept open on its mailbox meanwhile.
                source.reset().await;
                tokio::select! {
                    _ = parts.lease_gained.notified() => {}
                    _ = tokio::time::sleep(super::leases::renew_every(&store)) => {}
                    _ = stop.changed() => break,
                }
                continue;
            }
            if !leased {
                tracing::info!(desk = %desk.name, epoch = store.lease_epoch(lease).unwrap_or(0), "fetching the desk under its lease");
                leased = true;
            }
        }
        match batch::one_batch(&parts, &desk, &mut source, &mut report).await {
            Ok(n) => {
                backoff = Duration::from_secs(1);
                failures = 0;
                if n > 0 {
                    wake.notify_one();
                }
                if n == parts.config().ingest.batch_size {
                    continue;
                }
                if let Some(m) = desk_metrics {
                    m.set_idle(source.would_idle());
                }
                let woken = source.wait(&mut stop).await;
                if let Some(m) = desk_metrics {
                    m.set_idle(false);
                }
                match woken {
                    Ok(Woken::Poll) => {}
                    Ok(Woken::Shutdown) => break,
                    Err(e) => {
                        if let Some(m) = desk_metrics {
                            m.fetch_failed(&e.to_string());
                        }
                        source.reset().await;
                        if let Some(suggested) = e.throttled() {
                            // A BYE during IDLE that says the server is holding us back.
                            let wait = suggested
                                .unwrap_or(THROTTLED_MIN)
                                .clamp(THROTTLED_MIN, THROTTLED_MAX);
                            tracing::warn!(desk = %desk.name, error = %e, retry_in = ?wait, "the mail server is throttling this desk; waiting before the next try");
                            if sleep_or_shutdown(wait, &mut stop).await == Woken::Shutdown {
                                break;
                            }
                        } else {
                            tracing::warn!(desk = %desk.name, error = %e, "waiting for mail failed; reconnecting");
                        }
                    }
                }
            }
            Err(e) => {
                if let Some(m) = desk_metrics {
                    m.fetch_failed(&e.to_string());
                }
                let retry_in = retry_after(&e, backoff);
                if e.throttled().is_some() {
                    tracing::warn!(desk = %desk.name, error = %e, retry_in = ?retry_in, "the mail server is throttling this desk; waiting before the next try");
                } else if e.is_transient() {
                    tracing::warn!(desk = %desk.name, error = %e, retry_in = ?retry_in, "desk pass failed; retrying");
                } else {
                    tracing::error!(desk = %desk.name, error = %e, retry_in = ?retry_in, "desk pass failed and will until its configuration is fixed");
                }
                source.reset().await;
                failures += 1;
                if let Some(lease) = lease.as_ref().filter(|_| stand_down(&e, failures)) {
                    // Another daemon may reach the mailbox, or log in, where this one cannot.
                    let rest = store.lease_time() * STAND_DOWN_LEASES;
                    tracing::warn!(desk = %desk.name, error = %e, failures, rest = ?rest, "the desk keeps failing on this daemon: its lease is let go so that another daemon fetches it");
                    let (s, l) = (store.clone(), lease.clone());
                    match tokio::task::spawn_blocking(move || s.stand_down(&l, rest)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            tracing::warn!(desk = %desk.name, error = %e, "desk lease not released; it runs out by itself")
                        }
                        Err(_) => {}
                    }
                    failures = 0;
                    continue;
                }
                if sleep_or_shutdown(retry_in, &mut stop).await == Woken::Shutdown {
                    break;
                }
                backoff = if e.throttled().is_some() {
                    // The next throttled wait doubles from this one.
                    (retry_in * 2).min(THROTTLED_MAX)
                } else {
                    (backoff * 2).min(Duration::from_secs(60))
                };
            }
        }
    }
    source.reset().await;
    if let Some(lease) = lease.filter(|l| store.lease_epoch(l).is_some()) {
        // Everything this worker committed is flushed first: the next daemon may fetch the
        // desk now, not once this one has finished its other work.
        let s = store.clone();
        let released =
            tokio::task::spawn_blocking(move || s.flush().and_then(|()| s.release_lease(&lease)))
                .await;
        match released {
            Ok(Ok(())) => tracing::info!(desk = %desk.name, "desk lease released"),
            Ok(Err(e)) => {
                tracing::warn!(desk = %desk.name, error = %e, "desk lease not released; it runs out by itself")
            }
            Err(_) => {}
        }
    }
    tracing::info!(desk = %desk.name, "desk stopped");
}

/// Fires SLA and handover timers as they come due, and broadcasts the maintenance and
/// incident notices due (checked at least every 30 s).
pub(super) async fn timers(
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
                tracing::info!(
                    sla_warnings = r.sla_warnings,
                    sla_breaches = r.sla_breaches,
                    handovers = r.handovers,
                    "timers fired"
                );
                parts.ctx.metrics.timers_fired(
                    r.sla_warnings as u64,
                    r.sla_breaches as u64,
                    r.handovers as u64,
                );
                wake_delivery.notify_one();
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "timers failed"),
            Err(e) => tracing::error!(error = %e, "timer task failed"),
        }
        let broadcaster = parts.broadcaster.clone();
        match tokio::task::spawn_blocking(move || broadcaster.run_due(now)).await {
            Ok(Ok(r)) if r.queued + r.held > 0 => {
                tracing::info!(
                    notices = r.notices,
                    queued = r.queued,
                    held = r.held,
                    failed = r.failed,
                    "notices queued"
                );
                wake_delivery.notify_one();
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "broadcast failed"),
            Err(e) => tracing::error!(error = %e, "broadcast task failed"),
        }
        let store = parts.store().clone();
        let next_timer = tokio::task::spawn_blocking(move || store.next_timer())
            .await
            .unwrap_or(Ok(None));
        let until_next = match next_timer {
            Ok(Some(t)) if t > now => (t - now).to_std().unwrap_or(Duration::from_secs(30)),
            _ => Duration::from_secs(30),
        };
        // Several daemons: a pass an ops command asked of a daemon without the broadcast lease
        // waits for the holder's next look, at most a lease renewal away.
        let most = if parts.store().is_shared() {
            super::leases::renew_every(parts.store())
        } else {
            Duration::from_secs(30)
        };
        tokio::select! {
            _ = tokio::time::sleep(until_next.min(most)) => {}
            _ = stop.changed() => break,
        }
    }
    // What this worker fired is committed; another daemon may take the timers and broadcasts
    // over now rather than once the slowest worker has finished.
    let store = parts.store().clone();
    let _ = tokio::task::spawn_blocking(move || {
        super::leases::release(&store, &[leases::TIMERS.into(), leases::BROADCAST.into()])
    })
    .await;
}

/// Reloads the accounts file on SIGHUP. A file that does not validate is refused with a log
/// line naming every problem, and the accounts in force stay. systemd is told RELOADING=1
/// before and READY=1 after, either way.
pub(super) async fn reload(
    parts: Arc<Parts>,
    mut stop: watch::Receiver<bool>,
    hup: std::io::Result<tokio::signal::unix::Signal>,
    notifier: Arc<Notifier>,
) {
    let Ok(mut hup) = hup else {
        tracing::warn!("cannot listen for SIGHUP: accounts will not be reloaded");
        return;
    };
    loop {
        tokio::select! {
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading accounts");
                notifier.reloading();
                let status = match load_accounts(&parts.ctx) {
                    Ok(()) => "running; accounts reloaded".to_string(),
                    Err(e) => {
                        tracing::error!(error = %e, "accounts not reloaded; the previous ones stay in force");
                        format!("running; accounts NOT reloaded: {e}")
                    }
                };
                notifier.ready(&status);
            }
            _ = stop.changed() => break,
        }
    }
}

/// Sends what is due, then sleeps until the next entry is due or new mail is queued.
pub(super) async fn delivery(
    parts: Arc<Parts>,
    mut stop: watch::Receiver<bool>,
    wake: Arc<Notify>,
) {
    loop {
        if *stop.borrow() {
            break;
        }
        match parts.delivery.pass().await {
            Ok(r) => {
                let metrics = &parts.ctx.metrics;
                metrics.delivered(Delivered::Sent, r.sent as u64);
                metrics.delivered(Delivered::Retried, r.retrying as u64);
                metrics.delivered(Delivered::Failed, r.failed as u64);
                if r.sent > 0 {
                    // The server took mail: as good as any check that it answers.
                    metrics.smtp_checked(parts.delivery.clock.now(), Ok(()));
                }
            }
            Err(e) => tracing::error!(error = %e, "delivery pass failed"),
        }
        let now = parts.delivery.clock.now();
        let store = parts.store().clone();
        let next_due = tokio::task::spawn_blocking(move || store.outbox_next_due())
            .await
            .unwrap_or(Ok(None));
        let until_next = match next_due {
            Ok(Some(t)) if t > now => (t - now).to_std().unwrap_or(Duration::from_secs(30)),
            Ok(Some(_)) => Duration::from_millis(200),
            _ => Duration::from_secs(30),
        };
        // Several daemons: what another daemon queued (or left behind when it died) wakes
        // nobody here, so look again within a lease renewal.
        let most = if parts.store().is_shared() {
            super::leases::renew_every(parts.store())
        } else {
            Duration::from_secs(30)
        };
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(until_next.min(most)) => {}
            _ = stop.changed() => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn a_worker_that_panics_is_started_again_until_it_returns() {
        let (_stop_tx, stop) = watch::channel(false);
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let health = Arc::new(Health::default());
        let seen_down = Arc::new(AtomicUsize::new(0));
        let (h, down) = (health.clone(), seen_down.clone());
        supervise("test".into(), stop, health.clone(), move || {
            let runs = counted.clone();
            // Restarted after a panic: it was down until now, and is up again.
            if !h.down_workers().is_empty() {
                down.fetch_add(1, Ordering::SeqCst);
            }
            async move {
                if runs.fetch_add(1, Ordering::SeqCst) < 2 {
                    panic!("a bug in a worker");
                }
            }
        })
        .await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            3,
            "two panics, then a clean end"
        );
        assert_eq!(
            seen_down.load(Ordering::SeqCst),
            0,
            "up again when restarted"
        );
        assert_eq!(
            health.down_workers(),
            ["test"],
            "a worker that ends while the daemon runs is down"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stopping_daemon_does_not_restart_a_panicked_worker() {
        let (stop_tx, stop) = watch::channel(false);
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let _ = stop_tx.send(true);
        supervise(
            "test".into(),
            stop,
            Arc::new(Health::default()),
            move || {
                let runs = counted.clone();
                async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    panic!("always");
                }
            },
        )
        .await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_is_fed_only_while_no_worker_is_down() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify");
        let systemd = std::os::unix::net::UnixDatagram::bind(&path).expect("bind");
        systemd.set_nonblocking(true).expect("nonblocking");
        let heard = || {
            let mut buf = [0u8; 64];
            let mut n = 0;
            while let Ok(len) = systemd.recv(&mut buf) {
                assert_eq!(&buf[..len], b"WATCHDOG=1");
                n += 1;
            }
            n
        };
        let health = Arc::new(Health::default());
        health.down("desk nl");
        let (stop_tx, stop) = watch::channel(false);
        let task = tokio::spawn(watchdog(
            Arc::new(Notifier::to_path(&path)),
            health.clone(),
            Duration::from_secs(1),
            stop,
        ));
        tokio::time::sleep(Duration::from_millis(3500)).await;
        assert_eq!(heard(), 0, "a worker is down: no ping");
        health.up("desk nl");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(heard() >= 1, "every worker runs: pings again");
        let _ = stop_tx.send(true);
        task.await.expect("the watchdog task ends on stop");
    }

    fn refused() -> super::super::DaemonError {
        super::super::DaemonError::Source(crate::source::SourceError::Auth {
            desk: "nl".into(),
            user: "nl".into(),
            message: "AUTHENTICATIONFAILED".into(),
        })
    }

    fn lost() -> super::super::DaemonError {
        super::super::DaemonError::Source(crate::source::SourceError::Lost {
            desk: "nl".into(),
            url: "imap://127.0.0.1:143".into(),
            message: "reset".into(),
        })
    }

    #[test]
    fn a_refused_login_waits_for_a_fix_while_a_dropped_connection_is_retried_soon() {
        let (refused, lost) = (refused(), lost());
        assert!(!refused.is_transient());
        assert!(lost.is_transient());
        assert_eq!(
            retry_after(&refused, Duration::from_secs(4)),
            PERMANENT_ERROR_RETRY
        );
        assert_eq!(
            retry_after(&lost, Duration::from_secs(4)),
            Duration::from_secs(4)
        );
    }

    #[test]
    fn a_desk_is_left_to_another_daemon_at_once_for_a_refused_login_after_three_drops() {
        let (refused, lost) = (refused(), lost());
        let store = super::super::DaemonError::Store(crate::store::StoreError::Engine {
            message: "PostgreSQL: 57P01: terminating connection".into(),
            transient: true,
        });
        assert!(stand_down(&refused, 1));
        assert!(!stand_down(&lost, 1) && !stand_down(&lost, 2) && stand_down(&lost, 3));
        assert!(!stand_down(&store, 5), "the store fails every daemon alike");
    }

    #[test]
    fn a_throttled_desk_waits_what_the_server_asks_at_least_a_minute_at_most_half_an_hour() {
        use crate::source::SourceError;
        let throttled = |wait: Option<Duration>| {
            super::super::DaemonError::Source(SourceError::Throttled {
                desk: "nl".into(),
                url: "imaps://outlook.office365.com".into(),
                message: "Request is throttled.".into(),
                wait,
            })
        };
        let s = Duration::from_secs;
        assert!(throttled(None).is_transient());
        assert_eq!(retry_after(&throttled(None), s(1)), THROTTLED_MIN);
        assert_eq!(retry_after(&throttled(Some(s(2))), s(1)), THROTTLED_MIN);
        assert_eq!(retry_after(&throttled(Some(s(300))), s(1)), s(300));
        assert_eq!(retry_after(&throttled(None), s(240)), s(240));
        assert_eq!(retry_after(&throttled(Some(s(7200))), s(1)), THROTTLED_MAX);
    }
}
