//! Reading the library: the programme folder (matched against the
//! calendar's bookings) and the filler folder, looked at again every second
//! so that new files air without a restart and half-copied ones never do,
//! and read again only when they changed.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use chrono::{DateTime, TimeDelta, Utc};
use tracing::{info, warn};

use super::Director;
use super::arrange::SlotKey;
use crate::asrun::Kind;
use crate::engine::{Command, ItemId};
use crate::schedule::{self, FillerDeck, FolderChanges, Scan};
use crate::status;

impl Director {
    /// Looks at the programme folder again; true when the slots changed.
    /// The slots are made again only when what they are made from changed
    /// or the clock crossed a time they depend on (see [`super::bookings`]).
    pub(super) fn rescan_programmes(&mut self) -> bool {
        let Some(watch) = self.programmes.as_mut() else {
            return false;
        };
        let scan = match watch.look(SystemTime::now()) {
            Ok(scan) => scan,
            Err(e) => {
                self.warn_once(format!("programme folder: {e}"));
                return false;
            }
        };
        let now = self.on_air_time();
        let begun = self.engine_time() + self.margin() + self.horizon();
        let calendar = self.calendar.as_ref().map(|c| c.snapshot());
        let made_from = MadeFrom {
            scan,
            calendar: calendar.as_ref().map(|c| c.generation),
            at: now,
        };
        if self
            .slots_made_from
            .as_ref()
            .is_some_and(|last| last.stands_for(&made_from))
            && self.booked.still_holds(now, begun)
        {
            return false;
        }
        let bookings = calendar
            .map(|c| c.bookings_between(now - BOOKINGS_AROUND, now + BOOKINGS_AROUND))
            .unwrap_or_default();
        let (slots, mut ignored) = self.booked.slots(
            made_from.scan.programmes.clone(),
            &bookings,
            self.config.station.timezone,
            now,
            begun,
        );
        ignored.extend(made_from.scan.ignored.iter().cloned());
        self.slots_made_from = Some(made_from);
        self.ignored = ignored
            .into_iter()
            .map(|i| status::IgnoredFile {
                file: i.path.display().to_string(),
                reason: i.reason,
            })
            .collect();
        let changed = slots.len() != self.slots.len()
            || slots.iter().zip(&self.slots).any(|(a, b)| {
                SlotKey::of(a) != SlotKey::of(b)
                    || a.hard_end != b.hard_end
                    || a.programme.title != b.programme.title
            });
        if changed {
            info!("schedule: {} programme slots", slots.len());
            self.slots = slots;
        }
        changed
    }

    pub(super) fn rescan_filler(&mut self) {
        let Some(dir) = self.config.library.filler.clone() else {
            return;
        };
        let changes = self
            .filler_changes
            .get_or_insert_with(|| FolderChanges::new(&dir));
        if self.filler.is_some() && !changes.must_read() {
            return;
        }
        let (files, settling) = match schedule::list_audio_files(&dir) {
            // A track still being copied in is left for the next look.
            Ok(files) => {
                let listed = files.len();
                let files: Vec<_> = files.into_iter().filter(|f| settled(f)).collect();
                let settling = files.len() < listed;
                (files, settling)
            }
            Err(e) => {
                self.warn_once(format!("filler folder: {e}"));
                (Vec::new(), true)
            }
        };
        if let Some(changes) = self.filler_changes.as_mut() {
            changes.read(settling);
        }
        let was_empty = self.filler.as_ref().is_none_or(|d| d.is_empty());
        match self.filler.as_mut() {
            Some(deck) => deck.refresh(files),
            None => {
                let seed = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1);
                let mut deck = FillerDeck::new(files, seed);
                for played in std::mem::take(&mut self.filler_history) {
                    deck.mark_played(&played);
                }
                self.filler = Some(deck);
            }
        }
        if was_empty && self.filler.as_ref().is_some_and(|d| !d.is_empty()) {
            self.make_way_for_filler();
        }
    }

    /// Filler has appeared: the emergency file, there only for want of it,
    /// fades out and filler follows it.
    pub(super) fn make_way_for_filler(&mut self) {
        let at = self.engine_time() + self.margin();
        let ending: Vec<ItemId> = self
            .items
            .iter()
            .filter(|(id, i)| i.kind == Kind::Emergency && i.started && Some(**id) != self.standby)
            .map(|(&id, _)| id)
            .collect();
        if ending.is_empty() {
            return;
        }
        self.rearrange();
        for id in ending {
            self.send(Command::EndAt {
                id,
                at: self.sample(at),
                fade: self.fade,
            });
            if let Some(item) = self.items.get_mut(&id) {
                item.hard_end = Some(at);
            }
        }
    }

    pub(super) fn warn_once(&mut self, warning: String) {
        if !self.warnings.contains(&warning) {
            warn!("{warning}");
            self.warnings.push(warning);
        }
    }
}

/// The calendar's bookings matched with the folder: those this near now.
const BOOKINGS_AROUND: TimeDelta = TimeDelta::days(2);

/// How often the slots are made again with nothing changed, for the
/// bookings that come into [`BOOKINGS_AROUND`] (or leave it) as time goes.
const REMAKE_ANYWAY: TimeDelta = TimeDelta::minutes(1);

/// What the slots were last made from.
pub(super) struct MadeFrom {
    /// The folder's reading: the same one while nothing in it changed.
    scan: Arc<Scan>,
    calendar: Option<u64>,
    /// The station time they were made at.
    at: DateTime<Utc>,
}

impl MadeFrom {
    /// Whether slots made from `self` stand for slots made from `now`.
    fn stands_for(&self, now: &MadeFrom) -> bool {
        Arc::ptr_eq(&self.scan, &now.scan)
            && self.calendar == now.calendar
            && (self.at..self.at + REMAKE_ANYWAY).contains(&now.at)
    }
}

/// A file last written long enough ago that it is not still being copied in.
fn settled(path: &Path) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().is_ok_and(|age| age >= schedule::SETTLE))
}
