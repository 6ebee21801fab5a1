//! Signed envelopes: DSSE-style pre-authentication encoding with Ed25519.
//!
//! A signature covers `"DSSEv1" SP len(type) SP type SP len(payload) SP payload`, so the payload bytes are
//! signed exactly as they travel: nothing is ever re-encoded before verification. The only way to read a
//! payload is [`verify`] followed by [`VerifiedEnvelope::decode`]: verify first, decode second.
//!
//! Several envelopes signed at once ([`sign_all`]) share one signature over the RFC 9162 Merkle root of
//! their encodings, each carrying its inclusion proof; a [`Verifier`] checks such a shared signature
//! once for all the envelopes it covers.

use std::collections::HashSet;
use std::fmt;

use prost::Message;
use tulpar_proto::v1::{Envelope, Signature, SignatureBatch};

use crate::keys::{KeyError, KeyId, PublicKey, SIGNATURE_LEN, SigningKey};
use crate::merkle::{self, Hash, ProofError};

/// The payload type of what a batch signature covers: the batch size and its Merkle root.
pub const SIGNATURE_BATCH_TYPE: &str = "application/vnd.tulpar.signature-batch.v1";

/// The kinds of signed objects, with their DSSE payload types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadType {
    /// `tulpar.v1.Alert`, signed by the origin unit.
    Alert,
    /// `tulpar.v1.AlertResponse`, signed by a responding unit.
    Response,
    /// `tulpar.v1.DeliveryReceipt`, signed by a node ledger key.
    Receipt,
    /// `tulpar.v1.CountryDirectory`, signed by a country root key.
    Directory,
}

impl PayloadType {
    /// Every payload type.
    pub const ALL: [PayloadType; 4] = [Self::Alert, Self::Response, Self::Receipt, Self::Directory];

    /// The payload type string carried in the envelope.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Alert => "application/vnd.tulpar.alert.v1+proto",
            Self::Response => "application/vnd.tulpar.response.v1+proto",
            Self::Receipt => "application/vnd.tulpar.receipt.v1+proto",
            Self::Directory => "application/vnd.tulpar.directory.v1+proto",
        }
    }

    /// The payload type named by `s`, if it is one of Tulpar's.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for PayloadType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an envelope was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The envelope carries another payload type than expected.
    #[error("payload type is {found:?}, expected {expected:?}")]
    WrongPayloadType {
        /// What the envelope says.
        found: String,
        /// What the caller expected.
        expected: String,
    },
    /// No signature at all.
    #[error("the envelope has no signatures")]
    Unsigned,
    /// A signature's key id is not a key id.
    #[error("signature {index}: {source}")]
    MalformedKeyId {
        /// Position of the signature in the envelope.
        index: usize,
        /// What is wrong with it.
        source: KeyError,
    },
    /// A signature by a known key does not verify: the envelope was altered or forged.
    #[error(
        "signature {index} by key {key_id} does not verify: the envelope was altered or forged"
    )]
    BadSignature {
        /// Position of the signature in the envelope.
        index: usize,
        /// The key it claims.
        key_id: KeyId,
    },
    /// A batch signature's inclusion proof does not hold: the envelope is not part of the batch.
    #[error("signature {index}: the batch inclusion proof does not hold: {source}")]
    BadBatchProof {
        /// Position of the signature in the envelope.
        index: usize,
        /// What is wrong with the proof.
        source: ProofError,
    },
    /// None of the signatures is by a key the verifier knows.
    #[error("no signature by a known key (signed by: {0})")]
    NoKnownSigner(String),
    /// The verified payload is not the message its type names.
    #[error("the signed payload is not a valid {payload_type} message: {reason}")]
    Decode {
        /// The payload type.
        payload_type: String,
        /// The decoder's complaint.
        reason: String,
    },
}

/// The DSSE pre-authentication encoding of `payload` with `payload_type`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let header = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    );
    let mut out = Vec::with_capacity(header.len() + payload.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(payload);
    out
}

/// Signs `payload` as `payload_type` with each of `signers`.
pub fn sign(payload_type: PayloadType, payload: Vec<u8>, signers: &[&SigningKey]) -> Envelope {
    let encoded = pae(payload_type.as_str(), &payload);
    let signatures = signers
        .iter()
        .map(|key| Signature {
            key_id: key.key_id().to_string(),
            sig: key.sign(&encoded).to_vec(),
            batch: None,
        })
        .collect();
    Envelope {
        payload,
        payload_type: payload_type.as_str().to_owned(),
        signatures,
    }
}

/// Signs each of `payloads` as `payload_type` with `signer`, with one signature for all of them: over
/// the Merkle root of their encodings, each envelope carrying its inclusion proof. A single payload
/// gets a plain signature.
pub fn sign_all(
    payload_type: PayloadType,
    payloads: Vec<Vec<u8>>,
    signer: &SigningKey,
) -> Vec<Envelope> {
    if payloads.len() < 2 {
        return payloads
            .into_iter()
            .map(|payload| sign(payload_type, payload, &[signer]))
            .collect();
    }
    let leaves: Vec<Hash> = payloads
        .iter()
        .map(|payload| merkle::leaf_hash(&pae(payload_type.as_str(), payload)))
        .collect();
    let (root, proofs) = merkle::tree_with_proofs(&leaves);
    let size = payloads.len() as u64;
    let sig = signer.sign(&batch_message(size, &root)).to_vec();
    let key_id = signer.key_id().to_string();
    payloads
        .into_iter()
        .zip(proofs)
        .enumerate()
        .map(|(leaf_index, (payload, proof))| Envelope {
            payload,
            payload_type: payload_type.as_str().to_owned(),
            signatures: vec![Signature {
                key_id: key_id.clone(),
                sig: sig.clone(),
                batch: Some(SignatureBatch {
                    leaf_index: leaf_index as u64,
                    size,
                    path: proof.iter().map(|h| h.to_vec()).collect(),
                }),
            }],
        })
        .collect()
}

/// What a batch signature signs: the encoding of the batch's size and Merkle root.
fn batch_message(size: u64, root: &Hash) -> Vec<u8> {
    let mut payload = Vec::with_capacity(40);
    payload.extend_from_slice(&size.to_be_bytes());
    payload.extend_from_slice(root);
    pae(SIGNATURE_BATCH_TYPE, &payload)
}

/// Serializes `message` and signs it.
pub fn sign_message<M: Message>(
    payload_type: PayloadType,
    message: &M,
    signers: &[&SigningKey],
) -> Envelope {
    sign(payload_type, message.encode_to_vec(), signers)
}

/// Finds public keys by id: the verifier's view of who may sign.
pub trait KeyResolver {
    /// The key with this id, if known.
    fn resolve(&self, key_id: &KeyId) -> Option<PublicKey>;
}

impl KeyResolver for PublicKey {
    fn resolve(&self, key_id: &KeyId) -> Option<PublicKey> {
        (self.key_id() == *key_id).then_some(*self)
    }
}

impl KeyResolver for [PublicKey] {
    fn resolve(&self, key_id: &KeyId) -> Option<PublicKey> {
        self.iter().find(|k| k.key_id() == *key_id).copied()
    }
}

impl<F: Fn(&KeyId) -> Option<PublicKey>> KeyResolver for F {
    fn resolve(&self, key_id: &KeyId) -> Option<PublicKey> {
        self(key_id)
    }
}

/// An envelope whose signatures were checked. Only [`verify`] makes one.
#[derive(Debug, Clone)]
pub struct VerifiedEnvelope {
    envelope: Envelope,
    payload_type: PayloadType,
    signers: Vec<KeyId>,
}

impl VerifiedEnvelope {
    /// The keys whose signatures verified, in envelope order.
    pub fn signers(&self) -> &[KeyId] {
        &self.signers
    }

    /// The payload type.
    pub fn payload_type(&self) -> PayloadType {
        self.payload_type
    }

    /// The signed payload bytes.
    pub fn payload(&self) -> &[u8] {
        &self.envelope.payload
    }

    /// The envelope as received.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The envelope as received, by value.
    pub fn into_envelope(self) -> Envelope {
        self.envelope
    }

    /// Decodes the verified payload.
    pub fn decode<M: Message + Default>(&self) -> Result<M, EnvelopeError> {
        M::decode(self.envelope.payload.as_slice()).map_err(|e| EnvelopeError::Decode {
            payload_type: self.payload_type.as_str().to_owned(),
            reason: e.to_string(),
        })
    }
}

/// Checks `envelope` is of type `expected` and signed by at least one key `keys` knows.
///
/// Signatures by unknown keys are ignored (an envelope may carry signatures for other verifiers), but a
/// signature by a known key that does not verify refuses the whole envelope.
pub fn verify<R: KeyResolver + ?Sized>(
    envelope: &Envelope,
    expected: PayloadType,
    keys: &R,
) -> Result<VerifiedEnvelope, EnvelopeError> {
    Verifier::default().verify(envelope, expected, keys)
}

/// How many batch signatures a [`Verifier`] remembers before it starts afresh.
const REMEMBERED_BATCHES: usize = 4096;

/// Verifies envelopes one after another, remembering the batch signatures that held, so envelopes
/// signed together (see [`sign_all`]) cost one signature check between them. Each envelope's own
/// inclusion proof is still checked. It remembers a bounded number of signatures, so one verifier can
/// serve a whole ledger.
#[derive(Debug, Default)]
pub struct Verifier {
    /// `(key, signature, batch size, batch root)` of each batch signature that verified.
    batches: HashSet<(KeyId, Vec<u8>, u64, Hash)>,
}

impl Verifier {
    /// [`verify`], checking a batch signature already seen by this verifier only by its proof.
    pub fn verify<R: KeyResolver + ?Sized>(
        &mut self,
        envelope: &Envelope,
        expected: PayloadType,
        keys: &R,
    ) -> Result<VerifiedEnvelope, EnvelopeError> {
        if envelope.payload_type != expected.as_str() {
            return Err(EnvelopeError::WrongPayloadType {
                found: envelope.payload_type.chars().take(100).collect(),
                expected: expected.as_str().to_owned(),
            });
        }
        if envelope.signatures.is_empty() {
            return Err(EnvelopeError::Unsigned);
        }
        let encoded = pae(&envelope.payload_type, &envelope.payload);
        let mut signers = Vec::new();
        let mut unknown = Vec::new();
        for (index, signature) in envelope.signatures.iter().enumerate() {
            let key_id: KeyId = signature
                .key_id
                .parse()
                .map_err(|source| EnvelopeError::MalformedKeyId { index, source })?;
            let Some(key) = keys.resolve(&key_id) else {
                unknown.push(key_id.short());
                continue;
            };
            let holds = signature.sig.len() == SIGNATURE_LEN
                && match &signature.batch {
                    None => key.verify(&encoded, &signature.sig).is_ok(),
                    Some(batch) => {
                        let root = batch_root(batch, &encoded)
                            .map_err(|source| EnvelopeError::BadBatchProof { index, source })?;
                        let seen = (key_id, signature.sig.clone(), batch.size, root);
                        let holds = self.batches.contains(&seen)
                            || key
                                .verify(&batch_message(batch.size, &root), &signature.sig)
                                .is_ok();
                        if holds {
                            self.remember(seen);
                        }
                        holds
                    }
                };
            if !holds {
                return Err(EnvelopeError::BadSignature { index, key_id });
            }
            if !signers.contains(&key_id) {
                signers.push(key_id);
            }
        }
        if signers.is_empty() {
            return Err(EnvelopeError::NoKnownSigner(unknown.join(", ")));
        }
        Ok(VerifiedEnvelope {
            envelope: envelope.clone(),
            payload_type: expected,
            signers,
        })
    }

    /// Remembers a batch signature that held.
    fn remember(&mut self, checked: (KeyId, Vec<u8>, u64, Hash)) {
        if self.batches.len() >= REMEMBERED_BATCHES && !self.batches.contains(&checked) {
            self.batches.clear();
        }
        self.batches.insert(checked);
    }
}

/// The root of the batch that `batch`'s proof places the envelope with encoding `encoded` in.
fn batch_root(batch: &SignatureBatch, encoded: &[u8]) -> Result<Hash, ProofError> {
    merkle::inclusion_root(
        batch.leaf_index,
        batch.size,
        &merkle::leaf_hash(encoded),
        &merkle::proof_hashes(&batch.path)?,
    )
}

/// Decodes the payload of an envelope read back from this node's own ledger.
///
/// Only verified envelopes are ever recorded, so re-verifying on every read (or on a rebuild years later,
/// after keys rotated) would add nothing. Never use this on an envelope that came from the network.
pub fn decode_recorded<M: Message + Default>(
    envelope: &Envelope,
    expected: PayloadType,
) -> Result<M, EnvelopeError> {
    if envelope.payload_type != expected.as_str() {
        return Err(EnvelopeError::WrongPayloadType {
            found: envelope.payload_type.chars().take(100).collect(),
            expected: expected.as_str().to_owned(),
        });
    }
    M::decode(envelope.payload.as_slice()).map_err(|e| EnvelopeError::Decode {
        payload_type: expected.as_str().to_owned(),
        reason: e.to_string(),
    })
}

/// SHA-256 of an envelope's payload: what delivery receipts bind to.
pub fn payload_digest(envelope: &Envelope) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, &envelope.payload);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn fixed_key(seed: u8) -> SigningKey {
        // PKCS#8 v1 for Ed25519: fixed prefix, then the 32-byte seed.
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        der.extend_from_slice(&[seed; 32]);
        SigningKey::from_pkcs8_der(&der).unwrap()
    }

    #[test]
    fn pae_matches_the_dsse_specification_example() {
        // From the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn sign_then_verify_then_decode() {
        let key = fixed_key(1);
        let message = Signature {
            key_id: "x".into(),
            sig: vec![1, 2, 3],
            batch: None,
        };
        let envelope = sign_message(PayloadType::Receipt, &message, &[&key]);
        let verified = verify(&envelope, PayloadType::Receipt, &key.public_key()).unwrap();
        assert_eq!(verified.signers(), &[key.key_id()]);
        assert_eq!(verified.decode::<Signature>().unwrap(), message);
    }

    #[test]
    fn several_signatures_unknown_ones_ignored() {
        let (a, b, c) = (fixed_key(1), fixed_key(2), fixed_key(3));
        let envelope = sign(PayloadType::Alert, b"payload".to_vec(), &[&a, &b, &c]);
        let known = [b.public_key(), c.public_key()];
        let verified = verify(&envelope, PayloadType::Alert, &known[..]).unwrap();
        assert_eq!(verified.signers(), &[b.key_id(), c.key_id()]);
    }

    #[test]
    fn a_signature_by_another_key_than_claimed_fails() {
        let (claimed, actual) = (fixed_key(1), fixed_key(2));
        let mut envelope = sign(PayloadType::Alert, b"payload".to_vec(), &[&actual]);
        envelope.signatures[0].key_id = claimed.key_id().to_string();
        let err = verify(&envelope, PayloadType::Alert, &claimed.public_key()).unwrap_err();
        assert!(
            matches!(err, EnvelopeError::BadSignature { index: 0, .. }),
            "{err}"
        );
    }

    #[test]
    fn wrong_type_unsigned_and_unknown_signers_are_refused() {
        let key = fixed_key(1);
        let other = fixed_key(9);
        let envelope = sign(PayloadType::Alert, b"p".to_vec(), &[&key]);
        assert!(matches!(
            verify(&envelope, PayloadType::Response, &key.public_key()),
            Err(EnvelopeError::WrongPayloadType { .. })
        ));
        assert!(matches!(
            verify(&envelope, PayloadType::Alert, &other.public_key()),
            Err(EnvelopeError::NoKnownSigner(_))
        ));
        let unsigned = Envelope {
            signatures: vec![],
            ..envelope
        };
        assert_eq!(
            verify(&unsigned, PayloadType::Alert, &key.public_key()).unwrap_err(),
            EnvelopeError::Unsigned
        );
    }

    fn batch(count: usize) -> (SigningKey, Vec<Envelope>) {
        let key = fixed_key(7);
        let payloads = (0..count)
            .map(|i| format!("receipt {i}").into_bytes())
            .collect();
        let envelopes = sign_all(PayloadType::Receipt, payloads, &key);
        (key, envelopes)
    }

    #[test]
    fn envelopes_signed_together_each_verify_alone_and_share_one_check() {
        let (key, envelopes) = batch(5);
        assert!(envelopes.iter().all(|e| e.signatures[0].batch.is_some()));
        let mut verifier = Verifier::default();
        for (i, envelope) in envelopes.iter().enumerate() {
            let verified = verify(envelope, PayloadType::Receipt, &key.public_key()).unwrap();
            assert_eq!(verified.payload(), format!("receipt {i}").as_bytes());
            verifier
                .verify(envelope, PayloadType::Receipt, &key.public_key())
                .unwrap();
        }
        assert_eq!(verifier.batches.len(), 1);
        let (_, single) = batch(1);
        assert_eq!(single[0].signatures[0].batch, None);
        verify(&single[0], PayloadType::Receipt, &key.public_key()).unwrap();
    }

    #[test]
    fn a_batch_member_with_another_payload_position_or_size_is_refused() {
        let (key, envelopes) = batch(6);
        let public = key.public_key();
        let mut verifier = Verifier::default();
        verifier
            .verify(&envelopes[0], PayloadType::Receipt, &public)
            .unwrap();
        // The batch signature is now known to this verifier: each change must still be caught.
        let mut swapped = envelopes[1].clone();
        swapped.payload = envelopes[2].payload.clone();
        let mut moved = envelopes[1].clone();
        if let Some(b) = moved.signatures[0].batch.as_mut() {
            b.leaf_index = 2;
        }
        let mut resized = envelopes[5].clone();
        if let Some(b) = resized.signatures[0].batch.as_mut() {
            b.size = 7;
        }
        let mut truncated = envelopes[3].clone();
        if let Some(b) = truncated.signatures[0].batch.as_mut() {
            b.path.pop();
        }
        for forged in [swapped, moved, resized, truncated] {
            assert!(
                verifier
                    .verify(&forged, PayloadType::Receipt, &public)
                    .is_err()
            );
            assert!(verify(&forged, PayloadType::Receipt, &public).is_err());
        }
        // A proof that holds with a signature that does not: refused even next to a good batch.
        let mut resigned = batch(6).1[4].clone();
        resigned.signatures[0].sig[0] ^= 1;
        assert!(matches!(
            verifier.verify(&resigned, PayloadType::Receipt, &public),
            Err(EnvelopeError::BadSignature { index: 0, .. })
        ));
        let mut bad_hash = envelopes[4].clone();
        if let Some(b) = bad_hash.signatures[0].batch.as_mut() {
            b.path[0].pop();
        }
        assert!(matches!(
            verify(&bad_hash, PayloadType::Receipt, &public),
            Err(EnvelopeError::BadBatchProof { index: 0, .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_flipped_bit_fails(payload in proptest::collection::vec(any::<u8>(), 1..256),
                                 which in 0usize..3, bit in any::<proptest::sample::Index>()) {
            let key = fixed_key(5);
            let mut envelope = sign(PayloadType::Alert, payload, &[&key]);
            let flip = |bytes: &mut Vec<u8>| {
                let i = bit.index(bytes.len() * 8);
                bytes[i / 8] ^= 1 << (i % 8);
            };
            match which {
                0 => flip(&mut envelope.payload),
                1 => {
                    let mut t = envelope.payload_type.clone().into_bytes();
                    flip(&mut t);
                    envelope.payload_type = String::from_utf8_lossy(&t).into_owned();
                }
                _ => flip(&mut envelope.signatures[0].sig),
            }
            // A flipped type bit may name a type that is not expected; either way it must not verify.
            let typed = PayloadType::parse(&envelope.payload_type).unwrap_or(PayloadType::Alert);
            prop_assert!(verify(&envelope, typed, &key.public_key()).is_err());
        }

        #[test]
        fn untouched_envelopes_verify(payload in proptest::collection::vec(any::<u8>(), 0..512)) {
            let key = fixed_key(6);
            let envelope = sign(PayloadType::Directory, payload.clone(), &[&key]);
            let verified = verify(&envelope, PayloadType::Directory, &key.public_key()).unwrap();
            prop_assert_eq!(verified.payload(), payload.as_slice());
        }
    }
}
