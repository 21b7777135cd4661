//! DSSE envelopes (Dead Simple Signing Envelope, secure-systems-lab/dsse, protocol v1): a
//! payload, its type, and signatures over the pre-authentication encoding (PAE) of both, so
//! that a signature over one type can never be replayed as another.

use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::trust::key::{KeyError, PublicKey, SigningKey};

/// The payload type of an in-toto statement (in-toto attestation framework, envelope layer).
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// A DSSE envelope in its JSON form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// The payload's media type, covered by every signature.
    pub payload_type: String,
    /// The payload, base64 (standard alphabet, padded).
    pub payload: String,
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature in an envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EnvelopeSignature {
    /// The signer's key id (hex SHA-256 of the public key's DER): a hint, not trusted.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub keyid: String,
    /// The Ed25519 signature over the PAE, base64.
    pub sig: String,
}

/// An envelope does not hold what its reader trusts.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the payload type is {found:?}, not {expected:?}")]
    PayloadType { found: String, expected: String },
    #[error("the payload is not base64")]
    PayloadEncoding,
    #[error("it has no signature")]
    Unsigned,
    #[error("no signature is by key {key_id}: the envelope names {named}")]
    OtherKey { key_id: String, named: String },
    #[error("signature {index}: {source}")]
    Signature { index: usize, source: KeyError },
}

/// Returns the pre-authentication encoding: `DSSEv1 SP LEN(type) SP type SP LEN(body) SP body`,
/// lengths in ASCII decimal.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

impl Envelope {
    /// Returns `body` of type `payload_type` in an envelope signed by `key`.
    pub fn sign(payload_type: &str, body: &[u8], key: &SigningKey) -> Envelope {
        let signature = key.sign(&pae(payload_type, body));
        Envelope {
            payload_type: payload_type.to_owned(),
            payload: STANDARD.encode(body),
            signatures: vec![EnvelopeSignature {
                keyid: key.public().key_id(),
                sig: STANDARD.encode(signature),
            }],
        }
    }

    /// Returns the payload once a signature by `key` over it and `expected_type` verifies.
    ///
    /// A signature naming another key id is skipped; one naming this key (or none) must verify.
    pub fn open(&self, expected_type: &str, key: &PublicKey) -> Result<Vec<u8>, EnvelopeError> {
        if self.payload_type != expected_type {
            return Err(EnvelopeError::PayloadType {
                found: self.payload_type.clone(),
                expected: expected_type.to_owned(),
            });
        }
        let body = decode_base64(&self.payload).ok_or(EnvelopeError::PayloadEncoding)?;
        if self.signatures.is_empty() {
            return Err(EnvelopeError::Unsigned);
        }
        let key_id = key.key_id();
        let message = pae(&self.payload_type, &body);
        let mut named = Vec::new();
        for (index, signature) in self.signatures.iter().enumerate() {
            if !signature.keyid.is_empty() && signature.keyid != key_id {
                named.push(signature.keyid.clone());
                continue;
            }
            let bytes = decode_base64(&signature.sig).ok_or(EnvelopeError::Signature {
                index,
                source: KeyError::Base64,
            })?;
            key.verify(&message, &bytes)
                .map_err(|source| EnvelopeError::Signature { index, source })?;
            return Ok(body);
        }
        Err(EnvelopeError::OtherKey {
            key_id,
            named: named.join(", "),
        })
    }
}

/// Decodes base64 in either alphabet, as DSSE asks of a reader.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE.decode(text))
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_the_specs_example() {
        // The DSSE protocol's worked example (protocol.md, "Test vectors").
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn an_envelope_opens_with_its_key_only() {
        let key = SigningKey::from_seed([1; 32]);
        let envelope = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, b"{\"a\":1}", &key);
        assert_eq!(
            envelope.open(IN_TOTO_PAYLOAD_TYPE, &key.public()),
            Ok(b"{\"a\":1}".to_vec())
        );
        let other = SigningKey::from_seed([2; 32]).public();
        assert!(matches!(
            envelope.open(IN_TOTO_PAYLOAD_TYPE, &other),
            Err(EnvelopeError::OtherKey { .. })
        ));
        assert!(matches!(
            envelope.open("application/json", &key.public()),
            Err(EnvelopeError::PayloadType { .. })
        ));
    }

    #[test]
    fn a_flipped_bit_in_payload_type_signature_or_key_id_is_refused() {
        let key = SigningKey::from_seed([1; 32]);
        let envelope = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, b"{\"verdict\":\"ready\"}", &key);
        let flip = |text: &str, at: usize| {
            let mut bytes = text.as_bytes().to_vec();
            bytes[at] ^= 0x01;
            String::from_utf8(bytes).unwrap()
        };
        for at in 0..envelope.payload.len() - 2 {
            let mut bad = envelope.clone();
            bad.payload = flip(&envelope.payload, at);
            assert!(
                bad.open(IN_TOTO_PAYLOAD_TYPE, &key.public()).is_err(),
                "payload {at}"
            );
        }
        for at in 0..envelope.signatures[0].sig.len() - 2 {
            let mut bad = envelope.clone();
            bad.signatures[0].sig = flip(&envelope.signatures[0].sig, at);
            assert!(
                bad.open(IN_TOTO_PAYLOAD_TYPE, &key.public()).is_err(),
                "sig {at}"
            );
        }
        for at in 0..envelope.signatures[0].keyid.len() {
            let mut bad = envelope.clone();
            bad.signatures[0].keyid = flip(&envelope.signatures[0].keyid, at);
            assert!(
                bad.open(IN_TOTO_PAYLOAD_TYPE, &key.public()).is_err(),
                "keyid {at}"
            );
        }
    }
}
