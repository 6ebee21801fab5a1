//! Preparing the next version of one's own country directory: the focal point's side.
//!
//! A [`DirectoryDraft`] starts from the directory last published and records each change with its time;
//! [`DirectoryDraft::sign`] bumps the version and signs with the current root key. Keys are only ever
//! closed (given a `valid_until`), never removed, so old signatures keep verifying.

use std::time::{Duration, SystemTime};

use rustls_pki_types::CertificateDer;
use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_core::keys::{KeyId, PublicKey, SigningKey};
use tulpar_core::time::to_timestamp;
use tulpar_proto::v1::{CountryDirectory, Envelope, Revocation, Unit};

use crate::directory::{Purpose, VerifiedDirectory, directory_key, root_key_entry, sign_directory};

/// Purposes of a unit key.
pub const UNIT_PURPOSES: [Purpose; 2] = [Purpose::Alert, Purpose::Response];
/// Purposes of a node ledger key.
pub const NODE_PURPOSES: [Purpose; 2] = [Purpose::Receipt, Purpose::Checkpoint];
/// How long a published directory is accepted as new by default.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(90 * 24 * 3600);

/// Why a change to a directory was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EditError {
    /// The unit id belongs to another country.
    #[error("{unit} belongs to {}, not to {country}", .unit.country())]
    UnitOfOtherCountry {
        /// The unit.
        unit: UnitId,
        /// The directory's country.
        country: CountryCode,
    },
    /// The unit is already listed.
    #[error("{0} is already in the directory")]
    UnitExists(UnitId),
    /// The unit is not listed.
    #[error("{0} is not in the directory")]
    UnknownUnit(UnitId),
    /// The unit was retired.
    #[error("{0} is retired")]
    UnitRetired(UnitId),
    /// The key is already revoked.
    #[error("key {0} is already revoked")]
    AlreadyRevoked(KeyId),
    /// A revocation reason longer than allowed.
    #[error("a revocation reason has at most 500 characters")]
    ReasonTooLong,
    /// Signing with a key that is not the directory's current root.
    #[error("key {given} is not the current root key {current}; sign with the current root")]
    NotCurrentRoot {
        /// The key given.
        given: KeyId,
        /// The current root.
        current: KeyId,
    },
    /// The new node key is already listed.
    #[error("key {0} is already a node key of this country")]
    NodeKeyReused(KeyId),
    /// The new root is already in the chain.
    #[error("key {0} is already a root key of this country")]
    RootReused(KeyId),
}

/// The next version of a country directory, being prepared.
#[derive(Debug, Clone)]
pub struct DirectoryDraft {
    country: CountryCode,
    directory: CountryDirectory,
}

impl DirectoryDraft {
    /// A first directory: no units yet, the given root, TLS CA, node key and endpoints.
    pub fn new(
        country: CountryCode,
        root: &PublicKey,
        tls_ca: &CertificateDer<'_>,
        node_key: &PublicKey,
        endpoints: Vec<String>,
        now: SystemTime,
    ) -> Self {
        let directory = CountryDirectory {
            country: country.as_str().to_owned(),
            version: 0,
            issued_at: None,
            expires_at: None,
            endpoints,
            tls_ca_certificates: vec![tls_ca.to_vec()],
            node_keys: vec![directory_key(node_key, now, &NODE_PURPOSES)],
            units: vec![],
            root_keys: vec![root_key_entry(country, root, now, None)],
            revocations: vec![],
        };
        Self { country, directory }
    }

    /// A draft of the version after `current`.
    pub fn from_verified(current: &VerifiedDirectory) -> Self {
        Self {
            country: current.country(),
            directory: current.directory().clone(),
        }
    }

    /// The directory as it stands.
    pub fn directory(&self) -> &CountryDirectory {
        &self.directory
    }

    /// Adds a unit with its first key, valid from `now`.
    pub fn add_unit(
        &mut self,
        unit: &UnitId,
        name: &str,
        key: &PublicKey,
        now: SystemTime,
    ) -> Result<(), EditError> {
        if unit.country() != self.country {
            return Err(EditError::UnitOfOtherCountry {
                unit: unit.clone(),
                country: self.country,
            });
        }
        if self.unit_mut(unit).is_ok() {
            return Err(EditError::UnitExists(unit.clone()));
        }
        self.directory.units.push(Unit {
            unit_id: unit.to_string(),
            name: name.to_owned(),
            keys: vec![directory_key(key, now, &UNIT_PURPOSES)],
            retired_at: None,
        });
        Ok(())
    }

    /// Retires a unit from `at`: its keys sign nothing valid from then on.
    pub fn retire_unit(&mut self, unit: &UnitId, at: SystemTime) -> Result<(), EditError> {
        let entry = self.unit_mut(unit)?;
        if entry.retired_at.is_some() {
            return Err(EditError::UnitRetired(unit.clone()));
        }
        entry.retired_at = Some(to_timestamp(at));
        Ok(())
    }

    /// Closes the unit's current keys at `at` and adds `new_key` valid from `at`. Returns the ids of
    /// the keys closed.
    pub fn rotate_unit_key(
        &mut self,
        unit: &UnitId,
        new_key: &PublicKey,
        at: SystemTime,
    ) -> Result<Vec<KeyId>, EditError> {
        let entry = self.unit_mut(unit)?;
        if entry.retired_at.is_some() {
            return Err(EditError::UnitRetired(unit.clone()));
        }
        let mut closed = Vec::new();
        for key in entry.keys.iter_mut().filter(|k| k.valid_until.is_none()) {
            key.valid_until = Some(to_timestamp(at));
            if let Ok(id) = key.key_id.parse() {
                closed.push(id);
            }
        }
        entry.keys.push(directory_key(new_key, at, &UNIT_PURPOSES));
        Ok(closed)
    }

    /// Names `new_key` as the node ledger key (receipts and checkpoints) from `switch_at`, and closes
    /// the node keys still open at `old_until` (not before `switch_at`): the node switches on its
    /// first reload past `switch_at`, so its old key must stay valid for what it signs until then.
    /// Returns the ids of the keys closed.
    pub fn rotate_node_key(
        &mut self,
        new_key: &PublicKey,
        switch_at: SystemTime,
        old_until: SystemTime,
    ) -> Result<Vec<KeyId>, EditError> {
        let id = new_key.key_id().to_string();
        if self.directory.node_keys.iter().any(|k| k.key_id == id) {
            return Err(EditError::NodeKeyReused(new_key.key_id()));
        }
        let mut closed = Vec::new();
        for key in self
            .directory
            .node_keys
            .iter_mut()
            .filter(|k| k.valid_until.is_none())
        {
            key.valid_until = Some(to_timestamp(old_until.max(switch_at)));
            if let Ok(id) = key.key_id.parse() {
                closed.push(id);
            }
        }
        self.directory
            .node_keys
            .push(directory_key(new_key, switch_at, &NODE_PURPOSES));
        Ok(closed)
    }

    /// Declares `key_id` (an Ed25519 key id or a TLS SubjectPublicKeyInfo hash) revoked from
    /// `effective_at`.
    pub fn revoke(
        &mut self,
        key_id: KeyId,
        effective_at: SystemTime,
        reason: &str,
    ) -> Result<(), EditError> {
        if reason.chars().count() > 500 {
            return Err(EditError::ReasonTooLong);
        }
        let id = key_id.to_string();
        if self.directory.revocations.iter().any(|r| r.key_id == id) {
            return Err(EditError::AlreadyRevoked(key_id));
        }
        self.directory.revocations.push(Revocation {
            key_id: id,
            effective_at: Some(to_timestamp(effective_at)),
            reason: reason.to_owned(),
        });
        Ok(())
    }

    /// Hands the root over to `new_root` from `at`, endorsed by the current root `old`. The draft must
    /// then be signed with the new root.
    pub fn rotate_root(
        &mut self,
        old: &SigningKey,
        new_root: &PublicKey,
        at: SystemTime,
    ) -> Result<(), EditError> {
        self.check_current_root(old)?;
        let id = new_root.key_id().to_string();
        if self.directory.root_keys.iter().any(|r| r.key_id == id) {
            return Err(EditError::RootReused(new_root.key_id()));
        }
        self.directory
            .root_keys
            .push(root_key_entry(self.country, new_root, at, Some(old)));
        Ok(())
    }

    /// Replaces the federation endpoints.
    pub fn set_endpoints(&mut self, endpoints: Vec<String>) {
        self.directory.endpoints = endpoints;
    }

    /// Signs the next version, issued `now` and valid for `validity`, with the current root.
    pub fn sign(
        mut self,
        root: &SigningKey,
        now: SystemTime,
        validity: Duration,
    ) -> Result<Envelope, EditError> {
        self.check_current_root(root)?;
        self.directory.version += 1;
        self.directory.issued_at = Some(to_timestamp(now));
        self.directory.expires_at = Some(to_timestamp(now + validity));
        Ok(sign_directory(&self.directory, root))
    }

    fn check_current_root(&self, key: &SigningKey) -> Result<(), EditError> {
        let current = self
            .directory
            .root_keys
            .last()
            .map(|r| r.key_id.clone())
            .unwrap_or_default();
        if current != key.key_id().to_string() {
            return Err(EditError::NotCurrentRoot {
                given: key.key_id(),
                current: current.parse().unwrap_or(key.key_id()),
            });
        }
        Ok(())
    }

    fn unit_mut(&mut self, unit: &UnitId) -> Result<&mut Unit, EditError> {
        self.directory
            .units
            .iter_mut()
            .find(|u| u.unit_id == unit.as_str())
            .ok_or_else(|| EditError::UnknownUnit(unit.clone()))
    }
}

#[cfg(test)]
mod tests {
    use tulpar_core::codes::UnitId;

    use super::*;
    use crate::ceremony::{CountryPlan, create_country};
    use crate::directory::verify_directory;

    #[test]
    fn a_node_key_rotation_names_the_new_key_from_the_switch_and_closes_the_old_after_the_overlap()
    {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let country = CountryCode::parse("KZ").unwrap();
        let made = create_country(&CountryPlan {
            country,
            units: vec![UnitId::parse("KZ-AKTAU-PCU").unwrap()],
            endpoint: "127.0.0.1:7443".into(),
            extra_hosts: vec![],
            now,
        })
        .unwrap();
        let current = verify_directory(&made.directory, &made.root.public_key(), country).unwrap();
        let new = SigningKey::generate().unwrap();
        let (switch, overlap) = (now + Duration::from_secs(600), Duration::from_secs(3600));
        let mut draft = DirectoryDraft::from_verified(&current);
        let closed = draft
            .rotate_node_key(&new.public_key(), switch, switch + overlap)
            .unwrap();
        assert_eq!(closed, [made.ledger.key_id()]);
        assert_eq!(
            draft
                .clone()
                .rotate_node_key(&new.public_key(), switch, switch)
                .unwrap_err(),
            EditError::NodeKeyReused(new.key_id())
        );
        let signed = draft.sign(&made.root, now, DEFAULT_VALIDITY).unwrap();
        let next = verify_directory(&signed, &made.root.public_key(), country).unwrap();
        for purpose in NODE_PURPOSES {
            let old = made.ledger.key_id();
            assert!(next.check_node_key(&old, purpose, switch).is_ok());
            assert!(
                next.check_node_key(&old, purpose, switch + overlap)
                    .is_err()
            );
            assert!(
                next.check_node_key(&new.key_id(), purpose, switch - Duration::from_secs(1))
                    .is_err()
            );
            assert!(next.check_node_key(&new.key_id(), purpose, switch).is_ok());
        }
    }
}
