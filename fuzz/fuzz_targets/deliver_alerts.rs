//! A partner's `DeliverAlerts` request as the federation service receives it: decoded with prost (the
//! service's codec), refused whole past `MAX_ALERTS_PER_CALL` as the service does, then each alert
//! judged by the node's `DeliveryRules::check_alert`: the unit signature before anything is decoded,
//! the whole alert validated, the origin against the partner, the signer against the origin unit,
//! this country among the recipients, the date against the clock, the units named here. The UZ node
//! judges what KZ's node delivers.
//!
//! The first byte chooses whose signatures the alerts carry: even, the envelopes as received; odd,
//! each payload signed again with the key of KZ's unit, so that every rule behind the signature is
//! reached, as with a partner that signs whatever it sends.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use prost::Message;
use tulpar_core::envelope::{self, PayloadType, Verifier};
use tulpar_core::keys::SigningKey;
use tulpar_core::limits::MAX_ALERTS_PER_CALL;
use tulpar_core::time::ManualClock;
use tulpar_fuzz::{kz, kz_unit, now, uz};
use tulpar_node::inbound::DeliveryRules;
use tulpar_proto::v1::DeliverAlertsRequest;
use tulpar_trust::TrustStore;
use tulpar_trust::directory::VerifiedDirectory;

/// The default `federation.max_clock_skew`.
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

struct Node {
    trust: TrustStore,
    own: VerifiedDirectory,
    unit: SigningKey,
}

fn node() -> &'static Node {
    static NODE: OnceLock<Node> = OnceLock::new();
    NODE.get_or_init(|| {
        // The store keeps what it verified in memory; its files are needed only to open it.
        let dir = tempfile::tempdir().expect("a temporary directory");
        let trust = TrustStore::open(dir.path(), Arc::new(ManualClock::new(now())))
            .expect("an empty trust store");
        let partner = tulpar_fuzz::kz_directory();
        let root = tulpar_fuzz::kz_root().public_key();
        trust
            .add_country(kz(), root, &root.key_id().to_string(), Some(&partner))
            .expect("KZ pinned with its directory");
        let own = tulpar_trust::directory::verify_directory(
            &tulpar_fuzz::uz_directory(),
            &tulpar_fuzz::uz_root().public_key(),
            uz(),
        )
        .expect("UZ's own directory verifies");
        Node {
            trust,
            own,
            unit: kz_unit(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(request) = DeliverAlertsRequest::decode(rest) else {
        return;
    };
    if request.alerts.len() > MAX_ALERTS_PER_CALL {
        return;
    }
    let node = node();
    let rules = DeliveryRules {
        country: uz(),
        trust: &node.trust,
        own_units: &node.own,
        now: now(),
        max_clock_skew: MAX_CLOCK_SKEW,
    };
    let mut verifier = Verifier::default();
    for delivered in request.alerts {
        let delivered = if mode % 2 == 0 {
            delivered
        } else {
            envelope::sign(PayloadType::Alert, delivered.payload, &[&node.unit])
        };
        let _ = rules.check_alert(&mut verifier, kz(), delivered);
    }
});
