//! What a node refuses from the federation: a peer with another country's certificate, an alert
//! replayed by a country that did not raise it, an alert signed by an unknown or revoked key; and
//! several alerts in one call, each judged on its own.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use prost::Message;
use tonic::Code;
use tulpar_core::alert::{ValidAlert, validate_content};
use tulpar_core::envelope::{PayloadType, sign};
use tulpar_core::ids::AlertId;
use tulpar_core::keys::SigningKey;
use tulpar_core::proto::{self, federation_service_client::FederationServiceClient};
use tulpar_tests::{Federation, binary};
use tulpar_trust::keyfile;

fn federation() -> Result<Federation> {
    Federation::new(&[
        ("KZ", &["KZ-AKTAU-PCU"]),
        ("UZ", &["UZ-TASHKENT-PCU"]),
        ("TJ", &["TJ-DUSHANBE-PCU"]),
    ])
}

/// An alert from `origin` to KZ, signed by `key`.
fn signed_alert(origin: &str, key: &SigningKey) -> proto::Envelope {
    let content =
        validate_content(tulpar_core::sample::alert_draft(origin, "KZ")).expect("valid draft");
    let now = SystemTime::now();
    let alert = ValidAlert::new(AlertId::new_at(now), now, content);
    sign(PayloadType::Alert, alert.message().encode_to_vec(), &[key])
}

async fn deliver(
    client: &mut FederationServiceClient<tonic::transport::Channel>,
    alert: proto::Envelope,
) -> Result<proto::DeliverAlertResponse, tonic::Status> {
    client
        .deliver_alert(proto::DeliverAlertRequest { alert: Some(alert) })
        .await
        .map(tonic::Response::into_inner)
}

fn unit_key(federation: &Federation, country: &str, unit: &str) -> Result<SigningKey> {
    let path = federation.countries[country]
        .dir
        .join(format!("node/units/{unit}.key"));
    Ok(keyfile::read_private_key(&path)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_genuine_alert_is_received_and_forgeries_are_refused() -> Result<()> {
    let mut federation = federation()?;
    federation.start_all().await?;
    let mut from_uz = federation.countries["UZ"].federation_client(&federation.countries["KZ"])?;
    let uz_key = unit_key(&federation, "UZ", "UZ-TASHKENT-PCU")?;

    let genuine = signed_alert("UZ-TASHKENT-PCU", &uz_key);
    let receipt = deliver(&mut from_uz, genuine.clone())
        .await?
        .receipt
        .expect("receipt");
    // Delivering the same alert again gets the same receipt back, not an error.
    let again = deliver(&mut from_uz, genuine)
        .await?
        .receipt
        .expect("receipt");
    assert_eq!(receipt, again);

    // Signed by a key that is in no directory.
    let stranger = SigningKey::generate()?;
    let status = deliver(&mut from_uz, signed_alert("UZ-TASHKENT-PCU", &stranger))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(
        status.message().contains("no signature by a known key"),
        "{}",
        status.message()
    );

    // A TJ alert, genuinely signed by TJ, replayed to KZ by the UZ node.
    let tj_key = unit_key(&federation, "TJ", "TJ-DUSHANBE-PCU")?;
    let status = deliver(&mut from_uz, signed_alert("TJ-DUSHANBE-PCU", &tj_key))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    // A UZ alert signed with a TJ unit's key.
    let status = deliver(&mut from_uz, signed_alert("UZ-TASHKENT-PCU", &tj_key))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    // Content that breaks the rules, even when correctly signed.
    let mut draft = tulpar_core::sample::alert_draft("UZ-TASHKENT-PCU", "KZ");
    draft.consignment.as_mut().expect("consignment").containers = vec!["MSKU1234566".into()];
    let now = SystemTime::now();
    let invalid = proto::Alert {
        alert_id: AlertId::new_at(now).to_string(),
        created_at: Some(tulpar_core::time::to_timestamp(now)),
        content: Some(draft),
    };
    let envelope = sign(PayloadType::Alert, invalid.encode_to_vec(), &[&uz_key]);
    let status = deliver(&mut from_uz, envelope).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("ISO 6346"),
        "{}",
        status.message()
    );

    // Only the one genuine alert was recorded.
    let mut kz = federation.country("KZ").client("focal-point").await?;
    let listed = kz
        .list_alerts(proto::ListAlertsRequest::default())
        .await?
        .into_inner()
        .alerts;
    assert_eq!(listed.len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_alerts_in_one_call_are_each_checked_recorded_and_receipted() -> Result<()> {
    let mut federation = federation()?;
    federation.start_all().await?;
    let mut from_uz = federation.countries["UZ"].federation_client(&federation.countries["KZ"])?;
    let uz_key = unit_key(&federation, "UZ", "UZ-TASHKENT-PCU")?;
    let first = signed_alert("UZ-TASHKENT-PCU", &uz_key);
    let second = signed_alert("UZ-TASHKENT-PCU", &uz_key);
    let earlier = signed_alert("UZ-TASHKENT-PCU", &uz_key);
    let earlier_receipt = deliver(&mut from_uz, earlier.clone())
        .await?
        .receipt
        .expect("receipt");
    let forged = signed_alert("UZ-TASHKENT-PCU", &SigningKey::generate()?);
    // Same id as `first`, other content.
    let mut twisted = proto::Alert::decode(first.payload.as_slice())?;
    twisted.content.as_mut().expect("content").narrative = "something else".into();
    let twisted = sign(PayloadType::Alert, twisted.encode_to_vec(), &[&uz_key]);
    let alerts = vec![
        first.clone(),
        forged,
        second.clone(),
        first.clone(),
        earlier,
        twisted,
    ];
    let results = from_uz
        .deliver_alerts(proto::DeliverAlertsRequest { alerts })
        .await?
        .into_inner()
        .results;
    use proto::delivery_result::Result as Outcome;
    let outcomes: Vec<_> = results
        .into_iter()
        .map(|r| r.result.expect("result"))
        .collect();
    assert_eq!(outcomes.len(), 6);
    let receipt = |k: usize| match &outcomes[k] {
        Outcome::Receipt(receipt) => receipt.clone(),
        Outcome::Error(e) => panic!("alert {k} refused: {e:?}"),
    };
    let refusal = |k: usize| match &outcomes[k] {
        Outcome::Error(e) => (Code::from(e.code), e.message.clone()),
        Outcome::Receipt(_) => panic!("alert {k} was accepted"),
    };
    // The same alert twice in one call is recorded once, and both copies get its receipt.
    assert_eq!(receipt(0), receipt(3));
    assert_ne!(receipt(0), receipt(2));
    assert_eq!(receipt(4), earlier_receipt);
    let (code, message) = refusal(1);
    assert_eq!(code, Code::PermissionDenied, "{message}");
    assert_eq!(refusal(5).0, Code::AlreadyExists);
    // The receipts are signed by KZ's ledger key over exactly what was delivered, as for one alert.
    let again = deliver(&mut from_uz, second)
        .await?
        .receipt
        .expect("receipt");
    assert_eq!(again, receipt(2));
    let body = |envelope: &proto::Envelope| {
        proto::DeliveryReceipt::decode(envelope.payload.as_slice()).expect("receipt")
    };
    assert_eq!(
        body(&receipt(0)).payload_sha256,
        tulpar_core::envelope::payload_digest(&first).to_vec()
    );
    let mut kz = federation.country("KZ").client("focal-point").await?;
    let listed = kz
        .list_alerts(proto::ListAlertsRequest::default())
        .await?
        .into_inner()
        .alerts;
    assert_eq!(listed.len(), 3);

    let too_many = vec![first; 257];
    let status = from_uz
        .deliver_alerts(proto::DeliverAlertsRequest { alerts: too_many })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_with_a_certificate_from_another_countrys_ca_is_refused() -> Result<()> {
    let mut federation = federation()?;
    // KZ, whose log tells of the refusal, as a process.
    federation.country("KZ").start_process().await?;
    federation.country("UZ").start().await?;
    federation.country("TJ").start().await?;
    // TJ's CA key, misused to make a certificate naming UZ.
    let tj = &federation.countries["TJ"];
    let (cert_pem, key_pem) = forge_node_cert(
        &std::fs::read_to_string(tj.dir.join("public/tls-ca.crt"))?,
        &std::fs::read_to_string(tj.dir.join("offline/tls-ca.key"))?,
        "UZ",
    );
    let identity = tulpar_trust::tls::NodeIdentity::from_pem(&cert_pem, &key_pem)?;
    let kz = &federation.countries["KZ"];
    let store = Arc::new(tulpar_trust::TrustStore::open(
        &federation.countries["UZ"].dir.join("node/trust"),
        Arc::new(tulpar_core::time::SystemClock),
    )?);
    let config = tulpar_trust::tls::federation_client_config(
        &identity,
        store,
        tulpar_core::codes::CountryCode::parse("KZ")?,
    )?;
    let channel = tulpar_rpc::tls_channel(
        &kz.federation_addr.to_string(),
        config,
        Duration::from_secs(2),
        Duration::from_secs(5),
    )
    .map_err(anyhow::Error::msg)?;
    let mut client = tulpar_node::transport::federation_client(channel);
    let uz_key = unit_key(&federation, "UZ", "UZ-TASHKENT-PCU")?;
    let status = deliver(&mut client, signed_alert("UZ-TASHKENT-PCU", &uz_key))
        .await
        .unwrap_err();
    // In TLS 1.3 the client may finish its side before the server refuses its certificate, so the
    // call fails as a broken connection (unavailable, cancelled, ...) rather than with a clean status.
    assert_ne!(status.code(), Code::Ok);
    let kz_node = &federation.countries["KZ"];
    tulpar_tests::eventually(
        Duration::from_secs(5),
        "the refusal in KZ's log",
        || async {
            Ok(kz_node
                .log()
                .contains("TLS handshake refused")
                .then_some(()))
        },
    )
    .await?;
    let mut kz = federation.country("KZ").client("focal-point").await?;
    let listed = kz
        .list_alerts(proto::ListAlertsRequest::default())
        .await?
        .into_inner()
        .alerts;
    assert!(listed.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_signed_by_a_revoked_key_is_refused() -> Result<()> {
    let mut federation = federation()?;
    federation.start_all().await?;
    let uz_dir = federation.countries["UZ"].dir.clone();
    let kz_dir = federation.countries["KZ"].dir.clone();
    let uz_key = unit_key(&federation, "UZ", "UZ-TASHKENT-PCU")?;
    let tulpar = binary("tulpar")?;
    let run = |command: &mut Command| -> Result<String> {
        let output = command.output()?;
        anyhow::ensure!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    };
    // The version of UZ's directory KZ's trust store holds, as its focal point sees it.
    let kz_focal = federation.countries["KZ"].client("focal-point").await?;
    let uz_version = || {
        let mut kz_focal = kz_focal.clone();
        async move {
            let peers = kz_focal
                .list_peers(proto::ListPeersRequest {})
                .await?
                .into_inner()
                .peers;
            let uz = peers.into_iter().find(|p| p.country == "UZ");
            anyhow::Ok(uz.map(|p| p.directory_version))
        }
    };
    let version_before = uz_version().await?.context("UZ is a peer of KZ")?;
    // UZ's focal point revokes the unit key and publishes the new directory on the UZ node.
    run(Command::new(&tulpar)
        .args(["directory", "revoke-key", "--dir"])
        .arg(&uz_dir)
        .args([
            "--key-id",
            &uz_key.key_id().to_string(),
            "--reason",
            "key compromised",
        ]))?;
    // The running KZ node fetches it by itself (directory_refresh_interval = 1s), verifies it, keeps
    // it on disk and then in its trust store, which is what judges a delivery.
    let held = kz_dir.join("node/trust/UZ/directory.env");
    let before = std::fs::read(&held)?;
    tulpar_tests::eventually(
        Duration::from_secs(10),
        "KZ to take UZ's new directory into its trust store",
        || async {
            let version = uz_version().await?;
            Ok(version.is_some_and(|v| v > version_before).then_some(()))
        },
    )
    .await?;
    assert_ne!(
        std::fs::read(&held)?,
        before,
        "the new directory is kept on disk"
    );
    let mut from_uz = federation.countries["UZ"].federation_client(&federation.countries["KZ"])?;
    let status = deliver(&mut from_uz, signed_alert("UZ-TASHKENT-PCU", &uz_key))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("revo"), "{}", status.message());
    Ok(())
}

/// A node certificate naming `claimed`, signed by a CA key, built without the CA's own checks, as an
/// attacker holding that CA key would.
fn forge_node_cert(ca_cert_pem: &str, ca_key_pem: &str, claimed: &str) -> (String, String) {
    use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, Issuer, KeyPair, SanType};
    let ca_key = KeyPair::from_pem(ca_key_pem).expect("CA key");
    let ca = Issuer::from_ca_cert_pem(ca_cert_pem, ca_key).expect("CA");
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("params");
    params.subject_alt_names.push(SanType::URI(
        format!("tulpar://country/{claimed}")
            .try_into()
            .expect("URI"),
    ));
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, &ca).expect("certificate");
    (cert.pem(), key.serialize_pem())
}
