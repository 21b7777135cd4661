//! Golden fixtures: small logs under `fixtures/logs/`, intact and damaged, each with the exact
//! verify report it must give. `OMK_UPDATE_FIXTURES=1 cargo test --test golden_logs` rewrites them.
//!
//! The fixtures are built here from typed events with a fixed clock, so this test also pins the
//! writer's bytes: rebuilding them must reproduce the checked-in files exactly.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{at, event, log_in};
use omk::event::{
    BudgetLimits, Event, RunFailed, RunMode, RunOptions, RunStarted, TaskStatus, TaskTransitioned,
};
use omk::log::writer::Expected;
use omk::log::{
    verify_log, ArtifactStore, EventId, LogPaths, LogReader, LogWriter, NewEvent, VerifyOptions,
};

const CASES: [&str; 10] = [
    "valid",
    "flipped-byte",
    "deleted-line",
    "truncated",
    "torn",
    "torn-batch",
    "artifact-missing",
    "artifact-altered",
    "checkpoint-lags",
    "unknown-kind",
];

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/logs")
}

fn typed(id: &str, event: Event) -> NewEvent {
    event.to_new_event(EventId::new(id).unwrap()).unwrap()
}

fn transition(
    id: &str,
    task: &str,
    from: TaskStatus,
    to: TaskStatus,
    reason: Option<&str>,
) -> NewEvent {
    typed(
        id,
        Event::TaskTransitioned(TaskTransitioned {
            task_id: task.into(),
            from,
            to,
            reason: reason.map(str::to_owned),
        }),
    )
}

/// Writes the intact goal log every damaged case starts from; returns the checkpoint after seq 3.
fn build_valid(dir: &Path) -> Vec<u8> {
    let paths = log_in(dir);
    let store = ArtifactStore::new(paths.artifacts());
    let plan = store
        .put(
            "plan/technical-plan.md",
            "text/markdown",
            b"# Technical plan\n\n1. Fix `add` in src/lib.rs.\n",
        )
        .unwrap();
    let mut writer = LogWriter::open(&paths).unwrap();
    let started = Event::RunStarted(RunStarted {
        goal_id: "g-20261124-140000-demo".into(),
        prompt: "Make the failing test in tests/add.rs pass".to_owned(),
        normalized_prompt: "Make the failing test in tests/add.rs pass".to_owned(),
        base_commit: Some("4b825dc642cb6eb9a060e54bf8d69288fbee4904".to_owned()),
        omk_version: "0.1.0".to_owned(),
        budget: BudgetLimits::default(),
        options: RunOptions {
            mode: RunMode::Run,
            agent: None,
            agent_cmd: None,
            planner: None,
        },
    });
    let mut checkpoint_after_seq_3 = Vec::new();
    let batches = [
        vec![typed("ev-0001", started)],
        vec![typed("ev-0002", Event::ArtifactRecorded(plan))],
        vec![
            transition(
                "ev-0003",
                "t1",
                TaskStatus::Pending,
                TaskStatus::Running,
                None,
            ),
            transition(
                "ev-0004",
                "t2",
                TaskStatus::Pending,
                TaskStatus::Running,
                None,
            ),
        ],
        vec![transition(
            "ev-0005",
            "t1",
            TaskStatus::Running,
            TaskStatus::Done,
            Some("agent exited 0"),
        )],
        vec![typed(
            "ev-0006",
            Event::RunFailed(RunFailed {
                reason: "gate `cargo test` failed on the claimed tree".to_owned(),
                task_id: Some("t2".into()),
            }),
        )],
    ];
    for (index, batch) in batches.iter().enumerate() {
        let expected = Expected::Seq(writer.position().next_seq);
        writer
            .append(expected, at(index as i64 * 7), batch)
            .unwrap();
        if writer.position().next_seq == 4 {
            checkpoint_after_seq_3 = fs::read(paths.checkpoint()).unwrap();
        }
    }
    checkpoint_after_seq_3
}

/// Returns the byte range of line `index`, `\n` included.
fn line_range(bytes: &[u8], index: usize) -> std::ops::Range<usize> {
    let mut starts = vec![0];
    starts.extend(
        bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i + 1),
    );
    starts[index]..starts[index + 1]
}

fn edit_log(paths: &LogPaths, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = fs::read(paths.log()).unwrap();
    edit(&mut bytes);
    fs::write(paths.log(), bytes).unwrap();
}

/// Builds one case in `dir` (which must be empty).
fn build_case(case: &str, dir: &Path) {
    let paths = log_in(dir);
    if case == "unknown-kind" {
        let mut writer = LogWriter::open(&paths).unwrap();
        let future = event(
            "ev-0001",
            "zz_kind_from_the_future",
            serde_json::json!({ "anything": [1, 2] }),
        );
        writer.append(Expected::Seq(0), at(0), &[future]).unwrap();
        return;
    }
    let checkpoint_after_seq_3 = build_valid(dir);
    let plan_path = || {
        fs::read_dir(paths.artifacts())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
    };
    match case {
        "valid" => {}
        "flipped-byte" => edit_log(&paths, |bytes| {
            let line = line_range(bytes, 2);
            let at = line.start + bytes[line].windows(4).position(|w| w == b"\"t1\"").unwrap() + 2;
            bytes[at] = b'7';
        }),
        "deleted-line" => edit_log(&paths, |bytes| {
            bytes.drain(line_range(bytes, 3));
        }),
        "truncated" => edit_log(&paths, |bytes| {
            bytes.drain(line_range(bytes, 5));
        }),
        "torn" => edit_log(&paths, |bytes| {
            bytes.extend_from_slice(b"{\"v\":1,\"seq\":6,\"ts\":\"2026-")
        }),
        "torn-batch" => {
            // A crash after the first line of a two-event batch, before its checkpoint.
            let checkpoint_before = fs::read(paths.checkpoint()).unwrap();
            let mut writer = LogWriter::open(&paths).unwrap();
            let batch = [
                transition(
                    "ev-0007",
                    "t2",
                    TaskStatus::Running,
                    TaskStatus::Failed,
                    None,
                ),
                transition(
                    "ev-0008",
                    "t2",
                    TaskStatus::Failed,
                    TaskStatus::Pending,
                    Some("retry 1 of 2"),
                ),
            ];
            writer.append(Expected::Seq(6), at(50), &batch).unwrap();
            edit_log(&paths, |bytes| {
                bytes.drain(line_range(bytes, 7));
            });
            fs::write(paths.checkpoint(), checkpoint_before).unwrap();
        }
        "artifact-missing" => fs::remove_file(plan_path()).unwrap(),
        "artifact-altered" => {
            fs::write(plan_path(), b"# Technical plan\n\n1. Delete the test.\n").unwrap()
        }
        "checkpoint-lags" => fs::write(paths.checkpoint(), checkpoint_after_seq_3).unwrap(),
        other => panic!("unknown case {other}"),
    }
}

/// Returns every file under `dir` with its bytes, by relative path.
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.push((relative, fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// Returns the verify report of a case as stored in `verify.json`.
fn report_json(case_dir_relative: &Path) -> String {
    let paths = LogPaths::resolve(case_dir_relative);
    let report = verify_log(&paths, VerifyOptions::all_cores()).unwrap();
    let mut text = serde_json::to_string_pretty(&report).unwrap();
    text.push('\n');
    text
}

#[test]
fn fixture_logs_are_pinned_byte_for_byte_with_their_verify_reports() {
    let updating = std::env::var_os("OMK_UPDATE_FIXTURES").is_some();
    // Paths in reports are relative to the package root, where cargo runs tests.
    let relative_root = Path::new("fixtures/logs");
    for case in CASES {
        let built = tempfile::tempdir().unwrap();
        build_case(case, built.path());
        let case_dir = fixtures_dir().join(case);
        if updating {
            let _ = fs::remove_dir_all(&case_dir);
            for (relative, bytes) in files_under(built.path()) {
                let target = case_dir.join(relative);
                fs::create_dir_all(target.parent().unwrap()).unwrap();
                fs::write(target, bytes).unwrap();
            }
            let report = report_json(&relative_root.join(case));
            fs::write(case_dir.join("verify.json"), report).unwrap();
            continue;
        }
        let mut pinned = files_under(&case_dir);
        pinned.retain(|(name, _)| name != "verify.json");
        assert_eq!(
            files_under(built.path()),
            pinned,
            "fixture {case} no longer matches what the writer produces; if the format change is intended, run with OMK_UPDATE_FIXTURES=1"
        );
        let expected = fs::read_to_string(case_dir.join("verify.json")).unwrap();
        assert_eq!(
            report_json(&relative_root.join(case)),
            expected,
            "verify report of fixture {case}"
        );
    }
}

#[test]
fn a_log_with_an_unknown_kind_verifies_but_does_not_decode() {
    let paths = LogPaths::resolve(&fixtures_dir().join("unknown-kind"));
    assert!(
        verify_log(&paths, VerifyOptions::all_cores())
            .unwrap()
            .intact
    );
    let raw = LogReader::open(&paths).unwrap().next().unwrap().unwrap();
    let error = Event::decode(&raw).unwrap_err();
    assert_eq!(
        error.to_string(),
        "event seq 0 has kind `zz_kind_from_the_future`, which omk 0.1.0 does not know: use the omk version that wrote this log, or a newer one"
    );
}

#[test]
fn every_event_of_the_valid_fixture_decodes_and_re_encodes_to_the_same_bytes() {
    let paths = LogPaths::resolve(&fixtures_dir().join("valid"));
    for raw in LogReader::open(&paths).unwrap() {
        let raw = raw.unwrap();
        let event = Event::decode(&raw).unwrap();
        assert_eq!(event.kind(), raw.kind());
        let again = event.to_new_event(EventId::new(raw.id()).unwrap()).unwrap();
        assert_eq!(again.data().get(), raw.data().get());
    }
}
