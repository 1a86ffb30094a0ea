//! `onair status`: the running box's status, read from its `/api/status`
//! into [`StatusAnswer`], as a station engineer reads it over SSH.

use anyhow::Result;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::ask_box::ask_box_for_status;
use super::{line, print};
use crate::config::Config;
use crate::output::icecast::Connection;
use crate::status::{StatusAnswer, clock_text};

/// A snapshot older than this means the playout stopped reporting.
const STALE_STATUS_MS: u64 = 5_000;

/// How `onair status` prints the box's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Every detail, a few lines per output.
    Full,
    /// One line: [`Status::summary`], as `systemctl status onair` shows it too.
    Short,
    /// The box's JSON as it sent it.
    Json,
}

/// Prints the status in the form asked for.
pub fn show_status(config: &Config, form: Form) -> Result<()> {
    let body = ask_box_for_status(config)?;
    if form == Form::Json {
        return print(&line(&body));
    }
    let answer: StatusAnswer = serde_json::from_str(&body).map_err(|e| {
        anyhow::anyhow!(
            "the box sent a status this onair cannot read ({e}); is the box running another \
             version of onair? `onair status --json` shows what it sent"
        )
    })?;
    let tz = config.station.timezone;
    if form == Form::Short {
        return print(&line(&answer.status.summary(tz)));
    }
    print(&render(&answer, tz, config.audio.sample_rate))
}

/// The status as text; times in the station's zone `tz`, audio lost in
/// seconds at the engine's `rate`.
pub fn render(answer: &StatusAnswer, tz: Tz, rate: u32) -> String {
    let status = &answer.status;
    let clock = |t: DateTime<Utc>| clock_text(t, tz);
    let now = status.now;
    let mut out = String::new();

    let mut heading = format!(
        "{} · {}",
        status.station,
        status.mode.as_str().to_uppercase()
    );
    if let Some(now) = now {
        let local = now.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z");
        heading.push_str(&format!(" · {local}"));
    }
    if let Some(speed) = status.simulated_speed {
        // A stream's connection times are the machine's, not the station's.
        heading.push_str(&format!(
            " (simulated clock ×{speed}; stream times are real time)"
        ));
    }
    out.push_str(&heading);
    out.push('\n');
    match answer.age_ms {
        None => out.push_str("(the box is starting: no status from its playout yet)\n"),
        Some(age) if age > STALE_STATUS_MS => out.push_str(&format!(
            "WARNING: the playout has not updated its status for {} s; what follows may be stale\n",
            age / 1000
        )),
        Some(_) => {}
    }

    out.push_str(&format!("On air:   {}\n", status.on_air_text(tz)));
    out.push_str(&format!("Next:     {}\n", status.next_text(tz)));

    if status.warnings.is_empty() {
        out.push_str("Warnings: none\n");
    } else {
        out.push_str("Warnings:\n");
        for warning in &status.warnings {
            out.push_str(&format!("  ! {warning}\n"));
        }
    }

    out.push_str("Outputs:\n");
    for output in &status.outputs {
        out.push_str(&format!("  {}\n", output.name));
        let Some(stream) = &output.stream else {
            out.push_str(&format!(
                "    {} frames out, {} dropped, {} underruns, {} errors\n",
                output.frames_out, output.frames_dropped, output.frames_underrun, output.errors
            ));
            continue;
        };
        let state = match &stream.connection {
            Connection::Connecting => "connecting".to_string(),
            Connection::Connected { since } => format!("connected since {}", clock(*since)),
            Connection::Retrying {
                reason,
                next_attempt,
            } => format!(
                "retrying, next attempt at {}: {reason}",
                clock(*next_attempt)
            ),
            Connection::Refused {
                reason,
                next_attempt,
            } => format!(
                "REFUSED, next attempt at {}: {reason}",
                clock(*next_attempt)
            ),
        };
        out.push_str(&format!("    {state}\n"));
        let seconds = |frames: u64| format!("{:.1} s", frames as f64 / rate as f64);
        out.push_str(&format!(
            "    {} sent, {} reconnects, {} failed attempts\n",
            bytes_text(stream.bytes_sent),
            stream.reconnects,
            stream.failed_attempts,
        ));
        out.push_str(&format!(
            "    audio lost: {} dropped (queue full), {} discarded (while down), {} dropped (ring full)\n",
            seconds(stream.frames_dropped_oldest),
            seconds(stream.frames_discarded),
            seconds(output.frames_dropped),
        ));
        let mut about = Vec::new();
        if let Some(encoder) = &stream.encoder {
            let shared = stream.encoder_shared_by;
            about.push(if shared > 1 {
                format!("encoder {encoder}, shared by {shared} streams")
            } else {
                format!("encoder {encoder}")
            });
        }
        if let Some(title) = &stream.title {
            about.push(format!("title \"{title}\""));
        }
        if !about.is_empty() {
            out.push_str(&format!("    {}\n", about.join("; ")));
        }
    }
    out
}

fn bytes_text(bytes: u64) -> String {
    match bytes {
        0..1_000_000 => format!("{} kB", bytes.div_ceil(1000)),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests;
