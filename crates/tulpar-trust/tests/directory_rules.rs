//! Directories and the trust store: every refusal names the rule that failed.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{DAY, TestCountry, manual_clock, store_with, store_with_clock};
use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_core::envelope::{self, EnvelopeError, PayloadType};
use tulpar_core::keys::SigningKey;
use tulpar_trust::TrustStore;
use tulpar_trust::directory::{DirectoryError, KeyRuleError, Purpose, verify_directory};
use tulpar_trust::draft::{DEFAULT_VALIDITY, DirectoryDraft};
use tulpar_trust::store::StoreError;

fn unit(id: &str) -> UnitId {
    UnitId::parse(id).unwrap()
}

fn year(y: i32) -> SystemTime {
    // Close enough to 1 January of `y` for tests that only compare years.
    UNIX_EPOCH + Duration::from_secs(((y - 1970) as u64) * 365 * 24 * 3600 + 30 * 24 * 3600)
}

fn next_version(
    country: &TestCountry,
    current: &tulpar_core::proto::Envelope,
    now: SystemTime,
    edit: impl FnOnce(&mut DirectoryDraft),
) -> tulpar_core::proto::Envelope {
    let verified =
        verify_directory(current, &country.made.root.public_key(), country.code).unwrap();
    let mut draft = DirectoryDraft::from_verified(&verified);
    edit(&mut draft);
    draft
        .sign(&country.made.root, now, DEFAULT_VALIDITY)
        .unwrap()
}

#[test]
fn a_forged_directory_is_refused_by_the_signature_rule() {
    let kz = TestCountry::new("KZ", &["KZ-AKTAU-PCU"]);
    let (_dir, store) = store_with(&[&kz]);
    let v2 = next_version(&kz, &kz.made.directory, SystemTime::now(), |_| {});
    // An attacker swaps in their own unit key after signing, keeping the root's signature.
    let mallory = SigningKey::generate().unwrap();
    let mut directory: tulpar_core::proto::CountryDirectory =
        prost::Message::decode(v2.payload.as_slice()).unwrap();
    directory.units[0].keys[0].public_key = mallory.public_key().as_bytes().to_vec();
    directory.units[0].keys[0].key_id = mallory.key_id().to_string();
    let mut forged = v2.clone();
    forged.payload = prost::Message::encode_to_vec(&directory);
    let err = store.accept_directory(&forged).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Directory(DirectoryError::Signature {
                source: EnvelopeError::BadSignature { .. },
                ..
            })
        ),
        "{err}"
    );

    // Signed by a key that is not the root, but naming the root's key id.
    let mut impostor = envelope::sign(
        PayloadType::Directory,
        kz.made.directory.payload.clone(),
        &[&mallory],
    );
    impostor.signatures[0].key_id = kz.fingerprint();
    let err = store.accept_directory(&impostor).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Directory(DirectoryError::Signature {
                source: EnvelopeError::BadSignature { .. },
                ..
            })
        ),
        "{err}"
    );
    assert!(err.to_string().starts_with("rule signature:"), "{err}");
}

#[test]
fn a_directory_signed_by_another_root_is_refused() {
    let kz = TestCountry::new("KZ", &["KZ-AKTAU-PCU"]);
    let impostor = TestCountry::new("KZ", &["KZ-AKTAU-PCU"]);
    let (_dir, store) = store_with(&[&kz]);
    let err = store
        .accept_directory(&next_version(
            &impostor,
            &impostor.made.directory,
            SystemTime::now(),
            |_| {},
        ))
        .unwrap_err();
    assert!(err.to_string().starts_with("rule pinned-root:"), "{err}");
}

#[test]
fn a_rolled_back_version_is_refused() {
    let kz = TestCountry::new("KZ", &["KZ-AKTAU-PCU"]);
    let (_dir, store) = store_with(&[&kz]);
    let v2 = next_version(&kz, &kz.made.directory, SystemTime::now(), |_| {});
    assert_eq!(store.accept_directory(&v2).unwrap().version(), 2);
    let err = store.accept_directory(&kz.made.directory).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Directory(DirectoryError::Rollback {
                held: 2,
                offered: 1,
                ..
            })
        ),
        "{err}"
    );
    assert!(err.to_string().starts_with("rule version:"), "{err}");
    // The same directory again is not a rollback.
    assert_eq!(store.accept_directory(&v2).unwrap().version(), 2);
}

#[test]
fn an_expired_directory_is_refused() {
    let kz = TestCountry::at("KZ", &["KZ-AKTAU-PCU"], SystemTime::now() - 200 * DAY);
    let dir = tempfile::tempdir().unwrap();
    let store = TrustStore::open(dir.path(), Arc::new(tulpar_core::time::SystemClock)).unwrap();
    let err = store
        .add_country(
            kz.code,
            kz.made.root.public_key(),
            &kz.fingerprint(),
            Some(&kz.made.directory),
        )
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Directory(DirectoryError::Expired { .. })),
        "{err}"
    );
    assert!(err.to_string().starts_with("rule expiry:"), "{err}");
}

#[test]
fn a_unit_key_used_for_the_wrong_country_is_refused() {
    let kz = TestCountry::new("KZ", &["KZ-AKTAU-PCU"]);
    let uz = TestCountry::new("UZ", &["UZ-TASHKENT-PCU"]);
    let (_dir, store) = store_with(&[&kz, &uz]);
    let now = SystemTime::now();
    let uz_key = uz.unit_key("UZ-TASHKENT-PCU").key_id();

    // A UZ unit key presented as signing for a KZ unit.
    let err = store
        .check_unit_key(kz.code, &unit("KZ-AKTAU-PCU"), &uz_key, Purpose::Alert, now)
        .unwrap_err();
    assert!(
        err.to_string().starts_with("rule key-owner:")
            && err.to_string().contains("unit UZ-TASHKENT-PCU of UZ"),
        "{err}"
    );
    // A KZ unit claimed under UZ.
    let err = store
        .check_unit_key(uz.code, &unit("KZ-AKTAU-PCU"), &uz_key, Purpose::Alert, now)
        .unwrap_err();
    assert!(
        matches!(err, KeyRuleError::UnitOfOtherCountry { .. }),
        "{err}"
    );
    // A UZ directory that lists a KZ unit is refused as a whole.
    let bad = next_version(&uz, &uz.made.directory, now, |d| {
        d.add_unit(
            &unit("UZ-SAMARKAND-PCU"),
            "x",
            &SigningKey::generate().unwrap().public_key(),
            now,
        )
        .unwrap();
    });
    // Rewrite the unit id to a KZ one and re-sign with the UZ root, as a careless or hostile focal
    // point might.
    let mut directory: tulpar_core::proto::CountryDirectory = prost::Message::decode(
        envelope::verify(&bad, PayloadType::Directory, &uz.made.root.public_key())
            .unwrap()
            .payload(),
    )
    .unwrap();
    directory.units[1].unit_id = "KZ-KURYK-PCU".into();
    let resigned = tulpar_trust::directory::sign_directory(&directory, &uz.made.root);
    let err = store.accept_directory(&resigned).unwrap_err();
    assert!(err.to_string().starts_with("rule unit-country:"), "{err}");
    // And the right key for the right unit is valid.
    let kz_key = kz.unit_key("KZ-AKTAU-PCU").key_id();
    store
        .check_unit_key(kz.code, &unit("KZ-AKTAU-PCU"), &kz_key, Purpose::Alert, now)
        .unwrap();
    // A unit key may not sign receipts.
    let err = store
        .check_unit_key(
            kz.code,
            &unit("KZ-AKTAU-PCU"),
            &kz_key,
            Purpose::Receipt,
            now,
        )
        .unwrap_err();
    assert!(err.to_string().starts_with("rule purpose:"), "{err}");
}

#[test]
fn rotated_keys_keep_verifying_old_signatures_and_revocation_cuts_from_its_time() {
    // Directory made in 2026, unit key rotated in 2027, audited in 2030.
    let kz = TestCountry::at("KZ", &["KZ-AKTAU-PCU"], year(2026));
    let clock = manual_clock(year(2026));
    let (_dir, store) = store_with_clock(&[&kz], clock.clone());
    let aktau = unit("KZ-AKTAU-PCU");
    let old_key = kz.unit_key("KZ-AKTAU-PCU");
    let signed_2026 = envelope::sign(PayloadType::Alert, b"alert of 2026".to_vec(), &[old_key]);

    clock.set(year(2027));
    let new_key = SigningKey::generate().unwrap();
    let v2 = next_version(&kz, &kz.made.directory, year(2027), |d| {
        d.rotate_unit_key(&aktau, &new_key.public_key(), year(2027))
            .unwrap();
    });
    store.accept_directory(&v2).unwrap();

    clock.set(year(2030));
    store.reload().unwrap();
    // The 2026 signature by the rotated-out key verifies as of 2026 ...
    let resolver = store.unit_resolver(kz.code, aktau.clone(), Purpose::Alert, year(2026));
    envelope::verify(&signed_2026, PayloadType::Alert, &resolver).unwrap();
    // ... but a signature the old key claims to have made in 2028 does not.
    let resolver = store.unit_resolver(kz.code, aktau.clone(), Purpose::Alert, year(2028));
    let err = envelope::verify(&signed_2026, PayloadType::Alert, &resolver).unwrap_err();
    assert!(matches!(err, EnvelopeError::NoKnownSigner(_)), "{err}");
    let refusal = resolver.refusals().pop().unwrap();
    assert!(
        matches!(refusal, KeyRuleError::RotatedOut { .. }),
        "{refusal}"
    );
    assert!(
        refusal.to_string().starts_with("rule validity:"),
        "{refusal}"
    );

    // The new key is compromised; revoked from mid-2028 (directory v3 published in 2029, while v2
    // would have expired: the store clock says 2030, so move it back to publication time).
    clock.set(year(2027) + 10 * DAY);
    let v3 = next_version(&kz, &v2, year(2027) + 10 * DAY, |d| {
        d.revoke(new_key.key_id(), year(2028) + 180 * DAY, "key compromised")
            .unwrap();
    });
    store.accept_directory(&v3).unwrap();
    store
        .check_unit_key(
            kz.code,
            &aktau,
            &new_key.key_id(),
            Purpose::Alert,
            year(2028),
        )
        .unwrap();
    let err = store
        .check_unit_key(
            kz.code,
            &aktau,
            &new_key.key_id(),
            Purpose::Alert,
            year(2029),
        )
        .unwrap_err();
    assert!(
        err.to_string().starts_with("rule revocation:") && err.to_string().contains("compromised"),
        "{err}"
    );
}

#[test]
fn root_rotation_is_followed_through_endorsement() {
    let kz = TestCountry::new("KZ", &["KZ-AKTAU-PCU"]);
    let (dir, store) = store_with(&[&kz]);
    let now = SystemTime::now();
    let new_root = SigningKey::generate().unwrap();
    let verified =
        verify_directory(&kz.made.directory, &kz.made.root.public_key(), kz.code).unwrap();
    let mut draft = DirectoryDraft::from_verified(&verified);
    draft
        .rotate_root(&kz.made.root, &new_root.public_key(), now)
        .unwrap();
    // The old root may no longer sign once it handed over.
    assert!(
        draft
            .clone()
            .sign(&kz.made.root, now, DEFAULT_VALIDITY)
            .is_err()
    );
    let v2 = draft.sign(&new_root, now, DEFAULT_VALIDITY).unwrap();
    let accepted = store.accept_directory(&v2).unwrap();
    assert_eq!(accepted.current_root(), new_root.public_key());

    // A "rotation" not endorsed by the old root is refused.
    let rogue = SigningKey::generate().unwrap();
    let mut directory = accepted.directory().clone();
    directory.version = 3;
    directory
        .root_keys
        .push(tulpar_trust::directory::root_key_entry(
            kz.code,
            &rogue.public_key(),
            now,
            Some(&rogue),
        ));
    let err = store
        .accept_directory(&tulpar_trust::directory::sign_directory(&directory, &rogue))
        .unwrap_err();
    assert!(
        err.to_string().starts_with("rule root-endorsement:"),
        "{err}"
    );

    // The store reloads from disk with the pinned (first) root and the rotated directory.
    let reopened = TrustStore::open(dir.path(), Arc::new(tulpar_core::time::SystemClock)).unwrap();
    let entry = reopened.entry(kz.code).unwrap();
    assert_eq!(entry.pinned_root(), kz.made.root.public_key());
    assert_eq!(entry.directory().unwrap().version(), 2);
}

#[test]
fn trust_add_refuses_a_fingerprint_mismatch_and_a_second_root() {
    let kz = TestCountry::new("KZ", &["KZ-AKTAU-PCU"]);
    let other = TestCountry::new("KZ", &[]);
    let dir = tempfile::tempdir().unwrap();
    let store = TrustStore::open(dir.path(), Arc::new(tulpar_core::time::SystemClock)).unwrap();
    let err = store
        .add_country(
            kz.code,
            kz.made.root.public_key(),
            &other.fingerprint(),
            None,
        )
        .unwrap_err();
    assert!(
        matches!(err, StoreError::FingerprintMismatch { .. }),
        "{err}"
    );
    assert!(store.countries().is_empty());
    assert!(!dir.path().join("KZ").exists());

    store
        .add_country(kz.code, kz.made.root.public_key(), &kz.fingerprint(), None)
        .unwrap();
    let err = store
        .add_country(
            kz.code,
            other.made.root.public_key(),
            &other.fingerprint(),
            None,
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyPinned { .. }), "{err}");
    // Pinned without a directory: keys cannot be checked yet, and say so.
    let err = store
        .check_node_key(
            kz.code,
            &kz.made.ledger.key_id(),
            Purpose::Receipt,
            store.clock().now(),
        )
        .unwrap_err();
    assert_eq!(err, KeyRuleError::NoDirectory(kz.code));
    store.accept_directory(&kz.made.directory).unwrap();
    store
        .check_node_key(
            kz.code,
            &kz.made.ledger.key_id(),
            Purpose::Receipt,
            store.clock().now(),
        )
        .unwrap();
    assert!(dir.path().join("KZ/root.pub").exists());
    assert!(dir.path().join("KZ/directory.env").exists());
    assert_eq!(store.countries(), vec![CountryCode::parse("KZ").unwrap()]);
}

#[test]
fn a_retired_unit_signs_nothing_after_retirement() {
    let now = SystemTime::now();
    let kz = TestCountry::at("KZ", &["KZ-AKTAU-PCU", "KZ-KURYK-PCU"], now - 3 * DAY);
    let (_dir, store) = store_with(&[&kz]);
    let kuryk = unit("KZ-KURYK-PCU");
    let v2 = next_version(&kz, &kz.made.directory, now, |d| {
        d.retire_unit(&kuryk, now - DAY).unwrap();
    });
    store.accept_directory(&v2).unwrap();
    let key = kz.unit_key("KZ-KURYK-PCU").key_id();
    store
        .check_unit_key(kz.code, &kuryk, &key, Purpose::Response, now - 2 * DAY)
        .unwrap();
    let err = store
        .check_unit_key(kz.code, &kuryk, &key, Purpose::Response, now)
        .unwrap_err();
    assert!(err.to_string().starts_with("rule retired:"), "{err}");
}

/// A partner serving a directory past `MAX_DIRECTORY_BYTES` (properly signed, padded with
/// endpoints) is refused by its size before anything is verified, and the held one stays.
#[test]
fn an_oversized_directory_is_refused_by_the_size_rule() {
    let kz = TestCountry::new("KZ", &["KZ-AKTAU-PCU"]);
    let (_dir, store) = store_with(&[&kz]);
    let pad = "x".repeat(1000);
    let huge = next_version(&kz, &kz.made.directory, SystemTime::now(), |draft| {
        draft.set_endpoints(
            (0..tulpar_core::limits::MAX_DIRECTORY_BYTES / 1000 + 10)
                .map(|i| format!("{i}.{pad}:7443"))
                .collect(),
        );
    });
    assert!(prost::Message::encoded_len(&huge) > tulpar_core::limits::MAX_DIRECTORY_BYTES);
    let held = store.directory(kz.code).map(|d| d.version());
    let err = store.accept_directory(&huge).unwrap_err();
    assert!(matches!(err, StoreError::TooLarge { .. }), "{err}");
    assert!(err.to_string().starts_with("rule size:"), "{err}");
    assert_eq!(store.directory(kz.code).map(|d| d.version()), held);
}
