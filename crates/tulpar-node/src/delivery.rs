//! Store-and-forward delivery to partners: one worker per partner drains its outbox (a view of the
//! ledger), retries with capped exponential backoff and jitter, and starts again at once when the partner
//! is heard from.
//!
//! The outbox never jams: calls are capped by bytes as well as by count, a call the partner refuses as
//! too large is split in halves and sent again at once, and an item the partner refuses for good (see
//! [`Refusal::permanent`]) is set aside as undeliverable — recorded in the ledger, shown in the alert's
//! timeline, `ListPeers` and to focal points — so that what follows it keeps flowing.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::Notify;
use tulpar_core::codes::CountryCode;
use tulpar_core::envelope::{self, PayloadType, payload_digest};
use tulpar_core::keys::KeyId;
use tulpar_core::limits::DELIVERY_BATCH_BYTES;
use tulpar_core::proto::{
    self, federation_service_client::FederationServiceClient, ledger_entry::Kind,
};
use tulpar_core::time::{from_timestamp, to_timestamp};
use tulpar_trust::directory::Purpose;

use crate::backoff::Backoff;
use crate::config::DeliveryConfig;
use crate::context::Context;
use crate::metrics::PartnerChannel;
use crate::partners::Partners;
use crate::state::OutboxItem;

/// What is known about a partner, for `ListPeers` and the backoff.
#[derive(Debug, Clone, Default)]
pub(crate) struct PartnerStatus {
    /// Last successful exchange in either direction.
    pub(crate) last_contact: Option<SystemTime>,
    /// The last delivery failure, cleared by a success.
    pub(crate) last_error: Option<String>,
    /// The last successful delivery to it.
    pub(crate) last_delivery: Option<SystemTime>,
    /// When the worker tries again, while backing off.
    pub(crate) next_attempt: Option<SystemTime>,
}

/// Why a delivery pass stopped short; the worker retries with backoff.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DeliveryError {
    /// The partner cannot be reached from here (no directory, no endpoint, TLS).
    #[error(transparent)]
    Unreachable(#[from] crate::partners::PartnerError),
    /// This node could not read or record (its ledger or state view).
    #[error(transparent)]
    Local(#[from] crate::error::ApiError),
    /// An outbox entry names a ledger entry that holds no signed object.
    #[error("outbox entry {0} holds nothing to deliver")]
    NothingToDeliver(u64),
    /// The partner refused the call or the item, for now.
    #[error("{0}")]
    Refused(Refusal),
    /// The partner answered without a receipt.
    #[error("{0} answered without a receipt")]
    NoReceipt(CountryCode),
    /// The receipt cannot be checked or does not hold.
    #[error("receipt from {partner} refused: {reason}")]
    BadReceipt {
        /// The partner.
        partner: CountryCode,
        /// What is wrong with it.
        reason: ReceiptFault,
    },
}

impl DeliveryError {
    /// Whether the partner could not be reached (down, or the network between): worth asking again
    /// soon whether it is up. A partner that answered with a refusal is left to the backoff.
    fn partner_unreachable(&self) -> bool {
        match self {
            Self::Unreachable(_) => true,
            Self::Refused(refusal) => matches!(
                refusal.code,
                tonic::Code::Unavailable
                    | tonic::Code::DeadlineExceeded
                    | tonic::Code::Unknown
                    // The channel's own request timeout.
                    | tonic::Code::Cancelled
            ),
            _ => false,
        }
    }
}

/// What is wrong with a partner's receipt.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReceiptFault {
    /// No verified directory of the partner is held to check it against.
    #[error("no verified directory of the partner to check it against")]
    NoDirectory,
    /// Its signature or encoding does not hold.
    #[error(transparent)]
    Envelope(#[from] envelope::EnvelopeError),
    /// It carries no time, so the key current at that time cannot be known.
    #[error("it carries no valid received_at")]
    NoTime,
    /// It is not signed by a receipt key of the partner's node current at its time.
    #[error("it is not signed by a current receipt key of the partner's node")]
    NotByCurrentKey,
    /// It describes something other than what was delivered.
    #[error("it does not describe what was delivered")]
    Mismatch,
    /// Checking it failed inside this node.
    #[error("checking it failed: {0}")]
    Checking(String),
}

struct Partner {
    /// Something new waits in the outbox.
    wake: Notify,
    /// The partner called this node while deliveries to it were failing: it is up.
    heard: Notify,
    status: Mutex<PartnerStatus>,
    channel: Mutex<Option<(String, PartnerChannel)>>,
}

/// Delivery to partners: a worker per partner, and what each worker knows of its partner.
pub(crate) struct Delivery {
    context: Arc<Context>,
    partners: Arc<Partners>,
    settings: DeliveryConfig,
    workers: Mutex<BTreeMap<CountryCode, Arc<Partner>>>,
}

impl Delivery {
    /// Delivery to `partners` as `settings` say.
    pub(crate) fn new(
        context: Arc<Context>,
        partners: Arc<Partners>,
        settings: DeliveryConfig,
    ) -> Self {
        Self {
            context,
            partners,
            settings,
            workers: Mutex::default(),
        }
    }

    /// Starts the worker for `country`, which runs until the node stops.
    pub(crate) fn start_worker(self: &Arc<Self>, country: CountryCode) {
        use tracing::Instrument;
        // Every line the worker logs names its partner, also in JSON logs (the span's fields).
        let span = tracing::info_span!("delivery", peer.country = %country);
        self.context
            .lifecycle
            .spawn(run_worker(self.clone(), country).instrument(span));
    }

    fn partner(&self, country: CountryCode) -> Arc<Partner> {
        let mut partners = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        partners
            .entry(country)
            .or_insert_with(|| {
                Arc::new(Partner {
                    wake: Notify::new(),
                    heard: Notify::new(),
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

    /// The partner just reached us (at `now`): it is up, so any backoff towards it ends now.
    pub(crate) fn contact(&self, country: CountryCode, now: SystemTime) {
        let partner = self.partner(country);
        let was_failing = {
            let mut status = partner.status.lock().unwrap_or_else(|p| p.into_inner());
            status.last_contact = Some(now);
            status.next_attempt.is_some()
        };
        if was_failing {
            partner.heard.notify_one();
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

/// Runs the worker for `partner` until the node stops. A pass in progress finishes its calls in
/// flight (see [`drain`]); the worker ends at its next wait.
async fn run_worker(node: Arc<Delivery>, country: CountryCode) {
    let partner = node.partner(country);
    let mut stopping = std::pin::pin!(node.context.lifecycle.stopping());
    let mut backoff = Backoff::new(node.settings.initial_backoff, node.settings.max_backoff);
    loop {
        let outcome = drain(&node, country, &partner).await;
        let unreachable = outcome
            .as_ref()
            .is_err_and(DeliveryError::partner_unreachable);
        let wait = match outcome {
            Ok(()) => {
                backoff.reset();
                None
            }
            Err(error) => {
                let wait = backoff.fail();
                tracing::warn!(peer.country = %country, %error, retry_in_ms = wait.as_millis() as u64, "delivery failed");
                let mut status = partner.status.lock().unwrap_or_else(|p| p.into_inner());
                status.last_error = Some(error.to_string());
                status.next_attempt = Some(node.context.clock.now() + wait);
                Some(wait)
            }
        };
        let sleep = async {
            match wait {
                Some(wait) => tokio::time::sleep(wait).await,
                None => std::future::pending().await,
            }
        };
        // While backing off from a partner that could not be reached, it is asked every
        // PROBE_INTERVAL whether it is up: a partner that comes back (restarted, or a partition
        // healed) is served at once, not at the end of a backoff that may have grown to its cap. The
        // question itself tells it we are up. A partner that answered with a refusal is left to the
        // backoff, which asking would defeat.
        let probing = async {
            if wait.is_none() || !unreachable {
                return std::future::pending().await;
            }
            let mut ticks = tokio::time::interval(PROBE_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut probes = FuturesUnordered::new();
            loop {
                tokio::select! {
                    _ = ticks.tick(), if probes.len() < PROBES_IN_FLIGHT => {
                        probes.push(probe(&node, country, &partner));
                    }
                    Some(up) = probes.next() => if up {
                        tracing::info!(peer.country = %country, "partner is up again; delivering now");
                        return;
                    }
                }
            }
        };
        // Something new in the outbox does not cut a backoff short: towards a partner that is
        // down each new alert would otherwise start a pass that waits out its connect timeout,
        // holding up the probes that notice the partner is back.
        tokio::select! {
            () = sleep => {}
            () = probing => {}
            () = partner.heard.notified() => {}
            () = partner.wake.notified(), if wait.is_none() => {}
            () = &mut stopping => return,
        }
    }
}

/// How often a partner is asked whether it is up while deliveries to it back off.
const PROBE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);
/// How long a probe waits for its answer: a new connection's TCP and TLS handshakes and the call,
/// a few round trips.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
/// Probes may overlap, so one whose first packets were lost just before the path healed (or on a
/// lossy link) does not hold up the next: on a path that drops everything, one starts every
/// PROBE_INTERVAL.
const PROBES_IN_FLIGHT: usize = 4;

/// Whether `country`'s node answers a cheap call (its checkpoint) now. Every federation call counts
/// as contact at the partner, so this also ends any backoff of its deliveries to this node.
///
/// The probe connects anew rather than using the worker's channel: after a partition that
/// connection may still be stalled, its lost packets waiting for TCP retransmissions that back off
/// to many seconds, while a new connection gets through as soon as the path is back. A probe that
/// is answered becomes the worker's channel, so deliveries resume on the connection that works.
async fn probe(node: &Delivery, country: CountryCode, partner: &Partner) -> bool {
    let Ok(endpoint) = node.partners.partner_endpoint(country) else {
        return false;
    };
    let Ok(channel) = node.partners.connect_partner(country, &endpoint) else {
        return false;
    };
    let mut client = crate::transport::federation_client(channel.clone());
    let call = client.get_checkpoint(proto::GetCheckpointRequest {});
    if !matches!(tokio::time::timeout(PROBE_TIMEOUT, call).await, Ok(Ok(_))) {
        return false;
    }
    *partner.channel.lock().unwrap_or_else(|p| p.into_inner()) = Some((endpoint, channel));
    true
}

impl Delivery {
    /// Tells every partner this node is up (at start), so that deliveries to it waiting out a
    /// backoff start at once; a partner that does not answer is asked again by its worker's probes.
    pub(crate) fn announce(self: &Arc<Self>) {
        for country in self.context.partners() {
            let node = self.clone();
            self.context.lifecycle.spawn(async move {
                let partner = node.partner(country);
                if probe(&node, country, &partner).await {
                    let now = node.context.clock.now();
                    partner
                        .status
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .last_contact = Some(now);
                }
            });
        }
    }
}

/// Delivers everything in `country`'s outbox, keeping up to `delivery.concurrency` calls in flight,
/// each carrying up to `delivery.batch_size` alerts and [`DELIVERY_BATCH_BYTES`] (or one response),
/// and refilling as each completes
/// or as new items are queued. Responses to the same alert go one after another, so the origin records
/// them in the order they were given. Returns when the outbox is empty, or at the first failure.
async fn drain(
    node: &Arc<Delivery>,
    country: CountryCode,
    partner: &Partner,
) -> Result<(), DeliveryError> {
    let client = crate::transport::federation_client(partner_channel(node, country, partner)?);
    let (calls, batch_size) = (node.settings.concurrency, node.settings.batch_size);
    // Cleared when the partner does not know `DeliverAlerts`; tried again on the next drain.
    let batching = AtomicBool::new(batch_size > 1);
    let mut in_flight = FuturesUnordered::new();
    // Alerts with a response in flight.
    let mut answering = HashSet::new();
    let mut cursor = None;
    let mut failure = None;
    loop {
        let free = calls - in_flight.len();
        // Once the node stops, no new call starts; those in flight finish.
        if free > 0 && failure.is_none() && !node.context.lifecycle.is_stopping() {
            let mut items = node
                .context
                .state
                .outbox(country, cursor, free * batch_size)
                .map_err(crate::error::ApiError::from)?;
            // The view shows an entry a moment before the ledger counts it: leave such items for
            // the next pass, which the appender's wake-up starts.
            let size = node.context.ledger_size();
            items.retain(|(index, _)| *index < size);
            for call in into_calls(items, free, batch_size, DELIVERY_BATCH_BYTES, &answering) {
                cursor = call.last().map(|(index, _)| *index);
                let answered = response_alert(&call);
                if let Some(alert_id) = &answered {
                    answering.insert(alert_id.clone());
                }
                let delivery = deliver(node, country, client.clone(), call, &batching);
                in_flight.push(async move { (answered, delivery.await) });
            }
        }
        tokio::select! {
            done = in_flight.next() => match done.map(|(answered, result)| {
                if let Some(alert_id) = answered {
                    answering.remove(&alert_id);
                }
                result
            }) {
                None => return failure.map_or(Ok(()), Err),
                // Calls in flight are let finish, so none is cut off between its partner's receipt
                // and recording it (which would deliver it again on the next pass).
                Some(Err(error)) => {
                    failure.get_or_insert(error);
                }
                Some(Ok(())) => {
                    let mut status = partner.status.lock().unwrap_or_else(|p| p.into_inner());
                    let now = node.context.clock.now();
                    status.last_contact = Some(now);
                    status.last_delivery = Some(now);
                    status.last_error = None;
                    status.next_attempt = None;
                }
            },
            // Something new was queued: send it now rather than after the next answer.
            () = partner.wake.notified(), if in_flight.len() < calls && failure.is_none() => {}
        }
    }
}

/// The alert a call's response answers; `None` for a call of alerts.
fn response_alert(call: &[(u64, OutboxItem)]) -> Option<String> {
    match call {
        [(_, item)] if !item.response_id.is_empty() => Some(item.alert_id.clone()),
        _ => None,
    }
}

/// Groups outbox items, in order, into at most `calls` calls: consecutive alerts share a call up to
/// `batch_size` alerts and `budget` bytes (an alert larger than `budget` goes alone), a response goes
/// alone. Items that do not fit are left for later, and so is everything from a response to an alert
/// in `answering` (or answered earlier in `items`) on, since the earlier response must be recorded
/// first.
fn into_calls(
    items: Vec<(u64, OutboxItem)>,
    calls: usize,
    batch_size: usize,
    budget: usize,
    answering: &HashSet<String>,
) -> Vec<Vec<(u64, OutboxItem)>> {
    let mut out: Vec<Vec<(u64, OutboxItem)>> = Vec::new();
    let mut answered_here = HashSet::new();
    // Whether the last call takes more alerts, and the bytes it holds.
    let (mut open, mut bytes) = (false, 0usize);
    for (index, item) in items {
        let is_alert = item.response_id.is_empty();
        if !is_alert
            && (answering.contains(&item.alert_id) || !answered_here.insert(item.alert_id.clone()))
        {
            break;
        }
        let size = usize::try_from(item.bytes).unwrap_or(usize::MAX);
        if let Some(call) = out.last_mut().filter(|call| {
            open && is_alert && call.len() < batch_size && bytes.saturating_add(size) <= budget
        }) {
            call.push((index, item));
            bytes += size;
            continue;
        }
        if out.len() == calls {
            break;
        }
        out.push(vec![(index, item)]);
        (open, bytes) = (is_alert, size);
    }
    out
}

/// The channel to `country`'s node, rebuilt when its endpoint changes.
fn partner_channel(
    node: &Delivery,
    country: CountryCode,
    partner: &Partner,
) -> Result<PartnerChannel, crate::partners::PartnerError> {
    let endpoint = node.partners.partner_endpoint(country)?;
    let mut cached = partner.channel.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((known, channel)) = cached.as_ref() {
        if *known == endpoint {
            return Ok(channel.clone());
        }
    }
    let channel = node.partners.connect_partner(country, &endpoint)?;
    *cached = Some((endpoint, channel.clone()));
    Ok(channel)
}

/// An outbox item with the signed object it delivers.
#[derive(Clone)]
struct ToDeliver {
    item: OutboxItem,
    envelope: proto::Envelope,
}

/// Delivers the items of one call, checks each receipt and records those that pass in one ledger
/// append; then reports the first failure, if any.
async fn deliver(
    node: &Arc<Delivery>,
    country: CountryCode,
    client: FederationServiceClient<PartnerChannel>,
    items: Vec<(u64, OutboxItem)>,
    batching: &AtomicBool,
) -> Result<(), DeliveryError> {
    // A receipt recorded since the outbox was read (e.g. by an earlier pass) settles an item.
    let mut waiting = Vec::with_capacity(items.len());
    for (index, item) in items {
        if node
            .context
            .state
            .in_outbox(country, index)
            .map_err(crate::error::ApiError::from)?
        {
            waiting.push((index, item));
        }
    }
    let indexes: Vec<u64> = waiting.iter().map(|(index, _)| *index).collect();
    let entries = node
        .context
        .ledger
        .entries_at(&indexes)
        .map_err(crate::error::ApiError::from)?;
    let mut sends = Vec::with_capacity(waiting.len());
    for ((index, item), (_, entry)) in waiting.into_iter().zip(entries) {
        let envelope = match entry.kind {
            Some(Kind::AlertSent(sent)) => sent.alert,
            Some(Kind::ResponseSent(sent)) => sent.response,
            _ => None,
        }
        .ok_or(DeliveryError::NothingToDeliver(index))?;
        sends.push(ToDeliver { item, envelope });
    }
    if sends.is_empty() {
        return Ok(());
    }
    let answers = send_splitting(&client, &sends, batching).await;
    // Items refused for good are set aside; the rest are receipted or retried.
    let (mut kept, mut kept_answers, mut set_aside) = (Vec::new(), Vec::new(), Vec::new());
    for (sent, answer) in sends.into_iter().zip(answers) {
        match answer {
            Err(refusal) if refusal.permanent() => set_aside.push((sent.item, refusal)),
            answer => {
                kept.push(sent);
                kept_answers.push(answer.map_err(DeliveryError::Refused));
            }
        }
    }
    let sends = kept;
    let checked = check_receipts(node, country, &sends, kept_answers).await;
    let now = to_timestamp(node.context.clock.now());
    let mut failure = None;
    let mut entries = Vec::with_capacity(sends.len() + set_aside.len());
    let mut delivered = Vec::with_capacity(sends.len());
    for (sent, checked) in sends.iter().zip(checked) {
        match checked {
            Ok((receipt, body)) => {
                entries.push(proto::LedgerEntry {
                    recorded_at: Some(now),
                    alert_id: sent.item.alert_id.clone(),
                    kind: Some(Kind::ReceiptReceived(proto::ReceiptReceived {
                        receipt: Some(receipt),
                        from_country: country.to_string(),
                    })),
                });
                delivered.push((&sent.item.alert_id, body.ledger_index));
            }
            Err(error) => {
                failure.get_or_insert(error);
            }
        }
    }
    for (item, refusal) in &set_aside {
        entries.push(abandoned_entry(now, country, item, refusal));
    }
    let appended = node.context.append_all(entries).await?;
    let (receipted, abandoned) = appended.split_at(delivered.len().min(appended.len()));
    for ((alert_id, peer_index), appended) in delivered.into_iter().zip(receipted) {
        tracing::info!(
            alert.id = %alert_id,
            peer.country = %country,
            ledger.index = appended.index,
            peer.ledger_index = peer_index,
            "delivered"
        );
    }
    for ((item, refusal), appended) in set_aside.iter().zip(abandoned) {
        tracing::warn!(
            alert.id = %item.alert_id,
            response.id = %item.response_id,
            peer.country = %country,
            ledger.index = appended.index,
            %refusal,
            "refused for good by the partner; set aside as undeliverable"
        );
    }
    failure.map_or(Ok(()), Err)
}

/// The entry recording that `country` refused `item` for good.
fn abandoned_entry(
    now: tulpar_proto::pbjson_types::Timestamp,
    country: CountryCode,
    item: &OutboxItem,
    refusal: &Refusal,
) -> proto::LedgerEntry {
    proto::LedgerEntry {
        recorded_at: Some(now),
        alert_id: item.alert_id.clone(),
        kind: Some(Kind::DeliveryAbandoned(proto::DeliveryAbandoned {
            response_id: item.response_id.clone(),
            country: country.to_string(),
            code: refusal.code as i32,
            reason: refusal.message.clone(),
        })),
    }
}

/// A partner's refusal of a call or of one item in it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Refusal {
    code: tonic::Code,
    message: String,
}

impl Refusal {
    fn new(code: tonic::Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn of(status: &tonic::Status) -> Self {
        Self::new(status.code(), status.message())
    }

    /// Refused for its size by a message limit: the partner's (an older or differently configured
    /// node) or, in principle, this node's own client. tonic answers OUT_OF_RANGE ("decoded message
    /// length too large"); a proxy or another stack may answer RESOURCE_EXHAUSTED, which otherwise
    /// means "busy, retry later" and so counts only when it names the size.
    fn too_large(&self) -> bool {
        match self.code {
            tonic::Code::OutOfRange => true,
            tonic::Code::ResourceExhausted => self.message.contains("too large"),
            _ => false,
        }
    }

    /// Whether no retry of the same item can change the answer, when the item was refused on its
    /// own: the content breaks the partner's rules (INVALID_ARGUMENT: the alert is signed, so it
    /// cannot change), the id is taken by other content there (ALREADY_EXISTS), or it is too large
    /// even alone. PERMISSION_DENIED is not among them: a partner says it while its copy of this
    /// country's directory lags behind a new unit key, which a directory refresh heals. Everything
    /// else (UNAVAILABLE, DEADLINE_EXCEEDED, FAILED_PRECONDITION, ...) is retried with backoff.
    fn permanent(&self) -> bool {
        self.too_large()
            || matches!(
                self.code,
                tonic::Code::InvalidArgument | tonic::Code::AlreadyExists
            )
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

/// What the partner answered for one item: its receipt, or its refusal.
type Answer = Result<Option<proto::Envelope>, Refusal>;

/// [`send`], splitting a call the partner refuses as too large (see [`split_on_size`]).
async fn send_splitting(
    client: &FederationServiceClient<PartnerChannel>,
    sends: &[ToDeliver],
    batching: &AtomicBool,
) -> Vec<Answer> {
    split_on_size(sends.len(), |range| {
        send(client.clone(), &sends[range], batching)
    })
    .await
}

/// Sends `count` items with `send` (given the range of items one call carries), splitting a call
/// refused as too large in halves, each sent at once and in order, until it is taken or a single
/// item is refused on its own. Answers one result per item, in order.
async fn split_on_size<F, Fut>(count: usize, mut send: F) -> Vec<Answer>
where
    F: FnMut(std::ops::Range<usize>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Answer>, Refusal>>,
{
    let mut answers: Vec<Option<Answer>> = std::iter::repeat_with(|| None).take(count).collect();
    // Ranges of items still to send, the next on top.
    let mut ranges = vec![(0, count)];
    while let Some((start, end)) = ranges.pop() {
        match send(start..end).await {
            Ok(results) => {
                for (slot, answer) in answers[start..end].iter_mut().zip(results) {
                    *slot = Some(answer);
                }
            }
            Err(refusal) if refusal.too_large() && end - start > 1 => {
                let middle = start + (end - start) / 2;
                tracing::info!(
                    items = end - start,
                    %refusal,
                    "partner refused a call as too large; sending it in halves"
                );
                ranges.push((middle, end));
                ranges.push((start, middle));
            }
            Err(refusal) => {
                for slot in &mut answers[start..end] {
                    *slot = Some(Err(refusal.clone()));
                }
            }
        }
    }
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(Refusal::new(tonic::Code::Internal, "not sent"))))
        .collect()
}

/// The partner's answer for each of `sends`, in order: several alerts in one `DeliverAlerts` call
/// when the partner knows it, otherwise one call each (so each refusal is the item's own). A refusal
/// of a whole call of several alerts is the error.
async fn send(
    client: FederationServiceClient<PartnerChannel>,
    sends: &[ToDeliver],
    batching: &AtomicBool,
) -> Result<Vec<Answer>, Refusal> {
    if sends.len() > 1 && batching.load(Ordering::Relaxed) {
        let request = proto::DeliverAlertsRequest {
            alerts: sends.iter().map(|s| s.envelope.clone()).collect(),
        };
        match client.clone().deliver_alerts(request).await {
            Ok(response) => {
                let results = response.into_inner().results;
                if results.len() != sends.len() {
                    // Not a refusal of any item: retried with backoff.
                    return Err(Refusal::new(
                        tonic::Code::Unknown,
                        format!(
                            "{} results for {} alerts delivered",
                            results.len(),
                            sends.len()
                        ),
                    ));
                }
                return Ok(results
                    .into_iter()
                    .map(|r| match r.result {
                        Some(proto::delivery_result::Result::Receipt(receipt)) => Ok(Some(receipt)),
                        Some(proto::delivery_result::Result::Error(e)) => {
                            Err(Refusal::new(e.code.into(), e.message))
                        }
                        None => Ok(None),
                    })
                    .collect());
            }
            Err(status) if status.code() == tonic::Code::Unimplemented => {
                tracing::info!(
                    "partner does not take several alerts per call; sending one at a time"
                );
                batching.store(false, Ordering::Relaxed);
            }
            // Said of the whole call, not of any one alert: only a size refusal leads to a split.
            Err(status) => {
                let refusal = Refusal::of(&status);
                if refusal.too_large() {
                    return Err(refusal);
                }
                return Err(Refusal::new(tonic::Code::Unavailable, refusal.to_string()));
            }
        }
    }
    let calls = sends.iter().map(|sent| {
        let mut client = client.clone();
        async move {
            let envelope = Some(sent.envelope.clone());
            if sent.item.response_id.is_empty() {
                let request = proto::DeliverAlertRequest { alert: envelope };
                client
                    .deliver_alert(request)
                    .await
                    .map(|r| r.into_inner().receipt)
            } else {
                let request = proto::DeliverResponseRequest { response: envelope };
                client
                    .deliver_response(request)
                    .await
                    .map(|r| r.into_inner().receipt)
            }
            .map_err(|status| Refusal::of(&status))
        }
    });
    Ok(futures_util::future::join_all(calls).await)
}

/// Each answer checked with [`check_receipt`]; several on a blocking thread, as their signature
/// checks are CPU work that would hold up the async workers.
async fn check_receipts(
    node: &Arc<Delivery>,
    country: CountryCode,
    sends: &[ToDeliver],
    answers: Vec<Result<Option<proto::Envelope>, DeliveryError>>,
) -> Vec<Result<(proto::Envelope, proto::DeliveryReceipt), DeliveryError>> {
    let check = move |node: &Delivery, sends: &[ToDeliver], answers: Vec<_>| {
        // The receipts of one call are signed together: their shared signature is checked once.
        let mut verifier = envelope::Verifier::default();
        sends
            .iter()
            .zip(answers)
            .map(
                |(sent, answer): (&ToDeliver, Result<Option<proto::Envelope>, DeliveryError>)| {
                    let receipt = answer?.ok_or(DeliveryError::NoReceipt(country))?;
                    let body = check_receipt(node, &mut verifier, country, &receipt, sent)
                        .map_err(|reason| DeliveryError::BadReceipt {
                            partner: country,
                            reason,
                        })?;
                    Ok((receipt, body))
                },
            )
            .collect::<Vec<_>>()
    };
    if sends.len() < 2 {
        return check(node, sends, answers);
    }
    let (shared, owned) = (node.clone(), sends.to_vec());
    node.context
        .lifecycle
        .spawn_blocking(move || check(&shared, &owned, answers))
        .await
        .unwrap_or_else(|e| {
            sends
                .iter()
                .map(|_| {
                    Err(DeliveryError::BadReceipt {
                        partner: country,
                        reason: ReceiptFault::Checking(e.to_string()),
                    })
                })
                .collect()
        })
}

/// Checks a partner's receipt: signed by its node key, and about exactly what was delivered.
fn check_receipt(
    node: &Delivery,
    verifier: &mut envelope::Verifier,
    country: CountryCode,
    receipt: &proto::Envelope,
    sent: &ToDeliver,
) -> Result<proto::DeliveryReceipt, ReceiptFault> {
    let (item, delivered) = (&sent.item, &sent.envelope);
    let directory = node
        .context
        .trust
        .directory(country)
        .ok_or(ReceiptFault::NoDirectory)?;
    let resolve = |id: &KeyId| {
        directory
            .node_keys()
            .iter()
            .find(|k| k.key_id == *id)
            .map(|k| k.public_key)
    };
    let verified = verifier.verify(receipt, PayloadType::Receipt, &resolve)?;
    let body: proto::DeliveryReceipt = verified.decode()?;
    let at = receipt_time(&body)?;
    let signed_by_valid_key = verified.signers().iter().any(|id| {
        node.context
            .trust
            .check_node_key(country, id, Purpose::Receipt, at)
            .is_ok()
    });
    let matches = body.alert_id == item.alert_id
        && body.response_id == item.response_id
        && body.sender_country == node.context.country.as_str()
        && body.recipient_country == country.as_str()
        && body.payload_sha256 == payload_digest(delivered);
    if !signed_by_valid_key {
        return Err(ReceiptFault::NotByCurrentKey);
    }
    if !matches {
        return Err(ReceiptFault::Mismatch);
    }
    Ok(body)
}

/// When the partner says it received the object: the time that decides which of its keys was
/// current. A receipt without a valid one is refused rather than judged at this node's clock.
fn receipt_time(body: &proto::DeliveryReceipt) -> Result<SystemTime, ReceiptFault> {
    body.received_at
        .as_ref()
        .and_then(from_timestamp)
        .ok_or(ReceiptFault::NoTime)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn items(kinds: &str) -> Vec<(u64, OutboxItem)> {
        kinds
            .chars()
            .enumerate()
            .map(|(i, kind)| {
                let item = OutboxItem {
                    alert_id: format!("alert-{i}"),
                    response_id: if kind == 'r' {
                        format!("response-{i}")
                    } else {
                        String::new()
                    },
                    bytes: 1000,
                };
                (i as u64, item)
            })
            .collect()
    }

    const BUDGET: usize = DELIVERY_BATCH_BYTES;

    fn shape(calls: &[Vec<(u64, OutboxItem)>]) -> Vec<Vec<u64>> {
        calls
            .iter()
            .map(|call| call.iter().map(|(i, _)| *i).collect())
            .collect()
    }

    #[test]
    fn alerts_share_calls_and_responses_go_alone() {
        let calls = into_calls(items("aaaaaraa"), 10, 3, BUDGET, &HashSet::new());
        assert_eq!(
            shape(&calls),
            vec![vec![0, 1, 2], vec![3, 4], vec![5], vec![6, 7]]
        );
        assert_eq!(
            shape(&into_calls(items("aaa"), 10, 1, BUDGET, &HashSet::new())).len(),
            3
        );
    }

    #[test]
    fn no_more_calls_than_free_and_the_rest_waits() {
        let calls = into_calls(items("rrraaaa"), 2, 64, BUDGET, &HashSet::new());
        assert_eq!(shape(&calls), vec![vec![0], vec![1]]);
        let calls = into_calls(items("aaaaa"), 2, 2, BUDGET, &HashSet::new());
        assert_eq!(shape(&calls), vec![vec![0, 1], vec![2, 3]]);
    }

    #[test]
    fn responses_to_one_alert_wait_for_each_other() {
        // An acknowledgement (1) and an outcome (3) for the same alert, between other items.
        let mut queued = items("araar");
        queued[3].1.alert_id = queued[1].1.alert_id.clone();
        queued[3].1.response_id = "response-3".into();
        let calls = into_calls(queued.clone(), 10, 64, BUDGET, &HashSet::new());
        assert_eq!(shape(&calls), vec![vec![0], vec![1], vec![2]]);
        // While the acknowledgement is in flight, the outcome and what follows it wait.
        let answering = HashSet::from([queued[1].1.alert_id.clone()]);
        let calls = into_calls(queued[2..].to_vec(), 10, 64, BUDGET, &answering);
        assert_eq!(shape(&calls), vec![vec![2]]);
        let calls = into_calls(queued[2..].to_vec(), 10, 64, BUDGET, &HashSet::new());
        assert_eq!(shape(&calls), vec![vec![2], vec![3], vec![4]]);
    }

    #[test]
    fn calls_are_capped_by_bytes_and_a_large_alert_travels_alone() {
        // Twelve alerts of 442 kB each (text fields at their limits) once made one 5.3 MB call that
        // a partner with a 4 MiB message limit refused for ever.
        let mut queued = items("aaaaaaaaaaaa");
        for (_, item) in &mut queued {
            item.bytes = 442_000;
        }
        let calls = into_calls(queued, 10, 64, BUDGET, &HashSet::new());
        assert!(calls.len() > 1);
        for call in &calls {
            let bytes: u64 = call.iter().map(|(_, item)| item.bytes).sum();
            assert!(bytes as usize <= BUDGET, "a call of {bytes} bytes");
        }
        assert_eq!(calls.iter().map(Vec::len).sum::<usize>(), 12);
        // An alert over the budget goes alone, and what follows it still shares calls.
        let mut queued = items("aaaa");
        queued[1].1.bytes = (BUDGET + 1) as u64;
        let calls = into_calls(queued, 10, 64, BUDGET, &HashSet::new());
        assert_eq!(shape(&calls), vec![vec![0], vec![1], vec![2, 3]]);
    }

    fn refused(code: tonic::Code, message: &str) -> Refusal {
        Refusal::new(code, message)
    }

    #[test]
    fn only_a_partner_out_of_reach_is_asked_whether_it_is_up() {
        let error = |code| DeliveryError::Refused(refused(code, "x"));
        assert!(error(tonic::Code::Unavailable).partner_unreachable());
        assert!(error(tonic::Code::DeadlineExceeded).partner_unreachable());
        assert!(error(tonic::Code::Cancelled).partner_unreachable());
        assert!(!error(tonic::Code::FailedPrecondition).partner_unreachable());
        assert!(!error(tonic::Code::ResourceExhausted).partner_unreachable());
        assert!(!DeliveryError::NothingToDeliver(3).partner_unreachable());
    }

    #[test]
    fn which_refusals_are_for_good() {
        let too_large =
            "decoded message length too large: found 5303832 bytes, the limit is: 4194304 bytes";
        assert!(refused(tonic::Code::OutOfRange, too_large).too_large());
        assert!(refused(tonic::Code::ResourceExhausted, too_large).too_large());
        assert!(
            !refused(
                tonic::Code::ResourceExhausted,
                "too much at once; retry later"
            )
            .too_large()
        );
        for code in [tonic::Code::InvalidArgument, tonic::Code::AlreadyExists] {
            assert!(refused(code, "no").permanent(), "{code:?}");
        }
        for code in [
            tonic::Code::Unavailable,
            tonic::Code::DeadlineExceeded,
            tonic::Code::PermissionDenied,
            tonic::Code::FailedPrecondition,
            tonic::Code::Internal,
            tonic::Code::ResourceExhausted,
        ] {
            assert!(!refused(code, "later").permanent(), "{code:?}");
        }
    }

    /// A partner that refuses any call of more than `most` items as too large, refuses item
    /// `too_big` even alone, and refuses item `invalid` on its own with INVALID_ARGUMENT.
    async fn fake_partner(
        range: std::ops::Range<usize>,
        most: usize,
        too_big: usize,
        invalid: usize,
        calls: &std::cell::RefCell<Vec<std::ops::Range<usize>>>,
    ) -> Result<Vec<Answer>, Refusal> {
        calls.borrow_mut().push(range.clone());
        let size_refusal = refused(
            tonic::Code::OutOfRange,
            "Error, decoded message length too large",
        );
        if range.len() > most || range.contains(&too_big) && range.len() > 1 {
            return Err(size_refusal);
        }
        if range == (too_big..too_big + 1) {
            return Err(size_refusal);
        }
        Ok(range
            .map(|i| {
                if i == invalid {
                    Err(refused(tonic::Code::InvalidArgument, "narrative: too long"))
                } else {
                    Ok(None)
                }
            })
            .collect())
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_call_refused_as_too_large_is_split_and_a_refused_item_stands_alone() {
        let calls = std::cell::RefCell::new(Vec::new());
        let answers = split_on_size(8, |range| fake_partner(range, 3, 5, 1, &calls)).await;
        // Every item is answered, in order: the two refused ones for good, the rest taken.
        let permanent: Vec<usize> = answers
            .iter()
            .enumerate()
            .filter(|(_, a)| a.as_ref().is_err_and(Refusal::permanent))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(permanent, vec![1, 5]);
        assert_eq!(answers.iter().filter(|a| a.is_ok()).count(), 6);
        // 8 -> 4 + 4 -> (2 + 2) + (2 -> 1 + 1, 2), in order.
        let calls = calls.into_inner();
        assert_eq!(
            calls,
            vec![0..8, 0..4, 0..2, 2..4, 4..8, 4..6, 4..5, 5..6, 6..8]
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn other_refusals_of_a_whole_call_are_not_split() {
        let calls = std::cell::RefCell::new(0);
        let answers = split_on_size(4, |_| {
            *calls.borrow_mut() += 1;
            async { Err(refused(tonic::Code::Unavailable, "partner down")) }
        })
        .await;
        assert_eq!(*calls.borrow(), 1);
        assert!(
            answers
                .iter()
                .all(|a| a.as_ref().is_err_and(|r| !r.permanent()))
        );
    }

    #[test]
    fn a_receipt_is_judged_at_its_own_time_and_refused_without_one() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let timed = proto::DeliveryReceipt {
            received_at: Some(to_timestamp(at)),
            ..Default::default()
        };
        assert_eq!(receipt_time(&timed).unwrap(), at);
        let untimed = proto::DeliveryReceipt::default();
        assert!(matches!(receipt_time(&untimed), Err(ReceiptFault::NoTime)));
        let invalid = proto::DeliveryReceipt {
            received_at: Some(tulpar_proto::pbjson_types::Timestamp {
                seconds: 0,
                nanos: -1,
            }),
            ..Default::default()
        };
        assert!(matches!(receipt_time(&invalid), Err(ReceiptFault::NoTime)));
    }
}
