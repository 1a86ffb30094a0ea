//! TZID names → IANA zones. Calendar services write IANA names, Windows names
//! (Outlook: "GMT Standard Time"), or names of their own defined by a
//! VTIMEZONE block; the box maps what it can and reads the rest in the
//! station's zone, with a note.

use std::collections::{BTreeSet, HashMap};

use chrono::{Datelike, NaiveDate, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use icalendar::parser::Component;

/// What a VTIMEZONE block says about its zone.
#[derive(Debug, Clone, Default)]
struct Definition {
    /// `X-LIC-LOCATION`, the IANA name some services add.
    location: Option<String>,
    /// Every `TZOFFSETTO`, in seconds east of UTC.
    offsets: BTreeSet<i32>,
}

#[derive(Debug)]
pub(super) struct Zones {
    station: Tz,
    defined: HashMap<String, Definition>,
    resolved: HashMap<String, Tz>,
    notes: Vec<String>,
}

impl Zones {
    pub(super) fn new(station: Tz) -> Self {
        Zones {
            station,
            defined: HashMap::new(),
            resolved: HashMap::new(),
            notes: Vec::new(),
        }
    }

    pub(super) fn station(&self) -> Tz {
        self.station
    }

    /// Records a VTIMEZONE block.
    pub(super) fn define(&mut self, component: &Component<'_>) {
        let value = |c: &Component<'_>, name: &str| {
            c.properties
                .iter()
                .find(|p| p.name.as_str().eq_ignore_ascii_case(name))
                .map(|p| p.val.as_str().trim().to_string())
        };
        let Some(tzid) = value(component, "TZID") else {
            return;
        };
        let offsets = component
            .components
            .iter()
            .filter_map(|part| value(part, "TZOFFSETTO"))
            .filter_map(|text| parse_offset(&text))
            .collect();
        self.defined.insert(
            tzid,
            Definition {
                location: value(component, "X-LIC-LOCATION"),
                offsets,
            },
        );
    }

    pub(super) fn note(&mut self, note: String) {
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    pub(super) fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// The zone a TZID names; the station's zone (with a note) when it
    /// cannot be told.
    pub(super) fn resolve(&mut self, tzid: &str) -> Tz {
        if let Some(tz) = self.resolved.get(tzid) {
            return *tz;
        }
        let tz = match self.map(tzid) {
            Some(tz) => tz,
            None => {
                self.note(format!(
                    "time zone \u{201c}{tzid}\u{201d} is not known: times in it are read in the \
                     station's zone ({}); use an IANA zone name such as Europe/London in the calendar",
                    self.station.name()
                ));
                self.station
            }
        };
        self.resolved.insert(tzid.to_string(), tz);
        tz
    }

    fn map(&mut self, tzid: &str) -> Option<Tz> {
        let name = tzid.trim().trim_matches('"');
        if let Some(tz) = iana(name) {
            return Some(tz);
        }
        // Some services prefix the IANA name with a path of their own:
        // "/citadel.org/20190914_1/Europe/London".
        for (i, _) in name.match_indices('/') {
            if let Some(tz) = iana(&name[i + 1..]) {
                return Some(tz);
            }
        }
        if let Some(tz) = localzone::win_zone_to_iana(name, None).and_then(iana) {
            return Some(tz);
        }
        let definition = self.defined.get(tzid)?.clone();
        if let Some(tz) = definition.location.as_deref().and_then(iana) {
            return Some(tz);
        }
        let year = Utc::now().year();
        if !definition.offsets.is_empty() && definition.offsets == offsets_in(self.station, year) {
            self.note(format!(
                "time zone \u{201c}{tzid}\u{201d} is not an IANA name; it has the offsets of the \
                 station's zone, so it is read as {}",
                self.station.name()
            ));
            return Some(self.station);
        }
        if let [offset] = definition.offsets.iter().copied().collect::<Vec<_>>()[..] {
            return fixed(offset);
        }
        None
    }
}

fn iana(name: &str) -> Option<Tz> {
    name.parse::<Tz>().ok().or_else(|| {
        chrono_tz::TZ_VARIANTS
            .iter()
            .find(|tz| tz.name().eq_ignore_ascii_case(name))
            .copied()
    })
}

/// A zone that never changes its offset, if tzdata has one for it (whole hours).
fn fixed(offset: i32) -> Option<Tz> {
    if offset == 0 {
        return Some(chrono_tz::UTC);
    }
    if offset % 3600 != 0 {
        return None;
    }
    // tzdata's Etc zones count the other way: Etc/GMT-1 is UTC+1.
    let hours = -offset / 3600;
    iana(&format!("Etc/GMT{hours:+}"))
}

/// `+0100`, `-0530`, `+053000` → seconds east of UTC.
fn parse_offset(text: &str) -> Option<i32> {
    let (sign, digits) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    if !(digits.len() == 4 || digits.len() == 6) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| digits.get(range)?.parse::<i32>().ok();
    let seconds = number(0..2)? * 3600 + number(2..4)? * 60 + number(4..6).unwrap_or(0);
    Some(sign * seconds)
}

/// The UTC offsets, in seconds, that `tz` uses in `year` (winter and summer).
fn offsets_in(tz: Tz, year: i32) -> BTreeSet<i32> {
    [1, 7]
        .into_iter()
        .filter_map(|month| NaiveDate::from_ymd_opt(year, month, 15))
        .filter_map(|d| d.and_hms_opt(12, 0, 0))
        .map(|t| tz.offset_from_utc_datetime(&t).fix().local_minus_utc())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_read_like_the_rfc_writes_them() {
        assert_eq!(parse_offset("+0100"), Some(3600));
        assert_eq!(parse_offset("-0530"), Some(-19_800));
        assert_eq!(parse_offset("+053045"), Some(19_845));
        // Bad input: no sign, letters, wrong length.
        assert_eq!(parse_offset("0100"), None);
        assert_eq!(parse_offset("+01h0"), None);
        assert_eq!(parse_offset("+010"), None);
    }

    #[test]
    fn fixed_offsets_become_etc_zones() {
        assert_eq!(fixed(3600), Some(chrono_tz::Etc::GMTMinus1));
        assert_eq!(fixed(-5 * 3600), Some(chrono_tz::Etc::GMTPlus5));
        assert_eq!(fixed(0), Some(chrono_tz::UTC));
        // Bad input: a half-hour offset has no Etc zone.
        assert_eq!(fixed(19_800), None);
    }

    #[test]
    fn names_with_paths_windows_names_and_unknown_names() {
        let mut zones = Zones::new(chrono_tz::Europe::London);
        assert_eq!(
            zones.resolve("/citadel.org/20190914_1/Europe/Paris"),
            chrono_tz::Europe::Paris
        );
        assert_eq!(
            zones.resolve("W. Europe Standard Time"),
            chrono_tz::Europe::Berlin
        );
        assert_eq!(
            zones.resolve("Eastern Standard Time"),
            chrono_tz::America::New_York
        );
        assert_eq!(zones.resolve("europe/vienna"), chrono_tz::Europe::Vienna);
        assert!(zones.take_notes().is_empty());
        // Bad input: a name nothing defines.
        assert_eq!(zones.resolve("Studio Time"), chrono_tz::Europe::London);
        let notes = zones.take_notes();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("\u{201c}Studio Time\u{201d} is not known"));
    }
}
