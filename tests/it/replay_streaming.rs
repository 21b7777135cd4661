//! Issue 16: replay streams. A goal whose log spans several read blocks, with a snapshot claimed
//! in the middle and the other projections at the end: `replay --verify` checks each at its own
//! head in one pass and finds an edit; the timeline, written as it is read, is byte for byte the
//! whole document; a reader that closes the pipe early ends it quietly; `--at` gives the same
//! state from the snapshot as from the first event.
// Tests drive real processes: the binary.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::common;

use chrono::{TimeZone, Utc};
use common::long_goal::{opening, tail_event};
use omk::event::RecordedEvent;
use omk::log::writer::Expected;
use omk::log::{EventId, LogReader, LogWriter, NewEvent};
use omk::project::proof::proof;
use omk::project::snapshot::Snapshot;
use omk::project::task_graph::task_graph_view;
use omk::project::timeline::{entry, timeline_text};
use omk::project::to_json;
use omk::store::{GoalDir, StateDir};

const GOAL: &str = "g-20261204-200000-000-long";
/// Enough events of about 330 bytes to fill several 2 MiB read blocks (about 14.8 MB).
const EVENTS: usize = 45_000;

/// Writes the long goal in batches of 1,000, each a second after the last.
fn write_goal(goal: &GoalDir) {
    fs::create_dir_all(goal.dir()).unwrap();
    let mut events = opening(GOAL);
    events.extend((events.len()..EVENTS).map(tail_event));
    let mut writer = LogWriter::open(&goal.paths()).unwrap();
    let start = Utc.with_ymd_and_hms(2026, 12, 4, 20, 0, 0).unwrap();
    for (index, batch) in events.chunks(1000).enumerate() {
        let first = index * 1000;
        let new: Vec<NewEvent> = batch
            .iter()
            .enumerate()
            .map(|(offset, event)| {
                let id = EventId::new(format!("ev-{:x}", first + offset)).unwrap();
                event.to_new_event(id).unwrap()
            })
            .collect();
        let at = start + chrono::Duration::seconds(index as i64);
        writer
            .append(Expected::Seq(first as u64), at, &new)
            .unwrap();
    }
}

fn omk(args: &[&str]) -> (i32, Vec<u8>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_omk"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The long goal with a snapshot claimed at seq 20,999 and the proof and task graph at the end.
fn long_goal() -> (tempfile::TempDir, GoalDir) {
    let home = tempfile::tempdir().unwrap();
    let goal = StateDir::new(home.path()).goal(GOAL);
    write_goal(&goal);
    let end = goal.load().unwrap();
    fs::write(
        goal.dir().join("proof.json"),
        to_json(&proof(&end.state, end.head(), end.tree_head())),
    )
    .unwrap();
    fs::write(
        goal.dir().join("task-graph.json"),
        to_json(&task_graph_view(&end.state, end.head())),
    )
    .unwrap();
    let middle = goal.load_through(20_999).unwrap();
    let snapshot = Snapshot::new(&middle.state, middle.position, &middle.tree).unwrap();
    fs::write(goal.dir().join("snapshot.json"), to_json(&snapshot)).unwrap();
    (home, goal)
}

#[test]
fn replay_verify_checks_each_projection_at_its_own_head_in_one_pass() {
    let (_home, goal) = long_goal();
    let log_bytes = fs::metadata(goal.paths().log()).unwrap().len();
    assert!(
        log_bytes > 3 * (4 << 20),
        "the log spans several blocks: {log_bytes} bytes"
    );
    let report = omk::ops::replay::verify_goal_dir(goal.dir()).unwrap();
    assert!(report.intact, "{:?}", report.findings);
    assert_eq!(report.log.events, EVENTS as u64);
    assert_eq!(
        report.projections_checked,
        ["snapshot.json", "task-graph.json", "proof.json"]
    );
    let (code, stdout, stderr) = omk(&["replay", goal.dir().to_str().unwrap(), "--verify"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(String::from_utf8(stdout)
        .unwrap()
        .contains("45000 events intact"));

    // The snapshot in the middle, edited: found at its own head, with the path of the edit.
    let path = goal.dir().join("snapshot.json");
    let mut snapshot: serde_json::Value =
        serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    snapshot["state"]["prompt"] = "another goal".into();
    fs::write(&path, to_json(&snapshot)).unwrap();
    let report = omk::ops::replay::verify_goal_dir(goal.dir()).unwrap();
    assert!(!report.intact);
    assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
    assert_eq!(report.findings[0].file, "snapshot.json");
    assert_eq!(report.findings[0].path.as_deref(), Some("/state/prompt"));
    assert!(report.findings[0].message.contains("seq 20999"));
}

#[test]
fn the_timeline_streams_the_same_bytes_and_stops_quietly_when_the_reader_does() {
    let (_home, goal) = long_goal();
    let dir = goal.dir().to_str().unwrap();
    let entries: Vec<_> = LogReader::open(&goal.paths())
        .unwrap()
        .map(|raw| entry(&RecordedEvent::decode(&raw.unwrap()).unwrap()))
        .collect();
    let (code, text, _) = omk(&["replay", dir]);
    assert_eq!(code, 0);
    assert!(
        text == timeline_text(&entries, false).as_bytes(),
        "the text timeline differs"
    );
    let (code, json, _) = omk(&["replay", dir, "--format", "json"]);
    assert_eq!(code, 0);
    let whole = to_json(&serde_json::json!({ "events": entries }));
    let first_difference = json.iter().zip(whole.as_bytes()).position(|(a, b)| a != b);
    assert!(
        json == whole.as_bytes(),
        "the JSON timeline differs from byte {first_difference:?} ({} bytes, {} expected)",
        json.len(),
        whole.len()
    );
    let (code, json, _) = omk(&["replay", dir, "--format", "json", "--kind", "no_such_kind"]);
    assert_eq!(code, 0);
    assert_eq!(
        String::from_utf8(json).unwrap(),
        to_json(&serde_json::json!({ "events": [] }))
    );

    // A reader that takes the first lines and closes the pipe: no error, exit 0.
    let mut child = Command::new(env!("CARGO_BIN_EXE_omk"))
        .args(["replay", dir])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 200];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert!(String::from_utf8_lossy(&first).starts_with("     0  "));
}

#[test]
fn replay_at_a_seq_gives_the_same_state_from_the_snapshot_as_from_the_start() {
    let (_home, goal) = long_goal();
    let dir = goal.dir().to_str().unwrap();
    let at = |seq: &str| omk(&["replay", dir, "--at", seq, "--format", "json"]);
    let (code, from_snapshot, stderr) = at("30000");
    assert_eq!(code, 0, "{stderr}");
    let before_snapshot = at("10000");
    assert_eq!(before_snapshot.0, 0);
    fs::remove_file(goal.dir().join("snapshot.json")).unwrap();
    let (_, from_start, _) = at("30000");
    assert_eq!(from_snapshot, from_start);
    assert_eq!(at("10000"), before_snapshot);
    let shown: serde_json::Value = serde_json::from_slice(&from_start).unwrap();
    assert_eq!(shown["head"]["seq"], 30000);
    let (code, _, stderr) = at("45000");
    assert_eq!(code, 2);
    assert!(stderr.contains("the log ends at seq 44999"), "{stderr}");
    assert!(Path::new(goal.dir()).exists());
}
