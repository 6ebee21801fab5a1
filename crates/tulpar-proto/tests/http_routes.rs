//! The HTTP route table generated from the `google.api.http` options: every client-API RPC has
//! exactly its intended route, and nothing else is exposed over HTTP.

use tulpar_proto::http::{HTTP_ROUTES, HttpBody, HttpMethod, HttpRoute, PathSegment};

/// (service, rpc, method, template, body) of every route the API is meant to have.
const INTENDED: &[(&str, &str, HttpMethod, &str, HttpBody)] = &[
    (
        "AlertService",
        "SubmitAlert",
        HttpMethod::Post,
        "/v1/alerts",
        HttpBody::Field("content"),
    ),
    (
        "AlertService",
        "GetAlert",
        HttpMethod::Get,
        "/v1/alerts/{alert_id}",
        HttpBody::None,
    ),
    (
        "AlertService",
        "GetResponseAttachment",
        HttpMethod::Get,
        "/v1/alerts/{alert_id}/responses/{response_id}/attachments/{index}",
        HttpBody::None,
    ),
    (
        "AlertService",
        "ListAlerts",
        HttpMethod::Get,
        "/v1/alerts",
        HttpBody::None,
    ),
    (
        "AlertService",
        "WatchAlerts",
        HttpMethod::Get,
        "/v1/alerts:watch",
        HttpBody::None,
    ),
    (
        "AlertService",
        "Acknowledge",
        HttpMethod::Post,
        "/v1/alerts/{alert_id}:acknowledge",
        HttpBody::All,
    ),
    (
        "AlertService",
        "RecordOutcome",
        HttpMethod::Post,
        "/v1/alerts/{alert_id}:recordOutcome",
        HttpBody::All,
    ),
    (
        "AlertService",
        "ListOverdue",
        HttpMethod::Get,
        "/v1/overdueAlerts",
        HttpBody::None,
    ),
    (
        "AlertService",
        "ListPeers",
        HttpMethod::Get,
        "/v1/peers",
        HttpBody::None,
    ),
    (
        "AlertService",
        "WhoAmI",
        HttpMethod::Get,
        "/v1/whoami",
        HttpBody::None,
    ),
    (
        "AuditService",
        "GetLatestCheckpoint",
        HttpMethod::Get,
        "/v1/audit/checkpoints/latest",
        HttpBody::None,
    ),
    (
        "AuditService",
        "GetEntries",
        HttpMethod::Get,
        "/v1/audit/entries",
        HttpBody::None,
    ),
    (
        "AuditService",
        "GetInclusionProof",
        HttpMethod::Get,
        "/v1/audit/entries/{leaf_index}/inclusionProof",
        HttpBody::None,
    ),
    (
        "AuditService",
        "GetConsistencyProof",
        HttpMethod::Get,
        "/v1/audit/consistencyProof",
        HttpBody::None,
    ),
    (
        "AuditService",
        "VerifyLedger",
        HttpMethod::Post,
        "/v1/audit/ledger:verify",
        HttpBody::All,
    ),
    (
        "AuditService",
        "Reconcile",
        HttpMethod::Get,
        "/v1/audit/partners/{partner}:reconcile",
        HttpBody::None,
    ),
    (
        "AuditService",
        "GetExchangeReport",
        HttpMethod::Get,
        "/v1/audit/exchangeReport",
        HttpBody::None,
    ),
    (
        "AuditService",
        "ListAlarms",
        HttpMethod::Get,
        "/v1/audit/alarms",
        HttpBody::None,
    ),
];

fn route(service: &str, rpc: &str) -> Vec<&'static HttpRoute> {
    HTTP_ROUTES
        .iter()
        .filter(|r| r.service == format!("tulpar.v1.{service}") && r.rpc == rpc)
        .collect()
}

#[test]
fn every_client_rpc_has_exactly_its_intended_route() {
    for &(service, rpc, method, template, body) in INTENDED {
        let routes = route(service, rpc);
        assert_eq!(
            routes.len(),
            1,
            "{service}.{rpc} has {} routes",
            routes.len()
        );
        let r = routes[0];
        assert_eq!(
            (r.method, r.template, r.body),
            (method, template, body),
            "{service}.{rpc}"
        );
    }
    assert_eq!(
        HTTP_ROUTES.len(),
        INTENDED.len(),
        "a route the test does not know of"
    );
}

#[test]
fn federation_and_administration_are_not_exposed() {
    for r in HTTP_ROUTES {
        assert!(
            r.service == "tulpar.v1.AlertService" || r.service == "tulpar.v1.AuditService",
            "{} {} is bound to HTTP",
            r.service,
            r.rpc
        );
    }
}

#[test]
fn segments_and_verb_spell_the_template() {
    for r in HTTP_ROUTES {
        let mut spelled = String::new();
        for segment in r.segments {
            match segment {
                PathSegment::Literal(text) => spelled += &format!("/{text}"),
                PathSegment::Field(field) => spelled += &format!("/{{{field}}}"),
            }
        }
        if let Some(verb) = r.verb {
            spelled += &format!(":{verb}");
        }
        assert_eq!(spelled, r.template);
    }
}

#[test]
fn streams_are_exactly_watch_and_verify() {
    let streaming: Vec<_> = HTTP_ROUTES
        .iter()
        .filter(|r| r.server_streaming)
        .map(|r| r.rpc)
        .collect();
    assert_eq!(streaming, ["WatchAlerts", "VerifyLedger"]);
}

#[test]
fn query_parameters_are_the_unbound_fields() {
    let names = |rpc: &str| -> Vec<&str> {
        HTTP_ROUTES
            .iter()
            .find(|r| r.rpc == rpc)
            .map(|r| r.query.iter().map(|q| q.name).collect())
            .unwrap_or_default()
    };
    // Body `content`: the idempotency key is the one field left for the query.
    assert_eq!(names("SubmitAlert"), ["requestId"]);
    // Body `*`: no query parameters.
    assert!(names("Acknowledge").is_empty());
    assert_eq!(names("GetInclusionProof"), ["treeSize"]);
    assert_eq!(names("WatchAlerts"), ["resumeFrom", "kinds"]);
    let kinds = HTTP_ROUTES
        .iter()
        .find(|r| r.rpc == "WatchAlerts")
        .map(|r| r.query[1]);
    assert!(kinds.is_some_and(|k| k.repeated));
}

/// No request can match two routes: routes with the same method, verb and length differ in a
/// literal at some position.
#[test]
fn no_two_routes_overlap() {
    for (i, a) in HTTP_ROUTES.iter().enumerate() {
        for b in &HTTP_ROUTES[i + 1..] {
            if a.method != b.method || a.verb != b.verb || a.segments.len() != b.segments.len() {
                continue;
            }
            let distinct = a.segments.iter().zip(b.segments).any(
                |pair| matches!(pair, (PathSegment::Literal(x), PathSegment::Literal(y)) if x != y),
            );
            assert!(distinct, "{} and {} overlap", a.template, b.template);
        }
    }
}

/// Server reflection hands out the descriptors with the http options in them, so a client that
/// reads them learns the routes too.
#[test]
fn reflection_descriptors_carry_the_http_options() {
    let bytes = tulpar_proto::FILE_DESCRIPTOR_SET;
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    for route in HTTP_ROUTES {
        assert!(contains(route.template), "{} is missing", route.template);
    }
    assert!(contains("google/api/annotations.proto"));
}

/// Each path matches exactly the routes it should, with its variables.
#[test]
fn paths_match_their_routes() {
    fn matching(method: HttpMethod, path: &str) -> Vec<(&'static str, Vec<(&'static str, &str)>)> {
        HTTP_ROUTES
            .iter()
            .filter(|r| r.method == method)
            .filter_map(|r| r.match_path(path).map(|vars| (r.rpc, vars)))
            .collect()
    }
    assert_eq!(
        matching(HttpMethod::Get, "/v1/alerts"),
        [("ListAlerts", vec![])]
    );
    assert_eq!(
        matching(HttpMethod::Get, "/v1/alerts:watch"),
        [("WatchAlerts", vec![])]
    );
    assert_eq!(
        matching(HttpMethod::Get, "/v1/alerts/01937f6c"),
        [("GetAlert", vec![("alert_id", "01937f6c")])]
    );
    assert_eq!(
        matching(HttpMethod::Post, "/v1/alerts/01937f6c:recordOutcome"),
        [("RecordOutcome", vec![("alert_id", "01937f6c")])]
    );
    assert_eq!(
        matching(HttpMethod::Get, "/v1/audit/entries/17/inclusionProof"),
        [("GetInclusionProof", vec![("leaf_index", "17")])]
    );
    assert_eq!(
        matching(HttpMethod::Get, "/v1/audit/partners/UZ:reconcile"),
        [("Reconcile", vec![("partner", "UZ")])]
    );
    for unmatched in [
        "/v1/alerts/",
        "/v1/alerts//x",
        "/v1/alerts/x/y",
        "/v1/alerts:nothing",
        "v1/alerts",
        "/v1/alerts/x:acknowledge",
    ] {
        assert!(
            matching(HttpMethod::Get, unmatched).is_empty(),
            "{unmatched}"
        );
    }
    assert!(matching(HttpMethod::Post, "/v1/alerts/:acknowledge").is_empty());
}
