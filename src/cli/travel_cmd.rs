//! `omk goal push` and `omk goal fetch`: share goals between clones through git refs.

use clap::Args;

use crate::cli::context::Context;
use crate::cli::{print_stdout, Failure, EXIT_FINDINGS, EXIT_OK};
use crate::log::adopt::{AdoptError, Adopted};
use crate::log::chain::Head;
use crate::ops::travel::{fetch_goals, push_goal, TravelError};
use crate::project::show::plural;
use crate::state::verdict::short;

#[derive(Args, Debug)]
pub struct PushArgs {
    /// A goal id, or `latest`
    #[arg(default_value = "latest")]
    goal: String,
    /// The remote to push to
    #[arg(long, default_value = "origin")]
    remote: String,
}

#[derive(Args, Debug)]
pub struct FetchArgs {
    /// Only this goal (default: every goal the remote holds)
    goal: Option<String>,
    /// The remote to fetch from
    #[arg(long, default_value = "origin")]
    remote: String,
}

/// Runs `omk goal push`.
pub(super) fn push_command(context: &Context, args: &PushArgs) -> Result<u8, Failure> {
    let goal = context.resolve(&args.goal)?;
    let pushed = push_goal(&goal, &context.repo_root, &args.remote).map_err(travel_failure)?;
    print_stdout(&format!(
        "pushed goal {} to {} as {}: log head seq {} ({}), {}{}\nnext: in another clone, omk goal fetch {} --remote {}, then omk replay {} --verify\n",
        goal.id(),
        args.remote,
        pushed.reference,
        pushed.head.seq,
        short(&pushed.head.hash.to_string()),
        plural(pushed.artifacts as u64, "artifact"),
        if pushed.changed { "" } else { " (unchanged since the last push)" },
        goal.id(),
        args.remote,
        goal.id(),
    ))?;
    Ok(EXIT_OK)
}

/// Runs `omk goal fetch`: exit 1 when a goal was refused.
pub(super) fn fetch_command(context: &Context, args: &FetchArgs) -> Result<u8, Failure> {
    let fetched = fetch_goals(
        &context.state_dir,
        &context.repo_root,
        &args.remote,
        args.goal.as_deref(),
    )
    .map_err(travel_failure)?;
    if fetched.is_empty() {
        print_stdout(&format!(
            "{} holds no goals{}: push one with `omk goal push <id> --remote {}` from a clone that has it\n",
            args.remote,
            args.goal
                .as_ref()
                .map_or(String::new(), |id| format!(" named {id}")),
            args.remote
        ))?;
        return Ok(EXIT_FINDINGS);
    }
    let mut text = String::new();
    let mut refused = false;
    for goal in &fetched {
        let line = match &goal.outcome {
            Ok(Adopted::New { head }) => format!("new, up to {}", at(head)),
            Ok(Adopted::Extended { from, to }) => format!(
                "extended from {} to {}",
                from.as_ref().map_or("nothing".to_owned(), at),
                at(to)
            ),
            Ok(Adopted::Same { .. }) => "up to date".to_owned(),
            Ok(Adopted::Ahead { copy }) => format!(
                "this clone holds more than {}{}: nothing changed",
                args.remote,
                copy.as_ref()
                    .map_or(String::new(), |head| format!(" ({})", at(head)))
            ),
            Err(error) => {
                refused = true;
                format!("refused: {}", refusal(error))
            }
        };
        text.push_str(&format!("{}: {line}\n", goal.goal_id));
    }
    if !refused {
        text.push_str("next: omk replay <id> --verify checks a fetched goal here\n");
    }
    print_stdout(&text)?;
    Ok(if refused { EXIT_FINDINGS } else { EXIT_OK })
}

fn at(head: &Head) -> String {
    format!("seq {} ({})", head.seq, short(&head.hash.to_string()))
}

fn refusal(error: &AdoptError) -> String {
    match error {
        AdoptError::Diverged { seq, .. } => format!(
            "its log and the one here differ from seq {seq} on (two clones went on with the goal apart); nothing was changed here"
        ),
        AdoptError::Untrusted { .. } => format!(
            "{error}; nothing was changed here (if the goal's owner really changed keys, check the new one with them, then remove the goal here and fetch it again)"
        ),
        other => format!("{other}; nothing was changed here"),
    }
}

fn travel_failure(error: TravelError) -> Failure {
    let hint = match &error {
        TravelError::NoRemote(_) => {
            "add one with `git remote add <name> <url>`, or pass --remote".to_owned()
        }
        TravelError::Rejected { goal_id, remote, .. } => format!(
            "fetch first (`omk goal fetch {goal_id} --remote {remote}`): if the two histories differ, only one of them can be the goal's"
        ),
        _ => return Failure::from(error),
    };
    Failure::hinted(error, hint)
}
