//! The answers to an alert, end to end: a watching officer receives it live, acknowledges it and
//! reports a seizure; the sender's watcher sees each step in order; an unanswered URGENT alert becomes
//! overdue; a watcher that reconnects misses nothing.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use tonic::Code;
use tulpar_core::proto::{
    self, AlertEventKind, DeliveryState, alert_service_client::AlertServiceClient,
};
use tulpar_core::time::ManualClock;
use tulpar_tests::{Federation, eventually};

const WAIT: Duration = Duration::from_secs(30);

type Events = tonic::Streaming<proto::AlertEvent>;

async fn watch<T>(
    client: &mut AlertServiceClient<T>,
    resume_from: Option<u64>,
    kinds: &[AlertEventKind],
) -> Result<Events>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <T::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let request = proto::WatchAlertsRequest {
        resume_from,
        kinds: kinds.iter().map(|k| *k as i32).collect(),
    };
    Ok(client.watch_alerts(request).await?.into_inner())
}

async fn next_event(events: &mut Events) -> Result<proto::AlertEvent> {
    tokio::time::timeout(WAIT, events.message())
        .await
        .context("no event in time")??
        .context("stream ended")
}

fn submit_request(request_id: &str, to: &str) -> proto::SubmitAlertRequest {
    proto::SubmitAlertRequest {
        request_id: request_id.into(),
        content: Some(tulpar_core::sample::alert_draft("KZ-AKTAU-PCU", to)),
    }
}

fn seizure() -> proto::Outcome {
    proto::Outcome {
        result: Some(proto::outcome::Result::Seizure(proto::Seizure {
            items: vec![proto::SeizedItem {
                description: "Heroin in the false floor".into(),
                hs_code: "293911".into(),
                quantity: 12.5,
                unit: "kg".into(),
            }],
            case_reference: "UZ-2026-0042".into(),
        })),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_alert_is_acknowledged_and_its_seizure_reported_back() -> Result<()> {
    let mut federation = Federation::new(&[
        ("KZ", &["KZ-AKTAU-PCU", "KZ-ALTYNKOL-PCU"]),
        ("UZ", &["UZ-TASHKENT-PCU", "UZ-TERMEZ-PCU"]),
        ("TJ", &["TJ-DUSHANBE-PCU"]),
    ])?;
    federation.start_all().await?;
    // The UZ officer signs in with a client certificate from the UZ CA.
    let mut uz_officer = federation.countries["UZ"]
        .cert_client("officer", "UZ-TASHKENT-PCU")
        .await?;
    let mut uz_events = watch(&mut uz_officer, None, &[]).await?;
    let mut kz_officer = federation.countries["KZ"].client("KZ-AKTAU-PCU").await?;
    let mut kz_events = watch(&mut kz_officer, None, &[]).await?;

    let alert_id = kz_officer
        .submit_alert(submit_request("a1", "UZ"))
        .await?
        .into_inner()
        .alert_id;
    let received = next_event(&mut uz_events).await?;
    assert_eq!(received.kind, AlertEventKind::AlertReceived as i32);
    assert_eq!(received.alert_id, alert_id);

    let acknowledge = |request_id: &str, unit: &str| proto::AcknowledgeRequest {
        request_id: request_id.into(),
        alert_id: alert_id.clone(),
        unit: unit.into(),
        acknowledgement: Some(proto::Acknowledgement {
            decision: proto::AcknowledgementDecision::Accepted as i32,
            note: "Inspection ordered on arrival".into(),
        }),
    };
    let outcome = |request_id: &str| proto::RecordOutcomeRequest {
        request_id: request_id.into(),
        alert_id: alert_id.clone(),
        unit: "UZ-TASHKENT-PCU".into(),
        outcome: Some(seizure()),
    };

    // Refused: the sender answering its own alert, an integrator answering as a unit the alert is not
    // addressed to, an outcome before the acknowledgement, acting for another unit, a focal point acting.
    let mut own = acknowledge("own", "KZ-AKTAU-PCU");
    own.alert_id = alert_id.clone();
    let status = kz_officer.acknowledge(own).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let integrator = federation.countries["UZ"].client("integrator").await?;
    let mut to_termez = tulpar_core::sample::alert_draft("KZ-AKTAU-PCU", "UZ");
    to_termez.recipients[0].units = vec!["UZ-TERMEZ-PCU".into()];
    let termez_alert = kz_officer
        .submit_alert(proto::SubmitAlertRequest {
            request_id: "a2".into(),
            content: Some(to_termez),
        })
        .await?
        .into_inner()
        .alert_id;
    let mut wrong_unit = acknowledge("wrong-unit", "UZ-TASHKENT-PCU");
    wrong_unit.alert_id = termez_alert.clone();
    let status = eventually(WAIT, "the second alert at UZ", || {
        let (mut integrator, request) = (integrator.clone(), wrong_unit.clone());
        async move {
            match integrator.acknowledge(request).await {
                Err(status) if status.code() == Code::NotFound => Ok(None),
                Err(status) => Ok(Some(status)),
                Ok(_) => anyhow::bail!("acknowledged as a unit the alert is not addressed to"),
            }
        }
    })
    .await?;
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("addressed to UZ-TERMEZ-PCU"),
        "{}",
        status.message()
    );
    // The TASHKENT officer does not see an alert addressed to TERMEZ at all.
    let hidden = proto::GetAlertRequest {
        alert_id: termez_alert.clone(),
    };
    assert_eq!(
        uz_officer.get_alert(hidden).await.unwrap_err().code(),
        Code::NotFound
    );

    let status = uz_officer
        .record_outcome(outcome("early"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("acknowledge the alert before"),
        "{}",
        status.message()
    );
    let status = uz_officer
        .acknowledge(acknowledge("other", "UZ-TERMEZ-PCU"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let mut uz_focal = federation.countries["UZ"].client("focal-point").await?;
    let status = uz_focal
        .acknowledge(acknowledge("focal", "UZ-TASHKENT-PCU"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    let acked = uz_officer
        .acknowledge(acknowledge("ack", "UZ-TASHKENT-PCU"))
        .await?
        .into_inner();
    // A retry returns the same response; a second acknowledgement is refused.
    let retried = uz_officer
        .acknowledge(acknowledge("ack", "UZ-TASHKENT-PCU"))
        .await?
        .into_inner();
    assert!(retried.replayed);
    assert_eq!(retried.response_id, acked.response_id);
    let status = uz_officer
        .acknowledge(acknowledge("ack-again", "UZ-TASHKENT-PCU"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    uz_officer.record_outcome(outcome("seized")).await?;

    // The sender's watcher sees every step of the first alert, in order.
    let mut kinds = Vec::new();
    while kinds.last() != Some(&(AlertEventKind::OutcomeRecorded as i32)) {
        let event = next_event(&mut kz_events).await?;
        if event.alert_id == alert_id {
            kinds.push(event.kind);
        }
    }
    let expected = [
        AlertEventKind::AlertSent,
        AlertEventKind::Delivered,
        AlertEventKind::Acknowledged,
        AlertEventKind::OutcomeRecorded,
    ];
    assert_eq!(kinds, expected.map(|k| k as i32));

    // Both sides hold the same lifecycle, with the signed responses.
    let get = proto::GetAlertRequest {
        alert_id: alert_id.clone(),
    };
    let sent = kz_officer.get_alert(get.clone()).await?.into_inner();
    let status = &sent.recipients[0];
    assert_eq!(status.state, DeliveryState::OutcomeRecorded as i32);
    let states: Vec<i32> = status.timeline.iter().map(|e| e.state).collect();
    let lifecycle = [
        DeliveryState::Queued,
        DeliveryState::Delivered,
        DeliveryState::Acknowledged,
        DeliveryState::OutcomeRecorded,
    ];
    assert_eq!(states, lifecycle.map(|s| s as i32));
    assert_eq!(status.timeline[2].actor, "UZ-TASHKENT-PCU");
    let on_uz = uz_officer.get_alert(get.clone()).await?.into_inner();
    assert_eq!(
        on_uz.recipients[0].state,
        DeliveryState::OutcomeRecorded as i32
    );

    // Nobody else sees it: another KZ unit's officer, and TJ, which it was not sent to.
    let mut other_unit = federation.countries["KZ"].client("KZ-ALTYNKOL-PCU").await?;
    assert_eq!(
        other_unit.get_alert(get.clone()).await.unwrap_err().code(),
        Code::NotFound
    );
    let mut tj = federation.countries["TJ"].client("focal-point").await?;
    assert_eq!(tj.get_alert(get).await.unwrap_err().code(), Code::NotFound);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_urgent_alert_becomes_overdue() -> Result<()> {
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("TJ", &["TJ-DUSHANBE-PCU"])])?;
    federation.country("TJ").start().await?;
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    federation
        .country("KZ")
        .start_with_clock(clock.clone())
        .await?;
    let kz_node = federation.countries["KZ"].node()?;
    let mut kz = federation.countries["KZ"].client("KZ-AKTAU-PCU").await?;
    let mut overdue_events = watch(&mut kz, None, &[AlertEventKind::Overdue]).await?;
    let alert_id = kz
        .submit_alert(submit_request("urgent", "TJ"))
        .await?
        .into_inner()
        .alert_id;
    let get = proto::GetAlertRequest {
        alert_id: alert_id.clone(),
    };
    eventually(WAIT, "delivery to TJ", || {
        let (mut kz, get) = (kz.clone(), get.clone());
        async move {
            let record = kz.get_alert(get).await?.into_inner();
            Ok((record.recipients[0].state == DeliveryState::Delivered as i32).then_some(()))
        }
    })
    .await?;

    // 29 minutes: not yet overdue. 31 minutes: overdue (URGENT must be acknowledged within 30).
    clock.advance(Duration::from_secs(29 * 60));
    assert_eq!(kz_node.check_deadlines().await?, 0);
    clock.advance(Duration::from_secs(2 * 60));
    assert_eq!(kz_node.check_deadlines().await?, 1);
    assert_eq!(kz_node.check_deadlines().await?, 0, "recorded once");

    let event = next_event(&mut overdue_events).await?;
    assert_eq!(event.kind, AlertEventKind::Overdue as i32);
    assert_eq!(
        (event.alert_id.as_str(), event.country.as_str()),
        (alert_id.as_str(), "TJ")
    );
    let record = kz.get_alert(get).await?.into_inner();
    assert!(record.recipients[0].overdue);

    let mut focal = federation.countries["KZ"].client("focal-point").await?;
    let overdue = focal
        .list_overdue(proto::ListOverdueRequest::default())
        .await?
        .into_inner()
        .overdue;
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0].country, "TJ");
    federation.country("KZ").stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_resuming_from_its_last_index_gets_exactly_what_it_missed() -> Result<()> {
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    federation.start_all().await?;
    let mut kz = federation.countries["KZ"].client("KZ-AKTAU-PCU").await?;
    let mut focal = federation.countries["KZ"].client("focal-point").await?;

    let mut first = watch(&mut focal, Some(0), &[]).await?;
    kz.submit_alert(submit_request("r1", "UZ")).await?;
    let mut last_seen = 0;
    for _ in 0..2 {
        last_seen = next_event(&mut first).await?.ledger_index; // sent, delivered
    }
    drop(first);

    // While disconnected: two more alerts, both delivered.
    for request_id in ["r2", "r3"] {
        let id = kz
            .submit_alert(submit_request(request_id, "UZ"))
            .await?
            .into_inner()
            .alert_id;
        eventually(WAIT, "delivery", || {
            let (mut kz, id) = (kz.clone(), id.clone());
            async move {
                let record = kz
                    .get_alert(proto::GetAlertRequest { alert_id: id })
                    .await?
                    .into_inner();
                Ok((record.recipients[0].state == DeliveryState::Delivered as i32).then_some(()))
            }
        })
        .await?;
    }

    let mut resumed = watch(&mut focal, Some(last_seen + 1), &[]).await?;
    let mut missed = Vec::new();
    for _ in 0..4 {
        let event = next_event(&mut resumed).await?;
        missed.push((event.ledger_index, event.kind, event.alert_id));
    }
    // Exactly the events after `last_seen`, as a full replay shows them.
    let mut replay = watch(&mut focal, Some(0), &[]).await?;
    let mut all = Vec::new();
    for _ in 0..6 {
        let event = next_event(&mut replay).await?;
        all.push((event.ledger_index, event.kind, event.alert_id));
    }
    let after: Vec<_> = all.into_iter().filter(|e| e.0 > last_seen).collect();
    assert_eq!(missed, after);
    assert!(missed.iter().all(|e| e.0 > last_seen));

    // Resuming beyond the end is refused, naming the field.
    let beyond = proto::WatchAlertsRequest {
        resume_from: Some(1_000_000),
        kinds: Vec::new(),
    };
    let status = focal.watch_alerts(beyond).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("resume_from:"),
        "{}",
        status.message()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_with_a_photo_is_corrected_by_its_unit_and_both_stay_on_record() -> Result<()> {
    let mut federation = Federation::new(&[
        ("KZ", &["KZ-AKTAU-PCU", "KZ-ALTYNKOL-PCU"]),
        ("UZ", &["UZ-TASHKENT-PCU", "UZ-TERMEZ-PCU"]),
    ])?;
    federation.start_all().await?;
    let mut kz_officer = federation.countries["KZ"].client("KZ-AKTAU-PCU").await?;
    let mut kz_events = watch(&mut kz_officer, None, &[AlertEventKind::OutcomeRecorded]).await?;
    let mut tashkent = federation.countries["UZ"].client("UZ-TASHKENT-PCU").await?;
    let mut termez = federation.countries["UZ"].client("UZ-TERMEZ-PCU").await?;
    let alert_id = kz_officer
        .submit_alert(submit_request("c1", "UZ"))
        .await?
        .into_inner()
        .alert_id;
    let acknowledge = proto::AcknowledgeRequest {
        alert_id: alert_id.clone(),
        acknowledgement: Some(proto::Acknowledgement {
            decision: proto::AcknowledgementDecision::Accepted as i32,
            note: String::new(),
        }),
        ..Default::default()
    };
    eventually(WAIT, "the alert at UZ", || {
        let (mut tashkent, request) = (tashkent.clone(), acknowledge.clone());
        async move {
            match tashkent.acknowledge(request).await {
                Err(status) if status.code() == Code::NotFound => Ok(None),
                other => Ok(Some(other?)),
            }
        }
    })
    .await?;
    let photo = include_bytes!("../fixtures/seized.png").to_vec();
    let mut with_photo = seizure();
    with_photo.attachments = vec![tulpar_core::alert::attachment_of(
        "pallets.png",
        None,
        photo.clone(),
    )];
    let record = |outcome: proto::Outcome| proto::RecordOutcomeRequest {
        alert_id: alert_id.clone(),
        outcome: Some(outcome),
        ..Default::default()
    };
    let first = tashkent
        .record_outcome(record(with_photo))
        .await?
        .into_inner();

    // A second outcome must say what it corrects and why, name the latest one, and come from its unit.
    let mut corrected = proto::Outcome {
        result: Some(proto::outcome::Result::NothingFound(proto::NothingFound {})),
        ..Default::default()
    };
    let status = tashkent
        .record_outcome(record(corrected.clone()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("outcome.correction"),
        "{}",
        status.message()
    );
    corrected.correction = Some(proto::OutcomeCorrection {
        corrects_response_id: first.response_id.clone(),
        reason: String::new(),
    });
    let status = tashkent
        .record_outcome(record(corrected.clone()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("outcome.correction.reason"),
        "{}",
        status.message()
    );
    let reason = "The powder was tested: sugar, not heroin";
    corrected.correction.as_mut().unwrap().reason = reason.into();
    let status = termez
        .record_outcome(record(corrected.clone()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("only that unit"),
        "{}",
        status.message()
    );
    let correction = tashkent
        .record_outcome(record(corrected.clone()))
        .await?
        .into_inner();
    let status = tashkent
        .record_outcome(record(corrected.clone()))
        .await
        .unwrap_err();
    assert!(
        status.message().contains("the latest one"),
        "{}",
        status.message()
    );

    // The sender hears of both, keeps both on the timeline, and the photo comes whole on request.
    for _ in 0..2 {
        let event = next_event(&mut kz_events).await?;
        assert_eq!(event.kind, AlertEventKind::OutcomeRecorded as i32);
    }
    let get = proto::GetAlertRequest {
        alert_id: alert_id.clone(),
    };
    let sent = kz_officer.get_alert(get.clone()).await?.into_inner();
    let outcomes: Vec<&proto::AlertResponse> = sent.recipients[0]
        .timeline
        .iter()
        .filter(|e| e.state == DeliveryState::OutcomeRecorded as i32)
        .filter_map(|e| e.response.as_ref())
        .collect();
    assert_eq!(outcomes.len(), 2);
    assert_eq!(outcomes[0].response_id, first.response_id);
    assert_eq!(outcomes[1].response_id, correction.response_id);
    let Some(proto::alert_response::Kind::Outcome(listed)) = &outcomes[0].kind else {
        anyhow::bail!("the first outcome is not an outcome");
    };
    assert!(
        listed.attachments[0].content.is_empty(),
        "the timeline keeps no bytes"
    );
    assert_eq!(listed.attachments[0].size_bytes, photo.len() as u64);
    let Some(proto::alert_response::Kind::Outcome(latest)) = &outcomes[1].kind else {
        anyhow::bail!("the correction is not an outcome");
    };
    assert_eq!(latest.correction.as_ref().unwrap().reason, reason);
    let ask = |index: u32| proto::GetResponseAttachmentRequest {
        alert_id: alert_id.clone(),
        response_id: first.response_id.clone(),
        index,
    };
    let whole = kz_officer
        .get_response_attachment(ask(0))
        .await?
        .into_inner();
    assert_eq!(whole.content, photo);
    assert_eq!(whole.media_type, "image/png");
    let on_uz = tashkent.get_response_attachment(ask(0)).await?.into_inner();
    assert_eq!(on_uz.sha256, whole.sha256);
    let status = kz_officer
        .get_response_attachment(ask(1))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let mut other_unit = federation.countries["KZ"].client("KZ-ALTYNKOL-PCU").await?;
    let status = other_unit
        .get_response_attachment(ask(0))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    Ok(())
}
