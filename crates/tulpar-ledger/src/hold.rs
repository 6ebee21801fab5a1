//! The hold a repair leaves on a ledger it had to cut below a checkpoint it had signed.
//!
//! `<dir>/hold.checkpoint` is that checkpoint, as signed. While the ledger is smaller than it, or
//! holds other entries, the ledger appends nothing: every append signs a checkpoint, and one of a size
//! up to the held one over other entries would be a fork of the history partners may hold (cosigned,
//! or quoted in receipts). Opening removes the file once the ledger has regrown to the held checkpoint
//! with the same root.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use tulpar_core::keys::PublicKey;

use crate::error::LedgerError;
use crate::keys::verify_any;
use crate::note::SignedCheckpoint;
use crate::segment;

/// The name of the hold file in a ledger's directory.
pub const HOLD_FILE: &str = "hold.checkpoint";

/// The held checkpoint of the ledger in `dir`, if any, its signature by one of `keys` (and
/// `origin`, when given) checked.
pub(crate) fn read(
    dir: &Path,
    origin: Option<&str>,
    keys: &[PublicKey],
) -> Result<Option<SignedCheckpoint>, LedgerError> {
    let path = dir.join(HOLD_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LedgerError::io(&path)(e)),
    };
    verify_any(&text, origin, keys)
        .map(Some)
        .map_err(|source| LedgerError::Checkpoint {
            context: path.display().to_string(),
            source,
        })
}

/// The file `tulpar restore` (and a repair that gives entries up) leaves in a ledger's directory:
/// the checkpoint the ledger was restored to, as signed. Partners' witnesses may hold a later
/// checkpoint, whose entries past this one the ledger lost; the node then declares the restore to
/// them ([`crate::RestoreStatement`]) rather than presenting checkpoints they would have to refuse as
/// a fork.
pub const RESTORED_FILE: &str = "restored.checkpoint";

/// Holds the ledger in `dir` until it has regrown to `checkpoint`, durably.
pub(crate) fn write(dir: &Path, checkpoint: &SignedCheckpoint) -> Result<(), LedgerError> {
    write_named(dir, HOLD_FILE, checkpoint)
}

/// Marks the ledger in `dir` as restored to `checkpoint` ([`RESTORED_FILE`]), durably.
pub fn mark_restored(dir: &Path, checkpoint: &SignedCheckpoint) -> Result<(), LedgerError> {
    write_named(dir, RESTORED_FILE, checkpoint)
}

/// Writes `checkpoint` to `dir/name` atomically and durably.
fn write_named(dir: &Path, name: &str, checkpoint: &SignedCheckpoint) -> Result<(), LedgerError> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = File::create(&tmp).map_err(LedgerError::io(&tmp))?;
    file.write_all(checkpoint.note().as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(LedgerError::io(&tmp))?;
    fs::rename(&tmp, &path).map_err(LedgerError::io(&path))?;
    segment::sync_dir(dir)
}

/// Lifts the hold of the ledger in `dir`, durably.
pub(crate) fn remove(dir: &Path) -> Result<(), LedgerError> {
    let path = dir.join(HOLD_FILE);
    match fs::remove_file(&path) {
        Ok(()) => segment::sync_dir(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LedgerError::io(&path)(e)),
    }
}
