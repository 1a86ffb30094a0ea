//! The judging: a pure function of observations and time ([`Judge`]),
//! tested without a network. The judge never waits on the network, so a
//! read that hangs still shows as "no audio".

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{LOOK_EVERY, NO_AUDIO_FOR, SILENT_FOR, STARTUP_GRACE};

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

    /// When the verdict may next change if the listening thread notes
    /// nothing new (it wakes the judge when it does): the judge's thread
    /// sleeps until then. While the stream is quiet under a verdict that
    /// could still turn silent, the programme the engine plays is added up
    /// look by look, every [`LOOK_EVERY`]. `stream_quiet`: the latest piece
    /// that arrived was quiet. Never later than [`NO_AUDIO_FOR`] from now.
    pub fn next_look(&self, seen: &Observation, stream_quiet: bool) -> Instant {
        let now = seen.now;
        let hearing = seen
            .last_audio
            .is_some_and(|at| now.saturating_duration_since(at) < NO_AUDIO_FOR);
        if stream_quiet && hearing && !matches!(self.verdict, Verdict::Silent(_)) {
            return now + LOOK_EVERY;
        }
        let fresh_connection = match (seen.attempt, seen.connected_at) {
            (Attempt::Listening, Some(connected)) => Some(connected + NO_AUDIO_FOR),
            _ => None,
        };
        let no_audio = match seen.last_audio {
            Some(at) => at + NO_AUDIO_FOR,
            None => self.started + STARTUP_GRACE,
        };
        // Deadlines already past have had their say.
        [fresh_connection, Some(no_audio)]
            .into_iter()
            .flatten()
            .filter(|&due| due > now)
            .fold(now + NO_AUDIO_FOR, Instant::min)
    }
}
