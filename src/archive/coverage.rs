//! The coverage check: per hour, how much of it the archive holds, where
//! its holes and overlaps are, and the coverage map, as wubloader's
//! checker reports them, with its two faults mended:
//!
//! - the figures come from the same best segments the playlists and cuts
//!   use ([`BestCache`]), never from whichever file of a start came last;
//! - the archive is walked as one timeline across its hours, so a hole or
//!   an overlap that straddles an hour is seen (and split between the
//!   hours it touches) instead of being guessed at each hour's edge.
//!
//! The timeline begins with the first segment and ends with the last, so
//! the time before the archive began and after its newest segment (being
//! written) is no hole; an hour in between without a folder is all hole.
//! Figures per hour:
//! - segment counts and seconds by type, of the segments it lists
//!   (`bad`: `.mp3` or `.aac` names that do not read as segments);
//! - raw coverage: the time any best segment covers (overlaps once);
//! - editable coverage: the time of the non-overlapping chain a cut would
//!   take (a segment starting more than 10 ms before the chain's end is
//!   skipped, and counted as an overlap of its own type);
//! - raw holes (no segment at all) and editable holes (gaps in the chain)
//!   longer than 10 ms, each with its start, end and length;
//! - the map's 1800 pixels of 2 s: none (any part uncovered), partial
//!   (covered, not all of it by `full` segments), full.
//!
//! The walk goes an hour at a time and keeps, for each hour, only what the
//! hour adds to the timeline (a few stretches, its holes and overlaps, its
//! counts) and where the timeline stood when it left the hour, never the
//! hour's segments: a month of hours costs kilobytes, not the hundreds of
//! megabytes its segments' names would. What an hour adds depends only on
//! its folder's names and where the timeline stood when it began, so it is
//! remembered on those ([`WALKED`]): a /metrics scrape of an unchanged
//! month reads each hour's folder and parses nothing.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::best::{ALLOWABLE_GAP, ALLOWABLE_OVERLAP, BestCache, HourBest};
use super::listing;
use super::names::{SegmentType, hour_folder};

/// Seconds a pixel of the map stands for.
pub const PIXEL_SECONDS: i64 = 2;
/// Pixels a column of the map holds: ten minutes.
pub const MAP_ROWS: usize = 300;
/// Pixels an hour takes on the map: six columns.
pub const HOUR_PIXELS: usize = 3600 / PIXEL_SECONDS as usize;

/// What a pixel of the map shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cover {
    /// Some of its time is not in the archive.
    Missing,
    /// All in the archive, some of it only in partial or suspect segments.
    Partial,
    /// All in full segments.
    Full,
}

/// Counts by segment type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ByType<T> {
    pub full: T,
    pub suspect: T,
    pub partial: T,
}

impl<T: Copy + std::ops::AddAssign> ByType<T> {
    fn add(&mut self, kind: SegmentType, value: T) {
        match kind {
            SegmentType::Full => self.full += value,
            SegmentType::Suspect => self.suspect += value,
            SegmentType::Partial | SegmentType::Temp => self.partial += value,
        }
    }
}

/// A stretch of time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Span {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub seconds: f64,
}

impl Span {
    fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Span {
        Span {
            start,
            end,
            seconds: seconds(end - start),
        }
    }
}

/// A segment skipped by the chain because it begins before the chain's
/// end: how much of it overlaps, its type and its file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overlap {
    #[serde(flatten)]
    pub span: Span,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub file: String,
}

/// One hour's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HourCoverage {
    /// Its folder name, `2026-01-05T10`.
    pub hour: String,
    #[serde(skip)]
    pub start: DateTime<Utc>,
    pub segments: ByType<u32>,
    pub bad: u32,
    /// Seconds of the listed segments, by type.
    pub segment_seconds: ByType<f64>,
    pub raw_coverage: f64,
    pub editable_coverage: f64,
    pub raw_holes: Vec<Span>,
    pub editable_holes: Vec<Span>,
    pub overlaps: Vec<Overlap>,
    /// The hour on the map, 2 s a pixel.
    #[serde(skip)]
    pub pixels: Vec<Cover>,
}

impl HourCoverage {
    /// Overlaps of one type: how many, and their seconds.
    pub fn overlaps_of(&self, kind: SegmentType) -> (u32, f64) {
        self.overlaps
            .iter()
            .filter(|o| o.kind == kind.as_str())
            .fold((0, 0.0), |(n, s), o| (n + 1, s + o.span.seconds))
    }
}

fn seconds(d: TimeDelta) -> f64 {
    d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
}

/// The coverage of a quality folder's hours that touch `from..to` (each
/// end open when `None`), oldest first; an archive without hours has none.
pub fn quality(
    best: &BestCache,
    quality_dir: &Path,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> io::Result<Vec<HourCoverage>> {
    let folders = listing::hours(quality_dir)?;
    let (Some((_, first)), Some((_, last))) = (folders.first(), folders.last()) else {
        return Ok(Vec::new());
    };
    let (first, last) = (*first, *last);
    let hour = TimeDelta::hours(1);
    // Shown: the hours from..to asks for, within the archive's.
    let shown_from = from.map_or(first, |f| super::best::trunc_hour(f).max(first));
    let shown_to = to.map_or(last, |t| {
        super::best::trunc_hour(t - TimeDelta::microseconds(1)).min(last)
    });
    if shown_from > shown_to {
        return Ok(Vec::new());
    }
    // Walked: from the hour before the first shown (what runs into it),
    // to the last hour that holds a segment at all (so that the time
    // after the newest segment is known to be no hole).
    let walk_from = (shown_from - hour).max(first);
    // The timeline began before the walk: what the walk starts with may
    // already be a hole.
    let began = (walk_from > first).then_some(micros(walk_from));
    let mut state = Entering {
        chain_end: began,
        raw_end: began,
    };
    let mut timeline = Timeline::default();
    let mut counts = Vec::new();
    let mut at = walk_from;
    while at <= last {
        let walked = walk_hour(best, quality_dir, at, state)?;
        timeline.absorb(&walked.added);
        state = walked.leaving;
        if (shown_from..=shown_to).contains(&at) {
            counts.push((at, walked.counts.clone()));
        }
        at += hour;
    }
    Ok(counts
        .iter()
        .map(|(start, counts)| timeline.hour(*start, counts))
        .collect())
}

/// Where the timeline stood: the end of the chain, and of any segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Entering {
    chain_end: Option<i64>,
    raw_end: Option<i64>,
}

/// An hour's own segments, counted.
#[derive(Debug, Clone, Default)]
struct Counts {
    segments: ByType<u32>,
    segment_seconds: ByType<f64>,
    bad: u32,
}

/// What one hour adds to the timeline, from where the timeline stood.
#[derive(Debug, Default)]
struct Walked {
    added: Timeline,
    leaving: Entering,
    counts: Counts,
}

/// Hours walked, remembered by folder on the folder's listing digest and
/// where the timeline stood (see the top of this file). Shared by every
/// reader in the process, as the folders are; an entry is a few hundred
/// bytes, and the lot is forgotten past [`WALKED_HOURS`] (ten years of
/// hours of a few channels), then filled again by the next walks.
static WALKED: Mutex<Option<HashMap<PathBuf, Remembered>>> = Mutex::new(None);
/// An hour's walk, with the listing digest and the state it was walked from.
type Remembered = (u64, Entering, Arc<Walked>);
const WALKED_HOURS: usize = 200_000;

/// The hour at `start`: what it adds, remembered or walked now.
fn walk_hour(
    best: &BestCache,
    quality_dir: &Path,
    start: DateTime<Utc>,
    entering: Entering,
) -> io::Result<Arc<Walked>> {
    let folder = hour_folder(start);
    let key = quality_dir.join(&folder);
    let digest = listing::digest(&listing::entries(quality_dir, &folder)?);
    let remembered = |walked: &mut Option<HashMap<_, _>>| {
        walked
            .get_or_insert_with(HashMap::new)
            .get(&key)
            .filter(|(d, e, _)| *d == digest && *e == entering)
            .map(|(_, _, w): &Remembered| w.clone())
    };
    if let Some(walked) = remembered(&mut WALKED.lock().unwrap_or_else(|e| e.into_inner())) {
        return Ok(walked);
    }
    let chosen = best.hour(quality_dir, &folder)?;
    let walked = Arc::new(Timeline::walk_one(&chosen, entering));
    let mut all = WALKED.lock().unwrap_or_else(|e| e.into_inner());
    let all = all.get_or_insert_with(HashMap::new);
    if all.len() >= WALKED_HOURS {
        all.clear();
    }
    // Keyed on the digest the hour was chosen from, which may be newer
    // than the one read above; a mismatch only means walking it again.
    all.insert(key, (chosen.listing.entries, entering, walked.clone()));
    Ok(walked)
}

/// The archive walked as one timeline, in µs since the epoch (a month of
/// map pixels is a million comparisons: they are kept to integers).
#[derive(Debug, Default)]
struct Timeline {
    /// Where any best segment is, as exact disjoint stretches.
    raw: Vec<Stretch>,
    /// The same with gaps of up to 10 ms closed: what the map reads.
    raw_joined: Vec<Stretch>,
    full_joined: Vec<Stretch>,
    /// The chain's own time, without overlaps.
    chain: Vec<Stretch>,
    raw_holes: Vec<Stretch>,
    editable_holes: Vec<Stretch>,
    /// In time order.
    overlaps: Vec<Overlap>,
}

/// `[start, end)` in µs since the epoch.
type Stretch = (i64, i64);

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn instant(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

fn span_of((start, end): Stretch) -> Span {
    Span::new(instant(start), instant(end))
}

/// Adds `[start, end)` to stretches sorted by start, joining it to the
/// last when it begins no later than `slack` µs after that one ends.
fn extend(stretches: &mut Vec<Stretch>, start: i64, end: i64, slack: i64) {
    match stretches.last_mut() {
        Some(last) if start <= last.1 + slack => last.1 = last.1.max(end),
        _ => stretches.push((start, end)),
    }
}

impl Timeline {
    /// One hour's best segments from where the timeline stood: what they
    /// add, and where they leave it.
    fn walk_one(chosen: &HourBest, entering: Entering) -> Walked {
        let gap = ALLOWABLE_GAP.num_microseconds().unwrap_or(0);
        let overlap = ALLOWABLE_OVERLAP.num_microseconds().unwrap_or(0);
        let mut t = Timeline::default();
        let Entering {
            mut chain_end,
            mut raw_end,
        } = entering;
        let mut counts = Counts {
            bad: chosen.listing.bad.len() as u32,
            ..Counts::default()
        };
        for listed in &chosen.listing.segments {
            counts.segments.add(listed.name.kind, 1);
            counts
                .segment_seconds
                .add(listed.name.kind, listed.name.duration);
        }
        {
            for segment in &chosen.best {
                let (start, end) = (micros(segment.name.start), micros(segment.name.end()));
                if end <= start {
                    continue; // a segment of no length covers nothing
                }
                if let Some(reached) = raw_end
                    && start > reached + gap
                {
                    t.raw_holes.push((reached, start));
                }
                raw_end = Some(raw_end.map_or(end, |r| r.max(end)));
                extend(&mut t.raw, start, end, 0);
                extend(&mut t.raw_joined, start, end, gap);
                if segment.name.kind == SegmentType::Full {
                    extend(&mut t.full_joined, start, end, gap);
                }
                if let Some(reached) = chain_end {
                    if start < reached - overlap {
                        t.overlaps.push(Overlap {
                            span: span_of((start, end.min(reached))),
                            kind: segment.name.kind.as_str(),
                            file: segment.file.clone(),
                        });
                        continue;
                    }
                    if start > reached + gap {
                        t.editable_holes.push((reached, start));
                    }
                }
                let from = chain_end.map_or(start, |r| r.max(start));
                if end > from {
                    extend(&mut t.chain, from, end, 0);
                }
                chain_end = Some(chain_end.map_or(end, |r| r.max(end)));
            }
        }
        Walked {
            added: t,
            leaving: Entering { chain_end, raw_end },
            counts,
        }
    }

    /// Adds what a later hour added: its stretches join this timeline's
    /// last ones as they would have in one walk.
    fn absorb(&mut self, later: &Timeline) {
        let gap = ALLOWABLE_GAP.num_microseconds().unwrap_or(0);
        for (into, from, slack) in [
            (&mut self.raw, &later.raw, 0),
            (&mut self.raw_joined, &later.raw_joined, gap),
            (&mut self.full_joined, &later.full_joined, gap),
            (&mut self.chain, &later.chain, 0),
        ] {
            for &(start, end) in from {
                extend(into, start, end, slack);
            }
        }
        self.raw_holes.extend_from_slice(&later.raw_holes);
        self.editable_holes.extend_from_slice(&later.editable_holes);
        self.overlaps.extend_from_slice(&later.overlaps);
    }

    /// One hour's figures, from the timeline and its own counts.
    fn hour(&self, start: DateTime<Utc>, counts: &Counts) -> HourCoverage {
        let end = start + TimeDelta::hours(1);
        let (from, to) = (micros(start), micros(end));
        let Counts {
            segments,
            segment_seconds,
            bad,
        } = counts.clone();
        let covered = |stretches: &[Stretch]| {
            within(stretches, from, to)
                .map(|(a, b)| (b - a) as f64 / 1e6)
                .sum::<f64>()
        };
        let spans =
            |stretches: &[Stretch]| within(stretches, from, to).map(span_of).collect::<Vec<_>>();
        let first = self.overlaps.partition_point(|o| o.span.start < start);
        HourCoverage {
            hour: hour_folder(start),
            start,
            segments,
            bad,
            segment_seconds,
            raw_coverage: covered(&self.raw),
            editable_coverage: covered(&self.chain),
            raw_holes: spans(&self.raw_holes),
            editable_holes: spans(&self.editable_holes),
            overlaps: self.overlaps[first..]
                .iter()
                .take_while(|o| o.span.start < end)
                .cloned()
                .collect(),
            pixels: self.pixels(from),
        }
    }

    fn pixels(&self, hour: i64) -> Vec<Cover> {
        let pixel = PIXEL_SECONDS * 1_000_000;
        let mut raw = Cursor::new(&self.raw_joined, hour);
        let mut full = Cursor::new(&self.full_joined, hour);
        (0..HOUR_PIXELS as i64)
            .map(|i| {
                let from = hour + pixel * i;
                let to = from + pixel;
                if !raw.holds(from, to) {
                    Cover::Missing
                } else if full.holds(from, to) {
                    Cover::Full
                } else {
                    Cover::Partial
                }
            })
            .collect()
    }
}

/// The parts of sorted, disjoint stretches inside `from..to`.
fn within(stretches: &[Stretch], from: i64, to: i64) -> impl Iterator<Item = Stretch> + '_ {
    let first = stretches.partition_point(|s| s.1 <= from);
    stretches[first..]
        .iter()
        .take_while(move |s| s.0 < to)
        .map(move |s| (s.0.max(from), s.1.min(to)))
}

/// A walk through sorted, disjoint stretches, asked about ever later times.
struct Cursor<'a> {
    stretches: &'a [Stretch],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// From the first stretch that ends after `from`.
    fn new(stretches: &'a [Stretch], from: i64) -> Self {
        let at = stretches.partition_point(|s| s.1 <= from);
        Cursor { stretches, at }
    }

    /// Whether one stretch holds all of `from..to`.
    fn holds(&mut self, from: i64, to: i64) -> bool {
        while self.stretches.get(self.at).is_some_and(|s| s.1 <= from) {
            self.at += 1;
        }
        self.stretches
            .get(self.at)
            .is_some_and(|s| s.0 <= from && to <= s.1)
    }
}

#[cfg(test)]
mod tests;
