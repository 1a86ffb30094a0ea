//! A channel's counters for the status page and `/metrics`: numbers as
//! atomics, bumped by the recorder's threads once per segment or read;
//! the state, format, title and last error behind a mutex, written only
//! when one of them changes (never per frame).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a channel's recorder is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ChannelState {
    /// Asking the server for the stream (the first time).
    Connecting,
    /// Audio is arriving and being cut into segments.
    Recording,
    /// The stream was lost or refused; the recorder waits and asks again.
    Reconnecting { reason: String },
    /// Not recording: never started, or stopped.
    Stopped,
}

#[derive(Debug, Default)]
struct Words {
    state: Option<ChannelState>,
    format: Option<String>,
    title: Option<String>,
    last_error: Option<String>,
    since: Option<DateTime<Utc>>,
}

/// One channel's counters, shared between its threads and its readers.
#[derive(Debug, Default)]
pub struct ChannelStatus {
    /// Bytes of audio in segments on disk (tags not counted).
    pub bytes: AtomicU64,
    /// Microseconds of audio in segments on disk.
    pub micros: AtomicU64,
    /// Microseconds of audio that reached the recorder but not the disk
    /// (a full, unplugged or slow disk).
    pub dropped_micros: AtomicU64,
    pub segments: AtomicU64,
    pub write_errors: AtomicU64,
    /// Connections made, the first one included.
    pub connections: AtomicU64,
    /// Bytes of the stream that were no frame (garbage, tags), skipped.
    pub skipped_bytes: AtomicU64,
    words: Mutex<Words>,
}

/// A channel's status as the status page and the CLI show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelSnapshot {
    #[serde(flatten)]
    pub state: ChannelState,
    /// Since when it is in this state.
    pub since: Option<DateTime<Utc>>,
    pub bytes: u64,
    pub seconds: f64,
    pub dropped_seconds: f64,
    pub segments: u64,
    pub write_errors: u64,
    pub connections: u64,
    pub skipped_bytes: u64,
    /// `mp3-44100`, `aac-48000`.
    pub format: Option<String>,
    pub title: Option<String>,
    pub last_error: Option<String>,
}

impl ChannelStatus {
    fn words(&self) -> std::sync::MutexGuard<'_, Words> {
        self.words.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the state; returns whether it changed (so a reason is logged
    /// once per change, not once per attempt).
    pub fn set_state(&self, state: ChannelState, now: DateTime<Utc>) -> bool {
        let mut words = self.words();
        if words.state.as_ref() == Some(&state) {
            return false;
        }
        words.state = Some(state);
        words.since = Some(now);
        true
    }

    pub fn state(&self) -> ChannelState {
        self.words().state.clone().unwrap_or(ChannelState::Stopped)
    }

    pub fn set_format(&self, format: Option<String>) {
        self.words().format = format;
    }

    pub fn set_title(&self, title: Option<String>) {
        self.words().title = title;
    }

    pub fn set_error(&self, error: String) {
        self.words().last_error = Some(error);
    }

    pub fn snapshot(&self) -> ChannelSnapshot {
        let words = self.words();
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        ChannelSnapshot {
            state: words.state.clone().unwrap_or(ChannelState::Stopped),
            since: words.since,
            bytes: load(&self.bytes),
            seconds: load(&self.micros) as f64 / 1e6,
            dropped_seconds: load(&self.dropped_micros) as f64 / 1e6,
            segments: load(&self.segments),
            write_errors: load(&self.write_errors),
            connections: load(&self.connections),
            skipped_bytes: load(&self.skipped_bytes),
            format: words.format.clone(),
            title: words.title.clone(),
            last_error: words.last_error.clone(),
        }
    }
}
