//! `omk goal open-pr`: the proof as a pull request; `--dry-run` prints it.

use clap::{Args, ValueEnum};

use crate::cli::context::{refused, store_failure, Context};
use crate::cli::{print_stdout, Failure, EXIT_FINDINGS, EXIT_OK};
use crate::ops::open_pr::{open_pr, OpenPrError, OpenPrOutcome, OpenPrRequest};
use crate::project::pull_request::PullRequest;
use crate::project::to_json;
use crate::store::StoreError;

/// How `open-pr --dry-run` prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum PrFormat {
    #[default]
    Md,
    Json,
}

#[derive(Args, Debug)]
pub struct OpenPrArgs {
    /// A goal id, or `latest`
    #[arg(default_value = "latest")]
    goal: String,
    /// Print the title and body; push and open nothing
    #[arg(long)]
    dry_run: bool,
    /// Open it as a draft
    #[arg(long)]
    draft: bool,
    /// The branch to merge into (default: the branch your checkout is on)
    #[arg(long, value_name = "BRANCH")]
    base: Option<String>,
    /// The remote to push the result branch and the goal to
    #[arg(long, default_value = "origin")]
    remote: String,
    /// With --dry-run: Markdown (title, then body) or JSON
    #[arg(long, value_enum, default_value_t)]
    format: PrFormat,
}

/// Runs `omk goal open-pr`: exit 0 when opened (or rendered), 1 when refused or left to you.
pub(super) fn open_pr_command(context: &Context, args: &OpenPrArgs) -> Result<u8, Failure> {
    let goal = context.resolve(&args.goal)?;
    let request = OpenPrRequest {
        base: args.base.clone(),
        draft: args.draft,
        remote: args.remote.clone(),
        dry_run: args.dry_run,
    };
    let outcome =
        open_pr(&goal, &context.repo_root, &context.clock, &request).map_err(open_pr_failure)?;
    match outcome {
        OpenPrOutcome::DryRun(pull_request) => {
            print_stdout(&match args.format {
                PrFormat::Md => rendered(&pull_request),
                PrFormat::Json => to_json(&pull_request),
            })?;
            Ok(EXIT_OK)
        }
        OpenPrOutcome::Opened {
            pull_request, url, ..
        } => {
            print_stdout(&format!(
                "opened pull request {url}: {} into {}; recorded in goal {}'s log\n",
                pull_request.head,
                pull_request.base,
                goal.id()
            ))?;
            Ok(EXIT_OK)
        }
        OpenPrOutcome::ByHand {
            pull_request,
            why,
            command,
        } => {
            let command: Vec<String> = command.iter().map(|arg| quoted(arg)).collect();
            print_stdout(&format!(
                "pushed {} and goal {} to {}; {why}, so open the pull request yourself:\n  {}\n",
                pull_request.head,
                goal.id(),
                args.remote,
                command.join(" ")
            ))?;
            Ok(EXIT_FINDINGS)
        }
    }
}

/// Returns the pull request as `--dry-run` prints it: the title as a heading, then the body.
fn rendered(pull_request: &PullRequest) -> String {
    format!(
        "# {}\n\n<!-- {} into {} -->\n\n{}",
        pull_request.title, pull_request.head, pull_request.base, pull_request.body
    )
}

/// Returns `arg` as a shell reads it back: quoted unless it is plain.
fn quoted(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+".contains(&b));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

fn open_pr_failure(error: OpenPrError) -> Failure {
    match error {
        OpenPrError::Store(error) => match *error {
            StoreError::Refused(refusal) => refused(refusal),
            other => store_failure(other),
        },
        OpenPrError::Travel(crate::ops::travel::TravelError::NoRemote(remote)) => Failure::hinted(
            anyhow::anyhow!("there is no remote `{remote}` in this repository"),
            "add one with `git remote add <name> <url>`, pass --remote, or look first with --dry-run",
        ),
        other => Failure::from(other),
    }
}
