//! Golden goal fixtures: goal logs under `fixtures/goals/<case>/` with the exact bytes of
//! `omk goal status --format json`, `show --format json`, `show --format md`, the
//! `task-graph.json` projection and the snapshot they must give. Each is also validated
//! against its JSON Schema in `schemas/`, as is every stored line and event payload.
//! `OMK_UPDATE_FIXTURES=1 cargo test --test it golden_goals::` rewrites them.
//!
//! The logs are built here from typed events with a fixed clock and fixed ids, so rebuilding
//! them must reproduce the checked-in bytes exactly: this pins the encoding of every payload.
// Tests run the real binary as a process.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{at, copy_tree};
use omk::event::{
    AgentFinished, AgentStarted, BudgetExtended, BudgetLimits, ChangesRecorded, Conclusion,
    Decision, Event, Evidence, FindingSeverity, GateFinished, GateTarget, GoalCancelled,
    GoalConcluded, GoalPaused, GoalResumed, IntegrationDecided, Phase, PhaseEntered, PlanSource,
    ResultBuilt, ReviewCheck, ReviewFinding, ReviewRecorded, RoundCause, RoundStarted, RunMode,
    RunOptions, RunStarted, TaskEvidenceRecorded, TaskLeased, TaskStatus, TaskTransitioned,
    TasksPlanned, Timestamp, UsageRecorded,
};
use omk::log::writer::Expected;
use omk::log::{ArtifactStore, EventId, LogPaths, LogReader, LogWriter, NewEvent};
use omk::plan::decompose::slices;
use omk::plan::documents::{documents, PlanFacts};
use omk::plan::oracle::check_oracle;
use omk::plan::relevance::{keywords, rank_files, ScannedFile};
use omk::plan::{normalize_prompt, task_graph, RELEVANT_FILES};
use omk::project::snapshot::Snapshot;
use omk::project::to_json;
use omk::store::StateDir;
use serde_json::Value;
use std::process::Command;

const CASES: [&str; 8] = [
    "planned",
    "executing",
    "blocked",
    "cancelled",
    "ready",
    "gate-failed",
    "stale",
    "two-rounds",
];
const GOAL: &str = "g-20261124-140000-000-gold";

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/goals")
}

/// A fixed picture of a repository, standing in for the scan.
fn scanned() -> Vec<ScannedFile> {
    let file = |path: &str, hits: &[(&str, u32)]| ScannedFile {
        path: path.to_owned(),
        content_hits: hits.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect(),
    };
    vec![
        file("README.md", &[("list", 1)]),
        file("src/cli/list.rs", &[("list", 6), ("json", 1), ("flag", 2)]),
        file("src/parser.rs", &[("parser", 3), ("empty", 1)]),
        file("tests/list.rs", &[("list", 4)]),
    ]
}

/// Returns `task_transitioned` for `task`, from `from` to `to`, with no reason.
fn moved(task: &str, from: TaskStatus, to: TaskStatus) -> Event {
    Event::TaskTransitioned(TaskTransitioned {
        task_id: task.into(),
        from,
        to,
        reason: None,
    })
}

/// Returns the batches of the case's history, each with its seconds after the fixed start.
fn history(case: &str, store: &ArtifactStore) -> Vec<(i64, Vec<Event>)> {
    let prompt = match case {
        "blocked" => "Make the dashboard look nicer",
        _ => "Add a --json flag to the list command. Fix the parser crash on empty input",
    };
    let normalized = normalize_prompt(prompt);
    let oracle = check_oracle(&normalized);
    let budget = BudgetLimits {
        time_secs: Some(7200),
        tokens: Some(200_000),
        usd_micros: Some(5_000_000),
    };
    let started = Event::RunStarted(RunStarted {
        goal_id: GOAL.into(),
        prompt: prompt.to_owned(),
        normalized_prompt: normalized.clone(),
        base_commit: Some("4b825dc642cb6eb9a060e54bf8d69288fbee4904".to_owned()),
        omk_version: "0.1.0".to_owned(),
        budget,
        options: RunOptions {
            mode: RunMode::Run,
            agent: Some("claude".to_owned()),
            agent_cmd: None,
            planner: None,
        },
    });
    if case == "blocked" {
        let concluded = Event::GoalConcluded(GoalConcluded {
            status: Conclusion::BlockedOnHuman,
            reason: "the goal's success cannot be tested without a human decision".to_owned(),
            decisions_required: oracle.decisions_required.clone(),
        });
        return vec![(0, vec![started, Event::OracleChecked(oracle), concluded])];
    }
    let scan = scanned();
    let relevant = rank_files(&scan, &keywords(&normalized), RELEVANT_FILES);
    let tasks = task_graph(slices(&normalized, &scan)).unwrap();
    let facts = PlanFacts {
        goal_id: GOAL,
        prompt: &normalized,
        base_commit: Some("4b825dc642cb6eb9a060e54bf8d69288fbee4904"),
        budget: &budget,
        oracle: &oracle,
        relevant: &relevant,
        tasks: &tasks,
    };
    let mut planning: Vec<Event> = documents(&facts)
        .into_iter()
        .map(|doc| {
            Event::ArtifactRecorded(
                store
                    .put(doc.name, doc.media_type, doc.text.as_bytes())
                    .unwrap(),
            )
        })
        .collect();
    planning.push(Event::TasksPlanned(TasksPlanned {
        source: PlanSource::Deterministic,
        tasks,
    }));
    let mut batches = vec![
        (
            0,
            vec![
                started,
                Event::OracleChecked(oracle),
                Event::PhaseEntered(PhaseEntered {
                    phase: Phase::Planning,
                }),
            ],
        ),
        (2, planning),
    ];
    match case {
        "planned" => return batches,
        "cancelled" => {
            batches.push((
                600,
                vec![Event::GoalCancelled(GoalCancelled {
                    reason: Some("the approach changed".to_owned()),
                })],
            ));
            return batches;
        }
        "ready" | "gate-failed" | "stale" | "two-rounds" => {
            batches.extend(verified(case, store));
            return batches;
        }
        _ => {}
    }
    let expires: Timestamp = "2026-11-24T14:20:00Z".parse().unwrap();
    let transcript = store
        .put(
            "slice-1/transcript.jsonl",
            "application/x-ndjson",
            b"{\"type\":\"result\"}\n",
        )
        .unwrap();
    batches.extend([
        (
            60,
            vec![
                Event::PhaseEntered(PhaseEntered {
                    phase: Phase::Executing,
                }),
                moved("slice-1", TaskStatus::Pending, TaskStatus::Running),
                Event::TaskLeased(TaskLeased {
                    task_id: "slice-1".into(),
                    holder: "4242@builder".to_owned(),
                    expires_at: expires,
                }),
            ],
        ),
        (
            300,
            vec![
                Event::UsageRecorded(UsageRecorded {
                    task_id: Some("slice-1".into()),
                    input_tokens: Some(12_000),
                    output_tokens: Some(3_400),
                    usd_micros: Some(420_000),
                }),
                Event::ArtifactRecorded(transcript.clone()),
                Event::TaskEvidenceRecorded(TaskEvidenceRecorded {
                    task_id: "slice-1".into(),
                    evidence: Evidence {
                        summary: "agent transcript".to_owned(),
                        artifact: Some(transcript.hash),
                    },
                }),
                moved("slice-1", TaskStatus::Running, TaskStatus::Done),
                moved("slice-2", TaskStatus::Pending, TaskStatus::Running),
            ],
        ),
        (
            420,
            vec![Event::GoalPaused(GoalPaused {
                reason: Some("lunch".to_owned()),
            })],
        ),
        (
            3000,
            vec![Event::BudgetExtended(BudgetExtended {
                added: BudgetLimits {
                    time_secs: Some(3600),
                    tokens: None,
                    usd_micros: None,
                },
                reason: Some("the parser slice is bigger than planned".to_owned()),
            })],
        ),
        (3600, vec![Event::GoalResumed(GoalResumed { note: None })]),
        (
            3900,
            vec![Event::UsageRecorded(UsageRecorded {
                task_id: Some("slice-2".into()),
                input_tokens: None,
                output_tokens: None,
                usd_micros: None,
            })],
        ),
    ]);
    batches
}

const BASE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
const CLAIMED: &str = "9f8d9c601756e38b0d45e84719a5fdcaeebd152a";
const CLAIMED_TREE: &str = "7e90f5882adb7f742a6bada631476fb4d0d95313";
const MOVED: &str = "1111111111111111111111111111111111111111";

/// The history after planning of a goal that was executed, verified and reviewed: `ready`
/// (and accepted), `gate-failed`, or `stale` (the claimed tree moved after the gates ran).
fn verified(case: &str, store: &ArtifactStore) -> Vec<(i64, Vec<Event>)> {
    let put = |name: &str, bytes: &[u8]| store.put(name, "text/plain", bytes).unwrap();
    let mut batches = vec![(
        60,
        vec![Event::PhaseEntered(PhaseEntered {
            phase: Phase::Executing,
        })],
    )];
    for (index, (slice, file)) in [("slice-1", "src/cli/list.rs"), ("slice-2", "src/parser.rs")]
        .into_iter()
        .enumerate()
    {
        let head = format!("{:040x}", index + 1);
        batches.extend(agent_run(
            store,
            slice,
            file,
            120 + index as i64 * 60,
            0,
            BASE,
            &head,
        ));
    }
    batches.push((300, rebuilt(CLAIMED)));
    let gate = |name: &str, commit: &str, baseline: bool, exit_code: i32| {
        let output = put(
            &format!(
                "gates/{name}/{}/output.txt",
                if baseline { "baseline" } else { "head" }
            ),
            format!("{name} exited {exit_code}\n").as_bytes(),
        );
        vec![
            Event::ArtifactRecorded(output.clone()),
            Event::GateFinished(GateFinished {
                gate: name.into(),
                command: format!("cargo {name}"),
                required: true,
                red_first: false,
                target: GateTarget {
                    commit: commit.to_owned(),
                    tree: CLAIMED_TREE.to_owned(),
                    dirty: false,
                    baseline,
                    task_id: None,
                    landing: false,
                },
                exit_code: Some(exit_code),
                timed_out: false,
                duration_ms: 12_000,
                output: output.hash,
                interrupted: false,
                output_truncated: false,
                leftovers_killed: 0,
                leftovers_survived: 0,
                last_lines: if exit_code == 0 {
                    String::new()
                } else {
                    "test adds_two_numbers ... FAILED\ntest result: FAILED. 0 passed; 1 failed"
                        .to_owned()
                },
                reused_from: None,
            }),
        ]
    };
    let head_test = if matches!(case, "gate-failed" | "two-rounds") {
        101
    } else {
        0
    };
    batches.push((
        360,
        [gate("test", BASE, true, 101), gate("fmt", BASE, true, 0)].concat(),
    ));
    batches.push((
        420,
        [
            gate("test", CLAIMED, false, head_test),
            gate("fmt", CLAIMED, false, 0),
        ]
        .concat(),
    ));
    if case == "two-rounds" {
        batches.extend(two_fix_rounds(store, &gate));
        return batches;
    }
    if case == "stale" {
        batches.push((
            480,
            vec![Event::ResultBuilt(ResultBuilt {
                branch: format!("omk/{GOAL}/result"),
                commit: MOVED.to_owned(),
                tree: MOVED.to_owned(),
                merged: vec!["slice-1".into(), "slice-2".into()],
                base_tree: None,
            })],
        ));
    }
    let findings: Vec<ReviewFinding> = match case {
        "ready" => vec![],
        "gate-failed" => vec![ReviewFinding {
            check: ReviewCheck::Gates,
            severity: FindingSeverity::High,
            file: None,
            line: None,
            message: "gate `test` exited 101".to_owned(),
        }],
        _ => vec![ReviewFinding {
            check: ReviewCheck::Gates,
            severity: FindingSeverity::High,
            file: None,
            line: None,
            message: "evidence stale".to_owned(),
        }],
    };
    let passed = findings.is_empty();
    let artifact = put("review/findings.json", b"[]\n");
    let mut review = vec![
        Event::ArtifactRecorded(artifact.clone()),
        Event::ReviewRecorded(ReviewRecorded {
            commit: if case == "stale" { MOVED } else { CLAIMED }.to_owned(),
            files_reviewed: 2,
            blocking: findings.len() as u64,
            passed,
            findings,
            findings_artifact: artifact.hash,
        }),
    ];
    if passed {
        review.push(Event::PhaseEntered(PhaseEntered {
            phase: Phase::Reviewing,
        }));
        for task in ["local-verify", "security-review", "review"] {
            review.push(moved(task, TaskStatus::Pending, TaskStatus::Running));
            review.push(moved(task, TaskStatus::Running, TaskStatus::Done));
        }
        review.push(Event::PhaseEntered(PhaseEntered {
            phase: Phase::Integrating,
        }));
    }
    batches.push((540, review));
    if case == "ready" {
        batches.push((
            600,
            vec![Event::IntegrationDecided(IntegrationDecided {
                decision: Decision::Accepted,
                note: "the flag and the fix are what was asked".to_owned(),
            })],
        ));
    }
    batches
}

/// Returns the batch that closes the wave and builds the claimed tree at `commit`.
fn rebuilt(commit: &str) -> Vec<Event> {
    vec![
        moved("agent-execution", TaskStatus::Pending, TaskStatus::Running),
        moved("agent-execution", TaskStatus::Running, TaskStatus::Done),
        Event::ResultBuilt(ResultBuilt {
            branch: format!("omk/{GOAL}/result"),
            commit: commit.to_owned(),
            tree: CLAIMED_TREE.to_owned(),
            merged: vec!["slice-1".into(), "slice-2".into()],
            base_tree: None,
        }),
        Event::PhaseEntered(PhaseEntered {
            phase: Phase::Verifying,
        }),
    ]
}

/// The rest of a goal whose `test` gate failed on its first result: a fix round reopens
/// slice-1 with the gate's output, the gate fails again, a second round fixes it, and the
/// review passes: the goal waits at `integrating` for the integrator.
fn two_fix_rounds(
    store: &ArtifactStore,
    gate: &dyn Fn(&str, &str, bool, i32) -> Vec<Event>,
) -> Vec<(i64, Vec<Event>)> {
    let round = |round: u32, on: &str| {
        Event::RoundStarted(RoundStarted {
            round,
            cause: RoundCause::GateFailed,
            reason: "required gate `test` exited 101 on the result".to_owned(),
            tasks: vec!["slice-1".into()],
            feedback: format!(
                "### Gate `test` exited 101\n\nCommand: `cargo test`, run on the goal's result (every slice merged) at {}.\n\nIts last output lines:\n\n```\ntest adds_two_numbers ... FAILED\ntest result: FAILED. 0 passed; 1 failed\n```",
                &on[..12]
            ),
        })
    };
    let (first_fix, second_fix) = ("1a".repeat(20), "1b".repeat(20));
    let (second_result, third_result) = ("2a".repeat(20), "2b".repeat(20));
    let mut batches = vec![(600, vec![round(1, CLAIMED)])];
    batches.extend(agent_run(
        store,
        "slice-1",
        "src/cli/list.rs",
        620,
        1,
        &format!("{:040x}", 1),
        &first_fix,
    ));
    batches.push((700, rebuilt(&second_result)));
    batches.push((
        720,
        [
            gate("test", &second_result, false, 101),
            gate("fmt", &second_result, false, 0),
        ]
        .concat(),
    ));
    batches.push((800, vec![round(2, &second_result)]));
    batches.extend(agent_run(
        store,
        "slice-1",
        "src/cli/list.rs",
        820,
        2,
        &first_fix,
        &second_fix,
    ));
    batches.push((900, rebuilt(&third_result)));
    batches.push((
        920,
        [
            gate("test", &third_result, false, 0),
            gate("fmt", &third_result, false, 0),
        ]
        .concat(),
    ));
    let findings = store
        .put("review/findings.json", "text/plain", b"[]\n")
        .unwrap();
    let mut review = vec![
        Event::ArtifactRecorded(findings.clone()),
        Event::ReviewRecorded(ReviewRecorded {
            commit: third_result.clone(),
            files_reviewed: 2,
            blocking: 0,
            passed: true,
            findings: vec![],
            findings_artifact: findings.hash,
        }),
        Event::PhaseEntered(PhaseEntered {
            phase: Phase::Reviewing,
        }),
    ];
    for task in ["local-verify", "security-review", "review"] {
        review.push(moved(task, TaskStatus::Pending, TaskStatus::Running));
        review.push(moved(task, TaskStatus::Running, TaskStatus::Done));
    }
    review.push(Event::PhaseEntered(PhaseEntered {
        phase: Phase::Integrating,
    }));
    batches.push((980, review));
    batches
}

/// Returns the batches of one agent run on `slice` that changed `file`: launched at `at` from
/// `start` in fix round `round`, done 30 seconds later at commit `head`.
fn agent_run(
    store: &ArtifactStore,
    slice: &str,
    file: &str,
    at: i64,
    round: u32,
    start: &str,
    head: &str,
) -> Vec<(i64, Vec<Event>)> {
    let put = |name: &str, bytes: &[u8]| store.put(name, "text/plain", bytes).unwrap();
    let label = match round {
        0 => "attempt-0".to_owned(),
        round => format!("round-{round}/attempt-0"),
    };
    let prompt = put(
        &format!("{slice}/{label}/prompt.md"),
        format!("Do {slice}").as_bytes(),
    );
    let stdout = put(
        &format!("{slice}/{label}/stdout"),
        b"{\"type\":\"result\",\"result\":\"done\"}\n",
    );
    let stderr = put(&format!("{slice}/{label}/stderr"), b"");
    let diff = put(
        &format!("{slice}/{label}/diff.patch"),
        format!("--- a/{file}\n+++ b/{file}\n").as_bytes(),
    );
    vec![
        (
            at,
            vec![
                moved(slice, TaskStatus::Pending, TaskStatus::Running),
                Event::ArtifactRecorded(prompt.clone()),
                Event::AgentStarted(AgentStarted {
                    task_id: slice.into(),
                    attempt: 0,
                    round,
                    agent: "claude".to_owned(),
                    argv: vec!["claude".to_owned(), "-p".to_owned(), "{prompt}".to_owned()],
                    worktree: format!("/repo/.omk/goals/{GOAL}/worktrees/{slice}"),
                    branch: format!("omk/{GOAL}/{slice}"),
                    start_commit: start.to_owned(),
                    pid: 4242,
                    prompt: prompt.hash,
                    builds_on: (round > 0).then(|| start.to_owned()),
                }),
            ],
        ),
        (
            at + 30,
            vec![
                Event::ArtifactRecorded(stdout.clone()),
                Event::ArtifactRecorded(stderr.clone()),
                Event::AgentFinished(AgentFinished {
                    task_id: slice.into(),
                    exit_code: Some(0),
                    timed_out: false,
                    interrupted: false,
                    duration_ms: 30_000,
                    stdout: stdout.hash,
                    stderr: stderr.hash,
                    limit_stop: None,
                    claim: Some("done".to_owned()),
                    transcript_truncated: false,
                    leftovers_killed: 0,
                    leftovers_survived: 0,
                    last_lines: String::new(),
                }),
                Event::UsageRecorded(UsageRecorded {
                    task_id: Some(slice.into()),
                    input_tokens: Some(1000),
                    output_tokens: Some(200),
                    usd_micros: Some(50_000),
                }),
                Event::ArtifactRecorded(diff.clone()),
                Event::ChangesRecorded(ChangesRecorded {
                    task_id: slice.into(),
                    start_commit: start.to_owned(),
                    head_commit: head.to_owned(),
                    commits: vec![head.to_owned()],
                    committed_leftovers: true,
                    changed_files: vec![file.to_owned()],
                    insertions: 3,
                    deletions: 1,
                    diff: Some(diff.hash),
                    diff_truncated: false,
                    outside_write_set: vec![],
                    widened: vec![],
                }),
                moved(slice, TaskStatus::Running, TaskStatus::Done),
            ],
        ),
    ]
}

/// Builds the case's state directory in `home` (which must be empty).
fn build_case(case: &str, home: &Path) {
    let goal = StateDir::new(home).goal(GOAL);
    fs::create_dir_all(goal.dir()).unwrap();
    let paths = goal.paths();
    let mut writer = LogWriter::open(&paths).unwrap();
    let mut next_id = 1;
    for (seconds, batch) in history(case, &goal.artifacts()) {
        let events: Vec<NewEvent> = batch
            .iter()
            .map(|event| {
                let id = EventId::new(format!("ev-{next_id:04}")).unwrap();
                next_id += 1;
                event.to_new_event(id).unwrap()
            })
            .collect();
        let expected = Expected::Seq(writer.position().next_seq);
        writer.append(expected, at(seconds), &events).unwrap();
    }
}

fn omk(home: &Path, args: &[&str]) -> String {
    omk_exiting(home, args, &[0])
}

/// Runs omk, which must exit with one of `codes` (`proof` exits 1 when the goal is not ready).
fn omk_exiting(home: &Path, args: &[&str], codes: &[i32]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_omk"))
        .current_dir(home)
        .env("OMK_HOME", home)
        .env("OMK_TEST_NOW", "2026-11-24T16:00:00Z")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|code| codes.contains(&code)),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Returns the files a case pins: (name under expected/, bytes, schema that must accept it).
fn expected_outputs(home: &Path) -> Vec<(&'static str, String, Option<&'static str>)> {
    let goal = StateDir::new(home).goal(GOAL);
    let loaded = goal.load().unwrap();
    let snapshot = to_json(&Snapshot::new(&loaded.state, loaded.position, &loaded.tree).unwrap());
    vec![
        (
            "status.json",
            omk(home, &["goal", "status", GOAL, "--format", "json"]),
            Some("goal-status.schema.json"),
        ),
        ("status.txt", omk(home, &["goal", "status", GOAL]), None),
        (
            "show.json",
            omk(home, &["goal", "show", GOAL, "--format", "json"]),
            Some("goal-show.schema.json"),
        ),
        (
            "show.md",
            omk(home, &["goal", "show", GOAL, "--format", "md"]),
            None,
        ),
        (
            "budget.json",
            omk(home, &["goal", "budget", GOAL, "--format", "json"]),
            Some("goal-budget.schema.json"),
        ),
        (
            "list.json",
            omk(home, &["goal", "list", "--format", "json"]),
            Some("goal-list.schema.json"),
        ),
        ("timeline.txt", omk(home, &["replay", GOAL]), None),
        (
            "proof.json",
            omk_exiting(home, &["goal", "proof", GOAL, "--format", "json"], &[0, 1]),
            Some("proof.schema.json"),
        ),
        (
            "proof.md",
            omk_exiting(home, &["goal", "proof", GOAL], &[0, 1]),
            None,
        ),
        (
            "proof.in-toto.json",
            omk_exiting(
                home,
                &["goal", "proof", GOAL, "--format", "in-toto"],
                &[0, 1],
            ),
            Some("proof-in-toto.schema.json"),
        ),
        (
            "task-graph.json",
            to_json(&omk::project::task_graph::task_graph_view(
                &loaded.state,
                loaded.head(),
            )),
            Some("task-graph.schema.json"),
        ),
        ("snapshot.json", snapshot, Some("snapshot.schema.json")),
    ]
}

fn assert_valid(schema: &str, document: &Value, what: &str) {
    if let Some(errors) = common::schema_errors(schema, document) {
        panic!("{what} does not match schemas/{schema}: {errors}");
    }
}

#[test]
fn goal_fixtures_are_pinned_byte_for_byte_and_match_their_schemas() {
    let updating = std::env::var_os("OMK_UPDATE_FIXTURES").is_some();
    for case in CASES {
        let built = tempfile::tempdir().unwrap();
        build_case(case, built.path());
        let fixture = fixtures_dir().join(case);
        let log_relative = Path::new("goals").join(GOAL).join("events.jsonl");
        let built_log = fs::read(built.path().join(&log_relative)).unwrap();
        let outputs = expected_outputs(built.path());
        if updating {
            let _ = fs::remove_dir_all(&fixture);
            copy_tree(built.path(), &fixture);
            fs::create_dir_all(fixture.join("expected")).unwrap();
            for (name, text, _) in &outputs {
                fs::write(fixture.join("expected").join(name), text).unwrap();
            }
        }
        assert_eq!(
            fs::read(fixture.join(&log_relative)).unwrap(),
            built_log,
            "{case}: the log bytes changed: rerun with OMK_UPDATE_FIXTURES=1 if that is intended"
        );
        // Run the commands on a copy of the checked-in fixture, so nothing writes into it.
        let copy = tempfile::tempdir().unwrap();
        copy_tree(&fixture, copy.path());
        let _ = fs::remove_dir_all(copy.path().join("expected"));
        for (name, text, schema) in expected_outputs(copy.path()) {
            let pinned = fs::read_to_string(fixture.join("expected").join(name)).unwrap();
            assert_eq!(text, pinned, "{case}/expected/{name} differs");
            if let Some(schema) = schema {
                assert_valid(
                    schema,
                    &serde_json::from_str(&text).unwrap(),
                    &format!("{case}/expected/{name}"),
                );
            }
        }
        // The checked-in snapshot is used, and gives the same answers as the log alone.
        let goal_dir = copy.path().join("goals").join(GOAL);
        fs::copy(
            fixture.join("expected/snapshot.json"),
            goal_dir.join("snapshot.json"),
        )
        .unwrap();
        let loaded = StateDir::new(copy.path()).goal(GOAL).load_view().unwrap();
        assert!(
            matches!(loaded.snapshot, omk::store::SnapshotUse::Used { .. }),
            "{case}: {:?}",
            loaded.snapshot
        );
        assert_eq!(
            omk(copy.path(), &["goal", "show", GOAL, "--format", "json"]),
            fs::read_to_string(fixture.join("expected/show.json")).unwrap()
        );
        assert_lines_match_schemas(&LogPaths::resolve(&fixture.join("goals").join(GOAL)));
    }
}

fn assert_lines_match_schemas(paths: &LogPaths) {
    let text = fs::read_to_string(paths.log()).unwrap();
    for (line, raw) in text.lines().zip(LogReader::open(paths).unwrap()) {
        let raw = raw.unwrap();
        let value: Value = serde_json::from_str(line).unwrap();
        assert_valid(
            "event-line.schema.json",
            &value,
            &format!("line seq {}", raw.seq()),
        );
        let data: Value = serde_json::from_str(raw.data().get()).unwrap();
        assert_valid(
            &format!("events/{}.schema.json", raw.kind()),
            &data,
            &format!("the payload of seq {}", raw.seq()),
        );
    }
}

/// Issue 10: the built-in planner over a table of realistic requests (`fixtures/planner/`):
/// how many slices, their titles and scopes, and the acceptance criteria kept apart from the
/// work. `OMK_UPDATE_FIXTURES=1` rewrites `expected.json`, to be read before it is committed.
#[test]
fn the_planner_table_plans_each_request_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/planner");
    let table: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("requests.json")).unwrap()).unwrap();
    let mut scanned = std::collections::BTreeMap::new();
    let repositories = tempfile::tempdir().unwrap();
    for (name, files) in table["repositories"].as_object().unwrap() {
        let root = repositories.path().join(name);
        for (path, text) in files.as_object().unwrap() {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text.as_str().unwrap()).unwrap();
        }
        scanned.insert(name.clone(), root);
    }
    let mut planned = Vec::new();
    for request in table["requests"].as_array().unwrap() {
        let prompt = request["prompt"].as_str().unwrap();
        let root = &scanned[request["repository"].as_str().unwrap()];
        let files =
            omk::shell::scan::scan_repository(root, &omk::plan::relevance::keywords(prompt));
        let (_, criteria) = omk::plan::decompose::work_and_criteria(prompt);
        let slices: Vec<serde_json::Value> = omk::plan::decompose::slices(prompt, &files)
            .iter()
            .map(|slice| {
                serde_json::json!({
                    "title": slice.title,
                    "write_set": slice.write_set,
                    "depends_on": slice.depends_on,
                })
            })
            .collect();
        planned.push(serde_json::json!({
            "prompt": prompt,
            "slices": slices,
            "criteria": criteria,
        }));
    }
    let actual = serde_json::to_string_pretty(&planned).unwrap() + "\n";
    let expected_path = dir.join("expected.json");
    if std::env::var_os("OMK_UPDATE_FIXTURES").is_some() {
        std::fs::write(&expected_path, &actual).unwrap();
    }
    assert!(planned.len() >= 30);
    assert_eq!(
        std::fs::read_to_string(expected_path).unwrap_or_default(),
        actual,
        "the planner's plans changed: review them, then OMK_UPDATE_FIXTURES=1 cargo test --test it golden_goals::"
    );
}

/// Issue 13: `omk goal open-pr --dry-run` renders the proof of a ready goal as a pull request
/// (pinned byte for byte, Markdown and JSON), and refuses a goal that is not ready for a
/// person's review, naming its blockers and appending nothing.
#[test]
fn open_pr_dry_run_renders_a_ready_goal_and_refuses_one_that_is_not() {
    let updating = std::env::var_os("OMK_UPDATE_FIXTURES").is_some();
    let home = tempfile::tempdir().unwrap();
    copy_tree(
        &fixtures_dir().join("ready/goals"),
        &home.path().join("goals"),
    );
    // Beside the goal fixtures, which the test above rebuilds whole when updating.
    let pinned_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pull-requests");
    for (name, format) in [("ready.md", "md"), ("ready.json", "json")] {
        let rendered = omk(
            home.path(),
            &[
                "goal",
                "open-pr",
                GOAL,
                "--dry-run",
                "--base",
                "main",
                "--format",
                format,
            ],
        );
        let pinned = pinned_dir.join(name);
        if updating {
            fs::create_dir_all(&pinned_dir).unwrap();
            fs::write(&pinned, &rendered).unwrap();
        }
        assert_eq!(
            rendered,
            fs::read_to_string(&pinned).unwrap_or_default(),
            "fixtures/pull-requests/{name}"
        );
    }
    let json: Value = serde_json::from_str(&omk(
        home.path(),
        &[
            "goal",
            "open-pr",
            GOAL,
            "--dry-run",
            "--base",
            "main",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(json["head"], format!("omk/{GOAL}/result"));
    assert_valid(
        "pull-request.schema.json",
        &json,
        "open-pr --dry-run --format json",
    );
    assert!(json["body"]
        .as_str()
        .unwrap()
        .contains(&format!("omk replay {GOAL} --verify")));

    let home = tempfile::tempdir().unwrap();
    copy_tree(
        &fixtures_dir().join("gate-failed/goals"),
        &home.path().join("goals"),
    );
    let log = home.path().join("goals").join(GOAL).join("events.jsonl");
    let before = fs::read(&log).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_omk"))
        .current_dir(home.path())
        .env("OMK_HOME", home.path())
        .env("OMK_TEST_NOW", "2026-11-24T16:00:00Z")
        .args(["goal", "open-pr", GOAL, "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with(&format!("omk: refused: goal {GOAL} is verifying and not ready for a person's review: gate `test` exited 101 on 9f8d9c601756")),
        "{stderr}"
    );
    assert!(stderr.contains("(next: omk goal continue"), "{stderr}");
    assert_eq!(fs::read(&log).unwrap(), before);
}
