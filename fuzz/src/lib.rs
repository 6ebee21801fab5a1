//! What the fuzz targets share: keys fixed by their seed, so that the seeds `examples/seeds.rs`
//! writes verify in the targets, and an allocator that refuses any single allocation larger than
//! [`MAX_ALLOCATION`], so that a length read from the input and trusted shows up as a crash whether
//! or not the target runs under a sanitizer.

use std::alloc::{GlobalAlloc, Layout, System};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_core::keys::SigningKey;
use tulpar_core::time::to_timestamp;
use tulpar_ledger::SignedCheckpoint;
use tulpar_ledger::merkle::{Frontier, Hash};
use tulpar_ledger::note::CheckpointBody;
use tulpar_proto::v1::{Envelope, LedgerEntry, TrustPinned, ledger_entry::Kind};
use tulpar_trust::draft::{DEFAULT_VALIDITY, DirectoryDraft};
use tulpar_trust::tls::TlsCa;

/// The largest allocation a target may make: above every bound of `tulpar-core::limits` (the
/// largest, a gRPC message, is 16 MiB), far above anything an input of a few kilobytes needs.
pub const MAX_ALLOCATION: usize = 64 << 20;

/// The system allocator, failing allocations over [`MAX_ALLOCATION`]: Rust then aborts with
/// "memory allocation of N bytes failed", which libFuzzer records as a crash with its input.
pub struct Bounded;

// SAFETY: every call is passed to `System` unchanged, or answered with null, which `GlobalAlloc`
// allows for any request.
unsafe impl GlobalAlloc for Bounded {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > MAX_ALLOCATION {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Bounded = Bounded;

/// An Ed25519 key made from a 32-byte seed of `seed` repeated (PKCS#8 v1: a fixed prefix, then the
/// seed), the same in every run.
pub fn fixed_key(seed: u8) -> SigningKey {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&[seed; 32]);
    SigningKey::from_pkcs8_der(&der).expect("a PKCS#8 Ed25519 key from a fixed seed")
}

/// KZ's root key: pinned by the directory target, signs the directories of the seeds.
pub fn kz_root() -> SigningKey {
    fixed_key(1)
}

/// The key a KZ root rotation hands over to, endorsed by [`kz_root`].
pub fn kz_next_root() -> SigningKey {
    fixed_key(2)
}

/// KZ's ledger key: signs KZ's checkpoints.
pub fn kz_ledger() -> SigningKey {
    fixed_key(3)
}

/// UZ's ledger key: cosigns KZ's checkpoints as a witness.
pub fn uz_ledger() -> SigningKey {
    fixed_key(4)
}

/// The key of KZ's unit [`KZ_UNIT`]: signs KZ's alerts.
pub fn kz_unit() -> SigningKey {
    fixed_key(5)
}

/// UZ's root key: signs UZ's own directory, which the node that receives KZ's alerts holds.
pub fn uz_root() -> SigningKey {
    fixed_key(12)
}

/// The key of UZ's unit [`UZ_UNIT`].
pub fn uz_unit() -> SigningKey {
    fixed_key(13)
}

/// KZ's unit of the seeds.
pub const KZ_UNIT: &str = "KZ-AKTAU-PCU";
/// UZ's unit of the seeds.
pub const UZ_UNIT: &str = "UZ-TASHKENT-PCU";

/// KZ.
pub fn kz() -> CountryCode {
    CountryCode::parse("KZ").expect("KZ is a country")
}

/// UZ.
pub fn uz() -> CountryCode {
    CountryCode::parse("UZ").expect("UZ is a country")
}

/// The time the seeds are made at and the targets judge them at: 1 March 2026, so that a run
/// next year checks the same things as one today.
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_772_323_200)
}

/// KZ's checkpoint origin and signer name.
pub const KZ_ORIGIN: &str = "tulpar/KZ";
/// UZ's, as a witness cosigns.
pub const UZ_ORIGIN: &str = "tulpar/UZ";
/// The cosigner name of UZ's node as a witness (`<federation>/<CC>/witness`).
pub const UZ_WITNESS: &str = "tulpar/UZ/witness";
/// The time the fixed cosignatures claim (POSIX seconds).
pub const COSIGNED_AT: u64 = 1_790_000_000;

/// How many entries the seeds' ledger holds.
pub const SEED_LEDGER_SIZE: u64 = 40;

/// Entry `index` of the seeds' ledger: the same bytes in every run, so its roots are known here.
pub fn seed_entry(index: u64) -> LedgerEntry {
    LedgerEntry {
        recorded_at: Some(to_timestamp(now() + Duration::from_secs(index))),
        alert_id: String::new(),
        kind: Some(Kind::TrustPinned(TrustPinned {
            country: "UZ".to_owned(),
            root_public_key: index.to_be_bytes().to_vec(),
            pinned_by: format!("seed {index}"),
        })),
    }
}

/// The root of the seeds' ledger at each size from 0 to [`SEED_LEDGER_SIZE`]: what a witness that
/// cosigned it at that size holds.
pub fn seed_roots() -> &'static [Hash] {
    static ROOTS: std::sync::OnceLock<Vec<Hash>> = std::sync::OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut frontier = Frontier::default();
        let mut roots = vec![frontier.root()];
        for index in 0..SEED_LEDGER_SIZE {
            let bytes = prost::Message::encode_to_vec(&seed_entry(index));
            frontier.push_leaf(tulpar_ledger::leaf_hash(&bytes));
            roots.push(frontier.root());
        }
        roots
    })
}

/// KZ's checkpoint of the whole seeds' ledger, as this node holds its own latest one.
pub fn held_checkpoint() -> SignedCheckpoint {
    let body = CheckpointBody {
        origin: KZ_ORIGIN.to_owned(),
        size: SEED_LEDGER_SIZE,
        root: seed_roots()[SEED_LEDGER_SIZE as usize],
    };
    SignedCheckpoint::sign(body, &kz_ledger()).expect("KZ's origin is a note name")
}

/// A first directory of `country` as its ceremony drafts it: a root, a TLS CA made now, a ledger
/// key, and one unit with its key.
fn first_draft(
    country: CountryCode,
    root: &SigningKey,
    ledger: &SigningKey,
    unit: (&str, &SigningKey),
) -> DirectoryDraft {
    let ca =
        TlsCa::generate(country, now(), Duration::from_secs(3650 * 24 * 3600)).expect("a TLS CA");
    let mut draft = DirectoryDraft::new(
        country,
        &root.public_key(),
        ca.certificate(),
        &ledger.public_key(),
        vec![format!(
            "{}.tulpar.example:7443",
            country.as_str().to_ascii_lowercase()
        )],
        now(),
    );
    let unit_id = UnitId::parse(unit.0).expect("a unit id");
    draft
        .add_unit(&unit_id, unit.0, &unit.1.public_key(), now())
        .expect("a unit of the country");
    draft
}

/// KZ's first directory, not yet signed: [`kz_root`], [`kz_ledger`], and [`KZ_UNIT`] with
/// [`kz_unit`].
pub fn kz_draft() -> DirectoryDraft {
    first_draft(kz(), &kz_root(), &kz_ledger(), (KZ_UNIT, &kz_unit()))
}

/// KZ's first directory, signed by [`kz_root`].
pub fn kz_directory() -> Envelope {
    kz_draft()
        .sign(&kz_root(), now(), DEFAULT_VALIDITY)
        .expect("signed by its own root")
}

/// UZ's first directory, signed by [`uz_root`]: [`UZ_UNIT`] with [`uz_unit`].
pub fn uz_directory() -> Envelope {
    first_draft(uz(), &uz_root(), &uz_ledger(), (UZ_UNIT, &uz_unit()))
        .sign(&uz_root(), now(), DEFAULT_VALIDITY)
        .expect("signed by its own root")
}
