//! The country's own revocations of client certificates, from its directory (`trust.own_directory`).
//!
//! `tulpar directory revoke-key --tls-cert` records the SHA-256 of a certificate's SubjectPublicKeyInfo
//! in the directory; the node refuses a client certificate whose key (or whole certificate) is revoked
//! there from the revocation's effective time on. The directory is parsed and verified once per change
//! of its file, not per call: [`OwnRevocations::refresh`] runs every `trust.reload_interval` and looks
//! at the file's size and modification time first, so a call costs a hash-map lookup. The same reading
//! gives the units the directory lists, which partners' alerts may name as recipients, and the signed
//! directory partners fetch.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use ring::digest::{SHA256, digest};
use rustls_pki_types::CertificateDer;
use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_core::keys::KeyId;
use tulpar_core::proto;
use tulpar_trust::directory::VerifiedDirectory;
use tulpar_trust::tls::spki_sha256;

/// The key ids a client certificate can be revoked under: the SHA-256 of its SubjectPublicKeyInfo
/// (what `revoke-key --tls-cert` records) and of the whole certificate.
pub(crate) fn certificate_key_ids(
    leaf: &CertificateDer<'_>,
) -> Result<[KeyId; 2], tulpar_trust::tls::TlsError> {
    let spki = spki_sha256(leaf)?;
    let mut whole = [0u8; 32];
    whole.copy_from_slice(digest(&SHA256, leaf.as_ref()).as_ref());
    Ok([KeyId::from_digest(spki), KeyId::from_digest(whole)])
}

/// Why the own directory's file was not taken.
#[derive(Debug, thiserror::Error)]
#[error("trust.own_directory: {}: {fault}", path.display())]
pub(crate) struct OwnDirectoryFileError {
    path: PathBuf,
    fault: DirectoryFault,
}

/// What is wrong with the own directory's file.
#[derive(Debug, thiserror::Error)]
enum DirectoryFault {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Unreadable(#[from] tulpar_audit::OwnDirectoryError),
    #[error(
        "holds version {found}, older than version {held} read before; keeping the revocations \
         of version {held}"
    )]
    Older { found: u64, held: u64 },
    #[error("not read yet")]
    Unread,
}

/// A revocation in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertificateRevocation {
    /// The revoked key id.
    pub(crate) key_id: KeyId,
    /// From when.
    pub(crate) effective_at: SystemTime,
    /// Why.
    pub(crate) reason: String,
    /// The directory version that holds it.
    pub(crate) version: u64,
}

/// What the file looked like when it was last read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

#[derive(Debug, Clone, Default)]
struct Snapshot {
    stamp: Option<Stamp>,
    version: u64,
    /// The signed directory as read and verified; `None` only before the first reading.
    signed: Option<Arc<proto::Envelope>>,
    /// The units the directory lists, retired ones included.
    units: HashSet<UnitId>,
    /// The earliest revocation of each key id: the one in force first.
    revoked: HashMap<KeyId, (SystemTime, String)>,
}

/// The revocations and units of the country's own directory, re-read when its file changes.
pub(crate) struct OwnRevocations {
    path: PathBuf,
    country: CountryCode,
    current: RwLock<Arc<Snapshot>>,
}

impl OwnRevocations {
    /// The revocations of the directory of `country` in the file `path` (`trust.own_directory`);
    /// refused when it does not verify.
    pub(crate) fn load(path: &Path, country: CountryCode) -> Result<Self, OwnDirectoryFileError> {
        let revocations = Self {
            path: path.to_owned(),
            country,
            current: RwLock::new(Arc::new(Snapshot::default())),
        };
        revocations.refresh()?;
        Ok(revocations)
    }

    fn read(&self) -> Result<VerifiedDirectory, DirectoryFault> {
        Ok(tulpar_audit::read_own_directory(&self.path, self.country)?)
    }

    fn file_error(&self, fault: impl Into<DirectoryFault>) -> OwnDirectoryFileError {
        OwnDirectoryFileError {
            path: self.path.clone(),
            fault: fault.into(),
        }
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Re-reads the directory if its file changed; true when the revocations changed. A directory
    /// that does not verify, or is older than the one held, is refused and the one held is kept.
    pub(crate) fn refresh(&self) -> Result<bool, OwnDirectoryFileError> {
        let held = self.snapshot();
        let metadata = std::fs::metadata(&self.path).map_err(|e| self.file_error(e))?;
        let stamp = Stamp {
            modified: metadata.modified().ok(),
            len: metadata.len(),
        };
        if held.stamp == Some(stamp) {
            return Ok(false);
        }
        let read = self.read().map_err(|e| self.file_error(e));
        let directory = match read {
            Ok(directory) => directory,
            Err(error) => {
                // Remember the stamp so that the same broken file is not re-read and re-logged
                // every interval; a new file is read again.
                self.keep(&held, stamp);
                return Err(error);
            }
        };
        if directory.version() < held.version {
            self.keep(&held, stamp);
            return Err(self.file_error(DirectoryFault::Older {
                found: directory.version(),
                held: held.version,
            }));
        }
        let mut revoked: HashMap<KeyId, (SystemTime, String)> = HashMap::new();
        for r in directory.revocations() {
            let earlier = revoked
                .get(&r.key_id)
                .is_some_and(|(at, _)| *at <= r.effective_at);
            if !earlier {
                revoked.insert(r.key_id, (r.effective_at, r.reason.clone()));
            }
        }
        let changed = revoked != held.revoked;
        self.swap(Snapshot {
            stamp: Some(stamp),
            version: directory.version(),
            signed: Some(Arc::new(directory.envelope().clone())),
            units: directory
                .units()
                .iter()
                .map(|u| u.unit_id.clone())
                .collect(),
            revoked,
        });
        if changed {
            tracing::info!(
                version = directory.version(),
                revocations = directory.revocations().len(),
                "own directory read: client certificates are checked against its revocations"
            );
        }
        Ok(changed)
    }

    fn swap(&self, snapshot: Snapshot) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snapshot);
    }

    /// Keeps what `held` holds, remembering the file as seen at `stamp`.
    fn keep(&self, held: &Snapshot, stamp: Stamp) {
        self.swap(Snapshot {
            stamp: Some(stamp),
            ..held.clone()
        });
    }

    /// The signed directory and its version, as partners fetch it: re-read first if its file
    /// changed, so a newly published version is served at once.
    pub(crate) fn signed(&self) -> Result<(u64, Arc<proto::Envelope>), OwnDirectoryFileError> {
        self.refresh()?;
        let snapshot = self.snapshot();
        let signed = snapshot
            .signed
            .clone()
            .ok_or_else(|| self.file_error(DirectoryFault::Unread))?;
        Ok((snapshot.version, signed))
    }

    /// The positions of those of `units` the directory does not list, and the directory's version.
    pub(crate) fn unlisted_units(&self, units: &[UnitId]) -> (Vec<usize>, u64) {
        let snapshot = self.snapshot();
        let unlisted = units
            .iter()
            .enumerate()
            .filter(|(_, unit)| !snapshot.units.contains(*unit))
            .map(|(j, _)| j)
            .collect();
        (unlisted, snapshot.version)
    }

    /// The revocation in force at `at` of any of `key_ids`, if any.
    pub(crate) fn revoked(
        &self,
        key_ids: &[KeyId],
        at: SystemTime,
    ) -> Option<CertificateRevocation> {
        let snapshot = self.snapshot();
        key_ids.iter().find_map(|key_id| {
            let (effective_at, reason) = snapshot.revoked.get(key_id)?;
            (*effective_at <= at).then(|| CertificateRevocation {
                key_id: *key_id,
                effective_at: *effective_at,
                reason: reason.clone(),
                version: snapshot.version,
            })
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use prost::Message;
    use tulpar_core::codes::UnitId;
    use tulpar_trust::ceremony::{CountryPlan, create_country};
    use tulpar_trust::draft::{DEFAULT_VALIDITY, DirectoryDraft};

    use super::*;

    /// A new country KZ with unit KZ-AKTAU-PCU made at `now`, its signed directory written to
    /// `directory.env` in `dir`; returns the ceremony's output and the file's path.
    pub(crate) fn own_directory_in(
        dir: &Path,
        now: SystemTime,
    ) -> (tulpar_trust::ceremony::NewCountry, std::path::PathBuf) {
        let made = create_country(&CountryPlan {
            country: CountryCode::parse("KZ").unwrap(),
            units: vec![UnitId::parse("KZ-AKTAU-PCU").unwrap()],
            endpoint: "127.0.0.1:7443".into(),
            extra_hosts: vec![],
            now,
        })
        .unwrap();
        let path = dir.join("directory.env");
        std::fs::write(&path, made.directory.encode_to_vec()).unwrap();
        (made, path)
    }

    #[test]
    fn a_revocation_published_in_the_file_is_seen_at_the_next_refresh_from_its_time() {
        let now = SystemTime::now();
        let country = CountryCode::parse("KZ").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (made, path) = own_directory_in(dir.path(), now);
        let revocations = OwnRevocations::load(&path, country).unwrap();
        let laptop = [KeyId::from_digest([7; 32]), KeyId::from_digest([8; 32])];
        assert_eq!(revocations.revoked(&laptop, now), None);
        assert!(!revocations.refresh().unwrap(), "nothing changed");

        let held = tulpar_audit::own_directory(&made.directory, country).unwrap();
        let mut draft = DirectoryDraft::from_verified(&held);
        let from = now + Duration::from_secs(60);
        draft.revoke(laptop[1], from, "laptop stolen").unwrap();
        let next = draft.sign(&made.root, now, DEFAULT_VALIDITY).unwrap();
        std::fs::write(&path, next.encode_to_vec()).unwrap();
        assert!(revocations.refresh().unwrap());
        assert_eq!(revocations.revoked(&laptop, now), None, "not yet in force");
        let found = revocations.revoked(&laptop, from).unwrap();
        assert_eq!(found.key_id, laptop[1]);
        assert_eq!(found.reason, "laptop stolen");
        assert_eq!(found.version, 2);

        // An older version put back does not undo the revocation.
        std::fs::write(&path, made.directory.encode_to_vec()).unwrap();
        let error = revocations.refresh().unwrap_err();
        assert!(
            error.to_string().contains("older than version 2"),
            "{error}"
        );
        assert!(revocations.revoked(&laptop, from).is_some());
    }
}
