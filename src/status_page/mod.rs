//! The public status page: current incidents and ongoing and upcoming maintenance, served by
//! the daemon over HTTP on a configured local address (a reverse proxy adds TLS in front).
//!
//! Four routes show one [`view::Board`]: `/` (HTML in the reader's language), `/status.json`,
//! `/feed.atom` (Atom 1.0) and `/maintenance.ics` (an iCalendar feed of BCOP events). Each
//! request asks the daemon for a fresh [`Snapshot`] (read from the store off the async
//! workers), decides what to show with the pure functions of [`view`], and writes it with
//! [`render`]. Nothing is cached, and every answer says `Cache-Control: no-cache`.
//!
//! axum does the HTTP (routing, HEAD, graceful shutdown on hyper). Shutdown follows the admin
//! endpoint: when the daemon's `watch` channel says stop, the server stops accepting, lets
//! the requests in hand finish, and returns — after [`SHUTDOWN_GRACE`] at the latest, so a
//! client that stalls mid-request cannot hold the daemon up.
//!
//! Owns: the public pages and their HTTP server. Part of the interface: may import the core and
//! `config` (the daemon hands it the board to show); the pipeline never imports it.

pub mod render;
pub mod strings;
pub mod view;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::extract::{Query, State};
use axum::http::header::{
    ACCEPT_LANGUAGE, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, VARY,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::core::broadcasts::maintenance::{Impact, Maintenance};
pub use crate::core::lang::Lang;

/// How long requests in hand may take to finish once the daemon stops.
pub const SHUTDOWN_GRACE: StdDuration = StdDuration::from_secs(5);

/// What the page shows, as the daemon reads it from the store for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The instant the page is drawn for: what is current, ongoing and upcoming is decided
    /// against it.
    pub now: DateTime<Utc>,
    /// Every maintenance the store holds; the page picks the ongoing and upcoming ones.
    pub maintenances: Vec<Maintenance>,
    /// Incidents open or recently resolved (older ones may be passed too; they are not shown).
    pub incidents: Vec<IncidentItem>,
}

/// An incident as the page shows it (kept apart from the incident model, which may change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentItem {
    pub id: String,
    pub title: String,
    pub impact: Impact,
    /// `investigating`, `identified`, `monitoring` or `resolved`.
    pub status: String,
    pub sites: Vec<String>,
    pub services: Vec<String>,
    pub opened: DateTime<Utc>,
    /// When it was resolved; an incident is resolved exactly when this is set.
    pub resolved: Option<DateTime<Utc>>,
    /// In order, oldest first: when, the status then, and the message.
    pub updates: Vec<(DateTime<Utc>, String, String)>,
}

impl From<&crate::core::broadcasts::incident::Incident> for IncidentItem {
    fn from(i: &crate::core::broadcasts::incident::Incident) -> IncidentItem {
        IncidentItem {
            id: i.id().to_string(),
            title: i.title().to_string(),
            impact: i.impact(),
            status: i.status().to_string(),
            sites: i.sites().to_vec(),
            services: i.services().to_vec(),
            opened: i.opened(),
            resolved: i.resolved(),
            updates: i
                .updates()
                .iter()
                .map(|u| (u.at, u.status.to_string(), u.message.clone()))
                .collect(),
        }
    }
}

/// How the daemon hands a snapshot over. It is called on a blocking thread, so it may read the
/// store; an error is logged and the reader gets a 503.
pub type SnapshotSource = Arc<dyn Fn() -> Result<Snapshot, String> + Send + Sync>;

/// The page's settings, resolved from the `[status]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusPage {
    /// The configured title; when absent each language says "Service status" its own way.
    pub title: Option<String>,
    /// The zone times are shown in.
    pub tz: Tz,
    /// The languages offered, the first being the default; never empty.
    pub languages: Vec<Lang>,
    /// How far ahead upcoming maintenance is shown.
    pub horizon: Duration,
    /// The provider's domain: the iCalendar UIDs' and `X-MAINTNOTE-PROVIDER`, and the
    /// authority of the Atom `tag:` ids.
    pub provider: String,
    /// The calendar events' ORGANIZER, which BCOP readers expect.
    pub organizer: Option<Contact>,
}

/// A name and an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub name: Option<String>,
    pub email: String,
}

impl StatusPage {
    /// The settings from a validated config: `[status]` keys, with the defaults documented in
    /// `config/deskgate.example.toml` (zone `general.timezone`, languages those of the desks,
    /// provider and organizer those of `[broadcast]`).
    pub fn from_config(config: &Config) -> Result<StatusPage, String> {
        let status = &config.status;
        let zone = status
            .timezone
            .as_deref()
            .unwrap_or(&config.general.timezone);
        let tz: Tz = zone
            .parse()
            .map_err(|_| format!("status.timezone: {zone:?} is not a known time zone"))?;
        let languages = match &status.languages {
            Some(codes) => codes
                .iter()
                .map(|c| {
                    Lang::parse(c).ok_or_else(|| {
                        format!("status.languages: the status page does not speak {c:?}")
                    })
                })
                .collect::<Result<Vec<Lang>, String>>()?,
            None => config
                .desks
                .iter()
                .filter_map(|d| Lang::parse(&d.language))
                .collect(),
        };
        let mut offered: Vec<Lang> = Vec::new();
        for l in languages {
            if !offered.contains(&l) {
                offered.push(l);
            }
        }
        if offered.is_empty() {
            offered.push(Lang::En);
        }
        Ok(StatusPage {
            title: status.title.clone(),
            tz,
            languages: offered,
            horizon: Duration::days(i64::from(status.horizon_days)),
            // The same provider and organiser as the notices' calendar parts.
            provider: config.provider_domain(),
            organizer: config.broadcast_desk().map(|d| Contact {
                name: Some(
                    config
                        .broadcast
                        .organizer_name
                        .clone()
                        .unwrap_or_else(|| d.display_name()),
                ),
                email: d.address.clone(),
            }),
        })
    }
}

/// What every handler shares.
struct App {
    page: StatusPage,
    snapshot: SnapshotSource,
}

/// Serves the status page on `listener` until `stop` turns true (or its sender is dropped).
pub async fn serve(
    listener: TcpListener,
    page: StatusPage,
    snapshot: SnapshotSource,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "status page listening");
    let app = router(Arc::new(App { page, snapshot }));
    let server = axum::serve(listener, app).with_graceful_shutdown(stopped(stop.clone()));
    let deadline = async {
        stopped(stop).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        served = server => served?,
        () = deadline => tracing::warn!(%addr, "status page: requests still open after the grace period; leaving them"),
    }
    tracing::info!(%addr, "status page stopped");
    Ok(())
}

/// Resolves when the daemon says stop, or can no longer say anything.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(html))
        .route("/status.json", get(json))
        .route("/feed.atom", get(atom))
        .route("/maintenance.ics", get(ics))
        .fallback(not_found)
        .with_state(app)
}

const HTML: &str = "text/html; charset=utf-8";
const JSON: &str = "application/json";
const ATOM: &str = "application/atom+xml";
const ICS: &str = "text/calendar; charset=utf-8";

/// The query string as pairs: a repeated or unknown parameter is no reason to refuse the page.
type Params = Query<Vec<(String, String)>>;

async fn html(State(app): State<Arc<App>>, Query(params): Params, headers: HeaderMap) -> Response {
    let lang = language(&app.page, &params, &headers);
    respond(&app, HTML, true, move |page, board| {
        render::html(page, board, lang)
    })
    .await
}

async fn json(State(app): State<Arc<App>>) -> Response {
    respond(&app, JSON, false, render::json).await
}

async fn atom(State(app): State<Arc<App>>, Query(params): Params, headers: HeaderMap) -> Response {
    let lang = language(&app.page, &params, &headers);
    respond(&app, ATOM, true, move |page, board| {
        render::atom(page, board, lang)
    })
    .await
}

async fn ics(State(app): State<Arc<App>>) -> Response {
    respond(&app, ICS, false, render::ics).await
}

async fn not_found() -> Response {
    with_headers(
        StatusCode::NOT_FOUND,
        "text/plain; charset=utf-8",
        false,
        "not found\n".into(),
    )
}

fn language(page: &StatusPage, params: &[(String, String)], headers: &HeaderMap) -> Lang {
    let query = params
        .iter()
        .find(|(k, _)| k == "lang")
        .map(|(_, v)| v.as_str());
    let accept = headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    view::choose_language(query, accept, &page.languages)
}

/// Takes a snapshot (on a blocking thread: the daemon's reads the store), builds the board and
/// renders it with `draw`.
async fn respond(
    app: &Arc<App>,
    content_type: &'static str,
    varies_by_language: bool,
    draw: impl FnOnce(&StatusPage, &view::Board<'_>) -> String + Send + 'static,
) -> Response {
    let source = app.snapshot.clone();
    let snapshot = match tokio::task::spawn_blocking(move || source()).await {
        Ok(Ok(snapshot)) => snapshot,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "status page: no snapshot");
            return unavailable();
        }
        Err(e) => {
            tracing::error!(error = %e, "status page: the snapshot task failed");
            return unavailable();
        }
    };
    let board = view::board(&snapshot, app.page.horizon);
    let body = draw(&app.page, &board);
    with_headers(StatusCode::OK, content_type, varies_by_language, body)
}

fn unavailable() -> Response {
    with_headers(
        StatusCode::SERVICE_UNAVAILABLE,
        "text/plain; charset=utf-8",
        false,
        "status temporarily unavailable; try again shortly\n".into(),
    )
}

fn with_headers(
    status: StatusCode,
    content_type: &'static str,
    varies_by_language: bool,
    body: String,
) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // The page runs no script and loads nothing: say so, so an escaping slip cannot run one.
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    if varies_by_language {
        headers.insert(VARY, HeaderValue::from_static("Accept-Language"));
    }
    response
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn config(status: &str) -> Config {
        let text = format!(
            "[store]\npath = \"x\"\n[smtp]\nurl = \"file:///tmp/x\"\n\
             [[desk]]\nname = \"pt\"\naddress = \"desk.pt@example.net\"\nlanguage = \"pt\"\n\
             [desk.maildir]\npath = \"m\"\n\
             [[desk]]\nname = \"nl\"\naddress = \"desk.nl@example.net\"\nlanguage = \"nl\"\n\
             [desk.maildir]\npath = \"m2\"\n\
             [[desk]]\nname = \"pt2\"\naddress = \"desk.pt2@example.net\"\nlanguage = \"pt\"\n\
             [desk.maildir]\npath = \"m3\"\n{status}"
        );
        let mut c = Config::parse(&text, Path::new("cfg.toml")).expect("parses");
        c.source = "cfg.toml".into();
        c
    }

    #[test]
    fn defaults_come_from_the_desks_and_general() {
        let c = config("");
        assert_eq!(c.status.listen_addr(), Ok(None));
        assert_eq!(c.validate(), Vec::<String>::new());
        let page = StatusPage::from_config(&c).expect("page");
        assert_eq!(page.languages, [Lang::Pt, Lang::Nl]);
        assert_eq!(page.tz, chrono_tz::Europe::Amsterdam);
        assert_eq!(page.horizon, Duration::days(30));
        assert_eq!(page.provider, "example.net");
        assert_eq!(page.title, None);
        assert_eq!(
            page.organizer.map(|o| o.email).as_deref(),
            Some("desk.pt@example.net")
        );
    }

    #[test]
    fn configured_keys_are_taken() {
        let c = config(
            "[status]\nlisten = \"127.0.0.1:8080\"\ntitle = \"Example status\"\n\
             timezone = \"Europe/Paris\"\nlanguages = [\"fr\", \"en\", \"fr\"]\nhorizon_days = 14\n",
        );
        assert_eq!(c.validate(), Vec::<String>::new());
        assert_eq!(
            c.status.listen_addr(),
            Ok(Some("127.0.0.1:8080".parse().expect("addr")))
        );
        let page = StatusPage::from_config(&c).expect("page");
        assert_eq!(page.languages, [Lang::Fr, Lang::En]);
        assert_eq!(page.tz, chrono_tz::Europe::Paris);
        assert_eq!(page.horizon, Duration::days(14));
        assert_eq!(page.title.as_deref(), Some("Example status"));
    }

    #[test]
    fn every_bad_key_is_named_with_the_file() {
        let c = config(
            "[status]\nlisten = \"localhost\"\ntitle = \" \"\ntimezone = \"Mars/Olympus\"\n\
             languages = [\"fr\", \"pl\"]\nhorizon_days = 0\n",
        );
        let all = c.validate().join("\n");
        for key in [
            "cfg.toml: status.listen",
            "cfg.toml: status.title",
            "cfg.toml: status.timezone",
            "cfg.toml: status.languages: \"pl\"",
            "cfg.toml: status.horizon_days",
        ] {
            assert!(all.contains(key), "{key} missing from:\n{all}");
        }
        let c = config("[status]\nlanguages = []\n");
        assert!(c.validate().join("\n").contains("status.languages"));
        let err = Config::parse(
            "[store]\npath = \"x\"\n[smtp]\nurl = \"file:///x\"\n[status]\nlisten_on = 1\n",
            Path::new("c.toml"),
        )
        .expect_err("unknown key");
        assert!(err.to_string().contains("listen_on"), "{err}");
    }
}
