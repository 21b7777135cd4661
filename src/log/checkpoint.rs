//! The head checkpoint: the `seq`, `hash` and byte length of the log at its last complete append.
//!
//! A chain alone cannot show that its tail was cut off; the checkpoint beside it can.
//! Owns reading and atomically replacing that file; must not judge the log (verify does).

use std::fs::{self, File};
use std::io;

use serde::{Deserialize, Serialize};

use crate::log::chain::{Head, Position};
use crate::log::hash::EventHash;
use crate::log::io::LogIo;
use crate::log::line::FORMAT_VERSION;
use crate::log::paths::LogPaths;

/// The contents of `<stem>.head.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Returns the format version, always 1.
    pub v: u64,
    /// Returns the `seq` of the last event of the last complete batch.
    pub seq: u64,
    /// Returns that event's hash.
    pub hash: EventHash,
    /// Returns the log's length in bytes just past that event's `\n`.
    pub len: u64,
}

impl Checkpoint {
    /// Returns the checkpoint for a point between complete batches, or `None` at the start.
    pub fn at(position: Position) -> Option<Checkpoint> {
        position.head().map(|Head { seq, hash }| Checkpoint {
            v: FORMAT_VERSION,
            seq,
            hash,
            len: position.offset,
        })
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
    if checkpoint.v != FORMAT_VERSION {
        return Err(CheckpointError::Invalid {
            path: path.display().to_string(),
            detail: format!("unknown version {}", checkpoint.v),
        });
    }
    Ok(Some(checkpoint))
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
