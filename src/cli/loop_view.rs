//! The fix loop on the terminal: run it for `continue` and `run --until-ready`, show which
//! round and step it is in and what runs, and print where it stopped.
//!
//! Shared by the command files; must not decide anything the loop itself decides.

use std::io::IsTerminal;

use crate::cli::context::{refused, store_failure, Context};
use crate::cli::terminal::paint_status;
use crate::cli::verify_view::{verify_failure, VerifyView};
use crate::cli::wave_view::{wave_failure, wave_options, ProgressView};
use crate::cli::{
    print_stderr, print_stdout, print_stdout_painted, Failure, Format, EXIT_FINDINGS, EXIT_OK,
};
use crate::ops::fix_loop::{continue_goal, LoopError, LoopOptions, LoopProgress, LoopStop};
use crate::ops::review::ReviewError;
use crate::ops::settings::Settings;
use crate::ops::verify::VerifyRequest;
use crate::project::budget::command_result;
use crate::project::glance::next_step;
use crate::project::to_json;
use crate::shell::interrupt::EXIT_INTERRUPTED;
use crate::state::verdict::verdict;
use crate::store::{GoalDir, StoreError};

/// Runs the fix loop on `goal` with at most `max_rounds` rounds, and prints where it stopped.
pub(super) fn run_loop(
    context: &Context,
    goal: &GoalDir,
    settings: &Settings,
    max_rounds: u32,
    format: Format,
) -> Result<u8, Failure> {
    let loaded = goal.load().map_err(store_failure)?;
    let wave = wave_options(&loaded.state, settings)?;
    let verify = VerifyRequest {
        gates: settings.gates.clone(),
        max_parallel: settings.max_parallel,
        task: None,
        interrupt: wave.interrupt.clone(),
    };
    let options = LoopOptions {
        wave: &wave,
        verify: &verify,
        max_rounds,
    };
    let terminal = std::io::stderr().is_terminal();
    let mut wave_view = ProgressView::new(terminal);
    let mut verify_view = VerifyView::new(terminal);
    let mut report = |event: LoopProgress| match event {
        LoopProgress::Wave(event) => wave_view.show(&event),
        LoopProgress::Verify(event) => verify_view.show(&event),
        LoopProgress::Step { round: 0, step } => print_stderr(&format!("omk: {step}")),
        LoopProgress::Step { round, step } => {
            print_stderr(&format!("omk: {step} (fix round {round})"));
        }
        LoopProgress::Round {
            round,
            reason,
            tasks,
        } => print_stderr(&format!(
            "omk: fix round {round}: {reason}; reopening {} with that feedback",
            tasks.join(", ")
        )),
    };
    let outcome = continue_goal(
        goal,
        &context.repo_root,
        &context.clock,
        &options,
        &mut report,
    )
    .map_err(loop_failure)?;
    let state = &outcome.loaded.state;
    let id = &state.goal_id;
    if outcome.stop == LoopStop::Interrupted {
        print_stderr(&format!(
            "omk: goal {id} interrupted; nothing is left running. Go on with: omk goal continue {id}"
        ));
        return Ok(EXIT_INTERRUPTED);
    }
    let total = u32::try_from(state.rounds.len()).unwrap_or(u32::MAX);
    let counted = |count: u32| match count {
        0 => "no fix round".to_owned(),
        1 => "1 fix round".to_owned(),
        count => format!("{count} fix rounds"),
    };
    // Earlier runs of the loop may have started rounds too: say which were this run's.
    let rounds = if total == outcome.rounds {
        counted(total)
    } else {
        format!("{} ({} in this run)", counted(total), outcome.rounds)
    };
    let summary = match outcome.stop {
        LoopStop::Integrating => format!(
            "goal {id} is integrating after {rounds}: every required gate passed and the review is clean"
        ),
        LoopStop::RoundLimit | LoopStop::Held => format!(
            "goal {id} stopped ({}) after {rounds}: {}",
            state.status,
            state
                .outcome
                .as_ref()
                .map_or("", |outcome| outcome.reason.as_str())
        ),
        LoopStop::Stuck | LoopStop::Interrupted => format!(
            "goal {id} is stuck ({}) after {rounds}: {}",
            state.status,
            verdict(state)
                .blockers
                .first()
                .map_or("nothing more can be done unattended", |blocker| {
                    blocker.detail.as_str()
                })
        ),
    };
    match format {
        Format::Json => print_stdout(&to_json(&command_result(
            state,
            outcome.loaded.head(),
            "continued",
        )))?,
        Format::Text => print_stdout_painted(
            &format!("{summary}; next: {}\n", next_step(state)),
            |text| paint_status(text, state.status),
        )?,
    }
    Ok(if outcome.stop == LoopStop::Integrating {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    })
}

fn loop_failure(error: LoopError) -> Failure {
    match error {
        LoopError::Store(error) => match *error {
            StoreError::Refused(refusal) => refused(refusal),
            other => store_failure(other),
        },
        LoopError::Wave(error) => wave_failure(error),
        LoopError::Verify(error) => verify_failure(error),
        LoopError::Review(ReviewError::Store(error)) => store_failure(*error),
        LoopError::Review(other) => Failure::from(other),
    }
}
