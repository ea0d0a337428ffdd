//! Timestamps as Prefect writes them: UTC, ISO-8601, microsecond precision, a `Z` suffix.
//!
//! The fixed-width text form sorts the same way the instants do, which lets both database backends
//! store timestamps as plain text and compare them with `<`.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// An instant in UTC with microsecond precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// The current time, truncated to microseconds.
    pub fn now() -> Self {
        Self::from_datetime(Utc::now())
    }

    /// Wraps a chrono instant, truncating it to microseconds.
    pub fn from_datetime(dt: DateTime<Utc>) -> Self {
        let micros = dt.timestamp_micros();
        Self(Utc.timestamp_micros(micros).single().unwrap_or(dt))
    }

    /// The wrapped chrono instant.
    pub fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }

    /// This instant moved by a (possibly negative or fractional) number of seconds.
    pub fn plus_seconds(&self, seconds: f64) -> Self {
        let micros = (seconds * 1_000_000.0).round() as i64;
        Self::from_datetime(self.0 + chrono::Duration::microseconds(micros))
    }

    /// Seconds from `earlier` to `self` (negative when `earlier` is later).
    pub fn seconds_since(&self, earlier: &Timestamp) -> f64 {
        (self.0 - earlier.0).num_microseconds().unwrap_or(i64::MAX) as f64 / 1_000_000.0
    }

    /// The canonical text form: `2026-11-27T15:36:50.288574Z`.
    pub fn to_canonical(&self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

/// Why a text could not be read as a timestamp.
#[derive(Debug, thiserror::Error)]
#[error("invalid datetime {0:?}: expected ISO-8601, e.g. 2026-11-27T15:36:50.288574Z")]
pub struct InvalidTimestamp(pub String);

impl FromStr for Timestamp {
    type Err = InvalidTimestamp;

    /// Accepts RFC 3339 with a `T` or a space between date and time (Python's `str(datetime)` uses a
    /// space), any offset, and a naive time, which is taken as UTC.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        if let Ok(dt) = DateTime::parse_from_rfc3339(trimmed) {
            return Ok(Self::from_datetime(dt.with_timezone(&Utc)));
        }
        let with_t = trimmed.replacen(' ', "T", 1);
        if let Ok(dt) = DateTime::parse_from_rfc3339(&with_t) {
            return Ok(Self::from_datetime(dt.with_timezone(&Utc)));
        }
        for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S"] {
            if let Ok(naive) = NaiveDateTime::parse_from_str(&with_t, format) {
                return Ok(Self::from_datetime(naive.and_utc()));
            }
        }
        if let Ok(date) = chrono::NaiveDate::parse_from_str(trimmed, "%Y-%m-%d") {
            if let Some(naive) = date.and_hms_opt(0, 0, 0) {
                return Ok(Self::from_datetime(naive.and_utc()));
            }
        }
        Err(InvalidTimestamp(s.to_owned()))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_canonical())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_canonical())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_prefect_clients_send() {
        let expected: Timestamp = "2026-11-27T15:37:34.606060Z".parse().unwrap();
        for text in [
            "2026-11-27 15:37:34.606060+00:00",
            "2026-11-27T15:37:34.606060+00:00",
            "2026-11-27T16:37:34.606060+01:00",
            "2026-11-27T15:37:34.606060",
        ] {
            assert_eq!(text.parse::<Timestamp>().unwrap(), expected, "{text}");
        }
        assert!("yesterday".parse::<Timestamp>().is_err());
    }

    #[test]
    fn canonical_text_is_fixed_width_and_sorts_like_time() {
        let a: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let b = a.plus_seconds(0.5);
        assert_eq!(a.to_canonical(), "2026-01-01T00:00:00.000000Z");
        assert!(a.to_canonical() < b.to_canonical());
        assert_eq!(b.seconds_since(&a), 0.5);
    }
}
