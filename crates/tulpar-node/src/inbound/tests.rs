//! Receive-side deduplication: what KZ's node records and answers when UZ delivers the same alert or
//! response again, with other content under the same id, twice in one call, or after a stop between
//! recording and receipting.

use std::sync::Arc;

use tulpar_core::envelope::payload_digest;
use tulpar_core::proto::{self, ledger_entry::Kind};
use tulpar_core::time::Clock;

use super::Earlier;
use super::ReceiveError;
use crate::node::Node;
use crate::testing::{
    KZ_UNIT, SignedAlert, TestFederation, UZ_UNIT, accepted, entry, raise, receipt_body,
    received_without_receipt,
};

fn uz(fed: &TestFederation) -> tulpar_core::codes::CountryCode {
    fed.uz.code
}

/// Delivers `envelopes` from UZ and returns the one result per envelope.
async fn deliver(
    fed: &TestFederation,
    kz: &Arc<Node>,
    envelopes: Vec<proto::Envelope>,
) -> Vec<Result<proto::Envelope, ReceiveError>> {
    kz.inbound.deliver_alerts(uz(fed), envelopes).await
}

async fn deliver_one(
    fed: &TestFederation,
    kz: &Arc<Node>,
    envelope: &proto::Envelope,
) -> Result<proto::Envelope, ReceiveError> {
    let mut results = deliver(fed, kz, vec![envelope.clone()]).await;
    assert_eq!(results.len(), 1);
    results.pop().expect("one result")
}

/// The indexes of the entries of `kz`'s ledger that `select` picks.
fn indexes(kz: &Node, select: impl Fn(&Kind) -> bool) -> Vec<u64> {
    kz.context
        .entries(0, kz.context.ledger_size())
        .expect("entries")
        .into_iter()
        .filter(|(_, e)| e.kind.as_ref().is_some_and(&select))
        .map(|(i, _)| i)
        .collect()
}

fn alerts_received(kz: &Node, alert_id: &str) -> Vec<u64> {
    indexes(
        kz,
        |k| matches!(k, Kind::AlertReceived(r) if decode_id(r.alert.as_ref()) == alert_id),
    )
}

fn receipts_issued(kz: &Node) -> Vec<u64> {
    indexes(kz, |k| matches!(k, Kind::ReceiptIssued(_)))
}

fn decode_id(envelope: Option<&proto::Envelope>) -> String {
    let envelope = envelope.expect("envelope");
    let alert: proto::Alert = prost::Message::decode(envelope.payload.as_slice()).expect("alert");
    alert.alert_id
}

/// The same alert with another goods description: other content under the same id.
fn altered(fed: &TestFederation, alert: &SignedAlert) -> SignedAlert {
    let mut content = tulpar_core::sample::alert_draft(UZ_UNIT, "KZ");
    if let Some(goods) = content
        .consignment
        .as_mut()
        .and_then(|c| c.goods.first_mut())
    {
        goods.description = "Tractor tyres".into();
    }
    fed.alert_with(UZ_UNIT, alert.id, alert.id.time(), content)
}

#[tokio::test]
async fn the_same_alert_delivered_twice_gets_the_same_receipt_and_one_entry() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    let alert = fed.alert(UZ_UNIT, "KZ");

    let receipt = deliver_one(&fed, &kz, &alert.envelope)
        .await
        .expect("first delivery receipted");
    let size = kz.context.ledger_size();
    let body = receipt_body(&receipt);
    assert_eq!(body.alert_id, alert.alert_id);
    assert_eq!(body.response_id, "");
    assert_eq!(
        (
            body.sender_country.as_str(),
            body.recipient_country.as_str()
        ),
        ("UZ", "KZ")
    );
    assert_eq!(
        body.payload_sha256,
        payload_digest(&alert.envelope).to_vec()
    );
    assert_eq!(
        alerts_received(&kz, &alert.alert_id),
        vec![body.ledger_index]
    );

    fed.clock.advance(std::time::Duration::from_secs(30));
    let again = deliver_one(&fed, &kz, &alert.envelope)
        .await
        .expect("repeated delivery receipted");
    assert_eq!(
        again, receipt,
        "a repeated delivery gets the original receipt"
    );
    assert_eq!(
        kz.context.ledger_size(),
        size,
        "a repeated delivery records nothing"
    );
    assert_eq!(alerts_received(&kz, &alert.alert_id).len(), 1);
    assert_eq!(receipts_issued(&kz).len(), 1);
}

#[tokio::test]
async fn other_content_under_a_delivered_id_is_refused_and_changes_nothing() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    let alert = fed.alert(UZ_UNIT, "KZ");
    deliver_one(&fed, &kz, &alert.envelope)
        .await
        .expect("first delivery receipted");
    let size = kz.context.ledger_size();
    let recorded = kz.context.state.received(&alert.key()).expect("state");

    let other = altered(&fed, &alert);
    assert_ne!(
        payload_digest(&other.envelope),
        payload_digest(&alert.envelope)
    );
    match deliver_one(&fed, &kz, &other.envelope).await {
        Err(error @ ReceiveError::Reused(_)) => {
            let message = error.to_string();
            assert!(message.contains(&alert.alert_id), "{message}");
            assert!(message.contains("different content"), "{message}");
        }
        other => panic!("expected ALREADY_EXISTS, got {other:?}"),
    }
    assert_eq!(
        kz.context.ledger_size(),
        size,
        "the refusal records nothing"
    );
    assert_eq!(
        kz.context.state.received(&alert.key()).expect("state"),
        recorded
    );
}

#[tokio::test]
async fn an_id_recorded_from_one_partner_is_refused_from_another() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    let alert = fed.alert(UZ_UNIT, "KZ");
    deliver_one(&fed, &kz, &alert.envelope)
        .await
        .expect("receipted");

    let tj = tulpar_core::codes::CountryCode::parse("TJ").expect("code");
    let from_uz = kz
        .inbound
        .earlier_delivery(fed.uz.code, &alert.key(), &alert.alert_id, &alert.envelope)
        .expect("same partner, same payload");
    assert!(matches!(from_uz, Some(Earlier::Receipted(_))));
    let from_tj = kz
        .inbound
        .earlier_delivery(tj, &alert.key(), &alert.alert_id, &alert.envelope);
    assert!(
        matches!(from_tj, Err(ReceiveError::Reused(_))),
        "{:?}",
        from_tj.err()
    );
    let unknown = fed.alert(UZ_UNIT, "KZ");
    assert!(
        kz.inbound
            .earlier_delivery(
                fed.uz.code,
                &unknown.key(),
                &unknown.alert_id,
                &unknown.envelope
            )
            .expect("state")
            .is_none()
    );
}

#[tokio::test]
async fn the_same_alert_twice_in_one_call_is_recorded_once_and_both_get_its_receipt() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    let alert = fed.alert(UZ_UNIT, "KZ");
    let other = fed.alert(UZ_UNIT, "KZ");

    let results = deliver(
        &fed,
        &kz,
        vec![
            alert.envelope.clone(),
            other.envelope.clone(),
            alert.envelope.clone(),
        ],
    )
    .await;
    let receipts: Vec<_> = results.into_iter().map(|r| r.expect("receipted")).collect();
    assert_eq!(receipts[0], receipts[2], "both copies get the same receipt");
    assert_eq!(receipt_body(&receipts[1]).alert_id, other.alert_id);
    assert_eq!(alerts_received(&kz, &alert.alert_id).len(), 1);
    assert_eq!(alerts_received(&kz, &other.alert_id).len(), 1);
    assert_eq!(receipts_issued(&kz).len(), 2);
}

#[tokio::test]
async fn other_content_under_the_same_id_in_one_call_is_refused_after_the_first() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    let alert = fed.alert(UZ_UNIT, "KZ");
    let other = altered(&fed, &alert);

    let results = deliver(
        &fed,
        &kz,
        vec![alert.envelope.clone(), other.envelope.clone()],
    )
    .await;
    let first = results[0].as_ref().expect("the first copy is receipted");
    assert_eq!(
        receipt_body(first).payload_sha256,
        payload_digest(&alert.envelope).to_vec()
    );
    assert!(
        matches!(results[1], Err(ReceiveError::Reused(_))),
        "{:?}",
        results[1]
    );
    assert_eq!(alerts_received(&kz, &alert.alert_id).len(), 1);
}

#[tokio::test]
async fn an_alert_recorded_without_its_receipt_gets_it_on_redelivery() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    let alert = fed.alert(UZ_UNIT, "KZ");
    // As if the node stopped between recording the alert and recording its receipt.
    let recorded = received_without_receipt(&fed.clock, &kz, &alert).await;
    assert!(matches!(
        kz.inbound.earlier_delivery(fed.uz.code, &alert.key(), &alert.alert_id, &alert.envelope),
        Ok(Some(Earlier::Unreceipted { ledger_index })) if ledger_index == recorded.index
    ));
    let size = kz.context.ledger_size();

    let receipt = deliver_one(&fed, &kz, &alert.envelope)
        .await
        .expect("receipted on redelivery");
    let body = receipt_body(&receipt);
    assert_eq!(
        body.ledger_index, recorded.index,
        "the receipt names the earlier entry"
    );
    assert_eq!(
        kz.context.ledger_size(),
        size + 1,
        "only the receipt is recorded, not the alert again"
    );
    assert_eq!(alerts_received(&kz, &alert.alert_id), vec![recorded.index]);
    assert_eq!(receipts_issued(&kz), vec![size]);
    assert_eq!(
        kz.context
            .state
            .received(&alert.key())
            .expect("state")
            .and_then(|r| r.receipt),
        Some(receipt.clone())
    );
    let again = deliver_one(&fed, &kz, &alert.envelope)
        .await
        .expect("receipted");
    assert_eq!(again, receipt);
    assert_eq!(kz.context.ledger_size(), size + 1);
}

/// KZ raises an alert to UZ; returns KZ's node and the alert's id.
async fn sent_alert(fed: &TestFederation) -> (Arc<Node>, String) {
    let kz = fed.open(&fed.kz);
    let submitted = raise(&kz, KZ_UNIT, "UZ").await;
    (kz, submitted.alert_id)
}

fn responses_received(kz: &Node) -> Vec<u64> {
    indexes(kz, |k| matches!(k, Kind::ResponseReceived(_)))
}

#[tokio::test]
async fn the_same_response_delivered_twice_gets_the_same_receipt_and_one_entry() {
    let fed = TestFederation::new();
    let (kz, alert_id) = sent_alert(&fed).await;
    let response = fed.response(UZ_UNIT, &alert_id, accepted());

    let receipt = kz
        .inbound
        .deliver_response(fed.uz.code, response.envelope.clone())
        .await
        .expect("receipted");
    let body = receipt_body(&receipt);
    assert_eq!(
        (body.alert_id.as_str(), body.response_id.as_str()),
        (alert_id.as_str(), response.response_id.as_str())
    );
    assert_eq!(responses_received(&kz), vec![body.ledger_index]);
    let size = kz.context.ledger_size();

    let again = kz
        .inbound
        .deliver_response(fed.uz.code, response.envelope.clone())
        .await
        .expect("receipted again");
    assert_eq!(again, receipt);
    assert_eq!(kz.context.ledger_size(), size);
    assert_eq!(responses_received(&kz).len(), 1);
}

#[tokio::test]
async fn other_content_under_a_delivered_response_id_is_refused() {
    let fed = TestFederation::new();
    let (kz, alert_id) = sent_alert(&fed).await;
    let response = fed.response(UZ_UNIT, &alert_id, accepted());
    kz.inbound
        .deliver_response(fed.uz.code, response.envelope.clone())
        .await
        .expect("receipted");
    let size = kz.context.ledger_size();

    let declined = proto::alert_response::Kind::Acknowledgement(proto::Acknowledgement {
        decision: proto::AcknowledgementDecision::Declined as i32,
        note: "no capacity".into(),
    });
    let other = fed.response_with(UZ_UNIT, &response.response_id, &alert_id, declined);
    match kz
        .inbound
        .deliver_response(fed.uz.code, other.envelope)
        .await
    {
        Err(error @ ReceiveError::Reused(_)) => {
            let message = error.to_string();
            assert!(message.contains(&response.response_id), "{message}");
        }
        other => panic!("expected ALREADY_EXISTS, got {other:?}"),
    }
    assert_eq!(kz.context.ledger_size(), size);
}

#[tokio::test]
async fn a_response_recorded_without_its_receipt_gets_it_on_redelivery() {
    let fed = TestFederation::new();
    let (kz, alert_id) = sent_alert(&fed).await;
    let response = fed.response(UZ_UNIT, &alert_id, accepted());
    let recorded = kz
        .context
        .append(entry(
            &fed.clock,
            &alert_id,
            Kind::ResponseReceived(proto::ResponseReceived {
                response: Some(response.envelope.clone()),
                from_country: "UZ".into(),
            }),
        ))
        .await
        .expect("recorded");
    let size = kz.context.ledger_size();

    let receipt = kz
        .inbound
        .deliver_response(fed.uz.code, response.envelope.clone())
        .await
        .expect("receipted on redelivery");
    let body = receipt_body(&receipt);
    assert_eq!(body.ledger_index, recorded.index);
    assert_eq!(body.response_id, response.response_id);
    assert_eq!(kz.context.ledger_size(), size + 1);
    assert_eq!(responses_received(&kz), vec![recorded.index]);
    assert_eq!(receipts_issued(&kz), vec![size]);
}

#[tokio::test]
async fn a_response_to_an_alert_this_node_did_not_raise_is_not_found() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    // An alert KZ received, not raised: a response to it cannot come from UZ.
    let received = fed.alert(UZ_UNIT, "KZ");
    deliver_one(&fed, &kz, &received.envelope)
        .await
        .expect("receipted");
    let unknown = tulpar_core::ids::AlertId::new_at(fed.clock.now()).to_string();
    for alert_id in [unknown, received.alert_id] {
        let response = fed.response(UZ_UNIT, &alert_id, accepted());
        let size = kz.context.ledger_size();
        let result = kz
            .inbound
            .deliver_response(fed.uz.code, response.envelope)
            .await;
        assert!(
            matches!(result, Err(ReceiveError::UnknownAlert { .. })),
            "{alert_id}: {result:?}"
        );
        assert_eq!(kz.context.ledger_size(), size);
    }
}

#[tokio::test]
async fn an_alert_not_signed_by_its_origin_or_not_addressed_here_is_refused_unrecorded() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    // UZ's alert signed with a key of KZ's unit: not a key of any UZ unit.
    let genuine = fed.alert(UZ_UNIT, "KZ");
    let forged = tulpar_core::envelope::sign(
        tulpar_core::envelope::PayloadType::Alert,
        genuine.envelope.payload.clone(),
        &[fed.kz.unit_key(KZ_UNIT)],
    );
    // A genuine UZ alert addressed to another country only.
    let elsewhere = fed.alert(UZ_UNIT, "TJ");

    let results = deliver(&fed, &kz, vec![forged, elsewhere.envelope]).await;
    assert!(
        matches!(&results[0], Err(ReceiveError::Signature { .. })),
        "{:?}",
        results[0]
    );
    assert!(
        matches!(&results[1], Err(ReceiveError::NotAddressedHere { country, .. }) if country.as_str() == "KZ"),
        "{:?}",
        results[1]
    );
    assert_eq!(kz.context.ledger_size(), 0, "nothing is recorded");
    assert!(
        kz.context
            .state
            .received(&genuine.key())
            .expect("state")
            .is_none()
    );
    // The genuine alert under that id is still accepted.
    deliver_one(&fed, &kz, &genuine.envelope)
        .await
        .expect("receipted");
}
