//! Writes the seed inputs of every fuzz target into `corpus/<target>/`, made the way the node makes
//! them: envelopes signed alone and in batches, directories from a draft (a root rotation, a
//! revocation, a retired unit), checkpoints, proofs and segment files of a real ledger, cosignature
//! lines, the example drafts and configurations of `deploy/`.
//!
//! `cargo run --example seeds` (from `fuzz/`); the targets' keys are the fixed ones of the crate, so
//! what this signs verifies there. The corpus kept in the repository is these seeds together with
//! what fuzzing found, minimised with `cargo fuzz cmin`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use prost::Message;
use tulpar_core::codes::UnitId;
use tulpar_core::envelope::{PayloadType, sign, sign_all, sign_message};
use tulpar_core::ids::{AlertId, ResponseId};
use tulpar_core::proto;
use tulpar_core::time::to_timestamp;
use tulpar_fuzz::{
    COSIGNED_AT, KZ_ORIGIN, KZ_UNIT, SEED_LEDGER_SIZE, UZ_UNIT, UZ_WITNESS, held_checkpoint,
    kz_directory, kz_draft, kz_ledger, kz_next_root, kz_root, kz_unit, now, seed_entry, uz_ledger,
};
use tulpar_ledger::note::{self, CheckpointBody};
use tulpar_ledger::{Ledger, LedgerOptions, SignedCheckpoint};
use tulpar_trust::draft::DEFAULT_VALIDITY;

/// The sizes of the seeds' ledger after each of its group commits.
const BATCH_ENDS: [u64; 6] = [1, 4, 9, 16, 25, SEED_LEDGER_SIZE];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let corpus = root.join("corpus");
    envelopes(&corpus.join("envelope"))?;
    directories(&corpus.join("directory"))?;
    ledger(&corpus)?;
    cosignatures(&corpus.join("cosignature"))?;
    deliveries(&corpus.join("deliver_alerts"))?;
    drafts(
        &root.join("../deploy/examples"),
        &corpus.join("alert_draft"),
    )?;
    configs(&root.join("../deploy"), &corpus.join("config"))?;
    Ok(())
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::write(dir.join(name), bytes)
}

/// A valid alert from KZ's unit to UZ, as the origin node signs it.
fn alert() -> proto::Alert {
    proto::Alert {
        alert_id: AlertId::new_at(now()).to_string(),
        created_at: Some(to_timestamp(now())),
        content: Some(tulpar_core::sample::alert_draft(KZ_UNIT, "UZ")),
    }
}

fn envelopes(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let unit = kz_unit();
    write(
        dir,
        "alert",
        &sign_message(PayloadType::Alert, &alert(), &[&unit]).encode_to_vec(),
    )?;
    let payloads = (0..3).map(|_| alert().encode_to_vec()).collect();
    for (i, envelope) in sign_all(PayloadType::Alert, payloads, &unit)
        .iter()
        .enumerate()
    {
        write(dir, &format!("alert-batch-{i}"), &envelope.encode_to_vec())?;
    }
    let response = proto::AlertResponse {
        response_id: ResponseId::new_at(now()).to_string(),
        alert_id: AlertId::new_at(now()).to_string(),
        responder: Some(proto::Origin {
            country: "UZ".into(),
            unit: UZ_UNIT.into(),
        }),
        created_at: Some(to_timestamp(now())),
        kind: Some(proto::alert_response::Kind::Acknowledgement(
            proto::Acknowledgement {
                decision: proto::AcknowledgementDecision::Accepted.into(),
                note: "taken on".into(),
            },
        )),
    };
    write(
        dir,
        "response",
        &sign_message(PayloadType::Response, &response, &[&unit]).encode_to_vec(),
    )?;
    let receipts = (0..5)
        .map(|i| {
            proto::DeliveryReceipt {
                alert_id: AlertId::new_at(now()).to_string(),
                response_id: String::new(),
                sender_country: "UZ".into(),
                recipient_country: "KZ".into(),
                payload_sha256: vec![i; 32],
                ledger_index: u64::from(i),
                checkpoint: held_checkpoint().note().to_owned(),
                received_at: Some(to_timestamp(now())),
            }
            .encode_to_vec()
        })
        .collect();
    for (i, envelope) in sign_all(PayloadType::Receipt, receipts, &kz_ledger())
        .iter()
        .enumerate()
    {
        write(
            dir,
            &format!("receipt-batch-{i}"),
            &envelope.encode_to_vec(),
        )?;
    }
    write(dir, "directory", &kz_directory().encode_to_vec())?;
    let twice = sign(
        PayloadType::Alert,
        alert().encode_to_vec(),
        &[&unit, &kz_root()],
    );
    write(dir, "alert-two-signers", &twice.encode_to_vec())?;
    Ok(())
}

fn directories(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let first = kz_directory();
    let mut draft = kz_draft();
    let later = now() + Duration::from_secs(86_400);
    let other = UnitId::parse("KZ-ALTYNKOL-PCU")?;
    draft.add_unit(
        &other,
        "Altynkol",
        &tulpar_fuzz::fixed_key(9).public_key(),
        later,
    )?;
    draft.rotate_unit_key(&other, &tulpar_fuzz::fixed_key(10).public_key(), later)?;
    draft.revoke(
        tulpar_fuzz::fixed_key(9).key_id(),
        later,
        "the laptop was stolen",
    )?;
    draft.retire_unit(&other, later + Duration::from_secs(3600))?;
    draft.rotate_root(&kz_root(), &kz_next_root().public_key(), later)?;
    let second = draft.sign(&kz_next_root(), later, DEFAULT_VALIDITY)?;
    for (name, envelope) in [("first", &first), ("rotated", &second)] {
        let mut signed = vec![0];
        signed.extend(envelope.encode_to_vec());
        write(dir, &format!("{name}-envelope"), &signed)?;
        let mut content = vec![1];
        content.extend(&envelope.payload);
        write(dir, &format!("{name}-content"), &content)?;
    }
    Ok(())
}

/// A real ledger of the seed entries: its segment file, checkpoints and consistency proofs.
fn ledger(corpus: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let (ledger, _) = Ledger::open(
        dir.path(),
        LedgerOptions {
            origin: KZ_ORIGIN.to_owned(),
            signing_key: kz_ledger(),
            earlier_keys: Vec::new(),
            views: Vec::new(),
        },
    )?;
    let mut start = 0;
    for end in BATCH_ENDS {
        let entries = (start..end).map(seed_entry).collect();
        runtime.block_on(ledger.append_all(entries))?;
        start = end;
    }
    assert_eq!(ledger.latest_checkpoint(), held_checkpoint());
    let checkpoints = corpus.join("checkpoint");
    for (k, &new) in BATCH_ENDS.iter().enumerate() {
        let checkpoint = ledger
            .checkpoint_at(new)?
            .ok_or("a checkpoint at every batch end")?;
        for old in [0, 1, 3, 4, 8, new] {
            let old = old.min(new);
            let hashes = if old == 0 || old == new {
                Vec::new()
            } else {
                ledger.consistency_proof(old, new)?.hashes
            };
            let request = proto::AddCheckpointRequest {
                old_size: old,
                consistency_proof: hashes,
                checkpoint: checkpoint.note().to_owned(),
                restore_statement: String::new(),
            };
            write(
                &checkpoints,
                &format!("batch-{k}-from-{old}"),
                &request.encode_to_vec(),
            )?;
        }
    }
    let line = note::cosign(
        held_checkpoint().note(),
        UZ_WITNESS,
        &uz_ledger(),
        COSIGNED_AT,
    )?;
    let cosigned = held_checkpoint().with_signature(&line)?;
    let forked = SignedCheckpoint::sign(
        CheckpointBody {
            origin: KZ_ORIGIN.to_owned(),
            size: SEED_LEDGER_SIZE,
            root: [7; 32],
        },
        &kz_ledger(),
    )?;
    for (name, checkpoint) in [("cosigned", &cosigned), ("forked", &forked)] {
        let request = proto::AddCheckpointRequest {
            old_size: 16,
            consistency_proof: ledger.consistency_proof(16, SEED_LEDGER_SIZE)?.hashes,
            checkpoint: checkpoint.note().to_owned(),
            restore_statement: String::new(),
        };
        write(&checkpoints, name, &request.encode_to_vec())?;
    }
    // A node restored to size 16 declaring the loss of what a witness holds beyond it.
    let lost_size = SEED_LEDGER_SIZE + 8;
    let statement = tulpar_ledger::RestoreStatement {
        restored: CheckpointBody {
            origin: KZ_ORIGIN.to_owned(),
            size: 16,
            root: ledger.root_at(16)?,
        },
        lost_size,
    }
    .sign(&kz_ledger())?;
    let request = proto::AddCheckpointRequest {
        old_size: lost_size,
        consistency_proof: ledger.consistency_proof(16, SEED_LEDGER_SIZE)?.hashes,
        checkpoint: held_checkpoint().note().to_owned(),
        restore_statement: statement,
    };
    write(&checkpoints, "restored", &request.encode_to_vec())?;
    drop(ledger);
    let segments = dir.path().join("segments");
    let segment = fs::read(segments.join(format!("{:020}.seg", 0)))?;
    let seeds = corpus.join("segment");
    write(&seeds, "whole", &segment)?;
    write(&seeds, "torn", &segment[..segment.len() - 17])?;
    write(&seeds, "header-only", &segment[..24])?;
    let mut damaged = segment.clone();
    damaged[200] ^= 0x40;
    write(&seeds, "damaged-middle", &damaged)?;
    Ok(())
}

fn cosignatures(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let held = held_checkpoint();
    write(
        dir,
        "witness",
        note::cosign(held.note(), UZ_WITNESS, &uz_ledger(), COSIGNED_AT)?.as_bytes(),
    )?;
    write(
        dir,
        "other-witness",
        note::cosign(
            held.note(),
            "tulpar/TJ/witness",
            &tulpar_fuzz::fixed_key(11),
            COSIGNED_AT,
        )?
        .as_bytes(),
    )?;
    write(
        dir,
        "origin-again",
        note::cosign(held.note(), KZ_ORIGIN, &kz_ledger(), COSIGNED_AT)?.as_bytes(),
    )?;
    Ok(())
}

/// `DeliverAlertsRequest`s from KZ's node to UZ's, each after the byte that says whether the target
/// signs the alerts again (odd) or judges them as they are (even).
fn deliveries(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let unit = kz_unit();
    let addressed = |units: Vec<String>| {
        let mut alert = alert();
        if let Some(content) = alert.content.as_mut() {
            content.recipients = vec![proto::Recipient {
                country: "UZ".into(),
                units,
            }];
        }
        alert
    };
    let single = vec![sign_message(PayloadType::Alert, &alert(), &[&unit])];
    let payloads = vec![
        alert().encode_to_vec(),
        addressed(vec![UZ_UNIT.into()]).encode_to_vec(),
        addressed(vec!["UZ-SARIAGASH-PCU".into()]).encode_to_vec(),
    ];
    let batch = sign_all(PayloadType::Alert, payloads, &unit);
    // Dated an hour ahead of the receiving node's clock, past its skew.
    let ahead = now() + Duration::from_secs(3600);
    let mut late = alert();
    late.alert_id = AlertId::new_at(ahead).to_string();
    late.created_at = Some(to_timestamp(ahead));
    let late = vec![sign_message(PayloadType::Alert, &late, &[&unit])];
    for (name, alerts) in [("single", single), ("batch", batch), ("late", late)] {
        let request = proto::DeliverAlertsRequest { alerts }.encode_to_vec();
        for mode in [0u8, 1] {
            let mut input = vec![mode];
            input.extend(&request);
            write(dir, &format!("{name}-{mode}"), &input)?;
        }
    }
    Ok(())
}

fn drafts(examples: &Path, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    for file in fs::read_dir(examples)? {
        let path = file?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path.file_name().ok_or("a file name")?.to_string_lossy();
            write(dir, &name, &fs::read(&path)?)?;
        }
    }
    let sample = tulpar_core::sample::alert_draft(KZ_UNIT, "UZ");
    write(dir, "sample.json", &serde_json::to_vec_pretty(&sample)?)?;
    Ok(())
}

fn configs(deploy: &Path, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    write(
        dir,
        "node.example.toml",
        &fs::read(deploy.join("node.example.toml"))?,
    )?;
    for file in fs::read_dir(deploy.join("federation"))? {
        let path = file?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let name = path.file_name().ok_or("a file name")?.to_string_lossy();
            write(dir, &name, &fs::read(&path)?)?;
        }
    }
    Ok(())
}
