//! The listener's-eye check: the box listens to its own public stream as a
//! listener would and raises an alarm when listeners would hear nothing —
//! the mount is not there, no audio arrives, or the stream is silent while
//! the engine plays programme. A stream output can be connected, sending and
//! counting bytes while listeners hear nothing (a relay that lost its
//! source, a server sending the wrong mount, a stalled server): only
//! listening tells.
//!
//! Not an output: it takes nothing from the mixer. Each checked stream has
//! a thread that fetches the listen address over plain HTTP, decodes what
//! arrives (MP3, or any format symphonia reads) only to measure its level,
//! and notes in atomics when audio last arrived and since when it has been
//! quiet. One more thread judges every check a few times a second from
//! those notes, the engine's own meter and the time, so that a read that
//! hangs still shows as "no audio": the judge never waits on the network.
//!
//! The judging is a pure function of observations and time ([`Judge`]),
//! tested without a network.

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use symphonia::core::audio::{Audio, GenericAudioBufferRef};
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as MediaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSourceStream, ReadOnlySource};
use symphonia::core::meta::MetadataOptions;

use crate::clock::Clock;
use crate::config::ListenBack;
use crate::engine::meters::{Meters, SILENCE_THRESHOLD};

/// A stream from which no audio has arrived for this long is off for its
/// listeners. A live stream arrives in pieces of a fraction of a second and
/// a player's buffer holds a few seconds: after five, listeners hear the
/// gap, and the studio hears of it before a listener could phone in.
pub const NO_AUDIO_FOR: Duration = Duration::from_secs(5);

/// Programme the engine plays while the stream carries silence raises the
/// alarm once this much of it has gone by. Long against the stream's lag
/// behind the engine (encoder, server and this check's own buffer: a second
/// or two), so a programme that goes quiet is quiet in both before it
/// counts; a pause on air shows on the engine's meter too and never counts.
pub const SILENT_FOR: Duration = Duration::from_secs(10);

/// Nothing is judged missing this soon after the box starts: the stream
/// output has to reach its server first (its first retries come 0.5, 1
/// and 2 s apart) and this check has to find the mount after it.
pub const STARTUP_GRACE: Duration = Duration::from_secs(10);

/// The engine counts as playing programme while its output has been quiet
/// (below −60 dBFS) for less than this: pauses in speech are shorter.
const ENGINE_PAUSE: Duration = Duration::from_millis(500);

/// The wait before listening again after a failure, doubling up to the
/// cap: short, so a stream back from a server restart is heard again
/// within seconds; a mount that stays away costs one small request every
/// two seconds.
const FIRST_RETRY: Duration = Duration::from_millis(500);
const MAX_RETRY: Duration = Duration::from_secs(2);

/// A server that has not accepted the connection or sent its answer by
/// then is not answering.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the judge looks at every check.
const LOOK_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub enum ListenBackError {
    #[error(
        "cannot start the listen-back check{of}: {source}; the system is out of resources \
         (threads): free some, or set listen_url = \"\" on the stream outputs to run without it"
    )]
    Thread { of: String, source: std::io::Error },
}

/// How the latest attempt to listen went, as the listening thread reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// No attempt has finished yet.
    NotYet,
    /// Connected; reading what arrives.
    Listening,
    /// The server refuses the connection, or says there is no such mount.
    Absent(String),
    /// Any other failure: no answer, the stream ended, undecodable data.
    Failed(String),
}

/// What listeners would hear, as the judge sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Just started: the stream may not be up yet.
    Starting,
    /// Audio arrives, and it is not silence while the engine plays.
    Ok,
    Absent(String),
    NoData(String),
    Silent(String),
}

impl Verdict {
    pub fn is_alarm(&self) -> bool {
        matches!(
            self,
            Verdict::Absent(_) | Verdict::NoData(_) | Verdict::Silent(_)
        )
    }

    pub fn state(&self) -> ListenAlarm {
        match self {
            Verdict::Starting => ListenAlarm::Starting,
            Verdict::Ok => ListenAlarm::Ok,
            Verdict::Absent(_) => ListenAlarm::Absent,
            Verdict::NoData(_) => ListenAlarm::NoData,
            Verdict::Silent(_) => ListenAlarm::Silent,
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Verdict::Starting | Verdict::Ok => None,
            Verdict::Absent(r) | Verdict::NoData(r) | Verdict::Silent(r) => Some(r),
        }
    }
}

/// A verdict's name in the status (`listen.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListenAlarm {
    Starting,
    Ok,
    /// Mount absent: the server refuses connections or has no such mount.
    Absent,
    /// No audio arrives.
    NoData,
    /// The stream is silent while the engine plays programme.
    Silent,
}

impl ListenAlarm {
    /// In words, for warnings and logs.
    pub fn words(self) -> &'static str {
        match self {
            ListenAlarm::Starting => "starting",
            ListenAlarm::Ok => "ok",
            ListenAlarm::Absent => "mount absent",
            ListenAlarm::NoData => "no data",
            ListenAlarm::Silent => "silent",
        }
    }
}

/// One look at a stream: what the listening thread has noted, the engine's
/// meter, and the time (all real time).
#[derive(Debug, Clone)]
pub struct Observation<'a> {
    pub now: Instant,
    pub attempt: &'a Attempt,
    /// When decoded audio last arrived.
    pub last_audio: Option<Instant>,
    /// When the latest connection was made.
    pub connected_at: Option<Instant>,
    /// Since when what arrives has been below −60 dBFS: moved on by every
    /// audible piece and by every new connection.
    pub quiet_since: Option<Instant>,
    /// The engine's meter shows programme now.
    pub engine_playing: bool,
}

/// Turns observations into a verdict. Pure: the same observations at the
/// same times give the same verdicts.
#[derive(Debug, Clone)]
pub struct Judge {
    started: Instant,
    last_look: Option<Instant>,
    quiet_since: Option<Instant>,
    /// How long the engine has played programme while the stream was quiet
    /// (since `quiet_since`).
    engine_played: Duration,
    verdict: Verdict,
}

impl Judge {
    pub fn new(started: Instant) -> Self {
        Judge {
            started,
            last_look: None,
            quiet_since: None,
            engine_played: Duration::ZERO,
            verdict: Verdict::Starting,
        }
    }

    pub fn verdict(&self) -> &Verdict {
        &self.verdict
    }

    /// Takes one look; true when the verdict changed.
    pub fn observe(&mut self, seen: &Observation) -> bool {
        let since_last_look = self
            .last_look
            .map(|last| seen.now.saturating_duration_since(last))
            .unwrap_or_default();
        self.last_look = Some(seen.now);
        if seen.quiet_since != self.quiet_since {
            self.quiet_since = seen.quiet_since;
            self.engine_played = Duration::ZERO;
        } else if seen.engine_playing && self.quiet_since.is_some() {
            self.engine_played += since_last_look;
        }

        // A connection that has not brought audio yet is given the time
        // any stream gets before it is judged: until then, what was true
        // before it stays true (an alarm is not cleared by a connection,
        // nor raised against one that has only just been made).
        if let (Attempt::Listening, Some(connected)) = (seen.attempt, seen.connected_at)
            && seen.last_audio.is_none_or(|audio| audio < connected)
            && seen.now.saturating_duration_since(connected) < NO_AUDIO_FOR
        {
            return false;
        }
        let (waited, allowed) = match seen.last_audio {
            Some(at) => (seen.now.saturating_duration_since(at), NO_AUDIO_FOR),
            None => (
                seen.now.saturating_duration_since(self.started),
                STARTUP_GRACE,
            ),
        };
        let verdict = if waited >= allowed {
            let secs = allowed.as_secs();
            match seen.attempt {
                Attempt::Absent(why) => Verdict::Absent(why.clone()),
                Attempt::Failed(why) => {
                    Verdict::NoData(format!("no audio for more than {secs} s: {why}"))
                }
                Attempt::Listening | Attempt::NotYet => Verdict::NoData(format!(
                    "connected, but no audio has arrived for more than {secs} s"
                )),
            }
        } else if seen.last_audio.is_none() {
            Verdict::Starting
        } else if self.engine_played >= SILENT_FOR {
            Verdict::Silent(format!(
                "the stream has carried silence through more than {} s of programme",
                SILENT_FOR.as_secs()
            ))
        } else {
            Verdict::Ok
        };
        let changed = verdict != self.verdict;
        self.verdict = verdict;
        changed
    }
}

/// One check's state in the status (`outputs[].listen`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListenState {
    pub state: ListenAlarm,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Station time of the last change.
    pub since: DateTime<Utc>,
    pub url: String,
}

/// What one check shares with the rest of the box: which output it stands
/// in for and its current state (read by the status).
#[derive(Debug)]
pub struct ListenLink {
    /// The output (an index into the configured outputs) it listens to.
    pub output: usize,
    pub url: String,
    state: Mutex<ListenState>,
}

impl ListenLink {
    pub fn state(&self) -> ListenState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A new verdict; `since` moves only when the state does, not when
    /// an alarm's reason changes (refused, then no such mount).
    fn set(&self, verdict: &Verdict, now: DateTime<Utc>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.state != verdict.state() {
            state.since = now;
        }
        state.state = verdict.state();
        state.reason = verdict.reason().map(str::to_string);
    }
}

/// What the listening thread notes, read by the judge without waiting.
/// Times are milliseconds after `epoch`, plus one (0: never).
#[derive(Debug)]
struct Ears {
    epoch: Instant,
    last_audio: AtomicU64,
    quiet_since: AtomicU64,
    connected_at: AtomicU64,
    attempt: Mutex<Attempt>,
}

impl Ears {
    fn new(epoch: Instant) -> Self {
        Ears {
            epoch,
            last_audio: AtomicU64::new(0),
            quiet_since: AtomicU64::new(0),
            connected_at: AtomicU64::new(0),
            attempt: Mutex::new(Attempt::NotYet),
        }
    }

    fn stamp(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_millis() as u64 + 1
    }

    fn time(&self, stamp: &AtomicU64) -> Option<Instant> {
        match stamp.load(Ordering::Acquire) {
            0 => None,
            ms => Some(self.epoch + Duration::from_millis(ms - 1)),
        }
    }

    fn set_attempt(&self, attempt: Attempt) {
        *self.attempt.lock().unwrap_or_else(|e| e.into_inner()) = attempt;
    }

    fn attempt(&self) -> Attempt {
        self.attempt
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A new connection: the quiet stretch starts again from here.
    fn connected(&self, at: Instant) {
        self.quiet_since.store(self.stamp(at), Ordering::Release);
        self.connected_at.store(self.stamp(at), Ordering::Release);
        self.set_attempt(Attempt::Listening);
    }

    /// A piece of decoded audio arrived, audible or not.
    fn heard(&self, at: Instant, audible: bool) {
        let stamp = self.stamp(at);
        if audible {
            self.quiet_since.store(stamp, Ordering::Release);
        }
        self.last_audio.store(stamp, Ordering::Release);
    }
}

/// The running checks. Dropping it stops them as [`ListenBackChecks::stop`] does.
pub struct ListenBackChecks {
    links: Vec<Arc<ListenLink>>,
    stop: Arc<AtomicBool>,
    judge: Option<JoinHandle<()>>,
}

/// Starts one listening thread per check and the judge. `meters` and
/// `rate` are the engine's: its meter tells programme from silence on air.
pub fn start(
    checks: &[ListenBack],
    meters: Arc<Meters>,
    rate: u32,
    clock: Clock,
) -> Result<ListenBackChecks, ListenBackError> {
    let stop = Arc::new(AtomicBool::new(false));
    let epoch = Instant::now();
    let mut running = ListenBackChecks {
        links: Vec::with_capacity(checks.len()),
        stop: stop.clone(),
        judge: None,
    };
    if checks.is_empty() {
        return Ok(running);
    }
    let now = clock.now();
    let mut watched = Vec::with_capacity(checks.len());
    for check in checks {
        let link = Arc::new(ListenLink {
            output: check.output,
            url: check.url.clone(),
            state: Mutex::new(ListenState {
                state: ListenAlarm::Starting,
                reason: None,
                since: now,
                url: check.url.clone(),
            }),
        });
        let ears = Arc::new(Ears::new(epoch));
        let (url, thread_ears, thread_stop) = (check.url.clone(), ears.clone(), stop.clone());
        // Not joined at the end: a read may take up to NO_AUDIO_FOR to
        // give up, and the box need not wait for a check to stop.
        std::thread::Builder::new()
            .name("listen-back".to_string())
            .spawn(move || listen(&url, &thread_ears, &thread_stop))
            .map_err(|source| ListenBackError::Thread {
                of: format!(" of {}", check.url),
                source,
            })?;
        running.links.push(link.clone());
        watched.push((link, ears, Judge::new(epoch)));
    }
    let engine_pause = (rate as f64 * ENGINE_PAUSE.as_secs_f64()) as u64;
    let judge = std::thread::Builder::new()
        .name("listen-back judge".to_string())
        .spawn(move || {
            while !stop.load(Ordering::Acquire) {
                // A short quiet stretch is a pause in the programme, unless
                // the engine has played nothing at all yet.
                let quiet = meters.silence_frames();
                let engine_playing = quiet < engine_pause && quiet < meters.position();
                for (link, ears, judge) in &mut watched {
                    let attempt = ears.attempt();
                    let seen = Observation {
                        now: Instant::now(),
                        attempt: &attempt,
                        last_audio: ears.time(&ears.last_audio),
                        connected_at: ears.time(&ears.connected_at),
                        quiet_since: ears.time(&ears.quiet_since),
                        engine_playing,
                    };
                    if judge.observe(&seen) {
                        report(&link.url, judge.verdict());
                        link.set(judge.verdict(), clock.now());
                    }
                }
                std::thread::sleep(LOOK_EVERY);
            }
        })
        .map_err(|source| ListenBackError::Thread {
            of: "s".to_string(),
            source,
        })?;
    running.judge = Some(judge);
    Ok(running)
}

impl ListenBackChecks {
    /// Each check's shared state, for the status.
    pub fn links(&self) -> Vec<Arc<ListenLink>> {
        self.links.clone()
    }

    /// Stops judging; the listening threads end at their next read.
    pub fn stop(mut self) {
        self.stop_judge();
    }

    fn stop_judge(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(judge) = self.judge.take() {
            let _ = judge.join();
        }
    }
}

impl Drop for ListenBackChecks {
    fn drop(&mut self) {
        self.stop_judge();
    }
}

/// One log line per change.
fn report(url: &str, verdict: &Verdict) {
    match verdict {
        Verdict::Starting => {}
        Verdict::Ok => tracing::info!("listen-back {url}: listeners hear the programme"),
        alarm => tracing::warn!(
            "listen-back {url}: listeners hear nothing ({}): {}",
            alarm.state().words(),
            alarm.reason().unwrap_or_default()
        ),
    }
}

/// The listening thread: listens until the box stops, again and again.
fn listen(url: &str, ears: &Ears, stop: &AtomicBool) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(ANSWER_TIMEOUT))
        // A server that stops sending ends the read, so the thread tries
        // again; the judge has not waited for it (it watches the time of
        // the last audio).
        .timeout_per_read(Some(NO_AUDIO_FOR))
        .build()
        .new_agent();
    let mut retry = FIRST_RETRY;
    while !stop.load(Ordering::Acquire) {
        let before = ears.last_audio.load(Ordering::Acquire);
        let outcome = listen_once(&agent, url, ears, stop);
        ears.set_attempt(outcome);
        // A connection that carried audio was a success: start over.
        retry = if ears.last_audio.load(Ordering::Acquire) != before {
            FIRST_RETRY
        } else {
            (retry * 2).min(MAX_RETRY)
        };
        let until = Instant::now() + retry;
        while Instant::now() < until && !stop.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// One connection: returns why it ended.
fn listen_once(agent: &ureq::Agent, url: &str, ears: &Ears, stop: &AtomicBool) -> Attempt {
    let response = match agent.get(url).call() {
        Ok(response) => response,
        Err(e) => return failure(url, e),
    };
    let status = response.status().as_u16();
    if status == 404 {
        return Attempt::Absent(format!(
            "the server has no stream at {url} (HTTP 404): its source is not connected"
        ));
    }
    if status != 200 {
        return Attempt::Failed(format!(
            "the server answers {url} with HTTP {status} instead of the stream"
        ));
    }
    let mut hint = Hint::new();
    if let Some(mime) = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
    {
        hint.mime_type(mime.split(';').next().unwrap_or(mime).trim());
    }
    ears.connected(Instant::now());
    let body = Body(Mutex::new(response.into_body().into_reader()));
    measure(body, &hint, stop, |peak| {
        ears.heard(Instant::now(), peak >= SILENCE_THRESHOLD)
    })
}

/// Decodes what arrives, only to measure it: hands the peak of each decoded
/// piece to `heard`, until the stream ends or the box stops. Returns why it
/// ended.
fn measure(
    body: impl Read + Send + Sync + 'static,
    hint: &Hint,
    stop: &AtomicBool,
    mut heard: impl FnMut(f32),
) -> Attempt {
    let stream = MediaSourceStream::new(Box::new(ReadOnlySource::new(body)), Default::default());
    let mut reader = match symphonia::default::get_probe().probe(
        hint,
        stream,
        FormatOptions::default(),
        MetadataOptions::default(),
    ) {
        Ok(reader) => reader,
        Err(e) => return ended(e, "what the server sends is not audio the box can decode"),
    };
    let Some((track, params)) = reader
        .default_track(TrackType::Audio)
        .and_then(|t| Some((t.id, t.codec_params.as_ref()?.audio()?.clone())))
    else {
        return Attempt::Failed("the stream has no audio track".to_string());
    };
    // No resampling, no conversion: the level is all that is wanted.
    let mut decoder = match symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
    {
        Ok(decoder) => decoder,
        Err(e) => {
            return Attempt::Failed(format!("the box cannot decode the stream's audio ({e})"));
        }
    };
    let mut scratch = Vec::new();
    while !stop.load(Ordering::Acquire) {
        let packet = match reader.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => return Attempt::Failed("the server ended the stream".to_string()),
            Err(e) => return ended(e, "the stream broke off"),
        };
        if packet.track_id != track {
            continue;
        }
        // A damaged frame is a glitch, not the end; the judge notices if
        // nothing decodes for long.
        if let Ok(audio) = decoder.decode(&packet) {
            heard(peak(&audio, &mut scratch));
        }
    }
    Attempt::Listening
}

/// The loudest sample of a decoded piece.
fn peak(audio: &GenericAudioBufferRef, scratch: &mut Vec<f32>) -> f32 {
    let loudest = |samples: &[f32]| samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    if let GenericAudioBufferRef::F32(buffer) = audio {
        // MP3 decodes to f32: read the planes where they are.
        return (0..buffer.num_planes())
            .filter_map(|i| buffer.plane(i))
            .map(loudest)
            .fold(0.0, f32::max);
    }
    audio.copy_to_vec_interleaved(scratch);
    loudest(scratch)
}

/// Why a connection could not be made, in the station's words.
fn failure(url: &str, error: ureq::Error) -> Attempt {
    match error {
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Attempt::Absent(format!(
                "nothing answers at {url}: the connection is refused (is the Icecast server running?)"
            ))
        }
        ureq::Error::Timeout(_) => {
            Attempt::Failed(format!("the server at {url} does not answer in time"))
        }
        ureq::Error::HostNotFound => {
            Attempt::Failed(format!("the host name in {url} cannot be found"))
        }
        other => Attempt::Failed(format!("cannot listen to {url}: {other}")),
    }
}

fn ended(error: MediaError, what: &str) -> Attempt {
    match error {
        MediaError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Attempt::Failed("the server ended the stream".to_string())
        }
        MediaError::IoError(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) =>
        {
            Attempt::Failed(format!(
                "nothing arrived for {} s on an open connection",
                NO_AUDIO_FOR.as_secs()
            ))
        }
        MediaError::IoError(e) => Attempt::Failed(format!("{what}: {e}")),
        other => Attempt::Failed(format!("{what} ({other})")),
    }
}

/// The response body as symphonia reads it (it asks for `Sync`, which the
/// body reader is not; only this thread ever reads it).
struct Body(Mutex<ureq::BodyReader<'static>>);

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .read(buf)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::TcpListener;
    use std::process::Command;

    use super::*;

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
        let ears = Ears::new(Instant::now());
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
        let ears = Ears::new(Instant::now());
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
}
