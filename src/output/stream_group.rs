//! Encode once, send many. Icecast outputs whose MP3 would be the same
//! (bitrate, CBR/VBR, stream rate) share one stream group: one ring from the
//! mixer, one runner thread that only encodes (it never touches the
//! network), and one sender thread per mount behind a queue of its own.
//!
//! The encoder ([`super::stream_encoder`]) hands each sender whole encoder
//! outputs ([`Mp3Chunk`](super::chunk_queue::Mp3Chunk)), never a cut inside
//! an MP3 frame, so a sender may join, drop or resume anywhere between
//! chunks and its listeners still get a stream they can decode. A sender's
//! queue holds a few seconds of programme; when it is full the oldest chunks
//! are dropped and counted
//! ([`StreamLink::frames_dropped_oldest`](super::icecast::StreamLink::frames_dropped_oldest)),
//! as a listener would rather hear what is on air now than what was on air
//! when the server stalled.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use super::chunk_queue::ChunkQueue;
use super::encoder::{Mp3Encoder, Mp3Settings};
use super::icecast::{self, IcecastSender};
use super::stream_encoder::StreamEncoder;
use super::subscriber::{ChunkSubscriber, SenderEnd, Subscription};
use super::{CHANNELS, Output, OutputContext, OutputError, OutputStats, Tap};
use crate::config::{BitrateMode, IcecastConfig};

/// Seconds of programme a sender's queue holds: enough to ride out a
/// libshout call or a name lookup that hangs for a moment, short enough that
/// a sender catching up does not put listeners seconds behind the studio.
pub const QUEUE_SECONDS: u64 = 4;

/// One configured Icecast output, as handed to [`start`].
pub struct StreamMember {
    pub name: String,
    pub config: IcecastConfig,
    /// Its counters; `stats.stream` is its link (made here when `None`).
    pub stats: Arc<OutputStats>,
}

/// The MP3 a stream output carries.
pub fn settings_of(config: &IcecastConfig, engine_rate: u32) -> Mp3Settings {
    Mp3Settings {
        input_rate: engine_rate,
        stream_rate: icecast::stream_rate(config, engine_rate),
        bitrate: config.bitrate,
        mode: config.mode,
    }
}

/// How the stream outputs share encoders: one entry per distinct MP3, with
/// the indices (into `configs`) of the outputs that carry it, in order.
pub fn plan(configs: &[&IcecastConfig], engine_rate: u32) -> Vec<(Mp3Settings, Vec<usize>)> {
    let mut groups: Vec<(Mp3Settings, Vec<usize>)> = Vec::new();
    for (index, config) in configs.iter().enumerate() {
        let settings = settings_of(config, engine_rate);
        match groups.iter_mut().find(|(s, _)| *s == settings) {
            Some((_, members)) => members.push(index),
            None => groups.push((settings, vec![index])),
        }
    }
    groups
}

/// The name an encoder goes by in the status and the logs.
pub fn encoder_name(settings: &Mp3Settings) -> String {
    let mode = match settings.mode {
        BitrateMode::Cbr => "CBR",
        BitrateMode::Vbr => "VBR",
    };
    format!(
        "MP3 {} kbit/s {mode} {} Hz",
        settings.bitrate, settings.stream_rate
    )
}

/// One thread of a running group (its encoder or one of its senders), with
/// the flag that asks it to stop.
pub(super) struct StreamThread {
    pub(super) name: String,
    pub(super) stats: Arc<OutputStats>,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) thread: JoinHandle<Result<(), OutputError>>,
}

/// A running stream group: the mixer's end of its ring, its encoder and its
/// senders (in the order of the members given).
pub struct StreamGroup {
    pub tap: Tap,
    /// Indices into the members handed to [`start`]; empty for an encoder
    /// of its own made for subscriptions no stream matched.
    pub members: Vec<usize>,
    pub(super) encoder: StreamThread,
    pub(super) senders: Vec<StreamThread>,
}

impl StreamGroup {
    /// Stops the encoder once it has encoded what is left in its ring (the
    /// mixer should have stopped writing), then the senders once they have
    /// sent what it handed them. The first failure is returned.
    pub fn shutdown(self) -> Result<(), OutputError> {
        let mut first = join(self.encoder).err();
        for sender in &self.senders {
            sender.stop.store(true, Ordering::Release);
        }
        for sender in self.senders {
            if let Err(e) = join(sender) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

pub(super) fn join(stream_thread: StreamThread) -> Result<(), OutputError> {
    stream_thread.stop.store(true, Ordering::Release);
    let name = stream_thread.name;
    stream_thread
        .thread
        .join()
        .unwrap_or(Err(OutputError::ThreadPanicked { name }))
}

/// Starts one stream group per distinct MP3 among `members`: each encoder
/// is built here, so bad settings are refused at start. Threads already
/// started are stopped again when a later one fails.
pub fn start(
    members: Vec<StreamMember>,
    subscriptions: Vec<Subscription>,
    ctx: &OutputContext,
) -> Result<Vec<StreamGroup>, OutputError> {
    let configs: Vec<&IcecastConfig> = members.iter().map(|m| &m.config).collect();
    let mut plan: Vec<(Mp3Settings, Vec<usize>, Vec<Subscription>)> = plan(&configs, ctx.rate)
        .into_iter()
        .map(|(settings, indices)| (settings, indices, Vec::new()))
        .collect();
    for subscription in subscriptions {
        match plan
            .iter()
            .position(|(s, _, _)| s.bitrate == subscription.bitrate)
        {
            Some(at) => plan[at].2.push(subscription),
            None => plan.push((
                Mp3Settings {
                    input_rate: ctx.rate,
                    stream_rate: ctx.rate,
                    bitrate: subscription.bitrate,
                    mode: BitrateMode::Cbr,
                },
                Vec::new(),
                vec![subscription],
            )),
        }
    }
    let mut members: Vec<Option<StreamMember>> = members.into_iter().map(Some).collect();
    let mut groups: Vec<StreamGroup> = Vec::with_capacity(plan.len());
    for (settings, indices, subscriptions) in plan {
        let taken = indices
            .iter()
            .filter_map(|&i| members.get_mut(i).and_then(Option::take))
            .collect();
        match start_group(settings, taken, subscriptions, ctx) {
            Ok((tap, encoder, senders)) => groups.push(StreamGroup {
                tap,
                members: indices,
                encoder,
                senders,
            }),
            Err(e) => {
                for group in groups {
                    let _ = group.shutdown();
                }
                return Err(e);
            }
        }
    }
    Ok(groups)
}

/// Senders started for a group that could not start in full: their queues
/// are closed, as their encoder will never run, and they are waited for.
fn stop_senders(senders: Vec<StreamThread>, ends: &[SenderEnd]) {
    for end in ends {
        end.queue.close();
    }
    for sender in senders {
        let _ = join(sender);
    }
}

fn start_group(
    settings: Mp3Settings,
    members: Vec<StreamMember>,
    subscriptions: Vec<Subscription>,
    ctx: &OutputContext,
) -> Result<(Tap, StreamThread, Vec<StreamThread>), OutputError> {
    let encoder_name = encoder_name(&settings);
    let streams = members
        .iter()
        .map(|m| m.name.as_str())
        .chain(subscriptions.iter().map(|s| s.name.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let encoder = Mp3Encoder::new(settings).map_err(|source| OutputError::Encoder {
        streams: streams.clone(),
        encoder: encoder_name.clone(),
        source,
    })?;
    let capacity = u64::from(ctx.rate) * QUEUE_SECONDS;
    let mut senders: Vec<StreamThread> = Vec::with_capacity(members.len());
    let mut ends: Vec<SenderEnd> = Vec::with_capacity(members.len());
    for member in &members {
        let link = member.stats.stream.clone().unwrap_or_default();
        link.set_encoder(&encoder_name, members.len());
        let queue = match ChunkQueue::new(capacity) {
            Ok(queue) => Arc::new(queue),
            Err(e) => {
                stop_senders(senders, &ends);
                return Err(OutputError::Open {
                    name: member.name.clone(),
                    message: e.to_string(),
                });
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let sender = IcecastSender::new(&member.name, &member.config, settings, link.clone());
        let thread = {
            let (queue, stop) = (queue.clone(), stop.clone());
            std::thread::Builder::new()
                .name(format!("output {}", member.name))
                .spawn(move || {
                    sender.run(&queue, &stop);
                    Ok(())
                })
        };
        let thread = match thread {
            Ok(thread) => thread,
            Err(e) => {
                stop_senders(senders, &ends);
                return Err(OutputError::Open {
                    name: member.name.clone(),
                    message: format!(
                        "cannot start its thread: {e}; the system is out of resources"
                    ),
                });
            }
        };
        senders.push(StreamThread {
            name: member.name.clone(),
            stats: member.stats.clone(),
            stop,
            thread,
        });
        ends.push(SenderEnd {
            queue,
            link,
            stats: member.stats.clone(),
        });
    }
    let group_stats = Arc::new(OutputStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let others = subscriptions.len();
    let mut subscribers: Vec<Box<dyn ChunkSubscriber>> = ends
        .into_iter()
        .map(|end| Box::new(end) as Box<dyn ChunkSubscriber>)
        .collect();
    subscribers.extend(subscriptions.into_iter().map(|s| s.subscriber));
    for subscriber in &mut subscribers {
        subscriber.attach(&settings);
    }
    let output = StreamEncoder::new(
        encoder_name,
        streams.clone(),
        encoder,
        subscribers,
        group_stats.clone(),
    );
    let name = output.name();
    let frames = (ctx.rate as f64 * super::file_ring_seconds(ctx.clock.speed())) as usize;
    let (ring, consumer) = rtrb::RingBuffer::new(frames.max(1) * CHANNELS);
    let thread = match super::start_runner(
        Box::new(output),
        consumer,
        group_stats.clone(),
        stop.clone(),
        super::RETRY_AFTER,
    ) {
        Ok(thread) => thread,
        Err(e) => {
            // The encoder went with the thread that could not start, and
            // closed the senders' queues as it went.
            stop_senders(senders, &[]);
            return Err(e);
        }
    };
    if others == 0 {
        tracing::info!(
            "{name}: one encoder for {} stream(s): {streams}",
            members.len()
        );
    } else {
        tracing::info!(
            "{name}: one encoder for {} stream(s) and {others} other taker(s): {streams}",
            members.len()
        );
    }
    let tap = Tap {
        name: name.clone(),
        ring,
        stats: group_stats.clone(),
    };
    let encoder = StreamThread {
        name,
        stats: group_stats,
        stop,
        thread,
    };
    Ok((tap, encoder, senders))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn icecast(port: u16, mount: &str, bitrate: u32) -> IcecastConfig {
        IcecastConfig::local(port, mount, bitrate)
    }

    #[test]
    fn an_encoder_that_refuses_its_settings_names_itself_its_streams_and_the_fix() {
        // Bad input: 100 kbit/s is no MP3 bitrate.
        let member = |mount: &str| StreamMember {
            name: format!("icecast 127.0.0.1:8000{mount}"),
            config: icecast(8000, mount, 100),
            stats: Arc::new(OutputStats::default()),
        };
        let ctx = OutputContext {
            rate: 48_000,
            timeline: crate::clock::Timeline {
                rate: 48_000,
                anchor: chrono::Utc::now(),
            },
            clock: crate::clock::Clock::Wall,
            timezone: chrono_tz::UTC,
            station: "Test FM".to_string(),
        };
        let error = match start(vec![member("/a.mp3"), member("/b.mp3")], Vec::new(), &ctx) {
            Ok(_) => panic!("an encoder at 100 kbit/s was started"),
            Err(e) => e,
        };
        assert!(matches!(error, OutputError::Encoder { .. }), "{error:?}");
        let message = error.to_string();
        assert!(
            message.starts_with(
                "output icecast 127.0.0.1:8000/a.mp3, icecast 127.0.0.1:8000/b.mp3: \
                 encoder MP3 100 kbit/s CBR 48000 Hz: "
            ),
            "{message}"
        );
        assert!(message.contains("choose another bitrate"), "{message}");
    }

    #[test]
    fn streams_with_the_same_mp3_share_an_encoder() {
        let a = icecast(8000, "/a.mp3", 128);
        let b = icecast(8001, "/b.mp3", 128);
        let low = icecast(8000, "/low.mp3", 64);
        let mut resampled = icecast(8000, "/c.mp3", 128);
        resampled.sample_rate = Some(44_100);
        // At 48 kHz the 44.1 kHz stream is another MP3; at 44.1 kHz it is the same.
        let groups = plan(&[&a, &low, &b, &resampled], 48_000);
        let members: Vec<&Vec<usize>> = groups.iter().map(|(_, m)| m).collect();
        assert_eq!(members, [&vec![0, 2], &vec![1], &vec![3]]);
        let groups = plan(&[&a, &low, &b, &resampled], 44_100);
        let members: Vec<&Vec<usize>> = groups.iter().map(|(_, m)| m).collect();
        assert_eq!(members, [&vec![0, 2, 3], &vec![1]]);
        assert_eq!(encoder_name(&groups[1].0), "MP3 64 kbit/s CBR 44100 Hz");
    }
}
