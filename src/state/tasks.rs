//! The task graph: tasks as planned, how far each has got, and the rules a change must keep.
//!
//! Owns graph validation (ids, required fields, dependencies, cycles) and the task transition
//! table. Tasks are kept in plan order, so every view of the graph is deterministic.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::event::{
    AgentFinished, AgentStarted, ChangesRecorded, Evidence, TaskId, TaskKind, TaskSpec, TaskStatus,
    Timestamp, WorktreeRemoved,
};

/// Who holds the right to run a task, and until when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Lease {
    /// Returns the holder: `<pid>@<host>`.
    pub holder: String,
    /// Returns when the lease lapses unless renewed.
    pub expires_at: Timestamp,
}

/// One agent run on a task: launched, and (once they are recorded) how it ended and what it changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentRun {
    /// Returns the launch.
    pub started: AgentStarted,
    /// Returns how the process ended, once recorded.
    pub finished: Option<AgentFinished>,
    /// Returns what omk found in the worktree afterwards, once recorded.
    pub changes: Option<ChangesRecorded>,
    /// Returns the removal of the worktree by `omk goal clean`, if it happened.
    pub removed: Option<WorktreeRemoved>,
}

/// One task and how far it has got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// Returns the task as planned.
    pub spec: TaskSpec,
    /// Returns its status.
    pub status: TaskStatus,
    /// Returns how many times it has been retried.
    pub retries: u32,
    /// Returns the current lease, while it is running.
    pub lease: Option<Lease>,
    /// Returns the evidence recorded for it, in log order.
    pub evidence: Vec<Evidence>,
    /// Returns its agent runs, oldest first.
    pub runs: Vec<AgentRun>,
    /// Returns the `seq` of the last event that changed it.
    pub updated_seq: u64,
    /// Why its last attempt failed, as its retry recorded it: what the next attempt is told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
    /// The fix round that last reopened it (0: none did).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub round: u32,
    /// The commit its reopened attempt builds on: the head of the work it had done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reopened_from: Option<String>,
}

fn is_zero(count: &u32) -> bool {
    *count == 0
}

impl Task {
    /// Returns what the runs whose work is on the task's branch changed, newest first: the
    /// last run that recorded changes, then the run whose head it built on (a fix round's
    /// attempt), and so on; an attempt that started afresh ends the chain.
    pub fn work_on_branch(&self) -> Vec<&ChangesRecorded> {
        let mut work: Vec<&ChangesRecorded> = Vec::new();
        let mut next = self.runs.iter().rev().find(|run| run.changes.is_some());
        while let Some(run) = next {
            let Some(changes) = &run.changes else { break };
            if work.len() == self.runs.len() || work.contains(&changes) {
                break;
            }
            work.push(changes);
            next = run.started.builds_on.as_deref().and_then(|head| {
                self.runs.iter().rev().find(|earlier| {
                    earlier
                        .changes
                        .as_ref()
                        .is_some_and(|changes| changes.head_commit == head)
                })
            });
        }
        work
    }

    /// Returns every file the work on the task's branch changed, in first-seen order.
    pub fn changed_files(&self) -> Vec<&str> {
        let mut files: Vec<&str> = Vec::new();
        for changes in self.work_on_branch().into_iter().rev() {
            for file in &changes.changed_files {
                if !files.contains(&file.as_str()) {
                    files.push(file);
                }
            }
        }
        files
    }
}

/// The tasks of a goal, in plan order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct TaskGraph {
    tasks: Vec<Task>,
}

/// Why a task or a change to the graph is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("the plan adds no tasks")]
    NoTasks,
    #[error("task id `{id}` is not 1 to 64 of `a-z 0-9 -`")]
    BadId { id: TaskId },
    #[error("task `{id}` appears twice")]
    DuplicateId { id: TaskId },
    #[error("task `{id}` has an empty {field}")]
    EmptyField { id: TaskId, field: &'static str },
    #[error("task `{id}` depends on `{missing}`, which is not in the graph")]
    MissingDependency { id: TaskId, missing: TaskId },
    #[error("task `{id}` depends on itself")]
    SelfDependency { id: TaskId },
    #[error("the dependencies form a cycle: {}", cycle.join(" -> "))]
    Cycle { cycle: Vec<TaskId> },
    #[error("no task `{id}` in the graph")]
    UnknownTask { id: TaskId },
    #[error("task `{id}` is {actual}, not {claimed}")]
    StaleStatus {
        id: TaskId,
        claimed: &'static str,
        actual: &'static str,
    },
    #[error("task `{id}` cannot go from {from} to {to}")]
    IllegalTransition {
        id: TaskId,
        from: &'static str,
        to: &'static str,
    },
    #[error("task `{id}` cannot start: dependency `{dependency}` is {status}")]
    DependencyNotDone {
        id: TaskId,
        dependency: TaskId,
        status: &'static str,
    },
    #[error("task `{id}` has used all {max_retries} of its retries")]
    RetriesExhausted { id: TaskId, max_retries: u32 },
    #[error("task `{id}` is {status}: only a running task holds a lease")]
    LeaseNotRunning { id: TaskId, status: &'static str },
    #[error("task `{id}` is {status}: an agent starts only on a running task")]
    AgentNotRunning { id: TaskId, status: &'static str },
    #[error("task `{id}` has no agent run to record this against")]
    NoAgentRun { id: TaskId },
    #[error("a fix round must reopen at least one slice")]
    EmptyRound,
    #[error("task `{id}` cannot be reopened for a fix round: it is {status}, and only a done, failed or blocked slice can be")]
    NotReopenable { id: TaskId, status: &'static str },
    #[error("task `{id}` cannot be reopened for a fix round while `{dependent}`, which builds on it, is running")]
    DependentRunning { id: TaskId, dependent: TaskId },
}

impl TaskGraph {
    /// Returns the tasks in plan order.
    pub fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    /// Returns the task with `id`.
    pub fn get(&self, id: &str) -> Option<&Task> {
        self.tasks.iter().find(|task| task.spec.id == id)
    }

    /// Returns how many tasks have each status, as (done, total).
    pub fn progress(&self) -> (usize, usize) {
        let done = self
            .tasks
            .iter()
            .filter(|task| task.status == TaskStatus::Done)
            .count();
        (done, self.tasks.len())
    }

    /// Returns the graph built from `specs` alone, as a planner proposes it.
    pub fn from_specs(specs: &[TaskSpec]) -> Result<TaskGraph, GraphError> {
        let mut graph = TaskGraph::default();
        graph.add(specs, 0)?;
        Ok(graph)
    }

    /// Adds `specs` (planned at `seq`) after checking them against the graph and each other.
    pub fn add(&mut self, specs: &[TaskSpec], seq: u64) -> Result<(), GraphError> {
        if specs.is_empty() {
            return Err(GraphError::NoTasks);
        }
        let mut new_ids: BTreeMap<&str, &TaskSpec> = BTreeMap::new();
        for spec in specs {
            check_fields(spec)?;
            if self.get(&spec.id).is_some() || new_ids.insert(&spec.id, spec).is_some() {
                return Err(GraphError::DuplicateId {
                    id: spec.id.clone(),
                });
            }
        }
        for spec in specs {
            for dependency in &spec.depends_on {
                if *dependency == spec.id {
                    return Err(GraphError::SelfDependency {
                        id: spec.id.clone(),
                    });
                }
                if self.get(dependency).is_none() && !new_ids.contains_key(dependency.as_str()) {
                    return Err(GraphError::MissingDependency {
                        id: spec.id.clone(),
                        missing: dependency.clone(),
                    });
                }
            }
        }
        // Existing tasks cannot depend on new ones, so a cycle can only run through new tasks.
        if let Some(cycle) = find_cycle(&new_ids) {
            return Err(GraphError::Cycle { cycle });
        }
        self.tasks.extend(specs.iter().map(|spec| Task {
            spec: spec.clone(),
            status: TaskStatus::Pending,
            retries: 0,
            lease: None,
            evidence: Vec::new(),
            runs: Vec::new(),
            updated_seq: seq,
            last_failure: None,
            round: 0,
            reopened_from: None,
        }));
        Ok(())
    }

    /// Moves task `id` from `from` to `to` for `reason`, as recorded at `seq`.
    pub fn transition(
        &mut self,
        id: &str,
        from: TaskStatus,
        to: TaskStatus,
        reason: Option<&str>,
        seq: u64,
    ) -> Result<(), GraphError> {
        let task = self.get(id).ok_or_else(|| unknown(id))?;
        if task.status != from {
            return Err(GraphError::StaleStatus {
                id: TaskId::from(id),
                claimed: from.name(),
                actual: task.status.name(),
            });
        }
        if !task_transition_allowed(from, to) {
            return Err(GraphError::IllegalTransition {
                id: TaskId::from(id),
                from: from.name(),
                to: to.name(),
            });
        }
        if to == TaskStatus::Running {
            self.check_dependencies_done(task)?;
        }
        let task = self.get_mut(id)?;
        task.status = to;
        task.lease = None;
        task.updated_seq = seq;
        if matches!(to, TaskStatus::Failed | TaskStatus::Blocked) {
            if let Some(reason) = reason {
                task.last_failure = Some(reason.to_owned());
            }
        }
        Ok(())
    }

    /// Reopens the slices `ids` for fix round `round`: each gets a fresh set of retries and
    /// builds on the work it had done; the controller's wave task is open again with them.
    pub fn reopen(&mut self, ids: &[TaskId], round: u32, seq: u64) -> Result<(), GraphError> {
        if ids.is_empty() {
            return Err(GraphError::EmptyRound);
        }
        for (index, id) in ids.iter().enumerate() {
            if ids[..index].contains(id) {
                return Err(GraphError::DuplicateId { id: id.clone() });
            }
            let task = self.get(id).ok_or_else(|| unknown(id))?;
            let reopenable = task.spec.kind == TaskKind::Implementation
                && matches!(
                    task.status,
                    TaskStatus::Done | TaskStatus::Failed | TaskStatus::Blocked
                );
            if !reopenable {
                return Err(GraphError::NotReopenable {
                    id: id.clone(),
                    status: task.status.name(),
                });
            }
            // Its work is what a running dependent started from.
            if let Some(dependent) = self.tasks.iter().find(|other| {
                other.status == TaskStatus::Running && other.spec.depends_on.contains(id)
            }) {
                return Err(GraphError::DependentRunning {
                    id: id.clone(),
                    dependent: dependent.spec.id.clone(),
                });
            }
        }
        for task in &mut self.tasks {
            let reopened = ids.contains(&task.spec.id);
            let wave =
                task.spec.kind == TaskKind::AgentExecution && task.status == TaskStatus::Done;
            if !reopened && !wave {
                continue;
            }
            if reopened {
                // A done slice's next attempt builds on its work; a failed one starts again
                // from where its failed attempts did, keeping any work a round had built on.
                if task.status == TaskStatus::Done {
                    task.reopened_from = task
                        .runs
                        .iter()
                        .rev()
                        .find_map(|run| run.changes.as_ref())
                        .map(|changes| changes.head_commit.clone());
                }
                task.round = round;
                task.retries = 0;
                task.last_failure = None;
            }
            task.status = TaskStatus::Pending;
            task.lease = None;
            task.updated_seq = seq;
        }
        Ok(())
    }

    /// Sends a failed, blocked or interrupted task back to pending for another attempt.
    pub fn retry(&mut self, id: &str, reason: &str, seq: u64) -> Result<(), GraphError> {
        let task = self.get_mut(id)?;
        if !matches!(
            task.status,
            TaskStatus::Failed | TaskStatus::Running | TaskStatus::Blocked
        ) {
            return Err(GraphError::IllegalTransition {
                id: TaskId::from(id),
                from: task.status.name(),
                to: "pending (retry)",
            });
        }
        if task.retries >= task.spec.max_retries {
            return Err(GraphError::RetriesExhausted {
                id: TaskId::from(id),
                max_retries: task.spec.max_retries,
            });
        }
        task.retries += 1;
        task.status = TaskStatus::Pending;
        task.lease = None;
        task.last_failure = Some(reason.to_owned());
        task.updated_seq = seq;
        Ok(())
    }

    /// Records that `lease` now covers running task `id`.
    pub fn lease(&mut self, id: &str, lease: Lease, seq: u64) -> Result<(), GraphError> {
        let task = self.get_mut(id)?;
        if task.status != TaskStatus::Running {
            return Err(GraphError::LeaseNotRunning {
                id: TaskId::from(id),
                status: task.status.name(),
            });
        }
        task.lease = Some(lease);
        task.updated_seq = seq;
        Ok(())
    }

    /// Attaches evidence to task `id`.
    pub fn add_evidence(
        &mut self,
        id: &str,
        evidence: Evidence,
        seq: u64,
    ) -> Result<(), GraphError> {
        let task = self.get_mut(id)?;
        task.evidence.push(evidence);
        task.updated_seq = seq;
        Ok(())
    }

    /// Records an agent launched on running task `id`.
    pub fn start_run(&mut self, started: &AgentStarted, seq: u64) -> Result<(), GraphError> {
        let task = self.get_mut(&started.task_id)?;
        if task.status != TaskStatus::Running {
            return Err(GraphError::AgentNotRunning {
                id: started.task_id.clone(),
                status: task.status.name(),
            });
        }
        task.runs.push(AgentRun {
            started: started.clone(),
            finished: None,
            changes: None,
            removed: None,
        });
        task.updated_seq = seq;
        Ok(())
    }

    /// Records how the latest agent run of task `id` ended.
    pub fn finish_run(&mut self, finished: &AgentFinished, seq: u64) -> Result<(), GraphError> {
        let run = self.latest_run(&finished.task_id, seq)?;
        run.finished = Some(finished.clone());
        Ok(())
    }

    /// Records what the latest agent run of task `id` changed.
    pub fn record_changes(
        &mut self,
        changes: &ChangesRecorded,
        seq: u64,
    ) -> Result<(), GraphError> {
        let run = self.latest_run(&changes.task_id, seq)?;
        run.changes = Some(changes.clone());
        Ok(())
    }

    /// Records the removal of the worktree of task `id`'s runs.
    pub fn remove_worktree(
        &mut self,
        removed: &WorktreeRemoved,
        seq: u64,
    ) -> Result<(), GraphError> {
        let run = self.latest_run(&removed.task_id, seq)?;
        run.removed = Some(removed.clone());
        Ok(())
    }

    fn latest_run(&mut self, id: &str, seq: u64) -> Result<&mut AgentRun, GraphError> {
        let task = self.get_mut(id)?;
        task.updated_seq = seq;
        task.runs.last_mut().ok_or_else(|| GraphError::NoAgentRun {
            id: TaskId::from(id),
        })
    }

    /// Returns the tasks that could start now: pending, with every dependency done.
    pub fn startable(&self) -> impl Iterator<Item = &Task> {
        self.tasks.iter().filter(|task| {
            task.status == TaskStatus::Pending && self.check_dependencies_done(task).is_ok()
        })
    }

    /// Returns the required tasks that are not done.
    pub fn required_not_done(&self) -> impl Iterator<Item = &Task> {
        self.tasks
            .iter()
            .filter(|task| task.spec.required && task.status != TaskStatus::Done)
    }

    fn check_dependencies_done(&self, task: &Task) -> Result<(), GraphError> {
        for dependency in &task.spec.depends_on {
            let status = self
                .get(dependency)
                .map_or(TaskStatus::Pending, |found| found.status);
            if status != TaskStatus::Done {
                return Err(GraphError::DependencyNotDone {
                    id: task.spec.id.clone(),
                    dependency: dependency.clone(),
                    status: status.name(),
                });
            }
        }
        Ok(())
    }

    fn get_mut(&mut self, id: &str) -> Result<&mut Task, GraphError> {
        self.tasks
            .iter_mut()
            .find(|task| task.spec.id == id)
            .ok_or_else(|| unknown(id))
    }
}

fn unknown(id: &str) -> GraphError {
    GraphError::UnknownTask {
        id: TaskId::from(id),
    }
}

/// The task transition table; retries (back to pending) go through [`TaskGraph::retry`].
fn task_transition_allowed(from: TaskStatus, to: TaskStatus) -> bool {
    use TaskStatus as T;
    matches!(
        (from, to),
        (T::Pending, T::Running | T::Blocked | T::Cancelled)
            // Back to pending: the run was interrupted by the operator, not failed.
            | (T::Running, T::Pending | T::Done | T::Failed | T::Blocked | T::Cancelled)
            | (T::Failed | T::Blocked, T::Cancelled)
            | (T::Blocked, T::Pending)
    )
}

/// Returns whether `id` is 1 to 64 of `a-z 0-9 -`, which keeps it safe in branch and path names.
pub fn is_task_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
}

fn check_fields(spec: &TaskSpec) -> Result<(), GraphError> {
    if !is_task_id(&spec.id) {
        return Err(GraphError::BadId {
            id: spec.id.clone(),
        });
    }
    let empty = |field| GraphError::EmptyField {
        id: spec.id.clone(),
        field,
    };
    if spec.title.trim().is_empty() {
        return Err(empty("title"));
    }
    if spec.description.trim().is_empty() {
        return Err(empty("description"));
    }
    if spec.owner_role.trim().is_empty() {
        return Err(empty("owner role"));
    }
    if spec.acceptance.iter().all(|line| line.trim().is_empty()) {
        return Err(empty("acceptance criteria"));
    }
    if spec.kind == TaskKind::Implementation && spec.write_set.is_empty() {
        return Err(empty("write set"));
    }
    Ok(())
}

/// Returns a dependency cycle among `tasks`, as ids from a task back to itself, if there is one.
fn find_cycle(tasks: &BTreeMap<&str, &TaskSpec>) -> Option<Vec<TaskId>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Unvisited,
        OnPath,
        Finished,
    }
    let mut marks: BTreeMap<&str, Mark> = tasks.keys().map(|id| (*id, Mark::Unvisited)).collect();
    for start in tasks.keys() {
        if marks[start] != Mark::Unvisited {
            continue;
        }
        // Iterative depth-first search: (task, index of the next dependency to visit).
        let mut path: Vec<(&str, usize)> = vec![(start, 0)];
        marks.insert(start, Mark::OnPath);
        while let Some((id, next)) = path.last_mut() {
            let dependencies = &tasks[*id].depends_on;
            let Some(dependency) = dependencies.get(*next) else {
                marks.insert(id, Mark::Finished);
                path.pop();
                continue;
            };
            *next += 1;
            match marks.get(dependency.as_str()).copied() {
                Some(Mark::Unvisited) => {
                    marks.insert(dependency, Mark::OnPath);
                    path.push((dependency, 0));
                }
                Some(Mark::OnPath) => {
                    let from = path.iter().position(|(on_path, _)| on_path == dependency)?;
                    let mut cycle: Vec<TaskId> = path[from..]
                        .iter()
                        .map(|(id, _)| TaskId::from(*id))
                        .collect();
                    cycle.push(dependency.clone());
                    return Some(cycle);
                }
                // Finished, or a task already in the graph: no cycle through it.
                Some(Mark::Finished) | None => {}
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Risk;

    fn spec(id: &str, depends_on: &[&str]) -> TaskSpec {
        TaskSpec {
            id: TaskId::from(id),
            title: "T".to_owned(),
            description: "D".to_owned(),
            kind: TaskKind::Implementation,
            owner_role: "implementer".to_owned(),
            depends_on: depends_on.iter().map(|d| TaskId::from(*d)).collect(),
            read_set: vec![],
            write_set: vec!["src/a.rs".to_owned()],
            risk: Risk::Low,
            acceptance: vec!["a test passes".to_owned()],
            max_retries: 1,
            required: true,
        }
    }

    #[test]
    fn invalid_graphs_are_refused_with_the_reason() {
        let cases: Vec<(Vec<TaskSpec>, GraphError)> = vec![
            (vec![], GraphError::NoTasks),
            (vec![spec("A", &[])], GraphError::BadId { id: "A".into() }),
            (
                vec![spec("a", &[]), spec("a", &[])],
                GraphError::DuplicateId { id: "a".into() },
            ),
            (
                vec![spec("a", &["a"])],
                GraphError::SelfDependency { id: "a".into() },
            ),
            (
                vec![spec("a", &["zz"])],
                GraphError::MissingDependency {
                    id: "a".into(),
                    missing: "zz".into(),
                },
            ),
            (
                vec![spec("a", &["c"]), spec("b", &["a"]), spec("c", &["b"])],
                GraphError::Cycle {
                    cycle: vec!["a".into(), "c".into(), "b".into(), "a".into()],
                },
            ),
        ];
        for (specs, expected) in cases {
            assert_eq!(TaskGraph::from_specs(&specs).unwrap_err(), expected);
        }
        let mut empty_title = spec("a", &[]);
        empty_title.title = " ".into();
        let mut no_writes = spec("b", &[]);
        no_writes.write_set.clear();
        let mut no_acceptance = spec("c", &[]);
        no_acceptance.acceptance = vec![String::new()];
        for (bad, field) in [
            (empty_title, "title"),
            (no_writes, "write set"),
            (no_acceptance, "acceptance criteria"),
        ] {
            let id = bad.id.clone();
            assert_eq!(
                TaskGraph::from_specs(&[bad]).unwrap_err(),
                GraphError::EmptyField { id, field }
            );
        }
    }

    #[test]
    fn a_mutation_may_depend_on_existing_tasks_and_a_failed_add_changes_nothing() {
        let mut graph = TaskGraph::from_specs(&[spec("a", &[])]).unwrap();
        graph.add(&[spec("b", &["a"])], 5).unwrap();
        let before = graph.clone();
        assert_eq!(
            graph.add(&[spec("c", &[]), spec("b", &[])], 6).unwrap_err(),
            GraphError::DuplicateId { id: "b".into() }
        );
        assert_eq!(graph, before);
    }

    #[test]
    fn tasks_move_by_the_table_and_start_only_after_their_dependencies() {
        use TaskStatus::*;
        let mut graph = TaskGraph::from_specs(&[spec("a", &[]), spec("b", &["a"])]).unwrap();
        assert!(matches!(
            graph.transition("b", Pending, Running, None, 1),
            Err(GraphError::DependencyNotDone { .. })
        ));
        assert!(matches!(
            graph.transition("a", Running, Done, None, 1),
            Err(GraphError::StaleStatus { .. })
        ));
        assert!(matches!(
            graph.transition("a", Pending, Done, None, 1),
            Err(GraphError::IllegalTransition { .. })
        ));
        graph.transition("a", Pending, Running, None, 1).unwrap();
        graph
            .lease(
                "a",
                Lease {
                    holder: "1@h".into(),
                    expires_at: "2026-11-24T14:00:00Z".parse().unwrap(),
                },
                2,
            )
            .unwrap();
        graph.transition("a", Running, Failed, None, 3).unwrap();
        assert_eq!(
            graph.get("a").unwrap().lease,
            None,
            "leaving running clears the lease"
        );
        graph.retry("a", "it failed", 4).unwrap();
        assert_eq!(
            (
                graph.get("a").unwrap().status,
                graph.get("a").unwrap().retries
            ),
            (Pending, 1)
        );
        graph.transition("a", Pending, Running, None, 5).unwrap();
        graph.transition("a", Running, Failed, None, 6).unwrap();
        assert_eq!(
            graph.retry("a", "it failed", 7).unwrap_err(),
            GraphError::RetriesExhausted {
                id: "a".into(),
                max_retries: 1
            }
        );
        graph.transition("a", Failed, Cancelled, None, 8).unwrap();
        assert!(graph.transition("a", Cancelled, Pending, None, 9).is_err());
        assert_eq!(graph.startable().count(), 0);
        assert_eq!(graph.required_not_done().count(), 2);
    }

    /// An agent run that started from `start` (building on `builds_on`) and, when `head` is
    /// given, recorded changes up to it touching `file`.
    fn run(start: &str, builds_on: Option<&str>, head: Option<(&str, &str)>) -> AgentRun {
        AgentRun {
            started: AgentStarted {
                task_id: "a".into(),
                attempt: 0,
                round: 0,
                agent: "command".to_owned(),
                argv: vec![],
                worktree: "/w".to_owned(),
                branch: "omk/g/a".to_owned(),
                start_commit: start.to_owned(),
                pid: 1,
                prompt: crate::log::artifacts::ContentHash::of(b""),
                builds_on: builds_on.map(str::to_owned),
            },
            finished: None,
            changes: head.map(|(head, file)| ChangesRecorded {
                task_id: "a".into(),
                start_commit: start.to_owned(),
                head_commit: head.to_owned(),
                commits: vec![head.to_owned()],
                committed_leftovers: false,
                changed_files: vec![file.to_owned()],
                insertions: 1,
                deletions: 0,
                diff: None,
                diff_truncated: false,
                outside_write_set: vec![],
                widened: vec![],
            }),
            removed: None,
        }
    }

    #[test]
    fn the_work_on_a_branch_follows_what_each_round_built_on() {
        let mut graph = TaskGraph::from_specs(&[spec("a", &[])]).unwrap();
        let task = graph.get_mut("a").unwrap();
        task.runs = vec![
            // A first attempt that failed, then its retry from the same base: done.
            run("base", None, Some(("h0", "src/dropped.rs"))),
            run("base", None, Some(("h1", "src/a.rs"))),
            // A fix round on top of h1 (after a dependency merge, so it starts at m1), whose
            // first attempt failed and whose retry worked.
            run("m1", Some("h1"), Some(("h2", "src/failed-try.rs"))),
            run("m2", Some("h1"), Some(("h3", "src/b.rs"))),
        ];
        let task = graph.get("a").unwrap();
        let heads: Vec<&str> = task
            .work_on_branch()
            .iter()
            .map(|changes| changes.head_commit.as_str())
            .collect();
        assert_eq!(heads, ["h3", "h1"]);
        assert_eq!(task.changed_files(), ["src/a.rs", "src/b.rs"]);
    }

    #[test]
    fn a_round_does_not_reopen_a_slice_while_one_built_on_it_runs() {
        use TaskStatus::*;
        let mut graph = TaskGraph::from_specs(&[spec("a", &[]), spec("b", &["a"])]).unwrap();
        graph.transition("a", Pending, Running, None, 1).unwrap();
        graph.transition("a", Running, Done, None, 2).unwrap();
        graph.transition("b", Pending, Running, None, 3).unwrap();
        let before = graph.clone();
        assert_eq!(
            graph.reopen(&["a".into()], 1, 4).unwrap_err(),
            GraphError::DependentRunning {
                id: "a".into(),
                dependent: "b".into()
            }
        );
        assert_eq!(graph, before);
        graph.transition("b", Running, Done, None, 5).unwrap();
        graph.reopen(&["a".into()], 1, 6).unwrap();
        assert_eq!(
            (
                graph.get("a").unwrap().status,
                graph.get("a").unwrap().round
            ),
            (Pending, 1)
        );
    }
}
