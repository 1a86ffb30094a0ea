//! The benchmark's own tests: its measuring tools, its targets and its
//! table, and short runs through the real audio path.

use std::path::PathBuf;
use std::process::Command as Process;
use std::time::{Duration, Instant, SystemTime};

use chrono::TimeDelta;
use onair::config::Config;

use crate::bench::cost::audio::{ProgrammeAudio, ProgrammeFiles};
use crate::bench::cost::cpu::{Who, cpu_time};
use crate::bench::cost::icecast::Icecast;
use crate::bench::cost::liquidsoap::{self, Beside, Side};
use crate::bench::cost::report::{ARCHIVE_THREAD, FileResult, Report, per_hour, verdict};
use crate::bench::cost::running::{
    BoxRun, Outputs, PROGRAMME_FILE, Running, proc_status, write_station,
};
use crate::bench::cost::streams::StreamTools;
use crate::bench::cost::*;

fn options(audio: Duration) -> Options {
    Options {
        audio,
        runs: 1,
        ffmpeg: PathBuf::from("ffmpeg"),
        box_binary: None,
        temp: std::env::temp_dir(),
        streams: None,
        liquidsoap: None,
        archive_days: 0,
    }
}

#[test]
fn the_archive_is_read_back_whole_from_a_generated_day() {
    let work = WorkFolder::create(&std::env::temp_dir()).unwrap();
    let run = crate::bench::cost::archive::measure(work.path(), 1, 1).unwrap();
    // A day of 6 s segments; the last hour's 600 hold 250 frames each,
    // all of which a cut of that hour takes.
    assert_eq!(run.segments, 14_400);
    assert_eq!(run.cut_bytes, 600 * 250 * 384);
    // 7 200 entries of about 150 bytes, and each time measured.
    assert!(run.playlist_bytes > 7_200 * 100, "{run:?}");
    for time in [
        run.playlist_cold,
        run.playlist_warm,
        run.coverage_cold,
        run.cut,
        run.cat,
    ] {
        assert!(
            time > Duration::ZERO && time < Duration::from_secs(60),
            "{run:?}"
        );
    }
    let shown = run.to_string();
    assert!(shown.contains("12 h playlist, warm"), "{shown}");
    eprintln!("{shown}");
}

#[test]
fn process_cpu_time_counts_work_done_on_other_threads() {
    let before = cpu_time(Who::Process).unwrap();
    // The thread works until it has used 300 ms of CPU itself, however
    // busy the machine is with other tests.
    let thread_cpu = || {
        // SAFETY: getrusage fills the plain C struct it is given.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `usage` is valid and writable for the call.
        assert_eq!(
            unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) },
            0
        );
        Duration::from_secs(usage.ru_utime.tv_sec as u64)
            + Duration::from_micros(usage.ru_utime.tv_usec as u64)
    };
    let busy = std::thread::spawn(move || {
        let mut x = 1u64;
        while thread_cpu() < Duration::from_millis(300) {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        x
    });
    let idle_from = Instant::now();
    busy.join().unwrap();
    let waited = idle_from.elapsed();
    let spent = cpu_time(Who::Process).unwrap().since(before);
    // A thread that has finished still counts.
    assert!(spent >= Duration::from_millis(300), "{spent:?}");
    // Waiting for it did not: the other threads of the test run add
    // little beside the busy one.
    assert!(
        spent < Duration::from_millis(300) + waited * 2,
        "{spent:?} in {waited:?}"
    );
}

#[test]
fn thread_cpu_time_leaves_out_the_other_threads() {
    // The benchmark's own threads are taken out of the box's CPU with
    // this reading, so it must not hold anybody else's work.
    let busy = std::thread::spawn(|| {
        let mut x = 1u64;
        loop {
            let used = cpu_time(Who::Thread).unwrap().total();
            if used >= Duration::from_millis(200) {
                return (used, x);
            }
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
    });
    let before = cpu_time(Who::Thread).unwrap();
    let (theirs, _) = busy.join().unwrap();
    let mine = cpu_time(Who::Thread).unwrap().since(before);
    assert!(theirs >= Duration::from_millis(200), "{theirs:?}");
    // Waiting for the busy thread cost this one next to nothing.
    assert!(mine < Duration::from_millis(50), "{mine:?}");
}

#[test]
fn children_cpu_time_counts_a_finished_child() {
    let before = cpu_time(Who::Children).unwrap();
    let status = Process::new("sh")
        .args(["-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"])
        .status()
        .unwrap();
    assert!(status.success());
    let spent = cpu_time(Who::Children).unwrap().since(before);
    assert!(spent >= Duration::from_millis(20), "{spent:?}");
    // An earlier reading than the later one never goes negative.
    assert_eq!(
        before.since(cpu_time(Who::Children).unwrap()),
        Duration::ZERO
    );
}

#[test]
fn the_peak_memory_of_a_running_process_is_read_from_proc() {
    let child = Process::new("sleep").arg("30").spawn().unwrap();
    let mut running = Running::new(child);
    // Until it sleeps, the program may not be loaded yet.
    let state = format!("/proc/{}/status", running.id());
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(&state)
        .unwrap()
        .contains("State:\tS (sleeping)")
    {
        assert!(Instant::now() < deadline, "sleep never went to sleep");
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = proc_status(running.id()).unwrap();
    assert!(status.peak_kib > 100, "{status:?}");
    assert!(status.peak_kib >= status.resident_kib, "{status:?}");
    assert!(status.peak_kib < 64 * 1024, "sleep is small: {status:?}");
    assert_eq!(status.threads, 1);
    let ended = running.terminate(Duration::from_secs(5)).unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(ended.signal(), Some(libc::SIGTERM));
    // Bad input: a process that is gone.
    let gone = proc_status(u32::MAX / 2).unwrap_err();
    assert!(gone.contains("cannot read /proc/"), "{gone}");
}

#[test]
fn generated_programme_audio_moves_and_never_clips() {
    let mut audio = ProgrammeAudio::new(7);
    let rate = FILE_RATE as usize;
    let frames: Vec<[f32; 2]> = (0..rate * 12).map(|_| audio.next_frame()).collect();
    let peak = frames.iter().flatten().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(peak > 0.2 && peak < 0.95, "peak {peak}");
    let rms = |part: &[[f32; 2]]| {
        (part.iter().map(|f| f[0] * f[0]).sum::<f32>() / part.len() as f32).sqrt()
    };
    let level = rms(&frames);
    assert!(level > 0.03 && level < 0.4, "rms {level}");
    // Left and right differ (panned parts, separate noise).
    assert!(frames.iter().any(|f| (f[0] - f[1]).abs() > 0.01));
    // Not one steady tone: the pitch (zero crossings per half second)
    // and the level change across the programme.
    let windows: Vec<(usize, f32)> = frames
        .chunks(rate / 2)
        .map(|w| {
            let crossings = w
                .windows(2)
                .filter(|p| (p[0][0] < 0.0) != (p[1][0] < 0.0))
                .count();
            (crossings, rms(w))
        })
        .collect();
    let crossings: Vec<usize> = windows.iter().map(|w| w.0).collect();
    let levels: Vec<f32> = windows.iter().map(|w| w.1).collect();
    let spread = |v: &[f32]| {
        v.iter().cloned().fold(f32::MIN, f32::max) / v.iter().cloned().fold(f32::MAX, f32::min)
    };
    assert!(
        crossings.iter().max().unwrap() - crossings.iter().min().unwrap() > 20,
        "{crossings:?}"
    );
    assert!(spread(&levels) > 1.2, "{levels:?}");
}

#[test]
fn a_short_run_measures_mp3_and_flac_through_the_real_path() {
    let report = run_with(&options(Duration::from_secs(20))).unwrap();
    let formats: Vec<&str> = report.files.iter().map(|f| f.format.as_str()).collect();
    assert_eq!(formats, ["MP3 128 kb/s CBR", "FLAC 16-bit"]);
    for file in &report.files {
        // The whole programme went through the mixer, resampled to 48 kHz.
        let expected = file.expected_frames.unwrap();
        assert!(
            expected.abs_diff(20 * 48_000) <= 48,
            "{}: {expected} frames announced",
            file.format
        );
        assert_eq!(file.aired_frames, expected, "{}", file.format);
        assert_eq!(file.underruns, 0, "{}", file.format);
        // Both sides did real work, and nowhere near real time.
        assert!(file.ours > Duration::from_millis(5), "{file:?}");
        assert!(file.ours < Duration::from_secs(10), "{file:?}");
        assert!(file.ffmpeg > Duration::from_millis(5), "{file:?}");
        assert!(file.ffmpeg < Duration::from_secs(10), "{file:?}");
        // The parts are each measured, and each is a real share of the whole.
        assert!(file.decode > Duration::ZERO, "{file:?}");
        assert!(file.decode_resample > Duration::ZERO, "{file:?}");
        assert!(file.decode < file.ours, "{file:?}");
    }
    let text = report.to_string();
    assert!(text.contains("MP3 128 kb/s CBR"), "{text}");
    assert!(text.contains("FLAC 16-bit"), "{text}");
    assert!(
        text.contains("Peak memory of the running box: not measured"),
        "{text}"
    );
    assert!(
        text.contains("not measured (no box binary to run)"),
        "{text}"
    );
    assert!(text.contains("debug build"), "{text}");
    assert!(text.ends_with(&format!("Result: {}", verdict(report.passed()))));
}

#[test]
fn a_short_run_streams_to_one_and_two_real_mounts() {
    let mut opts = options(Duration::from_secs(20));
    opts.streams = Some(StreamTools {
        icecast: PathBuf::from("icecast2"),
        lame: PathBuf::from("lame"),
    });
    let report = run_with(&opts).unwrap();
    let streams = report.streams.as_ref().unwrap();
    for run in [&streams.one, &streams.two] {
        // The whole programme reached the server on every mount, and
        // the mounts got the same bytes from the one encoder.
        assert!(run.complete(), "{run:?}");
        assert_eq!(run.bytes_sent.len(), run.mounts);
        assert!(
            run.bytes_sent.iter().all(|&b| b == run.bytes_sent[0]),
            "{run:?}"
        );
        assert!(
            run.expected_bytes().abs_diff(20 * 16_000) < 2_000,
            "{run:?}"
        );
        assert!(run.cpu > Duration::from_millis(20), "{run:?}");
        assert!(run.server.is_some(), "{run:?}");
    }
    let names: Vec<(&str, usize)> = streams
        .two
        .threads
        .iter()
        .map(|(name, count, _)| (name.as_str(), *count))
        .collect();
    assert!(names.contains(&("output encoder", 1)), "{names:?}");
    assert!(names.contains(&("output icecast", 2)), "{names:?}");
    assert!(names.contains(&("onair-mixer", 1)), "{names:?}");
    assert!(streams.lame > Duration::from_millis(20), "{streams:?}");
    assert!(streams.ffmpeg > Duration::from_millis(20), "{streams:?}");
    let text = report.to_string();
    assert!(text.contains("lame --silent -b 128 --cbr -q 3"), "{text}");
    assert!(text.contains("onair, two mounts, one encoder"), "{text}");
    let senders = text
        .lines()
        .find(|line| line.trim_start().starts_with("output icecast"))
        .unwrap_or_else(|| panic!("no sender row in {text}"));
    assert!(senders.ends_with("(x2)"), "{senders}");
    assert!(text.contains("every turn, in order"), "{text}");
    assert!(
        text.contains("the second mount's own sender thread"),
        "{text}"
    );
    assert_eq!(streams.turns.len(), 1, "{streams:?}");
}

#[test]
fn a_missing_ffmpeg_is_named_with_what_to_do() {
    let mut opts = options(Duration::from_secs(2));
    // Bad input: an ffmpeg that is not there.
    opts.ffmpeg = PathBuf::from("/nonexistent/ffmpeg");
    let message = run_with(&opts).unwrap_err().to_string();
    assert!(
        message.contains("/nonexistent/ffmpeg cannot be started"),
        "{message}"
    );
    assert!(message.contains("install ffmpeg"), "{message}");
    // Bad input: nothing to measure.
    let mut opts = options(Duration::from_secs(2));
    opts.runs = 0;
    let message = run_with(&opts).unwrap_err().to_string();
    assert!(message.contains("use at least 1 run"), "{message}");
    assert!(Options::for_minutes(0, DEFAULT_RUNS).is_err());
}

fn box_run(peak_kib: u64, cpu_ms: u64, director_ms: u64, wakes: u64) -> BoxRun {
    BoxRun {
        from: Duration::from_secs(10),
        ran_for: Duration::from_secs(36),
        peak_kib,
        resident_kib: peak_kib,
        anonymous_kib: 0,
        file_kib: 0,
        threads: 9,
        on_air: "Bench Programme".into(),
        output_frames: 0,
        underruns: 0,
        streams: Vec::new(),
        cpu: Duration::from_millis(cpu_ms),
        cpu_by_thread: vec![
            (
                "onair".into(),
                1,
                Duration::from_millis(director_ms - director_ms / 2),
            ),
            (
                "tokio-runtime-w".into(),
                2,
                Duration::from_millis(director_ms / 2),
            ),
            (
                "onair-mixer".into(),
                1,
                Duration::from_millis(cpu_ms - director_ms),
            ),
        ],
        wakes,
    }
}

fn report(files: Vec<FileResult>, null_box: Option<BoxRun>) -> Report {
    Report {
        audio: Duration::from_secs(600),
        runs: 3,
        files,
        streams: None,
        null_box,
        stream_box: None,
        two_mounts_beside: Vec::new(),
        stream_box_awake: None,
        archived_box: None,
        paced_lame: None,
        liquidsoap: Side::NotInstalled,
        liquidsoap_awake: None,
        studio: None,
        archive: None,
        recording: None,
        debug_build: false,
    }
}

fn file(ours_ms: u64, ffmpeg_ms: u64) -> FileResult {
    FileResult {
        format: "MP3".into(),
        ours: Duration::from_millis(ours_ms),
        harness: Duration::from_millis(10),
        decode: Duration::from_millis(ours_ms / 2),
        decode_resample: Duration::from_millis(ours_ms * 3 / 4),
        ffmpeg: Duration::from_millis(ffmpeg_ms),
        aired_frames: 0,
        expected_frames: None,
        underruns: 0,
    }
}

#[test]
fn targets_decide_the_result() {
    // 36 s in real time: 150 ms of CPU is 15 s per hour, 30 ms is 3 s/h,
    // and 5400 wake-ups are 150 a second.
    let good = || box_run(30 * 1024 - 1, 150, 30, 5_400);
    assert!(report(vec![file(1500, 1000)], Some(good())).passed());
    // Over any target fails the whole benchmark.
    assert!(!report(vec![file(1501, 1000)], Some(good())).passed());
    assert!(
        !report(
            vec![file(1000, 1000)],
            Some(box_run(30 * 1024, 150, 30, 5_400))
        )
        .passed()
    );
    assert!(!report(vec![file(1000, 1000)], Some(box_run(1024, 151, 30, 5_400))).passed());
    assert!(!report(vec![file(1000, 1000)], Some(box_run(1024, 150, 31, 5_400))).passed());
    assert!(!report(vec![file(1000, 1000)], Some(box_run(1024, 150, 30, 5_437))).passed());
    assert!(!report(vec![], None).passed());
    // 1 s of CPU for 10 min of audio is 6 s per hour.
    assert!((per_hour(Duration::from_secs(1), Duration::from_secs(600)) - 6.0).abs() < 1e-9);
    let text = report(vec![file(1600, 1000)], Some(box_run(2048, 300, 60, 7_200))).to_string();
    assert!(text.contains("1.60x   FAIL"), "{text}");
    assert!(text.contains("VmHWM 2.0 MiB"), "{text}");
    assert!(text.contains("30.0 s/h"), "{text}");
    assert!(text.contains("6.00 s/h"), "{text}");
    assert!(text.contains("200 /s"), "{text}");
    assert!(text.ends_with("Result: FAIL"), "{text}");
    assert!(!text.contains("debug build"), "{text}");
    // Liquidsoap missing is said, and is not a pass.
    assert!(
        text.contains("NOT MEASURED: liquidsoap is not installed"),
        "{text}"
    );
}

#[test]
fn the_archive_may_add_five_per_cent_to_the_streaming_box() {
    // The box streaming: 150 ms in 36 s. The archived box spends `writer`
    // ms in the archive's thread and `whole` ms in all.
    let archived = |writer: u64, whole: u64| {
        let mut run = box_run(1024, whole, 30, 3_600);
        run.cpu_by_thread
            .push((ARCHIVE_THREAD.into(), 1, Duration::from_millis(writer)));
        run
    };
    let with = |writer, whole| {
        let mut r = report(vec![file(1000, 1000)], Some(box_run(1024, 150, 30, 5_400)));
        r.stream_box = Some(box_run(1024, 150, 30, 3_600));
        r.archived_box = Some(archived(writer, whole));
        r
    };
    let (thread, whole) = with(7, 160).archive_added().unwrap();
    assert!((thread - 7.0 / 150.0 * 100.0).abs() < 1e-9, "{thread}");
    assert!((whole - 10.0 / 150.0 * 100.0).abs() < 1e-9, "{whole}");
    assert!(with(7, 160).passed());
    // 7.5 ms is exactly 5 %; more fails, whatever the whole box did.
    assert!(with(7, 140).passed());
    assert!(!with(8, 150).passed());
    let text = with(8, 158).to_string();
    assert!(
        text.contains("archive added on top of two mounts") && text.contains("= 5.3 %"),
        "{text}"
    );
    assert!(text.contains("+5.3 %"), "{text}");
    // Without an archived run there is nothing to judge.
    assert!(
        report(vec![file(1000, 1000)], None)
            .archive_added()
            .is_none()
    );
}

#[test]
fn the_box_beside_liquidsoap_must_cost_at_most_half() {
    let liquidsoap = |cpu_ms| liquidsoap::Measured {
        cpu: Duration::from_millis(cpu_ms),
        ran_for: Duration::from_secs(35),
        peak_kib: 200 * 1024,
        version: "Liquidsoap 2.1.3".into(),
    };
    // onair: 36 s, 720 ms (2 % of a core).
    let ours = || box_run(20 * 1024, 720, 20, 3_600);
    let half = Beside {
        onair: ours(),
        liquidsoap: liquidsoap(1400),
    };
    assert!((half.ratio() - 0.5).abs() < 1e-9, "{}", half.ratio());
    assert!(half.passed());
    let more = Beside {
        onair: ours(),
        liquidsoap: liquidsoap(1390),
    };
    assert!(!more.passed());
    let mut r = report(vec![file(1000, 1000)], Some(ours()));
    r.liquidsoap = Side::Measured(Box::new(more));
    assert!(!r.passed());
    let text = r.to_string();
    assert!(text.contains("Liquidsoap 2.1.3"), "{text}");
    assert!(text.contains("3.97 % of a core"), "{text}");
    assert!(text.contains("2.00 % of a core"), "{text}");
    assert!(text.contains("0.50x Liquidsoap"), "{text}");
    assert!(!text.contains("kept awake"), "{text}");
    // The two again with the cores kept awake: shown, and not judged
    // either way.
    r.liquidsoap_awake = Some(half.clone());
    let text = r.to_string();
    assert!(
        text.contains(
            "(the two again with this machine's cores kept awake by an idle-class busy thread \
             per core: 2.00 % against 4.00 % = 0.50x;"
        ),
        "{text}"
    );
    assert!(
        !r.passed(),
        "a pass with the cores awake does not change the verdict"
    );
    let mut passing = report(vec![file(1000, 1000)], None);
    passing.liquidsoap = Side::Measured(Box::new(half));
    assert!(passing.passed(), "{passing}");
    passing.liquidsoap_awake = Some(Beside {
        onair: ours(),
        liquidsoap: liquidsoap(700),
    });
    assert!(passing.passed(), "nor does a failure");
}

#[test]
fn the_liquidsoap_job_is_the_box_job() {
    let text = liquidsoap::script(std::path::Path::new("/work/programme.mp3"), 12345, "pw");
    assert!(
        text.contains("%mp3(bitrate=128, samplerate=44100, stereo=true, internal_quality=3)"),
        "{text}"
    );
    assert!(text.contains("single(\"/work/programme.mp3\")"), "{text}");
    assert!(text.contains("port=12345"), "{text}");
    // It runs as root on a test machine only if told it may.
    assert!(
        text.contains("settings.init.allow_root.set(true)"),
        "{text}"
    );
    if let Some(program) = liquidsoap::find() {
        let dir = std::env::temp_dir().join(format!("onair-liq-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("job.liq");
        std::fs::write(&script, &text).unwrap();
        let checked = Process::new(program)
            .arg("--check")
            .arg(&script)
            .output()
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            checked.status.success(),
            "{}",
            String::from_utf8_lossy(&checked.stderr)
        );
    }
}

#[test]
fn arguments_are_read_as_cargo_bench_passes_them() {
    let args = |list: &[&str]| parse_args(list.iter().map(|s| s.to_string()));
    assert_eq!(args(&[]), Ok((10, 5)));
    assert_eq!(
        args(&["--bench", "--minutes", "2", "--runs", "3"]),
        Ok((2, 3))
    );
    // Bad input: out of range, not a number, missing, unknown.
    for bad in [
        &["--minutes", "0"][..],
        &["--runs", "51"],
        &["--minutes", "two"],
        &["--runs"],
        &["--seconds", "3"],
    ] {
        assert!(args(bad).is_err(), "{bad:?}");
    }
    assert!(
        args(&["--speed"])
            .unwrap_err()
            .contains("usage: cargo bench --bench cost")
    );
}

#[test]
fn a_server_starts_on_a_free_port_and_answers() {
    let dir = std::env::temp_dir().join(format!("onair-bench-ice-{}", std::process::id()));
    let server = Icecast::launch(std::path::Path::new("icecast2"), &dir, "").unwrap();
    let status = server.status().unwrap();
    assert!(status["icestats"].is_object(), "{status}");
    // Below the kernel's ephemeral ports, where no connection is given one.
    assert!(server.port < 32_768, "{}", server.port);
    assert!(crate::bench::cost::threads::process_cpu(server.pid()).is_some());
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_server_that_stops_at_start_up_says_why_at_once() {
    let dir = std::env::temp_dir().join(format!("onair-bench-badice-{}", std::process::id()));
    let started = Instant::now();
    // Bad input: a configuration icecast2 cannot read.
    let message = match Icecast::launch(std::path::Path::new("icecast2"), &dir, "<unclosed>") {
        Ok(_) => panic!("icecast2 started with a broken configuration"),
        Err(e) => e.to_string(),
    };
    assert!(message.contains("stopped at start-up"), "{message}");
    // What it printed is in the message, not only in a file to look up.
    assert!(message.contains("stderr.log:"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(10), "{message}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_server_is_named_with_what_to_install() {
    let dir = std::env::temp_dir().join(format!("onair-bench-noice-{}", std::process::id()));
    // Bad input: an icecast2 that is not there, by path and by name.
    for program in ["/nonexistent/icecast2", "onair-no-such-icecast2"] {
        let message = match Icecast::launch(std::path::Path::new(program), &dir, "") {
            Ok(_) => panic!("{program} started"),
            Err(e) => e.to_string(),
        };
        assert!(
            message.contains(&format!("{program} cannot be started")),
            "{message}"
        );
        assert!(message.contains("apt-get install icecast2"), "{message}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_generated_station_loads_with_its_programme_after_the_clock_start() {
    let work = WorkFolder::create(&std::env::temp_dir()).unwrap();
    let files = ProgrammeFiles {
        mp3: work.path().join("programme.mp3"),
        flac: work.path().join("programme.flac"),
        emergency: work.path().join("emergency.wav"),
    };
    for path in [&files.mp3, &files.flac, &files.emergency] {
        std::fs::write(path, b"audio").unwrap();
    }
    let dir = work.path().join("station");
    let config = Config::load(&write_station(&dir, &files, Outputs::Null).unwrap()).unwrap();
    assert!(config.check().is_empty(), "{:?}", config.check());
    assert_eq!(config.outputs, [onair::config::OutputConfig::Null]);
    let clock = config.clock.as_ref().unwrap();
    assert_eq!(clock.speed, 1.0);
    let scan = onair::schedule::scan_now(
        &config.library.programmes,
        config.station.timezone,
        SystemTime::now() + Duration::from_secs(10),
    )
    .unwrap();
    // A month of hourly programmes aired before it, then the measured one.
    assert!(scan.ignored.is_empty(), "{:?}", scan.ignored);
    assert_eq!(scan.programmes.len(), 30 * 24 + 1);
    let aired = &scan.programmes[..30 * 24];
    assert_eq!(
        aired[0].start.to_rfc3339(),
        "2026-05-02T00:00:00+00:00",
        "the first aired"
    );
    assert!(
        aired
            .windows(2)
            .all(|w| w[1].start - w[0].start == TimeDelta::hours(1))
    );
    let start = scan.programmes[30 * 24].start;
    assert_eq!(start.to_rfc3339(), "2026-06-01T10:00:00+00:00");
    assert!(start - aired[aired.len() - 1].start >= TimeDelta::hours(10));
    // The box starts on filler a few seconds before the programme.
    let clock_start = clock.start.and_utc();
    assert!(clock_start < start && start - clock_start <= TimeDelta::seconds(5));
    assert!(
        config
            .library
            .filler
            .unwrap()
            .join("bench-filler.flac")
            .exists()
    );
    assert!(config.archive.is_none());

    // The archived station keeps the stream's own MP3: same bitrate, so
    // one encoder serves the mounts and the archive.
    let dir = work.path().join("archived");
    let config =
        Config::load(&write_station(&dir, &files, Outputs::TwoMountsArchived(8000)).unwrap())
            .unwrap();
    assert!(config.check().is_empty(), "{:?}", config.check());
    let archive = config.archive.as_ref().expect("an [archive] section");
    assert_eq!(archive.dir, dir.join("archive"));
    assert!(archive.dir.is_dir());
    let stream_bitrates: Vec<u32> = config
        .outputs
        .iter()
        .filter_map(|o| match o {
            onair::config::OutputConfig::Icecast(mount) => Some(mount.bitrate),
            _ => None,
        })
        .collect();
    assert_eq!(stream_bitrates.len(), 2);
    assert!(stream_bitrates.iter().all(|b| *b == archive.bitrate));

    // Bad input: a station folder an earlier box left behind. Written
    // again, its files are still the generated ones, not emptied by a
    // copy onto their own links.
    write_station(&dir, &files, Outputs::TwoMountsArchived(8000)).unwrap();
    for (path, original) in [
        (dir.join("programmes").join(PROGRAMME_FILE), &files.mp3),
        (dir.join("filler").join("bench-filler.flac"), &files.flac),
        (dir.join("emergency.wav"), &files.emergency),
    ] {
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"audio",
            "{}",
            path.display()
        );
        assert_eq!(std::fs::read(original).unwrap(), b"audio");
    }
}

/// The stream side: the box's encoder beside lame, and its verdicts.
mod streams {
    use std::path::Path;
    use std::process::Command as Process;
    use std::time::Duration;

    use super::{box_run, file, report};
    use crate::bench::cost::paced_lame;
    use crate::bench::cost::streams::*;
    use onair::config::BitrateMode;
    use onair::output::CHANNELS;
    use onair::output::encoder::Mp3Encoder;

    /// An MPEG-1 Layer III frame header: kbit/s, Hz, channel mode.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Frame {
        kbps: u32,
        rate: u32,
        mode: u8,
    }

    /// Walks the MP3 frame by frame from its first sync word.
    fn frames(mp3: &[u8]) -> Vec<Frame> {
        const KBPS: [u32; 15] = [
            0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
        ];
        const RATES: [u32; 3] = [44_100, 48_000, 32_000];
        let mut found = Vec::new();
        let mut at = mp3
            .windows(2)
            .position(|w| w[0] == 0xFF && w[1] & 0xFE == 0xFA)
            .unwrap_or(mp3.len());
        while at + 4 <= mp3.len() {
            let h = &mp3[at..at + 4];
            assert!(h[0] == 0xFF && h[1] & 0xFE == 0xFA, "lost sync at {at}");
            let kbps = KBPS[usize::from(h[2] >> 4)];
            let rate = RATES[usize::from((h[2] >> 2) & 3)];
            let padding = usize::from((h[2] >> 1) & 1);
            found.push(Frame {
                kbps,
                rate,
                mode: h[3] >> 6,
            });
            at += 144_000 * kbps as usize / rate as usize + padding;
        }
        found
    }

    fn programme(seconds: usize) -> Vec<f32> {
        let mut audio = crate::bench::cost::audio::ProgrammeAudio::new(3);
        (0..STREAM_RATE as usize * seconds)
            .flat_map(|_| audio.next_frame())
            .collect()
    }

    /// `pcm` (interleaved stereo at the stream's rate) as a 16-bit WAV.
    fn write_wav(path: &Path, pcm: &[f32]) {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: STREAM_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::create(path, spec).unwrap();
        for x in pcm {
            writer.write_sample((x * 32767.0) as i16).unwrap();
        }
        writer.finalize().unwrap();
    }

    #[test]
    fn lame_is_given_the_settings_of_the_box_encoder() {
        let args = lame_arguments(&stream_settings()).unwrap().join(" ");
        assert!(args.contains("-b 128 --cbr"), "{args}");
        assert!(args.contains("-q 3"), "{args}");
        // The library does no ReplayGain analysis and writes no tag.
        assert!(args.contains("--noreplaygain"), "{args}");
        assert!(args.contains(" -t"), "{args}");
        let ffmpeg = ffmpeg_transcode_arguments(&stream_settings()).join(" ");
        assert!(
            ffmpeg.contains("-b:a 128k -compression_level 3"),
            "{ffmpeg}"
        );
        assert!(ffmpeg.contains("-threads 1"), "{ffmpeg}");
        // Bad input: a VBR stream, or one the encoder resamples, has no
        // like-for-like lame command.
        let mut vbr = stream_settings();
        vbr.mode = BitrateMode::Vbr;
        assert_eq!(lame_arguments(&vbr), None);
        let mut resampled = stream_settings();
        resampled.input_rate = 48_000;
        assert_eq!(lame_arguments(&resampled), None);
    }

    #[test]
    fn lame_and_the_box_encoder_make_the_same_kind_of_mp3() {
        let pcm = programme(3);
        let mut encoder = Mp3Encoder::new(stream_settings()).unwrap();
        let mut ours = Vec::new();
        for block in pcm.chunks(STREAM_RATE as usize / 100 * CHANNELS) {
            encoder.encode(block, &mut ours).unwrap();
        }
        encoder.flush(&mut ours).unwrap();

        let dir = std::env::temp_dir().join(format!("onair-lame-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let wav = dir.join("in.wav");
        write_wav(&wav, &pcm);
        let args = lame_arguments(&stream_settings()).unwrap();
        lame_encode(Path::new("lame"), &args, &wav, &dir).unwrap();
        // lame_encode removes its output; encode once more to read it.
        let theirs_path = dir.join("theirs.mp3");
        let status = Process::new("lame")
            .args(&args)
            .arg(&wav)
            .arg(&theirs_path)
            .status()
            .unwrap();
        assert!(status.success());
        let theirs = std::fs::read(&theirs_path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        let (ours, theirs) = (frames(&ours), frames(&theirs));
        let expected = Frame {
            kbps: 128,
            rate: 44_100,
            mode: 1, // joint stereo
        };
        assert!(ours.iter().all(|f| *f == expected), "{:?}", &ours[..3]);
        assert!(theirs.iter().all(|f| *f == expected), "{:?}", &theirs[..3]);
        // 3 s is about 115 frames of 1152; the two differ by padding only.
        assert!(ours.len().abs_diff(115) <= 3, "{}", ours.len());
        assert!(ours.len().abs_diff(theirs.len()) <= 2);
    }

    #[test]
    fn lame_fed_in_real_time_is_measured_beside_lame_flat_out() {
        let dir = std::env::temp_dir().join(format!("onair-paced-lame-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let wav = dir.join("programme.wav");
        write_wav(&wav, &programme(6));
        let args = lame_arguments(&stream_settings()).unwrap();
        let (lame, ffmpeg) = (Path::new("lame"), Path::new("ffmpeg"));

        let started = std::time::Instant::now();
        let measured =
            paced_lame::measure(lame, &args, ffmpeg, &wav, &dir, Duration::from_secs(3)).unwrap();
        // Fed on the clock: two seconds to settle and three measured.
        assert!(
            started.elapsed() >= Duration::from_millis(4_750),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(measured.audio, Duration::from_secs(3));
        assert!(measured.paced > Duration::ZERO && measured.flat > Duration::ZERO);
        // Tens of milliseconds of CPU each: beside the rest of the suite on
        // two cores they swing threefold (paced 49 ms against flat 174 ms
        // was seen). A wrong unit or process would be off by far more.
        assert!((0.1..10.0).contains(&measured.ratio()), "{measured:?}");

        // Bad input: more seconds asked for than the programme has are cut
        // to what it has; a programme too short to pace is refused.
        let cut =
            paced_lame::measure(lame, &args, ffmpeg, &wav, &dir, Duration::from_secs(60)).unwrap();
        assert_eq!(cut.audio, Duration::from_secs(4));
        let short = dir.join("short.wav");
        write_wav(&short, &programme(2));
        let err = paced_lame::measure(lame, &args, ffmpeg, &short, &dir, Duration::from_secs(3))
            .unwrap_err()
            .to_string();
        assert!(err.contains("too short"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lame_in_real_time_is_shown_and_not_judged() {
        let mut r = report(vec![file(1000, 1000)], Some(box_run(1024, 150, 30, 5_400)));
        let passed = r.passed();
        r.paced_lame = Some(paced_lame::PacedLame {
            audio: Duration::from_secs(40),
            paced: Duration::from_millis(550),
            flat: Duration::from_millis(440),
        });
        let text = r.to_string();
        assert_eq!(r.passed(), passed);
        assert!(
            text.contains(
                "fed 250 ms at a time in real time: 49.5 s/h against 39.6 flat out = 1.25x"
            ),
            "{text}"
        );
    }

    fn run(mounts: usize, cpu_ms: u64) -> StreamRun {
        let aired_frames = u64::from(STREAM_RATE) * 600;
        let bytes = aired_frames * 16_000 / u64::from(STREAM_RATE);
        StreamRun {
            mounts,
            cpu: Duration::from_millis(cpu_ms),
            harness: Duration::ZERO,
            server: None,
            threads: vec![("output encoder".into(), 1, Duration::from_millis(cpu_ms))],
            bytes_sent: vec![bytes; mounts],
            lost_frames: 0,
            aired_frames,
            underruns: 0,
        }
    }

    fn result(one: StreamRun, two: StreamRun, lame_ms: u64) -> StreamResult {
        StreamResult {
            one,
            two,
            lame: Duration::from_millis(lame_ms),
            lame_command: "lame".into(),
            ffmpeg: Duration::from_millis(lame_ms),
            ffmpeg_command: "ffmpeg".into(),
            turns: Vec::new(),
        }
    }

    /// The threads that keep the cores awake are one per core, in the idle
    /// scheduling class (so they never take CPU from the box), and gone
    /// when dropped.
    #[test]
    fn the_cores_are_kept_awake_by_idle_class_threads_that_end_when_dropped() {
        use crate::bench::cost::awake::CoresKeptAwake;
        // Field 41 of /proc/<tid>/stat, after the name in parentheses.
        let awake_policies = || -> Vec<i64> {
            std::fs::read_dir("/proc/self/task")
                .unwrap()
                .filter_map(|t| {
                    let dir = t.ok()?.path();
                    let name = std::fs::read_to_string(dir.join("comm")).ok()?;
                    if name.trim() != "cores awake" {
                        return None;
                    }
                    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
                    let after = &stat[stat.rfind(')')? + 2..];
                    after.split(' ').nth(38)?.parse().ok()
                })
                .collect()
        };
        let awake = CoresKeptAwake::start().unwrap();
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(awake.threads(), cores);
        assert_eq!(awake_policies(), vec![i64::from(libc::SCHED_IDLE); cores]);
        drop(awake);
        assert!(awake_policies().is_empty(), "busy threads left running");
    }

    #[test]
    fn the_real_time_box_is_judged_against_the_full_speed_work_just_before_and_after_it() {
        let mut r = report(vec![file(1000, 1000)], Some(box_run(1024, 150, 30, 5_400)));
        // Full speed at the start: two mounts 6.9 s/h (10 minutes of audio).
        r.streams = Some(result(run(1, 1100), run(2, 1150), 1000));
        // Real time: 9.2 s/h over 36 s, 1.33x the work at the start: over 1.3x.
        r.stream_box = Some(box_run(1024, 92, 30, 5_400));
        assert!(!r.passed());
        // The machine slowed down: the same work at full speed just before
        // the box took 7.8 s/h and just after it 8.8, 8.3 on average.
        r.two_mounts_beside = vec![run(2, 1300), run(2, 1460)];
        let ratio = r.real_time_ratio().unwrap();
        assert!((ratio - 9.2 / 8.28).abs() < 1e-6, "{ratio}");
        assert!(r.passed());
        let text = r.to_string();
        let row = text
            .lines()
            .find(|l| l.contains("two mounts, against the same work"))
            .unwrap();
        assert!(
            row.contains("9.2 / 8.3 = 1.11x") && row.ends_with("PASS"),
            "{row}"
        );
        assert!(
            text.contains(
                "(the full-speed work just before the real-time box 7.8 s/h, just after it 8.8; \
                 the best full-speed turn at the start 6.9, which would give 1.33x; not judged)"
            ),
            "{text}"
        );
        // The box again with the cores kept awake: 5.9 s/h, shown beside
        // the same full-speed work and not judged.
        r.stream_box_awake = Some(box_run(1024, 59, 30, 5_400));
        let text = r.to_string();
        assert!(
            text.contains("kept awake by an idle-class busy thread per core: 5.9 s/h = 0.71x"),
            "{text}"
        );
        assert!(r.passed());
        r.stream_box = Some(box_run(1024, 120, 30, 5_400));
        assert!(!r.passed(), "the awake run does not change the verdict");
        r.stream_box = Some(box_run(1024, 92, 30, 5_400));
        r.stream_box_awake = None;
        // Bad input: a box measured with nothing beside it is judged against
        // the turns at the start, and says nothing of before and after.
        r.two_mounts_beside.clear();
        assert!(!r.passed());
        let text = r.to_string();
        assert!(text.contains("9.2 / 6.9 = 1.33x"), "{text}");
        assert!(!text.contains("just before"), "{text}");
    }

    #[test]
    fn the_targets_decide_the_stream_verdict() {
        assert!(result(run(1, 1100), run(2, 1150), 1000).passed());
        // Over 1.1x lame fails.
        let slow = result(run(1, 1110), run(2, 1111), 1000);
        assert!(!slow.ratio_passed() && !slow.passed());
        // A second mount adding 5 % or more fails.
        let second = result(run(1, 1000), run(2, 1050), 1000);
        assert!((second.second_mount_share() - 0.05).abs() < 1e-9);
        assert!(!second.second_mount_passed() && !second.passed());
        // Bad input: a run in which audio was lost, or a mount sent less
        // than the programme, measured less work than airing it: it fails
        // however cheap it looks.
        let mut lost = run(2, 1000);
        lost.lost_frames = 1152;
        assert!(!result(run(1, 1000), lost, 1000).passed());
        let mut short = run(2, 1000);
        short.bytes_sent[1] /= 2;
        assert!(!short.complete());
        assert!(!result(run(1, 1000), short, 1000).passed());
        let mut one_missing = run(2, 1000);
        one_missing.bytes_sent.pop();
        assert!(!one_missing.complete());
    }
}

/// Reading threads from /proc.
mod threads {
    use std::time::Duration;

    use crate::bench::cost::threads::*;

    #[test]
    fn a_stat_line_gives_the_name_and_the_cpu_ticks() {
        let line = "14273 (onair-mixer) R 14270 14270 10537 0 -1 4194304 100 0 0 0 \
                    250 31 0 0 20 0 1 0 1310503 3133440 374";
        assert_eq!(parse_stat(line), Some(("onair-mixer".to_string(), 281)));
        // Bad input: a name with spaces and parentheses, as thread names
        // may be (`output icecast …`), must not shift the fields.
        let line = "9 (output (x) y) S 1 1 1 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 5 6 7";
        assert_eq!(parse_stat(line), Some(("output (x) y".to_string(), 10)));
        // Bad input: a line cut short, no name, fields that are not numbers.
        assert_eq!(parse_stat("9 (short) S 1 1"), None);
        assert_eq!(parse_stat("9 short S 1 1 1 0 -1 0 0 0 0 0 7 3"), None);
        assert_eq!(parse_stat("9 (x) S 1 1 1 0 -1 0 0 0 0 0 seven 3 0 0"), None);
    }

    #[test]
    fn status_fields_are_read_by_their_exact_key() {
        let text = "Name:\tonair\nVmHWMx:\t1 kB\nVmPeak:\t  99999 kB\nVmHWM:\t   14336 kB\n\
                    VmRSS:\t   12000 kB\nRssAnon:\t    8000 kB\nThreads:\t9\nBad:\tlots kB\n\
                    voluntary_ctxt_switches:\t431\nnonvoluntary_ctxt_switches:\t7\n";
        assert_eq!(status_field(text, "VmHWM"), Some(14336));
        assert_eq!(status_field(text, "VmRSS"), Some(12000));
        assert_eq!(status_field(text, "Threads"), Some(9));
        assert_eq!(status_field(text, "voluntary_ctxt_switches"), Some(431));
        // Bad input: a missing key, a value that is not a number, a key
        // that is only the start of another.
        assert_eq!(status_field(text, "RssFile"), None);
        assert_eq!(status_field(text, "Bad"), None);
        assert_eq!(status_field(text, "VmHW"), None);
        assert_eq!(status_field("", "VmHWM"), None);
    }

    #[test]
    fn readings_are_matched_by_thread_not_by_name() {
        let thread = |tid, name: &str, ms, wakes| ThreadTime {
            tid,
            name: name.into(),
            cpu: Duration::from_millis(ms),
            wakes,
        };
        let earlier = [
            thread(1, "onair", 100, 10),
            thread(2, "output null", 500, 50),
        ];
        // Thread 2 ended; a new thread of the same name started with less.
        let later = [thread(1, "onair", 130, 16), thread(3, "output null", 20, 4)];
        let used = since(&later, &earlier);
        assert_eq!(used.by_name["onair"], (1, Duration::from_millis(30)));
        assert_eq!(used.by_name["output null"], (1, Duration::from_millis(20)));
        assert_eq!(used.cpu, Duration::from_millis(50));
        assert_eq!(used.wakes, 6 + 4);
    }

    #[test]
    fn a_schedstat_line_gives_nanoseconds() {
        assert_eq!(
            parse_schedstat("154809 2988717 2\n"),
            Some(Duration::from_nanos(154_809))
        );
        // Bad input: empty, or not a number.
        assert_eq!(parse_schedstat(""), None);
        assert_eq!(parse_schedstat("lots 1 2"), None);
    }

    #[test]
    fn a_busy_thread_shows_its_time_under_its_own_name() {
        let earlier = threads_of(std::process::id());
        let busy = std::thread::Builder::new()
            .name("bench-busy".into())
            .spawn(|| {
                let until = std::time::Instant::now() + Duration::from_millis(300);
                let mut x = 1u64;
                while std::time::Instant::now() < until {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
                // Read while still alive: an ended thread leaves /proc.
                (x, threads_of(std::process::id()))
            })
            .unwrap();
        let (_, later) = busy.join().unwrap();
        let used = since(&later, &earlier);
        let (count, cpu) = used.by_name["bench-busy"];
        // It woke at least once (to start), and the whole is its parts.
        assert!(used.wakes >= 1, "{used:?}");
        assert!(used.cpu >= cpu);
        assert_eq!(count, 1);
        // A loaded machine may give it less than all of its 300 ms, but
        // never nothing, and never more.
        assert!(cpu >= Duration::from_millis(50), "{cpu:?}");
        assert!(cpu <= Duration::from_millis(320), "{cpu:?}");
        assert!(process_cpu(std::process::id()).unwrap() >= cpu);
        // Bad input: a process that does not exist.
        assert!(threads_of(u32::MAX / 2).is_empty());
        assert_eq!(process_cpu(u32::MAX / 2), None);
    }
}

/// A silent output until `start`, then the studio's tone faded in over
/// `fade` frames (equal power), at 48 kHz from `anchor`.
fn studio_output(start: usize, fade: usize, total: usize) -> Vec<f32> {
    let rate = 48_000.0;
    (0..total)
        .map(|i| {
            if i < start {
                return 0.0;
            }
            let x = ((i - start) as f64 / fade as f64).min(1.0);
            let gain = (x * std::f64::consts::FRAC_PI_2).sin();
            (0.5 * gain * (i as f64 / rate * 1000.0 * std::f64::consts::TAU).sin()) as f32
        })
        .collect()
}

#[test]
fn the_studio_benchmark_finds_the_first_live_sample_and_the_full_level() {
    use crate::bench::cost::studio::find_live;
    let anchor = chrono::Utc::now();
    // LIVE in at 100 ms; the fade starts at 130 ms and lasts 500 ms.
    let samples = studio_output(6_240, 24_000, 48_000 * 2);
    let command = anchor + TimeDelta::milliseconds(100);
    let (first, full) = find_live(
        &samples,
        48_000,
        anchor,
        command,
        Duration::from_millis(500),
    )
    .unwrap();
    assert!(
        first >= Duration::from_millis(30) && first < Duration::from_millis(31),
        "{first:?}"
    );
    // Equal power reaches 99 % of its level at 91 % of the fade.
    assert!(
        full > Duration::from_millis(30 + 450) && full <= Duration::from_millis(30 + 500),
        "{full:?}"
    );
    // Bad input: an output that stays silent, one that ends within the fade.
    let silent = vec![0.0f32; 48_000];
    assert!(find_live(&silent, 48_000, anchor, command, Duration::from_millis(500)).is_err());
    let short = studio_output(6_240, 24_000, 20_000);
    assert!(find_live(&short, 48_000, anchor, command, Duration::from_millis(500)).is_err());
}

#[test]
fn the_studio_benchmark_runs_the_box_with_a_live_input() {
    let work = WorkFolder::create(&std::env::temp_dir()).unwrap();
    let run = crate::bench::cost::studio::measure(
        &PathBuf::from(env!("CARGO_BIN_EXE_onair")),
        work.path(),
        Duration::from_secs(3),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let shown = run.to_string();
    assert!(
        run.first_live > Duration::ZERO
            && run.full_level >= run.first_live + Duration::from_millis(400),
        "{shown}"
    );
    // A second at most, even in a debug build on a busy machine: the
    // command is not stuck behind anything.
    assert!(run.full_level < Duration::from_millis(1500), "{shown}");
    assert!(
        run.display_per_hour > 0.0 && run.capture_thread_per_hour > 0.0,
        "{shown}"
    );
    assert!(shown.contains("target <= fade 500 + 20 ms"), "{shown}");
}

fn thread(tid: u32, name: &str, ms: u64) -> crate::bench::cost::threads::ThreadTime {
    crate::bench::cost::threads::ThreadTime {
        tid,
        name: name.to_string(),
        cpu: Duration::from_millis(ms),
        wakes: 0,
    }
}

#[test]
fn the_recorders_threads_are_counted_apart_from_the_rest_between_two_readings() {
    use crate::bench::cost::recording::{recorder_cpu, used_between};
    let earlier = [
        thread(1, "main", 500),
        thread(2, "rec partner1", 100),
        thread(3, "rec-w partner1", 40),
        thread(4, "recorder", 10),
    ];
    let later = [
        thread(1, "main", 900),
        thread(2, "rec partner1", 130),
        thread(3, "rec-w partner1", 100),
        thread(4, "recorder", 11),
        // Began between the readings: not counted.
        thread(5, "rec partner2", 70),
    ];
    let used = used_between(&later, &earlier);
    assert_eq!(used.len(), 4);
    // The keeper thread ("recorder") is neither a reader nor a writer.
    assert_eq!(
        recorder_cpu(&used),
        (Duration::from_millis(30), Duration::from_millis(60))
    );
}

#[test]
fn the_recorders_cost_is_per_channel_hour_against_lame_and_judged_at_one_percent() {
    use crate::bench::cost::recording::{RECORDER_RATIO_TARGET, RecordingRun};
    // Three channels for a minute: 0.3 s of reading and 0.6 s of writing
    // is 0.3 s a channel a minute, 18 s a channel an hour.
    let run = RecordingRun {
        channels: 3,
        ran_for: Duration::from_secs(60),
        readers: Duration::from_millis(300),
        writers: Duration::from_millis(600),
        lame_per_hour: 3600.0,
        added_kib: 3 * 512,
    };
    assert!((run.per_channel_hour() - 18.0).abs() < 1e-9);
    assert!((run.reader_per_channel_hour() - 6.0).abs() < 1e-9);
    assert!((run.ratio_to_lame() - 0.005).abs() < 1e-12);
    assert!(run.passed() && RECORDER_RATIO_TARGET == 0.01);
    assert_eq!(run.kib_per_channel(), 512);
    let shown = run.to_string();
    assert!(
        shown.contains("CPU per recorded hour per channel: 18.000 s"),
        "{shown}"
    );
    assert!(shown.contains("0.50 % (target < 1 %) ok"), "{shown}");
    assert!(shown.contains("memory per channel: 512 KiB"), "{shown}");
    // Twice lame's hundredth: over, and the whole report with it.
    let over = RecordingRun {
        lame_per_hour: 900.0,
        ..run
    };
    assert!(!over.passed());
    assert!(over.to_string().contains("OVER"));
    let mut whole = report(vec![file(1000, 1000)], None);
    whole.recording = Some(run.clone());
    assert!(whole.passed());
    whole.recording = Some(over);
    assert!(!whole.passed());
    assert!(
        whole
            .to_string()
            .contains("The stream recorder: 3 channels")
    );
}
