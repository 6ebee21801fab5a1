//! Checks of the signatures inside ledger entries: every alert and response against its unit's keys,
//! every receipt against its node's keys, every directory against its country's root chain, every
//! checkpoint and cosignature against the node keys of the country that signed it.
//!
//! Keys are judged at the time each signature claims (an alert's creation, a receipt's time), against
//! the directories held now: directories keep every key's validity window and every revocation, so the
//! latest one can judge a signature made years ago. A signature that verifies but whose key was revoked
//! before it was made does not fail the check; it is reported, because the entry is still what was
//! recorded and a focal point must see it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use prost::Message;
use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_core::envelope::{self, PayloadType};
use tulpar_core::keys::{KeyId, PublicKey};
use tulpar_core::proto::{self, ledger_entry::Kind};
use tulpar_core::time::from_timestamp;
use tulpar_ledger::SignedCheckpoint;
use tulpar_ledger::note;
use tulpar_proto::pbjson_types::Timestamp;
use tulpar_trust::TrustStore;
use tulpar_trust::directory::{
    DirectoryError, KeyRuleError, Purpose, VerifiedDirectory, verify_directory,
};

/// A verifier key recorded in an entry (an outside log's or an external witness's, as configured
/// when the entry was made), which must be of `kind`.
fn recorded_key(
    text: &str,
    kind: note::VerifierKind,
    field: &str,
) -> Result<note::VerifierKey, String> {
    let key = note::VerifierKey::parse(text).map_err(|e| format!("{field}: {e}"))?;
    if key.kind != kind {
        return Err(format!("{field}: {text:?} is not a key of the right type"));
    }
    Ok(key)
}

/// A signature that verifies, made by a key revoked at the time it claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedUse {
    /// The ledger index of the entry.
    pub index: u64,
    /// The revoked key.
    pub key_id: KeyId,
    /// When the revocation took effect.
    pub revoked_at: SystemTime,
}

impl RevokedUse {
    /// As the API reports it.
    pub fn to_proto(&self) -> proto::RevokedSignature {
        proto::RevokedSignature {
            index: self.index,
            key_id: self.key_id.to_string(),
            revoked_at: Some(tulpar_core::time::to_timestamp(self.revoked_at)),
        }
    }
}

/// Why a country's own directory file is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OwnDirectoryError {
    /// The file could not be read.
    #[error("{0}")]
    Unreadable(#[from] std::io::Error),
    /// The file does not hold an envelope.
    #[error("not an envelope: {0}")]
    NotAnEnvelope(prost::DecodeError),
    /// The envelope does not hold a directory.
    #[error("own directory: not a CountryDirectory: {0}")]
    NotADirectory(prost::DecodeError),
    /// The directory names no root key to check it with.
    #[error("own directory: no root key")]
    NoRootKey,
    /// Its first root key is not a key.
    #[error("own directory: root_keys[0]: {0}")]
    BadRootKey(tulpar_core::keys::KeyError),
    /// It does not verify under its own root, or is not this country's.
    #[error("own directory: {0}")]
    Refused(#[from] DirectoryError),
}

/// Verifies `envelope` as this country's own directory, trusting the first root of its own chain: the
/// node's own directory file is part of its configuration, like its keys.
pub fn own_directory(
    envelope: &proto::Envelope,
    country: CountryCode,
) -> Result<VerifiedDirectory, OwnDirectoryError> {
    let unverified = proto::CountryDirectory::decode(envelope.payload.as_slice())
        .map_err(OwnDirectoryError::NotADirectory)?;
    let first = unverified
        .root_keys
        .first()
        .ok_or(OwnDirectoryError::NoRootKey)?;
    let root = PublicKey::from_bytes(&first.public_key).map_err(OwnDirectoryError::BadRootKey)?;
    Ok(verify_directory(envelope, &root, country)?)
}

/// Reads the directory file at `path` (`trust.own_directory`) and verifies it as this country's own
/// directory (see [`own_directory`]). Errors do not name the file: the caller does.
pub fn read_own_directory(
    path: &Path,
    country: CountryCode,
) -> Result<VerifiedDirectory, OwnDirectoryError> {
    let bytes = std::fs::read(path)?;
    let envelope =
        proto::Envelope::decode(bytes.as_slice()).map_err(OwnDirectoryError::NotAnEnvelope)?;
    own_directory(&envelope, country)
}

/// Who must have signed something.
#[derive(Clone, Copy)]
enum Holder<'a> {
    Unit(&'a UnitId),
    Node,
}

/// Checks entry signatures against this country's directory and the trust store's partners.
pub struct EntryChecker {
    country: CountryCode,
    /// The federation's name, which origins and witness names are made of.
    federation: String,
    /// Remembers batch signatures already checked: entries signed together cost one check.
    verifier: std::sync::Mutex<envelope::Verifier>,
    directories: BTreeMap<CountryCode, Arc<VerifiedDirectory>>,
    pinned_roots: BTreeMap<CountryCode, PublicKey>,
}

impl EntryChecker {
    /// A checker for the ledger of `country` in the federation named `federation`, whose own
    /// directory is `own`, with the partners `trust` holds now.
    pub fn new(
        country: CountryCode,
        federation: &str,
        own: VerifiedDirectory,
        trust: &TrustStore,
    ) -> Self {
        let mut directories = BTreeMap::new();
        let mut pinned_roots = BTreeMap::new();
        for partner in trust.countries() {
            if let Some(entry) = trust.entry(partner) {
                pinned_roots.insert(partner, entry.pinned_root());
                if let Some(directory) = entry.directory() {
                    directories.insert(partner, directory.clone());
                }
            }
        }
        pinned_roots.insert(country, own.root_keys()[0]);
        directories.insert(country, Arc::new(own));
        Self {
            country,
            federation: federation.to_owned(),
            verifier: Default::default(),
            directories,
            pinned_roots,
        }
    }

    /// Checks the signatures in the entry stored at `index` as `raw`; returns the revoked keys whose
    /// signatures it holds, or what is wrong.
    pub fn check(&self, index: u64, raw: &[u8]) -> Result<Vec<RevokedUse>, String> {
        let entry = proto::LedgerEntry::decode(raw).map_err(|e| format!("does not decode: {e}"))?;
        let recorded_at = entry
            .recorded_at
            .as_ref()
            .and_then(from_timestamp)
            .ok_or("no recording time")?;
        let mut revoked = Vec::new();
        let mut note = |found: Option<(KeyId, SystemTime)>| {
            if let Some((key_id, revoked_at)) = found {
                revoked.push(RevokedUse {
                    index,
                    key_id,
                    revoked_at,
                });
            }
        };
        match entry.kind.as_ref().ok_or("no kind")? {
            Kind::AlertSent(sent) => note(self.alert(self.country, sent.alert.as_ref())?),
            Kind::AlertReceived(received) => {
                let from = country(&received.from_country, "alert_received.from_country")?;
                note(self.alert(from, received.alert.as_ref())?);
            }
            Kind::ResponseSent(sent) => note(self.response(self.country, sent.response.as_ref())?),
            Kind::ResponseReceived(received) => {
                let from = country(&received.from_country, "response_received.from_country")?;
                note(self.response(from, received.response.as_ref())?);
            }
            Kind::ReceiptIssued(issued) => {
                note(self.receipt(self.country, issued.receipt.as_ref())?)
            }
            Kind::ReceiptReceived(received) => {
                let from = country(&received.from_country, "receipt_received.from_country")?;
                note(self.receipt(from, received.receipt.as_ref())?);
            }
            Kind::DirectoryAccepted(accepted) => self.directory(accepted.directory.as_ref())?,
            Kind::CheckpointCosigned(cosigned) if cosigned.country.is_empty() => {
                let log = recorded_key(
                    &cosigned.log_key,
                    note::VerifierKind::Log,
                    "checkpoint_cosigned.log_key",
                )?;
                SignedCheckpoint::verify(&cosigned.checkpoint, Some(&log.name), &log.key)
                    .map_err(|e| format!("checkpoint of {}: {e}", log.name))?;
                let with_ours = note::add_signature(&cosigned.checkpoint, &cosigned.cosignature)
                    .map_err(|e| format!("cosignature: {e}"))?;
                note(self.cosignature(self.country, &with_ours, recorded_at)?);
            }
            Kind::CosignatureReceived(received) if received.country.is_empty() => {
                let witness = recorded_key(
                    &received.witness_key,
                    note::VerifierKind::Cosigner,
                    "cosignature_received.witness_key",
                )?;
                note(self.checkpoint(self.country, &received.cosigned_checkpoint, recorded_at)?);
                note::verify_cosignature(
                    &received.cosigned_checkpoint,
                    &witness.name,
                    &witness.key,
                )
                .map_err(|e| format!("cosignature of {}: {e}", witness.name))?;
            }
            Kind::EquivocationDetected(evidence) if evidence.country.is_empty() => {
                let log = recorded_key(
                    &evidence.log_key,
                    note::VerifierKind::Log,
                    "equivocation_detected.log_key",
                )?;
                for text in [&evidence.known_checkpoint, &evidence.conflicting_checkpoint] {
                    SignedCheckpoint::verify(text, Some(&log.name), &log.key)
                        .map_err(|e| format!("checkpoint of {}: {e}", log.name))?;
                }
            }
            Kind::CheckpointCosigned(cosigned) => {
                let partner = country(&cosigned.country, "checkpoint_cosigned.country")?;
                note(self.checkpoint(partner, &cosigned.checkpoint, recorded_at)?);
                let with_ours = note::add_signature(&cosigned.checkpoint, &cosigned.cosignature)
                    .map_err(|e| format!("cosignature: {e}"))?;
                note(self.cosignature(self.country, &with_ours, recorded_at)?);
            }
            Kind::CosignatureReceived(received) => {
                let partner = country(&received.country, "cosignature_received.country")?;
                note(self.checkpoint(self.country, &received.cosigned_checkpoint, recorded_at)?);
                note(self.cosignature(partner, &received.cosigned_checkpoint, recorded_at)?);
            }
            Kind::EquivocationDetected(evidence) => {
                let partner = country(&evidence.country, "equivocation_detected.country")?;
                note(self.checkpoint(partner, &evidence.known_checkpoint, recorded_at)?);
                note(self.checkpoint(partner, &evidence.conflicting_checkpoint, recorded_at)?);
            }
            Kind::DeadlineMissed(_) | Kind::TrustPinned(_) | Kind::DeliveryAbandoned(_) => {}
            // An administrator's act, recorded by this node: covered by its checkpoint alone.
            Kind::TokenRevoked(_) | Kind::AccountEvent(_) => {}
        }
        Ok(revoked)
    }

    /// Verifies `text` as a checkpoint of `country`'s ledger signed by its node with a key valid at
    /// `at`, and returns its size.
    pub fn checkpoint_size(
        &self,
        country: CountryCode,
        text: &str,
        at: Option<SystemTime>,
    ) -> Result<u64, String> {
        let at = at.ok_or("no time to judge its key at")?;
        if let Some((key_id, revoked_at)) = self.checkpoint(country, text, at)? {
            return Err(format!(
                "signed by key {key_id}, revoked from {}",
                tulpar_trust::directory::fmt_time(revoked_at)
            ));
        }
        let parsed = note::Note::parse(text).map_err(|e| e.to_string())?;
        note::CheckpointBody::parse(&parsed.body)
            .map(|body| body.size)
            .map_err(|e| e.to_string())
    }

    fn directory_of(&self, country: CountryCode) -> Result<&VerifiedDirectory, String> {
        self.directories
            .get(&country)
            .map(|d| d.as_ref())
            .ok_or_else(|| format!("no directory of {country} to check its signatures"))
    }

    fn alert(
        &self,
        from: CountryCode,
        signed: Option<&proto::Envelope>,
    ) -> Result<Option<(KeyId, SystemTime)>, String> {
        self.unit_signed(
            from,
            signed,
            PayloadType::Alert,
            Purpose::Alert,
            "origin.unit",
            |alert: proto::Alert| {
                let origin = alert.content.and_then(|c| c.origin).unwrap_or_default();
                (origin.unit, alert.created_at)
            },
        )
    }

    fn response(
        &self,
        from: CountryCode,
        signed: Option<&proto::Envelope>,
    ) -> Result<Option<(KeyId, SystemTime)>, String> {
        self.unit_signed(
            from,
            signed,
            PayloadType::Response,
            Purpose::Response,
            "responder.unit",
            |response: proto::AlertResponse| {
                (
                    response.responder.unwrap_or_default().unit,
                    response.created_at,
                )
            },
        )
    }

    /// Checks an envelope signed by a unit of `from`; `signer` reads the unit (the field named
    /// `unit_field`) and the creation time the signature claims from the decoded message.
    fn unit_signed<M: prost::Message + Default>(
        &self,
        from: CountryCode,
        signed: Option<&proto::Envelope>,
        payload_type: PayloadType,
        purpose: Purpose,
        unit_field: &str,
        signer: impl FnOnce(M) -> (String, Option<Timestamp>),
    ) -> Result<Option<(KeyId, SystemTime)>, String> {
        let signed = signed.ok_or_else(|| format!("no signed {payload_type}"))?;
        let message: M = envelope::decode_recorded(signed, payload_type)
            .map_err(|e| format!("{payload_type}: {e}"))?;
        let (unit, created_at) = signer(message);
        let unit = UnitId::parse(&unit).map_err(|e| format!("{payload_type} {unit_field}: {e}"))?;
        let at = time(created_at.as_ref(), &format!("{payload_type} created_at"))?;
        self.envelope(from, Holder::Unit(&unit), signed, payload_type, purpose, at)
    }

    fn receipt(
        &self,
        signer: CountryCode,
        signed: Option<&proto::Envelope>,
    ) -> Result<Option<(KeyId, SystemTime)>, String> {
        let signed = signed.ok_or("no signed receipt")?;
        let receipt: proto::DeliveryReceipt =
            envelope::decode_recorded(signed, PayloadType::Receipt)
                .map_err(|e| format!("receipt: {e}"))?;
        if receipt.recipient_country != signer.as_str() {
            return Err(format!(
                "receipt of {:?} recorded as signed by {signer}",
                receipt.recipient_country
            ));
        }
        let at = time(receipt.received_at.as_ref(), "receipt received_at")?;
        self.envelope(
            signer,
            Holder::Node,
            signed,
            PayloadType::Receipt,
            Purpose::Receipt,
            at,
        )
    }

    fn directory(&self, signed: Option<&proto::Envelope>) -> Result<(), String> {
        let signed = signed.ok_or("no signed directory")?;
        let claimed: proto::CountryDirectory =
            envelope::decode_recorded(signed, PayloadType::Directory)
                .map_err(|e| format!("directory: {e}"))?;
        let country = country(&claimed.country, "directory country")?;
        let root = self
            .pinned_roots
            .get(&country)
            .ok_or_else(|| format!("{country} is not pinned: its directory cannot be checked"))?;
        verify_directory(signed, root, country)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Checks `signed` cryptographically against every key `holder` of `country` ever had, then the
    /// key rules at `at`.
    fn envelope(
        &self,
        country: CountryCode,
        holder: Holder<'_>,
        signed: &proto::Envelope,
        payload_type: PayloadType,
        purpose: Purpose,
        at: SystemTime,
    ) -> Result<Option<(KeyId, SystemTime)>, String> {
        let directory = self.directory_of(country)?;
        let keys = holder_keys(directory, holder);
        let verified = self
            .verifier
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .verify(signed, payload_type, keys.as_slice())
            .map_err(|e| format!("{payload_type}: {e} (signer {})", describe(country, holder)))?;
        judge(directory, holder, verified.signers(), purpose, at)
    }

    /// Checks that `text` is a checkpoint of `country`'s ledger signed by its node.
    fn checkpoint(
        &self,
        country: CountryCode,
        text: &str,
        at: SystemTime,
    ) -> Result<Option<(KeyId, SystemTime)>, String> {
        let name = note::ledger_origin(&self.federation, country);
        self.note_signed(country, at, |key| {
            SignedCheckpoint::verify(text, Some(&name), key).is_ok()
        })
        .map_err(|e| format!("checkpoint of {country}: {e}"))
    }

    /// Checks that `text` carries a `cosignature/v1` by `country`'s node.
    fn cosignature(
        &self,
        country: CountryCode,
        text: &str,
        at: SystemTime,
    ) -> Result<Option<(KeyId, SystemTime)>, String> {
        let name = note::witness_name(&self.federation, country);
        // Ledgers begun before cosignatures were C2SP's hold plain signed-note signatures by the
        // witness's origin over the body: still the witness's word, checked as such.
        let legacy = note::ledger_origin(&self.federation, country);
        self.note_signed(country, at, |key| {
            note::verify_cosignature(text, &name, key).is_ok()
                || note::Note::parse(text).is_ok_and(|n| n.verify(&legacy, key).is_ok())
        })
        .map_err(|e| format!("cosignature of {country}: {e}"))
    }

    fn note_signed(
        &self,
        country: CountryCode,
        at: SystemTime,
        verifies: impl Fn(&PublicKey) -> bool,
    ) -> Result<Option<(KeyId, SystemTime)>, String> {
        let directory = self.directory_of(country)?;
        let signers: Vec<KeyId> = directory
            .node_keys()
            .iter()
            .filter(|k| verifies(&k.public_key))
            .map(|k| k.key_id)
            .collect();
        if signers.is_empty() {
            return Err(format!("not signed by any key the {country} node ever had"));
        }
        judge(directory, Holder::Node, &signers, Purpose::Checkpoint, at)
    }
}

/// Every key `holder` ever had, whatever its validity.
fn holder_keys(directory: &VerifiedDirectory, holder: Holder<'_>) -> Vec<PublicKey> {
    match holder {
        Holder::Node => directory.node_keys().iter().map(|k| k.public_key).collect(),
        Holder::Unit(unit) => directory
            .units()
            .iter()
            .filter(|u| u.unit_id == *unit)
            .flat_map(|u| &u.keys)
            .map(|k| k.public_key)
            .collect(),
    }
}

fn describe(country: CountryCode, holder: Holder<'_>) -> String {
    match holder {
        Holder::Unit(unit) => unit.to_string(),
        Holder::Node => format!("the {country} node"),
    }
}

/// Applies the key rules at `at` to keys whose signatures verified: fine when one passes; a revoked
/// key when every one was revoked; otherwise the first rule broken.
fn judge(
    directory: &VerifiedDirectory,
    holder: Holder<'_>,
    signers: &[KeyId],
    purpose: Purpose,
    at: SystemTime,
) -> Result<Option<(KeyId, SystemTime)>, String> {
    let mut revoked = None;
    let mut broken = None;
    for key_id in signers {
        let rules = match holder {
            Holder::Unit(unit) => directory.check_unit_key(unit, key_id, purpose, at),
            Holder::Node => directory.check_node_key(key_id, purpose, at),
        };
        match rules {
            Ok(_) => return Ok(None),
            Err(KeyRuleError::Revoked {
                key_id,
                effective_at,
                ..
            }) => revoked = Some((key_id, effective_at)),
            Err(other) => broken = broken.or(Some(other)),
        }
    }
    match (revoked, broken) {
        (Some(revoked), None) => Ok(Some(revoked)),
        (_, Some(broken)) => Err(broken.to_string()),
        (None, None) => Err("no signature".into()),
    }
}

fn country(text: &str, field: &str) -> Result<CountryCode, String> {
    CountryCode::parse(text).map_err(|e| format!("{field}: {e}"))
}

fn time(timestamp: Option<&Timestamp>, what: &str) -> Result<SystemTime, String> {
    timestamp
        .and_then(from_timestamp)
        .ok_or_else(|| format!("{what} is missing or out of range"))
}

#[cfg(test)]
mod tests {
    use tulpar_core::codes::UnitId;
    use tulpar_trust::ceremony::{CountryPlan, create_country};

    use super::*;

    fn code(text: &str) -> CountryCode {
        CountryCode::parse(text).expect("a country code")
    }

    #[test]
    fn the_own_directory_file_must_hold_this_countrys_directory() {
        let made = create_country(&CountryPlan {
            country: code("KZ"),
            units: vec![UnitId::parse("KZ-AKTAU-PCU").expect("a unit id")],
            endpoint: "127.0.0.1:7443".into(),
            extra_hosts: vec![],
            now: SystemTime::now(),
        })
        .expect("a ceremony");
        let dir = tempfile::tempdir().expect("a folder");
        let path = dir.path().join("directory.env");
        std::fs::write(&path, made.directory.encode_to_vec()).expect("written");

        let own = read_own_directory(&path, code("KZ")).expect("KZ's own directory");
        assert_eq!(own.country(), code("KZ"));
        assert!(matches!(
            read_own_directory(&path, code("UZ")),
            Err(OwnDirectoryError::Refused(_))
        ));
        std::fs::write(&path, b"\xff\xff not protobuf").expect("written");
        assert!(matches!(
            read_own_directory(&path, code("KZ")),
            Err(OwnDirectoryError::NotAnEnvelope(_))
        ));
        assert!(matches!(
            read_own_directory(&dir.path().join("missing.env"), code("KZ")),
            Err(OwnDirectoryError::Unreadable(_))
        ));
    }
}
