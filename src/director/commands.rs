//! Commands: what the studio (front-panel buttons), the web page and the
//! CLI ask of the director. They arrive on one channel that the director
//! waits on beside the engine and its deadlines, so every source of a
//! command is served the same way, in order, and each gets an answer.

use tokio::sync::{mpsc, oneshot};
use tracing::info;

use super::Director;
use crate::clock::samples_to_delta;
use crate::engine::Command as EngineCommand;

/// Commands queued before the director takes them: a person presses a
/// button a few times a minute, so a handful is plenty; a full queue
/// answers "busy" rather than piling up stale presses.
const QUEUE: usize = 16;

/// What can be asked of the director.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// The studio takes over: its live input goes on air.
    Live,
    /// Back to automation from the studio.
    Auto,
    /// Take what is on air off now, faded; what is due next follows at
    /// once (filler until the next programme).
    Skip,
}

/// Who gave a command: kept in the as-run log beside what it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// A front-panel button.
    Panel,
    /// A person logged in to the web page.
    Page,
    /// A script with the named bearer token.
    Token(String),
    /// `onair live|auto|skip` on the box, over its control socket, by this user id.
    Local { uid: u32 },
    /// The box itself: the studio went silent, or dead air.
    Silence,
}

impl std::fmt::Display for Who {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Who::Panel => f.write_str("panel"),
            Who::Page => f.write_str("page"),
            Who::Token(name) => write!(f, "token {name}"),
            Who::Local { uid } => write!(f, "uid {uid}"),
            Who::Silence => f.write_str("silence"),
        }
    }
}

/// How the director carried out a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// This item was taken off air (its title).
    Skipped(String),
    /// The studio is on air.
    Live,
    /// Automation is on air.
    Auto,
}

impl std::fmt::Display for Done {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Done::Skipped(title) => write!(f, "skipped \"{title}\""),
            Done::Live => f.write_str("the studio is on air"),
            Done::Auto => f.write_str("automation is on air"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("nothing is on air to skip")]
    NothingOnAir,
    #[error(
        "the studio cannot take over: this box has no live input configured, so automation \
         stays on air"
    )]
    NoLiveInput,
    #[error("the studio cannot take over: {0}; automation stays on air")]
    LiveInputUnavailable(String),
    #[error("automation is already on air")]
    NotLive,
    #[error("the director is not running (the box is starting or stopping); try again")]
    NotRunning,
    #[error("the director has {QUEUE} commands waiting; try again in a moment")]
    Busy,
}

/// One command with the way back for its answer.
pub(super) struct Request {
    command: Command,
    by: Who,
    answer: oneshot::Sender<Result<Done, CommandError>>,
}

/// The sending end, cloned for each source of commands (panel, web, CLI).
#[derive(Clone)]
pub struct Controls {
    queue: mpsc::Sender<Request>,
}

/// The director's end, handed to it in its [`super::Wiring`].
pub struct CommandQueue {
    pub(super) queue: mpsc::Receiver<Request>,
}

/// A command channel: the controls for whoever gives commands, the queue for the director.
pub fn channel() -> (Controls, CommandQueue) {
    let (queue, receiver) = mpsc::channel(QUEUE);
    (Controls { queue }, CommandQueue { queue: receiver })
}

impl Controls {
    /// Asks the director, on behalf of `by`, and waits for its answer.
    pub async fn send(&self, command: Command, by: Who) -> Result<Done, CommandError> {
        let (answer, answered) = oneshot::channel();
        self.queue
            .try_send(Request {
                command,
                by,
                answer,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => CommandError::Busy,
                mpsc::error::TrySendError::Closed(_) => CommandError::NotRunning,
            })?;
        answered.await.unwrap_or(Err(CommandError::NotRunning))
    }
}

impl Director {
    pub(super) async fn obey(&mut self, request: Request) {
        let by = request.by.clone();
        let result = match request.command {
            Command::Skip => self.skip(by).await,
            Command::Live => self.go_live(by).await,
            Command::Auto => self.back_to_auto(by).await,
        };
        info!(
            "command {:?} by {}: {result:?}",
            request.command, request.by
        );
        // The answer means it shows: whoever asked, or a page that looks
        // the moment the answer comes, sees the new mode in the status.
        self.publish();
        // The asker may have given up waiting; the command stands.
        let _ = request.answer.send(result);
    }

    /// Takes the item on air off with a fade. What is due next is arranged
    /// first and chained after it, so it follows the moment the fade ends.
    async fn skip(&mut self, by: Who) -> Result<Done, CommandError> {
        let now = self.on_air_time();
        let Some((id, title)) = self
            .items
            .iter()
            .filter(|(_, i)| i.started && i.start <= now)
            .max_by_key(|(_, i)| i.start)
            .map(|(&id, i)| (id, i.title.clone()))
        else {
            return Err(CommandError::NothingOnAir);
        };
        // Whatever was cued to follow it is taken back and arranged again
        // from its new end.
        self.rearrange();
        // It ends a fade after the engine takes the stop; until then it is
        // arranged to end past the earliest moment still open, so that what
        // follows is chained after it rather than placed at a guessed time.
        let fade = samples_to_delta(i64::from(self.fade), self.config.audio.sample_rate);
        let end = self.engine_time() + self.margin() + fade.max(self.margin());
        if let Some(item) = self.items.get_mut(&id) {
            item.hard_end = Some(end);
        }
        self.arrange().await;
        self.send(EngineCommand::Stop {
            id,
            fade: self.fade,
        });
        self.taken_off
            .insert(id, super::TakenOff::Skipped(by.to_string()));
        Ok(Done::Skipped(title))
    }
}
