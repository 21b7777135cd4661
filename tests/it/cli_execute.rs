//! `omk goal execute` end to end: real git repositories in temp dirs, the real binary, and the
//! scripted agent in `fixtures/agents/` (a shell script that applies a recorded script, not a
//! model). Parallel and dependent slices, failures and retries, timeouts, write-set
//! violations, `kill -9` and resume, pause and cancel from another process, budgets, a missing
//! agent binary, `clean`, and two waves at once.
// Tests drive real processes: git, omk, and the agents omk starts. The scripted agent keeps
// its state in `.git/` of the test repository: anywhere else in the checkout it would count
// as the agent changing the user's checkout.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::common::{self, agent_cmd, task};

use common::agent_clis::{isolate, runnable, ModelStub, PRESETS};

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use omk::log::{verify_log, LogPaths, VerifyOptions};
use omk::store::StateDir;
use serde_json::Value;

const TWO_SLICES: &str = "Add a --json flag to list. Fix the parser crash on empty input";

struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        Repo {
            dir: common::git_repo(&[
                ("src/list.rs", "pub fn list() {}\n"),
                ("src/parser.rs", "pub fn parse() {}\n"),
                ("README.md", "# demo\n"),
            ]),
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Writes the scripted agent's plan.
    fn script(&self, plan: &str) {
        fs::write(self.root().join(".agent-plan"), plan).unwrap();
    }

    fn omk(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_omk"));
        command
            .args(args)
            .current_dir(self.root())
            .env_remove("OMK_HOME")
            .env_remove("OMK_TEST_NOW")
            .env("SCRIPTED_AGENT_PLAN", self.root().join(".agent-plan"))
            .env(
                "SCRIPTED_AGENT_STATE",
                self.root().join(".git/scripted-agent-state"),
            );
        command
    }

    /// Runs omk to completion: (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.omk(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.omk(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn show(&self) -> Value {
        let (code, stdout, stderr) = self.run(&["goal", "show", "--format", "json"]);
        assert_eq!(code, 0, "{stderr}");
        serde_json::from_str(&stdout).unwrap()
    }

    fn goal_dir(&self) -> PathBuf {
        let ids = StateDir::new(self.root().join(".omk")).goal_ids().unwrap();
        self.root().join(".omk/goals").join(ids.last().unwrap())
    }

    /// Returns where the latest goal's worktrees are: outside its directory (issue 15).
    fn worktrees(&self) -> PathBuf {
        let ids = StateDir::new(self.root().join(".omk")).goal_ids().unwrap();
        self.root().join(".omk/worktrees").join(ids.last().unwrap())
    }

    fn assert_log_verifies(&self) {
        let report = verify_log(
            &LogPaths::resolve(&self.goal_dir()),
            VerifyOptions::all_cores(),
        )
        .unwrap();
        assert!(report.intact, "{report:#?}");
    }

    fn git(&self, args: &[&str]) -> String {
        common::git(self.root(), args)
    }

    /// Waits until the log holds an event of `kind` (a wave in another process got there).
    fn wait_for_event(&self, kind: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if fs::read_to_string(self.goal_dir().join("events.jsonl"))
                .is_ok_and(|log| log.contains(&format!("\"kind\":\"{kind}\"")))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no {kind} event within 20s");
    }
}

/// Returns the pids of processes whose working directory is under `dir`.
fn processes_in(dir: &Path) -> Vec<u32> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(dir))
        })
        .collect()
}

#[test]
fn two_slices_run_in_parallel_worktrees_and_leave_evidence() {
    let repo = Repo::new();
    repo.script(
        "slice-1 write src/list.rs pub fn list() { println!(\"json\"); }\n\
         slice-1 usage 100 20 0.01\n\
         slice-1 say added the flag\n\
         slice-2 write src/parser.rs pub fn parse() -> usize { 0 }\n\
         slice-2 commit fix the parser\n\
         slice-2 usage 50 10\n",
    );
    let (code, stdout, stderr) =
        repo.run(&["goal", "run", TWO_SLICES, "--agent-cmd", &agent_cmd()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("executed goal ")
            && stdout.contains(
                ": 2 of 2 slices done (2 agent runs); now executing; next: omk goal verify "
            ),
        "{stdout}"
    );
    let show = repo.show();
    let id = show["state"]["goal_id"].as_str().unwrap().to_owned();
    for (slice, file) in [("slice-1", "src/list.rs"), ("slice-2", "src/parser.rs")] {
        let task = task(&show, slice);
        assert_eq!(task["status"], "done");
        let run = &task["runs"][0];
        assert_eq!(run["started"]["branch"], format!("omk/{id}/{slice}"));
        assert_eq!(run["finished"]["exit_code"], 0);
        assert_eq!(run["changes"]["changed_files"], serde_json::json!([file]));
        assert_eq!(run["changes"]["outside_write_set"], serde_json::json!([]));
        let head = run["changes"]["head_commit"].as_str().unwrap();
        assert_eq!(
            repo.git(&["rev-parse", &format!("omk/{id}/{slice}")]),
            head,
            "the branch holds the recorded commit"
        );
        assert!(repo.worktrees().join(slice).join(file).is_file());
        // Issue 15: the worktree is outside the goal's directory, away from its log.
        let worktree = run["started"]["worktree"].as_str().unwrap();
        assert!(
            !Path::new(worktree).starts_with(repo.goal_dir()),
            "{worktree}"
        );
    }
    // The agent's own commit is kept; what slice-1's agent left uncommitted, omk committed.
    assert_eq!(
        task(&show, "slice-1")["runs"][0]["changes"]["committed_leftovers"],
        true
    );
    let slice_2 = &task(&show, "slice-2")["runs"][0]["changes"];
    assert_eq!(slice_2["committed_leftovers"], false);
    assert_eq!(
        repo.git(&[
            "log",
            "-1",
            "--format=%an %s",
            slice_2["head_commit"].as_str().unwrap()
        ]),
        "scripted-agent fix the parser"
    );
    // The claim is kept as a claim, apart from the evidence.
    assert_eq!(
        task(&show, "slice-1")["runs"][0]["finished"]["claim"],
        "added the flag"
    );
    assert_eq!(task(&show, "agent-execution")["status"], "done");
    let budget = &show["state"]["budget"];
    assert_eq!(
        (
            budget["input_tokens"].as_u64(),
            budget["output_tokens"].as_u64(),
            budget["usd_micros"].as_u64()
        ),
        (Some(150), Some(30), Some(10_000))
    );
    assert_eq!(
        budget["reports_without_usd"], 1,
        "slice-2's agent did not say its cost"
    );
    // The main checkout is untouched.
    assert_eq!(
        fs::read_to_string(repo.root().join("src/list.rs")).unwrap(),
        "pub fn list() {}\n"
    );
    repo.assert_log_verifies();
}

#[test]
fn a_dependent_slice_starts_from_its_dependencys_branch() {
    let repo = Repo::new();
    repo.script(
        "slice-1 write src/list.rs pub fn list() { 1 }\n\
         slice-2 write src/list.rs pub fn list() { 2 }\n",
    );
    let prompt = "- Add a --json flag to the list command\n- Make the list command sort its output";
    let (code, stdout, stderr) = repo.run(&[
        "goal",
        "run",
        prompt,
        "--agent-cmd",
        &agent_cmd(),
        "--max-agents",
        "2",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let show = repo.show();
    assert_eq!(
        task(&show, "slice-2")["spec"]["depends_on"],
        serde_json::json!(["slice-1"])
    );
    let first_head = task(&show, "slice-1")["runs"][0]["changes"]["head_commit"]
        .as_str()
        .unwrap();
    assert_eq!(
        task(&show, "slice-2")["runs"][0]["started"]["start_commit"],
        first_head
    );
    let second_head = task(&show, "slice-2")["runs"][0]["changes"]["head_commit"]
        .as_str()
        .unwrap()
        .to_owned();
    repo.git(&["merge-base", "--is-ancestor", first_head, &second_head]);
}

#[test]
fn a_failing_agent_is_retried_then_waits_for_a_fix_round() {
    let repo = Repo::new();
    repo.script("slice-1 fail 3\nslice-2 write src/parser.rs ok\n");
    let (code, stdout, _) = repo.run(&["goal", "run", TWO_SLICES, "--agent-cmd", &agent_cmd()]);
    assert_eq!(code, 1);
    // Issue 11: a slice that failed its retries is not final; the next step is a fix round.
    assert!(
        stdout.contains("1 of 2 slices done (4 agent runs); now executing; next: slices failed every attempt: slice-1: omk goal continue "),
        "{stdout}"
    );
    let show = repo.show();
    let slice = task(&show, "slice-1");
    assert_eq!(
        (slice["status"].as_str(), slice["retries"].as_u64()),
        (Some("failed"), Some(2))
    );
    assert_eq!(
        slice["runs"].as_array().unwrap().len(),
        3,
        "the first run and two retries"
    );
    assert_eq!(slice["runs"][2]["finished"]["exit_code"], 3);
    assert_eq!(
        slice["runs"][2]["finished"]["last_lines"], "scripted failure",
        "a failed run keeps its last output lines"
    );
    assert_eq!(show["state"]["status"], "executing");
    // Issue 11: the proof names only steps the goal accepts: no verify while a slice failed.
    let (code, proof, _) = repo.run(&["goal", "proof", "--format", "json"]);
    assert_eq!(code, 1);
    let proof: Value = serde_json::from_str(&proof).unwrap();
    let blockers = proof["verdict"]["blockers"].as_array().unwrap();
    let task_blocker = blockers
        .iter()
        .find(|blocker| {
            blocker["kind"] == "task_not_done"
                && blocker["detail"].as_str().unwrap().contains("slice-1")
        })
        .unwrap();
    assert!(
        task_blocker["next_step"]
            .as_str()
            .unwrap()
            .starts_with("omk goal continue "),
        "{task_blocker}"
    );
    repo.assert_log_verifies();
}

#[test]
fn a_retry_succeeds_from_a_clean_worktree() {
    let repo = Repo::new();
    repo.script("slice-1 write src/list.rs first try\nslice-1 fail-first 4\nslice-1 write src/list.rs second try\nslice-2 write src/parser.rs ok\n");
    let (code, stdout, stderr) =
        repo.run(&["goal", "run", TWO_SLICES, "--agent-cmd", &agent_cmd()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let slice = task(&repo.show(), "slice-1").clone();
    assert_eq!(
        (slice["status"].as_str(), slice["retries"].as_u64()),
        (Some("done"), Some(1))
    );
    // Issue 11: the retry waited (1s, jittered over 0.5s to 1.5s), and the log says how long.
    let (_, timeline, _) = repo.run(&["replay", "latest"]);
    let said = "slice-1 will be retried in ";
    let at = timeline.find(said).unwrap_or_else(|| panic!("{timeline}")) + said.len();
    let wait: f64 = timeline[at..].split_once('s').unwrap().0.parse().unwrap();
    assert!((0.5..=1.5).contains(&wait), "{wait}");
    assert_eq!(slice["runs"][0]["finished"]["exit_code"], 4);
    // The failed attempt's edit did not leak into the retry: one commit, from the base.
    assert_eq!(
        slice["runs"][1]["changes"]["commits"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        fs::read_to_string(repo.worktrees().join("slice-1/src/list.rs")).unwrap(),
        "second try\n"
    );
    // The retry is told why the first attempt failed; the first attempt was told nothing.
    let first = fs::read_to_string(repo.goal_dir().join("prompts/slice-1-0.md")).unwrap();
    assert!(!first.contains("previous attempt"), "{first}");
    let second = fs::read_to_string(repo.goal_dir().join("prompts/slice-1-1.md")).unwrap();
    assert!(
        second.contains("## Your previous attempt failed\n\nThis is attempt 2 of 3. The last one failed: attempt 1 failed: the agent exited with status 4: scripted failure on the first attempt."),
        "{second}"
    );
}

#[test]
fn a_hanging_agent_is_killed_at_its_timeout() {
    let repo = Repo::new();
    repo.script("slice-1 hang\nslice-2 write src/parser.rs ok\n");
    let started = Instant::now();
    let (code, stdout, _) = repo.run(&[
        "goal",
        "run",
        TWO_SLICES,
        "--agent-cmd",
        &agent_cmd(),
        "--agent-timeout",
        "1",
    ]);
    assert_eq!(code, 1, "{stdout}");
    assert!(started.elapsed() < Duration::from_secs(30));
    let slice = task(&repo.show(), "slice-1").clone();
    assert_eq!(slice["status"], "failed");
    for run in slice["runs"].as_array().unwrap() {
        assert_eq!(run["finished"]["timed_out"], true);
    }
    assert_eq!(
        processes_in(&repo.worktrees()),
        Vec::<u32>::new(),
        "no agent outlives its timeout"
    );
}

#[test]
fn a_long_agent_shows_life_off_a_terminal() {
    let repo = Repo::new();
    repo.script("slice-1 say reading the code\nslice-1 sleep 3\nslice-1 write src/list.rs json\nslice-2 write src/parser.rs ok\n");
    let out = repo
        .omk(&["goal", "run", TWO_SLICES, "--agent-cmd", &agent_cmd()])
        .env("OMK_HEARTBEAT_SECS", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    common::assert_heartbeats(&stderr, "omk: slice-1: agent running ", "reading the code");
}

/// Issue 10: the planner's write set is a guess, and correct work outside it was failed.
#[test]
fn a_change_beyond_the_plan_is_widened_and_a_change_to_another_slices_files_fails() {
    // A test file beyond the planned write set: widened, recorded, and the slice passes.
    let repo = Repo::new();
    repo.script(
        "slice-1 write src/list.rs ok\nslice-1 write tests/list_test.rs a test\nslice-2 write src/parser.rs ok\n",
    );
    let (code, stdout, stderr) =
        repo.run(&["goal", "run", TWO_SLICES, "--agent-cmd", &agent_cmd()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("; widened beyond its planned write set: tests/list_test.rs"),
        "{stderr}"
    );
    let slice = task(&repo.show(), "slice-1").clone();
    assert_eq!(slice["status"], "done");
    let changes = &slice["runs"][0]["changes"];
    assert_eq!(
        changes["widened"],
        serde_json::json!(["tests/list_test.rs"])
    );
    assert_eq!(changes["outside_write_set"], serde_json::json!([]));

    // A file another slice owns: a violation, and the slice fails naming it.
    let repo = Repo::new();
    repo.script("slice-1 write src/list.rs ok\nslice-1 write src/parser.rs mine now\nslice-2 write src/parser.rs ok\n");
    let (code, _, stderr) = repo.run(&["goal", "run", TWO_SLICES, "--agent-cmd", &agent_cmd()]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("slice-1: failed (changed files outside its write set that another slice owns or that are protected (or any, under a strict [scope]): src/parser.rs)"),
        "{stderr}"
    );
    let slice = task(&repo.show(), "slice-1").clone();
    assert_eq!(slice["status"], "failed");
    let run = &slice["runs"][0];
    assert_eq!(
        run["changes"]["outside_write_set"],
        serde_json::json!(["src/parser.rs"])
    );
    assert_eq!(
        run["finished"]["exit_code"], 0,
        "the agent itself succeeded; the policy failed the task"
    );
}

#[test]
fn kill_9_mid_wave_then_execute_resumes_without_redoing_finished_work() {
    let repo = Repo::new();
    repo.script("slice-1 hang\nslice-2 write src/parser.rs ok\n");
    let (code, _, _) = repo.run(&["goal", "plan", TWO_SLICES, "--agent-cmd", &agent_cmd()]);
    assert_eq!(code, 0);
    let mut wave = repo.spawn(&["goal", "execute", "--max-agents", "2"]);
    repo.wait_for_event("changes_recorded");
    let wave_pid = wave.id();
    // Wait until slice-1's agent is running, then kill the wave as a power cut would.
    std::thread::sleep(Duration::from_millis(300));
    unsafe { libc_kill(wave_pid) };
    let _ = wave.wait();
    let orphans = processes_in(&repo.worktrees().join("slice-1"));
    assert!(
        !orphans.is_empty(),
        "the hanging agent outlived the killed wave"
    );
    repo.script("slice-1 write src/list.rs fixed\nslice-2 fail 1\n");
    let (code, stdout, stderr) = repo.run(&["goal", "execute"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("slice-1: recovered from a crashed wave (the lease holder"),
        "{stderr}"
    );
    let show = repo.show();
    let slice_1 = task(&show, "slice-1");
    assert_eq!(
        (slice_1["status"].as_str(), slice_1["retries"].as_u64()),
        (Some("done"), Some(1))
    );
    let slice_2 = task(&show, "slice-2");
    assert_eq!(
        slice_2["runs"].as_array().unwrap().len(),
        1,
        "finished work is not redone"
    );
    assert_eq!(slice_2["status"], "done");
    for pid in orphans {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists()
                || fs::read_to_string(format!("/proc/{pid}/stat"))
                    .unwrap()
                    .contains(") Z"),
            "leftover agent {pid} was killed"
        );
    }
    repo.assert_log_verifies();
}

/// Sends SIGKILL to `pid`.
unsafe fn libc_kill(pid: u32) {
    let status = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn cancel_from_another_process_stops_the_wave_and_its_agents() {
    let repo = Repo::new();
    repo.script("slice-1 hang\nslice-2 hang\n");
    repo.run(&["goal", "plan", TWO_SLICES, "--agent-cmd", &agent_cmd()]);
    let wave = repo.spawn(&["goal", "execute"]);
    repo.wait_for_event("agent_started");
    std::thread::sleep(Duration::from_millis(300));
    let asked = Instant::now();
    let (code, _, stderr) = repo.run(&["goal", "cancel", "latest", "--reason", "wrong approach"]);
    assert_eq!(code, 0, "{stderr}");
    let out = wave.wait_with_output().unwrap();
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "the wave stopped promptly"
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("stopping the wave: the goal was cancelled")
    );
    let show = repo.show();
    assert_eq!(show["state"]["status"], "cancelled");
    for slice in ["slice-1", "slice-2"] {
        let task = task(&show, slice);
        assert_eq!(task["status"], "cancelled");
        assert_eq!(task["runs"][0]["finished"]["interrupted"], true);
    }
    assert_eq!(
        processes_in(&repo.worktrees()),
        Vec::<u32>::new(),
        "no orphaned agents"
    );
    repo.assert_log_verifies();
}

#[test]
fn pause_interrupts_without_spending_a_retry_and_resume_finishes() {
    let repo = Repo::new();
    repo.script("slice-1 hang\nslice-2 write src/parser.rs ok\n");
    repo.run(&["goal", "plan", TWO_SLICES, "--agent-cmd", &agent_cmd()]);
    let wave = repo.spawn(&["goal", "execute", "--max-agents", "1"]);
    repo.wait_for_event("agent_started");
    repo.run(&["goal", "pause", "latest"]);
    let out = wave.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let show = repo.show();
    assert_eq!(
        (
            task(&show, "slice-1")["status"].as_str(),
            task(&show, "slice-1")["retries"].as_u64()
        ),
        (Some("pending"), Some(0))
    );
    let (code, _, stderr) = repo.run(&["goal", "execute"]);
    assert_eq!(code, 1, "a paused goal does not execute");
    assert!(
        stderr.contains("is paused: execute is not allowed"),
        "{stderr}"
    );
    repo.script("slice-1 write src/list.rs ok\nslice-2 write src/parser.rs ok\n");
    repo.run(&["goal", "resume", "latest"]);
    let (code, stdout, stderr) = repo.run(&["goal", "execute"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
}

#[test]
fn a_spent_budget_stops_launching_and_budget_add_lets_it_continue() {
    let repo = Repo::new();
    repo.script(
        "slice-1 write src/list.rs ok\nslice-1 usage 900 200\nslice-2 write src/parser.rs ok\n",
    );
    let (code, stdout, _) = repo.run(&[
        "goal",
        "run",
        TWO_SLICES,
        "--agent-cmd",
        &agent_cmd(),
        "--budget-tokens",
        "1000",
        "--max-agents",
        "1",
    ]);
    assert_eq!(code, 1, "{stdout}");
    let show = repo.show();
    assert_eq!(show["state"]["status"], "needs_more_budget");
    assert_eq!(
        task(&show, "slice-2")["runs"].as_array().unwrap().len(),
        0,
        "nothing launched after the budget was spent"
    );
    let (code, _, stderr) = repo.run(&["goal", "resume", "latest"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("has reached its tokens limit"), "{stderr}");
    repo.run(&["goal", "budget-add", "latest", "--tokens", "5000"]);
    repo.run(&["goal", "resume", "latest"]);
    let (code, stdout, stderr) = repo.run(&["goal", "execute"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
}

#[test]
fn a_missing_agent_binary_is_an_infrastructure_failure_the_goal_recovers_from() {
    let repo = Repo::new();
    repo.script("slice-1 write src/list.rs ok\nslice-2 write src/parser.rs ok\n");
    // A PATH with git and sh but no agent CLIs.
    let bin = tempfile::tempdir().unwrap();
    for tool in ["git", "sh"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .unwrap();
        std::os::unix::fs::symlink(
            String::from_utf8(found.stdout).unwrap().trim(),
            bin.path().join(tool),
        )
        .unwrap();
    }
    let mut command = repo.omk(&["goal", "run", TWO_SLICES, "--agent", "kimi"]);
    let out = command.env("PATH", bin.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let show = repo.show();
    assert_eq!(show["state"]["status"], "failed_infra");
    let reason = show["state"]["outcome"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("cannot start the kimi agent `kimi`"),
        "{reason}"
    );
    assert_eq!(
        task(&show, "slice-1")["status"],
        "pending",
        "not the task's fault: no retry spent"
    );
    repo.run(&["goal", "resume", "latest"]);
    let (code, stdout, stderr) = repo.run(&[
        "goal",
        "execute",
        "--agent",
        "command",
        "--agent-cmd",
        &agent_cmd(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
}

#[test]
fn clean_removes_worktrees_of_a_finished_goal_and_keeps_branches() {
    let repo = Repo::new();
    repo.script("slice-1 write src/list.rs ok\nslice-2 write src/parser.rs ok\n");
    repo.run(&["goal", "run", TWO_SLICES, "--agent-cmd", &agent_cmd()]);
    let (code, _, stderr) = repo.run(&["goal", "clean", "latest"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("is executing: its worktrees may still be needed"),
        "{stderr}"
    );
    // Uncommitted work in a worktree is not thrown away without --force.
    fs::write(repo.worktrees().join("slice-1/notes.txt"), "mine").unwrap();
    repo.run(&["goal", "cancel", "latest"]);
    let (code, stdout, _) = repo.run(&["goal", "clean", "latest"]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("removed 1 worktrees") && stdout.contains("kept slice-1"),
        "{stdout}"
    );
    let (code, stdout, _) = repo.run(&["goal", "clean", "latest", "--force"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(!repo.worktrees().join("slice-1").exists());
    let id = repo.show()["state"]["goal_id"].as_str().unwrap().to_owned();
    repo.git(&["rev-parse", "--verify", &format!("omk/{id}/slice-1")]);
    let show = repo.show();
    assert_eq!(task(&show, "slice-1")["runs"][0]["removed"]["forced"], true);
    assert_eq!(
        task(&show, "slice-2")["runs"][0]["removed"]["forced"],
        false
    );
    repo.assert_log_verifies();
}

#[test]
fn two_waves_on_one_goal_never_run_the_same_task() {
    let repo = Repo::new();
    repo.script("slice-1 sleep 1\nslice-1 write src/list.rs ok\nslice-2 sleep 1\nslice-2 write src/parser.rs ok\n");
    repo.run(&["goal", "plan", TWO_SLICES, "--agent-cmd", &agent_cmd()]);
    let first = repo.spawn(&["goal", "execute", "--max-agents", "2"]);
    let second = repo.spawn(&["goal", "execute", "--max-agents", "2"]);
    let (first, second) = (
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    );
    assert!(first.status.code().is_some() && second.status.code().is_some());
    let show = repo.show();
    for slice in ["slice-1", "slice-2"] {
        assert_eq!(
            task(&show, slice)["runs"].as_array().unwrap().len(),
            1,
            "{slice} ran once"
        );
        assert_eq!(task(&show, slice)["status"], "done");
    }
    let runs = fs::read_to_string(repo.root().join(".git/scripted-agent-state/runs")).unwrap();
    assert_eq!(runs.lines().count(), 2, "{runs}");
    repo.assert_log_verifies();
}

#[test]
fn omk_toml_selects_the_agent_and_a_bad_key_names_its_line() {
    let repo = Repo::new();
    repo.script("slice-1 write src/list.rs ok\nslice-2 write src/parser.rs ok\n");
    fs::write(
        repo.root().join("omk.toml"),
        format!(
            "[agent]\nname = \"command\"\ncmd = \"{}\"\nmax_agents = 1\ntimeout = \"5m\"\n",
            agent_cmd()
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = repo.run(&["goal", "run", TWO_SLICES]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("2 of 2 slices done"), "{stdout}");
    fs::write(
        repo.root().join("omk.toml"),
        "[agent]\nname = \"command\"\nmodel = \"big\"\n",
    )
    .unwrap();
    let (code, _, stderr) = repo.run(&["goal", "execute"]);
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with(&format!(
            "omk: {}:3: unknown field `model`",
            repo.root().join("omk.toml").display()
        )),
        "{stderr}"
    );
    let (code, _, stderr) = repo.run(&["goal", "execute", "--config", "missing.toml"]);
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("omk: cannot read missing.toml"),
        "{stderr}"
    );
}

/// Returns the data of every event of `kind` in the goal's log.
fn events_of(repo: &Repo, kind: &str) -> Vec<Value> {
    fs::read_to_string(repo.goal_dir().join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|event| event["kind"] == kind)
        .map(|event| event["data"].clone())
        .collect()
}

/// Waits until the log holds `count` events of `kind`.
fn wait_for_events(repo: &Repo, kind: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let started = StateDir::new(repo.root().join(".omk"))
            .goal_ids()
            .is_ok_and(|ids| !ids.is_empty());
        if started && events_of(repo, kind).len() >= count {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("fewer than {count} {kind} events within 20s");
}

#[test]
fn ctrl_c_stops_every_agent_and_what_it_started_records_them_pending_and_the_goal_resumes() {
    let repo = Repo::new();
    repo.script(
        "slice-1 background\nslice-1 hang-first\nslice-1 write src/list.rs pub fn list() -> &'static str { \"json\" }\n\
         slice-2 background\nslice-2 hang-first\nslice-2 write src/parser.rs pub fn parse() -> usize { 0 }\n",
    );
    let agent = agent_cmd();
    let started = Instant::now();
    let child = repo.spawn(&["goal", "run", TWO_SLICES, "--agent-cmd", &agent]);
    wait_for_events(&repo, "agent_started", 2);
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) touches no memory; the pid is our own child's.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(30));
    let last = stderr.lines().last().unwrap();
    assert!(
        last.contains("interrupted: stopped the agents of slice-1, slice-2 (pending again); nothing is left running. Resume with: omk goal execute g-"),
        "{stderr}"
    );
    // Nothing of either agent's process group is left.
    for started in events_of(&repo, "agent_started") {
        let group = started["pid"].as_i64().unwrap() as i32;
        assert_eq!(omk::shell::procfs::group_members(group), Vec::<u32>::new());
    }
    let finished = events_of(&repo, "agent_finished");
    assert_eq!(finished.len(), 2);
    assert!(finished.iter().all(|run| run["interrupted"] == true));
    let show = repo.show();
    assert_eq!(show["state"]["status"], "executing");
    for slice in ["slice-1", "slice-2"] {
        assert_eq!(task(&show, slice)["status"], "pending", "{slice}");
    }
    repo.assert_log_verifies();

    // Resuming is the ordinary path: the next execute completes the goal.
    let (code, stdout, stderr) = repo.run(&["goal", "execute"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("2 of 2 slices done"), "{stdout}");
    assert!(
        stderr.contains("done (") && stderr.contains("it left 1 process running, which omk killed"),
        "{stderr}"
    );
    let finished = events_of(&repo, "agent_finished");
    assert_eq!(finished.len(), 4);
    assert!(finished[2..].iter().all(|run| run["leftovers_killed"] == 1));
    repo.assert_log_verifies();
}

/// Issue 18: an agent (opencode, through an inherited `$PWD`) edited the user's own checkout
/// while omk recorded its slice as done with 0 files changed.
#[test]
fn an_agent_that_changes_the_users_checkout_fails_loudly_and_is_not_retried() {
    let repo = Repo::new();
    let target = repo.root().join("src/list.rs");
    let agent = format!(
        "cat >/dev/null; echo 'touched by the agent' >> '{}'",
        target.display()
    );
    let (code, stdout, stderr) = repo.run(&[
        "goal",
        "run",
        "Add a --json flag to the list command",
        "--agent-cmd",
        &agent,
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("failed (the agent changed your own checkout at ")
            && stderr.contains(": src/list.rs; omk does not undo it"),
        "{stderr}"
    );
    let show = repo.show();
    let slice = task(&show, "slice-1");
    assert_eq!(slice["status"], "failed");
    assert_eq!(slice["runs"].as_array().unwrap().len(), 1, "no retry");
    assert_eq!(show["state"]["status"], "executing");
    // omk never writes to the user's checkout, not even to undo what the agent did.
    assert!(fs::read_to_string(&target)
        .unwrap()
        .ends_with("touched by the agent\n"));
}

/// Issue 18: agents that exit 0 after an error (aider always does; gemini, claude with
/// `is_error`) were recorded as done.
#[test]
fn an_error_in_the_agents_stream_fails_the_run_and_a_used_up_quota_holds_the_goal() {
    let repo = Repo::new();
    let quota = r#"cat >/dev/null; echo change >> src/list.rs; echo '{"type":"result","subtype":"success","is_error":true,"result":"Credit balance is too low"}'"#;
    let (code, stdout, stderr) = repo.run(&[
        "goal",
        "run",
        "Add a --json flag to the list command",
        "--agent-cmd",
        quota,
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("slice-1: pending (the agent's provider says its quota or credits are used up (exit status 0): Credit balance is too low)"),
        "{stderr}"
    );
    let show = repo.show();
    assert_eq!(show["state"]["status"], "needs_more_budget");
    assert_eq!(task(&show, "slice-1")["status"], "pending");
    assert_eq!(task(&show, "slice-1")["retries"], 0, "no retry is spent");

    let repo = Repo::new();
    let failing = r#"cat >/dev/null; echo '{"type":"result","subtype":"success","is_error":true,"result":"API Error: 500 internal"}'"#;
    let (code, _, stderr) = repo.run(&[
        "goal",
        "run",
        "Add a --json flag to the list command",
        "--agent-cmd",
        failing,
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("slice-1: failed (the agent reported a failure (exit status 0): API Error: 500 internal)"),
        "{stderr}"
    );
    let show = repo.show();
    assert_eq!(task(&show, "slice-1")["status"], "failed");
    assert_eq!(
        task(&show, "slice-1")["runs"].as_array().unwrap().len(),
        3,
        "a reported failure is retried like any other"
    );
}

/// Issue 18: each real agent CLI installed here runs through its preset end to end, pointed at
/// the local model stub: it must edit in its worktree, leave the user's checkout alone, and
/// have its usage read. A CLI that is not installed is skipped, saying so: CI installs none.
#[test]
fn installed_agent_clis_run_through_their_presets_against_a_local_model_stub() {
    let mut ran = Vec::new();
    for (preset, program, install) in PRESETS {
        if !runnable(preset, program, install) {
            continue;
        }
        let repo = Repo::new();
        let stub = ModelStub::start(&[
            "--path",
            "src/hello.txt",
            "--content",
            "hello from the stub",
        ]);
        let home = tempfile::tempdir().unwrap();
        let env = stub.environment(preset, home.path());
        let mut command = repo.omk(&[
            "goal",
            "run",
            "Add a hello file",
            "--agent",
            preset,
            "--agent-timeout",
            "180s",
        ]);
        isolate(&mut command, &env);
        let out = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{preset}: {stderr}");
        let show = repo.show();
        let slice = task(&show, "slice-1");
        assert_eq!(slice["status"], "done", "{preset}: {stderr}");
        let run = &slice["runs"][0];
        assert_eq!(
            run["changes"]["changed_files"],
            serde_json::json!(["src/hello.txt"]),
            "{preset}: only the agent's edit, none of its own files"
        );
        assert!(
            show["state"]["budget"]["input_tokens"].as_u64() > Some(0),
            "{preset}: usage is read from its stream"
        );
        assert_eq!(
            repo.git(&["status", "--porcelain"]),
            "",
            "{preset}: the checkout is untouched"
        );
        ran.push(preset);
    }
    eprintln!("ran for real: {ran:?}");
}

#[test]
fn a_rate_limited_agent_waits_and_starts_again_without_spending_a_retry() {
    let repo = Repo::new();
    let agent = r#"cat >/dev/null; marker="$OMK_WORKTREE/../rate-limited-once"
if [ -f "$marker" ]; then echo 'pub fn list() -> &'"'"'static str { "json" }' > src/list.rs
else touch "$marker"; echo '{"type":"result","subtype":"success","is_error":true,"api_error_status":429,"result":"API Error: 429 rate_limit_error"}'; fi"#;
    let started = Instant::now();
    let (code, stdout, stderr) = repo.run(&[
        "goal",
        "run",
        "Add a --json flag to the list command",
        "--agent-cmd",
        agent,
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // The wait is 5s spread by jitter over 2.5s to 7.5s, and recorded in the log.
    let said = "slice-1: pending (the provider rate-limited the agent (exit status 0): API Error: 429 rate_limit_error; omk starts it again in ";
    let at = stderr.find(said).unwrap_or_else(|| panic!("{stderr}")) + said.len();
    let (wait, rest) = stderr[at..].split_once('s').unwrap();
    assert!(rest.starts_with(" without spending a retry)"), "{stderr}");
    let wait: f64 = wait.parse().unwrap();
    assert!((2.5..=7.5).contains(&wait), "{wait}");
    assert!(
        started.elapsed() >= Duration::from_secs_f64(wait),
        "it waited"
    );
    let (_, timeline, _) = repo.run(&["replay", "latest"]);
    assert!(
        timeline.contains(&format!(
            "omk starts it again in {wait:.1}s without spending a retry"
        )),
        "{timeline}"
    );
    let show = repo.show();
    let slice = task(&show, "slice-1");
    assert_eq!(slice["status"], "done");
    assert_eq!(slice["retries"], 0);
    assert_eq!(slice["runs"].as_array().unwrap().len(), 2);
}

/// Issue 10: an agent that changed nothing was marked done, and the goal reached `ready` with a
/// claimed tree identical to the base commit.
#[test]
fn an_agent_that_changes_nothing_fails_with_no_change() {
    let repo = Repo::new();
    let (code, stdout, stderr) = repo.run(&[
        "goal",
        "run",
        "Add a --json flag to the list command",
        "--agent-cmd",
        "cat >/dev/null; echo 'All done, nothing needed changing.'",
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("slice-1: failed (no change: the agent exited 0 without changing any file (it said: All done, nothing needed changing.))"),
        "{stderr}"
    );
    let show = repo.show();
    assert_eq!(task(&show, "slice-1")["status"], "failed");
    assert_eq!(show["state"]["status"], "executing");
}

/// Issue 10: with an agent, the goal can be planned by the agent itself; an invalid plan, or
/// one made by touching files, falls back to the built-in decomposition, saying why.
#[test]
fn the_agent_can_plan_the_goal_and_a_bad_plan_falls_back_to_the_built_in_one() {
    let plan = r#"{"tasks":[{"id":"json-flag","title":"Add --json to list","description":"Add the --json flag to the list command","kind":"implementation","owner_role":"implementer","depends_on":[],"read_set":["src/list.rs"],"write_set":["src/list.rs","tests/list.rs"],"risk":"low","acceptance":["list --json prints JSON"],"max_retries":1,"required":true}]}"#;
    let request = "Add a --json flag to the list command";
    let agent = agent_cmd();
    let plan_args = [
        "goal",
        "plan",
        request,
        "--agent-cmd",
        &agent,
        "--planner",
        "agent",
    ];

    let repo = Repo::new();
    repo.script(&format!("plan write omk-plan.json {plan}\n"));
    let (code, stdout, stderr) = repo.run(&plan_args);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let planned = events_of(&repo, "tasks_planned");
    assert_eq!(planned[0]["source"], "agent");
    let slice = &planned[0]["tasks"][0];
    assert_eq!(slice["id"], "json-flag");
    assert_eq!(
        slice["write_set"],
        serde_json::json!(["src/list.rs", "tests/list.rs"])
    );
    assert_eq!(
        repo.git(&["status", "--porcelain", "--", "src", "tests"]),
        "",
        "planning left the checkout alone"
    );

    for (script, reason) in [
        (
            "plan write omk-plan.json this is not json\n",
            "the planner's reply is not a valid",
        ),
        (
            "plan write src/list.rs changed while planning\nplan write omk-plan.json {}\n",
            "the planning agent changed files while planning: src/list.rs",
        ),
        (
            "plan say nothing to plan\n",
            "the planning agent wrote no omk-plan.json",
        ),
    ] {
        let repo = Repo::new();
        repo.script(script);
        let (code, stdout, stderr) = repo.run(&plan_args);
        assert_eq!(code, 0, "{stdout}{stderr}");
        let fell_back = events_of(&repo, "planner_fell_back");
        assert_eq!(fell_back.len(), 1, "{script}");
        assert_eq!(fell_back[0]["planner"], "the command agent");
        assert!(
            fell_back[0]["reason"].as_str().unwrap().starts_with(reason),
            "{script}: {}",
            fell_back[0]["reason"]
        );
        assert_eq!(
            events_of(&repo, "tasks_planned")[0]["source"],
            "deterministic"
        );
    }
}

/// Issue 10: a plan a person can fix, before execution starts.
#[test]
fn a_person_can_edit_the_plan_before_execution_and_not_after() {
    let repo = Repo::new();
    let agent = agent_cmd();
    let (code, _, stderr) = repo.run(&["goal", "plan", TWO_SLICES, "--agent-cmd", &agent]);
    assert_eq!(code, 0, "{stderr}");

    // In $EDITOR: rename the first slice and give it a file to create.
    let (code, stdout, stderr) = repo
        .omk(&["goal", "edit-plan", "--note", "one slice is enough"])
        .env(
            "EDITOR",
            "sed -i -e 's/\"slice-1\"/\"json-flag\"/' -e 's/\"src\\/list.rs\"/\"src\\/json.rs\"/'",
        )
        .env_remove("VISUAL")
        .output()
        .map(|out| {
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
        .unwrap();
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("edited the plan of goal g-"), "{stdout}");
    let edited = events_of(&repo, "plan_edited");
    assert_eq!(edited.len(), 1);
    assert_eq!(edited[0]["note"], "one slice is enough");
    let show = repo.show();
    let first = &show["state"]["tasks"][0]["spec"];
    assert_eq!(first["id"], "json-flag");
    assert!(first["write_set"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("src/json.rs")));

    // An invalid plan is refused, and nothing is recorded.
    let bad = repo.root().join(".git/bad-plan.json");
    fs::write(&bad, r#"{"tasks": []}"#).unwrap();
    let bad_path = bad.display().to_string();
    let (code, _, stderr) = repo.run(&["goal", "edit-plan", "--file", &bad_path]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("the edited plan is not valid: the planner proposed 0 slices"),
        "{stderr}"
    );
    assert_eq!(events_of(&repo, "plan_edited").len(), 1);

    // Once execution has started, the plan is what ran: editing it is refused.
    repo.script("json-flag write src/json.rs done\nslice-2 write src/parser.rs done\n");
    let (code, _, stderr) = repo.run(&["goal", "execute"]);
    assert_eq!(code, 0, "{stderr}");
    let plan = repo.root().join(".git/plan.json");
    fs::write(&plan, serde_json::json!({"tasks": [first]}).to_string()).unwrap();
    let plan_path = plan.display().to_string();
    let (code, _, stderr) = repo.run(&["goal", "edit-plan", "--file", &plan_path]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("edit-plan is not allowed"), "{stderr}");
}
