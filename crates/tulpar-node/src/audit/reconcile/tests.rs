//! Each reconciliation finding, produced from what KZ's ledger holds about its exchanges with UZ: UZ's
//! node (opened beside KZ's) receipts what KZ sends, and KZ records those receipts as its delivery
//! worker would.

use std::sync::Arc;
use std::time::Duration;

use tulpar_core::proto::{self, ReconcileFindingKind as FindingKind, ledger_entry::Kind};
use tulpar_core::time::{Clock, to_timestamp};

use crate::node::Node;
use crate::testing::{
    KZ_UNIT, TestFederation, UZ_UNIT, accepted, entry, officer, receipt_body,
    received_without_receipt,
};

/// KZ's reconciliation with UZ over a period around now; `late_after_seconds` 0 is the default hour.
fn reconcile(fed: &TestFederation, kz: &Node, late_after_seconds: u32) -> proto::ReconcileReport {
    let now = fed.clock.now();
    let day = Duration::from_secs(86_400);
    let checkpoints = kz.auditor.checkpoints().expect("checkpoints");
    kz.auditor
        .reconcile(
            proto::ReconcileRequest {
                partner: "UZ".into(),
                from: Some(to_timestamp(now - day)),
                to: Some(to_timestamp(now + day)),
                late_after_seconds,
            },
            checkpoints,
        )
        .expect("reconciled")
}

/// The findings as (kind, alert id, response id).
fn findings(report: &proto::ReconcileReport) -> Vec<(FindingKind, String, String)> {
    report
        .findings
        .iter()
        .map(|f| {
            (
                FindingKind::try_from(f.kind).expect("known kind"),
                f.alert_id.clone(),
                f.response_id.clone(),
            )
        })
        .collect()
}

/// Raises an alert from `unit` to `to` at `node`: its id and signed envelope.
async fn raise(node: &Node, unit: &str, to: &str) -> (String, proto::Envelope) {
    let submitted = crate::testing::raise(node, unit, to).await;
    (
        submitted.alert_id,
        submitted.signed_alert.expect("signed alert"),
    )
}

/// Delivers `envelope` from `from` to `node` and returns the receipt.
async fn deliver(
    node: &Arc<Node>,
    from: tulpar_core::codes::CountryCode,
    envelope: proto::Envelope,
) -> proto::Envelope {
    node.inbound
        .deliver_alerts(from, vec![envelope])
        .await
        .pop()
        .expect("one result")
        .expect("receipted")
}

/// Records in KZ's ledger a receipt from UZ about `alert_id`, as KZ's delivery worker does.
async fn record_receipt(fed: &TestFederation, kz: &Node, alert_id: &str, receipt: proto::Envelope) {
    kz.context
        .append(entry(
            &fed.clock,
            alert_id,
            Kind::ReceiptReceived(proto::ReceiptReceived {
                receipt: Some(receipt),
                from_country: "UZ".into(),
            }),
        ))
        .await
        .expect("recorded");
}

#[tokio::test]
async fn exchanges_with_their_receipts_leave_no_finding() {
    let fed = TestFederation::new();
    let (kz, uz) = (fed.open(&fed.kz), fed.open(&fed.uz));
    // KZ → UZ, receipted by UZ.
    let (sent, envelope) = raise(&kz, KZ_UNIT, "UZ").await;
    let receipt = deliver(&uz, fed.kz.code, envelope).await;
    record_receipt(&fed, &kz, &sent, receipt).await;
    // UZ → KZ, receipted by KZ.
    let (received, envelope) = raise(&uz, UZ_UNIT, "KZ").await;
    deliver(&kz, fed.uz.code, envelope).await;
    // KZ's acknowledgement of it, receipted by UZ.
    let ack = kz
        .submission
        .respond(&officer(KZ_UNIT), "", &received, "", accepted())
        .await
        .expect("acknowledged");
    let receipt = uz
        .inbound
        .deliver_response(fed.kz.code, ack.signed_response.expect("signed"))
        .await
        .expect("receipted");
    record_receipt(&fed, &kz, &received, receipt).await;
    // UZ's acknowledgement of KZ's alert, receipted by KZ.
    let response = fed.response(UZ_UNIT, &sent, accepted());
    kz.inbound
        .deliver_response(fed.uz.code, response.envelope)
        .await
        .expect("receipted");

    let report = reconcile(&fed, &kz, 0);
    assert_eq!(findings(&report), Vec::new());
    assert_eq!(report.partner, "UZ");
    assert_eq!((report.sent, report.sent_receipted), (1, 1));
    assert_eq!((report.received, report.received_receipted), (1, 1));
}

#[tokio::test]
async fn something_sent_without_a_receipt_from_the_partner_is_a_missing_receipt() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    let (sent, _) = raise(&kz, KZ_UNIT, "UZ").await;
    let alert_index = kz.context.ledger_size() - 1;
    // Alerts are reconciled in id order, which is creation order only between milliseconds.
    fed.clock.advance(Duration::from_secs(1));
    let uz = fed.open(&fed.uz);
    let (received, envelope) = raise(&uz, UZ_UNIT, "KZ").await;
    deliver(&kz, fed.uz.code, envelope).await;
    let ack = kz
        .submission
        .respond(&officer(KZ_UNIT), "", &received, "", accepted())
        .await
        .expect("acknowledged");

    let report = reconcile(&fed, &kz, 0);
    assert_eq!(
        findings(&report),
        vec![
            (FindingKind::MissingReceipt, sent.clone(), String::new()),
            (FindingKind::MissingReceipt, received, ack.response_id),
        ]
    );
    assert_eq!(report.findings[0].ledger_index, alert_index);
    assert_eq!(report.findings[1].ledger_index, ack.ledger_index);
    assert!(
        report.findings[0]
            .detail
            .contains("no delivery receipt from UZ")
    );
    assert_eq!((report.sent, report.sent_receipted), (1, 0));
    assert_eq!((report.received, report.received_receipted), (1, 1));
}

#[tokio::test]
async fn something_received_without_a_receipt_issued_is_receipt_not_issued() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    // Recorded as received, as if the node stopped before recording the receipt.
    let alert = fed.alert(UZ_UNIT, "KZ");
    let recorded = received_without_receipt(&fed.clock, &kz, &alert).await;
    let (sent, _) = raise(&kz, KZ_UNIT, "UZ").await;
    let response = fed.response(UZ_UNIT, &sent, accepted());
    let response_index = kz
        .context
        .append(entry(
            &fed.clock,
            &sent,
            Kind::ResponseReceived(proto::ResponseReceived {
                response: Some(response.envelope.clone()),
                from_country: "UZ".into(),
            }),
        ))
        .await
        .expect("recorded")
        .index;

    let report = reconcile(&fed, &kz, 0);
    let found = findings(&report);
    assert!(found.contains(&(
        FindingKind::ReceiptNotIssued,
        alert.alert_id.clone(),
        String::new()
    )));
    assert!(found.contains(&(
        FindingKind::ReceiptNotIssued,
        sent.clone(),
        response.response_id.clone()
    )));
    // The alert KZ sent has no receipt either.
    assert!(found.contains(&(FindingKind::MissingReceipt, sent, String::new())));
    assert_eq!(found.len(), 3, "{found:?}");
    let index_of = |response_id: &str| {
        report
            .findings
            .iter()
            .find(|f| {
                f.kind == FindingKind::ReceiptNotIssued as i32 && f.response_id == response_id
            })
            .map(|f| f.ledger_index)
    };
    assert_eq!(index_of(""), Some(recorded.index));
    assert_eq!(index_of(&response.response_id), Some(response_index));
    assert_eq!((report.received, report.received_receipted), (1, 0));

    // Redelivered, it is receipted and the finding goes away.
    deliver(&kz, fed.uz.code, alert.envelope).await;
    let report = reconcile(&fed, &kz, 0);
    assert!(!findings(&report).contains(&(
        FindingKind::ReceiptNotIssued,
        alert.alert_id,
        String::new()
    )));
}

#[tokio::test]
async fn a_receipt_later_than_the_threshold_is_late() {
    let fed = TestFederation::new();
    let (kz, uz) = (fed.open(&fed.kz), fed.open(&fed.uz));
    let (late, envelope) = raise(&uz, UZ_UNIT, "KZ").await;
    fed.clock.advance(Duration::from_secs(2 * 3600));
    let receipt = deliver(&kz, fed.uz.code, envelope).await;
    let (on_time, envelope) = raise(&uz, UZ_UNIT, "KZ").await;
    deliver(&kz, fed.uz.code, envelope).await;

    let report = reconcile(&fed, &kz, 0);
    assert_eq!(
        findings(&report),
        vec![(FindingKind::Late, late.clone(), String::new())]
    );
    let finding = &report.findings[0];
    assert_eq!(
        finding.ledger_index,
        kz.context.ledger_size() - 3,
        "the index of the receipt"
    );
    assert!(
        finding.detail.contains("threshold 1h"),
        "{}",
        finding.detail
    );
    assert_eq!(receipt_body(&receipt).alert_id, late);
    // A late delivery is still a receipted one.
    assert_eq!((report.received, report.received_receipted), (2, 2));
    assert_ne!(late, on_time);

    // Under a threshold of three hours it is on time.
    assert_eq!(findings(&reconcile(&fed, &kz, 3 * 3600)), Vec::new());
}

#[tokio::test]
async fn a_receipt_that_does_not_hold_is_inconsistent() {
    let fed = TestFederation::new();
    let (kz, uz) = (fed.open(&fed.kz), fed.open(&fed.uz));
    let stranger = tulpar_core::keys::SigningKey::generate().expect("key");
    let faults: [(&str, &str); 4] = [
        (
            "payload",
            "it is for a different payload than the one recorded",
        ),
        ("countries", "it names TJ → UZ, not KZ → UZ"),
        ("signature", "its signature does not hold"),
        ("checkpoint", "does not cover its ledger index"),
    ];
    let mut expected = Vec::new();
    for (fault, detail) in faults {
        let (sent, envelope) = raise(&kz, KZ_UNIT, "UZ").await;
        let receipt = match fault {
            "payload" => {
                // UZ receipted other content under the same id (signed by the KZ unit).
                let recorded: proto::Alert =
                    prost::Message::decode(envelope.payload.as_slice()).expect("alert");
                let id = tulpar_core::ids::AlertId::parse(&recorded.alert_id).expect("id");
                let mut content = recorded.content.expect("content");
                content.priority = proto::Priority::Routine as i32;
                let other = fed.alert_with(KZ_UNIT, id, id.time(), content);
                deliver(&uz, fed.kz.code, other.envelope).await
            }
            _ => {
                let genuine = deliver(&uz, fed.kz.code, envelope).await;
                let mut body = receipt_body(&genuine);
                match fault {
                    "countries" => {
                        body.sender_country = "TJ".into();
                        fed.receipt(&fed.uz, &body)
                    }
                    "signature" => tulpar_core::envelope::sign_message(
                        tulpar_core::envelope::PayloadType::Receipt,
                        &body,
                        &[&stranger],
                    ),
                    _ => {
                        body.ledger_index = 1_000;
                        fed.receipt(&fed.uz, &body)
                    }
                }
            }
        };
        record_receipt(&fed, &kz, &sent, receipt).await;
        expected.push((sent, detail, kz.context.ledger_size() - 1));
    }

    let report = reconcile(&fed, &kz, 0);
    assert_eq!(
        report.findings.len(),
        expected.len(),
        "{:?}",
        report.findings
    );
    for (sent, detail, index) in expected {
        let finding = report
            .findings
            .iter()
            .find(|f| f.alert_id == sent)
            .unwrap_or_else(|| panic!("no finding for {detail}"));
        assert_eq!(finding.kind, FindingKind::Inconsistent as i32, "{detail}");
        assert!(
            finding.detail.contains(detail),
            "{detail}: {}",
            finding.detail
        );
        assert_eq!(finding.ledger_index, index, "the index of the receipt");
    }
    assert_eq!((report.sent, report.sent_receipted), (4, 0));
}
