//! What `tulpar init` gives a node (a certificate for every address it is dialled at, its
//! configuration, the ledger key in `public/`), renewing the node certificate for new names, and the
//! offline keys taken from a folder of the operator's choice, run as a real `tulpar` process.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tulpar_trust::tls::{cert_from_pem, host_names};

mod common;

use common::{ok, refused};

fn names(cert: &Path) -> Vec<String> {
    host_names(&cert_from_pem(&std::fs::read_to_string(cert).unwrap()).unwrap()).unwrap()
}

fn init(dir: &Path) {
    ok(
        &[
            "init",
            "--country",
            "KZ",
            "--units",
            "KZ-AKTAU-PCU",
            "--federation",
            "pcu-mou.example",
            "--endpoint",
            "10.10.0.2:7443",
            "--client-api",
            "10.10.1.2:7400",
            "--host",
            "tulpar.customs.kz",
            "--out",
            "kz",
        ],
        dir,
    );
}

#[test]
fn init_names_every_address_in_the_certificate_and_the_configuration() {
    let tmp = tempfile::tempdir().unwrap();
    init(tmp.path());
    let kz = tmp.path().join("kz");
    assert_eq!(
        names(&kz.join("node/node.crt")),
        ["10.10.0.2", "10.10.1.2", "tulpar.customs.kz"]
    );
    let config = tulpar_config::Config::load(&kz.join("node.toml")).unwrap();
    assert_eq!(config.country.as_str(), "KZ");
    assert_eq!(config.federation.name, "pcu-mou.example");
    assert_eq!(config.federation.listen.to_string(), "10.10.0.2:7443");
    assert_eq!(config.client_api.listen.to_string(), "10.10.1.2:7400");
    assert_eq!(config.tls.certificate, kz.join("node/node.crt"));

    // The ledger key partners and auditors check checkpoints with is public from the ceremony on,
    // and it is the node ledger key the directory names.
    let public = tulpar_trust::keyfile::read_public_key(&kz.join("public/ledger.pub")).unwrap();
    let private = tulpar_trust::keyfile::read_private_key(&kz.join("node/ledger.key")).unwrap();
    assert_eq!(public, private.public_key());
}

#[test]
fn a_node_certificate_is_reissued_for_new_names_from_the_offline_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init(dir);
    // The offline keys leave the ceremony folder, for a removable drive.
    std::fs::rename(dir.join("kz/offline"), dir.join("usb")).unwrap();
    let before = std::fs::read(dir.join("kz/node/node.key")).unwrap();

    let error = refused(&["cert", "renew", "--dir", "kz"], dir);
    assert!(
        error.contains("kz/offline/tls-ca.key") && error.contains("--offline"),
        "{error}"
    );
    let error = refused(
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
    assert!(error.contains("--offline"), "{error}");
    let error = refused(&["directory", "publish", "--dir", "kz"], dir);
    assert!(
        error.contains("kz/offline/root.key") && error.contains("--offline"),
        "{error}"
    );

    ok(
        &[
            "directory",
            "publish",
            "--dir",
            "kz",
            "--offline",
            "usb",
            "--endpoint",
            "kz-node.customs.example:7443",
        ],
        dir,
    );
    ok(
        &[
            "cert",
            "renew",
            "--dir",
            "kz",
            "--offline",
            "usb",
            "--host",
            "10.10.9.9",
        ],
        dir,
    );
    assert_eq!(
        names(&dir.join("kz/node/node.crt")),
        [
            "kz-node.customs.example",
            "10.10.0.2",
            "10.10.1.2",
            "tulpar.customs.kz",
            "10.10.9.9"
        ]
    );
    let key = dir.join("kz/node/node.key");
    assert_ne!(std::fs::read(&key).unwrap(), before, "a new key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The new certificate and key belong together and chain to the country's CA.
    let identity = tulpar_trust::tls::NodeIdentity::from_pem(
        &std::fs::read_to_string(dir.join("kz/node/node.crt")).unwrap(),
        &std::fs::read_to_string(&key).unwrap(),
    )
    .unwrap();
    assert_eq!(identity.country().as_str(), "KZ");

    let officer = ok(
        &[
            "cert",
            "issue",
            "--dir",
            "kz",
            "--offline",
            "usb",
            "--role",
            "officer",
            "--subject",
            "KZ-AKTAU-PCU",
            "--out",
            "certs",
        ],
        dir,
    );
    assert!(officer.ends_with("KZ-AKTAU-PCU.officer.crt"), "{officer}");
}
