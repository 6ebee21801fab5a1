//! The HTTP/JSON routes of the API, read from the `google.api.http` options of the `.proto` files
//! when this crate is built.
//!
//! Each route binds one RPC to an HTTP method and a path template, after the rules of
//! `proto/google/api/http.proto`: path variables and query parameters fill fields of the request
//! message, and the body (in the proto3 JSON mapping) fills the rest or one field. Only the client
//! API (`AlertService`, `AuditService`) is bound; federation and administration stay gRPC only.

/// An HTTP method a route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `PATCH`
    Patch,
}

impl HttpMethod {
    /// The method's name as sent on the wire (`"GET"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
            Self::Patch => "PATCH",
        }
    }
}

/// One `/`-separated segment of a path template (the custom verb excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PathSegment {
    /// A segment that must be exactly this text.
    Literal(&'static str),
    /// `{field}`: any one non-empty segment, percent-decoded into this top-level field of the
    /// request (its proto name, e.g. `alert_id`).
    Field(&'static str),
}

/// What the request body of a route carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpBody {
    /// No body; fields not bound by the path come from the query string.
    None,
    /// `*`: the body is the request message, less the fields bound by the path; no query parameters.
    All,
    /// The body is this top-level field of the request (its proto name); the other fields not bound
    /// by the path come from the query string.
    Field(&'static str),
}

/// How a query parameter's text becomes a JSON value for the request's proto3 JSON decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamKind {
    /// `true` or `false`, written as a JSON boolean.
    Bool,
    /// An integer of any width; proto3 JSON accepts it as a string.
    Integer,
    /// `float` or `double`; proto3 JSON accepts it as a string.
    Float,
    /// Text, kept as a JSON string.
    String,
    /// Base64 of `bytes`, kept as a JSON string.
    Bytes,
    /// An enum value's name, kept as a JSON string.
    Enum,
    /// An RFC 3339 timestamp (`google.protobuf.Timestamp`), kept as a JSON string.
    Timestamp,
    /// A duration such as `"1.5s"` (`google.protobuf.Duration`), kept as a JSON string.
    Duration,
}

/// A query parameter of a route: a leaf field of the request, reached through non-repeated message
/// fields, that neither the path nor the body binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueryParam {
    /// The name in the URL: dotted proto3 JSON names (`pageSize`, `createdAfter`).
    pub name: &'static str,
    /// The same path in proto field names (`page_size`, `created_after`).
    pub field: &'static str,
    /// How its text becomes a JSON value.
    pub kind: ParamKind,
    /// Whether it may be given several times (`?kinds=A&kinds=B`), each value one list element.
    pub repeated: bool,
}

/// One HTTP route: an RPC bound to a method and a path template.
///
/// A request path matches when, after the custom verb (the text after the last `:` of the last
/// segment) is split off, it has as many segments as `segments`, each literal equal and each field
/// segment non-empty, and the verb equals `verb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HttpRoute {
    /// The HTTP method.
    pub method: HttpMethod,
    /// The template as written in the `.proto` file, e.g. `/v1/alerts/{alert_id}:acknowledge`.
    pub template: &'static str,
    /// The template's segments, without the leading empty one or the verb.
    pub segments: &'static [PathSegment],
    /// The custom verb (`acknowledge`), if any.
    pub verb: Option<&'static str>,
    /// What the body carries.
    pub body: HttpBody,
    /// The query parameters the route takes (none when the body is `*`).
    pub query: &'static [QueryParam],
    /// The gRPC service's full name, e.g. `tulpar.v1.AlertService`.
    pub service: &'static str,
    /// The RPC's name within the service, e.g. `Acknowledge`; also the OpenAPI `operationId`.
    pub rpc: &'static str,
    /// Whether the RPC streams its answer (served as NDJSON, or as Server-Sent Events on `GET`).
    pub server_streaming: bool,
}

impl HttpRoute {
    /// Matches a request path (without the query string, not yet percent-decoded) against this
    /// route's template, and returns each path variable's field with its raw text, in template order;
    /// `None` when the path does not match. The method is not compared.
    ///
    /// ```
    /// use tulpar_proto::http::HTTP_ROUTES;
    ///
    /// let acknowledge = HTTP_ROUTES.iter().find(|r| r.rpc == "Acknowledge").unwrap();
    /// assert_eq!(
    ///     acknowledge.match_path("/v1/alerts/0193-ab:acknowledge"),
    ///     Some(vec![("alert_id", "0193-ab")])
    /// );
    /// assert_eq!(acknowledge.match_path("/v1/alerts/0193-ab"), None);
    /// ```
    pub fn match_path<'p>(&self, path: &'p str) -> Option<Vec<(&'static str, &'p str)>> {
        let path = path.strip_prefix('/')?;
        let last_segment = path.rfind('/').map_or(0, |slash| slash + 1);
        let (path, verb) = match path[last_segment..].rfind(':') {
            Some(colon) => (
                &path[..last_segment + colon],
                Some(&path[last_segment + colon + 1..]),
            ),
            None => (path, None),
        };
        if verb != self.verb {
            return None;
        }
        let mut fields = Vec::new();
        let mut parts = path.split('/');
        for segment in self.segments {
            let part = parts.next()?;
            match segment {
                PathSegment::Literal(text) if part == *text => {}
                PathSegment::Field(field) if !part.is_empty() => fields.push((*field, part)),
                _ => return None,
            }
        }
        parts.next().is_none().then_some(fields)
    }
}

/// Every HTTP route of the API, in the order the services and methods appear in the `.proto` files.
pub const HTTP_ROUTES: &[HttpRoute] = include!(concat!(env!("OUT_DIR"), "/http_routes.rs"));
