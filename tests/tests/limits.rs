//! Limits that hold end to end: alerts at every limit of the contract travel the whole path (accepted,
//! queued while the partner is down, delivered, listed, shown and audited), and an outbox never jams:
//! a call a partner refuses as too large is split, and an item it refuses for good is set aside as
//! undeliverable while what follows it is delivered.

use std::net::SocketAddr;
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use prost::Message;
use ring::digest::{SHA256, digest};
use tonic::{Request, Response, Status};
use tulpar_core::limits::{
    MAX_ALERT_BYTES, MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS_TOTAL_BYTES, MAX_MESSAGE_BYTES,
    PAGE_BYTES,
};
use tulpar_core::proto::federation_service_client::FederationServiceClient;
use tulpar_core::proto::federation_service_server::{FederationService, FederationServiceServer};
use tulpar_core::proto::{self, AlertEventKind, DeliveryState, ledger_entry::Kind};
use tulpar_tests::output_text as text;
use tulpar_tests::{Client, Country, Federation, eventually};

const WAIT: Duration = Duration::from_secs(90);
/// A character of four bytes in UTF-8: text limits count characters, so this fills them with bytes.
const WIDE: char = '𓀀';

/// Prints how long the test took to reach `what`, for the figures (not asserted: machines are noisy).
fn phase(start: Instant, what: &str) {
    eprintln!("PHASE {:>8.1?} {what}", start.elapsed());
}

fn federation() -> Result<Federation> {
    Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])
}

fn attachment(name: &str, size: usize, fill: u8) -> proto::Attachment {
    let content = vec![fill; size];
    proto::Attachment {
        file_name: name.into(),
        media_type: "application/octet-stream".into(),
        sha256: hex::encode(digest(&SHA256, &content)),
        size_bytes: size as u64,
        content,
    }
}

/// A draft from KZ to UZ with every free-text field that takes many characters at its limit in
/// four-byte characters (narrative, risk notes, handling restrictions, 100 goods descriptions), and
/// `attachments` of `size` bytes each.
fn draft(tag: &str, attachments: usize, size: usize) -> proto::AlertContent {
    let mut content = tulpar_core::sample::alert_draft("KZ-AKTAU-PCU", "UZ");
    let wide = |n: usize| format!("{tag} {}", String::from(WIDE).repeat(n - tag.len() - 1));
    content.narrative = wide(20_000);
    if let Some(risk) = content.risk.as_mut() {
        risk.notes = wide(5_000);
    }
    if let Some(handling) = content.handling.as_mut() {
        handling.restrictions = wide(1_000);
    }
    let consignment = content.consignment.as_mut().expect("consignment");
    let item = consignment.goods[0].clone();
    consignment.goods = (0..100)
        .map(|_| proto::GoodsItem {
            description: wide(2_000),
            ..item.clone()
        })
        .collect();
    content.attachments = (0..attachments)
        .map(|i| attachment(&format!("scan-{i}.bin"), size, i as u8))
        .collect();
    content
}

/// A plain sample draft from KZ to UZ marked `tag`, with one attachment of `size` bytes if not 0.
fn plain(tag: &str, size: usize) -> proto::AlertContent {
    let mut content = tulpar_core::sample::alert_draft("KZ-AKTAU-PCU", "UZ");
    content.narrative = format!("{tag}: {}", content.narrative);
    if size > 0 {
        content.attachments = vec![attachment("scan.bin", size, 7)];
    }
    content
}

/// The alert at the contract's limits: two attachments of 2 MiB (4 MiB in all) and the text at its
/// limits, close to the largest alert allowed.
fn largest(tag: &str) -> proto::AlertContent {
    draft(tag, 2, MAX_ATTACHMENT_BYTES)
}

async fn submit(
    client: &mut Client,
    request_id: &str,
    content: proto::AlertContent,
) -> Result<String> {
    let response = client
        .submit_alert(proto::SubmitAlertRequest {
            request_id: request_id.into(),
            content: Some(content),
        })
        .await
        .with_context(|| format!("submitting {request_id}"))?;
    Ok(response.into_inner().alert_id)
}

async fn record(client: &mut Client, alert_id: &str) -> Result<proto::AlertRecord> {
    Ok(client
        .get_alert(proto::GetAlertRequest {
            alert_id: alert_id.into(),
        })
        .await?
        .into_inner())
}

/// Waits until `alert_id`'s recipient UZ, seen from KZ, is in `state`.
async fn until_state(
    client: &mut Client,
    alert_id: &str,
    state: DeliveryState,
) -> Result<proto::RecipientStatus> {
    eventually(WAIT, &format!("{alert_id} to be {state:?}"), || {
        let mut client = client.clone();
        async move {
            let record = record(&mut client, alert_id).await?;
            Ok(record
                .recipients
                .into_iter()
                .find(|r| r.country == "UZ" && r.state == state as i32))
        }
    })
    .await
}

/// Every alert `client` lists, page by page, checking each page against the byte budget.
async fn list_all(client: &mut Client, direction: proto::Direction) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut request = proto::ListAlertsRequest {
        direction: direction as i32,
        page_size: 500,
        ..Default::default()
    };
    for _ in 0..100 {
        let page = client.list_alerts(request.clone()).await?.into_inner();
        let size = page.encoded_len();
        assert!(
            page.alerts.len() == 1 || size <= PAGE_BYTES + 64 * 1024,
            "a page of {} alerts in {size} bytes",
            page.alerts.len()
        );
        assert!(size <= MAX_MESSAGE_BYTES);
        ids.extend(
            page.alerts
                .iter()
                .map(|r| r.alert.clone().unwrap_or_default().alert_id),
        );
        if page.next_page_token.is_empty() {
            return Ok(ids);
        }
        request.page_token = page.next_page_token;
    }
    anyhow::bail!("more than 100 pages")
}

fn tulpar(country: &Country, token: &str, args: &[&str]) -> Result<Output> {
    let mut command = country.tulpar()?;
    command
        .args(args)
        .env("TULPAR_TOKEN", &country.tokens[token]);
    Ok(command.output()?)
}

/// Verifies `country`'s ledger with `tulpar audit verify`, which pages through `GetEntries`.
fn audit_verify(country: &Country) -> Result<()> {
    let public = country.dir.join("public");
    let out = tulpar(
        country,
        "focal-point",
        &[
            "audit",
            "verify",
            "--directory",
            public.join("directory.env").to_str().context("path")?,
            "--root-key",
            public.join("root.pub").to_str().context("path")?,
        ],
    )?;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("verified"), "{}", text(&out));
    Ok(())
}

// The attack, as found: alerts at the limits queued while the partner was down never left KZ once it
// returned ("decoded message length too large"), one 2 MiB attachment failed with INTERNAL, two with
// OUT_OF_RANGE, `tulpar alert list` failed on a 65 MB page and `tulpar audit verify` on a 4 MiB+ page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_at_every_limit_travel_the_whole_path() -> Result<()> {
    let t = Instant::now();
    let mut federation = federation()?;
    federation.start_all().await?;
    phase(t, "federation up");
    let started = Instant::now();
    let kz = &federation.countries["KZ"];
    let mut officer = kz.client("KZ-AKTAU-PCU").await?;

    let content = largest("first");
    let total: usize = content.attachments.iter().map(|a| a.content.len()).sum();
    assert_eq!(total, MAX_ATTACHMENTS_TOTAL_BYTES);
    let size = proto::Alert {
        alert_id: "01937f6c-7b5e-7c3a-9d2e-5f0a1b2c3d4e".into(),
        created_at: None,
        content: Some(content.clone()),
    }
    .encoded_len();
    assert!(size > 5_000_000 && size <= MAX_ALERT_BYTES, "{size}");
    let first = submit(&mut officer, "limits-0", content).await?;
    until_state(&mut officer, &first, DeliveryState::Delivered).await?;

    // Several more, queued while UZ is down: at the limits, and with text alone at its limits
    // (about 0.9 MB each; twelve such alerts of 442 kB once jammed an outbox).
    federation.country("UZ").stop().await?;
    let mut sent = vec![first];
    for i in 1..=3 {
        let content = largest(&format!("queued {i}"));
        sent.push(submit(&mut officer, &format!("limits-{i}"), content).await?);
        let content = draft(&format!("text {i}"), 0, 0);
        sent.push(submit(&mut officer, &format!("text-{i}"), content).await?);
    }
    let queued_at = Instant::now();
    federation.country("UZ").start().await?;
    let kz = &federation.countries["KZ"];
    for id in &sent {
        until_state(&mut officer, id, DeliveryState::Delivered).await?;
    }
    eprintln!(
        "FIGURE: 6 queued alerts (3 at the limits, 3 with text at its limits) delivered {:?} after \
         the partner returned; from the first submission {:?}",
        queued_at.elapsed(),
        started.elapsed()
    );

    phase(t, "delivered");
    // Listed on both sides, page by page, each page within its budget.
    let mut listed = list_all(&mut officer, proto::Direction::Sent).await?;
    let mut expected = sent.clone();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
    let uz = &federation.countries["UZ"];
    let mut uz_officer = uz.client("UZ-TASHKENT-PCU").await?;
    let mut received = list_all(&mut uz_officer, proto::Direction::Received).await?;
    received.sort();
    assert_eq!(received, expected);

    phase(t, "listed");
    // Shown whole on the recipient side: the attachments arrived intact.
    let shown = record(&mut uz_officer, &sent[1]).await?;
    let attachments = shown
        .alert
        .and_then(|a| a.content)
        .map(|c| c.attachments)
        .unwrap_or_default();
    assert_eq!(attachments.len(), 2);
    for a in &attachments {
        assert_eq!(a.content.len(), MAX_ATTACHMENT_BYTES);
        assert_eq!(hex::encode(digest(&SHA256, &a.content)), a.sha256);
    }

    // The command line lists them (following pages) and verifies both ledgers.
    let out = tulpar(kz, "focal-point", &["alert", "list", "--limit", "100"])?;
    assert!(out.status.success(), "{}", text(&out));
    for id in &sent {
        assert!(
            text(&out).contains(id.as_str()),
            "{id} not listed: {}",
            text(&out)
        );
    }
    let out = tulpar(uz, "focal-point", &["alert", "show", &sent[1]])?;
    assert!(out.status.success(), "{}", text(&out));
    phase(t, "listed and shown by the command line");
    audit_verify(kz)?;
    audit_verify(uz)?;
    phase(t, "both ledgers verified");
    Ok(())
}

/// A partner's federation endpoint in front of the real UZ node, as an older or differently
/// configured build would be: it refuses calls over `limit` bytes, and passes the rest to UZ.
struct SmallPartner {
    uz: FederationServiceClient<tonic::transport::Channel>,
}

#[tonic::async_trait]
impl FederationService for SmallPartner {
    async fn deliver_alert(
        &self,
        request: Request<proto::DeliverAlertRequest>,
    ) -> Result<Response<proto::DeliverAlertResponse>, Status> {
        self.uz.clone().deliver_alert(request.into_inner()).await
    }

    async fn deliver_alerts(
        &self,
        request: Request<proto::DeliverAlertsRequest>,
    ) -> Result<Response<proto::DeliverAlertsResponse>, Status> {
        self.uz.clone().deliver_alerts(request.into_inner()).await
    }

    async fn deliver_response(
        &self,
        request: Request<proto::DeliverResponseRequest>,
    ) -> Result<Response<proto::DeliverResponseResponse>, Status> {
        self.uz.clone().deliver_response(request.into_inner()).await
    }

    async fn get_directory(
        &self,
        request: Request<proto::GetDirectoryRequest>,
    ) -> Result<Response<proto::GetDirectoryResponse>, Status> {
        self.uz.clone().get_directory(request.into_inner()).await
    }

    async fn get_checkpoint(
        &self,
        request: Request<proto::GetCheckpointRequest>,
    ) -> Result<Response<proto::GetCheckpointResponse>, Status> {
        self.uz.clone().get_checkpoint(request.into_inner()).await
    }

    async fn add_checkpoint(
        &self,
        request: Request<proto::AddCheckpointRequest>,
    ) -> Result<Response<proto::AddCheckpointResponse>, Status> {
        self.uz.clone().add_checkpoint(request.into_inner()).await
    }
}

/// Serves [`SmallPartner`] at `addr` with UZ's node certificate, refusing messages over `limit`.
async fn serve_small_partner(
    federation: &Federation,
    addr: SocketAddr,
    limit: usize,
) -> Result<()> {
    let (kz, uz) = (&federation.countries["KZ"], &federation.countries["UZ"]);
    let identity = tulpar_trust::tls::NodeIdentity::load(&uz.dir.join("node"))?;
    let store = Arc::new(tulpar_trust::TrustStore::open(
        &uz.dir.join("node/trust"),
        Arc::new(tulpar_core::time::SystemClock),
    )?);
    let config = tulpar_trust::tls::federation_server_config(&identity, store)?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let identify: tulpar_node::transport::Identify<()> = Arc::new(|_| Ok(()));
    let limits = tulpar_node::transport::ConnectionLimits {
        max_connections: 64,
        max_connections_per_address: 64,
        max_handshakes: 16,
        idle_timeout: std::time::Duration::from_secs(300),
    };
    let incoming = tulpar_node::transport::tls_incoming(
        listener,
        config,
        identify,
        "small partner",
        limits,
        tulpar_node::transport::TaskTracker::new(),
    );
    let service = FederationServiceServer::new(SmallPartner {
        uz: kz.federation_client(uz)?,
    })
    .max_decoding_message_size(limit);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming),
    );
    Ok(())
}

/// The same alert id as `alert_id` with other content, signed by KZ-AKTAU-PCU's own key.
fn conflicting(federation: &Federation, alert_id: &str) -> Result<proto::Envelope> {
    let key = tulpar_trust::keyfile::read_private_key(
        &federation.countries["KZ"]
            .dir
            .join("node/units/KZ-AKTAU-PCU.key"),
    )?;
    let mut content = tulpar_core::sample::alert_draft("KZ-AKTAU-PCU", "UZ");
    content.narrative = "Other content under a taken id.".into();
    let alert = proto::Alert {
        alert_id: alert_id.into(),
        // The same instant as the id's, as an origin node makes them; only the content differs.
        created_at: Some(tulpar_core::time::to_timestamp(
            tulpar_core::ids::AlertId::parse(alert_id)?.time(),
        )),
        content: Some(content),
    };
    Ok(tulpar_core::envelope::sign(
        tulpar_core::envelope::PayloadType::Alert,
        alert.encode_to_vec(),
        &[&key],
    ))
}

// The attack, as found: eight alerts with 800 KiB attachments in front of a partner that refuses
// messages over 4 MiB blocked twenty small alerts behind them for good, and the sender was not told.
// Here the partner refuses calls over 1 MiB; one alert is too large for it even alone, and another is
// refused on its own because the partner already holds other content under its id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_items_are_set_aside_and_the_rest_flows() -> Result<()> {
    let t = Instant::now();
    let mut federation = federation()?;
    let small_partner: SocketAddr = format!("127.0.0.1:{}", tulpar_tests::free_port()?).parse()?;
    // KZ reaches UZ only through the small partner, which is not up yet: everything queues.
    let kz_config = federation.countries["KZ"].config_path();
    let config = std::fs::read_to_string(&kz_config)?.replace(
        "[federation]\n",
        &format!("[federation]\nendpoints = {{ UZ = \"{small_partner}\" }}\n"),
    );
    std::fs::write(&kz_config, config)?;
    // Processes, whose logs tell how each side handled the refusals.
    federation.start_all_processes().await?;
    let kz = &federation.countries["KZ"];
    let mut officer = kz.client("KZ-AKTAU-PCU").await?;

    // Queued in this order, they make one call of 2.8 MB: refused, then split (see the log).
    let too_large = submit(&mut officer, "too-large", plain("too large", 1536 * 1024)).await?;
    let mut medium = Vec::new();
    for i in 0..4 {
        let content = plain(&format!("medium {i}"), 300 * 1024);
        medium.push(submit(&mut officer, &format!("medium-{i}"), content).await?);
    }
    let taken = submit(&mut officer, "taken", plain("taken", 0)).await?;
    let behind = submit(&mut officer, "behind", plain("behind", 0)).await?;
    // UZ already holds other content under `taken`'s id (delivered straight to it).
    let mut to_uz = kz.federation_client(&federation.countries["UZ"])?;
    to_uz
        .deliver_alert(proto::DeliverAlertRequest {
            alert: Some(conflicting(&federation, &taken)?),
        })
        .await?;

    let mut focal = kz.client("focal-point").await?;
    let mut events = focal
        .watch_alerts(proto::WatchAlertsRequest {
            resume_from: Some(0),
            kinds: vec![AlertEventKind::Undeliverable as i32],
        })
        .await?
        .into_inner();
    phase(t, "queued");
    serve_small_partner(&federation, small_partner, 1024 * 1024).await?;

    // What the partner took is delivered, in spite of what it refused before and among it.
    for id in medium.iter().chain([&behind]) {
        until_state(&mut officer, id, DeliveryState::Delivered).await?;
    }
    phase(t, "delivered what the partner took");
    let refused = until_state(&mut officer, &too_large, DeliveryState::Undeliverable).await?;
    let step = refused.timeline.last().context("a step")?;
    assert!(step.reason.contains("OutOfRange"), "{}", step.reason);
    assert!(!refused.overdue);
    let refused = until_state(&mut officer, &taken, DeliveryState::Undeliverable).await?;
    let step = refused.timeline.last().context("a step")?;
    assert!(step.reason.contains("AlreadyExists"), "{}", step.reason);

    // The focal point is told of both, in the order they were set aside.
    let mut told = Vec::new();
    while told.len() < 2 {
        let event = tokio::time::timeout(WAIT, events.message())
            .await
            .context("waiting for an event")??
            .context("the stream ended")?;
        assert_eq!(event.kind, AlertEventKind::Undeliverable as i32);
        assert_eq!(event.country, "UZ");
        told.push(event.alert_id);
    }
    told.sort();
    let mut expected = vec![too_large.clone(), taken.clone()];
    expected.sort();
    assert_eq!(told, expected);

    phase(t, "set aside and told");
    // ListPeers counts them and names the last; the outbox is empty.
    let peers = focal
        .list_peers(proto::ListPeersRequest {})
        .await?
        .into_inner();
    let uz = peers
        .peers
        .iter()
        .find(|p| p.country == "UZ")
        .context("UZ")?;
    assert_eq!(uz.undeliverable, 2, "{uz:?}");
    assert_eq!(uz.outbox_depth, 0, "{uz:?}");
    assert!(
        uz.last_undeliverable_reason.contains(&taken)
            || uz.last_undeliverable_reason.contains(&too_large),
        "{uz:?}"
    );
    let out = tulpar(kz, "focal-point", &["peers"])?;
    assert!(text(&out).contains("undeliverable"), "{}", text(&out));
    let out = tulpar(kz, "focal-point", &["alert", "show", &taken])?;
    assert!(text(&out).contains("undeliverable"), "{}", text(&out));

    // The partner split the call it refused as too large, and the sender said so in its log.
    let log = kz.log();
    assert!(log.contains("sending it in halves"), "{log}");
    assert!(log.contains("set aside as undeliverable"), "{log}");
    let uz_log = federation.countries["UZ"].log();
    assert!(
        uz_log.contains("already delivered with different content"),
        "{uz_log}"
    );

    // The ledger records each set-aside with the partner's code.
    let mut audit = kz.audit_client("focal-point").await?;
    let mut abandoned = Vec::new();
    let mut start = 0;
    loop {
        let page = audit
            .get_entries(proto::GetEntriesRequest {
                start,
                end: start + 1000,
            })
            .await?
            .into_inner();
        let Some(last) = page.entries.last() else {
            break;
        };
        start = last.index + 1;
        for entry in page.entries.into_iter().filter_map(|e| e.entry) {
            if let Some(Kind::DeliveryAbandoned(found)) = entry.kind {
                abandoned.push((entry.alert_id, found.country, found.code));
            }
        }
    }
    phase(t, "ledger read");
    abandoned.sort();
    let mut expected = vec![
        (too_large, "UZ".to_owned(), tonic::Code::OutOfRange as i32),
        (taken, "UZ".to_owned(), tonic::Code::AlreadyExists as i32),
    ];
    expected.sort();
    assert_eq!(abandoned, expected);
    audit_verify(kz)?;
    phase(t, "ledger verified");
    Ok(())
}
