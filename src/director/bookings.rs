//! The director's side of the calendar: each look at the programme folder
//! matches the bookings against the files, asks the pre-air check about the
//! files due soon, and keeps what it decided for a slot once that slot is on
//! air, so that a check that finishes late or a file that arrives late never
//! swaps the programme under a slot that has begun.

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
}

impl Booked {
    pub fn new(pre_air: PreAir, check_ahead: TimeDelta) -> Self {
        Booked {
            pre_air,
            check_ahead,
            decided: HashMap::new(),
            problems: Vec::new(),
        }
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
        let check = |path: &Path, start: DateTime<Utc>| {
            if start > now + self.check_ahead {
                FileCheck::Unchecked
            } else {
                self.pre_air.check(path)
            }
        };
        let (mut slots, ignored, problems) = schedule::book(programmes, bookings, tz, &check);
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
        let keep_from = now - TimeDelta::days(2);
        self.decided.retain(|start, _| *start >= keep_from);
        // Problems are worth a person's attention from the check-ahead on
        // and until the slot is over (an hour when the calendar gives no end).
        let problems: Vec<SlotProblem> = problems
            .into_iter()
            .filter(|p| {
                p.start <= now + self.check_ahead
                    && p.end.unwrap_or(p.start + TimeDelta::hours(1)) > now
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
        (slots, ignored)
    }

    /// Bookings within the check-ahead that cannot air their own file.
    pub fn problems(&self) -> &[SlotProblem] {
        &self.problems
    }
}
