//! The as-run log as `onair log --json` prints it, and checks on it that
//! print the whole log when they fail.

use std::fmt;

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Scheduled,
    Filler,
    Emergency,
    Resumed,
    /// A stream output going up or down (start = end).
    Stream,
    /// A track inside a programme (from its track list).
    Track,
    /// A previous edition airing in place of a missing or broken file.
    Substitute,
    /// The listen-back raising or clearing an alarm for a stream (start = end).
    Listen,
    /// The studio on air.
    Live,
    /// An alarm raised or cleared (start = end).
    Alarm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ended {
    Natural,
    Faded,
    Skipped,
    Failed,
    Interrupted,
    Stopped,
    Live,
    Cancelled,
    #[serde(rename = "dead_air")]
    DeadAir,
}

/// One as-run entry. `id` and `scheduled` are kept as JSON: the tests only
/// print them.
#[derive(Debug, Clone, Deserialize)]
pub struct AsRun {
    pub id: serde_json::Value,
    pub start: DateTime<FixedOffset>,
    pub end: Option<DateTime<FixedOffset>>,
    pub kind: Kind,
    pub title: String,
    pub file: Option<String>,
    pub offset_ms: Option<i64>,
    pub ended: Option<Ended>,
    pub reason: Option<String>,
    #[serde(default)]
    pub scheduled: serde_json::Value,
    #[serde(default)]
    pub artist: Option<String>,
    #[serde(default)]
    pub programme: Option<String>,
    #[serde(default)]
    pub replaces: Option<String>,
    #[serde(default)]
    pub problem: Option<String>,
    /// A listen-back event's: `absent`, `no_data`, `silent` or `ok`.
    #[serde(default)]
    pub heard: Option<String>,
    /// A live entry's: who switched.
    #[serde(default)]
    pub by: Option<String>,
}

fn words(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl AsRun {
    /// Whether this entry is the programme or track named by `slug`, however
    /// the box turns the slug into a title.
    pub fn is(&self, slug: &str) -> bool {
        let slug = words(slug);
        words(&self.title) == slug
            || self
                .file
                .as_deref()
                .is_some_and(|f| words(f.rsplit('/').next().unwrap_or(f)).contains(&slug))
    }

    /// The file name without its folder.
    pub fn file_name(&self) -> Option<&str> {
        self.file
            .as_deref()
            .map(|f| f.rsplit('/').next().unwrap_or(f))
    }
}

#[derive(Debug, Clone)]
pub struct AsRunLog {
    pub entries: Vec<AsRun>,
    pub tz: Tz,
}

impl AsRunLog {
    pub fn parse(json: &str, tz: Tz) -> Result<AsRunLog, String> {
        serde_json::from_str::<Vec<AsRun>>(json)
            .map(|entries| AsRunLog { entries, tz })
            .map_err(|e| {
                format!(
                    "`onair log --json` printed something that is not the as-run log: {e}\n{json}"
                )
            })
    }

    pub fn fail(&self, message: &str) -> ! {
        panic!("{message}\n\nas-run log:\n{self}")
    }

    pub fn check(&self, ok: bool, message: &str) {
        if !ok {
            self.fail(message);
        }
    }

    pub fn titled(&self, slug: &str) -> Vec<&AsRun> {
        self.entries.iter().filter(|e| e.is(slug)).collect()
    }

    /// The only entry for `slug`.
    pub fn one(&self, slug: &str) -> &AsRun {
        match self.titled(slug).as_slice() {
            [entry] => entry,
            found => self.fail(&format!(
                "expected one entry for {slug:?}, found {}",
                found.len()
            )),
        }
    }

    pub fn of_kind(&self, kind: Kind) -> Vec<&AsRun> {
        self.entries.iter().filter(|e| e.kind == kind).collect()
    }

    pub fn expect_kind(&self, entry: &AsRun, kind: Kind) {
        self.check(
            entry.kind == kind,
            &format!(
                "{:?} should be logged as {kind:?}, it is {:?}",
                entry.title, entry.kind
            ),
        );
    }

    pub fn expect_ended(&self, entry: &AsRun, ended: &[Ended]) {
        self.check(
            entry.ended.is_some_and(|e| ended.contains(&e)),
            &format!(
                "{:?} (started {}) should have ended {ended:?}, the log says {:?}",
                entry.title, entry.start, entry.ended
            ),
        );
    }

    pub fn expect_start(&self, entry: &AsRun, at: DateTime<Utc>, tolerance: TimeDelta) {
        let off = entry.start.to_utc() - at;
        self.check(
            off.abs() <= tolerance,
            &format!(
                "{:?} should start at {} (± {} ms), the log says {} ({:+} ms)",
                entry.title,
                at.with_timezone(&self.tz).to_rfc3339(),
                tolerance.num_milliseconds(),
                entry.start.to_rfc3339(),
                off.num_milliseconds()
            ),
        );
    }

    pub fn expect_end(&self, entry: &AsRun, at: DateTime<Utc>, tolerance: TimeDelta) {
        let Some(end) = entry.end else {
            self.fail(&format!(
                "{:?} should end at {at}, the log has no end",
                entry.title
            ));
        };
        let off = end.to_utc() - at;
        self.check(
            off.abs() <= tolerance,
            &format!(
                "{:?} should end at {} (± {} ms), the log says {} ({:+} ms)",
                entry.title,
                at.with_timezone(&self.tz).to_rfc3339(),
                tolerance.num_milliseconds(),
                end.to_rfc3339(),
                off.num_milliseconds()
            ),
        );
    }

    /// Times in the log carry the station's offset at that instant.
    pub fn expect_station_offsets(&self) {
        for entry in &self.entries {
            for t in std::iter::once(entry.start).chain(entry.end) {
                let station = t.with_timezone(&self.tz).fixed_offset();
                self.check(
                    t.offset() == station.offset(),
                    &format!(
                        "{:?}: {} should carry the station's offset at that instant ({})",
                        entry.title,
                        t.to_rfc3339(),
                        station.to_rfc3339()
                    ),
                );
            }
        }
    }
}

impl fmt::Display for AsRunLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.entries {
            writeln!(
                f,
                "  {} → {}  {:<9} {:<24} offset {:>8} ms  ended {:<11} {}{}",
                e.start.to_rfc3339(),
                e.end.map_or("(open)".into(), |t| t.to_rfc3339()),
                format!("{:?}", e.kind).to_lowercase(),
                e.title,
                e.offset_ms.map_or("-".into(), |o| o.to_string()),
                e.ended
                    .map_or("-".into(), |x| format!("{x:?}").to_lowercase()),
                e.file_name().unwrap_or("-"),
                e.reason
                    .as_deref()
                    .map_or(String::new(), |r| format!("  reason: {r}")),
            )?;
        }
        if self.entries.is_empty() {
            writeln!(f, "  (empty)")?;
        }
        Ok(())
    }
}
