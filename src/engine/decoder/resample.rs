//! Fixed-ratio conversion of stereo programme audio from the file's rate to
//! the engine's (44.1 kHz → 48 kHz above all), on the decoder thread.
//!
//! The conversion runs in the frequency domain, one block at a time
//! (overlap-save): a block of input is transformed, multiplied by a
//! low-pass filter, its spectrum is cut or zero-extended to the output
//! length and transformed back, which band-limits and re-times the audio in
//! one step. The two channels ride in one complex transform (left as the
//! real part, right as the imaginary part): the filter is real, so they never
//! mix. Compared with a general-purpose resampler that transforms each
//! channel apart and half-empty blocks, this does the same work with about a
//! third of the arithmetic, which the box needs to stay within its CPU budget.
//!
//! The output is aligned with the input frame for frame: the filter's delay
//! is taken out by starting the first block half a filter early, so frame 0
//! out is frame 0 in, and a seek into a file lands where it should.

use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use super::rescale;

/// Filter length (input-rate taps) below which the filter is never made:
/// for 44.1 kHz → 48 kHz it gives a transition band of under 1 kHz, so the
/// passband reaches past 21 kHz while everything from 22.05 kHz up (where
/// images and aliases would come from) is held 100 dB down.
const MIN_FILTER_SPAN: usize = 294;

/// Stopband attenuation of the filter, dB: far below the noise of 16-bit
/// programme audio, so no image or alias can ever be heard.
const STOPBAND_DB: f64 = 100.0;

/// A block is this many filter spans long; one span of it is overlap
/// (history the filter needs), the rest is new audio. For 44.1 kHz → 48 kHz
/// that is 2352 frames in (2058 of them new) and 2560 out per pair of
/// transforms, which measured cheapest per frame: longer transforms cost
/// more per point, shorter blocks spend more of each one on the overlap.
const BLOCK_SPANS: usize = 8;

/// Longest transform the converter will set up. Rates with a large common
/// ratio (44.1 kHz ↔ 48 kHz is 147:160) stay far below it; a file at an
/// odd rate such as 44 057 Hz would need megabytes of tables, and is refused.
const MAX_TRANSFORM: usize = 1 << 17;

const ZERO: Complex<f32> = Complex::new(0.0, 0.0);

/// Converts stereo, as separate left and right slices at one rate, into
/// interleaved stereo at another.
pub(super) struct Resampler {
    from: u32,
    to: u32,
    forward: Arc<dyn Fft<f32>>,
    inverse: Arc<dyn Fft<f32>>,
    /// The filter's spectrum at the input block length, scaled for the
    /// inverse transform.
    filter: Vec<Complex<f32>>,
    /// Input being gathered: left + i·right per frame.
    block: Vec<Complex<f32>>,
    filled: usize,
    /// Frames at the end of a block kept as the start of the next one.
    overlap: usize,
    spectrum_in: Vec<Complex<f32>>,
    spectrum_out: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    /// Output frames of each block that the overlap has spoiled.
    spoiled: usize,
    frames_in: u64,
    frames_out: u64,
    /// Once the input has ended: the output frames owed in all.
    limit: Option<u64>,
}

impl Resampler {
    pub(super) fn new(from: u32, to: u32) -> Result<Self, String> {
        if from == 0 || to == 0 {
            return Err("a sample rate of 0 Hz".into());
        }
        let common = gcd(from, to);
        let (p, q) = ((from / common) as usize, (to / common) as usize);
        // The filter spans a whole number of (p input, q output) frame
        // steps, twice over, so its delay is a whole number of frames on
        // both sides and can be taken out exactly.
        let steps = MIN_FILTER_SPAN.div_ceil(2 * p);
        let span = 2 * p * steps;
        let (len_in, len_out) = (BLOCK_SPANS * span, BLOCK_SPANS * 2 * q * steps);
        if len_in.max(len_out) > MAX_TRANSFORM {
            return Err(format!(
                "the two rates have no usable common step ({p}:{q}); re-encode the file at \
                 44100 or 48000 Hz"
            ));
        }
        let taps = kaiser_low_pass(span + 1, cutoff(from, to, span), kaiser_beta(STOPBAND_DB));

        // The filter's spectrum, worked out in f64 once, with the inverse
        // transform's 1/len_in folded in.
        let mut spectrum: Vec<Complex<f64>> = (0..len_in)
            .map(|i| Complex::new(taps.get(i).map_or(0.0, |t| t / len_in as f64), 0.0))
            .collect();
        FftPlanner::<f64>::new()
            .plan_fft_forward(len_in)
            .process(&mut spectrum);
        let filter = spectrum
            .iter()
            .map(|c| Complex::new(c.re as f32, c.im as f32))
            .collect();

        let mut planner = FftPlanner::<f32>::new();
        let forward = planner.plan_fft_forward(len_in);
        let inverse = planner.plan_fft_inverse(len_out);
        let scratch = forward
            .get_inplace_scratch_len()
            .max(inverse.get_inplace_scratch_len());
        Ok(Resampler {
            from,
            to,
            forward,
            inverse,
            filter,
            block: vec![ZERO; len_in],
            // Half a filter of silence before the first frame: the filter's
            // centre then sits on input frame 0 for output frame 0.
            filled: span / 2,
            overlap: span,
            spectrum_in: vec![ZERO; len_in],
            spectrum_out: vec![ZERO; len_out],
            scratch: vec![ZERO; scratch],
            spoiled: 2 * q * steps,
            frames_in: 0,
            frames_out: 0,
            limit: None,
        })
    }

    /// Takes `left.len()` frames (`right` is as long) and appends what is
    /// ready to `out` as interleaved stereo.
    pub(super) fn push(&mut self, left: &[f32], right: &[f32], out: &mut Vec<f32>) {
        let frames = left.len().min(right.len());
        self.frames_in += frames as u64;
        let mut taken = 0;
        while taken < frames {
            let n = (self.block.len() - self.filled).min(frames - taken);
            let dest = &mut self.block[self.filled..self.filled + n];
            for ((frame, l), r) in dest
                .iter_mut()
                .zip(&left[taken..taken + n])
                .zip(&right[taken..taken + n])
            {
                *frame = Complex::new(*l, *r);
            }
            self.filled += n;
            taken += n;
            if self.filled == self.block.len() {
                self.convert_block(out);
            }
        }
    }

    /// The input has ended: appends the rest, so that the output holds
    /// exactly the input's length at the new rate. Later calls add nothing.
    pub(super) fn finish(&mut self, out: &mut Vec<f32>) {
        if self.limit.is_some() {
            return;
        }
        let owed = rescale(self.frames_in, self.from, self.to);
        self.limit = Some(owed);
        while self.frames_out < owed {
            self.block[self.filled..].fill(ZERO);
            self.convert_block(out);
        }
    }

    fn convert_block(&mut self, out: &mut Vec<f32>) {
        let (len_in, len_out) = (self.block.len(), self.spectrum_out.len());
        self.spectrum_in.copy_from_slice(&self.block);
        self.forward
            .process_with_scratch(&mut self.spectrum_in, &mut self.scratch);

        // Positive frequencies to the front, negative ones to the back, and
        // silence between: zero-extension up-samples, truncation
        // down-samples. The bin at the shorter block's Nyquist frequency is
        // dropped; the filter has already taken it 100 dB down.
        let half = len_in.min(len_out) / 2;
        let (spectrum, filter) = (&self.spectrum_in, &self.filter);
        for (o, (x, h)) in self.spectrum_out[..half]
            .iter_mut()
            .zip(spectrum.iter().zip(filter))
        {
            *o = x * h;
        }
        self.spectrum_out[half..=len_out - half].fill(ZERO);
        for (o, (x, h)) in self.spectrum_out[len_out - half + 1..].iter_mut().zip(
            spectrum[len_in - half + 1..]
                .iter()
                .zip(&filter[len_in - half + 1..]),
        ) {
            *o = x * h;
        }
        self.inverse
            .process_with_scratch(&mut self.spectrum_out, &mut self.scratch);

        let mut ready = &self.spectrum_out[self.spoiled..];
        if let Some(limit) = self.limit {
            let owed = usize::try_from(limit.saturating_sub(self.frames_out)).unwrap_or(usize::MAX);
            ready = &ready[..ready.len().min(owed)];
        }
        // Left rides as the real part, right as the imaginary part.
        out.extend(ready.iter().flat_map(|c| [c.re, c.im]));
        self.frames_out += ready.len() as u64;

        self.block.copy_within(len_in - self.overlap.., 0);
        self.filled = self.overlap;
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The −6 dB point, in cycles per input frame: half a transition band
/// below the lower of the two Nyquist frequencies, so the stopband starts
/// right at it.
fn cutoff(from: u32, to: u32, span: usize) -> f64 {
    // Kaiser's estimate of the transition width a filter of `span + 1` taps
    // achieves at the chosen attenuation.
    let transition = (STOPBAND_DB - 7.95) / (14.36 * span as f64);
    let nyquist = f64::from(from.min(to)) / 2.0 / f64::from(from);
    nyquist - transition / 2.0
}

fn kaiser_beta(attenuation_db: f64) -> f64 {
    0.1102 * (attenuation_db - 8.7)
}

/// A windowed-sinc low-pass of `taps` taps (odd), unity gain at DC.
fn kaiser_low_pass(taps: usize, cutoff: f64, beta: f64) -> Vec<f64> {
    let centre = (taps - 1) as f64 / 2.0;
    let mut filter: Vec<f64> = (0..taps)
        .map(|n| {
            let x = n as f64 - centre;
            let sinc = if x == 0.0 {
                2.0 * cutoff
            } else {
                (2.0 * std::f64::consts::PI * cutoff * x).sin() / (std::f64::consts::PI * x)
            };
            let r = x / centre;
            sinc * bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / bessel_i0(beta)
        })
        .collect();
    let sum: f64 = filter.iter().sum();
    for tap in &mut filter {
        *tap /= sum;
    }
    filter
}

/// The modified Bessel function of the first kind, order 0 (Kaiser window).
fn bessel_i0(x: f64) -> f64 {
    let half = x / 2.0;
    let (mut sum, mut term) = (1.0, 1.0);
    for k in 1..100 {
        term *= half / k as f64;
        sum += term * term;
        if term * term < sum * 1e-17 {
            break;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stereo sine (left) and cosine (right) at `freq`, amplitude 0.5.
    fn tone(freq: f64, rate: u32, frames: usize) -> (Vec<f32>, Vec<f32>) {
        let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
        let left = (0..frames).map(|i| (0.5 * (w * i as f64).sin()) as f32);
        let right = (0..frames).map(|i| (0.5 * (w * i as f64).cos()) as f32);
        (left.collect(), right.collect())
    }

    /// Runs `left`/`right` through in packets of `packet` frames.
    fn convert(from: u32, to: u32, left: &[f32], right: &[f32], packet: usize) -> Vec<f32> {
        let mut resampler = Resampler::new(from, to).unwrap();
        let mut out = Vec::new();
        for (l, r) in left.chunks(packet).zip(right.chunks(packet)) {
            resampler.push(l, r, &mut out);
        }
        resampler.finish(&mut out);
        resampler.finish(&mut out);
        out
    }

    /// The largest difference from the ideal tone at the output rate,
    /// away from the ends, in dB relative to the tone's amplitude.
    fn error_db(out: &[f32], freq: f64, rate: u32) -> f64 {
        let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
        let frames = out.len() / 2;
        let worst = (1000..frames - 1000)
            .map(|i| {
                let (l, r) = (0.5 * (w * i as f64).sin(), 0.5 * (w * i as f64).cos());
                (f64::from(out[2 * i]) - l)
                    .abs()
                    .max((f64::from(out[2 * i + 1]) - r).abs())
            })
            .fold(0.0, f64::max);
        20.0 * (worst / 0.5).log10()
    }

    #[test]
    fn a_tone_comes_out_as_the_same_tone_frame_for_frame() {
        // Any image, alias, delay or level error shows up as a difference
        // from the ideal tone at the output rate. Packet sizes are odd on
        // purpose so blocks and packets never line up.
        for (from, to) in [
            (44_100, 48_000),
            (48_000, 44_100),
            (22_050, 48_000),
            (96_000, 48_000),
        ] {
            // Up to 90 % of the lower Nyquist frequency: the passband.
            let top = 0.45 * f64::from(from.min(to));
            for freq in [50.0, 1000.0, 9000.0, 15_000.0, 19_500.0] {
                if freq > top {
                    continue;
                }
                let (l, r) = tone(freq, from, from as usize);
                let out = convert(from, to, &l, &r, 1151);
                assert_eq!(out.len(), 2 * to as usize, "{from} → {to}");
                let err = error_db(&out, freq, to);
                assert!(err < -90.0, "{from} → {to}, {freq} Hz: off by {err:.1} dB");
            }
        }
    }

    #[test]
    fn a_wrong_alignment_or_rate_is_caught_by_the_tone_check() {
        // The check above is not blind: the same tone one frame late, or
        // played at the input rate unconverted, is far off.
        let (l, r) = tone(1000.0, 44_100, 44_100);
        let mut late = vec![0.0, 0.0];
        late.extend(convert(44_100, 48_000, &l, &r, 1000));
        assert!(error_db(&late, 1000.0, 48_000) > -40.0);
        let unconverted: Vec<f32> = l.iter().zip(&r).flat_map(|(l, r)| [*l, *r]).collect();
        assert!(error_db(&unconverted, 1000.0, 48_000) > -10.0);
    }

    #[test]
    fn sound_above_the_new_nyquist_frequency_is_removed_not_folded_down() {
        // 23 kHz at 48 kHz cannot exist at 44.1 kHz; passed through it
        // would fold down to 21.1 kHz.
        let (l, r) = tone(23_000.0, 48_000, 48_000);
        let out = convert(48_000, 44_100, &l, &r, 960);
        let level = out[2000..out.len() - 2000]
            .iter()
            .fold(0.0f32, |m, s| m.max(s.abs()));
        let db = 20.0 * (f64::from(level) / 0.5).log10();
        assert!(db < -90.0, "23 kHz came through at {db:.1} dB");
    }

    #[test]
    fn the_first_frames_and_the_length_are_exact() {
        // A step from silence: nothing before frame 0 and the level there at
        // once (within the filter's ringing), and every frame accounted for
        // however the input was cut up.
        let frames = 10_007;
        let ones = vec![0.5f32; frames];
        for packet in [1, 577, 4096, 20_000] {
            let out = convert(44_100, 48_000, &ones, &ones, packet);
            assert_eq!(
                out.len() / 2,
                rescale(frames as u64, 44_100, 48_000) as usize
            );
            let middle = &out[2 * 1000..2 * 9000];
            assert!(middle.iter().all(|s| (s - 0.5).abs() < 1e-4), "{packet}");
        }
        // An empty input gives an empty output.
        assert!(convert(44_100, 48_000, &[], &[], 1).is_empty());
    }

    #[test]
    fn rates_without_a_usable_common_step_are_refused() {
        // 44 057 Hz is prime against 48 kHz: the transform would be
        // 16 × 44 057 points long.
        let err = Resampler::new(44_057, 48_000).err().expect("refused");
        assert!(err.contains("re-encode"), "{err}");
        assert!(Resampler::new(0, 48_000).is_err());
        assert!(Resampler::new(8_000, 48_000).is_ok());
    }
}
