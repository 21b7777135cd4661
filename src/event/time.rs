//! `Timestamp`: an instant as events carry it, in the log's one UTC text form.
//!
//! Owns the conversion between the stored text and `DateTime<Utc>`, so that state and
//! projections print the same bytes the writer stamped. Must not read the clock.

use std::fmt;

use chrono::{DateTime, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::log::line::{parse_timestamp, write_timestamp};

/// An instant in UTC, written `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// Returns the timestamp of `instant`, truncated to the microsecond the log stores.
    pub fn new(instant: DateTime<Utc>) -> Timestamp {
        // The writer stores microseconds, truncating (chrono's `Micros` format): keep exactly what
        // a round trip through the log keeps, without formatting and parsing per event.
        let nanos = instant.nanosecond();
        Timestamp(
            instant
                .with_nanosecond(nanos - nanos % 1_000)
                .unwrap_or(instant),
        )
    }

    /// Returns the instant.
    pub fn instant(&self) -> DateTime<Utc> {
        self.0
    }

    /// Returns whole seconds from `self` to `later`, or 0 when `later` is not later.
    pub fn seconds_until(&self, later: Timestamp) -> u64 {
        u64::try_from((later.0 - self.0).num_seconds()).unwrap_or(0)
    }

    /// Returns the timestamp `seconds` after this one.
    pub fn plus_seconds(&self, seconds: u64) -> Timestamp {
        let seconds = i64::try_from(seconds).unwrap_or(i64::MAX);
        Timestamp(
            self.0
                .checked_add_signed(chrono::TimeDelta::try_seconds(seconds).unwrap_or_default())
                .unwrap_or(self.0),
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_timestamp(self.0, f)
    }
}

impl std::str::FromStr for Timestamp {
    type Err = String;

    fn from_str(text: &str) -> Result<Timestamp, String> {
        parse_timestamp(text)
            .map(Timestamp)
            .map_err(|fault| fault.to_string())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "An instant in UTC, RFC 3339 with a `Z`, e.g. `2026-11-24T14:00:00.000000Z`.",
            "type": "string",
            "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_timestamp_keeps_what_a_round_trip_through_the_log_keeps() {
        let base = Utc.with_ymd_and_hms(2026, 12, 4, 19, 59, 59).unwrap();
        for nanos in [0, 1, 999, 1_000, 123_456_789, 999_999_999] {
            let instant = base.with_nanosecond(nanos).unwrap();
            let round_trip = parse_timestamp(&crate::log::line::format_timestamp(instant)).unwrap();
            assert_eq!(Timestamp::new(instant).instant(), round_trip, "{nanos} ns");
        }
    }
}
