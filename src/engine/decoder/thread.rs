//! The decoder thread: decoded packets become engine audio (downmixed,
//! resampled, interleaved) and go into the source's ring, running ahead of
//! the mixer; asleep while the ring is full until the mixer rings.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::DecoderProgress;
use super::demux::{Decoded, Demux, LENGTH_SLACK};
use super::downmix::Downmix;
use super::resample::Resampler;
use crate::output::CHANNELS;
use crate::pacing::{self, Bell};

pub(super) enum Step {
    /// Frames of file audio taken after the seek point (0 while still
    /// dropping the frames before it).
    Audio(usize),
    Skipped,
    End,
    Failed(String),
}

/// Decoded file audio → engine audio: downmix, resample, interleave.
pub(super) struct Pipeline {
    pub(super) demux: Demux,
    pub(super) engine_rate: u32,
    pub(super) looped: bool,
    /// File frames before this one are dropped (the accurate seek lands on
    /// the packet before the wanted frame).
    pub(super) drop_before: u64,
    pub(super) mix: Downmix,
    pub(super) file_channels: usize,
    /// Surround audio folded down to stereo.
    pub(super) left: Vec<f32>,
    pub(super) right: Vec<f32>,
    pub(super) resampler: Option<Resampler>,
    pub(super) resample_error: Option<String>,
    /// Interleaved engine-rate frames not yet in the ring.
    pub(super) out: Vec<f32>,
    pub(super) out_sent: usize,
    /// File frames taken in the current pass through the file (loop guard).
    pub(super) pass_frames: u64,
}

impl Pipeline {
    pub(super) fn new(demux: Demux, engine_rate: u32, drop_before: u64, looped: bool) -> Self {
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

    pub(super) fn step(&mut self) -> Step {
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
pub(super) struct DecoderThread {
    pub(super) pipeline: Pipeline,
    pub(super) ring: rtrb::Producer<f32>,
    pub(super) progress: Arc<DecoderProgress>,
    pub(super) done: bool,
}

impl DecoderThread {
    /// Moves waiting audio into the ring; true when nothing is left waiting.
    fn flush(&mut self) -> bool {
        let pending = self.pipeline.pending();
        let samples = self.ring.slots().min(pending.len()) / CHANNELS * CHANNELS;
        if samples > 0 && self.ring.push_entire_slice(&pending[..samples]).is_ok() {
            self.pipeline.out_sent += samples;
            self.progress
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
                self.progress.fail(reason);
                self.done = true;
            }
        }
        // Written only when it changes: the director's side reads this
        // cache line, and a store per packet would keep pulling it over.
        let damaged = self.pipeline.demux.damaged;
        if damaged != self.progress.skipped.load(Ordering::Relaxed) {
            self.progress.skipped.store(damaged, Ordering::Relaxed);
        }
        if let Some(reason) = self.pipeline.resample_error.take() {
            self.progress.fail(format!("resampling failed: {reason}"));
            self.done = true;
        }
    }

    /// Fills the ring with at least `frames` frames (or the whole file) on
    /// the caller's thread.
    pub(super) fn prime(&mut self, frames: usize) {
        while !self.done && self.ring.buffer().capacity() - self.ring.slots() < frames * CHANNELS {
            if !self.flush() {
                return;
            }
            self.advance();
        }
        self.flush();
    }

    fn gone(&self) -> bool {
        self.progress.source_gone.load(Ordering::Acquire) || self.ring.is_abandoned()
    }

    pub(super) fn run(mut self) {
        let room = (self.ring.buffer().capacity() / pacing::DECODER_REFILL_PARTS).max(CHANNELS);
        self.progress.bell.answer(room);
        loop {
            if self.gone() {
                break;
            }
            if !self.flush() {
                // The ring is full: asleep until the reader rings that
                // `room` has opened (or the source is dropped).
                while self.ring.slots() < room && !self.gone() {
                    Bell::wait(pacing::DECODER_NAP);
                }
                continue;
            }
            if self.done {
                break;
            }
            self.advance();
        }
        self.progress.finished.store(true, Ordering::Release);
    }
}
