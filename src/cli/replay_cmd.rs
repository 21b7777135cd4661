//! `omk replay`: a goal's timeline from its events alone, its state at any event, and
//! `--verify`: the chain, the artifacts, every projection, and the fold's determinism.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use std::ops::ControlFlow;

use crate::cli::{print_stderr, print_stdout, Failure, StdoutStream, EXIT_FINDINGS, EXIT_OK};
use crate::event::{DecodeError, RecordedEvent};
use crate::log::paths::LOG_FILE_NAME;
use crate::log::LogPaths;
use crate::ops::replay::{stream_events, verify_goal_dir, ReplayError, ReplayReport};
use crate::ops::report::{report, ReportError};
use crate::project::show::show_document;
use crate::project::timeline::{entry, json_pieces, timeline_line};
use crate::project::to_json;
use crate::store::{GoalDir, StoreError};

use crate::cli::context::{newer_omk_hint, Context};

/// How `replay` prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ReplayFormat {
    #[default]
    Text,
    Json,
    Md,
    /// The goal's report: one self-contained HTML page, as `omk goal report` makes it.
    Html,
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
    if args.format == ReplayFormat::Html {
        refuse_html_with_filters(&args)?;
    }
    if args.verify {
        return verify(&args);
    }
    let dir = goal_dir(&args)?;
    let hint = format!("run `omk log verify {}` for the full report", dir.display());
    let listing = match args.format {
        ReplayFormat::Html => return html(&dir, args.at, hint),
        ReplayFormat::Text => Listing::Text,
        ReplayFormat::Json => Listing::Json,
        ReplayFormat::Md => Listing::Md,
    };
    if let Some(seq) = args.at {
        return at(&dir, seq, listing, hint);
    }
    timeline(&args, &dir, listing, hint)
}

/// How the timeline and `--at` print: the formats that are not the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Listing {
    Text,
    Json,
    Md,
}

/// Refuses what the page does not do: it is the whole goal (at `--at`, if given), never a
/// filtered timeline or the verification report.
fn refuse_html_with_filters(args: &ReplayArgs) -> Result<(), Failure> {
    let flag = match (args.verify, &args.task, &args.kind) {
        (true, _, _) => "--verify",
        (false, Some(_), _) => "--task",
        (false, None, Some(_)) => "--kind",
        (false, None, None) => return Ok(()),
    };
    Err(Failure::hinted(
        anyhow::anyhow!("--format html is the whole goal's report; it does not take {flag}"),
        "drop the flag, or pick --format text, json or md",
    ))
}

/// Prints the goal's report, as it stands or as it stood right after event `at`.
fn html(dir: &Path, at: Option<u64>, hint: String) -> Result<u8, Failure> {
    let page = report(&GoalDir::at(dir), at).map_err(|error| match error {
        ReportError::Store(error) => match *error {
            StoreError::Decode { source, .. } => {
                replay_failure(ReplayError::Decode(source), dir, hint)
            }
            other => Failure::hinted(other, "pick a goal with events"),
        },
        ReportError::Replay(error) => replay_failure(error, dir, hint),
        error @ ReportError::PastTheEnd { last, .. } => {
            Failure::hinted(error, format!("pass --at 0 to {last}"))
        }
        error @ ReportError::Write { .. } => Failure::from(error),
    })?;
    print_stdout(&page)?;
    Ok(EXIT_OK)
}

/// Prints the goal as it stood right after event `seq`.
fn at(dir: &Path, seq: u64, format: Listing, hint: String) -> Result<u8, Failure> {
    let goal = GoalDir::at(dir);
    let loaded = goal.load_through(seq).map_err(|error| match error {
        StoreError::Decode { source, .. } => replay_failure(ReplayError::Decode(source), dir, hint),
        other => Failure::hinted(other, "pick a goal with events"),
    })?;
    let last = loaded.position.next_seq.saturating_sub(1);
    if seq > last {
        return Err(Failure::hinted(
            anyhow::anyhow!("there is no event seq {seq}: the log ends at seq {last}"),
            format!("pass --at 0 to {last}"),
        ));
    }
    let head = loaded.head();
    let text = match format {
        Listing::Json => to_json(&crate::project::show::show_view(&loaded.state, head)),
        Listing::Text => show_document(&loaded.state, head, false),
        Listing::Md => show_document(&loaded.state, head, true),
    };
    print_stdout(&text)?;
    Ok(EXIT_OK)
}

/// Streams the timeline: each event's line is made on the checker threads and written as soon
/// as its turn comes, so memory stays flat and a reader sees the first lines at once.
fn timeline(args: &ReplayArgs, dir: &Path, format: Listing, hint: String) -> Result<u8, Failure> {
    let (task, kind) = (args.task.as_deref(), args.kind.as_deref());
    let render = |decoded: Result<RecordedEvent, DecodeError>| {
        let entry = entry(&decoded?);
        let wanted = task.is_none_or(|task| entry.task.as_deref() == Some(task))
            && kind.is_none_or(|kind| entry.kind == kind);
        Ok::<_, DecodeError>(wanted.then(|| match format {
            Listing::Json => json_pieces::entry(&entry),
            Listing::Text => timeline_line(&entry, false),
            Listing::Md => timeline_line(&entry, true),
        }))
    };
    let mut out = StdoutStream::default();
    let mut written = 0u64;
    let mut failure = None;
    let end = stream_events(
        &LogPaths::resolve(dir),
        &render,
        |rendered| match rendered {
            Ok(None) => ControlFlow::Continue(()),
            Ok(Some(text)) => {
                if format == Listing::Json {
                    out.write(if written == 0 {
                        json_pieces::OPEN
                    } else {
                        json_pieces::BETWEEN
                    })?;
                }
                written += 1;
                out.write(&text)
            }
            Err(error) => {
                failure = Some(error);
                ControlFlow::Break(())
            }
        },
    );
    if let Some(error) = failure {
        let _ = out.finish();
        return Err(replay_failure(error.into(), dir, hint));
    }
    let end = end.map_err(|error| replay_failure(error, dir, hint))?;
    if format == Listing::Json && !end.stopped {
        let _ = out.write(if written == 0 {
            json_pieces::EMPTY
        } else {
            json_pieces::CLOSE
        });
    }
    out.finish()?;
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
