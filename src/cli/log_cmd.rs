//! `omk log verify` and `omk log repair`: the event log, checked and mended by hand.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::context::read_public_key;
use crate::cli::{print_stderr, print_stdout, Failure, Format, EXIT_FINDINGS, EXIT_OK};
use crate::log::proof::{check_proof, prove_consistency, prove_inclusion, LogProof, Proven};
use crate::log::repair::{accept_truncation, repair_log, RepairError, Repaired};
use crate::log::verify::{Finding, LogFault, Problem, Severity};
use crate::log::{verify_log, LogPaths, VerifyOptions, VerifyReport};
use crate::project::show::plural;

#[derive(Subcommand, Debug)]
pub enum LogCommand {
    /// Check a log's chain, torn tail, head checkpoint and artifacts
    Verify(VerifyArgs),
    /// Move a torn tail (an interrupted append) into a side file, keeping every complete event
    Repair(RepairArgs),
    /// Prove that an event is in the log's Merkle tree (--seq), or that the tree extends an earlier one (--from)
    Prove(ProveArgs),
    /// Check a proof from `omk log prove` without the log, against a head you trust
    CheckProof(CheckProofArgs),
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["seq", "from"])))]
pub struct ProveArgs {
    /// A log file (`events.jsonl`) or the directory that holds it
    path: PathBuf,
    /// Prove that the event with this seq is in the tree
    #[arg(long, value_name = "N")]
    seq: Option<u64>,
    /// Prove that the tree extends its first SIZE events' tree
    #[arg(long, value_name = "SIZE")]
    from: Option<u64>,
    /// The tree to speak for: its first SIZE events (default: every complete event)
    #[arg(long, value_name = "SIZE")]
    size: Option<u64>,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("trusted").multiple(true).requires_all(["root", "size"]).args(["root", "size"])))]
pub struct CheckProofArgs {
    /// The proof (JSON from `omk log prove`)
    proof: PathBuf,
    /// The root of a head you trust (64 hex digits); with --size
    #[arg(long, value_name = "ROOT")]
    root: Option<crate::log::EventHash>,
    /// The size of that head
    #[arg(long, value_name = "SIZE")]
    size: Option<u64>,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// A log file (`events.jsonl`) or the directory that holds it
    path: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Threads that hash and parse lines, 1 to 256 (default: every core)
    #[arg(long, value_parser = parse_threads)]
    threads: Option<NonZeroUsize>,
    /// Skip re-hashing the recorded artifacts
    #[arg(long)]
    skip_artifacts: bool,
    /// Also require the head to be signed by this public key (PEM, from `omk key show`)
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RepairArgs {
    /// A log file (`events.jsonl`) or the directory that holds it
    path: PathBuf,
    /// When the log was truncated behind its checkpoint, keep its complete events and accept
    /// that the rest is lost (the old checkpoint and any torn bytes are moved aside)
    #[arg(long)]
    accept_truncation: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// The most checker threads a verification starts: more only cost memory and start-up.
const MAX_THREADS: usize = 256;

fn parse_threads(text: &str) -> Result<NonZeroUsize, String> {
    match text.parse::<usize>() {
        Ok(count @ 1..=MAX_THREADS) => Ok(NonZeroUsize::new(count).unwrap_or(NonZeroUsize::MIN)),
        _ => Err(format!("give a number of threads from 1 to {MAX_THREADS}")),
    }
}

/// Runs a `log` subcommand and returns its exit code.
pub fn run(command: LogCommand) -> Result<u8, Failure> {
    match command {
        LogCommand::Verify(args) => verify(args),
        LogCommand::Repair(args) => repair(args),
        LogCommand::Prove(args) => prove(args),
        LogCommand::CheckProof(args) => check(args),
    }
}

fn prove(args: ProveArgs) -> Result<u8, Failure> {
    let paths = LogPaths::resolve(&args.path);
    let proof = match (args.seq, args.from) {
        (Some(seq), _) => prove_inclusion(&paths, seq, args.size),
        // clap requires --seq or --from; a missing --from would be refused as size 0.
        (None, from) => prove_consistency(&paths, from.unwrap_or_default(), args.size),
    }
    .map_err(|error| {
        Failure::hinted(
            error,
            "`omk log verify` shows how many events the log holds; proofs speak for complete events only",
        )
    })?;
    print_stdout(&crate::project::to_json(&proof))?;
    Ok(EXIT_OK)
}

fn check(args: CheckProofArgs) -> Result<u8, Failure> {
    let text = std::fs::read_to_string(&args.proof).map_err(|error| {
        Failure::hinted(
            anyhow::anyhow!("cannot read {}: {error}", args.proof.display()),
            "pass the JSON file `omk log prove` wrote",
        )
    })?;
    let proof: LogProof = serde_json::from_str(&text).map_err(|error| {
        Failure::hinted(
            anyhow::anyhow!(
                "{} is not a proof from `omk log prove`: {error}",
                args.proof.display()
            ),
            "pass the JSON file `omk log prove` wrote",
        )
    })?;
    let trusted = args.size.zip(args.root);
    match check_proof(&proof, trusted) {
        Ok(proven) => {
            let said = match &proven {
                Proven::Included { seq, kind, size, root } => format!(
                    "ok: event seq {seq} (`{kind}`) is in the tree of {size} events with root {root}"
                ),
                Proven::Extends { old_size, old_root, size, root } => format!(
                    "ok: the tree of {size} events (root {root}) extends the tree of {old_size} (root {old_root})"
                ),
            };
            let against = if trusted.is_some() {
                "; that is the head you trust".to_owned()
            } else {
                "\nnote: checked against the head the proof names; pass --size and --root of a head you trust (a signed one, or one you saw before) to bind it".to_owned()
            };
            print_stdout(&format!("{said}{against}\n"))?;
            Ok(EXIT_OK)
        }
        Err(fault) => {
            print_stderr(&format!(
                "omk: {}: the proof does not hold: {fault}",
                args.proof.display()
            ));
            Ok(EXIT_FINDINGS)
        }
    }
}

fn verify(args: VerifyArgs) -> Result<u8, Failure> {
    let paths = LogPaths::resolve(&args.path);
    let mut options = VerifyOptions::all_cores();
    options.threads = args.threads.unwrap_or(options.threads);
    options.check_artifacts = !args.skip_artifacts;
    let hint = "pass an events.jsonl file or the goal directory that holds one";
    let trusted = args.key.as_deref().map(read_public_key).transpose()?;
    let mut report = verify_log(&paths, options).map_err(|error| Failure::hinted(error, hint))?;
    if let Some(key) = &trusted {
        report.require_signer(key);
    }
    if let Some(covers) = crate::store::snapshot_claim(paths.dir()) {
        report
            .check_projection(&paths, crate::store::SNAPSHOT_FILE, covers)
            .map_err(|error| Failure::hinted(error, hint))?;
    }
    match args.format {
        Format::Json => print_stdout(&format!("{}\n", to_json(&report)))?,
        Format::Text => print_verify_text(&report, &args.path)?,
    }
    Ok(if report.intact {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    })
}

/// Returns what the checkpoint says of the tree: its root, and who signed it.
fn tree_words(report: &VerifyReport) -> String {
    let Some(checkpoint) = &report.checkpoint else {
        return String::new();
    };
    let Some(tree) = checkpoint.tree_head() else {
        return String::new();
    };
    let signer = match &checkpoint.signed {
        Some(signed) => format!(
            ", signed by key {}…",
            signed.key_id.get(..12).unwrap_or(&signed.key_id)
        ),
        None => String::new(),
    };
    format!(
        "; Merkle root {}… at {}{signer}",
        &tree.root.to_hex()[..12],
        plural(tree.size, "event")
    )
}

fn print_verify_text(report: &VerifyReport, arg: &std::path::Path) -> Result<(), Failure> {
    let notes = report
        .findings
        .iter()
        .filter(|finding| finding.severity == Severity::Note);
    let Some(first) = report.first_error() else {
        let head = match &report.head {
            Some(head) => format!(", head seq {} ({}…)", head.seq, &head.hash.to_hex()[..12]),
            None => String::new(),
        };
        print_stdout(&format!(
            "ok: {} intact: {}{head}, {} checked{}\n",
            report.log,
            plural(report.events, "event"),
            plural(report.artifacts_checked, "artifact"),
            tree_words(report)
        ))?;
        for note in notes {
            print_stderr(&format!("note: {}", note.message));
        }
        return Ok(());
    };
    print_stderr(&format!("omk: {}", describe(first, &report.log)));
    for finding in report.findings.iter().filter(|f| !std::ptr::eq(*f, first)) {
        let label = match finding.severity {
            Severity::Error => "also",
            Severity::Note => "note",
        };
        print_stderr(&format!("{label}: {}", describe(finding, &report.log)));
    }
    // A truncation decides what can be done (repair alone refuses it), whichever came first.
    let decisive = report
        .findings
        .iter()
        .find(|finding| {
            matches!(
                finding.problem,
                Problem::Log(LogFault::TruncatedAgainstCheckpoint { .. })
            )
        })
        .unwrap_or(first);
    print_stderr(&format!("hint: {}", hint_for(decisive, arg)));
    Ok(())
}

/// Returns a finding as `… at seq N (byte B) in PATH: message`.
fn describe(finding: &Finding, log: &str) -> String {
    let location = match (finding.seq, finding.offset) {
        (Some(seq), Some(offset)) => format!(" at seq {seq} (byte {offset})"),
        (Some(seq), None) => format!(" at seq {seq}"),
        (None, Some(offset)) => format!(" at byte {offset}"),
        (None, None) => String::new(),
    };
    let subject = match &finding.problem {
        Problem::Chain(_) => "event log corrupt",
        Problem::Log(LogFault::TornTail { .. }) => "event log torn",
        Problem::Log(
            LogFault::ArtifactMissing { .. }
            | LogFault::ArtifactAltered { .. }
            | LogFault::ArtifactSizeMismatch { .. },
        ) => "artifact check failed",
        Problem::Log(LogFault::TruncatedAgainstCheckpoint { .. }) => "event log truncated",
        Problem::Log(LogFault::ProjectionNotInChain { .. }) => "projection not in the chain",
        Problem::Log(_) => "event log checkpoint",
    };
    format!("{subject}{location} in {log}: {}", finding.message)
}

fn hint_for(finding: &Finding, arg: &std::path::Path) -> String {
    match &finding.problem {
        Problem::Log(LogFault::TornTail { .. }) => format!(
            "run `omk log repair {}` to move the torn bytes aside; appends are refused until then",
            arg.display()
        ),
        Problem::Log(
            LogFault::ArtifactMissing { .. }
            | LogFault::ArtifactAltered { .. }
            | LogFault::ArtifactSizeMismatch { .. },
        ) => "restore the artifact from a copy of the goal directory; the chain itself verified"
            .to_owned(),
        Problem::Log(LogFault::TruncatedAgainstCheckpoint { .. }) => format!(
            "restore the log from a copy; or, if the lost events are gone for good, `omk log repair {} --accept-truncation` keeps the complete events that are left",
            arg.display()
        ),
        Problem::Log(LogFault::NotSignedByKey { .. }) => "its holder did not sign this head: ask them for the goal, or check the log with the key that did sign it (`omk log verify` without --key names it)".to_owned(),
        Problem::Log(LogFault::ProjectionNotInChain { file, .. }) => format!(
            "delete {} (commands rebuild it from the log); the chain itself verified",
            arg.join(file).display()
        ),
        _ => "the log was changed after it was written: restore it from a copy; appends are refused until it verifies".to_owned(),
    }
}

fn repair(args: RepairArgs) -> Result<u8, Failure> {
    let paths = LogPaths::resolve(&args.path);
    let repair = if args.accept_truncation {
        accept_truncation
    } else {
        repair_log
    };
    let repaired = repair(&paths).map_err(|error| match error {
        RepairError::CheckpointAhead { events, .. } => {
            let hint = format!(
                "restore the log from a copy; or, if the lost events are gone for good, `omk log repair {} --accept-truncation` keeps the {} that are left",
                args.path.display(),
                plural(events, "complete event")
            );
            Failure::hinted(error, hint)
        }
        RepairError::Corrupt { .. } => Failure::hinted(
            error,
            format!(
                "run `omk log verify {}` for the full report",
                args.path.display()
            ),
        ),
        other => Failure::from(other),
    })?;
    let text = match (&repaired, args.format) {
        (Repaired::AcceptedTruncation { .. }, Format::Text) => {
            truncation_text(paths.log(), &repaired)
        }
        (_, Format::Json) => to_json(&repaired_json(&repaired)),
        (Repaired::NothingToRepair { events }, Format::Text) => format!(
            "nothing to repair: {} has no torn tail ({})",
            paths.log().display(),
            plural(*events, "event")
        ),
        (
            Repaired::MovedTornTail {
                offset,
                bytes,
                side_file,
                events,
                ..
            },
            Format::Text,
        ) => format!(
            "repaired {}: moved {} from byte {offset} to {}; {} kept",
            paths.log().display(),
            plural(*bytes, "torn byte"),
            side_file.display(),
            plural(*events, "event")
        ),
    };
    print_stdout(&format!("{text}\n"))?;
    Ok(EXIT_OK)
}

fn truncation_text(log: &std::path::Path, repaired: &Repaired) -> String {
    let Repaired::AcceptedTruncation {
        events,
        checkpoint_seq,
        old_checkpoint,
        torn,
        ..
    } = repaired
    else {
        return String::new();
    };
    let torn = torn
        .as_ref()
        .map_or(String::new(), |(offset, bytes, file)| {
            format!(
                "; moved {} from byte {offset} to {}",
                plural(*bytes, "torn byte"),
                file.display()
            )
        });
    format!(
        "accepted the truncation of {}: it keeps {}; events {events} to {checkpoint_seq} are lost; the old checkpoint is at {}{torn}",
        log.display(),
        plural(*events, "complete event"),
        old_checkpoint.display()
    )
}

fn repaired_json(repaired: &Repaired) -> serde_json::Value {
    match repaired {
        Repaired::AcceptedTruncation {
            events,
            head,
            checkpoint_seq,
            old_checkpoint,
            torn,
        } => serde_json::json!({
            "repaired": true,
            "accepted_truncation": true,
            "events": events,
            "head": head,
            "lost_from_seq": events,
            "lost_through_seq": checkpoint_seq,
            "old_checkpoint": old_checkpoint,
            "torn": torn.as_ref().map(|(offset, bytes, file)| serde_json::json!({
                "offset": offset,
                "bytes": bytes,
                "side_file": file,
            })),
        }),
        Repaired::NothingToRepair { events } => serde_json::json!({
            "repaired": false,
            "events": events,
        }),
        Repaired::MovedTornTail {
            offset,
            bytes,
            side_file,
            events,
            head,
        } => serde_json::json!({
            "repaired": true,
            "torn_offset": offset,
            "torn_bytes": bytes,
            "side_file": side_file,
            "events": events,
            "head": head,
        }),
    }
}

/// Returns `1 event`, `2 events`.
fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
