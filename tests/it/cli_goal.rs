//! `omk goal …` end to end: a real git repository in a temp dir, the real binary, the clock
//! fixed through `OMK_TEST_NOW`. Every command's happy path and refusal path, `latest`,
//! unknown ids, damaged logs, the planner hook, and concurrent commands on one goal.
// Tests drive real processes: git, and the binary itself from several threads.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};

use omk::event::{Event, Phase, PhaseEntered, Timestamp};
use omk::log::{verify_log, LogPaths, VerifyOptions};
use omk::store::StateDir;
use serde_json::Value;
use std::process::Command;

const NOW: &str = "2026-11-24T14:00:00Z";
const PROMPT: &str = "Add a --json flag to the list command. Fix the parser crash on empty input";

/// Returns a temp git repository with a commit of a small source tree.
fn repo() -> tempfile::TempDir {
    common::git_repo(&[
        ("src/list.rs", "pub fn list() { println!(\"list\"); }\n"),
        (
            "src/parser.rs",
            "pub fn parse(input: &str) -> usize { input.len() }\n",
        ),
        ("README.md", "# demo\n"),
    ])
}

fn omk_at(repo: &Path, now: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_omk"));
    command
        .current_dir(repo)
        .env("OMK_TEST_NOW", now)
        .env_remove("OMK_HOME");
    command
}

fn omk(repo: &Path) -> Command {
    omk_at(repo, NOW)
}

/// Runs the command and returns (exit code, stdout, stderr).
fn output(command: &mut Command) -> (i32, String, String) {
    let out = command.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn json(command: &mut Command) -> Value {
    let (code, stdout, stderr) = output(command);
    assert_eq!(code, 0, "stderr: {stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// Starts the standard goal and returns its id.
fn planned_goal(repo: &Path) -> String {
    let view = json(omk(repo).args([
        "goal",
        "run",
        PROMPT,
        "--budget-time",
        "2h",
        "--budget-usd",
        "5",
        "--format",
        "json",
    ]));
    view["goal_id"].as_str().unwrap().to_owned()
}

fn goal_dir(repo: &Path, id: &str) -> PathBuf {
    repo.join(".omk/goals").join(id)
}

fn log_bytes(repo: &Path, id: &str) -> Vec<u8> {
    fs::read(goal_dir(repo, id).join("events.jsonl")).unwrap()
}

#[test]
fn run_plans_the_goal_and_prints_one_line() {
    let repo = repo();
    let (code, stdout, stderr) = output(omk(repo.path()).args(["goal", "run", PROMPT]));
    assert_eq!((code, stderr.as_str()), (0, ""));
    let id = "g-20261124-140000-000-1e38";
    let dir = goal_dir(repo.path(), id);
    assert_eq!(
        stdout,
        format!(
            "planned goal {id} in {}: 6 tasks; next: omk goal execute {id}\n",
            dir.display()
        )
    );
    for file in [
        "events.jsonl",
        "events.head.json",
        "snapshot.json",
        "task-graph.json",
        "prd.md",
        "technical-plan.md",
        "test-spec.md",
    ] {
        assert!(dir.join(file).is_file(), "{file} is missing");
    }
    let report = verify_log(&LogPaths::resolve(&dir), VerifyOptions::all_cores()).unwrap();
    assert!(report.intact, "{report:?}");
    let technical_plan = fs::read_to_string(dir.join("technical-plan.md")).unwrap();
    assert!(technical_plan.contains("`src/list.rs`") && technical_plan.contains("`src/parser.rs`"));
    let show = json(omk(repo.path()).args(["goal", "show", id, "--format", "json"]));
    let state = &show["state"];
    assert_eq!(state["base_commit"].as_str().unwrap().len(), 40);
    assert_eq!(state["options"]["mode"], "run");
    assert_eq!(
        state["budget"]["limits"],
        serde_json::json!({"time_secs": null, "tokens": null, "usd_micros": null})
    );
    let ids: Vec<&str> = state["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| task["spec"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "slice-1",
            "slice-2",
            "agent-execution",
            "local-verify",
            "review",
            "security-review"
        ]
    );
    // The state directory keeps itself out of the repository's `git status`.
    let status = std::process::Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(repo.path())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(status.stdout).unwrap(), "");
}

#[test]
fn plan_records_plan_mode_and_budgets() {
    let repo = repo();
    let view = json(omk(repo.path()).args([
        "goal",
        "plan",
        PROMPT,
        "--budget-time",
        "1h30m",
        "--budget-tokens",
        "5000",
        "--budget-usd",
        "2.50",
        "--format",
        "json",
    ]));
    assert_eq!(view["status"], "planning");
    let show = json(omk(repo.path()).args(["goal", "show", "latest", "--format", "json"]));
    assert_eq!(show["state"]["options"]["mode"], "plan");
    assert_eq!(
        show["state"]["budget"]["limits"],
        serde_json::json!({"time_secs": 5400, "tokens": 5000, "usd_micros": 2500000})
    );
    let (code, stdout, _) = output(omk(repo.path()).args(["goal", "budget"]));
    assert_eq!(code, 0);
    assert!(
        stdout.contains("time    0s of 1h30m")
            && stdout.contains("tokens  0 of 5000")
            && stdout.contains("usd     $0.00 of $2.50"),
        "{stdout}"
    );
}

#[test]
fn an_untestable_goal_ends_blocked_on_human_with_the_decisions() {
    let repo = repo();
    let (code, stdout, _) =
        output(omk(repo.path()).args(["goal", "run", "Make the UI look nicer"]));
    assert_eq!(code, 1);
    assert!(
        stdout.contains("is blocked_on_human: decide: Say what observable result"),
        "{stdout}"
    );
    let status = json(omk(repo.path()).args(["goal", "status", "--format", "json"]));
    assert_eq!(status["status"], "blocked_on_human");
    assert_eq!(status["tasks_total"], 0);
    // Held for a human: only cancel is left.
    let (code, _, stderr) = output(omk(repo.path()).args(["goal", "resume", "latest"]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("is blocked_on_human: resume is not allowed"),
        "{stderr}"
    );
}

#[test]
fn pause_resume_cancel_and_their_refusals() {
    let repo = repo();
    let id = planned_goal(repo.path());
    let (code, stdout, _) =
        output(omk(repo.path()).args(["goal", "pause", &id, "--reason", "lunch"]));
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        format!("paused goal {id}: now paused (was planning); next: omk goal resume {id}\n")
    );

    let before = log_bytes(repo.path(), &id);
    let (code, stdout, stderr) = output(omk(repo.path()).args(["goal", "pause", &id]));
    assert_eq!((code, stdout.as_str()), (1, ""));
    assert_eq!(stderr, format!("omk: refused: goal {id} is paused: pause is not allowed; allowed now: resume, cancel, budget-add\n"));
    assert_eq!(
        log_bytes(repo.path(), &id),
        before,
        "a refusal must append nothing"
    );

    let resumed = json(omk(repo.path()).args(["goal", "resume", &id, "--format", "json"]));
    assert_eq!(resumed["status"], "planning");
    assert_eq!(
        common::schema_errors("goal-command-result.schema.json", &resumed),
        None,
        "{resumed}"
    );
    let cancelled = json(omk(repo.path()).args([
        "goal",
        "cancel",
        "latest",
        "--reason",
        "changed my mind",
        "--format",
        "json",
    ]));
    assert_eq!(cancelled["status"], "cancelled");
    let before = log_bytes(repo.path(), &id);
    let (code, _, stderr) = output(omk(repo.path()).args(["goal", "resume", &id]));
    assert_eq!(code, 1);
    assert_eq!(stderr, format!("omk: refused: goal {id} is cancelled: resume is not allowed (resume needs a paused goal, or one held for budget, an external blocker or an infrastructure failure); nothing more can be done to it\n"));
    assert_eq!(log_bytes(repo.path(), &id), before);
}

#[test]
fn budget_add_raises_limits_and_needs_an_amount() {
    let repo = repo();
    let id = planned_goal(repo.path());
    let (code, stdout, _) = output(omk(repo.path()).args([
        "goal",
        "budget-add",
        &id,
        "--time",
        "1h",
        "--usd",
        "1.25",
        "--tokens",
        "100",
    ]));
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with(&format!(
            "extended the budget of goal {id} to 3h, $6.25: now planning"
        )),
        "{stdout}"
    );
    let budget = json(omk(repo.path()).args(["goal", "budget", &id, "--format", "json"]));
    assert_eq!(budget["budget"]["time_secs"]["limit"], 10800);
    assert_eq!(budget["budget"]["usd_micros"]["limit"], 6_250_000);
    // No token limit was set, so adding tokens leaves it unlimited.
    assert_eq!(budget["budget"]["tokens"]["limit"], Value::Null);
    let (code, _, stderr) = output(omk(repo.path()).args(["goal", "budget-add", &id]));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("budget-add needs something to add")
            && stderr.contains("hint: pass --time"),
        "{stderr}"
    );
    let (code, _, stderr) =
        output(omk(repo.path()).args(["goal", "budget-add", &id, "--time", "soon"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("`soon` is not a duration"), "{stderr}");
}

/// Moves a planned goal to integrating through the library, as the later phases' shell will.
fn advance_to_integrating(repo: &Path, id: &str) {
    let goal = StateDir::new(repo.join(".omk")).resolve(id).unwrap();
    let mut loaded = goal.load().unwrap();
    for phase in [
        Phase::Executing,
        Phase::Verifying,
        Phase::Reviewing,
        Phase::Integrating,
    ] {
        let at: Timestamp = "2026-11-24T14:10:00Z".parse().unwrap();
        loaded = goal
            .append(
                Some(&loaded),
                at,
                vec![Event::PhaseEntered(PhaseEntered { phase })],
            )
            .unwrap();
    }
}

#[test]
fn accept_and_reject_record_the_integrators_decision() {
    let repo = repo();
    let id = planned_goal(repo.path());
    let before = log_bytes(repo.path(), &id);
    let (code, _, stderr) =
        output(omk(repo.path()).args(["goal", "accept", &id, "--summary", "looks right"]));
    assert_eq!(code, 1);
    assert_eq!(stderr, format!("omk: refused: goal {id} is planning: accept is not allowed (accept needs a goal that is integrating: its gates passed and its review is done); allowed now: execute, continue, edit-plan, pause, cancel, budget-add\n"));
    assert_eq!(log_bytes(repo.path(), &id), before);

    // Even in the integrating phase, accept needs the evidence: gates, review, done tasks.
    advance_to_integrating(repo.path(), &id);
    let before = log_bytes(repo.path(), &id);
    let (code, _, stderr) =
        output(omk(repo.path()).args(["goal", "accept", &id, "--summary", "looks right"]));
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with(&format!("omk: refused: goal {id} cannot be accepted: no result branch has been built; required task `slice-1` is pending")),
        "{stderr}"
    );
    assert_eq!(log_bytes(repo.path(), &id), before);

    let other = json(omk_at(repo.path(), "2026-11-24T15:00:00Z").args([
        "goal",
        "run",
        "Fix the crash in parser.rs",
        "--format",
        "json",
    ]));
    let other = other["goal_id"].as_str().unwrap().to_owned();
    advance_to_integrating(repo.path(), &other);
    let rejected = json(omk(repo.path()).args([
        "goal", "reject", "latest", "--reason", "no test", "--format", "json",
    ]));
    assert_eq!(
        (rejected["goal_id"].as_str(), rejected["status"].as_str()),
        (Some(other.as_str()), Some("not_ready"))
    );
}

#[test]
fn latest_names_the_newest_goal_and_list_shows_all() {
    let repo = repo();
    let first = json(
        omk_at(repo.path(), "2026-11-24T14:00:00Z")
            .args(["goal", "run", PROMPT, "--format", "json"]),
    );
    let second = json(omk_at(repo.path(), "2026-11-24T16:00:00Z").args([
        "goal",
        "run",
        "Fix the crash in parser.rs",
        "--format",
        "json",
    ]));
    let status = json(
        omk_at(repo.path(), "2026-11-24T17:00:00Z").args(["goal", "status", "--format", "json"]),
    );
    assert_eq!(status["goal_id"], second["goal_id"]);
    let (code, stdout, _) =
        output(omk_at(repo.path(), "2026-11-24T17:00:00Z").args(["goal", "status"]));
    assert_eq!(code, 0);
    let second_id = second["goal_id"].as_str().unwrap();
    assert_eq!(stdout, format!("{second_id}  planned  updated 1h ago\n  tasks 0/5 done · time 0s · tokens 0 · $0.00\n  next: omk goal execute {second_id}\n"));
    let list = json(omk(repo.path()).args(["goal", "list", "--format", "json"]));
    let ids: Vec<&Value> = list["goals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|goal| &goal["goal_id"])
        .collect();
    assert_eq!(ids, [&first["goal_id"], &second["goal_id"]]);
    let (_, text, _) = output(omk_at(repo.path(), "2026-11-24T17:00:00Z").args(["goal", "list"]));
    let first_id = first["goal_id"].as_str().unwrap();
    let short = |id: &str| id.rsplit('-').next().unwrap().to_owned();
    assert_eq!(
        text,
        format!(
            "ID    STATUS   TASKS  AGE     PROMPT\n\
             {}  planned  0/6    3h ago  Add a --json flag to the list command. Fix the parser crash on empty input\n\
             {}  planned  0/5    1h ago  Fix the crash in parser.rs\n",
            short(first_id),
            short(second_id)
        ),
    );
    // Settled goals are left out unless asked for; --status picks statuses.
    let (code, _, stderr) = output(omk(repo.path()).args(["goal", "cancel", first_id]));
    assert_eq!(code, 0, "{stderr}");
    let (_, text, _) = output(omk(repo.path()).args(["goal", "list"]));
    assert!(!text.contains(&short(first_id)), "{text}");
    assert!(
        text.ends_with("(1 more settled (cancelled or landed): `--all` shows them)\n"),
        "{text}"
    );
    let list = json(omk(repo.path()).args(["goal", "list", "--format", "json"]));
    assert_eq!(
        list["goals"].as_array().unwrap().len(),
        2,
        "scripts get every goal"
    );
    let (_, text, _) = output(omk(repo.path()).args(["goal", "list", "--all"]));
    assert!(
        text.contains(&format!("{}  cancelled", short(first_id))),
        "{text}"
    );
    let (_, text, _) = output(omk(repo.path()).args(["goal", "list", "--status", "Cancelled"]));
    assert_eq!(text.lines().count(), 3, "{text}");
    let (code, _, stderr) = output(omk(repo.path()).args(["goal", "list", "--status", "done"]));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("invalid value 'done' for '--status <STATUS>'")
            && stderr.contains("[possible values: intake, planning,"),
        "{stderr}"
    );
    let (code, text, stderr) =
        output(omk(repo.path()).args(["goal", "list", "--status", "not-ready,CANCELLED,planned"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(
        text.contains("  cancelled  ") && text.contains("  planned  "),
        "{text}"
    );
}

#[test]
fn goals_resolve_by_prefix_or_short_form_in_any_case() {
    let repo = repo();
    let first = planned_goal(repo.path());
    let second = json(omk_at(repo.path(), "2026-11-24T15:00:00Z").args([
        "goal",
        "run",
        "Fix the crash in parser.rs",
        "--format",
        "json",
    ]));
    let second = second["goal_id"].as_str().unwrap().to_owned();
    let suffix = second.rsplit('-').next().unwrap();
    for selector in [
        suffix.to_owned(),
        suffix.to_uppercase(),
        second.to_uppercase(),
        second["g-".len()..second.len() - 3].to_owned(),
        second.replace("g-20261124-14", "g-20261124-15")[..20].to_owned(),
    ] {
        let status = json(omk(repo.path()).args(["goal", "status", &selector, "--format", "json"]));
        assert_eq!(status["goal_id"], second.as_str(), "{selector}");
    }
    // One or two characters could pick a goal by accident: four at least, or a whole suffix.
    let (code, _, stderr) = output(omk(repo.path()).args(["goal", "status", &suffix[..2]]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.starts_with(&format!("omk: no goal `{}`", &suffix[..2])),
        "{stderr}"
    );
    let (code, _, stderr) = output(omk(repo.path()).args(["goal", "status", "g-20261124"]));
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        format!("omk: `g-20261124` matches 2 goals: {first}, {second}\nhint: type more of the id (`omk goal list` shows each goal's shortest name)\n")
    );
    // `show` prints the id as it is typed, so that it can be copied.
    let (_, shown, _) = output(omk(repo.path()).args(["goal", "show", suffix]));
    assert!(
        shown.starts_with(&format!("Goal {second}\n=====")),
        "{shown}"
    );
}

#[test]
fn unknown_goals_and_empty_state_are_clear_errors() {
    let repo = repo();
    let (code, stdout, _) = output(omk(repo.path()).args(["goal", "list"]));
    assert_eq!(code, 0);
    assert!(stdout.starts_with("no goals yet in "), "{stdout}");
    let (code, _, stderr) = output(omk(repo.path()).args(["goal", "status"]));
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("omk: no goals in ")
            && stderr.contains("hint: start one with `omk goal run"),
        "{stderr}"
    );
    planned_goal(repo.path());
    for selector in ["g-nope", "../goals", ""] {
        let (code, _, stderr) = output(omk(repo.path()).args(["goal", "show", selector]));
        assert_eq!(code, 2, "{selector:?}");
        assert!(
            stderr.contains(&format!("omk: no goal `{selector}` in "))
                && stderr.contains("hint: list the goals with `omk goal list --all`"),
            "{stderr}"
        );
    }
    let (code, _, stderr) = output(omk(repo.path()).args(["goal", "run", "   "]));
    assert_eq!(code, 2);
    assert!(stderr.starts_with("omk: the prompt is empty"), "{stderr}");
    let huge = "Add a flag. ".repeat(6000);
    let (code, _, stderr) = output(omk(repo.path()).args(["goal", "run", &huge]));
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("omk: the prompt is 72000 bytes; the limit is 65536"),
        "{stderr}"
    );
    assert_eq!(
        StateDir::new(repo.path().join(".omk"))
            .goal_ids()
            .unwrap()
            .len(),
        1,
        "a refused prompt starts no goal"
    );
}

#[test]
fn a_corrupt_log_is_refused_and_points_at_log_verify() {
    let repo = repo();
    let id = planned_goal(repo.path());
    let dir = goal_dir(repo.path(), &id);
    let log = dir.join("events.jsonl");
    let mut bytes = fs::read(&log).unwrap();
    let at = bytes.iter().position(|byte| *byte == b'\n').unwrap() + 40;
    bytes[at] ^= 0x01;
    fs::write(&log, &bytes).unwrap();
    fs::remove_file(dir.join("snapshot.json")).unwrap();
    for args in [
        &["goal", "status", id.as_str()][..],
        &["goal", "pause", id.as_str()],
    ] {
        let (code, _, stderr) = output(omk(repo.path()).args(args));
        assert_eq!(code, 2, "{args:?}");
        assert!(stderr.contains("event log corrupt at seq 1"), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "hint: the goal's log is damaged; run `omk log verify {}`",
                dir.display()
            )),
            "{stderr}"
        );
    }
    assert_eq!(
        fs::read(&log).unwrap(),
        bytes,
        "nothing may be appended to a damaged log"
    );
}

#[test]
fn a_torn_tail_is_refused_and_points_at_log_repair() {
    let repo = repo();
    let id = planned_goal(repo.path());
    let dir = goal_dir(repo.path(), &id);
    let mut log = fs::OpenOptions::new()
        .append(true)
        .open(dir.join("events.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut log, b"{\"v\":1,\"seq\":").unwrap();
    let (code, _, stderr) = output(omk(repo.path()).args(["goal", "status", &id]));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("has a torn tail")
            && stderr.contains(&format!("run `omk log repair {}`", dir.display())),
        "{stderr}"
    );
}

#[test]
fn deleting_snapshots_and_projections_changes_no_output() {
    let repo = repo();
    let id = planned_goal(repo.path());
    let paused = omk(repo.path()).args(["goal", "pause", &id]).status();
    assert!(paused.unwrap().success());
    let views = |repo: &Path| -> Vec<String> {
        [
            &["status", "--format", "json"][..],
            &["show", "--format", "json"],
            &["show", "--format", "md"],
            &["budget", "--format", "json"],
            &["list", "--format", "json"],
        ]
        .iter()
        .map(|args| {
            let mut full = vec!["goal"];
            full.extend_from_slice(args);
            let (code, stdout, stderr) = output(omk(repo).args(&full));
            assert_eq!(code, 0, "{stderr}");
            stdout
        })
        .collect()
    };
    let with_projections = views(repo.path());
    let dir = goal_dir(repo.path(), &id);
    for file in [
        "snapshot.json",
        "task-graph.json",
        "prd.md",
        "technical-plan.md",
        "test-spec.md",
        "events.head.json",
    ] {
        fs::remove_file(dir.join(file)).unwrap();
    }
    assert_eq!(views(repo.path()), with_projections);
    // A snapshot of another goal is ignored, not believed.
    let other = json(omk_at(repo.path(), "2026-11-24T15:00:00Z").args([
        "goal",
        "run",
        "Fix the crash in parser.rs",
        "--format",
        "json",
    ]));
    let other_dir = goal_dir(repo.path(), other["goal_id"].as_str().unwrap());
    fs::copy(other_dir.join("snapshot.json"), dir.join("snapshot.json")).unwrap();
    let status = json(omk(repo.path()).args(["goal", "status", &id, "--format", "json"]));
    assert_eq!(status["status"], "paused");
    // …and `omk log verify` reports it, naming the file and the event it claims.
    let (code, _, stderr) = output(omk(repo.path()).args(["log", "verify", dir.to_str().unwrap()]));
    assert_eq!(code, 1);
    assert!(stderr.starts_with(&format!("omk: projection not in the chain in {}/events.jsonl: snapshot.json claims to follow from event seq 7 (", dir.display())), "{stderr}");
    assert!(
        stderr.contains("), which is not in this log, so commands ignore it\n"),
        "{stderr}"
    );
    assert!(stderr.ends_with(&format!("hint: delete {}/snapshot.json (commands rebuild it from the log); the chain itself verified\n", dir.display())), "{stderr}");
    // A stale snapshot of this goal's own log is fine: it is in the chain.
    let own = json(omk(repo.path()).args(["goal", "resume", &id, "--format", "json"]));
    assert_eq!(own["status"], "planning");
    let verified = omk(repo.path())
        .args(["log", "verify", dir.to_str().unwrap()])
        .status();
    assert!(verified.unwrap().success());
}

#[test]
fn the_planner_hook_is_used_and_its_failure_is_recorded_as_a_fallback() {
    let repo = repo();
    let planners = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/planner");
    let good = format!("sh {}", planners.join("two-slices.sh").display());
    json(omk(repo.path()).args([
        "goal",
        "run",
        PROMPT,
        "--planner-cmd",
        &good,
        "--format",
        "json",
    ]));
    let show = json(omk(repo.path()).args(["goal", "show", "--format", "json"]));
    assert_eq!(
        show["state"]["plan"],
        serde_json::json!({"source": "planner", "fallback": null})
    );
    let ids: Vec<&str> = show["state"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| task["spec"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "json-flag",
            "json-docs",
            "agent-execution",
            "local-verify",
            "review",
            "security-review"
        ]
    );

    for (planner, reason) in [
        (
            format!("sh {}", planners.join("cyclic.sh").display()),
            "the planner's graph is invalid: the dependencies form a cycle: a -> b -> a",
        ),
        ("exit 3".to_owned(), "the planner exited with status 3"),
        (
            "no-such-planner-binary".to_owned(),
            "the planner command was not found (exit 127)",
        ),
        (
            "echo not json".to_owned(),
            "the planner's reply is not a valid {\"tasks\": [...]} document",
        ),
    ] {
        let started = json(omk_at(repo.path(), "2026-11-24T18:00:00Z").args([
            "goal",
            "run",
            PROMPT,
            "--planner-cmd",
            &planner,
            "--format",
            "json",
        ]));
        assert_eq!(started["status"], "planning");
        let show = json(omk(repo.path()).args([
            "goal",
            "show",
            started["goal_id"].as_str().unwrap(),
            "--format",
            "json",
        ]));
        assert_eq!(show["state"]["plan"]["source"], "deterministic");
        let recorded = show["state"]["plan"]["fallback"]["reason"]
            .as_str()
            .unwrap();
        assert!(recorded.starts_with(reason), "{planner}: {recorded}");
        // Remove it so the next case gets the same id without a clash.
        fs::remove_dir_all(goal_dir(repo.path(), started["goal_id"].as_str().unwrap())).unwrap();
    }
}

/// Issue 10: outside a git repository `omk goal run` created `./.omk`, planned a goal with no
/// base commit and exited 0; `execute` then failed with raw git text.
#[test]
fn a_goal_outside_git_or_before_the_first_commit_is_refused_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("list.py"), "def list_items(): pass\n").unwrap();
    let out = omk(dir.path())
        .args(["goal", "run", "Add a --json flag to list"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("is not in a git repository")
            && stderr.contains("hint: run it inside the repository"),
        "{stderr}"
    );
    assert!(!dir.path().join(".omk").exists(), "nothing is created");

    assert!(std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(dir.path())
        .status()
        .unwrap()
        .success());
    let out = omk(dir.path())
        .args(["goal", "plan", "Add a --json flag to list"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("has no commit yet") && stderr.contains("git commit"),
        "{stderr}"
    );
    assert!(!dir.path().join(".omk").exists(), "nothing is created");
}

#[test]
fn omk_home_relocates_the_state() {
    let repo = repo();
    let home = tempfile::tempdir().unwrap();
    let mut command = omk(repo.path());
    command
        .env("OMK_HOME", home.path())
        .args(["goal", "run", PROMPT]);
    assert!(command.status().unwrap().success());
    assert!(!repo.path().join(".omk").exists());
    assert_eq!(StateDir::new(home.path()).goal_ids().unwrap().len(), 1);
}

#[test]
fn concurrent_commands_on_one_goal_serialise_without_losing_any() {
    let repo = repo();
    let id = planned_goal(repo.path());
    let binary = env!("CARGO_BIN_EXE_omk");
    let children: Vec<std::process::Child> = (0..6)
        .map(|_| {
            std::process::Command::new(binary)
                .args(["goal", "budget-add", &id, "--time", "10m"])
                .current_dir(repo.path())
                .env("OMK_TEST_NOW", NOW)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let budget = json(omk(repo.path()).args(["goal", "budget", &id, "--format", "json"]));
    assert_eq!(
        budget["budget"]["time_secs"]["limit"],
        7200 + 6 * 600,
        "every extension counts once"
    );
    // A pause and a cancel racing: the cancel always lands; the pause lands first or is
    // refused (exit 1) because the goal is already cancelled.
    let spawn = |verb: &str| {
        std::process::Command::new(binary)
            .args(["goal", verb, &id])
            .current_dir(repo.path())
            .env("OMK_TEST_NOW", NOW)
            .output()
    };
    let (pause, cancel) = std::thread::scope(|scope| {
        let pause = scope.spawn(|| spawn("pause").unwrap());
        let cancel = scope.spawn(|| spawn("cancel").unwrap());
        (pause.join().unwrap(), cancel.join().unwrap())
    });
    assert!(cancel.status.success());
    assert!(
        matches!(pause.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&pause.stderr)
    );
    let status = json(omk(repo.path()).args(["goal", "status", &id, "--format", "json"]));
    assert_eq!(status["status"], "cancelled");
    let report = verify_log(
        &LogPaths::resolve(&goal_dir(repo.path(), &id)),
        VerifyOptions::all_cores(),
    )
    .unwrap();
    assert!(report.intact);
    let paused = u64::from(pause.status.success());
    assert_eq!(report.events, 3 + 5 + 6 + 1 + paused);
}

/// Returns two different byte strings whose hashes share their first four hex digits.
fn colliding_prefix_pair() -> (Vec<u8>, Vec<u8>) {
    let mut seen = std::collections::HashMap::new();
    for n in 0u32.. {
        let bytes = format!("output {n}\n").into_bytes();
        let prefix = blake3::hash(&bytes).to_hex()[..4].to_owned();
        if let Some(earlier) = seen.insert(prefix, bytes.clone()) {
            return (earlier, bytes);
        }
    }
    unreachable!("a 16-bit prefix repeats within 65,537 tries")
}

#[test]
fn artifact_show_prints_a_recorded_artifact_by_hash_prefix() {
    let repo = repo();
    let id = planned_goal(repo.path());
    let goal = StateDir::new(repo.path().join(".omk"))
        .resolve(&id)
        .unwrap();
    let prd = goal
        .load()
        .unwrap()
        .state
        .artifacts
        .into_iter()
        .find(|recorded| recorded.artifact.name == "prd.md")
        .unwrap()
        .artifact;
    let stored = goal.artifacts().path_of(&prd.hash);
    let hex = prd.hash.to_hex();

    let (code, stdout, stderr) = output(omk(repo.path()).args(["artifact", "show", &hex[..8]]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.as_bytes(), fs::read(&stored).unwrap());
    let (code, stdout, _) =
        output(omk(repo.path()).args(["artifact", "show", &hex[..10].to_uppercase(), "--info"]));
    assert_eq!(code, 0);
    assert!(stdout.contains("name: prd.md"), "{stdout}");
    assert!(
        stdout.contains(&format!("goal {id}, event seq")),
        "{stdout}"
    );

    // The same bytes recorded again are one answer; two hashes sharing the digits are not.
    let (first, second) = colliding_prefix_pair();
    let at: Timestamp = "2026-11-24T14:10:00Z".parse().unwrap();
    let mut events = vec![Event::ArtifactRecorded(prd.clone())];
    for (name, bytes) in [
        ("gates/a/output.txt", &first),
        ("gates/b/output.txt", &second),
    ] {
        let recorded = goal.artifacts().put(name, "text/plain", bytes).unwrap();
        events.push(Event::ArtifactRecorded(recorded));
    }
    goal.append(Some(&goal.load().unwrap()), at, events)
        .unwrap();
    let (code, _, stderr) = output(omk(repo.path()).args(["artifact", "show", &hex[..8]]));
    assert_eq!(code, 0, "{stderr}");
    let shared = blake3::hash(&first).to_hex()[..4].to_owned();
    let (code, stdout, stderr) = output(omk(repo.path()).args(["artifact", "show", &shared]));
    assert_eq!(code, 2);
    assert_eq!(stdout, "");
    assert!(stderr.contains("matches 2 artifacts"), "{stderr}");
    assert!(stderr.contains("gates/a/output.txt"), "{stderr}");
    assert!(stderr.contains("give more digits"), "{stderr}");
    let full = blake3::hash(&second).to_hex().to_string();
    let (code, stdout, _) =
        output(omk(repo.path()).args(["artifact", "show", &full, "--goal", "latest"]));
    assert_eq!((code, stdout.as_bytes()), (0, second.as_slice()));

    let unrecorded = blake3::hash(b"never recorded").to_hex().to_string();
    for (prefix, message) in [
        ("xyz", "is not a hash prefix"),
        (unrecorded.as_str(), "(the only one here)"),
    ] {
        let (code, _, stderr) = output(omk(repo.path()).args(["artifact", "show", prefix]));
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
    }

    // Bytes that no longer match their hash are never printed.
    fs::write(&stored, "tampered\n").unwrap();
    let (code, stdout, stderr) = output(omk(repo.path()).args(["artifact", "show", &hex[..8]]));
    assert_eq!((code, stdout.as_str()), (1, ""));
    assert!(stderr.contains("was altered on disk"), "{stderr}");
    fs::remove_file(&stored).unwrap();
    let (code, _, stderr) = output(omk(repo.path()).args(["artifact", "show", &hex[..8]]));
    assert_eq!(code, 1);
    assert!(stderr.contains("is missing from the store"), "{stderr}");
}
