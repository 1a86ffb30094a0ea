//! Asking a server for a stream: an HTTP or HTTPS GET (rustls) with
//! `Icy-MetaData: 1` (a SHOUTcast v1 server's `ICY 200 OK` read too, see
//! [`shoutcast`]), a playlist followed to its first stream, and an
//! answer that is not a stream (an error status, a web page) refused with
//! what is wrong in words a station engineer can act on.

use std::io::Read;
use std::time::Duration;

use ureq::ResponseExt;

use super::playlist::{self, PlaylistError};
use super::shoutcast::{self, Answer};

/// How long a server may take to accept, to answer, and between reads of
/// the stream before the connection counts as lost.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Playlists followed in a row at most (a playlist naming a playlist…).
const MAX_PLAYLISTS: usize = 3;
/// A playlist is a few lines; anything longer is not read further.
const MAX_PLAYLIST_BYTES: u64 = 64 * 1024;

/// Why there is no stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("{url:?} is not an http:// or https:// URL")]
    BadUrl { url: String },
    #[error("cannot reach {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("{url} answers {status}: check the stream URL (and that the station is on air)")]
    Status { url: String, status: u16 },
    #[error(
        "{url} answers with a web page ({content_type}), not audio: the station's web page is \
         not its stream; give the Icecast/Shoutcast stream URL"
    )]
    WebPage { url: String, content_type: String },
    #[error("the playlist {url}: {error}")]
    Playlist { url: String, error: PlaylistError },
    #[error("the playlist {url} cannot be read: {message}")]
    PlaylistUnread { url: String, message: String },
    #[error("{url}: playlists lead to playlists more than {MAX_PLAYLISTS} deep")]
    TooDeep { url: String },
}

/// A stream being received.
pub struct Stream {
    pub body: Box<dyn Read + Send>,
    /// Audio bytes between metadata blocks, if the server sends them.
    pub metaint: Option<usize>,
    pub content_type: String,
    /// The stream's URL, after any playlist.
    pub url: String,
    /// Received over TLS, whose reads hand over a record or a few at a
    /// time; otherwise each read takes all the connection holds.
    pub tls: bool,
}

/// The client every channel's requests go through.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(ANSWER_TIMEOUT))
        .timeout_per_read(Some(READ_TIMEOUT))
        .user_agent("onair-recorder")
        .build()
        .new_agent()
}

/// Asks for the stream at `url`, following playlists.
pub fn open(agent: &ureq::Agent, url: &str) -> Result<Stream, SourceError> {
    let mut url = url.trim().to_string();
    for _ in 0..=MAX_PLAYLISTS {
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(SourceError::BadUrl { url });
        }
        let answer = match agent.get(&url).header("Icy-MetaData", "1").call() {
            Ok(answer) => Answer {
                tls: answer.get_uri().scheme_str() == Some("https"),
                status: answer.status().as_u16(),
                headers: answer
                    .headers()
                    .iter()
                    .filter_map(|(n, v)| {
                        Some((n.as_str().to_string(), v.to_str().ok()?.to_string()))
                    })
                    .collect(),
                body: Box::new(answer.into_body().into_reader()),
            },
            // A SHOUTcast v1 server's `ICY 200 OK`, which ureq cannot read.
            Err(e) if lower.starts_with("http://") && shoutcast::is_unreadable_answer(&e) => {
                shoutcast::get(&url, CONNECT_TIMEOUT, READ_TIMEOUT).map_err(|message| {
                    SourceError::Unreachable {
                        url: url.clone(),
                        message: format!("{e}; asked again as a SHOUTcast v1 server: {message}"),
                    }
                })?
            }
            Err(e) => {
                return Err(SourceError::Unreachable {
                    url: url.clone(),
                    message: e.to_string(),
                });
            }
        };
        let (status, tls) = (answer.status, answer.tls);
        if !(200..300).contains(&status) {
            return Err(SourceError::Status { url, status });
        }
        let content_type = answer.header("content-type").unwrap_or_default();
        let metaint = answer
            .header("icy-metaint")
            .and_then(|v| v.parse::<usize>().ok());
        let mime = content_type.to_ascii_lowercase();
        if playlist::kind_of(&url, &content_type).is_some() {
            let mut bytes = Vec::new();
            answer
                .body
                .take(MAX_PLAYLIST_BYTES)
                .read_to_end(&mut bytes)
                .map_err(|e| SourceError::PlaylistUnread {
                    url: url.clone(),
                    message: e.to_string(),
                })?;
            let text = String::from_utf8_lossy(&bytes);
            url =
                playlist::first_stream_url(&text, &url).map_err(|error| SourceError::Playlist {
                    url: url.clone(),
                    error,
                })?;
            continue;
        }
        if mime.starts_with("text/html") || mime.starts_with("application/xhtml") {
            return Err(SourceError::WebPage { url, content_type });
        }
        return Ok(Stream {
            body: answer.body,
            metaint,
            content_type,
            url,
            tls,
        });
    }
    Err(SourceError::TooDeep { url })
}
