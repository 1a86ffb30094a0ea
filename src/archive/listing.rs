//! What the archive holds, as every reader must see it: the one place that
//! reads the archive's folders. Hidden entries (a leading `.`) are never
//! listed, nor are `temp` files (being written) or segments hidden by a
//! tombstone: an empty file `X.tombstone` beside `X.mp3` (or `X.aac`, a
//! recorded stream's AAC). A tombstone hides
//! only its exact name, so another segment with the same start (a partial
//! one, say) may then be chosen in its place. Listings, playlists, cuts,
//! waveforms, coverage and the segment route all read through here, so a
//! tombstone hides its segment from all of them at once (wubloader had to
//! fix a reader that listed files itself).

use std::io;
use std::path::Path;

use chrono::{DateTime, Utc};

use super::names::{NameError, SegmentName, SegmentType, parse_hour, split_extension};

pub const TOMBSTONE: &str = ".tombstone";

/// One visible segment of an hour.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub name: SegmentName,
    /// Its file name in the hour folder.
    pub file: String,
}

/// An hour folder, read once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HourListing {
    /// Visible segments, sorted by file name (so by start).
    pub segments: Vec<Listed>,
    /// The tombstones' file names, sorted.
    pub tombstones: Vec<String>,
    /// `.mp3` and `.aac` files whose names do not read as segments: counted by the
    /// coverage check as wubloader's `bad`, never served.
    pub bad: Vec<NameError>,
    /// A digest of every entry's name as read, sorted: what a cache of
    /// this hour is keyed on, since any change to the folder changes it
    /// (the names themselves would double what an hour costs to keep).
    pub entries: u64,
}

/// The visible folders under `dir`, sorted; a missing folder holds none.
/// For `/files`, `/files/<channel>` and `/files/<channel>/<quality>`.
pub fn folders(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(names),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') || !entry.file_type()?.is_dir() {
            continue;
        }
        names.push(name);
    }
    names.sort_unstable();
    Ok(names)
}

/// The hour folders of a quality folder, oldest first, with the hour each
/// starts; folders not named as hours are left out.
pub fn hours(quality_dir: &Path) -> io::Result<Vec<(String, DateTime<Utc>)>> {
    Ok(folders(quality_dir)?
        .into_iter()
        .filter_map(|name| parse_hour(&name).ok().map(|hour| (name, hour)))
        .collect())
}

/// Reads one hour folder; a missing one is empty.
pub fn hour(quality_dir: &Path, hour: &str) -> io::Result<HourListing> {
    let start = parse_hour(hour).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    Ok(read_entries(start, &entries(quality_dir, hour)?))
}

/// An hour folder's entries, sorted, not yet read as names: what a cache
/// of the hour compares before it reads anything more.
pub fn entries(quality_dir: &Path, hour: &str) -> io::Result<Vec<String>> {
    let mut entries = Vec::new();
    match std::fs::read_dir(quality_dir.join(hour)) {
        Ok(dir) => {
            for entry in dir {
                if let Ok(name) = entry?.file_name().into_string() {
                    entries.push(name);
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    entries.sort_unstable();
    Ok(entries)
}

/// An hour's entries (sorted) into what they show.
pub fn read_entries(hour: DateTime<Utc>, entries: &[String]) -> HourListing {
    let mut listing = HourListing::default();
    for name in entries {
        if name.starts_with('.') {
            continue;
        }
        if let Some(stem) = name.strip_suffix(TOMBSTONE) {
            if !stem.is_empty() {
                listing.tombstones.push(name.clone());
            }
            continue;
        }
        let Some((stem, _)) = split_extension(name) else {
            continue; // sidecars, track lists and anything else beside the segments
        };
        if entries.binary_search(&format!("{stem}{TOMBSTONE}")).is_ok() {
            continue;
        }
        match SegmentName::parse_in(hour, name) {
            Ok(segment) if segment.kind == SegmentType::Temp => {}
            Ok(segment) => listing.segments.push(Listed {
                name: segment,
                file: name.clone(),
            }),
            Err(e) => listing.bad.push(e),
        }
    }
    listing.entries = digest(entries);
    listing
}

/// The digest [`HourListing::entries`] holds, of sorted entries.
pub fn digest(entries: &[String]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    entries.hash(&mut hasher);
    hasher.finish()
}

/// Whether `file` in an hour folder may be served: a segment's name, not
/// hidden, not temporary, not tombstoned.
pub fn is_visible(quality_dir: &Path, hour: &str, file: &str) -> bool {
    let (Ok(start), Some((stem, _))) = (parse_hour(hour), split_extension(file)) else {
        return false;
    };
    if file.starts_with('.') {
        return false;
    }
    let visible_kind =
        SegmentName::parse_in(start, file).is_ok_and(|s| s.kind != SegmentType::Temp);
    visible_kind
        && !quality_dir
            .join(hour)
            .join(format!("{stem}{TOMBSTONE}"))
            .exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU";

    #[test]
    fn tombstones_temp_files_hidden_entries_and_bad_names_are_kept_out() {
        let dir = std::env::temp_dir().join(format!("onair-listing-{}", std::process::id()));
        let hour_dir = dir.join("2026-01-05T10");
        std::fs::create_dir_all(&hour_dir).unwrap();
        let shown = format!("00:00.000000-6.0-full-{HASH}.mp3");
        let buried = format!("00:06.000000-6.0-full-{HASH}.mp3");
        let partial_beside = format!("00:06.000000-3.0-partial-{HASH}.mp3");
        for name in [
            shown.as_str(),
            buried.as_str(),
            partial_beside.as_str(),
            // Bad input: a segment being written, a hidden file, a name
            // that is not a segment's, a sidecar.
            "00:12.000000-6.0-temp-1b4e-28ba.mp3",
            ".00:18.000000-6.0-full-x.mp3",
            "notes.mp3",
            "00:00.000000-6.0-full-x.peaks",
        ] {
            std::fs::write(hour_dir.join(name), b"x").unwrap();
        }
        std::fs::write(
            hour_dir.join(format!("00:06.000000-6.0-full-{HASH}.tombstone")),
            b"",
        )
        .unwrap();
        std::fs::create_dir_all(dir.join(".hidden")).unwrap();

        let listing = hour(&dir, "2026-01-05T10").unwrap();
        let files: Vec<&str> = listing.segments.iter().map(|s| s.file.as_str()).collect();
        // The tombstone hides its exact name only: the partial with the
        // same start stays.
        assert_eq!(files, [shown.as_str(), partial_beside.as_str()]);
        assert_eq!(
            listing.tombstones,
            [format!("00:06.000000-6.0-full-{HASH}.tombstone")]
        );
        assert_eq!(listing.bad.len(), 1, "{:?}", listing.bad);
        assert!(is_visible(&dir, "2026-01-05T10", &shown));
        assert!(!is_visible(&dir, "2026-01-05T10", &buried));
        assert!(!is_visible(
            &dir,
            "2026-01-05T10",
            "00:12.000000-6.0-temp-1b4e-28ba.mp3"
        ));
        assert!(!is_visible(&dir, "2026-01-05T10", "../../etc/passwd"));
        assert_eq!(folders(&dir).unwrap(), ["2026-01-05T10"]);
        assert_eq!(hours(&dir).unwrap().len(), 1);
        // A missing folder holds nothing; it is not an error.
        assert!(folders(&dir.join("nowhere")).unwrap().is_empty());
        assert!(hour(&dir, "2026-01-05T11").unwrap().segments.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn aac_segments_are_listed_and_hidden_as_mp3_ones_are() {
        let dir = std::env::temp_dir().join(format!("onair-listing-aac-{}", std::process::id()));
        let hour_dir = dir.join("2026-01-05T10");
        std::fs::create_dir_all(&hour_dir).unwrap();
        let shown = format!("00:00.000000-6.0-full-{HASH}.aac");
        let buried = format!("00:06.000000-6.0-full-{HASH}.aac");
        for name in [
            shown.as_str(),
            buried.as_str(),
            // Bad input: an AAC segment being written, a track list and a
            // format note beside the segments, an extension not served.
            "00:12.000000-6.0-temp-1b4e-28ba.aac",
            ".tracks.jsonl",
            ".format",
            "00:18.000000-6.0-full-x.m4a",
        ] {
            std::fs::write(hour_dir.join(name), b"x").unwrap();
        }
        std::fs::write(
            hour_dir.join(format!("00:06.000000-6.0-full-{HASH}.tombstone")),
            b"",
        )
        .unwrap();
        let listing = hour(&dir, "2026-01-05T10").unwrap();
        let files: Vec<&str> = listing.segments.iter().map(|s| s.file.as_str()).collect();
        assert_eq!(files, [shown.as_str()]);
        assert!(listing.bad.is_empty(), "{:?}", listing.bad);
        assert!(is_visible(&dir, "2026-01-05T10", &shown));
        assert!(!is_visible(&dir, "2026-01-05T10", &buried));
        assert!(!is_visible(
            &dir,
            "2026-01-05T10",
            "00:12.000000-6.0-temp-1b4e-28ba.aac"
        ));
        assert!(!is_visible(&dir, "2026-01-05T10", ".tracks.jsonl"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
