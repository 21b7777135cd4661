//! Signed tree heads: a log's Merkle tree size and root, and the time they were signed, under
//! an Ed25519 signature, as Certificate Transparency signs its heads.
//!
//! The signed message is text, so that a person can read what was signed:
//!
//! ```text
//! omk signed tree head v1
//! size 42
//! root <64 hex digits>
//! time 2026-12-04T19:00:00Z
//! ```
//!
//! each line ending in `\n`. A later head of the same log must be consistent with it (a
//! consistency proof); a history rewritten after it was signed no longer has this root.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::trust::key::{KeyError, PublicKey, SigningKey};

/// The first line of a signed head's message: names omk, the purpose and the version.
pub const HEAD_MESSAGE_TAG: &str = "omk signed tree head v1";

/// A signature over a tree head, as a checkpoint carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeadSignature {
    /// When it was signed (RFC 3339, UTC, seconds): the time of the batch that made the head.
    pub time: String,
    /// The signer's public key: its 32 raw bytes in base64.
    pub public_key: String,
    /// The signer's key id (hex SHA-256 of the public key's DER).
    pub key_id: String,
    /// The Ed25519 signature of the message, base64.
    pub signature: String,
}

/// A head signature does not hold.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeadSignatureError {
    #[error("its public key is unreadable: {0}")]
    Key(KeyError),
    #[error("its key id {named} is not its key's ({actual})")]
    KeyId { named: String, actual: String },
    #[error("the signature is not base64")]
    Encoding,
    #[error("{0}")]
    Signature(KeyError),
}

/// A tree head as signed: its size and its root in lowercase hex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTree {
    pub size: u64,
    pub root_hex: String,
}

/// Returns the message signed for `head` at `time`.
pub fn head_message(head: &SignedTree, time: &str) -> String {
    format!(
        "{HEAD_MESSAGE_TAG}\nsize {}\nroot {}\ntime {time}\n",
        head.size, head.root_hex
    )
}

impl HeadSignature {
    /// Returns `key`'s signature of `head` at `time`.
    pub fn sign(head: &SignedTree, time: &str, key: &SigningKey) -> HeadSignature {
        let public = key.public();
        HeadSignature {
            time: time.to_owned(),
            public_key: public.to_base64(),
            key_id: public.key_id(),
            signature: STANDARD.encode(key.sign(head_message(head, time).as_bytes())),
        }
    }

    /// Returns the key that signed, once the signature over `head` verifies with it.
    pub fn check(&self, head: &SignedTree) -> Result<PublicKey, HeadSignatureError> {
        let key = PublicKey::from_base64(&self.public_key).map_err(HeadSignatureError::Key)?;
        if key.key_id() != self.key_id {
            return Err(HeadSignatureError::KeyId {
                named: self.key_id.clone(),
                actual: key.key_id(),
            });
        }
        let signature = STANDARD
            .decode(&self.signature)
            .map_err(|_| HeadSignatureError::Encoding)?;
        key.verify(head_message(head, &self.time).as_bytes(), &signature)
            .map_err(HeadSignatureError::Signature)?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "0909090909090909090909090909090909090909090909090909090909090909";

    fn head(size: u64) -> SignedTree {
        SignedTree {
            size,
            root_hex: ROOT.to_owned(),
        }
    }

    #[test]
    fn a_signed_head_checks_for_its_own_head_only() {
        let key = SigningKey::from_seed([3; 32]);
        let signed = HeadSignature::sign(&head(5), "2026-12-04T19:00:00Z", &key);
        assert_eq!(signed.check(&head(5)), Ok(key.public()));
        assert!(signed.check(&head(6)).is_err());
        let mut later = signed.clone();
        later.time = "2026-12-04T19:00:01Z".to_owned();
        assert!(later.check(&head(5)).is_err());
        let mut renamed = signed.clone();
        renamed.key_id = SigningKey::from_seed([4; 32]).public().key_id();
        assert!(matches!(
            renamed.check(&head(5)),
            Err(HeadSignatureError::KeyId { .. })
        ));
    }

    #[test]
    fn the_message_is_the_documented_text() {
        assert_eq!(
            head_message(&head(3), "2026-12-04T19:00:00Z"),
            format!(
                "omk signed tree head v1\nsize 3\nroot {}\ntime 2026-12-04T19:00:00Z\n",
                "09".repeat(32)
            )
        );
    }
}
