//! Segment files: the durable form of the ledger.
//!
//! A segment is `segments/<20-digit first index>.seg`: a header, then one frame per group commit.
//! All integers are little-endian.
//!
//! ```text
//! header: magic "TULPRSEG" | version u32 | first index u64 | crc32 of the previous 20 bytes
//! frame:  magic u32 "TLFR" | body_len u32 | first index u64 | count u32 | crc32
//! body:   count × (len u32 | crc32 of bytes | bytes), then the batch's checkpoint note (UTF-8)
//! ```
//!
//! The frame crc32 covers the frame header fields after the magic (body_len, first index, count) and
//! the body, so a frame checks itself; the per-record crc32 lets a verifier name the damaged entry.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::error::LedgerError;

/// Segment header magic.
const SEGMENT_MAGIC: &[u8; 8] = b"TULPRSEG";
/// Segment format version.
const SEGMENT_VERSION: u32 = 1;
/// Segment header length.
pub(crate) const HEADER_LEN: usize = 24;
/// Frame magic, "TLFR" read as little-endian bytes.
const FRAME_MAGIC: u32 = u32::from_le_bytes(*b"TLFR");
/// Frame header length.
pub(crate) const FRAME_HEADER_LEN: usize = 24;
/// Record header length.
pub(crate) const RECORD_HEADER_LEN: usize = 8;
/// A new segment is started once the current one passes this size. Opening, the check of closed
/// segments and the verifiers each read one segment whole, so this bounds what they hold.
#[cfg(not(test))]
const SEGMENT_ROLL_BYTES: u64 = 16 << 20;
/// Unit tests roll every few frames, to exercise reads and recovery across segments.
#[cfg(test)]
const SEGMENT_ROLL_BYTES: u64 = 4 << 10;

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Defect {
    /// The file ends inside the frame.
    Truncated,
    /// The frame does not start with the frame magic.
    BadMagic,
    /// The frame checksum does not match; `record` names the first record whose own checksum fails.
    BadChecksum { record: Option<u32> },
    /// The frame is internally inconsistent.
    BadLayout(String),
    /// The frame's first index is not the one expected.
    WrongIndex { expected: u64, got: u64 },
}

impl std::fmt::Display for Defect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Truncated => f.write_str("the file ends inside the frame"),
            Self::BadMagic => f.write_str("no frame magic"),
            Self::BadChecksum { record: Some(k) } => {
                write!(
                    f,
                    "frame checksum mismatch (record {k} of the frame is damaged)"
                )
            }
            Self::BadChecksum { record: None } => f.write_str("frame checksum mismatch"),
            Self::BadLayout(why) => f.write_str(why),
            Self::WrongIndex { expected, got } => {
                write!(f, "frame starts at index {got}, expected {expected}")
            }
        }
    }
}

/// A frame read from a buffer.
#[derive(Debug)]
pub(crate) struct Frame<'a> {
    /// Index of the first record.
    pub(crate) first_index: u64,
    /// The records (encoded entries).
    pub(crate) records: Vec<&'a [u8]>,
    /// The checkpoint note of the batch.
    pub(crate) note: &'a str,
    /// Total length of the frame in bytes.
    pub(crate) len: usize,
}

impl Frame<'_> {
    /// One past the last index in the frame.
    pub(crate) fn end_index(&self) -> u64 {
        self.first_index + self.records.len() as u64
    }
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(b)
}

fn u64_at(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Encodes a segment header.
pub(crate) fn encode_header(first_index: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    h[12..20].copy_from_slice(&first_index.to_le_bytes());
    let crc = crc32fast::hash(&h[..20]);
    h[20..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Checks a segment header; returns its first index.
pub(crate) fn decode_header(buf: &[u8]) -> Result<u64, String> {
    if buf.len() < HEADER_LEN {
        return Err(format!(
            "segment header is {} bytes, expected {HEADER_LEN}",
            buf.len()
        ));
    }
    if &buf[..8] != SEGMENT_MAGIC {
        return Err("not a Tulpar segment (bad magic)".to_owned());
    }
    if crc32fast::hash(&buf[..20]) != u32_at(buf, 20) {
        return Err("segment header checksum mismatch".to_owned());
    }
    let version = u32_at(buf, 8);
    if version != SEGMENT_VERSION {
        return Err(format!(
            "segment format version {version}, this build reads {SEGMENT_VERSION}"
        ));
    }
    Ok(u64_at(buf, 12))
}

/// Encodes one frame holding `records` starting at `first_index`, followed by `note`.
pub(crate) fn encode_frame<'r>(
    first_index: u64,
    records: impl ExactSizeIterator<Item = &'r [u8]>,
    note: &str,
    out: &mut Vec<u8>,
) {
    let start = out.len();
    let count = records.len() as u32;
    out.extend_from_slice(&FRAME_MAGIC.to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&first_index.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    for r in records {
        out.extend_from_slice(&(r.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(r).to_le_bytes());
        out.extend_from_slice(r);
    }
    out.extend_from_slice(note.as_bytes());
    let body_len = (out.len() - start - FRAME_HEADER_LEN) as u32;
    out[start + 4..start + 8].copy_from_slice(&body_len.to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&out[start + 4..start + 20]);
    crc.update(&out[start + FRAME_HEADER_LEN..]);
    let crc = crc.finalize();
    out[start + 20..start + 24].copy_from_slice(&crc.to_le_bytes());
}

/// Reads the frame at `buf[at..]`.
pub(crate) fn parse_frame(buf: &[u8], at: usize) -> Result<Frame<'_>, Defect> {
    let rest = &buf[at..];
    if rest.len() < FRAME_HEADER_LEN {
        return Err(if rest.len() >= 4 && u32_at(rest, 0) != FRAME_MAGIC {
            Defect::BadMagic
        } else {
            Defect::Truncated
        });
    }
    if u32_at(rest, 0) != FRAME_MAGIC {
        return Err(Defect::BadMagic);
    }
    let body_len = u32_at(rest, 4) as usize;
    let first_index = u64_at(rest, 8);
    let count = u32_at(rest, 16);
    let crc = u32_at(rest, 20);
    let len = FRAME_HEADER_LEN + body_len;
    if rest.len() < len {
        return Err(Defect::Truncated);
    }
    let body = &rest[FRAME_HEADER_LEN..len];
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&rest[4..20]);
    hasher.update(body);
    let crc_ok = hasher.finalize() == crc;
    // The indexes come from the disk too: past the largest one, the frame's end would wrap.
    if first_index.checked_add(u64::from(count)).is_none() {
        return Err(layout_or_checksum(
            crc_ok,
            None,
            "the frame's entries pass the largest index",
        ));
    }
    // The count is read from the disk: room for more records than the body can hold would be an
    // allocation a damaged frame chooses.
    let mut records = Vec::with_capacity((count as usize).min(body.len() / RECORD_HEADER_LEN));
    let mut pos = 0usize;
    for k in 0..count {
        if body.len() - pos < RECORD_HEADER_LEN {
            return Err(layout_or_checksum(
                crc_ok,
                None,
                "records overrun the frame",
            ));
        }
        let rlen = u32_at(body, pos) as usize;
        let rcrc = u32_at(body, pos + 4);
        pos += RECORD_HEADER_LEN;
        if body.len() - pos < rlen {
            return Err(layout_or_checksum(
                crc_ok,
                Some(k),
                "a record overruns the frame",
            ));
        }
        let record = &body[pos..pos + rlen];
        if !crc_ok && crc32fast::hash(record) != rcrc {
            return Err(Defect::BadChecksum { record: Some(k) });
        }
        records.push(record);
        pos += rlen;
    }
    if !crc_ok {
        return Err(Defect::BadChecksum { record: None });
    }
    let note = std::str::from_utf8(&body[pos..])
        .map_err(|_| Defect::BadLayout("checkpoint note is not UTF-8".to_owned()))?;
    Ok(Frame {
        first_index,
        records,
        note,
        len,
    })
}

/// Where the records of a damaged frame lie, read from their length fields without trusting any
/// checksum: `frame` is the whole frame as the index located it, holding `count` records.
pub(crate) struct Spans {
    /// Per record, its bytes' range in the frame; `None` for a record whose length field points
    /// outside the frame, and for every record after it.
    pub(crate) records: Vec<Option<Range<usize>>>,
    /// The checkpoint note's range, when every record fits.
    pub(crate) note: Option<Range<usize>>,
}

/// Walks the records of `frame` by their length fields (see [`Spans`]). What each span holds must
/// still be checked against something trustworthy (the Merkle tree's leaf hashes).
pub(crate) fn record_spans(frame: &[u8], count: u32) -> Spans {
    let mut records = Vec::with_capacity(count as usize);
    let mut pos = FRAME_HEADER_LEN.min(frame.len());
    let mut fits = true;
    for _ in 0..count {
        let span = fits
            .then(|| {
                let header = frame.get(pos..pos.checked_add(RECORD_HEADER_LEN)?)?;
                let len = u32_at(header, 0) as usize;
                let start = pos + RECORD_HEADER_LEN;
                let end = start.checked_add(len).filter(|end| *end <= frame.len())?;
                Some(start..end)
            })
            .flatten();
        match &span {
            Some(range) => pos = range.end,
            None => fits = false,
        }
        records.push(span);
    }
    Spans {
        records,
        note: fits.then_some(pos..frame.len()),
    }
}

fn layout_or_checksum(crc_ok: bool, record: Option<u32>, why: &str) -> Defect {
    if crc_ok {
        Defect::BadLayout(why.to_owned())
    } else {
        Defect::BadChecksum { record }
    }
}

/// Whether a valid frame starts anywhere in `buf[from..]`: tells a torn tail (nothing valid after
/// the damage) from corruption in the middle (valid frames follow).
pub(crate) fn valid_frame_after(buf: &[u8], from: usize) -> Option<usize> {
    let magic = FRAME_MAGIC.to_le_bytes();
    let mut at = from;
    while at + FRAME_HEADER_LEN <= buf.len() {
        let pos = buf[at..].windows(4).position(|w| w == magic)?;
        at += pos;
        if parse_frame(buf, at).is_ok() {
            return Some(at);
        }
        at += 1;
    }
    None
}

/// The frames of one segment buffer, up to the first defect.
pub(crate) struct Scan<'a> {
    /// `(offset, frame)` of each valid frame, in order.
    pub(crate) frames: Vec<(usize, Frame<'a>)>,
    /// Where the valid frames end.
    pub(crate) end: usize,
    /// The first defect and its offset, if the buffer does not end cleanly.
    pub(crate) defect: Option<(usize, Defect)>,
}

/// Reads the frames of a segment buffer whose header is already checked; the first frame must
/// start at `first_index` and each frame must follow the previous one.
pub(crate) fn scan(buf: &[u8], first_index: u64) -> Scan<'_> {
    let mut frames = Vec::new();
    let mut at = HEADER_LEN;
    let mut expected = first_index;
    let mut defect = None;
    while at < buf.len() {
        match parse_frame(buf, at) {
            Ok(frame) if frame.first_index != expected => {
                defect = Some((
                    at,
                    Defect::WrongIndex {
                        expected,
                        got: frame.first_index,
                    },
                ));
                break;
            }
            Ok(frame) => {
                expected = frame.end_index();
                let len = frame.len;
                frames.push((at, frame));
                at += len;
            }
            Err(d) => {
                defect = Some((at, d));
                break;
            }
        }
    }
    Scan {
        frames,
        end: at,
        defect,
    }
}

/// A segment file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentFile {
    /// Index of its first entry (from the file name).
    pub(crate) first_index: u64,
    /// Its path.
    pub(crate) path: PathBuf,
}

/// The file name of the segment starting at `first_index`.
pub(crate) fn segment_path(dir: &Path, first_index: u64) -> PathBuf {
    dir.join(format!("{first_index:020}.seg"))
}

/// The segments in `dir`, ordered by first index. Other files are ignored.
pub(crate) fn list(dir: &Path) -> Result<Vec<SegmentFile>, LedgerError> {
    let mut out = Vec::new();
    let read = fs::read_dir(dir).map_err(LedgerError::io(dir))?;
    for item in read {
        let item = item.map_err(LedgerError::io(dir))?;
        let name = item.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".seg") else {
            continue;
        };
        if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(first_index) = stem.parse() else {
            continue;
        };
        out.push(SegmentFile {
            first_index,
            path: item.path(),
        });
    }
    out.sort_by_key(|s| s.first_index);
    Ok(out)
}

/// Syncs a directory so that a file created in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LedgerError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(LedgerError::io(dir))
}

/// The segment being appended to.
///
/// A failed write or sync leaves it usable: the file is cut back to the end of the last durable frame
/// and reopened, so the next write starts clean (a full disk that gets space back needs no restart).
#[derive(Debug)]
pub(crate) struct Writer {
    dir: PathBuf,
    file: File,
    path: PathBuf,
    first_index: u64,
    len: u64,
    /// The file may hold bytes past `len` from a failed write that could not be cut yet.
    dirty: bool,
}

/// Bytes written and synced by [`Writer::probe`] to learn whether the disk takes writes again: about
/// one frame of a small batch, so space for the probe is space for an append.
const PROBE_BYTES: usize = 64 << 10;

impl Writer {
    /// Continues the segment at `path` whose valid content ends at `len`.
    pub(crate) fn resume(dir: &Path, segment: &SegmentFile, len: u64) -> Result<Self, LedgerError> {
        let file = OpenOptions::new()
            .append(true)
            .open(&segment.path)
            .map_err(LedgerError::io(&segment.path))?;
        Ok(Self {
            dir: dir.to_owned(),
            file,
            path: segment.path.clone(),
            first_index: segment.first_index,
            len,
            dirty: false,
        })
    }

    /// Creates (or resets) the segment starting at `first_index`, durably. A segment that could not
    /// be created whole is removed again, so no headerless file is left for the next open.
    pub(crate) fn create(dir: &Path, first_index: u64) -> Result<Self, LedgerError> {
        let path = segment_path(dir, first_index);
        let created = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .and_then(|mut file| {
                file.write_all(&encode_header(first_index))
                    .and_then(|()| file.sync_all())
            });
        if let Err(e) = created {
            let _ = fs::remove_file(&path);
            return Err(LedgerError::io(&path)(e));
        }
        sync_dir(dir)?;
        Self::resume(dir, &SegmentFile { first_index, path }, HEADER_LEN as u64)
    }

    /// First index of the current segment.
    pub(crate) fn first_index(&self) -> u64 {
        self.first_index
    }

    /// Starts a new segment at `next_index` if the current one is full and holds frames.
    pub(crate) fn roll_if_full(&mut self, next_index: u64) -> Result<(), LedgerError> {
        if self.len >= SEGMENT_ROLL_BYTES && next_index > self.first_index {
            self.restore()?;
            *self = Self::create(&self.dir, next_index)?;
        }
        Ok(())
    }

    /// Writes `frame` and waits until it is on stable storage; returns the frame's offset. With
    /// `fail_after`, fails after writing that many bytes of it instead: the fault a full disk
    /// causes, for tests of recovery.
    ///
    /// On failure nothing of the frame is left in the file (or, if even cutting it failed, the next
    /// call cuts it before writing), and the error is returned; the writer stays usable.
    pub(crate) fn write_durable_with(
        &mut self,
        frame: &[u8],
        fail_after: Option<usize>,
    ) -> Result<u64, LedgerError> {
        self.restore()?;
        self.check_space(frame.len())?;
        let offset = self.len;
        let result = match fail_after {
            Some(n) => self
                .file
                .write_all(&frame[..n.min(frame.len())])
                .and_then(|()| Err(std::io::Error::from(std::io::ErrorKind::StorageFull))),
            None => self
                .file
                .write_all(frame)
                .and_then(|()| self.file.sync_data()),
        };
        if let Err(e) = result {
            // Whatever part of the frame reached the file is cut before the next write. After a
            // failed sync the kernel may have dropped the dirty pages and cleared the error, so the
            // file is reopened rather than trusted.
            self.dirty = true;
            if let Err(cut) = self.restore() {
                tracing::warn!(error = %cut, "cannot yet cut the failed write; retrying before the next one");
            }
            return Err(LedgerError::io(&self.path)(e));
        }
        self.len += frame.len() as u64;
        Ok(offset)
    }

    /// Cuts the file back to its last durable frame after a failed write, and reopens it.
    fn restore(&mut self) -> Result<(), LedgerError> {
        if !self.dirty {
            return Ok(());
        }
        let file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .and_then(|file| {
                file.set_len(self.len)?;
                file.sync_all()?;
                Ok(file)
            })
            .map_err(LedgerError::io(&self.path))?;
        self.file = file;
        self.dirty = false;
        Ok(())
    }

    /// Refuses to write `bytes` when less than
    /// [`LEDGER_DISK_RESERVE_BYTES`](tulpar_core::limits::LEDGER_DISK_RESERVE_BYTES) would remain
    /// free: the index (sled) writes after the segments, and once it meets a full disk it fails
    /// for good, until the ledger is reopened.
    fn check_space(&self, bytes: usize) -> Result<(), LedgerError> {
        let reserve = tulpar_core::limits::LEDGER_DISK_RESERVE_BYTES as u64;
        match fs2::available_space(&self.dir) {
            Ok(free) if free < reserve.saturating_add(bytes as u64) => {
                Err(LedgerError::io(&self.dir)(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    format!("{free} bytes free; the ledger keeps {reserve} free for its index"),
                )))
            }
            // A file system that cannot tell is written to, and fails if it must.
            _ => Ok(()),
        }
    }

    /// Whether the disk takes writes again: cuts any failed write, checks the free space, and
    /// writes, syncs and removes a scratch file beside the segments.
    pub(crate) fn probe(&mut self) -> Result<(), LedgerError> {
        self.restore()?;
        self.check_space(PROBE_BYTES)?;
        let path = self.dir.join("probe.tmp");
        let written = File::create(&path).and_then(|mut file| {
            file.write_all(&[0u8; PROBE_BYTES])?;
            file.sync_data()
        });
        let _ = fs::remove_file(&path);
        written.map_err(LedgerError::io(&path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(first: u64, records: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(first, records.iter().copied(), "note\n", &mut out);
        out
    }

    #[test]
    fn frames_round_trip() {
        let mut buf = encode_header(5).to_vec();
        buf.extend(frame(5, &[b"a", b"bc"]));
        buf.extend(frame(7, &[b""]));
        assert_eq!(decode_header(&buf).unwrap(), 5);
        let scan = scan(&buf, 5);
        assert!(scan.defect.is_none());
        assert_eq!(scan.frames.len(), 2);
        assert_eq!(scan.frames[0].1.records, vec![&b"a"[..], b"bc"]);
        assert_eq!(scan.frames[1].1.first_index, 7);
        assert_eq!(scan.frames[1].1.note, "note\n");
        assert_eq!(scan.end, buf.len());
    }

    #[test]
    fn damage_is_located() {
        let mut buf = encode_header(0).to_vec();
        buf.extend(frame(0, &[b"aaaa", b"bbbb"]));
        let second = buf.len();
        buf.extend(frame(2, &[b"cccc"]));
        let mut damaged = buf.clone();
        damaged[HEADER_LEN + FRAME_HEADER_LEN + 2 * RECORD_HEADER_LEN + 5] ^= 1;
        let scan = scan(&damaged, 0);
        assert_eq!(
            scan.defect,
            Some((HEADER_LEN, Defect::BadChecksum { record: Some(1) }))
        );
        assert_eq!(valid_frame_after(&damaged, HEADER_LEN + 1), Some(second));
        let torn = &buf[..buf.len() - 3];
        let scan = super::scan(torn, 0);
        assert_eq!(scan.defect, Some((second, Defect::Truncated)));
        assert_eq!(valid_frame_after(torn, second + 1), None);
    }

    /// Rewrites the record count of the frame at `buf[at..]`, with a checksum that matches again.
    fn set_count(buf: &mut [u8], at: usize, count: u32) {
        buf[at + 16..at + 20].copy_from_slice(&count.to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&buf[at + 4..at + 20]);
        crc.update(&buf[at + FRAME_HEADER_LEN..]);
        let crc = crc.finalize().to_le_bytes();
        buf[at + 20..at + FRAME_HEADER_LEN].copy_from_slice(&crc);
    }

    #[test]
    fn a_frame_past_the_largest_index_is_a_layout_defect() {
        let mut buf = encode_header(u64::MAX).to_vec();
        buf.extend(frame(u64::MAX, &[b"a"]));
        // Before, the frame was read, and its end index wrapped to 0.
        let scan = scan(&buf, u64::MAX);
        assert_eq!(
            scan.defect,
            Some((
                HEADER_LEN,
                Defect::BadLayout("the frame's entries pass the largest index".to_owned())
            ))
        );
        assert!(scan.frames.is_empty());
    }

    #[test]
    fn a_count_past_the_body_is_a_layout_defect_not_an_allocation() {
        let mut buf = encode_header(0).to_vec();
        buf.extend(frame(0, &[b"aaaa"]));
        // Before, the frame reserved room for 2^32 - 1 records (64 GiB) and aborted the process.
        set_count(&mut buf, HEADER_LEN, u32::MAX);
        let scan = scan(&buf, 0);
        assert_eq!(
            scan.defect,
            Some((
                HEADER_LEN,
                Defect::BadLayout("records overrun the frame".to_owned())
            ))
        );
    }
}
