//! Station time: the wall clock on the box, or a simulated clock (start, speed)
//! for demos and tests, and the one mapping between engine samples and time.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, TimeDelta, Utc};

/// Where the simulated clock's timeline is kept inside the data folder.
pub const TIMELINE_FILE: &str = "simulated-clock";

#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    #[error("cannot keep the simulated clock's timeline in {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// The station's clock. Cheap to copy; every part of the box reads the same one.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    Wall,
    /// `start + (real now − epoch) × speed`; `epoch` is the real time at which
    /// the data folder first ran with this start and speed, so a restarted box
    /// carries on as if it had kept running.
    Simulated {
        start: DateTime<Utc>,
        speed: f64,
        epoch: SystemTime,
    },
}

impl Clock {
    /// A simulated clock whose timeline lives in `data_dir`. The timeline is
    /// reset when the start or speed in the configuration changes.
    pub fn simulated(
        start: DateTime<Utc>,
        speed: f64,
        data_dir: &Path,
    ) -> Result<Self, ClockError> {
        let path = data_dir.join(TIMELINE_FILE);
        let io = |source| ClockError::Io {
            path: path.display().to_string(),
            source,
        };
        let key = timeline_key(start, speed);
        if let Some(epoch) = saved_epoch(&path, &key) {
            return Ok(Clock::Simulated {
                start,
                speed,
                epoch,
            });
        }
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let epoch = SystemTime::now();
        let nanos = epoch
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, format!("{key}\n{nanos}\n")).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(Clock::Simulated {
            start,
            speed,
            epoch,
        })
    }

    /// The simulated clock as a reader of the data folder sees it (`onair
    /// schedule`, `onair log`): the box's timeline if it has started one with
    /// this start and speed, else the clock at its start now. Writes nothing,
    /// so that looking at the station beforehand does not move the time at
    /// which the box will begin.
    pub fn simulated_read_only(start: DateTime<Utc>, speed: f64, data_dir: &Path) -> Self {
        let path = data_dir.join(TIMELINE_FILE);
        let epoch = saved_epoch(&path, &timeline_key(start, speed)).unwrap_or_else(SystemTime::now);
        Clock::Simulated {
            start,
            speed,
            epoch,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match *self {
            Clock::Wall => Utc::now(),
            Clock::Simulated {
                start,
                speed,
                epoch,
            } => {
                let real = SystemTime::now().duration_since(epoch).unwrap_or_default();
                start + TimeDelta::nanoseconds((real.as_nanos() as f64 * speed) as i64)
            }
        }
    }

    /// Station seconds per real second.
    pub fn speed(&self) -> f64 {
        match *self {
            Clock::Wall => 1.0,
            Clock::Simulated { speed, .. } => speed,
        }
    }

    /// How long a stretch of station time takes in real time.
    pub fn real(&self, station: TimeDelta) -> Duration {
        let nanos = station.num_nanoseconds().unwrap_or(i64::MAX).max(0) as f64 / self.speed();
        Duration::from_nanos(nanos as u64)
    }

    /// How much station time passes in a stretch of real time.
    pub fn station(&self, real: Duration) -> TimeDelta {
        TimeDelta::nanoseconds((real.as_nanos() as f64 * self.speed()) as i64)
    }
}

fn timeline_key(start: DateTime<Utc>, speed: f64) -> String {
    format!("{} {}", start.to_rfc3339(), speed)
}

/// The epoch saved in the timeline file, if it was saved for `key`.
fn saved_epoch(path: &Path, key: &str) -> Option<SystemTime> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let (saved_key, nanos) = (lines.next()?, lines.next()?);
    let nanos = nanos.trim().parse::<u64>().ok()?;
    (saved_key == key).then(|| UNIX_EPOCH + Duration::from_nanos(nanos))
}

/// The engine's time: sample `n` is heard at `anchor + n / rate`.
/// Fixed once when the engine starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeline {
    pub rate: u32,
    pub anchor: DateTime<Utc>,
}

impl Timeline {
    pub fn time_of(&self, sample: u64) -> DateTime<Utc> {
        self.anchor + samples_to_delta(sample as i64, self.rate)
    }

    /// The sample heard at `t`, negative before the anchor.
    pub fn sample_at(&self, t: DateTime<Utc>) -> i64 {
        delta_to_samples(t - self.anchor, self.rate)
    }
}

pub fn samples_to_delta(samples: i64, rate: u32) -> TimeDelta {
    TimeDelta::nanoseconds(((samples as i128 * 1_000_000_000) / rate as i128) as i64)
}

/// Rounds to the nearest sample.
pub fn delta_to_samples(d: TimeDelta, rate: u32) -> i64 {
    let nanos = d.num_nanoseconds().unwrap_or(i64::MAX) as i128;
    let scaled = nanos * rate as i128;
    let half = 500_000_000i128 * scaled.signum();
    ((scaled + half) / 1_000_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_round_trips_samples() {
        let anchor = DateTime::parse_from_rfc3339("2026-03-29T00:59:30Z")
            .unwrap()
            .to_utc();
        let tl = Timeline {
            rate: 48_000,
            anchor,
        };
        for n in [0u64, 1, 47_999, 48_000, 172_800_000] {
            assert_eq!(tl.sample_at(tl.time_of(n)), n as i64);
        }
        assert_eq!(tl.sample_at(anchor - TimeDelta::seconds(1)), -48_000);
    }

    #[test]
    fn simulated_clock_keeps_its_timeline_per_data_folder() {
        let dir = std::env::temp_dir().join(format!("onair-clock-{}", std::process::id()));
        let start = DateTime::parse_from_rfc3339("2026-03-29T00:59:30Z")
            .unwrap()
            .to_utc();
        let a = Clock::simulated(start, 60.0, &dir).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let b = Clock::simulated(start, 60.0, &dir).unwrap();
        // The second opening continues the first timeline instead of restarting at `start`.
        assert!(
            b.now() - start >= TimeDelta::seconds(2),
            "{}",
            b.now() - start
        );
        assert!((a.now() - b.now()).num_milliseconds().abs() < 500);
        // A reader follows the saved timeline, and before there is one it
        // sees the clock at its start without saving a timeline.
        let read = Clock::simulated_read_only(start, 60.0, &dir);
        assert!((read.now() - b.now()).num_milliseconds().abs() < 500);
        let other = dir.join("never-run");
        let fresh = Clock::simulated_read_only(start, 60.0, &other);
        assert!(fresh.now() - start < TimeDelta::seconds(2));
        assert!(!other.exists(), "a reader must not create the data folder");
        // A new start in the configuration starts a new timeline.
        let c = Clock::simulated(start + TimeDelta::hours(1), 60.0, &dir).unwrap();
        assert!(c.now() - (start + TimeDelta::hours(1)) < TimeDelta::seconds(2));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn real_and_station_durations_follow_speed() {
        let c = Clock::Simulated {
            start: Utc::now(),
            speed: 60.0,
            epoch: SystemTime::now(),
        };
        assert_eq!(c.real(TimeDelta::seconds(60)), Duration::from_secs(1));
        assert_eq!(c.station(Duration::from_secs(1)), TimeDelta::seconds(60));
    }
}
