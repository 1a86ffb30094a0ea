//! The archive's writer: a thread of its own that takes the feed's queue,
//! cuts it into segments ([`Segmenter`]) and writes each one whole, first
//! to a `temp` name in its hour folder, then renamed to its final name
//! (`full` or `partial`, with the hash of its bytes) in one atomic step,
//! so that no reader ever sees half a segment and a box killed mid-write
//! leaves only a temporary file, discarded at the next start.
//!
//! Beside each segment goes its peaks sidecar ([`peaks`]), written before
//! the rename, for the waveform: drawn from the levels of the programme
//! the encoder took ([`levels`](super::levels)), the segment decoded only where those do
//! not cover it.
//!
//! A write that fails (a full, read-only or unplugged disk) loses that
//! segment, but for the whole frames that reached a disk that filled up
//! mid-write, kept as a `partial` segment. What is lost is counted as
//! dropped and the failure as an error on the archive's line of the
//! status, logged at most every half minute; the next segment is tried as
//! usual. A slow disk fills the
//! feed's queue instead, and the feed drops and counts. Neither ever
//! reaches the encoder, the streams or playout.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::feed::{ArchiveFeed, Inbox, Item};
use super::levels::LevelTrack;
use super::names::{Codec, SegmentName, SegmentType, hour_folder};
use super::peaks::Peaks;
use super::retention::{self, Retention};
use super::segmenter::{Segment, Segmenter, Timing};
use super::storage::{self, StorageError};
use super::{frames, id3, peaks};
use crate::output::subscriber::Subscription;
use crate::output::{OutputError, OutputStats};

/// What the writer needs to know.
#[derive(Debug, Clone)]
pub struct ArchiveSettings {
    /// The archive's root folder.
    pub dir: PathBuf,
    pub channel: String,
    /// The MP3 it takes, kbit/s; its quality folder is `<bitrate>k`.
    pub bitrate: u32,
    pub segment_seconds: u32,
    /// The engine's sample 0 and rate.
    pub anchor: DateTime<Utc>,
    pub engine_rate: u32,
    pub retention: Retention,
}

impl ArchiveSettings {
    pub fn quality(&self) -> String {
        format!("{}k", self.bitrate)
    }

    /// `<dir>/<channel>/<quality>`.
    pub fn quality_dir(&self) -> PathBuf {
        self.dir.join(&self.channel).join(self.quality())
    }
}

#[cfg(test)]
impl ArchiveSettings {
    /// `fm` at 128 kbit/s in 6 s segments under `dir`, its engine at
    /// 48 kHz from `anchor`, kept for ever: the writer's tests' archive.
    pub(crate) fn for_tests(dir: PathBuf, anchor: DateTime<Utc>) -> Self {
        ArchiveSettings {
            dir,
            channel: "fm".into(),
            bitrate: 128,
            segment_seconds: 6,
            anchor,
            engine_rate: 48_000,
            retention: Retention::default(),
        }
    }
}

/// A started archive: the subscription to hand to the outputs (taken
/// once), and its writer's thread and counters.
pub struct Archive {
    pub name: String,
    pub stats: Arc<OutputStats>,
    /// Segments whose peaks were decoded from the segment, not drawn from
    /// the programme's levels (the first of a run, those after a skip).
    pub peaks_decoded: Arc<AtomicU64>,
    pub stop: Arc<AtomicBool>,
    pub thread: JoinHandle<Result<(), OutputError>>,
    pub subscription: Option<Subscription>,
}

/// Checks the archive's folder and starts its writer. A filesystem that
/// cannot hold the names is refused; a folder that cannot be written now
/// is not (the writer counts what it cannot write).
pub fn start(settings: ArchiveSettings) -> Result<Archive, StorageError> {
    storage::check(&settings.dir)?;
    let quality_dir = settings.quality_dir();
    let discarded = storage::discard_temporary(&quality_dir);
    if discarded > 0 {
        tracing::warn!(
            "archive: discarded {discarded} half-written segment(s) in {} left by the last run",
            quality_dir.display()
        );
    }
    let name = format!("archive {}", settings.dir.display());
    let stats = Arc::new(OutputStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let inbox = Arc::new(Inbox::default());
    let peaks_decoded = Arc::new(AtomicU64::new(0));
    let feed = ArchiveFeed::new(inbox.clone(), stats.clone());
    let mut writer = Writer {
        name: name.clone(),
        quality_dir,
        engine_rate: settings.engine_rate,
        anchor_micros: settings.anchor.timestamp_micros(),
        levels: LevelTrack::default(),
        peaks_decoded: peaks_decoded.clone(),
        stats: stats.clone(),
        failures: 0,
        last_report: None,
        retention: settings.retention,
        since_retention: RETENTION_EVERY,
    };
    let mut segmenter = Segmenter::new(
        Timing {
            anchor_micros: settings.anchor.timestamp_micros(),
            engine_rate: settings.engine_rate,
        },
        settings.segment_seconds,
    );
    let thread = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("archive writer".to_string())
            .spawn(move || {
                writer.run(&inbox, &mut segmenter, &stop);
                Ok(())
            })
            .map_err(|e| OutputError::Open {
                name: name.clone(),
                message: format!("cannot start its thread: {e}"),
            })
    };
    let thread = match thread {
        Ok(thread) => thread,
        Err(e) => {
            tracing::error!("{e}");
            // A writer that cannot start is a box without its archive, on air.
            std::thread::spawn(|| Ok(()))
        }
    };
    Ok(Archive {
        name: name.clone(),
        stats,
        peaks_decoded,
        stop,
        thread,
        subscription: Some(Subscription {
            name,
            bitrate: settings.bitrate,
            subscriber: Box::new(feed),
        }),
    })
}

struct Writer {
    name: String,
    quality_dir: PathBuf,
    engine_rate: u32,
    /// Microseconds since the Unix epoch of the engine's sample 0.
    anchor_micros: i64,
    /// The programme's levels, for the segments' peaks.
    levels: LevelTrack,
    /// Segments whose peaks had to be decoded.
    peaks_decoded: Arc<AtomicU64>,
    stats: Arc<OutputStats>,
    /// Failed writes since the last report.
    failures: u64,
    last_report: Option<Instant>,
    retention: Retention,
    /// Segments written since retention last looked.
    since_retention: u32,
}

/// Retention looks at the disk every this many segments (a minute of
/// 6 s segments), and at the first segment.
const RETENTION_EVERY: u32 = 10;

/// How often a failure that repeats is logged.
const REPORT_EVERY: Duration = Duration::from_secs(30);

impl Writer {
    fn run(&mut self, inbox: &Inbox, segmenter: &mut Segmenter, stop: &AtomicBool) {
        let mut done: Vec<Segment> = Vec::with_capacity(4);
        loop {
            let stopping = stop.load(Ordering::Acquire);
            match inbox.pop_until(Instant::now() + Duration::from_millis(200)) {
                Some(Item::Chunk(chunk, levels)) => {
                    self.levels.add(&levels);
                    segmenter.push(chunk.bytes(), &mut |s| done.push(s));
                }
                Some(Item::Lost { samples }) => segmenter.lost(samples, &mut |s| done.push(s)),
                Some(Item::Jump { encoded, frames }) => segmenter.jump(encoded, frames),
                None if inbox.is_finished() || stopping => break,
                None => {}
            }
            for segment in done.drain(..) {
                self.write(segment);
            }
        }
        segmenter.finish(&mut |s| done.push(s));
        for segment in done.drain(..) {
            self.write(segment);
        }
        if self.failures > 0 {
            self.report_now();
        }
    }

    /// Engine frames a segment carries, for the counters.
    fn engine_frames(&self, segment: &Segment) -> u64 {
        segment.samples * u64::from(self.engine_rate) / u64::from(segment.sample_rate)
    }

    fn write(&mut self, segment: Segment) {
        self.retain(segment.start_micros);
        let frames = self.engine_frames(&segment);
        match self.store(&segment) {
            Ok(()) => {
                self.stats.frames_out.fetch_add(frames, Ordering::Relaxed);
            }
            Err((e, kept_samples)) => {
                let kept =
                    kept_samples * u64::from(self.engine_rate) / u64::from(segment.sample_rate);
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                self.stats.frames_out.fetch_add(kept, Ordering::Relaxed);
                self.stats
                    .frames_dropped
                    .fetch_add(frames.saturating_sub(kept), Ordering::Relaxed);
                self.failures += 1;
                if self
                    .last_report
                    .is_none_or(|at| at.elapsed() >= REPORT_EVERY)
                {
                    tracing::warn!(
                        "{}: {e}; {:.1} s of the segment's {:.1} s are dropped and counted \
                         (what reached the disk is kept as a partial segment), playout and \
                         streams carry on",
                        self.name,
                        segment.duration() - kept_samples as f64 / f64::from(segment.sample_rate),
                        segment.duration()
                    );
                    self.report_now();
                }
            }
        }
    }

    /// Deletes what retention no longer keeps, now and then, before a
    /// segment is written (so a full disk makes room for it first).
    fn retain(&mut self, now_micros: i64) {
        if self.retention.is_off() {
            return;
        }
        self.since_retention += 1;
        if self.since_retention < RETENTION_EVERY {
            return;
        }
        self.since_retention = 0;
        let Some(now) = DateTime::from_timestamp_micros(now_micros) else {
            return;
        };
        let dir = self.quality_dir.clone();
        let deleted = retention::enforce(&self.quality_dir, now, self.retention, || {
            retention::free_bytes(&dir)
        });
        if deleted > 0 {
            tracing::info!(
                "{}: retention deleted {deleted} segment(s), oldest hours first",
                self.name
            );
        }
    }

    fn report_now(&mut self) {
        if self.failures > 1 {
            tracing::warn!(
                "{}: {} segment(s) could not be written",
                self.name,
                self.failures
            );
        }
        self.failures = 0;
        self.last_report = Some(Instant::now());
    }

    /// The peaks of a segment from the programme's levels, when they
    /// cover it; the grains before it are forgotten.
    fn measured_peaks(&mut self, segment: &Segment) -> Option<Peaks> {
        let since_anchor = i128::from(segment.start_micros - self.anchor_micros);
        let start = (since_anchor * i128::from(self.engine_rate) + 500_000).div_euclid(1_000_000);
        let frames = self.engine_frames(segment);
        let peaks = u64::try_from(start).ok().and_then(|start| {
            let peaks = self.levels.peaks(start, frames, self.engine_rate);
            self.levels.forget_before(start + frames);
            peaks
        });
        if peaks.is_none() {
            self.peaks_decoded.fetch_add(1, Ordering::Relaxed);
        }
        peaks
    }

    /// Writes one segment ([`store_segment`]); a segment without peaks
    /// is logged, as it is shown blank in a waveform.
    fn store(&mut self, segment: &Segment) -> Result<(), (std::io::Error, u64)> {
        let measured = self.measured_peaks(segment);
        let bytes = SegmentBytes {
            start_micros: segment.start_micros,
            samples: segment.samples,
            sample_rate: segment.sample_rate,
            full: segment.full,
            codec: Codec::Mp3,
            audio: &segment.mp3,
            peaks: true,
        };
        store_measured(&self.quality_dir, &bytes, &mp3_frame_ends, measured).map(|stored| {
            if let Some(e) = stored.peaks_error {
                tracing::debug!("{}: no peaks for {}: {e}", self.name, stored.path.display());
            }
        })
    }
}

/// One segment to store: whole frames of one codec, without the ID3 tag.
#[derive(Debug, Clone, Copy)]
pub struct SegmentBytes<'a> {
    /// Microseconds since the Unix epoch of its first decoded sample.
    pub start_micros: i64,
    /// Samples (per channel, at `sample_rate`) it decodes to.
    pub samples: u64,
    pub sample_rate: u32,
    /// Closed at its planned length.
    pub full: bool,
    pub codec: Codec,
    pub audio: &'a [u8],
    /// Whether to write its peaks sidecar.
    pub peaks: bool,
}

/// A segment in view.
#[derive(Debug)]
pub struct Stored {
    pub path: PathBuf,
    /// Why its peaks sidecar could not be made, if it could not.
    pub peaks_error: Option<String>,
}

/// The end of each whole frame in `audio` and the samples it decodes to,
/// in order: how [`store_segment`] keeps whole frames of a segment that
/// reached a full disk only in part.
pub type FrameEnds = dyn Fn(&[u8]) -> Vec<(usize, u64)>;

/// [`FrameEnds`] for MP3.
pub fn mp3_frame_ends(mp3: &[u8]) -> Vec<(usize, u64)> {
    frames::frames(mp3)
        .map(|(at, h)| (at + h.length, u64::from(h.samples)))
        .collect()
}

/// Stores one segment under `quality_dir`, as the archive's writer and the
/// stream recorder both do: its timestamp tag and frames to a `temp` name
/// in its hour folder, its peaks sidecar beside it, then the rename to its
/// final name (`full` or `partial`, with the hash of its bytes) in one
/// atomic step (the sidecar only when `segment.peaks` asks for it). When
/// the disk takes only part of it (it is full), the whole frames that
/// reached it (`frame_ends` finds them) are kept as a `partial` segment;
/// the error then says how many samples were kept.
pub fn store_segment(
    quality_dir: &Path,
    segment: &SegmentBytes,
    frame_ends: &FrameEnds,
) -> Result<Stored, (std::io::Error, u64)> {
    store_measured(quality_dir, segment, frame_ends, None)
}

/// [`store_segment`] with the segment's peaks already measured (when
/// `segment.peaks` asks for them): they are written as they are, not
/// decoded from the segment.
pub fn store_measured(
    quality_dir: &Path,
    segment: &SegmentBytes,
    frame_ends: &FrameEnds,
    measured: Option<Peaks>,
) -> Result<Stored, (std::io::Error, u64)> {
    let start = DateTime::from_timestamp_micros(segment.start_micros).ok_or_else(|| {
        (
            std::io::Error::other("the segment's time is out of range"),
            0,
        )
    })?;
    let tag = id3::timestamp_tag(id3::pts_of_micros(segment.start_micros));
    let hour = quality_dir.join(hour_folder(start));
    std::fs::create_dir_all(&hour).map_err(|e| (in_path(e, &hour), 0))?;
    let mut name = SegmentName {
        start,
        duration: segment.samples as f64 / f64::from(segment.sample_rate),
        kind: SegmentType::Temp,
        hash: format!("{:016x}", rand::random::<u64>()),
    };
    let temp = hour.join(name.file_name_as(segment.codec));
    let (audio, samples, failed) = match write_file(&temp, &tag, segment.audio) {
        Ok(()) => (segment.audio, segment.samples, None),
        Err((e, on_disk)) => {
            let (kept, samples) = frame_ends(segment.audio)
                .into_iter()
                .scan(0u64, |samples, (end, n)| {
                    *samples += n;
                    Some((end, *samples))
                })
                .take_while(|&(end, _)| id3::TAG_BYTES + end <= on_disk)
                .last()
                .unwrap_or((0, 0));
            let truncated = kept > 0
                && std::fs::OpenOptions::new()
                    .write(true)
                    .open(&temp)
                    .and_then(|f| f.set_len((id3::TAG_BYTES + kept) as u64))
                    .is_ok();
            if !truncated {
                let _ = std::fs::remove_file(&temp);
                return Err((in_path(e, &temp), 0));
            }
            (&segment.audio[..kept], samples, Some(e))
        }
    };
    let mut hash = Sha256::new();
    hash.update(tag);
    hash.update(audio);
    name.kind = if segment.full && failed.is_none() {
        SegmentType::Full
    } else {
        SegmentType::Partial
    };
    name.duration = samples as f64 / f64::from(segment.sample_rate);
    name.hash = super::names::hash_text(&hash.finalize());
    let path = hour.join(name.file_name_as(segment.codec));
    // The peaks before the rename: a segment in view has its sidecar.
    let sidecar = peaks::sidecar_path(&path);
    let peaks_error = match (segment.peaks, measured) {
        (false, _) => None,
        (true, Some(measured)) => measured
            .truncated(samples, segment.sample_rate)
            .write(&sidecar)
            .err(),
        (true, None) => peaks::write_as(&sidecar, audio, segment.codec).err(),
    };
    if let Err(e) = std::fs::rename(&temp, &path) {
        let _ = std::fs::remove_file(&temp);
        let _ = std::fs::remove_file(&sidecar);
        return Err((in_path(e, &path), 0));
    }
    match failed {
        None => Ok(Stored { path, peaks_error }),
        Some(e) => Err((in_path(e, &temp), samples)),
    }
}

/// Writes `tag` and `mp3` to a new file at `path`; on failure, the error
/// and how many bytes reached the file.
fn write_file(path: &Path, tag: &[u8], mp3: &[u8]) -> Result<(), (std::io::Error, usize)> {
    let mut file = std::fs::File::create(path).map_err(|e| (e, 0))?;
    let result = file
        .write_all(tag)
        .and_then(|()| file.write_all(mp3))
        .and_then(|()| file.sync_data());
    result.map_err(|e| {
        let on_disk = file.metadata().map_or(0, |m| m.len() as usize);
        (e, on_disk)
    })
}

fn in_path(error: std::io::Error, path: &Path) -> std::io::Error {
    std::io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}
