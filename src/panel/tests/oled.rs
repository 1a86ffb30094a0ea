//! The OLED's byte stream, decoded by the pretend module back into its
//! RAM: what it shows is the frame, and the frame's PNG; a change sends
//! only the columns of the pages it touches.

use chrono::TimeDelta;
use embedded_hal::i2c::ErrorKind;

use super::fake_i2c::{FakeI2c, pixels, png_pixels};
use super::{dead_air, now, snapshot};
use crate::panel::oled::{Controller, Oled, OledError, open};
use crate::panel::render::render;
use crate::panel::{BYTES, Frame};
use crate::status::Status;

fn frame_of(status: &Status) -> Frame {
    let mut frame = Frame::default();
    render(status, now(), 0, &mut frame);
    frame
}

fn display(controller: Controller) -> (FakeI2c, Oled<FakeI2c>) {
    let bus = FakeI2c::new(controller, 0x3C);
    let mut oled = Oled::new(bus.clone(), controller, 0x3C, "the test bus");
    oled.init().unwrap();
    (bus, oled)
}

/// Frames flushed one after another are what the module shows, pixel for
/// pixel the PNG the web serves.
fn shows_each_frame(controller: Controller) {
    let (bus, mut oled) = display(controller);
    {
        let module = bus.module();
        assert!(module.on, "turned on at init");
        assert_eq!(module.start_line, 0);
        assert_eq!(module.shown(), Frame::default(), "cleared at init");
    }
    let mut alarmed = snapshot();
    alarmed.alarms = vec![dead_air()];
    let silent = Status {
        now: Some(now()),
        ..Status::default()
    };
    for status in [snapshot(), alarmed, silent, snapshot()] {
        let frame = frame_of(&status);
        oled.flush(&frame).unwrap();
        let shown = bus.module().shown();
        assert_eq!(shown, frame);
        assert_eq!(pixels(&shown), png_pixels(&frame));
    }
    let module = bus.module();
    assert!(module.unknown.is_empty(), "{:02X?}", module.unknown);
}

#[test]
fn an_ssd1306_shows_the_frame_and_its_png() {
    shows_each_frame(Controller::Ssd1306);
}

#[test]
fn an_sh1106_shows_the_frame_and_its_png() {
    shows_each_frame(Controller::Sh1106);
    // Its picture is written from RAM column 2, in page addressing.
    let (bus, mut oled) = display(Controller::Sh1106);
    let mut frame = Frame::default();
    frame.set(0, 0, true);
    bus.module().forget_writes();
    oled.flush(&frame).unwrap();
    let writes = bus.module().writes.clone();
    assert_eq!(writes[0], [0x00, 0xB0]);
    assert_eq!(writes[1], [0x00, 0x02, 0x10]);
    assert_eq!(writes[2], [0x40, 0x01]);
}

fn a_countdown_change_sends_little(controller: Controller) {
    let (bus, mut oled) = display(controller);
    let mut status = snapshot();
    oled.flush(&frame_of(&status)).unwrap();
    bus.module().forget_writes();

    // A second less left: only the countdown's digits change.
    let on_air = status.on_air.as_mut().unwrap();
    on_air.ends = on_air.ends.map(|t| t - TimeDelta::seconds(1));
    let frame = frame_of(&status);
    let sent = oled.flush(&frame).unwrap();
    let module = bus.module();
    assert_eq!(module.shown(), frame);
    assert_eq!(sent.data_bytes, module.data_bytes);
    assert!(sent.data_bytes > 0);
    assert!(
        sent.data_bytes < BYTES,
        "{} data bytes for a countdown change",
        sent.data_bytes
    );
    // The large digits span pages 2 to 4 and the last digit's columns.
    assert_eq!(sent.pages, 3);
    assert!(sent.data_bytes <= 3 * 10, "{sent:?}");
    drop(module);

    // The same frame again sends nothing.
    bus.module().forget_writes();
    assert_eq!(oled.flush(&frame).unwrap().data_bytes, 0);
    assert!(bus.module().writes.is_empty());
}

#[test]
fn an_ssd1306_countdown_change_sends_less_than_a_frame() {
    a_countdown_change_sends_little(Controller::Ssd1306);
}

#[test]
fn an_sh1106_countdown_change_sends_less_than_a_frame() {
    a_countdown_change_sends_little(Controller::Sh1106);
}

#[test]
fn a_failed_write_sends_the_whole_frame_next_time() {
    let (bus, mut oled) = display(Controller::Ssd1306);
    let first = frame_of(&snapshot());
    oled.flush(&first).unwrap();
    bus.module().fail = Some(ErrorKind::Bus);
    let mut alarmed = snapshot();
    alarmed.alarms = vec![dead_air()];
    let second = frame_of(&alarmed);
    let e = oled.flush(&second).unwrap_err();
    assert!(matches!(e, OledError::Bus { .. }), "{e}");
    assert!(e.to_string().contains("the test bus"), "{e}");
    assert!(e.to_string().contains("0x3C"), "{e}");

    let mut module = bus.module();
    module.fail = None;
    module.forget_writes();
    drop(module);
    let sent = oled.flush(&second).unwrap();
    assert_eq!(sent.data_bytes, BYTES);
    assert_eq!(bus.module().shown(), second);
}

#[test]
fn blanking_clears_the_display_and_turns_it_off() {
    let (bus, mut oled) = display(Controller::Ssd1306);
    oled.flush(&frame_of(&snapshot())).unwrap();
    oled.blank().unwrap();
    let module = bus.module();
    assert_eq!(module.shown(), Frame::default());
    assert!(!module.on);
}

#[test]
fn no_display_at_the_address_says_so() {
    let bus = FakeI2c::new(Controller::Ssd1306, 0x3D);
    let mut oled = Oled::new(bus, Controller::Ssd1306, 0x3C, "/dev/i2c-1");
    let e = oled.init().unwrap_err();
    assert!(matches!(e, OledError::NoAnswer { .. }), "{e}");
    let message = e.to_string();
    for words in ["0x3C", "/dev/i2c-1", "wiring", "display_address"] {
        assert!(message.contains(words), "{message}");
    }
}

#[test]
fn a_missing_bus_names_it_and_the_fix() {
    let mut buses = vec!["/dev/i2c-onair-test-absent"];
    // This machine has no I2C: the Pi's bus is missing here too.
    if !std::path::Path::new("/dev/i2c-1").exists() {
        buses.push("/dev/i2c-1");
    }
    for bus in buses {
        let e = match open(std::path::Path::new(bus), Controller::Ssd1306, 0x3C) {
            Ok(_) => panic!("{bus} opened"),
            Err(e) => e,
        };
        assert!(matches!(e, OledError::NoBus { .. }), "{e}");
        let message = e.to_string();
        for words in [
            bus,
            "config.txt",
            "dtparam=i2c_arm=on",
            "display = \"none\"",
        ] {
            assert!(message.contains(words), "{message}");
        }
    }
}
