//! Programme files → engine audio. [`open`] checks a file on the caller's
//! thread (probe, seek, first packets) so a bad file fails before it is cued;
//! a decoder thread then runs ahead of the mixer, converting the file to the
//! engine's format (interleaved stereo f32 at the engine rate) into a
//! lock-free ring that the mixer drains through the [`Source`].

use std::fmt;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use symphonia::core::audio::{ChannelLabel, Channels, Position};
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::{Error as MediaError, SeekErrorKind};
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::{TimeBase, Timestamp};

use crate::output::CHANNELS;

mod resample;

use resample::Resampler;

/// How long the decoder thread first naps when the ring is full; each nap
/// while it stays full is twice as long, up to [`LONGEST_FULL_RING_NAP`].
/// Played at real time, half a ring takes seconds to empty, so the thread
/// wakes a few dozen times a second rather than hundreds; played flat out
/// (a fast simulated clock, the benchmark), the first short naps catch a
/// ring that empties quickly.
const FULL_RING_NAP: Duration = Duration::from_millis(3);
const LONGEST_FULL_RING_NAP: Duration = Duration::from_millis(24);

/// The next nap of a decoder waiting for `wanted` more free samples, after
/// a nap of `last` in which `freed` became free: half the time the rest
/// takes at that pace (so it is back early), never longer than
/// [`LONGEST_FULL_RING_NAP`] nor, while nothing moves, more than double.
fn next_nap(last: Duration, freed: usize, wanted: usize) -> Duration {
    const SHORTEST: Duration = Duration::from_micros(200);
    if freed == 0 {
        return (last * 2).min(LONGEST_FULL_RING_NAP);
    }
    last.mul_f64(wanted as f64 / freed as f64 / 2.0)
        .clamp(SHORTEST, LONGEST_FULL_RING_NAP)
}

/// Once the ring is full, the decoder waits until this share of it has
/// been played before it decodes again. Decoding half a ring in one go
/// rather than a packet after every nap costs measurably less CPU (the
/// decoder's tables and buffers stay in cache for the whole stretch), and
/// half a ring is still seconds of audio in hand.
const REFILL_AT: usize = 2;

/// Undecodable packets in a row after which a file is given up: it is
/// damaged beyond a glitch, and playing on would only be silence.
const MAX_BAD_PACKETS_IN_A_ROW: u32 = 16;

/// Frames the ring is filled with before [`open`] returns, so a cue that
/// starts at once does not begin with an underrun.
const PRIME_FRAMES: usize = 8192;

/// −3 dB, the usual weight of a centre or surround channel in a stereo downmix.
const MINUS_3_DB: f32 = std::f32::consts::FRAC_1_SQRT_2;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("cannot open {path}: {source}; check that the file exists and the box may read it")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is empty (0 bytes); the copy to the box failed: copy the file again")]
    Empty { path: String },
    #[error(
        "{path} is not audio the box can play ({reason}); use MP3, FLAC, Ogg Vorbis, WAV or AAC (.m4a)"
    )]
    NotAudio { path: String, reason: String },
    #[error(
        "{path} has no audio the box can decode ({reason}); re-encode it as MP3, FLAC, Ogg Vorbis, WAV or AAC-LC"
    )]
    Unsupported { path: String, reason: String },
    #[error("{path} is damaged at the start ({reason}); replace the file")]
    DamagedStart { path: String, reason: String },
    #[error("{path} is damaged: {reason}; replace the file")]
    Damaged { path: String, reason: String },
    #[error("cannot start {path} at {offset}: the file is only {length} long")]
    OffsetPastEnd {
        path: String,
        offset: String,
        length: String,
    },
    #[error("cannot seek to {offset} in {path} ({reason}); the file may be damaged: replace it")]
    Seek {
        path: String,
        offset: String,
        reason: String,
    },
    #[error("cannot convert {path} from {from} Hz to {to} Hz: {reason}")]
    Resample {
        path: String,
        from: u32,
        to: u32,
        reason: String,
    },
    #[error("cannot play {path}: {reason}")]
    Options { path: String, reason: String },
    #[error("cannot start the decoder for {path}: {source}; the box is short of memory or threads")]
    Thread {
        path: String,
        source: std::io::Error,
    },
}

/// How the engine wants a file delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// The engine rate; the file is resampled to it when it differs.
    pub rate: u32,
    /// Engine-rate frames to skip from the start of the file (resuming a
    /// programme after a restart, or joining it late).
    pub offset: u64,
    /// Start again from the top at the end of the file (the emergency file).
    pub looped: bool,
    /// Frames the decoder may run ahead of the mixer.
    pub ring_frames: usize,
}

/// What the file turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    /// Engine-rate frames from the offset to the end of the file, when the
    /// container states its length. Encoder delay and padding (LAME, Vorbis)
    /// are excluded; AAC's 1024 priming frames are not (the AAC decoder plays
    /// them), so an AAC file is about 21 ms longer than its audio.
    pub duration: Option<u64>,
    pub file_rate: u32,
    pub file_channels: usize,
    pub codec: String,
}

#[derive(Debug, Default)]
struct Shared {
    finished: AtomicBool,
    frames: AtomicU64,
    skipped: AtomicU64,
    failure: Mutex<Option<String>>,
}

impl Shared {
    fn fail(&self, reason: String) {
        let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        if failure.is_none() {
            *failure = Some(reason);
        }
    }
}

/// The director's view of a decoder: what went wrong and how far it got.
#[derive(Debug, Clone)]
pub struct SourceWatch {
    shared: Arc<Shared>,
}

impl SourceWatch {
    /// Why the decoder stopped before the end of the file, if it did
    /// (e.g. "file ends early at 12:34 of 30:00 (truncated?)").
    pub fn failure(&self) -> Option<String> {
        self.shared
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Engine-rate frames delivered to the ring so far.
    pub fn frames_decoded(&self) -> u64 {
        self.shared.frames.load(Ordering::Acquire)
    }

    /// The decoder thread has stopped (end of file, failure, or the source
    /// was dropped).
    pub fn finished(&self) -> bool {
        self.shared.finished.load(Ordering::Acquire)
    }

    /// Damaged packets skipped, and stretches the reader stepped over (each
    /// is a few milliseconds of audio missing).
    pub fn skipped_packets(&self) -> u64 {
        self.shared.skipped.load(Ordering::Relaxed)
    }
}

/// One opened file, as the mixer sees it: a ring of interleaved stereo f32
/// at the engine rate. Reading never locks or allocates. Dropping it stops
/// the decoder thread; drop it off the real-time thread (it frees the ring).
pub struct Source {
    ring: rtrb::Consumer<f32>,
    shared: Arc<Shared>,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("buffered_frames", &self.buffered_frames())
            .field("decoder_finished", &self.decoder_finished())
            .finish()
    }
}

impl Source {
    /// Copies up to `out.len() / 2` frames into `out`; returns the frames copied.
    pub fn read(&mut self, out: &mut [f32]) -> usize {
        let samples = self.ring.slots().min(out.len()) / CHANNELS * CHANNELS;
        if samples == 0 {
            return 0;
        }
        match self.ring.pop_entire_slice(&mut out[..samples]) {
            Ok(()) => samples / CHANNELS,
            Err(_) => 0,
        }
    }

    /// Hands up to `frames` waiting frames to `take`, in order and in at
    /// most two pieces (where the ring wraps), then lets them go; returns
    /// the frames taken. The mixer adds them into its block straight from
    /// the ring this way, without copying them out first.
    pub(crate) fn consume(&mut self, frames: usize, mut take: impl FnMut(&[f32])) -> usize {
        let wanted = frames.saturating_mul(CHANNELS);
        let samples = self.ring.slots().min(wanted) / CHANNELS * CHANNELS;
        if samples == 0 {
            return 0;
        }
        match self.ring.read_chunk(samples) {
            Ok(chunk) => {
                // Every push and pop is whole frames and the ring holds a
                // whole number of them, so neither piece splits a frame.
                let (first, second) = chunk.as_slices();
                take(first);
                if !second.is_empty() {
                    take(second);
                }
                chunk.commit_all();
                samples / CHANNELS
            }
            Err(_) => 0,
        }
    }

    /// Throws away up to `frames` frames; returns how many were there to throw.
    pub fn skip(&mut self, frames: u64) -> u64 {
        let wanted = usize::try_from(frames.saturating_mul(CHANNELS as u64)).unwrap_or(usize::MAX);
        let samples = self.ring.slots().min(wanted) / CHANNELS * CHANNELS;
        if samples == 0 {
            return 0;
        }
        match self.ring.read_chunk(samples) {
            Ok(chunk) => {
                chunk.commit_all();
                (samples / CHANNELS) as u64
            }
            Err(_) => 0,
        }
    }

    /// Frames waiting in the ring.
    pub fn buffered_frames(&self) -> usize {
        self.ring.slots() / CHANNELS
    }

    pub fn decoder_finished(&self) -> bool {
        self.shared.finished.load(Ordering::Acquire)
    }

    /// Nothing more will ever come: the decoder has stopped and the ring is
    /// empty. (An empty ring while the decoder runs is an underrun, not an end.)
    pub fn is_exhausted(&self) -> bool {
        // `finished` is stored after the last push, so once it reads true
        // the ring's fill level is final.
        self.decoder_finished() && self.ring.is_empty()
    }

    pub fn watch(&self) -> SourceWatch {
        SourceWatch {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// Opens `path`, seeks to `opts.offset`, decodes the first packets and
/// starts the decoder thread. Runs on the caller's thread; takes a few
/// milliseconds (longer for a deep seek in a long MP3).
pub fn open(
    path: &Path,
    opts: &OpenOptions,
) -> Result<(Source, SourceInfo, SourceWatch), DecodeError> {
    let name = path.display().to_string();
    if opts.rate == 0 {
        return Err(DecodeError::Options {
            path: name,
            reason: "the engine rate is 0 Hz".into(),
        });
    }
    if opts.ring_frames == 0 {
        return Err(DecodeError::Options {
            path: name,
            reason: "the decoder ring holds 0 frames".into(),
        });
    }
    let mut demux = Demux::open(path)?;
    let file_rate = demux.rate;
    let file_len = demux.frames.map(|n| rescale(n, file_rate, opts.rate));
    if let Some(len) = file_len
        && opts.offset >= len
    {
        return Err(DecodeError::OffsetPastEnd {
            path: name,
            offset: clock_text(opts.offset, opts.rate),
            length: clock_text(len, opts.rate),
        });
    }
    let first_frame = rescale(opts.offset, opts.rate, file_rate);
    if first_frame > 0 {
        demux.seek(first_frame).map_err(|e| match e {
            MediaError::SeekError(SeekErrorKind::OutOfRange) => DecodeError::OffsetPastEnd {
                path: name.clone(),
                offset: clock_text(opts.offset, opts.rate),
                length: "shorter than that".into(),
            },
            e => DecodeError::Seek {
                path: name.clone(),
                offset: clock_text(opts.offset, opts.rate),
                reason: e.to_string(),
            },
        })?;
    }

    let (producer, ring) = rtrb::RingBuffer::new(opts.ring_frames.saturating_mul(CHANNELS));
    let shared = Arc::new(Shared::default());
    let mut pipeline = Pipeline::new(demux, opts.rate, first_frame, opts.looped);

    // The first packets are decoded here so that a damaged file fails now,
    // while the director can still pick something else.
    loop {
        match pipeline.step() {
            Step::Audio(0) | Step::Skipped => {}
            Step::Audio(_) => break,
            Step::Failed(reason) => return Err(DecodeError::DamagedStart { path: name, reason }),
            Step::End if first_frame > 0 => {
                return Err(DecodeError::OffsetPastEnd {
                    path: name,
                    offset: clock_text(opts.offset, opts.rate),
                    length: clock_text(
                        rescale(pipeline.demux.position, file_rate, opts.rate),
                        opts.rate,
                    ),
                });
            }
            Step::End => {
                return Err(DecodeError::NotAudio {
                    path: name,
                    reason: "it holds no audio".into(),
                });
            }
        }
    }
    shared
        .skipped
        .store(pipeline.demux.damaged, Ordering::Relaxed);
    if let Some(reason) = pipeline.resample_error.take() {
        return Err(DecodeError::Resample {
            path: name,
            from: file_rate,
            to: opts.rate,
            reason,
        });
    }

    let info = SourceInfo {
        duration: file_len.map(|len| len - opts.offset),
        file_rate,
        file_channels: pipeline.file_channels,
        codec: pipeline.demux.codec.clone(),
    };
    let mut feeder = Feeder {
        pipeline,
        ring: producer,
        shared: Arc::clone(&shared),
        done: false,
    };
    feeder.prime(PRIME_FRAMES.min(opts.ring_frames));

    let source = Source {
        ring,
        shared: Arc::clone(&shared),
    };
    let watch = source.watch();
    std::thread::Builder::new()
        .name("onair-decoder".into())
        .spawn(move || feeder.run())
        .map_err(|source| DecodeError::Thread { path: name, source })?;
    Ok((source, info, watch))
}

/// The length of a programme file. Uses the container's header when it
/// states the length, otherwise decodes the file to count.
pub fn probe_duration(path: &Path) -> Result<Duration, DecodeError> {
    let demux = Demux::open(path)?;
    if let Some(frames) = demux.frames {
        return Ok(frames_to_duration(frames, demux.rate));
    }
    count_frames(demux, false)
}

/// Decodes the whole file; fails if any part of it is damaged or missing.
/// Returns the length of the audio it decoded.
pub fn verify(path: &Path) -> Result<Duration, DecodeError> {
    count_frames(Demux::open(path)?, true)
}

fn count_frames(mut demux: Demux, strict: bool) -> Result<Duration, DecodeError> {
    let mut first_bad = None;
    loop {
        let damaged = demux.damaged;
        match demux.next() {
            Decoded::Audio { .. } | Decoded::Skipped => {}
            Decoded::End => break,
            Decoded::Failed(reason) => {
                return Err(DecodeError::Damaged {
                    path: demux.name,
                    reason,
                });
            }
        }
        if demux.damaged > damaged {
            first_bad.get_or_insert(demux.position);
        }
    }
    if let Some(reason) = demux.shortfall(LENGTH_SLACK) {
        return Err(DecodeError::Damaged {
            path: demux.name,
            reason,
        });
    }
    if strict && let Some(at) = first_bad {
        return Err(DecodeError::Damaged {
            reason: format!(
                "{} damaged or missing packet(s), the first at {}",
                demux.damaged,
                clock_text(at, demux.rate)
            ),
            path: demux.name,
        });
    }
    Ok(frames_to_duration(demux.decoded, demux.rate))
}

/// The container and codec of one file.
struct Demux {
    name: String,
    reader: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    time_base: Option<TimeBase>,
    rate: u32,
    /// Playable frames according to the container, when it says.
    frames: Option<u64>,
    codec: String,
    /// File frame just after the last decoded packet (from its timestamp).
    position: u64,
    /// Where the last seek landed, and frames actually decoded since: less
    /// than `position` when the reader stepped over a damaged stretch.
    origin: u64,
    decoded: u64,
    /// Damaged packets skipped, and holes in the timestamps.
    damaged: u64,
    bad_in_a_row: u32,
    /// The last decoded packet, one vector per channel.
    planes: Vec<Vec<f32>>,
    layout: Channels,
}

enum Decoded {
    /// `planes` holds new audio whose first frame is file frame `start`.
    Audio {
        start: i64,
    },
    /// A damaged packet was left out.
    Skipped,
    End,
    Failed(String),
}

impl Demux {
    fn open(path: &Path) -> Result<Self, DecodeError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| DecodeError::Open {
            path: name.clone(),
            source,
        })?;
        match file.metadata() {
            Ok(meta) if meta.len() == 0 => return Err(DecodeError::Empty { path: name }),
            Ok(meta) if meta.is_dir() => {
                return Err(DecodeError::NotAudio {
                    path: name,
                    reason: "it is a folder".into(),
                });
            }
            _ => {}
        }
        let stream = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let reader = symphonia::default::get_probe()
            .probe(
                &hint,
                stream,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .map_err(|e| DecodeError::NotAudio {
                path: name.clone(),
                reason: e.to_string(),
            })?;
        let unsupported = |reason: &str| DecodeError::Unsupported {
            path: name.clone(),
            reason: reason.to_string(),
        };
        let track = reader
            .default_track(TrackType::Audio)
            .ok_or_else(|| unsupported("no audio track"))?;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or_else(|| unsupported("the audio track's codec is unknown"))?;
        let rate = params
            .sample_rate
            .filter(|r| *r > 0)
            .ok_or_else(|| unsupported("the sample rate is not stated"))?;
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(params, &AudioDecoderOptions::default().gapless(true))
            .map_err(|e| unsupported(&e.to_string()))?;
        let time_base = track.time_base;
        let frames = track
            .num_frames
            .or_else(|| {
                let tb = time_base?;
                let ticks = track.duration?.get();
                Some(ticks_to_frames(ticks as i128, tb, rate).max(0) as u64)
            })
            .filter(|n| *n > 0);
        let track_id = track.id;
        let layout = params.channels.clone().unwrap_or_default();
        let codec = decoder.codec_info().long_name.to_string();
        Ok(Demux {
            name,
            reader,
            decoder,
            track_id,
            time_base,
            rate,
            frames,
            codec,
            position: 0,
            origin: 0,
            decoded: 0,
            damaged: 0,
            bad_in_a_row: 0,
            planes: Vec::new(),
            layout,
        })
    }

    fn ts_to_frames(&self, ts: i64) -> i64 {
        match self.time_base {
            Some(tb) => ticks_to_frames(ts as i128, tb, self.rate),
            None => ts,
        }
    }

    fn frames_to_ts(&self, frames: u64) -> i64 {
        match self.time_base {
            Some(tb) => {
                let den = i128::from(tb.numer.get()) * i128::from(self.rate);
                (frames as i128 * i128::from(tb.denom.get()) / den) as i64
            }
            None => frames as i64,
        }
    }

    /// Accurate seek: the reader lands at or before `frame`; the frames in
    /// between are dropped by the caller using the packets' timestamps.
    fn seek(&mut self, frame: u64) -> Result<(), MediaError> {
        let ts = Timestamp::new(self.frames_to_ts(frame));
        self.reader.seek(
            SeekMode::Accurate,
            SeekTo::Timestamp {
                ts,
                track_id: self.track_id,
            },
        )?;
        self.decoder.reset();
        self.position = frame;
        self.origin = frame;
        self.decoded = 0;
        Ok(())
    }

    fn next(&mut self) -> Decoded {
        loop {
            let packet = match self.reader.next_packet() {
                Ok(Some(packet)) => packet,
                Ok(None) => return Decoded::End,
                Err(MediaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Decoded::Failed(self.ends_early());
                }
                Err(MediaError::IoError(e)) => {
                    return Decoded::Failed(format!(
                        "read error at {}: {e}",
                        clock_text(self.position, self.rate)
                    ));
                }
                Err(MediaError::ResetRequired) => {
                    return Decoded::Failed(format!(
                        "the stream changes format at {} (chained streams are not supported)",
                        clock_text(self.position, self.rate)
                    ));
                }
                Err(e) => {
                    return Decoded::Failed(format!(
                        "the container is damaged at {}: {e}",
                        clock_text(self.position, self.rate)
                    ));
                }
            };
            if packet.track_id != self.track_id {
                continue;
            }
            // Encoder delay has negative timestamps and is trimmed by the
            // decoder, so the first frame it hands out sits at pts + trim.
            let start = self.ts_to_frames(packet.pts.saturating_add(packet.trim_start).get());
            match self.decoder.decode(&packet) {
                Ok(audio) => {
                    let frames = audio.frames();
                    if self.decoded > 0 && start > self.position as i64 + 1 {
                        self.damaged += 1;
                    }
                    self.decoded += frames as u64;
                    self.bad_in_a_row = 0;
                    if audio.spec().channels() != &self.layout {
                        self.layout = audio.spec().channels().clone();
                    }
                    audio.copy_to_vecs_planar(&mut self.planes);
                    self.position = (start + frames as i64).max(0) as u64;
                    return Decoded::Audio { start };
                }
                // Damaged data also shows up as "unsupported" or "limit"
                // errors (an AAC packet whose garbage reads as an exotic
                // feature), so those are skipped too, up to a point.
                Err(
                    e @ (MediaError::DecodeError(_)
                    | MediaError::IoError(_)
                    | MediaError::Unsupported(_)
                    | MediaError::LimitError(_)),
                ) => {
                    self.damaged += 1;
                    self.bad_in_a_row += 1;
                    if self.bad_in_a_row >= MAX_BAD_PACKETS_IN_A_ROW {
                        return Decoded::Failed(format!(
                            "{} packets in a row cannot be decoded at {} ({e})",
                            self.bad_in_a_row,
                            clock_text(self.position, self.rate)
                        ));
                    }
                    let end = start + self.ts_to_frames(packet.dur.get() as i64);
                    self.position = self.position.max(end.max(0) as u64);
                    return Decoded::Skipped;
                }
                Err(e) => {
                    return Decoded::Failed(format!(
                        "cannot decode at {}: {e}",
                        clock_text(self.position, self.rate)
                    ));
                }
            }
        }
    }

    fn ends_early(&self) -> String {
        match self.frames {
            Some(total) => format!(
                "file ends early at {} of {} (truncated?)",
                clock_text(self.position, self.rate),
                clock_text(total, self.rate)
            ),
            None => format!(
                "file ends early at {} (truncated?)",
                clock_text(self.position, self.rate)
            ),
        }
    }

    /// At the end of the stream: did the file stop short of the length its
    /// header promised? (A truncated FLAC or MP3 often just ends, and an MP3
    /// reader silently steps over a damaged stretch.) `slack` allows for
    /// headers that only estimate the length (MP3s without a Xing header).
    fn shortfall(&self, slack: Duration) -> Option<String> {
        let total = self.frames?;
        let slack = (slack.as_millis() as u64) * u64::from(self.rate) / 1000;
        let covered = self.origin + self.decoded;
        (covered + slack < total).then(|| {
            format!(
                "only {} of the {} its header states could be decoded (truncated or damaged?)",
                clock_text(covered, self.rate),
                clock_text(total, self.rate)
            )
        })
    }
}

/// How far short of its stated length a file may end before it counts as
/// damaged: about two MP3 frames, enough for an MP3 whose length is only
/// estimated, while one damaged stretch that a reader stepped over is caught.
const LENGTH_SLACK: Duration = Duration::from_millis(50);

enum Step {
    /// Frames of file audio taken after the seek point (0 while still
    /// dropping the frames before it).
    Audio(usize),
    Skipped,
    End,
    Failed(String),
}

/// Decoded file audio → engine audio: downmix, resample, interleave.
struct Pipeline {
    demux: Demux,
    engine_rate: u32,
    looped: bool,
    /// File frames before this one are dropped (the accurate seek lands on
    /// the packet before the wanted frame).
    drop_before: u64,
    mix: Downmix,
    file_channels: usize,
    /// Surround audio folded down to stereo.
    left: Vec<f32>,
    right: Vec<f32>,
    resampler: Option<Resampler>,
    resample_error: Option<String>,
    /// Interleaved engine-rate frames not yet in the ring.
    out: Vec<f32>,
    out_sent: usize,
    /// File frames taken in the current pass through the file (loop guard).
    pass_frames: u64,
}

impl Pipeline {
    fn new(demux: Demux, engine_rate: u32, drop_before: u64, looped: bool) -> Self {
        Pipeline {
            demux,
            engine_rate,
            looped,
            drop_before,
            mix: Downmix::default(),
            file_channels: 0,
            left: Vec::new(),
            right: Vec::new(),
            resampler: None,
            resample_error: None,
            out: Vec::new(),
            out_sent: 0,
            pass_frames: 0,
        }
    }

    fn step(&mut self) -> Step {
        match self.demux.next() {
            Decoded::Audio { start } => {
                let frames = self.demux.planes.first().map_or(0, Vec::len);
                let drop = (self.drop_before as i64 - start).clamp(0, frames as i64) as usize;
                if drop == frames {
                    return Step::Audio(0);
                }
                self.drop_before = 0;
                self.file_channels = self.demux.planes.len();
                self.emit(drop);
                self.pass_frames += (frames - drop) as u64;
                Step::Audio(frames - drop)
            }
            Decoded::Skipped => Step::Skipped,
            Decoded::End => {
                if let Some(reason) = self.demux.shortfall(LENGTH_SLACK) {
                    self.flush_resampler();
                    return Step::Failed(reason);
                }
                if !self.looped {
                    self.flush_resampler();
                    return Step::End;
                }
                if self.pass_frames == 0 {
                    return Step::Failed("the file holds no audio to loop".into());
                }
                self.pass_frames = 0;
                match self.demux.seek(0) {
                    Ok(()) => Step::Audio(0),
                    Err(e) => Step::Failed(format!("cannot go back to the start to loop: {e}")),
                }
            }
            Decoded::Failed(reason) => {
                self.flush_resampler();
                Step::Failed(reason)
            }
        }
    }

    /// Turns the decoded packet, from frame `from` on, into engine audio in
    /// `out`. Mono and stereo go straight from the decoder's planes; only
    /// surround is folded down first.
    fn emit(&mut self, from: usize) {
        let planes = &self.demux.planes;
        let (left, right): (&[f32], &[f32]) = match planes.as_slice() {
            [mono] => (&mono[from..], &mono[from..]),
            [left, right] => (&left[from..], &right[from..]),
            _ => {
                self.mix.fit(&self.demux.layout, planes.len());
                self.mix
                    .apply(planes, from, &mut self.left, &mut self.right);
                (&self.left, &self.right)
            }
        };
        let file_rate = self.demux.rate;
        if file_rate == self.engine_rate {
            let start = self.out.len();
            self.out.resize(start + left.len() * CHANNELS, 0.0);
            for (frame, (l, r)) in self.out[start..]
                .chunks_exact_mut(CHANNELS)
                .zip(left.iter().zip(right))
            {
                frame[0] = *l;
                frame[1] = *r;
            }
            return;
        }
        if self.resampler.is_none() && self.resample_error.is_none() {
            match Resampler::new(file_rate, self.engine_rate) {
                Ok(resampler) => self.resampler = Some(resampler),
                Err(e) => self.resample_error = Some(e),
            }
        }
        if let Some(resampler) = &mut self.resampler {
            resampler.push(left, right, &mut self.out);
        }
    }

    fn flush_resampler(&mut self) {
        if let Some(resampler) = &mut self.resampler {
            resampler.finish(&mut self.out);
        }
    }

    fn pending(&self) -> &[f32] {
        &self.out[self.out_sent..]
    }
}

/// Runs the pipeline into the ring, on the decoder thread.
struct Feeder {
    pipeline: Pipeline,
    ring: rtrb::Producer<f32>,
    shared: Arc<Shared>,
    done: bool,
}

impl Feeder {
    /// Moves waiting audio into the ring; true when nothing is left waiting.
    fn flush(&mut self) -> bool {
        let pending = self.pipeline.pending();
        let samples = self.ring.slots().min(pending.len()) / CHANNELS * CHANNELS;
        if samples > 0 && self.ring.push_entire_slice(&pending[..samples]).is_ok() {
            self.pipeline.out_sent += samples;
            self.shared
                .frames
                .fetch_add((samples / CHANNELS) as u64, Ordering::AcqRel);
        }
        if self.pipeline.out_sent == self.pipeline.out.len() {
            self.pipeline.out.clear();
            self.pipeline.out_sent = 0;
            true
        } else {
            false
        }
    }

    fn advance(&mut self) {
        match self.pipeline.step() {
            Step::Audio(_) | Step::Skipped => {}
            Step::End => self.done = true,
            Step::Failed(reason) => {
                self.shared.fail(reason);
                self.done = true;
            }
        }
        // Written only when it changes: the director's side reads this
        // cache line, and a store per packet would keep pulling it over.
        let damaged = self.pipeline.demux.damaged;
        if damaged != self.shared.skipped.load(Ordering::Relaxed) {
            self.shared.skipped.store(damaged, Ordering::Relaxed);
        }
        if let Some(reason) = self.pipeline.resample_error.take() {
            self.shared.fail(format!("resampling failed: {reason}"));
            self.done = true;
        }
    }

    /// Fills the ring with at least `frames` frames (or the whole file) on
    /// the caller's thread.
    fn prime(&mut self, frames: usize) {
        while !self.done && self.ring.buffer().capacity() - self.ring.slots() < frames * CHANNELS {
            if !self.flush() {
                return;
            }
            self.advance();
        }
        self.flush();
    }

    fn run(mut self) {
        loop {
            if self.ring.is_abandoned() {
                break;
            }
            if !self.flush() {
                let room = self.ring.buffer().capacity() / REFILL_AT;
                let mut nap = FULL_RING_NAP;
                loop {
                    let before = self.ring.slots();
                    std::thread::sleep(nap);
                    let free = self.ring.slots();
                    if free >= room || self.ring.is_abandoned() {
                        break;
                    }
                    nap = next_nap(nap, free - before.min(free), room - free);
                }
                continue;
            }
            if self.done {
                break;
            }
            self.advance();
        }
        self.shared.finished.store(true, Ordering::Release);
    }
}

/// Weights from each file channel to the engine's left and right.
#[derive(Default)]
struct Downmix {
    layout: Option<(Channels, usize)>,
    weights: Vec<[f32; 2]>,
}

impl Downmix {
    fn fit(&mut self, layout: &Channels, count: usize) {
        if self
            .layout
            .as_ref()
            .is_some_and(|(l, c)| l == layout && *c == count)
        {
            return;
        }
        self.weights = stereo_weights(layout, count);
        self.layout = Some((layout.clone(), count));
    }

    fn apply(&self, planes: &[Vec<f32>], from: usize, left: &mut Vec<f32>, right: &mut Vec<f32>) {
        let frames = planes.first().map_or(0, Vec::len).saturating_sub(from);
        left.clear();
        right.clear();
        left.resize(frames, 0.0);
        right.resize(frames, 0.0);
        for (plane, [wl, wr]) in planes.iter().zip(&self.weights) {
            for ((l, r), s) in left.iter_mut().zip(right.iter_mut()).zip(&plane[from..]) {
                *l += s * wl;
                *r += s * wr;
            }
        }
    }
}

/// A stereo downmix in the spirit of ITU-R BS.775: centre and surrounds at
/// −3 dB into their side, LFE left out, then scaled so a full-scale signal on
/// every channel cannot clip (as ffmpeg's downmix does).
fn stereo_weights(layout: &Channels, count: usize) -> Vec<[f32; 2]> {
    match count {
        0 => return Vec::new(),
        1 => return vec![[1.0, 1.0]],
        2 => return vec![[1.0, 0.0], [0.0, 1.0]],
        _ => {}
    }
    let positions: Option<Vec<Position>> = match layout {
        Channels::Positioned(mask) => Some(split_mask(*mask)),
        Channels::Custom(labels) => labels
            .iter()
            .map(|l| match l {
                ChannelLabel::Positioned(p) => Some(*p),
                _ => None,
            })
            .collect(),
        _ => Position::from_wave_channel_count(count as u32).map(split_mask),
    };
    let mut weights: Vec<[f32; 2]> = match positions {
        Some(positions) if positions.len() == count => {
            positions.into_iter().map(position_weights).collect()
        }
        // Unlabelled channels: alternate them between left and right.
        _ => (0..count)
            .map(|i| if i % 2 == 0 { [1.0, 0.0] } else { [0.0, 1.0] })
            .collect(),
    };
    let loudest = weights
        .iter()
        .fold([0.0f32; 2], |acc, w| [acc[0] + w[0], acc[1] + w[1]]);
    let scale = loudest[0].max(loudest[1]).max(1.0);
    for w in &mut weights {
        w[0] /= scale;
        w[1] /= scale;
    }
    weights
}

fn split_mask(mask: Position) -> Vec<Position> {
    (0..64)
        .map(|bit| 1u64 << bit)
        .filter(|b| mask.bits() & b != 0)
        .map(Position::from_bits_retain)
        .collect()
}

fn position_weights(p: Position) -> [f32; 2] {
    const LEFT: Position = Position::FRONT_LEFT_CENTER
        .union(Position::REAR_LEFT)
        .union(Position::SIDE_LEFT)
        .union(Position::TOP_FRONT_LEFT)
        .union(Position::TOP_REAR_LEFT)
        .union(Position::TOP_SIDE_LEFT)
        .union(Position::BOTTOM_FRONT_LEFT)
        .union(Position::FRONT_LEFT_WIDE);
    const RIGHT: Position = Position::FRONT_RIGHT_CENTER
        .union(Position::REAR_RIGHT)
        .union(Position::SIDE_RIGHT)
        .union(Position::TOP_FRONT_RIGHT)
        .union(Position::TOP_REAR_RIGHT)
        .union(Position::TOP_SIDE_RIGHT)
        .union(Position::BOTTOM_FRONT_RIGHT)
        .union(Position::FRONT_RIGHT_WIDE);
    const LFE: Position = Position::LFE1.union(Position::LFE2);
    if p == Position::FRONT_LEFT {
        [1.0, 0.0]
    } else if p == Position::FRONT_RIGHT {
        [0.0, 1.0]
    } else if p == Position::FRONT_CENTER {
        [MINUS_3_DB, MINUS_3_DB]
    } else if LFE.contains(p) {
        [0.0, 0.0]
    } else if LEFT.contains(p) {
        [MINUS_3_DB, 0.0]
    } else if RIGHT.contains(p) {
        [0.0, MINUS_3_DB]
    } else {
        // Rear, top and bottom centres.
        [0.5, 0.5]
    }
}

/// `n` frames at rate `from` expressed at rate `to`, rounded to the nearest frame.
fn rescale(n: u64, from: u32, to: u32) -> u64 {
    if from == to {
        return n;
    }
    ((n as u128 * to as u128 + from as u128 / 2) / from as u128) as u64
}

fn ticks_to_frames(ticks: i128, tb: TimeBase, rate: u32) -> i64 {
    (ticks * i128::from(tb.numer.get()) * i128::from(rate) / i128::from(tb.denom.get())) as i64
}

fn frames_to_duration(frames: u64, rate: u32) -> Duration {
    Duration::from_nanos((frames as u128 * 1_000_000_000 / rate.max(1) as u128) as u64)
}

/// "12:34" or "1:02:03", the way a presenter reads a position in a programme.
fn clock_text(frames: u64, rate: u32) -> String {
    let secs = frames / u64::from(rate.max(1));
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn a_full_decoder_naps_by_how_fast_its_ring_empties() {
        let ms = Duration::from_millis;
        // Played at real time (48 kHz stereo): 3 ms frees ~288 samples and
        // 1.5 s of audio is wanted: the longest nap.
        assert_eq!(next_nap(ms(3), 288, 144_000), LONGEST_FULL_RING_NAP);
        // Played flat out: the ring empties within a few naps: shorter ones.
        assert_eq!(next_nap(ms(3), 60_000, 40_000), ms(1));
        assert_eq!(next_nap(ms(3), 600_000, 1_000), Duration::from_micros(200));
        // Nothing played (paused output): double, up to the longest.
        assert_eq!(next_nap(ms(3), 0, 1_000), ms(6));
        assert_eq!(next_nap(ms(20), 0, 1_000), LONGEST_FULL_RING_NAP);
    }
    use crate::engine::test_audio::*;

    const RATE: u32 = 48_000;
    /// 1 ms at the engine rate.
    const MS: i64 = 48;

    fn ramp_value(n: u64) -> f32 {
        (n % 4096) as f32 / 4096.0 - 0.5
    }

    /// A sawtooth whose value tells which frame it is (modulo 4096).
    fn ramp(dir: &Scratch, name: &str, frames: u64) -> PathBuf {
        let out = dir.path(name);
        let ext = out
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_string();
        let secs = frames as f64 / RATE as f64;
        ffmpeg(
            &format!("aevalsrc=exprs='mod(n\\,4096)/4096-0.5':s={RATE}:d={secs}"),
            codec_args(&ext),
            &out,
        );
        out
    }

    #[test]
    fn every_format_decodes_to_its_length_and_pitch() {
        let dir = Scratch::new("formats");
        for ext in ["wav", "flac", "mp3", "ogg", "m4a"] {
            for rate in [44_100, 48_000] {
                for channels in [1, 2] {
                    let name = format!("tone-{rate}-{channels}.{ext}");
                    let path = tone(&dir, &name, 440.0, rate, channels, 2.0);
                    let (source, info, watch) = open_at(&path, RATE, 0);
                    let audio = drain(source);
                    let frames = (audio.len() / 2) as i64;
                    assert_eq!(watch.failure(), None, "{name}");
                    assert_eq!(
                        (info.file_rate, info.file_channels),
                        (rate, channels as usize),
                        "{name}"
                    );
                    let header =
                        info.duration.unwrap_or_else(|| panic!("{name}: no length")) as i64;
                    let probed = probe_duration(&path).unwrap();
                    if ext == "m4a" {
                        // The AAC decoder plays the encoder's 1024 priming
                        // frames and the last packet's padding; the MP4
                        // header counts the priming too.
                        let priming = 1024 * RATE as i64 / rate as i64;
                        assert!(
                            (header - 96_000 - priming).abs() <= 3 * MS,
                            "{name}: header {header}"
                        );
                        assert!(
                            frames >= 96_000 + priming && frames <= 96_000 + 2 * priming + MS,
                            "{name}: {frames}"
                        );
                    } else {
                        assert!(
                            (frames - 96_000).abs() <= 3 * MS,
                            "{name}: decoded {frames} frames"
                        );
                        assert!(
                            (header - 96_000).abs() <= 3 * MS,
                            "{name}: header says {header}"
                        );
                        assert!(
                            probed.abs_diff(Duration::from_secs(2)) < Duration::from_millis(3),
                            "{name}: {probed:?}"
                        );
                    }
                    // Both channels carry the tone (mono is doubled, not panned).
                    for ch in 0..2 {
                        let signal = channel(&audio, ch);
                        let f = frequency(&signal[4800..90_000], RATE);
                        assert!((f - 440.0).abs() < 0.5, "{name} channel {ch}: {f} Hz");
                        // (ffmpeg spreads mono to stereo at −3 dB.)
                        assert!(
                            rms(&signal[4800..90_000]) > 0.2,
                            "{name} channel {ch} is too quiet"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn resampled_tone_keeps_its_pitch() {
        let dir = Scratch::new("resample");
        // 44.1 kHz → 48 kHz, and the other way; played at the wrong rate the
        // 1 kHz tone would come out at 918.75 Hz (or 1088.4 Hz).
        for (file_rate, engine_rate) in [(44_100, 48_000), (48_000, 44_100)] {
            let path = tone(
                &dir,
                &format!("tone-{file_rate}.flac"),
                1000.0,
                file_rate,
                2,
                1.0,
            );
            let (source, info, _) = open_at(&path, engine_rate, 0);
            assert_eq!(info.duration, Some(u64::from(engine_rate)));
            let audio = drain(source);
            assert!(
                (audio.len() / 2).abs_diff(engine_rate as usize) <= 1,
                "{}",
                audio.len() / 2
            );
            let left = channel(&audio, 0);
            let middle = &left[2000..left.len() - 2000];
            let f = frequency(middle, engine_rate);
            assert!(
                (f - 1000.0).abs() < 0.5,
                "{file_rate} → {engine_rate}: {f} Hz"
            );
            let wrong = 1000.0 * file_rate as f64 / engine_rate as f64;
            assert!(
                goertzel(middle, engine_rate, 1000.0)
                    > 100.0 * goertzel(middle, engine_rate, wrong)
            );
            // No click of silence where the resampler starts: the tone is
            // there from the first milliseconds.
            assert!(rms(&left[..480]) > 0.2, "the resampled tone starts late");
        }
    }

    /// The strongest component of `samples` away from `freq` (more than a
    /// window's main lobe from it), in dB relative to the tone, and where.
    fn strongest_stray(samples: &[f32], rate: u32, freq: f64) -> (f64, f64) {
        use rustfft::num_complex::Complex;
        let n = samples.len();
        // 4-term Blackman–Harris: its leakage (−92 dB) stays below what is
        // being looked for.
        let mut bins: Vec<Complex<f64>> = samples
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let a = 2.0 * std::f64::consts::PI * i as f64 / n as f64;
                let w = 0.35875 - 0.48829 * a.cos() + 0.14128 * (2.0 * a).cos()
                    - 0.01168 * (3.0 * a).cos();
                Complex::new(f64::from(*s) * w, 0.0)
            })
            .collect();
        rustfft::FftPlanner::new()
            .plan_fft_forward(n)
            .process(&mut bins);
        let hz = rate as f64 / n as f64;
        let tone_bin = (freq / hz).round() as usize;
        let tone = bins[tone_bin - 2..=tone_bin + 2]
            .iter()
            .map(|c| c.norm())
            .fold(0.0, f64::max);
        let (at, stray) = bins[..n / 2]
            .iter()
            .enumerate()
            .filter(|(k, _)| k.abs_diff(tone_bin) > 8)
            .map(|(k, c)| (k, c.norm()))
            .fold((0, 0.0), |best, b| if b.1 > best.1 { b } else { best });
        (20.0 * (stray / tone).log10(), at as f64 * hz)
    }

    #[test]
    fn resampled_tone_has_no_image_or_alias() {
        let dir = Scratch::new("resample-clean");
        // 44.1 kHz → 48 kHz leaves, from a careless converter, an image of
        // each tone at 44.1 kHz − f, heard folded down at f + 3.9 kHz.
        for freq in [1000.0, 10_000.0, 18_000.0] {
            let path = tone(&dir, &format!("tone-{freq}.flac"), freq, 44_100, 2, 1.5);
            let (source, _, _) = open_at(&path, 48_000, 0);
            let audio = drain(source);
            for ch in 0..2 {
                let signal = channel(&audio, ch);
                let (stray, at) = strongest_stray(&signal[8000..8000 + 32_768], 48_000, freq);
                assert!(
                    stray < -60.0,
                    "{freq} Hz channel {ch}: {stray:.1} dB at {at:.0} Hz"
                );
            }
        }

        // The check is not deaf: the same 10 kHz tone stretched to 48 kHz by
        // linear interpolation has its image at 13.9 kHz, about 20 dB down.
        let path = tone(&dir, "tone-10k.flac", 10_000.0, 44_100, 2, 1.5);
        let (source, _, _) = open_at(&path, 44_100, 0);
        let at_file_rate = channel(&drain(source), 0);
        let naive: Vec<f32> = (0..48_000)
            .map(|i| {
                let t = i as f64 * 44_100.0 / 48_000.0;
                let (k, frac) = (t as usize, (t - t.floor()) as f32);
                at_file_rate[k] * (1.0 - frac) + at_file_rate[k + 1] * frac
            })
            .collect();
        let (stray, at) = strongest_stray(&naive[8000..8000 + 32_768], 48_000, 10_000.0);
        assert!(stray > -60.0, "{stray:.1} dB at {at:.0} Hz");
        assert!((at - 13_900.0).abs() < 50.0, "{at:.0} Hz");
    }

    #[test]
    fn offset_lands_on_the_exact_frame_in_lossless_files() {
        let dir = Scratch::new("seek-lossless");
        for ext in ["wav", "flac"] {
            let path = ramp(&dir, &format!("ramp.{ext}"), 3 * 48_000);
            for offset in [1, 4095, 12_345, 96_007, 143_999] {
                let (source, info, _) = open_at(&path, RATE, offset);
                assert_eq!(info.duration, Some(144_000 - offset), "{ext} at {offset}");
                let audio = drain(source);
                assert_eq!(
                    audio.len() as u64 / 2,
                    144_000 - offset,
                    "{ext} at {offset}"
                );
                for i in 0..3usize.min(audio.len() / 2) {
                    let want = ramp_value(offset + i as u64);
                    let got = audio[2 * i];
                    assert!(
                        (got - want).abs() < 1e-3,
                        "{ext} at {offset}+{i}: {got} is not {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn offset_lands_within_a_few_ms_in_lossy_files() {
        let dir = Scratch::new("seek-lossy");
        for (ext, rate) in [
            ("mp3", 48_000),
            ("mp3", 44_100),
            ("ogg", 48_000),
            ("m4a", 48_000),
        ] {
            let path = dir.path(&format!("noise-{rate}.{ext}"));
            let mut args = vec![
                "-ar".to_string(),
                rate.to_string(),
                "-ac".into(),
                "2".into(),
            ];
            args.extend(codec_args(ext).iter().map(|a| a.to_string()));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ffmpeg(
                "anoisesrc=color=pink:seed=7:amplitude=0.5:duration=20",
                &args,
                &path,
            );
            let whole = channel(&drain(open_at(&path, RATE, 0).0), 0);
            for offset in [30_000u64, 480_000, 700_001] {
                let part = channel(&drain(open_at(&path, RATE, offset).0), 0);
                let lag = best_lag(&whole, &part, offset as usize, 4000);
                assert!(
                    lag.abs() <= 2 * MS,
                    "{ext} {rate} Hz at {offset}: off by {lag} frames"
                );
            }
        }
    }

    #[test]
    fn broken_files_fail_to_open_with_a_reason() {
        let dir = Scratch::new("broken");
        let opts = OpenOptions {
            rate: RATE,
            offset: 0,
            looped: false,
            ring_frames: 4096,
        };
        // A missing file names the file.
        let missing = dir.path("missing.mp3");
        let err = open(&missing, &opts).unwrap_err();
        assert!(matches!(err, DecodeError::Open { .. }), "{err}");
        assert!(err.to_string().contains("missing.mp3"), "{err}");

        // Zero bytes.
        let empty = dir.path("empty.mp3");
        std::fs::write(&empty, b"").unwrap();
        let err = open(&empty, &opts).unwrap_err();
        assert!(matches!(err, DecodeError::Empty { .. }), "{err}");
        assert!(verify(&empty).is_err());

        // A text file renamed .mp3.
        let text = dir.path("notes.mp3");
        std::fs::write(
            &text,
            "Running order for Saturday:\n1. news\n2. weather\n".repeat(50),
        )
        .unwrap();
        let err = open(&text, &opts).unwrap_err();
        assert!(matches!(err, DecodeError::NotAudio { .. }), "{err}");
        assert!(err.to_string().contains("notes.mp3"), "{err}");
        assert!(probe_duration(&text).is_err());
    }

    #[test]
    fn truncated_flac_is_reported() {
        let dir = Scratch::new("truncated");
        let good = tone(&dir, "whole.flac", 440.0, RATE, 2, 4.0);
        let bytes = std::fs::read(&good).unwrap();
        let half = dir.path("half.flac");
        std::fs::write(&half, &bytes[..bytes.len() / 2]).unwrap();

        assert!(verify(&good).is_ok());
        let err = verify(&half).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");

        match open(
            &half,
            &OpenOptions {
                rate: RATE,
                offset: 0,
                looped: false,
                ring_frames: 8192,
            },
        ) {
            Err(err) => assert!(err.to_string().contains("half.flac"), "{err}"),
            Ok((source, _, watch)) => {
                let audio = drain(source);
                let reason = watch.failure().expect("the truncation is reported");
                assert!(reason.contains("truncated"), "{reason}");
                // What was there was played, and it was about half.
                let played = audio.len() / 2;
                assert!(played > 60_000 && played < 120_000, "{played}");
            }
        }
    }

    #[test]
    fn offset_at_or_past_the_end_is_refused() {
        let dir = Scratch::new("past-end");
        let path = tone(&dir, "short.wav", 440.0, RATE, 2, 1.0);
        for offset in [48_000, 1_000_000] {
            let err = open(
                &path,
                &OpenOptions {
                    rate: RATE,
                    offset,
                    looped: false,
                    ring_frames: 4096,
                },
            )
            .unwrap_err();
            assert!(matches!(err, DecodeError::OffsetPastEnd { .. }), "{err}");
        }
        let (source, info, _) = open_at(&path, RATE, 47_999);
        assert_eq!(info.duration, Some(1));
        assert_eq!(drain(source).len(), 2);
    }

    #[test]
    fn looped_source_runs_on_seamlessly() {
        let dir = Scratch::new("loop");
        let len = 3 * 4096;
        let path = ramp(&dir, "emergency.wav", len);
        let (mut source, _, watch) = open(
            &path,
            &OpenOptions {
                rate: RATE,
                offset: 0,
                looped: true,
                ring_frames: 4096,
            },
        )
        .unwrap();
        let mut audio = Vec::new();
        let mut buf = vec![0.0; 1000];
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while audio.len() / 2 < 5 * len as usize {
            let n = source.read(&mut buf);
            audio.extend_from_slice(&buf[..2 * n]);
            assert!(!source.is_exhausted(), "the looped source ended");
            assert!(std::time::Instant::now() < deadline);
        }
        // Every frame, across four loop points, is where it should be.
        for (i, frame) in audio.chunks(2).enumerate() {
            let want = ramp_value(i as u64 % len);
            assert!(
                (frame[0] - want).abs() < 1e-3,
                "frame {i}: {} is not {want}",
                frame[0]
            );
        }
        assert!(watch.frames_decoded() >= 5 * len - 4096);
        assert!(watch.failure().is_none());
    }

    #[test]
    fn consumed_frames_come_in_order_across_the_ring_wrap() {
        let dir = Scratch::new("consume");
        let len = 3 * 4096;
        let path = ramp(&dir, "ramp.wav", len);
        // 1000 frames of ring, taken 333 at a time: the ring wraps inside
        // every third take or so.
        let (mut source, _, _) = open(
            &path,
            &OpenOptions {
                rate: RATE,
                offset: 0,
                looped: false,
                ring_frames: 1000,
            },
        )
        .unwrap();
        let mut audio: Vec<f32> = Vec::new();
        let mut split = 0;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !source.is_exhausted() {
            // Whole takes only, so the takes drift against the ring's end.
            if source.buffered_frames() < 333 && !source.decoder_finished() {
                assert!(std::time::Instant::now() < deadline);
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            let mut pieces = 0;
            let got = source.consume(333, |frames| {
                assert_eq!(frames.len() % 2, 0, "a piece splits a frame");
                audio.extend_from_slice(frames);
                pieces += 1;
            });
            assert!(got <= 333);
            split += usize::from(pieces > 1);
        }
        assert!(split > 0, "the ring never wrapped inside a take");
        assert_eq!(audio.len() as u64, 2 * len);
        for (i, frame) in audio.chunks(2).enumerate() {
            let want = ramp_value(i as u64);
            assert!(
                (frame[0] - want).abs() < 1e-3 && (frame[1] - want).abs() < 1e-3,
                "frame {i}: {frame:?} is not {want}"
            );
        }
    }

    #[test]
    fn dropping_a_source_stops_its_decoder() {
        let dir = Scratch::new("drop");
        let path = tone(&dir, "loop.flac", 440.0, RATE, 2, 0.5);
        let (source, _, watch) = open(
            &path,
            &OpenOptions {
                rate: RATE,
                offset: 0,
                looped: true,
                ring_frames: 2048,
            },
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        // A looped source never finishes on its own…
        assert!(!watch.finished());
        drop(source);
        // …but stops once nobody reads it.
        let deadline = std::time::Instant::now() + Duration::from_millis(500);
        while !watch.finished() {
            assert!(
                std::time::Instant::now() < deadline,
                "the decoder thread kept running"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn surround_is_folded_down_to_stereo() {
        let dir = Scratch::new("surround");
        for ext in ["flac", "wav", "ogg"] {
            // Tone only in front-left, then only in the centre.
            for (name, pan) in [("left", "pan=5.1|FL=c0"), ("centre", "pan=5.1|FC=c0")] {
                let path = dir.path(&format!("{name}.{ext}"));
                let mut args = vec!["-af", pan];
                args.extend_from_slice(codec_args(ext));
                ffmpeg(
                    "aevalsrc=exprs='0.5*sin(2*PI*440*t)':s=48000:d=1",
                    &args,
                    &path,
                );
                let (source, info, _) = open_at(&path, RATE, 0);
                assert_eq!(info.file_channels, 6, "{name}.{ext}");
                let audio = drain(source);
                let (l, r) = (rms(&channel(&audio, 0)), rms(&channel(&audio, 1)));
                if name == "left" {
                    assert!(l > 0.05 && r < 0.01 * l, "{name}.{ext}: L {l} R {r}");
                } else {
                    assert!(
                        l > 0.05 && (l - r).abs() < 0.01 * l,
                        "{name}.{ext}: L {l} R {r}"
                    );
                }
            }
        }
    }

    #[test]
    fn damaged_stretch_is_skipped_counted_and_caught_by_verify() {
        let dir = Scratch::new("damaged");
        for ext in ["flac", "mp3", "m4a", "ogg"] {
            let good = tone(&dir, &format!("good.{ext}"), 440.0, RATE, 2, 4.0);
            let mut bytes = std::fs::read(&good).unwrap();
            // Scribble over 3000 bytes in the middle of the file.
            let mid = bytes.len() / 2;
            for (i, b) in bytes[mid..mid + 3000].iter_mut().enumerate() {
                *b = (i * 7919 % 251) as u8;
            }
            let bad = dir.path(&format!("bad.{ext}"));
            std::fs::write(&bad, &bytes).unwrap();
            assert!(verify(&good).is_ok(), "{ext}");
            let (source, _, watch) = open_at(&bad, RATE, 0);
            let audio = drain(source);
            // The audio before the damage plays.
            assert!(audio.len() / 2 > 90_000, "{ext}: {}", audio.len() / 2);
            if ext == "ogg" {
                // Symphonia's Ogg reader ends the stream quietly at a
                // damaged page and then knows no length for the file, so
                // neither playing nor `verify` can tell; the director sees
                // the programme end early.
                continue;
            }
            let err = verify(&bad).unwrap_err();
            assert!(matches!(err, DecodeError::Damaged { .. }), "{ext}: {err}");
            // The rest of the programme plays too, minus the damage, which
            // is counted (a skipped packet) or reported (audio missing).
            assert!(audio.len() / 2 > 180_000, "{ext}: {}", audio.len() / 2);
            assert!(
                watch.skipped_packets() > 0 || watch.failure().is_some(),
                "{ext}"
            );
        }
    }

    #[test]
    fn options_that_cannot_work_are_refused() {
        let dir = Scratch::new("options");
        let path = tone(&dir, "t.wav", 440.0, RATE, 2, 0.2);
        for (rate, ring_frames) in [(0, 4096), (RATE, 0)] {
            let err = open(
                &path,
                &OpenOptions {
                    rate,
                    offset: 0,
                    looped: false,
                    ring_frames,
                },
            )
            .unwrap_err();
            assert!(matches!(err, DecodeError::Options { .. }), "{err}");
        }
    }
}
