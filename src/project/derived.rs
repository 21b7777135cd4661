//! Which build derived a projection: the stamp every projection file carries (`derived_by`),
//! so that a file an older omk wrote is recognised after an upgrade instead of looking damaged.
//!
//! A projection's format version is bumped whenever its bytes for a given log change; the same
//! log gives the same bytes at the same format, whatever omk version derived them. The stamp
//! is data like any other field: nothing here reads the build's environment at run time.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The version of this build of omk.
pub const OMK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The stamp of a projection file: the omk that derived it and the format it is in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DerivedBy {
    /// The version of omk that derived the file.
    pub omk: String,
    /// The version of the file's format: the same log gives the same bytes at the same format.
    pub format: u32,
}

impl DerivedBy {
    /// Returns the stamp this build writes on a projection of `format`.
    pub fn this_build(format: u32) -> DerivedBy {
        DerivedBy {
            omk: OMK_VERSION.to_owned(),
            format,
        }
    }

    /// Returns the stamp a stored projection carries. A file from before stamps were written
    /// names no omk; its format is its legacy `v` (the snapshot's) or 0.
    pub fn of(stored: &Value) -> DerivedBy {
        if let Some(stamp) = stored
            .get("derived_by")
            .and_then(|stamp| DerivedBy::deserialize(stamp).ok())
        {
            return stamp;
        }
        DerivedBy {
            omk: String::new(),
            format: stored
                .get("v")
                .and_then(Value::as_u64)
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(0),
        }
    }

    /// Returns who wrote the file, for messages: `omk 0.1.0`, or `an earlier omk` for a file
    /// from before projections were stamped.
    pub fn writer(&self) -> String {
        if self.omk.is_empty() {
            "an earlier omk".to_owned()
        } else {
            format!("omk {}", self.omk)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_is_read_from_the_file_or_from_its_legacy_version() {
        let stamped = serde_json::json!({"derived_by": {"omk": "0.1.0", "format": 3}});
        assert_eq!(
            DerivedBy::of(&stamped),
            DerivedBy {
                omk: "0.1.0".to_owned(),
                format: 3
            }
        );
        let legacy_snapshot = serde_json::json!({"v": 2, "covers": {}});
        assert_eq!(DerivedBy::of(&legacy_snapshot).format, 2);
        assert_eq!(DerivedBy::of(&legacy_snapshot).writer(), "an earlier omk");
        assert_eq!(DerivedBy::of(&serde_json::json!({"head": {}})).format, 0);
    }
}
