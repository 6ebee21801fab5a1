//! Webhooks end to end: a customs system's receiver gets every event its units may see, in ledger
//! order, signed per Standard Webhooks, through refusals, a SIGKILL of the node and a restart; over
//! https with the receiver's own CA; and `tulpar webhooks` shows and tests the subscription.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tulpar_core::proto;
use tulpar_core::webhook::WebhookSecret;
use tulpar_tests::webhook::{Delivery, Receiver};
use tulpar_tests::{Country, Federation, eventually};

const WAIT: Duration = Duration::from_secs(30);

fn run(command: &mut Command) -> Result<String> {
    let output = command.output()?;
    if !output.status.success() {
        bail!(
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn admin(country: &Country) -> Result<Command> {
    let mut command = country.tulpar()?;
    command.env("TULPAR_TOKEN", &country.tokens["admin"]);
    Ok(command)
}

/// Makes the subscription's secret with `tulpar webhooks secret` and subscribes `url` for
/// KZ-AKTAU-PCU, with retries fast enough for a test.
fn subscribe(kz: &Country, url: &str, extra: &str) -> Result<WebhookSecret> {
    let secret_file = kz.dir.join("risk-system.secret");
    let printed = run(kz.tulpar()?.args(["webhooks", "secret"]).arg(&secret_file))?;
    let secret = WebhookSecret::parse(printed.trim()).context("the printed secret")?;
    kz.append_config(&format!(
        r#"[webhooks]
initial_backoff = "50ms"
max_backoff = "200ms"
{extra}

[[webhooks.subscriptions]]
name = "risk-system"
url = "{url}"
units = ["KZ-AKTAU-PCU"]
secret_file = "risk-system.secret"
"#
    ))?;
    Ok(secret)
}

async fn raise(country: &Country, unit: &str) -> Result<String> {
    let mut officer = country.client(unit).await?;
    let request = proto::SubmitAlertRequest {
        request_id: String::new(),
        content: Some(tulpar_core::sample::alert_draft(unit, "UZ")),
    };
    Ok(officer.submit_alert(request).await?.into_inner().alert_id)
}

async fn acknowledge(uz: &Country, alert_id: &str) -> Result<()> {
    let officer = uz.client("UZ-TASHKENT-PCU").await?;
    let request = proto::AcknowledgeRequest {
        request_id: String::new(),
        alert_id: alert_id.to_owned(),
        unit: "UZ-TASHKENT-PCU".into(),
        acknowledgement: Some(proto::Acknowledgement {
            decision: proto::AcknowledgementDecision::Accepted as i32,
            note: String::new(),
        }),
    };
    eventually(WAIT, "the alert reaches UZ", || {
        let (mut officer, request) = (officer.clone(), request.clone());
        async move { Ok(officer.acknowledge(request).await.ok()) }
    })
    .await?;
    Ok(())
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Checks one delivery's signature and shape; returns (ledger index, type, alert id).
fn check(secret: &WebhookSecret, delivery: &Delivery) -> Result<(u64, String, String)> {
    secret
        .verify(
            &delivery.id,
            &delivery.timestamp,
            &delivery.signature,
            &delivery.body,
            now_unix(),
            300,
        )
        .with_context(|| format!("signature of {}", delivery.id))?;
    let json = delivery.json();
    let data = &json["data"];
    // proto3 JSON leaves out zeros: the ledger's first entry has no ledgerIndex.
    let index: u64 = data["ledgerIndex"].as_str().unwrap_or("0").parse()?;
    assert_eq!(delivery.id, format!("evt_KZ_{index}"));
    assert_eq!(json["timestamp"], data["recordedAt"]);
    let kind = json["type"].as_str().context("type")?.to_owned();
    let expected_kind = match kind.as_str() {
        "alert.sent" => "ALERT_EVENT_KIND_ALERT_SENT",
        "alert.delivered" => "ALERT_EVENT_KIND_DELIVERED",
        "alert.acknowledged" => "ALERT_EVENT_KIND_ACKNOWLEDGED",
        other => bail!("unexpected event type {other}"),
    };
    assert_eq!(data["kind"], expected_kind);
    let alert_id = data["alertId"].as_str().context("alertId")?.to_owned();
    assert_eq!(data["alert"]["alert"]["alertId"], alert_id.as_str());
    Ok((index, kind, alert_id))
}

/// The events each alert of KZ-AKTAU-PCU makes once UZ has acknowledged it.
fn expected(alerts: &[String]) -> BTreeSet<(String, String)> {
    alerts
        .iter()
        .flat_map(|id| {
            ["alert.sent", "alert.delivered", "alert.acknowledged"]
                .map(|kind| (id.clone(), kind.to_owned()))
        })
        .collect()
}

/// The (alert, type) pairs accepted so far.
fn accepted(secret: &WebhookSecret, deliveries: &[Delivery]) -> Result<BTreeSet<(String, String)>> {
    let mut pairs = BTreeSet::new();
    for delivery in deliveries.iter().filter(|d| d.accepted()) {
        let (_, kind, alert) = check(secret, delivery)?;
        pairs.insert((alert, kind));
    }
    Ok(pairs)
}

async fn all_accepted(
    receiver: &Receiver,
    secret: &WebhookSecret,
    alerts: &[String],
) -> Result<Vec<Delivery>> {
    let want = expected(alerts);
    eventually(WAIT, "every event reaches the receiver", || {
        let deliveries = receiver.deliveries();
        let done = accepted(secret, &deliveries).map(|got| want.is_subset(&got));
        async move { Ok(done?.then_some(deliveries)) }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_refuses_at_first_gets_every_event_in_order_signed_across_a_sigkill()
-> Result<()> {
    let mut federation = Federation::new(&[
        ("KZ", &["KZ-AKTAU-PCU", "KZ-ALTYNKOL-PCU"]),
        ("UZ", &["UZ-TASHKENT-PCU"]),
    ])?;
    let receiver = Receiver::start().await?;
    receiver.refuse(&[503, 500, 429]);
    let secret = subscribe(
        &federation.countries["KZ"],
        &receiver.url(),
        "allow_http_loopback = true",
    )?;
    federation.country("UZ").start().await?;
    federation.country("KZ").start_process().await?;

    // Alerts of the subscribed unit, and one of another unit the subscription must not see.
    let mut alerts = Vec::new();
    for _ in 0..4 {
        alerts.push(raise(&federation.countries["KZ"], "KZ-AKTAU-PCU").await?);
    }
    let other_unit = raise(&federation.countries["KZ"], "KZ-ALTYNKOL-PCU").await?;
    for alert in &alerts {
        acknowledge(&federation.countries["UZ"], alert).await?;
    }
    // The first event was refused three times, then accepted, always under one id.
    let first = all_accepted(&receiver, &secret, &alerts[..1]).await?;
    let statuses: Vec<_> = first.iter().take(4).map(|d| d.status).collect();
    assert_eq!(statuses, [503, 500, 429, 204]);
    assert!(first.iter().take(4).all(|d| d.id == first[0].id));

    // More alerts, and the node killed while their events are on their way to a slower receiver.
    receiver.slow_down(Duration::from_millis(20));
    for _ in 0..20 {
        alerts.push(raise(&federation.countries["KZ"], "KZ-AKTAU-PCU").await?);
    }
    eventually(WAIT, "some of the new events are accepted", || {
        let count = receiver
            .deliveries()
            .iter()
            .filter(|d| d.accepted())
            .count();
        async move { Ok((count > 8).then_some(())) }
    })
    .await?;
    federation.country("KZ").kill()?;
    let before_kill = receiver.deliveries().len();
    receiver.slow_down(Duration::ZERO);
    let sent_and_delivered = 2 * alerts.len() + 4;
    assert!(
        accepted(&secret, &receiver.deliveries())?.len() < sent_and_delivered,
        "every event was accepted before the kill; it came too late to test anything"
    );
    federation.country("KZ").start_process().await?;
    for alert in &alerts[4..] {
        acknowledge(&federation.countries["UZ"], alert).await?;
    }
    let deliveries = all_accepted(&receiver, &secret, &alerts).await?;

    // Everything arrived, nothing of the other unit, every attempt signed; in ledger order except
    // where the crash made the node go back to its last saved place.
    let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
    let mut last = None;
    let mut rewinds = 0;
    for (position, delivery) in deliveries.iter().enumerate() {
        let (index, _, alert) = check(&secret, delivery)?;
        assert_ne!(alert, other_unit, "an event of a unit not subscribed");
        if !delivery.accepted() {
            continue;
        }
        if let Some(previous) = last {
            if index <= previous {
                assert!(
                    position >= before_kill,
                    "out of order before the crash: {index} after {previous}"
                );
                rewinds += 1;
            }
        }
        last = Some(index);
        *seen.entry(index).or_default() += 1;
        if seen[&index] > 1 {
            assert!(
                deliveries[..before_kill]
                    .iter()
                    .any(|d| d.id == delivery.id && d.accepted()),
                "{} accepted twice, but not across the crash",
                delivery.id
            );
        }
    }
    assert!(rewinds <= 1, "went back {rewinds} times");
    let again = seen.values().filter(|count| **count > 1).count();
    eprintln!("across the SIGKILL: {rewinds} rewind(s), {again} event(s) accepted twice");
    assert_eq!(accepted(&secret, &deliveries)?, expected(&alerts));

    // A graceful restart repeats nothing; a refusal after it shows in `tulpar webhooks`.
    let kz = federation.country("KZ");
    kz.stop().await?;
    let settled = receiver.deliveries().len();
    kz.start_process().await?;
    receiver.refuse(&[503]);
    let last_alert = raise(&federation.countries["KZ"], "KZ-AKTAU-PCU").await?;
    acknowledge(&federation.countries["UZ"], &last_alert).await?;
    alerts.push(last_alert.clone());
    let deliveries = all_accepted(&receiver, &secret, &alerts).await?;
    for delivery in &deliveries[settled..] {
        let (_, _, alert) = check(&secret, delivery)?;
        assert_eq!(
            alert, last_alert,
            "{} sent again after a graceful stop",
            delivery.id
        );
    }

    let kz = &federation.countries["KZ"];
    let list = eventually(
        WAIT,
        "tulpar webhooks shows the subscription caught up",
        || {
            let list = admin(kz).and_then(|mut command| run(command.arg("webhooks")));
            async move { Ok(list.ok().filter(|l| l.contains("caught up"))) }
        },
    )
    .await?;
    assert!(
        list.contains("risk-system") && list.contains(&receiver.url()),
        "{list}"
    );
    assert!(list.contains("KZ-AKTAU-PCU (all events)"), "{list}");
    assert!(
        list.contains("the receiver answered 503 Service Unavailable"),
        "{list}"
    );
    // Counted from the saved cursor: events accepted again after the crash count again.
    let delivered: usize = list
        .lines()
        .find_map(|l| l.trim().strip_prefix("delivered"))
        .and_then(|rest| rest.split_whitespace().next())
        .context("the delivered line")?
        .parse()?;
    let accepted_count = deliveries.iter().filter(|d| d.accepted()).count();
    assert!(
        (expected(&alerts).len()..=accepted_count).contains(&delivered),
        "{delivered} delivered, {accepted_count} accepted: {list}"
    );

    // A test message is signed like any other and is not part of the queue.
    let out = run(admin(kz)?.args(["webhooks", "test", "risk-system"]))?;
    assert!(out.starts_with("accepted test_"), "{out}");
    let ping = receiver.deliveries().pop().context("the test message")?;
    assert!(ping.id.starts_with("test_"));
    secret.verify(
        &ping.id,
        &ping.timestamp,
        &ping.signature,
        &ping.body,
        now_unix(),
        300,
    )?;
    assert_eq!(ping.json()["type"], "webhook.test");
    assert_eq!(ping.json()["data"]["subscription"], "risk-system");
    let missing = admin(kz)?.args(["webhooks", "test", "nobody"]).output()?;
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no webhook subscription"));
    let officer = kz
        .tulpar()?
        .env("TULPAR_TOKEN", &kz.tokens["KZ-AKTAU-PCU"])
        .args(["webhooks"])
        .output()?;
    assert!(String::from_utf8_lossy(&officer.stderr).contains("PermissionDenied"));
    federation.country("KZ").stop().await?;
    Ok(())
}

/// A CA and a certificate for 127.0.0.1 it signed, as a receiver's own PKI would give.
fn receiver_pki() -> Result<(String, Arc<rustls::ServerConfig>)> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::from_ca_cert_pem(&ca_cert.pem(), ca_key)?;
    let key = KeyPair::generate()?;
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])?.signed_by(&key, &issuer)?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(cert.der().to_vec())],
        PrivateKeyDer::try_from(key.serialize_der()).map_err(anyhow::Error::msg)?,
    )?;
    Ok((ca_cert.pem(), Arc::new(config)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_an_https_receiver_checked_against_the_configured_ca() -> Result<()> {
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    let (ca_pem, tls) = receiver_pki()?;
    let receiver = Receiver::start_tls(tls).await?;
    let kz = &federation.countries["KZ"];
    std::fs::write(kz.dir.join("receiver-ca.pem"), ca_pem)?;
    let secret = subscribe(kz, &receiver.url(), "ca_certificates = \"receiver-ca.pem\"")?;
    federation.start_all().await?;
    let alert = raise(&federation.countries["KZ"], "KZ-AKTAU-PCU").await?;
    let deliveries = eventually(WAIT, "the alert's events arrive over https", || {
        let deliveries = receiver.deliveries();
        let done = accepted(&secret, &deliveries)
            .map(|got| got.contains(&(alert.clone(), "alert.delivered".to_owned())));
        async move { Ok(done?.then_some(deliveries)) }
    })
    .await?;
    let types: Vec<Value> = deliveries
        .iter()
        .map(|d| d.json()["type"].clone())
        .collect();
    assert_eq!(types, ["alert.sent", "alert.delivered"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_refuses_to_start_with_a_secret_it_cannot_trust_naming_the_field() -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    let kz = federation.country("KZ");
    subscribe(kz, "https://risk.customs.kz/events", "")?;
    let secret_file = kz.dir.join("risk-system.secret");
    let field = "webhooks.subscriptions[0].secret_file";
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o644))?;
    let error = format!("{:#}", kz.start().await.unwrap_err());
    assert!(
        error.contains(field) && error.contains("chmod 600"),
        "{error}"
    );
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600))?;
    std::fs::write(&secret_file, "hunter2")?;
    let error = format!("{:#}", kz.start().await.unwrap_err());
    assert!(error.contains(field) && error.contains("whsec_"), "{error}");
    std::fs::remove_file(&secret_file)?;
    let error = format!("{:#}", kz.start().await.unwrap_err());
    assert!(
        error.contains(field) && error.contains("cannot read"),
        "{error}"
    );
    Ok(())
}
