//! A time range cut out of the archive, as the segments' own frames (MP3,
//! or AAC in ADTS for a recorded AAC stream) or as WAV.
//!
//! The range's segments are chosen as a playlist's are ([`best`]). Where
//! they do not join (a hole, or a segment that is not `full`), the cut is
//! refused with the holes named, unless holes are allowed: then it is the
//! runs of joined audio back to back, shorter than the range.
//!
//! - MP3 or AAC: the whole frames that overlap the range, copied as they
//!   are, so it costs what reading the segments costs. It may begin and
//!   end up to a frame (24 ms of MP3, 21 ms of AAC at 48 kHz) outside the
//!   range. A range is one codec: the recorder puts a stream that changes
//!   codec into another quality folder.
//! - WAV: decoded and trimmed to the sample. A segment's name is the
//!   station time of the first sample a decoder gives for its first frame
//!   ([`segmenter`](super::segmenter)), and every frame decodes to a fixed
//!   number of samples, so the sample at any instant is found by counting.
//!   Each run is decoded from a few frames before the range (MP3's bit
//!   reservoir and either codec's overlapping filter bank need them), and
//!   those are thrown away. An AAC decoder gives 1024 samples for every
//!   frame, its first included, so counting works for AAC as for MP3.
//!   The WAV's length is known before a byte is decoded (a frame that will
//!   not decode leaves silence, not a shorter file), so it is sent as it
//!   is made: a cut of hours never sits in memory. RIFF's sizes are 32
//!   bits, so a WAV cut is at most 6 hours.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};
use symphonia::core::codecs::audio::well_known::{CODEC_ID_AAC, CODEC_ID_MP3};
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::packet::PacketRef;
use symphonia::core::units::{Duration, Timestamp};

use super::adts::{AdtsHeader, SAMPLE_RATES};
use super::best::BestCache;
use super::frames;
use super::id3;
use super::listing::Listed;
use super::names::{Codec, SegmentType, hour_folder};

/// The longest WAV cut: 16-bit stereo at 48 kHz fills RIFF's 4 GiB in 6.2 h.
pub const MAX_WAV: TimeDelta = TimeDelta::hours(6);

/// Frames decoded before a run's first wanted one and thrown away. The
/// bit reservoir reaches back at most 511 bytes (`main_data_begin` is 9
/// bits): 6 frames at 32 kbit/s, the smallest at 48 kHz; one more warms
/// the filter bank's overlap.
const PREROLL_FRAMES: usize = 8;

/// A place in a range where the archive's audio does not join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hole {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// It follows a segment that was cut short, so nothing says what
    /// follows joins it, however close it is.
    pub after_partial: bool,
}

impl fmt::Display for Hole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let time = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.3fZ");
        write!(f, "{} to {}", time(self.from), time(self.to))?;
        if self.after_partial {
            write!(f, " (after a segment that was cut short)")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CutError {
    #[error("the archive holds nothing in the range")]
    NoContent,
    #[error(
        "the range has {} hole(s): {}; ask for allow_holes=true to cut around them",
        .0.len(),
        .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    Holes(Vec<Hole>),
    #[error("a WAV cut may be at most 6 hours; cut MP3 instead, or in parts")]
    TooLong,
    #[error(
        "the range holds both MP3 and AAC segments (the stream changed codec in it): cut the \
         parts before and after the change on their own"
    )]
    MixedCodecs,
    #[error(
        "the range is {}, not {}: ask for the cut as .{} (its own frames) or .wav",
        .is.extension().to_uppercase(), .asked.extension().to_uppercase(), .is.extension()
    )]
    OtherCodec { asked: Codec, is: Codec },
    #[error("cannot read the archive: {0}")]
    Io(#[from] io::Error),
}

/// A cut, planned: the runs of joined segments in the range.
#[derive(Debug)]
pub struct Cut {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    codec: Codec,
    quality_dir: PathBuf,
    runs: Vec<Vec<Listed>>,
    pub holes: Vec<Hole>,
}

impl Cut {
    /// Chooses the segments of `start..end` (`end` after `start`).
    pub fn plan(
        best: &BestCache,
        quality_dir: &Path,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        allow_holes: bool,
    ) -> Result<Cut, CutError> {
        let pieces = best.range(quality_dir, start, end)?;
        let holes = holes(&pieces, start, end);
        let mut runs = vec![Vec::new()];
        for piece in pieces {
            match piece {
                Some(segment) => runs.last_mut().map_or((), |run| run.push(segment)),
                None => runs.push(Vec::new()),
            }
        }
        runs.retain(|run| !run.is_empty());
        if runs.is_empty() {
            return Err(CutError::NoContent);
        }
        // One codec: frames of both in one file would play as neither.
        let codec = Codec::of_file(&runs[0][0].file).unwrap_or(Codec::Mp3);
        if runs
            .iter()
            .flatten()
            .any(|s| Codec::of_file(&s.file) != Some(codec))
        {
            return Err(CutError::MixedCodecs);
        }
        if !allow_holes && !holes.is_empty() {
            return Err(CutError::Holes(holes));
        }
        Ok(Cut {
            start,
            end,
            codec,
            quality_dir: quality_dir.to_path_buf(),
            runs,
            holes,
        })
    }

    /// The codec of the range's frames: what [`Cut::write_frames`] gives.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Refuses a cut of the range's own frames asked for as another codec.
    pub fn expect_codec(&self, asked: Codec) -> Result<(), CutError> {
        match asked == self.codec {
            true => Ok(()),
            false => Err(CutError::OtherCodec {
                asked,
                is: self.codec,
            }),
        }
    }

    /// Whole frames overlapping the range, MP3 or AAC as recorded
    /// ([`Cut::codec`]); returns the bytes written.
    pub fn write_frames(&self, out: &mut impl Write) -> io::Result<u64> {
        let (start, end) = (micros(self.start), micros(self.end));
        let mut written = 0u64;
        for run in &self.runs {
            for segment in run {
                let bytes = self.read(segment)?;
                for frame in Frames::new(segment, self.codec, &bytes) {
                    if frame.end_micros > start && frame.start_micros < end {
                        out.write_all(frame.bytes)?;
                        written += frame.bytes.len() as u64;
                    }
                }
            }
        }
        out.flush()?;
        Ok(written)
    }

    /// The rate and channels of the first frame.
    fn format(&self) -> io::Result<(u32, u16)> {
        let first = &self.runs[0][0];
        let bytes = self.read(first)?;
        let frame = Frames::new(first, self.codec, &bytes)
            .next()
            .ok_or_else(|| io::Error::other(format!("{} holds no frame", first.file)))?;
        Ok((frame.sample_rate, frame.channels))
    }

    /// Samples (per channel) each run gives: the part of it in the range.
    fn spans(&self, rate: u32) -> Vec<(i64, i64)> {
        self.runs
            .iter()
            .map(|run| {
                let from = run[0].name.start.max(self.start);
                let to = run[run.len() - 1].name.end().min(self.end);
                (self.sample_at(from, rate), self.sample_at(to, rate))
            })
            .collect()
    }

    /// The sample, counted from the cut's start, at `t`.
    fn sample_at(&self, t: DateTime<Utc>, rate: u32) -> i64 {
        let offset = i128::from(micros(t) - micros(self.start));
        ((offset * i128::from(rate) + 500_000).div_euclid(1_000_000)) as i64
    }

    /// A 16-bit WAV of exactly the range (less its holes, if allowed);
    /// returns the bytes written.
    pub fn write_wav(&self, out: &mut impl Write) -> Result<u64, CutError> {
        if self.end - self.start > MAX_WAV {
            return Err(CutError::TooLong);
        }
        let (rate, channels) = self.format()?;
        let spans = self.spans(rate);
        let frames: i64 = spans.iter().map(|(from, to)| (to - from).max(0)).sum();
        let data_bytes = frames as u64 * u64::from(channels) * 2;
        out.write_all(&wav_header(rate, channels, data_bytes))?;
        let mut pcm = Pcm {
            out,
            channels: usize::from(channels),
            bytes: Vec::with_capacity(64 * 1024),
        };
        for (run, &(from, to)) in self.runs.iter().zip(&spans) {
            self.decode_run(run, rate, from, to, &mut pcm)?;
        }
        pcm.flush()?;
        Ok(44 + data_bytes)
    }

    /// Decodes one run, writing its samples `from..to` (counted from the
    /// cut's start) and silence for any that will not decode.
    fn decode_run(
        &self,
        run: &[Listed],
        rate: u32,
        from: i64,
        to: i64,
        pcm: &mut Pcm<'_, impl Write>,
    ) -> io::Result<()> {
        let mut decoder = self.decoder(run, rate)?;
        // Frames before the range, kept until the first one in it.
        let mut before: VecDeque<(i64, Vec<u8>)> = VecDeque::with_capacity(PREROLL_FRAMES);
        let mut samples = Vec::new();
        let mut next = from;
        'run: for segment in run {
            let bytes = self.read(segment)?;
            let first = self.sample_at(segment.name.start, rate);
            for frame in Frames::new(segment, self.codec, &bytes) {
                let at = first + frame.sample_offset as i64;
                let length = i64::from(frame.samples);
                if at + length <= from {
                    // The oldest frame's buffer is reused for the newest.
                    let mut kept = match before.len() {
                        PREROLL_FRAMES => before.pop_front().map(|(_, b)| b).unwrap_or_default(),
                        _ => Vec::new(),
                    };
                    kept.clear();
                    kept.extend_from_slice(frame.bytes);
                    before.push_back((at, kept));
                    continue;
                }
                for (at, bytes) in before.drain(..) {
                    decode(decoder.as_mut(), at, self.packet(&bytes), &mut samples);
                }
                if decode(decoder.as_mut(), at, self.packet(frame.bytes), &mut samples) {
                    // Samples at..at+n, of which next..to are wanted.
                    let n = (samples.len() / pcm.channels) as i64;
                    if at > next {
                        pcm.silence((at.min(to) - next) as usize)?;
                        next = at.min(to);
                    }
                    let skip = (next - at).clamp(0, n);
                    let take = (to.min(at + n) - next).clamp(0, n - skip);
                    pcm.samples(&samples, skip as usize, take as usize)?;
                    next += take;
                }
                if next >= to || at + length >= to {
                    break 'run;
                }
            }
        }
        if next < to {
            pcm.silence((to - next) as usize)?;
        }
        Ok(())
    }

    /// A decoder for a run's frames. AAC's is told the stream's
    /// configuration as an AudioSpecificConfig made from the first ADTS
    /// header, which is all an ADTS stream says of itself.
    fn decoder(&self, run: &[Listed], rate: u32) -> io::Result<Box<dyn AudioDecoder>> {
        let mut params = AudioCodecParameters::new();
        match self.codec {
            Codec::Mp3 => {
                params.for_codec(CODEC_ID_MP3).with_sample_rate(rate);
            }
            Codec::Aac => {
                let bytes = self.read(&run[0])?;
                let header = AdtsHeader::parse(&bytes[id3::tag_length(&bytes)..])
                    .ok_or_else(|| io::Error::other(format!("{} holds no frame", run[0].file)))?;
                params
                    .for_codec(CODEC_ID_AAC)
                    .with_sample_rate(rate)
                    .with_extra_data(audio_specific_config(&header).into());
            }
        }
        symphonia::default::get_codecs()
            .make_audio_decoder(&params, &AudioDecoderOptions::default())
            .map_err(|e| {
                io::Error::other(format!(
                    "cannot decode this {}: {e}",
                    self.codec.extension().to_uppercase()
                ))
            })
    }

    /// What the decoder is given of a frame: AAC's raw data without its
    /// ADTS header.
    fn packet<'b>(&self, frame: &'b [u8]) -> &'b [u8] {
        match self.codec {
            Codec::Mp3 => frame,
            Codec::Aac => {
                let header = if frame.get(1).is_some_and(|b| b & 0x01 == 1) {
                    7
                } else {
                    9
                };
                frame.get(header..).unwrap_or_default()
            }
        }
    }

    fn read(&self, segment: &Listed) -> io::Result<Vec<u8>> {
        let path = self
            .quality_dir
            .join(hour_folder(segment.name.start))
            .join(&segment.file);
        std::fs::read(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
    }
}

/// The holes of a range's pieces, clipped to it.
pub fn holes(pieces: &[Option<Listed>], start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Hole> {
    let mut holes = Vec::new();
    let mut last: Option<&Listed> = None;
    for (i, piece) in pieces.iter().enumerate() {
        match piece {
            Some(segment) => last = Some(segment),
            None => {
                let next = pieces[i + 1..].iter().flatten().next();
                let from = last.map_or(start, |s| s.name.end()).clamp(start, end);
                if next.is_none() && from >= end {
                    continue; // after a partial segment that reaches the end
                }
                let to = next.map_or(end, |s| s.name.start).clamp(from, end);
                holes.push(Hole {
                    from,
                    to,
                    after_partial: last.is_some_and(|s| s.name.kind != SegmentType::Full),
                });
            }
        }
    }
    holes
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The two-byte AudioSpecificConfig (ISO/IEC 14496-3, 1.6.2.1) an ADTS
/// header stands for: object type (5 bits), sample rate index (4),
/// channel configuration (4), then three zero bits (1024-sample frames).
fn audio_specific_config(header: &AdtsHeader) -> [u8; 2] {
    let object = header.profile + 1;
    let rate = SAMPLE_RATES
        .iter()
        .position(|&r| r == header.sample_rate)
        .unwrap_or(4) as u8;
    [
        (object << 3) | (rate >> 1),
        ((rate & 1) << 7) | ((header.channels & 0x0F) << 3),
    ]
}

/// Decodes one frame starting at sample `at` into `samples`
/// (interleaved); false if it will not decode.
fn decode(decoder: &mut dyn AudioDecoder, at: i64, bytes: &[u8], samples: &mut Vec<f32>) -> bool {
    let packet = PacketRef::new(0, Timestamp::new(at), Duration::new(1152), bytes);
    match decoder.decode_ref(&packet) {
        Ok(audio) => {
            audio.copy_to_vec_interleaved(samples);
            true
        }
        Err(_) => false,
    }
}

/// The channels an MP3 frame holds: its mode bits say mono or not.
fn channels(frame: &[u8]) -> u16 {
    if frame.get(3).is_some_and(|b| b >> 6 == 3) {
        1
    } else {
        2
    }
}

/// One frame of a segment, with its time.
struct Frame<'a> {
    sample_rate: u32,
    /// Samples per channel it decodes to.
    samples: u32,
    channels: u16,
    bytes: &'a [u8],
    /// Samples from the segment's start to this frame's.
    sample_offset: u64,
    start_micros: i64,
    end_micros: i64,
}

/// A segment's frames, timed from its name.
struct Frames<'a> {
    start_micros: i64,
    codec: Codec,
    bytes: &'a [u8],
    at: usize,
    samples: u64,
}

impl<'a> Frames<'a> {
    fn new(segment: &Listed, codec: Codec, bytes: &'a [u8]) -> Self {
        let tag = id3::tag_length(bytes);
        Frames {
            start_micros: micros(segment.name.start),
            codec,
            bytes: &bytes[tag..],
            at: 0,
            samples: 0,
        }
    }

    /// The next frame's offset from `at`, length, rate, samples and
    /// channels.
    fn header(&self) -> Option<(usize, usize, u32, u32, u16)> {
        let rest = &self.bytes[self.at..];
        match self.codec {
            Codec::Mp3 => {
                let (offset, h) = frames::frames(rest).next()?;
                let channels = channels(&rest[offset..]);
                Some((offset, h.length, h.sample_rate, h.samples, channels))
            }
            Codec::Aac => {
                let h = AdtsHeader::parse(rest).filter(|h| h.length <= rest.len())?;
                // Configuration 0 (in the stream) is stereo in practice.
                let channels = match h.channels {
                    0 => 2,
                    c => u16::from(c),
                };
                Some((0, h.length, h.sample_rate, h.samples, channels))
            }
        }
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Frame<'a>;

    fn next(&mut self) -> Option<Frame<'a>> {
        let (offset, length, sample_rate, samples, channels) = self.header()?;
        let from = self.at + offset;
        self.at = from + length;
        let time = |n: u64| self.start_micros + (n * 1_000_000 / u64::from(sample_rate)) as i64;
        let frame = Frame {
            sample_rate,
            samples,
            channels,
            bytes: &self.bytes[from..self.at],
            sample_offset: self.samples,
            start_micros: time(self.samples),
            end_micros: time(self.samples + u64::from(samples)),
        };
        self.samples += u64::from(samples);
        Some(frame)
    }
}

/// 16-bit PCM on its way out, in pieces of 64 KiB.
struct Pcm<'w, W: Write> {
    out: &'w mut W,
    channels: usize,
    bytes: Vec<u8>,
}

impl<W: Write> Pcm<'_, W> {
    /// `take` frames of interleaved `samples`, after the first `skip`.
    fn samples(&mut self, samples: &[f32], skip: usize, take: usize) -> io::Result<()> {
        let c = self.channels;
        let wanted = samples.get(skip * c..(skip + take) * c).unwrap_or_default();
        for &s in wanted {
            let value = (s * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16;
            self.bytes.extend_from_slice(&value.to_le_bytes());
        }
        // A decoder that gave fewer channels' worth than asked: silence.
        let missing = take * c - wanted.len();
        self.bytes.resize(self.bytes.len() + missing * 2, 0);
        self.spill()
    }

    fn silence(&mut self, frames: usize) -> io::Result<()> {
        self.bytes
            .resize(self.bytes.len() + frames * self.channels * 2, 0);
        self.spill()
    }

    fn spill(&mut self) -> io::Result<()> {
        if self.bytes.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.write_all(&self.bytes)?;
        self.bytes.clear();
        self.out.flush()
    }
}

/// A canonical 44-byte header for 16-bit PCM of `data_bytes`.
fn wav_header(rate: u32, channels: u16, data_bytes: u64) -> [u8; 44] {
    let data = u32::try_from(data_bytes).unwrap_or(u32::MAX);
    let block = channels * 2;
    let mut h = [0u8; 44];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data.saturating_add(36).to_le_bytes());
    h[8..16].copy_from_slice(b"WAVEfmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes());
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&rate.to_le_bytes());
    h[28..32].copy_from_slice(&(rate * u32::from(block)).to_le_bytes());
    h[32..34].copy_from_slice(&block.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    h
}

#[cfg(test)]
mod tests;
