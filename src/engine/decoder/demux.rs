//! Opening a programme file: probing its container and codec, seeking,
//! and reading it packet by packet into planar audio.

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use symphonia::core::audio::Channels;
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as MediaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::{TimeBase, Timestamp};

use super::{DecodeError, clock_text, ticks_to_frames};

/// Undecodable packets in a row after which a file is given up: it is
/// damaged beyond a glitch, and playing on would only be silence.
const MAX_BAD_PACKETS_IN_A_ROW: u32 = 16;

/// The container and codec of one file.
pub(super) struct Demux {
    pub(super) name: String,
    pub(super) reader: Box<dyn FormatReader>,
    pub(super) decoder: Box<dyn AudioDecoder>,
    pub(super) track_id: u32,
    pub(super) time_base: Option<TimeBase>,
    pub(super) rate: u32,
    /// Playable frames according to the container, when it says.
    pub(super) frames: Option<u64>,
    pub(super) codec: String,
    /// File frame just after the last decoded packet (from its timestamp).
    pub(super) position: u64,
    /// Where the last seek landed, and frames actually decoded since: less
    /// than `position` when the reader stepped over a damaged stretch.
    pub(super) origin: u64,
    pub(super) decoded: u64,
    /// Damaged packets skipped, and holes in the timestamps.
    pub(super) damaged: u64,
    pub(super) bad_in_a_row: u32,
    /// The last decoded packet, one vector per channel.
    pub(super) planes: Vec<Vec<f32>>,
    pub(super) layout: Channels,
}

pub(super) enum Decoded {
    /// `planes` holds new audio whose first frame is file frame `start`.
    Audio {
        start: i64,
    },
    /// A damaged packet was left out.
    Skipped,
    End,
    Failed(String),
}

impl Demux {
    pub(super) fn open(path: &Path) -> Result<Self, DecodeError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| DecodeError::Open {
            path: name.clone(),
            source,
        })?;
        match file.metadata() {
            Ok(meta) if meta.len() == 0 => return Err(DecodeError::Empty { path: name }),
            Ok(meta) if meta.is_dir() => {
                return Err(DecodeError::NotAudio {
                    path: name,
                    reason: "it is a folder".into(),
                });
            }
            _ => {}
        }
        let stream = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let reader = symphonia::default::get_probe()
            .probe(
                &hint,
                stream,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .map_err(|e| DecodeError::NotAudio {
                path: name.clone(),
                reason: e.to_string(),
            })?;
        let unsupported = |reason: &str| DecodeError::Unsupported {
            path: name.clone(),
            reason: reason.to_string(),
        };
        let track = reader
            .default_track(TrackType::Audio)
            .ok_or_else(|| unsupported("no audio track"))?;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or_else(|| unsupported("the audio track's codec is unknown"))?;
        let rate = params
            .sample_rate
            .filter(|r| *r > 0)
            .ok_or_else(|| unsupported("the sample rate is not stated"))?;
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(params, &AudioDecoderOptions::default().gapless(true))
            .map_err(|e| unsupported(&e.to_string()))?;
        let time_base = track.time_base;
        let frames = track
            .num_frames
            .or_else(|| {
                let tb = time_base?;
                let ticks = track.duration?.get();
                Some(ticks_to_frames(ticks as i128, tb, rate).max(0) as u64)
            })
            .filter(|n| *n > 0);
        let track_id = track.id;
        let layout = params.channels.clone().unwrap_or_default();
        let codec = decoder.codec_info().long_name.to_string();
        Ok(Demux {
            name,
            reader,
            decoder,
            track_id,
            time_base,
            rate,
            frames,
            codec,
            position: 0,
            origin: 0,
            decoded: 0,
            damaged: 0,
            bad_in_a_row: 0,
            planes: Vec::new(),
            layout,
        })
    }

    pub(super) fn ts_to_frames(&self, ts: i64) -> i64 {
        match self.time_base {
            Some(tb) => ticks_to_frames(ts as i128, tb, self.rate),
            None => ts,
        }
    }

    pub(super) fn frames_to_ts(&self, frames: u64) -> i64 {
        match self.time_base {
            Some(tb) => {
                let den = i128::from(tb.numer.get()) * i128::from(self.rate);
                (frames as i128 * i128::from(tb.denom.get()) / den) as i64
            }
            None => frames as i64,
        }
    }

    /// Accurate seek: the reader lands at or before `frame`; the frames in
    /// between are dropped by the caller using the packets' timestamps.
    pub(super) fn seek(&mut self, frame: u64) -> Result<(), MediaError> {
        let ts = Timestamp::new(self.frames_to_ts(frame));
        self.reader.seek(
            SeekMode::Accurate,
            SeekTo::Timestamp {
                ts,
                track_id: self.track_id,
            },
        )?;
        self.decoder.reset();
        self.position = frame;
        self.origin = frame;
        self.decoded = 0;
        Ok(())
    }

    pub(super) fn next(&mut self) -> Decoded {
        loop {
            let packet = match self.reader.next_packet() {
                Ok(Some(packet)) => packet,
                Ok(None) => return Decoded::End,
                Err(MediaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Decoded::Failed(self.ends_early());
                }
                Err(MediaError::IoError(e)) => {
                    return Decoded::Failed(format!(
                        "read error at {}: {e}",
                        clock_text(self.position, self.rate)
                    ));
                }
                Err(MediaError::ResetRequired) => {
                    return Decoded::Failed(format!(
                        "the stream changes format at {} (chained streams are not supported)",
                        clock_text(self.position, self.rate)
                    ));
                }
                Err(e) => {
                    return Decoded::Failed(format!(
                        "the container is damaged at {}: {e}",
                        clock_text(self.position, self.rate)
                    ));
                }
            };
            if packet.track_id != self.track_id {
                continue;
            }
            // Encoder delay has negative timestamps and is trimmed by the
            // decoder, so the first frame it hands out sits at pts + trim.
            let start = self.ts_to_frames(packet.pts.saturating_add(packet.trim_start).get());
            match self.decoder.decode(&packet) {
                Ok(audio) => {
                    let frames = audio.frames();
                    if self.decoded > 0 && start > self.position as i64 + 1 {
                        self.damaged += 1;
                    }
                    self.decoded += frames as u64;
                    self.bad_in_a_row = 0;
                    if audio.spec().channels() != &self.layout {
                        self.layout = audio.spec().channels().clone();
                    }
                    audio.copy_to_vecs_planar(&mut self.planes);
                    self.position = (start + frames as i64).max(0) as u64;
                    return Decoded::Audio { start };
                }
                // Damaged data also shows up as "unsupported" or "limit"
                // errors (an AAC packet whose garbage reads as an exotic
                // feature), so those are skipped too, up to a point.
                Err(
                    e @ (MediaError::DecodeError(_)
                    | MediaError::IoError(_)
                    | MediaError::Unsupported(_)
                    | MediaError::LimitError(_)),
                ) => {
                    self.damaged += 1;
                    self.bad_in_a_row += 1;
                    if self.bad_in_a_row >= MAX_BAD_PACKETS_IN_A_ROW {
                        return Decoded::Failed(format!(
                            "{} packets in a row cannot be decoded at {} ({e})",
                            self.bad_in_a_row,
                            clock_text(self.position, self.rate)
                        ));
                    }
                    let end = start + self.ts_to_frames(packet.dur.get() as i64);
                    self.position = self.position.max(end.max(0) as u64);
                    return Decoded::Skipped;
                }
                Err(e) => {
                    return Decoded::Failed(format!(
                        "cannot decode at {}: {e}",
                        clock_text(self.position, self.rate)
                    ));
                }
            }
        }
    }

    pub(super) fn ends_early(&self) -> String {
        match self.frames {
            Some(total) => format!(
                "file ends early at {} of {} (truncated?)",
                clock_text(self.position, self.rate),
                clock_text(total, self.rate)
            ),
            None => format!(
                "file ends early at {} (truncated?)",
                clock_text(self.position, self.rate)
            ),
        }
    }

    /// At the end of the stream: did the file stop short of the length its
    /// header promised? (A truncated FLAC or MP3 often just ends, and an MP3
    /// reader silently steps over a damaged stretch.) `slack` allows for
    /// headers that only estimate the length (MP3s without a Xing header).
    pub(super) fn shortfall(&self, slack: Duration) -> Option<String> {
        let total = self.frames?;
        let slack = (slack.as_millis() as u64) * u64::from(self.rate) / 1000;
        let covered = self.origin + self.decoded;
        (covered + slack < total).then(|| {
            format!(
                "only {} of the {} its header states could be decoded (truncated or damaged?)",
                clock_text(covered, self.rate),
                clock_text(total, self.rate)
            )
        })
    }
}

/// How far short of its stated length a file may end before it counts as
/// damaged: about two MP3 frames, enough for an MP3 whose length is only
/// estimated, while one damaged stretch that a reader stepped over is caught.
pub(super) const LENGTH_SLACK: Duration = Duration::from_millis(50);
