//! When a recorded stream's audio happened, by the box's clock.
//!
//! The first frame after a (re)connection is placed by its arrival: it
//! ends when it arrived. From there time is counted by the frames' own
//! durations, never read again from the clock, so arrival jitter (the
//! network, the server's bursts, the reads) moves nothing. The clock is
//! only compared: `lag` is how much later a frame arrived than its counted
//! end.
//!
//! Settling: a server often sends seconds of buffered audio at once when
//! a listener connects (Icecast's burst). Those frames arrive "early" by
//! the count (negative lag), which shows how much audio was already
//! buffered: for the first seconds of an anchor, the anchor moves back by
//! any negative lag, so that no frame is counted as ending before it
//! arrived. The recorder holds segments back until the anchor has settled,
//! so no segment is named with a time that moves afterwards.
//!
//! Drift: once settled, a lag beyond the threshold either way means the
//! count and the clock have parted (the source stalled, or sent more audio
//! than time passed): the recorder closes its segment `partial` and the
//! next frame anchors afresh.
//!
//! Reads come in batches seconds apart (each wake-up of the reader costs
//! more than its bytes), so a frame's arrival is known only as a span: after
//! the previous batch emptied the connection, and by the read that brought
//! it ([`Arrival`]). A frame is late only if it ended before the span
//! began, early only if it ended after the span closed: the batches' length
//! never counts as drift, and the threshold stays what it says.

/// A frame's place on the counted timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// At this position (samples since the anchor), counted.
    At(u64),
    /// The first frame of a new anchor: position 0.
    Anchored,
    /// The count and the clock parted by `lag_micros` (positive: the
    /// frame came late; negative: early). Nothing was counted: the caller
    /// closes what is open, then [`Timing::reset`]s and places the frame again.
    Drifted { lag_micros: i64 },
}

/// When a frame's last byte arrived, as far as a batch of reads knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// µs since the epoch: it came after this (the previous batch emptied
    /// the connection then).
    pub after: i64,
    /// µs since the epoch: it had come by this (the read that brought it).
    pub by: i64,
}

impl Arrival {
    /// Known to the microsecond.
    pub fn at(micros: i64) -> Self {
        Arrival {
            after: micros,
            by: micros,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Anchor {
    /// µs since the epoch of the sample at position 0.
    start_micros: i64,
    rate: u32,
    /// Samples counted so far.
    counted: u64,
    /// When the anchor's first frame arrived.
    first_arrival: i64,
    settled: bool,
}

/// The counted timeline of one connection.
#[derive(Debug, Clone)]
pub struct Timing {
    threshold_micros: i64,
    settle_micros: i64,
    anchor: Option<Anchor>,
}

/// µs that `samples` at `rate` last.
pub fn micros_of(samples: u64, rate: u32) -> i64 {
    (i128::from(samples) * 1_000_000 / i128::from(rate.max(1))) as i64
}

impl Timing {
    /// Drift beyond `threshold_micros` re-anchors; an anchor settles after
    /// `settle_micros` of arrivals.
    pub fn new(threshold_micros: i64, settle_micros: i64) -> Self {
        Timing {
            threshold_micros: threshold_micros.max(1),
            settle_micros: settle_micros.max(0),
            anchor: None,
        }
    }

    /// Forgets the anchor (a reconnection, a change of format, drift).
    pub fn reset(&mut self) {
        self.anchor = None;
    }

    pub fn is_anchored(&self) -> bool {
        self.anchor.is_some()
    }

    /// Whether the anchor no longer moves (no anchor: nothing to move).
    pub fn is_settled(&self) -> bool {
        self.anchor.is_none_or(|a| a.settled)
    }

    /// The station time (µs since the epoch) of `position`; `None` before
    /// the first frame.
    pub fn micros_at(&self, position: u64) -> Option<i64> {
        self.anchor
            .map(|a| a.start_micros + micros_of(position, a.rate))
    }

    /// Places a frame of `samples` at `rate` that arrived (its last byte)
    /// in `arrival`.
    pub fn place(&mut self, samples: u32, rate: u32, arrival: Arrival) -> Placed {
        let Some(anchor) = self.anchor.as_mut() else {
            // Placed by the latest it can have come; the settling below
            // moves it back by whatever shows it came sooner.
            self.anchor = Some(Anchor {
                start_micros: arrival.by - micros_of(u64::from(samples), rate),
                rate,
                counted: u64::from(samples),
                first_arrival: arrival.by,
                settled: self.settle_micros == 0,
            });
            return Placed::Anchored;
        };
        let position = anchor.counted;
        let end = anchor.start_micros + micros_of(position + u64::from(samples), anchor.rate);
        // Negative: it ended (by the count) after it had surely come.
        let early = arrival.by - end;
        if anchor.settled {
            let late = arrival.after - end;
            if late > self.threshold_micros {
                return Placed::Drifted { lag_micros: late };
            }
            if early < -self.threshold_micros {
                return Placed::Drifted { lag_micros: early };
            }
        } else {
            if early < 0 {
                // Audio the server had buffered: it began earlier.
                anchor.start_micros += early;
            }
            if arrival.by - anchor.first_arrival >= self.settle_micros {
                anchor.settled = true;
            }
        }
        anchor.counted += u64::from(samples);
        Placed::At(position)
    }
}

#[cfg(test)]
mod tests;
