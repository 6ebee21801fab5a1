//! The `google.api.http` rules of the services, read from the descriptor pool with prost-reflect.
//!
//! Only what the API uses is accepted: one binding per method (no `additional_bindings`), the five
//! standard verbs, templates of literal segments and single-segment `{field}` variables naming a
//! top-level scalar field of the request, an optional `:verb` suffix, and `body` of `*`, a top-level
//! field or nothing. Anything else fails the build with the method named, so the runtime matcher
//! never meets a rule it cannot serve.

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor};

/// One HTTP binding of an RPC.
pub(crate) struct Binding {
    /// `GET`, `POST`, `PUT`, `DELETE` or `PATCH`.
    pub(crate) method: &'static str,
    /// The template as written in the rule.
    pub(crate) template: String,
    /// The template's segments.
    pub(crate) segments: Vec<Segment>,
    /// The custom verb after the last `:`, if any.
    pub(crate) verb: Option<String>,
    /// What the request body carries.
    pub(crate) body: Body,
    /// The RPC.
    pub(crate) rpc: MethodDescriptor,
}

/// A segment of a path template.
pub(crate) enum Segment {
    /// Literal text.
    Literal(String),
    /// A single segment bound to this top-level field of the request.
    Field(FieldDescriptor),
}

/// What the HTTP body maps to.
pub(crate) enum Body {
    /// No body: every field not bound by the path is a query parameter.
    None,
    /// `*`: every field not bound by the path.
    All,
    /// This top-level field of the request; the remaining fields are query parameters.
    Field(FieldDescriptor),
}

/// A query parameter: a leaf field of the request reached through non-repeated message fields.
pub(crate) struct QueryParam {
    /// Dotted proto3 JSON names, as written in the URL (`createdAfter`).
    pub(crate) name: String,
    /// Dotted proto field names (`created_after`).
    pub(crate) field_path: String,
    /// The leaf field.
    pub(crate) field: FieldDescriptor,
}

impl Binding {
    /// The fields bound by the path, in template order.
    pub(crate) fn path_fields(&self) -> Vec<FieldDescriptor> {
        self.segments
            .iter()
            .filter_map(|s| match s {
                Segment::Field(f) => Some(f.clone()),
                Segment::Literal(_) => None,
            })
            .collect()
    }

    /// The query parameters: every leaf not bound by the path or the body.
    pub(crate) fn query_params(&self) -> Result<Vec<QueryParam>, String> {
        let mut params = Vec::new();
        if matches!(self.body, Body::All) {
            return Ok(params);
        }
        let path = self.path_fields();
        for field in self.rpc.input().fields() {
            let bound = path.iter().any(|p| p.number() == field.number())
                || matches!(&self.body, Body::Field(b) if b.number() == field.number());
            if !bound {
                collect_query(&self.rpc, &field, "", "", 0, &mut params)?;
            }
        }
        Ok(params)
    }
}

fn collect_query(
    rpc: &MethodDescriptor,
    field: &FieldDescriptor,
    json_prefix: &str,
    field_prefix: &str,
    depth: usize,
    params: &mut Vec<QueryParam>,
) -> Result<(), String> {
    let name = format!("{json_prefix}{}", field.json_name());
    let field_path = format!("{field_prefix}{}", field.name());
    match field.kind() {
        Kind::Message(message) if !is_scalar_message(&message) => {
            if field.is_list() || field.is_map() || depth > 8 {
                return Err(format!(
                    "{}: field `{field_path}` would be a query parameter, but repeated, map and \
                     deeply nested message fields cannot be; put it in the body",
                    rpc.full_name()
                ));
            }
            for inner in message.fields() {
                collect_query(
                    rpc,
                    &inner,
                    &format!("{name}."),
                    &format!("{field_path}."),
                    depth + 1,
                    params,
                )?;
            }
        }
        _ => params.push(QueryParam {
            name,
            field_path,
            field: field.clone(),
        }),
    }
    Ok(())
}

/// Well-known messages written as one JSON string, so they can be a path or query value.
pub(crate) fn is_scalar_message(message: &MessageDescriptor) -> bool {
    matches!(
        message.full_name(),
        "google.protobuf.Timestamp" | "google.protobuf.Duration"
    )
}

/// Every binding of every method of every service in `pool`, in service then method order.
pub(crate) fn bindings(pool: &DescriptorPool) -> Result<Vec<Binding>, String> {
    let Some(http) = pool.get_extension_by_name("google.api.http") else {
        return Ok(Vec::new());
    };
    let mut bindings = Vec::new();
    for service in pool.services() {
        for rpc in service.methods() {
            let options = rpc.options();
            if !options.has_extension(&http) {
                continue;
            }
            let value = options.get_extension(&http);
            let rule = value
                .as_message()
                .ok_or_else(|| format!("{}: google.api.http is not a message", rpc.full_name()))?;
            bindings.push(binding(&rpc, rule)?);
        }
    }
    Ok(bindings)
}

fn binding(
    rpc: &MethodDescriptor,
    rule: &prost_reflect::DynamicMessage,
) -> Result<Binding, String> {
    let name = rpc.full_name();
    let string = |field: &str| {
        rule.get_field_by_name(field)
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    for unsupported in ["additional_bindings", "custom", "response_body"] {
        if rule.has_field_by_name(unsupported) {
            return Err(format!(
                "{name}: `{unsupported}` in google.api.http is not supported"
            ));
        }
    }
    let (method, template) = [
        ("GET", "get"),
        ("POST", "post"),
        ("PUT", "put"),
        ("DELETE", "delete"),
        ("PATCH", "patch"),
    ]
    .into_iter()
    .find(|(_, field)| rule.has_field_by_name(field))
    .map(|(method, field)| (method, string(field)))
    .ok_or_else(|| format!("{name}: google.api.http names no verb"))?;
    if rpc.is_client_streaming() {
        return Err(format!("{name}: client streaming has no HTTP mapping"));
    }

    let input = rpc.input();
    let (path, verb) = split_verb(&template);
    let Some(path) = path.strip_prefix('/') else {
        return Err(format!("{name}: template `{template}` must start with '/'"));
    };
    if verb.is_some_and(|v| !is_literal(v)) {
        return Err(format!(
            "{name}: template `{template}` has an invalid custom verb"
        ));
    }
    let mut segments = Vec::new();
    for segment in path.split('/') {
        if let Some(variable) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let field = input.get_field_by_name(variable).ok_or_else(|| {
                format!(
                    "{name}: path variable `{variable}` is not a field of {}",
                    input.full_name()
                )
            })?;
            if field.is_list() || field.is_map() || matches!(field.kind(), Kind::Message(_)) {
                return Err(format!(
                    "{name}: path variable `{variable}` must be a scalar field"
                ));
            }
            segments.push(Segment::Field(field));
        } else if !is_literal(segment) {
            return Err(format!(
                "{name}: template `{template}` has segment `{segment}`; only literals and {{field}} \
                 are supported"
            ));
        } else {
            segments.push(Segment::Literal(segment.to_owned()));
        }
    }

    let body = match string("body").as_str() {
        "" => Body::None,
        "*" => Body::All,
        field => {
            let field = input.get_field_by_name(field).ok_or_else(|| {
                format!(
                    "{name}: body `{field}` is not a field of {}",
                    input.full_name()
                )
            })?;
            if field.is_list() || field.is_map() {
                return Err(format!(
                    "{name}: body field `{}` may not be repeated",
                    field.name()
                ));
            }
            Body::Field(field)
        }
    };
    if method == "GET" && !matches!(body, Body::None) {
        return Err(format!("{name}: a GET binding takes no body"));
    }
    let binding = Binding {
        method,
        template: template.clone(),
        segments,
        verb: verb.map(str::to_owned),
        body,
        rpc: rpc.clone(),
    };
    binding.query_params()?;
    Ok(binding)
}

/// Splits `/v1/alerts/{alert_id}:acknowledge` into the path and the custom verb.
fn split_verb(template: &str) -> (&str, Option<&str>) {
    let last_slash = template.rfind('/').unwrap_or(0);
    match template[last_slash..].rfind(':') {
        Some(colon) => (
            &template[..last_slash + colon],
            Some(&template[last_slash + colon + 1..]),
        ),
        None => (template, None),
    }
}

/// Text a literal segment or verb may hold: unreserved URL characters, so it never needs escaping.
fn is_literal(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
}
