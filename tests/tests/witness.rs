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
            origin: tulpar_tests::origin("KZ"),
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
        restore_statement: String::new(),
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
            origin: tulpar_tests::origin("KZ"),
            size: 1,
            root: [7; 32],
        },
        &kz_key,
    )?;
    let request = proto::AddCheckpointRequest {
        old_size: 0,
        consistency_proof: Vec::new(),
        checkpoint: smaller.note().to_owned(),
        restore_statement: String::new(),
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
    note::verify_cosignature(&cosigned, &tulpar_tests::witness_name("UZ"), &uz_ledger_key)?;
    Ok(())
}

/// Runs the independent C2SP peer (`tests/c2sp/c2sp_peer.py`, written from the c2sp.org specs alone)
/// and returns the JSON it prints, failing with its error when it reports one.
fn c2sp_peer(args: &[&str]) -> Result<serde_json::Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/c2sp/c2sp_peer.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .context("python3")?;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "c2sp_peer {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    anyhow::ensure!(
        out.status.success() && json["ok"] == true,
        "c2sp_peer {args:?}: {json}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(json)
}

/// Whether the independent peer can run here (python3 with `cryptography`); in CI it must.
fn c2sp_peer_available() -> bool {
    let available = std::process::Command::new("python3")
        .args(["-c", "import cryptography"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        available || std::env::var_os("CI").is_none(),
        "CI needs python3 with the cryptography package for the independent C2SP peer"
    );
    if !available {
        eprintln!("skipped: python3 with the cryptography package is not installed");
    }
    available
}

/// The verifier key of the Ed25519 key in `key_file` under `name`, as the independent peer computes it.
fn independent_vkey(
    dir: &std::path::Path,
    key_file: &std::path::Path,
    name: &str,
    kind: &str,
) -> Result<String> {
    let public = dir.join(format!("{}.pub.pem", name.replace('/', "_")));
    std::fs::write(
        &public,
        keyfile::read_private_key(key_file)?.public_key().to_pem(),
    )?;
    let json = c2sp_peer(&[
        "vkey",
        "--name",
        name,
        "--type",
        kind,
        "--public-key-pem",
        public.to_str().context("path")?,
    ])?;
    Ok(json["vkey"].as_str().context("vkey")?.to_owned())
}

/// An outside party written from the c2sp.org specs alone: a log that a node witnesses over HTTP, a
/// witness that a node asks to cosign its checkpoints, and a verifier of every cosignature the node's
/// audit shows. The node's verifier keys, as `tulpar witness keys` prints them, are the ones the outside
/// party computes from the raw keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_c2sp_log_witness_and_verifier_work_with_a_node() -> Result<()> {
    if !c2sp_peer_available() {
        return Ok(());
    }
    let federation = Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    let (kz_country, uz_country) = (&federation.countries["KZ"], &federation.countries["UZ"]);
    let work = tempfile::tempdir()?;
    let path = |name: &str| {
        work.path()
            .join(name)
            .to_str()
            .map(str::to_owned)
            .context("path")
    };

    // The outside log's and the outside witness's keys.
    let log_vkey = c2sp_peer(&[
        "keygen",
        "--name",
        "indep.example/log",
        "--type",
        "log",
        "--out",
        &path("log.pem")?,
    ])?["vkey"]
        .as_str()
        .context("vkey")?
        .to_owned();
    let witness_vkey = c2sp_peer(&[
        "keygen",
        "--name",
        "indep.example/witness",
        "--type",
        "witness",
        "--out",
        &path("witness.pem")?,
    ])?["vkey"]
        .as_str()
        .context("vkey")?
        .to_owned();

    // KZ's verifier keys, computed independently from the raw key, are the ones the node prints.
    let kz_key_file = kz_country.dir.join("node/ledger.key");
    let kz_log = independent_vkey(
        work.path(),
        &kz_key_file,
        &tulpar_tests::origin("KZ"),
        "log",
    )?;
    let kz_witness = independent_vkey(
        work.path(),
        &kz_key_file,
        &tulpar_tests::witness_name("KZ"),
        "witness",
    )?;
    let uz_witness = independent_vkey(
        work.path(),
        &uz_country.dir.join("node/ledger.key"),
        &tulpar_tests::witness_name("UZ"),
        "witness",
    )?;
    let printed = kz_country
        .tulpar()?
        .args(["witness", "keys", "--config"])
        .arg(kz_country.config_path())
        .output()?;
    assert!(printed.status.success(), "{printed:?}");
    let printed = String::from_utf8(printed.stdout)?;
    assert_eq!(
        printed,
        format!("log:     {kz_log}\nwitness: {kz_witness}\n")
    );

    // The outside witness, on a port of its own, knowing KZ's log key.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let listen = format!("127.0.0.1:{port}");
    let witness = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/c2sp/c2sp_peer.py"))
        .args([
            "witness",
            "--key",
            &path("witness.pem")?,
            "--name",
            "indep.example/witness",
        ])
        .args([
            "--listen",
            &listen,
            "--log",
            &kz_log,
            "--state",
            &path("witness-state.json")?,
        ])
        .args(["--duration", "120"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let _witness = KillOnDrop(witness);

    // KZ asks that witness, and witnesses the outside log.
    let mut config = std::fs::read_to_string(kz_country.config_path())?;
    config.push_str(&format!(
        "\n[witness]\nquorum = 2\n\n[[witness.witnesses]]\nurl = \"http://{listen}\"\nkey = \"{witness_vkey}\"\n\n[[witness.logs]]\nkey = \"{log_vkey}\"\n"
    ));
    std::fs::write(kz_country.config_path(), config)?;
    let kz = kz_country.start_in_process(Arc::new(SystemClock)).await?;
    let uz = uz_country.start_in_process(Arc::new(SystemClock)).await?;
    let mut officer = kz_country.client("KZ-AKTAU-PCU").await?;
    officer
        .submit_alert(proto::SubmitAlertRequest {
            request_id: "c2sp".into(),
            content: Some(tulpar_core::sample::alert_draft("KZ-AKTAU-PCU", "UZ")),
        })
        .await?;

    // One pass: UZ cosigns over gRPC, the outside witness over HTTP, the same checkpoint.
    eventually(
        Duration::from_secs(20),
        "the outside witness listens",
        || {
            let listen = listen.clone();
            async move { Ok(std::net::TcpStream::connect(&listen).ok().map(drop)) }
        },
    )
    .await?;
    let rounds = kz.witness_now().await?;
    assert_eq!(rounds[0].0, "UZ");
    assert_eq!(rounds[1].0, "indep.example/witness");
    assert!(rounds[0].1.is_some());
    assert_eq!(rounds[0].1, rounds[1].1, "{rounds:?}");
    drop(uz);

    // GetLatestCheckpoint shows both cosignatures; the independent verifier checks every one of them
    // with the keys it computed itself.
    let mut focal = kz_country.audit_client("focal-point").await?;
    let checkpoints = focal
        .get_latest_checkpoint(proto::GetLatestCheckpointRequest {})
        .await?
        .into_inner();
    assert!(checkpoints.witnessed, "{checkpoints:?}");
    assert_eq!(checkpoints.quorum, 2);
    let names: Vec<&str> = checkpoints
        .cosignatures
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            tulpar_tests::witness_name("UZ").as_str(),
            "indep.example/witness"
        ]
    );
    assert_eq!(checkpoints.cosignatures[0].key, uz_witness);
    assert_eq!(checkpoints.cosignatures[1].key, witness_vkey);
    let note_file = path("cosigned.txt")?;
    std::fs::write(
        &note_file,
        &checkpoints.cosigned_checkpoint.context("cosigned")?.note,
    )?;
    let verified = c2sp_peer(&[
        "verify",
        "--note-file",
        &note_file,
        "--vkey",
        &kz_log,
        "--vkey",
        &uz_witness,
        "--vkey",
        &witness_vkey,
    ])?;
    for name in [
        "indep.example/witness",
        tulpar_tests::witness_name("UZ").as_str(),
    ] {
        assert_eq!(
            verified["verified"][name]["type"], "cosignature/v1",
            "{verified}"
        );
    }

    // The outside log gets KZ's cosignatures over HTTPS, with every refusal the protocol names.
    let log = c2sp_peer(&[
        "log",
        "--key",
        &path("log.pem")?,
        "--name",
        "indep.example/log",
        "--url",
        &format!("https://{}/witness", kz_country.client_addr),
        "--ca",
        kz_country
            .dir
            .join("node/tls-ca.crt")
            .to_str()
            .context("path")?,
        "--witness-vkey",
        &kz_witness,
        "--entries",
        "37",
    ])?;
    assert_eq!(log["cosigned"], serde_json::json!([18, 37]), "{log}");
    assert_eq!(log["checks"]["old_mismatch"], 409, "{log}");
    assert_eq!(log["checks"]["bad_proof"], 422, "{log}");

    // The audit lists both cosignatures, and every entry (the outside log's and the outside witness's
    // included) checks out offline.
    let out = kz_country
        .tulpar()?
        .env("TULPAR_TOKEN", &kz_country.tokens["focal-point"])
        .args(["audit", "verify", "--ledger-key"])
        .arg(kz_country.dir.join("data/ledger.pub"))
        .output()?;
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("external witness indep.example/witness at "),
        "{shown}"
    );
    assert!(
        shown.contains("witnessed as the policy asks (2 cosignatures, 2 needed)"),
        "{shown}"
    );
    let out = kz_country
        .tulpar()?
        .args(["ledger", "verify", "--config"])
        .arg(kz_country.config_path())
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    Ok(())
}

/// A child process killed when dropped, so that no outside witness outlives its test.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
