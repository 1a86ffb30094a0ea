//! The listener's-eye check against a real Icecast server: the box listens
//! to its own public stream and says, in its status, its warnings, its log
//! and on its status page, when listeners would hear nothing — the mount is
//! absent, or the stream is silent while the programme plays — and when
//! they hear the programme again. Icecast runs in real time, so the station
//! clock runs at speed 1 here.

use crate::common;
use crate::common::icecast as server;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use scraper::Selector;
use server::{Icecast, SOURCE_PASSWORD};

const RATE: u32 = 44_100;
const TONE: u32 = 500;

fn stream_output(port: u16, password: &str, mount: &str, extra: &str) -> String {
    format!(
        "kind = \"icecast\"\nhost = \"127.0.0.1\"\nport = {port}\nmount = \"{mount}\"\n\
         password = \"{password}\"\nbitrate = 128\n{extra}"
    )
}

/// The box's web address, once it has written it (a moment after its
/// clock starts).
fn web_address(s: &Station) -> String {
    let path = s.data_dir().join("web-address");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(&path)
            && !text.trim().is_empty()
        {
            return text.trim().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "the box did not write {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn box_status(s: &Station) -> serde_json::Value {
    http::get(&web_address(s), "/api/status").json()
}

/// `outputs[index].listen` of the status.
fn listen(status: &serde_json::Value, index: usize) -> serde_json::Value {
    status["outputs"][index]["listen"].clone()
}

fn warnings(status: &serde_json::Value) -> Vec<String> {
    status["warnings"]
        .as_array()
        .map(|w| {
            w.iter()
                .filter_map(|w| w.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Polls the status until output `index`'s listen state is one of
/// `states`; returns how long that took and the status then.
fn wait_for_listen(
    s: &Station,
    index: usize,
    states: &[&str],
    timeout: Duration,
) -> (Duration, serde_json::Value) {
    let started = Instant::now();
    loop {
        let status = box_status(s);
        let state = listen(&status, index)["state"].clone();
        if states.iter().any(|want| state == *want) {
            return (started.elapsed(), status);
        }
        assert!(
            started.elapsed() < timeout,
            "output {index}: listen state {state} after {timeout:?}, expected one of {states:?}: {}\n{}",
            listen(&status, index),
            s.box_logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An Icecast source other than the box: ffmpeg sending a lavfi source
/// (`anullsrc` for silence, `sine` for a tone) as 128 kbps MP3, in real time.
struct OtherSource(Child);

impl OtherSource {
    fn start(icecast: &Icecast, mount: &str, lavfi: &str) -> OtherSource {
        let child = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i", lavfi])
            .args(["-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k"])
            .args(["-content_type", "audio/mpeg", "-f", "mp3"])
            .arg(format!(
                "icecast://source:{SOURCE_PASSWORD}@127.0.0.1:{}{mount}",
                icecast.port
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start ffmpeg: {e}"));
        let up = icecast.wait_for(Duration::from_secs(5), |i| i.mount(mount).is_some());
        assert!(up.is_some(), "ffmpeg never reached the server at {mount}");
        OtherSource(child)
    }
}

impl Drop for OtherSource {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The stream table of the status page as headless Chromium renders it.
fn streams_on_the_page(dir: &Path, address: &str) -> Vec<Vec<String>> {
    let page = page::browse(dir, &format!("http://{address}/"), 2500);
    let (tr, td) = (
        Selector::parse("#streams tr").unwrap(),
        Selector::parse("td").unwrap(),
    );
    page.select(&tr)
        .map(|row| {
            row.select(&td)
                .map(|c| c.text().collect::<Vec<_>>().join(" ").trim().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn the_alarm_is_raised_when_the_server_dies_and_cleared_when_it_is_back() {
    let mut icecast = Icecast::start("listen-restart");
    let mut s = Station::new("listen-restart");
    s.sample_rate_hz(RATE)
        .clock("2026-03-02 00:59:30", 1.0)
        // Listened back to by default: the server is on this machine.
        .output(&stream_output(
            icecast.port,
            SOURCE_PASSWORD,
            "/live.mp3",
            "",
        ))
        // Bad input: a wrong source password, so its mount never exists.
        .output(&stream_output(
            icecast.port,
            "not-the-password",
            "/refused.mp3",
            "",
        ))
        // Not listened to: turned off.
        .output(&stream_output(
            icecast.port,
            SOURCE_PASSWORD,
            "/quiet.mp3",
            "listen_url = \"\"\n",
        ));
    s.programme("2026-03-02 00:59", "morning", TONE, 120.0, "wav");
    s.start();
    let live_url = icecast.listen_url("/live.mp3");
    let live_name = format!("icecast 127.0.0.1:{}/live.mp3", icecast.port);

    // The tone plays: listeners hear it, and nothing is said against it.
    let (_, status) = wait_for_listen(&s, 1, &["ok"], Duration::from_secs(12));
    let live = listen(&status, 1);
    assert_eq!(live["url"], live_url, "{live}");
    assert!(live["reason"].is_null(), "{live}");
    assert!(
        !warnings(&status).iter().any(|w| w.starts_with(&live_name)),
        "{:?}",
        warnings(&status)
    );
    assert!(listen(&status, 3).is_null(), "turned off: {status}");
    assert!(listen(&status, 0).is_null(), "the wav output is no stream");

    // The refused source's mount is absent, once the grace has passed.
    let (_, status) = wait_for_listen(&s, 2, &["absent"], Duration::from_secs(12));
    let refused = listen(&status, 2);
    assert!(
        refused["reason"]
            .as_str()
            .is_some_and(|r| r.contains("HTTP 404")),
        "{refused}"
    );
    assert!(
        warnings(&status)
            .iter()
            .any(|w| w.contains("/refused.mp3: listeners hear nothing (mount absent)")),
        "{:?}",
        warnings(&status)
    );
    assert_eq!(listen(&status, 1)["state"], "ok", "{status}");

    let page = streams_on_the_page(s.dir(), &web_address(&s));
    assert_eq!(page.len(), 3, "{page:?}");
    assert!(page[0][7].starts_with("programme since "), "{page:?}");
    assert!(page[1][7].starts_with("mount absent since "), "{page:?}");
    assert!(page[1][7].contains("HTTP 404"), "{page:?}");
    assert_eq!(page[2][7], "not checked", "{page:?}");

    // The server dies: the alarm within the no-audio time and a little.
    icecast.kill();
    let (took, status) = wait_for_listen(&s, 1, &["absent", "no_data"], Duration::from_secs(9));
    assert!(took >= Duration::from_secs(4), "alarm after only {took:?}");
    let live = listen(&status, 1);
    assert_eq!(live["state"], "absent", "{live}");
    assert!(
        live["reason"]
            .as_str()
            .is_some_and(|r| r.contains("refused")),
        "{live}"
    );
    let warned = warnings(&status);
    assert!(
        warned.iter().any(|w| w.starts_with(&format!(
            "{live_name}: listeners hear nothing (mount absent)"
        ))),
        "{warned:?}"
    );

    // It comes back: so does the programme, for the box's ears too.
    std::thread::sleep(Duration::from_secs(2));
    icecast.restart();
    let (took, status) = wait_for_listen(&s, 1, &["ok"], Duration::from_secs(12));
    assert!(
        !warnings(&status).iter().any(|w| w.starts_with(&live_name)),
        "cleared after {took:?}, but still warned: {:?}",
        warnings(&status)
    );
    s.terminate();

    // One line per change in the log: heard, lost (maybe twice, as the
    // reason moved from "refused" to "no such mount" while the source
    // came back), heard again.
    let logs = s.box_logs();
    let heard = format!("listen-back {live_url}: listeners hear the programme");
    let lost = format!("listen-back {live_url}: listeners hear nothing (mount absent)");
    assert_eq!(logs.matches(&heard).count(), 2, "{logs}");
    assert!((1..=2).contains(&logs.matches(&lost).count()), "{logs}");
    assert!(!logs.contains("/quiet.mp3: listeners"), "{logs}");

    // The as-run log keeps the alarms beside what aired: the refused
    // mount's alarm, the live mount's raised when the server died and
    // cleared when it came back, in that order; nothing for the stream
    // not listened to.
    let log = s.log_json();
    let listened: Vec<(String, String)> = log
        .of_kind(Kind::Listen)
        .iter()
        .map(|e| {
            (
                e.file.clone().unwrap_or_default(),
                e.heard.clone().unwrap_or_default(),
            )
        })
        .collect();
    let refused_name = format!("icecast 127.0.0.1:{}/refused.mp3", icecast.port);
    log.check(
        listened.contains(&(refused_name, "absent".to_string())),
        "the refused mount's alarm must be in the as-run log",
    );
    let live: Vec<&str> = listened
        .iter()
        .filter(|(output, _)| *output == live_name)
        .map(|(_, heard)| heard.as_str())
        .collect();
    log.check(
        live.first() == Some(&"absent")
            && live.last() == Some(&"ok")
            && !live.contains(&"starting"),
        &format!("the live mount's alarm must be raised, then cleared: {live:?}"),
    );
    log.check(
        !listened
            .iter()
            .any(|(output, _)| output.contains("/quiet.mp3")),
        "a stream not listened to has no listen-back entries",
    );
}

#[test]
fn a_stream_silent_under_playing_programme_raises_the_alarm_and_silence_on_air_does_not() {
    let icecast = Icecast::start("listen-silent");
    // Listeners tune to /other.mp3, fed by another source with silence,
    // while the box streams to /live.mp3: the box's stream is fine, what
    // listeners get is not.
    let silence = OtherSource::start(&icecast, "/other.mp3", "anullsrc=r=44100:cl=stereo");
    let mut s = Station::new("listen-silent");
    s.sample_rate_hz(RATE)
        .clock("2026-03-02 00:59:10", 1.0)
        .output(&stream_output(
            icecast.port,
            SOURCE_PASSWORD,
            "/live.mp3",
            &format!("listen_url = \"{}\"\n", icecast.listen_url("/other.mp3")),
        ));
    // Joined 10 s in: 20 s of silence on air, then the tone. The box's
    // dead-air watch is set past that, so the quiet stays on air.
    s.section("[silence]\nafter_seconds = 60\n");
    s.programme_steps(
        "2026-03-02 00:59",
        "quiet-start",
        &[(0, 30.0), (TONE, 90.0)],
        "wav",
    );
    s.start();

    // Silence on air heard as silence: no alarm, however long (17 s here,
    // longer than the silence alarm's 10 s).
    let (_, status) = wait_for_listen(&s, 1, &["ok"], Duration::from_secs(5));
    assert_eq!(listen(&status, 1)["url"], icecast.listen_url("/other.mp3"));
    while s.now() < s.local("2026-03-02 00:59:29") {
        let status = box_status(&s);
        assert_eq!(
            listen(&status, 1)["state"],
            "ok",
            "silence on air raised the alarm at {}: {status}",
            s.now()
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // The tone goes on air at 00:59:30; listeners still hear silence.
    s.wait_until(s.local("2026-03-02 00:59:30"));
    let (took, status) = wait_for_listen(&s, 1, &["silent"], Duration::from_secs(14));
    assert!(
        took >= Duration::from_secs(9),
        "silent after only {took:?} of programme"
    );
    let live = listen(&status, 1);
    assert!(
        live["reason"]
            .as_str()
            .is_some_and(|r| r.contains("silence through more than 10 s of programme")),
        "{live}"
    );
    assert!(
        warnings(&status)
            .iter()
            .any(|w| w.contains("/live.mp3: listeners hear nothing (silent)")),
        "{:?}",
        warnings(&status)
    );
    // The box's own stream is up all along: only listening tells.
    assert_eq!(status["outputs"][1]["stream"]["state"], "connected");

    // What listeners get is fixed: a tone replaces the silence.
    drop(silence);
    let gone = icecast.wait_for(Duration::from_secs(5), |i| i.mount("/other.mp3").is_none());
    assert!(gone.is_some(), "the server kept the silent source's mount");
    let _tone = OtherSource::start(&icecast, "/other.mp3", "sine=f=440:r=44100");
    let (_, status) = wait_for_listen(&s, 1, &["ok"], Duration::from_secs(12));
    assert!(
        !warnings(&status)
            .iter()
            .any(|w| w.contains("listeners hear nothing")),
        "{:?}",
        warnings(&status)
    );
    s.terminate();

    let logs = s.box_logs();
    let url = icecast.listen_url("/other.mp3");
    assert_eq!(
        logs.matches(&format!(
            "listen-back {url}: listeners hear nothing (silent)"
        ))
        .count(),
        1,
        "{logs}"
    );

    // In the as-run log: raised once as silent, then cleared.
    let log = s.log_json();
    let heard: Vec<String> = log
        .of_kind(Kind::Listen)
        .iter()
        .map(|e| e.heard.clone().unwrap_or_default())
        .collect();
    log.check(
        heard == ["silent", "ok"],
        &format!("expected the silence alarm and its clearing, got {heard:?}"),
    );
}
