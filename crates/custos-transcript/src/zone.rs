//! Times shown in the transcript's time zone, with the zone's abbreviation
//! and UTC offset so a reader never has to guess which clock is meant.

use custos_model::Timestamp;
use jiff::tz::TimeZone;

use crate::Error;

/// An IANA time zone, checked, and how times are written in it.
pub(crate) struct Zone {
    tz: TimeZone,
}

/// A local calendar date, used to tell when a new day starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Day {
    year: i16,
    month: i8,
    day: i8,
}

const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

impl Zone {
    /// The zone named `name`, or [`Error::TimeZone`].
    pub(crate) fn new(name: &str) -> Result<Self, Error> {
        let tz = TimeZone::get(name).map_err(|_| Error::TimeZone(name.to_owned()))?;
        Ok(Self { tz })
    }

    /// `2024-06-10 08:10:56 BST (+01:00)`; the abbreviation is left out when
    /// the zone has only a numeric one (`2024-06-10 05:10:56 (-03:00)`).
    pub(crate) fn stamp(&self, at: Timestamp) -> String {
        let Ok(ts) = jiff::Timestamp::from_microsecond(at.as_micros()) else {
            // Outside jiff's range (years beyond ±9999): say it in UTC terms.
            return at.to_string();
        };
        let info = self.tz.to_offset_info(ts);
        let local = info.offset().to_datetime(ts);
        let offset = offset_text(info.offset().seconds());
        let abbreviation = info.abbreviation();
        let date_time = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            local.year(),
            local.month(),
            local.day(),
            local.hour(),
            local.minute(),
            local.second()
        );
        if abbreviation.is_empty() || abbreviation.starts_with(['+', '-']) {
            format!("{date_time} ({offset})")
        } else {
            format!("{date_time} {abbreviation} ({offset})")
        }
    }

    /// The local calendar day of `at`.
    pub(crate) fn day(&self, at: Timestamp) -> Option<Day> {
        let ts = jiff::Timestamp::from_microsecond(at.as_micros()).ok()?;
        let date = self.tz.to_datetime(ts).date();
        Some(Day {
            year: date.year(),
            month: date.month(),
            day: date.day(),
        })
    }

    /// The day written out: `Monday 10 June 2024`.
    pub(crate) fn day_text(day: Day) -> String {
        let weekday = jiff::civil::date(day.year, day.month, day.day)
            .weekday()
            .to_monday_zero_offset();
        format!(
            "{} {} {} {}",
            WEEKDAYS[weekday as usize],
            day.day,
            MONTHS[(day.month - 1) as usize],
            day.year
        )
    }
}

/// `+01:00`, `-03:00`, `+05:30`, with seconds only when a historical offset
/// has them (`-00:01:15`).
fn offset_text(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let total = seconds.unsigned_abs();
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if s == 0 {
        format!("{sign}{h:02}:{m:02}")
    } else {
        format!("{sign}{h:02}:{m:02}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    #[test]
    fn london_summer_and_winter() {
        let london = Zone::new("Europe/London").unwrap();
        assert_eq!(
            london.stamp(at("2024-06-10T07:10:56Z")),
            "2024-06-10 08:10:56 BST (+01:00)"
        );
        assert_eq!(
            london.stamp(at("2024-01-10T07:10:56Z")),
            "2024-01-10 07:10:56 GMT (+00:00)"
        );
    }

    #[test]
    fn numeric_abbreviations_show_the_offset_once() {
        let sao_paulo = Zone::new("America/Sao_Paulo").unwrap();
        assert_eq!(
            sao_paulo.stamp(at("2024-06-10T07:10:56Z")),
            "2024-06-10 04:10:56 (-03:00)"
        );
        let kolkata = Zone::new("Asia/Kolkata").unwrap();
        assert_eq!(
            kolkata.stamp(at("2024-06-10T07:10:56Z")),
            "2024-06-10 12:40:56 IST (+05:30)"
        );
    }

    #[test]
    fn utc_is_a_zone() {
        let utc = Zone::new("UTC").unwrap();
        assert_eq!(
            utc.stamp(at("2024-06-10T07:10:56.5Z")),
            "2024-06-10 07:10:56 UTC (+00:00)"
        );
    }

    #[test]
    fn days_follow_the_local_clock() {
        let sao_paulo = Zone::new("America/Sao_Paulo").unwrap();
        // 01:30 UTC is still the evening before in São Paulo.
        let day = sao_paulo.day(at("2024-06-11T01:30:00Z")).unwrap();
        assert_eq!(Zone::day_text(day), "Monday 10 June 2024");
        let utc = Zone::new("UTC").unwrap();
        let day = utc.day(at("2024-06-11T01:30:00Z")).unwrap();
        assert_eq!(Zone::day_text(day), "Tuesday 11 June 2024");
    }

    #[test]
    fn unknown_zones_are_refused() {
        let err = Zone::new("Mars/Olympus_Mons").err().unwrap();
        assert_eq!(err.to_string(), "unknown time zone \"Mars/Olympus_Mons\"");
    }

    #[test]
    fn offsets_with_seconds() {
        assert_eq!(offset_text(-75), "-00:01:15");
        assert_eq!(offset_text(19800), "+05:30");
        assert_eq!(offset_text(0), "+00:00");
    }
}
