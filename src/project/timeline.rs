//! The timeline: every event of a goal as a sentence, derived from the events alone (no clock).

use serde::Serialize;

use crate::event::{Event, GateFinished, GateTarget, Phase, RecordedEvent, Timestamp};
use crate::plan::documents::format_usd;
use crate::state::verdict::short;

/// One event on the timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Entry {
    pub seq: u64,
    pub at: Timestamp,
    pub kind: &'static str,
    /// Returns the task the event is about, if any.
    pub task: Option<String>,
    /// Returns what happened, in a sentence.
    pub sentence: String,
    /// Returns the phase entered, when the event changes the goal's phase.
    pub phase: Option<Phase>,
}

/// Returns the task an event is about, if any.
pub fn task_of(event: &Event) -> Option<&str> {
    Some(match event {
        Event::TaskTransitioned(e) => &e.task_id,
        Event::TaskRetried(e) => &e.task_id,
        Event::TaskLeased(e) => &e.task_id,
        Event::TaskEvidenceRecorded(e) => &e.task_id,
        Event::AgentStarted(e) => &e.task_id,
        Event::AgentFinished(e) => &e.task_id,
        Event::ChangesRecorded(e) => &e.task_id,
        Event::WorktreeRemoved(e) => &e.task_id,
        Event::ResultConflicted(e) => &e.task_id,
        Event::UsageRecorded(e) => return e.task_id.as_deref(),
        Event::RunFailed(e) => return e.task_id.as_deref(),
        Event::GateStarted(e) => return e.target.task_id.as_deref(),
        Event::GateFinished(e) => return e.target.task_id.as_deref(),
        _ => return None,
    })
}

/// Returns how a gate's target is named after its commit: the baseline, a landing, or nothing
/// for the claimed tree.
fn target_label(target: &GateTarget) -> &'static str {
    match (target.baseline, target.landing) {
        (true, _) => " (baseline)",
        (false, true) => " (landing)",
        (false, false) => "",
    }
}

/// Returns what a process left running, as a clause: empty when it left nothing.
pub fn leftovers_clause(killed: u32, survived: u32) -> String {
    let mut clause = match killed {
        0 => String::new(),
        1 => "; it left 1 process running, which omk killed".to_owned(),
        count => format!("; it left {count} processes running, which omk killed"),
    };
    if survived > 0 {
        clause.push_str(&format!("; {survived} would not die"));
    }
    clause
}

/// Returns the sentence for one event.
pub fn sentence(event: &Event) -> String {
    match event {
        Event::RunStarted(e) => format!(
            "goal {} started: \"{}\"",
            e.goal_id,
            e.normalized_prompt.lines().next().unwrap_or("")
        ),
        Event::OracleChecked(e) if e.testable => {
            "the oracle guard found the goal testable".to_owned()
        }
        Event::OracleChecked(e) => format!(
            "the oracle guard found the goal needs a human: {}",
            e.decisions_required.join("; ")
        ),
        Event::PhaseEntered(e) => format!("entered {}", e.phase.name()),
        Event::ArtifactRecorded(e) => format!(
            "stored {} ({} bytes, {})",
            e.name,
            e.size,
            short(&e.hash.to_hex())
        ),
        Event::PlannerFellBack(e) => format!(
            "the planner `{}` failed ({}); the built-in decomposition was used",
            e.planner, e.reason
        ),
        Event::TasksPlanned(e) => format!(
            "planned {} tasks: {}",
            e.tasks.len(),
            e.tasks
                .iter()
                .map(|task| task.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Event::PlanEdited(e) => format!(
            "the plan was edited by hand: {} tasks: {}{}",
            e.tasks.len(),
            e.tasks
                .iter()
                .map(|task| task.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            e.note
                .as_ref()
                .map_or(String::new(), |note| format!(" ({note})"))
        ),
        Event::TaskTransitioned(e) => format!(
            "{} went {} → {}{}",
            e.task_id,
            e.from.name(),
            e.to.name(),
            e.reason
                .as_ref()
                .map(|reason| format!(": {reason}"))
                .unwrap_or_default()
        ),
        Event::TaskRetried(e) => format!(
            "{} will be retried{}: {}",
            e.task_id,
            e.backoff_ms.map_or(String::new(), |ms| format!(
                " in {}.{}s",
                ms / 1000,
                ms % 1000 / 100
            )),
            e.reason
        ),
        Event::GoalPruned(e) => format!(
            "pruned: {} removed, {} deleted, {} freed",
            crate::project::show::plural(e.worktrees, "worktree"),
            crate::project::show::plural(e.branches.len() as u64, "branch"),
            crate::project::show::size_in_words(e.bytes)
        ),
        Event::PullRequestOpened(e) => format!(
            "{}pull request opened: {} ({} into {} at {})",
            if e.draft { "draft " } else { "" },
            e.url,
            e.branch,
            e.base,
            short(&e.commit)
        ),
        Event::GoalLanded(e) => format!(
            "landed on {}",
            crate::project::proof::landed_words(e, str::to_owned)
        ),
        Event::RoundStarted(e) => format!(
            "fix round {} started ({}): {}; reopened {}",
            e.round,
            e.cause.name(),
            e.reason,
            e.tasks
                .iter()
                .map(|task| task.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Event::TaskLeased(e) => format!(
            "{} leased by {} until {}",
            e.task_id, e.holder, e.expires_at
        ),
        Event::TaskEvidenceRecorded(e) => {
            format!("evidence for {}: {}", e.task_id, e.evidence.summary)
        }
        Event::UsageRecorded(e) => {
            let tokens = match (e.input_tokens, e.output_tokens) {
                (None, None) => "tokens unknown".to_owned(),
                (input, output) => {
                    format!("{} in, {} out", input.unwrap_or(0), output.unwrap_or(0))
                }
            };
            let usd = e.usd_micros.map_or("cost unknown".to_owned(), format_usd);
            format!("usage reported: {tokens}, {usd}")
        }
        Event::BudgetExtended(e) => format!(
            "budget raised by {}",
            crate::plan::documents::budget_line(&e.added)
        ),
        Event::GoalPaused(e) => format!(
            "paused{}",
            e.reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
        Event::GoalResumed(_) => "resumed".to_owned(),
        Event::GoalCancelled(e) => format!(
            "cancelled{}",
            e.reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
        Event::GoalConcluded(e) => format!(
            "concluded {}: {}",
            crate::plan::documents::label(&e.status),
            e.reason
        ),
        Event::RunFailed(e) => format!("the run failed (infrastructure): {}", e.reason),
        Event::IntegrationDecided(e) => format!(
            "the integrator {}: {}",
            crate::plan::documents::label(&e.decision),
            e.note
        ),
        Event::AgentStarted(e) => format!(
            "{} agent started on {} ({}attempt {}, pid {}) from {}",
            e.agent,
            e.task_id,
            match e.round {
                0 => String::new(),
                round => format!("fix round {round}, "),
            },
            e.attempt,
            e.pid,
            short(&e.start_commit)
        ),
        Event::AgentFinished(e) => {
            let how = if e.interrupted {
                "was interrupted".to_owned()
            } else if e.timed_out {
                "timed out".to_owned()
            } else {
                e.exit_code
                    .map_or("was killed".to_owned(), |code| format!("exited {code}"))
            };
            format!(
                "the agent on {} {how} after {}s{}{}",
                e.task_id,
                e.duration_ms / 1000,
                if e.transcript_truncated {
                    " (transcript cut at the cap)"
                } else {
                    ""
                },
                leftovers_clause(e.leftovers_killed, e.leftovers_survived)
            )
        }
        Event::ChangesRecorded(e) => format!(
            "{} changed {} files (+{} -{}) up to {}{}",
            e.task_id,
            e.changed_files.len(),
            e.insertions,
            e.deletions,
            short(&e.head_commit),
            if e.outside_write_set.is_empty() {
                String::new()
            } else {
                format!(
                    "; outside its write set: {}",
                    e.outside_write_set.join(", ")
                )
            }
        ),
        Event::WorktreeRemoved(e) => format!(
            "removed the worktree of {}{}",
            e.task_id,
            if e.forced { " (forced)" } else { "" }
        ),
        Event::ResultBuilt(e) => format!(
            "claimed tree {} at {} (merged {})",
            e.branch,
            short(&e.commit),
            e.merged.join(", ")
        ),
        Event::ResultConflicted(e) => format!(
            "merging {} into the result conflicts in {}",
            e.task_id,
            e.files.join(", ")
        ),
        Event::GateStarted(e) => format!(
            "gate {} started on {}{}",
            e.gate,
            short(&e.target.commit),
            target_label(&e.target)
        ),
        Event::GateFinished(GateFinished {
            gate,
            target,
            reused_from: Some(seq),
            ..
        }) => format!(
            "gate {gate} passed on {}{}: reused, it passed on the same tree ({}) at seq {seq}",
            short(&target.commit),
            target_label(target),
            short(&target.tree)
        ),
        Event::GateFinished(e) => format!(
            "gate {} {} on {}{} in {}s (output {}{}){}",
            e.gate,
            match (e.interrupted, e.timed_out, e.passed()) {
                (true, _, _) => "was interrupted",
                (false, true, _) => "timed out",
                (false, false, true) => "passed",
                (false, false, false) => "failed",
            },
            short(&e.target.commit),
            target_label(&e.target),
            e.duration_ms / 1000,
            short(&e.output.to_hex()),
            if e.output_truncated {
                ", cut at the cap"
            } else {
                ""
            },
            leftovers_clause(e.leftovers_killed, e.leftovers_survived)
        ),
        Event::ReviewRecorded(e) => format!(
            "review {} on {}: {} findings, {} blocking",
            if e.passed { "passed" } else { "failed" },
            short(&e.commit),
            e.findings.len(),
            e.blocking
        ),
    }
}

/// Returns the timeline entry of one recorded event.
pub fn entry(recorded: &RecordedEvent) -> Entry {
    Entry {
        seq: recorded.seq,
        at: recorded.at,
        kind: recorded.event.kind(),
        task: task_of(&recorded.event).map(str::to_owned),
        sentence: sentence(&recorded.event),
        phase: match &recorded.event {
            Event::PhaseEntered(entered) => Some(entered.phase),
            _ => None,
        },
    }
}

/// Returns the timeline as text: one line per event, phase changes called out.
pub fn timeline_text(entries: &[Entry], markdown: bool) -> String {
    entries
        .iter()
        .map(|entry| timeline_line(entry, markdown))
        .collect()
}

/// Returns one entry's line of the timeline as text or Markdown.
pub fn timeline_line(entry: &Entry, markdown: bool) -> String {
    use std::fmt::Write as _;
    // Written into one buffer sized up front: a streamed timeline makes a million of these,
    // and nested `format!`s reallocating were an eighth of its time.
    let mut line = String::with_capacity(entry.sentence.len() + entry.kind.len() + 64);
    let task = |line: &mut String| {
        if let Some(task) = &entry.task {
            line.push_str(" [");
            line.push_str(task);
            line.push(']');
        }
    };
    // Writing into a String cannot fail.
    let _ = match (markdown, entry.phase) {
        (true, Some(phase)) => writeln!(line, "\n### {} — phase: {}\n", entry.at, phase.name()),
        (true, None) => {
            let _ = write!(line, "- `{}` {} {}", entry.seq, entry.at, entry.kind);
            task(&mut line);
            writeln!(line, ": {}", entry.sentence)
        }
        (false, Some(phase)) => writeln!(
            line,
            "{:>6}  {}  ── phase: {} ──",
            entry.seq,
            entry.at,
            phase.name()
        ),
        (false, None) => {
            let _ = write!(line, "{:>6}  {}  {}", entry.seq, entry.at, entry.sentence);
            task(&mut line);
            writeln!(line)
        }
    };
    line
}

/// The timeline as JSON, `{"events": [entry, …]}` pretty-printed, in pieces that can be written
/// as the entries are made: the same bytes as printing the whole document at once.
pub mod json_pieces {
    use super::Entry;

    /// Written before the first entry.
    pub const OPEN: &str = "{\n  \"events\": [\n";
    /// Written between two entries.
    pub const BETWEEN: &str = ",\n";
    /// Written after the last entry.
    pub const CLOSE: &str = "\n  ]\n}\n";
    /// The whole document when there is no entry.
    pub const EMPTY: &str = "{\n  \"events\": []\n}\n";

    /// Returns one entry as it stands inside the array (indented, no separator), its keys in
    /// the order a JSON value gives them (sorted), as the timeline has always printed them.
    /// Written field by field: a value tree per event cost more than the rest of the timeline
    /// (`tests/replay_streaming.rs` pins the bytes against the whole document).
    pub fn entry(entry: &Entry) -> String {
        let mut out = Vec::with_capacity(entry.sentence.len() + 192);
        out.extend_from_slice(b"    {\n      \"at\": ");
        json(&mut out, &entry.at);
        out.extend_from_slice(b",\n      \"kind\": ");
        json(&mut out, &entry.kind);
        out.extend_from_slice(b",\n      \"phase\": ");
        json(&mut out, &entry.phase);
        out.extend_from_slice(b",\n      \"sentence\": ");
        json(&mut out, &entry.sentence);
        out.extend_from_slice(b",\n      \"seq\": ");
        json(&mut out, &entry.seq);
        out.extend_from_slice(b",\n      \"task\": ");
        json(&mut out, &entry.task);
        out.extend_from_slice(b"\n    }");
        // serde_json writes UTF-8, and so does every piece above.
        String::from_utf8(out).unwrap_or_default()
    }

    /// Appends `value` as compact JSON (a string escaped, `null` for none).
    fn json<T: serde::Serialize>(out: &mut Vec<u8>, value: &T) {
        // Serialising strings, numbers and options into memory cannot fail.
        let _ = serde_json::to_writer(&mut *out, value);
    }
}
