//! Ed25519 keys in their standard files: a private key as PKCS#8 PEM (RFC 8410), a public key
//! as SubjectPublicKeyInfo PEM, both of which OpenSSL and every crypto library read.
//!
//! A key id is the lowercase hex SHA-256 of the public key's DER (what
//! `openssl pkey -pubin -outform DER | sha256sum` prints): a name, never trusted on its own.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::Signer as _;
use sha2::{Digest as _, Sha256};

/// The DER of a PKCS#8 Ed25519 private key up to its 32-byte seed (RFC 8410 §7).
const PRIVATE_DER_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// The DER of an Ed25519 SubjectPublicKeyInfo up to its 32-byte key (RFC 8410 §4).
const PUBLIC_DER_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
const PRIVATE_LABEL: &str = "PRIVATE KEY";
const PUBLIC_LABEL: &str = "PUBLIC KEY";

/// A key could not be read, or a signature does not verify.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not a PEM {label} block")]
    NotPem { label: &'static str },
    #[error("its base64 does not decode")]
    Base64,
    #[error("not an Ed25519 {what} (expected the RFC 8410 encoding)")]
    NotEd25519 { what: &'static str },
    #[error("the public key is not a valid Ed25519 point")]
    BadPoint,
    #[error("a signature is 64 bytes; this one is {0}")]
    SignatureLength(usize),
    #[error("the signature does not verify with key {key_id}")]
    BadSignature { key_id: String },
}

/// An Ed25519 private key.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// Returns the key whose 32-byte seed is `seed`.
    pub fn from_seed(seed: [u8; 32]) -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// Returns the key read from a PKCS#8 PEM file's text.
    pub fn from_pem(text: &str) -> Result<SigningKey, KeyError> {
        let der = pem_body(text, PRIVATE_LABEL)?;
        let seed = der
            .strip_prefix(&PRIVATE_DER_PREFIX)
            .and_then(|seed| <[u8; 32]>::try_from(seed).ok())
            .ok_or(KeyError::NotEd25519 {
                what: "private key",
            })?;
        Ok(SigningKey::from_seed(seed))
    }

    /// Returns the PKCS#8 PEM text of the key.
    pub fn to_pem(&self) -> String {
        let mut der = PRIVATE_DER_PREFIX.to_vec();
        der.extend_from_slice(self.0.as_bytes());
        pem(PRIVATE_LABEL, &der)
    }

    /// Returns the public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Returns the 64-byte Ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret.
        write!(f, "SigningKey({})", self.public().key_id())
    }
}

/// An Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl PublicKey {
    /// Returns the key made of its 32 raw bytes.
    pub fn from_raw(bytes: &[u8]) -> Result<PublicKey, KeyError> {
        let bytes =
            <[u8; 32]>::try_from(bytes).map_err(|_| KeyError::NotEd25519 { what: "public key" })?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| KeyError::BadPoint)
    }

    /// Returns the key read from a SubjectPublicKeyInfo PEM file's text.
    pub fn from_pem(text: &str) -> Result<PublicKey, KeyError> {
        let der = pem_body(text, PUBLIC_LABEL)?;
        let raw = der
            .strip_prefix(&PUBLIC_DER_PREFIX)
            .ok_or(KeyError::NotEd25519 { what: "public key" })?;
        PublicKey::from_raw(raw)
    }

    /// Returns the 32 raw bytes.
    pub fn raw(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Returns the raw bytes in base64, as signed heads carry the key.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.raw())
    }

    /// Returns the key from the base64 of its raw bytes.
    pub fn from_base64(text: &str) -> Result<PublicKey, KeyError> {
        let raw = STANDARD.decode(text).map_err(|_| KeyError::Base64)?;
        PublicKey::from_raw(&raw)
    }

    /// Returns the SubjectPublicKeyInfo DER.
    pub fn to_der(&self) -> Vec<u8> {
        let mut der = PUBLIC_DER_PREFIX.to_vec();
        der.extend_from_slice(self.raw());
        der
    }

    /// Returns the SubjectPublicKeyInfo PEM text.
    pub fn to_pem(&self) -> String {
        pem(PUBLIC_LABEL, &self.to_der())
    }

    /// Returns the key id: the hex SHA-256 of the DER.
    pub fn key_id(&self) -> String {
        let digest = Sha256::digest(self.to_der());
        digest.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// Checks that `signature` is this key's signature of `message` (strict RFC 8032 checks:
    /// no malleable or small-order signatures).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), KeyError> {
        let bytes = <[u8; 64]>::try_from(signature)
            .map_err(|_| KeyError::SignatureLength(signature.len()))?;
        let signature = ed25519_dalek::Signature::from_bytes(&bytes);
        self.0
            .verify_strict(message, &signature)
            .map_err(|_| KeyError::BadSignature {
                key_id: self.key_id(),
            })
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_id())
    }
}

/// Returns `der` as a PEM block with 64-character lines.
fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Returns the DER inside the first PEM block labelled `label`.
fn pem_body(text: &str, label: &'static str) -> Result<Vec<u8>, KeyError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin).ok_or(KeyError::NotPem { label })? + begin.len();
    let stop = text[start..].find(&end).ok_or(KeyError::NotPem { label })? + start;
    let body: String = text[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(body).map_err(|_| KeyError::Base64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032 §7.1, test 1: the seed, its public key and the signature of the empty message.
    const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const SIGNATURE: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&text[at..at + 2], 16).unwrap())
            .collect()
    }

    fn rfc_key() -> SigningKey {
        SigningKey::from_seed(unhex(SEED).try_into().unwrap())
    }

    #[test]
    fn signs_as_rfc_8032_says() {
        let key = rfc_key();
        assert_eq!(key.public().raw().to_vec(), unhex(PUBLIC));
        assert_eq!(key.sign(b"").to_vec(), unhex(SIGNATURE));
        key.public().verify(b"", &unhex(SIGNATURE)).unwrap();
    }

    #[test]
    fn pem_files_round_trip_and_others_are_refused() {
        let key = rfc_key();
        let again = SigningKey::from_pem(&key.to_pem()).unwrap();
        assert_eq!(again.public(), key.public());
        let public = PublicKey::from_pem(&key.public().to_pem()).unwrap();
        assert_eq!(public, key.public());
        assert_eq!(
            PublicKey::from_pem(&key.to_pem()),
            Err(KeyError::NotPem {
                label: "PUBLIC KEY"
            })
        );
        let rsa_like = pem(PUBLIC_LABEL, &[0x30, 0x03, 0x02, 0x01, 0x00]);
        assert!(matches!(
            PublicKey::from_pem(&rsa_like),
            Err(KeyError::NotEd25519 { .. })
        ));
    }

    #[test]
    fn a_flipped_bit_anywhere_is_refused() {
        let key = rfc_key();
        let signature = key.sign(b"message");
        for bit in 0..512 {
            let mut bad = signature;
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(key.public().verify(b"message", &bad).is_err(), "bit {bit}");
        }
        assert!(key.public().verify(b"messagf", &signature).is_err());
        let other = SigningKey::from_seed([7; 32]);
        assert!(other.public().verify(b"message", &signature).is_err());
    }

    #[test]
    fn the_key_id_is_the_sha256_of_the_der() {
        // printf '%s' 302a300506032b6570032100d75a…511a | xxd -r -p | sha256sum
        assert_eq!(
            rfc_key().public().key_id(),
            "06e3fd8fda29bb60ab59557de61edb0aecdb231134be30e75b455f8e1b792fa9"
        );
    }
}
