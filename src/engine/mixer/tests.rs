use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::sync::Mutex;
use std::thread::JoinHandle;
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

pub(crate) fn allocations_on_this_thread() -> u64 {
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
        let recorder = Arc::clone(&first_stats);
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
                // Woken as an output's thread is: the mixer rings when its
                // push brings the ring to a batch.
                recorder.bells.drainer.answer(4 * BLOCK * CHANNELS);
                let mut buf = vec![0.0; 8192];
                loop {
                    let n = consumer.slots().min(buf.len());
                    if n > 0 {
                        consumer.pop_entire_slice(&mut buf[..n]).unwrap();
                        heard.lock().unwrap().extend_from_slice(&buf[..n]);
                    } else if !listening.load(Ordering::Acquire) {
                        return;
                    } else {
                        Bell::wait(Duration::from_millis(2));
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

    fn cue(&mut self, id: ItemId, source: Source, start: Start, hard_end: Option<u64>, fade: u32) {
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

fn start_engine(timeline: Timeline, clock: Clock, taps: Vec<Tap>, master: Option<usize>) -> Engine {
    start(
        EngineSettings {
            timeline,
            clock,
            block_frames: BLOCK,
            lead: TimeDelta::zero(),
            silence_db: -40.0,
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

/// Waits up to `timeout` for `fd` to become readable.
fn readable(fd: BorrowedFd<'_>, timeout: Duration) -> bool {
    let mut poll = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the length of the call.
    let ready = unsafe { libc::poll(&mut poll, 1, timeout.as_millis() as libc::c_int) };
    ready == 1 && poll.revents & libc::POLLIN != 0
}

#[test]
fn the_event_bell_rings_when_the_mixer_has_news() {
    let dir = Scratch::new("bell");
    let tone = level(&dir, "tone.wav", 4_800, 0.5);
    let mut rig = Rig::start(dir, &[]);
    rig.run_to(4_800);
    // Nothing has happened yet: the bell is quiet.
    assert!(!readable(
        rig.engine.event_bell(),
        Duration::from_millis(50)
    ));
    rig.cue(
        1,
        tone,
        Start::At(rig.engine.meters.position() + 4_800),
        None,
        0,
    );
    assert!(
        readable(rig.engine.event_bell(), Duration::from_secs(10)),
        "no ring for the start"
    );
    let mut count = [0u8; 8];
    // SAFETY: 8 writable bytes; the fd is the engine's eventfd.
    let got = unsafe {
        libc::read(
            rig.engine.event_bell().as_raw_fd(),
            count.as_mut_ptr().cast(),
            count.len(),
        )
    };
    assert_eq!(got, 8);
    assert!(u64::from_ne_bytes(count) >= 1);
    assert!(matches!(
        rig.engine.events.pop(),
        Ok(Event::Started { id: 1, .. })
    ));
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
        silence_db: -40.0,
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
                // A ring much shorter than the file: the mixer wakes its
                // decoder as it plays.
                decoder::open(
                    &wav(&dir, &format!("c{round}.wav"), 48_000, |_| 0.3),
                    &OpenOptions {
                        rate: RATE,
                        offset: 0,
                        looped: false,
                        ring_frames: 2_400,
                    },
                )
                .unwrap()
                .0,
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
