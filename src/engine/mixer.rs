//! The mixer thread: once per block it takes the director's commands, starts
//! and ends items on the exact frame asked for, applies fades, and writes
//! the block to every output tap.
//!
//! Nothing on this thread locks, allocates, frees or logs: commands and
//! sources arrive through a wait-free ring, everything the mixer keeps lives
//! in arrays sized at start, and sources it is done with go back to the
//! director in [`Event::Retired`] to be freed there.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::TimeDelta;

use super::decoder::Source;
use super::meters::Meters;
use super::{Command, EndHow, Event, ItemId, Start};
use crate::clock::{Clock, Timeline};
use crate::output::{CHANNELS, Tap};

/// Items that can be cued or playing at once. A schedule needs two or
/// three (the programme, the next one, a filler); the rest is headroom.
pub const SLOTS: usize = 8;

/// Commands the director can queue before the mixer takes them.
pub const COMMAND_CAPACITY: usize = 64;

/// Events the mixer can queue before the director reads them.
pub const EVENT_CAPACITY: usize = 256;

/// Events held on the mixer thread while the event ring is full (the
/// director is busy). Commands are only taken while `COMMAND_EVENT_ROOM` of
/// it is free: one command can cancel every slot and the standby (two
/// events each), and the items then held can at most start, end and retire
/// once each, so the buffer never has to grow on the real-time thread.
const PENDING_EVENTS: usize = 128;
const COMMAND_EVENT_ROOM: usize = 2 * (SLOTS + 1) + 3 * (SLOTS + 1) + 2;

/// How long the fade is when a scheduled start cuts whatever is playing:
/// long enough not to click, short enough to sound like a cut.
const CUT_FADE_MS: u32 = 5;

/// Longest nap while waiting for the clock: the stop flag is looked at this
/// often. The nap is otherwise the time until the block is due, so the
/// thread wakes about once a block rather than every millisecond.
const MAX_NAP: Duration = Duration::from_millis(10);
/// Naps while the sound card's ring has no room for a block: half the time
/// the card takes to play what is missing at its rate, within these bounds.
/// The longest is short because a card (or the benchmark's stand-in) may
/// take audio in bursts faster than its rate; below the shortest, sleeping
/// costs more than it saves.
const MIN_DEVICE_NAP: Duration = Duration::from_micros(500);
const MAX_DEVICE_NAP: Duration = Duration::from_millis(2);

/// Block sizes the engine accepts (frames).
const BLOCK_RANGE: std::ops::RangeInclusive<usize> = 16..=16_384;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "the engine block of {0} frames is out of range; use {min} to {max} frames (1024 is usual)",
        min = BLOCK_RANGE.start(),
        max = BLOCK_RANGE.end()
    )]
    Block(usize),
    #[error("the engine rate is 0 Hz; set the audio sample rate (e.g. 48000)")]
    Rate,
    #[error("the master output is number {index}, but only {count} outputs are configured")]
    NoSuchMaster { index: usize, count: usize },
    #[error(
        "output {name} buffers {have} frames, less than one engine block of {block}; give it room for at least two blocks"
    )]
    TapTooSmall {
        name: String,
        have: usize,
        block: usize,
    },
    #[error("cannot start the mixer thread: {0}; the box is short of memory or threads")]
    Thread(std::io::Error),
}

#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub timeline: Timeline,
    pub clock: Clock,
    /// Frames per block: the engine's granularity of pacing and metering
    /// (starts and ends are still exact to the frame).
    pub block_frames: usize,
    /// How far ahead of the station clock the engine runs when the clock
    /// paces it: the outputs' buffering, so that what is heard is on time.
    pub lead: TimeDelta,
}

/// The running engine, as the director holds it.
pub struct Engine {
    pub commands: rtrb::Producer<Command>,
    pub events: rtrb::Consumer<Event>,
    pub meters: Arc<Meters>,
    pub timeline: Timeline,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Engine {
    /// Stops the mixer thread and waits for it.
    pub fn shutdown(mut self) {
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.commands.push(Command::Shutdown);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// Starts the mixer thread. With `master = Some(i)`, tap `i` is a device
/// that drains its ring on its own clock and paces the engine; otherwise
/// the station clock does.
pub fn start(
    settings: EngineSettings,
    taps: Vec<Tap>,
    master: Option<usize>,
) -> Result<Engine, EngineError> {
    let block = settings.block_frames;
    if !BLOCK_RANGE.contains(&block) {
        return Err(EngineError::Block(block));
    }
    if settings.timeline.rate == 0 {
        return Err(EngineError::Rate);
    }
    if let Some(index) = master
        && index >= taps.len()
    {
        return Err(EngineError::NoSuchMaster {
            index,
            count: taps.len(),
        });
    }
    if let Some(tap) = taps
        .iter()
        .find(|t| t.ring.buffer().capacity() < block * CHANNELS)
    {
        return Err(EngineError::TapTooSmall {
            name: tap.name.clone(),
            have: tap.ring.buffer().capacity() / CHANNELS,
            block,
        });
    }
    let (commands, command_ring) = rtrb::RingBuffer::new(COMMAND_CAPACITY);
    let (event_ring, events) = rtrb::RingBuffer::new(EVENT_CAPACITY);
    let meters = Arc::new(Meters::new());
    let stop = Arc::new(AtomicBool::new(false));
    let mixer = Mixer {
        timeline: settings.timeline,
        clock: settings.clock,
        lead: settings.lead,
        block,
        taps,
        master,
        commands: command_ring,
        events: event_ring,
        pending: VecDeque::with_capacity(PENDING_EVENTS),
        meters: Arc::clone(&meters),
        stop: Arc::clone(&stop),
        slots: std::array::from_fn(|_| None),
        standby: None,
        mix: vec![0.0; block * CHANNELS],
        position: 0,
        silent_since: Some(0),
        last_end: 0,
        cut_fade: (settings.timeline.rate * CUT_FADE_MS / 1000).max(1),
        next_seq: 1,
    };
    let real_time = master.is_some();
    let thread = std::thread::Builder::new()
        .name("onair-mixer".into())
        .spawn(move || {
            if real_time {
                ask_for_real_time();
            }
            mixer.run()
        })
        .map_err(EngineError::Thread)?;
    Ok(Engine {
        commands,
        events,
        meters,
        timeline: settings.timeline,
        stop,
        thread: Some(thread),
    })
}

/// When a cued item is to start, as the mixer keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    At(u64),
    After(ItemId),
    /// At the next block: the item it was to follow had already gone.
    Now,
}

struct Item {
    id: ItemId,
    source: Source,
    when: When,
    /// The frame it went on air.
    since: Option<u64>,
    hard_end: Option<u64>,
    fade: u32,
    /// A fade to silence that ends the item: (first frame, length, why).
    fade_out: Option<(u64, u32, EndHow)>,
    /// Frames a late start still has to drop to be back in line.
    skip_debt: u64,
    /// Next frame this item renders, within the current block.
    cursor: u64,
    /// Order of starting: the latest to start is the one "on air".
    seq: u64,
    /// The standby, on air until anything else starts.
    standby: bool,
}

impl Item {
    fn playing(&self) -> bool {
        self.since.is_some()
    }

    /// The first frame at which it is silent for good.
    fn end_frame(&self) -> u64 {
        let hard = self.hard_end.unwrap_or(u64::MAX);
        let faded = self.fade_out.map_or(u64::MAX, |(from, len, _)| {
            from.saturating_add(u64::from(len))
        });
        hard.min(faded)
    }

    fn end_how(&self) -> EndHow {
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
    fn fade_out(&mut self, at: u64, len: u32, how: EndHow) {
        if at.saturating_add(u64::from(len)) < self.end_frame() {
            self.fade_out = Some((at, len, how));
        }
    }
}

/// An item's fades, as the gain of each frame.
#[derive(Debug, Clone, Copy)]
struct Envelope {
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

/// A standby source waiting in the wings.
struct Standby {
    id: ItemId,
    source: Source,
    after: u32,
}

struct Mixer {
    timeline: Timeline,
    clock: Clock,
    lead: TimeDelta,
    block: usize,
    taps: Vec<Tap>,
    master: Option<usize>,
    commands: rtrb::Consumer<Command>,
    events: rtrb::Producer<Event>,
    pending: VecDeque<Event>,
    meters: Arc<Meters>,
    stop: Arc<AtomicBool>,
    slots: [Option<Item>; SLOTS],
    standby: Option<Standby>,
    /// The block being made, interleaved stereo.
    mix: Vec<f32>,
    /// Engine frame of the block's first frame.
    position: u64,
    /// Since when nothing has been on air (standby timing).
    silent_since: Option<u64>,
    last_end: u64,
    cut_fade: u32,
    next_seq: u64,
}

/// A sound card waits for no one: when a device paces the engine, the mixer
/// asks for real-time scheduling (granted to root, or through systemd's
/// `LimitRTPRIO`). Never with the clock pacing it: at a simulated speed it
/// may run flat out, and a real-time thread doing that would starve the box.
fn ask_for_real_time() {
    let param = libc::sched_param { sched_priority: 40 };
    // SAFETY: pthread_self() names the calling thread, which is alive; the
    // parameter block lives across the call.
    let result =
        unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
    if result == 0 {
        tracing::info!("mixer runs with real-time priority");
    } else {
        tracing::warn!(
            "mixer runs without real-time priority ({}): grant it with LimitRTPRIO in the service unit",
            std::io::Error::from_raw_os_error(result)
        );
    }
}

impl Mixer {
    fn run(mut self) {
        loop {
            #[cfg(test)]
            let allocations = tests::allocations_on_this_thread();
            if !self.pace() || !self.take_commands() {
                break;
            }
            self.render_block();
            self.send_block();
            self.meters
                .record_block(&self.mix, self.position + self.block as u64, self.on_air());
            self.flush_events();
            self.position += self.block as u64;
            #[cfg(test)]
            self.meters.allocations.fetch_add(
                tests::allocations_on_this_thread() - allocations,
                Ordering::Relaxed,
            );
        }
    }

    /// Waits until the block may be made; false when asked to stop.
    fn pace(&mut self) -> bool {
        loop {
            if self.stop.load(Ordering::Acquire) {
                return false;
            }
            // Without a master the clock paces every block. With one, the
            // clock still decides when the first block is made, so that
            // sample 0 goes out at the timeline's anchor.
            let due = self.timeline.time_of(self.position) - self.lead;
            let now = self.clock.now();
            let nap = if (self.master.is_none() || self.position == 0) && now < due {
                self.clock.real(due - now).min(MAX_NAP)
            } else {
                match self.master {
                    Some(index) if self.taps[index].ring.slots() < self.block * CHANNELS => {
                        // The card takes a frame every 1/rate seconds.
                        let missing =
                            (self.block * CHANNELS - self.taps[index].ring.slots()) / CHANNELS;
                        Duration::from_secs_f64(
                            missing as f64 / f64::from(self.timeline.rate) / 2.0,
                        )
                        .clamp(MIN_DEVICE_NAP, MAX_DEVICE_NAP)
                    }
                    _ => return true,
                }
            };
            std::thread::sleep(nap);
        }
    }

    /// Takes the director's commands; false on `Shutdown`.
    fn take_commands(&mut self) -> bool {
        while PENDING_EVENTS - self.pending.len() >= COMMAND_EVENT_ROOM {
            let Ok(command) = self.commands.pop() else {
                break;
            };
            match command {
                Command::Cue {
                    id,
                    source,
                    start,
                    hard_end,
                    fade,
                } => self.cue(id, source, start, hard_end, fade),
                Command::EndAt { id, at, fade } => {
                    if let Some(item) = self.find(id) {
                        item.hard_end = Some(at);
                        item.fade = fade;
                    }
                }
                Command::Stop { id, fade } => self.stop_item(id, fade),
                Command::Standby { id, source, after } => {
                    if let Some(old) = self.standby.replace(Standby { id, source, after }) {
                        self.emit(Event::Retired(old.source));
                    }
                }
                Command::Shutdown => return false,
            }
        }
        true
    }

    fn cue(&mut self, id: ItemId, source: Source, start: Start, hard_end: Option<u64>, fade: u32) {
        if let (Start::At(at), Some(hard)) = (start, hard_end)
            && at >= hard
        {
            self.emit(Event::Ended {
                id,
                at: self.position,
                how: EndHow::Cancelled,
            });
            self.emit(Event::Retired(source));
            return;
        }
        let when = match start {
            Start::At(at) => When::At(at),
            Start::After(before) if self.known(before) => When::After(before),
            Start::After(_) => When::Now,
        };
        let Some(slot) = self.slots.iter_mut().find(|s| s.is_none()) else {
            self.emit(Event::Ended {
                id,
                at: self.position,
                how: EndHow::Cancelled,
            });
            self.emit(Event::Retired(source));
            return;
        };
        *slot = Some(Item {
            id,
            source,
            when,
            since: None,
            hard_end,
            fade,
            fade_out: None,
            skip_debt: 0,
            cursor: self.position,
            seq: 0,
            standby: false,
        });
    }

    fn stop_item(&mut self, id: ItemId, fade: u32) {
        let at = self.position;
        if let Some(index) = self.slot_of(id) {
            let playing = self.slots[index].as_ref().is_some_and(Item::playing);
            if playing {
                if let Some(item) = self.slots[index].as_mut() {
                    item.fade_out(at, fade, EndHow::Stopped);
                }
            } else {
                self.cancel(index, at);
            }
        } else if self.standby.as_ref().is_some_and(|s| s.id == id)
            && let Some(standby) = self.standby.take()
        {
            self.emit(Event::Ended {
                id,
                at,
                how: EndHow::Cancelled,
            });
            self.emit(Event::Retired(standby.source));
        }
    }

    fn known(&self, id: ItemId) -> bool {
        self.slot_of(id).is_some() || self.standby.as_ref().is_some_and(|s| s.id == id)
    }

    fn slot_of(&self, id: ItemId) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|item| item.id == id))
    }

    fn find(&mut self, id: ItemId) -> Option<&mut Item> {
        self.slots.iter_mut().flatten().find(|item| item.id == id)
    }

    fn on_air(&self) -> Option<ItemId> {
        self.slots
            .iter()
            .flatten()
            .filter(|item| item.playing())
            .max_by_key(|item| item.seq)
            .map(|item| item.id)
    }

    fn anything_playing(&self) -> bool {
        self.slots.iter().flatten().any(Item::playing)
    }

    fn render_block(&mut self) {
        self.mix.fill(0.0);
        let start = self.position;
        let end = start + self.block as u64;

        // Items whose predecessor has gone (never cued, replaced standby)
        // start now rather than wait for ever.
        for index in 0..SLOTS {
            let orphan = match &self.slots[index] {
                Some(item) if !item.playing() => match item.when {
                    When::After(before) => !self.known_except(before, index),
                    _ => false,
                },
                _ => false,
            };
            if orphan && let Some(item) = &mut self.slots[index] {
                item.when = When::Now;
            }
        }

        let mut at = start;
        loop {
            self.start_due(at, start);
            let next = self
                .slots
                .iter()
                .flatten()
                .filter_map(|item| match item.when {
                    When::At(s) if !item.playing() && s > at && s < end => Some(s),
                    _ => None,
                })
                .min()
                .unwrap_or(end);
            self.render_range(next);
            at = next;
            if at >= end {
                break;
            }
        }

        if self.anything_playing() {
            self.silent_since = None;
        } else if self.silent_since.is_none() {
            self.silent_since = Some(self.last_end);
        }
        self.start_standby(end);
    }

    fn known_except(&self, id: ItemId, except: usize) -> bool {
        self.slots
            .iter()
            .enumerate()
            .any(|(i, s)| i != except && s.as_ref().is_some_and(|item| item.id == id))
            || self.standby.as_ref().is_some_and(|s| s.id == id)
    }

    /// Starts the `At` items due at `at` (and, at the block's start, the
    /// `Now` items).
    fn start_due(&mut self, at: u64, block_start: u64) {
        for index in 0..SLOTS {
            let due = match &self.slots[index] {
                Some(item) if !item.playing() => match item.when {
                    When::At(s) => s <= at,
                    When::Now => at == block_start,
                    When::After(_) => false,
                },
                _ => false,
            };
            if !due {
                continue;
            }
            let scheduled = matches!(
                self.slots[index].as_ref().map(|i| i.when),
                Some(When::At(_))
            );
            if scheduled {
                // A scheduled start is a hard boundary: whatever still
                // plays is cut.
                let cut = self.cut_fade;
                for (other, slot) in self.slots.iter_mut().enumerate() {
                    if other != index
                        && let Some(item) = slot
                        && item.playing()
                    {
                        item.fade_out(at, cut, EndHow::Cut);
                    }
                }
            }
            self.go_on_air(index, at);
        }
    }

    /// Puts a cued item on air at `at`, or cancels it if its hard end has
    /// already come.
    fn go_on_air(&mut self, index: usize, at: u64) {
        let Some(item) = self.slots[index].as_mut() else {
            return;
        };
        if item.hard_end.is_some_and(|hard| at >= hard) {
            self.cancel(index, at);
            return;
        }
        if let When::At(s) = item.when
            && s < at
        {
            let late = at - s;
            item.skip_debt = late - item.source.skip(late);
        }
        item.since = Some(at);
        item.cursor = at;
        item.seq = self.next_seq;
        self.next_seq += 1;
        let id = item.id;
        // Whatever else starts takes over from a standby on air.
        let cut = self.cut_fade;
        for standby in self.slots.iter_mut().flatten() {
            if standby.standby && standby.playing() {
                standby.fade_out(at, cut, EndHow::Cut);
            }
        }
        self.emit(Event::Started { id, at });
    }

    /// Renders every playing item up to `until`, ending items and starting
    /// their followers on the exact frame.
    fn render_range(&mut self, until: u64) {
        loop {
            let mut progressed = false;
            for index in 0..SLOTS {
                let Some(item) = self.slots[index].as_mut() else {
                    continue;
                };
                if !item.playing() || item.cursor >= until {
                    continue;
                }
                progressed = true;
                let ended = render_item(item, &mut self.mix, self.position, until, &self.meters);
                if let Some((at, how)) = ended {
                    self.end(index, at, how);
                }
            }
            if !progressed {
                break;
            }
        }
    }

    /// Takes an item off air at `at` and starts what follows it.
    fn end(&mut self, index: usize, at: u64, how: EndHow) {
        let Some(item) = self.slots[index].take() else {
            return;
        };
        self.last_end = self.last_end.max(at);
        let id = item.id;
        self.emit(Event::Ended { id, at, how });
        self.emit(Event::Retired(item.source));
        for next in 0..SLOTS {
            if self.slots[next]
                .as_ref()
                .is_some_and(|n| !n.playing() && n.when == When::After(id))
            {
                self.go_on_air(next, at);
            }
        }
    }

    /// Cancels a cued item, and everything chained after it.
    fn cancel(&mut self, index: usize, at: u64) {
        let Some(item) = self.slots[index].take() else {
            return;
        };
        let id = item.id;
        self.emit(Event::Ended {
            id,
            at,
            how: EndHow::Cancelled,
        });
        self.emit(Event::Retired(item.source));
        for next in 0..SLOTS {
            if self.slots[next]
                .as_ref()
                .is_some_and(|n| !n.playing() && n.when == When::After(id))
            {
                self.cancel(next, at);
            }
        }
    }

    /// The standby goes on air once nothing has been for its `after` frames.
    fn start_standby(&mut self, end: u64) {
        let Some(quiet_from) = self.silent_since else {
            return;
        };
        let Some(after) = self.standby.as_ref().map(|s| u64::from(s.after)) else {
            return;
        };
        let at = (quiet_from + after).max(self.position);
        if at >= end {
            return;
        }
        let Some(slot) = self.slots.iter().position(Option::is_none) else {
            return;
        };
        let Some(standby) = self.standby.take() else {
            return;
        };
        self.slots[slot] = Some(Item {
            id: standby.id,
            source: standby.source,
            when: When::Now,
            since: Some(at),
            hard_end: None,
            fade: 0,
            fade_out: None,
            skip_debt: 0,
            cursor: at,
            seq: self.next_seq,
            standby: true,
        });
        self.next_seq += 1;
        self.silent_since = None;
        self.emit(Event::Started { id: standby.id, at });
        self.render_range(end);
    }

    fn send_block(&mut self) {
        for s in &mut self.mix {
            *s = s.clamp(-1.0, 1.0);
        }
        for tap in &mut self.taps {
            if tap.ring.push_entire_slice(&self.mix).is_err() {
                tap.stats
                    .frames_dropped
                    .fetch_add(self.block as u64, Ordering::Relaxed);
            }
        }
    }

    fn emit(&mut self, event: Event) {
        // Sized so this never grows (see PENDING_EVENTS).
        debug_assert!(self.pending.len() < PENDING_EVENTS);
        self.pending.push_back(event);
    }

    fn flush_events(&mut self) {
        while let Some(event) = self.pending.pop_front() {
            if let Err(rtrb::PushError::Full(event)) = self.events.push(event) {
                self.pending.push_front(event);
                break;
            }
        }
    }
}

/// Mixes one item into the block from its cursor up to `until`. Returns
/// when and how it ended, if it did.
fn render_item(
    item: &mut Item,
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

#[cfg(test)]
mod tests {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;
    use std::path::Path;
    use std::sync::Mutex;
    use std::time::{Instant, SystemTime};

    use chrono::Utc;

    use super::*;
    use crate::engine::decoder::{self, OpenOptions};
    use crate::engine::test_audio::{Scratch, wait_buffered, wav};
    use crate::output::OutputStats;

    /// Counts allocations and frees per thread, so the mixer thread can
    /// prove it does neither.
    struct Counting;

    thread_local! {
        static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    }

    fn count() {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
    }

    pub(super) fn allocations_on_this_thread() -> u64 {
        ALLOCATIONS.try_with(Cell::get).unwrap_or(0)
    }

    // SAFETY: every call is passed straight to the system allocator.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            count();
            unsafe { System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            count();
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            count();
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            count();
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static COUNTING: Counting = Counting;

    const RATE: u32 = 48_000;
    const BLOCK: usize = 480;
    /// Simulated station seconds per real second: fast, while the decoders
    /// (whose rings hold whole test files) never fall behind.
    const SPEED: f64 = 20.0;
    const CUT: u64 = (RATE * CUT_FADE_MS / 1000) as u64;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Heard {
        Started(ItemId, u64),
        Ended(ItemId, u64, EndHow),
    }

    /// A clock-paced engine whose first tap is recorded in full.
    struct Rig {
        engine: Engine,
        heard: Arc<Mutex<Vec<f32>>>,
        listening: Arc<AtomicBool>,
        listener: Option<JoinHandle<()>>,
        events: Vec<Heard>,
        retired: usize,
        stats: Vec<Arc<OutputStats>>,
        /// Holds the test files until the rig is gone.
        _dir: Scratch,
    }

    fn tap(name: &str, frames: usize) -> (Tap, rtrb::Consumer<f32>, Arc<OutputStats>) {
        let (ring, consumer) = rtrb::RingBuffer::new(frames * CHANNELS);
        let stats = Arc::new(OutputStats::default());
        let tap = Tap {
            name: name.into(),
            ring,
            stats: Arc::clone(&stats),
        };
        (tap, consumer, stats)
    }

    impl Rig {
        /// Starts the engine. `extra_taps`: ring sizes (frames) of taps
        /// nobody reads. Sources are opened before, so cues can go in at once.
        fn start(dir: Scratch, extra_taps: &[usize]) -> Self {
            let start = Utc::now();
            let clock = Clock::Simulated {
                start,
                speed: SPEED,
                epoch: SystemTime::now(),
            };
            // Frame 0 is heard half a station second from now, giving the
            // test time to cue.
            let timeline = Timeline {
                rate: RATE,
                anchor: start + TimeDelta::milliseconds(500),
            };
            let (first, mut consumer, first_stats) = tap("recorder", 4 * RATE as usize);
            let mut taps = vec![first];
            let mut stats = vec![first_stats];
            for (i, frames) in extra_taps.iter().enumerate() {
                let (t, consumer, s) = tap(&format!("stalled-{i}"), *frames);
                // Nobody reads these; keep the reading end alive.
                std::mem::forget(consumer);
                taps.push(t);
                stats.push(s);
            }
            let engine = start_engine(timeline, clock, taps, None);
            let heard = Arc::new(Mutex::new(Vec::new()));
            let listening = Arc::new(AtomicBool::new(true));
            let listener = {
                let heard = Arc::clone(&heard);
                let listening = Arc::clone(&listening);
                std::thread::spawn(move || {
                    let mut buf = vec![0.0; 8192];
                    loop {
                        let n = consumer.slots().min(buf.len());
                        if n > 0 {
                            consumer.pop_entire_slice(&mut buf[..n]).unwrap();
                            heard.lock().unwrap().extend_from_slice(&buf[..n]);
                        } else if !listening.load(Ordering::Acquire) {
                            return;
                        } else {
                            std::thread::sleep(Duration::from_micros(200));
                        }
                    }
                })
            };
            Rig {
                engine,
                heard,
                listening,
                listener: Some(listener),
                events: Vec::new(),
                retired: 0,
                stats,
                _dir: dir,
            }
        }

        fn send(&mut self, command: Command) {
            if self.engine.commands.push(command).is_err() {
                panic!("the command ring is full");
            }
        }

        fn cue(
            &mut self,
            id: ItemId,
            source: Source,
            start: Start,
            hard_end: Option<u64>,
            fade: u32,
        ) {
            self.send(Command::Cue {
                id,
                source,
                start,
                hard_end,
                fade,
            });
        }

        fn collect(&mut self) {
            while let Ok(event) = self.engine.events.pop() {
                match event {
                    Event::Started { id, at } => self.events.push(Heard::Started(id, at)),
                    Event::Ended { id, at, how } => self.events.push(Heard::Ended(id, at, how)),
                    Event::Retired(source) => {
                        self.retired += 1;
                        drop(source);
                    }
                }
            }
        }

        /// Runs until the engine has made `frame` frames.
        fn run_to(&mut self, frame: u64) {
            let deadline = Instant::now() + Duration::from_secs(30);
            while self.engine.meters.position() < frame {
                self.collect();
                assert!(
                    Instant::now() < deadline,
                    "the engine stalled at {}",
                    self.engine.meters.position()
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            self.collect();
        }

        /// Stops the engine; returns the first tap's audio, left channel.
        fn finish(mut self) -> (Vec<f32>, Vec<Heard>, Arc<Meters>, Vec<Arc<OutputStats>>) {
            let meters = Arc::clone(&self.engine.meters);
            self.collect();
            self.listening.store(false, Ordering::Release);
            if let Some(listener) = self.listener.take() {
                listener.join().unwrap();
            }
            let stereo = std::mem::take(&mut *self.heard.lock().unwrap());
            let left: Vec<f32> = stereo.iter().step_by(2).copied().collect();
            let events = std::mem::take(&mut self.events);
            let stats = std::mem::take(&mut self.stats);
            (left, events, meters, stats)
        }
    }

    impl Drop for Rig {
        fn drop(&mut self) {
            self.listening.store(false, Ordering::Release);
            self.engine.stop_thread();
            self.collect();
        }
    }

    /// Opens a test file with a ring holding all of it, fully decoded.
    fn source(path: &Path, looped: bool) -> Source {
        let (source, info, watch) = decoder::open(
            path,
            &OpenOptions {
                rate: RATE,
                offset: 0,
                looped,
                ring_frames: 100_000,
            },
        )
        .unwrap();
        if !looped {
            wait_buffered(&watch, info.duration.unwrap());
        }
        source
    }

    /// A source of `frames` frames at a constant `level`.
    fn level(dir: &Scratch, name: &str, frames: u64, level: f32) -> Source {
        source(&wav(dir, name, frames, |_| level), false)
    }

    fn start_engine(
        timeline: Timeline,
        clock: Clock,
        taps: Vec<Tap>,
        master: Option<usize>,
    ) -> Engine {
        start(
            EngineSettings {
                timeline,
                clock,
                block_frames: BLOCK,
                lead: TimeDelta::zero(),
            },
            taps,
            master,
        )
        .unwrap()
    }

    /// The frames of `heard` in `range` all equal `level`.
    fn assert_level(heard: &[f32], range: std::ops::Range<usize>, level: f32) {
        for i in range {
            assert_eq!(heard[i], level, "frame {i}");
        }
    }

    fn ramp_value(n: u64) -> f32 {
        (n % 4096) as f32 / 4096.0 - 0.5
    }

    #[test]
    fn at_starts_on_its_frame_and_after_chains_without_a_gap() {
        let dir = Scratch::new("chain");
        let a = level(&dir, "a.wav", 1000, 0.25);
        let b = level(&dir, "b.wav", 700, 0.5);
        let c = level(&dir, "c.wav", 500, -0.5);
        // Cued in the opposite order: chaining does not depend on it.
        let mut rig = Rig::start(dir, &[]);
        rig.cue(1, a, Start::At(10_007), None, 0);
        rig.cue(2, b, Start::After(1), None, 0);
        rig.cue(3, c, Start::After(2), None, 0);
        rig.run_to(20_000);
        let (heard, events, _, _) = rig.finish();
        assert_level(&heard, 0..10_007, 0.0);
        assert_level(&heard, 10_007..11_007, 0.25);
        assert_level(&heard, 11_007..11_707, 0.5);
        assert_level(&heard, 11_707..12_207, -0.5);
        assert_level(&heard, 12_207..20_000, 0.0);
        assert_eq!(
            events,
            [
                Heard::Started(1, 10_007),
                Heard::Ended(1, 11_007, EndHow::Natural),
                Heard::Started(2, 11_007),
                Heard::Ended(2, 11_707, EndHow::Natural),
                Heard::Started(3, 11_707),
                Heard::Ended(3, 12_207, EndHow::Natural),
            ]
        );
    }

    #[test]
    fn hard_end_fades_to_zero_and_the_next_item_starts_on_that_frame() {
        let dir = Scratch::new("hard-end");
        let long = level(&dir, "long.wav", 48_000, 0.5);
        let next = level(&dir, "next.wav", 2_000, 0.25);
        let inside = level(&dir, "inside.wav", 48_000, 0.5);
        let too_late = level(&dir, "late.wav", 1_000, 0.5);
        let mut rig = Rig::start(dir, &[]);
        rig.cue(1, long, Start::At(0), Some(20_000), 4_800);
        rig.cue(2, next, Start::At(20_000), None, 0);
        // Starts with 1000 frames to go in a 4800-frame fade.
        rig.cue(3, inside, Start::At(30_000), Some(31_000), 4_800);
        // Starts at its own hard end: never heard.
        rig.cue(4, too_late, Start::At(40_000), Some(40_000), 0);
        rig.run_to(45_000);
        let (heard, events, _, _) = rig.finish();

        assert_level(&heard, 0..15_201, 0.5);
        for i in 15_201..20_000 {
            let want = 0.5 * (20_000 - i) as f32 / 4_800.0;
            assert!(
                (heard[i] - want).abs() < 1e-6,
                "frame {i}: {} is not {want}",
                heard[i]
            );
            assert!(heard[i] < heard[i - 1], "frame {i} does not fall");
        }
        assert!(heard[19_999] <= 0.5 / 4_800.0 + 1e-7);
        assert_level(&heard, 20_000..22_000, 0.25);
        // Late into its fade: it starts at the fade's level, not at full.
        assert_level(&heard, 22_000..30_000, 0.0);
        assert!(
            (heard[30_000] - 0.5 * 1_000.0 / 4_800.0).abs() < 1e-6,
            "{}",
            heard[30_000]
        );
        assert_level(&heard, 31_000..45_000, 0.0);
        assert_eq!(
            &events[..6],
            [
                Heard::Ended(4, 0, EndHow::Cancelled),
                Heard::Started(1, 0),
                Heard::Ended(1, 20_000, EndHow::Faded),
                Heard::Started(2, 20_000),
                Heard::Ended(2, 22_000, EndHow::Natural),
                Heard::Started(3, 30_000),
            ]
        );
        assert_eq!(events[6], Heard::Ended(3, 31_000, EndHow::Faded));
    }

    #[test]
    fn late_cue_starts_at_once_in_line_with_its_schedule_and_cuts_the_rest() {
        let dir = Scratch::new("late");
        let bed = level(&dir, "bed.wav", 96_000, 0.5);
        let path = wav(&dir, "ramp.wav", 96_000, ramp_value);
        let programme = source(&path, false);
        let mut rig = Rig::start(dir, &[]);
        rig.cue(1, bed, Start::At(0), None, 0);
        rig.run_to(30_000);
        // Due at 10 000, cued at 30 000 or later.
        rig.cue(2, programme, Start::At(10_000), None, 0);
        rig.run_to(60_000);
        let (heard, events, _, _) = rig.finish();
        let started = events
            .iter()
            .find_map(|e| match e {
                Heard::Started(2, at) => Some(*at as usize),
                _ => None,
            })
            .unwrap();
        assert!(started >= 30_000, "{started}");
        assert_eq!(heard[started - 1], 0.5);
        // The bed is cut with a short fade…
        assert!(
            events.contains(&Heard::Ended(1, (started as u64) + CUT, EndHow::Cut)),
            "{events:?}"
        );
        // …and the programme plays as if it had started at 10 000.
        let from = started + CUT as usize;
        for (x, got) in (from..).zip(&heard[from..started + 20_000]) {
            let want = ramp_value(x as u64 - 10_000);
            assert!((got - want).abs() < 1e-6, "frame {x}: {got} is not {want}");
        }
    }

    #[test]
    fn stop_fades_a_playing_item_and_cancels_a_cued_one() {
        let dir = Scratch::new("stop");
        let playing = level(&dir, "playing.wav", 96_000, 0.5);
        let cued = level(&dir, "cued.wav", 1_000, 0.5);
        let follower = level(&dir, "follower.wav", 1_000, 0.5);
        let mut rig = Rig::start(dir, &[]);
        rig.cue(1, playing, Start::At(0), None, 0);
        rig.cue(2, cued, Start::At(1_000_000), None, 0);
        rig.cue(3, follower, Start::After(2), None, 0);
        rig.run_to(20_000);
        rig.send(Command::Stop { id: 1, fade: 960 });
        rig.send(Command::Stop { id: 2, fade: 960 });
        rig.run_to(40_000);
        let (heard, events, _, _) = rig.finish();
        let stopped = events
            .iter()
            .find_map(|e| match e {
                Heard::Ended(1, at, EndHow::Stopped) => Some(*at as usize),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{events:?}"));
        assert_eq!(heard[stopped - 961], 0.5);
        for i in stopped - 959..stopped {
            assert!(heard[i] < heard[i - 1], "frame {i} does not fall");
        }
        assert_level(&heard, stopped..40_000, 0.0);
        // The cued item and the one chained after it never play.
        let at = (stopped - 960) as u64;
        assert!(
            events.contains(&Heard::Ended(2, at, EndHow::Cancelled)),
            "{events:?}"
        );
        assert!(
            events.contains(&Heard::Ended(3, at, EndHow::Cancelled)),
            "{events:?}"
        );
        assert!(!events.iter().any(|e| matches!(e, Heard::Started(2 | 3, _))));
    }

    #[test]
    fn standby_fills_a_hole_until_something_starts() {
        let dir = Scratch::new("standby");
        let path = wav(&dir, "emergency.wav", 4_800, |_| 0.125);
        let emergency = source(&path, true);
        let first = level(&dir, "first.wav", 9_600, 0.5);
        let next = level(&dir, "next.wav", 9_600, 0.25);
        let mut rig = Rig::start(dir, &[]);
        rig.send(Command::Standby {
            id: 99,
            source: emergency,
            after: 4_800,
        });
        rig.cue(1, first, Start::At(0), None, 0);
        rig.cue(2, next, Start::At(48_000), None, 0);
        rig.run_to(60_000);
        let (heard, events, meters, _) = rig.finish();
        assert_level(&heard, 0..9_600, 0.5);
        // 4800 frames of dead air, then the standby, looping past its end.
        assert_level(&heard, 9_600..14_400, 0.0);
        assert_level(&heard, 14_400..48_000, 0.125);
        assert_level(&heard, 48_000 + CUT as usize..57_600, 0.25);
        assert_eq!(
            events,
            [
                Heard::Started(1, 0),
                Heard::Ended(1, 9_600, EndHow::Natural),
                Heard::Started(99, 14_400),
                Heard::Started(2, 48_000),
                Heard::Ended(99, 48_000 + CUT, EndHow::Cut),
                Heard::Ended(2, 57_600, EndHow::Natural),
            ]
        );
        assert_eq!(meters.on_air(), None);
    }

    #[test]
    fn a_full_tap_drops_blocks_and_counts_them_without_stalling_the_others() {
        // The second tap holds two blocks and is never read.
        let dir = Scratch::new("full-tap");
        let tone = level(&dir, "tone.wav", 30_000, 0.5);
        let mut rig = Rig::start(dir, &[2 * BLOCK]);
        rig.cue(1, tone, Start::At(1_000), None, 0);
        rig.run_to(48_000);
        rig.engine.stop_thread();
        let (heard, _, meters, stats) = rig.finish();
        let made = meters.position() as usize;
        assert_eq!(heard.len(), made, "the first tap missed audio");
        assert_level(&heard, 1_000..31_000, 0.5);
        assert_eq!(stats[0].frames_dropped.load(Ordering::Relaxed), 0);
        assert_eq!(
            stats[1].frames_dropped.load(Ordering::Relaxed) as usize,
            made - 2 * BLOCK
        );
    }

    #[test]
    fn an_underrun_plays_silence_and_the_item_carries_on() {
        let dir = Scratch::new("underrun");
        let path = wav(&dir, "slow.wav", 48_000, |_| 0.5);
        // A ring this small cannot keep up with a 20× clock.
        let (source, _, _) = decoder::open(
            &path,
            &OpenOptions {
                rate: RATE,
                offset: 0,
                looped: false,
                ring_frames: 256,
            },
        )
        .unwrap();
        let mut rig = Rig::start(dir, &[]);
        rig.cue(1, source, Start::At(0), None, 0);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !rig.events.iter().any(|e| matches!(e, Heard::Ended(1, ..))) {
            assert!(Instant::now() < deadline);
            rig.run_to(rig.engine.meters.position() + 4_800);
        }
        let (heard, events, meters, _) = rig.finish();
        let underruns = meters.underrun_frames();
        assert!(underruns > 0);
        // Every frame of the file was heard, late by the underruns.
        assert_eq!(heard.iter().filter(|s| **s == 0.5).count(), 48_000);
        assert!(
            events.contains(&Heard::Ended(1, 48_000 + underruns, EndHow::Natural)),
            "{events:?}"
        );
    }

    #[test]
    fn a_cue_with_no_free_slot_is_cancelled() {
        let dir = Scratch::new("slots");
        let sources: Vec<Source> = (0..=SLOTS)
            .map(|i| level(&dir, &format!("{i}.wav"), 100, 0.5))
            .collect();
        let mut rig = Rig::start(dir, &[]);
        for (id, source) in (1..).zip(sources) {
            rig.cue(id, source, Start::At(1_000_000 + id), None, 0);
        }
        rig.run_to(2_000);
        let overflow = SLOTS as u64 + 1;
        assert_eq!(rig.events, [Heard::Ended(overflow, 0, EndHow::Cancelled)]);
        assert_eq!(rig.retired, 1);
    }

    #[test]
    fn the_master_output_paces_the_engine() {
        let (device, mut consumer, _) = tap("device", 4 * BLOCK);
        // A wall clock that would let the engine run years ahead.
        let timeline = Timeline {
            rate: RATE,
            anchor: Utc::now() - TimeDelta::days(365),
        };
        let engine = start_engine(timeline, Clock::Wall, vec![device], Some(0));
        std::thread::sleep(Duration::from_millis(50));
        // The device took nothing: the engine filled its ring and waits.
        assert_eq!(engine.meters.position(), 4 * BLOCK as u64);
        let mut buf = vec![0.0; 2 * BLOCK * CHANNELS];
        consumer.pop_entire_slice(&mut buf).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while engine.meters.position() < 6 * BLOCK as u64 {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(engine.meters.position(), 6 * BLOCK as u64);
        engine.shutdown();
    }

    #[test]
    fn settings_that_cannot_work_are_refused() {
        let timeline = Timeline {
            rate: RATE,
            anchor: Utc::now(),
        };
        let settings = |block_frames| EngineSettings {
            timeline,
            clock: Clock::Wall,
            block_frames,
            lead: TimeDelta::zero(),
        };
        assert!(matches!(
            start(settings(0), vec![], None),
            Err(EngineError::Block(0))
        ));
        let err = start(settings(BLOCK), vec![], Some(0)).err().unwrap();
        assert!(
            matches!(err, EngineError::NoSuchMaster { index: 0, count: 0 }),
            "{err}"
        );
        // A tap that cannot hold one block would never take a block.
        let (small, _consumer, _) = tap("tiny", BLOCK - 1);
        let err = start(settings(BLOCK), vec![small], None).err().unwrap();
        assert!(err.to_string().contains("tiny"), "{err}");
    }

    #[test]
    fn the_mixer_thread_never_allocates() {
        let dir = Scratch::new("alloc");
        let path = wav(&dir, "emergency.wav", 4_800, |_| 0.125);
        let emergencies: Vec<Source> = (0..4).map(|_| source(&path, true)).collect();
        let rounds: Vec<[Source; 3]> = (0..6)
            .map(|round| {
                [
                    level(&dir, &format!("a{round}.wav"), 12_000, 0.5),
                    level(&dir, &format!("b{round}.wav"), 6_000, 0.25),
                    level(&dir, &format!("c{round}.wav"), 48_000, 0.3),
                ]
            })
            .collect();
        let mut rig = Rig::start(dir, &[BLOCK * 2]);
        let mut emergencies = (99..).zip(emergencies);
        let mut at = 0;
        for (round, [a, b, c]) in (0..).zip(rounds) {
            if round % 2 == 0
                && let Some((id, source)) = emergencies.next()
            {
                rig.send(Command::Standby {
                    id,
                    source,
                    after: 2_400,
                });
            }
            let id = 10 * round;
            // A scheduled start with a hard-end fade, a gapless follower,
            // an item stopped part-way, and a hole the standby fills.
            rig.cue(id + 1, a, Start::At(at + 1_234), Some(at + 10_000), 2_000);
            rig.cue(id + 2, b, Start::After(id + 1), None, 0);
            rig.cue(id + 3, c, Start::After(id + 2), None, 0);
            rig.run_to(at + 20_000);
            rig.send(Command::EndAt {
                id: id + 3,
                at: at + 40_000,
                fade: 4_800,
            });
            rig.send(Command::Stop {
                id: id + 3,
                fade: 960,
            });
            at += 48_000;
            rig.run_to(at);
        }
        let blocks = rig.engine.meters.heartbeat();
        let (_, events, meters, stats) = rig.finish();
        assert!(blocks > 500, "{blocks}");
        assert!(stats[1].frames_dropped.load(Ordering::Relaxed) > 0);
        // All the kinds of event happened…
        for how in [EndHow::Faded, EndHow::Stopped, EndHow::Cut, EndHow::Natural] {
            assert!(
                events
                    .iter()
                    .any(|e| matches!(e, Heard::Ended(_, _, h) if *h == how)),
                "{how:?}"
            );
        }
        // …without one allocation or free on the mixer thread.
        assert_eq!(meters.allocations.load(Ordering::Relaxed), 0);
    }
}
