//! Country directories: verification of a root-signed [`CountryDirectory`] and the key rules it
//! answers.
//!
//! A directory is accepted only through [`verify_directory`] (signature chain up to the pinned root,
//! well-formed content) followed by [`check_update`] (newer than the one held, not expired): a
//! [`VerifiedDirectory`] cannot be made any other way. Every refusal names the rule that failed.
//!
//! Keys are never dropped from a directory; each keeps its validity window, so [`VerifiedDirectory`]
//! answers "was this key valid for this purpose at that time" for signatures made years ago.

mod content;
mod error;

use std::collections::HashSet;
use std::fmt;
use std::time::{Duration, SystemTime};

use prost::Message;
use rustls_pki_types::CertificateDer;
use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_core::envelope::{self, EnvelopeError, PayloadType};

use content::{parse_content, parse_public_key, parse_time};
pub use error::{DirectoryError, KeyRuleError, fmt_time};
use tulpar_core::keys::{KeyId, PublicKey, SigningKey};
use tulpar_core::time::{to_timestamp, unix_seconds};
use tulpar_proto::pbjson_types::Timestamp;
use tulpar_proto::v1::{CountryDirectory, DirectoryKey, Envelope, KeyPurpose, RootKey};

/// How far a directory's issue time may lie ahead of the local clock before it is refused.
pub const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// What a key may sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Alerts (unit keys).
    Alert,
    /// Acknowledgements and outcomes (unit keys).
    Response,
    /// Delivery receipts (node keys).
    Receipt,
    /// Ledger checkpoints and witness cosignatures (node keys).
    Checkpoint,
}

impl Purpose {
    /// The protobuf enum value.
    pub fn to_proto(self) -> KeyPurpose {
        match self {
            Self::Alert => KeyPurpose::Alert,
            Self::Response => KeyPurpose::Response,
            Self::Receipt => KeyPurpose::Receipt,
            Self::Checkpoint => KeyPurpose::Checkpoint,
        }
    }

    fn from_proto(value: i32) -> Option<Self> {
        match KeyPurpose::try_from(value).ok()? {
            KeyPurpose::Alert => Some(Self::Alert),
            KeyPurpose::Response => Some(Self::Response),
            KeyPurpose::Receipt => Some(Self::Receipt),
            KeyPurpose::Checkpoint => Some(Self::Checkpoint),
            KeyPurpose::Unspecified => None,
        }
    }

    /// Lower-case name, e.g. `"alert"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alert => "alert",
            Self::Response => "response",
            Self::Receipt => "receipt",
            Self::Checkpoint => "checkpoint",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key of a directory with its window and purposes, checked for consistency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntry {
    /// The key id.
    pub key_id: KeyId,
    /// The public key.
    pub public_key: PublicKey,
    /// Signatures before this are invalid.
    pub valid_from: SystemTime,
    /// Signatures at or after this are invalid.
    pub valid_until: Option<SystemTime>,
    /// What it may sign.
    pub purposes: Vec<Purpose>,
}

/// A unit of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitEntry {
    /// The unit id.
    pub unit_id: UnitId,
    /// Name for people.
    pub name: String,
    /// Its keys, current and past.
    pub keys: Vec<KeyEntry>,
    /// When it was retired.
    pub retired_at: Option<SystemTime>,
}

/// A revoked key or TLS public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationEntry {
    /// Ed25519 key id or SHA-256 of a TLS SubjectPublicKeyInfo.
    pub key_id: KeyId,
    /// From when.
    pub effective_at: SystemTime,
    /// Why.
    pub reason: String,
}

/// A directory whose root signature chain and content were checked.
#[derive(Debug, Clone)]
pub struct VerifiedDirectory {
    country: CountryCode,
    directory: CountryDirectory,
    envelope: Envelope,
    issued_at: SystemTime,
    expires_at: SystemTime,
    roots: Vec<PublicKey>,
    tls_cas: Vec<CertificateDer<'static>>,
    node_keys: Vec<KeyEntry>,
    units: Vec<UnitEntry>,
    revocations: Vec<RevocationEntry>,
}

impl VerifiedDirectory {
    /// The country it speaks for.
    pub fn country(&self) -> CountryCode {
        self.country
    }

    /// Its version.
    pub fn version(&self) -> u64 {
        self.directory.version
    }

    /// When it was signed.
    pub fn issued_at(&self) -> SystemTime {
        self.issued_at
    }

    /// When it stops being accepted as new.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// The decoded directory.
    pub fn directory(&self) -> &CountryDirectory {
        &self.directory
    }

    /// The signed envelope, as received.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The root keys in order of rotation; the last one signs directories.
    pub fn root_keys(&self) -> &[PublicKey] {
        &self.roots
    }

    /// The root key that signed this directory.
    pub fn current_root(&self) -> PublicKey {
        *self
            .roots
            .last()
            .expect("a verified directory has at least one root key")
    }

    /// The country's TLS CA certificates.
    pub fn tls_ca_certificates(&self) -> &[CertificateDer<'static>] {
        &self.tls_cas
    }

    /// The federation endpoints, `host:port`.
    pub fn endpoints(&self) -> &[String] {
        &self.directory.endpoints
    }

    /// The node's keys.
    pub fn node_keys(&self) -> &[KeyEntry] {
        &self.node_keys
    }

    /// The units, retired ones included.
    pub fn units(&self) -> &[UnitEntry] {
        &self.units
    }

    /// The revocations.
    pub fn revocations(&self) -> &[RevocationEntry] {
        &self.revocations
    }

    /// The revocation of `key_id` in force at `at`, if any.
    pub fn revocation_at(&self, key_id: &KeyId, at: SystemTime) -> Option<&RevocationEntry> {
        self.revocations
            .iter()
            .filter(|r| r.key_id == *key_id && r.effective_at <= at)
            .min_by_key(|r| r.effective_at)
    }

    /// Who holds `key_id` in this directory, e.g. `"unit KZ-AKTAU-PCU of KZ"`.
    pub fn owner_of(&self, key_id: &KeyId) -> Option<String> {
        if self.node_keys.iter().any(|k| k.key_id == *key_id) {
            return Some(format!("the {} node", self.country));
        }
        self.units
            .iter()
            .find(|u| u.keys.iter().any(|k| k.key_id == *key_id))
            .map(|u| format!("unit {} of {}", u.unit_id, self.country))
    }

    /// Checks that `key_id` was a key of `unit`, valid for `purpose` at `at` (the time the signature
    /// claims), and returns it.
    pub fn check_unit_key(
        &self,
        unit: &UnitId,
        key_id: &KeyId,
        purpose: Purpose,
        at: SystemTime,
    ) -> Result<PublicKey, KeyRuleError> {
        if unit.country() != self.country {
            return Err(KeyRuleError::UnitOfOtherCountry {
                unit: unit.clone(),
                country: self.country,
            });
        }
        let entry = self
            .units
            .iter()
            .find(|u| u.unit_id == *unit)
            .ok_or_else(|| KeyRuleError::UnknownUnit {
                country: self.country,
                unit: unit.clone(),
            })?;
        let key = entry
            .keys
            .iter()
            .find(|k| k.key_id == *key_id)
            .ok_or_else(|| KeyRuleError::NotHolderKey {
                holder: unit.to_string(),
                key_id: *key_id,
                owner: self.owner_of(key_id),
            })?;
        check_window(key, purpose, at)?;
        if let Some(retired_at) = entry.retired_at.filter(|r| *r <= at) {
            return Err(KeyRuleError::UnitRetired {
                unit: unit.clone(),
                retired_at,
                at,
            });
        }
        self.check_not_revoked(key_id, at)?;
        Ok(key.public_key)
    }

    /// Checks that `key_id` was a key of the country's node, valid for `purpose` at `at`.
    pub fn check_node_key(
        &self,
        key_id: &KeyId,
        purpose: Purpose,
        at: SystemTime,
    ) -> Result<PublicKey, KeyRuleError> {
        let key = self
            .node_keys
            .iter()
            .find(|k| k.key_id == *key_id)
            .ok_or_else(|| KeyRuleError::NotHolderKey {
                holder: format!("the {} node", self.country),
                key_id: *key_id,
                owner: self.owner_of(key_id),
            })?;
        check_window(key, purpose, at)?;
        self.check_not_revoked(key_id, at)?;
        Ok(key.public_key)
    }

    fn check_not_revoked(&self, key_id: &KeyId, at: SystemTime) -> Result<(), KeyRuleError> {
        match self.revocation_at(key_id, at) {
            Some(r) => Err(KeyRuleError::Revoked {
                key_id: *key_id,
                effective_at: r.effective_at,
                reason: r.reason.clone(),
            }),
            None => Ok(()),
        }
    }
}

fn check_window(key: &KeyEntry, purpose: Purpose, at: SystemTime) -> Result<(), KeyRuleError> {
    if !key.purposes.contains(&purpose) {
        return Err(KeyRuleError::WrongPurpose {
            key_id: key.key_id,
            purpose,
            allowed: key
                .purposes
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    if at < key.valid_from {
        return Err(KeyRuleError::NotYetValid {
            key_id: key.key_id,
            valid_from: key.valid_from,
            at,
        });
    }
    if let Some(valid_until) = key.valid_until.filter(|u| *u <= at) {
        return Err(KeyRuleError::RotatedOut {
            key_id: key.key_id,
            valid_until,
            at,
        });
    }
    Ok(())
}

/// The bytes a root key signs to endorse its successor (see `RootKey.endorsement` in directory.proto).
pub fn endorsement_message(country: CountryCode, new_root: &PublicKey, valid_from: i64) -> Vec<u8> {
    let mut out = b"tulpar root rotation v1\n".to_vec();
    out.extend_from_slice(country.as_str().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(new_root.as_bytes());
    out.extend_from_slice(&valid_from.to_be_bytes());
    out
}

/// A `RootKey` entry for `new_root`, endorsed by `previous` (or self-standing when `None`).
pub fn root_key_entry(
    country: CountryCode,
    new_root: &PublicKey,
    valid_from: SystemTime,
    previous: Option<&SigningKey>,
) -> RootKey {
    // Whole seconds, so that the endorsed time is exactly what the timestamp carries.
    let seconds = unix_seconds(valid_from);
    let endorsement = previous
        .map(|old| {
            old.sign(&endorsement_message(country, new_root, seconds))
                .to_vec()
        })
        .unwrap_or_default();
    RootKey {
        key_id: new_root.key_id().to_string(),
        public_key: new_root.as_bytes().to_vec(),
        valid_from: Some(Timestamp { seconds, nanos: 0 }),
        endorsement,
    }
}

/// A `DirectoryKey` entry for `key`, valid from `valid_from` for `purposes`.
pub fn directory_key(
    key: &PublicKey,
    valid_from: SystemTime,
    purposes: &[Purpose],
) -> DirectoryKey {
    DirectoryKey {
        key_id: key.key_id().to_string(),
        public_key: key.as_bytes().to_vec(),
        valid_from: Some(to_timestamp(valid_from)),
        valid_until: None,
        purposes: purposes.iter().map(|p| p.to_proto() as i32).collect(),
    }
}

/// Signs `directory` with the country's current root key.
pub fn sign_directory(directory: &CountryDirectory, root: &SigningKey) -> Envelope {
    envelope::sign_message(PayloadType::Directory, directory, &[root])
}

/// Verifies a directory envelope for `country` against the `pinned` root key: the root chain in the
/// directory must contain the pinned key, every later root must be endorsed by the one before, and the
/// envelope must be signed by the last one. Then the content is checked for well-formedness.
///
/// Freshness (version, expiry) is a separate step, [`check_update`], because a directory read back from
/// the node's own store years later is still the right one to check old signatures against.
pub fn verify_directory(
    envelope: &Envelope,
    pinned: &PublicKey,
    country: CountryCode,
) -> Result<VerifiedDirectory, DirectoryError> {
    if envelope.payload_type != PayloadType::Directory.as_str() {
        return Err(DirectoryError::Signature {
            country,
            source: EnvelopeError::WrongPayloadType {
                found: envelope.payload_type.chars().take(100).collect(),
                expected: PayloadType::Directory.as_str().to_owned(),
            },
        });
    }
    // The signer may be a root the verifier has not seen yet, so the chain is read from the payload
    // before the signature is checked; this reads no trust from the payload, since every link is
    // verified from the pinned key forward and only the chain's end may sign.
    let unverified = CountryDirectory::decode(envelope.payload.as_slice()).map_err(|e| {
        DirectoryError::Invalid {
            field: "payload".into(),
            reason: format!("not a CountryDirectory: {e}"),
        }
    })?;
    if unverified.country != country.as_str() {
        return Err(DirectoryError::WrongCountry {
            expected: country,
            found: unverified.country.chars().take(10).collect(),
        });
    }
    let roots = verify_root_chain(&unverified.root_keys, pinned, country)?;
    let signer = *roots.last().expect("a verified chain holds the pinned key");
    let verified = envelope::verify(envelope, PayloadType::Directory, &signer)
        .map_err(|source| DirectoryError::Signature { country, source })?;
    let directory: CountryDirectory = verified.decode().map_err(|e| DirectoryError::Invalid {
        field: "payload".into(),
        reason: e.to_string(),
    })?;
    parse_content(directory, envelope.clone(), country, roots)
}

/// Checks that `offered` may replace `held` at `now`: a higher version, not expired, not issued in the
/// future, the same root history extended, and no key dropped.
pub fn check_update(
    offered: &VerifiedDirectory,
    held: Option<&VerifiedDirectory>,
    now: SystemTime,
) -> Result<(), DirectoryError> {
    let country = offered.country;
    if offered.issued_at > now + CLOCK_SKEW {
        return Err(DirectoryError::IssuedInFuture {
            issued_at: offered.issued_at,
        });
    }
    if offered.expires_at <= now {
        return Err(DirectoryError::Expired {
            country,
            version: offered.version(),
            expires_at: offered.expires_at,
        });
    }
    let Some(held) = held else {
        return Ok(());
    };
    if offered.version() <= held.version() {
        return Err(DirectoryError::Rollback {
            country,
            held: held.version(),
            offered: offered.version(),
        });
    }
    if !offered.roots.starts_with(&held.roots) {
        return Err(DirectoryError::RootHistoryRewritten { country });
    }
    let offered_keys: HashSet<KeyId> = all_keys(offered).collect();
    if let Some(missing) = all_keys(held).find(|k| !offered_keys.contains(k)) {
        return Err(DirectoryError::KeyRemoved { key_id: missing });
    }
    Ok(())
}

fn all_keys(d: &VerifiedDirectory) -> impl Iterator<Item = KeyId> + '_ {
    d.node_keys
        .iter()
        .chain(d.units.iter().flat_map(|u| u.keys.iter()))
        .map(|k| k.key_id)
}

fn verify_root_chain(
    entries: &[RootKey],
    pinned: &PublicKey,
    country: CountryCode,
) -> Result<Vec<PublicKey>, DirectoryError> {
    let mut roots = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let field = format!("root_keys[{index}]");
        let key = parse_public_key(&field, &entry.key_id, &entry.public_key)?;
        let valid_from = parse_time(&format!("{field}.valid_from"), entry.valid_from.as_ref())?;
        roots.push((key, unix_seconds(valid_from), &entry.endorsement));
    }
    let start = roots.iter().position(|(k, _, _)| k == pinned).ok_or(
        DirectoryError::PinnedRootNotInChain {
            country,
            pinned: pinned.key_id(),
        },
    )?;
    for index in start + 1..roots.len() {
        let (key, seconds, endorsement) = roots[index];
        let previous = roots[index - 1].0;
        if previous
            .verify(&endorsement_message(country, &key, seconds), endorsement)
            .is_err()
        {
            return Err(DirectoryError::BadEndorsement {
                index,
                key_id: key.key_id(),
            });
        }
    }
    Ok(roots.into_iter().map(|(k, _, _)| k).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ceremony::{CountryPlan, NewCountry, create_country};
    use crate::draft::{DEFAULT_VALIDITY, DirectoryDraft};

    fn kz(now: SystemTime) -> NewCountry {
        create_country(&CountryPlan {
            country: CountryCode::parse("KZ").unwrap(),
            units: vec![UnitId::parse("KZ-AKTAU-PCU").unwrap()],
            endpoint: "127.0.0.1:7443".into(),
            extra_hosts: vec![],
            now,
        })
        .unwrap()
    }

    fn verified(made: &NewCountry, envelope: &Envelope) -> VerifiedDirectory {
        let country = CountryCode::parse("KZ").unwrap();
        verify_directory(envelope, &made.root.public_key(), country).unwrap()
    }

    #[test]
    fn endorsement_message_is_laid_out_as_the_proto_says() {
        let key = PublicKey::from_bytes(&[7; 32]).unwrap();
        let message = endorsement_message(CountryCode::parse("UZ").unwrap(), &key, 256);
        let mut expected = b"tulpar root rotation v1\nUZ\n".to_vec();
        expected.extend_from_slice(&[7; 32]);
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(message, expected);
    }

    #[test]
    fn a_changed_payload_under_the_original_signature_fails_the_signature_rule() {
        let now = SystemTime::now();
        let made = kz(now);
        let held = verified(&made, &made.directory);
        let mut directory = held.directory().clone();
        directory.units[0].keys[0].public_key = vec![9; 32];
        let mut forged = made.directory.clone();
        forged.payload = directory.encode_to_vec();
        let err = verify_directory(&forged, &made.root.public_key(), held.country()).unwrap_err();
        assert!(
            matches!(
                err,
                DirectoryError::Signature {
                    source: EnvelopeError::BadSignature { .. },
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn an_update_may_not_drop_keys_or_come_from_the_future() {
        let now = SystemTime::now();
        let made = kz(now);
        let held = verified(&made, &made.directory);

        let mut directory = held.directory().clone();
        directory.version = 2;
        directory.units.clear();
        let dropped = verified(&made, &sign_directory(&directory, &made.root));
        let err = check_update(&dropped, Some(&held), now).unwrap_err();
        assert!(matches!(err, DirectoryError::KeyRemoved { .. }), "{err}");

        let future = DirectoryDraft::from_verified(&held)
            .sign(
                &made.root,
                now + Duration::from_secs(3600),
                DEFAULT_VALIDITY,
            )
            .unwrap();
        let err = check_update(&verified(&made, &future), Some(&held), now).unwrap_err();
        assert!(
            matches!(err, DirectoryError::IssuedInFuture { .. }),
            "{err}"
        );
    }

    #[test]
    fn key_ids_must_match_their_keys() {
        let now = SystemTime::now();
        let made = kz(now);
        let mut directory = verified(&made, &made.directory).directory().clone();
        directory.node_keys[0].key_id = "00".repeat(32);
        let err = verify_directory(
            &sign_directory(&directory, &made.root),
            &made.root.public_key(),
            CountryCode::parse("KZ").unwrap(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "rule well-formed: node_keys[0].key_id: is not the SHA-256 of public_key"
        );
    }
}
