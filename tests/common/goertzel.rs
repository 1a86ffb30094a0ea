//! Tells which test tone is on air, 10 ms at a time, with Goertzel filters at
//! the candidate frequencies, then places every change to within a few
//! milliseconds by sliding one filter across it sample by sample.

use std::f64::consts::TAU;

use chrono::{DateTime, Utc};

use super::bwf::time_at;

/// Below this RMS level a window is silence. Test tones sit near −9 dBFS;
/// the last milliseconds of a fade drop below this.
pub const SILENCE_DB: f64 = -50.0;

/// A window is a tone when the strongest candidate carries at least this
/// share of the window's power; otherwise it is Unknown (noise, a mix of two
/// tones, a tone that is not a candidate).
const TONE_SHARE: f64 = 0.5;

/// Unknown stretches this short between two different sounds are just the
/// windows that straddle the change; longer ones are reported.
const MAX_STRADDLE_WINDOWS: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum What {
    Tone(u32),
    Silence,
    /// Sound that is none of the candidate tones.
    Unknown,
    /// No output file covers this stretch (the box was not running).
    NotRecorded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub what: What,
}

impl Run {
    pub fn duration(&self) -> chrono::TimeDelta {
        self.end - self.start
    }

    pub fn covers(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }
}

/// Samples per analysis window: 10 ms.
pub fn window_len(rate: u32) -> usize {
    (rate as usize / 100).max(16)
}

pub fn rms_db(samples: &[f32]) -> f64 {
    if samples.is_empty() {
        return f64::NEG_INFINITY;
    }
    let power = samples
        .iter()
        .map(|&s| (s as f64) * (s as f64))
        .sum::<f64>()
        / samples.len() as f64;
    10.0 * power.log10()
}

/// |X(f)|² of the (optionally weighted) samples.
fn goertzel_power(samples: &[f32], weights: Option<&[f64]>, freq: f64, rate: u32) -> f64 {
    let coeff = 2.0 * (TAU * freq / rate as f64).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for (i, &x) in samples.iter().enumerate() {
        let x = x as f64 * weights.map_or(1.0, |w| w[i]);
        let s = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0)
}

/// Peak amplitude of the `freq` component of `samples` (rectangular window:
/// it grows linearly as a tone enters the window, which edge placement uses).
pub fn amplitude(samples: &[f32], freq: u32, rate: u32) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    2.0 * goertzel_power(samples, None, freq as f64, rate).sqrt() / samples.len() as f64
}

/// Classifies one window. `hann` has the window's length.
pub fn classify(samples: &[f32], rate: u32, candidates: &[u32], hann: &[f64]) -> What {
    if rms_db(samples) < SILENCE_DB {
        return What::Silence;
    }
    let sum_w: f64 = hann.iter().sum();
    let sum_w2: f64 = hann.iter().map(|w| w * w).sum();
    let power = samples
        .iter()
        .zip(hann)
        .map(|(&x, w)| (x as f64 * w).powi(2))
        .sum::<f64>()
        / sum_w2;
    let best = candidates
        .iter()
        .map(|&f| {
            (
                f,
                2.0 * goertzel_power(samples, Some(hann), f as f64, rate) / (sum_w * sum_w),
            )
        })
        .max_by(|a, b| a.1.total_cmp(&b.1));
    // Sound only where the window's weight is zero (a tone that ended on
    // the window's first sample) leaves nothing to compare: every share is
    // 0 of 0, which is no tone, not the last candidate.
    match best {
        Some((freq, tone)) if power > 0.0 && tone >= TONE_SHARE * power => What::Tone(freq),
        _ => What::Unknown,
    }
}

/// Runs of what is heard in `samples` (mono, sample 0 at `anchor`). A
/// trailing part shorter than one window is left out.
pub fn runs_of(samples: &[f32], rate: u32, anchor: DateTime<Utc>, candidates: &[u32]) -> Vec<Run> {
    let n = window_len(rate);
    let windows = samples.len() / n;
    if windows == 0 {
        return Vec::new();
    }
    let hann: Vec<f64> = (0..n)
        .map(|i| 0.5 - 0.5 * (TAU * i as f64 / n as f64).cos())
        .collect();
    let classes: Vec<What> = (0..windows)
        .map(|w| classify(&samples[w * n..(w + 1) * n], rate, candidates, &hann))
        .collect();

    // (what, first window, end window)
    let mut coarse: Vec<(What, usize, usize)> = Vec::new();
    for (w, &what) in classes.iter().enumerate() {
        match coarse.last_mut() {
            Some(last) if last.0 == what => last.2 = w + 1,
            _ => coarse.push((what, w, w + 1)),
        }
    }
    let mut kept: Vec<(What, usize, usize)> = Vec::new();
    for (i, &run) in coarse.iter().enumerate() {
        let straddle = run.0 == What::Unknown
            && run.2 - run.1 <= MAX_STRADDLE_WINDOWS
            && i > 0
            && i + 1 < coarse.len()
            && coarse[i - 1].0 != What::Unknown
            && coarse[i + 1].0 != What::Unknown
            && coarse[i - 1].0 != coarse[i + 1].0;
        if !straddle {
            kept.push(run);
        }
    }

    let mut starts = vec![0usize];
    for pair in kept.windows(2) {
        let previous = starts.last().copied().unwrap_or(0);
        starts.push(boundary(samples, rate, pair[0], pair[1]).max(previous));
    }
    let end = windows * n;
    kept.iter()
        .enumerate()
        .map(|(i, &(what, _, _))| {
            let from = starts[i];
            let to = starts.get(i + 1).copied().unwrap_or(end);
            Run {
                start: time_at(anchor, rate, from),
                end: time_at(anchor, rate, to.max(from)),
                what,
            }
        })
        .collect()
}

/// The sample where `a` gives way to `b`: where the entering tone reaches
/// half its settled amplitude, or else where the leaving tone falls to half
/// of its level just before it went.
fn boundary(samples: &[f32], rate: u32, a: (What, usize, usize), b: (What, usize, usize)) -> usize {
    let n = window_len(rate);
    let half = n / 2;
    let coarse = (a.2 * n + b.1 * n) / 2;
    let lo = (a.2.saturating_sub(1) * n).max(half);
    let hi = ((b.1 + 1) * n).min(samples.len().saturating_sub(half));
    if lo > hi {
        return coarse;
    }
    let amp_at = |c: usize, f: u32| amplitude(&samples[c - half..c + half], f, rate);
    let median = |f: u32, windows: std::ops::Range<usize>| {
        let mut levels: Vec<f64> = windows
            .map(|w| amplitude(&samples[w * n..(w + 1) * n], f, rate))
            .collect();
        levels.sort_by(f64::total_cmp);
        levels.get(levels.len() / 2).copied().unwrap_or(0.0)
    };
    match (a.0, b.0) {
        (_, What::Tone(f)) => {
            let settled = if b.2 - b.1 > 1 {
                b.1 + 1..(b.1 + 6).min(b.2)
            } else {
                b.1..b.2
            };
            let reference = median(f, settled);
            (lo..=hi)
                .find(|&c| amp_at(c, f) >= reference / 2.0)
                .unwrap_or(coarse)
        }
        (What::Tone(f), _) => {
            let before = if a.2 - a.1 > 1 {
                a.2.saturating_sub(6).max(a.1)..a.2 - 1
            } else {
                a.1..a.2
            };
            let reference = median(f, before);
            (lo..=hi)
                .rev()
                .find(|&c| amp_at(c, f) >= reference / 2.0)
                .map_or(coarse, |c| c + 1)
        }
        _ => coarse,
    }
}
