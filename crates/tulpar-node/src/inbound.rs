//! Inbound federation: what partner nodes deliver, verified (the unit's signature before anything is
//! decoded), deduplicated by id, recorded, and receipted.

use std::sync::Arc;

use prost::Message;
use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_core::envelope::{self, PayloadType, payload_digest};
use tulpar_core::proto::{self, ledger_entry::Kind};
use tulpar_core::time::{from_timestamp, to_timestamp};
use tulpar_core::validation::{Violations, quote};
use tulpar_trust::directory::Purpose;

use crate::context::Context;
use crate::error::ApiError;
use crate::revocations::OwnRevocations;
use crate::state::{ReceivedRecord, id_bytes, keys};

mod rules;

pub use rules::{CheckedAlert, DeliveryRules, OwnUnits};

/// Why a partner's delivery was refused.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiveError {
    /// The delivered object breaks rules; every violation is listed.
    #[error("{0}")]
    Invalid(Violations),
    /// No verified directory of the partner is held, so nothing of it can be verified.
    #[error("no verified directory of {0} in the trust store")]
    NoDirectory(CountryCode),
    /// The envelope's signature does not verify under any unit key of the partner.
    #[error("{payload_type} from {partner}: {source}")]
    Signature {
        /// What the envelope was taken for.
        payload_type: PayloadType,
        /// The partner whose unit keys were tried.
        partner: CountryCode,
        /// Why it does not verify.
        source: envelope::EnvelopeError,
    },
    /// The signing key is not one of the claimed unit's keys valid for this at that time.
    #[error("{0}")]
    Signer(tulpar_trust::directory::KeyRuleError),
    /// No signature by the claimed unit at all.
    #[error("not signed by {0}")]
    NotSignedBy(UnitId),
    /// A node delivered what a unit of another country signed.
    #[error(
        "{what} delivered by the {partner} node: only a unit's own node may deliver its {kind}"
    )]
    NotItsOwn {
        /// What was delivered, and by which unit.
        what: String,
        /// The partner that delivered it.
        partner: CountryCode,
        /// What kind of object it is, in the plural.
        kind: &'static str,
    },
    /// The alert does not name this country among its recipients.
    #[error("alert {alert_id} is not addressed to {country}")]
    NotAddressedHere {
        /// The alert.
        alert_id: String,
        /// This node's country.
        country: CountryCode,
    },
    /// The id was delivered before with other content (or by another partner).
    #[error("{0} was already delivered with different content; ids are never reused")]
    Reused(String),
    /// A response to an alert this country never raised.
    #[error("{country} raised no alert {alert_id}")]
    UnknownAlert {
        /// This node's country.
        country: CountryCode,
        /// The alert the response names.
        alert_id: String,
    },
    /// A response from a country the alert was not sent to.
    #[error("alert {alert_id} was not addressed to {partner}")]
    NotSentTo {
        /// The alert.
        alert_id: String,
        /// The partner that responded.
        partner: CountryCode,
    },
    /// A response from a unit the alert did not name.
    #[error("alert {alert_id} was addressed to {addressed}, not to {responder}")]
    NotARecipient {
        /// The alert.
        alert_id: String,
        /// The units it was addressed to.
        addressed: String,
        /// The unit that responded.
        responder: String,
    },
    /// A correction of an outcome that is not the latest, or by another unit, or one too many.
    #[error("alert {alert_id}: {refused}")]
    Correction {
        /// The alert.
        alert_id: String,
        /// Why the correction is refused.
        refused: tulpar_core::response::CorrectionRefused,
    },
    /// A fault of this node (storage, a task that did not finish).
    #[error(transparent)]
    Node(#[from] ApiError),
}

impl From<crate::state::StateError> for ReceiveError {
    fn from(error: crate::state::StateError) -> Self {
        Self::Node(error.into())
    }
}

impl From<ReceiveError> for ApiError {
    fn from(error: ReceiveError) -> Self {
        use ReceiveError as E;
        match error {
            E::Invalid(violations) => Self::Invalid(violations),
            E::NoDirectory(_)
            | E::Signature { .. }
            | E::Signer(_)
            | E::NotSignedBy(_)
            | E::NotItsOwn { .. }
            | E::NotSentTo { .. }
            | E::NotARecipient { .. }
            | E::Correction { .. } => Self::Refused(error.to_string()),
            E::NotAddressedHere { .. } => Self::FailedPrecondition(error.to_string()),
            E::Reused(_) => Self::AlreadyExists(error.to_string()),
            E::UnknownAlert { .. } => Self::NotFound(error.to_string()),
            E::Node(error) => error,
        }
    }
}

crate::error::status_through_api_error!(ReceiveError);

/// The directory as the node last read it (`trust.reload_interval`), not the file on every call.
impl OwnUnits for OwnRevocations {
    fn unlisted(&self, units: &[UnitId]) -> (Vec<usize>, u64) {
        self.unlisted_units(units)
    }
}

/// Receives partners' alerts and responses.
pub(crate) struct Inbound {
    context: Arc<Context>,
    /// This country's directory, to refuse alerts naming units it does not list.
    own_directory: Arc<OwnRevocations>,
    /// `federation.max_clock_skew`.
    max_clock_skew: std::time::Duration,
}

impl Inbound {
    /// Receiving into `context`.
    pub(crate) fn new(
        context: Arc<Context>,
        own_directory: Arc<OwnRevocations>,
        max_clock_skew: std::time::Duration,
    ) -> Self {
        Self {
            context,
            own_directory,
            max_clock_skew,
        }
    }
}

/// What an earlier delivery of the same id left.
enum Earlier {
    /// Recorded and receipted: the same receipt answers again.
    Receipted(proto::Envelope),
    /// Recorded at `ledger_index`, but the node stopped before recording its receipt.
    Unreceipted { ledger_index: u64 },
}

/// What a receipt is issued for.
struct ToReceipt<'a> {
    alert_id: &'a str,
    response_id: &'a str,
    envelope: &'a proto::Envelope,
    ledger_index: u64,
    checkpoint: &'a proto::Checkpoint,
}

impl Inbound {
    /// The rules a delivery is judged by, at this reading of the node's clock.
    fn rules(&self) -> DeliveryRules<'_> {
        DeliveryRules {
            country: self.context.country,
            trust: &self.context.trust,
            own_units: &*self.own_directory,
            now: self.context.clock.now(),
            max_clock_skew: self.max_clock_skew,
        }
    }

    /// Signs a receipt for `envelope`, recorded at `ledger_index`, and records that it was issued.
    async fn issue_receipt(
        &self,
        partner: CountryCode,
        alert_id: &str,
        response_id: &str,
        envelope: &proto::Envelope,
        ledger_index: u64,
        checkpoint: &proto::Checkpoint,
    ) -> Result<proto::Envelope, ApiError> {
        let receipt = ToReceipt {
            alert_id,
            response_id,
            envelope,
            ledger_index,
            checkpoint,
        };
        let mut signed = self.issue_receipts(partner, &[receipt]).await?;
        signed
            .pop()
            .ok_or_else(|| ApiError::internal("no receipt was issued"))
    }

    /// Signs a receipt for each of `receipts` and records them all as issued, in one ledger append.
    async fn issue_receipts(
        &self,
        partner: CountryCode,
        receipts: &[ToReceipt<'_>],
    ) -> Result<Vec<proto::Envelope>, ApiError> {
        let now = self.context.clock.now();
        let payloads = receipts
            .iter()
            .map(|r| {
                proto::DeliveryReceipt {
                    alert_id: r.alert_id.to_owned(),
                    response_id: r.response_id.to_owned(),
                    sender_country: partner.to_string(),
                    recipient_country: self.context.country.to_string(),
                    payload_sha256: payload_digest(r.envelope).to_vec(),
                    ledger_index: r.ledger_index,
                    checkpoint: r.checkpoint.note.clone(),
                    received_at: Some(to_timestamp(now)),
                }
                .encode_to_vec()
            })
            .collect();
        // One signature for the whole call: each receipt carries its place in the signed batch.
        let signed = envelope::sign_all(PayloadType::Receipt, payloads, &self.context.ledger_key());
        let entries = receipts
            .iter()
            .zip(&signed)
            .map(|(r, envelope)| proto::LedgerEntry {
                recorded_at: Some(to_timestamp(now)),
                alert_id: r.alert_id.to_owned(),
                kind: Some(Kind::ReceiptIssued(proto::ReceiptIssued {
                    receipt: Some(envelope.clone()),
                    to_country: partner.to_string(),
                })),
            })
            .collect();
        self.context.append_all(entries).await?;
        Ok(signed)
    }

    /// What was recorded for an earlier delivery of `id`: `None` when `id` was never delivered, a
    /// refusal when a different payload (or another partner) claims the same id.
    fn earlier_delivery(
        &self,
        partner: CountryCode,
        id: &[u8; 16],
        what: &str,
        envelope: &proto::Envelope,
    ) -> Result<Option<Earlier>, ReceiveError> {
        let Some(record) = self.context.state.received(id)? else {
            return Ok(None);
        };
        let ReceivedRecord {
            ledger_index,
            payload_sha256,
            from_country,
            receipt,
        } = record;
        if payload_sha256 != payload_digest(envelope) || from_country != partner.as_str() {
            return Err(ReceiveError::Reused(what.to_owned()));
        }
        Ok(Some(match receipt {
            Some(receipt) => Earlier::Receipted(receipt),
            // Recorded, but the node stopped before its receipt was: it is issued now.
            None => Earlier::Unreceipted { ledger_index },
        }))
    }

    /// The answer to a repeated delivery of `id`: the original receipt, or a refusal when a different
    /// payload claims the same id. `None` when `id` was never delivered.
    async fn repeated_delivery(
        &self,
        partner: CountryCode,
        id: &[u8; 16],
        alert_id: &str,
        response_id: &str,
        envelope: &proto::Envelope,
    ) -> Result<Option<proto::Envelope>, ReceiveError> {
        let what = if response_id.is_empty() {
            alert_id
        } else {
            response_id
        };
        match self.earlier_delivery(partner, id, what, envelope)? {
            None => Ok(None),
            Some(Earlier::Receipted(receipt)) => Ok(Some(receipt)),
            Some(Earlier::Unreceipted { ledger_index }) => {
                let checkpoint = self.context.latest_checkpoint();
                let receipt = self
                    .issue_receipt(
                        partner,
                        alert_id,
                        response_id,
                        envelope,
                        ledger_index,
                        &checkpoint,
                    )
                    .await?;
                Ok(Some(receipt))
            }
        }
    }

    /// [`DeliveryRules::check_alert`] for each envelope. Several are checked on a blocking thread: their
    /// signature checks are CPU work that would hold up the async workers.
    async fn check_alerts(
        self: &Arc<Self>,
        partner: CountryCode,
        envelopes: Vec<proto::Envelope>,
    ) -> Vec<Result<CheckedAlert, ReceiveError>> {
        let check = move |node: &Self, envelopes: Vec<proto::Envelope>| {
            // Alerts a unit signed together share one signature, checked once.
            let mut verifier = envelope::Verifier::default();
            let rules = node.rules();
            envelopes
                .into_iter()
                .map(|envelope| rules.check_alert(&mut verifier, partner, envelope))
                .collect::<Vec<_>>()
        };
        if envelopes.len() < 2 {
            return check(self, envelopes);
        }
        let (node, count) = (self.clone(), envelopes.len());
        self.context
            .lifecycle
            .spawn_blocking(move || check(&node, envelopes))
            .await
            .unwrap_or_else(|e| {
                let why = format!("checking delivered alerts: {e}");
                (0..count)
                    .map(|_| Err(ApiError::internal(&why).into()))
                    .collect()
            })
    }

    /// Delivers alerts from `partner`: each is checked, deduplicated by id, recorded and receipted
    /// as a single delivery would be, with one ledger append for all the new alerts and one for
    /// their receipts. Answers one result per envelope, in order.
    pub(crate) async fn deliver_alerts(
        self: &Arc<Self>,
        partner: CountryCode,
        envelopes: Vec<proto::Envelope>,
    ) -> Vec<Result<proto::Envelope, ReceiveError>> {
        let mut results: Vec<Option<Result<proto::Envelope, ReceiveError>>> =
            std::iter::repeat_with(|| None)
                .take(envelopes.len())
                .collect();
        let mut pending = Vec::with_capacity(envelopes.len());
        for (k, checked) in self
            .check_alerts(partner, envelopes)
            .await
            .into_iter()
            .enumerate()
        {
            match checked {
                Ok(checked) => pending.push((k, checked)),
                Err(error) => results[k] = Some(Err(error)),
            }
        }
        // The same id twice in one call: the later copy is handled once the first is recorded, and
        // so gets its receipt (or its refusal) as a repeated delivery.
        while !pending.is_empty() {
            let mut seen = std::collections::HashSet::new();
            let (round, later): (Vec<_>, Vec<_>) =
                pending.into_iter().partition(|(_, c)| seen.insert(c.id));
            pending = later;
            for (k, result) in self.record_alerts(partner, round).await {
                results[k] = Some(result);
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(ApiError::internal("alert left unanswered").into())))
            .collect()
    }

    /// Records checked alerts with distinct ids and issues their receipts; answers `(position,
    /// result)` for each.
    async fn record_alerts(
        &self,
        partner: CountryCode,
        mut alerts: Vec<(usize, CheckedAlert)>,
    ) -> Vec<(usize, Result<proto::Envelope, ReceiveError>)> {
        // Locks are taken in id order, so calls delivering overlapping alerts cannot deadlock.
        alerts.sort_by_key(|(_, c)| c.id);
        // A key's lock cannot be taken twice by one caller: the same id twice would hang the call.
        debug_assert!(
            alerts.windows(2).all(|pair| pair[0].1.id != pair[1].1.id),
            "one round holds distinct ids (see deliver_alerts)"
        );
        let mut guards = Vec::with_capacity(alerts.len());
        for (_, checked) in &alerts {
            guards.push(self.context.locks.lock(keys::received(&checked.id)).await);
        }
        let mut answered = Vec::with_capacity(alerts.len());
        let mut new = Vec::new();
        let mut unreceipted = Vec::new();
        for (k, checked) in alerts {
            match self.earlier_delivery(partner, &checked.id, &checked.alert_id, &checked.envelope)
            {
                Ok(None) => new.push((k, checked)),
                Ok(Some(Earlier::Receipted(receipt))) => {
                    tracing::debug!(alert.id = %checked.alert_id, peer.country = %partner, "repeated delivery");
                    answered.push((k, Ok(receipt)));
                }
                Ok(Some(Earlier::Unreceipted { ledger_index })) => {
                    unreceipted.push((k, checked, ledger_index));
                }
                Err(error) => answered.push((k, Err(error))),
            }
        }
        // Until their receipts are recorded: see crate::settle.
        let receiving = self.context.settle.receiving().await;
        let now = to_timestamp(self.context.clock.now());
        let entries = new
            .iter()
            .map(|(_, checked)| proto::LedgerEntry {
                recorded_at: Some(now),
                alert_id: checked.alert_id.clone(),
                kind: Some(Kind::AlertReceived(proto::AlertReceived {
                    alert: Some(checked.envelope.clone()),
                    from_country: partner.to_string(),
                })),
            })
            .collect();
        let appended = match self.context.append_all(entries).await {
            Ok(appended) => appended,
            Err(error) => {
                let error = ReceiveError::from(error);
                answered.extend(new.iter().map(|(k, _)| (*k, Err(error.clone()))));
                Vec::new()
            }
        };
        let recorded: Vec<_> = new.into_iter().zip(appended).collect();
        let latest = (!unreceipted.is_empty()).then(|| self.context.latest_checkpoint());
        let mut to_receipt = Vec::with_capacity(recorded.len() + unreceipted.len());
        let mut receipted = Vec::with_capacity(to_receipt.capacity());
        for ((k, checked), appended) in &recorded {
            to_receipt.push(ToReceipt {
                alert_id: &checked.alert_id,
                response_id: "",
                envelope: &checked.envelope,
                ledger_index: appended.index,
                checkpoint: &appended.checkpoint,
            });
            receipted.push((*k, &checked.alert_id, &checked.origin, Some(appended.index)));
        }
        if let Some(latest) = &latest {
            for (k, checked, ledger_index) in &unreceipted {
                to_receipt.push(ToReceipt {
                    alert_id: &checked.alert_id,
                    response_id: "",
                    envelope: &checked.envelope,
                    ledger_index: *ledger_index,
                    checkpoint: latest,
                });
                receipted.push((*k, &checked.alert_id, &checked.origin, None));
            }
        }
        let issued = self.issue_receipts(partner, &to_receipt).await;
        drop(receiving);
        match issued {
            Ok(receipts) => {
                for ((k, alert_id, origin, index), receipt) in receipted.into_iter().zip(receipts) {
                    if let Some(index) = index {
                        tracing::info!(alert.id = %alert_id, peer.country = %partner, ledger.index = index, origin = %origin, "alert received");
                    }
                    answered.push((k, Ok(receipt)));
                }
            }
            Err(error) => {
                let error = ReceiveError::from(error);
                for (k, ..) in receipted {
                    answered.push((k, Err(error.clone())));
                }
            }
        }
        drop(guards);
        answered
    }

    pub(crate) async fn deliver_response(
        &self,
        partner: CountryCode,
        envelope: proto::Envelope,
    ) -> Result<proto::Envelope, ReceiveError> {
        let rules = self.rules();
        let signed = rules.verify_unit_signed::<proto::AlertResponse>(
            &mut envelope::Verifier::default(),
            partner,
            envelope,
            PayloadType::Response,
        )?;
        let response = signed.message;
        let responder = response.responder.clone().unwrap_or_default();
        let unit = UnitId::parse(&responder.unit).map_err(|e| {
            ReceiveError::Invalid(Violations::single("responder.unit", e.to_string()))
        })?;
        if unit.country() != partner {
            return Err(ReceiveError::NotItsOwn {
                what: format!("a response by {unit}"),
                partner,
                kind: "responses",
            });
        }
        let created_at = response
            .created_at
            .as_ref()
            .and_then(from_timestamp)
            .ok_or_else(|| {
                ReceiveError::Invalid(Violations::single("created_at", "is required"))
            })?;
        rules.check_unit_signer(&unit, &signed.signers, Purpose::Response, created_at)?;
        let alert_key = id_bytes(&response.alert_id).ok_or_else(|| {
            ReceiveError::Invalid(Violations::single(
                "alert_id",
                format!("{} is not an alert id", quote(&response.alert_id)),
            ))
        })?;
        let response_key = id_bytes(&response.response_id).ok_or_else(|| {
            ReceiveError::Invalid(Violations::single(
                "response_id",
                format!("{} is not a response id", quote(&response.response_id)),
            ))
        })?;
        crate::submission::check_response_body(&response).map_err(ReceiveError::Invalid)?;
        let stored = self
            .context
            .state
            .alert(&alert_key)?
            .filter(|a| a.direction == proto::Direction::Sent as i32)
            .ok_or_else(|| ReceiveError::UnknownAlert {
                country: self.context.country,
                alert_id: response.alert_id.clone(),
            })?;
        let Some(recipient) = stored
            .recipients
            .iter()
            .find(|r| r.country == partner.as_str())
        else {
            return Err(ReceiveError::NotSentTo {
                alert_id: response.alert_id.clone(),
                partner,
            });
        };
        if !recipient.units.is_empty() && !recipient.units.iter().any(|u| *u == unit.as_str()) {
            return Err(ReceiveError::NotARecipient {
                alert_id: response.alert_id.clone(),
                addressed: format!("{} in {partner}", recipient.units.join(", ")),
                responder: unit.to_string(),
            });
        }
        let _guard = self.context.locks.lock(keys::received(&response_key)).await;
        if let Some(receipt) = self
            .repeated_delivery(
                partner,
                &response_key,
                &response.alert_id,
                &response.response_id,
                &signed.envelope,
            )
            .await?
        {
            return Ok(receipt);
        }
        // After the repeat check: a correction delivered again is itself the latest outcome by now.
        if let Some(proto::alert_response::Kind::Outcome(outcome)) = &response.kind {
            tulpar_core::response::check_correction(&recipient.timeline, unit.as_str(), outcome)
                .map_err(|refused| ReceiveError::Correction {
                    alert_id: response.alert_id.clone(),
                    refused,
                })?;
        }
        // Until its receipt is recorded: see crate::settle.
        let receiving = self.context.settle.receiving().await;
        let now = self.context.clock.now();
        let entry = proto::LedgerEntry {
            recorded_at: Some(to_timestamp(now)),
            alert_id: response.alert_id.clone(),
            kind: Some(Kind::ResponseReceived(proto::ResponseReceived {
                response: Some(signed.envelope.clone()),
                from_country: partner.to_string(),
            })),
        };
        let appended = self.context.append(entry).await?;
        let receipt = self
            .issue_receipt(
                partner,
                &response.alert_id,
                &response.response_id,
                &signed.envelope,
                appended.index,
                &appended.checkpoint,
            )
            .await?;
        drop(receiving);
        tracing::info!(
            alert.id = %response.alert_id,
            response.id = %response.response_id,
            peer.country = %partner,
            ledger.index = appended.index,
            "response received"
        );
        Ok(receipt)
    }
}

#[cfg(test)]
mod tests;
