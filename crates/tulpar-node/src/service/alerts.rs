//! `AlertService`: what officers and customs systems do with their own node.

use std::sync::Arc;

use prost::Message;
use tonic::{Request, Response, Status};
use tulpar_core::alert::{ValidAlert, validate_content};
use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_core::envelope::{PayloadType, decode_recorded};
use tulpar_core::ids::{AlertId, RequestId};
use tulpar_core::limits::PAGE_BYTES;
use tulpar_core::proto::{self, alert_service_server::AlertService, ledger_entry::Kind};
use tulpar_core::time::{from_timestamp, to_timestamp};
use tulpar_core::validation::{Violations, quote, shorten};
use tulpar_proto::pbjson_types::Timestamp;

use crate::auth::{AlertSide, Principal};
use crate::error::ApiError;
use crate::node::Shared;
use crate::state::{StoredAlert, id_bytes};

/// Default and largest page sizes of list calls.
const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 500;

/// The page size a list call asked for, defaulted and capped.
pub(crate) fn page_size(requested: u32) -> usize {
    match requested as usize {
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    }
}
/// Records examined per list call at most, so a filter matching nothing cannot scan the whole store.
const MAX_SCANNED: usize = 20_000;

/// The client API's alert operations.
pub(crate) struct Alerts {
    node: Arc<Shared>,
}

impl Alerts {
    /// The service over `node`.
    pub(crate) fn new(node: Arc<Shared>) -> Self {
        Self { node }
    }
}

impl Alerts {
    async fn respond(
        &self,
        principal: &Principal,
        request_id: &str,
        alert_id: &str,
        unit: &str,
        kind: proto::alert_response::Kind,
    ) -> Result<Response<proto::RespondResponse>, Status> {
        let response = self
            .node
            .respond(principal, request_id, alert_id, unit, kind)
            .await?;
        Ok(Response::new(response))
    }
}

/// Parses an optional client request id.
fn request_id(text: &str) -> Result<Option<RequestId>, ApiError> {
    if text.is_empty() {
        return Ok(None);
    }
    RequestId::parse(text)
        .map(Some)
        .map_err(|e| ApiError::Invalid(Violations::single("request_id", e.to_string())))
}

fn alert_id(text: &str) -> Result<[u8; 16], ApiError> {
    id_bytes(text).ok_or_else(|| {
        ApiError::Invalid(Violations::single(
            "alert_id",
            format!(
                "{} is not an alert id (a UUID such as 0190c1a2-…)",
                quote(text)
            ),
        ))
    })
}

impl Shared {
    /// The signed alert an `AlertSent`/`AlertReceived` entry at `index` holds.
    pub(crate) fn alert_envelope(&self, index: u64) -> Result<proto::Envelope, ApiError> {
        let entry = self.entry(index)?;
        match entry.kind {
            Some(Kind::AlertSent(sent)) => sent.alert,
            Some(Kind::AlertReceived(received)) => received.alert,
            _ => None,
        }
        .ok_or_else(|| ApiError::internal(format!("ledger entry {index} holds no alert")))
    }

    /// How an alert relates to this node, for visibility checks.
    pub(crate) fn side_of<'a>(
        &self,
        stored: &StoredAlert,
        origin: &'a mut Option<UnitId>,
        recipient: &'a mut Option<tulpar_core::alert::RecipientSpec>,
    ) -> Option<AlertSide<'a>> {
        if stored.direction == proto::Direction::Sent as i32 {
            *origin = UnitId::parse(&stored.origin_unit).ok();
            origin.as_ref().map(|origin| AlertSide::Sent { origin })
        } else {
            let own = stored.recipients.first()?;
            let units = own
                .units
                .iter()
                .filter_map(|u| UnitId::parse(u).ok())
                .collect();
            *recipient = Some(tulpar_core::alert::RecipientSpec {
                country: self.country,
                units,
            });
            recipient
                .as_ref()
                .map(|recipient| AlertSide::Received { recipient })
        }
    }

    /// Whether `principal` may see the alert `stored`.
    pub(crate) fn may_see(&self, principal: &Principal, stored: &StoredAlert) -> bool {
        let (mut origin, mut recipient) = (None, None);
        self.side_of(stored, &mut origin, &mut recipient)
            .is_some_and(|side| principal.may_see(side))
    }

    /// The full record of an alert: body, signature, lifecycle.
    pub(crate) fn alert_record(&self, stored: StoredAlert) -> Result<proto::AlertRecord, ApiError> {
        let envelope = self.alert_envelope(stored.ledger_index)?;
        let alert = decode_recorded::<proto::Alert>(&envelope, PayloadType::Alert)
            .map_err(ApiError::internal)?;
        Ok(proto::AlertRecord {
            alert: Some(alert),
            signed_alert: Some(envelope),
            direction: stored.direction,
            ledger_index: stored.ledger_index,
            recipients: stored.recipients,
        })
    }

    /// The record of alert `id` if `principal` may see it; NOT_FOUND otherwise, so that ids of alerts
    /// the caller may not see are not revealed either.
    pub(crate) fn visible_alert(
        &self,
        principal: &Principal,
        id: &[u8; 16],
        text: &str,
    ) -> Result<StoredAlert, ApiError> {
        match self.state.alert(id)? {
            Some(stored) if self.may_see(principal, &stored) => Ok(stored),
            _ => Err(ApiError::NotFound(format!(
                "alert {} not found",
                shorten(text)
            ))),
        }
    }

    pub(crate) async fn submit_alert(
        &self,
        principal: &Principal,
        request: proto::SubmitAlertRequest,
    ) -> Result<proto::SubmitAlertResponse, ApiError> {
        let request_id = request_id(&request.request_id)?;
        let content = request
            .content
            .ok_or_else(|| ApiError::Invalid(Violations::single("content", "is required")))?;
        // A retry of the same request waits for the first attempt and then gets its result.
        let _guard = match &request_id {
            Some(id) => Some(
                self.locks
                    .lock(crate::state::keys::request(&principal.name, id.as_str()))
                    .await,
            ),
            None => None,
        };
        if let Some(id) = &request_id {
            if let Some(record) = self.state.request(&principal.name, id.as_str())? {
                if !record.response_id.is_empty() {
                    return Err(ApiError::AlreadyExists(
                        "this request_id was already used for an acknowledgement or outcome".into(),
                    ));
                }
                let envelope = self.alert_envelope(record.ledger_index)?;
                // A retry carries the same content; other content under a used id would otherwise
                // be answered with the first alert and never raised.
                let recorded = decode_recorded::<proto::Alert>(&envelope, PayloadType::Alert)
                    .map_err(ApiError::internal)?;
                if recorded.content.as_ref() != Some(&content) {
                    return Err(ApiError::AlreadyExists(format!(
                        "request_id {} was already used for alert {} with different content; \
                         a new alert needs a new request_id",
                        quote(id.as_str()),
                        record.alert_id
                    )));
                }
                return Ok(proto::SubmitAlertResponse {
                    alert_id: record.alert_id,
                    ledger_index: record.ledger_index,
                    checkpoint: Some(self.latest_checkpoint()),
                    signed_alert: Some(envelope),
                    replayed: true,
                });
            }
        }
        let valid =
            validate_content(content).map_err(|v| ApiError::Invalid(v.prefixed("content")))?;
        if !principal.acts_for(valid.origin()) {
            return Err(ApiError::PermissionDenied(format!(
                "content.origin.unit: {principal} does not act for {}",
                valid.origin()
            )));
        }
        let mut violations = Vec::new();
        for (i, recipient) in valid.recipients().iter().enumerate() {
            let directory = match self.trust.directory(recipient.country) {
                Some(directory) if recipient.country != self.country => directory,
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
            return Err(ApiError::Invalid(violations));
        }
        let now = self.clock.now();
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
        let appended = self.append(entry).await?;
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

    fn list_alerts(
        &self,
        principal: &Principal,
        request: proto::ListAlertsRequest,
    ) -> Result<proto::ListAlertsResponse, ApiError> {
        let filter = AlertFilter::new(&request)?;
        let page_size = page_size(request.page_size);
        let after = match request.page_token.as_str() {
            "" => None,
            token => Some(page_token(token)?),
        };
        let mut alerts = Vec::new();
        let mut bytes = 0;
        let mut last_seen = None;
        for (scanned, item) in self.state.alerts_newest_first(after).enumerate() {
            if alerts.len() == page_size || scanned == MAX_SCANNED {
                break;
            }
            let (id, stored) = item?;
            if self.may_see(principal, &stored) && filter.matches(&stored) {
                let record = self.alert_record(stored)?;
                // The page stays under PAGE_BYTES (so under the message limit); a record that would
                // pass it starts the next page, unless the page is empty.
                let size = record.encoded_len();
                if !alerts.is_empty() && bytes + size > PAGE_BYTES {
                    break;
                }
                bytes += size;
                alerts.push(record);
            }
            last_seen = Some(id);
        }
        // A next page exists if anything older than the last record examined remains.
        let next_page_token = match last_seen {
            Some(id) if self.state.alerts_newest_first(Some(id)).next().is_some() => {
                hex::encode(id)
            }
            _ => String::new(),
        };
        Ok(proto::ListAlertsResponse {
            alerts,
            next_page_token,
        })
    }
}

fn page_token(token: &str) -> Result<[u8; 16], ApiError> {
    let mut id = [0u8; 16];
    hex::decode_to_slice(token, &mut id).map_err(|_| {
        ApiError::Invalid(Violations::single(
            "page_token",
            "is not a token returned as next_page_token by this node",
        ))
    })?;
    Ok(id)
}

/// The filters of a `ListAlertsRequest`, checked.
struct AlertFilter {
    direction: i32,
    country: Option<CountryCode>,
    unit: Option<UnitId>,
    category: i32,
    state: i32,
    after: Option<std::time::SystemTime>,
    before: Option<std::time::SystemTime>,
    overdue_only: bool,
}

impl AlertFilter {
    fn new(request: &proto::ListAlertsRequest) -> Result<Self, ApiError> {
        let mut violations = Vec::new();
        let country = match request.country.as_str() {
            "" => None,
            text => CountryCode::parse(text)
                .map_err(|e| violations.push(("country".to_owned(), e.to_string())))
                .ok(),
        };
        let unit = match request.unit.as_str() {
            "" => None,
            text => UnitId::parse(text)
                .map_err(|e| violations.push(("unit".to_owned(), e.to_string())))
                .ok(),
        };
        let time = |field: &str, ts: &Option<Timestamp>, out: &mut Vec<(String, String)>| {
            ts.as_ref().and_then(|ts| {
                let time = from_timestamp(ts);
                if time.is_none() {
                    out.push((field.to_owned(), "is not a valid timestamp".to_owned()));
                }
                time
            })
        };
        let after = time("created_after", &request.created_after, &mut violations);
        let before = time("created_before", &request.created_before, &mut violations);
        if let Some(violations) = Violations::from_pairs(violations) {
            return Err(ApiError::Invalid(violations));
        }
        Ok(Self {
            direction: request.direction,
            country,
            unit,
            category: request.category,
            state: request.state,
            after,
            before,
            overdue_only: request.overdue_only,
        })
    }

    fn matches(&self, stored: &StoredAlert) -> bool {
        let sent = stored.direction == proto::Direction::Sent as i32;
        if self.direction != 0 && self.direction != stored.direction {
            return false;
        }
        if let Some(country) = self.country {
            let partner = if sent {
                stored
                    .recipients
                    .iter()
                    .any(|r| r.country == country.as_str())
            } else {
                stored.origin_unit.starts_with(country.as_str())
            };
            if !partner {
                return false;
            }
        }
        if let Some(unit) = &self.unit {
            let involved = stored.origin_unit == unit.as_str()
                || stored
                    .recipients
                    .iter()
                    .any(|r| r.units.iter().any(|u| u == unit.as_str()));
            if !involved {
                return false;
            }
        }
        if self.category != 0 && self.category != stored.category {
            return false;
        }
        if self.state != 0 && !stored.recipients.iter().any(|r| r.state == self.state) {
            return false;
        }
        if self.overdue_only && !stored.recipients.iter().any(|r| r.overdue) {
            return false;
        }
        let created = stored.created_at.as_ref().and_then(from_timestamp);
        if let (Some(after), Some(created)) = (self.after, created) {
            if created < after {
                return false;
            }
        }
        if let (Some(before), Some(created)) = (self.before, created) {
            if created >= before {
                return false;
            }
        }
        true
    }
}

#[tonic::async_trait]
impl AlertService for Alerts {
    async fn submit_alert(
        &self,
        request: Request<proto::SubmitAlertRequest>,
    ) -> Result<Response<proto::SubmitAlertResponse>, Status> {
        let principal = self.node.auth.authenticate(&request)?;
        let response = self
            .node
            .submit_alert(&principal, request.into_inner())
            .await?;
        Ok(Response::new(response))
    }

    async fn get_alert(
        &self,
        request: Request<proto::GetAlertRequest>,
    ) -> Result<Response<proto::AlertRecord>, Status> {
        let principal = self.node.auth.authenticate(&request)?;
        let text = request.into_inner().alert_id;
        let id = alert_id(&text)?;
        let stored = self.node.visible_alert(&principal, &id, &text)?;
        Ok(Response::new(self.node.alert_record(stored)?))
    }

    async fn list_alerts(
        &self,
        request: Request<proto::ListAlertsRequest>,
    ) -> Result<Response<proto::ListAlertsResponse>, Status> {
        let principal = self.node.auth.authenticate(&request)?;
        Ok(Response::new(
            self.node.list_alerts(&principal, request.into_inner())?,
        ))
    }

    type WatchAlertsStream = crate::watch::EventStream;

    async fn watch_alerts(
        &self,
        request: Request<proto::WatchAlertsRequest>,
    ) -> Result<Response<Self::WatchAlertsStream>, Status> {
        let caller = self.node.auth.authenticate_caller(&request)?;
        let principal = caller.principal.clone();
        let stream = crate::watch::watch(self.node.clone(), principal, request.into_inner())?;
        // A revoked caller's stream ends at the next re-check, not when it chooses to hang up.
        let stream = crate::service::guard::while_allowed(self.node.clone(), caller, stream);
        Ok(Response::new(stream))
    }

    async fn acknowledge(
        &self,
        request: Request<proto::AcknowledgeRequest>,
    ) -> Result<Response<proto::RespondResponse>, Status> {
        let principal = self.node.auth.authenticate(&request)?;
        let request = request.into_inner();
        let kind = proto::alert_response::Kind::Acknowledgement(
            request.acknowledgement.unwrap_or_default(),
        );
        self.respond(
            &principal,
            &request.request_id,
            &request.alert_id,
            &request.unit,
            kind,
        )
        .await
    }

    async fn record_outcome(
        &self,
        request: Request<proto::RecordOutcomeRequest>,
    ) -> Result<Response<proto::RespondResponse>, Status> {
        let principal = self.node.auth.authenticate(&request)?;
        let request = request.into_inner();
        let kind = proto::alert_response::Kind::Outcome(request.outcome.unwrap_or_default());
        self.respond(
            &principal,
            &request.request_id,
            &request.alert_id,
            &request.unit,
            kind,
        )
        .await
    }

    async fn list_overdue(
        &self,
        request: Request<proto::ListOverdueRequest>,
    ) -> Result<Response<proto::ListOverdueResponse>, Status> {
        let principal = self.node.auth.authenticate(&request)?;
        Ok(Response::new(
            self.node.list_overdue(&principal, request.into_inner())?,
        ))
    }

    async fn list_peers(
        &self,
        request: Request<proto::ListPeersRequest>,
    ) -> Result<Response<proto::ListPeersResponse>, Status> {
        self.node.auth.authenticate(&request)?;
        Ok(Response::new(proto::ListPeersResponse {
            peers: self.node.peer_statuses(),
        }))
    }

    async fn who_am_i(
        &self,
        request: Request<proto::WhoAmIRequest>,
    ) -> Result<Response<proto::WhoAmIResponse>, Status> {
        let principal = self.node.auth.authenticate(&request)?;
        Ok(Response::new(proto::WhoAmIResponse {
            role: principal.role.as_str().to_owned(),
            country: principal.country.to_string(),
            units: principal.units.iter().map(ToString::to_string).collect(),
            principal: principal.name,
        }))
    }
}
