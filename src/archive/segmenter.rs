//! Cuts the encoder's MP3 into segments on frame boundaries and times
//! them. Time comes from counting: the engine's sample 0 is at a known
//! station instant (the timeline's anchor), every MP3 frame decodes to a
//! known number of samples, and programme the encoder never saw (the
//! mixer's drops) or MP3 the archive lost (its queue was full) is counted
//! too; the wall clock is never read.
//!
//! A segment's name is the station time of the first sample a decoder
//! gives for its first frame. LAME delays the programme by 576 samples and
//! an MP3 decoder by 529 more, so the decoder's sample `d` is the
//! encoder's input sample `d - 1105`: a segment starting at stream sample
//! `p` is named `anchor + (p - 1105) / rate`, and a player placing it there
//! plays the programme on time.
//!
//! A segment is `full` at its planned length (`segment_seconds` rounded to
//! whole frames: 250 frames at 48 kHz are exactly 6 s) and `partial` when
//! it had to be closed early: archive audio was lost after it, the
//! programme jumped (the mixer dropped a block before the encoder), or the
//! box stopped.

use std::collections::VecDeque;

use super::frames::FrameHeader;

/// LAME's encoder delay, in samples.
pub const ENCODER_DELAY: u64 = 576;
/// An MP3 decoder's delay (its synthesis filter bank), in samples.
pub const DECODER_DELAY: u64 = 529;
/// Both: how far the decoded MP3 lags the programme fed to the encoder.
pub const CODEC_DELAY: u64 = ENCODER_DELAY + DECODER_DELAY;

/// A finished segment, still in memory: whole MP3 frames, without the ID3 tag.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Microseconds since the Unix epoch of its first decoded sample.
    pub start_micros: i64,
    pub frames: u32,
    /// Samples (per channel, at `sample_rate`) it decodes to.
    pub samples: u64,
    pub sample_rate: u32,
    /// Closed at its planned length.
    pub full: bool,
    pub mp3: Vec<u8>,
}

impl Segment {
    pub fn duration(&self) -> f64 {
        self.samples as f64 / f64::from(self.sample_rate)
    }
}

/// Station time as the engine counts it.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Microseconds since the Unix epoch of the engine's sample 0.
    pub anchor_micros: i64,
    pub engine_rate: u32,
}

struct Open {
    start_micros: i64,
    frames: u32,
    samples: u64,
    sample_rate: u32,
    mp3: Vec<u8>,
}

pub struct Segmenter {
    timing: Timing,
    segment_seconds: u32,
    /// Stream samples of every frame so far, lost ones included.
    position: u64,
    /// Programme jumps not reached yet: (input frames encoded before the
    /// jump, frames skipped), at the engine's rate.
    jumps: VecDeque<(u64, u64)>,
    /// Frames skipped before the current position.
    skipped: u64,
    current: Option<Open>,
    /// The start of a frame cut off at the end of a chunk.
    carry: Vec<u8>,
}

impl Segmenter {
    pub fn new(timing: Timing, segment_seconds: u32) -> Self {
        Segmenter {
            timing,
            segment_seconds: segment_seconds.max(1),
            position: 0,
            jumps: VecDeque::with_capacity(16),
            skipped: 0,
            current: None,
            carry: Vec::with_capacity(2048),
        }
    }

    /// Frames a full segment has at this frame size and rate.
    pub fn frames_per_segment(&self, samples: u32, rate: u32) -> u32 {
        let exact = f64::from(self.segment_seconds) * f64::from(rate) / f64::from(samples);
        (exact.round() as u32).max(1)
    }

    /// The decoded start of a frame at stream sample `position`, in µs.
    fn micros_at(&self, position: u64, rate: u32) -> i64 {
        let offset = i128::from(position) - i128::from(CODEC_DELAY);
        let stream = (offset * 1_000_000).div_euclid(i128::from(rate));
        let skipped = i128::from(self.skipped) * 1_000_000 / i128::from(self.timing.engine_rate);
        self.timing.anchor_micros + (stream + skipped) as i64
    }

    /// The programme jumps by `frames` after `encoded` frames of input.
    pub fn jump(&mut self, encoded: u64, frames: u64) {
        if frames > 0 {
            self.jumps.push_back((encoded, frames));
        }
    }

    /// `samples` of stream were lost (their MP3 never reached the archive):
    /// the open segment ends there, partial.
    pub fn lost(&mut self, samples: u64, out: &mut impl FnMut(Segment)) {
        if samples == 0 {
            return;
        }
        self.close(false, out);
        self.carry.clear();
        self.position += samples;
    }

    /// Whole MP3 frames from the encoder, in order.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut impl FnMut(Segment)) {
        if !self.carry.is_empty() {
            // Complete the frame cut off at the end of the last chunk first.
            let mut carried = std::mem::take(&mut self.carry);
            let wanted = FrameHeader::parse(&carried).map_or(4, |h| h.length);
            let take = wanted.saturating_sub(carried.len()).min(bytes.len());
            carried.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if carried.len() < wanted && FrameHeader::parse(&carried).is_some() {
                self.carry = carried;
                return;
            }
            self.take_frames(&carried, out);
        }
        self.take_frames(bytes, out);
    }

    fn take_frames(&mut self, mut bytes: &[u8], out: &mut impl FnMut(Segment)) {
        while !bytes.is_empty() {
            let Some(header) = FrameHeader::parse(bytes) else {
                if bytes.len() < 4 {
                    self.carry.extend_from_slice(bytes);
                    return;
                }
                // Not a frame: look for the next one.
                bytes = &bytes[1..];
                continue;
            };
            if bytes.len() < header.length {
                self.carry.extend_from_slice(bytes);
                return;
            }
            self.frame(&bytes[..header.length], header, out);
            bytes = &bytes[header.length..];
        }
    }

    fn frame(&mut self, frame: &[u8], header: FrameHeader, out: &mut impl FnMut(Segment)) {
        // A jump in the programme that this frame's audio comes after.
        let input = (i128::from(self.position) - i128::from(CODEC_DELAY)).max(0) as u64
            * u64::from(self.timing.engine_rate)
            / u64::from(header.sample_rate);
        let mut jumped = false;
        while let Some(&(encoded, frames)) = self.jumps.front() {
            if input < encoded {
                break;
            }
            self.jumps.pop_front();
            self.skipped += frames;
            jumped = true;
        }
        if jumped {
            self.close(false, out);
        }
        let start_micros = self.micros_at(self.position, header.sample_rate);
        let open = self.current.get_or_insert_with(|| Open {
            start_micros,
            frames: 0,
            samples: 0,
            sample_rate: header.sample_rate,
            mp3: Vec::with_capacity(frame.len() * 260),
        });
        open.mp3.extend_from_slice(frame);
        open.frames += 1;
        open.samples += u64::from(header.samples);
        self.position += u64::from(header.samples);
        let planned = self.frames_per_segment(header.samples, header.sample_rate);
        if self.current.as_ref().is_some_and(|o| o.frames >= planned) {
            self.close(true, out);
        }
    }

    /// Ends the open segment: `full` when it reached its planned length.
    fn close(&mut self, full: bool, out: &mut impl FnMut(Segment)) {
        if let Some(open) = self.current.take() {
            out(Segment {
                start_micros: open.start_micros,
                frames: open.frames,
                samples: open.samples,
                sample_rate: open.sample_rate,
                full,
                mp3: open.mp3,
            });
        }
    }

    /// The encoder has finished: what is open is written, partial.
    pub fn finish(&mut self, out: &mut impl FnMut(Segment)) {
        self.close(false, out);
    }
}

#[cfg(test)]
mod tests;
