//! What the calendar says is due, matched against the files that are there.
//!
//! A booking is one instance of a calendar event: a programme title, a start
//! and usually an end. Its file is the programme file named with that start
//! (and, when several share it, the booking's title slug). When that file is
//! missing or the pre-air check found it broken, the most recent earlier
//! edition of the same programme airs in its place; with none, the slot is
//! left to filler. Files without a booking air at their own time as before:
//! the calendar adds knowledge, it never takes airtime away from a file.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use chrono_tz::Tz;

use super::names::title_slug;
use super::scan::{Ignored, Programme, file_name_of};
use super::slots::{Booking, Slot, Substitute};

/// What the pre-air check knows of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileCheck {
    /// Not checked yet: it is trusted, as a programme without a booking is.
    Unchecked,
    Good,
    Broken(String),
}

/// A booking that cannot air its own file, for the status, the log and
/// `onair schedule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotProblem {
    pub start: DateTime<Utc>,
    /// The booking's end, when the calendar gives one.
    pub end: Option<DateTime<Utc>>,
    pub title: String,
    pub problem: String,
    /// The previous edition that airs instead; `None`: filler covers.
    pub substitute: Option<PathBuf>,
}

impl std::fmt::Display for SlotProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{}\": {}; ", self.title, self.problem)?;
        match &self.substitute {
            Some(path) => write!(
                f,
                "the previous edition {} airs instead",
                file_name_of(path)
            ),
            None => write!(f, "no earlier edition, filler covers the slot"),
        }
    }
}

/// The slots of the programme files alone, with no calendar: orders
/// programmes by start and bounds each by the next start. Of several
/// programmes with the same start, the first by file name airs and the others
/// are returned as ignored, naming the one that airs.
pub fn slots(programmes: Vec<Programme>) -> (Vec<Slot>, Vec<Ignored>) {
    let (slots, ignored, _) = book(programmes, &[], chrono_tz::UTC, &|_, _| {
        FileCheck::Unchecked
    });
    (slots, ignored)
}

/// The slots to air: the bookings with their files (or substitutes) and the
/// files without a booking, in order, each bounded by its booking's end and
/// the next start. Also returns the files that will not air and the bookings
/// that cannot air their own file. `check` is asked about a file for the
/// booking starting at the given time (the due file, then earlier editions).
pub fn book(
    mut programmes: Vec<Programme>,
    bookings: &[Booking],
    tz: Tz,
    check: &dyn Fn(&Path, DateTime<Utc>) -> FileCheck,
) -> (Vec<Slot>, Vec<Ignored>, Vec<SlotProblem>) {
    programmes.sort_by_cached_key(|p| (p.start, p.file_name()));
    let mut bookings: Vec<&Booking> = bookings.iter().collect();
    bookings.sort_by(|a, b| (a.start, &a.title).cmp(&(b.start, &b.title)));

    let mut slots: Vec<Slot> = Vec::new();
    let mut ignored = Vec::new();
    let mut problems = Vec::new();
    // Starts already taken, by a booking or a file.
    let mut taken: HashSet<DateTime<Utc>> = HashSet::new();
    let mut claimed: HashSet<PathBuf> = HashSet::new();

    for booking in bookings {
        if !taken.insert(booking.start) {
            problems.push(SlotProblem {
                start: booking.start,
                end: booking.end,
                title: booking.title.clone(),
                problem: "the calendar books another programme at the same time, which airs \
                          instead: move one of them"
                    .to_string(),
                substitute: None,
            });
            continue;
        }
        let slug = booking.slug();
        let due = due_file(&programmes, booking, &slug);
        let (problem, replaces) = match due {
            Some(file) => {
                claimed.insert(file.path.clone());
                match check(&file.path, booking.start) {
                    FileCheck::Broken(reason) => (
                        format!("{} is broken ({reason})", file.file_name()),
                        file.file_name(),
                    ),
                    FileCheck::Good | FileCheck::Unchecked => {
                        let mut programme = file.clone();
                        programme.title = booking.title.clone();
                        slots.push(Slot {
                            programme,
                            hard_end: booking.end,
                            booking: Some(booking.clone()),
                            substitute: None,
                        });
                        continue;
                    }
                }
            }
            None => {
                let expected = expected_name(booking, &slug, tz);
                (
                    format!("no file {expected} in the programme folder"),
                    expected,
                )
            }
        };
        let edition = previous_edition(&programmes, booking, &slug, check);
        problems.push(SlotProblem {
            start: booking.start,
            end: booking.end,
            title: booking.title.clone(),
            problem: problem.clone(),
            substitute: edition.map(|p| p.path.clone()),
        });
        if let Some(edition) = edition {
            slots.push(Slot {
                programme: Programme {
                    start: booking.start,
                    title: booking.title.clone(),
                    note: None,
                    ..edition.clone()
                },
                hard_end: booking.end,
                booking: Some(booking.clone()),
                substitute: Some(Substitute {
                    replaces,
                    reason: problem,
                }),
            });
        }
    }

    for programme in programmes {
        if claimed.contains(&programme.path) {
            continue;
        }
        if !taken.insert(programme.start) {
            let airs = slots
                .iter()
                .find(|s| s.programme.start == programme.start)
                .map(|s| s.programme.file_name())
                .unwrap_or_else(|| "a booked programme".to_string());
            ignored.push(Ignored {
                reason: format!(
                    "starts at the same time as {airs}, which airs instead: rename one of them"
                ),
                path: programme.path,
            });
            continue;
        }
        slots.push(Slot {
            programme,
            hard_end: None,
            booking: None,
            substitute: None,
        });
    }

    slots.sort_by_key(|s| s.programme.start);
    let next_starts: Vec<Option<DateTime<Utc>>> = slots
        .iter()
        .skip(1)
        .map(|s| Some(s.programme.start))
        .chain([None])
        .collect();
    for (slot, next) in slots.iter_mut().zip(next_starts) {
        slot.hard_end = match (slot.hard_end, next) {
            (Some(end), Some(next)) => Some(end.min(next)),
            (end, next) => end.or(next),
        };
    }
    (slots, ignored, problems)
}

/// The file named for this booking's start: the one with its slug when
/// several share the time, else the first by name.
fn due_file<'a>(
    programmes: &'a [Programme],
    booking: &Booking,
    slug: &str,
) -> Option<&'a Programme> {
    let start = minute_of(booking.start);
    let at: Vec<&Programme> = programmes.iter().filter(|p| p.start == start).collect();
    at.iter()
        .find(|p| title_slug(&p.slug) == slug)
        .or_else(|| at.first())
        .copied()
}

/// File names carry minutes, so a booking at 10:00:30 is the 10:00 file's.
fn minute_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::minutes(1)).unwrap_or(t)
}

/// The latest edition of the programme before the booking that is not
/// known to be broken.
fn previous_edition<'a>(
    programmes: &'a [Programme],
    booking: &Booking,
    slug: &str,
    check: &dyn Fn(&Path, DateTime<Utc>) -> FileCheck,
) -> Option<&'a Programme> {
    programmes
        .iter()
        .rev()
        .filter(|p| p.start < minute_of(booking.start) && title_slug(&p.slug) == slug)
        .find(|p| !matches!(check(&p.path, booking.start), FileCheck::Broken(_)))
}

/// What the due file's name starts with, for a person looking for it.
fn expected_name(booking: &Booking, slug: &str, tz: Tz) -> String {
    format!(
        "{}_{slug}.*",
        booking.start.with_timezone(&tz).format("%Y%m%d_%H%M")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::slots::tests::{programme, utc};

    fn booking(title: &str, start: &str, end: Option<&str>) -> Booking {
        Booking {
            title: title.to_string(),
            start: utc(start),
            end: end.map(utc),
        }
    }

    fn trusted(_: &Path, _: DateTime<Utc>) -> FileCheck {
        FileCheck::Unchecked
    }

    fn names(slots: &[Slot]) -> Vec<String> {
        slots.iter().map(|s| s.programme.file_name()).collect()
    }

    #[test]
    fn a_booked_file_airs_under_the_calendar_title_and_ends_at_the_event_end() {
        let (slots, ignored, problems) = book(
            vec![programme(
                "20261121_1000_morning-show.mp3",
                "2026-11-21T10:00:00Z",
            )],
            &[booking(
                "Morning Show",
                "2026-11-21T10:00:00Z",
                Some("2026-11-21T11:00:00Z"),
            )],
            chrono_tz::UTC,
            &trusted,
        );
        assert!(ignored.is_empty() && problems.is_empty());
        assert_eq!(slots.len(), 1);
        assert_eq!(slots[0].programme.title, "Morning Show");
        assert_eq!(slots[0].hard_end, Some(utc("2026-11-21T11:00:00Z")));
        assert!(slots[0].booking.is_some() && slots[0].substitute.is_none());
    }

    #[test]
    fn a_missing_file_is_covered_by_the_latest_earlier_edition() {
        let (slots, _, problems) = book(
            vec![
                programme("20261107_1000_morning-show.mp3", "2026-11-07T10:00:00Z"),
                programme("20261114_1000_morning-show.mp3", "2026-11-14T10:00:00Z"),
                // Another programme, and a later edition: neither may stand in.
                programme("20261120_1000_jazz-hour.mp3", "2026-11-20T10:00:00Z"),
                programme("20261128_1000_morning-show.mp3", "2026-11-28T10:00:00Z"),
            ],
            &[booking(
                "Morning Show",
                "2026-11-21T10:00:00Z",
                Some("2026-11-21T11:00:00Z"),
            )],
            chrono_tz::UTC,
            &trusted,
        );
        let slot = slots
            .iter()
            .find(|s| s.programme.start == utc("2026-11-21T10:00:00Z"))
            .expect("the booking airs");
        assert_eq!(slot.programme.file_name(), "20261114_1000_morning-show.mp3");
        assert_eq!(slot.programme.title, "Morning Show");
        assert_eq!(slot.hard_end, Some(utc("2026-11-21T11:00:00Z")));
        let substitute = slot.substitute.as_ref().expect("marked as a substitute");
        assert_eq!(substitute.replaces, "20261121_1000_morning-show.*");
        assert!(substitute.reason.contains("no file"), "{substitute:?}");
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].substitute.as_deref().map(file_name_of),
            Some("20261114_1000_morning-show.mp3".to_string())
        );
        // The old editions still air at their own times too.
        assert_eq!(slots.len(), 5);
    }

    #[test]
    fn a_broken_file_is_replaced_and_a_broken_edition_is_passed_over() {
        let broken = |p: &Path, _: DateTime<Utc>| {
            let name = file_name_of(p);
            if name.starts_with("20261121") || name.starts_with("20261114") {
                FileCheck::Broken("damaged at 12:00".to_string())
            } else {
                FileCheck::Good
            }
        };
        let (slots, _, problems) = book(
            vec![
                programme("20261107_1000_morning-show.mp3", "2026-11-07T10:00:00Z"),
                programme("20261114_1000_morning-show.mp3", "2026-11-14T10:00:00Z"),
                programme("20261121_1000_morning-show.mp3", "2026-11-21T10:00:00Z"),
            ],
            &[booking("Morning Show", "2026-11-21T10:00:00Z", None)],
            chrono_tz::UTC,
            &broken,
        );
        let slot = slots.last().expect("the booking airs");
        assert_eq!(slot.programme.start, utc("2026-11-21T10:00:00Z"));
        assert_eq!(slot.programme.file_name(), "20261107_1000_morning-show.mp3");
        let substitute = slot.substitute.as_ref().expect("a substitute");
        assert_eq!(substitute.replaces, "20261121_1000_morning-show.mp3");
        assert!(problems[0].problem.contains("broken (damaged at 12:00)"));
        // The broken file does not also air at its own time.
        assert_eq!(
            names(&slots)
                .iter()
                .filter(|n| n.starts_with("20261121"))
                .count(),
            0
        );
    }

    #[test]
    fn with_no_earlier_edition_the_slot_is_left_to_filler() {
        let (slots, _, problems) = book(
            vec![programme("20261121_1200_news.mp3", "2026-11-21T12:00:00Z")],
            &[booking("Morning Show", "2026-11-21T10:00:00Z", None)],
            chrono_tz::UTC,
            &trusted,
        );
        assert_eq!(names(&slots), ["20261121_1200_news.mp3"]);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].substitute, None);
        assert!(problems[0].to_string().contains("filler covers"));
    }

    #[test]
    fn of_files_sharing_the_start_the_one_with_the_booking_slug_airs() {
        let (slots, ignored, _) = book(
            vec![
                programme("20261121_1000_a-repeat.mp3", "2026-11-21T10:00:00Z"),
                programme("20261121_1000_morning-show.mp3", "2026-11-21T10:00:00Z"),
            ],
            &[booking("Morning Show!", "2026-11-21T10:00:00Z", None)],
            chrono_tz::UTC,
            &trusted,
        );
        assert_eq!(names(&slots), ["20261121_1000_morning-show.mp3"]);
        assert_eq!(ignored.len(), 1);
        assert!(ignored[0].reason.contains("20261121_1000_morning-show.mp3"));
    }

    #[test]
    fn a_file_inside_a_booking_still_airs_and_ends_the_booking_early() {
        let (slots, _, _) = book(
            vec![
                programme("20261121_1000_morning-show.mp3", "2026-11-21T10:00:00Z"),
                programme("20261121_1030_news-flash.mp3", "2026-11-21T10:30:00Z"),
            ],
            &[booking(
                "Morning Show",
                "2026-11-21T10:00:00Z",
                Some("2026-11-21T11:00:00Z"),
            )],
            chrono_tz::UTC,
            &trusted,
        );
        assert_eq!(slots[0].hard_end, Some(utc("2026-11-21T10:30:00Z")));
        assert_eq!(slots[1].hard_end, None);
    }

    #[test]
    fn without_bookings_it_is_the_plain_schedule() {
        let files = vec![
            programme("20261121_1000_b.mp3", "2026-11-21T10:00:00Z"),
            programme("20261121_1000_a.mp3", "2026-11-21T10:00:00Z"),
            programme("20261121_1100_c.mp3", "2026-11-21T11:00:00Z"),
        ];
        let (slots, ignored, problems) = book(files, &[], chrono_tz::UTC, &trusted);
        assert_eq!(
            names(&slots),
            ["20261121_1000_a.mp3", "20261121_1100_c.mp3"]
        );
        assert_eq!(slots[0].hard_end, Some(utc("2026-11-21T11:00:00Z")));
        assert_eq!(ignored.len(), 1);
        assert!(problems.is_empty());
    }

    #[test]
    fn two_bookings_at_one_time_are_a_problem_not_a_double_airing() {
        // Bad input: the calendar has two events starting together.
        let (slots, _, problems) = book(
            vec![programme(
                "20261121_1000_morning-show.mp3",
                "2026-11-21T10:00:00Z",
            )],
            &[
                booking("Morning Show", "2026-11-21T10:00:00Z", None),
                booking("Talk Back", "2026-11-21T10:00:00Z", None),
            ],
            chrono_tz::UTC,
            &trusted,
        );
        assert_eq!(slots.len(), 1);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].title, "Talk Back");
    }
}
