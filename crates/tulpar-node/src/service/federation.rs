//! `FederationService`: what partner nodes deliver to this node, and what they may fetch from it.

use std::sync::Arc;

use prost::Message;
use tonic::{Request, Response, Status};
use tulpar_core::alert::validate_alert;
use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_core::envelope::{self, PayloadType, payload_digest};
use tulpar_core::keys::KeyId;
use tulpar_core::proto::{self, federation_service_server::FederationService, ledger_entry::Kind};
use tulpar_core::time::{fmt_duration, from_timestamp, to_timestamp};
use tulpar_core::validation::{Violations, quote};
use tulpar_trust::directory::Purpose;

use crate::error::ApiError;
use crate::node::Shared;
use crate::state::{ReceivedRecord, id_bytes, keys};
use crate::transport::Peer;

use tulpar_core::limits::MAX_ALERTS_PER_CALL;

/// The federation API.
pub(crate) struct Federation {
    node: Arc<Shared>,
}

impl Federation {
    /// The service over `node`.
    pub(crate) fn new(node: Arc<Shared>) -> Self {
        Self { node }
    }
}

/// The partner country of a federation request, from its verified TLS certificate.
fn peer_country<T>(request: &Request<T>) -> Result<CountryCode, ApiError> {
    request
        .extensions()
        .get::<Peer<CountryCode>>()
        .map(|peer| peer.identity)
        .ok_or_else(|| ApiError::Unauthenticated("no verified partner certificate".into()))
}

fn required<T>(field: &str, value: Option<T>) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::Invalid(Violations::single(field, "is required")))
}

/// What a partner delivered, checked to come from one of its units.
struct UnitSigned<M> {
    message: M,
    signers: Vec<KeyId>,
    envelope: proto::Envelope,
}

/// A delivered alert that passed every check that does not depend on earlier deliveries.
struct CheckedAlert {
    alert_id: String,
    id: [u8; 16],
    origin: String,
    envelope: proto::Envelope,
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

impl Shared {
    /// Verifies that `envelope` is signed by some unit key of `country` (cryptographically, before
    /// anything is decoded), then decodes it. Which unit and when is checked by the caller with
    /// [`Self::check_unit_signer`], once the message says who claims to have signed it.
    fn verify_unit_signed<M: prost::Message + Default>(
        &self,
        verifier: &mut envelope::Verifier,
        country: CountryCode,
        envelope: proto::Envelope,
        payload_type: PayloadType,
    ) -> Result<UnitSigned<M>, ApiError> {
        let directory = self.trust.directory(country).ok_or_else(|| {
            ApiError::Refused(format!(
                "no verified directory of {country} in the trust store"
            ))
        })?;
        let resolve = |id: &KeyId| {
            directory
                .units()
                .iter()
                .flat_map(|unit| &unit.keys)
                .find(|key| key.key_id == *id)
                .map(|key| key.public_key)
        };
        let verified = verifier
            .verify(&envelope, payload_type, &resolve)
            .map_err(|e| ApiError::Refused(format!("{payload_type} from {country}: {e}")))?;
        let message = verified
            .decode::<M>()
            .map_err(|e| ApiError::Invalid(Violations::single("payload", e.to_string())))?;
        Ok(UnitSigned {
            message,
            signers: verified.signers().to_vec(),
            envelope,
        })
    }

    /// Checks that one of `signers` is a key of `unit` valid for `purpose` at `at`.
    fn check_unit_signer(
        &self,
        unit: &UnitId,
        signers: &[KeyId],
        purpose: Purpose,
        at: std::time::SystemTime,
    ) -> Result<(), ApiError> {
        let mut refusal = None;
        for key_id in signers {
            match self
                .trust
                .check_unit_key(unit.country(), unit, key_id, purpose, at)
            {
                Ok(_) => return Ok(()),
                Err(error) => refusal = Some(error.to_string()),
            }
        }
        Err(ApiError::Refused(
            refusal.unwrap_or_else(|| format!("not signed by {unit}")),
        ))
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
        let now = self.clock.now();
        let payloads = receipts
            .iter()
            .map(|r| {
                proto::DeliveryReceipt {
                    alert_id: r.alert_id.to_owned(),
                    response_id: r.response_id.to_owned(),
                    sender_country: partner.to_string(),
                    recipient_country: self.country.to_string(),
                    payload_sha256: payload_digest(r.envelope).to_vec(),
                    ledger_index: r.ledger_index,
                    checkpoint: r.checkpoint.note.clone(),
                    received_at: Some(to_timestamp(now)),
                }
                .encode_to_vec()
            })
            .collect();
        // One signature for the whole call: each receipt carries its place in the signed batch.
        let signed = envelope::sign_all(PayloadType::Receipt, payloads, &self.ledger_key);
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
        self.append_all(entries).await?;
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
    ) -> Result<Option<Earlier>, ApiError> {
        let Some(record) = self.state.received(id)? else {
            return Ok(None);
        };
        let ReceivedRecord {
            ledger_index,
            payload_sha256,
            from_country,
            receipt,
        } = record;
        if payload_sha256 != payload_digest(envelope) || from_country != partner.as_str() {
            return Err(ApiError::AlreadyExists(format!(
                "{what} was already delivered with different content; ids are never reused"
            )));
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
    ) -> Result<Option<proto::Envelope>, ApiError> {
        let what = if response_id.is_empty() {
            alert_id
        } else {
            response_id
        };
        match self.earlier_delivery(partner, id, what, envelope)? {
            None => Ok(None),
            Some(Earlier::Receipted(receipt)) => Ok(Some(receipt)),
            Some(Earlier::Unreceipted { ledger_index }) => {
                let checkpoint = self.latest_checkpoint();
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

    /// Every check of a delivered alert that does not depend on what was recorded before: the unit
    /// signature (verified before anything is decoded), the content, the origin against the partner,
    /// the signing key against the origin unit, and that this country is a recipient.
    fn check_alert(
        &self,
        verifier: &mut envelope::Verifier,
        partner: CountryCode,
        envelope: proto::Envelope,
    ) -> Result<CheckedAlert, ApiError> {
        let signed = self.verify_unit_signed::<proto::Alert>(
            verifier,
            partner,
            envelope,
            PayloadType::Alert,
        )?;
        let alert = validate_alert(signed.message).map_err(ApiError::Invalid)?;
        let origin = alert.content().origin().clone();
        if origin.country() != partner {
            return Err(ApiError::Refused(format!(
                "alert {} from {origin} delivered by the {partner} node: only a unit's own node may deliver its alerts",
                alert.id()
            )));
        }
        self.check_unit_signer(&origin, &signed.signers, Purpose::Alert, alert.created_at())?;
        let Some(addressed) = alert.content().recipient(self.country) else {
            return Err(ApiError::FailedPrecondition(format!(
                "alert {} is not addressed to {}",
                alert.id(),
                self.country
            )));
        };
        self.check_created_at(alert.created_at())?;
        self.check_own_units(alert.content().recipients(), &addressed.units)?;
        Ok(CheckedAlert {
            alert_id: alert.id().to_string(),
            id: *alert.id().as_bytes(),
            origin: origin.to_string(),
            envelope: signed.envelope,
        })
    }

    /// Refuses an alert dated further in this node's future than `federation.max_clock_skew`: its
    /// deadline counts from `created_at`, so it would never be overdue.
    fn check_created_at(&self, created_at: std::time::SystemTime) -> Result<(), ApiError> {
        let skew = self.config.federation.max_clock_skew;
        let now = self.clock.now();
        match created_at.duration_since(now) {
            Ok(ahead) if ahead > skew => Err(ApiError::Invalid(Violations::single(
                "created_at",
                format!(
                    "is {} ahead of this node's clock; at most {} is allowed \
                     (federation.max_clock_skew)",
                    fmt_duration(ahead),
                    fmt_duration(skew)
                ),
            ))),
            _ => Ok(()),
        }
    }

    /// Refuses an alert naming units of this country that its own directory does not list: nobody
    /// could answer it.
    fn check_own_units(
        &self,
        recipients: &[tulpar_core::alert::RecipientSpec],
        units: &[UnitId],
    ) -> Result<(), ApiError> {
        if units.is_empty() {
            return Ok(());
        }
        // The directory as the node last read it (`trust.reload_interval`), not the file on
        // every call.
        let (unlisted, version) = self.auth.own_directory().unlisted_units(units);
        let position = recipients
            .iter()
            .position(|r| r.country == self.country)
            .unwrap_or_default();
        let unknown = unlisted
            .into_iter()
            .map(|(j, unit)| {
                (
                    format!("content.recipients[{position}].units[{j}]"),
                    format!(
                        "{unit} is not a unit in the directory of {} (version {version})",
                        self.country
                    ),
                )
            })
            .collect();
        match Violations::from_pairs(unknown) {
            Some(violations) => Err(ApiError::Invalid(violations)),
            None => Ok(()),
        }
    }

    /// [`Self::check_alert`] for each envelope. Several are checked on a blocking thread: their
    /// signature checks are CPU work that would hold up the async workers.
    async fn check_alerts(
        self: &Arc<Self>,
        partner: CountryCode,
        envelopes: Vec<proto::Envelope>,
    ) -> Vec<Result<CheckedAlert, ApiError>> {
        let check = move |node: &Self, envelopes: Vec<proto::Envelope>| {
            // Alerts a unit signed together share one signature, checked once.
            let mut verifier = envelope::Verifier::default();
            envelopes
                .into_iter()
                .map(|envelope| node.check_alert(&mut verifier, partner, envelope))
                .collect::<Vec<_>>()
        };
        if envelopes.len() < 2 {
            return check(self, envelopes);
        }
        let (node, count) = (self.clone(), envelopes.len());
        self.lifecycle
            .spawn_blocking(move || check(&node, envelopes))
            .await
            .unwrap_or_else(|e| {
                let why = format!("checking delivered alerts: {e}");
                (0..count).map(|_| Err(ApiError::internal(&why))).collect()
            })
    }

    /// Delivers alerts from `partner`: each is checked, deduplicated by id, recorded and receipted
    /// as a single delivery would be, with one ledger append for all the new alerts and one for
    /// their receipts. Answers one result per envelope, in order.
    pub(crate) async fn deliver_alerts(
        self: &Arc<Self>,
        partner: CountryCode,
        envelopes: Vec<proto::Envelope>,
    ) -> Vec<Result<proto::Envelope, ApiError>> {
        let mut results: Vec<Option<Result<proto::Envelope, ApiError>>> =
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
            .map(|r| r.unwrap_or_else(|| Err(ApiError::internal("alert left unanswered"))))
            .collect()
    }

    /// Records checked alerts with distinct ids and issues their receipts; answers `(position,
    /// result)` for each.
    async fn record_alerts(
        &self,
        partner: CountryCode,
        mut alerts: Vec<(usize, CheckedAlert)>,
    ) -> Vec<(usize, Result<proto::Envelope, ApiError>)> {
        // Locks are taken in id order, so calls delivering overlapping alerts cannot deadlock.
        alerts.sort_by_key(|(_, c)| c.id);
        let mut guards = Vec::with_capacity(alerts.len());
        for (_, checked) in &alerts {
            guards.push(self.locks.lock(keys::received(&checked.id)).await);
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
        let receiving = self.settle.receiving().await;
        let now = to_timestamp(self.clock.now());
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
        let appended = match self.append_all(entries).await {
            Ok(appended) => appended,
            Err(error) => {
                answered.extend(new.iter().map(|(k, _)| (*k, Err(error.clone()))));
                Vec::new()
            }
        };
        let recorded: Vec<_> = new.into_iter().zip(appended).collect();
        let latest = (!unreceipted.is_empty()).then(|| self.latest_checkpoint());
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
    ) -> Result<proto::Envelope, ApiError> {
        let signed = self.verify_unit_signed::<proto::AlertResponse>(
            &mut envelope::Verifier::default(),
            partner,
            envelope,
            PayloadType::Response,
        )?;
        let response = signed.message;
        let responder = response.responder.clone().unwrap_or_default();
        let unit = UnitId::parse(&responder.unit)
            .map_err(|e| ApiError::Invalid(Violations::single("responder.unit", e.to_string())))?;
        if unit.country() != partner {
            return Err(ApiError::Refused(format!(
                "a response by {unit} delivered by the {partner} node: only a unit's own node may deliver its responses"
            )));
        }
        let created_at = response
            .created_at
            .as_ref()
            .and_then(from_timestamp)
            .ok_or_else(|| ApiError::Invalid(Violations::single("created_at", "is required")))?;
        self.check_unit_signer(&unit, &signed.signers, Purpose::Response, created_at)?;
        let alert_key = id_bytes(&response.alert_id).ok_or_else(|| {
            ApiError::Invalid(Violations::single(
                "alert_id",
                format!("{} is not an alert id", quote(&response.alert_id)),
            ))
        })?;
        let response_key = id_bytes(&response.response_id).ok_or_else(|| {
            ApiError::Invalid(Violations::single(
                "response_id",
                format!("{} is not a response id", quote(&response.response_id)),
            ))
        })?;
        crate::respond::check_response_body(&response).map_err(ApiError::Invalid)?;
        let stored = self
            .state
            .alert(&alert_key)?
            .filter(|a| a.direction == proto::Direction::Sent as i32)
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "{} raised no alert {}",
                    self.country, response.alert_id
                ))
            })?;
        let Some(recipient) = stored
            .recipients
            .iter()
            .find(|r| r.country == partner.as_str())
        else {
            return Err(ApiError::Refused(format!(
                "alert {} was not addressed to {partner}",
                response.alert_id
            )));
        };
        if !recipient.units.is_empty() && !recipient.units.iter().any(|u| *u == unit.as_str()) {
            return Err(ApiError::Refused(format!(
                "alert {} was addressed to {} in {partner}, not to {unit}",
                response.alert_id,
                recipient.units.join(", ")
            )));
        }
        let _guard = self.locks.lock(keys::received(&response_key)).await;
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
        // Until its receipt is recorded: see crate::settle.
        let receiving = self.settle.receiving().await;
        let now = self.clock.now();
        let entry = proto::LedgerEntry {
            recorded_at: Some(to_timestamp(now)),
            alert_id: response.alert_id.clone(),
            kind: Some(Kind::ResponseReceived(proto::ResponseReceived {
                response: Some(signed.envelope.clone()),
                from_country: partner.to_string(),
            })),
        };
        let appended = self.append(entry).await?;
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

#[tonic::async_trait]
impl FederationService for Federation {
    async fn deliver_alert(
        &self,
        request: Request<proto::DeliverAlertRequest>,
    ) -> Result<Response<proto::DeliverAlertResponse>, Status> {
        let partner = peer_country(&request)?;
        self.node.delivery.contact(partner, self.node.clock.now());
        let envelope = required("alert", request.into_inner().alert)?;
        let result = self
            .node
            .deliver_alerts(partner, vec![envelope])
            .await
            .pop();
        match result.unwrap_or_else(|| Err(ApiError::internal("no result"))) {
            Ok(receipt) => Ok(Response::new(proto::DeliverAlertResponse {
                receipt: Some(receipt),
            })),
            Err(error) => {
                tracing::warn!(peer.country = %partner, %error, "alert delivery refused");
                Err(error.into())
            }
        }
    }

    async fn deliver_alerts(
        &self,
        request: Request<proto::DeliverAlertsRequest>,
    ) -> Result<Response<proto::DeliverAlertsResponse>, Status> {
        let partner = peer_country(&request)?;
        self.node.delivery.contact(partner, self.node.clock.now());
        let alerts = request.into_inner().alerts;
        if alerts.len() > MAX_ALERTS_PER_CALL {
            return Err(ApiError::Invalid(Violations::single(
                "alerts",
                format!(
                    "{} alerts in one call; at most {MAX_ALERTS_PER_CALL}",
                    alerts.len()
                ),
            ))
            .into());
        }
        let results = self.node.deliver_alerts(partner, alerts).await;
        let results = results
            .into_iter()
            .map(|result| proto::DeliveryResult {
                result: Some(match result {
                    Ok(receipt) => proto::delivery_result::Result::Receipt(receipt),
                    Err(error) => {
                        tracing::warn!(peer.country = %partner, %error, "alert delivery refused");
                        let status = Status::from(error);
                        proto::delivery_result::Result::Error(proto::DeliveryError {
                            code: status.code() as i32,
                            message: status.message().to_owned(),
                        })
                    }
                }),
            })
            .collect();
        Ok(Response::new(proto::DeliverAlertsResponse { results }))
    }

    async fn deliver_response(
        &self,
        request: Request<proto::DeliverResponseRequest>,
    ) -> Result<Response<proto::DeliverResponseResponse>, Status> {
        let partner = peer_country(&request)?;
        self.node.delivery.contact(partner, self.node.clock.now());
        let envelope = required("response", request.into_inner().response)?;
        match self.node.deliver_response(partner, envelope).await {
            Ok(receipt) => Ok(Response::new(proto::DeliverResponseResponse {
                receipt: Some(receipt),
            })),
            Err(error) => {
                tracing::warn!(peer.country = %partner, %error, "response delivery refused");
                Err(error.into())
            }
        }
    }

    async fn get_directory(
        &self,
        request: Request<proto::GetDirectoryRequest>,
    ) -> Result<Response<proto::GetDirectoryResponse>, Status> {
        let partner = peer_country(&request)?;
        self.node.delivery.contact(partner, self.node.clock.now());
        let known = request.into_inner().known_version;
        let (version, envelope) = self
            .node
            .auth
            .own_directory()
            .signed()
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        let directory = (version > known).then(|| envelope.as_ref().clone());
        Ok(Response::new(proto::GetDirectoryResponse { directory }))
    }

    async fn get_checkpoint(
        &self,
        request: Request<proto::GetCheckpointRequest>,
    ) -> Result<Response<proto::GetCheckpointResponse>, Status> {
        let partner = peer_country(&request)?;
        self.node.delivery.contact(partner, self.node.clock.now());
        Ok(Response::new(proto::GetCheckpointResponse {
            checkpoint: Some(self.node.latest_checkpoint()),
        }))
    }

    async fn add_checkpoint(
        &self,
        request: Request<proto::AddCheckpointRequest>,
    ) -> Result<Response<proto::AddCheckpointResponse>, Status> {
        let partner = peer_country(&request)?;
        self.node.delivery.contact(partner, self.node.clock.now());
        let cosignature = self
            .node
            .add_checkpoint(partner, request.into_inner())
            .await?;
        Ok(Response::new(proto::AddCheckpointResponse { cosignature }))
    }
}

#[cfg(test)]
mod tests;
