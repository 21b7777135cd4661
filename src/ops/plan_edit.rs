//! `omk goal edit-plan`: a person replaces the plan before execution starts.
//!
//! The new slices come as a planner reply (`{"tasks": [...]}`), are validated like any
//! planner's (1 to `MAX_SLICES` implementation slices, write sets inside the repository, a
//! valid graph once the controller's tasks are added), and are recorded as one `plan_edited`
//! event; the transition table allows it only while the goal is planned and not executing.
//! Must not touch the repository.

use crate::event::{Event, PlanEdited, TaskKind};
use crate::plan::decompose::MAX_SLICES;
use crate::plan::task_graph;
use crate::shell::clock::Clock;
use crate::shell::planner::read_reply;
use crate::state::{Action, GoalState};
use crate::store::{GoalDir, Loaded, StoreError};

/// The plan could not be edited.
#[derive(Debug, thiserror::Error)]
pub enum EditPlanError {
    #[error(transparent)]
    Store(Box<StoreError>),
    #[error("the edited plan is not valid: {0}")]
    Invalid(String),
}

impl From<StoreError> for EditPlanError {
    fn from(error: StoreError) -> EditPlanError {
        EditPlanError::Store(Box::new(error))
    }
}

/// Returns the goal's implementation slices as a planner reply, for a person to edit.
pub fn editable_plan(state: &GoalState) -> String {
    let slices: Vec<_> = state
        .tasks
        .tasks()
        .iter()
        .filter(|task| task.spec.kind == TaskKind::Implementation)
        .map(|task| task.spec.clone())
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({ "tasks": slices })).unwrap_or_default() + "\n"
}

/// Records `reply` (a planner reply's bytes) as the goal's new plan.
pub fn edit_plan(
    goal: &GoalDir,
    clock: &Clock,
    reply: &[u8],
    note: Option<String>,
) -> Result<Loaded, EditPlanError> {
    let slices = read_reply(reply, MAX_SLICES).map_err(EditPlanError::Invalid)?;
    let tasks = task_graph(slices).map_err(|error| EditPlanError::Invalid(error.to_string()))?;
    let (loaded, _) = goal.transact(clock.now(), |state| {
        state.check(Action::EditPlan)?;
        Ok(vec![Event::PlanEdited(PlanEdited {
            tasks: tasks.clone(),
            note: note.clone(),
        })])
    })?;
    Ok(loaded)
}
