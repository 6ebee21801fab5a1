//! The client API over HTTP/1.1 and HTTP/2 as JSON: each route of `tulpar_proto::http::HTTP_ROUTES`
//! (the `google.api.http` options of the protos) is transcoded into the gRPC service's own method, on
//! the same service object, with the caller's headers as metadata and the connection's verified peer
//! as an extension. So authentication, authorization, validation and idempotency are the gRPC ones;
//! this layer only maps JSON, routes, streams and statuses.

mod request;
mod status;
mod stream;

pub(crate) use stream::{StreamItem, respond as stream_response};

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::Response;
use serde::Serialize;
use tonic::Code;
use tonic::metadata::MetadataMap;
use tulpar_core::limits::MAX_MESSAGE_BYTES;
use tulpar_core::proto::alert_service_server::AlertService;
use tulpar_core::proto::audit_service_server::AuditService;
use tulpar_proto::http::{HTTP_ROUTES, HttpRoute};

use crate::service::{alerts::Alerts, audit::Audit};
use request::{decode, gather};
use status::{json_response, refusal, status_response};

/// Where the OpenAPI document of these routes is served.
pub(crate) const OPENAPI_PATH: &str = "/v1/openapi.json";

/// The HTTP/JSON doors to the client API's services.
pub(crate) struct HttpApi {
    alerts: Arc<Alerts>,
    audit: Arc<Audit>,
}

impl HttpApi {
    /// The HTTP API over the same service objects the gRPC server serves.
    pub(crate) fn new(alerts: Arc<Alerts>, audit: Arc<Audit>) -> Self {
        Self { alerts, audit }
    }

    /// `routes` (the gRPC services) with every other request answered by this API.
    pub(crate) fn with_grpc(self: Arc<Self>, routes: tonic::service::Routes) -> axum::Router {
        routes
            .into_axum_router()
            .fallback(move |request: Request<Body>| {
                let api = self.clone();
                async move { api.handle(request).await }
            })
    }

    async fn handle(&self, request: Request<Body>) -> Response {
        let grpc = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/grpc"));
        if grpc {
            // A gRPC call of a service this listener does not serve.
            return tonic::Status::unimplemented(format!(
                "{} is not served on the client API",
                request.uri().path()
            ))
            .into_http();
        }
        let path = request.uri().path().to_owned();
        if path == OPENAPI_PATH && request.method() == Method::GET {
            let mut response = Response::new(Body::from(tulpar_proto::OPENAPI_JSON));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            return response;
        }
        let matching: Vec<(&'static HttpRoute, Vec<(&'static str, &str)>)> = HTTP_ROUTES
            .iter()
            .filter_map(|route| Some((route, route.match_path(&path)?)))
            .collect();
        let Some((route, fields)) = matching
            .iter()
            .find(|(route, _)| route.method.as_str() == request.method().as_str())
        else {
            return not_routed(&path, request.method(), &matching);
        };
        let (parts, body) = request.into_parts();
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        if declared.is_some_and(|length| length > MAX_MESSAGE_BYTES) {
            return too_large();
        }
        let Ok(body) = axum::body::to_bytes(body, MAX_MESSAGE_BYTES).await else {
            return too_large();
        };
        let object = match gather(route, fields, parts.uri.query(), &parts.headers, &body) {
            Ok(object) => object,
            Err(refused) => return *refused,
        };
        self.call(route, &parts, object).await
    }

    async fn call(
        &self,
        route: &HttpRoute,
        parts: &axum::http::request::Parts,
        mut object: serde_json::Map<String, serde_json::Value>,
    ) -> Response {
        let (alerts, audit) = (&*self.alerts, &*self.audit);
        macro_rules! unary {
            ($service:expr, $method:ident) => {
                match decode(object) {
                    Ok(message) => match $service.$method(grpc_request(parts, message)).await {
                        Ok(response) => json_ok(&response.into_inner()),
                        Err(status) => status_response(&status),
                    },
                    Err(refused) => *refused,
                }
            };
        }
        macro_rules! streaming {
            ($service:expr, $method:ident) => {
                match decode(object) {
                    Ok(message) => match $service.$method(grpc_request(parts, message)).await {
                        Ok(response) => stream::respond(&parts.headers, response.into_inner()),
                        Err(status) => status_response(&status),
                    },
                    Err(refused) => *refused,
                }
            };
        }
        match route.rpc {
            "SubmitAlert" => unary!(alerts, submit_alert),
            "GetAlert" => unary!(alerts, get_alert),
            "GetResponseAttachment" => unary!(alerts, get_response_attachment),
            "ListAlerts" => unary!(alerts, list_alerts),
            "WatchAlerts" => {
                if let Err(refused) = stream::resume_from_last_event(&parts.headers, &mut object) {
                    return *refused;
                }
                streaming!(alerts, watch_alerts)
            }
            "Acknowledge" => unary!(alerts, acknowledge),
            "RecordOutcome" => unary!(alerts, record_outcome),
            "ListOverdue" => unary!(alerts, list_overdue),
            "ListPeers" => unary!(alerts, list_peers),
            "WhoAmI" => unary!(alerts, who_am_i),
            "GetLatestCheckpoint" => unary!(audit, get_latest_checkpoint),
            "GetEntries" => unary!(audit, get_entries),
            "GetInclusionProof" => unary!(audit, get_inclusion_proof),
            "GetConsistencyProof" => unary!(audit, get_consistency_proof),
            "VerifyLedger" => streaming!(audit, verify_ledger),
            "Reconcile" => unary!(audit, reconcile),
            "GetExchangeReport" => unary!(audit, get_exchange_report),
            "ListAlarms" => unary!(audit, list_alarms),
            other => refusal(
                StatusCode::NOT_IMPLEMENTED,
                Code::Unimplemented,
                format!("{other} has a route but no HTTP binding in this node"),
            ),
        }
    }
}

/// The `key=value` pairs of a query string or form, percent- and `+`-decoded; `None` if one is not
/// UTF-8 once decoded.
pub(crate) fn form_pairs(text: &str) -> Option<Vec<(String, String)>> {
    request::pairs(text)
}

/// The gRPC request the service sees: the HTTP headers as metadata (so `authorization` is read as
/// over gRPC) and the connection's extensions (its verified peer).
fn grpc_request<M>(parts: &axum::http::request::Parts, message: M) -> tonic::Request<M> {
    tonic::Request::from_parts(
        MetadataMap::from_headers(parts.headers.clone()),
        parts.extensions.clone(),
        message,
    )
}

/// `message` in its proto3 JSON mapping, as a 200 response.
fn json_ok<M: Serialize>(message: &M) -> Response {
    match serde_json::to_value(message) {
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(error) => status_response(&tonic::Status::internal(format!(
            "the answer could not be written as JSON: {error}"
        ))),
    }
}

fn too_large() -> Response {
    refusal(
        StatusCode::PAYLOAD_TOO_LARGE,
        Code::InvalidArgument,
        format!("the body is larger than {MAX_MESSAGE_BYTES} bytes"),
    )
}

/// 405 naming the methods the path takes, or 404.
fn not_routed(
    path: &str,
    method: &Method,
    matching: &[(&HttpRoute, Vec<(&str, &str)>)],
) -> Response {
    if matching.is_empty() {
        return refusal(
            StatusCode::NOT_FOUND,
            Code::NotFound,
            format!("no route {path}; the routes are listed in {OPENAPI_PATH}"),
        );
    }
    let allowed: Vec<&str> = matching.iter().map(|(r, _)| r.method.as_str()).collect();
    let mut response = refusal(
        StatusCode::METHOD_NOT_ALLOWED,
        Code::Unimplemented,
        format!(
            "{path} does not take {method}; it takes {}",
            allowed.join(", ")
        ),
    );
    if let Ok(allow) = HeaderValue::from_str(&allowed.join(", ")) {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    response
}
