//! Appending, reading, reopening, damage and tampering.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tulpar_ledger::{
    Ledger, LedgerError, SignedCheckpoint, View, ViewError, ViewTxn, leaf_hash, verify_dir,
    verify_inclusion,
};
use tulpar_proto::v1::LedgerEntry;

/// Appends `n` entries, `batch` at a time concurrently (so they may share a commit), returning
/// the indexes in the order the entries were made. With `batch == 1` every entry is its own frame.
fn fill(ledger: &Ledger, n: usize, batch: usize, pad: usize) -> Vec<u64> {
    let rt = common::runtime();
    let mut out = Vec::new();
    let start = ledger.size() as usize;
    for chunk in (start..start + n).collect::<Vec<_>>().chunks(batch) {
        if chunk.len() == 1 {
            let entry = common::entry(&format!("ALERT-{}", chunk[0] % 7), pad);
            out.push(rt.block_on(ledger.append(entry)).unwrap().index);
            continue;
        }
        let tasks: Vec<_> = chunk
            .iter()
            .map(|i| {
                let ledger = ledger.clone();
                let entry = common::entry(&format!("ALERT-{i}"), pad);
                rt.spawn(async move { ledger.append(entry).await })
            })
            .collect();
        rt.block_on(async {
            for t in tasks {
                out.push(t.await.unwrap().unwrap().index);
            }
        });
    }
    out
}

fn only_segment(dir: &Path) -> PathBuf {
    let mut segs: Vec<_> = fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    segs.pop().unwrap()
}

/// Counts entries per alert id in a view tree.
struct CountByAlert;

impl View for CountByAlert {
    fn name(&self) -> &str {
        "count"
    }

    fn apply(&self, _: u64, entry: &LedgerEntry, txn: &mut ViewTxn<'_>) -> Result<(), ViewError> {
        let key = entry.alert_id.as_bytes().to_vec();
        let n = txn
            .get(&key)?
            .map(|v| u64::from_be_bytes(v.try_into().unwrap()))
            .unwrap_or(0);
        txn.insert(key, (n + 1).to_be_bytes().to_vec());
        Ok(())
    }
}

fn count(ledger: &Ledger, alert: &str) -> u64 {
    ledger
        .view_tree("count")
        .unwrap()
        .get(alert)
        .unwrap()
        .map(|v| u64::from_be_bytes(v.as_ref().try_into().unwrap()))
        .unwrap_or(0)
}

#[test]
fn appends_read_back_with_checkpoints_alert_index_and_views() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, report) = common::open_with(dir.path(), vec![Arc::new(CountByAlert)]);
    assert_eq!(report.size, 0);
    let mut events = ledger.subscribe();
    let rt = common::runtime();
    let appended = rt
        .block_on(ledger.append(common::entry("X-1", 10)))
        .unwrap();
    assert_eq!(appended.index, 0);
    assert_eq!(appended.checkpoint.size(), 1);
    let batch = events.try_recv().unwrap();
    assert_eq!(batch.first_index, 0);
    assert_eq!(batch.entries, vec![common::entry("X-1", 10)]);

    let indexes = fill(&ledger, 100, 1, 100);
    assert_eq!(indexes, (1..101).collect::<Vec<_>>());
    assert_eq!(ledger.entry(0).unwrap(), common::entry("X-1", 10));
    assert_eq!(ledger.entry(5).unwrap().alert_id, "ALERT-5");
    let range = ledger.entries(10..40).unwrap();
    assert_eq!(range.len(), 30);
    assert_eq!(range[0].0, 10);
    assert_eq!(range[29].1.alert_id, format!("ALERT-{}", 39 % 7));
    assert!(matches!(
        ledger.entry(101),
        Err(LedgerError::NotFound { .. })
    ));
    let for_three = ledger.indexes_for_alert(b"ALERT-3").unwrap();
    assert_eq!(
        for_three,
        (1..101).filter(|i| i % 7 == 3).collect::<Vec<_>>()
    );
    assert_eq!(count(&ledger, "ALERT-3"), for_three.len() as u64);

    let cp = ledger.latest_checkpoint();
    assert_eq!(cp.size(), 101);
    let verified =
        SignedCheckpoint::verify(cp.note(), Some(common::ORIGIN), &common::key().public_key())
            .unwrap();
    let proof = ledger.inclusion_proof(42, 101).unwrap();
    let hashes: Vec<[u8; 32]> = proof
        .hashes
        .iter()
        .map(|h| h.as_slice().try_into().unwrap())
        .collect();
    let leaf = leaf_hash(&ledger.entry_bytes(42).unwrap());
    verify_inclusion(42, 101, &leaf, &hashes, verified.root()).unwrap();
    let bytes = ledger.entry_bytes(42).unwrap();
    tulpar_ledger::verify_inclusion_proof(&proof, &bytes, verified.root()).unwrap();
    let old = ledger.checkpoint_at(1).unwrap().unwrap();
    let consistency = ledger.consistency_proof(1, 101).unwrap();
    tulpar_ledger::verify_consistency_proof(&consistency, old.root(), verified.root()).unwrap();
    let mut short = consistency.clone();
    short.hashes[0].pop();
    assert!(matches!(
        tulpar_ledger::verify_consistency_proof(&short, old.root(), verified.root()),
        Err(tulpar_ledger::ProofError::BadHash {
            position: 0,
            len: 31
        })
    ));

    let too_big = common::entry("big", tulpar_ledger::MAX_ENTRY_BYTES);
    let err = rt.block_on(ledger.append(too_big)).unwrap_err();
    assert!(matches!(err, LedgerError::EntryTooLarge { .. }), "{err}");
    assert!(err.to_string().contains("limit"), "{err}");

    drop(ledger);
    let (ledger, report) = common::open_with(dir.path(), vec![Arc::new(CountByAlert)]);
    assert_eq!(report.size, 101);
    assert_eq!(report.replayed, 0);
    assert!(report.truncated.is_none());
    assert_eq!(ledger.latest_checkpoint(), cp);
    fill(&ledger, 5, 5, 10);
    assert_eq!(ledger.size(), 106);
    let report = verify_dir(dir.path(), None, |_| {}).unwrap();
    assert_eq!(report.size, 106);
    assert_eq!(&report.root, ledger.latest_checkpoint().root());
}

#[test]
fn lost_index_is_rebuilt_from_the_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = common::open_with(dir.path(), vec![Arc::new(CountByAlert)]);
    fill(&ledger, 50, 1, 30);
    let root = *ledger.latest_checkpoint().root();
    drop(ledger);
    fs::remove_dir_all(dir.path().join("index")).unwrap();
    let (ledger, report) = common::open_with(dir.path(), vec![Arc::new(CountByAlert)]);
    assert_eq!(report.replayed, 50);
    assert_eq!(ledger.root_at(50).unwrap(), root);
    assert_eq!(count(&ledger, "ALERT-1"), 7);
    assert_eq!(ledger.indexes_for_alert(b"ALERT-1").unwrap().len(), 7);
}

#[test]
fn a_view_marker_kept_in_meta_by_earlier_versions_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = common::open_with(dir.path(), vec![Arc::new(CountByAlert)]);
    fill(&ledger, 21, 1, 30);
    drop(ledger);
    // Earlier versions kept the marker in `meta`, outside the view's tree.
    {
        let db = common::open_index(dir.path());
        let view = db.open_tree("view/count").unwrap();
        let marker = view
            .remove(b"")
            .unwrap()
            .expect("the marker is in the view's tree");
        assert_eq!(marker.as_ref(), 21u64.to_be_bytes());
        let meta = db.open_tree("meta").unwrap();
        meta.insert(b"applied/view/count", marker).unwrap();
        db.flush().unwrap();
    }
    let (ledger, report) = common::open_with(dir.path(), vec![Arc::new(CountByAlert)]);
    assert_eq!(report.replayed, 0, "nothing is applied twice");
    assert_eq!(count(&ledger, "ALERT-1"), 3);
    fill(&ledger, 7, 1, 30);
    assert_eq!(count(&ledger, "ALERT-1"), 4);
    drop(ledger);
    let (ledger, report) = common::open_with(dir.path(), vec![Arc::new(CountByAlert)]);
    assert_eq!(report.replayed, 0);
    assert_eq!(count(&ledger, "ALERT-1"), 4);
}

/// The same count under a new name, as a version that changes a view's encoding registers it.
struct CountByAlertRenamed;

impl View for CountByAlertRenamed {
    fn name(&self) -> &str {
        "count-2"
    }

    fn apply(
        &self,
        index: u64,
        entry: &LedgerEntry,
        txn: &mut ViewTxn<'_>,
    ) -> Result<(), ViewError> {
        CountByAlert.apply(index, entry, txn)
    }
}

#[test]
fn a_renamed_view_is_rebuilt_from_the_segments_and_the_retired_one_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = common::open_with(dir.path(), vec![Arc::new(CountByAlert)]);
    fill(&ledger, 21, 1, 30);
    drop(ledger);
    let (ledger, report) = common::open_with(dir.path(), vec![Arc::new(CountByAlertRenamed)]);
    assert_eq!(report.replayed, 21, "the new view saw every entry");
    assert!(ledger.view_tree("count").is_none());
    let renamed = ledger.view_tree("count-2").unwrap();
    let n = renamed.get("ALERT-1").unwrap().unwrap();
    assert_eq!(u64::from_be_bytes(n.as_ref().try_into().unwrap()), 3);
    drop((renamed, ledger));
    // Had the old tree stayed, going back would find its marker and apply nothing.
    let (_, report) = common::open_with(dir.path(), vec![Arc::new(CountByAlert)]);
    assert_eq!(
        report.replayed, 21,
        "the retired view was dropped, so it is rebuilt whole"
    );
}

/// Copies a closed ledger's index, as it stood then.
fn copy_index(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_index(&e.path(), &target);
        } else {
            fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn torn_or_corrupt_last_record_is_cut_on_open_and_reported() {
    for damage in ["truncate", "flip"] {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, _) = common::open_with(dir.path(), vec![Arc::new(CountByAlert)]);
        fill(&ledger, 19, 1, 50);
        let root_at_19 = ledger.root_at(19).unwrap();
        drop(ledger);
        // The last batch is written and synced, but the node stops before its index records it.
        let before = tempfile::tempdir().unwrap();
        copy_index(&dir.path().join("index"), before.path());
        let (ledger, _) = common::open_with(dir.path(), vec![Arc::new(CountByAlert)]);
        fill(&ledger, 1, 1, 50);
        drop(ledger);
        fs::remove_dir_all(dir.path().join("index")).unwrap();
        copy_index(before.path(), &dir.path().join("index"));
        let seg = only_segment(dir.path());
        let len = fs::metadata(&seg).unwrap().len();
        let file = OpenOptions::new().write(true).open(&seg).unwrap();
        match damage {
            "truncate" => file.set_len(len - 30).unwrap(),
            _ => file.write_all_at(&[0xff], len - 150).unwrap(),
        }
        let (ledger, report) = common::open_with(dir.path(), vec![Arc::new(CountByAlert)]);
        let cut = report
            .truncated
            .clone()
            .expect("the damaged tail is reported");
        assert_eq!(cut.segment, seg);
        assert_eq!(report.size, 19, "{damage}");
        assert_eq!(ledger.latest_checkpoint().size(), 19);
        assert_eq!(ledger.root_at(19).unwrap(), root_at_19);
        assert_eq!(ledger.indexes_for_alert(b"ALERT-5").unwrap(), vec![5, 12]);
        assert_eq!(count(&ledger, "ALERT-5"), 2);
        fill(&ledger, 3, 3, 50);
        assert_eq!(ledger.size(), 22);
        drop(ledger);
        assert_eq!(verify_dir(dir.path(), None, |_| {}).unwrap().size, 22);
    }
}

#[test]
fn damage_to_a_last_frame_the_index_recorded_is_refused_not_cut() {
    for damage in ["truncate", "flip"] {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, _) = common::open(dir.path());
        fill(&ledger, 20, 1, 50);
        drop(ledger);
        let seg = only_segment(dir.path());
        let len = fs::metadata(&seg).unwrap().len();
        let file = OpenOptions::new().write(true).open(&seg).unwrap();
        match damage {
            "truncate" => file.set_len(len - 30).unwrap(),
            _ => file.write_all_at(&[0xff], len - 150).unwrap(),
        }
        let damaged = fs::read(&seg).unwrap();
        match Ledger::open(
            dir.path(),
            tulpar_ledger::LedgerOptions {
                origin: common::ORIGIN.to_owned(),
                signing_key: common::key(),
                earlier_keys: Vec::new(),
                views: vec![],
            },
        ) {
            Err(LedgerError::Corrupt { index, reason, .. }) => {
                assert_eq!(index, Some(19), "{damage}");
                assert!(reason.contains("not torn"), "{reason}");
            }
            other => panic!("{damage}: expected Corrupt, got {:?}", other.map(|_| ())),
        }
        assert_eq!(fs::read(&seg).unwrap(), damaged, "nothing is cut");
    }
}

#[test]
fn corruption_before_the_tail_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = common::open(dir.path());
    fill(&ledger, 30, 1, 100);
    drop(ledger);
    let seg = only_segment(dir.path());
    let buf = fs::read(&seg).unwrap();
    // Damage the payload of entry 13.
    let target = common::entry("ALERT-6", 100);
    let mut from = 0;
    let mut hits = Vec::new();
    use prost::Message;
    let needle = target.encode_to_vec();
    while let Some(p) = buf[from..].windows(needle.len()).position(|w| w == needle) {
        hits.push(from + p);
        from += p + 1;
    }
    // ALERT-6 is entries 6, 13, 20, 27.
    let file = OpenOptions::new().write(true).open(&seg).unwrap();
    file.write_all_at(&[0x00], (hits[1] + 20) as u64).unwrap();

    let err = verify_dir(dir.path(), None, |_| {}).unwrap_err();
    assert_eq!(err.index, Some(13), "{err}");
    assert_eq!(err.segment.as_deref(), Some(seg.as_path()));
    assert!(err.to_string().contains("entry 13"), "{err}");

    let err = Ledger::open(
        dir.path(),
        tulpar_ledger::LedgerOptions {
            origin: common::ORIGIN.to_owned(),
            signing_key: common::key(),
            earlier_keys: Vec::new(),
            views: vec![],
        },
    )
    .unwrap_err();
    match err {
        LedgerError::Corrupt { path, index, .. } => {
            assert_eq!(path, seg);
            assert_eq!(index, Some(13));
        }
        other => panic!("expected Corrupt, got {other}"),
    }
}

/// Rewrites entry bytes in place and fixes the record and frame checksums, as a forger would.
fn forge_record(seg: &Path, old: &[u8], new: &[u8]) {
    assert_eq!(old.len(), new.len());
    let mut buf = fs::read(seg).unwrap();
    let at = buf.windows(old.len()).position(|w| w == old).unwrap();
    buf[at..at + new.len()].copy_from_slice(new);
    buf[at - 4..at].copy_from_slice(&crc32fast::hash(new).to_le_bytes());
    // Walk frames to fix the checksum of the one holding the record.
    let mut off = 24;
    while off < buf.len() {
        let body_len = u32::from_le_bytes(buf[off + 4..off + 8].try_into().unwrap()) as usize;
        let end = off + 24 + body_len;
        if at < end {
            let mut h = crc32fast::Hasher::new();
            h.update(&buf[off + 4..off + 20]);
            h.update(&buf[off + 24..end]);
            let crc = h.finalize();
            buf[off + 20..off + 24].copy_from_slice(&crc.to_le_bytes());
            break;
        }
        off = end;
    }
    fs::write(seg, buf).unwrap();
}

#[test]
fn tampering_with_entries_checkpoints_or_hashes_is_detected() {
    use prost::Message;
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = common::open(dir.path());
    fill(&ledger, 16, 1, 40);
    let root = *ledger.latest_checkpoint().root();
    drop(ledger);
    let seg = only_segment(dir.path());

    // An entry rewritten with valid checksums: the signed root no longer matches.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), copy.path());
    let old = common::entry("ALERT-4", 40).encode_to_vec();
    let new = common::entry("ALERT-5", 40).encode_to_vec();
    forge_record(&only_segment(copy.path()), &old, &new);
    let err = verify_dir(copy.path(), None, |_| {}).unwrap_err();
    assert_eq!(err.index, Some(4), "{err}");
    assert!(
        err.reason.contains("does not match the signed checkpoint"),
        "{err}"
    );

    // A checkpoint note altered (size line) with valid checksums: its signature fails.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), copy.path());
    let root_b64 = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(root)
    };
    let old = format!("tulpar/KZ\n16\n{root_b64}\n");
    let new = format!("tulpar/KZ\n61\n{root_b64}\n");
    forge_record(&only_segment(copy.path()), old.as_bytes(), new.as_bytes());
    let err = verify_dir(copy.path(), None, |_| {}).unwrap_err();
    assert!(err.reason.contains("does not verify"), "{err}");

    // Another key in ledger.pub: every checkpoint is refused.
    let other = tulpar_core::keys::SigningKey::generate().unwrap();
    let err = verify_dir(dir.path(), Some(&[other.public_key()]), |_| {}).unwrap_err();
    assert!(err.reason.contains("no signature"), "{err}");

    // A Merkle hash altered in sled: proofs built from it no longer verify against the checkpoint.
    {
        let db = common::open_index(dir.path());
        let merkle = db.open_tree("merkle").unwrap();
        // Leaf hashes 0..16 share one key; zero the hash of leaf 3.
        let key = [0u8; 9];
        let mut tile = merkle.get(key).unwrap().unwrap().to_vec();
        tile[3 * 32..4 * 32].fill(0);
        merkle.insert(key, tile).unwrap();
        db.flush().unwrap();
    }
    let (ledger, _) = common::open(dir.path());
    let cp = ledger.latest_checkpoint();
    let proof = ledger.inclusion_proof(2, 16).unwrap();
    let hashes: Vec<[u8; 32]> = proof
        .hashes
        .iter()
        .map(|h| h.as_slice().try_into().unwrap())
        .collect();
    let leaf = leaf_hash(&ledger.entry_bytes(2).unwrap());
    assert!(verify_inclusion(2, 16, &leaf, &hashes, cp.root()).is_err());
    drop(ledger);
    // The offline verifier does not read sled, so the segments still verify.
    verify_dir(dir.path(), None, |_| {}).unwrap();
    let _ = seg;
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to.join("segments")).unwrap();
    fs::copy(from.join("ledger.pub"), to.join("ledger.pub")).unwrap();
    for e in fs::read_dir(from.join("segments")).unwrap() {
        let p = e.unwrap().path();
        fs::copy(&p, to.join("segments").join(p.file_name().unwrap())).unwrap();
    }
}

#[test]
fn a_different_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(common::open(dir.path()));
    let err = Ledger::open(
        dir.path(),
        tulpar_ledger::LedgerOptions {
            origin: common::ORIGIN.to_owned(),
            signing_key: tulpar_core::keys::SigningKey::generate().unwrap(),
            earlier_keys: Vec::new(),
            views: vec![],
        },
    )
    .unwrap_err();
    assert!(matches!(err, LedgerError::KeyMismatch { .. }), "{err}");
}

#[test]
fn concurrent_appends_are_group_committed() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = common::open(dir.path());
    let mut indexes = fill(&ledger, 300, 300, 200);
    indexes.sort_unstable();
    assert_eq!(indexes, (0..300).collect::<Vec<_>>());
    let checkpoints = (1..=300)
        .filter(|n| ledger.checkpoint_at(*n).unwrap().is_some())
        .count();
    assert!(
        checkpoints < 300,
        "one checkpoint per batch, got {checkpoints}"
    );
    drop(ledger);
    let mut seen = Vec::new();
    let report = verify_dir(dir.path(), None, |p| seen.push(p.entries)).unwrap();
    assert_eq!(report.size, 300);
    assert_eq!(seen.last(), Some(&300));
}

#[test]
fn append_all_commits_its_entries_together_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = common::open(dir.path());
    let rt = common::runtime();
    let many = |tag: &str, n: usize| {
        (0..n)
            .map(|i| common::entry(&format!("{tag}-{i}"), 100))
            .collect::<Vec<_>>()
    };
    // Several multi-entry appends racing single ones: each call's entries stay consecutive.
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let ledger = ledger.clone();
            let entries = many(&format!("T{t}"), 1 + t * 10);
            rt.spawn(async move {
                let single = ledger.append(common::entry(&format!("S{t}"), 50));
                let (all, one) = tokio::join!(ledger.append_all(entries), single);
                (all.unwrap(), one.unwrap())
            })
        })
        .collect();
    let mut total = 0;
    for (t, task) in tasks.into_iter().enumerate() {
        let (all, _) = rt.block_on(task).unwrap();
        assert_eq!(all.len(), 1 + t * 10);
        total += all.len() + 1;
        let first = all[0].index;
        for (k, appended) in all.iter().enumerate() {
            assert_eq!(appended.index, first + k as u64);
            assert_eq!(appended.checkpoint, all[0].checkpoint);
            assert!(appended.checkpoint.size() > appended.index);
            assert_eq!(
                ledger.entry(appended.index).unwrap().alert_id,
                format!("T{t}-{k}")
            );
        }
    }
    assert_eq!(ledger.size(), total as u64);
    assert!(
        rt.block_on(ledger.append_all(Vec::new()))
            .unwrap()
            .is_empty()
    );
    let too_many = many("X", tulpar_ledger::MAX_APPEND_ENTRIES + 1);
    assert!(matches!(
        rt.block_on(ledger.append_all(too_many)),
        Err(LedgerError::TooManyEntries { .. })
    ));
    assert_eq!(ledger.size(), total as u64);
    drop(ledger);
    assert_eq!(
        verify_dir(dir.path(), None, |_| {}).unwrap().size,
        total as u64
    );
}

#[test]
fn verifies_while_the_ledger_is_open_and_appending() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = common::open(dir.path());
    fill(&ledger, 50, 1, 100);
    let rt = common::runtime();
    let writer = {
        let ledger = ledger.clone();
        rt.spawn(async move {
            for i in 0..400 {
                ledger
                    .append(common::entry(&format!("live-{i}"), 500))
                    .await
                    .unwrap();
            }
        })
    };
    let mut last = 0;
    while !writer.is_finished() {
        let report = verify_dir(dir.path(), None, |_| {}).unwrap();
        assert!(report.size >= last);
        // The segments may hold a batch the ledger has not published yet; up to what it has, the
        // stored tree the proofs come from agrees with the checkpoints the verifier checked.
        let size = report.size.min(ledger.size());
        if size > 0 {
            let checkpoint = ledger.checkpoint_at(size).unwrap().unwrap();
            assert_eq!(&ledger.root_at(size).unwrap(), checkpoint.root());
        }
        last = report.size;
    }
    rt.block_on(writer).unwrap();
    assert_eq!(verify_dir(dir.path(), None, |_| {}).unwrap().size, 450);
}

#[test]
fn entries_within_a_byte_budget_return_at_least_one_and_read_on_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = common::open(dir.path());
    // Entries of about 1,000 bytes, some committed together in one frame.
    fill(&ledger, 20, 1, 1000);
    fill(&ledger, 20, 5, 1000);
    let size = ledger.size();
    let mut next = 0;
    let mut seen = Vec::new();
    while next < size {
        let page = ledger.entries_within(next..size, 3500).unwrap();
        assert!(!page.is_empty(), "an empty page at {next}");
        assert!(page.len() <= 3, "{} entries in 3,500 bytes", page.len());
        next = page.last().unwrap().0 + 1;
        seen.extend(page);
    }
    assert_eq!(seen, ledger.entries(0..size).unwrap());
    // An entry larger than the budget still comes, alone.
    let one = ledger.entries_within(3..size, 10).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].0, 3);
    assert!(ledger.entries_within(5..5, 10).unwrap().is_empty());
    assert!(matches!(
        ledger.entries_within(0..size + 1, 10),
        Err(LedgerError::BadRange(_))
    ));
}

/// A full disk: the writes of three batches fail after writing half their frame. Each appender is
/// told the ledger cannot write, nothing of the failed batches is kept, the ledger reports itself
/// unwritable, and the next append succeeds without reopening, right after the last good entry.
#[test]
fn appends_resume_after_failed_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = common::open(dir.path());
    let rt = common::runtime();
    let before = fill(&ledger, 5, 1, 100);
    let writable = ledger.writable();
    assert!(*writable.borrow());

    ledger.fail_next_writes(3);
    for k in 0..3 {
        let refused = rt
            .block_on(ledger.append(common::entry(&format!("LOST-{k}"), 3000)))
            .unwrap_err();
        assert!(matches!(refused, LedgerError::Unwritable(_)), "{refused:?}");
        assert!(
            !*writable.borrow(),
            "the ledger still reports itself writable"
        );
        assert_eq!(ledger.size(), 5);
    }

    let appended = rt
        .block_on(ledger.append(common::entry("AFTER", 100)))
        .unwrap();
    assert_eq!(appended.index, 5);
    assert!(*writable.borrow());
    assert_eq!(ledger.entry(5).unwrap().alert_id, "AFTER");
    for (k, index) in before.iter().enumerate() {
        assert_eq!(
            ledger.entry(*index).unwrap().alert_id,
            format!("ALERT-{}", k % 7)
        );
    }
    drop(ledger);

    // No half frame was left behind: the ledger reopens without cutting anything and verifies.
    let (reopened, report) = common::open(dir.path());
    assert!(report.truncated.is_none(), "{report:?}");
    assert_eq!(reopened.size(), 6);
    drop(reopened);
    assert_eq!(verify_dir(dir.path(), None, |_| {}).unwrap().size, 6);
}

#[test]
fn an_index_rebuilt_from_the_segments_gives_the_same_proofs_and_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = common::open(dir.path());
    // Batches of several sizes, so that frames and Merkle tiles end at every kind of boundary.
    for batch in [1, 3, 16, 5, 33, 2, 17, 64, 1, 7, 300] {
        fill(&ledger, batch * 3, batch, 20);
    }
    let size = ledger.size();
    let before = what_the_index_answers(&ledger);
    drop(ledger);
    fs::remove_dir_all(dir.path().join("index")).unwrap();
    let (ledger, report) = common::open(dir.path());
    assert_eq!(report.replayed, size);
    let after = what_the_index_answers(&ledger);
    assert_eq!(before.len(), after.len());
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a);
    }
}

/// Roots, checkpoints, proofs, entries and alert indexes, as text, across the ledger's sizes.
fn what_the_index_answers(ledger: &Ledger) -> Vec<String> {
    let size = ledger.size();
    let mut seen = Vec::new();
    for new in (1..=size).step_by(7).chain([size]) {
        seen.push(format!("root {new} {:?}", ledger.root_at(new).unwrap()));
        seen.push(format!("cp {new} {:?}", ledger.checkpoint_at(new).unwrap()));
        for old in (1..=new).step_by(29) {
            seen.push(format!(
                "{old}->{new} {:?}",
                ledger.consistency_proof(old, new).unwrap()
            ));
        }
        for leaf in (0..new).step_by(31) {
            seen.push(format!(
                "{leaf}@{new} {:?}",
                ledger.inclusion_proof(leaf, new).unwrap()
            ));
        }
    }
    seen.push(format!("{:?}", ledger.entries_bytes(0..size).unwrap()));
    for alert in 0..7 {
        let id = format!("ALERT-{alert}");
        seen.push(format!(
            "{id} {:?}",
            ledger.indexes_for_alert(id.as_bytes()).unwrap()
        ));
    }
    seen
}

#[test]
fn an_index_in_the_earlier_layout_is_rebuilt_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = common::open(dir.path());
    fill(&ledger, 150, 1, 20);
    fill(&ledger, 90, 30, 20);
    let size = ledger.size();
    let before = what_the_index_answers(&ledger);
    drop(ledger);
    // Earlier versions kept Merkle nodes in tiles of 16, one key per alert entry, and no layout.
    {
        let db = common::open_index(dir.path());
        let meta = db.open_tree("meta").unwrap();
        assert!(meta.remove(b"layout").unwrap().is_some());
        let merkle = db.open_tree("merkle").unwrap();
        let tiles: Vec<_> = merkle.iter().map(Result::unwrap).collect();
        merkle.clear().unwrap();
        for (key, value) in tiles {
            let tile = u64::from_be_bytes(key[1..].try_into().unwrap());
            for (k, nodes) in value.chunks(16 * 32).enumerate() {
                let mut old = key[..1].to_vec();
                old.extend_from_slice(&(tile * 4 + k as u64).to_be_bytes());
                merkle.insert(old, nodes).unwrap();
            }
        }
        let alerts = db.open_tree("alerts").unwrap();
        let chunks: Vec<_> = alerts.iter().map(Result::unwrap).collect();
        alerts.clear().unwrap();
        for (key, value) in chunks {
            for index in value.chunks(8) {
                let mut old = key[..key.len() - 4].to_vec();
                old.extend_from_slice(index);
                alerts.insert(old, &[][..]).unwrap();
            }
        }
        db.flush().unwrap();
    }
    let (ledger, report) = common::open(dir.path());
    assert_eq!(report.replayed, size, "the index was rebuilt");
    assert_eq!(what_the_index_answers(&ledger), before);
    drop(ledger);
    let (ledger, report) = common::open(dir.path());
    assert_eq!(report.replayed, 0, "and kept in this layout");
    assert_eq!(what_the_index_answers(&ledger), before);
}
