//! The account store: `data_dir/accounts.json` (mode 0600), rewritten atomically and synced on every
//! change. It holds what must never reach the ledger (password hashes, TOTP secrets) and the sign-in
//! state that must survive a restart (failures in a row, locks, the last TOTP step used).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

/// Most accounts a node keeps.
pub(crate) const MAX_ACCOUNTS: usize = 10_000;

/// One person's account as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoredAccount {
    /// The person's name as shown.
    pub(crate) display_name: String,
    /// "officer", "focal-point" or "admin".
    pub(crate) role: String,
    /// The unit an officer acts for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) unit: String,
    /// The console's language.
    pub(crate) language: String,
    /// The Argon2id hash, as a PHC string.
    pub(crate) password: String,
    /// Whether a TOTP code is needed.
    pub(crate) totp_required: bool,
    /// The TOTP secret in base32 (absent until one is issued).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) totp_secret: Option<String>,
    /// The last TOTP step accepted, so a code is used once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) totp_last_step: Option<u64>,
    /// Whether the account is disabled.
    #[serde(default)]
    pub(crate) disabled: bool,
    /// Failed sign-ins in a row.
    #[serde(default)]
    pub(crate) failures: u32,
    /// Unix seconds until which sign-ins are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) locked_until: Option<u64>,
    /// Unix seconds of the last successful sign-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_sign_in: Option<u64>,
    /// Unix seconds of creation.
    pub(crate) created: u64,
}

/// The file's shape.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreFile {
    accounts: BTreeMap<String, StoredAccount>,
}

/// The accounts, as last written to `path`.
#[derive(Debug)]
pub(crate) struct Store {
    path: PathBuf,
    accounts: BTreeMap<String, StoredAccount>,
}

impl Store {
    /// Reads `path`, or starts empty when there is no such file; a file others may read is refused.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let accounts = match std::fs::read(path) {
            Ok(bytes) => {
                tulpar_trust::keyfile::check_private_permissions(path)?;
                let file: StoreFile = serde_json::from_slice(&bytes).with_context(|| {
                    format!(
                        "{}: not an account store; restore it from a backup",
                        path.display()
                    )
                })?;
                file.accounts
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", path.display()));
            }
        };
        Ok(Self {
            path: path.to_owned(),
            accounts,
        })
    }

    /// The account named `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&StoredAccount> {
        self.accounts.get(name)
    }

    /// Every account in name order.
    pub(crate) fn all(&self) -> impl Iterator<Item = (&String, &StoredAccount)> {
        self.accounts.iter()
    }

    /// How many accounts there are.
    pub(crate) fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Applies `change` to a copy of the accounts and writes it; the store changes only once written.
    pub(crate) fn write(
        &mut self,
        change: impl FnOnce(&mut BTreeMap<String, StoredAccount>),
    ) -> Result<()> {
        let mut accounts = self.accounts.clone();
        change(&mut accounts);
        let file = StoreFile { accounts };
        let bytes = serde_json::to_vec_pretty(&file).context("encoding the account store")?;
        if let Some(folder) = self.path.parent() {
            std::fs::create_dir_all(folder)
                .with_context(|| format!("cannot create {}", folder.display()))?;
        }
        tulpar_trust::files::write_atomically(&self.path, &bytes, 0o600)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        self.accounts = file.accounts;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> StoredAccount {
        StoredAccount {
            display_name: "Айгерим Сейтова".into(),
            role: "officer".into(),
            unit: "KZ-AKTAU-PCU".into(),
            language: "ru".into(),
            password: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            totp_required: false,
            totp_secret: None,
            totp_last_step: None,
            disabled: false,
            failures: 0,
            locked_until: None,
            last_sign_in: None,
            created: 1_800_000_000,
        }
    }

    #[test]
    fn what_is_written_reads_back_and_the_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.json");
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.len(), 0);
        store
            .write(|accounts| {
                accounts.insert("a.seitova".into(), account());
            })
            .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = Store::open(&path).unwrap();
        assert_eq!(again.get("a.seitova"), Some(&account()));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = Store::open(&path).unwrap_err().to_string();
        assert!(error.contains("chmod 600"), "{error}");
    }
}
