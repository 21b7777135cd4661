//! Payloads of the events that build and move the task graph.
//!
//! Must hold only data: a task's validity against the graph is checked by `state`, not here.

use serde::{Deserialize, Serialize};

use crate::event::ids::TaskId;

use crate::event::time::Timestamp;
use crate::log::artifacts::ContentHash;

/// The state of one task in a goal's task graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Not started; waiting for its dependencies or a free agent.
    Pending,
    /// An agent or gate is working on it.
    Running,
    /// Finished with evidence.
    Done,
    /// Finished without success; may be retried.
    Failed,
    /// Cannot go on without something outside the run.
    Blocked,
    /// Will not be done in this goal.
    Cancelled,
}

impl TaskStatus {
    /// Returns the status's stored name.
    pub fn name(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Running => "running",
            TaskStatus::Done => "done",
            TaskStatus::Failed => "failed",
            TaskStatus::Blocked => "blocked",
            TaskStatus::Cancelled => "cancelled",
        }
    }
}

/// What a task is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// A slice of the change, done by a coding agent in its own worktree.
    Implementation,
    /// The controller runs the agent wave and gathers the slices into the goal's tree.
    AgentExecution,
    /// The controller runs the gates on the goal's tree.
    LocalVerify,
    /// The controller reviews the change.
    Review,
    /// The controller scans the change for secrets and out-of-scope writes.
    SecurityReview,
}

/// How much could go wrong if the task goes wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    Low,
    Medium,
    High,
}

/// A task as planned: everything about it except how far it has got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Returns the task's id, unique in the goal: 1 to 64 of `a-z 0-9 -`.
    pub id: TaskId,
    /// Returns a one-line title.
    pub title: String,
    /// Returns what is to be done.
    pub description: String,
    /// Returns what the task is for.
    pub kind: TaskKind,
    /// Returns who does it: `implementer`, `controller`, `reviewer` or `security`.
    pub owner_role: String,
    /// Returns the ids of the tasks that must be done first.
    pub depends_on: Vec<TaskId>,
    /// Returns the paths (or globs) the task needs to read.
    pub read_set: Vec<String>,
    /// Returns the paths (or globs) the task may change; changes elsewhere are a policy violation.
    pub write_set: Vec<String>,
    /// Returns how much could go wrong.
    pub risk: Risk,
    /// Returns the observable conditions that make the task done.
    pub acceptance: Vec<String>,
    /// Returns how many times the task may be retried after a failure.
    pub max_retries: u32,
    /// Returns whether the goal needs this task done to be ready.
    pub required: bool,
}

/// Who decomposed the goal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanSource {
    /// omk's built-in deterministic decomposition.
    Deterministic,
    /// The configured planner command.
    Planner,
    /// The goal's coding agent, exploring a scratch worktree. Added in 0.1.0.
    Agent,
    /// A person, with `omk goal edit-plan`. Added in 0.1.0.
    Edited,
}

/// `plan_edited`: a person replaced the task graph before execution started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanEdited {
    /// The whole new graph: the slices and the controller's tasks.
    pub tasks: Vec<TaskSpec>,
    /// Why it was edited, in a sentence.
    pub note: Option<String>,
}

/// `tasks_planned`: tasks were added to the graph (the first plan, or an accepted mutation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TasksPlanned {
    /// Returns who decomposed the goal.
    pub source: PlanSource,
    /// Returns the new tasks; dependencies may name tasks already in the graph.
    pub tasks: Vec<TaskSpec>,
}

/// `task_transitioned`: a task moved from one status to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskTransitioned {
    /// Returns the task's id.
    pub task_id: TaskId,
    /// Returns the status it left.
    pub from: TaskStatus,
    /// Returns the status it entered.
    pub to: TaskStatus,
    /// Returns why, in a sentence, when there is more to say than the statuses.
    pub reason: Option<String>,
}

/// `task_retried`: a failed or interrupted task goes back to `pending` for another attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskRetried {
    /// Returns the task's id.
    pub task_id: TaskId,
    /// Returns why it is retried.
    pub reason: String,
    /// How long omk waits before the retry starts (exponential, with jitter). Added in 0.1.0
    /// with the fix loop; absent for a retry that starts at once (a crashed wave's task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_ms: Option<u64>,
}

/// `task_leased`: a process took (or renewed) the right to run a task until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskLeased {
    /// Returns the task's id.
    pub task_id: TaskId,
    /// Returns who holds the lease: `<pid>@<host>`.
    pub holder: String,
    /// Returns when the lease lapses unless renewed.
    pub expires_at: Timestamp,
}

/// One piece of evidence about a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// Returns what the evidence shows, in a sentence.
    pub summary: String,
    /// Returns the stored artifact behind it, if any.
    pub artifact: Option<ContentHash>,
}

/// `task_evidence_recorded`: evidence was attached to a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskEvidenceRecorded {
    /// Returns the task's id.
    pub task_id: TaskId,
    /// Returns the evidence.
    pub evidence: Evidence,
}
