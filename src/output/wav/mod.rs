//! Broadcast WAVE recording of the programme: 16-bit stereo at the engine
//! rate, with a `bext` chunk (EBU Tech 3285) whose Description carries the
//! exact station time of the first sample (`anchor=…`), so any sample in the
//! file can be mapped back to the moment it aired.
//!
//! The file is written as fast as the mixer produces (at the simulated
//! clock's speed in a demo) and stays a valid WAV when the box dies: the
//! RIFF and data sizes are rewritten about once a real second, after the
//! audio they cover has reached the disk.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use chrono_tz::Tz;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use super::{CHANNELS, Output, OutputContext, OutputError};

const BYTES_PER_FRAME: u64 = 2 * CHANNELS as u64;
/// How often the header is brought up to date while recording (real time).
const HEADER_EVERY: Duration = Duration::from_secs(1);
/// A gap up to this long is filled with silence; a longer one (a disk that
/// was full for an hour) starts a new file with its own anchor instead of
/// writing an hour of zeros.
const MAX_SILENCE_SECONDS: u64 = 60;
/// What the 32-bit RIFF sizes can describe; a longer recording continues in
/// a new file.
const MAX_RIFF_LEN: u64 = u32::MAX as u64;
const DESCRIPTION_LEN: usize = 256;

/// A Broadcast WAVE file being recorded.
pub struct WavOutput {
    name: String,
    path: PathBuf,
    file: File,
    ctx: OutputContext,
    /// The engine sample heard at this file's first frame.
    first_sample: u64,
    data_start: u64,
    /// Bytes of audio in the file, all of them whole frames.
    data_len: u64,
    /// Largest `data_len` the header's sizes can hold.
    max_data_len: u64,
    header_written_at: Instant,
    bytes: Vec<u8>,
    dither: SmallRng,
}

impl WavOutput {
    /// Starts a recording at `path` whose first frame is engine sample 0.
    /// A file already there (an earlier run's) is renamed first, never
    /// overwritten; a missing folder is created.
    pub fn create(name: &str, path: &Path, ctx: &OutputContext) -> Result<Self, OutputError> {
        Self::create_at(name, path, ctx, 0, MAX_RIFF_LEN)
    }

    fn create_at(
        name: &str,
        path: &Path,
        ctx: &OutputContext,
        first_sample: u64,
        max_riff_len: u64,
    ) -> Result<Self, OutputError> {
        let open_error = |what: String, e: io::Error| OutputError::Open {
            name: name.to_string(),
            message: format!(
                "{what}: {e}; make sure the folder exists and onair may write there, \
                 or give this wav output another path"
            ),
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                open_error(format!("cannot create the folder {}", parent.display()), e)
            })?;
        }
        if let Some(kept) = set_aside(path, ctx.timezone)
            .map_err(|e| open_error(format!("cannot set aside what is at {}", path.display()), e))?
        {
            tracing::info!(
                "output {name}: kept the earlier recording as {}",
                kept.display()
            );
        }
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| open_error(format!("cannot create {}", path.display()), e))?;
        let header = header(ctx, first_sample);
        file.write_all_at(&header, 0)
            .map_err(|e| open_error(format!("cannot write to {}", path.display()), e))?;
        let data_start = header.len() as u64;
        let max_data_len =
            max_riff_len.saturating_sub(data_start - 8) / BYTES_PER_FRAME * BYTES_PER_FRAME;
        Ok(Self {
            name: name.to_string(),
            path: path.to_path_buf(),
            file,
            ctx: ctx.clone(),
            first_sample,
            data_start,
            data_len: 0,
            max_data_len,
            header_written_at: Instant::now(),
            bytes: Vec::new(),
            dither: SmallRng::seed_from_u64(first_sample ^ 0x006f_6e61_6972),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io_error(&self, source: io::Error) -> OutputError {
        OutputError::Io {
            name: self.name.clone(),
            source,
        }
    }

    fn frames(&self) -> u64 {
        self.data_len / BYTES_PER_FRAME
    }

    /// Ends this file and carries on in a new one at the same path whose
    /// first frame is engine sample `next_sample`.
    fn rotate(&mut self, next_sample: u64) -> Result<(), OutputError> {
        self.update_header()?;
        let max_riff_len = self.max_data_len + self.data_start - 8;
        *self = Self::create_at(&self.name, &self.path, &self.ctx, next_sample, max_riff_len)?;
        Ok(())
    }

    /// Appends whole frames already in `self.bytes`, moving to a new file
    /// when this one is full.
    fn append(&mut self) -> Result<(), OutputError> {
        let bytes = std::mem::take(&mut self.bytes);
        let result = self.append_bytes(&bytes);
        self.bytes = bytes;
        result
    }

    fn append_bytes(&mut self, bytes: &[u8]) -> Result<(), OutputError> {
        let mut written = 0;
        while written < bytes.len() {
            if self.data_len >= self.max_data_len {
                let next = self.first_sample + self.frames();
                self.rotate(next)?;
            }
            let room = (self.max_data_len - self.data_len) as usize;
            let piece = &bytes[written..bytes.len().min(written + room)];
            // Written at an explicit offset, so a write that failed halfway
            // is simply written again over the same place next time.
            self.file
                .write_all_at(piece, self.data_start + self.data_len)
                .map_err(|e| self.io_error(e))?;
            self.data_len += piece.len() as u64;
            written += piece.len();
        }
        if self.header_written_at.elapsed() >= HEADER_EVERY {
            self.update_header()?;
        }
        Ok(())
    }

    /// Makes the header describe the audio on disk: the audio is synced
    /// first, so after a power cut the header never claims more than the file holds.
    fn update_header(&mut self) -> Result<(), OutputError> {
        self.file.sync_data().map_err(|e| self.io_error(e))?;
        let riff_len = (self.data_start - 8 + self.data_len) as u32;
        self.file
            .write_all_at(&riff_len.to_le_bytes(), 4)
            .and_then(|()| {
                self.file
                    .write_all_at(&(self.data_len as u32).to_le_bytes(), self.data_start - 4)
            })
            .map_err(|e| self.io_error(e))?;
        self.header_written_at = Instant::now();
        Ok(())
    }

    fn pcm(&mut self, sample: f32) -> i16 {
        // Digital silence stays digital silence, so silence detection and
        // anyone checking the file see true zeros between programmes.
        if sample == 0.0 {
            return 0;
        }
        // TPDF dither of ±1 LSB: the difference of two uniform values.
        let tpdf = self.dither.random::<f32>() - self.dither.random::<f32>();
        (sample.clamp(-1.0, 1.0) * 32767.0 + tpdf)
            .round()
            .clamp(-32768.0, 32767.0) as i16
    }
}

impl Output for WavOutput {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn write(&mut self, samples: &[f32]) -> Result<(), OutputError> {
        let whole = samples.len() / CHANNELS * CHANNELS;
        let mut bytes = std::mem::take(&mut self.bytes);
        bytes.clear();
        bytes.reserve(whole * 2);
        for &sample in &samples[..whole] {
            bytes.extend_from_slice(&self.pcm(sample).to_le_bytes());
        }
        self.bytes = bytes;
        self.append()
    }

    fn finish(&mut self) -> Result<(), OutputError> {
        self.update_header()?;
        self.file.sync_all().map_err(|e| self.io_error(e))
    }

    fn skip(&mut self, frames: u64) -> Result<(), OutputError> {
        if frames > self.ctx.rate as u64 * MAX_SILENCE_SECONDS {
            let next = self.first_sample + self.frames() + frames;
            tracing::warn!(
                "output {}: {:.0} s of programme never reached this recording; \
                 it continues in a new file",
                self.name,
                frames as f64 / self.ctx.rate as f64
            );
            return self.rotate(next);
        }
        self.bytes.clear();
        self.bytes
            .resize(frames as usize * BYTES_PER_FRAME as usize, 0);
        self.append()
    }
}

/// The bytes before the audio: RIFF header, `fmt `, `bext`, `data` header
/// (sizes as for no audio yet, which is what a reader sees if the box dies
/// within the first second).
fn header(ctx: &OutputContext, first_sample: u64) -> Vec<u8> {
    let anchor = ctx.timeline.time_of(first_sample);
    let local = anchor.with_timezone(&ctx.timezone);
    let anchor_text = format!(
        "anchor={}",
        anchor.to_rfc3339_opts(SecondsFormat::Micros, true)
    );
    let mut station = ctx.station.as_str();
    let room = DESCRIPTION_LEN - "onair ".len() - 1 - anchor_text.len();
    while station.len() > room {
        let mut end = station.len() - 1;
        while !station.is_char_boundary(end) {
            end -= 1;
        }
        station = &station[..end];
    }
    let description = format!("onair {station} {anchor_text}");
    // The clock reading since local midnight, as a DAW shows time of day (on
    // a DST change day this differs from the time elapsed since midnight).
    let since_midnight = local.num_seconds_from_midnight() as u64 * ctx.rate as u64
        + local.nanosecond().min(999_999_999) as u64 * ctx.rate as u64 / 1_000_000_000;
    let coding_history = format!("A=PCM,F={},W=16,M=stereo,T=onair\r\n", ctx.rate);

    let mut bext = Vec::with_capacity(602 + coding_history.len() + 1);
    fixed_ascii(&mut bext, &description, DESCRIPTION_LEN);
    fixed_ascii(&mut bext, "onair", 32);
    fixed_ascii(&mut bext, "", 32);
    fixed_ascii(&mut bext, &local.format("%Y-%m-%d").to_string(), 10);
    fixed_ascii(&mut bext, &local.format("%H:%M:%S").to_string(), 8);
    bext.extend_from_slice(&(since_midnight as u32).to_le_bytes());
    bext.extend_from_slice(&((since_midnight >> 32) as u32).to_le_bytes());
    bext.extend_from_slice(&1u16.to_le_bytes()); // version 1: UMID present, no loudness
    bext.resize(bext.len() + 64 + 190, 0); // UMID, reserved
    bext.extend_from_slice(coding_history.as_bytes());
    if bext.len() % 2 == 1 {
        bext.push(0);
    }

    let block_align = BYTES_PER_FRAME as u16;
    let mut h = Vec::with_capacity(12 + 24 + 8 + bext.len() + 8);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&[0; 4]);
    h.extend_from_slice(b"WAVE");
    h.extend_from_slice(b"fmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes()); // PCM
    h.extend_from_slice(&(CHANNELS as u16).to_le_bytes());
    h.extend_from_slice(&ctx.rate.to_le_bytes());
    h.extend_from_slice(&(ctx.rate * block_align as u32).to_le_bytes());
    h.extend_from_slice(&block_align.to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"bext");
    h.extend_from_slice(&(bext.len() as u32).to_le_bytes());
    h.extend_from_slice(&bext);
    h.extend_from_slice(b"data");
    h.extend_from_slice(&[0; 4]);
    let riff_len = (h.len() - 8) as u32;
    h[4..8].copy_from_slice(&riff_len.to_le_bytes());
    h
}

fn fixed_ascii(out: &mut Vec<u8>, text: &str, len: usize) {
    let bytes = &text.as_bytes()[..text.len().min(len)];
    out.extend_from_slice(bytes);
    out.resize(out.len() + len - bytes.len(), 0);
}

/// What a WAV file's header says about it, as far as this module cares.
struct Layout {
    description: Option<String>,
    block_align: u64,
    data_start: u64,
    data_len: u64,
    file_len: u64,
}

fn read_layout(file: &File) -> io::Result<Option<Layout>> {
    let file_len = file.metadata()?.len();
    let mut riff = [0u8; 12];
    if file_len < 12 || file.read_exact_at(&mut riff, 0).is_err() {
        return Ok(None);
    }
    if &riff[0..4] != b"RIFF" || &riff[8..12] != b"WAVE" {
        return Ok(None);
    }
    let mut description = None;
    let mut block_align = 0;
    let mut pos = 12u64;
    while pos + 8 <= file_len {
        let mut chunk = [0u8; 8];
        file.read_exact_at(&mut chunk, pos)?;
        let len = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]) as u64;
        match &chunk[0..4] {
            b"data" => {
                return Ok(Some(Layout {
                    description,
                    block_align,
                    data_start: pos + 8,
                    data_len: len,
                    file_len,
                }));
            }
            b"bext" if len >= DESCRIPTION_LEN as u64 => {
                let mut text = vec![0u8; DESCRIPTION_LEN];
                file.read_exact_at(&mut text, pos + 8)?;
                let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
                description = Some(String::from_utf8_lossy(&text[..end]).into_owned());
            }
            b"fmt " if len >= 14 => {
                let mut align = [0u8; 2];
                file.read_exact_at(&mut align, pos + 8 + 12)?;
                block_align = u16::from_le_bytes(align) as u64;
            }
            _ => {}
        }
        pos += 8 + len + (len & 1);
    }
    Ok(None)
}

fn parse_anchor(description: &str) -> Option<DateTime<Utc>> {
    let start = description.find("anchor=")? + "anchor=".len();
    let text = description[start..].split_whitespace().next()?;
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.to_utc())
}

/// The station time of the first sample of a recording made by this output
/// (the `anchor=` in its `bext` Description); `None` for a WAV file without one.
pub fn anchor_of(path: &Path) -> io::Result<Option<DateTime<Utc>>> {
    let file = File::open(path)?;
    Ok(read_layout(&file)?
        .and_then(|layout| layout.description)
        .and_then(|d| parse_anchor(&d)))
}

/// Moves an earlier recording out of the way: to
/// `<stem>.<local yyyymmddThhmmss of its anchor, or of its mtime>.wav` in the
/// same folder, with `-1`, `-2`… if that name is taken. A recording of ours
/// that was cut short (SIGKILL, power cut) first gets a header covering all
/// the audio it holds. Returns the new name, or `None` if nothing was there.
fn set_aside(path: &Path, timezone: Tz) -> io::Result<Option<PathBuf>> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => {}
        // A device, folder or link in the recording's place is a mistake in
        // the configuration, not an earlier recording to move.
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "it is not a regular file (a device, folder or link?)",
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    }
    let file = File::options().read(true).write(true).open(path)?;
    let layout = read_layout(&file)?;
    let anchor = layout
        .as_ref()
        .and_then(|l| l.description.as_deref())
        .and_then(parse_anchor);
    if let Some(layout) = &layout
        && anchor.is_some()
    {
        complete_header(&file, layout)?;
    }
    let stamp = match anchor {
        Some(anchor) => anchor,
        None => file.metadata()?.modified().map(DateTime::<Utc>::from)?,
    }
    .with_timezone(&timezone)
    .format("%Y%m%dT%H%M%S")
    .to_string();
    drop(file);

    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let folder = path.parent().unwrap_or(Path::new(""));
    let mut target = folder.join(format!("{stem}.{stamp}.wav"));
    let mut n = 1;
    while target.try_exists()? {
        target = folder.join(format!("{stem}.{stamp}-{n}.wav"));
        n += 1;
    }
    std::fs::rename(path, &target)?;
    Ok(Some(target))
}

/// Extends the sizes in one of our headers to all whole frames in the file.
/// Our recordings end with their data chunk, so everything after its start is audio.
fn complete_header(file: &File, layout: &Layout) -> io::Result<()> {
    if layout.block_align == 0 || layout.file_len < layout.data_start {
        return Ok(());
    }
    let on_disk = (layout.file_len - layout.data_start) / layout.block_align * layout.block_align;
    let on_disk = on_disk
        .min((MAX_RIFF_LEN - (layout.data_start - 8)) / layout.block_align * layout.block_align);
    if on_disk <= layout.data_len {
        return Ok(());
    }
    file.write_all_at(&((layout.data_start - 8 + on_disk) as u32).to_le_bytes(), 4)?;
    file.write_all_at(&(on_disk as u32).to_le_bytes(), layout.data_start - 4)?;
    file.sync_data()
}

#[cfg(test)]
mod tests;
