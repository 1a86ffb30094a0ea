//! The public stream against a real Icecast server: what a listener hears,
//! the title listeners see, reconnection after the server dies, and the
//! states of a refused and an unreachable server. Icecast runs in real time,
//! so the station clock runs at speed 1 here.

use crate::common;
use crate::common::icecast as server;

use std::time::Duration;

use common::*;
use server::{Icecast, Listener, SOURCE_PASSWORD, free_port};

const MOUNT: &str = "/live.mp3";
const RATE: u32 = 44_100;
const CAFE: u32 = 400;
const NEWS: u32 = 700;

fn stream_output(port: u16, password: &str, mount: &str, extra: &str) -> String {
    format!(
        "kind = \"icecast\"\nhost = \"127.0.0.1\"\nport = {port}\nmount = \"{mount}\"\n\
         password = \"{password}\"\nbitrate = 128\nname = \"Test FM\"\ngenre = \"Test\"\n{extra}"
    )
}

/// The tones a listener heard, in order, each with its length in seconds
/// (short stretches of anything else left out).
fn heard(samples: &[f32]) -> Vec<(What, f64)> {
    let runs = goertzel::runs_of(samples, RATE, chrono::Utc::now(), &[CAFE, NEWS]);
    let mut merged: Vec<(What, f64)> = Vec::new();
    for run in runs {
        let seconds = run.duration().num_milliseconds() as f64 / 1000.0;
        if seconds < 0.2 {
            continue;
        }
        match merged.last_mut() {
            Some(last) if last.0 == run.what => last.1 += seconds,
            _ => merged.push((run.what, seconds)),
        }
    }
    merged
}

#[test]
fn listeners_hear_the_programme_with_its_title_through_server_restarts() {
    let mut icecast = Icecast::start("restarts");
    let mut s = Station::new("icecast-restarts");
    s.sample_rate_hz(RATE)
        .clock("2026-03-02 00:59:27", 1.0)
        // The default backoff cap (30 s): a server back after a long
        // outage must not wait for the backoff.
        .output(&stream_output(icecast.port, SOURCE_PASSWORD, MOUNT, ""));
    // Joined 27 s into its slot; the title has non-ASCII letters.
    s.programme("2026-03-02 00:59", "café-été", CAFE, 70.0, "wav");
    s.programme("2026-03-02 01:00", "news", NEWS, 40.0, "wav");
    s.start();

    let up = icecast.wait_for(Duration::from_secs(3), |i| i.mount(MOUNT).is_some());
    assert!(up.is_some(), "the stream never reached the server");
    let titled = icecast.wait_for(Duration::from_secs(2), |i| {
        i.title(MOUNT).as_deref() == Some("Café Été")
    });
    assert!(
        titled.is_some(),
        "the title is {:?}, expected \"Café Été\"",
        icecast.title(MOUNT)
    );
    let listener = Listener::start(&icecast.listen_url(MOUNT), RATE);
    std::thread::sleep(Duration::from_secs(3));
    let first = listener.stop();

    // The server dies twice mid-programme and comes back each time: once
    // quickly, once after 9 s, when the backoff (0.5, 1, 2, 4 s, then 8 s)
    // would next try only at 15.5 s.
    for (round, down) in [(1, 1500), (2, 9000)] {
        icecast.kill();
        std::thread::sleep(Duration::from_millis(down));
        icecast.restart();
        let back = icecast.wait_for(Duration::from_secs(3), |i| {
            i.title(MOUNT).as_deref() == Some("Café Été")
        });
        match back {
            Some(took) => assert!(
                took <= Duration::from_secs(2),
                "restart {round}: the stream (with its title) came back after {took:?}"
            ),
            None => panic!(
                "restart {round}: no stream with its title 3 s after the server came back: {:?}\n{}",
                icecast.mount(MOUNT),
                s.box_logs()
            ),
        }
    }

    // Across the change of programme at 01:00.
    let wait = (s.local("2026-03-02 00:59:57") - s.now())
        .to_std()
        .unwrap_or_default();
    std::thread::sleep(wait);
    let listener = Listener::start(&icecast.listen_url(MOUNT), RATE);
    s.wait_until(s.local("2026-03-02 01:00:03"));
    let news_titled = icecast.wait_for(Duration::from_secs(2), |i| {
        i.title(MOUNT).as_deref() == Some("News")
    });
    s.wait_until(s.local("2026-03-02 01:00:06"));
    let across = listener.stop();
    let status = http::get(&s.web_address(), "/api/status").json();
    s.terminate();
    assert!(
        news_titled.is_some(),
        "the title did not follow to \"News\""
    );

    let first = heard(&first);
    assert!(
        matches!(first.as_slice(), [(What::Tone(CAFE), t)] if *t > 1.0),
        "the first listener heard {first:?}, expected only the café tone"
    );
    let across = heard(&across);
    let tones: Vec<What> = across.iter().map(|(w, _)| *w).collect();
    assert_eq!(
        tones,
        [What::Tone(CAFE), What::Tone(NEWS)],
        "across 01:00 the listener heard {across:?}"
    );
    assert!(across[0].1 > 1.5 && across[1].1 > 3.0, "{across:?}");

    let stream = status["outputs"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["stream"].is_object()))
        .map(|o| o["stream"].clone())
        .unwrap_or_else(|| panic!("no stream in the status: {status}"));
    assert_eq!(stream["state"], "connected", "{stream}");
    assert_eq!(stream["reconnects"], 2, "{stream}");
    assert_eq!(stream["title"], "News", "{stream}");
    assert!(
        stream["bytes_sent"].as_u64().unwrap_or(0) > 200_000,
        "{stream}"
    );
    assert!(
        stream["frames_discarded"].as_u64().unwrap_or(0) > 0,
        "audio while the server was away is counted: {stream}"
    );

    // The recording beside the stream has no gap: café until 01:00, then news.
    let aired = s.aired();
    let runs = s.runs(&aired);
    expect_only(
        &runs,
        s.local("2026-03-02 00:59:45"),
        s.local("2026-03-02 00:59:59.9"),
        &[What::Tone(CAFE)],
        ms(30),
    );
    expect_only(
        &runs,
        s.local("2026-03-02 01:00:00.1"),
        s.local("2026-03-02 01:00:05"),
        &[What::Tone(NEWS)],
        ms(30),
    );
    let logs = s.box_logs();
    assert_eq!(logs.matches("stream up").count(), 3, "{logs}");
    assert!(logs.matches("stream down").count() >= 2, "{logs}");

    // The as-run log has each down and up, in order, beside the programmes.
    let log = s.log_json();
    let name = format!("icecast 127.0.0.1:{}{MOUNT}", icecast.port);
    let events: Vec<String> = log
        .entries
        .iter()
        .filter(|e| e.kind == asrun::Kind::Stream)
        .map(|e| e.title.replace(&name, "…"))
        .collect();
    assert_eq!(
        events,
        ["up: …", "down: …", "up: …", "down: …", "up: …"],
        "{log}"
    );
    assert!(
        log.entries
            .iter()
            .filter(|e| e.kind == asrun::Kind::Stream)
            .all(|e| e.end == Some(e.start)),
        "{log}"
    );
}

#[test]
fn a_wrong_password_and_an_unreachable_server_show_their_own_states_with_backoff() {
    let icecast = Icecast::start("refused");
    let closed = free_port();
    let mut s = Station::new("icecast-refused");
    s.sample_rate_hz(RATE)
        .clock("2026-03-02 00:59:50", 1.0)
        // Bad input: the wrong source password, and a port nobody listens on.
        .output(&stream_output(icecast.port, "not-the-password", MOUNT, ""))
        .output(&stream_output(closed, SOURCE_PASSWORD, "/other.mp3", ""))
        // Two streams for one mount: the second finds it in use.
        .output(&stream_output(
            icecast.port,
            SOURCE_PASSWORD,
            "/taken.mp3",
            "",
        ))
        .output(&stream_output(
            icecast.port,
            SOURCE_PASSWORD,
            "/taken.mp3",
            "",
        ));
    s.programme("2026-03-02 00:59", "morning", CAFE, 70.0, "wav");
    s.start();
    std::thread::sleep(Duration::from_millis(6500));
    let status = http::get(&s.web_address(), "/api/status").json();
    s.wait_until(s.local("2026-03-02 00:59:58"));
    s.terminate();

    let streams: Vec<serde_json::Value> = status["outputs"]
        .as_array()
        .map(|o| o.iter().map(|o| o["stream"].clone()).collect())
        .unwrap_or_default();
    let [_, refused, unreachable, taken_a, taken_b] = streams.as_slice() else {
        panic!("expected the wav output and four streams: {status}");
    };
    let (winner, loser) = if taken_a["state"] == "connected" {
        (taken_a, taken_b)
    } else {
        (taken_b, taken_a)
    };
    assert_eq!(winner["state"], "connected", "{winner}");
    // A busy mount is retried as such, not shown as a refused login.
    assert_eq!(loser["state"], "retrying", "{loser}");
    assert!(
        loser["reason"]
            .as_str()
            .is_some_and(|r| r.contains("/taken.mp3 is in use")),
        "{loser}"
    );
    assert_eq!(refused["state"], "refused", "{refused}");
    assert!(
        refused["reason"]
            .as_str()
            .is_some_and(|r| r.contains("check the user and password")),
        "{refused}"
    );
    assert_eq!(unreachable["state"], "retrying", "{unreachable}");
    assert!(
        unreachable["reason"]
            .as_str()
            .is_some_and(|r| r.contains("cannot reach")),
        "{unreachable}"
    );
    // Backoff from 0.5 s doubling: attempts at about 0, 0.5, 1.5, 3.5 s
    // (and 7.5 s): four or five in 6.5 s, not one per write.
    for stream in [refused, unreachable] {
        let attempts = stream["failed_attempts"].as_u64().unwrap_or(0);
        assert!((3..=5).contains(&attempts), "{attempts} attempts: {stream}");
        assert!(stream["next_attempt"].is_string(), "{stream}");
        assert_eq!(stream["bytes_sent"], 0, "{stream}");
    }
    assert!(
        icecast.mount(MOUNT).is_none(),
        "a refused source got a mount"
    );

    // The recording is untouched by the streams' troubles.
    let aired = s.aired();
    let runs = s.runs(&aired);
    expect_only(
        &runs,
        s.local("2026-03-02 00:59:51"),
        s.local("2026-03-02 00:59:57.5"),
        &[What::Tone(CAFE)],
        ms(30),
    );
}

/// What a listener's player shows for an ICY title: the bytes as UTF-8
/// when they are valid UTF-8, else as Latin-1 (what VLC, mpv and most web
/// players do with SHOUTcast-style metadata). HTML entities are shown as is.
fn as_a_player_shows(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(text) => text.to_string(),
        Err(_) => raw.iter().map(|&b| char::from(b)).collect(),
    }
}

/// `&#NNN;` entities turned back into their characters.
fn decode_entities(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("&#") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.split_once(';').and_then(|(n, tail)| {
            let c = char::from_u32(n.parse().ok()?)?;
            Some((c, tail))
        }) {
            Some((c, tail)) => {
                out.push(c);
                rest = tail;
            }
            None => {
                out.push_str("&#");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn icy_titles_follow_the_programme_as_a_listeners_player_shows_them() {
    // One mount as Icecast 2.4 makes it by default, one declared UTF-8.
    let icecast = Icecast::start_with(
        "icy",
        "<mount><mount-name>/utf8.mp3</mount-name><charset>UTF-8</charset></mount>",
    );
    let mut s = Station::new("icecast-icy");
    s.sample_rate_hz(RATE)
        .clock("2026-03-02 00:59:54", 1.0)
        .output(&stream_output(icecast.port, SOURCE_PASSWORD, MOUNT, ""))
        .output(&stream_output(
            icecast.port,
            SOURCE_PASSWORD,
            "/utf8.mp3",
            "",
        ));
    // Latin-1 letters first, then letters Latin-1 does not have.
    s.programme("2026-03-02 00:59", "café-été", CAFE, 70.0, "wav");
    s.programme("2026-03-02 01:00", "łódź-nocą", NEWS, 70.0, "wav");
    s.start();
    let up = icecast.wait_for(Duration::from_secs(3), |i| {
        i.mount(MOUNT).is_some() && i.mount("/utf8.mp3").is_some()
    });
    assert!(up.is_some(), "the streams never reached the server");
    let latin1 = server::IcyListener::start(icecast.port, MOUNT);
    let utf8 = server::IcyListener::start(icecast.port, "/utf8.mp3");
    s.wait_until(s.local("2026-03-02 01:00:00"));
    let change = std::time::Instant::now();
    s.wait_until(s.local("2026-03-02 01:00:04"));
    let status_titles = (icecast.title(MOUNT), icecast.title("/utf8.mp3"));
    let (latin1, utf8) = (latin1.stop(), utf8.stop());
    s.terminate();

    for heard in [&latin1, &utf8] {
        assert!(heard.metaint > 0 && heard.audio_bytes > 16_000, "{heard:?}");
    }
    let shown = |heard: &server::IcyHeard| -> Vec<String> {
        heard
            .titles
            .iter()
            .map(|(_, raw)| as_a_player_shows(raw))
            .collect()
    };
    // A UTF-8 mount carries the titles as they are.
    assert_eq!(shown(&utf8), ["Café Été", "Łódź Nocą"], "{utf8:?}");
    // By default Icecast 2.4 sends Latin-1: Latin-1 letters arrive intact,
    // the others as HTML entities, which players show literally. Nothing
    // is lost (the entities decode to the title), but a listener sees them.
    assert_eq!(
        shown(&latin1),
        ["Café Été", "&#321;ód&#378; Noc&#261;"],
        "{latin1:?}"
    );
    assert_eq!(decode_entities(&shown(&latin1)[1]), "Łódź Nocą");
    assert_eq!(latin1.titles[0].1, b"Caf\xe9 \xc9t\xe9", "Latin-1 bytes");
    // The status page of the server says the same per mount.
    assert_eq!(
        status_titles,
        (
            Some("&#321;ód&#378; Noc&#261;".to_string()),
            Some("Łódź Nocą".to_string())
        )
    );
    // The new title reaches listeners with the programme change.
    for heard in [&latin1, &utf8] {
        let (at, _) = &heard.titles[1];
        let after = at.saturating_duration_since(change);
        let before = change.saturating_duration_since(*at);
        assert!(
            before < Duration::from_millis(500) && after < Duration::from_secs(3),
            "title change {after:?} after / {before:?} before 01:00: {heard:?}"
        );
    }
}

/// Accepts connections and never answers or reads: a server that hangs.
fn stalled_server() -> (
    u16,
    std::thread::JoinHandle<()>,
    std::sync::mpsc::Sender<()>,
) {
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    server.set_nonblocking(true).unwrap();
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let mut held = Vec::new();
        while stopped.try_recv().is_err() {
            if let Ok((socket, _)) = server.accept() {
                held.push(socket);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    (port, thread, stop)
}

/// Seconds of the first tone before the second in what a listener heard.
fn change_at(heard: &[(What, f64)]) -> Option<f64> {
    let news = heard.iter().position(|(w, _)| *w == What::Tone(NEWS))?;
    Some(heard[..news].iter().map(|(_, t)| t).sum())
}

#[test]
fn two_mounts_share_one_encoder_and_a_hung_server_delays_neither() {
    let icecast = Icecast::start("shared");
    let (hung, hung_thread, release) = stalled_server();
    let mut s = Station::new("icecast-shared");
    s.sample_rate_hz(RATE)
        .clock("2026-03-02 00:59:50", 1.0)
        .output(&stream_output(
            icecast.port,
            SOURCE_PASSWORD,
            "/one.mp3",
            "",
        ))
        // Bad input: a server that takes the connection and never answers.
        .output(&stream_output(hung, SOURCE_PASSWORD, "/hung.mp3", ""))
        .output(&stream_output(
            icecast.port,
            SOURCE_PASSWORD,
            "/two.mp3",
            "",
        ))
        .output(
            &stream_output(icecast.port, SOURCE_PASSWORD, "/low.mp3", "")
                .replace("bitrate = 128", "bitrate = 64"),
        );
    s.programme("2026-03-02 00:59", "morning", CAFE, 70.0, "wav");
    s.programme("2026-03-02 01:00", "news", NEWS, 40.0, "wav");
    s.start();
    let up = icecast.wait_for(Duration::from_secs(3), |i| {
        i.mount("/one.mp3").is_some() && i.mount("/two.mp3").is_some()
    });
    assert!(up.is_some(), "the streams never reached the server");
    s.wait_until(s.local("2026-03-02 00:59:56"));
    let one = Listener::start(&icecast.listen_url("/one.mp3"), RATE);
    let two = Listener::start(&icecast.listen_url("/two.mp3"), RATE);
    s.wait_until(s.local("2026-03-02 01:00:04"));
    let (one, two) = (heard(&one.stop()), heard(&two.stop()));
    let status = http::get(&s.web_address(), "/api/status").json();
    s.terminate();
    let _ = release.send(());
    hung_thread.join().unwrap();

    // Both listeners hear the timeline, and the change at the same moment:
    // neither mount waits for the other or for the hung server.
    for heard in [&one, &two] {
        let tones: Vec<What> = heard.iter().map(|(w, _)| *w).collect();
        assert_eq!(tones, [What::Tone(CAFE), What::Tone(NEWS)], "{heard:?}");
        assert!(heard[0].1 > 2.5 && heard[1].1 > 2.5, "{heard:?}");
    }
    let (a, b) = (change_at(&one).unwrap(), change_at(&two).unwrap());
    assert!(
        (a - b).abs() < 0.3,
        "one heard 01:00 at {a} s, two at {b} s"
    );

    let streams: Vec<serde_json::Value> = status["outputs"]
        .as_array()
        .map(|o| o.iter().map(|o| o["stream"].clone()).collect())
        .unwrap_or_default();
    let [_, one, hung, two, low] = streams.as_slice() else {
        panic!("expected the wav output and four streams: {status}");
    };
    // One encoder for the three 128 kbit/s streams, another for 64 kbit/s.
    for stream in [one, hung, two] {
        assert_eq!(stream["encoder"], "MP3 128 kbit/s CBR 44100 Hz", "{stream}");
        assert_eq!(stream["encoder_shared_by"], 3, "{stream}");
    }
    assert_eq!(low["encoder"], "MP3 64 kbit/s CBR 44100 Hz", "{low}");
    assert_eq!(low["encoder_shared_by"], 1, "{low}");
    for stream in [one, two, low] {
        assert_eq!(stream["state"], "connected", "{stream}");
        assert_eq!(stream["reconnects"], 0, "{stream}");
        assert_eq!(stream["frames_dropped_oldest"], 0, "{stream}");
        assert!(
            stream["bytes_sent"].as_u64().unwrap_or(0) > 100_000 / 2,
            "{stream}"
        );
    }
    // The hung server is given up on after the connect timeout, and retried.
    assert_eq!(hung["state"], "retrying", "{hung}");
    assert!(
        hung["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no answer")),
        "{hung}"
    );
    assert_eq!(hung["bytes_sent"], 0, "{hung}");
    assert!(hung["frames_discarded"].as_u64().unwrap_or(0) > 0, "{hung}");
}
