//! House rules that hold like crate boundaries: module docs, which layer may use which, and
//! what the pure layers may not touch. Paths are read from the code with comments and string
//! literals removed, so a word in a comment or a message never counts as an import.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Returns `text` with comments, string and character literals blanked out (newlines kept).
fn code_only(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut index = 0;
    let blank = |out: &mut String, slice: &[u8]| {
        for byte in slice {
            out.push(if *byte == b'\n' { '\n' } else { ' ' });
        }
    };
    while index < bytes.len() {
        let rest = &bytes[index..];
        let end = if rest.starts_with(b"//") {
            index + rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len())
        } else if rest.starts_with(b"/*") {
            index + find(rest, b"*/").map_or(rest.len(), |at| at + 2)
        } else if rest.starts_with(b"r#\"") {
            index + find(&rest[3..], b"\"#").map_or(rest.len(), |at| at + 5)
        } else if rest.starts_with(b"r\"") || rest[0] == b'"' {
            let start = if rest[0] == b'r' { 2 } else { 1 };
            let mut at = start;
            while at < rest.len() && rest[at] != b'"' {
                at += if rest[at] == b'\\' && rest[0] != b'r' {
                    2
                } else {
                    1
                };
            }
            index + (at + 1).min(rest.len())
        } else if rest[0] == b'\'' && rest.len() > 2 && (rest[2] == b'\'' || rest[1] == b'\\') {
            // A character literal, not a lifetime.
            index
                + rest[1..]
                    .iter()
                    .position(|b| *b == b'\'')
                    .map_or(1, |at| at + 2)
        } else {
            out.push(rest[0] as char);
            index += 1;
            continue;
        };
        blank(&mut out, &bytes[index..end]);
        index = end;
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Returns every path the code names, with `use` trees expanded to their first two segments
/// (`crate::store`, `std::fs`, `tokio::process`), and every identifier.
fn names(code: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut paths = BTreeSet::new();
    let mut idents = BTreeSet::new();
    let words: Vec<&str> = code
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .filter(|word| !word.is_empty())
        .collect();
    for word in &words {
        for ident in word.split("::").filter(|part| !part.is_empty()) {
            idents.insert(ident.to_owned());
        }
        let segments: Vec<&str> = word.split("::").collect();
        if segments.len() >= 2 && !segments[0].is_empty() {
            paths.insert(format!("{}::{}", segments[0], segments[1]));
        }
    }
    // `use std::{fs, io}` and `use crate::{a, b}`: the braces split the path; join them back.
    let compact: String = code.split_whitespace().collect();
    for root in ["crate", "std", "tokio", "super"] {
        expand_braces(&compact, root, &mut paths);
    }
    (paths, idents)
}

/// Adds `root::head` for the first segment of every item of each `root::{…}` tree in `compact`.
fn expand_braces(compact: &str, root: &str, paths: &mut BTreeSet<String>) {
    let opener = format!("{root}::{{");
    let mut search = 0;
    while let Some(found) = compact[search..].find(&opener) {
        let start = search + found + opener.len();
        let mut depth = 1;
        let mut item_start = start;
        for (offset, c) in compact[start..].char_indices() {
            let at = start + offset;
            match c {
                '}' | ',' if depth == 1 => {
                    let item = &compact[item_start..at];
                    let head = item.split([':', '{']).next().unwrap_or("");
                    if !head.is_empty() {
                        paths.insert(format!("{root}::{head}"));
                    }
                    item_start = at + 1;
                    if c == '}' {
                        break;
                    }
                }
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
        }
        search = start;
    }
}

/// Returns the top-level module a source file belongs to (`log`, `cli`, …).
fn module_of(file: &Path) -> String {
    let relative = file.strip_prefix(src()).unwrap();
    let first = relative.components().next().unwrap();
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_owned()
}

/// The layers, lowest first: a module may use only modules of lower (or its own) rank.
const LAYERS: [(&str, u32); 11] = [
    ("trust", 0),
    ("log", 1),
    ("event", 2),
    ("state", 3),
    ("plan", 4),
    ("project", 5),
    ("shell", 6),
    ("store", 7),
    ("ops", 8),
    ("schema", 8),
    ("cli", 9),
];

fn rank(module: &str) -> Option<u32> {
    LAYERS
        .iter()
        .find(|(name, _)| *name == module)
        .map(|(_, rank)| *rank)
}

#[test]
fn every_module_opens_with_a_doc_paragraph() {
    for file in rust_files(&src()) {
        let text = fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("//! "),
            "{} must open with a `//!` paragraph saying what it owns and what it must not do",
            file.display()
        );
    }
}

#[test]
fn every_module_uses_only_layers_below_it() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&src()) {
        let module = module_of(&file);
        let Some(own) = rank(&module) else {
            assert!(
                matches!(module.as_str(), "lib" | "main"),
                "{}: the module `{module}` has no layer: add it to LAYERS (and ARCHITECTURE.md)",
                file.display()
            );
            continue;
        };
        let (paths, _) = names(&code_only(&fs::read_to_string(&file).unwrap()));
        for path in paths {
            let Some(used) = path.strip_prefix("crate::") else {
                continue;
            };
            let Some(used_rank) = rank(used) else {
                continue;
            };
            edges
                .entry(module.clone())
                .or_default()
                .insert(used.to_owned());
            assert!(
                used_rank <= own,
                "{}: `{module}` uses `crate::{used}`, a layer above it",
                file.display()
            );
            assert!(
                used_rank < own || used == module,
                "{}: `{module}` uses `crate::{used}`, a layer beside it",
                file.display()
            );
        }
    }
    // The rank rule makes the graph acyclic; the graph itself names what each layer uses.
    assert!(!edges.get("store").is_some_and(|used| used.contains("ops")));
}

#[test]
fn the_cli_command_files_do_not_use_each_other() {
    let cli = src().join("cli");
    for file in rust_files(&cli) {
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "mod" {
            continue; // The dispatcher names every command file.
        }
        let (paths, idents) = names(&code_only(&fs::read_to_string(&file).unwrap()));
        for other in rust_files(&cli) {
            let other = other.file_stem().unwrap().to_string_lossy().into_owned();
            if !other.ends_with("_cmd") || other == name {
                continue;
            }
            assert!(
                !idents.contains(&other),
                "{}: uses the command file `{other}`; share code through cli::context or a view module",
                file.display()
            );
            assert!(!paths.contains(&format!("super::{other}")));
        }
    }
}

/// The pure layers: no shell, no CLI, no clock, no environment, no processes, no async runtime.
const PURE_LAYERS: [&str; 6] = ["trust", "log", "event", "state", "plan", "project"];
const FORBIDDEN_PATHS_IN_PURE: [&str; 5] =
    ["std::fs", "std::env", "std::process", "tokio::", "anyhow::"];
const FORBIDDEN_NAMES_IN_PURE: [&str; 7] = [
    "Instant",
    "SystemTime",
    "HashMap",
    "HashSet",
    "Command",
    "tokio",
    "anyhow",
];

#[test]
fn pure_layers_do_not_reach_the_clock_the_environment_or_processes() {
    for layer in PURE_LAYERS {
        let dir = src().join(layer);
        assert!(
            dir.exists(),
            "the pure layer `{layer}` has moved: update this test"
        );
        for file in rust_files(&dir) {
            let (paths, idents) = names(&code_only(&fs::read_to_string(&file).unwrap()));
            for forbidden in FORBIDDEN_PATHS_IN_PURE {
                // The log is the storage engine: files are its job, and only its job.
                if layer == "log" && forbidden == "std::fs" {
                    continue;
                }
                let prefix = forbidden.trim_end_matches("::");
                assert!(
                    !paths
                        .iter()
                        .any(|path| path == prefix || path.starts_with(forbidden)),
                    "{}: `{forbidden}` is not allowed in the pure `{layer}` layer",
                    file.display()
                );
            }
            for forbidden in FORBIDDEN_NAMES_IN_PURE {
                assert!(
                    !idents.contains(forbidden),
                    "{}: `{forbidden}` is not allowed in the pure `{layer}` layer",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn the_rules_read_code_not_comments_or_strings() {
    let code = code_only(
        "use std::{fs, io::Read};\n// use std::env;\nlet s = \"crate::cli\";\nuse crate::{store::GoalDir, log};\n/* HashMap */ let c = 'x';",
    );
    let (paths, idents) = names(&code);
    assert!(paths.contains("std::fs") && paths.contains("std::io"));
    assert!(paths.contains("crate::store") && paths.contains("crate::log"));
    assert!(!paths.contains("std::env") && !paths.contains("crate::cli"));
    assert!(!idents.contains("HashMap"));
}

#[test]
fn the_log_knows_nothing_about_goals() {
    for file in rust_files(&src().join("log")) {
        let (paths, _) = names(&code_only(&fs::read_to_string(&file).unwrap()));
        for used in ["crate::event", "crate::state", "crate::store"] {
            assert!(!paths.contains(used), "{} uses {used}", file.display());
        }
    }
}

#[test]
fn main_stays_thin() {
    let main = fs::read_to_string(src().join("main.rs")).unwrap();
    assert!(
        main.lines().count() <= 20,
        "src/main.rs should stay under about 20 lines"
    );
}

#[test]
fn the_lifecycle_document_shows_the_transition_table_the_code_enforces() {
    let doc =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/goal-lifecycle.md"))
            .unwrap();
    let start = "<!-- transition-table:start -->\n";
    let from = doc.find(start).unwrap() + start.len();
    let to = doc.find("<!-- transition-table:end -->").unwrap();
    assert_eq!(
        &doc[from..to],
        omk::state::status::transition_table_markdown(),
        "docs/goal-lifecycle.md shows a stale transition table: paste the output of state::status::transition_table_markdown()"
    );
}
