//! Debouncing and arming of one button, pure: fed the button's level and
//! the time of each sample, it says when a press counts.
//!
//! - A level counts once it has stayed put for the debounce time; a bounce
//!   (several transitions within a few milliseconds) only restarts the wait,
//!   and a glitch shorter than the debounce time is never seen at all.
//! - A press is a change from a released level that counted to a pressed
//!   level that counts: exactly one per press however long it is held, and
//!   nothing on release.
//! - A button already held when the box starts never triggers: its first
//!   level that counts is "pressed", with no release before it, so it is
//!   not armed until it has been seen released (the lesson of Rivendell's
//!   GPI driver and OBPlayer's stuck line: never act on a level left over
//!   from before).

use std::time::Duration;

/// A press that counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Press {
    /// When the button went down (the last transition before it settled).
    pub down: Duration,
    /// When the press counted: `down` plus the debounce time, or the first
    /// sample after it.
    pub counted: Duration,
}

/// One button's debouncer. Times are any monotonic clock's, as offsets
/// from a start of its choosing (a simulated clock in tests).
#[derive(Debug, Clone)]
pub struct Debouncer {
    debounce: Duration,
    /// The level last sampled and since when it has been so.
    raw: Option<(bool, Duration)>,
    /// The level that counts; `None` until one has stayed put long enough.
    settled: Option<bool>,
}

impl Debouncer {
    pub fn new(debounce: Duration) -> Self {
        Debouncer {
            debounce,
            raw: None,
            settled: None,
        }
    }

    /// Takes one sample: `pressed` is the button's logical level (active
    /// low already applied), `at` the time it was read. Times must not go
    /// backwards; a sample older than the last is ignored.
    pub fn sample(&mut self, pressed: bool, at: Duration) -> Option<Press> {
        let since = match self.raw {
            Some((_, last)) if at < last => return None,
            Some((level, since)) if level == pressed => since,
            _ => {
                self.raw = Some((pressed, at));
                at
            }
        };
        if at.saturating_sub(since) < self.debounce || self.settled == Some(pressed) {
            return None;
        }
        let before = self.settled.replace(pressed);
        (pressed && before == Some(false)).then_some(Press {
            down: since,
            counted: at,
        })
    }

    /// Whether the level last sampled has yet to count (or none has): the
    /// debounce needs more samples.
    pub fn is_settling(&self) -> bool {
        match (self.raw, self.settled) {
            (Some((level, _)), Some(settled)) => level != settled,
            _ => true,
        }
    }

    /// Whether a press would count now: the button has been seen released.
    pub fn is_armed(&self) -> bool {
        self.settled == Some(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBOUNCE: Duration = Duration::from_millis(30);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A simulated clock sampling one button every `step`, as the panel's
    /// poll does; `level(t)` is the button's level at time t.
    struct Clock {
        button: Debouncer,
        now: Duration,
        step: Duration,
        presses: Vec<Press>,
    }

    impl Clock {
        fn new(step: Duration) -> Self {
            Clock {
                button: Debouncer::new(DEBOUNCE),
                now: Duration::ZERO,
                step,
                presses: Vec::new(),
            }
        }

        /// Samples `level` from now for `how_long`.
        fn hold(&mut self, pressed: bool, how_long: Duration) -> &mut Self {
            let end = self.now + how_long;
            while self.now < end {
                if let Some(press) = self.button.sample(pressed, self.now) {
                    self.presses.push(press);
                }
                self.now += self.step;
            }
            self
        }

        fn press(&mut self, how_long: Duration) -> &mut Self {
            self.hold(true, how_long).hold(false, ms(100))
        }
    }

    #[test]
    fn a_button_held_at_boot_never_triggers_and_works_once_released() {
        let mut clock = Clock::new(ms(10));
        clock.hold(true, Duration::from_secs(5));
        assert_eq!(clock.presses, [], "held from boot for 5 s");
        assert!(!clock.button.is_armed());
        // Let go: still nothing, and now armed.
        clock.hold(false, ms(100));
        assert_eq!(clock.presses, []);
        assert!(clock.button.is_armed());
        // Then an ordinary press counts, once.
        let down = clock.now;
        clock.press(ms(120));
        assert_eq!(clock.presses.len(), 1, "{:?}", clock.presses);
        assert_eq!(clock.presses[0].down, down);
        assert_eq!(clock.presses[0].counted, down + DEBOUNCE);
    }

    #[test]
    fn a_held_button_released_before_it_settles_is_not_armed_by_the_bounce() {
        // Held at boot, with a contact bounce when first read.
        let mut clock = Clock::new(ms(1));
        clock
            .hold(true, ms(3))
            .hold(false, ms(2))
            .hold(true, ms(500));
        assert_eq!(clock.presses, [], "a bounce at boot is not a release");
        assert!(!clock.button.is_armed());
    }

    #[test]
    fn a_bounce_of_ten_transitions_within_5_ms_gives_one_press() {
        let mut clock = Clock::new(Duration::from_micros(250));
        clock.hold(false, ms(100));
        // Eleven transitions, one every half millisecond from 100 ms,
        // ending pressed at 105 ms.
        for i in 0..11 {
            clock.hold(i % 2 == 0, Duration::from_micros(500));
        }
        clock.hold(true, ms(100));
        // And the release bounces too.
        for i in 0..11 {
            clock.hold(i % 2 == 1, Duration::from_micros(500));
        }
        clock.hold(false, ms(100));
        assert_eq!(clock.presses.len(), 1, "{:?}", clock.presses);
        // It counts a debounce time after the last transition.
        assert_eq!(clock.presses[0].down, ms(105));
        assert_eq!(clock.presses[0].counted, ms(105) + DEBOUNCE);
    }

    #[test]
    fn a_2_ms_glitch_gives_nothing() {
        let mut clock = Clock::new(Duration::from_micros(250));
        clock
            .hold(false, ms(100))
            .hold(true, ms(2))
            .hold(false, ms(200));
        assert_eq!(clock.presses, []);
        // Nor does a glitch just shorter than the debounce time.
        clock.hold(true, ms(29)).hold(false, ms(200));
        assert_eq!(clock.presses, []);
        // A glitch seen by a 10 ms poll as one sample: nothing either.
        let mut polled = Clock::new(ms(10));
        polled
            .hold(false, ms(100))
            .hold(true, ms(10))
            .hold(false, ms(100));
        assert_eq!(polled.presses, []);
    }

    #[test]
    fn skip_counts_once_per_press_however_long_it_is_held() {
        let mut clock = Clock::new(ms(10));
        clock.hold(false, ms(50));
        clock
            .press(ms(40))
            .press(ms(120))
            .press(Duration::from_secs(3));
        assert_eq!(clock.presses.len(), 3, "{:?}", clock.presses);
        // Pressed again while the last release was still settling: one.
        let mut quick = Clock::new(ms(1));
        quick.hold(false, ms(50)).hold(true, ms(60));
        quick
            .hold(false, ms(10))
            .hold(true, ms(60))
            .hold(false, ms(60));
        assert_eq!(quick.presses.len(), 1, "{:?}", quick.presses);
    }

    #[test]
    fn late_samples_are_ignored_and_a_stalled_poll_still_counts() {
        let mut button = Debouncer::new(DEBOUNCE);
        assert_eq!(button.sample(false, ms(0)), None);
        assert_eq!(button.sample(false, ms(40)), None);
        assert!(button.is_armed());
        assert_eq!(button.sample(true, ms(50)), None);
        // A sample from before the last one (a clock stepping back): ignored.
        assert_eq!(button.sample(false, ms(45)), None);
        // The poll stalls for half a second while the button is held: the
        // press counts at the next sample, from when it went down.
        assert_eq!(
            button.sample(true, ms(550)),
            Some(Press {
                down: ms(50),
                counted: ms(550)
            })
        );
        assert_eq!(button.sample(true, ms(560)), None);
    }
}
