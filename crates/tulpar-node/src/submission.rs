//! Submission: alerts raised by this country's units, and their acknowledgements and outcomes of
//! alerts partners sent here (in `respond`), each signed with the unit's key, recorded, and queued for
//! delivery.

mod respond;

use std::sync::Arc;

use prost::Message;
use tulpar_core::alert::{ValidAlert, validate_content};
use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_core::envelope::{PayloadType, decode_recorded};
use tulpar_core::ids::{AlertId, RequestId};
use tulpar_core::proto::{self, ledger_entry::Kind};
use tulpar_core::response::validate_response_kind;
use tulpar_core::time::to_timestamp;
use tulpar_core::validation::{Violation, Violations, quote};

use crate::auth::Principal;
use crate::context::Context;
use crate::delivery::Delivery;
use crate::error::ApiError;
use crate::units::UnitKeys;

/// Why an alert was not raised.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SubmitError {
    /// The request breaks rules; every violation is listed.
    #[error("{0}")]
    Invalid(Violations),
    /// The caller does not act for the origin unit.
    #[error("content.origin.unit: {principal} does not act for {unit}")]
    NotActingFor { principal: String, unit: UnitId },
    /// The request id was used for another request.
    #[error("{0}")]
    RequestIdReused(String),
    /// A fault of this node (storage, signing).
    #[error(transparent)]
    Node(#[from] ApiError),
}

impl From<crate::state::StateError> for SubmitError {
    fn from(error: crate::state::StateError) -> Self {
        Self::Node(error.into())
    }
}

impl From<SubmitError> for ApiError {
    fn from(error: SubmitError) -> Self {
        use SubmitError as E;
        match error {
            E::Invalid(violations) => Self::Invalid(violations),
            E::NotActingFor { .. } => Self::PermissionDenied(error.to_string()),
            E::RequestIdReused(message) => Self::AlreadyExists(message),
            E::Node(error) => error,
        }
    }
}

crate::error::status_through_api_error!(SubmitError);

impl From<crate::units::SignError> for SubmitError {
    fn from(error: crate::units::SignError) -> Self {
        Self::Node(error.into())
    }
}

/// What this country's units raise and answer.
pub(crate) struct Submission {
    context: Arc<Context>,
    units: UnitKeys,
    delivery: Arc<Delivery>,
}

/// Checks a delivered response's body (the origin's side of [`Submission::respond`]).
pub(crate) fn check_response_body(response: &proto::AlertResponse) -> Result<(), Violations> {
    match &response.kind {
        Some(kind) => validate_response_kind(kind),
        None => Err(Violations::single(
            "kind",
            "an acknowledgement or an outcome is required",
        )),
    }
}

impl Submission {
    /// Signing with `units`' keys, and waking `delivery` for what is queued.
    pub(crate) fn new(context: Arc<Context>, units: UnitKeys, delivery: Arc<Delivery>) -> Self {
        Self {
            context,
            units,
            delivery,
        }
    }

    /// The units whose keys this node holds.
    pub(crate) fn units(&self) -> impl Iterator<Item = &tulpar_core::codes::UnitId> {
        self.units.units()
    }

    /// Raises an alert from `request`: validated, signed with the origin unit's key, recorded, and
    /// queued for each recipient country; a retry under the same request id replays the first result.
    pub(crate) async fn submit_alert(
        &self,
        principal: &Principal,
        request: proto::SubmitAlertRequest,
    ) -> Result<proto::SubmitAlertResponse, SubmitError> {
        let request_id = match request.request_id.as_str() {
            "" => None,
            text => match RequestId::parse(text) {
                Ok(id) => Some(id),
                // Not a retry of anything: every other violation of the request is named with it.
                Err(error) => {
                    let mut violations = vec![Violation::new("request_id", error.to_string())];
                    match request.content.map(validate_content) {
                        None => violations.push(Violation::new("content", "is required")),
                        Some(Err(content)) => {
                            violations.extend(content.prefixed("content").into_vec())
                        }
                        Some(Ok(_)) => {}
                    }
                    let violations = Violations::from_vec(violations)
                        .ok_or_else(|| ApiError::internal("no violation"))?;
                    return Err(SubmitError::Invalid(violations));
                }
            },
        };
        let mut content = request
            .content
            .ok_or_else(|| SubmitError::Invalid(Violations::single("content", "is required")))?;
        // A retry is compared, and the alert signed, in the form codes take once normalised.
        tulpar_core::normalise::alert_content(&mut content);
        // A retry of the same request waits for the first attempt and then gets its result.
        let _guard = match &request_id {
            Some(id) => Some(
                self.context
                    .locks
                    .lock(crate::state::keys::request(&principal.name, id.as_str()))
                    .await,
            ),
            None => None,
        };
        if let Some(id) = &request_id {
            if let Some(record) = self.context.state.request(&principal.name, id.as_str())? {
                if !record.response_id.is_empty() {
                    return Err(SubmitError::RequestIdReused(format!(
                        "request_id {} was already used for an acknowledgement or outcome",
                        quote(id.as_str())
                    )));
                }
                let envelope = self.context.alert_envelope(record.ledger_index)?;
                // A retry carries the same content; other content under a used id would otherwise
                // be answered with the first alert and never raised.
                let recorded = decode_recorded::<proto::Alert>(&envelope, PayloadType::Alert)
                    .map_err(ApiError::internal)?;
                if recorded.content.as_ref() != Some(&content) {
                    return Err(SubmitError::RequestIdReused(format!(
                        "request_id {} was already used for alert {} with different content; \
                         a new alert needs a new request_id",
                        quote(id.as_str()),
                        record.alert_id
                    )));
                }
                return Ok(proto::SubmitAlertResponse {
                    alert_id: record.alert_id,
                    ledger_index: record.ledger_index,
                    checkpoint: Some(self.context.latest_checkpoint()),
                    signed_alert: Some(envelope),
                    replayed: true,
                });
            }
        }
        let valid =
            validate_content(content).map_err(|v| SubmitError::Invalid(v.prefixed("content")))?;
        if !principal.acts_for(valid.origin()) {
            return Err(SubmitError::NotActingFor {
                principal: principal.to_string(),
                unit: valid.origin().clone(),
            });
        }
        let mut violations = Vec::new();
        for (i, recipient) in valid.recipients().iter().enumerate() {
            let directory = match self.context.trust.directory(recipient.country) {
                Some(directory) if recipient.country != self.context.country => directory,
                _ => {
                    violations.push((
                        format!("content.recipients[{i}].country"),
                        format!(
                            "{} is not a partner in this node's trust store",
                            recipient.country
                        ),
                    ));
                    continue;
                }
            };
            // A unit the partner's directory does not list (a typo) could never answer.
            for (j, unit) in recipient.units.iter().enumerate() {
                if !directory.units().iter().any(|u| u.unit_id == *unit) {
                    violations.push((
                        format!("content.recipients[{i}].units[{j}]"),
                        format!(
                            "{unit} is not a unit in the directory of {} (version {})",
                            recipient.country,
                            directory.version()
                        ),
                    ));
                }
            }
        }
        if let Some(violations) = Violations::from_pairs(violations) {
            return Err(SubmitError::Invalid(violations));
        }
        let now = self.context.clock.now();
        let alert = ValidAlert::new(AlertId::new_at(now), now, valid);
        let audience: Vec<&str> = alert
            .content()
            .recipients()
            .iter()
            .map(|r| r.country.as_str())
            .collect();
        let envelope = self
            .units
            .sign(
                alert.content().origin(),
                PayloadType::Alert,
                audience.join(","),
                alert.message().encode_to_vec(),
            )
            .await?;
        let entry = proto::LedgerEntry {
            recorded_at: Some(to_timestamp(now)),
            alert_id: alert.id().to_string(),
            kind: Some(Kind::AlertSent(proto::AlertSent {
                alert: Some(envelope.clone()),
                request_id: request_id
                    .map(|id| id.as_str().to_owned())
                    .unwrap_or_default(),
                submitted_by: principal.name.clone(),
            })),
        };
        let appended = self.context.append(entry).await?;
        let partners: Vec<CountryCode> = alert
            .content()
            .recipients()
            .iter()
            .map(|r| r.country)
            .collect();
        self.delivery.wake(&partners);
        tracing::info!(
            alert.id = %alert.id(),
            ledger.index = appended.index,
            origin = %alert.content().origin(),
            by = %principal,
            "alert submitted"
        );
        Ok(proto::SubmitAlertResponse {
            alert_id: alert.id().to_string(),
            ledger_index: appended.index,
            checkpoint: Some(appended.checkpoint),
            signed_alert: Some(envelope),
            replayed: false,
        })
    }
}

#[cfg(test)]
mod tests;
