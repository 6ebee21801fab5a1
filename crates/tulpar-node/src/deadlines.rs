//! Acknowledgement deadlines: a ticker records each missed deadline in the ledger (so both the overdue
//! list and the watch stream derive from it), and `ListOverdue` reads the resulting view.

use std::sync::Arc;

use tulpar_core::proto::{self, ledger_entry::Kind};
use tulpar_core::time::to_timestamp;
use tulpar_core::validation::Violations;

use crate::auth::Principal;
use crate::context::Context;
use crate::error::ApiError;

/// Acknowledgement deadlines: recording those missed, and listing what is overdue.
pub(crate) struct Deadlines {
    context: Arc<Context>,
}

impl Deadlines {
    /// Deadlines of the alerts in `context`.
    pub(crate) fn new(context: Arc<Context>) -> Self {
        Self { context }
    }

    /// Records every deadline that has passed by the clock's now; returns how many.
    pub(crate) async fn record_missed_deadlines(&self) -> Result<usize, ApiError> {
        let now = self.context.clock.now();
        let due = self.context.state.due_deadlines(now)?;
        for (deadline, alert, country) in &due {
            let alert_id = tulpar_core::ids::AlertId::from_bytes(*alert)
                .map(|id| id.to_string())
                .ok_or_else(|| ApiError::internal("deadline of a malformed alert id"))?;
            let entry = proto::LedgerEntry {
                recorded_at: Some(to_timestamp(now)),
                alert_id: alert_id.clone(),
                kind: Some(Kind::DeadlineMissed(proto::DeadlineMissed {
                    country: country.to_string(),
                    deadline: Some(to_timestamp(*deadline)),
                })),
            };
            let appended = self.context.append(entry).await?;
            tracing::warn!(alert.id = %alert_id, recipient = %country, ledger.index = appended.index, "acknowledgement overdue");
        }
        Ok(due.len())
    }

    /// Overdue alerts the caller may see, in alert id order.
    pub(crate) fn list_overdue(
        &self,
        principal: &Principal,
        request: proto::ListOverdueRequest,
    ) -> Result<proto::ListOverdueResponse, ApiError> {
        let page_size = crate::paging::page_size(request.page_size);
        let after = match request.page_token.as_str() {
            "" => None,
            token => Some(
                hex::decode(token)
                    .ok()
                    .filter(|b| b.len() == 18)
                    .ok_or_else(|| {
                        ApiError::Invalid(Violations::single(
                            "page_token",
                            "is not a token returned as next_page_token by this node",
                        ))
                    })?,
            ),
        };
        let mut overdue = Vec::new();
        let mut bytes = 0;
        let mut next_page_token = String::new();
        let mut last_position = Vec::new();
        for (alert, country) in self.context.state.overdue()? {
            let mut position = alert.to_vec();
            position.extend_from_slice(country.as_str().as_bytes());
            if after.as_ref().is_some_and(|after| position <= *after) {
                continue;
            }
            let Some(stored) = self.context.state.alert(&alert)? else {
                continue;
            };
            if request.direction != 0 && request.direction != stored.direction {
                continue;
            }
            if !self.context.may_see(principal, &stored) {
                continue;
            }
            // A further visible item means another page, which starts after the last one listed here.
            if overdue.len() == page_size {
                next_page_token = hex::encode(&last_position);
                break;
            }
            let deadline = stored
                .recipients
                .iter()
                .find(|r| r.country == country.as_str())
                .and_then(|r| r.acknowledgement_deadline);
            let item = proto::OverdueAlert {
                alert: Some(self.context.alert_record(&alert, stored)?),
                country: country.to_string(),
                deadline,
            };
            // So is an item that would take the page past PAGE_BYTES (a page holds at least one).
            let size = prost::Message::encoded_len(&item);
            if !overdue.is_empty() && bytes + size > tulpar_core::limits::PAGE_BYTES {
                next_page_token = hex::encode(&last_position);
                break;
            }
            bytes += size;
            overdue.push(item);
            last_position = position;
        }
        Ok(proto::ListOverdueResponse {
            overdue,
            next_page_token,
        })
    }
}

/// Records missed deadlines at start (those that passed while the node was down) and then every
/// `deadlines.check_interval`, until the node stops.
pub(crate) fn start_ticker(deadlines: &Arc<Deadlines>, interval: std::time::Duration) {
    let node = deadlines.clone();
    deadlines
        .context
        .lifecycle
        .now_and_every(interval, move || {
            let node = node.clone();
            async move {
                if let Err(error) = node.record_missed_deadlines().await {
                    tracing::error!(%error, "recording missed deadlines failed");
                }
            }
        });
}
