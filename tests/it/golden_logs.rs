//! Golden fixtures: small logs under `fixtures/logs/`, intact and damaged, each with the exact
//! verify report it must give. `OMK_UPDATE_FIXTURES=1 cargo test --test it golden_logs::` rewrites them.
//!
//! The fixtures are built here with a fixed clock, so this test also pins the writer's bytes:
//! rebuilding them must reproduce the checked-in files exactly. Their payloads are fixed JSON
//! text, not typed events: the log layer knows nothing of payload shapes, and no change to an
//! event type may change these bytes (the typed payloads are pinned by `fixtures/compat/`).

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{at, event, log_in};
use omk::log::writer::Expected;
use omk::log::{
    verify_log, ArtifactStore, EventId, EventKind, LogPaths, LogWriter, NewEvent, VerifyOptions,
};
use serde_json::value::RawValue;

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

/// Returns an event whose payload is exactly the JSON text `data`.
fn fixed(id: &str, kind: &str, data: &str) -> NewEvent {
    NewEvent::new(
        EventId::new(id).unwrap(),
        EventKind::new(kind.to_owned()).unwrap(),
        &RawValue::from_string(data.to_owned()).unwrap(),
    )
    .unwrap()
}

/// Returns `task_transitioned` for `task` from `from` to `to`, as fixed JSON text.
fn transition(id: &str, task: &str, from: &str, to: &str, reason: Option<&str>) -> NewEvent {
    let reason = reason.map_or("null".to_owned(), |reason| format!("\"{reason}\""));
    fixed(
        id,
        "task_transitioned",
        &format!(r#"{{"task_id":"{task}","from":"{from}","to":"{to}","reason":{reason}}}"#),
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
    let started = fixed(
        "ev-0001",
        "run_started",
        r#"{"goal_id":"g-20261124-140000-demo","prompt":"Make the failing test in tests/add.rs pass","normalized_prompt":"Make the failing test in tests/add.rs pass","base_commit":"4b825dc642cb6eb9a060e54bf8d69288fbee4904","omk_version":"0.1.0","budget":{"time_secs":null,"tokens":null,"usd_micros":null},"options":{"mode":"run","agent":null,"agent_cmd":null,"planner":null}}"#,
    );
    let plan = serde_json::to_string(&plan).unwrap();
    let mut checkpoint_after_seq_3 = Vec::new();
    let batches = [
        vec![started],
        vec![fixed("ev-0002", "artifact_recorded", &plan)],
        vec![
            transition("ev-0003", "t1", "pending", "running", None),
            transition("ev-0004", "t2", "pending", "running", None),
        ],
        vec![transition(
            "ev-0005",
            "t1",
            "running",
            "done",
            Some("agent exited 0"),
        )],
        vec![fixed(
            "ev-0006",
            "run_failed",
            r#"{"reason":"gate `cargo test` failed on the claimed tree","task_id":"t2"}"#,
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
                transition("ev-0007", "t2", "running", "failed", None),
                transition("ev-0008", "t2", "failed", "pending", Some("retry 1 of 2")),
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
