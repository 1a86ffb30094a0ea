//! Station times turned into engine samples, each time once.
//!
//! The sound card's drift correction moves while the box runs. Two items
//! that meet at a boundary (filler fading out at 10:00, the programme
//! starting there) are cued at different moments. Converting the boundary
//! each time with the correction of that moment leaves a hole between them,
//! or an overlap, as wide as the correction moved in between: tens of
//! samples, heard on air as a click. So a boundary's sample is fixed the
//! first time it is asked for, and every item that meets there gets the
//! same one. A boundary first converted minutes ahead (the end of the
//! filler cued before a programme) keeps the correction of then: a card
//! 50 ppm off moves 3 ms a minute, so the programme may start a few
//! milliseconds off the correction of the moment, never with a gap.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};

/// How long a boundary is remembered after it has passed: a late cue for a
/// time just gone still meets what was cued for it.
const KEEP: TimeDelta = TimeDelta::minutes(10);

#[derive(Default)]
pub struct Boundaries {
    // The director's own; a lock only so that converting stays `&self`.
    fixed: Mutex<BTreeMap<DateTime<Utc>, u64>>,
}

impl Boundaries {
    /// The sample for station time `t`: the one given before, or
    /// `convert(t)` fixed from now on. Boundaries older than `now` by more
    /// than [`KEEP`] are forgotten.
    pub fn sample(
        &self,
        t: DateTime<Utc>,
        now: DateTime<Utc>,
        convert: impl FnOnce(DateTime<Utc>) -> u64,
    ) -> u64 {
        let mut fixed = self.fixed.lock().unwrap_or_else(|e| e.into_inner());
        if fixed
            .first_key_value()
            .is_some_and(|(&oldest, _)| oldest < now - KEEP)
        {
            *fixed = fixed.split_off(&(now - KEEP));
        }
        *fixed.entry(t).or_insert_with(|| convert(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, h, m, 0).unwrap()
    }

    #[test]
    fn a_boundary_keeps_its_first_sample_when_the_correction_moves() {
        let boundaries = Boundaries::default();
        let now = at(9, 59);
        // The filler's end is converted first, with one correction...
        assert_eq!(boundaries.sample(at(10, 0), now, |_| 1_000_000), 1_000_000);
        // ...the programme's start later, with the correction moved by 40
        // samples: it still meets the filler to the sample.
        assert_eq!(boundaries.sample(at(10, 0), now, |_| 1_000_040), 1_000_000);
        // Another time is converted afresh.
        assert_eq!(boundaries.sample(at(10, 30), now, |_| 2_000_040), 2_000_040);
    }

    #[test]
    fn boundaries_long_past_are_forgotten() {
        let boundaries = Boundaries::default();
        boundaries.sample(at(10, 0), at(9, 59), |_| 5);
        boundaries.sample(at(10, 30), at(9, 59), |_| 7);
        // Eleven minutes after 10:00 that boundary is gone, 10:30 is kept.
        assert_eq!(boundaries.sample(at(10, 30), at(10, 11), |_| 99), 7);
        assert_eq!(boundaries.sample(at(10, 0), at(10, 11), |_| 6), 6);
        assert_eq!(boundaries.fixed.lock().unwrap().len(), 2);
    }
}
