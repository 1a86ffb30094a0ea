//! The archive over HTTP, read-only, as wubloader's restreamer serves it
//! (`../archive` is the storage side):
//!
//! - `GET /files`, `/files/{channel}`, `/files/{channel}/{quality}`: the
//!   folders, sorted, as a JSON list (a missing one lists nothing);
//!   `/files/{channel}/{quality}/{hour}` its visible segments
//!   (`?tombstones=true` adds the tombstones' own names).
//! - `GET /cut/{channel}/{quality}.mp3|.wav?start=&end=&allow_holes=`: a
//!   range as one file ([`cut`]).
//! - `GET /playlist/…` and `/segments/…`: the archive as HLS ([`hls`]).
//!
//! Every path part is checked before it touches the disk: one that begins
//! with `.` (hidden files, `..`) is refused with 403, and one holding a
//! slash, a backslash or a NUL byte (however it was encoded) with 404, so
//! no request reaches outside the archive's folder. Times are RFC 3339
//! with an offset, or the forms `onair log --since` takes; a bad one is
//! 400 with what is wrong. Every answer carries CORS `*`, so a station's
//! own tools elsewhere can read the archive. Reading needs a login only
//! when the status page does.

pub mod cut;
pub mod pictures;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State as Extract};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tower_http::cors::{Any, CorsLayer};

use super::State;
use super::access::{Refusal, error};
use crate::archive::best::BestCache;
use crate::archive::listing;
use crate::when;

pub mod hls;

/// Why an archive request is refused.
#[derive(Debug)]
pub enum Refused {
    /// The asker may not read.
    Access(Refusal),
    /// The request is wrong, or names nothing: its status and what is wrong.
    Problem(StatusCode, String),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Access(refusal) => refusal.into_response(),
            Refused::Problem(status, message) => error(status, &message, None),
        }
    }
}

/// What the web server knows of the archive.
#[derive(Clone)]
pub struct ArchiveView {
    /// The archive's root folder: `<root>/<channel>/<quality>/<hour>/`.
    pub root: PathBuf,
    pub best: Arc<BestCache>,
    /// The planned length of a segment: how far behind real time the
    /// newest segment may be.
    pub segment_seconds: u32,
}

pub fn routes() -> Router<State> {
    Router::new()
        .route("/files", get(channels))
        .route("/files/{channel}", get(qualities))
        .route("/files/{channel}/{quality}", get(hours))
        .route("/files/{channel}/{quality}/{hour}", get(segments))
        .route("/cut/{channel}/{file}", get(cut::cut))
        .merge(hls::routes())
        .merge(pictures::routes())
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods([Method::GET, Method::HEAD])
                .allow_headers(Any)
                .max_age(std::time::Duration::from_secs(86_400)),
        )
}

/// The archive, once the asker may read it; 404 on a box without one.
pub fn view<'a>(state: &'a State, headers: &HeaderMap) -> Result<&'a ArchiveView, Refused> {
    state.access.reader(headers).map_err(Refused::Access)?;
    state.archive.as_ref().ok_or_else(|| {
        Refused::Problem(
            StatusCode::NOT_FOUND,
            "this box keeps no archive (its config has no [archive] section)".into(),
        )
    })
}

/// A path part (channel, quality, hour, file), refused unless it names
/// something inside its folder.
pub fn part<'a>(what: &str, value: &'a str) -> Result<&'a str, Refused> {
    if value.starts_with('.') {
        return Err(Refused::Problem(
            StatusCode::FORBIDDEN,
            format!("bad {what}: may not start with a period"),
        ));
    }
    if value.is_empty() || value.contains(['/', '\\', '\0']) {
        return Err(Refused::Problem(
            StatusCode::NOT_FOUND,
            format!("no such {what}"),
        ));
    }
    Ok(value)
}

/// A time parameter: RFC 3339 with an offset, or the forms `onair log
/// --since` takes, in the station's zone. A `+` offset sent unencoded in a
/// query string arrives as a space, and is read as the `+` it was.
pub fn time(state: &State, name: &str, value: &str) -> Result<DateTime<Utc>, Refused> {
    let repaired = match value.rsplit_once(' ') {
        Some((head, offset))
            if head.contains('T') && offset.len() == 5 && offset.as_bytes()[2] == b':' =>
        {
            format!("{head}+{offset}")
        }
        _ => value.to_string(),
    };
    when::parse_time_arg(&repaired, state.timezone, state.clock.now())
        .map_err(|e| Refused::Problem(StatusCode::BAD_REQUEST, format!("{name}={value:?}: {e}")))
}

/// `path` as it really is, refused unless it stays inside the archive
/// (a symlink could lead anywhere); not found if it is not there.
pub fn inside(
    root: &std::path::Path,
    path: &std::path::Path,
    what: &str,
) -> Result<PathBuf, Refused> {
    let missing = || Refused::Problem(StatusCode::NOT_FOUND, format!("no such {what}"));
    let root = root.canonicalize().map_err(|_| missing())?;
    let real = path.canonicalize().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => missing(),
        _ => Refused::Problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read the archive: {e}"),
        ),
    })?;
    if !real.starts_with(&root) {
        tracing::warn!(
            "archive: {} leads out of the archive (to {}); refused",
            path.display(),
            real.display()
        );
        return Err(Refused::Problem(
            StatusCode::FORBIDDEN,
            format!("{what} leads out of the archive"),
        ));
    }
    Ok(real)
}

/// Runs the disk's part of an answer on a blocking thread.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Refused> + Send + 'static,
) -> Result<T, Refused> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(Refused::Problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the archive's reader failed: {e}"),
        ))
    })
}

pub fn unreadable(e: std::io::Error) -> Refused {
    Refused::Problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("cannot read the archive: {e}"),
    )
}

/// A folder's listing, when it is inside the archive; a missing one
/// lists nothing.
fn folders(root: &std::path::Path, dir: std::path::PathBuf) -> Response {
    let dir = match inside(root, &dir, "folder") {
        Ok(dir) => dir,
        Err(Refused::Problem(StatusCode::NOT_FOUND, _)) => {
            return axum::Json([0u8; 0]).into_response();
        }
        Err(refused) => return refused.into_response(),
    };
    match listing::folders(&dir) {
        Ok(names) => axum::Json(names).into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot read the archive: {e}"),
            None,
        ),
    }
}

async fn channels(Extract(state): Extract<State>, headers: HeaderMap) -> Response {
    match view(&state, &headers) {
        Ok(view) => folders(&view.root, view.root.clone()),
        Err(refused) => refused.into_response(),
    }
}

async fn qualities(
    Extract(state): Extract<State>,
    headers: HeaderMap,
    Path(channel): Path<String>,
) -> Response {
    let dir = view(&state, &headers)
        .and_then(|view| Ok((&view.root, view.root.join(part("channel", &channel)?))));
    match dir {
        Ok((root, dir)) => folders(root, dir),
        Err(refused) => refused.into_response(),
    }
}

async fn hours(
    Extract(state): Extract<State>,
    headers: HeaderMap,
    Path((channel, quality)): Path<(String, String)>,
) -> Response {
    let dir = view(&state, &headers).and_then(|view| {
        let dir = view
            .root
            .join(part("channel", &channel)?)
            .join(part("quality", &quality)?);
        Ok((&view.root, dir))
    });
    match dir {
        Ok((root, dir)) => folders(root, dir),
        Err(refused) => refused.into_response(),
    }
}

#[derive(Deserialize)]
struct TombstonesQuery {
    tombstones: Option<String>,
}

async fn segments(
    Extract(state): Extract<State>,
    headers: HeaderMap,
    Path((channel, quality, hour)): Path<(String, String, String)>,
    query: Result<Query<TombstonesQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let with_tombstones = match query.ok().and_then(|Query(q)| q.tombstones) {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("tombstones={v:?}: must be one of: true, false"),
                None,
            );
        }
    };
    let found = view(&state, &headers).and_then(|view| {
        let dir = view
            .root
            .join(part("channel", &channel)?)
            .join(part("quality", &quality)?);
        let hour = part("hour", &hour)?;
        match inside(&view.root, &dir.join(hour), "hour") {
            Ok(_) | Err(Refused::Problem(StatusCode::NOT_FOUND, _)) => {}
            Err(refused) => return Err(refused),
        }
        listing::hour(&dir, hour).map_err(|e| {
            let status = if e.kind() == std::io::ErrorKind::InvalidInput {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            Refused::Problem(status, format!("{hour:?}: {e}"))
        })
    });
    match found {
        Ok(hour) => {
            let mut names: Vec<String> = hour.segments.into_iter().map(|s| s.file).collect();
            if with_tombstones {
                names.extend(hour.tombstones);
                names.sort_unstable();
            }
            axum::Json(names).into_response()
        }
        Err(refused) => refused.into_response(),
    }
}
