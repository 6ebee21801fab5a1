//! Ed25519 keys, key ids and their PEM forms.
//!
//! A key id is the lowercase hex SHA-256 of the raw 32-byte public key. Private keys are PKCS#8 documents
//! (PEM label `PRIVATE KEY`), public keys are SubjectPublicKeyInfo (PEM label `PUBLIC KEY`), so both
//! interoperate with OpenSSL. Reading and writing the files is the caller's job: this crate does no I/O.

use std::fmt;
use std::str::FromStr;

use ring::digest;
use ring::rand::SystemRandom;
use ring::signature::{self, Ed25519KeyPair, KeyPair};
use rustls_pki_types::{PrivatePkcs8KeyDer, SubjectPublicKeyInfoDer};

use crate::pem;

/// Length of an Ed25519 signature in bytes.
pub const SIGNATURE_LEN: usize = 64;

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), followed by the 32 key bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// What went wrong with a key or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A public key was not 32 bytes.
    #[error("an Ed25519 public key has 32 bytes, got {0}")]
    PublicKeyLength(usize),
    /// A key id was not 64 lowercase hex characters.
    #[error("a key id is 64 lowercase hex characters (SHA-256 of the public key), got {0:?}")]
    KeyIdFormat(String),
    /// The PKCS#8 document is not an Ed25519 private key.
    #[error("not an Ed25519 PKCS#8 private key: {0}")]
    Pkcs8(String),
    /// The PEM text could not be read.
    #[error("{0}")]
    Pem(#[from] pem::PemError),
    /// The SubjectPublicKeyInfo is not an Ed25519 key.
    #[error("not an Ed25519 public key (SubjectPublicKeyInfo of {0} bytes)")]
    Spki(usize),
    /// The system random generator failed.
    #[error("the system random generator failed")]
    Random,
    /// A signature did not verify.
    #[error("signature does not verify with key {0}")]
    BadSignature(KeyId),
}

/// The id of a public key: SHA-256 of its raw bytes, shown as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 32]);

impl KeyId {
    /// The id of `key`.
    pub fn of(key: &PublicKey) -> Self {
        let hash = digest::digest(&digest::SHA256, &key.0);
        let mut id = [0u8; 32];
        id.copy_from_slice(hash.as_ref());
        Self(id)
    }

    /// The id from raw SHA-256 bytes, e.g. of a certificate's SubjectPublicKeyInfo.
    pub fn from_digest(digest: [u8; 32]) -> Self {
        Self(digest)
    }

    /// The 32 bytes of the id.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 16 hex characters, for people; never use it to look a key up.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..8])
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.short())
    }
}

impl FromStr for KeyId {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let is_lower_hex =
            s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !is_lower_hex {
            return Err(KeyError::KeyIdFormat(s.chars().take(80).collect()));
        }
        let mut id = [0u8; 32];
        hex::decode_to_slice(s, &mut id).map_err(|_| KeyError::KeyIdFormat(s.to_owned()))?;
        Ok(Self(id))
    }
}

/// An Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// A public key from its raw 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let raw: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::PublicKeyLength(bytes.len()))?;
        Ok(Self(raw))
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// This key's id.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(self)
    }

    /// Checks `sig` over `message`.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> Result<(), KeyError> {
        signature::UnparsedPublicKey::new(&signature::ED25519, &self.0)
            .verify(message, sig)
            .map_err(|_| KeyError::BadSignature(self.key_id()))
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn to_spki_der(&self) -> Vec<u8> {
        let mut der = ED25519_SPKI_PREFIX.to_vec();
        der.extend_from_slice(&self.0);
        der
    }

    /// A public key from a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        match der.strip_prefix(&ED25519_SPKI_PREFIX[..]) {
            Some(raw) if raw.len() == 32 => Self::from_bytes(raw),
            _ => Err(KeyError::Spki(der.len())),
        }
    }

    /// PEM text with label `PUBLIC KEY`.
    pub fn to_pem(&self) -> String {
        pem::encode("PUBLIC KEY", &self.to_spki_der())
    }

    /// A public key from PEM text with label `PUBLIC KEY`.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let der: SubjectPublicKeyInfoDer<'_> = pem::decode("PUBLIC KEY", text)?;
        Self::from_spki_der(der.as_ref())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_id().short())
    }
}

/// An Ed25519 private key that can sign.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    pkcs8: Vec<u8>,
    public: PublicKey,
}

impl SigningKey {
    /// A fresh key from the system's secure random generator.
    pub fn generate() -> Result<Self, KeyError> {
        let document =
            Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| KeyError::Random)?;
        Self::from_pkcs8_der(document.as_ref())
    }

    /// A key from a PKCS#8 document (v1 as written by OpenSSL, or v2 with the public key).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|e| KeyError::Pkcs8(e.to_string()))?;
        let public = PublicKey::from_bytes(pair.public_key().as_ref())?;
        Ok(Self {
            pair,
            pkcs8: der.to_vec(),
            public,
        })
    }

    /// A key from PEM text with label `PRIVATE KEY`.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let der: PrivatePkcs8KeyDer<'_> = pem::decode("PRIVATE KEY", text)?;
        Self::from_pkcs8_der(der.secret_pkcs8_der())
    }

    /// PEM text with label `PRIVATE KEY`. Secret: store it with mode 0600.
    pub fn to_pem(&self) -> String {
        pem::encode("PRIVATE KEY", &self.pkcs8)
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// The id of the public half.
    pub fn key_id(&self) -> KeyId {
        self.public.key_id()
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        let mut out = [0u8; SIGNATURE_LEN];
        out.copy_from_slice(self.pair.sign(message).as_ref());
        out
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.key_id().short())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_is_sha256_of_raw_public_key() {
        let key = PublicKey::from_bytes(&[7u8; 32]).unwrap();
        let expected = hex::encode(digest::digest(&digest::SHA256, &[7u8; 32]).as_ref());
        assert_eq!(key.key_id().to_string(), expected);
        assert_eq!(expected.parse::<KeyId>().unwrap(), key.key_id());
    }

    #[test]
    fn key_id_parse_refuses_upper_case_and_wrong_length() {
        assert!("AB".repeat(32).parse::<KeyId>().is_err());
        assert!("ab".repeat(31).parse::<KeyId>().is_err());
    }

    #[test]
    fn pem_round_trips_and_signatures_verify() {
        let key = SigningKey::generate().unwrap();
        let again = SigningKey::from_pem(&key.to_pem()).unwrap();
        assert_eq!(again.key_id(), key.key_id());
        let public = PublicKey::from_pem(&key.public_key().to_pem()).unwrap();
        let sig = again.sign(b"message");
        public.verify(b"message", &sig).unwrap();
        assert!(public.verify(b"messagf", &sig).is_err());
    }

    #[test]
    fn openssl_pkcs8_v1_is_accepted() {
        // `openssl genpkey -algorithm ed25519` output (PKCS#8 v1, no public key inside).
        let pem = "-----BEGIN PRIVATE KEY-----\n\
                   MC4CAQAwBQYDK2VwBCIEIBWkRDZuzDIQFhrh8xW1R9ErwmMSnnQYL1fPHFFuBWK3\n\
                   -----END PRIVATE KEY-----\n";
        let key = SigningKey::from_pem(pem).unwrap();
        let sig = key.sign(b"x");
        key.public_key().verify(b"x", &sig).unwrap();
    }

    #[test]
    fn wrong_pem_label_is_refused() {
        let key = SigningKey::generate().unwrap();
        let err = PublicKey::from_pem(&key.to_pem()).unwrap_err();
        assert!(err.to_string().contains("PUBLIC KEY"), "{err}");
    }
}
