//! `omk goal land`: put a ready goal's result on a branch, and say exactly what happened.

use std::io::IsTerminal;

use clap::Args;

use crate::cli::context::{refused, store_failure, Context};
use crate::cli::verify_view::{verify_failure, VerifyView};
use crate::cli::{print_stdout, Failure, Format, EXIT_FINDINGS, EXIT_OK};
use crate::event::{GoalLanded, LandMethod};
use crate::ops::land::{land_goal, LandError, LandOutcome, LandRequest, NotLanded};
use crate::ops::settings::Overrides;
use crate::ops::verify::{VerifyProgress, VerifyRequest};
use crate::project::budget::command_result;
use crate::project::glance::next_step;
use crate::project::show::{plural, size_in_words};
use crate::project::to_json;
use crate::shell::interrupt::{self, EXIT_INTERRUPTED};
use crate::state::verdict::short;
use crate::store::StoreError;

#[derive(Args, Debug)]
pub struct LandArgs {
    /// A goal id, or `latest`
    #[arg(default_value = "latest")]
    goal: String,
    /// The branch to land on (default: the branch your checkout is on)
    #[arg(long, value_name = "BRANCH")]
    into: Option<String>,
    /// One new commit with the result's changes and a message naming the goal (the default)
    #[arg(long, group = "method")]
    squash: bool,
    /// A merge commit of the branch and the goal's result branch
    #[arg(long, group = "method")]
    merge: bool,
    /// Move the branch to the result's commit; refused when the branch moved since the base
    #[arg(long, group = "method")]
    ff_only: bool,
    /// Attach the proof's summary to the landed commit as a git note (refs/notes/omk)
    #[arg(long)]
    notes: bool,
    /// Afterwards remove every worktree of the goal and delete its branches (`omk/<id>/…`)
    #[arg(long)]
    prune: bool,
    /// Push the branch afterwards to this remote (`--push` alone: origin)
    #[arg(long, value_name = "REMOTE", num_args = 0..=1, default_missing_value = "origin")]
    push: Option<String>,
    /// Output format (JSON carries timestamps, never ages)
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Runs `omk goal land`: exit 0 when it landed, 1 when a blocker stopped it.
pub(super) fn land_command(context: &Context, args: &LandArgs) -> Result<u8, Failure> {
    let goal = context.resolve(&args.goal)?;
    let settings = context.settings(&Overrides::default())?;
    let method = if args.merge {
        LandMethod::Merge
    } else if args.ff_only {
        LandMethod::FastForward
    } else {
        LandMethod::Squash
    };
    let request = LandRequest {
        into: args.into.clone(),
        method,
        verify: VerifyRequest {
            gates: settings.gates,
            max_parallel: settings.max_parallel,
            task: None,
            interrupt: interrupt::listen(),
        },
        push: args.push.clone(),
        prune: args.prune,
        notes: args.notes,
    };
    let mut view = VerifyView::new(std::io::stderr().is_terminal());
    let mut report = |event: VerifyProgress| view.show(&event);
    let outcome = land_goal(
        &goal,
        &context.repo_root,
        &context.clock,
        &request,
        &mut report,
    )
    .map_err(land_failure)?;
    if args.format == Format::Json {
        print_stdout(&to_json(&command_result(
            &outcome.loaded.state,
            outcome.loaded.head(),
            if outcome.result.is_ok() {
                "landed"
            } else {
                "not landed"
            },
        )))?;
    }
    match &outcome.result {
        Ok(landed) => {
            if args.format == Format::Text {
                print_stdout(&landed_text(&outcome, landed, args.notes))?;
            }
            Ok(EXIT_OK)
        }
        Err(NotLanded::Interrupted) => {
            crate::cli::print_stderr(&format!(
                "omk: landing goal {} was interrupted while its gates ran on the combined tree; nothing landed. Land again with: omk goal land {}",
                outcome.loaded.state.goal_id, outcome.loaded.state.goal_id
            ));
            Ok(EXIT_INTERRUPTED)
        }
        Err(blocker) => {
            crate::cli::print_stderr(&format!(
                "omk: goal {} did not land: {}",
                outcome.loaded.state.goal_id,
                blocker_text(blocker)
            ));
            crate::cli::print_stderr(&format!("hint: {}", blocker_hint(blocker)));
            Ok(EXIT_FINDINGS)
        }
    }
}

fn landed_text(outcome: &LandOutcome, landed: &GoalLanded, noted: bool) -> String {
    let state = &outcome.loaded.state;
    let mut text = format!(
        "landed goal {} on {} at {} ({} onto {})\n",
        state.goal_id,
        landed.into,
        short(&landed.commit),
        landed.method.name().replace('_', "-"),
        short(&landed.onto)
    );
    if landed.reverified {
        let gates: Vec<String> = outcome
            .ran
            .iter()
            .map(|run| format!("{} passed", run.gate))
            .collect();
        text.push_str(&format!(
            "  {} had moved since the goal's base, so the required gates ran again on the landed tree: {}\n",
            landed.into,
            if gates.is_empty() {
                "none is required".to_owned()
            } else {
                gates.join(", ")
            }
        ));
    }
    if outcome.worktrees_removed > 0 {
        text.push_str(&format!(
            "  removed the goal's {} (its branches are kept)\n",
            plural(outcome.worktrees_removed as u64, "worktree")
        ));
    }
    if let Some(pruned) = &outcome.pruned {
        text.push_str(&format!(
            "  pruned the goal's {} and {} ({}); its log and artifacts stay\n",
            plural(pruned.worktrees, "worktree"),
            plural(pruned.branches.len() as u64, "branch"),
            size_in_words(pruned.bytes)
        ));
    }
    if noted {
        text.push_str(&format!(
            "  the proof's summary is a note on it: git log --notes=omk -1 {}\n",
            landed.into
        ));
    }
    match &outcome.pushed {
        Some(remote) => text.push_str(&format!("  pushed {} to {remote}\n", landed.into)),
        None => text.push_str(&format!(
            "  nothing was pushed: `git push origin {}` when you are ready\n",
            landed.into
        )),
    }
    text.push_str(&format!("next: {}\n", next_step(state)));
    text
}

fn blocker_text(blocker: &NotLanded) -> String {
    match blocker {
        NotLanded::Conflict { into, onto, files } => format!(
            "{into} moved since the goal's base (now {}) and the result conflicts with it in {}",
            short(onto),
            files.join(", ")
        ),
        NotLanded::GatesFailed { into, gates } => format!(
            "{into} moved since the goal's base, and on the result combined with it the required gates {} did not pass",
            gates.join(", ")
        ),
        NotLanded::Interrupted => "interrupted".to_owned(),
    }
}

fn blocker_hint(blocker: &NotLanded) -> String {
    match blocker {
        NotLanded::Conflict { .. } => "nothing landed; start a new goal from the branch as it is now, or merge `omk/<goal>/result` by hand".to_owned(),
        NotLanded::GatesFailed { gates, .. } => format!(
            "nothing landed; see what failed with `omk goal output {}`, then start a new goal from the branch as it is now",
            gates.first().map_or("<gate>", String::as_str)
        ),
        NotLanded::Interrupted => String::new(),
    }
}

fn land_failure(error: LandError) -> Failure {
    let hint = match error {
        LandError::Store(error) => {
            return match *error {
                StoreError::Refused(refusal) => refused(refusal),
                other => store_failure(other),
            }
        }
        LandError::Verify(error) => return verify_failure(*error),
        LandError::Dirty { .. } => "commit or stash your changes, then land again",
        LandError::Detached => "check out the branch to land on, or pass --into",
        LandError::NoBranch(_) => {
            "create it (`git branch <name>`), or pass --into an existing branch"
        }
        LandError::CannotFastForward { .. } => {
            "land with --squash or --merge: the required gates then run again on the combined tree"
        }
        LandError::Raced { .. } => {
            "land again: omk combines the result with the branch as it is now"
        }
        LandError::NotRecorded { .. } => {
            "the branch did move; do not land the goal again, and run `omk log verify` on its directory"
        }
        LandError::Prune(_) => {
            "the branch moved and the landing is recorded; remove what is left with `omk goal gc`"
        }
        LandError::NoResult { .. } | LandError::Git(_) => return Failure::from(error),
    };
    Failure::hinted(error, hint)
}
