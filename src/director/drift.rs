//! The sound card's clock against the station clock.
//!
//! With a device output the card's crystal paces the engine, and it never
//! runs at exactly its nominal rate: tens of parts per million, seconds a
//! day. The engine's sample count would drift from the wall clock and
//! programmes would start early or late. The director watches how far the
//! engine runs ahead of the clock, averaged over the last second to smooth
//! the device's period-sized steps, and shifts its cue positions by how
//! much that lead has changed since start-up.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};

use crate::clock::Timeline;

/// Readings averaged for one estimate.
const WINDOW: Duration = Duration::from_secs(1);
/// Time for the rings and the device to settle before the baseline is taken.
const SETTLE: Duration = Duration::from_secs(2);

pub struct Drift {
    enabled: bool,
    start: Instant,
    readings: VecDeque<(Instant, i64)>,
    sum: i128,
    baseline: Option<i64>,
}

impl Drift {
    /// `enabled` only for a device-paced engine: a clock-paced engine
    /// cannot drift from the clock that paces it.
    pub fn new(enabled: bool, start: Instant) -> Self {
        Drift {
            enabled,
            start,
            readings: VecDeque::new(),
            sum: 0,
            baseline: None,
        }
    }

    /// Whether readings are wanted at all (a device paces the engine).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// One reading: the engine's position and the station clock at real time `at`.
    pub fn observe(&mut self, timeline: &Timeline, position: u64, now: DateTime<Utc>, at: Instant) {
        if !self.enabled || position == 0 {
            return;
        }
        let lead = (timeline.time_of(position) - now)
            .num_nanoseconds()
            .unwrap_or(0);
        self.readings.push_back((at, lead));
        self.sum += lead as i128;
        while let Some(&(t, old)) = self.readings.front() {
            if at.duration_since(t) <= WINDOW {
                break;
            }
            self.readings.pop_front();
            self.sum -= old as i128;
        }
        if self.baseline.is_none() && at.duration_since(self.start) >= SETTLE + WINDOW {
            self.baseline = Some(self.mean());
        }
    }

    fn mean(&self) -> i64 {
        if self.readings.is_empty() {
            return 0;
        }
        (self.sum / self.readings.len() as i128) as i64
    }

    /// How far the engine's samples have moved from the station clock since
    /// start-up: positive when the device runs fast.
    pub fn correction(&self) -> TimeDelta {
        match self.baseline {
            Some(baseline) => TimeDelta::nanoseconds(self.mean() - baseline),
            None => TimeDelta::zero(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Readings every 5 ms for `seconds` of real time, the device running
    /// `fast` (1.01 = 1 % fast) against the clock.
    fn run(drift: &mut Drift, t0: Instant, from_ms: u64, to_ms: u64, fast: f64) {
        let anchor = DateTime::parse_from_rfc3339("2026-03-02T00:00:00Z")
            .unwrap()
            .to_utc();
        let tl = Timeline {
            rate: 48_000,
            anchor,
        };
        for ms in (from_ms..to_ms).step_by(5) {
            // The device takes audio in 10 ms periods: the position steps.
            let position = ((ms / 10 * 10) as f64 * 48.0 * fast) as u64 + 2400;
            let now = anchor + TimeDelta::milliseconds(ms as i64);
            drift.observe(&tl, position, now, t0 + Duration::from_millis(ms));
        }
    }

    #[test]
    fn a_fast_device_shows_as_a_growing_correction() {
        let t0 = Instant::now();
        let mut drift = Drift::new(true, t0);
        run(&mut drift, t0, 5, 3000, 1.01);
        assert!(
            drift.correction().num_milliseconds().abs() <= 1,
            "{:?}",
            drift.correction()
        );
        // A second later the engine is 10 ms further ahead of the clock.
        run(&mut drift, t0, 3000, 4000, 1.01);
        let ms = drift.correction().num_milliseconds();
        assert!(
            (9..=11).contains(&ms),
            "correction {ms} ms after a second at 1 % fast"
        );
    }

    #[test]
    fn a_device_on_time_or_a_clock_paced_engine_needs_no_correction() {
        let t0 = Instant::now();
        let mut on_time = Drift::new(true, t0);
        run(&mut on_time, t0, 5, 10_000, 1.0);
        assert!(
            on_time.correction().num_milliseconds().abs() <= 1,
            "{:?}",
            on_time.correction()
        );
        let mut paced = Drift::new(false, t0);
        run(&mut paced, t0, 5, 10_000, 1.01);
        assert_eq!(paced.correction(), TimeDelta::zero());
    }
}
