use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::*;
use crate::archive::best::BestCache;
use crate::archive::names::content_hash;
use crate::archive::peaks::{BUCKET_MICROS, Bucket};
use crate::asrun::{AsRunReader, SledReader};
use crate::clock::Clock;
use crate::panel::{Frame, Mirror};
use crate::status::Status;
use crate::web::{Access, serve};

/// A box serving the archive at `root`, publishing `status`; its data
/// folder is `data`.
pub(crate) fn serve_archive(root: &Path, data: &Path, status: Status) -> SocketAddr {
    std::fs::create_dir_all(data).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let (root, dir) = (root.to_path_buf(), data.to_path_buf());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let log: Arc<dyn AsRunReader> = Arc::new(SledReader::open(&dir.join("log")).unwrap());
            let (_status, status) = watch::channel(status);
            let (_panel, panel) = watch::channel(Frame::default());
            let (controls, _) = crate::director::channel();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            serve(
                listener,
                State {
                    status,
                    log,
                    timezone: chrono_tz::Europe::London,
                    clock: Clock::Wall,
                    panel: Mirror::of(panel),
                    controls,
                    buttons: None,
                    access: Arc::new(Access::new(&dir, Duration::from_secs(3600), false)),
                    archive: Some(ArchiveView {
                        root,
                        best: Arc::new(BestCache::default()),
                        segment_seconds: 6,
                    }),
                },
            )
            .await;
        });
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

pub(crate) struct Got {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Got {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub(crate) fn get(address: SocketAddr, path: &str) -> Got {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut answer = agent.get(format!("http://{address}{path}")).call().unwrap();
    let content_type = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    Got {
        status: answer.status().as_u16(),
        content_type,
        body: answer.body_mut().read_to_vec().unwrap_or_default(),
    }
}

/// A PNG's size and its pixels as RGBA.
pub(crate) fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    pixels.truncate(info.buffer_size());
    assert_eq!(info.color_type, png::ColorType::Rgba);
    (info.width, info.height, pixels)
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("onair-pictures-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A segment of `seconds` at `at` (MM:SS) in hour 2026-01-05T10 of
/// `fm/128k`, with peaks of ±`level` (none when `level` is `None`).
fn segment(root: &Path, at: &str, seconds: u32, kind: &str, level: Option<i8>) {
    let hour = root.join("fm/128k/2026-01-05T10");
    std::fs::create_dir_all(&hour).unwrap();
    let file = format!(
        "{at}.000000-{seconds}.0-{kind}-{}.mp3",
        content_hash(at.as_bytes())
    );
    std::fs::write(hour.join(&file), at).unwrap();
    if let Some(level) = level {
        let peaks = Peaks {
            bucket_micros: BUCKET_MICROS,
            buckets: vec![
                Bucket {
                    min: -level,
                    max: level
                };
                seconds as usize * 100
            ],
        };
        std::fs::write(hour.join(peaks::sidecar_name(&file)), peaks.to_bytes()).unwrap();
    }
}

#[test]
fn a_waveform_shows_tone_tall_silence_flat_and_holes_blank() {
    let root = temp("waveform");
    // 0–6 tone, 6–12 silence, 12–18 nothing, 18–24 tone.
    segment(&root, "00:00", 6, "full", Some(100));
    segment(&root, "00:06", 6, "full", Some(0));
    segment(&root, "00:18", 6, "full", Some(100));
    let address = serve_archive(&root, &root.join("data"), Status::default());
    let got = get(
        address,
        "/waveform/fm/128k.png?start=2026-01-05T10:00:00Z&end=2026-01-05T10:00:24Z&size=240x64",
    );
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.content_type, "image/png");
    let (width, height, pixels) = decode_png(&got.body);
    assert_eq!((width, height), (240, 64));
    // Lit pixels of each column (0.1 s a column).
    let lit = |x: u32| {
        (0..height)
            .filter(|&y| pixels[((y * width + x) * 4 + 3) as usize] != 0)
            .count()
    };
    for x in (0..60).chain(180..240) {
        assert!(lit(x) > 40, "column {x} of the tone: {} pixels", lit(x));
    }
    for x in 60..120 {
        assert_eq!(lit(x), 1, "column {x} of the silence");
    }
    for x in 120..180 {
        assert_eq!(lit(x), 0, "column {x} of the hole");
    }
    // A tombstone hides its segment from the waveform: its columns go blank.
    let hour = root.join("fm/128k/2026-01-05T10");
    let tone = std::fs::read_dir(&hour)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("00:18") && n.ends_with(".mp3"))
        .unwrap();
    let stone = tone.replace(".mp3", ".tombstone");
    std::fs::write(hour.join(stone), b"").unwrap();
    let got = get(
        address,
        "/waveform/fm/128k.png?start=2026-01-05T10:00:00Z&end=2026-01-05T10:00:24Z&size=240x64",
    );
    let (_, _, pixels) = decode_png(&got.body);
    let lit = |x: u32| {
        (0..height)
            .filter(|&y| pixels[((y * width + x) * 4 + 3) as usize] != 0)
            .count()
    };
    assert!(lit(30) > 40, "the first tone is still there");
    for x in 180..240 {
        assert_eq!(lit(x), 0, "column {x} of the tombstoned segment");
    }
    // The default size.
    let got = get(
        address,
        "/waveform/fm/128k.png?start=2026-01-05T10:00:00Z&end=2026-01-05T10:01:00Z",
    );
    assert_eq!(got.status, 200, "{}", got.text());
    let (width, height, _) = decode_png(&got.body);
    assert_eq!((width, height), (1024, 64));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_waveform_asked_for_badly_is_refused_with_what_is_wrong() {
    let root = temp("waveform-bad");
    segment(&root, "00:00", 6, "full", Some(100));
    let address = serve_archive(&root, &root.join("data"), Status::default());
    let range = "start=2026-01-05T10:00:00Z&end=2026-01-05T10:00:06Z";
    // Bad input, each with its answer and a word of its message.
    let cases: [(String, u16, &str); 10] = [
        (
            "start=2026-01-05T10:00:06Z&end=2026-01-05T10:00:00Z".into(),
            400,
            "must be after",
        ),
        (
            "start=2026-01-05T10:00:00Z&end=2026-01-05T10:00:00Z".into(),
            400,
            "must be after",
        ),
        (
            "start=2026-01-05T04:00:00Z&end=2026-01-05T10:00:01Z".into(),
            400,
            "at most 6 hours",
        ),
        (
            format!("{range}&size=big"),
            400,
            "invalid size: expected WxH such as 1024x64",
        ),
        (format!("{range}&size=0x0"), 400, "out of range"),
        (format!("{range}&size=4097x1"), 400, "out of range"),
        (format!("{range}&size=64x-1"), 400, "invalid size"),
        (
            "start=yesterday-ish&end=2026-01-05T10:00:00Z".into(),
            400,
            "start=",
        ),
        ("end=2026-01-05T10:00:00Z".into(), 400, "start= and end="),
        (
            "start=2026-01-05T11:00:00Z&end=2026-01-05T11:10:00Z".into(),
            406,
            "no content",
        ),
    ];
    for (query, status, words) in cases {
        let got = get(address, &format!("/waveform/fm/128k.png?{query}"));
        assert_eq!(got.status, status, "{query}: {}", got.text());
        assert!(got.text().contains(words), "{query}: {}", got.text());
    }
    // The largest size is allowed; an unknown quality is not there.
    let got = get(
        address,
        &format!("/waveform/fm/128k.png?{range}&size=4096x4096"),
    );
    assert_eq!(got.status, 200, "{}", got.text());
    let got = get(address, &format!("/waveform/fm/64k.png?{range}"));
    assert_eq!(got.status, 404, "{}", got.text());
    let got = get(address, &format!("/waveform/fm/.png?{range}"));
    assert_eq!(got.status, 403, "{}", got.text());
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn the_coverage_map_and_figures_show_full_partial_and_missing_time() {
    let root = temp("coverage");
    // Full 0–6, partial 6–9, nothing 9–10, full 10–16, nothing to 10:00,
    // full 10:00–10:06.
    segment(&root, "00:00", 6, "full", None);
    segment(&root, "00:06", 3, "partial", None);
    segment(&root, "00:10", 6, "full", None);
    segment(&root, "10:00", 6, "full", None);
    let address = serve_archive(&root, &root.join("data"), Status::default());

    let got = get(address, "/coverage/fm/128k.json");
    assert_eq!(got.status, 200, "{}", got.text());
    let json: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
    let hour = &json["hours"][0];
    assert_eq!(hour["hour"], "2026-01-05T10");
    assert_eq!(hour["segments"]["full"], 3);
    assert_eq!(hour["segments"]["partial"], 1);
    assert_eq!(hour["raw_coverage"], 21.0);
    let holes: Vec<(f64, String)> = hour["raw_holes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["seconds"].as_f64().unwrap(),
                h["start"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        holes,
        [
            (1.0, "2026-01-05T10:00:09Z".to_string()),
            (584.0, "2026-01-05T10:00:16Z".to_string())
        ]
    );

    let got = get(address, "/coverage/fm/128k.png");
    assert_eq!(got.status, 200, "{}", got.text());
    let (width, height, pixels) = decode_png(&got.body);
    assert_eq!((width, height), (6, 300), "an hour is six columns of 300");
    let colour = |x: u32, y: u32| {
        let at = ((y * width + x) * 4) as usize;
        [pixels[at], pixels[at + 1], pixels[at + 2]]
    };
    let (blue, orange, white) = ([0x1f, 0x77, 0xb4], [0xff, 0x7f, 0x0e], [0xff; 3]);
    assert_eq!(colour(0, 0), blue, "0–2 s");
    assert_eq!(colour(0, 2), blue, "4–6 s");
    assert_eq!(colour(0, 3), orange, "6–8 s: the partial");
    assert_eq!(colour(0, 4), white, "8–10 s: a second missing");
    assert_eq!(colour(0, 5), blue, "10–12 s");
    assert_eq!(colour(0, 8), white, "16–18 s");
    assert_eq!(colour(1, 0), blue, "10:00–10:02, the next column");
    assert_eq!(colour(1, 3), white, "10:06–10:08");
    assert_eq!(colour(5, 299), white, "the hour's last 2 s");

    // Bad input: a range that ends before it starts; a range with no hour.
    let got = get(
        address,
        "/coverage/fm/128k.json?start=2026-01-05T11:00:00Z&end=2026-01-05T10:00:00Z",
    );
    assert_eq!(got.status, 400, "{}", got.text());
    let got = get(address, "/coverage/fm/128k.png?start=2026-02-01T00:00:00Z");
    assert_eq!(got.status, 406, "{}", got.text());
    let got = get(address, "/coverage/fm/128k.json?start=2026-02-01T00:00:00Z");
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&got.body).unwrap()["hours"],
        serde_json::json!([])
    );
    let got = get(address, "/coverage/fm/128k.txt");
    assert_eq!(got.status, 404, "{}", got.text());
    std::fs::remove_dir_all(&root).unwrap();
}

/// 6 s of MP3 at 48 kHz: a 1 kHz tone at half scale.
fn tone_mp3() -> Vec<u8> {
    use crate::config::BitrateMode;
    use crate::output::encoder::{Mp3Encoder, Mp3Settings};
    let mut encoder = Mp3Encoder::new(Mp3Settings {
        input_rate: 48_000,
        stream_rate: 48_000,
        bitrate: 128,
        mode: BitrateMode::Cbr,
    })
    .unwrap();
    let pcm: Vec<f32> = (0..6 * 48_000)
        .flat_map(|n| {
            let x = (n as f32 * 2.0 * std::f32::consts::PI * 1000.0 / 48_000.0).sin() * 0.5;
            [x, x]
        })
        .collect();
    let mut mp3 = crate::archive::id3::timestamp_tag(0).to_vec();
    encoder.encode(&pcm, &mut mp3).unwrap();
    encoder.flush(&mut mp3).unwrap();
    mp3
}

#[test]
fn a_segment_recorded_without_peaks_gets_them_when_its_waveform_is_drawn() {
    let root = temp("on-demand");
    let hour = root.join("fm/128k/2026-01-05T10");
    std::fs::create_dir_all(&hour).unwrap();
    let mp3 = tone_mp3();
    let tone = format!("00:00.000000-6.0-full-{}.mp3", content_hash(&mp3));
    std::fs::write(hour.join(&tone), &mp3).unwrap();
    // Bad input: a segment whose bytes are no MP3 at all.
    let broken = format!("00:06.000000-6.0-full-{}.mp3", content_hash(b"x"));
    std::fs::write(hour.join(&broken), b"not audio").unwrap();
    let address = serve_archive(&root, &root.join("data"), Status::default());
    let got = get(
        address,
        "/waveform/fm/128k.png?start=2026-01-05T10:00:00Z&end=2026-01-05T10:00:12Z&size=120x64",
    );
    assert_eq!(got.status, 200, "{}", got.text());
    let (width, height, pixels) = decode_png(&got.body);
    let lit = |x: u32| {
        (0..height)
            .filter(|&y| pixels[((y * width + x) * 4 + 3) as usize] != 0)
            .count()
    };
    // The tone (±64 of ±127: half the height), from past the codec's
    // delay to its end; the broken segment blank.
    for x in 2..58 {
        assert!((28..=36).contains(&lit(x)), "column {x}: {} pixels", lit(x));
    }
    for x in 62..120 {
        assert_eq!(lit(x), 0, "column {x} of the broken segment");
    }
    // The peaks were kept beside the tone, for the next picture; nothing
    // was made for the broken segment.
    let kept = Peaks::read(&hour.join(peaks::sidecar_name(&tone))).unwrap();
    assert!(
        (595..=605).contains(&kept.buckets.len()),
        "{}",
        kept.buckets.len()
    );
    assert!(!hour.join(peaks::sidecar_name(&broken)).exists());
    std::fs::remove_dir_all(&root).unwrap();
}
