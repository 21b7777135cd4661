//! `omk goal verify`: build the goal's claimed tree and run the gates on it.
//!
//! The claimed tree is the tip of `omk/<goal-id>/result`: the base commit with every done
//! slice's branch merged in dependency order, in a worktree of its own. A merge conflict is
//! recorded as a blocker naming the files and the task. The gates run on that tree (and, the
//! first time, once on the base commit as the baseline), in parallel up to a limit; each run is
//! recorded with the exact commit and tree it ran on, whether the checkout was dirty, its exit
//! status, duration, whether it timed out, and its output as an artifact.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::event::{
    Event, GateFinished, GateName, GateStarted, GateTarget, Phase, PhaseEntered, ResultBuilt,
    ResultConflicted, TaskId, TaskKind,
};
use crate::ops::wave::close_wave;
use crate::plan::gates::GateSpec;
use crate::plan::secrets::mask;
use crate::shell::clock::Clock;
use crate::shell::git::{git_paths, git_text, run_git, GitError};
use crate::shell::interrupt::Interrupt;
use crate::shell::process::{reap_orphans, start, Capture, Ending, Exit, ProcessError, Spec, Tail};
use crate::shell::worktree::{branch_name, checkout_fresh, conflicted_files};
use crate::state::commands::GoalCommand;
use crate::state::{GateRecord, GoalState, GoalStatus};
use crate::store::{GoalDir, Loaded, StoreError};

/// What to verify.
#[derive(Clone, Debug)]
pub struct VerifyRequest {
    pub gates: Vec<GateSpec>,
    pub max_parallel: usize,
    /// Returns the task whose worktree to verify instead of the goal's claimed tree.
    pub task: Option<TaskId>,
    /// Stops the running gates when it fires (Ctrl-C).
    pub interrupt: Interrupt,
}

/// Something verification reports as it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyProgress {
    Built {
        commit: String,
        merged: Vec<TaskId>,
    },
    GateStarted {
        gate: GateName,
        baseline: bool,
    },
    /// A gate was not run: the goal changed nothing its `when_changed` names.
    GateSkipped {
        gate: GateName,
        when_changed: Vec<String>,
    },
    /// A gate is still running: how long, and the last line it printed.
    GateRunning {
        gate: GateName,
        seconds: u64,
        last_line: String,
    },
    GateFinished {
        gate: GateName,
        baseline: bool,
        passed: bool,
        seconds: u64,
        /// Whether an interruption stopped it.
        interrupted: bool,
        /// How many processes it left running, which were killed.
        leftovers_killed: u32,
        /// The last line it printed (what a failure message shows first).
        last_line: String,
        /// The `seq` of the earlier pass on the identical tree it reuses, instead of running.
        reused_from: Option<u64>,
    },
}

/// Verification could not go on.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Store(Box<StoreError>),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("cannot store a gate's output: {0}")]
    Artifact(String),
    #[error("the goal's result branch cannot be built: merging `{task}` conflicts in {}", files.join(", "))]
    Conflict { task: TaskId, files: Vec<String> },
    #[error("task `{task}` has no worktree to verify: it has not run")]
    NoWorktree { task: TaskId },
}

impl From<StoreError> for VerifyError {
    fn from(error: StoreError) -> VerifyError {
        VerifyError::Store(Box::new(error))
    }
}

/// What a verification did.
#[derive(Debug)]
pub struct VerifyOutcome {
    /// The goal after verification.
    pub loaded: Loaded,
    /// Every gate run this verification recorded, in the order they finished.
    pub ran: Vec<GateOutcome>,
    /// The gates not needed for what the goal changes.
    pub skipped: Vec<GateName>,
    /// The required gates whose run on the claimed tree did not pass.
    pub failed_required: Vec<GateName>,
    /// Whether an interruption (Ctrl-C) stopped the verification before every gate ran.
    pub interrupted: bool,
}

/// One gate run, as the caller reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateOutcome {
    pub gate: GateName,
    pub baseline: bool,
    pub required: bool,
    pub passed: bool,
    pub interrupted: bool,
}

/// Verifies the goal: builds its claimed tree (or takes the task's worktree) and runs the gates.
pub fn verify_goal(
    goal: &GoalDir,
    repo_root: &Path,
    clock: &Clock,
    request: &VerifyRequest,
    progress: &mut (dyn FnMut(VerifyProgress) + Send),
) -> Result<VerifyOutcome, VerifyError> {
    let loaded = goal.load()?;
    let state = &loaded.state;
    reap_orphans(goal.worktrees_dir());
    let mut ran = Vec::new();
    if let Some(task_id) = &request.task {
        let run = state.tasks.get(task_id).and_then(|task| task.runs.last());
        let Some(run) = run.filter(|run| Path::new(&run.started.worktree).exists()) else {
            return Err(VerifyError::NoWorktree {
                task: task_id.clone(),
            });
        };
        let path = PathBuf::from(&run.started.worktree);
        let role = GateRole::Task(task_id.clone());
        run_gates(goal, clock, request, &path, &role, progress, &mut ran)?;
        return Ok(VerifyOutcome::new(goal.load()?, ran, Vec::new(), request));
    }
    state
        .check_command(GoalCommand::Verify)
        .map_err(|refusal| VerifyError::Store(Box::new(StoreError::Refused(refusal))))?;
    let result_path = goal.worktrees_dir().join("_result");
    let built = build_result(goal, repo_root, clock, state, &result_path)?;
    progress(VerifyProgress::Built {
        commit: built.commit.clone(),
        merged: built.merged.clone(),
    });
    goal.transact(clock.now(), |state| {
        let mut events = vec![Event::ResultBuilt(built.clone())];
        if state.status == GoalStatus::Executing {
            // A wave stopped before it closed (a budget hold, a crash) leaves its task open.
            events.extend(close_wave(state));
            events.push(Event::PhaseEntered(PhaseEntered {
                phase: Phase::Verifying,
            }));
        }
        Ok(events)
    })?;
    let base = state.base_commit.clone().unwrap_or_default();
    // Only the gates this goal needs, by what it changed.
    let changed = git_paths(
        repo_root,
        &[
            "diff",
            "--no-renames",
            "--name-only",
            "-z",
            &base,
            &built.commit,
        ],
    )?;
    let (needed, skipped): (Vec<GateSpec>, Vec<GateSpec>) = request
        .gates
        .iter()
        .cloned()
        .partition(|gate| gate.needed_for(&changed));
    for gate in &skipped {
        progress(VerifyProgress::GateSkipped {
            gate: gate.name.clone(),
            when_changed: gate.when_changed.clone(),
        });
    }
    let skipped = skipped.into_iter().map(|gate| gate.name).collect();
    let request = &VerifyRequest {
        gates: needed,
        ..request.clone()
    };
    let has_baseline = state.gate_runs.iter().any(|record| {
        record.run.target.baseline && record.run.target.commit == base && !record.run.interrupted
    });
    if has_baseline || base.is_empty() {
        let role = GateRole::Claimed;
        run_gates(
            goal,
            clock,
            request,
            &result_path,
            &role,
            progress,
            &mut ran,
        )?;
        return Ok(VerifyOutcome::new(goal.load()?, ran, skipped, request));
    }
    let base_path = goal.worktrees_dir().join("_base");
    checkout_fresh(repo_root, &base_path, None, &base)?;
    let targets = [
        (base_path.as_path(), GateRole::Baseline),
        (result_path.as_path(), GateRole::Claimed),
    ];
    run_targets(goal, clock, request, &targets, progress, &mut ran)?;
    Ok(VerifyOutcome::new(goal.load()?, ran, skipped, request))
}

/// Runs the gates on each target: side by side when `max_parallel` leaves each at least one
/// gate at a time (it is split between them), else one target after the other.
fn run_targets(
    goal: &GoalDir,
    clock: &Clock,
    request: &VerifyRequest,
    targets: &[(&Path, GateRole)],
    progress: &mut (dyn FnMut(VerifyProgress) + Send),
    ran: &mut Vec<GateOutcome>,
) -> Result<(), VerifyError> {
    if request.max_parallel < targets.len() {
        for (path, role) in targets {
            if request.interrupt.is_set() {
                break;
            }
            run_gates(goal, clock, request, path, role, progress, ran)?;
        }
        return Ok(());
    }
    let share = VerifyRequest {
        max_parallel: request.max_parallel / targets.len(),
        ..request.clone()
    };
    let progress = std::sync::Mutex::new(progress);
    let results: Vec<Result<Vec<GateOutcome>, VerifyError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = targets
            .iter()
            .map(|(path, role)| {
                let (share, progress) = (&share, &progress);
                scope.spawn(move || {
                    let mut report = |event: VerifyProgress| {
                        if let Ok(mut progress) = progress.lock() {
                            progress(event);
                        }
                    };
                    let mut ran = Vec::new();
                    run_gates(goal, clock, share, path, role, &mut report, &mut ran).map(|()| ran)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    for result in results {
        ran.extend(result?);
    }
    Ok(())
}

impl VerifyOutcome {
    fn new(
        loaded: Loaded,
        ran: Vec<GateOutcome>,
        skipped: Vec<GateName>,
        request: &VerifyRequest,
    ) -> VerifyOutcome {
        let failed_required = ran
            .iter()
            .filter(|run| !run.baseline && run.required && !run.passed)
            .map(|run| run.gate.clone())
            .collect();
        VerifyOutcome {
            loaded,
            ran,
            skipped,
            failed_required,
            interrupted: request.interrupt.is_set(),
        }
    }
}

/// Merges every done slice's branch, in plan order (dependencies come first), onto the base.
fn build_result(
    goal: &GoalDir,
    repo_root: &Path,
    clock: &Clock,
    state: &GoalState,
    path: &Path,
) -> Result<ResultBuilt, VerifyError> {
    let branch = branch_name(&state.goal_id, "result");
    let base = state.base_commit.clone().unwrap_or_default();
    checkout_fresh(repo_root, path, Some(&branch), &base)?;
    let mut merged = Vec::new();
    for task in state
        .tasks
        .tasks()
        .iter()
        .filter(|task| task.spec.kind == TaskKind::Implementation)
    {
        let slice = branch_name(&state.goal_id, &task.spec.id);
        let message = format!(
            "omk: merge {} into the result of {}",
            task.spec.id, state.goal_id
        );
        if run_git(
            path,
            &["merge", "--no-ff", "--no-edit", "-m", &message, &slice],
        )
        .is_err()
        {
            let files = conflicted_files(path);
            let _ = run_git(path, &["merge", "--abort"]);
            let conflict = ResultConflicted {
                task_id: task.spec.id.clone(),
                merged: merged.clone(),
                files: files.clone(),
            };
            goal.transact(clock.now(), |_| {
                Ok(vec![Event::ResultConflicted(conflict.clone())])
            })?;
            return Err(VerifyError::Conflict {
                task: task.spec.id.clone(),
                files,
            });
        }
        merged.push(task.spec.id.clone());
    }
    Ok(ResultBuilt {
        branch,
        commit: git_text(path, &["rev-parse", "HEAD"])?,
        tree: git_text(path, &["rev-parse", "HEAD^{tree}"])?,
        merged,
        base_tree: Some(git_text(path, &["rev-parse", &format!("{base}^{{tree}}")])?),
    })
}

/// How many of a failed gate's last output lines its event keeps (from at most 4 KiB).
const GATE_TAIL_LINES: usize = 30;

/// The most bytes of a gate's output kept; the rest is counted and flagged as truncated.
pub const MAX_GATE_OUTPUT: u64 = 64 << 20;

/// Which tree a set of gate runs checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GateRole {
    /// The goal's claimed tree (the result branch).
    Claimed,
    /// The goal's base commit, once, to tell what the goal changed.
    Baseline,
    /// One task's worktree (`omk goal verify --task`).
    Task(TaskId),
    /// The tree `omk goal land` would put on a branch that moved since the base.
    Landing,
}

impl GateRole {
    /// Returns the folder of the gate's output artifact under `gates/<name>/`.
    fn label(&self) -> &'static str {
        match self {
            GateRole::Baseline => "baseline",
            GateRole::Landing => "landing",
            GateRole::Claimed | GateRole::Task(_) => "head",
        }
    }
}

/// Runs every gate on the checkout at `path`, up to `max_parallel` at once, recording each and
/// adding it to `ran`; an interruption stops the running gates and starts no more.
pub(crate) fn run_gates(
    goal: &GoalDir,
    clock: &Clock,
    request: &VerifyRequest,
    path: &Path,
    role: &GateRole,
    progress: &mut (dyn FnMut(VerifyProgress) + Send),
    ran: &mut Vec<GateOutcome>,
) -> Result<(), VerifyError> {
    let target = GateTarget {
        commit: git_text(path, &["rev-parse", "HEAD"])?,
        tree: git_text(path, &["rev-parse", "HEAD^{tree}"])?,
        dirty: !run_git(path, &["status", "--porcelain", "-z"])?.is_empty(),
        baseline: *role == GateRole::Baseline,
        task_id: match role {
            GateRole::Task(task_id) => Some(task_id.clone()),
            _ => None,
        },
        landing: *role == GateRole::Landing,
    };
    // Supervisions run on the workers; this thread records, so a slow fsync stalls no pipe.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|error| {
            VerifyError::Artifact(format!("cannot start the async runtime: {error}"))
        })?;
    let earlier = goal.load()?.state.gate_runs;
    let runner = GateRunner {
        goal,
        clock,
        path,
        target: &target,
        label: role.label(),
        earlier: &earlier,
        interrupt: &request.interrupt,
    };
    runtime.block_on(runner.run_all(&request.gates, request.max_parallel.max(1), progress, ran))
}

/// Runs the gates of one target and records them.
struct GateRunner<'a> {
    goal: &'a GoalDir,
    clock: &'a Clock,
    path: &'a Path,
    target: &'a GateTarget,
    /// The folder of each output artifact under `gates/<name>/`: `baseline`, `head`, `landing`.
    label: &'static str,
    /// The goal's finished gate runs before this verification: passes it may reuse.
    earlier: &'a [GateRecord],
    interrupt: &'a Interrupt,
}

/// A gate under way: its spec, its output's tail, and when it started.
struct RunningGate {
    gate: GateSpec,
    tail: Arc<Tail>,
    started: tokio::time::Instant,
}

type GateDone = (usize, Result<Exit, ProcessError>);

impl GateRunner<'_> {
    async fn run_all(
        &self,
        gates: &[GateSpec],
        max_parallel: usize,
        progress: &mut (dyn FnMut(VerifyProgress) + Send),
        ran: &mut Vec<GateOutcome>,
    ) -> Result<(), VerifyError> {
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<GateDone>();
        let mut queue = gates.iter().cloned().enumerate();
        let mut running: BTreeMap<usize, RunningGate> = BTreeMap::new();
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            while running.len() < max_parallel && !self.interrupt.is_set() {
                let Some((index, gate)) = queue.next() else {
                    break;
                };
                if let Some(pass) = self.reusable(&gate) {
                    ran.push(self.reuse(&gate, pass, progress)?);
                    continue;
                }
                let started = self.start(index, gate, &done_tx, progress)?;
                running.insert(index, started);
            }
            if running.is_empty() {
                return Ok(());
            }
            tokio::select! {
                Some((index, exit)) = done_rx.recv() => {
                    if let Some(gate) = running.remove(&index) {
                        ran.push(self.record(gate, exit, progress)?);
                    }
                }
                _ = ticker.tick() => {
                    for gate in running.values() {
                        progress(VerifyProgress::GateRunning {
                            gate: gate.gate.name.clone(),
                            seconds: gate.started.elapsed().as_secs(),
                            last_line: mask(&gate.tail.last_line()),
                        });
                    }
                }
            }
        }
    }

    /// Returns an earlier pass of the same gate command on this very tree, from a clean
    /// checkout, when there is one: running it again would only repeat it.
    fn reusable(&self, gate: &GateSpec) -> Option<&GateRecord> {
        if self.target.dirty {
            return None;
        }
        self.earlier.iter().rev().find(|record| {
            let run = &record.run;
            run.gate == gate.name
                && run.command == gate.command
                && run.target.tree == self.target.tree
                && !run.target.dirty
                && run.passed()
                && run.reused_from.is_none()
        })
    }

    /// Records `pass` as this target's run of the gate, reused: its output, nothing run.
    fn reuse(
        &self,
        gate: &GateSpec,
        pass: &GateRecord,
        progress: &mut (dyn FnMut(VerifyProgress) + Send),
    ) -> Result<GateOutcome, VerifyError> {
        let record = GateFinished {
            required: gate.required,
            red_first: gate.red_first,
            target: self.target.clone(),
            duration_ms: 0,
            reused_from: Some(pass.seq),
            ..pass.run.clone()
        };
        self.goal.transact(self.clock.now(), |_| {
            Ok(vec![Event::GateFinished(record.clone())])
        })?;
        progress(VerifyProgress::GateFinished {
            gate: gate.name.clone(),
            baseline: self.target.baseline,
            passed: true,
            seconds: 0,
            interrupted: false,
            leftovers_killed: 0,
            last_line: String::new(),
            reused_from: Some(pass.seq),
        });
        Ok(GateOutcome {
            gate: gate.name.clone(),
            baseline: self.target.baseline,
            required: gate.required,
            passed: true,
            interrupted: false,
        })
    }

    /// Records that the gate starts, and starts it under supervision.
    fn start(
        &self,
        index: usize,
        gate: GateSpec,
        done_tx: &tokio::sync::mpsc::UnboundedSender<GateDone>,
        progress: &mut (dyn FnMut(VerifyProgress) + Send),
    ) -> Result<RunningGate, VerifyError> {
        self.goal.transact(self.clock.now(), |_| {
            Ok(vec![Event::GateStarted(GateStarted {
                gate: gate.name.clone(),
                command: gate.command.clone(),
                target: self.target.clone(),
            })])
        })?;
        progress(VerifyProgress::GateStarted {
            gate: gate.name.clone(),
            baseline: self.target.baseline,
        });
        let label = self.label;
        // Both streams into one output, in the order they were written. Each checkout builds
        // in its own target directory: one inherited `CARGO_TARGET_DIR` shared by the
        // baseline and the claimed tree lets Cargo run the other tree's stale test binary
        // (freshness is judged by file times), so the gate would judge the wrong code. The
        // gate's own command may still set one.
        let script = format!("exec 2>&1\nunset CARGO_TARGET_DIR\n{}", gate.command);
        let mut spec = Spec::new("sh", &["-c", &script], &self.path.join(&gate.dir));
        spec.deadline = Duration::from_secs(gate.timeout_secs);
        spec.stdout = Capture::artifact(
            self.goal.artifacts(),
            &format!("gates/{}/{label}/output.txt", gate.name),
            "text/plain",
            MAX_GATE_OUTPUT,
        );
        spec.stderr = Capture::nothing();
        let tail = spec.stdout.tail();
        let stop = self.interrupt.receiver();
        let sender = done_tx.clone();
        match start(spec) {
            Ok(running) => {
                tokio::spawn(async move {
                    let _ = sender.send((index, running.wait(stop).await));
                });
            }
            Err(error) => {
                let _ = sender.send((index, Err(error)));
            }
        }
        Ok(RunningGate {
            gate,
            tail,
            started: tokio::time::Instant::now(),
        })
    }

    /// Records how a gate ended.
    fn record(
        &self,
        running: RunningGate,
        exit: Result<Exit, ProcessError>,
        progress: &mut (dyn FnMut(VerifyProgress) + Send),
    ) -> Result<GateOutcome, VerifyError> {
        let RunningGate { gate, started, .. } = running;
        let label = self.label;
        let output_name = format!("gates/{}/{label}/output.txt", gate.name);
        let (exit, failure) = match exit {
            Ok(exit) => (Some(exit), None),
            Err(ProcessError::Store { source, .. }) => {
                return Err(VerifyError::Artifact(source.to_string()))
            }
            Err(error) => (None, Some(error.to_string())),
        };
        let could_not_run = failure.clone();
        let artifact = match exit.as_ref().and_then(|exit| exit.stdout.artifact.clone()) {
            Some(artifact) => artifact,
            None => self
                .goal
                .artifacts()
                .put(
                    &output_name,
                    "text/plain",
                    format!(
                        "the gate could not run: {}\n",
                        failure.unwrap_or_else(|| "it left no output".to_owned())
                    )
                    .as_bytes(),
                )
                .map_err(|error| VerifyError::Artifact(error.to_string()))?,
        };
        let ending = exit.as_ref().map(|exit| exit.ending);
        let mut record = GateFinished {
            gate: gate.name.clone(),
            command: gate.command.clone(),
            required: gate.required,
            red_first: gate.red_first,
            target: self.target.clone(),
            exit_code: exit.as_ref().and_then(|exit| exit.code),
            timed_out: ending == Some(Ending::TimedOut),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            output: artifact.hash,
            interrupted: ending == Some(Ending::Stopped),
            output_truncated: exit
                .as_ref()
                .is_some_and(|exit| exit.stdout.truncated || exit.stdout.unfinished),
            leftovers_killed: exit.as_ref().map_or(0, |exit| exit.leftovers.killed),
            leftovers_survived: exit.as_ref().map_or(0, |exit| exit.leftovers.survivors),
            last_lines: String::new(),
            reused_from: None,
        };
        let passed = record.passed();
        if !passed {
            let tail = match (&exit, could_not_run) {
                (Some(exit), _) => exit.stdout.tail.last_lines(GATE_TAIL_LINES),
                (None, failure) => failure.unwrap_or_default(),
            };
            record.last_lines = mask(&tail);
        }
        self.goal.transact(self.clock.now(), |_| {
            Ok(vec![
                Event::ArtifactRecorded(artifact.clone()),
                Event::GateFinished(record.clone()),
            ])
        })?;
        progress(VerifyProgress::GateFinished {
            gate: gate.name.clone(),
            baseline: self.target.baseline,
            passed,
            seconds: started.elapsed().as_secs(),
            interrupted: record.interrupted,
            leftovers_killed: record.leftovers_killed,
            last_line: exit
                .as_ref()
                .map(|exit| exit.stdout.tail.last_line())
                .unwrap_or_default(),
            reused_from: None,
        });
        Ok(GateOutcome {
            gate: gate.name,
            baseline: self.target.baseline,
            required: gate.required,
            passed,
            interrupted: record.interrupted,
        })
    }
}
