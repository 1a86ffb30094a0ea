//! Which segments make up a time range, as wubloader chooses them.
//!
//! Within an hour, of the segments that start at the same instant the best
//! is kept: a `full` one over any other (among several, the longer, then
//! the bigger file, then the higher hash, so the choice never depends on
//! the order the folder is read in); without one, a `suspect` over a
//! `partial`, then the bigger file. `temp` files and tombstoned segments
//! never reach here ([`listing`](super::listing)).
//!
//! A range is then walked in time, from the hour before its start (a
//! segment that starts at 00:59:57 covers 01:00:01) to the hour of its
//! end, and comes out as segments and holes (`None`):
//! - a hole first when the first segment starts after the range does;
//! - a hole wherever one segment starts more than 10 ms after the last
//!   one ended; a segment that starts more than 10 ms before the last one
//!   ended overlaps it and is skipped (the encoder's frames never line up
//!   to the microsecond, hence the 10 ms either way);
//! - a hole after every segment that is not `full`: nothing says it joins
//!   what follows;
//! - a hole last when the range's end is not reached.
//!
//! The best segments of the hours used last are kept in memory, keyed on
//! each hour's listing, so a playlist asked for again reads 13 folders and
//! parses nothing when they have not changed. An hour of 6 s segments
//! holds a few hundred kilobytes of names, so only the last
//! [`CACHED_HOURS`] used are kept (a day of listen-again and a 12 h
//! playlist beside it); the coverage of a month keeps its own small
//! figures instead (`coverage`).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};

use super::listing::{self, HourListing, Listed};
use super::names::{SegmentType, hour_folder, parse_hour};

/// A gap this short between two segments is not a hole.
pub const ALLOWABLE_GAP: TimeDelta = TimeDelta::milliseconds(10);
/// An overlap this short is not an overlap.
pub const ALLOWABLE_OVERLAP: TimeDelta = TimeDelta::milliseconds(10);

/// Hours the cache holds; the one used longest ago goes first.
pub const CACHED_HOURS: usize = 40;

/// One hour as read and chosen.
#[derive(Debug, Default)]
pub struct HourBest {
    pub listing: HourListing,
    /// The best segment of each start, in time order.
    pub best: Vec<Listed>,
}

/// The hours chosen last, keyed on their listings.
#[derive(Default)]
pub struct BestCache {
    hours: Mutex<Hours>,
}

/// Each hour with when it was last used, on a counter.
#[derive(Default)]
struct Hours {
    by_folder: HashMap<PathBuf, (Arc<HourBest>, u64)>,
    uses: u64,
}

impl BestCache {
    /// An hour's best segments, chosen again only if its folder changed.
    pub fn hour(&self, quality_dir: &Path, hour: &str) -> io::Result<Arc<HourBest>> {
        let start = parse_hour(hour).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let entries = listing::entries(quality_dir, hour)?;
        let key = quality_dir.join(hour);
        let mut hours = self.hours.lock().unwrap_or_else(|e| e.into_inner());
        hours.uses += 1;
        let now = hours.uses;
        if let Some((known, used)) = hours.by_folder.get_mut(&key)
            && known.listing.entries == listing::digest(&entries)
        {
            *used = now;
            return Ok(known.clone());
        }
        drop(hours);
        let listing = listing::read_entries(start, &entries);
        let best = best_by_start(&quality_dir.join(hour), &listing.segments);
        let chosen = Arc::new(HourBest { listing, best });
        let mut hours = self.hours.lock().unwrap_or_else(|e| e.into_inner());
        if hours.by_folder.len() >= CACHED_HOURS && !hours.by_folder.contains_key(&key) {
            let oldest = hours
                .by_folder
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(folder, _)| folder.clone());
            if let Some(oldest) = oldest {
                hours.by_folder.remove(&oldest);
            }
        }
        hours.by_folder.insert(key, (chosen.clone(), now));
        Ok(chosen)
    }

    /// How many hours it holds now.
    pub fn held(&self) -> usize {
        self.hours
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_folder
            .len()
    }

    /// The segments and holes that make up `start..end`.
    pub fn range(
        &self,
        quality_dir: &Path,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> io::Result<Vec<Option<Listed>>> {
        let mut walk = Walk::new(start, end);
        let mut hour = trunc_hour(start) - TimeDelta::hours(1);
        while hour <= trunc_hour(end) && !walk.done {
            let chosen = self.hour(quality_dir, &hour_folder(hour))?;
            for segment in &chosen.best {
                walk.add(segment);
                if walk.done {
                    break;
                }
            }
            hour += TimeDelta::hours(1);
        }
        Ok(walk.finish())
    }
}

/// The start of the UTC hour of `t`.
pub fn trunc_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    let seconds = t.timestamp().div_euclid(3600) * 3600;
    DateTime::from_timestamp(seconds, 0).unwrap_or(t)
}

/// Of segments sorted by start, the best of each start.
pub fn best_by_start(hour_dir: &Path, segments: &[Listed]) -> Vec<Listed> {
    let mut best = Vec::new();
    let mut group = 0;
    while group < segments.len() {
        let start = segments[group].name.start;
        let end = segments[group..]
            .iter()
            .position(|s| s.name.start != start)
            .map_or(segments.len(), |n| group + n);
        best.push(best_of(hour_dir, &segments[group..end]).clone());
        group = end;
    }
    best
}

/// The best of segments with one start.
fn best_of<'a>(hour_dir: &Path, same_start: &'a [Listed]) -> &'a Listed {
    if same_start.len() == 1 {
        return &same_start[0];
    }
    let size = |s: &Listed| {
        std::fs::metadata(hour_dir.join(&s.file))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let full = same_start
        .iter()
        .filter(|s| s.name.kind == SegmentType::Full)
        .max_by(|a, b| {
            a.name
                .duration
                .total_cmp(&b.name.duration)
                .then_with(|| size(a).cmp(&size(b)))
                .then_with(|| a.name.hash.cmp(&b.name.hash))
        });
    full.unwrap_or_else(|| {
        same_start
            .iter()
            .max_by_key(|s| (s.name.kind == SegmentType::Suspect, size(s), &s.name.hash))
            .unwrap_or(&same_start[0])
    })
}

/// A range being walked in time.
struct Walk {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    pieces: Vec<Option<Listed>>,
    /// Where the last segment taken ended.
    reached: Option<DateTime<Utc>>,
    done: bool,
}

impl Walk {
    fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Walk {
            start,
            end,
            pieces: Vec::new(),
            reached: None,
            done: end <= start,
        }
    }

    fn hole(&mut self) {
        if let Some(Some(_)) = self.pieces.last() {
            self.pieces.push(None);
        }
    }

    fn add(&mut self, segment: &Listed) {
        let (from, to) = (segment.name.start, segment.name.end());
        if to <= self.start {
            return; // over before the range begins
        }
        match self.reached {
            None => {
                if from > self.start + ALLOWABLE_GAP {
                    self.pieces.push(None);
                }
            }
            Some(reached) => {
                if from < reached - ALLOWABLE_OVERLAP {
                    tracing::debug!(
                        "archive: {} overlaps what came before; skipped",
                        segment.file
                    );
                    return;
                }
                if from > reached + ALLOWABLE_GAP {
                    self.hole();
                }
            }
        }
        self.pieces.push(Some(segment.clone()));
        self.reached = Some(to);
        if segment.name.kind != SegmentType::Full {
            self.hole();
        }
        if to >= self.end {
            self.done = true;
        }
    }

    fn finish(mut self) -> Vec<Option<Listed>> {
        let reached_end = self.reached.is_some_and(|r| r >= self.end);
        match self.pieces.last() {
            None if self.end > self.start => self.pieces.push(None),
            Some(Some(_)) if !reached_end => self.pieces.push(None),
            _ => {}
        }
        self.pieces
    }
}

#[cfg(test)]
mod tests;
