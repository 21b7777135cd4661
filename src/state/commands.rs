//! Whether a goal command would be accepted now: one pure check per command, from the state.
//!
//! The operations call these before they do anything, and the next steps that status, show
//! and the proof print are held to them by a property test, so a printed next step is always
//! a command the goal accepts. Must not hold the checks that need the world (a claimed tree on
//! disk, a binary on PATH): those stay with the operations.

use crate::event::{FindingSeverity, Phase, RoundCause, TaskId, TaskKind, TaskStatus};
use crate::state::status::{continue_allowed, Action, GoalStatus};
use crate::state::verdict::{evidence_blockers, verdict_before_acceptance, BlockerKind};
use crate::state::{GoalState, Refusal, Task};

/// A command a person runs on an existing goal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoalCommand {
    Execute,
    Verify,
    Review,
    Continue,
    EditPlan,
    Pause,
    Resume,
    Cancel,
    BudgetAdd,
    Accept,
    Reject,
    Land,
    OpenPr,
}

impl GoalCommand {
    /// Returns the command for the word after `omk goal`, if it acts on an existing goal.
    pub fn from_verb(verb: &str) -> Option<GoalCommand> {
        Some(match verb {
            "execute" => GoalCommand::Execute,
            "verify" => GoalCommand::Verify,
            "review" => GoalCommand::Review,
            "continue" => GoalCommand::Continue,
            "edit-plan" => GoalCommand::EditPlan,
            "pause" => GoalCommand::Pause,
            "resume" => GoalCommand::Resume,
            "cancel" => GoalCommand::Cancel,
            "budget-add" => GoalCommand::BudgetAdd,
            "accept" => GoalCommand::Accept,
            "reject" => GoalCommand::Reject,
            "land" => GoalCommand::Land,
            "open-pr" => GoalCommand::OpenPr,
            _ => return None,
        })
    }
}

/// What the fix loop (`omk goal continue`) does next with a goal, decided from its state alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoopMove {
    /// Run the agent wave: a slice can start.
    Execute,
    /// Build the claimed tree and run the gates: the slices are done, the evidence is not.
    Verify,
    /// Review the claimed tree: its gates passed and it has no review yet.
    Review,
    /// Reopen slices with what failed: `candidates` are the slices that may be responsible
    /// (the operation narrows a gate failure down by the gate's output).
    Round {
        cause: RoundCause,
        candidates: Vec<TaskId>,
    },
    /// Only the integrator's decision is left.
    Integrate,
    /// Nothing the loop may do: the goal is paused, held or ended, or its log stops where
    /// only a person can take it on (a conflict, interrupted planning).
    Stop,
}

impl GoalState {
    /// Returns the fix loop's next move. A goal its fix loop stopped for a person moves as the
    /// phase it stopped in would.
    pub fn next_move(&self) -> LoopMove {
        let resumable = self.status == GoalStatus::BlockedOnHuman && self.phase >= Phase::Executing;
        if self.plan.is_none() || !(self.status.is_live() || resumable) {
            return LoopMove::Stop;
        }
        match self.phase {
            Phase::Intake => LoopMove::Stop,
            Phase::Planning => LoopMove::Execute,
            Phase::Executing => self.next_move_executing(),
            Phase::Verifying | Phase::Reviewing => self.next_move_checking(),
            Phase::Integrating => LoopMove::Integrate,
        }
    }

    fn next_move_executing(&self) -> LoopMove {
        let slices = || {
            self.tasks
                .tasks()
                .iter()
                .filter(|task| task.spec.kind == TaskKind::Implementation)
        };
        let startable = self
            .tasks
            .startable()
            .any(|task| task.spec.kind == TaskKind::Implementation);
        if startable || slices().any(|task| task.status == TaskStatus::Running) {
            return LoopMove::Execute;
        }
        let failed: Vec<TaskId> = slices()
            .filter(|task| matches!(task.status, TaskStatus::Failed | TaskStatus::Blocked))
            .map(|task| task.spec.id.clone())
            .collect();
        if !failed.is_empty() {
            return LoopMove::Round {
                cause: RoundCause::SliceFailed,
                candidates: failed,
            };
        }
        if slices().all(|task| task.status == TaskStatus::Done) {
            LoopMove::Verify
        } else {
            // Pending slices none of which can start, and nothing failed: a cancelled
            // dependency. Only a person can untangle that.
            LoopMove::Stop
        }
    }

    fn next_move_checking(&self) -> LoopMove {
        let undone = self.tasks.tasks().iter().any(|task| {
            task.spec.kind == TaskKind::Implementation && task.status != TaskStatus::Done
        });
        if undone {
            // A slice planned after the wave: nothing verifies or reopens it from here.
            return LoopMove::Stop;
        }
        let Some(result) = &self.result else {
            return LoopMove::Verify;
        };
        if self.result_conflict.is_some() {
            return LoopMove::Stop;
        }
        let done_slices = || -> Vec<TaskId> {
            self.tasks
                .tasks()
                .iter()
                .filter(|task| {
                    task.spec.kind == TaskKind::Implementation && task.status == TaskStatus::Done
                })
                .map(|task| task.spec.id.clone())
                .collect()
        };
        let blockers = evidence_blockers(self);
        let gate_failed = blockers.iter().any(|blocker| {
            matches!(
                blocker.kind,
                BlockerKind::GateFailed | BlockerKind::RedFirst
            )
        });
        if gate_failed {
            return LoopMove::Round {
                cause: RoundCause::GateFailed,
                candidates: done_slices(),
            };
        }
        if blockers.iter().any(|blocker| blocker.kind.is_about_gates()) {
            return LoopMove::Verify;
        }
        match &self.review {
            Some(review) if review.commit == result.commit && !review.passed => {
                let files: Vec<&str> = review
                    .findings
                    .iter()
                    .filter(|finding| finding.severity == FindingSeverity::High)
                    .filter_map(|finding| finding.file.as_deref())
                    .collect();
                LoopMove::Round {
                    cause: RoundCause::ReviewFailed,
                    candidates: self.slices_touching(&files).unwrap_or_else(done_slices),
                }
            }
            _ => LoopMove::Review,
        }
    }

    /// Returns the done slices whose recorded changes touch one of `files`, or `None` when no
    /// slice does (then every slice of the result answers for it).
    pub fn slices_touching(&self, files: &[&str]) -> Option<Vec<TaskId>> {
        let touching: Vec<TaskId> = self
            .tasks
            .tasks()
            .iter()
            .filter(|task| {
                task.spec.kind == TaskKind::Implementation && task.status == TaskStatus::Done
            })
            .filter(|task| {
                task.changed_files()
                    .iter()
                    .any(|changed| files.contains(changed))
            })
            .map(|task| task.spec.id.clone())
            .collect();
        (!touching.is_empty()).then_some(touching)
    }

    /// Returns `Ok` when the goal would accept `command` now, or the refusal it would print.
    pub fn check_command(&self, command: GoalCommand) -> Result<(), Refusal> {
        match command {
            GoalCommand::Execute => self.check_executable(),
            GoalCommand::Verify => self.check_verifiable(),
            GoalCommand::Review => self.check_reviewable(),
            GoalCommand::Continue => self.check_continuable(),
            GoalCommand::EditPlan => self.check(Action::EditPlan),
            GoalCommand::Pause => self.check(Action::Pause),
            GoalCommand::Resume => self.check(Action::Resume),
            GoalCommand::Cancel => self.check(Action::Cancel),
            GoalCommand::BudgetAdd => self.check(Action::ExtendBudget),
            GoalCommand::Accept => self.check(Action::Accept),
            GoalCommand::Reject => self.check(Action::Reject),
            GoalCommand::Land => self.check_landable(),
            GoalCommand::OpenPr => self.check_reviewable_by_a_person(),
        }
    }

    /// A pull request asks a person for the integrator's decision, so it needs everything the
    /// verdict needs but that decision: the gates, the tasks and the review.
    fn check_reviewable_by_a_person(&self) -> Result<(), Refusal> {
        let verdict = verdict_before_acceptance(self);
        let open = matches!(self.status, GoalStatus::Integrating | GoalStatus::Ready);
        if open && verdict.ready {
            return Ok(());
        }
        Err(Refusal::NotReadyForReview {
            goal_id: self.goal_id.clone(),
            status: self.status,
            blockers: verdict
                .blockers
                .into_iter()
                .map(|blocker| format!("{} (next: {})", blocker.detail, blocker.next_step))
                .collect(),
        })
    }

    /// A ready goal lands once.
    fn check_landable(&self) -> Result<(), Refusal> {
        self.check(Action::Land)?;
        match &self.landed {
            Some(landed) => Err(Refusal::AlreadyLanded {
                goal_id: self.goal_id.clone(),
                into: landed.into.clone(),
                commit: landed.commit.clone(),
            }),
            None => Ok(()),
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
        let undone: Vec<&Task> = self
            .tasks
            .tasks()
            .iter()
            .filter(|task| {
                task.spec.kind == TaskKind::Implementation && task.status != TaskStatus::Done
            })
            .collect();
        if undone.is_empty() {
            return Ok(());
        }
        let id = &self.goal_id;
        let failed = undone
            .iter()
            .any(|task| matches!(task.status, TaskStatus::Failed | TaskStatus::Blocked));
        let next = match self.next_move() {
            LoopMove::Round { .. } if failed => {
                format!("run `omk goal continue {id}` (a fix round retries the failed ones with their failure)")
            }
            LoopMove::Execute => format!("run `omk goal execute {id}`"),
            _ => format!("see `omk goal status {id}`"),
        };
        Err(Refusal::SlicesNotDone {
            goal_id: id.clone(),
            slices: undone
                .iter()
                .map(|task| format!("{} ({})", task.spec.id, task.status.name()))
                .collect::<Vec<_>>()
                .join(", "),
            next,
        })
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

    /// The fix loop goes on from any planned live goal, or from where it stopped for a person.
    fn check_continuable(&self) -> Result<(), Refusal> {
        if !continue_allowed(self.status, self.phase) {
            return Err(self.refuse(Action::StartRound));
        }
        if self.plan.is_none() {
            return Err(Refusal::NoPlan {
                goal_id: self.goal_id.clone(),
            });
        }
        Ok(())
    }
}
