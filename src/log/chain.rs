//! Links between lines: `seq` continuity, `prev` hashes and batch framing.
//!
//! Owns the sequential part of verification; everything a line proves alone is in [`crate::log::line`].
//! Must stay cheap and allocation-free per event: it is the only step that cannot run in parallel.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::log::hash::EventHash;
use crate::log::line::{Batch, MAX_BATCH_BYTES};

/// The last event of a log: its `seq` and `hash`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Head {
    /// Returns the event's sequence number.
    pub seq: u64,
    /// Returns the event's hash.
    pub hash: EventHash,
}

/// A point between two complete batches: where a read resumes or the next append goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// Returns the `seq` the next event gets (the number of events before this point).
    pub next_seq: u64,
    /// Returns the byte offset of this point in the log file.
    pub offset: u64,
    /// Returns the hash the next event must carry as `prev`.
    pub prev: EventHash,
}

impl Position {
    /// The start of an empty log.
    pub const START: Position = Position {
        next_seq: 0,
        offset: 0,
        prev: EventHash::GENESIS,
    };

    /// Returns the last event before this point, or `None` at the start of the log.
    pub fn head(&self) -> Option<Head> {
        self.next_seq.checked_sub(1).map(|seq| Head {
            seq,
            hash: self.prev,
        })
    }
}

/// What is wrong with how a line follows the line before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum LinkFault {
    /// The line's `seq` is not the next number: a line was deleted, duplicated or moved.
    SeqGap { expected: u64, found: u64 },
    /// The line's `prev` is not the hash of the line before it.
    BrokenLink {
        expected: EventHash,
        found: EventHash,
    },
    /// The line's `batch` does not continue or start a batch correctly.
    BatchBroken { detail: String },
}

impl fmt::Display for LinkFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkFault::SeqGap { expected, found } => {
                write!(f, "seq gap: expected seq {expected}, found {found}")
            }
            LinkFault::BrokenLink { expected, found } => write!(
                f,
                "broken link: prev is {}…, the previous event's hash is {}…",
                &found.to_hex()[..12],
                &expected.to_hex()[..12]
            ),
            LinkFault::BatchBroken { detail } => write!(f, "batch broken: {detail}"),
        }
    }
}

/// What the linker needs of one checked line.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LinkInfo {
    pub seq: u64,
    pub prev: EventHash,
    pub hash: EventHash,
    pub batch: Batch,
    /// Byte offset of the line's first byte.
    pub offset: u64,
    /// Byte offset just past the line's `\n`.
    pub end: u64,
}

/// A batch whose last event has not been linked yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OpenBatch {
    first_seq: u64,
    offset: u64,
    len: u32,
    next_index: u32,
}

/// Links lines in order and tracks the last point between complete batches.
#[derive(Clone, Debug)]
pub(crate) struct Linker {
    next_seq: u64,
    prev: EventHash,
    open_batch: Option<OpenBatch>,
    complete: Position,
}

impl Linker {
    /// Returns a linker that expects the first line after `position`.
    pub fn resume(position: Position) -> Linker {
        Linker {
            next_seq: position.next_seq,
            prev: position.prev,
            open_batch: None,
            complete: position,
        }
    }

    /// Returns the `seq` the next line must carry.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Returns the point after the last complete batch linked so far.
    pub fn complete(&self) -> Position {
        self.complete
    }

    /// Links one line, or returns why it does not follow the previous one.
    pub fn link(&mut self, line: &LinkInfo) -> Result<(), LinkFault> {
        if line.seq != self.next_seq {
            return Err(LinkFault::SeqGap {
                expected: self.next_seq,
                found: line.seq,
            });
        }
        if line.prev != self.prev {
            return Err(LinkFault::BrokenLink {
                expected: self.prev,
                found: line.prev,
            });
        }
        let batch = self.follow_batch(line)?;
        self.next_seq += 1;
        self.prev = line.hash;
        if line.batch.is_last() {
            self.open_batch = None;
            self.complete = Position {
                next_seq: self.next_seq,
                offset: line.end,
                prev: line.hash,
            };
        } else {
            self.open_batch = Some(batch);
        }
        Ok(())
    }

    /// Returns the open batch after `line`, checking that `line` starts or continues one.
    fn follow_batch(&self, line: &LinkInfo) -> Result<OpenBatch, LinkFault> {
        let broken = |detail: String| Err(LinkFault::BatchBroken { detail });
        let expected = match self.open_batch {
            None => OpenBatch {
                first_seq: line.seq,
                offset: line.offset,
                len: line.batch.len,
                next_index: 0,
            },
            Some(open) => open,
        };
        if line.batch.index != expected.next_index || line.batch.len != expected.len {
            return broken(format!(
                "expected [{}, {}], found [{}, {}]",
                expected.next_index, expected.len, line.batch.index, line.batch.len
            ));
        }
        if line.end - expected.offset > MAX_BATCH_BYTES as u64 {
            return broken(format!(
                "the batch starting at seq {} exceeds {MAX_BATCH_BYTES} bytes",
                expected.first_seq
            ));
        }
        Ok(OpenBatch {
            next_index: expected.next_index + 1,
            ..expected
        })
    }
}
