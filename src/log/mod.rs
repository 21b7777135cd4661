//! The event log: an append-only, BLAKE3 hash-chained JSONL file, and the files beside it.
//!
//! This module is the storage engine. It owns the line format ([`line`]), the chain
//! ([`chain`]), reading ([`reader`]), appending ([`writer`]), verification ([`verify`]),
//! torn-tail repair ([`repair`]), the head checkpoint and the artifact store.
//! It knows nothing about goals, tasks or agents: an event is a kind, an id and a JSON object.
//! The format is specified in `docs/log-format.md`; the constants here are part of it.

pub mod adopt;
pub mod artifacts;
pub mod chain;
pub mod checkpoint;
pub mod hash;
pub mod io;
pub mod line;
mod lock;
pub mod merkle;
pub mod paths;
pub mod proof;
pub mod reader;
pub mod repair;
mod scan;
pub mod verify;
mod walk;
pub mod writer;

pub use artifacts::{ArtifactRef, ArtifactStore, ContentHash};
pub use chain::{Head, Position};
pub use hash::EventHash;
pub use line::{Batch, EventId, EventKind, NewEvent};
pub use paths::LogPaths;
pub use reader::{position_in_chain, LogReader, RawEvent};
pub use verify::{verify_log, verify_log_decoding, Verified, VerifyOptions, VerifyReport};
pub use walk::{ChainFault, Decoder, LineView};
pub use writer::{AppendError, Appended, Expected, LogWriter, OpenError};
