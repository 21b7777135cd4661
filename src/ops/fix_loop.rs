//! `omk goal continue` and `omk goal run --until-ready`: the fix loop.
//!
//! Drives a goal unattended from wherever it stands: the agent wave, verification, the review,
//! and fix rounds that reopen the responsible slices with what failed, until only the
//! integrator's decision is left, the goal is held (paused, cancelled, out of budget), or the
//! round limit stops it for a person (`blocked_on_human`, which another `continue` takes on).
//! Each step is an existing operation; which one comes next is `GoalState::next_move`, decided
//! from the log alone, so a loop killed anywhere goes on from where its log stops.

use std::path::Path;

use crate::event::{Conclusion, Event, GoalConcluded, RoundCause, TaskId};
use crate::ops::review::{review_goal, ReviewError};
use crate::ops::verify::{verify_goal, VerifyError, VerifyProgress, VerifyRequest};
use crate::ops::wave::{execute, Progress, WaveError, WaveOptions};
use crate::plan::rounds::round_for;
use crate::shell::clock::Clock;
use crate::state::commands::{GoalCommand, LoopMove};
use crate::state::GoalState;
use crate::store::{GoalDir, Loaded, StoreError};

/// How many fix rounds a loop starts unless told otherwise.
pub const DEFAULT_MAX_ROUNDS: u32 = 3;

/// How the loop runs.
pub struct LoopOptions<'a> {
    pub wave: &'a WaveOptions,
    pub verify: &'a VerifyRequest,
    /// The most fix rounds this call starts before it stops for a person.
    pub max_rounds: u32,
}

/// Something the loop reports as it goes.
#[derive(Clone, Debug)]
pub enum LoopProgress {
    /// A step begins: the goal's fix round (0 before the first) and what runs.
    Step {
        round: u32,
        step: &'static str,
    },
    /// A fix round started.
    Round {
        round: u32,
        reason: String,
        tasks: Vec<TaskId>,
    },
    Wave(Progress),
    Verify(VerifyProgress),
}

/// Why the loop stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoopStop {
    /// Only the integrator's decision is left.
    Integrating,
    /// The goal is paused, held or ended; its status says which and why.
    Held,
    /// The round limit was reached: the goal is blocked on a person.
    RoundLimit,
    /// Ctrl-C stopped it; the log holds what was stopped.
    Interrupted,
    /// Nothing the loop can do moves the goal (a merge conflict, a step that changed nothing);
    /// the goal's verdict says what is in the way.
    Stuck,
}

/// What the loop did.
#[derive(Debug)]
pub struct LoopOutcome {
    pub loaded: Loaded,
    pub stop: LoopStop,
    /// How many fix rounds this call started.
    pub rounds: u32,
}

/// The loop could not go on.
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    #[error(transparent)]
    Store(Box<StoreError>),
    #[error(transparent)]
    Wave(#[from] WaveError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Review(#[from] ReviewError),
}

impl From<StoreError> for LoopError {
    fn from(error: StoreError) -> LoopError {
        LoopError::Store(Box::new(error))
    }
}

/// Drives `goal` until only the integrator's decision is left, or it stops on the way.
pub fn continue_goal(
    goal: &GoalDir,
    repo_root: &Path,
    clock: &Clock,
    options: &LoopOptions<'_>,
    progress: &mut (dyn FnMut(LoopProgress) + Send),
) -> Result<LoopOutcome, LoopError> {
    goal.load()?
        .state
        .check_command(GoalCommand::Continue)
        .map_err(StoreError::Refused)?;
    let mut rounds = 0;
    // The move before, and where the log stood when it began: a move that leaves the log where
    // it was, or a check repeated with no round between, moves nothing.
    let mut previous: Option<(LoopMove, u64)> = None;
    loop {
        let loaded = goal.load()?;
        let state = &loaded.state;
        let stop = |stop| {
            Ok(LoopOutcome {
                loaded: loaded.clone(),
                stop,
                rounds,
            })
        };
        if options.wave.interrupt.is_set() {
            return stop(LoopStop::Interrupted);
        }
        let next = state.next_move();
        if let Some((before, seq)) = &previous {
            let checks_again = matches!(next, LoopMove::Verify | LoopMove::Review);
            if *before == next && (checks_again || *seq == state.last_seq) {
                return stop(LoopStop::Stuck);
            }
        }
        previous = Some((next.clone(), state.last_seq));
        let round = u32::try_from(state.rounds.len()).unwrap_or(u32::MAX);
        let working = matches!(
            next,
            LoopMove::Execute | LoopMove::Verify | LoopMove::Review | LoopMove::Round { .. }
        );
        if working && hold_if_budget_spent(goal, clock, state)? {
            continue;
        }
        match next {
            LoopMove::Stop if state.status.is_live() => return stop(LoopStop::Stuck),
            LoopMove::Stop => return stop(LoopStop::Held),
            LoopMove::Integrate => return stop(LoopStop::Integrating),
            LoopMove::Execute => {
                progress(LoopProgress::Step {
                    round,
                    step: "executing",
                });
                execute(goal, repo_root, clock, options.wave, &mut |event| {
                    progress(LoopProgress::Wave(event));
                })?;
            }
            LoopMove::Verify => {
                progress(LoopProgress::Step {
                    round,
                    step: "verifying",
                });
                let verified = verify_goal(goal, repo_root, clock, options.verify, &mut |event| {
                    progress(LoopProgress::Verify(event));
                });
                match verified {
                    // The conflict is recorded; the verdict names it and the loop cannot fix it.
                    Err(VerifyError::Conflict { .. }) => {
                        return Ok(LoopOutcome {
                            loaded: goal.load()?,
                            stop: LoopStop::Stuck,
                            rounds,
                        })
                    }
                    other => {
                        other?;
                    }
                }
            }
            LoopMove::Review => {
                progress(LoopProgress::Step {
                    round,
                    step: "reviewing",
                });
                review_goal(goal, repo_root, clock)?;
            }
            LoopMove::Round { cause, candidates } if rounds >= options.max_rounds => {
                let loaded = block_at_round_limit(goal, clock, state, cause, &candidates, rounds)?;
                return Ok(LoopOutcome {
                    loaded,
                    stop: LoopStop::RoundLimit,
                    rounds,
                });
            }
            LoopMove::Round { .. } => {
                // Decided again on the state the append sees, which another command may have
                // moved on since this loop loaded it.
                let (_, appended) = goal.transact(clock.now(), |state| {
                    Ok(match state.next_move() {
                        LoopMove::Round { cause, candidates } => {
                            vec![Event::RoundStarted(round_for(state, cause, &candidates))]
                        }
                        _ => Vec::new(),
                    })
                })?;
                let Some(Event::RoundStarted(started)) = appended.into_iter().next() else {
                    continue;
                };
                progress(LoopProgress::Round {
                    round: started.round,
                    reason: started.reason,
                    tasks: started.tasks,
                });
                rounds += 1;
            }
        }
    }
}

/// Holds the goal `needs_more_budget` when a limit is reached; returns whether one was.
fn hold_if_budget_spent(
    goal: &GoalDir,
    clock: &Clock,
    state: &GoalState,
) -> Result<bool, LoopError> {
    let spent = state.budget.exhausted(clock.now());
    if spent.is_empty() || !state.status.is_live() {
        return Ok(false);
    }
    let id = &state.goal_id;
    let reason = format!(
        "the {} budget is spent; raise it with `omk goal budget-add {id} --tokens N` (or --time, --usd), then `omk goal resume {id}` and `omk goal continue {id}`",
        spent.join(", ")
    );
    goal.transact(clock.now(), |_| {
        Ok(vec![Event::GoalConcluded(GoalConcluded {
            status: Conclusion::NeedsMoreBudget,
            reason: reason.clone(),
            decisions_required: Vec::new(),
        })])
    })?;
    Ok(true)
}

/// Stops the loop for a person: the goal is `blocked_on_human` with what still fails, and
/// another `omk goal continue` takes it on.
fn block_at_round_limit(
    goal: &GoalDir,
    clock: &Clock,
    state: &GoalState,
    cause: RoundCause,
    candidates: &[TaskId],
    rounds: u32,
) -> Result<Loaded, LoopError> {
    if !state.status.is_live() {
        // Already stopped for a person (`continue --max-rounds 0`): nothing new to record.
        return Ok(goal.load()?);
    }
    let id = &state.goal_id;
    let pending = round_for(state, cause, candidates);
    let reason = format!(
        "the fix loop stopped after {rounds} {} in this run: {}",
        if rounds == 1 { "round" } else { "rounds" },
        pending.reason
    );
    let decisions = vec![format!(
        "another round (`omk goal continue {id}`), or an end to it (`omk goal cancel {id}`)"
    )];
    let (loaded, _) = goal.transact(clock.now(), |_| {
        Ok(vec![Event::GoalConcluded(GoalConcluded {
            status: Conclusion::BlockedOnHuman,
            reason: reason.clone(),
            decisions_required: decisions.clone(),
        })])
    })?;
    Ok(loaded)
}
