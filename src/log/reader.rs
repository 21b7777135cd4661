//! Streaming reads of verified events, for folding.
//!
//! Yields only events of complete batches, each checked alone and linked to the one before.
//! Holds one block of lines and one batch of events in memory, whatever the log's size.
//! Must not skip a bad line: a terminated line that fails a check is corruption and ends the read.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::num::NonZeroUsize;
use std::ops::ControlFlow;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;

use crate::log::chain::{Linker, Position};
use crate::log::checkpoint::{read_checkpoint, Checkpoint, CheckpointError};
use crate::log::hash::EventHash;
use crate::log::line::{Batch, LineFault};
use crate::log::lock::LogLock;
use crate::log::merkle::leaf_hash;
use crate::log::paths::LogPaths;
use crate::log::scan::{Block, BlockScanner, Scanned};
use crate::log::verify::{OpenBatch, Verified};
use crate::log::walk::{check_at, recorded_artifact, walk_decoding, ChainFault, Decoder, LineView};

/// Returns whether `position` lies in the chain of the log at `paths`: the line that ends
/// there is whole, checks alone, closes its batch, and is event `next_seq - 1` with hash `prev`.
///
/// This is how a cached fold (a snapshot) proves it belongs to this log without a full read.
pub fn position_in_chain(paths: &LogPaths, position: Position) -> Result<bool, ReadError> {
    let Some(head) = position.head() else {
        return Ok(true);
    };
    let path = paths.log().display().to_string();
    let io_error = |source| ReadError::Io {
        path: path.clone(),
        source,
    };
    let file = File::open(paths.log()).map_err(io_error)?;
    if file.metadata().map_err(io_error)?.len() < position.offset {
        return Ok(false);
    }
    let lines =
        crate::log::writer::read_lines_before(&file, position.offset, 1).map_err(io_error)?;
    let Some((start, line)) = lines.first() else {
        return Ok(false);
    };
    // The line must end exactly at the position, not at some earlier newline.
    if start + line.len() as u64 + 1 != position.offset {
        return Ok(false);
    }
    Ok(crate::log::line::check_line(line).is_ok_and(|checked| {
        checked.seq == head.seq && checked.hash == head.hash && checked.batch.is_last()
    }))
}

/// One verified event as stored.
#[derive(Clone, Debug)]
pub struct RawEvent {
    seq: u64,
    ts: DateTime<Utc>,
    id: String,
    kind: String,
    batch: Batch,
    data: Box<RawValue>,
    prev: EventHash,
    hash: EventHash,
    offset: u64,
}

impl RawEvent {
    /// Returns the event's sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Returns the writer's timestamp.
    pub fn ts(&self) -> DateTime<Utc> {
        self.ts
    }

    /// Returns the writer-chosen id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Returns the kind as stored.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Returns the event's place in its batch.
    pub fn batch(&self) -> Batch {
        self.batch
    }

    /// Returns the payload's JSON text.
    pub fn data(&self) -> &RawValue {
        &self.data
    }

    /// Returns the hash of the event before this one.
    pub fn prev(&self) -> EventHash {
        self.prev
    }

    /// Returns this event's hash.
    pub fn hash(&self) -> EventHash {
        self.hash
    }

    /// Returns the byte offset of the event's line in the log.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

/// A read could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("event log corrupt at seq {seq} (byte {offset}) in {path}: {fault}")]
    Corrupt {
        path: String,
        seq: u64,
        offset: u64,
        fault: ChainFault,
    },
    #[error("event log truncated: {path} ends after {events} complete events (byte {offset}), but its checkpoint names seq {checkpoint_seq} (byte {checkpoint_len}): events were removed from its end")]
    Truncated {
        path: String,
        events: u64,
        offset: u64,
        checkpoint_seq: u64,
        checkpoint_len: u64,
    },
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// Bytes after the last complete batch, found at the end of a read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// Returns the offset of the first torn byte.
    pub offset: u64,
    /// Returns how many bytes are torn.
    pub bytes: u64,
}

/// An iterator over the verified events of a log, from a position to the end.
pub struct LogReader {
    path: String,
    scanner: BlockScanner<File>,
    block: Option<Block>,
    cursor: usize,
    linker: Linker,
    batch: Vec<RawEvent>,
    ready: VecDeque<RawEvent>,
    torn_tail: Option<TornTail>,
    finished: bool,
    /// The checkpoint as it stood when the read began (under the lock): the log must reach it.
    checkpoint: Option<Checkpoint>,
    _lock: LogLock,
}

impl LogReader {
    /// Returns a reader from the first event.
    pub fn open(paths: &LogPaths) -> Result<LogReader, ReadError> {
        LogReader::open_at(paths, Position::START)
    }

    /// Returns a reader that resumes after `position` (from a snapshot, say).
    ///
    /// The event before `position` is not re-checked: the caller vouches for the position.
    pub fn open_at(paths: &LogPaths, position: Position) -> Result<LogReader, ReadError> {
        let path = paths.log().display().to_string();
        let io_error = |source| ReadError::Io {
            path: path.clone(),
            source,
        };
        let lock = LogLock::shared(paths).map_err(io_error)?;
        // Read under the lock, before the log: no append can move it on in between.
        let checkpoint = read_checkpoint(paths)?;
        let mut file = File::open(paths.log()).map_err(io_error)?;
        file.seek(SeekFrom::Start(position.offset))
            .map_err(io_error)?;
        Ok(LogReader {
            scanner: BlockScanner::new(file, position.offset),
            path,
            block: None,
            cursor: 0,
            linker: Linker::resume(position),
            batch: Vec::new(),
            ready: VecDeque::new(),
            torn_tail: None,
            finished: false,
            checkpoint,
            _lock: lock,
        })
    }

    /// Returns the point after the last complete batch read so far.
    pub fn position(&self) -> Position {
        self.linker.complete()
    }

    /// Returns the torn tail found at the end of the log; `None` until the read has ended.
    pub fn torn_tail(&self) -> Option<TornTail> {
        self.torn_tail
    }

    /// Reads lines until a batch completes, the log ends, or a line is bad.
    fn read_batch(&mut self) -> Result<(), ReadError> {
        while self.ready.is_empty() && !self.finished {
            let Some((offset, line)) = self.next_line()? else {
                self.finished = true;
                self.check_reaches_checkpoint()?;
                break;
            };
            let (info, checked) = check_at(offset, &line)
                .and_then(|(info, checked)| recorded_artifact(&checked).map(|_| (info, checked)))
                .map_err(|fault| self.corrupt(offset, ChainFault::Line(fault)))?;
            self.linker
                .link(&info)
                .map_err(|fault| self.corrupt(offset, ChainFault::Link(fault)))?;
            self.batch.push(RawEvent {
                seq: checked.seq,
                ts: checked.ts,
                id: checked.id.into_owned(),
                kind: checked.kind.into_owned(),
                batch: checked.batch,
                data: checked.data.to_owned(),
                prev: checked.prev,
                hash: checked.hash,
                offset,
            });
            if info.batch.is_last() {
                self.ready.extend(self.batch.drain(..));
            }
        }
        Ok(())
    }

    /// Returns the next whole line and its offset, or `None` at the end of the log.
    fn next_line(&mut self) -> Result<Option<(u64, Vec<u8>)>, ReadError> {
        loop {
            if let Some(block) = &self.block {
                if let Some(length) = memchr::memchr(b'\n', &block.bytes[self.cursor..]) {
                    let start = self.cursor;
                    self.cursor += length + 1;
                    let line = block.bytes[start..start + length].to_vec();
                    return Ok(Some((block.offset + start as u64, line)));
                }
            }
            let scanned = self.scanner.next_block().map_err(|source| ReadError::Io {
                path: self.path.clone(),
                source,
            })?;
            match scanned {
                Scanned::Lines(block) => {
                    self.block = Some(block);
                    self.cursor = 0;
                }
                Scanned::Overlong { offset } => {
                    let fault = ChainFault::Line(LineFault::overlong());
                    return Err(self.corrupt(offset, fault));
                }
                Scanned::End {
                    offset,
                    unterminated,
                } => {
                    let complete = self.linker.complete().offset;
                    let end = offset + unterminated;
                    self.torn_tail = (end > complete).then_some(TornTail {
                        offset: complete,
                        bytes: end - complete,
                    });
                    return Ok(None);
                }
            }
        }
    }

    /// A log that ends before the event its checkpoint names lost events from its end: that
    /// is damage to report, never a shorter history to show.
    fn check_reaches_checkpoint(&self) -> Result<(), ReadError> {
        let complete = self.linker.complete();
        match &self.checkpoint {
            Some(checkpoint) if checkpoint.seq >= complete.next_seq => Err(ReadError::Truncated {
                path: self.path.clone(),
                events: complete.next_seq,
                offset: complete.offset,
                checkpoint_seq: checkpoint.seq,
                checkpoint_len: checkpoint.len,
            }),
            _ => Ok(()),
        }
    }

    fn corrupt(&mut self, offset: u64, fault: ChainFault) -> ReadError {
        self.finished = true;
        ReadError::Corrupt {
            path: self.path.clone(),
            seq: self.linker.next_seq(),
            offset,
            fault,
        }
    }
}

impl Iterator for LogReader {
    type Item = Result<RawEvent, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Err(error) = self.read_batch() {
            return Some(Err(error));
        }
        self.ready.pop_front().map(Ok)
    }
}

/// How a [`read_decoding`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadEnd {
    /// The point after the last complete batch handed over.
    pub position: Position,
    /// The torn tail after it, if the read reached the end of the log.
    pub torn_tail: Option<TornTail>,
    /// Whether the visitor stopped the read before the end.
    pub stopped: bool,
}

/// Reads the log after `from` as [`LogReader`] does (complete batches only, a bad line or a log
/// shorter than its checkpoint an error), with each line checked and turned into the caller's
/// value by `decode` on `threads` checker threads; hands the values to `visit` in `seq` order,
/// which may stop the read. Memory stays at a few blocks whatever the log's size.
pub fn read_decoding<T: Send>(
    paths: &LogPaths,
    from: Position,
    threads: NonZeroUsize,
    decode: Decoder<'_, T>,
    mut visit: impl FnMut(Verified, T) -> ControlFlow<()>,
) -> Result<ReadEnd, ReadError> {
    let path = paths.log().display().to_string();
    let io_error = |source| ReadError::Io {
        path: path.clone(),
        source,
    };
    let _lock = LogLock::shared(paths).map_err(io_error)?;
    // Read under the lock, before the log: no append can move it on in between.
    let checkpoint = read_checkpoint(paths)?;
    let mut file = File::open(paths.log()).map_err(io_error)?;
    file.seek(SeekFrom::Start(from.offset)).map_err(io_error)?;
    let mut batch = OpenBatch::default();
    let with_leaf = |view: LineView<'_>| (leaf_hash(&view.hash), decode(view));
    let walk = walk_decoding(
        file,
        from,
        threads.get(),
        &with_leaf,
        |info, _, (leaf, payload)| batch.add(info, leaf, payload, &mut visit),
    )
    .map_err(io_error)?;
    if let Some(fault) = walk.fault {
        return Err(ReadError::Corrupt {
            path,
            seq: fault.seq,
            offset: fault.offset,
            fault: fault.fault,
        });
    }
    let complete = walk.linker.complete();
    if let Some(checkpoint) = checkpoint.filter(|c| !walk.halted && c.seq >= complete.next_seq) {
        return Err(ReadError::Truncated {
            path,
            events: complete.next_seq,
            offset: complete.offset,
            checkpoint_seq: checkpoint.seq,
            checkpoint_len: checkpoint.len,
        });
    }
    Ok(ReadEnd {
        position: complete,
        torn_tail: walk
            .torn_tail()
            .map(|(offset, bytes)| TornTail { offset, bytes }),
        stopped: walk.halted,
    })
}
