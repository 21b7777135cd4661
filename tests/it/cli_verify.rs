//! `omk gates` and `omk goal verify` end to end: a goal executed by the scripted agent in a
//! real git repository, then real gates (shell commands from `omk.toml`) on its claimed tree:
//! passing, failing, timing out; each run bound to the commit and tree it ran on, with a
//! baseline on the base commit; a merge conflict between slices as a blocker.
// Tests drive real processes: git and the binary.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::common;

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

const TWO_SLICES: &str = "Add a --json flag to list. Fix the parser crash on empty input";

fn repo() -> tempfile::TempDir {
    common::git_repo(&[
        ("src/list.rs", "pub fn list() {}\n"),
        ("src/parser.rs", "pub fn parse() {}\n"),
    ])
}

fn omk(root: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_omk"))
        .args(args)
        .current_dir(root)
        .env_remove("OMK_HOME")
        .env_remove("OMK_TEST_NOW")
        .env("SCRIPTED_AGENT_PLAN", root.join(".agent-plan"))
        .env(
            "SCRIPTED_AGENT_STATE",
            root.join(".git/scripted-agent-state"),
        )
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn executed_goal(root: &Path, plan: &str) {
    fs::write(root.join(".agent-plan"), plan).unwrap();
    let agent = common::agent_cmd();
    let (code, stdout, stderr) = omk(root, &["goal", "run", TWO_SLICES, "--agent-cmd", &agent]);
    assert_eq!(code, 0, "{stdout}{stderr}");
}

fn show(root: &Path) -> Value {
    let (code, stdout, stderr) = omk(root, &["goal", "show", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

const GATES: &str = "[gates.json]\ncommand = \"grep -q json src/list.rs\"\n\n[gates.parser]\ncommand = \"grep -q usize src/parser.rs\"\n\n[gates.slow]\ncommand = \"sleep 30\"\ntimeout = \"1s\"\nrequired = false\n";

#[test]
fn gates_run_on_the_claimed_tree_and_the_base_with_their_evidence_bound_to_it() {
    let dir = repo();
    let root = dir.path();
    fs::write(root.join("omk.toml"), GATES).unwrap();
    let (code, stdout, _) = omk(root, &["gates"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains(
            "json         grep -q json src/list.rs  (required, timeout 30m, in .; omk.toml)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("slow         sleep 30  (optional, timeout 1s, in .; omk.toml)"),
        "{stdout}"
    );
    executed_goal(root, "slice-1 write src/list.rs pub fn list() -> &'static str { \"json\" }\nslice-2 write src/parser.rs pub fn parse() -> usize { 0 }\n");
    let (code, stdout, stderr) = omk(root, &["goal", "verify"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("every required gate passed; now verifying"),
        "{stdout}"
    );
    let state = show(root)["state"].clone();
    let result = &state["result"];
    assert_eq!(result["merged"], serde_json::json!(["slice-1", "slice-2"]));
    let branch = result["branch"].as_str().unwrap();
    let git = |args: &[&str]| {
        String::from_utf8(
            Command::new("git")
                .args(args)
                .current_dir(root)
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
        .trim()
        .to_owned()
    };
    assert_eq!(
        git(&["rev-parse", branch]),
        result["commit"].as_str().unwrap()
    );
    let runs = state["gate_runs"].as_array().unwrap();
    assert_eq!(
        runs.len(),
        6,
        "three gates on the base, three on the claimed tree"
    );
    let base = state["base_commit"].as_str().unwrap();
    for record in runs {
        let run = &record["run"];
        let baseline = run["target"]["baseline"].as_bool().unwrap();
        let expected = if baseline {
            base
        } else {
            result["commit"].as_str().unwrap()
        };
        assert_eq!(run["target"]["commit"], expected);
        assert_eq!(run["target"]["dirty"], false);
        let passed = run["exit_code"] == 0 && run["timed_out"] == false;
        match (run["gate"].as_str().unwrap(), baseline) {
            ("json" | "parser", true) => assert!(!passed, "red on the base"),
            ("json" | "parser", false) => assert!(passed, "green on the claimed tree"),
            ("slow", _) => assert_eq!(run["timed_out"], true),
            other => panic!("{other:?}"),
        }
    }
    // Verifying again does not repeat the baseline.
    let (code, _, _) = omk(root, &["goal", "verify"]);
    assert_eq!(code, 0);
    assert_eq!(
        show(root)["state"]["gate_runs"].as_array().unwrap().len(),
        9
    );
}

#[test]
fn a_failed_required_gate_exits_1_and_names_it() {
    let dir = repo();
    let root = dir.path();
    fs::write(root.join("omk.toml"), GATES).unwrap();
    executed_goal(root, "slice-1 write src/list.rs no flag here\nslice-2 write src/parser.rs pub fn parse() -> usize { 0 }\n");
    let (code, stdout, _) = omk(root, &["goal", "verify"]);
    assert_eq!(code, 1);
    assert!(stdout.contains("required gates failed: json;"), "{stdout}");
    // --task runs the gates in one slice's worktree instead.
    let (code, _, stderr) = omk(root, &["goal", "verify", "--task", "slice-2"]);
    assert_eq!(code, 1, "{stderr}");
    let runs = show(root)["state"]["gate_runs"].as_array().unwrap().clone();
    assert!(runs
        .iter()
        .any(|record| record["run"]["target"]["task_id"] == "slice-2"));
}

#[test]
fn slices_that_conflict_block_the_result_branch_naming_files_and_task() {
    let dir = repo();
    let root = dir.path();
    fs::write(root.join("omk.toml"), GATES).unwrap();
    // A planner that lets two independent slices write the same file: each branch starts from
    // the base, so merging the second into the result conflicts.
    let slice = |id: &str| {
        format!(
            r#"{{"id":"{id}","title":"{id}","description":"{id}","kind":"implementation","owner_role":"implementer","depends_on":[],"read_set":[],"write_set":["shared.txt"],"risk":"low","acceptance":["done"],"max_retries":0,"required":true}}"#
        )
    };
    let reply = format!(r#"{{"tasks":[{},{}]}}"#, slice("left"), slice("right"));
    fs::write(root.join("planner-reply.json"), reply).unwrap();
    fs::write(
        root.join(".agent-plan"),
        "left write shared.txt left\nright write shared.txt right\n",
    )
    .unwrap();
    let agent = common::agent_cmd();
    let (code, stdout, stderr) = omk(
        root,
        &[
            "goal",
            "run",
            TWO_SLICES,
            "--planner-cmd",
            "cat >/dev/null; cat planner-reply.json",
            "--agent-cmd",
            &agent,
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, _, stderr) = omk(root, &["goal", "verify"]);
    assert_eq!(code, 1);
    assert!(stderr.starts_with("omk: the goal's result branch cannot be built: merging `right` conflicts in shared.txt"), "{stderr}");
    let conflict = show(root)["state"]["result_conflict"].clone();
    assert_eq!(
        conflict,
        serde_json::json!({"task_id": "right", "merged": ["left"], "files": ["shared.txt"]})
    );
}

#[test]
fn a_flaky_gate_is_judged_by_its_latest_run_and_a_killed_gate_fails() {
    let dir = repo();
    let root = dir.path();
    let marker = root.join(".flaky-ran-once");
    fs::write(
        root.join("omk.toml"),
        format!(
            "[gates.flaky]\ncommand = \"if [ -f {0} ]; then exit 0; else touch {0}; exit 1; fi\"\n\n[gates.killed]\ncommand = \"kill -9 $$\"\nrequired = false\n",
            marker.display()
        ),
    )
    .unwrap();
    executed_goal(
        root,
        "slice-1 write src/list.rs ok\nslice-2 write src/parser.rs ok\n",
    );
    // One gate at a time, so the baseline runs first and uses up the flaky gate's one
    // failure: it passes on the claimed tree.
    let (code, stdout, _) = omk(root, &["goal", "verify", "--max-parallel", "1"]);
    assert_eq!(code, 0, "{stdout}");
    let runs = show(root)["state"]["gate_runs"].as_array().unwrap().clone();
    let flaky: Vec<(bool, Value)> = runs
        .iter()
        .filter(|record| record["run"]["gate"] == "flaky")
        .map(|record| {
            (
                record["run"]["target"]["baseline"].as_bool().unwrap(),
                record["run"]["exit_code"].clone(),
            )
        })
        .collect();
    assert_eq!(
        flaky,
        [(true, serde_json::json!(1)), (false, serde_json::json!(0))]
    );
    let killed = runs
        .iter()
        .find(|record| {
            record["run"]["gate"] == "killed" && record["run"]["target"]["baseline"] == false
        })
        .unwrap();
    assert_eq!(
        (
            killed["run"]["exit_code"].clone(),
            killed["run"]["timed_out"].clone()
        ),
        (Value::Null, Value::Bool(false)),
        "killed by a signal: no exit status"
    );
    let (_, proof, _) = omk(root, &["goal", "proof", "--format", "json"]);
    let proof: Value = serde_json::from_str(&proof).unwrap();
    let gate = proof["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|gate| gate["gate"] == "flaky")
        .unwrap()
        .clone();
    assert_eq!(
        (gate["base"].as_str(), gate["head"].as_str()),
        (Some("failed"), Some("passed"))
    );
}

#[test]
fn a_gate_runs_only_for_goals_that_change_what_it_names() {
    let dir = repo();
    let root = dir.path();
    fs::write(root.join("omk.toml"), "[gates.json]\ncommand = \"grep -q json src/list.rs\"\n\n[gates.docs]\ncommand = \"exit 1\"\nwhen_changed = [\"docs/**\"]\n").unwrap();
    let (_, gates, _) = omk(root, &["gates"]);
    assert!(
        gates.contains(
            "docs         exit 1  (required, timeout 30m, when docs/** changes, in .; omk.toml)"
        ),
        "{gates}"
    );
    executed_goal(
        root,
        "slice-1 write src/list.rs json\nslice-2 write src/parser.rs ok\n",
    );
    let (code, stdout, stderr) = omk(root, &["goal", "verify"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("omk: gate docs not needed: the goal changes nothing in docs/**"),
        "{stderr}"
    );
    let runs = show(root)["state"]["gate_runs"].as_array().unwrap().clone();
    assert!(
        runs.iter().all(|record| record["run"]["gate"] == "json"),
        "{runs:?}"
    );
}

#[test]
fn ctrl_c_during_verify_stops_the_gate_records_it_interrupted_and_verify_again_completes() {
    // The gate's marker and pid files live outside the repository, so the committed omk.toml
    // (and so the goal's tree) holds the same gate as the working copy.
    let outside = tempfile::tempdir().unwrap();
    let marker = outside.path().join("gate-may-pass");
    let pid_file = outside.path().join("gate-pid");
    let VerifyUnderWay { dir, child } = VerifyUnderWay::start(&format!(
        "echo $$ > {pid}; test -f {marker} || sleep 3600",
        pid = pid_file.display(),
        marker = marker.display()
    ));
    let root = dir.path();
    wait_for_file(&pid_file);
    std::thread::sleep(std::time::Duration::from_millis(200));
    // SAFETY: kill(2) touches no memory; the pid is our own child's.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("omk: gate wait (base) interrupted in 0s"),
        "{stderr}"
    );
    // The baseline and the claimed tree run side by side (two gates at once by default).
    let last = stderr.lines().last().unwrap();
    assert!(
        last.contains("interrupted (stopped gate wait on the base commit, wait)")
            || last.contains("interrupted (stopped gate wait, wait on the base commit)"),
        "{stderr}"
    );
    assert!(
        last.ends_with("; nothing is left running. Resume with: omk goal verify g-")
            || last.contains("; nothing is left running. Resume with: omk goal verify g-"),
        "{stderr}"
    );
    let gate_pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        omk::shell::procfs::group_members(gate_pid),
        Vec::<u32>::new()
    );
    let state = &show(root)["state"];
    let runs = state["gate_runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{runs:#?}");
    assert!(runs.iter().all(|run| run["run"]["interrupted"] == true));
    assert_eq!(state["status"], "verifying");

    // Verify again: the interrupted baseline and claimed tree run again.
    fs::write(&marker, "").unwrap();
    let (code, stdout, stderr) = omk(root, &["goal", "verify"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("every required gate passed"), "{stdout}");
    let runs = show(root)["state"]["gate_runs"].as_array().unwrap().len();
    assert_eq!(runs, 4);
}

#[test]
fn what_a_verify_killed_outright_left_running_is_reaped_by_the_next_verify() {
    let outside = tempfile::tempdir().unwrap();
    let marker = outside.path().join("gate-may-pass");
    let pid_file = outside.path().join("background-pid");
    let VerifyUnderWay { dir, mut child } = VerifyUnderWay::start(&format!(
        "test -f {marker} && exit 0; sleep 3600 & echo $! > {pid}; wait",
        pid = pid_file.display(),
        marker = marker.display()
    ));
    let root = dir.path();
    wait_for_file(&pid_file);
    child.kill().unwrap();
    child.wait().unwrap();
    let background: u32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let alive = |pid: u32| {
        omk::shell::procfs::stat(pid).is_some_and(|stat| !matches!(stat.state, 'Z' | 'X'))
    };
    assert!(
        alive(background),
        "the gate's background process outlives a kill -9 of omk"
    );

    fs::write(&marker, "").unwrap();
    let (code, stdout, stderr) = omk(root, &["goal", "verify"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while alive(background) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        !alive(background),
        "the next verify reaps what the killed one left"
    );
}

/// A goal executed in a new repository whose one gate is `gate` (a shell command), and a
/// `verify` of it started in the background.
struct VerifyUnderWay {
    dir: tempfile::TempDir,
    child: std::process::Child,
}

impl VerifyUnderWay {
    fn start(gate: &str) -> VerifyUnderWay {
        let gates = format!("[gates.wait]\ncommand = \"{gate}\"\n");
        let dir = common::git_repo(&[
            ("src/list.rs", "pub fn list() {}\n"),
            ("src/parser.rs", "pub fn parse() {}\n"),
            ("omk.toml", &gates),
        ]);
        executed_goal(
            dir.path(),
            "slice-1 write src/list.rs json\nslice-2 write src/parser.rs usize\n",
        );
        let child = Command::new(env!("CARGO_BIN_EXE_omk"))
            .args(["goal", "verify"])
            .current_dir(dir.path())
            .env_remove("OMK_HOME")
            .env_remove("OMK_TEST_NOW")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        VerifyUnderWay { dir, child }
    }
}

/// Waits until `file` holds something (the gate wrote it).
fn wait_for_file(file: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while fs::read_to_string(file).map_or(true, |text| text.trim().is_empty())
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Issue 13: a gate whose command already passed on the identical tree is not run again: the
/// pass is reused and recorded as such, naming the run it reuses. A failure is never reused,
/// and a task's worktree (another tree) runs it.
#[test]
fn a_pass_on_the_identical_tree_is_reused_and_recorded_as_reused() {
    let dir = repo();
    let root = dir.path();
    let counter = root.join(".git/gate-runs");
    fs::write(
        root.join("omk.toml"),
        format!(
            "[gates.json]\ncommand = \"echo run >> {0} && grep -q json src/list.rs\"\n\n[gates.never]\ncommand = \"echo run >> {0}.never; exit 1\"\nrequired = false",
            counter.display()
        ),
    )
    .unwrap();
    executed_goal(
        root,
        "slice-1 write src/list.rs pub fn list() -> &'static str { \"json\" }\nslice-2 write src/parser.rs ok\n",
    );
    let runs = |file: &Path| fs::read_to_string(file).unwrap_or_default().lines().count();
    let never = root.join(".git/gate-runs.never");
    assert_eq!(omk(root, &["goal", "verify"]).0, 0);
    assert_eq!(
        (runs(&counter), runs(&never)),
        (2, 2),
        "baseline and head each ran"
    );

    let (code, _, stderr) = omk(root, &["goal", "verify"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        runs(&counter),
        2,
        "the pass on the same tree was not run again"
    );
    assert_eq!(runs(&never), 3, "a failure is run again");
    assert!(
        stderr.contains("omk: gate json passed: reused, it passed on this very tree at seq "),
        "{stderr}"
    );
    let state = show(root)["state"].clone();
    let gate_runs = state["gate_runs"].as_array().unwrap();
    let reused = gate_runs
        .iter()
        .find(|record| record["run"]["gate"] == "json" && !record["run"]["reused_from"].is_null())
        .unwrap();
    let original = gate_runs
        .iter()
        .find(|record| record["seq"] == reused["run"]["reused_from"])
        .expect("the reused run names the run it reuses");
    assert_eq!(original["run"]["gate"], "json");
    assert_eq!(
        reused["run"]["target"]["tree"],
        original["run"]["target"]["tree"]
    );
    assert_eq!(reused["run"]["target"]["commit"], state["result"]["commit"]);
    assert_eq!(reused["run"]["output"], original["run"]["output"]);
    assert_eq!(reused["run"]["duration_ms"], 0);
    let (_, proof, _) = omk(root, &["goal", "proof"]);
    assert!(proof.contains("(reused: same tree at seq "), "{proof}");
    let (_, timeline, _) = omk(root, &["replay"]);
    assert!(
        timeline.contains(": reused, it passed on the same tree ("),
        "{timeline}"
    );

    // A slice's worktree holds another tree: there the gate runs.
    let (code, _, stderr) = omk(root, &["goal", "verify", "--task", "slice-1"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(runs(&counter), 3);
}

/// Issue 13: a `CARGO_TARGET_DIR` in omk's environment would be shared by the baseline and the
/// claimed tree, and Cargo, judging freshness by file times, then runs the other tree's stale
/// test binary (seen: a fixed claimed tree failing with the base's code). Gates start without it.
#[test]
fn gates_do_not_inherit_a_shared_cargo_target_dir() {
    let dir = repo();
    let root = dir.path();
    let seen = root.join(".git/target-dir");
    fs::write(
        root.join("omk.toml"),
        format!(
            "[gates.env]\ncommand = \"echo \\\"[$CARGO_TARGET_DIR]\\\" >> {}\"\n",
            seen.display()
        ),
    )
    .unwrap();
    executed_goal(
        root,
        "slice-1 write src/list.rs ok\nslice-2 write src/parser.rs ok\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_omk"))
        .args(["goal", "verify"])
        .current_dir(root)
        .env("CARGO_TARGET_DIR", root.join(".git/shared-target"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read_to_string(&seen).unwrap(), "[]\n[]\n");
}

#[test]
fn a_long_gate_shows_life_off_a_terminal() {
    let dir = repo();
    let root = dir.path();
    fs::write(
        root.join("omk.toml"),
        "[gates.slow]\ncommand = \"echo compiling crate 1 of 3; sleep 3; echo done\"\n",
    )
    .unwrap();
    executed_goal(root, "slice-1 write src/list.rs json\nslice-2 write src/parser.rs pub fn parse() -> usize { 0 }\n");
    // Every second here, instead of every half minute, to keep the test short.
    let out = Command::new(env!("CARGO_BIN_EXE_omk"))
        .args(["goal", "verify"])
        .current_dir(root)
        .env_remove("OMK_HOME")
        .env("OMK_HEARTBEAT_SECS", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    common::assert_heartbeats(&stderr, "omk: gate slow running ", "compiling crate 1 of 3");
}
