//! Full verification of a log: chain, torn tail, head checkpoint and artifacts.
//!
//! Findings are data ([`VerifyReport`]); `Err` means the check itself could not run.
//! Must not change anything on disk, and must not stop at the first finding where later
//! checks still mean something (a broken chain ends the chain check, not the artifact check).

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io;
use std::num::NonZeroUsize;
use std::ops::ControlFlow;

use serde::Serialize;

use crate::log::artifacts::{ArtifactCheck, ArtifactRef, ArtifactStore, ContentHash};
use crate::log::chain::{Head, LinkInfo, Position};
use crate::log::checkpoint::{read_checkpoint, Checkpoint};
use crate::log::hash::EventHash;
use crate::log::lock::LogLock;
use crate::log::merkle::{leaf_hash, RootBuilder, TreeHash};
use crate::log::paths::LogPaths;
use crate::log::walk::{walk_decoding, ChainFault, Decoder, LineView, Walk};
use crate::trust::PublicKey;

/// How to verify.
#[derive(Clone, Copy, Debug)]
pub struct VerifyOptions {
    /// Returns how many threads hash and parse lines (the link check is always sequential).
    pub threads: NonZeroUsize,
    /// Returns whether recorded artifacts are re-hashed.
    pub check_artifacts: bool,
}

impl VerifyOptions {
    /// Returns options that use every core and check artifacts.
    pub fn all_cores() -> VerifyOptions {
        VerifyOptions {
            threads: std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN),
            check_artifacts: true,
        }
    }
}

/// Whether a finding makes the log fail verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The log is not intact.
    Error,
    /// Worth knowing, but a state a crash can legitimately leave.
    Note,
}

/// A problem with the log as a whole, its checkpoint or its artifacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum LogFault {
    /// Bytes after the last complete batch: an interrupted append. `omk log repair` moves them aside.
    TornTail { bytes: u64 },
    /// The checkpoint names an event the log no longer has: the log was cut short.
    TruncatedAgainstCheckpoint {
        checkpoint_seq: u64,
        log_events: u64,
    },
    /// The checkpoint's event is in the log but with another hash or length: rewritten history.
    CheckpointDiverges { detail: String },
    /// The checkpoint file exists but cannot be read as one.
    CheckpointUnreadable { detail: String },
    /// No checkpoint beside a non-empty log (a crash before the first checkpoint, or deletion).
    CheckpointMissing,
    /// The checkpoint is behind the log (a crash between an append's fsync and its checkpoint).
    CheckpointLags { events_behind: u64 },
    /// A recorded artifact's file is not in the store.
    ArtifactMissing { name: String, hash: ContentHash },
    /// A recorded artifact's file no longer hashes to its recorded hash.
    ArtifactAltered {
        name: String,
        hash: ContentHash,
        actual: ContentHash,
    },
    /// A recorded artifact's size differs from the size in its event.
    ArtifactSizeMismatch {
        name: String,
        hash: ContentHash,
        recorded: u64,
        actual: u64,
    },
    /// The head is not signed by the key the checker trusts (`omk log verify --key`).
    NotSignedByKey { key_id: String, detail: String },
    /// A file beside the log (a snapshot, a projection) claims to follow from an event that is
    /// not in the chain where it says: it belongs to another log, or the log was rewritten.
    ProjectionNotInChain {
        file: String,
        claimed_seq: u64,
        claimed_hash: EventHash,
    },
}

impl LogFault {
    fn severity(&self) -> Severity {
        match self {
            LogFault::CheckpointMissing | LogFault::CheckpointLags { .. } => Severity::Note,
            _ => Severity::Error,
        }
    }
}

impl fmt::Display for LogFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogFault::TornTail { bytes } => write!(
                f,
                "torn tail: {bytes} bytes after the last complete batch (an interrupted append)"
            ),
            LogFault::TruncatedAgainstCheckpoint {
                checkpoint_seq,
                log_events,
            } => write!(
                f,
                "truncated: the checkpoint vouches for events through seq {checkpoint_seq}, but the log ends after {log_events} complete events"
            ),
            LogFault::CheckpointDiverges { detail } => write!(f, "checkpoint diverges: {detail}"),
            LogFault::CheckpointUnreadable { detail } => {
                write!(f, "checkpoint unreadable: {detail}")
            }
            LogFault::CheckpointMissing => write!(f, "no head checkpoint beside the log"),
            LogFault::NotSignedByKey { key_id, detail } => write!(
                f,
                "the head is not signed by the key you trust ({}…): {detail}",
                key_id.get(..12).unwrap_or(key_id)
            ),
            LogFault::CheckpointLags { events_behind } => write!(
                f,
                "the head checkpoint lags the log by {events_behind} events (the next append refreshes it)"
            ),
            LogFault::ArtifactMissing { name, hash } => {
                write!(f, "artifact `{name}` ({hash}) is missing from the store")
            }
            LogFault::ArtifactAltered { name, hash, actual } => write!(
                f,
                "artifact `{name}` is altered: recorded {hash}, the file hashes to {actual}"
            ),
            LogFault::ArtifactSizeMismatch {
                name,
                recorded,
                actual,
                ..
            } => write!(
                f,
                "artifact `{name}` is {actual} bytes but was recorded as {recorded}"
            ),
            LogFault::ProjectionNotInChain {
                file,
                claimed_seq,
                claimed_hash,
            } => write!(
                f,
                "{file} claims to follow from event seq {claimed_seq} ({claimed_hash}), which is not in this log, so commands ignore it"
            ),
        }
    }
}

/// Any problem verify can find.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Problem {
    Chain(ChainFault),
    Log(LogFault),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Chain(fault) => fault.fmt(f),
            Problem::Log(fault) => fault.fmt(f),
        }
    }
}

/// One finding, located by `seq` and byte offset where it has a location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Finding {
    /// Returns whether this finding fails verification.
    pub severity: Severity,
    /// Returns the first `seq` affected: the `seq` expected at a bad line, or the first lost one.
    pub seq: Option<u64>,
    /// Returns the byte offset in the log where the problem starts.
    pub offset: Option<u64>,
    /// Returns what is wrong.
    #[serde(flatten)]
    pub problem: Problem,
    /// Returns the problem as one sentence.
    pub message: String,
}

impl Finding {
    fn new(seq: Option<u64>, offset: Option<u64>, problem: Problem) -> Finding {
        let severity = match &problem {
            Problem::Chain(_) => Severity::Error,
            Problem::Log(fault) => fault.severity(),
        };
        Finding {
            severity,
            seq,
            offset,
            message: problem.to_string(),
            problem,
        }
    }
}

/// What verify found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct VerifyReport {
    /// Returns the log file verified.
    pub log: String,
    /// Returns whether no finding has severity `error`.
    pub intact: bool,
    /// Returns how many events of complete batches passed every check.
    pub events: u64,
    /// Returns the log's size in bytes as read.
    pub bytes: u64,
    /// Returns the last event of the last complete batch that passed every check.
    pub head: Option<Head>,
    /// Returns the head checkpoint as read, if it could be.
    pub checkpoint: Option<Checkpoint>,
    /// Returns how many distinct recorded artifacts were re-hashed.
    pub artifacts_checked: u64,
    /// Returns every finding: at most one for the chain (it ends the chain check), then the
    /// torn tail, the checkpoint and the artifacts.
    pub findings: Vec<Finding>,
}

impl VerifyReport {
    /// Checks that `file`, a projection beside the log, names a point that is in the chain
    /// (`covers`: just after the event it was derived from), and records a finding if not.
    pub fn check_projection(
        &mut self,
        paths: &LogPaths,
        file: &str,
        covers: Position,
    ) -> Result<(), VerifyError> {
        let in_chain = crate::log::reader::position_in_chain(paths, covers).map_err(|error| {
            VerifyError::Projection {
                file: file.to_owned(),
                detail: error.to_string(),
            }
        })?;
        if let (false, Some(head)) = (in_chain, covers.head()) {
            let problem = LogFault::ProjectionNotInChain {
                file: file.to_owned(),
                claimed_seq: head.seq,
                claimed_hash: head.hash,
            };
            // The claimed seq and offset are the projection's words, not places in this log.
            self.findings
                .push(Finding::new(None, None, Problem::Log(problem)));
            self.intact = false;
        }
        Ok(())
    }

    /// Requires the checkpoint's tree head to be signed by `key` (the signature itself was
    /// checked with the checkpoint's own key), and records a finding if it is not.
    pub fn require_signer(&mut self, key: &PublicKey) {
        let key_id = key.key_id();
        let signer = self
            .checkpoint
            .as_ref()
            .and_then(|checkpoint| checkpoint.signed.as_ref());
        let detail = match signer {
            Some(signed) if signed.key_id == key_id => return,
            Some(signed) => format!("it is signed by key {}", signed.key_id),
            None if self.checkpoint.is_none() => "there is no checkpoint".to_owned(),
            None => "the checkpoint is not signed".to_owned(),
        };
        let problem = LogFault::NotSignedByKey { key_id, detail };
        self.findings
            .push(Finding::new(None, None, Problem::Log(problem)));
        self.intact = false;
    }

    /// Returns the first finding of severity `error`, if any.
    pub fn first_error(&self) -> Option<&Finding> {
        self.findings
            .iter()
            .find(|finding| finding.severity == Severity::Error)
    }
}

/// Verification could not run.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot open {path}: {source}")]
    Open { path: String, source: io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error(transparent)]
    Artifact(#[from] crate::log::artifacts::ArtifactError),
    #[error("cannot check {file} against the log: {detail}")]
    Projection { file: String, detail: String },
}

/// Returns the report of verifying the log at `paths` under a shared lock.
pub fn verify_log(paths: &LogPaths, options: VerifyOptions) -> Result<VerifyReport, VerifyError> {
    verify_log_decoding(paths, options, &|_| (), |_, ()| {})
}

/// Where a verified event sits: its `seq`, the position just after it, and its Merkle leaf
/// (hashed on the checker threads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    pub seq: u64,
    pub after: Position,
    pub leaf: TreeHash,
}

/// The events of a batch whose last event has not been linked yet: handed on only once it has,
/// so that a visitor never sees an event of a batch that turns out torn.
pub(crate) struct OpenBatch<T> {
    events: Vec<(Verified, T)>,
}

impl<T> Default for OpenBatch<T> {
    fn default() -> OpenBatch<T> {
        OpenBatch { events: Vec::new() }
    }
}

impl<T> OpenBatch<T> {
    /// Holds a linked event; when it closes its batch, hands the batch to `visit` in order
    /// (stopping where `visit` asks to).
    pub(crate) fn add(
        &mut self,
        info: &LinkInfo,
        leaf: TreeHash,
        payload: T,
        mut visit: impl FnMut(Verified, T) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let verified = Verified {
            seq: info.seq,
            leaf,
            after: Position {
                next_seq: info.seq + 1,
                offset: info.end,
                prev: info.hash,
            },
        };
        if info.batch.is_last() && self.events.is_empty() {
            return visit(verified, payload);
        }
        self.events.push((verified, payload));
        if info.batch.is_last() {
            for (verified, payload) in self.events.drain(..) {
                visit(verified, payload)?;
            }
        }
        ControlFlow::Continue(())
    }
}

/// Verifies the log as [`verify_log`] does, and in the same pass hands every linked event to
/// `on_event` (in `seq` order) with the value `decode` made of it on the checker threads.
/// Only events of complete batches are handed over: those of a torn final batch are not.
pub fn verify_log_decoding<T: Send>(
    paths: &LogPaths,
    options: VerifyOptions,
    decode: Decoder<'_, T>,
    mut on_event: impl FnMut(Verified, T),
) -> Result<VerifyReport, VerifyError> {
    let log_display = paths.log().display().to_string();
    let read_error = |source| VerifyError::Read {
        path: log_display.clone(),
        source,
    };
    let open_error = |source| VerifyError::Open {
        path: log_display.clone(),
        source,
    };
    let _lock = LogLock::shared(paths).map_err(open_error)?;
    let file = File::open(paths.log()).map_err(open_error)?;
    let checkpoint = read_checkpoint(paths);
    let watched_seq = checkpoint
        .as_ref()
        .ok()
        .and_then(|c| c.as_ref().map(|c| c.seq));
    // Only a checkpoint that names a tree (version 2) has a root to check.
    let wants_tree = matches!(&checkpoint, Ok(Some(c)) if c.tree.is_some());
    let mut tree = RootBuilder::default();
    let mut at_checkpoint: Option<LinkInfo> = None;
    let mut artifacts: Vec<(u64, ArtifactRef)> = Vec::new();
    let mut batch = OpenBatch::default();
    let walk = walk_decoding(
        file,
        Position::START,
        options.threads.get(),
        // The leaf is hashed on the checker threads with the caller's decoding; only the
        // tree's inner nodes are hashed in order.
        &|view: LineView<'_>| (leaf_hash(&view.hash), decode(view)),
        |info, artifact, (leaf, payload)| {
            if wants_tree && watched_seq.is_some_and(|seq| info.seq <= seq) {
                tree.push(leaf);
            }
            if Some(info.seq) == watched_seq {
                at_checkpoint = Some(*info);
            }
            if let Some(artifact) = artifact {
                artifacts.push((info.seq, artifact.clone()));
            }
            batch.add(info, leaf, payload, |verified, payload| {
                on_event(verified, payload);
                ControlFlow::Continue(())
            })
        },
    )
    .map_err(read_error)?;

    let complete = walk.linker.complete();
    let mut findings = chain_findings(&walk);
    let checkpoint = match checkpoint {
        Ok(checkpoint) => {
            findings.extend(checkpoint_finding(
                checkpoint.as_ref(),
                at_checkpoint,
                &tree,
                &walk,
            ));
            checkpoint
        }
        Err(error) => {
            let problem = LogFault::CheckpointUnreadable {
                detail: error.to_string(),
            };
            findings.push(Finding::new(None, None, Problem::Log(problem)));
            None
        }
    };
    artifacts.retain(|(seq, _)| *seq < complete.next_seq);
    let artifacts_checked = if options.check_artifacts {
        let store = ArtifactStore::new(paths.artifacts());
        check_artifacts(&store, &artifacts, &mut findings)?
    } else {
        0
    };
    Ok(VerifyReport {
        log: log_display,
        intact: findings
            .iter()
            .all(|finding| finding.severity != Severity::Error),
        events: complete.next_seq,
        bytes: walk.end,
        head: complete.head(),
        checkpoint,
        artifacts_checked,
        findings,
    })
}

/// Returns the finding for the first bad line, or for a torn tail after the last good one.
fn chain_findings(walk: &Walk) -> Vec<Finding> {
    let mut findings = Vec::new();
    if let Some(fault) = &walk.fault {
        findings.push(Finding::new(
            Some(fault.seq),
            Some(fault.offset),
            Problem::Chain(fault.fault.clone()),
        ));
    }
    if let Some((offset, bytes)) = walk.torn_tail() {
        findings.push(Finding::new(
            Some(walk.linker.complete().next_seq),
            Some(offset),
            Problem::Log(LogFault::TornTail { bytes }),
        ));
    }
    findings
}

/// Returns what the checkpoint shows about the log: truncation, divergence, or a lag.
fn checkpoint_finding(
    checkpoint: Option<&Checkpoint>,
    at_checkpoint: Option<LinkInfo>,
    tree: &RootBuilder,
    walk: &Walk,
) -> Option<Finding> {
    let complete = walk.linker.complete();
    let Some(checkpoint) = checkpoint else {
        return (complete.next_seq > 0)
            .then(|| Finding::new(None, None, Problem::Log(LogFault::CheckpointMissing)));
    };
    let diverges = |detail: String| {
        Some(Finding::new(
            Some(checkpoint.seq),
            None,
            Problem::Log(LogFault::CheckpointDiverges { detail }),
        ))
    };
    if checkpoint.seq >= complete.next_seq {
        // Past a bad line nothing is known, so only a clean walk can show truncation.
        if walk.fault.is_some() {
            return None;
        }
        let problem = LogFault::TruncatedAgainstCheckpoint {
            checkpoint_seq: checkpoint.seq,
            log_events: complete.next_seq,
        };
        return Some(Finding::new(
            Some(complete.next_seq),
            Some(complete.offset),
            Problem::Log(problem),
        ));
    }
    let Some(event) = at_checkpoint else {
        return diverges(format!("seq {} was never read", checkpoint.seq));
    };
    if event.hash != checkpoint.hash {
        return diverges(format!(
            "it records seq {} with hash {}…, the log's seq {} hashes to {}…",
            checkpoint.seq,
            &checkpoint.hash.to_hex()[..12],
            checkpoint.seq,
            &event.hash.to_hex()[..12]
        ));
    }
    if event.end != checkpoint.len || !event.batch.is_last() {
        return diverges(format!(
            "it records the log as {} bytes through seq {}, the log has {} bytes there{}",
            checkpoint.len,
            checkpoint.seq,
            event.end,
            if event.batch.is_last() {
                ""
            } else {
                " (mid-batch)"
            }
        ));
    }
    if let Some(detail) = tree_mismatch(checkpoint, tree) {
        return diverges(detail);
    }
    let events_behind = complete.next_seq - 1 - checkpoint.seq;
    (events_behind > 0).then(|| {
        Finding::new(
            None,
            None,
            Problem::Log(LogFault::CheckpointLags { events_behind }),
        )
    })
}

/// Returns how the checkpoint's tree head, or its signature, disagrees with the tree of the log
/// through the checkpointed event (`tree`), if it does.
fn tree_mismatch(checkpoint: &Checkpoint, tree: &RootBuilder) -> Option<String> {
    let claimed = checkpoint.tree_head()?;
    let Some(actual) = tree.head().filter(|actual| *actual == claimed) else {
        return Some(format!(
            "its tree of {} events has root {}…, the log's tree there has root {}…",
            claimed.size,
            &claimed.root.to_hex()[..12],
            tree.root()
                .map_or_else(|| "none".to_owned(), |root| root.to_hex()[..12].to_owned())
        ));
    };
    let signed = checkpoint.signed.as_ref()?;
    signed.check(&actual.signed_form()).err().map(|error| {
        format!(
            "its tree head's signature by key {}… does not verify: {error}",
            &signed.key_id.get(..12).unwrap_or(&signed.key_id)
        )
    })
}

/// Re-hashes each distinct recorded artifact once; returns how many were checked.
fn check_artifacts(
    store: &ArtifactStore,
    artifacts: &[(u64, ArtifactRef)],
    findings: &mut Vec<Finding>,
) -> Result<u64, VerifyError> {
    let mut checked: BTreeMap<(ContentHash, u64), ArtifactCheck> = BTreeMap::new();
    for (seq, artifact) in artifacts {
        let key = (artifact.hash, artifact.size);
        let outcome = match checked.get(&key) {
            Some(outcome) => *outcome,
            None => {
                let outcome = store.check(artifact)?;
                checked.insert(key, outcome);
                outcome
            }
        };
        let (name, hash) = (artifact.name.clone(), artifact.hash);
        let problem = match outcome {
            ArtifactCheck::Intact => continue,
            ArtifactCheck::Missing => LogFault::ArtifactMissing { name, hash },
            ArtifactCheck::Altered { actual } => LogFault::ArtifactAltered { name, hash, actual },
            ArtifactCheck::SizeMismatch { actual } => LogFault::ArtifactSizeMismatch {
                name,
                hash,
                recorded: artifact.size,
                actual,
            },
        };
        findings.push(Finding::new(Some(*seq), None, Problem::Log(problem)));
    }
    Ok(checked.len() as u64)
}
