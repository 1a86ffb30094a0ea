//! What aired, printed in station-local time, and the checks a scenario makes
//! on it. Every failed check prints the whole timeline, so the message shows
//! what aired when next to what was expected.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::bwf::Aired;
use super::goertzel::{Run, What};

pub fn ms(n: i64) -> TimeDelta {
    TimeDelta::milliseconds(n)
}

pub fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

/// A UTC instant from RFC 3339 (`2026-03-29T01:00:00Z`).
pub fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text:?} is not an RFC 3339 time: {e}"))
        .to_utc()
}

/// `2026-03-29 02:00:00.000 BST`
pub fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S%.3f %Z")
        .to_string()
}

fn signed_ms(d: TimeDelta) -> String {
    format!("{:+} ms", d.num_milliseconds())
}

/// The runs heard on the output, with names for the test's frequencies.
#[derive(Debug, Clone)]
pub struct Runs {
    pub runs: Vec<Run>,
    pub tz: Tz,
    /// Frequency → what the test put on that frequency.
    pub labels: BTreeMap<u32, String>,
}

impl Runs {
    pub fn new(runs: Vec<Run>, tz: Tz, labels: BTreeMap<u32, String>) -> Runs {
        Runs { runs, tz, labels }
    }

    pub fn describe(&self, what: What) -> String {
        match what {
            What::Tone(f) => match self.labels.get(&f) {
                Some(label) => format!("{f} Hz ({label})"),
                None => format!("{f} Hz"),
            },
            What::Silence => "silence".into(),
            What::Unknown => "unknown sound".into(),
            What::NotRecorded => "not recorded (box down)".into(),
        }
    }

    pub fn at(&self, t: DateTime<Utc>) -> Option<&Run> {
        self.runs.iter().find(|r| r.covers(t))
    }

    pub fn overlapping(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Iterator<Item = &Run> {
        self.runs
            .iter()
            .filter(move |r| r.end > from && r.start < to)
    }

    pub fn tones(&self) -> impl Iterator<Item = (u32, &Run)> {
        self.runs.iter().filter_map(|r| match r.what {
            What::Tone(f) => Some((f, r)),
            _ => None,
        })
    }

    /// Panics with `message` and the whole timeline.
    pub fn fail(&self, message: &str) -> ! {
        panic!("{message}\n\nwhat aired (station-local time):\n{self}")
    }
}

impl fmt::Display for Runs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX_LINES: usize = 400;
        for run in self.runs.iter().take(MAX_LINES) {
            writeln!(
                f,
                "  {} → {}  {:>9.3} s  {}",
                local(run.start, self.tz),
                local(run.end, self.tz),
                run.duration().num_milliseconds() as f64 / 1000.0,
                self.describe(run.what)
            )?;
        }
        if self.runs.len() > MAX_LINES {
            writeln!(f, "  … and {} more runs", self.runs.len() - MAX_LINES)?;
        }
        Ok(())
    }
}

/// The run of `freq` that starts within `tolerance` of `start`.
pub fn expect_start(runs: &Runs, freq: u32, start: DateTime<Utc>, tolerance: TimeDelta) -> Run {
    if let Some(run) = runs
        .runs
        .iter()
        .find(|r| r.what == What::Tone(freq) && (r.start - start).abs() <= tolerance)
    {
        return *run;
    }
    let nearest = runs
        .runs
        .iter()
        .filter(|r| r.what == What::Tone(freq))
        .min_by_key(|r| (r.start - start).abs());
    let seen = match nearest {
        Some(r) => format!(
            "the nearest start of it is {} ({})",
            local(r.start, runs.tz),
            signed_ms(r.start - start)
        ),
        None => "it never aired".into(),
    };
    runs.fail(&format!(
        "expected {} to start at {} (± {} ms); {seen}",
        runs.describe(What::Tone(freq)),
        local(start, runs.tz),
        tolerance.num_milliseconds()
    ))
}

/// The run of `freq` from `start` to `end`, both within `tolerance`.
pub fn expect_run(
    runs: &Runs,
    freq: u32,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    tolerance: TimeDelta,
) -> Run {
    let run = expect_start(runs, freq, start, tolerance);
    if (run.end - end).abs() > tolerance {
        runs.fail(&format!(
            "expected {} from {} to {} (± {} ms); it started on time but ended at {} ({})",
            runs.describe(What::Tone(freq)),
            local(start, runs.tz),
            local(end, runs.tz),
            tolerance.num_milliseconds(),
            local(run.end, runs.tz),
            signed_ms(run.end - end)
        ));
    }
    run
}

/// From `from` to `to` only the sounds in `allowed` are heard, apart from
/// stretches shorter than `max_other` (the windows around a change).
pub fn expect_only(
    runs: &Runs,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    allowed: &[What],
    max_other: TimeDelta,
) {
    for run in runs.overlapping(from, to) {
        let overlap = run.end.min(to) - run.start.max(from);
        if !allowed.contains(&run.what) && overlap > max_other {
            let names: Vec<String> = allowed.iter().map(|w| runs.describe(*w)).collect();
            runs.fail(&format!(
                "from {} to {} only {} should air, but {} aired from {} to {}",
                local(from, runs.tz),
                local(to, runs.tz),
                names.join(" or "),
                runs.describe(run.what),
                local(run.start, runs.tz),
                local(run.end, runs.tz)
            ));
        }
    }
    if !runs.runs.iter().any(|r| r.start <= from) || !runs.runs.iter().any(|r| r.end >= to) {
        runs.fail(&format!(
            "the output does not cover {} to {}",
            local(from, runs.tz),
            local(to, runs.tz)
        ));
    }
}

/// What is heard at `t`.
pub fn expect_at(runs: &Runs, t: DateTime<Utc>, what: What) {
    let heard = runs.at(t).map(|r| r.what);
    if heard != Some(what) {
        let heard = heard.map_or("nothing (past the recording)".into(), |w| runs.describe(w));
        runs.fail(&format!(
            "expected {} at {}, heard {heard}",
            runs.describe(what),
            local(t, runs.tz)
        ));
    }
}

/// The sound on air before `boundary` fades out over `fade`: full level
/// before the fade, clearly lower halfway, silent in the last 20 ms.
pub fn expect_fade_out(aired: &Aired, runs: &Runs, boundary: DateTime<Utc>, fade: TimeDelta) {
    let level =
        |from: DateTime<Utc>, to: DateTime<Utc>| aired.level_db(from, to).unwrap_or(f64::NAN);
    let before = level(boundary - fade - ms(300), boundary - fade - ms(100));
    let halfway = level(boundary - fade / 2 - ms(50), boundary - fade / 2 + ms(50));
    let last = level(boundary - ms(20), boundary);
    let faded = before > -15.0 && halfway < before - 2.0 && halfway > before - 45.0 && last < -30.0;
    if !faded {
        let mut envelope = String::new();
        for (t, db) in aired.envelope(boundary - fade - ms(500), boundary + ms(200), ms(100)) {
            let db = db.map_or("not recorded".into(), |d| format!("{d:.1} dBFS"));
            envelope.push_str(&format!("  {}  {db}\n", local(t, runs.tz)));
        }
        runs.fail(&format!(
            "expected a fade over {} ms ending at {}: full level before it (got {before:.1} dBFS), \
             lower halfway (got {halfway:.1}), below -30 dBFS in the last 20 ms (got {last:.1})\n\
             level per 100 ms:\n{envelope}",
            fade.num_milliseconds(),
            local(boundary, runs.tz)
        ));
    }
}

/// A programme of equal steps cycling through `tones`: the position in it
/// can be read from which tone is heard and when the tone changes (an error
/// of a whole cycle cannot be seen, so keep the cycle long).
#[derive(Debug, Clone)]
pub struct Stepped {
    pub slot: DateTime<Utc>,
    pub step: TimeDelta,
    pub tones: Vec<u32>,
    pub steps: usize,
}

impl Stepped {
    pub fn tone(&self, k: usize) -> u32 {
        self.tones[k % self.tones.len()]
    }

    /// (frequency, seconds) per step, for the tone writer.
    pub fn plan(&self) -> Vec<(u32, f64)> {
        let seconds = self.step.num_milliseconds() as f64 / 1000.0;
        (0..self.steps).map(|k| (self.tone(k), seconds)).collect()
    }

    pub fn end(&self) -> DateTime<Utc> {
        self.slot + self.step * self.steps as i32
    }

    /// Checks the first change of tone at or after `from` against where the
    /// programme's steps fall, and returns when it was heard.
    pub fn expect_position(
        &self,
        runs: &Runs,
        from: DateTime<Utc>,
        tolerance: TimeDelta,
        context: &str,
    ) -> DateTime<Utc> {
        let after: Vec<&Run> = runs.runs.iter().filter(|r| r.end > from).collect();
        let Some(pair) = after.windows(2).find(|w| {
            matches!((w[0].what, w[1].what), (What::Tone(_), What::Tone(_))) && w[1].start >= from
        }) else {
            runs.fail(&format!(
                "{context}: no change of tone heard after {}",
                local(from, runs.tz)
            ));
        };
        let change = pair[1].start;
        let step_ms = self.step.num_milliseconds();
        let k = ((change - self.slot).num_milliseconds() as f64 / step_ms as f64).round() as i64;
        if k < 1 || k as usize >= self.steps {
            runs.fail(&format!(
                "{context}: a change of tone at {} is outside the programme ({} to {})",
                local(change, runs.tz),
                local(self.slot, runs.tz),
                local(self.end(), runs.tz)
            ));
        }
        let expected = self.slot + TimeDelta::milliseconds(k * step_ms);
        let k = k as usize;
        let (before, after) = (What::Tone(self.tone(k - 1)), What::Tone(self.tone(k)));
        if pair[0].what != before || pair[1].what != after || (change - expected).abs() > tolerance
        {
            runs.fail(&format!(
                "{context}: the change from step {} ({}) to step {k} ({}) belongs at {} (± {} ms); heard {} → {} at {} ({})",
                k - 1,
                runs.describe(before),
                runs.describe(after),
                local(expected, runs.tz),
                tolerance.num_milliseconds(),
                runs.describe(pair[0].what),
                runs.describe(pair[1].what),
                local(change, runs.tz),
                signed_ms(change - expected)
            ));
        }
        change
    }
}
