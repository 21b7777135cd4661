//! Fix rounds: which slices a failure reopens, and what their agents are told about it.
//!
//! A pure function of the goal's state: the failing gates' last output lines, the review's
//! blocking findings and a failed slice's last words are all in the log already (masked when
//! recorded), so the same log always gives the same round.

use crate::event::{FindingSeverity, RoundCause, RoundStarted, TaskId};
use crate::state::verdict::{failed_on_base, latest_gate_runs, short};
use crate::state::GoalState;

/// The most characters of feedback a round carries; the rest stays in the artifacts it names.
const MAX_FEEDBACK: usize = 12_000;

/// Returns the round `cause` starts on `state`, reopening the responsible ones among
/// `candidates` (the slices a failing gate's output names, else all of them).
pub fn round_for(state: &GoalState, cause: RoundCause, candidates: &[TaskId]) -> RoundStarted {
    let (reason, feedback, tasks) = match cause {
        RoundCause::GateFailed => gate_feedback(state, candidates),
        RoundCause::ReviewFailed => review_feedback(state, candidates),
        RoundCause::SliceFailed => slice_feedback(state, candidates),
    };
    RoundStarted {
        round: u32::try_from(state.rounds.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1),
        cause,
        reason,
        tasks,
        feedback: bounded(feedback),
    }
}

fn gate_feedback(state: &GoalState, candidates: &[TaskId]) -> (String, String, Vec<TaskId>) {
    let commit = state
        .result
        .as_ref()
        .map_or("", |result| result.commit.as_str());
    let failing: Vec<_> = latest_gate_runs(state)
        .into_iter()
        .map(|record| &record.run)
        .filter(|run| run.required && run.target.commit == commit)
        .filter(|run| !run.passed() || run.red_first && !failed_on_base(state, &run.gate))
        .collect();
    let mut sections = Vec::new();
    let mut reasons = Vec::new();
    for run in &failing {
        let how = if run.passed() {
            "passed on the base commit too, so it does not test the change: make it fail without the change and pass with it".to_owned()
        } else if run.timed_out {
            format!("timed out after {}s", run.duration_ms / 1000)
        } else {
            run.exit_code
                .map_or("was killed".to_owned(), |code| format!("exited {code}"))
        };
        reasons.push(format!(
            "gate `{}` {}",
            run.gate,
            how.split(':').next().unwrap_or("")
        ));
        let output = if run.last_lines.is_empty() {
            String::new()
        } else {
            format!("\n\nIts last output lines:\n\n```\n{}\n```", run.last_lines)
        };
        sections.push(format!(
            "### Gate `{}` {how}\n\nCommand: `{}`, run on the goal's result (every slice merged) at {}.{output}\n\nThe whole output: `omk artifact show {}`.",
            run.gate,
            run.command,
            short(&run.target.commit),
            short(&run.output.to_hex()),
        ));
    }
    let named = candidates
        .iter()
        .filter(|id| {
            let files = state
                .tasks
                .get(id)
                .map_or(Vec::new(), |task| task.changed_files());
            failing
                .iter()
                .any(|run| files.iter().any(|file| mentions(&run.last_lines, file)))
        })
        .cloned()
        .collect::<Vec<_>>();
    let tasks = if named.is_empty() {
        candidates.to_vec()
    } else {
        named
    };
    (
        format!("required {} on the result", reasons.join(", ")),
        sections.join("\n\n"),
        tasks,
    )
}

fn review_feedback(state: &GoalState, candidates: &[TaskId]) -> (String, String, Vec<TaskId>) {
    let findings: Vec<String> = state
        .review
        .iter()
        .flat_map(|review| &review.findings)
        .filter(|finding| finding.severity == FindingSeverity::High)
        .map(|finding| {
            let place = match (&finding.file, finding.line) {
                (Some(file), Some(line)) => format!("{file}:{line}: "),
                (Some(file), None) => format!("{file}: "),
                _ => String::new(),
            };
            format!("- {place}{}", finding.message)
        })
        .collect();
    (
        format!(
            "the review found {} blocking {}",
            findings.len(),
            if findings.len() == 1 {
                "finding"
            } else {
                "findings"
            }
        ),
        format!(
            "### The review's blocking findings\n\n{}\n\nFix each one; a secret must leave the code, not be renamed.",
            findings.join("\n")
        ),
        candidates.to_vec(),
    )
}

fn slice_feedback(state: &GoalState, candidates: &[TaskId]) -> (String, String, Vec<TaskId>) {
    let sections: Vec<String> = candidates
        .iter()
        .filter_map(|id| state.tasks.get(id))
        .map(|task| {
            let failure = task.last_failure.as_deref().unwrap_or("it did not finish");
            let printed = task
                .runs
                .last()
                .and_then(|run| run.finished.as_ref())
                .map(|finished| finished.last_lines.as_str())
                .filter(|lines| !lines.is_empty())
                .map_or(String::new(), |lines| {
                    format!("\n\nIts agent's last output lines:\n\n```\n{lines}\n```")
                });
            // The attempts of the round it failed in, not the work it did before.
            let attempts = task
                .runs
                .iter()
                .filter(|run| run.started.round == task.round)
                .count();
            format!(
                "### Slice `{}` {} after {} {}\n\nThe last failure: {failure}.{printed}",
                task.spec.id,
                task.status.name(),
                attempts,
                if attempts == 1 { "attempt" } else { "attempts" }
            )
        })
        .collect();
    let ids: Vec<&str> = candidates.iter().map(TaskId::as_str).collect();
    (
        format!("slices failed every attempt: {}", ids.join(", ")),
        sections.join("\n\n"),
        candidates.to_vec(),
    )
}

/// Returns whether gate output names `file`: its path, or its file name as a word (test
/// runners print `tests/calc.rs:12` or `calc.py`).
fn mentions(output: &str, file: &str) -> bool {
    if output.contains(file) {
        return true;
    }
    let name = file.rsplit('/').next().unwrap_or(file);
    output.match_indices(name).any(|(start, _)| {
        let before = output[..start].chars().next_back();
        let after = output[start + name.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        boundary(before) && boundary(after)
    })
}

/// Cuts feedback to `MAX_FEEDBACK` characters at a line, saying so.
fn bounded(feedback: String) -> String {
    if feedback.chars().count() <= MAX_FEEDBACK {
        return feedback;
    }
    let mut kept = String::new();
    for line in feedback.lines() {
        if kept.chars().count() + line.chars().count() + 1 > MAX_FEEDBACK {
            break;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    kept.push_str("[omk: the rest is cut; the artifacts named above hold everything]");
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names_a_file_by_path_or_by_name_as_a_word() {
        assert!(mentions("error at src/calc.rs:12", "src/calc.rs"));
        assert!(mentions(
            "FAILED test_calc.py::test_add",
            "tests/test_calc.py"
        ));
        assert!(!mentions("FAILED test_calc.pyc", "tests/test_calc.py"));
        assert!(!mentions("my_calc.rs failed", "src/calc.rs"));
    }

    #[test]
    fn long_feedback_is_cut_at_a_line_and_says_so() {
        let long = "a line of output\n".repeat(2_000);
        let cut = bounded(long);
        assert!(cut.chars().count() <= MAX_FEEDBACK + 80);
        assert!(cut.ends_with("hold everything]"));
    }
}
