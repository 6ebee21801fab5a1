//! Six countries in a full mesh (KZ, UZ, TJ, TM, KG, AZ): an alert from each to each of the five
//! others, every one acknowledged, then a witnessing round from every node; each of the six ledgers
//! must hold exactly the entries that exchange makes, each receipt must name the entry its signer
//! recorded, and each node's latest checkpoint must carry the cosignatures of all five partners.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use prost::Message;
use tulpar_core::proto::{self, DeliveryState, ledger_entry::Kind};
use tulpar_ledger::SignedCheckpoint;
use tulpar_tests::{Client, Federation, delivered, eventually, origin, send, witness_name};

const MESH: &[(&str, &[&str])] = &[
    ("KZ", &["KZ-AKTAU-PCU"]),
    ("UZ", &["UZ-TASHKENT-PCU"]),
    ("TJ", &["TJ-DUSHANBE-PCU"]),
    ("TM", &["TM-TURKMENBASHI-PCU"]),
    ("KG", &["KG-BISHKEK-PCU"]),
    ("AZ", &["AZ-ALYAT-PCU"]),
];

/// The one unit of `country` in [`MESH`].
fn unit(country: &str) -> &'static str {
    MESH.iter()
        .find(|(code, _)| *code == country)
        .map(|(_, units)| units[0])
        .expect("a country of the mesh")
}

/// Waits until the origin sees alert `alert_id` acknowledged by its one recipient.
async fn acknowledged(officer: &Client, alert_id: &str) -> Result<()> {
    eventually(Duration::from_secs(30), "acknowledgement", || {
        let (mut officer, alert_id) = (officer.clone(), alert_id.to_owned());
        async move {
            let record = officer
                .get_alert(proto::GetAlertRequest { alert_id })
                .await?
                .into_inner();
            Ok(record
                .recipients
                .iter()
                .all(|r| r.state == DeliveryState::Acknowledged as i32)
                .then_some(()))
        }
    })
    .await
}

/// The receipt inside `envelope`, decoded (the node's own audit checks its signature).
fn receipt(envelope: Option<&proto::Envelope>) -> Result<proto::DeliveryReceipt> {
    let envelope = envelope.context("a receipt entry without its envelope")?;
    Ok(proto::DeliveryReceipt::decode(envelope.payload.as_slice())?)
}

/// SHA-256 of an envelope's payload, which a receipt binds.
fn payload_sha256(envelope: Option<&proto::Envelope>) -> Result<Vec<u8>> {
    let envelope = envelope.context("an entry without its envelope")?;
    Ok(
        ring::digest::digest(&ring::digest::SHA256, &envelope.payload)
            .as_ref()
            .to_vec(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_countries_in_a_full_mesh_exchange_acknowledge_and_witness() -> Result<()> {
    let mut federation = Federation::new(MESH)?;
    let codes: Vec<String> = federation.countries.keys().cloned().collect();
    assert_eq!(codes.len(), 6);
    for country in federation.countries.values_mut() {
        // Witnessing is driven by the test, so that the ledgers hold exactly one round.
        country
            .node_env
            .push(("TULPAR__WITNESS__INTERVAL".into(), "1h".into()));
    }
    federation.start_all().await?;

    // The harness pins every country's root in every other's trust store: each node has five partners.
    for (code, country) in &federation.countries {
        let peers = country
            .client(unit(code))
            .await?
            .list_peers(proto::ListPeersRequest {})
            .await?
            .into_inner()
            .peers;
        let mut partners: Vec<&str> = peers.iter().map(|p| p.country.as_str()).collect();
        partners.sort_unstable();
        let mut expected: Vec<&str> = codes
            .iter()
            .map(String::as_str)
            .filter(|c| c != code)
            .collect();
        expected.sort_unstable();
        assert_eq!(partners, expected, "{code}'s partners");
    }

    let mut officers = BTreeMap::new();
    for (code, country) in &federation.countries {
        officers.insert(code.clone(), country.client(unit(code)).await?);
    }

    // An alert from each country to each other one, all submitted at once: 30 alerts.
    let mut sends = tokio::task::JoinSet::new();
    for from in &codes {
        for to in codes.iter().filter(|to| *to != from) {
            let (mut officer, from, to) = (officers[from].clone(), from.clone(), to.clone());
            sends.spawn(async move {
                let id = send(&mut officer, unit(&from), &to).await?;
                anyhow::Ok(((from, to), id))
            });
        }
    }
    // (origin, recipient) → alert id.
    let mut alerts = BTreeMap::new();
    while let Some(sent) = sends.join_next().await {
        let (pair, id) = sent??;
        alerts.insert(pair, id);
    }
    assert_eq!(alerts.len(), 30);
    for ((from, _), id) in &alerts {
        delivered(&officers[from], id).await?;
    }

    // Each recipient's officer accepts each alert; each origin sees every acknowledgement.
    for ((from, to), id) in &alerts {
        let mut officer = officers[to].clone();
        officer
            .acknowledge(proto::AcknowledgeRequest {
                request_id: format!("ack-{id}"),
                alert_id: id.clone(),
                unit: unit(to).into(),
                acknowledgement: Some(proto::Acknowledgement {
                    decision: proto::AcknowledgementDecision::Accepted as i32,
                    note: format!("{} takes on the alert from {from}", unit(to)),
                }),
            })
            .await
            .with_context(|| format!("{to} acknowledging {id}"))?;
    }
    for ((from, _), id) in &alerts {
        acknowledged(&officers[from], id).await?;
    }
    // The origin records the receipt for each acknowledgement it received; the responder has it back
    // once its outbox is empty.
    for (code, officer) in &officers {
        eventually(Duration::from_secs(30), "empty outboxes", || {
            let mut officer = officer.clone();
            async move {
                let peers = officer
                    .list_peers(proto::ListPeersRequest {})
                    .await?
                    .into_inner()
                    .peers;
                Ok(peers.iter().all(|p| p.outbox_depth == 0).then_some(()))
            }
        })
        .await
        .with_context(|| format!("{code}'s outbox"))?;
    }

    // One witnessing round from each node in turn: all five partners cosign its latest checkpoint.
    let mut cosigned = BTreeMap::new();
    for code in &codes {
        let node = federation.countries[code].node()?;
        let size = node_size(&federation, code).await?;
        let round = node.witness_now().await?;
        ensure!(round.len() == 5, "{code} asked {} cosigners", round.len());
        for (partner, result) in round {
            ensure!(
                result == Some(size),
                "{partner} cosigned {result:?} of {code}'s checkpoint of size {size}"
            );
        }
        cosigned.insert(code.clone(), size);
    }
    // Since then each ledger grew only by witnessing bookkeeping: every latest checkpoint worth
    // witnessing is the one all five cosigned.
    for code in &codes {
        let round = federation.countries[code].node()?.witness_now().await?;
        ensure!(
            round.iter().all(|(_, result)| result.is_none()),
            "{code} had something new to witness: {round:?}"
        );
    }

    // Each node's audit API names the five partners as witnesses of that checkpoint.
    for (code, country) in &federation.countries {
        let latest = country
            .audit_client("focal-point")
            .await?
            .get_latest_checkpoint(proto::GetLatestCheckpointRequest {})
            .await?
            .into_inner();
        let mut witnesses = latest.witnesses.clone();
        witnesses.sort_unstable();
        let mut partners: Vec<&String> = codes.iter().filter(|c| *c != code).collect();
        partners.sort_unstable();
        ensure!(
            witnesses.iter().collect::<Vec<_>>() == partners,
            "{code}'s witnesses: {witnesses:?}"
        );
        ensure!(
            latest.cosigned_checkpoint.map(|c| c.size) == Some(cosigned[code]),
            "{code}'s witnessed checkpoint"
        );
    }

    // Each node re-checks its whole ledger: every hash, every signature inside every entry.
    for (code, country) in &federation.countries {
        let mut focal = country.audit_client("focal-point").await?;
        let mut progress = focal
            .verify_ledger(proto::VerifyLedgerRequest {})
            .await?
            .into_inner();
        let mut done = false;
        while let Some(message) = progress.message().await? {
            if message.done {
                ensure!(
                    message.ok,
                    "{code}'s ledger does not verify: {}",
                    message.error
                );
                done = true;
            }
        }
        ensure!(done, "{code}'s verification ended without a result");
    }

    for country in federation.countries.values_mut() {
        country.stop().await?;
    }
    let ledgers: BTreeMap<String, Vec<proto::LedgerEntry>> = federation
        .countries
        .iter()
        .map(|(code, country)| Ok((code.clone(), country.ledger_entries()?)))
        .collect::<Result<_>>()?;
    for code in &codes {
        check_ledger(code, &codes, &alerts, &ledgers, cosigned[code], &federation)
            .with_context(|| format!("{code}'s ledger"))?;
    }
    Ok(())
}

/// The size of `code`'s ledger, from its audit API.
async fn node_size(federation: &Federation, code: &str) -> Result<u64> {
    let mut focal = federation.countries[code]
        .audit_client("focal-point")
        .await?;
    let latest = focal
        .get_latest_checkpoint(proto::GetLatestCheckpointRequest {})
        .await?
        .into_inner();
    latest
        .checkpoint
        .map(|c| c.size)
        .context("no checkpoint in the answer")
}

/// Checks that `code`'s ledger holds exactly, for the alerts it sent and received, the entries the
/// exchange makes, each receipt naming the entry its signer recorded, and one cosignature of its
/// checkpoint of size `cosigned_size` from each partner (plus one cosignature it gave each partner).
fn check_ledger(
    code: &str,
    codes: &[String],
    alerts: &BTreeMap<(String, String), String>,
    ledgers: &BTreeMap<String, Vec<proto::LedgerEntry>>,
    cosigned_size: u64,
    federation: &Federation,
) -> Result<()> {
    let entries = &ledgers[code];
    let partners: Vec<&String> = codes.iter().filter(|c| *c != code).collect();
    // Entries by alert id, each id's kinds in order.
    let mut by_alert: BTreeMap<&str, Vec<(u64, &Kind)>> = BTreeMap::new();
    let (mut cosignatures_received, mut cosignatures_given) = (BTreeMap::new(), BTreeMap::new());
    for (index, entry) in entries.iter().enumerate() {
        let kind = entry.kind.as_ref().context("an entry without a kind")?;
        match kind {
            Kind::CosignatureReceived(received) => {
                ensure!(
                    cosignatures_received
                        .insert(
                            received.country.clone(),
                            received.cosigned_checkpoint.clone()
                        )
                        .is_none(),
                    "two cosignatures from {}",
                    received.country
                );
            }
            Kind::CheckpointCosigned(given) => {
                ensure!(
                    cosignatures_given
                        .insert(given.country.clone(), given.checkpoint.clone())
                        .is_none(),
                    "two cosignatures given to {}",
                    given.country
                );
            }
            // What `tulpar init` and start-up record: the country's own directory and its pinned partners.
            Kind::DirectoryAccepted(_) | Kind::TrustPinned(_) => {
                ensure!(entry.alert_id.is_empty(), "a trust entry naming an alert");
            }
            _ => {
                ensure!(
                    !entry.alert_id.is_empty(),
                    "entry {index} names no alert: {kind:?}"
                );
                by_alert
                    .entry(entry.alert_id.as_str())
                    .or_default()
                    .push((index as u64, kind));
            }
        }
    }
    // Exactly the 10 alerts this country sent or received, and no other.
    let ours: BTreeMap<&str, (&str, &str)> = alerts
        .iter()
        .filter(|((from, to), _)| from == code || to == code)
        .map(|((from, to), id)| (id.as_str(), (from.as_str(), to.as_str())))
        .collect();
    ensure!(ours.len() == 10);
    let seen: Vec<&str> = by_alert.keys().copied().collect();
    let wanted: Vec<&str> = ours.keys().copied().collect();
    ensure!(
        seen == wanted,
        "alerts in the ledger {seen:?}, expected {wanted:?}"
    );

    for (id, (from, to)) in &ours {
        let kinds = &by_alert[id];
        let partner = if *from == code { *to } else { *from };
        let names: Vec<&str> = kinds.iter().map(|(_, k)| kind_name(k)).collect();
        // The origin records its alert, the recipient's receipt, the acknowledgement and its own
        // receipt for it; the recipient the alert, its receipt, its acknowledgement and the origin's
        // receipt for it. Delivery and the answers run concurrently, so only the sets are fixed.
        let mut sorted = names.clone();
        sorted.sort_unstable();
        let expected = if *from == code {
            [
                "AlertSent",
                "ReceiptIssued",
                "ReceiptReceived",
                "ResponseReceived",
            ]
        } else {
            [
                "AlertReceived",
                "ReceiptIssued",
                "ReceiptReceived",
                "ResponseSent",
            ]
        };
        ensure!(sorted == expected, "alert {id} ({from}→{to}): {names:?}");
        let alert_envelope = kinds.iter().find_map(|(_, k)| match k {
            Kind::AlertSent(sent) => sent.alert.as_ref(),
            Kind::AlertReceived(received) => {
                assert_eq!(
                    received.from_country, *from,
                    "alert {id} delivered by its origin"
                );
                received.alert.as_ref()
            }
            _ => None,
        });
        let alert_digest = payload_sha256(alert_envelope)?;
        let response_envelope = kinds.iter().find_map(|(_, k)| match k {
            Kind::ResponseSent(sent) => {
                assert_eq!(sent.to_country, *from);
                sent.response.as_ref()
            }
            Kind::ResponseReceived(received) => {
                assert_eq!(received.from_country, *to);
                received.response.as_ref()
            }
            _ => None,
        });
        let response_digest = payload_sha256(response_envelope)?;
        let response = proto::AlertResponse::decode(
            response_envelope.context("no response")?.payload.as_slice(),
        )?;
        ensure!(
            matches!(
                response.kind,
                Some(proto::alert_response::Kind::Acknowledgement(ref ack))
                    if ack.decision == proto::AcknowledgementDecision::Accepted as i32
            ),
            "alert {id}: the response is not an acceptance: {response:?}"
        );
        // The two receipts: one this node signed, one the partner signed, each for what was delivered
        // and naming the entry its signer recorded it at.
        for (_, kind) in kinds {
            let (receipt, signer, holder) = match kind {
                Kind::ReceiptIssued(issued) => {
                    ensure!(
                        issued.to_country == partner,
                        "receipt issued to {}",
                        issued.to_country
                    );
                    (receipt(issued.receipt.as_ref())?, code, partner)
                }
                Kind::ReceiptReceived(received) => {
                    ensure!(
                        received.from_country == partner,
                        "receipt from {}",
                        received.from_country
                    );
                    (receipt(received.receipt.as_ref())?, partner, code)
                }
                _ => continue,
            };
            ensure!(receipt.alert_id == *id);
            ensure!(receipt.recipient_country == signer && receipt.sender_country == holder);
            // The recipient of the alert receipts the alert; the origin receipts the response.
            let digest = if signer == *to {
                ensure!(
                    receipt.response_id.is_empty(),
                    "alert receipt names a response"
                );
                &alert_digest
            } else {
                ensure!(
                    !receipt.response_id.is_empty(),
                    "response receipt names no response"
                );
                &response_digest
            };
            ensure!(
                receipt.payload_sha256 == *digest,
                "receipt for other bytes: {receipt:?}"
            );
            let recorded = ledgers[signer]
                .get(receipt.ledger_index as usize)
                .with_context(|| format!("{signer} has no entry {}", receipt.ledger_index))?;
            ensure!(recorded.alert_id == *id, "the receipt names another entry");
            let recorded_digest = match recorded.kind.as_ref() {
                Some(Kind::AlertReceived(r)) => payload_sha256(r.alert.as_ref())?,
                Some(Kind::ResponseReceived(r)) => payload_sha256(r.response.as_ref())?,
                other => bail!("the receipt names a {other:?}"),
            };
            ensure!(recorded_digest == *digest);
        }
    }

    // Witnessing: one cosignature from each partner on the checkpoint it presented, verifying with
    // that partner's key; and one cosignature this node gave each partner.
    let received: Vec<&String> = cosignatures_received.keys().collect();
    ensure!(received == partners, "cosignatures from {received:?}");
    let given: Vec<&String> = cosignatures_given.keys().collect();
    ensure!(given == partners, "cosignatures given to {given:?}");
    let own_key = ledger_key(federation, code)?;
    for (partner, note) in &cosignatures_received {
        tulpar_ledger::note::verify_cosignature(
            note,
            &witness_name(partner),
            &ledger_key(federation, partner)?,
        )
        .with_context(|| format!("{partner}'s cosignature"))?;
        let checkpoint = SignedCheckpoint::verify(note, Some(&origin(code)), &own_key)?;
        ensure!(
            checkpoint.size() == cosigned_size,
            "{partner} cosigned size {}",
            checkpoint.size()
        );
    }
    Ok(())
}

/// The public ledger key of `code`'s node, which signs its checkpoints and its cosignatures.
fn ledger_key(federation: &Federation, code: &str) -> Result<tulpar_core::keys::PublicKey> {
    Ok(tulpar_trust::keyfile::read_private_key(
        &federation.countries[code].dir.join("node/ledger.key"),
    )?
    .public_key())
}

fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::AlertSent(_) => "AlertSent",
        Kind::AlertReceived(_) => "AlertReceived",
        Kind::ResponseSent(_) => "ResponseSent",
        Kind::ResponseReceived(_) => "ResponseReceived",
        Kind::ReceiptIssued(_) => "ReceiptIssued",
        Kind::ReceiptReceived(_) => "ReceiptReceived",
        _ => "other",
    }
}
