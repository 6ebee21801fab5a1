//! Alerts between three real nodes (KZ, UZ, TJ) on loopback: delivery with signed receipts,
//! store-and-forward across a partner's downtime, and crash safety of the sending node (the one test
//! here whose node is a process, to be killed).

use std::time::Duration;

use anyhow::Result;
use tulpar_core::proto::{self, DeliveryState};
use tulpar_tests::{Client, Federation, eventually};

const WAIT: Duration = Duration::from_secs(30);

fn federation() -> Result<Federation> {
    Federation::new(&[
        ("KZ", &["KZ-AKTAU-PCU", "KZ-ALTYNKOL-PCU"]),
        ("UZ", &["UZ-TASHKENT-PCU"]),
        ("TJ", &["TJ-DUSHANBE-PCU"]),
    ])
}

fn draft(recipients: &[&str]) -> proto::AlertContent {
    let mut content = tulpar_core::sample::alert_draft("KZ-AKTAU-PCU", recipients[0]);
    content.recipients = recipients
        .iter()
        .map(|country| proto::Recipient {
            country: (*country).to_owned(),
            units: Vec::new(),
        })
        .collect();
    content
}

async fn submit(
    client: &mut Client,
    request_id: &str,
    recipients: &[&str],
) -> Result<proto::SubmitAlertResponse> {
    let request = proto::SubmitAlertRequest {
        request_id: request_id.into(),
        content: Some(draft(recipients)),
    };
    Ok(client.submit_alert(request).await?.into_inner())
}

async fn record(client: &mut Client, alert_id: &str) -> Result<proto::AlertRecord> {
    let request = proto::GetAlertRequest {
        alert_id: alert_id.into(),
    };
    Ok(client.get_alert(request).await?.into_inner())
}

/// Waits until every recipient of `alert_id`, seen from the sender, has at least reached `state`.
async fn until_all(
    client: &mut Client,
    alert_id: &str,
    state: DeliveryState,
) -> Result<proto::AlertRecord> {
    eventually(WAIT, &format!("{alert_id} to reach {state:?}"), || {
        let mut client = client.clone();
        async move {
            let record = record(&mut client, alert_id).await?;
            Ok(record
                .recipients
                .iter()
                .all(|r| r.state >= state as i32)
                .then_some(record))
        }
    })
    .await
}

async fn received_count(client: &mut Client) -> Result<usize> {
    let request = proto::ListAlertsRequest {
        direction: proto::Direction::Received as i32,
        page_size: 500,
        ..Default::default()
    };
    Ok(client.list_alerts(request).await?.into_inner().alerts.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_reaches_both_partners_with_signed_receipts() -> Result<()> {
    let mut federation = federation()?;
    federation.start_all().await?;
    let mut kz = federation.country("KZ").client("KZ-AKTAU-PCU").await?;
    let submitted = submit(&mut kz, "first", &["UZ", "TJ"]).await?;
    assert!(!submitted.replayed);
    assert!(
        submitted
            .checkpoint
            .as_ref()
            .is_some_and(|c| c.size > submitted.ledger_index)
    );

    let sent = until_all(&mut kz, &submitted.alert_id, DeliveryState::Delivered).await?;
    for recipient in &sent.recipients {
        let delivered = recipient
            .timeline
            .iter()
            .find(|e| e.state == DeliveryState::Delivered as i32)
            .expect("delivery step");
        let receipt = delivered
            .receipt
            .as_ref()
            .expect("receipt on the delivery step");
        assert_eq!(receipt.alert_id, submitted.alert_id);
        assert_eq!(receipt.recipient_country, recipient.country);
        assert!(
            receipt
                .checkpoint
                .starts_with(&format!("{}\n", tulpar_tests::origin(&recipient.country)))
        );
    }

    for (country, unit) in [("UZ", "UZ-TASHKENT-PCU"), ("TJ", "TJ-DUSHANBE-PCU")] {
        let mut client = federation.country(country).client(unit).await?;
        let received = record(&mut client, &submitted.alert_id).await?;
        assert_eq!(received.direction, proto::Direction::Received as i32);
        assert_eq!(
            received.signed_alert, submitted.signed_alert,
            "the origin's signed bytes, unchanged"
        );
    }

    // A retried submission returns the original and creates nothing.
    let again = submit(&mut kz, "first", &["UZ", "TJ"]).await?;
    assert!(again.replayed);
    assert_eq!(again.alert_id, submitted.alert_id);
    let mut uz = federation.country("UZ").client("focal-point").await?;
    assert_eq!(received_count(&mut uz).await?, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_queued_while_a_partner_is_down_arrive_once_when_it_returns() -> Result<()> {
    let mut federation = federation()?;
    federation.start_all().await?;
    federation.country("UZ").stop().await?;
    let mut kz = federation.country("KZ").client("KZ-AKTAU-PCU").await?;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            submit(&mut kz, &format!("queued-{i}"), &["UZ"])
                .await?
                .alert_id,
        );
    }
    // Delivery fails and backs off: KZ reports the failure for UZ.
    let focal = federation.country("KZ").client("focal-point").await?;
    let uz_peer = eventually(WAIT, "a failed delivery to UZ", || {
        let mut focal = focal.clone();
        async move {
            let peers = focal
                .list_peers(proto::ListPeersRequest {})
                .await?
                .into_inner()
                .peers;
            let uz = peers
                .into_iter()
                .find(|p| p.country == "UZ")
                .expect("UZ is a peer");
            Ok((!uz.last_error.is_empty()).then_some(uz))
        }
    })
    .await?;
    for id in &ids {
        let status = &record(&mut kz, id).await?.recipients[0];
        assert_eq!(
            status.state,
            DeliveryState::Queued as i32,
            "nothing delivered while UZ is down"
        );
    }
    assert_eq!(uz_peer.outbox_depth, 5);

    federation.country("UZ").start().await?;
    for id in &ids {
        until_all(&mut kz, id, DeliveryState::Delivered).await?;
    }
    let mut uz = federation.country("UZ").client("focal-point").await?;
    assert_eq!(received_count(&mut uz).await?, 5, "each alert exactly once");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answered_alert_survives_a_sigkill_of_the_sender() -> Result<()> {
    let mut federation = federation()?;
    federation.country("UZ").start().await?;
    federation.country("TJ").start().await?;
    // A process, as only a process can be killed.
    federation.country("KZ").start_process().await?;
    let kz = federation.country("KZ").client("integrator").await?;
    let (answered_tx, mut answered_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut writers = Vec::new();
    for writer in 0..8 {
        let mut client = kz.clone();
        let answered = answered_tx.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..200 {
                match submit(&mut client, &format!("load-{writer}-{i}"), &["UZ"]).await {
                    Ok(response) => {
                        let _ = answered.send(response.alert_id);
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    drop(answered_tx);
    // Kill the node while submissions are in flight.
    let mut answered = Vec::new();
    while answered.len() < 60 {
        match answered_rx.recv().await {
            Some(id) => answered.push(id),
            None => break,
        }
    }
    federation.country("KZ").kill()?;
    for writer in writers {
        let _ = writer.await;
    }
    while let Ok(id) = answered_rx.try_recv() {
        answered.push(id);
    }
    assert!(answered.len() >= 60);

    federation.country("KZ").start_process().await?;
    let mut kz = federation.country("KZ").client("integrator").await?;
    for id in &answered {
        until_all(&mut kz, id, DeliveryState::Delivered).await?;
    }
    let mut uz = federation.country("UZ").client("focal-point").await?;
    let received = received_count(&mut uz).await?;
    assert!(
        received >= answered.len(),
        "{received} received, {} answered",
        answered.len()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_are_found_by_container_document_or_train_number_and_by_priority() -> Result<()> {
    let mut federation = federation()?;
    federation.start_all().await?;
    let mut kz = federation.country("KZ").client("KZ-AKTAU-PCU").await?;
    let both = submit(&mut kz, "s1", &["UZ"]).await?.alert_id;
    let mut routine = draft(&["UZ"]);
    routine.priority = proto::Priority::Routine as i32;
    routine.consignment.as_mut().unwrap().containers = vec!["MSKU1234565".into()];
    let one = kz
        .submit_alert(proto::SubmitAlertRequest {
            request_id: "s2".into(),
            content: Some(routine),
        })
        .await?
        .into_inner()
        .alert_id;
    let mut uz = federation.country("UZ").client("UZ-TASHKENT-PCU").await?;
    eventually(WAIT, "both alerts at UZ", || {
        let mut uz = uz.clone();
        async move { Ok((received_count(&mut uz).await? == 2).then_some(())) }
    })
    .await?;
    let found = |search: &str, priority: proto::Priority| proto::ListAlertsRequest {
        search: search.into(),
        priority: priority as i32,
        ..Default::default()
    };
    let ids = |response: proto::ListAlertsResponse| -> Vec<String> {
        response
            .alerts
            .into_iter()
            .filter_map(|r| r.alert.map(|a| a.alert_id))
            .collect()
    };
    let any = proto::Priority::Unspecified;
    // Written as officers write them: lower case, spaces, hyphens.
    let msku = uz.list_alerts(found("msku 1234", any)).await?.into_inner();
    assert_eq!(ids(msku), [one.clone(), both.clone()]);
    let csqu = uz.list_alerts(found("CSQU-305", any)).await?.into_inner();
    assert_eq!(ids(csqu), [both.as_str()]);
    let document = uz
        .list_alerts(found("smgs 24 118", any))
        .await?
        .into_inner();
    assert_eq!(ids(document).len(), 2, "the transport document of both");
    let nothing = uz.list_alerts(found("TGHU999", any)).await?.into_inner();
    assert!(nothing.alerts.is_empty());
    let urgent = uz
        .list_alerts(found("", proto::Priority::Urgent))
        .await?
        .into_inner();
    assert_eq!(ids(urgent), [both.as_str()]);
    let sent = kz
        .list_alerts(found("msku1234565", proto::Priority::Routine))
        .await?;
    assert_eq!(ids(sent.into_inner()), [one]);
    let status = uz.list_alerts(found("ms", any)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().starts_with("search: "),
        "{}",
        status.message()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_that_comes_back_is_served_before_the_backoff_would_end() -> Result<()> {
    let mut federation = federation()?;
    // After a failure KZ backs off for two minutes: only asking whether UZ is up, or UZ saying so,
    // can deliver sooner.
    let path = federation.country("KZ").config_path();
    let config = std::fs::read_to_string(&path)?
        .replace(
            r#"initial_backoff = "100ms""#,
            r#"initial_backoff = "120s""#,
        )
        .replace(r#"max_backoff = "500ms""#, r#"max_backoff = "120s""#);
    std::fs::write(&path, config)?;
    // And UZ would not call KZ on its own for an hour (directories are refreshed hourly).
    let path = federation.country("UZ").config_path();
    let config = std::fs::read_to_string(&path)?.replace(
        r#"directory_refresh_interval = "1s""#,
        r#"directory_refresh_interval = "1h""#,
    );
    std::fs::write(&path, config)?;
    federation.start_all().await?;
    federation.country("UZ").stop().await?;
    let mut kz = federation.country("KZ").client("KZ-AKTAU-PCU").await?;
    let alert_id = submit(&mut kz, "while-down", &["UZ"]).await?.alert_id;
    let focal = federation.country("KZ").client("focal-point").await?;
    eventually(WAIT, "KZ backing off from UZ", || {
        let mut focal = focal.clone();
        async move {
            let peers = focal
                .list_peers(proto::ListPeersRequest {})
                .await?
                .into_inner();
            let uz = peers.peers.into_iter().find(|p| p.country == "UZ");
            Ok(uz.filter(|p| p.next_attempt_at.is_some()).map(|_| ()))
        }
    })
    .await?;
    federation.country("UZ").start().await?;
    let started = std::time::Instant::now();
    let delivered = until_all(&mut kz, &alert_id, DeliveryState::Delivered).await?;
    eprintln!(
        "delivered {} ms after UZ was up",
        started.elapsed().as_millis()
    );
    assert_eq!(
        delivered.recipients[0].state,
        DeliveryState::Delivered as i32
    );
    Ok(())
}
