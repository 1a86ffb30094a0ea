//! `onair schedule`: what airs today and tomorrow, read the way the box
//! reads it: the programme folder, the calendar (its last good copy when
//! the source cannot be read), and the pre-air check results the box keeps
//! in the data folder.

use std::fmt::Write;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Days, TimeDelta, Utc};

use crate::calendar;
use crate::config::Config;
use crate::director::preair::{self, CheckRecord};
use crate::schedule::{self, FileCheck, Slot, SlotProblem};

/// The timetable as text, for a person.
pub fn timetable(config: &Config, now: DateTime<Utc>) -> Result<String> {
    let tz = config.station.timezone;
    let scan = schedule::scan_now(&config.library.programmes, tz, std::time::SystemTime::now())?;
    // Today and tomorrow as the station's calendar has them: a day with a
    // clock change is 23 or 25 hours long.
    let today = now.with_timezone(&tz).date_naive();
    let midnight = |days: u64| {
        today
            .checked_add_days(Days::new(days))
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| schedule::resolve_local(tz, t).0)
            .context("the simulated clock is too close to the end of the calendar")
    };
    let (from, to) = (midnight(0)?, midnight(2)?);

    let snapshot = config
        .calendar
        .as_ref()
        .map(|c| calendar::load_once(c, &config.data.dir, tz, now));
    // From two days back, so a substitute can be told from the programme's
    // own earlier editions.
    let bookings = snapshot
        .as_ref()
        .map(|s| s.bookings_between(from - TimeDelta::days(2), to))
        .unwrap_or_default();
    let records = preair::read_results(&config.data.dir);
    let check = |path: &Path, _: DateTime<Utc>| preair::result_for(&records, path);
    let (slots, mut ignored, problems) = schedule::book(scan.programmes, &bookings, tz, &check);
    ignored.extend(scan.ignored);

    let duration_of = |p: &Path| {
        crate::engine::decoder::probe_duration(p)
            .ok()
            .and_then(|d| TimeDelta::from_std(d).ok())
    };
    let have_filler = config
        .library
        .filler
        .as_deref()
        .is_some_and(|d| schedule::list_audio_files(d).is_ok_and(|f| !f.is_empty()));
    let have_emergency = config
        .library
        .emergency
        .as_deref()
        .is_some_and(Path::exists);
    let mut plan =
        schedule::running_order(&slots, from, to, &duration_of, have_filler, have_emergency);
    let check_ahead = config.check_ahead_minutes();
    for entry in &mut plan {
        if let Some(slot) = slots.iter().find(|s| s.programme.start == entry.start)
            && matches!(entry.kind, schedule::AiringKind::Programme { .. })
        {
            entry.remarks = slot_remarks(slot, &records, check_ahead);
        }
        // A booking left to filler is shown on the filler that covers it.
        for problem in problems
            .iter()
            .filter(|p| p.substitute.is_none() && p.start >= entry.start && p.start < entry.end)
        {
            entry.remarks.push(uncovered(problem, tz));
        }
    }

    let mut text = String::new();
    if let Some(snapshot) = &snapshot {
        text.push_str(&calendar_line(&snapshot.state, tz));
    }
    text.push_str(&schedule::render_running_order(&plan, tz));
    if !scan.settling.is_empty() {
        text.push_str("\nStill being copied (they air once they stop changing):\n");
        for file in &scan.settling {
            let _ = writeln!(text, "  {}", file.display());
        }
    }
    if !ignored.is_empty() {
        text.push_str("\nIgnored files:\n");
        for i in &ignored {
            let _ = writeln!(text, "  {}: {}", i.path.display(), i.reason);
        }
    }
    if let Some(snapshot) = &snapshot
        && !snapshot.state.notes.is_empty()
    {
        text.push_str("\nCalendar events not used:\n");
        for note in &snapshot.state.notes {
            let _ = writeln!(text, "  {note}");
        }
    }
    Ok(text)
}

fn slot_remarks(slot: &Slot, records: &[CheckRecord], check_ahead: u32) -> Vec<String> {
    // Only booked slots are checked before air: a file without a booking
    // is found broken when it is cued, as it always was.
    if slot.booking.is_none() {
        return Vec::new();
    }
    let mut remarks = vec!["booked in the calendar".to_string()];
    if let Some(substitute) = &slot.substitute {
        remarks.push(format!(
            "SUBSTITUTE for {}: {}",
            substitute.replaces, substitute.reason
        ));
    }
    let check = match preair::result_for(records, &slot.programme.path) {
        FileCheck::Good => "pre-air check: plays from start to end".to_string(),
        FileCheck::Broken(problem) => format!("pre-air check: BROKEN: {problem}"),
        FileCheck::Unchecked => format!(
            "pre-air check: not checked yet (the box checks it {check_ahead} min before its slot)"
        ),
    };
    remarks.push(check);
    remarks
}

fn uncovered(problem: &SlotProblem, tz: chrono_tz::Tz) -> String {
    format!(
        "booked at {}: {problem}",
        problem.start.with_timezone(&tz).format("%H:%M")
    )
}

fn calendar_line(state: &calendar::CalendarState, tz: chrono_tz::Tz) -> String {
    let local = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
    let copy = state.loaded_at.map_or("no copy yet".to_string(), |t| {
        format!("copy of {}", local(t))
    });
    match &state.problem {
        Some(problem) => format!("Calendar {} ({copy}): STALE: {problem}\n", state.source),
        None => format!("Calendar {} ({copy})\n", state.source),
    }
}
