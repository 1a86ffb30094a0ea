//! The audio engine: plain threads, no async. Decoder threads fill lock-free
//! rings; the mixer thread pulls from the cued sources, applies fades, and
//! pushes every block to every output tap. The mixer never locks, allocates,
//! or waits on I/O per block: commands arrive on a wait-free ring, finished
//! sources are handed back through the event ring to be freed elsewhere.
//!
//! Time inside the engine is a sample count ([`crate::clock::Timeline`] maps it
//! to station time once). The mixer is paced either by the master output (a
//! device that pulls, such as ALSA) or, without one, by the station clock.
//! No thread polls: each sleeps until whoever makes its work rings it (see
//! [`crate::pacing`]), and the director is rung through
//! [`Engine::event_bell`] when there are events.

pub mod decoder;
pub mod live;
pub mod meters;
pub mod mixer;
pub mod silence;
#[cfg(test)]
pub(crate) mod test_audio;

pub use decoder::{DecodeError, OpenOptions, Source, SourceInfo, SourceWatch};
pub use live::{LiveError, LiveFeed, LiveHealth, LiveInput};
pub use meters::Meters;
pub use mixer::{Engine, EngineError, EngineSettings, start, start_with_live};

/// The director's name for one thing put on air (an as-run log entry).
pub type ItemId = u64;

/// When a cued item starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At this engine sample. A cue that arrives late starts at once and drops
    /// the frames it missed, so the item stays aligned with the schedule.
    At(u64),
    /// The moment item `ItemId` ends, whatever the reason (gapless chaining).
    /// If that item has already ended, at once.
    After(ItemId),
}

pub enum Command {
    /// Put a source on air. Starting an `At` item cuts everything else still
    /// on air (the hard boundary's safety net: the director normally fades it
    /// out in time with `hard_end`).
    Cue {
        id: ItemId,
        source: Source,
        start: Start,
        /// The item is faded out to silence at exactly this sample.
        hard_end: Option<u64>,
        /// Length of the fade before `hard_end`, in samples.
        fade: u32,
    },
    /// Move or set the hard end of a cued or playing item.
    EndAt {
        id: ItemId,
        at: u64,
        fade: u32,
    },
    /// Take an item off air now (or cancel it if not yet started), fading
    /// over `fade` samples.
    Stop {
        id: ItemId,
        fade: u32,
    },
    /// The standby (the station's emergency file, the last resort): played
    /// (looped by its decoder) whenever nothing has been on air for `after`
    /// samples, until something else starts.
    Standby {
        id: ItemId,
        source: Source,
        after: u32,
    },
    /// The studio takes over: the live fader moves to the live input over
    /// `fade` samples from now. Automation is not touched: the director
    /// takes it off.
    Live {
        fade: u32,
    },
    /// Back to automation: the live fader starts back at sample `at` (where
    /// the director has cued what is due) and takes `fade` samples.
    Auto {
        at: u64,
        fade: u32,
    },
    Shutdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndHow {
    /// The source ran out (end of file, or the decoder gave up: see its watch).
    Natural,
    /// Faded out at its hard end.
    Faded,
    /// Taken off by a `Stop` command.
    Stopped,
    /// Cut because a scheduled (`At`) item started.
    Cut,
    /// Never started: stopped before its start, its start was at or after its
    /// hard end, or the item it followed was cancelled.
    Cancelled,
}

pub enum Event {
    Started {
        id: ItemId,
        at: u64,
    },
    Ended {
        id: ItemId,
        at: u64,
        how: EndHow,
    },
    /// A source the mixer has finished with, to be dropped off the real-time thread.
    Retired(Source),
}
