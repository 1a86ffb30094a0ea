use super::*;

fn range(channels: u16, min: u32, max: u32, format: SampleFormat) -> SupportedStreamConfigRange {
    SupportedStreamConfigRange::new(
        channels,
        min,
        max,
        SupportedBufferSize::Range { min: 64, max: 8192 },
        format,
    )
}

#[test]
fn prefers_float_stereo_at_the_engine_rate() {
    let ranges = [
        range(2, 48_000, 48_000, SampleFormat::I16),
        range(1, 48_000, 48_000, SampleFormat::F32),
        range(2, 8_000, 192_000, SampleFormat::F32),
        range(2, 48_000, 48_000, SampleFormat::I32),
    ];
    let setup = choose(&ranges, 48_000).unwrap();
    assert_eq!(setup.format, SampleFormat::F32);
    assert_eq!(setup.config.channels, 2);
    assert_eq!(setup.config.sample_rate, 48_000);
    assert_eq!(setup.config.buffer_size, BufferSize::Fixed(480));
}

#[test]
fn takes_an_integer_format_when_there_is_no_float() {
    let ranges = [
        range(2, 44_100, 48_000, SampleFormat::U8),
        range(2, 44_100, 48_000, SampleFormat::I16),
    ];
    assert_eq!(choose(&ranges, 44_100).unwrap().format, SampleFormat::I16);
}

#[test]
fn explains_an_unsupported_rate_or_channel_count() {
    // A card fixed at 44.1 kHz asked for 48 kHz.
    let ranges = [range(2, 44_100, 44_100, SampleFormat::I16)];
    let message = choose(&ranges, 48_000).unwrap_err();
    assert!(message.contains("48000 Hz"), "{message}");
    assert!(message.contains("44100 Hz"), "{message}");
    assert!(message.contains("sample_rate"), "{message}");

    // A mono-only device.
    let ranges = [range(1, 48_000, 48_000, SampleFormat::F32)];
    let message = choose(&ranges, 48_000).unwrap_err();
    assert!(
        message.contains("stereo") && message.contains("plughw"),
        "{message}"
    );

    // Only DSD: nothing onair can produce.
    let ranges = [range(2, 48_000, 48_000, SampleFormat::DsdU8)];
    let message = choose(&ranges, 48_000).unwrap_err();
    assert!(message.contains("sample formats"), "{message}");
}

#[test]
fn the_ring_covers_several_device_periods() {
    assert_eq!(ring_frames(48_000, None), 4800);
    assert_eq!(ring_frames(48_000, Some(480)), 4800);
    assert_eq!(ring_frames(48_000, Some(2048)), 6144);
}

#[test]
fn a_missing_device_is_drained_at_its_own_pace() {
    let (mut producer, mut consumer) = rtrb::RingBuffer::<f32>::new(48_000 * 2);
    producer.push_entire_slice(&vec![0.1; 48_000 * 2]).unwrap();
    let start = Instant::now();
    let mut drain = PacedDrain::new(start);
    // 100 ms later, 100 ms of audio is gone, not the whole ring.
    assert_eq!(
        drain.take(&mut consumer, start + Duration::from_millis(100), 48_000),
        4800
    );
    assert_eq!(
        drain.take(&mut consumer, start + Duration::from_millis(100), 48_000),
        0
    );
    assert_eq!(consumer.slots(), (48_000 - 4800) * 2);
    // The ring runs short: what is there goes, and the shortfall is not made up later.
    assert_eq!(
        drain.take(&mut consumer, start + Duration::from_millis(2000), 48_000),
        43_200
    );
    producer.push_entire_slice(&vec![0.1; 48_000 * 2]).unwrap();
    assert_eq!(
        drain.take(&mut consumer, start + Duration::from_millis(2010), 48_000),
        480
    );
}

/// A device callback on a ring of `samples`, as a stream would hold it; the
/// receiver gets the ring back when the callback is dropped.
fn device_callback(
    samples: usize,
) -> (
    DeviceCallback,
    Arc<DeviceState>,
    rtrb::Producer<f32>,
    mpsc::Receiver<rtrb::Consumer<f32>>,
) {
    let (producer, consumer) = rtrb::RingBuffer::<f32>::new(samples);
    let (back, back_rx) = mpsc::channel();
    let (errors, _) = mpsc::sync_channel(1);
    let state = Arc::new(DeviceState {
        stats: Arc::new(OutputStats::default()),
        stop: Arc::new(AtomicBool::new(false)),
        callbacks: AtomicU64::new(0),
        emptied_after_stop: AtomicU64::new(u64::MAX),
        broken: AtomicBool::new(false),
        xruns: AtomicU64::new(0),
        errors,
        thread_bell: Bell::default(),
    });
    let callback = DeviceCallback {
        ring: Some(consumer),
        back,
        state: state.clone(),
        primed: false,
    };
    (callback, state, producer, back_rx)
}

#[test]
fn a_feed_plays_silence_and_counts_the_shortfall_once_audio_has_started() {
    let (mut callback, state, mut producer, back_rx) = device_callback(4096);
    let mut out = [7i16; 8];
    // Before the engine's first block: silence, not an underrun.
    callback.fill(&mut out);
    assert_eq!(out, [0; 8]);
    assert_eq!(state.stats.frames_underrun.load(Ordering::Relaxed), 0);
    // Half a period of audio (one sample over full scale): the silence
    // after it is heard between programme, so it is two frames of
    // underrun. Then an empty ring: four more.
    producer.push_entire_slice(&[0.5, -0.5, 1.5, -1.0]).unwrap();
    callback.fill(&mut out);
    assert_eq!(out, [16384, -16384, 32767, -32768, 0, 0, 0, 0]);
    assert_eq!(state.stats.frames_out.load(Ordering::Relaxed), 2);
    assert_eq!(state.stats.frames_underrun.load(Ordering::Relaxed), 2);
    callback.fill(&mut out);
    assert_eq!(state.stats.frames_underrun.load(Ordering::Relaxed), 6);
    // Dropping the callback (the stream ended) hands the ring back.
    drop(callback);
    let mut ring = back_rx.try_recv().unwrap();
    producer.push(0.25).unwrap();
    assert_eq!(ring.pop(), Ok(0.25));
}

#[test]
fn the_end_of_the_programme_is_marked_only_by_a_callback_after_the_stop() {
    let (mut callback, state, mut producer, _back) = device_callback(4096);
    let mut out = [0.0f32; 8];
    producer.push_entire_slice(&[0.5; 8]).unwrap();
    callback.fill(&mut out);
    // The ring ran empty before the stop: the mixer may still push its
    // last blocks, so this is an underrun, not the end.
    callback.fill(&mut out);
    assert_eq!(state.stats.frames_underrun.load(Ordering::Relaxed), 4);
    assert_eq!(state.emptied_after_stop.load(Ordering::Relaxed), u64::MAX);
    // The last blocks, then the stop: they are played out, and the silence
    // after them is not an underrun.
    producer.push_entire_slice(&[0.25; 12]).unwrap();
    state.stop.store(true, Ordering::Release);
    callback.fill(&mut out);
    assert_eq!(out, [0.25; 8]);
    assert_eq!(state.emptied_after_stop.load(Ordering::Relaxed), u64::MAX);
    callback.fill(&mut out);
    assert_eq!(out, [0.25, 0.25, 0.25, 0.25, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(state.emptied_after_stop.load(Ordering::Relaxed), 4);
    callback.fill(&mut out);
    assert_eq!(state.emptied_after_stop.load(Ordering::Relaxed), 4);
    assert_eq!(state.stats.frames_underrun.load(Ordering::Relaxed), 4);
    assert_eq!(state.stats.frames_out.load(Ordering::Relaxed), 4 + 6);
}
