//! `onair channel add|list|remove` and `onair category list`: the streams
//! the box records. Changes go to the data folder's channel list, which
//! the running box reads again when it changes, so they work whether or
//! not the box is running, and survive its restarts.

use anyhow::Result;
use serde::Serialize;

use super::{line, print};
use crate::config::Config;
use crate::recorder::registry::{self, Channel, NewChannel, Origin, Registry};
use crate::recorder::scheduler::records;

/// `onair channel add`.
pub fn add(config: &Config, new: NewChannel) -> Result<()> {
    let reserved = config.archive.as_ref().map(|a| a.channel.as_str());
    if config.archive.is_none() {
        anyhow::bail!(
            "this box keeps no archive ({} has no [archive] section), so it has nowhere to \
             record to: add [archive] with its dir first",
            config.path.display()
        );
    }
    let channel = registry::add(config.recorder.as_ref(), &config.data.dir, reserved, new)?;
    print(&line(&format!(
        "added channel {} ({}, {}): {}",
        channel.channel.name,
        channel.channel.category,
        records(&channel.channel.when),
        channel.channel.url
    )))
}

/// `onair channel remove`.
pub fn remove(config: &Config, name: &str) -> Result<()> {
    registry::remove(config.recorder.as_ref(), &config.data.dir, name)?;
    print(&line(&format!(
        "removed channel {name}; what it recorded stays in the archive"
    )))
}

#[derive(Serialize)]
struct Row<'a> {
    name: &'a str,
    category: &'a str,
    records: String,
    url: &'a str,
    defined_in: Origin,
}

/// `onair channel list`.
pub fn list(config: &Config, json: bool) -> Result<()> {
    let registry = Registry::load(config.recorder.as_ref(), &config.data.dir)?;
    let rows: Vec<Row<'_>> = registry.channels.iter().map(row).collect();
    if json {
        return print(&line(&serde_json::to_string_pretty(&rows)?));
    }
    if rows.is_empty() {
        return print(&line(
            "no channels: add one with `onair channel add NAME --url URL --category CAT`, or \
             as a [[recorder.channel]] table in the config file",
        ));
    }
    let mut text = table(
        ["CHANNEL", "CATEGORY", "RECORDS", "DEFINED IN", "URL"],
        rows.iter().map(|r| {
            [
                r.name.to_string(),
                r.category.to_string(),
                r.records.clone(),
                match r.defined_in {
                    Origin::Config => "config".to_string(),
                    Origin::Added => "channel add".to_string(),
                },
                r.url.to_string(),
            ]
        }),
    );
    text.push('\n');
    print(&text)
}

/// `onair category list`.
pub fn categories(config: &Config, json: bool) -> Result<()> {
    let registry = Registry::load(config.recorder.as_ref(), &config.data.dir)?;
    let counts = registry.category_counts();
    if json {
        let rows: Vec<_> = counts
            .iter()
            .map(|(name, n)| serde_json::json!({ "category": name, "channels": n }))
            .collect();
        return print(&line(&serde_json::to_string_pretty(&rows)?));
    }
    if counts.is_empty() {
        return print(&line(
            "no categories: they come with channels (`onair channel add … --category CAT \
             --create-category`) or from [recorder] categories in the config file",
        ));
    }
    let mut text = table(
        ["CATEGORY", "CHANNELS"],
        counts.iter().map(|(name, n)| [name.clone(), n.to_string()]),
    );
    text.push('\n');
    print(&text)
}

fn row(channel: &Channel) -> Row<'_> {
    Row {
        name: &channel.channel.name,
        category: &channel.channel.category,
        records: records(&channel.channel.when),
        url: &channel.channel.url,
        defined_in: channel.origin,
    }
}

/// Columns padded to their widest cell, the last left ragged.
fn table<const N: usize>(head: [&str; N], rows: impl Iterator<Item = [String; N]>) -> String {
    let rows: Vec<[String; N]> = std::iter::once(head.map(str::to_string))
        .chain(rows)
        .collect();
    let widths: Vec<usize> = (0..N)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(i, cell)| {
                    if i + 1 == N {
                        cell.clone()
                    } else {
                        format!("{cell:<width$}  ", width = widths[i])
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}
