//! Listen-again on the status page in real headless Chromium against the
//! real binary: a filler tone and then a programme's tone air into the
//! archive across 12:00 station time (Berlin; the browser thinks it is in
//! Tokyo), two segments are deleted to make a 12 s hole, and the page's
//! Listen-again plays the range 12:00:00-12:00:42 with its vendored hls.js.
//! Listening through an `AnalyserNode`, the test hears the tones where
//! they aired, and hls.js's programme date after the hole is the time the
//! segment after the hole aired, not the time it would have had if the
//! hole were not there.
//!
//! Without chromedriver this fails with the install hint; it never passes
//! without a browser.

use crate::common;

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use common::browser::Browser;
use common::*;
use onair::archive::names::SegmentName;
use serde_json::Value;

const RATE: u32 = 48_000;
const FILLER_TONE: u32 = 500;
const PROGRAMME_TONE: u32 = 900;
/// How close the spectrum's peak must be to the tone aired.
const TONE_SLACK_HZ: f64 = 50.0;
/// How close hls.js's programme date must be to the time the audio aired.
const DATE_SLACK_MS: f64 = 500.0;
/// How near the hole's place on the player's timeline a moment may belong
/// to either side of it.
const EDGE_S: f64 = 0.25;

/// Installed before Play: counts hls.js's manifests and fatal errors for
/// every player the page makes (hls.js's methods live on its prototype).
const WATCH_HLS_JS: &str = r#"
window.seen = { parsed: [], fatal: [], errors: [] };
const attach = Hls.prototype.attachMedia;
Hls.prototype.attachMedia = function (media) {
  this.on(Hls.Events.MANIFEST_PARSED, (_, d) => seen.parsed.push(d.levels.length));
  this.on(Hls.Events.ERROR, (_, d) => (d.fatal ? seen.fatal : seen.errors).push(d.details));
  return attach.call(this, media);
};
return true;
"#;

/// Once playing: the element's sound through an analyser (the element
/// still plays to the speakers through the graph).
const LISTEN: &str = r#"
const audio = document.getElementById("listen-audio");
window.ears = new AudioContext();
const source = ears.createMediaElementSource(audio);
window.analyser = ears.createAnalyser();
analyser.fftSize = 8192;
analyser.smoothingTimeConstant = 0;
source.connect(analyser);
analyser.connect(ears.destination);
ears.resume();
return true;
"#;

/// What is playing now: the element's position, hls.js's programme date
/// and the spectrum's loudest frequency.
const SAMPLE: &str = r#"
const audio = document.getElementById("listen-audio");
const bins = new Float32Array(analyser.frequencyBinCount);
analyser.getFloatFrequencyData(bins);
let peak = 0;
for (let i = 1; i < bins.length; i++) if (bins[i] > bins[peak]) peak = i;
const date = player.hls && player.hls.playingDate;
return {
  time: audio.currentTime,
  paused: audio.paused,
  ended: audio.ended,
  date: date ? date.getTime() : null,
  peak_hz: peak * ears.sampleRate / analyser.fftSize,
  peak_db: bins[peak],
  hls_js: player.hls instanceof Hls,
  context: ears.state,
  state: document.getElementById("listen-state").textContent,
  at: document.getElementById("listen-at").textContent,
  after: document.getElementById("listen-after").textContent,
};
"#;

#[derive(Debug)]
struct Heard {
    time: f64,
    date: Option<f64>,
    peak_hz: f64,
    peak_db: f64,
    at: String,
    after: String,
}

fn heard(value: &Value) -> Heard {
    let number = |key: &str| {
        value[key]
            .as_f64()
            .unwrap_or_else(|| panic!("no {key} in {value}"))
    };
    Heard {
        time: number("time"),
        date: value["date"].as_f64(),
        peak_hz: number("peak_hz"),
        // Silence is -Infinity dB, which JSON carries as null.
        peak_db: value["peak_db"].as_f64().unwrap_or(f64::NEG_INFINITY),
        at: value["at"].as_str().unwrap_or_default().into(),
        after: value["after"].as_str().unwrap_or_default().into(),
    }
}

fn ms(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64
}

/// Deletes the segments that start in `from..to` (station instants) and
/// returns them in order.
fn make_hole(s: &Station, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<SegmentName> {
    let quality = s.dir().join("archive").join("fm").join("128k");
    let mut deleted = Vec::new();
    for hour in std::fs::read_dir(&quality).unwrap().flatten() {
        let hour_name = hour.file_name().to_string_lossy().to_string();
        for entry in std::fs::read_dir(hour.path()).unwrap().flatten() {
            let file = entry.file_name().to_string_lossy().to_string();
            let Ok(name) = SegmentName::parse(&format!("{hour_name}/{file}")) else {
                continue;
            };
            if (from..to).contains(&name.start) {
                std::fs::remove_file(entry.path()).unwrap();
                deleted.push(name);
            }
        }
    }
    deleted.sort_by_key(|n| n.start);
    deleted
}

#[test]
fn the_page_plays_a_range_with_a_hole_and_tells_the_time_it_aired() {
    let mut s = Station::new("listen-again");
    let archive = s.dir().join("archive");
    s.timezone(chrono_tz::Europe::Berlin)
        .sample_rate_hz(RATE)
        .clock("2026-01-05 11:59:50", 4.0)
        .section(&format!(
            "[archive]\ndir = \"{}\"\nchannel = \"fm\"\n",
            archive.display()
        ));
    s.filler(FILLER_TONE, 600.0);
    s.programme(
        "2026-01-05 12:00",
        "programme",
        PROGRAMME_TONE,
        120.0,
        "wav",
    );
    s.start();
    // The range is over (its last segment written) well before 12:01.
    s.wait_until(s.local("2026-01-05 12:01:00"));

    let deleted = make_hole(
        &s,
        s.local("2026-01-05 12:00:12"),
        s.local("2026-01-05 12:00:24"),
    );
    assert_eq!(deleted.len(), 2, "{deleted:?}");
    let (hole_start, hole_end) = (deleted[0].start, deleted[1].end());
    assert_eq!(hole_end - hole_start, TimeDelta::seconds(12));
    let first = {
        // The segment the range starts in: the playlist's first.
        let address = s.web_address();
        let playlist = http::get(
            &address,
            "/playlist/fm/128k.m3u8?start=2026-01-05T12:00:00&end=2026-01-05T12:00:42",
        );
        assert_eq!(playlist.status, 200, "{}", playlist.body);
        let line = playlist
            .body
            .lines()
            .find_map(|l| l.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:"))
            .unwrap_or_else(|| panic!("no segment in\n{}", playlist.body));
        expect::utc(line)
    };
    // Where the post-hole segment begins on the player's timeline: hls.js
    // closes the hole up.
    let after_hole_at = (hole_start - first).as_seconds_f64();

    let browser = Browser::start(s.dir(), "Asia/Tokyo");
    browser.goto(&format!("http://{}/", s.web_address()));
    browser.wait_for_text("listen-state", Duration::from_secs(15), |t| {
        t.starts_with("Pick a day")
    });
    // The page's default, the last hour by the box's clock in its zone.
    let defaults = browser.eval(
        "return ['listen-day','listen-from','listen-to'].map((id) => document.getElementById(id).value);",
    );
    let now = s.now().with_timezone(&chrono_tz::Europe::Berlin);
    assert_eq!(
        defaults[0],
        now.format("%Y-%m-%d").to_string(),
        "{defaults}"
    );
    assert!(
        defaults[2]
            .as_str()
            .is_some_and(|t| t.starts_with("12:0") || t.starts_with("12:1")),
        "the default range does not end at the box's time (about 12:01): {defaults}"
    );
    browser.eval(
        "document.getElementById('listen-day').value = '2026-01-05';\
         document.getElementById('listen-from').value = '12:00:00';\
         document.getElementById('listen-to').value = '12:00:42';\
         document.getElementById('listen-to').dispatchEvent(new Event('change'));\
         return true;",
    );
    let mp3 = browser.eval("return document.getElementById('listen-mp3').getAttribute('href');");
    assert_eq!(
        mp3,
        "/cut/fm/128k.mp3?start=2026-01-05T12%3A00%3A00&end=2026-01-05T12%3A00%3A42&allow_holes=true"
    );
    assert_eq!(browser.eval(WATCH_HLS_JS), Value::Bool(true));
    browser.click("listen-play");
    browser.wait_for_text("listen-state", Duration::from_secs(10), |t| {
        t == "2026-01-05 12:00:00 to 2026-01-05 12:00:42"
    });
    let berlin = |t: DateTime<Utc>| {
        t.with_timezone(&chrono_tz::Europe::Berlin)
            .format("%H:%M:%S")
            .to_string()
    };
    assert_eq!(
        browser.text("listen-gaps"),
        format!(
            "missing in this range: {}–{}",
            berlin(hole_start),
            berlin(hole_end)
        )
    );
    assert_eq!(browser.eval(LISTEN), Value::Bool(true));

    // It plays in real time: up to the hole, then 14 s more.
    let deadline = Instant::now() + Duration::from_secs_f64(after_hole_at + 14.0 + 30.0);
    let mut samples = Vec::new();
    let mut last;
    loop {
        last = browser.eval(SAMPLE);
        let h = heard(&last);
        let done = last["ended"] == Value::Bool(true) || h.time > after_hole_at + 14.0;
        samples.push(h);
        if done {
            break;
        }
        if Instant::now() > deadline {
            browser.screenshot("listen-again.png");
            panic!("the range did not play through: now {last}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    browser.screenshot("listen-again.png");
    let seen = browser.eval("return window.seen;");
    // The day's pictures are drawn or hidden (taking no room), never shown
    // broken, whether or not this box draws them.
    let pictures = browser.eval(
        "return [...document.querySelectorAll('#listen img')].map((i) => ({ alt: i.alt, \
         drawn: i.complete && i.naturalWidth > 0, hidden: i.hidden, \
         height: i.getBoundingClientRect().height }));",
    );
    let pictures = pictures.as_array().unwrap();
    assert_eq!(
        pictures.len(),
        5,
        "four waveform strips and the coverage map: {pictures:?}"
    );
    for picture in pictures {
        let hidden = picture["hidden"] == Value::Bool(true);
        assert!(
            hidden || picture["drawn"] == Value::Bool(true),
            "shown broken: {picture}"
        );
        assert!(
            !hidden || picture["height"] == serde_json::json!(0),
            "hidden but shown: {picture}"
        );
    }
    // A range with nothing in it is said in words, not played as silence.
    browser.eval("document.getElementById('listen-day').value = '2026-01-04'; return true;");
    browser.click("listen-play");
    browser.wait_for_text("listen-state", Duration::from_secs(10), |t| {
        t == "Nothing was archived between 2026-01-04 12:00:00 and 2026-01-04 12:00:42."
    });
    // hls.js comes from the box itself, kept by the browser for a year.
    let asset = http::get(&s.web_address(), onair::web::assets::HLS_JS_PATH);
    assert_eq!(asset.status, 200);
    let header = |name: &str| {
        asset
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    assert_eq!(header("content-type"), "text/javascript; charset=utf-8");
    assert_eq!(
        header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(
        asset.body,
        include_str!("../src/web/hls.light.min.js"),
        "the page's hls.js is not the file vendored"
    );
    drop(browser);
    s.terminate();

    assert_eq!(
        last["hls_js"],
        Value::Bool(true),
        "not played by hls.js: {last}"
    );
    assert_eq!(seen["parsed"], serde_json::json!([1]), "{seen}");
    assert_eq!(seen["fatal"], serde_json::json!([]), "{seen}");
    assert!(
        samples.last().unwrap().time > after_hole_at + 10.0,
        "the player did not cross the hole: {samples:?}"
    );

    // Every moment heard: its programme date is when it aired, and its
    // sound is the tone that aired then (away from the tone's change).
    let change = ms(s.local("2026-01-05 12:00:00"));
    let mut checked = [0, 0];
    for h in &samples {
        let Some(date) = h.date else { continue };
        // At the hole's edge which segment is playing is a matter of an
        // MP3 frame or two (hls.js places segments by their own audio,
        // the playlist by whole segments): either answer is right there.
        if (h.time - after_hole_at).abs() < EDGE_S {
            continue;
        }
        // Before the hole the timeline runs from the first segment's
        // start, after it from the post-hole segment's.
        let expected = if h.time < after_hole_at {
            ms(first) + h.time * 1000.0
        } else {
            ms(hole_end) + (h.time - after_hole_at) * 1000.0
        };
        assert!(
            (date - expected).abs() <= DATE_SLACK_MS,
            "at {:.3} s hls.js says {} but that audio aired at {} ({h:?})",
            h.time,
            date,
            expected
        );
        let tone = if date < change - 500.0 {
            FILLER_TONE
        } else if date > change + 500.0 {
            PROGRAMME_TONE
        } else {
            continue;
        };
        // Ignores the instants hls.js has no audio for yet (start, hole).
        if h.time < 0.5 || h.peak_db < -60.0 {
            continue;
        }
        assert!(
            (h.peak_hz - f64::from(tone)).abs() <= TONE_SLACK_HZ,
            "at {:.3} s (aired {date}) the loudest frequency is {:.0} Hz, not the {tone} Hz tone: {h:?}",
            h.time,
            h.peak_hz
        );
        checked[usize::from(h.time >= after_hole_at)] += 1;
    }
    assert!(
        checked[0] >= 10 && checked[1] >= 20,
        "too few moments heard before and after the hole: {checked:?} of {samples:?}"
    );
    // The page shows the time of day aired, and that it follows a hole.
    let shown = samples.last().unwrap();
    assert!(
        shown.at.starts_with("2026-01-05 12:00:3") || shown.at.starts_with("2026-01-05 12:00:4"),
        "{shown:?}"
    );
    assert_eq!(
        shown.after,
        format!("after 12 s missing from {}", berlin(hole_start)),
        "{shown:?}"
    );
}
