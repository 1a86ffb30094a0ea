//! The box's local web server: the status page and its JSON API.
//!
//! - `GET /` — the status page (now playing, next, recent as-run log).
//! - `GET /api/status` — the status snapshot as JSON, with `age_ms`: how
//!   long ago (real time) the director took it, `null` before the first.
//! - `GET /api/log?since=T&until=T` — the as-run log as JSON (the same
//!   format as `onair log --json`); `onair log` uses it while the box runs.
//!   Times take the forms of `onair log --since`; an empty one is not given.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State as Extract};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono_tz::Tz;
use serde::Deserialize;
use tokio::sync::watch;
use tracing::error;

use crate::asrun::{self, AsRunReader};
use crate::clock::Clock;
use crate::status::{Status, StatusAnswer};
use crate::when;

#[derive(Clone)]
pub struct State {
    pub status: watch::Receiver<Status>,
    pub log: Arc<dyn AsRunReader>,
    pub timezone: Tz,
    /// The station clock: relative times (`-2h`, `today`) count from it.
    pub clock: Clock,
}

pub fn router(state: State) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/status", get(status))
        .route("/api/log", get(log))
        .with_state(state)
}

pub async fn serve(listener: tokio::net::TcpListener, state: State) {
    if let Err(e) = axum::serve(listener, router(state)).await {
        error!("web server stopped: {e}");
    }
}

async fn page() -> Html<&'static str> {
    Html(include_str!("page.html"))
}

async fn status(Extract(state): Extract<State>) -> Response {
    let status = state.status.borrow().clone();
    let answer = StatusAnswer {
        age_ms: status
            .published
            .map(|at| at.elapsed().as_millis().try_into().unwrap_or(u64::MAX)),
        status,
    };
    json(serde_json::to_string(&answer).map_err(|e| e.to_string()))
}

#[derive(Deserialize)]
struct LogQuery {
    since: Option<String>,
    until: Option<String>,
}

async fn log(
    Extract(state): Extract<State>,
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

fn json(body: Result<String, String>) -> Response {
    match body {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, message).into_response()
}

#[cfg(test)]
mod tests {
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
        tokio::spawn(serve(
            listener,
            State {
                status: rx,
                log,
                timezone: chrono_tz::Europe::London,
                clock: crate::clock::Clock::Wall,
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
