//! The focal point's audit API and `tulpar audit` against real nodes: checkpoints, entries and proofs
//! checked with nothing but the ledger key; reconciliation flagging a missing receipt; a ledger
//! tampered with (entry changed, entry removed, history rewritten and re-signed) caught by the
//! verifier and by the partner's witness.

use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use tonic::Code;
use tulpar_core::keys::PublicKey;
use tulpar_core::proto::{self, ReconcileFindingKind, ledger_entry::Kind};
use tulpar_core::time::{ManualClock, SystemClock, to_timestamp};
use tulpar_ledger::{
    Frontier, SignedCheckpoint, leaf_hash, verify_consistency_proof, verify_inclusion_proof,
};
use tulpar_tests::output_text as text;
use tulpar_tests::{AuditClient, Country, Federation, delivered, eventually, send};
use tulpar_trust::keyfile;

const WAIT: Duration = Duration::from_secs(30);

/// Runs `tulpar audit …` as `country`'s focal point.
fn audit(country: &Country, args: &[&str]) -> Result<Output> {
    let mut command = country.tulpar()?;
    command
        .env("TULPAR_TOKEN", &country.tokens["focal-point"])
        .arg("audit")
        .args(args);
    Ok(command.output()?)
}

fn ledger_key(country: &Country) -> Result<PublicKey> {
    Ok(keyfile::read_public_key(
        &country.dir.join("data/ledger.pub"),
    )?)
}

/// The whole ledger through the audit API, its root recomputed here.
async fn download(
    focal: &mut AuditClient,
    size: u64,
) -> Result<(Frontier, Vec<proto::AuditEntry>)> {
    let mut frontier = Frontier::default();
    let mut all = Vec::new();
    while frontier.size() < size {
        let page = focal
            .get_entries(proto::GetEntriesRequest {
                start: frontier.size(),
                end: size,
            })
            .await?
            .into_inner();
        anyhow::ensure!(
            !page.entries.is_empty(),
            "no entries from {}",
            frontier.size()
        );
        for entry in page.entries {
            assert_eq!(entry.index, frontier.size());
            let decoded: proto::LedgerEntry = prost::Message::decode(entry.raw.as_slice())?;
            assert_eq!(Some(decoded), entry.entry);
            frontier.push_leaf(leaf_hash(&entry.raw));
            all.push(entry);
        }
    }
    Ok((frontier, all))
}

/// The node's own full check. One verification runs at a time, and the one a `tulpar audit verify`
/// just read to its end may not have let go yet: a refusal for that is tried again.
async fn node_check(focal: &mut AuditClient) -> Result<proto::VerifyLedgerProgress> {
    let mut stream = eventually(WAIT, "the previous verification to end", || {
        let mut focal = focal.clone();
        async move {
            match focal.verify_ledger(proto::VerifyLedgerRequest {}).await {
                Ok(response) => Ok(Some(response.into_inner())),
                Err(status)
                    if status.code() == Code::ResourceExhausted
                        && status.message().contains("already running") =>
                {
                    Ok(None)
                }
                Err(status) => Err(status.into()),
            }
        }
    })
    .await?;
    while let Some(message) = stream.message().await? {
        if message.done {
            return Ok(message);
        }
        assert!(message.checked <= message.total);
    }
    anyhow::bail!("the verification stream ended without a result")
}

fn field_violations(status: &tonic::Status) -> Vec<String> {
    tulpar_rpc::violations_of(status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_focal_point_checks_the_ledger_without_trusting_the_node() -> Result<()> {
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    for country in federation.countries.values_mut() {
        country
            .node_env
            .push(("TULPAR__WITNESS__INTERVAL".into(), "1s".into()));
    }
    federation.start_all().await?;
    let (kz, uz) = (&federation.countries["KZ"], &federation.countries["UZ"]);
    let mut officer = kz.client("KZ-AKTAU-PCU").await?;
    let mut alert_ids = Vec::new();
    for _ in 0..3 {
        let id = send(&mut officer, "KZ-AKTAU-PCU", "UZ").await?;
        delivered(&officer, &id).await?;
        alert_ids.push(id);
    }

    // Officers may not audit.
    let mut as_officer = kz.audit_client("KZ-AKTAU-PCU").await?;
    let refused = as_officer
        .get_latest_checkpoint(proto::GetLatestCheckpointRequest {})
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");

    // The latest checkpoint and the one UZ cosigned, checked with the ledger key alone.
    let mut focal = kz.audit_client("focal-point").await?;
    let key = ledger_key(kz)?;
    let checkpoints = eventually(WAIT, "a checkpoint cosigned by UZ", || {
        let mut focal = focal.clone();
        async move {
            let response = focal
                .get_latest_checkpoint(proto::GetLatestCheckpointRequest {})
                .await?
                .into_inner();
            Ok(response.cosigned_checkpoint.is_some().then_some(response))
        }
    })
    .await?;
    assert_eq!(checkpoints.witnesses, ["UZ"]);
    let latest = SignedCheckpoint::verify(
        &checkpoints.checkpoint.context("checkpoint")?.note,
        Some(&tulpar_tests::origin("KZ")),
        &key,
    )?;
    let cosigned_note = checkpoints.cosigned_checkpoint.context("cosigned")?.note;
    let cosigned =
        SignedCheckpoint::verify(&cosigned_note, Some(&tulpar_tests::origin("KZ")), &key)?;
    let uz_key = ledger_key(uz)?;
    tulpar_ledger::note::verify_cosignature(
        &cosigned_note,
        &tulpar_tests::witness_name("UZ"),
        &uz_key,
    )?;

    // Every entry, raw: the recomputed root is the signed one.
    let (frontier, entries) = download(&mut focal, latest.size()).await?;
    assert_eq!(&frontier.root(), latest.root());
    assert!(entries.iter().any(|e| matches!(
        e.entry.as_ref().and_then(|e| e.kind.as_ref()),
        Some(Kind::ReceiptReceived(_))
    )));

    // Proofs verify against the signed roots.
    let inclusion = focal
        .get_inclusion_proof(proto::GetInclusionProofRequest {
            leaf_index: 1,
            tree_size: latest.size(),
        })
        .await?
        .into_inner();
    verify_inclusion_proof(&inclusion, &entries[1].raw, latest.root())?;
    if cosigned.size() < latest.size() {
        let consistency = focal
            .get_consistency_proof(proto::GetConsistencyProofRequest {
                old_size: cosigned.size(),
                new_size: latest.size(),
            })
            .await?
            .into_inner();
        verify_consistency_proof(&consistency, cosigned.root(), latest.root())?;
    }

    // The node's own full check, streamed: every hash and every entry signature.
    let result = node_check(&mut focal).await?;
    assert!(result.ok, "{result:?}");
    assert!(result.checked >= latest.size());
    assert!(result.revoked_signatures.is_empty());

    // Bad requests name the field and change nothing.
    let size_before = focal
        .get_latest_checkpoint(proto::GetLatestCheckpointRequest {})
        .await?
        .into_inner()
        .checkpoint
        .context("checkpoint")?
        .size;
    let status = focal
        .get_entries(proto::GetEntriesRequest { start: 5, end: 2 })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        field_violations(&status)[0].starts_with("end:"),
        "{status:?}"
    );
    let status = focal
        .get_inclusion_proof(proto::GetInclusionProofRequest {
            leaf_index: 1_000_000,
            tree_size: 0,
        })
        .await
        .unwrap_err();
    assert!(
        field_violations(&status)[0].starts_with("leaf_index:"),
        "{status:?}"
    );
    let status = focal
        .get_consistency_proof(proto::GetConsistencyProofRequest {
            old_size: 0,
            new_size: 0,
        })
        .await
        .unwrap_err();
    assert!(
        field_violations(&status)[0].starts_with("old_size:"),
        "{status:?}"
    );
    let status = focal
        .reconcile(proto::ReconcileRequest {
            partner: "uz".into(),
            from: None,
            to: Some(to_timestamp(std::time::SystemTime::UNIX_EPOCH)),
            late_after_seconds: 0,
        })
        .await
        .unwrap_err();
    let violations = field_violations(&status);
    assert!(
        violations.iter().any(|v| v.starts_with("partner:")),
        "{violations:?}"
    );
    assert!(
        violations.iter().any(|v| v.starts_with("from:")),
        "{violations:?}"
    );
    let size_after = focal
        .get_latest_checkpoint(proto::GetLatestCheckpointRequest {})
        .await?
        .into_inner()
        .checkpoint
        .context("checkpoint")?
        .size;
    assert!(size_after >= size_before);

    // The same from the command line: verify, save, grow, verify again from the saved checkpoint.
    let key_file = kz.dir.join("data/ledger.pub");
    let saved = kz.dir.join("audited-checkpoint.txt");
    let out = audit(
        kz,
        &[
            "verify",
            "--ledger-key",
            key_file.to_str().context("path")?,
            "--save",
            saved.to_str().context("path")?,
            "--trust",
            kz.dir.join("node/trust").to_str().context("path")?,
        ],
    )?;
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("verified"), "{shown}");
    assert!(shown.contains("cosigned by UZ"), "{shown}");
    assert!(shown.contains("every cosignature verified"), "{shown}");
    let id = send(&mut officer, "KZ-AKTAU-PCU", "UZ").await?;
    delivered(&officer, &id).await?;
    let out = audit(
        kz,
        &[
            "verify",
            "--ledger-key",
            key_file.to_str().context("path")?,
            "--previous",
            saved.to_str().context("path")?,
        ],
    )?;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("only appended to"), "{}", text(&out));

    // The key can come from the country's signed directory instead, checked against its root.
    let public = kz.dir.join("public");
    let out = audit(
        kz,
        &[
            "verify",
            "--directory",
            public.join("directory.env").to_str().context("path")?,
            "--root-key",
            public.join("root.pub").to_str().context("path")?,
            "--skip-node-check",
        ],
    )?;
    assert!(out.status.success(), "{}", text(&out));
    let out = audit(
        kz,
        &[
            "verify",
            "--directory",
            public.join("directory.env").to_str().context("path")?,
            "--root-key",
            uz.dir.join("public/root.pub").to_str().context("path")?,
        ],
    )?;
    assert!(!out.status.success());
    assert!(text(&out).contains("--directory"), "{}", text(&out));

    // A key that is not the ledger's is refused at once.
    let out = audit(
        kz,
        &[
            "verify",
            "--ledger-key",
            uz.dir.join("data/ledger.pub").to_str().context("path")?,
        ],
    )?;
    assert!(!out.status.success());
    assert!(
        text(&out).contains("not signed by --ledger-key"),
        "{}",
        text(&out)
    );

    // Report and reconciliation from the command line.
    let out = audit(
        kz,
        &[
            "report",
            "--from",
            "2020-01-01",
            "--to",
            "2100-01-01",
            "--json",
        ],
    )?;
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(report["rows"][0]["partner"], "UZ");
    assert_eq!(report["rows"][0]["alerts"], "4");
    assert_eq!(report["rows"][0]["delivered"], "4");
    let out = audit(
        kz,
        &[
            "report",
            "--from",
            "2020-01-01",
            "--to",
            "2100-01-01",
            "--csv",
        ],
    )?;
    assert!(out.status.success(), "{}", text(&out));
    let csv = String::from_utf8(out.stdout)?;
    assert!(
        csv.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("UZ,sent,4,4,")),
        "{csv}"
    );
    let out = audit(
        kz,
        &[
            "reconcile",
            "--partner",
            "UZ",
            "--from",
            "2020-01-01",
            "--to",
            "2100-01-01",
        ],
    )?;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("no findings"), "{}", text(&out));
    let out = audit(
        kz,
        &["report", "--from", "2026-13-01", "--to", "2100-01-01"],
    )?;
    assert!(!out.status.success());
    assert!(text(&out).contains("is not a date"), "{}", text(&out));

    // Offline, beside the running node, with the node's own trust: every signature holds.
    let verify = std::process::Command::new(tulpar_tests::binary("tulpar")?)
        .args(["ledger", "verify", "--config"])
        .arg(kz.config_path())
        .output()?;
    assert!(verify.status.success(), "{}", text(&verify));
    assert!(
        text(&verify).contains("every entry's signatures hold"),
        "{}",
        text(&verify)
    );

    // A byte changed in a segment on disk is caught by the node's check, naming the entry.
    let segments = kz.dir.join("data/segments");
    let segment = std::fs::read_dir(&segments)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .min()
        .context("a segment")?;
    // One byte flipped in place, so appends the node makes meanwhile are not disturbed.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&segment)?;
    let at = file.metadata()?.len() / 3;
    let mut byte = [0u8];
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut byte, at)?;
    byte[0] ^= 0x40;
    std::os::unix::fs::FileExt::write_all_at(&file, &byte, at)?;
    // The command first, so that its own node check does not meet the one below still running.
    let out = audit(
        kz,
        &["verify", "--ledger-key", key_file.to_str().context("path")?],
    )?;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("NOT VERIFIED"), "{}", text(&out));
    let result = node_check(&mut focal).await?;
    assert!(!result.ok);
    assert!(result.error.contains("entry"), "{result:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_flags_an_alert_whose_receipt_is_missing() -> Result<()> {
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    federation
        .country("KZ")
        .start_with_clock(clock.clone())
        .await?;
    let kz = &federation.countries["KZ"];
    let mut officer = kz.client("KZ-AKTAU-PCU").await?;
    let alert_id = send(&mut officer, "KZ-AKTAU-PCU", "UZ").await?;
    let request = || proto::ReconcileRequest {
        partner: "UZ".into(),
        from: Some(to_timestamp(
            std::time::SystemTime::now() - Duration::from_secs(3600),
        )),
        to: Some(to_timestamp(
            std::time::SystemTime::now() + Duration::from_secs(3600),
        )),
        late_after_seconds: 0,
    };
    let mut focal = kz.audit_client("focal-point").await?;
    let report = focal.reconcile(request()).await?.into_inner();
    assert_eq!((report.sent, report.sent_receipted), (1, 0));
    assert_eq!(report.findings.len(), 1, "{report:?}");
    let finding = &report.findings[0];
    assert_eq!(finding.kind, ReconcileFindingKind::MissingReceipt as i32);
    assert_eq!(finding.alert_id, alert_id);
    assert!(
        finding.detail.contains("no delivery receipt from UZ"),
        "{finding:?}"
    );
    let out = audit(
        kz,
        &[
            "reconcile",
            "--partner",
            "UZ",
            "--from",
            "2020-01-01",
            "--to",
            "2100-01-01",
        ],
    )?;
    assert!(!out.status.success(), "findings make the command fail");
    assert!(text(&out).contains("MISSING RECEIPT"), "{}", text(&out));

    // UZ comes up two seconds later, the alert is delivered: both sides reconcile cleanly, unless a
    // second counts as late.
    clock.advance(Duration::from_secs(2));
    federation
        .country("UZ")
        .start_with_clock(clock.clone())
        .await?;
    let (kz, uz) = (&federation.countries["KZ"], &federation.countries["UZ"]);
    delivered(&officer, &alert_id).await?;
    let report = focal.reconcile(request()).await?.into_inner();
    assert_eq!((report.sent, report.sent_receipted), (1, 1));
    assert!(report.findings.is_empty(), "{report:?}");
    let strict = focal
        .reconcile(proto::ReconcileRequest {
            late_after_seconds: 1,
            ..request()
        })
        .await?
        .into_inner();
    assert_eq!(strict.findings.len(), 1, "{strict:?}");
    assert_eq!(strict.findings[0].kind, ReconcileFindingKind::Late as i32);
    assert!(
        strict.findings[0].detail.contains("threshold 1s"),
        "{strict:?}"
    );
    let mut uz_focal = uz.audit_client("focal-point").await?;
    let mut from_kz = request();
    from_kz.partner = "KZ".into();
    let report = eventually(WAIT, "UZ's receipt recorded", || {
        let (mut uz_focal, from_kz) = (uz_focal.clone(), from_kz.clone());
        async move {
            let report = uz_focal.reconcile(from_kz).await?.into_inner();
            Ok((report.received_receipted == 1).then_some(report))
        }
    })
    .await?;
    assert_eq!(report.received, 1);
    assert!(report.findings.is_empty(), "{report:?}");
    let _ = kz;
    let status = uz_focal
        .reconcile(proto::ReconcileRequest {
            partner: "TM".into(),
            ..request()
        })
        .await
        .unwrap_err();
    assert!(
        field_violations(&status)[0].contains("not a partner"),
        "{status:?}"
    );

    // A UZ ledger without the receipt it issued: the received alert is flagged.
    federation.country("UZ").stop().await?;
    let uz = &federation.countries["UZ"];
    let without_receipts = uz
        .ledger_entries()?
        .into_iter()
        .filter(|entry| !matches!(entry.kind, Some(Kind::ReceiptIssued(_))))
        .collect();
    rewrite(uz, without_receipts).await?;
    federation
        .country("UZ")
        .start_with_clock(clock.clone())
        .await?;
    let uz = &federation.countries["UZ"];
    let mut uz_focal = uz.audit_client("focal-point").await?;
    let report = uz_focal.reconcile(from_kz).await?.into_inner();
    assert_eq!((report.received, report.received_receipted), (1, 0));
    assert_eq!(report.findings.len(), 1, "{report:?}");
    assert_eq!(
        report.findings[0].kind,
        ReconcileFindingKind::ReceiptNotIssued as i32
    );
    assert_eq!(report.findings[0].alert_id, alert_id);
    Ok(())
}

/// Writes `entries` as a new ledger in `dir`, signed with `country`'s own ledger key: what an insider
/// holding the key could do.
async fn rewrite(country: &Country, entries: Vec<proto::LedgerEntry>) -> Result<()> {
    let data = country.dir.join("data");
    std::fs::rename(&data, country.dir.join("data-original"))?;
    let ledger = country.open_ledger(&data)?;
    for entry in entries {
        ledger.append(entry).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_history_is_caught_by_the_verifier_and_by_the_partners_witness() -> Result<()> {
    let federation = Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    let (kz, uz) = (&federation.countries["KZ"], &federation.countries["UZ"]);
    let kz_node = kz.start_in_process(Arc::new(SystemClock)).await?;
    let uz_node = uz.start_in_process(Arc::new(SystemClock)).await?;
    let mut officer = kz.client("KZ-AKTAU-PCU").await?;
    let mut alert_ids = Vec::new();
    for _ in 0..3 {
        let id = send(&mut officer, "KZ-AKTAU-PCU", "UZ").await?;
        delivered(&officer, &id).await?;
        alert_ids.push(id);
    }
    assert!(kz_node.witness_now().await?[0].1.is_some(), "UZ cosigns");
    let key_file = kz.dir.join("data/ledger.pub");
    let saved = kz.dir.join("audited-checkpoint.txt");
    let out = audit(
        kz,
        &[
            "verify",
            "--ledger-key",
            key_file.to_str().context("path")?,
            "--save",
            saved.to_str().context("path")?,
        ],
    )?;
    assert!(out.status.success(), "{}", text(&out));

    // Offline, with KZ's own ledger key: the first alert is removed, the second one's content changed
    // under its original unit signature, and everything re-signed.
    kz_node.shutdown().await?;
    let mut focal = kz.audit_client("focal-point").await?;
    let original = kz.ledger_entries()?;
    let mut changed_alert = None;
    let rewritten: Vec<proto::LedgerEntry> = original
        .into_iter()
        .filter(|entry| entry.alert_id != alert_ids[0])
        .map(|mut entry| {
            if let Some(Kind::AlertSent(sent)) = entry.kind.as_mut() {
                if entry.alert_id == alert_ids[1] {
                    let envelope = sent.alert.as_mut().expect("alert");
                    let mut alert: proto::Alert =
                        prost::Message::decode(envelope.payload.as_slice()).expect("alert");
                    let content = alert.content.as_mut().expect("content");
                    content.narrative.push_str(" (added afterwards)");
                    envelope.payload = prost::Message::encode_to_vec(&alert);
                    changed_alert = Some(entry.alert_id.clone());
                }
            }
            entry
        })
        .collect();
    assert!(changed_alert.is_some());
    rewrite(kz, rewritten).await?;

    // The offline verifier alone is satisfied: hashes and checkpoints are consistent with themselves.
    let verify = std::process::Command::new(tulpar_tests::binary("tulpar")?)
        .args(["ledger", "verify"])
        .arg(kz.dir.join("data"))
        .output()?;
    assert!(verify.status.success(), "{}", text(&verify));
    // With the node's trust, the changed alert's unit signature does not hold.
    let verify = std::process::Command::new(tulpar_tests::binary("tulpar")?)
        .args(["ledger", "verify", "--config"])
        .arg(kz.config_path())
        .output()?;
    assert!(!verify.status.success(), "{}", text(&verify));
    assert!(
        text(&verify).contains("does NOT verify"),
        "{}",
        text(&verify)
    );
    assert!(text(&verify).contains("signature"), "{}", text(&verify));

    let kz_node = kz.start_in_process(Arc::new(SystemClock)).await?;
    // The rewritten ledger goes on growing past the size UZ witnessed.
    for _ in 0..2 {
        let id = send(&mut officer, "KZ-AKTAU-PCU", "UZ").await?;
        delivered(&officer, &id).await?;
    }
    // Against the checkpoint saved before, the history is not an extension; the changed alert's
    // signature does not hold.
    let out = audit(
        kz,
        &[
            "verify",
            "--ledger-key",
            key_file.to_str().context("path")?,
            "--previous",
            saved.to_str().context("path")?,
        ],
    )?;
    assert!(!out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("NOT consistent"), "{shown}");
    assert!(shown.contains("node check"), "{shown}");
    let result = node_check(&mut focal).await?;
    assert!(!result.ok);
    assert!(result.error.contains("signature"), "{result:?}");

    // UZ, witness of KZ's earlier checkpoint, refuses the new one and raises an alarm to its focal
    // points, live and in the audit API.
    let mut uz_watcher = uz.client("focal-point").await?;
    let mut alarms_live = uz_watcher
        .watch_alerts(proto::WatchAlertsRequest {
            resume_from: None,
            kinds: vec![proto::AlertEventKind::Equivocation as i32],
        })
        .await?
        .into_inner();
    let refused = kz_node.witness_now().await.unwrap_err().to_string();
    assert!(refused.contains("not consistent"), "{refused}");
    let event = tokio::time::timeout(WAIT, alarms_live.message())
        .await
        .context("no alarm event")??
        .context("watch ended")?;
    assert_eq!(event.country, "KZ");
    assert!(event.equivocation.is_some());
    let mut uz_focal = uz.audit_client("focal-point").await?;
    let alarms = uz_focal
        .list_alarms(proto::ListAlarmsRequest {})
        .await?
        .into_inner()
        .alarms;
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    let evidence = alarms[0].equivocation.as_ref().context("evidence")?;
    assert_eq!(evidence.country, "KZ");
    let out = audit(uz, &["alarms"])?;
    assert!(text(&out).contains("KZ equivocated"), "{}", text(&out));

    // Reconciliation with UZ's receipts: the changed alert's receipt is for another payload.
    let report = focal
        .reconcile(proto::ReconcileRequest {
            partner: "UZ".into(),
            from: Some(to_timestamp(
                std::time::SystemTime::now() - Duration::from_secs(3600),
            )),
            to: Some(to_timestamp(
                std::time::SystemTime::now() + Duration::from_secs(3600),
            )),
            late_after_seconds: 0,
        })
        .await?
        .into_inner();
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.kind == ReconcileFindingKind::Inconsistent as i32
                && Some(&f.alert_id) == changed_alert.as_ref()
                && f.detail.contains("different payload")),
        "{report:?}"
    );
    kz_node.shutdown().await?;
    uz_node.shutdown().await?;
    Ok(())
}
