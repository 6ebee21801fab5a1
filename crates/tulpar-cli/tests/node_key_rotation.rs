//! `tulpar directory rotate-node-key` with the offline keys on a removable drive, run as a real
//! `tulpar` process.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

use std::path::Path;

mod common;

use common::{ok, refused};

fn read_pub(path: &Path) -> tulpar_core::keys::PublicKey {
    tulpar_trust::keyfile::read_public_key(path).unwrap()
}

#[test]
fn a_node_key_is_staged_and_named_in_the_next_directory_version() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(
        &[
            "init",
            "--country",
            "KZ",
            "--units",
            "KZ-AKTAU-PCU",
            "--endpoint",
            "127.0.0.1:7443",
            "--out",
            "kz",
        ],
        dir,
    );
    std::fs::rename(dir.join("kz/offline"), dir.join("usb")).unwrap();
    let old = read_pub(&dir.join("kz/public/ledger.pub"));
    let version = std::fs::read(dir.join("kz/public/directory.env")).unwrap();

    // Without the offline keys: refused, naming where they were looked for; nothing changes.
    let error = refused(&["directory", "rotate-node-key", "--dir", "kz"], dir);
    assert!(
        error.contains("kz/offline/root.key") && error.contains("--offline"),
        "{error}"
    );
    assert!(!dir.join("kz/node/ledger.key.next").exists());
    assert_eq!(
        std::fs::read(dir.join("kz/public/directory.env")).unwrap(),
        version
    );

    let id = ok(
        &[
            "directory",
            "rotate-node-key",
            "--dir",
            "kz",
            "--offline",
            "usb",
        ],
        dir,
    );
    let staged = tulpar_trust::keyfile::read_private_key(&dir.join("kz/node/ledger.key.next"))
        .expect("the new key is staged, mode 0600");
    assert_eq!(staged.key_id().to_string(), id);
    // The key in use stays until the node takes up the staged one.
    let in_use = tulpar_trust::keyfile::read_private_key(&dir.join("kz/node/ledger.key")).unwrap();
    assert_eq!(in_use.public_key(), old);
    assert_eq!(
        read_pub(&dir.join("kz/public/ledger.pub")),
        staged.public_key()
    );
    assert_eq!(
        read_pub(&dir.join(format!("kz/public/ledger-{}.pub", old.key_id().short()))),
        old
    );

    // The new version names both keys: the old one closed, the new one from the switch time on.
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&["directory", "show", "--dir", "kz"], dir)).unwrap();
    let keys = shown["nodeKeys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{shown}");
    assert_eq!(keys[0]["keyId"], old.key_id().to_string());
    assert_eq!(keys[1]["keyId"], id);
    assert!(
        !keys[0]["validUntil"].is_null(),
        "the old key is closed: {shown}"
    );
}
