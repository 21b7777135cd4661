//! Payloads of the events that speak about the goal as a whole: intake, phases, budget,
//! the operator's commands and how the goal ended.
//!
//! Must hold only data: ids, timestamps and measurements are made by the shell.

use serde::{Deserialize, Serialize};

use crate::event::ids::{GoalId, TaskId};

/// A phase of a live goal, in the order a goal normally moves through them.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The prompt is being taken in and checked for a testable outcome.
    Intake,
    /// The brief, plan, test spec and task graph are being written.
    Planning,
    /// Agents are working on the implementation slices.
    Executing,
    /// Gates are running against the claimed tree.
    Verifying,
    /// The controller is reviewing what the agents produced.
    Reviewing,
    /// Waiting for the integrator to accept or reject.
    Integrating,
}

impl Phase {
    /// Returns the phase's stored name.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Intake => "intake",
            Phase::Planning => "planning",
            Phase::Executing => "executing",
            Phase::Verifying => "verifying",
            Phase::Reviewing => "reviewing",
            Phase::Integrating => "integrating",
        }
    }
}

/// Limits a run may not exceed; `None` means no limit.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct BudgetLimits {
    /// Returns the active wall-clock time allowed, in seconds.
    pub time_secs: Option<u64>,
    /// Returns the agent tokens (input + output) allowed.
    pub tokens: Option<u64>,
    /// Returns the spend allowed, in millionths of a US dollar.
    pub usd_micros: Option<u64>,
}

/// Whether `omk goal run` or `omk goal plan` started the goal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    /// Plan only; execution is started by a later command.
    Plan,
    /// Plan, then go on to execute.
    Run,
}

/// The options a goal was started with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunOptions {
    /// Returns which command started the goal.
    pub mode: RunMode,
    /// Returns the agent backend chosen for the slices, if one was named.
    pub agent: Option<String>,
    /// Returns the command line of the `command` backend, if one was given.
    pub agent_cmd: Option<String>,
    /// Returns the planner command asked for the decomposition, if one was configured.
    pub planner: Option<String>,
}

/// `run_started`: a goal was taken in. Always the first event of a goal's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunStarted {
    /// Returns the goal's id.
    pub goal_id: GoalId,
    /// Returns the prompt exactly as the user gave it.
    pub prompt: String,
    /// Returns the prompt with whitespace collapsed, as planning reads it.
    pub normalized_prompt: String,
    /// Returns the commit of the repository the goal starts from, when it is a git repository.
    pub base_commit: Option<String>,
    /// Returns the version of omk that started the run.
    pub omk_version: String,
    /// Returns the limits the run was given.
    pub budget: BudgetLimits,
    /// Returns the options the run was started with.
    pub options: RunOptions,
}

/// One reason the oracle guard found in the prompt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OracleSignal {
    /// Returns the kind of signal: `observable`, `taste`, `strategy`, `credentials`, `paid_service` or `vague`.
    pub category: String,
    /// Returns the words of the prompt that raised it.
    pub phrase: String,
}

/// `oracle_checked`: the guard decided whether the goal's success can be tested without a human.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OracleChecked {
    /// Returns whether success can be made testable without a human decision.
    pub testable: bool,
    /// Returns every signal found, in prompt order.
    pub signals: Vec<OracleSignal>,
    /// Returns the decisions a human must make before the goal can go on; empty when testable.
    pub decisions_required: Vec<String>,
}

/// `phase_entered`: the goal moved to another phase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseEntered {
    /// Returns the phase entered.
    pub phase: Phase,
}

/// `goal_paused`: the operator paused the goal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoalPaused {
    /// Returns why, if the operator said.
    pub reason: Option<String>,
}

/// `goal_resumed`: the operator resumed a paused or held goal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoalResumed {
    /// Returns what the operator said, if anything.
    pub note: Option<String>,
}

/// `goal_cancelled`: the operator cancelled the goal; nothing more will be done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoalCancelled {
    /// Returns why, if the operator said.
    pub reason: Option<String>,
}

/// The ends `goal_concluded` can record (`ready`, `cancelled` and `failed_infra` have their own events).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Conclusion {
    /// The run finished, and the evidence does not support calling it ready.
    NotReady,
    /// A human must decide something before the goal can go on.
    BlockedOnHuman,
    /// Something outside the run (a service, a dependency) must change first.
    BlockedOnExternal,
    /// A budget limit was reached.
    NeedsMoreBudget,
}

/// `goal_concluded`: the run stopped in one of the statuses of [`Conclusion`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoalConcluded {
    /// Returns the status the goal ends in.
    pub status: Conclusion,
    /// Returns why, in a sentence.
    pub reason: String,
    /// Returns the decisions a human must make, for `blocked_on_human`.
    pub decisions_required: Vec<String>,
}

/// `run_failed`: the run stopped because its infrastructure failed (status `failed_infra`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunFailed {
    /// Returns what failed, in a sentence.
    pub reason: String,
    /// Returns the task the failure belongs to, if any.
    pub task_id: Option<TaskId>,
}

/// `budget_extended`: the operator raised the goal's limits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetExtended {
    /// Returns the amounts added to each limit; an unlimited budget stays unlimited.
    pub added: BudgetLimits,
    /// Returns why, if the operator said.
    pub reason: Option<String>,
}

/// `usage_recorded`: an agent or the planner reported what it used. `None` means it did not say.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageRecorded {
    /// Returns the task the usage belongs to, if any.
    pub task_id: Option<TaskId>,
    /// Returns the input tokens reported.
    pub input_tokens: Option<u64>,
    /// Returns the output tokens reported.
    pub output_tokens: Option<u64>,
    /// Returns the spend reported, in millionths of a US dollar.
    pub usd_micros: Option<u64>,
}

/// The integrator's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The work is taken.
    Accepted,
    /// The work is turned down.
    Rejected,
}

/// `integration_decided`: the human integrator accepted or rejected the goal's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationDecided {
    /// Returns the decision.
    pub decision: Decision,
    /// Returns the summary (accepted) or the reason (rejected).
    pub note: String,
}

/// `planner_fell_back`: the configured planner could not decompose the goal; the built-in one did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlannerFellBack {
    /// Returns the planner that was asked.
    pub planner: String,
    /// Returns what went wrong, in a sentence.
    pub reason: String,
}

/// What sent the goal into a fix round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoundCause {
    /// A required gate failed on the goal's claimed tree.
    GateFailed,
    /// The review found blocking problems.
    ReviewFailed,
    /// A slice failed every attempt it had.
    SliceFailed,
}

impl RoundCause {
    /// Returns the cause's stored name.
    pub fn name(self) -> &'static str {
        match self {
            RoundCause::GateFailed => "gate_failed",
            RoundCause::ReviewFailed => "review_failed",
            RoundCause::SliceFailed => "slice_failed",
        }
    }
}

/// `round_started`: a fix round reopened slices, with what their agents are told about the
/// failure; the goal is executing again. Added in 0.1.0 with the fix loop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoundStarted {
    /// The round's number in the goal: 1 for the first fix round.
    pub round: u32,
    /// What sent the goal into the round.
    pub cause: RoundCause,
    /// Why, in a sentence.
    pub reason: String,
    /// The slices that get a new attempt, in plan order.
    pub tasks: Vec<TaskId>,
    /// What their agents are told: each failing gate with its command, exit status and last
    /// output lines, the review's blocking findings, or a slice's failure; bounded and with
    /// secrets masked (the full output stays an artifact).
    pub feedback: String,
}

/// How a goal's result was put on a branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LandMethod {
    /// The branch was moved to the result's commit: no new commit.
    FastForward,
    /// One new commit on the branch, with the result's changes and a message naming the goal.
    Squash,
    /// A merge commit of the branch and the result, with a message naming the goal.
    Merge,
}

impl LandMethod {
    /// Returns the method's stored name.
    pub fn name(self) -> &'static str {
        match self {
            LandMethod::FastForward => "fast_forward",
            LandMethod::Squash => "squash",
            LandMethod::Merge => "merge",
        }
    }
}

/// `goal_landed`: an accepted, ready goal's result was put on a branch of the user's
/// repository. Added in 0.1.0 with `omk goal land`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoalLanded {
    /// The branch the result landed on (`main`).
    pub into: String,
    pub method: LandMethod,
    /// The branch's commit before landing.
    pub onto: String,
    /// The commit now at the branch's tip.
    pub commit: String,
    /// That commit's tree.
    pub tree: String,
    /// Whether the branch had moved since the goal's base, so the landed tree is not the
    /// claimed tree and the required gates ran again on it before it landed.
    pub reverified: bool,
}

/// `pull_request_opened`: `omk goal open-pr` opened a pull request of the goal's result
/// branch. Added in 0.1.0 with `omk goal open-pr`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PullRequestOpened {
    /// The pull request's address, as the forge answered it.
    pub url: String,
    /// The branch it asks to merge into.
    pub base: String,
    /// The branch it merges: the goal's result branch.
    pub branch: String,
    /// The result branch's commit when it was opened.
    pub commit: String,
    pub draft: bool,
}

/// `goal_pruned`: `omk goal gc` (or `land --prune`) removed an ended goal's worktrees and
/// branches; the log, its artifacts and the landed commit stay. Added in 0.1.0 with `omk goal gc`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoalPruned {
    /// How many worktrees were removed.
    pub worktrees: u64,
    /// The branches deleted (`omk/<goal-id>/…`).
    pub branches: Vec<String>,
    /// About how many bytes of disk were freed.
    pub bytes: u64,
}
