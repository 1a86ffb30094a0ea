//! The director's side of the calendar: each look at the programme folder
//! matches the bookings against the files, asks the pre-air check about the
//! files due soon, and keeps what it decided for a slot once that slot is on
//! air, so that a check that finishes late or a file that arrives late never
//! swaps the programme under a slot that has begun.
//!
//! Matching a month of programmes against the calendar every second is
//! most of what an idle director would cost, and its answer changes only
//! when its inputs do or when the clock crosses a time it depends on (a
//! booking entering the check-ahead, a slot beginning, a problem ending).
//! So each matching says until when it holds; the director asks again
//! only when the folder, the calendar or a check result changed, or when
//! it no longer holds.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::preair::PreAir;
use crate::schedule::{self, Booking, FileCheck, Ignored, Programme, Slot, SlotProblem};

/// Bookings and their files, for one director.
pub struct Booked {
    pre_air: PreAir,
    check_ahead: TimeDelta,
    /// What aired (or airs) in each booked slot that has begun, by start.
    decided: HashMap<DateTime<Utc>, Slot>,
    problems: Vec<SlotProblem>,
    holds: Option<Holds>,
}

/// How long the last matching stands with the same folder and calendar.
#[derive(Debug, Clone, Copy)]
struct Holds {
    /// The pre-air results it was made with.
    checks: u64,
    /// The station time and the end of what counts as begun it was made at:
    /// a clock set back is not trusted to give the same answer.
    now: DateTime<Utc>,
    begun: DateTime<Utc>,
    /// The first station time at which a booking enters the check-ahead,
    /// a problem starts or stops being shown, or a decided slot is forgotten.
    now_until: DateTime<Utc>,
    /// The first booked slot not yet begun.
    begun_until: DateTime<Utc>,
}

impl Booked {
    pub fn new(pre_air: PreAir, check_ahead: TimeDelta) -> Self {
        Booked {
            pre_air,
            check_ahead,
            decided: HashMap::new(),
            problems: Vec::new(),
            holds: None,
        }
    }

    /// Whether the last [`Booked::slots`] would answer the same at `now`
    /// and `begun`, given the same programmes and bookings.
    pub fn still_holds(&self, now: DateTime<Utc>, begun: DateTime<Utc>) -> bool {
        self.holds.is_some_and(|h| {
            h.checks == self.pre_air.generation()
                && (h.now..h.now_until).contains(&now)
                && (h.begun..h.begun_until).contains(&begun)
        })
    }

    /// The slots to air. `now` is the station time; `begun` the time up to
    /// which slots count as begun (what the engine may already have cued).
    pub fn slots(
        &mut self,
        programmes: Vec<Programme>,
        bookings: &[Booking],
        tz: Tz,
        now: DateTime<Utc>,
        begun: DateTime<Utc>,
    ) -> (Vec<Slot>, Vec<Ignored>) {
        // Read first: a result that comes in while matching is a change.
        let checks = self.pre_air.generation();
        let check = |path: &Path, start: DateTime<Utc>| {
            if start > now + self.check_ahead {
                FileCheck::Unchecked
            } else {
                self.pre_air.check(path)
            }
        };
        let (mut slots, ignored, problems) = schedule::book(programmes, bookings, tz, &check);
        // What `now` and `begun` are compared with below, and in `book`.
        let now_until = first_after(
            now,
            bookings
                .iter()
                .map(|b| b.start - self.check_ahead)
                .chain(problems.iter().flat_map(|p| {
                    [
                        p.start - self.check_ahead,
                        p.end.unwrap_or(p.start + SHOWN_WITHOUT_END),
                    ]
                })),
        );
        let begun_until = first_after(
            begun,
            slots
                .iter()
                .filter(|s| s.booking.is_some())
                .map(|s| s.programme.start),
        );
        for slot in slots.iter_mut().filter(|s| s.booking.is_some()) {
            let start = slot.programme.start;
            if start > begun {
                continue;
            }
            match self.decided.get(&start) {
                Some(decided) => {
                    let hard_end = slot.hard_end;
                    *slot = decided.clone();
                    slot.hard_end = hard_end;
                }
                None => {
                    self.decided.insert(start, slot.clone());
                }
            }
        }
        // A booked slot decided earlier that the new look lost (its file
        // was removed while it aired) stays.
        for (start, decided) in &self.decided {
            if *start <= begun && !slots.iter().any(|s| s.programme.start == *start) {
                slots.push(decided.clone());
            }
        }
        slots.sort_by_key(|s| s.programme.start);
        let keep_from = now - KEEP_DECIDED;
        let decided = self.decided.len();
        self.decided.retain(|start, _| *start >= keep_from);
        // A slot forgotten now is still in this answer, not in the next.
        let forgot = self.decided.len() < decided;
        // Problems are worth a person's attention from the check-ahead on
        // and until the slot is over (an hour when the calendar gives no end).
        let problems: Vec<SlotProblem> = problems
            .into_iter()
            .filter(|p| {
                p.start <= now + self.check_ahead
                    && p.end.unwrap_or(p.start + SHOWN_WITHOUT_END) > now
            })
            .collect();
        for problem in problems.iter().filter(|p| !self.problems.contains(p)) {
            tracing::warn!(
                "pre-air check, slot at {}: {problem}",
                problem.start.with_timezone(&tz).format("%Y-%m-%d %H:%M")
            );
        }
        for fixed in self
            .problems
            .iter()
            .filter(|p| !problems.iter().any(|n| n.start == p.start))
        {
            if fixed.start > now {
                tracing::info!(
                    "pre-air check: \"{}\" will air its own file again",
                    fixed.title
                );
            }
        }
        self.problems = problems;
        self.holds = (!forgot).then(|| Holds {
            checks,
            now,
            begun,
            now_until: now_until.min(first_after(
                now,
                self.decided.keys().map(|start| *start + KEEP_DECIDED),
            )),
            begun_until,
        });
        (slots, ignored)
    }

    /// Bookings within the check-ahead that cannot air their own file.
    pub fn problems(&self) -> &[SlotProblem] {
        &self.problems
    }
}

/// How long a problem is shown after its start when the calendar gives no end.
const SHOWN_WITHOUT_END: TimeDelta = TimeDelta::hours(1);

/// How long a decided slot is remembered after it began.
const KEEP_DECIDED: TimeDelta = TimeDelta::days(2);

/// The first of `times` after `from`, or the end of time.
fn first_after(from: DateTime<Utc>, times: impl Iterator<Item = DateTime<Utc>>) -> DateTime<Utc> {
    times
        .filter(|t| *t > from)
        .min()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::test_audio;
    use chrono::NaiveDateTime;
    use std::time::{Duration, Instant};

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn programme(dir: &Path, slug: &str, start: &str) -> Programme {
        Programme {
            path: dir.join(format!("{slug}-{start}.wav")),
            start: utc(start),
            local: NaiveDateTime::default(),
            slug: slug.to_string(),
            title: slug.to_string(),
            note: None,
        }
    }

    fn booking(title: &str, start: &str, end: Option<&str>) -> Booking {
        Booking {
            title: title.to_string(),
            start: utc(start),
            end: end.map(utc),
        }
    }

    /// Three days of a station whose files are all missing, so that every
    /// booking turns into a problem as it enters the check-ahead, and whose
    /// slots begin (and are kept as decided) before that: a director that
    /// matches only when the last matching no longer holds airs and shows
    /// what one matching every five minutes does, and matches far less.
    #[test]
    fn a_matching_kept_while_it_holds_answers_as_one_made_again_and_again() {
        let dir = Path::new("/nowhere/programmes");
        let programmes = vec![
            programme(dir, "news", "2026-12-07T09:00:00Z"),
            programme(dir, "show", "2026-12-06T12:00:00Z"),
            programme(dir, "show", "2026-12-07T12:00:00Z"),
            programme(dir, "late", "2026-12-07T18:30:00Z"),
            programme(dir, "show", "2026-12-08T12:00:00Z"),
        ];
        let bookings = vec![
            booking("show", "2026-12-07T12:00:00Z", Some("2026-12-07T13:00:00Z")),
            // No file at all, and no end: shown as a problem for an hour.
            booking("talk", "2026-12-07T15:00:00Z", None),
            booking("late", "2026-12-07T18:30:00Z", Some("2026-12-07T19:00:00Z")),
            booking("show", "2026-12-08T12:00:00Z", Some("2026-12-08T13:00:00Z")),
        ];
        // Slots begin two hours ahead, the check-ahead is half an hour.
        let lead = TimeDelta::hours(2);
        let check_ahead = TimeDelta::minutes(30);
        let mut every_time = Booked::new(PreAir::start(None), check_ahead);
        let mut kept = Booked::new(PreAir::start(None), check_ahead);
        let mut slots = Vec::new();
        let mut remade = 0;
        let mut now = utc("2026-12-06T23:58:00Z");
        while now < utc("2026-12-10T00:00:00Z") {
            let (fresh, _) =
                every_time.slots(programmes.clone(), &bookings, Tz::UTC, now, now + lead);
            if !kept.still_holds(now, now + lead) {
                remade += 1;
                slots = kept
                    .slots(programmes.clone(), &bookings, Tz::UTC, now, now + lead)
                    .0;
            }
            assert_eq!(slots, fresh, "the slots at {now}");
            assert_eq!(kept.problems(), every_time.problems(), "problems at {now}");
            now += TimeDelta::minutes(5);
        }
        // Four bookings begin, enter the check-ahead and stop being shown;
        // decided slots are forgotten.
        assert!((8..=20).contains(&remade), "matched {remade} times");

        // A clock set back is not trusted.
        let back = utc("2026-12-09T00:00:00Z");
        assert!(!kept.still_holds(back, back + lead));
    }

    #[test]
    fn a_new_check_result_is_a_change() {
        let scratch = test_audio::Scratch::new("booked-check");
        let tone = |i: u64| (i as f32 * 0.05).sin() * 0.5;
        let file = test_audio::wav(&scratch, "show.wav", 48_000, tone);
        let show = Programme {
            path: file,
            ..programme(&scratch.dir, "show", "2026-12-07T12:00:00Z")
        };
        let bookings = [booking(
            "show",
            "2026-12-07T12:00:00Z",
            Some("2026-12-07T13:00:00Z"),
        )];
        let mut booked = Booked::new(PreAir::start(None), TimeDelta::hours(1));
        let now = utc("2026-12-07T11:30:00Z");
        let asked = booked.pre_air.generation();
        booked.slots(vec![show], &bookings, Tz::UTC, now, now);
        let deadline = Instant::now() + Duration::from_secs(20);
        while booked.pre_air.generation() == asked && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_ne!(booked.pre_air.generation(), asked, "the file was checked");
        assert!(!booked.still_holds(now, now));
    }
}
