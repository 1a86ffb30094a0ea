//! Following the track list of a programme on air: which track is heard
//! now, and which tracks began since the last look, each at the moment it
//! went on air (worked out from the programme's start, not from when the
//! director happened to look).

use std::collections::HashSet;

use chrono::{DateTime, TimeDelta, Utc};

use std::path::Path;

use tracing::{error, info};

use super::Director;
use crate::asrun::{self, Ended, NewTrack};
use crate::tracks::TrackList;

/// One programme's track list as it plays.
pub struct TrackFollower {
    pub list: TrackList,
    /// The track heard at the last look.
    current: Option<usize>,
    /// The as-run entry of that track, when this run logged it.
    pub open: Option<u64>,
    /// Offsets (ms) of the tracks of this slot already in the log.
    pub logged: HashSet<u64>,
}

impl TrackFollower {
    pub fn new(list: TrackList, logged: HashSet<u64>) -> Self {
        TrackFollower {
            list,
            current: None,
            open: None,
            logged,
        }
    }

    /// The track heard at the last look, as the streams show it.
    pub fn now_playing(&self) -> Option<String> {
        self.current
            .and_then(|i| self.list.tracks.get(i))
            .map(|t| t.now_playing())
    }

    /// The tracks that went on air up to `heard`, in order, each with the
    /// time it began: the programme started at `start`, `offset` into its
    /// file. At the first look only the track heard then counts: the ones
    /// before it aired before a restart, or not at all.
    pub fn advance(
        &mut self,
        start: DateTime<Utc>,
        offset: TimeDelta,
        heard: DateTime<Utc>,
    ) -> Vec<(usize, DateTime<Utc>)> {
        if heard < start {
            return Vec::new();
        }
        let position = offset + (heard - start);
        let Some((now, _)) = self.list.at(position) else {
            return Vec::new();
        };
        let first = match self.current {
            None => now,
            Some(current) if now > current => current + 1,
            Some(_) => return Vec::new(),
        };
        self.current = Some(now);
        (first..=now)
            .map(|index| {
                let began = start + (self.list.tracks[index].offset - offset);
                (index, began.max(start))
            })
            .collect()
    }
}

// The director following the tracks of what is on air.
impl Director {
    /// The track list beside a programme file, with the tracks of this slot
    /// the log already has. A list that cannot be read is a warning, and
    /// the programme airs without it.
    pub(super) fn track_follower(
        &mut self,
        file: &Path,
        scheduled: DateTime<Utc>,
    ) -> Option<TrackFollower> {
        match crate::tracks::track_list_for(file) {
            Ok(Some(list)) => {
                let logged = asrun::tracks_logged(&self.track_history, file, scheduled);
                Some(TrackFollower::new(list, logged))
            }
            Ok(None) => None,
            Err(e) => {
                self.warn_once(format!("{e}; the programme airs without its track list"));
                None
            }
        }
    }

    /// Logs each track as it goes on air (once per slot, across restarts)
    /// and gives the streams its title.
    pub(super) fn follow_tracks(&mut self) {
        let heard = self.on_air_time();
        let mut titles = Vec::new();
        for item in self.items.values_mut() {
            let (true, Some(follower), Some(slot)) =
                (item.started, item.tracks.as_mut(), &item.slot)
            else {
                continue;
            };
            for (index, began) in follower.advance(item.start, item.offset, heard) {
                let track = &follower.list.tracks[index];
                if let Some(open) = follower.open.take()
                    && let Err(e) = self.log.finish(open, began, Ended::Natural, None)
                {
                    error!(
                        "as-run log: cannot close a track of \"{}\": {e}",
                        item.title
                    );
                }
                titles.push(track.now_playing());
                if !follower.logged.insert(track.offset_ms()) {
                    continue;
                }
                info!("track: {} ({})", track.now_playing(), item.title);
                let entry = NewTrack::of(track, &item.title, &item.file, slot.start, began);
                match self.log.begin_track(entry) {
                    Ok(id) => follower.open = Some(id),
                    Err(e) => error!(
                        "as-run log: cannot record a track of \"{}\": {e}",
                        item.title
                    ),
                }
            }
        }
        if let Some(title) = titles.last() {
            for (_, stats) in &self.outputs {
                if let Some(stream) = &stats.stream {
                    stream.set_title(title);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracks::Track;
    use std::path::PathBuf;

    fn list() -> TrackList {
        let track = |s: i64, title: &str| Track {
            offset: TimeDelta::seconds(s),
            artist: "Band".into(),
            title: title.into(),
        };
        TrackList {
            path: PathBuf::from("/p/show.cue"),
            tracks: vec![track(0, "One"), track(20, "Two"), track(40, "Three")],
        }
    }

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn each_track_is_found_once_at_the_moment_it_began() {
        let mut follower = TrackFollower::new(list(), HashSet::new());
        assert_eq!(follower.advance(t(0), TimeDelta::zero(), t(-1)), []);
        assert_eq!(follower.advance(t(0), TimeDelta::zero(), t(0)), [(0, t(0))]);
        assert_eq!(follower.advance(t(0), TimeDelta::zero(), t(19)), []);
        // Looked at late: the track still begins on its second.
        assert_eq!(
            follower.advance(t(0), TimeDelta::zero(), t(21)),
            [(1, t(20))]
        );
        // Two tracks passed between looks: both, in order.
        let mut skipping = TrackFollower::new(list(), HashSet::new());
        skipping.advance(t(0), TimeDelta::zero(), t(1));
        assert_eq!(
            skipping.advance(t(0), TimeDelta::zero(), t(45)),
            [(1, t(20)), (2, t(40))]
        );
    }

    #[test]
    fn joining_mid_programme_starts_from_the_track_heard_then() {
        // Resumed 25 s into the file at t(100): track Two is heard, from the
        // resume; the track before it is not taken up.
        let mut follower = TrackFollower::new(list(), HashSet::new());
        let offset = TimeDelta::seconds(25);
        assert_eq!(follower.advance(t(100), offset, t(100)), [(1, t(100))]);
        assert_eq!(follower.advance(t(100), offset, t(116)), [(2, t(115))]);
    }
}
