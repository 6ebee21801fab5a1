//! The home page's alert list: filtered, live over Server-Sent Events, refreshed as a fragment.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use tulpar_console::pages::{self, AlertRow, RecipientCell};
use tulpar_core::proto;

use super::{
    BASE, Console, Form, LIST_SIZE, SignedIn, empty, failure, focal, form_fields, html, localized,
    rfc3339, see_other, session_cookie,
};
use crate::error::ApiError;

/// What the console's page hears of each event: enough to refresh its list and to signal an urgent
/// arrival, not the alert itself (the page fetches what it shows).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct PageEvent {
    ledger_index: u64,
    kind: &'static str,
    alert_id: String,
    priority: &'static str,
}

impl crate::http_api::StreamItem for PageEvent {
    fn event_id(&self) -> Option<u64> {
        Some(self.ledger_index)
    }
}

impl Console {
    pub(super) async fn home(&self, headers: &HeaderMap, query: &str) -> Response {
        let Some(signed_in) = self.signed_in(headers).await else {
            let notice = session_cookie(headers).map(|_| "?notice=session-ended");
            return see_other(&format!("{BASE}/sign-in{}", notice.unwrap_or_default()));
        };
        let m = self.catalogs.messages(&signed_in.session.language);
        let languages = self.catalogs.languages();
        let viewer = self.viewer(&signed_in);
        let query = form_fields(query);
        let filters = pages::Filters {
            query: filter_query(&query),
            direction: query.text("direction").to_owned(),
            category: query.text("category").to_owned(),
            state: query.text("state").to_owned(),
            country: query.text("country").to_owned(),
            priority: query.text("priority").to_owned(),
            search: query.text("search").to_owned(),
            overdue: query.text("overdue") == "true",
            problem: None,
            categories: self.choices.get("category").map_or(&[], Vec::as_slice),
            priorities: self.choices.get("priority").map_or(&[], Vec::as_slice),
            states: &self.states,
            countries: self.partner_codes(),
        };
        let mut view = pages::ListView {
            rows: Vec::new(),
            shown_at_most: None,
            partners: None,
            filters,
        };
        if signed_in.principal.role == tulpar_trust::tls::Role::FocalPoint {
            match focal::alarms(&self.node) {
                Ok(alarms) => view.partners = Some((focal::partner_rows(&self.node), alarms)),
                Err(error) => return failure(error),
            }
        }
        if signed_in.principal.role != tulpar_trust::tls::Role::Admin {
            match self.alert_rows(&signed_in, &query) {
                Ok((rows, more)) => (view.rows, view.shown_at_most) = (rows, more),
                Err(ApiError::Invalid(violations)) => {
                    let problems: Vec<String> = violations
                        .as_slice()
                        .iter()
                        .map(|v| format!("{}: {}", m.get("filter-search"), localized(&m, v)))
                        .collect();
                    view.filters.problem = Some(problems.join("; "));
                }
                Err(error) => return failure(error),
            }
        }
        html(
            StatusCode::OK,
            pages::alerts(&m, &viewer, &languages, &view),
        )
    }

    /// The list of the home page alone, for the page to refresh itself when an event comes.
    pub(super) async fn rows(&self, headers: &HeaderMap, query: &str) -> Response {
        let Some(signed_in) = self.signed_in(headers).await else {
            return empty(StatusCode::UNAUTHORIZED);
        };
        let m = self.catalogs.messages(&signed_in.session.language);
        match self.alert_rows(&signed_in, &form_fields(query)) {
            Ok((rows, more)) => html(
                StatusCode::OK,
                pages::alert_list(&m, &rows, more).into_string(),
            ),
            Err(error) => failure(error),
        }
    }

    /// The alerts the person may see, newest first, and how many are shown when there are more.
    pub(super) fn alert_rows(
        &self,
        signed_in: &SignedIn,
        filters: &Form,
    ) -> Result<(Vec<AlertRow>, Option<usize>), ApiError> {
        let request = proto::ListAlertsRequest {
            page_size: LIST_SIZE,
            direction: filters.code("direction", proto::Direction::from_str_name),
            category: filters.code("category", proto::ThreatCategory::from_str_name),
            state: filters.code("state", proto::DeliveryState::from_str_name),
            priority: filters.code("priority", proto::Priority::from_str_name),
            country: filters.text("country").to_owned(),
            search: filters.text("search").to_owned(),
            overdue_only: filters.text("overdue") == "true",
            ..Default::default()
        };
        let page = self.alerts.list_alerts_for(&signed_in.principal, request)?;
        let rows: Vec<AlertRow> = page.alerts.iter().map(alert_row).collect();
        let more = (!page.next_page_token.is_empty()).then_some(rows.len());
        Ok((rows, more))
    }

    /// Server-Sent Events of what the person may see, live, for as long as the session lives.
    pub(super) async fn events(&self, headers: &HeaderMap) -> Response {
        use futures_util::StreamExt;
        let Some(signed_in) = self.signed_in(headers).await else {
            return empty(StatusCode::UNAUTHORIZED);
        };
        let request = proto::WatchAlertsRequest::default();
        let events = match crate::watch::watch(
            self.node.context.clone(),
            signed_in.principal.clone(),
            request,
        ) {
            Ok(events) => events,
            Err(error) => return failure(error),
        };
        let (sessions, id) = (self.sessions.clone(), signed_in.id.clone());
        // A session that ended (sign-out, timeout, account disabled) stops its stream at the next event.
        let events = events
            .take_while(move |_| std::future::ready(sessions.is_open(&id)))
            .map(|event| event.map(page_event));
        let mut sse = HeaderMap::new();
        sse.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        crate::http_api::stream_response(&sse, events)
    }
}

/// What a query value may hold unencoded besides letters and digits: enough for code names.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'-')
    .remove(b'.');

/// The list filters of `query` as a query string again, for the list's live refresh.
fn filter_query(query: &Form) -> String {
    [
        "direction",
        "category",
        "priority",
        "state",
        "country",
        "search",
        "overdue",
    ]
    .into_iter()
    .filter(|name| !query.text(name).is_empty())
    .map(|name| {
        let value = percent_encoding::utf8_percent_encode(query.text(name), QUERY_VALUE);
        format!("{name}={value}")
    })
    .collect::<Vec<_>>()
    .join("&")
}

/// What the page hears of an event.
fn page_event(event: proto::AlertEvent) -> PageEvent {
    let priority = event
        .alert
        .as_ref()
        .and_then(|record| record.alert.as_ref())
        .and_then(|alert| alert.content.as_ref())
        .map_or("PRIORITY_UNSPECIFIED", |content| {
            content.priority().as_str_name()
        });
    PageEvent {
        ledger_index: event.ledger_index,
        kind: event.kind().as_str_name(),
        alert_id: event.alert_id,
        priority,
    }
}

/// An alert as a row of the list.
fn alert_row(record: &proto::AlertRecord) -> AlertRow {
    let alert = record.alert.clone().unwrap_or_default();
    let content = alert.content.unwrap_or_default();
    let created = rfc3339(alert.created_at);
    AlertRow {
        alert_id: record.alert_id.clone(),
        created,
        direction: proto::Direction::try_from(record.direction)
            .unwrap_or_default()
            .as_str_name(),
        priority: content.priority().as_str_name(),
        category: content.category().as_str_name(),
        origin: content.origin.unwrap_or_default().unit,
        recipients: record
            .recipients
            .iter()
            .map(|recipient| RecipientCell {
                country: recipient.country.clone(),
                state: recipient.state().as_str_name(),
                overdue: recipient.overdue,
                deadline: if matches!(
                    recipient.state(),
                    proto::DeliveryState::Queued | proto::DeliveryState::Delivered
                ) {
                    rfc3339(recipient.acknowledgement_deadline)
                } else {
                    String::new()
                },
            })
            .collect(),
        damaged_entry: record.damage.as_ref().map(|_| record.ledger_index),
    }
}
