//! `GET /metrics`: the box for Prometheus, in the text exposition
//! (OpenMetrics) of the official client, `prometheus-client`.
//!
//! - From the status snapshot (`onair_` names): each output's frames out,
//!   dropped and underrun and its errors, labelled `output`; each stream's
//!   connection state (`onair_stream_state{output, state}`, 1 for the
//!   state it is in), bytes sent and reconnections; the source underruns;
//!   the mode on air; the alarms, one series per kind (1 while raised).
//! - From the archive, per channel, quality and hour (wubloader's names,
//!   so its coverage dashboards read them): `segment_count{type}` (`full`,
//!   `suspect`, `partial`, `bad`), `segment_duration{type}` (s),
//!   `raw_coverage` and `editable_coverage` (s), `raw_holes` and
//!   `editable_holes` (how many), `overlap_count{type}` and
//!   `overlap_duration{type}` (s), from the same figures as
//!   `/coverage/…json` ([`crate::archive::coverage`]).
//!
//! - From the job queue, on a box that runs one: `onair_jobs{state}`, how
//!   many jobs are in each state (`waiting`, `running`, `done`, `failed`,
//!   `interrupted`, `cancelled`).
//!
//! The registry is made afresh for each scrape from what is there now, so
//! an hour that retention deleted is simply gone from the next answer
//! (wubloader's hour series grew for ever). Reading needs a login only
//! when the status page does.

use std::sync::atomic::AtomicU64;

use axum::extract::State as Extract;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::State;
use super::archive::ArchiveView;
use crate::archive::coverage::{self, HourCoverage};
use crate::archive::listing;
use crate::archive::names::SegmentType;
use crate::status::{AlarmKind, Mode, Status};

type Labels = Vec<(&'static str, String)>;
type Counters = Family<Labels, Counter>;
type Gauges = Family<Labels, Gauge<f64, AtomicU64>>;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub async fn metrics(state: Extract<State>, headers: HeaderMap) -> Response {
    metrics_with_jobs(state, headers, None).await
}

/// [`metrics`], with the job counts of the box's queue.
pub async fn metrics_with_jobs(
    Extract(state): Extract<State>,
    headers: HeaderMap,
    jobs: Option<crate::jobs::Jobs>,
) -> Response {
    if let Err(refusal) = state.access.reader(&headers) {
        return refusal.into_response();
    }
    let status = state.status.borrow().clone();
    let archive = state.archive.clone();
    let text = tokio::task::spawn_blocking(move || {
        let mut text = exposition(&status, archive.as_ref())?;
        if let Some(jobs) = jobs {
            let list = jobs.list().map_err(|e| e.to_string())?;
            // The exposition ends with `# EOF`: the jobs' family goes before it.
            let end = text.rfind("# EOF").unwrap_or(text.len());
            text.insert_str(end, &job_counts(&list)?);
        }
        Ok::<_, String>(text)
    })
    .await;
    match text {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Ok(Err(e)) => super::access::error(StatusCode::INTERNAL_SERVER_ERROR, &e, None),
        Err(e) => super::access::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("the metrics could not be gathered: {e}"),
            None,
        ),
    }
}

/// The whole answer: the box's counters, then the archive's coverage.
pub fn exposition(status: &Status, archive: Option<&ArchiveView>) -> Result<String, String> {
    let mut registry = Registry::default();
    register_status(registry.sub_registry_with_prefix("onair"), status);
    if let Some(archive) = archive {
        let coverage = Coverage::default();
        coverage.gather(archive)?;
        coverage.register(&mut registry);
    }
    let mut text = String::new();
    encode(&mut text, &registry).map_err(|e| format!("cannot write the metrics: {e}"))?;
    Ok(text)
}

/// `onair_jobs{state}`: how many jobs are in each state, as exposition
/// lines without the end marker.
fn job_counts(jobs: &[crate::jobs::Job]) -> Result<String, String> {
    let mut registry = Registry::default();
    let counts = Gauges::default();
    for state in [
        "waiting",
        "running",
        "done",
        "failed",
        "interrupted",
        "cancelled",
    ] {
        let n = jobs.iter().filter(|j| j.status.word() == state).count();
        counts
            .get_or_create(&vec![("state", state.to_string())])
            .set(n as f64);
    }
    registry.sub_registry_with_prefix("onair").register(
        "jobs",
        "Jobs in the queue, by state",
        counts,
    );
    let mut text = String::new();
    encode(&mut text, &registry).map_err(|e| format!("cannot write the metrics: {e}"))?;
    Ok(text.trim_end().trim_end_matches("# EOF").to_string())
}

fn register_status(registry: &mut Registry, status: &Status) {
    let frames_out = Counters::default();
    let dropped = Counters::default();
    let underrun = Counters::default();
    let errors = Counters::default();
    let stream_state = Gauges::default();
    let bytes_sent = Counters::default();
    let reconnects = Counters::default();
    for output in &status.outputs {
        let labels = vec![("output", output.name.clone())];
        frames_out.get_or_create(&labels).inc_by(output.frames_out);
        dropped.get_or_create(&labels).inc_by(output.frames_dropped);
        underrun
            .get_or_create(&labels)
            .inc_by(output.frames_underrun);
        errors.get_or_create(&labels).inc_by(output.errors);
        if let Some(stream) = &output.stream {
            let now = connection_state(&stream.connection);
            for state in ["connecting", "connected", "retrying", "refused"] {
                let mut labels = labels.clone();
                labels.push(("state", state.to_string()));
                stream_state
                    .get_or_create(&labels)
                    .set(f64::from(u8::from(state == now)));
            }
            bytes_sent.get_or_create(&labels).inc_by(stream.bytes_sent);
            reconnects.get_or_create(&labels).inc_by(stream.reconnects);
        }
    }
    registry.register(
        "output_frames_out",
        "Frames of programme an output has taken",
        frames_out,
    );
    registry.register(
        "output_frames_dropped",
        "Frames an output dropped (it fell behind, or its disk or server failed)",
        dropped,
    );
    registry.register(
        "output_frames_underrun",
        "Frames an output had to fill with silence",
        underrun,
    );
    registry.register("output_errors", "Errors an output counted", errors);
    registry.register(
        "stream_state",
        "A stream's connection: 1 for the state it is in",
        stream_state,
    );
    registry.register(
        "stream_bytes_sent",
        "Bytes a stream sent to its server",
        bytes_sent,
    );
    registry.register(
        "stream_reconnects",
        "Connections a stream made after its first",
        reconnects,
    );
    let underruns = Counter::<u64>::default();
    underruns.inc_by(status.underruns);
    registry.register(
        "source_underruns",
        "Frames a source could not deliver in time",
        underruns,
    );
    let mode = Gauges::default();
    for m in [
        Mode::Auto,
        Mode::Live,
        Mode::Filler,
        Mode::Emergency,
        Mode::Silent,
    ] {
        mode.get_or_create(&vec![("mode", m.as_str().to_string())])
            .set(f64::from(u8::from(status.mode == m)));
    }
    registry.register("mode", "What is on air: 1 for the mode the box is in", mode);
    let alarms = Gauges::default();
    for kind in [
        AlarmKind::DeadAir,
        AlarmKind::LiveSilence,
        AlarmKind::LiveInput,
        AlarmKind::Stream,
    ] {
        let raised = status.alarms.iter().any(|a| a.kind == kind);
        alarms
            .get_or_create(&vec![("kind", kind.as_str().to_string())])
            .set(f64::from(u8::from(raised)));
    }
    registry.register("alarm", "1 while an alarm of this kind is raised", alarms);
    register_recordings(registry, status);
}

/// The recorded channels: what each is doing, and what it has kept.
fn register_recordings(registry: &mut Registry, status: &Status) {
    if status.recordings.is_empty() {
        return;
    }
    let state = Gauges::default();
    let bytes = Counters::default();
    let seconds = Gauges::default();
    let dropped = Gauges::default();
    let connections = Counters::default();
    for r in &status.recordings {
        let labels = vec![
            ("channel", r.name.clone()),
            ("category", r.category.clone()),
        ];
        let now = match &r.status.state {
            crate::recorder::ChannelState::Connecting => "connecting",
            crate::recorder::ChannelState::Recording => "recording",
            crate::recorder::ChannelState::Reconnecting { .. } => "reconnecting",
            crate::recorder::ChannelState::Stopped => "stopped",
        };
        for word in ["connecting", "recording", "reconnecting", "stopped"] {
            let mut labels = labels.clone();
            labels.push(("state", word.to_string()));
            state
                .get_or_create(&labels)
                .set(f64::from(u8::from(word == now)));
        }
        bytes.get_or_create(&labels).inc_by(r.status.bytes);
        seconds.get_or_create(&labels).set(r.status.seconds);
        dropped.get_or_create(&labels).set(r.status.dropped_seconds);
        connections
            .get_or_create(&labels)
            .inc_by(r.status.connections);
    }
    registry.register(
        "recording_state",
        "A recorded channel: 1 for the state it is in",
        state,
    );
    registry.register(
        "recording_bytes",
        "Bytes of a recorded channel's audio kept since the box started",
        bytes,
    );
    registry.register(
        "recording_seconds",
        "Seconds of a recorded channel's audio kept since the box started",
        seconds,
    );
    registry.register(
        "recording_dropped_seconds",
        "Seconds of a recorded channel's audio that reached the box but not the disk",
        dropped,
    );
    registry.register(
        "recording_connections",
        "Connections a recorded channel's recorder made to its stream",
        connections,
    );
}

fn connection_state(connection: &crate::output::stream_link::Connection) -> &'static str {
    use crate::output::stream_link::Connection::*;
    match connection {
        Connecting => "connecting",
        Connected { .. } => "connected",
        Retrying { .. } => "retrying",
        Refused { .. } => "refused",
    }
}

/// The coverage gauges, wubloader's names.
#[derive(Default)]
struct Coverage {
    segment_count: Gauges,
    segment_duration: Gauges,
    raw_coverage: Gauges,
    editable_coverage: Gauges,
    raw_holes: Gauges,
    editable_holes: Gauges,
    overlap_count: Gauges,
    overlap_duration: Gauges,
}

impl Coverage {
    /// Every hour of every channel and quality the archive holds now.
    fn gather(&self, archive: &ArchiveView) -> Result<(), String> {
        let unreadable = |e: std::io::Error| format!("cannot read the archive: {e}");
        for channel in listing::folders(&archive.root).map_err(unreadable)? {
            let channel_dir = archive.root.join(&channel);
            for quality in listing::folders(&channel_dir).map_err(unreadable)? {
                let dir = channel_dir.join(&quality);
                for hour in
                    coverage::quality(&archive.best, &dir, None, None).map_err(unreadable)?
                {
                    self.hour(&channel, &quality, &hour);
                }
            }
        }
        Ok(())
    }

    fn hour(&self, channel: &str, quality: &str, hour: &HourCoverage) {
        let labels: Labels = vec![
            ("channel", channel.to_string()),
            ("quality", quality.to_string()),
            ("hour", hour.hour.clone()),
        ];
        let typed = |kind: &str| {
            let mut labels = labels.clone();
            labels.push(("type", kind.to_string()));
            labels
        };
        let set = |family: &Gauges, labels: &Labels, value: f64| {
            family.get_or_create(labels).set(value);
        };
        let kinds = [
            (
                SegmentType::Full,
                hour.segments.full,
                hour.segment_seconds.full,
            ),
            (
                SegmentType::Suspect,
                hour.segments.suspect,
                hour.segment_seconds.suspect,
            ),
            (
                SegmentType::Partial,
                hour.segments.partial,
                hour.segment_seconds.partial,
            ),
        ];
        for (kind, count, seconds) in kinds {
            let labels = typed(kind.as_str());
            set(&self.segment_count, &labels, f64::from(count));
            set(&self.segment_duration, &labels, seconds);
            let (overlaps, overlapped) = hour.overlaps_of(kind);
            set(&self.overlap_count, &labels, f64::from(overlaps));
            set(&self.overlap_duration, &labels, overlapped);
        }
        set(&self.segment_count, &typed("bad"), f64::from(hour.bad));
        set(&self.raw_coverage, &labels, hour.raw_coverage);
        set(&self.editable_coverage, &labels, hour.editable_coverage);
        set(&self.raw_holes, &labels, hour.raw_holes.len() as f64);
        set(
            &self.editable_holes,
            &labels,
            hour.editable_holes.len() as f64,
        );
    }

    fn register(self, registry: &mut Registry) {
        registry.register(
            "segment_count",
            "Segments an archive hour lists, by type (bad: names that are no segment's)",
            self.segment_count,
        );
        registry.register(
            "segment_duration",
            "Seconds of the segments an archive hour lists, by type",
            self.segment_duration,
        );
        registry.register(
            "raw_coverage",
            "Seconds of an archive hour any best segment covers",
            self.raw_coverage,
        );
        registry.register(
            "editable_coverage",
            "Seconds of an archive hour the non-overlapping chain of best segments covers",
            self.editable_coverage,
        );
        registry.register(
            "raw_holes",
            "Holes in an archive hour where no segment is",
            self.raw_holes,
        );
        registry.register(
            "editable_holes",
            "Holes in the chain of best segments of an archive hour",
            self.editable_holes,
        );
        registry.register(
            "overlap_count",
            "Segments of an archive hour skipped because they overlap the chain, by type",
            self.overlap_count,
        );
        registry.register(
            "overlap_duration",
            "Seconds by which skipped segments overlap the chain, by type",
            self.overlap_duration,
        );
    }
}

#[cfg(test)]
mod tests;
