//! Channel mapping: a file's channels folded down to the engine's stereo.

use symphonia::core::audio::{ChannelLabel, Channels, Position};

/// −3 dB, the usual weight of a centre or surround channel in a stereo downmix.
const MINUS_3_DB: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// Weights from each file channel to the engine's left and right.
#[derive(Default)]
pub(super) struct Downmix {
    pub(super) layout: Option<(Channels, usize)>,
    pub(super) weights: Vec<[f32; 2]>,
}

impl Downmix {
    pub(super) fn fit(&mut self, layout: &Channels, count: usize) {
        if self
            .layout
            .as_ref()
            .is_some_and(|(l, c)| l == layout && *c == count)
        {
            return;
        }
        self.weights = stereo_weights(layout, count);
        self.layout = Some((layout.clone(), count));
    }

    pub(super) fn apply(
        &self,
        planes: &[Vec<f32>],
        from: usize,
        left: &mut Vec<f32>,
        right: &mut Vec<f32>,
    ) {
        let frames = planes.first().map_or(0, Vec::len).saturating_sub(from);
        left.clear();
        right.clear();
        left.resize(frames, 0.0);
        right.resize(frames, 0.0);
        for (plane, [wl, wr]) in planes.iter().zip(&self.weights) {
            for ((l, r), s) in left.iter_mut().zip(right.iter_mut()).zip(&plane[from..]) {
                *l += s * wl;
                *r += s * wr;
            }
        }
    }
}

/// A stereo downmix in the spirit of ITU-R BS.775: centre and surrounds at
/// −3 dB into their side, LFE left out, then scaled so a full-scale signal on
/// every channel cannot clip (as ffmpeg's downmix does).
pub(super) fn stereo_weights(layout: &Channels, count: usize) -> Vec<[f32; 2]> {
    match count {
        0 => return Vec::new(),
        1 => return vec![[1.0, 1.0]],
        2 => return vec![[1.0, 0.0], [0.0, 1.0]],
        _ => {}
    }
    let positions: Option<Vec<Position>> = match layout {
        Channels::Positioned(mask) => Some(split_mask(*mask)),
        Channels::Custom(labels) => labels
            .iter()
            .map(|l| match l {
                ChannelLabel::Positioned(p) => Some(*p),
                _ => None,
            })
            .collect(),
        _ => Position::from_wave_channel_count(count as u32).map(split_mask),
    };
    let mut weights: Vec<[f32; 2]> = match positions {
        Some(positions) if positions.len() == count => {
            positions.into_iter().map(position_weights).collect()
        }
        // Unlabelled channels: alternate them between left and right.
        _ => (0..count)
            .map(|i| if i % 2 == 0 { [1.0, 0.0] } else { [0.0, 1.0] })
            .collect(),
    };
    let loudest = weights
        .iter()
        .fold([0.0f32; 2], |acc, w| [acc[0] + w[0], acc[1] + w[1]]);
    let scale = loudest[0].max(loudest[1]).max(1.0);
    for w in &mut weights {
        w[0] /= scale;
        w[1] /= scale;
    }
    weights
}

pub(super) fn split_mask(mask: Position) -> Vec<Position> {
    (0..64)
        .map(|bit| 1u64 << bit)
        .filter(|b| mask.bits() & b != 0)
        .map(Position::from_bits_retain)
        .collect()
}

pub(super) fn position_weights(p: Position) -> [f32; 2] {
    const LEFT: Position = Position::FRONT_LEFT_CENTER
        .union(Position::REAR_LEFT)
        .union(Position::SIDE_LEFT)
        .union(Position::TOP_FRONT_LEFT)
        .union(Position::TOP_REAR_LEFT)
        .union(Position::TOP_SIDE_LEFT)
        .union(Position::BOTTOM_FRONT_LEFT)
        .union(Position::FRONT_LEFT_WIDE);
    const RIGHT: Position = Position::FRONT_RIGHT_CENTER
        .union(Position::REAR_RIGHT)
        .union(Position::SIDE_RIGHT)
        .union(Position::TOP_FRONT_RIGHT)
        .union(Position::TOP_REAR_RIGHT)
        .union(Position::TOP_SIDE_RIGHT)
        .union(Position::BOTTOM_FRONT_RIGHT)
        .union(Position::FRONT_RIGHT_WIDE);
    const LFE: Position = Position::LFE1.union(Position::LFE2);
    if p == Position::FRONT_LEFT {
        [1.0, 0.0]
    } else if p == Position::FRONT_RIGHT {
        [0.0, 1.0]
    } else if p == Position::FRONT_CENTER {
        [MINUS_3_DB, MINUS_3_DB]
    } else if LFE.contains(p) {
        [0.0, 0.0]
    } else if LEFT.contains(p) {
        [MINUS_3_DB, 0.0]
    } else if RIGHT.contains(p) {
        [0.0, MINUS_3_DB]
    } else {
        // Rear, top and bottom centres.
        [0.5, 0.5]
    }
}
