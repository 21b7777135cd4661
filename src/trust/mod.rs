//! Trust a stranger can check: Ed25519 keys, signed tree heads and DSSE envelopes.
//!
//! A signature binds what omk claims (a log's Merkle tree head, an in-toto statement) to a key
//! held outside the repository, so that rewriting a history after it was signed no longer
//! matches. Every format here is standard or specified in `docs/log-format.md` (section 11),
//! so another implementation can check it. Pure: keys are made from bytes the shell supplies
//! (`shell::keystore` reads, writes and generates them); no clock, no files, no randomness, and nothing of the log (the lowest layer).

pub mod dsse;
pub mod key;
pub mod tree_head;

pub use dsse::{Envelope, EnvelopeError, IN_TOTO_PAYLOAD_TYPE};
pub use key::{KeyError, PublicKey, SigningKey};
pub use tree_head::{HeadSignature, HeadSignatureError, SignedTree};
