//! The live fader: the studio's input mixed over automation. LIVE moves the
//! fader to the studio over the fade, AUTO moves it back at an exact sample
//! (when the programme due then has been cued to start), with equal-power
//! curves so the level does not dip in the middle of the crossfade.
//!
//! Every block the input is read from its ring whether or not it is on air
//! (so it is metered and watched for silence before a takeover), one frame
//! more or less than the block when the ring drifts from its level, then
//! stretched to the block (see `engine::live`). Nothing here blocks or
//! allocates: the buffers are sized at start.

use std::sync::atomic::Ordering;

use super::super::live::LiveFeed;
use super::super::silence::SilenceWatch;
use crate::output::CHANNELS;

pub(super) struct LiveBus {
    feed: LiveFeed,
    /// 0: automation, 1: the studio.
    fader: f32,
    target: f32,
    /// Fader travel per frame.
    step: f32,
    /// The sample at which the fader starts back to automation, and its travel per frame.
    back: Option<(u64, f32)>,
    /// Frames read from the ring (a block, give or take one).
    read: Vec<f32>,
    /// The input stretched to the block.
    block: Vec<f32>,
    /// The ring's level, smoothed over blocks.
    level: f64,
    /// The level kept: the mixer's burst plus a few capture periods.
    keep: usize,
    watch: SilenceWatch,
}

impl LiveBus {
    /// `burst`: frames the mixer makes at one wake; `block`: frames per block.
    pub(super) fn new(feed: LiveFeed, block: usize, burst: usize, watch: SilenceWatch) -> Self {
        let keep = burst + 3 * feed.period;
        LiveBus {
            feed,
            fader: 0.0,
            target: 0.0,
            step: 1.0,
            back: None,
            read: vec![0.0; (block + 1) * CHANNELS],
            block: vec![0.0; block * CHANNELS],
            level: keep as f64,
            keep,
            watch,
        }
    }

    pub(super) fn go_live(&mut self, fade: u32) {
        self.target = 1.0;
        self.step = 1.0 / fade.max(1) as f32;
        self.back = None;
    }

    pub(super) fn back_at(&mut self, at: u64, fade: u32) {
        self.back = Some((at, 1.0 / fade.max(1) as f32));
    }

    /// The studio is heard, or is about to be, or is fading out: the
    /// standby must not start for want of automation.
    pub(super) fn engaged(&self) -> bool {
        self.fader > 0.0 || self.target > 0.0
    }

    /// Reads a block of input and mixes it over `mix` (automation,
    /// interleaved stereo, first frame at engine sample `position`).
    pub(super) fn mix(&mut self, mix: &mut [f32], position: u64) {
        let frames = mix.len() / CHANNELS;
        self.pull(frames);
        let input = &self.block[..frames * CHANNELS];
        let (mut peak_l, mut peak_r) = (0.0f32, 0.0f32);
        for frame in input.chunks_exact(CHANNELS) {
            peak_l = peak_l.max(frame[0].abs());
            peak_r = peak_r.max(frame[1].abs());
        }
        self.feed.health.set_peak(peak_l, peak_r);
        self.watch.feed(input, position, &self.feed.health.runs);

        if self.fader == 0.0 && self.target == 0.0 {
            return;
        }
        for (i, (out, live)) in mix
            .chunks_exact_mut(CHANNELS)
            .zip(input.chunks_exact(CHANNELS))
            .enumerate()
        {
            if let Some((at, step)) = self.back
                && position + i as u64 >= at
            {
                self.target = 0.0;
                self.step = step;
                self.back = None;
            }
            if self.fader < self.target {
                self.fader = (self.fader + self.step).min(self.target);
            } else if self.fader > self.target {
                self.fader = (self.fader - self.step).max(self.target);
            }
            let angle = self.fader * std::f32::consts::FRAC_PI_2;
            let (live_gain, auto_gain) = if self.fader >= 1.0 {
                (1.0, 0.0)
            } else {
                (angle.sin(), angle.cos())
            };
            for (o, l) in out.iter_mut().zip(live) {
                *o = *o * auto_gain + *l * live_gain;
            }
        }
    }

    /// Fills `self.block` with `frames` frames of input, keeping the ring
    /// at its level.
    fn pull(&mut self, frames: usize) {
        let engaged = self.engaged();
        let ring = &mut self.feed.ring;
        let available = ring.slots() / CHANNELS;
        self.level = self.level * 0.95 + available as f64 * 0.05;
        let slack = self.feed.period as f64;
        // Off air, a backlog is only latency waiting to happen: it is
        // dropped at once rather than a frame a block.
        if !engaged && available > 2 * self.keep + frames {
            let excess = (available - self.keep - frames) * CHANNELS;
            if let Ok(chunk) = ring.read_chunk(excess) {
                chunk.commit_all();
            }
            self.level = self.keep as f64;
        }
        let want = if self.level > self.keep as f64 + slack {
            frames + 1
        } else if self.level < self.keep as f64 - slack && frames > 1 {
            frames - 1
        } else {
            frames
        };
        let available = ring.slots() / CHANNELS;
        let got = want.min(available);
        if got < want {
            self.feed
                .health
                .underruns
                .fetch_add((want - got) as u64, Ordering::Relaxed);
        }
        if let Ok(chunk) = ring.read_chunk(got * CHANNELS) {
            let (a, b) = chunk.as_slices();
            self.read[..a.len()].copy_from_slice(a);
            self.read[a.len()..a.len() + b.len()].copy_from_slice(b);
            chunk.commit_all();
        }
        // What the ring did not have is silence.
        self.read[got * CHANNELS..want * CHANNELS].fill(0.0);
        stretch(
            &self.read[..want * CHANNELS],
            &mut self.block[..frames * CHANNELS],
        );
    }
}

/// Stretches interleaved stereo `from` over `to` by linear interpolation
/// (a copy when they are the same length).
fn stretch(from: &[f32], to: &mut [f32]) {
    let (n, m) = (from.len() / CHANNELS, to.len() / CHANNELS);
    if n == m {
        to.copy_from_slice(from);
        return;
    }
    if n == 0 {
        to.fill(0.0);
        return;
    }
    let ratio = if m > 1 {
        (n - 1) as f32 / (m - 1) as f32
    } else {
        0.0
    };
    for (i, out) in to.chunks_exact_mut(CHANNELS).enumerate() {
        let x = i as f32 * ratio;
        let j = (x as usize).min(n - 1);
        let k = (j + 1).min(n - 1);
        let t = x - j as f32;
        for c in 0..CHANNELS {
            out[c] = from[j * CHANNELS + c] * (1.0 - t) + from[k * CHANNELS + c] * t;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretching_a_block_by_a_frame_keeps_its_ends_and_its_slope() {
        // A ramp of 481 frames read, 480 wanted: the same ramp, end to end.
        let from: Vec<f32> = (0..481).flat_map(|i| [i as f32, -(i as f32)]).collect();
        let mut to = vec![0.0; 480 * 2];
        stretch(&from, &mut to);
        assert_eq!(to[0], 0.0);
        assert!((to[479 * 2] - 480.0).abs() < 1e-3, "{}", to[479 * 2]);
        for pair in to.chunks_exact(2).collect::<Vec<_>>().windows(2) {
            let step = pair[1][0] - pair[0][0];
            assert!((step - 480.0 / 479.0).abs() < 1e-3, "step {step}");
            assert_eq!(pair[1][1], -pair[1][0]);
        }
    }
}
