//! Issue 14: the Merkle tree over a log. Roots from the streaming builder against a naive
//! recursive reference written from RFC 6962's definition; every inclusion and consistency
//! proof (RFC 6962 generation) verifies with the RFC 9162 checks, and fails for a wrong leaf,
//! index, size, root or path; pinned vectors (also in docs/log-format.md, section 10).

use omk::log::merkle::{
    consistency_proof, inclusion_proof, leaf_hash, node_hash, root, verify_consistency,
    verify_inclusion, RootBuilder, TreeHash, TreeState,
};
use omk::log::EventHash;
use proptest::prelude::*;

/// The leaves of a tree of `n` events whose line hashes are BLAKE3 of their index.
fn leaves(n: usize) -> Vec<TreeHash> {
    (0..n)
        .map(|index| {
            leaf_hash(&EventHash::from_bytes(
                *blake3::hash(&index.to_le_bytes()).as_bytes(),
            ))
        })
        .collect()
}

/// RFC 6962 §2.1: MTH(D[n]) = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n.
fn naive_root(leaves: &[TreeHash]) -> TreeHash {
    if leaves.len() == 1 {
        return leaves[0];
    }
    let k = (0..)
        .map(|e| 1usize << e)
        .take_while(|k| *k < leaves.len())
        .last()
        .unwrap();
    node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
}

fn flipped(hash: &TreeHash) -> TreeHash {
    let mut bytes = *hash.as_bytes();
    bytes[7] ^= 0x10;
    EventHash::from_bytes(bytes)
}

#[test]
fn the_streaming_root_is_the_recursive_root_for_every_size_to_300() {
    let all = leaves(300);
    let mut builder = RootBuilder::default();
    assert_eq!(builder.root(), None);
    for size in 1..=300 {
        builder.push(all[size - 1]);
        let expected = naive_root(&all[..size]);
        assert_eq!(builder.root(), Some(expected), "size {size}");
        assert_eq!(root(&all[..size]), Some(expected), "size {size}");
    }
}

#[test]
fn a_tree_resumed_from_its_frontier_reaches_the_same_roots() {
    let all = leaves(130);
    let mut builder = RootBuilder::default();
    for size in 1..=all.len() {
        builder.push(all[size - 1]);
        let state = TreeState::of(&builder).unwrap();
        assert_eq!(state.frontier.len(), size.count_ones() as usize);
        let mut resumed = state.builder().expect("the frontier folds to the root");
        for leaf in &all[size..] {
            resumed.push(*leaf);
        }
        assert_eq!(resumed.root(), Some(naive_root(&all)), "resumed at {size}");
        // A frontier that does not fit its size, or a damaged one, is refused.
        let mut damaged = state.clone();
        damaged.frontier[0] = flipped(&damaged.frontier[0]);
        assert!(damaged.builder().is_none(), "size {size}");
        assert!(RootBuilder::from_frontier(size as u64, &state.frontier[1..]).is_none());
    }
}

#[test]
fn every_inclusion_proof_verifies_and_nothing_else_does() {
    let all = leaves(71);
    for size in 1..all.len() {
        let tree = &all[..size];
        let tree_root = root(tree).unwrap();
        for index in 0..size {
            let path = inclusion_proof(tree, index).unwrap();
            let (i, n) = (index as u64, size as u64);
            assert!(
                verify_inclusion(&tree[index], i, n, &path, &tree_root),
                "{index} of {size}"
            );
            assert!(!verify_inclusion(
                &flipped(&tree[index]),
                i,
                n,
                &path,
                &tree_root
            ));
            assert!(!verify_inclusion(
                &tree[index],
                i,
                n,
                &path,
                &flipped(&tree_root)
            ));
            if size > 1 {
                let other = (index + 1) % size;
                assert!(!verify_inclusion(
                    &tree[index],
                    other as u64,
                    n,
                    &path,
                    &tree_root
                ));
                // Size and root are one head: a proof against this tree's head is no proof
                // against the next tree's (the checker compares both with a head it trusts).
                let next_root = root(&all[..size + 1]).unwrap();
                assert!(!verify_inclusion(&tree[index], i, n + 1, &path, &next_root));
                let mut bent = path.clone();
                bent[0] = flipped(&bent[0]);
                assert!(!verify_inclusion(&tree[index], i, n, &bent, &tree_root));
            }
            assert!(
                !verify_inclusion(&tree[index], n, n, &path, &tree_root),
                "index past the end"
            );
        }
        assert_eq!(inclusion_proof(tree, size), None);
    }
}

#[test]
fn every_consistency_proof_verifies_and_nothing_else_does() {
    let all = leaves(71);
    for new_size in 1..all.len() {
        let new_root = root(&all[..new_size]).unwrap();
        for old_size in 1..=new_size {
            let old_root = root(&all[..old_size]).unwrap();
            let proof = consistency_proof(&all[..new_size], old_size).unwrap();
            let (m, n) = (old_size as u64, new_size as u64);
            assert!(
                verify_consistency(m, n, &old_root, &new_root, &proof),
                "{old_size} to {new_size}"
            );
            assert!(!verify_consistency(
                m,
                n,
                &flipped(&old_root),
                &new_root,
                &proof
            ));
            assert!(!verify_consistency(
                m,
                n,
                &old_root,
                &flipped(&new_root),
                &proof
            ));
            if old_size < new_size {
                let next_root = root(&all[..new_size + 1]).unwrap();
                assert!(!verify_consistency(m, n + 1, &old_root, &next_root, &proof));
                let later_old_root = root(&all[..old_size + 1]).unwrap();
                assert!(!verify_consistency(
                    m + 1,
                    n,
                    &later_old_root,
                    &new_root,
                    &proof
                ));
                let mut bent = proof.clone();
                bent[0] = flipped(&bent[0]);
                assert!(!verify_consistency(m, n, &old_root, &new_root, &bent));
            }
        }
        assert_eq!(consistency_proof(&all[..new_size], 0), None);
        assert_eq!(consistency_proof(&all[..new_size], new_size + 1), None);
    }
}

proptest! {
    /// A rewritten history (any one leaf changed) has no consistency proof from the old tree.
    #[test]
    fn a_rewritten_leaf_breaks_consistency(new_size in 2usize..200, split in 1usize..200, at in 0usize..200) {
        let old_size = 1 + split % (new_size - 1);
        let at = at % old_size;
        let honest = leaves(new_size);
        let old_root = root(&honest[..old_size]).unwrap();
        let mut rewritten = honest.clone();
        rewritten[at] = flipped(&rewritten[at]);
        let proof = consistency_proof(&rewritten, old_size).unwrap();
        let new_root = root(&rewritten).unwrap();
        prop_assert!(!verify_consistency(old_size as u64, new_size as u64, &old_root, &new_root, &proof));
    }
}

/// Pinned: the leaf and node contexts, and a root of three leaves (docs/log-format.md, §10).
#[test]
fn tree_hashes_are_pinned() {
    let line = "71bb3c31bbb704a0054d37ff21e7fcdfd631aebbede7a59ec00a90817432f204"
        .parse::<EventHash>()
        .unwrap();
    let leaf = leaf_hash(&line);
    assert_eq!(leaf.to_hex(), PINNED_LEAF);
    assert_eq!(node_hash(&leaf, &leaf).to_hex(), PINNED_NODE);
    assert_eq!(
        root(&[leaf, leaf, leaf]).unwrap().to_hex(),
        PINNED_ROOT_OF_THREE
    );
}

// Computed independently with Python's `blake3` package from docs/log-format.md, section 10.
const PINNED_LEAF: &str = "820cdf9095d80277b0179bdfae2ca45f481a9b38ac7bb110332a272631ac0313";
const PINNED_NODE: &str = "bd8b9ed8cd711c85d7b0c058b163ee42b26beb62d9c3d9e9a58c22201775e36f";
const PINNED_ROOT_OF_THREE: &str =
    "ab390ff99b72b6fd2ec4fb07b9af30e7e851d0dc0ef56f5ebf40e52cfb83fe52";

mod proofs_of_a_real_log {
    //! `omk log prove` and `omk log check-proof` on the valid fixture log: every event's
    //! inclusion and every earlier tree's consistency hold; an edited or re-hashed line, a
    //! wrong index and a head one does not trust are refused, and the CLI says which.
    #![allow(clippy::disallowed_types, clippy::disallowed_methods)] // Tests start the binary.

    use std::path::Path;
    use std::process::Command;

    use omk::log::proof::{
        check_proof, prove_consistency, prove_inclusion, LogProof, ProofFault, Proven,
    };
    use omk::log::{EventHash, LogPaths};

    fn valid() -> LogPaths {
        LogPaths::resolve(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/logs/valid"))
    }

    fn inclusion_parts(proof: &LogProof) -> (u64, EventHash, String) {
        match proof {
            LogProof::Inclusion {
                size, root, line, ..
            } => (*size, *root, line.clone()),
            other => panic!("not an inclusion proof: {other:?}"),
        }
    }

    fn with_line(proof: &LogProof, new_line: String) -> LogProof {
        match proof.clone() {
            LogProof::Inclusion {
                size,
                root,
                index,
                path,
                ..
            } => LogProof::Inclusion {
                size,
                root,
                index,
                line: new_line,
                path,
            },
            other => other,
        }
    }

    #[test]
    fn every_event_and_every_earlier_tree_of_a_log_is_proven() {
        let paths = valid();
        for seq in 0..6 {
            let proof = prove_inclusion(&paths, seq, None).unwrap();
            let (size, root, _) = inclusion_parts(&proof);
            assert_eq!(size, 6);
            assert!(
                matches!(check_proof(&proof, Some((size, root))), Ok(Proven::Included { seq: s, .. }) if s == seq)
            );
            assert!(matches!(
                check_proof(&proof, Some((size - 1, root))),
                Err(ProofFault::NotTrusted { .. })
            ));
        }
        for old_size in 1..=6 {
            let proof = prove_consistency(&paths, old_size, None).unwrap();
            assert!(
                matches!(check_proof(&proof, None), Ok(Proven::Extends { .. })),
                "{old_size}"
            );
        }
        assert!(prove_inclusion(&paths, 6, None).is_err());
        assert!(
            prove_inclusion(&paths, 4, Some(4)).is_err(),
            "seq 4 is not in the first 4"
        );
        assert!(prove_consistency(&paths, 0, None).is_err());
        assert!(prove_consistency(&paths, 3, Some(7)).is_err());
    }

    #[test]
    fn an_edited_or_rehashed_line_is_refused() {
        let proof = prove_inclusion(&valid(), 4, None).unwrap();
        let (_, _, line) = inclusion_parts(&proof);
        let edited = line.replace("agent exited 0", "agent exited 1");
        assert!(matches!(
            check_proof(&with_line(&proof, edited.clone()), None),
            Err(ProofFault::BadLine(_))
        ));
        // Re-hashed after the edit: a valid line, but not the leaf the tree holds.
        let body = &edited[..edited.len() - 75];
        let rehashed = format!(
            "{body},\"hash\":\"{}\"}}",
            EventHash::of_body(body.as_bytes())
        );
        assert!(matches!(
            check_proof(&with_line(&proof, rehashed), None),
            Err(ProofFault::NotIncluded { .. })
        ));
        let other = prove_inclusion(&valid(), 3, None).unwrap();
        let (_, _, other_line) = inclusion_parts(&other);
        assert!(matches!(
            check_proof(&with_line(&proof, other_line), None),
            Err(ProofFault::WrongIndex { line: 3, index: 4 })
        ));
    }

    #[test]
    fn the_cli_proves_and_checks_offline_and_names_what_fails() {
        let omk = |args: &[&str]| {
            let out = Command::new(env!("CARGO_BIN_EXE_omk"))
                .args(args)
                .output()
                .unwrap();
            (
                out.status.code().unwrap(),
                String::from_utf8(out.stdout).unwrap(),
                String::from_utf8(out.stderr).unwrap(),
            )
        };
        let dir = tempfile::tempdir().unwrap();
        let log = valid().log().display().to_string();
        let (code, proof, _) = omk(&["log", "prove", &log, "--seq", "2"]);
        assert_eq!(code, 0);
        let file = dir.path().join("proof.json");
        std::fs::write(&file, &proof).unwrap();
        let file = file.display().to_string();
        let root = serde_json::from_str::<serde_json::Value>(&proof).unwrap()["root"]
            .as_str()
            .unwrap()
            .to_owned();
        let (code, stdout, _) = omk(&["log", "check-proof", &file, "--size", "6", "--root", &root]);
        assert_eq!(code, 0);
        assert_eq!(stdout, format!("ok: event seq 2 (`task_transitioned`) is in the tree of 6 events with root {root}; that is the head you trust\n"));
        let (code, _, stderr) = omk(&["log", "check-proof", &file, "--size", "5", "--root", &root]);
        assert_eq!(code, 1);
        assert!(
            stderr.contains("the proof does not hold: the proof speaks for a tree of 6 events"),
            "{stderr}"
        );
        let (code, _, stderr) = omk(&["log", "check-proof", &file, "--size", "6"]);
        assert_eq!(code, 2, "--size needs --root: {stderr}");
        let (code, stdout, _) = omk(&["log", "prove", &log, "--from", "2", "--size", "4"]);
        assert_eq!(code, 0);
        assert!(stdout.contains("\"kind\": \"consistency\""), "{stdout}");
        let (code, _, stderr) = omk(&["log", "prove", &log]);
        assert_eq!(code, 2, "--seq or --from is required: {stderr}");
    }
}
