//! The archive as HLS, for a player (hls.js, Safari, ffmpeg):
//!
//! - `GET /playlist/{channel}.m3u8?start=&end=`: the master playlist, one
//!   variant per quality that holds an hour of the range (every quality
//!   with any hour when no range is given), each with the same query;
//! - `GET /playlist/{channel}/{quality}.m3u8?start=&end=`: the media
//!   playlist of the range ([`playlist`](crate::archive::playlist)). A
//!   missing `start` is the first hour archived, a missing `end` two hours
//!   after the last, so a player asking for "everything" keeps polling at
//!   the live edge; such a range may not be longer than 12 hours (an
//!   explicit one may);
//! - `GET /segments/{channel}/{quality}/{hour}/{file}`: a segment's bytes,
//!   with byte ranges (Safari asks for them). A temporary, hidden or
//!   tombstoned file, or anything not named as a segment, is not found, and
//!   a symlink that leads out of the archive is refused.
//!
//! The disk is read on tokio's blocking threads, never on the threads
//! that answer the status page.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, RawQuery, State as Extract};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::Deserialize;

use super::{ArchiveView, Refused, blocking, inside, part, time, unreadable, view};
use crate::archive::{listing, playlist};
use crate::web::State;

/// The longest range a playlist is made for when `start` or `end` is
/// left out: wubloader's cap, so "everything" stays a bounded request.
pub const IMPLICIT_RANGE_LIMIT: TimeDelta = TimeDelta::hours(12);

/// How far past the last hour archived an implicit end reaches: the hour
/// being written and the next, so the range stays open while it airs.
const IMPLICIT_END_AFTER_LAST_HOUR: TimeDelta = TimeDelta::hours(2);

pub fn routes() -> Router<State> {
    Router::new()
        // `{channel}.m3u8` is matched whole and its suffix checked here.
        .route("/playlist/{name}", get(master))
        .route("/playlist/{channel}/{name}", get(media))
        .route("/segments/{channel}/{quality}/{hour}/{file}", get(segment))
}

#[derive(Deserialize)]
struct RangeQuery {
    start: Option<String>,
    end: Option<String>,
}

/// A range's start and end, each where given.
type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// `start` and `end` as given; an empty one is not given.
fn range(
    state: &State,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<Bounds, Refused> {
    let Ok(Query(query)) = query else {
        return Err(Refused::Problem(
            StatusCode::BAD_REQUEST,
            "expected ?start=TIME&end=TIME (both optional)".into(),
        ));
    };
    let read = |name: &str, value: Option<String>| match value {
        Some(v) if !v.trim().is_empty() => time(state, name, &v).map(Some),
        _ => Ok(None),
    };
    let (start, end) = (read("start", query.start)?, read("end", query.end)?);
    if let (Some(start), Some(end)) = (start, end) {
        after(start, end)?;
    }
    Ok((start, end))
}

/// Refuses a range that ends where or before it starts.
fn after(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<(), Refused> {
    if end <= start {
        return Err(Refused::Problem(
            StatusCode::BAD_REQUEST,
            format!(
                "end {} is not after start {}",
                end.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                start.to_rfc3339_opts(SecondsFormat::AutoSi, true)
            ),
        ));
    }
    Ok(())
}

/// `fm.m3u8` → `fm`, checked as a path part.
fn playlist_name<'a>(what: &str, name: &'a str) -> Result<&'a str, Refused> {
    let stem = part(what, name)?.strip_suffix(".m3u8").ok_or_else(|| {
        Refused::Problem(
            StatusCode::NOT_FOUND,
            format!("{name:?} is not a playlist: expected <{what}>.m3u8"),
        )
    })?;
    part(what, stem)
}

fn playlist_answer(text: String, closed: bool) -> Response {
    let mut answer = ([(header::CONTENT_TYPE, playlist::CONTENT_TYPE)], text).into_response();
    if !closed {
        // An open range grows as it airs: no cache between may keep it.
        answer
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    answer
}

async fn master(
    Extract(state): Extract<State>,
    headers: HeaderMap,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Response {
    let answer = async {
        let view = view(&state, &headers)?.clone();
        let channel = playlist_name("channel", &name)?.to_string();
        let (start, end) = range(&state, query)?;
        let qualities = blocking({
            let channel = channel.clone();
            move || {
                let found = qualities_in(&view, &channel, start, end)?;
                // A recorded stream's quality may be AAC: each says its codec.
                let dir = view.root.join(&channel);
                Ok::<_, Refused>(
                    found
                        .into_iter()
                        .map(|q| {
                            let codec = crate::recorder::quality::codec_of(&dir, &q);
                            (q, codec)
                        })
                        .collect::<Vec<_>>(),
                )
            }
        })
        .await?;
        Ok::<_, Refused>(playlist::master_of(&channel, &qualities, raw.as_deref()))
    }
    .await;
    match answer {
        // Which qualities hold the range changes as hours are written.
        Ok(text) => playlist_answer(text, false),
        Err(refused) => refused.into_response(),
    }
}

/// The qualities of a channel with an hour in `start..end` (either end
/// open when not given).
fn qualities_in(
    view: &ArchiveView,
    channel: &str,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
) -> Result<Vec<String>, Refused> {
    let dir = inside(&view.root, &view.root.join(channel), "channel")?;
    let mut found = Vec::new();
    for quality in listing::folders(&dir).map_err(unreadable)? {
        let hours = listing::hours(&dir.join(&quality)).map_err(unreadable)?;
        let overlaps = hours.iter().any(|(_, hour)| {
            start.is_none_or(|s| *hour + TimeDelta::hours(1) > s) && end.is_none_or(|e| *hour < e)
        });
        if overlaps {
            found.push(quality);
        }
    }
    if found.is_empty() {
        return Err(Refused::Problem(
            StatusCode::NOT_FOUND,
            format!("channel {channel:?} has nothing archived in that range"),
        ));
    }
    Ok(found)
}

async fn media(
    Extract(state): Extract<State>,
    headers: HeaderMap,
    Path((channel, name)): Path<(String, String)>,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Response {
    let answer = async {
        let view = view(&state, &headers)?.clone();
        let channel = part("channel", &channel)?.to_string();
        let quality = playlist_name("quality", &name)?.to_string();
        let (start, end) = range(&state, query)?;
        let now = state.clock.now();
        blocking(move || media_text(&view, &channel, &quality, start, end, now)).await
    }
    .await;
    match answer {
        Ok((text, closed)) => playlist_answer(text, closed),
        Err(refused) => refused.into_response(),
    }
}

/// The media playlist of a quality, and whether its range is over.
fn media_text(
    view: &ArchiveView,
    channel: &str,
    quality: &str,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(String, bool), Refused> {
    let dir = inside(
        &view.root,
        &view.root.join(channel).join(quality),
        "quality",
    )
    .map_err(|refused| match refused {
        Refused::Problem(StatusCode::NOT_FOUND, _) => Refused::Problem(
            StatusCode::NOT_FOUND,
            format!("channel {channel:?} has no quality {quality:?}"),
        ),
        other => other,
    })?;
    let (start, end) = match (start, end) {
        (Some(start), Some(end)) => (start, end),
        (start, end) => {
            let hours = listing::hours(&dir).map_err(unreadable)?;
            let (Some((_, first)), Some((_, last))) = (hours.first(), hours.last()) else {
                return Err(Refused::Problem(
                    StatusCode::NOT_FOUND,
                    format!("nothing is archived in {channel}/{quality} yet"),
                ));
            };
            let start = start.unwrap_or(*first);
            let end = end.unwrap_or(*last + IMPLICIT_END_AFTER_LAST_HOUR);
            after(start, end)?;
            if end - start > IMPLICIT_RANGE_LIMIT {
                return Err(Refused::Problem(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "implicit range may not be longer than 12 hours: from {} to {}; \
                         give both start and end",
                        start.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                        end.to_rfc3339_opts(SecondsFormat::AutoSi, true)
                    ),
                ));
            }
            (start, end)
        }
    };
    let pieces = view.best.range(&dir, start, end).map_err(unreadable)?;
    let closed = playlist::is_closed(end, now, view.segment_seconds);
    let of = playlist::Media {
        channel,
        quality,
        segment_seconds: view.segment_seconds,
        closed,
    };
    Ok((playlist::media(&of, &pieces), closed))
}

async fn segment(
    Extract(state): Extract<State>,
    headers: HeaderMap,
    Path((channel, quality, hour, file)): Path<(String, String, String, String)>,
) -> Response {
    let answer = async {
        let view = view(&state, &headers)?.clone();
        let quality_dir = view
            .root
            .join(part("channel", &channel)?)
            .join(part("quality", &quality)?);
        let (hour, file) = (part("hour", &hour)?.to_string(), part("file", &file)?);
        let path = quality_dir.join(&hour).join(file);
        let file = file.to_string();
        let kind = if file.ends_with(".aac") {
            "audio/aac"
        } else {
            "audio/mpeg"
        };
        blocking(move || {
            if !listing::is_visible(&quality_dir, &hour, &file) {
                return Err(Refused::Problem(
                    StatusCode::NOT_FOUND,
                    "no such segment".into(),
                ));
            }
            let real = inside(&view.root, &path, "segment")?;
            std::fs::read(real)
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => {
                        Refused::Problem(StatusCode::NOT_FOUND, "no such segment".into())
                    }
                    _ => unreadable(e),
                })
                .map(|bytes| (bytes, kind))
        })
        .await
    }
    .await;
    match answer {
        Ok((bytes, kind)) => ranged(bytes, kind, headers.get(header::RANGE)),
        Err(refused) => refused.into_response(),
    }
}

/// Which bytes of a segment of `len` bytes a `Range` header asks for.
#[derive(Debug, PartialEq)]
enum Wanted {
    Whole,
    /// First and last byte, inclusive.
    Part(u64, u64),
    /// Nothing of what was asked for is there.
    Unsatisfiable,
}

/// Reads a `Range` header. Several ranges, or one this does not read, get
/// the whole segment, as RFC 9110 lets a server do.
fn wanted(range: Option<&HeaderValue>, len: u64) -> Wanted {
    let Some(spec) = range
        .and_then(|r| r.to_str().ok())
        .and_then(|r| r.trim().strip_prefix("bytes="))
        .filter(|r| !r.contains(','))
    else {
        return Wanted::Whole;
    };
    let Some((first, last)) = spec.split_once('-') else {
        return Wanted::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let number = |text: &str| text.parse::<u64>().ok();
    match (number(first), number(last)) {
        // `-N`: the last N bytes.
        _ if first.is_empty() => match number(last) {
            Some(suffix) if suffix > 0 && len > 0 => {
                Wanted::Part(len.saturating_sub(suffix), len - 1)
            }
            Some(_) => Wanted::Unsatisfiable,
            None => Wanted::Whole,
        },
        (Some(first), _)
            if first >= len && (last.is_empty() || number(last).is_some_and(|l| l >= first)) =>
        {
            Wanted::Unsatisfiable
        }
        (Some(first), _) if last.is_empty() => Wanted::Part(first, len - 1),
        (Some(first), Some(last)) if last >= first => Wanted::Part(first, last.min(len - 1)),
        _ => Wanted::Whole,
    }
}

/// A segment's bytes, or the range of them asked for.
fn ranged(bytes: Vec<u8>, kind: &'static str, range: Option<&HeaderValue>) -> Response {
    let len = bytes.len() as u64;
    match wanted(range, len) {
        Wanted::Whole => (
            [
                (header::CONTENT_TYPE, kind),
                (header::ACCEPT_RANGES, "bytes"),
            ],
            bytes,
        )
            .into_response(),
        Wanted::Part(first, last) => (
            StatusCode::PARTIAL_CONTENT,
            [
                (header::CONTENT_TYPE, kind.to_string()),
                (header::ACCEPT_RANGES, "bytes".to_string()),
                (header::CONTENT_RANGE, format!("bytes {first}-{last}/{len}")),
            ],
            bytes[first as usize..=last as usize].to_vec(),
        )
            .into_response(),
        Wanted::Unsatisfiable => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            [(header::CONTENT_RANGE, format!("bytes */{len}"))],
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests;
