//! `omk goal gc`: remove the worktrees and branches of ended goals, and say what it freed.
//!
//! A goal is collected only when nothing more can happen to it (cancelled, not ready, or ready
//! and landed) and it has not changed for the given age. A live or held goal, and a ready goal
//! that has not landed, are never touched. The log, its artifacts and the landed commit stay:
//! the record of the run outlives its scratch space. Each collection is recorded as
//! `goal_pruned`.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::event::{Event, GoalPruned};
use crate::shell::clock::Clock;
use crate::shell::git::{git_text, run_git, GitError};
use crate::state::{GoalState, GoalStatus};
use crate::store::{GoalDir, StateDir, StoreError};

/// Which goals to collect.
#[derive(Clone, Copy, Debug)]
pub struct GcRequest {
    /// Only goals whose last event is at least this old.
    pub older_than: Duration,
    /// Say what would be removed; remove nothing.
    pub dry_run: bool,
}

/// What was (or would be) collected of one goal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collected {
    pub goal_id: String,
    pub pruned: GoalPruned,
}

/// A goal with something to collect that was left alone, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kept {
    pub goal_id: String,
    pub reason: String,
}

/// What `gc` did.
#[derive(Debug, Default)]
pub struct GcOutcome {
    pub collected: Vec<Collected>,
    pub kept: Vec<Kept>,
}

/// `gc` could not go on.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error(transparent)]
    Store(Box<StoreError>),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("cannot remove {path}: {source}")]
    Remove {
        path: String,
        source: std::io::Error,
    },
}

impl From<StoreError> for GcError {
    fn from(error: StoreError) -> GcError {
        GcError::Store(Box::new(error))
    }
}

/// Collects every ended goal under `state` that `request` selects.
pub fn collect_goals(
    state: &StateDir,
    repo_root: &Path,
    clock: &Clock,
    request: GcRequest,
) -> Result<GcOutcome, GcError> {
    let mut outcome = GcOutcome::default();
    let now = clock.now();
    for goal_id in state.goal_ids()? {
        let goal = state.goal(&goal_id);
        let branches = branches_of(repo_root, &goal_id)?;
        let has_scratch = goal.worktrees_dir().exists() || !branches.is_empty();
        if !has_scratch {
            continue;
        }
        let loaded = match goal.load() {
            Ok(loaded) => loaded,
            Err(error) => {
                outcome.kept.push(Kept {
                    goal_id,
                    reason: format!("its log cannot be folded ({error})"),
                });
                continue;
            }
        };
        if let Some(reason) = keep_reason(&loaded.state) {
            outcome.kept.push(Kept { goal_id, reason });
            continue;
        }
        let age = loaded.state.updated_at.seconds_until(now);
        if age < request.older_than.as_secs() {
            outcome.kept.push(Kept {
                goal_id,
                reason: format!(
                    "it changed {} ago, less than --older-than",
                    crate::plan::documents::format_duration(age)
                ),
            });
            continue;
        }
        let pruned = if request.dry_run {
            GoalPruned {
                worktrees: count_worktrees(&goal),
                branches,
                bytes: size_of(goal.worktrees_dir()),
            }
        } else {
            prune_goal(&goal, repo_root, clock)?
        };
        outcome.collected.push(Collected { goal_id, pruned });
    }
    Ok(outcome)
}

/// Returns why a goal must keep its worktrees and branches, or `None` when it may lose them.
fn keep_reason(state: &GoalState) -> Option<String> {
    match state.status {
        GoalStatus::Ready if state.landed.is_none() => {
            Some("it is ready but has not landed: `omk goal land` it first".to_owned())
        }
        status if !status.is_final() => Some(format!("it is {status}, not ended")),
        _ => None,
    }
}

/// Removes the goal's worktrees (its whole worktrees directory, the build cache with it) and
/// its branches, and records what was freed.
pub fn prune_goal(goal: &GoalDir, repo_root: &Path, clock: &Clock) -> Result<GoalPruned, GcError> {
    let dir = goal.worktrees_dir();
    let pruned = GoalPruned {
        worktrees: count_worktrees(goal),
        branches: branches_of(repo_root, goal.id())?,
        bytes: size_of(dir),
    };
    if dir.exists() {
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            // Unregister each worktree from git; a plain directory (the build cache) just goes.
            let _ = run_git(
                repo_root,
                &[
                    "worktree",
                    "remove",
                    "--force",
                    &entry.path().display().to_string(),
                ],
            );
        }
        fs::remove_dir_all(dir).map_err(|source| GcError::Remove {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let _ = run_git(repo_root, &["worktree", "prune"]);
    for branch in &pruned.branches {
        run_git(
            repo_root,
            &["update-ref", "-d", &format!("refs/heads/{branch}")],
        )?;
    }
    goal.transact(clock.now(), |_| Ok(vec![Event::GoalPruned(pruned.clone())]))?;
    Ok(pruned)
}

/// Returns the goal's branches (`omk/<goal-id>/…`), by short name.
fn branches_of(repo_root: &Path, goal_id: &str) -> Result<Vec<String>, GitError> {
    let listed = git_text(
        repo_root,
        &[
            "for-each-ref",
            "--format=%(refname:short)",
            &format!("refs/heads/omk/{goal_id}/"),
        ],
    )?;
    Ok(listed.lines().map(str::to_owned).collect())
}

/// Returns how many git worktrees the goal's worktrees directory holds.
fn count_worktrees(goal: &GoalDir) -> u64 {
    fs::read_dir(goal.worktrees_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.path().join(".git").exists())
        .count() as u64
}

/// Returns the bytes the files under `path` take, following no link.
fn size_of(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| size_of(&entry.path()))
        .sum()
}
