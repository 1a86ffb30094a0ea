//! The picture for known snapshots: each part's text where the layout puts
//! it (compared with the same text rendered alone), the alarm banner
//! inverted, long titles scrolled, the burn-in shift, and empty or silent
//! status drawn sanely.

use chrono::TimeDelta;
use embedded_graphics::mono_font::{MonoFont, MonoTextStyle};
use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;
use embedded_graphics::text::{Baseline, Text};

use super::{dead_air, now, snapshot};
use crate::panel::Frame;
use crate::panel::render::{
    FRAMES_PER_SECOND, SHIFT_EVERY_FRAMES, layout, meter_height, render, shift, text_alone,
    text_width,
};
use crate::status::{Mode, Status};

fn rendered(status: &Status, frame: u64) -> Frame {
    let mut out = Frame::default();
    render(status, now(), frame, &mut out);
    out
}

/// `s` drawn at `at` and clipped to `area`, as the panel draws it.
fn text_at(s: &str, at: Point, area: Rectangle, font: &'static MonoFont<'static>) -> Frame {
    let mut frame = Frame::default();
    let style = MonoTextStyle::new(font, BinaryColor::On);
    Text::with_baseline(s, at, style, Baseline::Top)
        .draw(&mut frame.clipped(&area))
        .unwrap();
    frame
}

#[track_caller]
fn assert_shows(panel: &Frame, s: &str, area: Rectangle, font: &'static MonoFont<'static>) {
    let expected = text_alone(s, area, font);
    assert!(expected.lit_in(&area) > 0, "{s:?} draws nothing");
    assert!(
        panel.same_in(&expected, &area),
        "the panel does not show {s:?} at {area:?}"
    );
}

/// The mode's word sits at the right of its area.
fn mode_area(word: &str) -> Rectangle {
    let width = text_width(word, layout::MODE_FONT);
    let area = layout::MODE;
    Rectangle::new(
        Point::new(area.top_left.x + area.size.width as i32 - width as i32, 0),
        Size::new(width, area.size.height),
    )
}

#[test]
fn a_known_snapshot_shows_each_part_in_its_place() {
    let panel = rendered(&snapshot(), 0);
    assert_eq!(shift(0), Point::zero());
    assert_shows(&panel, "14:03:27", layout::CLOCK, layout::CLOCK_FONT);
    assert_shows(&panel, "STRM OK", layout::STREAMS, layout::STREAMS_FONT);
    let expected = text_alone("AUTO", mode_area("AUTO"), layout::MODE_FONT);
    assert!(panel.same_in(&expected, &layout::MODE), "AUTO at the right");
    assert_shows(&panel, "Morning Show", layout::TITLE, layout::TITLE_FONT);
    assert_shows(&panel, "-12:34", layout::COUNTDOWN, layout::COUNTDOWN_FONT);
    assert_shows(
        &panel,
        "Next 15:00 Evening News",
        layout::NEXT,
        layout::NEXT_FONT,
    );
    assert_shows(
        &panel,
        "Studio input ready",
        layout::BOTTOM_TEXT,
        layout::BOTTOM_FONT,
    );
    // Nothing outside the layout's parts, and the margins the shift uses
    // are dark.
    let margin = Rectangle::new(Point::new(126, 0), Size::new(2, 64));
    assert_eq!(panel.lit_in(&margin), 0);
    let margin = Rectangle::new(Point::new(0, 62), Size::new(128, 2));
    assert_eq!(panel.lit_in(&margin), 0);
}

#[test]
fn meters_show_the_programme_and_the_studio_peaks() {
    let panel = rendered(&snapshot(), 0);
    let top = layout::METERS.top_left;
    let inner = |x: i32| Rectangle::new(Point::new(x, top.y + 1), Size::new(3, 18));
    // The programme (P) at −6 dBFS left: 90 % of the bar; −60 right: none.
    assert_eq!(meter_height(-6.0, 18), 16);
    assert_eq!(panel.lit_in(&inner(top.x + 6)), 16 * 3);
    assert_eq!(panel.lit_in(&inner(top.x + 12)), 0);
    // The studio (L) pair is drawn, empty: −120 dBFS.
    assert_eq!(panel.lit_in(&inner(top.x + 24)), 0);
    assert!(
        panel.lit_in(&Rectangle::new(
            Point::new(top.x + 18, top.y),
            Size::new(18, 20)
        )) > 0
    );
    // Full scale fills the bar; a box without a studio input has no pair.
    let mut status = snapshot();
    status.level_db = [0.0, 3.0];
    status.live = None;
    let panel = rendered(&status, 0);
    assert_eq!(panel.lit_in(&inner(top.x + 6)), 18 * 3);
    assert_eq!(panel.lit_in(&inner(top.x + 12)), 18 * 3);
    assert_eq!(
        panel.lit_in(&Rectangle::new(
            Point::new(top.x + 18, top.y),
            Size::new(18, 20)
        )),
        0
    );
    assert_eq!(meter_height(f32::NAN, 18), 0);
}

#[test]
fn the_alarm_banner_is_inverted() {
    let mut status = snapshot();
    status.alarms = vec![dead_air()];
    let panel = rendered(&status, 0);
    let banner = layout::BOTTOM;
    // White background: the rows above and below the text fully lit.
    for y in [
        banner.top_left.y,
        banner.top_left.y + banner.size.height as i32 - 1,
    ] {
        let row = Rectangle::new(Point::new(0, y), Size::new(banner.size.width, 1));
        assert_eq!(panel.lit_in(&row), banner.size.width as usize, "row {y}");
    }
    // Black text: where the message alone would light a pixel, the
    // banner has it dark, and lit everywhere else.
    let text = "DEAD AIR: programme silent for 15 s; the emergency file is on air";
    let alone = text_alone(text, layout::BOTTOM_TEXT, layout::BOTTOM_FONT);
    let area = layout::BOTTOM_TEXT;
    assert!(alone.lit_in(&area) > 100);
    for y in area.top_left.y..area.top_left.y + area.size.height as i32 {
        for x in 0..area.size.width as i32 {
            let (x, y) = (x as usize, y as usize);
            assert_eq!(panel.pixel(x, y), !alone.pixel(x, y), "at ({x}, {y})");
        }
    }
    // More than one alarm: one after another in the same banner.
    status.alarms.push(crate::status::Alarm {
        kind: crate::status::AlarmKind::Stream,
        since: now(),
        message: "icecast: listeners hear nothing".into(),
    });
    let panel = rendered(&status, 0);
    for y in area.top_left.y..area.top_left.y + area.size.height as i32 {
        for x in 0..area.size.width as i32 {
            let (x, y) = (x as usize, y as usize);
            assert_eq!(panel.pixel(x, y), !alone.pixel(x, y), "at ({x}, {y})");
        }
    }
}

#[test]
fn a_long_title_waits_then_scrolls_round() {
    let title = "The Long Afternoon Programme with Far Too Many Guests To Fit";
    let mut status = snapshot();
    status.on_air.as_mut().unwrap().title = title.into();
    let area = layout::TITLE;
    let font = layout::TITLE_FONT;
    let width = text_width(title, font) as i32;
    assert!(width > area.size.width as i32);
    let hold = 2 * FRAMES_PER_SECOND;
    // At first, and for two seconds, its start is shown, cut at the edge.
    for frame in [0, hold] {
        let panel = rendered(&status, frame);
        assert!(panel.same_in(&text_at(title, area.top_left, area, font), &area));
    }
    // Then 2 px a frame to the left...
    let panel = rendered(&status, hold + 10);
    let at = Point::new(-20, area.top_left.y);
    assert!(panel.same_in(&text_at(title, at, area, font), &area));
    // ...until its end has passed and, after a gap of 24 px, it comes
    // round again where it began.
    let period = width + 24;
    let steps = (period as u64).div_ceil(2);
    let panel = rendered(&status, hold + steps - 1);
    let offset = (steps as i32 - 1) * 2;
    let mut expected = text_at(title, Point::new(-offset, area.top_left.y), area, font);
    let again = text_at(
        title,
        Point::new(period - offset, area.top_left.y),
        area,
        font,
    );
    assert!(again.lit_in(&area) > 0, "the start is back in view");
    expected.draw_iter_from(&again);
    assert!(panel.same_in(&expected, &area));
    assert!(rendered(&status, hold + steps).same_in(&rendered(&status, 0), &area));
    // The rest of the picture does not move with it.
    let countdown = layout::COUNTDOWN;
    assert!(rendered(&status, hold + 10).same_in(&rendered(&status, 0), &countdown));
}

#[test]
fn a_long_next_title_is_cut_at_the_edge() {
    let mut status = snapshot();
    status.next.as_mut().unwrap().title = "A Very Long Title For The Next Programme".into();
    let panel = rendered(&status, 0);
    let line = "Next 15:00 A Very Long Title For The Next Programme";
    assert_shows(&panel, line, layout::NEXT, layout::NEXT_FONT);
    // The next item is tomorrow: its weekday is shown.
    status.next.as_mut().unwrap().start += TimeDelta::days(1);
    let panel = rendered(&status, 0);
    let line = "Next Tue 15:00 A Very Long Title For The Next Programme";
    assert_shows(&panel, line, layout::NEXT, layout::NEXT_FONT);
}

#[test]
fn the_picture_moves_against_burn_in_and_stays_on_the_panel() {
    let status = snapshot();
    let still = rendered(&status, 0);
    let lit = still.lit_in(&Rectangle::new(Point::zero(), Size::new(128, 64)));
    let mut seen = std::collections::HashSet::new();
    let mut last = Point::zero();
    for step in 0..16 {
        let frame = step * SHIFT_EVERY_FRAMES;
        let by = shift(frame);
        assert!((0..=2).contains(&by.x) && (0..=2).contains(&by.y));
        let moved = (by - last).abs();
        assert!(moved.x + moved.y <= 1, "one pixel a step, not {moved:?}");
        last = by;
        seen.insert((by.x, by.y));
        let panel = rendered(&status, frame);
        for y in 0..62 {
            for x in 0..126 {
                let (sx, sy) = ((x + by.x) as usize, (y + by.y) as usize);
                assert_eq!(panel.pixel(sx, sy), still.pixel(x as usize, y as usize));
            }
        }
        let all = Rectangle::new(Point::zero(), Size::new(128, 64));
        assert_eq!(panel.lit_in(&all), lit, "nothing falls off at {by:?}");
    }
    assert_eq!(seen.len(), 9);
    // It stays put for minutes.
    assert_eq!(shift(SHIFT_EVERY_FRAMES - 1), shift(0));
    assert_eq!(SHIFT_EVERY_FRAMES, 3 * 60 * FRAMES_PER_SECOND);
}

#[test]
fn an_empty_status_renders_sanely() {
    // Before the director's first snapshot: the clock and the station.
    let status = Status {
        station: "Radio Test".into(),
        timezone: "Europe/Berlin".into(),
        ..Status::default()
    };
    let panel = rendered(&status, 0);
    assert_shows(&panel, "14:03:27", layout::CLOCK, layout::CLOCK_FONT);
    assert_shows(&panel, "Radio Test", layout::TITLE, layout::TITLE_FONT);
    let meters = layout::METERS;
    assert_eq!(panel.lit_in(&meters), 0, "no meters before a snapshot");

    // A default status (no zone): UTC.
    let panel = rendered(&Status::default(), 0);
    assert_shows(&panel, "13:03:27", layout::CLOCK, layout::CLOCK_FONT);

    // Silent: nothing on air, nothing next, no streams, no studio input.
    let status = Status {
        station: "Radio Test".into(),
        timezone: "Not/AZone".into(),
        now: Some(now()),
        mode: Mode::Silent,
        level_db: [-120.0, -120.0],
        ..Status::default()
    };
    let panel = rendered(&status, 0);
    assert_shows(&panel, "13:03:27", layout::CLOCK, layout::CLOCK_FONT);
    assert_eq!(panel.lit_in(&layout::STREAMS), 0);
    assert_shows(&panel, "Nothing on air", layout::TITLE, layout::TITLE_FONT);
    assert_shows(&panel, "--:--", layout::COUNTDOWN, layout::COUNTDOWN_FONT);
    assert_shows(
        &panel,
        "Next: nothing booked",
        layout::NEXT,
        layout::NEXT_FONT,
    );
    assert_shows(
        &panel,
        "Radio Test",
        layout::BOTTOM_TEXT,
        layout::BOTTOM_FONT,
    );
    // SILENT stands out: inverted, so its box has more lit than dark.
    let area = mode_area("SILENT");
    let lit = panel.lit_in(&area);
    assert!(lit * 2 > (area.size.width * area.size.height) as usize);
}

#[test]
fn live_mode_shows_the_studio_and_streams_that_are_down() {
    use crate::output::icecast::Connection;
    let mut status = snapshot();
    status.mode = Mode::Live;
    status.live.as_mut().unwrap().by = Some("panel".into());
    status.outputs.push(super::output(
        "backup",
        Some(super::stream(Connection::Retrying {
            reason: "connection refused".into(),
            next_attempt: now(),
        })),
    ));
    let panel = rendered(&status, 0);
    assert_shows(
        &panel,
        "Studio live (panel)",
        layout::TITLE,
        layout::TITLE_FONT,
    );
    assert_shows(&panel, "STRM1/2", layout::STREAMS, layout::STREAMS_FONT);
    assert_shows(
        &panel,
        "backup retrying: connection refused",
        layout::BOTTOM_TEXT,
        layout::BOTTOM_FONT,
    );
    let area = mode_area("LIVE");
    assert!(panel.lit_in(&area) * 2 > (area.size.width * area.size.height) as usize);
}

#[test]
fn the_countdown_rounds_up_and_shows_hours() {
    let mut status = snapshot();
    let on_air = status.on_air.as_mut().unwrap();
    on_air.ends = Some(now() + TimeDelta::seconds(3723) + TimeDelta::milliseconds(1));
    let panel = rendered(&status, 0);
    assert_shows(
        &panel,
        "-1:02:04",
        layout::COUNTDOWN,
        layout::COUNTDOWN_FONT,
    );
    status.on_air.as_mut().unwrap().ends = Some(now() - TimeDelta::seconds(5));
    let panel = rendered(&status, 0);
    assert_shows(&panel, "-00:00", layout::COUNTDOWN, layout::COUNTDOWN_FONT);
    status.on_air.as_mut().unwrap().ends = None;
    let panel = rendered(&status, 0);
    assert_shows(&panel, "--:--", layout::COUNTDOWN, layout::COUNTDOWN_FONT);
}

#[test]
fn rendering_allocates_nothing() {
    use crate::engine::mixer::tests::allocations_on_this_thread as allocations;
    // Everything the panel can show at once: a long title and track,
    // alarms, a stream down, the studio input.
    let mut status = snapshot();
    status.mode = Mode::Live;
    status.live.as_mut().unwrap().by = Some("token studio-desk".into());
    let on_air = status.on_air.as_mut().unwrap();
    on_air.title = "The Long Afternoon Programme with Far Too Many Guests".into();
    on_air.track = Some("Caf\u{e9} \u{2013} Sunset".into());
    status.alarms = vec![dead_air(), dead_air()];
    let mut panel = Frame::default();
    let before = allocations();
    for frame in 0..2000 {
        render(
            &status,
            now() + TimeDelta::seconds(frame as i64),
            frame,
            &mut panel,
        );
    }
    assert_eq!(allocations() - before, 0);
}

/// Copies the lit pixels of one frame into another.
trait Overlay {
    fn draw_iter_from(&mut self, other: &Frame);
}

impl Overlay for Frame {
    fn draw_iter_from(&mut self, other: &Frame) {
        for y in 0..crate::panel::HEIGHT {
            for x in 0..crate::panel::WIDTH {
                if other.pixel(x, y) {
                    self.set(x, y, true);
                }
            }
        }
    }
}
