//! The front panel's picture: a pure function from a status snapshot, the
//! station time and a frame counter to a [`Frame`]. No I/O and no
//! allocation: text is formatted on the stack (see [`super::text`]).
//!
//! ```text
//!  0 14:03:27   STRM OK        AUTO    clock (station zone), streams, mode
//!  9 Morning Show with Jane Doe >>>    now playing, scrolled when too long
//! 20 -12:34                P▯▯ L▯▯     time left (large), peak meters
//! 41 Next 15:00 Evening News           next item, cut at the edge
//! 50 ████ DEAD AIR: programme ████     alarms inverted; else streams/studio
//! ```
//!
//! Everything moves by up to 2 px, a step every few minutes, so that no
//! pixel stays lit for days (OLED burn-in). Text uses embedded-graphics'
//! ISO 8859-1 mono fonts, so accented Latin titles show as written; other
//! characters show as `?`.

use std::fmt::Write;

use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use embedded_graphics::mono_font::iso_8859_1::FONT_4X6;
use embedded_graphics::mono_font::{MonoFont, MonoTextStyle};
use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{PrimitiveStyle, Rectangle};
use embedded_graphics::text::{Baseline, Text};

use super::frame::Frame;
use super::text::Line;
use crate::output::icecast::Connection;
use crate::status::{AlarmKind, Mode, Status};

/// How often the screen renders; scrolling and the burn-in shift count
/// frames at this rate.
pub const FRAMES_PER_SECOND: u64 = 8;

/// How long the picture stays put before moving a pixel against burn-in.
pub const SHIFT_EVERY_FRAMES: u64 = 3 * 60 * FRAMES_PER_SECOND;

/// Scrolling text waits this long at its start, then moves this many
/// pixels a frame (16 px/s: a 6-px character in under half a second).
const SCROLL_HOLD_FRAMES: u64 = 2 * FRAMES_PER_SECOND;
const SCROLL_STEP: u32 = 2;
/// Blank pixels between the end of scrolling text and its next start.
const SCROLL_GAP: u32 = 24;

/// Where each part of the picture is, before the burn-in shift. The parts
/// fit in 126x62, so the shift of up to 2 px keeps them on the panel.
pub mod layout {
    use embedded_graphics::mono_font::MonoFont;
    use embedded_graphics::mono_font::iso_8859_1::{FONT_5X8, FONT_6X10, FONT_10X20};
    use embedded_graphics::prelude::{Point, Size};
    use embedded_graphics::primitives::Rectangle;

    const fn area(x: i32, y: i32, w: u32, h: u32) -> Rectangle {
        Rectangle::new(Point::new(x, y), Size::new(w, h))
    }

    /// The width the parts share; the shift uses the rest.
    pub const WIDTH: u32 = 126;
    pub const CLOCK: Rectangle = area(0, 0, 40, 8);
    pub const CLOCK_FONT: &MonoFont = &FONT_5X8;
    pub const STREAMS: Rectangle = area(43, 0, 38, 8);
    pub const STREAMS_FONT: &MonoFont = &FONT_5X8;
    /// The mode's word, right-aligned in this area.
    pub const MODE: Rectangle = area(81, 0, 45, 8);
    pub const MODE_FONT: &MonoFont = &FONT_5X8;
    pub const TITLE: Rectangle = area(0, 9, WIDTH, 10);
    pub const TITLE_FONT: &MonoFont = &FONT_6X10;
    pub const COUNTDOWN: Rectangle = area(0, 20, 88, 20);
    pub const COUNTDOWN_FONT: &MonoFont = &FONT_10X20;
    pub const METERS: Rectangle = area(90, 20, 36, 20);
    pub const NEXT: Rectangle = area(0, 41, WIDTH, 8);
    pub const NEXT_FONT: &MonoFont = &FONT_5X8;
    /// The alarm banner (inverted) or, without alarms, the streams' and
    /// the studio's state; its text sits one pixel in.
    pub const BOTTOM: Rectangle = area(0, 50, WIDTH, 12);
    pub const BOTTOM_TEXT: Rectangle = area(0, 51, WIDTH, 10);
    pub const BOTTOM_FONT: &MonoFont = &FONT_6X10;
}

/// The burn-in shift for a frame: a step of one pixel every
/// [`SHIFT_EVERY_FRAMES`], walking a 3x3 square back and forth.
pub fn shift(frame: u64) -> Point {
    const WALK: [(i32, i32); 9] = [
        (0, 0),
        (1, 0),
        (2, 0),
        (2, 1),
        (1, 1),
        (0, 1),
        (0, 2),
        (1, 2),
        (2, 2),
    ];
    let step = (frame / SHIFT_EVERY_FRAMES) % 16;
    // 0..8 forwards, then 7..1 back, so each step moves one pixel.
    let i = if step < 9 { step } else { 16 - step } as usize;
    Point::new(WALK[i].0, WALK[i].1)
}

/// Draws the panel for `status` at station time `now` into `out`.
/// `frame` counts rendered frames (at [`FRAMES_PER_SECOND`]) and drives
/// scrolling and the burn-in shift.
pub fn render(status: &Status, now: DateTime<Utc>, frame: u64, out: &mut Frame) {
    out.clear();
    let mut panel = out.translated(shift(frame));
    let tz: Tz = status.timezone.parse().unwrap_or(Tz::UTC);
    let local = now.with_timezone(&tz);

    let mut line = Line::<16>::new();
    let _ = write!(
        line,
        "{:02}:{:02}:{:02}",
        local.hour(),
        local.minute(),
        local.second()
    );
    text(&mut panel, line.as_str(), layout::CLOCK, layout::CLOCK_FONT);

    if status.now.is_none() {
        // No snapshot from the director yet: nothing it says can be shown.
        text(&mut panel, "Starting", layout::MODE, layout::MODE_FONT);
        let mut line = Line::<160>::new();
        let _ = write!(line, "{}", status.station);
        marquee(
            &mut panel,
            line.as_str(),
            layout::TITLE,
            layout::TITLE_FONT,
            frame,
            false,
        );
        return;
    }

    streams_summary(&mut panel, status);
    mode(&mut panel, status.mode);
    now_playing(&mut panel, status, frame);
    countdown(&mut panel, status, now);
    meters(&mut panel, status);
    next(&mut panel, status, tz, local.weekday());
    bottom(&mut panel, status, frame);
}

fn style(
    font: &'static MonoFont<'static>,
    color: BinaryColor,
) -> MonoTextStyle<'static, BinaryColor> {
    MonoTextStyle::new(font, color)
}

/// `s` at the top left of `area`, cut at its edges.
fn text<D>(d: &mut D, s: &str, area: Rectangle, font: &'static MonoFont<'static>)
where
    D: DrawTarget<Color = BinaryColor>,
{
    let mut clip = d.clipped(&area);
    let _ = Text::with_baseline(
        s,
        area.top_left,
        style(font, BinaryColor::On),
        Baseline::Top,
    )
    .draw(&mut clip);
}

/// The width `s` takes in `font`.
pub fn text_width(s: &str, font: &MonoFont) -> u32 {
    s.chars().count() as u32 * (font.character_size.width + font.character_spacing)
}

/// `s` in `area`; when it is wider, it waits at its start, then scrolls
/// left and comes round again after a gap.
fn marquee<D>(
    d: &mut D,
    s: &str,
    area: Rectangle,
    font: &'static MonoFont<'static>,
    frame: u64,
    inverted: bool,
) where
    D: DrawTarget<Color = BinaryColor>,
{
    let color = if inverted {
        BinaryColor::Off
    } else {
        BinaryColor::On
    };
    let style = style(font, color);
    let mut clip = d.clipped(&area);
    let width = text_width(s, font);
    let x = area.top_left.x;
    let y = area.top_left.y;
    if width <= area.size.width {
        let _ = Text::with_baseline(s, Point::new(x, y), style, Baseline::Top).draw(&mut clip);
        return;
    }
    let period = width + SCROLL_GAP;
    let steps = u64::from(period.div_ceil(SCROLL_STEP));
    let t = frame % (SCROLL_HOLD_FRAMES + steps);
    let offset = (t.saturating_sub(SCROLL_HOLD_FRAMES) as u32 * SCROLL_STEP).min(period) as i32;
    for start in [x - offset, x - offset + period as i32] {
        // Only the characters that reach into the area are drawn.
        let advance = (font.character_size.width + font.character_spacing) as i32;
        let first = ((x - start) / advance).max(0) as usize;
        let count = (area.size.width as i32 / advance + 2) as usize;
        let (from, at) = match s.char_indices().nth(first) {
            Some((i, _)) => (i, start + first as i32 * advance),
            None => continue,
        };
        let to = s[from..]
            .char_indices()
            .nth(count)
            .map_or(s.len(), |(i, _)| from + i);
        let _ = Text::with_baseline(&s[from..to], Point::new(at, y), style, Baseline::Top)
            .draw(&mut clip);
    }
}

/// How the stream outputs stand, in a word: all up, some, none, or still
/// connecting. Nothing when the box has no streams.
fn streams_summary<D>(d: &mut D, status: &Status)
where
    D: DrawTarget<Color = BinaryColor>,
{
    let mut total = 0;
    let mut up = 0;
    let mut failing = 0;
    for stream in status.outputs.iter().filter_map(|o| o.stream.as_ref()) {
        total += 1;
        match stream.connection {
            Connection::Connected { .. } => up += 1,
            Connection::Retrying { .. } | Connection::Refused { .. } => failing += 1,
            Connection::Connecting => {}
        }
    }
    let mut line = Line::<16>::new();
    if total == 0 {
        return;
    } else if up == total {
        let _ = write!(line, "STRM OK");
    } else if up > 0 {
        let _ = write!(line, "STRM{up}/{total}");
    } else if failing > 0 {
        let _ = write!(line, "STRM OFF");
    } else {
        let _ = write!(line, "STRM ..");
    }
    text(d, line.as_str(), layout::STREAMS, layout::STREAMS_FONT);
}

/// The mode's word, right-aligned; the unusual ones (LIVE, EMERGENCY,
/// SILENT) inverted.
fn mode<D>(d: &mut D, mode: Mode)
where
    D: DrawTarget<Color = BinaryColor>,
{
    let word = mode_word(mode);
    let width = text_width(word, layout::MODE_FONT);
    let area = layout::MODE;
    let x = area.top_left.x + area.size.width as i32 - width as i32;
    let inverted = !matches!(mode, Mode::Auto | Mode::Filler);
    let at = Rectangle::new(
        Point::new(x, area.top_left.y),
        Size::new(width, area.size.height),
    );
    if inverted {
        let _ = at
            .into_styled(PrimitiveStyle::with_fill(BinaryColor::On))
            .draw(d);
    }
    let color = if inverted {
        BinaryColor::Off
    } else {
        BinaryColor::On
    };
    let _ = Text::with_baseline(
        word,
        at.top_left,
        style(layout::MODE_FONT, color),
        Baseline::Top,
    )
    .draw(d);
}

pub fn mode_word(mode: Mode) -> &'static str {
    match mode {
        Mode::Auto => "AUTO",
        Mode::Live => "LIVE",
        Mode::Filler => "FILLER",
        Mode::Emergency => "EMERGENCY",
        Mode::Silent => "SILENT",
    }
}

/// What is on air: the studio when live, else the item's title and the
/// track heard now.
fn now_playing<D>(d: &mut D, status: &Status, frame: u64)
where
    D: DrawTarget<Color = BinaryColor>,
{
    let mut line = Line::<320>::new();
    if status.mode == Mode::Live {
        let _ = write!(line, "Studio live");
        if let Some(by) = status.live.as_ref().and_then(|l| l.by.as_deref()) {
            let _ = write!(line, " ({by})");
        }
    } else if let Some(on_air) = &status.on_air {
        let _ = write!(line, "{}", on_air.title);
        if let Some(track) = &on_air.track {
            let _ = write!(line, " / {track}");
        }
    } else {
        let _ = write!(line, "Nothing on air");
    }
    marquee(
        d,
        line.as_str(),
        layout::TITLE,
        layout::TITLE_FONT,
        frame,
        false,
    );
}

/// Time left until the item on air ends, large: `-MM:SS`, `-H:MM:SS` from
/// an hour; `--:--` when nothing is on air or its end is not known.
fn countdown<D>(d: &mut D, status: &Status, now: DateTime<Utc>)
where
    D: DrawTarget<Color = BinaryColor>,
{
    let mut line = Line::<24>::new();
    match status.on_air.as_ref().and_then(|o| o.ends) {
        Some(ends) => write_left(&mut line, ends - now),
        None => {
            let _ = write!(line, "--:--");
        }
    }
    text(d, line.as_str(), layout::COUNTDOWN, layout::COUNTDOWN_FONT);
}

/// A countdown reads `-00:00` at the end, not a second before it: whole
/// seconds rounded up.
fn write_left<const N: usize>(line: &mut Line<N>, left: TimeDelta) {
    let ms = left.num_milliseconds().max(0);
    let secs = (ms + 999) / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let _ = if h > 0 {
        write!(line, "-{h}:{m:02}:{s:02}")
    } else {
        write!(line, "-{m:02}:{s:02}")
    };
}

/// Peak meters, left and right, −60 to 0 dBFS bottom to top: the programme
/// (`P`) and, when the box has one, the studio's live input (`L`).
fn meters<D>(d: &mut D, status: &Status)
where
    D: DrawTarget<Color = BinaryColor>,
{
    let area = layout::METERS;
    let label = style(&FONT_4X6, BinaryColor::On);
    let mut pair = |x: i32, name: &str, levels: [f32; 2]| {
        let bottom = area.top_left.y + area.size.height as i32;
        let _ = Text::with_baseline(name, Point::new(x, bottom), label, Baseline::Bottom).draw(d);
        for (i, db) in levels.into_iter().enumerate() {
            let bar = Rectangle::new(
                Point::new(x + 5 + 6 * i as i32, area.top_left.y),
                Size::new(5, area.size.height),
            );
            let _ = bar
                .into_styled(PrimitiveStyle::with_stroke(BinaryColor::On, 1))
                .draw(d);
            let inner = area.size.height - 2;
            let lit = meter_height(db, inner);
            if lit > 0 {
                let _ = Rectangle::new(
                    Point::new(bar.top_left.x + 1, bottom - 1 - lit as i32),
                    Size::new(3, lit),
                )
                .into_styled(PrimitiveStyle::with_fill(BinaryColor::On))
                .draw(d);
            }
        }
    };
    pair(area.top_left.x, "P", status.level_db);
    if let Some(live) = &status.live {
        pair(area.top_left.x + 18, "L", live.level_db);
    }
}

/// How many of `pixels` a peak of `db` lights: none at −60 dBFS or below
/// (or not a number), all at 0 dBFS.
pub fn meter_height(db: f32, pixels: u32) -> u32 {
    if db.is_nan() {
        return 0;
    }
    let fraction = ((db + 60.0) / 60.0).clamp(0.0, 1.0);
    (fraction * pixels as f32).round() as u32
}

/// The next item and its start time (with the weekday when not today); a
/// long title is cut at the panel's edge.
fn next<D>(d: &mut D, status: &Status, tz: Tz, today: Weekday)
where
    D: DrawTarget<Color = BinaryColor>,
{
    let mut line = Line::<160>::new();
    match &status.next {
        Some(next) => {
            let start = next.start.with_timezone(&tz);
            let _ = write!(line, "Next ");
            if start.weekday() != today {
                let _ = write!(line, "{} ", weekday(start.weekday()));
            }
            let _ = write!(
                line,
                "{:02}:{:02} {}",
                start.hour(),
                start.minute(),
                next.title
            );
        }
        None => {
            let _ = write!(line, "Next: nothing booked");
        }
    }
    text(d, line.as_str(), layout::NEXT, layout::NEXT_FONT);
}

fn weekday(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "Mon",
        Weekday::Tue => "Tue",
        Weekday::Wed => "Wed",
        Weekday::Thu => "Thu",
        Weekday::Fri => "Fri",
        Weekday::Sat => "Sat",
        Weekday::Sun => "Sun",
    }
}

pub fn alarm_word(kind: AlarmKind) -> &'static str {
    match kind {
        AlarmKind::DeadAir => "DEAD AIR",
        AlarmKind::LiveSilence => "STUDIO SILENT",
        AlarmKind::LiveInput => "LIVE INPUT",
        AlarmKind::Stream => "STREAM",
        AlarmKind::Archive => "ARCHIVE",
    }
}

/// The bottom line: the alarms, inverted, one after another; without
/// alarms, the first stream that is down, else the studio input's state,
/// else the station's name.
fn bottom<D>(d: &mut D, status: &Status, frame: u64)
where
    D: DrawTarget<Color = BinaryColor>,
{
    let mut line = Line::<640>::new();
    if !status.alarms.is_empty() {
        for (i, alarm) in status.alarms.iter().enumerate() {
            if i > 0 {
                let _ = write!(line, " | ");
            }
            let _ = write!(line, "{}: {}", alarm_word(alarm.kind), alarm.message);
        }
        let _ = layout::BOTTOM
            .into_styled(PrimitiveStyle::with_fill(BinaryColor::On))
            .draw(d);
        marquee(
            d,
            line.as_str(),
            layout::BOTTOM_TEXT,
            layout::BOTTOM_FONT,
            frame,
            true,
        );
        return;
    }
    let down = status.outputs.iter().find_map(|o| {
        let stream = o.stream.as_ref()?;
        match &stream.connection {
            Connection::Retrying { reason, .. } => Some((&o.name, "retrying", reason)),
            Connection::Refused { reason, .. } => Some((&o.name, "refused", reason)),
            _ => None,
        }
    });
    if let Some((name, state, reason)) = down {
        let _ = write!(line, "{name} {state}: {reason}");
    } else if let Some(live) = &status.live {
        match (&live.problem, live.available) {
            (Some(problem), _) => {
                let _ = write!(line, "Studio input: {problem}");
            }
            (None, true) => {
                let _ = write!(line, "Studio input ready");
            }
            (None, false) => {
                let _ = write!(line, "Studio input unavailable");
            }
        }
    } else {
        let _ = write!(line, "{}", status.station);
    }
    marquee(
        d,
        line.as_str(),
        layout::BOTTOM_TEXT,
        layout::BOTTOM_FONT,
        frame,
        false,
    );
}

/// Renders `s` alone at the top left of `area`, as the panel would
/// (without shift or clipping beyond the frame): what tests compare a
/// region of the panel with.
pub fn text_alone(s: &str, area: Rectangle, font: &'static MonoFont<'static>) -> Frame {
    let mut frame = Frame::default();
    text(&mut frame, s, area, font);
    frame
}
