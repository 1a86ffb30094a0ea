//! `[recorder]` and its `[[recorder.channel]]` tables: other stations' and
//! partners' streams the box records into its archive.
//!
//! ```toml
//! [recorder]
//! categories = ["news", "partners"]
//!
//! [[recorder.channel]]
//! name = "network-news"
//! url = "https://news.example.org/live.mp3"
//! category = "news"
//! record = ["Mon-Fri 06:00-09:00"]     # or "always" (the default)
//! # calendar = "https://…/recordings.ics" instead of record
//! cut_to = "/srv/cuts"                  # at each window's end: cut it here,
//! copy_to = "/mnt/news"                 # then copy the cut there,
//! hook = "publish"                      # then run this [[jobs.hook]] on it
//! ```

use std::path::PathBuf;

use toml::{Table, Value};

use super::reader::{TableReader, article_type};
use super::{ArchiveConfig, CalendarSource, JobsConfig};
use crate::recorder::address::{check_category, check_name, check_url};
use crate::recorder::windows::Window;

const RECORDER_KEYS: &[&str] = &["categories", "channel"];
const CHANNEL_KEYS: &[&str] = &[
    "name", "url", "category", "record", "calendar", "cut_to", "copy_to", "hook",
];
/// The category of a channel that names none.
pub const DEFAULT_CATEGORY: &str = "other";

/// `[recorder]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecorderConfig {
    /// Categories declared, whether or not a channel is in them yet.
    pub categories: Vec<String>,
    pub channels: Vec<RecordedChannel>,
}

/// One `[[recorder.channel]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedChannel {
    /// Its folder in the archive.
    pub name: String,
    pub url: String,
    pub category: String,
    pub when: RecordWhen,
    /// The jobs added when a window of it ends.
    pub after_window: Option<WindowJobs>,
}

/// At a window's end: a cut of the window into `cut_to`, then a copy of
/// the cut into `copy_to`, then `hook` run on the last file, each after
/// the one before (the job queue's `recorder` queue).
#[derive(Debug, Clone, PartialEq)]
pub struct WindowJobs {
    pub cut_to: PathBuf,
    pub copy_to: Option<PathBuf>,
    pub hook: Option<String>,
}

/// When a channel records.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordWhen {
    Always,
    /// In these weekly windows of the station's wall time.
    Windows(Vec<Window>),
    /// During the events of this iCalendar.
    Calendar(CalendarSource),
}

impl RecorderConfig {
    /// Every category: those declared and those the channels name.
    pub fn all_categories(&self) -> Vec<String> {
        let mut all = self.categories.clone();
        for channel in &self.channels {
            if !all.contains(&channel.category) {
                all.push(channel.category.clone());
            }
        }
        all
    }
}

impl TableReader {
    /// `None` without a `[recorder]` section.
    pub(super) fn recorder(
        &mut self,
        root: &Table,
        archive: Option<&ArchiveConfig>,
        jobs: &JobsConfig,
    ) -> Option<RecorderConfig> {
        let table = self.section(root, "recorder", RECORDER_KEYS)?;
        if archive.is_none() && !root.contains_key("archive") {
            self.problem(
                "recorder",
                None,
                "the recorder keeps what it records in the archive: add an [archive] section \
                 (its dir), or remove [recorder]",
            );
        }
        let categories = self.categories(table);
        let mut channels: Vec<RecordedChannel> = Vec::new();
        match table.get("channel") {
            None => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let prefix = format!("recorder.channel[{i}]");
                    let Value::Table(t) = item else {
                        self.problem(
                            &prefix,
                            Some(item),
                            "expected a [[recorder.channel]] table with name, url and category",
                        );
                        continue;
                    };
                    let Some(channel) = self.recorded_channel(&prefix, t, jobs) else {
                        continue;
                    };
                    if channels.iter().any(|c| c.name == channel.name) {
                        self.problem(
                            format!("{prefix}.name"),
                            t.get("name"),
                            "another channel has this name already: each needs a folder of \
                             its own",
                        );
                    } else if archive.is_some_and(|a| a.channel == channel.name) {
                        self.problem(
                            format!("{prefix}.name"),
                            t.get("name"),
                            "this is the box's own archive channel ([archive] channel): give \
                             the recording another name",
                        );
                    } else {
                        channels.push(channel);
                    }
                }
            }
            Some(other) => self.problem(
                "recorder.channel",
                Some(other),
                format!(
                    "expected [[recorder.channel]] tables, not {}",
                    article_type(other)
                ),
            ),
        }
        Some(RecorderConfig {
            categories,
            channels,
        })
    }

    fn categories(&mut self, table: &Table) -> Vec<String> {
        let Some(value) = table.get("categories") else {
            return Vec::new();
        };
        let expected = "expected a list of category names, such as [\"news\", \"partners\"]";
        let Value::Array(items) = value else {
            self.problem("recorder.categories", Some(value), expected);
            return Vec::new();
        };
        let mut categories = Vec::new();
        for item in items {
            match item.as_str().map(check_category) {
                Some(Ok(())) => {
                    let name = item.as_str().unwrap_or_default().to_string();
                    if !categories.contains(&name) {
                        categories.push(name);
                    }
                }
                Some(Err(why)) => self.problem("recorder.categories", Some(item), why),
                None => self.problem("recorder.categories", Some(item), expected),
            }
        }
        categories
    }

    fn recorded_channel(
        &mut self,
        prefix: &str,
        table: &Table,
        jobs: &JobsConfig,
    ) -> Option<RecordedChannel> {
        self.unknown_keys(prefix, table, CHANNEL_KEYS);
        let text = |reader: &mut TableReader, key: &str, check: fn(&str) -> Result<(), String>| {
            let value = reader.string(prefix, Some(table), key)?;
            match check(value) {
                Ok(()) => Some(value.to_string()),
                Err(why) => {
                    reader.problem(format!("{prefix}.{key}"), table.get(key), why);
                    None
                }
            }
        };
        if !table.contains_key("name") {
            self.problem(
                format!("{prefix}.name"),
                None,
                "expected the channel's name, its folder in the archive (such as \
                 \"network-news\")",
            );
        }
        if !table.contains_key("url") {
            self.problem(
                format!("{prefix}.url"),
                None,
                "expected the stream's http:// or https:// address",
            );
        }
        let name = text(self, "name", check_name);
        let url = text(self, "url", check_url);
        let category = if table.contains_key("category") {
            text(self, "category", check_category)
        } else {
            Some(DEFAULT_CATEGORY.to_string())
        };
        let when = self.record_when(prefix, table);
        let after_window = self.window_jobs(prefix, table, jobs, when.as_ref());
        Some(RecordedChannel {
            name: name?,
            url: url?,
            category: category?,
            when: when?,
            after_window: after_window?,
        })
    }

    /// `cut_to`, `copy_to` and `hook`: `Some(None)` when none is given.
    fn window_jobs(
        &mut self,
        prefix: &str,
        table: &Table,
        jobs: &JobsConfig,
        when: Option<&RecordWhen>,
    ) -> Option<Option<WindowJobs>> {
        if !["cut_to", "copy_to", "hook"]
            .iter()
            .any(|k| table.contains_key(*k))
        {
            return Some(None);
        }
        let mut fine = true;
        if when == Some(&RecordWhen::Always) {
            self.problem(
                format!("{prefix}.cut_to"),
                table.get("cut_to"),
                "a channel that records always has no window to cut: give it `record` windows \
                 or a `calendar`, or remove cut_to, copy_to and hook",
            );
            fine = false;
        }
        let cut_to = self.path(prefix, Some(table), "cut_to");
        if !table.contains_key("cut_to") {
            self.problem(
                format!("{prefix}.cut_to"),
                None,
                "expected the folder each window's cut is written to (such as \"/srv/cuts\"): \
                 copy_to and hook work on the cut",
            );
        }
        let copy_to = self.path(prefix, Some(table), "copy_to");
        let hook = self.string(prefix, Some(table), "hook").map(str::to_string);
        if let Some(name) = &hook
            && !jobs.hooks.iter().any(|h| &h.name == name)
        {
            self.problem(
                format!("{prefix}.hook"),
                table.get("hook"),
                format!(
                    "there is no [[jobs.hook]] named {name:?}; the hooks are: {}",
                    if jobs.hooks.is_empty() {
                        "none".to_string()
                    } else {
                        jobs.hooks
                            .iter()
                            .map(|h| h.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            );
            fine = false;
        }
        let chain = WindowJobs {
            cut_to: cut_to?,
            copy_to,
            hook,
        };
        fine.then_some(Some(chain))
    }

    fn record_when(&mut self, prefix: &str, table: &Table) -> Option<RecordWhen> {
        let record_key = format!("{prefix}.record");
        let calendar = match table.get("calendar") {
            None => None,
            Some(value) => {
                let key = format!("{prefix}.calendar");
                let example = "expected the address (https://…/recordings.ics) or path of an \
                               iCalendar whose events are the recording times";
                match value.as_str().map(str::trim) {
                    Some(text) if !text.is_empty() => {
                        Some(self.calendar_source(&key, value, text, example)?)
                    }
                    _ => {
                        self.problem(key, Some(value), example);
                        return None;
                    }
                }
            }
        };
        let expected = "expected \"always\", or weekly windows such as [\"Mon-Fri 06:00-09:00\", \
                        \"Sat 22:00-02:00\"]";
        let texts: Vec<&Value> = match table.get("record") {
            None => {
                return Some(calendar.map_or(RecordWhen::Always, RecordWhen::Calendar));
            }
            Some(_) if calendar.is_some() => {
                self.problem(
                    record_key,
                    table.get("record"),
                    "a channel records either by `record` or by `calendar`, not both: \
                     remove one",
                );
                return None;
            }
            Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("always") => {
                return Some(RecordWhen::Always);
            }
            Some(one @ Value::String(_)) => vec![one],
            Some(Value::Array(items)) if !items.is_empty() => items.iter().collect(),
            Some(other) => {
                self.problem(record_key, Some(other), expected);
                return None;
            }
        };
        let mut windows = Vec::with_capacity(texts.len());
        for value in texts {
            match value.as_str().map(str::parse::<Window>) {
                Some(Ok(window)) => windows.push(window),
                Some(Err(bad)) => self.problem(&record_key, Some(value), bad.to_string()),
                None => self.problem(&record_key, Some(value), expected),
            }
        }
        Some(RecordWhen::Windows(windows))
    }
}

#[cfg(test)]
mod tests;
