//! Reads what the box aired from its Broadcast WAVE output: 16-bit PCM with a
//! `bext` chunk whose Description holds `anchor=<RFC 3339 UTC>`, the station
//! time of the first sample. After a restart the box renames the previous
//! file to `out.<yyyymmddThhmmss>.wav`, so all of them are gathered and laid
//! on one timeline by their anchors.

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};

use super::goertzel::{self, Run, What};

/// One output file as found on disk.
#[derive(Debug, Clone)]
pub struct WavFile {
    pub path: PathBuf,
    pub rate: u32,
    pub channels: u16,
    pub anchor: DateTime<Utc>,
    /// Data size the header declares; the box refreshes it about once a
    /// second, so after a crash it can be short of what the file holds.
    pub declared_data_bytes: u32,
    /// RIFF size the header declares.
    pub declared_riff_bytes: u32,
    /// Whole frames really in the file.
    pub frames: usize,
    pub file_bytes: u64,
    /// The channels mixed to mono, in [-1, 1).
    pub samples: Vec<f32>,
}

impl WavFile {
    pub fn read(path: &Path) -> Result<WavFile, String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let bad =
            |what: String| format!("{} is not the box's Broadcast WAVE: {what}", path.display());
        if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
            return Err(bad("it does not start with a RIFF/WAVE header".into()));
        }
        let declared_riff_bytes = u32_at(&bytes, 4);
        let mut format = None;
        let mut anchor = None;
        let mut data = None;
        let mut pos = 12usize;
        while pos + 8 <= bytes.len() {
            let id = &bytes[pos..pos + 4];
            let size = u32_at(&bytes, pos + 4);
            let body = pos + 8;
            if id == b"data" {
                let Some((_, _, block_align)) = format else {
                    return Err(bad("the data chunk comes before the fmt chunk".into()));
                };
                let len = data_extent(&bytes, body, size);
                let len = len - len % block_align as usize;
                data = Some((body, len, size));
                let after = body + len;
                if after + 8 > bytes.len() {
                    break;
                }
                pos = after + (len & 1);
                continue;
            }
            let end = body + size as usize;
            if end > bytes.len() {
                return Err(bad(format!(
                    "chunk {:?} declares {size} bytes but only {} are left",
                    String::from_utf8_lossy(id),
                    bytes.len() - body
                )));
            }
            let chunk = &bytes[body..end];
            match id {
                b"fmt " => format = Some(parse_fmt(chunk).map_err(bad)?),
                b"bext" => anchor = Some(parse_anchor(chunk).map_err(bad)?),
                _ => {}
            }
            pos = end + (size as usize & 1);
        }
        let Some((channels, rate, block_align)) = format else {
            return Err(bad("no fmt chunk".into()));
        };
        let Some(anchor) = anchor else {
            return Err(bad(
                "no bext chunk, so no anchor=<time> to place its samples".into(),
            ));
        };
        let Some((start, len, declared_data_bytes)) = data else {
            return Err(bad("no data chunk".into()));
        };
        let frames = len / block_align as usize;
        let mut samples = Vec::with_capacity(frames);
        for frame in bytes[start..start + len].chunks_exact(block_align as usize) {
            let sum: f32 = frame
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0)
                .sum();
            samples.push(sum / channels as f32);
        }
        Ok(WavFile {
            path: path.to_path_buf(),
            rate,
            channels,
            anchor,
            declared_data_bytes,
            declared_riff_bytes,
            frames,
            file_bytes: bytes.len() as u64,
            samples,
        })
    }

    /// The header agrees with the file: the box stopped in order.
    pub fn finalised(&self) -> bool {
        let data = self.frames as u64 * 2 * self.channels as u64;
        self.declared_data_bytes as u64 == data
            && self.declared_riff_bytes as u64 + 8 == self.file_bytes
    }

    pub fn end(&self) -> DateTime<Utc> {
        time_at(self.anchor, self.rate, self.samples.len())
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

/// How many bytes of audio follow the data chunk's header. A header cut off
/// by a crash declares too little (or 0, or 0xFFFFFFFF while writing): the
/// audio then runs to the end of the file. A declared size is trusted only
/// when a well-formed chunk follows it.
fn data_extent(bytes: &[u8], body: usize, declared: u32) -> usize {
    let available = bytes.len() - body;
    let declared = declared as usize;
    if declared == 0 || declared >= available {
        return available;
    }
    let next = body + declared + (declared & 1);
    if next + 8 <= bytes.len() {
        let id = &bytes[next..next + 4];
        let size = u32_at(bytes, next + 4) as usize;
        if id.iter().all(|b| b.is_ascii_alphanumeric() || *b == b' ')
            && next + 8 + size <= bytes.len()
        {
            return declared;
        }
    }
    available
}

/// (channels, rate, block align) of 16-bit PCM; anything else is refused.
fn parse_fmt(chunk: &[u8]) -> Result<(u16, u32, u16), String> {
    if chunk.len() < 16 {
        return Err(format!(
            "fmt chunk is {} bytes, expected at least 16",
            chunk.len()
        ));
    }
    let tag = u16_at(chunk, 0);
    let pcm = tag == 1 || (tag == 0xFFFE && chunk.len() >= 26 && u16_at(chunk, 24) == 1);
    let channels = u16_at(chunk, 2);
    let rate = u32_at(chunk, 4);
    let block_align = u16_at(chunk, 12);
    let bits = u16_at(chunk, 14);
    if !pcm || bits != 16 || channels == 0 || block_align != 2 * channels || rate == 0 {
        return Err(format!(
            "expected 16-bit PCM, found format tag {tag:#x}, {bits} bits, {channels} channels, block align {block_align}, {rate} Hz"
        ));
    }
    Ok((channels, rate, block_align))
}

/// The `anchor=` in the bext Description (its first 256 bytes).
fn parse_anchor(chunk: &[u8]) -> Result<DateTime<Utc>, String> {
    let description = &chunk[..chunk.len().min(256)];
    let description = match description.iter().position(|b| *b == 0) {
        Some(end) => &description[..end],
        None => description,
    };
    let text = String::from_utf8_lossy(description);
    let Some(at) = text.find("anchor=") else {
        return Err(format!(
            "the bext Description {text:?} has no anchor=<RFC 3339 time>"
        ));
    };
    let value: String = text[at + "anchor=".len()..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != ';')
        .collect();
    DateTime::parse_from_rfc3339(&value)
        .map(|t| t.to_utc())
        .map_err(|e| format!("the bext anchor {value:?} is not an RFC 3339 time: {e}"))
}

pub fn time_at(anchor: DateTime<Utc>, rate: u32, sample: usize) -> DateTime<Utc> {
    anchor + TimeDelta::nanoseconds((sample as i128 * 1_000_000_000 / rate as i128) as i64)
}

/// Sample index of `t` in a file anchored at `anchor` (may be negative).
pub fn sample_at(anchor: DateTime<Utc>, rate: u32, t: DateTime<Utc>) -> i64 {
    let nanos = (t - anchor).num_nanoseconds().unwrap_or(i64::MAX) as i128;
    ((nanos * rate as i128 + 500_000_000) / 1_000_000_000) as i64
}

/// Everything the box wrote to one WAV output, on one timeline.
#[derive(Debug, Clone)]
pub struct Aired {
    pub rate: u32,
    /// Sorted by anchor; where a later file starts before an earlier one
    /// ends, the earlier one is cut there (the later file is what the box
    /// says was on air from its anchor on).
    pub files: Vec<WavFile>,
}

impl Aired {
    /// Reads `output` (e.g. `out.wav`) and every `out.*.wav` beside it.
    pub fn read(output: &Path) -> Result<Aired, String> {
        let dir = output.parent().unwrap_or(Path::new("."));
        let stem = output
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| format!("{} has no file name", output.display()))?;
        let exact = format!("{stem}.wav");
        let prefix = format!("{stem}.");
        let entries =
            std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rotated =
                name.starts_with(&prefix) && name.ends_with(".wav") && name.len() > exact.len();
            if name == exact || rotated {
                files.push(WavFile::read(&entry.path())?);
            }
        }
        if files.is_empty() {
            return Err(format!(
                "the box wrote no {exact} (nor rotated copies) in {}",
                dir.display()
            ));
        }
        Aired::from_files(files)
    }

    pub fn from_files(mut files: Vec<WavFile>) -> Result<Aired, String> {
        files.sort_by_key(|f| f.anchor);
        let rate = files[0].rate;
        if let Some(other) = files.iter().find(|f| f.rate != rate) {
            return Err(format!(
                "{} is at {} Hz but {} is at {rate} Hz",
                other.path.display(),
                other.rate,
                files[0].path.display()
            ));
        }
        for k in 1..files.len() {
            let next_anchor = files[k].anchor;
            let earlier = &mut files[k - 1];
            if earlier.end() > next_anchor {
                let keep = sample_at(earlier.anchor, rate, next_anchor).max(0) as usize;
                earlier.samples.truncate(keep);
            }
        }
        Ok(Aired { rate, files })
    }

    pub fn start(&self) -> DateTime<Utc> {
        self.files[0].anchor
    }

    pub fn end(&self) -> DateTime<Utc> {
        self.files
            .iter()
            .map(WavFile::end)
            .max()
            .unwrap_or(self.start())
    }

    /// What was heard when, classified among `candidates` (Hz); stretches
    /// no file covers are `NotRecorded`.
    pub fn runs(&self, candidates: &[u32]) -> Vec<Run> {
        let mut runs: Vec<Run> = Vec::new();
        for file in &self.files {
            if let Some(last) = runs.last()
                && file.anchor - last.end > TimeDelta::milliseconds(1)
            {
                let start = last.end;
                runs.push(Run {
                    start,
                    end: file.anchor,
                    what: What::NotRecorded,
                });
            }
            for run in goertzel::runs_of(&file.samples, self.rate, file.anchor, candidates) {
                match runs.last_mut() {
                    Some(last)
                        if last.what == run.what
                            && (run.start - last.end).abs() <= TimeDelta::milliseconds(1) =>
                    {
                        last.end = run.end
                    }
                    _ => runs.push(run),
                }
            }
        }
        runs
    }

    /// The samples heard in [from, to), in order; `None` if some of that
    /// stretch was not recorded.
    pub fn samples(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<Vec<f32>> {
        let mut out = Vec::new();
        let mut covered = from;
        for file in &self.files {
            if file.end() <= covered || file.anchor >= to {
                continue;
            }
            if file.anchor - covered > TimeDelta::milliseconds(1) {
                return None;
            }
            let a = sample_at(file.anchor, self.rate, covered).max(0) as usize;
            let b = (sample_at(file.anchor, self.rate, to).max(0) as usize).min(file.samples.len());
            out.extend_from_slice(&file.samples[a.min(b)..b]);
            covered = time_at(file.anchor, self.rate, b);
            if covered >= to {
                return Some(out);
            }
        }
        (to - covered <= TimeDelta::milliseconds(1)).then_some(out)
    }

    /// RMS level of [from, to) in dBFS (a full-scale square wave is 0 dB,
    /// the test tones about −9 dB, digital silence −inf).
    pub fn level_db(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<f64> {
        self.samples(from, to).map(|s| goertzel::rms_db(&s))
    }

    /// RMS level per `window`, from `from` to `to`: (window start, dBFS).
    pub fn envelope(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        window: TimeDelta,
    ) -> Vec<(DateTime<Utc>, Option<f64>)> {
        let mut out = Vec::new();
        let mut t = from;
        while t + window <= to {
            out.push((t, self.level_db(t, t + window)));
            t += window;
        }
        out
    }
}

/// Writes a Broadcast WAVE the way the box does (16-bit stereo, bext with the
/// anchor), declaring `declared_frames` in its header whatever it holds, so
/// the reader can be checked against files cut off by a crash.
pub fn write_bwf(path: &Path, rate: u32, anchor: &str, mono: &[f32], declared_frames: Option<u32>) {
    let mut description = format!("station=Test FM anchor={anchor}").into_bytes();
    description.resize(256, 0);
    let mut bext = description;
    bext.resize(602, 0);
    let frames = declared_frames.unwrap_or(mono.len() as u32);
    let data_bytes = frames * 4;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(4 + 8 + bext.len() as u32 + 8 + 16 + 8 + data_bytes).to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(b"bext");
    out.extend_from_slice(&(bext.len() as u32).to_le_bytes());
    out.extend_from_slice(&bext);
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 4).to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_bytes.to_le_bytes());
    for &s in mono {
        let v = (s * 32767.0).round() as i16;
        out.extend_from_slice(&v.to_le_bytes());
        out.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, out).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
