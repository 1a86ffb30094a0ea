//! iCalendar text → the station's slots. The text is read one component at
//! a time, so one event a calendar service wrote badly costs that event (with
//! a note naming it), never the whole calendar.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use icalendar::DatePerhapsTime;
use icalendar::parser::{Component, ParseString, Property, read_calendar, unfold};

use super::CalendarEvent;
use super::zones::Zones;
use crate::schedule::{resolve_local, title_slug};

/// Most instances one recurring event yields in one query; a rule that
/// repeats every second would otherwise build millions.
const MAX_INSTANCES: u16 = 10_000;

/// Why a text is not a calendar at all (as opposed to a calendar with some
/// unreadable events, which is read without them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotACalendar {
    #[error("not a calendar: the text does not start with BEGIN:VCALENDAR (it starts with {0:?})")]
    NoCalendar(String),
    #[error(
        "cut off: END:VCALENDAR is missing, so events may be lost (the transfer was probably interrupted)"
    )]
    CutOff,
}

/// A calendar read from iCalendar text: every event that can be a slot,
/// with its recurrence, ready to be expanded over any stretch of time.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    series: Vec<Series>,
    /// Events left out, each naming the event and why.
    pub notes: Vec<String>,
}

/// One event and, if it recurs, all its instances.
#[derive(Debug, Clone)]
struct Series {
    uid: String,
    title: String,
    slug: String,
    /// The zone its times were written in, in which its rule repeats (a
    /// weekly 10:00 stays 10:00 local across a clock change).
    tz: Tz,
    start: DateTime<Utc>,
    duration: Option<TimeDelta>,
    rules: Option<rrule::RRuleSet>,
    rdates: Vec<DateTime<Utc>>,
    /// Instances removed: by EXDATE, or replaced by an override.
    removed: BTreeSet<DateTime<Utc>>,
    /// Whole local days removed (EXDATE or RECURRENCE-ID given as a date).
    removed_days: BTreeSet<NaiveDate>,
    /// An instance of another series, moved: not an event of its own.
    moved: bool,
}

/// A point in time as written in the calendar.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Moment {
    At { utc: DateTime<Utc>, tz: Tz },
    Day(NaiveDate),
}

/// One VEVENT's properties, read but not yet joined to its overrides.
#[derive(Debug, Default)]
struct Record {
    uid: String,
    title: Option<String>,
    start: Option<Moment>,
    end: Option<Moment>,
    duration: Option<TimeDelta>,
    rules: Vec<String>,
    rdates: Vec<Moment>,
    exdates: Vec<Moment>,
    recurrence_id: Option<Moment>,
    cancelled: bool,
}

impl Calendar {
    /// Reads `text`. Floating times (no zone) are in `station`, the
    /// station's zone. Fails only when the text is not a calendar at all;
    /// events that cannot be read are left out with a note.
    pub fn parse(text: &str, station: Tz) -> Result<Calendar, NotACalendar> {
        let text = unfold(text.trim_start_matches('\u{feff}'));
        let blocks = split_blocks(&text)?;
        let mut zones = Zones::new(station);
        let mut events = Vec::new();
        let mut notes = Vec::new();
        for block in &blocks {
            // A lone component is read as a calendar holding just it.
            let component = read_calendar(block.text)
                .ok()
                .and_then(|mut c| (c.components.len() == 1).then(|| c.components.remove(0)))
                .ok_or(());
            match component {
                Ok(component) if is(&component.name, "VTIMEZONE") => zones.define(&component),
                Ok(component) if is(&component.name, "VEVENT") => events.push(component),
                Ok(_) => {}
                Err(_) if block.name.eq_ignore_ascii_case("VEVENT") => notes.push(format!(
                    "{}: the event's text is malformed near line {} of the calendar; it is left out",
                    who_raw(block.text),
                    block.line
                )),
                Err(_) => notes.push(format!(
                    "a {} block near line {} of the calendar is malformed and was skipped",
                    block.name, block.line
                )),
            }
        }
        let mut records = Vec::new();
        for event in &events {
            match read_event(event, &mut zones) {
                Ok(Some(record)) => records.push(record),
                Ok(None) => {}
                Err(note) => notes.push(note),
            }
        }
        notes.extend(zones.take_notes());
        let series = join_overrides(records, &mut notes);
        Ok(Calendar { series, notes })
    }

    /// How many events (recurring ones counted once) can be slots.
    pub fn event_count(&self) -> usize {
        self.series.iter().filter(|s| !s.moved).count()
    }

    /// Every slot that is on during `[from, to)`: starting before `to` and
    /// ending after `from` (a slot without an end is counted at its start
    /// only). Sorted by start, then title.
    pub fn events_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<CalendarEvent> {
        let mut found = Vec::new();
        if to <= from {
            return found;
        }
        for series in &self.series {
            for start in series.starts(from, to) {
                let end = series.duration.map(|d| start + d);
                let on = start < to && end.map_or(start >= from, |end| end > from);
                if on {
                    found.push(CalendarEvent {
                        title: series.title.clone(),
                        slug: series.slug.clone(),
                        start,
                        end,
                        uid: series.uid.clone(),
                    });
                }
            }
        }
        found.sort_by(|a, b| (a.start, &a.title, &a.uid).cmp(&(b.start, &b.title, &b.uid)));
        found
    }
}

impl Series {
    /// Instance starts that may overlap `[from, to)`.
    fn starts(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> BTreeSet<DateTime<Utc>> {
        let earliest = from - self.duration.unwrap_or_default();
        let mut starts = BTreeSet::new();
        let wanted = |t: &DateTime<Utc>| *t >= earliest && *t < to;
        // DTSTART is always the first instance, whether the rule matches it or not.
        starts.insert(self.start);
        starts.extend(self.rdates.iter().copied());
        if let Some(rules) = &self.rules
            && self.start < to
        {
            let zone = rrule::Tz::from(self.tz);
            let after = zone.from_utc_datetime(&earliest.naive_utc());
            let before = zone.from_utc_datetime(&to.naive_utc());
            let found = rules.clone().after(after).before(before).all(MAX_INSTANCES);
            starts.extend(found.dates.iter().map(|t| t.with_timezone(&Utc)));
        }
        starts.retain(|t| {
            wanted(t)
                && !self.removed.contains(t)
                && !self
                    .removed_days
                    .contains(&t.with_timezone(&self.tz).date_naive())
        });
        starts
    }
}

/// A top-level block inside VCALENDAR, as text.
struct Block<'a> {
    name: String,
    text: &'a str,
    /// 1-based line of its BEGIN in the unfolded text.
    line: usize,
}

/// The components directly inside VCALENDAR. A VEVENT that never ends is
/// closed by the next VEVENT or the calendar's end, so its fault stays its own.
fn split_blocks(text: &str) -> Result<Vec<Block<'_>>, NotACalendar> {
    let first = text.trim_start();
    if !first
        .get(..15)
        .is_some_and(|s| s.eq_ignore_ascii_case("BEGIN:VCALENDAR"))
    {
        let shown: String = first.chars().take(40).collect();
        return Err(NotACalendar::NoCalendar(shown));
    }
    let mut blocks = Vec::new();
    let mut ended = false;
    // (name, byte offset, line) of the open top-level block and its depth.
    let mut open: Option<(String, usize, usize)> = None;
    let mut depth = 0usize;
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let here = offset;
        offset += line.len();
        let content = line.trim_end_matches(['\r', '\n']);
        let upper = content.to_ascii_uppercase();
        if let Some(name) = upper.strip_prefix("BEGIN:") {
            let name = name.trim().to_string();
            if depth == 0 {
                if name != "VCALENDAR" {
                    return Err(NotACalendar::NoCalendar(content.chars().take(40).collect()));
                }
                depth = 1;
            } else if depth == 1 {
                open = Some((name, here, index + 1));
                depth = 2;
            } else if name == "VEVENT" {
                // Events do not nest: the previous one lost its END.
                if let Some((name, start, line)) = open.take() {
                    blocks.push(Block {
                        name,
                        text: &text[start..here],
                        line,
                    });
                }
                open = Some((name, here, index + 1));
                depth = 2;
            } else {
                depth += 1;
            }
        } else if let Some(name) = upper.strip_prefix("END:") {
            if name.trim() == "VCALENDAR" {
                if let Some((name, start, line)) = open.take() {
                    blocks.push(Block {
                        name,
                        text: &text[start..here],
                        line,
                    });
                }
                ended = true;
                break;
            }
            depth = depth.saturating_sub(1);
            if depth == 1
                && let Some((name, start, line)) = open.take()
            {
                blocks.push(Block {
                    name,
                    text: &text[start..offset],
                    line,
                });
            }
        }
    }
    if !ended {
        return Err(NotACalendar::CutOff);
    }
    Ok(blocks)
}

fn is(name: &ParseString<'_>, wanted: &str) -> bool {
    name.as_str().eq_ignore_ascii_case(wanted)
}

fn props<'c>(
    component: &'c Component<'_>,
    name: &'c str,
) -> impl Iterator<Item = &'c Property<'c>> + 'c {
    component
        .properties
        .iter()
        .filter(move |p| is(&p.name, name))
}

fn prop<'c>(component: &'c Component<'_>, name: &str) -> Option<&'c Property<'c>> {
    component.properties.iter().find(|p| is(&p.name, name))
}

fn param<'p>(property: &'p Property<'_>, key: &str) -> Option<&'p str> {
    property
        .params
        .iter()
        .find(|p| p.key.as_str().eq_ignore_ascii_case(key))
        .and_then(|p| p.val.as_ref())
        .map(|v| v.as_str().trim_matches('"'))
}

/// How a note names an event: its title and UID, whichever it has.
fn who(title: Option<&str>, uid: &str) -> String {
    match (title.filter(|t| !t.trim().is_empty()), uid.is_empty()) {
        (Some(title), false) => format!("event \u{201c}{}\u{201d} (UID {uid})", title.trim()),
        (Some(title), true) => format!("event \u{201c}{}\u{201d}", title.trim()),
        (None, false) => format!("event with UID {uid}"),
        (None, true) => "an event without title or UID".to_string(),
    }
}

/// [`who`] for an event whose text could not be parsed: its SUMMARY and UID
/// lines are looked for directly.
fn who_raw(block: &str) -> String {
    let value = |name: &str| {
        block.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            let key = key.split(';').next()?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    };
    who(
        value("SUMMARY").as_deref(),
        &value("UID").unwrap_or_default(),
    )
}

/// Reads one VEVENT. `Ok(None)`: not a slot and not worth a note (a
/// cancelled event with nothing to cancel is simply not on air).
fn read_event(event: &Component<'_>, zones: &mut Zones) -> Result<Option<Record>, String> {
    let uid = prop(event, "UID")
        .map(|p| p.val.as_str().trim().to_string())
        .unwrap_or_default();
    let title = prop(event, "SUMMARY")
        .map(|p| p.val.as_str().trim().to_string())
        .filter(|t| !t.is_empty());
    let name = who(title.as_deref(), &uid);
    let bad = |why: String| format!("{name}: {why}; it is left out of the schedule");

    let mut record = Record {
        uid: uid.clone(),
        title: title.clone(),
        cancelled: prop(event, "STATUS")
            .is_some_and(|p| p.val.as_str().trim().eq_ignore_ascii_case("CANCELLED")),
        ..Record::default()
    };
    if let Some(id) = prop(event, "RECURRENCE-ID") {
        let moment = moment(id, id.val.as_str(), zones)
            .map_err(|e| bad(format!("its RECURRENCE-ID {e}")))?;
        if param(id, "RANGE").is_some_and(|r| r.eq_ignore_ascii_case("THISANDFUTURE")) {
            zones.note(format!(
                "{name}: RANGE=THISANDFUTURE changes only the one instance it names here; \
                 later instances keep the main event's times"
            ));
        }
        record.recurrence_id = Some(moment);
    }
    let Some(start) = prop(event, "DTSTART") else {
        if record.recurrence_id.is_some() && record.cancelled {
            return Ok(Some(record));
        }
        return Err(bad("it has no start (DTSTART)".into()));
    };
    let start = moment(start, start.val.as_str(), zones)
        .map_err(|e| bad(format!("its start (DTSTART) {e}")))?;
    record.start = Some(start);
    if let Moment::Day(day) = start {
        if record.cancelled && record.recurrence_id.is_some() {
            return Ok(Some(record));
        }
        return Err(format!(
            "{name} on {day} is an all-day event: ignored, as only events with a start time are slots"
        ));
    }
    if let Some(end) = prop(event, "DTEND") {
        let end = moment(end, end.val.as_str(), zones)
            .map_err(|e| bad(format!("its end (DTEND) {e}")))?;
        record.end = Some(end);
    } else if let Some(duration) = prop(event, "DURATION") {
        let text = duration.val.as_str().trim();
        let parsed = text
            .strip_prefix('+')
            .unwrap_or(text)
            .parse::<iso8601::Duration>()
            .ok()
            .and_then(|d| TimeDelta::from_std(d.into()).ok());
        match parsed {
            Some(d) => record.duration = Some(d),
            None => {
                return Err(bad(format!(
                    "its DURATION {text:?} is not a duration such as PT1H30M"
                )));
            }
        }
    }
    for rule in props(event, "RRULE") {
        record.rules.push(rule.val.as_str().trim().to_string());
    }
    for (list, key) in [
        (&mut record.rdates, "RDATE"),
        (&mut record.exdates, "EXDATE"),
    ] {
        for property in props(event, key) {
            for value in property.val.as_str().split(',') {
                // A PERIOD (start/end) keeps the event's own length.
                let value = value.split('/').next().unwrap_or(value).trim();
                if value.is_empty() {
                    continue;
                }
                list.push(
                    moment(property, value, zones).map_err(|e| bad(format!("its {key} {e}")))?,
                );
            }
        }
    }
    if record.title.is_none() && record.recurrence_id.is_none() {
        return Err(bad("it has no title (SUMMARY)".into()));
    }
    Ok(Some(record))
}

/// One date or date-time value of `property` (whose parameters give its zone).
fn moment(property: &Property<'_>, value: &str, zones: &mut Zones) -> Result<Moment, String> {
    let single = Property {
        name: property.name.clone(),
        val: ParseString::from(value.trim()),
        params: property.params.clone(),
    };
    let parsed = DatePerhapsTime::try_from(&single)
        .map_err(|_| format!("{value:?} is not a date-time such as 20261121T100000"))?;
    Ok(match parsed {
        DatePerhapsTime::Date(day) => Moment::Day(day),
        DatePerhapsTime::DateTime(icalendar::CalendarDateTime::Utc(utc)) => Moment::At {
            utc,
            tz: chrono_tz::UTC,
        },
        DatePerhapsTime::DateTime(icalendar::CalendarDateTime::Floating(local)) => {
            at_local(zones.station(), local)
        }
        DatePerhapsTime::DateTime(icalendar::CalendarDateTime::WithTimezone {
            date_time,
            tzid,
        }) => at_local(zones.resolve(&tzid), date_time),
    })
}

/// A local time in `tz`, by the box's own rule for clock changes (a skipped
/// time airs after the gap, a repeated one at its first occurrence).
fn at_local(tz: Tz, local: NaiveDateTime) -> Moment {
    Moment::At {
        utc: resolve_local(tz, local).0,
        tz,
    }
}

/// Joins each override to the instance it replaces and builds the series.
fn join_overrides(records: Vec<Record>, notes: &mut Vec<String>) -> Vec<Series> {
    let (masters, overrides): (Vec<Record>, Vec<Record>) =
        records.into_iter().partition(|r| r.recurrence_id.is_none());
    let mut series: Vec<Series> = Vec::new();
    let mut by_uid: HashMap<String, usize> = HashMap::new();
    for record in masters {
        if record.cancelled {
            continue;
        }
        let uid = record.uid.clone();
        match build_series(record) {
            Ok(built) => {
                if !uid.is_empty() {
                    by_uid.insert(uid, series.len());
                }
                series.push(built);
            }
            Err(note) => notes.push(note),
        }
    }
    let mut moved = Vec::new();
    for mut record in overrides {
        let master = by_uid.get(&record.uid).copied();
        if let (Some(i), Some(id)) = (master, record.recurrence_id) {
            let main = &mut series[i];
            match id {
                Moment::At { utc, .. } => {
                    main.removed.insert(utc);
                }
                Moment::Day(day) => {
                    main.removed_days.insert(day);
                }
            }
            if record.title.is_none() {
                record.title = Some(main.title.clone());
            }
            if record.end.is_none() && record.duration.is_none() {
                record.duration = main.duration;
            }
        }
        if record.cancelled {
            continue;
        }
        // A moved instance is a slot of its own; its rule, if any, is the master's.
        record.rules.clear();
        record.recurrence_id = None;
        match build_series(record) {
            Ok(built) => moved.push(Series {
                moved: master.is_some(),
                ..built
            }),
            Err(note) => notes.push(note),
        }
    }
    series.extend(moved);
    series
}

fn build_series(record: Record) -> Result<Series, String> {
    let name = who(record.title.as_deref(), &record.uid);
    let bad = |why: String| format!("{name}: {why}; it is left out of the schedule");
    let title = record
        .title
        .clone()
        .ok_or_else(|| bad("it has no title (SUMMARY)".into()))?;
    let (start, tz) = match record.start {
        Some(Moment::At { utc, tz }) => (utc, tz),
        Some(Moment::Day(day)) => {
            return Err(format!(
                "{name} on {day} is an all-day event: ignored, as only events with a start time are slots"
            ));
        }
        None => return Err(bad("it has no start (DTSTART)".into())),
    };
    let duration = match (record.end, record.duration) {
        (Some(Moment::At { utc, .. }), _) => Some(utc - start),
        (Some(Moment::Day(day)), _) => {
            return Err(bad(format!(
                "its end (DTEND) is a date ({day}) while its start has a time"
            )));
        }
        (None, duration) => duration,
    }
    // A slot that ends where it starts (or before) has no length to give;
    // it still marks when the programme starts.
    .filter(|d| *d > TimeDelta::zero());

    let rules = if record.rules.is_empty() {
        None
    } else {
        let zone = rrule::Tz::from(tz);
        let dtstart = zone.from_utc_datetime(&start.naive_utc());
        let mut set = rrule::RRuleSet::new(dtstart);
        for text in &record.rules {
            let text = until_in_utc(text, tz);
            let rule = text
                .parse::<rrule::RRule<rrule::Unvalidated>>()
                .and_then(|rule| rule.validate(dtstart))
                .map_err(|e| bad(format!("its repeat rule RRULE:{text} cannot be used ({e})")))?;
            set = set.rrule(rule);
        }
        Some(set)
    };
    let mut removed = BTreeSet::new();
    let mut removed_days = BTreeSet::new();
    for exdate in record.exdates {
        match exdate {
            Moment::At { utc, .. } => {
                removed.insert(utc);
            }
            Moment::Day(day) => {
                removed_days.insert(day);
            }
        }
    }
    let rdates = record
        .rdates
        .into_iter()
        .map(|m| match m {
            Moment::At { utc, .. } => utc,
            // A date-only RDATE on a timed event: the time of DTSTART on that day.
            Moment::Day(day) => {
                let local = day.and_time(start.with_timezone(&tz).time());
                resolve_local(tz, local).0
            }
        })
        .collect();
    Ok(Series {
        slug: title_slug(&title),
        uid: record.uid,
        title,
        tz,
        start,
        duration,
        rules,
        rdates,
        removed,
        removed_days,
        moved: false,
    })
}

/// RFC 5545 wants UNTIL in UTC when DTSTART has a zone, but calendars also
/// write it as a local time or a plain date; those are read in the event's
/// zone (a date meaning the end of that day) and rewritten in UTC.
fn until_in_utc(rule: &str, tz: Tz) -> String {
    rule.split(';')
        .map(|part| {
            let Some((key, value)) = part.split_once('=') else {
                return part.to_string();
            };
            if !key.trim().eq_ignore_ascii_case("UNTIL") || value.ends_with(['Z', 'z']) {
                return part.to_string();
            }
            let local = NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%S")
                .ok()
                .or_else(|| {
                    NaiveDate::parse_from_str(value, "%Y%m%d")
                        .ok()
                        .and_then(|d| d.and_hms_opt(23, 59, 59))
                });
            match local {
                Some(local) => {
                    let utc = resolve_local(tz, local).0;
                    format!("UNTIL={}", utc.format("%Y%m%dT%H%M%SZ"))
                }
                None => part.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(";")
}
