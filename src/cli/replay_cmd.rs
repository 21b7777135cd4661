//! `omk replay`: a goal's timeline from its events alone, its state at any event, and
//! `--verify`: the chain, the artifacts, every projection, and the fold's determinism.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use crate::cli::{print_stderr, print_stdout, Failure, EXIT_FINDINGS, EXIT_OK};
use crate::log::paths::LOG_FILE_NAME;
use crate::log::LogPaths;
use crate::ops::replay::{read_history, verify_goal_dir, ReplayError, ReplayReport};
use crate::project::show::show_document;
use crate::project::timeline::{entry, timeline_text};
use crate::project::to_json;

use crate::cli::context::{newer_omk_hint, Context};

/// How `replay` prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ReplayFormat {
    #[default]
    Text,
    Json,
    Md,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// A goal id, `latest`, or a goal directory (also one copied from another machine)
    #[arg(default_value = "latest")]
    goal: String,
    /// Check the chain, the artifacts, every projection, and that the fold is deterministic
    #[arg(long)]
    verify: bool,
    /// With --verify: every goal under the state directory
    #[arg(long, requires = "verify")]
    all: bool,
    /// Show the goal as it stood right after event SEQ
    #[arg(long, value_name = "SEQ", conflicts_with = "verify")]
    at: Option<u64>,
    /// Only events about this task
    #[arg(long, value_name = "TASK")]
    task: Option<String>,
    /// Only events of this kind (e.g. gate_finished)
    #[arg(long, value_name = "KIND")]
    kind: Option<String>,
    /// The repository whose goals to use (default: the one the current directory is in)
    #[arg(long, value_name = "DIR")]
    repo: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    format: ReplayFormat,
}

/// Runs `omk replay`.
pub fn run(args: ReplayArgs) -> Result<u8, Failure> {
    if args.verify {
        return verify(&args);
    }
    let dir = goal_dir(&args)?;
    let history = read_history(&LogPaths::resolve(&dir)).map_err(|error| {
        replay_failure(
            error,
            &dir,
            format!("run `omk log verify {}` for the full report", dir.display()),
        )
    })?;
    if let Some(seq) = args.at {
        let Some(state) = history.state_at(seq).map_err(Failure::from)? else {
            return Err(Failure::hinted(
                anyhow::anyhow!("the log of {} is empty", dir.display()),
                "pick a goal with events",
            ));
        };
        let last = history.events.len().saturating_sub(1) as u64;
        if seq > last {
            return Err(Failure::hinted(
                anyhow::anyhow!("there is no event seq {seq}: the log ends at seq {last}"),
                format!("pass --at 0 to {last}"),
            ));
        }
        let position = history
            .position_after(seq)
            .and_then(|position| position.head())
            .ok_or_else(|| Failure::from(anyhow::anyhow!("no head at seq {seq}")))?;
        let text = match args.format {
            ReplayFormat::Json => to_json(&crate::project::show::show_view(&state, position)),
            ReplayFormat::Text => show_document(&state, position, false),
            ReplayFormat::Md => show_document(&state, position, true),
        };
        print_stdout(&text)?;
        return Ok(EXIT_OK);
    }
    let entries: Vec<_> = history
        .events
        .iter()
        .map(entry)
        .filter(|entry| {
            args.task
                .as_ref()
                .is_none_or(|task| entry.task.as_ref() == Some(task))
        })
        .filter(|entry| args.kind.as_ref().is_none_or(|kind| entry.kind == kind))
        .collect();
    let text = match args.format {
        ReplayFormat::Json => to_json(&serde_json::json!({ "events": entries })),
        ReplayFormat::Text => timeline_text(&entries, false),
        ReplayFormat::Md => timeline_text(&entries, true),
    };
    print_stdout(&text)?;
    Ok(EXIT_OK)
}

/// Returns the failure for a log that cannot be replayed: `hint` unless a newer omk wrote it.
fn replay_failure(error: ReplayError, dir: &Path, hint: String) -> Failure {
    match &error {
        ReplayError::Decode(decode) if decode.is_newer() => {
            let log = dir.join(LOG_FILE_NAME).display().to_string();
            let hint = newer_omk_hint(&log, None);
            Failure::hinted(anyhow::anyhow!("cannot fold {log}: {error}"), hint)
        }
        _ => Failure::hinted(error, hint),
    }
}

fn goal_dir(args: &ReplayArgs) -> Result<PathBuf, Failure> {
    let as_path = Path::new(&args.goal);
    if as_path.is_file() {
        // Only a goal's log names its directory: any other file is a mistake, not a goal.
        if as_path.file_name() != Some(std::ffi::OsStr::new(LOG_FILE_NAME)) {
            return Err(Failure::hinted(
                anyhow::anyhow!("{} is a file, not a goal's log", as_path.display()),
                "pass a goal id, `latest`, a goal directory, or its events.jsonl",
            ));
        }
        return Ok(LogPaths::resolve(as_path).dir().to_path_buf());
    }
    if as_path.join(LOG_FILE_NAME).is_file() {
        return Ok(as_path.to_path_buf());
    }
    let context = Context::new(args.repo.clone(), None)?;
    Ok(context.resolve(&args.goal)?.dir().to_path_buf())
}

fn verify(args: &ReplayArgs) -> Result<u8, Failure> {
    let dirs = if args.all {
        let context = Context::new(args.repo.clone(), None)?;
        let ids = context.state_dir.goal_ids().map_err(Failure::from)?;
        ids.iter()
            .map(|id| context.state_dir.goal(id).dir().to_path_buf())
            .collect()
    } else {
        vec![goal_dir(args)?]
    };
    let mut reports = Vec::new();
    for dir in &dirs {
        let report = verify_goal_dir(dir).map_err(|error| {
            replay_failure(
                error,
                dir,
                format!("run `omk log verify {}` for the chain alone", dir.display()),
            )
        })?;
        reports.push((dir.display().to_string(), report));
    }
    let intact = reports.iter().all(|(_, report)| report.intact);
    match args.format {
        ReplayFormat::Json => {
            let goals: Vec<_> = reports
                .iter()
                .map(|(dir, report)| serde_json::json!({ "dir": dir, "report": report }))
                .collect();
            print_stdout(&to_json(
                &serde_json::json!({ "intact": intact, "goals": goals }),
            ))?;
        }
        _ => {
            for (dir, report) in &reports {
                print_report(dir, report)?;
            }
        }
    }
    Ok(if intact { EXIT_OK } else { EXIT_FINDINGS })
}

fn print_report(dir: &str, report: &ReplayReport) -> Result<(), Failure> {
    let notes: String = report
        .notes
        .iter()
        .map(|note| format!("note: {dir}/{}: {}\n", note.file, note.message))
        .collect();
    if report.intact {
        let projections = if report.projections_checked.is_empty() {
            "no projection beside it to check".to_owned()
        } else {
            format!(
                "projections follow from the log ({})",
                report.projections_checked.join(", ")
            )
        };
        return print_stdout(&format!(
            "ok: {dir}: {} events intact, {} artifacts checked, {projections}, the fold is deterministic\n{notes}",
            report.log.events, report.log.artifacts_checked
        ));
    }
    print_stdout(&notes)?;
    for finding in report
        .log
        .findings
        .iter()
        .filter(|finding| finding.severity == crate::log::verify::Severity::Error)
    {
        let place = match (finding.seq, finding.offset) {
            (Some(seq), Some(offset)) => format!(" at seq {seq} (byte {offset})"),
            (Some(seq), None) => format!(" at seq {seq}"),
            _ => String::new(),
        };
        print_stderr(&format!(
            "omk: {dir}/events.jsonl{place}: {}",
            finding.message
        ));
    }
    for finding in &report.findings {
        let path = finding
            .path
            .as_ref()
            .map(|path| format!(" at {path}"))
            .unwrap_or_default();
        print_stderr(&format!(
            "omk: {dir}/{}{path}: {}",
            finding.file, finding.message
        ));
    }
    print_stderr("hint: a projection can be deleted (commands rebuild it from the log); a damaged log or artifact must be restored from a copy");
    Ok(())
}
