//! Payloads of the events verification leaves: the goal's claimed tree (its result branch),
//! and each gate run, bound to the exact commit and tree it ran on.

use serde::{Deserialize, Serialize};

use crate::event::ids::{GateName, TaskId};
use crate::log::artifacts::ContentHash;

/// `result_built`: the slice branches were merged into the goal's result branch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultBuilt {
    /// Returns the branch: `omk/<goal-id>/result`.
    pub branch: String,
    /// Returns the commit the goal claims.
    pub commit: String,
    /// Returns that commit's tree.
    pub tree: String,
    /// Returns the slices merged, in the order they were merged.
    pub merged: Vec<TaskId>,
    /// The tree of the goal's base commit, to tell a result that changed nothing.
    /// Added in 0.1.0 with the no-change check; absent in older logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_tree: Option<String>,
}

/// `result_conflicted`: a slice branch would not merge into the result branch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultConflicted {
    /// Returns the slice whose branch conflicts.
    pub task_id: TaskId,
    /// Returns the slices merged before it.
    pub merged: Vec<TaskId>,
    /// Returns the conflicting paths.
    pub files: Vec<String>,
}

/// Where a gate ran: the commit, its tree, and whether the checkout differed from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateTarget {
    pub commit: String,
    pub tree: String,
    /// Returns whether the checkout had uncommitted changes (the evidence is then weaker).
    pub dirty: bool,
    /// Returns whether this is the baseline run on the goal's base commit.
    pub baseline: bool,
    /// Returns the task whose worktree it ran in, for `omk goal verify --task`.
    pub task_id: Option<TaskId>,
    /// Whether this run checks the tree `omk goal land` would put on a branch that moved since
    /// the goal's base (not the claimed tree). Added in payload version 2; absent means `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub landing: bool,
}

impl GateTarget {
    /// Returns whether the run checks a claimed tree of the goal: not the baseline, a task's
    /// worktree or a landing.
    pub fn is_claimed_tree(&self) -> bool {
        !self.baseline && !self.landing && self.task_id.is_none()
    }
}

/// Upcasts `gate_started` and `gate_finished` from version 1, whose target could not be a
/// landing: version 2 added `target.landing`.
pub fn gate_v1_to_v2(
    mut fields: serde_json::Map<String, serde_json::Value>,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let target = fields
        .get_mut("target")
        .and_then(serde_json::Value::as_object_mut)
        .ok_or("no `target` object")?;
    target.insert("landing".to_owned(), serde_json::Value::Bool(false));
    Ok(fields)
}

/// `gate_started`: a gate began on a target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateStarted {
    pub gate: GateName,
    pub command: String,
    pub target: GateTarget,
}

/// `gate_finished`: a gate ended on a target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateFinished {
    pub gate: GateName,
    pub command: String,
    pub required: bool,
    /// Returns whether the gate must fail on the base commit and pass on the goal's tree.
    /// Added after the first gate events: absent means `false`, so older logs still read.
    #[serde(default)]
    pub red_first: bool,
    pub target: GateTarget,
    /// Returns the exit status, or `None` when it was killed.
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub duration_ms: u64,
    /// Returns the gate's combined output, as an artifact (never embedded).
    pub output: ContentHash,
    /// Whether the run was stopped by an interruption (Ctrl-C) before it could finish.
    /// Added in 0.1.0 with the process supervisor; absent means `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// Whether the output was longer than omk keeps and the artifact holds only its start.
    /// Added in 0.1.0 with the process supervisor; absent means `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub output_truncated: bool,
    /// How many processes the gate left running when it ended, which omk then killed.
    /// Added in 0.1.0 with the process supervisor; absent means 0.
    #[serde(default, skip_serializing_if = "crate::event::is_zero")]
    pub leftovers_killed: u32,
    /// How many of its processes were still there after omk killed them (they escaped both
    /// its process group and its tag). Added in 0.1.0 with the process supervisor; absent means 0.
    #[serde(default, skip_serializing_if = "crate::event::is_zero")]
    pub leftovers_survived: u32,
    /// The last lines of a failed run's output, with secrets masked: what status, the proof
    /// and a fix round show (the whole output is the artifact). Added in 0.1.0 with the fix
    /// loop; empty for a pass and in older logs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_lines: String,
    /// The `seq` of the earlier run whose pass this one reuses: the same gate command passed on
    /// the identical tree, so it was not run again (its output is that run's). Added in
    /// payload version 2; absent for a run that ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<u64>,
}

impl GateFinished {
    /// Returns whether the gate passed: it exited 0 in time.
    pub fn passed(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out && !self.interrupted
    }
}

/// How much a review finding matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingSeverity {
    /// Blocks `ready`.
    High,
    /// Worth a look; does not block.
    Medium,
}

/// Which of the review's checks found something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewCheck {
    /// What looks like a credential in a changed file.
    SecretScan,
    /// A changed file that no task's write set allows.
    WriteScope,
    /// The gates' evidence on the claimed tree.
    Gates,
}

/// One thing the review found. It names the place, never a secret's value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewFinding {
    /// Which check found it.
    pub check: ReviewCheck,
    pub severity: FindingSeverity,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub message: String,
}

/// `review_recorded`: the controller's review of the claimed tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRecorded {
    /// Returns the commit reviewed.
    pub commit: String,
    /// Returns how many files changed from the base were reviewed.
    pub files_reviewed: u64,
    /// Returns the findings.
    pub findings: Vec<ReviewFinding>,
    /// Returns how many findings block `ready`.
    pub blocking: u64,
    /// Returns whether the review passed: no blocking finding.
    pub passed: bool,
    /// Returns the findings as an artifact (JSON).
    pub findings_artifact: ContentHash,
}
