//! Pure reducers: a goal's state is the fold of its events, and nothing else.
//!
//! Owns `GoalState`, the reducer `GoalState::apply`, the transition table ([`status`]), the
//! task graph ([`tasks`]) and the budget ([`budget`]). Must not read the clock, the
//! environment, the filesystem or randomness, and must not iterate a hash map: the same
//! events always give the same state. Commands are decided by applying their event to a
//! copy of the state, so whatever the reducer refuses is refused before anything is appended.

pub mod budget;
pub mod commands;
pub mod status;
pub mod tasks;
pub mod verdict;

use serde::{Deserialize, Serialize};

use crate::event::{
    Decision, Event, GateFinished, GoalId, GoalLanded, IntegrationDecided, OracleChecked, Phase,
    PlanSource, PlannerFellBack, PullRequestOpened, RecordedEvent, ResultBuilt, ResultConflicted,
    ReviewRecorded, RoundStarted, RunOptions, TaskStatus, Timestamp,
};
use crate::log::artifacts::ArtifactRef;

pub use budget::{Budget, LimitUse};
pub use status::{operator_commands, permits, Action, GoalStatus};
pub use tasks::{GraphError, Lease, Task, TaskGraph};

/// How the goal stopped, when it is held or ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// Returns why, in a sentence.
    pub reason: String,
    /// Returns the decisions a human must make before the goal can go on.
    pub decisions_required: Vec<String>,
    /// Returns the `seq` of the event that recorded it.
    pub seq: u64,
}

/// An artifact and the event that recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordedArtifact {
    /// Returns the `seq` of its `artifact_recorded` event.
    pub seq: u64,
    /// Returns the artifact.
    pub artifact: ArtifactRef,
}

/// A finished gate run and the event that recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateRecord {
    /// Returns the `seq` of its `gate_finished` event.
    pub seq: u64,
    /// Returns the run.
    pub run: GateFinished,
}

/// A fix round and the event that started it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoundRecord {
    /// Returns the `seq` of its `round_started` event.
    pub seq: u64,
    /// Returns when it started.
    pub at: Timestamp,
    /// Returns the round.
    pub started: RoundStarted,
}

/// How the goal was decomposed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanRecord {
    /// Returns who decomposed it.
    pub source: PlanSource,
    /// Returns the planner's failure, when the built-in decomposition stood in.
    pub fallback: Option<PlannerFellBack>,
}

/// Everything known about a goal: the fold of its log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoalState {
    /// Returns the goal's id.
    pub goal_id: GoalId,
    /// Returns the prompt as the user gave it.
    pub prompt: String,
    /// Returns the prompt as planning read it.
    pub normalized_prompt: String,
    /// Returns the commit the goal started from.
    pub base_commit: Option<String>,
    /// Returns the omk version that started the goal.
    pub omk_version: String,
    /// Returns the options the goal was started with.
    pub options: RunOptions,
    /// Returns when the goal was started.
    pub started_at: Timestamp,
    /// Returns when its last event was appended.
    pub updated_at: Timestamp,
    /// Returns the `seq` of its last event.
    pub last_seq: u64,
    /// Returns where it stands.
    pub status: GoalStatus,
    /// Returns the phase it is in, or was in when it was paused, held or ended.
    pub phase: Phase,
    /// Returns the oracle guard's finding.
    pub oracle: Option<OracleChecked>,
    /// Returns how the goal was decomposed, once it was.
    pub plan: Option<PlanRecord>,
    /// Returns the artifacts recorded, in log order.
    pub artifacts: Vec<RecordedArtifact>,
    /// Returns the task graph.
    pub tasks: TaskGraph,
    /// Returns the budget.
    pub budget: Budget,
    /// Returns the integrator's decision.
    pub integration: Option<IntegrationDecided>,
    /// Returns why the goal is held or ended, when it is.
    pub outcome: Option<Outcome>,
    /// Returns the goal's claimed tree: the result branch as last built.
    pub result: Option<ResultBuilt>,
    /// Returns the conflict that stopped the last attempt to build the result branch.
    pub result_conflict: Option<ResultConflicted>,
    /// Returns every finished gate run, in log order.
    pub gate_runs: Vec<GateRecord>,
    /// Returns the latest review.
    pub review: Option<ReviewRecorded>,
    /// Returns the fix rounds, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rounds: Vec<RoundRecord>,
    /// Where the result landed, once `omk goal land` put it on a branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landed: Option<GoalLanded>,
    /// The latest pull request `omk goal open-pr` opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequestOpened>,
}

/// Why an event cannot apply to a goal.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("a goal's log must begin with `run_started`, not `{kind}`")]
    NotStarted { kind: &'static str },
    #[error("the goal was already started")]
    AlreadyStarted,
    #[error("goal {goal_id} is {status}: {} is not allowed{}; {}", action.command(), action.requirement(), allowed_now(allowed))]
    NotAllowed {
        goal_id: GoalId,
        status: GoalStatus,
        action: Action,
        allowed: Vec<String>,
    },
    #[error("goal {goal_id} has no plan yet: plan before executing")]
    NoPlan { goal_id: GoalId },
    #[error("goal {goal_id} has reached its {} limit: raise it with `omk goal budget-add` before resuming", limits.join(", "))]
    NoHeadroom {
        goal_id: GoalId,
        limits: Vec<&'static str>,
    },
    #[error("goal {goal_id} cannot be verified yet: slices not done: {slices}; {next}")]
    SlicesNotDone {
        goal_id: GoalId,
        slices: String,
        next: String,
    },
    #[error("goal {goal_id} has had {previous} fix rounds: the next is round {}, not {round}", previous + 1)]
    RoundOutOfOrder {
        goal_id: GoalId,
        round: u32,
        previous: u32,
    },
    #[error("goal {goal_id} cannot be accepted: {}", blockers.join("; "))]
    NotReadyToAccept {
        goal_id: GoalId,
        blockers: Vec<String>,
    },
    #[error(
        "goal {goal_id} is {status} and not ready for a person's review: {}",
        review_blockers(blockers)
    )]
    NotReadyForReview {
        goal_id: GoalId,
        status: GoalStatus,
        blockers: Vec<String>,
    },
    #[error(
        "goal {goal_id} already landed on {into} at {}",
        crate::state::verdict::short(commit)
    )]
    AlreadyLanded {
        goal_id: GoalId,
        into: String,
        commit: String,
    },
    #[error(transparent)]
    Graph(#[from] GraphError),
}

fn review_blockers(blockers: &[String]) -> String {
    if blockers.is_empty() {
        "it is not waiting for the integrator's decision".to_owned()
    } else {
        blockers.join("; ")
    }
}

fn allowed_now(allowed: &[String]) -> String {
    if allowed.is_empty() {
        "nothing more can be done to it".to_owned()
    } else {
        format!("allowed now: {}", allowed.join(", "))
    }
}

/// An event in a log could not be folded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("event seq {seq} (`{kind}`) does not follow from the events before it: {refusal}")]
pub struct FoldError {
    /// Returns the `seq` of the event.
    pub seq: u64,
    /// Returns its kind.
    pub kind: &'static str,
    /// Returns why it cannot apply.
    pub refusal: Refusal,
}

impl GoalState {
    /// Returns the state after a goal's first event, which must be `run_started`.
    pub fn start(first: &RecordedEvent) -> Result<GoalState, FoldError> {
        let Event::RunStarted(started) = &first.event else {
            return Err(fold_error(
                first,
                Refusal::NotStarted {
                    kind: first.event.kind(),
                },
            ));
        };
        Ok(GoalState {
            goal_id: started.goal_id.clone(),
            prompt: started.prompt.clone(),
            normalized_prompt: started.normalized_prompt.clone(),
            base_commit: started.base_commit.clone(),
            omk_version: started.omk_version.clone(),
            options: started.options.clone(),
            started_at: first.at,
            updated_at: first.at,
            last_seq: first.seq,
            status: GoalStatus::Intake,
            phase: Phase::Intake,
            oracle: None,
            plan: None,
            artifacts: Vec::new(),
            tasks: TaskGraph::default(),
            budget: Budget::new(started.budget, first.at),
            integration: None,
            outcome: None,
            result: None,
            result_conflict: None,
            gate_runs: Vec::new(),
            review: None,
            rounds: Vec::new(),
            landed: None,
            pull_request: None,
        })
    }

    /// Applies one event, or refuses it and leaves the state as it was.
    pub fn apply(&mut self, recorded: &RecordedEvent) -> Result<(), FoldError> {
        self.apply_in_place(recorded)
            .map_err(|refusal| fold_error(recorded, refusal))?;
        self.updated_at = recorded.at;
        self.last_seq = recorded.seq;
        Ok(())
    }

    /// Returns whether the goal permits `action` now.
    pub fn permits(&self, action: Action) -> bool {
        permits(self.status, self.phase, action)
    }

    /// Returns the refusal for `action`, naming the status and what is allowed instead.
    pub fn refuse(&self, action: Action) -> Refusal {
        Refusal::NotAllowed {
            goal_id: self.goal_id.clone(),
            status: self.status,
            action,
            allowed: operator_commands(self.status, self.phase),
        }
    }

    /// Returns `Ok` when the goal permits `action`, or the refusal.
    pub fn check(&self, action: Action) -> Result<(), Refusal> {
        if self.permits(action) {
            Ok(())
        } else {
            Err(self.refuse(action))
        }
    }

    /// Every arm checks everything before it changes anything, so a refusal leaves the state
    /// untouched without copying it first (the property tests hold this to account).
    fn apply_in_place(&mut self, recorded: &RecordedEvent) -> Result<(), Refusal> {
        let seq = recorded.seq;
        match &recorded.event {
            Event::RunStarted(_) => return Err(Refusal::AlreadyStarted),
            Event::OracleChecked(oracle) => {
                self.check(Action::CheckOracle)?;
                self.oracle = Some(oracle.clone());
            }
            Event::PhaseEntered(entered) => {
                self.check(Action::EnterPhase(entered.phase))?;
                if entered.phase == Phase::Executing && self.plan.is_none() {
                    return Err(Refusal::NoPlan {
                        goal_id: self.goal_id.clone(),
                    });
                }
                self.phase = entered.phase;
                self.status = GoalStatus::live(entered.phase);
            }
            Event::ArtifactRecorded(artifact) => {
                self.artifacts.push(RecordedArtifact {
                    seq,
                    artifact: artifact.clone(),
                });
            }
            Event::PlannerFellBack(fallback) => {
                self.check(Action::Plan)?;
                self.plan = Some(PlanRecord {
                    source: PlanSource::Deterministic,
                    fallback: Some(fallback.clone()),
                });
            }
            Event::TasksPlanned(planned) => {
                self.check(Action::Plan)?;
                self.tasks.add(&planned.tasks, seq)?;
                let fallback = self.plan.take().and_then(|plan| plan.fallback);
                self.plan = Some(PlanRecord {
                    source: planned.source,
                    fallback,
                });
            }
            Event::PlanEdited(edited) => {
                self.check(Action::EditPlan)?;
                let mut graph = TaskGraph::default();
                graph.add(&edited.tasks, seq)?;
                self.tasks = graph;
                self.plan = Some(PlanRecord {
                    source: PlanSource::Edited,
                    fallback: None,
                });
            }
            Event::TaskTransitioned(moved) => {
                self.check(Action::WorkOnTask)?;
                self.check_may_start(moved.to)?;
                self.tasks.transition(
                    &moved.task_id,
                    moved.from,
                    moved.to,
                    moved.reason.as_deref(),
                    seq,
                )?;
            }
            Event::TaskRetried(retried) => {
                self.check(Action::WorkOnTask)?;
                self.tasks.retry(&retried.task_id, &retried.reason, seq)?;
            }
            Event::TaskLeased(leased) => {
                self.check(Action::WorkOnTask)?;
                let lease = Lease {
                    holder: leased.holder.clone(),
                    expires_at: leased.expires_at,
                };
                self.tasks.lease(&leased.task_id, lease, seq)?;
            }
            Event::TaskEvidenceRecorded(recorded_evidence) => {
                self.tasks.add_evidence(
                    &recorded_evidence.task_id,
                    recorded_evidence.evidence.clone(),
                    seq,
                )?;
            }
            Event::UsageRecorded(usage) => self.budget.record(usage),
            Event::AgentStarted(started) => {
                self.check(Action::WorkOnTask)?;
                self.check_may_start(TaskStatus::Running)?;
                self.tasks.start_run(started, seq)?;
            }
            Event::AgentFinished(finished) => self.tasks.finish_run(finished, seq)?,
            Event::ChangesRecorded(changes) => self.tasks.record_changes(changes, seq)?,
            Event::WorktreeRemoved(removed) => self.tasks.remove_worktree(removed, seq)?,
            Event::ResultBuilt(built) => {
                self.result = Some(built.clone());
                self.result_conflict = None;
            }
            Event::ResultConflicted(conflict) => self.result_conflict = Some(conflict.clone()),
            // A start is in the log for the timeline; the state keeps finished runs.
            Event::GateStarted(_) => {}
            Event::ReviewRecorded(review) => self.review = Some(review.clone()),
            Event::GateFinished(finished) => self.gate_runs.push(GateRecord {
                seq,
                run: finished.clone(),
            }),
            Event::RoundStarted(round) => {
                self.check(Action::StartRound)?;
                let previous = u32::try_from(self.rounds.len()).unwrap_or(u32::MAX);
                if round.round != previous.saturating_add(1) {
                    return Err(Refusal::RoundOutOfOrder {
                        goal_id: self.goal_id.clone(),
                        round: round.round,
                        previous,
                    });
                }
                self.tasks.reopen(&round.tasks, round.round, seq)?;
                if !self.status.is_live() {
                    // A fix loop that stopped for a person goes on: its clock runs again.
                    self.budget.start_clock(recorded.at);
                }
                self.phase = Phase::Executing;
                self.status = GoalStatus::Executing;
                self.outcome = None;
                self.rounds.push(RoundRecord {
                    seq,
                    at: recorded.at,
                    started: round.clone(),
                });
            }
            Event::BudgetExtended(extended) => {
                self.check(Action::ExtendBudget)?;
                self.budget.extend(&extended.added);
            }
            Event::GoalPaused(_) => {
                self.check(Action::Pause)?;
                self.hold(GoalStatus::Paused, recorded.at, None);
            }
            Event::GoalResumed(_) => {
                self.check(Action::Resume)?;
                self.check_headroom(recorded.at)?;
                self.status = GoalStatus::live(self.phase);
                self.outcome = None;
                self.budget.start_clock(recorded.at);
            }
            Event::GoalCancelled(cancelled) => {
                self.check(Action::Cancel)?;
                let reason = cancelled
                    .reason
                    .clone()
                    .unwrap_or_else(|| "cancelled by the operator".to_owned());
                self.hold(
                    GoalStatus::Cancelled,
                    recorded.at,
                    Some(outcome(reason, seq)),
                );
            }
            Event::GoalConcluded(concluded) => {
                self.check(Action::Conclude)?;
                let mut stopped = outcome(concluded.reason.clone(), seq);
                stopped.decisions_required = concluded.decisions_required.clone();
                self.hold(
                    GoalStatus::concluded(concluded.status),
                    recorded.at,
                    Some(stopped),
                );
            }
            Event::RunFailed(failed) => {
                self.check(Action::FailInfra)?;
                let stopped = outcome(failed.reason.clone(), seq);
                self.hold(GoalStatus::FailedInfra, recorded.at, Some(stopped));
            }
            Event::IntegrationDecided(decided) => {
                let (action, status) = match decided.decision {
                    Decision::Accepted => (Action::Accept, GoalStatus::Ready),
                    Decision::Rejected => (Action::Reject, GoalStatus::NotReady),
                };
                self.check(action)?;
                if decided.decision == Decision::Accepted {
                    let verdict = verdict::verdict_before_acceptance(self);
                    if !verdict.ready {
                        return Err(Refusal::NotReadyToAccept {
                            goal_id: self.goal_id.clone(),
                            blockers: verdict
                                .blockers
                                .into_iter()
                                .map(|blocker| blocker.detail)
                                .collect(),
                        });
                    }
                }
                self.integration = Some(decided.clone());
                self.hold(
                    status,
                    recorded.at,
                    Some(outcome(decided.note.clone(), seq)),
                );
            }
            // A fact about the forge, recorded whatever the goal's status.
            Event::PullRequestOpened(opened) => self.pull_request = Some(opened.clone()),
            // What was tidied away after the goal ended; the evidence in the log stays.
            Event::GoalPruned(_) => {}
            Event::GoalLanded(landed) => {
                self.check_command(commands::GoalCommand::Land)?;
                self.landed = Some(landed.clone());
            }
        }
        Ok(())
    }

    /// Work starts only in a live goal; paused, held and cancelled goals only wind down.
    fn check_may_start(&self, to: TaskStatus) -> Result<(), Refusal> {
        if to == TaskStatus::Running && !self.status.is_live() {
            return Err(self.refuse(Action::EnterPhase(Phase::Executing)));
        }
        Ok(())
    }

    /// Leaves the live phases for `status`, stopping the budget clock.
    fn hold(&mut self, status: GoalStatus, at: Timestamp, stopped: Option<Outcome>) {
        self.status = status;
        self.outcome = stopped;
        self.budget.stop_clock(at);
    }

    /// A goal held for budget resumes only once every limit it reached has been raised.
    fn check_headroom(&self, at: Timestamp) -> Result<(), Refusal> {
        if self.status != GoalStatus::NeedsMoreBudget {
            return Ok(());
        }
        let limits = self.budget.exhausted(at);
        if limits.is_empty() {
            Ok(())
        } else {
            Err(Refusal::NoHeadroom {
                goal_id: self.goal_id.clone(),
                limits,
            })
        }
    }
}

fn outcome(reason: String, seq: u64) -> Outcome {
    Outcome {
        reason,
        decisions_required: Vec::new(),
        seq,
    }
}

fn fold_error(recorded: &RecordedEvent, refusal: Refusal) -> FoldError {
    FoldError {
        seq: recorded.seq,
        kind: recorded.event.kind(),
        refusal,
    }
}

/// Returns the state of a goal from all of its events; `None` for an empty log.
pub fn fold<'a>(
    events: impl IntoIterator<Item = &'a RecordedEvent>,
) -> Result<Option<GoalState>, FoldError> {
    let mut events = events.into_iter();
    let Some(first) = events.next() else {
        return Ok(None);
    };
    let mut state = GoalState::start(first)?;
    for recorded in events {
        state.apply(recorded)?;
    }
    Ok(Some(state))
}
