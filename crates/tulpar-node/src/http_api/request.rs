//! An HTTP request turned into a request message: path variables, query parameters and the body
//! gathered into one proto3 JSON object, then decoded by the message's generated JSON mapping, so that
//! one rule decodes every part.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tonic::Code;
use tulpar_proto::http::{HttpBody, HttpRoute, ParamKind};

use super::status::refusal;

/// The header a client names its idempotency key with; it sets `request_id`.
pub(crate) const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Why a request could not become a message: the response already made.
pub(crate) type Refused = Box<Response>;

/// A 400 naming `field` and the rule it breaks.
pub(super) fn invalid(field: &str, rule: impl Into<String>) -> Refused {
    let violations = tulpar_core::validation::Violations::single(field, rule);
    Box::new(super::status::status_response(
        &tulpar_rpc::invalid_argument(&violations),
    ))
}

/// Gathers the JSON object of the request `route` names.
pub(crate) fn gather(
    route: &HttpRoute,
    path_fields: &[(&'static str, &str)],
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Map<String, Value>, Refused> {
    let mut object = body_object(route, headers, body)?;
    for (field, raw) in path_fields {
        let text = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| invalid(field, "is not UTF-8 once percent-decoded"))?;
        // The path names the resource: a body naming another is a contradiction, not an override.
        if let Some(given) = object.get(*field).or_else(|| object.get(&camel(field)))
            && given.as_str() != Some(&text)
        {
            return Err(invalid(field, "differs between the path and the body"));
        }
        object.remove(&camel(field));
        object.insert((*field).to_owned(), Value::String(text.into_owned()));
    }
    let pairs = pairs(query.unwrap_or_default())
        .ok_or_else(|| invalid("query", "is not UTF-8 once percent-decoded"))?;
    for (key, text) in pairs {
        let Some(param) = route.query.iter().find(|p| p.name == key || p.field == key) else {
            return Err(invalid(
                &key,
                format!(
                    "is not a query parameter of {} {}",
                    route.method.as_str(),
                    route.template
                ),
            ));
        };
        let value = match param.kind {
            ParamKind::Bool => match text.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(invalid(param.name, "must be true or false")),
            },
            _ => Value::String(text),
        };
        insert_at(&mut object, param.name, value, param.repeated)
            .map_err(|rule| invalid(param.name, rule))?;
    }
    idempotency_key(route, headers, &mut object)?;
    Ok(object)
}

/// The `key=value` pairs of a query string or form body, percent- and `+`-decoded.
pub(super) fn pairs(text: &str) -> Option<Vec<(String, String)>> {
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(&text.replace('+', " "))
            .decode_utf8()
            .map(|t| t.into_owned())
            .ok()
    };
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(key)?, decode(raw)?))
        })
        .collect()
}

/// The body as an object: the whole message (`*`), one field of it, or nothing.
fn body_object(
    route: &HttpRoute,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Map<String, Value>, Refused> {
    let blank = body.iter().all(u8::is_ascii_whitespace);
    if route.body == HttpBody::None {
        return if blank {
            Ok(Map::new())
        } else {
            Err(invalid("body", format!("{} takes no body", route.template)))
        };
    }
    if blank {
        return Ok(Map::new());
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(Box::new(refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::InvalidArgument,
            "the body must be JSON (Content-Type: application/json)",
        )));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| invalid("body", format!("is not JSON: {e}")))?;
    match (route.body, value) {
        (HttpBody::All, Value::Object(object)) => Ok(object),
        (HttpBody::All, _) => Err(invalid("body", "must be a JSON object")),
        (HttpBody::Field(field), value) => Ok(Map::from_iter([(field.to_owned(), value)])),
        (HttpBody::None, _) => Ok(Map::new()),
    }
}

/// `Idempotency-Key` sets `request_id`; the same key in both places is fine, two keys are refused.
fn idempotency_key(
    route: &HttpRoute,
    headers: &HeaderMap,
    object: &mut Map<String, Value>,
) -> Result<(), Refused> {
    let Some(key) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(());
    };
    let takes_key =
        route.body == HttpBody::All || route.query.iter().any(|p| p.field == "request_id");
    if !takes_key || !matches!(route.rpc, "SubmitAlert" | "Acknowledge" | "RecordOutcome") {
        return Err(invalid(
            "Idempotency-Key",
            format!("{} takes no idempotency key", route.rpc),
        ));
    }
    let key = key
        .to_str()
        .map_err(|_| invalid("Idempotency-Key", "must be visible ASCII"))?;
    for name in ["request_id", "requestId"] {
        if let Some(given) = object.get(name)
            && given.as_str() != Some(key)
        {
            return Err(invalid(
                "Idempotency-Key",
                "differs from request_id; give the key once",
            ));
        }
    }
    object.remove("request_id");
    object.insert("requestId".into(), Value::String(key.to_owned()));
    Ok(())
}

/// Puts `value` at the dotted `name` (proto3 JSON names), appending when `repeated`.
fn insert_at(
    object: &mut Map<String, Value>,
    name: &str,
    value: Value,
    repeated: bool,
) -> Result<(), &'static str> {
    let (parents, leaf) = match name.rsplit_once('.') {
        Some((parents, leaf)) => (Some(parents), leaf),
        None => (None, name),
    };
    let mut target = object;
    for part in parents.into_iter().flat_map(|p| p.split('.')) {
        let entry = target
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        target = entry.as_object_mut().ok_or("is given twice")?;
    }
    match (target.get_mut(leaf), repeated) {
        (None, false) => {
            target.insert(leaf.to_owned(), value);
        }
        (None, true) => {
            target.insert(leaf.to_owned(), Value::Array(vec![value]));
        }
        (Some(Value::Array(values)), true) => values.push(value),
        (Some(_), _) => return Err("is given more than once"),
    }
    Ok(())
}

/// The proto3 JSON name of a proto field name (`alert_id` → `alertId`).
fn camel(field: &str) -> String {
    let mut name = String::with_capacity(field.len());
    let mut upper = false;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            name.extend(c.to_uppercase());
            upper = false;
        } else {
            name.push(c);
        }
    }
    name
}

/// Decodes the gathered object as `M` by its proto3 JSON mapping; a mismatch is a 400 naming the
/// JSON path of the value refused (`content.priority`).
pub(crate) fn decode<M: DeserializeOwned>(object: Map<String, Value>) -> Result<M, Refused> {
    serde_path_to_error::deserialize(Value::Object(object)).map_err(|error| {
        let field = match error.path().to_string() {
            path if path == "." => "body".to_owned(),
            path => path,
        };
        invalid(&field, error.into_inner().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tulpar_proto::http::HTTP_ROUTES;

    fn route(rpc: &str) -> &'static HttpRoute {
        HTTP_ROUTES.iter().find(|r| r.rpc == rpc).expect("route")
    }

    fn json_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        headers
    }

    #[test]
    fn path_query_and_body_fill_one_message() {
        let list = route("ListAlerts");
        let object = gather(
            list,
            &[],
            Some("pageSize=5&overdueOnly=true"),
            &HeaderMap::new(),
            b"",
        )
        .expect("gathered");
        let request: tulpar_proto::v1::ListAlertsRequest = decode(object).expect("decoded");
        assert_eq!(request.page_size, 5);
        assert!(request.overdue_only);

        let ack = route("Acknowledge");
        let mut headers = json_headers();
        headers.insert(IDEMPOTENCY_KEY, "ack-1".parse().unwrap());
        let object = gather(
            ack,
            &[("alert_id", "0193%2Dab")],
            None,
            &headers,
            br#"{"unit":"KZ-AKTAU-PCU"}"#,
        )
        .expect("gathered");
        let request: tulpar_proto::v1::AcknowledgeRequest = decode(object).expect("decoded");
        assert_eq!(
            (
                request.alert_id.as_str(),
                request.unit.as_str(),
                request.request_id.as_str()
            ),
            ("0193-ab", "KZ-AKTAU-PCU", "ack-1")
        );
    }

    #[tokio::test]
    async fn a_value_of_the_wrong_type_is_named_by_its_json_path() {
        let submit = route("SubmitAlert");
        let object =
            gather(submit, &[], None, &json_headers(), br#"{"priority": 7}"#).expect("gathered");
        let refused = decode::<tulpar_proto::v1::SubmitAlertRequest>(object).expect_err("refused");
        let body = axum::body::to_bytes(refused.into_body(), 1 << 20)
            .await
            .expect("body");
        let status: Value = serde_json::from_slice(&body).expect("Status JSON");
        assert_eq!(
            status["details"][0]["fieldViolations"][0]["field"], "content.priority",
            "{status}"
        );
    }

    #[test]
    fn contradictions_and_strangers_are_refused_naming_the_field() {
        let ack = route("Acknowledge");
        let refused = gather(
            ack,
            &[("alert_id", "a")],
            None,
            &json_headers(),
            br#"{"alertId":"b"}"#,
        )
        .expect_err("refused");
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let list = route("ListAlerts");
        let refused =
            gather(list, &[], Some("colour=red"), &HeaderMap::new(), b"").expect_err("refused");
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let refused =
            gather(ack, &[("alert_id", "a")], None, &HeaderMap::new(), b"{}").expect_err("refused");
        assert_eq!(refused.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let mut headers = json_headers();
        headers.insert(IDEMPOTENCY_KEY, "one".parse().unwrap());
        let refused = gather(
            ack,
            &[("alert_id", "a")],
            None,
            &headers,
            br#"{"requestId":"two"}"#,
        )
        .expect_err("refused");
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let unknown: Result<tulpar_proto::v1::ListAlertsRequest, _> =
            decode(Map::from_iter([("colour".to_owned(), Value::Null)]));
        assert!(unknown.is_err());
    }
}
