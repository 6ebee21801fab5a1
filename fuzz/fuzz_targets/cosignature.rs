//! A witness's answer to this node's checkpoint: its cosignature line, added to the note with
//! `note::add_signature` (and `SignedCheckpoint::with_signature`) and checked with
//! `note::verify_cosignature`, as witnessing does with what a partner returns. Whatever the line,
//! the note must keep its own signature.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tulpar_fuzz::{KZ_ORIGIN, UZ_WITNESS, held_checkpoint, kz_ledger, uz_ledger};
use tulpar_ledger::SignedCheckpoint;
use tulpar_ledger::note;

fn held() -> &'static SignedCheckpoint {
    static HELD: OnceLock<SignedCheckpoint> = OnceLock::new();
    HELD.get_or_init(held_checkpoint)
}

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let held = held();
    let Ok(cosigned) = note::add_signature(held.note(), line) else {
        assert!(held.with_signature(line).is_err());
        return;
    };
    let _ = note::verify_cosignature(&cosigned, UZ_WITNESS, &uz_ledger().public_key());
    let with = held
        .with_signature(line)
        .expect("the same line as add_signature took");
    assert_eq!(with.note(), cosigned);
    SignedCheckpoint::verify(&cosigned, Some(KZ_ORIGIN), &kz_ledger().public_key())
        .expect("an added line never spoils the origin's signature");
});
