//! Response transitions at the recipient: acknowledge, then one outcome; retries replay; what a sent
//! alert and an unknown one allow; and the body check applied to delivered responses.

use std::sync::Arc;

use tulpar_core::ids::AlertId;
use tulpar_core::proto::{self, DeliveryState, alert_response::Kind};
use tulpar_core::time::Clock;

use super::RespondError;
use crate::error::ApiError;
use crate::node::Node;
use crate::submission::check_response_body;
use crate::testing::{
    KZ_OTHER_UNIT, KZ_UNIT, TestFederation, UZ_UNIT, accepted, integrator, nothing_found, officer,
    raise,
};

/// KZ's node with an alert from UZ delivered to it; returns the node and the alert's id.
async fn received_alert(fed: &TestFederation) -> (Arc<Node>, String) {
    let kz = fed.open(&fed.kz);
    let alert = fed.alert(UZ_UNIT, "KZ");
    kz.inbound
        .deliver_alerts(fed.uz.code, vec![alert.envelope])
        .await
        .pop()
        .expect("one result")
        .expect("receipted");
    (kz, alert.alert_id)
}

/// KZ's recipient state of alert `alert_id`.
fn state(kz: &Node, alert_id: &str) -> DeliveryState {
    let id = *AlertId::parse(alert_id).expect("alert id").as_bytes();
    let stored = kz
        .context
        .state
        .alert(&id)
        .expect("state")
        .expect("recorded");
    let status = stored.recipients.first().expect("recipient status");
    DeliveryState::try_from(status.state).expect("known state")
}

async fn respond(
    kz: &Node,
    request_id: &str,
    alert_id: &str,
    kind: Kind,
) -> Result<proto::RespondResponse, RespondError> {
    kz.submission
        .respond(&officer(KZ_UNIT), request_id, alert_id, "", kind)
        .await
}

fn failed_precondition(result: Result<proto::RespondResponse, RespondError>, needle: &str) {
    match result {
        Err(
            error @ (RespondError::OwnAlert { .. }
            | RespondError::NotAddressedTo { .. }
            | RespondError::Transition { .. }),
        ) => {
            let message = error.to_string();
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
            assert!(matches!(
                ApiError::from(error),
                ApiError::FailedPrecondition(_)
            ));
        }
        other => panic!("expected FAILED_PRECONDITION ({needle}), got {other:?}"),
    }
}

#[tokio::test]
async fn an_acknowledgement_then_an_outcome_are_recorded_signed_and_queued() {
    let fed = TestFederation::new();
    let (kz, alert_id) = received_alert(&fed).await;
    assert_eq!(state(&kz, &alert_id), DeliveryState::Delivered);

    let ack = respond(&kz, "", &alert_id, accepted())
        .await
        .expect("acknowledged");
    assert!(!ack.replayed);
    assert_eq!(state(&kz, &alert_id), DeliveryState::Acknowledged);
    let entry = kz.context.entry(ack.ledger_index).expect("entry");
    let Some(proto::ledger_entry::Kind::ResponseSent(sent)) = entry.kind else {
        panic!("expected a ResponseSent entry, got {entry:?}");
    };
    assert_eq!(sent.to_country, "UZ");
    assert_eq!(sent.response, ack.signed_response);
    assert!(
        kz.context
            .state
            .in_outbox(fed.uz.code, ack.ledger_index)
            .expect("state"),
        "the acknowledgement waits for delivery to UZ"
    );
    let signed = ack.signed_response.expect("signed");
    let response: proto::AlertResponse =
        prost::Message::decode(signed.payload.as_slice()).expect("response");
    assert_eq!(response.response_id, ack.response_id);
    assert_eq!(response.alert_id, alert_id);
    assert_eq!(
        response.responder.as_ref().map(|r| r.unit.as_str()),
        Some(KZ_UNIT)
    );
    assert_eq!(response.kind, Some(accepted()));

    fed.clock.advance(std::time::Duration::from_secs(60));
    let outcome = respond(&kz, "", &alert_id, nothing_found())
        .await
        .expect("outcome recorded");
    assert_ne!(outcome.response_id, ack.response_id);
    assert!(outcome.ledger_index > ack.ledger_index);
    assert_eq!(state(&kz, &alert_id), DeliveryState::OutcomeRecorded);
}

#[tokio::test]
async fn an_outcome_before_an_acknowledgement_is_refused() {
    let fed = TestFederation::new();
    let (kz, alert_id) = received_alert(&fed).await;
    let size = kz.context.ledger_size();
    failed_precondition(
        respond(&kz, "", &alert_id, nothing_found()).await,
        "acknowledge the alert before recording an outcome",
    );
    assert_eq!(kz.context.ledger_size(), size);
    assert_eq!(state(&kz, &alert_id), DeliveryState::Delivered);
}

#[tokio::test]
async fn a_second_acknowledgement_and_a_second_outcome_are_refused() {
    let fed = TestFederation::new();
    let (kz, alert_id) = received_alert(&fed).await;
    respond(&kz, "", &alert_id, accepted())
        .await
        .expect("acknowledged");
    failed_precondition(
        respond(&kz, "", &alert_id, accepted()).await,
        "already acknowledged",
    );
    respond(&kz, "", &alert_id, nothing_found())
        .await
        .expect("outcome recorded");
    let size = kz.context.ledger_size();
    failed_precondition(
        respond(&kz, "", &alert_id, nothing_found()).await,
        "an outcome was already recorded",
    );
    failed_precondition(
        respond(&kz, "", &alert_id, accepted()).await,
        "an outcome was already recorded",
    );
    assert_eq!(kz.context.ledger_size(), size, "refusals record nothing");
}

#[tokio::test]
async fn a_decline_ends_the_exchange() {
    let fed = TestFederation::new();
    let (kz, alert_id) = received_alert(&fed).await;
    let declined = Kind::Acknowledgement(proto::Acknowledgement {
        decision: proto::AcknowledgementDecision::Declined as i32,
        note: "not our border crossing".into(),
    });
    respond(&kz, "", &alert_id, declined)
        .await
        .expect("declined");
    assert_eq!(state(&kz, &alert_id), DeliveryState::Declined);
    failed_precondition(
        respond(&kz, "", &alert_id, nothing_found()).await,
        "declined",
    );
}

#[tokio::test]
async fn a_repeated_request_replays_the_recorded_response() {
    let fed = TestFederation::new();
    let (kz, alert_id) = received_alert(&fed).await;
    let first = respond(&kz, "ack-1", &alert_id, accepted())
        .await
        .expect("acknowledged");
    let size = kz.context.ledger_size();

    fed.clock.advance(std::time::Duration::from_secs(5));
    let again = respond(&kz, "ack-1", &alert_id, accepted())
        .await
        .expect("replayed");
    assert!(again.replayed);
    assert_eq!(again.response_id, first.response_id);
    assert_eq!(again.ledger_index, first.ledger_index);
    assert_eq!(again.signed_response, first.signed_response);
    assert_eq!(kz.context.ledger_size(), size, "a replay records nothing");
    assert_eq!(state(&kz, &alert_id), DeliveryState::Acknowledged);
}

#[tokio::test]
async fn a_request_id_reused_for_another_response_is_refused() {
    let fed = TestFederation::new();
    let (kz, alert_id) = received_alert(&fed).await;
    respond(&kz, "ack-1", &alert_id, accepted())
        .await
        .expect("acknowledged");
    let size = kz.context.ledger_size();
    // Under the same request id an outcome is not a retry: it is refused, not recorded and not
    // answered with the acknowledgement.
    match respond(&kz, "ack-1", &alert_id, nothing_found()).await {
        Err(RespondError::RequestIdReused(message)) => {
            assert!(message.contains("ack-1"), "{message}")
        }
        other => panic!("expected ALREADY_EXISTS, got {other:?}"),
    }
    // Nor is a new alert under it: the refusal names the key, as an HTTP client's 409 does.
    let raised = kz
        .submission
        .submit_alert(
            &officer(KZ_UNIT),
            proto::SubmitAlertRequest {
                request_id: "ack-1".into(),
                content: Some(tulpar_core::sample::alert_draft(KZ_UNIT, "UZ")),
            },
        )
        .await;
    match raised {
        Err(crate::submission::SubmitError::RequestIdReused(message)) => {
            assert!(message.contains("ack-1"), "{message}")
        }
        other => panic!("expected ALREADY_EXISTS, got {other:?}"),
    }
    assert_eq!(kz.context.ledger_size(), size);
    assert_eq!(state(&kz, &alert_id), DeliveryState::Acknowledged);
}

#[tokio::test]
async fn a_sent_alert_is_answered_only_by_its_recipients() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    let sent = raise(&kz, KZ_UNIT, "UZ").await;
    let size = kz.context.ledger_size();
    failed_precondition(
        respond(&kz, "", &sent.alert_id, accepted()).await,
        "only its recipients answer it",
    );
    assert_eq!(kz.context.ledger_size(), size);
}

#[tokio::test]
async fn an_unknown_alert_is_not_found_and_a_bad_id_is_invalid() {
    let fed = TestFederation::new();
    let (kz, _) = received_alert(&fed).await;
    let unknown = AlertId::new_at(fed.clock.now()).to_string();
    let result = respond(&kz, "", &unknown, accepted()).await;
    assert!(
        matches!(result, Err(RespondError::Node(ApiError::NotFound(_)))),
        "{result:?}"
    );
    let result = respond(&kz, "", "not-an-id", accepted()).await;
    match result {
        Err(RespondError::Invalid(violations)) => {
            assert!(
                violations.into_vec().iter().any(|v| v.field == "alert_id"),
                "alert_id named"
            )
        }
        other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
    }
}

#[tokio::test]
async fn only_an_officer_of_the_unit_may_answer() {
    let fed = TestFederation::new();
    let (kz, alert_id) = received_alert(&fed).await;
    let result = kz
        .submission
        .respond(&officer(KZ_UNIT), "", &alert_id, UZ_UNIT, accepted())
        .await;
    assert!(
        matches!(result, Err(RespondError::NotActingFor { .. })),
        "{result:?}"
    );
    assert_eq!(state(&kz, &alert_id), DeliveryState::Delivered);
}

#[tokio::test]
async fn an_alert_addressed_to_a_unit_is_answered_by_that_unit_only() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    let mut content = tulpar_core::sample::alert_draft(UZ_UNIT, "KZ");
    content.recipients[0].units = vec![KZ_OTHER_UNIT.into()];
    let alert = fed.alert_with(
        UZ_UNIT,
        AlertId::new_at(fed.clock.now()),
        fed.clock.now(),
        content,
    );
    kz.inbound
        .deliver_alerts(fed.uz.code, vec![alert.envelope])
        .await
        .pop()
        .expect("one result")
        .expect("receipted");
    let both = integrator(&[KZ_UNIT, KZ_OTHER_UNIT]);
    let size = kz.context.ledger_size();
    failed_precondition(
        kz.submission
            .respond(&both, "", &alert.alert_id, KZ_UNIT, accepted())
            .await,
        "is addressed to KZ-ALTYNKOL-PCU, not to KZ-AKTAU-PCU",
    );
    assert_eq!(kz.context.ledger_size(), size);
    // Acting for two units, the integrator must say which one answers.
    let unnamed = kz
        .submission
        .respond(&both, "", &alert.alert_id, "", accepted())
        .await;
    assert!(
        matches!(&unnamed, Err(RespondError::Invalid(v)) if v.clone().into_vec().iter().any(|v| v.field == "unit")),
        "{unnamed:?}"
    );
    kz.submission
        .respond(&both, "", &alert.alert_id, KZ_OTHER_UNIT, accepted())
        .await
        .expect("answered by the addressed unit");
    assert_eq!(state(&kz, &alert.alert_id), DeliveryState::Acknowledged);
}

#[test]
fn a_delivered_response_needs_a_valid_body() {
    assert!(
        check_response_body(&proto::AlertResponse::default())
            .is_err_and(|v| { v.into_vec().iter().any(|v| v.field == "kind") })
    );
    let with = |kind| proto::AlertResponse {
        kind: Some(kind),
        ..Default::default()
    };
    assert!(check_response_body(&with(accepted())).is_ok());
    assert!(check_response_body(&with(nothing_found())).is_ok());
    let unexplained_decline = Kind::Acknowledgement(proto::Acknowledgement {
        decision: proto::AcknowledgementDecision::Declined as i32,
        note: String::new(),
    });
    assert!(check_response_body(&with(unexplained_decline)).is_err());
    let no_result = Kind::Outcome(proto::Outcome::default());
    assert!(check_response_body(&with(no_result)).is_err());
}
