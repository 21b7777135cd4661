//! The proof end to end: a goal executed by the scripted agent, verified with real gates,
//! reviewed and accepted reaches `ready`; a failed gate, stale evidence and a committed secret
//! each keep it from `ready`, with the blocker named precisely. The proof, its in-toto form and
//! `proof.json` beside the log match their schemas and each other.
// Tests drive real processes: git and the binary.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::common;

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

const TWO_SLICES: &str = "Add a --json flag to list. Fix the parser crash on empty input";
const GATES: &str = "[gates.json]\ncommand = \"grep -q json src/list.rs\"\n\n[gates.parser]\ncommand = \"grep -q usize src/parser.rs\"\n";
const GOOD_AGENT: &str = "slice-1 write src/list.rs pub fn list() -> &'static str { \"json\" }\nslice-2 write src/parser.rs pub fn parse() -> usize { 0 }\n";

struct Goal {
    dir: tempfile::TempDir,
}

impl Goal {
    /// Returns a repository where a goal has been run and executed with `agent_plan`.
    fn executed(agent_plan: &str) -> Goal {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("src")).unwrap();
        fs::write(root.join("src/list.rs"), "pub fn list() {}\n").unwrap();
        fs::write(root.join("src/parser.rs"), "pub fn parse() {}\n").unwrap();
        fs::write(root.join("omk.toml"), GATES).unwrap();
        fs::write(root.join(".agent-plan"), agent_plan).unwrap();
        let goal = Goal { dir };
        goal.git(&["init", "-q", "-b", "main"]);
        goal.git(&["add", "."]);
        goal.git(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            "init",
        ]);
        let agent = common::agent_cmd();
        goal.ok(&["goal", "run", TWO_SLICES, "--agent-cmd", &agent]);
        goal
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn git(&self, args: &[&str]) -> String {
        common::git(self.root(), args)
    }

    fn omk(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_omk"))
            .args(args)
            .current_dir(self.root())
            .env_remove("OMK_HOME")
            .env_remove("OMK_TEST_NOW")
            .env("SCRIPTED_AGENT_PLAN", self.root().join(".agent-plan"))
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

    fn ok(&self, args: &[&str]) -> String {
        let (code, stdout, stderr) = self.omk(args);
        assert_eq!(code, 0, "{args:?}: {stdout}{stderr}");
        stdout
    }

    fn proof(&self) -> (i32, Value) {
        let (code, stdout, stderr) = self.omk(&["goal", "proof", "--format", "json"]);
        assert!(code == 0 || code == 1, "{stderr}");
        (code, serde_json::from_str(&stdout).unwrap())
    }

    fn blockers(&self) -> Vec<(String, String)> {
        self.proof().1["verdict"]["blockers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|blocker| {
                (
                    blocker["kind"].as_str().unwrap().to_owned(),
                    blocker["detail"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    fn goal_dir(&self) -> std::path::PathBuf {
        let goals = self.root().join(".omk/goals");
        goals.join(
            fs::read_dir(&goals)
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .file_name(),
        )
    }
}

fn schema_valid(schema: &str, document: &Value) {
    if let Some(errors) = common::schema_errors(schema, document) {
        panic!("{schema}: {errors}");
    }
}

#[test]
fn a_plainly_successful_goal_reaches_ready_and_its_proof_says_why() {
    let goal = Goal::executed(GOOD_AGENT);
    goal.ok(&["goal", "verify"]);
    let reviewed = goal.ok(&["goal", "review"]);
    assert!(
        reviewed.contains("passed (2 files, 0 findings); now integrating"),
        "{reviewed}"
    );
    let (code, proof) = goal.proof();
    assert_eq!(
        (code, proof["verdict"]["ready"].as_bool()),
        (1, Some(false))
    );
    assert_eq!(
        goal.blockers(),
        [(
            "not_accepted".to_owned(),
            "the integrator has not accepted it".to_owned()
        )]
    );
    goal.ok(&[
        "goal",
        "accept",
        "latest",
        "--summary",
        "the flag and the fix are right",
    ]);
    let (code, proof) = goal.proof();
    assert_eq!(code, 0);
    assert_eq!(
        proof["verdict"],
        serde_json::json!({"ready": true, "status": "ready", "blockers": []})
    );
    let claimed = &proof["claimed"];
    assert_eq!(
        goal.git(&["rev-parse", claimed["branch"].as_str().unwrap()]),
        claimed["commit"].as_str().unwrap()
    );
    for gate in proof["gates"].as_array().unwrap() {
        assert_eq!(
            (gate["base"].as_str(), gate["head"].as_str()),
            (Some("failed"), Some("passed")),
            "{gate}"
        );
        assert_eq!(gate["commit"], claimed["commit"]);
        let output = goal
            .goal_dir()
            .join("artifacts")
            .join(gate["output"].as_str().unwrap());
        assert!(
            output.is_file(),
            "the gate output is stored, referenced by hash"
        );
    }
    schema_valid("proof.schema.json", &proof);
    // proof.json beside the log is the same projection, byte for byte.
    let (_, stdout, _) = goal.omk(&["goal", "proof", "--format", "json"]);
    assert_eq!(
        fs::read_to_string(goal.goal_dir().join("proof.json")).unwrap(),
        stdout
    );
    let (_, statement, _) = goal.omk(&["goal", "proof", "--format", "in-toto"]);
    let statement: Value = serde_json::from_str(&statement).unwrap();
    schema_valid("proof-in-toto.schema.json", &statement);
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(
        statement["subject"][0]["digest"]["gitCommit"],
        claimed["commit"]
    );
    assert_eq!(
        statement["subject"][1]["digest"]["gitTree"],
        claimed["tree"]
    );
    let (_, markdown, _) = goal.omk(&["goal", "proof"]);
    assert!(
        markdown.contains(": READY") && markdown.contains("| `json` | yes | failed → passed |"),
        "{markdown}"
    );
}

#[test]
fn a_failed_gate_keeps_the_goal_from_ready_and_names_its_output() {
    let goal = Goal::executed("slice-1 write src/list.rs no flag\nslice-2 write src/parser.rs pub fn parse() -> usize { 0 }\n");
    let (code, stdout, _) = goal.omk(&["goal", "verify"]);
    assert_eq!(code, 1, "{stdout}");
    let (code, stdout, _) = goal.omk(&["goal", "review"]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("1 blocking findings: gate `json` exited 1 on"),
        "{stdout}"
    );
    let (code, _, stderr) = goal.omk(&["goal", "accept", "latest", "--summary", "ship it"]);
    assert_eq!(code, 1, "{stderr}");
    let blockers = goal.blockers();
    let failed = blockers
        .iter()
        .find(|(kind, _)| kind == "gate_failed")
        .unwrap();
    assert!(
        failed.1.starts_with("gate `json` exited 1 on ") && failed.1.contains("(output: artifact "),
        "{failed:?}"
    );
    schema_valid("proof.schema.json", &goal.proof().1);
}

#[test]
fn moving_the_claimed_tree_after_verify_makes_the_evidence_stale() {
    let goal = Goal::executed(GOOD_AGENT);
    goal.ok(&["goal", "verify"]);
    let result = goal
        .root()
        .join(".omk/worktrees")
        .join(goal.goal_dir().file_name().unwrap())
        .join("_result");
    fs::write(result.join("src/extra.rs"), "pub fn extra() {}\n").unwrap();
    let run = |args: &[&str]| {
        assert!(Command::new("git")
            .args(args)
            .current_dir(&result)
            .status()
            .unwrap()
            .success())
    };
    run(&["add", "."]);
    run(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "commit",
        "-qm",
        "edited after verify",
    ]);
    let (code, stdout, _) = goal.omk(&["goal", "review"]);
    assert_eq!(code, 1, "{stdout}");
    let blockers = goal.blockers();
    let stale = blockers
        .iter()
        .find(|(kind, _)| kind == "evidence_stale")
        .unwrap();
    assert!(
        stale.1.contains("ran on ") && stale.1.contains(", the goal's tree is now "),
        "{stale:?}"
    );
    let (_, proof) = goal.proof();
    let findings = proof["review"]["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|finding| finding["check"] == "write_scope" && finding["file"] == "src/extra.rs"),
        "{findings:?}"
    );
}

#[test]
fn a_committed_secret_is_found_by_file_and_line_without_copying_it() {
    let goal = Goal::executed("slice-1 write src/list.rs pub fn list() -> &'static str { \"json\" } // api_token = \"q8Zr2LwX9vK4mN7pT1sY6hJ3\"\nslice-2 write src/parser.rs pub fn parse() -> usize { 0 }\n");
    goal.ok(&["goal", "verify"]);
    let (code, stdout, _) = goal.omk(&["goal", "review"]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("src/list.rs:1: a high-entropy value assigned to `api_token`"),
        "{stdout}"
    );
    let proof_text = fs::read_to_string(goal.goal_dir().join("proof.json")).unwrap();
    assert!(
        !proof_text.contains("q8Zr2LwX9vK4mN7pT1sY6hJ3"),
        "the secret is never copied into the proof"
    );
}

#[test]
fn a_red_first_gate_that_passes_on_the_base_proves_nothing() {
    let goal = Goal::executed(GOOD_AGENT);
    fs::write(
        goal.root().join("omk.toml"),
        format!("{GATES}\n[gates.new-test]\ncommand = \"true\"\nred_first = true\n"),
    )
    .unwrap();
    goal.ok(&["goal", "verify"]);
    let (code, stdout, _) = goal.omk(&["goal", "review"]);
    assert_eq!(code, 1, "{stdout}");
    let blockers = goal.blockers();
    assert!(
        blockers.iter().any(|(kind, detail)| kind == "red_first"
            && detail.starts_with("gate `new-test` must fail on the base commit")),
        "{blockers:?}"
    );
}

/// Issue 12: git output was read without `-z`, so a file named `café.env` came back quoted,
/// the secret scan skipped it silently, and scope checks compared quoted names.
#[test]
fn awkward_file_names_go_through_execute_review_and_proof_as_raw_names() {
    let goal = Goal {
        dir: common::git_repo(&[
            ("README.md", "# docs\n"),
            ("omk.toml", "[gates.ok]\ncommand = \"true\"\n"),
        ]),
    };
    let tools = tempfile::tempdir().unwrap();
    let planner = tools.path().join("planner.sh");
    fs::write(
        &planner,
        "cat >/dev/null\ncat <<'JSON'\n{\"tasks\": [{\"id\": \"docs\", \"title\": \"Add the docs\", \"description\": \"Add the docs files\", \"kind\": \"implementation\", \"owner_role\": \"implementer\", \"depends_on\": [], \"read_set\": [], \"write_set\": [\"docs/**\"], \"risk\": \"low\", \"acceptance\": [\"the files exist\"], \"max_retries\": 0, \"required\": true}]}\nJSON\n",
    )
    .unwrap();
    let agent = tools.path().join("agent.sh");
    fs::write(
        &agent,
        "cat >/dev/null\nmkdir -p docs\nprintf 'aws_key = \"AKIAIOSFODNN7EXAMPLE\"\\n' > 'docs/café.env'\nprintf 'hello\\n' > 'docs/with space \"quoted\".txt'\nprintf 'x\\n' > 'docs/new\nline.txt'\n",
    )
    .unwrap();
    let planner_cmd = format!("sh {}", planner.display());
    let agent_cmd = format!("sh {}", agent.display());
    goal.ok(&[
        "goal",
        "run",
        "Add the docs files",
        "--planner-cmd",
        &planner_cmd,
        "--agent-cmd",
        &agent_cmd,
    ]);
    let names = [
        "docs/café.env",
        "docs/new\nline.txt",
        "docs/with space \"quoted\".txt",
    ];
    let (_, show, _) = goal.omk(&["goal", "show", "--format", "json"]);
    let show: Value = serde_json::from_str(&show).unwrap();
    let task = &show["state"]["tasks"][0];
    assert_eq!(task["status"], "done", "{task:#}");
    let changes = &task["runs"][0]["changes"];
    assert_eq!(
        changes["changed_files"],
        serde_json::json!(names),
        "{changes:#}"
    );
    assert_eq!(changes["outside_write_set"], serde_json::json!([]));

    goal.ok(&["goal", "verify"]);
    let (code, stdout, _) = goal.omk(&["goal", "review"]);
    assert_eq!(code, 1, "the secret in docs/café.env blocks: {stdout}");
    assert!(
        stdout.contains("docs/café.env:1: what looks like an AWS access key id"),
        "{stdout}"
    );
    let (_, proof) = goal.proof();
    let findings = proof["review"]["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .all(|finding| finding["check"] != "write_scope"),
        "every awkward name is within the write set: {findings:#?}"
    );
    assert_eq!(proof["review"]["files_reviewed"], 3);
}
