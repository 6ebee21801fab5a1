//! The schemas of the OpenAPI document: one per message and enum the operations reach, in the
//! proto3 JSON mapping as pbjson reads and writes it.

use std::collections::BTreeSet;

use prost_reflect::{EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use crate::comments;
use crate::http_rules::{Binding, Body, is_scalar_message};
use crate::openapi::SCHEMAS;

/// The component name of a message or enum: its name within `tulpar.v1`, else its full name.
pub(crate) fn schema_name(full_name_of: &impl Named) -> String {
    let full = full_name_of.full_name();
    full.strip_prefix("tulpar.v1.").unwrap_or(full).to_owned()
}

/// Messages and enums alike have a full name.
pub(crate) trait Named {
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

pub(crate) fn message_comment(message: &MessageDescriptor) -> String {
    comments::of(&message.parent_file(), message.path())
}

pub(crate) fn field_comment(field: &FieldDescriptor) -> String {
    comments::of(&field.parent_file(), field.path())
}

/// The schemas of the messages and enums operations reach, built as they are referenced.
pub(crate) struct Schemas {
    /// Messages a request can reach: their schemas are closed.
    closed: BTreeSet<String>,
    pending_messages: Vec<MessageDescriptor>,
    pending_enums: Vec<EnumDescriptor>,
    seen: BTreeSet<String>,
    pub(crate) done: Map<String, Value>,
}

impl Schemas {
    pub(crate) fn new(bindings: &[Binding]) -> Self {
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

    pub(crate) fn reference(&mut self, message: &MessageDescriptor) -> Value {
        if self.seen.insert(message.full_name().to_owned()) {
            self.pending_messages.push(message.clone());
        }
        json!({"$ref": format!("{SCHEMAS}{}", schema_name(message))})
    }

    pub(crate) fn enum_reference(&mut self, e: &EnumDescriptor) -> Value {
        if self.seen.insert(e.full_name().to_owned()) {
            self.pending_enums.push(e.clone());
        }
        json!({"$ref": format!("{SCHEMAS}{}", schema_name(e))})
    }

    pub(crate) fn insert(&mut self, name: String, schema: Value) -> Result<(), String> {
        if self.done.insert(name.clone(), schema).is_some() {
            return Err(format!("schema `{name}` is defined twice"));
        }
        Ok(())
    }

    /// Builds every schema referenced so far, and those they reference.
    pub(crate) fn drain(&mut self) -> Result<(), String> {
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
    pub(crate) fn message_schema(
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
pub(crate) fn reach(message: &MessageDescriptor, names: &mut BTreeSet<String>) {
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
pub(crate) fn field_schema(field: &FieldDescriptor, schemas: &mut Schemas) -> Value {
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
pub(crate) fn value_schema(kind: &Kind, schemas: &mut Schemas) -> Value {
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
pub(crate) fn param_schema(field: &FieldDescriptor, schemas: &mut Schemas) -> Value {
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
pub(crate) fn enum_schema(e: &EnumDescriptor) -> Value {
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
