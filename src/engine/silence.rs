//! Is it silent? Runs of quiet and of sound, measured on the mixer thread
//! in 100 ms windows of RMS level, published as engine sample positions
//! for the director to judge against its thresholds (see
//! `director::silence`).
//!
//! A run of sound is not broken by a pause shorter than [`BRIDGE`]: speech
//! and music have gaps between words and notes, and "five seconds of audio
//! clears the alarm" means five seconds of a programme, not of unbroken tone.

use std::sync::atomic::{AtomicU64, Ordering};

/// Level measurement windows.
const WINDOW_MS: u32 = 100;
/// Quiet shorter than this does not end a run of sound.
const BRIDGE_MS: u32 = 500;
const NONE: u64 = u64::MAX;

/// The runs as the director reads them.
#[derive(Debug)]
pub struct QuietRuns {
    quiet_since: AtomicU64,
    sound_since: AtomicU64,
}

impl Default for QuietRuns {
    fn default() -> Self {
        QuietRuns {
            quiet_since: AtomicU64::new(NONE),
            sound_since: AtomicU64::new(NONE),
        }
    }
}

impl QuietRuns {
    /// The engine sample since which every window has been below the
    /// threshold; `None` while there is sound.
    pub fn quiet_since(&self) -> Option<u64> {
        Some(self.quiet_since.load(Ordering::Relaxed)).filter(|&s| s != NONE)
    }

    /// The engine sample since which there has been sound (pauses under
    /// half a second included); `None` while it is quiet.
    pub fn sound_since(&self) -> Option<u64> {
        Some(self.sound_since.load(Ordering::Relaxed)).filter(|&s| s != NONE)
    }
}

/// The mixer's side: fed every block, no allocation, no lock.
#[derive(Debug)]
pub struct SilenceWatch {
    /// Mean square level below which a window is quiet.
    threshold: f64,
    window: u64,
    bridge: u64,
    sum: f64,
    frames: u64,
    /// Engine sample of the current window's first frame.
    window_start: u64,
    quiet_start: Option<u64>,
    sound_start: Option<u64>,
}

impl SilenceWatch {
    /// A watch for quiet below `threshold_db` dBFS (RMS) at `rate` Hz.
    pub fn new(threshold_db: f32, rate: u32) -> Self {
        let amplitude = 10f64.powf(f64::from(threshold_db) / 20.0);
        SilenceWatch {
            threshold: amplitude * amplitude,
            window: u64::from(rate * WINDOW_MS / 1000).max(1),
            bridge: u64::from(rate * BRIDGE_MS / 1000),
            sum: 0.0,
            frames: 0,
            window_start: 0,
            quiet_start: None,
            sound_start: None,
        }
    }

    /// Measures interleaved stereo whose first frame is engine sample `at`.
    pub fn feed(&mut self, block: &[f32], at: u64, runs: &QuietRuns) {
        if self.frames == 0 {
            self.window_start = at;
        }
        for frame in block.chunks_exact(2) {
            let (l, r) = (f64::from(frame[0]), f64::from(frame[1]));
            self.sum += (l * l + r * r) * 0.5;
            self.frames += 1;
            if self.frames == self.window {
                let end = self.window_start + self.window;
                self.close_window(end, runs);
                self.window_start = end;
            }
        }
    }

    fn close_window(&mut self, end: u64, runs: &QuietRuns) {
        let quiet = self.sum / (self.frames as f64) < self.threshold;
        let start = self.window_start;
        self.sum = 0.0;
        self.frames = 0;
        if quiet {
            let since = *self.quiet_start.get_or_insert(start);
            if end - since >= self.bridge {
                self.sound_start = None;
            }
        } else {
            self.quiet_start = None;
            self.sound_start.get_or_insert(start);
        }
        runs.quiet_since
            .store(self.quiet_start.unwrap_or(NONE), Ordering::Relaxed);
        runs.sound_since
            .store(self.sound_start.unwrap_or(NONE), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 48_000;

    /// Feeds `seconds` of a tone at `amplitude` (0: digital silence) in
    /// 10 ms blocks, from engine sample `at`; returns the next sample.
    fn feed(
        watch: &mut SilenceWatch,
        runs: &QuietRuns,
        at: u64,
        seconds: f64,
        amplitude: f32,
    ) -> u64 {
        let frames = (seconds * f64::from(RATE)) as u64;
        let block = 480u64;
        let mut buf = vec![0.0f32; block as usize * 2];
        let mut t = at;
        while t < at + frames {
            for (i, frame) in buf.chunks_exact_mut(2).enumerate() {
                let phase = (t + i as u64) as f32 * 440.0 / RATE as f32;
                let s = amplitude * (phase * std::f32::consts::TAU).sin();
                frame[0] = s;
                frame[1] = s;
            }
            watch.feed(&buf, t, runs);
            t += block;
        }
        t
    }

    #[test]
    fn quiet_is_timed_from_its_first_window_and_ended_by_sound() {
        let mut watch = SilenceWatch::new(-40.0, RATE);
        let runs = QuietRuns::default();
        let t = feed(&mut watch, &runs, 0, 2.0, 0.5);
        assert_eq!(runs.sound_since(), Some(0));
        assert_eq!(runs.quiet_since(), None);
        // −46 dBFS RMS (a sine at 0.007 peak) is under −40: quiet.
        let quiet_from = t;
        let t = feed(&mut watch, &runs, t, 3.0, 0.007);
        assert_eq!(runs.quiet_since(), Some(quiet_from));
        assert_eq!(
            runs.sound_since(),
            None,
            "3 s of quiet ends the run of sound"
        );
        // −34 dBFS (0.028 peak) is over −40: sound again.
        let sound_from = t;
        feed(&mut watch, &runs, t, 1.0, 0.028);
        assert_eq!(runs.quiet_since(), None);
        assert_eq!(runs.sound_since(), Some(sound_from));
    }

    #[test]
    fn a_pause_between_words_does_not_end_a_run_of_sound() {
        let mut watch = SilenceWatch::new(-40.0, RATE);
        let runs = QuietRuns::default();
        let t = feed(&mut watch, &runs, 0, 1.0, 0.5);
        let t = feed(&mut watch, &runs, t, 0.3, 0.0);
        assert!(runs.quiet_since().is_some());
        assert_eq!(runs.sound_since(), Some(0), "a 300 ms pause is bridged");
        let t = feed(&mut watch, &runs, t, 1.0, 0.5);
        assert_eq!(runs.sound_since(), Some(0));
        // A 600 ms pause is not.
        let t = feed(&mut watch, &runs, t, 0.6, 0.0);
        assert_eq!(runs.sound_since(), None);
        feed(&mut watch, &runs, t, 0.2, 0.5);
        assert_eq!(runs.sound_since(), Some(t));
    }
}
