//! Repairing damaged segments offline, with the node stopped: [`plan`] reads and decides, [`apply`]
//! does what the plan says.
//!
//! Every frame carries its own signed checkpoint, so a frame taken from anywhere (a backup copy of the
//! segments, a tail an earlier cut kept aside) is accepted only when its records, added to the Merkle
//! tree of everything before it, give exactly the root its checkpoint signs. A repair restores the
//! very bytes that were written, or nothing:
//!
//! 1. A damaged frame is replaced in place by the same bytes from a copy, when one holds them; a
//!    damaged segment header is written again (it follows from the file's name).
//! 2. Damage in the last segment (the one appended to) that no copy holds is cut off, after every
//!    byte from the damaged frame to the end of the segment is kept in `damaged/` (see [`crate::DAMAGED_DIR`]).
//! 3. The ledger then regrows from the copies and the kept tails, frame by frame, while they verify.
//!
//! Damage in a closed segment that no copy holds is not cut, since the segments after it would go
//! too: the plan names the entries a copy must hold.
//!
//! A cut may leave the ledger smaller than a checkpoint it had signed, which partners may hold
//! (cosigned, or quoted in receipts). Signing another checkpoint of a size up to that one over other
//! entries would be a fork that their witnesses rightly record as equivocation. So the latest
//! checkpoint found in what was cut is kept as the ledger's hold ([`crate::HOLD_FILE`]), and the ledger
//! appends nothing until it has regrown to it; only `accept_loss` lifts a hold without the entries.
//!
//! Whatever the repair cuts or appends, it rolls the index back to where the segments are unchanged,
//! so the node replays the rest from the segments when it next opens.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use tulpar_core::keys::PublicKey;

use crate::aside;
use crate::error::LedgerError;
use crate::hold;
use crate::index::Index;
use crate::keys::{read_dir_keys, verify_any};
use crate::merkle::{Frontier, leaf_hash};
use crate::note::SignedCheckpoint;
use crate::recover::defect_index;
use crate::segment::{self, Frame, HEADER_LEN};
use crate::verify::{self, VerifyReport};

/// What a repair may use besides the ledger itself.
#[derive(Debug, Clone, Default)]
pub struct RepairOptions {
    /// Copies of the ledger's segments: a backup of the ledger's directory, or its `segments/`.
    pub copies: Vec<PathBuf>,
    /// Lift a hold without the entries it waits for. The ledger then signs checkpoints of sizes it
    /// had signed over other entries: partners' witnesses record that as equivocation.
    pub accept_loss: bool,
}

/// One step of a repair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write the segment's header again: it follows from the file's name.
    RewriteHeader {
        /// The segment.
        segment: PathBuf,
    },
    /// Replace bytes of a segment with the same bytes from a copy, which verify.
    Replace {
        /// The segment.
        segment: PathBuf,
        /// Where the damaged bytes start.
        offset: u64,
        /// How many bytes.
        len: u64,
        /// The entries the replaced frames hold.
        entries: Range<u64>,
        /// The copy they come from (the same bytes of the copy's segment of the same name).
        from: PathBuf,
        /// Whether they end the segment: its damaged bytes ran to its end, so it is cut after them.
        ends_segment: bool,
    },
    /// Keep the last segment's bytes from `offset` on in `kept`, then cut them off.
    Cut {
        /// The segment.
        segment: PathBuf,
        /// Where it is cut.
        offset: u64,
        /// How many bytes go.
        bytes: u64,
        /// The entries they held, as far as their frames tell (the cut frame's own count is not
        /// trusted).
        entries: Range<u64>,
        /// Where they are kept.
        kept: PathBuf,
    },
    /// Append frames taken from a copy or a kept tail, which verify.
    Append {
        /// The segment written (created with its header when new).
        segment: PathBuf,
        /// The entries appended.
        entries: Range<u64>,
        /// Where the frames come from.
        from: PathBuf,
        /// Where in `from` they start.
        from_offset: u64,
        /// Their length in bytes.
        len: u64,
    },
    /// Hold the ledger until it has regrown to this checkpoint (see the module notes).
    Hold {
        /// The latest checkpoint the ledger signed.
        checkpoint: SignedCheckpoint,
    },
    /// Make the index forget entries it had recorded that the segments no longer hold, so that the
    /// node opens (`accept_loss` only: they were synced, and no checkpoint over them can be read).
    Forget {
        /// The entries forgotten.
        entries: Range<u64>,
    },
    /// Lift the ledger's hold.
    Release {
        /// The checkpoint it was held to.
        checkpoint: SignedCheckpoint,
        /// Whether the entries it covers are there (false: lifted by `accept_loss`).
        regrown: bool,
    },
}

/// What a repair found and will do.
#[derive(Debug, Clone)]
pub struct RepairPlan {
    /// The ledger's directory.
    pub dir: PathBuf,
    /// Damage found, in segment order (the entries are those the damaged bytes held).
    pub damage: Vec<crate::Damage>,
    /// The steps, in the order [`apply`] takes them.
    pub actions: Vec<Action>,
    /// Entries the segments hold in order before the repair: up to the first damage.
    pub intact: u64,
    /// Entries after the repair.
    pub size: u64,
    /// The latest checkpoint the ledger is known to have signed: the last intact one, one found in
    /// what is cut, or the one an earlier repair held it to.
    pub published: Option<SignedCheckpoint>,
    /// Entries the ledger had signed a checkpoint over and will not hold after the repair.
    pub lost: Option<Range<u64>>,
    /// Whether the ledger will be held after the repair: it records nothing until the lost entries
    /// are restored.
    pub held: bool,
    /// Damage in a closed segment that no copy holds: the repair cannot be applied. Each names the
    /// entries a copy must hold.
    pub unrepairable: Vec<crate::Damage>,
}

impl RepairPlan {
    /// Whether the ledger needs nothing done.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty() && self.unrepairable.is_empty()
    }
}

/// What applying a plan left.
#[derive(Debug, Clone)]
pub struct RepairReport {
    /// The plan applied.
    pub plan: RepairPlan,
    /// The ledger's verification after the repair.
    pub verified: VerifyReport,
}

/// A frame that may be copied in: from a copy of the segments or a kept tail.
#[derive(Debug, Clone)]
struct Candidate {
    first_index: u64,
    end_index: u64,
    /// The segment it was written to (its first index).
    segment: u64,
    file: PathBuf,
    offset: u64,
    len: u64,
}

/// The segments of a copy given by the operator: `<copy>/segments/` when it holds one, else `<copy>`.
fn copy_segments(copy: &Path) -> Result<Vec<segment::SegmentFile>, LedgerError> {
    let inner = copy.join("segments");
    let dir = if inner.is_dir() {
        inner
    } else {
        copy.to_owned()
    };
    let found = segment::list(&dir)?;
    if found.is_empty() {
        return Err(LedgerError::io(copy)(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "holds no segment file (<20-digit index>.seg), nor a segments/ folder holding one",
        )));
    }
    Ok(found)
}

/// The intact frames of `bytes` (all of `file`) from byte `start` on, skipping damage, each as
/// written to the segment starting at entry `segment`.
fn candidates_in(bytes: &[u8], start: usize, segment: u64, file: &Path, out: &mut Vec<Candidate>) {
    let mut at = start;
    while at < bytes.len() {
        match segment::parse_frame(bytes, at) {
            Ok(frame) => {
                out.push(Candidate {
                    first_index: frame.first_index,
                    end_index: frame.end_index(),
                    segment,
                    file: file.to_owned(),
                    offset: at as u64,
                    len: frame.len as u64,
                });
                at += frame.len;
            }
            Err(_) => match segment::valid_frame_after(bytes, at + 1) {
                Some(next) => at = next,
                None => break,
            },
        }
    }
}

/// Adds `frame`'s records to `frontier` and checks its checkpoint: signed by one of `keys` for `origin`, for
/// the size reached, over the root reached. Returns the checkpoint, or why not.
fn verify_frame(
    frame: &Frame<'_>,
    frontier: &mut Frontier,
    origin: Option<&str>,
    keys: &[PublicKey],
) -> Result<SignedCheckpoint, String> {
    if frame.first_index != frontier.size() {
        return Err(format!(
            "the frame starts at entry {}, expected {}",
            frame.first_index,
            frontier.size()
        ));
    }
    let mut grown = frontier.clone();
    for record in &frame.records {
        grown.push_leaf(leaf_hash(record));
    }
    let checkpoint =
        verify_any(frame.note, origin, keys).map_err(|e| format!("its checkpoint: {e}"))?;
    if checkpoint.size() != grown.size() || checkpoint.root() != &grown.root() {
        return Err(format!(
            "its checkpoint of size {} does not sign the entries it holds",
            checkpoint.size()
        ));
    }
    *frontier = grown;
    Ok(checkpoint)
}

/// The checkpoints signed by any of `keys` found in `bytes` (frames that check, and the notes of frames that
/// do not, read by their length fields), the latest one.
fn latest_signed(
    bytes: &[u8],
    origin: Option<&str>,
    keys: &[PublicKey],
) -> Option<SignedCheckpoint> {
    let mut latest: Option<SignedCheckpoint> = None;
    let mut consider = |note: &str| {
        if let Ok(cp) = verify_any(note, origin, keys) {
            if latest.as_ref().is_none_or(|l| cp.size() > l.size()) {
                latest = Some(cp);
            }
        }
    };
    let mut at = 0;
    while at + segment::FRAME_HEADER_LEN <= bytes.len() {
        match segment::parse_frame(bytes, at) {
            Ok(frame) => {
                consider(frame.note);
                at += frame.len;
            }
            Err(_) => {
                // The frame's own header may be what is damaged: its length field is tried for the
                // note, and the search goes on from the next frame that checks.
                let body = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap_or_default())
                    as usize;
                let count =
                    u32::from_le_bytes(bytes[at + 16..at + 20].try_into().unwrap_or_default());
                let end = (at + segment::FRAME_HEADER_LEN).saturating_add(body);
                if let Some(frame) = bytes.get(at..end) {
                    // A damaged count must not make the walk longer than the frame allows.
                    let fits = (frame.len() / segment::RECORD_HEADER_LEN) as u32;
                    let spans = segment::record_spans(frame, count.min(fits));
                    if let Some(note) = spans.note.and_then(|r| std::str::from_utf8(&frame[r]).ok())
                    {
                        consider(note);
                    }
                }
                match segment::valid_frame_after(bytes, at + 1) {
                    Some(next) => at = next,
                    None => break,
                }
            }
        }
    }
    latest
}

/// Reads `len` bytes of `path` at `offset`.
fn read_at(path: &Path, offset: u64, len: u64) -> Result<Vec<u8>, LedgerError> {
    let file = aside::open(path)?;
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, offset)
        .map_err(LedgerError::io(path))?;
    Ok(buf)
}

/// Reads the ledger in `dir` and the copies in `options`, and decides what a repair does. Changes
/// nothing. With the ledger's `lock`, the index tells which entries had been synced: a bad frame
/// among them is damage even at the very end of the ledger, not a write the node never finished.
pub fn plan(
    dir: &Path,
    options: &RepairOptions,
    lock: Option<&RepairLock>,
) -> Result<RepairPlan, LedgerError> {
    let durable = match lock.and_then(|lock| lock.index.as_ref()) {
        Some(index) => index.frames_applied()?,
        None => 0,
    };
    let keys = read_dir_keys(dir)?;
    let segments_dir = dir.join("segments");
    let segments = segment::list(&segments_dir)?;
    let copies = options
        .copies
        .iter()
        .map(|c| copy_segments(c))
        .collect::<Result<Vec<_>, _>>()?;
    let mut plan = RepairPlan {
        dir: dir.to_owned(),
        damage: Vec::new(),
        actions: Vec::new(),
        intact: 0,
        size: 0,
        published: None,
        lost: None,
        held: false,
        unrepairable: Vec::new(),
    };
    let mut frontier = Frontier::default();
    let mut origin: Option<String> = None;
    let mut latest: Option<SignedCheckpoint> = None;
    // Where the ledger ends after the repair: the last segment and its length.
    let mut end: Option<(u64, PathBuf, u64)> = None;
    // Bytes cut off, which the ledger may regrow from.
    let mut cut_tail: Option<(u64, PathBuf, Vec<u8>)> = None;
    let mut first_damage = true;
    // The root at the size the ledger is held to, met on the way.
    let held = hold::read(dir, None, &keys)?;
    let mut root_at_held = None;
    'segments: for (n, seg) in segments.iter().enumerate() {
        let is_last = n + 1 == segments.len();
        let buf = fs::read(&seg.path).map_err(LedgerError::io(&seg.path))?;
        if is_last && buf.is_empty() {
            end = Some((seg.first_index, seg.path.clone(), 0));
            break;
        }
        // Whole segment files missing before this one come back from a copy, file by file.
        while seg.first_index > frontier.size() {
            let next = frontier.size();
            let restored = copies.iter().flatten().find_map(|copy| {
                let same = (copy.first_index == next)
                    .then(|| {
                        replacement(
                            &copy.path,
                            HEADER_LEN,
                            seg.first_index,
                            &frontier,
                            origin.as_deref(),
                            &keys,
                        )
                    })
                    .flatten()?;
                let whole = fs::metadata(&copy.path).is_ok_and(|m| m.len() == same.end as u64);
                whole.then(|| (copy.path.clone(), same))
            });
            let Some((from, same)) = restored else {
                break;
            };
            let path = segment::segment_path(&segments_dir, next);
            let reason = "the segment file is missing".to_owned();
            plan.damage
                .push(damage(&path, 0, next..seg.first_index, reason));
            plan.actions.push(Action::Replace {
                segment: path,
                offset: 0,
                len: same.end as u64,
                entries: next..same.frontier.size(),
                from,
                ends_segment: true,
            });
            frontier = same.frontier;
            latest = Some(same.checkpoint);
        }
        if seg.first_index != frontier.size() {
            // The previous segment's damage was reported with the entries it lost.
            if plan.unrepairable.is_empty() {
                let at = frontier.size()..seg.first_index;
                plan.unrepairable.push(damage(
                    &seg.path,
                    0,
                    at,
                    format!(
                        "the segments before end at entry {}, this one starts at {}",
                        frontier.size(),
                        seg.first_index
                    ),
                ));
            }
            break;
        }
        let header = segment::decode_header(&buf);
        if header != Ok(seg.first_index) {
            let why = match header {
                Err(why) => why,
                Ok(first) => format!("header says first index {first}"),
            };
            let at = seg.first_index..seg.first_index;
            plan.damage
                .push(damage(&seg.path, 0, at, format!("segment header: {why}")));
            plan.actions.push(Action::RewriteHeader {
                segment: seg.path.clone(),
            });
        }
        let mut at = HEADER_LEN.min(buf.len());
        while at < buf.len() {
            let checked = segment::parse_frame(&buf, at)
                .map_err(|defect| (defect_index(frontier.size(), &defect), defect.to_string()))
                .and_then(|frame| {
                    let mut grown = frontier.clone();
                    verify_frame(&frame, &mut grown, origin.as_deref(), &keys)
                        .map(|cp| (frame.len, grown, cp))
                        .map_err(|why| (frontier.size(), why))
                });
            match checked {
                Ok((len, grown, cp)) => {
                    frontier = grown;
                    if held.as_ref().is_some_and(|h| h.size() == frontier.size()) {
                        root_at_held = Some(frontier.root());
                    }
                    origin.get_or_insert_with(|| cp.origin().to_owned());
                    latest = Some(cp);
                    at += len;
                    if first_damage {
                        plan.intact = frontier.size();
                    }
                }
                Err((index, reason)) => {
                    first_damage = false;
                    let next = segment::valid_frame_after(&buf, at + 1);
                    let resume = match next {
                        Some(next) => segment::parse_frame(&buf, next).ok().map(|f| f.first_index),
                        None => segments.get(n + 1).map(|s| s.first_index),
                    };
                    let lost = index..resume.unwrap_or(index).max(index);
                    plan.damage
                        .push(damage(&seg.path, at as u64, lost.clone(), reason));
                    // The same bytes from a copy, if one holds them and they verify. In the last
                    // segment with nothing intact after the damage, the ledger regrows instead.
                    let found = resume.and_then(|resume| {
                        copies.iter().flatten().find_map(|copy| {
                            if copy.first_index != seg.first_index {
                                return None;
                            }
                            let same = replacement(
                                &copy.path,
                                at,
                                resume,
                                &frontier,
                                origin.as_deref(),
                                &keys,
                            )?;
                            // Intact frames follow the damage here: the copy's must end where they start.
                            let fits = next.is_none_or(|next| same.end == next);
                            fits.then(|| (copy.path.clone(), same))
                        })
                    });
                    if let Some((from, same)) = found {
                        plan.actions.push(Action::Replace {
                            segment: seg.path.clone(),
                            offset: at as u64,
                            len: (same.end - at) as u64,
                            entries: frontier.size()..same.frontier.size(),
                            from,
                            ends_segment: next.is_none(),
                        });
                        frontier = same.frontier;
                        latest = Some(same.checkpoint);
                        if held.as_ref().is_some_and(|h| h.size() == frontier.size()) {
                            root_at_held = Some(frontier.root());
                        }
                        at = match next {
                            Some(next) => next,
                            None => break,
                        };
                        continue;
                    }
                    if !is_last {
                        let lost = frontier.size()..resume.unwrap_or(frontier.size());
                        let why = format!(
                            "the damage is in a closed segment, and no copy holds entries {}..{} \
                             as written (give --from a backup that does)",
                            lost.start, lost.end
                        );
                        plan.unrepairable
                            .push(damage(&seg.path, at as u64, lost, why));
                        break 'segments;
                    }
                    // The last segment: the rest of it is kept aside and cut off.
                    let tail = buf[at..].to_vec();
                    let tail_entries = frontier.size()..resume_end(&tail).max(frontier.size());
                    // A damaged frame followed by none that checks may be a write the node never
                    // finished: only checkpoints of frames synced (before a later one, or as the
                    // index recorded) count.
                    if next.is_some() || frontier.size() < durable {
                        if let Some(cp) = latest_signed(&tail, origin.as_deref(), &keys) {
                            if latest.as_ref().is_none_or(|l| cp.size() > l.size()) {
                                plan.published = Some(cp);
                            }
                        }
                    }
                    plan.actions.push(Action::Cut {
                        segment: seg.path.clone(),
                        offset: at as u64,
                        bytes: tail.len() as u64,
                        entries: tail_entries,
                        kept: aside::kept_path(dir, &seg.path, at as u64),
                    });
                    cut_tail = Some((
                        seg.first_index,
                        aside::kept_path(dir, &seg.path, at as u64),
                        tail,
                    ));
                    end = Some((seg.first_index, seg.path.clone(), at as u64));
                    break 'segments;
                }
            }
        }
        end = Some((seg.first_index, seg.path.clone(), buf.len() as u64));
    }
    if !plan.unrepairable.is_empty() {
        plan.size = frontier.size();
        return Ok(plan);
    }
    if let Some(cp) = &held {
        if plan.published.as_ref().is_none_or(|p| cp.size() > p.size()) {
            plan.published = Some(cp.clone());
        }
    }
    let published = plan.published.clone().or(latest.clone());

    // Regrow from the copies and the kept tails.
    // Only the copies' segments from the one holding the ledger's next entry on are read.
    let regrow_from = frontier.size();
    let mut candidates = Vec::new();
    let first_needed = copies
        .iter()
        .flatten()
        .filter(|s| s.first_index <= regrow_from)
        .map(|s| s.first_index)
        .max()
        .unwrap_or(0);
    for copy in copies.iter().flatten() {
        if copy.first_index < first_needed {
            continue;
        }
        let bytes = fs::read(&copy.path).map_err(LedgerError::io(&copy.path))?;
        candidates_in(
            &bytes,
            HEADER_LEN,
            copy.first_index,
            &copy.path,
            &mut candidates,
        );
    }
    for kept in aside::kept_files(dir)? {
        let Some((segment, _)) = aside::parse_kept_name(&kept) else {
            continue;
        };
        let bytes = fs::read(&kept).map_err(LedgerError::io(&kept))?;
        candidates_in(&bytes, 0, segment, &kept, &mut candidates);
    }
    if let Some((segment, kept, tail)) = &cut_tail {
        candidates_in(tail, 0, *segment, kept, &mut candidates);
    }
    let mut root_at_published = match &published {
        Some(p) if held.as_ref() == Some(p) && root_at_held.is_some() => root_at_held,
        Some(p) if p.size() == frontier.size() => Some(frontier.root()),
        _ => None,
    };
    let (mut last_segment, mut last_path, _) =
        end.clone()
            .unwrap_or((0, segment::segment_path(&segments_dir, 0), 0));
    loop {
        let next = frontier.size();
        let mut taken = None;
        for candidate in candidates
            .iter()
            .filter(|c| c.first_index == next && c.end_index > next)
        {
            let bytes = match &cut_tail {
                Some((_, kept, tail)) if candidate.file == *kept => tail
                    [candidate.offset as usize..(candidate.offset + candidate.len) as usize]
                    .to_vec(),
                _ => read_at(&candidate.file, candidate.offset, candidate.len)?,
            };
            let Ok(frame) = segment::parse_frame(&bytes, 0) else {
                continue;
            };
            let mut grown = frontier.clone();
            if verify_frame(&frame, &mut grown, origin.as_deref(), &keys).is_ok() {
                taken = Some((candidate.clone(), grown));
                break;
            }
        }
        let Some((candidate, grown)) = taken else {
            break;
        };
        let target = if candidate.segment > last_segment && candidate.segment == next {
            last_segment = candidate.segment;
            last_path = segment::segment_path(&segments_dir, candidate.segment);
            last_path.clone()
        } else {
            last_path.clone()
        };
        let merged = match plan.actions.last_mut() {
            Some(Action::Append {
                segment,
                entries,
                from,
                from_offset,
                len,
            }) if *segment == target
                && *from == candidate.file
                && *from_offset + *len == candidate.offset =>
            {
                entries.end = candidate.end_index;
                *len += candidate.len;
                true
            }
            _ => false,
        };
        if !merged {
            plan.actions.push(Action::Append {
                segment: target,
                entries: candidate.first_index..candidate.end_index,
                from: candidate.file.clone(),
                from_offset: candidate.offset,
                len: candidate.len,
            });
        }
        frontier = grown;
        if published
            .as_ref()
            .is_some_and(|p| p.size() == frontier.size())
        {
            root_at_published = Some(frontier.root());
        }
    }
    plan.size = frontier.size();

    // Entries the index recorded were synced and may have been acknowledged with a checkpoint; when
    // the ledger ends before them and no checkpoint signed over them can be read, it cannot be held
    // to one: only a copy, or giving them up, will do.
    let covered = published.as_ref().map_or(0, SignedCheckpoint::size);
    if plan.size < durable && covered < durable && options.accept_loss {
        plan.lost = Some(plan.size..durable);
        plan.actions.push(Action::Forget {
            entries: plan.size..durable,
        });
    } else if plan.size < durable && covered < durable {
        let (segment, offset) = match plan.actions.iter().find_map(|a| match a {
            Action::Cut {
                segment, offset, ..
            } => Some((segment.clone(), *offset)),
            _ => None,
        }) {
            Some(place) => place,
            None => (
                last_path.clone(),
                end.as_ref().map_or(0, |(_, _, len)| *len),
            ),
        };
        let why = format!(
            "the index had recorded entries up to {durable}, so they were synced, but no checkpoint \
             signed over them can be read to hold the ledger to: restore them from a copy (--from), \
             or give them up (--accept-loss)"
        );
        plan.unrepairable
            .push(damage(&segment, offset, plan.size..durable, why));
        return Ok(plan);
    }

    // The hold: what the ledger had signed, against what it will hold.
    let regrown = |p: &SignedCheckpoint| {
        p.size() <= plan.size && root_at_published.as_ref() == Some(p.root())
    };
    match (&published, &held) {
        (Some(p), _) if p.size() > plan.size || !regrown(p) => {
            let end = plan.lost.as_ref().map_or(0, |l| l.end).max(p.size());
            plan.lost = Some(plan.size.min(p.size())..end);
            plan.held = !options.accept_loss;
            if options.accept_loss {
                if let Some(held) = held {
                    plan.actions.push(Action::Release {
                        checkpoint: held,
                        regrown: false,
                    });
                }
            } else if held.as_ref() != Some(p) {
                // Written before anything is cut: see `apply`.
                plan.actions.insert(
                    0,
                    Action::Hold {
                        checkpoint: p.clone(),
                    },
                );
            }
        }
        (_, Some(held)) => plan.actions.push(Action::Release {
            checkpoint: held.clone(),
            regrown: true,
        }),
        _ => {}
    }
    Ok(plan)
}

/// One past the last entry the frames of a cut tail hold, by their headers (damage may hide some).
fn resume_end(tail: &[u8]) -> u64 {
    let mut found = Vec::new();
    candidates_in(tail, 0, 0, Path::new(""), &mut found);
    found.iter().map(|c| c.end_index).max().unwrap_or(0)
}

/// Frames of a copy that stand in for damaged ones.
struct Same {
    /// Where they end in the segment.
    end: usize,
    /// The tree after them.
    frontier: Frontier,
    /// The checkpoint of the last one.
    checkpoint: SignedCheckpoint,
}

/// The frames of the segment `copy` from byte `from` on that verify from `frontier` and reach entry
/// `resume` exactly: the bytes that were written there.
fn replacement(
    copy: &Path,
    from: usize,
    resume: u64,
    frontier: &Frontier,
    origin: Option<&str>,
    keys: &[PublicKey],
) -> Option<Same> {
    let bytes = fs::read(copy).ok()?;
    let mut grown = frontier.clone();
    let mut at = from;
    let mut last = None;
    while grown.size() < resume {
        let frame = segment::parse_frame(&bytes, at).ok()?;
        last = Some(verify_frame(&frame, &mut grown, origin, keys).ok()?);
        at += frame.len;
    }
    (grown.size() == resume).then_some(())?;
    last.map(|checkpoint| Same {
        end: at,
        frontier: grown,
        checkpoint,
    })
}

fn damage(segment: &Path, offset: u64, entries: Range<u64>, reason: String) -> crate::Damage {
    crate::Damage {
        segment: segment.to_owned(),
        offset,
        entries,
        reason,
        found_at: std::time::SystemTime::now(),
    }
}

/// The ledger's index held for a repair: no node opens the ledger while it is held.
pub struct RepairLock {
    /// `None` when the ledger has no index (a node rebuilds it from the segments).
    index: Option<Index>,
}

impl std::fmt::Debug for RepairLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RepairLock")
    }
}

/// Takes the lock a node holds on the ledger in `dir` while it runs (sled's, on `index/db`): fails
/// with [`LedgerError::InUse`] when a node runs on it. Take it before [`plan`] when the plan is to be
/// applied, so that nothing changes the ledger in between.
pub fn lock(dir: &Path) -> Result<RepairLock, LedgerError> {
    let path = dir.join("index");
    let index = match path.exists() {
        true => Some(Index::open_for_repair(&path)?),
        false => None,
    };
    Ok(RepairLock { index })
}

/// Applies `plan` to its ledger, holding `lock`. Bytes are kept before they are cut, the hold is
/// written before the ledger shrinks, and every write is synced; the index is rolled back to where the
/// segments are unchanged. Then verifies the ledger.
pub fn apply(plan: RepairPlan, lock: RepairLock) -> Result<RepairReport, LedgerError> {
    if !plan.unrepairable.is_empty() {
        let first = &plan.unrepairable[0];
        return Err(LedgerError::Corrupt {
            path: first.segment.clone(),
            offset: first.offset,
            index: Some(first.entries.start),
            reason: first.reason.clone(),
        });
    }
    let dir = plan.dir.clone();
    let index = lock.index;
    let mut roll_back_to: Option<u64> = None;
    // Frames appended start where the ledger ends after any cut.
    let appended_from = plan.actions.iter().find_map(|a| match a {
        Action::Append { entries, .. } => Some(entries.start),
        _ => None,
    });
    for action in &plan.actions {
        match action {
            Action::Hold { checkpoint } => hold::write(&dir, checkpoint)?,
            Action::RewriteHeader { segment } => {
                let first = segment
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| {
                        LedgerError::Inconsistent(format!(
                            "{} is not a segment name",
                            segment.display()
                        ))
                    })?;
                write_at(segment, 0, &segment::encode_header(first))?;
            }
            Action::Replace {
                segment,
                offset,
                len,
                from,
                ends_segment,
                ..
            } => {
                let bytes = read_at(from, *offset, *len)?;
                write_at(segment, *offset, &bytes)?;
                if *ends_segment {
                    let file = OpenOptions::new()
                        .write(true)
                        .open(segment)
                        .map_err(LedgerError::io(segment))?;
                    file.set_len(offset + len)
                        .and_then(|()| file.sync_all())
                        .map_err(LedgerError::io(segment))?;
                }
            }
            Action::Cut {
                segment,
                offset,
                entries,
                ..
            } => {
                let bytes = fs::read(segment).map_err(LedgerError::io(segment))?;
                let tail = bytes.get(*offset as usize..).unwrap_or_default();
                aside::keep(&dir, segment, *offset, tail)?;
                let file = OpenOptions::new()
                    .write(true)
                    .open(segment)
                    .map_err(LedgerError::io(segment))?;
                file.set_len(*offset)
                    .and_then(|()| file.sync_all())
                    .map_err(LedgerError::io(segment))?;
                roll_back_to = Some(entries.start);
            }
            Action::Append {
                segment,
                from,
                from_offset,
                len,
                ..
            } => {
                let bytes = read_at(from, *from_offset, *len)?;
                append(segment, &bytes)?;
            }
            Action::Forget { entries } => {
                roll_back_to = Some(roll_back_to.map_or(entries.start, |r| r.min(entries.start)));
            }
            Action::Release { .. } => {}
        }
    }
    if let Some(from) = appended_from {
        roll_back_to = Some(roll_back_to.map_or(from, |r| r.min(from)));
    }
    if let (Some(size), Some(index)) = (roll_back_to, &index) {
        index.roll_back(size)?;
        index.flush();
    }
    drop(index);
    segment::sync_dir(&dir.join("segments"))?;
    if plan
        .actions
        .iter()
        .any(|a| matches!(a, Action::Release { .. }))
    {
        hold::remove(&dir)?;
    }
    let verified = verify::verify_dir(&dir, None, |_| {}).map_err(|e| LedgerError::Corrupt {
        path: e.segment.clone().unwrap_or_else(|| dir.clone()),
        offset: e.offset.unwrap_or(0),
        index: e.index,
        reason: format!("after the repair: {}", e.reason),
    })?;
    Ok(RepairReport { plan, verified })
}

/// Writes `bytes` at `offset` of `path` (created when missing: a segment restored whole), durably.
fn write_at(path: &Path, offset: u64, bytes: &[u8]) -> Result<(), LedgerError> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(LedgerError::io(path))?;
    file.write_all_at(bytes, offset)
        .and_then(|()| file.sync_all())
        .map_err(LedgerError::io(path))
}

/// Appends `frames` to the segment at `path`, creating it with its header when it does not exist.
fn append(path: &Path, frames: &[u8]) -> Result<(), LedgerError> {
    let mut file = match OpenOptions::new().append(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let first = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| {
                    LedgerError::Inconsistent(format!("{} is not a segment name", path.display()))
                })?;
            let mut file = OpenOptions::new()
                .append(true)
                .create_new(true)
                .open(path)
                .map_err(LedgerError::io(path))?;
            file.write_all(&segment::encode_header(first))
                .map_err(LedgerError::io(path))?;
            file
        }
        Err(e) => return Err(LedgerError::io(path)(e)),
    };
    file.write_all(frames)
        .and_then(|()| file.sync_all())
        .map_err(LedgerError::io(path))
}

#[cfg(test)]
mod tests {
    use tulpar_core::keys::SigningKey;
    use tulpar_proto::v1::LedgerEntry;

    use super::*;
    use crate::{Ledger, LedgerOptions};

    fn open(dir: &Path, key: &SigningKey) -> Result<Ledger, LedgerError> {
        let options = LedgerOptions {
            origin: "tulpar/KZ".to_owned(),
            signing_key: SigningKey::from_pem(&key.to_pem()).unwrap(),
            earlier_keys: Vec::new(),
            views: vec![],
        };
        Ledger::open(dir, options).map(|(ledger, _)| ledger)
    }

    fn entry(i: u64) -> LedgerEntry {
        LedgerEntry {
            alert_id: format!("A-{i}-{}", "x".repeat(150)),
            ..Default::default()
        }
    }

    /// 60 entries over many small segments (unit tests roll every 4 KiB), three per frame.
    fn ledger_in(dir: &Path, key: &SigningKey) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let ledger = open(dir, key).unwrap();
        for first in (0..60).step_by(3) {
            rt.block_on(ledger.append_all((first..first + 3).map(entry).collect()))
                .unwrap();
        }
    }

    fn copy_segments_to(dir: &Path, to: &Path) {
        fs::create_dir_all(to.join("segments")).unwrap();
        for seg in segment::list(&dir.join("segments")).unwrap() {
            fs::copy(
                &seg.path,
                to.join("segments").join(seg.path.file_name().unwrap()),
            )
            .unwrap();
        }
    }

    #[test]
    fn damage_in_a_closed_segment_is_replaced_in_place_from_a_copy_and_never_cut() {
        use prost::Message;
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate().unwrap();
        ledger_in(dir.path(), &key);
        let copy = tempfile::tempdir().unwrap();
        copy_segments_to(dir.path(), copy.path());
        let segments = segment::list(&dir.path().join("segments")).unwrap();
        assert!(segments.len() > 3);
        // Entry 10's bytes, in a closed segment, and the header of another.
        let needle = entry(10).encode_to_vec();
        let (damaged, original) = segments
            .iter()
            .find_map(|seg| {
                let bytes = fs::read(&seg.path).unwrap();
                let at = bytes.windows(needle.len()).position(|w| w == needle)?;
                let mut changed = bytes.clone();
                changed[at + 20] ^= 0x04;
                fs::write(&seg.path, changed).unwrap();
                Some((seg.path.clone(), bytes))
            })
            .unwrap();
        assert_ne!(&damaged, &segments.last().unwrap().path);
        let headed = &segments[2].path;
        let header_original = fs::read(headed).unwrap();
        let mut changed = header_original.clone();
        changed[9] ^= 0x01;
        fs::write(headed, changed).unwrap();
        // And a closed segment file gone altogether.
        let gone = &segments[1].path;
        let gone_original = fs::read(gone).unwrap();
        fs::remove_file(gone).unwrap();

        // Without a copy: nothing can be done, and nothing is cut.
        let found = plan(dir.path(), &RepairOptions::default(), None).unwrap();
        assert_eq!(found.unrepairable.len(), 1, "{found:?}");
        assert_eq!(found.unrepairable[0].entries.start, 9);
        assert!(
            found.unrepairable[0].reason.contains("closed segment"),
            "{found:?}"
        );
        let held = lock(dir.path()).unwrap();
        assert!(matches!(
            apply(found, held),
            Err(LedgerError::Corrupt { .. })
        ));
        assert!(!fs::read(&damaged).unwrap().eq(&original));

        // With the copy: the frame's bytes come back in place, the header is written again.
        let options = RepairOptions {
            copies: vec![copy.path().to_owned()],
            accept_loss: false,
        };
        let found = plan(dir.path(), &options, None).unwrap();
        assert!(found.unrepairable.is_empty(), "{found:?}");
        assert!(!found.held);
        assert_eq!(found.size, 60);
        assert!(found.actions.iter().any(|a| matches!(
            a,
            Action::Replace { segment, entries, .. } if *segment == damaged && *entries == (9..12)
        )));
        assert!(found.actions.iter().any(|a| matches!(
            a,
            Action::RewriteHeader { segment } if segment == headed
        )));
        assert!(
            !found
                .actions
                .iter()
                .any(|a| matches!(a, Action::Cut { .. }))
        );
        assert!(found.actions.iter().any(|a| matches!(
            a,
            Action::Replace { segment, offset: 0, ends_segment: true, .. } if segment == gone
        )));
        let report = apply(found, lock(dir.path()).unwrap()).unwrap();
        assert_eq!(report.verified.size, 60);
        assert_eq!(fs::read(&damaged).unwrap(), original);
        assert_eq!(fs::read(headed).unwrap(), header_original);
        assert_eq!(fs::read(gone).unwrap(), gone_original);
        let ledger = open(dir.path(), &key).unwrap();
        assert_eq!(ledger.entry(10).unwrap(), entry(10));
        let checked = ledger.check_closed_segments(|_| {}, || false).unwrap();
        assert!(checked.damage.is_empty(), "{checked:?}");
    }
}
