//! A country directory as a partner serves it (`GetDirectory`) or a focal point hands it over
//! (`directory.env`): verified against the pinned root with `verify_directory`, then judged as an
//! update with `check_update`, and its keys looked up as receiving does.
//!
//! The first byte chooses what the rest is: even, an `Envelope` as received, signed or not; odd, a
//! `CountryDirectory` that the target signs with the root its chain ends in, so that every content
//! rule behind the signature is reached, as with a root that signs whatever it is given.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use prost::Message;
use tulpar_core::keys::{PublicKey, SigningKey};
use tulpar_fuzz::{kz, kz_next_root, kz_root, now};
use tulpar_proto::v1::{CountryDirectory, Envelope};
use tulpar_trust::directory::{
    Purpose, VerifiedDirectory, check_update, sign_directory, verify_directory,
};

struct Keys {
    root: SigningKey,
    next: SigningKey,
    pinned: PublicKey,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let root = kz_root();
        let pinned = root.public_key();
        Keys {
            root,
            next: kz_next_root(),
            pinned,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let keys = keys();
    let received = if mode % 2 == 0 {
        let Ok(envelope) = Envelope::decode(rest) else {
            return;
        };
        envelope
    } else {
        let Ok(directory) = CountryDirectory::decode(rest) else {
            return;
        };
        let next = keys.next.key_id().to_string();
        let ends_with_next = directory
            .root_keys
            .last()
            .is_some_and(|root| root.key_id == next);
        let signer = if ends_with_next {
            &keys.next
        } else {
            &keys.root
        };
        sign_directory(&directory, signer)
    };
    let Ok(offered) = verify_directory(&received, &keys.pinned, kz()) else {
        return;
    };
    let at = now();
    let _ = check_update(&offered, None, at);
    let _ = check_update(&offered, Some(&offered), at);
    look_up_keys(&offered, at);
});

/// What receiving asks of a verified directory: each key's holder and rules at a time.
fn look_up_keys(directory: &VerifiedDirectory, at: std::time::SystemTime) {
    for unit in directory.units() {
        for key in &unit.keys {
            let _ = directory.check_unit_key(&unit.unit_id, &key.key_id, Purpose::Alert, at);
            let _ = directory.owner_of(&key.key_id);
        }
    }
    for key in directory.node_keys() {
        let _ = directory.check_node_key(&key.key_id, Purpose::Receipt, at);
    }
    for revocation in directory.revocations() {
        let _ = directory.revocation_at(&revocation.key_id, at);
    }
}
