//! One stored event line: its exact bytes, how they are written, and how they are checked alone.
//!
//! A line is `{…,"prev":"<64 hex>","hash":"<64 hex>"}\n`; the hash covers every byte before `,"hash"`.
//! This module checks what one line can prove about itself (JSON, version, fields, own hash).
//! It must not look at other lines: links between lines belong to [`crate::log::chain`].

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::log::hash::EventHash;

/// Returns the one format version this build writes and reads.
pub const FORMAT_VERSION: u64 = 1;

/// Returns the largest stored line, in bytes, counting its `\n`: big payloads belong in artifacts.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Returns the largest number of events in one batch.
pub const MAX_BATCH_EVENTS: u32 = 4096;

/// Returns the largest encoded batch, in bytes: readers hold one batch in memory.
pub const MAX_BATCH_BYTES: usize = 16 << 20;

/// The bytes between the hashed body and the hash's hex digits.
const HASH_FIELD_OPENING: &[u8] = b",\"hash\":\"";
/// The bytes after the hash's hex digits, closing the object.
const HASH_FIELD_CLOSING: &[u8] = b"\"}";
/// The length of the unhashed suffix of a line (without its `\n`).
const HASH_SUFFIX_LEN: usize = HASH_FIELD_OPENING.len() + 64 + HASH_FIELD_CLOSING.len();

/// A writer-chosen event id: 1 to 64 characters of `A-Z a-z 0-9 . _ : -`.
///
/// Ids make appends idempotent: a retried batch whose ids are already in place is not written twice.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize)]
#[serde(transparent)]
pub struct EventId(String);

impl EventId {
    /// Returns the id, or an error saying which rule the text breaks.
    pub fn new(text: impl Into<String>) -> Result<EventId, InvalidEvent> {
        let text = text.into();
        if is_event_id(&text) {
            Ok(EventId(text))
        } else {
            Err(InvalidEvent::Id(text))
        }
    }

    /// Returns the id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An event kind as the log stores it: 1 to 64 characters, `[a-z][a-z0-9_]*`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize)]
#[serde(transparent)]
pub struct EventKind(Cow<'static, str>);

impl EventKind {
    /// Returns the kind, or an error saying which rule the text breaks.
    pub fn new(text: impl Into<Cow<'static, str>>) -> Result<EventKind, InvalidEvent> {
        let text = text.into();
        if is_kind(&text) {
            Ok(EventKind(text))
        } else {
            Err(InvalidEvent::Kind(text.into_owned()))
        }
    }

    /// Returns the kind as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An event a caller wants appended: the writer adds `seq`, `ts`, `batch`, `prev` and `hash`.
#[derive(Clone, Debug)]
pub struct NewEvent {
    id: EventId,
    kind: EventKind,
    data: Box<RawValue>,
}

impl NewEvent {
    /// Returns the event with `data` serialised as compact JSON; `data` must be a JSON object.
    pub fn new(
        id: EventId,
        kind: EventKind,
        data: &impl Serialize,
    ) -> Result<NewEvent, InvalidEvent> {
        let data = serde_json::value::to_raw_value(data)
            .map_err(|error| InvalidEvent::Data(error.to_string()))?;
        if !data.get().starts_with('{') {
            return Err(InvalidEvent::Data("data must be a JSON object".to_owned()));
        }
        // A raw value passed through verbatim could carry a newline, which would split the line.
        if data.get().contains(['\n', '\r']) {
            return Err(InvalidEvent::Data(
                "data must be compact JSON without line breaks".to_owned(),
            ));
        }
        Ok(NewEvent { id, kind, data })
    }

    /// Returns the writer-chosen id.
    pub fn id(&self) -> &EventId {
        &self.id
    }

    /// Returns the kind.
    pub fn kind(&self) -> &EventKind {
        &self.kind
    }

    /// Returns the payload as compact JSON text.
    pub fn data(&self) -> &RawValue {
        &self.data
    }
}

/// An event could not be built as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEvent {
    #[error("invalid event id `{0}`: use 1 to 64 characters of A-Z a-z 0-9 . _ : -")]
    Id(String),
    #[error("invalid event kind `{0}`: use 1 to 64 characters, a lowercase letter then a-z 0-9 _")]
    Kind(String),
    #[error("invalid event data: {0}")]
    Data(String),
}

/// The position of an event inside the batch it was appended with: `[index, len]` in the line.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(from = "(u32, u32)", into = "(u32, u32)")]
pub struct Batch {
    /// Returns the event's place in its batch, from 0.
    pub index: u32,
    /// Returns the number of events in the batch.
    pub len: u32,
}

impl Batch {
    /// Returns whether this event closes its batch.
    pub fn is_last(&self) -> bool {
        self.index + 1 == self.len
    }
}

impl From<(u32, u32)> for Batch {
    fn from((index, len): (u32, u32)) -> Batch {
        Batch { index, len }
    }
}

impl From<Batch> for (u32, u32) {
    fn from(batch: Batch) -> (u32, u32) {
        (batch.index, batch.len)
    }
}

/// Returns the timestamp in the one form the writer stores: RFC 3339, UTC, microseconds, `Z`.
pub fn format_timestamp(at: DateTime<Utc>) -> String {
    let mut text = String::with_capacity(27);
    // Writing into a String cannot fail.
    let _ = write_timestamp(at, &mut text);
    text
}

/// Writes the timestamp as [`format_timestamp`] returns it, without allocating.
pub fn write_timestamp(at: DateTime<Utc>, out: &mut impl fmt::Write) -> fmt::Result {
    // Written digit by digit: every timeline line and every append formats one (chrono's
    // general formatter was 8% of a streamed timeline). Chrono's output is the reference, and
    // its form for what this does not cover (years past 9999, a leap second).
    let (date, micros) = (at.date_naive(), at.timestamp_subsec_micros());
    if !(0..=9999).contains(&date.year()) || micros >= 1_000_000 {
        return out.write_str(&at.to_rfc3339_opts(SecondsFormat::Micros, true));
    }
    let time = at.time();
    let mut digits = [0u8; 27];
    let fields: [(usize, u32, usize); 7] = [
        (0, date.year() as u32, 4),
        (5, date.month(), 2),
        (8, date.day(), 2),
        (11, time.hour(), 2),
        (14, time.minute(), 2),
        (17, time.second(), 2),
        (20, micros, 6),
    ];
    for (start, mut value, width) in fields {
        for slot in digits[start..start + width].iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    for (at, separator) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (26, b'Z'),
    ] {
        digits[at] = separator;
    }
    out.write_str(&String::from_utf8_lossy(&digits))
}

/// Appends one encoded line (with its `\n`) to `out` and returns its hash.
pub(crate) fn encode_line(
    out: &mut Vec<u8>,
    seq: u64,
    timestamp: &str,
    event: &NewEvent,
    batch: Batch,
    prev: &EventHash,
) -> EventHash {
    use std::io::Write;
    let start = out.len();
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        "{{\"v\":{FORMAT_VERSION},\"seq\":{seq},\"ts\":\"{timestamp}\",\"id\":\"{}\",\"kind\":\"{}\",\"batch\":[{},{}],\"data\":{},\"prev\":\"{prev}\"",
        event.id,
        event.kind,
        batch.index,
        batch.len,
        event.data.get(),
    );
    let hash = EventHash::of_body(&out[start..]);
    out.extend_from_slice(HASH_FIELD_OPENING);
    out.extend_from_slice(hash.to_hex().as_bytes());
    out.extend_from_slice(HASH_FIELD_CLOSING);
    out.push(b'\n');
    hash
}

/// What one line, taken alone, shows to be wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum LineFault {
    /// The line is longer than [`MAX_LINE_BYTES`].
    LineTooLong { bytes: u64 },
    /// The line is not a JSON object of the version-1 shape.
    BadJson { detail: String },
    /// The line's `v` is not a version this build knows.
    UnknownVersion { found: u64 },
    /// The line is JSON of the right shape, but a field breaks a rule of the format.
    Malformed { detail: String },
    /// The stored hash is not the hash of the line's bytes.
    HashMismatch {
        stored: EventHash,
        computed: EventHash,
    },
}

impl LineFault {
    /// Returns the fault of a line found to exceed the cap before its end was read.
    pub(crate) fn overlong() -> LineFault {
        LineFault::LineTooLong {
            bytes: MAX_LINE_BYTES as u64 + 1,
        }
    }
}

impl fmt::Display for LineFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineFault::LineTooLong { bytes } => {
                write!(
                    f,
                    "line of {bytes} bytes exceeds the {MAX_LINE_BYTES}-byte cap"
                )
            }
            LineFault::BadJson { detail } => write!(f, "bad JSON: {detail}"),
            LineFault::UnknownVersion { found } => write!(
                f,
                "unknown format version {found} (this build reads version {FORMAT_VERSION})"
            ),
            LineFault::Malformed { detail } => write!(f, "malformed event: {detail}"),
            LineFault::HashMismatch { stored, computed } => write!(
                f,
                "hash mismatch: stored {}…, bytes hash to {}…",
                &stored.to_hex()[..12],
                &computed.to_hex()[..12]
            ),
        }
    }
}

/// The fields of a version-1 line, borrowed from its bytes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineFields<'a> {
    v: u64,
    seq: u64,
    #[serde(borrow)]
    ts: Cow<'a, str>,
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    batch: Batch,
    #[serde(borrow)]
    data: &'a RawValue,
    #[serde(borrow)]
    prev: Cow<'a, str>,
    #[serde(borrow)]
    hash: Cow<'a, str>,
}

/// Only the version, to name an unknown version even when the rest of the shape differs.
#[derive(Deserialize)]
struct VersionOnly {
    v: u64,
}

/// One line that has passed every check it can pass alone.
#[derive(Debug)]
pub(crate) struct CheckedLine<'a> {
    pub seq: u64,
    pub ts: DateTime<Utc>,
    pub id: Cow<'a, str>,
    pub kind: Cow<'a, str>,
    pub batch: Batch,
    pub data: &'a RawValue,
    pub prev: EventHash,
    pub hash: EventHash,
}

/// Returns the line's fields after checking what the line can prove alone.
///
/// `line` excludes its `\n`. Checks, in order: size, JSON shape, version, hash position,
/// hash value, then field rules; the first failure is returned.
pub(crate) fn check_line(line: &[u8]) -> Result<CheckedLine<'_>, LineFault> {
    if line.len() >= MAX_LINE_BYTES {
        return Err(LineFault::LineTooLong {
            bytes: line.len() as u64 + 1,
        });
    }
    let fields: LineFields<'_> = serde_json::from_slice(line).map_err(|error| {
        match serde_json::from_slice::<VersionOnly>(line) {
            Ok(VersionOnly { v }) if v != FORMAT_VERSION => LineFault::UnknownVersion { found: v },
            _ => LineFault::BadJson {
                detail: error.to_string(),
            },
        }
    })?;
    if fields.v != FORMAT_VERSION {
        return Err(LineFault::UnknownVersion { found: fields.v });
    }
    let body = hashed_body(line).ok_or_else(|| malformed("`hash` is not the last field"))?;
    let stored = EventHash::from_hex(fields.hash.as_bytes())
        .ok_or_else(|| malformed("`hash` is not 64 lowercase hex digits"))?;
    let computed = EventHash::of_body(body);
    if stored != computed {
        return Err(LineFault::HashMismatch { stored, computed });
    }
    let prev = EventHash::from_hex(fields.prev.as_bytes())
        .ok_or_else(|| malformed("`prev` is not 64 lowercase hex digits"))?;
    let ts = parse_timestamp(&fields.ts)?;
    if !is_event_id(&fields.id) {
        return Err(malformed(format!(
            "`id` {:?} breaks the id rule",
            fields.id
        )));
    }
    if !is_kind(&fields.kind) {
        return Err(malformed(format!(
            "`kind` {:?} breaks the kind rule",
            fields.kind
        )));
    }
    if fields.batch.len == 0
        || fields.batch.len > MAX_BATCH_EVENTS
        || fields.batch.index >= fields.batch.len
    {
        return Err(malformed(format!(
            "`batch` [{}, {}] is not [index < len ≤ {MAX_BATCH_EVENTS}]",
            fields.batch.index, fields.batch.len
        )));
    }
    if !fields.data.get().starts_with('{') {
        return Err(malformed("`data` is not a JSON object"));
    }
    Ok(CheckedLine {
        seq: fields.seq,
        ts,
        id: fields.id,
        kind: fields.kind,
        batch: fields.batch,
        data: fields.data,
        prev,
        hash: stored,
    })
}

/// Returns the bytes the hash covers, or `None` when the line does not end in the hash field.
fn hashed_body(line: &[u8]) -> Option<&[u8]> {
    let body_len = line.len().checked_sub(HASH_SUFFIX_LEN)?;
    let (body, suffix) = line.split_at(body_len);
    let closes = suffix.starts_with(HASH_FIELD_OPENING) && suffix.ends_with(HASH_FIELD_CLOSING);
    closes.then_some(body)
}

/// Returns the instant written as `YYYY-MM-DDTHH:MM:SS[.f]Z` (1 to 9 fraction digits, seconds
/// 00–59), the one RFC 3339 form the format allows; parsed by hand because it is on the hot path.
pub fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, LineFault> {
    let invalid = || {
        malformed(format!(
            "`ts` {text:?} is not a UTC timestamp YYYY-MM-DDTHH:MM:SS[.fraction]Z"
        ))
    };
    let bytes = text.as_bytes();
    let separators_in_place = bytes.len() >= 20
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T'
        && bytes[13] == b':'
        && bytes[16] == b':'
        && bytes[bytes.len() - 1] == b'Z';
    if !separators_in_place {
        return Err(invalid());
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0u32, |value, digit| {
            digit
                .is_ascii_digit()
                .then(|| value * 10 + u32::from(digit - b'0'))
        })
    };
    let nanos = match &bytes[19..bytes.len() - 1] {
        [] => Some(0),
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            number(digits).map(|value| value * 10u32.pow(9 - digits.len() as u32))
        }
        _ => None,
    };
    let parts = (
        number(&bytes[0..4]),
        number(&bytes[5..7]),
        number(&bytes[8..10]),
        number(&bytes[11..13]),
        number(&bytes[14..16]),
        number(&bytes[17..19]),
        nanos,
    );
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second), Some(nanos)) =
        parts
    else {
        return Err(invalid());
    };
    let date = NaiveDate::from_ymd_opt(year as i32, month, day).ok_or_else(invalid)?;
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)
        .filter(|_| nanos < 1_000_000_000)
        .ok_or_else(invalid)?;
    Ok(date.and_time(time).and_utc())
}

fn malformed(detail: impl Into<String>) -> LineFault {
    LineFault::Malformed {
        detail: detail.into(),
    }
}

fn is_event_id(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b':' | b'-'))
}

fn is_kind(text: &str) -> bool {
    let mut bytes = text.bytes();
    (1..=64).contains(&text.len())
        && bytes.next().is_some_and(|first| first.is_ascii_lowercase())
        && bytes.all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_formatted_as_chrono_formats_them() {
        use chrono::TimeZone;
        let mut seconds: i64 = -62_000_000_000; // year 4 or so
        while seconds < 253_402_300_799 + 10_000 {
            for nanos in [0, 7, 999_999, 123_456_789, 999_999_999] {
                let at = Utc.timestamp_opt(seconds, nanos).unwrap();
                assert_eq!(
                    super::format_timestamp(at),
                    at.to_rfc3339_opts(super::SecondsFormat::Micros, true)
                );
            }
            seconds += 7_777_777_777 / 61;
        }
    }

    use super::*;

    fn sample_line() -> (Vec<u8>, EventHash) {
        let event = NewEvent::new(
            EventId::new("ev-1").unwrap(),
            EventKind::new("run_started").unwrap(),
            &serde_json::json!({"goal_id": "g-1", "prompt": "add a flag"}),
        )
        .unwrap();
        let mut out = Vec::new();
        let hash = encode_line(
            &mut out,
            0,
            "2026-11-24T14:00:00.000000Z",
            &event,
            Batch { index: 0, len: 1 },
            &EventHash::GENESIS,
        );
        (out, hash)
    }

    /// Pins the bytes and hash of one canonical event: any change here is a format change.
    /// The hash was also computed independently with the Python `blake3` package.
    #[test]
    fn canonical_event_hash_is_pinned() {
        let (line, hash) = sample_line();
        let expected_body = concat!(
            r#"{"v":1,"seq":0,"ts":"2026-11-24T14:00:00.000000Z","id":"ev-1","kind":"run_started","#,
            r#""batch":[0,1],"data":{"goal_id":"g-1","prompt":"add a flag"},"#,
            r#""prev":"0000000000000000000000000000000000000000000000000000000000000000""#
        );
        assert_eq!(
            String::from_utf8(line.clone()).unwrap(),
            format!("{expected_body},\"hash\":\"{hash}\"}}\n")
        );
        assert_eq!(
            hash.to_hex(),
            "71bb3c31bbb704a0054d37ff21e7fcdfd631aebbede7a59ec00a90817432f204"
        );
    }

    #[test]
    fn encoded_line_checks_clean() {
        let (line, hash) = sample_line();
        let checked = check_line(&line[..line.len() - 1]).unwrap();
        assert_eq!(checked.hash, hash);
        assert_eq!(checked.seq, 0);
        assert_eq!(checked.kind, "run_started");
    }

    #[test]
    fn unknown_version_is_named_even_with_a_different_shape() {
        let fault = check_line(br#"{"v":7,"whatever":true}"#).unwrap_err();
        assert_eq!(fault, LineFault::UnknownVersion { found: 7 });
    }

    #[test]
    fn hash_must_be_the_last_field() {
        let (line, _) = sample_line();
        let text = String::from_utf8(line).unwrap();
        let (body, hash_field) = text.trim_end().split_once(",\"hash\":").unwrap();
        let hash_value = hash_field.trim_end_matches('}');
        let moved = format!("{{\"hash\":{hash_value},{}}}", &body[1..]);
        let fault = check_line(moved.as_bytes()).unwrap_err();
        assert!(matches!(fault, LineFault::Malformed { .. }), "{fault:?}");
    }

    #[test]
    fn timestamps_take_the_one_utc_form() {
        let parsed = parse_timestamp("2026-11-24T14:00:00.123456Z").unwrap();
        assert_eq!(format_timestamp(parsed), "2026-11-24T14:00:00.123456Z");
        assert!(parse_timestamp("2026-11-24T14:00:00Z").is_ok());
        assert!(parse_timestamp("2026-11-24T14:00:00.123456789Z").is_ok());
        for bad in [
            "2026-11-24T14:00:00+00:00",
            "2026-02-30T14:00:00Z",
            "2026-11-24T24:00:00Z",
            "2026-11-24T14:00:60Z",
            "2026-11-24 14:00:00Z",
            "2026-11-24T14:00:00.Z",
            "2026-11-24T14:00:00.1234567890Z",
            "+2026-11-24T14:00:00Z",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn new_event_refuses_non_object_data() {
        let error = NewEvent::new(
            EventId::new("a").unwrap(),
            EventKind::new("k").unwrap(),
            &[1, 2],
        )
        .unwrap_err();
        assert_eq!(
            error,
            InvalidEvent::Data("data must be a JSON object".to_owned())
        );
    }

    #[test]
    fn ids_and_kinds_follow_their_rules() {
        assert!(EventId::new("ev_01:a.b-c").is_ok());
        assert!(EventId::new("").is_err());
        assert!(EventId::new("a b").is_err());
        assert!(EventId::new("x".repeat(65)).is_err());
        assert!(EventKind::new("task_transitioned").is_ok());
        assert!(EventKind::new("Task").is_err());
        assert!(EventKind::new("1task").is_err());
    }
}
