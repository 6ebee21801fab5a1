//! The ledger's error type.

use std::path::{Path, PathBuf};

use crate::note::NoteError;

/// What went wrong in the ledger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The embedded index store failed.
    #[error("ledger index ({what}): {source}")]
    Index {
        /// What the index was doing.
        what: String,
        /// sled's error.
        source: sled::Error,
    },
    /// A segment is damaged before its tail: data that was once durable is gone or altered.
    #[error("segment {path} at byte offset {offset}{}: {reason}", index.map(|i| format!(" (entry {i})")).unwrap_or_default())]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the damaged frame.
        offset: u64,
        /// The first entry affected, when known.
        index: Option<u64>,
        /// What is wrong.
        reason: String,
    },
    /// An entry is too large to append.
    #[error("ledger entry encodes to {size} bytes, the limit is {max} bytes")]
    EntryTooLarge {
        /// Its encoded size.
        size: usize,
        /// [`crate::MAX_ENTRY_BYTES`].
        max: usize,
    },
    /// Too many entries in one [`crate::Ledger::append_all`].
    #[error("{count} entries in one append, the limit is {max}")]
    TooManyEntries {
        /// Entries given.
        count: usize,
        /// [`crate::MAX_APPEND_ENTRIES`].
        max: usize,
    },
    /// An index is not in the ledger.
    #[error("entry {index} is not in the ledger (size {size})")]
    NotFound {
        /// The index asked for.
        index: u64,
        /// The ledger size.
        size: u64,
    },
    /// A tree size or index range does not fit the ledger.
    #[error("{0}")]
    BadRange(String),
    /// A checkpoint note is malformed or its signature does not verify.
    #[error("{context}: {source}")]
    Checkpoint {
        /// Where the note came from.
        context: String,
        /// What is wrong with it.
        source: NoteError,
    },
    /// The key in `ledger.pub` is neither the signing key's public half nor one of the earlier
    /// keys the ledger was opened with.
    #[error(
        "{path}: holds key {found}, but the ledger was opened with key {given}, and {found} is not \
         among the node's earlier keys its directory names: a ledger changes keys only to a key \
         the directory names beside the old one (tulpar directory rotate-node-key)"
    )]
    KeyMismatch {
        /// The public key file.
        path: PathBuf,
        /// Key id in the file.
        found: String,
        /// Key id of the signing key given.
        given: String,
    },
    /// A key file could not be parsed.
    #[error("{path}: {reason}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An entry stored in the ledger does not decode as a `LedgerEntry`.
    #[error("entry {index} does not decode as a LedgerEntry: {reason}")]
    Decode {
        /// The entry.
        index: u64,
        /// prost's message.
        reason: String,
    },
    /// A view failed to apply an entry.
    #[error("view {view:?} failed at entry {index}: {reason}")]
    View {
        /// The view name.
        view: String,
        /// The entry it was applying.
        index: u64,
        /// What went wrong.
        reason: String,
    },
    /// The derived index disagrees with the segments.
    #[error("ledger index inconsistent with the segments: {0}")]
    Inconsistent(String),
    /// An earlier commit failed; the ledger refuses appends until it is reopened.
    #[error("the ledger stopped accepting appends after an earlier failure: {0}")]
    Stopped(String),
    /// The segments could not be written or synced (e.g. the disk is full). Nothing of the append
    /// was kept; the ledger stays open and a later append is tried again.
    #[error("the ledger cannot write to its storage ({0}); nothing was recorded, retry later")]
    Unwritable(String),
    /// The commit of this append failed.
    #[error("append failed: {0}")]
    Commit(String),
    /// A repair left the ledger smaller than a checkpoint it had already signed (kept in
    /// `hold.checkpoint`): it signs no new checkpoint, so appends nothing, until the entries up to that
    /// size are restored, since another history of those sizes would be a fork partners can prove.
    #[error(
        "the ledger holds {size} entries but signed a checkpoint of size {published} before a \
         repair; it records nothing until entries {size}..{published} are restored \
         (tulpar ledger repair --from BACKUP)"
    )]
    Held {
        /// Entries the ledger holds.
        size: u64,
        /// The size of the checkpoint it signed before.
        published: u64,
    },
    /// The ledger's index is locked by another process: a node is running on the ledger.
    #[error("{0}: in use by a running node; stop the node first")]
    InUse(PathBuf),
    /// The ledger is shutting down.
    #[error("the ledger is closed")]
    Closed,
}

impl LedgerError {
    /// A closure that wraps an I/O error with `path`.
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LedgerError + '_ {
        move |source| LedgerError::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// A closure that wraps a sled error with what was being done.
    pub(crate) fn index(what: &str) -> impl FnOnce(sled::Error) -> LedgerError + '_ {
        move |source| LedgerError::Index {
            what: what.to_owned(),
            source,
        }
    }
}
