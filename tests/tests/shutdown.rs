//! How a node stops: cooperatively, with what it answered OK kept, streams told where to resume, and
//! the ledger closed by the time `shutdown` returns.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use tonic::Code;
use tulpar_core::proto::{self, AlertEventKind, ledger_entry::Kind};
use tulpar_core::time::SystemClock;
use tulpar_tests::Federation;

/// Submissions racing the stop.
const SUBMISSIONS: usize = 24;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_node_keeps_what_it_accepted_and_closes_its_ledger() -> Result<()> {
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    let kz = federation.country("KZ");
    let node = kz.start_in_process(Arc::new(SystemClock)).await?;
    let mut focal = kz.client("focal-point").await?;
    let mut events = focal
        .watch_alerts(proto::WatchAlertsRequest {
            resume_from: None,
            kinds: vec![AlertEventKind::AlertSent as i32],
        })
        .await?
        .into_inner();

    // Officers keep submitting while the node is told to stop.
    let officer = kz.client("KZ-AKTAU-PCU").await?;
    let mut submissions = Vec::new();
    for seed in 0..SUBMISSIONS {
        let mut officer = officer.clone();
        submissions.push(tokio::spawn(async move {
            let mut content = tulpar_core::sample::alert_draft("KZ-AKTAU-PCU", "UZ");
            content.narrative = format!("submission {seed}");
            officer
                .submit_alert(proto::SubmitAlertRequest {
                    request_id: String::new(),
                    content: Some(content),
                })
                .await
                .map(|r| r.into_inner().alert_id)
        }));
        if seed == SUBMISSIONS / 2 {
            // Half have been sent; at least the first is answered before the stop begins.
            events.message().await?;
        }
    }
    node.shutdown().await?;

    let mut accepted = Vec::new();
    for submission in submissions {
        match submission.await? {
            Ok(alert_id) => accepted.push(alert_id),
            // Refused or cut off before it was taken: the caller knows it was not accepted.
            Err(status) => assert_ne!(status.code(), Code::Ok),
        }
    }
    assert!(!accepted.is_empty(), "some submissions were answered");

    // The watch stream was told where to resume, not cut off.
    let ended = loop {
        match events.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => bail!("the watch stream ended without saying why"),
            Err(status) => break status,
        }
    };
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    let info = tonic_types::StatusExt::get_details_error_info(&ended)
        .with_context(|| format!("no ErrorInfo in {ended:?}"))?;
    assert_eq!(info.reason, "NODE_STOPPING");
    let resume_from: u64 = info.metadata["resume_from"].parse()?;

    // The ledger is closed (it opens at once, offline) and holds every alert answered OK.
    let entries = kz.ledger_entries()?;
    // Resuming there misses nothing the stream had not sent, and asks for nothing past the ledger.
    assert!(
        resume_from > 0 && resume_from <= entries.len() as u64,
        "resume_from {resume_from} of a ledger of {}",
        entries.len()
    );
    let recorded: Vec<String> = entries
        .into_iter()
        .filter(|entry| matches!(entry.kind, Some(Kind::AlertSent(_))))
        .map(|entry| entry.alert_id)
        .collect();
    for alert_id in &accepted {
        assert!(
            recorded.contains(alert_id),
            "{alert_id} was answered OK but is not in the ledger"
        );
    }
    Ok(())
}
