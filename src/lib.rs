//! `onair`: the firmware of a plug-in radio playout box.
//!
//! Data flows one way, storage → schedule → director → engine → outputs (and
//! the archive, fed by a stream encoder); status flows back through one
//! published snapshot.
//!
//! - [`config`]: the station's TOML file, validated at load.
//! - [`clock`]: wall clock or simulated clock; engine samples ↔ station time.
//! - [`schedule`]: pure functions from the programme folder and a time to a plan.
//! - [`calendar`]: the station's iCalendar of slots, fetched on its own thread,
//!   cached in the data folder, recurrences expanded.
//! - [`director`]: owns the plan and the as-run log; tells the engine what to cue.
//! - [`asrun`]: the as-run log (sled): its entries, one writer (the
//!   director's) and any number of readers (web, `onair log`, reports), and
//!   its printing as a table, CSV and JSON.
//! - [`tracks`]: track lists (CUE sheets, CSV) beside programme files.
//! - [`report`]: `onair report`, the as-run log or its tracks as CSV for
//!   royalty and compliance reporting.
//! - [`engine`]: real-time audio: decoders fill rings, the mixer pulls, fades and
//!   feeds every output; no locks, I/O or allocation per buffer.
//! - [`output`]: where the mixed audio goes (ALSA, null, WAV, Icecast), each
//!   on its own thread behind a bounded ring; stream encoders hand their MP3
//!   to subscribers.
//! - [`archive`]: beside the outputs, fed by a stream encoder: what aired,
//!   kept as timed MP3 segments written on a thread of their own.
//! - [`recorder`]: other stations' and partners' streams recorded into the
//!   archive as they come (MP3 or AAC frames, never re-encoded), always or
//!   in weekly windows, one channel per thread pair, reconnecting for ever.
//! - [`pacing`]: when the audio threads wake (block, burst, batches) and the
//!   bell that wakes them when there is work.
//! - [`listen_back`]: the box listens to its own public streams as a listener
//!   would and raises an alarm when listeners would hear nothing.
//! - [`hw`]: the front panel's buttons and lamps behind the embedded-hal
//!   traits: the Pi's GPIO, or simulated pins pressed from the page.
//! - [`panel`]: the front-panel display, a pure render of the status into a
//!   128x64 frame sent to the OLED and served as `/panel.png`.
//! - [`jobs`]: the job queue (cut, copy, hook), kept in the as-run log's
//!   database, run by the box in order and after each job's dependencies.
//! - [`station`]: `onair run`: assembles the parts and stops them in order.
//! - [`service`]: under systemd: ready once audio flows, the watchdog fed
//!   only while the engine makes audio, the one-line status, stopping.
//! - [`timetable`]: `onair schedule`, today and tomorrow with bookings,
//!   substitutes and pre-air check results.
//! - [`cli`]: the maintenance subcommands (`log`, `report`, `status`,
//!   `schedule`, `check-config`, `passwd`, `token`, `live|auto|skip|press`)
//!   and asking the running box over HTTP or its control socket.
//! - [`status`]: the published snapshot read by the web page and the CLI.
//! - [`web`]: the status page, its JSON API and live feed, the panel
//!   mirror, and control (login, tokens, the local control socket).
//! - [`auth`]: the control password and bearer tokens in the secrets file.
//! - [`when`]: times as a person types them (`--since -2h`, `today`).
//! - [`demo`]: a generated demo station for a developer machine.

pub mod archive;
pub mod asrun;
pub mod auth;
pub mod calendar;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod director;
pub mod engine;
pub mod hw;
pub mod jobs;
pub mod listen_back;
pub mod output;
pub mod pacing;
pub mod panel;
pub mod recorder;
pub mod report;
pub mod schedule;
pub mod service;
pub mod station;
pub mod status;
pub mod timetable;
pub mod tracks;
pub mod web;
pub mod when;
