//! The built-in decomposition: the prompt's deliverables become implementation slices, each
//! with its own write set, followed by the controller's tasks.
//!
//! Deterministic: the same prompt and scan always give the same graph. Slices whose write sets
//! overlap are ordered by a dependency, so parallel agents never write the same file.

use crate::event::{Risk, TaskId, TaskKind, TaskSpec};
use crate::plan::relevance::{keywords, rank_files, ScannedFile};

/// The most slices the built-in decomposition makes; further deliverables join the last one.
pub const MAX_SLICES: usize = 6;
/// The most files in one slice's write set.
const MAX_WRITE_SET: usize = 4;
/// Retries an implementation slice gets.
const SLICE_RETRIES: u32 = 2;
/// Retries a controller task gets.
const CONTROLLER_RETRIES: u32 = 1;

/// Words that make a change riskier than its size says.
const RISKY_WORDS: &[&str] = &[
    "delete",
    "remove",
    "migrate",
    "migration",
    "security",
    "auth",
    "authentication",
    "database",
    "schema",
    "concurrency",
    "concurrent",
    "thread",
    "unsafe",
    "crypto",
    "payment",
    "password",
];

/// Returns the deliverables of `prompt`: its bullet or numbered lines, else its sentences and
/// `;`-separated clauses, at most [`MAX_SLICES`].
pub fn deliverables(prompt: &str) -> Vec<String> {
    let items: Vec<String> = prompt
        .lines()
        .filter_map(|line| {
            let trimmed = line.trim();
            let unbulleted = trimmed
                .strip_prefix("- ")
                .or_else(|| trimmed.strip_prefix("* "))
                .or_else(|| strip_number(trimmed))?;
            Some(unbulleted.trim().to_owned())
        })
        .filter(|item| !item.is_empty())
        .collect();
    let mut parts = if items.len() >= 2 {
        items
    } else {
        split_clauses(prompt)
    };
    if parts.is_empty() {
        parts.push(prompt.trim().to_owned());
    }
    if parts.len() > MAX_SLICES {
        let rest = parts.split_off(MAX_SLICES - 1).join("; ");
        parts.push(rest);
    }
    parts
}

fn strip_number(line: &str) -> Option<&str> {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    line[digits..]
        .strip_prefix(". ")
        .or_else(|| line[digits..].strip_prefix(") "))
}

/// Splits on `;` and on sentence ends (`. ` followed by a capital letter), keeping clauses of
/// three words or more; shorter fragments join the clause before them.
fn split_clauses(prompt: &str) -> Vec<String> {
    let mut clauses: Vec<String> = Vec::new();
    let flat = prompt.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut current = String::new();
    let mut chars = flat.chars().peekable();
    while let Some(c) = chars.next() {
        let sentence_end = c == '.' && {
            let mut ahead = chars.clone();
            ahead.next() == Some(' ') && ahead.next().is_some_and(|next| next.is_uppercase())
        };
        if c == ';' || sentence_end {
            push_clause(&mut clauses, &current);
            current.clear();
        } else {
            current.push(c);
        }
    }
    push_clause(&mut clauses, &current);
    clauses
}

fn push_clause(clauses: &mut Vec<String>, clause: &str) {
    let clause = clause.trim().trim_end_matches('.').trim();
    if clause.is_empty() {
        return;
    }
    match clauses.last_mut() {
        Some(last) if clause.split_whitespace().count() < 3 => {
            last.push_str("; ");
            last.push_str(clause);
        }
        _ => clauses.push(clause.to_owned()),
    }
}

/// Returns one implementation slice per deliverable, with write sets from the scan.
pub fn slices(prompt: &str, files: &[ScannedFile]) -> Vec<TaskSpec> {
    let fallback_files: Vec<String> = rank_files(files, &keywords(prompt), MAX_WRITE_SET)
        .into_iter()
        .map(|file| file.path)
        .collect();
    let parts = deliverables(prompt);
    let mut specs: Vec<TaskSpec> = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        let own_files: Vec<String> = rank_files(files, &keywords(part), MAX_WRITE_SET)
            .into_iter()
            .map(|file| file.path)
            .collect();
        let write_set = if !own_files.is_empty() {
            own_files
        } else if !fallback_files.is_empty() {
            fallback_files.clone()
        } else {
            // Nothing in the repository matched: the slice may write anywhere, and says so.
            vec!["**".to_owned()]
        };
        // Slices that may write the same file run one after the other.
        let depends_on = specs
            .iter()
            .filter(|earlier| overlaps(&earlier.write_set, &write_set))
            .map(|earlier| earlier.id.clone())
            .collect();
        let id = TaskId::new(format!("slice-{}", index + 1));
        specs.push(TaskSpec {
            title: title_of(part),
            description: part.clone(),
            kind: TaskKind::Implementation,
            owner_role: "implementer".to_owned(),
            depends_on,
            read_set: fallback_files.clone(),
            risk: risk_of(part, &write_set),
            acceptance: vec![
                format!("The change asked for is made: {part}"),
                "A test exercises the change and passes".to_owned(),
                "No file outside the write set is changed".to_owned(),
            ],
            write_set,
            max_retries: SLICE_RETRIES,
            required: true,
            id,
        });
    }
    specs
}

/// Returns `slices` followed by the controller's tasks: agent execution, local verify,
/// review and security review.
pub fn with_controller_tasks(slices: Vec<TaskSpec>) -> Vec<TaskSpec> {
    let slice_ids: Vec<TaskId> = slices.iter().map(|slice| slice.id.clone()).collect();
    let controller =
        |id: &str, kind, role: &str, title: &str, depends_on: Vec<TaskId>, acceptance: &[&str]| {
            TaskSpec {
                id: TaskId::from(id),
                title: title.to_owned(),
                description: title.to_owned(),
                kind,
                owner_role: role.to_owned(),
                depends_on,
                read_set: Vec::new(),
                write_set: Vec::new(),
                risk: Risk::Low,
                acceptance: acceptance.iter().map(|line| (*line).to_owned()).collect(),
                max_retries: CONTROLLER_RETRIES,
                required: true,
            }
        };
    let mut tasks = slices;
    tasks.push(controller(
        "agent-execution",
        TaskKind::AgentExecution,
        "controller",
        "Run the agent wave and gather the slices into the goal's result branch",
        slice_ids,
        &[
            "Every slice is done with a commit on its branch",
            "The slice branches merge into the result branch without conflict",
        ],
    ));
    tasks.push(controller(
        "local-verify",
        TaskKind::LocalVerify,
        "controller",
        "Run the required gates on the goal's claimed tree",
        vec![TaskId::from("agent-execution")],
        &["Every required gate passes on the claimed tree"],
    ));
    tasks.push(controller(
        "review",
        TaskKind::Review,
        "reviewer",
        "Review the change against the brief and the test spec",
        vec![TaskId::from("local-verify")],
        &[
            "Every acceptance criterion has evidence",
            "No high-confidence finding is open",
        ],
    ));
    tasks.push(controller(
        "security-review",
        TaskKind::SecurityReview,
        "security",
        "Scan the changed files for secrets and writes outside each task's write set",
        vec![TaskId::from("agent-execution")],
        &[
            "No secret in the changed files",
            "Every changed file is in its task's write set",
        ],
    ));
    tasks
}

/// Returns whether two write sets may touch the same file (a glob overlaps everything it could match).
fn overlaps(a: &[String], b: &[String]) -> bool {
    let broad = |set: &[String]| set.iter().any(|path| path.contains('*'));
    broad(a) || broad(b) || a.iter().any(|path| b.contains(path))
}

fn title_of(part: &str) -> String {
    let mut title: String = part.chars().take(72).collect();
    if title.len() < part.len() {
        title.push('…');
    }
    let mut chars = title.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => title,
    }
}

fn risk_of(part: &str, write_set: &[String]) -> Risk {
    let lowered = part.to_lowercase();
    let risky = lowered
        .split(|c: char| !c.is_alphanumeric())
        .any(|word| RISKY_WORDS.contains(&word));
    if risky {
        Risk::High
    } else if write_set.len() >= 3 || write_set.iter().any(|path| path.contains('*')) {
        Risk::Medium
    } else {
        Risk::Low
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::TaskGraph;

    fn file(path: &str, hits: &[(&str, u32)]) -> ScannedFile {
        ScannedFile {
            path: path.to_owned(),
            content_hits: hits.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect(),
        }
    }

    #[test]
    fn bullets_sentences_and_semicolons_become_deliverables() {
        assert_eq!(
            deliverables("- add a flag\n- fix the parser bug\n"),
            ["add a flag", "fix the parser bug"]
        );
        assert_eq!(
            deliverables("Add a --json flag to list. Fix the crash on empty input; document both"),
            [
                "Add a --json flag to list",
                "Fix the crash on empty input; document both"
            ]
        );
        assert_eq!(
            deliverables("Add a --json flag to the list command"),
            ["Add a --json flag to the list command"]
        );
    }

    #[test]
    fn overflowing_deliverables_join_the_last_slice() {
        let prompt: String = (1..=9)
            .map(|n| format!("{n}. change number {n} here\n"))
            .collect();
        let parts = deliverables(&prompt);
        assert_eq!(parts.len(), MAX_SLICES);
        assert!(parts[MAX_SLICES - 1].contains("change number 9"));
    }

    #[test]
    fn slices_get_their_files_and_overlapping_slices_are_ordered() {
        let files = [
            file("src/list.rs", &[("list", 4)]),
            file("src/parser.rs", &[("parser", 2)]),
            file("src/main.rs", &[("list", 1), ("parser", 1)]),
        ];
        let slices = slices("Add a --json flag to list. Fix the parser crash", &files);
        assert_eq!(slices[0].write_set, ["src/list.rs", "src/main.rs"]);
        assert_eq!(slices[1].write_set, ["src/parser.rs", "src/main.rs"]);
        assert_eq!(slices[1].depends_on, ["slice-1"]);
        let graph = TaskGraph::from_specs(&with_controller_tasks(slices)).unwrap();
        assert_eq!(graph.tasks().len(), 6);
    }

    #[test]
    fn a_goal_with_no_matching_files_may_write_anywhere() {
        let slices = slices("Add a changelog", &[]);
        assert_eq!(slices[0].write_set, ["**"]);
        assert_eq!(slices[0].risk, Risk::Medium);
    }
}
