//! The planner hook: ask an external command to decompose the goal.
//!
//! Protocol (docs/planner-hook.md): omk runs `sh -c <command>` in the repository root with a
//! JSON request on stdin and `OMK_GOAL_ID` set; the command prints `{"tasks": [...]}` on
//! stdout, each task a `TaskSpec` of kind `implementation` (schemas/planner-reply.schema.json).
//! Any failure (missing program, non-zero exit, timeout, bad JSON, an invalid graph) is
//! returned as a reason, and the caller falls back to the built-in decomposition.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::event::{TaskKind, TaskSpec};
use crate::plan::documents::format_duration;
use crate::plan::relevance::RelevantFile;
use crate::shell::interrupt::Interrupt;
use crate::shell::process::{run_until, Capture, Ending, Spec};

/// How long the planner may take.
pub const PLANNER_TIMEOUT: Duration = Duration::from_secs(300);
/// The longest reply omk reads from the planner.
const MAX_REPLY_BYTES: u64 = 16 << 20;

/// What omk sends the planner on stdin.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct PlannerRequest<'a> {
    pub goal_id: &'a str,
    pub prompt: &'a str,
    pub base_commit: Option<&'a str>,
    pub relevant_files: &'a [RelevantFile],
    /// Returns the most slices omk accepts.
    pub max_slices: usize,
}

/// What the planner must print on stdout.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlannerReply {
    /// Returns the implementation slices; omk adds the controller tasks after them.
    pub tasks: Vec<TaskSpec>,
}

/// Returns the planner's slices, or why they cannot be used (in one sentence).
pub fn ask_planner(
    command: &str,
    root: &Path,
    request: &PlannerRequest<'_>,
    timeout: Duration,
    interrupt: &Interrupt,
) -> Result<Vec<TaskSpec>, String> {
    let input = serde_json::to_vec(request).map_err(|error| error.to_string())?;
    let mut spec = Spec::new("sh", &["-c", command], root);
    spec.env = vec![("OMK_GOAL_ID".to_owned(), request.goal_id.to_owned())];
    spec.stdin = Some(input);
    spec.deadline = timeout;
    spec.stdout = Capture::memory(MAX_REPLY_BYTES);
    spec.stderr = Capture::nothing();
    let exit = run_until(spec, interrupt.receiver()).map_err(|error| error.to_string())?;
    // ": <its last line of stderr>", or nothing when it printed none.
    let last_line = match exit.stderr.tail.last_line() {
        line if line.trim().is_empty() => String::new(),
        line => format!(": {line}"),
    };
    match (exit.ending, exit.code) {
        (Ending::TimedOut, _) => {
            return Err(format!(
                "the planner did not finish within {} and was stopped",
                format_duration(timeout.as_secs())
            ))
        }
        (Ending::Stopped, _) => {
            return Err("the planner was stopped by an interruption (Ctrl-C)".to_owned())
        }
        (_, Some(0)) => {}
        (_, Some(127)) => {
            return Err(format!(
                "the planner command was not found (exit 127){last_line}"
            ))
        }
        (_, Some(code)) => return Err(format!("the planner exited with status {code}{last_line}")),
        (_, None) => return Err("the planner was killed by a signal".to_owned()),
    }
    if exit.stdout.truncated {
        return Err(format!(
            "the planner's reply is over {} MiB",
            MAX_REPLY_BYTES >> 20
        ));
    }
    let finished = exit;
    read_reply(&finished.stdout.bytes, request.max_slices)
}

/// Returns the slices of a planner's reply (`{"tasks": [...]}`), or why they cannot be used:
/// 1 to `max_slices` implementation slices whose write sets stay inside the repository.
pub fn read_reply(bytes: &[u8], max_slices: usize) -> Result<Vec<TaskSpec>, String> {
    let reply: PlannerReply = serde_json::from_slice(bytes).map_err(|error| {
        format!("the planner's reply is not a valid {{\"tasks\": [...]}} document: {error}")
    })?;
    if reply.tasks.is_empty() || reply.tasks.len() > max_slices {
        return Err(format!(
            "the planner proposed {} slices; omk takes 1 to {}",
            reply.tasks.len(),
            max_slices
        ));
    }
    let outside = reply.tasks.iter().find_map(|task| {
        task.write_set
            .iter()
            .find(|pattern| pattern.starts_with('/') || pattern.split('/').any(|part| part == ".."))
            .map(|pattern| (task.id.clone(), pattern.clone()))
    });
    if let Some((task, pattern)) = outside {
        return Err(format!(
            "the planner's task `{task}` may write `{pattern}`, outside the repository"
        ));
    }
    if let Some(task) = reply
        .tasks
        .iter()
        .find(|task| task.kind != TaskKind::Implementation)
    {
        return Err(format!(
            "the planner's task `{}` is not an implementation slice; omk adds the controller tasks itself",
            task.id
        ));
    }
    Ok(reply.tasks)
}
