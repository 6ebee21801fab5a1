//! The bytes of a ledger's last segment file as opening reads them back from disk: the header, the
//! frames up to the first defect, a torn tail told from damage in the middle
//! (`tulpar_ledger::read_last_segment`), then the last frame's checkpoint verified as opening does.
//! The first index the file name would give is read from the header, so that the name agrees.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tulpar_fuzz::{KZ_ORIGIN, kz_ledger};
use tulpar_ledger::{SignedCheckpoint, read_last_segment};

fuzz_target!(|data: &[u8]| {
    let first_index = data
        .get(12..20)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes);
    let path = Path::new("segments/00000000000000000000.seg");
    let Ok(found) = read_last_segment(data, path, first_index) else {
        return;
    };
    let end = usize::try_from(found.end).expect("an offset inside the buffer");
    assert!(end <= data.len(), "the frames end past the file");
    assert!(found.size >= first_index);
    assert_eq!(found.torn.is_none(), end == data.len());
    if let Some(note) = &found.last_note {
        let _ = SignedCheckpoint::verify(note, Some(KZ_ORIGIN), &kz_ledger().public_key());
    }
});
