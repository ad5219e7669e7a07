//! The values of `after:` and `before:`: a date, a date and time in UTC,
//! or an instant with its offset, to one UTC instant.

use custos_model::Timestamp;
use jiff::tz::TimeZone;

/// Reads a date, a date and time (UTC) or an instant with an offset. A date
/// alone means its start, 00:00 UTC. The error says what is wrong, without
/// a position (the caller knows where the value is).
pub(crate) fn parse(text: &str) -> Result<Timestamp, String> {
    let instant = match text.parse::<jiff::Timestamp>() {
        Ok(instant) => instant,
        Err(with_offset) => {
            // Without an offset jiff's civil parsers would silently drop one
            // they do not understand, so only offset-free text goes there.
            let time = text.find(['T', 't']).map_or("", |at| &text[at..]);
            if time.contains(['Z', 'z', '+', '-']) || text.contains('[') {
                return Err(reason(text, &with_offset));
            }
            let civil = text
                .parse::<jiff::civil::DateTime>()
                .map_err(|e| reason(text, &e))?;
            TimeZone::UTC
                .to_timestamp(civil)
                .map_err(|e| reason(text, &e))?
        }
    };
    Ok(Timestamp::from_micros(instant.as_microsecond()))
}

fn reason(text: &str, error: &jiff::Error) -> String {
    format!(
        "{text:?} is not a date (write 2024-06-01, 2024-06-01T09:30 or \
         2024-06-01T09:30:00+02:00): {error}"
    )
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
        assert_eq!(at("2024-06-01T09:30:15"), "2024-06-01T09:30:15Z");
        assert_eq!(at("2024-06-01T09:30:15.25"), "2024-06-01T09:30:15.25Z");
    }

    #[test]
    fn offsets_are_applied() {
        assert_eq!(at("2024-06-01T09:30:00Z"), "2024-06-01T09:30:00Z");
        assert_eq!(at("2024-06-01T09:30+02:00"), "2024-06-01T07:30:00Z");
        assert_eq!(at("2024-06-01T09:30:00-03:00"), "2024-06-01T12:30:00Z");
    }

    #[test]
    fn the_printed_form_reads_back() {
        for text in ["2024-06-01T09:30:15.123456Z", "-000001-01-01T00:00:00Z"] {
            assert_eq!(at(text), text);
        }
    }

    #[test]
    fn bad_dates_are_refused() {
        for text in [
            "2024-13-01",
            "2024-06-31",
            "2024-06-01T25:00",
            "yesterday",
            "2024-06-01+02:00",
            "2024-06-01Z",
            "2024-06-01T09:30[Europe/Paris]",
            "9999-12-31",
            "",
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains("is not a date"), "{text}: {err}");
        }
    }
}
