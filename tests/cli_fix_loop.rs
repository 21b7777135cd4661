//! The fix loop end to end (issue 11): `omk goal run --until-ready` and `omk goal continue`
//! with the scripted agent in a real git repository and real gates from `omk.toml`. The agent
//! gets a slice wrong, and gets it right only when its prompt carries the failing gate's
//! output; the loop must find that, reopen the right slice, and stop where a person decides.
// Tests drive real processes: git and the binary.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

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

    fn omk(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_omk"))
            .args(args)
            .current_dir(self.root())
            .env_remove("OMK_HOME")
            .env_remove("OMK_TEST_NOW")
            .env("SCRIPTED_AGENT_PLAN", self.root().join(".git/agent-plan"))
            .env(
                "SCRIPTED_AGENT_STATE",
                self.root().join(".git/scripted-agent-state"),
            )
            .output()
            .unwrap();
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

    fn assert_replay_intact(&self) {
        let (code, stdout, stderr) = self.omk(&["replay", "latest", "--verify"]);
        assert_eq!(code, 0, "{stdout}{stderr}");
    }
}

fn agent_cmd() -> String {
    format!(
        "sh {}/fixtures/agents/scripted-agent.sh",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn task<'a>(show: &'a Value, id: &str) -> &'a Value {
    show["state"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|task| task["spec"]["id"] == id)
        .unwrap()
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
