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

/// Phrases that state how to judge the work rather than the work itself.
const CRITERION_STARTS: &[&str] = &[
    "make sure",
    "so that",
    "without breaking",
    "while keeping",
    "keep existing",
    "it must still",
    "it should still",
    "nothing else",
    "no regressions",
];
/// Phrases anywhere in a clause that make it a criterion.
const CRITERION_PHRASES: &[&str] = &[
    "must pass",
    "should pass",
    "must still pass",
    "still pass",
    "must succeed",
    "should succeed",
    "must not break",
    "should not break",
    "must keep working",
    "should keep working",
    "must still work",
    "should still work",
    "stay green",
    "stays green",
    "be green",
    "no regression",
    " must not ",
    " should not ",
    " must never ",
    " should never ",
];
/// Words that, inside a clause, begin a criterion attached to the work before them.
const CRITERION_JOINS: &[&str] = &[
    ", so that ",
    " so that ",
    ", without breaking ",
    " without breaking ",
    ", and make sure ",
    " and make sure ",
    ", making sure ",
    ", and ensure ",
    " and ensure that ",
    ", keeping ",
];
/// Files that are not where a change goes unless the request names them.
const PADDING: &[&str] = &[
    "license",
    "copying",
    "notice",
    "changelog",
    "readme",
    "authors",
];

/// Returns whether `clause` states how to judge the work ("cargo test must pass") rather than
/// work to do.
pub fn is_criterion(clause: &str) -> bool {
    let lowered = clause.trim().to_lowercase();
    CRITERION_STARTS
        .iter()
        .any(|start| lowered.starts_with(start))
        || CRITERION_PHRASES
            .iter()
            .any(|phrase| lowered.contains(phrase))
}

/// Splits the request into work and acceptance criteria: each deliverable that is a criterion,
/// and each criterion attached to work ("…, so that …"), is a criterion; the rest is work. A
/// request that is all criteria ("make sure the tests pass") is itself the work.
pub fn work_and_criteria(prompt: &str) -> (Vec<String>, Vec<String>) {
    let mut work = Vec::new();
    let mut criteria = Vec::new();
    for part in deliverables(prompt) {
        if is_criterion(&part) {
            criteria.push(part);
            continue;
        }
        // ASCII lowercasing keeps every byte offset, so `at` indexes `part` too.
        let lowered = part.to_ascii_lowercase();
        match CRITERION_JOINS
            .iter()
            .filter_map(|join| lowered.find(join).map(|at| (at, join.len())))
            .min()
        {
            Some((at, len)) => {
                let (task, rest) = (part[..at].trim(), part[at + len..].trim());
                work.push(task.trim_end_matches(',').to_owned());
                let joined = part[at..at + len].trim().trim_start_matches(',').trim();
                criteria.push(format!("{joined} {rest}"));
            }
            None => work.push(part),
        }
    }
    if work.is_empty() {
        work.push(prompt.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    (work, criteria)
}

/// Returns the paths `text` names: tokens with a `/` and an extension, or a file name with a
/// known extension, resolved against the repository's `files` (`lib.rs` → `src/lib.rs`); a
/// path not in the repository is kept as named (a file to create).
pub fn named_paths(text: &str, files: &[ScannedFile]) -> Vec<String> {
    let mut named = Vec::new();
    for token in text.split(|c: char| c.is_whitespace() || ",;:()\"'`<>".contains(c)) {
        let token = token.trim_end_matches(['.', '!', '?']);
        let Some((stem, extension)) = token.rsplit_once('.') else {
            continue;
        };
        let known = KNOWN_EXTENSIONS.contains(&extension.to_lowercase().as_str());
        if stem.is_empty() || !known || token.starts_with('-') || token.contains("://") {
            continue;
        }
        let token = token.trim_start_matches("./");
        // `Node.js`, `Vue.js`: names of things, not files; `github.com/o/r/x.rs`: an address.
        let first = token.split('/').next().unwrap_or("");
        let product = !token.contains('/')
            && extension == "js"
            && stem.chars().next().is_some_and(char::is_uppercase)
            && !files
                .iter()
                .any(|file| file.path.rsplit('/').next() == Some(token));
        if product || (token.contains('/') && first.contains('.')) {
            continue;
        }
        let resolved: Vec<String> = if files.iter().any(|file| file.path == token) {
            vec![token.to_owned()]
        } else if !token.contains('/') {
            files
                .iter()
                .filter(|file| file.path.rsplit('/').next() == Some(token))
                .map(|file| file.path.clone())
                .collect()
        } else {
            Vec::new()
        };
        let resolved = if resolved.is_empty() {
            vec![token.to_owned()]
        } else {
            resolved
        };
        for path in resolved {
            if !named.contains(&path) {
                named.push(path);
            }
        }
    }
    named
}

/// File extensions a request names files by.
const KNOWN_EXTENSIONS: &[&str] = &[
    "rs", "py", "js", "jsx", "ts", "tsx", "go", "java", "kt", "c", "h", "cc", "cpp", "hpp", "cs",
    "rb", "php", "swift", "scala", "sh", "md", "toml", "json", "yaml", "yml", "txt", "css", "html",
    "sql", "proto", "ini", "cfg", "lock", "mjs", "cjs", "vue", "svelte", "ex", "exs",
];

/// Returns whether `path` is padding for `part`: a licence, readme or changelog the part does
/// not ask about.
fn is_padding(path: &str, part: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path).to_lowercase();
    let lowered = part.to_lowercase();
    PADDING.iter().any(|padding| {
        name.starts_with(padding)
            && !lowered.contains(padding)
            && !(*padding == "readme" && (lowered.contains("document") || lowered.contains("docs")))
    })
}

/// Returns the files the scan ranks for `text`, without padding.
fn ranked(files: &[ScannedFile], text: &str) -> Vec<String> {
    rank_files(files, &keywords(text), MAX_WRITE_SET + PADDING.len())
        .into_iter()
        .map(|file| file.path)
        .filter(|path| !is_padding(path, text))
        .take(MAX_WRITE_SET)
        .collect()
}

/// Returns one implementation slice per piece of work, with write sets from the paths it names
/// or the scan; the request's criteria become every slice's acceptance checks.
pub fn slices(prompt: &str, files: &[ScannedFile]) -> Vec<TaskSpec> {
    let fallback_files = ranked(files, prompt);
    let (parts, criteria) = work_and_criteria(prompt);
    let mut specs: Vec<TaskSpec> = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        let named = named_paths(part, files);
        let own_files = ranked(files, part);
        let write_set = if !named.is_empty() {
            // What the request names is the scope; more is widening, seen and allowed.
            named
        } else if !own_files.is_empty() {
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
            acceptance: [
                format!("The change asked for is made: {part}"),
                "A test exercises the change and passes".to_owned(),
            ]
            .into_iter()
            .chain(
                criteria
                    .iter()
                    .map(|criterion| format!("The request asks: {criterion}")),
            )
            .collect(),
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
    fn criteria_split_safely_in_any_script_and_names_of_things_are_not_paths() {
        // Lowercasing `İ` changes its byte length: the split must not slice by those offsets.
        let (work, criteria) = work_and_criteria("Rename the İİİ type so that x works");
        assert_eq!(work, ["Rename the İİİ type"]);
        assert_eq!(criteria, ["so that x works"]);
        let named = named_paths(
            "Port the Node.js server, see github.com/o/r/blob/main/x.rs, into src/server.rs",
            &[],
        );
        assert_eq!(named, ["src/server.rs"]);
    }

    #[test]
    fn a_goal_with_no_matching_files_may_write_anywhere() {
        let slices = slices("Add a changelog", &[]);
        assert_eq!(slices[0].write_set, ["**"]);
        assert_eq!(slices[0].risk, Risk::Medium);
    }
}
