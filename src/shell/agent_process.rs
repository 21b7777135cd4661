//! One agent run under the supervisor: its transcripts streamed into the artifact store, its
//! stdout read for usage as it streams, and what it did summed up as [`Ended`].
//!
//! Must not start processes itself (the supervisor does) or decide the task's outcome (the
//! wave does).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::log::artifacts::{ArtifactRef, ArtifactStore};
use crate::shell::agent::activity::Activity;
use crate::shell::agent::{AgentReport, Dialect, Invocation, UsageReader};
use crate::shell::process::{Capture, Ending, Exit, ProcessError, Spec};

/// How many of a stream's last lines a failed run keeps (from at most 4 KiB).
const AGENT_TAIL_LINES: usize = 20;

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
    /// The last lines the agent printed on stderr, else stdout (for failure messages, the
    /// status view and the next attempt's prompt).
    pub last_lines: String,
    pub report: AgentReport,
}

/// Returns where Kimi Code keeps its sessions: `$KIMI_CODE_HOME`, else `~/.kimi-code`.
fn kimi_home() -> PathBuf {
    match std::env::var_os("KIMI_CODE_HOME") {
        Some(home) if !home.is_empty() => PathBuf::from(home),
        _ => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".kimi-code"),
    }
}

/// Returns the input and output tokens Kimi Code recorded for session `session` under `home`
/// (`sessions/<work-dir-key>/<session>/agents/main/wire.jsonl`, `usage.record` lines): the
/// last session-wide record if there is one, else the sum of the per-turn ones.
pub fn kimi_session_usage(home: &Path, session: &str) -> Option<(u64, u64)> {
    let sessions = std::fs::read_dir(home.join("sessions")).ok()?;
    let wire = sessions
        .flatten()
        .map(|dir| dir.path().join(session).join("agents/main/wire.jsonl"))
        .find(|path| path.is_file())?;
    let text = std::fs::read_to_string(wire).ok()?;
    let (mut turns, mut whole) = ((0u64, 0u64, false), None);
    for line in text.lines() {
        let Ok(record) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if record.get("type").and_then(|kind| kind.as_str()) != Some("usage.record") {
            continue;
        }
        let count = |field: &str| {
            record
                .pointer(&format!("/usage/{field}"))
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
        };
        let input = count("inputOther") + count("inputCacheRead") + count("inputCacheCreation");
        let output = count("output");
        match record.get("usageScope").and_then(|scope| scope.as_str()) {
            Some("session") => whole = Some((input, output)),
            _ => turns = (turns.0 + input, turns.1 + output, true),
        }
    }
    whole.or((turns.2).then_some((turns.0, turns.1)))
}

/// The usage reader an agent's stdout feeds while it runs.
pub struct Usage(Arc<Mutex<UsageReader>>);

/// Returns the supervision spec of `invocation` in `worktree`, its transcripts named
/// `<name_prefix>stdout` and `…stderr` in `store`, the usage its stdout feeds, and what it
/// is doing now (its last stdout line), for progress lines.
pub fn agent_spec(
    invocation: &Invocation,
    worktree: &Path,
    dialect: Dialect,
    store: &ArtifactStore,
    name_prefix: &str,
    timeout: Duration,
) -> (Spec, Usage, Activity) {
    let reader = Arc::new(Mutex::new(UsageReader::new(dialect)));
    let activity = Activity::default();
    let watcher = activity.clone();
    let observer = Arc::clone(&reader);
    let args: Vec<&str> = invocation.args.iter().map(String::as_str).collect();
    let mut spec = Spec::new(&invocation.program, &args, worktree);
    spec.env.clone_from(&invocation.env);
    spec.stdin.clone_from(&invocation.stdin);
    spec.deadline = timeout;
    // The prompt is the goal's text, not something to trace: `{prompt}` stands in for it.
    spec.shown_args = Some(invocation.recorded_argv.iter().skip(1).cloned().collect());
    spec.stdout = Capture::artifact(
        store.clone(),
        &format!("{name_prefix}stdout"),
        "application/x-ndjson",
        MAX_TRANSCRIPT_BYTES,
    )
    .observe_lines(move |line| {
        watcher.observe(line);
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
    (spec, Usage(reader), activity)
}

impl Usage {
    /// Returns what the finished supervision says about the agent.
    pub fn ended(self, exit: Exit) -> Result<Ended, ProcessError> {
        // The supervision has dropped its capture, and with it the other handle on the reader.
        let reader = Arc::try_unwrap(self.0)
            .ok()
            .and_then(|reader| reader.into_inner().ok());
        let session = reader.as_ref().and_then(|reader| reader.session_id.clone());
        let mut report = reader
            .map(|reader| reader.finish(exit.code))
            .unwrap_or_default();
        // Kimi Code prints no usage: it records it in its session's wire log.
        if let (None, Some(session)) = (report.input_tokens, session) {
            if let Some((input, output)) = kimi_session_usage(&kimi_home(), &session) {
                report.input_tokens = Some(input);
                report.output_tokens = Some(output);
            }
        }
        let missing = |stream: &str| ProcessError::Wait {
            program: "agent".to_owned(),
            source: std::io::Error::other(format!("its {stream} transcript was not stored")),
        };
        let last_lines = [&exit.stderr, &exit.stdout]
            .iter()
            .map(|captured| captured.tail.last_lines(AGENT_TAIL_LINES))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kimi_code_usage_is_read_from_its_session_wire_log() {
        let home = tempfile::tempdir().unwrap();
        let session = home
            .path()
            .join("sessions/wd_repo_0123456789ab/f3c1e2d4/agents/main");
        std::fs::create_dir_all(&session).unwrap();
        std::fs::write(
            session.join("wire.jsonl"),
            concat!(
                r#"{"type":"turn.begin"}"#, "\n",
                r#"{"type":"usage.record","agentId":"main","model":"k","usage":{"inputOther":100,"output":20,"inputCacheRead":400,"inputCacheCreation":0},"usageScope":"turn","time":1}"#, "\n",
                r#"{"type":"usage.record","agentId":"main","model":"k","usage":{"inputOther":50,"output":10,"inputCacheRead":500,"inputCacheCreation":0},"usageScope":"turn","time":2}"#, "\n",
            ),
        )
        .unwrap();
        assert_eq!(
            kimi_session_usage(home.path(), "f3c1e2d4"),
            Some((1050, 30))
        );
        assert_eq!(kimi_session_usage(home.path(), "other"), None);
    }
}
