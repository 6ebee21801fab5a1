//! Repairing a ledger whose open segment is damaged: the damaged tail is kept aside and cut, the
//! ledger is held below the checkpoint it had signed, and it regrows from a backup and the kept tail.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use prost::Message;
use tulpar_ledger::repair::{self, Action, RepairOptions};
use tulpar_ledger::{
    DAMAGED_DIR, HOLD_FILE, Ledger, LedgerError, LedgerOptions, verify_consistency_proof,
    verify_dir,
};

/// Appends entries `from..to`, one frame each.
fn fill(ledger: &Ledger, from: u64, to: u64) {
    let rt = common::runtime();
    for i in from..to {
        let entry = common::entry(&format!("ALERT-{i}"), 60);
        assert_eq!(rt.block_on(ledger.append(entry)).unwrap().index, i);
    }
}

fn the_segment(dir: &Path) -> PathBuf {
    let mut segs: Vec<_> = fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    assert_eq!(segs.len(), 1);
    segs.pop().unwrap()
}

/// A copy of the ledger's segments, as a backup taken with the node stopped holds them.
fn backup(dir: &Path, to: &Path) {
    fs::create_dir_all(to.join("segments")).unwrap();
    for e in fs::read_dir(dir.join("segments")).unwrap() {
        let p = e.unwrap().path();
        fs::copy(&p, to.join("segments").join(p.file_name().unwrap())).unwrap();
    }
}

/// Flips a byte of entry `i`'s stored bytes; returns the offset of the byte.
fn flip_entry(dir: &Path, i: u64) -> usize {
    let seg = the_segment(dir);
    let mut buf = fs::read(&seg).unwrap();
    let needle = common::entry(&format!("ALERT-{i}"), 60).encode_to_vec();
    let at = buf.windows(needle.len()).position(|w| w == needle).unwrap() + 10;
    buf[at] ^= 0x01;
    fs::write(&seg, buf).unwrap();
    at
}

fn open(dir: &Path) -> Result<Ledger, LedgerError> {
    Ledger::open(
        dir,
        LedgerOptions {
            origin: common::ORIGIN.to_owned(),
            signing_key: common::key(),
            earlier_keys: Vec::new(),
            views: Vec::new(),
        },
    )
    .map(|(ledger, _)| ledger)
}

#[test]
fn a_damaged_open_segment_is_cut_keeping_its_bytes_held_and_regrown_from_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = common::open(dir.path());
    fill(&ledger, 0, 40);
    // The backup: taken at 40 entries, so it holds the entry that will be damaged.
    let copy = tempfile::tempdir().unwrap();
    backup(dir.path(), copy.path());
    fill(&ledger, 40, 50);
    let published = ledger.latest_checkpoint();
    drop(ledger);
    let seg = the_segment(dir.path());
    let original = fs::read(&seg).unwrap();
    flip_entry(dir.path(), 35);
    let before = fs::read(&seg).unwrap();

    // The node refuses to open it, naming the entry.
    match open(dir.path()) {
        Err(LedgerError::Corrupt { index, .. }) => assert_eq!(index, Some(35)),
        other => panic!("expected Corrupt, got {:?}", other.map(|_| ())),
    }

    // The plan without a backup: keep and cut from entry 35's frame, hold at 50.
    let plan = repair::plan(dir.path(), &RepairOptions::default(), None).unwrap();
    assert_eq!(plan.intact, 35);
    assert_eq!(plan.size, 35);
    assert_eq!(plan.lost, Some(35..50));
    assert!(plan.held);
    assert_eq!(plan.published.as_ref(), Some(&published));
    assert_eq!(plan.damage.len(), 1);
    assert_eq!(plan.damage[0].entries, 35..36);
    let cut_at = match plan.actions.as_slice() {
        [
            Action::Hold { checkpoint },
            Action::Cut {
                offset,
                entries,
                kept,
                ..
            },
        ] => {
            assert_eq!(checkpoint, &published);
            assert_eq!(entries, &(35..50));
            assert!(kept.starts_with(dir.path().join(DAMAGED_DIR)));
            *offset
        }
        other => panic!("unexpected plan {other:?}"),
    };
    // Planning changed nothing.
    assert_eq!(fs::read(&seg).unwrap(), before);
    assert!(!dir.path().join(HOLD_FILE).exists());
    // Offered the backup, the repair would put the damaged frame's bytes back in place, cutting
    // nothing.
    let with_copy = RepairOptions {
        copies: vec![copy.path().to_owned()],
        accept_loss: false,
    };
    let in_place = repair::plan(dir.path(), &with_copy, None).unwrap();
    assert_eq!((in_place.size, in_place.held), (50, false));
    match in_place.actions.as_slice() {
        [
            Action::Replace {
                offset, entries, ..
            },
        ] => {
            assert_eq!((*offset, entries.clone()), (cut_at, 35..36));
        }
        other => panic!("unexpected plan {other:?}"),
    }

    let report = repair::apply(plan, repair::lock(dir.path()).unwrap()).unwrap();
    assert_eq!(report.verified.size, 35);
    let kept = dir
        .path()
        .join(DAMAGED_DIR)
        .join(format!("00000000000000000000-{cut_at}.bin"));
    assert_eq!(fs::read(&kept).unwrap(), before[cut_at as usize..]);
    assert_eq!(fs::metadata(&seg).unwrap().len(), cut_at);
    verify_dir(dir.path(), None, |_| {}).unwrap();

    // It opens, held: nothing is appended, so no checkpoint of sizes 36..50 is signed over other
    // entries; the lock of a running ledger keeps a repair out.
    let (ledger, report) = common::open(dir.path());
    assert_eq!(report.size, 35);
    assert_eq!(report.held, Some(50));
    assert!(!*ledger.writable().borrow());
    let rt = common::runtime();
    let refused = rt
        .block_on(ledger.append(common::entry("ALERT-X", 60)))
        .unwrap_err();
    assert!(
        matches!(
            refused,
            LedgerError::Held {
                size: 35,
                published: 50
            }
        ),
        "{refused}"
    );
    assert!(matches!(
        repair::lock(dir.path()),
        Err(LedgerError::InUse(_))
    ));
    drop(ledger);

    // With the backup: entries 35..40 from it, then 40..50 from the kept tail, all verified against
    // their signed checkpoints; the hold is lifted.
    let options = RepairOptions {
        copies: vec![copy.path().to_owned()],
        accept_loss: false,
    };
    let plan = repair::plan(dir.path(), &options, None).unwrap();
    assert_eq!(plan.size, 50, "{plan:?}");
    assert_eq!(plan.lost, None);
    assert!(!plan.held);
    let appended: Vec<_> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Append { entries, from, .. } => Some((entries.clone(), from.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(appended.len(), 2, "{plan:?}");
    assert_eq!(appended[0].0, 35..40);
    assert!(appended[0].1.starts_with(copy.path()));
    assert_eq!(appended[1], (40..50, kept.clone()));
    assert!(matches!(
        plan.actions.last(),
        Some(Action::Release { regrown: true, .. })
    ));
    let report = repair::apply(plan, repair::lock(dir.path()).unwrap()).unwrap();
    assert_eq!(report.verified.size, 50);
    assert_eq!(&report.verified.root, published.root());
    // Byte for byte what was written, the damaged byte included.
    assert_eq!(fs::read(&seg).unwrap(), original);
    assert!(!dir.path().join(HOLD_FILE).exists());

    // The ledger opens where it was, reads every entry and signs on consistently.
    let (ledger, report) = common::open(dir.path());
    assert_eq!(report.held, None);
    assert_eq!(ledger.latest_checkpoint(), published);
    assert_eq!(
        ledger.entry(35).unwrap(),
        common::entry("ALERT-35", 60),
        "the damaged entry is back"
    );
    fill(&ledger, 50, 51);
    let proof = ledger.consistency_proof(50, 51).unwrap();
    verify_consistency_proof(&proof, published.root(), ledger.latest_checkpoint().root()).unwrap();
}

#[test]
fn a_hold_is_lifted_without_the_entries_only_when_the_loss_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = common::open(dir.path());
    fill(&ledger, 0, 10);
    let old = tempfile::tempdir().unwrap();
    backup(dir.path(), old.path());
    fill(&ledger, 10, 20);
    let published = ledger.latest_checkpoint();
    drop(ledger);
    flip_entry(dir.path(), 12);
    let plan = repair::plan(dir.path(), &RepairOptions::default(), None).unwrap();
    repair::apply(plan, repair::lock(dir.path()).unwrap()).unwrap();

    // A backup older than the damage cannot restore entry 12: the hold stays, nothing is done.
    let options = RepairOptions {
        copies: vec![old.path().to_owned()],
        accept_loss: false,
    };
    let plan = repair::plan(dir.path(), &options, None).unwrap();
    assert!(plan.held);
    assert_eq!(plan.size, 12);
    assert_eq!(plan.lost, Some(12..20));
    assert!(plan.actions.is_empty(), "{plan:?}");
    // A folder that holds no segments is named.
    let empty = tempfile::tempdir().unwrap();
    let options = RepairOptions {
        copies: vec![empty.path().to_owned()],
        accept_loss: false,
    };
    let err = repair::plan(dir.path(), &options, None).unwrap_err();
    assert!(err.to_string().contains("holds no segment"), "{err}");

    let options = RepairOptions {
        copies: Vec::new(),
        accept_loss: true,
    };
    let plan = repair::plan(dir.path(), &options, None).unwrap();
    assert!(!plan.held);
    assert!(matches!(
        plan.actions.as_slice(),
        [Action::Release { regrown: false, .. }]
    ));
    repair::apply(plan, repair::lock(dir.path()).unwrap()).unwrap();
    let (ledger, report) = common::open(dir.path());
    assert_eq!(report.held, None);
    let rt = common::runtime();
    for i in 12..20 {
        rt.block_on(ledger.append(common::entry(&format!("LATER-{i}"), 60)))
            .unwrap();
    }
    // What the repair warned of: a checkpoint of size 20 over other entries than the one published.
    assert_eq!(ledger.latest_checkpoint().size(), published.size());
    assert_ne!(ledger.latest_checkpoint().root(), published.root());
}

#[test]
fn a_torn_tail_cut_on_open_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = common::open(dir.path());
    fill(&ledger, 0, 5);
    drop(ledger);
    let seg = the_segment(dir.path());
    let bytes = fs::read(&seg).unwrap();
    fs::write(&seg, &bytes[..bytes.len() - 7]).unwrap();
    // A write the node never finished: the index never recorded it (here: it is rebuilt).
    fs::remove_dir_all(dir.path().join("index")).unwrap();
    let (_, report) = common::open(dir.path());
    let cut = report.truncated.unwrap();
    assert_eq!(report.size, 4);
    let kept = fs::read(&cut.kept).unwrap();
    assert_eq!(kept, bytes[cut.offset as usize..bytes.len() - 7]);
    assert!(cut.kept.starts_with(dir.path().join(DAMAGED_DIR)));
}

#[test]
fn a_damaged_last_frame_the_index_recorded_is_held_to_its_own_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = common::open(dir.path());
    fill(&ledger, 0, 20);
    let published = ledger.latest_checkpoint();
    drop(ledger);
    let copy = tempfile::tempdir().unwrap();
    backup(dir.path(), copy.path());
    flip_entry(dir.path(), 19);
    assert!(matches!(
        open(dir.path()),
        Err(LedgerError::Corrupt {
            index: Some(19),
            ..
        })
    ));

    // With the index, the repair knows the frame was synced: its own signed checkpoint holds.
    let lock = repair::lock(dir.path()).unwrap();
    let plan = repair::plan(dir.path(), &RepairOptions::default(), Some(&lock)).unwrap();
    assert_eq!(plan.published.as_ref(), Some(&published), "{plan:?}");
    assert!(plan.held);
    assert_eq!(plan.lost, Some(19..20));
    repair::apply(plan, lock).unwrap();
    let (ledger, report) = common::open(dir.path());
    assert_eq!((report.size, report.held), (19, Some(20)));
    drop(ledger);

    let lock = repair::lock(dir.path()).unwrap();
    let options = RepairOptions {
        copies: vec![copy.path().to_owned()],
        accept_loss: false,
    };
    let plan = repair::plan(dir.path(), &options, Some(&lock)).unwrap();
    assert_eq!(plan.size, 20);
    repair::apply(plan, lock).unwrap();
    let (ledger, report) = common::open(dir.path());
    assert_eq!(report.held, None);
    assert_eq!(ledger.latest_checkpoint(), published);
}

#[test]
fn a_synced_last_frame_with_no_readable_checkpoint_needs_a_copy_or_an_accepted_loss() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = common::open(dir.path());
    fill(&ledger, 0, 20);
    let published = ledger.latest_checkpoint();
    drop(ledger);
    // A byte of the last frame's checkpoint note: its signature no longer verifies.
    let seg = the_segment(dir.path());
    let mut bytes = fs::read(&seg).unwrap();
    let note = published.note().as_bytes();
    let at = bytes.windows(note.len()).position(|w| w == note).unwrap() + 3;
    bytes[at] ^= 0x01;
    fs::write(&seg, &bytes).unwrap();

    let lock = repair::lock(dir.path()).unwrap();
    let plan = repair::plan(dir.path(), &RepairOptions::default(), Some(&lock)).unwrap();
    assert_eq!(plan.unrepairable.len(), 1, "{plan:?}");
    assert_eq!(plan.unrepairable[0].entries, 19..20);
    assert!(matches!(
        repair::apply(plan, lock),
        Err(LedgerError::Corrupt { .. })
    ));
    assert_eq!(fs::read(&seg).unwrap(), bytes, "nothing changed");

    let lock = repair::lock(dir.path()).unwrap();
    let options = RepairOptions {
        copies: Vec::new(),
        accept_loss: true,
    };
    let plan = repair::plan(dir.path(), &options, Some(&lock)).unwrap();
    assert_eq!(plan.lost, Some(19..20));
    assert!(!plan.held);
    assert!(
        plan.actions
            .iter()
            .any(|a| matches!(a, Action::Forget { entries } if *entries == (19..20))),
        "{plan:?}"
    );
    repair::apply(plan, lock).unwrap();
    let (ledger, report) = common::open(dir.path());
    assert_eq!((report.size, report.held), (19, None));
    fill(&ledger, 19, 20);
}
