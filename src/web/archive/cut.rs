//! `GET /cut/{channel}/{quality}.mp3`, `.aac` and `.wav`, `?start=&end=`
//! (both required) and `allow_holes=true|false` (default false): a range
//! of the archive as one file to download ([`crate::archive::cut`]): its
//! own frames (`.mp3`, or `.aac` for a recorded AAC stream, `audio/aac`)
//! or decoded (`.wav`).
//!
//! The answer is decided before a byte is sent: 406 with the holes named
//! when the range has holes and they are not allowed, 406 when the
//! archive holds nothing in it or its codec is not the one asked for
//! (`.mp3` of AAC), 400 for a bad time, an end not after the
//! start, a bad `allow_holes`, or a WAV longer than 6 hours. The file is
//! then made on a blocking thread and sent as it is made, so a long cut
//! never sits in memory; a listener that hangs up stops it.

use std::io::{self, Write};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State as Extract};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;

use super::{Refused, inside, part, time, view};
use crate::archive::cut::{Cut, CutError};
use crate::archive::names::Codec;
use crate::web::State;

#[derive(Deserialize)]
pub struct CutQuery {
    start: Option<String>,
    end: Option<String>,
    allow_holes: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Frames(Codec),
    Wav,
}

pub async fn cut(
    Extract(state): Extract<State>,
    headers: HeaderMap,
    Path((channel, file)): Path<(String, String)>,
    query: Result<Query<CutQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match answer(&state, &headers, &channel, &file, query).await {
        Ok(response) => response,
        Err(refused) => refused.into_response(),
    }
}

async fn answer(
    state: &State,
    headers: &HeaderMap,
    channel: &str,
    file: &str,
    query: Result<Query<CutQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Refused> {
    let view = view(state, headers)?;
    let bad = |message: String| Refused::Problem(StatusCode::BAD_REQUEST, message);
    let (quality, format) = match file.rsplit_once('.') {
        Some((quality, "mp3")) => (quality, Format::Frames(Codec::Mp3)),
        Some((quality, "aac")) => (quality, Format::Frames(Codec::Aac)),
        Some((quality, "wav")) => (quality, Format::Wav),
        _ => {
            return Err(Refused::Problem(
                StatusCode::NOT_FOUND,
                format!("no cut {file:?}: ask for QUALITY.mp3, QUALITY.aac or QUALITY.wav"),
            ));
        }
    };
    let dir = view
        .root
        .join(part("channel", channel)?)
        .join(part("quality", quality)?);
    let dir = match inside(&view.root, &dir, "quality") {
        Err(Refused::Problem(StatusCode::NOT_FOUND, _)) => {
            return Err(Refused::Problem(
                StatusCode::NOT_FOUND,
                format!("the archive has no {channel}/{quality}"),
            ));
        }
        found => found?,
    };
    let Ok(Query(query)) = query else {
        return Err(bad(
            "expected ?start=TIME&end=TIME[&allow_holes=true]".into()
        ));
    };
    let (Some(start), Some(end)) = (&query.start, &query.end) else {
        return Err(bad("a cut needs both start= and end=".into()));
    };
    let (start, end) = (time(state, "start", start)?, time(state, "end", end)?);
    if end <= start {
        return Err(bad(format!(
            "the end ({}) must be after the start ({})",
            end.to_rfc3339(),
            start.to_rfc3339()
        )));
    }
    let allow_holes = match query.allow_holes.as_deref() {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(bad(format!(
                "allow_holes={v:?}: must be one of: true, false"
            )));
        }
    };
    if format == Format::Wav && end - start > crate::archive::cut::MAX_WAV {
        return Err(refusal(CutError::TooLong));
    }

    let best = view.best.clone();
    let (decided, decision) = oneshot::channel();
    let (sender, body) = mpsc::channel(8);
    tokio::task::spawn_blocking(move || {
        let planned =
            Cut::plan(&best, &dir, start, end, allow_holes).and_then(|cut| match format {
                Format::Frames(codec) => cut.expect_codec(codec).map(|()| cut),
                Format::Wav => Ok(cut),
            });
        let cut = match planned {
            Ok(cut) => cut,
            Err(e) => {
                let _ = decided.send(Err(e));
                return;
            }
        };
        let _ = decided.send(Ok(()));
        let mut out = io::BufWriter::with_capacity(64 * 1024, Sender(sender.clone()));
        let made = match format {
            Format::Frames(_) => cut.write_frames(&mut out).map(drop).map_err(CutError::Io),
            Format::Wav => cut.write_wav(&mut out).map(drop),
        };
        // A listener that hung up is no fault; anything else is logged,
        // and the body ends in an error so the download is not mistaken
        // for a whole one.
        if let Err(e) = made.and_then(|()| out.flush().map_err(CutError::Io))
            && !matches!(&e, CutError::Io(io) if io.kind() == io::ErrorKind::BrokenPipe)
        {
            tracing::warn!("archive: a cut of {start}..{end} broke off: {e}");
            let _ = sender.blocking_send(Err(io::Error::other(e.to_string())));
        }
    });
    match decision.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(refusal(e)),
        Err(_) => {
            return Err(Refused::Problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the cut stopped before it began".into(),
            ));
        }
    }
    let (content_type, extension) = match format {
        Format::Frames(Codec::Mp3) => ("audio/mpeg", "mp3"),
        Format::Frames(Codec::Aac) => ("audio/aac", "aac"),
        Format::Wav => ("audio/wav", "wav"),
    };
    let name = format!(
        "{channel}-{quality}-{}-{}.{extension}",
        start.format("%Y%m%dT%H%M%S%.3fZ"),
        end.format("%Y%m%dT%H%M%S%.3fZ")
    );
    let mut response = Body::from_stream(ReceiverStream::new(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

fn refusal(error: CutError) -> Refused {
    let status = match &error {
        CutError::Holes(_)
        | CutError::NoContent
        | CutError::MixedCodecs
        | CutError::OtherCodec { .. } => StatusCode::NOT_ACCEPTABLE,
        CutError::TooLong => StatusCode::BAD_REQUEST,
        CutError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    Refused::Problem(status, error.to_string())
}

/// The blocking thread's end of the body: a listener gone is a broken pipe.
struct Sender(mpsc::Sender<io::Result<Bytes>>);

impl Write for Sender {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(bytes)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the listener hung up"))?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
