//! A long-running goal's events, shared by `tests/replay_streaming.rs` and
//! `benches/goal_status.rs` (included there by path): a planned graph, then the lease renewals
//! and usage reports of a running slice, as a goal that runs for days accumulates them.

use omk::event::{
    BudgetLimits, Event, OracleChecked, Phase, PhaseEntered, PlanSource, RunMode, RunOptions,
    RunStarted, TaskLeased, TaskStatus, TaskTransitioned, TasksPlanned, Timestamp, UsageRecorded,
};
use omk::plan::decompose::slices;
use omk::plan::task_graph;

/// The first events of goal `goal_id`: started, checked, planned, one slice running.
pub fn opening(goal_id: &str) -> Vec<Event> {
    let prompt = "Add a --json flag to the list command. Fix the parser crash on empty input";
    vec![
        Event::RunStarted(RunStarted {
            goal_id: goal_id.into(),
            prompt: prompt.to_owned(),
            normalized_prompt: prompt.to_owned(),
            base_commit: None,
            omk_version: "0.1.0".to_owned(),
            budget: BudgetLimits::default(),
            options: RunOptions {
                mode: RunMode::Run,
                agent: Some("claude".to_owned()),
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
            tasks: task_graph(slices(prompt, &[])).unwrap(),
        }),
        Event::PhaseEntered(PhaseEntered {
            phase: Phase::Executing,
        }),
        Event::TaskTransitioned(TaskTransitioned {
            task_id: "slice-1".into(),
            from: TaskStatus::Pending,
            to: TaskStatus::Running,
            reason: None,
        }),
    ]
}

/// Event `n` of the long tail: a lease renewal or a usage report of the running slice.
pub fn tail_event(n: usize) -> Event {
    if n.is_multiple_of(3) {
        let expires: Timestamp = "2026-11-24T15:00:00Z".parse().unwrap();
        Event::TaskLeased(TaskLeased {
            task_id: "slice-1".into(),
            holder: "4242@builder".to_owned(),
            expires_at: expires.plus_seconds(n as u64),
        })
    } else {
        Event::UsageRecorded(UsageRecorded {
            task_id: Some("slice-1".into()),
            input_tokens: Some(1200 + n as u64 % 5000),
            output_tokens: Some(300 + n as u64 % 900),
            usd_micros: Some(n as u64 % 10_000),
        })
    }
}
