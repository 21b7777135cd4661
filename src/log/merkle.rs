//! The Merkle tree over a log: RFC 6962's shape (Certificate Transparency) with BLAKE3, its
//! root, and inclusion and consistency proofs that anyone can check without the log.
//!
//! The leaves are the events' line hashes, in `seq` order. A leaf is hashed under one
//! derive-key context and an inner node under another, so a leaf can never pass for a node.
//! `docs/log-format.md` (section 10) specifies it with test vectors. Owns only the arithmetic:
//! reading a log's leaves is the caller's.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};

use crate::log::hash::EventHash;
use crate::trust::SignedTree;

/// A node of the tree (a leaf hash, an inner node or the root): 32 bytes, written as hex.
pub type TreeHash = EventHash;

/// The BLAKE3 derive-key context of a leaf: the hash of one event line's hash.
pub const LEAF_CONTEXT: &str = "omk 2026-12-04 event-log v1 merkle leaf";
/// The BLAKE3 derive-key context of an inner node: the hash of its two children, left first.
pub const NODE_CONTEXT: &str = "omk 2026-12-04 event-log v1 merkle node";

// One hasher per context and thread, reset before each use: the context's key is derived once
// (a root took 30% less time than deriving it per node), and a hasher (about 2 KB) is never
// copied per node (copying it was half the cost of a node).
thread_local! {
    static LEAF: RefCell<blake3::Hasher> = RefCell::new(blake3::Hasher::new_derive_key(LEAF_CONTEXT));
    static NODE: RefCell<blake3::Hasher> = RefCell::new(blake3::Hasher::new_derive_key(NODE_CONTEXT));
}

/// Returns the leaf of an event whose line hashes to `line`.
pub fn leaf_hash(line: &EventHash) -> TreeHash {
    hash_with(&LEAF, &[line.as_bytes()])
}

/// Returns the inner node over `left` and `right`.
pub fn node_hash(left: &TreeHash, right: &TreeHash) -> TreeHash {
    hash_with(&NODE, &[left.as_bytes(), right.as_bytes()])
}

fn hash_with(
    hasher: &'static std::thread::LocalKey<RefCell<blake3::Hasher>>,
    parts: &[&[u8; 32]],
) -> TreeHash {
    hasher.with_borrow_mut(|hasher| {
        hasher.reset();
        for part in parts {
            hasher.update(*part);
        }
        EventHash::from_bytes(*hasher.finalize().as_bytes())
    })
}

/// A tree's size and root: what checkpoints, proofs and signatures name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TreeHead {
    /// How many events (leaves) the tree holds: the last one's `seq` + 1.
    pub size: u64,
    pub root: TreeHash,
}

/// A tree at some size, with what a builder needs to extend it without the leaves before: the
/// form in which checkpoints and snapshots keep a tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TreeState {
    /// The number of events: the last one's `seq` + 1.
    pub size: u64,
    pub root: TreeHash,
    /// The roots of the tree's perfect subtrees, largest first (one per set bit of `size`).
    pub frontier: Vec<TreeHash>,
}

impl TreeHead {
    /// Returns the head as a signature covers it.
    pub fn signed_form(&self) -> SignedTree {
        SignedTree {
            size: self.size,
            root_hex: self.root.to_hex(),
        }
    }
}

impl TreeState {
    /// Returns the state of `builder`, or `None` for no leaves.
    pub fn of(builder: &RootBuilder) -> Option<TreeState> {
        let head = builder.head()?;
        Some(TreeState {
            size: head.size,
            root: head.root,
            frontier: builder.frontier(),
        })
    }

    /// Returns its size and root.
    pub fn head(&self) -> TreeHead {
        TreeHead {
            size: self.size,
            root: self.root,
        }
    }

    /// Returns the builder that goes on from here, or `None` when the frontier does not fold to
    /// the root.
    pub fn builder(&self) -> Option<RootBuilder> {
        let builder = RootBuilder::from_frontier(self.size, &self.frontier)?;
        (builder.root() == Some(self.root)).then_some(builder)
    }
}

/// Builds a tree's root leaf by leaf in O(log n) memory: the roots of its perfect subtrees,
/// largest first, merged as they fill up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RootBuilder {
    /// (subtree size, subtree root), sizes strictly decreasing powers of two.
    stack: Vec<(u64, TreeHash)>,
    size: u64,
}

impl RootBuilder {
    /// Adds the next leaf.
    pub fn push(&mut self, leaf: TreeHash) {
        let mut node = (1, leaf);
        while let Some(&(size, left)) = self.stack.last() {
            if size != node.0 {
                break;
            }
            self.stack.pop();
            node = (size * 2, node_hash(&left, &node.1));
        }
        self.stack.push(node);
        self.size += 1;
    }

    /// Returns the builder over the events whose line hashes are `lines`, in `seq` order.
    pub fn over_lines<'a>(lines: impl IntoIterator<Item = &'a EventHash>) -> RootBuilder {
        let mut builder = RootBuilder::default();
        for line in lines {
            builder.push(leaf_hash(line));
        }
        builder
    }

    /// Returns how many leaves were added.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Returns the builder that resumes from `frontier`, the roots of the perfect subtrees of a
    /// tree of `size` leaves, largest first (one per set bit of `size`); `None` when they do not
    /// fit that size.
    pub fn from_frontier(size: u64, frontier: &[TreeHash]) -> Option<RootBuilder> {
        if frontier.len() != size.count_ones() as usize {
            return None;
        }
        let sizes = (0..64)
            .rev()
            .map(|bit| 1u64 << bit)
            .filter(|bit| size & bit != 0);
        Some(RootBuilder {
            stack: sizes.zip(frontier.iter().copied()).collect(),
            size,
        })
    }

    /// Returns the roots of the perfect subtrees so far, largest first: with the size, all a
    /// builder needs to go on.
    pub fn frontier(&self) -> Vec<TreeHash> {
        self.stack.iter().map(|(_, hash)| *hash).collect()
    }

    /// Returns the size and root so far, or `None` for no leaves.
    pub fn head(&self) -> Option<TreeHead> {
        Some(TreeHead {
            size: self.size,
            root: self.root()?,
        })
    }

    /// Returns the root of the leaves so far, or `None` for none.
    pub fn root(&self) -> Option<TreeHash> {
        let mut nodes = self.stack.iter().rev();
        let (_, mut root) = *nodes.next()?;
        for (_, left) in nodes {
            root = node_hash(left, &root);
        }
        Some(root)
    }
}

/// Returns the root of `leaves`, or `None` for none.
pub fn root(leaves: &[TreeHash]) -> Option<TreeHash> {
    let mut builder = RootBuilder::default();
    for leaf in leaves {
        builder.push(*leaf);
    }
    builder.root()
}

/// Returns the largest power of two below `n` (which must be at least 2): where RFC 6962 splits.
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// Returns the audit path of leaf `index` in the tree of `leaves` (RFC 6962 §2.1.1), or `None`
/// when there is no such leaf.
pub fn inclusion_proof(leaves: &[TreeHash], index: usize) -> Option<Vec<TreeHash>> {
    (index < leaves.len()).then(|| path(leaves, index))
}

fn path(leaves: &[TreeHash], index: usize) -> Vec<TreeHash> {
    if leaves.len() <= 1 {
        return Vec::new();
    }
    let k = split(leaves.len());
    let (left, right) = leaves.split_at(k);
    let (mut proof, sibling) = if index < k {
        (path(left, index), root(right))
    } else {
        (path(right, index - k), root(left))
    };
    proof.extend(sibling);
    proof
}

/// Returns whether `path` proves that `leaf` is leaf `index` of the tree of `size` leaves whose
/// root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &TreeHash,
    index: u64,
    size: u64,
    path: &[TreeHash],
    root: &TreeHash,
) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut hash = *leaf;
    for sibling in path {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            hash = node_hash(sibling, &hash);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            hash = node_hash(&hash, sibling);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && hash == *root
}

/// Returns the proof that the tree of the first `old_size` leaves is a prefix of the tree of
/// `leaves` (RFC 6962 §2.1.2), or `None` unless `0 < old_size <= leaves.len()`.
pub fn consistency_proof(leaves: &[TreeHash], old_size: usize) -> Option<Vec<TreeHash>> {
    (old_size > 0 && old_size <= leaves.len()).then(|| subproof(old_size, leaves, true))
}

fn subproof(m: usize, leaves: &[TreeHash], complete: bool) -> Vec<TreeHash> {
    let n = leaves.len();
    if m == n {
        return if complete {
            Vec::new()
        } else {
            root(leaves).into_iter().collect()
        };
    }
    let k = split(n);
    let (left, right) = leaves.split_at(k);
    if m <= k {
        let mut proof = subproof(m, left, complete);
        proof.extend(root(right));
        proof
    } else {
        let mut proof = subproof(m - k, right, false);
        proof.extend(root(left));
        proof
    }
}

/// Returns whether `proof` shows that the tree of `old_size` leaves with root `old_root` is a
/// prefix of the tree of `new_size` leaves with root `new_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &TreeHash,
    new_root: &TreeHash,
    proof: &[TreeHash],
) -> bool {
    if old_size == 0 || old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    // A power of two: the old root itself is the first node of the path.
    let mut nodes: Vec<TreeHash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        nodes.push(*old_root);
    }
    nodes.extend_from_slice(proof);
    let Some((first, rest)) = nodes.split_first() else {
        return false;
    };
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut old_hash, mut new_hash) = (*first, *first);
    for node in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            old_hash = node_hash(node, &old_hash);
            new_hash = node_hash(node, &new_hash);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            new_hash = node_hash(&new_hash, node);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && old_hash == *old_root && new_hash == *new_root
}
