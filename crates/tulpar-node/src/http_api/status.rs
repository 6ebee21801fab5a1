//! Errors over HTTP: a `google.rpc.Status` in proto3 JSON, under the HTTP status Google's mapping gives
//! its code (`google/rpc/code.proto`), never an empty body or an HTML page.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The HTTP status of a gRPC code.
pub(crate) fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `status` as `google.rpc.Status` JSON, its details (BadRequest, ErrorInfo, RetryInfo) decoded.
pub(crate) fn status_json(status: &Status) -> Value {
    with_details(status, &status.get_error_details())
}

/// `status` as `google.rpc.Status` JSON with `details`, its details already decoded.
fn with_details(status: &Status, details: &ErrorDetails) -> Value {
    let mut decoded = Vec::new();
    if let Some(bad_request) = details.bad_request() {
        let violations: Vec<Value> = bad_request
            .field_violations
            .iter()
            .map(|v| json!({"field": v.field, "description": v.description}))
            .collect();
        decoded.push(json!({
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": violations,
        }));
    }
    if let Some(info) = details.error_info() {
        let metadata: Map<String, Value> = info
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        decoded.push(json!({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": info.reason,
            "domain": info.domain,
            "metadata": metadata,
        }));
    }
    if let Some(delay) = details.retry_info().and_then(|r| r.retry_delay) {
        decoded.push(json!({
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": format!("{}s", delay.as_secs()),
        }));
    }
    json!({
        "code": status.code() as i32,
        "message": status.message(),
        "details": decoded,
    })
}

/// The HTTP response for `status`: its mapped HTTP status, the Status JSON, and `Retry-After` when it
/// carries a RetryInfo.
pub(crate) fn status_response(status: &Status) -> Response {
    let details = status.get_error_details();
    let retry_after = details
        .retry_info()
        .and_then(|r| r.retry_delay)
        .map(|delay| delay.as_secs().max(1));
    let mut response = json_response(http_status(status.code()), &with_details(status, &details));
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// A refusal the HTTP layer makes itself (an unknown route, a body too large), with the gRPC code
/// its Status JSON carries.
pub(crate) fn refusal(http: StatusCode, code: Code, message: impl Into<String>) -> Response {
    let status = Status::new(code, message);
    json_response(http, &status_json(&status))
}

/// `value` as a JSON response with `status`.
pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use tulpar_core::validation::Violations;

    #[test]
    fn every_code_maps_as_google_maps_it() {
        for (code, http) in [
            (Code::InvalidArgument, 400),
            (Code::FailedPrecondition, 400),
            (Code::Unauthenticated, 401),
            (Code::PermissionDenied, 403),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::Aborted, 409),
            (Code::ResourceExhausted, 429),
            (Code::Internal, 500),
            (Code::Unavailable, 503),
            (Code::DeadlineExceeded, 504),
        ] {
            assert_eq!(http_status(code).as_u16(), http, "{code:?}");
        }
    }

    #[test]
    fn field_violations_and_retry_hints_are_decoded_into_the_json() {
        let status =
            tulpar_rpc::invalid_argument(&Violations::single("content.priority", "is required"));
        let value = status_json(&status);
        assert_eq!(value["code"], 3);
        assert_eq!(
            value["details"][0]["fieldViolations"][0]["field"],
            "content.priority"
        );
        let unavailable = crate::error::stopping(7);
        let response = status_response(&unavailable);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key(header::RETRY_AFTER));
        let value = status_json(&unavailable);
        assert_eq!(value["details"][0]["metadata"]["resume_from"], "7");
    }
}
