//! Browser sessions and the brake on password guessing.
//!
//! A login gets a random 256-bit session id in the `onair_session` cookie
//! (`HttpOnly; SameSite=Strict`). The box keeps only the id's SHA-256 (so
//! looking one up tells nothing about the others), when it was last used,
//! and a fingerprint of the password it was opened with: a session idle
//! for longer than the configured time ends, and so does every session
//! when the password is changed. Sessions live in memory: a restart of the
//! box logs everyone out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

pub const COOKIE: &str = "onair_session";

/// Sessions kept at most; past that the least recently used goes.
const MAX_SESSIONS: usize = 256;

struct Session {
    last_used: Instant,
    password: [u8; 32],
}

pub struct Sessions {
    idle: Duration,
    open: Mutex<HashMap<[u8; 32], Session>>,
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    pub fn new(idle: Duration) -> Sessions {
        Sessions {
            idle,
            open: Mutex::new(HashMap::new()),
        }
    }

    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// Opens a session for the password with this fingerprint; its id.
    pub fn open(&self, password: [u8; 32]) -> String {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        let id = URL_SAFE_NO_PAD.encode(bytes);
        let now = Instant::now();
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|_, s| now.duration_since(s.last_used) < self.idle);
        if open.len() >= MAX_SESSIONS
            && let Some(oldest) = open
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| *k)
        {
            open.remove(&oldest);
        }
        open.insert(
            key(&id),
            Session {
                last_used: now,
                password,
            },
        );
        id
    }

    /// Whether `id` is an open session of the current password; using it
    /// keeps it open.
    pub fn check(&self, id: &str, password: Option<[u8; 32]>) -> bool {
        let now = Instant::now();
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let k = key(id);
        let Some(session) = open.get_mut(&k) else {
            return false;
        };
        if now.duration_since(session.last_used) >= self.idle || Some(session.password) != password
        {
            open.remove(&k);
            return false;
        }
        session.last_used = now;
        true
    }

    pub fn close(&self, id: &str) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.remove(&key(id));
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim())
}

/// Failed logins of one client in a row: each next failure is answered
/// later (1 s, 2 s, 4 s… up to [`MAX_DELAY`]), and a client's attempts
/// are taken one at a time, so parallel guesses queue up behind the delay.
#[derive(Default)]
pub struct Failures {
    pub count: u32,
    pub last: Option<Instant>,
}

/// A run of failures is forgotten after this long without one.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
const FIRST_DELAY: Duration = Duration::from_secs(1);
const MAX_DELAY: Duration = Duration::from_secs(16);
const MAX_CLIENTS: usize = 1024;

impl Failures {
    /// The delay before answering a failure that makes `count` in a row.
    pub fn delay(count: u32) -> Duration {
        FIRST_DELAY
            .saturating_mul(1 << count.saturating_sub(1).min(10))
            .min(MAX_DELAY)
    }

    /// Forgets a run of failures that ended long enough ago.
    pub fn refresh(&mut self, now: Instant) {
        if self
            .last
            .is_some_and(|last| now.duration_since(last) > FORGET_AFTER)
        {
            *self = Failures::default();
        }
    }
}

/// Each client's failures, behind a lock of its own that a login holds
/// while it checks and, after a failure, while it waits.
#[derive(Default)]
pub struct Throttle {
    clients: Mutex<HashMap<IpAddr, Arc<tokio::sync::Mutex<Failures>>>>,
}

impl Throttle {
    pub fn of(&self, client: IpAddr) -> Arc<tokio::sync::Mutex<Failures>> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if clients.len() >= MAX_CLIENTS {
            // Clients not busy logging in now are forgotten first.
            clients.retain(|_, f| Arc::strong_count(f) > 1);
        }
        clients.entry(client).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_works_until_idle_or_closed_or_the_password_changes() {
        let sessions = Sessions::new(Duration::from_millis(200));
        let pw = [1; 32];
        let id = sessions.open(pw);
        assert_eq!(id.len(), 43);
        assert!(sessions.check(&id, Some(pw)));
        assert!(!sessions.check("made-up", Some(pw)));
        assert!(!sessions.check(&id, Some([2; 32])), "password changed");
        assert!(!sessions.check(&id, Some(pw)), "stays closed");

        let id = sessions.open(pw);
        std::thread::sleep(Duration::from_millis(120));
        assert!(sessions.check(&id, Some(pw)), "use keeps it open");
        std::thread::sleep(Duration::from_millis(120));
        assert!(sessions.check(&id, Some(pw)));
        std::thread::sleep(Duration::from_millis(250));
        assert!(!sessions.check(&id, Some(pw)), "idle too long");

        let id = sessions.open(pw);
        sessions.close(&id);
        assert!(!sessions.check(&id, Some(pw)));
    }

    #[test]
    fn cookies_are_found_by_name() {
        let header = "a=1; onair_session=abc-_9; b=2";
        assert_eq!(cookie(header, COOKIE), Some("abc-_9"));
        assert_eq!(cookie(header, "c"), None);
        assert_eq!(cookie("onair_session", COOKIE), None);
    }

    #[test]
    fn failures_in_a_row_wait_longer_each_time_up_to_a_limit() {
        assert_eq!(Failures::delay(1), Duration::from_secs(1));
        assert_eq!(Failures::delay(2), Duration::from_secs(2));
        assert_eq!(Failures::delay(4), Duration::from_secs(8));
        assert_eq!(Failures::delay(40), MAX_DELAY);
    }
}
