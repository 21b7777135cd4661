//! The command line: clap definitions, dispatch, and how results and errors are printed.
//!
//! Each command is a short handler over the library. `anyhow` lives here and nowhere else.
//! Exit codes: 0 ok, 1 a verification or check failed, 2 usage or I/O error.
//! Must not hold logic the library should own: a handler loads, decides, calls, and prints.

mod agents_cmd;
mod artifact_cmd;
mod context;
mod doctor_cmd;
mod execute_cmd;
mod gc_cmd;
mod goal_cmd;
mod land_cmd;
mod log_cmd;
mod loop_view;
mod open_pr_cmd;
mod replay_cmd;
mod terminal;
mod tracing_setup;
mod travel_cmd;
mod trust_cmd;
mod verify_cmd;
mod verify_view;
mod wave_view;

use std::io::{self, Write};
use std::process::ExitCode;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::event::RunMode;
use crate::ops::steer::Steering;
use context::Context;

/// Exit code: the check ran and found the log (or goal) intact, or the command succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code: the check ran and found a problem.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: the command could not run (bad usage, unreadable file).
pub const EXIT_ERROR: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "omk",
    version,
    about = "Turn a prompt into a proof-backed engineering run, recorded in a hash-chained event log"
)]
struct Cli {
    /// When to colour statuses and verdicts: on a terminal (auto, unless NO_COLOR is set), always, or never
    #[arg(long, value_enum, global = true, default_value_t, value_name = "WHEN")]
    color: terminal::ColorChoice,
    /// Trace what omk does on stderr: the command, git and every other process with its
    /// duration (-vv: also appends and folds). OMK_LOG takes a filter instead (OMK_LOG=debug)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Inspect and maintain an event log directly
    #[command(subcommand)]
    Log(log_cmd::LogCommand),
    /// Start, inspect and steer goals
    Goal(Box<GoalArgs>),
    /// List the gates `omk goal verify` would run here, and why
    Gates(GatesArgs),
    /// Show a goal's timeline from its log alone, or verify that everything follows from it
    Replay(replay_cmd::ReplayArgs),
    /// Run a whole goal in a new demo repository with a bundled scripted agent, end to end
    Demo(DemoArgs),
    /// List the agent presets: installed or not, version, and the exact command each runs
    Agents(agents_cmd::AgentsArgs),
    /// Print a recorded artifact (gate output, a transcript, a diff) by a prefix of its hash
    #[command(subcommand)]
    Artifact(artifact_cmd::ArtifactCommand),
    /// Make or show the Ed25519 key that signs checkpoints and proofs
    #[command(subcommand)]
    Key(trust_cmd::KeyCommand),
    /// Check a signed proof (a DSSE envelope) with the signer's public key, and the log's root
    VerifyProof(trust_cmd::VerifyProofArgs),
    /// Check this machine: git, the agent CLIs, gh, the signing key, the state directory
    Doctor(doctor_cmd::DoctorArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    Completions(CompletionsArgs),
    /// Print omk's manual page (roff: `omk man | man -l -`), or write one page per command
    Man(ManArgs),
}

#[derive(clap::Args, Debug)]
struct ManArgs {
    /// Write omk.1 and a page per command (omk-goal-run.1, …) into this directory instead
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct CompletionsArgs {
    /// The shell to complete for
    shell: clap_complete::Shell,
}

#[derive(clap::Args, Debug)]
struct GoalArgs {
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
    Run(goal_cmd::StartArgs),
    /// Start a goal and plan it, without executing
    Plan(goal_cmd::StartArgs),
    /// Replace a planned goal's task graph before it executes ($EDITOR, or --file)
    EditPlan(goal_cmd::EditPlanArgs),
    /// List the goals at a glance, oldest first (settled ones too with --all)
    List(goal_cmd::ListArgs),
    /// Show a goal at a glance: status, tasks, budget, next step
    Status(goal_cmd::ViewArgs),
    /// Show a goal's full state
    Show(goal_cmd::ShowArgs),
    /// Pause a live goal
    Pause(goal_cmd::NoteArgs),
    /// Resume a paused or held goal
    Resume(goal_cmd::NoteArgs),
    /// Cancel a goal; nothing more will be done in it
    Cancel(goal_cmd::NoteArgs),
    /// Show time, tokens and spend used against the limits
    Budget(goal_cmd::ViewArgs),
    /// Raise a goal's limits
    BudgetAdd(goal_cmd::BudgetAddArgs),
    /// Accept the goal's result as the human integrator
    Accept(goal_cmd::AcceptArgs),
    /// Reject the goal's result as the human integrator
    Reject(goal_cmd::RejectArgs),
    /// Run the agent wave: one agent per ready slice, each in its own git worktree
    Execute(execute_cmd::ExecuteArgs),
    /// Drive a goal unattended (execute, verify, review, fix rounds) until only your decision is left
    Continue(execute_cmd::ContinueArgs),
    /// Remove the worktrees of a finished goal (branches and their commits are kept)
    Clean(execute_cmd::CleanArgs),
    /// Build the goal's claimed tree and run the gates on it
    Verify(verify_cmd::VerifyArgs),
    /// Review the claimed tree: secret scan, write-scope audit, gate results
    Review(verify_cmd::ReviewArgs),
    /// Print the proof: the verdict and every piece of evidence behind it
    Proof(verify_cmd::ProofArgs),
    /// Make the goal's report: one self-contained HTML page (verdict, timeline, task graph, gates, artifacts)
    Report(verify_cmd::ReportArgs),
    /// Put a ready goal's result on your branch (the gates run again if the branch moved)
    Land(land_cmd::LandArgs),
    /// Open a pull request of the goal's result, its body rendered from the proof (--dry-run prints it)
    OpenPr(open_pr_cmd::OpenPrArgs),
    /// Remove the worktrees and branches of ended goals (never a live or unlanded ready one)
    Gc(gc_cmd::GcArgs),
    /// Store a goal (log, checkpoint, artifacts) under refs/omk/goals/<id> and push it
    Push(travel_cmd::PushArgs),
    /// Fetch goals a remote holds and add what they have beyond this clone's copies
    Fetch(travel_cmd::FetchArgs),
    /// Print a gate's latest output, or a task's last agent transcript
    Output(artifact_cmd::OutputArgs),
}

/// Runs a `goal` subcommand and returns its exit code.
fn goal(args: GoalArgs) -> Result<u8, Failure> {
    let context = Context::new(args.repo, args.config)?;
    match args.command {
        GoalCommand::Run(start) => goal_cmd::start_command(&context, start, RunMode::Run),
        GoalCommand::Plan(start) => goal_cmd::start_command(&context, start, RunMode::Plan),
        GoalCommand::EditPlan(args) => goal_cmd::edit_plan_command(&context, &args),
        GoalCommand::List(args) => goal_cmd::list(&context, &args),
        GoalCommand::Status(args) => goal_cmd::status(&context, &args),
        GoalCommand::Show(args) => goal_cmd::show(&context, &args),
        GoalCommand::Budget(args) => goal_cmd::budget(&context, &args),
        GoalCommand::Pause(args) => {
            goal_cmd::steer_with_note(&context, &args, |reason| Steering::Pause { reason })
        }
        GoalCommand::Resume(args) => {
            goal_cmd::steer_with_note(&context, &args, |note| Steering::Resume { note })
        }
        GoalCommand::Cancel(args) => {
            goal_cmd::steer_with_note(&context, &args, |reason| Steering::Cancel { reason })
        }
        GoalCommand::BudgetAdd(args) => goal_cmd::budget_add(&context, args),
        GoalCommand::Accept(args) => goal_cmd::accept(&context, &args),
        GoalCommand::Reject(args) => goal_cmd::reject(&context, &args),
        GoalCommand::Execute(args) => execute_cmd::execute_command(&context, &args),
        GoalCommand::Continue(args) => execute_cmd::continue_command(&context, &args),
        GoalCommand::Clean(args) => execute_cmd::clean_command(&context, &args),
        GoalCommand::Verify(args) => verify_cmd::verify_command(&context, &args),
        GoalCommand::Review(args) => verify_cmd::review_command(&context, &args),
        GoalCommand::Proof(args) => verify_cmd::proof_command(&context, &args),
        GoalCommand::Report(args) => verify_cmd::report_command(&context, &args),
        GoalCommand::Land(args) => land_cmd::land_command(&context, &args),
        GoalCommand::OpenPr(args) => open_pr_cmd::open_pr_command(&context, &args),
        GoalCommand::Gc(args) => gc_cmd::gc_command(&context, &args),
        GoalCommand::Push(args) => travel_cmd::push_command(&context, &args),
        GoalCommand::Fetch(args) => travel_cmd::fetch_command(&context, &args),
        GoalCommand::Output(args) => artifact_cmd::output_command(&context, &args),
    }
}

#[derive(clap::Args, Debug)]
struct DemoArgs {
    /// Where to create the demo directory (default: the system's temporary directory)
    #[arg(long, value_name = "DIR")]
    dir: Option<std::path::PathBuf>,
}

#[derive(clap::Args, Debug)]
struct GatesArgs {
    /// The repository (default: the one the current directory is in)
    #[arg(long, value_name = "DIR")]
    repo: Option<std::path::PathBuf>,
    /// The configuration file (default: omk.toml at the repository root, if there is one)
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// How a command prints its result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One line for people.
    #[default]
    Text,
    /// One JSON document for scripts.
    Json,
}

/// A failure the CLI reports on stderr, with what to do about it.
#[derive(Debug)]
pub struct Failure {
    error: anyhow::Error,
    hint: Option<String>,
    code: u8,
}

impl Failure {
    /// Returns a failure with a hint saying what to do.
    pub fn hinted(error: impl Into<anyhow::Error>, hint: impl Into<String>) -> Failure {
        Failure::with_code(error, Some(hint.into()), EXIT_ERROR)
    }

    /// Returns a failure that exits with `code`.
    pub fn with_code(error: impl Into<anyhow::Error>, hint: Option<String>, code: u8) -> Failure {
        Failure {
            error: error.into(),
            hint,
            code,
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Failure {
        Failure::with_code(error, None, EXIT_ERROR)
    }
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let parsed = <Cli as clap::CommandFactory>::command()
        .try_get_matches()
        .and_then(|matches| {
            <Cli as clap::FromArgMatches>::from_arg_matches(&matches).map(|cli| (cli, matches))
        });
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() {
                EXIT_ERROR
            } else {
                EXIT_OK
            });
        }
    };
    terminal::init_colour(cli.color);
    if let Err(failure) = tracing_setup::init(cli.verbose) {
        print_failure(&failure);
        return ExitCode::from(failure.code);
    }
    let _command = tracing::info_span!("omk", command = command_path(&matches)).entered();
    let result = match cli.command {
        Command::Log(command) => log_cmd::run(command),
        Command::Goal(args) => goal(*args),
        Command::Replay(args) => replay_cmd::run(args),
        Command::Demo(args) => demo(args),
        Command::Agents(args) => agents_cmd::agents_command(&args),
        Command::Artifact(command) => artifact_cmd::run(command),
        Command::Key(command) => trust_cmd::run_key(command),
        Command::VerifyProof(args) => trust_cmd::verify_proof(args),
        Command::Doctor(args) => doctor_cmd::doctor_command(&args),
        Command::Completions(args) => completions(args.shell),
        Command::Man(args) => man_page(args),
        Command::Gates(args) => Context::new(args.repo, args.config)
            .and_then(|context| verify_cmd::gates_command(&context, args.format)),
    };
    for warning in crate::store::take_warnings() {
        print_stderr(&format!("omk: warning: {warning}"));
    }
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            print_failure(&failure);
            ExitCode::from(failure.code)
        }
    }
}

/// Prints the completion script for `shell`.
fn completions(shell: clap_complete::Shell) -> Result<u8, Failure> {
    let mut script = Vec::new();
    clap_complete::generate(
        shell,
        &mut <Cli as clap::CommandFactory>::command(),
        "omk",
        &mut script,
    );
    write_stdout_raw(&script)?;
    Ok(EXIT_OK)
}

/// Prints omk's manual page, or writes a page per command (`omk-goal-run.1`, …) into a
/// directory, as git's are.
fn man_page(args: ManArgs) -> Result<u8, Failure> {
    let command = <Cli as clap::CommandFactory>::command();
    let Some(dir) = args.out_dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(command).render(&mut page)?;
        write_stdout_raw(&page)?;
        return Ok(EXIT_OK);
    };
    let written =
        std::fs::create_dir_all(&dir).and_then(|()| clap_mangen::generate_to(command, &dir));
    written.map_err(|error| {
        Failure::hinted(
            anyhow::anyhow!(
                "cannot write the manual pages into {}: {error}",
                dir.display()
            ),
            "pass a directory you can write, e.g. --out-dir ~/.local/share/man/man1",
        )
    })?;
    print_stdout(&format!(
        "wrote the manual pages into {} (read one with `man -l {}/omk.1`)\n",
        dir.display(),
        dir.display()
    ))?;
    Ok(EXIT_OK)
}

/// Writes bytes to stdout as they are (a script, a manual page, or text already made
/// visible); a closed pipe (`omk … | head`) is not an error.
fn write_stdout_raw(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(()),
    }
}

/// Returns the subcommands as typed (`goal status`), for the trace.
fn command_path(matches: &clap::ArgMatches) -> String {
    let mut words = Vec::new();
    let mut matches = matches;
    while let Some((name, sub)) = matches.subcommand() {
        words.push(name);
        matches = sub;
    }
    words.join(" ")
}

fn print_failure(failure: &Failure) {
    let mut stderr = io::stderr().lock();
    let message = failure.error.to_string();
    let _ = writeln!(stderr, "omk: {message}");
    // Library errors often name their cause already; print only causes that add something.
    for cause in failure.error.chain().skip(1) {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            let _ = writeln!(stderr, "caused by: {cause}");
        }
    }
    if let Some(hint) = &failure.hint {
        let _ = writeln!(stderr, "hint: {hint}");
    }
}

/// Writes `text` to stdout; a closed pipe (`omk … | head`) is not an error.
pub fn print_stdout(text: &str) -> Result<(), Failure> {
    write_stdout_raw(visible(text).as_bytes())
}

/// Writes `text` to stdout as [`print_stdout`] does, with `paint` applied after control
/// characters are made visible (so that the colour it adds is the only escape written).
pub fn print_stdout_painted(text: &str, paint: impl FnOnce(&str) -> String) -> Result<(), Failure> {
    write_stdout_raw(paint(&visible(text)).as_bytes())
}

/// Standard output written as a result is produced (a long timeline streams): control
/// characters shown as in [`print_stdout`], and a reader that closes the pipe ends the writing
/// quietly, as `head` expects.
pub struct StdoutStream {
    out: io::BufWriter<io::StdoutLock<'static>>,
    error: Option<io::Error>,
}

impl Default for StdoutStream {
    fn default() -> StdoutStream {
        StdoutStream {
            out: io::BufWriter::with_capacity(64 << 10, io::stdout().lock()),
            error: None,
        }
    }
}

impl StdoutStream {
    /// Writes `text`; breaks once the output is gone (a closed pipe, or a write error).
    pub fn write(&mut self, text: &str) -> std::ops::ControlFlow<()> {
        if self.error.is_some() {
            return std::ops::ControlFlow::Break(());
        }
        match self.out.write_all(visible(text).as_bytes()) {
            Ok(()) => std::ops::ControlFlow::Continue(()),
            Err(error) => {
                self.error = Some(error);
                std::ops::ControlFlow::Break(())
            }
        }
    }

    /// Flushes what is left; a closed pipe is not an error.
    pub fn finish(mut self) -> Result<(), Failure> {
        let error = match self.error.take() {
            Some(error) => Some(error),
            None => self.out.flush().err(),
        };
        match error {
            Some(error) if error.kind() != io::ErrorKind::BrokenPipe => Err(error.into()),
            _ => Ok(()),
        }
    }
}

/// Writes one line to stderr (for findings and hints that accompany a result).
pub fn print_stderr(text: &str) {
    let _ = writeln!(io::stderr().lock(), "{}", visible(text));
}

/// Returns `text` with every control character but newline and tab written out as `\x1b`:
/// what agents and gates printed reaches the terminal as text, never as a command to it (an
/// escape sequence in a claim could clear the screen or forge a line of the timeline).
fn visible(text: &str) -> std::borrow::Cow<'_, str> {
    let hidden = |c: char| c.is_control() && c != '\n' && c != '\t';
    // Control characters are bytes below 0x20, 0x7f, or U+0080..U+009F (lead byte 0xc2): a byte
    // scan finds text without any at memory speed (a streamed timeline is mostly such text).
    let maybe_hidden = |byte: &u8| {
        (*byte < 0x20 && *byte != b'\n' && *byte != b'\t') || *byte == 0x7f || *byte == 0xc2
    };
    // Folded without a short cut inside each chunk, so that the compiler can vectorise it.
    let any_maybe_hidden = text.as_bytes().chunks(64).any(|chunk| {
        chunk
            .iter()
            .fold(false, |found, byte| found | maybe_hidden(byte))
    });
    if !any_maybe_hidden || !text.contains(hidden) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hidden(c) {
            shown.push_str(&format!("\\x{:02x}", u32::from(c)));
        } else {
            shown.push(c);
        }
    }
    std::borrow::Cow::Owned(shown)
}

fn demo(args: DemoArgs) -> Result<u8, Failure> {
    let clock = crate::shell::clock::Clock::from_env()?;
    let parent = args.dir.unwrap_or_else(std::env::temp_dir);
    print_stdout("omk demo: a whole goal, end to end. The agent is SCRIPTED: it applies a recorded change, it is not a model.\n")?;
    let mut say = |line: &str| {
        let _ = print_stdout(&format!("  {line}\n"));
    };
    let key = context::signing_key()?;
    let run = crate::ops::demo::run_demo(&parent, &clock, key, &mut say)?;
    let id = &run.loaded.state.goal_id;
    let verdict = if run.verdict.ready {
        "READY"
    } else {
        "NOT READY"
    };
    let replay = if run.replay.intact {
        "intact: every projection follows from the log"
    } else {
        "FINDINGS (see `omk replay --verify`)"
    };
    print_stdout(&format!(
        "\nverdict: {verdict}\nreplay --verify: {replay}\n\neverything is on disk:\n  repository   {}\n  goal log     {}\n  proof        {}\n\nlook around:\n  cd {}\n  omk goal status {id}\n  omk goal proof {id}\n  omk replay {id}\n  omk replay {id} --verify\n\nthe same with a real agent, in your own repository:\n  omk goal run \"<what you want>\" --agent claude --until-ready   (or kimi, codex, gemini, aider, opencode, --agent-cmd '…')\n  omk goal accept --summary \"…\"   then   omk goal land\n",
        run.repo.display(),
        run.goal.dir().join("events.jsonl").display(),
        run.goal.dir().join("proof.json").display(),
        run.repo.display(),
    ))?;
    Ok(if run.verdict.ready && run.replay.intact {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    })
}
