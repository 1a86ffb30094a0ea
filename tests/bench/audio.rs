//! The benchmark's programme: generated audio that makes encoders and
//! decoders work as music does, encoded by ffmpeg to the files the box airs.

use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use super::{BenchError, EMERGENCY_SECONDS, FILE_RATE};

/// Programme-like test audio: a chord pad that changes every few seconds, a
/// bass line, a melody of short notes with their own envelopes, and a bed of
/// soft noise, with the parts panned apart. Encoders have to work on it as on
/// music (a pure tone would flatter both decoders).
pub struct ProgrammeAudio {
    rng: SmallRng,
    frame: u64,
    pad_phases: [f32; 3],
    bass_phase: f32,
    melody_phase: f32,
    melody_freq: f32,
    note_left: u64,
    note_len: u64,
    noise: [f32; 2],
    chord: usize,
}

/// A pentatonic scale from A3, in Hz.
const SCALE: [f32; 8] = [220.0, 246.94, 277.18, 329.63, 369.99, 440.0, 493.88, 554.37];
/// Chord roots, cycled every few seconds.
const CHORDS: [f32; 4] = [110.0, 146.83, 130.81, 164.81];
const CHORD_FRAMES: u64 = FILE_RATE as u64 * 4;

impl ProgrammeAudio {
    pub fn new(seed: u64) -> Self {
        ProgrammeAudio {
            rng: SmallRng::seed_from_u64(seed),
            frame: 0,
            pad_phases: [0.0; 3],
            bass_phase: 0.0,
            melody_phase: 0.0,
            melody_freq: SCALE[0],
            note_left: 0,
            note_len: 1,
            noise: [0.0; 2],
            chord: 0,
        }
    }

    /// The next stereo frame at 44.1 kHz, within ±1.
    pub fn next_frame(&mut self) -> [f32; 2] {
        use std::f32::consts::TAU;
        let rate = FILE_RATE as f32;
        let step = |phase: &mut f32, freq: f32| {
            *phase = (*phase + TAU * freq / rate) % TAU;
            phase.sin()
        };

        if self.frame.is_multiple_of(CHORD_FRAMES) {
            self.chord = self.rng.random_range(0..CHORDS.len());
        }
        let root = CHORDS[self.chord];
        let t = self.frame as f32 / rate;
        // A slow swell, so the level is never constant for long.
        let swell = 0.75 + 0.25 * (TAU * 0.07 * t).sin();
        let mut pad = 0.0;
        for (phase, ratio) in self.pad_phases.iter_mut().zip([2.0, 2.5, 3.0]) {
            pad += step(phase, root * ratio);
        }
        let pad = pad * 0.06 * swell;
        let bass = step(&mut self.bass_phase, root) * 0.12;

        if self.note_left == 0 {
            self.melody_freq = SCALE[self.rng.random_range(0..SCALE.len())];
            self.note_len = FILE_RATE as u64 * self.rng.random_range(12..40) / 64;
            self.note_left = self.note_len;
        }
        let into_note = (self.note_len - self.note_left) as f32 / self.note_len as f32;
        self.note_left -= 1;
        let envelope = (into_note * 25.0).min(1.0) * (1.0 - into_note).powi(2);
        let fundamental = step(&mut self.melody_phase, self.melody_freq);
        // Two overtones from the same phase give the melody a timbre.
        let melody = (fundamental
            + 0.4 * (2.0 * self.melody_phase).sin()
            + 0.2 * (3.0 * self.melody_phase).sin())
            * 0.18
            * envelope;

        // Noise with a gentle low-pass: a room, tape hiss, breath.
        for n in &mut self.noise {
            let white: f32 = self.rng.random::<f32>() * 2.0 - 1.0;
            *n = 0.7 * *n + 0.3 * white;
        }
        self.frame += 1;
        [
            pad + bass + melody * 0.8 + self.noise[0] * 0.03,
            pad * 0.9 + bass + melody * 0.5 + self.noise[1] * 0.03,
        ]
    }
}

/// The generated files of one benchmark.
#[derive(Debug, Clone)]
pub struct ProgrammeFiles {
    pub mp3: PathBuf,
    pub flac: PathBuf,
    /// A short WAV for the generated station's emergency source.
    pub emergency: PathBuf,
}

/// Generates `frames` frames of programme audio and has one ffmpeg encode
/// them to MP3 (LAME, 128 kb/s CBR), FLAC and a short WAV.
pub fn encode_programmes(
    ffmpeg: &Path,
    dir: &Path,
    frames: u64,
) -> Result<ProgrammeFiles, BenchError> {
    let files = ProgrammeFiles {
        mp3: dir.join("programme.mp3"),
        flac: dir.join("programme.flac"),
        emergency: dir.join("emergency.wav"),
    };
    let rate = FILE_RATE.to_string();
    let mut child = spawn_ffmpeg(
        ffmpeg,
        Process::new(ffmpeg)
            .args(["-hide_banner", "-v", "error", "-y"])
            .args(["-f", "s16le", "-ar", &rate, "-ac", "2", "-i", "pipe:0"])
            .args(["-map", "0:a", "-c:a", "libmp3lame", "-b:a", "128k"])
            .arg(&files.mp3)
            .args(["-map", "0:a", "-c:a", "flac"])
            .arg(&files.flac)
            .args(["-map", "0:a", "-c:a", "pcm_s16le", "-t"])
            .arg(EMERGENCY_SECONDS.to_string())
            .arg(&files.emergency)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    )?;
    // Read ffmpeg's complaints while feeding it, so a chatty failure cannot
    // fill the pipe and stall both sides.
    let stderr = child.stderr.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    });
    let fed = match child.stdin.take() {
        Some(stdin) => feed_programme(BufWriter::with_capacity(1 << 16, stdin), frames),
        None => Ok(()),
    };
    let status = child.wait().map_err(|e| BenchError::Ffmpeg {
        doing: "encoding the programme audio".into(),
        message: e.to_string(),
    })?;
    let complaints = stderr
        .and_then(|thread| thread.join().ok())
        .unwrap_or_default();
    if !status.success() || fed.is_err() {
        let message = match (complaints.trim(), fed) {
            ("", Err(e)) => format!("it stopped reading the audio ({e}), {status}"),
            ("", Ok(())) => status.to_string(),
            (text, _) => text.to_string(),
        };
        return Err(BenchError::Ffmpeg {
            doing: "encoding the programme audio".into(),
            message,
        });
    }
    Ok(files)
}

fn feed_programme(mut out: impl Write, frames: u64) -> io::Result<()> {
    let mut audio = ProgrammeAudio::new(0x006f_6e61_6972);
    let mut block = Vec::with_capacity(4096 * 4);
    let mut left = frames;
    while left > 0 {
        block.clear();
        for _ in 0..left.min(4096) {
            for x in audio.next_frame() {
                let sample = (x.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16;
                block.extend_from_slice(&sample.to_le_bytes());
            }
        }
        out.write_all(&block)?;
        left -= left.min(4096);
    }
    out.flush()
}

pub fn spawn_ffmpeg(ffmpeg: &Path, command: &mut Process) -> Result<Child, BenchError> {
    command.spawn().map_err(|source| BenchError::NoFfmpeg {
        program: ffmpeg.display().to_string(),
        source,
    })
}
