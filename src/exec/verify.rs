//! `omk goal verify`: build the goal's claimed tree and run the gates on it.
//!
//! The claimed tree is the tip of `omk/<goal-id>/result`: the base commit with every done
//! slice's branch merged in dependency order, in a worktree of its own. A merge conflict is
//! recorded as a blocker naming the files and the task. The gates run on that tree (and, the
//! first time, once on the base commit as the baseline), in parallel up to a limit; each run is
//! recorded with the exact commit and tree it ran on, whether the checkout was dirty, its exit
//! status, duration, whether it timed out, and its output as an artifact.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::event::{
    Event, GateFinished, GateStarted, GateTarget, Phase, PhaseEntered, ResultBuilt,
    ResultConflicted, TaskKind, TaskStatus,
};
use crate::exec::clock::Clock;
use crate::exec::git::{git_text, run_git, GitError};
use crate::exec::process::{run, Run, Tail};
use crate::exec::worktree::{branch_name, checkout_fresh};
use crate::plan::gates::GateSpec;
use crate::state::{Action, GoalState, GoalStatus, Refusal};
use crate::store::{GoalDir, Loaded, StoreError};

/// What to verify.
#[derive(Clone, Debug)]
pub struct VerifyRequest {
    pub gates: Vec<GateSpec>,
    pub max_parallel: usize,
    /// Returns the task whose worktree to verify instead of the goal's claimed tree.
    pub task: Option<String>,
}

/// Something verification reports as it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyProgress {
    Built {
        commit: String,
        merged: Vec<String>,
    },
    GateStarted {
        gate: String,
        baseline: bool,
    },
    /// A gate was not run: the goal changed nothing its `when_changed` names.
    GateSkipped {
        gate: String,
        when_changed: Vec<String>,
    },
    /// A gate is still running: how long, and the last line it printed.
    GateRunning {
        gate: String,
        seconds: u64,
        last_line: String,
    },
    GateFinished {
        gate: String,
        baseline: bool,
        passed: bool,
        seconds: u64,
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
    Conflict { task: String, files: Vec<String> },
    #[error("task `{task}` has no worktree to verify: it has not run")]
    NoWorktree { task: String },
}

impl From<StoreError> for VerifyError {
    fn from(error: StoreError) -> VerifyError {
        VerifyError::Store(Box::new(error))
    }
}

/// Verifies the goal: builds its claimed tree (or takes the task's worktree) and runs the gates.
pub fn verify_goal(
    goal: &GoalDir,
    repo_root: &Path,
    clock: &Clock,
    request: &VerifyRequest,
    progress: &mut (dyn FnMut(VerifyProgress) + Send),
) -> Result<Loaded, VerifyError> {
    let loaded = goal.load()?;
    let state = &loaded.state;
    if let Some(task_id) = &request.task {
        let run = state.tasks.get(task_id).and_then(|task| task.runs.last());
        let Some(run) = run.filter(|run| Path::new(&run.started.worktree).exists()) else {
            return Err(VerifyError::NoWorktree {
                task: task_id.clone(),
            });
        };
        let path = PathBuf::from(&run.started.worktree);
        run_gates(goal, clock, request, &path, Some(task_id), false, progress)?;
        return Ok(goal.load()?);
    }
    check_verifiable(state)
        .map_err(|refusal| VerifyError::Store(Box::new(StoreError::Refused(refusal))))?;
    let result_path = goal.dir().join("worktrees").join("_result");
    let built = build_result(goal, repo_root, clock, state, &result_path)?;
    progress(VerifyProgress::Built {
        commit: built.commit.clone(),
        merged: built.merged.clone(),
    });
    goal.transact(clock.now(), |state| {
        let mut events = vec![Event::ResultBuilt(built.clone())];
        if state.status == GoalStatus::Executing {
            events.push(Event::PhaseEntered(PhaseEntered {
                phase: Phase::Verifying,
            }));
        }
        Ok(events)
    })?;
    let base = state.base_commit.clone().unwrap_or_default();
    // Only the gates this goal needs, by what it changed.
    let changed: Vec<String> = git_text(repo_root, &["diff", "--name-only", &base, &built.commit])?
        .lines()
        .map(str::to_owned)
        .collect();
    let (needed, skipped): (Vec<GateSpec>, Vec<GateSpec>) = request
        .gates
        .iter()
        .cloned()
        .partition(|gate| gate.needed_for(&changed));
    for gate in skipped {
        progress(VerifyProgress::GateSkipped {
            gate: gate.name,
            when_changed: gate.when_changed,
        });
    }
    let request = &VerifyRequest {
        gates: needed,
        ..request.clone()
    };
    let has_baseline = state
        .gate_runs
        .iter()
        .any(|record| record.run.target.baseline && record.run.target.commit == base);
    if !has_baseline && !base.is_empty() {
        let base_path = goal.dir().join("worktrees").join("_base");
        checkout_fresh(repo_root, &base_path, None, &base)?;
        run_gates(goal, clock, request, &base_path, None, true, progress)?;
    }
    run_gates(goal, clock, request, &result_path, None, false, progress)?;
    Ok(goal.load()?)
}

/// A goal is verified once its slices are done: while executing (which moves it to
/// verifying) or in a later phase (verifying again).
fn check_verifiable(state: &GoalState) -> Result<(), Refusal> {
    if !matches!(
        state.status,
        GoalStatus::Executing
            | GoalStatus::Verifying
            | GoalStatus::Reviewing
            | GoalStatus::Integrating
    ) {
        return Err(state.refuse(Action::EnterPhase(Phase::Verifying)));
    }
    let undone: Vec<&str> = state
        .tasks
        .tasks()
        .iter()
        .filter(|task| {
            task.spec.kind == TaskKind::Implementation && task.status != TaskStatus::Done
        })
        .map(|task| task.spec.id.as_str())
        .collect();
    if undone.is_empty() {
        Ok(())
    } else {
        Err(Refusal::SlicesNotDone {
            goal_id: state.goal_id.clone(),
            slices: undone.join(", "),
        })
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
            let files =
                git_text(path, &["diff", "--name-only", "--diff-filter=U"]).unwrap_or_default();
            let _ = run_git(path, &["merge", "--abort"]);
            let files: Vec<String> = files.lines().map(str::to_owned).collect();
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
    })
}

/// Runs every gate on the checkout at `path`, up to `max_parallel` at once, recording each.
fn run_gates(
    goal: &GoalDir,
    clock: &Clock,
    request: &VerifyRequest,
    path: &Path,
    task_id: Option<&String>,
    baseline: bool,
    progress: &mut (dyn FnMut(VerifyProgress) + Send),
) -> Result<(), VerifyError> {
    let target = GateTarget {
        commit: git_text(path, &["rev-parse", "HEAD"])?,
        tree: git_text(path, &["rev-parse", "HEAD^{tree}"])?,
        dirty: !git_text(path, &["status", "--porcelain"])?.is_empty(),
        baseline,
        task_id: task_id.cloned(),
    };
    let queue = Mutex::new(request.gates.iter());
    let progress = Mutex::new(progress);
    let failure: Mutex<Option<VerifyError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..request.max_parallel.max(1) {
            scope.spawn(|| loop {
                let Some(gate) = queue.lock().ok().and_then(|mut queue| queue.next()) else {
                    return;
                };
                if let Err(error) = run_gate(goal, clock, gate, path, &target, &progress) {
                    if let Ok(mut slot) = failure.lock() {
                        slot.get_or_insert(error);
                    }
                    return;
                }
            });
        }
    });
    match failure.into_inner().ok().flatten() {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

fn run_gate(
    goal: &GoalDir,
    clock: &Clock,
    gate: &GateSpec,
    path: &Path,
    target: &GateTarget,
    progress: &Mutex<&mut (dyn FnMut(VerifyProgress) + Send)>,
) -> Result<(), VerifyError> {
    let report = |event| {
        if let Ok(mut progress) = progress.lock() {
            (*progress)(event);
        }
    };
    goal.transact(clock.now(), |_| {
        Ok(vec![Event::GateStarted(GateStarted {
            gate: gate.name.clone(),
            command: gate.command.clone(),
            target: target.clone(),
        })])
    })?;
    report(VerifyProgress::GateStarted {
        gate: gate.name.clone(),
        baseline: target.baseline,
    });
    let started = Instant::now();
    // Both streams into one output, in the order they were written.
    let script = format!("exec 2>&1\n{}", gate.command);
    let tail = Tail::default();
    let running = AtomicBool::new(true);
    let finished = std::thread::scope(|scope| {
        // While the gate runs, report its elapsed time and last line once a second.
        scope.spawn(|| {
            let mut ticks = 0u32;
            while running.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(250));
                ticks += 1;
                if ticks.is_multiple_of(4) && running.load(Ordering::Relaxed) {
                    report(VerifyProgress::GateRunning {
                        gate: gate.name.clone(),
                        seconds: started.elapsed().as_secs(),
                        last_line: tail.last_line(),
                    });
                }
            }
        });
        let finished = run(&Run {
            program: "sh",
            args: &["-c", &script],
            dir: &path.join(&gate.dir),
            env: &[],
            stdin: None,
            timeout: Duration::from_secs(gate.timeout_secs),
            tail: Some(&tail),
        });
        running.store(false, Ordering::Relaxed);
        finished
    });
    let duration = started.elapsed();
    let (exit_code, timed_out, output) = match finished {
        Ok(finished) => (finished.code, false, finished.stdout),
        Err(crate::exec::process::ProcessError::TimedOut { .. }) => {
            (None, true, b"the gate timed out and was killed\n".to_vec())
        }
        Err(error) => (
            None,
            false,
            format!("the gate could not run: {error}\n").into_bytes(),
        ),
    };
    let label = if target.baseline { "baseline" } else { "head" };
    let artifact = goal
        .artifacts()
        .put(
            &format!("gates/{}/{label}/output.txt", gate.name),
            "text/plain",
            &output,
        )
        .map_err(|error| VerifyError::Artifact(error.to_string()))?;
    let record = GateFinished {
        gate: gate.name.clone(),
        command: gate.command.clone(),
        required: gate.required,
        red_first: gate.red_first,
        target: target.clone(),
        exit_code,
        timed_out,
        duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        output: artifact.hash,
    };
    let passed = record.passed();
    goal.transact(clock.now(), |_| {
        Ok(vec![
            Event::ArtifactRecorded(artifact.clone()),
            Event::GateFinished(record.clone()),
        ])
    })?;
    report(VerifyProgress::GateFinished {
        gate: gate.name.clone(),
        baseline: target.baseline,
        passed,
        seconds: duration.as_secs(),
    });
    Ok(())
}

/// Returns the gates for the repository at `root`: those `omk.toml` names, else the default
/// profile for what the root holds. A gate timeout that is not a duration is an error.
pub fn resolve_gates(
    root: &Path,
    config: &crate::exec::config::Config,
    parse_duration: impl Fn(&str) -> Result<u64, String>,
) -> Result<Vec<GateSpec>, String> {
    use crate::plan::gates::{default_gates, RepoFacts, DEFAULT_GATE_TIMEOUT_SECS};
    if config.gates.is_empty() {
        let mut root_files: Vec<String> = std::fs::read_dir(root)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|entry| entry.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        root_files.sort();
        let npm_scripts = std::fs::read_to_string(root.join("package.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|package| {
                package
                    .get("scripts")
                    .and_then(|scripts| scripts.as_object())
                    .map(|scripts| scripts.keys().cloned().collect())
            })
            .unwrap_or_default();
        return Ok(default_gates(&RepoFacts {
            root_files,
            npm_scripts,
        }));
    }
    config
        .gates
        .iter()
        .map(|(name, gate)| {
            let timeout_secs = match &gate.timeout {
                Some(text) => parse_duration(text)
                    .map_err(|error| format!("[gates.{name}] timeout: {error}"))?,
                None => DEFAULT_GATE_TIMEOUT_SECS,
            };
            Ok(GateSpec {
                name: name.clone(),
                command: gate.command.clone(),
                required: gate.required,
                timeout_secs,
                dir: gate.dir.clone().unwrap_or_else(|| ".".to_owned()),
                red_first: gate.red_first,
                when_changed: gate.when_changed.clone(),
                why: "omk.toml".to_owned(),
            })
        })
        .collect()
}
