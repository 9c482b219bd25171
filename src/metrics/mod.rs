//! Metrics and health: what a monitoring system needs to see that every desk still fetches,
//! the outbox drains and the SMTP relay answers, served over HTTP on a configured local
//! address (`[metrics] listen`).
//!
//! - `/metrics`: the [`Metrics`] registry and a few gauges read from the store at each scrape
//!   ([`StoreGauges`]), in the Prometheus text format ([`exposition`]).
//! - `/healthz`: 200 while the process answers at all.
//! - `/readyz`: 200 when the store answers, every desk fetched successfully within its
//!   interval × `ready_within_intervals` (or waits in IDLE, the server ready to tell it of new
//!   mail), and the SMTP server took the last mail or answered a check; else 503 with one
//!   line per reason ([`readiness`]).
//!
//! This module is an adapter beside the others: it imports the config, the clock and the core's
//! vocabulary, never the pipeline. The pipeline counts into the registry (it lives in the
//! context) and hands the endpoint its probes, as the status page gets its snapshots. The HTTP
//! is the status page's: axum, with the same graceful stop.

pub mod exposition;
mod registry;

pub use registry::{
    Broadcast, Delivered, DeskMetrics, Metrics, Processed, SmtpState, FINISHED_BROADCAST_KEPT,
    MIN_READY_WINDOW, UNCLASSIFIED,
};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Duration, Utc};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::Clock;
use exposition::{Exposition, Kind, Sample};

/// How long requests in hand may take to finish once the daemon stops.
pub const SHUTDOWN_GRACE: StdDuration = StdDuration::from_secs(5);

/// `/readyz` checks the SMTP server itself when nothing told it about the server for this
/// long, at most once per this period however often it is asked.
pub const SMTP_CHECK_EVERY: Duration = Duration::seconds(30);

/// How long an SMTP check may take before it counts as failed.
pub const SMTP_CHECK_TIMEOUT: StdDuration = StdDuration::from_secs(10);

/// What is read from the store at each scrape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreGauges {
    /// Outbox entries waiting to be sent (state queued).
    pub queued: u64,
    /// When the oldest of them was queued.
    pub oldest_queued: Option<DateTime<Utc>>,
    /// The store's size on disk.
    pub size_bytes: u64,
}

/// Reads [`StoreGauges`]; called on a blocking thread. An error means the store does not
/// answer (and `/readyz` says so).
pub type StoreProbe = Arc<dyn Fn() -> Result<StoreGauges, String> + Send + Sync>;

/// A cheap check that the SMTP server answers.
pub type SmtpProbe =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// What the endpoint asks the daemon for.
#[derive(Clone)]
pub struct Probes {
    pub store: StoreProbe,
    pub smtp: SmtpProbe,
    pub clock: Arc<dyn Clock>,
}

/// The whole scrape: the registry's families, then the store's.
pub fn render(m: &Metrics, store: Option<&StoreGauges>, now: DateTime<Utc>) -> String {
    let mut e = Exposition::default();
    let per_desk = |value: &dyn Fn(&DeskMetrics) -> f64| -> Vec<Sample> {
        m.desks()
            .iter()
            .map(|d| Sample::new(value(d)).label("desk", d.name.as_str()))
            .collect()
    };
    e.family(
        "deskgate_mails_fetched_total",
        Kind::Counter,
        "Mails fetched from the desk's mailbox.",
        per_desk(&|d| d.fetched() as f64),
    );
    e.family(
        "deskgate_mails_total",
        Kind::Counter,
        "Mails processed and committed, by classification (unclassified: too large or unreadable).",
        m.desks()
            .iter()
            .flat_map(|d| {
                d.kinds().into_iter().map(|(kind, n)| {
                    Sample::new(n as f64)
                        .label("desk", d.name.as_str())
                        .label("kind", kind)
                })
            })
            .collect(),
    );
    e.family(
        "deskgate_mails_processed_total",
        Kind::Counter,
        "Mails processed and committed, by what they became.",
        m.desks()
            .iter()
            .flat_map(|d| {
                d.outcomes().into_iter().map(|(outcome, n)| {
                    Sample::new(n as f64)
                        .label("desk", d.name.as_str())
                        .label("outcome", outcome)
                })
            })
            .collect(),
    );
    e.family(
        "deskgate_desk_fetch_errors_total",
        Kind::Counter,
        "Failed passes over the desk's mailbox (connection, login, protocol, store).",
        per_desk(&|d| d.fetch_errors() as f64),
    );
    e.family(
        "deskgate_desk_last_fetch_success_timestamp_seconds",
        Kind::Gauge,
        "When the desk last fetched successfully, in Unix seconds (0: not since the start).",
        per_desk(&|d| {
            d.last_success()
                .map_or(0.0, |t| t.timestamp_millis() as f64 / 1000.0)
        }),
    );
    e.family(
        "deskgate_desk_idle",
        Kind::Gauge,
        "1 while the desk waits for mail in IMAP IDLE, else 0.",
        per_desk(&|d| if d.idle() { 1.0 } else { 0.0 }),
    );
    e.family(
        "deskgate_outbox_deliveries_total",
        Kind::Counter,
        "Delivery attempts by outcome: sent, retried (transient failure), failed (for good).",
        Delivered::ALL
            .iter()
            .map(|o| Sample::new(m.deliveries(*o) as f64).label("outcome", o.as_str()))
            .collect(),
    );
    let (warnings, breaches, handovers) = m.timers();
    e.family(
        "deskgate_sla_warnings_total",
        Kind::Counter,
        "SLA warnings sent (75 % of a target).",
        vec![Sample::new(warnings as f64)],
    );
    e.family(
        "deskgate_sla_breaches_total",
        Kind::Counter,
        "SLA breach notices sent.",
        vec![Sample::new(breaches as f64)],
    );
    e.family(
        "deskgate_handovers_total",
        Kind::Counter,
        "Shift handover mails sent.",
        vec![Sample::new(handovers as f64)],
    );
    let broadcasts = m.broadcasts(now);
    e.family(
        "deskgate_broadcast_recipients",
        Kind::Gauge,
        "Recipients of a maintenance or incident notice being carried out (or finished in the last hour).",
        broadcasts
            .iter()
            .map(|(k, b)| Sample::new(b.total as f64).label("notice", k.as_str()))
            .collect(),
    );
    e.family(
        "deskgate_broadcast_recipients_done",
        Kind::Gauge,
        "Recipients whose notice is queued in the outbox (or held).",
        broadcasts
            .iter()
            .map(|(k, b)| Sample::new(b.done as f64).label("notice", k.as_str()))
            .collect(),
    );
    if let Some(s) = store {
        e.family(
            "deskgate_outbox_queued",
            Kind::Gauge,
            "Outbox entries waiting to be sent.",
            vec![Sample::new(s.queued as f64)],
        );
        let age = s.oldest_queued.map_or(0.0, |t| {
            ((now - t).num_milliseconds().max(0)) as f64 / 1000.0
        });
        e.family(
            "deskgate_outbox_oldest_queued_age_seconds",
            Kind::Gauge,
            "Age of the oldest outbox entry waiting to be sent (0 when none waits).",
            vec![Sample::new(age)],
        );
        e.family(
            "deskgate_store_size_bytes",
            Kind::Gauge,
            "Size of the store on disk.",
            vec![Sample::new(s.size_bytes as f64)],
        );
    }
    e.finish()
}

/// Why the daemon is not ready, one line each; empty when it is.
pub fn readiness(
    m: &Metrics,
    store: &Result<StoreGauges, String>,
    now: DateTime<Utc>,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if let Err(e) = store {
        reasons.push(format!("store: {e}"));
    }
    for d in m.desks() {
        if d.idle() {
            continue;
        }
        let window = d.ready_window(m.ready_within_intervals);
        let since = now - d.last_success().unwrap_or(m.started);
        if since > window {
            let when = match d.last_success() {
                Some(_) => format!("no successful fetch for {} s", since.num_seconds()),
                None => format!(
                    "no successful fetch since the start {} s ago",
                    since.num_seconds()
                ),
            };
            let error = d
                .last_error()
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default();
            reasons.push(format!(
                "desk {}: {when} (allowed {} s){error}",
                d.name,
                window.num_seconds()
            ));
        }
    }
    if let Some(SmtpState { error: Some(e), .. }) = m.smtp() {
        reasons.push(format!("smtp: {e}"));
    }
    reasons
}

/// What every handler shares.
struct App {
    metrics: Arc<Metrics>,
    probes: Probes,
    /// One SMTP check at a time, however many probes ask.
    smtp_checking: tokio::sync::Mutex<()>,
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until `stop` turns true (or its
/// sender is dropped).
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    probes: Probes,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "metrics listening");
    let app = Arc::new(App {
        metrics,
        probes,
        smtp_checking: tokio::sync::Mutex::new(()),
    });
    let router = Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .with_state(app);
    let server = axum::serve(listener, router).with_graceful_shutdown(stopped(stop.clone()));
    let deadline = async {
        stopped(stop).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        served = server => served?,
        () = deadline => tracing::warn!(%addr, "metrics: requests still open after the grace period; leaving them"),
    }
    tracing::info!(%addr, "metrics stopped");
    Ok(())
}

/// Resolves when the daemon says stop, or can no longer say anything.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

const TEXT: &str = "text/plain; charset=utf-8";
const EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";

async fn scrape(State(app): State<Arc<App>>) -> Response {
    let store = read_store(&app).await;
    if let Err(e) = &store {
        tracing::warn!(error = %e, "metrics: the store did not answer; its gauges are left out");
    }
    let now = app.probes.clock.now();
    let body = render(&app.metrics, store.as_ref().ok(), now);
    text(StatusCode::OK, EXPOSITION, body)
}

async fn healthz() -> Response {
    text(StatusCode::OK, TEXT, "ok\n".into())
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    check_smtp_if_stale(&app).await;
    let store = read_store(&app).await;
    let reasons = readiness(&app.metrics, &store, app.probes.clock.now());
    if reasons.is_empty() {
        text(StatusCode::OK, TEXT, "ready\n".into())
    } else {
        let mut body = String::from("not ready:\n");
        for r in reasons {
            body.push_str(&r.replace('\n', " "));
            body.push('\n');
        }
        text(StatusCode::SERVICE_UNAVAILABLE, TEXT, body)
    }
}

async fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, TEXT, "not found\n".into())
}

/// The store's gauges, read on a blocking thread.
async fn read_store(app: &Arc<App>) -> Result<StoreGauges, String> {
    let probe = app.probes.store.clone();
    tokio::task::spawn_blocking(move || probe())
        .await
        .unwrap_or_else(|e| Err(format!("the store probe failed: {e}")))
}

/// Checks the SMTP server when nothing said anything about it for [`SMTP_CHECK_EVERY`].
async fn check_smtp_if_stale(app: &Arc<App>) {
    let _one_at_a_time = app.smtp_checking.lock().await;
    let now = app.probes.clock.now();
    let fresh = app
        .metrics
        .smtp()
        .is_some_and(|s| now - s.at < SMTP_CHECK_EVERY && s.at <= now);
    if fresh {
        return;
    }
    let result = match tokio::time::timeout(SMTP_CHECK_TIMEOUT, (app.probes.smtp)()).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no answer within {} s",
            SMTP_CHECK_TIMEOUT.as_secs()
        )),
    };
    if let Err(e) = &result {
        tracing::warn!(error = %e, "readiness: the SMTP server check failed");
    }
    app.metrics.smtp_checked(app.probes.clock.now(), result);
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::core::mail::classify::MailKind;
    use std::path::Path;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("instant").into()
    }

    fn metrics(extra: &str) -> Metrics {
        let text = format!(
            "[store]\npath = \"x\"\n[smtp]\nurl = \"file:///tmp/x\"\n\
             [[desk]]\nname = \"nl\"\naddress = \"desk.nl@example.net\"\nlanguage = \"nl\"\n\
             [desk.imap]\nurl = \"imap://127.0.0.1:1\"\nuser = \"nl\"\npassword = \"x\"\npoll_interval_secs = 60\n\
             [[desk]]\nname = \"fr\"\naddress = \"desk.fr@example.net\"\nlanguage = \"fr\"\n\
             [desk.maildir]\npath = \"m\"\n{extra}"
        );
        let c = Config::parse(&text, Path::new("cfg.toml")).expect("parses");
        assert_eq!(c.validate(), Vec::<String>::new());
        Metrics::from_config(&c, at("2030-01-01T00:00:00Z"))
    }

    #[test]
    fn every_desk_has_every_series_from_the_start() {
        let m = metrics("");
        let text = render(&m, None, at("2030-01-01T00:00:01Z"));
        for line in [
            "deskgate_mails_fetched_total{desk=\"fr\"} 0",
            "deskgate_mails_total{desk=\"nl\",kind=\"auto-reply\"} 0",
            "deskgate_mails_total{desk=\"nl\",kind=\"unclassified\"} 0",
            "deskgate_mails_processed_total{desk=\"fr\",outcome=\"quarantined\"} 0",
            "deskgate_desk_last_fetch_success_timestamp_seconds{desk=\"nl\"} 0",
            "deskgate_outbox_deliveries_total{outcome=\"retried\"} 0",
            "deskgate_sla_breaches_total 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
        assert!(
            !text.contains("deskgate_outbox_queued"),
            "no store, no store gauges"
        );
    }

    #[test]
    fn counts_and_store_gauges_show_in_the_scrape() {
        let m = metrics("");
        let nl = m.desk("nl").expect("desk");
        nl.fetched_one();
        nl.fetched_one();
        nl.processed(Some(MailKind::Human), Processed::Created);
        nl.processed(None, Processed::Quarantined);
        nl.fetch_succeeded(at("2030-01-01T00:00:05.5Z"));
        nl.set_idle(true);
        m.delivered(Delivered::Sent, 3);
        m.timers_fired(1, 2, 0);
        m.broadcast_progress("MNT-1/20300101T000000Z/announcement/0", 500, 1200, None);
        let store = StoreGauges {
            queued: 4,
            oldest_queued: Some(at("2030-01-01T00:00:00Z")),
            size_bytes: 123456,
        };
        let text = render(&m, Some(&store), at("2030-01-01T00:01:30Z"));
        for line in [
            "deskgate_mails_fetched_total{desk=\"nl\"} 2",
            "deskgate_mails_total{desk=\"nl\",kind=\"human\"} 1",
            "deskgate_mails_total{desk=\"nl\",kind=\"unclassified\"} 1",
            "deskgate_mails_processed_total{desk=\"nl\",outcome=\"created\"} 1",
            "deskgate_desk_last_fetch_success_timestamp_seconds{desk=\"nl\"} 1893456005.5",
            "deskgate_desk_idle{desk=\"nl\"} 1",
            "deskgate_desk_idle{desk=\"fr\"} 0",
            "deskgate_outbox_deliveries_total{outcome=\"sent\"} 3",
            "deskgate_sla_warnings_total 1",
            "deskgate_sla_breaches_total 2",
            "deskgate_broadcast_recipients{notice=\"MNT-1/20300101T000000Z/announcement/0\"} 1200",
            "deskgate_broadcast_recipients_done{notice=\"MNT-1/20300101T000000Z/announcement/0\"} 500",
            "deskgate_outbox_queued 4",
            "deskgate_outbox_oldest_queued_age_seconds 90",
            "deskgate_store_size_bytes 123456",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn a_finished_broadcast_is_listed_for_an_hour() {
        let m = metrics("");
        let done = at("2030-01-01T10:00:00Z");
        m.broadcast_progress("INC-1/opened/0", 10, 10, Some(done));
        assert_eq!(m.broadcasts(done + Duration::minutes(59)).len(), 1);
        assert!(m.broadcasts(done + Duration::minutes(61)).is_empty());
    }

    #[test]
    fn a_desk_is_ready_within_its_intervals_and_while_idle() {
        let m = metrics("[metrics]\nready_within_intervals = 2\n");
        let start = m.started;
        let store = Ok(StoreGauges::default());
        // A fresh start gives every desk its window: the IMAP desk 2 × 60 s, the Maildir desk
        // 2 × 1 s raised to the 10 s floor.
        assert_eq!(
            readiness(&m, &store, start + Duration::seconds(10)),
            Vec::<String>::new()
        );
        let reasons = readiness(&m, &store, start + Duration::seconds(11));
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert!(
            reasons[0].starts_with(
                "desk fr: no successful fetch since the start 11 s ago (allowed 10 s)"
            ),
            "{reasons:?}"
        );
        let fr = m.desk("fr").expect("desk");
        fr.fetch_succeeded(start + Duration::seconds(11));
        let nl = m.desk("nl").expect("desk");
        nl.fetch_failed("connection refused");
        let later = start + Duration::seconds(121);
        let reasons = readiness(&m, &store, later);
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert_eq!(
            reasons[0],
            "desk nl: no successful fetch since the start 121 s ago (allowed 120 s); last error: connection refused"
        );
        nl.set_idle(true);
        fr.fetch_succeeded(later);
        assert_eq!(readiness(&m, &store, later), Vec::<String>::new());
    }

    #[test]
    fn a_huge_poll_interval_makes_a_long_window_not_a_panic() {
        let m = metrics("").desks()[0].interval;
        assert_eq!(m, Duration::seconds(60));
        let text = "[store]\npath = \"x\"\n[smtp]\nurl = \"file:///tmp/x\"\n\
             [[desk]]\nname = \"nl\"\naddress = \"desk.nl@example.net\"\nlanguage = \"nl\"\n\
             [desk.imap]\nurl = \"imap://127.0.0.1:1\"\nuser = \"nl\"\npassword = \"x\"\n\
             poll_interval_secs = 9223372036854775807\n\
             [metrics]\nready_within_intervals = 1000\n";
        let c = Config::parse(text, Path::new("cfg.toml")).expect("parses");
        let m = Metrics::from_config(&c, at("2030-01-01T00:00:00Z"));
        let window = m.desks()[0].ready_window(m.ready_within_intervals);
        assert_eq!(window, Duration::seconds(366 * 24 * 3600) * 1000);
        assert_eq!(
            readiness(&m, &Ok(StoreGauges::default()), m.started),
            Vec::<String>::new()
        );
    }

    #[test]
    fn the_store_and_smtp_are_named_when_they_fail() {
        let m = metrics("");
        let now = m.started;
        m.smtp_checked(now, Err("connection refused".into()));
        let reasons = readiness(&m, &Err("sled: I/O error".into()), now);
        assert_eq!(
            reasons,
            ["store: sled: I/O error", "smtp: connection refused"]
        );
        m.smtp_checked(now, Ok(()));
        assert_eq!(
            readiness(&m, &Ok(StoreGauges::default()), now),
            Vec::<String>::new()
        );
    }

    #[test]
    fn the_config_keys_are_checked() {
        let text = "[store]\npath = \"x\"\n[smtp]\nurl = \"file:///tmp/x\"\n\
             [[desk]]\nname = \"nl\"\naddress = \"desk.nl@example.net\"\nlanguage = \"nl\"\n\
             [desk.maildir]\npath = \"m\"\n\
             [status]\nlisten = \"127.0.0.1:9464\"\n\
             [metrics]\nlisten = \"127.0.0.1:9464\"\nready_within_intervals = 0\n";
        let mut c = Config::parse(text, Path::new("cfg.toml")).expect("parses");
        c.source = "cfg.toml".into();
        let all = c.validate().join("\n");
        assert!(
            all.contains("cfg.toml: metrics.listen: 127.0.0.1:9464 is status.listen too"),
            "{all}"
        );
        assert!(
            all.contains("cfg.toml: metrics.ready_within_intervals"),
            "{all}"
        );
        let mut c = Config::parse(
            &text
                .replace("[status]\nlisten = \"127.0.0.1:9464\"\n", "")
                .replace("127.0.0.1:9464", "localhost"),
            Path::new("cfg.toml"),
        )
        .expect("parses");
        c.source = "cfg.toml".into();
        assert!(c
            .validate()
            .join("\n")
            .contains("cfg.toml: metrics.listen: \"localhost\""));
    }
}
