//! The listening threads: each fetches its listen address over plain
//! HTTP as a listener would, decodes what arrives (MP3, or any format
//! symphonia reads) only to measure its level, and notes in atomics when
//! audio last arrived and since when it has been quiet ([`Ears`]).

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use symphonia::core::audio::{Audio, GenericAudioBufferRef};
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as MediaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSourceStream, ReadOnlySource};
use symphonia::core::meta::MetadataOptions;

use super::NO_AUDIO_FOR;
use super::judge::Attempt;
use crate::engine::meters::SILENCE_THRESHOLD;

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

/// How often a listening thread reads from the network, and the most it
/// takes at a time (4 s of a 128 kbit/s stream: a gulp is never cut short
/// by the buffer unless the thread fell far behind).
const GULP_EVERY: Duration = Duration::from_millis(250);
const GULP_BYTES: usize = 64 * 1024;

/// Audio that arrives after this long without any is news to the judge.
const NEWS_AFTER: Duration = Duration::from_secs(1);

/// What the listening thread notes, read by the judge without waiting.
/// Times are milliseconds after `epoch`, plus one (0: never).
/// It rings the judge's bell when what it notes may change a verdict.
#[derive(Debug)]
pub(super) struct Ears {
    epoch: Instant,
    pub(super) last_audio: AtomicU64,
    pub(super) quiet_since: AtomicU64,
    pub(super) connected_at: AtomicU64,
    /// The latest piece was quiet.
    quiet: AtomicBool,
    attempt: Mutex<Attempt>,
    bell: Arc<Bell>,
}

/// Wakes the judge's thread, which otherwise sleeps until its next
/// decision is due.
#[derive(Debug, Default)]
pub(super) struct Bell(OnceLock<Thread>);

impl Bell {
    /// The judge is the thread calling this.
    pub(super) fn hang(&self) {
        let _ = self.0.set(std::thread::current());
    }

    pub(super) fn ring(&self) {
        if let Some(judge) = self.0.get() {
            judge.unpark();
        }
    }
}

impl Ears {
    pub(super) fn new(epoch: Instant, bell: Arc<Bell>) -> Self {
        Ears {
            epoch,
            last_audio: AtomicU64::new(0),
            quiet_since: AtomicU64::new(0),
            connected_at: AtomicU64::new(0),
            quiet: AtomicBool::new(false),
            attempt: Mutex::new(Attempt::NotYet),
            bell,
        }
    }

    fn stamp(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_millis() as u64 + 1
    }

    pub(super) fn time(&self, stamp: &AtomicU64) -> Option<Instant> {
        match stamp.load(Ordering::Acquire) {
            0 => None,
            ms => Some(self.epoch + Duration::from_millis(ms - 1)),
        }
    }

    fn set_attempt(&self, attempt: Attempt) {
        let mut current = self.attempt.lock().unwrap_or_else(|e| e.into_inner());
        if *current != attempt {
            *current = attempt;
            drop(current);
            self.bell.ring();
        }
    }

    pub(super) fn attempt(&self) -> Attempt {
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
        self.bell.ring();
    }

    /// What arrives is quiet now (below −60 dBFS).
    pub(super) fn quiet_now(&self) -> bool {
        self.quiet.load(Ordering::Acquire)
    }

    /// A piece of decoded audio arrived, audible or not.
    fn heard(&self, at: Instant, audible: bool) {
        let stamp = self.stamp(at);
        if audible {
            self.quiet_since.store(stamp, Ordering::Release);
        }
        let previous = self.last_audio.swap(stamp, Ordering::AcqRel);
        let was_quiet = self.quiet.swap(!audible, Ordering::AcqRel);
        // The judge hears of audio back after a gap and of a change between
        // sound and quiet; audio that just goes on is no news.
        let gap = stamp.saturating_sub(previous) >= NEWS_AFTER.as_millis() as u64;
        if previous == 0 || gap || was_quiet == audible {
            self.bell.ring();
        }
    }
}

/// The listening thread: listens until the box stops, again and again.
pub(super) fn listen(url: &str, ears: &Ears, stop: &AtomicBool) {
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
        // Not joined when the box stops: the stop is seen after this.
        std::thread::sleep(retry);
    }
}

/// One connection: returns why it ended.
pub(super) fn listen_once(
    agent: &ureq::Agent,
    url: &str,
    ears: &Ears,
    stop: &AtomicBool,
) -> Attempt {
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
    let body = Gulps::new(Body(Mutex::new(response.into_body().into_reader())));
    measure(body, &hint, stop, |peak| {
        ears.heard(Instant::now(), peak >= SILENCE_THRESHOLD)
    })
}

/// Decodes what arrives, only to measure it: hands the peak of each decoded
/// piece to `heard`, until the stream ends or the box stops. Returns why it
/// ended.
pub(super) fn measure(
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

/// Reads the stream in gulps, a few a second, rather than at every packet
/// the server sends: a monitor that judges over seconds loses nothing,
/// the kernel holds what arrives meanwhile, and the thread wakes a few
/// times a second instead of tens.
struct Gulps<R> {
    body: R,
    buffer: Box<[u8]>,
    start: usize,
    end: usize,
    /// When the next read from the network is due.
    next_read: Instant,
}

impl<R: Read> Gulps<R> {
    fn new(body: R) -> Self {
        Gulps {
            body,
            buffer: vec![0; GULP_BYTES].into_boxed_slice(),
            start: 0,
            end: 0,
            next_read: Instant::now(),
        }
    }
}

impl<R: Read> Read for Gulps<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.start == self.end {
            let wait = self.next_read.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
            let read = self.body.read(&mut self.buffer)?;
            // A full gulp means more is waiting: the next one comes at once.
            self.next_read = if read == self.buffer.len() {
                Instant::now()
            } else {
                Instant::now() + GULP_EVERY
            };
            self.start = 0;
            self.end = read;
            if read == 0 {
                return Ok(0);
            }
        }
        let n = out.len().min(self.end - self.start);
        out[..n].copy_from_slice(&self.buffer[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}
