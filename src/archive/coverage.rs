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
//!   (`bad`: `.mp3` names that do not read as segments);
//! - raw coverage: the time any best segment covers (overlaps once);
//! - editable coverage: the time of the non-overlapping chain a cut would
//!   take (a segment starting more than 10 ms before the chain's end is
//!   skipped, and counted as an overlap of its own type);
//! - raw holes (no segment at all) and editable holes (gaps in the chain)
//!   longer than 10 ms, each with its start, end and length;
//! - the map's 1800 pixels of 2 s: none (any part uncovered), partial
//!   (covered, not all of it by `full` segments), full.
//!
//! Each hour's listing and best segments are cached on its listing by
//! [`BestCache`]; the walk itself is arithmetic on them (a month of 6 s
//! segments walks in milliseconds), so an unchanged archive is read and
//! nothing parsed again.

use std::io;
use std::path::Path;
use std::sync::Arc;

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
    let mut hours = Vec::new();
    let mut at = walk_from;
    while at <= last {
        hours.push((at, best.hour(quality_dir, &hour_folder(at))?));
        at += hour;
    }
    // The timeline began before the walk: what the walk starts with may
    // already be a hole.
    let began = (walk_from > first).then_some(walk_from);
    let timeline = Timeline::walk(&hours, began);
    Ok(hours
        .iter()
        .filter(|(start, _)| (shown_from..=shown_to).contains(start))
        .map(|(start, chosen)| timeline.hour(*start, chosen))
        .collect())
}

/// The archive walked as one timeline.
#[derive(Debug, Default)]
struct Timeline {
    /// Where any best segment is, as exact disjoint stretches.
    raw: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// The same with gaps of up to 10 ms closed: what the map reads.
    raw_joined: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    full_joined: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// The chain's own time, without overlaps.
    chain: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    raw_holes: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    editable_holes: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    overlaps: Vec<Overlap>,
}

/// Adds `[start, end)` to stretches sorted by start, joining it to the
/// last when it begins no later than `slack` after that one ends; a gap
/// longer than that is returned.
fn extend(
    stretches: &mut Vec<(DateTime<Utc>, DateTime<Utc>)>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    slack: TimeDelta,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    if let Some(last) = stretches.last_mut()
        && start <= last.1 + slack
    {
        last.1 = last.1.max(end);
        return None;
    }
    let gap = stretches.last().map(|last| (last.1, start));
    stretches.push((start, end));
    gap
}

impl Timeline {
    fn walk(hours: &[(DateTime<Utc>, Arc<HourBest>)], began: Option<DateTime<Utc>>) -> Timeline {
        let mut t = Timeline::default();
        let mut chain_end = began;
        let mut raw_end = began;
        for (_, chosen) in hours {
            for segment in &chosen.best {
                let (start, end) = (segment.name.start, segment.name.end());
                if end <= start {
                    continue; // a segment of no length covers nothing
                }
                let zero = TimeDelta::zero();
                if raw_end.is_some_and(|r| start > r + ALLOWABLE_GAP) {
                    t.raw_holes.push((raw_end.unwrap_or(start), start));
                }
                raw_end = Some(raw_end.map_or(end, |r| r.max(end)));
                extend(&mut t.raw, start, end, zero);
                extend(&mut t.raw_joined, start, end, ALLOWABLE_GAP);
                if segment.name.kind == SegmentType::Full {
                    extend(&mut t.full_joined, start, end, ALLOWABLE_GAP);
                }
                if let Some(reached) = chain_end {
                    if start < reached - ALLOWABLE_OVERLAP {
                        t.overlaps.push(Overlap {
                            span: Span::new(start, end.min(reached)),
                            kind: segment.name.kind.as_str(),
                            file: segment.file.clone(),
                        });
                        continue;
                    }
                    if start > reached + ALLOWABLE_GAP {
                        t.editable_holes.push((reached, start));
                    }
                }
                let from = chain_end.map_or(start, |r| r.max(start));
                if end > from {
                    extend(&mut t.chain, from, end, zero);
                }
                chain_end = Some(chain_end.map_or(end, |r| r.max(end)));
            }
        }
        t
    }

    /// One hour's figures, from the timeline and its own listing.
    fn hour(&self, start: DateTime<Utc>, chosen: &HourBest) -> HourCoverage {
        let end = start + TimeDelta::hours(1);
        let mut segments = ByType::<u32>::default();
        let mut segment_seconds = ByType::<f64>::default();
        for listed in &chosen.listing.segments {
            segments.add(listed.name.kind, 1);
            segment_seconds.add(listed.name.kind, listed.name.duration);
        }
        let covered = |stretches: &[(DateTime<Utc>, DateTime<Utc>)]| {
            within(stretches, start, end)
                .map(|(a, b)| seconds(b - a))
                .sum::<f64>()
        };
        let spans = |stretches: &[(DateTime<Utc>, DateTime<Utc>)]| {
            within(stretches, start, end)
                .map(|(a, b)| Span::new(a, b))
                .collect::<Vec<_>>()
        };
        HourCoverage {
            hour: hour_folder(start),
            start,
            segments,
            bad: chosen.listing.bad.len() as u32,
            segment_seconds,
            raw_coverage: covered(&self.raw),
            editable_coverage: covered(&self.chain),
            raw_holes: spans(&self.raw_holes),
            editable_holes: spans(&self.editable_holes),
            overlaps: self
                .overlaps
                .iter()
                .filter(|o| (start..end).contains(&o.span.start))
                .cloned()
                .collect(),
            pixels: self.pixels(start),
        }
    }

    fn pixels(&self, hour: DateTime<Utc>) -> Vec<Cover> {
        let pixel = TimeDelta::seconds(PIXEL_SECONDS);
        let mut raw = Cursor::new(&self.raw_joined);
        let mut full = Cursor::new(&self.full_joined);
        (0..HOUR_PIXELS as i32)
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
fn within(
    stretches: &[(DateTime<Utc>, DateTime<Utc>)],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
    let first = stretches.partition_point(|s| s.1 <= from);
    stretches[first..]
        .iter()
        .take_while(move |s| s.0 < to)
        .map(move |s| (s.0.max(from), s.1.min(to)))
}

/// A walk through sorted, disjoint stretches, asked about ever later times.
struct Cursor<'a> {
    stretches: &'a [(DateTime<Utc>, DateTime<Utc>)],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn new(stretches: &'a [(DateTime<Utc>, DateTime<Utc>)]) -> Self {
        Cursor { stretches, at: 0 }
    }

    /// Whether one stretch holds all of `from..to`.
    fn holds(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        if self.at == 0 {
            self.at = self.stretches.partition_point(|s| s.1 <= from);
        }
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
