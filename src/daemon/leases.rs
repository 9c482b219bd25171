//! The leases a daemon keeps on a shared store (PostgreSQL with several daemons): one per desk
//! it runs, the timers, the broadcasts, and its own life lease (its outbox claims hold while
//! it runs).
//!
//! One task takes or renews every lease each third of its time (`[store] lease_secs`), so a
//! daemon that dies or hangs is taken over within a lease time plus a third. A daemon that
//! stops takes no new lease, renews what it holds while its workers finish, and lets each go as
//! soon as its work is done (a desk when its worker has flushed its last batch, the timers and
//! broadcasts when the timer worker stops, anything left after the final flush), so another
//! daemon takes over at once. The
//! workers only read what is held (`Store::lease_epoch`, `Store::may_act`) and are woken when a
//! lease is gained. The database's clock alone decides expiry; the commits made under a lease
//! carry its epoch and are refused once it has moved on (`store/leases.rs`), so a daemon whose
//! renewals stopped reaching the database cannot do harm while it finds out.

use crate::store::{leases, Store};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// The leases this daemon wants: its desks', the timers' and the broadcasts', and its own life
/// lease (its outbox claims hold while it runs).
pub(super) fn wanted(store: &Store, desks: &[crate::config::Desk]) -> Vec<String> {
    let mut names: Vec<String> = desks.iter().map(|d| leases::desk(&d.name)).collect();
    names.push(leases::TIMERS.into());
    names.push(leases::BROADCAST.into());
    names.push(store.life_lease().to_string());
    names
}

/// How often a lease is renewed (and a free one looked for): a third of its time.
pub(super) fn renew_every(store: &Store) -> Duration {
    (store.lease_time() / 3).max(Duration::from_millis(100))
}

/// Takes or renews every lease in `names`; `gained` is woken whenever one of them comes to this
/// daemon. Once `stopping` is set it only renews what it still holds (a lease let go stays
/// free), until `done`. Does nothing on a store of one process.
pub(super) async fn keep(
    store: Store,
    names: Vec<String>,
    gained: Arc<Notify>,
    mut stopping: watch::Receiver<bool>,
    mut done: watch::Receiver<bool>,
) {
    if !store.is_shared() {
        return;
    }
    let every = renew_every(&store);
    let mut held: HashMap<String, bool> = HashMap::new();
    loop {
        let winding_down = *stopping.borrow();
        for name in &names {
            if winding_down && store.lease_epoch(name).is_none() {
                continue;
            }
            let (s, n) = (store.clone(), name.clone());
            let taken = tokio::task::spawn_blocking(move || s.take_lease(&n)).await;
            let now_held = match taken {
                Ok(Ok(h)) => h,
                Ok(Err(e)) => {
                    tracing::warn!(lease = %name, error = %e, "cannot renew the lease; it runs out unless the database answers");
                    store.lease_epoch(name).is_some()
                }
                Err(_) => return,
            };
            let before = held.insert(name.clone(), now_held).unwrap_or(false);
            if now_held && !before {
                tracing::info!(lease = %name, epoch = store.lease_epoch(name).unwrap_or(0), "lease taken");
                gained.notify_waiters();
            } else if before && !now_held {
                tracing::warn!(lease = %name, "lease lost: another daemon does this work now");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopping.changed(), if !winding_down => {}
            _ = done.changed() => return,
        }
    }
}

/// Lets every lease in `names` go (at shutdown, once the workers are done).
pub(super) fn release(store: &Store, names: &[String]) {
    if !store.is_shared() {
        return;
    }
    for name in names {
        if store.lease_epoch(name).is_some() {
            match store.release_lease(name) {
                Ok(()) => tracing::info!(lease = %name, "lease released"),
                Err(e) => {
                    tracing::warn!(lease = %name, error = %e, "cannot release the lease; it runs out by itself")
                }
            }
        }
    }
}
