//! The running order a person reads (`onair schedule`): what airs from when
//! to when, programmes at their starts and filler (or the emergency source,
//! or silence) in between.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use super::local_time::resolve_local;
use super::scan::file_name_of;
use super::slots::Slot;

/// What fills a stretch of the running order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AiringKind {
    Programme {
        title: String,
        file: PathBuf,
        /// Why it airs at another time than its name says (a clock change).
        note: Option<String>,
    },
    Filler,
    /// No filler folder: the emergency source fills the hole.
    Emergency,
    /// Nothing to fill the hole with.
    Silence,
}

/// One row of the running order: what airs from `start` to `end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Airing {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub kind: AiringKind,
    /// The programme is longer than its slot and is faded out at `end`.
    pub cut: bool,
    /// Lines a person should read under the row: the calendar booking, a
    /// substitute, the pre-air check.
    pub remarks: Vec<String>,
}

/// What airs between `from` and `to`. Each programme airs from its start to
/// the end of its file or its hard end, whichever comes first; one whose
/// length is unknown runs to its hard end (or to `to` if it is the last).
/// A programme already on air at `from` is listed with its real start. The
/// holes are filled with filler if there is any, else the emergency source,
/// else silence.
pub fn running_order(
    slots: &[Slot],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    duration_of: &dyn Fn(&Path) -> Option<TimeDelta>,
    have_filler: bool,
    have_emergency: bool,
) -> Vec<Airing> {
    let hole_kind = if have_filler {
        AiringKind::Filler
    } else if have_emergency {
        AiringKind::Emergency
    } else {
        AiringKind::Silence
    };
    let hole = |start, end| Airing {
        start,
        end,
        kind: hole_kind.clone(),
        cut: false,
        remarks: Vec::new(),
    };

    let mut plan = Vec::new();
    let mut covered_to = from;
    for slot in slots {
        let programme = &slot.programme;
        let start = programme.start;
        if start >= to {
            break;
        }
        let natural_end = duration_of(&programme.path).map(|d| start + d.max(TimeDelta::zero()));
        let (end, cut) = match (natural_end, slot.hard_end) {
            (Some(natural), Some(hard)) if natural > hard => (hard, true),
            (Some(natural), _) => (natural, false),
            (None, Some(hard)) => (hard, false),
            (None, None) => (to, false),
        };
        if end <= from && start < from {
            continue;
        }
        if start > covered_to {
            plan.push(hole(covered_to, start));
        }
        covered_to = covered_to.max(end);
        plan.push(Airing {
            start,
            end,
            kind: AiringKind::Programme {
                title: programme.title.clone(),
                file: programme.path.clone(),
                note: programme.note.as_ref().map(ToString::to_string),
            },
            cut,
            remarks: Vec::new(),
        });
    }
    if covered_to < to {
        plan.push(hole(covered_to, to));
    }
    plan
}

/// The running order as a table in station-local time, one heading per local day.
/// A hole that runs past midnight is shown under each day it covers, so
/// every row's end time is read on its own day.
pub fn render_running_order(entries: &[Airing], tz: Tz) -> String {
    let mut out = format!("Times in {}\n", tz.name());
    if entries.is_empty() {
        out.push_str("  nothing planned\n");
        return out;
    }
    let local = |t: DateTime<Utc>| tz.from_utc_datetime(&t.naive_utc());
    let mut day = None;
    for entry in entries {
        let what = match &entry.kind {
            AiringKind::Programme { title, file, .. } => {
                format!("{title} ({})", file_name_of(file))
            }
            AiringKind::Filler => "filler".to_string(),
            AiringKind::Emergency => "emergency source (no filler)".to_string(),
            AiringKind::Silence => "SILENCE (no filler, no emergency source)".to_string(),
        };
        let pieces = match entry.kind {
            AiringKind::Programme { .. } => vec![(entry.start, entry.end)],
            _ => split_at_midnights(entry.start, entry.end, tz),
        };
        for (from, to) in pieces {
            let start = local(from);
            if day != Some(start.date_naive()) {
                day = Some(start.date_naive());
                let _ = writeln!(out, "\n{}", start.format("%A %Y-%m-%d"));
            }
            let _ = write!(
                out,
                "  {}  {}  {:>8}  {what}",
                start.format("%H:%M:%S %Z"),
                local(to).format("%H:%M:%S %Z"),
                length(to - from),
            );
            if entry.cut {
                out.push_str("  [cut: longer than its slot, faded at the next start]");
            }
            out.push('\n');
        }
        if let AiringKind::Programme {
            note: Some(note), ..
        } = &entry.kind
        {
            let _ = writeln!(out, "      note: {note}");
        }
        for remark in &entry.remarks {
            let _ = writeln!(out, "      {remark}");
        }
    }
    out
}

/// `start..end` cut at each local midnight in between.
fn split_at_midnights(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    tz: Tz,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut pieces = Vec::new();
    let mut from = start;
    loop {
        let next_day = tz
            .from_utc_datetime(&from.naive_utc())
            .date_naive()
            .succ_opt()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|midnight| resolve_local(tz, midnight).0);
        match next_day {
            Some(midnight) if midnight < end => {
                pieces.push((from, midnight));
                from = midnight;
            }
            _ => {
                pieces.push((from, end));
                return pieces;
            }
        }
    }
}

/// `h:mm:ss`, rounded down to the second.
fn length(d: TimeDelta) -> String {
    let s = d.num_seconds().max(0);
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::booking::slots;
    use crate::schedule::slots::tests::{programme, utc};
    use std::collections::HashMap;

    /// File lengths by file name; files not listed have an unknown length.
    fn lengths(list: &[(&str, i64)]) -> impl Fn(&Path) -> Option<TimeDelta> {
        let map: HashMap<String, i64> = list.iter().map(|(n, s)| (n.to_string(), *s)).collect();
        move |path: &Path| map.get(&file_name_of(path)).map(|s| TimeDelta::seconds(*s))
    }

    /// (start, end, what, cut) with times as `hh:mm:ss` UTC.
    fn rows(plan: &[Airing]) -> Vec<(String, String, String, bool)> {
        plan.iter()
            .map(|e| {
                let what = match &e.kind {
                    AiringKind::Programme { file, .. } => file_name_of(file),
                    other => format!("{other:?}"),
                };
                let t = |t: DateTime<Utc>| t.format("%H:%M:%S").to_string();
                (t(e.start), t(e.end), what, e.cut)
            })
            .collect()
    }

    fn row(start: &str, end: &str, what: &str, cut: bool) -> (String, String, String, bool) {
        (start.into(), end.into(), what.into(), cut)
    }

    fn two_half_hours() -> Vec<Slot> {
        slots(vec![
            programme("20260601_1100_first.mp3", "2026-06-01T10:00:00Z"),
            programme("20260601_1130_second.mp3", "2026-06-01T10:30:00Z"),
        ])
        .0
    }

    #[test]
    fn a_short_first_programme_leaves_filler_until_the_second() {
        let plan = running_order(
            &two_half_hours(),
            utc("2026-06-01T10:00:00Z"),
            utc("2026-06-01T11:00:00Z"),
            &lengths(&[
                ("20260601_1100_first.mp3", 5),
                ("20260601_1130_second.mp3", 1800),
            ]),
            true,
            true,
        );
        assert_eq!(
            rows(&plan),
            [
                row("10:00:00", "10:00:05", "20260601_1100_first.mp3", false),
                row("10:00:05", "10:30:00", "Filler", false),
                row("10:30:00", "11:00:00", "20260601_1130_second.mp3", false),
            ]
        );
    }

    #[test]
    fn a_long_first_programme_is_cut_at_the_second_start() {
        let plan = running_order(
            &two_half_hours(),
            utc("2026-06-01T10:00:00Z"),
            utc("2026-06-01T11:00:00Z"),
            &lengths(&[
                ("20260601_1100_first.mp3", 40 * 60),
                ("20260601_1130_second.mp3", 1800),
            ]),
            true,
            true,
        );
        assert_eq!(
            rows(&plan),
            [
                row("10:00:00", "10:30:00", "20260601_1100_first.mp3", true),
                row("10:30:00", "11:00:00", "20260601_1130_second.mp3", false),
            ]
        );
    }

    #[test]
    fn holes_are_filler_else_emergency_else_silence() {
        let durations = lengths(&[
            ("20260601_1100_first.mp3", 600),
            ("20260601_1130_second.mp3", 600),
        ]);
        let plan = |filler, emergency| {
            running_order(
                &two_half_hours(),
                utc("2026-06-01T09:00:00Z"),
                utc("2026-06-01T12:00:00Z"),
                &durations,
                filler,
                emergency,
            )
        };
        for (filler, emergency, hole) in [
            (true, true, "Filler"),
            (true, false, "Filler"),
            (false, true, "Emergency"),
            (false, false, "Silence"),
        ] {
            assert_eq!(
                rows(&plan(filler, emergency)),
                [
                    row("09:00:00", "10:00:00", hole, false),
                    row("10:00:00", "10:10:00", "20260601_1100_first.mp3", false),
                    row("10:10:00", "10:30:00", hole, false),
                    row("10:30:00", "10:40:00", "20260601_1130_second.mp3", false),
                    row("10:40:00", "12:00:00", hole, false),
                ],
                "filler {filler}, emergency {emergency}"
            );
        }
        // No programmes at all: one hole.
        let empty = running_order(
            &[],
            utc("2026-06-01T00:00:00Z"),
            utc("2026-06-02T00:00:00Z"),
            &|_| None,
            false,
            true,
        );
        assert_eq!(
            rows(&empty),
            [row("00:00:00", "00:00:00", "Emergency", false)]
        );
        assert_eq!(empty[0].end - empty[0].start, TimeDelta::days(1));
    }

    #[test]
    fn unknown_lengths_run_to_the_hard_end_and_edges_of_the_window() {
        let slots = slots(vec![
            programme("20260601_0830_overnight.mp3", "2026-06-01T07:30:00Z"),
            programme("20260601_1100_first.mp3", "2026-06-01T10:00:00Z"),
            programme("20260601_1130_second.mp3", "2026-06-01T10:30:00Z"),
            programme("20260601_1300_later.mp3", "2026-06-01T12:00:00Z"),
        ])
        .0;
        // The overnight programme is still on air at 09:00 and is listed with
        // its real start; the one at 12:00 is outside the window.
        let plan = running_order(
            &slots,
            utc("2026-06-01T09:00:00Z"),
            utc("2026-06-01T12:00:00Z"),
            &lengths(&[
                ("20260601_0830_overnight.mp3", 7200),
                ("20260601_1130_second.mp3", 60),
            ]),
            true,
            false,
        );
        assert_eq!(
            rows(&plan),
            [
                row("07:30:00", "09:30:00", "20260601_0830_overnight.mp3", false),
                row("09:30:00", "10:00:00", "Filler", false),
                row("10:00:00", "10:30:00", "20260601_1100_first.mp3", false),
                row("10:30:00", "10:31:00", "20260601_1130_second.mp3", false),
                row("10:31:00", "12:00:00", "Filler", false),
            ]
        );
        // The last programme with an unknown length and no next start runs to
        // the end of the window.
        let plan = running_order(
            &slots,
            utc("2026-06-01T11:00:00Z"),
            utc("2026-06-01T14:00:00Z"),
            &|_| None,
            true,
            false,
        );
        assert_eq!(
            rows(&plan),
            [
                row("10:30:00", "12:00:00", "20260601_1130_second.mp3", false),
                row("12:00:00", "14:00:00", "20260601_1300_later.mp3", false),
            ]
        );
    }

    #[test]
    fn the_rendered_plan_reads_in_local_time() {
        let plan = running_order(
            &two_half_hours(),
            utc("2026-06-01T10:00:00Z"),
            utc("2026-06-01T11:00:00Z"),
            &lengths(&[("20260601_1100_first.mp3", 40 * 60)]),
            false,
            false,
        );
        let text = render_running_order(&plan, chrono_tz::Europe::London);
        assert!(text.starts_with("Times in Europe/London\n"), "{text}");
        assert!(text.contains("\nMonday 2026-06-01\n"), "{text}");
        assert!(
            text.contains(
                "  11:00:00 BST  11:30:00 BST   0:30:00  First (20260601_1100_first.mp3)  [cut: "
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "  11:30:00 BST  12:00:00 BST   0:30:00  Second (20260601_1130_second.mp3)\n"
            ),
            "{text}"
        );
        assert_eq!(
            render_running_order(&[], chrono_tz::Europe::London),
            "Times in Europe/London\n  nothing planned\n"
        );
    }

    #[test]
    fn a_hole_over_several_days_is_shown_under_each_day() {
        // Two local days with nothing scheduled, the first only 23 hours
        // long (clocks go forward): one row per day, each ending at its midnight.
        let plan = running_order(
            &[],
            utc("2026-03-29T00:00:00Z"),
            utc("2026-03-30T23:00:00Z"),
            &|_| None,
            false,
            true,
        );
        assert_eq!(plan.len(), 1);
        let text = render_running_order(&plan, chrono_tz::Europe::London);
        let expected = "Times in Europe/London

Sunday 2026-03-29
  00:00:00 GMT  00:00:00 BST  23:00:00  emergency source (no filler)

Monday 2026-03-30
  00:00:00 BST  00:00:00 BST  24:00:00  emergency source (no filler)
";
        assert_eq!(text, expected);
    }

    #[test]
    fn the_rendered_plan_shows_clock_change_notes_and_new_days() {
        let london = chrono_tz::Europe::London;
        let local = chrono::NaiveDate::from_ymd_opt(2026, 10, 25)
            .unwrap()
            .and_hms_opt(1, 30, 0)
            .unwrap();
        let (start, note) = crate::schedule::local_time::resolve_local(london, local);
        let mut night = programme("20261025_0130_night-owls.mp3", "2026-10-25T00:30:00Z");
        night.start = start;
        night.note = note;
        let (slots, _) = slots(vec![night]);
        let plan = running_order(
            &slots,
            utc("2026-10-24T22:00:00Z"),
            utc("2026-10-25T02:00:00Z"),
            &lengths(&[("20261025_0130_night-owls.mp3", 3600)]),
            true,
            false,
        );
        let text = render_running_order(&plan, london);
        let expected = "Times in Europe/London

Saturday 2026-10-24
  23:00:00 BST  00:00:00 BST   1:00:00  filler

Sunday 2026-10-25
  00:00:00 BST  01:30:00 BST   1:30:00  filler
  01:30:00 BST  01:30:00 GMT   1:00:00  Night Owls (20261025_0130_night-owls.mp3)
      note: 01:30 occurs twice on 2026-10-25 (clocks go back): airs at the first, 01:30 BST
  01:30:00 GMT  02:00:00 GMT   0:30:00  filler
";
        assert_eq!(text, expected);
    }
}
