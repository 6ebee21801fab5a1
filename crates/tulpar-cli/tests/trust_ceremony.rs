//! The key ceremony and trust commands, run as a real `tulpar` process.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

use std::path::Path;

mod common;

use common::{ok, refused};

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

    // The node folders work as they are: UZ's node dials KZ's (at 127.0.0.1, the host in KZ's
    // certificate) over mutual TLS, and each side names the other's country.
    let (uz_seen_by_kz, kz_seen_by_uz) = handshake(&dir.join("kz/node"), &dir.join("uz/node"));
    assert_eq!(uz_seen_by_kz, "UZ");
    assert_eq!(kz_seen_by_uz, "KZ");

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

/// One TLS handshake on loopback between the node folders `server` and `client`; returns the
/// country each side saw in the other's certificate.
fn handshake(server: &Path, client: &Path) -> (String, String) {
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tulpar_core::time::SystemClock;
    use tulpar_trust::TrustStore;
    use tulpar_trust::tls::{self, NodeIdentity};

    let open = |node: &Path| {
        let identity = NodeIdentity::load(node).unwrap();
        let store = Arc::new(TrustStore::open(&node.join("trust"), Arc::new(SystemClock)).unwrap());
        (identity, store)
    };
    let (server_id, server_store) = open(server);
    let (client_id, client_store) = open(client);
    let server_config = tls::federation_server_config(&server_id, server_store.clone()).unwrap();
    let client_config =
        tls::federation_client_config(&client_id, client_store.clone(), server_id.country())
            .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = tokio_rustls::TlsAcceptor::from(server_config)
                .accept(tcp)
                .await
                .unwrap();
            let peer = tls.get_ref().1.peer_certificates().unwrap().to_vec();
            let country = server_store.peer_country(&peer).unwrap();
            tls.write_all(b"k").await.unwrap();
            tls.shutdown().await.unwrap();
            country.to_string()
        });
        let connect = async {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
            let mut tls = tokio_rustls::TlsConnector::from(client_config)
                .connect(name, tcp)
                .await
                .unwrap();
            let mut byte = [0u8; 1];
            tls.read_exact(&mut byte).await.unwrap();
            let peer = tls.get_ref().1.peer_certificates().unwrap().to_vec();
            client_store.peer_country(&peer).unwrap().to_string()
        };
        let bound = std::time::Duration::from_secs(10);
        let seen_by_client = tokio::time::timeout(bound, connect).await.unwrap();
        let seen_by_server = tokio::time::timeout(bound, accept).await.unwrap().unwrap();
        (seen_by_server, seen_by_client)
    })
}
