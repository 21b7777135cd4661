//! Planning: the oracle guard, the repository relevance ranking, the built-in decomposition
//! and the planning documents, all as pure functions of the prompt and a scan.
//!
//! Must not touch the filesystem, the clock or processes: the shell scans the repository,
//! asks an external planner, stores the documents and appends the events.

pub mod decompose;
pub mod documents;
pub mod gates;
pub mod oracle;
pub mod relevance;
pub mod rounds;
pub mod secrets;
pub mod write_set;

use crate::event::TaskSpec;
use crate::state::{GraphError, TaskGraph};

/// How many relevant files the technical plan lists.
pub const RELEVANT_FILES: usize = 12;

/// Returns the prompt as planning reads it: trimmed, runs of spaces and tabs collapsed, blank
/// lines dropped (line breaks are kept: they separate deliverables).
pub fn normalize_prompt(prompt: &str) -> String {
    prompt
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Returns the full task graph for `slices` (from the built-in decomposition or a planner),
/// validated as a whole.
pub fn task_graph(slices: Vec<TaskSpec>) -> Result<Vec<TaskSpec>, GraphError> {
    let tasks = decompose::with_controller_tasks(slices);
    TaskGraph::from_specs(&tasks)?;
    Ok(tasks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_collapses_spaces_and_keeps_lines() {
        assert_eq!(
            normalize_prompt("  add   a\tflag \n\n - fix  it  "),
            "add a flag\n- fix it"
        );
    }
}
