//! Intake and planning: from a prompt to a goal with a brief, a plan, a test spec and a task
//! graph, each stored as an artifact and recorded in the goal's log.
//!
//! The decisions are pure (`plan`); this module gathers the facts they need (clock, git, the
//! repository scan, the planner hook), stores the documents and appends the events, in two
//! batches: intake (started, oracle, first phase) and planning (artifacts, tasks).

use std::path::PathBuf;
use std::time::Duration;

use crate::event::{
    BudgetLimits, Conclusion, Event, GoalConcluded, OracleChecked, Phase, PhaseEntered, PlanSource,
    PlannerFellBack, RunMode, RunOptions, RunStarted, TasksPlanned,
};
use crate::log::artifacts::ArtifactError;
use crate::ops::agent_plan::{plan_with_agent, AgentPlanRequest};
use crate::plan::decompose::{slices, MAX_SLICES};
use crate::plan::documents::{documents, PlanFacts};
use crate::plan::oracle::check_oracle;
use crate::plan::relevance::{keywords, rank_files};
use crate::plan::{normalize_prompt, task_graph, RELEVANT_FILES};
use crate::shell::agent::Backend;
use crate::shell::clock::Clock;
use crate::shell::git::{head_commit, repo_root};
use crate::shell::interrupt::Interrupt;
use crate::shell::planner::{ask_planner, PlannerRequest};
use crate::shell::scan::scan_repository;
use crate::state::GraphError;
use crate::store::{GoalDir, Loaded, StateDir, StoreError};

/// The longest prompt a goal takes: the prompt is stored twice in `run_started`, whose line
/// must stay well under the log's 1 MiB line cap.
pub const MAX_PROMPT_BYTES: usize = 64 * 1024;

/// What a new goal is started with.
#[derive(Clone, Debug)]
pub struct StartRequest {
    /// Returns the repository the goal works on.
    pub repo_root: PathBuf,
    /// Returns the prompt as the user gave it.
    pub prompt: String,
    /// Returns the limits.
    pub budget: BudgetLimits,
    /// Returns whether this is `run` or `plan`.
    pub mode: RunMode,
    /// Returns the agent backend named for the slices.
    pub agent: Option<String>,
    /// Returns the command line of the `command` backend.
    pub agent_cmd: Option<String>,
    /// Returns the planner command to ask for the decomposition.
    pub planner: Option<String>,
    /// Returns how long the planner may take.
    pub planner_timeout: Duration,
    /// Stops the planner when it fires (Ctrl-C).
    pub interrupt: Interrupt,
    /// The agent that plans the goal (`--planner agent`), in place of the planner command.
    pub planner_agent: Option<Backend>,
}

/// A goal could not be started.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("the prompt is empty: say what the goal should achieve")]
    EmptyPrompt,
    #[error("{dir} is not in a git repository: omk works on a git repository's commits")]
    NotARepository { dir: String },
    #[error("the git repository at {dir} has no commit yet: agents branch from a commit")]
    NoCommit { dir: String },
    #[error("the prompt is {bytes} bytes; the limit is {MAX_PROMPT_BYTES}: put long specifications in a file in the repository and name it in the prompt")]
    PromptTooLong { bytes: usize },
    #[error(transparent)]
    Store(Box<StoreError>),
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error("the built-in decomposition made an invalid task graph (a bug in omk; please report it): {0}")]
    Decomposition(GraphError),
}

impl From<StoreError> for IntakeError {
    fn from(error: StoreError) -> IntakeError {
        IntakeError::Store(Box::new(error))
    }
}

/// Starts a goal: records intake, then plans it unless the oracle guard blocks it.
pub fn start_goal(
    state_dir: &StateDir,
    request: &StartRequest,
    clock: &Clock,
) -> Result<(GoalDir, Loaded), IntakeError> {
    if request.prompt.len() > MAX_PROMPT_BYTES {
        return Err(IntakeError::PromptTooLong {
            bytes: request.prompt.len(),
        });
    }
    let normalized = normalize_prompt(&request.prompt);
    if normalized.is_empty() {
        return Err(IntakeError::EmptyPrompt);
    }
    // Refused before anything is created: a goal needs a commit to branch from.
    let dir = request.repo_root.display().to_string();
    if repo_root(&request.repo_root).is_none() {
        return Err(IntakeError::NotARepository { dir });
    }
    let Some(base_commit) = head_commit(&request.repo_root) else {
        return Err(IntakeError::NoCommit { dir });
    };
    let now = clock.now();
    let goal_id = clock.new_goal_id(now, &normalized);
    let oracle = check_oracle(&normalized);
    let mut intake = vec![
        Event::RunStarted(RunStarted {
            goal_id: goal_id.clone(),
            prompt: request.prompt.clone(),
            normalized_prompt: normalized.clone(),
            base_commit: Some(base_commit),
            omk_version: env!("CARGO_PKG_VERSION").to_owned(),
            budget: request.budget,
            options: RunOptions {
                mode: request.mode,
                agent: request.agent.clone(),
                agent_cmd: request.agent_cmd.clone(),
                planner: request.planner.clone(),
            },
        }),
        Event::OracleChecked(oracle.clone()),
    ];
    intake.push(if oracle.testable {
        Event::PhaseEntered(PhaseEntered {
            phase: Phase::Planning,
        })
    } else {
        Event::GoalConcluded(GoalConcluded {
            status: Conclusion::BlockedOnHuman,
            reason: "the goal's success cannot be tested without a human decision".to_owned(),
            decisions_required: oracle.decisions_required.clone(),
        })
    });
    let loaded = state_dir.create_goal(&goal_id, now, intake)?;
    let goal = state_dir.goal(&goal_id);
    if !oracle.testable {
        return Ok((goal, loaded));
    }
    let planned = plan_goal(&goal, &loaded, request, clock, &oracle)?;
    Ok((goal, planned))
}

/// Plans a goal in its planning phase: scan, decompose, store the documents, record it all.
fn plan_goal(
    goal: &GoalDir,
    loaded: &Loaded,
    request: &StartRequest,
    clock: &Clock,
    oracle: &OracleChecked,
) -> Result<Loaded, IntakeError> {
    let state = &loaded.state;
    let prompt = &state.normalized_prompt;
    let scanned = scan_repository(&request.repo_root, &keywords(prompt));
    let relevant = rank_files(&scanned, &keywords(prompt), RELEVANT_FILES);
    let mut events = Vec::new();
    let mut source = PlanSource::Deterministic;
    let mut tasks = None;
    if let (Some(backend), Some(base_commit)) = (&request.planner_agent, &state.base_commit) {
        let agent_request = AgentPlanRequest {
            goal,
            goal_id: &state.goal_id,
            repo_root: &request.repo_root,
            base_commit,
            prompt,
            relevant: &relevant,
            max_slices: MAX_SLICES,
            timeout: request.planner_timeout,
            interrupt: &request.interrupt,
        };
        let proposed = plan_with_agent(backend, &agent_request).and_then(|slices| {
            task_graph(slices).map_err(|error| format!("the agent's graph is invalid: {error}"))
        });
        match proposed {
            Ok(planned) => {
                source = PlanSource::Agent;
                tasks = Some(planned);
            }
            Err(reason) => events.push(Event::PlannerFellBack(PlannerFellBack {
                planner: format!("the {} agent", backend.name),
                reason,
            })),
        }
    } else if let Some(planner) = &request.planner {
        let planner_request = PlannerRequest {
            goal_id: &state.goal_id,
            prompt,
            base_commit: state.base_commit.as_deref(),
            relevant_files: &relevant,
            max_slices: MAX_SLICES,
        };
        let proposed = ask_planner(
            planner,
            &request.repo_root,
            &planner_request,
            request.planner_timeout,
            &request.interrupt,
        )
        .and_then(|slices| {
            task_graph(slices).map_err(|error| format!("the planner's graph is invalid: {error}"))
        });
        match proposed {
            Ok(planned) => {
                source = PlanSource::Planner;
                tasks = Some(planned);
            }
            Err(reason) => events.push(Event::PlannerFellBack(PlannerFellBack {
                planner: planner.clone(),
                reason,
            })),
        }
    }
    let tasks = match tasks {
        Some(tasks) => tasks,
        None => task_graph(slices(prompt, &scanned)).map_err(IntakeError::Decomposition)?,
    };
    let facts = PlanFacts {
        goal_id: &state.goal_id,
        prompt,
        base_commit: state.base_commit.as_deref(),
        budget: &state.budget.limits,
        oracle,
        relevant: &relevant,
        tasks: &tasks,
    };
    let store = goal.artifacts();
    for document in documents(&facts) {
        let artifact = store.put(document.name, document.media_type, document.text.as_bytes())?;
        events.push(Event::ArtifactRecorded(artifact));
    }
    events.push(Event::TasksPlanned(TasksPlanned { source, tasks }));
    Ok(goal.append(Some(loaded), clock.now(), events)?)
}
