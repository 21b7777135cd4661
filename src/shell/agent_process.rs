//! One agent run under the supervisor: its transcripts streamed into the artifact store, its
//! stdout read for usage as it streams, and what it did summed up as [`Ended`].
//!
//! Must not start processes itself (the supervisor does) or decide the task's outcome (the
//! wave does).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::log::artifacts::{ArtifactRef, ArtifactStore};
use crate::shell::agent::{AgentReport, Dialect, Invocation, UsageReader};
use crate::shell::process::{Capture, Ending, Exit, ProcessError, Spec};

/// The most bytes of one transcript stream kept; the rest is counted and flagged as truncated.
pub const MAX_TRANSCRIPT_BYTES: u64 = 64 << 20;

/// How an agent process ended.
#[derive(Debug)]
pub struct Ended {
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub interrupted: bool,
    pub duration: Duration,
    pub stdout: ArtifactRef,
    pub stderr: ArtifactRef,
    /// Whether a transcript was longer than omk keeps.
    pub truncated: bool,
    /// How many processes the agent left running that had to be killed.
    pub leftovers_killed: u32,
    /// How many processes would not die.
    pub leftovers_survived: u32,
    /// The last lines the agent printed on stderr, then stdout (for failure messages).
    pub last_lines: String,
    pub report: AgentReport,
}

/// The usage reader an agent's stdout feeds while it runs.
pub struct Usage(Arc<Mutex<UsageReader>>);

/// Returns the supervision spec of `invocation` in `worktree`, its transcripts named
/// `<name_prefix>stdout` and `…stderr` in `store`, and the usage its stdout feeds.
pub fn agent_spec(
    invocation: &Invocation,
    worktree: &Path,
    dialect: Dialect,
    store: &ArtifactStore,
    name_prefix: &str,
    timeout: Duration,
) -> (Spec, Usage) {
    let reader = Arc::new(Mutex::new(UsageReader::new(dialect)));
    let observer = Arc::clone(&reader);
    let args: Vec<&str> = invocation.args.iter().map(String::as_str).collect();
    let mut spec = Spec::new(&invocation.program, &args, worktree);
    spec.env.clone_from(&invocation.env);
    spec.stdin.clone_from(&invocation.stdin);
    spec.deadline = timeout;
    spec.stdout = Capture::artifact(
        store.clone(),
        &format!("{name_prefix}stdout"),
        "application/x-ndjson",
        MAX_TRANSCRIPT_BYTES,
    )
    .observe_lines(move |line| {
        if let Ok(mut reader) = observer.lock() {
            reader.observe(&String::from_utf8_lossy(line));
        }
    });
    let observer = Arc::clone(&reader);
    spec.stderr = Capture::artifact(
        store.clone(),
        &format!("{name_prefix}stderr"),
        "text/plain",
        MAX_TRANSCRIPT_BYTES,
    )
    .observe_lines(move |line| {
        if let Ok(mut reader) = observer.lock() {
            reader.observe_stderr(&String::from_utf8_lossy(line));
        }
    });
    (spec, Usage(reader))
}

impl Usage {
    /// Returns what the finished supervision says about the agent.
    pub fn ended(self, exit: Exit) -> Result<Ended, ProcessError> {
        // The supervision has dropped its capture, and with it the other handle on the reader.
        let report = Arc::try_unwrap(self.0)
            .ok()
            .and_then(|reader| reader.into_inner().ok())
            .map(|reader| reader.finish(exit.code))
            .unwrap_or_default();
        let missing = |stream: &str| ProcessError::Wait {
            program: "agent".to_owned(),
            source: std::io::Error::other(format!("its {stream} transcript was not stored")),
        };
        let last_lines = [&exit.stderr, &exit.stdout]
            .iter()
            .map(|captured| captured.tail.last_lines(5))
            .find(|lines| !lines.is_empty())
            .unwrap_or_default();
        Ok(Ended {
            exit_code: exit.code,
            timed_out: exit.ending == Ending::TimedOut,
            interrupted: exit.ending == Ending::Stopped,
            duration: exit.duration,
            // Output the drain gave up on is as incomplete as output over the cap.
            truncated: exit.stdout.truncated
                || exit.stderr.truncated
                || exit.stdout.unfinished
                || exit.stderr.unfinished,
            leftovers_killed: exit.leftovers.killed,
            leftovers_survived: exit.leftovers.survivors,
            stdout: exit.stdout.artifact.ok_or_else(|| missing("stdout"))?,
            stderr: exit.stderr.artifact.ok_or_else(|| missing("stderr"))?,
            last_lines,
            report,
        })
    }
}
