//! The stream recorder against real parts: a real icecast2 on loopback
//! carries a tone-coded MP3 stream and an AAC (ADTS) stream sent by
//! ffmpeg; `onair::recorder` records them in-process into an archive;
//! independent clients check what it kept: a plain HTTP listener's bytes
//! (the segments are the stream's own frames), ffprobe (each segment),
//! ffmpeg through the archive's own HLS playlists (the tone timeline in
//! the right place) and the archive's coverage (the server killed and
//! restarted is one hole of about the outage). A small HTTP server of the
//! test's own gives the bad answers: a 404, a web page, a playlist with no
//! URL, bytes that are no audio, garbage between frames, and a stream that
//! changes codec.

use crate::common;
use crate::common::icecast as server;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use common::goertzel::runs_of;
use common::tone::write_tones;
use common::{Run, What};
use onair::archive::adts::AdtsHeader;
use onair::archive::best::BestCache;
use onair::archive::names::{Codec, SegmentName};
use onair::archive::{coverage, frames, id3, listing, peaks, playlist};
use onair::clock::Clock;
use onair::recorder::{ChannelState, Recorder, RecorderChannel, RecorderSettings};
use server::{Icecast, SOURCE_PASSWORD, free_port};

/// MP3 as a server relays it: no Xing header, no ID3 tag, frames only.
const PLAIN_MP3: &[&str] = &[
    "-c:a",
    "libmp3lame",
    "-b:a",
    "128k",
    "-write_xing",
    "0",
    "-id3v2_version",
    "0",
];

const SEGMENT_SECONDS: u32 = 3;
/// Each tone of the timeline lasts this long.
const STEP: f64 = 3.0;
/// The rate test audio is decoded at for the Goertzel filters.
const LISTEN_RATE: u32 = 16_000;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("onair-recorder-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn settings(archive: &Path) -> RecorderSettings {
    RecorderSettings::new(archive.to_path_buf(), SEGMENT_SECONDS, Clock::Wall)
}

fn channel(name: &str, url: &str) -> RecorderChannel {
    RecorderChannel {
        name: name.to_string(),
        url: url.to_string(),
        category: "partners".to_string(),
        always_on: true,
    }
}

/// Waits until `check` holds, or fails with `what`.
fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let until = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < until, "waited {timeout:?} for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// ffmpeg sending `wav` in real time to a mount, encoded by `codec`.
fn send(port: u16, mount: &str, wav: &Path, codec: &[&str], format: &str, mime: &str) -> Child {
    Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-re", "-i"])
        .arg(wav)
        .args(codec)
        .args(["-content_type", mime, "-f", format])
        .arg(format!(
            "icecast://source:{SOURCE_PASSWORD}@127.0.0.1:{port}{mount}"
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start ffmpeg (is it installed?): {e}"))
}

/// Sets the title icecast2 puts in a mount's ICY blocks.
fn set_title(server: &Icecast, mount: &str, title: &str) {
    use base64::Engine as _;
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("admin:{SOURCE_PASSWORD}-admin"));
    let url = format!(
        "http://127.0.0.1:{}/admin/metadata?mount={mount}&mode=updinfo&song={}",
        server.port,
        title.replace(' ', "%20")
    );
    let answer = ureq::get(&url)
        .header("Authorization", &format!("Basic {auth}"))
        .call()
        .unwrap_or_else(|e| panic!("icecast2 did not take the title: {e}"));
    assert_eq!(answer.status().as_u16(), 200);
}

/// A listener without ICY metadata, keeping every byte it receives.
struct PlainListener {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<u8>>,
}

impl PlainListener {
    fn start(port: u16, mount: &str) -> PlainListener {
        let stop = Arc::new(AtomicBool::new(false));
        let mut socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            socket,
            "GET {mount} HTTP/1.0\r\nHost: 127.0.0.1\r\nUser-Agent: plain\r\n\r\n"
        )
        .unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut received = Vec::new();
                let mut chunk = [0u8; 8192];
                while !stop.load(Ordering::Acquire) {
                    match socket.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(n) => received.extend_from_slice(&chunk[..n]),
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) => {}
                        Err(_) => break,
                    }
                }
                let head = received
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map_or(0, |p| p + 4);
                received.split_off(head)
            })
        };
        PlainListener { stop, thread }
    }

    fn stop(self) -> Vec<u8> {
        self.stop.store(true, Ordering::Release);
        self.thread.join().unwrap()
    }
}

/// One segment as found in the archive.
struct Found {
    name: SegmentName,
    codec: Codec,
    path: PathBuf,
}

impl Found {
    /// Its frames: the file without its ID3 tag.
    fn audio(&self) -> Vec<u8> {
        let bytes = std::fs::read(&self.path).unwrap();
        assert_eq!(
            id3::tag_length(&bytes),
            id3::TAG_BYTES,
            "{} does not start with the timestamp tag",
            self.path.display()
        );
        assert_eq!(
            id3::read_timestamp(&bytes),
            Some(id3::pts_of_micros(self.name.start.timestamp_micros())),
            "{}: the tag's timestamp is not the name's time",
            self.path.display()
        );
        bytes[id3::TAG_BYTES..].to_vec()
    }
}

/// The visible segments of a quality folder, in time order.
fn segments(quality_dir: &Path) -> Vec<Found> {
    let mut found = Vec::new();
    for (hour, _) in listing::hours(quality_dir).unwrap() {
        for listed in listing::hour(quality_dir, &hour).unwrap().segments {
            found.push(Found {
                codec: Codec::of_file(&listed.file).unwrap(),
                path: quality_dir.join(&hour).join(&listed.file),
                name: listed.name,
            });
        }
    }
    found
}

/// Every byte of `audio` is a whole frame of `codec` at `rate`; returns
/// the frames.
fn whole_frames(audio: &[u8], codec: Codec, rate: u32) -> usize {
    let mut at = 0;
    let mut count = 0;
    while at < audio.len() {
        let (length, frame_rate) = match codec {
            Codec::Mp3 => frames::FrameHeader::parse(&audio[at..])
                .map(|h| (h.length, h.sample_rate))
                .unwrap_or_else(|| panic!("no MP3 frame at byte {at}")),
            Codec::Aac => AdtsHeader::parse(&audio[at..])
                .map(|h| (h.length, h.sample_rate))
                .unwrap_or_else(|| panic!("no ADTS frame at byte {at}")),
        };
        assert_eq!(frame_rate, rate, "a frame at byte {at} changed the rate");
        at += length;
        count += 1;
    }
    assert_eq!(at, audio.len(), "the last frame is cut short");
    count
}

/// Where `needle` sits in `haystack`, if it does.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let head = &needle[..needle.len().min(256)];
    haystack
        .windows(head.len())
        .enumerate()
        .filter(|(_, w)| *w == head)
        .map(|(at, _)| at)
        .find(|&at| haystack.get(at..at + needle.len()) == Some(needle))
}

/// What ffprobe says a file is: `codec,rate`.
fn ffprobe(path: &Path) -> String {
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,sample_rate",
        ])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ffprobe (is it installed?): {e}"));
    assert!(
        output.status.success(),
        "ffprobe cannot read {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// `%3A` and the like back to the characters they stand for.
fn decode_uri(uri: &str) -> String {
    let bytes = uri.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(&uri[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The archive's HLS playlists of a quality, one per stretch without a
/// hole, each played by ffmpeg and read by Goertzel filters: the runs of
/// tones heard, placed by the playlist's program date-time.
fn heard_through_hls(
    archive: &Path,
    channel: &str,
    quality: &str,
    candidates: &[u32],
    scratch: &Path,
) -> Vec<Vec<Run>> {
    let quality_dir = archive.join(channel).join(quality);
    let hours = listing::hours(&quality_dir).unwrap();
    let start = hours.first().unwrap().1;
    let end = hours.last().unwrap().1 + TimeDelta::hours(1);
    let pieces = BestCache::default()
        .range(&quality_dir, start, end)
        .unwrap();
    let stretches: Vec<Vec<Option<listing::Listed>>> = pieces
        .split(Option::is_none)
        .filter(|s| !s.is_empty())
        .map(<[_]>::to_vec)
        .collect();
    let of = playlist::Media {
        channel,
        quality,
        segment_seconds: SEGMENT_SECONDS,
        closed: true,
    };
    let prefix = format!(
        "/segments/{}/{}/",
        playlist::encode(channel),
        playlist::encode(quality)
    );
    let mut heard = Vec::new();
    for (n, stretch) in stretches.iter().enumerate() {
        let text = playlist::media(&of, stretch);
        assert!(!text.contains("DISCONTINUITY"), "{text}");
        // The web serves `/segments/…`; ffmpeg reads the same files here.
        let local: String = text
            .lines()
            .map(|line| match line.strip_prefix(&prefix) {
                Some(rest) => quality_dir.join(decode_uri(rest)).display().to_string(),
                None => line.to_string(),
            })
            .map(|line| line + "\n")
            .collect();
        let file = scratch.join(format!("{channel}-{quality}-{n}.m3u8"));
        std::fs::write(&file, local).unwrap();
        let output = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(&file)
            .args([
                "-ac",
                "1",
                "-ar",
                &LISTEN_RATE.to_string(),
                "-f",
                "s16le",
                "-",
            ])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "ffmpeg cannot play the archive's playlist {}: {}",
            file.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let samples: Vec<f32> = output
            .stdout
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
            .collect();
        let first = stretch[0].as_ref().unwrap().name.start;
        heard.push(runs_of(&samples, LISTEN_RATE, first, candidates));
    }
    heard
}

/// Checks that each change to a tone heard is where the sender sent it:
/// the timeline's steps as sent from `sent_at`. Returns how many changes
/// were checked.
fn check_timeline(runs: &[Run], timeline: &[(u32, f64)], sent_at: DateTime<Utc>) -> usize {
    let scheduled = |freq: u32| {
        let mut offset = 0.0;
        for &(f, seconds) in timeline {
            if f == freq {
                return Some(sent_at + TimeDelta::microseconds((offset * 1e6) as i64));
            }
            offset += seconds;
        }
        None
    };
    let tones: Vec<&Run> = runs
        .iter()
        .filter(|r| matches!(r.what, What::Tone(_)) && r.duration() > TimeDelta::milliseconds(500))
        .collect();
    let mut checked = 0;
    let mut changes: Vec<DateTime<Utc>> = Vec::new();
    for pair in tones.windows(2) {
        let What::Tone(freq) = pair[1].what else {
            continue;
        };
        if pair[0].what == pair[1].what {
            continue;
        }
        let Some(sent) = scheduled(freq) else {
            panic!("heard {freq} Hz, which was never sent: {runs:?}");
        };
        let late = (pair[1].start - sent).num_milliseconds();
        // Sent by ffmpeg a little after it was started; heard by the
        // recorder through icecast2 (a burst of what was sent before it
        // connected is placed back where it was sent): never early, never
        // much later.
        assert!(
            (-300..=1500).contains(&late),
            "the change to {freq} Hz is heard {late} ms from when it was sent: {runs:?}"
        );
        changes.push(pair[1].start);
        checked += 1;
    }
    // Time is counted by frames: the steps are as long as they were sent.
    for pair in changes.windows(2) {
        let step = (pair[1] - pair[0]).num_milliseconds();
        assert!(
            (step - (STEP * 1000.0) as i64).abs() <= 60,
            "a {STEP} s step lasts {step} ms in the archive: {runs:?}"
        );
    }
    checked
}

/// The holes in coverage of a quality, those that straddle an hour joined.
fn holes(quality_dir: &Path) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let hours = coverage::quality(&BestCache::default(), quality_dir, None, None).unwrap();
    let mut holes: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for span in hours.iter().flat_map(|h| h.raw_holes.iter()) {
        match holes.last_mut() {
            Some(last) if last.1 == span.start => last.1 = span.end,
            _ => holes.push((span.start, span.end)),
        }
    }
    holes
}

#[test]
fn an_mp3_stream_is_recorded_frame_for_frame_on_time_and_a_lost_server_is_one_hole() {
    let dir = temp_dir("mp3");
    let archive = dir.join("archive");
    let mut server = Icecast::start("recorder-mp3");
    let mount = "/live.mp3";
    // Two timelines of distinct tones, one per connection of the sender.
    let before: Vec<(u32, f64)> = (0..9).map(|i| (400 + 150 * i, STEP)).collect();
    let after: Vec<(u32, f64)> = (0..9).map(|i| (1750 + 150 * i, STEP)).collect();
    let candidates: Vec<u32> = before.iter().chain(&after).map(|s| s.0).collect();
    let (wav1, wav2) = (dir.join("before.wav"), dir.join("after.wav"));
    write_tones(&wav1, &before, 44_100, 2);
    write_tones(&wav2, &after, 44_100, 2);
    let mp3 = ["-c:a", "libmp3lame", "-b:a", "128k", "-ar", "44100"];

    let sent_before = Utc::now();
    let mut sender = send(server.port, mount, &wav1, &mp3, "mp3", "audio/mpeg");
    assert!(
        server
            .wait_for(Duration::from_secs(15), |s| s.mount(mount).is_some())
            .is_some(),
        "ffmpeg's stream never reached icecast2"
    );
    let plain = PlainListener::start(server.port, mount);
    let mut recorder = Recorder::new(
        settings(&archive),
        vec![channel("partner", &server.listen_url(mount))],
    )
    .unwrap();
    assert!(recorder.start_always_on().is_empty());
    let status = recorder.status("partner").unwrap();
    wait_for("the recorder to record", Duration::from_secs(15), || {
        status.state() == ChannelState::Recording
    });
    std::thread::sleep(Duration::from_secs(3));
    let first_title = Utc::now();
    set_title(&server, mount, "First Band - First Song");
    std::thread::sleep(Duration::from_secs(6));
    let second_title = Utc::now();
    set_title(&server, mount, "Second Band - Second Song");
    std::thread::sleep(Duration::from_secs(8));

    let before_kill = status.snapshot();
    // The server dies (and its source with it); it comes back, and the
    // station's encoder connects again with the rest of the timeline.
    let killed = Utc::now();
    server.kill();
    let heard_plain = plain.stop();
    let _ = sender.kill();
    let _ = sender.wait();
    wait_for(
        "the recorder to see the server gone",
        Duration::from_secs(15),
        || matches!(status.state(), ChannelState::Reconnecting { .. }),
    );
    std::thread::sleep(Duration::from_secs(3));
    server.restart();
    let sent_after = Utc::now();
    let mut sender = send(server.port, mount, &wav2, &mp3, "mp3", "audio/mpeg");
    wait_for(
        "the recorder to record again",
        Duration::from_secs(30),
        || {
            status.state() == ChannelState::Recording
                && status.connections.load(Ordering::Relaxed) >= 2
        },
    );
    let back = Utc::now();
    std::thread::sleep(Duration::from_secs(12));
    let after_return = status.snapshot();
    recorder.stop("partner").unwrap();
    let _ = sender.kill();
    let _ = sender.wait();
    assert_eq!(status.state(), ChannelState::Stopped);

    // The counters the status page shows. The restarted server's mount
    // has no title until the station sets one.
    assert_eq!(before_kill.format.as_deref(), Some("mp3-44100"));
    assert_eq!(
        before_kill.title.as_deref(),
        Some("Second Band - Second Song")
    );
    assert_eq!(before_kill.connections, 1);
    assert_eq!(after_return.format.as_deref(), Some("mp3-44100"));
    assert_eq!(after_return.title, None, "{after_return:?}");
    let stopped = status.snapshot();
    assert!(stopped.seconds > 20.0, "{stopped:?}");
    assert!(
        stopped.bytes as f64 > stopped.seconds * 15_000.0,
        "{stopped:?}"
    );
    assert_eq!(stopped.dropped_seconds, 0.0, "{stopped:?}");
    assert!(
        stopped
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("127.0.0.1")),
        "{stopped:?}"
    );

    // Every segment is whole MP3 frames at the stream's rate, named by
    // its length, and ffprobe reads it.
    let quality_dir = archive.join("partner").join("source");
    assert_eq!(
        std::fs::read_to_string(quality_dir.join(".format")).unwrap(),
        "mp3-44100\n"
    );
    let found = segments(&quality_dir);
    assert!(found.len() >= 8, "{} segments", found.len());
    for segment in &found {
        assert_eq!(segment.codec, Codec::Mp3);
        let frames = whole_frames(&segment.audio(), Codec::Mp3, 44_100);
        let seconds = frames as f64 * 1152.0 / 44_100.0;
        assert!((segment.name.duration - seconds).abs() < 1e-6);
        // Recording decodes nothing: the waveform makes the peaks later.
        assert!(!peaks::sidecar_path(&segment.path).exists());
    }
    for segment in found.iter().step_by(3) {
        assert_eq!(
            ffprobe(&segment.path),
            "mp3,44100",
            "{}",
            segment.path.display()
        );
    }
    // The segments of the first connection, joined without their tags,
    // are bytes the plain listener received, as they came.
    let first_connection: Vec<u8> = found
        .iter()
        .filter(|s| s.name.start < killed)
        .flat_map(Found::audio)
        .collect();
    assert!(
        first_connection.len() > 200_000,
        "{}",
        first_connection.len()
    );
    assert!(
        find(&heard_plain, &first_connection).is_some(),
        "the segments' {} bytes are not a stretch of the {} bytes a plain listener received",
        first_connection.len(),
        heard_plain.len()
    );

    // Exactly one hole: from the server's death to the recorder's return.
    let holes = holes(&quality_dir);
    assert_eq!(holes.len(), 1, "{holes:?}");
    let (from, to) = holes[0];
    assert!(
        (from - killed).num_milliseconds().abs() < 1500,
        "the hole starts at {from}, the server died at {killed}"
    );
    assert!(
        to >= sent_after - TimeDelta::milliseconds(500) && to <= back + TimeDelta::seconds(1),
        "the hole ends at {to}; the stream was sent again from {sent_after}, recorded from {back}"
    );

    // The archive's HLS, played by ffmpeg: the tones where they were sent.
    let heard = heard_through_hls(&archive, "partner", "source", &candidates, &dir);
    assert_eq!(heard.len(), 2, "one stretch before the hole, one after");
    assert!(check_timeline(&heard[0], &before, sent_before) >= 3);
    assert!(check_timeline(&heard[1], &after, sent_after) >= 2);

    // The track list: each title from the time its block came.
    let mut lines = Vec::new();
    for (hour, _) in listing::hours(&quality_dir).unwrap() {
        let text = std::fs::read_to_string(quality_dir.join(&hour).join(".tracks.jsonl"))
            .unwrap_or_default();
        lines.extend(
            text.lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()),
        );
    }
    let titles: Vec<(&str, DateTime<Utc>)> = lines
        .iter()
        .map(|l| {
            (
                l["title"].as_str().unwrap(),
                l["start"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    let named: Vec<&str> = titles.iter().map(|t| t.0).collect();
    let first = named.iter().position(|t| *t == "First Band - First Song");
    let second = named.iter().position(|t| *t == "Second Band - Second Song");
    assert!(
        first.is_some() && second > first,
        "the titles are not in the track list in order: {titles:?}"
    );
    for (title, set) in [
        ("First Band - First Song", first_title),
        ("Second Band - Second Song", second_title),
    ] {
        let (_, start) = titles.iter().find(|t| t.0 == title).unwrap();
        let late = (*start - set).num_milliseconds();
        assert!(
            (-500..=3000).contains(&late),
            "{title:?} starts {late} ms after it was set"
        );
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_aac_stream_is_recorded_as_its_own_adts_frames() {
    let dir = temp_dir("aac");
    let archive = dir.join("archive");
    let mount = "/news.aac";
    // The server sends a new listener the last 64 KB of the stream at once
    // (5 s of it), as stations' servers do: the recorder must still place
    // each frame when it was sent, reading in batches.
    let server = Icecast::start_with(
        "recorder-aac",
        &format!("<mount><mount-name>{mount}</mount-name><burst-size>65536</burst-size></mount>"),
    );
    let timeline: Vec<(u32, f64)> = (0..7).map(|i| (500 + 150 * i, STEP)).collect();
    let candidates: Vec<u32> = timeline.iter().map(|s| s.0).collect();
    let wav = dir.join("news.wav");
    write_tones(&wav, &timeline, 48_000, 2);
    let sent = Utc::now();
    let mut sender = send(
        server.port,
        mount,
        &wav,
        &["-c:a", "aac", "-b:a", "96k", "-ar", "48000"],
        "adts",
        "audio/aac",
    );
    assert!(
        server
            .wait_for(Duration::from_secs(15), |s| s.mount(mount).is_some())
            .is_some(),
        "ffmpeg's stream never reached icecast2"
    );
    let plain = PlainListener::start(server.port, mount);
    // Enough sent for a whole burst.
    std::thread::sleep(Duration::from_secs(6));
    let mut recorder = Recorder::new(
        settings(&archive),
        vec![channel("news", &server.listen_url(mount))],
    )
    .unwrap();
    recorder.start("news").unwrap();
    let status = recorder.status("news").unwrap();
    wait_for("the recorder to record", Duration::from_secs(15), || {
        status.state() == ChannelState::Recording
    });
    std::thread::sleep(Duration::from_secs(13));
    recorder.stop_all();
    let heard_plain = plain.stop();
    let _ = sender.kill();
    let _ = sender.wait();
    assert_eq!(
        status.snapshot().format.as_deref(),
        Some("aac-48000"),
        "{:?}",
        status.snapshot()
    );

    let quality_dir = archive.join("news").join("source");
    let found = segments(&quality_dir);
    assert!(found.len() >= 4, "{} segments", found.len());
    for segment in &found {
        assert_eq!(segment.codec, Codec::Aac);
        assert!(segment.path.to_string_lossy().ends_with(".aac"));
        let frames = whole_frames(&segment.audio(), Codec::Aac, 48_000);
        assert!((segment.name.duration - frames as f64 * 1024.0 / 48_000.0).abs() < 1e-6);
        // The waveform's peaks, made when first drawn: symphonia decodes
        // the AAC, and they are kept beside the segment.
        assert!(!peaks::sidecar_path(&segment.path).exists());
        let made = peaks::made_for(&segment.path).unwrap();
        let buckets = (frames as f64 * 1024.0 / 480.0).ceil();
        assert!(
            (made.buckets.len() as f64 - buckets).abs() <= 5.0,
            "{} buckets for {buckets} of audio: {}",
            made.buckets.len(),
            segment.path.display()
        );
        assert_eq!(
            peaks::Peaks::read(&peaks::sidecar_path(&segment.path)).unwrap(),
            made
        );
        assert_eq!(
            ffprobe(&segment.path),
            "aac,48000",
            "{}",
            segment.path.display()
        );
    }
    // Not re-encoded: the segments joined are the stream's own bytes.
    let joined: Vec<u8> = found.iter().flat_map(Found::audio).collect();
    assert!(
        find(&heard_plain, &joined).is_some(),
        "the segments' {} bytes are not a stretch of the {} bytes a plain listener received",
        joined.len(),
        heard_plain.len()
    );
    // No hole while the stream ran; its HLS plays the tones on time.
    assert!(holes(&quality_dir).is_empty());
    let heard = heard_through_hls(&archive, "news", "source", &candidates, &dir);
    assert_eq!(heard.len(), 1);
    assert!(check_timeline(&heard[0], &timeline, sent) >= 2);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// An answer of the test's HTTP server.
#[derive(Clone)]
struct Answer {
    status: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    /// Given once; otherwise the last answer of a path is given again.
    once: bool,
}

/// Each path's answers, in order.
type Answers = Arc<Mutex<Vec<(String, Vec<Answer>)>>>;

/// A small HTTP/1.0 server: each path answers from its list, one answer
/// per request (the last again and again unless it is given once), then
/// 404.
struct BadServer {
    port: u16,
    answers: Answers,
}

impl BadServer {
    fn start() -> BadServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let answers: Answers = Arc::default();
        let shared = answers.clone();
        std::thread::spawn(move || {
            for socket in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || serve(socket, &shared));
            }
        });
        BadServer { port, answers }
    }

    fn on(&self, path: &str, answers: Vec<Answer>) -> String {
        self.answers
            .lock()
            .unwrap()
            .push((path.to_string(), answers));
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

fn serve(mut socket: TcpStream, answers: &Mutex<Vec<(String, Vec<Answer>)>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && socket.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let answer = {
        let mut answers = answers.lock().unwrap();
        answers
            .iter_mut()
            .find(|(p, list)| *p == path && !list.is_empty())
            .map(|(_, list)| {
                if list.len() > 1 || list[0].once {
                    list.remove(0)
                } else {
                    list[0].clone()
                }
            })
    };
    let answer = answer.unwrap_or(Answer {
        status: "404 Not Found",
        content_type: "text/plain",
        body: b"no such mount".to_vec(),
        once: false,
    });
    let _ = write!(
        socket,
        "HTTP/1.0 {}\r\nContent-Type: {}\r\n\r\n",
        answer.status, answer.content_type
    );
    let _ = socket.write_all(&answer.body);
}

/// A tone encoded by ffmpeg into bare frames (no tag, no Xing frame).
fn encoded(
    dir: &Path,
    name: &str,
    seconds: f64,
    rate: u32,
    codec: &[&str],
    format: &str,
) -> Vec<u8> {
    let wav = dir.join(format!("{name}.wav"));
    write_tones(&wav, &[(1000, seconds)], rate, 2);
    let out = dir.join(format!("{name}.{format}"));
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(&wav)
        .args(codec)
        .args(["-f", format])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(out).unwrap()
}

#[test]
fn bad_answers_are_refused_in_words_and_garbage_between_frames_is_skipped() {
    let dir = temp_dir("bad");
    let archive = dir.join("archive");
    let web = BadServer::start();
    let mp3 = encoded(&dir, "tone", 12.0, 44_100, PLAIN_MP3, "mp3");
    let aac = encoded(
        &dir,
        "other",
        7.0,
        48_000,
        &["-c:a", "aac", "-b:a", "96k"],
        "adts",
    );
    // Bad input: garbage between frames: zeros, text, and a false MP3
    // header whose frame leads nowhere, after every 40th frame.
    let garbage: Vec<u8> = [
        &[0u8; 23][..],
        b"<garbage>",
        &[0xFF, 0xFB, 0x94, 0x64, 0x01, 0x02],
    ]
    .concat();
    let mut dirty = Vec::new();
    let mut clean = Vec::new();
    let mut inserted = 0;
    for (n, (at, header)) in frames::frames(&mp3).enumerate() {
        let frame = &mp3[at..at + header.length];
        dirty.extend_from_slice(frame);
        clean.extend_from_slice(frame);
        if n % 40 == 39 {
            dirty.extend_from_slice(&garbage);
            inserted += garbage.len();
        }
    }
    assert!(inserted > 0);
    let stream = |body: Vec<u8>, mime: &'static str| Answer {
        status: "200 OK",
        content_type: mime,
        body,
        once: false,
    };
    let once = |body: Vec<u8>, mime: &'static str| Answer {
        once: true,
        ..stream(body, mime)
    };
    let dirty_url = web.on("/dirty.mp3", vec![once(dirty, "audio/mpeg")]);
    // A .pls that names the dirty stream: followed to it.
    let pls = format!("[playlist]\nNumberOfEntries=1\nFile1={dirty_url}\n");
    let pls_url = web.on(
        "/dirty.pls",
        vec![stream(pls.into_bytes(), "audio/x-scpls")],
    );
    // A stream that changes codec between its two connections.
    let changes = web.on(
        "/changes",
        vec![
            stream(clean.clone(), "audio/mpeg"),
            once(aac.clone(), "audio/aac"),
        ],
    );
    let bad = [
        (
            "unreachable",
            format!("http://127.0.0.1:{}/live", free_port()),
            "cannot reach",
        ),
        ("missing", web.on("/gone.mp3", Vec::new()), "answers 404"),
        (
            "webpage",
            web.on(
                "/listen",
                vec![Answer {
                    status: "200 OK",
                    content_type: "text/html; charset=utf-8",
                    body: b"<html><body>Listen live!</body></html>".to_vec(),
                    once: false,
                }],
            ),
            "web page",
        ),
        (
            "emptylist",
            web.on(
                "/empty.m3u",
                vec![stream(
                    b"#EXTM3U\n#EXTINF:-1,Nothing\n".to_vec(),
                    "audio/x-mpegurl",
                )],
            ),
            "names no stream URL",
        ),
        (
            "noise",
            web.on(
                "/noise",
                vec![stream(common::tone::random_bytes(100_000, 7), "audio/mpeg")],
            ),
            "no MP3 or AAC frames",
        ),
        ("ftp", "ftp://127.0.0.1/live".to_string(), "not an http"),
    ];
    let mut channels: Vec<RecorderChannel> = bad
        .iter()
        .map(|(name, url, _)| channel(name, url))
        .collect();
    channels.push(channel("dirty", &pls_url));
    channels.push(channel("changes", &changes));
    let mut recorder = Recorder::new(settings(&archive), channels).unwrap();
    assert!(recorder.start_always_on().is_empty());
    for (name, _, reason) in &bad {
        let status = recorder.status(name).unwrap();
        wait_for(
            &format!("{name} to be refused with {reason:?}"),
            Duration::from_secs(20),
            || match status.state() {
                ChannelState::Reconnecting { reason: said } => said.contains(reason),
                _ => false,
            },
        );
        assert!(
            status
                .snapshot()
                .last_error
                .is_some_and(|e| e.contains(reason)),
            "{name}: {:?}",
            status.snapshot()
        );
        assert!(segments(&archive.join(name).join("source")).is_empty());
    }
    let dirty = recorder.status("dirty").unwrap();
    let changes = recorder.status("changes").unwrap();
    wait_for(
        "the streams served once to be recorded",
        Duration::from_secs(30),
        || {
            dirty.segments.load(Ordering::Relaxed) >= 4
                && changes.connections.load(Ordering::Relaxed) >= 2
                && changes.snapshot().format.as_deref() == Some("aac-48000")
                && matches!(changes.state(), ChannelState::Reconnecting { .. })
        },
    );
    // "Reconnecting" may still be the first connection's state while the
    // second's AAC is being cut: wait for all of it to be on disk.
    let aac_dir = archive.join("changes").join("source-aac-48000");
    wait_for(
        "the AAC connection to be kept whole",
        Duration::from_secs(30),
        || {
            aac_dir.is_dir()
                && segments(&aac_dir)
                    .iter()
                    .map(|s| s.audio().len())
                    .sum::<usize>()
                    >= aac.len()
        },
    );
    recorder.stop_all();

    // The garbage is gone, every frame kept: the segments joined are the
    // stream's frames, byte for byte.
    let found = segments(&archive.join("dirty").join("source"));
    let joined: Vec<u8> = found.iter().flat_map(Found::audio).collect();
    assert_eq!(joined.len(), clean.len());
    assert!(joined == clean, "the segments are not the stream's frames");
    assert_eq!(dirty.snapshot().skipped_bytes, inserted as u64);
    // The whole stream came at once: full segments, but for the last one
    // when the server closed.
    let (_, others) = found.split_last().unwrap();
    assert!(
        others
            .iter()
            .all(|s| s.name.kind == onair::archive::names::SegmentType::Full)
    );

    // The format the channel began with keeps `source`; the other
    // codec has a quality folder of its own.
    let channel_dir = archive.join("changes");
    assert_eq!(
        std::fs::read_to_string(channel_dir.join("source/.format")).unwrap(),
        "mp3-44100\n"
    );
    let mp3_kept: Vec<u8> = segments(&channel_dir.join("source"))
        .iter()
        .flat_map(Found::audio)
        .collect();
    assert!(mp3_kept == clean);
    let aac_kept: Vec<u8> = segments(&channel_dir.join("source-aac-48000"))
        .iter()
        .flat_map(Found::audio)
        .collect();
    assert!(aac_kept == aac, "the AAC is not kept as it came");
    assert_eq!(
        listing::folders(&channel_dir).unwrap(),
        ["source", "source-aac-48000"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_disk_that_takes_nothing_is_counted_and_recording_carries_on() {
    let dir = temp_dir("blocked");
    let archive = dir.join("archive");
    std::fs::create_dir_all(&archive).unwrap();
    // Bad input: a file where the channel's folder should be, as a disk
    // that refuses every write would.
    std::fs::write(archive.join("blocked"), b"not a folder").unwrap();
    let web = BadServer::start();
    let mp3 = encoded(
        &dir,
        "tone",
        8.0,
        44_100,
        &["-c:a", "libmp3lame", "-b:a", "128k", "-write_xing", "0"],
        "mp3",
    );
    let url = web.on(
        "/live.mp3",
        vec![Answer {
            status: "200 OK",
            content_type: "audio/mpeg",
            body: mp3,
            once: true,
        }],
    );
    let mut recorder = Recorder::new(settings(&archive), vec![channel("blocked", &url)]).unwrap();
    assert!(recorder.start_always_on().is_empty());
    let status = recorder.status("blocked").unwrap();
    wait_for(
        "the lost segments to be counted",
        Duration::from_secs(20),
        || status.write_errors.load(Ordering::Relaxed) >= 2,
    );
    // The recorder carries on: it asks for the stream again.
    wait_for("the recorder to ask again", Duration::from_secs(20), || {
        status
            .snapshot()
            .last_error
            .is_some_and(|e| e.contains("answers 404"))
    });
    recorder.stop_all();
    let snapshot = status.snapshot();
    assert_eq!(snapshot.segments, 0, "{snapshot:?}");
    assert!(
        (snapshot.dropped_seconds - 8.0).abs() < 0.2,
        "all the audio is counted as dropped: {snapshot:?}"
    );
    assert_eq!(snapshot.state, ChannelState::Stopped);
    assert_eq!(
        std::fs::read(archive.join("blocked")).unwrap(),
        b"not a folder"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A SHOUTcast v1 server: answers every request `ICY 200 OK` with ICY
/// headers, then sends `mp3` in real time with a StreamTitle block every
/// `METAINT` bytes, and keeps the requests it was sent.
fn shoutcast_v1(mp3: Vec<u8>, requests: Arc<Mutex<Vec<String>>>) -> u16 {
    const METAINT: usize = 8192;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut socket in listener.incoming().flatten() {
            let (mp3, requests) = (mp3.clone(), requests.clone());
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && socket.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                requests
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&head).into_owned());
                let _ = write!(
                    socket,
                    "ICY 200 OK\r\nicy-notice1:<BR>This stream requires Winamp<BR>\r\n\
                     icy-name:Partner FM\r\nicy-genre:News\r\ncontent-type:audio/mpeg\r\n\
                     icy-pub:0\r\nicy-metaint:{METAINT}\r\nicy-br:128\r\n\r\n"
                );
                let title = b"StreamTitle='Partner FM - News';";
                let blocks = title.len().div_ceil(16);
                let mut meta = vec![blocks as u8];
                meta.extend_from_slice(title);
                meta.resize(1 + blocks * 16, 0);
                // 128 kbit/s: 16 000 bytes a second, sent a tenth at a time.
                let start = Instant::now();
                for (i, chunk) in mp3.chunks(METAINT).enumerate() {
                    let due = Duration::from_secs_f64((i * METAINT) as f64 / 16_000.0);
                    if let Some(wait) = due.checked_sub(start.elapsed()) {
                        std::thread::sleep(wait);
                    }
                    if socket.write_all(chunk).is_err() || socket.write_all(&meta).is_err() {
                        return;
                    }
                }
                // The stream ends; the server stays on the line.
                std::thread::sleep(Duration::from_secs(30));
            });
        }
    });
    port
}

#[test]
fn a_shoutcast_v1_server_answering_icy_200_ok_is_recorded() {
    let dir = temp_dir("shoutcast");
    let archive = dir.join("archive");
    let mp3 = encoded(&dir, "tone", 10.0, 44_100, PLAIN_MP3, "mp3");
    let requests = Arc::new(Mutex::new(Vec::new()));
    let port = shoutcast_v1(mp3.clone(), requests.clone());
    let url = format!("http://127.0.0.1:{port}/;stream.mp3");
    let mut recorder = Recorder::new(settings(&archive), vec![channel("legacy", &url)]).unwrap();
    recorder.start("legacy").unwrap();
    let status = recorder.status("legacy").unwrap();
    wait_for("the recorder to record", Duration::from_secs(15), || {
        status.state() == ChannelState::Recording
    });
    std::thread::sleep(Duration::from_secs(11));
    recorder.stop_all();

    // The request asked for the titles; the ICY answer was read as HTTP.
    let asked = requests.lock().unwrap().clone();
    assert!(
        asked
            .iter()
            .any(|r| r.starts_with("GET /;stream.mp3 HTTP/1.") && r.contains("Icy-MetaData: 1")),
        "{asked:?}"
    );
    let snapshot = status.snapshot();
    assert_eq!(
        snapshot.format.as_deref(),
        Some("mp3-44100"),
        "{snapshot:?}"
    );
    // The server's frames, without its metadata blocks, are the segments.
    let found = segments(&archive.join("legacy").join("source"));
    assert!(found.len() >= 3, "{} segments", found.len());
    let joined: Vec<u8> = found.iter().flat_map(Found::audio).collect();
    assert!(
        joined.len() > mp3.len() * 9 / 10,
        "{} of {} bytes",
        joined.len(),
        mp3.len()
    );
    assert!(
        find(&mp3, &joined).is_some(),
        "the segments are not the server's MP3 frames as sent"
    );
    // Its StreamTitle is kept beside them.
    let hour = found[0].path.parent().unwrap();
    let titles = std::fs::read_to_string(hour.join(onair::recorder::channel::TRACKS_FILE)).unwrap();
    assert!(titles.contains("Partner FM - News"), "{titles}");
    let _ = std::fs::remove_dir_all(&dir);
}
