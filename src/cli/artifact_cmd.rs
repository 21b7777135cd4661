//! `omk artifact show` and `omk goal output`: print a recorded artifact (gate output, a
//! transcript, a diff) given a prefix of the hash that status, show and the proof print, or
//! the gate or task that produced it.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::context::{store_failure, Context};
use crate::cli::{print_stdout, Failure, Format, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};
use crate::ops::artifact::{find, open, output_of, FoundArtifact, LookupError, Stream};
use crate::project::to_json;
use crate::store::StateDir;

#[derive(Subcommand, Debug)]
pub enum ArtifactCommand {
    /// Print an artifact's bytes, found by the first digits of its hash
    Show(ShowArgs),
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The hash, or its first 4 or more hex digits
    #[arg(value_name = "HASH-PREFIX")]
    prefix: String,
    /// Look only in this goal (an id, or `latest`); by default every goal is searched
    #[arg(long, value_name = "ID")]
    goal: Option<String>,
    /// The repository the goals work on (default: the one the current directory is in)
    #[arg(long, value_name = "DIR")]
    repo: Option<PathBuf>,
    /// Print what the artifact is (name, media type, size, goal, event) instead of its bytes
    #[arg(long)]
    info: bool,
    /// Format of --info
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Args, Debug)]
pub struct OutputArgs {
    /// A gate (its latest run on the claimed tree) or a task (its last agent run)
    #[arg(value_name = "GATE|TASK")]
    name: String,
    /// The goal: an id, or `latest`
    #[arg(long, value_name = "ID", default_value = "latest")]
    goal: String,
    /// For a task, print its agent's stderr instead of its stdout
    #[arg(long)]
    stderr: bool,
}

/// Runs `omk goal output`.
pub(super) fn output_command(context: &Context, args: &OutputArgs) -> Result<u8, Failure> {
    let goal = context.resolve(&args.goal)?;
    let loaded = goal.load().map_err(store_failure)?;
    let stream = if args.stderr {
        Stream::Stderr
    } else {
        Stream::Stdout
    };
    let found = output_of(goal.id(), &loaded.state, &args.name, stream).map_err(lookup_failure)?;
    print_bytes(&context.state_dir, &found)
}

/// Runs an `artifact` subcommand.
pub(super) fn run(command: ArtifactCommand) -> Result<u8, Failure> {
    match command {
        ArtifactCommand::Show(args) => show(&args),
    }
}

fn show(args: &ShowArgs) -> Result<u8, Failure> {
    let context = Context::new(args.repo.clone(), None)?;
    let goal = match &args.goal {
        Some(selector) => Some(context.resolve(selector)?),
        None => None,
    };
    let found = find(&context.state_dir, goal.as_ref(), &args.prefix).map_err(lookup_failure)?;
    if args.info {
        print_info(&found, args.format)?;
        return Ok(EXIT_OK);
    }
    print_bytes(&context.state_dir, &found)
}

/// Copies the artifact's checked bytes to stdout; a closed pipe is not an error.
fn print_bytes(state_dir: &StateDir, found: &FoundArtifact) -> Result<u8, Failure> {
    let mut file = open(state_dir, found).map_err(lookup_failure)?;
    let mut stdout = io::stdout().lock();
    match io::copy(&mut file, &mut stdout).and_then(|_| stdout.flush()) {
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(EXIT_OK),
    }
}

fn print_info(found: &FoundArtifact, format: Format) -> Result<(), Failure> {
    let artifact = &found.recorded.artifact;
    match format {
        Format::Json => print_stdout(&to_json(&serde_json::json!({
            "goal_id": found.goal_id,
            "seq": found.recorded.seq,
            "artifact": artifact,
        }))),
        Format::Text => print_stdout(&format!(
            "{}\n  name: {}\n  media type: {}\n  size: {} bytes\n  recorded: goal {}, event seq {}\n",
            artifact.hash,
            artifact.name,
            artifact.media_type,
            artifact.size,
            found.goal_id,
            found.recorded.seq
        )),
    }
}

fn lookup_failure(error: LookupError) -> Failure {
    match error {
        LookupError::Store(error) => store_failure(*error),
        error @ LookupError::Read(_) => Failure::with_code(error, None, EXIT_ERROR),
        error @ (LookupError::Missing { .. } | LookupError::Damaged { .. }) => Failure::with_code(
            error,
            Some("run `omk replay --verify` on the goal to see what else is damaged".to_owned()),
            EXIT_FINDINGS,
        ),
        error @ LookupError::NotAPrefix { .. } => {
            Failure::hinted(error, "copy the hash from `omk goal show` or the proof")
        }
        error @ LookupError::NotFound { .. } => Failure::hinted(
            error,
            "check the digits, or pass --repo the repository the goal ran in (`omk goal show` lists its artifacts)",
        ),
        error @ LookupError::Ambiguous { .. } => {
            Failure::hinted(error, "give more digits of the hash")
        }
        error @ LookupError::NoOutput { .. } => {
            Failure::hinted(error, "name a gate or a task from the list")
        }
    }
}
