//! The station's public stream: MP3 to an Icecast server through libshout.
//!
//! Each stream output is a sender on a thread of its own, fed whole MP3
//! chunks by its stream group's encoder through a bounded queue
//! ([`ChunkQueue`]). It never blocks there: libshout (through our wrapper,
//! `shout.rs`) is used in non-blocking mode, so a server that is gone, slow
//! or refusing costs at most a failed attempt, and the programme that
//! arrives meanwhile is drained and counted. It reconnects forever with
//! capped exponential backoff.
//!
//! A sender sleeps until a chunk arrives or its connection has something
//! due (the next attempt, a check whether the server answers again, a
//! connection under way): while the box plays, that is once per hand-out
//! of its encoder.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::CHANNELS;
use super::chunk_queue::{ChunkQueue, Mp3Chunk};
use super::encoder::Mp3Settings;
use super::shout::{
    SHOUT_FORMAT_MP3, SHOUT_PROTOCOL_HTTP, SHOUT_TLS_DISABLED, SHOUTERR_BUSY, SHOUTERR_CONNECTED,
    SHOUTERR_NOCONNECT, SHOUTERR_NOLOGIN, SHOUTERR_RETRY, SHOUTERR_SOCKET, SHOUTERR_SUCCESS, Shout,
};
pub use super::stream_link::{Connection, StreamLink, StreamState};
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
/// While libshout connects (non-blocking), how often it is asked how far
/// it got: a connection on a network answers within a few of these.
const CONNECTING_LOOK_EVERY: Duration = Duration::from_millis(50);
/// A check on the server that has not reported by its timeout and this
/// margin is looked at again this often (a slow name lookup).
const CHECK_LOOK_EVERY: Duration = Duration::from_millis(100);
/// The longest a sender sleeps with nothing due: its encoder closes its
/// queue when the box stops, and this only bounds how late a stop request
/// is seen should that ever not happen.
const LONGEST_SLEEP: Duration = Duration::from_secs(1);

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
            let now = Instant::now();
            match queue.pop_until(self.next_look(now).min(now + LONGEST_SLEEP)) {
                Some(chunk) => self.deliver(&chunk),
                None if stopping || queue.is_finished() => break,
                None => self.tick(),
            }
        }
        self.finish();
    }

    /// When the connection next has something to do without a chunk: an
    /// attempt, a check on a server that stopped answering, a connection
    /// under way. A stream that is up waits for its chunks.
    fn next_look(&self, now: Instant) -> Instant {
        match &self.link {
            Some(Link::Waiting { retry_at, check }) => check
                .as_ref()
                .map_or(*retry_at, |check| check.next_look(now).min(*retry_at)),
            Some(Link::Connecting { since, .. }) => {
                (now + CONNECTING_LOOK_EVERY).min(*since + CONNECT_TIMEOUT)
            }
            Some(Link::Up { .. }) | None => now + LONGEST_SLEEP,
        }
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
        let link = self.send(link, chunk.bytes());
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
        let version = self.shared.title_version();
        if self.title_sent == Some(version) {
            return;
        }
        let title = self.shared.title();
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
    /// The check under way, and when it started.
    answer: Option<(mpsc::Receiver<bool>, Instant)>,
    /// A check found nobody there.
    silent: bool,
}

impl AnswerCheck {
    /// True once the server accepts a connection.
    fn poll(&mut self, host: &str, port: u16, now: Instant) -> bool {
        if let Some((answer, _)) = &self.answer {
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
            self.answer = Some((answers(host, port), now));
        }
        false
    }

    /// When [`Self::poll`] has something new: the answer of the check under
    /// way once it must have come (its connect has a timeout; a slow name
    /// lookup is looked at again shortly), else the start of the next check.
    fn next_look(&self, now: Instant) -> Instant {
        match (&self.answer, self.next) {
            (Some((_, asked)), _) => {
                let due = *asked + ANSWER_CHECK_TIMEOUT + CHECK_LOOK_EVERY;
                if due > now {
                    due
                } else {
                    now + CHECK_LOOK_EVERY
                }
            }
            (None, Some(next)) => next,
            (None, None) => now,
        }
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

#[cfg(test)]
mod tests;
