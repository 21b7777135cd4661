//! Property tests of the goal fold: random command sequences, legal and illegal.
//!
//! - A refused event leaves the state exactly as it was; nothing panics.
//! - Folding the accepted events twice gives the same state and the same projection bytes.
//! - `fold(snapshot(prefix)) + suffix == fold(all)` at every split point.
//! - Through the store: a refused append leaves the log byte-identical, and loading with or
//!   without a snapshot gives the same state.
//! - In every reachable state, each `omk goal …` command the next step names is one the goal
//!   accepts, and no command a refusal lists as allowed is refused by the transition table.

use omk::event::{
    BudgetExtended, BudgetLimits, Conclusion, Decision, Event, Evidence, GoalCancelled,
    GoalConcluded, GoalLanded, GoalPaused, GoalResumed, IntegrationDecided, LandMethod,
    OracleChecked, Phase, PhaseEntered, PlanSource, RecordedEvent, Risk, RoundCause, RoundStarted,
    RunFailed, RunMode, RunOptions, RunStarted, TaskEvidenceRecorded, TaskId, TaskKind, TaskLeased,
    TaskRetried, TaskSpec, TaskStatus, TaskTransitioned, TasksPlanned, Timestamp, UsageRecorded,
};
use omk::log::chain::Head;
use omk::log::hash::EventHash;
use omk::plan::decompose::with_controller_tasks;
use omk::project::glance::{glance, next_step};
use omk::project::show::show_view;
use omk::project::snapshot::Snapshot;
use omk::project::task_graph::task_graph_view;
use omk::project::to_json;
use omk::state::commands::GoalCommand;
use omk::state::verdict::verdict;
use omk::state::{fold, operator_commands, GoalState, Refusal};
use omk::store::StateDir;
use proptest::prelude::*;

const GOAL: &str = "g-20261124-140000-000-prop";
const STATUSES: [TaskStatus; 6] = [
    TaskStatus::Pending,
    TaskStatus::Running,
    TaskStatus::Done,
    TaskStatus::Failed,
    TaskStatus::Blocked,
    TaskStatus::Cancelled,
];
/// Phases to enter, executing twice over: it is where task work happens.
const PHASE_CHOICES: [Phase; 7] = [
    Phase::Intake,
    Phase::Planning,
    Phase::Executing,
    Phase::Executing,
    Phase::Verifying,
    Phase::Reviewing,
    Phase::Integrating,
];
const CONCLUSIONS: [Conclusion; 4] = [
    Conclusion::NotReady,
    Conclusion::BlockedOnHuman,
    Conclusion::BlockedOnExternal,
    Conclusion::NeedsMoreBudget,
];

fn at(seconds: u64) -> Timestamp {
    let base: Timestamp = "2026-11-24T14:00:00Z".parse().unwrap();
    base.plus_seconds(seconds)
}

fn slice(id: &str, depends_on: &[&str]) -> TaskSpec {
    TaskSpec {
        id: id.into(),
        title: format!("Slice {id}"),
        description: format!("Change for {id}"),
        kind: TaskKind::Implementation,
        owner_role: "implementer".to_owned(),
        depends_on: depends_on.iter().map(|dep| (*dep).into()).collect(),
        read_set: vec![],
        write_set: vec![format!("src/{id}.rs")],
        risk: Risk::Low,
        acceptance: vec!["a test passes".to_owned()],
        max_retries: 1,
        required: true,
    }
}

/// The first events of every generated goal: started, checked, planning.
fn intake() -> Vec<Event> {
    vec![
        Event::RunStarted(RunStarted {
            goal_id: GOAL.into(),
            prompt: "Add a flag".to_owned(),
            normalized_prompt: "Add a flag".to_owned(),
            base_commit: None,
            omk_version: "0.1.0".to_owned(),
            budget: BudgetLimits {
                time_secs: Some(600),
                tokens: Some(1000),
                usd_micros: None,
            },
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
            tasks: with_controller_tasks(vec![
                slice("slice-1", &[]),
                slice("slice-2", &["slice-1"]),
            ]),
        }),
    ]
}

/// Task moves the table allows, so that generated histories get somewhere; illegal ones are
/// generated too, from any status to any status.
const LEGAL_MOVES: [(TaskStatus, TaskStatus); 4] = [
    (TaskStatus::Pending, TaskStatus::Running),
    (TaskStatus::Running, TaskStatus::Done),
    (TaskStatus::Running, TaskStatus::Failed),
    (TaskStatus::Pending, TaskStatus::Blocked),
];

/// One command or shell report, possibly illegal where it lands.
fn any_event() -> impl Strategy<Value = Event> {
    let task = prop::sample::select(vec![
        "slice-1",
        "slice-2",
        "agent-execution",
        "review",
        "ghost",
    ]);
    let status = prop::sample::select(STATUSES.to_vec());
    let legal = prop::sample::select(LEGAL_MOVES.to_vec());
    let transition = |task: &str, (from, to): (TaskStatus, TaskStatus)| {
        Event::TaskTransitioned(TaskTransitioned {
            task_id: task.into(),
            from,
            to,
            reason: None,
        })
    };
    prop_oneof![
        16 => prop::sample::select(PHASE_CHOICES.to_vec()).prop_map(|phase| Event::PhaseEntered(PhaseEntered { phase })),
        4 => Just(Event::TasksPlanned(TasksPlanned {
            source: PlanSource::Planner,
            tasks: vec![slice("slice-3", &["slice-1"])],
        })),
        8 => Just(Event::GoalPaused(GoalPaused { reason: None })),
        12 => Just(Event::GoalResumed(GoalResumed { note: None })),
        1 => Just(Event::GoalCancelled(GoalCancelled { reason: Some("stop".to_owned()) })),
        8 => (0u64..2000).prop_map(|secs| Event::BudgetExtended(BudgetExtended {
            added: BudgetLimits { time_secs: Some(secs), tokens: Some(secs), usd_micros: None },
            reason: None,
        })),
        1 => prop::sample::select(vec![Decision::Accepted, Decision::Rejected])
            .prop_map(|decision| Event::IntegrationDecided(IntegrationDecided { decision, note: "n".to_owned() })),
        1 => prop::sample::select(CONCLUSIONS.to_vec()).prop_map(|status| Event::GoalConcluded(GoalConcluded {
            status,
            reason: "r".to_owned(),
            decisions_required: vec![],
        })),
        1 => Just(Event::RunFailed(RunFailed { reason: "disk full".to_owned(), task_id: None })),
        1 => Just(Event::GoalLanded(GoalLanded {
            into: "main".to_owned(),
            method: LandMethod::Squash,
            onto: "4b825dc642cb6eb9a060e54bf8d69288fbee4904".to_owned(),
            commit: "9f8d9c601756e38b0d45e84719a5fdcaeebd152a".to_owned(),
            tree: "7e90f5882adb7f742a6bada631476fb4d0d95313".to_owned(),
            reverified: false,
        })),
        6 => (1u32..4, prop::sample::select(vec![RoundCause::GateFailed, RoundCause::ReviewFailed, RoundCause::SliceFailed]), prop::sample::subsequence(vec!["slice-1", "slice-2", "agent-execution"], 0..3))
            .prop_map(|(round, cause, tasks)| Event::RoundStarted(RoundStarted {
                round,
                cause,
                reason: "r".to_owned(),
                tasks: tasks.into_iter().map(TaskId::from).collect(),
                feedback: "f".to_owned(),
            })),
        40 => (task.clone(), legal).prop_map(move |(task, moved)| transition(task, moved)),
        8 => (task.clone(), status.clone(), status).prop_map(move |(task, from, to)| transition(task, (from, to))),
        8 => task.clone().prop_map(|task| Event::TaskRetried(TaskRetried { task_id: task.into(), reason: "again".to_owned(), backoff_ms: None })),
        8 => (task.clone(), 0u64..900).prop_map(|(task, secs)| Event::TaskLeased(TaskLeased {
            task_id: task.into(),
            holder: "42@host".to_owned(),
            expires_at: at(secs),
        })),
        8 => task.prop_map(|task| Event::TaskEvidenceRecorded(TaskEvidenceRecorded {
            task_id: task.into(),
            evidence: Evidence { summary: "ran".to_owned(), artifact: None },
        })),
        12 => (prop::option::of(0u64..500), prop::option::of(0u64..90_000)).prop_map(|(tokens, usd)| Event::UsageRecorded(UsageRecorded {
            task_id: None,
            input_tokens: tokens,
            output_tokens: tokens,
            usd_micros: usd,
        })),
    ]
}

/// Applies `events` one by one from the intake, keeping what the reducer accepts.
/// Checks on the way that a refusal leaves the state untouched.
fn accepted_history(events: &[Event]) -> Vec<RecordedEvent> {
    let mut recorded: Vec<RecordedEvent> = Vec::new();
    let mut state: Option<GoalState> = None;
    for event in intake().into_iter().chain(events.iter().cloned()) {
        let candidate = RecordedEvent {
            seq: recorded.len() as u64,
            at: at(recorded.len() as u64 * 7),
            event,
        };
        match &mut state {
            None => state = Some(GoalState::start(&candidate).unwrap()),
            Some(state) => {
                let before = state.clone();
                if state.apply(&candidate).is_err() {
                    assert_eq!(*state, before, "a refused event changed the state");
                    continue;
                }
            }
        }
        recorded.push(candidate);
    }
    recorded
}

fn head_of(recorded: &[RecordedEvent]) -> Head {
    Head {
        seq: recorded.len() as u64 - 1,
        hash: EventHash::GENESIS,
    }
}

fn projections(state: &GoalState, head: Head) -> [String; 3] {
    [
        to_json(&task_graph_view(state, head)),
        to_json(&glance(state, head)),
        to_json(&show_view(state, head)),
    ]
}

/// Returns each goal command `text` names for this goal (`omk goal <verb> <id>`).
fn named_commands(text: &str, goal_id: &str) -> Vec<(String, Option<GoalCommand>)> {
    text.split("omk goal ")
        .skip(1)
        .filter_map(|rest| {
            let mut words = rest.split_whitespace();
            let verb = words.next()?.trim_end_matches(['`', ',', ';', ')']);
            let target = words
                .next()
                .map(|word| word.trim_end_matches(['`', ',', ';', ')']));
            // `omk goal run` starts another goal, and the views read any goal at any time.
            let acts = !matches!(verb, "run" | "status" | "show" | "proof" | "budget");
            acts.then(|| {
                assert_eq!(target, Some(goal_id), "{text}");
                (verb.to_owned(), GoalCommand::from_verb(verb))
            })
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_next_step_names_a_command_the_goal_accepts(events in prop::collection::vec(any_event(), 0..100)) {
        let recorded = accepted_history(&events);
        let mut state = GoalState::start(&recorded[0]).unwrap();
        for event in &recorded[1..] {
            state.apply(event).unwrap();
            // What status and show print as the next step, and every blocker's next step in
            // show and the proof.
            let printed = std::iter::once(next_step(&state))
                .chain(verdict(&state).blockers.into_iter().map(|blocker| blocker.next_step));
            for next in printed {
                for (verb, command) in named_commands(&next, GOAL) {
                    let command = command.unwrap_or_else(|| panic!("`omk goal {verb}` is not a goal command: {next}"));
                    if let Err(refusal) = state.check_command(command) {
                        prop_assert!(false, "in {} ({}): next step `{}` would be refused: {}", state.status, state.phase.name(), next, refusal);
                    }
                }
            }
            // Every refusal names only commands the goal accepts (`allowed now` aside, which
            // lists commands, not steps).
            for verb in ["execute", "verify", "review", "continue", "edit-plan", "pause", "resume", "cancel", "budget-add", "accept", "reject"] {
                let Err(refusal) = state.check_command(GoalCommand::from_verb(verb).unwrap()) else {
                    continue;
                };
                let message = refusal.to_string();
                let steps = message.split("; allowed now:").next().unwrap_or_default();
                for (named, command) in named_commands(steps, GOAL) {
                    let command = command.unwrap_or_else(|| panic!("`omk goal {named}` is not a goal command: {message}"));
                    prop_assert!(state.check_command(command).is_ok(), "in {}: refusing {} names `{}`, which is refused too: {}", state.status, verb, named, message);
                }
            }
            // A refusal's "allowed now" list agrees with the checks: a listed command may
            // still wait on its own precondition (slices not done), never on the table.
            for name in operator_commands(state.status, state.phase) {
                let command = GoalCommand::from_verb(&name).unwrap_or_else(|| panic!("`{name}` is not a goal command"));
                if let Err(refusal @ Refusal::NotAllowed { .. }) = state.check_command(command) {
                    prop_assert!(false, "in {}: `{}` is listed as allowed but refused: {}", state.status, name, refusal);
                }
            }
        }
    }

    #[test]
    fn folding_is_deterministic_and_snapshots_split_anywhere(events in prop::collection::vec(any_event(), 0..100)) {
        let recorded = accepted_history(&events);
        let state = fold(&recorded).unwrap().unwrap();
        prop_assert_eq!(&fold(&recorded).unwrap().unwrap(), &state);
        let head = head_of(&recorded);
        let expected = projections(&state, head);
        prop_assert_eq!(&projections(&fold(&recorded).unwrap().unwrap(), head), &expected);
        for split in 1..=recorded.len() {
            let prefix = fold(&recorded[..split]).unwrap().unwrap();
            // A snapshot is the prefix's state through its JSON form, as stored on disk.
            let mut resumed: GoalState = serde_json::from_str(&to_json(&prefix)).unwrap();
            for event in &recorded[split..] {
                resumed.apply(event).unwrap();
            }
            prop_assert_eq!(&resumed, &state, "split at {}", split);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn through_the_store_refusals_append_nothing_and_snapshots_change_nothing(
        events in prop::collection::vec(any_event(), 0..30),
        snapshot_at in 0usize..40,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = StateDir::new(dir.path());
        let mut intake = intake();
        let started = intake.remove(0);
        let mut loaded = state_dir.create_goal(GOAL, at(0), vec![started]).unwrap();
        let goal = state_dir.goal(GOAL);
        let log = goal.paths().log().to_path_buf();
        let mut positions = vec![loaded.position];
        for (index, event) in intake.into_iter().chain(events).enumerate() {
            let before = std::fs::read(&log).unwrap();
            match goal.append(Some(&loaded), at(index as u64 + 1), vec![event]) {
                Ok(next) => {
                    loaded = next;
                    positions.push(loaded.position);
                }
                Err(error) => {
                    prop_assert!(matches!(error, omk::store::StoreError::Refused(_)), "{}", error);
                    prop_assert_eq!(std::fs::read(&log).unwrap(), before);
                }
            }
        }
        std::fs::remove_file(goal.dir().join("snapshot.json")).unwrap();
        let from_log = goal.load().unwrap();
        prop_assert_eq!(&from_log.state, &loaded.state);
        // A snapshot at any earlier point gives the same state once the tail is folded.
        let split = snapshot_at % positions.len();
        let (prefix, prefix_tree) = {
            let mut events = Vec::new();
            let mut tree = omk::log::merkle::RootBuilder::default();
            for raw in omk::log::LogReader::open(&goal.paths()).unwrap() {
                let raw = raw.unwrap();
                if raw.seq() < positions[split].next_seq {
                    events.push(RecordedEvent::decode(&raw).unwrap());
                    tree.push(omk::log::merkle::leaf_hash(&raw.hash()));
                }
            }
            (fold(&events).unwrap().unwrap(), tree)
        };
        let snapshot = Snapshot::new(&prefix, positions[split], &prefix_tree).unwrap();
        std::fs::write(goal.dir().join("snapshot.json"), to_json(&snapshot)).unwrap();
        let from_snapshot = goal.load_view().unwrap();
        prop_assert_eq!(&from_snapshot.snapshot, &omk::store::SnapshotUse::Used { seq: positions[split].next_seq - 1 });
        prop_assert_eq!(&from_snapshot.state, &loaded.state);
        prop_assert_eq!(from_snapshot.position, from_log.position);
        // The tree goes on from the snapshot's frontier to the same root as from the whole log.
        prop_assert_eq!(&from_snapshot.tree, &from_log.tree);
        prop_assert_eq!(from_log.tree_head().size, from_log.position.next_seq);
        // Replay: the written history verifies, projections and snapshot included.
        let replayed = omk::ops::replay::verify_goal_dir(goal.dir()).unwrap();
        prop_assert!(replayed.intact, "{:?}", replayed.findings);
    }
}
