//! What the as-run log says about the slots, read once at start-up: which
//! were aired (not to be aired again) and which a crash or stop cut off.

use std::collections::HashSet;
use std::path::PathBuf;

use crate::asrun::{Ended, Entry};

use super::arrange::SlotKey;

/// Slots done (finished, faded, skipped, failed) and slots interrupted
/// (the box stopped while they were on air: they are joined again).
pub fn slot_states(entries: &[Entry]) -> (HashSet<SlotKey>, HashSet<SlotKey>) {
    let mut done = HashSet::new();
    let mut interrupted = HashSet::new();
    for e in entries {
        // A track shares its programme's slot and file: its end is not the
        // programme's, and a stream event is no sound at all.
        if !e.is_item() {
            continue;
        }
        let Some(start) = e.scheduled else { continue };
        let key = SlotKey {
            start,
            file: PathBuf::from(&e.file),
        };
        match e.ended {
            Some(
                Ended::Natural
                | Ended::Faded
                | Ended::Skipped
                | Ended::Failed
                | Ended::Cancelled
                | Ended::DeadAir,
            ) => {
                interrupted.remove(&key);
                done.insert(key);
            }
            // Faded under the studio: automation takes it up again at its
            // offset, as after a restart.
            Some(Ended::Interrupted | Ended::Stopped | Ended::Live) | None => {
                if !done.contains(&key) {
                    interrupted.insert(key);
                }
            }
        }
    }
    (done, interrupted)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::asrun::Kind;

    fn t(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn entry(kind: Kind, start: &str, ended: Ended) -> Entry {
        Entry {
            id: 0,
            start: t(start),
            end: Some(t(start)),
            kind,
            title: "Saturday Jazz".into(),
            file: "/p/20261121_1000_saturday-jazz.mp3".into(),
            offset_ms: 0,
            ended: Some(ended),
            reason: None,
            scheduled: Some(t("2026-11-21T10:00:00Z")),
            artist: None,
            programme: None,
            replaces: None,
            problem: None,
            heard: None,
            by: None,
        }
    }

    #[test]
    fn a_finished_track_does_not_finish_its_programme() {
        // The box died during the programme, after one of its tracks had
        // ended naturally: the slot is to be joined again, not done.
        let entries = [
            entry(Kind::Scheduled, "2026-11-21T10:00:00Z", Ended::Interrupted),
            entry(Kind::Track, "2026-11-21T10:00:00Z", Ended::Natural),
            entry(Kind::Track, "2026-11-21T10:04:00Z", Ended::Interrupted),
        ];
        let (done, interrupted) = slot_states(&entries);
        assert!(done.is_empty(), "{done:?}");
        assert_eq!(interrupted.len(), 1);
        // A substitute stands for its slot like the programme it replaces.
        let (done, _) = slot_states(&[entry(
            Kind::Substitute,
            "2026-11-21T10:00:00Z",
            Ended::Faded,
        )]);
        assert_eq!(done.len(), 1);
    }
}
