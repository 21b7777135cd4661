//! `omk replay`: read a goal's whole log back, and `omk replay --verify`: check that the log is
//! intact and that every file beside it follows from it.
//!
//! Verification reports every finding, each with a place: the chain and the artifacts (through
//! `log::verify_log`), each projection recomputed from the log at the head it claims and
//! compared byte for byte (a divergence names the first differing JSON path), and the fold run
//! twice, which must agree.

use std::fs;
use std::num::NonZeroUsize;
use std::ops::ControlFlow;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::event::{DecodeError, RecordedEvent};
use crate::log::chain::Position;
use crate::log::hash::EventHash;
use crate::log::merkle::RootBuilder;
use crate::log::reader::{read_decoding, ReadEnd, ReadError};
use crate::log::verify::{verify_log_decoding, Verified, VerifyError, VerifyOptions, VerifyReport};
use crate::log::LineView;
use crate::log::LogPaths;
use crate::project::derived::DerivedBy;
use crate::project::proof::{proof, PROOF_FORMAT};
use crate::project::snapshot::{Snapshot, SNAPSHOT_FORMAT};
use crate::project::task_graph::{task_graph_view, TASK_GRAPH_FORMAT};
use crate::project::to_json;
use crate::state::{FoldError, GoalState};
use crate::store::replace_projection;

/// The log could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Fold(#[from] FoldError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
}

/// Streams the log's events in `seq` order, each turned into the caller's value by `render` on
/// every core, to `visit`, which may stop the read: complete batches only, in memory that does
/// not grow with the log (a timeline, however long, is written as it is read).
pub fn stream_events<T: Send>(
    paths: &LogPaths,
    render: &(dyn Fn(Result<RecordedEvent, DecodeError>) -> T + Sync),
    visit: impl FnMut(T) -> ControlFlow<()>,
) -> Result<ReadEnd, ReplayError> {
    let mut visit = visit;
    let threads = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
    let decode = |view: LineView<'_>| render(RecordedEvent::decode_view(view));
    Ok(read_decoding(
        paths,
        Position::START,
        threads,
        &decode,
        |_, rendered| visit(rendered),
    )?)
}

/// One problem `replay --verify` found beyond the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ProjectionFinding {
    /// Returns the file (relative to the goal directory), or `fold` for determinism.
    pub file: String,
    /// Returns the first differing JSON path, when both sides are JSON.
    pub path: Option<String>,
    pub message: String,
}

/// The report of `omk replay --verify`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ReplayReport {
    /// Returns whether nothing was found.
    pub intact: bool,
    /// Returns the chain and artifact report.
    pub log: VerifyReport,
    /// Returns the projections checked.
    pub projections_checked: Vec<String>,
    /// Returns what was found in the projections and the fold.
    pub findings: Vec<ProjectionFinding>,
    /// Projections in another format than this build's (written before an upgrade, or by a
    /// newer omk): their head was checked, not their content. An older one was rebuilt.
    pub notes: Vec<ProjectionFinding>,
}

/// The JSON projections beside a log, each with the format this build writes.
const JSON_PROJECTIONS: [(&str, u32); 3] = [
    ("snapshot.json", SNAPSHOT_FORMAT),
    ("task-graph.json", TASK_GRAPH_FORMAT),
    ("proof.json", PROOF_FORMAT),
];

/// A JSON projection beside the log and the head it claims, read before the log is.
struct Claim {
    file: &'static str,
    /// The format this build writes for it.
    format: u32,
    stored: String,
    value: Value,
    seq: u64,
    hash: EventHash,
    /// For the snapshot: the byte just after the claimed event, which must be where it ends.
    offset: Option<u64>,
    stamp: DerivedBy,
    /// Filled in as the log is read: whether the claimed head is in the chain, and (same
    /// format only) the bytes the log derives there.
    reached: Option<Reached>,
}

struct Reached {
    in_chain: bool,
    expected: Option<String>,
}

/// The goal folded as the log streams past: twice, independently, for the determinism check.
struct Folds {
    first: Option<GoalState>,
    second: Option<GoalState>,
    tree: RootBuilder,
    position: Position,
    /// The first event that could not be decoded or folded: folding stops there.
    failed: Option<ReplayError>,
}

impl Folds {
    fn apply(&mut self, verified: Verified, decoded: Result<RecordedEvent, DecodeError>) {
        if self.failed.is_some() {
            return;
        }
        let result = decoded.map_err(ReplayError::from).and_then(|event| {
            for state in [&mut self.first, &mut self.second] {
                match state {
                    Some(state) => state.apply(&event)?,
                    None => *state = Some(GoalState::start(&event)?),
                }
            }
            Ok(())
        });
        match result {
            Ok(()) => {
                self.tree.push(verified.leaf);
                self.position = verified.after;
            }
            Err(error) => self.failed = Some(error),
        }
    }
}

/// Verifies the goal directory `dir`: chain, artifacts, projections, determinism, in one
/// streaming pass whose memory does not grow with the log: the fold runs twice in step as the
/// events go by, and each projection is derived when the stream passes the head it claims.
pub fn verify_goal_dir(dir: &Path) -> Result<ReplayReport, ReplayError> {
    let paths = LogPaths::resolve(dir);
    let mut reads: Vec<ClaimRead> = JSON_PROJECTIONS
        .into_iter()
        .map(|projection| read_claim(dir, projection))
        .collect();
    let mut folds = Folds {
        first: None,
        second: None,
        tree: RootBuilder::default(),
        position: Position::START,
        failed: None,
    };
    // One pass: the chain is verified and every event decoded on the checker threads.
    let log = verify_log_decoding(
        &paths,
        VerifyOptions::all_cores(),
        &RecordedEvent::decode_view,
        |verified, decoded| {
            folds.apply(verified, decoded);
            for read in &mut reads {
                if let ClaimRead::Claim(claim) = read {
                    if claim.seq == verified.seq {
                        claim.reached = Some(reach(claim, verified.after, &folds));
                    }
                }
            }
        },
    )?;
    let (mut findings, mut notes, mut checked) = (Vec::new(), Vec::new(), Vec::new());
    if log.first_error().is_none() {
        if let Some(error) = folds.failed.take() {
            return Err(error);
        }
        let (first, second) = (
            folds.first.as_ref().map(to_json),
            folds.second.as_ref().map(to_json),
        );
        if first != second {
            findings.push(ProjectionFinding {
                file: "fold".to_owned(),
                path: None,
                message:
                    "folding the log twice gave different states: a reducer is not deterministic"
                        .to_owned(),
            });
        }
        for (read, (file, _)) in reads.iter().zip(JSON_PROJECTIONS) {
            match read {
                ClaimRead::Absent => continue,
                ClaimRead::Damaged(finding) => findings.push(finding.clone()),
                ClaimRead::Claim(claim) => match judge(dir, claim, &folds) {
                    Judged::Follows => {}
                    Judged::Diverges(finding) => findings.push(finding),
                    Judged::OtherFormat(note) => notes.push(note),
                },
            }
            checked.push(file.to_owned());
        }
        for file in ["prd.md", "technical-plan.md", "test-spec.md"] {
            if dir.join(file).exists() {
                checked.push(file.to_owned());
                findings.extend(
                    folds
                        .first
                        .as_ref()
                        .and_then(|state| check_document_copy(dir, file, state)),
                );
            }
        }
    }
    Ok(ReplayReport {
        intact: log.intact && findings.is_empty(),
        log,
        projections_checked: checked,
        findings,
        notes,
    })
}

/// What reading a projection before the pass found.
enum ClaimRead {
    /// There is no such file.
    Absent,
    /// It is there but unreadable, not JSON, or names no head.
    Damaged(ProjectionFinding),
    Claim(Claim),
}

fn read_claim(dir: &Path, (file, format): (&'static str, u32)) -> ClaimRead {
    let damaged = |path: Option<String>, message: String| {
        ClaimRead::Damaged(ProjectionFinding {
            file: file.to_owned(),
            path,
            message,
        })
    };
    // A projection that is there but cannot be read is damage, like one that differs.
    let stored = match read_projection(&dir.join(file)) {
        Ok(None) => return ClaimRead::Absent,
        Ok(Some(stored)) => stored,
        Err(message) => return damaged(None, message),
    };
    let Ok(value) = serde_json::from_str::<Value>(&stored) else {
        return damaged(None, "is not JSON".to_owned());
    };
    let head_field = if file == "snapshot.json" {
        "/covers"
    } else {
        "/head"
    };
    let head = value.pointer(head_field);
    let claimed = head.and_then(|head| {
        Some((
            head.get("seq")?.as_u64()?,
            head.get("hash")?.as_str()?.parse::<EventHash>().ok()?,
        ))
    });
    let Some((seq, hash)) = claimed else {
        return damaged(
            Some(head_field.to_owned()),
            "names no head (seq, hash) it was derived from".to_owned(),
        );
    };
    let offset = (file == "snapshot.json")
        .then(|| head.and_then(|head| head.get("offset")?.as_u64()))
        .flatten();
    let stamp = DerivedBy::of(&value);
    ClaimRead::Claim(Claim {
        file,
        format,
        stored,
        value,
        seq,
        hash,
        offset,
        stamp,
        reached: None,
    })
}

/// Returns what the stream shows of `claim` as it passes the claimed event (folded through it).
fn reach(claim: &Claim, after: Position, folds: &Folds) -> Reached {
    let in_chain = after.prev == claim.hash
        && claim.offset.is_none_or(|offset| offset == after.offset)
        && folds.failed.is_none();
    let expected = (in_chain && claim.stamp.format == claim.format)
        .then(|| {
            let state = folds.first.as_ref()?;
            derive(claim.file, state, after, &folds.tree, &claim.stamp)
        })
        .flatten();
    Reached { in_chain, expected }
}

/// What checking one JSON projection found.
enum Judged {
    /// It follows from the log.
    Follows,
    /// It does not follow from the log.
    Diverges(ProjectionFinding),
    /// It is in another format than this build's, so its content cannot be compared: older
    /// (rebuilt in this build's format) or newer (left alone).
    OtherFormat(ProjectionFinding),
}

/// Judges a projection once the whole log has streamed past: its head must be in the chain,
/// and (same format) its bytes those the log derives there.
fn judge(dir: &Path, claim: &Claim, folds: &Folds) -> Judged {
    let finding = |path: Option<String>, message: String| {
        Judged::Diverges(ProjectionFinding {
            file: claim.file.to_owned(),
            path,
            message,
        })
    };
    let (seq, hash) = (claim.seq, claim.hash);
    let Some(reached) = claim.reached.as_ref().filter(|reached| reached.in_chain) else {
        return finding(
            None,
            format!("claims head seq {seq} ({hash}), which is not in this log"),
        );
    };
    if claim.stamp.format != claim.format {
        return Judged::OtherFormat(other_format(dir, claim, folds));
    }
    // The same format gives the same bytes whichever omk derived them: compared with its stamp.
    let Some(expected) = &reached.expected else {
        return Judged::Follows;
    };
    if *expected == claim.stored {
        return Judged::Follows;
    }
    let expected_value: Value = serde_json::from_str(expected).unwrap_or(Value::Null);
    let path = first_difference(&expected_value, &claim.value, String::new());
    finding(
        Some(path.clone().unwrap_or_else(|| "/".to_owned())),
        match path {
            Some(_) => format!("differs from what the log derives at seq {seq}"),
            None => {
                format!("has the right values but not the bytes the log derives (at seq {seq})")
            }
        },
    )
}

/// Returns the bytes of projection `file` derived from `state`, folded through `after` where
/// the log's tree is `tree`, stamped `stamp`; `None` for an empty log.
fn derive(
    file: &str,
    state: &GoalState,
    after: Position,
    tree: &RootBuilder,
    stamp: &DerivedBy,
) -> Option<String> {
    let head = after.head()?;
    Some(match file {
        "snapshot.json" => {
            let mut snapshot = Snapshot::new(state, after, tree)?;
            snapshot.derived_by = stamp.clone();
            to_json(&snapshot)
        }
        "task-graph.json" => {
            let mut graph = task_graph_view(state, head);
            graph.derived_by = stamp.clone();
            to_json(&graph)
        }
        _ => {
            let mut proof = proof(state, head, tree.head()?);
            proof.derived_by = stamp.clone();
            to_json(&proof)
        }
    })
}

/// Returns the note for a projection in another format than this build's: an older one is
/// rebuilt in this build's format from the whole log (what the next command would write); a
/// newer one is left as it is.
fn other_format(dir: &Path, claim: &Claim, folds: &Folds) -> ProjectionFinding {
    let (stamp, format) = (&claim.stamp, claim.format);
    let written = format!(
        "written by {} (format {}; this build writes {format})",
        stamp.writer(),
        stamp.format
    );
    let message = if stamp.format > format {
        format!("{written}: its head is in the log; its content is not checked")
    } else {
        let rebuilt = folds
            .first
            .as_ref()
            .and_then(|state| {
                derive(
                    claim.file,
                    state,
                    folds.position,
                    &folds.tree,
                    &DerivedBy::this_build(format),
                )
            })
            .map(|bytes| replace_projection(&dir.join(claim.file), bytes.as_bytes()));
        match rebuilt {
            Some(Err(error)) => format!("{written}: its head is in the log; not rebuilt: {error}"),
            _ => format!("{written}: its head is in the log; rebuilt"),
        }
    };
    ProjectionFinding {
        file: claim.file.to_owned(),
        path: Some("/derived_by".to_owned()),
        message,
    }
}

/// Compares a document copy with the artifact of that name it was copied from.
fn check_document_copy(dir: &Path, file: &str, state: &GoalState) -> Option<ProjectionFinding> {
    let recorded = state
        .artifacts
        .iter()
        .rev()
        .find(|recorded| recorded.artifact.name == file)?;
    let stored = match read_projection(&dir.join(file)) {
        Ok(stored) => stored?,
        Err(message) => {
            return Some(ProjectionFinding {
                file: file.to_owned(),
                path: None,
                message,
            })
        }
    };
    let expected = fs::read(dir.join("artifacts").join(recorded.artifact.hash.to_hex())).ok()?;
    (stored.as_bytes() != expected.as_slice()).then(|| ProjectionFinding {
        file: file.to_owned(),
        path: None,
        message: format!(
            "differs from artifact {} recorded at seq {}",
            recorded.artifact.hash, recorded.seq
        ),
    })
}

/// Returns a projection's text, `None` when there is none, or why it cannot be read (not a
/// file, not UTF-8, unreadable).
fn read_projection(path: &Path) -> Result<Option<String>, String> {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|error| format!("cannot be read: it is not UTF-8 text ({error})")),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(format!("cannot be read: {error}")),
    }
}

/// Returns the JSON path of the first place `a` and `b` differ, or `None` if they are equal.
pub fn first_difference(a: &Value, b: &Value, at: String) -> Option<String> {
    match (a, b) {
        (Value::Object(left), Value::Object(right)) => {
            for (key, value) in left {
                let path = format!("{at}/{key}");
                match right.get(key) {
                    Some(other) => {
                        if let Some(found) = first_difference(value, other, path) {
                            return Some(found);
                        }
                    }
                    None => return Some(path),
                }
            }
            right
                .keys()
                .find(|key| !left.contains_key(*key))
                .map(|key| format!("{at}/{key}"))
        }
        (Value::Array(left), Value::Array(right)) => {
            for (index, (value, other)) in left.iter().zip(right).enumerate() {
                if let Some(found) = first_difference(value, other, format!("{at}/{index}")) {
                    return Some(found);
                }
            }
            (left.len() != right.len()).then(|| format!("{at}/{}", left.len().min(right.len())))
        }
        _ => (a != b).then(|| if at.is_empty() { "/".to_owned() } else { at }),
    }
}
