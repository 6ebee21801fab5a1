//! `tulpar ledger verify` on a good and a damaged ledger.
#![allow(missing_docs, clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::FileExt;
use std::process::Command;

use tulpar_core::keys::SigningKey;
use tulpar_ledger::{Ledger, LedgerOptions};
use tulpar_proto::v1::LedgerEntry;

#[test]
fn verify_reports_ok_then_names_the_damaged_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = Ledger::open(
        dir.path(),
        LedgerOptions {
            origin: "tulpar/KZ".to_owned(),
            signing_key: SigningKey::generate().unwrap(),
            earlier_keys: Vec::new(),
            views: vec![],
        },
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for i in 0..5 {
        let entry = LedgerEntry {
            alert_id: format!("A-{i}"),
            ..Default::default()
        };
        rt.block_on(ledger.append(entry)).unwrap();
    }
    drop(ledger);

    let out = Command::new(env!("CARGO_BIN_EXE_tulpar"))
        .args(["ledger", "verify"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("ok: 5 entries"), "{stdout}");
    assert!(stdout.contains("tulpar/KZ\n5\n"), "{stdout}");

    let seg = fs::read_dir(dir.path().join("segments"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let buf = fs::read(&seg).unwrap();
    let at = buf.windows(3).position(|w| w == b"A-2").unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .write_all_at(b"Z", at as u64)
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tulpar"))
        .args(["ledger", "verify"])
        .arg(dir.path())
        .arg("--pubkey")
        .arg(dir.path().join("ledger.pub"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("entry 2"), "{stderr}");
}
