//! Which keys each kind of entry leaves in the state view.

use std::collections::BTreeMap;
use std::time::Duration;

use tulpar_core::alert::{ValidAlert, validate_content};
use tulpar_core::envelope::sign_message;
use tulpar_core::keys::SigningKey;

use super::*;

/// A batch over a map, as the ledger's view transaction is over a sled tree.
#[derive(Default)]
pub(in crate::state) struct MapTxn(pub(in crate::state) BTreeMap<Vec<u8>, Vec<u8>>);

impl Txn for MapTxn {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.0.get(key).cloned())
    }
    fn insert(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.0.insert(key, value);
    }
    fn remove(&mut self, key: Vec<u8>) {
        self.0.remove(&key);
    }
}

impl MapTxn {
    fn prefixes(&self) -> Vec<String> {
        self.0
            .keys()
            .map(|k| String::from_utf8_lossy(&k[..2]).into_owned())
            .collect()
    }
}

fn country(code: &str) -> CountryCode {
    CountryCode::parse(code).expect("country")
}

fn view(own: &str) -> StateView {
    StateView {
        country: country(own),
        deadlines: crate::config::DeadlinesConfig {
            urgent: Duration::from_secs(60),
            high: Duration::from_secs(600),
            routine: Duration::from_secs(6000),
            check_interval: Duration::from_secs(1),
        },
    }
}

/// A signing key and an alert from KZ-AKTAU-PCU to UZ created at `now`, signed with it.
struct Signed {
    key: SigningKey,
    alert_id: String,
    id: [u8; 16],
    envelope: proto::Envelope,
}

fn signed_alert(now: SystemTime) -> Signed {
    let key = SigningKey::generate().expect("key");
    let content = validate_content(tulpar_core::sample::alert_draft("KZ-AKTAU-PCU", "UZ"))
        .expect("valid draft");
    let alert = ValidAlert::new(tulpar_core::ids::AlertId::new_at(now), now, content);
    let envelope = sign_message(PayloadType::Alert, alert.message(), &[&key]);
    Signed {
        key,
        alert_id: alert.id().to_string(),
        id: *alert.id().as_bytes(),
        envelope,
    }
}

fn entry(alert_id: &str, kind: Kind) -> proto::LedgerEntry {
    proto::LedgerEntry {
        recorded_at: Some(to_timestamp(SystemTime::now())),
        alert_id: alert_id.to_owned(),
        kind: Some(kind),
    }
}

/// UZ records the alert `envelope` as received from KZ, at ledger index 4.
fn receive(uz: &StateView, alert_id: &str, envelope: proto::Envelope, txn: &mut MapTxn) {
    let received = Kind::AlertReceived(proto::AlertReceived {
        alert: Some(envelope),
        from_country: "KZ".into(),
    });
    uz.apply_entry(4, &entry(alert_id, received), txn)
        .expect("applied");
}

/// UZ-TASHKENT-PCU's acknowledgement of `alert_id`, signed with `key`, recorded as sent to KZ at
/// ledger index 6; returns the response's id.
fn acknowledge(
    uz: &StateView,
    key: &SigningKey,
    alert_id: &str,
    now: SystemTime,
    txn: &mut MapTxn,
) -> String {
    let response_id = tulpar_core::ids::AlertId::new_at(now).to_string();
    let response = proto::AlertResponse {
        response_id: response_id.clone(),
        alert_id: alert_id.to_owned(),
        responder: Some(proto::Origin {
            unit: "UZ-TASHKENT-PCU".into(),
            ..Default::default()
        }),
        created_at: Some(to_timestamp(now)),
        kind: Some(proto::alert_response::Kind::Acknowledgement(
            proto::Acknowledgement {
                decision: proto::AcknowledgementDecision::Accepted as i32,
                note: String::new(),
            },
        )),
    };
    let sent = Kind::ResponseSent(proto::ResponseSent {
        response: Some(sign_message(PayloadType::Response, &response, &[key])),
        to_country: "KZ".into(),
        ..Default::default()
    });
    uz.apply_entry(6, &entry(alert_id, sent), txn)
        .expect("applied");
    response_id
}

#[test]
fn outbox_and_deadline_keys_are_found_from_the_alert_record() {
    let now = SystemTime::now();
    let Signed {
        key,
        alert_id,
        id,
        envelope,
    } = signed_alert(now);
    let kz = view("KZ");
    let mut txn = MapTxn::default();
    let sent = Kind::AlertSent(proto::AlertSent {
        alert: Some(envelope),
        ..Default::default()
    });
    kz.apply_entry(7, &entry(&alert_id, sent), &mut txn)
        .expect("applied");
    assert_eq!(txn.prefixes(), ["a/", "d/", "o/"]);
    // What an older version also kept: removed along with what it pointed to.
    txn.insert(
        keys::outbox_by_object(&id, country("UZ")),
        7u64.to_be_bytes().to_vec(),
    );
    txn.insert(
        keys::deadline_by_alert(&id, country("UZ")),
        b"d/...".to_vec(),
    );

    let receipt = proto::DeliveryReceipt {
        alert_id: alert_id.clone(),
        sender_country: "KZ".into(),
        recipient_country: "UZ".into(),
        ledger_index: 3,
        received_at: Some(to_timestamp(now)),
        ..Default::default()
    };
    let received = Kind::ReceiptReceived(proto::ReceiptReceived {
        receipt: Some(sign_message(PayloadType::Receipt, &receipt, &[&key])),
        from_country: "UZ".into(),
    });
    kz.apply_entry(9, &entry(&alert_id, received), &mut txn)
        .expect("applied");
    assert_eq!(txn.prefixes(), ["a/", "d/", "e/"]);

    let stored: StoredAlert = get_message(&mut txn, &keys::alert(&id))
        .expect("read")
        .expect("record");
    let due = stored.recipients[0].acknowledgement_deadline;
    let missed = Kind::DeadlineMissed(proto::DeadlineMissed {
        country: "UZ".into(),
        deadline: due,
    });
    kz.apply_entry(12, &entry(&alert_id, missed), &mut txn)
        .expect("applied");
    assert_eq!(txn.prefixes(), ["a/", "v/"]);
}

#[test]
fn an_answered_alert_leaves_no_deadline_and_a_receipted_response_no_outbox_item() {
    let now = SystemTime::now();
    let Signed {
        key,
        alert_id,
        envelope,
        ..
    } = signed_alert(now);
    let uz = view("UZ");
    let mut txn = MapTxn::default();
    receive(&uz, &alert_id, envelope, &mut txn);
    assert_eq!(txn.prefixes(), ["a/", "d/", "r/"]);

    let response_id = acknowledge(&uz, &key, &alert_id, now, &mut txn);
    assert_eq!(txn.prefixes(), ["a/", "o/", "r/"]);

    let receipt = proto::DeliveryReceipt {
        alert_id: alert_id.clone(),
        response_id,
        sender_country: "UZ".into(),
        recipient_country: "KZ".into(),
        received_at: Some(to_timestamp(now)),
        ..Default::default()
    };
    let receipted = Kind::ReceiptReceived(proto::ReceiptReceived {
        receipt: Some(sign_message(PayloadType::Receipt, &receipt, &[&key])),
        from_country: "KZ".into(),
    });
    uz.apply_entry(8, &entry(&alert_id, receipted), &mut txn)
        .expect("applied");
    assert_eq!(txn.prefixes(), ["a/", "r/"]);
}

#[test]
fn an_alert_refused_for_good_leaves_the_outbox_and_its_deadline_and_is_counted() {
    let now = SystemTime::now();
    let Signed {
        alert_id,
        id,
        envelope,
        ..
    } = signed_alert(now);
    let kz = view("KZ");
    let mut txn = MapTxn::default();
    let sent = Kind::AlertSent(proto::AlertSent {
        alert: Some(envelope),
        ..Default::default()
    });
    kz.apply_entry(7, &entry(&alert_id, sent), &mut txn)
        .expect("applied");
    let abandoned = Kind::DeliveryAbandoned(proto::DeliveryAbandoned {
        response_id: String::new(),
        country: "UZ".into(),
        code: tonic::Code::InvalidArgument as i32,
        reason: "narrative: too long".into(),
    });
    kz.apply_entry(8, &entry(&alert_id, abandoned), &mut txn)
        .expect("applied");
    // The record stays, the outbox item and the deadline go, the partner's count is kept.
    assert_eq!(txn.prefixes(), ["a/", "u/"]);
    let stored: StoredAlert = get_message(&mut txn, &keys::alert(&id))
        .expect("read")
        .expect("record");
    let status = &stored.recipients[0];
    assert_eq!(status.state, DeliveryState::Undeliverable as i32);
    let step = status.timeline.last().expect("a step");
    assert_eq!(step.ledger_index, 8);
    assert_eq!(step.reason, "InvalidArgument: narrative: too long");
    let counted: UndeliverableRecord = get_message(&mut txn, &keys::undeliverable(country("UZ")))
        .expect("read")
        .expect("record");
    assert_eq!(counted.count, 1);
    assert_eq!(
        counted.last_reason,
        format!("alert {alert_id}: InvalidArgument: narrative: too long")
    );
}

#[test]
fn a_response_refused_for_good_leaves_the_outbox_and_the_state_as_it_was() {
    let now = SystemTime::now();
    let Signed {
        key,
        alert_id,
        id,
        envelope,
    } = signed_alert(now);
    let uz = view("UZ");
    let mut txn = MapTxn::default();
    receive(&uz, &alert_id, envelope, &mut txn);
    let response_id = acknowledge(&uz, &key, &alert_id, now, &mut txn);
    assert_eq!(txn.prefixes(), ["a/", "o/", "r/"]);
    let abandoned = Kind::DeliveryAbandoned(proto::DeliveryAbandoned {
        response_id: response_id.clone(),
        country: "KZ".into(),
        code: tonic::Code::AlreadyExists as i32,
        reason: "taken".into(),
    });
    uz.apply_entry(9, &entry(&alert_id, abandoned), &mut txn)
        .expect("applied");
    assert_eq!(txn.prefixes(), ["a/", "r/", "u/"]);
    let stored: StoredAlert = get_message(&mut txn, &keys::alert(&id))
        .expect("read")
        .expect("record");
    let status = &stored.recipients[0];
    assert_eq!(status.state, DeliveryState::Acknowledged as i32);
    let step = status.timeline.last().expect("a step");
    assert_eq!(
        (step.ledger_index, step.reason.as_str()),
        (9, "AlreadyExists: taken")
    );
}
