//! `onair archive list|coverage|cut`: the archive read straight from its folder,
//! over SSH, whether or not the box is running (the archive is files; the
//! box only ever adds whole segments by renaming them into place).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::print;
use crate::archive::best::BestCache;
use crate::archive::coverage;
use crate::archive::cut::{Cut, holes};
use crate::archive::listing;
use crate::archive::names::Codec;
use crate::config::{ArchiveConfig, Config};
use crate::{station, when};

/// Which of the archive's recordings a command reads.
pub struct Which {
    pub channel: Option<String>,
    pub quality: Option<String>,
}

fn archive(config: &Config) -> Result<&ArchiveConfig> {
    config
        .archive
        .as_ref()
        .ok_or_else(|| anyhow!("this box keeps no archive: its config has no [archive] section"))
}

/// `<dir>/<channel>/<quality>`, the box's own unless asked otherwise.
fn quality_dir(archive: &ArchiveConfig, which: &Which) -> Result<PathBuf> {
    let channel = which.channel.as_deref().unwrap_or(&archive.channel);
    let own = format!("{}k", archive.bitrate);
    let quality = which.quality.as_deref().unwrap_or(&own);
    for (what, part) in [("channel", channel), ("quality", quality)] {
        if part.is_empty() || part.starts_with('.') || part.contains(['/', '\\']) {
            bail!("--{what} {part:?} is not a folder name in the archive");
        }
    }
    let dir = archive.dir.join(channel).join(quality);
    if !dir.is_dir() {
        bail!(
            "the archive has no {channel}/{quality} (in {}); `onair archive list` shows what it has",
            archive.dir.display()
        );
    }
    Ok(dir)
}

fn range(config: &Config, from: &str, to: &str) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let (tz, now) = (
        config.station.timezone,
        station::clock_for_reading(config).now(),
    );
    let parse = |name: &str, v: &str| {
        when::parse_time_arg(v, tz, now).map_err(|e| anyhow!("--{name} {v:?}: {e}"))
    };
    let (from_t, to_t) = (parse("from", from)?, parse("to", to)?);
    if to_t <= from_t {
        bail!("--to ({to}) must be after --from ({from})");
    }
    Ok((from_t, to_t))
}

/// `onair archive list`: every channel and quality with the hours it
/// holds; with `--from`/`--to`, what the range holds, run by run, and its
/// holes.
pub fn list(config: &Config, which: &Which, from: Option<&str>, to: Option<&str>) -> Result<()> {
    let archive = archive(config)?;
    let tz = config.station.timezone;
    match (from, to) {
        (Some(from), Some(to)) => {
            let dir = quality_dir(archive, which)?;
            let (start, end) = range(config, from, to)?;
            print(&list_range(&dir, start, end, tz)?)
        }
        (None, None) => print(&list_all(&archive.dir, tz)?),
        _ => bail!("give both --from and --to, or neither"),
    }
}

fn list_all(root: &Path, tz: Tz) -> Result<String> {
    let read = |dir: &Path| {
        listing::folders(dir).with_context(|| format!("cannot read {}", dir.display()))
    };
    let mut text = String::new();
    for channel in read(root)? {
        for quality in read(&root.join(&channel))? {
            let dir = root.join(&channel).join(&quality);
            let hours =
                listing::hours(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
            let (Some(first), Some(last)) = (hours.first(), hours.last()) else {
                continue;
            };
            text.push_str(&format!(
                "{channel}/{quality}: {} hour folder(s), {} to {}\n",
                hours.len(),
                local(first.1, tz),
                local(last.1 + TimeDelta::hours(1), tz)
            ));
        }
    }
    if text.is_empty() {
        text = format!("the archive in {} is empty\n", root.display());
    }
    Ok(text)
}

fn list_range(dir: &Path, start: DateTime<Utc>, end: DateTime<Utc>, tz: Tz) -> Result<String> {
    let pieces = BestCache::default()
        .range(dir, start, end)
        .with_context(|| format!("cannot read {}", dir.display()))?;
    let mut text = String::new();
    let mut run: Option<(DateTime<Utc>, DateTime<Utc>, usize)> = None;
    let flush = |run: &mut Option<(DateTime<Utc>, DateTime<Utc>, usize)>, text: &mut String| {
        if let Some((from, to, n)) = run.take() {
            text.push_str(&format!(
                "{} to {}: {n} segment(s), {}\n",
                local(from.max(start), tz),
                local(to.min(end), tz),
                seconds(to.min(end) - from.max(start))
            ));
        }
    };
    for piece in &pieces {
        match piece {
            Some(segment) => {
                let (from, to) = (segment.name.start, segment.name.end());
                run = Some(match run {
                    Some((first, _, n)) => (first, to, n + 1),
                    None => (from, to, 1),
                });
            }
            None => flush(&mut run, &mut text),
        }
    }
    flush(&mut run, &mut text);
    let holes = holes(&pieces, start, end);
    for hole in &holes {
        text.push_str(&format!(
            "hole: {} to {} ({}){}\n",
            local(hole.from, tz),
            local(hole.to, tz),
            seconds(hole.to - hole.from),
            if hole.after_partial {
                ", after a segment that was cut short"
            } else {
                ""
            }
        ));
    }
    if holes.is_empty() {
        text.push_str("no holes\n");
    }
    Ok(text)
}

fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S%.3f %Z")
        .to_string()
}

fn seconds(d: TimeDelta) -> String {
    format!("{:.3} s", d.as_seconds_f64())
}

/// `onair archive coverage`: per hour (in the range, else every hour), the
/// segments by type, the seconds covered, and each hole and overlap.
pub fn coverage(
    config: &Config,
    which: &Which,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<()> {
    let archive = archive(config)?;
    let dir = quality_dir(archive, which)?;
    let tz = config.station.timezone;
    let (start, end) = match (from, to) {
        (Some(from), Some(to)) => {
            let (start, end) = range(config, from, to)?;
            (Some(start), Some(end))
        }
        (None, None) => (None, None),
        _ => bail!("give both --from and --to, or neither"),
    };
    let hours = coverage::quality(&BestCache::default(), &dir, start, end)
        .with_context(|| format!("cannot read {}", dir.display()))?;
    let mut text = String::new();
    for hour in &hours {
        text.push_str(&format!(
            "{}: {:.1} s of 3600 covered ({:.1} s without overlaps); segments: {} full, {} suspect, {} partial, {} bad\n",
            local(hour.start, tz),
            hour.raw_coverage,
            hour.editable_coverage,
            hour.segments.full,
            hour.segments.suspect,
            hour.segments.partial,
            hour.bad
        ));
        for hole in &hour.raw_holes {
            text.push_str(&format!(
                "  hole: {} to {} ({})\n",
                local(hole.start, tz),
                local(hole.end, tz),
                seconds(hole.end - hole.start)
            ));
        }
        for overlap in &hour.overlaps {
            text.push_str(&format!(
                "  overlap: {} to {} ({}), {} segment {}\n",
                local(overlap.span.start, tz),
                local(overlap.span.end, tz),
                seconds(overlap.span.end - overlap.span.start),
                overlap.kind,
                overlap.file
            ));
        }
    }
    if hours.is_empty() {
        text = format!("{} holds no hours in that range\n", dir.display());
    }
    print(&text)
}

/// `onair archive cut`: a range as one file of its own frames (MP3, or AAC
/// for a recorded AAC stream) or WAV (to the sample), or to standard
/// output. An output named `.mp3` for an AAC range (or `.aac` for MP3) is
/// refused rather than written with frames its name belies.
pub fn cut(
    config: &Config,
    which: &Which,
    from: &str,
    to: &str,
    output: Option<&Path>,
    wav: bool,
    allow_holes: bool,
) -> Result<()> {
    let archive = archive(config)?;
    let dir = quality_dir(archive, which)?;
    let (start, end) = range(config, from, to)?;
    let wav = wav || output.is_some_and(|p| p.extension().is_some_and(|e| e == "wav"));
    if output.is_none() && std::io::stdout().is_terminal() {
        bail!("a cut is audio: give --output FILE, or send standard output to a file or a program");
    }
    let cut = Cut::plan(&BestCache::default(), &dir, start, end, allow_holes)?;
    if !wav
        && let Some(asked) = output
            .and_then(|p| p.extension())
            .and_then(|e| Codec::of_file(&format!("x.{}", e.to_string_lossy())))
    {
        cut.expect_codec(asked)?;
    }
    let written = match output {
        Some(path) => {
            // Written beside, then renamed: a cut that fails leaves no
            // half file under the name asked for.
            let partial = path.with_extension("part");
            let file = std::fs::File::create(&partial)
                .with_context(|| format!("cannot write {}", partial.display()))?;
            let mut out = std::io::BufWriter::new(file);
            let written = make(&cut, &mut out, wav)
                .and_then(|n| Ok(out.flush().map(|()| n)?))
                .inspect_err(|_| {
                    let _ = std::fs::remove_file(&partial);
                })?;
            std::fs::rename(&partial, path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            written
        }
        None => make(&cut, &mut std::io::stdout().lock(), wav)?,
    };
    if let Some(path) = output {
        eprintln!(
            "onair: {} bytes to {}{}",
            written,
            path.display(),
            if cut.holes.is_empty() {
                String::new()
            } else {
                format!(", around {} hole(s)", cut.holes.len())
            }
        );
    }
    Ok(())
}

fn make(cut: &Cut, out: &mut impl Write, wav: bool) -> Result<u64> {
    if wav {
        Ok(cut.write_wav(out)?)
    } else {
        Ok(cut.write_frames(out)?)
    }
}
