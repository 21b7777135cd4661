//! The goal's status and the transition table: which action each status permits.
//!
//! This is the one place that says what may happen next. The reducer consults it for every
//! event, and commands are decided by applying their event to a copy of the state, so a
//! refused command and a refused event are refused by the same rule.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::event::{Conclusion, Phase};

/// Where a goal stands: a live phase, paused, held, or ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GoalStatus {
    Intake,
    Planning,
    Executing,
    Verifying,
    Reviewing,
    Integrating,
    /// Stopped by the operator; `resume` returns to the phase it was in.
    Paused,
    /// Ended: the evidence supports the result and the integrator accepted it.
    Ready,
    /// Ended: the result is not good enough, or the integrator rejected it.
    NotReady,
    /// Held: a human must decide something first.
    BlockedOnHuman,
    /// Held: something outside the run must change first; `resume` when it has.
    BlockedOnExternal,
    /// Held: a limit was reached; `budget-add`, then `resume`.
    NeedsMoreBudget,
    /// Held: the machinery failed (not the work); `resume` to try again.
    FailedInfra,
    /// Ended by the operator.
    Cancelled,
}

impl GoalStatus {
    /// Every status, in the order a goal may pass through them.
    pub const ALL: [GoalStatus; 14] = [
        GoalStatus::Intake,
        GoalStatus::Planning,
        GoalStatus::Executing,
        GoalStatus::Verifying,
        GoalStatus::Reviewing,
        GoalStatus::Integrating,
        GoalStatus::Paused,
        GoalStatus::Ready,
        GoalStatus::NotReady,
        GoalStatus::BlockedOnHuman,
        GoalStatus::BlockedOnExternal,
        GoalStatus::NeedsMoreBudget,
        GoalStatus::FailedInfra,
        GoalStatus::Cancelled,
    ];

    /// Returns the status of a live goal in `phase`.
    pub fn live(phase: Phase) -> GoalStatus {
        match phase {
            Phase::Intake => GoalStatus::Intake,
            Phase::Planning => GoalStatus::Planning,
            Phase::Executing => GoalStatus::Executing,
            Phase::Verifying => GoalStatus::Verifying,
            Phase::Reviewing => GoalStatus::Reviewing,
            Phase::Integrating => GoalStatus::Integrating,
        }
    }

    /// Returns the status a conclusion ends in.
    pub fn concluded(conclusion: Conclusion) -> GoalStatus {
        match conclusion {
            Conclusion::NotReady => GoalStatus::NotReady,
            Conclusion::BlockedOnHuman => GoalStatus::BlockedOnHuman,
            Conclusion::BlockedOnExternal => GoalStatus::BlockedOnExternal,
            Conclusion::NeedsMoreBudget => GoalStatus::NeedsMoreBudget,
        }
    }

    /// Returns whether the goal is in a working phase (not paused, held or ended).
    pub fn is_live(self) -> bool {
        matches!(
            self,
            GoalStatus::Intake
                | GoalStatus::Planning
                | GoalStatus::Executing
                | GoalStatus::Verifying
                | GoalStatus::Reviewing
                | GoalStatus::Integrating
        )
    }

    /// Returns whether nothing more can happen to the goal.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            GoalStatus::Ready | GoalStatus::NotReady | GoalStatus::Cancelled
        )
    }

    /// Returns the status's stored name.
    pub fn name(self) -> &'static str {
        match self {
            GoalStatus::Intake => "intake",
            GoalStatus::Planning => "planning",
            GoalStatus::Executing => "executing",
            GoalStatus::Verifying => "verifying",
            GoalStatus::Reviewing => "reviewing",
            GoalStatus::Integrating => "integrating",
            GoalStatus::Paused => "paused",
            GoalStatus::Ready => "ready",
            GoalStatus::NotReady => "not_ready",
            GoalStatus::BlockedOnHuman => "blocked_on_human",
            GoalStatus::BlockedOnExternal => "blocked_on_external",
            GoalStatus::NeedsMoreBudget => "needs_more_budget",
            GoalStatus::FailedInfra => "failed_infra",
            GoalStatus::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for GoalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an event does to the goal as a whole, as the transition table sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Record the oracle guard's finding (`oracle_checked`).
    CheckOracle,
    /// Add tasks to the graph (`tasks_planned`).
    Plan,
    /// Replace the plan before execution starts (`omk goal edit-plan`).
    EditPlan,
    /// Move to another phase (`phase_entered`; `omk goal execute` enters executing).
    EnterPhase(Phase),
    /// Start, finish, retry or lease a task.
    WorkOnTask,
    /// Reopen slices for a fix round (`round_started`; `omk goal continue` starts one).
    StartRound,
    /// Pause the goal (`omk goal pause`).
    Pause,
    /// Resume a paused or held goal (`omk goal resume`).
    Resume,
    /// Cancel the goal (`omk goal cancel`).
    Cancel,
    /// Raise the limits (`omk goal budget-add`).
    ExtendBudget,
    /// Accept the result (`omk goal accept`).
    Accept,
    /// Reject the result (`omk goal reject`).
    Reject,
    /// Put a ready goal's result on a branch (`omk goal land`).
    Land,
    /// End or hold the run with a conclusion (`goal_concluded`).
    Conclude,
    /// Record an infrastructure failure (`run_failed`).
    FailInfra,
    /// Record facts that change no status: artifacts, evidence, usage, a planner fallback.
    Record,
}

impl Action {
    /// Returns how a user asks for this action, for refusal messages.
    pub fn command(self) -> String {
        match self {
            Action::CheckOracle => "the oracle check".to_owned(),
            Action::Plan => "planning tasks".to_owned(),
            Action::EditPlan => "edit-plan".to_owned(),
            Action::EnterPhase(Phase::Executing) => "execute".to_owned(),
            Action::EnterPhase(Phase::Verifying) => "verify".to_owned(),
            Action::EnterPhase(Phase::Reviewing) => "review".to_owned(),
            Action::EnterPhase(phase) => format!("entering {}", phase.name()),
            Action::WorkOnTask => "task work".to_owned(),
            Action::StartRound => "continue".to_owned(),
            Action::Pause => "pause".to_owned(),
            Action::Resume => "resume".to_owned(),
            Action::Cancel => "cancel".to_owned(),
            Action::ExtendBudget => "budget-add".to_owned(),
            Action::Accept => "accept".to_owned(),
            Action::Reject => "reject".to_owned(),
            Action::Land => "land".to_owned(),
            Action::Conclude => "concluding the run".to_owned(),
            Action::FailInfra => "recording an infrastructure failure".to_owned(),
            Action::Record => "recording evidence".to_owned(),
        }
    }

    /// Returns what a goal must be for this action, when the status alone does not say it.
    pub fn requirement(self) -> &'static str {
        match self {
            Action::Accept => " (accept needs a goal that is integrating: its gates passed and its review is done)",
            Action::Reject => " (reject needs a goal that has started executing)",
            Action::Land => " (land needs a goal that is ready: accepted, with its evidence)",
            Action::Resume => " (resume needs a paused goal, or one held for budget, an external blocker or an infrastructure failure)",
            Action::EnterPhase(Phase::Executing) => " (execute needs a planned goal that is not paused)",
            Action::EditPlan => " (edit-plan needs a goal that is planned and has not started executing)",
            Action::StartRound => " (continue needs a planned goal that is not paused or held, or one its fix loop stopped)",
            _ => "",
        }
    }

    /// Returns whether this is something an operator types as a command.
    pub fn is_operator_command(self) -> bool {
        matches!(
            self,
            Action::EnterPhase(Phase::Executing | Phase::Verifying | Phase::Reviewing)
                | Action::EditPlan
                | Action::Pause
                | Action::Resume
                | Action::Cancel
                | Action::ExtendBudget
                | Action::Accept
                | Action::Reject
                | Action::Land
        )
    }
}

/// Every action, in the order refusal messages list them.
const ALL_ACTIONS: [Action; 21] = [
    Action::EnterPhase(Phase::Executing),
    Action::EnterPhase(Phase::Verifying),
    Action::EnterPhase(Phase::Reviewing),
    Action::StartRound,
    Action::Accept,
    Action::Reject,
    Action::Land,
    Action::EditPlan,
    Action::Pause,
    Action::Resume,
    Action::Cancel,
    Action::ExtendBudget,
    Action::CheckOracle,
    Action::Plan,
    Action::EnterPhase(Phase::Intake),
    Action::EnterPhase(Phase::Planning),
    Action::EnterPhase(Phase::Integrating),
    Action::WorkOnTask,
    Action::Conclude,
    Action::FailInfra,
    Action::Record,
];

/// Returns whether a goal in `status` (last in `phase`) permits `action`: the transition table.
pub fn permits(status: GoalStatus, phase: Phase, action: Action) -> bool {
    use GoalStatus as S;
    match action {
        // Facts about what already happened are always recorded, even after the goal ended
        // (a worktree removed by `omk goal clean`, a late usage report).
        Action::Record => true,
        Action::CheckOracle => status == S::Intake,
        Action::EditPlan => status == S::Planning,
        Action::Plan => matches!(
            status,
            S::Planning | S::Executing | S::Verifying | S::Reviewing
        ),
        Action::EnterPhase(next) => status.is_live() && phase_follows(phase, next),
        // A paused, held or cancelled goal may still be winding down agents that were running
        // (the reducer lets a task *start* only in a live goal).
        Action::WorkOnTask => {
            matches!(
                status,
                S::Executing | S::Verifying | S::Reviewing | S::Integrating
            ) || matches!(
                status,
                S::Paused
                    | S::NeedsMoreBudget
                    | S::FailedInfra
                    | S::BlockedOnExternal
                    | S::Cancelled
            ) && phase >= Phase::Executing
        }
        // A round follows a failure: a slice that failed while executing, failed gates while
        // verifying, blocking findings while reviewing, or a fix loop that stopped at its limit.
        Action::StartRound => {
            matches!(status, S::Executing | S::Verifying | S::Reviewing)
                || status == S::BlockedOnHuman && phase >= Phase::Executing
        }
        Action::Pause => status.is_live(),
        Action::Resume => matches!(
            status,
            S::Paused | S::NeedsMoreBudget | S::BlockedOnExternal | S::FailedInfra
        ),
        Action::Cancel => !status.is_final(),
        Action::ExtendBudget => !status.is_final() && status != S::BlockedOnHuman,
        Action::Accept => status == S::Integrating,
        Action::Land => status == S::Ready,
        Action::Reject => status.is_live() && phase >= Phase::Executing,
        Action::Conclude => status.is_live() || status == S::Paused,
        Action::FailInfra => status.is_live() || status == S::Paused,
    }
}

/// Returns whether a live goal in `current` may move to `next`: forward one step at a time.
/// Back to executing is a fix round's move (`round_started`), which says what it reopens.
fn phase_follows(current: Phase, next: Phase) -> bool {
    use Phase as P;
    matches!(
        (current, next),
        (P::Intake, P::Planning)
            | (P::Planning, P::Executing)
            | (P::Executing, P::Verifying)
            | (P::Verifying, P::Reviewing)
            | (P::Reviewing, P::Integrating)
    )
}

/// Returns whether `omk goal continue` may drive a goal in `status` (last in `phase`): a
/// planned goal that is live, or one its fix loop stopped for a person to decide.
pub fn continue_allowed(status: GoalStatus, phase: Phase) -> bool {
    status.is_live() && phase >= Phase::Planning
        || status == GoalStatus::BlockedOnHuman && phase >= Phase::Executing
}

/// Returns the operator commands a goal in `status` (last in `phase`) permits, for messages.
pub fn operator_commands(status: GoalStatus, phase: Phase) -> Vec<String> {
    ALL_ACTIONS
        .into_iter()
        .filter(|action| {
            action.is_operator_command() && permits(status, phase, *action)
                // `continue` drives every step of the loop, a round being only one of them.
                || *action == Action::StartRound && continue_allowed(status, phase)
        })
        .map(Action::command)
        .collect()
}

/// Every status, in the order the lifecycle document lists them.
pub const ALL_STATUSES: [GoalStatus; 14] = [
    GoalStatus::Intake,
    GoalStatus::Planning,
    GoalStatus::Executing,
    GoalStatus::Verifying,
    GoalStatus::Reviewing,
    GoalStatus::Integrating,
    GoalStatus::Paused,
    GoalStatus::NeedsMoreBudget,
    GoalStatus::BlockedOnExternal,
    GoalStatus::FailedInfra,
    GoalStatus::BlockedOnHuman,
    GoalStatus::Ready,
    GoalStatus::NotReady,
    GoalStatus::Cancelled,
];

/// Returns the transition table as a Markdown matrix of statuses and the actions each permits,
/// for docs/goal-lifecycle.md (a test keeps the document equal to this).
///
/// Held and paused statuses are shown as left from the executing phase, where the
/// difference matters (task work may still be wound down there).
pub fn transition_table_markdown() -> String {
    let columns: Vec<Action> = ALL_ACTIONS.to_vec();
    let mut out = String::from("| status |");
    for action in &columns {
        out.push_str(&format!(" {} |", action_label(*action)));
    }
    out.push_str("\n| --- |");
    out.push_str(&" :-: |".repeat(columns.len()));
    out.push('\n');
    for status in ALL_STATUSES {
        let phase = match status {
            GoalStatus::Intake => Phase::Intake,
            GoalStatus::Planning => Phase::Planning,
            GoalStatus::Verifying => Phase::Verifying,
            GoalStatus::Reviewing => Phase::Reviewing,
            GoalStatus::Integrating => Phase::Integrating,
            _ => Phase::Executing,
        };
        out.push_str(&format!("| `{status}` |"));
        for action in &columns {
            out.push_str(if permits(status, phase, *action) {
                " ✓ |"
            } else {
                " · |"
            });
        }
        out.push('\n');
    }
    out
}

fn action_label(action: Action) -> String {
    match action {
        Action::EnterPhase(phase) => format!("enter {}", phase.name()),
        Action::CheckOracle => "oracle".to_owned(),
        Action::Plan => "plan tasks".to_owned(),
        Action::WorkOnTask => "task work".to_owned(),
        Action::StartRound => "fix round".to_owned(),
        Action::Conclude => "conclude".to_owned(),
        Action::FailInfra => "fail infra".to_owned(),
        Action::Record => "record".to_owned(),
        other => other.command(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ended_goals_permit_only_records_the_wind_down_of_a_cancel_and_landing_a_ready_one() {
        for status in [
            GoalStatus::Ready,
            GoalStatus::NotReady,
            GoalStatus::Cancelled,
        ] {
            for action in ALL_ACTIONS {
                let wind_down = status == GoalStatus::Cancelled && action == Action::WorkOnTask;
                let landing = status == GoalStatus::Ready && action == Action::Land;
                let expected = action == Action::Record || wind_down || landing;
                assert_eq!(
                    permits(status, Phase::Integrating, action),
                    expected,
                    "{status} {action:?}"
                );
            }
        }
        assert_eq!(
            operator_commands(GoalStatus::Ready, Phase::Integrating),
            ["land"]
        );
        assert!(operator_commands(GoalStatus::NotReady, Phase::Executing).is_empty());
    }

    #[test]
    fn phases_move_forward_one_step_and_back_only_in_a_fix_round() {
        let live = |phase, action| permits(GoalStatus::live(phase), phase, action);
        let execute = Action::EnterPhase(Phase::Executing);
        assert!(live(Phase::Planning, execute));
        assert!(!live(Phase::Intake, execute) && !live(Phase::Verifying, execute));
        assert!(
            live(Phase::Verifying, Action::StartRound)
                && live(Phase::Reviewing, Action::StartRound)
        );
        assert!(
            !live(Phase::Integrating, Action::StartRound)
                && !live(Phase::Planning, Action::StartRound)
        );
        assert!(permits(
            GoalStatus::BlockedOnHuman,
            Phase::Verifying,
            Action::StartRound
        ));
        assert!(!permits(
            GoalStatus::BlockedOnHuman,
            Phase::Intake,
            Action::StartRound
        ));
        assert!(!permits(
            GoalStatus::Planning,
            Phase::Planning,
            Action::EnterPhase(Phase::Verifying)
        ));
        assert!(
            !permits(
                GoalStatus::Paused,
                Phase::Planning,
                Action::EnterPhase(Phase::Executing)
            ),
            "a paused goal does not execute"
        );
    }

    #[test]
    fn every_action_is_listed_once() {
        for (index, action) in ALL_ACTIONS.iter().enumerate() {
            assert!(
                !ALL_ACTIONS[index + 1..].contains(action),
                "{action:?} twice"
            );
        }
    }
}
