//! Signed attestations: `omk goal proof --sign` wraps the goal's in-toto statement in a DSSE
//! envelope, and `omk verify-proof` checks one with nothing but a public key (and, when the
//! goal's log is at hand, that the log still has the Merkle root the statement names).

use serde::Deserialize;

use crate::log::chain::Head;
use crate::log::merkle::TreeHead;
use crate::log::paths::LogPaths;
use crate::log::proof::{tree_head, ProveError};
use crate::project::proof::{statement, Proof, PREDICATE_TYPE, STATEMENT_TYPE};
use crate::project::to_json;
use crate::trust::{Envelope, EnvelopeError, PublicKey, SigningKey, IN_TOTO_PAYLOAD_TYPE};

/// Returns the goal's proof as an in-toto statement in a DSSE envelope signed by `key`.
pub fn sign_proof(proof: Proof<'_>, key: &SigningKey) -> Envelope {
    let body = to_json(&statement(proof));
    Envelope::sign(IN_TOTO_PAYLOAD_TYPE, body.as_bytes(), key)
}

/// What a checked envelope vouches for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attested {
    /// The key id of the signature that verified.
    pub key_id: String,
    pub goal_id: String,
    pub ready: bool,
    pub status: String,
    /// The subjects' names (the claimed branch's commit and tree).
    pub subjects: Vec<String>,
    pub head: Head,
    pub tree: TreeHead,
    /// What the goal's log here says about that tree, when it was checked.
    pub log: Option<LogCheck>,
}

/// The goal's log here, compared with the tree a statement names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogCheck {
    pub log: String,
    /// How many complete events the log holds now.
    pub events: u64,
    /// The log's root at the statement's size.
    pub root_there: TreeHead,
}

impl LogCheck {
    /// Returns whether the log has the statement's root at its size.
    pub fn matches(&self, tree: &TreeHead) -> bool {
        self.root_there == *tree
    }
}

/// An envelope does not vouch for what it claims.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error("the signed payload is not an omk in-toto statement: {0}")]
    Statement(String),
    #[error("cannot compute the log's tree: {0}")]
    Log(#[from] ProveError),
}

#[derive(Deserialize)]
struct StatementView {
    #[serde(rename = "_type")]
    statement_type: String,
    #[serde(rename = "predicateType")]
    predicate_type: String,
    subject: Vec<SubjectView>,
    predicate: PredicateView,
}

#[derive(Deserialize)]
struct SubjectView {
    name: String,
}

#[derive(Deserialize)]
struct PredicateView {
    goal_id: String,
    head: Head,
    tree: TreeHead,
    verdict: VerdictView,
}

#[derive(Deserialize)]
struct VerdictView {
    ready: bool,
    status: String,
}

/// Checks `envelope` with `key`: the signature over its PAE and the statement inside (the log
/// is compared afterwards, with [`check_log`], once the caller has found it).
pub fn check_attestation(envelope: &Envelope, key: &PublicKey) -> Result<Attested, AttestError> {
    let body = envelope.open(IN_TOTO_PAYLOAD_TYPE, key)?;
    let view: StatementView =
        serde_json::from_slice(&body).map_err(|error| AttestError::Statement(error.to_string()))?;
    if view.statement_type != STATEMENT_TYPE || view.predicate_type != PREDICATE_TYPE {
        return Err(AttestError::Statement(format!(
            "its type is {} with predicate {}",
            view.statement_type, view.predicate_type
        )));
    }
    let predicate = view.predicate;
    if predicate.tree.size != predicate.head.seq + 1 {
        return Err(AttestError::Statement(format!(
            "it names a tree of {} events for a log head at seq {}",
            predicate.tree.size, predicate.head.seq
        )));
    }
    Ok(Attested {
        key_id: key.key_id(),
        goal_id: predicate.goal_id,
        ready: predicate.verdict.ready,
        status: predicate.verdict.status,
        subjects: view
            .subject
            .into_iter()
            .map(|subject| subject.name)
            .collect(),
        head: predicate.head,
        tree: predicate.tree,
        log: None,
    })
}

/// Returns what the log at `paths` says about `tree`: its root at that size, and its size now.
pub fn check_log(paths: &LogPaths, tree: &TreeHead) -> Result<LogCheck, AttestError> {
    let whole = tree_head(paths, None)?;
    let root_there = if whole.size > tree.size {
        tree_head(paths, Some(tree.size))?
    } else {
        whole
    };
    Ok(LogCheck {
        log: paths.log().display().to_string(),
        events: whole.size,
        root_there,
    })
}
