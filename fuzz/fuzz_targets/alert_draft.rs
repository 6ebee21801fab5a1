//! An alert draft in the proto3 JSON mapping, as `tulpar alert check` and `tulpar alert send` read it
//! from a file and the console keeps it: decoded with the generated mapping, then validated with
//! `validate_content`. A draft that validates must come back unchanged from its own JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tulpar_core::alert::validate_content;
use tulpar_fuzz as _;
use tulpar_proto::v1::AlertContent;

fuzz_target!(|data: &[u8]| {
    let Ok(draft) = serde_json::from_slice::<AlertContent>(data) else {
        return;
    };
    let Ok(valid) = validate_content(draft) else {
        return;
    };
    let json = serde_json::to_vec(valid.content()).expect("a decoded draft encodes");
    let again: AlertContent = serde_json::from_slice(&json).expect("its own JSON decodes");
    assert_eq!(&again, valid.content());
});
