//! `omk goal review`: the controller's review of the goal's claimed tree.
//!
//! Three checks, recorded as one `review_recorded` event with the findings as an artifact:
//! a secret scan of the changed files (findings name file and line, never the secret); a
//! write-scope audit (every changed file attributed to a task whose write set allows it); and
//! the gate results on the claimed tree. High-confidence findings block `ready`. A passing
//! review completes the controller's verify and review tasks and moves the goal to
//! integrating, where the human integrator accepts or rejects it.

use std::path::Path;

use crate::event::{
    Event, FindingSeverity, GoalId, Phase, PhaseEntered, ResultBuilt, ReviewCheck, ReviewFinding,
    ReviewRecorded, TaskKind, TaskStatus, TaskTransitioned,
};
use crate::plan::secrets::scan;
use crate::plan::write_set::allows;
use crate::shell::clock::Clock;
use crate::shell::git::{git_paths, git_text, run_git, GitError};
use crate::state::commands::GoalCommand;
use crate::state::verdict::verdict_before_acceptance;
use crate::state::{GoalState, GoalStatus};
use crate::store::{GoalDir, Loaded, StoreError};

/// The review could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error(transparent)]
    Store(Box<StoreError>),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("goal {goal_id} has no claimed tree to review: run `omk goal verify {goal_id}` first")]
    NoClaimedTree { goal_id: GoalId },
    #[error("cannot store the findings: {0}")]
    Artifact(String),
}

impl From<StoreError> for ReviewError {
    fn from(error: StoreError) -> ReviewError {
        ReviewError::Store(Box::new(error))
    }
}

/// Reviews the goal's claimed tree and records the outcome.
pub fn review_goal(goal: &GoalDir, repo_root: &Path, clock: &Clock) -> Result<Loaded, ReviewError> {
    let loaded = goal.load()?;
    let state = &loaded.state;
    state
        .check_command(GoalCommand::Review)
        .map_err(StoreError::Refused)?;
    let Some(result) = state.result.clone() else {
        return Err(ReviewError::NoClaimedTree {
            goal_id: state.goal_id.clone(),
        });
    };
    // What the result branch holds now is what is reviewed; if someone moved it since the
    // gates ran, that is recorded, and the gate evidence becomes stale.
    let tip = git_text(repo_root, &["rev-parse", &result.branch])?;
    let state = if tip == result.commit {
        loaded.state.clone()
    } else {
        let observed = ResultBuilt {
            commit: tip.clone(),
            tree: git_text(repo_root, &["rev-parse", &format!("{tip}^{{tree}}")])?,
            ..result.clone()
        };
        goal.transact(clock.now(), |_| {
            Ok(vec![Event::ResultBuilt(observed.clone())])
        })?
        .0
        .state
    };
    let base = state.base_commit.clone().unwrap_or_default();
    let changed = git_paths(
        repo_root,
        &["diff", "--no-renames", "--name-only", "-z", &base, &tip],
    )?;
    // Deleted files have nothing left to scan; every other changed file must be read.
    let present = git_paths(
        repo_root,
        &[
            "diff",
            "--no-renames",
            "--name-only",
            "-z",
            "--diff-filter=d",
            &base,
            &tip,
        ],
    )?;
    let mut findings = Vec::new();
    for file in &changed {
        if present.contains(file) {
            match run_git(repo_root, &["cat-file", "blob", &format!("{tip}:{file}")]) {
                Ok(bytes) if bytes.contains(&0) => {}
                Ok(bytes) => findings.extend(scan(file, &String::from_utf8_lossy(&bytes))),
                Err(error) => findings.push(ReviewFinding {
                    check: ReviewCheck::SecretScan,
                    severity: FindingSeverity::High,
                    file: Some(file.clone()),
                    line: None,
                    message: format!("the secret scan could not read it: {}", error.detail),
                }),
            }
        }
        match attribution(&state, file) {
            Attribution::Planned => {}
            Attribution::Widened(task) => findings.push(ReviewFinding {
                check: ReviewCheck::WriteScope,
                severity: FindingSeverity::Medium,
                file: Some(file.clone()),
                line: None,
                message: format!(
                    "widened: {task} changed it outside its planned write set (no other slice claims it)"
                ),
            }),
            Attribution::Nobody => findings.push(ReviewFinding {
                check: ReviewCheck::WriteScope,
                severity: FindingSeverity::High,
                file: Some(file.clone()),
                line: None,
                message: "changed, but no task whose write set allows it changed it".to_owned(),
            }),
        }
    }
    for blocker in verdict_before_acceptance(&state).blockers {
        if blocker.kind.is_about_gates() {
            findings.push(ReviewFinding {
                check: ReviewCheck::Gates,
                severity: FindingSeverity::High,
                file: None,
                line: None,
                message: blocker.detail,
            });
        }
    }
    let blocking = findings
        .iter()
        .filter(|finding| finding.severity == FindingSeverity::High)
        .count() as u64;
    let artifact = goal
        .artifacts()
        .put(
            "review/findings.json",
            "application/json",
            crate::project::to_json(&findings).as_bytes(),
        )
        .map_err(|error| ReviewError::Artifact(error.to_string()))?;
    let review = ReviewRecorded {
        commit: tip,
        files_reviewed: changed.len() as u64,
        findings,
        blocking,
        passed: blocking == 0,
        findings_artifact: artifact.hash,
    };
    let (loaded, _) = goal.transact(clock.now(), |state| {
        let mut events = vec![
            Event::ArtifactRecorded(artifact.clone()),
            Event::ReviewRecorded(review.clone()),
        ];
        if review.passed {
            events.extend(complete_review(state));
        }
        Ok(events)
    })?;
    Ok(loaded)
}

/// Who answers for a changed file of the claimed tree.
enum Attribution {
    /// A slice changed it within its write set.
    Planned,
    /// A slice changed it outside its write set, and its scope check allowed it as widened.
    Widened(String),
    /// No slice's recorded changes account for it.
    Nobody,
}

/// Returns which slice changed `file`, and whether its plan allowed it.
fn attribution(state: &GoalState, file: &str) -> Attribution {
    let mut widened = None;
    for task in state
        .tasks
        .tasks()
        .iter()
        .filter(|task| task.spec.kind == TaskKind::Implementation)
    {
        // A fix round builds on the slice's earlier work: all of it is on the branch.
        let changes = task.work_on_branch();
        if !changes
            .iter()
            .any(|changes| changes.changed_files.iter().any(|changed| changed == file))
        {
            continue;
        }
        if allows(&task.spec.write_set, file) {
            return Attribution::Planned;
        }
        if changes
            .iter()
            .any(|changes| changes.widened.iter().any(|path| path == file))
        {
            widened = Some(task.spec.id.to_string());
        }
    }
    widened.map_or(Attribution::Nobody, Attribution::Widened)
}

/// The events of a passing review: into reviewing, the controller's tasks done, into integrating.
fn complete_review(state: &GoalState) -> Vec<Event> {
    let mut events = Vec::new();
    if state.status == GoalStatus::Verifying {
        events.push(Event::PhaseEntered(PhaseEntered {
            phase: Phase::Reviewing,
        }));
    }
    for kind in [
        TaskKind::LocalVerify,
        TaskKind::SecurityReview,
        TaskKind::Review,
    ] {
        for task in state
            .tasks
            .tasks()
            .iter()
            .filter(|task| task.spec.kind == kind && task.status == TaskStatus::Pending)
        {
            for (from, to, reason) in [
                (
                    TaskStatus::Pending,
                    TaskStatus::Running,
                    "the controller's review ran",
                ),
                (
                    TaskStatus::Running,
                    TaskStatus::Done,
                    "the review passed on the claimed tree",
                ),
            ] {
                events.push(Event::TaskTransitioned(TaskTransitioned {
                    task_id: task.spec.id.clone(),
                    from,
                    to,
                    reason: Some(reason.to_owned()),
                }));
            }
        }
    }
    if matches!(state.status, GoalStatus::Verifying | GoalStatus::Reviewing) {
        events.push(Event::PhaseEntered(PhaseEntered {
            phase: Phase::Integrating,
        }));
    }
    events
}
