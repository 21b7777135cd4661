//! The agent wave on the terminal: run it for `execute` and `run`, show its progress, and
//! print its outcome.
//!
//! Shared by the command files; must not decide anything the wave itself decides.

use std::io::IsTerminal;
use std::time::Duration;

use crate::cli::context::{refused, store_failure, Context};
use crate::cli::terminal::stderr_width;
use crate::cli::{print_stderr, print_stdout, Failure, Format, EXIT_FINDINGS, EXIT_OK};
use crate::event::{TaskKind, TaskStatus};
use crate::ops::settings::{AgentSettings, Settings};
use crate::ops::wave::{execute, Progress, WaveError, WaveOptions};
use crate::project::budget::command_result;
use crate::project::glance::next_step;
use crate::project::to_json;
use crate::shell::agent::{backend, AgentError, Backend};
use crate::shell::interrupt::{self, EXIT_INTERRUPTED};
use crate::state::{GoalState, GoalStatus};
use crate::store::{GoalDir, Loaded, StoreError};

/// Runs the wave on `goal` and prints its outcome; shared by `execute` and `run`.
pub(super) fn run_wave(
    context: &Context,
    goal: &GoalDir,
    settings: &Settings,
    format: Format,
) -> Result<u8, Failure> {
    let loaded = goal.load().map_err(store_failure)?;
    let options = wave_options(&loaded.state, settings)?;
    let mut view = ProgressView::new(std::io::stderr().is_terminal());
    let mut report = |event: Progress| view.show(&event);
    let loaded = execute(
        goal,
        &context.repo_root,
        &context.clock,
        &options,
        &mut report,
    )
    .map_err(wave_failure);
    view.clear();
    let outcome = loaded?;
    if outcome.interrupted {
        let state = &outcome.loaded.state;
        print_stderr(&format!(
            "omk: goal {} interrupted: {}; nothing is left running. Resume with: omk goal execute {}",
            state.goal_id,
            match outcome.stopped.as_slice() {
                [] => "no agent was running".to_owned(),
                stopped => format!("stopped the agents of {} (pending again)", stopped.join(", ")),
            },
            state.goal_id
        ));
        return Ok(EXIT_INTERRUPTED);
    }
    print_outcome(&outcome.loaded, format)
}

/// Returns how the wave runs on this goal: its agent (from the flags, else the goal's own),
/// limits and scope, stopped by Ctrl-C.
pub(super) fn wave_options(state: &GoalState, settings: &Settings) -> Result<WaveOptions, Failure> {
    let agent = &settings.agent;
    Ok(WaveOptions {
        backend: choose_backend(state, agent)?,
        max_agents: agent.max_agents,
        agent_timeout: agent.timeout,
        lease_ttl: Duration::from_secs(30),
        poll: Duration::from_millis(200),
        interrupt: interrupt::listen(),
        scope: settings.scope.clone(),
    })
}

fn choose_backend(state: &GoalState, agent: &AgentSettings) -> Result<Backend, Failure> {
    let name = agent
        .name
        .clone()
        .or_else(|| state.options.agent.clone())
        .or_else(|| {
            // `--agent-cmd` alone means the command agent.
            agent.cmd.as_ref().map(|_| "command".to_owned())
        });
    let command = agent
        .cmd
        .clone()
        .or_else(|| state.options.agent_cmd.clone());
    let Some(name) = name else {
        return Err(Failure::hinted(
            AgentError::NoneConfigured,
            "e.g. add --agent claude to the command (or --agent-cmd '<command>')",
        ));
    };
    backend(&name, command.as_deref()).map_err(|error| {
        Failure::hinted(error, "see docs/agents.md for each agent's exact command")
    })
}

/// Prints the wave's progress: a line per event, and on a terminal a live block of one line
/// per running agent, redrawn in place about once a second.
/// How often running agents are redrawn on a terminal.
const REDRAW: Duration = Duration::from_secs(1);
/// Returns how often a heartbeat line is printed when stderr is not a terminal: every 30 s,
/// or every `$OMK_HEARTBEAT_SECS` (a CI log that wants more or fewer).
pub(super) fn heartbeat() -> Duration {
    let seconds = std::env::var("OMK_HEARTBEAT_SECS")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .filter(|seconds| *seconds > 0)
        .unwrap_or(30);
    Duration::from_secs(seconds)
}

/// Returns `: <line>` cut to a readable length, or nothing for no line.
pub(super) fn cut(line: &str) -> String {
    let line = line.trim();
    if line.is_empty() {
        return String::new();
    }
    let mut shown: String = line.chars().take(100).collect();
    if shown.len() < line.len() {
        shown.push('…');
    }
    format!(": {shown}")
}

pub(super) struct ProgressView {
    terminal: bool,
    heartbeat: Duration,
    drawn_lines: usize,
    last_draw: Option<std::time::Instant>,
}

impl ProgressView {
    pub(super) fn new(terminal: bool) -> ProgressView {
        ProgressView {
            terminal,
            heartbeat: heartbeat(),
            drawn_lines: 0,
            last_draw: None,
        }
    }

    pub(super) fn show(&mut self, event: &Progress) {
        let line = match event {
            Progress::Running { agents } => {
                // Redrawn every second on a terminal; elsewhere (a CI log) a heartbeat line
                // per agent every half minute, so that a long run shows it is alive.
                let every = if self.terminal {
                    REDRAW
                } else {
                    self.heartbeat
                };
                let due = match self.last_draw {
                    Some(at) => at.elapsed() >= every,
                    None => self.terminal,
                };
                if self.last_draw.is_none() {
                    self.last_draw = Some(std::time::Instant::now());
                }
                if due {
                    self.clear();
                    for (task_id, elapsed, last_line) in agents {
                        let said = cut(last_line);
                        let line = if self.terminal {
                            // Each line must fit on one row: a wrapped one would be left
                            // behind when the block is redrawn.
                            let line =
                                format!("  {task_id:<24} running {}s{said}", elapsed.as_secs());
                            let width = stderr_width().unwrap_or(80).saturating_sub(1).max(8);
                            line.chars().take(width).collect()
                        } else {
                            format!("omk: {task_id}: agent running {}s{said}", elapsed.as_secs())
                        };
                        print_stderr(&line);
                    }
                    if self.terminal {
                        self.drawn_lines = agents.len();
                    }
                    self.last_draw = Some(std::time::Instant::now());
                }
                return;
            }
            Progress::Recovered { task_id, detail } => {
                format!("omk: {task_id}: recovered from a crashed wave ({detail})")
            }
            Progress::Started {
                task_id,
                pid,
                worktree,
            } => format!(
                "omk: {task_id}: agent started (pid {pid}) in {}",
                worktree.display()
            ),
            Progress::Finished { task_id, outcome } => format!("omk: {task_id}: {outcome}"),
            Progress::Stopping { why } => {
                format!("omk: stopping the wave: {why}; agents are being stopped")
            }
        };
        self.clear();
        print_stderr(&line);
    }

    /// Erases the live block, so event lines scroll above it.
    pub(super) fn clear(&mut self) {
        if self.terminal && self.drawn_lines > 0 {
            // Up one line and erase it, once per line drawn.
            eprint!("{}", "\x1b[1A\x1b[2K".repeat(self.drawn_lines));
            self.drawn_lines = 0;
            self.last_draw = None;
        }
    }
}

fn print_outcome(loaded: &Loaded, format: Format) -> Result<u8, Failure> {
    let state = &loaded.state;
    let slices: Vec<_> = state
        .tasks
        .tasks()
        .iter()
        .filter(|task| task.spec.kind == TaskKind::Implementation)
        .collect();
    let done = slices
        .iter()
        .filter(|task| task.status == TaskStatus::Done)
        .count();
    let runs: usize = slices.iter().map(|task| task.runs.len()).sum();
    match format {
        Format::Json => print_stdout(&to_json(&command_result(state, loaded.head(), "executed")))?,
        Format::Text => print_stdout(&format!(
            "executed goal {}: {done} of {} slices done ({runs} agent runs); now {}; next: {}\n",
            state.goal_id,
            slices.len(),
            state.status,
            next_step(state)
        ))?,
    }
    let complete = done == slices.len() && state.status == GoalStatus::Executing;
    Ok(if complete { EXIT_OK } else { EXIT_FINDINGS })
}

/// Returns the failure a wave error prints.
pub(super) fn wave_failure(error: WaveError) -> Failure {
    match error {
        WaveError::Store(error) => match *error {
            StoreError::Refused(refusal) => refused(refusal),
            other => store_failure(other),
        },
        other => Failure::from(other),
    }
}
