//! The channels the box records and their categories: those of the config
//! file, and those added at run time (`onair channel add`), which are kept
//! in `<data>/recorder/channels.json` so that they survive restarts.
//!
//! The file is written whole to a temporary name and renamed, under a lock
//! that two commands run at once take in turn, so a change is never half
//! made and never lost to another. The running box reads the file again
//! when it changes; a command need not reach the box to add a channel.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::address::{check_category, check_name, check_url};
use super::windows::Window;
use crate::config::{DEFAULT_CATEGORY, RecordWhen, RecordedChannel, RecorderConfig};

const FOLDER: &str = "recorder";
const FILE: &str = "channels.json";
const LOCK: &str = "channels.lock";

/// What is kept for the channels added at run time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Added {
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub channels: Vec<AddedChannel>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddedChannel {
    pub name: String,
    pub url: String,
    pub category: String,
    /// Weekly windows as written; empty: always.
    #[serde(default)]
    pub record: Vec<String>,
}

/// Where a channel is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Config,
    Added,
}

/// One channel, wherever it is defined.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    pub channel: RecordedChannel,
    pub origin: Origin,
}

/// The config's channels and categories with those added at run time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Registry {
    pub channels: Vec<Channel>,
    /// Every category, declared or named by a channel, in order of first mention.
    pub categories: Vec<String>,
}

/// Why a change to the channels was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    Refused(String),
    #[error("cannot {doing} {}: {source}", path.display())]
    Io {
        doing: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} is not a channel list the box can read ({problem}); fix or move it away, \
         and add the channels again",
        path.display()
    )]
    Corrupt { path: PathBuf, problem: String },
}

/// The file of channels added at run time.
pub fn added_file(data_dir: &Path) -> PathBuf {
    data_dir.join(FOLDER).join(FILE)
}

/// Reads the channels added at run time; none when the file is not there.
pub fn read_added(data_dir: &Path) -> Result<Added, RegistryError> {
    let path = added_file(data_dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| RegistryError::Corrupt {
            path,
            problem: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Added::default()),
        Err(source) => Err(RegistryError::Io {
            doing: "read",
            path,
            source,
        }),
    }
}

impl Registry {
    /// The config's channels, then those added at run time. An added
    /// channel whose name the config has since taken is left out, with a
    /// warning: the config file wins.
    pub fn new(config: Option<&RecorderConfig>, added: &Added) -> Registry {
        let mut registry = Registry::default();
        if let Some(config) = config {
            registry.categories = config.all_categories();
            registry.channels = config
                .channels
                .iter()
                .map(|c| Channel {
                    channel: c.clone(),
                    origin: Origin::Config,
                })
                .collect();
        }
        for category in &added.categories {
            registry.note_category(category);
        }
        for added in &added.channels {
            if registry.find(&added.name).is_some() {
                tracing::warn!(
                    "recorder: channel {:?} added at run time is also in the config file; the \
                     config's is used",
                    added.name
                );
                continue;
            }
            let windows: Result<Vec<Window>, _> =
                added.record.iter().map(|w| w.parse::<Window>()).collect();
            let when = match windows {
                Ok(w) if w.is_empty() => RecordWhen::Always,
                Ok(w) => RecordWhen::Windows(w),
                Err(e) => {
                    tracing::warn!("recorder: channel {:?} left out: {e}", added.name);
                    continue;
                }
            };
            registry.note_category(&added.category);
            registry.channels.push(Channel {
                channel: RecordedChannel {
                    name: added.name.clone(),
                    url: added.url.clone(),
                    category: added.category.clone(),
                    when,
                    after_window: None,
                },
                origin: Origin::Added,
            });
        }
        registry
    }

    /// The config's channels with those in `data_dir`.
    pub fn load(config: Option<&RecorderConfig>, data_dir: &Path) -> Result<Self, RegistryError> {
        Ok(Registry::new(config, &read_added(data_dir)?))
    }

    pub fn find(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.channel.name == name)
    }

    fn note_category(&mut self, category: &str) {
        if !self.categories.iter().any(|c| c == category) {
            self.categories.push(category.to_string());
        }
    }

    /// Each category with how many channels it holds.
    pub fn category_counts(&self) -> Vec<(String, usize)> {
        self.categories
            .iter()
            .map(|c| {
                let n = self
                    .channels
                    .iter()
                    .filter(|ch| &ch.channel.category == c)
                    .count();
                (c.clone(), n)
            })
            .collect()
    }
}

/// A channel to add at run time.
#[derive(Debug, Clone)]
pub struct NewChannel {
    pub name: String,
    pub url: String,
    pub category: Option<String>,
    pub create_category: bool,
    pub record: Vec<String>,
}

/// Adds a channel to the run-time list, after checking it against the
/// config's and the list's channels. `reserved` is a name the archive
/// already uses (the box's own channel).
pub fn add(
    config: Option<&RecorderConfig>,
    data_dir: &Path,
    reserved: Option<&str>,
    new: NewChannel,
) -> Result<Channel, RegistryError> {
    let refuse = |why: String| Err(RegistryError::Refused(why));
    if let Err(why) = check_name(&new.name) {
        return refuse(why);
    }
    if let Err(why) = check_url(&new.url) {
        return refuse(why);
    }
    let category = new
        .category
        .clone()
        .unwrap_or_else(|| DEFAULT_CATEGORY.to_string());
    if let Err(why) = check_category(&category) {
        return refuse(why);
    }
    for window in &new.record {
        if let Err(bad) = window.parse::<Window>() {
            return refuse(bad.to_string());
        }
    }
    if reserved == Some(new.name.as_str()) {
        return refuse(format!(
            "{:?} is the box's own archive channel; give the recording another name",
            new.name
        ));
    }
    change(data_dir, |added| {
        let registry = Registry::new(config, added);
        if let Some(existing) = registry.find(&new.name) {
            let place = match existing.origin {
                Origin::Config => "in the config file",
                Origin::Added => "added with `onair channel add`",
            };
            return Err(format!(
                "there is a channel {:?} already ({place}, recording {}); remove it first or \
                 choose another name",
                new.name, existing.channel.url
            ));
        }
        let known = registry.categories.iter().any(|c| c == &category)
            || (new.category.is_none() && category == DEFAULT_CATEGORY);
        if !known && !new.create_category {
            return Err(format!(
                "there is no category {category:?}; the categories are: {}. Add \
                 --create-category to create it",
                if registry.categories.is_empty() {
                    "none yet".to_string()
                } else {
                    registry.categories.join(", ")
                }
            ));
        }
        if !known {
            added.categories.push(category.clone());
        }
        added.channels.push(AddedChannel {
            name: new.name.clone(),
            url: new.url.clone(),
            category: category.clone(),
            record: new
                .record
                .iter()
                .map(|w| w.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect(),
        });
        Ok(())
    })?;
    let registry = Registry::load(config, data_dir)?;
    Ok(registry
        .find(&new.name)
        .cloned()
        .expect("the channel was just added"))
}

/// Removes a channel added at run time. What it recorded stays in the
/// archive; a channel of the config file is removed there.
pub fn remove(
    config: Option<&RecorderConfig>,
    data_dir: &Path,
    name: &str,
) -> Result<(), RegistryError> {
    let in_config = config.is_some_and(|c| c.channels.iter().any(|ch| ch.name == name));
    change(data_dir, |added| {
        let before = added.channels.len();
        added.channels.retain(|c| c.name != name);
        if added.channels.len() < before {
            return Ok(());
        }
        if in_config {
            return Err(format!(
                "channel {name:?} is in the config file; remove its [[recorder.channel]] table \
                 there and restart the box"
            ));
        }
        let known: Vec<String> = Registry::new(config, added)
            .channels
            .iter()
            .map(|c| c.channel.name.clone())
            .collect();
        Err(format!(
            "there is no channel {name:?}; the channels are: {}",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ))
    })
}

/// Reads, changes and writes back the run-time list under its lock.
fn change(
    data_dir: &Path,
    edit: impl FnOnce(&mut Added) -> Result<(), String>,
) -> Result<(), RegistryError> {
    let folder = data_dir.join(FOLDER);
    let io = |doing: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| RegistryError::Io {
            doing,
            path,
            source,
        }
    };
    std::fs::create_dir_all(&folder).map_err(io("create the folder", &folder))?;
    let lock_path = folder.join(LOCK);
    let lock = File::create(&lock_path).map_err(io("create the lock", &lock_path))?;
    // SAFETY: flock on a file descriptor we own; released when `lock` closes.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(io("lock", &lock_path)(std::io::Error::last_os_error()));
    }
    let mut added = read_added(data_dir)?;
    edit(&mut added).map_err(RegistryError::Refused)?;
    let path = added_file(data_dir);
    let temp = folder.join(format!(".{FILE}.tmp"));
    let text = serde_json::to_vec_pretty(&added).expect("the channel list is plain data");
    let written = File::create(&temp).and_then(|mut f| {
        f.write_all(&text)?;
        f.write_all(b"\n")?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&temp, &path)) {
        let _ = std::fs::remove_file(&temp);
        return Err(io("write", &path)(e));
    }
    drop(lock);
    Ok(())
}

#[cfg(test)]
mod tests;
