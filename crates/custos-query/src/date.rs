//! The values of `after:` and `before:`: a date, a date and time in UTC,
//! or an instant with its offset, to one UTC instant; and back, in the
//! shortest of those forms.
//!
//! Only these shapes are read (jiff alone would also take `20240601` or
//! `2024-06-01T09`), so the printed form is never longer than the typed one.

use custos_model::Timestamp;
use jiff::tz::TimeZone;

const SHAPES: &str =
    "write 2024-06-01, 2024-06-01T09:30, 2024-06-01T09:30:15 or 2024-06-01T09:30:00+02:00";

/// Reads a date, a date and time (UTC) or an instant with an offset. A date
/// alone means its start, 00:00 UTC. The error says what is wrong, without
/// a position (the caller knows where the value is).
pub(crate) fn parse(text: &str) -> Result<Timestamp, String> {
    let zoned = shape(text).ok_or_else(|| format!("{text:?} is not a date ({SHAPES})"))?;
    let bad = |e: jiff::Error| format!("{text:?} is not a date: {e}");
    let instant = if zoned {
        text.parse::<jiff::Timestamp>().map_err(bad)?
    } else {
        let civil = text.parse::<jiff::civil::DateTime>().map_err(bad)?;
        TimeZone::UTC.to_timestamp(civil).map_err(bad)?
    };
    if TimeZone::UTC.to_datetime(instant).year() < 0 {
        return Err(format!("{text:?} is before the year 0"));
    }
    Ok(Timestamp::from_micros(instant.as_microsecond()))
}

/// Checks `YYYY-MM-DD[THH:MM[:SS[.fraction]][Z|+HH:MM|-HH:MM]]`; returns
/// whether an offset is given, `None` for any other shape.
fn shape(text: &str) -> Option<bool> {
    let b = text.as_bytes();
    let digits = |at: usize, n: usize| {
        b.get(at..at + n)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(digits(0, 4) && at(4, b'-') && digits(5, 2) && at(7, b'-') && digits(8, 2)) {
        return None;
    }
    if b.len() == 10 {
        return Some(false);
    }
    if !((at(10, b'T') || at(10, b't')) && digits(11, 2) && at(13, b':') && digits(14, 2)) {
        return None;
    }
    let mut i = 16;
    if at(i, b':') && digits(i + 1, 2) {
        i += 3;
        if at(i, b'.') {
            let n = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if !(1..=9).contains(&n) {
                return None;
            }
            i += 1 + n;
        }
    }
    match &b[i..] {
        [] => Some(false),
        [b'Z' | b'z'] => Some(true),
        [b'+' | b'-', ..]
            if b.len() == i + 6 && digits(i + 1, 2) && at(i + 3, b':') && digits(i + 4, 2) =>
        {
            Some(true)
        }
        _ => None,
    }
}

/// The shortest form `parse` reads back as `at`: the date alone at
/// midnight, minutes when the seconds are zero, else seconds and the
/// fraction needed; always UTC, so without an offset.
pub(crate) fn format(at: Timestamp) -> String {
    let Ok(instant) = jiff::Timestamp::from_microsecond(at.as_micros()) else {
        return at.to_string();
    };
    let dt = TimeZone::UTC.to_datetime(instant);
    if dt.year() < 0 {
        // Never parsed; printed as RFC 3339 all the same.
        return at.to_string();
    }
    let mut out = format!("{:04}-{:02}-{:02}", dt.year(), dt.month(), dt.day());
    let micros = dt.subsec_nanosecond() / 1000;
    if dt.hour() == 0 && dt.minute() == 0 && dt.second() == 0 && micros == 0 {
        return out;
    }
    out += &format!("T{:02}:{:02}", dt.hour(), dt.minute());
    if dt.second() == 0 && micros == 0 {
        return out;
    }
    out += &format!(":{:02}", dt.second());
    if micros > 0 {
        let fraction = format!("{micros:06}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> String {
        parse(text).unwrap().to_string()
    }

    #[test]
    fn a_date_is_its_start_in_utc() {
        assert_eq!(at("2024-06-01"), "2024-06-01T00:00:00Z");
    }

    #[test]
    fn times_without_a_zone_are_utc() {
        assert_eq!(at("2024-06-01T09:30"), "2024-06-01T09:30:00Z");
        assert_eq!(at("2024-06-01t09:30:15"), "2024-06-01T09:30:15Z");
        assert_eq!(at("2024-06-01T09:30:15.25"), "2024-06-01T09:30:15.25Z");
    }

    #[test]
    fn offsets_are_applied() {
        assert_eq!(at("2024-06-01T09:30:00Z"), "2024-06-01T09:30:00Z");
        assert_eq!(at("2024-06-01T09:30z"), "2024-06-01T09:30:00Z");
        assert_eq!(at("2024-06-01T09:30+02:00"), "2024-06-01T07:30:00Z");
        assert_eq!(at("2024-06-01T09:30:00-03:00"), "2024-06-01T12:30:00Z");
        assert_eq!(at("0000-01-01T01:00+01:00"), "0000-01-01T00:00:00Z");
    }

    #[test]
    fn printed_in_the_shortest_form() {
        for (text, printed) in [
            ("2024-06-01", "2024-06-01"),
            ("2024-06-01T00:00:00.000Z", "2024-06-01"),
            ("2024-06-01T09:30:00", "2024-06-01T09:30"),
            ("2024-06-01T09:30+02:00", "2024-06-01T07:30"),
            ("2024-06-01T09:30:15.250", "2024-06-01T09:30:15.25"),
            (
                "2024-06-01T09:30:15.123456789Z",
                "2024-06-01T09:30:15.123456",
            ),
            ("2024-06-01T09:30:05.000001", "2024-06-01T09:30:05.000001"),
            ("0000-01-01", "0000-01-01"),
        ] {
            let t = parse(text).unwrap();
            assert_eq!(format(t), printed, "{text}");
            assert_eq!(parse(printed), Ok(t));
        }
    }

    #[test]
    fn bad_dates_are_refused() {
        for text in [
            "2024-13-01",
            "2024-06-31",
            "2024-06-01T25:00",
            "yesterday",
            "20240601",
            "2024-06-01T09",
            "2024-6-01",
            "2024-06-01+02:00",
            "2024-06-01Z",
            "2024-06-01T09:30[Europe/Paris]",
            "2024-06-01T09:30+02",
            "2024-06-01T09:30:15.",
            "2024-06-01T09:30:15.1234567890",
            "2024-06-01T09:30.5",
            "9999-12-31",
            "0000-01-01T00:30+01:00",
            "",
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(&format!("{text:?}")), "{text}: {err}");
        }
    }
}
