//! The verdict rule, in one pure function: when a goal may be called `ready`, and otherwise
//! every blocker with the next step to take.
//!
//! `ready` only if the goal has a claimed tree; every required gate's latest run passed on
//! that exact commit, on a clean checkout; every required task is done; the review passed;
//! and the integrator accepted. Each missing piece is one blocker, never a silent default.

use serde::Serialize;

use crate::event::{Decision, TaskStatus};
use crate::state::commands::{GoalCommand, LoopMove};
use crate::state::{GateRecord, GoalState, GoalStatus};

/// What kind of thing keeps a goal from `ready`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlockerKind {
    /// The goal is paused, held or ended (cancelled, rejected, blocked) before its result was judged.
    GoalEnded,
    /// A slice's branch does not merge into the result branch.
    ResultConflict,
    /// No claimed tree was built yet.
    NoClaimedTree,
    /// The claimed tree is the base commit's tree: the goal changed nothing.
    NoChange,
    /// Gates ran on another tree than the one the goal claims now.
    EvidenceStale,
    /// A required gate's latest run failed.
    GateFailed,
    /// A red-first gate passed on the base commit too, so it proves nothing.
    RedFirst,
    /// A gate ran on a checkout with uncommitted changes.
    DirtyTree,
    /// A required gate has not run on the claimed tree.
    GateMissing,
    /// A required task is not done.
    TaskNotDone,
    /// The review has not run.
    ReviewMissing,
    /// The review found blocking problems.
    ReviewFailed,
    /// The integrator has not accepted yet.
    NotAccepted,
    /// The integrator rejected the result.
    Rejected,
}

impl BlockerKind {
    /// Returns the kind's name as documents write it: `gate_failed`, ….
    pub fn name(self) -> &'static str {
        match self {
            BlockerKind::GoalEnded => "goal_ended",
            BlockerKind::ResultConflict => "result_conflict",
            BlockerKind::NoClaimedTree => "no_claimed_tree",
            BlockerKind::NoChange => "no_change",
            BlockerKind::EvidenceStale => "evidence_stale",
            BlockerKind::GateFailed => "gate_failed",
            BlockerKind::RedFirst => "red_first",
            BlockerKind::DirtyTree => "dirty_tree",
            BlockerKind::GateMissing => "gate_missing",
            BlockerKind::TaskNotDone => "task_not_done",
            BlockerKind::ReviewMissing => "review_missing",
            BlockerKind::ReviewFailed => "review_failed",
            BlockerKind::NotAccepted => "not_accepted",
            BlockerKind::Rejected => "rejected",
        }
    }

    /// Returns whether the blocker is about the gates' evidence on the claimed tree (what the
    /// review reports under its `gates` check).
    pub fn is_about_gates(self) -> bool {
        matches!(
            self,
            BlockerKind::GateFailed
                | BlockerKind::GateMissing
                | BlockerKind::EvidenceStale
                | BlockerKind::RedFirst
                | BlockerKind::DirtyTree
                | BlockerKind::ResultConflict
        )
    }
}

impl std::fmt::Display for BlockerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One reason the goal is not ready, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Blocker {
    /// What kind of blocker it is.
    pub kind: BlockerKind,
    /// Returns what is wrong, precisely.
    pub detail: String,
    /// Returns the next step.
    pub next_step: String,
}

/// The verdict on a goal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Verdict {
    /// Returns whether the evidence supports `ready`.
    pub ready: bool,
    /// Returns the goal's status as the verdict reads it.
    pub status: GoalStatus,
    /// Returns every blocker, in the order to address them.
    pub blockers: Vec<Blocker>,
}

fn blocker(kind: BlockerKind, detail: String, next_step: String) -> Blocker {
    Blocker {
        kind,
        detail,
        next_step,
    }
}

/// Returns the latest run of each gate on the goal's claimed tree (not baselines, not task worktrees).
pub fn latest_gate_runs(state: &GoalState) -> Vec<&GateRecord> {
    let mut latest: Vec<&GateRecord> = Vec::new();
    for record in state
        .gate_runs
        .iter()
        .filter(|record| record.run.target.is_claimed_tree())
    {
        match latest
            .iter_mut()
            .find(|seen| seen.run.gate == record.run.gate)
        {
            Some(seen) => *seen = record,
            None => latest.push(record),
        }
    }
    latest
}

/// Returns the verdict on `state`.
pub fn verdict(state: &GoalState) -> Verdict {
    let mut verdict = verdict_before_acceptance(state);
    if matches!(
        state.status,
        GoalStatus::Cancelled | GoalStatus::NotReady | GoalStatus::BlockedOnHuman
    ) {
        return verdict;
    }
    match state.integration.as_ref().map(|decision| decision.decision) {
        Some(Decision::Accepted) => {}
        Some(Decision::Rejected) => verdict.blockers.push(blocker(
            BlockerKind::Rejected,
            format!(
                "the integrator rejected it: {}",
                state
                    .integration
                    .as_ref()
                    .map_or("", |decision| decision.note.as_str())
            ),
            "start a new goal for another attempt".to_owned(),
        )),
        None => verdict.blockers.push(blocker(
            BlockerKind::NotAccepted,
            "the integrator has not accepted it".to_owned(),
            if state.status == GoalStatus::Integrating {
                format!("omk goal accept {} --summary '…'", state.goal_id)
            } else {
                "nothing to do yet: the integrator decides once every other blocker is gone"
                    .to_owned()
            },
        )),
    }
    verdict.ready = verdict.blockers.is_empty();
    verdict
}

/// Returns the verdict on everything but the integrator's decision: what `accept` requires.
pub fn verdict_before_acceptance(state: &GoalState) -> Verdict {
    let id = &state.goal_id;
    let mut blockers = Vec::new();
    let held = !state.status.is_live() && state.status != GoalStatus::Ready;
    if held {
        let reason = state
            .outcome
            .as_ref()
            .map_or(String::new(), |outcome| format!(": {}", outcome.reason));
        blockers.push(blocker(
            BlockerKind::GoalEnded,
            format!("the goal is {}{reason}", state.status),
            held_step(state),
        ));
        // Nothing more can be done in a cancelled or failed goal, or before a human decides:
        // the other blockers would only list steps (verify, review) that are not open.
        if state.status.is_final()
            || state.next_move() == LoopMove::Stop && state.status == GoalStatus::BlockedOnHuman
        {
            return Verdict {
                ready: false,
                status: state.status,
                blockers,
            };
        }
    }
    blockers.extend(evidence_blockers(state));
    for task in state.tasks.required_not_done() {
        blockers.push(blocker(
            BlockerKind::TaskNotDone,
            format!("required task `{}` is {}", task.spec.id, task.status.name()),
            match task.status {
                TaskStatus::Failed | TaskStatus::Blocked => step_for(
                    state,
                    GoalCommand::Continue,
                    format!(
                        "omk goal continue {id} (a fix round retries `{}` with its failure)",
                        task.spec.id
                    ),
                ),
                _ => format!("omk goal status {id}"),
            },
        ));
    }
    match &state.review {
        None => blockers.push(blocker(
            BlockerKind::ReviewMissing,
            "the change has not been reviewed".to_owned(),
            step_for(state, GoalCommand::Review, format!("omk goal review {id}")),
        )),
        Some(review) if !review.passed => blockers.push(blocker(
            BlockerKind::ReviewFailed,
            format!(
                "the review found {} blocking {} (artifact {})",
                review.blocking,
                if review.blocking == 1 {
                    "finding"
                } else {
                    "findings"
                },
                review.findings_artifact
            ),
            step_for(
                state,
                GoalCommand::Continue,
                format!("omk goal continue {id} (a fix round hands the slices the findings)"),
            ),
        )),
        Some(_) => {}
    }
    if held {
        // A held goal takes no step before the one that lifts the hold.
        let step = held_step(state);
        for blocker in &mut blockers {
            blocker.next_step.clone_from(&step);
        }
    }
    Verdict {
        ready: blockers.is_empty(),
        status: state.status,
        blockers,
    }
}

/// Returns what keeps the claimed tree from counting: no tree, a conflict, no change, and each
/// required gate whose latest run on it is missing, stale, failed or on a dirty checkout.
pub fn evidence_blockers(state: &GoalState) -> Vec<Blocker> {
    let id = &state.goal_id;
    let mut blockers = Vec::new();
    match (&state.result, &state.result_conflict) {
        (_, Some(conflict)) => blockers.push(blocker(
            BlockerKind::ResultConflict,
            format!(
                "merging `{}` into the result branch conflicts in {}",
                conflict.task_id,
                conflict.files.join(", ")
            ),
            format!(
                "re-run `{}` on top of {} (or resolve by hand), then `omk goal verify {id}`",
                conflict.task_id,
                conflict.merged.join(", ")
            ),
        )),
        (None, None) => blockers.push(blocker(
            BlockerKind::NoClaimedTree,
            "no result branch has been built".to_owned(),
            step_for(state, GoalCommand::Verify, format!("omk goal verify {id}")),
        )),
        (Some(result), None) if result.base_tree.as_ref() == Some(&result.tree) => {
            blockers.push(blocker(
                BlockerKind::NoChange,
                format!(
                    "the claimed tree {} is the base commit's tree: the goal changed nothing",
                    short(&result.tree)
                ),
                "run the slices again with an agent that makes the change".to_owned(),
            ))
        }
        (Some(_), None) => {}
    }
    if let Some(result) = &state.result {
        for record in latest_gate_runs(state)
            .into_iter()
            .filter(|record| record.run.required)
        {
            let run = &record.run;
            if run.target.commit != result.commit {
                blockers.push(blocker(
                    BlockerKind::EvidenceStale,
                    format!(
                        "evidence stale: gate `{}` ran on {}, the goal's tree is now {}",
                        run.gate,
                        short(&run.target.commit),
                        short(&result.commit)
                    ),
                    step_for(state, GoalCommand::Verify, format!("omk goal verify {id}")),
                ));
            } else if !run.passed() {
                let how = if run.timed_out {
                    "timed out".to_owned()
                } else {
                    run.exit_code
                        .map_or("was killed".to_owned(), |code| format!("exited {code}"))
                };
                blockers.push(blocker(
                    BlockerKind::GateFailed,
                    format!(
                        "gate `{}` {how} on {} (output: artifact {})",
                        run.gate,
                        short(&run.target.commit),
                        run.output
                    ),
                    step_for(
                        state,
                        GoalCommand::Continue,
                        format!(
                            "omk goal continue {id} (a fix round hands the slices this output)"
                        ),
                    ),
                ));
            } else if run.red_first && !failed_on_base(state, &run.gate) {
                blockers.push(blocker(
                    BlockerKind::RedFirst,
                    format!("gate `{}` must fail on the base commit and pass on the goal's tree, but it did not fail on the base", run.gate),
                    step_for(state, GoalCommand::Continue, format!("omk goal continue {id} (a fix round asks for a test that fails without the change)")),
                ));
            } else if run.target.dirty {
                blockers.push(blocker(
                    BlockerKind::DirtyTree,
                    format!(
                        "gate `{}` passed on a checkout with uncommitted changes",
                        run.gate
                    ),
                    step_for(state, GoalCommand::Verify, format!("omk goal verify {id}")),
                ));
            }
        }
        // The gates a goal needs are those whose latest run on the claimed tree says required.
        if !latest_gate_runs(state)
            .iter()
            .any(|record| record.run.required)
        {
            blockers.push(blocker(
                BlockerKind::GateMissing,
                "no required gate has run on the claimed tree".to_owned(),
                step_for(state, GoalCommand::Verify, format!("omk goal verify {id}")),
            ));
        }
    }
    blockers
}

/// Returns `step` when the goal accepts `command` now, or else the step that gets it there.
fn step_for(state: &GoalState, command: GoalCommand, step: String) -> String {
    let id = &state.goal_id;
    if state.check_command(command).is_ok() {
        step
    } else if state.check_command(GoalCommand::Continue).is_ok() {
        format!("omk goal continue {id} (it runs every step up to this one)")
    } else {
        format!("nothing to do yet: see `omk goal status {id}`")
    }
}

/// Returns the step that lifts the hold on a goal that is paused, held or ended.
fn held_step(state: &GoalState) -> String {
    let id = &state.goal_id;
    match state.status {
        GoalStatus::Paused | GoalStatus::BlockedOnExternal | GoalStatus::FailedInfra => {
            format!("omk goal resume {id}")
        }
        GoalStatus::NeedsMoreBudget => format!(
            "omk goal budget-add {id} --time 1h (or --tokens/--usd), then omk goal resume {id}"
        ),
        GoalStatus::BlockedOnHuman if state.next_move() != LoopMove::Stop => {
            format!("omk goal continue {id} (another fix round), or omk goal cancel {id}")
        }
        _ => format!("nothing to do: see `omk goal status {id}`"),
    }
}

/// Returns whether the latest baseline run of `gate` failed.
pub fn failed_on_base(state: &GoalState, gate: &str) -> bool {
    state
        .gate_runs
        .iter()
        .rev()
        .find(|record| record.run.target.baseline && record.run.gate == gate)
        .is_some_and(|record| !record.run.passed())
}

/// Returns the first 12 characters of a commit or hash, as views print them.
pub fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

#[cfg(test)]
mod blocker_kind_tests {
    use super::*;

    #[test]
    fn blocker_kind_names_are_their_serialized_form() {
        for kind in [
            BlockerKind::GoalEnded,
            BlockerKind::ResultConflict,
            BlockerKind::NoClaimedTree,
            BlockerKind::NoChange,
            BlockerKind::EvidenceStale,
            BlockerKind::GateFailed,
            BlockerKind::RedFirst,
            BlockerKind::DirtyTree,
            BlockerKind::GateMissing,
            BlockerKind::TaskNotDone,
            BlockerKind::ReviewMissing,
            BlockerKind::ReviewFailed,
            BlockerKind::NotAccepted,
            BlockerKind::Rejected,
        ] {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.name())
            );
        }
    }
}
