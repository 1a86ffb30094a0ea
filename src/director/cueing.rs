//! Cueing: what the director hands the engine. Scheduled programmes at
//! their exact start, filler chained gaplessly between them and faded out
//! at the next start, the emergency file when there is no filler, and the
//! standby kept ready; everything not yet on air is taken back and arranged
//! again when the schedule changes.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tracing::{error, info, warn};

use super::arrange::{self, Arranged, SlotKey, Step};
use super::{Cued, Director};
use crate::asrun::{Kind, NewEntry, Substitution};
use crate::clock::{delta_to_samples, samples_to_delta};
use crate::engine::{self, Command, DecodeError, ItemId, Source, SourceWatch, Start};

impl Director {
    pub(super) async fn arrange(&mut self) {
        // Before the engine's first block everything from the anchor on can
        // still be cued in time.
        let earliest = if self.engine.meters.position() == 0 {
            self.timeline.anchor
        } else {
            self.engine_time() + self.margin()
        };
        // While the studio is on air nothing is cued; after dead air,
        // nothing before the hold ends.
        if self.on_live.is_some() || self.dead_air_hold == Some(None) {
            return;
        }
        let earliest = match self.dead_air_hold {
            Some(Some(until)) => earliest.max(until),
            _ => earliest,
        };
        let horizon = earliest + self.horizon();
        self.silences
            .retain(|s| s.end.is_some_and(|e| e > earliest));
        // Each step arranges one more item, so the walk ends; the bound is a
        // guard against a schedule that keeps answering the same step.
        for _ in 0..32 {
            let arranged = self.arranged();
            match arrange::next_step(&self.slots, &arranged, &self.done, earliest, horizon) {
                Step::Nothing => break,
                Step::Programme { slot, offset } => self.cue_programme(slot, offset).await,
                Step::Fill { after, at, until } => self.fill(after, at, until).await,
            }
        }
    }

    pub(super) fn arranged(&self) -> Vec<Arranged> {
        self.items
            .iter()
            .filter(|(id, _)| Some(**id) != self.standby)
            .map(|(&id, item)| Arranged {
                id,
                start: item.start,
                end: item.expected_end(),
                slot: item.slot.clone(),
            })
            .chain(self.silences.iter().cloned())
            .collect()
    }

    pub(super) fn take_id(&mut self) -> ItemId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Opens `path` on a blocking thread. The future borrows nothing of the
    /// director, so that the director can run as a task on the runtime's
    /// workers.
    pub(super) fn open(
        &self,
        path: &Path,
        offset: TimeDelta,
        looped: bool,
    ) -> impl Future<Output = Result<(Source, engine::SourceInfo, SourceWatch), DecodeError>>
    + Send
    + 'static {
        let opts = engine::decoder::OpenOptions {
            rate: self.config.audio.sample_rate,
            offset: delta_to_samples(offset, self.config.audio.sample_rate).max(0) as u64,
            looped,
            ring_frames: self.ring_frames(),
        };
        let owned = path.to_path_buf();
        async move {
            let opened = {
                let owned = owned.clone();
                tokio::task::spawn_blocking(move || engine::decoder::open(&owned, &opts)).await
            };
            match opened {
                Ok(result) => result,
                Err(e) => Err(DecodeError::Thread {
                    path: owned.display().to_string(),
                    source: std::io::Error::other(e.to_string()),
                }),
            }
        }
    }

    pub(super) fn send(&mut self, mut command: Command) {
        // The ring is drained by the mixer every block; it is full only if
        // the engine has stalled, in which case waiting is all we can do.
        for _ in 0..1000 {
            match self.engine.commands.push(command) {
                Ok(()) => return,
                Err(rtrb::PushError::Full(back)) => {
                    command = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        error!("the engine does not take commands: it has stalled");
    }

    /// The fade before a hard end: none for an item that ends by itself at
    /// (or within a blink of) the boundary, whose last second must not be
    /// faded for nothing; whatever few milliseconds of padding run past the
    /// boundary are cut.
    pub(super) fn fade_for(
        &self,
        start: DateTime<Utc>,
        length: Option<TimeDelta>,
        hard_end: Option<DateTime<Utc>>,
    ) -> u32 {
        match (length, hard_end) {
            (Some(length), Some(end)) if start + length <= end + TimeDelta::milliseconds(100) => 0,
            _ => self.fade,
        }
    }

    /// The engine sample heard at station time `t`; the same sample every
    /// time `t` is asked for, so items meeting there meet to the sample.
    pub(super) fn sample(&self, t: DateTime<Utc>) -> u64 {
        let correction = self.drift.correction();
        self.boundaries.sample(t, self.clock.now(), |t| {
            self.timeline.sample_at(t + correction).max(0) as u64
        })
    }

    pub(super) async fn cue_programme(&mut self, index: usize, offset: TimeDelta) {
        let slot = self.slots[index].clone();
        let key = SlotKey::of(&slot);
        let p = &slot.programme;
        // A programme whose start fell while the studio was live starts
        // from its beginning, now.
        let (start, offset) = if self.late.remove(&key) {
            (self.engine_time() + self.margin(), TimeDelta::zero())
        } else {
            (p.start + offset, offset)
        };
        let joined = offset > TimeDelta::seconds(1);
        let substitution = slot.substitute.as_ref().map(|s| Substitution {
            replaces: s.replaces.clone(),
            problem: s.reason.clone(),
        });
        let kind = if substitution.is_some() {
            Kind::Substitute
        } else if joined || self.interrupted.contains(&key) && offset > TimeDelta::zero() {
            Kind::Resumed
        } else {
            Kind::Scheduled
        };
        match self.open(&p.path, offset, false).await {
            Ok((source, info, watch)) => {
                let id = self.take_id();
                let length = info
                    .duration
                    .map(|f| samples_to_delta(f as i64, self.config.audio.sample_rate));
                if length.is_some_and(|l| l <= TimeDelta::zero()) {
                    self.done.insert(key);
                    return;
                }
                info!(
                    "cued \"{}\" at {}{}",
                    p.title,
                    start,
                    if joined {
                        format!(" ({} in)", fmt_offset(offset))
                    } else {
                        String::new()
                    }
                );
                let hard_end = slot.hard_end;
                let tracks = self.track_follower(&p.path, p.start);
                self.send(Command::Cue {
                    id,
                    source,
                    start: Start::At(self.sample(start)),
                    hard_end: hard_end.map(|h| self.sample(h)),
                    fade: self.fade_for(start, length, hard_end),
                });
                self.items.insert(
                    id,
                    Cued {
                        kind,
                        title: p.title.clone(),
                        file: p.path.clone(),
                        slot: Some(key),
                        offset,
                        start,
                        hard_end,
                        length,
                        started: false,
                        log_id: None,
                        watch,
                        substitution,
                        tracks,
                    },
                );
            }
            Err(DecodeError::OffsetPastEnd { .. }) => {
                // The programme is already over: nothing left to join.
                self.done.insert(key);
            }
            Err(e) => {
                let reason = e.to_string();
                warn!("\"{}\" cannot air: {reason}", p.title);
                self.warn_once(format!("{}: {reason}", p.path.display()));
                let entry = NewEntry {
                    start: p.start.max(self.engine_time()),
                    kind,
                    title: p.title.clone(),
                    file: p.path.display().to_string(),
                    offset_ms: offset.num_milliseconds().max(0) as u64,
                    scheduled: Some(p.start),
                };
                let logged = match substitution {
                    Some(s) => self.log.failed_substitute(entry, s, reason),
                    None => self.log.failed(entry, reason),
                };
                if let Err(e) = logged {
                    error!("as-run log: {e}");
                }
                self.done.insert(key);
            }
        }
    }

    /// Fills `at..until` with filler, or the emergency file, or records that
    /// nothing can be played.
    pub(super) async fn fill(
        &mut self,
        after: Option<ItemId>,
        at: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
    ) {
        let start = match after {
            Some(id) => Start::After(id),
            None => Start::At(self.sample(at)),
        };
        // A broken filler track is skipped; each is tried once per call.
        let tries = self.filler.as_ref().map(|d| d.len()).unwrap_or(0);
        for _ in 0..tries {
            let Some(path) = self.filler.as_mut().and_then(|d| d.next()) else {
                break;
            };
            match self.open(&path, TimeDelta::zero(), false).await {
                Ok((source, info, watch)) => {
                    let length = info
                        .duration
                        .map(|f| samples_to_delta(f as i64, self.config.audio.sample_rate));
                    self.cue_fill(Kind::Filler, &path, source, watch, start, at, until, length);
                    return;
                }
                Err(reason) => {
                    warn!("filler {} skipped: {reason}", path.display());
                    self.warn_once(format!("{}: {reason}", path.display()));
                }
            }
        }
        if let Some(path) = self.config.library.emergency.clone() {
            match self.open(&path, TimeDelta::zero(), true).await {
                Ok((source, _, watch)) => {
                    self.cue_fill(
                        Kind::Emergency,
                        &path,
                        source,
                        watch,
                        start,
                        at,
                        until,
                        None,
                    );
                    return;
                }
                Err(reason) => {
                    self.warn_once(format!("emergency file {}: {reason}", path.display()))
                }
            }
        }
        // Nothing to play: remember the silence so the walk moves past it.
        self.silences.push(Arranged {
            id: 0,
            start: at,
            end: Some(until.unwrap_or(at + self.horizon())),
            slot: None,
        });
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn cue_fill(
        &mut self,
        kind: Kind,
        path: &Path,
        source: Source,
        watch: SourceWatch,
        start: Start,
        at: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
        length: Option<TimeDelta>,
    ) {
        let id = self.take_id();
        self.send(Command::Cue {
            id,
            source,
            start,
            hard_end: until.map(|u| self.sample(u)),
            fade: self.fade_for(at, length, until),
        });
        let title = match kind {
            Kind::Emergency => format!("Emergency: {}", stem(path)),
            _ => stem(path),
        };
        self.items.insert(
            id,
            Cued {
                kind,
                title,
                file: path.to_path_buf(),
                slot: None,
                offset: TimeDelta::zero(),
                start: at,
                hard_end: until,
                length,
                started: false,
                log_id: None,
                watch,
                substitution: None,
                tracks: None,
            },
        );
    }

    /// The last resort, kept ready in the engine: the emergency file starts
    /// by itself if nothing has been on air for half a second.
    pub(super) async fn arm_standby(&mut self) {
        let Some(path) = self.config.library.emergency.clone() else {
            return;
        };
        match self.open(&path, TimeDelta::zero(), true).await {
            Ok((source, _, watch)) => {
                let id = self.take_id();
                let after = self.config.audio.sample_rate / 2;
                self.send(Command::Standby { id, source, after });
                self.standby = Some(id);
                self.items.insert(
                    id,
                    Cued {
                        kind: Kind::Emergency,
                        title: format!("Emergency: {}", stem(&path)),
                        file: path,
                        slot: None,
                        offset: TimeDelta::zero(),
                        start: DateTime::<Utc>::MAX_UTC,
                        hard_end: None,
                        length: None,
                        started: false,
                        log_id: None,
                        watch,
                        substitution: None,
                        tracks: None,
                    },
                );
            }
            Err(reason) => self.warn_once(format!("emergency file {}: {reason}", path.display())),
        }
    }

    /// Takes what is on air off with `fade` (the standby excepted), to be
    /// logged as taken off for `why` (unless already being taken off for
    /// another reason) when the engine reports its end.
    pub(super) fn take_off_air(&mut self, fade: u32, why: super::TakenOff) {
        let on_air: Vec<ItemId> = self
            .items
            .iter()
            .filter(|(id, item)| item.started && Some(**id) != self.standby)
            .map(|(&id, _)| id)
            .collect();
        for id in on_air {
            self.send(Command::Stop { id, fade });
            // An item already fading out for a skip stays skipped.
            self.taken_off.entry(id).or_insert_with(|| why.clone());
        }
    }

    /// The slots changed: everything not yet on air is taken back and
    /// arranged again; what is on air gets the new next start as its end.
    pub(super) fn rearrange(&mut self) {
        let earliest = self.engine_time() + self.margin();
        let waiting: Vec<ItemId> = self
            .items
            .iter()
            .filter(|(id, item)| !item.started && Some(**id) != self.standby)
            .map(|(&id, _)| id)
            .collect();
        let mut returned = Vec::new();
        for id in waiting {
            self.send(Command::Stop { id, fade: 0 });
            // Forget it now: its Cancelled event finds nothing to log.
            if let Some(item) = self.items.remove(&id)
                && item.kind == Kind::Filler
            {
                returned.push((item.start, item.file));
            }
        }
        // Latest dealt goes back first, so the earliest is dealt again first.
        returned.sort_by_key(|r| std::cmp::Reverse(r.0));
        if let Some(deck) = self.filler.as_mut() {
            for (_, file) in returned {
                deck.put_back(file);
            }
        }
        self.silences.clear();
        let present: HashSet<SlotKey> = self.slots.iter().map(SlotKey::of).collect();
        let next_start = |t: DateTime<Utc>| {
            self.slots
                .iter()
                .map(|s| s.programme.start)
                .find(|&s| s > t)
        };
        let mut moves = Vec::new();
        for (&id, item) in &self.items {
            if !item.started || Some(id) == self.standby {
                continue;
            }
            let still_scheduled = item.slot.as_ref().is_none_or(|k| present.contains(k));
            // A programme keeps its slot's end (a booking may end before the
            // next start); filler runs to the next start.
            let new_end = match &item.slot {
                Some(key) => self
                    .slots
                    .iter()
                    .find(|s| SlotKey::of(s) == *key)
                    .and_then(|s| s.hard_end),
                None => next_start(item.start.max(earliest - self.margin())),
            };
            if still_scheduled && new_end != item.hard_end {
                moves.push((id, new_end));
            }
        }
        for (id, end) in moves {
            match end {
                Some(end) => {
                    let at = self.sample(end.max(earliest));
                    self.send(Command::EndAt {
                        id,
                        at,
                        fade: self.fade,
                    });
                }
                None => {
                    // No next start any more: it may play to its natural end.
                    self.send(Command::EndAt {
                        id,
                        at: u64::MAX,
                        fade: self.fade,
                    });
                }
            }
            if let Some(item) = self.items.get_mut(&id) {
                item.hard_end = end;
            }
        }
    }
}
/// The file's name without its folder and extension: how filler is titled.
pub(super) fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn fmt_offset(d: TimeDelta) -> String {
    let s = d.num_seconds();
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}
