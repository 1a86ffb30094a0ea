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
        let Some(start) = e.scheduled else { continue };
        let key = SlotKey {
            start,
            file: PathBuf::from(&e.file),
        };
        match e.ended {
            Some(Ended::Natural | Ended::Faded | Ended::Skipped | Ended::Failed) => {
                interrupted.remove(&key);
                done.insert(key);
            }
            Some(Ended::Interrupted | Ended::Stopped) | None => {
                if !done.contains(&key) {
                    interrupted.insert(key);
                }
            }
        }
    }
    (done, interrupted)
}
