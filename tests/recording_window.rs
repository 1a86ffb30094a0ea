//! The recorder in the running box: a partner's stream (ffmpeg sending a
//! tone as MP3 to a real icecast2 on loopback) recorded in a one-minute
//! window of the station's wall clock; the status says what the channel
//! does before, during and after the window; at the window's end its cut,
//! a copy to a "share" and a hook are queued and run, and the cut holds
//! the window's minute of the partner's tone. Bad input tried: a second
//! channel whose address answers nothing (it reconnects, named in the
//! status, and neither playout nor the first channel is disturbed). And
//! playout's WAV output has no gap while three channels record.

use crate::common;
use crate::common::icecast as server;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::tone::write_tones;
use common::*;
use server::{Icecast, SOURCE_PASSWORD, free_port};

fn recording<'a>(status: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    status["recordings"]
        .as_array()
        .and_then(|all| all.iter().find(|r| r["name"] == name))
        .unwrap_or_else(|| panic!("no recording {name:?} in {status}"))
}

/// ffmpeg sending a 1 kHz tone of `seconds` as MP3 in real time to the
/// server's `/partner.mp3`.
fn send_partner(server: &Icecast, wav: &std::path::Path, seconds: f64) -> std::process::Child {
    write_tones(wav, &[(1000, seconds)], 44_100, 2);
    Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-re", "-i"])
        .arg(wav)
        .args(["-c:a", "libmp3lame", "-b:a", "128k"])
        .args(["-content_type", "audio/mpeg", "-f", "mp3"])
        .arg(format!(
            "icecast://source:{SOURCE_PASSWORD}@127.0.0.1:{}/partner.mp3",
            server.port
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg")
}

fn jobs(s: &Station) -> Vec<serde_json::Value> {
    let config = s.config_path().display().to_string();
    let out = onair(&["job", "list", "--json", "--config", config.as_str()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("onair job list --json prints JSON")
}

#[test]
fn a_window_records_the_partner_and_its_end_cuts_copies_and_hands_it_on() {
    let server = Icecast::start("recording-window");
    let mut s = Station::new("recording-window");
    // Monday 2 March 2026, London (UTC in March), in real time.
    s.clock("2026-03-02 05:59:30", 1.0);
    s.filler(440, 300.0);
    let dir = s.dir().to_path_buf();
    let (share, cuts) = (dir.join("share"), dir.join("cuts"));
    std::fs::create_dir_all(&share).unwrap();
    std::fs::create_dir_all(&cuts).unwrap();
    let hook = dir.join("hook.sh");
    let handed = dir.join("handed.txt");
    std::fs::write(
        &hook,
        format!("#!/bin/sh\necho \"$1\" >> {}\n", handed.display()),
    )
    .unwrap();
    let mut mode = std::fs::metadata(&hook).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut mode, 0o755);
    std::fs::set_permissions(&hook, mode).unwrap();
    let nowhere = free_port();
    s.section("[archive]\ndir = \"archive\"\nchannel = \"fm\"\nsegment_seconds = 3\n");
    s.section(&format!(
        "[[jobs.hook]]\nname = \"publish\"\nprogram = \"{}\"\n",
        hook.display()
    ));
    s.section(&format!(
        "[recorder]\n\
         [[recorder.channel]]\nname = \"partner\"\nurl = \"http://127.0.0.1:{}/partner.mp3\"\n\
         category = \"partners\"\nrecord = \"Mon 06:00-06:01\"\ncut_to = \"{}\"\n\
         copy_to = \"{}\"\nhook = \"publish\"\n\
         [[recorder.channel]]\nname = \"gone\"\nurl = \"http://127.0.0.1:{nowhere}/gone.mp3\"\n",
        server.port,
        cuts.display(),
        share.display()
    ));

    // The partner: a 1 kHz tone, sent as MP3 in real time.
    let mut sender = send_partner(&server, &dir.join("partner.wav"), 120.0);

    s.start();
    s.wait_until(s.local("2026-03-02 05:59:40"));
    let before = s.status_json();
    let partner = recording(&before, "partner");
    assert_eq!(partner["state"], "stopped", "{partner}");
    assert_eq!(partner["next"], "2026-03-02T06:00:00Z", "{partner}");
    // Within the pre-roll the channel is already connected, so that the
    // window's first second is recorded; its window is still to come.
    s.wait_until(s.local("2026-03-02 05:59:57"));
    let before = s.status_json();
    let partner = recording(&before, "partner");
    assert_eq!(partner["state"], "recording", "{partner}");
    assert_eq!(partner["next"], "2026-03-02T06:00:00Z", "{partner}");
    assert_eq!(partner["records"], "Mon 06:00-06:01");
    // The channel without a window records always; its server is not there.
    let gone = recording(&before, "gone");
    assert_eq!(gone["records"], "always");

    s.wait_until(s.local("2026-03-02 06:00:20"));
    let during = s.status_json();
    let partner = recording(&during, "partner");
    assert_eq!(partner["state"], "recording", "{partner}");
    assert_eq!(partner["until"], "2026-03-02T06:01:00Z", "{partner}");
    assert!(partner["bytes"].as_u64().unwrap() > 0, "{partner}");
    let gone = recording(&during, "gone");
    assert_eq!(gone["state"], "reconnecting", "{gone}");
    assert!(
        gone["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("127.0.0.1"),
        "{gone}"
    );

    // /metrics carries both channels' states and what the partner kept.
    let metrics = ureq::get(&format!("http://{}/metrics", s.web_address()))
        .call()
        .expect("/metrics answers")
        .body_mut()
        .read_to_string()
        .unwrap();
    for line in [
        "onair_recording_state{channel=\"partner\",category=\"partners\",state=\"recording\"} 1",
        "onair_recording_state{channel=\"gone\",category=\"other\",state=\"reconnecting\"} 1",
    ] {
        assert!(metrics.contains(line), "no {line} in:\n{metrics}");
    }
    let kept = metrics
        .lines()
        .find(|l| l.starts_with("onair_recording_bytes_total{channel=\"partner\""))
        .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no bytes for the partner in:\n{metrics}"));
    assert!(kept > 0, "{metrics}");

    // The status page shows both, in words.
    let page = page::browse(s.dir(), &format!("http://{}/", s.web_address()), 2500);
    let row = |name: &str| -> Vec<String> {
        let tr = scraper::Selector::parse("#recordings tr").unwrap();
        let td = scraper::Selector::parse("td").unwrap();
        page.select(&tr)
            .map(|r| {
                r.select(&td)
                    .map(|c| page::tidy(c.text().collect()))
                    .collect::<Vec<_>>()
            })
            .find(|cells| cells.first().map(String::as_str) == Some(name))
            .unwrap_or_else(|| panic!("no row for {name} on the page"))
    };
    let partner = row("partner");
    assert_eq!(
        partner[1..3],
        ["partners", "Mon 06:00-06:01"],
        "{partner:?}"
    );
    // Recording since the pre-roll, 10 s before the window.
    assert!(
        partner[3].starts_with("recording since 05:59:5") && partner[3].ends_with("until 06:01:00"),
        "{partner:?}"
    );
    let gone = row("gone");
    assert!(gone[3].starts_with("reconnecting: "), "{gone:?}");

    // The post-roll over, the channel stops.
    s.wait_until(s.local("2026-03-02 06:01:08"));
    let after = s.status_json();
    let partner = recording(&after, "partner");
    assert_eq!(partner["state"], "stopped", "{partner}");
    assert_eq!(partner["next"], "2026-03-09T06:00:00Z", "{partner}");

    // The window's jobs: cut, copy, hook, in the recorder queue, in order.
    let mut listed = Vec::new();
    for _ in 0..100 {
        listed = jobs(&s);
        if listed.len() == 3 && listed.iter().all(|j| j["status"]["state"] == "done") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let kinds: Vec<&str> = listed
        .iter()
        .map(|j| j["work"]["kind"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["cut", "copy", "hook"], "{listed:#?}");
    assert!(
        listed
            .iter()
            .all(|j| j["queue"] == "recorder" && j["status"]["state"] == "done"),
        "{listed:#?}"
    );
    let cut = cuts.join("partner-2026-03-02_0600.mp3");
    let copied = share.join("partner-2026-03-02_0600.mp3");
    assert!(cut.is_file() && copied.is_file(), "{listed:#?}");
    assert_eq!(
        std::fs::read_to_string(&handed).unwrap().trim(),
        copied.display().to_string()
    );
    // The cut is exactly the window's minute of the partner: no hole at
    // its start (the recorder connected in the pre-roll) nor at its end
    // (it stopped after the post-roll), whole frames (26 ms) either side
    // at most; and it is the partner's tone.
    assert_eq!(
        listed[0]["work"]["from"], "2026-03-02T06:00:00Z",
        "{listed:#?}"
    );
    assert_eq!(
        listed[0]["work"]["to"], "2026-03-02T06:01:00Z",
        "{listed:#?}"
    );
    let seconds = tone::duration(&cut);
    assert!(
        (59.97..=60.06).contains(&seconds),
        "the cut lasts {seconds} s, not the window's 60 s"
    );
    let heard = tone::decode(&cut, 16_000);
    let runs = goertzel::runs_of(&heard, 16_000, chrono::DateTime::UNIX_EPOCH, &[440, 1000]);
    assert!(
        runs.iter()
            .any(|r| r.what == What::Tone(1000) && r.duration().num_seconds() > 45),
        "{runs:?}"
    );
    // Playout aired its filler throughout.
    assert!(
        s.log_json().entries.iter().all(|e| e.kind == Kind::Filler),
        "only filler was scheduled"
    );
    let _ = sender.kill();
    let _ = sender.wait();
    s.terminate();
}

#[test]
fn playout_has_no_gap_while_three_channels_record() {
    let server = Icecast::start("three-channels");
    let mut s = Station::new("three-channels");
    s.clock("2026-03-02 00:59:55", 1.0);
    s.programme("2026-03-02 01:00", "morning", 700, 40.0, "wav");
    let dir = s.dir().to_path_buf();
    s.section("[archive]\ndir = \"archive\"\nchannel = \"fm\"\nsegment_seconds = 3\n");
    let url = format!("http://127.0.0.1:{}/partner.mp3", server.port);
    s.section(&format!(
        "[recorder]\n\
         [[recorder.channel]]\nname = \"one\"\nurl = \"{url}\"\n\
         [[recorder.channel]]\nname = \"two\"\nurl = \"{url}\"\n\
         [[recorder.channel]]\nname = \"three\"\nurl = \"{url}\"\n"
    ));
    let mut sender = send_partner(&server, &dir.join("partner.wav"), 90.0);

    s.start();
    s.wait_until(s.local("2026-03-02 01:00:30"));
    let during = s.status_json();
    for name in ["one", "two", "three"] {
        let channel = recording(&during, name);
        assert_eq!(channel["state"], "recording", "{channel}");
        assert!(channel["bytes"].as_u64().unwrap() > 0, "{channel}");
    }
    s.wait_until(s.local("2026-03-02 01:00:45"));
    s.terminate();
    let _ = sender.kill();
    let _ = sender.wait();

    // The programme aired whole and on time, without a gap, beside them.
    let runs = s.runs(&s.aired());
    let start = s.local("2026-03-02 01:00");
    expect_run(&runs, 700, start, start + secs(40), ms(20));
    let underruns: u64 = during["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["frames_underrun"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(underruns, 0, "{during}");
    // Each channel kept its own segments of the partner.
    for name in ["one", "two", "three"] {
        let hour = dir
            .join("archive")
            .join(name)
            .join("source")
            .join("2026-03-02T01");
        let segments = std::fs::read_dir(&hour)
            .unwrap_or_else(|e| panic!("{}: {e}", hour.display()))
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".mp3"))
            })
            .count();
        assert!(segments >= 5, "{name}: {segments} segments");
    }
}
