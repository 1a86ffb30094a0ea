//! The stream's frames into segments, without decoding or re-encoding:
//! whole frames, as they came, split at frame boundaries every
//! `segment_seconds` (rounded to whole frames, as the archive's own
//! segmenter does). Times are positions on the counted timeline
//! ([`timing`](super::timing)); a segment gets its name when written.

use super::framer::Format;

/// A segment cut, not yet written.
#[derive(Debug, Clone, PartialEq)]
pub struct Cut {
    pub format: Format,
    /// The position of its first sample on the anchor's timeline.
    pub position: u64,
    pub samples: u64,
    pub frames: u32,
    /// Closed at its planned length; otherwise partial.
    pub full: bool,
    /// Whole frames, the stream's own bytes.
    pub audio: Vec<u8>,
}

impl Cut {
    pub fn seconds(&self) -> f64 {
        self.samples as f64 / f64::from(self.format.sample_rate)
    }
}

/// Frames of a segment in the making.
pub struct Cutter {
    segment_seconds: u32,
    open: Option<Cut>,
}

/// Frames a full segment holds: `segment_seconds` in whole frames.
pub fn frames_per_segment(segment_seconds: u32, samples: u32, rate: u32) -> u32 {
    let exact = f64::from(segment_seconds.max(1)) * f64::from(rate) / f64::from(samples.max(1));
    (exact.round() as u32).max(1)
}

impl Cutter {
    pub fn new(segment_seconds: u32) -> Self {
        Cutter {
            segment_seconds: segment_seconds.max(1),
            open: None,
        }
    }

    /// Seconds of audio in the open segment.
    pub fn open_seconds(&self) -> f64 {
        self.open.as_ref().map_or(0.0, Cut::seconds)
    }

    /// Adds a frame at `position`; returns the segment it completes.
    pub fn frame(
        &mut self,
        format: Format,
        position: u64,
        samples: u32,
        bytes: &[u8],
    ) -> Option<Cut> {
        let open = self.open.get_or_insert_with(|| Cut {
            format,
            position,
            samples: 0,
            frames: 0,
            full: false,
            audio: Vec::with_capacity(bytes.len() * 300),
        });
        open.audio.extend_from_slice(bytes);
        open.samples += u64::from(samples);
        open.frames += 1;
        let planned = frames_per_segment(self.segment_seconds, samples, format.sample_rate);
        if open.frames >= planned {
            let mut done = self.open.take()?;
            done.full = true;
            return Some(done);
        }
        None
    }

    /// Closes the open segment early: `partial`.
    pub fn close(&mut self) -> Option<Cut> {
        self.open.take()
    }
}
