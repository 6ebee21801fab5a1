//! Writes the route table (`OUT_DIR/http_routes.rs`): one `HttpRoute` expression per binding, for
//! `src/http.rs` to include as `HTTP_ROUTES`.

use std::fmt::Write as _;

use prost_reflect::{Kind, MessageDescriptor};

use crate::http_rules::{Binding, Body, Segment, is_scalar_message};

/// The Rust source of a `&[HttpRoute]` expression holding `bindings`.
pub(crate) fn source(bindings: &[Binding]) -> Result<String, String> {
    let mut out = String::from("&[\n");
    for b in bindings {
        let method = match b.method {
            "GET" => "Get",
            "POST" => "Post",
            "PUT" => "Put",
            "DELETE" => "Delete",
            _ => "Patch",
        };
        let segments: Vec<String> = b
            .segments
            .iter()
            .map(|s| match s {
                Segment::Literal(text) => format!("PathSegment::Literal({text:?})"),
                Segment::Field(field) => format!("PathSegment::Field({:?})", field.name()),
            })
            .collect();
        let verb = match &b.verb {
            Some(verb) => format!("Some({verb:?})"),
            None => "None".to_owned(),
        };
        let body = match &b.body {
            Body::None => "HttpBody::None".to_owned(),
            Body::All => "HttpBody::All".to_owned(),
            Body::Field(field) => format!("HttpBody::Field({:?})", field.name()),
        };
        let mut query = String::new();
        for param in b.query_params()? {
            let _ = write!(
                query,
                "QueryParam {{ name: {:?}, field: {:?}, kind: ParamKind::{}, repeated: {} }}, ",
                param.name,
                param.field_path,
                param_kind(&param.field.kind()),
                param.field.is_list()
            );
        }
        let _ = writeln!(
            out,
            "    HttpRoute {{ method: HttpMethod::{method}, template: {:?}, segments: &[{}], \
             verb: {verb}, body: {body}, query: &[{query}], service: {:?}, rpc: {:?}, \
             server_streaming: {} }},",
            b.template,
            segments.join(", "),
            b.rpc.parent_service().full_name(),
            b.rpc.name(),
            b.rpc.is_server_streaming(),
        );
    }
    out.push(']');
    Ok(out)
}

fn param_kind(kind: &Kind) -> &'static str {
    match kind {
        Kind::Bool => "Bool",
        Kind::Double | Kind::Float => "Float",
        Kind::String => "String",
        Kind::Bytes => "Bytes",
        Kind::Enum(_) => "Enum",
        Kind::Message(message) => scalar_message_kind(message),
        _ => "Integer",
    }
}

fn scalar_message_kind(message: &MessageDescriptor) -> &'static str {
    debug_assert!(is_scalar_message(message));
    if message.full_name() == "google.protobuf.Duration" {
        "Duration"
    } else {
        "Timestamp"
    }
}
