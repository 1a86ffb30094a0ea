use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;

use super::listener::{Ears, listen_once, measure};
use super::*;
use crate::engine::meters::SILENCE_THRESHOLD;
use symphonia::core::formats::probe::Hint;

/// The stream as the listening thread would note it, at one moment.
#[derive(Clone)]
struct World {
    attempt: Attempt,
    last_audio: Option<Duration>,
    connected_at: Option<Duration>,
    quiet_since: Option<Duration>,
    engine_playing: bool,
}

/// Runs a judge from 0 to `until` seconds, looking every 250 ms as the
/// judge's thread does, with the world `at` describes at each moment
/// (times after the start). Returns each change: when, and the verdict.
fn judge(until: f64, at: impl Fn(Duration) -> World) -> Vec<(f64, Verdict)> {
    let start = Instant::now();
    let mut judge = Judge::new(start);
    let mut changes = Vec::new();
    let mut t = Duration::ZERO;
    while t.as_secs_f64() <= until {
        let world = at(t);
        let seen = Observation {
            now: start + t,
            attempt: &world.attempt,
            last_audio: world.last_audio.map(|d| start + d),
            connected_at: world.connected_at.map(|d| start + d),
            quiet_since: world.quiet_since.map(|d| start + d),
            engine_playing: world.engine_playing,
        };
        if judge.observe(&seen) {
            changes.push((t.as_secs_f64(), judge.verdict().clone()));
        }
        t += LOOK_EVERY;
    }
    changes
}

/// When the connection the world describes was made (at the start);
/// `None` where no connection was ever made.
const CONNECTED: Option<Duration> = Some(Duration::ZERO);

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// A stream carrying programme: audio every 26 ms, audible.
fn playing(t: Duration) -> World {
    World {
        attempt: Attempt::Listening,
        connected_at: CONNECTED,
        last_audio: Some(t),
        quiet_since: Some(t),
        engine_playing: true,
    }
}

fn names(changes: &[(f64, Verdict)]) -> Vec<(f64, ListenAlarm)> {
    changes.iter().map(|(t, v)| (*t, v.state())).collect()
}

#[test]
fn nothing_is_missing_before_the_stream_could_be_up() {
    // Bad input: a mount that is never there (HTTP 404 at every try).
    let absent = Attempt::Absent("no stream at /live.mp3 (HTTP 404)".to_string());
    let changes = judge(20.0, |_| World {
        attempt: absent.clone(),
        connected_at: None,
        last_audio: None,
        quiet_since: None,
        engine_playing: true,
    });
    assert_eq!(
        names(&changes),
        [(STARTUP_GRACE.as_secs_f64(), ListenAlarm::Absent)]
    );
    assert_eq!(
        changes[0].1.reason(),
        Some("no stream at /live.mp3 (HTTP 404)")
    );
}

#[test]
fn a_stream_that_comes_up_late_in_the_grace_is_ok_without_an_alarm() {
    let changes = judge(12.0, |t| {
        if t < secs(3.0) {
            World {
                attempt: Attempt::Absent("refused".into()),
                connected_at: None,
                last_audio: None,
                quiet_since: None,
                engine_playing: true,
            }
        } else {
            playing(t)
        }
    });
    assert_eq!(names(&changes), [(3.0, ListenAlarm::Ok)]);
}

#[test]
fn no_audio_for_five_seconds_is_an_alarm_that_clears_when_audio_is_back() {
    // Bad input: the server killed at 10 s (the connection is refused
    // from then on), back at 30 s.
    let changes = judge(40.0, |t| {
        if t < secs(10.0) || t >= secs(30.0) {
            playing(t)
        } else {
            World {
                attempt: Attempt::Absent("nothing answers: refused".into()),
                connected_at: CONNECTED,
                last_audio: Some(secs(10.0)),
                quiet_since: Some(secs(10.0)),
                engine_playing: true,
            }
        }
    });
    assert_eq!(
        names(&changes),
        [
            (0.0, ListenAlarm::Ok),
            (15.0, ListenAlarm::Absent),
            (30.0, ListenAlarm::Ok)
        ]
    );
    assert_eq!(changes[1].1.reason(), Some("nothing answers: refused"));
}

#[test]
fn a_read_that_hangs_is_no_data_though_the_connection_looks_fine() {
    // Bad input: a server that stops sending at 4 s and never closes:
    // the listening thread is stuck in its read and reports nothing new.
    let changes = judge(12.0, |t| {
        if t < secs(4.0) {
            playing(t)
        } else {
            World {
                attempt: Attempt::Listening,
                connected_at: CONNECTED,
                last_audio: Some(secs(4.0)),
                quiet_since: Some(secs(4.0)),
                engine_playing: true,
            }
        }
    });
    assert_eq!(
        names(&changes),
        [(0.0, ListenAlarm::Ok), (9.0, ListenAlarm::NoData)]
    );
    let reason = changes[1].1.reason().unwrap_or_default();
    assert!(reason.starts_with("connected, but no audio"), "{reason}");
    // Nothing is said to be silent: no audio is not silence.
    assert!(
        !changes
            .iter()
            .any(|(_, v)| v.state() == ListenAlarm::Silent)
    );
}

#[test]
fn a_silent_stream_under_playing_programme_is_an_alarm_until_sound_returns() {
    // Bad input: from 5 s the stream carries silence while the engine
    // plays; sound is back at 25 s.
    let changes = judge(30.0, |t| {
        if t < secs(5.0) || t >= secs(25.0) {
            playing(t)
        } else {
            World {
                attempt: Attempt::Listening,
                connected_at: CONNECTED,
                last_audio: Some(t),
                quiet_since: Some(secs(5.0)),
                engine_playing: true,
            }
        }
    });
    assert_eq!(
        names(&changes),
        [
            (0.0, ListenAlarm::Ok),
            (15.0, ListenAlarm::Silent),
            (25.0, ListenAlarm::Ok)
        ]
    );
    assert!(changes[1].1.is_alarm());
}

#[test]
fn silence_on_air_is_not_the_streams_fault() {
    // The programme goes quiet at 5 s for a minute; the stream follows
    // 2 s later (its lag behind the engine), then both play again.
    let changes = judge(80.0, |t| {
        let engine_playing = t < secs(5.0) || t >= secs(65.0);
        let stream_audible = t < secs(7.0) || t >= secs(67.0);
        World {
            attempt: Attempt::Listening,
            connected_at: CONNECTED,
            last_audio: Some(t),
            quiet_since: Some(if stream_audible { t } else { secs(7.0) }),
            engine_playing,
        }
    });
    assert_eq!(names(&changes), [(0.0, ListenAlarm::Ok)]);
}

#[test]
fn a_new_connection_starts_the_quiet_stretch_again() {
    // Quiet from 0 s while the engine plays; a reconnection at 8 s:
    // 10 s of programme must go by after it before the alarm.
    let changes = judge(20.0, |t| World {
        attempt: Attempt::Listening,
        connected_at: Some(if t < secs(8.0) {
            Duration::ZERO
        } else {
            secs(8.0)
        }),
        last_audio: Some(t),
        quiet_since: Some(if t < secs(8.0) {
            Duration::ZERO
        } else {
            secs(8.0)
        }),
        engine_playing: true,
    });
    assert_eq!(
        names(&changes),
        [(0.0, ListenAlarm::Ok), (18.0, ListenAlarm::Silent)]
    );
}

#[test]
fn a_new_connection_has_time_to_bring_audio_before_it_is_judged() {
    // The server is gone from 5 s; at 20 s the listening thread gets a
    // connection again. On the left the audio follows 1.5 s later; on
    // the right (bad input) it never does.
    let outage = |t: Duration, audio_after: Option<f64>| {
        if t < secs(5.0) {
            return playing(t);
        }
        let connected = t >= secs(20.0);
        let back = audio_after.filter(|after| t >= secs(20.0 + after));
        World {
            attempt: if connected {
                Attempt::Listening
            } else {
                Attempt::Absent("refused".into())
            },
            connected_at: Some(if connected {
                secs(20.0)
            } else {
                Duration::ZERO
            }),
            last_audio: Some(if back.is_some() { t } else { secs(5.0) }),
            quiet_since: Some(if back.is_some() { t } else { secs(5.0) }),
            engine_playing: true,
        }
    };
    let back = judge(30.0, |t| outage(t, Some(1.5)));
    assert_eq!(
        names(&back),
        [
            (0.0, ListenAlarm::Ok),
            (10.0, ListenAlarm::Absent),
            (21.5, ListenAlarm::Ok)
        ]
    );
    let hung = judge(30.0, |t| outage(t, None));
    assert_eq!(
        names(&hung),
        [
            (0.0, ListenAlarm::Ok),
            (10.0, ListenAlarm::Absent),
            (25.0, ListenAlarm::NoData)
        ]
    );
}

#[test]
fn an_alarm_keeps_its_start_when_only_its_reason_changes() {
    let link = ListenLink {
        output: 1,
        url: "http://127.0.0.1:8000/live.mp3".into(),
        state: Mutex::new(ListenState {
            state: ListenAlarm::Starting,
            reason: None,
            since: DateTime::<Utc>::MIN_UTC,
            url: "http://127.0.0.1:8000/live.mp3".into(),
        }),
    };
    let at = |s: i64| DateTime::<Utc>::UNIX_EPOCH + chrono::TimeDelta::seconds(s);
    link.set(&Verdict::Absent("refused".into()), at(10));
    link.set(&Verdict::Absent("HTTP 404".into()), at(12));
    let state = link.state();
    assert_eq!(
        (state.state, state.reason.as_deref(), state.since),
        (ListenAlarm::Absent, Some("HTTP 404"), at(10))
    );
    link.set(&Verdict::Ok, at(14));
    let state = link.state();
    assert_eq!(
        (state.state, state.reason.clone(), state.since),
        (ListenAlarm::Ok, None, at(14))
    );
    // As the status shows it.
    let json = serde_json::to_value(&state).unwrap();
    assert_eq!(json["state"], "ok");
    assert!(json.get("reason").is_none(), "{json}");
    link.set(&Verdict::NoData("no audio".into()), at(20));
    let json = serde_json::to_value(link.state()).unwrap();
    assert_eq!(json["state"], "no_data");
    assert_eq!(json["reason"], "no audio");
    assert_eq!(json["url"], "http://127.0.0.1:8000/live.mp3");
}

/// `seconds` of audio made by ffmpeg (a lavfi expression of `t`), as MP3.
fn mp3(expression: &str, seconds: f64) -> Vec<u8> {
    let output = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-f", "lavfi", "-i"])
        // The same on both channels.
        .arg(format!(
            "aevalsrc={expression}|{expression}:s=44100:d={seconds}"
        ))
        .args(["-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3", "pipe:1"])
        .output()
        .expect("ffmpeg runs");
    assert!(output.status.success(), "{output:?}");
    output.stdout
}

#[test]
fn the_level_of_an_mp3_stream_is_measured_piece_by_piece() {
    // Two seconds of a −6 dBFS tone, then two of digital silence.
    let bytes = mp3("if(lt(t\\,2)\\,0.5*sin(2*PI*440*t)\\,0)", 4.0);
    let mut hint = Hint::new();
    hint.mime_type("audio/mpeg");
    let mut peaks = Vec::new();
    let stop = AtomicBool::new(false);
    let ended = measure(std::io::Cursor::new(bytes), &hint, &stop, |p| peaks.push(p));
    assert_eq!(ended, Attempt::Failed("the server ended the stream".into()));
    // 1152 frames a piece: about 153 pieces in 4 s.
    assert!((140..=160).contains(&peaks.len()), "{}", peaks.len());
    let audible: Vec<bool> = peaks.iter().map(|&p| p >= SILENCE_THRESHOLD).collect();
    let first_quiet = audible.iter().position(|a| !a).unwrap_or(peaks.len());
    assert!((70..=80).contains(&first_quiet), "{first_quiet}: {peaks:?}");
    assert!(audible[first_quiet..].iter().all(|a| !a), "{peaks:?}");
    let loudest = peaks.iter().fold(0.0f32, |m, p| m.max(*p));
    assert!((0.45..0.6).contains(&loudest), "{loudest}");
}

#[test]
fn what_is_not_audio_is_said_so() {
    // Bad input: an HTML page where the stream should be.
    let page = b"<html><body>Stream offline</body></html>".repeat(200);
    let stop = AtomicBool::new(false);
    let ended = measure(std::io::Cursor::new(page), &Hint::new(), &stop, |_| {
        panic!("a web page decoded as audio")
    });
    let Attempt::Failed(why) = ended else {
        panic!("{ended:?}");
    };
    assert!(
        why.starts_with("what the server sends is not audio the box can decode"),
        "{why}"
    );
}

/// A one-shot HTTP server: answers the first request with `answer`.
fn serve(answer: Vec<u8>) -> String {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = server.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut socket, _)) = server.accept() {
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request);
            let _ = socket.write_all(&answer);
        }
    });
    format!("http://{address}/live.mp3")
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .new_agent()
}

#[test]
fn a_missing_mount_and_a_refused_connection_are_absent_other_answers_are_not() {
    let stop = AtomicBool::new(false);
    let ears = Ears::new(Instant::now(), Arc::default());
    // Bad input: Icecast's answer for a mount without a source.
    let url = serve(b"HTTP/1.0 404 File Not Found\r\nContent-Length: 0\r\n\r\n".to_vec());
    let Attempt::Absent(why) = listen_once(&agent(), &url, &ears, &stop) else {
        panic!("404 is not absent");
    };
    assert!(why.contains("HTTP 404") && why.contains(&url), "{why}");

    // Bad input: a port nobody listens on.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{closed}/live.mp3");
    let Attempt::Absent(why) = listen_once(&agent(), &url, &ears, &stop) else {
        panic!("a refused connection is not absent");
    };
    assert!(why.contains("refused"), "{why}");

    // Bad input: a server that is full.
    let url = serve(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n".to_vec());
    let Attempt::Failed(why) = listen_once(&agent(), &url, &ears, &stop) else {
        panic!("503 is not a failure");
    };
    assert!(why.contains("HTTP 503"), "{why}");
    assert_eq!(ears.time(&ears.last_audio), None, "no audio was heard");
}

#[test]
fn a_stream_that_answers_is_heard_and_its_quiet_stretch_noted() {
    // A second of tone, then three of silence, then the server hangs up.
    let mut answer = b"HTTP/1.0 200 OK\r\nContent-Type: audio/mpeg\r\n\r\n".to_vec();
    answer.extend(mp3("if(lt(t\\,1)\\,0.5*sin(2*PI*440*t)\\,0)", 4.0));
    let url = serve(answer);
    let ears = Ears::new(Instant::now(), Arc::default());
    let stop = AtomicBool::new(false);
    let before = Instant::now();
    let ended = listen_once(&agent(), &url, &ears, &stop);
    assert_eq!(ended, Attempt::Failed("the server ended the stream".into()));
    let last_audio = ears.time(&ears.last_audio).expect("audio was heard");
    let quiet_since = ears.time(&ears.quiet_since).expect("a quiet stretch");
    assert!(before <= quiet_since && quiet_since <= last_audio);
    // Decoding runs faster than real time, so the times are close; the
    // tone moved the quiet stretch on past the connection.
    assert!(last_audio.duration_since(before) < Duration::from_secs(2));
}

/// Runs a judge as its thread does now: it looks when its next decision is
/// due, or at once when the listening thread has news (the attempt changed,
/// the stream went quiet or audible, audio came back after a second or
/// more without). The world is sampled every 250 ms. Returns each change
/// and how many looks it took.
fn sleepy_judge(until: f64, at: impl Fn(Duration) -> World) -> (Vec<(f64, Verdict)>, usize) {
    let start = Instant::now();
    let mut judge = Judge::new(start);
    let (mut changes, mut looks) = (Vec::new(), 0);
    let quiet = |w: &World| w.last_audio.is_some() && w.quiet_since < w.last_audio;
    let mut due = start;
    let mut before: Option<World> = None;
    let mut t = Duration::ZERO;
    while t.as_secs_f64() <= until {
        let world = at(t);
        let news = before.as_ref().is_none_or(|b| {
            b.attempt != world.attempt
                || quiet(b) != quiet(&world)
                || world.last_audio.is_some_and(|now| {
                    b.last_audio
                        .is_none_or(|then| now >= then + Duration::from_secs(1))
                })
        });
        before = Some(world.clone());
        if news || start + t >= due {
            looks += 1;
            let seen = Observation {
                now: start + t,
                attempt: &world.attempt,
                last_audio: world.last_audio.map(|d| start + d),
                connected_at: world.connected_at.map(|d| start + d),
                quiet_since: world.quiet_since.map(|d| start + d),
                engine_playing: world.engine_playing,
            };
            if judge.observe(&seen) {
                changes.push((t.as_secs_f64(), judge.verdict().clone()));
            }
            due = judge.next_look(&seen, quiet(&world));
            assert!(due > start + t, "a look due at once at {t:?}");
        }
        t += LOOK_EVERY;
    }
    (changes, looks)
}

/// The same verdicts in the same order, each at most one look later.
fn same_decisions(sleepy: &[(f64, Verdict)], every_look: &[(f64, Verdict)]) {
    let states = |c: &[(f64, Verdict)]| c.iter().map(|(_, v)| v.state()).collect::<Vec<_>>();
    assert_eq!(states(sleepy), states(every_look), "{sleepy:?}");
    for ((late, _), (due, _)) in sleepy.iter().zip(every_look) {
        assert!(
            (*due..=due + LOOK_EVERY.as_secs_f64()).contains(late),
            "{sleepy:?} against {every_look:?}"
        );
    }
}

#[test]
fn the_judge_sleeps_through_a_healthy_stream_and_decides_as_often_as_it_must() {
    // Audio arrives in gulps four times a second, audible: nothing is due
    // but the no-audio deadline, and that moves on with every gulp.
    let (changes, looks) = sleepy_judge(60.0, playing);
    assert_eq!(names(&changes), [(0.0, ListenAlarm::Ok)]);
    assert!(looks <= 60 / 5 + 2, "{looks} looks in 60 s");

    // The same decisions, at the same times, as a judge looking 4 times
    // a second: silence under programme from 5 s, sound back at 25 s...
    let silent = |t: Duration| {
        if t < secs(5.0) || t >= secs(25.0) {
            playing(t)
        } else {
            World {
                quiet_since: Some(secs(5.0)),
                ..playing(t)
            }
        }
    };
    let (changes, _) = sleepy_judge(30.0, silent);
    same_decisions(&changes, &judge(30.0, silent));

    // ...and a stream that stops at 10 s and is back at 20 s.
    let gap = |t: Duration| {
        if t < secs(10.0) || t >= secs(20.0) {
            playing(t)
        } else {
            World {
                attempt: Attempt::Failed("the stream broke off".to_string()),
                ..playing(secs(10.0))
            }
        }
    };
    let (changes, _) = sleepy_judge(30.0, gap);
    same_decisions(&changes, &judge(30.0, gap));
    assert_eq!(names(&changes)[1], (15.0, ListenAlarm::NoData));
}
