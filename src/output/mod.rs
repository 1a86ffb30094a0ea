//! Outputs: where the mixed programme goes. Each output has its own bounded
//! ring ([`Tap`]) that the mixer writes without waiting; a full ring drops the
//! block and counts it, so a slow or dead output never stalls the others.
//! File and network outputs drain their ring on a thread of their own; a
//! device output (ALSA) drains it from the device's callback and is then the
//! master whose clock paces the engine.

pub mod alsa;
pub mod null;
pub mod wav;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use chrono_tz::Tz;

use crate::clock::{Clock, Timeline};
use crate::config::OutputConfig;

/// Audio inside the box: interleaved stereo f32.
pub const CHANNELS: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("output {name}: {message}")]
    Open { name: String, message: String },
    #[error("output {name}: write failed: {source}")]
    Io {
        name: String,
        source: std::io::Error,
    },
}

/// What every output needs to know about the station and the engine.
#[derive(Debug, Clone)]
pub struct OutputContext {
    pub rate: u32,
    pub timeline: Timeline,
    pub clock: Clock,
    pub timezone: Tz,
    pub station: String,
}

/// Counters an output keeps, read by the status page (relaxed atomics).
#[derive(Debug, Default)]
pub struct OutputStats {
    /// Frames the output has taken from its ring.
    pub frames_out: AtomicU64,
    /// Frames the mixer dropped because the ring was full.
    pub frames_dropped: AtomicU64,
    /// Frames the device wanted when the ring was empty (played as silence).
    pub frames_underrun: AtomicU64,
    pub errors: AtomicU64,
}

/// The mixer's end of one output.
pub struct Tap {
    pub name: String,
    pub ring: rtrb::Producer<f32>,
    pub stats: Arc<OutputStats>,
}

/// A file or network output, driven by a thread of its own.
pub trait Output: Send + 'static {
    fn name(&self) -> String;
    /// Interleaved stereo samples, in order, with nothing missing but what
    /// the stats count as dropped.
    fn write(&mut self, samples: &[f32]) -> Result<(), OutputError>;
    /// Called once when the box stops: finalise headers, flush buffers.
    fn finish(&mut self) -> Result<(), OutputError>;
}
