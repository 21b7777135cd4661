//! `omk goal …`: start, inspect and steer goals. Each handler calls one operation (intake or
//! steering) or folds the goal for a view, and prints one line (or JSON).

use std::time::Duration;

use clap::builder::TypedValueParser as _;
use clap::{Args, ValueEnum};

use crate::cli::context::{load, refused, store_failure, AgentArgs, Context};
use crate::cli::loop_view::run_loop;
use crate::cli::terminal::{paint_rows, stdout_width};
use crate::cli::wave_view::run_wave;
use crate::cli::{print_stdout, print_stdout_painted, Failure, Format, EXIT_FINDINGS, EXIT_OK};
use crate::event::{BudgetLimits, Phase, RunMode};
use crate::ops::fix_loop::DEFAULT_MAX_ROUNDS;
use crate::ops::intake::{start_goal, IntakeError, StartRequest};
use crate::ops::plan_edit::{edit_plan, editable_plan, EditPlanError};
use crate::ops::settings::{parse_budget_time, parse_timeout, parse_usd, Overrides, PlannerChoice};
use crate::ops::steer::{steer, Steering};
use crate::plan::documents::budget_line;
use crate::project::budget::{budget_text, budget_view, command_result};
use crate::project::glance::{
    glance, is_settled, list_text, next_step, status_text, GoalList, ListRow,
};
use crate::project::show::{show_document, show_view};
use crate::project::to_json;
use crate::shell::agent::backend;
use crate::shell::interrupt::{self, Interrupt};
use crate::shell::planner::PLANNER_TIMEOUT;
use crate::shell::process::run_in_terminal;
use crate::state::{Action, GoalStatus};
use crate::store::{short_ids, StoreError};

#[derive(Args, Debug)]
pub(super) struct StartArgs {
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
    agent: AgentArgs,
    /// Go on unattended after the wave: verify, review and fix rounds until only your decision is left
    #[arg(long)]
    until_ready: bool,
    /// With --until-ready, the most fix rounds before it stops for you
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_ROUNDS, requires = "until_ready")]
    max_rounds: u32,
    /// A command to ask for the decomposition (docs/planner-hook.md); the built-in one stands in when it fails
    #[arg(long, value_name = "COMMAND")]
    planner_cmd: Option<String>,
    /// Who plans: the built-in decomposition, or the goal's agent (default: [plan] in omk.toml, else builtin)
    #[arg(long, value_enum, value_name = "PLANNER")]
    planner: Option<PlannerChoice>,
    /// How long the planner command may take, e.g. `5m`
    #[arg(long, value_parser = parse_timeout, value_name = "DURATION")]
    planner_timeout: Option<Duration>,
    /// Output format (JSON carries timestamps, never ages)
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Args, Debug)]
pub(super) struct FormatArgs {
    /// Output format (JSON carries timestamps, never ages)
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Args, Debug)]
pub(super) struct ListArgs {
    /// Also the settled goals (cancelled, or landed), which the text leaves out by default
    #[arg(long)]
    all: bool,
    /// Only goals in these statuses (e.g. ready, not_ready, blocked_on_human; comma-separated)
    #[arg(long, value_name = "STATUS", value_delimiter = ',', ignore_case = true, value_parser = status_parser())]
    status: Option<Vec<GoalStatus>>,
    /// Output format (JSON carries timestamps, never ages)
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Returns the parser of `--status` values: a status's name in any case, `not-ready` as well
/// as `not_ready`; its possible values are what shell completions offer.
fn status_parser() -> impl clap::builder::TypedValueParser<Value = GoalStatus> {
    let values = GoalStatus::ALL.map(|status| {
        let value = clap::builder::PossibleValue::new(status.name());
        match ALIASES.iter().find(|(name, _)| *name == status.name()) {
            Some((_, dashed)) => value.alias(*dashed),
            None => value,
        }
    });
    // The parser hands on the text as typed (its case, an alias): named here in one form.
    clap::builder::PossibleValuesParser::new(values).try_map(|typed| {
        let typed_lower = typed.to_ascii_lowercase();
        let name = ALIASES
            .iter()
            .find(|(_, alias)| *alias == typed_lower)
            .map_or(typed_lower.as_str(), |(name, _)| *name);
        GoalStatus::ALL
            .into_iter()
            .find(|status| status.name() == name)
            .ok_or_else(|| format!("no status `{typed}`"))
    })
}

/// Other ways a status may be typed: with dashes, or as `goal list` shows it (`planned`).
const ALIASES: [(&str, &str); 6] = [
    ("planning", "planned"),
    ("not_ready", "not-ready"),
    ("blocked_on_human", "blocked-on-human"),
    ("blocked_on_external", "blocked-on-external"),
    ("needs_more_budget", "needs-more-budget"),
    ("failed_infra", "failed-infra"),
];

#[derive(Args, Debug)]
pub(super) struct ViewArgs {
    /// A goal id, or `latest`
    #[arg(default_value = "latest")]
    goal: String,
    /// Output format (JSON carries timestamps, never ages)
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// How `show` prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(super) enum ShowFormat {
    #[default]
    Text,
    Json,
    Md,
}

#[derive(Args, Debug)]
pub(super) struct ShowArgs {
    /// A goal id, or `latest`
    #[arg(default_value = "latest")]
    goal: String,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    format: ShowFormat,
}

#[derive(Args, Debug)]
pub(super) struct NoteArgs {
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
pub(super) struct BudgetAddArgs {
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
pub(super) struct AcceptArgs {
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
pub(super) struct RejectArgs {
    /// A goal id, or `latest`
    goal: String,
    /// Why the result is rejected
    #[arg(long)]
    reason: String,
    /// Output format (JSON carries timestamps, never ages)
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

pub(super) fn start_command(
    context: &Context,
    args: StartArgs,
    mode: RunMode,
) -> Result<u8, Failure> {
    let settings = context.settings(&Overrides {
        planner: args.planner,
        ..args.agent.overrides()
    })?;
    let agent = &settings.agent;
    let planner_agent = match settings.planner {
        PlannerChoice::Builtin => None,
        PlannerChoice::Agent => {
            let name = agent
                .name
                .clone()
                .or_else(|| agent.cmd.as_ref().map(|_| "command".to_owned()));
            let Some(name) = name else {
                return Err(Failure::hinted(
                    anyhow::anyhow!("planning through the agent needs an agent, and none is set"),
                    "pass --agent NAME or --agent-cmd '<command>' (or set [agent] in omk.toml), or --planner builtin",
                ));
            };
            Some(backend(&name, agent.cmd.as_deref()).map_err(|error| {
                Failure::hinted(error, "see docs/agents.md for each agent's exact command")
            })?)
        }
    };
    let has_agent = agent.name.is_some() || agent.cmd.is_some();
    if args.until_ready && mode == RunMode::Plan {
        return Err(Failure::hinted(
            anyhow::anyhow!("`omk goal plan` only plans; --until-ready belongs to `omk goal run`"),
            "omk goal run \"…\" --agent NAME --until-ready",
        ));
    }
    if args.until_ready && !has_agent {
        return Err(Failure::hinted(
            anyhow::anyhow!("--until-ready drives the agents, and no agent is set"),
            "pass --agent NAME or --agent-cmd '<command>' (or set [agent] in omk.toml)",
        ));
    }
    // A run that goes on to execute handles Ctrl-C from the start, planner included.
    let interrupt = if mode == RunMode::Run && has_agent {
        interrupt::listen()
    } else {
        Interrupt::never()
    };
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
        interrupt,
        planner_agent,
    };
    let (goal, loaded) =
        start_goal(&context.state_dir, &request, &context.clock).map_err(|error| match error {
            IntakeError::EmptyPrompt => Failure::hinted(
                error,
                "pass the goal as one argument: omk goal run \"Add a --json flag to list\"",
            ),
            IntakeError::NotARepository { .. } => Failure::hinted(
                error,
                "run it inside the repository the goal works on, or pass --repo DIR (`git init` and a first commit make one)",
            ),
            IntakeError::NoCommit { .. } => Failure::hinted(
                error,
                "commit what is there first: git add -A && git commit -m \"Initial commit\"",
            ),
            IntakeError::Store(error) => store_failure(*error),
            other => Failure::from(other),
        })?;
    let state = &loaded.state;
    let blocked = state.status == GoalStatus::BlockedOnHuman;
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
                let next = match (executes, args.until_ready) {
                    (true, true) => format!(
                        "running it until only your decision is left (at most {} fix rounds)",
                        args.max_rounds
                    ),
                    (true, false) => "executing it now".to_owned(),
                    (false, _) => format!("next: {}", next_step(state)),
                };
                format!(
                    "planned goal {} in {}: {total} tasks; {next}\n",
                    state.goal_id,
                    goal.dir().display(),
                )
            };
            print_stdout(&line)?;
        }
    }
    if blocked {
        return Ok(EXIT_FINDINGS);
    }
    if executes && args.until_ready {
        return run_loop(context, &goal, &settings, args.max_rounds, args.format);
    }
    if executes {
        return run_wave(context, &goal, &settings, args.format);
    }
    Ok(EXIT_OK)
}

pub(super) fn list(context: &Context, args: &ListArgs) -> Result<u8, Failure> {
    let ids = context.state_dir.goal_ids().map_err(store_failure)?;
    let short_ids = short_ids(&ids);
    let mut loaded = Vec::new();
    for (id, short_id) in ids.iter().zip(&short_ids) {
        let goal = load(&context.state_dir.goal(id))?;
        let shown = match &args.status {
            Some(wanted) => wanted.contains(&goal.state.status),
            // Scripts get every goal, as they always have; people get what needs them.
            None => args.all || args.format == Format::Json || !is_settled(&goal.state),
        };
        if shown {
            loaded.push((short_id, goal));
        }
    }
    let rows: Vec<ListRow<'_>> = loaded
        .iter()
        .map(|(short_id, loaded)| ListRow {
            short_id,
            glance: glance(&loaded.state, loaded.head()),
            state: &loaded.state,
        })
        .collect();
    let hidden = ids.len() - rows.len();
    match args.format {
        Format::Json => {
            let goals = rows.into_iter().map(|row| row.glance).collect();
            print_stdout(&to_json(&GoalList { goals }))?;
        }
        Format::Text if ids.is_empty() => print_stdout(&format!(
            "no goals yet in {}: start one with `omk goal run \"…\"`\n",
            context.state_dir.goals_dir().display()
        ))?,
        Format::Text => {
            let mut text = if rows.is_empty() {
                String::new()
            } else {
                list_text(&rows, context.clock.now(), stdout_width())
            };
            if hidden > 0 {
                let line = match (rows.is_empty(), &args.status) {
                    (true, Some(_)) => format!("no goal is in that status ({hidden} in others)"),
                    (false, Some(_)) => format!("({hidden} more in other statuses)"),
                    (true, None) => format!(
                        "no open goal ({hidden} settled, cancelled or landed: `omk goal list --all` shows them)"
                    ),
                    (false, None) => {
                        format!("({hidden} more settled (cancelled or landed): `--all` shows them)")
                    }
                };
                text.push_str(&line);
                text.push('\n');
            }
            let statuses: Vec<GoalStatus> = rows.iter().map(|row| row.glance.status).collect();
            print_stdout_painted(&text, |text| paint_rows(text, 1, &statuses))?;
        }
    }
    Ok(EXIT_OK)
}

pub(super) fn status(context: &Context, args: &ViewArgs) -> Result<u8, Failure> {
    let loaded = load(&context.resolve(&args.goal)?)?;
    let glance = glance(&loaded.state, loaded.head());
    match args.format {
        Format::Json => print_stdout(&to_json(&glance))?,
        Format::Text => {
            let text = status_text(&glance, &loaded.state, context.clock.now());
            print_stdout_painted(&text, |text| paint_rows(text, 0, &[glance.status]))?
        }
    }
    Ok(EXIT_OK)
}

pub(super) fn show(context: &Context, args: &ShowArgs) -> Result<u8, Failure> {
    let loaded = load(&context.resolve(&args.goal)?)?;
    let text = match args.format {
        ShowFormat::Json => to_json(&show_view(&loaded.state, loaded.head())),
        ShowFormat::Text => show_document(&loaded.state, loaded.head(), false),
        ShowFormat::Md => show_document(&loaded.state, loaded.head(), true),
    };
    print_stdout(&text)?;
    Ok(EXIT_OK)
}

pub(super) fn budget(context: &Context, args: &ViewArgs) -> Result<u8, Failure> {
    let loaded = load(&context.resolve(&args.goal)?)?;
    let state = &loaded.state;
    let view = budget_view(state, loaded.head());
    match args.format {
        Format::Json => print_stdout(&to_json(&view))?,
        Format::Text => print_stdout(&budget_text(&view))?,
    }
    Ok(EXIT_OK)
}

/// Runs `omk goal pause`, `resume` or `cancel`: `steering` is made from the note.
pub(super) fn steer_with_note(
    context: &Context,
    args: &NoteArgs,
    steering: impl FnOnce(Option<String>) -> Steering,
) -> Result<u8, Failure> {
    steer_command(
        context,
        &args.goal,
        args.format,
        &steering(args.reason.clone()),
    )
}

/// Runs `omk goal accept`.
pub(super) fn accept(context: &Context, args: &AcceptArgs) -> Result<u8, Failure> {
    let steering = Steering::Accept {
        summary: args.summary.clone(),
    };
    steer_command(context, &args.goal, args.format, &steering)
}

/// Runs `omk goal reject`.
pub(super) fn reject(context: &Context, args: &RejectArgs) -> Result<u8, Failure> {
    let steering = Steering::Reject {
        reason: args.reason.clone(),
    };
    steer_command(context, &args.goal, args.format, &steering)
}

/// Runs `omk goal budget-add`.
pub(super) fn budget_add(context: &Context, args: BudgetAddArgs) -> Result<u8, Failure> {
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
    let steering = Steering::ExtendBudget {
        added,
        reason: args.reason.clone(),
    };
    steer_command(context, &args.goal, args.format, &steering)
}

/// Runs one operator command: pause, resume, cancel, budget-add, accept or reject.
fn steer_command(
    context: &Context,
    selector: &str,
    format: Format,
    steering: &Steering,
) -> Result<u8, Failure> {
    let goal = context.resolve(selector)?;
    let steered = steer(&goal, &context.clock, steering).map_err(|error| match error {
        StoreError::Refused(refusal) => refused(refusal),
        error => store_failure(error),
    })?;
    let (loaded, verb) = (&steered.loaded, steering.done());
    let state = &loaded.state;
    match format {
        Format::Json => print_stdout(&to_json(&command_result(state, loaded.head(), verb)))?,
        Format::Text => {
            let was = was_words(steered.was.0, steered.was.1);
            let limits = if steering.action() == Action::ExtendBudget {
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

#[derive(Args, Debug)]
pub(super) struct EditPlanArgs {
    /// A goal id, or `latest`
    #[arg(default_value = "latest")]
    goal: String,
    /// Take the new plan from this file (`{"tasks": [...]}`) instead of opening $VISUAL or $EDITOR
    #[arg(long, value_name = "FILE")]
    file: Option<std::path::PathBuf>,
    /// Why the plan was edited, in a sentence (recorded in the log)
    #[arg(long)]
    note: Option<String>,
    /// Output format (JSON carries timestamps, never ages)
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Runs `omk goal edit-plan`: a person replaces the plan before execution starts.
pub(super) fn edit_plan_command(context: &Context, args: &EditPlanArgs) -> Result<u8, Failure> {
    let goal = context.resolve(&args.goal)?;
    let loaded = load(&goal)?;
    let reply = match &args.file {
        Some(file) => std::fs::read(file).map_err(|error| {
            Failure::hinted(
                anyhow::anyhow!("cannot read {}: {error}", file.display()),
                "pass a file holding {\"tasks\": [...]} (see docs/planner-hook.md)",
            )
        })?,
        None => {
            let editor = ["VISUAL", "EDITOR"].iter().find_map(|name| {
                std::env::var(name)
                    .ok()
                    .filter(|value| !value.trim().is_empty())
            });
            let Some(editor) = editor else {
                return Err(Failure::hinted(
                    anyhow::anyhow!("neither $VISUAL nor $EDITOR is set"),
                    "set EDITOR, or pass --file plan.json",
                ));
            };
            let draft = goal.dir().join("plan-edit.json");
            let before = editable_plan(&loaded.state);
            std::fs::write(&draft, &before)?;
            if !run_in_terminal(&editor, &draft)? {
                return Err(Failure::hinted(
                    anyhow::anyhow!("the editor `{editor}` failed; the plan is unchanged"),
                    format!("your draft is in {}", draft.display()),
                ));
            }
            let after = std::fs::read(&draft)?;
            if after == before.as_bytes() {
                print_stdout(&format!(
                    "the plan of goal {} is unchanged; nothing was recorded\n",
                    loaded.state.goal_id
                ))?;
                return Ok(EXIT_OK);
            }
            after
        }
    };
    let edited =
        edit_plan(&goal, &context.clock, &reply, args.note.clone()).map_err(
            |error| match error {
                EditPlanError::Store(error) => match *error {
                    StoreError::Refused(refusal) => refused(refusal),
                    error => store_failure(error),
                },
                invalid => Failure::with_code(
                    invalid,
                    Some("fix the plan and run edit-plan again; nothing was recorded".to_owned()),
                    EXIT_FINDINGS,
                ),
            },
        )?;
    let state = &edited.state;
    match args.format {
        Format::Json => print_stdout(&to_json(&command_result(
            state,
            edited.head(),
            "edited the plan of",
        )))?,
        Format::Text => print_stdout(&format!(
            "edited the plan of goal {}: {} tasks; next: {}\n",
            state.goal_id,
            state.tasks.tasks().len(),
            next_step(state)
        ))?,
    }
    Ok(EXIT_OK)
}
