//! The screen task end to end on a pretend module: it publishes the frame
//! for the latest status, the module shows the same, a status change
//! reaches both, a display that cannot be opened is tried again later
//! while frames go on, and stopping blanks the display.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::fake_i2c::FakeI2c;
use super::{now, snapshot};
use crate::panel::Frame;
use crate::panel::oled::{Controller, Oled, OledError};
use crate::panel::render::render;
use crate::panel::screen::{self, DisplayConfig, DisplayKind, Screen};
use crate::status::Status;

/// An alarm short enough not to scroll, so its picture does not depend on
/// how many frames the task has rendered.
fn dead_air() -> crate::status::Alarm {
    crate::status::Alarm {
        message: "silent 15 s".into(),
        ..super::dead_air()
    }
}

fn expected(status: &Status) -> Frame {
    let mut frame = Frame::default();
    render(status, now(), 0, &mut frame);
    frame
}

/// Waits (up to 5 s) until `check` holds.
#[track_caller]
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < until, "{what}: not within 5 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn start(bus: &FakeI2c, status: watch::Receiver<Status>) -> Screen {
    let bus = bus.clone();
    let open = move || {
        let mut oled = Oled::new(bus.clone(), Controller::Ssd1306, 0x3C, "test");
        oled.init()?;
        Ok(Some(oled))
    };
    screen::start_with(open, status, now).unwrap()
}

#[test]
fn the_screen_publishes_and_shows_the_latest_status() {
    let bus = FakeI2c::new(Controller::Ssd1306, 0x3C);
    let (status_tx, status_rx) = watch::channel(snapshot());
    let screen = start(&bus, status_rx);
    let frames = screen.frames();

    let first = expected(&snapshot());
    eventually("the first frame published", || *frames.borrow() == first);
    eventually("the first frame shown", || bus.module().shown() == first);

    let mut alarmed = snapshot();
    alarmed.alarms = vec![dead_air()];
    let second = expected(&alarmed);
    status_tx.send(alarmed).unwrap();
    eventually("the alarm published", || *frames.borrow() == second);
    eventually("the alarm shown", || bus.module().shown() == second);
    // The same picture is not sent again and again.
    bus.module().forget_writes();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(bus.module().data_bytes, 0);

    screen.stop();
    let module = bus.module();
    assert_eq!(module.shown(), Frame::default(), "blank at stop");
    assert!(!module.on, "off at stop");
}

#[test]
fn a_display_that_fails_is_tried_again_later_and_frames_go_on() {
    let tries = Arc::new(AtomicUsize::new(0));
    let counted = tries.clone();
    let open = move || -> Result<Option<Oled<FakeI2c>>, OledError> {
        counted.fetch_add(1, Ordering::SeqCst);
        Err(OledError::NoBus {
            bus: "/dev/i2c-1".into(),
        })
    };
    let (_status_tx, status_rx) = watch::channel(snapshot());
    let screen = screen::start_with(open, status_rx, now).unwrap();
    let frames = screen.frames();
    let first = expected(&snapshot());
    eventually("frames without a display", || *frames.borrow() == first);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        tries.load(Ordering::SeqCst),
        1,
        "not again before {:?}",
        screen::RETRY
    );
    screen.stop();
}

#[test]
fn a_display_that_stops_answering_comes_back() {
    let bus = FakeI2c::new(Controller::Ssd1306, 0x3C);
    let (status_tx, status_rx) = watch::channel(snapshot());
    let screen = start(&bus, status_rx);
    let first = expected(&snapshot());
    eventually("the first frame shown", || bus.module().shown() == first);
    // Unplugged: the flush fails, the frames go on.
    bus.module().fail = Some(embedded_hal::i2c::ErrorKind::Bus);
    let mut alarmed = snapshot();
    alarmed.alarms = vec![dead_air()];
    let second = expected(&alarmed);
    status_tx.send(alarmed).unwrap();
    let frames = screen.frames();
    eventually("the alarm published", || *frames.borrow() == second);
    assert_eq!(bus.module().shown(), first);
    drop(screen);
}

#[test]
fn no_display_configured_still_publishes_frames() {
    let config = DisplayConfig::default();
    assert_eq!(config.kind, DisplayKind::None);
    assert_eq!(config.bus, std::path::PathBuf::from("/dev/i2c-1"));
    assert_eq!(config.address, 0x3C);
    let (_status_tx, status_rx) = watch::channel(Status::default());
    let screen = screen::start(&config, status_rx, crate::clock::Clock::Wall).unwrap();
    let frames = screen.frames();
    eventually("a frame with the clock", || {
        *frames.borrow() != Frame::default()
    });
    screen.stop();
}

#[test]
fn a_configured_display_on_a_missing_bus_does_not_stop_the_frames() {
    let config = DisplayConfig {
        kind: DisplayKind::Sh1106,
        bus: "/dev/i2c-onair-test-absent".into(),
        address: 0x3C,
    };
    let (_status_tx, status_rx) = watch::channel(Status::default());
    let screen = screen::start(&config, status_rx, crate::clock::Clock::Wall).unwrap();
    let frames = screen.frames();
    eventually("a frame with the clock", || {
        *frames.borrow() != Frame::default()
    });
    screen.stop();
}

/// Starts a screen without a display whose station time counts how often
/// it was asked for: once per rendered frame.
fn counting_screen() -> (Screen, Arc<AtomicUsize>, watch::Sender<Status>) {
    let renders = Arc::new(AtomicUsize::new(0));
    let counted = renders.clone();
    let open = || -> Result<Option<Oled<FakeI2c>>, OledError> { Ok(None) };
    let (status_tx, status_rx) = watch::channel(snapshot());
    let time = move || {
        counted.fetch_add(1, Ordering::SeqCst);
        now()
    };
    (
        screen::start_with(open, status_rx, time).unwrap(),
        renders,
        status_tx,
    )
}

/// Renders over `stretch`.
fn renders_over(renders: &AtomicUsize, stretch: Duration) -> usize {
    let before = renders.load(Ordering::SeqCst);
    std::thread::sleep(stretch);
    renders.load(Ordering::SeqCst) - before
}

#[test]
fn without_a_display_the_screen_renders_at_full_rate_only_while_a_page_watches() {
    let (screen, renders, _status) = counting_screen();
    let mirror = screen.mirror();
    eventually("the first frame", || {
        mirror.latest() == expected(&snapshot())
    });

    let idle = renders_over(&renders, Duration::from_secs(3));
    assert_eq!(idle, 0, "nobody sees it: rendered {idle} in 3 s");

    let watching = mirror.watch();
    let watched = renders_over(&renders, Duration::from_secs(2));
    assert!(
        watched >= 8,
        "a page watches: {} frames a second, rendered {watched} in 2 s",
        crate::panel::render::FRAMES_PER_SECOND
    );
    assert!(watched <= 2 * 8 + 2, "rendered {watched} in 2 s");

    drop(watching);
    std::thread::sleep(Duration::from_millis(500));
    let after = renders_over(&renders, Duration::from_secs(3));
    assert_eq!(after, 0, "the page gone: rendered {after} in 3 s");
    screen.stop();
}

#[test]
fn a_page_that_starts_watching_gets_its_frames_at_once() {
    let (screen, renders, _status) = counting_screen();
    let mirror = screen.mirror();
    eventually("the first frame", || renders.load(Ordering::SeqCst) >= 1);
    // Just after the first frame: unseen, the next would be a minute away.
    let before = renders.load(Ordering::SeqCst);
    let _watching = mirror.watch();
    let asked = Instant::now();
    eventually("a frame for the page", || {
        renders.load(Ordering::SeqCst) > before
    });
    assert!(
        asked.elapsed() < Duration::from_millis(500),
        "the page waited {:?} for its first frame",
        asked.elapsed()
    );
    screen.stop();
}

#[test]
fn with_a_display_the_screen_renders_at_full_rate() {
    let bus = FakeI2c::new(Controller::Ssd1306, 0x3C);
    let renders = Arc::new(AtomicUsize::new(0));
    let counted = renders.clone();
    let open = {
        let bus = bus.clone();
        move || {
            let mut oled = Oled::new(bus.clone(), Controller::Ssd1306, 0x3C, "test");
            oled.init()?;
            Ok(Some(oled))
        }
    };
    let (_status_tx, status_rx) = watch::channel(snapshot());
    let time = move || {
        counted.fetch_add(1, Ordering::SeqCst);
        now()
    };
    let screen = screen::start_with(open, status_rx, time).unwrap();
    eventually("the first frame shown", || {
        bus.module().shown() == expected(&snapshot())
    });
    let shown = renders_over(&renders, Duration::from_secs(2));
    assert!(shown >= 8, "a display: rendered {shown} in 2 s");
    screen.stop();
}
