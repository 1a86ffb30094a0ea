//! Programme files → engine audio. [`open`] checks a file on the caller's
//! thread (probe, seek, first packets) so a bad file fails before it is cued;
//! a decoder thread then runs ahead of the mixer, converting the file to the
//! engine's format (interleaved stereo f32 at the engine rate) into a
//! lock-free ring that the mixer drains through the [`Source`].

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use symphonia::core::errors::{Error as MediaError, SeekErrorKind};
use symphonia::core::units::TimeBase;

use crate::output::CHANNELS;
use crate::pacing::Bell;

mod demux;
mod downmix;
mod resample;
mod thread;

use demux::{Decoded, Demux, LENGTH_SLACK};
use thread::{DecoderThread, Pipeline, Step};

/// Frames the ring is filled with before [`open`] returns, so a cue that
/// starts at once does not begin with an underrun.
const PRIME_FRAMES: usize = 8192;

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

/// How far the decoder thread has got and how it ended, shared with the
/// [`Source`] (the mixer) and the [`SourceWatch`] (the director).
#[derive(Debug, Default)]
struct DecoderProgress {
    finished: AtomicBool,
    frames: AtomicU64,
    skipped: AtomicU64,
    failure: Mutex<Option<String>>,
    /// Wakes the decoder thread: rung by whoever reads the ring when room
    /// for a good chunk has opened, and when the source is dropped.
    bell: Bell,
    /// The source has been dropped: the decoder stops.
    source_gone: AtomicBool,
}

impl DecoderProgress {
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
    progress: Arc<DecoderProgress>,
}

impl SourceWatch {
    /// Why the decoder stopped before the end of the file, if it did
    /// (e.g. "file ends early at 12:34 of 30:00 (truncated?)").
    pub fn failure(&self) -> Option<String> {
        self.progress
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Engine-rate frames delivered to the ring so far.
    pub fn frames_decoded(&self) -> u64 {
        self.progress.frames.load(Ordering::Acquire)
    }

    /// The decoder thread has stopped (end of file, failure, or the source
    /// was dropped).
    pub fn finished(&self) -> bool {
        self.progress.finished.load(Ordering::Acquire)
    }

    /// Damaged packets skipped, and stretches the reader stepped over (each
    /// is a few milliseconds of audio missing).
    pub fn skipped_packets(&self) -> u64 {
        self.progress.skipped.load(Ordering::Relaxed)
    }
}

/// One opened file, as the mixer sees it: a ring of interleaved stereo f32
/// at the engine rate. Reading never locks or allocates. Dropping it stops
/// the decoder thread; drop it off the real-time thread (it frees the ring).
pub struct Source {
    ring: rtrb::Consumer<f32>,
    progress: Arc<DecoderProgress>,
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
            Ok(()) => {
                self.taken(samples);
                samples / CHANNELS
            }
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
                self.taken(samples);
                samples / CHANNELS
            }
            Err(_) => 0,
        }
    }

    /// `samples` left the ring: the decoder, asleep on a full ring, is
    /// woken when that opened the room it waits for (once, not per read).
    fn taken(&self, samples: usize) {
        let room = self.ring.buffer().capacity() - self.ring.slots();
        self.progress.bell.ring_if_crossed(room, samples);
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
                self.taken(samples);
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
        self.progress.finished.load(Ordering::Acquire)
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
            progress: Arc::clone(&self.progress),
        }
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        // The ring is freed only after this: the flag tells the decoder now.
        self.progress.source_gone.store(true, Ordering::Release);
        self.progress.bell.ring();
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
    let progress = Arc::new(DecoderProgress::default());
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
    progress
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
    let mut decoder = DecoderThread {
        pipeline,
        ring: producer,
        progress: Arc::clone(&progress),
        done: false,
    };
    decoder.prime(PRIME_FRAMES.min(opts.ring_frames));

    let source = Source {
        ring,
        progress: Arc::clone(&progress),
    };
    let watch = source.watch();
    std::thread::Builder::new()
        .name("onair-decoder".into())
        .spawn(move || decoder.run())
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
mod tests;
