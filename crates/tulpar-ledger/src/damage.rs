//! Damage to the segments found after opening, and the check that looks for it.
//!
//! Opening reads only the segment being appended to (the open segment): a torn tail is cut, damage
//! before it refuses to open. The closed segments are checked afterwards, frame by frame, by
//! [`crate::Ledger::check_closed_segments`], which a node runs in the background; a read that meets a
//! damaged frame reports it the same way. Either way the damage is recorded once in
//! [`crate::Ledger::integrity`] and logged as an error naming the segment, the byte offset and the
//! entries.
//!
//! A frame whose checksum fails is not given up whole: each of its records is compared with the leaf
//! hash the Merkle tree holds for it (see [`crate::read`]), so only the entries whose bytes changed
//! are damaged, and the others are still read.

use std::fmt;
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::error::LedgerError;
use crate::index::FrameLoc;
use crate::ledger::Shared;
use crate::read;
use crate::segment::{self, HEADER_LEN};

/// Bytes of a segment that no longer hold what was written there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The segment file.
    pub segment: PathBuf,
    /// Byte offset of the damaged frame (0: the segment header).
    pub offset: u64,
    /// The entries whose stored bytes no longer match the ledger's Merkle tree; empty when only the
    /// frame's framing or checkpoint note is damaged and every entry still reads back as written.
    pub entries: Range<u64>,
    /// What is wrong.
    pub reason: String,
    /// When it was found.
    pub found_at: SystemTime,
}

impl Damage {
    /// The entry to name first: the first damaged one, or where the damaged frame starts.
    pub fn first_index(&self) -> u64 {
        self.entries.start
    }

    /// The segment's file name (`00000000000000000000.seg`), for messages to people who do not see
    /// the node's disk.
    pub fn segment_name(&self) -> String {
        self.segment.file_name().map_or_else(
            || self.segment.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        )
    }
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "segment {} at byte offset {}: ",
            self.segment.display(),
            self.offset
        )?;
        match self.entries.end - self.entries.start {
            0 => write!(f, "no entry lost ({})", self.reason),
            1 => write!(
                f,
                "entry {} is damaged ({})",
                self.entries.start, self.reason
            ),
            _ => write!(
                f,
                "entries {}..{} are damaged ({})",
                self.entries.start, self.entries.end, self.reason
            ),
        }
    }
}

/// What is known of the segments' integrity since the ledger opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Integrity {
    /// Whether the check of every closed segment has ended (see
    /// [`crate::Ledger::check_closed_segments`]).
    pub checked: bool,
    /// Damage found by that check or by reads, each place once, in the order found.
    pub damage: Vec<Damage>,
}

/// How far a check of the closed segments has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckProgress {
    /// Segments checked so far.
    pub segments_done: usize,
    /// Closed segments in all.
    pub segments_total: usize,
    /// Bytes checked so far.
    pub bytes_done: u64,
    /// Bytes of the closed segments in all.
    pub bytes_total: u64,
}

/// What a check of the closed segments found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// Closed segments checked.
    pub segments: usize,
    /// Bytes read.
    pub bytes: u64,
    /// Entries the checked segments hold.
    pub entries: u64,
    /// Damage found.
    pub damage: Vec<Damage>,
    /// False when the check was stopped before its end.
    pub completed: bool,
}

/// Records `damage` in the ledger's integrity, logging it the first time it is found.
pub(crate) fn record(shared: &Shared, damage: Damage) {
    shared.integrity.send_if_modified(|integrity| {
        let known = integrity
            .damage
            .iter()
            .any(|d| d.segment == damage.segment && d.offset == damage.offset);
        // Found again (by a read after the check, say): the first finding stands.
        if known {
            return false;
        }
        tracing::error!(
            segment = %damage.segment.display(),
            offset = damage.offset,
            entries = ?damage.entries,
            reason = %damage.reason,
            "ledger damage: {damage}; restore it from a backup (tulpar ledger repair)"
        );
        integrity.damage.push(damage);
        true
    });
}

/// Checks every frame of the segments before `open_segment` against its checksum, and each segment's
/// header and length, recording what is damaged. Reads one frame at a time. `progress` is called
/// after each segment; `stop` is asked between frames.
pub(crate) fn check_closed_segments(
    shared: &Shared,
    open_segment: u64,
    mut progress: impl FnMut(&CheckProgress),
    stop: impl Fn() -> bool,
) -> Result<CheckReport, LedgerError> {
    let segments: Vec<_> = segment::list(&shared.segments_dir)?
        .into_iter()
        .filter(|s| s.first_index < open_segment)
        .collect();
    let mut lengths = Vec::with_capacity(segments.len());
    for seg in &segments {
        let len = std::fs::metadata(&seg.path)
            .map_err(LedgerError::io(&seg.path))?
            .len();
        lengths.push(len);
    }
    let mut state = CheckProgress {
        segments_done: 0,
        segments_total: segments.len(),
        bytes_done: 0,
        bytes_total: lengths.iter().sum(),
    };
    let mut report = CheckReport {
        segments: 0,
        bytes: 0,
        entries: 0,
        damage: Vec::new(),
        completed: false,
    };
    let found = |damage: Damage, report: &mut CheckReport| {
        report.damage.push(damage.clone());
        record(shared, damage);
    };
    let mut frames = shared.index.frame_locs(0);
    let mut pending: Option<FrameLoc> = None;
    let mut buf = Vec::new();
    for (seg, &len) in segments.iter().zip(&lengths) {
        let file = File::open(&seg.path).map_err(LedgerError::io(&seg.path))?;
        let mut header = [0u8; HEADER_LEN];
        let header_ok = file
            .read_exact_at(&mut header, 0)
            .map_err(|e| e.to_string())
            .and_then(|()| segment::decode_header(&header))
            .and_then(|first| {
                (first == seg.first_index)
                    .then_some(())
                    .ok_or_else(|| format!("header says first index {first}"))
            });
        if let Err(why) = header_ok {
            let at = seg.first_index..seg.first_index;
            found(
                damage(seg.path.clone(), 0, at, format!("segment header: {why}")),
                &mut report,
            );
        }
        // The frames of this segment, as the index located them when they were written.
        let mut end = HEADER_LEN as u64;
        loop {
            if stop() {
                return Ok(report);
            }
            let loc = match pending.take() {
                Some(loc) => loc,
                None => match frames.next().transpose()? {
                    Some(loc) => loc,
                    None => break,
                },
            };
            if loc.segment < seg.first_index {
                // Frames the index places in a segment file that is gone.
                let path = segment::segment_path(&shared.segments_dir, loc.segment);
                let why = "the segment file is missing".to_owned();
                found(
                    damage(path, 0, loc.first_index..seg.first_index, why),
                    &mut report,
                );
                while frames
                    .next()
                    .transpose()?
                    .is_some_and(|next| next.segment < seg.first_index)
                {}
                continue;
            }
            if loc.segment != seg.first_index {
                pending = Some(loc);
                break;
            }
            if loc.offset != end {
                let at = loc.first_index..loc.first_index;
                let why = format!(
                    "the frame of entry {} is indexed at byte {}, the previous one ends at {end}",
                    loc.first_index, loc.offset
                );
                found(damage(seg.path.clone(), end, at, why), &mut report);
            }
            end = loc.offset + u64::from(loc.len);
            report.entries = loc.first_index + u64::from(loc.count);
            let frame = read::frame_from(shared, &file, &seg.path, &loc, &mut buf)?;
            if let Some(damaged) = frame.damage {
                found(damaged, &mut report);
            }
        }
        if end != len {
            let at = report.entries..report.entries;
            let why = format!("the segment is {len} bytes, its frames end at byte {end}");
            found(damage(seg.path.clone(), end.min(len), at, why), &mut report);
        }
        report.segments += 1;
        report.bytes += len;
        state.segments_done += 1;
        state.bytes_done += len;
        progress(&state);
    }
    report.completed = true;
    Ok(report)
}

fn damage(segment: PathBuf, offset: u64, entries: Range<u64>, reason: String) -> Damage {
    Damage {
        segment,
        offset,
        entries,
        reason,
        found_at: SystemTime::now(),
    }
}

#[cfg(test)]
mod tests {
    use std::fs::{self, OpenOptions};

    use prost::Message;
    use tulpar_core::keys::SigningKey;
    use tulpar_proto::v1::LedgerEntry;

    use super::*;
    use crate::{Ledger, LedgerOptions};

    fn options(key: &SigningKey) -> LedgerOptions {
        LedgerOptions {
            origin: "tulpar/KZ".to_owned(),
            signing_key: SigningKey::from_pem(&key.to_pem()).unwrap(),
            earlier_keys: Vec::new(),
            views: vec![],
        }
    }

    fn entry(i: u64) -> LedgerEntry {
        LedgerEntry {
            alert_id: format!("A-{i}-{}", "x".repeat(150)),
            ..Default::default()
        }
    }

    /// A ledger of many small segments (unit tests roll every 4 KiB) whose frames hold three
    /// entries each.
    fn ledger_in(dir: &std::path::Path, key: &SigningKey) -> Ledger {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (ledger, _) = Ledger::open(dir, options(key)).unwrap();
        for first in (0..90).step_by(3) {
            let batch = (first..first + 3).map(entry).collect();
            rt.block_on(ledger.append_all(batch)).unwrap();
        }
        ledger
    }

    /// Flips one byte of `needle` where it is stored, returning the segment and the byte's offset.
    fn flip(dir: &std::path::Path, needle: &[u8], at: usize) -> (PathBuf, u64) {
        for seg in segment::list(&dir.join("segments")).unwrap() {
            let mut buf = fs::read(&seg.path).unwrap();
            if let Some(p) = buf.windows(needle.len()).position(|w| w == needle) {
                buf[p + at] ^= 0x20;
                fs::write(&seg.path, buf).unwrap();
                return (seg.path, (p + at) as u64);
            }
        }
        panic!("not stored");
    }

    #[test]
    fn the_check_names_each_damaged_entry_and_reads_keep_the_rest_of_its_frame() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate().unwrap();
        let ledger = ledger_in(dir.path(), &key);
        let cp_size = 42;
        let cp = ledger.checkpoint_at(cp_size).unwrap().unwrap();
        drop(ledger);
        // Entry 31's bytes, and the checkpoint note of the batch ending at 42.
        let (seg_31, _) = flip(dir.path(), &entry(31).encode_to_vec(), 40);
        let (seg_42, _) = flip(dir.path(), cp.note().as_bytes(), 12);

        let (ledger, _) = Ledger::open(dir.path(), options(&key)).unwrap();
        let integrity = ledger.integrity();
        assert_eq!(*integrity.borrow(), Integrity::default());
        let mut progress = Vec::new();
        let report = ledger
            .check_closed_segments(|p| progress.push(*p), || false)
            .unwrap();
        assert!(report.completed);
        assert!(report.segments >= 3, "{report:?}");
        assert_eq!(progress.len(), report.segments);
        assert_eq!(progress.last().unwrap().bytes_done, report.bytes);
        assert_eq!(report.damage.len(), 2, "{report:?}");
        let entry_damage = &report.damage[0];
        assert_eq!(entry_damage.segment, seg_31);
        assert_eq!(entry_damage.entries, 31..32);
        assert!(entry_damage.reason.contains("checksum"), "{entry_damage}");
        assert!(
            entry_damage.to_string().contains("entry 31 is damaged"),
            "{entry_damage}"
        );
        let note_damage = &report.damage[1];
        assert_eq!(note_damage.segment, seg_42);
        assert!(note_damage.entries.is_empty(), "{note_damage}");
        assert!(note_damage.to_string().contains("no entry lost"));
        let known = integrity.borrow().clone();
        assert!(known.checked);
        assert_eq!(known.damage, report.damage);
        assert!(known.damage.iter().all(|d| d.found_at <= SystemTime::now()));

        // Reads: the damaged entry is refused naming it; its frame's other entries read as written.
        match ledger.entry(31) {
            Err(LedgerError::Corrupt { path, index, .. }) => {
                assert_eq!(path, seg_31);
                assert_eq!(index, Some(31));
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        assert_eq!(ledger.entry(30).unwrap(), entry(30));
        assert_eq!(ledger.entry(32).unwrap(), entry(32));
        let err = ledger.entries(25..40).unwrap_err();
        assert!(err.to_string().contains("(entry 31)"), "{err}");
        assert_eq!(ledger.entries(32..40).unwrap().len(), 8);
        assert!(ledger.entries_at(&[29, 31]).is_err());
        assert!(matches!(
            ledger.checkpoint_at(cp_size),
            Err(LedgerError::Corrupt { .. })
        ));
        assert!(ledger.checkpoint_at(cp_size + 3).unwrap().is_some());
        // A read records what it meets only once.
        assert_eq!(ledger.integrity().borrow().damage.len(), 2);

        // A check asked to stop ends early and leaves the ledger unchecked.
        drop(ledger);
        let (ledger, _) = Ledger::open(dir.path(), options(&key)).unwrap();
        let report = ledger.check_closed_segments(|_| {}, || true).unwrap();
        assert!(!report.completed);
        assert!(!ledger.integrity().borrow().checked);
    }

    #[test]
    fn a_closed_segment_cut_short_is_damage_to_every_entry_it_lost() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate().unwrap();
        drop(ledger_in(dir.path(), &key));
        let first = &segment::list(&dir.path().join("segments")).unwrap()[0];
        let len = fs::metadata(&first.path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&first.path)
            .unwrap()
            .set_len(len - 400)
            .unwrap();
        let (ledger, _) = Ledger::open(dir.path(), options(&key)).unwrap();
        let report = ledger.check_closed_segments(|_| {}, || false).unwrap();
        assert_eq!(report.damage.len(), 2, "{report:?}");
        let cut = &report.damage[0];
        assert!(cut.reason.contains("inside the frame"), "{cut}");
        assert!(!cut.entries.is_empty(), "{cut}");
        assert!(
            report.damage[1].reason.contains("frames end at"),
            "{report:?}"
        );
        let lost = cut.entries.start;
        assert!(matches!(
            ledger.entry(lost),
            Err(LedgerError::Corrupt { index: Some(i), .. }) if i == lost
        ));
        // What precedes the cut, in the same frame or before it, reads as written.
        assert_eq!(ledger.entry(lost - 1).unwrap(), entry(lost - 1));
    }

    #[test]
    fn a_missing_closed_segment_is_damage_to_every_entry_it_held() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate().unwrap();
        drop(ledger_in(dir.path(), &key));
        let segments = segment::list(&dir.path().join("segments")).unwrap();
        fs::remove_file(&segments[1].path).unwrap();
        let (ledger, _) = Ledger::open(dir.path(), options(&key)).unwrap();
        let held = segments[1].first_index..segments[2].first_index;
        assert!(matches!(
            ledger.entry(held.start),
            Err(LedgerError::Corrupt { index: Some(i), .. }) if i == held.start
        ));
        let report = ledger.check_closed_segments(|_| {}, || false).unwrap();
        let missing = report
            .damage
            .iter()
            .find(|d| d.segment == segments[1].path)
            .unwrap();
        assert_eq!(missing.entries, held);
        assert!(missing.reason.contains("missing"), "{missing}");
        assert_eq!(ledger.entry(held.end).unwrap(), entry(held.end));
    }
}
