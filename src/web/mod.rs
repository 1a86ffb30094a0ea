//! The box's local web server: the status page, its JSON API and live
//! feed, the front-panel mirror, and control.
//!
//! - `GET /` — the status page: now/next and the countdown, the panel's
//!   mirror, the lamps and alarms, live from `/api/events`; a login form,
//!   and LIVE/AUTO/SKIP (and the simulated buttons) once logged in; on a
//!   box with an archive, Listen again (a range played in the browser).
//! - `GET /api/status` — the status snapshot as JSON, with `age_ms`: how
//!   long ago (real time) the director took it, `null` before the first.
//! - `GET /api/events` — Server-Sent Events: `status` (the same JSON) as
//!   it changes, `panel` when the display's frame changes ([`events`]).
//! - `GET /panel.png` — the front-panel display as it shows now.
//! - `GET /api/log?since=T&until=T` — the as-run log as JSON (the same
//!   format as `onair log --json`); `onair log` uses it while the box runs.
//!   Times take the forms of `onair log --since`; an empty one is not given.
//! - `GET /api/session` — whether this page is logged in, whether a
//!   password is set, whether the box has simulated buttons.
//! - `POST /login` (form `password`), `POST /logout` — the session cookie.
//! - `POST /api/live|auto|skip`, `POST /api/press/{button}` — control
//!   ([`control`]), for a logged-in page or a bearer token ([`access`]).
//!
//! - the archive, read-only: listings, HLS playlists and segments, cuts,
//!   waveforms and coverage ([`archive`]).
//! - `GET /api/jobs`, `GET /api/jobs/{id}` — the job queue as JSON
//!   ([`crate::jobs::api`]).
//! - `GET /metrics` — Prometheus: the box's counters and the archive's
//!   coverage ([`metrics`]).
//! - `GET /assets/…` — hls.js for the page's listen-again player
//!   ([`assets`]).
//!
//! Reading needs no login unless `web.read_requires_login`. Every POST
//! passes tower-http's cross-site guard first (`Sec-Fetch-Site` /
//! `Origin`), so a page elsewhere cannot use a logged-in browser's cookie.
//! The same commands reach the box without a secret over its control
//! socket ([`local`]).

pub mod access;
pub mod archive;
pub mod assets;
pub mod control;
pub mod events;
pub mod local;
pub mod metrics;
pub mod sessions;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Query, Request, State as Extract};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use chrono_tz::Tz;
use serde::Deserialize;
use tokio::sync::watch;
use tower_http::csrf::CsrfLayer;
use tracing::{error, warn};

use crate::asrun::{self, AsRunReader};
use crate::clock::Clock;
use crate::director::Controls;
use crate::hw::SimButtons;
use crate::panel::Mirror;
use crate::status::{Status, StatusAnswer};
use crate::when;

pub use access::Access;

/// The largest request body the box reads: a login form is a few dozen bytes.
const MAX_BODY: usize = 16 * 1024;

#[derive(Clone)]
pub struct State {
    pub status: watch::Receiver<Status>,
    pub log: Arc<dyn AsRunReader>,
    pub timezone: Tz,
    /// The station clock: relative times (`-2h`, `today`) count from it.
    pub clock: Clock,
    /// The front-panel display's frames.
    pub panel: Mirror,
    /// Where commands go.
    pub controls: Controls,
    /// The simulated front-panel buttons, on a box without real ones.
    pub buttons: Option<SimButtons>,
    pub access: Arc<Access>,
    /// The archive, on a box that keeps one.
    pub archive: Option<archive::ArchiveView>,
}

pub fn router(state: State) -> Router {
    router_with_jobs(state, None)
}

/// [`router`], with the job queue's `/api/jobs` (read-only) and its counts
/// on `/metrics` when the box runs one.
pub fn router_with_jobs(state: State, jobs: Option<crate::jobs::Jobs>) -> Router {
    let access = state.access.clone();
    let metrics_jobs = jobs.clone();
    let metrics = move |state, headers| metrics::metrics_with_jobs(state, headers, metrics_jobs);
    let router = Router::new()
        .route("/", get(page))
        .route("/api/status", get(status))
        .route("/api/log", get(log))
        .route("/api/events", get(events::events))
        .route("/panel.png", get(events::panel_png))
        .route("/api/session", get(control::session))
        .route("/login", post(control::login))
        .route("/logout", post(control::logout))
        .route("/api/live", post(control::live))
        .route("/api/auto", post(control::auto))
        .route("/api/skip", post(control::skip))
        .route("/api/press/{button}", post(control::press))
        .route("/metrics", get(metrics))
        .merge(archive::routes())
        .merge(assets::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(limit_body))
        .layer(CsrfLayer::new().with_rejection_response(cross_site))
        .with_state(state);
    match jobs {
        Some(jobs) => router.merge(crate::jobs::api::read_routes(jobs, access)),
        None => router,
    }
}

pub async fn serve(listener: tokio::net::TcpListener, state: State) {
    serve_with_jobs(listener, state, None).await
}

/// [`serve`], with `/api/jobs` (read-only) when the box runs a job queue.
pub async fn serve_with_jobs(
    listener: tokio::net::TcpListener,
    state: State,
    jobs: Option<crate::jobs::Jobs>,
) {
    let service = router_with_jobs(state, jobs).into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) = axum::serve(listener, service).await {
        error!("web server stopped: {e}");
    }
}

/// A cross-site POST (a page elsewhere using this browser's cookie) is
/// refused before anything else looks at it.
fn cross_site(refused: tower_http::csrf::ProtectionError) -> Response {
    warn!("cross-site request refused: {refused}");
    access::error(
        StatusCode::FORBIDDEN,
        "cross-site request refused",
        Some(
            "control the box from its own page, or from a script with a bearer token (no \
             Origin or Sec-Fetch-Site header)"
                .into(),
        ),
    )
}

/// Refuses a body announced as larger than [`MAX_BODY`] at once, whether
/// or not the handler would read it.
async fn limit_body(request: Request, next: Next) -> Response {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_BODY as u64) {
        return control::too_large();
    }
    next.run(request).await
}

async fn page() -> Html<&'static str> {
    Html(include_str!("page.html"))
}

/// The status snapshot as `/api/status` and the live feed send it.
pub fn status_json(state: &State) -> Result<String, String> {
    let status = state.status.borrow().clone();
    let answer = StatusAnswer {
        age_ms: status
            .published
            .map(|at| at.elapsed().as_millis().try_into().unwrap_or(u64::MAX)),
        status,
    };
    serde_json::to_string(&answer).map_err(|e| e.to_string())
}

async fn status(Extract(state): Extract<State>, headers: HeaderMap) -> Response {
    if let Err(refusal) = state.access.reader(&headers) {
        return refusal.into_response();
    }
    json(status_json(&state))
}

#[derive(Deserialize)]
pub(crate) struct LogQuery {
    since: Option<String>,
    until: Option<String>,
}

async fn log(
    Extract(state): Extract<State>,
    headers: HeaderMap,
    query: Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(refusal) = state.access.reader(&headers) {
        return refusal.into_response();
    }
    log_answer(&state, query).await
}

/// The as-run log for `/api/log`, once the asker may read it.
pub(crate) async fn log_answer(
    state: &State,
    query: Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return bad_request("expected ?since=TIME&until=TIME (both optional)".into());
    };
    let tz = state.timezone;
    let now = state.clock.now();
    let parse = |name: &str, value: &Option<String>| match value {
        None => Ok(None),
        // A form or script that leaves a field empty means "not given".
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => when::parse_time_arg(v, tz, now)
            .map(Some)
            .map_err(|e| format!("{name}={v:?}: {e}")),
    };
    let (since, until) = match (parse("since", &query.since), parse("until", &query.until)) {
        (Ok(s), Ok(u)) => (s, u),
        (Err(e), _) | (_, Err(e)) => return bad_request(e),
    };
    let log = state.log.clone();
    let entries = tokio::task::spawn_blocking(move || log.range(since, until)).await;
    match entries {
        Ok(Ok(entries)) => json(Ok(asrun::to_json(&entries, tz))),
        Ok(Err(e)) => json(Err(e.to_string())),
        Err(e) => json(Err(e.to_string())),
    }
}

pub(crate) fn json(body: Result<String, String>) -> Response {
    match body {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, message).into_response()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod status_age {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::asrun::SledReader;

    async fn get_status(address: std::net::SocketAddr) -> serde_json::Value {
        let body = tokio::task::spawn_blocking(move || {
            ureq::get(format!("http://{address}/api/status"))
                .call()
                .unwrap()
                .body_mut()
                .read_to_string()
                .unwrap()
        })
        .await
        .unwrap();
        serde_json::from_str(&body).unwrap()
    }

    #[tokio::test]
    async fn the_status_says_how_old_the_playout_snapshot_is() {
        let dir = std::env::temp_dir().join(format!("onair-web-{}", std::process::id()));
        let log: Arc<dyn AsRunReader> = Arc::new(SledReader::open(&dir).unwrap());
        let (tx, rx) = watch::channel(Status::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (_panel, panel) = watch::channel(crate::panel::Frame::default());
        let (controls, _commands) = crate::director::channel();
        tokio::spawn(serve(
            listener,
            State {
                status: rx,
                log,
                timezone: chrono_tz::Europe::London,
                clock: crate::clock::Clock::Wall,
                panel: Mirror::of(panel),
                controls,
                buttons: None,
                access: Arc::new(Access::new(&dir, Duration::from_secs(60), false)),
                archive: None,
            },
        ));

        // Before the director's first snapshot: no age, so a page can say
        // the box is starting rather than that its playout has stopped.
        let answer = get_status(address).await;
        assert!(answer["age_ms"].is_null(), "{answer}");
        assert_eq!(answer["mode"], "silent");

        // A snapshot the director took 5 s ago and never replaced.
        let taken = Instant::now().checked_sub(Duration::from_secs(5)).unwrap();
        tx.send_replace(Status {
            station: "Test FM".into(),
            published: Some(taken),
            ..Status::default()
        });
        let answer = get_status(address).await;
        let age = answer["age_ms"].as_u64().unwrap();
        assert!((5000..6000).contains(&age), "age_ms {age}");
        // The snapshot's own fields stay at the top level, beside the age.
        assert_eq!(answer["station"], "Test FM");
        assert!(answer.get("published").is_none(), "{answer}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
