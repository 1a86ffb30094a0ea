//! The ALSA output against the real alsa-lib. There is no sound card here:
//! alsa-lib's `file` plugin stands in for one, writing what it is given to a
//! raw file. alsa-lib reads its configuration once per process, so each test
//! runs its body in a child process of this test binary with
//! `ALSA_CONFIG_PATH` pointing at a configuration written for it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chrono::DateTime;
use onair::clock::{Clock, Timeline};
use onair::config::OutputConfig;
use onair::output::{self, CHANNELS, OpenOutputs, OutputContext, Tap};

const SANDBOX: &str = "ONAIR_ALSA_SANDBOX";
const RATE: u32 = 48_000;

/// Runs `body` with alsa-lib reading the test's configuration; `body` gets
/// the folder where the devices write their raw files.
fn in_sandbox(test: &str, body: impl FnOnce(&Path)) {
    if let Some(dir) = std::env::var_os(SANDBOX) {
        // The output's log goes with the child's output, shown if the test fails.
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        body(Path::new(&dir));
        return;
    }
    let dir = std::env::temp_dir().join(format!("onair-alsa-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("asound.conf");
    std::fs::write(&conf, asound_conf(&dir)).unwrap();
    // The test's name in the suite: its module's path, less the crate's name.
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let name = format!("{module}::{test}");
    let child = Command::new(std::env::current_exe().unwrap())
        .args([name.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(SANDBOX, &dir)
        .env(
            "ALSA_CONFIG_PATH",
            format!("/usr/share/alsa/alsa.conf:{}", conf.display()),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&child.stdout);
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(
        child.status.success() && stdout.contains("1 passed"),
        "the test failed with ALSA's test configuration:\n{stdout}\n{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Stand-in sound cards: the default device and a named float device, both
/// taking anything as fast as they are fed; one that plays in real time
/// (ffmpeg reading the file plugin's pipe at its native rate); and one that
/// only takes integer samples and stores them as 16-bit.
fn asound_conf(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"
pcm.!default {{
    type file
    slave.pcm "null"
    file "{d}/default.raw"
    format "raw"
}}
pcm.onair_studio {{
    type file
    slave.pcm "null"
    file "{d}/studio.raw"
    format "raw"
    hint {{ show on description "onair test studio feed" }}
}}
pcm.onair_paced {{
    type file
    slave.pcm "null"
    file "| exec ffmpeg -nostdin -loglevel error -re -blocksize 3840 -f f32le -ar 48000 -ac 2 -i pipe:0 -c copy -f f32le -y {d}/paced.raw"
    format "raw"
    hint {{ show on description "onair test card in real time" }}
}}
pcm.onair_flaky {{
    type file
    slave.pcm "null"
    file "| echo opened >> {d}/flaky.opens"
    format "raw"
    hint {{ show on description "onair test card that fails" }}
}}
pcm.onair_s16 {{
    type linear
    slave {{ pcm "onair_s16_file"; format S16_LE }}
    hint {{ show on description "onair test 16-bit card" }}
}}
pcm.onair_s16_file {{
    type file
    slave.pcm "null"
    file "{d}/s16.raw"
    format "raw"
}}
"#
    )
}

fn context() -> OutputContext {
    OutputContext {
        rate: RATE,
        timeline: Timeline {
            rate: RATE,
            anchor: DateTime::parse_from_rfc3339("2026-06-01T06:00:00Z")
                .unwrap()
                .to_utc(),
        },
        clock: Clock::Wall,
        timezone: chrono_tz::Europe::London,
        station: "Radio Test".to_string(),
    }
}

fn alsa(device: &str) -> OutputConfig {
    OutputConfig::Alsa {
        device: device.to_string(),
    }
}

/// 1 kHz, never exactly zero, so silence the device adds can be told apart.
fn tone(frames: usize, offset: usize) -> Vec<f32> {
    (offset..offset + frames)
        .flat_map(|n| {
            let x =
                (n as f32 * 2.0 * std::f32::consts::PI * 1000.0 / RATE as f32 + 0.3).sin() * 0.5;
            [x, -x]
        })
        .collect()
}

/// The mixer's part with a master: wait for room, then write the whole block.
fn feed(taps: &mut [Tap], frames: usize) {
    for start in (0..frames).step_by(480) {
        let block = tone(480, start);
        for tap in taps.iter_mut() {
            while tap.ring.slots() < block.len() {
                std::thread::sleep(Duration::from_micros(200));
            }
            tap.ring.push_entire_slice(&block).unwrap();
        }
    }
}

/// Strength of `freq` in `samples` (Goertzel), relative to full scale.
fn level(samples: &[f32], freq: f32) -> f32 {
    let w = 2.0 * std::f32::consts::PI * freq / RATE as f32;
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in samples {
        let s = x + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2).sqrt() * 2.0 / samples.len() as f32
}

/// The frames the device was given, without the silence it played while it
/// waited for the engine, and the number of silent frames between the first
/// and last frames of programme.
fn programme(frames: Vec<[f32; 2]>) -> (Vec<[f32; 2]>, usize) {
    let audible = |f: &[f32; 2]| f[0] != 0.0 || f[1] != 0.0;
    let first = frames.iter().position(audible).unwrap_or(0);
    let last = frames.iter().rposition(audible).unwrap_or(0);
    let gaps = frames[first..=last].iter().filter(|f| !audible(f)).count();
    (frames.into_iter().filter(audible).collect(), gaps)
}

fn read_f32(path: &PathBuf) -> Vec<[f32; 2]> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(8)
        .map(|b| {
            [
                f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                f32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            ]
        })
        .collect()
}

#[test]
fn a_tone_plays_through_named_and_default_devices_without_losing_a_sample() {
    in_sandbox(
        "a_tone_plays_through_named_and_default_devices_without_losing_a_sample",
        |dir| {
            let configs = [OutputConfig::Null, alsa("onair_studio"), alsa("default")];
            let OpenOutputs {
                mut taps,
                master,
                outputs,
            } = output::open(&configs, &context()).unwrap();
            assert_eq!(master, Some(1), "the first ALSA output paces the engine");
            // A short ring: tens of milliseconds between the mixer and the studio.
            let ring = taps[1].ring.buffer().capacity() / CHANNELS;
            assert!((2000..=4800).contains(&ring), "ring of {ring} frames");

            feed(&mut taps, 2 * RATE as usize);
            let stats = outputs.stats();
            outputs.shutdown().unwrap();

            let expected: Vec<[f32; 2]> = tone(2 * RATE as usize, 0)
                .chunks_exact(2)
                .map(|f| [f[0], f[1]])
                .collect();
            for (file, stats) in [("studio.raw", &stats[1].1), ("default.raw", &stats[2].1)] {
                let (played, gaps) = programme(read_f32(&dir.join(file)));
                assert_eq!(played.len(), expected.len(), "{file}: frames of programme");
                assert!(played == expected, "{file}: the programme came out altered");
                let left: Vec<f32> = played.iter().map(|f| f[0]).collect();
                assert!(level(&left, 1000.0) > 0.45, "{file}");
                assert!(level(&left, 1500.0) < 0.01, "{file}");
                // Every silent frame inside the programme was counted as an
                // underrun: the ring was empty while the programme was not over.
                // These devices (the `file` plugin over `null`) take whatever
                // they are given when they are given it, so they never run
                // dry: each frame in the file came from the callback.
                let underrun = stats.frames_underrun.load(Ordering::Relaxed);
                assert!(
                    underrun >= gaps as u64,
                    "{file}: {gaps} silent frames inside the programme, {underrun} counted"
                );
                assert_eq!(
                    stats.frames_out.load(Ordering::Relaxed),
                    2 * RATE as u64,
                    "{file}"
                );
                assert_eq!(
                    stats.errors.load(Ordering::Relaxed),
                    0,
                    "{file}: device errors"
                );
            }
        },
    );
}

#[test]
fn a_device_that_takes_only_integers_gets_the_tone_converted() {
    in_sandbox(
        "a_device_that_takes_only_integers_gets_the_tone_converted",
        |dir| {
            // Named by the description ALSA shows, not its PCM name.
            let configs = [alsa("onair test 16-bit card")];
            let OpenOutputs {
                mut taps, outputs, ..
            } = output::open(&configs, &context()).unwrap();
            feed(&mut taps, RATE as usize);
            outputs.shutdown().unwrap();

            let frames: Vec<[f32; 2]> = std::fs::read(dir.join("s16.raw"))
                .unwrap()
                .chunks_exact(4)
                .map(|b| {
                    [
                        i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0,
                        i16::from_le_bytes([b[2], b[3]]) as f32 / 32768.0,
                    ]
                })
                .collect();
            let (played, _) = programme(frames);
            let expected = tone(RATE as usize, 0);
            assert_eq!(played.len() * 2, expected.len());
            for (i, (got, want)) in played.iter().flatten().zip(&expected).enumerate() {
                assert!(
                    (got - want).abs() <= 1.5 / 32768.0,
                    "sample {i}: {got} vs {want}"
                );
            }
            let left: Vec<f32> = played.iter().map(|f| f[0]).collect();
            assert!(level(&left, 1000.0) > 0.45);
        },
    );
}

#[test]
fn an_unknown_device_is_refused_with_the_devices_there_are() {
    in_sandbox(
        "an_unknown_device_is_refused_with_the_devices_there_are",
        |_| {
            let message = match output::open(&[alsa("studio-feed-typo")], &context()) {
                Ok(_) => panic!("a device that does not exist was opened"),
                Err(e) => e.to_string(),
            };
            assert!(message.contains("\"studio-feed-typo\""), "{message}");
            assert!(
                message.contains("onair_studio (onair test studio feed)"),
                "{message}"
            );
            assert!(message.contains("onair_s16"), "{message}");

            let names = output::alsa::device_names().unwrap();
            assert!(
                names.iter().any(|n| n.starts_with("onair_studio")),
                "{names:?}"
            );
        },
    );
}

#[test]
fn a_device_playing_in_real_time_paces_the_engine() {
    in_sandbox("a_device_playing_in_real_time_paces_the_engine", |dir| {
        let OpenOutputs {
            mut taps,
            master,
            outputs,
        } = output::open(&[alsa("onair_paced")], &context()).unwrap();
        assert_eq!(master, Some(0));
        // The mixer's part: 2 s of programme as fast as the ring takes it.
        let started = Instant::now();
        feed(&mut taps, 2 * RATE as usize);
        let took = started.elapsed();
        let stats = outputs.stats();
        outputs.shutdown().unwrap();
        // Only the ring, the device's buffer and the pipe's may run ahead of real time.
        assert!(
            took >= Duration::from_millis(1500),
            "2 s of programme taken in {took:?}"
        );

        let (played, gaps) = programme(read_f32(&dir.join("paced.raw")));
        let expected: Vec<[f32; 2]> = tone(2 * RATE as usize, 0)
            .chunks_exact(2)
            .map(|f| [f[0], f[1]])
            .collect();
        let first_wrong = played.iter().zip(&expected).position(|(a, b)| a != b);
        assert!(
            played == expected,
            "the programme came out altered: {} frames of {}, first wrong at {first_wrong:?}",
            played.len(),
            expected.len()
        );
        // Counted as underruns (see above: these devices never run dry).
        let underrun = stats[0].1.frames_underrun.load(Ordering::Relaxed);
        assert!(
            underrun >= gaps as u64,
            "{gaps} silent frames inside the programme, {underrun} counted"
        );
        assert_eq!(
            stats[0].1.errors.load(Ordering::Relaxed),
            0,
            "device errors"
        );
    });
}

#[test]
fn a_failing_device_is_drained_in_real_time_and_reopened() {
    in_sandbox(
        "a_failing_device_is_drained_in_real_time_and_reopened",
        |dir| {
            // The card's pipe closes as soon as it is opened (it notes each
            // opening), as a card that is unplugged stops taking samples.
            let OpenOutputs {
                mut taps, outputs, ..
            } = output::open(&[alsa("onair_flaky")], &context()).unwrap();
            let started = Instant::now();
            // Long enough to outlast the 3 s the device rests before it is reopened.
            feed(&mut taps, 4 * RATE as usize);
            let took = started.elapsed();
            let stats = outputs.stats();
            outputs.shutdown().unwrap();

            let errors = stats[0].1.errors.load(Ordering::Relaxed);
            assert!(errors >= 1, "the failure was not counted");
            // While the card was away the ring was drained at its pace, neither
            // stalling the mixer nor letting it race.
            assert!(
                took >= Duration::from_millis(2500),
                "4 s of programme taken in {took:?}"
            );
            assert_eq!(
                stats[0].1.frames_out.load(Ordering::Relaxed),
                4 * RATE as u64
            );
            // Reopened: the card was opened again after it failed.
            let opens = std::fs::read_to_string(dir.join("flaky.opens")).unwrap();
            let opens = opens.lines().count();
            assert!(opens >= 2, "opened {opens} time(s)");
        },
    );
}
