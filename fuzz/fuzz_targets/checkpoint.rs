//! A partner presenting its checkpoint to this node as a witness (`AddCheckpointRequest`): the note
//! verified with `SignedCheckpoint::verify` under the partner's origin, its consistency proof from
//! the size held checked with `verify_consistency_proof`, its cosignatures read, and the note cosigned.
//! A proof between two roots of one tree must never be taken for evidence of a fork. A restore
//! statement is read with `RestoreStatement::verify` under the same origin and key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use tulpar_fuzz::{COSIGNED_AT, KZ_ORIGIN, UZ_WITNESS, kz_ledger, seed_roots, uz_ledger};
use tulpar_ledger::note;
use tulpar_ledger::{ProofError, RestoreStatement, SignedCheckpoint, verify_consistency_proof};
use tulpar_proto::v1::{AddCheckpointRequest, ConsistencyProof};

fuzz_target!(|data: &[u8]| {
    let Ok(request) = AddCheckpointRequest::decode(data) else {
        return;
    };
    let kz = kz_ledger().public_key();
    if let Ok(statement) = RestoreStatement::verify(&request.restore_statement, KZ_ORIGIN, &kz) {
        assert!(
            statement.lost_size > statement.restored.size,
            "a restore statement that loses nothing"
        );
    }
    let Ok(offered) = SignedCheckpoint::verify(&request.checkpoint, Some(KZ_ORIGIN), &kz) else {
        return;
    };
    let uz = uz_ledger();
    let _ = note::verify_cosignature(offered.note(), UZ_WITNESS, &uz.public_key());
    note::cosign(offered.note(), UZ_WITNESS, &uz, COSIGNED_AT)
        .expect("a verified note can be cosigned");
    let roots = seed_roots();
    let Some(held) = usize::try_from(request.old_size)
        .ok()
        .and_then(|size| roots.get(size))
    else {
        return;
    };
    let proof = ConsistencyProof {
        old_size: request.old_size,
        new_size: offered.size(),
        hashes: request.consistency_proof,
    };
    let verdict = verify_consistency_proof(&proof, held, offered.root());
    let of_one_tree = usize::try_from(offered.size())
        .ok()
        .and_then(|size| roots.get(size))
        == Some(offered.root());
    if of_one_tree {
        assert_ne!(
            verdict,
            Err(ProofError::Diverges),
            "a fork alarm on one tree"
        );
    }
});
