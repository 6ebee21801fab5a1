//! The trust store of a node: one entry per partner country, kept on disk and in memory.
//!
//! On disk, `<store>/<CC>/root.pub` is the pinned root key (SPKI PEM) and `<store>/<CC>/directory.env`
//! the latest accepted directory (a binary protobuf `Envelope`). Every file is replaced atomically, so
//! a node reading the store never sees half an update.
//!
//! In memory, the entries are an immutable snapshot behind an `RwLock<Arc<_>>`: a reader clones the
//! `Arc` and works without holding the lock, a writer verifies, persists, then swaps in a new
//! snapshot. TLS verifiers read the live snapshot on every handshake, so a partner added or a key
//! revoked applies to the next connection without a restart.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::SystemTime;

use prost::Message;
use rustls_pki_types::CertificateDer;
use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_core::envelope::KeyResolver;
use tulpar_core::keys::{KeyId, PublicKey};
use tulpar_core::limits::MAX_DIRECTORY_BYTES;
use tulpar_core::time::Clock;
use tulpar_proto::v1::{CountryDirectory, Envelope};

use crate::directory::{
    DirectoryError, KeyRuleError, Purpose, VerifiedDirectory, check_update, verify_directory,
};
use crate::files::write_atomically;
use crate::keyfile::{self, KeyFileError};
use crate::tls::{self, Partners, PeerError};

/// File name of a pinned root key inside a country's folder.
pub const ROOT_FILE: &str = "root.pub";
/// File name of the accepted directory inside a country's folder.
pub const DIRECTORY_FILE: &str = "directory.env";

/// What went wrong with the trust store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A pinned root key file is unreadable.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// A stored file does not hold what it should.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The root key offered does not have the fingerprint the partner gave out of band.
    #[error(
        "rule fingerprint: the root key for {country} has fingerprint {actual}, not the expected \
         {expected}; do not trust it until the partner's focal point confirms the fingerprint"
    )]
    FingerprintMismatch {
        /// The country.
        country: CountryCode,
        /// The fingerprint given.
        expected: String,
        /// The fingerprint of the key file.
        actual: KeyId,
    },
    /// The country is already pinned to another root.
    #[error(
        "{country} is already pinned to root key {pinned}; a new root must come as a rotation \
         endorsed in {country}'s directory"
    )]
    AlreadyPinned {
        /// The country.
        country: CountryCode,
        /// The root already pinned.
        pinned: KeyId,
    },
    /// The country is not in the store.
    #[error("{0} is not a partner in the trust store; add it with `tulpar trust add`")]
    UnknownCountry(CountryCode),
    /// The directory was refused.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// The envelope does not hold a directory at all.
    #[error("rule well-formed: the envelope does not hold a country directory: {0}")]
    NotADirectory(String),
    /// The signed directory is larger than any partner may serve.
    #[error(
        "rule size: the signed directory is {size} bytes; at most {max} are accepted \
         (tulpar_core::limits::MAX_DIRECTORY_BYTES)"
    )]
    TooLarge {
        /// Its encoded size.
        size: usize,
        /// [`tulpar_core::limits::MAX_DIRECTORY_BYTES`].
        max: usize,
    },
}

/// What the store holds for one partner country.
#[derive(Debug, Clone)]
pub struct CountryEntry {
    country: CountryCode,
    pinned_root: PublicKey,
    directory: Option<Arc<VerifiedDirectory>>,
}

impl CountryEntry {
    /// The country.
    pub fn country(&self) -> CountryCode {
        self.country
    }

    /// The root key pinned when the partner was added.
    pub fn pinned_root(&self) -> PublicKey {
        self.pinned_root
    }

    /// The latest accepted directory, if any.
    pub fn directory(&self) -> Option<&Arc<VerifiedDirectory>> {
        self.directory.as_ref()
    }
}

type Entries = BTreeMap<CountryCode, Arc<CountryEntry>>;

/// A node's trust store; share it as `Arc<TrustStore>`.
pub struct TrustStore {
    root: PathBuf,
    clock: Arc<dyn Clock>,
    entries: RwLock<Arc<Entries>>,
    // Serialises writers so that verify-persist-swap is one step; readers never wait on it.
    writer: Mutex<()>,
}

impl std::fmt::Debug for TrustStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustStore")
            .field("root", &self.root)
            .field("countries", &self.countries())
            .finish()
    }
}

impl TrustStore {
    /// Opens (creating if needed) the store in `dir` and loads every entry.
    pub fn open(dir: &Path, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let store = Self {
            root: dir.to_owned(),
            clock,
            entries: RwLock::new(Arc::new(Entries::new())),
            writer: Mutex::new(()),
        };
        store.reload()?;
        Ok(store)
    }

    /// The folder of the store.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The clock the store judges expiry and revocation by.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// Re-reads every entry from disk (e.g. after `tulpar trust add` while the node runs). On error
    /// the previous state is kept.
    pub fn reload(&self) -> Result<(), StoreError> {
        let _guard = self.lock_writer();
        let mut entries = Entries::new();
        let listing = fs::read_dir(&self.root).map_err(io(&self.root))?;
        for item in listing {
            let item = item.map_err(io(&self.root))?;
            let path = item.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            // Temporary files and anything that is not a country folder are not entries.
            let Ok(country) = CountryCode::parse(name) else {
                continue;
            };
            if !path.join(ROOT_FILE).exists() {
                continue;
            }
            entries.insert(country, Arc::new(load_entry(&path, country)?));
        }
        self.swap(entries);
        Ok(())
    }

    /// The countries in the store.
    pub fn countries(&self) -> Vec<CountryCode> {
        self.snapshot().keys().copied().collect()
    }

    /// The entry for `country`.
    pub fn entry(&self, country: CountryCode) -> Option<Arc<CountryEntry>> {
        self.snapshot().get(&country).cloned()
    }

    /// The latest accepted directory of `country`.
    pub fn directory(&self, country: CountryCode) -> Option<Arc<VerifiedDirectory>> {
        self.entry(country)?.directory.clone()
    }

    /// Pins `root` for `country` after checking it against the fingerprint given out of band, and
    /// accepts `directory` if given. Adding the same root again only accepts the directory.
    pub fn add_country(
        &self,
        country: CountryCode,
        root: PublicKey,
        fingerprint: &str,
        directory: Option<&Envelope>,
    ) -> Result<Arc<CountryEntry>, StoreError> {
        let actual = root.key_id();
        if fingerprint.trim().to_ascii_lowercase() != actual.to_string() {
            return Err(StoreError::FingerprintMismatch {
                country,
                expected: fingerprint.chars().take(80).collect(),
                actual,
            });
        }
        let _guard = self.lock_writer();
        let current = self.snapshot();
        let held = match current.get(&country) {
            Some(entry) if entry.pinned_root != root => {
                return Err(StoreError::AlreadyPinned {
                    country,
                    pinned: entry.pinned_root.key_id(),
                });
            }
            Some(entry) => entry.directory.clone(),
            None => None,
        };
        let verified = match directory {
            Some(envelope) => {
                Some(self.verify_offered(envelope, &root, country, held.as_deref())?)
            }
            None => None,
        };
        let folder = self.root.join(country.as_str());
        fs::create_dir_all(&folder).map_err(io(&folder))?;
        if let Some(verified) = &verified {
            self.persist_directory(country, verified)?;
        }
        let root_path = folder.join(ROOT_FILE);
        write_atomically(&root_path, root.to_pem().as_bytes(), 0o644).map_err(io(&root_path))?;
        let entry = Arc::new(CountryEntry {
            country,
            pinned_root: root,
            directory: verified.map(Arc::new).or(held),
        });
        let mut next = (*current).clone();
        next.insert(country, entry.clone());
        self.swap(next);
        Ok(entry)
    }

    /// Verifies a directory offered by a partner (against its pinned root, newer than the held one, not
    /// expired), persists it and makes it current. The same directory offered again is accepted as is.
    pub fn accept_directory(
        &self,
        envelope: &Envelope,
    ) -> Result<Arc<VerifiedDirectory>, StoreError> {
        // Its size is checked before anything is decoded or verified: every directory held costs
        // memory in every node that trusts the country.
        let size = envelope.encoded_len();
        if size > MAX_DIRECTORY_BYTES {
            return Err(StoreError::TooLarge {
                size,
                max: MAX_DIRECTORY_BYTES,
            });
        }
        // Only the country field is read before verification, to pick the pinned root to verify with.
        let claimed = CountryDirectory::decode(envelope.payload.as_slice())
            .map_err(|e| StoreError::NotADirectory(e.to_string()))?
            .country;
        let country = CountryCode::parse(&claimed)
            .map_err(|e| StoreError::NotADirectory(format!("country: {e}")))?;
        let _guard = self.lock_writer();
        let current = self.snapshot();
        let entry = current
            .get(&country)
            .ok_or(StoreError::UnknownCountry(country))?;
        if let Some(held) = &entry.directory
            && held.envelope() == envelope
        {
            return Ok(held.clone());
        }
        let verified = Arc::new(self.verify_offered(
            envelope,
            &entry.pinned_root,
            country,
            entry.directory.as_deref(),
        )?);
        self.persist_directory(country, &verified)?;
        let mut next = (*current).clone();
        next.insert(
            country,
            Arc::new(CountryEntry {
                directory: Some(verified.clone()),
                ..(**entry).clone()
            }),
        );
        self.swap(next);
        Ok(verified)
    }

    /// Checks that `key_id` was a key of `unit` of `country`, valid for `purpose` at `at`.
    pub fn check_unit_key(
        &self,
        country: CountryCode,
        unit: &UnitId,
        key_id: &KeyId,
        purpose: Purpose,
        at: SystemTime,
    ) -> Result<PublicKey, KeyRuleError> {
        let snapshot = self.snapshot();
        let directory = directory_in(&snapshot, country)?;
        directory
            .check_unit_key(unit, key_id, purpose, at)
            .map_err(|e| name_owner(&snapshot, e))
    }

    /// Checks that `key_id` was a node key of `country`, valid for `purpose` at `at`.
    pub fn check_node_key(
        &self,
        country: CountryCode,
        key_id: &KeyId,
        purpose: Purpose,
        at: SystemTime,
    ) -> Result<PublicKey, KeyRuleError> {
        let snapshot = self.snapshot();
        let directory = directory_in(&snapshot, country)?;
        directory
            .check_node_key(key_id, purpose, at)
            .map_err(|e| name_owner(&snapshot, e))
    }

    /// A [`KeyResolver`] that finds only the keys of `unit` of `country` valid for `purpose` at `at`.
    pub fn unit_resolver(
        &self,
        country: CountryCode,
        unit: UnitId,
        purpose: Purpose,
        at: SystemTime,
    ) -> StoreKeyResolver {
        StoreKeyResolver {
            entries: self.snapshot(),
            country,
            unit: Some(unit),
            purpose,
            at,
            refusals: Mutex::new(Vec::new()),
        }
    }

    /// A [`KeyResolver`] that finds only the node keys of `country` valid for `purpose` at `at`.
    pub fn node_resolver(
        &self,
        country: CountryCode,
        purpose: Purpose,
        at: SystemTime,
    ) -> StoreKeyResolver {
        StoreKeyResolver {
            entries: self.snapshot(),
            country,
            unit: None,
            purpose,
            at,
            refusals: Mutex::new(Vec::new()),
        }
    }

    /// The partner a node certificate `chain` (end entity first, then any intermediates) speaks for
    /// now, by the store's clock; see [`tls::peer_country`].
    pub fn peer_country(&self, chain: &[CertificateDer<'_>]) -> Result<CountryCode, PeerError> {
        tls::peer_country(self, chain, self.clock.now())
    }

    pub(crate) fn snapshot(&self) -> Arc<Entries> {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn swap(&self, next: Entries) {
        *self.entries.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
    }

    fn lock_writer(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn verify_offered(
        &self,
        envelope: &Envelope,
        root: &PublicKey,
        country: CountryCode,
        held: Option<&VerifiedDirectory>,
    ) -> Result<VerifiedDirectory, StoreError> {
        let verified = verify_directory(envelope, root, country)?;
        check_update(&verified, held, self.clock.now())?;
        Ok(verified)
    }

    fn persist_directory(
        &self,
        country: CountryCode,
        directory: &VerifiedDirectory,
    ) -> Result<(), StoreError> {
        let path = self.root.join(country.as_str()).join(DIRECTORY_FILE);
        write_atomically(&path, &directory.envelope().encode_to_vec(), 0o644).map_err(io(&path))
    }
}

impl Partners for TrustStore {
    fn partner_directory(&self, country: CountryCode) -> Result<Arc<VerifiedDirectory>, PeerError> {
        let entry = self
            .entry(country)
            .ok_or(PeerError::UnknownCountry(country))?;
        entry
            .directory()
            .cloned()
            .ok_or(PeerError::NoDirectory(country))
    }
}

/// Resolves keys through the trust store for one holder, purpose and time. Keys it refuses are
/// remembered with the rule they broke, so a caller whose verification found no known signer can say
/// why.
#[derive(Debug)]
pub struct StoreKeyResolver {
    entries: Arc<Entries>,
    country: CountryCode,
    unit: Option<UnitId>,
    purpose: Purpose,
    at: SystemTime,
    refusals: Mutex<Vec<KeyRuleError>>,
}

impl StoreKeyResolver {
    /// The rules broken by the keys refused so far.
    pub fn refusals(&self) -> Vec<KeyRuleError> {
        self.refusals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl KeyResolver for StoreKeyResolver {
    fn resolve(&self, key_id: &KeyId) -> Option<PublicKey> {
        let result = directory_in(&self.entries, self.country).and_then(|d| match &self.unit {
            Some(unit) => d.check_unit_key(unit, key_id, self.purpose, self.at),
            None => d.check_node_key(key_id, self.purpose, self.at),
        });
        match result {
            Ok(key) => Some(key),
            Err(e) => {
                self.refusals
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(name_owner(&self.entries, e));
                None
            }
        }
    }
}

fn directory_in(
    entries: &Entries,
    country: CountryCode,
) -> Result<&VerifiedDirectory, KeyRuleError> {
    entries
        .get(&country)
        .ok_or(KeyRuleError::UnknownCountry(country))?
        .directory
        .as_deref()
        .ok_or(KeyRuleError::NoDirectory(country))
}

/// Fills in who a foreign key belongs to, so "unit key used for the wrong country" says whose it is.
fn name_owner(entries: &Entries, error: KeyRuleError) -> KeyRuleError {
    match error {
        KeyRuleError::NotHolderKey {
            holder,
            key_id,
            owner: None,
        } => KeyRuleError::NotHolderKey {
            holder,
            owner: entries
                .values()
                .filter_map(|e| e.directory.as_ref()?.owner_of(&key_id))
                .next(),
            key_id,
        },
        other => other,
    }
}

fn load_entry(folder: &Path, country: CountryCode) -> Result<CountryEntry, StoreError> {
    let pinned_root = keyfile::read_public_key(&folder.join(ROOT_FILE))?;
    let path = folder.join(DIRECTORY_FILE);
    let directory = match fs::read(&path) {
        Ok(bytes) => {
            let envelope = Envelope::decode(bytes.as_slice()).map_err(|e| StoreError::Corrupt {
                path: path.clone(),
                reason: format!("not an envelope: {e}"),
            })?;
            // Freshness was checked when it was accepted; an expired directory still tells which
            // keys were valid when.
            let verified = verify_directory(&envelope, &pinned_root, country).map_err(|e| {
                StoreError::Corrupt {
                    path: path.clone(),
                    reason: e.to_string(),
                }
            })?;
            Some(Arc::new(verified))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => return Err(StoreError::Io { path, source }),
    };
    Ok(CountryEntry {
        country,
        pinned_root,
        directory,
    })
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}
