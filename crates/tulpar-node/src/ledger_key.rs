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
        Self {
            country: config.country,
            key: config.keys.ledger_key.clone(),
            staged: keyfile::staged_key_path(&config.keys.ledger_key),
            own_directory: config.trust.own_directory.clone(),
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
