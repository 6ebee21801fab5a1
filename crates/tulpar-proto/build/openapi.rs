//! Writes the OpenAPI 3.1 document of the HTTP/JSON API (`OUT_DIR/openapi.json`) from the same
//! descriptors as the code: one operation per `google.api.http` binding, one schema per message and
//! enum it reaches, every description from the `.proto` comments.
//!
//! Schemas follow the proto3 JSON mapping as pbjson implements it: lowerCamelCase names, 64-bit
//! integers as strings (numbers accepted), `bytes` as base64, `Timestamp` as RFC 3339, enums by name.
//! Schemas a request can reach are closed (`additionalProperties: false`), as pbjson refuses unknown
//! fields; schemas only responses reach stay open, so clients tolerate fields added later.

use std::collections::{BTreeMap, BTreeSet};

use prost_reflect::{EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use crate::comments;
use crate::http_rules::{Binding, Body, Segment, is_scalar_message};

/// What the document says before any operation: how JSON, errors, authentication, idempotency and
/// streams work.
const INTRODUCTION: &str = include_str!("openapi_intro.md");

const SCHEMAS: &str = "#/components/schemas/";
const STATUS: &str = "google.rpc.Status";

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
                different content is refused with 409 (ALREADY_EXISTS) naming the key. Give the key \
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

/// The component name of a message or enum: its name within `tulpar.v1`, else its full name.
fn schema_name(full_name_of: &impl Named) -> String {
    let full = full_name_of.full_name();
    full.strip_prefix("tulpar.v1.").unwrap_or(full).to_owned()
}

trait Named {
    fn full_name(&self) -> &str;
}

impl Named for MessageDescriptor {
    fn full_name(&self) -> &str {
        MessageDescriptor::full_name(self)
    }
}

impl Named for EnumDescriptor {
    fn full_name(&self) -> &str {
        EnumDescriptor::full_name(self)
    }
}

fn message_comment(message: &MessageDescriptor) -> String {
    comments::of(&message.parent_file(), message.path())
}

fn field_comment(field: &FieldDescriptor) -> String {
    comments::of(&field.parent_file(), field.path())
}

/// The schemas of the messages and enums operations reach, built as they are referenced.
struct Schemas {
    /// Messages a request can reach: their schemas are closed.
    closed: BTreeSet<String>,
    pending_messages: Vec<MessageDescriptor>,
    pending_enums: Vec<EnumDescriptor>,
    seen: BTreeSet<String>,
    done: Map<String, Value>,
}

impl Schemas {
    fn new(bindings: &[Binding]) -> Self {
        let mut closed = BTreeSet::new();
        for binding in bindings {
            match &binding.body {
                Body::All => reach(&binding.rpc.input(), &mut closed),
                Body::Field(field) => {
                    if let Kind::Message(message) = field.kind() {
                        reach(&message, &mut closed);
                    }
                }
                Body::None => {}
            }
        }
        Self {
            closed,
            pending_messages: Vec::new(),
            pending_enums: Vec::new(),
            seen: BTreeSet::new(),
            done: Map::new(),
        }
    }

    fn reference(&mut self, message: &MessageDescriptor) -> Value {
        if self.seen.insert(message.full_name().to_owned()) {
            self.pending_messages.push(message.clone());
        }
        json!({"$ref": format!("{SCHEMAS}{}", schema_name(message))})
    }

    fn enum_reference(&mut self, e: &EnumDescriptor) -> Value {
        if self.seen.insert(e.full_name().to_owned()) {
            self.pending_enums.push(e.clone());
        }
        json!({"$ref": format!("{SCHEMAS}{}", schema_name(e))})
    }

    fn insert(&mut self, name: String, schema: Value) -> Result<(), String> {
        if self.done.insert(name.clone(), schema).is_some() {
            return Err(format!("schema `{name}` is defined twice"));
        }
        Ok(())
    }

    /// Builds every schema referenced so far, and those they reference.
    fn drain(&mut self) -> Result<(), String> {
        loop {
            if let Some(message) = self.pending_messages.pop() {
                let closed = self.closed.contains(message.full_name());
                let schema = self.message_schema(&message, &[], closed);
                self.insert(schema_name(&message), schema)?;
            } else if let Some(e) = self.pending_enums.pop() {
                let schema = enum_schema(&e);
                self.insert(schema_name(&e), schema)?;
            } else {
                return Ok(());
            }
        }
    }

    /// The schema of `message` without the fields numbered in `excluded`.
    fn message_schema(
        &mut self,
        message: &MessageDescriptor,
        excluded: &[u32],
        closed: bool,
    ) -> Value {
        let mut properties = Map::new();
        for field in message.fields() {
            if excluded.contains(&field.number()) {
                continue;
            }
            properties.insert(field.json_name().to_owned(), field_schema(&field, self));
        }
        let mut description = message_comment(message);
        let mut groups = Vec::new();
        for oneof in message.oneofs().filter(|o| !o.is_synthetic()) {
            let members: Vec<String> = oneof
                .fields()
                .filter(|f| !excluded.contains(&f.number()))
                .map(|f| f.json_name().to_owned())
                .collect();
            if members.len() < 2 {
                continue;
            }
            let listed: Vec<String> = members.iter().map(|m| format!("`{m}`")).collect();
            let what = comments::of(&oneof.parent_file(), oneof.path());
            description.push_str(&format!(
                "\n\nAt most one of {} is set (oneof `{}`{}).",
                listed.join(", "),
                oneof.name(),
                if what.is_empty() {
                    String::new()
                } else {
                    format!(": {}", what.trim_end_matches('.'))
                }
            ));
            let mut choices: Vec<Value> =
                members.iter().map(|m| json!({"required": [m]})).collect();
            choices.push(json!({"not": {"anyOf": members.iter().map(|m| json!({"required": [m]})).collect::<Vec<_>>()}}));
            groups.push(json!({"oneOf": choices}));
        }
        let mut schema = json!({"type": "object", "description": description});
        if !properties.is_empty() {
            schema["properties"] = Value::Object(properties);
        }
        if closed {
            schema["additionalProperties"] = json!(false);
        }
        match groups.len() {
            0 => {}
            1 => schema["oneOf"] = groups.remove(0)["oneOf"].take(),
            _ => schema["allOf"] = json!(groups),
        }
        schema
    }
}

/// Adds `message` and every message its fields reach to `names`.
fn reach(message: &MessageDescriptor, names: &mut BTreeSet<String>) {
    if !names.insert(message.full_name().to_owned()) {
        return;
    }
    for field in message.fields() {
        if let Kind::Message(inner) = field.kind() {
            reach(&inner, names);
        }
    }
}

/// The schema of a field in a JSON body, with its comment as description.
fn field_schema(field: &FieldDescriptor, schemas: &mut Schemas) -> Value {
    let mut schema = if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            unreachable!("a map field's kind is its entry message")
        };
        let key = entry.map_entry_key_field();
        let mut map = json!({
            "type": "object",
            "additionalProperties": value_schema(&entry.map_entry_value_field().kind(), schemas),
        });
        if !matches!(key.kind(), Kind::String) {
            map["propertyNames"] = json!({"pattern": "^(-?[0-9]+|true|false)$"});
        }
        map
    } else if field.is_list() {
        json!({"type": "array", "items": value_schema(&field.kind(), schemas)})
    } else {
        value_schema(&field.kind(), schemas)
    };
    let description = field_comment(field);
    if !description.is_empty() {
        schema["description"] = json!(description);
    }
    schema
}

/// The schema of one value of a kind in a JSON body, as pbjson reads and writes it.
fn value_schema(kind: &Kind, schemas: &mut Schemas) -> Value {
    match kind {
        Kind::Double => json!({"type": "number", "format": "double"}),
        Kind::Float => json!({"type": "number", "format": "float"}),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            json!({"type": "integer", "format": "int32", "minimum": i32::MIN, "maximum": i32::MAX})
        }
        Kind::Uint32 | Kind::Fixed32 => {
            json!({"type": "integer", "format": "uint32", "minimum": 0, "maximum": u32::MAX})
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => json!({
            "type": ["string", "integer"],
            "format": "int64",
            "pattern": "^-?[0-9]+$",
            "minimum": i64::MIN,
            "maximum": i64::MAX,
        }),
        Kind::Uint64 | Kind::Fixed64 => json!({
            "type": ["string", "integer"],
            "format": "uint64",
            "pattern": "^[0-9]+$",
            "minimum": 0,
            "maximum": u64::MAX,
        }),
        Kind::Bool => json!({"type": "boolean"}),
        Kind::String => json!({"type": "string"}),
        Kind::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
        Kind::Enum(e) => schemas.enum_reference(e),
        Kind::Message(message) => match message.full_name() {
            "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
            "google.protobuf.Duration" => {
                json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$"})
            }
            _ => schemas.reference(message),
        },
    }
}

/// The schema of a path or query parameter: its text, as the HTTP layer reads it.
fn param_schema(field: &FieldDescriptor, schemas: &mut Schemas) -> Value {
    let one = match field.kind() {
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            json!({"type": "integer", "format": "int64", "minimum": i64::MIN, "maximum": i64::MAX})
        }
        Kind::Uint64 | Kind::Fixed64 => {
            json!({"type": "integer", "format": "uint64", "minimum": 0, "maximum": u64::MAX})
        }
        Kind::Message(message) if !is_scalar_message(&message) => {
            unreachable!("http_rules admits no message parameters")
        }
        kind => value_schema(&kind, schemas),
    };
    if field.is_list() {
        json!({"type": "array", "items": one})
    } else {
        one
    }
}

/// An enum: its value names, each explained in the description.
fn enum_schema(e: &EnumDescriptor) -> Value {
    let mut description = comments::of(&e.parent_file(), e.path());
    description.push_str("\n\n");
    let mut names = Vec::new();
    for value in e.values() {
        let comment = comments::of(&value.parent_file(), value.path());
        description.push_str(&format!(
            "- `{}`: {}\n",
            value.name(),
            comment.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
        names.push(value.name().to_owned());
    }
    json!({
        "type": "string",
        "enum": names,
        "description": description.trim_end(),
    })
}

/// `google.rpc.Status`, the details the node sends in it, and the last line of a failed stream.
fn error_schemas() -> Vec<(String, Value)> {
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
fn error_responses() -> Value {
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
             (e.g. an outcome before an acceptance). OUT_OF_RANGE: a range past the end."),
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
            "ALREADY_EXISTS: the idempotency key was used before with different content, or an id \
             already names something else. ABORTED: the request contradicts what was recorded \
             before."),
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
