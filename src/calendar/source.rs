//! Reading the calendar's text from its source (a file or an http(s)
//! address), and keeping the last good copy in the data folder.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::CalendarSource;

/// How long one fetch may take, connection and body together.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest calendar accepted; a station's calendar with years of weekly
/// slots is a few hundred KiB.
pub const MAX_CALENDAR_BYTES: u64 = 4 * 1024 * 1024;
/// The last good copy of the calendar, in the data folder.
pub const CACHE_FILE: &str = "calendar.ics";
/// Where and when that copy was fetched, beside it.
pub const CACHE_INFO_FILE: &str = "calendar.json";

/// Why the calendar could not be read from its source. The text is what
/// the status page shows next to the calendar.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "cannot read the calendar file {}: {source}; check calendar.source and that the file is readable by the user onair runs as",
        path.display()
    )]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the calendar at {url} cannot be reached: {reason}; check the address and the box's network"
    )]
    Unreachable { url: String, reason: String },
    #[error(
        "the calendar at {url} answered HTTP {status}; check calendar.source (a calendar service's secret address changes when it is reset)"
    )]
    Status { url: String, status: u16 },
    #[error(
        "the calendar at {at} is larger than {} MiB; is this the station's calendar?",
        MAX_CALENDAR_BYTES / 1024 / 1024
    )]
    TooLarge { at: String },
    #[error("the calendar at {at} is {reason}")]
    NotACalendar { at: String, reason: String },
}

/// Reads the calendar's text from `source`.
pub fn fetch(source: &CalendarSource) -> Result<String, FetchError> {
    match source {
        CalendarSource::File(path) => read_file(path),
        CalendarSource::Url(url) => fetch_url(url),
    }
}

fn read_file(path: &Path) -> Result<String, FetchError> {
    let file_error = |source| FetchError::File {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(file_error)?.len();
    if size > MAX_CALENDAR_BYTES {
        return Err(FetchError::TooLarge {
            at: path.display().to_string(),
        });
    }
    let bytes = std::fs::read(path).map_err(file_error)?;
    Ok(text_of(bytes))
}

fn fetch_url(url: &str) -> Result<String, FetchError> {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(FETCH_TIMEOUT))
        .http_status_as_error(false)
        .user_agent(concat!("onair/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent();
    let unreachable = |e: ureq::Error| FetchError::Unreachable {
        url: url.to_string(),
        reason: e.to_string(),
    };
    let mut response = agent.get(url).call().map_err(unreachable)?;
    let status = response.status().as_u16();
    if !response.status().is_success() {
        return Err(FetchError::Status {
            url: url.to_string(),
            status,
        });
    }
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_CALENDAR_BYTES)
        .read_to_vec();
    match body {
        Ok(bytes) => Ok(text_of(bytes)),
        Err(ureq::Error::BodyExceedsLimit(_)) => Err(FetchError::TooLarge {
            at: url.to_string(),
        }),
        Err(e) => Err(unreachable(e)),
    }
}

/// Calendars are UTF-8 by the RFC; a stray byte costs a character of a
/// title, not the calendar.
fn text_of(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// What is known about the cached copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheInfo {
    /// The source it was fetched from, as shown (see [`CalendarSource`]'s Display).
    pub source: String,
    /// Station time of the fetch.
    pub fetched_at: DateTime<Utc>,
}

/// The last good copy, if there is one of this source.
pub fn read_cache(data_dir: &Path, source: &CalendarSource) -> Option<(String, CacheInfo)> {
    let info = std::fs::read_to_string(data_dir.join(CACHE_INFO_FILE)).ok()?;
    let info: CacheInfo = serde_json::from_str(&info).ok()?;
    // A copy of another calendar (the configuration has changed) is not this
    // station's schedule.
    if info.source != source.to_string() {
        return None;
    }
    let text = std::fs::read_to_string(data_dir.join(CACHE_FILE)).ok()?;
    Some((text, info))
}

/// Keeps `text` as the last good copy. Each file is written beside its
/// place and renamed over it, so a power cut leaves the old copy or the new
/// one, never half of one.
pub fn write_cache(data_dir: &Path, text: &str, info: &CacheInfo) -> std::io::Result<()> {
    std::fs::create_dir_all(data_dir)?;
    let info = serde_json::to_string_pretty(info).map_err(std::io::Error::other)?;
    write_atomically(&data_dir.join(CACHE_FILE), text.as_bytes())?;
    write_atomically(&data_dir.join(CACHE_INFO_FILE), info.as_bytes())?;
    Ok(())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}
