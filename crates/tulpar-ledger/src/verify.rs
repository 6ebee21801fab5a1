//! The offline verifier: re-reads every segment and recomputes every hash.
//!
//! It reads only the segment files and the key files (`ledger.pub`, `ledger.earlier.pub`), never sled, and takes no lock, so it can run
//! against the directory of a node that is appending. A frame being written while the verifier reads
//! looks like a torn tail: it is reported as ignored, not as damage.

use std::fs;
use std::path::{Path, PathBuf};

use tulpar_core::keys::PublicKey;

use crate::keys::{read_dir_keys, verify_any};
use crate::merkle::{Frontier, Hash, leaf_hash};
use crate::note::SignedCheckpoint;
use crate::recover::defect_index;
use crate::segment::{self, HEADER_LEN};

/// How far a verification has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyProgress {
    /// Segment bytes checked so far.
    pub bytes_done: u64,
    /// Segment bytes in total (as listed when verification began).
    pub bytes_total: u64,
    /// Entries checked so far.
    pub entries: u64,
}

/// A ledger that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Number of entries.
    pub size: u64,
    /// Recomputed root hash.
    pub root: Hash,
    /// The latest checkpoint; its signature and root were checked, like every earlier one.
    pub checkpoint: Option<SignedCheckpoint>,
    /// Number of segments read.
    pub segments: usize,
    /// Bytes at the end of the last segment that do not form a complete frame (a frame being
    /// written, or a torn tail the node will cut when it next opens).
    pub tail_ignored: u64,
}

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {reason}",
    index.map(|i| format!("entry {i}")).unwrap_or_else(|| "ledger".to_owned()),
    segment.as_ref().map(|s| format!(" (segment {}, offset {})", s.display(), offset.unwrap_or(0))).unwrap_or_default())]
pub struct VerifyError {
    /// The first bad entry index, when the problem is in or about an entry.
    pub index: Option<u64>,
    /// The segment file.
    pub segment: Option<PathBuf>,
    /// Byte offset in the segment.
    pub offset: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

fn fail(index: Option<u64>, segment: &Path, offset: usize, reason: String) -> VerifyError {
    VerifyError {
        index,
        segment: Some(segment.to_owned()),
        offset: Some(offset as u64),
        reason,
    }
}

/// Reads the public key from `dir/ledger.pub`.
pub fn read_public_key(path: &Path) -> Result<PublicKey, VerifyError> {
    let text = fs::read_to_string(path).map_err(|e| VerifyError {
        index: None,
        segment: None,
        offset: None,
        reason: format!("{}: {e}", path.display()),
    })?;
    PublicKey::from_pem(&text).map_err(|e| VerifyError {
        index: None,
        segment: None,
        offset: None,
        reason: format!("{}: {e}", path.display()),
    })
}

/// Verifies the ledger in `dir`: every record checksum, every leaf and node hash, and every batch
/// checkpoint's root and signature under one of `keys` (default: the keys the directory names,
/// [`crate::read_dir_keys`]: `ledger.pub` and the keys of checkpoints signed before the key
/// changed). `progress` is called after each frame.
pub fn verify_dir(
    dir: &Path,
    keys: Option<&[PublicKey]>,
    progress: impl FnMut(&VerifyProgress),
) -> Result<VerifyReport, VerifyError> {
    verify_dir_entries(dir, keys, progress, |_, _| Ok(()))
}

/// [`verify_dir`], also handing every entry's stored bytes to `check` (with its index) once the batch
/// holding it has verified; the first error `check` returns fails the verification at that entry.
/// This is where checks that need more than the ledger (entry signatures against a trust store) go.
pub fn verify_dir_entries(
    dir: &Path,
    keys: Option<&[PublicKey]>,
    mut progress: impl FnMut(&VerifyProgress),
    mut check: impl FnMut(u64, &[u8]) -> Result<(), String>,
) -> Result<VerifyReport, VerifyError> {
    let keys = match keys {
        Some(keys) => keys.to_vec(),
        None => read_dir_keys(dir).map_err(|e| VerifyError {
            index: None,
            segment: None,
            offset: None,
            reason: e.to_string(),
        })?,
    };
    let seg_dir = dir.join("segments");
    let segments = segment::list(&seg_dir).map_err(|e| VerifyError {
        index: None,
        segment: None,
        offset: None,
        reason: e.to_string(),
    })?;
    let bytes_total = segments
        .iter()
        .map(|s| fs::metadata(&s.path).map(|m| m.len()).unwrap_or(0))
        .sum();
    let mut state = VerifyProgress {
        bytes_done: 0,
        bytes_total,
        entries: 0,
    };
    let mut frontier = Frontier::default();
    let mut origin: Option<String> = None;
    let mut checkpoint = None;
    let mut tail_ignored = 0;
    for (n, seg) in segments.iter().enumerate() {
        let is_last = n + 1 == segments.len();
        let expected = frontier.size();
        let buf = fs::read(&seg.path).map_err(|e| fail(None, &seg.path, 0, e.to_string()))?;
        if is_last && buf.len() < HEADER_LEN {
            tail_ignored = buf.len() as u64;
            break;
        }
        let first = segment::decode_header(&buf).map_err(|why| fail(None, &seg.path, 0, why))?;
        if first != seg.first_index || first != expected {
            return Err(fail(
                Some(expected),
                &seg.path,
                0,
                format!(
                    "segment starts at index {first} (file name {}), but the previous segments \
                     end at {expected}",
                    seg.first_index
                ),
            ));
        }
        let scan = segment::scan(&buf, first);
        for (offset, frame) in &scan.frames {
            for record in &frame.records {
                frontier.push(leaf_hash(record), |_, _, _| {});
            }
            let end = frame.end_index();
            let cp = verify_any(frame.note, origin.as_deref(), &keys).map_err(|e| {
                fail(
                    Some(frame.first_index),
                    &seg.path,
                    *offset,
                    format!("checkpoint of the batch {}..{end}: {e}", frame.first_index),
                )
            })?;
            if cp.size() != end {
                return Err(fail(
                    Some(frame.first_index),
                    &seg.path,
                    *offset,
                    format!(
                        "checkpoint of the batch {}..{end} is for size {}",
                        frame.first_index,
                        cp.size()
                    ),
                ));
            }
            if cp.root() != &frontier.root() {
                return Err(fail(
                    Some(frame.first_index),
                    &seg.path,
                    *offset,
                    format!(
                        "recomputed root of size {end} does not match the signed checkpoint: \
                         an entry in {}..{end} was altered",
                        frame.first_index
                    ),
                ));
            }
            for (k, record) in frame.records.iter().enumerate() {
                let index = frame.first_index + k as u64;
                check(index, record)
                    .map_err(|reason| fail(Some(index), &seg.path, *offset, reason))?;
            }
            origin.get_or_insert_with(|| cp.origin().to_owned());
            checkpoint = Some(cp);
            let done_in_segment = (offset + frame.len) as u64;
            state.entries = end;
            progress(&VerifyProgress {
                bytes_done: state.bytes_done + done_in_segment,
                ..state
            });
        }
        if let Some((offset, defect)) = scan.defect {
            let expected = frontier.size();
            let torn = is_last && segment::valid_frame_after(&buf, offset + 1).is_none();
            if !torn {
                return Err(fail(
                    Some(defect_index(expected, &defect)),
                    &seg.path,
                    offset,
                    defect.to_string(),
                ));
            }
            tail_ignored = (buf.len() - offset) as u64;
        }
        state.bytes_done += buf.len() as u64;
        progress(&state);
    }
    Ok(VerifyReport {
        size: frontier.size(),
        root: frontier.root(),
        checkpoint,
        segments: segments.len(),
        tail_ignored,
    })
}
