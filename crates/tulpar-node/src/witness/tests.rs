//! The witness rules: KZ's node shown checkpoints of UZ's ledger (bare ledgers signed with UZ's ledger
//! key, two of them for a fork), and the presenting side's round as far as it goes without the network.

use tonic::Status;
use tulpar_core::codes::CountryCode;
use tulpar_core::proto::{self, ledger_entry::Kind};
use tulpar_ledger::note::{self, CheckpointBody};
use tulpar_ledger::{Ledger, SignedCheckpoint};

use super::CheckpointError;
use crate::node::Node;
use crate::testing::{KZ_UNIT, TestFederation, entry, raise};

/// Appends `count` entries to `ledger`, each naming `tag` so that two ledgers grow apart.
async fn grow(fed: &TestFederation, ledger: &Ledger, tag: &str, count: usize) {
    let entries = (0..count)
        .map(|i| {
            entry(
                &fed.clock,
                &format!("{tag}-{}-{i}", ledger.size()),
                Kind::CheckpointCosigned(proto::CheckpointCosigned::default()),
            )
        })
        .collect();
    ledger.append_all(entries).await.expect("appended");
}

/// `ledger`'s latest checkpoint presented with a proof from `old_size`.
fn presented(ledger: &Ledger, old_size: u64) -> proto::AddCheckpointRequest {
    let latest = ledger.latest_checkpoint();
    let consistency_proof = if old_size == 0 || old_size >= latest.size() {
        Vec::new()
    } else {
        ledger
            .consistency_proof(old_size, latest.size())
            .expect("proof")
            .hashes
    };
    proto::AddCheckpointRequest {
        old_size,
        consistency_proof,
        checkpoint: latest.note().to_owned(),
        restore_statement: String::new(),
    }
}

fn witnessed(kz: &Node, uz: CountryCode) -> Option<String> {
    kz.context.state.witnessed(uz).expect("state")
}

/// The kinds of KZ's entries from `from` on.
fn kinds_since(kz: &Node, from: u64) -> Vec<Kind> {
    kz.context
        .entries(from, kz.context.ledger_size())
        .expect("entries")
        .into_iter()
        .filter_map(|(_, e)| e.kind)
        .collect()
}

/// Checks that `line` is KZ's cosignature of `checkpoint`.
fn assert_cosigned_by_kz(fed: &TestFederation, checkpoint: &str, line: &str) {
    let cosigned = note::add_signature(checkpoint, line).expect("a signature line");
    note::verify_cosignature(
        &cosigned,
        &note::witness_name(&fed.kz.config.federation.name, fed.kz.code),
        &fed.kz.made.ledger.public_key(),
    )
    .expect("KZ's cosignature verifies");
}

#[tokio::test]
async fn a_first_checkpoint_is_cosigned_and_held() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    let uz = fed.ledger(&fed.uz, "uz");
    grow(&fed, &uz, "a", 3).await;
    let request = presented(&uz, 0);
    let before = kz.context.ledger_size();

    let line = kz
        .witness
        .add_checkpoint(fed.uz.code, request.clone())
        .await
        .expect("cosigned");
    assert_cosigned_by_kz(&fed, &request.checkpoint, &line);
    assert_eq!(
        witnessed(&kz, fed.uz.code),
        Some(request.checkpoint.clone())
    );
    match kinds_since(&kz, before).as_slice() {
        [Kind::CheckpointCosigned(recorded)] => {
            assert_eq!(recorded.country, "UZ");
            assert_eq!(recorded.checkpoint, request.checkpoint);
            assert_eq!(recorded.cosignature, line);
        }
        other => panic!("expected one CheckpointCosigned entry, got {other:?}"),
    }
}

#[tokio::test]
async fn a_consistent_larger_checkpoint_is_cosigned_and_replaces_the_held_one() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    let uz = fed.ledger(&fed.uz, "uz");
    grow(&fed, &uz, "a", 3).await;
    kz.witness
        .add_checkpoint(fed.uz.code, presented(&uz, 0))
        .await
        .expect("cosigned");
    grow(&fed, &uz, "a", 4).await;

    let request = presented(&uz, 3);
    assert!(!request.consistency_proof.is_empty());
    let line = kz
        .witness
        .add_checkpoint(fed.uz.code, request.clone())
        .await
        .expect("cosigned");
    assert_cosigned_by_kz(&fed, &request.checkpoint, &line);
    assert_eq!(witnessed(&kz, fed.uz.code), Some(request.checkpoint));
    assert!(kz.context.state.alarms().expect("state").is_empty());
}

#[tokio::test]
async fn the_held_checkpoint_presented_again_is_cosigned_again_and_nothing_recorded() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    let uz = fed.ledger(&fed.uz, "uz");
    grow(&fed, &uz, "a", 3).await;
    let first = kz
        .witness
        .add_checkpoint(fed.uz.code, presented(&uz, 0))
        .await
        .expect("cosigned");
    let before = kz.context.ledger_size();

    let again = kz
        .witness
        .add_checkpoint(fed.uz.code, presented(&uz, 3))
        .await
        .expect("cosigned again");
    assert_eq!(
        again, first,
        "the same checkpoint gets the same cosignature"
    );
    assert_eq!(
        witnessed(&kz, fed.uz.code),
        Some(presented(&uz, 3).checkpoint)
    );
    assert!(kz.context.state.alarms().expect("state").is_empty());
    // Presented again and again, it changes nothing: no entry, no alarm.
    for _ in 0..200 {
        let same = kz
            .witness
            .add_checkpoint(fed.uz.code, presented(&uz, 3))
            .await
            .expect("cosigned again");
        assert_eq!(same, first);
    }
    assert!(kinds_since(&kz, before).is_empty(), "nothing recorded");
}

/// Checks that `result` is the witness naming `held` as the size it holds, as a partner reads it from
/// the status.
fn assert_holds(result: Result<String, CheckpointError>, held: u64) {
    match result {
        Err(error @ CheckpointError::Holds(size)) => {
            assert_eq!(size, held);
            assert_eq!(
                crate::error::witness_size(&Status::from(error)),
                Some(held),
                "the size travels in the status"
            );
        }
        other => panic!("expected the witness to name size {held}, got {other:?}"),
    }
}

#[tokio::test]
async fn an_older_checkpoint_is_refused_naming_the_size_held() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    let uz = fed.ledger(&fed.uz, "uz");
    grow(&fed, &uz, "a", 3).await;
    let old = presented(&uz, 0);
    grow(&fed, &uz, "a", 4).await;
    kz.witness
        .add_checkpoint(fed.uz.code, presented(&uz, 0))
        .await
        .expect("cosigned at 7");
    let before = kz.context.ledger_size();

    // A rollback: from the size held it is refused as impossible (an old size above the
    // checkpoint's); from another size, the witness names the size it holds.
    let from_held = proto::AddCheckpointRequest {
        old_size: 7,
        ..old.clone()
    };
    let result = kz.witness.add_checkpoint(fed.uz.code, from_held).await;
    assert!(
        matches!(
            result,
            Err(CheckpointError::OldSizeTooLarge { old: 7, size: 3 })
        ),
        "{result:?}"
    );
    assert_eq!(
        Status::from(result.unwrap_err()).code(),
        tonic::Code::InvalidArgument
    );
    assert_holds(kz.witness.add_checkpoint(fed.uz.code, old).await, 7);
    assert_eq!(kz.context.ledger_size(), before, "nothing is recorded");
    assert_eq!(
        witnessed(&kz, fed.uz.code),
        Some(presented(&uz, 7).checkpoint)
    );
}

#[tokio::test]
async fn a_presenter_naming_another_size_than_the_one_held_is_told_the_size() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    let uz = fed.ledger(&fed.uz, "uz");
    grow(&fed, &uz, "a", 3).await;
    kz.witness
        .add_checkpoint(fed.uz.code, presented(&uz, 0))
        .await
        .expect("cosigned at 3");
    grow(&fed, &uz, "a", 4).await;
    let before = kz.context.ledger_size();

    for old_size in [0, 2, 5] {
        assert_holds(
            kz.witness
                .add_checkpoint(fed.uz.code, presented(&uz, old_size))
                .await,
            3,
        );
    }
    assert_eq!(kz.context.ledger_size(), before);
    // From the size named, the presenter succeeds.
    kz.witness
        .add_checkpoint(fed.uz.code, presented(&uz, 3))
        .await
        .expect("cosigned at 7");
}

/// Checks that `result` is the refusal of an inconsistent checkpoint and that KZ recorded exactly one
/// equivocation alarm holding `known` and `conflicting`, without changing the checkpoint it holds.
fn assert_equivocation(
    fed: &TestFederation,
    kz: &Node,
    result: Result<String, CheckpointError>,
    known: &str,
    conflicting: &str,
) {
    match result {
        Err(error @ CheckpointError::Inconsistent { .. }) => {
            let message = error.to_string();
            assert!(message.contains("not consistent"), "{message}");
            assert!(message.contains("evidence is recorded"), "{message}");
        }
        other => panic!("expected ABORTED, got {other:?}"),
    }
    let alarms = kz.context.state.alarms().expect("state");
    assert_eq!(alarms.len(), 1, "one alarm");
    let recorded = kz.context.entry(alarms[0]).expect("entry");
    let Some(Kind::EquivocationDetected(evidence)) = recorded.kind else {
        panic!("expected an EquivocationDetected entry, got {recorded:?}");
    };
    assert_eq!(evidence.country, "UZ");
    assert_eq!(evidence.known_checkpoint, known);
    assert_eq!(evidence.conflicting_checkpoint, conflicting);
    assert_eq!(
        witnessed(kz, fed.uz.code).as_deref(),
        Some(known),
        "the held checkpoint stays"
    );
}

#[tokio::test]
async fn a_fork_of_the_same_size_is_recorded_as_equivocation() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    let (uz, fork) = (fed.ledger(&fed.uz, "uz"), fed.ledger(&fed.uz, "uz-fork"));
    grow(&fed, &uz, "a", 3).await;
    grow(&fed, &fork, "b", 3).await;
    let known = presented(&uz, 0).checkpoint;
    kz.witness
        .add_checkpoint(fed.uz.code, presented(&uz, 0))
        .await
        .expect("cosigned");

    let conflicting = presented(&fork, 3);
    assert_ne!(conflicting.checkpoint, known);
    let result = kz
        .witness
        .add_checkpoint(fed.uz.code, conflicting.clone())
        .await;
    assert_equivocation(&fed, &kz, result, &known, &conflicting.checkpoint);
}

#[tokio::test]
async fn a_larger_checkpoint_of_a_fork_is_recorded_as_equivocation() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    let (uz, fork) = (fed.ledger(&fed.uz, "uz"), fed.ledger(&fed.uz, "uz-fork"));
    grow(&fed, &uz, "a", 3).await;
    grow(&fed, &fork, "b", 6).await;
    let known = presented(&uz, 0).checkpoint;
    kz.witness
        .add_checkpoint(fed.uz.code, presented(&uz, 0))
        .await
        .expect("cosigned");

    // The fork's own proof from size 3 proves it extends its own first three entries, not UZ's.
    let conflicting = presented(&fork, 3);
    let result = kz
        .witness
        .add_checkpoint(fed.uz.code, conflicting.clone())
        .await;
    assert_equivocation(&fed, &kz, result, &known, &conflicting.checkpoint);
}

/// UZ's signed statement that its ledger `restored` from size `size`, losing what the witness holds
/// up to `lost`.
fn restore_statement(fed: &TestFederation, restored: &Ledger, size: u64, lost: u64) -> String {
    tulpar_ledger::RestoreStatement {
        restored: CheckpointBody {
            origin: note::ledger_origin(&fed.uz.config.federation.name, fed.uz.code),
            size,
            root: restored.root_at(size).expect("root"),
        },
        lost_size: lost,
    }
    .sign(&fed.uz.made.ledger)
    .expect("signed")
}

#[tokio::test]
async fn a_declared_restore_is_recorded_as_evidence_and_witnessed_from_the_restored_history() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    // UZ's ledger and its restored copy share their first three entries, then grow apart.
    let (uz, restored) = (
        fed.ledger(&fed.uz, "uz"),
        fed.ledger(&fed.uz, "uz-restored"),
    );
    grow(&fed, &uz, "a", 3).await;
    grow(&fed, &restored, "a", 3).await;
    assert_eq!(
        uz.root_at(3).expect("root"),
        restored.root_at(3).expect("root")
    );
    grow(&fed, &uz, "lost", 3).await;
    grow(&fed, &restored, "new", 5).await;
    kz.witness
        .add_checkpoint(fed.uz.code, presented(&uz, 0))
        .await
        .expect("cosigned at 6");
    let known = witnessed(&kz, fed.uz.code).expect("held");
    let declared = |statement: String, old_size: u64, proof_from: u64| {
        let mut request = presented(&restored, proof_from);
        request.old_size = old_size;
        request.restore_statement = statement;
        request
    };
    let before = kz.context.ledger_size();

    // Refused, and nothing recorded: a statement by another key, one naming another old size than
    // the request's, a proof that does not lead from the restored checkpoint, a statement too long.
    let stranger = tulpar_core::keys::SigningKey::generate().expect("key");
    let by_stranger = tulpar_ledger::RestoreStatement::verify(
        &restore_statement(&fed, &restored, 3, 6),
        &note::ledger_origin(&fed.uz.config.federation.name, fed.uz.code),
        &fed.uz.made.ledger.public_key(),
    )
    .expect("verifies")
    .sign(&stranger)
    .expect("signed");
    for (what, request) in [
        ("stranger", declared(by_stranger, 6, 3)),
        (
            "old size",
            declared(restore_statement(&fed, &restored, 3, 6), 5, 3),
        ),
        (
            "proof",
            declared(restore_statement(&fed, &restored, 3, 6), 6, 2),
        ),
        ("too long", declared("x".repeat(2000), 6, 3)),
    ] {
        let result = kz.witness.add_checkpoint(fed.uz.code, request).await;
        assert!(
            matches!(&result, Err(error @ CheckpointError::BadRestore(_)) if error.to_string().starts_with("restore_statement: ")),
            "{what}: {result:?}"
        );
    }
    // A statement for another size than the one held is answered with the size held.
    let stale = declared(restore_statement(&fed, &restored, 3, 5), 5, 3);
    assert_holds(kz.witness.add_checkpoint(fed.uz.code, stale).await, 6);
    assert_eq!(kz.context.ledger_size(), before, "nothing is recorded");
    assert!(kz.context.state.alarms().expect("state").is_empty());

    // The statement for the size held: the loss is recorded, and the restored history cosigned.
    let request = declared(restore_statement(&fed, &restored, 3, 6), 6, 3);
    let line = kz
        .witness
        .add_checkpoint(fed.uz.code, request.clone())
        .await
        .expect("cosigned");
    assert_cosigned_by_kz(&fed, &request.checkpoint, &line);
    let alarms = kz.context.state.alarms().expect("state");
    assert_eq!(alarms.len(), 1, "one alarm");
    let Some(Kind::EquivocationDetected(evidence)) =
        kz.context.entry(alarms[0]).expect("entry").kind
    else {
        panic!("expected an EquivocationDetected entry");
    };
    assert_eq!(evidence.known_checkpoint, known);
    assert_eq!(evidence.conflicting_checkpoint, request.checkpoint);
    assert_eq!(evidence.restore_statement, request.restore_statement);
    assert!(
        evidence.reason.contains("entries 3..6"),
        "{}",
        evidence.reason
    );
    assert_eq!(witnessed(&kz, fed.uz.code), Some(request.checkpoint));

    // From there on the restored ledger is witnessed as any other: consistent growth is cosigned.
    grow(&fed, &restored, "new", 2).await;
    kz.witness
        .add_checkpoint(fed.uz.code, presented(&restored, 8))
        .await
        .expect("cosigned at 10");
    assert_eq!(kz.context.state.alarms().expect("state").len(), 1);
}

#[tokio::test]
async fn a_larger_checkpoint_with_a_missing_or_garbage_proof_is_refused_without_an_alarm() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    let uz = fed.ledger(&fed.uz, "uz");
    grow(&fed, &uz, "a", 3).await;
    kz.witness
        .add_checkpoint(fed.uz.code, presented(&uz, 0))
        .await
        .expect("cosigned");
    grow(&fed, &uz, "a", 4).await;
    let before = kz.context.ledger_size();

    // The ledger did not fork; only the proof is missing or wrong. That proves nothing either way.
    let garbage = presented(&uz, 3)
        .consistency_proof
        .iter()
        .map(|hash| hash.iter().map(|b| b ^ 0x5a).collect())
        .collect();
    for hashes in [Vec::new(), garbage] {
        let request = proto::AddCheckpointRequest {
            consistency_proof: hashes,
            ..presented(&uz, 3)
        };
        let refused = kz
            .witness
            .add_checkpoint(fed.uz.code, request)
            .await
            .expect_err("no proof, no cosignature");
        let status = tonic::Status::from(crate::error::ApiError::from(refused));
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains("consistency_proof"), "{status:?}");
    }
    assert!(kz.context.state.alarms().expect("state").is_empty());
    assert!(kinds_since(&kz, before).is_empty(), "nothing recorded");
    // With the right proof, the same checkpoint is cosigned.
    kz.witness
        .add_checkpoint(fed.uz.code, presented(&uz, 3))
        .await
        .expect("cosigned with its proof");
}

#[tokio::test]
async fn a_checkpoint_not_signed_by_the_partner_is_refused_and_nothing_recorded() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    let uz = fed.ledger(&fed.uz, "uz");
    grow(&fed, &uz, "a", 3).await;
    let genuine = uz.latest_checkpoint();
    let body = CheckpointBody {
        origin: note::ledger_origin(&fed.uz.config.federation.name, fed.uz.code),
        size: genuine.size(),
        root: *genuine.root(),
    };
    let stranger = tulpar_core::keys::SigningKey::generate().expect("key");
    let forged = SignedCheckpoint::sign(body.clone(), &stranger).expect("signed");
    // KZ's own ledger key over a checkpoint naming UZ: a node key, but not UZ's.
    let by_kz = SignedCheckpoint::sign(body, &fed.kz.made.ledger).expect("signed");
    // UZ's checkpoint with its size changed after signing.
    let tampered = genuine.note().replacen("\n3\n", "\n4\n", 1);
    assert_ne!(tampered, genuine.note());
    // A checkpoint of KZ's own ledger, validly signed, presented by UZ.
    let kz_ledger = fed.ledger(&fed.kz, "kz-bare");
    grow(&fed, &kz_ledger, "k", 1).await;
    let other_origin = kz_ledger.latest_checkpoint().note().to_owned();
    let before = kz.context.ledger_size();

    for (what, checkpoint) in [
        ("stranger's key", forged.note().to_owned()),
        ("KZ's key", by_kz.note().to_owned()),
        ("tampered", tampered),
        ("another origin", other_origin),
    ] {
        let request = proto::AddCheckpointRequest {
            old_size: 0,
            consistency_proof: Vec::new(),
            checkpoint,
            restore_statement: String::new(),
        };
        let result = kz.witness.add_checkpoint(fed.uz.code, request).await;
        assert!(
            matches!(&result, Err(error @ (CheckpointError::Unverified { .. } | CheckpointError::NoKey(_))) if error.to_string().starts_with("checkpoint from UZ")),
            "{what}: {result:?}"
        );
    }
    assert_eq!(kz.context.ledger_size(), before, "nothing is recorded");
    assert_eq!(witnessed(&kz, fed.uz.code), None);
    assert!(kz.context.state.alarms().expect("state").is_empty());
}

#[tokio::test]
async fn a_round_is_skipped_while_the_ledger_is_empty_or_grew_only_by_witnessing() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    assert_eq!(kz.context.ledger_size(), 0);
    assert_eq!(
        kz.witness
            .witness_round(fed.uz.code)
            .await
            .expect("no round"),
        None
    );
    raise(&kz, KZ_UNIT, "UZ").await;

    // UZ's node witnesses KZ's checkpoint, and KZ records the cosignature as its round would.
    let uz = fed.open(&fed.uz);
    let latest = kz.context.latest_checkpoint();
    let line = uz
        .witness
        .add_checkpoint(
            fed.kz.code,
            proto::AddCheckpointRequest {
                old_size: 0,
                consistency_proof: Vec::new(),
                checkpoint: latest.note.clone(),
                restore_statement: String::new(),
            },
        )
        .await
        .expect("UZ cosigns");
    let cosigned = note::add_signature(&latest.note, &line).expect("a signature line");
    kz.context
        .append(entry(
            &fed.clock,
            "",
            Kind::CosignatureReceived(proto::CosignatureReceived {
                country: "UZ".into(),
                cosigned_checkpoint: cosigned.clone(),
                witness_key: String::new(),
            }),
        ))
        .await
        .expect("recorded");
    assert_eq!(
        kz.context.state.cosigned_by(fed.uz.code).expect("state"),
        Some(cosigned)
    );
    let checkpoints = kz.auditor.checkpoints().expect("checkpoints");
    assert_eq!(checkpoints.witnesses, vec!["UZ".to_owned()]);
    assert_eq!(
        checkpoints.cosigned_checkpoint.map(|c| c.size),
        Some(latest.size)
    );

    // Only the cosignature came since: nothing new to witness, and no partner is called.
    assert_eq!(
        kz.witness
            .witness_round(fed.uz.code)
            .await
            .expect("no round"),
        None
    );
}

/// An outside log's checkpoint at `old_size`'s request, as a c2sp.org/tlog-witness body.
fn body_of(ledger: &Ledger, old_size: u64) -> Vec<u8> {
    let request = presented(ledger, old_size);
    crate::witness::Presented {
        old_size: request.old_size,
        consistency_proof: request.consistency_proof,
        checkpoint: request.checkpoint,
        restore_statement: String::new(),
    }
    .to_body()
    .into_bytes()
}

/// POSTs `body` to the HTTP door and returns the status, content type and text of the answer.
async fn post(kz: &Node, body: &[u8]) -> (u16, String, String) {
    let response = kz.witness.add_checkpoint_http(body).await;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (
        status,
        content_type,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[tokio::test]
async fn an_outside_log_is_witnessed_over_http_as_c2sp_tlog_witness_says() {
    let fed = TestFederation::new();
    let log_key = tulpar_core::keys::SigningKey::generate().expect("key");
    let vkey = note::VerifierKey {
        name: "outside.example/log".into(),
        kind: note::VerifierKind::Log,
        key: log_key.public_key(),
    };
    let kz = fed.open_with(&fed.kz, |config| {
        config
            .witness
            .logs
            .push(tulpar_config::WitnessedLog { key: vkey.clone() });
    });
    let log = fed.outside_ledger("outside.example/log", &log_key, "outside");
    grow(&fed, &log, "a", 3).await;
    let witness = note::witness_name(&fed.kz.config.federation.name, fed.kz.code);
    let before = kz.context.ledger_size();

    // Neither an unknown origin nor a known one signed by another key gets anything.
    let stranger = tulpar_core::keys::SigningKey::generate().expect("key");
    let other = fed.outside_ledger("other.example/log", &log_key, "other");
    grow(&fed, &other, "a", 3).await;
    assert_eq!(post(&kz, &body_of(&other, 0)).await.0, 404);
    let forged = fed.outside_ledger("outside.example/log", &stranger, "forged");
    grow(&fed, &forged, "a", 3).await;
    assert_eq!(post(&kz, &body_of(&forged, 0)).await.0, 403);
    assert_eq!(post(&kz, b"old 1\n").await.0, 400);
    assert_eq!(kz.context.ledger_size(), before, "nothing recorded");

    // The first checkpoint is cosigned with a cosignature/v1 by KZ's witness name, dated now.
    let (status, _, line) = post(&kz, &body_of(&log, 0)).await;
    assert_eq!(status, 200, "{line}");
    let cosigned = note::add_signature(&presented(&log, 0).checkpoint, line.trim_end())
        .expect("a signature line");
    let time = note::verify_cosignature(&cosigned, &witness, &fed.kz.made.ledger.public_key())
        .expect("KZ's cosignature verifies");
    assert_eq!(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(time),
        tulpar_core::time::Clock::now(&*fed.clock)
    );
    let recorded = kinds_since(&kz, before);
    let [Kind::CheckpointCosigned(cosigned_entry)] = recorded.as_slice() else {
        panic!("one cosigned checkpoint recorded: {recorded:?}");
    };
    assert_eq!(cosigned_entry.country, "");
    assert_eq!(cosigned_entry.log_key, vkey.to_string());
    let after_first = kz.context.ledger_size();

    // From a stale old size: 409 naming the size held, in text/x.tlog.size.
    let (status, content_type, text) = post(&kz, &body_of(&log, 0)).await;
    assert_eq!(
        (status, content_type.as_str(), text.as_str()),
        (409, "text/x.tlog.size", "3\n")
    );
    // The same checkpoint again: a cosignature, and nothing recorded.
    assert_eq!(post(&kz, &body_of(&log, 3)).await.0, 200);

    // Grown: a proof that proves nothing is 422, an old size above the checkpoint's 400.
    grow(&fed, &log, "a", 4).await;
    let mut bad = presented(&log, 3);
    bad.consistency_proof[0][0] ^= 1;
    let bad_body = crate::witness::Presented {
        old_size: 3,
        consistency_proof: bad.consistency_proof,
        checkpoint: bad.checkpoint,
        restore_statement: String::new(),
    }
    .to_body();
    assert_eq!(post(&kz, bad_body.as_bytes()).await.0, 422);
    let beyond = String::from_utf8(body_of(&log, 0))
        .expect("text")
        .replacen("old 0", "old 8", 1);
    assert_eq!(post(&kz, beyond.as_bytes()).await.0, 400);
    assert_eq!(kz.context.ledger_size(), after_first, "nothing recorded");

    // The right proof: cosigned and held.
    assert_eq!(post(&kz, &body_of(&log, 3)).await.0, 200);
    assert_eq!(
        kz.context
            .state
            .witnessed_log("outside.example/log")
            .expect("state"),
        Some(presented(&log, 7).checkpoint)
    );

    // A fork signed by the log's key, of the size held: 409, and the evidence recorded.
    let fork = fed.outside_ledger("outside.example/log", &log_key, "fork");
    grow(&fed, &fork, "b", 7).await;
    let since = kz.context.ledger_size();
    assert_eq!(post(&kz, &body_of(&fork, 7)).await.0, 409);
    let recorded = kinds_since(&kz, since);
    let [Kind::EquivocationDetected(evidence)] = recorded.as_slice() else {
        panic!("the evidence recorded: {recorded:?}");
    };
    assert_eq!(evidence.log_key, vkey.to_string());
    assert_eq!(evidence.country, "");
}

#[tokio::test]
async fn a_ledger_refuses_to_open_under_another_federation_name() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    raise(&kz, KZ_UNIT, "UZ").await;
    drop(kz);
    let mut config = fed.kz.config.clone();
    config.federation.name = "other.example".into();
    let error = crate::startup::open(config, fed.clock.clone())
        .err()
        .expect("refused");
    let message = format!("{error:#}");
    assert!(
        message.contains("federation.name must stay what it was"),
        "{message}"
    );
    assert!(message.contains("test.tulpar.example/KZ"), "{message}");
}

#[tokio::test]
async fn cosignatures_of_ledgers_begun_before_c2sp_cosignatures_still_check_out() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    let uz = fed.ledger(&fed.uz, "uz");
    grow(&fed, &uz, "a", 3).await;
    let checkpoint = uz.latest_checkpoint().note().to_owned();
    let body = note::Note::parse(&checkpoint).expect("note").body;
    let origin = note::ledger_origin(&fed.kz.config.federation.name, fed.kz.code);
    // What nodes wrote before: a plain signed-note signature by the witness's origin.
    let legacy = note::sign_line(&body, &origin, &kz.context.ledger_key()).expect("signed");
    let stranger = tulpar_core::keys::SigningKey::generate().expect("key");
    let forged = note::sign_line(&body, &origin, &stranger).expect("signed");
    let checker = kz.auditor.entry_checker().expect("checker");
    for (line, holds) in [(legacy, true), (forged, false)] {
        let appended = kz
            .context
            .append(entry(
                &fed.clock,
                "",
                Kind::CheckpointCosigned(proto::CheckpointCosigned {
                    country: "UZ".into(),
                    checkpoint: checkpoint.clone(),
                    cosignature: line,
                    log_key: String::new(),
                }),
            ))
            .await
            .expect("recorded");
        let raw = kz
            .context
            .ledger
            .entry_bytes(appended.index)
            .expect("bytes");
        assert_eq!(checker.check(appended.index, &raw).is_ok(), holds);
    }
}
