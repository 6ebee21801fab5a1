//! Helpers shared by the ledger's integration tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use tulpar_core::keys::SigningKey;
use tulpar_ledger::{Ledger, LedgerOptions, OpenReport, View};
use tulpar_proto::v1::{LedgerEntry, TrustPinned, ledger_entry::Kind};

/// The origin every test ledger uses.
pub const ORIGIN: &str = "tulpar/KZ";

/// A deterministic test key, so a ledger can be reopened with the same key.
pub fn key() -> SigningKey {
    // PKCS#8 v1 Ed25519 key with a fixed seed.
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&[42u8; 32]);
    SigningKey::from_pkcs8_der(&der).unwrap()
}

/// Opens the ledger in `dir` with the test key and `views`.
pub fn open_with(dir: &Path, views: Vec<Arc<dyn View>>) -> (Ledger, OpenReport) {
    Ledger::open(
        dir,
        LedgerOptions {
            origin: ORIGIN.to_owned(),
            signing_key: key(),
            earlier_keys: Vec::new(),
            views,
        },
    )
    .unwrap()
}

/// Opens the ledger in `dir` with the test key and no views.
pub fn open(dir: &Path) -> (Ledger, OpenReport) {
    open_with(dir, Vec::new())
}

/// Opens a closed ledger's index directly with sled. sled's own threads let go of its lock a
/// moment after the ledger is dropped, so a lock still held is waited out, for up to five seconds.
pub fn open_index(dir: &Path) -> sled::Db {
    let path = dir.join("index");
    for _ in 0..100 {
        match sled::open(&path) {
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other.unwrap(),
        }
    }
    sled::open(&path).unwrap()
}

/// An entry about `alert_id` whose encoding is about `pad` bytes long.
pub fn entry(alert_id: &str, pad: usize) -> LedgerEntry {
    LedgerEntry {
        recorded_at: None,
        alert_id: alert_id.to_owned(),
        kind: Some(Kind::TrustPinned(TrustPinned {
            country: "UZ".to_owned(),
            root_public_key: vec![7u8; pad],
            pinned_by: "test".to_owned(),
        })),
    }
}

/// A runtime for tests and child processes.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
