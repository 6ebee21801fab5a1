//! The client API over HTTP/1.1 and JSON, end to end: an alert raised, watched live, answered and
//! audited over HTTP gives what gRPC gives, and every refusal is a Status JSON naming its cause.

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Value, json};
use tulpar_core::proto;
use tulpar_tests::Federation;
use tulpar_tests::http::read_lines_until;

const WAIT: Duration = Duration::from_secs(30);

fn draft() -> Result<Value> {
    Ok(serde_json::to_value(tulpar_core::sample::alert_draft(
        "KZ-AKTAU-PCU",
        "UZ",
    ))?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_raised_watched_answered_and_audited_over_http() -> Result<()> {
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    federation.start_all().await?;
    let (kz, uz) = (&federation.countries["KZ"], &federation.countries["UZ"]);
    let kz_officer = kz.http(Some("KZ-AKTAU-PCU"))?;
    let uz_officer = uz.http(Some("UZ-TASHKENT-PCU"))?;

    // The OpenAPI document is the one generated from the protos.
    let openapi = kz_officer.get("/v1/openapi.json").await?;
    assert_eq!(openapi.status, 200);
    assert_eq!(openapi.body, tulpar_proto::OPENAPI_JSON);

    // UZ's officer watches, as NDJSON, before the alert is raised.
    let watch = uz_officer
        .send("GET", "/v1/alerts:watch", &[], Vec::new())
        .await?;
    assert_eq!(watch.status(), 200);
    assert_eq!(watch.headers()["content-type"], "application/x-ndjson");

    // Raised with an idempotency key; the retry is replayed, other content under it refused.
    let key = [("idempotency-key", "http-test-1")];
    let body = serde_json::to_vec(&draft()?)?;
    let raised = kz_officer
        .call("POST", "/v1/alerts", &key, body.clone())
        .await?;
    assert_eq!(raised.status, 200, "{}", raised.body);
    let raised = raised.json()?;
    let alert_id = raised["alertId"].as_str().context("alertId")?.to_owned();
    assert_eq!(
        raised["replayed"],
        Value::Null,
        "false is omitted in proto3 JSON"
    );
    let again = kz_officer
        .call("POST", "/v1/alerts", &key, body)
        .await?
        .json()?;
    assert_eq!(
        (&again["alertId"], &again["replayed"]),
        (&json!(alert_id), &json!(true))
    );
    let mut other = draft()?;
    other["narrative"] = json!("another consignment");
    let reused = kz_officer
        .call("POST", "/v1/alerts", &key, serde_json::to_vec(&other)?)
        .await?;
    assert_eq!(reused.status, 409, "{}", reused.body);
    assert!(
        reused.json()?["message"]
            .as_str()
            .unwrap_or_default()
            .contains("http-test-1")
    );

    // It reaches UZ's watcher.
    let received = read_lines_until(watch, WAIT, |line| {
        line.contains(&alert_id) && line.contains("ALERT_EVENT_KIND_ALERT_RECEIVED")
    })
    .await?;
    let event: Value = serde_json::from_str(&received)?;
    // proto3 JSON omits defaults: UZ's first entry has no `ledgerIndex`.
    let received_at: u64 = event["ledgerIndex"].as_str().unwrap_or("0").parse()?;

    // UZ acknowledges and reports that nothing was found.
    let ack = uz_officer
        .post(
            &format!("/v1/alerts/{alert_id}:acknowledge"),
            &json!({"acknowledgement": {"decision": "ACKNOWLEDGEMENT_DECISION_ACCEPTED"}}),
        )
        .await?;
    assert_eq!(ack.status, 200, "{}", ack.body);
    let outcome = serde_json::to_value(proto::Outcome {
        result: Some(proto::outcome::Result::NothingFound(proto::NothingFound {})),
        ..Default::default()
    })?;
    let recorded = uz_officer
        .post(
            &format!("/v1/alerts/{alert_id}:recordOutcome"),
            &json!({"outcome": outcome}),
        )
        .await?;
    assert_eq!(recorded.status, 200, "{}", recorded.body);
    let twice = uz_officer
        .post(
            &format!("/v1/alerts/{alert_id}:recordOutcome"),
            &json!({"outcome": outcome}),
        )
        .await?;
    assert_eq!(twice.status, 400, "{}", twice.body);
    assert_eq!(twice.json()?["code"], 9, "FAILED_PRECONDITION");

    // An SSE watcher resuming after the received event sees the answers, with ledger indexes as ids.
    let sse = uz_officer
        .send(
            "GET",
            "/v1/alerts:watch",
            &[
                ("accept", "text/event-stream"),
                ("last-event-id", &received_at.to_string()),
            ],
            Vec::new(),
        )
        .await?;
    assert_eq!(sse.headers()["content-type"], "text/event-stream");
    let first_id = read_lines_until(sse, WAIT, |line| line.starts_with("id:")).await?;
    let first: u64 = first_id.trim_start_matches("id:").trim().parse()?;
    assert!(first > received_at, "{first} resumes after {received_at}");

    // KZ's record over HTTP is the gRPC record, in its JSON mapping.
    let over_http = tulpar_tests::eventually(WAIT, "the outcome back at KZ", || async {
        let record = kz_officer
            .get(&format!("/v1/alerts/{alert_id}"))
            .await?
            .json()?;
        let state = record["recipients"][0]["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Ok((state == "DELIVERY_STATE_OUTCOME_RECORDED").then_some(record))
    })
    .await?;
    let mut grpc = kz.client("KZ-AKTAU-PCU").await?;
    let record = grpc
        .get_alert(proto::GetAlertRequest {
            alert_id: alert_id.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(over_http, serde_json::to_value(&record)?);

    // The focal point fetches an inclusion proof of the alert's entry.
    let focal = kz.http(Some("focal-point"))?;
    let index = record.ledger_index;
    let proof = focal
        .get(&format!("/v1/audit/entries/{index}/inclusionProof"))
        .await?;
    assert_eq!(proof.status, 200, "{}", proof.body);
    let mut audit = kz.audit_client("focal-point").await?;
    let grpc_proof = audit
        .get_inclusion_proof(proto::GetInclusionProofRequest {
            leaf_index: index,
            tree_size: proof.json()?["treeSize"]
                .as_str()
                .context("treeSize")?
                .parse()?,
        })
        .await?
        .into_inner();
    assert_eq!(proof.json()?, serde_json::to_value(&grpc_proof)?);
    federation.country("KZ").stop().await?;
    federation.country("UZ").stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_over_http_is_a_status_json_and_changes_nothing() -> Result<()> {
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    federation.start_all().await?;
    let kz = &federation.countries["KZ"];
    let officer = kz.http(Some("KZ-AKTAU-PCU"))?;
    let status_of = |answer: &tulpar_tests::http::HttpAnswer| -> Result<(u16, i64)> {
        assert_eq!(
            answer.headers["content-type"], "application/json",
            "{}",
            answer.body
        );
        Ok((
            answer.status,
            answer.json()?["code"].as_i64().context("code")?,
        ))
    };

    let anonymous = kz.http(None)?.get("/v1/alerts").await?;
    assert_eq!(status_of(&anonymous)?, (401, 16));
    let malformed = officer
        .call("POST", "/v1/alerts", &[], b"{not json".to_vec())
        .await?;
    assert_eq!(status_of(&malformed)?, (400, 3));
    let mut draft = draft()?;
    draft["priority"] = json!("PRIORITY_SOMEWHAT");
    let unknown_enum = officer.post("/v1/alerts", &draft).await?;
    assert_eq!(status_of(&unknown_enum)?, (400, 3));
    let mut draft = self::draft()?;
    draft["priority"] = json!("PRIORITY_UNSPECIFIED");
    let invalid = officer.post("/v1/alerts", &draft).await?;
    assert_eq!(status_of(&invalid)?, (400, 3));
    let violations = &invalid.json()?["details"][0];
    assert_eq!(
        violations["@type"],
        "type.googleapis.com/google.rpc.BadRequest"
    );
    assert!(
        violations["fieldViolations"]
            .as_array()
            .is_some_and(|v| v.iter().any(|v| v["field"] == "content.priority")),
        "{violations}"
    );
    let nowhere = officer.get("/v1/nothing/here").await?;
    assert_eq!(status_of(&nowhere)?, (404, 5));
    let wrong_method = officer
        .call("DELETE", "/v1/alerts", &[], Vec::new())
        .await?;
    assert_eq!(wrong_method.status, 405);
    assert!(wrong_method.headers["allow"].to_str()?.contains("POST"));
    let too_large = officer
        .announce_body(
            "POST",
            "/v1/alerts",
            tulpar_core::limits::MAX_MESSAGE_BYTES + 1,
        )
        .await?;
    assert_eq!(too_large, 413, "refused before the body is sent");
    let unknown_param = officer.get("/v1/alerts?colour=red").await?;
    assert_eq!(status_of(&unknown_param)?, (400, 3));

    let listed = officer.get("/v1/alerts").await?.json()?;
    assert_eq!(listed, json!({}), "nothing was raised");
    federation.country("KZ").stop().await?;
    federation.country("UZ").stop().await
}
