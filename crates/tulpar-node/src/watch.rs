//! `WatchAlerts`: events derived from ledger entries as they commit, filtered by what the caller may
//! see, resumable from any ledger index.
//!
//! Each subscriber has a bounded buffer, filled by its own task at the pace the client reads. The node
//! never waits for a subscriber: one that falls so far behind that the ledger's broadcast of committed
//! batches no longer holds what it has not read ends with `RESOURCE_EXHAUSTED` naming the index to
//! resume from, so the client never silently misses an event. (A single large batch therefore never
//! ends a client that keeps reading.)

use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tulpar_core::envelope::{PayloadType, decode_recorded};
use tulpar_core::proto::{self, AlertEventKind, ledger_entry::Kind};
use tulpar_core::response::state_after;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::node::{Shared, indexed};
use crate::state::id_bytes;

/// Events buffered per subscriber before it counts as too slow.
const SUBSCRIBER_BUFFER: usize = 1024;
/// Entries read per step while replaying.
const REPLAY_CHUNK: u64 = 512;

/// The stream `WatchAlerts` returns.
pub(crate) type EventStream = Pin<Box<dyn Stream<Item = Result<proto::AlertEvent, Status>> + Send>>;

/// Starts a subscription for `principal`.
pub(crate) fn watch(
    node: Arc<Shared>,
    principal: Principal,
    request: proto::WatchAlertsRequest,
) -> Result<EventStream, ApiError> {
    if principal.role == tulpar_trust::tls::Role::Admin {
        return Err(ApiError::PermissionDenied(
            "administrators do not see alerts".into(),
        ));
    }
    let mut kinds = Vec::new();
    for (i, raw) in request.kinds.iter().enumerate() {
        match AlertEventKind::try_from(*raw) {
            Ok(AlertEventKind::Unspecified) | Err(_) => {
                return Err(ApiError::Invalid(
                    tulpar_core::validation::Violations::single(
                        format!("kinds[{i}]"),
                        format!("{raw} is not an AlertEventKind"),
                    ),
                ));
            }
            Ok(kind) => kinds.push(kind),
        }
    }
    // Subscribe before reading the size, so nothing committed in between is missed.
    let live = node.ledger.subscribe();
    let size = node.ledger_size();
    let start = request.resume_from.unwrap_or(size);
    if start > size {
        return Err(ApiError::Invalid(
            tulpar_core::validation::Violations::single(
                "resume_from",
                format!("{start} is beyond the end of the ledger ({size} entries)"),
            ),
        ));
    }
    let (sender, receiver) = mpsc::channel(SUBSCRIBER_BUFFER);
    let subscriber = Subscriber {
        node,
        principal,
        kinds,
        sender,
    };
    tokio::spawn(subscriber.run(start, size, live));
    Ok(Box::pin(ReceiverStream::new(receiver)))
}

struct Subscriber {
    node: Arc<Shared>,
    principal: Principal,
    kinds: Vec<AlertEventKind>,
    sender: mpsc::Sender<Result<proto::AlertEvent, Status>>,
}

/// Why a subscription ends.
enum End {
    /// The client went away.
    Gone,
    /// The client is too slow; it must resume from this index.
    Behind(u64),
    /// The node is shutting down; resume from this index elsewhere or later.
    Stopping(u64),
    /// The node failed to read its ledger.
    Failed(String),
}

impl Subscriber {
    async fn run(
        self,
        start: u64,
        replay_end: u64,
        mut live: broadcast::Receiver<crate::node::Committed>,
    ) {
        let mut stopping = self.node.stopping.clone();
        let end = async {
            let mut next = start;
            while next < replay_end {
                let until = (next + REPLAY_CHUNK).min(replay_end);
                let entries = self
                    .node
                    .entries(next, until)
                    .map_err(|e| End::Failed(e.to_string()))?;
                for (index, entry) in entries {
                    self.offer(index, &entry, &mut stopping).await?;
                }
                next = until;
            }
            loop {
                let received = tokio::select! {
                    received = live.recv() => received,
                    _ = stopping.wait_for(|stop| *stop) => return Err(End::Stopping(next)),
                };
                let committed = match received {
                    Ok(committed) => committed,
                    Err(broadcast::error::RecvError::Lagged(_)) => return Err(End::Behind(next)),
                    Err(broadcast::error::RecvError::Closed) => return Err(End::Gone),
                };
                for (index, entry) in indexed(&committed) {
                    if index >= next {
                        self.offer(index, entry, &mut stopping).await?;
                        next = index + 1;
                    }
                }
            }
        }
        .await;
        let status = match end {
            Ok(()) | Err(End::Gone) => return,
            Err(End::Behind(index)) => Status::resource_exhausted(format!(
                "the watcher fell behind; resume with resume_from = {index}"
            )),
            Err(End::Stopping(index)) => Status::unavailable(format!(
                "the node is shutting down; resume with resume_from = {index}"
            )),
            Err(End::Failed(error)) => {
                tracing::error!(%error, "watch stream failed");
                Status::internal("the node could not read its ledger; resume later")
            }
        };
        let _ = self.sender.try_send(Err(status));
    }

    /// Sends the event of entry `index`, if any and if the caller may see it, once the client has
    /// room for it.
    async fn offer(
        &self,
        index: u64,
        entry: &proto::LedgerEntry,
        stopping: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), End> {
        let Some(event) = self.event(index, entry)? else {
            return Ok(());
        };
        tokio::select! {
            sent = self.sender.send(Ok(event)) => sent.map_err(|_| End::Gone),
            _ = stopping.wait_for(|stop| *stop) => Err(End::Stopping(index)),
        }
    }

    /// The event of entry `index`, if any and if the caller may see it.
    fn event(
        &self,
        index: u64,
        entry: &proto::LedgerEntry,
    ) -> Result<Option<proto::AlertEvent>, End> {
        let Some((kind, country)) = event_of(entry) else {
            return Ok(None);
        };
        if !self.kinds.is_empty() && !self.kinds.contains(&kind) {
            return Ok(None);
        }
        if let Some(Kind::EquivocationDetected(evidence)) = &entry.kind {
            if !self.principal.is_focal_point() {
                return Ok(None);
            }
            return Ok(Some(proto::AlertEvent {
                ledger_index: index,
                recorded_at: entry.recorded_at,
                kind: kind as i32,
                country,
                equivocation: Some(evidence.clone()),
                ..Default::default()
            }));
        }
        let Some(id) = id_bytes(&entry.alert_id) else {
            return Ok(None);
        };
        let stored = match self.node.state.alert(&id) {
            Ok(Some(stored)) => stored,
            Ok(None) => return Ok(None),
            Err(error) => return Err(End::Failed(error.to_string())),
        };
        if !self.node.may_see(&self.principal, &stored) {
            return Ok(None);
        }
        let record = self
            .node
            .alert_record(stored)
            .map_err(|e| End::Failed(e.to_string()))?;
        Ok(Some(proto::AlertEvent {
            ledger_index: index,
            recorded_at: entry.recorded_at,
            kind: kind as i32,
            alert_id: entry.alert_id.clone(),
            country,
            alert: Some(record),
            equivocation: None,
        }))
    }
}

/// The event an entry makes, with the recipient country it concerns.
fn event_of(entry: &proto::LedgerEntry) -> Option<(AlertEventKind, String)> {
    let response_event = |envelope: &Option<proto::Envelope>| {
        let response =
            decode_recorded::<proto::AlertResponse>(envelope.as_ref()?, PayloadType::Response)
                .ok()?;
        let kind = match state_after(response.kind.as_ref()?) {
            proto::DeliveryState::Declined => AlertEventKind::Declined,
            proto::DeliveryState::OutcomeRecorded => AlertEventKind::OutcomeRecorded,
            _ => AlertEventKind::Acknowledged,
        };
        Some((kind, response.responder.unwrap_or_default().country))
    };
    match entry.kind.as_ref()? {
        Kind::AlertSent(_) => Some((AlertEventKind::AlertSent, String::new())),
        Kind::AlertReceived(_) => Some((AlertEventKind::AlertReceived, String::new())),
        Kind::ReceiptReceived(received) => {
            let receipt = decode_recorded::<proto::DeliveryReceipt>(
                received.receipt.as_ref()?,
                PayloadType::Receipt,
            )
            .ok()?;
            // Receipts for responses are bookkeeping, not a step of the alert's lifecycle.
            receipt
                .response_id
                .is_empty()
                .then(|| (AlertEventKind::Delivered, received.from_country.clone()))
        }
        Kind::ResponseSent(sent) => response_event(&sent.response),
        Kind::ResponseReceived(received) => response_event(&received.response),
        Kind::DeadlineMissed(missed) => Some((AlertEventKind::Overdue, missed.country.clone())),
        Kind::EquivocationDetected(evidence) => {
            Some((AlertEventKind::Equivocation, evidence.country.clone()))
        }
        Kind::DeliveryAbandoned(abandoned) => {
            Some((AlertEventKind::Undeliverable, abandoned.country.clone()))
        }
        _ => None,
    }
}
