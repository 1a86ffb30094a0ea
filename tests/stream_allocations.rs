//! The stream encoder's thread allocates nothing once the stream runs: the
//! MP3 it hands its senders and the archive comes in buffers it reuses,
//! and the programme's levels the archive measures travel in its queue. A test binary of
//! its own, so that it can count allocations with an allocator of its own,
//! on the encoder's real thread, behind the real runner.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use onair::clock::{Clock, Timeline};
use onair::config::{BitrateMode, IcecastConfig, OutputConfig};
use onair::output::{self, CHANNELS, OutputContext};

/// Counts allocations, reallocations and frees made by one thread.
struct Counting;

/// The thread whose allocations count (its kernel thread id); -1: none.
static WATCHED: AtomicI64 = AtomicI64::new(-1);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

fn count() {
    let watched = WATCHED.load(Ordering::Relaxed);
    // SAFETY: gettid has no preconditions and cannot fail.
    if watched >= 0 && unsafe { libc::syscall(libc::SYS_gettid) } == watched {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
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
/// What the mixer pushes at a time at speed 1: one 40 ms burst.
const BLOCK: usize = 1920;

fn stream(port: u16, mount: &str) -> OutputConfig {
    OutputConfig::Icecast(IcecastConfig {
        host: "127.0.0.1".to_string(),
        port,
        mount: mount.to_string(),
        user: "source".to_string(),
        password: "unused".to_string(),
        bitrate: 128,
        mode: BitrateMode::Cbr,
        sample_rate: None,
        name: None,
        description: None,
        genre: None,
        url: None,
        public: false,
        reconnect_max_seconds: 30,
    })
}

/// The kernel id of this process's thread whose name starts with `prefix`
/// (a new thread names itself once it runs: it is waited for).
fn thread_named(prefix: &str) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let tasks = std::fs::read_dir("/proc/self/task").expect("cannot list /proc/self/task");
        let found: Vec<i64> = tasks
            .filter_map(|task| {
                let task = task.ok()?;
                let name = std::fs::read_to_string(task.path().join("comm")).ok()?;
                name.starts_with(prefix)
                    .then(|| task.file_name().to_str()?.parse().ok())?
            })
            .collect();
        if found.len() == 1 || Instant::now() > deadline {
            assert_eq!(found.len(), 1, "threads named {prefix:?}: {found:?}");
            return found[0];
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn tone(offset: usize) -> Vec<f32> {
    (offset..offset + BLOCK)
        .flat_map(|n| {
            let x = (n as f32 * 2.0 * std::f32::consts::PI * 440.0 / RATE as f32).sin() * 0.5;
            [x, x]
        })
        .collect()
}

#[test]
fn the_encoders_thread_allocates_nothing_while_it_hands_out_chunks() {
    // The count sees what a watched thread allocates (here: this one).
    // SAFETY: gettid has no preconditions and cannot fail.
    WATCHED.store(
        unsafe { libc::syscall(libc::SYS_gettid) },
        Ordering::Relaxed,
    );
    let boxed = std::hint::black_box(Box::new([0u8; 64]));
    drop(boxed);
    WATCHED.store(-1, Ordering::Relaxed);
    assert_eq!(
        ALLOCATIONS.swap(0, Ordering::Relaxed),
        2,
        "one allocation, one free"
    );

    // A port nobody listens on: both senders discard what they get, at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let ctx = OutputContext {
        rate: RATE,
        timeline: Timeline {
            rate: RATE,
            anchor: Utc::now(),
        },
        clock: Clock::Wall,
        timezone: chrono_tz::UTC,
        station: "Test FM".to_string(),
    };
    let configs = [stream(port, "/a.mp3"), stream(port, "/b.mp3")];
    // The archive takes the same MP3 and measures the programme.
    let archive_dir = std::env::temp_dir().join(format!("onair-alloc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&archive_dir);
    let mut archive = onair::archive::start(onair::archive::ArchiveSettings {
        dir: archive_dir.clone(),
        channel: "fm".to_string(),
        bitrate: 128,
        segment_seconds: 6,
        anchor: ctx.timeline.anchor,
        engine_rate: RATE,
        retention: Default::default(),
    })
    .unwrap();
    let subscriptions = archive.subscription.take().into_iter().collect();
    let mut opened = output::open_with(&configs, subscriptions, &ctx).unwrap();
    assert_eq!(
        opened.taps.len(),
        1,
        "two streams and the archive, one encoder"
    );
    let encoder = thread_named("output encoder");
    let stats = opened.outputs.stats();
    let tap = &mut opened.taps[0];
    let blocks: Vec<Vec<f32>> = (0..4).map(|n| tone(n * BLOCK)).collect();

    // One block at a time, as the box's pace gives them; the runner takes
    // them a batch at a time, each batch before more is pushed.
    let batch =
        (tap.ring.buffer().capacity() / onair::pacing::RUNNER_BATCH_PARTS / CHANNELS) as u64;
    let mut pushed = 0u64;
    let mut feed = |count: usize, tap: &mut output::Tap| {
        for n in 0..count {
            let block = &blocks[n % blocks.len()];
            // As the mixer does: the runner is rung when a batch is in.
            tap.push_block(block);
            pushed += (block.len() / CHANNELS) as u64;
            let until = Instant::now() + Duration::from_millis(500);
            while pushed - tap.stats.frames_out.load(Ordering::Relaxed) >= batch
                && Instant::now() < until
            {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    };
    // Warming up: the first encoder outputs, the senders' first attempts.
    feed(50, tap);
    let discarded_before = stats[0].1.stream.as_ref().unwrap().state().frames_discarded;
    WATCHED.store(encoder, Ordering::Relaxed);
    feed(100, tap);
    WATCHED.store(-1, Ordering::Relaxed);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);

    let tap_stats = std::sync::Arc::clone(&tap.stats);
    opened.outputs.shutdown().unwrap();
    // What was left short of a batch is written at the stop.
    let taken = tap_stats.frames_out.load(Ordering::Relaxed);
    assert_eq!(taken, 150 * BLOCK as u64, "the runner took every block");
    // The chunks did reach the senders meanwhile (which discarded them).
    let discarded = stats[0].1.stream.as_ref().unwrap().state().frames_discarded;
    assert!(
        discarded >= discarded_before + 90 * BLOCK as u64,
        "{discarded_before} then {discarded}"
    );
    assert_eq!(
        allocations, 0,
        "the encoder's thread allocated or freed while handing out 100 chunks"
    );
    // The archive did get them, with their levels: its segments' peaks
    // were drawn from the programme, the first one's apart.
    archive.thread.join().unwrap().unwrap();
    assert!(archive.stats.frames_out.load(Ordering::Relaxed) >= 5 * RATE as u64);
    assert_eq!(archive.peaks_decoded.load(Ordering::Relaxed), 1);
    std::fs::remove_dir_all(&archive_dir).unwrap();
}
