//! The panel's logic and its thread over simulated pins and a test's own:
//! presses become commands once each, lamps are off at start and at the
//! end and follow the status in between.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use embedded_hal::digital::{ErrorKind, ErrorType, OutputPin};
use tokio::sync::watch;

use super::sim::{SimButton, SimLamp};
use super::*;
use crate::config::{PanelConfig, PanelPins};
use crate::status::{Alarm, AlarmKind, Lamps, Mode, Status};

const DEBOUNCE: Duration = Duration::from_millis(30);
const ALL_LIT: Lamps = Lamps {
    on_air: true,
    live: true,
    alarm: true,
};

fn sim_panel(buttons: &SimButtons, levels: &watch::Sender<Lamps>) -> Panel<SimButton, SimLamp> {
    Panel::new(
        Button::ALL.map(|b| SimButton::new(buttons, b)),
        SimLamp::all(levels),
        DEBOUNCE,
    )
}

#[test]
fn the_lamps_are_off_from_the_moment_the_panel_is_made_until_after_it_is_gone() {
    // Lamps left lit from before (a relay still energised).
    let (levels, seen) = watch::channel(ALL_LIT);
    let buttons = SimButtons::default();
    let mut panel = sim_panel(&buttons, &levels);
    assert_eq!(*seen.borrow(), Lamps::default());
    assert_eq!(panel.show(ALL_LIT), Some(ALL_LIT));
    assert_eq!(*seen.borrow(), ALL_LIT);
    drop(panel);
    assert_eq!(*seen.borrow(), Lamps::default(), "dropped: all off");
}

#[test]
fn presses_are_read_through_the_debounce_on_every_button() {
    let (levels, _seen) = watch::channel(Lamps::default());
    let buttons = SimButtons::default();
    let mut panel = sim_panel(&buttons, &levels);
    let ms = Duration::from_millis;
    let mut presses = Vec::new();
    let mut at = Duration::ZERO;
    let mut run = |panel: &mut Panel<_, _>, until: Duration, presses: &mut Vec<Button>| {
        while at < until {
            presses.extend(panel.poll(at));
            at += ms(10);
        }
    };
    run(&mut panel, ms(100), &mut presses);
    buttons.set(Button::Auto, true);
    buttons.set(Button::Skip, true);
    run(&mut panel, ms(300), &mut presses);
    buttons.set(Button::Auto, false);
    run(&mut panel, ms(400), &mut presses);
    buttons.set(Button::Auto, true);
    run(&mut panel, ms(500), &mut presses);
    assert_eq!(presses, [Button::Auto, Button::Skip, Button::Auto]);
}

/// A lamp pin that fails while `broken` is set, recording what it was
/// last driven to otherwise.
#[derive(Clone, Default)]
struct FlakyLamp {
    broken: Arc<AtomicBool>,
    lit: Arc<AtomicU8>,
}

impl ErrorType for FlakyLamp {
    type Error = ErrorKind;
}

impl OutputPin for FlakyLamp {
    fn set_high(&mut self) -> Result<(), ErrorKind> {
        if self.broken.load(Ordering::Relaxed) {
            return Err(ErrorKind::Other);
        }
        self.lit.store(1, Ordering::Relaxed);
        Ok(())
    }

    fn set_low(&mut self) -> Result<(), ErrorKind> {
        if self.broken.load(Ordering::Relaxed) {
            return Err(ErrorKind::Other);
        }
        self.lit.store(0, Ordering::Relaxed);
        Ok(())
    }
}

#[test]
fn a_lamp_that_could_not_be_driven_is_driven_again_at_the_next_look() {
    let buttons = SimButtons::default();
    let lamps = [
        FlakyLamp::default(),
        FlakyLamp::default(),
        FlakyLamp::default(),
    ];
    let alarm = lamps[2].clone();
    let mut panel = Panel::new(
        Button::ALL.map(|b| SimButton::new(&buttons, b)),
        lamps,
        DEBOUNCE,
    );
    alarm.broken.store(true, Ordering::Relaxed);
    assert_eq!(panel.show(ALL_LIT), None, "the alarm lamp failed");
    assert_eq!(alarm.lit.load(Ordering::Relaxed), 0);
    // Asked for the same lamps again: the failed one is tried again.
    alarm.broken.store(false, Ordering::Relaxed);
    assert_eq!(panel.show(ALL_LIT), Some(ALL_LIT));
    assert_eq!(alarm.lit.load(Ordering::Relaxed), 1);
}

/// A panel running on its thread over simulated pins, its presses in a channel.
struct Running {
    panel: FrontPanel,
    buttons: SimButtons,
    presses: mpsc::Receiver<Button>,
    status: watch::Sender<Status>,
}

fn running(held_at_boot: &[Button]) -> Running {
    let buttons = SimButtons::default();
    for &b in held_at_boot {
        buttons.set(b, true);
    }
    let (levels, lamps) = watch::channel(ALL_LIT);
    let (status, status_rx) = watch::channel(Status::default());
    let (tx, presses) = mpsc::channel();
    let wiring = Wiring {
        status: status_rx,
        on_press: Box::new(move |b| {
            let _ = tx.send(b);
        }),
        driven: None,
    };
    let panel = sim_panel(&buttons, &levels);
    let panel = FrontPanel::run(panel, wiring, lamps, Some(buttons.clone()), Vec::new()).unwrap();
    Running {
        panel,
        buttons,
        presses,
        status,
    }
}

impl Running {
    fn presses_within(&self, wait: Duration) -> Vec<Button> {
        let end = Instant::now() + wait;
        let mut seen = Vec::new();
        while let Ok(b) = self
            .presses
            .recv_timeout(end.saturating_duration_since(Instant::now()))
        {
            seen.push(b);
        }
        seen
    }

    /// Waits up to `limit` for the lamps as driven to be `wanted`.
    fn lamps_become(&self, wanted: Lamps, limit: Duration) -> Duration {
        let start = Instant::now();
        let lamps = self.panel.lamps();
        while *lamps.borrow() != wanted {
            assert!(
                start.elapsed() < limit,
                "the lamps are {:?}, not {wanted:?}, after {limit:?}",
                *lamps.borrow()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        start.elapsed()
    }
}

#[tokio::test]
async fn a_button_held_at_boot_does_nothing_until_released_then_a_press_works() {
    let panel = running(&[Button::Live]);
    assert!(
        panel.presses_within(Duration::from_millis(500)).is_empty(),
        "LIVE held from the start"
    );
    panel.buttons.set(Button::Live, false);
    assert!(panel.presses_within(Duration::from_millis(100)).is_empty());
    panel.buttons.press(Button::Live).await;
    assert_eq!(
        panel.presses_within(Duration::from_millis(200)),
        [Button::Live]
    );
}

#[tokio::test]
async fn each_press_from_the_page_is_one_command() {
    let panel = running(&[]);
    // Let the buttons be seen released first.
    tokio::time::sleep(Duration::from_millis(60)).await;
    for _ in 0..3 {
        panel.buttons.press(Button::Skip).await;
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    panel.buttons.press(Button::Auto).await;
    assert_eq!(
        panel.presses_within(Duration::from_millis(200)),
        [Button::Skip, Button::Skip, Button::Skip, Button::Auto]
    );
    assert_eq!(command_of(Button::Skip), crate::director::Command::Skip);
    assert!(panel.panel.sim_buttons().is_some());
}

#[test]
fn the_lamps_start_off_follow_the_status_and_end_off() {
    let panel = running(&[]);
    // Lit before the panel started; off at once, and off while the
    // status still has nothing on air.
    panel.lamps_become(Lamps::default(), Duration::from_millis(100));
    let mut status = Status {
        mode: Mode::Live,
        ..Status::default()
    };
    panel.status.send_replace(status.clone());
    let took = panel.lamps_become(
        Lamps {
            on_air: true,
            live: true,
            alarm: false,
        },
        Duration::from_millis(500),
    );
    assert!(took < Duration::from_millis(500), "{took:?}");
    status.mode = Mode::Auto;
    status.alarms.push(Alarm {
        kind: AlarmKind::DeadAir,
        since: chrono::Utc::now(),
        message: "the programme is silent".into(),
    });
    panel.status.send_replace(status);
    panel.lamps_become(
        Lamps {
            on_air: true,
            live: false,
            alarm: true,
        },
        Duration::from_millis(500),
    );
    let lamps = panel.panel.lamps();
    panel.panel.stop();
    assert_eq!(*lamps.borrow(), Lamps::default(), "stopped: all off");
}

#[tokio::test]
async fn the_box_without_a_panel_section_has_simulated_buttons() {
    let (controls, commands) = crate::director::channel();
    // No director: a press is answered "not running", and the panel goes on.
    drop(commands);
    let (_status, status_rx) = watch::channel(Status::default());
    let panel = FrontPanel::start(&PanelConfig::default(), controls, status_rx).unwrap();
    let buttons = panel.sim_buttons().expect("simulated buttons");
    tokio::time::sleep(Duration::from_millis(50)).await;
    buttons.press(Button::Skip).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(*panel.lamps().borrow(), Lamps::default());
    panel.stop();
}

#[tokio::test]
async fn gpio_pins_on_a_machine_without_gpio_name_the_fix() {
    if gpio::machine_has_gpio() {
        eprintln!("skipped: this machine has GPIO");
        return;
    }
    let config = PanelConfig {
        pins: PanelPins::Gpio,
        ..PanelConfig::default()
    };
    let (controls, _commands) = crate::director::channel();
    let (_status, status_rx) = watch::channel(Status::default());
    let e = match FrontPanel::start(&config, controls, status_rx) {
        Err(e) => e,
        Ok(_) => panic!("GPIO pins opened on a machine without GPIO"),
    };
    assert!(matches!(e, StartError::Gpio(_)), "{e:?}");
    assert!(e.to_string().contains("panel.pins = \"simulated\""), "{e}");
}

#[test]
fn the_panel_needs_a_runtime_to_send_from() {
    let (controls, _commands) = crate::director::channel();
    let (_status, status_rx) = watch::channel(Status::default());
    assert!(matches!(
        FrontPanel::start(&PanelConfig::default(), controls, status_rx),
        Err(StartError::NoRuntime)
    ));
}
