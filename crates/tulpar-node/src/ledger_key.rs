//! The node's ledger key, and its rotation without a restart.
//!
//! `tulpar directory rotate-node-key` stages the next key beside `keys.ledger_key` (in
//! `<keys.ledger_key>.next`) and publishes a directory version naming it for receipts and
//! checkpoints from a switch time on, the old key staying valid a little past it. At start, every
//! `trust.reload_interval` and on SIGHUP, the node looks at the staged key: once its own directory
//! (`trust.own_directory`) names it valid now for both purposes, the ledger signs its next checkpoint
//! with it, and receipts and cosignatures follow, since they take the ledger's key. Then the staged
//! key replaces `keys.ledger_key`, a copy of the old one kept first in `retired/ledger-<id>.key`
//! beside it, so no step loses a key. A staged key the directory does not name (or names for other
//! purposes, or has revoked) is refused with one error in the log, and the node keeps its key.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use tulpar_core::codes::CountryCode;
use tulpar_core::keys::{PublicKey, SigningKey};
use tulpar_ledger::Ledger;
use tulpar_trust::directory::{KeyRuleError, Purpose, VerifiedDirectory, fmt_time};
use tulpar_trust::files::{write_atomically, write_new};
use tulpar_trust::keyfile;

use crate::config::Config;

/// What the staged key allows now.
pub(crate) enum Staged {
    /// No key is staged.
    None,
    /// The directory names it from a later time on.
    Waiting(SystemTime),
    /// It cannot be used: why, naming the files and the rule.
    Refused(String),
    /// The directory names it for receipts and checkpoints now.
    Ready(SigningKey),
}

/// The node's ledger key files and the directory that names its keys.
pub(crate) struct LedgerKeyFiles {
    country: CountryCode,
    key: PathBuf,
    staged: PathBuf,
    own_directory: PathBuf,
    /// The last refusal or wait logged, so each is logged once.
    reported: Mutex<Option<String>>,
}

impl LedgerKeyFiles {
    /// The files `config` names.
    pub(crate) fn new(config: &Config) -> Self {
        Self::at(
            config.country,
            &config.keys.ledger_key,
            &config.trust.own_directory,
        )
    }

    /// The ledger key in `key` of the node of `country`, whose directory is in `own_directory`.
    fn at(country: CountryCode, key: &Path, own_directory: &Path) -> Self {
        Self {
            country,
            key: key.to_owned(),
            staged: keyfile::staged_key_path(key),
            own_directory: own_directory.to_owned(),
            reported: Mutex::new(None),
        }
    }

    fn directory(&self) -> Result<VerifiedDirectory, String> {
        tulpar_audit::read_own_directory(&self.own_directory, self.country)
            .map_err(|e| format!("trust.own_directory: {}: {e}", self.own_directory.display()))
    }

    /// Reads the staged key, if any, and judges it by the own directory at `now`.
    pub(crate) fn staged(&self, now: SystemTime) -> Staged {
        if !self.staged.exists() {
            return Staged::None;
        }
        let key = match keyfile::read_private_key(&self.staged) {
            Ok(key) => key,
            Err(e) => return Staged::Refused(format!("staged ledger key: {e}")),
        };
        let directory = match self.directory() {
            Ok(directory) => directory,
            Err(e) => return Staged::Refused(e),
        };
        match check_staged(&directory, &key.public_key(), now) {
            Ok(()) => Staged::Ready(key),
            Err(KeyRuleError::NotYetValid { valid_from, .. }) => Staged::Waiting(valid_from),
            Err(rule) => Staged::Refused(format!(
                "staged ledger key {}: key {} is not a node key of the directory {} (version {}) \
                 for receipts and checkpoints: {rule}",
                self.staged.display(),
                key.key_id(),
                self.own_directory.display(),
                directory.version()
            )),
        }
    }

    /// Makes the staged key `keys.ledger_key`, keeping a copy of the old one in
    /// `retired/ledger-<id>.key` first. Done after the ledger switched; repeating it is harmless.
    pub(crate) fn install_staged(&self, new: &PublicKey) -> anyhow::Result<()> {
        let old = keyfile::read_private_key(&self.key)
            .map_err(|e| anyhow::anyhow!("keys.ledger_key: {e}"))?;
        if old.public_key() != *new {
            let retired = self.retired_path(&old);
            if let Some(folder) = retired.parent() {
                std::fs::create_dir_all(folder)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", folder.display()))?;
            }
            match write_new(&retired, old.to_pem().as_bytes(), 0o600) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => anyhow::bail!("{}: {e}", retired.display()),
            }
            let text = std::fs::read_to_string(&self.staged)
                .map_err(|e| anyhow::anyhow!("{}: {e}", self.staged.display()))?;
            write_atomically(&self.key, text.as_bytes(), 0o600)
                .map_err(|e| anyhow::anyhow!("keys.ledger_key: {}: {e}", self.key.display()))?;
        }
        std::fs::remove_file(&self.staged)
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.staged.display()))
    }

    fn retired_path(&self, old: &SigningKey) -> PathBuf {
        self.key
            .parent()
            .unwrap_or(Path::new("."))
            .join("retired")
            .join(format!("ledger-{}.key", old.key_id().short()))
    }

    /// Logs `message` unless it was the last one logged.
    fn report_once(&self, message: &str, log: impl FnOnce()) {
        let mut last = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
        if last.as_deref() != Some(message) {
            log();
            *last = Some(message.to_owned());
        }
    }

    /// At start, before the ledger opens: installs a staged key the directory names now (the ledger
    /// then records the switch as it opens). A staged key that cannot be used yet is left staged.
    pub(crate) fn take_up_at_start(&self, now: SystemTime) -> anyhow::Result<()> {
        match self.staged(now) {
            Staged::None => Ok(()),
            Staged::Waiting(at) => {
                tracing::info!(
                    switch_at = %fmt_time(at),
                    "a new ledger key is staged; the node switches to it at the time the directory names"
                );
                Ok(())
            }
            Staged::Refused(why) => {
                tracing::error!(error = %why, "staged ledger key refused; the node keeps its key");
                Ok(())
            }
            Staged::Ready(key) => {
                self.install_staged(&key.public_key())?;
                tracing::info!(key_id = %key.key_id(), "the node's ledger key is now the staged one");
                Ok(())
            }
        }
    }

    /// While running: switches `ledger` to a staged key the directory names now, then installs it.
    pub(crate) fn apply(&self, ledger: &Ledger, now: SystemTime) {
        match self.staged(now) {
            Staged::None => {}
            Staged::Waiting(at) => {
                let message = format!("waiting until {}", fmt_time(at));
                self.report_once(&message, || {
                    tracing::info!(
                        switch_at = %fmt_time(at),
                        "a new ledger key is staged; the node switches to it at the time the directory names"
                    )
                });
            }
            Staged::Refused(why) => self.report_once(&why, || {
                tracing::error!(error = %why, "staged ledger key refused; the node keeps its key")
            }),
            Staged::Ready(key) => {
                let (old, new) = (ledger.public_key(), key.public_key());
                if let Err(error) = ledger.switch_key(key) {
                    let why = format!("the ledger could not switch keys: {error}");
                    self.report_once(&why, || {
                        tracing::error!(error = %why, "staged ledger key not taken up; the node keeps its key")
                    });
                    return;
                }
                if old != new {
                    tracing::info!(
                        from = %old.key_id(),
                        to = %new.key_id(),
                        "ledger key rotated: checkpoints, receipts and cosignatures are signed with the new key"
                    );
                }
                if let Err(error) = self.install_staged(&new) {
                    let why = format!("{error:#}");
                    self.report_once(&why, || {
                        tracing::error!(
                            error = %why,
                            "the node signs with the new ledger key, but could not install it as \
                             keys.ledger_key; it tries again"
                        )
                    });
                }
            }
        }
    }
}

/// Whether `directory` names `key` as a node key for receipts and checkpoints at `now`.
fn check_staged(
    directory: &VerifiedDirectory,
    key: &PublicKey,
    now: SystemTime,
) -> Result<(), KeyRuleError> {
    for purpose in [Purpose::Receipt, Purpose::Checkpoint] {
        directory.check_node_key(&key.key_id(), purpose, now)?;
    }
    Ok(())
}

/// The node keys `directory` names for checkpoints other than `current`, whatever their window:
/// the keys earlier checkpoints of the ledger may be signed with.
pub(crate) fn earlier_checkpoint_keys(
    directory: &VerifiedDirectory,
    current: &PublicKey,
) -> Vec<PublicKey> {
    directory
        .node_keys()
        .iter()
        .filter(|k| k.purposes.contains(&Purpose::Checkpoint) && k.public_key != *current)
        .map(|k| k.public_key)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use prost::Message;
    use tulpar_trust::draft::{DEFAULT_VALIDITY, DirectoryDraft};

    use super::*;
    use crate::revocations::tests::own_directory_in;

    struct Setup {
        _dir: tempfile::TempDir,
        made: tulpar_trust::ceremony::NewCountry,
        directory: PathBuf,
        files: LedgerKeyFiles,
        now: SystemTime,
    }

    fn kz() -> CountryCode {
        CountryCode::parse("KZ").expect("country code")
    }

    fn setup() -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let (made, directory) = own_directory_in(dir.path(), now);
        let key = dir.path().join("ledger.key");
        keyfile::write_private_key(&key, &made.ledger).expect("key written");
        let files = LedgerKeyFiles::at(kz(), &key, &directory);
        Setup {
            _dir: dir,
            made,
            directory,
            files,
            now,
        }
    }

    /// Publishes the next directory version naming `new` from `switch_at`.
    fn rotate(s: &Setup, new: &PublicKey, switch_at: SystemTime) {
        let current = tulpar_audit::own_directory(&s.made.directory, kz()).expect("ok");
        let mut draft = DirectoryDraft::from_verified(&current);
        let closed = draft
            .rotate_node_key(new, switch_at, switch_at + Duration::from_secs(600))
            .expect("rotated");
        assert_eq!(closed, [s.made.ledger.key_id()]);
        let signed = draft
            .sign(&s.made.root, s.now, DEFAULT_VALIDITY)
            .expect("signed");
        std::fs::write(&s.directory, signed.encode_to_vec()).expect("written");
    }

    #[test]
    fn a_staged_key_the_directory_does_not_name_is_refused_and_changes_nothing() {
        let s = setup();
        assert!(matches!(s.files.staged(s.now), Staged::None));
        let stranger = SigningKey::generate().expect("key");
        keyfile::write_private_key(&s.files.staged, &stranger).expect("staged");
        let Staged::Refused(why) = s.files.staged(s.now) else {
            panic!("a key the directory does not name is refused");
        };
        assert!(why.contains(&stranger.key_id().to_string()), "{why}");
        assert!(why.contains("rule"), "{why}");
        assert!(why.contains("ledger.key.next"), "{why}");
        let kept = keyfile::read_private_key(&s.files.key).expect("key");
        assert_eq!(kept.public_key(), s.made.ledger.public_key());
        assert!(s.files.staged.exists());
    }

    #[test]
    fn a_staged_key_is_taken_up_from_its_switch_time_keeping_the_old_key() {
        let s = setup();
        let new = SigningKey::generate().expect("key");
        let switch_at = s.now + Duration::from_secs(60);
        rotate(&s, &new.public_key(), switch_at);
        keyfile::write_private_key(&s.files.staged, &new).expect("staged");

        assert!(matches!(s.files.staged(s.now), Staged::Waiting(at) if at == switch_at));
        let Staged::Ready(ready) = s.files.staged(switch_at) else {
            panic!("the key is ready from its switch time");
        };
        assert_eq!(ready.public_key(), new.public_key());
        s.files
            .install_staged(&new.public_key())
            .expect("installed");
        let installed = keyfile::read_private_key(&s.files.key).expect("key");
        assert_eq!(installed.public_key(), new.public_key());
        assert!(!s.files.staged.exists());
        let retired = s.files.retired_path(&s.made.ledger);
        let kept = keyfile::read_private_key(&retired).expect("old key kept");
        assert_eq!(kept.public_key(), s.made.ledger.public_key());

        let current = tulpar_audit::read_own_directory(&s.directory, kz()).expect("ok");
        assert_eq!(
            earlier_checkpoint_keys(&current, &new.public_key()),
            [s.made.ledger.public_key()]
        );
    }
}
