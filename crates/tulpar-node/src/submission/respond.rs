//! Acknowledgements and outcomes by this country's units, for alerts partners sent here.

use prost::Message;
use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_core::envelope::{PayloadType, decode_recorded};
use tulpar_core::ids::{RequestId, ResponseId};
use tulpar_core::proto::{
    self, DeliveryState, alert_response::Kind, ledger_entry::Kind as EntryKind,
};
use tulpar_core::response::{
    CorrectionRefused, TransitionRefused, check_correction, check_transition,
    validate_response_kind,
};
use tulpar_core::time::to_timestamp;
use tulpar_core::validation::{Violation, Violations, quote};

use super::Submission;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::{id_bytes, keys};

/// Why a response by one of this country's units was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RespondError {
    /// The request breaks rules; every violation is listed.
    #[error("{0}")]
    Invalid(Violations),
    /// The caller does not act for the unit that would answer.
    #[error("{principal} does not act for {unit}")]
    NotActingFor { principal: String, unit: UnitId },
    /// The alert was raised here: only its recipients answer it.
    #[error("alert {alert_id} was raised by {country}; only its recipients answer it")]
    OwnAlert {
        alert_id: String,
        country: CountryCode,
    },
    /// The alert names other units of this country.
    #[error("alert {alert_id} is addressed to {addressed}, not to {unit}")]
    NotAddressedTo {
        alert_id: String,
        addressed: String,
        unit: UnitId,
    },
    /// The alert's state does not allow this response now.
    #[error("alert {alert_id}: {refused}")]
    Transition {
        alert_id: String,
        refused: TransitionRefused,
    },
    /// A correction of an outcome that is not the latest, or by another unit, or one too many.
    #[error("alert {alert_id}: {refused}")]
    Correction {
        alert_id: String,
        refused: CorrectionRefused,
    },
    /// The request id was used for another request.
    #[error("{0}")]
    RequestIdReused(String),
    /// Not found, not visible, or a fault of this node (storage, signing).
    #[error(transparent)]
    Node(#[from] ApiError),
}

impl From<crate::state::StateError> for RespondError {
    fn from(error: crate::state::StateError) -> Self {
        Self::Node(error.into())
    }
}

impl From<RespondError> for ApiError {
    fn from(error: RespondError) -> Self {
        use RespondError as E;
        match error {
            E::Invalid(violations) => Self::Invalid(violations),
            E::NotActingFor { .. } => Self::PermissionDenied(error.to_string()),
            E::OwnAlert { .. }
            | E::NotAddressedTo { .. }
            | E::Transition { .. }
            | E::Correction { .. } => Self::FailedPrecondition(error.to_string()),
            E::RequestIdReused(message) => Self::AlreadyExists(message),
            E::Node(error) => error,
        }
    }
}

crate::error::status_through_api_error!(RespondError);

impl From<crate::units::SignError> for RespondError {
    fn from(error: crate::units::SignError) -> Self {
        Self::Node(error.into())
    }
}

impl From<tulpar_ledger::LedgerError> for RespondError {
    fn from(error: tulpar_ledger::LedgerError) -> Self {
        Self::Node(error.into())
    }
}

impl Submission {
    /// Records a response by `unit` to received alert `alert_id`, signed with the unit's key, and queues
    /// it for the origin country. Returns only once it is durable.
    pub(crate) async fn respond(
        &self,
        principal: &Principal,
        request_id: &str,
        alert_id: &str,
        unit: &str,
        mut kind: Kind,
    ) -> Result<proto::RespondResponse, RespondError> {
        tulpar_core::normalise::response_kind(&mut kind);
        let mut violations = Vec::new();
        let request_id = match request_id {
            "" => None,
            text => RequestId::parse(text)
                .map_err(|e| violations.push(Violation::new("request_id", e.to_string())))
                .ok(),
        };
        let id = id_bytes(alert_id);
        if id.is_none() {
            violations.push(Violation::new(
                "alert_id",
                format!("{} is not an alert id", quote(alert_id)),
            ));
        }
        let unit = match unit {
            "" => {
                // One unit needs no naming; several must say which of them answers.
                match principal.units.as_slice() {
                    [only] => Some(only.clone()),
                    _ => {
                        violations.push(Violation::new(
                            "unit",
                            "is required: name the unit that answers",
                        ));
                        None
                    }
                }
            }
            text => UnitId::parse(text)
                .map_err(|e| violations.push(Violation::new("unit", e.to_string())))
                .ok(),
        };
        if let Err(body) = validate_response_kind(&kind) {
            violations.extend(body.into_vec());
        }
        if let Some(violations) = Violations::from_vec(violations) {
            return Err(RespondError::Invalid(violations));
        }
        let (Some(id), Some(unit)) = (id, unit) else {
            return Err(ApiError::internal("checked above").into());
        };
        if !principal.acts_for(&unit) {
            return Err(RespondError::NotActingFor {
                principal: principal.to_string(),
                unit,
            });
        }
        let _request_guard = match &request_id {
            Some(r) => Some(
                self.context
                    .locks
                    .lock(keys::request(&principal.name, r.as_str()))
                    .await,
            ),
            None => None,
        };
        if let Some(r) = &request_id {
            if let Some(record) = self.context.state.request(&principal.name, r.as_str())? {
                return self.replayed_response(record.ledger_index, r, &id, &unit, &kind);
            }
        }
        // Transitions of one alert are decided one at a time.
        let _alert_guard = self.context.locks.lock(keys::alert(&id)).await;
        let stored = self.context.visible_alert(principal, &id, alert_id)?;
        if stored.direction != proto::Direction::Received as i32 {
            return Err(RespondError::OwnAlert {
                alert_id: alert_id.to_owned(),
                country: self.context.country,
            });
        }
        let status = stored
            .recipients
            .first()
            .ok_or_else(|| ApiError::internal("received alert without recipient status"))?;
        if !status.units.is_empty() && !status.units.iter().any(|u| *u == unit.as_str()) {
            return Err(RespondError::NotAddressedTo {
                alert_id: alert_id.to_owned(),
                addressed: status.units.join(", "),
                unit,
            });
        }
        let state = DeliveryState::try_from(status.state).unwrap_or(DeliveryState::Unspecified);
        check_transition(state, &kind).map_err(|refused| RespondError::Transition {
            alert_id: alert_id.to_owned(),
            refused,
        })?;
        if let Kind::Outcome(outcome) = &kind {
            check_correction(&status.timeline, unit.as_str(), outcome).map_err(|refused| {
                RespondError::Correction {
                    alert_id: alert_id.to_owned(),
                    refused,
                }
            })?;
        }
        let origin = CountryCode::parse(stored.origin_unit.get(..2).unwrap_or_default())
            .map_err(|_| ApiError::internal("stored alert has a bad origin unit"))?;
        let now = self.context.clock.now();
        let response_id = ResponseId::new_at(now);
        let response = proto::AlertResponse {
            response_id: response_id.to_string(),
            alert_id: alert_id.to_owned(),
            responder: Some(proto::Origin {
                country: self.context.country.to_string(),
                unit: unit.to_string(),
            }),
            created_at: Some(to_timestamp(now)),
            kind: Some(kind),
        };
        let envelope = self
            .units
            .sign(
                &unit,
                PayloadType::Response,
                origin.to_string(),
                response.encode_to_vec(),
            )
            .await?;
        let entry = proto::LedgerEntry {
            recorded_at: Some(to_timestamp(now)),
            alert_id: alert_id.to_owned(),
            kind: Some(EntryKind::ResponseSent(proto::ResponseSent {
                response: Some(envelope.clone()),
                to_country: origin.to_string(),
                request_id: request_id
                    .map(|r| r.as_str().to_owned())
                    .unwrap_or_default(),
                submitted_by: principal.name.clone(),
            })),
        };
        let appended = self.context.append(entry).await?;
        self.delivery.wake(&[origin]);
        tracing::info!(alert.id = alert_id, response.id = %response_id, ledger.index = appended.index, %unit, "response recorded");
        Ok(proto::RespondResponse {
            response_id: response_id.to_string(),
            ledger_index: appended.index,
            signed_response: Some(envelope),
            replayed: false,
        })
    }

    /// The answer to a retried request: the response recorded at `index`, if it is the same one
    /// (same alert, unit and body); ALREADY_EXISTS naming `request_id` otherwise.
    fn replayed_response(
        &self,
        index: u64,
        request_id: &RequestId,
        alert: &[u8; 16],
        unit: &UnitId,
        kind: &Kind,
    ) -> Result<proto::RespondResponse, RespondError> {
        let entry = self.context.entry(index)?;
        let Some(EntryKind::ResponseSent(sent)) = entry.kind else {
            return Err(RespondError::RequestIdReused(format!(
                "request_id {} was already used for another kind of request",
                quote(request_id.as_str())
            )));
        };
        let envelope = sent
            .response
            .ok_or_else(|| ApiError::internal("response entry without envelope"))?;
        let response = decode_recorded::<proto::AlertResponse>(&envelope, PayloadType::Response)
            .map_err(ApiError::internal)?;
        let same = id_bytes(&response.alert_id).as_ref() == Some(alert)
            && response
                .responder
                .as_ref()
                .is_some_and(|r| r.unit == unit.as_str())
            && response.kind.as_ref() == Some(kind);
        if !same {
            return Err(RespondError::RequestIdReused(format!(
                "request_id {} was already used for response {} with different content; \
                 a new response needs a new request_id",
                quote(request_id.as_str()),
                response.response_id
            )));
        }
        Ok(proto::RespondResponse {
            response_id: response.response_id,
            ledger_index: index,
            signed_response: Some(envelope),
            replayed: true,
        })
    }
}

#[cfg(test)]
mod tests;
