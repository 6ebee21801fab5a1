//! Opening: find the end of the segments (cutting a torn tail), then bring sled up to it.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use prost::Message;
use tulpar_proto::v1::LedgerEntry;

use crate::aside;
use crate::error::LedgerError;
use crate::index::{FrameLoc, Index};
use crate::merkle::leaf_hash;
use crate::segment::{self, Defect, HEADER_LEN, SegmentFile, Writer};

/// A damaged tail cut off while opening: the frames after the last intact one, none of which was
/// ever acknowledged to an appender (an append is answered only after its frame is synced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailTruncation {
    /// The segment that was cut.
    pub segment: PathBuf,
    /// The byte offset it was cut at.
    pub offset: u64,
    /// How many bytes were removed.
    pub bytes: u64,
    /// What was wrong with the first removed frame.
    pub reason: String,
    /// Where the removed bytes are kept (in the ledger's `damaged/` folder).
    pub kept: PathBuf,
}

/// The end of the segments after recovery.
pub(crate) struct Recovered {
    /// The segments, in order.
    pub(crate) segments: Vec<SegmentFile>,
    /// Number of entries.
    pub(crate) size: u64,
    /// The checkpoint note of the last frame, if any.
    pub(crate) last_note: Option<String>,
    /// The writer positioned after the last frame.
    pub(crate) writer: Writer,
    /// The tail that was cut, if any.
    pub(crate) truncated: Option<TailTruncation>,
}

fn corrupt(path: &Path, offset: usize, index: Option<u64>, reason: String) -> LedgerError {
    LedgerError::Corrupt {
        path: path.to_owned(),
        offset: offset as u64,
        index,
        reason,
    }
}

/// The index named by a defect in the frame that should start at `expected`.
pub(crate) fn defect_index(expected: u64, defect: &Defect) -> u64 {
    match defect {
        Defect::BadChecksum { record: Some(k) } => expected + u64::from(*k),
        _ => expected,
    }
}

/// Reads a whole segment and checks its header against its name.
pub(crate) fn read_segment(seg: &SegmentFile) -> Result<Vec<u8>, LedgerError> {
    let buf = fs::read(&seg.path).map_err(LedgerError::io(&seg.path))?;
    check_header(&buf, &seg.path, seg.first_index)?;
    Ok(buf)
}

/// Checks the header of the segment `path`, whose name says it starts at `first_index`.
fn check_header(buf: &[u8], path: &Path, first_index: u64) -> Result<(), LedgerError> {
    let first = segment::decode_header(buf).map_err(|why| corrupt(path, 0, None, why))?;
    if first != first_index {
        return Err(corrupt(
            path,
            0,
            None,
            format!("header says first index {first}, file name says {first_index}"),
        ));
    }
    Ok(())
}

/// Where the intact frames of a ledger's last segment end, as opening finds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentEnd {
    /// One past the index of the segment's last intact entry.
    pub size: u64,
    /// The byte offset the intact frames end at: where appends resume and a torn tail is cut.
    pub end: u64,
    /// The checkpoint note of the last intact frame, when the segment holds one.
    pub last_note: Option<String>,
    /// What is wrong with the bytes after `end`, when there are any: a torn tail, to be cut.
    pub torn: Option<String>,
    /// The first entry the bytes after `end` would have held, when there are any.
    pub torn_entry: Option<u64>,
}

/// Reads `buf`, the bytes of a ledger's last segment `path` (whose name says it starts at entry
/// `first_index`), as opening does: the header, then the frames up to the first defect. A defect
/// with a valid frame after it is damage, refused naming the offset and entry; one with nothing
/// valid after it is a torn tail, reported for the caller to cut.
///
/// It touches no file, so the bytes a disk hands back after a crash, or someone else's copy of a
/// ledger, can be fed to it directly (the fuzz target `segment` does).
pub fn read_last_segment(
    buf: &[u8],
    path: &Path,
    first_index: u64,
) -> Result<SegmentEnd, LedgerError> {
    check_header(buf, path, first_index)?;
    let scan = segment::scan(buf, first_index);
    let size = scan
        .frames
        .last()
        .map_or(first_index, |(_, f)| f.end_index());
    let last_note = scan.frames.last().map(|(_, f)| f.note.to_owned());
    let torn_entry = scan
        .defect
        .as_ref()
        .map(|(_, defect)| defect_index(size, defect));
    let torn = match &scan.defect {
        None => None,
        Some((offset, defect)) => {
            if let Some(next) = segment::valid_frame_after(buf, offset + 1) {
                return Err(corrupt(
                    path,
                    *offset,
                    Some(defect_index(size, defect)),
                    format!("{defect}, but a valid frame follows at offset {next}"),
                ));
            }
            Some(defect.to_string())
        }
    };
    Ok(SegmentEnd {
        size,
        end: scan.end as u64,
        last_note,
        torn,
        torn_entry,
    })
}

/// Finds the end of the segments in `dir` (a ledger's `segments/`), cutting a torn tail of the last
/// one; what is cut is kept in the ledger's `damaged/` folder first. `durable` is how many entries the
/// index had recorded: their frames were synced before it did, so a bad one among them is damage, not
/// an interrupted write, and is refused like damage before the tail.
pub(crate) fn recover(dir: &Path, durable: u64) -> Result<Recovered, LedgerError> {
    let ledger_dir = dir.parent().unwrap_or(dir);
    let segments = segment::list(dir)?;
    let Some(last) = segments.last().cloned() else {
        let writer = Writer::create(dir, 0)?;
        return Ok(Recovered {
            segments: vec![SegmentFile {
                first_index: 0,
                path: segment::segment_path(dir, 0),
            }],
            size: 0,
            last_note: None,
            writer,
            truncated: None,
        });
    };
    let raw = fs::read(&last.path).map_err(LedgerError::io(&last.path))?;
    if raw.len() < HEADER_LEN && last.first_index < durable {
        return Err(corrupt(
            &last.path,
            0,
            Some(last.first_index),
            format!(
                "the segment is {} bytes, shorter than its header, but the index had recorded \
                 entries up to {durable} in it",
                raw.len()
            ),
        ));
    }
    if raw.len() < HEADER_LEN {
        // The segment was being created when the node stopped; nothing in it was acknowledged.
        let truncated = match raw.is_empty() {
            true => None,
            false => Some(TailTruncation {
                segment: last.path.clone(),
                offset: 0,
                bytes: raw.len() as u64,
                reason: "segment header incomplete".to_owned(),
                kept: aside::keep(ledger_dir, &last.path, 0, &raw)?,
            }),
        };
        let writer = Writer::create(dir, last.first_index)?;
        let last_note = previous_note(&segments)?;
        return Ok(Recovered {
            segments,
            size: last.first_index,
            last_note,
            writer,
            truncated,
        });
    }
    let found = read_last_segment(&raw, &last.path, last.first_index)?;
    let mut truncated = None;
    if let Some(reason) = found.torn {
        if found.size < durable {
            return Err(corrupt(
                &last.path,
                found.end as usize,
                found.torn_entry,
                format!(
                    "{reason}, but the index had recorded entries up to {durable}: the frame was \
                     written whole and synced, so it is damaged, not torn"
                ),
            ));
        }
        let kept = aside::keep(
            ledger_dir,
            &last.path,
            found.end,
            &raw[found.end as usize..],
        )?;
        let file = OpenOptions::new()
            .write(true)
            .open(&last.path)
            .map_err(LedgerError::io(&last.path))?;
        file.set_len(found.end)
            .and_then(|()| file.sync_all())
            .map_err(LedgerError::io(&last.path))?;
        let cut = TailTruncation {
            segment: last.path.clone(),
            offset: found.end,
            bytes: raw.len() as u64 - found.end,
            reason,
            kept,
        };
        tracing::warn!(
            segment = %cut.segment.display(),
            offset = cut.offset,
            bytes = cut.bytes,
            reason = %cut.reason,
            kept = %cut.kept.display(),
            "cut a torn tail off the ledger"
        );
        truncated = Some(cut);
    }
    let size = found.size;
    let writer = Writer::resume(dir, &last, found.end)?;
    let last_note = match found.last_note {
        Some(note) => Some(note),
        None => previous_note(&segments)?,
    };
    Ok(Recovered {
        segments,
        size,
        last_note,
        writer,
        truncated,
    })
}

/// The last checkpoint note of the segment before the last one (when the last holds no frame yet).
fn previous_note(segments: &[SegmentFile]) -> Result<Option<String>, LedgerError> {
    let Some(prev) = segments.len().checked_sub(2).map(|i| &segments[i]) else {
        return Ok(None);
    };
    let buf = read_segment(prev)?;
    let scan = segment::scan(&buf, prev.first_index);
    if let Some((offset, defect)) = scan.defect {
        return Err(corrupt(&prev.path, offset, None, defect.to_string()));
    }
    Ok(scan.frames.last().map(|(_, f)| f.note.to_owned()))
}

/// Replays entries the index has not applied, from the segments. Returns how many were replayed.
pub(crate) fn catch_up(
    index: &Index,
    segments: &[SegmentFile],
    size: u64,
) -> Result<u64, LedgerError> {
    let merkle_from = index.merkle_applied()?;
    let frames_from = index.frames_applied()?;
    let alerts_from = index.alerts_applied()?;
    let views_from = (0..index.view_count())
        .map(|i| index.view_applied(i))
        .collect::<Result<Vec<_>, _>>()?;
    let decode_from = views_from.iter().copied().fold(alerts_from, u64::min);
    let from = merkle_from.min(frames_from).min(decode_from);
    if from >= size {
        return Ok(0);
    }
    let mut frontier = index.frontier(merkle_from.min(size))?;
    let start = segments
        .iter()
        .rposition(|s| s.first_index <= from)
        .unwrap_or(0);
    for seg in &segments[start..] {
        let buf = read_segment(seg)?;
        let scan = segment::scan(&buf, seg.first_index);
        for (offset, frame) in &scan.frames {
            let end = frame.end_index();
            if end <= from {
                continue;
            }
            let mut nodes = Vec::new();
            let mut decoded = Vec::new();
            for (k, record) in frame.records.iter().enumerate() {
                let i = frame.first_index + k as u64;
                if i >= frontier.size() && i < size {
                    frontier.push(leaf_hash(record), |l, n, h| nodes.push((l, n, *h)));
                }
                if i >= decode_from {
                    let entry = LedgerEntry::decode(*record).map_err(|e| LedgerError::Decode {
                        index: i,
                        reason: e.to_string(),
                    })?;
                    decoded.push((i, entry));
                }
            }
            if end > merkle_from {
                index.write_merkle(&nodes, frontier.size())?;
            }
            if end > frames_from {
                index.write_frame(&FrameLoc {
                    first_index: frame.first_index,
                    count: frame.records.len() as u32,
                    segment: seg.first_index,
                    offset: *offset as u64,
                    len: frame.len as u32,
                })?;
            }
            if end > alerts_from {
                let ids: Vec<(u64, &[u8])> = decoded
                    .iter()
                    .filter(|(i, _)| *i >= alerts_from)
                    .map(|(i, e)| (*i, e.alert_id.as_bytes()))
                    .collect();
                index.write_alerts(&ids, end)?;
            }
            let refs: Vec<(u64, &LedgerEntry)> = decoded.iter().map(|(i, e)| (*i, e)).collect();
            index.apply_views(&refs)?;
            if end >= size {
                return Ok(size - from);
            }
        }
        if let Some((offset, defect)) = scan.defect {
            let expected = scan
                .frames
                .last()
                .map_or(seg.first_index, |(_, f)| f.end_index());
            return Err(corrupt(
                &seg.path,
                offset,
                Some(defect_index(expected, &defect)),
                defect.to_string(),
            ));
        }
    }
    Err(LedgerError::Inconsistent(format!(
        "the segments end before entry {size}"
    )))
}
