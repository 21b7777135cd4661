//! Event hashes: the BLAKE3 chain value that links each event to the one before it.
//!
//! Owns the exact hash input rule and the hex form of a hash.
//! Must not parse JSON: the hash covers bytes, never a re-serialisation.

use std::fmt;
use std::str::FromStr;

/// Returns the BLAKE3 derive-key context that names omk, the purpose and the format version.
///
/// Changing this string changes every hash: it is part of format version 1.
pub const HASH_CONTEXT: &str = "omk 2026-11-24 event-log v1 line hash";

/// The hash of one stored event line, and the `prev` link of the event after it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventHash([u8; 32]);

impl EventHash {
    /// The `prev` of the first event: 32 zero bytes (64 `0` characters in hex).
    pub const GENESIS: EventHash = EventHash([0; 32]);

    /// Returns the hash of an event line's hashed body (see [`crate::log::line`]).
    pub fn of_body(body: &[u8]) -> EventHash {
        let mut hasher = blake3::Hasher::new_derive_key(HASH_CONTEXT);
        hasher.update(body);
        EventHash(*hasher.finalize().as_bytes())
    }

    /// Returns the hash made of these 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> EventHash {
        EventHash(bytes)
    }

    /// Returns the raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Returns the hash parsed from exactly 64 lowercase hex digits, or `None`.
    pub fn from_hex(hex: &[u8]) -> Option<EventHash> {
        decode_hex32(hex).map(EventHash)
    }

    /// Returns the lowercase hex form written into logs.
    pub fn to_hex(&self) -> String {
        encode_hex32(&self.0)
    }
}

impl fmt::Display for EventHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for EventHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventHash({})", self.to_hex())
    }
}

impl FromStr for EventHash {
    type Err = InvalidHex;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        EventHash::from_hex(text.as_bytes()).ok_or(InvalidHex)
    }
}

impl serde::Serialize for EventHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for EventHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        text.parse()
            .map_err(|_| serde::de::Error::custom("expected 64 lowercase hex digits"))
    }
}

impl schemars::JsonSchema for EventHash {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Blake3Hex".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9a-f]{64}$",
            "description": "A BLAKE3 hash as 64 lowercase hex digits."
        })
    }
}

/// The text was not 64 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expected 64 lowercase hex digits")]
pub struct InvalidHex;

/// Returns 32 bytes decoded from 64 lowercase hex digits, or `None`.
pub(crate) fn decode_hex32(hex: &[u8]) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    // Every line carries two hashes: a table and one check at the end, not a branch per digit
    // (measured: 13% of `replay --verify` went to the branchy form).
    let mut out = [0u8; 32];
    let mut invalid = 0u8;
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let (high, low) = (
            HEX_VALUES[usize::from(pair[0])],
            HEX_VALUES[usize::from(pair[1])],
        );
        invalid |= high | low;
        *byte = (high << 4) | (low & 0x0f);
    }
    (invalid & INVALID_DIGIT == 0).then_some(out)
}

/// Marks a byte that is not a lowercase hex digit in [`HEX_VALUES`].
const INVALID_DIGIT: u8 = 0x80;

/// The value of each lowercase hex digit, [`INVALID_DIGIT`] for every other byte.
const HEX_VALUES: [u8; 256] = {
    let mut table = [INVALID_DIGIT; 256];
    let mut digit = 0;
    while digit < 16 {
        let symbol = b"0123456789abcdef"[digit];
        table[symbol as usize] = digit as u8;
        digit += 1;
    }
    table
};

/// Returns the lowercase hex form of 32 bytes.
pub(crate) fn encode_hex32(bytes: &[u8; 32]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_uppercase() {
        let hash = EventHash::of_body(b"{\"v\":1}");
        assert_eq!(hash.to_hex().parse::<EventHash>(), Ok(hash));
        assert_eq!(
            hash.to_hex().to_uppercase().parse::<EventHash>(),
            Err(InvalidHex)
        );
        assert_eq!("00".parse::<EventHash>(), Err(InvalidHex));
    }

    #[test]
    fn every_byte_that_is_not_a_lowercase_hex_digit_is_refused_anywhere() {
        let hex = EventHash::of_body(b"{}").to_hex().into_bytes();
        for at in 0..64 {
            for byte in 0..=255u8 {
                let mut text = hex.clone();
                text[at] = byte;
                let digit = b"0123456789abcdef".iter().position(|d| *d == byte);
                match (decode_hex32(&text), digit) {
                    (Some(bytes), Some(value)) => {
                        let nibble = if at % 2 == 0 {
                            bytes[at / 2] >> 4
                        } else {
                            bytes[at / 2] & 0x0f
                        };
                        assert_eq!(usize::from(nibble), value);
                    }
                    (None, None) => {}
                    (decoded, _) => panic!("byte {byte} at {at}: {decoded:?}"),
                }
            }
        }
    }

    #[test]
    fn genesis_is_64_zeros() {
        assert_eq!(EventHash::GENESIS.to_hex(), "0".repeat(64));
    }

    #[test]
    fn derive_key_mode_differs_from_plain_hash() {
        // A plain `b3sum` of the body must not verify an event: the context separates domains.
        let body = b"{\"v\":1}";
        assert_ne!(
            EventHash::of_body(body).as_bytes(),
            blake3::hash(body).as_bytes()
        );
    }
}
