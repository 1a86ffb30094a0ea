//! One channel's recording: a thread that asks for the stream, takes the
//! ICY blocks out, cuts frames into segments and times them, and a thread
//! that writes them, between them a bounded queue that drops (counted)
//! rather than wait when the disk does not keep up. Both run at a lower
//! CPU and I/O priority than playout.
//!
//! A connection that ends, for whatever reason, closes the open segment
//! `partial`: what was received is kept, and the time until the next
//! connection's first frame is a hole. The recorder asks again for ever,
//! waiting 1 s, then twice as long after each failure up to a minute, and
//! 1 s again once a connection has brought a minute of audio. Each reason
//! is logged when it changes, not at every attempt.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};

use super::cutter::{Cut, Cutter};
use super::framer::{Format, FrameInfo, Framer, is_info_frame};
use super::icy::{IcySplitter, stream_title};
use super::quality;
use super::source::{self, Stream};
use super::status::{ChannelState, ChannelStatus};
use super::timing::{Arrival, Placed, Timing, micros_of};
use super::{RecorderChannel, RecorderSettings};
use crate::archive::adts;
use crate::archive::names::{Codec, hour_folder};
use crate::archive::retention;
use crate::archive::writer::{SegmentBytes, mp3_frame_ends, store_segment};

/// The track list's name in each hour folder: hidden, so listings pass it by.
pub const TRACKS_FILE: &str = retention::TRACK_LIST;

/// Segments the writer's queue holds: a minute of 6 s segments.
pub const QUEUE_SEGMENTS: usize = 10;
/// Bytes read from the connection at a time: a batch of a 128 kb/s
/// stream in one read.
const READ_BYTES: usize = 64 * 1024;
/// Once a read has emptied the connection (the batch is all in), the
/// reader waits this long before the next, so the connection's buffer
/// gathers a batch: a server relays a stream a frame or two at a time (40
/// wake-ups a second), and each wake-up of the reader costs more than its
/// bytes (the kernel's receive and acknowledgement, and the reader's code
/// run from a cold cache). Time is counted from the frames, not the
/// reads, and a frame's arrival is known as the span between batches
/// ([`Arrival`]), so the wait is never taken for drift; the anchor is set
/// from the server's burst on connecting, read at once. Four seconds of a
/// 320 kb/s stream wait in the kernel's and the server's buffers (160 KB).
/// A stop wakes the reader at once.
const BATCH_WAIT: Duration = Duration::from_secs(4);
/// The wait while the anchor settles: a server's burst on connecting may
/// come in over a second or more, as the connection's window lets it, and
/// all of it must be read before the anchor stops moving.
const SETTLING_WAIT: Duration = Duration::from_millis(200);
/// Reads after a stop, at most, to take what had come before it (a
/// server that sends faster than real time is not waited for).
const READS_AFTER_STOP: u32 = 16;
/// A stream with no frame in this many bytes is not MP3 or AAC.
const NO_FRAMES_LIMIT: u64 = 64 * 1024;
/// Segments held while the anchor settles, at most.
const MAX_HELD: usize = 8;
/// Backoff between attempts.
const FIRST_WAIT: Duration = Duration::from_secs(1);
const LONGEST_WAIT: Duration = Duration::from_secs(60);
/// Audio a connection must bring for the wait to start again at 1 s.
const GOOD_AUDIO: Duration = Duration::from_secs(60);
/// How often a failure that repeats on the disk is logged.
const REPORT_EVERY: Duration = Duration::from_secs(30);
/// Retention looks at the disk every this many segments.
const RETENTION_EVERY: u32 = 10;

/// What the reading thread hands the writing one.
pub enum ToDisk {
    Segment {
        quality_dir: PathBuf,
        codec: Codec,
        start_micros: i64,
        cut: Cut,
    },
    Title {
        quality_dir: PathBuf,
        start_micros: i64,
        title: String,
    },
}

/// The wait before the next attempt.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: FIRST_WAIT }
    }
}

impl Backoff {
    /// The wait now; the one after is twice as long, up to a minute.
    pub fn wait(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(LONGEST_WAIT);
        now
    }

    pub fn reset(&mut self) {
        self.next = FIRST_WAIT;
    }
}

/// Lowers the calling thread's CPU priority (nice 10) and puts its disk
/// I/O in the lowest best-effort level: playout's threads come first.
/// Not the idle class: a recording must still keep up with its stream.
pub fn lower_priority(name: &str) {
    // SAFETY: plain system calls on the calling thread, no memory handed over.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        if libc::setpriority(libc::PRIO_PROCESS, tid, 10) != 0 {
            tracing::debug!("recorder {name}: cannot lower the CPU priority");
        }
        const IOPRIO_WHO_PROCESS: libc::c_long = 1;
        const IOPRIO_CLASS_BE: libc::c_long = 2;
        const IOPRIO_CLASS_SHIFT: libc::c_long = 13;
        const LOWEST_LEVEL: libc::c_long = 7;
        if libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            0,
            (IOPRIO_CLASS_BE << IOPRIO_CLASS_SHIFT) | LOWEST_LEVEL,
        ) != 0
        {
            tracing::debug!("recorder {name}: cannot lower the disk priority");
        }
    }
}

/// What the reading thread works with.
pub struct Reader {
    pub channel: RecorderChannel,
    pub settings: RecorderSettings,
    pub status: Arc<ChannelStatus>,
    pub stop: Arc<AtomicBool>,
    pub to_disk: SyncSender<ToDisk>,
}

impl Reader {
    fn now(&self) -> DateTime<Utc> {
        self.settings.clock.now()
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Records until stopped.
    pub fn run(self) {
        let name = self.channel.name.clone();
        lower_priority(&name);
        let agent = source::agent();
        let mut backoff = Backoff::default();
        let mut recording = Recording::new(&self);
        self.status.set_state(ChannelState::Connecting, self.now());
        while !self.stopping() {
            let reason = match source::open(&agent, &self.channel.url) {
                Err(e) => e.to_string(),
                Ok(stream) => {
                    self.status.connections.fetch_add(1, Ordering::Relaxed);
                    let reason = self.record(stream, &mut recording, &mut backoff);
                    recording.end_connection();
                    reason
                }
            };
            if self.stopping() {
                break;
            }
            let wait = backoff.wait();
            let state = ChannelState::Reconnecting {
                reason: reason.clone(),
            };
            if self.status.set_state(state, self.now()) {
                tracing::warn!(
                    "recorder {name}: {reason}; asking again in {} s, then less and less often \
                     (up to every minute) while it lasts",
                    wait.as_secs()
                );
            }
            self.status.set_error(reason);
            // A stop unparks the thread; anything else that does is harmless.
            let until = Instant::now() + wait;
            while !self.stopping() {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                std::thread::park_timeout(left);
            }
        }
        recording.end_connection();
        self.status.set_state(ChannelState::Stopped, self.now());
        tracing::info!("recorder {name}: stopped");
    }

    /// Receives one connection's stream until it ends; returns why.
    fn record(
        &self,
        mut stream: Stream,
        recording: &mut Recording,
        backoff: &mut Backoff,
    ) -> String {
        let mut splitter = IcySplitter::new(stream.metaint);
        let mut buffer = vec![0u8; READ_BYTES];
        let mut audio = Vec::with_capacity(READ_BYTES);
        // Titles of a read, with where they came in its audio.
        let mut titles: Vec<(usize, String)> = Vec::new();
        let mut received = 0u64;
        recording.url = stream.url.clone();
        // What is read next came after this: when the batch of reads that
        // last emptied the connection began; at first, the connection.
        let mut after = self.now().timestamp_micros();
        let mut batch_began = None;
        let mut reads_after_stop = 0;
        loop {
            if self.stopping() {
                reads_after_stop += 1;
                if reads_after_stop > READS_AFTER_STOP {
                    return "stopped".into();
                }
            }
            let began = self.now().timestamp_micros();
            let batch = *batch_began.get_or_insert(began);
            let switches = voluntary_switches();
            let n = match stream.body.read(&mut buffer) {
                Ok(0) => return format!("{} ended the stream", stream.url),
                Ok(n) => n,
                Err(e) => return format!("the stream from {} broke off: {e}", stream.url),
            };
            // The connection is known to have been emptied when the read
            // slept waiting for it (it was empty as the read began), or,
            // in plain HTTP, when the read came back short of the buffer:
            // the client receives all there is before handing it over.
            // Over TLS a short read says nothing: it brings a record or a
            // few.
            let waited = voluntary_switches() != switches;
            let emptied = waited || (!stream.tls && n < buffer.len());
            // What a read that slept brings came after it began.
            let arrival = Arrival {
                after: if waited { began } else { after },
                by: self.now().timestamp_micros(),
            };
            if emptied {
                after = if waited { began } else { batch };
                batch_began = None;
            }
            audio.clear();
            splitter.push(&buffer[..n], &mut audio, &mut |at, block| {
                titles.extend(stream_title(block).map(|title| (at, title)));
            });
            for (at, title) in titles.drain(..) {
                recording.title(title, at);
            }
            received += audio.len() as u64;
            recording.audio(&audio, arrival);
            if recording.frames == 0 && received > NO_FRAMES_LIMIT {
                return format!(
                    "{} sends no MP3 or AAC frames in its first {} KiB ({}): it is not an \
                     MP3 or AAC stream",
                    stream.url,
                    NO_FRAMES_LIMIT / 1024,
                    if stream.content_type.is_empty() {
                        "no content type"
                    } else {
                        &stream.content_type
                    }
                );
            }
            if recording.recorded_micros >= GOOD_AUDIO.as_micros() as i64 {
                backoff.reset();
            }
            if emptied {
                // All that came before a stop is in: nothing is left behind.
                if self.stopping() {
                    return "stopped".into();
                }
                if recording.frames > 0 {
                    std::thread::park_timeout(if recording.timing.is_settled() {
                        BATCH_WAIT
                    } else {
                        SETTLING_WAIT
                    });
                }
            }
        }
    }
}

/// How many times the calling thread has gone to sleep (each wait for
/// data is one).
fn voluntary_switches() -> libc::c_long {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_THREAD asks
    // about the calling thread alone.
    let done = unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) };
    if done != 0 {
        return 0;
    }
    // SAFETY: filled by the successful call above.
    unsafe { usage.assume_init() }.ru_nvcsw
}

/// A channel's recording across its connections.
struct Recording {
    name: String,
    archive: PathBuf,
    url: String,
    status: Arc<ChannelStatus>,
    to_disk: SyncSender<ToDisk>,
    framer: Framer,
    timing: Timing,
    cutter: Cutter,
    format: Option<Format>,
    quality_dir: Option<PathBuf>,
    /// Cut, waiting for the anchor to settle.
    held: Vec<Cut>,
    /// Titles placed on the timeline, waiting to be written with it.
    titles: Vec<(u64, String)>,
    /// Titles that came before the frame they start with, and where they
    /// came in the connection's audio.
    unplaced: Vec<(u64, String)>,
    /// Audio bytes of this connection so far.
    audio_bytes: u64,
    current_title: Option<String>,
    /// Frames of this connection.
    frames: u64,
    /// Whether this connection's recording was announced (state, log).
    announced: bool,
    /// Audio of this connection, µs.
    recorded_micros: i64,
    skipped: u64,
    last_drop_report: Option<Instant>,
    clock: crate::clock::Clock,
}

impl Recording {
    fn new(reader: &Reader) -> Self {
        let threshold = reader.settings.drift_threshold.as_micros() as i64;
        Recording {
            name: reader.channel.name.clone(),
            archive: reader.settings.archive_dir.clone(),
            url: reader.channel.url.clone(),
            status: reader.status.clone(),
            to_disk: reader.to_disk.clone(),
            framer: Framer::new(),
            timing: Timing::new(threshold, threshold.max(3_000_000)),
            cutter: Cutter::new(reader.settings.segment_seconds),
            format: None,
            quality_dir: None,
            held: Vec::with_capacity(MAX_HELD),
            titles: Vec::new(),
            unplaced: Vec::new(),
            audio_bytes: 0,
            current_title: None,
            frames: 0,
            announced: false,
            recorded_micros: 0,
            skipped: 0,
            last_drop_report: None,
            clock: reader.settings.clock,
        }
    }

    /// A title that came `at` bytes into the audio about to be pushed.
    fn title(&mut self, title: String, at: usize) {
        if self.current_title.as_deref() == Some(title.as_str()) {
            return;
        }
        tracing::debug!("recorder {}: title {title:?}", self.name);
        // An empty title is the station clearing it: none to show.
        self.status
            .set_title(Some(title.clone()).filter(|t| !t.is_empty()));
        self.current_title = Some(title.clone());
        self.unplaced.push((self.audio_bytes + at as u64, title));
    }

    fn audio(&mut self, bytes: &[u8], arrival: Arrival) {
        // Out while it hands each frame over, so each goes on at once
        // (nothing copied or allocated between the two).
        let mut framer = std::mem::take(&mut self.framer);
        framer.push(bytes, &mut |info, offset, frame| {
            self.frame(info, offset, frame, arrival);
        });
        self.framer = framer;
        self.audio_bytes += bytes.len() as u64;
        let skipped = self.framer.skipped - self.skipped;
        if skipped > 0 {
            self.skipped = self.framer.skipped;
            self.status
                .skipped_bytes
                .fetch_add(skipped, Ordering::Relaxed);
        }
    }

    /// A frame that starts `offset` bytes into the connection's audio.
    fn frame(&mut self, info: FrameInfo, offset: u64, bytes: &[u8], arrival: Arrival) {
        let first = self.frames == 0;
        self.frames += 1;
        if first && info.format.codec == Codec::Mp3 && is_info_frame(bytes) {
            return; // an encoder's seek table, no audio
        }
        if self.format != Some(info.format) {
            self.change_format(info.format);
        }
        if !self.announced {
            self.announced = true;
            let state = ChannelState::Recording;
            if self.status.set_state(state, self.clock.now()) {
                tracing::info!(
                    "recorder {}: recording {} ({}, into {})",
                    self.name,
                    self.url,
                    info.format,
                    self.quality_dir
                        .as_deref()
                        .map_or(String::new(), |d| d.display().to_string())
                );
            }
        }
        let position = loop {
            match self
                .timing
                .place(info.samples, info.format.sample_rate, arrival)
            {
                Placed::Anchored => break 0,
                Placed::At(position) => break position,
                Placed::Drifted { lag_micros } => {
                    tracing::warn!(
                        "recorder {}: the stream's audio and the clock parted by {:.1} s ({}); \
                         the segment is closed partial and time taken from the clock again",
                        self.name,
                        lag_micros as f64 / 1e6,
                        if lag_micros > 0 {
                            "the source stalled"
                        } else {
                            "the source sent audio faster than real time"
                        }
                    );
                    self.close_and_write();
                    self.timing.reset();
                }
            }
        };
        // A title starts with the first frame that began after its block
        // (a block may come in the middle of a frame).
        let started = self.unplaced.partition_point(|(at, _)| *at <= offset);
        for (_, title) in self.unplaced.drain(..started) {
            self.titles.push((position, title));
        }
        self.recorded_micros += micros_of(u64::from(info.samples), info.format.sample_rate);
        if let Some(cut) = self
            .cutter
            .frame(info.format, position, info.samples, bytes)
        {
            self.held.push(cut);
        }
        if self.timing.is_settled() || self.held.len() >= MAX_HELD {
            self.write();
        }
    }

    /// A new format: the open segment ends, and the format's quality
    /// folder is found (the first format's is `source`).
    fn change_format(&mut self, format: Format) {
        if self.format.is_some() {
            self.close_and_write();
            self.timing.reset();
        }
        self.format = Some(format);
        self.status.set_format(Some(format.to_string()));
        let channel_dir = self.archive.join(&self.name);
        let quality = match quality::quality_for(&channel_dir, format) {
            Ok((quality, true)) => quality,
            Ok((quality, false)) => {
                tracing::warn!(
                    "recorder {}: the stream is now {format}, not the format of {}/{} \
                     (the channel's first); it is recorded into {}/{quality}",
                    self.name,
                    self.name,
                    quality::SOURCE,
                    self.name
                );
                quality
            }
            Err(e) => {
                // The disk may come back: try `source`, the writer counts
                // what it cannot write.
                self.status
                    .set_error(format!("{}: {e}", channel_dir.display()));
                quality::SOURCE.to_string()
            }
        };
        self.quality_dir = Some(channel_dir.join(quality));
    }

    /// Closes the open segment (partial) and writes all that is held.
    fn close_and_write(&mut self) {
        if let Some(cut) = self.cutter.close() {
            self.held.push(cut);
        }
        self.write();
    }

    /// Hands what is held, now named by the anchor, to the writer.
    fn write(&mut self) {
        let Some(quality_dir) = self.quality_dir.clone() else {
            self.held.clear();
            return;
        };
        for cut in std::mem::take(&mut self.held) {
            let Some(start_micros) = self.timing.micros_at(cut.position) else {
                continue;
            };
            let micros = micros_of(cut.samples, cut.format.sample_rate);
            let job = ToDisk::Segment {
                quality_dir: quality_dir.clone(),
                codec: cut.format.codec,
                start_micros,
                cut,
            };
            if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
                self.to_disk.try_send(job)
            {
                self.status
                    .dropped_micros
                    .fetch_add(micros as u64, Ordering::Relaxed);
                if self
                    .last_drop_report
                    .is_none_or(|at| at.elapsed() >= REPORT_EVERY)
                {
                    self.last_drop_report = Some(Instant::now());
                    tracing::warn!(
                        "recorder {}: the disk is not keeping up; {:.1} s of audio dropped and \
                         counted (playout is not affected)",
                        self.name,
                        micros as f64 / 1e6
                    );
                }
            }
        }
        for (position, title) in std::mem::take(&mut self.titles) {
            if let Some(start_micros) = self.timing.micros_at(position) {
                let _ = self.to_disk.try_send(ToDisk::Title {
                    quality_dir: quality_dir.clone(),
                    start_micros,
                    title,
                });
            }
        }
    }

    /// The connection is over: its open segment is kept, partial.
    fn end_connection(&mut self) {
        self.close_and_write();
        self.timing.reset();
        self.framer.reset();
        self.unplaced.clear();
        self.audio_bytes = 0;
        self.frames = 0;
        self.announced = false;
        self.recorded_micros = 0;
    }
}

/// The writing thread: stores segments as the archive's writer does and
/// appends titles to their hour's track list.
pub struct Writer {
    pub name: String,
    pub status: Arc<ChannelStatus>,
    pub retention: retention::Retention,
    pub peaks: bool,
}

impl Writer {
    pub fn run(self, queue: Receiver<ToDisk>) {
        lower_priority(&self.name);
        let mut failures = 0u64;
        let mut last_report: Option<Instant> = None;
        let mut since_retention = RETENTION_EVERY;
        for job in queue {
            match job {
                ToDisk::Segment {
                    quality_dir,
                    codec,
                    start_micros,
                    cut,
                } => {
                    since_retention += 1;
                    if since_retention >= RETENTION_EVERY && !self.retention.is_off() {
                        since_retention = 0;
                        self.retain(&quality_dir, start_micros);
                    }
                    if let Err(e) = self.store(&quality_dir, codec, start_micros, &cut) {
                        failures += 1;
                        if last_report.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
                            tracing::warn!(
                                "recorder {}: {e}; {} segment(s) could not be written since \
                                 the last report; what is lost is counted, playout is not affected",
                                self.name,
                                failures
                            );
                            failures = 0;
                            last_report = Some(Instant::now());
                        }
                    }
                }
                ToDisk::Title {
                    quality_dir,
                    start_micros,
                    title,
                } => {
                    if let Err(e) = append_title(&quality_dir, start_micros, &title) {
                        tracing::debug!("recorder {}: the track list: {e}", self.name);
                    }
                }
            }
        }
    }

    fn store(
        &self,
        quality_dir: &Path,
        codec: Codec,
        start_micros: i64,
        cut: &Cut,
    ) -> Result<(), std::io::Error> {
        let bytes = SegmentBytes {
            start_micros,
            samples: cut.samples,
            sample_rate: cut.format.sample_rate,
            full: cut.full,
            codec,
            audio: &cut.audio,
            peaks: self.peaks,
        };
        let frame_ends = match codec {
            Codec::Mp3 => mp3_frame_ends,
            Codec::Aac => adts::frame_ends,
        };
        let rate = cut.format.sample_rate;
        let status = &self.status;
        match store_segment(quality_dir, &bytes, &frame_ends) {
            Ok(stored) => {
                if let Some(e) = stored.peaks_error {
                    tracing::debug!(
                        "recorder {}: no peaks for {}: {e}",
                        self.name,
                        stored.path.display()
                    );
                }
                status
                    .bytes
                    .fetch_add(cut.audio.len() as u64, Ordering::Relaxed);
                status
                    .micros
                    .fetch_add(micros_of(cut.samples, rate) as u64, Ordering::Relaxed);
                status.segments.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err((e, kept)) => {
                status.write_errors.fetch_add(1, Ordering::Relaxed);
                status
                    .micros
                    .fetch_add(micros_of(kept, rate) as u64, Ordering::Relaxed);
                status.dropped_micros.fetch_add(
                    micros_of(cut.samples.saturating_sub(kept), rate) as u64,
                    Ordering::Relaxed,
                );
                status.set_error(e.to_string());
                Err(e)
            }
        }
    }

    fn retain(&self, quality_dir: &Path, now_micros: i64) {
        let Some(now) = DateTime::from_timestamp_micros(now_micros) else {
            return;
        };
        let deleted = retention::enforce(quality_dir, now, self.retention, || {
            retention::free_bytes(quality_dir)
        });
        if deleted > 0 {
            tracing::info!(
                "recorder {}: retention deleted {deleted} segment(s) of {}, oldest hours first",
                self.name,
                quality_dir.display()
            );
        }
    }
}

/// One line of an hour's track list: when the title started, and the title.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrackLine {
    pub start: DateTime<Utc>,
    pub title: String,
}

/// Appends a title to the track list of the hour it starts in.
fn append_title(quality_dir: &Path, start_micros: i64, title: &str) -> std::io::Result<()> {
    let start = DateTime::from_timestamp_micros(start_micros)
        .ok_or_else(|| std::io::Error::other("the title's time is out of range"))?;
    let hour = quality_dir.join(hour_folder(start));
    std::fs::create_dir_all(&hour)?;
    let line = serde_json::json!({
        "start": start.to_rfc3339_opts(SecondsFormat::Micros, true),
        "title": title,
    });
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(hour.join(TRACKS_FILE))?;
    // One write per line, so a reader never sees half of one.
    file.write_all(format!("{line}\n").as_bytes())
}
