//! Real TLS 1.3 handshakes on loopback between nodes built from the key ceremony.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{DAY, TestCountry, store_with};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tulpar_core::codes::CountryCode;
use tulpar_trust::TrustStore;
use tulpar_trust::directory::verify_directory;
use tulpar_trust::draft::{DEFAULT_VALIDITY, DirectoryDraft};
use tulpar_trust::tls::{
    self, NodeIdentity, Role, federation_client_config, federation_server_config,
};

const BOUND: Duration = Duration::from_secs(10);

/// Outcome of one handshake: what the server concluded about the client, and whether the client got
/// through.
struct Outcome {
    server: Result<CountryCode, String>,
    client: Result<(), String>,
}

async fn handshake(
    server_identity: &NodeIdentity,
    server_store: Arc<TrustStore>,
    client_identity: &NodeIdentity,
    client_store: Arc<TrustStore>,
    dial: CountryCode,
) -> Outcome {
    let server_config = federation_server_config(server_identity, server_store).unwrap();
    let client_config = federation_client_config(client_identity, client_store, dial).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut tls = TlsAcceptor::from(server_config)
            .accept(tcp)
            .await
            .map_err(|e| e.to_string())?;
        // The handshake verified the certificate; the country it names is the peer.
        let cert = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
        let country = tls::named_country(&cert).map_err(|e| e.to_string())?;
        tls.write_all(b"k").await.map_err(|e| e.to_string())?;
        tls.shutdown().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(country)
    });
    let client = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = TlsConnector::from(client_config)
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        // In TLS 1.3 a refused client certificate shows up on the first read.
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(())
    };
    let client = tokio::time::timeout(BOUND, client)
        .await
        .unwrap_or_else(|_| Err("client timed out".into()));
    let server = match tokio::time::timeout(BOUND, server).await {
        Ok(joined) => joined.unwrap(),
        Err(_) => Err("server timed out".into()),
    };
    Outcome { server, client }
}

/// KZ and UZ, each trusting the other.
fn pair() -> (TestCountry, TestCountry) {
    (
        TestCountry::new("KZ", &["KZ-AKTAU-PCU", "KZ-ALTYNKOL-PCU"]),
        TestCountry::new("UZ", &["UZ-TASHKENT-PCU"]),
    )
}

#[tokio::test]
async fn kz_and_uz_connect_both_ways() {
    let (kz, uz) = pair();
    let (_a, kz_store) = store_with(&[&uz]);
    let (_b, uz_store) = store_with(&[&kz]);

    let out = handshake(
        &uz.identity,
        uz_store.clone(),
        &kz.identity,
        kz_store.clone(),
        uz.code,
    )
    .await;
    assert_eq!(out.client, Ok(()));
    assert_eq!(out.server, Ok(kz.code));

    let out = handshake(&kz.identity, kz_store, &uz.identity, uz_store, kz.code).await;
    assert_eq!(out.client, Ok(()));
    assert_eq!(out.server, Ok(uz.code));
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_is_refused() {
    let (kz, uz) = pair();
    let tj = TestCountry::new("TJ", &[]);
    let (_a, kz_store) = store_with(&[&uz, &tj]);
    let (_b, uz_store) = store_with(&[&kz]);

    // A rogue CA issues a certificate naming UZ: UZ's CA is the only one that counts for UZ.
    let rogue = TestCountry::new("UZ", &[]);
    let out = handshake(
        &kz.identity,
        kz_store.clone(),
        &rogue.identity,
        uz_store.clone(),
        kz.code,
    )
    .await;
    assert!(out.client.is_err());
    let err = out.server.unwrap_err();
    // The rogue CA copies UZ's CA name, so the chain fails on its signature rather than its name.
    assert!(
        err.contains("BadSignature") || err.contains("UnknownIssuer"),
        "{err}"
    );

    // A country the server does not know at all.
    let (_c, tj_store) = store_with(&[&kz]);
    let stranger = TestCountry::new("TM", &[]);
    let out = handshake(
        &kz.identity,
        kz_store,
        &stranger.identity,
        tj_store,
        kz.code,
    )
    .await;
    let err = out.server.unwrap_err();
    assert!(err.contains("UnknownCountry"), "{err}");
    assert!(out.client.is_err());
}

#[tokio::test]
async fn an_expired_certificate_is_refused() {
    let (kz, uz) = pair();
    let (_a, kz_store) = store_with(&[&uz]);
    let (_b, uz_store) = store_with(&[&kz]);
    let now = SystemTime::now();
    let old = uz
        .made
        .tls_ca
        .issue_node(&["127.0.0.1".into()], now - 30 * DAY, now - DAY)
        .unwrap();
    let expired = NodeIdentity::from_pem(&old.pem, &old.key_pem).unwrap();

    // As a client.
    let out = handshake(
        &kz.identity,
        kz_store.clone(),
        &expired,
        uz_store.clone(),
        kz.code,
    )
    .await;
    let err = out.server.unwrap_err();
    assert!(err.contains("expired"), "{err}");
    // As a server.
    let out = handshake(&expired, uz_store, &kz.identity, kz_store, uz.code).await;
    let err = out.client.unwrap_err();
    assert!(err.contains("expired"), "{err}");
}

#[tokio::test]
async fn a_certificate_from_uz_ca_claiming_kz_is_refused() {
    let (kz, uz) = pair();
    let (_a, kz_store) = store_with(&[&uz]);
    let (_b, uz_store) = store_with(&[&kz]);
    let now = SystemTime::now();
    // UZ's CA, misused to issue a certificate that names KZ.
    let forged = tulpar_trust::tls::TlsCa::from_pem(
        &uz.made.tls_ca.certificate_pem(),
        &uz.made.tls_ca.key_pem(),
    )
    .unwrap();
    // The CA refuses to do it through the API (subjects are bound to its country) ...
    assert!(
        forged
            .issue_client(Role::Admin, "KZ", now, now + DAY)
            .is_err()
    );
    // ... so make one by hand with rcgen, as an attacker holding UZ's CA key would.
    let claim = forge_node_cert(&uz, "KZ");
    let fake_kz = NodeIdentity::from_pem(&claim.0, &claim.1).unwrap();
    assert_eq!(fake_kz.country(), kz.code);

    // Presented to UZ as a KZ client: KZ's CA did not issue it.
    let out = handshake(
        &uz.identity,
        uz_store.clone(),
        &fake_kz,
        kz_store.clone(),
        uz.code,
    )
    .await;
    let err = out.server.unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(out.client.is_err());

    // A UZ node answering with it when KZ dialled UZ: the country does not match.
    let out = handshake(
        &fake_kz,
        uz_store.clone(),
        &kz.identity,
        kz_store.clone(),
        uz.code,
    )
    .await;
    let err = out.client.unwrap_err();
    assert!(err.contains("WrongCountry"), "{err}");

    // And post-handshake mapping refuses it too, naming the rule.
    let err = uz_store.peer_country(&fake_kz.chain()).unwrap_err();
    assert!(err.to_string().starts_with("rule country-ca:"), "{err}");
}

#[tokio::test]
async fn a_revoked_node_key_is_refused_without_restart() {
    let (kz, uz) = pair();
    let (_a, kz_store) = store_with(&[&uz]);
    let (_b, uz_store) = store_with(&[&kz]);
    let out = handshake(
        &kz.identity,
        kz_store.clone(),
        &uz.identity,
        uz_store.clone(),
        kz.code,
    )
    .await;
    assert_eq!(out.server, Ok(uz.code));

    // UZ's node key leaks; UZ publishes a directory revoking it, and KZ accepts it while running.
    let now = SystemTime::now();
    let spki = tls::spki_sha256(&uz.identity.chain()[0]).unwrap();
    let current =
        verify_directory(&uz.made.directory, &uz.made.root.public_key(), uz.code).unwrap();
    let mut draft = DirectoryDraft::from_verified(&current);
    draft
        .revoke(
            tulpar_core::keys::KeyId::from_digest(spki),
            now - Duration::from_secs(60),
            "node key copied from a decommissioned server",
        )
        .unwrap();
    kz_store
        .accept_directory(&draft.sign(&uz.made.root, now, DEFAULT_VALIDITY).unwrap())
        .unwrap();

    let out = handshake(
        &kz.identity,
        kz_store.clone(),
        &uz.identity,
        uz_store.clone(),
        kz.code,
    )
    .await;
    let err = out.server.unwrap_err();
    assert!(err.contains("Revoked"), "{err}");
    // KZ dialling UZ refuses the revoked server certificate too.
    let out = handshake(&uz.identity, uz_store, &kz.identity, kz_store, uz.code).await;
    let err = out.client.unwrap_err();
    assert!(err.contains("Revoked"), "{err}");
}

#[test]
fn client_certificates_carry_role_and_subject() {
    let kz = TestCountry::new("KZ", &["KZ-AKTAU-PCU"]);
    let now = SystemTime::now();
    let ca = &kz.made.tls_ca;
    let cert = ca
        .issue_client(Role::Officer, "KZ-AKTAU-PCU", now, now + DAY)
        .unwrap();
    let identity = tls::client_identity(&cert.der).unwrap();
    assert_eq!(identity.role, Role::Officer);
    assert_eq!(identity.subject, "KZ-AKTAU-PCU");
    assert!(
        ca.issue_client(Role::Officer, "UZ-TASHKENT-PCU", now, now + DAY)
            .is_err()
    );
    assert!(
        ca.issue_client(Role::FocalPoint, "KZ", now, now + DAY)
            .is_ok()
    );
    for role in Role::ALL {
        assert_eq!(Role::parse(role.as_str()), Some(role));
    }
    assert_eq!(Role::FocalPoint.as_str(), "focal-point");
    // A node certificate is not an API client certificate.
    assert!(tls::client_identity(&kz.identity.chain()[0]).is_err());
}

/// A node certificate naming `claimed`, signed by `issuer`'s CA key, built without the API's checks.
fn forge_node_cert(issuer: &TestCountry, claimed: &str) -> (String, String) {
    use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, Issuer, KeyPair, SanType};
    let ca_key = KeyPair::from_pem(&issuer.made.tls_ca.key_pem()).unwrap();
    let ca = Issuer::from_ca_cert_der(issuer.made.tls_ca.certificate(), ca_key).unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    params.subject_alt_names.push(SanType::URI(
        format!("tulpar://country/{claimed}").try_into().unwrap(),
    ));
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    (cert.pem(), key.serialize_pem())
}
