//! MP3 encoding of the programme for streams: LAME through `mp3lame-encoder`,
//! after resampling when the stream's rate is not the engine's.

use mp3lame_encoder::{Bitrate, Builder, FlushNoGap, InterleavedPcm, Quality, VbrMode};
use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Fft, FixedSync, Resampler};

use super::CHANNELS;
use crate::config::BitrateMode;

#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    #[error(
        "the MP3 encoder refused its settings ({rate} Hz, {bitrate} kbit/s): {reason}; \
         choose another bitrate or sample_rate for this output"
    )]
    Settings {
        rate: u32,
        bitrate: u32,
        reason: String,
    },
    #[error("the MP3 encoder failed: {0}; please report this as a bug")]
    Encode(String),
    #[error(
        "cannot resample {from} Hz to {to} Hz for the stream: {reason}; \
         set the output's sample_rate to the engine's rate"
    )]
    Resample { from: u32, to: u32, reason: String },
}

/// What an MP3 stream is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mp3Settings {
    /// The rate of the audio handed to [`Mp3Encoder::encode`].
    pub input_rate: u32,
    /// The rate of the MP3 stream.
    pub stream_rate: u32,
    /// kbit/s.
    pub bitrate: u32,
    pub mode: BitrateMode,
}

/// LAME's algorithm quality for every stream: its own default, as `lame`
/// on the command line uses (`-q 3`), so the stream and a file encoded by
/// hand sound the same, and the benchmark can compare like with like.
pub const LAME_QUALITY: Quality = Quality::VeryNice;

/// Frames the resampler takes at a time: 10 ms at 48 kHz, small enough that
/// the stream does not lag the programme.
const RESAMPLE_CHUNK: usize = 480;

/// Interleaved stereo f32 in, MP3 frames out.
pub struct Mp3Encoder {
    lame: mp3lame_encoder::Encoder,
    resampler: Option<StreamResampler>,
    resampled: Vec<f32>,
}

impl Mp3Encoder {
    pub fn new(settings: Mp3Settings) -> Result<Self, EncoderError> {
        let refused = |reason: String| EncoderError::Settings {
            rate: settings.stream_rate,
            bitrate: settings.bitrate,
            reason,
        };
        let mut builder =
            Builder::new().ok_or_else(|| refused("LAME could not allocate".to_string()))?;
        builder
            .set_num_channels(CHANNELS as u8)
            .map_err(|e| refused(e.to_string()))?;
        builder
            .set_sample_rate(settings.stream_rate)
            .map_err(|e| refused(e.to_string()))?;
        builder
            .set_brate(
                bitrate(settings.bitrate).ok_or_else(|| refused("not an MP3 bitrate".into()))?,
            )
            .map_err(|e| refused(e.to_string()))?;
        builder
            .set_quality(LAME_QUALITY)
            .map_err(|e| refused(e.to_string()))?;
        // A stream is never rewound to patch a Xing header in.
        builder
            .set_to_write_vbr_tag(false)
            .map_err(|e| refused(e.to_string()))?;
        match settings.mode {
            BitrateMode::Cbr => builder.set_vbr_mode(VbrMode::Off),
            BitrateMode::Vbr => {
                builder
                    .set_vbr_quality(vbr_quality(settings.bitrate))
                    .map_err(|e| refused(e.to_string()))?;
                builder.set_vbr_mode(VbrMode::Mtrh)
            }
        }
        .map_err(|e| refused(e.to_string()))?;
        let lame = builder.build().map_err(|e| refused(e.to_string()))?;
        let resampler = if settings.input_rate == settings.stream_rate {
            None
        } else {
            Some(
                StreamResampler::new(settings.input_rate, settings.stream_rate).map_err(
                    |reason| EncoderError::Resample {
                        from: settings.input_rate,
                        to: settings.stream_rate,
                        reason,
                    },
                )?,
            )
        };
        let resampled = Vec::with_capacity(
            resampler
                .as_ref()
                .map_or(0, |r| 2 * r.most_frames_out() * CHANNELS),
        );
        Ok(Mp3Encoder {
            lame,
            resampler,
            resampled,
        })
    }

    /// Encodes interleaved stereo samples and appends whatever MP3 frames
    /// are complete to `out`.
    pub fn encode(&mut self, samples: &[f32], out: &mut Vec<u8>) -> Result<(), EncoderError> {
        let Some(resampler) = &mut self.resampler else {
            return encode_pcm(&mut self.lame, samples, out);
        };
        // A resampler's piece at a time, so that its buffers never outgrow
        // what they were made with, however much one write brings.
        for piece in samples.chunks(RESAMPLE_CHUNK * CHANNELS) {
            self.resampled.clear();
            resampler
                .push(piece, &mut self.resampled)
                .map_err(EncoderError::Encode)?;
            encode_pcm(&mut self.lame, &self.resampled, out)?;
        }
        Ok(())
    }

    /// Ends the stream: the last frames LAME holds.
    pub fn flush(&mut self, out: &mut Vec<u8>) -> Result<(), EncoderError> {
        out.reserve(7200);
        self.lame
            .flush_to_vec::<FlushNoGap>(out)
            .map_err(|e| EncoderError::Encode(e.to_string()))?;
        Ok(())
    }
}

fn encode_pcm(
    lame: &mut mp3lame_encoder::Encoder,
    pcm: &[f32],
    out: &mut Vec<u8>,
) -> Result<(), EncoderError> {
    if pcm.is_empty() {
        return Ok(());
    }
    // LAME writes through the Vec's pointer up to its worst case, not up to
    // the spare capacity it is given: room must be there first.
    out.reserve(mp3lame_encoder::max_required_buffer_size(
        pcm.len() / CHANNELS,
    ));
    lame.encode_to_vec(InterleavedPcm(pcm), out)
        .map_err(|e| EncoderError::Encode(e.to_string()))?;
    Ok(())
}

fn bitrate(kbps: u32) -> Option<Bitrate> {
    Some(match kbps {
        8 => Bitrate::Kbps8,
        16 => Bitrate::Kbps16,
        24 => Bitrate::Kbps24,
        32 => Bitrate::Kbps32,
        40 => Bitrate::Kbps40,
        48 => Bitrate::Kbps48,
        64 => Bitrate::Kbps64,
        80 => Bitrate::Kbps80,
        96 => Bitrate::Kbps96,
        112 => Bitrate::Kbps112,
        128 => Bitrate::Kbps128,
        160 => Bitrate::Kbps160,
        192 => Bitrate::Kbps192,
        224 => Bitrate::Kbps224,
        256 => Bitrate::Kbps256,
        320 => Bitrate::Kbps320,
        _ => return None,
    })
}

/// LAME's VBR scale (0 best, 9 smallest) for a wanted average bitrate, as
/// LAME's own presets pair them (V2 ≈ 190, V4 ≈ 165, V6 ≈ 115 kbit/s…).
fn vbr_quality(kbps: u32) -> Quality {
    match kbps {
        256.. => Quality::Best,
        224.. => Quality::SecondBest,
        192.. => Quality::NearBest,
        160.. => Quality::Nice,
        128.. => Quality::Good,
        112.. => Quality::Decent,
        96.. => Quality::Ok,
        80.. => Quality::SecondWorst,
        _ => Quality::Worst,
    }
}

/// Engine rate → stream rate, chunk by chunk. A live stream has no end to
/// line up with, so the resampler's start-up delay is simply part of the
/// stream's latency.
struct StreamResampler {
    fft: Fft<f32>,
    input: Vec<Vec<f32>>,
    output: Vec<Vec<f32>>,
}

impl StreamResampler {
    fn new(from: u32, to: u32) -> Result<Self, String> {
        let fft = Fft::<f32>::new(
            from as usize,
            to as usize,
            RESAMPLE_CHUNK,
            CHANNELS,
            FixedSync::Input,
        )
        .map_err(|e| e.to_string())?;
        let output = vec![vec![0.0; fft.output_frames_max()]; CHANNELS];
        Ok(StreamResampler {
            fft,
            input: (0..CHANNELS)
                .map(|_| Vec::with_capacity(RESAMPLE_CHUNK * 2))
                .collect(),
            output,
        })
    }

    /// The most frames one pass of the resampler makes.
    fn most_frames_out(&self) -> usize {
        self.output[0].len()
    }

    fn push(&mut self, samples: &[f32], out: &mut Vec<f32>) -> Result<(), String> {
        for frame in samples.chunks_exact(CHANNELS) {
            self.input[0].push(frame[0]);
            self.input[1].push(frame[1]);
        }
        while self.input[0].len() >= self.fft.input_frames_next() {
            let frames = self.input[0].len();
            let input = SequentialSliceOfVecs::new(&self.input, CHANNELS, frames)
                .map_err(|e| e.to_string())?;
            let capacity = self.output[0].len();
            let mut output = SequentialSliceOfVecs::new_mut(&mut self.output, CHANNELS, capacity)
                .map_err(|e| e.to_string())?;
            let (used, made) = self
                .fft
                .process_into_buffer(&input, &mut output, None)
                .map_err(|e| e.to_string())?;
            for plane in &mut self.input {
                plane.drain(..used.min(frames));
            }
            out.reserve(made * CHANNELS);
            for i in 0..made {
                out.push(self.output[0][i]);
                out.push(self.output[1][i]);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f32, seconds: f32) -> Vec<f32> {
        let frames = (rate as f32 * seconds) as usize;
        (0..frames)
            .flat_map(|n| {
                let x = (n as f32 * 2.0 * std::f32::consts::PI * hz / rate as f32).sin() * 0.5;
                [x, x]
            })
            .collect()
    }

    /// Decodes MP3 bytes with ffmpeg (an independent decoder) to mono f32.
    fn decode(mp3: &[u8], rate: u32) -> Vec<f32> {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut child = Command::new("ffmpeg")
            .args([
                "-v", "error", "-f", "mp3", "-i", "pipe:0", "-ac", "1", "-ar",
            ])
            .arg(rate.to_string())
            .args(["-f", "f32le", "pipe:1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = mp3.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(output.status.success());
        output
            .stdout
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    /// Power of `hz` in `samples`, relative to the signal's total power.
    fn share_at(samples: &[f32], rate: u32, hz: f32) -> f32 {
        let w = 2.0 * std::f32::consts::PI * hz / rate as f32;
        let (mut re, mut im, mut total) = (0.0f64, 0.0f64, 0.0f64);
        for (n, &x) in samples.iter().enumerate() {
            re += (x * (w * n as f32).cos()) as f64;
            im += (x * (w * n as f32).sin()) as f64;
            total += (x * x) as f64;
        }
        let tone = (re * re + im * im) * 2.0 / samples.len() as f64;
        (tone / total.max(1e-12)) as f32
    }

    fn encode_all(settings: Mp3Settings, pcm: &[f32]) -> Vec<u8> {
        let mut encoder = Mp3Encoder::new(settings).unwrap();
        let mut out = Vec::new();
        // In the mixer's 10 ms blocks, as the output receives them.
        let block = settings.input_rate as usize / 100 * CHANNELS;
        for chunk in pcm.chunks(block) {
            encoder.encode(chunk, &mut out).unwrap();
        }
        encoder.flush(&mut out).unwrap();
        out
    }

    #[test]
    fn a_tone_comes_back_from_an_independent_decoder_at_its_bitrate() {
        let settings = Mp3Settings {
            input_rate: 48_000,
            stream_rate: 48_000,
            bitrate: 128,
            mode: BitrateMode::Cbr,
        };
        let mp3 = encode_all(settings, &tone(48_000, 1000.0, 4.0));
        // 4 s at 128 kbit/s is 64 000 bytes, give or take a frame or two.
        assert!((60_000..70_000).contains(&mp3.len()), "{} bytes", mp3.len());
        let decoded = decode(&mp3, 48_000);
        assert!(
            decoded.len() >= 48_000 * 39 / 10,
            "{} samples",
            decoded.len()
        );
        let middle = &decoded[48_000..48_000 * 3];
        assert!(share_at(middle, 48_000, 1000.0) > 0.9);
        assert!(share_at(middle, 48_000, 1500.0) < 0.01);
    }

    #[test]
    fn a_stream_at_44100_is_resampled_and_keeps_its_pitch() {
        let settings = Mp3Settings {
            input_rate: 48_000,
            stream_rate: 44_100,
            bitrate: 128,
            mode: BitrateMode::Vbr,
        };
        let mp3 = encode_all(settings, &tone(48_000, 700.0, 4.0));
        // The MP3 frame header says 44.1 kHz (MPEG-1, rate index 0).
        let header = mp3
            .windows(4)
            .find(|w| w[0] == 0xFF && w[1] & 0xE0 == 0xE0)
            .unwrap();
        assert_eq!((header[2] >> 2) & 0x03, 0, "sample rate index");
        let decoded = decode(&mp3, 44_100);
        assert!(decoded.len() >= 44_100 * 3, "{} samples", decoded.len());
        let middle = &decoded[44_100..44_100 * 3];
        // A wrong resampling ratio would move the tone (700 Hz would read
        // as 762 Hz if 48 kHz audio were labelled 44.1 kHz).
        assert!(share_at(middle, 44_100, 700.0) > 0.9);
        assert!(share_at(middle, 44_100, 762.0) < 0.05);
    }

    #[test]
    fn bitrates_outside_mp3_are_refused_with_the_fix() {
        // Bad input: 100 kbit/s is not an MP3 bitrate.
        let error = Mp3Encoder::new(Mp3Settings {
            input_rate: 48_000,
            stream_rate: 48_000,
            bitrate: 100,
            mode: BitrateMode::Cbr,
        })
        .err()
        .unwrap()
        .to_string();
        assert!(error.contains("100 kbit/s"), "{error}");
        assert!(error.contains("choose another bitrate"), "{error}");
    }
}
