//! A segment's peaks: the sidecar the waveform is drawn from, so that a
//! picture of six hours never decodes six hours of MP3.
//!
//! Where the peaks come from: for the box's own programme, from the
//! levels of the programme the encoder took (`levels`), which costs next
//! to nothing; where those do not cover a segment, and for a recorded
//! stream's segments, by decoding the segment (symphonia): 8 to 12 ms of
//! CPU for 6 s at 128 kbit/s, which is why a recorder makes them only
//! when asked.
//!
//! The file sits beside its segment: `X.peaks` for `X.mp3`, a name the
//! listing ignores, written before the segment is renamed into view, so a
//! listed segment has its peaks. A sidecar whose segment never appeared (a
//! box killed between the two) names nothing and is deleted with its hour.
//!
//! The format, little-endian: `ONAIRPK` and a version byte (1); the bucket
//! length in microseconds (u32, 10 000); the bucket count (u32); then per
//! bucket the lowest and highest sample of any channel as `i8` (×127). A
//! bucket `i` covers `[start + i·bucket, start + (i+1)·bucket)` of the
//! segment's named start. Six seconds are 1 216 bytes.

use std::io::{self, Cursor};
use std::path::{Path, PathBuf};

use symphonia::core::audio::GenericAudioBufferRef;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use super::names::{Codec, split_extension};

const MAGIC: &[u8; 7] = b"ONAIRPK";
const VERSION: u8 = 1;
const HEADER_BYTES: usize = 16;
/// The length of one bucket: 10 ms, fine enough for a 4096-pixel picture
/// of 40 s, coarse enough that six hours of peaks are 4 MB.
pub const BUCKET_MICROS: u32 = 10_000;
/// The sidecar's extension.
pub const EXTENSION: &str = ".peaks";

/// Samples in one bucket at `rate` (a rate that is not a multiple of 100
/// rounds).
pub fn samples_per_bucket(rate: u32) -> usize {
    ((u64::from(rate) * u64::from(BUCKET_MICROS) + 500_000) / 1_000_000).max(1) as usize
}

/// A sample in the sidecar's scale.
pub fn scale(v: f32) -> i8 {
    (v.clamp(-1.0, 1.0) * 127.0).round() as i8
}

/// The lowest and highest sample of one bucket, ×127.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub min: i8,
    pub max: i8,
}

/// A segment's peaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peaks {
    pub bucket_micros: u32,
    pub buckets: Vec<Bucket>,
}

/// Why a sidecar cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PeaksError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("not a peaks file (expected it to begin with ONAIRPK)")]
    Magic,
    #[error("peaks version {0}: this box reads version 1")]
    Version(u8),
    #[error("the peaks file is cut short: {have} bytes for {count} buckets")]
    Short { have: usize, count: usize },
    #[error("a bucket length of 0 µs")]
    Bucket,
}

/// The sidecar's file name for a segment's file name (`X.mp3` or `X.aac`
/// → `X.peaks`).
pub fn sidecar_name(segment_file: &str) -> String {
    let stem = split_extension(segment_file).map_or(segment_file, |(stem, _)| stem);
    format!("{stem}{EXTENSION}")
}

/// The sidecar's path beside a segment's path.
pub fn sidecar_path(segment: &Path) -> PathBuf {
    let name = segment
        .file_name()
        .map(|n| sidecar_name(&n.to_string_lossy()))
        .unwrap_or_default();
    segment.with_file_name(name)
}

impl Peaks {
    /// The peaks of MP3 frames (no ID3 tag needed), by decoding them.
    /// Frames that do not decode (the first, when its bit reservoir lies
    /// in the segment before) count as silence.
    pub fn of_mp3(mp3: &[u8]) -> Result<Peaks, String> {
        Peaks::of_audio(mp3, Codec::Mp3)
    }

    /// The peaks of MP3 or ADTS frames. symphonia reads ADTS and decodes
    /// AAC-LC as it does MP3, at about the same cost per second of audio.
    pub fn of_audio(audio: &[u8], codec: Codec) -> Result<Peaks, String> {
        let stream =
            MediaSourceStream::new(Box::new(Cursor::new(audio.to_vec())), Default::default());
        let mut hint = Hint::new();
        hint.with_extension(codec.extension());
        let what = match codec {
            Codec::Mp3 => "MP3",
            Codec::Aac => "AAC (ADTS)",
        };
        let mut reader = symphonia::default::get_probe()
            .probe(
                &hint,
                stream,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .map_err(|e| format!("the segment does not read as {what}: {e}"))?;
        let (track, params) = reader
            .default_track(TrackType::Audio)
            .and_then(|t| Some((t.id, t.codec_params.as_ref()?.audio()?.clone())))
            .ok_or("the segment has no audio")?;
        let rate = params.sample_rate.ok_or("the segment has no sample rate")?;
        let mut decoder = symphonia::default::get_codecs()
            .make_audio_decoder(&params, &AudioDecoderOptions::default())
            .map_err(|e| format!("cannot decode the segment: {e}"))?;
        let mut folder = Folder::new(rate);
        let mut scratch: Vec<f32> = Vec::new();
        while let Ok(Some(packet)) = reader.next_packet() {
            if packet.track_id != track {
                continue;
            }
            let frames = packet.dur.get() as usize;
            match decoder.decode(&packet) {
                Ok(audio) => folder.add(&audio, &mut scratch),
                Err(_) => folder.silence(frames),
            }
        }
        Ok(folder.finish())
    }

    /// The sidecar's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(HEADER_BYTES + 2 * self.buckets.len());
        bytes.extend_from_slice(MAGIC);
        bytes.push(VERSION);
        bytes.extend_from_slice(&self.bucket_micros.to_le_bytes());
        bytes.extend_from_slice(&(self.buckets.len() as u32).to_le_bytes());
        for b in &self.buckets {
            bytes.extend_from_slice(&[b.min as u8, b.max as u8]);
        }
        bytes
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Peaks, PeaksError> {
        if bytes.len() < HEADER_BYTES || &bytes[..7] != MAGIC {
            return Err(PeaksError::Magic);
        }
        if bytes[7] != VERSION {
            return Err(PeaksError::Version(bytes[7]));
        }
        let word = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let bucket_micros = word(8);
        let count = word(12) as usize;
        if bucket_micros == 0 {
            return Err(PeaksError::Bucket);
        }
        let body = &bytes[HEADER_BYTES..];
        if body.len() < 2 * count {
            return Err(PeaksError::Short {
                have: bytes.len(),
                count,
            });
        }
        let buckets = body[..2 * count]
            .chunks_exact(2)
            .map(|p| Bucket {
                min: p[0] as i8,
                max: p[1] as i8,
            })
            .collect();
        Ok(Peaks {
            bucket_micros,
            buckets,
        })
    }

    /// Reads a segment's sidecar.
    pub fn read(sidecar: &Path) -> Result<Peaks, PeaksError> {
        Peaks::from_bytes(&std::fs::read(sidecar)?)
    }
}

/// Writes the peaks of `mp3` to `sidecar`, decoding it. A sidecar that
/// cannot be made (a full disk) is removed rather than left half written;
/// the segment is kept all the same and shows blank in a waveform.
pub fn write(sidecar: &Path, mp3: &[u8]) -> Result<(), String> {
    write_as(sidecar, mp3, Codec::Mp3)
}

/// [`write`] for frames of either codec.
pub fn write_as(sidecar: &Path, audio: &[u8], codec: Codec) -> Result<(), String> {
    Peaks::of_audio(audio, codec)?.write(sidecar)
}

/// The peaks of a segment already in the archive, decoded from its file
/// and written beside it for the next time (a recorded stream's segment,
/// which got none when it was written). The sidecar is only a cache: a
/// disk that will not take it still gets the peaks drawn.
pub fn made_for(segment: &Path) -> Result<Peaks, String> {
    let codec = segment
        .file_name()
        .and_then(|n| split_extension(&n.to_string_lossy()).map(|(_, codec)| codec))
        .ok_or_else(|| format!("{}: not a segment", segment.display()))?;
    let bytes = std::fs::read(segment).map_err(|e| format!("{}: {e}", segment.display()))?;
    let audio = bytes.get(super::id3::TAG_BYTES..).unwrap_or_default();
    let peaks = Peaks::of_audio(audio, codec)?;
    if let Err(e) = peaks.write(&sidecar_path(segment)) {
        tracing::debug!("the peaks made for a waveform are not kept: {e}");
    }
    Ok(peaks)
}

impl Peaks {
    /// Writes these peaks to `sidecar`, as [`write`] does.
    pub fn write(&self, sidecar: &Path) -> Result<(), String> {
        std::fs::write(sidecar, self.to_bytes()).map_err(|e| {
            let _ = std::fs::remove_file(sidecar);
            format!("{}: {e}", sidecar.display())
        })
    }

    /// The buckets of the first `samples` at `rate` only (a segment the
    /// disk took in part).
    pub fn truncated(mut self, samples: u64, rate: u32) -> Peaks {
        let keep = samples.div_ceil(samples_per_bucket(rate) as u64) as usize;
        self.buckets.truncate(keep);
        self
    }
}

/// Decoded samples, folded into buckets.
struct Folder {
    /// Samples per bucket (a rate that is not a multiple of 100 rounds).
    per_bucket: usize,
    buckets: Vec<Bucket>,
    /// The open bucket: its extremes and how many samples it holds.
    low: f32,
    high: f32,
    filled: usize,
}

impl Folder {
    fn new(rate: u32) -> Self {
        Folder {
            per_bucket: samples_per_bucket(rate),
            buckets: Vec::with_capacity(640),
            low: 0.0,
            high: 0.0,
            filled: 0,
        }
    }

    fn sample(&mut self, low: f32, high: f32) {
        self.low = self.low.min(low);
        self.high = self.high.max(high);
        self.filled += 1;
        if self.filled == self.per_bucket {
            self.close();
        }
    }

    fn close(&mut self) {
        self.buckets.push(Bucket {
            min: scale(self.low),
            max: scale(self.high),
        });
        (self.low, self.high, self.filled) = (0.0, 0.0, 0);
    }

    fn add(&mut self, audio: &GenericAudioBufferRef, scratch: &mut Vec<f32>) {
        let channels = audio.spec().channels().count().max(1);
        audio.copy_to_vec_interleaved(scratch);
        for frame in scratch.chunks_exact(channels) {
            let (low, high) = frame
                .iter()
                .fold((f32::MAX, f32::MIN), |(l, h), &s| (l.min(s), h.max(s)));
            self.sample(low, high);
        }
    }

    fn silence(&mut self, frames: usize) {
        for _ in 0..frames {
            self.sample(0.0, 0.0);
        }
    }

    fn finish(mut self) -> Peaks {
        if self.filled > 0 {
            self.close();
        }
        Peaks {
            bucket_micros: BUCKET_MICROS,
            buckets: self.buckets,
        }
    }
}

#[cfg(test)]
mod tests;
