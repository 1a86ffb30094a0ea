//! The archive's pictures and coverage figures:
//!
//! - `GET /waveform/{channel}/{quality}.png?start=&end=&size=WxH`: the
//!   waveform of a range (at most 6 h; `size` 1024x64 unless given, each
//!   side 1 to 4096 pixels), drawn from the peaks sidecars of the range's
//!   best segments. A segment without one (a recorded stream's, which
//!   gets none as it is written, so that recording decodes nothing) has
//!   its sidecar made now, by decoding, for at most [`DECODE_BUDGET`] a
//!   picture: what is left shows blank until the picture is asked for
//!   again. A column per slice of the range:
//!   the lowest to the highest sample, in blue; a hole (or a segment
//!   without peaks) is left transparent, silence is a one-pixel line.
//!   Unlike wubloader's, the picture is exactly the range asked for.
//! - `GET /coverage/{channel}/{quality}.json?start=&end=`: per hour,
//!   segment counts and seconds by type, raw and editable coverage,
//!   holes and overlaps ([`coverage`]); without a range, every hour.
//! - `GET /coverage/{channel}/{quality}.png?start=&end=`: the coverage
//!   map, 2 s a pixel, a column of 300 pixels for every 10 minutes, six
//!   columns an hour, filled top to bottom and then left to right: white
//!   where anything is missing, orange where only partial or suspect
//!   segments cover, blue where full segments do.
//!
//! A bad time, an end not after the start, a range too long or a bad size
//! is 400 with what is wrong; a range the archive holds nothing of, 406.

use std::path::PathBuf;

use axum::Router;
use axum::extract::{Path, Query, State as Extract};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;

use super::{ArchiveView, Refused, blocking, inside, part, time, unreadable, view};
use crate::archive::coverage::{self, Cover, HOUR_PIXELS, HourCoverage, MAP_ROWS};
use crate::archive::listing::Listed;
use crate::archive::peaks::{self, Peaks, PeaksError};
use crate::web::State;

/// The longest range a waveform covers.
pub const MAX_WAVEFORM: TimeDelta = TimeDelta::hours(6);
/// How long one picture may spend making missing peaks: about 300
/// segments of 6 s, half an hour of a recorded stream, on a Pi 4.
pub const DECODE_BUDGET: std::time::Duration = std::time::Duration::from_secs(3);
/// The largest side of a waveform, in pixels.
pub const MAX_SIDE: u32 = 4096;
const DEFAULT_SIZE: (u32, u32) = (1024, 64);

const BLUE: [u8; 3] = [0x1f, 0x77, 0xb4];
const ORANGE: [u8; 3] = [0xff, 0x7f, 0x0e];
const WHITE: [u8; 3] = [0xff, 0xff, 0xff];

pub fn routes() -> Router<State> {
    Router::new()
        .route("/waveform/{channel}/{file}", get(waveform))
        .route("/coverage/{channel}/{file}", get(coverage_file))
}

#[derive(Deserialize)]
struct RangeQuery {
    start: Option<String>,
    end: Option<String>,
    size: Option<String>,
}

type QueryResult = Result<Query<RangeQuery>, axum::extract::rejection::QueryRejection>;

fn bad(message: impl Into<String>) -> Refused {
    Refused::Problem(StatusCode::BAD_REQUEST, message.into())
}

fn query(query: QueryResult) -> Result<RangeQuery, Refused> {
    query
        .map(|Query(q)| q)
        .map_err(|e| bad(format!("bad query string: {e}")))
}

/// `<quality>.<ext>` → the quality's folder, once the asker may read it
/// and the folder is there.
fn quality_dir(
    view: &ArchiveView,
    channel: &str,
    file: &str,
    ext: &str,
) -> Result<(PathBuf, String), Refused> {
    let channel = part("channel", channel)?;
    let quality = part("quality", file)?
        .strip_suffix(ext)
        .filter(|q| !q.is_empty())
        .ok_or_else(|| {
            Refused::Problem(
                StatusCode::NOT_FOUND,
                format!("no such picture or figures: expected <quality>{ext}"),
            )
        })?;
    let dir = match inside(
        &view.root,
        &view.root.join(channel).join(quality),
        "quality",
    ) {
        Err(Refused::Problem(StatusCode::NOT_FOUND, _)) => {
            return Err(Refused::Problem(
                StatusCode::NOT_FOUND,
                format!("the archive has no quality {quality:?} of channel {channel:?}"),
            ));
        }
        found => found?,
    };
    Ok((dir, quality.to_string()))
}

/// `WxH`, each side 1 to 4096.
pub fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let invalid = || "invalid size: expected WxH such as 1024x64".to_string();
    let (w, h) = text.split_once(['x', 'X']).ok_or_else(invalid)?;
    let side = |s: &str| s.parse::<u32>().map_err(|_| invalid());
    let (w, h) = (side(w)?, side(h)?);
    if !(1..=MAX_SIDE).contains(&w) || !(1..=MAX_SIDE).contains(&h) {
        return Err(format!(
            "size {w}x{h} is out of range: each side must be 1 to {MAX_SIDE} pixels"
        ));
    }
    Ok((w, h))
}

fn png_response(png: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        png,
    )
        .into_response()
}

async fn waveform(
    Extract(state): Extract<State>,
    headers: HeaderMap,
    Path((channel, file)): Path<(String, String)>,
    q: QueryResult,
) -> Response {
    let asked = (|| {
        let view = view(&state, &headers)?.clone();
        let (dir, _) = quality_dir(&view, &channel, &file, ".png")?;
        let q = query(q)?;
        let (Some(start), Some(end)) = (q.start.as_deref(), q.end.as_deref()) else {
            return Err(bad("a waveform needs start= and end="));
        };
        let (start, end) = (time(&state, "start", start)?, time(&state, "end", end)?);
        if end <= start {
            return Err(bad(format!("end ({end}) must be after start ({start})")));
        }
        if end - start > MAX_WAVEFORM {
            return Err(bad(format!(
                "a waveform covers at most 6 hours; {start} to {end} is {:.1} h",
                (end - start).num_seconds() as f64 / 3600.0
            )));
        }
        let size = match q.size.as_deref() {
            None => DEFAULT_SIZE,
            Some(text) => parse_size(text).map_err(bad)?,
        };
        Ok((view, dir, start, end, size))
    })();
    let (view, dir, start, end, (width, height)) = match asked {
        Ok(asked) => asked,
        Err(refused) => return refused.into_response(),
    };
    let drawn = blocking(move || {
        let pieces = view.best.range(&dir, start, end).map_err(unreadable)?;
        if pieces.iter().all(Option::is_none) {
            return Err(Refused::Problem(
                StatusCode::NOT_ACCEPTABLE,
                format!("no content: the archive holds nothing from {start} to {end}"),
            ));
        }
        let columns = columns(&dir, &pieces, start, end, width);
        Ok(waveform_png(&columns, width, height))
    })
    .await;
    match drawn {
        Ok(png) => png_response(png),
        Err(refused) => refused.into_response(),
    }
}

/// The lowest and highest peak of each column of `start..end`, from the
/// sidecars of the range's segments; `None` where nothing is known.
pub fn columns(
    quality_dir: &std::path::Path,
    pieces: &[Option<Listed>],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    width: u32,
) -> Vec<Option<(i8, i8)>> {
    let mut columns: Vec<Option<(i8, i8)>> = vec![None; width as usize];
    let span = (end - start).num_microseconds().unwrap_or(i64::MAX).max(1);
    let micros = |t: DateTime<Utc>| (t - start).num_microseconds().unwrap_or(0);
    // The column of an instant `at` µs into the range, rounded down.
    // In µs × columns: 6 h × 4096 is far inside an i64.
    let column = |at: i64| at.saturating_mul(i64::from(width)).div_euclid(span);
    let decode_until = std::time::Instant::now() + DECODE_BUDGET;
    for segment in pieces.iter().flatten() {
        let path = quality_dir.join(segment.name.hour()).join(&segment.file);
        let peaks = match Peaks::read(&peaks::sidecar_path(&path)) {
            Ok(peaks) => peaks,
            Err(PeaksError::Io(e))
                if e.kind() == std::io::ErrorKind::NotFound
                    && std::time::Instant::now() < decode_until =>
            {
                match peaks::made_for(&path) {
                    Ok(peaks) => peaks,
                    Err(_) => continue,
                }
            }
            Err(_) => continue, // a segment without peaks stays blank
        };
        let first = micros(segment.name.start);
        let bucket = i64::from(peaks.bucket_micros);
        for (i, b) in peaks.buckets.iter().enumerate() {
            let from = first + bucket * i as i64;
            let to = from + bucket;
            if to <= 0 || from >= span {
                continue;
            }
            // Every column the bucket touches, at least one.
            let left = column(from.max(0));
            let right = (column(to.min(span) - 1)).max(left);
            for c in left..=right.min(i64::from(width) - 1) {
                let cell = &mut columns[c as usize];
                *cell = Some(match *cell {
                    None => (b.min, b.max),
                    Some((low, high)) => (low.min(b.min), high.max(b.max)),
                });
            }
        }
    }
    columns
}

/// Columns into an RGBA PNG: each known column a blue line from its
/// highest to its lowest peak, at least one pixel; the rest transparent.
pub fn waveform_png(columns: &[Option<(i8, i8)>], width: u32, height: u32) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    let mut rgba = vec![0u8; w * h * 4];
    let row = |v: i8| {
        let from_top = (127 - i32::from(v).max(-127)) as f64 / 254.0;
        ((from_top * (h - 1) as f64).round() as usize).min(h - 1)
    };
    for (x, column) in columns.iter().enumerate() {
        let Some((low, high)) = *column else {
            continue;
        };
        for y in row(high)..=row(low) {
            let at = (y * w + x) * 4;
            rgba[at..at + 3].copy_from_slice(&BLUE);
            rgba[at + 3] = 0xff;
        }
    }
    encode(width, height, png::ColorType::Rgba, None, &rgba)
}

fn encode(
    width: u32,
    height: u32,
    color: png::ColorType,
    palette: Option<Vec<u8>>,
    data: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    if let Some(palette) = palette {
        encoder.set_palette(palette);
    }
    // Writing into a Vec cannot fail, and the sizes are checked above.
    let mut writer = encoder
        .write_header()
        .expect("a PNG header for a checked size");
    writer
        .write_image_data(data)
        .expect("PNG data of the header's size");
    drop(writer);
    out
}

/// The coverage map of `hours`: six columns of 300 pixels an hour.
pub fn map_png(hours: &[HourCoverage]) -> Vec<u8> {
    let columns_per_hour = HOUR_PIXELS / MAP_ROWS;
    let width = hours.len() * columns_per_hour;
    let mut pixels = vec![0u8; width * MAP_ROWS];
    for (h, hour) in hours.iter().enumerate() {
        for (p, cover) in hour.pixels.iter().enumerate() {
            let x = h * columns_per_hour + p / MAP_ROWS;
            let y = p % MAP_ROWS;
            pixels[y * width + x] = match cover {
                Cover::Missing => 0,
                Cover::Partial => 1,
                Cover::Full => 2,
            };
        }
    }
    let palette = [WHITE, ORANGE, BLUE].concat();
    encode(
        width as u32,
        MAP_ROWS as u32,
        png::ColorType::Indexed,
        Some(palette),
        &pixels,
    )
}

async fn coverage_file(
    Extract(state): Extract<State>,
    headers: HeaderMap,
    Path((channel, file)): Path<(String, String)>,
    q: QueryResult,
) -> Response {
    let picture = file.ends_with(".png");
    let asked = (|| {
        let view = view(&state, &headers)?.clone();
        let ext = if picture { ".png" } else { ".json" };
        let (dir, quality) = quality_dir(&view, &channel, &file, ext)?;
        let q = query(q)?;
        let parse = |name: &str, value: &Option<String>| match value.as_deref() {
            None | Some("") => Ok(None),
            Some(v) => time(&state, name, v).map(Some),
        };
        let (start, end) = (parse("start", &q.start)?, parse("end", &q.end)?);
        if let (Some(start), Some(end)) = (start, end)
            && end <= start
        {
            return Err(bad(format!("end ({end}) must be after start ({start})")));
        }
        Ok((view, dir, quality, start, end))
    })();
    let (view, dir, quality, start, end) = match asked {
        Ok(asked) => asked,
        Err(refused) => return refused.into_response(),
    };
    let figures =
        blocking(move || coverage::quality(&view.best, &dir, start, end).map_err(unreadable)).await;
    let hours = match figures {
        Ok(hours) => hours,
        Err(refused) => return refused.into_response(),
    };
    if !picture {
        let body = serde_json::json!({ "channel": channel, "quality": quality, "hours": hours });
        return axum::Json(body).into_response();
    }
    if hours.is_empty() {
        return Refused::Problem(
            StatusCode::NOT_ACCEPTABLE,
            "no content: the archive holds no hour in this range".into(),
        )
        .into_response();
    }
    png_response(map_png(&hours))
}

#[cfg(test)]
pub(crate) mod tests;
