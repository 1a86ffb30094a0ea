//! The programme's levels as the encoder takes it: how the archive draws a
//! segment's peaks without decoding the segment.
//!
//! Decoding each 6 s segment to find its peaks cost about 10 ms of CPU,
//! most of what the archive's writer did. The encoder's thread already
//! holds the programme it encodes, so the archive's feed folds it there
//! into grains, the lowest and highest sample of every [`GRAIN_FRAMES`]
//! frames (a compare per sample, nothing allocated), and hands them to the
//! writer with the MP3 they became. The writer keeps the last minute of
//! grains ([`LevelTrack`]) and folds those a segment spans into the
//! sidecar's 10 ms buckets.
//!
//! Grains lie on a grid of station frames counted as the segmenter counts
//! them (programme encoded plus programme skipped), so a segment's named
//! start, which is station time, finds its grains directly; a bucket's
//! edges land within one grain (0.7 ms) of where a decoder would put them,
//! far less than a pixel of any waveform. The picture is of the programme
//! the encoder took, not of the MP3 decoded: the same shape, up to the
//! codec's error, which at a bucket's extremes is a few hundredths.
//!
//! Where grains do not cover a segment, the writer decodes it as before:
//! the first segment of a run begins before the programme's first sample
//! (by the codec's delay), a skip in the programme starts the grid anew,
//! and a chunk the feed had to drop took its grains with it.

use std::collections::VecDeque;

use super::peaks::{Bucket, Peaks, samples_per_bucket, scale};
use crate::output::CHANNELS;

/// Frames of programme in one grain.
pub const GRAIN_FRAMES: u64 = 32;
/// Grains one hand-out can carry: 0.7 s at 48 kHz, more than the encoder
/// takes between two chunks (a runner writes at most 16 384 frames).
pub const HANDOUT_GRAINS: usize = 1024;
/// Grains the writer keeps: a minute at 48 kHz, several segments more
/// than the codec and the queue hold back.
const TRACK_GRAINS: usize = 90_000;

/// The lowest and highest sample of a grain, ×127 as in the sidecar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grain {
    pub min: i8,
    pub max: i8,
}

/// The grains of programme the encoder took between two hand-outs, one
/// unbroken run. A fixed array, so handing it out allocates nothing.
#[derive(Clone)]
pub struct Levels {
    /// The station frame the first grain begins at.
    pub first: u64,
    len: usize,
    grains: [Grain; HANDOUT_GRAINS],
}

impl std::fmt::Debug for Levels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Levels({} grains from frame {})", self.len, self.first)
    }
}

impl Levels {
    pub fn starting_at(first: u64) -> Self {
        Levels {
            first,
            len: 0,
            grains: [Grain::default(); HANDOUT_GRAINS],
        }
    }

    pub fn grains(&self) -> &[Grain] {
        &self.grains[..self.len]
    }

    /// The station frame just after the last grain.
    fn end(&self) -> u64 {
        self.first + self.len as u64 * GRAIN_FRAMES
    }
}

/// The feed's side: folds the programme into grains as the encoder takes it.
pub struct LevelMeter {
    pending: Levels,
    /// The open grain: its extremes and frames so far.
    low: f32,
    high: f32,
    filled: u64,
}

impl Default for LevelMeter {
    fn default() -> Self {
        LevelMeter {
            pending: Levels::starting_at(0),
            low: 0.0,
            high: 0.0,
            filled: 0,
        }
    }
}

impl LevelMeter {
    /// Interleaved stereo programme, as the encoder takes it.
    pub fn programme(&mut self, samples: &[f32]) {
        for frame in samples.chunks_exact(CHANNELS) {
            for &s in frame {
                self.low = self.low.min(s);
                self.high = self.high.max(s);
            }
            self.filled += 1;
            if self.filled == GRAIN_FRAMES {
                self.close_grain();
            }
        }
    }

    fn close_grain(&mut self) {
        let grain = Grain {
            min: scale(self.low),
            max: scale(self.high),
        };
        (self.low, self.high, self.filled) = (0.0, 0.0, 0);
        if self.pending.len == HANDOUT_GRAINS {
            // No hand-out for longer than a run holds: the older grains
            // go (their segments are decoded instead), the run goes on.
            self.pending = Levels::starting_at(self.pending.end());
        }
        self.pending.grains[self.pending.len] = grain;
        self.pending.len += 1;
    }

    /// `frames` of programme are missing here: the grid starts anew after
    /// them, and the grains not handed out yet go.
    pub fn skipped(&mut self, frames: u64) {
        let position = self.pending.end() + self.filled + frames;
        self.pending = Levels::starting_at(position);
        (self.low, self.high, self.filled) = (0.0, 0.0, 0);
    }

    /// The whole grains since the last hand-out; the open one stays.
    pub fn hand_out(&mut self) -> Levels {
        let next = Levels::starting_at(self.pending.end());
        std::mem::replace(&mut self.pending, next)
    }
}

/// The writer's side: the last stretch of grains, unbroken.
#[derive(Default)]
pub struct LevelTrack {
    first: u64,
    grains: VecDeque<Grain>,
}

impl LevelTrack {
    pub fn add(&mut self, levels: &Levels) {
        if levels.len == 0 {
            return;
        }
        if self.end() != levels.first {
            self.grains.clear();
            self.first = levels.first;
        }
        self.grains.extend(levels.grains());
        let over = self.grains.len().saturating_sub(TRACK_GRAINS);
        self.grains.drain(..over);
        self.first += over as u64 * GRAIN_FRAMES;
    }

    fn end(&self) -> u64 {
        self.first + self.grains.len() as u64 * GRAIN_FRAMES
    }

    /// The peaks of `frames` of programme from station frame `start` at
    /// `rate` Hz, in the sidecar's buckets; `None` unless the grains cover
    /// it all. A bucket takes every grain it touches.
    pub fn peaks(&self, start: u64, frames: u64, rate: u32) -> Option<Peaks> {
        let end = start + frames;
        if frames == 0 || start < self.first || end > self.end() {
            return None;
        }
        let per_bucket = samples_per_bucket(rate) as u64;
        let count = frames.div_ceil(per_bucket);
        let buckets = (0..count)
            .map(|i| {
                let from = start + i * per_bucket;
                let to = (from + per_bucket).min(end);
                let first = (from - self.first) / GRAIN_FRAMES;
                let last = (to - self.first).div_ceil(GRAIN_FRAMES);
                self.grains.range(first as usize..last as usize).fold(
                    Bucket { min: 0, max: 0 },
                    |b, g| Bucket {
                        min: b.min.min(g.min),
                        max: b.max.max(g.max),
                    },
                )
            })
            .collect();
        Some(Peaks {
            bucket_micros: super::peaks::BUCKET_MICROS,
            buckets,
        })
    }

    /// Grains before station frame `frame` are no longer needed.
    pub fn forget_before(&mut self, frame: u64) {
        let over = (frame.saturating_sub(self.first) / GRAIN_FRAMES).min(self.grains.len() as u64);
        self.grains.drain(..over as usize);
        self.first += over * GRAIN_FRAMES;
    }
}

#[cfg(test)]
mod tests;
