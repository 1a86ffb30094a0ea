//! `[archive]`: where what aired is kept, read into [`ArchiveConfig`].

use toml::{Table, Value};

use super::outputs::MP3_BITRATES;
use super::reader::{TableReader, article_type, join};
use super::{ArchiveConfig, OutputConfig};

const ARCHIVE_KEYS: &[&str] = &[
    "dir",
    "channel",
    "segment_seconds",
    "keep_days",
    "min_free_mb",
    "bitrate",
];
const DEFAULT_SEGMENT_SECONDS: u32 = 6;
/// The archive's own encoder when there is no stream to share.
const DEFAULT_BITRATE: u32 = 128;
const SEGMENT_SECONDS: std::ops::RangeInclusive<i64> = 1..=60;
const KEEP_DAYS: std::ops::RangeInclusive<i64> = 1..=36_500;
const MIN_FREE_MB: std::ops::RangeInclusive<i64> = 0..=100_000_000;

/// `Radio Example FM` → `radio-example-fm`: the channel folder's name.
pub fn channel_slug(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        "station".to_string()
    } else {
        slug.to_string()
    }
}

fn is_channel(name: &str) -> bool {
    !name.starts_with(['.', '-'])
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
}

impl TableReader {
    /// `None` without an `[archive]` section: the box keeps no archive.
    pub(super) fn archive(
        &mut self,
        root: &Table,
        station: &str,
        outputs: &[OutputConfig],
    ) -> Option<ArchiveConfig> {
        let table = self.section(root, "archive", ARCHIVE_KEYS)?;
        let dir = self.path("archive", Some(table), "dir");
        if dir.is_none() && !table.contains_key("dir") {
            self.problem(
                "archive.dir",
                None,
                "expected the folder the archive is kept in, on an ext4 disk (such as \
                 \"/srv/archive\"); or remove [archive] for a box that keeps none",
            );
        }
        let channel = match table.get("channel") {
            None => channel_slug(station),
            Some(Value::String(name)) if is_channel(name) && !name.is_empty() => name.clone(),
            Some(other) => {
                self.problem(
                    "archive.channel",
                    Some(other),
                    format!(
                        "expected a folder name of lower-case letters, digits, '-' and '_' \
                         (such as \"{}\", the default from the station's name)",
                        channel_slug(station)
                    ),
                );
                channel_slug(station)
            }
        };
        let segment_seconds = self
            .integer(
                "archive",
                Some(table),
                "segment_seconds",
                SEGMENT_SECONDS,
                "seconds",
            )
            .map_or(DEFAULT_SEGMENT_SECONDS, |n| n as u32);
        let keep_days = self
            .integer("archive", Some(table), "keep_days", KEEP_DAYS, "days")
            .map(|n| n as u32);
        let min_free_mb = self
            .integer(
                "archive",
                Some(table),
                "min_free_mb",
                MIN_FREE_MB,
                "megabytes",
            )
            .map(|n| n as u64);
        // The first stream's MP3 unless told otherwise: nothing encoded twice.
        let stream_bitrate = outputs.iter().find_map(|o| match o {
            OutputConfig::Icecast(c) => Some(c.bitrate),
            _ => None,
        });
        let bitrate = match table.get("bitrate") {
            None => stream_bitrate.unwrap_or(DEFAULT_BITRATE),
            Some(Value::Integer(n)) if *n > 0 && MP3_BITRATES.contains(&(*n as u32)) => *n as u32,
            Some(other) => {
                let shared = stream_bitrate.map_or_else(String::new, |b| {
                    format!("; {b} shares the first stream's encoder")
                });
                self.problem(
                    join("archive", "bitrate"),
                    Some(other),
                    format!(
                        "expected an MP3 bitrate in kbit/s, one of {}{shared}, not {}",
                        MP3_BITRATES
                            .iter()
                            .map(u32::to_string)
                            .collect::<Vec<_>>()
                            .join(", "),
                        match other {
                            Value::Integer(n) => n.to_string(),
                            _ => article_type(other).to_string(),
                        }
                    ),
                );
                DEFAULT_BITRATE
            }
        };
        Some(ArchiveConfig {
            dir: dir?,
            channel,
            segment_seconds,
            keep_days,
            min_free_mb,
            bitrate,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{Config, ConfigError};
    use super::*;

    const BASE: &str = "[station]\nname = \"Radio Example FM\"\ntimezone = \"Europe/London\"\n\
        [library]\nprogrammes = \"programmes\"\n[[output]]\nkind = \"null\"\n";

    fn parse(extra: &str) -> Result<Config, ConfigError> {
        Config::parse(
            &format!("{BASE}{extra}"),
            Path::new("/etc/onair/onair.toml"),
        )
    }

    #[test]
    fn an_archive_section_reads_with_its_defaults() {
        assert_eq!(parse("").unwrap().archive, None);
        let config = parse("[archive]\ndir = \"/srv/archive\"\n").unwrap();
        assert_eq!(
            config.archive,
            Some(ArchiveConfig {
                dir: "/srv/archive".into(),
                channel: "radio-example-fm".into(),
                segment_seconds: 6,
                keep_days: None,
                min_free_mb: None,
                bitrate: 128,
            })
        );
        // With a stream, its bitrate: the archive shares its encoder.
        let config = parse(
            "[[output]]\nkind = \"icecast\"\nhost = \"127.0.0.1\"\nmount = \"/live.mp3\"\npassword = \"x\"\nbitrate = 192\n\
             [archive]\ndir = \"archive\"\nchannel = \"fm\"\nkeep_days = 31\n",
        )
        .unwrap();
        let archive = config.archive.unwrap();
        assert_eq!(archive.bitrate, 192);
        assert_eq!(archive.dir, Path::new("/etc/onair/archive"));
        assert_eq!(
            (archive.channel.as_str(), archive.keep_days),
            ("fm", Some(31))
        );
    }

    #[test]
    fn bad_archive_values_name_the_key_the_value_and_the_fix() {
        // Bad input: no folder, a hidden channel, a segment of 0 s, a
        // bitrate LAME cannot make, a key that does not exist.
        let text =
            "[archive]\nchannel = \".fm\"\nsegment_seconds = 0\nbitrate = 100\nkeep_day = 3\n";
        let Err(ConfigError::Invalid(problems)) = parse(text) else {
            panic!("accepted");
        };
        let find = |key: &str| {
            problems
                .iter()
                .find(|p| p.key == key)
                .unwrap_or_else(|| panic!("no problem about {key} in {problems:#?}"))
        };
        assert!(find("archive.dir").expected.contains("ext4"));
        assert!(
            find("archive.channel")
                .expected
                .contains("radio-example-fm")
        );
        assert!(
            find("archive.segment_seconds")
                .expected
                .contains("from 1 to 60")
        );
        let bitrate = find("archive.bitrate");
        assert_eq!(bitrate.value, "100");
        assert!(bitrate.expected.contains("128"), "{}", bitrate.expected);
        assert!(find("archive.keep_day").expected.contains("keep_days"));
    }

    #[test]
    fn the_channel_is_the_station_name_as_a_slug() {
        assert_eq!(channel_slug("Radio Example FM"), "radio-example-fm");
        assert_eq!(channel_slug("  Rádio 1 -- Nord! "), "r-dio-1-nord");
        assert_eq!(channel_slug("..."), "station");
        assert!(is_channel("radio-example_fm"));
        // Bad input: a hidden folder, a path, upper case.
        assert!(!is_channel(".hidden"));
        assert!(!is_channel("a/b"));
        assert!(!is_channel("FM"));
    }
}
