//! The archive's alarm. The archive's writer never holds up playout: a
//! disk that is full, read-only, unplugged or too slow costs archive audio
//! (counted as dropped, with write errors), never the programme. That loss
//! is silent on air, so it is an alarm: raised at the first loss, with how
//! much is gone, and cleared once the archive has kept a minute of
//! programme without losing more. A folder refused at start (a filesystem
//! that cannot hold the names) is an alarm for as long as the box runs.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Director;
use crate::output::OutputStats;
use crate::status::AlarmKind;

/// A minute of programme kept whole clears the alarm.
const CLEAR_AFTER_SECONDS: u64 = 60;

/// The archive as the station started it.
pub enum ArchiveWiring {
    /// Writing, with its writer's counters.
    Writing(Arc<OutputStats>),
    /// Refused at start: why.
    Refused(String),
}

pub(super) struct ArchiveWatch {
    wiring: ArchiveWiring,
    dropped_seen: u64,
    errors_seen: u64,
    /// The engine's position at the last loss seen.
    last_loss: Option<u64>,
}

impl ArchiveWatch {
    pub(super) fn new(wiring: ArchiveWiring) -> Self {
        ArchiveWatch {
            wiring,
            dropped_seen: 0,
            errors_seen: 0,
            last_loss: None,
        }
    }
}

impl Director {
    /// Looks at the archive's counters; called at every look ahead.
    pub(super) fn watch_archive(&mut self) {
        let position = self.engine.meters.position();
        let rate = u64::from(self.config.audio.sample_rate);
        let Some(watch) = &mut self.archive else {
            return;
        };
        let stats = match &watch.wiring {
            ArchiveWiring::Refused(why) => {
                let message = format!("the archive keeps nothing: {why}");
                self.raise(AlarmKind::Archive, message);
                return;
            }
            ArchiveWiring::Writing(stats) => stats,
        };
        let dropped = stats.frames_dropped.load(Ordering::Relaxed);
        let errors = stats.errors.load(Ordering::Relaxed);
        if dropped > watch.dropped_seen || errors > watch.errors_seen {
            watch.dropped_seen = dropped;
            watch.errors_seen = errors;
            watch.last_loss = Some(position);
            let message = format!(
                "the archive is losing audio: {} s lost, {errors} write error(s) since the start; \
                 check its disk (full, read-only or unplugged?) and the box's log",
                dropped / rate.max(1)
            );
            self.raise(AlarmKind::Archive, message);
        } else if watch
            .last_loss
            .is_some_and(|at| position.saturating_sub(at) >= CLEAR_AFTER_SECONDS * rate)
        {
            watch.last_loss = None;
            self.clear(
                AlarmKind::Archive,
                "the archive has kept a minute of programme without loss",
            );
        }
    }
}
