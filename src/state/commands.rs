//! Whether a goal command would be accepted now: one pure check per command, from the state.
//!
//! The operations call these before they do anything, and the next steps that status, show
//! and the proof print are held to them by a property test, so a printed next step is always
//! a command the goal accepts. Must not hold the checks that need the world (a claimed tree on
//! disk, a binary on PATH): those stay with the operations.

use crate::event::Phase;
use crate::event::{TaskKind, TaskStatus};
use crate::state::status::{Action, GoalStatus};
use crate::state::{GoalState, Refusal};

/// A command a person runs on an existing goal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoalCommand {
    Execute,
    Verify,
    Review,
    EditPlan,
    Pause,
    Resume,
    Cancel,
    BudgetAdd,
    Accept,
    Reject,
}

impl GoalCommand {
    /// Returns the command for the word after `omk goal`, if it acts on an existing goal.
    pub fn from_verb(verb: &str) -> Option<GoalCommand> {
        Some(match verb {
            "execute" => GoalCommand::Execute,
            "verify" => GoalCommand::Verify,
            "review" => GoalCommand::Review,
            "edit-plan" => GoalCommand::EditPlan,
            "pause" => GoalCommand::Pause,
            "resume" => GoalCommand::Resume,
            "cancel" => GoalCommand::Cancel,
            "budget-add" => GoalCommand::BudgetAdd,
            "accept" => GoalCommand::Accept,
            "reject" => GoalCommand::Reject,
            _ => return None,
        })
    }
}

impl GoalState {
    /// Returns `Ok` when the goal would accept `command` now, or the refusal it would print.
    pub fn check_command(&self, command: GoalCommand) -> Result<(), Refusal> {
        match command {
            GoalCommand::Execute => self.check_executable(),
            GoalCommand::Verify => self.check_verifiable(),
            GoalCommand::Review => self.check_reviewable(),
            GoalCommand::EditPlan => self.check(Action::EditPlan),
            GoalCommand::Pause => self.check(Action::Pause),
            GoalCommand::Resume => self.check(Action::Resume),
            GoalCommand::Cancel => self.check(Action::Cancel),
            GoalCommand::BudgetAdd => self.check(Action::ExtendBudget),
            GoalCommand::Accept => self.check(Action::Accept),
            GoalCommand::Reject => self.check(Action::Reject),
        }
    }

    /// A planned goal starts executing; an executing one runs its next wave.
    fn check_executable(&self) -> Result<(), Refusal> {
        match self.status {
            GoalStatus::Planning => self.check(Action::EnterPhase(Phase::Executing)),
            GoalStatus::Executing => Ok(()),
            _ => Err(self.refuse(Action::EnterPhase(Phase::Executing))),
        }
    }

    /// A goal is verified once its slices are done: while executing (which moves it to
    /// verifying) or in a later phase (verifying again).
    fn check_verifiable(&self) -> Result<(), Refusal> {
        if !matches!(
            self.status,
            GoalStatus::Executing
                | GoalStatus::Verifying
                | GoalStatus::Reviewing
                | GoalStatus::Integrating
        ) {
            return Err(self.refuse(Action::EnterPhase(Phase::Verifying)));
        }
        let undone: Vec<&str> = self
            .tasks
            .tasks()
            .iter()
            .filter(|task| {
                task.spec.kind == TaskKind::Implementation && task.status != TaskStatus::Done
            })
            .map(|task| task.spec.id.as_str())
            .collect();
        if undone.is_empty() {
            Ok(())
        } else {
            Err(Refusal::SlicesNotDone {
                goal_id: self.goal_id.clone(),
                slices: undone.join(", "),
            })
        }
    }

    /// A goal is reviewed after it was verified, and again later.
    fn check_reviewable(&self) -> Result<(), Refusal> {
        if matches!(
            self.status,
            GoalStatus::Verifying | GoalStatus::Reviewing | GoalStatus::Integrating
        ) {
            Ok(())
        } else {
            Err(self.refuse(Action::EnterPhase(Phase::Reviewing)))
        }
    }
}
