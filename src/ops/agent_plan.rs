//! Planning through the agent: the configured coding agent reads the repository in a scratch
//! worktree and writes the task graph, which omk validates like any planner's reply.
//!
//! The agent gets the request, the ranked files and the reply's JSON Schema, runs under the
//! supervisor in a detached worktree of the base commit, and must leave one file,
//! `omk-plan.json`, and change nothing else. Anything else (a failed run, no file, invalid
//! JSON, a bad graph, other files touched) is a reason to fall back to the built-in
//! decomposition. Must not append events: the intake records the outcome.

use std::path::Path;
use std::time::Duration;

use crate::event::{GoalId, TaskSpec};
use crate::plan::relevance::RelevantFile;
use crate::plan::write_set::allows;
use crate::shell::agent::{Backend, RunIds};
use crate::shell::agent_process::agent_spec;
use crate::shell::git::{nul_separated, run_git};
use crate::shell::interrupt::Interrupt;
use crate::shell::planner::{read_reply, PlannerReply};
use crate::shell::process::{run_until, Ending};
use crate::shell::worktree::{checkout_fresh, remove};
use crate::store::GoalDir;

/// The file the planning agent writes its task graph to, at its worktree's root.
pub const PLAN_FILE: &str = "omk-plan.json";

/// What the planning agent is asked for.
pub struct AgentPlanRequest<'a> {
    pub goal: &'a GoalDir,
    pub goal_id: &'a GoalId,
    pub repo_root: &'a Path,
    pub base_commit: &'a str,
    pub prompt: &'a str,
    pub relevant: &'a [RelevantFile],
    pub max_slices: usize,
    pub timeout: Duration,
    pub interrupt: &'a Interrupt,
}

/// Returns the slices the agent planned, or why they cannot be used (one sentence).
pub fn plan_with_agent(
    backend: &Backend,
    request: &AgentPlanRequest<'_>,
) -> Result<Vec<TaskSpec>, String> {
    let scratch = request.goal.worktrees_dir().join("_plan");
    checkout_fresh(request.repo_root, &scratch, None, request.base_commit)
        .map_err(|error| format!("its scratch worktree could not be made: {error}"))?;
    let planned = run_planning_agent(backend, request, &scratch);
    let _ = remove(request.repo_root, &scratch);
    planned
}

fn run_planning_agent(
    backend: &Backend,
    request: &AgentPlanRequest<'_>,
    scratch: &Path,
) -> Result<Vec<TaskSpec>, String> {
    let prompt = planning_prompt(request);
    let prompt_file = request.goal.dir().join("prompts").join("plan.md");
    if let Some(dir) = prompt_file.parent() {
        std::fs::create_dir_all(dir).map_err(|error| error.to_string())?;
    }
    std::fs::write(&prompt_file, &prompt).map_err(|error| error.to_string())?;
    let invocation = backend
        .invocation(
            &prompt,
            RunIds {
                goal_id: request.goal_id,
                task_id: "plan",
                worktree: scratch,
                prompt_file: &prompt_file,
            },
        )
        .map_err(|error| error.to_string())?;
    // A planning agent runs without a progress view: its activity is not shown.
    let (spec, usage, _) = agent_spec(
        &invocation,
        scratch,
        backend.dialect,
        &request.goal.artifacts(),
        "plan/",
        request.timeout,
    );
    let exit = run_until(spec, request.interrupt.receiver())
        .map_err(|error| format!("the planning agent could not run: {error}"))?;
    let ending = exit.ending;
    let ended = usage.ended(exit).map_err(|error| error.to_string())?;
    match (ending, ended.exit_code, &ended.report.failure) {
        (Ending::TimedOut, _, _) => {
            return Err(format!(
                "the planning agent did not finish within {}s",
                request.timeout.as_secs()
            ))
        }
        (Ending::Stopped, _, _) => return Err("planning was interrupted (Ctrl-C)".to_owned()),
        (_, _, Some(failure)) => {
            return Err(format!("the planning agent failed: {}", failure.message))
        }
        (_, Some(0), None) => {}
        (_, code, None) => {
            return Err(format!(
                "the planning agent exited with {}",
                code.map_or("a signal".to_owned(), |code| format!("status {code}"))
            ))
        }
    }
    // Planning is read-only: the plan file is the one change allowed.
    let status = run_git(
        scratch,
        &["status", "--porcelain=v1", "-z", "--untracked-files=all"],
    )
    .map_err(|error| error.to_string())?;
    let touched: Vec<String> = nul_separated(&status)
        .into_iter()
        .filter_map(|record| record.get(3..).map(str::to_owned))
        .filter(|path| path != PLAN_FILE && !allows(&backend.side_files, path))
        .collect();
    if !touched.is_empty() {
        return Err(format!(
            "the planning agent changed files while planning: {}",
            touched.join(", ")
        ));
    }
    let bytes = std::fs::read(scratch.join(PLAN_FILE))
        .map_err(|_| format!("the planning agent wrote no {PLAN_FILE}"))?;
    read_reply(&bytes, request.max_slices)
}

/// Returns the prompt that asks the agent for a plan.
fn planning_prompt(request: &AgentPlanRequest<'_>) -> String {
    let schema =
        serde_json::to_string_pretty(&schemars::schema_for!(PlannerReply)).unwrap_or_default();
    let files: Vec<String> = request
        .relevant
        .iter()
        .map(|file| format!("- {}", file.path))
        .collect();
    format!(
        "You are planning a change, not making it. This is goal {goal} (task plan).\n\n\
         # The request\n\n{prompt}\n\n\
         # Files that look relevant\n\n{files}\n\n\
         Read the repository as you need, but change no file. Split the request into at most \
         {max} implementation slices that agents can do in parallel git worktrees. Give each \
         slice the paths it will change as its write_set (paths or globs relative to the \
         repository root, including files to create); slices whose write sets overlap must \
         depend on each other. Acceptance criteria of the request (\"tests must pass\") are \
         acceptance entries, not slices.\n\n\
         Write the plan as JSON to the file `{plan_file}` at the root of your working directory, \
         matching this JSON Schema, and nothing else:\n\n```json\n{schema}\n```\n",
        goal = request.goal_id,
        prompt = request.prompt,
        files = if files.is_empty() {
            "- (none ranked)".to_owned()
        } else {
            files.join("\n")
        },
        max = request.max_slices,
        plan_file = PLAN_FILE,
    )
}
