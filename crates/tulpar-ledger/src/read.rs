//! Reading a frame back where the index located it.
//!
//! A frame that checks (magic, checksum, the index's first entry and count) is read as written. One
//! that does not is damaged: its records are found by their length fields alone and each one is kept
//! only if its leaf hash is the one the Merkle tree holds, so an entry is never handed out with bytes
//! other than those the signed checkpoints cover.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::damage::Damage;
use crate::error::LedgerError;
use crate::index::FrameLoc;
use crate::ledger::Shared;
use crate::merkle::leaf_hash;
use crate::segment;

/// One frame as read back.
pub(crate) struct ReadFrame<'b> {
    first_index: u64,
    /// Per record, its bytes, or `None` where they no longer match the Merkle tree.
    records: Vec<Option<&'b [u8]>>,
    /// The batch's checkpoint note, when it could be found; on a damaged frame its signature is
    /// what tells whether it is intact.
    note: Option<&'b str>,
    /// Set when the frame does not check.
    pub(crate) damage: Option<Damage>,
}

impl<'b> ReadFrame<'b> {
    /// The stored bytes of entry `index`, which the frame holds.
    pub(crate) fn record(&self, index: u64) -> Result<&'b [u8], LedgerError> {
        let at = index.checked_sub(self.first_index).map(|k| k as usize);
        match at.and_then(|k| self.records.get(k)) {
            Some(Some(record)) => Ok(record),
            Some(None) => Err(self.corrupt(Some(index))),
            None => Err(LedgerError::Inconsistent(format!(
                "entry {index} is not in the frame of entries {}..{}",
                self.first_index,
                self.first_index + self.records.len() as u64
            ))),
        }
    }

    /// The indexes of the frame's entries with their stored bytes (or the error naming a damaged one).
    pub(crate) fn records(
        &self,
    ) -> impl Iterator<Item = (u64, Result<&'b [u8], LedgerError>)> + '_ {
        (self.first_index..)
            .zip(&self.records)
            .map(|(index, record)| (index, record.ok_or_else(|| self.corrupt(Some(index)))))
    }

    /// The batch's checkpoint note as stored.
    pub(crate) fn note(&self) -> Result<&'b str, LedgerError> {
        self.note.ok_or_else(|| self.corrupt(None))
    }

    /// The error for a read of what the damage took; `index` names the entry asked for.
    pub(crate) fn corrupt(&self, index: Option<u64>) -> LedgerError {
        match &self.damage {
            Some(damage) => LedgerError::Corrupt {
                path: damage.segment.clone(),
                offset: damage.offset,
                index: index.or(Some(damage.first_index())),
                reason: damage.reason.clone(),
            },
            None => LedgerError::Inconsistent(format!(
                "the intact frame of entry {} lacks what was asked",
                self.first_index
            )),
        }
    }
}

/// Reads the frame at `loc` from `file` (the segment at `path`) into `buf`.
pub(crate) fn frame_from<'b>(
    shared: &Shared,
    file: &File,
    path: &Path,
    loc: &FrameLoc,
    buf: &'b mut Vec<u8>,
) -> Result<ReadFrame<'b>, LedgerError> {
    buf.clear();
    buf.resize(loc.len as usize, 0);
    let reason = match file.read_exact_at(buf, loc.offset) {
        Ok(()) => match segment::parse_frame(buf, 0) {
            Ok(frame) => {
                if frame.first_index != loc.first_index || frame.records.len() != loc.count as usize
                {
                    return Err(LedgerError::Inconsistent(format!(
                        "frame at offset {} of segment {} is not the one indexed for entry {}",
                        loc.offset,
                        path.display(),
                        loc.first_index
                    )));
                }
                let records = frame.records.into_iter().map(Some).collect();
                return Ok(ReadFrame {
                    first_index: loc.first_index,
                    records,
                    note: Some(frame.note),
                    damage: None,
                });
            }
            Err(defect) => defect.to_string(),
        },
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            // What the file still holds is checked record by record like any damaged frame.
            let len = file.metadata().map_err(LedgerError::io(path))?.len();
            let held = len.saturating_sub(loc.offset).min(u64::from(loc.len)) as usize;
            buf.truncate(held);
            if held > 0 {
                file.read_exact_at(buf, loc.offset)
                    .map_err(LedgerError::io(path))?;
            }
            format!("the segment ends at byte {len}, inside the frame")
        }
        Err(e) => return Err(LedgerError::io(path)(e)),
    };
    let buf: &'b [u8] = buf;
    let spans = segment::record_spans(buf, loc.count);
    let mut records = Vec::with_capacity(spans.records.len());
    let mut lost: Option<(u64, u64)> = None;
    for (index, span) in (loc.first_index..).zip(spans.records) {
        let record = match span.map(|range| &buf[range]) {
            Some(bytes) if leaf_hash(bytes) == shared.index.node(0, index)? => Some(bytes),
            _ => None,
        };
        if record.is_none() {
            lost = Some(lost.map_or((index, index + 1), |(first, _)| (first, index + 1)));
        }
        records.push(record);
    }
    let note = spans
        .note
        .and_then(|range| std::str::from_utf8(&buf[range]).ok());
    let entries = lost.map_or(loc.first_index..loc.first_index, |(first, last)| {
        first..last
    });
    let reason = match lost {
        Some(_) => reason,
        None => format!("{reason}; every entry still matches its leaf hash"),
    };
    Ok(ReadFrame {
        first_index: loc.first_index,
        records,
        note,
        damage: Some(Damage {
            segment: path.to_owned(),
            offset: loc.offset,
            entries,
            reason,
            found_at: std::time::SystemTime::now(),
        }),
    })
}
