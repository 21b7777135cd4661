//! Appending batches: all or nothing, durable before success, never a fork.
//!
//! Every append runs under the exclusive lock: catch up on what other writers appended,
//! check the caller's expected `seq`, write the batch in one call, fsync, then refresh the
//! head checkpoint. A failed write or fsync poisons the writer, because after a failed fsync
//! the file's contents are unknown until the log is reopened and checked again.
//! Must not rewrite or remove a stored byte.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::log::chain::{Head, Position};
use crate::log::checkpoint::{read_checkpoint, write_checkpoint, Checkpoint, CheckpointError};
use crate::log::hash::EventHash;
use crate::log::io::{sync_dir, LogIo, OsIo};
use crate::log::line::{
    check_line, encode_line, format_timestamp, Batch, CheckedLine, NewEvent, MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS, MAX_LINE_BYTES,
};
use crate::log::lock::LogLock;
use crate::log::merkle::{leaf_hash, RootBuilder};
use crate::log::paths::LogPaths;
use crate::log::walk::{walk, ChainFault};
use crate::trust::{HeadSignature, SigningKey};

/// Returns how far back a retried batch is recognised, in events.
pub const DEDUP_WINDOW: u64 = 4 * MAX_BATCH_EVENTS as u64;

/// What the caller believes about the log before its batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// The log holds exactly this many events: the batch starts at this `seq`.
    Seq(u64),
    /// Append after whatever is there (the batch is still recognised if it is the log's tail).
    Any,
}

/// What an append did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The batch was written and is durable.
    Written,
    /// The batch's events were already in place (a retry): nothing was written.
    AlreadyPresent,
}

/// A successful append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    /// Returns whether the batch was written now or found in place.
    pub outcome: AppendOutcome,
    /// Returns the `seq` of the batch's first event.
    pub first_seq: u64,
    /// Returns the log's position after the append.
    pub position: Position,
    /// Returns the Merkle tree over the log through that position.
    pub tree: RootBuilder,
    /// Returns why the head checkpoint could not be refreshed, if it could not.
    ///
    /// The events are durable either way; a lagging checkpoint is a state verify accepts.
    pub checkpoint_error: Option<String>,
}

/// The log cannot be opened for appending as it is.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("event log corrupt at seq {seq} (byte {offset}) in {path}: {fault}")]
    Corrupt {
        path: String,
        seq: u64,
        offset: u64,
        fault: ChainFault,
    },
    #[error(
        "{path} has a torn tail: {bytes} bytes from byte {offset} after the last complete batch"
    )]
    TornTail {
        path: String,
        offset: u64,
        bytes: u64,
    },
    #[error("{path} is {actual} bytes but was {expected} bytes through its last known event: it was truncated or replaced")]
    Truncated {
        path: String,
        expected: u64,
        actual: u64,
    },
    #[error("{path} diverges from its head checkpoint at seq {seq}: {detail}")]
    CheckpointDiverges {
        path: String,
        seq: u64,
        detail: String,
    },
}

/// An append was refused or failed; unless said otherwise, nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("refused to append an empty batch")]
    EmptyBatch,
    #[error("refused a batch of {events} events: the cap is {MAX_BATCH_EVENTS}")]
    TooManyEvents { events: usize },
    #[error("event id `{id}` appears twice in one batch")]
    DuplicateId { id: String },
    #[error("event `{id}` encodes to {bytes} bytes, over the {MAX_LINE_BYTES}-byte line cap: store big payloads as artifacts")]
    LineTooLong { id: String, bytes: usize },
    #[error("the batch encodes to {bytes} bytes, over the {MAX_BATCH_BYTES}-byte batch cap")]
    BatchTooLarge { bytes: usize },
    #[error("conflict: expected {path} to hold {expected} events, it holds {actual}: load the log again and decide again")]
    Conflict {
        path: String,
        expected: u64,
        actual: u64,
    },
    #[error("event id `{id}` is already at seq {seq} in {path} with other contents")]
    IdReused { path: String, id: String, seq: u64 },
    #[error("the writer for {path} is poisoned by an earlier failure ({cause}): reopen the log")]
    Poisoned { path: String, cause: String },
    #[error("cannot write {path}: {source}; the writer is poisoned, reopen the log to see what was kept")]
    Write { path: String, source: io::Error },
    #[error("cannot fsync {path}: {source}; the writer is poisoned, reopen the log to see what was kept")]
    Sync { path: String, source: io::Error },
    #[error(transparent)]
    Log(#[from] OpenError),
}

/// The one way to add events to a log.
pub struct LogWriter {
    paths: LogPaths,
    file: File,
    position: Position,
    /// The Merkle tree over the events through `position`.
    tree: RootBuilder,
    /// The key that signs each checkpoint's tree head, if any.
    signer: Option<Arc<SigningKey>>,
    poisoned: Option<String>,
    io: Box<dyn LogIo + Send>,
}

impl LogWriter {
    /// Returns a writer for the log at `paths`, creating an empty log if there is none.
    ///
    /// Checks the tail from the head checkpoint on (the whole log when there is no checkpoint),
    /// so opening costs the events appended since the last checkpoint, not the log's size.
    pub fn open(paths: &LogPaths) -> Result<LogWriter, OpenError> {
        LogWriter::open_with_io(paths, Box::new(OsIo))
    }

    /// Returns a writer whose writes and syncs go through `io` (tests inject faults here).
    pub fn open_with_io(
        paths: &LogPaths,
        io: Box<dyn LogIo + Send>,
    ) -> Result<LogWriter, OpenError> {
        let path = paths.log().display().to_string();
        let io_error = |source| OpenError::Io {
            path: path.clone(),
            source,
        };
        let created = !paths.log().exists();
        let _lock = LogLock::exclusive(paths, true).map_err(io_error)?;
        // Only a writer holding the lock writes the checkpoint's temporary file, so one found
        // now was left by a writer that crashed.
        let _ = std::fs::remove_file(crate::log::checkpoint::temporary_path(paths));
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(paths.log())
            .map_err(io_error)?;
        if created {
            sync_dir(paths.dir()).map_err(io_error)?;
        }
        let checkpoint = read_checkpoint(paths)?;
        let mut writer = LogWriter {
            paths: paths.clone(),
            file,
            position: Position::START,
            tree: RootBuilder::default(),
            signer: None,
            poisoned: None,
            io,
        };
        if let Some(checkpoint) = checkpoint {
            writer.check_checkpoint(&checkpoint)?;
            // A checkpoint without a tree (version 1) is checked, then the log is read whole
            // once to build the tree; the next checkpoint names it.
            if let Some(tree) = checkpoint.tree.as_ref().and_then(|tree| tree.builder()) {
                writer.position = checkpoint.position();
                writer.tree = tree;
            }
        }
        let at_checkpoint = writer.position;
        writer.catch_up()?;
        if writer.position != at_checkpoint {
            // An earlier append stopped between its fsync and its checkpoint; finish that step.
            // Unsigned: the batch's time is not known here; the next append signs again.
            writer.refresh_checkpoint(None);
        }
        Ok(writer)
    }

    /// Signs the tree head of every checkpoint this writer writes from now on with `key`.
    pub fn sign_heads_with(&mut self, key: Arc<SigningKey>) {
        self.signer = Some(key);
    }

    /// Returns the position after the last complete batch this writer knows of.
    pub fn position(&self) -> Position {
        self.position
    }

    /// Returns the last event this writer knows of.
    pub fn head(&self) -> Option<Head> {
        self.position.head()
    }

    /// Appends `events` as one batch stamped with `at`, all or nothing.
    pub fn append(
        &mut self,
        expected: Expected,
        at: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<Appended, AppendError> {
        if let Some(cause) = &self.poisoned {
            return Err(AppendError::Poisoned {
                path: self.path(),
                cause: cause.clone(),
            });
        }
        check_batch(events)?;
        let _lock = LogLock::exclusive(&self.paths, false).map_err(|source| OpenError::Io {
            path: self.path(),
            source,
        })?;
        self.catch_up()?;
        let first_seq = match expected {
            Expected::Seq(seq) if seq == self.position.next_seq => seq,
            Expected::Seq(seq) if seq < self.position.next_seq => {
                return self.already_present(seq, events);
            }
            Expected::Seq(seq) => {
                return Err(AppendError::Conflict {
                    path: self.path(),
                    expected: seq,
                    actual: self.position.next_seq,
                })
            }
            Expected::Any => {
                let n_events = events.len() as u64;
                let retry_candidate = self.position.next_seq.checked_sub(n_events);
                if let Some(seq) = retry_candidate.filter(|_| self.tail_has_last_id_of(events)) {
                    match self.already_present(seq, events) {
                        Ok(appended) => return Ok(appended),
                        Err(reused @ AppendError::IdReused { .. }) => return Err(reused),
                        // Another batch is at the tail: this one is new.
                        Err(_) => {}
                    }
                }
                self.position.next_seq
            }
        };
        let (bytes, hashes) = self.encode(first_seq, at, events)?;
        self.write_durably(&bytes)?;
        self.position = Position {
            next_seq: first_seq + events.len() as u64,
            offset: self.position.offset + bytes.len() as u64,
            prev: hashes.last().copied().unwrap_or(self.position.prev),
        };
        for hash in &hashes {
            self.tree.push(leaf_hash(hash));
        }
        let checkpoint_error = self.refresh_checkpoint(Some(&format_timestamp(at)));
        Ok(Appended {
            outcome: AppendOutcome::Written,
            first_seq,
            position: self.position,
            tree: self.tree.clone(),
            checkpoint_error,
        })
    }

    fn encode(
        &self,
        first_seq: u64,
        at: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<(Vec<u8>, Vec<EventHash>), AppendError> {
        let timestamp = format_timestamp(at);
        let mut bytes = Vec::new();
        let mut hashes = Vec::with_capacity(events.len());
        let mut prev = self.position.prev;
        let n_events = events.len() as u32;
        for (index, (seq, event)) in (first_seq..).zip(events).enumerate() {
            let start = bytes.len();
            let batch = Batch {
                index: index as u32,
                len: n_events,
            };
            prev = encode_line(&mut bytes, seq, &timestamp, event, batch, &prev);
            hashes.push(prev);
            if bytes.len() - start > MAX_LINE_BYTES {
                return Err(AppendError::LineTooLong {
                    id: event.id().to_string(),
                    bytes: bytes.len() - start,
                });
            }
        }
        if bytes.len() > MAX_BATCH_BYTES {
            return Err(AppendError::BatchTooLarge { bytes: bytes.len() });
        }
        Ok((bytes, hashes))
    }

    /// Writes the batch in one call and syncs it; any failure poisons the writer.
    fn write_durably(&mut self, bytes: &[u8]) -> Result<(), AppendError> {
        if let Err(source) = self.io.write_all(&mut self.file, bytes) {
            self.poisoned = Some(format!("write failed: {source}"));
            return Err(AppendError::Write {
                path: self.path(),
                source,
            });
        }
        if let Err(source) = self.io.sync(&self.file) {
            self.poisoned = Some(format!("fsync failed: {source}"));
            return Err(AppendError::Sync {
                path: self.path(),
                source,
            });
        }
        Ok(())
    }

    /// Returns the append as already done when the log holds this batch at `seq`.
    fn already_present(&mut self, seq: u64, events: &[NewEvent]) -> Result<Appended, AppendError> {
        let conflict = || AppendError::Conflict {
            path: self.path(),
            expected: seq,
            actual: self.position.next_seq,
        };
        let n_back = self.position.next_seq - seq;
        if n_back > DEDUP_WINDOW || n_back < events.len() as u64 {
            return Err(conflict());
        }
        let lines = read_lines_before(&self.file, self.position.offset, n_back as usize).map_err(
            |source| OpenError::Io {
                path: self.path(),
                source,
            },
        )?;
        for ((offset, line), (index, event)) in lines.iter().zip(events.iter().enumerate()) {
            let stored = check_line(line).map_err(|fault| OpenError::Corrupt {
                path: self.path(),
                seq: seq + index as u64,
                offset: *offset,
                fault: ChainFault::Line(fault),
            })?;
            match compare(&stored, event) {
                Comparison::Same => {}
                Comparison::SameIdOtherContents => {
                    return Err(AppendError::IdReused {
                        path: self.path(),
                        id: event.id().to_string(),
                        seq: stored.seq,
                    })
                }
                Comparison::Different => return Err(conflict()),
            }
        }
        Ok(Appended {
            outcome: AppendOutcome::AlreadyPresent,
            first_seq: seq,
            position: self.position,
            tree: self.tree.clone(),
            checkpoint_error: None,
        })
    }

    /// Returns whether the log's last event carries the batch's last id: the one-line check that
    /// keeps ordinary `Any` appends from reading the whole tail back.
    fn tail_has_last_id_of(&self, events: &[NewEvent]) -> bool {
        let Some(last) = events.last() else {
            return false;
        };
        let tail = read_lines_before(&self.file, self.position.offset, 1).unwrap_or_default();
        tail.first()
            .and_then(|(_, line)| {
                check_line(line)
                    .ok()
                    .map(|stored| stored.id == last.id().as_str())
            })
            .unwrap_or(false)
    }

    /// Links whatever follows the known position: other writers' appends, or our own.
    fn catch_up(&mut self) -> Result<(), OpenError> {
        let path = self.path();
        let io_error = |source| OpenError::Io {
            path: path.clone(),
            source,
        };
        let len = self.file.metadata().map_err(io_error)?.len();
        if len < self.position.offset {
            return Err(OpenError::Truncated {
                path,
                expected: self.position.offset,
                actual: len,
            });
        }
        if len == self.position.offset {
            return Ok(());
        }
        let mut file = &self.file;
        file.seek(SeekFrom::Start(self.position.offset))
            .map_err(io_error)?;
        let mut hashes = Vec::new();
        let walk = walk(
            file.take(len - self.position.offset),
            self.position,
            1,
            |info, _| hashes.push(info.hash),
        )
        .map_err(io_error)?;
        if let Some(fault) = walk.fault {
            return Err(OpenError::Corrupt {
                path,
                seq: fault.seq,
                offset: fault.offset,
                fault: fault.fault,
            });
        }
        if let Some((offset, bytes)) = walk.torn_tail() {
            return Err(OpenError::TornTail {
                path,
                offset,
                bytes,
            });
        }
        let complete = walk.linker.complete();
        let linked = (complete.next_seq - self.position.next_seq) as usize;
        for hash in hashes.iter().take(linked) {
            self.tree.push(leaf_hash(hash));
        }
        self.position = complete;
        Ok(())
    }

    /// Checks that the checkpointed event is in the log where the checkpoint says.
    fn check_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), OpenError> {
        let path = self.path();
        let io_error = |source| OpenError::Io {
            path: path.clone(),
            source,
        };
        let len = self.file.metadata().map_err(io_error)?.len();
        if len < checkpoint.len {
            return Err(OpenError::Truncated {
                path,
                expected: checkpoint.len,
                actual: len,
            });
        }
        let diverges = |detail: String| OpenError::CheckpointDiverges {
            path: path.clone(),
            seq: checkpoint.seq,
            detail,
        };
        let lines = read_lines_before(&self.file, checkpoint.len, 1).map_err(io_error)?;
        let Some((_, line)) = lines.first() else {
            return Err(diverges(
                "no line ends where the checkpoint says".to_owned(),
            ));
        };
        let stored = check_line(line).map_err(|fault| diverges(fault.to_string()))?;
        if stored.seq != checkpoint.seq || stored.hash != checkpoint.hash || !stored.batch.is_last()
        {
            return Err(diverges(format!(
                "the line ending at byte {} is seq {} with hash {}",
                checkpoint.len, stored.seq, stored.hash
            )));
        }
        Ok(())
    }

    /// Replaces the checkpoint with the current position and tree, signed (when a key signs)
    /// at `time`; returns the error, if any.
    fn refresh_checkpoint(&mut self, time: Option<&str>) -> Option<String> {
        let mut checkpoint = Checkpoint::at(self.position, &self.tree)?;
        if let (Some(key), Some(time), Some(head)) = (&self.signer, time, checkpoint.tree_head()) {
            checkpoint.signed = Some(HeadSignature::sign(&head.signed_form(), time, key));
        }
        write_checkpoint(self.io.as_mut(), &self.paths, &checkpoint)
            .err()
            .map(|error| {
                format!(
                    "cannot write {}: {error}",
                    self.paths.checkpoint().display()
                )
            })
    }

    fn path(&self) -> String {
        self.paths.log().display().to_string()
    }
}

fn check_batch(events: &[NewEvent]) -> Result<(), AppendError> {
    if events.is_empty() {
        return Err(AppendError::EmptyBatch);
    }
    if events.len() > MAX_BATCH_EVENTS as usize {
        return Err(AppendError::TooManyEvents {
            events: events.len(),
        });
    }
    let mut ids = std::collections::BTreeSet::new();
    for event in events {
        if !ids.insert(event.id()) {
            return Err(AppendError::DuplicateId {
                id: event.id().to_string(),
            });
        }
    }
    Ok(())
}

enum Comparison {
    Same,
    SameIdOtherContents,
    Different,
}

fn compare(stored: &CheckedLine<'_>, event: &NewEvent) -> Comparison {
    if stored.id != event.id().as_str() {
        Comparison::Different
    } else if stored.kind == event.kind().as_str() && stored.data.get() == event.data().get() {
        Comparison::Same
    } else {
        Comparison::SameIdOtherContents
    }
}

/// Returns up to `count` whole lines (without `\n`) that end at or before `end`, oldest first.
///
/// `end` must be just past a `\n`. Reads backwards in growing windows, so it costs the size of
/// those lines, not of the file.
pub(crate) fn read_lines_before(
    file: &File,
    end: u64,
    count: usize,
) -> io::Result<Vec<(u64, Vec<u8>)>> {
    let max_window = (count as u64)
        .saturating_mul(MAX_LINE_BYTES as u64)
        .saturating_add(1);
    let mut window = (count as u64 * 512).clamp(1, end.max(1));
    loop {
        window = window.min(end).min(max_window);
        let start = end - window;
        let mut bytes = vec![0; window as usize];
        let mut reader = file;
        reader.seek(SeekFrom::Start(start))?;
        reader.read_exact(&mut bytes)?;
        let newlines: Vec<usize> = memchr::memrchr_iter(b'\n', &bytes)
            .take(count + 1)
            .collect();
        let have_all = newlines.len() > count || start == 0 || window == max_window;
        if have_all {
            return Ok(split_tail_lines(start, &bytes, &newlines, count));
        }
        window = window.saturating_mul(4);
    }
}

/// Returns the lines between the newlines found from the back of `bytes`.
fn split_tail_lines(
    start: u64,
    bytes: &[u8],
    newlines_from_back: &[usize],
    count: usize,
) -> Vec<(u64, Vec<u8>)> {
    let mut lines = Vec::with_capacity(count);
    for (index, &newline) in newlines_from_back.iter().enumerate().take(count) {
        let line_start = match newlines_from_back.get(index + 1) {
            Some(&previous_newline) => previous_newline + 1,
            None if start == 0 => 0,
            // The window did not reach this line's start: it is longer than the cap allows.
            None => break,
        };
        lines.push((
            start + line_start as u64,
            bytes[line_start..newline].to_vec(),
        ));
    }
    lines.reverse();
    lines
}
