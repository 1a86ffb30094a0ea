use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use chrono::{DateTime, Utc};

use super::*;

fn context(clock: Clock) -> OutputContext {
    OutputContext {
        rate: 48_000,
        timeline: Timeline {
            rate: 48_000,
            anchor: DateTime::parse_from_rfc3339("2026-06-01T05:59:58.5Z")
                .unwrap()
                .to_utc(),
        },
        clock,
        timezone: chrono_tz::Europe::London,
        station: "Radio Test".to_string(),
    }
}

fn folder(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("onair-out-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn tone(frames: usize, offset: usize) -> Vec<f32> {
    (offset..offset + frames)
        .flat_map(|n| {
            let x = (n as f32 * 2.0 * std::f32::consts::PI * 440.0 / 48_000.0 + 0.1).sin() * 0.8;
            [x, x * 0.5]
        })
        .collect()
}

/// The mixer's side of a tap: push a block whole or drop it and count it.
fn push(tap: &mut Tap, block: &[f32]) -> bool {
    tap.push_block(block)
}

/// `blocks` blocks of tone to every tap, as fast as the outputs take them:
/// a block a full ring refuses is offered again, not dropped.
fn feed(taps: &mut [Tap], blocks: u64) {
    for block in 0..blocks {
        let samples = tone(480, block as usize * 480);
        for tap in taps.iter_mut() {
            while !push(tap, &samples) {
                tap.stats.frames_dropped.fetch_sub(480, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

#[test]
fn a_tone_fed_to_a_tap_is_recorded_with_the_timelines_anchor() {
    let dir = folder("tone");
    let path = dir.join("logger/air.wav");
    let ctx = context(Clock::Wall);
    let configs = [OutputConfig::Wav { path: path.clone() }, OutputConfig::Null];
    let OpenOutputs {
        mut taps,
        master,
        outputs,
    } = open(&configs, &ctx).unwrap();
    assert_eq!(master, None, "file outputs do not pace the engine");
    let names: Vec<String> = outputs.stats().into_iter().map(|(name, _)| name).collect();
    assert_eq!(
        names,
        [format!("wav {}", path.display()), "null".to_string()]
    );

    // 3 s of programme in 10 ms blocks, faster than real time: more than
    // the 2 s ring holds at once, so the runners must keep draining.
    feed(&mut taps, 300);
    let stats = outputs.stats();
    outputs.shutdown().unwrap();

    let mut reader = hound::WavReader::open(&path).unwrap();
    assert_eq!(reader.spec().sample_rate, 48_000);
    let samples: Vec<i16> = reader.samples::<i16>().map(|s| s.unwrap()).collect();
    let expected = tone(144_000, 0);
    assert_eq!(samples.len(), expected.len());
    for (i, (&got, &want)) in samples.iter().zip(&expected).enumerate() {
        let exact = (want * 32767.0).round() as i32;
        assert!(
            (got as i32 - exact).abs() <= 1,
            "sample {i}: {got} vs {exact}"
        );
    }
    assert_eq!(wav::anchor_of(&path).unwrap(), Some(ctx.timeline.anchor));
    for (name, stats) in stats {
        assert_eq!(stats.frames_out.load(Ordering::Relaxed), 144_000, "{name}");
        assert_eq!(stats.frames_dropped.load(Ordering::Relaxed), 0, "{name}");
        assert_eq!(stats.errors.load(Ordering::Relaxed), 0, "{name}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dropping_the_outputs_still_finalises_the_recording() {
    let dir = folder("drop");
    let path = dir.join("air.wav");
    let ctx = context(Clock::Wall);
    let mut opened = open(&[OutputConfig::Wav { path: path.clone() }], &ctx).unwrap();
    assert!(push(&mut opened.taps[0], &tone(4800, 0)));
    drop(opened);
    let reader = hound::WavReader::open(&path).unwrap();
    assert_eq!(reader.len(), 9600);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn file_rings_hold_two_real_seconds_within_bounds() {
    let simulated = |speed| Clock::Simulated {
        start: Utc::now(),
        speed,
        epoch: SystemTime::now(),
    };
    for (speed, seconds) in [(1.0, 2), (0.25, 1), (10.0, 20), (3600.0, 60)] {
        let opened = open(&[OutputConfig::Null], &context(simulated(speed))).unwrap();
        let capacity = opened.taps[0].ring.buffer().capacity();
        assert_eq!(capacity, 48_000 * seconds * CHANNELS, "speed {speed}");
    }
}

#[test]
fn alsa_is_refused_when_the_clock_is_not_real_time() {
    let clock = Clock::Simulated {
        start: Utc::now(),
        speed: 60.0,
        epoch: SystemTime::now(),
    };
    let configs = [OutputConfig::Alsa {
        device: "default".to_string(),
    }];
    let message = match open(&configs, &context(clock)) {
        Ok(_) => panic!("an ALSA output was opened on a clock at speed 60"),
        Err(e) => e.to_string(),
    };
    assert!(message.contains("plays in real time"), "{message}");
    assert!(
        message.contains("use clock speed 1 or a wav/null output"),
        "{message}"
    );
}

#[test]
fn outputs_of_the_same_kind_get_names_apart() {
    let opened = open(
        &[OutputConfig::Null, OutputConfig::Null, OutputConfig::Null],
        &context(Clock::Wall),
    )
    .unwrap();
    let names: Vec<&str> = opened.taps.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["null", "null (2)", "null (3)"]);
}

fn stream_to(port: u16, mount: &str, bitrate: u32) -> OutputConfig {
    OutputConfig::Icecast(crate::config::IcecastConfig::local(port, mount, bitrate))
}

#[test]
fn streams_with_the_same_mp3_share_one_tap_and_each_keeps_its_counters() {
    // A port nobody listens on: every stream is down and discards.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let dir = folder("groups");
    let path = dir.join("air.wav");
    let configs = [
        stream_to(closed, "/a.mp3", 128),
        OutputConfig::Wav { path: path.clone() },
        stream_to(closed, "/b.mp3", 128),
        stream_to(closed, "/low.mp3", 64),
    ];
    let OpenOutputs {
        mut taps, outputs, ..
    } = open(&configs, &context(Clock::Wall)).unwrap();
    let tap_names: Vec<&str> = taps.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        tap_names,
        [
            "encoder MP3 128 kbit/s CBR 48000 Hz",
            &format!("wav {}", path.display()),
            "encoder MP3 64 kbit/s CBR 48000 Hz"
        ]
    );
    feed(&mut taps, 100);
    let stats = outputs.stats();
    outputs.shutdown().unwrap();

    // Every configured output is still shown, in order, with its own counters.
    let names: Vec<&str> = stats.iter().map(|(n, _)| n.as_str()).collect();
    let port = closed;
    assert_eq!(
        names,
        [
            format!("icecast 127.0.0.1:{port}/a.mp3"),
            format!("wav {}", path.display()),
            format!("icecast 127.0.0.1:{port}/b.mp3"),
            format!("icecast 127.0.0.1:{port}/low.mp3"),
        ]
    );
    for (index, shared_by) in [(0, 2), (2, 2), (3, 1)] {
        let (name, stats) = &stats[index];
        assert_eq!(stats.frames_out.load(Ordering::Relaxed), 48_000, "{name}");
        let state = stats.stream.as_ref().unwrap().state();
        assert_eq!(state.encoder_shared_by, shared_by, "{name}: {state:?}");
        assert_eq!(state.bytes_sent, 0, "{name}");
        // Down all along: all of it discarded, none dropped for a full queue.
        assert_eq!(state.frames_discarded, 48_000, "{name}: {state:?}");
        assert_eq!(state.frames_dropped_oldest, 0, "{name}");
    }
    let shared = |i: usize| stats[i].1.stream.as_ref().unwrap().state().encoder;
    assert_eq!(shared(0), shared(2));
    assert_ne!(shared(0), shared(3));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What a test output was asked to do.
#[derive(Default)]
struct Journal {
    written: u64,
    skipped: Vec<u64>,
    finished: bool,
}

/// A disk that stalls until the test lets it go, or fails its first writes.
struct TestDisk {
    journal: Arc<Mutex<Journal>>,
    stall: Option<std::sync::mpsc::Receiver<()>>,
    failures_left: u32,
}

impl Output for TestDisk {
    fn name(&self) -> String {
        "test disk".to_string()
    }

    fn write(&mut self, samples: &[f32]) -> Result<(), OutputError> {
        if let Some(stall) = self.stall.take() {
            let _ = stall.recv();
        }
        if self.failures_left > 0 {
            self.failures_left -= 1;
            return Err(OutputError::Io {
                name: self.name(),
                source: std::io::Error::from_raw_os_error(28),
            });
        }
        self.journal.lock().unwrap().written += (samples.len() / CHANNELS) as u64;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), OutputError> {
        self.journal.lock().unwrap().finished = true;
        Ok(())
    }

    fn skip(&mut self, frames: u64) -> Result<(), OutputError> {
        self.journal.lock().unwrap().skipped.push(frames);
        Ok(())
    }
}

/// Waits up to 5 s for `done`; returns how long it took.
fn time_until(done: impl Fn() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(5), "never happened");
        std::thread::sleep(Duration::from_millis(1));
    }
    start.elapsed()
}

#[test]
fn a_runner_wakes_for_a_batch_and_for_stop_not_after_a_nap() {
    let journal = Arc::new(Mutex::new(Journal::default()));
    let disk = TestDisk {
        journal: journal.clone(),
        stall: None,
        failures_left: 0,
    };
    let batch = 4800 / pacing::RUNNER_BATCH_PARTS;
    let (producer, consumer) = rtrb::RingBuffer::new(4800 * CHANNELS);
    let stats = Arc::new(OutputStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let thread = start_runner(
        Box::new(disk),
        consumer,
        stats.clone(),
        stop.clone(),
        RETRY_AFTER,
    )
    .unwrap();
    let mut tap = Tap {
        name: "test disk".to_string(),
        ring: producer,
        stats: stats.clone(),
    };
    time_until(|| stats.bells.drainer.answered());
    std::thread::sleep(Duration::from_millis(50));
    // Less than a batch waits; the push that makes a batch wakes the
    // runner at once, well before its safety nap would.
    assert!(push(&mut tap, &tone(batch - 16, 0)));
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(journal.lock().unwrap().written, 0);
    assert!(push(&mut tap, &tone(32, batch - 16)));
    let woke = time_until(|| journal.lock().unwrap().written == batch as u64 + 16);
    assert!(woke < pacing::SAFETY_NAP / 2, "woke after {woke:?}");

    // Stopping wakes it too: what is left is written and the output finished.
    assert!(push(&mut tap, &tone(32, batch + 16)));
    let mut outputs = Outputs {
        running: vec![OutputThread {
            name: "test disk".to_string(),
            stats,
            stop,
            thread: Some(thread),
        }],
        encoders: Vec::new(),
    };
    let started = Instant::now();
    outputs.stop_all().unwrap();
    let stopped = started.elapsed();
    assert!(
        stopped < pacing::SAFETY_NAP / 2,
        "stopped after {stopped:?}"
    );
    let journal = journal.lock().unwrap();
    assert_eq!(journal.written, batch as u64 + 48);
    assert!(journal.finished);
}

#[test]
fn a_stalled_output_never_blocks_the_producer() {
    let journal = Arc::new(Mutex::new(Journal::default()));
    let (release, stall) = std::sync::mpsc::channel();
    let disk = TestDisk {
        journal: journal.clone(),
        stall: Some(stall),
        failures_left: 0,
    };
    let (producer, consumer) = rtrb::RingBuffer::new(4800 * CHANNELS);
    let stats = Arc::new(OutputStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let thread = start_runner(
        Box::new(disk),
        consumer,
        stats.clone(),
        stop.clone(),
        RETRY_AFTER,
    )
    .unwrap();
    let mut tap = Tap {
        name: "test disk".to_string(),
        ring: producer,
        stats: stats.clone(),
    };

    // 5 s of programme against a disk that does not move: every push
    // returns at once, and what does not fit is dropped and counted.
    let started = Instant::now();
    let mut pushed = 0u64;
    for block in 0..500 {
        if push(&mut tap, &tone(480, block * 480)) {
            pushed += 480;
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let dropped = stats.frames_dropped.load(Ordering::Relaxed);
    assert!(dropped >= 240_000 - 4800 - 480, "dropped {dropped}");
    assert_eq!(pushed + dropped, 240_000);

    release.send(()).unwrap();
    stop.store(true, Ordering::Release);
    thread.join().unwrap().unwrap();
    let journal = journal.lock().unwrap();
    assert_eq!(journal.written, pushed);
    // The output is told how much went missing, so a recording keeps its time.
    assert_eq!(journal.skipped.iter().sum::<u64>(), dropped);
    assert!(journal.finished);
    assert_eq!(stats.frames_out.load(Ordering::Relaxed), pushed);
}

#[test]
fn a_failing_output_keeps_draining_and_tries_again() {
    let journal = Arc::new(Mutex::new(Journal::default()));
    let disk = TestDisk {
        journal: journal.clone(),
        stall: None,
        failures_left: 3,
    };
    let (producer, consumer) = rtrb::RingBuffer::new(4800 * CHANNELS);
    let stats = Arc::new(OutputStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let retry = Duration::from_millis(30);
    let thread =
        start_runner(Box::new(disk), consumer, stats.clone(), stop.clone(), retry).unwrap();
    let mut tap = Tap {
        name: "test disk".to_string(),
        ring: producer,
        stats: stats.clone(),
    };
    // A disk that is full for a while: the mixer still never has to drop.
    for block in 0..100 {
        let samples = tone(480, block * 480);
        while !push(&mut tap, &samples) {
            stats.frames_dropped.fetch_sub(480, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    stop.store(true, Ordering::Release);
    thread.join().unwrap().unwrap();

    let journal = journal.lock().unwrap();
    assert_eq!(stats.errors.load(Ordering::Relaxed), 3);
    assert_eq!(stats.frames_out.load(Ordering::Relaxed), 48_000);
    let lost: u64 = journal.skipped.iter().sum();
    assert!(lost >= 480 * 3, "lost {lost}");
    assert!(journal.written > 0);
    assert_eq!(journal.written + lost, 48_000);
}
