//! UTC instants with microsecond precision, the one time type of the archive.

use std::fmt;

/// A UTC instant, stored as microseconds since the Unix epoch.
///
/// Microseconds are what SQL and the search index store too, so a value
/// round-trips everywhere without loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// A timestamp string that is not RFC 3339.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not an RFC 3339 timestamp: {0}")]
pub struct TimestampError(String);

impl Timestamp {
    /// The instant `micros` microseconds after the Unix epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// The current time.
    pub fn now() -> Self {
        Self(jiff::Timestamp::now().as_microsecond())
    }

    /// Parses an RFC 3339 timestamp with an offset (`2026-03-12T14:05:33Z`).
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        let ts: jiff::Timestamp = text
            .parse()
            .map_err(|e: jiff::Error| TimestampError(e.to_string()))?;
        Ok(Self(ts.as_microsecond()))
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC, with as many fractional digits as needed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match jiff::Timestamp::from_microsecond(self.0) {
            Ok(ts) => write!(f, "{ts}"),
            Err(_) => write!(f, "@{}us", self.0),
        }
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_rfc3339() {
        let ts = Timestamp::parse("2026-03-12T14:05:33Z").unwrap();
        assert_eq!(ts.as_micros(), 1_773_324_333_000_000);
        assert_eq!(ts.to_string(), "2026-03-12T14:05:33Z");
        let offset = Timestamp::parse("2026-03-12T11:05:33.25-03:00").unwrap();
        assert_eq!(offset.to_string(), "2026-03-12T14:05:33.25Z");
    }

    #[test]
    fn rejects_what_is_not_a_timestamp() {
        assert!(Timestamp::parse("yesterday").is_err());
        assert!(Timestamp::parse("2026-03-12 14:05").is_err());
    }
}
