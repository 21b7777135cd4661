//! `task-graph.json`: the goal's task graph as it stands, one flat object per task.

use serde::Serialize;

use crate::event::{Evidence, Risk, TaskId, TaskKind, TaskStatus};
use crate::log::chain::Head;
use crate::project::derived::DerivedBy;
use crate::state::{GoalState, Lease};

/// The task graph projection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TaskGraphView<'a> {
    /// Returns the goal's id.
    pub goal_id: &'a str,
    /// Returns the log head the view was derived from.
    pub head: Head,
    /// The omk that derived the file, and its format version.
    pub derived_by: DerivedBy,
    /// Returns the tasks in plan order.
    pub tasks: Vec<TaskView<'a>>,
}

/// One task in the projection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TaskView<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub kind: TaskKind,
    pub status: TaskStatus,
    pub owner_role: &'a str,
    pub depends_on: &'a [TaskId],
    pub read_set: &'a [String],
    pub write_set: &'a [String],
    pub risk: Risk,
    pub acceptance: &'a [String],
    pub required: bool,
    pub retries: u32,
    pub max_retries: u32,
    pub lease: Option<&'a Lease>,
    pub evidence: &'a [Evidence],
}

/// The task graph file's format version: bumped whenever the file for a given log changes.
pub const TASK_GRAPH_FORMAT: u32 = 1;

/// Returns the task graph of `state` at `head`.
pub fn task_graph_view(state: &GoalState, head: Head) -> TaskGraphView<'_> {
    TaskGraphView {
        goal_id: &state.goal_id,
        head,
        derived_by: DerivedBy::this_build(TASK_GRAPH_FORMAT),
        tasks: state
            .tasks
            .tasks()
            .iter()
            .map(|task| TaskView {
                id: &task.spec.id,
                title: &task.spec.title,
                description: &task.spec.description,
                kind: task.spec.kind,
                status: task.status,
                owner_role: &task.spec.owner_role,
                depends_on: &task.spec.depends_on,
                read_set: &task.spec.read_set,
                write_set: &task.spec.write_set,
                risk: task.spec.risk,
                acceptance: &task.spec.acceptance,
                required: task.spec.required,
                retries: task.retries,
                max_retries: task.spec.max_retries,
                lease: task.lease.as_ref(),
                evidence: &task.evidence,
            })
            .collect(),
    }
}
