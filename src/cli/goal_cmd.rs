//! `omk goal …`: start, inspect and steer goals. Each handler loads the goal, decides through
//! the state's transition table, appends at most one batch, and prints one line (or JSON).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use crate::cli::{print_stdout, Failure, Format, EXIT_FINDINGS, EXIT_OK};
use crate::event::{
    BudgetExtended, BudgetLimits, Decision, Event, GoalCancelled, GoalPaused, GoalResumed,
    IntegrationDecided, Phase, RunMode,
};
use crate::ops::intake::{start_goal, IntakeError, StartRequest};
use crate::ops::settings::{
    load_settings, parse_budget_time, parse_timeout, parse_usd, Overrides, Settings, SettingsError,
};
use crate::plan::documents::budget_line;
use crate::project::budget::{budget_text, budget_view, command_result};
use crate::project::glance::{glance, list_text, next_step, status_text, Glance, GoalList};
use crate::project::show::{show_document, show_view};
use crate::project::to_json;
use crate::shell::clock::Clock;
use crate::shell::git::repo_root;
use crate::shell::planner::PLANNER_TIMEOUT;
use crate::state::{Action, GoalState, GoalStatus, Refusal};
use crate::store::{GoalDir, Loaded, StateDir, StoreError};

/// The environment variable that moves the state directory away from `<repo>/.omk`.
pub const OMK_HOME_VAR: &str = "OMK_HOME";

#[derive(Args, Debug)]
pub struct GoalArgs {
    /// The repository the goals work on (default: the one the current directory is in)
    #[arg(long, global = true, value_name = "DIR")]
    repo: Option<PathBuf>,
    /// The configuration file (default: omk.toml at the repository root, if there is one)
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: GoalCommand,
}

#[derive(Subcommand, Debug)]
enum GoalCommand {
    /// Start a goal: intake, the oracle guard, planning, and (with --agent) the agent wave
    Run(StartArgs),
    /// Start a goal and plan it, without executing
    Plan(StartArgs),
    /// List every goal at a glance, oldest first
    List(FormatArgs),
    /// Show a goal at a glance: status, tasks, budget, next step
    Status(ViewArgs),
    /// Show a goal's full state
    Show(ShowArgs),
    /// Pause a live goal
    Pause(NoteArgs),
    /// Resume a paused or held goal
    Resume(NoteArgs),
    /// Cancel a goal; nothing more will be done in it
    Cancel(NoteArgs),
    /// Show time, tokens and spend used against the limits
    Budget(ViewArgs),
    /// Raise a goal's limits
    BudgetAdd(BudgetAddArgs),
    /// Accept the goal's result as the human integrator
    Accept(AcceptArgs),
    /// Reject the goal's result as the human integrator
    Reject(RejectArgs),
    /// Run the agent wave: one agent per ready slice, each in its own git worktree
    Execute(super::execute_cmd::ExecuteArgs),
    /// Remove the worktrees of a finished goal (branches and their commits are kept)
    Clean(super::execute_cmd::CleanArgs),
    /// Build the goal's claimed tree and run the gates on it
    Verify(super::verify_cmd::VerifyArgs),
    /// Review the claimed tree: secret scan, write-scope audit, gate results
    Review(super::verify_cmd::ReviewArgs),
    /// Print the proof: the verdict and every piece of evidence behind it
    Proof(super::verify_cmd::ProofArgs),
}

#[derive(Args, Debug)]
struct StartArgs {
    /// What the goal should achieve (may start with `-`, e.g. a bullet list)
    #[arg(allow_hyphen_values = true)]
    prompt: String,
    /// Active time the run may take, e.g. `2h`, `90m`, `1h30m`
    #[arg(long, value_parser = parse_budget_time, value_name = "DURATION")]
    budget_time: Option<Duration>,
    /// Agent tokens (input + output) the run may use
    #[arg(long, value_name = "N")]
    budget_tokens: Option<u64>,
    /// US dollars the run may spend, e.g. `5` or `2.50`
    #[arg(long, value_parser = parse_usd, value_name = "USD")]
    budget_usd: Option<u64>,
    /// With an agent, `run` goes on to execute the plan
    #[command(flatten)]
    agent: super::execute_cmd::AgentArgs,
    /// A command to ask for the decomposition (docs/planner-hook.md); the built-in one stands in when it fails
    #[arg(long, value_name = "COMMAND")]
    planner_cmd: Option<String>,
    /// How long the planner command may take, e.g. `5m`
    #[arg(long, value_parser = parse_timeout, value_name = "DURATION")]
    planner_timeout: Option<Duration>,
    /// Output format (JSON carries timestamps, never ages)
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Args, Debug)]
struct FormatArgs {
    /// Output format (JSON carries timestamps, never ages)
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Args, Debug)]
struct ViewArgs {
    /// A goal id, or `latest`
    #[arg(default_value = "latest")]
    goal: String,
    /// Output format (JSON carries timestamps, never ages)
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// How `show` prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
enum ShowFormat {
    #[default]
    Text,
    Json,
    Md,
}

#[derive(Args, Debug)]
struct ShowArgs {
    /// A goal id, or `latest`
    #[arg(default_value = "latest")]
    goal: String,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    format: ShowFormat,
}

#[derive(Args, Debug)]
struct NoteArgs {
    /// A goal id, or `latest`
    goal: String,
    /// Why, in a sentence (recorded in the log)
    #[arg(long, alias = "note")]
    reason: Option<String>,
    /// Output format (JSON carries timestamps, never ages)
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Args, Debug)]
struct BudgetAddArgs {
    /// A goal id, or `latest`
    goal: String,
    /// Active time to add, e.g. `1h`
    #[arg(long, value_parser = parse_budget_time, value_name = "DURATION")]
    time: Option<Duration>,
    /// Tokens to add
    #[arg(long, value_name = "N")]
    tokens: Option<u64>,
    /// US dollars to add
    #[arg(long, value_parser = parse_usd, value_name = "USD")]
    usd: Option<u64>,
    /// Why, in a sentence (recorded in the log)
    #[arg(long)]
    reason: Option<String>,
    /// Output format (JSON carries timestamps, never ages)
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Args, Debug)]
struct AcceptArgs {
    /// A goal id, or `latest`
    goal: String,
    /// What is being accepted, in a sentence
    #[arg(long)]
    summary: String,
    /// Output format (JSON carries timestamps, never ages)
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Args, Debug)]
struct RejectArgs {
    /// A goal id, or `latest`
    goal: String,
    /// Why the result is rejected
    #[arg(long)]
    reason: String,
    /// Output format (JSON carries timestamps, never ages)
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// What the goal commands share: where goals live, the clock, and the repository.
pub(super) struct Context {
    pub(super) repo_root: PathBuf,
    pub(super) state_dir: StateDir,
    pub(super) clock: Clock,
    config_path: Option<PathBuf>,
}

impl Context {
    pub(super) fn new(
        repo: Option<PathBuf>,
        config_path: Option<PathBuf>,
    ) -> Result<Context, Failure> {
        let start = match repo {
            Some(dir) => dir,
            None => std::env::current_dir()?,
        };
        if !start.is_dir() {
            return Err(Failure::hinted(
                anyhow::anyhow!("{} is not a directory", start.display()),
                "pass --repo the repository the goal works on",
            ));
        }
        let start = std::path::absolute(&start)?;
        let repo_root = repo_root(&start).unwrap_or(start);
        let state_root = match std::env::var_os(OMK_HOME_VAR) {
            Some(home) if !home.is_empty() => PathBuf::from(home),
            _ => repo_root.join(".omk"),
        };
        Ok(Context {
            repo_root,
            state_dir: StateDir::new(state_root),
            clock: Clock::from_env()?,
            config_path,
        })
    }

    /// Returns the settings: `omk.toml` (or `--config`) with the command's flags on top.
    pub(super) fn settings(&self, overrides: &Overrides) -> Result<Settings, Failure> {
        load_settings(&self.repo_root, self.config_path.as_deref(), overrides).map_err(|error| {
            let hint = match &error {
                SettingsError::Zero(_) => "pass 1 or more",
                SettingsError::Config(_) => "fix the file (docs/agents.md and docs/proof.md list its keys; durations look like 90s, 20m or 1h30m, up to 7d), or pass --config another file",
            };
            Failure::hinted(error, hint)
        })
    }

    pub(super) fn resolve(&self, selector: &str) -> Result<GoalDir, Failure> {
        self.state_dir.resolve(selector).map_err(store_failure)
    }
}

/// Runs a `goal` subcommand and returns its exit code.
pub fn run(args: GoalArgs) -> Result<u8, Failure> {
    let context = Context::new(args.repo, args.config)?;
    match args.command {
        GoalCommand::Run(start) => start_command(&context, start, RunMode::Run),
        GoalCommand::Plan(start) => start_command(&context, start, RunMode::Plan),
        GoalCommand::List(args) => list(&context, args.format),
        GoalCommand::Status(args) => status(&context, &args),
        GoalCommand::Show(args) => show(&context, &args),
        GoalCommand::Budget(args) => budget(&context, &args),
        GoalCommand::Pause(args) => {
            let event = Event::GoalPaused(GoalPaused {
                reason: args.reason.clone(),
            });
            steer(
                &context,
                &args.goal,
                args.format,
                Action::Pause,
                event,
                "paused",
            )
        }
        GoalCommand::Resume(args) => {
            let event = Event::GoalResumed(GoalResumed {
                note: args.reason.clone(),
            });
            steer(
                &context,
                &args.goal,
                args.format,
                Action::Resume,
                event,
                "resumed",
            )
        }
        GoalCommand::Cancel(args) => {
            let event = Event::GoalCancelled(GoalCancelled {
                reason: args.reason.clone(),
            });
            steer(
                &context,
                &args.goal,
                args.format,
                Action::Cancel,
                event,
                "cancelled",
            )
        }
        GoalCommand::BudgetAdd(args) => budget_add(&context, args),
        GoalCommand::Execute(args) => super::execute_cmd::execute_command(&context, &args),
        GoalCommand::Clean(args) => super::execute_cmd::clean_command(&context, &args),
        GoalCommand::Verify(args) => super::verify_cmd::verify_command(&context, &args),
        GoalCommand::Review(args) => super::verify_cmd::review_command(&context, &args),
        GoalCommand::Proof(args) => super::verify_cmd::proof_command(&context, &args),
        GoalCommand::Accept(args) => {
            let event = Event::IntegrationDecided(IntegrationDecided {
                decision: Decision::Accepted,
                note: args.summary.clone(),
            });
            steer(
                &context,
                &args.goal,
                args.format,
                Action::Accept,
                event,
                "accepted",
            )
        }
        GoalCommand::Reject(args) => {
            let event = Event::IntegrationDecided(IntegrationDecided {
                decision: Decision::Rejected,
                note: args.reason.clone(),
            });
            steer(
                &context,
                &args.goal,
                args.format,
                Action::Reject,
                event,
                "rejected",
            )
        }
    }
}

fn start_command(context: &Context, args: StartArgs, mode: RunMode) -> Result<u8, Failure> {
    let settings = context.settings(&args.agent.overrides())?;
    let agent = &settings.agent;
    let request = StartRequest {
        repo_root: context.repo_root.clone(),
        prompt: args.prompt,
        budget: BudgetLimits {
            time_secs: args.budget_time.map(|time| time.as_secs()),
            tokens: args.budget_tokens,
            usd_micros: args.budget_usd,
        },
        mode,
        agent: agent
            .name
            .clone()
            .or_else(|| agent.cmd.as_ref().map(|_| "command".to_owned())),
        agent_cmd: agent.cmd.clone(),
        planner: args.planner_cmd,
        planner_timeout: args.planner_timeout.unwrap_or(PLANNER_TIMEOUT),
    };
    let (goal, loaded) =
        start_goal(&context.state_dir, &request, &context.clock).map_err(|error| match error {
            IntakeError::EmptyPrompt => Failure::hinted(
                error,
                "pass the goal as one argument: omk goal run \"Add a --json flag to list\"",
            ),
            IntakeError::Store(error) => store_failure(*error),
            other => Failure::from(other),
        })?;
    let state = &loaded.state;
    let blocked = state.status == GoalStatus::BlockedOnHuman;
    let has_agent = agent.name.is_some() || agent.cmd.is_some();
    let executes = mode == RunMode::Run && has_agent && state.status == GoalStatus::Planning;
    match args.format {
        // The wave prints the one JSON document when it follows.
        Format::Json if executes => {}
        Format::Json => print_stdout(&to_json(&command_result(state, loaded.head(), "started")))?,
        Format::Text => {
            let total = state.tasks.tasks().len();
            let line = if blocked {
                format!(
                    "goal {} is blocked_on_human: {}\n",
                    state.goal_id,
                    next_step(state)
                )
            } else {
                format!(
                    "planned goal {} in {}: {total} tasks; next: {}\n",
                    state.goal_id,
                    goal.dir().display(),
                    next_step(state)
                )
            };
            print_stdout(&line)?;
        }
    }
    if blocked {
        return Ok(EXIT_FINDINGS);
    }
    if executes {
        return super::execute_cmd::run_wave(context, &goal, &settings, args.format);
    }
    Ok(EXIT_OK)
}

fn list(context: &Context, format: Format) -> Result<u8, Failure> {
    let ids = context.state_dir.goal_ids().map_err(store_failure)?;
    let mut loaded = Vec::new();
    for id in &ids {
        loaded.push(load(&context.state_dir.goal(id))?);
    }
    let rows: Vec<(Glance<'_>, &GoalState)> = loaded
        .iter()
        .map(|loaded| (glance(&loaded.state, loaded.head()), &loaded.state))
        .collect();
    match format {
        Format::Json => {
            let goals = rows.iter().map(|(glance, _)| glance.clone()).collect();
            print_stdout(&to_json(&GoalList { goals }))?;
        }
        Format::Text if rows.is_empty() => print_stdout(&format!(
            "no goals yet in {}: start one with `omk goal run \"…\"`\n",
            context.state_dir.goals_dir().display()
        ))?,
        Format::Text => print_stdout(&list_text(&rows, context.clock.now()))?,
    }
    Ok(EXIT_OK)
}

fn status(context: &Context, args: &ViewArgs) -> Result<u8, Failure> {
    let loaded = load(&context.resolve(&args.goal)?)?;
    let glance = glance(&loaded.state, loaded.head());
    match args.format {
        Format::Json => print_stdout(&to_json(&glance))?,
        Format::Text => print_stdout(&status_text(&glance, &loaded.state, context.clock.now()))?,
    }
    Ok(EXIT_OK)
}

fn show(context: &Context, args: &ShowArgs) -> Result<u8, Failure> {
    let loaded = load(&context.resolve(&args.goal)?)?;
    let text = match args.format {
        ShowFormat::Json => to_json(&show_view(&loaded.state, loaded.head())),
        ShowFormat::Text => show_document(&loaded.state, loaded.head(), false),
        ShowFormat::Md => show_document(&loaded.state, loaded.head(), true),
    };
    print_stdout(&text)?;
    Ok(EXIT_OK)
}

fn budget(context: &Context, args: &ViewArgs) -> Result<u8, Failure> {
    let loaded = load(&context.resolve(&args.goal)?)?;
    let state = &loaded.state;
    let view = budget_view(state, loaded.head());
    match args.format {
        Format::Json => print_stdout(&to_json(&view))?,
        Format::Text => print_stdout(&budget_text(&view))?,
    }
    Ok(EXIT_OK)
}

fn budget_add(context: &Context, args: BudgetAddArgs) -> Result<u8, Failure> {
    let added = BudgetLimits {
        time_secs: args.time.map(|time| time.as_secs()),
        tokens: args.tokens,
        usd_micros: args.usd,
    };
    if added == BudgetLimits::default() {
        return Err(Failure::hinted(
            anyhow::anyhow!("budget-add needs something to add"),
            "pass --time, --tokens or --usd, e.g. omk goal budget-add latest --time 1h",
        ));
    }
    let event = Event::BudgetExtended(BudgetExtended {
        added,
        reason: args.reason.clone(),
    });
    steer(
        context,
        &args.goal,
        args.format,
        Action::ExtendBudget,
        event,
        "extended the budget of",
    )
}

/// Appends one operator event to a goal, after the transition table allows it.
fn steer(
    context: &Context,
    selector: &str,
    format: Format,
    action: Action,
    event: Event,
    verb: &str,
) -> Result<u8, Failure> {
    let goal = context.resolve(selector)?;
    let before = std::cell::Cell::new(None);
    let result = goal.transact(context.clock.now(), |state| {
        before.set(Some((state.status, state.phase)));
        state.check(action)?;
        Ok(vec![event.clone()])
    });
    let (loaded, _) = match result {
        Ok(done) => done,
        Err(StoreError::Refused(refusal)) => return refused(refusal),
        Err(error) => return Err(store_failure(error)),
    };
    let state = &loaded.state;
    match format {
        Format::Json => print_stdout(&to_json(&command_result(state, loaded.head(), verb)))?,
        Format::Text => {
            let was = before
                .get()
                .map(|(status, phase)| was_words(status, phase))
                .unwrap_or_default();
            let limits = if action == Action::ExtendBudget {
                format!(" to {}", budget_line(&state.budget.limits))
            } else {
                String::new()
            };
            print_stdout(&format!(
                "{verb} goal {}{limits}: now {}{was}; next: {}\n",
                state.goal_id,
                state.status,
                next_step(state)
            ))?;
        }
    }
    Ok(EXIT_OK)
}

fn was_words(status: GoalStatus, phase: Phase) -> String {
    if status.is_live() {
        format!(" (was {status})")
    } else {
        format!(" (was {status} in {})", phase.name())
    }
}

fn refused(refusal: Refusal) -> Result<u8, Failure> {
    Err(Failure::with_code(
        anyhow::anyhow!("refused: {refusal}"),
        None,
        EXIT_FINDINGS,
    ))
}

fn load(goal: &GoalDir) -> Result<Loaded, Failure> {
    goal.load().map_err(store_failure)
}

/// Returns the failure for a store error, with the hint that fits it.
pub(super) fn store_failure(error: StoreError) -> Failure {
    let hint = match &error {
        StoreError::NoGoals { .. } => Some("start one with `omk goal run \"<prompt>\"`".to_owned()),
        StoreError::UnknownGoal { .. } => Some("list the goals with `omk goal list`, or pass `latest`".to_owned()),
        StoreError::TornTail { path, .. } => Some(format!(
            "an append was interrupted; run `omk log repair {}` to set the torn bytes aside",
            parent_of(path)
        )),
        StoreError::Contended { .. } => Some("run the command again".to_owned()),
        error if error.is_log_damage() => Some(format!(
            "the goal's log is damaged; run `omk log verify {}` for the full report, nothing was appended",
            damaged_dir(error)
        )),
        _ => None,
    };
    Failure::with_code(error, hint, crate::cli::EXIT_ERROR)
}

fn damaged_dir(error: &StoreError) -> String {
    let message = error.to_string();
    message
        .split_whitespace()
        .find(|word| word.ends_with("events.jsonl") || word.ends_with("events.jsonl:"))
        .map(|word| parent_of(word.trim_end_matches(':')))
        .unwrap_or_else(|| "<goal dir>".to_owned())
}

fn parent_of(path: &str) -> String {
    Path::new(path)
        .parent()
        .map_or_else(|| path.to_owned(), |dir| dir.display().to_string())
}
