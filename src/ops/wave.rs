//! `omk goal execute`: the agent wave.
//!
//! Every implementation slice whose dependencies are done gets its own worktree and agent, up
//! to `max_agents` at once. The wave holds a lease on each running task (renewed while its
//! agent lives), watches the log for a pause or cancel from another terminal, stops launching
//! when the budget is spent, and records everything an agent did as events: the launch, the
//! transcripts, usage, the commits and diff, write-set violations, and the task's outcome.
//!
//! On start it first recovers from a crashed wave: a running task whose lease holder is gone
//! (or whose lease expired) has its leftover agent killed and is retried from a clean
//! worktree, within its max retries. Claiming a task is an append at the expected `seq`, so two
//! waves on one goal never run the same task.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::event::{
    AgentFinished, AgentStarted, ChangesRecorded, Conclusion, Event, Evidence, GoalConcluded,
    GoalId, Phase, PhaseEntered, RunFailed, TaskEvidenceRecorded, TaskId, TaskKind, TaskLeased,
    TaskRetried, TaskStatus, TaskTransitioned, Timestamp, UsageRecorded,
};
use crate::log::artifacts::ArtifactRef;
use crate::plan::secrets::mask;
use crate::plan::write_set::{check_scope, ScopePolicy};
use crate::project::timeline::leftovers_clause;
use crate::shell::agent::activity::Activity;
use crate::shell::agent::{Backend, FailureKind, RunIds};
use crate::shell::agent_process::{agent_spec, Ended};
use crate::shell::checkout::{checkout_print, CheckoutPrint};
use crate::shell::clock::{jittered, Clock};
use crate::shell::git::GitError;
use crate::shell::interrupt::Interrupt;
use crate::shell::lease::{Holder, Liveness};
use crate::shell::process::{reap_orphans, signal_group, start, ProcessError};
use crate::shell::procfs::process_cwd;
use crate::shell::worktree::{attempt_ref, branch_name, collect, prepare, Placement, Worktree};
use crate::state::commands::GoalCommand;
use crate::state::verdict::short;
use crate::state::{Action, GoalState, GoalStatus, Task};
use crate::store::{GoalDir, Loaded, StoreError};

/// How a wave runs.
#[derive(Clone, Debug)]
pub struct WaveOptions {
    pub backend: Backend,
    pub max_agents: usize,
    /// Returns how long one agent may run (the goal's remaining time budget may cut it shorter).
    pub agent_timeout: Duration,
    /// Returns how long a lease lasts without renewal.
    pub lease_ttl: Duration,
    /// Returns how often the wave looks at the log for a pause or cancel.
    pub poll: Duration,
    /// Stops the agents when it fires (Ctrl-C); their tasks go back to pending.
    pub interrupt: Interrupt,
    /// How changes are held to the planned write sets.
    pub scope: ScopePolicy,
}

/// Something the wave reports as it goes, for the progress view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    Recovered {
        task_id: TaskId,
        detail: String,
    },
    Started {
        task_id: TaskId,
        pid: u32,
        worktree: PathBuf,
    },
    Finished {
        task_id: TaskId,
        outcome: String,
    },
    Stopping {
        why: String,
    },
    /// The agents running now, with how long each has run and the last line it printed;
    /// sent on every poll.
    Running {
        agents: Vec<(TaskId, Duration, String)>,
    },
}

/// The wave could not go on.
#[derive(Debug, thiserror::Error)]
pub enum WaveError {
    #[error(transparent)]
    Store(Box<StoreError>),
    #[error("goal {goal_id} has no base commit (it was not started in a git repository with a commit): agents need one to branch from")]
    NoBaseCommit { goal_id: GoalId },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot store an artifact: {0}")]
    Artifact(String),
}

impl From<StoreError> for WaveError {
    fn from(error: StoreError) -> WaveError {
        WaveError::Store(Box::new(error))
    }
}

/// Runs the wave on `goal` until nothing more can start and every agent has ended.
pub fn execute(
    goal: &GoalDir,
    repo_root: &Path,
    clock: &Clock,
    options: &WaveOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<ExecuteOutcome, WaveError> {
    // Supervisions run on the workers; this thread folds and appends, so a slow fsync stalls
    // no agent's output. Agents start from this thread, which outlives them.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(WaveError::Runtime)?;
    let mut wave = Wave {
        goal,
        repo_root,
        clock,
        options,
        holder: Holder::current(),
        running: BTreeMap::new(),
        stopped_by_interrupt: Vec::new(),
        backoff: BTreeMap::new(),
    };
    let loaded = runtime.block_on(wave.run(progress))?;
    wave.stopped_by_interrupt.sort();
    Ok(ExecuteOutcome {
        loaded,
        interrupted: options.interrupt.is_set(),
        stopped: wave.stopped_by_interrupt,
    })
}

/// What a wave did.
#[derive(Debug)]
pub struct ExecuteOutcome {
    /// The goal after the wave.
    pub loaded: Loaded,
    /// Whether an interruption (Ctrl-C) stopped the wave.
    pub interrupted: bool,
    /// The tasks whose agents the interruption stopped; they are pending again.
    pub stopped: Vec<TaskId>,
}

struct Wave<'a> {
    goal: &'a GoalDir,
    repo_root: &'a Path,
    clock: &'a Clock,
    options: &'a WaveOptions,
    holder: Holder,
    running: BTreeMap<TaskId, RunningAgent>,
    /// The tasks whose agents an interruption stopped.
    stopped_by_interrupt: Vec<TaskId>,
    /// Tasks whose provider rate-limited them: when they may start again, and how many times
    /// in a row it happened.
    backoff: BTreeMap<TaskId, (tokio::time::Instant, u32)>,
}

/// The first wait after a rate limit; each further one in a row doubles it.
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
/// The longest wait after a rate limit.
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// The wait before a failed task's first retry; each further retry doubles it.
const FIRST_RETRY_WAIT: Duration = Duration::from_secs(1);
/// The longest wait before a retry.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);
/// How many rate limits in a row a task waits out before the next one counts as a failure.
const MAX_RATE_LIMITS: u32 = 6;

struct RunningAgent {
    worktree: Worktree,
    stop: watch::Sender<bool>,
    started: tokio::time::Instant,
    /// What the agent is doing now, for progress lines.
    activity: Activity,
    /// The user's checkout as it was when the agent started, to check it is untouched after.
    checkout: Result<CheckoutPrint, GitError>,
}

type Done = (TaskId, Result<Ended, ProcessError>);

impl Wave<'_> {
    async fn run(&mut self, progress: &mut dyn FnMut(Progress)) -> Result<Loaded, WaveError> {
        self.recover(progress)?;
        self.begin()?;
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
        let mut last_renewal = tokio::time::Instant::now();
        let mut stopping = false;
        let mut interrupt = self.options.interrupt.clone();
        loop {
            let loaded = self.goal.load()?;
            let state = &loaded.state;
            let held = matches!(state.status, GoalStatus::Paused | GoalStatus::Cancelled);
            if !stopping && (held || interrupt.is_set()) {
                stopping = true;
                // An interruption announces itself; a pause or cancel came from elsewhere.
                if held {
                    progress(Progress::Stopping {
                        why: format!("the goal was {}", state.status),
                    });
                }
                for agent in self.running.values() {
                    let _ = agent.stop.send(true);
                }
            }
            // A spent budget concludes the goal, which the next look at the log will see.
            let spent =
                state.status == GoalStatus::Executing && self.stop_if_budget_spent(state)?;
            if state.status == GoalStatus::Executing && !spent && !stopping {
                self.launch_ready(state, &done_tx, progress)?;
            }
            let waiting = state.status == GoalStatus::Executing
                && !stopping
                && !spent
                && self.backing_off(state);
            if self.running.is_empty() && !waiting {
                break;
            }
            progress(Progress::Running {
                agents: self
                    .running
                    .iter()
                    .map(|(id, agent)| {
                        let said = agent.activity.latest();
                        (id.clone(), agent.started.elapsed(), said)
                    })
                    .collect(),
            });
            tokio::select! {
                Some((task_id, ended)) = done_rx.recv() => {
                    let outcome = self.record(&task_id, ended)?;
                    progress(Progress::Finished { task_id, outcome });
                }
                () = tokio::time::sleep(self.options.poll) => {}
                () = interrupt.wait(), if !stopping => {}
            }
            if last_renewal.elapsed() >= self.options.lease_ttl / 3 {
                self.renew_leases()?;
                last_renewal = tokio::time::Instant::now();
            }
        }
        self.finish()
    }

    /// Retries (or fails) running tasks whose lease holder is gone or whose lease expired.
    fn recover(&mut self, progress: &mut dyn FnMut(Progress)) -> Result<(), WaveError> {
        // What a wave killed outright (kill -9) left running is stopped first.
        reap_orphans(self.goal.worktrees_dir());
        let now = self.clock.now();
        let loaded = self.goal.load()?;
        let broken: Vec<(TaskId, String)> = loaded
            .state
            .tasks
            .tasks()
            .iter()
            .filter(|task| {
                task.status == TaskStatus::Running && task.spec.kind == TaskKind::Implementation
            })
            .filter_map(|task| broken_lease(task, now).map(|why| (task.spec.id.clone(), why)))
            .collect();
        for (task_id, why) in broken {
            if let Some(task) = loaded.state.tasks.get(&task_id) {
                kill_leftover_agent(task);
            }
            let result = self.goal.transact(self.clock.now(), |state| {
                let Some(task) = state
                    .tasks
                    .get(&task_id)
                    .filter(|task| task.status == TaskStatus::Running)
                else {
                    return Ok(Vec::new());
                };
                Ok(vec![if task.retries < task.spec.max_retries {
                    Event::TaskRetried(TaskRetried {
                        task_id: task_id.clone(),
                        reason: why.clone(),
                        backoff_ms: None,
                    })
                } else {
                    transition(
                        &task_id,
                        TaskStatus::Running,
                        TaskStatus::Failed,
                        format!("{why}; no retries left"),
                    )
                }])
            });
            match result {
                Ok(_) => progress(Progress::Recovered {
                    task_id,
                    detail: why,
                }),
                Err(StoreError::Refused(_)) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    /// Enters the executing phase (a planned goal) or checks the goal is executing.
    fn begin(&mut self) -> Result<(), WaveError> {
        let result = self.goal.transact(self.clock.now(), |state| {
            state.check_command(GoalCommand::Execute)?;
            let mut events = Vec::new();
            if state.status == GoalStatus::Planning {
                events.push(Event::PhaseEntered(PhaseEntered {
                    phase: Phase::Executing,
                }));
            }
            Ok(events)
        })?;
        if result.0.state.base_commit.is_none() {
            return Err(WaveError::NoBaseCommit {
                goal_id: result.0.state.goal_id.clone(),
            });
        }
        Ok(())
    }

    /// Concludes the goal `needs_more_budget` when a limit is reached; returns whether one was.
    fn stop_if_budget_spent(&self, state: &GoalState) -> Result<bool, WaveError> {
        let spent = state.budget.exhausted(self.clock.now());
        if spent.is_empty() {
            return Ok(false);
        }
        self.hold_for_budget(format!(
            "the {} budget is spent; raise it with `omk goal budget-add`, then `omk goal resume`",
            spent.join(", ")
        ))?;
        Ok(true)
    }

    /// Claims and launches startable slices while there is room.
    fn launch_ready(
        &mut self,
        state: &GoalState,
        done_tx: &mpsc::UnboundedSender<Done>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(), WaveError> {
        let ready: Vec<TaskId> = state
            .tasks
            .startable()
            .filter(|task| {
                task.spec.kind == TaskKind::Implementation
                    && !self.running.contains_key(&task.spec.id)
                    && self
                        .backoff
                        .get(&task.spec.id)
                        .is_none_or(|(until, _)| *until <= tokio::time::Instant::now())
            })
            .map(|task| task.spec.id.clone())
            .collect();
        for task_id in ready {
            if self.running.len() >= self.options.max_agents || self.options.interrupt.is_set() {
                break;
            }
            if let Some(started) = self.launch(&task_id, done_tx)? {
                progress(started);
            }
        }
        Ok(())
    }

    /// Claims `task_id`, prepares its worktree and starts its agent; `None` if another wave
    /// claimed it first or it could not start (recorded on the task).
    fn launch(
        &mut self,
        task_id: &TaskId,
        done_tx: &mpsc::UnboundedSender<Done>,
    ) -> Result<Option<Progress>, WaveError> {
        let expires_at = self.lease_expiry();
        let holder = self.holder.to_string();
        let claimed = self.goal.transact(self.clock.now(), |state| {
            let task = state
                .tasks
                .get(task_id)
                .filter(|task| task.status == TaskStatus::Pending);
            if task.is_none() || state.status != GoalStatus::Executing {
                return Err(state.refuse(Action::WorkOnTask));
            }
            Ok(vec![
                transition(
                    task_id,
                    TaskStatus::Pending,
                    TaskStatus::Running,
                    "an agent was assigned".to_owned(),
                ),
                Event::TaskLeased(TaskLeased {
                    task_id: task_id.clone(),
                    holder: holder.clone(),
                    expires_at,
                }),
            ])
        });
        let loaded = match claimed {
            Ok((loaded, _)) => loaded,
            Err(StoreError::Refused(_)) => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        let state = &loaded.state;
        let Some(task) = state.tasks.get(task_id) else {
            return Ok(None);
        };
        let base = state.base_commit.clone().unwrap_or_default();
        let dependencies: Vec<String> = task
            .spec
            .depends_on
            .iter()
            .filter(|id| {
                state
                    .tasks
                    .get(id)
                    .is_some_and(|dep| dep.spec.kind == TaskKind::Implementation)
            })
            .map(|id| branch_name(&state.goal_id, id))
            .collect();
        let path = self.goal.worktrees_dir().join(task_id.as_str());
        let branch = branch_name(&state.goal_id, task_id);
        let attempt = task.retries;
        // Named by the run it keeps, a number never reused (an interrupted run spends no retry).
        let previous_run = u32::try_from(task.runs.len())
            .unwrap_or(u32::MAX)
            .saturating_sub(1);
        let keep_ref = attempt_ref(&state.goal_id, task_id, previous_run);
        let placement = Placement {
            path: &path,
            branch: &branch,
            task_id,
            base: &base,
            dependency_branches: &dependencies,
            keep_ref: &keep_ref,
            builds_on: task.reopened_from.as_deref(),
            side_files: &self.options.backend.side_files,
        };
        let worktree = match prepare(self.repo_root, placement) {
            Ok(worktree) => worktree,
            Err(error) => {
                self.settle(
                    task_id,
                    TaskStatus::Blocked,
                    format!("its worktree could not be prepared: {error}"),
                    Vec::new(),
                    true,
                )?;
                return Ok(None);
            }
        };
        let prompt = agent_prompt(state, task, &worktree);
        let label = attempt_label(task);
        let prompt_file = self.goal.dir().join("prompts").join(match task.round {
            0 => format!("{task_id}-{attempt}.md"),
            round => format!("{task_id}-round-{round}-{attempt}.md"),
        });
        let prompt_ref = self.write_prompt(&prompt_file, &prompt, &format!("{task_id}/{label}"))?;
        let invocation = self.options.backend.invocation(
            &prompt,
            RunIds {
                goal_id: &state.goal_id,
                task_id,
                worktree: &worktree.path,
                prompt_file: &prompt_file,
            },
        );
        let invocation = match invocation {
            Ok(invocation) => invocation,
            Err(error) => {
                // Another attempt would meet the same limit.
                self.settle(
                    task_id,
                    TaskStatus::Failed,
                    error.to_string(),
                    Vec::new(),
                    false,
                )?;
                return Ok(None);
            }
        };
        let timeout = self.agent_timeout(state);
        let prefix = format!("{task_id}/{label}/");
        let (spec, usage, activity) = agent_spec(
            &invocation,
            &worktree.path,
            self.options.backend.dialect,
            &self.goal.artifacts(),
            &prefix,
            timeout,
        );
        let checkout = checkout_print(self.repo_root);
        let running = match start(spec) {
            Ok(running) => running,
            Err(error) => {
                let cause = match &error {
                    ProcessError::Spawn { source, .. } => source.to_string(),
                    other => other.to_string(),
                };
                let reason = format!("cannot start the {} agent `{}`: {cause}; install it or fix --agent/--agent-cmd, then `omk goal resume` and execute again", self.options.backend.name, invocation.program);
                self.settle(
                    task_id,
                    TaskStatus::Pending,
                    reason.clone(),
                    Vec::new(),
                    true,
                )?;
                self.fail_infra(reason, task_id)?;
                return Ok(None);
            }
        };
        let pid = running.pid();
        let started = Event::AgentStarted(AgentStarted {
            task_id: task_id.clone(),
            attempt,
            round: task.round,
            agent: self.options.backend.name.clone(),
            argv: invocation.recorded_argv.clone(),
            worktree: worktree.path.display().to_string(),
            branch: worktree.branch.clone(),
            start_commit: worktree.start_commit.clone(),
            pid,
            prompt: prompt_ref.hash,
            builds_on: task.reopened_from.clone(),
        });
        self.goal.transact(self.clock.now(), |_| {
            Ok(vec![
                Event::ArtifactRecorded(prompt_ref.clone()),
                started.clone(),
            ])
        })?;
        let (stop, stop_rx) = watch::channel(false);
        let sender = done_tx.clone();
        let id = task_id.clone();
        tokio::spawn(async move {
            let ended = running
                .wait(stop_rx)
                .await
                .and_then(|exit| usage.ended(exit));
            let _ = sender.send((id, ended));
        });
        let path = worktree.path.clone();
        self.running.insert(
            task_id.clone(),
            RunningAgent {
                worktree,
                stop,
                started: tokio::time::Instant::now(),
                activity,
                checkout,
            },
        );
        Ok(Some(Progress::Started {
            task_id: task_id.clone(),
            pid,
            worktree: path,
        }))
    }

    fn write_prompt(
        &self,
        file: &Path,
        prompt: &str,
        artifact_dir: &str,
    ) -> Result<ArtifactRef, WaveError> {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(|error| WaveError::Artifact(error.to_string()))?;
        }
        std::fs::write(file, prompt)
            .map_err(|error| WaveError::Artifact(format!("{}: {error}", file.display())))?;
        self.goal
            .artifacts()
            .put(
                &format!("{artifact_dir}/prompt.md"),
                "text/markdown",
                prompt.as_bytes(),
            )
            .map_err(|error| WaveError::Artifact(error.to_string()))
    }

    /// Records how an agent ended and what it changed, and decides the task's outcome.
    fn record(
        &mut self,
        task_id: &TaskId,
        ended: Result<Ended, ProcessError>,
    ) -> Result<String, WaveError> {
        let Some(agent) = self.running.remove(task_id) else {
            return Ok("not ours".to_owned());
        };
        let ended = ended.map_err(|error| WaveError::Artifact(error.to_string()))?;
        let mut events = Vec::new();
        let (stdout, stderr) = (ended.stdout.clone(), ended.stderr.clone());
        events.push(Event::ArtifactRecorded(stdout.clone()));
        events.push(Event::ArtifactRecorded(stderr.clone()));
        events.push(Event::AgentFinished(AgentFinished {
            task_id: task_id.clone(),
            exit_code: ended.exit_code,
            timed_out: ended.timed_out,
            interrupted: ended.interrupted,
            duration_ms: u64::try_from(ended.duration.as_millis()).unwrap_or(u64::MAX),
            stdout: stdout.hash,
            stderr: stderr.hash,
            limit_stop: ended.report.limit_stop.clone(),
            // The agent's words are recorded, never a secret it repeated.
            claim: ended.report.final_message.as_deref().map(mask),
            transcript_truncated: ended.truncated,
            leftovers_killed: ended.leftovers_killed,
            leftovers_survived: ended.leftovers_survived,
            last_lines: if ended.exit_code == Some(0) && !ended.timed_out {
                String::new()
            } else {
                mask(&ended.last_lines)
            },
        }));
        events.push(Event::UsageRecorded(UsageRecorded {
            task_id: Some(task_id.clone()),
            input_tokens: ended.report.input_tokens,
            output_tokens: ended.report.output_tokens,
            usd_micros: ended.report.usd_micros,
        }));
        let state = self.goal.load()?.state;
        let (write_set, label) = state
            .tasks
            .get(task_id)
            .map(|task| (task.spec.write_set.clone(), attempt_label(task)))
            .unwrap_or_default();
        let others: Vec<&[String]> = state
            .tasks
            .tasks()
            .iter()
            .filter(|task| task.spec.kind == TaskKind::Implementation && task.spec.id != *task_id)
            .map(|task| task.spec.write_set.as_slice())
            .collect();
        let changes = collect(
            &agent.worktree.path,
            task_id,
            &agent.worktree.start_commit,
            &self.goal.artifacts(),
            &format!("{task_id}/{label}/diff.patch"),
            &self.options.backend.side_files,
        );
        let (summary, violations) = match &changes {
            Ok(changes) => {
                let diff = changes.diff.as_ref().map(|(artifact, _)| {
                    events.push(Event::ArtifactRecorded(artifact.clone()));
                    artifact.hash
                });
                let scope = check_scope(
                    &write_set,
                    &others,
                    &changes.changed_files,
                    &self.options.scope,
                );
                let violations = scope.violations.clone();
                let widened = if scope.widened.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; widened beyond its planned write set: {}",
                        scope.widened.join(", ")
                    )
                };
                let summary = format!(
                    "{} at {}: {} changed, +{} -{}{widened}",
                    agent.worktree.branch,
                    short(&changes.head_commit),
                    crate::project::show::plural(changes.changed_files.len() as u64, "file"),
                    changes.insertions,
                    changes.deletions
                );
                events.push(Event::ChangesRecorded(ChangesRecorded {
                    task_id: task_id.clone(),
                    start_commit: agent.worktree.start_commit.clone(),
                    head_commit: changes.head_commit.clone(),
                    commits: changes.commits.clone(),
                    committed_leftovers: changes.committed_leftovers,
                    changed_files: changes.changed_files.clone(),
                    insertions: changes.insertions,
                    deletions: changes.deletions,
                    diff,
                    diff_truncated: changes
                        .diff
                        .as_ref()
                        .is_some_and(|(_, truncated)| *truncated),
                    outside_write_set: violations.clone(),
                    widened: scope.widened.clone(),
                }));
                events.push(Event::TaskEvidenceRecorded(TaskEvidenceRecorded {
                    task_id: task_id.clone(),
                    evidence: Evidence {
                        summary: summary.clone(),
                        artifact: diff,
                    },
                }));
                (summary, violations)
            }
            Err(error) => (
                format!("the worktree could not be read: {error}"),
                Vec::new(),
            ),
        };
        let touched = self.checkout_touched(&agent.checkout);
        let settled = if let Some(touched) = touched {
            // An agent that reached outside its worktree is not given another go.
            Outcome {
                retry: false,
                ..Outcome::new(TaskStatus::Failed, touched)
            }
        } else if ended.interrupted && self.options.interrupt.is_set() {
            self.stopped_by_interrupt.push(task_id.clone());
            Outcome::new(
                TaskStatus::Pending,
                "interrupted (Ctrl-C): its agent was stopped; the next `omk goal execute` runs it again"
                    .to_owned(),
            )
        } else {
            let changed_nothing = changes
                .as_ref()
                .is_ok_and(|changes| changes.changed_files.is_empty());
            outcome(
                &ended,
                &violations,
                changes.is_err(),
                changed_nothing,
                &summary,
            )
        };
        let mut settled = settled;
        if settled.back_off {
            self.back_off(task_id, &mut settled);
        } else {
            self.backoff.remove(task_id);
        }
        let leftovers = leftovers_clause(ended.leftovers_killed, ended.leftovers_survived);
        // A reason may quote the agent (its error message): secrets stay out of the log.
        settled.reason = mask(&settled.reason);
        let described = format!("{} ({}){leftovers}", settled.to.name(), settled.reason);
        self.settle(
            task_id,
            settled.to,
            settled.reason.clone(),
            events,
            settled.retry,
        )?;
        if settled.hold {
            self.hold_for_budget(format!(
                "{}; raise the quota or credits with the provider, then `omk goal resume` and `omk goal execute`",
                settled.reason
            ))?;
        }
        Ok(described)
    }

    /// Appends `facts`, then moves the running task to `to` (retrying a failure while retries
    /// last and the goal is executing). A task no longer running keeps its status.
    fn settle(
        &mut self,
        task_id: &TaskId,
        to: TaskStatus,
        reason: String,
        facts: Vec<Event>,
        retry: bool,
    ) -> Result<(), WaveError> {
        let (_, appended) = self.goal.transact(self.clock.now(), |state| {
            let mut events = facts.clone();
            let Some(task) = state
                .tasks
                .get(task_id)
                .filter(|task| task.status == TaskStatus::Running)
            else {
                return Ok(events);
            };
            let to = match (to, state.status) {
                // An interrupted run goes back to pending, or is cancelled with the goal.
                (TaskStatus::Pending, GoalStatus::Cancelled) => TaskStatus::Cancelled,
                (to, _) => to,
            };
            events.push(transition(task_id, TaskStatus::Running, to, reason.clone()));
            if to == TaskStatus::Failed
                && retry
                && task.retries < task.spec.max_retries
                && state.status == GoalStatus::Executing
            {
                events.push(Event::TaskRetried(TaskRetried {
                    task_id: task_id.clone(),
                    reason: format!("attempt {} failed: {reason}", task.retries + 1),
                    backoff_ms: Some(
                        u64::try_from(retry_wait(task.retries).as_millis()).unwrap_or(u64::MAX),
                    ),
                }));
            }
            Ok(events)
        })?;
        // The wait the log records (the decision that was appended) is the wait kept.
        let recorded = appended.iter().find_map(|event| match event {
            Event::TaskRetried(retried) if retried.task_id == *task_id => retried.backoff_ms,
            _ => None,
        });
        if let Some(wait_ms) = recorded {
            let rate_limits = self.backoff.get(task_id).map_or(0, |(_, times)| *times);
            self.backoff.insert(
                task_id.clone(),
                (
                    tokio::time::Instant::now() + Duration::from_millis(wait_ms),
                    rate_limits,
                ),
            );
        }
        Ok(())
    }

    /// Returns whether a pending task of this goal waits out a rate limit.
    fn backing_off(&self, state: &GoalState) -> bool {
        self.backoff.keys().any(|id| {
            state
                .tasks
                .get(id)
                .is_some_and(|task| task.status == TaskStatus::Pending)
        })
    }

    /// Sets the wait before a rate-limited task starts again, without spending a retry; past
    /// `MAX_RATE_LIMITS` in a row, the rate limit counts as a failure.
    fn back_off(&mut self, task_id: &TaskId, settled: &mut Outcome) {
        let (_, times) = self
            .backoff
            .get(task_id)
            .copied()
            .unwrap_or((tokio::time::Instant::now(), 0));
        let times = times + 1;
        if times > MAX_RATE_LIMITS {
            self.backoff.remove(task_id);
            settled.to = TaskStatus::Failed;
            settled.retry = true;
            settled.reason = format!(
                "{}; rate-limited {MAX_RATE_LIMITS} times in a row",
                settled.reason
            );
            return;
        }
        let wait = jittered(
            FIRST_BACKOFF
                .saturating_mul(1 << (times - 1).min(16))
                .min(MAX_BACKOFF),
        );
        self.backoff
            .insert(task_id.clone(), (tokio::time::Instant::now() + wait, times));
        settled.reason = format!(
            "{}; omk starts it again in {:.1}s without spending a retry",
            settled.reason,
            wait.as_secs_f64()
        );
    }

    /// Concludes the goal `needs_more_budget` for `reason` (its budget or a provider's quota is
    /// used up), so that it waits for a person instead of spending more.
    fn hold_for_budget(&self, reason: String) -> Result<(), WaveError> {
        let result = self.goal.transact(self.clock.now(), |state| {
            if state.status != GoalStatus::Executing {
                return Ok(Vec::new());
            }
            Ok(vec![Event::GoalConcluded(GoalConcluded {
                status: Conclusion::NeedsMoreBudget,
                reason: reason.clone(),
                decisions_required: Vec::new(),
            })])
        });
        match result {
            Ok(_) | Err(StoreError::Refused(_)) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Returns why the run fails if the user's checkout is not as it was when the agent started
    /// (`before`), or `None` when it is untouched.
    fn checkout_touched(&self, before: &Result<CheckoutPrint, GitError>) -> Option<String> {
        let root = self.repo_root.display();
        let after = checkout_print(self.repo_root);
        let changes = match (before, &after) {
            (Ok(before), Ok(after)) => before.changes_to(after),
            (Err(error), _) | (_, Err(error)) => {
                return Some(format!(
                    "omk could not check that your checkout at {root} is untouched ({error}), so the run is not trusted"
                ))
            }
        };
        if changes.is_empty() {
            return None;
        }
        Some(format!(
            "the agent changed your own checkout at {root}, outside its worktree: {}; omk does not undo it: look at those files yourself (a change you made there while the agent ran also counts)",
            changes.join(", ")
        ))
    }

    fn fail_infra(&self, reason: String, task_id: &TaskId) -> Result<(), WaveError> {
        let result = self.goal.transact(self.clock.now(), |state| {
            if !state.permits(Action::FailInfra) {
                return Ok(Vec::new());
            }
            Ok(vec![Event::RunFailed(RunFailed {
                reason: reason.clone(),
                task_id: Some(task_id.clone()),
            })])
        });
        match result {
            Ok(_) | Err(StoreError::Refused(_)) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    fn renew_leases(&self) -> Result<(), WaveError> {
        let expires_at = self.lease_expiry();
        let holder = self.holder.to_string();
        let ids: Vec<TaskId> = self.running.keys().cloned().collect();
        let result = self.goal.transact(self.clock.now(), |state| {
            Ok(ids
                .iter()
                .filter(|id| {
                    state
                        .tasks
                        .get(id)
                        .is_some_and(|task| task.status == TaskStatus::Running)
                })
                .map(|id| {
                    Event::TaskLeased(TaskLeased {
                        task_id: id.clone(),
                        holder: holder.clone(),
                        expires_at,
                    })
                })
                .collect())
        });
        match result {
            Ok(_) | Err(StoreError::Refused(_)) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Closes the wave: the controller's task is done once every slice is.
    fn finish(&self) -> Result<Loaded, WaveError> {
        let result = self.goal.transact(self.clock.now(), |state| {
            if state.status != GoalStatus::Executing {
                return Ok(Vec::new());
            }
            Ok(close_wave(state))
        });
        match result {
            Ok((loaded, _)) => Ok(loaded),
            Err(StoreError::Refused(_)) => Ok(self.goal.load()?),
            Err(error) => Err(error.into()),
        }
    }

    fn lease_expiry(&self) -> Timestamp {
        self.clock
            .now()
            .plus_seconds(self.options.lease_ttl.as_secs().max(1))
    }

    /// The agent timeout, cut to what is left of the goal's time budget.
    fn agent_timeout(&self, state: &GoalState) -> Duration {
        let time = state.budget.time(self.clock.now());
        match time.limit {
            Some(limit) => self
                .options
                .agent_timeout
                .min(Duration::from_secs(limit.saturating_sub(time.used).max(1))),
            None => self.options.agent_timeout,
        }
    }
}

/// Returns the events that close the wave once every slice is done: the controller's own
/// task, open until then, is done. Until then it stays open: another wave may be at work, and a
/// slice that failed every attempt leaves the goal executing, for a fix round
/// (`omk goal continue`) to give it another go with its failure.
pub fn close_wave(state: &GoalState) -> Vec<Event> {
    let all_done = state
        .tasks
        .tasks()
        .iter()
        .filter(|task| task.spec.kind == TaskKind::Implementation)
        .all(|task| task.status == TaskStatus::Done);
    let controller = state.tasks.tasks().iter().find(|task| {
        task.spec.kind == TaskKind::AgentExecution && task.status == TaskStatus::Pending
    });
    let (true, Some(controller)) = (all_done, controller) else {
        return Vec::new();
    };
    let id = &controller.spec.id;
    vec![
        transition(
            id,
            TaskStatus::Pending,
            TaskStatus::Running,
            "every slice is done".to_owned(),
        ),
        transition(
            id,
            TaskStatus::Running,
            TaskStatus::Done,
            "every slice is done with a commit on its branch".to_owned(),
        ),
    ]
}

/// Returns how long a retry waits after `retries` earlier ones: doubling from
/// `FIRST_RETRY_WAIT` up to `MAX_RETRY_WAIT`, with jitter.
fn retry_wait(retries: u32) -> Duration {
    jittered(
        FIRST_RETRY_WAIT
            .saturating_mul(1 << retries.min(16))
            .min(MAX_RETRY_WAIT),
    )
}

/// Returns why a running task's lease is broken, or `None` while its holder may still be working.
fn broken_lease(task: &Task, now: Timestamp) -> Option<String> {
    let Some(lease) = &task.lease else {
        return Some("it was running without a lease (an interrupted launch)".to_owned());
    };
    let liveness =
        Holder::parse(&lease.holder).map_or(Liveness::Unknown, |holder| holder.liveness());
    match liveness {
        Liveness::Gone => Some(format!("the lease holder {} is gone", lease.holder)),
        _ if lease.expires_at < now => Some(format!(
            "the lease of {} expired at {}",
            lease.holder, lease.expires_at
        )),
        _ => None,
    }
}

/// Kills what is left of the task's last agent, if its process still runs in the worktree.
fn kill_leftover_agent(task: &Task) {
    let Some(run) = task.runs.last().filter(|run| run.finished.is_none()) else {
        return;
    };
    let pid = run.started.pid;
    let in_worktree = process_cwd(pid).is_some_and(|cwd| cwd == Path::new(&run.started.worktree));
    if in_worktree {
        signal_group(i32::try_from(pid).unwrap_or(0), libc::SIGKILL);
    }
}

fn transition(task_id: &TaskId, from: TaskStatus, to: TaskStatus, reason: String) -> Event {
    Event::TaskTransitioned(TaskTransitioned {
        task_id: task_id.clone(),
        from,
        to,
        reason: Some(reason),
    })
}

/// Returns the task's outcome and why, from how its agent ended and what it changed.
/// How a task settles after its agent ended.
struct Outcome {
    to: TaskStatus,
    reason: String,
    /// Whether a failure may be retried (within the task's retries).
    retry: bool,
    /// Whether the goal is held as `needs_more_budget` (the provider's quota is used up).
    hold: bool,
    /// Whether the provider rate-limited the agent: the task waits, then starts again.
    back_off: bool,
}

impl Outcome {
    fn new(to: TaskStatus, reason: String) -> Outcome {
        Outcome {
            to,
            reason,
            retry: true,
            hold: false,
            back_off: false,
        }
    }
}

fn outcome(
    ended: &Ended,
    violations: &[String],
    unreadable: bool,
    changed_nothing: bool,
    summary: &str,
) -> Outcome {
    let (to, reason) = plain_outcome(ended, violations, unreadable, changed_nothing, summary);
    // A denied permission or a rate limit the agent got past, in a run that exited 0 having
    // made its change, did not stop the work.
    let got_past = |kind: FailureKind| {
        ended.exit_code == Some(0)
            && !changed_nothing
            && matches!(kind, FailureKind::CannotEdit | FailureKind::RateLimited)
    };
    let Some(failure) = ended
        .report
        .failure
        .as_ref()
        .filter(|failure| !ended.interrupted && !ended.timed_out && !got_past(failure.kind))
    else {
        return Outcome::new(to, reason);
    };
    let exit = ended
        .exit_code
        .map_or("a signal".to_owned(), |code| format!("status {code}"));
    let message = &failure.message;
    match failure.kind {
        FailureKind::RateLimited => Outcome {
            to: TaskStatus::Pending,
            reason: format!("the provider rate-limited the agent (exit {exit}): {message}"),
            retry: false,
            hold: false,
            back_off: true,
        },
        FailureKind::QuotaExhausted => Outcome {
            to: TaskStatus::Pending,
            reason: format!(
                "the agent's provider says its quota or credits are used up (exit {exit}): {message}"
            ),
            retry: false,
            hold: true,
            back_off: false,
        },
        FailureKind::CannotEdit => Outcome {
            to: TaskStatus::Failed,
            reason: format!(
                "the agent could not edit or run what it needed (exit {exit}): {message}; see docs/agents.md for the permissions its preset grants"
            ),
            retry: false,
            hold: false,
            back_off: false,
        },
        FailureKind::Failed => Outcome::new(
            TaskStatus::Failed,
            format!("the agent reported a failure (exit {exit}): {message}"),
        ),
    }
}

/// Returns the outcome from how the agent exited and what it changed, before its own report
/// of a failure is read.
fn plain_outcome(
    ended: &Ended,
    violations: &[String],
    unreadable: bool,
    changed_nothing: bool,
    summary: &str,
) -> (TaskStatus, String) {
    if ended.interrupted {
        return (
            TaskStatus::Pending,
            "interrupted: the goal was paused or cancelled".to_owned(),
        );
    }
    if ended.timed_out {
        return (
            TaskStatus::Failed,
            format!(
                "the agent timed out after {}s and was killed",
                ended.duration.as_secs()
            ),
        );
    }
    if unreadable {
        return (TaskStatus::Failed, summary.to_owned());
    }
    match ended.exit_code {
        Some(0) => {}
        Some(code) => {
            let said = ended.last_lines.lines().last().unwrap_or("").trim();
            let said: String = said.chars().take(200).collect();
            return (
                TaskStatus::Failed,
                if said.is_empty() {
                    format!("the agent exited with status {code}")
                } else {
                    format!("the agent exited with status {code}: {said}")
                },
            );
        }
        None => {
            return (
                TaskStatus::Failed,
                "the agent was killed by a signal".to_owned(),
            )
        }
    }
    if let Some(limit) = &ended.report.limit_stop {
        return (TaskStatus::Failed, limit.clone());
    }
    if !violations.is_empty() {
        return (
            TaskStatus::Failed,
            format!(
                "changed files outside its write set that another slice owns or that are protected (or any, under a strict [scope]): {}",
                violations.join(", ")
            ),
        );
    }
    if changed_nothing {
        // Finishing is not doing: a slice is work, and no change is no work done.
        let claim = ended
            .report
            .final_message
            .as_deref()
            .map_or(String::new(), |claim| {
                format!(
                    " (it said: {})",
                    claim.chars().take(200).collect::<String>()
                )
            });
        return (
            TaskStatus::Failed,
            format!("no change: the agent exited 0 without changing any file{claim}"),
        );
    }
    (TaskStatus::Done, summary.to_owned())
}

/// Returns the name of a task's current attempt in artifact names: `attempt-1`, and in a fix
/// round `round-2/attempt-0`.
fn attempt_label(task: &Task) -> String {
    match task.round {
        0 => format!("attempt-{}", task.retries),
        round => format!("round-{round}/attempt-{}", task.retries),
    }
}

/// Returns what a retry is told about the attempt before it: why it failed and what the agent
/// said then (empty for a first attempt).
fn previous_attempt(task: &Task) -> String {
    let Some(failure) = &task.last_failure else {
        return String::new();
    };
    let finished = task.runs.last().and_then(|run| run.finished.as_ref());
    let said = finished
        .and_then(|finished| finished.claim.as_deref())
        .map_or(String::new(), |claim| {
            format!(
                "\n\nIt said: {}",
                claim.chars().take(600).collect::<String>()
            )
        });
    let printed = finished
        .map(|finished| finished.last_lines.as_str())
        .filter(|lines| !lines.is_empty())
        .map_or(String::new(), |lines| {
            format!("\n\nIts last output lines:\n\n```\n{lines}\n```")
        });
    let start = if task.reopened_from.is_some() {
        "Start again from your earlier work on this slice (the worktree is back at it)"
    } else {
        "Start again from the slice's starting point"
    };
    format!(
        "## Your previous attempt failed\n\nThis is attempt {} of {}. The last one failed: {failure}.{said}{printed}\n\n{start} and avoid that failure.\n\n",
        task.retries + 1,
        task.spec.max_retries + 1
    )
}

/// Returns what an attempt in a fix round is told: why the goal's result failed, and what the
/// slice's last agent claimed (empty outside a round).
fn fix_round(state: &GoalState, task: &Task) -> String {
    let Some(round) = task
        .round
        .checked_sub(1)
        .and_then(|index| state.rounds.get(usize::try_from(index).ok()?))
    else {
        return String::new();
    };
    let claim = task
        .runs
        .iter()
        .rev()
        .find_map(|run| run.finished.as_ref()?.claim.as_deref())
        .map_or(String::new(), |claim| {
            format!(
                "Your last attempt said: {}\n\n",
                claim.chars().take(600).collect::<String>()
            )
        });
    let start = if task.reopened_from.is_some() {
        "Your earlier work on this slice is already in the worktree: fix the failure on top of it."
    } else {
        "Start again from the slice's starting point and avoid that failure."
    };
    format!(
        "## Fix round {}: the last result failed\n\n{}.\n\n{}\n\n{claim}{start}\n\n",
        round.started.round, round.started.reason, round.started.feedback
    )
}

/// Returns the prompt for a slice: the goal, the task and where the plan is.
fn agent_prompt(state: &GoalState, task: &Task, worktree: &Worktree) -> String {
    let list = |items: &[String]| {
        if items.is_empty() {
            "- (none)".to_owned()
        } else {
            items
                .iter()
                .map(|item| format!("- {item}"))
                .collect::<Vec<_>>()
                .join("\n")
        }
    };
    let plan_docs: Vec<String> = state
        .artifacts
        .iter()
        .filter(|recorded| {
            matches!(
                recorded.artifact.name.as_str(),
                "prd.md" | "technical-plan.md" | "test-spec.md"
            )
        })
        .map(|recorded| {
            format!(
                "- {} (artifact {})",
                recorded.artifact.name, recorded.artifact.hash
            )
        })
        .collect();
    format!(
        "You are working on one slice of a larger goal, in a git worktree of your own ({worktree}).\n\n\
         # Goal {goal_id}\n\n{prompt}\n\n\
         # Your task: {task_id}: {title}\n\n{description}\n\n\
         ## Where the work is planned (write set)\n\n{write_set}\n\n\
         ## Read first\n\n{read_set}\n\n\
         ## Done means\n\n{acceptance}\n\n\
         ## Plan\n\n{plan}\n\n{round}{previous}\
         Make the change, add or update a test that shows it, and leave the work in the worktree \
         (committing is optional: omk commits what you leave). Other files may change when the work \
         needs it (that is recorded as widening), but never files another slice plans to change, \
         nor protected paths such as CI workflows or omk.toml: that fails the task. A run that \
         changes nothing fails too.\n",
        worktree = worktree.path.display(),
        goal_id = state.goal_id,
        prompt = state.prompt,
        task_id = task.spec.id,
        title = task.spec.title,
        description = task.spec.description,
        write_set = list(&task.spec.write_set),
        read_set = list(&task.spec.read_set),
        acceptance = list(&task.spec.acceptance),
        plan = if plan_docs.is_empty() { "- (none)".to_owned() } else { plan_docs.join("\n") },
        round = fix_round(state, task),
        previous = previous_attempt(task),
    )
}
