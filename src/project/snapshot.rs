//! The snapshot: a cached fold, with the exact point of the log it covers.
//!
//! A snapshot is a cache for views, used only when its digest matches its content (which
//! catches damage, though not a deliberate edit) and the event it names is in the chain at the
//! offset it names (checked by the shell with `log::position_in_chain`); otherwise it is
//! ignored and the log is folded from the start. Nothing that decides reads it, and deleting
//! it changes no output.

use serde::{Deserialize, Serialize};

use crate::log::chain::Position;
use crate::log::hash::EventHash;
use crate::log::merkle::{RootBuilder, TreeState};
use crate::project::derived::DerivedBy;
use crate::project::to_json;
use crate::state::GoalState;

/// The snapshot's format version: 4 added the Merkle tree, 3 `derived_by` in place of `v`, 2
/// the digest.
pub const SNAPSHOT_FORMAT: u32 = 4;

/// The point of the log a snapshot covers: the last event folded and where its line ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Covers {
    /// Returns the `seq` of the last event folded.
    pub seq: u64,
    /// Returns its hash.
    pub hash: EventHash,
    /// Returns the byte offset just after its line.
    pub offset: u64,
    /// The Merkle tree over the events through `seq`, so that a load from the snapshot goes on
    /// building it without the events before.
    pub tree: TreeState,
}

/// `snapshot.json`: a goal's state as folded through `covers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// The omk that wrote the snapshot, and its format version.
    pub derived_by: DerivedBy,
    /// Returns the point of the log it covers.
    pub covers: Covers,
    /// Returns the BLAKE3 hash (hex) of `state` as this build writes it: a snapshot whose
    /// content no longer hashes to it is ignored.
    pub digest: String,
    /// Returns the folded state.
    pub state: GoalState,
}

impl Snapshot {
    /// Returns the snapshot of `state`, folded through `position`, where the log's tree is
    /// `tree`; `None` for an empty log.
    pub fn new(state: &GoalState, position: Position, tree: &RootBuilder) -> Option<Snapshot> {
        let head = position.head()?;
        Some(Snapshot {
            derived_by: DerivedBy::this_build(SNAPSHOT_FORMAT),
            covers: Covers {
                seq: head.seq,
                hash: head.hash,
                offset: position.offset,
                tree: TreeState::of(tree)?,
            },
            digest: digest(state),
            state: state.clone(),
        })
    }

    /// Returns whether the state still hashes to the digest written with it.
    pub fn digest_matches(&self) -> bool {
        digest(&self.state) == self.digest
    }

    /// Returns the position a fold resumes from.
    /// Returns the builder of the log's tree through the covered event, or `None` when the
    /// stored tree does not fit it (its size is not `seq` + 1, or its frontier does not fold to
    /// its root).
    pub fn tree(&self) -> Option<RootBuilder> {
        let tree = &self.covers.tree;
        (tree.size == self.covers.seq + 1)
            .then(|| tree.builder())
            .flatten()
    }

    pub fn position(&self) -> Position {
        Position {
            next_seq: self.covers.seq + 1,
            offset: self.covers.offset,
            prev: self.covers.hash,
        }
    }
}

/// Returns the hex BLAKE3 hash of the state's JSON form.
fn digest(state: &GoalState) -> String {
    blake3::hash(to_json(state).as_bytes()).to_hex().to_string()
}
