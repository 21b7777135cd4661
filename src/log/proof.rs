//! Proofs about a log that anyone can check without it: that an event is in the log's Merkle
//! tree of a given size and root (inclusion), and that a tree extends an earlier one
//! (consistency). Made from a log's complete batches; checked from the proof alone.
//!
//! A proof names the size and root it speaks for; a checker compares both with a head it
//! trusts (a signed one, or one it saw before), since any proof is consistent with the root it
//! names itself. Must not decide what is trusted: the caller passes it in.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use serde::{Deserialize, Serialize};

use crate::log::line::check_line;
use crate::log::merkle::{
    consistency_proof, inclusion_proof, leaf_hash, root, verify_consistency, verify_inclusion,
    TreeHash, TreeHead,
};
use crate::log::paths::LogPaths;
use crate::log::reader::{LogReader, ReadError};

/// A proof about a log, as `omk log prove` writes it and `omk log check-proof` reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LogProof {
    /// The event `line` is leaf `index` of the tree of `size` events with root `root`.
    Inclusion {
        size: u64,
        root: TreeHash,
        /// The event's `seq`: its leaf index.
        index: u64,
        /// The event's stored line, without its `\n`: the leaf is the hash of its line hash.
        line: String,
        /// The audit path, from the leaf's sibling up (RFC 6962 §2.1.1).
        path: Vec<TreeHash>,
    },
    /// The tree of `size` events with root `root` extends the tree of its first `old_size`
    /// events, whose root is `old_root`.
    Consistency {
        old_size: u64,
        old_root: TreeHash,
        size: u64,
        root: TreeHash,
        /// The consistency path (RFC 6962 §2.1.2).
        path: Vec<TreeHash>,
    },
}

/// A proof could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{log} holds {events} complete events: {asked}")]
    OutOfRange {
        log: String,
        events: u64,
        asked: String,
    },
    #[error("cannot read event seq {seq} back from {log}: {source}")]
    Line {
        log: String,
        seq: u64,
        source: std::io::Error,
    },
}

/// A log's leaves, and the byte range (start, end) of each event's line.
struct Leaves {
    leaves: Vec<TreeHash>,
    lines: Vec<(u64, u64)>,
}

/// The leaves of a log's first `size` complete events (all of them for `None`), with the byte
/// range of each line.
fn leaves(paths: &LogPaths, size: Option<u64>) -> Result<Leaves, ProveError> {
    let mut reader = LogReader::open(paths)?;
    let mut leaves = Vec::new();
    let mut starts = Vec::new();
    for raw in reader.by_ref() {
        let raw = raw?;
        leaves.push(leaf_hash(&raw.hash()));
        starts.push(raw.offset());
    }
    let end = reader.position().offset;
    let ranges = starts
        .iter()
        .enumerate()
        .map(|(index, start)| (*start, starts.get(index + 1).copied().unwrap_or(end)))
        .collect();
    let events = leaves.len() as u64;
    match size {
        Some(size) if size == 0 || size > events => Err(ProveError::OutOfRange {
            log: paths.log().display().to_string(),
            events,
            asked: format!("a tree of {size} events"),
        }),
        Some(size) => {
            leaves.truncate(size as usize);
            Ok(Leaves {
                leaves,
                lines: ranges,
            })
        }
        None => Ok(Leaves {
            leaves,
            lines: ranges,
        }),
    }
}

/// Returns the error for a log with no complete event: it has no tree to prove anything in.
fn empty(paths: &LogPaths) -> ProveError {
    ProveError::OutOfRange {
        log: paths.log().display().to_string(),
        events: 0,
        asked: "an empty log has no tree".to_owned(),
    }
}

/// Returns the proof that event `seq` is in the log's tree of `size` events (default: all of
/// its complete events).
pub fn prove_inclusion(
    paths: &LogPaths,
    seq: u64,
    size: Option<u64>,
) -> Result<LogProof, ProveError> {
    let log = paths.log().display().to_string();
    let Leaves {
        leaves,
        lines: ranges,
    } = leaves(paths, size)?;
    let index = usize::try_from(seq).unwrap_or(usize::MAX);
    let Some(path) = inclusion_proof(&leaves, index) else {
        return Err(ProveError::OutOfRange {
            log,
            events: leaves.len() as u64,
            asked: format!("there is no event seq {seq} in that tree"),
        });
    };
    let (start, end) = ranges[index];
    let mut line = vec![0; (end - start) as usize];
    let read = File::open(paths.log()).and_then(|mut file| {
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut line)
    });
    read.map_err(|source| ProveError::Line { log, seq, source })?;
    line.pop(); // its `\n`
    Ok(LogProof::Inclusion {
        size: leaves.len() as u64,
        root: root(&leaves).ok_or_else(|| empty(paths))?,
        index: seq,
        line: String::from_utf8_lossy(&line).into_owned(),
        path,
    })
}

/// Returns the size and root of the log's tree of its first `size` events (default: all of its
/// complete events).
pub fn tree_head(paths: &LogPaths, size: Option<u64>) -> Result<TreeHead, ProveError> {
    let Leaves { leaves, .. } = leaves(paths, size)?;
    Ok(TreeHead {
        size: leaves.len() as u64,
        root: root(&leaves).ok_or_else(|| empty(paths))?,
    })
}

/// Returns the proof that the log's tree of `size` events (default: all of its complete
/// events) extends its tree of `old_size` events.
pub fn prove_consistency(
    paths: &LogPaths,
    old_size: u64,
    size: Option<u64>,
) -> Result<LogProof, ProveError> {
    let Leaves { leaves, .. } = leaves(paths, size)?;
    let old = usize::try_from(old_size).unwrap_or(usize::MAX);
    let Some(path) = consistency_proof(&leaves, old) else {
        return Err(ProveError::OutOfRange {
            log: paths.log().display().to_string(),
            events: leaves.len() as u64,
            asked: format!("an earlier tree of {old_size} events"),
        });
    };
    Ok(LogProof::Consistency {
        old_size,
        old_root: root(&leaves[..old]).ok_or_else(|| empty(paths))?,
        size: leaves.len() as u64,
        root: root(&leaves).ok_or_else(|| empty(paths))?,
        path,
    })
}

/// What a proof showed, once checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Proven {
    /// The event of `kind` at `seq` is in the tree of `size` events with `root`.
    Included {
        seq: u64,
        kind: String,
        size: u64,
        root: TreeHash,
    },
    /// The tree of `size` events with `root` extends the one of `old_size` with `old_root`.
    Extends {
        old_size: u64,
        old_root: TreeHash,
        size: u64,
        root: TreeHash,
    },
}

/// Why a proof does not hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofFault {
    #[error("the event line is not a valid log line: {0}")]
    BadLine(String),
    #[error("the event line is seq {line}, but the proof names leaf {index}")]
    WrongIndex { line: u64, index: u64 },
    #[error(
        "the audit path does not lead from the event to root {root} of a tree of {size} events"
    )]
    NotIncluded { size: u64, root: TreeHash },
    #[error("the path does not show that the tree of {size} events (root {root}) extends the tree of {old_size} (root {old_root})")]
    NotConsistent {
        old_size: u64,
        old_root: TreeHash,
        size: u64,
        root: TreeHash,
    },
    #[error("the proof speaks for a tree of {size} events with root {root}, not the trusted {trusted_size} with root {trusted_root}")]
    NotTrusted {
        size: u64,
        root: TreeHash,
        trusted_size: u64,
        trusted_root: TreeHash,
    },
}

/// Checks `proof` on its own and, when given, against the trusted head (`size`, `root`).
pub fn check_proof(
    proof: &LogProof,
    trusted: Option<(u64, TreeHash)>,
) -> Result<Proven, ProofFault> {
    let proven = match proof {
        LogProof::Inclusion {
            size,
            root,
            index,
            line,
            path,
        } => {
            let checked = check_line(line.as_bytes())
                .map_err(|fault| ProofFault::BadLine(fault.to_string()))?;
            if checked.seq != *index {
                return Err(ProofFault::WrongIndex {
                    line: checked.seq,
                    index: *index,
                });
            }
            if !verify_inclusion(&leaf_hash(&checked.hash), *index, *size, path, root) {
                return Err(ProofFault::NotIncluded {
                    size: *size,
                    root: *root,
                });
            }
            Proven::Included {
                seq: *index,
                kind: checked.kind.into_owned(),
                size: *size,
                root: *root,
            }
        }
        LogProof::Consistency {
            old_size,
            old_root,
            size,
            root,
            path,
        } => {
            if !verify_consistency(*old_size, *size, old_root, root, path) {
                return Err(ProofFault::NotConsistent {
                    old_size: *old_size,
                    old_root: *old_root,
                    size: *size,
                    root: *root,
                });
            }
            Proven::Extends {
                old_size: *old_size,
                old_root: *old_root,
                size: *size,
                root: *root,
            }
        }
    };
    let (size, root) = match &proven {
        Proven::Included { size, root, .. } | Proven::Extends { size, root, .. } => (*size, *root),
    };
    match trusted {
        Some((trusted_size, trusted_root)) if (trusted_size, trusted_root) != (size, root) => {
            Err(ProofFault::NotTrusted {
                size,
                root,
                trusted_size,
                trusted_root,
            })
        }
        _ => Ok(proven),
    }
}
