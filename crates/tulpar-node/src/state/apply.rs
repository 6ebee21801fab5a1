//! How each kind of ledger entry changes the node's state view.
//!
//! Runs inside the ledger's commit loop, for new entries and when the view is rebuilt from the
//! segments, so it must be deterministic and must not fail on content: everything in the ledger was
//! verified before it was recorded. Anything that cannot be understood is logged and skipped.

use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message;
use tulpar_core::alert::Priority;
use tulpar_core::codes::CountryCode;
use tulpar_core::envelope::{PayloadType, decode_recorded, payload_digest};
use tulpar_core::ids::AlertId;
use tulpar_core::proto::{self, DeliveryState, ledger_entry::Kind};
use tulpar_core::response::{state_after, without_attachment_content};
use tulpar_core::time::{from_timestamp, to_timestamp};
use tulpar_proto::pbjson_types::Timestamp;

use super::records::{OutboxItem, ReceivedRecord, RequestRecord, StoredAlert, UndeliverableRecord};
use super::{StateError, StateView, Txn, keys};

/// The 16 bytes of a UUIDv7 given as text (alert ids and response ids share the format).
pub(crate) fn id_bytes(text: &str) -> Option<[u8; 16]> {
    AlertId::parse(text).ok().map(|id| *id.as_bytes())
}

/// The numbers and names an alert is searched by, in search form, each once.
fn search_terms(content: &proto::AlertContent) -> Vec<String> {
    let Some(consignment) = &content.consignment else {
        return Vec::new();
    };
    let mut terms: Vec<&str> = consignment.containers.iter().map(String::as_str).collect();
    if let Some(document) = &consignment.transport_document {
        terms.push(&document.number);
    }
    if let Some(conveyance) = &consignment.conveyance {
        if let Some(vessel) = &conveyance.vessel {
            terms.extend([vessel.name.as_str(), vessel.imo_number.as_str()]);
        }
        terms.extend([
            conveyance.flight_number.as_str(),
            conveyance.train_number.as_str(),
        ]);
        terms.extend(conveyance.vehicle_plates.iter().map(String::as_str));
    }
    let mut keys: Vec<String> = terms
        .into_iter()
        .map(super::search_key)
        .filter(|k| !k.is_empty())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The lifecycle state a response moves its recipient to.
fn response_state(response: &proto::AlertResponse) -> DeliveryState {
    response
        .kind
        .as_ref()
        .map_or(DeliveryState::Unspecified, state_after)
}

fn get_message<M: Message + Default>(
    txn: &mut dyn Txn,
    key: &[u8],
) -> Result<Option<M>, StateError> {
    match txn.get(key)? {
        Some(bytes) => M::decode(bytes.as_slice()).map(Some).map_err(|e| {
            StateError::Corrupt(format!(
                "record {}: {e}",
                String::from_utf8_lossy(&key[..2])
            ))
        }),
        None => Ok(None),
    }
}

fn put_message<M: Message>(txn: &mut dyn Txn, key: Vec<u8>, message: &M) {
    txn.insert(key, message.encode_to_vec());
}

impl StateView {
    /// Applies one entry at `index`.
    pub(crate) fn apply_entry(
        &self,
        index: u64,
        entry: &proto::LedgerEntry,
        txn: &mut dyn Txn,
    ) -> Result<(), StateError> {
        let recorded_at = entry.recorded_at.unwrap_or_default();
        let result = match &entry.kind {
            Some(Kind::AlertSent(sent)) => self.alert_sent(index, &recorded_at, sent, txn),
            Some(Kind::AlertReceived(received)) => {
                self.alert_received(index, &recorded_at, received, txn)
            }
            Some(Kind::ReceiptIssued(issued)) => self.receipt_issued(issued, txn),
            Some(Kind::ReceiptReceived(received)) => self.receipt_received(index, received, txn),
            Some(Kind::ResponseSent(sent)) => self.response_sent(index, sent, txn),
            Some(Kind::ResponseReceived(received)) => self.response_received(index, received, txn),
            Some(Kind::DeadlineMissed(missed)) => {
                self.deadline_missed(index, &entry.alert_id, missed, txn)
            }
            Some(Kind::CheckpointCosigned(cosigned)) if cosigned.country.is_empty() => {
                outside_witnessing(
                    txn,
                    &cosigned.log_key,
                    keys::witnessed_log,
                    &cosigned.checkpoint,
                )
            }
            Some(Kind::CheckpointCosigned(cosigned)) => witnessing(
                txn,
                &cosigned.country,
                keys::witnessed,
                cosigned.checkpoint.clone(),
            ),
            Some(Kind::CosignatureReceived(received)) if received.country.is_empty() => {
                outside_witnessing(
                    txn,
                    &received.witness_key,
                    keys::cosigned_by_witness,
                    &received.cosigned_checkpoint,
                )
            }
            Some(Kind::CosignatureReceived(received)) => {
                if let Ok(country) = CountryCode::parse(&received.country) {
                    txn.insert(
                        keys::cosigned_at(country),
                        recorded_at.seconds.to_be_bytes().to_vec(),
                    );
                }
                witnessing(
                    txn,
                    &received.country,
                    keys::cosigned,
                    received.cosigned_checkpoint.clone(),
                )
            }
            Some(Kind::EquivocationDetected(_)) => {
                txn.insert(keys::alarm(index), Vec::new());
                Ok(Skip::No)
            }
            Some(Kind::DeliveryAbandoned(abandoned)) => {
                self.delivery_abandoned(index, &recorded_at, &entry.alert_id, abandoned, txn)
            }
            Some(Kind::TokenRevoked(revoked)) => {
                super::tokens::apply_revoked(index, entry, revoked, txn)
                    .map(|skip| skip.map_or(Skip::No, Skip::Because))
            }
            _ => Ok(Skip::No),
        }?;
        if let Skip::Because(reason) = result {
            tracing::warn!(ledger.index = index, alert.id = %entry.alert_id, reason, "state skips entry");
        }
        Ok(())
    }

    fn alert_sent(
        &self,
        index: u64,
        recorded_at: &Timestamp,
        sent: &proto::AlertSent,
        txn: &mut dyn Txn,
    ) -> Result<Skip, StateError> {
        let Some(envelope) = &sent.alert else {
            return Ok(Skip::Because("no alert envelope"));
        };
        let Ok(alert) = decode_recorded::<proto::Alert>(envelope, PayloadType::Alert) else {
            return Ok(Skip::Because("alert does not decode"));
        };
        let Some(id) = id_bytes(&alert.alert_id) else {
            return Ok(Skip::Because("bad alert id"));
        };
        let content = alert.content.unwrap_or_default();
        let origin_unit = content.origin.clone().unwrap_or_default().unit;
        let deadline = self.deadline(&alert.created_at, content.priority);
        let mut stored = StoredAlert {
            ledger_index: index,
            direction: proto::Direction::Sent as i32,
            origin_unit: origin_unit.clone(),
            category: content.category,
            priority: content.priority,
            created_at: alert.created_at,
            recipients: Vec::new(),
            search_terms: search_terms(&content),
        };
        for recipient in &content.recipients {
            let Ok(country) = CountryCode::parse(&recipient.country) else {
                continue;
            };
            stored.recipients.push(proto::RecipientStatus {
                country: recipient.country.clone(),
                units: recipient.units.clone(),
                state: DeliveryState::Queued as i32,
                acknowledgement_deadline: deadline.map(to_timestamp),
                overdue: false,
                timeline: vec![proto::TimelineEvent {
                    state: DeliveryState::Queued as i32,
                    at: Some(*recorded_at),
                    actor: origin_unit.clone(),
                    ledger_index: index,
                    ..Default::default()
                }],
            });
            let item = OutboxItem {
                alert_id: alert.alert_id.clone(),
                response_id: String::new(),
                bytes: envelope.encoded_len() as u64,
            };
            queue(txn, country, index, &item);
            if let Some(due) = deadline {
                self.add_deadline(txn, due, &id, country);
            }
        }
        put_message(txn, keys::alert(&id), &stored);
        if !sent.request_id.is_empty() {
            let record = RequestRecord {
                alert_id: alert.alert_id,
                response_id: String::new(),
                ledger_index: index,
            };
            put_message(
                txn,
                keys::request(&sent.submitted_by, &sent.request_id),
                &record,
            );
        }
        Ok(Skip::No)
    }

    fn alert_received(
        &self,
        index: u64,
        recorded_at: &Timestamp,
        received: &proto::AlertReceived,
        txn: &mut dyn Txn,
    ) -> Result<Skip, StateError> {
        let Some(envelope) = &received.alert else {
            return Ok(Skip::Because("no alert envelope"));
        };
        let Ok(alert) = decode_recorded::<proto::Alert>(envelope, PayloadType::Alert) else {
            return Ok(Skip::Because("alert does not decode"));
        };
        let Some(id) = id_bytes(&alert.alert_id) else {
            return Ok(Skip::Because("bad alert id"));
        };
        let content = alert.content.unwrap_or_default();
        let own = self.country.as_str();
        let units = content
            .recipients
            .iter()
            .find(|r| r.country == own)
            .map(|r| r.units.clone())
            .unwrap_or_default();
        let deadline = self.deadline(&alert.created_at, content.priority);
        let stored = StoredAlert {
            ledger_index: index,
            direction: proto::Direction::Received as i32,
            search_terms: search_terms(&content),
            origin_unit: content.origin.unwrap_or_default().unit,
            category: content.category,
            priority: content.priority,
            created_at: alert.created_at,
            recipients: vec![proto::RecipientStatus {
                country: own.to_owned(),
                units,
                state: DeliveryState::Delivered as i32,
                acknowledgement_deadline: deadline.map(to_timestamp),
                overdue: false,
                timeline: vec![proto::TimelineEvent {
                    state: DeliveryState::Delivered as i32,
                    at: Some(*recorded_at),
                    actor: format!("node:{own}"),
                    ledger_index: index,
                    ..Default::default()
                }],
            }],
        };
        put_message(txn, keys::alert(&id), &stored);
        let record = ReceivedRecord {
            ledger_index: index,
            payload_sha256: payload_digest(envelope).to_vec(),
            from_country: received.from_country.clone(),
            receipt: None,
        };
        put_message(txn, keys::received(&id), &record);
        if let Some(due) = deadline {
            self.add_deadline(txn, due, &id, self.country);
        }
        Ok(Skip::No)
    }

    fn receipt_issued(
        &self,
        issued: &proto::ReceiptIssued,
        txn: &mut dyn Txn,
    ) -> Result<Skip, StateError> {
        let Some(envelope) = &issued.receipt else {
            return Ok(Skip::Because("no receipt envelope"));
        };
        let Ok(receipt) = decode_recorded::<proto::DeliveryReceipt>(envelope, PayloadType::Receipt)
        else {
            return Ok(Skip::Because("receipt does not decode"));
        };
        let object = if receipt.response_id.is_empty() {
            &receipt.alert_id
        } else {
            &receipt.response_id
        };
        let Some(id) = id_bytes(object) else {
            return Ok(Skip::Because("bad id in receipt"));
        };
        let key = keys::received(&id);
        let Some(mut record) = get_message::<ReceivedRecord>(txn, &key)? else {
            return Ok(Skip::Because("receipt for something never received"));
        };
        record.receipt = Some(envelope.clone());
        put_message(txn, key, &record);
        Ok(Skip::No)
    }

    fn receipt_received(
        &self,
        index: u64,
        received: &proto::ReceiptReceived,
        txn: &mut dyn Txn,
    ) -> Result<Skip, StateError> {
        let Some(envelope) = &received.receipt else {
            return Ok(Skip::Because("no receipt envelope"));
        };
        let Ok(receipt) = decode_recorded::<proto::DeliveryReceipt>(envelope, PayloadType::Receipt)
        else {
            return Ok(Skip::Because("receipt does not decode"));
        };
        let Ok(partner) = CountryCode::parse(&received.from_country) else {
            return Ok(Skip::Because("bad partner country"));
        };
        let Some(alert_id) = id_bytes(&receipt.alert_id) else {
            return Ok(Skip::Because("bad alert id"));
        };
        let alert_key = keys::alert(&alert_id);
        let Some(mut stored) = get_message::<StoredAlert>(txn, &alert_key)? else {
            return Ok(Skip::Because("receipt for an unknown alert"));
        };
        // The outbox key holds the index of the entry that queued the object: the alert's own
        // entry, or the step of its timeline that recorded the response.
        let mut queued_at = None;
        let object = if receipt.response_id.is_empty() {
            let Some(status) = recipient_mut(&mut stored, partner) else {
                return Ok(Skip::Because(
                    "receipt from a country that is not a recipient",
                ));
            };
            push_event(
                status,
                proto::TimelineEvent {
                    state: DeliveryState::Delivered as i32,
                    at: receipt.received_at,
                    actor: format!("node:{partner}"),
                    ledger_index: index,
                    receipt: Some(receipt.clone()),
                    ..Default::default()
                },
            );
            queued_at = Some(stored.ledger_index);
            alert_id
        } else {
            let Some(response_id) = id_bytes(&receipt.response_id) else {
                return Ok(Skip::Because("bad response id"));
            };
            // The origin's receipt for our response: attach it to the response's step.
            for status in &mut stored.recipients {
                for event in &mut status.timeline {
                    if event
                        .response
                        .as_ref()
                        .is_some_and(|r| r.response_id == receipt.response_id)
                    {
                        event.receipt = Some(receipt.clone());
                        queued_at = Some(event.ledger_index);
                    }
                }
            }
            response_id
        };
        put_message(txn, alert_key, &stored);
        leave_outbox(txn, partner, queued_at, Some(object));
        Ok(Skip::No)
    }

    /// A partner refused an alert or response for good: it leaves the outbox, and the recipient's
    /// timeline shows why. An alert becomes UNDELIVERABLE, and its deadline is dropped since no
    /// answer can come; a response leaves the state as it was.
    fn delivery_abandoned(
        &self,
        index: u64,
        recorded_at: &Timestamp,
        alert_id: &str,
        abandoned: &proto::DeliveryAbandoned,
        txn: &mut dyn Txn,
    ) -> Result<Skip, StateError> {
        let Ok(partner) = CountryCode::parse(&abandoned.country) else {
            return Ok(Skip::Because("bad partner country"));
        };
        let Some(id) = id_bytes(alert_id) else {
            return Ok(Skip::Because("bad alert id"));
        };
        let alert_key = keys::alert(&id);
        let Some(mut stored) = get_message::<StoredAlert>(txn, &alert_key)? else {
            return Ok(Skip::Because("abandoned delivery of an unknown alert"));
        };
        let code = tonic::Code::from(abandoned.code);
        let reason = format!("{code:?}: {}", abandoned.reason);
        let mut queued_at = None;
        let what = if abandoned.response_id.is_empty() {
            let Some(status) = recipient_mut(&mut stored, partner) else {
                return Ok(Skip::Because(
                    "abandoned delivery to a country that is not a recipient",
                ));
            };
            push_event(
                status,
                proto::TimelineEvent {
                    state: DeliveryState::Undeliverable as i32,
                    at: Some(*recorded_at),
                    actor: format!("node:{partner}"),
                    ledger_index: index,
                    reason: reason.clone(),
                    ..Default::default()
                },
            );
            let deadline = status.acknowledgement_deadline;
            status.overdue = false;
            clear_deadline(txn, deadline.as_ref(), &id, partner);
            txn.remove(keys::overdue(&id, partner));
            queued_at = Some(stored.ledger_index);
            format!("alert {alert_id}")
        } else {
            // The response's step is on this country's timeline of the received alert.
            for status in &mut stored.recipients {
                let Some(step) = status.timeline.iter().find(|e| {
                    e.response
                        .as_ref()
                        .is_some_and(|r| r.response_id == abandoned.response_id)
                }) else {
                    continue;
                };
                queued_at = Some(step.ledger_index);
                let state = status.state;
                push_event(
                    status,
                    proto::TimelineEvent {
                        state,
                        at: Some(*recorded_at),
                        actor: format!("node:{partner}"),
                        ledger_index: index,
                        reason: reason.clone(),
                        ..Default::default()
                    },
                );
                break;
            }
            format!("response {}", abandoned.response_id)
        };
        put_message(txn, alert_key, &stored);
        let object = if abandoned.response_id.is_empty() {
            Some(id)
        } else {
            id_bytes(&abandoned.response_id)
        };
        leave_outbox(txn, partner, queued_at, object);
        let key = keys::undeliverable(partner);
        let mut record = get_message::<UndeliverableRecord>(txn, &key)?.unwrap_or_default();
        record.count += 1;
        record.last_reason = format!("{what}: {reason}");
        put_message(txn, key, &record);
        Ok(Skip::No)
    }

    fn response_sent(
        &self,
        index: u64,
        sent: &proto::ResponseSent,
        txn: &mut dyn Txn,
    ) -> Result<Skip, StateError> {
        let (response, alert_id, _) = match recorded_response(sent.response.as_ref()) {
            Ok(found) => found,
            Err(why) => return Ok(Skip::Because(why)),
        };
        let Ok(origin) = CountryCode::parse(&sent.to_country) else {
            return Ok(Skip::Because("bad origin country"));
        };
        let record = RequestRecord {
            alert_id: response.alert_id.clone(),
            response_id: response.response_id.clone(),
            ledger_index: index,
        };
        self.record_response(index, &alert_id, self.country, response, txn)?;
        let item = OutboxItem {
            alert_id: record.alert_id.clone(),
            response_id: record.response_id.clone(),
            bytes: sent.response.as_ref().map_or(0, |r| r.encoded_len() as u64),
        };
        queue(txn, origin, index, &item);
        if !sent.request_id.is_empty() {
            put_message(
                txn,
                keys::request(&sent.submitted_by, &sent.request_id),
                &record,
            );
        }
        Ok(Skip::No)
    }

    fn response_received(
        &self,
        index: u64,
        received: &proto::ResponseReceived,
        txn: &mut dyn Txn,
    ) -> Result<Skip, StateError> {
        let (response, alert_id, response_id) = match recorded_response(received.response.as_ref())
        {
            Ok(found) => found,
            Err(why) => return Ok(Skip::Because(why)),
        };
        let Ok(partner) = CountryCode::parse(&received.from_country) else {
            return Ok(Skip::Because("bad partner country"));
        };
        let digest = received
            .response
            .as_ref()
            .map(payload_digest)
            .unwrap_or_default();
        let record = ReceivedRecord {
            ledger_index: index,
            payload_sha256: digest.to_vec(),
            from_country: received.from_country.clone(),
            receipt: None,
        };
        put_message(txn, keys::received(&response_id), &record);
        self.record_response(index, &alert_id, partner, response, txn)
    }

    /// Adds a response to the recipient `country`'s timeline of the alert.
    fn record_response(
        &self,
        index: u64,
        alert_id: &[u8; 16],
        country: CountryCode,
        response: proto::AlertResponse,
        txn: &mut dyn Txn,
    ) -> Result<Skip, StateError> {
        let alert_key = keys::alert(alert_id);
        let Some(mut stored) = get_message::<StoredAlert>(txn, &alert_key)? else {
            return Ok(Skip::Because("response to an unknown alert"));
        };
        let Some(status) = recipient_mut(&mut stored, country) else {
            return Ok(Skip::Because(
                "response from a country that is not a recipient",
            ));
        };
        push_event(
            status,
            proto::TimelineEvent {
                state: response_state(&response) as i32,
                at: response.created_at,
                actor: response.responder.clone().unwrap_or_default().unit,
                ledger_index: index,
                response: Some(without_attachment_content(response)),
                ..Default::default()
            },
        );
        let answered = status.state >= DeliveryState::Acknowledged as i32;
        let deadline = status.acknowledgement_deadline;
        if answered {
            status.overdue = false;
        }
        put_message(txn, alert_key, &stored);
        if answered {
            clear_deadline(txn, deadline.as_ref(), alert_id, country);
            txn.remove(keys::overdue(alert_id, country));
        }
        Ok(Skip::No)
    }

    fn deadline_missed(
        &self,
        index: u64,
        alert_id: &str,
        missed: &proto::DeadlineMissed,
        txn: &mut dyn Txn,
    ) -> Result<Skip, StateError> {
        let Some(id) = id_bytes(alert_id) else {
            return Ok(Skip::Because("bad alert id"));
        };
        let Ok(country) = CountryCode::parse(&missed.country) else {
            return Ok(Skip::Because("bad country"));
        };
        clear_deadline(txn, missed.deadline.as_ref(), &id, country);
        let alert_key = keys::alert(&id);
        let Some(mut stored) = get_message::<StoredAlert>(txn, &alert_key)? else {
            return Ok(Skip::Because("deadline of an unknown alert"));
        };
        let Some(status) = recipient_mut(&mut stored, country) else {
            return Ok(Skip::Because(
                "deadline for a country that is not a recipient",
            ));
        };
        let unanswered = status.state < DeliveryState::Acknowledged as i32;
        push_event(
            status,
            proto::TimelineEvent {
                state: status.state,
                at: missed.deadline,
                actor: String::new(),
                ledger_index: index,
                deadline_missed: true,
                ..Default::default()
            },
        );
        if unanswered {
            status.overdue = true;
            txn.insert(keys::overdue(&id, country), Vec::new());
        }
        put_message(txn, alert_key, &stored);
        Ok(Skip::No)
    }

    /// The acknowledgement deadline of an alert created at `created_at` with `priority`.
    fn deadline(&self, created_at: &Option<Timestamp>, priority: i32) -> Option<SystemTime> {
        let created = from_timestamp(created_at.as_ref()?)?;
        let priority = Priority::from_proto(proto::Priority::try_from(priority).ok()?)?;
        Some(created + self.deadlines.for_priority(priority))
    }

    fn add_deadline(
        &self,
        txn: &mut dyn Txn,
        due: SystemTime,
        alert: &[u8; 16],
        country: CountryCode,
    ) {
        txn.insert(keys::deadline(unix_ms(due), alert, country), Vec::new());
    }
}

/// Removes the pending deadline due at `due` (as recorded in the alert record or the missed-deadline
/// entry, to the millisecond of its key), and any index entry an older version kept for it.
fn clear_deadline(
    txn: &mut dyn Txn,
    due: Option<&Timestamp>,
    alert: &[u8; 16],
    country: CountryCode,
) {
    if let Some(due) = due.and_then(from_timestamp) {
        txn.remove(keys::deadline(unix_ms(due), alert, country));
    }
    txn.remove(keys::deadline_by_alert(alert, country));
}

/// Puts `item` (entry `index`) in `country`'s outbox.
fn queue(txn: &mut dyn Txn, country: CountryCode, index: u64, item: &OutboxItem) {
    put_message(txn, keys::outbox(country, index), item);
}

/// A recorded response with its alert id and response id, or why it cannot be used.
fn recorded_response(
    envelope: Option<&proto::Envelope>,
) -> Result<(proto::AlertResponse, [u8; 16], [u8; 16]), &'static str> {
    let envelope = envelope.ok_or("no response envelope")?;
    let response = decode_recorded::<proto::AlertResponse>(envelope, PayloadType::Response)
        .map_err(|_| "response does not decode")?;
    match (
        id_bytes(&response.alert_id),
        id_bytes(&response.response_id),
    ) {
        (Some(alert_id), Some(response_id)) => Ok((response, alert_id, response_id)),
        _ => Err("bad ids in response"),
    }
}

/// Keeps the latest checkpoint text of a witnessing exchange with `country`.
fn witnessing(
    txn: &mut dyn Txn,
    country: &str,
    key: fn(CountryCode) -> Vec<u8>,
    checkpoint: String,
) -> Result<Skip, StateError> {
    let Ok(country) = CountryCode::parse(country) else {
        return Ok(Skip::Because("bad country"));
    };
    txn.insert(key(country), checkpoint.into_bytes());
    Ok(Skip::No)
}

/// Records the latest checkpoint witnessed with someone outside the federation, keyed by the name in
/// its verifier key (a log's origin, a witness's name).
fn outside_witnessing(
    txn: &mut dyn Txn,
    verifier_key: &str,
    key: fn(&str) -> Vec<u8>,
    checkpoint: &str,
) -> Result<Skip, StateError> {
    let Ok(parsed) = tulpar_ledger::note::VerifierKey::parse(verifier_key) else {
        return Ok(Skip::Because("bad verifier key"));
    };
    txn.insert(key(&parsed.name), checkpoint.as_bytes().to_vec());
    Ok(Skip::No)
}

/// Outcome of applying one entry.
enum Skip {
    No,
    Because(&'static str),
}

/// Adds a step to a recipient's timeline, keeping it in time order, and recomputes the state: the
/// furthest step reached (the state values are ordered along the lifecycle), whatever order the steps
/// arrived in.
/// Takes an object out of `partner`'s outbox: the item under the index of the entry that queued it,
/// and the by-object key older versions wrote beside it.
fn leave_outbox(
    txn: &mut dyn Txn,
    partner: CountryCode,
    queued_at: Option<u64>,
    object: Option<[u8; 16]>,
) {
    if let Some(index) = queued_at {
        txn.remove(keys::outbox(partner, index));
    }
    if let Some(object) = object {
        txn.remove(keys::outbox_by_object(&object, partner));
    }
}

/// The entry of recipient country `country` in `stored`, if the alert is addressed to it.
fn recipient_mut(
    stored: &mut StoredAlert,
    country: CountryCode,
) -> Option<&mut proto::RecipientStatus> {
    stored
        .recipients
        .iter_mut()
        .find(|r| r.country == country.as_str())
}

fn push_event(status: &mut proto::RecipientStatus, event: proto::TimelineEvent) {
    status.timeline.push(event);
    status.timeline.sort_by_key(|e| {
        let at = e.at.unwrap_or_default();
        (at.seconds, at.nanos, e.ledger_index)
    });
    status.state = status
        .timeline
        .iter()
        .filter(|e| !e.deadline_missed)
        .map(|e| e.state)
        .max()
        .unwrap_or(DeliveryState::Queued as i32);
}

#[cfg(test)]
pub(super) mod tests;
