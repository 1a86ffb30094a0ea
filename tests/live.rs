//! The studio takes over. The live input is alsa-lib's `file` plugin
//! reading a FIFO that the test feeds at real time with a tone (or with
//! digital zeros, for a silent studio); the box plays to a WAV file read
//! back with the Goertzel listener. Bad input tried: a capture device that
//! does not exist (LIVE refused, automation on with no gap), a studio that
//! goes silent, a programme file that is digital silence.

mod common;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::*;
use onair::director::{Command, CommandError, Done};

const RATE: u32 = 48_000;
const LIVE_TONE: u32 = 1000;

/// The studio: a FIFO fed with stereo f32 at real time, `tone` Hz (0:
/// digital zeros), switchable while it runs.
struct Studio {
    tone: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    feeder: Option<std::thread::JoinHandle<()>>,
}

impl Studio {
    /// Writes an ALSA configuration with a capture device named `device`
    /// reading `fifo`, points this process's alsa-lib at it, and starts feeding.
    fn start(dir: &Path, device: &str) -> Studio {
        std::fs::create_dir_all(dir).unwrap();
        let fifo = dir.join("studio.fifo");
        let _ = std::fs::remove_file(&fifo);
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string; mkfifo only reads it.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
        let conf = dir.join("alsa.conf");
        std::fs::write(
            &conf,
            format!(
                r#"pcm.{device} {{
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "{fifo}"
    format "raw"
    hint {{ show on description "onair test studio" }}
}}
"#,
                fifo = fifo.display()
            ),
        )
        .unwrap();
        alsa_config(&conf);
        let tone = Arc::new(AtomicU32::new(LIVE_TONE));
        let stop = Arc::new(AtomicBool::new(false));
        let (t, s) = (Arc::clone(&tone), Arc::clone(&stop));
        let feeder = std::thread::spawn(move || feed(&fifo, &t, &s));
        Studio {
            tone,
            stop,
            feeder: Some(feeder),
        }
    }

    fn tone(&self, hz: u32) {
        self.tone.store(hz, Ordering::Relaxed);
    }
}

impl Drop for Studio {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(f) = self.feeder.take() {
            let _ = f.join();
        }
    }
}

/// Points alsa-lib at the system configuration plus this test's device
/// (the tests run one at a time, the environment being the process's).
fn alsa_config(conf: &Path) {
    // SAFETY: the tests run one at a time, and this is set before the box opens ALSA.
    unsafe {
        std::env::set_var(
            "ALSA_CONFIG_PATH",
            format!("/usr/share/alsa/alsa.conf:{}", conf.display()),
        );
    }
}

fn feed(fifo: &Path, tone: &AtomicU32, stop: &AtomicBool) {
    // Opening blocks until the box opens the device for capture.
    let Ok(mut out) = std::fs::OpenOptions::new().write(true).open(fifo) else {
        return;
    };
    let chunk = RATE as usize / 100;
    let begun = Instant::now();
    let mut sent: u64 = 0;
    let mut bytes = Vec::with_capacity(chunk * 8);
    while !stop.load(Ordering::Relaxed) {
        let hz = tone.load(Ordering::Relaxed);
        bytes.clear();
        for i in 0..chunk as u64 {
            let t = (sent + i) as f64 / f64::from(RATE);
            let s = if hz == 0 {
                0.0
            } else {
                (0.5 * (t * f64::from(hz) * std::f64::consts::TAU).sin()) as f32
            };
            bytes.extend_from_slice(&s.to_le_bytes());
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        if out.write_all(&bytes).is_err() {
            return;
        }
        sent += chunk as u64;
        let due = begun + Duration::from_secs_f64(sent as f64 / f64::from(RATE));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}

/// The tests here run one at a time: each feeds a studio at real time and
/// reads its output back, and the ALSA configuration is the process's.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn station(name: &str, start: &str, speed: f64, live: &str) -> Station {
    let mut s = Station::new(name);
    s.clock(start, speed).sample_rate_hz(RATE).fade_ms(300);
    s.section(live);
    s
}

#[test]
fn live_takes_over_with_a_fade_and_auto_brings_back_the_programme_at_its_offset() {
    let _serial = one_at_a_time();
    let mut s = station(
        "live-takeover",
        "2026-03-02 00:59:58",
        1.0,
        "[live]\ndevice = \"studio_a\"\nfade_ms = 500\ntitle = \"Studio\"\n",
    );
    let _studio = Studio::start(&s.dir().join("studio"), "studio_a");
    // Step-coded, so where it resumes tells its offset.
    s.programme_steps(
        "2026-03-02 01:00",
        "talk",
        &[(400, 10.0), (600, 10.0), (800, 20.0)],
        "wav",
    );
    let running = s.start_in_process();
    s.wait_until(s.local("2026-03-02 01:00:05"));
    let pressed = s.now();
    assert_eq!(running.command(Command::Live), Ok(Done::Live));
    let status = common::http::get(&s.web_address(), "/api/status").json();
    assert_eq!(status["mode"], "live", "{status}");
    assert_eq!(status["lamps"]["live"], true, "{status}");
    assert_eq!(status["live"]["by"], "panel", "{status}");
    s.wait_until(s.local("2026-03-02 01:00:14"));
    let back = s.now();
    assert_eq!(running.command(Command::Auto), Ok(Done::Auto));
    assert_eq!(
        running.command(Command::Auto),
        Err(CommandError::NotLive),
        "a second AUTO has nothing to do"
    );
    s.wait_until(s.local("2026-03-02 01:00:24"));
    running.stop();

    let log = s.log_json();
    let live = log
        .of_kind(Kind::Live)
        .into_iter()
        .next()
        .unwrap_or_else(|| log.fail("no live entry in the as-run log"));
    log.check(
        live.by.as_deref() == Some("panel"),
        "the live entry names who switched",
    );
    log.check(live.title == "Studio", "the live entry has live.title");
    let went_live = live.start.to_utc();
    log.check(
        (went_live - pressed).abs() < ms(600),
        "the studio goes on air when LIVE is pressed",
    );
    let talk = log
        .entries
        .iter()
        .find(|e| e.title == "Talk" && e.ended == Some(Ended::Live))
        .unwrap_or_else(|| log.fail("the programme must be logged as taken off by the studio"));
    log.check(
        talk.reason.as_deref().is_some_and(|r| r.contains("panel")),
        "the programme's entry says who took it off",
    );
    let Some(returned) = live.end.map(|e| e.to_utc()) else {
        log.fail("the live entry has no end")
    };
    log.check(
        returned > back && returned < back + ms(600),
        "automation is back within a moment of AUTO",
    );

    let aired = s.aired();
    s.label_tone(LIVE_TONE, "the studio");
    let runs = s.runs(&aired);
    // The programme until the takeover, then the studio at full level
    // within the fade (and 50 ms), with no gap between them.
    expect_only(
        &runs,
        s.local("2026-03-02 01:00:00") + ms(30),
        returned + ms(600),
        &[What::Tone(400), What::Tone(LIVE_TONE), What::Tone(600)],
        ms(30),
    );
    expect_at(&runs, went_live + ms(550), What::Tone(LIVE_TONE));
    expect_at(&runs, returned - ms(50), What::Tone(LIVE_TONE));
    // Back to the programme at the offset the clock kept: its 800 Hz step
    // starts at 01:00:20 to within 100 ms.
    expect_at(&runs, returned + ms(600), What::Tone(600));
    expect_start(&runs, 800, s.local("2026-03-02 01:00:20"), ms(100));
}

#[test]
fn a_silent_studio_gives_way_to_automation_with_an_alarm_but_a_pause_does_not() {
    let _serial = one_at_a_time();
    let mut s = station(
        "live-silence",
        "2026-03-02 00:59:58",
        1.0,
        "[live]\ndevice = \"studio_b\"\n\n[silence]\nafter_seconds = 4\nrecovery_seconds = 2\n",
    );
    let studio = Studio::start(&s.dir().join("studio"), "studio_b");
    s.programme("2026-03-02 01:00", "talk", 400, 40.0, "wav");
    let running = s.start_in_process();
    s.wait_until(s.local("2026-03-02 01:00:02"));
    assert_eq!(running.command(Command::Live), Ok(Done::Live));
    // 3 s of silence (under the 4 s), then a word: the studio stays on.
    s.wait_until(s.local("2026-03-02 01:00:04"));
    studio.tone(0);
    s.wait_until(s.local("2026-03-02 01:00:07"));
    studio.tone(LIVE_TONE);
    s.wait_until(s.local("2026-03-02 01:00:09"));
    let status = common::http::get(&s.web_address(), "/api/status").json();
    assert_eq!(status["mode"], "live", "a pause must not switch: {status}");
    // Now silent for good: automation is back about 4 s later, with an alarm.
    let quiet = s.now();
    studio.tone(0);
    s.wait_until(s.local("2026-03-02 01:00:16"));
    let status = common::http::get(&s.web_address(), "/api/status").json();
    assert_eq!(status["mode"], "auto", "{status}");
    assert_eq!(status["alarms"][0]["kind"], "live_silence", "{status}");
    assert_eq!(status["lamps"]["alarm"], true, "{status}");
    // Sound again in the studio clears the alarm after the recovery time.
    studio.tone(LIVE_TONE);
    s.wait_until(s.local("2026-03-02 01:00:20"));
    let status = common::http::get(&s.web_address(), "/api/status").json();
    assert_eq!(
        status["alarms"].as_array().map(Vec::len),
        Some(0),
        "{status}"
    );
    assert_eq!(
        status["mode"], "auto",
        "the box never goes back to the studio by itself"
    );
    running.stop();

    let log = s.log_json();
    let live = log.of_kind(Kind::Live);
    log.check(live.len() == 1, "one live period");
    let Some(end) = live[0].end.map(|e| e.to_utc()) else {
        log.fail("the live period has no end")
    };
    log.check(
        end > quiet + ms(3500) && end < quiet + ms(5500),
        "the studio goes off after 4 s of silence (and the look-ahead's half second)",
    );
    log.check(
        live[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("silence")),
        "the log says silence switched back",
    );
    let alarms = log.of_kind(Kind::Alarm);
    log.check(
        alarms.len() == 2
            && alarms[0].title == "alarm: live_silence"
            && alarms[1].title == "cleared: live_silence",
        "the alarm is raised once and cleared once",
    );
}

#[test]
fn a_capture_device_that_is_missing_refuses_live_and_automation_plays_on() {
    let _serial = one_at_a_time();
    let mut s = station(
        "live-missing",
        "2026-03-02 00:59:58",
        1.0,
        "[live]\ndevice = \"no_such_studio\"\n",
    );
    s.programme("2026-03-02 01:00", "talk", 400, 20.0, "wav");
    let running = s.start_in_process();
    s.wait_until(s.local("2026-03-02 01:00:03"));
    let refused = running.command(Command::Live);
    assert!(
        matches!(&refused, Err(CommandError::LiveInputUnavailable(why)) if why.contains("no_such_studio")),
        "{refused:?}"
    );
    let status = common::http::get(&s.web_address(), "/api/status").json();
    assert_eq!(status["mode"], "auto", "{status}");
    assert_eq!(status["alarms"][0]["kind"], "live_input", "{status}");
    assert_eq!(status["live"]["available"], false, "{status}");
    s.wait_until(s.local("2026-03-02 01:00:08"));
    running.stop();
    let aired = s.aired();
    let runs = s.runs(&aired);
    expect_run(
        &runs,
        400,
        s.local("2026-03-02 01:00:00"),
        s.local("2026-03-02 01:00:08"),
        ms(100),
    );
}

#[test]
fn dead_air_brings_in_the_emergency_audio_until_the_next_programme_and_clears_after_sound() {
    let _serial = one_at_a_time();
    let mut s = Station::new("dead-air");
    s.clock("2026-03-02 00:59:58", 4.0).sample_rate_hz(RATE);
    s.section("[silence]\nafter_seconds = 5\nrecovery_seconds = 3\n");
    s.emergency(900, 30.0);
    // A programme file that is digital silence (a broken studio feed recorded).
    s.programme("2026-03-02 01:00", "silent-hour", 0, 60.0, "wav");
    s.programme("2026-03-02 01:01", "news", 700, 30.0, "wav");
    s.start();
    s.wait_until(s.local("2026-03-02 01:01:10"));
    let status = common::http::get(&s.web_address(), "/api/status").json();
    assert_eq!(
        status["alarms"].as_array().map(Vec::len),
        Some(0),
        "cleared after news: {status}"
    );
    s.terminate();

    let log = s.log_json();
    let silent = log.one("silent-hour");
    log.expect_ended(silent, &[Ended::DeadAir]);
    let alarms = log.of_kind(Kind::Alarm);
    log.check(
        alarms.len() == 2
            && alarms[0].title == "alarm: dead_air"
            && alarms[1].title == "cleared: dead_air",
        "dead air is raised once, and cleared once the news has sound",
    );
    let raised = alarms[0].start.to_utc();
    log.check(
        raised > s.local("2026-03-02 01:00:04") && raised < s.local("2026-03-02 01:00:08"),
        "dead air is noticed after 5 s of silence",
    );
    let cleared = alarms[1].start.to_utc();
    log.check(
        cleared > s.local("2026-03-02 01:01:02") && cleared < s.local("2026-03-02 01:01:06"),
        "the alarm clears 3 s into the news",
    );
    let aired = s.aired();
    let runs = s.runs(&aired);
    expect_only(
        &runs,
        raised + secs(2),
        s.local("2026-03-02 01:01:00") - ms(50),
        &[What::Tone(900)],
        ms(50),
    );
    expect_start(&runs, 700, s.local("2026-03-02 01:01:00"), ms(50));
}
