//! Witnessed checkpoints between two real nodes: each cosigns the other's checkpoint after checking it
//! is consistent with the last one it cosigned; a rewritten history presented to a witness is refused
//! and recorded as evidence.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tonic::Code;
use tulpar_core::proto::{self, DeliveryState, ledger_entry::Kind};
use tulpar_core::time::SystemClock;
use tulpar_ledger::SignedCheckpoint;
use tulpar_ledger::note::{self, CheckpointBody};
use tulpar_tests::{Federation, eventually};
use tulpar_trust::keyfile;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partners_cosign_consistent_checkpoints_and_record_a_rewritten_history() -> Result<()> {
    let federation = Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    let (kz_country, uz_country) = (&federation.countries["KZ"], &federation.countries["UZ"]);
    let kz = kz_country.start_in_process(Arc::new(SystemClock)).await?;
    let uz = uz_country.start_in_process(Arc::new(SystemClock)).await?;

    let mut officer = kz_country.client("KZ-AKTAU-PCU").await?;
    let content = tulpar_core::sample::alert_draft("KZ-AKTAU-PCU", "UZ");
    let request = proto::SubmitAlertRequest {
        request_id: "w1".into(),
        content: Some(content),
    };
    let alert_id = officer.submit_alert(request).await?.into_inner().alert_id;
    eventually(Duration::from_secs(20), "delivery", || {
        let (mut officer, alert_id) = (officer.clone(), alert_id.clone());
        async move {
            let record = officer
                .get_alert(proto::GetAlertRequest { alert_id })
                .await?
                .into_inner();
            Ok((record.recipients[0].state == DeliveryState::Delivered as i32).then_some(()))
        }
    })
    .await?;

    // KZ presents its checkpoint; UZ cosigns. Then the other way round.
    let rounds = kz.witness_now().await?;
    let cosigned_size = rounds[0].1.context("UZ cosigned KZ's checkpoint")?;
    assert!(uz.witness_now().await?[0].1.is_some());
    // KZ's ledger grew only by witnessing bookkeeping since: nothing new to present.
    assert_eq!(kz.witness_now().await?[0].1, None);
    // KZ's partner status names the checkpoint UZ cosigned, when, and the last delivery to UZ.
    let peers = officer
        .list_peers(proto::ListPeersRequest {})
        .await?
        .into_inner();
    let uz_status = &peers.peers[0];
    assert_eq!(uz_status.cosigned_size, cosigned_size);
    assert!(uz_status.cosigned_at.is_some());
    assert!(uz_status.last_delivery.is_some());

    // A KZ history rewritten and re-signed with KZ's own ledger key: same size, another root.
    let kz_key = keyfile::read_private_key(&kz_country.dir.join("node/ledger.key"))?;
    let forged = SignedCheckpoint::sign(
        CheckpointBody {
            origin: "tulpar/KZ".into(),
            size: cosigned_size,
            root: [7; 32],
        },
        &kz_key,
    )?;
    let mut to_uz = kz_country.federation_client(uz_country)?;
    let request = proto::AddCheckpointRequest {
        old_size: cosigned_size,
        consistency_proof: Vec::new(),
        checkpoint: forged.note().to_owned(),
    };
    let status = to_uz.add_checkpoint(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    assert!(
        status.message().contains("not consistent"),
        "{}",
        status.message()
    );
    // A rollback, or a stale starting size, is refused naming the size the witness holds.
    let smaller = SignedCheckpoint::sign(
        CheckpointBody {
            origin: "tulpar/KZ".into(),
            size: 1,
            root: [7; 32],
        },
        &kz_key,
    )?;
    let request = proto::AddCheckpointRequest {
        old_size: 0,
        consistency_proof: Vec::new(),
        checkpoint: smaller.note().to_owned(),
    };
    let status = to_uz.add_checkpoint(request).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    // The size travels as data, in a google.rpc.ErrorInfo, not only in the message.
    let info = tonic_types::StatusExt::get_details_error_info(&status).expect("an ErrorInfo");
    assert_eq!(
        (info.reason.as_str(), info.domain.as_str()),
        ("WITNESS_SIZE_MISMATCH", "tulpar")
    );
    assert_eq!(info.metadata.get("size"), Some(&cosigned_size.to_string()));
    assert!(
        status.message().contains(&cosigned_size.to_string()),
        "{}",
        status.message()
    );

    kz.shutdown().await?;
    uz.shutdown().await?;

    // UZ recorded the evidence; KZ holds UZ's cosignature, which verifies with UZ's ledger key.
    let uz_entries = uz_country.ledger_entries()?;
    let evidence = uz_entries
        .iter()
        .find_map(|e| match &e.kind {
            Some(Kind::EquivocationDetected(found)) => Some(found.clone()),
            _ => None,
        })
        .context("UZ recorded the equivocation")?;
    assert_eq!(evidence.country, "KZ");
    assert_eq!(evidence.conflicting_checkpoint, forged.note());
    let uz_ledger_key =
        keyfile::read_private_key(&uz_country.dir.join("node/ledger.key"))?.public_key();
    let cosigned = kz_country
        .ledger_entries()?
        .into_iter()
        .find_map(|e| match e.kind {
            Some(Kind::CosignatureReceived(received)) => Some(received.cosigned_checkpoint),
            _ => None,
        })
        .context("KZ recorded UZ's cosignature")?;
    note::verify_cosignature(&cosigned, "tulpar/UZ", &uz_ledger_key)?;
    Ok(())
}
