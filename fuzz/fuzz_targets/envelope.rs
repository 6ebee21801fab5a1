//! A signed envelope as a partner sends it (an alert, a response, a receipt or a directory): decoded,
//! then verified as each payload type against the keys it may claim, batch inclusion paths folded,
//! and its payload decoded once verified. A verifier that already checked the envelope's batch
//! signature must judge it as a fresh one does.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use prost::Message;
use tulpar_core::envelope::{self, PayloadType, Verifier};
use tulpar_core::keys::PublicKey;
use tulpar_proto::v1::{Alert, AlertResponse, CountryDirectory, DeliveryReceipt, Envelope};

fn keys() -> &'static [PublicKey] {
    static KEYS: OnceLock<Vec<PublicKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            tulpar_fuzz::kz_unit(),
            tulpar_fuzz::kz_ledger(),
            tulpar_fuzz::kz_root(),
        ]
        .iter()
        .map(|key| key.public_key())
        .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(received) = Envelope::decode(data) else {
        return;
    };
    let mut verifier = Verifier::default();
    for payload_type in PayloadType::ALL {
        let fresh = envelope::verify(&received, payload_type, keys());
        let first = verifier.verify(&received, payload_type, keys());
        let remembered = verifier.verify(&received, payload_type, keys());
        assert_eq!(fresh.is_ok(), first.is_ok(), "{payload_type}");
        assert_eq!(
            first.is_ok(),
            remembered.is_ok(),
            "{payload_type} remembered"
        );
        let Ok(verified) = fresh else {
            continue;
        };
        match payload_type {
            PayloadType::Alert => {
                if let Ok(alert) = verified.decode::<Alert>() {
                    let _ = tulpar_core::alert::validate_alert(alert);
                }
            }
            PayloadType::Response => {
                let _ = verified.decode::<AlertResponse>();
            }
            PayloadType::Receipt => {
                let _ = verified.decode::<DeliveryReceipt>();
            }
            PayloadType::Directory => {
                let _ = verified.decode::<CountryDirectory>();
            }
        }
    }
});
