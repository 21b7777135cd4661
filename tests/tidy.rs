//! House rules that hold like crate boundaries: module docs, and which modules may use what.

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

/// The pure layers: no shell, no CLI, no clock, no processes, no async runtime.
const PURE_LAYERS: [&str; 5] = ["log", "event", "state", "plan", "project"];
const FORBIDDEN_IN_PURE: [&str; 10] = [
    "crate::cli",
    "crate::exec",
    "crate::store",
    "std::fs",
    "tokio",
    "std::process",
    "Utc::now",
    "SystemTime::now",
    "HashMap",
    "anyhow",
];

#[test]
fn pure_layers_do_not_reach_the_shell_the_clock_or_processes() {
    for layer in PURE_LAYERS {
        let dir = src().join(layer);
        assert!(
            dir.exists(),
            "the pure layer `{layer}` has moved: update this test"
        );
        for file in rust_files(&dir) {
            let text = fs::read_to_string(&file).unwrap();
            for (number, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for forbidden in FORBIDDEN_IN_PURE {
                    // The log is the storage engine: files are its job, and only its job.
                    if layer == "log" && forbidden == "std::fs" {
                        continue;
                    }
                    assert!(
                        !code.contains(forbidden),
                        "{}:{}: `{forbidden}` is not allowed in the pure `{layer}` layer",
                        file.display(),
                        number + 1
                    );
                }
            }
        }
    }
}

#[test]
fn the_log_knows_nothing_about_goals() {
    for file in rust_files(&src().join("log")) {
        let text = fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains("crate::event"),
            "{} imports the event layer",
            file.display()
        );
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
