//! The HLS routes in process, over a real socket, against an archive
//! folder made by hand: playlists, segments, byte ranges, and every bad
//! path and parameter the archive must refuse. Requests are written by
//! hand so that no client tidies a path (`..`, `%2e%2e`) before it is sent.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::TimeZone;
use m3u8_rs::MediaPlaylist;
use tokio::sync::watch;

use super::*;
use crate::archive::best::BestCache;
use crate::archive::names::{SegmentName, SegmentType, content_hash};
use crate::asrun::{AsRunReader, SledReader};
use crate::clock::Clock;
use crate::panel::{Frame, Mirror};
use crate::status::Status;
use crate::web::Access;

/// 2026-01-05 11:00:00 UTC plus `seconds`.
fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 11, 0, 0).unwrap() + TimeDelta::seconds(seconds)
}

struct Server {
    address: SocketAddr,
    dir: PathBuf,
    /// `<archive>/fm/128k`.
    quality: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    /// A box whose clock stands at 12:00 UTC, with an archive of
    /// `fm/128k` from 10:59:42 to 11:00:30 (6 s segments).
    fn start(name: &str) -> Server {
        Server::start_reading(name, false)
    }

    /// As [`Server::start`], on a box whose reading may need a login
    /// (`web.read_requires_login`).
    fn start_reading(name: &str, read_requires_login: bool) -> Server {
        let dir = std::env::temp_dir().join(format!("onair-hls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let root = dir.join("archive");
        let quality = root.join("fm").join("128k");
        let b = Server {
            address: serve(&dir, &root, read_requires_login),
            dir,
            quality,
        };
        for start in (-18..30).step_by(6) {
            b.segment(start, 6.0, SegmentType::Full);
        }
        b
    }

    /// Writes a segment of the 128k quality: 108 bytes, its start in
    /// seconds (8 bytes) then the numbers 0-99.
    fn segment(&self, start: i64, duration: f64, kind: SegmentType) -> PathBuf {
        self.segment_in(&self.quality, start, duration, kind)
    }

    fn segment_in(
        &self,
        quality: &std::path::Path,
        start: i64,
        duration: f64,
        kind: SegmentType,
    ) -> PathBuf {
        let mut bytes = start.to_be_bytes().to_vec();
        bytes.extend(0..100u8);
        let name = SegmentName {
            start: at(start),
            duration,
            kind,
            hash: content_hash(&bytes),
        };
        let hour = quality.join(name.hour());
        std::fs::create_dir_all(&hour).unwrap();
        let path = hour.join(name.file_name());
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// `/segments/…` of a file of the archive.
    fn url_of(&self, path: &std::path::Path) -> String {
        let relative = path.strip_prefix(self.dir.join("archive")).unwrap();
        let parts: Vec<String> = relative
            .iter()
            .map(|p| playlist::encode(&p.to_string_lossy()))
            .collect();
        format!("/segments/{}", parts.join("/"))
    }

    fn get(&self, target: &str) -> Answer {
        self.request("GET", target, &[])
    }

    fn request(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> Answer {
        let mut stream = TcpStream::connect(self.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut request = format!("{method} {target} HTTP/1.1\r\nHost: box\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("Connection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        Answer::read(&raw)
    }

    fn media(&self, query: &str) -> (Answer, MediaPlaylist) {
        let answer = self.get(&format!("/playlist/fm/128k.m3u8?{query}"));
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(
            answer.header("content-type"),
            Some("application/vnd.apple.mpegurl")
        );
        let read = m3u8_rs::parse_media_playlist_res(&answer.body)
            .unwrap_or_else(|e| panic!("m3u8-rs cannot read it: {e:?}\n{}", answer.text()));
        (answer, read)
    }
}

/// The web server on a runtime of its own, for as long as the test runs.
fn serve(dir: &std::path::Path, root: &std::path::Path, read_requires_login: bool) -> SocketAddr {
    std::fs::create_dir_all(root).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let (dir, root) = (dir.to_path_buf(), root.to_path_buf());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let log: Arc<dyn AsRunReader> = Arc::new(SledReader::open(&dir.join("log")).unwrap());
            let (_status, status) = watch::channel(Status::default());
            let (_panel, panel) = watch::channel(Frame::default());
            let (controls, _) = crate::director::channel();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            crate::web::serve(
                listener,
                State {
                    status,
                    log,
                    timezone: chrono_tz::Europe::London,
                    // Stands still at 12:00 UTC.
                    clock: Clock::Simulated {
                        start: at(3600),
                        speed: 0.0,
                        epoch: SystemTime::now(),
                    },
                    panel: Mirror::of(panel),
                    controls,
                    buttons: None,
                    access: Arc::new(Access::new(
                        &dir,
                        Duration::from_secs(3600),
                        read_requires_login,
                    )),
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

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn read(raw: &[u8]) -> Answer {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no HTTP answer: {}", String::from_utf8_lossy(raw)));
        let head = String::from_utf8_lossy(&raw[..split]).to_string();
        let mut lines = head.lines();
        let status = lines.next().unwrap().split(' ').nth(1).unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_string()))
            .collect();
        Answer {
            status: status.parse().unwrap(),
            headers,
            body: raw[split + 4..].to_vec(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
}

const RANGE: &str = "start=2026-01-05T10:59:50Z&end=2026-01-05T11:00:20Z";

#[test]
fn a_media_playlist_of_a_range_lists_its_segments_and_a_tombstone_makes_a_hole() {
    let b = Server::start("media");
    let (answer, read) = b.media(RANGE);
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    // A range that ended an hour ago is over: no cache directive for an
    // open one.
    assert!(read.end_list);
    assert_eq!(answer.header("cache-control"), None);
    let dates: Vec<DateTime<Utc>> = read
        .segments
        .iter()
        .map(|s| s.program_date_time.unwrap().to_utc())
        .collect();
    assert_eq!(dates, [-12, -6, 0, 6, 12, 18].map(at));
    assert!(read.segments.iter().all(|s| !s.discontinuity));
    // Each URI is a segment the box serves.
    for segment in &read.segments {
        let got = b.get(&segment.uri);
        assert_eq!(got.status, 200, "{}", segment.uri);
        assert_eq!(got.header("content-type"), Some("audio/mpeg"));
    }

    // A tombstone beside 11:00:06 hides it: a hole, marked before 11:00:12.
    let hidden = b.segment(6, 6.0, SegmentType::Full);
    let tombstone = hidden.with_extension("tombstone");
    std::fs::write(&tombstone, b"").unwrap();
    let (_, read) = b.media(RANGE);
    let shown: Vec<(DateTime<Utc>, bool)> = read
        .segments
        .iter()
        .map(|s| (s.program_date_time.unwrap().to_utc(), s.discontinuity))
        .collect();
    assert_eq!(
        shown,
        [
            (at(-12), false),
            (at(-6), false),
            (at(0), false),
            (at(12), true),
            (at(18), false)
        ]
    );
    assert_eq!(b.get(&b.url_of(&hidden)).status, 404);
    // The tombstone taken away, the segment is back everywhere.
    std::fs::remove_file(&tombstone).unwrap();
    let (_, read) = b.media(RANGE);
    assert_eq!(read.segments.len(), 6);
    assert!(read.segments.iter().all(|s| !s.discontinuity));
    assert_eq!(b.get(&b.url_of(&hidden)).status, 200);
}

#[test]
fn an_implicit_range_runs_from_the_first_hour_to_two_hours_past_the_last() {
    let b = Server::start("implicit");
    // From 10:00 to 13:00; the clock says 12:00, so the range is open.
    let (answer, read) = b.media("");
    assert!(!read.end_list, "{}", answer.text());
    assert_eq!(answer.header("cache-control"), Some("no-cache"));
    assert_eq!(read.segments.len(), 8);
    assert!(!answer.text().contains("PLAYLIST-TYPE"));
    // An implicit end with an explicit start; an empty parameter is not given.
    let (_, read) = b.media("start=2026-01-05T11:00:00Z&end=");
    assert_eq!(read.segments.len(), 5);
    // An explicit end that is over.
    let (_, read) = b.media("end=2026-01-05T11:00:00Z");
    assert!(read.end_list);
    assert_eq!(read.segments.len(), 3);
}

#[test]
fn a_master_playlist_lists_the_qualities_that_hold_the_range() {
    let b = Server::start("master");
    // A second quality with one hour, the day before.
    let other = b.dir.join("archive").join("fm").join("64k");
    b.segment_in(&other, -86_400, 6.0, SegmentType::Full);

    let answer = b.get("/playlist/fm.m3u8");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        answer.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    let read = m3u8_rs::parse_master_playlist_res(&answer.body).unwrap();
    let uris: Vec<&str> = read.variants.iter().map(|v| v.uri.as_str()).collect();
    assert_eq!(uris, ["/playlist/fm/128k.m3u8", "/playlist/fm/64k.m3u8"]);

    let answer = b.get(&format!("/playlist/fm.m3u8?{RANGE}"));
    let read = m3u8_rs::parse_master_playlist_res(&answer.body).unwrap();
    let uris: Vec<&str> = read.variants.iter().map(|v| v.uri.as_str()).collect();
    assert_eq!(uris, [format!("/playlist/fm/128k.m3u8?{RANGE}")]);
    assert_eq!(read.variants[0].bandwidth, 130_560);
    assert_eq!(read.variants[0].codecs.as_deref(), Some("mp4a.40.34"));

    // Bad input: a range where nothing is archived, a channel that is not.
    let answer = b.get("/playlist/fm.m3u8?start=2026-02-01T00:00:00Z");
    assert_eq!(answer.status, 404, "{}", answer.text());
    assert!(
        answer.text().contains("nothing archived"),
        "{}",
        answer.text()
    );
    assert_eq!(b.get("/playlist/am.m3u8").status, 404);
    assert_eq!(b.get("/playlist/fm.m3u").status, 404);
}

#[test]
fn bad_playlist_parameters_are_refused_with_what_is_wrong() {
    let b = Server::start("parameters");
    // An hour folder the evening before: "everything" is then 17 hours.
    b.segment(-15 * 3600, 6.0, SegmentType::Full);
    let cases = [
        // (what is wrong, request, status, the answer names)
        (
            "an implicit start 15 h before the end",
            "/playlist/fm/128k.m3u8?end=2026-01-05T11:00:00Z",
            400,
            "implicit range may not be longer than 12 hours",
        ),
        (
            "an implicit range of 17 h",
            "/playlist/fm/128k.m3u8",
            400,
            "implicit range may not be longer than 12 hours",
        ),
        (
            "an end before the start",
            "/playlist/fm/128k.m3u8?start=2026-01-05T11:00:00Z&end=2026-01-05T10:00:00Z",
            400,
            "end 2026-01-05T10:00:00Z is not after start 2026-01-05T11:00:00Z",
        ),
        (
            "an end equal to the start",
            "/playlist/fm/128k.m3u8?start=2026-01-05T11:00:00Z&end=2026-01-05T11:00:00Z",
            400,
            "is not after start",
        ),
        (
            "an implicit end before an explicit start",
            "/playlist/fm/128k.m3u8?start=2026-01-06T00:00:00Z",
            400,
            "end 2026-01-05T13:00:00Z is not after start 2026-01-06T00:00:00Z",
        ),
        (
            "a start that is not a time",
            "/playlist/fm/128k.m3u8?start=yesterday-ish&end=2026-01-05T11:00:00Z",
            400,
            "start=\\\"yesterday-ish\\\"",
        ),
        (
            "an end that is not a time",
            "/playlist/fm/128k.m3u8?start=2026-01-05T11:00:00Z&end=2026-13-45T99:00:00Z",
            400,
            "end=",
        ),
        (
            "the same parameter twice",
            "/playlist/fm/128k.m3u8?start=2026-01-05T11:00:00Z&start=2026-01-05T11:00:00Z",
            400,
            "expected ?start=TIME&end=TIME",
        ),
        (
            "a master's bad time",
            "/playlist/fm.m3u8?end=never",
            400,
            "end=\\\"never\\\"",
        ),
        (
            "a master's end before its start",
            "/playlist/fm.m3u8?start=2026-01-05T11:00:00Z&end=2026-01-05T10:00:00Z",
            400,
            "is not after start",
        ),
        (
            "a quality the channel does not have",
            "/playlist/fm/96k.m3u8",
            404,
            "channel \\\"fm\\\" has no quality \\\"96k\\\"",
        ),
        (
            "a channel the archive does not have",
            "/playlist/am/128k.m3u8",
            404,
            "has no quality",
        ),
        (
            "a playlist not named .m3u8",
            "/playlist/fm/128k.m3u",
            404,
            "expected <quality>.m3u8",
        ),
    ];
    for (what, target, status, names) in cases {
        let answer = b.get(target);
        assert_eq!(answer.status, status, "{what}: {}", answer.text());
        assert!(
            answer.text().contains(names),
            "{what}: {} does not say {names:?}",
            answer.text()
        );
    }
    // An explicit range may be longer than 12 hours.
    let (_, read) = b.media("start=2026-01-04T20:00:00Z&end=2026-01-05T11:00:12Z");
    let discontinuities: Vec<bool> = read.segments.iter().map(|s| s.discontinuity).collect();
    assert_eq!(discontinuities, [false, true, false, false, false, false]);
    assert!(read.end_list);
}

#[test]
fn a_segment_is_served_whole_by_head_and_by_byte_ranges() {
    let b = Server::start("ranges");
    let path = b.segment(30, 6.0, SegmentType::Full);
    let url = b.url_of(&path);
    assert!(url.contains("00%3A30.000000-6.0-full-"), "{url}");
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 108);

    let whole = b.get(&url);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body, bytes);
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    assert_eq!(whole.header("access-control-allow-origin"), Some("*"));

    let head = b.request("HEAD", &url, &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("108"));
    assert!(head.body.is_empty());

    let cases: [(&str, u16, Option<&str>, &[u8]); 8] = [
        ("bytes=0-9", 206, Some("bytes 0-9/108"), &bytes[..10]),
        ("bytes=100-", 206, Some("bytes 100-107/108"), &bytes[100..]),
        ("bytes=-4", 206, Some("bytes 104-107/108"), &bytes[104..]),
        ("bytes=98-500", 206, Some("bytes 98-107/108"), &bytes[98..]),
        // Bad input: past the end, an empty suffix.
        ("bytes=108-", 416, Some("bytes */108"), b""),
        ("bytes=-0", 416, Some("bytes */108"), b""),
        // Several ranges, or nonsense: the whole segment.
        ("bytes=0-1,5-6", 200, None, &bytes),
        ("pages=1-2", 200, None, &bytes),
    ];
    for (range, status, content_range, body) in cases {
        let answer = b.request("GET", &url, &[("Range", range)]);
        assert_eq!(answer.status, status, "{range}");
        assert_eq!(answer.header("content-range"), content_range, "{range}");
        assert_eq!(answer.body, body, "{range}");
    }
}

#[test]
fn only_visible_segments_are_served() {
    let b = Server::start("visible");
    let hour = b.quality.join("2026-01-05T11");
    let temp = hour.join("00:30.000000-6.0-temp-0b1c-2d3e.mp3");
    std::fs::write(&temp, b"being written").unwrap();
    let hidden = hour.join(".00:36.000000-6.0-full-x.mp3");
    std::fs::write(&hidden, b"hidden").unwrap();
    std::fs::write(hour.join("notes.mp3"), b"notes").unwrap();
    std::fs::write(hour.join("00:00.000000-6.0-full-x.peaks"), b"peaks").unwrap();
    let cases = [
        ("a temporary file", b.url_of(&temp), 404),
        ("a hidden file", b.url_of(&hidden), 403),
        (
            "a file not named as a segment",
            "/segments/fm/128k/2026-01-05T11/notes.mp3".to_string(),
            404,
        ),
        (
            "a sidecar",
            "/segments/fm/128k/2026-01-05T11/00%3A00.000000-6.0-full-x.peaks".to_string(),
            404,
        ),
        (
            "a segment in a folder that is not an hour",
            "/segments/fm/128k/2026-01-05/00%3A00.000000-6.0-full-x.mp3".to_string(),
            404,
        ),
        (
            "a segment that is not there",
            format!(
                "/segments/fm/128k/2026-01-05T11/00%3A42.000000-6.0-full-{}.mp3",
                content_hash(b"none")
            ),
            404,
        ),
        (
            "a channel the archive does not have",
            "/segments/am/128k/2026-01-05T11/notes.mp3".to_string(),
            404,
        ),
    ];
    for (what, url, status) in cases {
        let answer = b.get(&url);
        assert_eq!(answer.status, status, "{what}: {url}: {}", answer.text());
        assert!(
            !answer.text().contains("being written") && !answer.text().contains("hidden"),
            "{what}"
        );
    }
}

#[test]
fn paths_out_of_the_archive_are_refused_and_never_read() {
    let b = Server::start("traversal");
    let root = b.dir.join("archive");
    let hash = content_hash(b"x");
    let segment = format!("00:00.000000-6.0-full-{hash}.mp3");
    // Symlinks inside the archive that lead out of it: a channel and an
    // hour folder to /etc, a segment-named file to /etc/passwd, and a
    // quality folder to a folder beside the archive holding a segment.
    std::os::unix::fs::symlink("/etc", root.join("etc")).unwrap();
    std::os::unix::fs::symlink("/etc", b.quality.join("2026-01-05T09")).unwrap();
    let passwd = b.quality.join("2026-01-05T11").join(&segment);
    std::os::unix::fs::symlink("/etc/passwd", &passwd).unwrap();
    let outside = b.dir.join("outside");
    let kept_outside = b.segment_in(&outside, 0, 6.0, SegmentType::Full);
    let elsewhere = root.join("fm").join("elsewhere");
    std::os::unix::fs::symlink(&outside, &elsewhere).unwrap();
    let outside_segment = b.url_of(&elsewhere.join(kept_outside.strip_prefix(&outside).unwrap()));

    let hour = "2026-01-05T11";
    let cases: Vec<(&str, String, u16)> = vec![
        ("raw ..", "/segments/fm/128k/../passwd".into(), 403),
        (
            "raw .. as the channel",
            "/segments/../../etc/passwd".into(),
            403,
        ),
        (
            "%2e%2e as the hour",
            "/segments/fm/128k/%2e%2e/passwd".into(),
            403,
        ),
        (
            "%2E%2E as the channel",
            "/segments/%2E%2E/%2e%2e/%2e%2e/passwd".into(),
            403,
        ),
        (
            "..%2f in the hour",
            "/segments/fm/128k/..%2f..%2f..%2fetc/passwd".into(),
            403,
        ),
        (
            "%2f in the hour",
            format!("/segments/fm/128k/{hour}%2f..%2f..%2f..%2fetc/passwd"),
            404,
        ),
        (
            "..%2f in the file",
            format!("/segments/fm/128k/{hour}/..%2f..%2f..%2f..%2fetc%2fpasswd"),
            403,
        ),
        (
            "%2f in the file",
            format!("/segments/fm/128k/{hour}/x%2f..%2f..%2f..%2f..%2fetc%2fpasswd"),
            404,
        ),
        (
            "an absolute file",
            format!("/segments/fm/128k/{hour}/%2fetc%2fpasswd"),
            404,
        ),
        (
            "%5c in the file",
            format!("/segments/fm/128k/{hour}/x%5c..%5c..%5cpasswd"),
            404,
        ),
        (
            "%5C in the quality",
            format!("/segments/fm/128k%5C..%5C..%5C/{hour}/x.mp3"),
            404,
        ),
        (
            "%00 in the file",
            format!(
                "/segments/fm/128k/{hour}/{}%00.mp3",
                playlist::encode(&segment)
            ),
            404,
        ),
        ("%00 in the channel", "/segments/fm%00/128k/x/y".into(), 404),
        (
            "a leading dot in the channel",
            format!("/segments/.fm/128k/{hour}/x.mp3"),
            403,
        ),
        (
            "a leading dot in the quality",
            format!("/segments/fm/.128k/{hour}/x.mp3"),
            403,
        ),
        (
            "a leading dot in the hour",
            "/segments/fm/128k/.2026-01-05T11/x.mp3".into(),
            403,
        ),
        (
            "a leading dot in the file",
            format!("/segments/fm/128k/{hour}/.{}", playlist::encode(&segment)),
            403,
        ),
        (
            "an encoded leading dot",
            format!("/segments/fm/128k/{hour}/%2e{}", playlist::encode(&segment)),
            403,
        ),
        (
            "a channel symlinked to /etc",
            "/segments/etc/x/2026-01-05T11/passwd".into(),
            404,
        ),
        (
            "an hour symlinked to /etc",
            "/segments/fm/128k/2026-01-05T09/passwd".into(),
            404,
        ),
        (
            "a segment's name in an hour symlinked to /etc",
            format!(
                "/segments/fm/128k/2026-01-05T09/{}",
                playlist::encode(&segment)
            ),
            404,
        ),
        ("a segment symlinked to /etc/passwd", b.url_of(&passwd), 403),
        (
            "a quality symlinked out of the archive",
            outside_segment,
            403,
        ),
        (
            "a playlist of a quality symlinked out",
            "/playlist/fm/elsewhere.m3u8".into(),
            403,
        ),
        (
            "a playlist of a channel symlinked to /etc",
            "/playlist/etc/passwd.m3u8".into(),
            403,
        ),
        (
            "a master of a channel symlinked to /etc",
            "/playlist/etc.m3u8".into(),
            403,
        ),
        (
            "a leading dot in a playlist's channel",
            "/playlist/.fm/128k.m3u8".into(),
            403,
        ),
        (
            "a leading dot in a playlist's quality",
            "/playlist/fm/.128k.m3u8".into(),
            403,
        ),
        (
            "a leading dot in a master",
            "/playlist/.fm.m3u8".into(),
            403,
        ),
        (
            "%2e%2e as a playlist's channel",
            "/playlist/%2e%2e/128k.m3u8".into(),
            403,
        ),
        (
            "%2f in a playlist's quality",
            "/playlist/fm/x%2f..%2f..%2f..%2fetc%2fpasswd.m3u8".into(),
            404,
        ),
        (
            "%2f in a playlist's channel",
            "/playlist/fm%2f..%2f..%2fetc/passwd.m3u8".into(),
            404,
        ),
        ("%5c in a master", "/playlist/x%5c..%5cetc.m3u8".into(), 404),
        ("%00 in a master", "/playlist/fm%00.m3u8".into(), 404),
        // The listings: a folder's names are refused as its files are.
        (
            "a listing of a channel symlinked to /etc",
            "/files/etc".into(),
            403,
        ),
        (
            "a listing of a quality symlinked out",
            "/files/fm/elsewhere".into(),
            403,
        ),
        (
            "a listing of an hour symlinked to /etc",
            "/files/fm/128k/2026-01-05T09".into(),
            403,
        ),
        ("a listing of %2e%2e", "/files/%2e%2e".into(), 403),
        (
            "a waveform of a quality symlinked out",
            "/waveform/fm/elsewhere.png?start=-1h&end=now".into(),
            403,
        ),
        (
            "coverage of a quality symlinked out",
            "/coverage/fm/elsewhere.json".into(),
            403,
        ),
        (
            "a cut of a quality symlinked out",
            "/cut/fm/elsewhere.mp3?start=-1h&end=now".into(),
            403,
        ),
    ];
    for (what, url, status) in cases {
        let answer = b.get(&url);
        assert_eq!(answer.status, status, "{what}: {url}: {}", answer.text());
        assert!(
            !answer.text().contains("root:"),
            "{what}: {url} gave away a system file"
        );
    }
    // The symlinked segment's name is otherwise a good one: it is the
    // check on where it leads that refuses it.
    assert!(crate::archive::listing::is_visible(
        &b.quality, hour, &segment
    ));
}

#[test]
fn a_box_that_needs_a_login_to_read_asks_for_one_on_every_archive_route() {
    let b = Server::start_reading("login", true);
    let segment = b.segment(0, 6.0, SegmentType::Full);
    let token = crate::auth::tokens::generate();
    let password = crate::auth::password::hash("studio password").unwrap();
    crate::auth::update(&b.dir, |s| {
        s.password = Some(password);
        s.tokens.push(crate::auth::TokenRecord {
            name: "listen-again".into(),
            sha256: crate::auth::tokens::digest(&token),
            created: Utc::now(),
        });
        Ok(())
    })
    .unwrap();
    let bearer = format!("Bearer {token}");
    let routes = [
        "/files".to_string(),
        "/files/fm/128k/2026-01-05T11".to_string(),
        "/playlist/fm.m3u8".to_string(),
        format!("/playlist/fm/128k.m3u8?{RANGE}"),
        b.url_of(&segment),
        format!("/cut/fm/128k.mp3?{RANGE}"),
        "/waveform/fm/128k.png?start=2026-01-05T10:59:50Z&end=2026-01-05T11:00:20Z".to_string(),
        "/coverage/fm/128k.json?start=2026-01-05T10:00:00Z&end=2026-01-05T12:00:00Z".to_string(),
    ];
    for route in &routes {
        // Bad input: no credentials, and a token that was never issued.
        for headers in [&[][..], &[("authorization", "Bearer made-up")][..]] {
            let refused = b.request("GET", route, headers);
            assert_eq!(
                refused.status,
                401,
                "{route} {headers:?}: {}",
                refused.text()
            );
            assert!(refused.body.len() < 1000, "{route} gave away content");
        }
        let read = b.request("GET", route, &[("authorization", bearer.as_str())]);
        assert!(
            read.status != 401 && read.status != 403,
            "{route} with a token: {} {}",
            read.status,
            read.text()
        );
    }
    // What a listener with the token gets is the archive itself.
    let listed = b.request(
        "GET",
        "/files/fm/128k/2026-01-05T11",
        &[("authorization", bearer.as_str())],
    );
    assert_eq!(listed.status, 200, "{}", listed.text());
    let name = segment.file_name().unwrap().to_string_lossy().to_string();
    assert!(listed.text().contains(&name), "{}", listed.text());
}

#[test]
fn a_recorded_aac_quality_is_announced_as_aac_and_served_as_aac() {
    let b = Server::start("aac");
    let quality = b.dir.join("archive").join("fm").join("source-aac-48000");
    let hour = quality.join("2026-01-05T11");
    std::fs::create_dir_all(&hour).unwrap();
    let bytes = b"\xff\xf1 not really ADTS".to_vec();
    let name = SegmentName {
        start: at(0),
        duration: 6.0,
        kind: SegmentType::Full,
        hash: content_hash(&bytes),
    };
    let file = name.file_name_as(crate::archive::names::Codec::Aac);
    assert!(file.ends_with(".aac"), "{file}");
    std::fs::write(hour.join(&file), &bytes).unwrap();

    let master = b.get(&format!("/playlist/fm.m3u8?{RANGE}"));
    assert_eq!(master.status, 200, "{}", master.text());
    let text = master.text();
    let variant = |quality: &str| {
        let lines: Vec<&str> = text.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with(&format!("/playlist/fm/{quality}.m3u8")))
            .unwrap_or_else(|| panic!("no {quality} in {text}"));
        lines[at - 1].to_string()
    };
    assert!(variant("128k").contains("CODECS=\"mp4a.40.34\""), "{text}");
    assert!(
        variant("source-aac-48000").contains("CODECS=\"mp4a.40.2\""),
        "{text}"
    );

    let served = b.get(&b.url_of(&hour.join(&file)));
    assert_eq!(served.status, 200, "{}", served.text());
    assert_eq!(served.header("content-type"), Some("audio/aac"));
    assert_eq!(served.body, bytes);
    // The MP3 segments stay MP3.
    let mp3 = b.segment(6, 6.0, SegmentType::Full);
    assert_eq!(
        b.get(&b.url_of(&mp3)).header("content-type"),
        Some("audio/mpeg")
    );
}
