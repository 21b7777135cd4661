//! Helpers shared by the integration tests: a fixed clock, event builders, whole-log I/O.
#![allow(dead_code)] // Each test crate uses a different subset.

pub mod agent_clis;
pub mod long_goal;

use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use omk::log::writer::Expected;
use omk::log::{EventId, EventKind, LogPaths, LogReader, LogWriter, NewEvent, RawEvent};

/// Returns a fixed instant `seconds` after 2026-11-24T14:00:00Z: tests never read the clock.
pub fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 14, 0, 0).unwrap() + chrono::Duration::seconds(seconds)
}

/// Returns a new event with the given id, kind and JSON payload.
pub fn event(id: &str, kind: &str, data: serde_json::Value) -> NewEvent {
    NewEvent::new(
        EventId::new(id).unwrap(),
        EventKind::new(kind.to_owned()).unwrap(),
        &data,
    )
    .unwrap()
}

/// Returns the paths of `events.jsonl` in `dir`.
pub fn log_in(dir: &Path) -> LogPaths {
    LogPaths::for_log(dir.join("events.jsonl"))
}

/// Appends each batch in order with the expected seq, stamping batch `i` with `at(i)`.
pub fn write_batches(paths: &LogPaths, batches: &[Vec<NewEvent>]) {
    let mut writer = LogWriter::open(paths).unwrap();
    for (index, batch) in batches.iter().enumerate() {
        let expected = Expected::Seq(writer.position().next_seq);
        writer.append(expected, at(index as i64), batch).unwrap();
    }
}

/// Returns every event of the log, panicking on a read error.
pub fn read_all(paths: &LogPaths) -> Vec<RawEvent> {
    LogReader::open(paths)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

/// Returns `(id, kind, data)` of each event: what a writer chose, without what the log added.
pub fn contents(events: &[RawEvent]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e.id().to_owned(),
                e.kind().to_owned(),
                e.data().get().to_owned(),
            )
        })
        .collect()
}

/// Returns `(id, kind, data)` of events as given to the writer.
pub fn new_contents<'a>(
    events: impl IntoIterator<Item = &'a NewEvent>,
) -> Vec<(String, String, String)> {
    events
        .into_iter()
        .map(|e| {
            (
                e.id().to_string(),
                e.kind().to_string(),
                e.data().get().to_owned(),
            )
        })
        .collect()
}

/// Runs `git args…` in `dir` as a test user, which must succeed; returns its trimmed stdout.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)] // Tests start git.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Returns a temp git repository (branch `main`) with `files` committed.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)] // Tests start git.
pub fn git_repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            "init",
        ],
    ] {
        let status = std::process::Command::new("git")
            .args(args)
            .current_dir(root)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }
    dir
}

/// Copies the directory tree `from` to `to` (created), files and directories only.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Returns what is wrong with `document` against `schemas/<schema>` (JSON Schema 2020-12, by
/// boon, an implementation that shares nothing with schemars, which wrote the schema), or
/// `None` when it is valid.
pub fn schema_errors(schema: &str, document: &serde_json::Value) -> Option<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(schema);
    let mut schemas = boon::Schemas::new();
    let index = boon::Compiler::new()
        .compile(path.to_str().unwrap(), &mut schemas)
        .unwrap_or_else(|error| panic!("schemas/{schema} does not compile: {error:#}"));
    schemas
        .validate(document, index)
        .err()
        .map(|error| format!("{error:#}"))
}

/// Returns the command that runs the scripted agent shipped in `fixtures/agents/`.
pub fn agent_cmd() -> String {
    format!(
        "sh {}/fixtures/agents/scripted-agent.sh",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Returns the task `id` of a `goal show --format json` document.
pub fn task<'a>(show: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    show["state"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|task| task["spec"]["id"] == id)
        .unwrap_or_else(|| panic!("no task {id}"))
}

/// Asserts that `stderr` holds at least two heartbeat lines starting with `prefix`, one of
/// which ends with what the gate or agent last said.
pub fn assert_heartbeats(stderr: &str, prefix: &str, said: &str) {
    let beats: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with(prefix))
        .collect();
    assert!(beats.len() >= 2, "{stderr}");
    assert!(
        beats
            .iter()
            .any(|line| line.ends_with(&format!("s: {said}"))),
        "a heartbeat names the last line: {stderr}"
    );
}
