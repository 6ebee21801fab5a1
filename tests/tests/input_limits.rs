//! Limits on what callers and partners send, end to end, each with the attack scripted: a full disk,
//! a request id reused for other content, undecodable requests, errors that would echo megabytes,
//! and bounds a partner could push past (dates, ids, units).

use std::time::{Duration, SystemTime};

use anyhow::Result;
use prost::Message;
use prost::bytes::{Buf, BufMut};
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_types::StatusExt;
use tulpar_core::envelope::{PayloadType, sign};
use tulpar_core::ids::AlertId;
use tulpar_core::keys::SigningKey;
use tulpar_core::limits::{MAX_RECIPIENT_UNITS, MAX_VIOLATIONS_LISTED};
use tulpar_core::proto::{self, federation_service_client::FederationServiceClient};
use tulpar_core::sample::alert_draft;
use tulpar_core::time::to_timestamp;
use tulpar_rpc::violations_of;
use tulpar_tests::{Country, Federation, eventually};
use tulpar_trust::keyfile;

fn federation() -> Result<Federation> {
    Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])
}

fn submit(request_id: &str, content: proto::AlertContent) -> proto::SubmitAlertRequest {
    proto::SubmitAlertRequest {
        request_id: request_id.to_owned(),
        content: Some(content),
    }
}

/// A TLS channel to `country`'s client API, without credentials.
fn api_channel(country: &Country) -> Result<tonic::transport::Channel> {
    let config = tulpar_trust::tls::api_client_config(&country.national_ca()?, None)?;
    tulpar_rpc::tls_channel(
        &country.client_addr.to_string(),
        config,
        Duration::from_secs(2),
        Duration::from_secs(10),
    )
    .map_err(anyhow::Error::msg)
}

async fn health(country: &Country, service: &str) -> Result<ServingStatus> {
    let mut client = HealthClient::new(api_channel(country)?);
    let response = client
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await?;
    Ok(response.into_inner().status())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_makes_the_node_unavailable_until_space_is_back() -> Result<()> {
    let mut federation = federation()?;
    federation.country("KZ").start().await?;
    let kz_country = &federation.countries["KZ"];
    let kz = kz_country.node()?;
    let mut officer = kz_country.client("KZ-AKTAU-PCU").await?;
    let first = officer
        .submit_alert(submit("before", alert_draft("KZ-AKTAU-PCU", "UZ")))
        .await?
        .into_inner();
    assert_eq!(health(kz_country, "").await?, ServingStatus::Serving);

    // The disk fills up: every write fails after writing part of its frame, until space is back.
    kz.fail_next_ledger_writes(u32::MAX);
    for attempt in ["full-1", "full-2"] {
        let status = officer
            .submit_alert(submit(attempt, alert_draft("KZ-AKTAU-PCU", "UZ")))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert!(status.message().contains("cannot write"), "{status:?}");
        assert!(status.get_details_retry_info().is_some(), "{status:?}");
    }
    for service in ["", "tulpar.v1.AlertService", "tulpar.v1.AuditService"] {
        eventually(Duration::from_secs(20), "NOT_SERVING", || async {
            Ok((health(kz_country, service).await? == ServingStatus::NotServing).then_some(()))
        })
        .await?;
    }

    // Space is back: the node notices on its own, and appends resume without a restart.
    kz.fail_next_ledger_writes(0);
    eventually(Duration::from_secs(20), "SERVING again", || async {
        Ok((health(kz_country, "").await? == ServingStatus::Serving).then_some(()))
    })
    .await?;
    let after = officer
        .submit_alert(submit("full-1", alert_draft("KZ-AKTAU-PCU", "UZ")))
        .await?
        .into_inner();
    assert!(!after.replayed);
    assert_eq!(after.ledger_index, first.ledger_index + 1);
    federation.country("KZ").stop().await?;
    Ok(())
}

/// Sends `body` as the raw bytes of a `SubmitAlertRequest`.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let bytes = buf.chunk().to_vec();
        buf.advance(bytes.len());
        Ok(Some(bytes))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_short_invalid_argument_answers() -> Result<()> {
    let mut federation = federation()?;
    federation.start_all().await?;
    let kz = &federation.countries["KZ"];
    let mut officer = kz.client("KZ-AKTAU-PCU").await?;

    // A request id reused for another alert is refused; the same alert again is replayed.
    let first = officer
        .submit_alert(submit("order-17", alert_draft("KZ-AKTAU-PCU", "UZ")))
        .await?
        .into_inner();
    let replay = officer
        .submit_alert(submit("order-17", alert_draft("KZ-AKTAU-PCU", "UZ")))
        .await?
        .into_inner();
    assert!(replay.replayed);
    assert_eq!(replay.alert_id, first.alert_id);
    let mut other = alert_draft("KZ-AKTAU-PCU", "UZ");
    other.narrative = "A different consignment altogether.".into();
    let status = officer
        .submit_alert(submit("order-17", other))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert!(status.message().contains("request_id"), "{status:?}");

    // Bytes that are no SubmitAlertRequest: invalid UTF-8 in request_id, a varint that never ends,
    // and a content field claiming four gigabytes.
    let token = &kz.tokens["KZ-AKTAU-PCU"];
    for body in [
        vec![0x0a, 0x02, 0xff, 0xfe],
        vec![0xff; 12],
        vec![0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01],
    ] {
        let mut grpc = tonic::client::Grpc::new(api_channel(kz)?);
        grpc.ready().await?;
        let mut request = tonic::Request::new(body.clone());
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        let path = tonic::codegen::http::uri::PathAndQuery::from_static(
            "/tulpar.v1.AlertService/SubmitAlert",
        );
        let status = grpc.unary(request, path, RawCodec).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{body:02x?}: {status:?}"
        );
        assert!(status.message().len() < 300, "{status:?}");
    }

    // A megabyte of alert id comes back as a short quote.
    let status = officer
        .get_alert(proto::GetAlertRequest {
            alert_id: "0".repeat(1 << 20),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().len() < 300, "{}", status.message().len());

    // Sixty recipients that are all wrong: the list is capped and counted, and fits the client's
    // metadata limits (else the client would see RESOURCE_EXHAUSTED or INTERNAL instead).
    let mut many = alert_draft("KZ-AKTAU-PCU", "UZ");
    many.recipients = (0..60)
        .map(|i| proto::Recipient {
            country: format!("{i:02}{}", "Z".repeat(200)),
            units: vec![],
        })
        .collect();
    let status = officer.submit_alert(submit("", many)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let lines = violations_of(&status);
    assert!(lines.len() <= MAX_VIOLATIONS_LISTED + 1, "{lines:?}");
    assert!(
        lines.last().is_some_and(|l| l.ends_with("more")),
        "{lines:?}"
    );
    assert!(status.message().ends_with("more"), "{}", status.message());

    // An officer's typo in a partner's unit is caught at submission, naming the unit's place.
    let mut typo = alert_draft("KZ-AKTAU-PCU", "UZ");
    typo.recipients[0].units = vec!["UZ-TASHKNT-PCU".into()];
    let status = officer.submit_alert(submit("", typo)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let lines = violations_of(&status);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("content.recipients[0].units[0]: UZ-TASHKNT-PCU")),
        "{lines:?}"
    );
    Ok(())
}

/// An alert to KZ from `unit` with `id` and `created_at`, signed by `key`.
fn alert(
    unit: &str,
    id: AlertId,
    created_at: SystemTime,
    units: Vec<String>,
    key: &SigningKey,
) -> proto::Envelope {
    let mut content = alert_draft(unit, "KZ");
    content.recipients[0].units = units;
    let alert = proto::Alert {
        alert_id: id.to_string(),
        created_at: Some(to_timestamp(created_at)),
        content: Some(content),
    };
    sign(PayloadType::Alert, alert.encode_to_vec(), &[key])
}

async fn deliver(
    client: &mut FederationServiceClient<tonic::transport::Channel>,
    alert: proto::Envelope,
) -> tonic::Status {
    match client
        .deliver_alert(proto::DeliverAlertRequest { alert: Some(alert) })
        .await
    {
        Ok(_) => tonic::Status::ok("accepted"),
        Err(status) => status,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_cannot_push_alerts_past_the_bounds() -> Result<()> {
    let mut federation = federation()?;
    federation.start_all().await?;
    let mut from_uz = federation.countries["UZ"].federation_client(&federation.countries["KZ"])?;
    let key = keyfile::read_private_key(
        &federation.countries["UZ"]
            .dir
            .join("node/units/UZ-TASHKENT-PCU.key"),
    )?;
    let unit = "UZ-TASHKENT-PCU";
    let now = SystemTime::now();

    // Dated 2099, so that its deadline never passes.
    let later = SystemTime::UNIX_EPOCH + Duration::from_secs(4_070_908_800);
    let status = deliver(
        &mut from_uz,
        alert(unit, AlertId::new_at(later), later, vec![], &key),
    )
    .await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("max_clock_skew"), "{status:?}");

    // An id minted an hour before the alert's own date.
    let earlier = now - Duration::from_secs(3600);
    let status = deliver(
        &mut from_uz,
        alert(unit, AlertId::new_at(earlier), now, vec![], &key),
    )
    .await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("alert_id"), "{status:?}");

    // Ten thousand units.
    let units = (0..10_000).map(|i| format!("KZ-U{i}-PCU")).collect();
    let status = deliver(
        &mut from_uz,
        alert(unit, AlertId::new_at(now), now, units, &key),
    )
    .await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status
            .message()
            .contains(&format!("at most {MAX_RECIPIENT_UNITS}")),
        "{status:?}"
    );

    // A unit KZ's directory does not list.
    let status = deliver(
        &mut from_uz,
        alert(
            unit,
            AlertId::new_at(now),
            now,
            vec!["KZ-AKTAUX-PCU".into()],
            &key,
        ),
    )
    .await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("content.recipients[0].units[0]"),
        "{status:?}"
    );

    // Within the bounds, the same alert is received.
    let id = AlertId::new_at(now);
    let status = deliver(
        &mut from_uz,
        alert(unit, id, now, vec!["KZ-AKTAU-PCU".into()], &key),
    )
    .await;
    assert_eq!(status.code(), Code::Ok, "{status:?}");

    // Its acknowledgement's request id cannot be reused for another answer; the same answer is
    // replayed.
    let mut officer = federation.countries["KZ"].client("KZ-AKTAU-PCU").await?;
    let acknowledge =
        |decision: proto::AcknowledgementDecision, note: &str| proto::AcknowledgeRequest {
            request_id: "ack-1".into(),
            alert_id: id.to_string(),
            unit: "KZ-AKTAU-PCU".into(),
            acknowledgement: Some(proto::Acknowledgement {
                decision: decision.into(),
                note: note.into(),
            }),
        };
    let accepted = proto::AcknowledgementDecision::Accepted;
    let first = officer
        .acknowledge(acknowledge(accepted, ""))
        .await?
        .into_inner();
    let again = officer
        .acknowledge(acknowledge(accepted, ""))
        .await?
        .into_inner();
    assert!(again.replayed);
    assert_eq!(again.response_id, first.response_id);
    let status = officer
        .acknowledge(acknowledge(
            proto::AcknowledgementDecision::Declined,
            "Not ours.",
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert!(status.message().contains("request_id"), "{status:?}");
    Ok(())
}
