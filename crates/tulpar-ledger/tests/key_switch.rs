//! A ledger whose signing key changes: while open, and between closing and reopening.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;

use tulpar_core::keys::{PublicKey, SigningKey};
use tulpar_ledger::{
    EARLIER_KEYS_FILE, Ledger, LedgerError, LedgerOptions, PUBLIC_KEY_FILE, read_dir_keys,
    verify_dir,
};

fn open(dir: &Path, key: &SigningKey, earlier: &[PublicKey]) -> Result<Ledger, LedgerError> {
    Ledger::open(
        dir,
        LedgerOptions {
            origin: common::ORIGIN.to_owned(),
            signing_key: SigningKey::from_pem(&key.to_pem()).unwrap(),
            earlier_keys: earlier.to_vec(),
            views: vec![],
        },
    )
    .map(|(ledger, _)| ledger)
}

fn append(ledger: &Ledger, rt: &tokio::runtime::Runtime, n: usize) {
    for i in 0..n {
        rt.block_on(ledger.append(common::entry(&format!("A-{i}"), 10)))
            .unwrap();
    }
}

#[test]
fn checkpoints_signed_by_each_key_keep_verifying() {
    let rt = common::runtime();
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        SigningKey::generate().unwrap(),
        SigningKey::generate().unwrap(),
        SigningKey::generate().unwrap(),
    );

    // Key A, then B while the ledger is open.
    let ledger = open(dir.path(), &a, &[]).unwrap();
    append(&ledger, &rt, 3);
    let under_a = ledger.latest_checkpoint();
    assert!(
        ledger
            .switch_key(SigningKey::from_pem(&b.to_pem()).unwrap())
            .unwrap()
    );
    assert!(
        !ledger
            .switch_key(SigningKey::from_pem(&b.to_pem()).unwrap())
            .unwrap(),
        "switching to the key in use changes nothing"
    );
    assert_eq!(ledger.public_key(), b.public_key());
    assert_eq!(ledger.signing_key().public_key(), b.public_key());
    append(&ledger, &rt, 2);
    let under_b = ledger.latest_checkpoint();
    assert!(under_b.note().contains(&format!("— {}", common::ORIGIN)));
    tulpar_ledger::SignedCheckpoint::verify(under_b.note(), None, &b.public_key()).unwrap();
    tulpar_ledger::SignedCheckpoint::verify(under_a.note(), None, &a.public_key()).unwrap();
    assert_eq!(
        ledger.checkpoint_at(3).unwrap().unwrap(),
        under_a,
        "an earlier checkpoint reads back under the key that signed it"
    );
    assert_eq!(ledger.checkpoint_keys(), [b.public_key(), a.public_key()]);
    drop(ledger);
    assert_eq!(
        read_dir_keys(dir.path()).unwrap(),
        [b.public_key(), a.public_key()]
    );
    assert_eq!(verify_dir(dir.path(), None, |_| {}).unwrap().size, 5);

    // Reopened with B: clean, and B signs on.
    let ledger = open(dir.path(), &b, &[a.public_key()]).unwrap();
    append(&ledger, &rt, 1);
    drop(ledger);

    // Key C given while stopped, B being named by the directory: the switch happens on opening.
    let ledger = open(dir.path(), &c, &[a.public_key(), b.public_key()]).unwrap();
    assert_eq!(
        ledger.checkpoint_keys(),
        [c.public_key(), b.public_key(), a.public_key()]
    );
    append(&ledger, &rt, 2);
    drop(ledger);
    let report = verify_dir(dir.path(), None, |_| {}).unwrap();
    assert_eq!(report.size, 8);
    assert_eq!(
        fs::read_to_string(dir.path().join(PUBLIC_KEY_FILE)).unwrap(),
        c.public_key().to_pem()
    );
    // Explicit keys: all three verify the ledger.
    verify_dir(
        dir.path(),
        Some(&[a.public_key(), b.public_key(), c.public_key()]),
        |_| {},
    )
    .unwrap();
}

#[test]
fn a_checkpoint_under_a_key_not_listed_is_refused() {
    let rt = common::runtime();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        SigningKey::generate().unwrap(),
        SigningKey::generate().unwrap(),
    );
    let ledger = open(dir.path(), &a, &[]).unwrap();
    append(&ledger, &rt, 2);
    ledger
        .switch_key(SigningKey::from_pem(&b.to_pem()).unwrap())
        .unwrap();
    append(&ledger, &rt, 2);
    drop(ledger);

    // Only the new key given: the first batch, signed by A, fails, naming it.
    let err = verify_dir(dir.path(), Some(&[b.public_key()]), |_| {}).unwrap_err();
    assert_eq!(err.index, Some(0), "{err}");
    assert!(err.reason.contains("no signature"), "{err}");

    // The record of the earlier key lost: A is no longer listed, and its checkpoints fail.
    fs::remove_file(dir.path().join(EARLIER_KEYS_FILE)).unwrap();
    let err = verify_dir(dir.path(), None, |_| {}).unwrap_err();
    assert_eq!(err.index, Some(0), "{err}");

    // A key the directory does not name is refused on opening, and nothing changes.
    let c = SigningKey::generate().unwrap();
    let err = open(dir.path(), &c, &[a.public_key()]).unwrap_err();
    assert!(matches!(err, LedgerError::KeyMismatch { .. }), "{err}");
    assert_eq!(
        fs::read_to_string(dir.path().join(PUBLIC_KEY_FILE)).unwrap(),
        b.public_key().to_pem()
    );
}

#[test]
fn a_ledger_stopped_before_its_key_changed_reopens_under_the_new_key() {
    let rt = common::runtime();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        SigningKey::generate().unwrap(),
        SigningKey::generate().unwrap(),
    );
    let ledger = open(dir.path(), &a, &[]).unwrap();
    append(&ledger, &rt, 3);
    drop(ledger);
    // Its last checkpoint was signed by A: it verifies on opening under B, A being named.
    let ledger = open(dir.path(), &b, &[a.public_key()]).unwrap();
    assert_eq!(ledger.size(), 3);
    append(&ledger, &rt, 1);
    drop(ledger);
    assert_eq!(verify_dir(dir.path(), None, |_| {}).unwrap().size, 4);
}
