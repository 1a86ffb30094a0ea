//! The studio takes over. The live input is alsa-lib's `file` plugin
//! reading a FIFO that the test feeds at real time with a tone (or with
//! digital zeros, for a silent studio); the box plays to a WAV file read
//! back with the Goertzel listener. Bad input tried: a capture device that
//! does not exist (LIVE refused, automation on with no gap), one that hangs
//! when opened (given up, let go when it opens late), one plugged in after
//! the start (opened by the box itself, LIVE then works), a studio that
//! goes silent, a programme file that is digital silence.

use crate::common;

use common::studio::{self, LIVE_TONE, RATE, Studio};
use common::*;
use onair::director::{Command, CommandError, Done};

fn station(name: &str, start: &str, speed: f64, live: &str) -> Station {
    let mut s = Station::new(name);
    s.clock(start, speed).sample_rate_hz(RATE).fade_ms(300);
    s.section(live);
    s
}

#[test]
fn live_takes_over_with_a_fade_and_auto_brings_back_the_programme_at_its_offset() {
    let _serial = studio::one_at_a_time();
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
    let _serial = studio::one_at_a_time();
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
    raised_once_and_cleared(&log, "live_silence");
}

/// The as-run log's alarms: `kind` raised once and cleared once, no other.
fn raised_once_and_cleared(log: &common::asrun::AsRunLog, kind: &str) {
    let alarms = log.of_kind(Kind::Alarm);
    log.check(
        alarms.len() == 2
            && alarms[0].title == format!("alarm: {kind}")
            && alarms[1].title == format!("cleared: {kind}"),
        &format!("the {kind} alarm is raised once and cleared once"),
    );
}

/// The box opens its capture device more than once (finding it, asking
/// what it can record, then recording). The test studio, like a sound
/// card, must deliver again each time: a studio that stopped feeding when
/// the first open closed left the box waiting 5 s for a device that never
/// delivered, and refused LIVE for the rest of the run.
#[test]
fn the_test_studio_delivers_again_when_its_device_is_opened_a_second_time() {
    use std::io::Read;
    let _serial = studio::one_at_a_time();
    let dir = std::env::temp_dir().join(format!("onair-studio-reopen-{}", std::process::id()));
    let studio = Studio::start(&dir, "studio_r");
    let fifo = dir.join("studio.fifo");
    let read_some = |fifo: std::path::PathBuf| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut bytes = [0u8; 64];
            let got = std::fs::File::open(&fifo).and_then(|mut f| f.read_exact(&mut bytes));
            let _ = tx.send(got.is_ok());
        });
        rx.recv_timeout(std::time::Duration::from_secs(3))
    };
    assert_eq!(
        read_some(fifo.clone()),
        Ok(true),
        "the first open delivered nothing"
    );
    // Long enough for the studio's next write to find the device closed.
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        read_some(fifo),
        Ok(true),
        "the studio stopped feeding when the device was closed once"
    );
    drop(studio);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Bad input: the studio's interface not there when the box starts (its
/// open hangs, as the studio's FIFO with nobody feeding it does), then
/// plugged in. Automation airs from the start regardless; LIVE is refused
/// with the `live_input` alarm while the device cannot be opened; once it
/// delivers, the box opens it again by itself, the alarm clears, and LIVE
/// puts the studio on air without a restart.
#[test]
fn a_studio_plugged_in_after_the_start_is_opened_by_itself_and_live_then_works() {
    let _serial = studio::one_at_a_time();
    let mut s = station(
        "live-late",
        "2026-03-02 00:59:58",
        1.0,
        "[live]\ndevice = \"studio_late\"\nfade_ms = 300\n",
    );
    let fifo = Studio::device(&s.dir().join("studio"), "studio_late");
    s.programme("2026-03-02 01:00", "talk", 400, 30.0, "wav");
    let running = s.start_in_process();
    // The first open gives up after 5 s. (Nobody presses LIVE meanwhile,
    // which would have the box try again at once: what is tried here is
    // the box trying by itself.)
    s.wait_until(s.local("2026-03-02 01:00:05") + ms(500));
    let status = common::http::get(&s.web_address(), "/api/status").json();
    assert_eq!(status["alarms"][0]["kind"], "live_input", "{status}");
    assert_eq!(status["live"]["available"], false, "{status}");
    assert!(
        status["live"]["problem"]
            .as_str()
            .is_some_and(|p| p.contains("studio_late") && p.contains("within 5 s")),
        "{status}"
    );

    // Plugged in: the box opens it within its retry and a moment.
    let _studio = Studio::feeding(fifo);
    let plugged = std::time::Instant::now();
    loop {
        let status = common::http::get(&s.web_address(), "/api/status").json();
        if status["live"]["available"] == true {
            assert!(status["alarms"].as_array().unwrap().is_empty(), "{status}");
            break;
        }
        assert!(
            plugged.elapsed() < std::time::Duration::from_secs(15),
            "the box did not open the studio it was given: {status}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let pressed = s.now();
    assert_eq!(running.command(Command::Live), Ok(Done::Live));
    s.wait_until(pressed + ms(3000));
    running.stop();

    let aired = s.aired();
    s.label_tone(LIVE_TONE, "the studio");
    let runs = s.runs(&aired);
    // Automation from its start, untouched by the device's hanging open.
    expect_start(&runs, 400, s.local("2026-03-02 01:00:00"), ms(100));
    // The studio on air within the fade of LIVE.
    expect_at(&runs, pressed + ms(600), What::Tone(LIVE_TONE));
    expect_at(&runs, pressed + ms(2500), What::Tone(LIVE_TONE));
    raised_once_and_cleared(&s.log_json(), "live_input");
}

/// Bad input: a capture device that hangs when opened (the studio's FIFO
/// with nobody feeding it: alsa-lib waits in its open). The open is given
/// up after 5 s with a clear error; when the device opens after all, the
/// given-up open lets it go at once rather than recording from it, unseen,
/// on a thread nobody will stop (which would also hold a real card busy).
#[test]
fn a_capture_device_that_hangs_on_open_is_given_up_and_let_go_when_it_opens_late() {
    use onair::engine::LiveInput;
    use std::time::{Duration, Instant};
    let _serial = studio::one_at_a_time();
    let dir = std::env::temp_dir().join(format!("onair-studio-hangs-{}", std::process::id()));
    let fifo = Studio::device(&dir, "studio_h");
    let asked = Instant::now();
    let mut input = LiveInput::new("studio_h", RATE);
    let Err(e) = input.open() else {
        panic!("a device nobody feeds opened");
    };
    assert!(
        asked.elapsed() >= Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    let text = e.to_string();
    assert!(
        text.contains("studio_h") && text.contains("within 5 s"),
        "{text}"
    );
    // The device opens at last. The given-up open reads it for a moment
    // (alsa-lib and cpal open it more than once) and then lets it go: the
    // studio's feeder finds nobody reading and waits for a reader again.
    let studio = Studio::feeding(fifo);
    std::thread::sleep(Duration::from_secs(2));
    let settled = studio.frames_sent();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        studio.frames_sent(),
        settled,
        "the given-up open is still recording from the device"
    );
    drop(studio);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_capture_device_that_is_missing_refuses_live_and_automation_plays_on() {
    let _serial = studio::one_at_a_time();
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
    let _serial = studio::one_at_a_time();
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

#[test]
fn the_front_panels_live_and_auto_buttons_switch_the_studio_and_the_log_says_panel() {
    let _serial = studio::one_at_a_time();
    let mut s = station(
        "panel-press",
        "2026-03-02 00:59:58",
        1.0,
        "[live]\ndevice = \"studio_p\"\nfade_ms = 300\n",
    );
    let _studio = Studio::start(&s.dir().join("studio"), "studio_p");
    s.programme("2026-03-02 01:00", "talk", 600, 60.0, "wav");
    // The real binary with its simulated buttons: `onair press` holds one
    // down, the panel debounces it and sends the director its command.
    s.start();
    s.wait_until(s.local("2026-03-02 01:00:03"));
    let asked = s.now();
    let pressed = s.command("press", &["live"]);
    assert!(pressed.status.success(), "{pressed:?}");
    s.wait_until(s.local("2026-03-02 01:00:08"));
    let status = common::http::get(&s.web_address(), "/api/status").json();
    assert_eq!(status["mode"], "live", "{status}");
    assert_eq!(status["lamps"]["live"], true, "{status}");
    assert_eq!(status["live"]["by"], "panel", "{status}");
    // Bad input: a second LIVE while live, and a button held at AUTO's
    // press changes nothing else.
    assert!(s.command("press", &["live"]).status.success());
    let back_asked = s.now();
    let auto = s.command("press", &["auto"]);
    assert!(auto.status.success(), "{auto:?}");
    s.wait_until(s.local("2026-03-02 01:00:12"));
    s.terminate();

    let log = s.log_json();
    let lives = log.of_kind(Kind::Live);
    log.check(lives.len() == 1, "one live entry for two LIVE presses");
    let live = lives[0];
    log.check(live.by.as_deref() == Some("panel"), "the panel switched");
    let went = live.start.to_utc();
    log.check(
        went > asked && went - asked < ms(1500),
        "the studio goes on air within moments of the press",
    );
    let Some(back) = live.end.map(|e| e.to_utc()) else {
        log.fail("the live entry has no end")
    };
    log.check(
        back > back_asked && back - back_asked < ms(1500),
        "automation is back within moments of AUTO",
    );
    log.check(
        live.reason.as_deref().is_some_and(|r| r.contains("panel")),
        "the live entry says who brought automation back",
    );
    // The report for royalties and compliance shows the live period too.
    let report = s.command("report", &["--from", "2026-03-02", "--to", "2026-03-02"]);
    assert!(report.status.success(), "{report:?}");
    let csv = String::from_utf8_lossy(&report.stdout);
    assert!(
        csv.lines()
            .next()
            .is_some_and(|header| header.ends_with(",problem,by")),
        "{csv}"
    );
    assert!(
        csv.lines()
            .any(|row| row.contains(",live,") && row.ends_with(",panel")),
        "no live row by the panel in the report:\n{csv}"
    );
    let aired = s.aired();
    s.label_tone(LIVE_TONE, "the studio");
    let runs = s.runs(&aired);
    expect_only(
        &runs,
        s.local("2026-03-02 01:00:00") + ms(30),
        s.local("2026-03-02 01:00:12"),
        &[What::Tone(600), What::Tone(LIVE_TONE), What::Tone(600)],
        ms(30),
    );
    expect_at(&runs, went + ms(400), What::Tone(LIVE_TONE));
    expect_at(&runs, back + ms(400), What::Tone(600));
}

#[test]
fn a_programme_missed_while_live_starts_late_within_the_limit_and_is_cancelled_past_it() {
    let _serial = studio::one_at_a_time();
    // Quick station time: the studio's audio underruns at 10×, so the
    // studio-silence watch is set out of the way; what matters here is
    // what the director does with the programmes the studio sat over.
    let mut s = station(
        "live-late",
        "2026-03-02 01:00:50",
        10.0,
        "[live]\ndevice = \"studio_l\"\ncancel_after_minutes = 1\n\
         [silence]\nafter_seconds = 300\n",
    );
    let _studio = Studio::start(&s.dir().join("studio"), "studio_l");
    s.filler(2500, 600.0);
    // Step-coded: where it is joined tells whether it started from the top.
    s.programme_steps(
        "2026-03-02 01:01",
        "early",
        &[(700, 10.0), (750, 50.0)],
        "wav",
    );
    s.programme("2026-03-02 01:03", "middle", 800, 60.0, "wav");
    s.programme_steps(
        "2026-03-02 01:05",
        "later",
        &[(900, 10.0), (950, 50.0)],
        "wav",
    );
    let running = s.start_in_process();
    s.wait_until(s.local("2026-03-02 01:00:55"));
    assert_eq!(running.command(Command::Live), Ok(Done::Live));
    // 50 s after its start, within the minute: "early" from its beginning.
    s.wait_until(s.local("2026-03-02 01:01:50"));
    let first_back = s.now();
    assert_eq!(running.command(Command::Auto), Ok(Done::Auto));
    s.wait_until(s.local("2026-03-02 01:04:30"));
    assert_eq!(running.command(Command::Live), Ok(Done::Live));
    // 70 s after its start, past the minute: "later" is cancelled.
    s.wait_until(s.local("2026-03-02 01:06:10"));
    let second_back = s.now();
    assert_eq!(running.command(Command::Auto), Ok(Done::Auto));
    s.wait_until(s.local("2026-03-02 01:06:30"));
    running.stop();

    let log = s.log_json();
    let early = log.one("early");
    log.check(
        early.offset_ms == Some(0),
        "the late programme starts from its beginning",
    );
    let started = early.start.to_utc();
    log.check(
        started >= first_back && started - first_back < secs(3),
        "the late programme starts when automation is back",
    );
    log.expect_ended(log.one("middle"), &[Ended::Natural]);
    let later = log.one("later");
    log.expect_ended(later, &[Ended::Cancelled]);
    log.check(
        later.reason.as_deref().is_some_and(|r| {
            // 70 s late, give or take the command's way through the box.
            r.contains("came back 1 min 1") && r.ends_with("(live.cancel_after_minutes = 1)")
        }),
        "the cancelled programme's entry says why",
    );
    let aired = s.aired();
    s.label_tone(LIVE_TONE, "the studio");
    let runs = s.runs(&aired);
    expect_start(&runs, 700, started, secs(1));
    expect_start(&runs, 750, started + secs(10), secs(1));
    expect_start(&runs, 800, s.local("2026-03-02 01:03:00"), secs(1));
    // Past the limit the filler fills until the next programme: "later"
    // is never heard.
    expect_at(&runs, second_back + secs(5), What::Tone(2500));
    log.check(
        !runs
            .runs
            .iter()
            .any(|r| r.what == What::Tone(900) || r.what == What::Tone(950)),
        "the cancelled programme is not heard",
    );
}
