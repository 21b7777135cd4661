//! Repair of a torn tail: the bytes of an interrupted append move to a side file.
//!
//! Owns the one operation that shortens a log, and only past the last complete batch.
//! Must never remove a complete batch, and refuses when the log is corrupt or the checkpoint
//! shows the "torn" bytes were once a complete append (that is truncation, not a crash).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use crate::log::chain::{Head, Position};
use crate::log::checkpoint::{read_checkpoint, write_checkpoint, Checkpoint, CheckpointError};
use crate::log::io::{sync_dir, OsIo};
use crate::log::lock::LogLock;
use crate::log::merkle::RootBuilder;
use crate::log::paths::LogPaths;
use crate::log::walk::{walk, ChainFault};

/// What a repair did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Repaired {
    /// The log had no torn tail; nothing changed.
    NothingToRepair { events: u64 },
    /// The torn bytes now live in `side_file` and the log ends at its last complete batch.
    MovedTornTail {
        offset: u64,
        bytes: u64,
        side_file: PathBuf,
        events: u64,
        head: Option<Head>,
    },
    /// The log was truncated behind its checkpoint and the loss was accepted: it keeps its
    /// `events` complete events; the events its old checkpoint named past them are gone, and
    /// that checkpoint (and any torn bytes) were moved aside, never deleted.
    AcceptedTruncation {
        events: u64,
        head: Option<Head>,
        /// The `seq` the old checkpoint named: events `events..=checkpoint_seq` are lost.
        checkpoint_seq: u64,
        old_checkpoint: PathBuf,
        /// Where the torn bytes went, if there were any: (offset, bytes, file).
        torn: Option<(u64, u64, PathBuf)>,
    },
}

/// A repair was refused or failed; nothing was removed from the log.
#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    #[error("cannot repair {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("refused to repair {path}: event log corrupt at seq {seq} (byte {offset}): {fault}; repair only moves a torn tail, restore the log from a copy")]
    Corrupt {
        path: String,
        seq: u64,
        offset: u64,
        fault: ChainFault,
    },
    #[error("refused to repair {path}: it is a symbolic link; repair the file it points to, by its own path, if that file is an omk log")]
    Symlink { path: String },
    #[error("refused to repair {path}: it does not start as an omk event log (its first line is not an event), so nothing in it is shortened")]
    NotALog { path: String },
    #[error("refused to repair {path}: its checkpoint names seq {checkpoint_seq}, beyond the {events} complete events, so the log was truncated, not torn")]
    CheckpointAhead {
        path: String,
        checkpoint_seq: u64,
        events: u64,
    },
}

/// Returns what repairing the log at `paths` did, holding the exclusive lock throughout.
pub fn repair_log(paths: &LogPaths) -> Result<Repaired, RepairError> {
    repair(paths, false)
}

/// Repairs the log at `paths` like [`repair_log`], and when it was truncated behind its
/// checkpoint, accepts the loss: the complete prefix stays, the old checkpoint and any torn
/// bytes move aside, and a new checkpoint names the prefix's last event. The operator's
/// explicit way forward from "truncated", never taken silently.
pub fn accept_truncation(paths: &LogPaths) -> Result<Repaired, RepairError> {
    repair(paths, true)
}

fn repair(paths: &LogPaths, accept_truncation: bool) -> Result<Repaired, RepairError> {
    let path = paths.log().display().to_string();
    let io_error = |source| RepairError::Io {
        path: path.clone(),
        source,
    };
    // A link could lead anywhere; only the log file itself is ever shortened.
    let link = std::fs::symlink_metadata(paths.log()).map_err(io_error)?;
    if link.file_type().is_symlink() {
        return Err(RepairError::Symlink { path });
    }
    let _lock = LogLock::exclusive(paths, false).map_err(io_error)?;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(paths.log())
        .map_err(io_error)?;
    let empty = file.metadata().map_err(io_error)?.len() == 0;
    if !empty && !starts_as_a_log(&mut file).map_err(io_error)? {
        return Err(RepairError::NotALog { path });
    }
    let mut lines = Vec::new();
    let walk =
        walk(&file, Position::START, 1, |info, _| lines.push(info.hash)).map_err(io_error)?;
    if let Some(fault) = walk.fault {
        return Err(RepairError::Corrupt {
            path,
            seq: fault.seq,
            offset: fault.offset,
            fault: fault.fault,
        });
    }
    let complete = walk.linker.complete();
    let tree = RootBuilder::over_lines(lines.iter().take(complete.next_seq as usize));
    let checkpoint = read_checkpoint(paths)?;
    let ahead = checkpoint.filter(|checkpoint| checkpoint.seq >= complete.next_seq);
    match ahead {
        Some(checkpoint) if !accept_truncation => {
            return Err(RepairError::CheckpointAhead {
                path,
                checkpoint_seq: checkpoint.seq,
                events: complete.next_seq,
            })
        }
        Some(checkpoint) => {
            let torn = match walk.torn_tail() {
                Some((offset, bytes)) => {
                    let side_file = save_torn_bytes(paths, &mut file, offset).map_err(io_error)?;
                    Some((offset, bytes, side_file))
                }
                None => None,
            };
            file.set_len(complete.offset).map_err(io_error)?;
            file.sync_all().map_err(io_error)?;
            let old_checkpoint = move_checkpoint_aside(paths, checkpoint.seq).map_err(io_error)?;
            if let Some(checkpoint) = Checkpoint::at(complete, &tree) {
                write_checkpoint(&mut OsIo, paths, &checkpoint).map_err(io_error)?;
            }
            return Ok(Repaired::AcceptedTruncation {
                events: complete.next_seq,
                head: complete.head(),
                checkpoint_seq: checkpoint.seq,
                old_checkpoint,
                torn,
            });
        }
        None => {}
    }
    let Some((offset, bytes)) = walk.torn_tail() else {
        return Ok(Repaired::NothingToRepair {
            events: complete.next_seq,
        });
    };
    let side_file = save_torn_bytes(paths, &mut file, offset).map_err(io_error)?;
    // Only now that the torn bytes are durable elsewhere may the log be shortened.
    file.set_len(offset).map_err(io_error)?;
    file.sync_all().map_err(io_error)?;
    if let Some(checkpoint) = Checkpoint::at(complete, &tree) {
        write_checkpoint(&mut OsIo, paths, &checkpoint).map_err(io_error)?;
    }
    Ok(Repaired::MovedTornTail {
        offset,
        bytes,
        side_file,
        events: complete.next_seq,
        head: complete.head(),
    })
}

/// Renames the checkpoint to a side file named after the `seq` it named; returns its path.
fn move_checkpoint_aside(paths: &LogPaths, seq: u64) -> io::Result<PathBuf> {
    let mut attempt = 0;
    loop {
        let candidate = match attempt {
            0 => paths
                .checkpoint()
                .with_extension(format!("json.truncated-{seq}")),
            n => paths
                .checkpoint()
                .with_extension(format!("json.truncated-{seq}.{n}")),
        };
        if !candidate.exists() {
            std::fs::rename(paths.checkpoint(), &candidate)?;
            sync_dir(paths.dir())?;
            return Ok(candidate);
        }
        attempt += 1;
    }
}

/// The bytes every omk log begins with: the first line of its first event, up to its `seq`.
const FIRST_LINE_START: &[u8] = b"{\"v\":1,\"seq\":0,";

/// Returns whether the file begins as an omk log does (or is all a prefix of that beginning),
/// so that a torn first append (and nothing else, not a text file given by mistake) may be
/// moved aside.
fn starts_as_a_log(file: &mut File) -> io::Result<bool> {
    let mut start = [0u8; FIRST_LINE_START.len()];
    file.seek(SeekFrom::Start(0))?;
    let mut read = 0;
    while read < start.len() {
        match file.read(&mut start[read..])? {
            0 => break,
            count => read += count,
        }
    }
    file.seek(SeekFrom::Start(0))?;
    // A crash in the first append can leave fewer bytes than the start of a line: a file that
    // is all a prefix of it is a torn first append too.
    Ok(start[..read] == FIRST_LINE_START[..read])
}

/// Copies the bytes from `offset` to the end into a new side file, durably; returns its path.
fn save_torn_bytes(paths: &LogPaths, file: &mut File, offset: u64) -> io::Result<PathBuf> {
    let mut torn = Vec::new();
    file.seek(SeekFrom::Start(offset))?;
    file.read_to_end(&mut torn)?;
    let mut attempt = 0;
    let (side_path, mut side_file) = loop {
        let candidate = paths.torn_side_file(offset, attempt);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(side_file) => break (candidate, side_file),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => attempt += 1,
            Err(error) => return Err(error),
        }
    };
    let saved = side_file
        .write_all(&torn)
        .and_then(|()| side_file.sync_all())
        .and_then(|()| sync_dir(paths.dir()));
    if let Err(error) = saved {
        // Half a side file is no copy: take it away, and leave the log as it was.
        let _ = std::fs::remove_file(&side_path);
        return Err(error);
    }
    Ok(side_path)
}
