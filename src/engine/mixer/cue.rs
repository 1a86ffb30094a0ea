//! One cued or playing item as the mixer keeps it: when it starts, its
//! fades (the envelope), and how it is mixed into the block.

use super::super::decoder::Source;
use super::super::meters::Meters;
use super::super::{EndHow, ItemId};
use crate::output::CHANNELS;

/// When a cued item is to start, as the mixer keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum When {
    At(u64),
    After(ItemId),
    /// At the next block: the item it was to follow had already gone.
    Now,
}

pub(super) struct Cue {
    pub(super) id: ItemId,
    pub(super) source: Source,
    pub(super) when: When,
    /// The frame it went on air.
    pub(super) since: Option<u64>,
    pub(super) hard_end: Option<u64>,
    pub(super) fade: u32,
    /// A fade to silence that ends the item: (first frame, length, why).
    pub(super) fade_out: Option<(u64, u32, EndHow)>,
    /// Frames a late start still has to drop to be back in line.
    pub(super) skip_debt: u64,
    /// Next frame this item renders, within the current block.
    pub(super) cursor: u64,
    /// Order of starting: the latest to start is the one "on air".
    pub(super) seq: u64,
    /// The standby, on air until anything else starts.
    pub(super) standby: bool,
}

impl Cue {
    pub(super) fn playing(&self) -> bool {
        self.since.is_some()
    }

    /// The first frame at which it is silent for good.
    pub(super) fn end_frame(&self) -> u64 {
        let hard = self.hard_end.unwrap_or(u64::MAX);
        let faded = self.fade_out.map_or(u64::MAX, |(from, len, _)| {
            from.saturating_add(u64::from(len))
        });
        hard.min(faded)
    }

    pub(super) fn end_how(&self) -> EndHow {
        match (self.hard_end, self.fade_out) {
            (Some(hard), Some((from, len, how))) if from.saturating_add(u64::from(len)) < hard => {
                how
            }
            (Some(_), _) => EndHow::Faded,
            (None, Some((_, _, how))) => how,
            (None, None) => EndHow::Natural,
        }
    }

    fn envelope(&self) -> Envelope {
        Envelope {
            hard_end: self.hard_end,
            fade: self.fade,
            fade_out: self.fade_out.map(|(from, len, _)| (from, len)),
        }
    }

    /// Fades the item out from `at`, unless it already goes silent sooner.
    pub(super) fn fade_out(&mut self, at: u64, len: u32, how: EndHow) {
        if at.saturating_add(u64::from(len)) < self.end_frame() {
            self.fade_out = Some((at, len, how));
        }
    }
}

/// An item's fades, as the gain of each frame.
#[derive(Debug, Clone, Copy)]
pub(super) struct Envelope {
    hard_end: Option<u64>,
    fade: u32,
    fade_out: Option<(u64, u32)>,
}

impl Envelope {
    fn gain(&self, x: u64) -> f32 {
        let mut gain = 1.0f32;
        if let Some(hard) = self.hard_end
            && self.fade > 0
            && x + u64::from(self.fade) > hard
        {
            gain = gain.min(hard.saturating_sub(x) as f32 / self.fade as f32);
        }
        if let Some((from, len)) = self.fade_out
            && x >= from
            && len > 0
        {
            gain = gain.min((from + u64::from(len)).saturating_sub(x) as f32 / len as f32);
        }
        gain
    }

    /// The first frame whose gain may be below 1: before it the item is
    /// mixed as it comes, without per-frame gain.
    fn fade_start(&self) -> u64 {
        let hard = match self.hard_end {
            Some(hard) if self.fade > 0 => hard.saturating_sub(u64::from(self.fade)),
            _ => u64::MAX,
        };
        let faded = self.fade_out.map_or(u64::MAX, |(from, _)| from);
        hard.min(faded)
    }

    /// Adds `frames` (interleaved stereo, the first at engine frame `x`)
    /// into `mix` at this envelope's gain.
    fn mix_into(&self, mix: &mut [f32], frames: &[f32], x: u64) {
        // Frames before any fade play at full gain: a plain sum, which the
        // compiler vectorises; only frames inside a fade are weighed.
        let count = frames.len() / CHANNELS;
        let plain = self.fade_start().saturating_sub(x).min(count as u64) as usize * CHANNELS;
        for (m, s) in mix[..plain].iter_mut().zip(&frames[..plain]) {
            *m += *s;
        }
        let faded = x + (plain / CHANNELS) as u64;
        for (k, (m, s)) in mix[plain..]
            .chunks_exact_mut(CHANNELS)
            .zip(frames[plain..].chunks_exact(CHANNELS))
            .enumerate()
        {
            let gain = self.gain(faded + k as u64);
            m[0] += s[0] * gain;
            m[1] += s[1] * gain;
        }
    }
}

/// Mixes one item into the block from its cursor up to `until`. Returns
/// when and how it ended, if it did.
pub(super) fn render_item(
    item: &mut Cue,
    mix: &mut [f32],
    block_start: u64,
    until: u64,
    meters: &Meters,
) -> Option<(u64, EndHow)> {
    let end = item.end_frame();
    let limit = until.min(end);
    let mut x = item.cursor;
    if item.skip_debt > 0 {
        item.skip_debt -= item.source.skip(item.skip_debt);
    }
    if item.skip_debt == 0 && x < limit {
        let envelope = item.envelope();
        let mut at = x;
        let got = item.source.consume((limit - x) as usize, |frames| {
            let offset = ((at - block_start) as usize) * CHANNELS;
            envelope.mix_into(&mut mix[offset..offset + frames.len()], frames, at);
            at += (frames.len() / CHANNELS) as u64;
        });
        x += got as u64;
    }
    if x < limit {
        if item.source.is_exhausted() {
            item.cursor = x;
            return Some((x, EndHow::Natural));
        }
        // The decoder fell behind: silence for now, and the item carries
        // on from where it was.
        meters.add_underrun(limit - x);
        x = limit;
    }
    item.cursor = x;
    // `x` is past `end` only when the end was moved behind the item.
    (x >= end).then(|| (x, item.end_how()))
}
