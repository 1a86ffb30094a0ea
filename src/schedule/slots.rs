//! A slot: a programme with the instant it must be off air by (hard
//! boundaries), what the calendar booked for it and the previous edition
//! standing in; and the questions asked of a list of slots (what is on air
//! at a time, what starts next). `booking` builds the list.

use chrono::{DateTime, Utc};

use super::names::title_slug;
use super::scan::Programme;

/// A programme and the instant it must be off air by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// What airs; for a substitute, the previous edition's file at the
    /// booking's start.
    pub programme: Programme,
    /// The booking's end or the next programme's start, whichever is first;
    /// `None` for the last one, which runs for its own length.
    pub hard_end: Option<DateTime<Utc>>,
    /// Set when the calendar booked this slot.
    pub booking: Option<Booking>,
    /// Set when a previous edition airs in place of the due file.
    pub substitute: Option<Substitute>,
}

/// One programme the calendar has booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    pub title: String,
    pub start: DateTime<Utc>,
    /// Where the slot ends; `None` when the event gives no end, and the slot
    /// then runs to the next start like a file without a booking.
    pub end: Option<DateTime<Utc>>,
}

impl Booking {
    /// Editions of a programme are told apart from other programmes by this.
    pub fn slug(&self) -> String {
        title_slug(&self.title)
    }
}

/// A previous edition on air in place of the file that was due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Substitute {
    /// The file that was due, when there was one (a broken file), or the
    /// name it was expected under.
    pub replaces: String,
    /// Why the due file does not air.
    pub reason: String,
}

/// The slot whose programme should be on air at `t`: started at or before
/// `t` and not past its hard end. For the last slot (no hard end) the caller
/// checks the programme's length.
pub fn on_air_at(slots: &[Slot], t: DateTime<Utc>) -> Option<&Slot> {
    let started = slots.partition_point(|slot| slot.programme.start <= t);
    let slot = slots.get(started.checked_sub(1)?)?;
    match slot.hard_end {
        Some(end) if t >= end => None,
        _ => Some(slot),
    }
}

/// The first slot starting strictly after `t`.
pub fn next_start_after(slots: &[Slot], t: DateTime<Utc>) -> Option<&Slot> {
    slots.get(slots.partition_point(|slot| slot.programme.start <= t))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::schedule::booking::slots;
    use chrono::{NaiveDateTime, TimeDelta};
    use std::path::PathBuf;

    pub fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    /// A programme named as on disk, airing at `start`.
    pub fn programme(file_name: &str, start: &str) -> Programme {
        let slug = file_name
            .split('_')
            .nth(2)
            .unwrap_or("x")
            .split('.')
            .next()
            .unwrap();
        Programme {
            path: PathBuf::from("/programmes").join(file_name),
            start: utc(start),
            local: NaiveDateTime::default(),
            slug: slug.to_string(),
            title: super::super::names::title_from_slug(slug),
            note: None,
        }
    }

    fn names(slots: &[Slot]) -> Vec<String> {
        slots.iter().map(|s| s.programme.file_name()).collect()
    }

    #[test]
    fn each_slot_ends_at_the_next_start() {
        let (slots, ignored) = slots(vec![
            programme("20260601_1030_b.mp3", "2026-06-01T09:30:00Z"),
            programme("20260601_1000_a.mp3", "2026-06-01T09:00:00Z"),
            programme("20260601_1200_c.mp3", "2026-06-01T11:00:00Z"),
        ]);
        assert!(ignored.is_empty());
        assert_eq!(
            names(&slots),
            [
                "20260601_1000_a.mp3",
                "20260601_1030_b.mp3",
                "20260601_1200_c.mp3"
            ]
        );
        let ends: Vec<_> = slots.iter().map(|s| s.hard_end).collect();
        assert_eq!(
            ends,
            [
                Some(utc("2026-06-01T09:30:00Z")),
                Some(utc("2026-06-01T11:00:00Z")),
                None
            ]
        );
    }

    #[test]
    fn same_start_first_file_name_airs_and_the_other_is_ignored() {
        // 01:30 (in the spring-forward gap) and 02:00 both air at 01:00 UTC.
        let (slots, ignored) = slots(vec![
            programme("20260329_0200_news.mp3", "2026-03-29T01:00:00Z"),
            programme("20260329_0130_night-owls.mp3", "2026-03-29T01:00:00Z"),
            programme("20260329_0300_jazz.mp3", "2026-03-29T02:00:00Z"),
        ]);
        assert_eq!(
            names(&slots),
            ["20260329_0130_night-owls.mp3", "20260329_0300_jazz.mp3"]
        );
        assert_eq!(slots[0].hard_end, Some(utc("2026-03-29T02:00:00Z")));
        assert_eq!(ignored.len(), 1);
        assert_eq!(
            ignored[0].path,
            PathBuf::from("/programmes/20260329_0200_news.mp3")
        );
        assert_eq!(
            ignored[0].reason,
            "starts at the same time as 20260329_0130_night-owls.mp3, which airs instead: rename one of them"
        );
    }

    #[test]
    fn on_air_and_next_start() {
        let (slots, _) = slots(vec![
            programme("a.mp3", "2026-06-01T09:00:00Z"),
            programme("b.mp3", "2026-06-01T09:30:00Z"),
        ]);
        let name = |s: Option<&Slot>| s.map(|s| s.programme.file_name());
        let t = |text| utc(text);
        assert_eq!(name(on_air_at(&slots, t("2026-06-01T08:59:59Z"))), None);
        assert_eq!(
            name(on_air_at(&slots, t("2026-06-01T09:00:00Z"))),
            Some("a.mp3".into())
        );
        let just_before = t("2026-06-01T09:30:00Z") - TimeDelta::nanoseconds(1);
        assert_eq!(name(on_air_at(&slots, just_before)), Some("a.mp3".into()));
        assert_eq!(
            name(on_air_at(&slots, t("2026-06-01T09:30:00Z"))),
            Some("b.mp3".into())
        );
        // The last slot has no hard end: the caller knows its length.
        assert_eq!(
            name(on_air_at(&slots, t("2026-06-02T00:00:00Z"))),
            Some("b.mp3".into())
        );

        assert_eq!(
            name(next_start_after(&slots, t("2026-06-01T08:00:00Z"))),
            Some("a.mp3".into())
        );
        // Strictly after: at a start, the next one is the following slot.
        assert_eq!(
            name(next_start_after(&slots, t("2026-06-01T09:00:00Z"))),
            Some("b.mp3".into())
        );
        assert_eq!(
            name(next_start_after(&slots, t("2026-06-01T09:30:00Z"))),
            None
        );
        assert_eq!(on_air_at(&[], t("2026-06-01T09:30:00Z")), None);
        assert_eq!(next_start_after(&[], t("2026-06-01T09:30:00Z")), None);
    }
}
