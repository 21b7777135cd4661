//! The head checkpoint: the `seq`, `hash` and byte length of the log at its last complete append,
//! the Merkle tree head there, and its signature when a key signs the goal's heads.
//!
//! A chain alone cannot show that its tail was cut off; the checkpoint beside it can.
//! Owns reading and atomically replacing that file; must not judge the log (verify does).

use std::fs::{self, File};
use std::io;

use serde::{Deserialize, Serialize};

use crate::log::chain::{Head, Position};
use crate::log::hash::EventHash;
use crate::log::io::LogIo;
use crate::log::merkle::{RootBuilder, TreeHead, TreeState};
use crate::log::paths::LogPaths;
use crate::trust::HeadSignature;

/// The checkpoint format this build writes: 2 adds the tree and the signature. Version 1 (no
/// tree) is still read.
pub const CHECKPOINT_VERSION: u64 = 2;

/// The contents of `<stem>.head.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Returns the format version: 2 (1 before trees).
    pub v: u64,
    /// Returns the `seq` of the last event of the last complete batch.
    pub seq: u64,
    /// Returns that event's hash.
    pub hash: EventHash,
    /// Returns the log's length in bytes just past that event's `\n`.
    pub len: u64,
    /// The Merkle tree over the events through `seq` (version 2 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree: Option<TreeState>,
    /// The signed tree head, when a key signed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<HeadSignature>,
}

impl Checkpoint {
    /// Returns the checkpoint for a point between complete batches, whose events' tree is
    /// `tree`, or `None` at the start.
    pub fn at(position: Position, tree: &RootBuilder) -> Option<Checkpoint> {
        let Head { seq, hash } = position.head()?;
        Some(Checkpoint {
            v: CHECKPOINT_VERSION,
            seq,
            hash,
            len: position.offset,
            tree: Some(TreeState::of(tree)?),
            signed: None,
        })
    }

    /// Returns the tree head it names (none before version 2).
    pub fn tree_head(&self) -> Option<TreeHead> {
        self.tree.as_ref().map(TreeState::head)
    }

    /// Returns the position just after the checkpointed event.
    pub fn position(&self) -> Position {
        Position {
            next_seq: self.seq + 1,
            offset: self.len,
            prev: self.hash,
        }
    }
}

/// The checkpoint file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("{path} is not a valid checkpoint: {detail}")]
    Invalid { path: String, detail: String },
}

/// Returns the checkpoint beside the log, or `None` when there is none.
pub fn read_checkpoint(paths: &LogPaths) -> Result<Option<Checkpoint>, CheckpointError> {
    let path = paths.checkpoint();
    let text = match fs::read(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CheckpointError::Read {
                path: path.display().to_string(),
                source,
            })
        }
    };
    let checkpoint: Checkpoint =
        serde_json::from_slice(&text).map_err(|error| CheckpointError::Invalid {
            path: path.display().to_string(),
            detail: error.to_string(),
        })?;
    check_shape(&checkpoint).map_err(|detail| CheckpointError::Invalid {
        path: path.display().to_string(),
        detail,
    })?;
    Ok(Some(checkpoint))
}

/// Checks what a checkpoint says about itself: its version's fields, and a tree that fits its
/// `seq` and whose frontier folds to its root. Whether the log agrees is verify's question.
fn check_shape(checkpoint: &Checkpoint) -> Result<(), String> {
    match (checkpoint.v, &checkpoint.tree) {
        (1, None) if checkpoint.signed.is_none() => Ok(()),
        (1, _) => Err("version 1 has no tree or signature".to_owned()),
        (2, None) => Err("version 2 names a tree".to_owned()),
        (2, Some(tree)) if tree.size != checkpoint.seq + 1 => Err(format!(
            "its tree has {} events but its head is seq {}",
            tree.size, checkpoint.seq
        )),
        (2, Some(tree)) if tree.builder().is_none() => {
            Err("its tree's frontier does not fold to its root".to_owned())
        }
        (2, Some(_)) => Ok(()),
        (v, _) => Err(format!("unknown version {v}")),
    }
}

/// Returns the temporary file a checkpoint is written to before it is renamed into place.
pub(crate) fn temporary_path(paths: &LogPaths) -> std::path::PathBuf {
    paths.checkpoint().with_extension("json.tmp")
}

/// Replaces the checkpoint atomically: write a temporary file, sync it, rename it over.
///
/// The directory is not synced: if the rename is lost in a crash, the older checkpoint stays,
/// which only lags the log and is a state verify accepts.
pub(crate) fn write_checkpoint(
    io: &mut dyn LogIo,
    paths: &LogPaths,
    checkpoint: &Checkpoint,
) -> io::Result<()> {
    let final_path = paths.checkpoint();
    let temp_path = temporary_path(paths);
    let mut bytes = serde_json::to_vec(checkpoint).map_err(io::Error::other)?;
    bytes.push(b'\n');
    let mut file = File::create(&temp_path)?;
    io.write_all(&mut file, &bytes)?;
    io.sync(&file)?;
    drop(file);
    fs::rename(&temp_path, &final_path)
}
