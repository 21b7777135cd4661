//! Issue 15: what fault and hostile-input sweeps found around the log. Each test failed
//! before its fix.
// Tests drive the binary.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use omk::project::snapshot::Snapshot;

const GOAL: &str = "g-20261124-140000-000-gold";

/// Returns a copy of the golden goal fixture `case` as a state directory (for `OMK_HOME`).
fn fixture(case: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/goals")
        .join(case)
        .join("goals");
    common::copy_tree(&source, &home.path().join("goals"));
    home
}

fn goal_dir(home: &Path) -> PathBuf {
    home.join("goals").join(GOAL)
}

fn omk(home: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_omk"))
        .args(args)
        .current_dir(home)
        .env("OMK_HOME", home)
        .env("OMK_TEST_NOW", "2026-11-24T16:00:00Z")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn read_snapshot(path: &Path) -> Snapshot {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

/// Defect 1: a snapshot edited to say a failing goal is ready (its digest recomputed, its
/// `covers` untouched and in the chain) decides nothing: accept is refused and appends
/// nothing, the proof is NOT READY, and `replay --verify` reports the snapshot.
#[test]
fn an_edited_snapshot_decides_nothing() {
    let home = fixture("gate-failed");
    let dir = goal_dir(home.path());
    let genuine = read_snapshot(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/goals/gate-failed/expected/snapshot.json"),
    );
    // The state of a goal whose gates and review passed, passed off as this goal's.
    let ready = read_snapshot(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/goals/two-rounds/expected/snapshot.json"),
    );
    let forged = Snapshot::new(&ready.state, genuine.position(), &genuine.tree().unwrap()).unwrap();
    fs::write(dir.join("snapshot.json"), omk::project::to_json(&forged)).unwrap();
    let log = fs::read(dir.join("events.jsonl")).unwrap();

    let (code, _, stderr) = omk(
        home.path(),
        &["goal", "accept", GOAL, "--summary", "ship it"],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("is verifying: accept is not allowed"),
        "{stderr}"
    );
    assert_eq!(
        fs::read(dir.join("events.jsonl")).unwrap(),
        log,
        "nothing appended"
    );

    let (code, proof, _) = omk(home.path(), &["goal", "proof", GOAL]);
    assert_eq!(code, 1);
    assert!(
        proof.starts_with(&format!("# Proof for goal {GOAL}: NOT READY")),
        "{proof}"
    );

    let (code, _, stderr) = omk(home.path(), &["replay", GOAL, "--verify"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("snapshot.json") && stderr.contains("differs from what the log derives"),
        "{stderr}"
    );

    // With the snapshot gone every command still works: nothing was smuggled into the log.
    fs::remove_file(dir.join("snapshot.json")).unwrap();
    assert_eq!(omk(home.path(), &["goal", "status", GOAL]).0, 0);
    assert_eq!(omk(home.path(), &["replay", GOAL, "--verify"]).0, 0);
}

/// Defect 1: a damaged snapshot (its content no longer matches its digest) is ignored by
/// views too, which fold the log instead.
#[test]
fn a_damaged_snapshot_is_ignored_by_views() {
    let home = fixture("gate-failed");
    let dir = goal_dir(home.path());
    let (_, expected, _) = omk(home.path(), &["goal", "show", GOAL, "--format", "json"]);
    let genuine = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/goals/gate-failed/expected/snapshot.json"),
    )
    .unwrap();
    let damaged = genuine.replacen("\"verifying\"", "\"integrating\"", 1);
    assert_ne!(damaged, genuine);
    fs::write(dir.join("snapshot.json"), damaged).unwrap();
    let (code, shown, _) = omk(home.path(), &["goal", "show", GOAL, "--format", "json"]);
    assert_eq!(code, 0);
    assert_eq!(shown, expected);
}

/// Defect 6: a projection that exists but cannot be read or parsed is a finding.
#[test]
fn replay_verify_reports_projections_it_cannot_read() {
    let home = fixture("gate-failed");
    let dir = goal_dir(home.path());
    let (code, _, _) = omk(home.path(), &["replay", GOAL, "--verify"]);
    assert_eq!(code, 0, "the fixture verifies");
    fs::write(dir.join("proof.json"), b"{\"head\":\xff}").unwrap();
    fs::create_dir_all(dir.join("task-graph.json")).unwrap();
    let (code, _, stderr) = omk(home.path(), &["replay", GOAL, "--verify"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("proof.json: cannot be read: it is not UTF-8 text"),
        "{stderr}"
    );
    assert!(
        stderr.contains("task-graph.json: cannot be read: Is a directory"),
        "{stderr}"
    );
}

/// Defect 2: once its batch is durable a command has succeeded. A projection that cannot be
/// written afterwards (here `snapshot.json` is a directory, as a full disk would refuse it)
/// is a warning, the exit code is 0, and running the command again applies it again on
/// purpose, not by accident.
#[test]
fn a_projection_that_cannot_be_written_after_the_append_is_a_warning() {
    let home = fixture("gate-failed");
    let dir = goal_dir(home.path());
    fs::create_dir_all(dir.join("snapshot.json")).unwrap();
    let (code, stdout, stderr) = omk(
        home.path(),
        &["goal", "budget-add", GOAL, "--tokens", "1000"],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("omk: warning: goal g-20261124-140000-000-gold: the events are in the log, but the files beside it could not be updated"),
        "{stderr}"
    );
    let log = fs::read_to_string(dir.join("events.jsonl")).unwrap();
    assert_eq!(log.matches("\"budget_extended\"").count(), 1);
    // The next command that can write rebuilds what was left behind.
    fs::remove_dir(dir.join("snapshot.json")).unwrap();
    assert_eq!(omk(home.path(), &["goal", "pause", GOAL]).0, 0);
    assert!(dir.join("snapshot.json").is_file());
    assert_eq!(omk(home.path(), &["replay", GOAL, "--verify"]).0, 0);
}

/// Defect 4: repair never follows a symbolic link and never shortens a file that does not
/// start as an omk log.
#[test]
fn repair_refuses_links_and_files_that_are_not_logs() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    fs::write(&notes, "remember the milk\nand the bread").unwrap();
    let (code, _, stderr) = omk(dir.path(), &["log", "repair", notes.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("it does not start as an omk event log"),
        "{stderr}"
    );
    assert_eq!(
        fs::read_to_string(&notes).unwrap(),
        "remember the milk\nand the bread"
    );

    let goal = dir.path().join("goal");
    fs::create_dir_all(&goal).unwrap();
    std::os::unix::fs::symlink(&notes, goal.join("events.jsonl")).unwrap();
    let (code, _, stderr) = omk(dir.path(), &["log", "repair", goal.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("it is a symbolic link"), "{stderr}");
    assert_eq!(
        fs::read_to_string(&notes).unwrap(),
        "remember the milk\nand the bread"
    );
}

/// Defect 4: a torn first append (a new log cut in its first line) is still repaired.
#[test]
fn repair_still_moves_a_torn_first_append() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events.jsonl");
    fs::write(
        &log,
        "{\"v\":1,\"seq\":0,\"ts\":\"2026-11-24T14:00:00.000000Z\",\"id\":\"e",
    )
    .unwrap();
    let (code, stdout, stderr) = omk(dir.path(), &["log", "repair", log.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(fs::read(&log).unwrap(), b"");
    // A crash can leave fewer bytes than a line's start (found by the writer's crash model):
    // still a torn first append, still moved aside; a text file is still refused.
    for (bytes, code) in [(&b"{\"v\":1"[..], 0), (b"{", 0), (b"notes\n", 2)] {
        fs::write(&log, bytes).unwrap();
        let (got, stdout, stderr) = omk(dir.path(), &["log", "repair", log.to_str().unwrap()]);
        assert_eq!(got, code, "{bytes:?}: {stdout}{stderr}");
        let kept: &[u8] = if code == 0 { b"" } else { bytes };
        assert_eq!(fs::read(&log).unwrap(), kept);
    }
}

/// Defect 9: configuration and arguments that were accepted and did the wrong thing, or
/// crashed, now get a clear error (or the behaviour their help promises).
#[test]
fn bad_gates_and_arguments_get_clear_errors() {
    let repo = common::git_repo(&[("src/lib.rs", "pub fn f() {}\n")]);
    let gates = |toml: &str| {
        fs::write(repo.path().join("omk.toml"), toml).unwrap();
        omk(repo.path(), &["gates"])
    };
    let (code, _, stderr) = gates("[gates.test]\ncommand = \"\"\n");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("omk.toml:2: [gates.test] command: is empty"),
        "{stderr}"
    );
    let (code, _, stderr) = gates("[gates.test]\ncommand = \"true\"\ndir = \"../../..\"\n");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("[gates.test] dir: `../../..` leaves the tree with `..`"),
        "{stderr}"
    );
    let (code, _, stderr) = gates("[gates.test]\ncommand = \"true\"\ndir = \"/etc\"\n");
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("`/etc` is absolute"), "{stderr}");

    let valid = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/logs/valid");
    let (code, _, stderr) = omk(
        repo.path(),
        &[
            "log",
            "verify",
            valid.to_str().unwrap(),
            "--threads",
            "30000",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("give a number of threads from 1 to 256"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let (code, _, stderr) = omk(repo.path(), &["replay", "/etc/passwd"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("/etc/passwd is a file, not a goal's log"),
        "{stderr}"
    );
}

/// Defect 9: `demo --dir DIR` creates DIR, as its help says.
#[test]
fn demo_creates_the_directory_it_is_given() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("new/demo-home");
    let (code, stdout, stderr) = omk(parent.path(), &["demo", "--dir", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(dir.is_dir());
}

/// Defect 8: a command that keeps losing the race to other writers waits and decides again;
/// a busy goal makes it slower, not an error. Here another writer gets in first twenty times
/// in a row (more than the eight a command used to allow).
#[test]
fn a_command_that_keeps_losing_races_waits_and_succeeds() {
    use omk::event::{Event, GoalPaused, GoalResumed};
    let home = fixture("gate-failed");
    let goal = omk::store::StateDir::new(home.path()).goal(GOAL);
    let at = "2026-11-24T16:00:00Z".parse().unwrap();
    let mut lost = 0;
    let (loaded, appended) = goal
        .transact(at, |_| {
            if lost < 20 {
                lost += 1;
                // The other writer: a pause and a resume, appended before this command can.
                let other = goal.load().unwrap();
                let other = goal
                    .append(
                        Some(&other),
                        at,
                        vec![Event::GoalPaused(GoalPaused { reason: None })],
                    )
                    .unwrap();
                goal.append(
                    Some(&other),
                    at,
                    vec![Event::GoalResumed(GoalResumed { note: None })],
                )
                .unwrap();
            }
            Ok(vec![Event::GoalPaused(GoalPaused {
                reason: Some("mine".to_owned()),
            })])
        })
        .unwrap();
    assert_eq!(lost, 20);
    assert_eq!(appended.len(), 1);
    assert_eq!(loaded.state.status.name(), "paused");
}

/// Writes `text` to `path` and dates it to 2023, as a file a crash left long ago.
fn write_long_ago(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000))
        .unwrap();
}

/// Defect 10: what crashed writers leave behind (a checkpoint's temporary file, an old
/// projection temporary) is removed by the next writer; a fresh temporary is left alone.
#[test]
fn the_next_writer_removes_what_crashed_writers_left() {
    let home = fixture("gate-failed");
    let dir = goal_dir(home.path());
    let checkpoint_temp = dir.join("events.head.json.tmp");
    fs::write(&checkpoint_temp, "{\"partial\":").unwrap();
    let old = dir.join(".tmpAbC123");
    write_long_ago(&old, "half a projection");
    let fresh = dir.join(".tmpXyZ789");
    fs::write(&fresh, "being written").unwrap();
    // A capture that died with its process, and one that may still be streaming.
    let dead_capture = dir.join("artifacts/.tmpDeAd01");
    write_long_ago(&dead_capture, "half a transcript");
    let live_capture = dir.join("artifacts/.tmpLiVe02");
    fs::write(&live_capture, "streaming").unwrap();
    assert_eq!(omk(home.path(), &["goal", "pause", GOAL]).0, 0);
    assert!(!checkpoint_temp.exists());
    assert!(!old.exists());
    assert!(!dead_capture.exists());
    assert!(live_capture.exists());
    assert!(
        fresh.exists(),
        "a temporary another writer may still be using stays"
    );
}

/// Defect 7: an agent's words are recorded without the secrets in them, and no view sends a
/// control sequence from them to the terminal.
#[test]
fn agent_text_is_recorded_without_secrets_and_shown_without_escapes() {
    let repo = common::git_repo(&[("src/list.rs", "pub fn list() {}\n")]);
    // The key is put together when the agent runs, so only its output holds it.
    let agent = r#"cat >/dev/null; echo 'pub fn list() -> u8 { 1 }' > src/list.rs
key="AKIA"; key="${key}IOSFODNN7EXAMPLE"
printf '{"type":"result","subtype":"success","result":"\u001b[2Jcleared the screen\nkey %s"}\n' "$key""#;
    let out = Command::new(env!("CARGO_BIN_EXE_omk"))
        .args([
            "goal",
            "run",
            "Change the list command",
            "--agent-cmd",
            agent,
        ])
        .current_dir(repo.path())
        .env_remove("OMK_HOME")
        .env_remove("OMK_TEST_NOW")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let goals = repo.path().join(".omk/goals");
    let id = fs::read_dir(&goals)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let log = fs::read_to_string(goals.join(&id).join("events.jsonl")).unwrap();
    assert!(
        !log.contains("AKIAIOSFODNN7EXAMPLE"),
        "the key reached the log"
    );
    assert!(log.contains("line hidden: it holds what looks like an AWS access key id"));
    assert!(
        log.contains("\\u001b[2Jcleared the screen"),
        "the claim keeps the rest"
    );
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_omk"))
            .args(args)
            .current_dir(repo.path())
            .env_remove("OMK_HOME")
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    for args in [
        &["goal", "proof"][..],
        &["replay", "latest"],
        &["goal", "show"],
    ] {
        let shown = run(args);
        assert!(
            !shown.contains('\u{1b}'),
            "{args:?} printed a raw escape: {shown:?}"
        );
        assert!(!shown.contains("AKIAIOSFODNN7EXAMPLE"), "{args:?}");
    }
}

/// Returns the byte offset just past the complete batch that ends nearest the middle of `log`.
fn a_batch_boundary_halfway(log: &str) -> usize {
    let mut end = 0;
    for line in log.split_inclusive('\n') {
        end += line.len();
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let batch = &value["batch"];
        if batch[0].as_u64().unwrap() + 1 == batch[1].as_u64().unwrap() && end >= log.len() / 2 {
            return end;
        }
    }
    end
}

/// Defect 3: a log cut back behind its checkpoint (a rolled-back goal) is damage every
/// reader reports, with the hint, never an older state shown as the goal.
#[test]
fn readers_report_a_log_cut_behind_its_checkpoint() {
    let home = fixture("ready");
    let dir = goal_dir(home.path());
    let log = fs::read_to_string(dir.join("events.jsonl")).unwrap();
    fs::write(
        dir.join("events.jsonl"),
        &log[..a_batch_boundary_halfway(&log)],
    )
    .unwrap();
    for args in [
        &["goal", "status", GOAL][..],
        &["goal", "show", GOAL],
        &["goal", "list"],
        &["goal", "proof", GOAL],
        &["replay", GOAL],
    ] {
        let (code, stdout, stderr) = omk(home.path(), args);
        assert_eq!(code, 2, "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains("event log truncated:")
                && stderr.contains("but its checkpoint names seq 51"),
            "{args:?}: {stderr}"
        );
    }
    // An empty log beside its checkpoint is the same damage.
    fs::write(dir.join("events.jsonl"), "").unwrap();
    let (code, _, stderr) = omk(home.path(), &["replay", GOAL]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("ends after 0 complete events"), "{stderr}");
}

/// Defect 5: a log both truncated and torn has a documented way forward: verify names
/// `repair --accept-truncation`, which keeps the complete prefix, moves the old checkpoint
/// and the torn bytes aside, and says what was lost; the log then verifies.
#[test]
fn a_truncated_and_torn_log_has_an_explicit_way_forward() {
    let home = fixture("ready");
    let dir = goal_dir(home.path());
    let log = fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let cut = a_batch_boundary_halfway(&log);
    // Cut behind the checkpoint, and leave half a line after it: truncated and torn.
    fs::write(dir.join("events.jsonl"), &log[..cut + 40]).unwrap();
    let dir_arg = dir.to_str().unwrap();
    let (code, _, stderr) = omk(home.path(), &["log", "verify", dir_arg]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("--accept-truncation"), "{stderr}");
    let (code, _, stderr) = omk(home.path(), &["log", "repair", dir_arg]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--accept-truncation"), "{stderr}");

    let (code, stdout, stderr) = omk(
        home.path(),
        &["log", "repair", dir_arg, "--accept-truncation"],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("accepted the truncation of"), "{stdout}");
    assert!(
        stdout.contains("to 51 are lost; the old checkpoint is at"),
        "{stdout}"
    );
    assert!(stdout.contains("moved 40 torn bytes from byte"), "{stdout}");
    assert_eq!(
        fs::read_to_string(dir.join("events.jsonl")).unwrap(),
        log[..cut]
    );
    assert!(dir.join("events.head.json.truncated-51").is_file());
    assert_eq!(omk(home.path(), &["log", "verify", dir_arg]).0, 0);
    assert_eq!(omk(home.path(), &["goal", "status", GOAL]).0, 0);
}

/// docs/log-format.md, made precise: a directory where an artifact should be is a missing
/// artifact (a finding, exit 1), not a failure to run.
#[test]
fn a_directory_in_an_artifacts_place_is_a_missing_artifact() {
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("log");
    common::copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/logs/valid"),
        &log,
    );
    let artifact = fs::read_dir(log.join("artifacts"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    fs::remove_file(&artifact).unwrap();
    fs::create_dir(&artifact).unwrap();
    let (code, _, stderr) = omk(home.path(), &["log", "verify", log.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("is missing from the store"), "{stderr}");
}

/// A tmpfs of 64 KiB mounted for a test, unmounted when dropped.
struct TinyDisk {
    dir: tempfile::TempDir,
}

impl TinyDisk {
    /// Mounts it, or returns `None` (printing why) where mounting is not allowed.
    fn mount() -> Option<TinyDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(dir.path())
            .output()
            .is_ok_and(|out| out.status.success());
        if !mounted {
            eprintln!("skipped: mounting a small tmpfs is not allowed here (it needs root)");
            return None;
        }
        Some(TinyDisk { dir })
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Defect 2: on a full disk, repair cannot set the torn bytes aside, so it says so and
/// changes nothing; once there is room it repairs.
#[test]
fn repair_on_a_full_disk_says_so_and_changes_nothing() {
    let Some(disk) = TinyDisk::mount() else {
        return;
    };
    let log_dir = disk.dir.path().join("log");
    fs::create_dir(&log_dir).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/logs/torn");
    for file in ["events.jsonl", "events.head.json"] {
        fs::copy(fixture.join(file), log_dir.join(file)).unwrap();
    }
    // Fill what is left of the disk.
    let filler = disk.dir.path().join("filler");
    let mut file = fs::File::create(&filler).unwrap();
    let block = vec![0u8; 4096];
    while std::io::Write::write_all(&mut file, &block).is_ok() {}
    drop(file);
    let before = fs::read(log_dir.join("events.jsonl")).unwrap();
    let (code, _, stderr) = omk(
        disk.dir.path(),
        &["log", "repair", log_dir.to_str().unwrap()],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert_eq!(fs::read(log_dir.join("events.jsonl")).unwrap(), before);
    let leftovers: Vec<_> = fs::read_dir(&log_dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .filter(|name| name.to_string_lossy().contains("torn"))
        .collect();
    assert!(leftovers.is_empty(), "no half side file: {leftovers:?}");
    fs::remove_file(&filler).unwrap();
    let (code, stdout, stderr) = omk(
        disk.dir.path(),
        &["log", "repair", log_dir.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
}
