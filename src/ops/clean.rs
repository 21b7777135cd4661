//! `omk goal clean`: remove the worktrees of a finished goal; their branches stay.
//!
//! A worktree with uncommitted work is kept unless forced, and a goal that is still live is
//! refused unless forced, so no work is lost by accident. Each removal is recorded as a
//! `worktree_removed` event. Must not delete branches or refs: the commits are evidence.

use std::path::{Path, PathBuf};

use crate::event::{Event, GoalId, TaskId, WorktreeRemoved};
use crate::shell::clock::Clock;
use crate::shell::worktree::{is_dirty, remove, WorktreeError};
use crate::state::GoalStatus;
use crate::store::{GoalDir, Loaded, StoreError};

/// What a clean did.
#[derive(Debug)]
pub struct CleanOutcome {
    /// The goal after the clean.
    pub loaded: Loaded,
    /// The tasks whose worktrees were removed.
    pub removed: Vec<TaskId>,
    /// The tasks whose worktrees were kept because they hold uncommitted work, with the path.
    pub kept_dirty: Vec<(TaskId, PathBuf)>,
}

/// The clean could not run.
#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    #[error(transparent)]
    Store(Box<StoreError>),
    #[error("goal {goal_id} is {status}: its worktrees may still be needed")]
    Live { goal_id: GoalId, status: GoalStatus },
    #[error(transparent)]
    Worktree(#[from] WorktreeError),
}

impl From<StoreError> for CleanError {
    fn from(error: StoreError) -> CleanError {
        CleanError::Store(Box::new(error))
    }
}

/// Removes the goal's worktrees; `force` also takes uncommitted work and live goals.
pub fn clean_goal(
    goal: &GoalDir,
    repo_root: &Path,
    clock: &Clock,
    force: bool,
) -> Result<CleanOutcome, CleanError> {
    let loaded = goal.load()?;
    let state = &loaded.state;
    let finished = state.status.is_final() || state.status == GoalStatus::BlockedOnHuman;
    if !finished && !force {
        return Err(CleanError::Live {
            goal_id: state.goal_id.clone(),
            status: state.status,
        });
    }
    let mut removals = Vec::new();
    let mut kept_dirty = Vec::new();
    for task in state.tasks.tasks() {
        let Some(run) = task.runs.last().filter(|run| run.removed.is_none()) else {
            continue;
        };
        let path = PathBuf::from(&run.started.worktree);
        if !path.exists() {
            continue;
        }
        let dirty = is_dirty(&path).unwrap_or(true);
        if dirty && !force {
            kept_dirty.push((task.spec.id.clone(), path));
            continue;
        }
        remove(repo_root, &path)?;
        removals.push(Event::WorktreeRemoved(WorktreeRemoved {
            task_id: task.spec.id.clone(),
            worktree: path.display().to_string(),
            branch: run.started.branch.clone(),
            forced: dirty,
        }));
    }
    let removed = removals
        .iter()
        .filter_map(|event| match event {
            Event::WorktreeRemoved(removal) => Some(removal.task_id.clone()),
            _ => None,
        })
        .collect();
    let loaded = if removals.is_empty() {
        loaded
    } else {
        goal.transact(clock.now(), |_| Ok(removals.clone()))?.0
    };
    Ok(CleanOutcome {
        loaded,
        removed,
        kept_dirty,
    })
}
