//! Streamed answers: newline-delimited JSON by default, Server-Sent Events when the caller accepts
//! `text/event-stream`. Each event of `WatchAlerts` carries its ledger index as the SSE `id`, so a
//! browser's `Last-Event-ID` resumes exactly as `resume_from` does; an error ends the stream with its
//! Status JSON (`event: error` over SSE, an `{"error": …}` line over NDJSON).

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use serde_json::{Map, Value};
use tulpar_core::proto;

use super::request::{Refused, invalid};
use super::status::status_json;

/// An item of a streamed answer, with the SSE event id it resumes from, if any.
pub(crate) trait StreamItem: Serialize {
    /// The SSE `id:` of the item.
    fn event_id(&self) -> Option<u64>;
}

impl StreamItem for proto::AlertEvent {
    fn event_id(&self) -> Option<u64> {
        Some(self.ledger_index)
    }
}

impl StreamItem for proto::VerifyLedgerProgress {
    fn event_id(&self) -> Option<u64> {
        None
    }
}

/// `Last-Event-ID: N` asks for what follows event `N`: `resume_from = N + 1`, whatever the URL says,
/// since a browser reconnects with the URL it first used.
pub(crate) fn resume_from_last_event(
    headers: &HeaderMap,
    object: &mut Map<String, Value>,
) -> Result<(), Refused> {
    let Some(last) = headers.get("last-event-id") else {
        return Ok(());
    };
    let next = last
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .and_then(|index| index.checked_add(1))
        .ok_or_else(|| {
            invalid(
                "Last-Event-ID",
                "must be the id of an event this stream sent (a ledger index)",
            )
        })?;
    object.remove("resume_from");
    object.insert("resumeFrom".into(), Value::String(next.to_string()));
    Ok(())
}

/// The streamed response for `items`, in the format the caller accepts.
pub(crate) fn respond<T, S>(headers: &HeaderMap, items: S) -> Response
where
    T: StreamItem + Send + 'static,
    S: Stream<Item = Result<T, tonic::Status>> + Send + 'static,
{
    let sse = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    let mut response = if sse {
        let events = until_error(items).map(|item| {
            Ok::<_, std::convert::Infallible>(match item {
                Ok(item) => {
                    let event = Event::default().data(to_json(&item));
                    match item.event_id() {
                        Some(id) => event.id(id.to_string()),
                        None => event,
                    }
                }
                Err(status) => Event::default()
                    .event("error")
                    .data(status_json(&status).to_string()),
            })
        });
        Sse::new(events).into_response()
    } else {
        let lines = until_error(items).map(|item| {
            let line = match item {
                Ok(item) => to_json(&item),
                Err(status) => serde_json::json!({ "error": status_json(&status) }).to_string(),
            };
            Ok::<_, std::convert::Infallible>(Bytes::from(line + "\n"))
        });
        let mut response = Response::new(Body::from_stream(lines));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        response
    };
    // Proxies pass each event on as it comes instead of buffering the stream.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// `items` up to and including the first error.
fn until_error<T, S>(items: S) -> impl Stream<Item = Result<T, tonic::Status>>
where
    S: Stream<Item = Result<T, tonic::Status>>,
{
    items.scan(false, |ended, item| {
        if *ended {
            return std::future::ready(None);
        }
        *ended = item.is_err();
        std::future::ready(Some(item))
    })
}

fn to_json<T: Serialize>(item: &T) -> String {
    serde_json::to_string(item).unwrap_or_else(|error| {
        serde_json::json!({"error": {"code": 13, "message": error.to_string(), "details": []}})
            .to_string()
    })
}
