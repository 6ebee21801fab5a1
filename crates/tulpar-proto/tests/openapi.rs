//! The OpenAPI document generated from the `.proto` files: the committed copy is identical, every
//! operation is documented and answers errors, every reference resolves, every enum is complete.

use std::path::PathBuf;

use serde_json::Value;
use tulpar_proto::OPENAPI_JSON;
use tulpar_proto::http::{HTTP_ROUTES, PathSegment};
use tulpar_proto::v1;

/// Set to rewrite the committed copy from the generated document.
const WRITE: &str = "TULPAR_WRITE_OPENAPI";

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/integration/openapi.json")
}

fn document() -> Value {
    serde_json::from_str(OPENAPI_JSON).expect("the generated document is JSON")
}

#[test]
fn the_committed_copy_is_the_generated_document() {
    let path = committed_path();
    if std::env::var_os(WRITE).is_some() {
        std::fs::write(&path, OPENAPI_JSON).expect("write the committed copy");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == OPENAPI_JSON,
        "{} differs from the document generated from the .proto files; refresh it with\n\n    \
         {WRITE}=1 cargo test -p tulpar-proto --test openapi\n",
        path.display()
    );
}

/// The OpenAPI path of a route: its template with JSON names in the variables.
fn openapi_path(template: &str, segments: &[PathSegment]) -> String {
    let mut path = template.to_owned();
    for segment in segments {
        if let PathSegment::Field(field) = segment {
            let json = json_name(field);
            path = path.replace(&format!("{{{field}}}"), &format!("{{{json}}}"));
        }
    }
    path
}

fn json_name(field: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn every_route_is_one_documented_operation_named_after_its_rpc() {
    let doc = document();
    let mut operations = 0;
    for (_, item) in doc["paths"].as_object().expect("paths") {
        operations += item.as_object().expect("path item").len();
    }
    assert_eq!(operations, HTTP_ROUTES.len());
    for route in HTTP_ROUTES {
        let path = openapi_path(route.template, route.segments);
        let method = route.method.as_str().to_ascii_lowercase();
        let op = &doc["paths"][&path][&method];
        assert_eq!(op["operationId"], route.rpc, "{method} {path}");
        let description = op["description"].as_str().unwrap_or_default();
        assert!(
            !description.trim().is_empty(),
            "{} has no description",
            route.rpc
        );
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{}",
            route.rpc
        );
        for status in [
            "200", "400", "401", "403", "404", "409", "429", "503", "default",
        ] {
            assert!(
                op["responses"].get(status).is_some(),
                "{} lacks {status}",
                route.rpc
            );
        }
        for parameter in op["parameters"].as_array().expect("parameters") {
            assert!(
                parameter["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{}: parameter {} is undocumented",
                route.rpc,
                parameter["name"]
            );
        }
    }
}

#[test]
fn error_responses_are_google_rpc_status() {
    let doc = document();
    let responses = doc["components"]["responses"]
        .as_object()
        .expect("responses");
    for (name, response) in responses {
        assert_eq!(
            response["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/google.rpc.Status",
            "{name}"
        );
        assert!(
            response["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty())
        );
    }
    let details = &doc["components"]["schemas"]["google.rpc.Status"]["properties"]["details"];
    let kinds: Vec<&str> = details["items"]["anyOf"]
        .as_array()
        .expect("detail kinds")
        .iter()
        .filter_map(|k| k["$ref"].as_str())
        .collect();
    for kind in ["BadRequest", "ErrorInfo", "RetryInfo"] {
        assert!(kinds.contains(&format!("#/components/schemas/google.rpc.{kind}").as_str()));
    }
}

#[test]
fn idempotency_keys_and_streams_are_described() {
    let doc = document();
    let header = |path: &str, method: &str, name: &str| {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .any(|p| p["in"] == "header" && p["name"] == name)
    };
    assert!(header("/v1/alerts", "post", "Idempotency-Key"));
    assert!(header(
        "/v1/alerts/{alertId}:acknowledge",
        "post",
        "Idempotency-Key"
    ));
    assert!(header(
        "/v1/alerts/{alertId}:recordOutcome",
        "post",
        "Idempotency-Key"
    ));
    assert!(!header("/v1/alerts", "get", "Idempotency-Key"));
    assert!(header("/v1/alerts:watch", "get", "Last-Event-ID"));

    let watch = &doc["paths"]["/v1/alerts:watch"]["get"]["responses"]["200"]["content"];
    assert!(watch.get("text/event-stream").is_some());
    assert!(watch.get("application/x-ndjson").is_some());
    let verify = &doc["paths"]["/v1/audit/ledger:verify"]["post"]["responses"]["200"]["content"];
    assert!(verify.get("application/x-ndjson").is_some());
}

fn collect_refs<'a>(value: &'a Value, refs: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                refs.push(r);
            }
            map.values().for_each(|v| collect_refs(v, refs));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves() {
    let doc = document();
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let pointer = r.strip_prefix('#').expect("a local reference");
        assert!(doc.pointer(pointer).is_some(), "{r} names nothing");
    }
}

#[test]
fn request_schemas_are_closed_and_path_fields_left_out_of_bodies() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    for name in [
        "AlertContent",
        "Consignment",
        "AcknowledgeRequestBody",
        "Outcome",
    ] {
        assert_eq!(schemas[name]["additionalProperties"], false, "{name}");
    }
    for name in ["AcknowledgeRequestBody", "RecordOutcomeRequestBody"] {
        assert!(
            schemas[name]["properties"].get("alertId").is_none(),
            "{name}"
        );
        assert!(
            schemas[name]["properties"].get("requestId").is_some(),
            "{name}"
        );
    }
    // 64-bit integers: strings, numbers accepted.
    let index = &schemas["SubmitAlertResponse"]["properties"]["ledgerIndex"];
    assert_eq!(index["type"], serde_json::json!(["string", "integer"]));
    let content = &schemas["Attachment"]["properties"]["content"];
    assert_eq!(content["contentEncoding"], "base64");
}

/// The names of every value of an enum, from the generated Rust type.
macro_rules! value_names {
    ($($enum:ident),+ $(,)?) => {
        vec![$((
            stringify!($enum),
            (0..=255)
                .filter_map(|n| v1::$enum::try_from(n).ok())
                .map(|v| v.as_str_name())
                .collect::<Vec<_>>(),
        )),+]
    };
}

#[test]
fn every_enum_lists_all_its_values_each_described() {
    let doc = document();
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let known = value_names!(
        AccountEventKind,
        AcknowledgementDecision,
        AlertEventKind,
        DeliveryState,
        Direction,
        HandlingCode,
        InformationAccuracy,
        Priority,
        ReconcileFindingKind,
        RequestedAction,
        RiskIndicator,
        SourceReliability,
        ThreatCategory,
        TransportDocumentKind,
        TransportMode,
    );
    let in_document: Vec<&String> = schemas
        .iter()
        .filter(|(_, s)| s.get("enum").is_some() && s["type"] == "string")
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        in_document.len(),
        known.len(),
        "enums in the document: {in_document:?}"
    );
    for (name, values) in known {
        let schema = &schemas[name];
        let listed: Vec<&str> = schema["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} is not in the document"))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(listed, values, "{name}");
        let description = schema["description"].as_str().unwrap_or_default();
        for value in values {
            assert!(
                description.contains(&format!("- `{value}`: ")),
                "{name}.{value}"
            );
        }
    }
}
