//! Property test of the verdict rule: whatever gate runs a goal has, it is never `ready` when
//! any required gate's latest result on the claimed tree is missing, failed, stale or dirty —
//! and it is reachable: with every gate green on the claimed tree, a review and an acceptance,
//! it is `ready`.

use omk::event::{
    BudgetLimits, Decision, Event, GateFinished, GateTarget, IntegrationDecided, OracleChecked,
    Phase, PhaseEntered, PlanSource, RecordedEvent, ResultBuilt, ReviewRecorded, Risk, RunMode,
    RunOptions, RunStarted, TaskKind, TaskSpec, TaskStatus, TaskTransitioned, TasksPlanned,
    Timestamp,
};
use omk::log::artifacts::ContentHash;
use omk::state::verdict::{latest_gate_runs, verdict};
use omk::state::GoalState;
use proptest::prelude::*;

const CLAIMED: &str = "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1";
const OTHER: &str = "0707070707070707070707070707070707070707";

fn spec(id: &str, kind: TaskKind, depends_on: &[&str]) -> TaskSpec {
    TaskSpec {
        id: id.into(),
        title: id.to_owned(),
        description: id.to_owned(),
        kind,
        owner_role: "controller".to_owned(),
        depends_on: depends_on.iter().map(|d| (*d).into()).collect(),
        read_set: vec![],
        write_set: vec!["src/a.rs".to_owned()],
        risk: Risk::Low,
        acceptance: vec!["done".to_owned()],
        max_retries: 0,
        required: true,
    }
}

fn moved(id: &str, from: TaskStatus, to: TaskStatus) -> Event {
    Event::TaskTransitioned(TaskTransitioned {
        task_id: id.into(),
        from,
        to,
        reason: None,
    })
}

/// A goal with its one slice done and its claimed tree built, in the verifying phase.
fn verified_goal() -> Vec<Event> {
    let mut events = vec![
        Event::RunStarted(RunStarted {
            goal_id: "g-verdict".into(),
            prompt: "p".to_owned(),
            normalized_prompt: "p".to_owned(),
            base_commit: Some(OTHER.to_owned()),
            omk_version: "0.1.0".to_owned(),
            budget: BudgetLimits::default(),
            options: RunOptions {
                mode: RunMode::Run,
                agent: None,
                agent_cmd: None,
                planner: None,
            },
        }),
        Event::OracleChecked(OracleChecked {
            testable: true,
            signals: vec![],
            decisions_required: vec![],
        }),
        Event::PhaseEntered(PhaseEntered {
            phase: Phase::Planning,
        }),
        Event::TasksPlanned(TasksPlanned {
            source: PlanSource::Deterministic,
            tasks: vec![
                spec("slice-1", TaskKind::Implementation, &[]),
                spec("review", TaskKind::Review, &["slice-1"]),
            ],
        }),
        Event::PhaseEntered(PhaseEntered {
            phase: Phase::Executing,
        }),
    ];
    for id in ["slice-1", "review"] {
        events.push(moved(id, TaskStatus::Pending, TaskStatus::Running));
        events.push(moved(id, TaskStatus::Running, TaskStatus::Done));
    }
    events.push(Event::ResultBuilt(ResultBuilt {
        branch: "omk/g/result".to_owned(),
        commit: CLAIMED.to_owned(),
        tree: CLAIMED.to_owned(),
        merged: vec!["slice-1".into()],
        base_tree: None,
    }));
    events.push(Event::PhaseEntered(PhaseEntered {
        phase: Phase::Verifying,
    }));
    events
}

/// Returns what a gate run and then a review, integration and acceptance do to the goal.
fn finishing() -> Vec<Event> {
    vec![
        Event::ReviewRecorded(ReviewRecorded {
            commit: CLAIMED.to_owned(),
            files_reviewed: 1,
            findings: vec![],
            blocking: 0,
            passed: true,
            findings_artifact: ContentHash::of(b"[]"),
        }),
        Event::PhaseEntered(PhaseEntered {
            phase: Phase::Reviewing,
        }),
        Event::PhaseEntered(PhaseEntered {
            phase: Phase::Integrating,
        }),
        Event::IntegrationDecided(IntegrationDecided {
            decision: Decision::Accepted,
            note: "ok".to_owned(),
        }),
    ]
}

fn gate_run(
    (gate, required, on_claimed, exit_code, (timed_out, interrupted), dirty): (
        u8,
        bool,
        bool,
        i32,
        (bool, bool),
        bool,
    ),
) -> Event {
    Event::GateFinished(GateFinished {
        gate: format!("gate-{gate}").into(),
        command: "true".to_owned(),
        required,
        red_first: false,
        target: GateTarget {
            commit: (if on_claimed { CLAIMED } else { OTHER }).to_owned(),
            tree: CLAIMED.to_owned(),
            dirty,
            baseline: false,
            task_id: None,
            landing: false,
        },
        exit_code: Some(exit_code),
        timed_out,
        duration_ms: 1,
        output: ContentHash::of(b""),
        interrupted,
        output_truncated: false,
        leftovers_killed: 0,
        leftovers_survived: 0,
        last_lines: String::new(),
        reused_from: None,
    })
}

/// Folds `events`, keeping those the reducer accepts.
fn fold_accepting(events: Vec<Event>) -> GoalState {
    let at: Timestamp = "2026-11-24T14:00:00Z".parse().unwrap();
    let mut recorded = events
        .into_iter()
        .enumerate()
        .map(|(seq, event)| RecordedEvent {
            seq: seq as u64,
            at,
            event,
        });
    let mut state = GoalState::start(&recorded.next().unwrap()).unwrap();
    for event in recorded {
        let _ = state.apply(&event);
    }
    state
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn ready_only_with_every_required_gate_green_on_the_claimed_tree(
        runs in prop::collection::vec((0u8..3, any::<bool>(), any::<bool>(), 0i32..2, (prop::bool::weighted(0.1), prop::bool::weighted(0.1)), prop::bool::weighted(0.1)), 0..8),
    ) {
        let mut events = verified_goal();
        events.extend(runs.into_iter().map(gate_run));
        events.extend(finishing());
        let state = fold_accepting(events);
        let verdict = verdict(&state);
        let latest = latest_gate_runs(&state);
        let all_green = latest.iter().filter(|record| record.run.required).all(|record| {
            record.run.passed() && record.run.target.commit == CLAIMED && !record.run.target.dirty
        });
        let any_required = latest.iter().any(|record| record.run.required);
        if verdict.ready {
            prop_assert!(all_green && any_required, "ready with {:?}", latest);
        }
        // Reachable: when the gates are all green (and some are required), the goal is ready.
        prop_assert_eq!(verdict.ready, all_green && any_required, "{:?}", verdict.blockers);
    }
}
