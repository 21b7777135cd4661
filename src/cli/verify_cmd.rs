//! `omk gates`, `omk goal verify`, `omk goal review`, `omk goal proof` and `omk goal report`:
//! which gates run, running them on the goal's claimed tree, the controller's review, the
//! proof, and the proof's page to look at.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;

use crate::cli::terminal::paint_verdict;
use crate::cli::{
    print_stderr, print_stdout, print_stdout_painted, Failure, Format, EXIT_FINDINGS, EXIT_OK,
};
use crate::event::{FindingSeverity, TaskId};
use crate::ops::attest::sign_proof;
use crate::ops::report::{report, write_report, ReportError};
use crate::ops::review::{review_goal, ReviewError};
use crate::ops::settings::Overrides;
use crate::ops::verify::{verify_goal, VerifyProgress, VerifyRequest};
use crate::plan::documents::format_duration;
use crate::project::budget::command_result;
use crate::project::glance::next_step;
use crate::project::proof::{proof, proof_markdown, statement};
use crate::project::to_json;
use crate::shell::interrupt::{self, EXIT_INTERRUPTED};
use crate::store::StoreError;

use crate::cli::context::{refused, signing_key, store_failure, Context};
use crate::cli::verify_view::{verify_failure, VerifyView};

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// A goal id, or `latest`
    #[arg(default_value = "latest")]
    goal: String,
    /// Verify this task's worktree instead of the goal's claimed tree
    #[arg(long, value_name = "TASK")]
    task: Option<TaskId>,
    /// How many gates run at once
    #[arg(long, value_name = "N")]
    max_parallel: Option<usize>,
    /// Output format (JSON carries timestamps, never ages)
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Runs `omk gates`: what would run, and why.
pub(super) fn gates_command(context: &Context, format: Format) -> Result<u8, Failure> {
    let gates = context.settings(&Overrides::default())?.gates;
    match format {
        Format::Json => print_stdout(&to_json(&serde_json::json!({ "gates": gates })))?,
        Format::Text => {
            let mut text = String::new();
            for gate in &gates {
                let required = if gate.required {
                    "required"
                } else {
                    "optional"
                };
                let red = if gate.red_first { ", red first" } else { "" };
                let when = if gate.when_changed.is_empty() {
                    String::new()
                } else {
                    format!(", when {} changes", gate.when_changed.join(" or "))
                };
                text.push_str(&format!(
                    "{:<12} {}  ({required}, timeout {}{red}{when}, in {}; {})\n",
                    gate.name,
                    gate.command,
                    format_duration(gate.timeout_secs),
                    gate.dir,
                    gate.why
                ));
            }
            print_stdout(&text)?;
        }
    }
    Ok(EXIT_OK)
}

/// Runs `omk goal verify`.
pub(super) fn verify_command(context: &Context, args: &VerifyArgs) -> Result<u8, Failure> {
    let goal = context.resolve(&args.goal)?;
    let settings = context.settings(&Overrides {
        max_parallel: args.max_parallel,
        ..Overrides::default()
    })?;
    let request = VerifyRequest {
        gates: settings.gates,
        max_parallel: settings.max_parallel,
        task: args.task.clone(),
        interrupt: interrupt::listen(),
    };
    let mut view = VerifyView::new(std::io::stderr().is_terminal());
    let mut report = |event: VerifyProgress| view.show(&event);
    let outcome = verify_goal(
        &goal,
        &context.repo_root,
        &context.clock,
        &request,
        &mut report,
    )
    .map_err(verify_failure)?;
    let state = &outcome.loaded.state;
    if outcome.interrupted {
        let stopped: Vec<String> = outcome
            .ran
            .iter()
            .filter(|run| run.interrupted)
            .map(|run| {
                let base = if run.baseline {
                    " on the base commit"
                } else {
                    ""
                };
                format!("{}{base}", run.gate)
            })
            .collect();
        print_stderr(&format!(
            "omk: verification of goal {} interrupted{}; nothing is left running. Resume with: omk goal verify {}",
            state.goal_id,
            if stopped.is_empty() {
                String::new()
            } else {
                format!(" (stopped gate {})", stopped.join(", "))
            },
            state.goal_id
        ));
        return Ok(EXIT_INTERRUPTED);
    }
    match args.format {
        Format::Json => print_stdout(&to_json(&command_result(
            state,
            outcome.loaded.head(),
            "verified",
        )))?,
        Format::Text => {
            let verdict = if outcome.failed_required.is_empty() {
                "every required gate passed".to_owned()
            } else {
                format!(
                    "required gates failed: {}",
                    outcome.failed_required.join(", ")
                )
            };
            print_stdout(&format!(
                "verified goal {}: {verdict}; now {}; next: {}\n",
                state.goal_id,
                state.status,
                next_step(state)
            ))?;
        }
    }
    Ok(if outcome.failed_required.is_empty() {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    })
}

#[derive(Args, Debug)]
pub struct ReviewArgs {
    /// A goal id, or `latest`
    #[arg(default_value = "latest")]
    goal: String,
    /// Output format (JSON carries timestamps, never ages)
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Runs `omk goal review`.
pub(super) fn review_command(context: &Context, args: &ReviewArgs) -> Result<u8, Failure> {
    let goal = context.resolve(&args.goal)?;
    let loaded =
        review_goal(&goal, &context.repo_root, &context.clock).map_err(|error| match error {
            ReviewError::Store(error) => match *error {
                StoreError::Refused(refusal) => refused(refusal),
                other => store_failure(other),
            },
            other => Failure::from(other),
        })?;
    let state = &loaded.state;
    let Some(review) = &state.review else {
        return Err(Failure::from(anyhow::anyhow!("the review left no record")));
    };
    match args.format {
        Format::Json => print_stdout(&to_json(&command_result(state, loaded.head(), "reviewed")))?,
        Format::Text => {
            let outcome = if review.passed {
                format!(
                    "passed ({} files, {} findings)",
                    review.files_reviewed,
                    review.findings.len()
                )
            } else {
                let first: Vec<String> = review
                    .findings
                    .iter()
                    .filter(|finding| finding.severity == FindingSeverity::High)
                    .take(3)
                    .map(|finding| match (&finding.file, finding.line) {
                        (Some(file), Some(line)) => format!("{file}:{line}: {}", finding.message),
                        (Some(file), None) => format!("{file}: {}", finding.message),
                        _ => finding.message.clone(),
                    })
                    .collect();
                format!(
                    "{} blocking findings: {}",
                    review.blocking,
                    first.join("; ")
                )
            };
            print_stdout(&format!(
                "reviewed goal {}: {outcome}; now {}; next: {}\n",
                state.goal_id,
                state.status,
                next_step(state)
            ))?;
        }
    }
    Ok(if review.passed {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    })
}

/// How `proof` prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ProofFormat {
    #[default]
    Md,
    Json,
    InToto,
}

#[derive(Args, Debug)]
pub struct ProofArgs {
    /// A goal id, or `latest`
    #[arg(default_value = "latest")]
    goal: String,
    /// Output format: Markdown, the proof JSON, or an in-toto Statement v1
    #[arg(long, value_enum, default_value_t)]
    format: ProofFormat,
    /// Sign the in-toto statement with your key (`omk key generate`): prints a DSSE envelope
    #[arg(long)]
    sign: bool,
}

/// Runs `omk goal proof`: exit 0 when the verdict is ready, 1 when it is not.
pub(super) fn proof_command(context: &Context, args: &ProofArgs) -> Result<u8, Failure> {
    let goal = context.resolve(&args.goal)?;
    let loaded = goal.load().map_err(store_failure)?;
    let proof = proof(&loaded.state, loaded.head(), loaded.tree_head());
    let ready = proof.verdict.ready;
    let text = match (args.format, args.sign) {
        (ProofFormat::InToto, true) => {
            let Some(key) = signing_key()? else {
                return Err(Failure::hinted(
                    anyhow::anyhow!("there is no signing key to sign the proof with"),
                    "make one with `omk key generate` (or point OMK_SIGNING_KEY at one)",
                ));
            };
            to_json(&sign_proof(proof, &key))
        }
        (_, true) => {
            return Err(Failure::hinted(
                anyhow::anyhow!("--sign signs the in-toto statement"),
                "pass --format in-toto --sign",
            ))
        }
        (ProofFormat::Md, false) => {
            let verdict = if ready { "READY" } else { "NOT READY" };
            return print_stdout_painted(&proof_markdown(&proof), |text| {
                paint_verdict(text, verdict, ready)
            })
            .map(|()| if ready { EXIT_OK } else { EXIT_FINDINGS });
        }
        (ProofFormat::Json, false) => to_json(&proof),
        (ProofFormat::InToto, false) => to_json(&statement(proof)),
    };
    print_stdout(&text)?;
    Ok(if ready { EXIT_OK } else { EXIT_FINDINGS })
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A goal id, or `latest`
    #[arg(default_value = "latest")]
    goal: String,
    /// Write the page to FILE (whole, through a temporary file) and print its path, instead of printing the page
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Runs `omk goal report`: the page on stdout, or written to `--out` and its path printed.
pub(super) fn report_command(context: &Context, args: &ReportArgs) -> Result<u8, Failure> {
    let goal = context.resolve(&args.goal)?;
    let html = report(&goal, None).map_err(report_failure)?;
    match &args.out {
        Some(path) => {
            write_report(path, &html).map_err(report_failure)?;
            print_stdout(&format!("{}\n", path.display()))?;
        }
        None => print_stdout(&html)?,
    }
    Ok(EXIT_OK)
}

fn report_failure(error: ReportError) -> Failure {
    match error {
        ReportError::Store(error) => store_failure(*error),
        error @ ReportError::Write { .. } => Failure::hinted(
            error,
            "pass --out a file in a directory that exists and that you can write",
        ),
        error => Failure::from(error),
    }
}
