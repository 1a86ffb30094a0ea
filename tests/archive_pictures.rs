//! The archive's pictures and figures against the real binary: a tone
//! programme airs and then silence, and the waveform the box draws from
//! its peaks shows the tone where the as-run log says it aired, flat
//! silence on either side; the coverage figures and `/metrics` show the
//! hours it kept, without holes.

use crate::common;

use chrono::{DateTime, TimeDelta, Utc};
use common::*;

const RATE: u32 = 48_000;
const TONE: u32 = 1000;

/// `GET target` from the box, any status, the body as bytes.
fn fetch(s: &Station, target: &str) -> (u16, Vec<u8>) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut answer = agent
        .get(format!("http://{}{target}", s.web_address()))
        .call()
        .unwrap_or_else(|e| panic!("GET {target}: {e}"));
    let status = answer.status().as_u16();
    (status, answer.body_mut().read_to_vec().unwrap_or_default())
}

/// A PNG's width, height and pixels as RGBA.
fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
    let mut reader = decoder
        .read_info()
        .unwrap_or_else(|e| panic!("not a PNG: {e}"));
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    pixels.truncate(info.buffer_size());
    (info.width, info.height, pixels)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[test]
fn a_tone_then_silence_shows_in_the_waveform_where_the_log_says_and_metrics_carry_coverage() {
    let mut s = Station::new("archive-pictures");
    let archive = s.dir().join("archive");
    s.sample_rate_hz(RATE)
        .clock("2026-03-02 00:59:50", 4.0)
        .section(&format!(
            "[archive]\ndir = \"{}\"\nchannel = \"test-fm\"\n",
            archive.display()
        ));
    s.programme("2026-03-02 01:00", "tone", TONE, 20.0, "wav");
    s.start();
    let start = s.local("2026-03-02 01:00");
    // The tone, then 16 s of silence: segments are written 6 s at a time.
    s.wait_until(start + TimeDelta::seconds(36));
    let log = s.log_json();
    let tone = log.one("tone");
    let (aired, ended) = (
        tone.start.with_timezone(&Utc),
        tone.end
            .unwrap_or_else(|| log.fail("the tone has no end"))
            .with_timezone(&Utc),
    );

    // 40 s around the tone, 400 columns: a column is 0.1 s.
    let (from, to) = (
        aired - TimeDelta::seconds(8),
        aired + TimeDelta::seconds(32),
    );
    let (status, png) = fetch(
        &s,
        &format!(
            "/waveform/test-fm/128k.png?start={}&end={}&size=400x64",
            rfc3339(from),
            rfc3339(to)
        ),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&png));
    let (width, height, pixels) = decode_png(&png);
    assert_eq!((width, height), (400, 64));
    let lit = |x: i64| {
        (0..height)
            .filter(|&y| pixels[((y * width + x as u32) * 4 + 3) as usize] != 0)
            .count()
    };
    let column = |t: DateTime<Utc>| (t - from).num_milliseconds() / 100;
    let half_second = TimeDelta::milliseconds(500);
    for x in column(aired + half_second)..column(ended - half_second) {
        assert!(lit(x) > 20, "column {x} is in the tone: {} pixels", lit(x));
    }
    // Silence before (the box started at 00:59:50 with nothing to air)
    // and after: flat, but there.
    let before = column(from + TimeDelta::seconds(2))..column(aired - half_second);
    let after = column(ended + half_second)..column(ended + TimeDelta::seconds(8));
    for x in before.chain(after) {
        assert!(
            (1..=2).contains(&lit(x)),
            "column {x} is in the silence: {} pixels",
            lit(x)
        );
    }

    // The coverage of the hours it kept: no holes.
    let (status, body) = fetch(&s, "/coverage/test-fm/128k.json");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let coverage: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let hours = coverage["hours"].as_array().unwrap();
    let names: Vec<&str> = hours.iter().filter_map(|h| h["hour"].as_str()).collect();
    assert_eq!(names, ["2026-03-02T00", "2026-03-02T01"], "{coverage}");
    for hour in hours {
        assert_eq!(hour["raw_holes"], serde_json::json!([]), "{hour}");
        assert_eq!(hour["overlaps"], serde_json::json!([]), "{hour}");
    }
    let one = hours[1]["raw_coverage"].as_f64().unwrap();
    assert!(one >= 24.0, "hour 01 covers {one} s");

    // /metrics: the box's counters and the same coverage.
    let (status, body) = fetch(&s, "/metrics");
    s.terminate();
    assert_eq!(status, 200);
    let text = String::from_utf8_lossy(&body);
    let value = |series: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(series)?
                    .strip_prefix(' ')?
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
    };
    let labels = r#"channel="test-fm",quality="128k",hour="2026-03-02T01""#;
    assert_eq!(value(&format!("raw_coverage{{{labels}}}")), one);
    assert!(value(&format!("segment_count{{{labels},type=\"full\"}}")) >= 4.0);
    assert_eq!(value(&format!("raw_holes{{{labels}}}")), 0.0);
    let archive_line = format!(
        "onair_output_frames_out_total{{output=\"archive {}\"}}",
        archive.display()
    );
    assert!(value(&archive_line) > 0.0, "{text}");
}
