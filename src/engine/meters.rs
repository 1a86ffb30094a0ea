//! What the engine is doing, as atomics: written by the mixer once per
//! block, read by anyone (status page, panel, watchdog) without locks.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::ItemId;

/// −60 dBFS: below this the output counts as silent (dead-air detection).
pub const SILENCE_THRESHOLD: f32 = 0.001;

#[derive(Debug, Default)]
pub struct Meters {
    position: AtomicU64,
    heartbeat: AtomicU64,
    on_air: AtomicU64,
    peak_left: AtomicU32,
    peak_right: AtomicU32,
    silence: AtomicU64,
    underruns: AtomicU64,
    /// Quiet and sound on the programme output (dead air).
    pub programme: super::silence::QuietRuns,
    #[cfg(test)]
    pub(crate) allocations: AtomicU64,
}

impl Meters {
    pub fn new() -> Self {
        Self::default()
    }

    /// Frames the engine has produced (its clock: see [`crate::clock::Timeline`]).
    pub fn position(&self) -> u64 {
        self.position.load(Ordering::Acquire)
    }

    /// Goes up by one every block; stuck means the engine is stuck.
    pub fn heartbeat(&self) -> u64 {
        self.heartbeat.load(Ordering::Acquire)
    }

    /// The item heard now (the latest to start of those playing).
    pub fn on_air(&self) -> Option<ItemId> {
        match self.on_air.load(Ordering::Relaxed) {
            0 => None,
            id => Some(id),
        }
    }

    /// Peak sample level of the last block, left and right, 0.0 to 1.0.
    pub fn peak(&self) -> (f32, f32) {
        (
            f32::from_bits(self.peak_left.load(Ordering::Relaxed)),
            f32::from_bits(self.peak_right.load(Ordering::Relaxed)),
        )
    }

    /// The same in dBFS (−∞ for digital silence).
    pub fn peak_dbfs(&self) -> (f32, f32) {
        let (l, r) = self.peak();
        (20.0 * l.log10(), 20.0 * r.log10())
    }

    /// Frames the output has been below −60 dBFS without a break, up to now.
    pub fn silence_frames(&self) -> u64 {
        self.silence.load(Ordering::Relaxed)
    }

    /// Frames a playing item could not deliver in time (its decoder fell
    /// behind), played as silence.
    pub fn underrun_frames(&self) -> u64 {
        self.underruns.load(Ordering::Relaxed)
    }

    /// The mixer's report for one block of interleaved stereo.
    pub(crate) fn record_block(&self, block: &[f32], end_position: u64, on_air: Option<ItemId>) {
        let (peak_l, peak_r) = stereo_peaks(block);
        // Only the quiet tail of the block matters: a run of silence is
        // broken by any louder frame, so count back from the end until one.
        let frames = block.len() / 2;
        let quiet_tail = block
            .chunks_exact(2)
            .rev()
            .take_while(|frame| frame[0].abs().max(frame[1].abs()) < SILENCE_THRESHOLD)
            .count();
        let silence = if quiet_tail == frames {
            self.silence.load(Ordering::Relaxed) + frames as u64
        } else {
            quiet_tail as u64
        };
        self.peak_left.store(peak_l.to_bits(), Ordering::Relaxed);
        self.peak_right.store(peak_r.to_bits(), Ordering::Relaxed);
        self.silence.store(silence, Ordering::Relaxed);
        self.on_air.store(on_air.unwrap_or(0), Ordering::Relaxed);
        self.position.store(end_position, Ordering::Release);
        self.heartbeat.fetch_add(1, Ordering::Release);
    }

    pub(crate) fn add_underrun(&self, frames: u64) {
        self.underruns.fetch_add(frames, Ordering::Relaxed);
    }
}

/// The largest absolute left and right sample of interleaved stereo.
///
/// Kept in eight independent lanes (four frames) so the compiler turns it
/// into vector max instructions: `if a > m` is exactly what they do, where
/// `f32::max` would have to care about NaN ordering one sample at a time.
fn stereo_peaks(block: &[f32]) -> (f32, f32) {
    const LANES: usize = 8;
    let mut lanes = [0.0f32; LANES];
    let mut chunks = block.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (peak, s) in lanes.iter_mut().zip(chunk) {
            let a = s.abs();
            *peak = if a > *peak { a } else { *peak };
        }
    }
    for (peak, s) in lanes.iter_mut().zip(chunks.remainder()) {
        let a = s.abs();
        *peak = if a > *peak { a } else { *peak };
    }
    // Even lanes hold left samples, odd lanes right ones.
    let side = |first: usize| {
        lanes
            .iter()
            .skip(first)
            .step_by(2)
            .fold(0.0f32, |m, p| m.max(*p))
    };
    (side(0), side(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_sets_peaks_position_and_heartbeat() {
        let m = Meters::new();
        assert_eq!(m.on_air(), None);
        let block = [0.5, -0.25, -0.75, 0.1, 0.0, 0.0];
        m.record_block(&block, 3, Some(7));
        assert_eq!(m.peak(), (0.75, 0.25));
        assert_eq!((m.position(), m.heartbeat(), m.on_air()), (3, 1, Some(7)));
        let (l, _) = m.peak_dbfs();
        assert!((l - -2.4988).abs() < 0.01, "{l}");
        // The run of silence is the quiet tail, not every quiet frame.
        assert_eq!(m.silence_frames(), 1);
    }

    #[test]
    fn silence_runs_across_blocks_and_breaks_on_sound() {
        let m = Meters::new();
        // −61 dBFS counts as silence, −59 dBFS does not.
        let quiet = [0.00089f32; 2 * 100];
        let audible = [0.0011f32, 0.0];
        m.record_block(&quiet, 100, None);
        m.record_block(&quiet, 200, None);
        assert_eq!(m.silence_frames(), 200);
        m.record_block(&audible, 201, None);
        assert_eq!(m.silence_frames(), 0);
        assert_eq!(m.peak_dbfs().1, f32::NEG_INFINITY);
    }

    #[test]
    fn peaks_and_the_quiet_tail_are_found_anywhere_in_a_long_block() {
        // A 10 ms block at 48 kHz plus an odd few frames, so the loudest
        // samples can sit in any lane and in the leftover frames.
        let frames = 483;
        for loud_at in [0, 1, 7, 240, 479, 480, 482] {
            let mut block = vec![0.0f32; 2 * frames];
            for (i, s) in block.iter_mut().enumerate() {
                *s = 0.1 * ((i * 37 % 11) as f32 / 11.0 - 0.5);
            }
            // Negative peaks count by their size; right is the louder side.
            block[2 * loud_at] = -0.6;
            block[2 * (frames - 1 - loud_at) + 1] = 0.9;
            // Quiet from frame 400 on, except where the peaks are.
            for s in &mut block[800..] {
                *s *= 0.001;
            }
            block[2 * loud_at] = -0.6;
            block[2 * (frames - 1 - loud_at) + 1] = 0.9;
            let m = Meters::new();
            m.record_block(&block, frames as u64, None);
            assert_eq!(m.peak(), (0.6, 0.9), "loud at {loud_at}");

            // The run of silence, frame by frame, as a listener counts it.
            let mut want = 0u64;
            for frame in block.chunks_exact(2) {
                let quiet = frame[0].abs().max(frame[1].abs()) < SILENCE_THRESHOLD;
                want = if quiet { want + 1 } else { 0 };
            }
            assert_eq!(m.silence_frames(), want, "loud at {loud_at}");
        }
    }

    #[test]
    fn underruns_add_up() {
        let m = Meters::new();
        m.add_underrun(10);
        m.add_underrun(5);
        assert_eq!(m.underrun_frames(), 15);
    }
}
