//! Payload versions and upcasting: how a payload an older omk stored becomes today's type.
//!
//! Every kind's payload has a version. Version 1 is implicit: the payload carries no `v`.
//! From version 2 on, the payload's first field is `"v": N`. Each kind names its upcasters
//! where it is declared (the `event_kinds!` table in `event/mod.rs`), one small function per
//! step (version 1 → 2, 2 → 3, …), so its current version is one more than its number of
//! steps. Decoding upcasts an old payload in memory; the stored line is never rewritten.
//! A payload of a version this build does not know yet is refused as written by a newer omk.
//! Owns only the mechanism: the steps themselves live beside the payload types they produce.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::event::DecodeError;

/// The payload field that carries a version from 2 on.
pub const VERSION_FIELD: &str = "v";

/// One upcasting step: a payload of version N, as a JSON object, turned into version N + 1.
/// An `Err` says why that payload cannot be upcast.
pub type Upcaster = fn(Map<String, Value>) -> Result<Map<String, Value>, String>;

/// Returns the current payload version of a kind with these upcasting steps.
pub const fn current_version(steps: &[Upcaster]) -> u32 {
    steps.len() as u32 + 1
}

/// A payload of version 2 or later as it is stored: `v` first, then the payload's fields.
#[derive(Serialize)]
pub struct Versioned<'a, T> {
    v: u32,
    #[serde(flatten)]
    data: &'a T,
}

impl<'a, T> Versioned<'a, T> {
    /// Returns `data` stamped with `version`.
    pub fn new(version: u32, data: &'a T) -> Versioned<'a, T> {
        Versioned { v: version, data }
    }
}

/// Returns the payload `data` of kind `kind`, stored at `seq`, as today's type: upcast with
/// `steps` when it is older, refused when it is newer than this build knows.
pub fn decode_payload<T: DeserializeOwned>(
    seq: u64,
    kind: &str,
    data: &RawValue,
    steps: &[Upcaster],
) -> Result<T, DecodeError> {
    let current = current_version(steps);
    let bad = |detail: String| DecodeError::BadPayload {
        seq,
        kind: kind.to_owned(),
        detail,
    };
    if current == 1 {
        // The fast path: today's payloads carry no version. Every payload type denies unknown
        // fields, so a newer payload (which carries `v`) fails here and is told apart below.
        return serde_json::from_str(data.get()).map_err(|error| match stored_version(data) {
            Some(version) if version > current => DecodeError::NewerVersion {
                seq,
                kind: kind.to_owned(),
                version,
                known: current,
            },
            _ => bad(error.to_string()),
        });
    }
    let mut fields: Map<String, Value> =
        serde_json::from_str(data.get()).map_err(|error| bad(error.to_string()))?;
    let version = match fields.remove(VERSION_FIELD) {
        None => 1,
        Some(value) => version_of(&value)
            .ok_or_else(|| bad(format!("`v` must be a whole number from 1, not {value}")))?,
    };
    if version > current {
        return Err(DecodeError::NewerVersion {
            seq,
            kind: kind.to_owned(),
            version,
            known: current,
        });
    }
    for (step, upcast) in steps.iter().enumerate().skip(version as usize - 1) {
        fields = upcast(fields).map_err(|why| {
            bad(format!(
                "cannot upcast version {} to {}: {why}",
                step + 1,
                step + 2
            ))
        })?;
    }
    serde_json::from_value(Value::Object(fields)).map_err(|error| bad(error.to_string()))
}

/// Returns the `v` a payload names, when it is an object that names a valid one.
fn stored_version(data: &RawValue) -> Option<u32> {
    let fields: Map<String, Value> = serde_json::from_str(data.get()).ok()?;
    version_of(fields.get(VERSION_FIELD)?)
}

fn version_of(value: &Value) -> Option<u32> {
    value
        .as_u64()
        .and_then(|version| u32::try_from(version).ok())
        .filter(|version| *version >= 1)
}

/// Returns the JSON Schema of a payload at `version`: from version 2 on, with its `v`.
pub fn versioned_schema(mut schema: schemars::Schema, version: u32) -> schemars::Schema {
    if version == 1 {
        return schema;
    }
    let object = schema.ensure_object();
    let field = serde_json::json!({
        "description": "The payload's version (absent for version 1).",
        "const": version,
    });
    if let Some(Value::Object(properties)) = object.get_mut("properties") {
        properties.insert(VERSION_FIELD.to_owned(), field);
    }
    match object.get_mut("required") {
        Some(Value::Array(required)) => required.insert(0, Value::from(VERSION_FIELD)),
        _ => {
            object.insert("required".to_owned(), serde_json::json!([VERSION_FIELD]));
        }
    }
    schema
}
