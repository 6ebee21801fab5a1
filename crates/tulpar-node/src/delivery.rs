//! Store-and-forward delivery to partners: one worker per partner drains its outbox (a view of the
//! ledger), retries with capped exponential backoff and jitter, and starts again at once when the partner
//! is heard from.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::Notify;
use tonic::transport::Channel;
use tulpar_core::codes::CountryCode;
use tulpar_core::envelope::{self, PayloadType, payload_digest};
use tulpar_core::keys::KeyId;
use tulpar_core::proto::{
    self, federation_service_client::FederationServiceClient, ledger_entry::Kind,
};
use tulpar_core::time::{from_timestamp, to_timestamp};
use tulpar_trust::directory::Purpose;

use crate::node::Shared;
use crate::state::OutboxItem;

/// What is known about a partner, for `ListPeers` and the backoff.
#[derive(Debug, Clone, Default)]
pub(crate) struct PartnerStatus {
    /// Last successful exchange in either direction.
    pub(crate) last_contact: Option<SystemTime>,
    /// The last delivery failure, cleared by a success.
    pub(crate) last_error: Option<String>,
    /// When the worker tries again, while backing off.
    pub(crate) next_attempt: Option<SystemTime>,
}

struct Partner {
    wake: Notify,
    status: Mutex<PartnerStatus>,
    channel: Mutex<Option<(String, Channel)>>,
}

/// Shared handle to the delivery workers.
#[derive(Default)]
pub(crate) struct Delivery {
    partners: Mutex<BTreeMap<CountryCode, Arc<Partner>>>,
}

impl Delivery {
    fn partner(&self, country: CountryCode) -> Arc<Partner> {
        let mut partners = self.partners.lock().unwrap_or_else(|p| p.into_inner());
        partners
            .entry(country)
            .or_insert_with(|| {
                Arc::new(Partner {
                    wake: Notify::new(),
                    status: Mutex::new(PartnerStatus::default()),
                    channel: Mutex::new(None),
                })
            })
            .clone()
    }

    /// Something new waits for these partners.
    pub(crate) fn wake(&self, countries: &[CountryCode]) {
        for country in countries {
            self.partner(*country).wake.notify_one();
        }
    }

    /// The partner just reached us: it is up, so any backoff towards it ends now.
    pub(crate) fn contact(&self, country: CountryCode) {
        let partner = self.partner(country);
        let was_failing = {
            let mut status = partner.status.lock().unwrap_or_else(|p| p.into_inner());
            status.last_contact = Some(SystemTime::now());
            status.next_attempt.is_some()
        };
        if was_failing {
            partner.wake.notify_one();
        }
    }

    /// What is known about `country`.
    pub(crate) fn status(&self, country: CountryCode) -> PartnerStatus {
        self.partner(country)
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Runs the worker for `partner` until the node shuts down (when `node` is dropped).
pub(crate) async fn run_worker(node: Weak<Shared>, country: CountryCode) {
    let Some(partner) = node.upgrade().map(|n| n.delivery.partner(country)) else {
        return;
    };
    let mut backoff: Option<Duration> = None;
    loop {
        let Some(shared) = node.upgrade() else { return };
        let outcome = drain(&shared, country, &partner).await;
        let (initial, max) = (
            shared.config.delivery.initial_backoff,
            shared.config.delivery.max_backoff,
        );
        drop(shared);
        let wait = match outcome {
            Ok(()) => {
                backoff = None;
                None
            }
            Err(error) => {
                let next = backoff.map_or(initial, |b| (b * 2).min(max));
                backoff = Some(next);
                let wait = jitter(next);
                tracing::warn!(peer.country = %country, %error, retry_in_ms = wait.as_millis() as u64, "delivery failed");
                let mut status = partner.status.lock().unwrap_or_else(|p| p.into_inner());
                status.last_error = Some(error);
                status.next_attempt = Some(SystemTime::now() + wait);
                Some(wait)
            }
        };
        match wait {
            None => partner.wake.notified().await,
            Some(wait) => {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = partner.wake.notified() => {}
                }
            }
        }
    }
}

/// A random wait between half and all of `backoff`, so that many nodes retrying do not move in step.
fn jitter(backoff: Duration) -> Duration {
    let mut byte = [0u8; 2];
    let random = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut byte)
        .map(|()| u16::from_le_bytes(byte))
        .unwrap_or(u16::MAX);
    backoff / 2 + backoff.mul_f64(f64::from(random) / f64::from(u16::MAX) / 2.0)
}

/// Delivers everything in `country`'s outbox, keeping up to `delivery.concurrency` deliveries in
/// flight and refilling as each completes (items queued meanwhile are picked up too). Returns when the
/// outbox is empty, or at the first failure.
async fn drain(node: &Shared, country: CountryCode, partner: &Partner) -> Result<(), String> {
    let client = FederationServiceClient::new(partner_channel(node, country, partner)?);
    let concurrency = node.config.delivery.concurrency;
    let mut in_flight = FuturesUnordered::new();
    let mut cursor = None;
    loop {
        if in_flight.len() < concurrency {
            let items = node
                .state
                .outbox(country, cursor, concurrency - in_flight.len())
                .map_err(|e| e.to_string())?;
            for (index, item) in items {
                cursor = Some(index);
                in_flight.push(deliver_one(node, country, client.clone(), index, item));
            }
        }
        match in_flight.next().await {
            None => return Ok(()),
            Some(Err(error)) => return Err(error),
            Some(Ok(())) => {
                let mut status = partner.status.lock().unwrap_or_else(|p| p.into_inner());
                status.last_contact = Some(SystemTime::now());
                status.last_error = None;
                status.next_attempt = None;
            }
        }
    }
}

/// The channel to `country`'s node, rebuilt when its endpoint changes.
fn partner_channel(
    node: &Shared,
    country: CountryCode,
    partner: &Partner,
) -> Result<Channel, String> {
    let endpoint = node.partner_endpoint(country)?;
    let mut cached = partner.channel.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((known, channel)) = cached.as_ref() {
        if *known == endpoint {
            return Ok(channel.clone());
        }
    }
    let channel = node.connect_partner(country, &endpoint)?;
    *cached = Some((endpoint, channel.clone()));
    Ok(channel)
}

async fn deliver_one(
    node: &Shared,
    country: CountryCode,
    mut client: FederationServiceClient<Channel>,
    index: u64,
    item: OutboxItem,
) -> Result<(), String> {
    // A receipt recorded since the outbox was read (e.g. by an earlier pass) settles it.
    if !node
        .state
        .in_outbox(country, index)
        .map_err(|e| e.to_string())?
    {
        return Ok(());
    }
    let entry = node.entry(index).map_err(|e| e.to_string())?;
    let (envelope, is_response) = match entry.kind {
        Some(Kind::AlertSent(sent)) => (sent.alert, false),
        Some(Kind::ResponseSent(sent)) => (sent.response, true),
        _ => (None, false),
    };
    let envelope =
        envelope.ok_or_else(|| format!("outbox entry {index} holds nothing to deliver"))?;
    let receipt = if is_response {
        let request = proto::DeliverResponseRequest {
            response: Some(envelope.clone()),
        };
        client
            .deliver_response(request)
            .await
            .map(|r| r.into_inner().receipt)
    } else {
        let request = proto::DeliverAlertRequest {
            alert: Some(envelope.clone()),
        };
        client
            .deliver_alert(request)
            .await
            .map(|r| r.into_inner().receipt)
    }
    .map_err(|status| format!("{}: {}", status.code(), status.message()))?
    .ok_or_else(|| format!("{country} answered without a receipt"))?;
    let checked = check_receipt(node, country, &receipt, &item, &envelope)?;
    let now = node.clock.now();
    let entry = proto::LedgerEntry {
        recorded_at: Some(to_timestamp(now)),
        alert_id: item.alert_id.clone(),
        kind: Some(Kind::ReceiptReceived(proto::ReceiptReceived {
            receipt: Some(receipt),
            from_country: country.to_string(),
        })),
    };
    let appended = node.append(entry).await.map_err(|e| e.to_string())?;
    tracing::info!(
        alert.id = %item.alert_id,
        peer.country = %country,
        ledger.index = appended.index,
        peer.ledger_index = checked.ledger_index,
        "delivered"
    );
    Ok(())
}

/// Checks a partner's receipt: signed by its node key, and about exactly what was delivered.
fn check_receipt(
    node: &Shared,
    country: CountryCode,
    receipt: &proto::Envelope,
    item: &OutboxItem,
    delivered: &proto::Envelope,
) -> Result<proto::DeliveryReceipt, String> {
    let directory = node
        .trust
        .directory(country)
        .ok_or_else(|| format!("no verified directory of {country} to check its receipt"))?;
    let resolve = |id: &KeyId| {
        directory
            .node_keys()
            .iter()
            .find(|k| k.key_id == *id)
            .map(|k| k.public_key)
    };
    let verified = envelope::verify(receipt, PayloadType::Receipt, &resolve)
        .map_err(|e| format!("receipt from {country} refused: {e}"))?;
    let body: proto::DeliveryReceipt = verified
        .decode()
        .map_err(|e| format!("receipt from {country}: {e}"))?;
    let at = body
        .received_at
        .as_ref()
        .and_then(from_timestamp)
        .unwrap_or_else(SystemTime::now);
    let signed_by_valid_key = verified.signers().iter().any(|id| {
        node.trust
            .check_node_key(country, id, Purpose::Receipt, at)
            .is_ok()
    });
    let matches = body.alert_id == item.alert_id
        && body.response_id == item.response_id
        && body.sender_country == node.country.as_str()
        && body.recipient_country == country.as_str()
        && body.payload_sha256 == payload_digest(delivered);
    if !signed_by_valid_key {
        return Err(format!(
            "receipt from {country} is not signed by a current receipt key of its node"
        ));
    }
    if !matches {
        return Err(format!(
            "receipt from {country} does not describe what was delivered"
        ));
    }
    Ok(body)
}
