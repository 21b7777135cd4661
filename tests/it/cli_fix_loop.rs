//! The fix loop end to end (issue 11): `omk goal run --until-ready` and `omk goal continue`
//! with the scripted agent in a real git repository and real gates from `omk.toml`. The agent
//! gets a slice wrong, and gets it right only when its prompt carries the failing gate's
//! output; the loop must find that, reopen the right slice, and stop where a person decides.
// Tests drive real processes: git and the binary.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::common::{self, agent_cmd, task};

use common::agent_clis::{isolate, runnable, ModelStub, PRESETS};

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const TWO_SLICES: &str = "Add a --json flag to list. Fix the parser crash on empty input";

/// The parser gate prints what it expected on failure: the feedback the fix needs.
const GATES: &str = "[gates.json]\ncommand = \"grep -q json src/list.rs\"\n\n[gates.parser]\ncommand = \"grep -q usize src/parser.rs || { echo 'parser gate: parse must return usize-sized-count in src/parser.rs'; exit 1; }\"\n";

/// Slice 1 is right at once; slice 2 is wrong until its prompt quotes the parser gate.
const WRONG_THEN_RIGHT: &str =
    "slice-1 write src/list.rs pub fn list() -> &'static str { \"json\" }\n\
slice-2 write src/parser.rs pub fn parse() -> u8 { 0 }\n\
slice-2 when-prompt usize-sized-count write src/parser.rs pub fn parse() -> usize { 0 }\n\
slice-2 say fixed\n";

struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new(script: &str) -> Repo {
        let dir = common::git_repo(&[
            ("src/list.rs", "pub fn list() {}\n"),
            ("src/parser.rs", "pub fn parse() {}\n"),
        ]);
        fs::write(dir.path().join("omk.toml"), GATES).unwrap();
        fs::write(dir.path().join(".git/agent-plan"), script).unwrap();
        Repo { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_omk"));
        command
            .args(args)
            .current_dir(self.root())
            .env_remove("OMK_HOME")
            .env_remove("OMK_TEST_NOW")
            .env("SCRIPTED_AGENT_PLAN", self.root().join(".git/agent-plan"))
            .env(
                "SCRIPTED_AGENT_STATE",
                self.root().join(".git/scripted-agent-state"),
            );
        command
    }

    /// Starts `omk goal run … --until-ready` in the background, its output discarded.
    fn spawn_until_ready(&self) -> Child {
        let agent = agent_cmd();
        self.command(&[
            "goal",
            "run",
            TWO_SLICES,
            "--agent-cmd",
            &agent,
            "--until-ready",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
    }

    /// Waits until the goal's log holds a line containing every one of `parts`.
    fn wait_for_event(&self, parts: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let logs = fs::read_dir(self.root().join(".omk/goals"))
                .into_iter()
                .flatten();
            for goal in logs.flatten() {
                let log = fs::read_to_string(goal.path().join("events.jsonl")).unwrap_or_default();
                if log
                    .lines()
                    .any(|line| parts.iter().all(|part| line.contains(part)))
                {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no event with {parts:?} within 60s");
    }

    fn omk(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.command(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    fn run_until_ready(&self, extra: &[&str]) -> (i32, String, String) {
        let agent = agent_cmd();
        let mut args = vec![
            "goal",
            "run",
            TWO_SLICES,
            "--agent-cmd",
            &agent,
            "--until-ready",
        ];
        args.extend_from_slice(extra);
        self.omk(&args)
    }

    fn show(&self) -> Value {
        let (code, stdout, stderr) = self.omk(&["goal", "show", "--format", "json"]);
        assert_eq!(code, 0, "{stderr}");
        serde_json::from_str(&stdout).unwrap()
    }

    fn artifact(&self, hash: &str) -> String {
        let (code, stdout, stderr) = self.omk(&["artifact", "show", &hash[..12]]);
        assert_eq!(code, 0, "{stderr}");
        stdout
    }

    /// Runs `args` (a `continue`), which must end the goal integrating after one round, and
    /// checks the log replays intact.
    fn continue_to_integrating(&self, args: &[&str]) {
        let (code, stdout, stderr) = self.omk(args);
        assert_eq!(code, 0, "{stdout}{stderr}");
        assert!(
            stdout.contains("is integrating after 1 fix round"),
            "{stdout}"
        );
        self.assert_replay_intact();
    }

    fn assert_replay_intact(&self) {
        let (code, stdout, stderr) = self.omk(&["replay", "latest", "--verify"]);
        assert_eq!(code, 0, "{stdout}{stderr}");
    }
}

/// Returns the latest run of `gate` on the claimed tree at `commit`.
fn gate_on<'a>(show: &'a Value, gate: &str, commit: &str) -> Option<&'a Value> {
    show["state"]["gate_runs"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|record| &record["run"])
        .filter(|run| run["gate"] == gate && run["target"]["commit"] == commit)
        .find(|run| run["target"]["baseline"] == false)
}

#[test]
fn a_wrong_then_right_agent_reaches_integrating_after_one_fix_round() {
    let repo = Repo::new(WRONG_THEN_RIGHT);
    let (code, stdout, stderr) = repo.run_until_ready(&[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("is integrating after 1 fix round: every required gate passed and the review is clean; next: omk goal accept "),
        "{stdout}"
    );
    assert!(
        stderr.contains("omk: fix round 1: required gate `parser` exited 1 on the result; reopening slice-2 with that feedback"),
        "{stderr}"
    );
    assert!(stderr.contains("omk: executing (fix round 1)"), "{stderr}");

    let show = repo.show();
    let state = &show["state"];
    assert_eq!(state["status"], "integrating");
    let rounds = state["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 1);
    let round = &rounds[0]["started"];
    assert_eq!(round["cause"], "gate_failed");
    // The gate's output names src/parser.rs, which only slice-2 changed.
    assert_eq!(round["tasks"], serde_json::json!(["slice-2"]));
    assert_eq!(task(&show, "slice-1")["runs"].as_array().unwrap().len(), 1);
    let runs = task(&show, "slice-2")["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    // The round's attempt builds on the slice's own work, not on the base.
    assert_eq!(
        runs[1]["started"]["start_commit"],
        runs[0]["changes"]["head_commit"]
    );
    assert_eq!(runs[1]["started"]["round"], 1);

    // The second prompt carries the feedback: the gate, its command, status and last lines.
    let first_prompt = repo.artifact(runs[0]["started"]["prompt"].as_str().unwrap());
    let second_prompt = repo.artifact(runs[1]["started"]["prompt"].as_str().unwrap());
    assert!(!first_prompt.contains("Fix round"), "{first_prompt}");
    for expected in [
        "## Fix round 1: the last result failed",
        "### Gate `parser` exited 1",
        "Command: `grep -q usize src/parser.rs ||",
        "parser gate: parse must return usize-sized-count in src/parser.rs",
        "The whole output: `omk artifact show ",
        "Your earlier work on this slice is already in the worktree",
    ] {
        assert!(
            second_prompt.contains(expected),
            "{expected}: {second_prompt}"
        );
    }

    // Red, then green: the parser gate failed on the first result and passed on the second.
    let results: Vec<&str> = state["gate_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| &record["run"])
        .filter(|run| run["gate"] == "parser" && run["target"]["baseline"] == false)
        .map(|run| run["target"]["commit"].as_str().unwrap())
        .collect();
    assert_eq!(results.len(), 2, "{results:?}");
    let red = gate_on(&show, "parser", results[0]).unwrap();
    let green = gate_on(&show, "parser", results[1]).unwrap();
    assert_eq!(
        (red["exit_code"].as_i64(), green["exit_code"].as_i64()),
        (Some(1), Some(0))
    );
    assert!(red["last_lines"]
        .as_str()
        .unwrap()
        .contains("usize-sized-count"));
    assert_eq!(state["result"]["commit"], results[1]);

    // The proof and the timeline tell the story round by round.
    let (_, proof, _) = repo.omk(&["goal", "proof"]);
    assert!(proof.contains("## Fix rounds"), "{proof}");
    assert!(
        proof.contains("- Round 1 (gate_failed): required gate `parser` exited 1 on the result; reopened slice-2"),
        "{proof}"
    );
    let (_, timeline, _) = repo.omk(&["replay", "latest"]);
    assert!(
        timeline.contains("fix round 1 started (gate_failed): required gate `parser` exited 1 on the result; reopened slice-2"),
        "{timeline}"
    );
    assert!(timeline.contains("(fix round 1, attempt 0"), "{timeline}");
    repo.assert_replay_intact();

    // A gate's or a task's output is one command away, by name.
    let (code, output, _) = repo.omk(&["goal", "output", "slice-2"]);
    assert_eq!(code, 0);
    assert!(output.contains("\"result\":\"fixed\""), "{output}");
    let (code, _, stderr) = repo.omk(&["goal", "output", "lint"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("has no output for `lint`: gates with output: json, parser; tasks with agent runs: slice-1, slice-2"),
        "{stderr}"
    );

    // Nothing is left for the loop: continue says so and changes nothing.
    let (code, stdout, _) = repo.omk(&["goal", "continue"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("is integrating after 1 fix round"),
        "{stdout}"
    );
}

#[test]
fn the_round_limit_stops_the_loop_for_a_person_and_continue_takes_it_on() {
    // Slice 2 never gets the parser right.
    let never =
        "slice-1 write src/list.rs json\nslice-2 write src/parser.rs pub fn parse() -> u8 { 0 }\n";
    let repo = Repo::new(never);
    let (code, stdout, stderr) = repo.run_until_ready(&["--max-rounds", "1"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    // The round's attempt rewrote what was there: no change, so the slice failed again.
    assert!(
        stdout.contains("stopped (blocked_on_human) after 1 fix round: the fix loop stopped after 1 round in this run: slices failed every attempt: slice-2"),
        "{stdout}"
    );
    let id = repo.show()["state"]["goal_id"].as_str().unwrap().to_owned();
    assert!(
        stdout.contains(&format!(
            "next: decide: another round (`omk goal continue {id}`)"
        )),
        "{stdout}"
    );
    let show = repo.show();
    assert_eq!(show["state"]["rounds"].as_array().unwrap().len(), 1);
    let (code, status, _) = repo.omk(&["goal", "status"]);
    assert_eq!(code, 0);
    assert!(
        status.contains("blocked_on_human (in executing) · fix round 1"),
        "{status}"
    );
    assert!(
        status.contains("  failed: slice-2 is failed: attempt 3 failed: no change: the agent exited 0 without changing any file")
            || status.contains("  failed: slice-2 is failed: no change: the agent exited 0 without changing any file"),
        "{status}"
    );

    // The person gives it one more round: the loop goes on from where it stopped.
    let (code, stdout, stderr) = repo.omk(&["goal", "continue", &id, "--max-rounds", "1"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains("omk: fix round 2: "), "{stderr}");
    assert_eq!(repo.show()["state"]["rounds"].as_array().unwrap().len(), 2);
    assert_eq!(repo.show()["state"]["status"], "blocked_on_human");
    repo.assert_replay_intact();

    // Cancelled, the loop refuses with what is allowed instead.
    let (code, _, _) = repo.omk(&["goal", "cancel", &id]);
    assert_eq!(code, 0);
    let (code, _, stderr) = repo.omk(&["goal", "continue", &id]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("is cancelled: continue is not allowed"),
        "{stderr}"
    );
}

#[test]
fn a_slice_that_fails_every_attempt_gets_a_fix_round_with_its_failure() {
    // Slice 2 fails its first three runs (the first attempt and both retries), then works.
    let script = "slice-1 write src/list.rs json\n\
slice-2 fail-before 4 3\n\
slice-2 write src/parser.rs pub fn parse() -> usize { 0 }\n";
    let repo = Repo::new(script);
    let (code, stdout, stderr) = repo.run_until_ready(&[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr
            .contains("omk: fix round 1: slices failed every attempt: slice-2; reopening slice-2"),
        "{stderr}"
    );
    let show = repo.show();
    let round = &show["state"]["rounds"][0]["started"];
    assert_eq!(round["cause"], "slice_failed");
    let feedback = round["feedback"].as_str().unwrap();
    assert!(
        feedback.contains("### Slice `slice-2` failed after 3 attempts")
            && feedback.contains(
                "The last failure: the agent exited with status 3: scripted failure before run 4"
            )
            && feedback.contains("scripted failure before run 4\n```"),
        "{feedback}"
    );
    let runs = task(&show, "slice-2")["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4);
    // A failed slice has no work to build on: its round starts from its starting point.
    assert_eq!(
        runs[3]["started"]["start_commit"],
        runs[0]["started"]["start_commit"]
    );
    assert_eq!(show["state"]["status"], "integrating");
    repo.assert_replay_intact();
}

/// Starts `run --until-ready` with the wrong-then-right agent, whose round attempt takes 30 s,
/// and returns once that attempt's agent has started.
fn in_the_middle_of_a_round() -> (Repo, Child) {
    let repo = Repo::new(&format!("{WRONG_THEN_RIGHT}slice-2 on-run 2 sleep 30\n"));
    let run = repo.spawn_until_ready();
    repo.wait_for_event(&["\"agent_started\"", "\"round\":1"]);
    (repo, run)
}

/// A round whose agent is still at work when the person pauses: the loop stops with the goal
/// paused; resumed, `continue` finishes the round where it stopped.
#[test]
fn a_pause_in_the_middle_of_a_round_holds_the_loop_and_continue_finishes_it() {
    let (repo, mut run) = in_the_middle_of_a_round();
    let (code, _, stderr) = repo.omk(&["goal", "pause", "latest", "--reason", "lunch"]);
    assert_eq!(code, 0, "{stderr}");
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(1), "the loop stops for the pause");
    let show = repo.show();
    assert_eq!(show["state"]["status"], "paused");
    assert_eq!(
        task(&show, "slice-2")["status"],
        "pending",
        "its agent was stopped"
    );

    let (code, _, stderr) = repo.omk(&["goal", "continue"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("is paused: continue is not allowed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("allowed now: resume, cancel, budget-add"),
        "{stderr}"
    );
    assert_eq!(repo.omk(&["goal", "resume", "latest"]).0, 0);
    repo.continue_to_integrating(&["goal", "continue"]);
}

/// Cancelled while a round runs, the goal ends: nothing is left running and nothing resumes it.
#[test]
fn a_cancel_in_the_middle_of_a_round_ends_the_goal() {
    let (repo, mut run) = in_the_middle_of_a_round();
    assert_eq!(repo.omk(&["goal", "cancel", "latest"]).0, 0);
    assert_eq!(run.wait().unwrap().code(), Some(1));
    let show = repo.show();
    assert_eq!(show["state"]["status"], "cancelled");
    assert_eq!(task(&show, "slice-2")["status"], "cancelled");
    let (code, stdout, _) = repo.omk(&["goal", "status"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("next: nothing: the goal was cancelled"),
        "{stdout}"
    );
    repo.assert_replay_intact();
}

/// omk killed outright in the middle of a round: its agent dies with it, and `continue`
/// recovers the round's task and finishes the goal.
#[test]
fn continue_after_kill_9_in_the_middle_of_a_round_finishes_the_goal() {
    let (repo, mut run) = in_the_middle_of_a_round();
    run.kill().unwrap();
    run.wait().unwrap();
    let (code, stdout, stderr) = repo.omk(&["goal", "continue"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("omk: slice-2: recovered from a crashed wave"),
        "{stderr}"
    );
    assert!(
        stdout.contains("is integrating after 1 fix round"),
        "{stdout}"
    );
    let show = repo.show();
    let runs = task(&show, "slice-2")["runs"].as_array().unwrap();
    assert_eq!(
        runs.len(),
        3,
        "the first wave, the killed round attempt, its retry"
    );
    assert_eq!(runs[2]["started"]["round"], 1);
    repo.assert_replay_intact();
}

/// A budget that runs out in the middle of the loop holds the goal; raised and resumed,
/// `continue` finishes it.
#[test]
fn a_budget_spent_in_the_middle_of_the_loop_holds_the_goal_until_it_is_raised() {
    let script = format!("{WRONG_THEN_RIGHT}slice-1 usage 50 50\nslice-2 usage 50 50\n");
    let repo = Repo::new(&script);
    // The first wave spends 200 tokens; the round's attempt 100 more, past the limit.
    let (code, stdout, stderr) = repo.run_until_ready(&["--budget-tokens", "250"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout
            .contains("stopped (needs_more_budget) after 1 fix round: the tokens budget is spent"),
        "{stdout}"
    );
    let id = repo.show()["state"]["goal_id"].as_str().unwrap().to_owned();
    assert!(
        stdout.contains(&format!("next: omk goal budget-add {id} --time 1h (or --tokens/--usd), then omk goal resume {id}")),
        "{stdout}"
    );
    assert_eq!(
        repo.omk(&["goal", "budget-add", &id, "--tokens", "1000"]).0,
        0
    );
    assert_eq!(repo.omk(&["goal", "resume", &id]).0, 0);
    repo.continue_to_integrating(&["goal", "continue", &id]);
}

/// Each real agent CLI installed here, pointed at the local model stub, goes through a fix
/// round unattended: the stub writes the wrong text until the request it answers quotes the
/// failing gate's output, which only the fix round's prompt does.
#[test]
fn installed_agent_clis_fix_a_failing_gate_in_a_round() {
    let mut ran = Vec::new();
    for (preset, program, install) in PRESETS {
        if !runnable(preset, program, install) {
            continue;
        }
        let dir = common::git_repo(&[("src/lib.rs", "pub fn hello() {}\n")]);
        let root = dir.path();
        fs::write(
            root.join("omk.toml"),
            "[gates.hello]\ncommand = \"grep -q fixed-by-feedback src/hello.txt || { echo 'hello gate: src/hello.txt must say fixed-by-feedback'; exit 1; }\"\n",
        )
        .unwrap();
        let stub = ModelStub::start(&[
            "--path",
            "src/hello.txt",
            "--content",
            "hello",
            "--when",
            "fixed-by-feedback",
            "--fixed-content",
            "fixed-by-feedback",
        ]);
        let home = tempfile::tempdir().unwrap();
        let env = stub.environment(preset, home.path());
        let mut command = Command::new(env!("CARGO_BIN_EXE_omk"));
        command
            .args(["goal", "run", "Add a hello file", "--agent", preset])
            .args(["--agent-timeout", "180s", "--until-ready"])
            .current_dir(root)
            .env_remove("OMK_HOME")
            .env_remove("OMK_TEST_NOW");
        isolate(&mut command, &env);
        let out = command.output().unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(0), "{preset}: {stdout}{stderr}");
        assert!(
            stdout.contains("is integrating after 1 fix round"),
            "{preset}: {stdout}{stderr}"
        );
        assert!(
            stderr.contains(
                "omk: fix round 1: required gate `hello` exited 1 on the result; reopening slice-1"
            ),
            "{preset}: {stderr}"
        );
        ran.push(preset);
    }
    eprintln!("ran for real: {ran:?}");
}

/// A review that finds a secret sends the slice that wrote it into a round with the finding
/// (never the secret itself); the slice removes it and the goal reaches `integrating`.
#[test]
fn a_blocking_review_finding_reopens_the_slice_that_wrote_the_file() {
    let script = "slice-1 write src/list.rs json\n\
slice-1 write src/config.rs api_token = \"q8Zr2LwX9vK4mN7pT1sY6hJ3\"\n\
slice-1 when-prompt review's write src/config.rs api_token = std::env::var(\"API_TOKEN\")\n\
slice-2 write src/parser.rs pub fn parse() -> usize { 0 }\n";
    let repo = Repo::new(script);
    let (code, stdout, stderr) = repo.run_until_ready(&[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("omk: fix round 1: the review found 1 blocking finding; reopening slice-1 with that feedback"),
        "{stderr}"
    );
    let show = repo.show();
    let round = &show["state"]["rounds"][0]["started"];
    assert_eq!(round["cause"], "review_failed");
    let feedback = round["feedback"].as_str().unwrap();
    assert!(
        feedback.contains("- src/config.rs:1: a high-entropy value assigned to `api_token`"),
        "{feedback}"
    );
    assert!(
        !feedback.contains("q8Zr2"),
        "the secret itself is never repeated"
    );
    assert_eq!(task(&show, "slice-2")["runs"].as_array().unwrap().len(), 1);
    assert_eq!(show["state"]["review"]["passed"], true);
    repo.assert_replay_intact();
}
