//! `omk replay`: read a goal's whole log back, and `omk replay --verify`: check that the log is
//! intact and that every file beside it follows from it.
//!
//! Verification reports every finding, each with a place: the chain and the artifacts (through
//! `log::verify_log`), each projection recomputed from the log at the head it claims and
//! compared byte for byte (a divergence names the first differing JSON path), and the fold run
//! twice, which must agree.

use std::fs;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::event::{DecodeError, Event, RecordedEvent, Timestamp};
use crate::log::chain::Position;
use crate::log::hash::EventHash;
use crate::log::merkle::RootBuilder;
use crate::log::reader::{position_in_chain, LogReader, ReadError};
use crate::log::verify::{verify_log_decoding, VerifyError, VerifyOptions, VerifyReport};
use crate::log::LineView;
use crate::log::LogPaths;
use crate::project::derived::DerivedBy;
use crate::project::proof::{proof, PROOF_FORMAT};
use crate::project::snapshot::{Snapshot, SNAPSHOT_FORMAT};
use crate::project::task_graph::{task_graph_view, TASK_GRAPH_FORMAT};
use crate::project::to_json;
use crate::state::{fold, FoldError, GoalState};
use crate::store::replace_projection;

/// A goal's events, each with the position just after it.
pub struct History {
    pub events: Vec<RecordedEvent>,
    positions: Vec<Position>,
}

impl History {
    /// Returns the state folded through `seq` (inclusive), or `None` past the end.
    pub fn state_at(&self, seq: u64) -> Result<Option<GoalState>, FoldError> {
        let end = usize::try_from(seq)
            .unwrap_or(usize::MAX)
            .saturating_add(1)
            .min(self.events.len());
        fold(&self.events[..end])
    }

    /// Returns the Merkle tree over the events through `seq` (inclusive).
    pub fn tree_through(&self, seq: u64) -> RootBuilder {
        let end = usize::try_from(seq).unwrap_or(usize::MAX).saturating_add(1);
        RootBuilder::over_lines(self.positions.iter().take(end).map(|after| &after.prev))
    }

    /// Returns the position just after event `seq`.
    pub fn position_after(&self, seq: u64) -> Option<Position> {
        self.positions.get(usize::try_from(seq).ok()?).copied()
    }
}

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

/// Reads every event of the log with its position.
pub fn read_history(paths: &LogPaths) -> Result<History, ReplayError> {
    let mut reader = LogReader::open(paths)?;
    let mut events = Vec::new();
    let mut raw_events = Vec::new();
    for raw in reader.by_ref() {
        let raw = raw?;
        events.push(RecordedEvent::decode(&raw)?);
        raw_events.push((raw.offset(), raw.hash()));
    }
    let end = reader.position();
    let positions = raw_events
        .iter()
        .enumerate()
        .map(|(index, (_, hash))| Position {
            next_seq: index as u64 + 1,
            offset: raw_events
                .get(index + 1)
                .map_or(end.offset, |(offset, _)| *offset),
            prev: *hash,
        })
        .collect();
    Ok(History { events, positions })
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

/// Verifies the goal directory `dir`: chain, artifacts, projections, determinism.
pub fn verify_goal_dir(dir: &Path) -> Result<ReplayReport, ReplayError> {
    let paths = LogPaths::resolve(dir);
    // One pass: the chain is verified and every event decoded on the checker threads.
    let decode = |view: LineView<'_>| {
        Event::decode_parts(view.seq, view.kind, view.data).map(|event| RecordedEvent {
            seq: view.seq,
            at: Timestamp::new(view.ts),
            event,
        })
    };
    let mut decoded = Vec::new();
    let mut positions = Vec::new();
    let log = verify_log_decoding(
        &paths,
        VerifyOptions::all_cores(),
        &decode,
        |verified, event| {
            decoded.push(event);
            positions.push(verified.after);
        },
    )?;
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    let mut checked = Vec::new();
    if log.first_error().is_none() {
        // Events of a torn final batch were decoded too; only complete batches count.
        let complete = usize::try_from(log.events).unwrap_or(usize::MAX);
        decoded.truncate(complete);
        positions.truncate(complete);
        let events = decoded
            .into_iter()
            .collect::<Result<Vec<_>, DecodeError>>()?;
        let history = History { events, positions };
        check_determinism(&history, &mut findings)?;
        for projection in JSON_PROJECTIONS {
            let file = projection.0.to_owned();
            match check_json_projection(dir, projection, &paths, &history)? {
                ProjectionCheck::Absent => continue,
                ProjectionCheck::Follows => {}
                ProjectionCheck::Diverges(finding) => findings.push(finding),
                ProjectionCheck::OtherFormat(note) => notes.push(note),
            }
            checked.push(file);
        }
        for file in ["prd.md", "technical-plan.md", "test-spec.md"] {
            if dir.join(file).exists() {
                checked.push(file.to_owned());
                findings.extend(check_document_copy(dir, file, &history));
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

fn check_determinism(
    history: &History,
    findings: &mut Vec<ProjectionFinding>,
) -> Result<(), ReplayError> {
    let first = fold(&history.events)?;
    let second = fold(&history.events)?;
    let (first, second) = (first.as_ref().map(to_json), second.as_ref().map(to_json));
    if first != second {
        findings.push(ProjectionFinding {
            file: "fold".to_owned(),
            path: None,
            message: "folding the log twice gave different states: a reducer is not deterministic"
                .to_owned(),
        });
    }
    Ok(())
}

/// What checking one JSON projection found.
enum ProjectionCheck {
    /// There is no such file.
    Absent,
    /// It follows from the log.
    Follows,
    /// It does not follow from the log.
    Diverges(ProjectionFinding),
    /// It is in another format than this build's, so its content cannot be compared: older
    /// (rebuilt in this build's format) or newer (left alone).
    OtherFormat(ProjectionFinding),
}

/// The JSON projections beside a log, each with the format this build writes.
const JSON_PROJECTIONS: [(&str, u32); 3] = [
    ("snapshot.json", SNAPSHOT_FORMAT),
    ("task-graph.json", TASK_GRAPH_FORMAT),
    ("proof.json", PROOF_FORMAT),
];

/// Recomputes a JSON projection at the head it claims and compares it byte for byte; one in
/// another format is checked for its head only.
fn check_json_projection(
    dir: &Path,
    (file, format): (&str, u32),
    paths: &LogPaths,
    history: &History,
) -> Result<ProjectionCheck, ReplayError> {
    let finding = |path: Option<String>, message: String| {
        ProjectionCheck::Diverges(ProjectionFinding {
            file: file.to_owned(),
            path,
            message,
        })
    };
    // A projection that is there but cannot be read is damage, like one that differs.
    let stored = match read_projection(&dir.join(file)) {
        Ok(None) => return Ok(ProjectionCheck::Absent),
        Ok(Some(stored)) => stored,
        Err(message) => return Ok(finding(None, message)),
    };
    let Ok(value) = serde_json::from_str::<Value>(&stored) else {
        return Ok(finding(None, "is not JSON".to_owned()));
    };
    let head_field = if file == "snapshot.json" {
        "/covers"
    } else {
        "/head"
    };
    let claimed = value.pointer(head_field).and_then(|head| {
        Some((
            head.get("seq")?.as_u64()?,
            head.get("hash")?.as_str()?.parse::<EventHash>().ok()?,
        ))
    });
    let Some((seq, hash)) = claimed else {
        return Ok(finding(
            Some(head_field.to_owned()),
            "names no head (seq, hash) it was derived from".to_owned(),
        ));
    };
    let in_chain = history
        .position_after(seq)
        .filter(|position| position.prev == hash);
    let Some(position) = in_chain else {
        return Ok(finding(
            None,
            format!("claims head seq {seq} ({hash}), which is not in this log"),
        ));
    };
    if file == "snapshot.json" && !position_in_chain(paths, position)? {
        return Ok(finding(
            None,
            format!("claims head seq {seq} ({hash}), which is not in this log"),
        ));
    }
    let stamp = DerivedBy::of(&value);
    if stamp.format != format {
        return Ok(ProjectionCheck::OtherFormat(other_format(
            dir, file, format, &stamp, history,
        )?));
    }
    // The same format gives the same bytes whichever omk derived them: compare with its stamp.
    let Some(expected) = derive(file, history, seq, &stamp)? else {
        return Ok(ProjectionCheck::Follows);
    };
    if expected == stored {
        return Ok(ProjectionCheck::Follows);
    }
    let expected_value: Value = serde_json::from_str(&expected).unwrap_or(Value::Null);
    let path = first_difference(&expected_value, &value, String::new());
    Ok(finding(
        Some(path.clone().unwrap_or_else(|| "/".to_owned())),
        match path {
            Some(_) => format!("differs from what the log derives at seq {seq}"),
            None => {
                format!("has the right values but not the bytes the log derives (at seq {seq})")
            }
        },
    ))
}

/// Returns the bytes of projection `file` derived from the log through `seq`, stamped `stamp`;
/// `None` for an empty log.
fn derive(
    file: &str,
    history: &History,
    seq: u64,
    stamp: &DerivedBy,
) -> Result<Option<String>, ReplayError> {
    let (Some(state), Some(position)) = (history.state_at(seq)?, history.position_after(seq))
    else {
        return Ok(None);
    };
    let Some(head) = position.head() else {
        return Ok(None);
    };
    let tree = history.tree_through(seq);
    Ok(Some(match file {
        "snapshot.json" => match Snapshot::new(&state, position, &tree) {
            Some(mut snapshot) => {
                snapshot.derived_by = stamp.clone();
                to_json(&snapshot)
            }
            None => return Ok(None),
        },
        "task-graph.json" => {
            let mut graph = task_graph_view(&state, head);
            graph.derived_by = stamp.clone();
            to_json(&graph)
        }
        _ => {
            let Some(tree_head) = tree.head() else {
                return Ok(None);
            };
            let mut proof = proof(&state, head, tree_head);
            proof.derived_by = stamp.clone();
            to_json(&proof)
        }
    }))
}

/// Returns the note for a projection in another format than this build's: an older one is
/// rebuilt in this build's format from the whole log (what the next command would write); a
/// newer one is left as it is.
fn other_format(
    dir: &Path,
    file: &str,
    format: u32,
    stamp: &DerivedBy,
    history: &History,
) -> Result<ProjectionFinding, ReplayError> {
    let written = format!(
        "written by {} (format {}; this build writes {format})",
        stamp.writer(),
        stamp.format
    );
    let message = if stamp.format > format {
        format!("{written}: its head is in the log; its content is not checked")
    } else {
        let last = history.events.len().saturating_sub(1) as u64;
        let rebuilt = derive(file, history, last, &DerivedBy::this_build(format))?
            .map(|bytes| replace_projection(&dir.join(file), bytes.as_bytes()));
        match rebuilt {
            Some(Err(error)) => format!("{written}: its head is in the log; not rebuilt: {error}"),
            _ => format!("{written}: its head is in the log; rebuilt"),
        }
    };
    Ok(ProjectionFinding {
        file: file.to_owned(),
        path: Some("/derived_by".to_owned()),
        message,
    })
}

/// Compares a document copy with the artifact of that name it was copied from.
fn check_document_copy(dir: &Path, file: &str, history: &History) -> Option<ProjectionFinding> {
    let state = history.state_at(u64::MAX).ok().flatten()?;
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
