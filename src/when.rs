//! Times as a person types them: `onair log --since`, `onair report
//! --from`, the web's `/api/log?since=`. Read in the station's zone.

use chrono::{
    DateTime, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc,
};
use chrono_tz::Tz;

/// Parses a `--since`/`--until` argument: an RFC 3339 time; a station-local
/// `yyyy-mm-dd hh:mm[:ss]` or `yyyy-mm-ddThh:mm[:ss]`; a date `yyyy-mm-dd`
/// (local midnight); `now`, `today`, `yesterday`; or a time ago such as
/// `-2h`, `-30m`, `-1d` or `-1h30m`. A local time that occurs twice when the
/// clocks go back is taken the first time.
pub fn parse_time_arg(s: &str, tz: Tz, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = s.trim();
    let formats = "use an RFC 3339 time (2026-03-29T02:00:00+01:00), a local time \
                   (yyyy-mm-dd hh:mm[:ss] or yyyy-mm-ddThh:mm), a date (yyyy-mm-dd, from local \
                   midnight), now, today, yesterday, or a time ago such as -2h, -30m or -1d";
    let today = now.with_timezone(&tz).date_naive();
    match text.to_lowercase().as_str() {
        "now" => return Ok(now),
        "today" => return start_of_day(today, tz).ok_or_else(|| format!("`{s}`: {formats}")),
        "yesterday" => {
            return today
                .checked_sub_days(Days::new(1))
                .and_then(|d| start_of_day(d, tz))
                .ok_or_else(|| format!("`{s}`: {formats}"));
        }
        _ => {}
    }
    if let Some(ago) = text.strip_prefix('-') {
        return parse_ago(ago)
            .and_then(|d| now.checked_sub_signed(d))
            .ok_or_else(|| format!("`{s}` is not a time ago such as -2h, -30m, -1d or -1h30m"));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.to_utc());
    }
    for format in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(local) = NaiveDateTime::parse_from_str(text, format) {
            return match tz.from_local_datetime(&local) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Ok(t.to_utc()),
                LocalResult::None => Err(format!(
                    "`{s}` does not exist in {tz}: the clocks went forward over it; give a time \
                     after the change, or an RFC 3339 time with its offset"
                )),
            };
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return start_of_day(date, tz).ok_or_else(|| format!("`{s}`: {formats}"));
    }
    Err(format!("`{s}` is not a time: {formats}"))
}

/// The first moment of a local day (midnight, or the end of a clock change
/// that skips it).
pub fn start_of_day(date: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
    (0..=24 * 4).find_map(|quarter| {
        let time = NaiveTime::MIN + TimeDelta::minutes(15 * quarter);
        tz.from_local_datetime(&date.and_time(time))
            .earliest()
            .map(|t| t.to_utc())
    })
}

/// `2h`, `30m`, `1d`, `90s`, `1h30m` → a duration.
fn parse_ago(text: &str) -> Option<TimeDelta> {
    let mut total = TimeDelta::zero();
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().ok()?;
        digits.clear();
        let part = match c {
            's' => TimeDelta::try_seconds(n)?,
            'm' => TimeDelta::try_minutes(n)?,
            'h' => TimeDelta::try_hours(n)?,
            'd' => TimeDelta::try_days(n)?,
            'w' => TimeDelta::try_weeks(n)?,
            _ => return None,
        };
        total = total.checked_add(&part)?;
    }
    // A number must end with its unit, and there must be at least one.
    (digits.is_empty() && !text.is_empty()).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn time_arguments() {
        let london = chrono_tz::Europe::London;
        let now = t("2026-03-29T10:20:30Z");
        let parse = |s: &str| parse_time_arg(s, london, now);
        assert_eq!(
            parse("2026-03-29T02:00:00+01:00"),
            Ok(t("2026-03-29T01:00:00Z"))
        );
        assert_eq!(parse("2026-03-29 02:00"), Ok(t("2026-03-29T01:00:00Z")));
        assert_eq!(parse("2026-03-29T00:30"), Ok(t("2026-03-29T00:30:00Z")));
        assert_eq!(parse("2026-03-29 12:00:15"), Ok(t("2026-03-29T11:00:15Z")));
        assert_eq!(parse("2026-07-01"), Ok(t("2026-06-30T23:00:00Z")));
        assert_eq!(parse("today"), Ok(t("2026-03-29T00:00:00Z")));
        assert_eq!(parse("Yesterday"), Ok(t("2026-03-28T00:00:00Z")));
        assert_eq!(parse("now"), Ok(now));
        assert_eq!(parse("-2h"), Ok(t("2026-03-29T08:20:30Z")));
        assert_eq!(parse("-30m"), Ok(t("2026-03-29T09:50:30Z")));
        assert_eq!(parse(" -1h30m "), Ok(t("2026-03-29T08:50:30Z")));
        assert_eq!(parse("-1d"), Ok(t("2026-03-28T10:20:30Z")));
        // When the clocks go back, 01:30 happens twice: the first is taken.
        assert_eq!(parse("2026-10-25 01:30"), Ok(t("2026-10-25T00:30:00Z")));
        // At a late hour in BST, "today" is still the local day.
        let late = parse_time_arg("today", london, t("2026-06-30T23:30:00Z"));
        assert_eq!(late, Ok(t("2026-06-30T23:00:00Z")));

        // Bad inputs: nothing, words, units that do not exist, a bare minus,
        // a number without unit, an impossible date, a time skipped by the
        // clock change, an offset-less time with a Z typo, an absurd age.
        for bad in [
            "",
            "tomorrow",
            "-2x",
            "-",
            "-5",
            "-h",
            "2026-13-01",
            "2026-02-30 10:00",
            "2026-03-29 01:30",
            "10:00",
            "-99999999999999d",
        ] {
            let error = parse(bad).expect_err(bad);
            assert!(error.contains(&format!("`{bad}`")), "{bad}: {error}");
        }
        let gap = parse("2026-03-29 01:30").unwrap_err();
        assert!(gap.contains("clocks went forward"), "{gap}");
        assert!(parse("tomorrow").unwrap_err().contains("-2h"));
    }
}
