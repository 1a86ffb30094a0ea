//! The stream recorder: other stations' and partners' Icecast/Shoutcast
//! streams (MP3 or AAC, `http`/`https`, or a `.m3u`/`.pls` that names
//! one) recorded into the archive beside the box's own output, so that
//! listings, HLS, waveforms, coverage and tombstones work for them as
//! they do for it.
//!
//! Nothing is decoded or encoded: the stream's own frames are cut into
//! segments at frame boundaries, named and written as the archive's
//! writer does (`<archive>/<channel>/source/<hour>/…-<hash>.mp3` or
//! `.aac`), timed by the box's clock at arrival and then by the frames'
//! durations. Each channel records on threads of its own, at a lower CPU
//! and I/O priority than playout, with bounded buffers: a slow or full
//! disk drops (counted), a lost stream leaves a hole in coverage, and
//! neither ever reaches playout.
//!
//! - `source`: asking for the stream (HTTP, playlists, refusals).
//! - `shoutcast`: a SHOUTcast v1 server's `ICY 200 OK` answer.
//! - `playlist`: `.m3u` and `.pls` files, to their first stream URL.
//! - `icy`: ICY metadata blocks taken out of the audio, their titles kept.
//! - `framer`: the stream's bytes into MP3 or AAC frames, through garbage.
//! - `timing`: the frames on the box's clock, without drift.
//! - `cutter`: frames into segments.
//! - `quality`: `source` for the first format, another folder for another.
//! - `channel`: one channel's reading and writing threads.
//! - `status`: a channel's state and counters for the status page.
//! - `address`: a channel's name and stream address, checked.
//! - `windows`: when a channel records, in weekly windows of wall time.
//! - `plan`: which channels record now, a pure decision.
//! - `registry`: the channels and categories, from the config file and
//!   added at run time (kept in the data folder).
//! - `scheduler`: the recorder in the running box, starting and stopping
//!   channels by the plan and publishing what each does.
//!
//! Which channels exist and when they record is the caller's: it hands
//! [`Recorder`] the channels and calls [`Recorder::start`] and
//! [`Recorder::stop`] per channel (always-on ones with
//! [`Recorder::start_always_on`]).

pub mod address;
pub mod channel;
pub mod cutter;
pub mod framer;
pub mod icy;
pub mod plan;
pub mod playlist;
pub mod quality;
pub mod registry;
pub mod scheduler;
pub mod shoutcast;
pub mod source;
pub mod status;
pub mod timing;
pub mod windows;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::archive::retention::Retention;
use crate::archive::storage::{self, StorageError};
use crate::clock::Clock;

pub use status::{ChannelSnapshot, ChannelState, ChannelStatus};

/// A stream to record, as the configuration or `onair channel add` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecorderChannel {
    /// The archive's channel folder: a plain name.
    pub name: String,
    pub url: String,
    pub category: String,
    /// Recorded whenever the box runs (otherwise by its schedule).
    pub always_on: bool,
}

/// What every channel's recording shares.
#[derive(Debug, Clone)]
pub struct RecorderSettings {
    /// The archive's root folder.
    pub archive_dir: PathBuf,
    /// The archive's planned segment length.
    pub segment_seconds: u32,
    pub retention: Retention,
    /// The box's clock, which stamps arrivals.
    pub clock: Clock,
    /// How far the counted time and the clock may part before the segment
    /// is closed and time is taken from the clock again.
    pub drift_threshold: Duration,
    /// Whether each segment gets its peaks sidecar (for waveforms) as it
    /// is written. Off by default: it is the one thing that would make the
    /// recorder decode (about 10 ms of CPU per 6 s segment, several times
    /// the rest of its work); a waveform makes a segment's peaks the first
    /// time it is drawn instead.
    pub peaks: bool,
}

impl RecorderSettings {
    /// Settings with the recorder's defaults: a 2 s drift threshold, no
    /// peaks as segments are written.
    pub fn new(archive_dir: PathBuf, segment_seconds: u32, clock: Clock) -> Self {
        RecorderSettings {
            archive_dir,
            segment_seconds,
            retention: Retention::default(),
            clock,
            drift_threshold: Duration::from_secs(2),
            peaks: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    #[error(
        "channel name {0:?} cannot name a folder of the archive: use letters, digits, '-' and \
         '_' (such as news-feed)"
    )]
    BadName(String),
    #[error("two channels are named {0:?}: each channel needs a name of its own")]
    SameName(String),
    #[error("no channel is named {name:?}; the channels are: {known}")]
    Unknown { name: String, known: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot start the recorder's thread for {name}: {message}")]
    Thread { name: String, message: String },
}

/// Whether `name` can be a channel's folder: a plain name, as a path part
/// the web's archive routes accept.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Channels by name, each name a plain folder name and used once.
fn by_name(
    channels: Vec<RecorderChannel>,
) -> Result<BTreeMap<String, RecorderChannel>, RecorderError> {
    let mut known = BTreeMap::new();
    for channel in channels {
        if !valid_name(&channel.name) {
            return Err(RecorderError::BadName(channel.name));
        }
        if known.contains_key(&channel.name) {
            return Err(RecorderError::SameName(channel.name));
        }
        known.insert(channel.name.clone(), channel);
    }
    Ok(known)
}

/// One channel being recorded.
pub struct ChannelRecorder {
    pub channel: RecorderChannel,
    pub status: Arc<ChannelStatus>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
    writer: Option<JoinHandle<()>>,
}

impl ChannelRecorder {
    /// Starts recording `channel` (its threads, at once; the first
    /// connection is made on them). A folder whose filesystem cannot hold
    /// the archive's names is refused; one that cannot be written now is
    /// not (what cannot be written is counted).
    pub fn start(
        settings: &RecorderSettings,
        channel: RecorderChannel,
        status: Arc<ChannelStatus>,
    ) -> Result<ChannelRecorder, RecorderError> {
        if !valid_name(&channel.name) {
            return Err(RecorderError::BadName(channel.name));
        }
        storage::check(&settings.archive_dir)?;
        let channel_dir = settings.archive_dir.join(&channel.name);
        if let Ok(qualities) = std::fs::read_dir(&channel_dir) {
            for quality in qualities.flatten() {
                let discarded = storage::discard_temporary(&quality.path());
                if discarded > 0 {
                    tracing::warn!(
                        "recorder {}: discarded {discarded} half-written segment(s) in {} left \
                         by the last run",
                        channel.name,
                        quality.path().display()
                    );
                }
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (to_disk, queue) = std::sync::mpsc::sync_channel(channel::QUEUE_SEGMENTS);
        let thread_error = |e: std::io::Error| RecorderError::Thread {
            name: channel.name.clone(),
            message: e.to_string(),
        };
        let writer = channel::Writer {
            name: channel.name.clone(),
            status: status.clone(),
            retention: settings.retention,
            peaks: settings.peaks,
        };
        let writer = std::thread::Builder::new()
            .name(format!("rec-w {}", channel.name))
            .spawn(move || writer.run(queue))
            .map_err(thread_error)?;
        let reader = channel::Reader {
            channel: channel.clone(),
            settings: settings.clone(),
            status: status.clone(),
            stop: stop.clone(),
            to_disk,
        };
        let reader = std::thread::Builder::new()
            .name(format!("rec {}", channel.name))
            .spawn(move || reader.run())
            .map_err(thread_error)?;
        Ok(ChannelRecorder {
            channel,
            status,
            stop,
            reader: Some(reader),
            writer: Some(writer),
        })
    }

    /// Asks the channel to stop without waiting: the reader, waiting
    /// between batches or before asking again, is woken.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
        if let Some(reader) = &self.reader {
            reader.thread().unpark();
        }
    }

    /// Stops in order: the open segment is written (partial), the queue
    /// drained, both threads joined. A connection stuck without data ends
    /// within the read timeout (10 s).
    pub fn stop(mut self) {
        self.request_stop();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Drop for ChannelRecorder {
    fn drop(&mut self) {
        // Dropped without `stop`: the threads end by themselves.
        self.request_stop();
    }
}

/// The recorder: every channel the caller knows, the ones recording now,
/// and each one's status (kept when it stops, for the status page).
pub struct Recorder {
    settings: RecorderSettings,
    channels: BTreeMap<String, RecorderChannel>,
    statuses: BTreeMap<String, Arc<ChannelStatus>>,
    running: BTreeMap<String, ChannelRecorder>,
}

impl Recorder {
    /// A recorder of `channels`, none started yet; names are checked.
    pub fn new(
        settings: RecorderSettings,
        channels: Vec<RecorderChannel>,
    ) -> Result<Recorder, RecorderError> {
        let known = by_name(channels)?;
        let statuses = known
            .keys()
            .map(|name| (name.clone(), Arc::new(ChannelStatus::default())))
            .collect();
        Ok(Recorder {
            settings,
            channels: known,
            statuses,
            running: BTreeMap::new(),
        })
    }

    /// The channels are now `channels` (the list changed at run time): a
    /// channel gone stops, in order; a new one waits to be started; one
    /// whose address changed stops, to start again on the new one.
    pub fn set_channels(&mut self, channels: Vec<RecorderChannel>) -> Result<(), RecorderError> {
        let known = by_name(channels)?;
        let stale: Vec<String> = self
            .running
            .iter()
            .filter(|(name, running)| known.get(*name) != Some(&running.channel))
            .map(|(name, _)| name.clone())
            .collect();
        for name in stale {
            if let Some(running) = self.running.remove(&name) {
                running.stop();
            }
        }
        self.statuses.retain(|name, _| known.contains_key(name));
        for name in known.keys() {
            self.statuses.entry(name.clone()).or_default();
        }
        self.channels = known;
        Ok(())
    }

    /// Starts every always-on channel; returns the errors of those that
    /// could not start (the others record).
    pub fn start_always_on(&mut self) -> Vec<RecorderError> {
        let names: Vec<String> = self
            .channels
            .values()
            .filter(|c| c.always_on)
            .map(|c| c.name.clone())
            .collect();
        names
            .iter()
            .filter_map(|name| self.start(name).err())
            .collect()
    }

    /// Starts recording a channel (a schedule's window opening); one
    /// already recording carries on.
    pub fn start(&mut self, name: &str) -> Result<(), RecorderError> {
        if self.running.contains_key(name) {
            return Ok(());
        }
        let channel = self.channel(name)?.clone();
        let status = self.statuses.get(name).cloned().unwrap_or_default();
        let started = ChannelRecorder::start(&self.settings, channel, status)?;
        self.running.insert(name.to_string(), started);
        Ok(())
    }

    /// Stops recording a channel (a window closing), in order.
    pub fn stop(&mut self, name: &str) -> Result<(), RecorderError> {
        self.channel(name)?;
        if let Some(running) = self.running.remove(name) {
            running.stop();
        }
        Ok(())
    }

    /// Stops every channel: all are asked at once, then each is waited for.
    pub fn stop_all(&mut self) {
        for running in self.running.values() {
            running.request_stop();
        }
        for (_, running) in std::mem::take(&mut self.running) {
            running.stop();
        }
    }

    pub fn is_recording(&self, name: &str) -> bool {
        self.running.contains_key(name)
    }

    /// The channels, by name.
    pub fn channels(&self) -> impl Iterator<Item = &RecorderChannel> {
        self.channels.values()
    }

    /// A channel's counters, live (for `/metrics` and the status page).
    pub fn status(&self, name: &str) -> Option<Arc<ChannelStatus>> {
        self.statuses.get(name).cloned()
    }

    /// Every channel's status now, by name.
    pub fn snapshot(&self) -> Vec<(RecorderChannel, ChannelSnapshot)> {
        self.channels
            .values()
            .map(|c| {
                let snapshot = self
                    .statuses
                    .get(&c.name)
                    .map_or_else(|| ChannelStatus::default().snapshot(), |s| s.snapshot());
                (c.clone(), snapshot)
            })
            .collect()
    }

    fn channel(&self, name: &str) -> Result<&RecorderChannel, RecorderError> {
        self.channels
            .get(name)
            .ok_or_else(|| RecorderError::Unknown {
                name: name.to_string(),
                known: self.channels.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop_all();
    }
}

#[cfg(test)]
mod tests;
