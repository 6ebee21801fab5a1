//! Writes the OpenAPI 3.1 document of the HTTP/JSON API (`OUT_DIR/openapi.json`) from the same
//! descriptors as the code: one operation per `google.api.http` binding, one schema per message and
//! enum it reaches, every description from the `.proto` comments.
//!
//! Schemas follow the proto3 JSON mapping as pbjson implements it: lowerCamelCase names, 64-bit
//! integers as strings (numbers accepted), `bytes` as base64, `Timestamp` as RFC 3339, enums by name.
//! Schemas a request can reach are closed (`additionalProperties: false`), as pbjson refuses unknown
//! fields; schemas only responses reach stay open, so clients tolerate fields added later.

use std::collections::BTreeMap;

use prost_reflect::FieldDescriptor;
use serde_json::{Map, Value, json};

use crate::comments;
use crate::http_rules::{Binding, Body, Segment};
use crate::openapi_errors::{error_responses, error_schemas};
use crate::openapi_schemas::{
    Schemas, field_comment, field_schema, message_comment, param_schema, schema_name,
};

/// What the document says before any operation: how JSON, errors, authentication, idempotency and
/// streams work.
const INTRODUCTION: &str = include_str!("openapi_intro.md");

pub(crate) const SCHEMAS: &str = "#/components/schemas/";
pub(crate) const STATUS: &str = "google.rpc.Status";

/// The document, pretty-printed with sorted keys and a final newline.
pub(crate) fn document(bindings: &[Binding], version: &str) -> Result<String, String> {
    let mut schemas = Schemas::new(bindings);
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut tags: BTreeMap<String, String> = BTreeMap::new();
    for binding in bindings {
        let service = binding.rpc.parent_service();
        tags.entry(service.name().to_owned()).or_insert_with(|| {
            let file = service.parent_file();
            let mut text = comments::of(&file, service.path());
            let header = comments::of(&file, &[12]);
            if !header.is_empty() {
                text = format!("{text}\n\n{header}");
            }
            text
        });
        let operation = operation(binding, &mut schemas)?;
        paths
            .entry(openapi_path(binding))
            .or_default()
            .insert(binding.method.to_ascii_lowercase(), operation);
    }
    schemas.drain()?;

    let mut components_schemas = schemas.done;
    for (name, schema) in error_schemas() {
        if components_schemas.insert(name.clone(), schema).is_some() {
            return Err(format!("schema `{name}` is defined twice"));
        }
    }
    let document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Tulpar national node HTTP/JSON API",
            "version": version,
            "description": INTRODUCTION.trim_end(),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": tags.into_iter().map(|(name, description)| json!({"name": name, "description": description})).collect::<Vec<_>>(),
        "security": [{"bearerAuth": []}, {"mutualTLS": []}],
        "paths": paths,
        "components": {
            "schemas": components_schemas,
            "responses": error_responses(),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token configured on the node for a system integration \
                        (`client_api.tokens`), sent as `Authorization: Bearer <token>`. It acts as \
                        an integrator for the units the configuration names.",
                },
                "mutualTLS": {
                    "type": "mutualTLS",
                    "description": "A client certificate from the country's TLS CA naming a role \
                        and subject (`tulpar://role/<role>/<subject>`), presented in the TLS handshake.",
                },
            },
        },
    });
    let mut text = serde_json::to_string_pretty(&sorted(document)).map_err(|e| e.to_string())?;
    text.push('\n');
    Ok(text)
}

/// The OpenAPI path of a binding: the template with JSON names in its variables.
fn openapi_path(binding: &Binding) -> String {
    let mut path = String::new();
    for segment in &binding.segments {
        path.push('/');
        match segment {
            Segment::Literal(text) => path.push_str(text),
            Segment::Field(field) => path.push_str(&format!("{{{}}}", field.json_name())),
        }
    }
    if let Some(verb) = &binding.verb {
        path.push_str(&format!(":{verb}"));
    }
    path
}

fn operation(binding: &Binding, schemas: &mut Schemas) -> Result<Value, String> {
    let rpc = &binding.rpc;
    let input = rpc.input();
    let description = comments::of(&rpc.parent_file(), rpc.path());
    if description.is_empty() {
        return Err(format!("{} has no comment to document it", rpc.full_name()));
    }
    let mut parameters = Vec::new();
    for field in binding.path_fields() {
        parameters.push(json!({
            "name": field.json_name(),
            "in": "path",
            "required": true,
            "description": field_comment(&field),
            "schema": param_schema(&field, schemas),
        }));
    }
    for param in binding.query_params()? {
        let mut parameter = json!({
            "name": param.name,
            "in": "query",
            "required": false,
            "description": field_comment(&param.field),
            "schema": param_schema(&param.field, schemas),
        });
        if param.field.is_list() {
            parameter["style"] = json!("form");
            parameter["explode"] = json!(true);
        }
        parameters.push(parameter);
    }
    if input.get_field_by_name("request_id").is_some() {
        parameters.push(json!({
            "name": "Idempotency-Key",
            "in": "header",
            "required": false,
            "description": "The request's idempotency key (`requestId`), as a header: 1-128 letters, \
                digits, '-', '_', '.' or ':'. A retry with the same key from the same caller returns \
                the original result (`replayed` is true) and records nothing new; the same key with \
                different content is refused with 409 (ALREADY_EXISTS). Give the key \
                here or as `requestId`, not both with different values. Use a fresh UUID per new \
                request.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[A-Za-z0-9._:-]+$"},
        }));
    }
    let sse = rpc.is_server_streaming() && binding.method == "GET";
    if sse && input.get_field_by_name("resume_from").is_some() {
        parameters.push(json!({
            "name": "Last-Event-ID",
            "in": "header",
            "required": false,
            "description": "The `id` of the last Server-Sent Event received (its `ledgerIndex`), as \
                browsers' EventSource sends it when it reconnects: the stream resumes after that \
                event, as if `resumeFrom` were this value + 1. It takes precedence over `resumeFrom`.",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        }));
    }

    let mut operation = json!({
        "operationId": rpc.name(),
        "summary": comments::first_sentence(&description),
        "description": description,
        "tags": [rpc.parent_service().name()],
        "parameters": parameters,
        "responses": responses(binding, schemas)?,
    });
    if let Some(body) = request_body(binding, schemas)? {
        operation["requestBody"] = body;
    }
    Ok(operation)
}

fn request_body(binding: &Binding, schemas: &mut Schemas) -> Result<Option<Value>, String> {
    let input = binding.rpc.input();
    let (schema, description, required) = match &binding.body {
        Body::None => return Ok(None),
        Body::Field(field) => (field_schema(field, schemas), field_comment(field), true),
        Body::All => {
            let path_fields = binding.path_fields();
            if path_fields.is_empty() {
                let has_fields = input.fields().len() > 0;
                (
                    schemas.reference(&input),
                    message_comment(&input),
                    has_fields,
                )
            } else {
                let name = format!("{}Body", schema_name(&input));
                let excluded: Vec<u32> = path_fields.iter().map(FieldDescriptor::number).collect();
                let mut schema = schemas.message_schema(&input, &excluded, true);
                let named: Vec<String> = path_fields
                    .iter()
                    .map(|f| format!("`{}`", f.json_name()))
                    .collect();
                let text = format!(
                    "{}\n\n{} comes from the path.",
                    message_comment(&input),
                    named.join(", ")
                );
                schema["description"] = json!(text);
                schemas.insert(name.clone(), schema)?;
                (json!({"$ref": format!("{SCHEMAS}{name}")}), text, true)
            }
        }
    };
    Ok(Some(json!({
        "description": description,
        "required": required,
        "content": {"application/json": {"schema": schema}},
    })))
}

fn responses(binding: &Binding, schemas: &mut Schemas) -> Result<Value, String> {
    let output = binding.rpc.output();
    let reference = schemas.reference(&output);
    let mut ok = Map::new();
    if binding.rpc.is_server_streaming() {
        let line = json!({"anyOf": [reference, {"$ref": format!("{SCHEMAS}StreamError")}]});
        let mut content = json!({
            "application/x-ndjson": {
                "schema": line,
            },
        });
        let mut text = format!(
            "A stream of `{0}`: {1}\n\nAs `application/x-ndjson` (the default), one `{0}` per \
             line; a stream that fails after it started ends with one `StreamError` line.",
            schema_name(&output),
            message_comment(&output),
        );
        if binding.method == "GET" {
            content["text/event-stream"] = json!({
                "schema": {"type": "string", "description": format!(
                    "Server-Sent Events: each event has `id:` the `ledgerIndex` and `data:` one \
                     `{}` in JSON; a failure after the stream started is one `event: error` whose \
                     `data:` is a `google.rpc.Status`.", schema_name(&output))},
            });
            text.push_str(
                " As `text/event-stream` (asked for with `Accept: text/event-stream`), \
                 Server-Sent Events.",
            );
        }
        ok.insert("description".into(), json!(text));
        ok.insert("content".into(), content);
    } else {
        ok.insert("description".into(), json!(message_comment(&output)));
        ok.insert(
            "content".into(),
            json!({"application/json": {"schema": reference}}),
        );
    }
    let mut responses = json!({
        "200": ok,
        "400": {"$ref": "#/components/responses/BadRequest"},
        "401": {"$ref": "#/components/responses/Unauthenticated"},
        "403": {"$ref": "#/components/responses/PermissionDenied"},
        "404": {"$ref": "#/components/responses/NotFound"},
        "409": {"$ref": "#/components/responses/Conflict"},
        "429": {"$ref": "#/components/responses/TooManyRequests"},
        "503": {"$ref": "#/components/responses/Unavailable"},
        "default": {"$ref": "#/components/responses/Error"},
    });
    if !matches!(binding.body, Body::None) {
        responses["413"] = json!({"$ref": "#/components/responses/PayloadTooLarge"});
        responses["415"] = json!({"$ref": "#/components/responses/UnsupportedMediaType"});
    }
    Ok(responses)
}

/// `value` with every object's keys in sorted order, whatever map serde_json was built with.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let entries: BTreeMap<String, Value> =
                map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(entries.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}
