//! Bytes cut from the segments are kept, not deleted: in `<dir>/damaged/`, one file per cut, named
//! after the segment and the offset they were cut at.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::LedgerError;
use crate::segment;

/// The folder, inside a ledger's directory, that keeps bytes cut from its segments.
pub const DAMAGED_DIR: &str = "damaged";

/// The file that keeps the bytes of `segment` (a segment file) from `offset` on.
pub(crate) fn kept_path(ledger_dir: &Path, segment: &Path, offset: u64) -> PathBuf {
    let stem = segment
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    ledger_dir
        .join(DAMAGED_DIR)
        .join(format!("{stem}-{offset}.bin"))
}

/// The segment a kept file was cut from and the offset it was cut at, from its name.
pub(crate) fn parse_kept_name(path: &Path) -> Option<(u64, u64)> {
    let stem = path.file_name()?.to_str()?.strip_suffix(".bin")?;
    let (segment, offset) = stem.split_once('-')?;
    let offset = offset.split('-').next()?;
    Some((segment.parse().ok()?, offset.parse().ok()?))
}

/// Writes `bytes` (what `segment` holds from `offset` on) to their file in `damaged/`, durably, before
/// anything is cut. A file of that name holding other bytes is kept too: the new one gets a number.
pub(crate) fn keep(
    ledger_dir: &Path,
    segment: &Path,
    offset: u64,
    bytes: &[u8],
) -> Result<PathBuf, LedgerError> {
    let dir = ledger_dir.join(DAMAGED_DIR);
    fs::create_dir_all(&dir).map_err(LedgerError::io(&dir))?;
    let first = kept_path(ledger_dir, segment, offset);
    let mut path = first.clone();
    for n in 2.. {
        match fs::read(&path) {
            Ok(held) if held == bytes => return Ok(path),
            Ok(_) => {
                let stem = first
                    .file_stem()
                    .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
                path = dir.join(format!("{stem}-{n}.bin"));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => return Err(LedgerError::io(&path)(e)),
        }
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(LedgerError::io(&path))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(LedgerError::io(&path))?;
    segment::sync_dir(&dir)?;
    Ok(path)
}

/// The files in `damaged/`, in name order.
pub(crate) fn kept_files(ledger_dir: &Path) -> Result<Vec<PathBuf>, LedgerError> {
    let dir = ledger_dir.join(DAMAGED_DIR);
    let read = match fs::read_dir(&dir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LedgerError::io(&dir)(e)),
    };
    let mut files = Vec::new();
    for item in read {
        let path = item.map_err(LedgerError::io(&dir))?.path();
        if parse_kept_name(&path).is_some() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Opens `path` for reading, naming it on failure.
pub(crate) fn open(path: &Path) -> Result<File, LedgerError> {
    File::open(path).map_err(LedgerError::io(path))
}
