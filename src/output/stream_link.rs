//! What a stream output shares with the rest of the box: where its
//! connection stands, its counters and the title it should carry. The
//! sender writes it, the status page reads it, the director sets the title;
//! the mixer never touches it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a stream stands, as the status page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Connection {
    /// Not tried yet, or an attempt is under way.
    Connecting,
    Connected {
        since: DateTime<Utc>,
    },
    /// The server could not be reached or the connection was lost.
    Retrying {
        reason: String,
        next_attempt: DateTime<Utc>,
    },
    /// The server answered and refused the source: wrong user or password,
    /// or a mount it does not allow. Tried again, as the server may be fixed.
    Refused {
        reason: String,
        next_attempt: DateTime<Utc>,
    },
}

/// What a stream output shares with the rest of the box: its state and
/// counters (read by the status page) and the title it should carry (set by
/// the director). Never touched by the mixer.
#[derive(Debug)]
pub struct StreamLink {
    connection: Mutex<Connection>,
    pub bytes_sent: AtomicU64,
    /// Connections made after the first.
    pub reconnects: AtomicU64,
    /// Connection attempts that failed.
    pub failed_attempts: AtomicU64,
    /// Frames drained and thrown away while the stream was down.
    pub frames_discarded: AtomicU64,
    /// Frames whose MP3 was dropped, oldest first, because the sender's
    /// queue was full (the sender fell behind its encoder).
    pub frames_dropped_oldest: AtomicU64,
    title: Mutex<Option<String>>,
    title_changes: AtomicU64,
    /// The encoder this stream takes its MP3 from, and how many streams share it.
    encoder: OnceLock<(String, usize)>,
}

impl Default for StreamLink {
    fn default() -> Self {
        StreamLink {
            connection: Mutex::new(Connection::Connecting),
            bytes_sent: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            failed_attempts: AtomicU64::new(0),
            frames_discarded: AtomicU64::new(0),
            frames_dropped_oldest: AtomicU64::new(0),
            title: Mutex::new(None),
            title_changes: AtomicU64::new(0),
            encoder: OnceLock::new(),
        }
    }
}

/// A copy of a [`StreamLink`] for the status snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamState {
    #[serde(flatten)]
    pub connection: Connection,
    pub bytes_sent: u64,
    pub reconnects: u64,
    pub failed_attempts: u64,
    pub frames_discarded: u64,
    pub frames_dropped_oldest: u64,
    pub title: Option<String>,
    /// The encoder this stream shares (`MP3 128 kbit/s CBR 44100 Hz`); one
    /// encoder per distinct MP3, however many streams carry it.
    pub encoder: Option<String>,
    /// How many streams take their MP3 from that encoder.
    pub encoder_shared_by: usize,
}

impl StreamLink {
    /// The title listeners should see from now on (what is on air).
    pub fn set_title(&self, title: &str) {
        let mut current = self.title.lock().unwrap_or_else(|e| e.into_inner());
        if current.as_deref() != Some(title) {
            *current = Some(title.to_string());
            self.title_changes.fetch_add(1, Ordering::Release);
        }
    }

    pub fn connection(&self) -> Connection {
        self.connection
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn state(&self) -> StreamState {
        StreamState {
            connection: self.connection(),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            failed_attempts: self.failed_attempts.load(Ordering::Relaxed),
            frames_discarded: self.frames_discarded.load(Ordering::Relaxed),
            frames_dropped_oldest: self.frames_dropped_oldest.load(Ordering::Relaxed),
            title: self.title(),
            encoder: self.encoder.get().map(|(name, _)| name.clone()),
            encoder_shared_by: self.encoder.get().map_or(0, |(_, n)| *n),
        }
    }

    /// Which encoder feeds this stream; set once, when its group starts.
    pub fn set_encoder(&self, name: &str, shared_by: usize) {
        let _ = self.encoder.set((name.to_string(), shared_by));
    }

    pub(super) fn set_connection(&self, connection: Connection) {
        *self.connection.lock().unwrap_or_else(|e| e.into_inner()) = connection;
    }

    /// How many times the title has changed, read before the title itself:
    /// a sender that has sent this version has nothing new to send.
    pub(super) fn title_version(&self) -> u64 {
        self.title_changes.load(Ordering::Acquire)
    }

    pub(super) fn title(&self) -> Option<String> {
        self.title.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
