//! A subscription's place in the ledger, kept in `<data_dir>/webhooks/<name>.json`.
//!
//! The queue of a subscription is the ledger itself from `next_index` on, so the cursor is all that
//! must survive a restart. It is written (atomically, synced) at most once a
//! [`SAVE_INTERVAL`](super::SAVE_INTERVAL) while events flow and whenever the worker stops; after
//! a crash the events delivered since the last save are delivered again, with the same
//! `webhook-id`, which is the at-least-once the receiver is told to expect.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

/// What is kept of a subscription.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Cursor {
    /// The first ledger index not yet handled.
    pub(crate) next_index: u64,
    /// Events the receiver accepted since the subscription began.
    pub(crate) delivered: u64,
    /// When the receiver last accepted one, in milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_success_unix_ms: Option<u64>,
}

impl Cursor {
    /// When the receiver last accepted an event.
    pub(crate) fn last_success(&self) -> Option<SystemTime> {
        self.last_success_unix_ms
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
    }

    /// Notes an accepted event at `at`.
    pub(crate) fn accepted(&mut self, at: SystemTime) {
        self.delivered += 1;
        self.last_success_unix_ms = at
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    }
}

/// The cursor file of subscription `name` under `data_dir`.
pub(crate) fn path(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join("webhooks").join(format!("{name}.json"))
}

/// Reads the cursor at `path`; a subscription seen for the first time starts at `ledger_size`, so
/// it gets the events from now on, and its file is written at once.
pub(crate) fn load(path: &Path, ledger_size: u64) -> Result<Cursor> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let cursor: Cursor = serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{}: not a webhook cursor; restore it from a backup, or delete it to start \
                     the subscription from the end of the ledger",
                    path.display()
                )
            })?;
            if cursor.next_index > ledger_size {
                anyhow::bail!(
                    "{}: the subscription has handled the ledger up to {}, but the ledger has {} \
                     entries; was the ledger restored from an older backup? Delete the file to \
                     start the subscription from the end of the ledger",
                    path.display(),
                    cursor.next_index,
                    ledger_size
                );
            }
            Ok(cursor)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let cursor = Cursor {
                next_index: ledger_size,
                ..Cursor::default()
            };
            if let Some(folder) = path.parent() {
                std::fs::create_dir_all(folder)
                    .with_context(|| format!("cannot create {}", folder.display()))?;
            }
            save(path, &cursor)?;
            Ok(cursor)
        }
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Replaces the cursor at `path`, durably.
pub(crate) fn save(path: &Path, cursor: &Cursor) -> Result<()> {
    let bytes = serde_json::to_vec(cursor).context("encoding a webhook cursor")?;
    tulpar_trust::files::write_atomically(path, &bytes, 0o600)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_subscription_starts_at_the_end_and_reads_back_what_was_saved() {
        let dir = tempfile::tempdir().unwrap();
        let path = path(dir.path(), "asycuda");
        let first = load(&path, 42).unwrap();
        assert_eq!(first.next_index, 42);
        let mut later = first;
        later.next_index = 50;
        later.accepted(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123));
        save(&path, &later).unwrap();
        assert_eq!(load(&path, 60).unwrap(), later);
        assert_eq!(
            later.last_success(),
            Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123))
        );
    }

    #[test]
    fn a_cursor_beyond_the_ledger_or_unreadable_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = path(dir.path(), "asycuda");
        load(&path, 10).unwrap();
        let error = load(&path, 5).unwrap_err().to_string();
        assert!(
            error.contains("asycuda.json") && error.contains("up to 10"),
            "{error}"
        );
        std::fs::write(&path, b"{").unwrap();
        let error = format!("{:#}", load(&path, 50).unwrap_err());
        assert!(error.contains("not a webhook cursor"), "{error}");
    }
}
