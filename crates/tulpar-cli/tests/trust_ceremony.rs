//! The key ceremony and trust commands, run as a real `tulpar` process.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

use std::path::Path;
use std::process::{Command, Output};

fn tulpar(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tulpar"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn ok(args: &[&str], cwd: &Path) -> String {
    let out = tulpar(args, cwd);
    assert!(
        out.status.success(),
        "tulpar {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn refused(args: &[&str], cwd: &Path) -> String {
    let out = tulpar(args, cwd);
    assert!(!out.status.success(), "tulpar {args:?} should have failed");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn two_countries_pin_each_other_and_a_wrong_fingerprint_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let kz_fp = ok(
        &[
            "init",
            "--country",
            "KZ",
            "--units",
            "KZ-AKTAU-PCU,KZ-ALTYNKOL-PCU",
            "--endpoint",
            "127.0.0.1:7443",
            "--out",
            "kz",
        ],
        dir,
    );
    let uz_fp = ok(
        &[
            "init",
            "--country",
            "UZ",
            "--units",
            "UZ-TASHKENT-PCU",
            "--endpoint",
            "uz-node.example:7443",
            "--out",
            "uz",
        ],
        dir,
    );
    assert_eq!(kz_fp.len(), 64);
    assert_ne!(kz_fp, uz_fp);
    for path in [
        "kz/offline/root.key",
        "kz/offline/tls-ca.key",
        "kz/public/root.pub",
        "kz/public/directory.env",
        "kz/public/tls-ca.crt",
        "kz/node/node.crt",
        "kz/node/node.key",
        "kz/node/tls-ca.crt",
        "kz/node/ledger.key",
        "kz/node/units/KZ-AKTAU-PCU.key",
        "kz/node/units/KZ-ALTYNKOL-PCU.key",
    ] {
        assert!(dir.join(path).is_file(), "{path}");
    }
    assert!(dir.join("kz/node/trust").is_dir());

    // Running the ceremony again over existing files is refused and changes nothing.
    let before = std::fs::read(dir.join("kz/offline/root.key")).unwrap();
    let err = refused(
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
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(
        std::fs::read(dir.join("kz/offline/root.key")).unwrap(),
        before
    );

    // A fingerprint read out wrongly (here: UZ's, for KZ's key) is refused, and nothing is pinned.
    let err = refused(
        &[
            "trust",
            "add",
            "--store",
            "uz/node/trust",
            "--country",
            "KZ",
            "--root-key",
            "kz/public/root.pub",
            "--fingerprint",
            &uz_fp,
            "--directory",
            "kz/public/directory.env",
        ],
        dir,
    );
    assert!(err.contains("rule fingerprint"), "{err}");
    assert!(!dir.join("uz/node/trust/KZ").exists());

    ok(
        &[
            "trust",
            "add",
            "--store",
            "uz/node/trust",
            "--country",
            "KZ",
            "--root-key",
            "kz/public/root.pub",
            "--fingerprint",
            &kz_fp,
            "--directory",
            "kz/public/directory.env",
        ],
        dir,
    );
    ok(
        &[
            "trust",
            "add",
            "--store",
            "kz/node/trust",
            "--country",
            "UZ",
            "--root-key",
            "uz/public/root.pub",
            "--fingerprint",
            &uz_fp,
            "--directory",
            "uz/public/directory.env",
        ],
        dir,
    );
    assert!(dir.join("uz/node/trust/KZ/root.pub").is_file());
    assert!(dir.join("uz/node/trust/KZ/directory.env").is_file());
    let list = ok(&["trust", "list", "--store", "kz/node/trust"], dir);
    assert!(
        list.contains("UZ") && list.contains("uz-node.example:7443"),
        "{list}"
    );

    // KZ changes its directory (new unit, rotated root); UZ takes the update under the same pin,
    // and refuses the old version afterwards.
    ok(
        &[
            "directory",
            "add-unit",
            "--dir",
            "kz",
            "--unit",
            "KZ-KURYK-PCU",
        ],
        dir,
    );
    ok(&["directory", "rotate-root", "--dir", "kz"], dir);
    // Rotation keeps the old root's public key beside the new one.
    let old_root = format!("kz/public/root-{}.pub", &kz_fp[..16]);
    ok(
        &[
            "trust",
            "add",
            "--store",
            "uz/node/trust",
            "--country",
            "KZ",
            "--root-key",
            &old_root,
            "--fingerprint",
            &kz_fp,
            "--directory",
            "kz/public/directory.env",
        ],
        dir,
    );
    let list = ok(&["trust", "list", "--store", "uz/node/trust"], dir);
    assert!(
        list.contains(&kz_fp[..16]) && list.contains("      3 "),
        "{list}"
    );
    let show = ok(&["directory", "show", "--dir", "kz"], dir);
    assert!(show.contains("KZ-KURYK-PCU"), "{show}");

    // Client certificates for the national API.
    let cert = ok(
        &[
            "cert",
            "issue",
            "--dir",
            "kz",
            "--role",
            "officer",
            "--subject",
            "KZ-AKTAU-PCU",
            "--out",
            "certs",
        ],
        dir,
    );
    assert!(dir.join(&cert).is_file());
    let err = refused(
        &[
            "cert",
            "issue",
            "--dir",
            "kz",
            "--role",
            "officer",
            "--subject",
            "UZ-TASHKENT-PCU",
            "--out",
            "certs",
        ],
        dir,
    );
    assert!(err.contains("must be a unit id of KZ"), "{err}");
}
