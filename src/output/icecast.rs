//! The station's public stream: MP3 to an Icecast server through libshout.
//!
//! Each stream output is a sender on a thread of its own, fed whole MP3
//! chunks by its stream group's encoder through a bounded queue (see
//! [`super::stream_group`]). It never blocks there: libshout is used in
//! non-blocking mode, so a server that is gone, slow or refusing costs at
//! most a failed attempt, and the programme that arrives meanwhile is
//! drained and counted. It reconnects forever with capped exponential backoff.
//!
//! libshout is called through a thin wrapper of our own over `shout-sys`
//! rather than the `shout` crate: that crate panics on libshout error codes
//! it does not know, offers no non-blocking connect, and reports a wrong
//! password and a busy mount alike with no way to tell them apart, where the
//! station needs to show "refused" and "mount in use" differently.

use std::ffi::{CStr, CString};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::CHANNELS;
use super::encoder::Mp3Settings;
use super::stream_group::{ChunkQueue, Mp3Chunk};
use crate::config::{IcecastConfig, MP3_SAMPLE_RATES};

/// The first wait after a failure; it doubles up to the configured cap.
const FIRST_RETRY: Duration = Duration::from_millis(500);
/// A connection attempt that has not been answered by then has failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Audio the server may leave unread before the connection counts as dead.
const MAX_BACKLOG: Duration = Duration::from_secs(5);
/// How long the check "is the mount taken by another source?" may take.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// While a server that stopped answering is waited out, how often it is
/// asked (a bare TCP connect) whether it is back, and how long that may take.
/// A server back from a restart is then streamed to within about this
/// interval, however long the backoff has grown.
const ANSWER_CHECK_EVERY: Duration = Duration::from_secs(1);
const ANSWER_CHECK_TIMEOUT: Duration = Duration::from_millis(700);
/// How long a sender waits for the next chunk before it looks at its
/// connection again. Chunks come every 40 ms while the box plays and each
/// one moves the connection on too, so this only paces a sender whose
/// encoder has nothing for it; every wake is CPU the Pi's audio needs.
const IDLE_WAIT: Duration = Duration::from_millis(50);

/// Where a stream stands, as the status page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Connection {
    /// Not tried yet, or an attempt is under way.
    Connecting,
    Connected {
        since: DateTime<Utc>,
    },
    /// The server could not be reached or the connection was lost.
    Retrying {
        reason: String,
        next_attempt: DateTime<Utc>,
    },
    /// The server answered and refused the source: wrong user or password,
    /// or a mount it does not allow. Tried again, as the server may be fixed.
    Refused {
        reason: String,
        next_attempt: DateTime<Utc>,
    },
}

/// What a stream output shares with the rest of the box: its state and
/// counters (read by the status page) and the title it should carry (set by
/// the director). Never touched by the mixer.
#[derive(Debug)]
pub struct StreamLink {
    connection: Mutex<Connection>,
    pub bytes_sent: AtomicU64,
    /// Connections made after the first.
    pub reconnects: AtomicU64,
    /// Connection attempts that failed.
    pub failed_attempts: AtomicU64,
    /// Frames drained and thrown away while the stream was down.
    pub frames_discarded: AtomicU64,
    /// Frames whose MP3 was dropped, oldest first, because the sender's
    /// queue was full (the sender fell behind its encoder).
    pub frames_dropped_oldest: AtomicU64,
    title: Mutex<Option<String>>,
    title_changes: AtomicU64,
    /// The encoder this stream takes its MP3 from, and how many streams share it.
    encoder: OnceLock<(String, usize)>,
}

impl Default for StreamLink {
    fn default() -> Self {
        StreamLink {
            connection: Mutex::new(Connection::Connecting),
            bytes_sent: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            failed_attempts: AtomicU64::new(0),
            frames_discarded: AtomicU64::new(0),
            frames_dropped_oldest: AtomicU64::new(0),
            title: Mutex::new(None),
            title_changes: AtomicU64::new(0),
            encoder: OnceLock::new(),
        }
    }
}

/// A copy of a [`StreamLink`] for the status snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamState {
    #[serde(flatten)]
    pub connection: Connection,
    pub bytes_sent: u64,
    pub reconnects: u64,
    pub failed_attempts: u64,
    pub frames_discarded: u64,
    pub frames_dropped_oldest: u64,
    pub title: Option<String>,
    /// The encoder this stream shares (`MP3 128 kbit/s CBR 44100 Hz`); one
    /// encoder per distinct MP3, however many streams carry it.
    pub encoder: Option<String>,
    /// How many streams take their MP3 from that encoder.
    pub encoder_shared_by: usize,
}

impl StreamLink {
    /// The title listeners should see from now on (what is on air).
    pub fn set_title(&self, title: &str) {
        let mut current = self.title.lock().unwrap_or_else(|e| e.into_inner());
        if current.as_deref() != Some(title) {
            *current = Some(title.to_string());
            self.title_changes.fetch_add(1, Ordering::Release);
        }
    }

    pub fn connection(&self) -> Connection {
        self.connection
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn state(&self) -> StreamState {
        StreamState {
            connection: self.connection(),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            failed_attempts: self.failed_attempts.load(Ordering::Relaxed),
            frames_discarded: self.frames_discarded.load(Ordering::Relaxed),
            frames_dropped_oldest: self.frames_dropped_oldest.load(Ordering::Relaxed),
            title: self.title.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            encoder: self.encoder.get().map(|(name, _)| name.clone()),
            encoder_shared_by: self.encoder.get().map_or(0, |(_, n)| *n),
        }
    }

    /// Which encoder feeds this stream; set once, when its group starts.
    pub fn set_encoder(&self, name: &str, shared_by: usize) {
        let _ = self.encoder.set((name.to_string(), shared_by));
    }

    fn set_connection(&self, connection: Connection) {
        *self.connection.lock().unwrap_or_else(|e| e.into_inner()) = connection;
    }
}

/// The stream's rate: the configured one, else the engine's when an MP3
/// can carry it, else 44.1 kHz.
pub fn stream_rate(config: &IcecastConfig, engine_rate: u32) -> u32 {
    config
        .sample_rate
        .unwrap_or(if MP3_SAMPLE_RATES.contains(&engine_rate) {
            engine_rate
        } else {
            44_100
        })
}

enum Link {
    Waiting {
        retry_at: Instant,
        /// Set when the server did not answer: it is checked on meanwhile.
        check: Option<AnswerCheck>,
    },
    Connecting {
        shout: Shout,
        since: Instant,
    },
    Up {
        shout: Shout,
    },
}

/// One mount's sender: takes MP3 chunks from its queue and sends them to
/// the server while connected, discarding (and counting) them otherwise.
pub struct IcecastSender {
    name: String,
    config: IcecastConfig,
    /// The MP3 its encoder makes, announced to the server.
    settings: Mp3Settings,
    link: Option<Link>,
    shared: Arc<StreamLink>,
    /// Failures since the stream was last up: the backoff's exponent.
    failures: u32,
    ever_up: bool,
    title_sent: Option<u64>,
}

impl IcecastSender {
    /// The connection is made on the sender's thread, in [`Self::run`].
    pub fn new(
        name: &str,
        config: &IcecastConfig,
        settings: Mp3Settings,
        shared: Arc<StreamLink>,
    ) -> Self {
        IcecastSender {
            name: name.to_string(),
            config: config.clone(),
            settings,
            link: Some(Link::Waiting {
                retry_at: Instant::now(),
                check: None,
            }),
            shared,
            failures: 0,
            ever_up: false,
            title_sent: None,
        }
    }

    /// Sends what the queue brings until `stop` is set and the queue is
    /// empty, or the queue's encoder has finished and it is empty.
    pub fn run(mut self, queue: &ChunkQueue, stop: &AtomicBool) {
        loop {
            let stopping = stop.load(Ordering::Acquire);
            match queue.pop(IDLE_WAIT) {
                Some(chunk) => self.deliver(&chunk),
                None if stopping || queue.is_finished() => break,
                None => self.tick(),
            }
        }
        self.finish();
    }

    /// Moves the connection on (connecting, backoff) without sending.
    fn tick(&mut self) {
        if let Some(link) = self.link.take() {
            self.link = Some(self.step(link));
        }
    }

    /// Sends one chunk if the stream is up; otherwise counts it as discarded.
    pub fn deliver(&mut self, chunk: &Mp3Chunk) {
        let Some(link) = self.link.take() else {
            return;
        };
        let link = self.step(link);
        let link = self.send(link, &chunk.bytes);
        if !matches!(link, Link::Up { .. }) {
            self.shared
                .frames_discarded
                .fetch_add(chunk.frames, Ordering::Relaxed);
        }
        self.link = Some(link);
    }

    fn finish(&mut self) {
        if let Some(Link::Up { .. }) = self.link.take() {
            tracing::info!("output {}: stream closed", self.name);
        }
    }

    fn url(&self) -> String {
        format!(
            "http://{}:{}{}",
            self.config.host, self.config.port, self.config.mount
        )
    }

    /// Moves the connection on as far as it goes without waiting.
    fn step(&mut self, link: Link) -> Link {
        let now = Instant::now();
        match link {
            Link::Waiting { retry_at, .. } if now >= retry_at => self.attempt(now),
            Link::Waiting {
                retry_at,
                check: Some(mut check),
            } => {
                if check.poll(&self.config.host, self.config.port, now) {
                    // A server back from the dead is a fresh start: should
                    // this attempt fail, the next comes soon, not a cap away.
                    self.failures = 0;
                    tracing::info!(
                        "output {}: {}:{} answers again; reconnecting now",
                        self.name,
                        self.config.host,
                        self.config.port
                    );
                    self.attempt(now)
                } else {
                    Link::Waiting {
                        retry_at,
                        check: Some(check),
                    }
                }
            }
            Link::Connecting { shout, since } => {
                if now.duration_since(since) > CONNECT_TIMEOUT {
                    self.fail(Failure::NoAnswer(format!(
                        "no answer from {}:{} within {} s",
                        self.config.host,
                        self.config.port,
                        CONNECT_TIMEOUT.as_secs()
                    )))
                } else {
                    self.poll(shout, since)
                }
            }
            other => other,
        }
    }

    fn attempt(&mut self, now: Instant) -> Link {
        match self.open() {
            Ok(shout) => self.poll(shout, now),
            Err(failure) => self.fail(failure),
        }
    }

    fn open(&self) -> Result<Shout, Failure> {
        let c = &self.config;
        let shout = Shout::new().map_err(Failure::Unreachable)?;
        let set = |what: &str, code: i32| {
            if code == SHOUTERR_SUCCESS {
                Ok(())
            } else {
                Err(Failure::Unreachable(format!(
                    "libshout refused the {what}: {}",
                    shout.error_text()
                )))
            }
        };
        set("host", shout.set_str(shout_sys::shout_set_host, &c.host))?;
        set("port", unsafe {
            shout_sys::shout_set_port(shout.raw, c.port)
        })?;
        set("mount", shout.set_str(shout_sys::shout_set_mount, &c.mount))?;
        set("user", shout.set_str(shout_sys::shout_set_user, &c.user))?;
        set(
            "password",
            shout.set_str(shout_sys::shout_set_password, &c.password),
        )?;
        set("format", unsafe {
            shout_sys::shout_set_format(shout.raw, SHOUT_FORMAT_MP3)
        })?;
        set("protocol", unsafe {
            shout_sys::shout_set_protocol(shout.raw, SHOUT_PROTOCOL_HTTP)
        })?;
        set("TLS mode", unsafe {
            shout_sys::shout_set_tls(shout.raw, SHOUT_TLS_DISABLED)
        })?;
        set("public flag", unsafe {
            shout_sys::shout_set_public(shout.raw, u32::from(c.public))
        })?;
        set("non-blocking mode", unsafe {
            shout_sys::shout_set_nonblocking(shout.raw, 1)
        })?;
        for (key, value) in [
            ("bitrate", Some(self.settings.bitrate.to_string())),
            ("samplerate", Some(self.settings.stream_rate.to_string())),
            ("channels", Some(CHANNELS.to_string())),
        ] {
            set(
                key,
                shout.set_pair(shout_sys::shout_set_audio_info, key, value),
            )?;
        }
        for (key, value) in [
            ("name", &c.name),
            ("description", &c.description),
            ("genre", &c.genre),
            ("url", &c.url),
        ] {
            set(
                key,
                shout.set_pair(shout_sys::shout_set_meta, key, value.clone()),
            )?;
        }
        let code = unsafe { shout_sys::shout_open(shout.raw) };
        match code {
            SHOUTERR_SUCCESS | SHOUTERR_BUSY | SHOUTERR_RETRY | SHOUTERR_CONNECTED => Ok(shout),
            _ => Err(self.failure(&shout, code)),
        }
    }

    fn poll(&mut self, shout: Shout, since: Instant) -> Link {
        let code = unsafe { shout_sys::shout_get_connected(shout.raw) };
        match code {
            SHOUTERR_CONNECTED => self.up(shout),
            SHOUTERR_BUSY | SHOUTERR_RETRY | SHOUTERR_SUCCESS => Link::Connecting { shout, since },
            _ => {
                let failure = self.failure(&shout, code);
                drop(shout);
                self.fail(failure)
            }
        }
    }

    fn up(&mut self, shout: Shout) -> Link {
        if self.ever_up {
            self.shared.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        self.ever_up = true;
        self.failures = 0;
        // The server forgets the title with the source: send it again.
        self.title_sent = None;
        self.shared
            .set_connection(Connection::Connected { since: Utc::now() });
        tracing::info!("output {}: stream up at {}", self.name, self.url());
        Link::Up { shout }
    }

    /// Tells a wrong password from a mount another source holds: libshout
    /// reports both as a failed login, but a held mount answers listeners.
    fn failure(&self, shout: &Shout, code: i32) -> Failure {
        match code {
            SHOUTERR_NOLOGIN => {
                if self.mount_is_live() {
                    Failure::MountInUse(format!(
                        "mount {} is in use by another source (it is retried; a source that \
                         just went away is dropped by the server shortly)",
                        self.config.mount
                    ))
                } else {
                    Failure::Refused(format!(
                        "{}:{} refused the source login for mount {}: check the user and \
                         password (<source-password> in icecast.xml) and that the mount is allowed",
                        self.config.host, self.config.port, self.config.mount
                    ))
                }
            }
            // Non-blocking, a refused or failed connect comes back as a
            // socket error rather than "no connect".
            SHOUTERR_NOCONNECT | SHOUTERR_SOCKET => Failure::NoAnswer(format!(
                "cannot reach {}:{} ({}): is the Icecast server running and the host and port right?",
                self.config.host,
                self.config.port,
                shout.error_text()
            )),
            _ => Failure::Unreachable(format!(
                "connection to {} failed: {} (libshout code {code})",
                self.url(),
                shout.error_text()
            )),
        }
    }

    fn mount_is_live(&self) -> bool {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(PROBE_TIMEOUT))
            .http_status_as_error(false)
            .build()
            .new_agent();
        agent
            .get(&self.url())
            .call()
            .is_ok_and(|response| response.status().is_success())
    }

    fn fail(&mut self, failure: Failure) -> Link {
        self.failures = self.failures.saturating_add(1);
        self.shared.failed_attempts.fetch_add(1, Ordering::Relaxed);
        let cap = Duration::from_secs(u64::from(self.config.reconnect_max_seconds));
        let delay = FIRST_RETRY
            .saturating_mul(1u32 << self.failures.saturating_sub(1).min(16))
            .min(cap);
        let next_attempt = Utc::now() + delay;
        let check = matches!(failure, Failure::NoAnswer(_)).then(AnswerCheck::default);
        let connection = match failure {
            Failure::Refused(reason) => Connection::Refused {
                reason,
                next_attempt,
            },
            Failure::Unreachable(reason)
            | Failure::NoAnswer(reason)
            | Failure::MountInUse(reason) => Connection::Retrying {
                reason,
                next_attempt,
            },
        };
        // Every state change is logged once; a server that stays away is
        // not reported again at every attempt.
        let previous = self.shared.connection();
        let changed = !matches!(
            (&previous, &connection),
            (Connection::Retrying { reason: a, .. }, Connection::Retrying { reason: b, .. })
            | (Connection::Refused { reason: a, .. }, Connection::Refused { reason: b, .. })
            if a == b
        );
        if changed {
            let what = if matches!(previous, Connection::Connected { .. }) {
                "stream down"
            } else {
                "stream not up"
            };
            match &connection {
                Connection::Refused { reason, .. } | Connection::Retrying { reason, .. } => {
                    tracing::warn!(
                        "output {}: {what}: {reason}; retrying (at most every {} s)",
                        self.name,
                        cap.as_secs()
                    )
                }
                _ => {}
            }
        }
        self.shared.set_connection(connection);
        Link::Waiting {
            retry_at: Instant::now() + delay,
            check,
        }
    }

    /// Sends the on-air title when it changed or the server is new to us.
    fn send_title(&mut self, shout: &Shout) {
        let version = self.shared.title_changes.load(Ordering::Acquire);
        if self.title_sent == Some(version) {
            return;
        }
        let title = self
            .shared
            .title
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        self.title_sent = Some(version);
        let Some(title) = title else { return };
        if let Err(e) = shout.set_title(&title) {
            tracing::warn!(
                "output {}: the server did not take the title {title:?}: {e}",
                self.name
            );
        }
    }

    fn send(&mut self, link: Link, mp3: &[u8]) -> Link {
        let Link::Up { shout } = link else {
            return link;
        };
        self.send_title(&shout);
        if !mp3.is_empty() {
            let code = unsafe { shout_sys::shout_send(shout.raw, mp3.as_ptr(), mp3.len()) };
            // In non-blocking mode BUSY means "queued, not yet written".
            if code != SHOUTERR_SUCCESS && code != SHOUTERR_BUSY {
                let reason = format!("lost the connection to {}: {}", self.url(), {
                    shout.error_text()
                });
                return self.fail(Failure::NoAnswer(reason));
            }
            self.shared
                .bytes_sent
                .fetch_add(mp3.len() as u64, Ordering::Relaxed);
            let backlog = unsafe { shout_sys::shout_queuelen(shout.raw) }.max(0) as u64;
            let limit = u64::from(self.settings.bitrate) * 1000 / 8 * MAX_BACKLOG.as_secs();
            if backlog > limit {
                return self.fail(Failure::Unreachable(format!(
                    "{} has not read the last {} s of the stream",
                    self.url(),
                    MAX_BACKLOG.as_secs()
                )));
            }
        }
        Link::Up { shout }
    }
}

enum Failure {
    /// The server did not answer or went away: checked on until it answers.
    NoAnswer(String),
    /// Any other failure before the login: plain backoff.
    Unreachable(String),
    Refused(String),
    MountInUse(String),
}

/// Asks a server that stopped answering, about once a second, whether it
/// accepts connections again. Only a change from silence to an answer
/// counts: a server that accepts connections and then hangs up on the
/// source always answers, and is left to the backoff. The connect runs on a short-lived thread of
/// its own, as a server that drops packets would otherwise hold the
/// output's thread for the whole timeout.
#[derive(Default)]
struct AnswerCheck {
    /// When the next check may start.
    next: Option<Instant>,
    answer: Option<mpsc::Receiver<bool>>,
    /// A check found nobody there.
    silent: bool,
}

impl AnswerCheck {
    /// True once the server accepts a connection.
    fn poll(&mut self, host: &str, port: u16, now: Instant) -> bool {
        if let Some(answer) = &self.answer {
            match answer.try_recv() {
                Ok(true) if self.silent => return true,
                Ok(true) => self.answer = None,
                Err(mpsc::TryRecvError::Empty) => return false,
                // No answer, or a check thread that could not run.
                Ok(false) | Err(mpsc::TryRecvError::Disconnected) => {
                    self.silent = true;
                    self.answer = None;
                }
            }
        }
        if self.next.is_none_or(|next| now >= next) {
            self.next = Some(now + ANSWER_CHECK_EVERY);
            self.answer = Some(answers(host, port));
        }
        false
    }
}

fn answers(host: &str, port: u16) -> mpsc::Receiver<bool> {
    let (tell, answer) = mpsc::sync_channel(1);
    let target = (host.to_string(), port);
    // A failed spawn drops `tell`: read as "no answer", tried again later.
    let _ = std::thread::Builder::new()
        .name("stream check".to_string())
        .spawn(move || {
            let answered = target.to_socket_addrs().is_ok_and(|mut addresses| {
                addresses.any(|address| {
                    TcpStream::connect_timeout(&address, ANSWER_CHECK_TIMEOUT).is_ok()
                })
            });
            let _ = tell.send(answered);
        });
    answer
}

const SHOUTERR_SUCCESS: i32 = 0;
const SHOUTERR_NOCONNECT: i32 = -2;
const SHOUTERR_NOLOGIN: i32 = -3;
const SHOUTERR_SOCKET: i32 = -4;
const SHOUTERR_CONNECTED: i32 = -7;
const SHOUTERR_BUSY: i32 = -10;
const SHOUTERR_RETRY: i32 = -13;
const SHOUT_FORMAT_MP3: u32 = 1;
const SHOUT_PROTOCOL_HTTP: u32 = 0;
const SHOUT_TLS_DISABLED: i32 = 0;

static SHOUT_INIT: Once = Once::new();

/// One libshout connection. It is only ever used by one thread at a time
/// (the output's), which is all libshout asks; it is created there.
struct Shout {
    raw: *mut shout_sys::Shout,
}

// SAFETY: a shout_t holds no thread-bound state (no thread locals, no
// thread-affine handles); it only must not be used from two threads at
// once, which `Send` without `Sync` guarantees.
unsafe impl Send for Shout {}

type SetStr = unsafe extern "C" fn(*mut shout_sys::Shout, *const libc::c_char) -> libc::c_int;
type SetPair = unsafe extern "C" fn(
    *mut shout_sys::Shout,
    *const libc::c_char,
    *const libc::c_char,
) -> libc::c_int;

impl Shout {
    fn new() -> Result<Self, String> {
        SHOUT_INIT.call_once(|| unsafe { shout_sys::shout_init() });
        let raw = unsafe { shout_sys::shout_new() };
        if raw.is_null() {
            return Err("libshout could not allocate a connection (out of memory)".to_string());
        }
        Ok(Shout { raw })
    }

    fn error_text(&self) -> String {
        let text = unsafe { shout_sys::shout_get_error(self.raw) };
        if text.is_null() {
            return "unknown error".to_string();
        }
        unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned()
    }

    fn set_str(&self, set: SetStr, value: &str) -> i32 {
        match CString::new(value) {
            Ok(value) => unsafe { set(self.raw, value.as_ptr()) },
            Err(_) => -1,
        }
    }

    fn set_pair(&self, set: SetPair, key: &str, value: Option<String>) -> i32 {
        let Some(value) = value else {
            return SHOUTERR_SUCCESS;
        };
        match (CString::new(key), CString::new(value)) {
            (Ok(key), Ok(value)) => unsafe { set(self.raw, key.as_ptr(), value.as_ptr()) },
            _ => -1,
        }
    }

    /// The stream title, in UTF-8 and said so: without the charset the
    /// server reads it as Latin-1 and listeners see it garbled.
    fn set_title(&self, title: &str) -> Result<(), String> {
        let title = CString::new(title.replace('\0', ""))
            .map_err(|_| "the title holds a NUL byte".to_string())?;
        let metadata = unsafe { shout_sys::shout_metadata_new() };
        if metadata.is_null() {
            return Err("out of memory".to_string());
        }
        let code = unsafe {
            let song = shout_sys::shout_metadata_add(metadata, c"song".as_ptr(), title.as_ptr());
            let charset =
                shout_sys::shout_metadata_add(metadata, c"charset".as_ptr(), c"UTF-8".as_ptr());
            let sent = if song == SHOUTERR_SUCCESS && charset == SHOUTERR_SUCCESS {
                shout_sys::shout_set_metadata(self.raw, metadata)
            } else {
                -1
            };
            shout_sys::shout_metadata_free(metadata);
            sent
        };
        if code == SHOUTERR_SUCCESS {
            Ok(())
        } else {
            Err(self.error_text())
        }
    }
}

impl Drop for Shout {
    fn drop(&mut self) {
        unsafe {
            shout_sys::shout_close(self.raw);
            shout_sys::shout_free(self.raw);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;
    use crate::config::BitrateMode;

    fn output(port: u16) -> (IcecastSender, Arc<StreamLink>) {
        let config = IcecastConfig::local(port, "/live.mp3", 128);
        let settings = Mp3Settings {
            input_rate: 44_100,
            stream_rate: 44_100,
            bitrate: 128,
            mode: BitrateMode::Cbr,
        };
        let link = Arc::new(StreamLink::default());
        let output = IcecastSender::new("stream", &config, settings, link.clone());
        (output, link)
    }

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap()
    }

    /// Hands the sender a chunk every 10 ms for `time`, as its encoder would.
    fn run(output: &mut IcecastSender, time: Duration) {
        let chunk = Mp3Chunk {
            bytes: Arc::from(vec![0u8; 418].as_slice()),
            frames: 441,
        };
        let until = Instant::now() + time;
        while Instant::now() < until {
            output.deliver(&chunk);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_server_that_answers_again_is_tried_at_once_however_long_the_backoff() {
        // Bad input: a port nobody listens on, after enough failures that
        // the next attempt is the full 30 s away.
        let port = free_port();
        let (mut output, link) = output(port);
        output.failures = 10;
        run(&mut output, Duration::from_millis(300));
        assert_eq!(link.failed_attempts.load(Ordering::Relaxed), 1);
        let Connection::Retrying {
            reason,
            next_attempt,
        } = link.connection()
        else {
            panic!("expected retrying, got {:?}", link.connection());
        };
        assert!(reason.contains("cannot reach"), "{reason}");
        assert!(
            next_attempt > Utc::now() + Duration::from_secs(25),
            "{next_attempt}"
        );

        // Still nobody there: no attempt, only the cheap checks.
        run(&mut output, Duration::from_millis(2500));
        assert_eq!(link.failed_attempts.load(Ordering::Relaxed), 1);

        // Something answers on the port: an attempt is made within about a
        // second (it is no Icecast server, so it hangs up or times out).
        let server = TcpListener::bind(("127.0.0.1", port)).unwrap();
        server.set_nonblocking(true).unwrap();
        let came = Instant::now();
        let mut accepted = None;
        while accepted.is_none() && came.elapsed() < Duration::from_secs(3) {
            run(&mut output, Duration::from_millis(20));
            // The check's own connect is accepted and closed first; the
            // source's connection is the one that sends a request.
            while let Ok((mut socket, _)) = server.accept() {
                use std::io::Read;
                socket.set_nonblocking(false).unwrap();
                socket
                    .set_read_timeout(Some(Duration::from_millis(200)))
                    .unwrap();
                let mut request = [0u8; 64];
                if socket.read(&mut request).is_ok_and(|n| n > 0) {
                    accepted = Some((came.elapsed(), request));
                }
            }
        }
        let (took, request) = accepted.expect("no connection attempt within 3 s");
        assert!(took < Duration::from_millis(1600), "took {took:?}");
        assert!(
            String::from_utf8_lossy(&request).contains("/live.mp3"),
            "{:?}",
            String::from_utf8_lossy(&request)
        );
    }

    #[test]
    fn a_server_that_hangs_up_on_the_source_is_left_to_the_backoff() {
        // Bad input: a server that answers but refuses (here: hangs up on
        // every request). Its port always answers, so checking on it must
        // not turn the backoff into one attempt a second.
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        server.set_nonblocking(true).unwrap();
        let closer = std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(4);
            while Instant::now() < until {
                if let Ok((socket, _)) = server.accept() {
                    drop(socket);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let (mut output, link) = output(port);
        output.failures = 10;
        run(&mut output, Duration::from_millis(3500));
        closer.join().unwrap();
        let attempts = link.failed_attempts.load(Ordering::Relaxed);
        assert_eq!(attempts, 1, "{:?}", link.connection());
    }
}
