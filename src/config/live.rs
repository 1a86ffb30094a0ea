//! `[live]` (the studio's input and the takeover) and `[silence]` (when
//! the studio or the programme counts as silent), read into their types.

use toml::{Table, Value};

use super::reader::{TableReader, article_type, join};
use super::{Live, Silence};

const LIVE_KEYS: &[&str] = &["device", "fade_ms", "cancel_after_minutes", "title"];
const SILENCE_KEYS: &[&str] = &["threshold_db", "after_seconds", "recovery_seconds"];

const DEFAULT_LIVE_FADE_MS: u32 = 500;
const DEFAULT_CANCEL_AFTER_MINUTES: u32 = 20;
const LIVE_FADE_MS: std::ops::RangeInclusive<i64> = 0..=10_000;
const CANCEL_AFTER_MINUTES: std::ops::RangeInclusive<i64> = 0..=1440;

impl Default for Silence {
    fn default() -> Self {
        Silence {
            threshold_db: -40.0,
            after_seconds: 15,
            recovery_seconds: 5,
        }
    }
}

impl TableReader {
    /// `None` without a `[live]` section: the box has no studio input.
    pub(super) fn live(&mut self, root: &Table, station: &str) -> Option<Live> {
        let table = self.section(root, "live", LIVE_KEYS)?;
        let device = match self.string("live", Some(table), "device") {
            Some(device) => Some(device.trim().to_string()),
            None => {
                if !table.contains_key("device") {
                    self.problem(
                        "live.device",
                        None,
                        "expected the studio's ALSA capture device, as `arecord -L` lists it \
                         (such as \"hw:CARD=sndrpihifiberry,DEV=0\"); or remove [live] for a \
                         box without a studio input",
                    );
                }
                None
            }
        };
        let fade_ms = self.integer("live", Some(table), "fade_ms", LIVE_FADE_MS, "milliseconds");
        let cancel = self.integer(
            "live",
            Some(table),
            "cancel_after_minutes",
            CANCEL_AFTER_MINUTES,
            "minutes",
        );
        let title = self.string("live", Some(table), "title");
        Some(Live {
            device: device?,
            fade_ms: fade_ms.map_or(DEFAULT_LIVE_FADE_MS, |n| n as u32),
            cancel_after_minutes: cancel.map_or(DEFAULT_CANCEL_AFTER_MINUTES, |n| n as u32),
            title: title.map_or_else(|| station.to_string(), str::to_string),
        })
    }

    pub(super) fn silence(&mut self, root: &Table) -> Silence {
        let defaults = Silence::default();
        let Some(table) = self.section(root, "silence", SILENCE_KEYS) else {
            return defaults;
        };
        let threshold_db = match table.get("threshold_db") {
            None => defaults.threshold_db,
            Some(value) => {
                let number = match value {
                    Value::Integer(n) => Some(*n as f64),
                    Value::Float(f) => Some(*f),
                    _ => None,
                };
                match number {
                    Some(db) if (-90.0..=-1.0).contains(&db) => db as f32,
                    _ => {
                        self.problem(
                            join("silence", "threshold_db"),
                            Some(value),
                            format!(
                                "expected a level in dBFS from -90 to -1 (-40 is usual), not {}",
                                article_type(value)
                            ),
                        );
                        defaults.threshold_db
                    }
                }
            }
        };
        let seconds = |this: &mut Self, key: &str, range, default: u32| {
            this.integer("silence", Some(table), key, range, "seconds")
                .map_or(default, |n| n as u32)
        };
        Silence {
            threshold_db,
            after_seconds: seconds(self, "after_seconds", 1..=300, defaults.after_seconds),
            recovery_seconds: seconds(self, "recovery_seconds", 1..=60, defaults.recovery_seconds),
        }
    }
}
