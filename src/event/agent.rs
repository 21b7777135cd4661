//! Payloads of the events an agent run leaves: started, finished, the changes it made, and
//! the removal of its worktree.
//!
//! What the agent says about itself (`claim`) is kept apart from what omk observed (exit
//! status, commits, changed files, the diff): a claim is never evidence.

use serde::{Deserialize, Serialize};

use crate::event::ids::TaskId;
use crate::log::artifacts::ContentHash;

/// `agent_started`: an agent process was launched for a task in its worktree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentStarted {
    pub task_id: TaskId,
    /// Returns the attempt: 0 for the first run, then the task's retry count.
    pub attempt: u32,
    /// The fix round the attempt belongs to (0: before any). Added in 0.1.0 with the fix loop.
    #[serde(default, skip_serializing_if = "crate::event::is_zero")]
    pub round: u32,
    /// Returns the backend: `claude`, `codex`, …, or `command`.
    pub agent: String,
    /// Returns the command line, with the prompt written as `{prompt}`.
    pub argv: Vec<String>,
    /// Returns the worktree the agent runs in.
    pub worktree: String,
    /// Returns the task's branch: `omk/<goal-id>/<task-id>`.
    pub branch: String,
    /// Returns the commit the worktree started from.
    pub start_commit: String,
    /// Returns the process id, which is also the agent's process group.
    pub pid: u32,
    /// Returns the hash of the prompt artifact.
    pub prompt: ContentHash,
    /// The head of the slice's earlier work a fix round's attempt builds on (before the
    /// dependencies' branches are merged on top); absent for an attempt that starts afresh.
    /// Added in 0.1.0 with the fix loop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builds_on: Option<String>,
}

/// `agent_finished`: an agent process ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentFinished {
    pub task_id: TaskId,
    /// Returns the exit status, or `None` when a signal ended it.
    pub exit_code: Option<i32>,
    /// Returns whether omk killed it at its timeout.
    pub timed_out: bool,
    /// Returns whether omk stopped it for a pause or a cancel.
    pub interrupted: bool,
    /// Returns how long it ran, in milliseconds.
    pub duration_ms: u64,
    /// Returns the stdout transcript artifact.
    pub stdout: ContentHash,
    /// Returns the stderr transcript artifact.
    pub stderr: ContentHash,
    /// Returns why the agent stopped on its own limit (turns, budget), if it did.
    pub limit_stop: Option<String>,
    /// Returns the agent's final message: a claim, not evidence.
    pub claim: Option<String>,
    /// Whether a transcript was longer than omk keeps (64 MiB a stream) and was cut.
    /// Added in 0.1.0 with the process supervisor; absent means `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub transcript_truncated: bool,
    /// How many processes the agent left running when it ended, which omk then killed.
    /// Added in 0.1.0 with the process supervisor; absent means 0.
    #[serde(default, skip_serializing_if = "crate::event::is_zero")]
    pub leftovers_killed: u32,
    /// How many of its processes were still there after omk killed them (they escaped both
    /// its process group and its tag). Added in 0.1.0 with the process supervisor; absent means 0.
    #[serde(default, skip_serializing_if = "crate::event::is_zero")]
    pub leftovers_survived: u32,
    /// The last lines a failed run printed (stderr, else stdout), with secrets masked: what
    /// status, the proof and the next attempt show. Added in 0.1.0 with the fix loop; empty for
    /// a run that exited 0 and in older logs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_lines: String,
}

/// `changes_recorded`: what omk found in the task's worktree after the agent ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangesRecorded {
    pub task_id: TaskId,
    /// Returns the commit the worktree started from.
    pub start_commit: String,
    /// Returns the branch tip after omk committed what the agent left.
    pub head_commit: String,
    /// Returns the commits from start to head, oldest first (the agent's own and omk's).
    pub commits: Vec<String>,
    /// Returns whether omk committed changes the agent left uncommitted.
    pub committed_leftovers: bool,
    /// Returns every changed path, sorted.
    pub changed_files: Vec<String>,
    pub insertions: u64,
    pub deletions: u64,
    /// Returns the diff artifact (`git diff --binary start head`), when anything changed.
    pub diff: Option<ContentHash>,
    /// Whether the diff was longer than omk keeps and the artifact holds only its start.
    /// Added in 0.1.0 with the process supervisor; absent means `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub diff_truncated: bool,
    /// Returns the changed paths outside the task's write set that the scope policy does not
    /// allow (another slice's files, protected paths, or any under a strict policy).
    pub outside_write_set: Vec<String>,
    /// Changed paths outside the task's write set that no other slice claims and no protected
    /// path covers: allowed, and shown to the integrator. Added in 0.1.0; absent means none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub widened: Vec<String>,
}

/// `worktree_removed`: `omk goal clean` removed a task's worktree (its branch is kept).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorktreeRemoved {
    pub task_id: TaskId,
    pub worktree: String,
    pub branch: String,
    /// Returns whether `--force` removed uncommitted work.
    pub forced: bool,
}
