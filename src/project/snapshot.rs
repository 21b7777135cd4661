//! The snapshot: a cached fold, with the exact point of the log it covers.
//!
//! A snapshot is trusted only when the event it names is in the chain at the offset it names
//! (checked by the shell with `log::position_in_chain`); otherwise it is ignored and the log
//! is folded from the start. Deleting it changes no output.

use serde::{Deserialize, Serialize};

use crate::log::chain::Position;
use crate::log::hash::EventHash;
use crate::state::GoalState;

/// The snapshot format version.
pub const SNAPSHOT_VERSION: u32 = 1;

/// The point of the log a snapshot covers: the last event folded and where its line ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Covers {
    /// Returns the `seq` of the last event folded.
    pub seq: u64,
    /// Returns its hash.
    pub hash: EventHash,
    /// Returns the byte offset just after its line.
    pub offset: u64,
}

/// `snapshot.json`: a goal's state as folded through `covers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// Returns the snapshot format version.
    pub v: u32,
    /// Returns the point of the log it covers.
    pub covers: Covers,
    /// Returns the folded state.
    pub state: GoalState,
}

impl Snapshot {
    /// Returns the snapshot of `state`, folded through `position`; `None` for an empty log.
    pub fn new(state: &GoalState, position: Position) -> Option<Snapshot> {
        let head = position.head()?;
        Some(Snapshot {
            v: SNAPSHOT_VERSION,
            covers: Covers {
                seq: head.seq,
                hash: head.hash,
                offset: position.offset,
            },
            state: state.clone(),
        })
    }

    /// Returns the position a fold resumes from.
    pub fn position(&self) -> Position {
        Position {
            next_seq: self.covers.seq + 1,
            offset: self.covers.offset,
            prev: self.covers.hash,
        }
    }
}
