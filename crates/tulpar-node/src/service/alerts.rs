//! `AlertService`: what officers and customs systems do with their own node.

use std::sync::Arc;

use prost::Message;
use tonic::{Request, Response, Status};
use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_core::envelope::{PayloadType, decode_recorded};
use tulpar_core::limits::PAGE_BYTES;
use tulpar_core::proto::{
    self, alert_service_server::AlertService, ledger_entry::Kind as EntryKind,
};
use tulpar_core::time::from_timestamp;
use tulpar_core::validation::{LocalRule, Violation, Violations, quote};
use tulpar_proto::pbjson_types::Timestamp;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::node::Node;
use crate::state::{StoredAlert, id_bytes};

/// Records examined per list call at most, so a filter matching nothing cannot scan the whole store.
const MAX_SCANNED: usize = 20_000;

/// The client API's alert operations.
pub(crate) struct Alerts {
    node: Arc<Node>,
}

impl Alerts {
    /// The service over `node`.
    pub(crate) fn new(node: Arc<Node>) -> Self {
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
            .submission
            .respond(principal, request_id, alert_id, unit, kind)
            .await?;
        Ok(Response::new(response))
    }
}

fn alert_id(text: &str) -> Result<[u8; 16], ApiError> {
    id_bytes(text).ok_or_else(|| {
        ApiError::Invalid(Violations::single(
            "alert_id",
            format!(
                "{} is not an alert id (a version 7 UUID such as 0190c1a2-0000-7000-8000-000000000001)",
                quote(text)
            ),
        ))
    })
}

impl Alerts {
    /// The alert `text` names, if `principal` may see it (for the console, which has its own caller).
    pub(crate) fn get_alert_for(
        &self,
        principal: &Principal,
        text: &str,
    ) -> Result<proto::AlertRecord, ApiError> {
        let id = alert_id(text)?;
        let stored = self.node.context.visible_alert(principal, &id, text)?;
        let record = self.node.context.alert_record(&id, stored)?;
        match &record.damage {
            Some(damage) => Err(ApiError::damaged(
                Some(record.ledger_index),
                &damage.segment,
                damage.offset,
                &damage.reason,
            )),
            None => Ok(record),
        }
    }

    /// Attachment `index` of response `response_id` on visible alert `alert_text`, read whole from the
    /// ledger entry that recorded the response (the state view keeps no attachment bytes).
    pub(crate) fn response_attachment_for(
        &self,
        principal: &Principal,
        alert_text: &str,
        response_id: &str,
        index: u32,
    ) -> Result<proto::Attachment, ApiError> {
        let id = alert_id(alert_text)?;
        let stored = self
            .node
            .context
            .visible_alert(principal, &id, alert_text)?;
        let step = stored
            .recipients
            .iter()
            .flat_map(|r| &r.timeline)
            .find(|e| {
                e.response
                    .as_ref()
                    .is_some_and(|r| r.response_id == response_id)
            })
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "alert {alert_text} has no response {}",
                    quote(response_id)
                ))
            })?;
        let entry = self.node.context.entry(step.ledger_index)?;
        let envelope = match entry.kind {
            Some(EntryKind::ResponseSent(sent)) => sent.response,
            Some(EntryKind::ResponseReceived(received)) => received.response,
            _ => None,
        }
        .ok_or_else(|| ApiError::internal("a response step does not record a response"))?;
        let response = decode_recorded::<proto::AlertResponse>(&envelope, PayloadType::Response)
            .map_err(ApiError::internal)?;
        let attachments = match response.kind {
            Some(proto::alert_response::Kind::Outcome(outcome)) => outcome.attachments,
            _ => Vec::new(),
        };
        let count = attachments.len();
        attachments.into_iter().nth(index as usize).ok_or_else(|| {
            ApiError::NotFound(format!(
                "response {response_id} has {count} attachment(s); there is no index {index}"
            ))
        })
    }

    /// The alerts `principal` may see that match `request` (for the console, which has its own caller).
    pub(crate) fn list_alerts_for(
        &self,
        principal: &Principal,
        request: proto::ListAlertsRequest,
    ) -> Result<proto::ListAlertsResponse, ApiError> {
        let filter = AlertFilter::new(&request)?;
        let page_size = crate::paging::page_size(request.page_size);
        let after = match request.page_token.as_str() {
            "" => None,
            token => Some(page_token(token)?),
        };
        let mut alerts = Vec::new();
        let mut bytes = 0;
        let mut last_seen = None;
        for (scanned, item) in self
            .node
            .context
            .state
            .alerts_newest_first(after)
            .enumerate()
        {
            if alerts.len() == page_size || scanned == MAX_SCANNED {
                break;
            }
            let (id, stored) = item?;
            if self.node.context.may_see(principal, &stored) && filter.matches(&stored) {
                let record = self.node.context.alert_record(&id, stored)?;
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
            Some(id)
                if self
                    .node
                    .context
                    .state
                    .alerts_newest_first(Some(id))
                    .next()
                    .is_some() =>
            {
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
    priority: i32,
    state: i32,
    after: Option<std::time::SystemTime>,
    before: Option<std::time::SystemTime>,
    overdue_only: bool,
    /// In search form; "" for no search.
    search: String,
}

impl AlertFilter {
    fn new(request: &proto::ListAlertsRequest) -> Result<Self, ApiError> {
        let mut violations = Vec::new();
        let country = match request.country.as_str() {
            "" => None,
            text => CountryCode::parse(text)
                .map_err(|e| violations.push(Violation::new("country", e.to_string())))
                .ok(),
        };
        let unit = match request.unit.as_str() {
            "" => None,
            text => UnitId::parse(text)
                .map_err(|e| violations.push(Violation::new("unit", e.to_string())))
                .ok(),
        };
        let time = |field: &str, ts: &Option<Timestamp>, out: &mut Vec<Violation>| {
            ts.as_ref().and_then(|ts| {
                let time = from_timestamp(ts);
                if time.is_none() {
                    out.push(Violation::new(field, "is not a valid timestamp"));
                }
                time
            })
        };
        let after = time("created_after", &request.created_after, &mut violations);
        let before = time("created_before", &request.created_before, &mut violations);
        let search = crate::state::search_key(&request.search);
        if !request.search.is_empty() && !(3..=100).contains(&search.chars().count()) {
            violations.push(Violation {
                local: Some(LocalRule::new(
                    "search-length",
                    &[("min", &3), ("max", &100)],
                )),
                ..Violation::new(
                    "search",
                    "is 3 to 100 characters, not counting spaces and '-'",
                )
            });
        }
        if let Some(violations) = Violations::from_vec(violations) {
            return Err(ApiError::Invalid(violations));
        }
        Ok(Self {
            direction: request.direction,
            country,
            unit,
            category: request.category,
            priority: request.priority,
            state: request.state,
            after,
            before,
            overdue_only: request.overdue_only,
            search,
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
        if self.priority != 0 && self.priority != stored.priority {
            return false;
        }
        if self.state != 0 && !stored.recipients.iter().any(|r| r.state == self.state) {
            return false;
        }
        if self.overdue_only && !stored.recipients.iter().any(|r| r.overdue) {
            return false;
        }
        if !self.search.is_empty() && !stored.search_terms.iter().any(|t| t.contains(&self.search))
        {
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
            .submission
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
        Ok(Response::new(self.get_alert_for(&principal, &text)?))
    }

    async fn get_response_attachment(
        &self,
        request: Request<proto::GetResponseAttachmentRequest>,
    ) -> Result<Response<proto::Attachment>, Status> {
        let principal = self.node.auth.authenticate(&request)?;
        let request = request.into_inner();
        Ok(Response::new(self.response_attachment_for(
            &principal,
            &request.alert_id,
            &request.response_id,
            request.index,
        )?))
    }

    async fn list_alerts(
        &self,
        request: Request<proto::ListAlertsRequest>,
    ) -> Result<Response<proto::ListAlertsResponse>, Status> {
        let principal = self.node.auth.authenticate(&request)?;
        Ok(Response::new(
            self.list_alerts_for(&principal, request.into_inner())?,
        ))
    }

    type WatchAlertsStream = crate::watch::EventStream;

    async fn watch_alerts(
        &self,
        request: Request<proto::WatchAlertsRequest>,
    ) -> Result<Response<Self::WatchAlertsStream>, Status> {
        let caller = self.node.auth.authenticate_caller(&request)?;
        let principal = caller.principal.clone();
        let stream =
            crate::watch::watch(self.node.context.clone(), principal, request.into_inner())?;
        // A revoked caller's stream ends at the next re-check, not when it chooses to hang up.
        let stream = crate::service::guard::while_allowed(self.node.auth.clone(), caller, stream);
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
            self.node
                .deadlines
                .list_overdue(&principal, request.into_inner())?,
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
