//! `omk goal execute`, `omk goal continue` and `omk goal clean`: the agent wave, the fix loop
//! around it, and the removal of their worktrees.

use clap::Args;

use crate::cli::context::{store_failure, AgentArgs, Context};
use crate::cli::loop_view::run_loop;
use crate::cli::wave_view::run_wave;
use crate::cli::{print_stdout, Failure, Format, EXIT_FINDINGS, EXIT_OK};
use crate::ops::clean::{clean_goal, CleanError};
use crate::ops::fix_loop::DEFAULT_MAX_ROUNDS;
use crate::ops::settings::Overrides;
use crate::project::budget::command_result;
use crate::project::to_json;

#[derive(Args, Debug)]
pub struct ExecuteArgs {
    /// A goal id, or `latest`
    #[arg(default_value = "latest")]
    goal: String,
    #[command(flatten)]
    agent: AgentArgs,
    /// Output format (JSON carries timestamps, never ages)
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Args, Debug)]
pub struct ContinueArgs {
    /// A goal id, or `latest`
    #[arg(default_value = "latest")]
    goal: String,
    #[command(flatten)]
    agent: AgentArgs,
    /// The most fix rounds this run starts before it stops for you
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_ROUNDS)]
    max_rounds: u32,
    /// How many gates run at once
    #[arg(long, value_name = "N")]
    max_parallel: Option<usize>,
    /// Output format (JSON carries timestamps, never ages)
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Args, Debug)]
pub struct CleanArgs {
    /// A goal id, or `latest`
    goal: String,
    /// Remove worktrees even with uncommitted work, or while the goal is still live
    #[arg(long)]
    force: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Runs `omk goal execute`.
pub(super) fn execute_command(context: &Context, args: &ExecuteArgs) -> Result<u8, Failure> {
    let goal = context.resolve(&args.goal)?;
    let settings = context.settings(&args.agent.overrides())?;
    run_wave(context, &goal, &settings, args.format)
}

/// Runs `omk goal continue`.
pub(super) fn continue_command(context: &Context, args: &ContinueArgs) -> Result<u8, Failure> {
    let goal = context.resolve(&args.goal)?;
    let settings = context.settings(&Overrides {
        max_parallel: args.max_parallel,
        ..args.agent.overrides()
    })?;
    run_loop(context, &goal, &settings, args.max_rounds, args.format)
}

/// Runs `omk goal clean`.
pub(super) fn clean_command(context: &Context, args: &CleanArgs) -> Result<u8, Failure> {
    let goal = context.resolve(&args.goal)?;
    let outcome =
        clean_goal(&goal, &context.repo_root, &context.clock, args.force).map_err(|error| {
            match error {
                CleanError::Store(error) => store_failure(*error),
                CleanError::Live { ref goal_id, .. } => {
                    let hint = format!(
                        "clean a finished goal, or pass --force: omk goal clean {goal_id} --force"
                    );
                    Failure::with_code(error, Some(hint), EXIT_FINDINGS)
                }
                other => Failure::from(other),
            }
        })?;
    let loaded = &outcome.loaded;
    match args.format {
        Format::Json => print_stdout(&to_json(&command_result(
            &loaded.state,
            loaded.head(),
            "cleaned",
        )))?,
        Format::Text => {
            let kept: Vec<String> = outcome
                .kept_dirty
                .iter()
                .map(|(task, path)| format!("{task} ({} has uncommitted work)", path.display()))
                .collect();
            print_stdout(&format!(
                "cleaned goal {}: removed {} worktrees (their branches are kept){}\n",
                loaded.state.goal_id,
                outcome.removed.len(),
                if kept.is_empty() {
                    String::new()
                } else {
                    format!("; kept {}: pass --force to remove them", kept.join(", "))
                }
            ))?;
        }
    }
    Ok(if outcome.kept_dirty.is_empty() {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    })
}
