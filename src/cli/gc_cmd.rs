//! `omk goal gc`: remove ended goals' worktrees and branches, and say what it freed.

use clap::Args;

use crate::cli::context::Context;
use crate::cli::{print_stdout, Failure, EXIT_OK};
use crate::ops::gc::{collect_goals, GcRequest};
use crate::ops::settings::parse_duration;
use crate::project::show::{plural, size_in_words};

#[derive(Args, Debug)]
pub struct GcArgs {
    /// Only goals that have not changed for this long (e.g. 14d, 12h; 0 for every ended goal)
    #[arg(long, value_name = "AGE", default_value = "14d")]
    older_than: String,
    /// Say what would be removed; remove nothing
    #[arg(long)]
    dry_run: bool,
}

/// Runs `omk goal gc`.
pub(super) fn gc_command(context: &Context, args: &GcArgs) -> Result<u8, Failure> {
    let older_than = parse_duration(&args.older_than).map_err(|error| {
        Failure::hinted(
            anyhow::anyhow!("--older-than: {error}"),
            "pass an age such as 14d, 36h or 0",
        )
    })?;
    let request = GcRequest {
        older_than,
        dry_run: args.dry_run,
    };
    let outcome = collect_goals(
        &context.state_dir,
        &context.repo_root,
        &context.clock,
        request,
    )
    .map_err(Failure::from)?;
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let mut text = String::new();
    let mut bytes = 0;
    for collected in &outcome.collected {
        let pruned = &collected.pruned;
        bytes += pruned.bytes;
        text.push_str(&format!(
            "{}: {verb} {} and {}, {}\n",
            collected.goal_id,
            plural(pruned.worktrees, "worktree"),
            plural(pruned.branches.len() as u64, "branch"),
            size_in_words(pruned.bytes)
        ));
    }
    for kept in &outcome.kept {
        text.push_str(&format!("{}: kept: {}\n", kept.goal_id, kept.reason));
    }
    text.push_str(&match (outcome.collected.len(), args.dry_run) {
        (0, _) => "nothing to remove: no ended goal has worktrees or branches left".to_owned(),
        (count, true) => format!(
            "{} would free {}; run it again without --dry-run to remove them",
            plural(count as u64, "goal"),
            size_in_words(bytes)
        ),
        (count, false) => format!(
            "freed {} from {}; their logs and artifacts stay (`omk replay <id> --verify` still checks them)",
            size_in_words(bytes),
            plural(count as u64, "goal")
        ),
    });
    text.push('\n');
    print_stdout(&text)?;
    Ok(EXIT_OK)
}
