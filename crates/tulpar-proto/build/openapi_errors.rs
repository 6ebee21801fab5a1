//! The error side of the OpenAPI document: `google.rpc.Status` with the details the node sends,
//! and one response per HTTP status the gRPC codes map to.

use serde_json::{Value, json};

use crate::openapi::{SCHEMAS, STATUS};

/// `google.rpc.Status`, the details the node sends in it, and the last line of a failed stream.
pub(crate) fn error_schemas() -> Vec<(String, Value)> {
    let any_detail = |name: &str| -> Value {
        json!({"type": "string", "const": format!("type.googleapis.com/{name}"),
               "description": "The detail's type."})
    };
    vec![
        (
            STATUS.to_owned(),
            json!({
                "type": "object",
                "description": "An error, in the proto3 JSON mapping of `google.rpc.Status` \
                    (googleapis `google/rpc/status.proto`).",
                "required": ["code"],
                "properties": {
                    "code": {
                        "type": "integer",
                        "format": "int32",
                        "description": "The gRPC status code (`google.rpc.Code`), not the HTTP \
                            status: 3 INVALID_ARGUMENT, 5 NOT_FOUND, 6 ALREADY_EXISTS, 7 \
                            PERMISSION_DENIED, 8 RESOURCE_EXHAUSTED, 9 FAILED_PRECONDITION, 10 \
                            ABORTED, 11 OUT_OF_RANGE, 13 INTERNAL, 14 UNAVAILABLE, 16 UNAUTHENTICATED.",
                    },
                    "message": {
                        "type": "string",
                        "description": "What went wrong, in English, for people and logs.",
                    },
                    "details": {
                        "type": "array",
                        "description": "Machine-readable details, each with its `@type`.",
                        "items": {"anyOf": [
                            {"$ref": format!("{SCHEMAS}google.rpc.BadRequest")},
                            {"$ref": format!("{SCHEMAS}google.rpc.ErrorInfo")},
                            {"$ref": format!("{SCHEMAS}google.rpc.RetryInfo")},
                            {"$ref": format!("{SCHEMAS}google.protobuf.Any")},
                        ]},
                    },
                },
            }),
        ),
        (
            "google.protobuf.Any".to_owned(),
            json!({
                "type": "object",
                "description": "A detail of another type: `@type` names it, its fields follow.",
                "required": ["@type"],
                "properties": {"@type": {"type": "string", "description": "The detail's type URL."}},
            }),
        ),
        (
            "google.rpc.BadRequest".to_owned(),
            json!({
                "type": "object",
                "description": "Sent with INVALID_ARGUMENT: every rule the request breaks, one \
                    violation each.",
                "required": ["@type"],
                "properties": {
                    "@type": any_detail("google.rpc.BadRequest"),
                    "fieldViolations": {
                        "type": "array",
                        "items": {"$ref": format!("{SCHEMAS}google.rpc.BadRequest.FieldViolation")},
                    },
                },
            }),
        ),
        (
            "google.rpc.BadRequest.FieldViolation".to_owned(),
            json!({
                "type": "object",
                "description": "One broken rule.",
                "properties": {
                    "field": {
                        "type": "string",
                        "description": "The field's path in proto field names with indexes, e.g. \
                            `content.consignment.containers[1]`.",
                    },
                    "description": {
                        "type": "string",
                        "description": "The rule and the offending value, e.g. `\"MSKU1234566\" \
                            fails the ISO 6346 check digit (expected 5)`.",
                    },
                },
            }),
        ),
        (
            "google.rpc.ErrorInfo".to_owned(),
            json!({
                "type": "object",
                "description": "Why an error happened, as a machine-readable reason: for \
                    example reason `NODE_STOPPING`, domain `tulpar`, metadata `resume_from` when a \
                    watch stream ends because the node stops.",
                "required": ["@type"],
                "properties": {
                    "@type": any_detail("google.rpc.ErrorInfo"),
                    "reason": {"type": "string", "description": "The reason, UPPER_SNAKE_CASE."},
                    "domain": {"type": "string", "description": "Who defines the reason: `tulpar`."},
                    "metadata": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                        "description": "Values that go with the reason.",
                    },
                },
            }),
        ),
        (
            "google.rpc.RetryInfo".to_owned(),
            json!({
                "type": "object",
                "description": "When to try again; also sent as the `Retry-After` header.",
                "required": ["@type"],
                "properties": {
                    "@type": any_detail("google.rpc.RetryInfo"),
                    "retryDelay": {
                        "type": "string",
                        "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$",
                        "description": "How long to wait, as a `google.protobuf.Duration` (`\"5s\"`).",
                    },
                },
            }),
        ),
        (
            "StreamError".to_owned(),
            json!({
                "type": "object",
                "description": "The last line of an NDJSON stream that failed after it started.",
                "required": ["error"],
                "additionalProperties": false,
                "properties": {"error": {"$ref": format!("{SCHEMAS}{STATUS}")}},
            }),
        ),
    ]
}

/// The error responses operations refer to, by the HTTP status of each gRPC code.
pub(crate) fn error_responses() -> Value {
    let status = json!({"application/json": {"schema": {"$ref": format!("{SCHEMAS}{STATUS}")}}});
    let retry_after = json!({"Retry-After": {
        "description": "Seconds to wait before trying again, when the status carries a \
            google.rpc.RetryInfo.",
        "schema": {"type": "integer", "minimum": 0},
    }});
    let response = |description: &str| json!({"description": description, "content": status});
    json!({
        "BadRequest": response(
            "INVALID_ARGUMENT: the request breaks rules; a google.rpc.BadRequest detail lists \
             every violation (field path and rule). Also a body, path or query value that is not \
             valid for the request message. FAILED_PRECONDITION: the request is valid but not now \
             (e.g. an outcome before an acceptance, or a unit without a signing key)."),
        "Unauthenticated": response(
            "UNAUTHENTICATED: no credentials, or a token or certificate the node does not know or \
             has revoked."),
        "PermissionDenied": response(
            "PERMISSION_DENIED: the caller may not do this (e.g. act for that unit, or use the \
             audit API without the focal-point role)."),
        "NotFound": response(
            "NOT_FOUND: nothing visible to the caller under that name; also a path that names no \
             operation."),
        "Conflict": response(
            "ALREADY_EXISTS: the caller used the idempotency key before for another request \
             (different content, or another kind of request)."),
        "PayloadTooLarge": response(
            "The body is larger than the node accepts (the limit of one gRPC message)."),
        "UnsupportedMediaType": response("The body is not `application/json`."),
        "TooManyRequests": {
            "description": "RESOURCE_EXHAUSTED: a limit was reached (connections, calls, failed \
                authentications, one ledger verification at a time); try again later.",
            "headers": retry_after,
            "content": status,
        },
        "Unavailable": {
            "description": "UNAVAILABLE: the node cannot serve this now (it is shutting down, or \
                its ledger cannot write); nothing was recorded. A google.rpc.RetryInfo says when \
                to try again.",
            "headers": retry_after,
            "content": status,
        },
        "Error": response(
            "Any other failure, with the HTTP status of its gRPC code: INTERNAL, UNKNOWN and \
             DATA_LOSS 500 (details are in the node's log), UNIMPLEMENTED 501, DEADLINE_EXCEEDED \
             504."),
    })
}
