//! What goes on air next: a pure walk over what is already arranged and the
//! schedule's slots, so that the director's decisions can be tested with any
//! clock. The director calls [`next_step`] until it answers `Nothing`.

use std::collections::HashSet;
use std::path::PathBuf;

use chrono::{DateTime, TimeDelta, Utc};

use crate::engine::ItemId;
use crate::schedule::Slot;

/// Items shorter than this are not worth arranging: a gap this small between
/// two items is left, rather than logging a filler that is barely heard.
pub const MIN_FILL: TimeDelta = TimeDelta::milliseconds(250);

/// Tolerance when deciding that one item follows another.
const TOUCH: TimeDelta = TimeDelta::milliseconds(20);

/// A slot is known by its start and file: the same file moved to another
/// time is another slot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SlotKey {
    pub start: DateTime<Utc>,
    pub file: PathBuf,
}

impl SlotKey {
    pub fn of(slot: &Slot) -> Self {
        SlotKey {
            start: slot.programme.start,
            file: slot.programme.path.clone(),
        }
    }
}

/// One thing already handed to the engine (or a stretch of silence), with
/// its start and its expected end (`None`: until something else starts).
#[derive(Debug, Clone)]
pub struct Arranged {
    pub id: ItemId,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub slot: Option<SlotKey>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Cue this slot's programme, `offset` into its file (non-zero when the
    /// box joins a programme already under way: start-up or resume).
    Programme {
        slot: usize,
        offset: TimeDelta,
    },
    /// Fill from `at` until `until` (the next start) with filler or the
    /// emergency file, chained gaplessly after `after` when it is set.
    Fill {
        after: Option<ItemId>,
        at: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
    },
    Nothing,
}

/// The next thing to arrange so that every moment from `earliest` (the
/// first moment the engine can still be told about) to `horizon` is covered.
pub fn next_step(
    slots: &[Slot],
    arranged: &[Arranged],
    done: &HashSet<SlotKey>,
    earliest: DateTime<Utc>,
    horizon: DateTime<Utc>,
) -> Step {
    let pending = |slot: &Slot| {
        let key = SlotKey::of(slot);
        !done.contains(&key) && !arranged.iter().any(|a| a.slot.as_ref() == Some(&key))
    };

    for (i, slot) in slots.iter().enumerate() {
        let start = slot.programme.start;
        if start >= horizon {
            break;
        }
        let over = slot.hard_end.is_some_and(|end| end <= earliest + MIN_FILL);
        if over || !pending(slot) {
            continue;
        }
        let offset = (earliest - start).max(TimeDelta::zero());
        return Step::Programme { slot: i, offset };
    }

    let mut sorted: Vec<&Arranged> = arranged.iter().collect();
    sorted.sort_by_key(|a| a.start);
    let next_start_after = |t: DateTime<Utc>| {
        let slot = slots
            .iter()
            .filter(|s| pending(s))
            .map(|s| s.programme.start)
            .find(|&s| s > t);
        let item = sorted.iter().map(|a| a.start).find(|&s| s > t);
        match (slot, item) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    };

    let mut t = earliest;
    let mut before: Option<&Arranged> = None;
    for item in &sorted {
        // A hole shorter than MIN_FILL is stepped over, not filled.
        if item.start > t + MIN_FILL {
            break;
        }
        match item.end {
            None => return Step::Nothing,
            Some(end) if end > t => {
                t = end;
                before = Some(item);
            }
            Some(_) => {}
        }
    }
    if t >= horizon {
        return Step::Nothing;
    }
    let until = next_start_after(t + TOUCH);
    if until.is_some_and(|u| u - t < MIN_FILL) {
        // The next start is a not yet arranged slot just past the horizon.
        return Step::Nothing;
    }
    let after = before
        .filter(|b| b.end.is_some_and(|e| (e - t).abs() <= TOUCH))
        .map(|b| b.id);
    Step::Fill {
        after,
        at: t,
        until,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Programme;
    use chrono::NaiveDateTime;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn slot(start: &str, end: Option<&str>, name: &str) -> Slot {
        let start = at(start);
        Slot {
            programme: Programme {
                path: PathBuf::from(format!("/p/{name}.wav")),
                start,
                local: NaiveDateTime::default(),
                slug: name.into(),
                title: name.into(),
                note: None,
            },
            hard_end: end.map(at),
            booking: None,
            substitute: None,
        }
    }

    #[test]
    fn an_upcoming_slot_is_cued_before_anything_else_and_at_its_start() {
        let slots = vec![slot("2026-03-29T01:00:00Z", None, "news")];
        let step = next_step(
            &slots,
            &[],
            &HashSet::new(),
            at("2026-03-29T00:59:50Z"),
            at("2026-03-29T01:00:10Z"),
        );
        assert_eq!(
            step,
            Step::Programme {
                slot: 0,
                offset: TimeDelta::zero()
            }
        );
    }

    #[test]
    fn a_programme_under_way_is_joined_at_its_offset() {
        let slots = vec![slot(
            "2026-03-29T01:00:00Z",
            Some("2026-03-29T01:30:00Z"),
            "news",
        )];
        let step = next_step(
            &slots,
            &[],
            &HashSet::new(),
            at("2026-03-29T01:10:00Z"),
            at("2026-03-29T01:10:30Z"),
        );
        assert_eq!(
            step,
            Step::Programme {
                slot: 0,
                offset: TimeDelta::minutes(10)
            }
        );
    }

    #[test]
    fn a_done_slot_is_not_aired_again_and_its_time_is_filled_up_to_the_next_start() {
        let slots = vec![
            slot("2026-03-29T01:00:00Z", Some("2026-03-29T01:30:00Z"), "a"),
            slot("2026-03-29T01:30:00Z", None, "b"),
        ];
        let done: HashSet<_> = [SlotKey::of(&slots[0])].into();
        let step = next_step(
            &slots,
            &[],
            &done,
            at("2026-03-29T01:10:00Z"),
            at("2026-03-29T01:10:30Z"),
        );
        assert_eq!(
            step,
            Step::Fill {
                after: None,
                at: at("2026-03-29T01:10:00Z"),
                until: Some(at("2026-03-29T01:30:00Z"))
            }
        );
    }

    #[test]
    fn a_short_programme_is_followed_gaplessly_by_filler_until_the_next_start() {
        let slots = vec![
            slot("2026-03-29T01:00:00Z", Some("2026-03-29T01:30:00Z"), "a"),
            slot("2026-03-29T01:30:00Z", None, "b"),
        ];
        let arranged = [Arranged {
            id: 7,
            start: at("2026-03-29T01:00:00Z"),
            end: Some(at("2026-03-29T01:00:20Z")),
            slot: Some(SlotKey::of(&slots[0])),
        }];
        let step = next_step(
            &slots,
            &arranged,
            &HashSet::new(),
            at("2026-03-29T01:00:05Z"),
            at("2026-03-29T01:00:35Z"),
        );
        assert_eq!(
            step,
            Step::Fill {
                after: Some(7),
                at: at("2026-03-29T01:00:20Z"),
                until: Some(at("2026-03-29T01:30:00Z"))
            }
        );
    }

    #[test]
    fn nothing_more_is_arranged_while_the_horizon_is_covered() {
        let arranged = [Arranged {
            id: 1,
            start: at("2026-03-29T01:00:00Z"),
            end: Some(at("2026-03-29T01:05:00Z")),
            slot: None,
        }];
        let step = next_step(
            &[],
            &arranged,
            &HashSet::new(),
            at("2026-03-29T01:00:05Z"),
            at("2026-03-29T01:01:00Z"),
        );
        assert_eq!(step, Step::Nothing);
        let open_ended = [Arranged {
            end: None,
            ..arranged[0].clone()
        }];
        let step = next_step(
            &[],
            &open_ended,
            &HashSet::new(),
            at("2026-03-29T01:00:05Z"),
            at("2026-03-29T02:01:00Z"),
        );
        assert_eq!(step, Step::Nothing);
    }

    #[test]
    fn a_gap_before_a_cued_programme_is_filled_up_to_it() {
        let slots = vec![slot("2026-03-29T01:00:00Z", None, "b")];
        let arranged = [Arranged {
            id: 3,
            start: at("2026-03-29T01:00:00Z"),
            end: Some(at("2026-03-29T01:10:00Z")),
            slot: Some(SlotKey::of(&slots[0])),
        }];
        let step = next_step(
            &slots,
            &arranged,
            &HashSet::new(),
            at("2026-03-29T00:59:30Z"),
            at("2026-03-29T01:00:30Z"),
        );
        assert_eq!(
            step,
            Step::Fill {
                after: None,
                at: at("2026-03-29T00:59:30Z"),
                until: Some(at("2026-03-29T01:00:00Z"))
            }
        );
    }
}
