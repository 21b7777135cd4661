//! What `omk doctor` found: one check per thing looked at, as text for people and JSON for
//! scripts (`schemas/doctor.schema.json`). The checks themselves are made in `ops::doctor`.

use serde::Serialize;

/// How one check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Present and usable.
    Ok,
    /// Absent or not set up, and omk works without it (with less).
    Missing,
    /// Omk cannot work as it should until this is fixed.
    Problem,
}

/// `omk doctor --format json`: every check, in the order they matter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Checkup {
    pub checks: Vec<Check>,
}

impl Checkup {
    /// Returns whether nothing must be fixed (absent extras are fine).
    pub fn healthy(&self) -> bool {
        self.checks
            .iter()
            .all(|check| check.health != Health::Problem)
    }
}

/// One thing `omk doctor` looked at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Check {
    /// What was checked: `git`, `agent claude`, `gh`, `signing key`, `state directory`.
    pub name: String,
    pub health: Health,
    /// What was found: a version, a path, a size.
    pub found: String,
    /// What to do about it, when anything.
    pub hint: Option<String>,
}

impl Check {
    pub(crate) fn new(name: impl Into<String>, health: Health, found: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            health,
            found: found.into(),
            hint: None,
        }
    }

    pub(crate) fn hinted(mut self, hint: impl Into<String>) -> Check {
        self.hint = Some(hint.into());
        self
    }
}
