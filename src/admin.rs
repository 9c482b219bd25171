//! The local admin endpoint: how the CLI talks to a running daemon.
//!
//! sled lets one process open a store, so while the daemon runs, `deskgate tickets …` and friends
//! send their query over a Unix socket next to the store (`<store.path>.sock`, mode 0600) and the
//! daemon answers from its open store. When no daemon answers, the CLI opens the store itself.
//! The protocol is one JSON request line and one JSON response line per connection.

use crate::broadcast::ops::{self, IncidentForm, MaintenanceForm, Step};
use crate::broadcast::Broadcaster;
use crate::context::Context;
use crate::ingest::Ingestor;
use crate::store::{Shelf, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{watch, Notify};

/// A read-only query of the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "query", rename_all = "snake_case")]
pub enum Query {
    /// Tickets in reference order, their SLA state judged at `now` (the clock when absent):
    /// every one, or a page of at most `limit` after the reference `after`, of one status,
    /// desk or account.
    TicketsList {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        now: Option<DateTime<Utc>>,
        #[serde(default, skip_serializing_if = "TicketFilter::is_empty")]
        filter: TicketFilter,
    },
    /// One ticket with its messages and history, its SLA state judged at `now`.
    TicketShow {
        reference: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        now: Option<DateTime<Utc>>,
    },
    OutboxList,
    ShelfList {
        shelf: Shelf,
    },
    ShelfShow {
        shelf: Shelf,
        id: u64,
    },
    /// Processes a shelved mail again (after a fix or a config change) and removes it from the
    /// shelf; a mail that fails again lands on the shelf anew.
    ShelfRetry {
        shelf: Shelf,
        id: u64,
    },
    /// Removes a shelved mail for good.
    ShelfDrop {
        shelf: Shelf,
        id: u64,
    },
    /// The monthly report ("2026-11"), of every account or of one; targets still running are
    /// judged at `now` (the clock when absent).
    Report {
        month: String,
        account: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        now: Option<DateTime<Utc>>,
    },
    /// Schedules a maintenance (one-off, or standing when the form has a rule). `now` stands
    /// in for the clock (replays and tests); `dry_run` stores nothing and shows the audience.
    MaintenanceSchedule {
        form: MaintenanceForm,
        dry_run: bool,
        now: Option<DateTime<Utc>>,
    },
    MaintenanceUpdate {
        id: String,
        form: MaintenanceForm,
        dry_run: bool,
        now: Option<DateTime<Utc>>,
    },
    /// Start, complete or cancel; `force` overrides the clock's refusals (a start days early, a
    /// completion before the window).
    MaintenanceStep {
        id: String,
        step: Step,
        dry_run: bool,
        #[serde(default)]
        force: bool,
        now: Option<DateTime<Utc>>,
    },
    MaintenanceList {
        now: Option<DateTime<Utc>>,
    },
    MaintenanceShow {
        id: String,
        now: Option<DateTime<Utc>>,
    },
    IncidentOpen {
        form: IncidentForm,
        dry_run: bool,
        now: Option<DateTime<Utc>>,
    },
    IncidentUpdate {
        id: String,
        form: IncidentForm,
        dry_run: bool,
        now: Option<DateTime<Utc>>,
    },
    IncidentResolve {
        id: String,
        message: String,
        dry_run: bool,
        now: Option<DateTime<Utc>>,
    },
    IncidentList,
    IncidentShow {
        id: String,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct Response {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ok: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// What answers the queries: the shared context and the roles a query may set to work (a
/// shelved mail retried goes through the ingest; an ops change is followed by a broadcast
/// pass). The daemon hands out its own; a CLI command without a daemon builds one.
#[derive(Clone)]
pub struct Roles {
    pub ctx: Arc<Context>,
    pub ingestor: Arc<Ingestor>,
    pub broadcaster: Arc<Broadcaster>,
}

impl Roles {
    pub fn new(ctx: Arc<Context>) -> Roles {
        Roles {
            ingestor: Arc::new(Ingestor::new(ctx.clone())),
            broadcaster: Arc::new(Broadcaster::new(ctx.clone())),
            ctx,
        }
    }
}

/// Which tickets a listing shows, and how many.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketFilter {
    /// At most this many (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Only references after this one (the last of the previous page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<crate::core::service::ticket::Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

impl TicketFilter {
    pub fn is_empty(&self) -> bool {
        *self == TicketFilter::default()
    }

    fn admits(&self, t: &crate::core::service::ticket::Ticket) -> bool {
        self.status.is_none_or(|s| t.status == s)
            && self.desk.as_ref().is_none_or(|d| &t.desk == d)
            && self
                .account
                .as_ref()
                .is_none_or(|a| t.account.as_ref() == Some(a))
    }
}

/// Answers a query: the same code whether the daemon or the CLI holds the store.
pub fn answer(roles: &Roles, q: &Query) -> Result<Value, String> {
    let ctx = &roles.ctx;
    let store = &ctx.store;
    let broadcaster = &roles.broadcaster;
    let at = |now: &Option<DateTime<Utc>>| now.unwrap_or_else(|| ctx.clock.now());
    let err = |e: StoreError| e.to_string();
    let json = |v: serde_json::Result<Value>| v.map_err(|e| e.to_string());
    match q {
        Query::TicketsList { now, filter } => {
            let now = at(now);
            // A filter naming nothing there is would list nothing, which reads as "no such
            // tickets": say so instead.
            if let Some(desk) = &filter.desk {
                ctx.config.known_desk(desk)?;
            }
            if let Some(account) = &filter.account {
                known_account(ctx, account)?;
            }
            let after = filter
                .after
                .as_deref()
                .map(crate::core::mail::subject::typed_ref);
            let tickets = store
                .tickets_page(after.as_deref(), filter.limit.unwrap_or(usize::MAX), |t| {
                    filter.admits(t)
                })
                .map_err(err)?;
            json(serde_json::to_value(
                tickets
                    .iter()
                    .map(|t| {
                        crate::view::with_sla(crate::view::ticket_summary(t), &ctx.support, t, now)
                    })
                    .collect::<Vec<_>>(),
            ))
        }
        Query::TicketShow { reference, now } => {
            let reference = crate::core::mail::subject::typed_ref(reference);
            let Some(t) = store.ticket(&reference).map_err(err)? else {
                return Err(format!("no ticket {reference}"));
            };
            let messages = store.messages(&reference).map_err(err)?;
            let now = at(now);
            Ok(crate::view::with_sla(
                crate::view::ticket_detail(&t, &messages),
                &ctx.support,
                &t,
                now,
            ))
        }
        Query::OutboxList => Ok(Value::Array(
            store
                .outbox()
                .map_err(err)?
                .iter()
                .map(crate::view::outbox_entry)
                .collect(),
        )),
        Query::ShelfList { shelf } => json(serde_json::to_value(store.shelf(*shelf).map_err(err)?)),
        Query::ShelfShow { shelf, id } => {
            let Some(entry) = store.shelved(*shelf, *id).map_err(err)? else {
                return Err(format!("no entry {id}"));
            };
            let raw = store
                .shelved_raw(*shelf, *id)
                .map_err(err)?
                .unwrap_or_default();
            let mut v = serde_json::to_value(entry).map_err(|e| e.to_string())?;
            if let Some(o) = v.as_object_mut() {
                o.insert(
                    "raw".into(),
                    Value::String(String::from_utf8_lossy(&raw).into_owned()),
                );
            }
            Ok(v)
        }
        Query::ShelfRetry { shelf, id } => {
            let Some(outcome) = roles.ingestor.retry_shelved(*shelf, *id).map_err(err)? else {
                return Err(format!("no entry {id}"));
            };
            Ok(
                serde_json::json!({"id": id, "outcome": format!("{outcome:?}"), "ticket": outcome.ticket()}),
            )
        }
        Query::ShelfDrop { shelf, id } => {
            if store.shelved(*shelf, *id).map_err(err)?.is_none() {
                return Err(format!("no entry {id}"));
            }
            let _writer = store.write_lock();
            let mut txn = store.txn();
            txn.delete_shelved(*shelf, *id);
            txn.commit().map_err(err)?;
            store.flush().map_err(err)?;
            tracing::info!(id, ?shelf, "shelved mail dropped");
            Ok(serde_json::json!({"id": id, "dropped": true}))
        }
        Query::Report {
            month,
            account,
            now,
        } => json(serde_json::to_value(monthly_report(
            ctx,
            month,
            account.as_deref(),
            at(now),
        )?)),
        Query::MaintenanceSchedule { form, dry_run, now } => {
            ops::schedule_maintenance(broadcaster, form, *dry_run, at(now))
        }
        Query::MaintenanceUpdate {
            id,
            form,
            dry_run,
            now,
        } => ops::update_maintenance(broadcaster, id, form, *dry_run, at(now)),
        Query::MaintenanceStep {
            id,
            step,
            dry_run,
            force,
            now,
        } => ops::step_maintenance(broadcaster, id, *step, *dry_run, *force, at(now)),
        Query::MaintenanceList { now } => ops::maintenance_list(broadcaster, at(now)),
        Query::MaintenanceShow { id, now } => ops::maintenance_show(broadcaster, id, at(now)),
        Query::IncidentOpen { form, dry_run, now } => {
            ops::open_incident(broadcaster, form, *dry_run, at(now))
        }
        Query::IncidentUpdate {
            id,
            form,
            dry_run,
            now,
        } => ops::update_incident(broadcaster, id, form, *dry_run, at(now)),
        Query::IncidentResolve {
            id,
            message,
            dry_run,
            now,
        } => ops::resolve_incident(broadcaster, id, message, *dry_run, at(now)),
        Query::IncidentList => ops::incident_list(broadcaster),
        Query::IncidentShow { id } => ops::incident_show(broadcaster, id),
    }
}

/// The monthly report over every ticket in the store, with the plans, calendars and accounts in
/// force. The month is bounded in the account's time zone, else in the deployment's.
fn monthly_report(
    ctx: &Context,
    month: &str,
    account: Option<&str>,
    as_of: DateTime<Utc>,
) -> Result<crate::core::service::report::MonthlyReport, String> {
    use crate::core::service::calendar::Calendar;
    use crate::core::service::report::{self, Allowance, Month, Scope};
    let month = Month::parse(month)?;
    let directory = ctx.directory();
    let config = &ctx.config;
    let zone = match account {
        Some(id) => match directory.account(id) {
            Some(a) => a.timezone.as_str(),
            None => return Err(unknown_account(ctx, id)),
        },
        None => config.general.timezone.as_str(),
    };
    let tz: chrono_tz::Tz = zone
        .parse()
        .map_err(|_| format!("unknown time zone {zone:?}: run `deskgate check`"))?;
    // The same plans and calendars as the ingest's (a ticket's plan, Standard when it has none,
    // names its calendar; 24x7 when unknown).
    let tickets = ctx.store.tickets().map_err(|e| e.to_string())?;
    let calendars: Vec<Calendar> = tickets.iter().map(|t| ctx.support.calendar_of(t)).collect();
    let with_calendars: Vec<_> = tickets.iter().zip(calendars.iter()).collect();
    let allowances: Vec<Allowance> = ctx
        .support
        .plans()
        .iter()
        .map(|p| Allowance {
            plan: p.name.clone(),
            hours: p.allowance_hours,
            months: p.allowance_months,
        })
        .collect();
    let scope = Scope {
        month,
        tz,
        account,
        as_of,
    };
    Ok(report::monthly(
        &scope,
        &with_calendars,
        &allowances,
        directory.accounts(),
    ))
}

/// Whether the accounts file has account `id`; the error names the accounts it has.
fn known_account(ctx: &Context, id: &str) -> Result<(), String> {
    match ctx.directory().account(id) {
        Some(_) => Ok(()),
        None => Err(unknown_account(ctx, id)),
    }
}

fn unknown_account(ctx: &Context, id: &str) -> String {
    if ctx.config.general.accounts.is_none() {
        return format!(
            "no account {id:?} in the accounts file (none is configured: general.accounts)"
        );
    }
    let directory = ctx.directory();
    let accounts = crate::core::names::listed(directory.accounts().iter().map(|a| a.id.as_str()));
    format!("no account {id:?} in the accounts file (accounts: {accounts})")
}

/// Binds the admin socket at `path` (a stale one is replaced), readable by its owner only.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    tracing::info!(socket = %path.display(), "admin endpoint listening");
    Ok(listener)
}

/// Serves queries on `listener` (bound at `path` by [`bind`]) until `shutdown`, then removes
/// the socket file. `wake` is the delivery task's: an answer may have queued mail (a
/// maintenance notice). The daemon binds first and serves after, so that the socket listens
/// before it tells systemd it is ready.
pub async fn serve(
    listener: UnixListener,
    path: &Path,
    roles: Roles,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let roles = roles.clone();
                let wake = wake.clone();
                tokio::spawn(async move {
                    if let Err(e) = handle(stream, roles).await {
                        tracing::debug!(error = %e, "admin connection ended");
                    }
                    wake.notify_one();
                });
            }
        }
    }
    let _ = std::fs::remove_file(path);
    Ok(())
}

async fn handle(stream: UnixStream, roles: Roles) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut line = String::new();
    BufReader::new(r).read_line(&mut line).await?;
    let resp = match serde_json::from_str::<Query>(&line) {
        Ok(q) => {
            // Store reads are synchronous; keep them off the async workers.
            let result = tokio::task::spawn_blocking(move || answer(&roles, &q))
                .await
                .unwrap_or_else(|e| Err(format!("query failed: {e}")));
            match result {
                Ok(v) => Response {
                    ok: Some(v),
                    error: None,
                },
                Err(e) => Response {
                    ok: None,
                    error: Some(e),
                },
            }
        }
        Err(e) => Response {
            ok: None,
            error: Some(format!("bad request: {e}")),
        },
    };
    let mut bytes = serde_json::to_vec(&resp).unwrap_or_default();
    bytes.push(b'\n');
    w.write_all(&bytes).await?;
    w.shutdown().await
}

/// Asks a running daemon. `Ok(None)` when no daemon listens on `path`.
pub async fn ask(path: &Path, q: &Query) -> Result<Option<Value>, String> {
    let stream = match UnixStream::connect(path).await {
        Ok(s) => s,
        Err(_) => return Ok(None),
    };
    let (r, mut w) = stream.into_split();
    let mut req = serde_json::to_vec(q).map_err(|e| e.to_string())?;
    req.push(b'\n');
    w.write_all(&req).await.map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(r)
        .read_line(&mut line)
        .await
        .map_err(|e| e.to_string())?;
    let resp: Response =
        serde_json::from_str(&line).map_err(|e| format!("bad answer from the daemon: {e}"))?;
    match (resp.ok, resp.error) {
        (_, Some(e)) => Err(e),
        (Some(v), None) => Ok(Some(v)),
        (None, None) => Err("empty answer from the daemon".into()),
    }
}
