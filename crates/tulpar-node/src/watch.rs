//! `WatchAlerts`: events derived from ledger entries as they commit, filtered by what the caller may
//! see, resumable from any ledger index.
//!
//! Each subscriber has its own task and a buffer bounded in bytes
//! ([`tulpar_core::limits::WATCH_BUFFER_BYTES`], at least one event), filled at the pace the client
//! reads. The node never waits for a subscriber, and a subscriber never holds the ledger's broadcast
//! of committed batches while it waits for its client: when its buffer has no room, it drops its
//! receiver and the event it was holding, waits until the client has taken what is buffered, and
//! reads on from the ledger's segments, a bounded number of bytes at a time, until it has caught up
//! and can follow the broadcast again. A client that reads slowly therefore gets every event in
//! order and costs the node one buffer; one that never reads costs the same and nothing more.

use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::broadcast;
use tokio_stream::Stream;
use tonic::Status;
use tulpar_core::envelope::{PayloadType, decode_recorded};
use tulpar_core::limits::WATCH_BUFFER_BYTES;
use tulpar_core::proto::{self, AlertEventKind, ledger_entry::Kind};
use tulpar_core::response::state_after;

use crate::auth::Principal;
use crate::context::{Context, indexed};
use crate::error::ApiError;
use crate::state::id_bytes;

mod buffer;

use buffer::{EventSender, NotSent, event_buffer};

/// The stream `WatchAlerts` returns.
pub(crate) type EventStream = Pin<Box<dyn Stream<Item = Result<proto::AlertEvent, Status>> + Send>>;

/// Starts a subscription for `principal`.
pub(crate) fn watch(
    node: Arc<Context>,
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
    let (sender, receiver) = event_buffer(WATCH_BUFFER_BYTES);
    let lifecycle = node.lifecycle.clone();
    let subscriber = Subscriber {
        node,
        filter: EventFilter { principal, kinds },
        sender,
    };
    lifecycle.spawn(subscriber.run(start, live));
    Ok(Box::pin(receiver))
}

struct Subscriber {
    node: Arc<Context>,
    filter: EventFilter,
    sender: EventSender,
}

/// Why a subscription ends.
enum End {
    /// The client went away.
    Gone,
    /// The node is shutting down; resume from this index elsewhere or later.
    Stopping(u64),
    /// The node failed to read its ledger.
    Failed(String),
}

/// How far a subscriber got before it had to stop following the ledger.
enum Paused {
    /// The client's buffer is full; events from this index on are still to be sent.
    Full,
    /// The subscriber fell behind the broadcast; events from this index on are still to be sent.
    Behind,
}

impl Subscriber {
    async fn run(self, start: u64, live: broadcast::Receiver<crate::context::Committed>) {
        let _watching = self.node.metrics.watching();
        let stopping = self.node.lifecycle.stopping();
        let mut next = start;
        let ended = tokio::select! {
            end = self.follow(&mut next, Some(live)) => Some(end),
            () = stopping => None,
        };
        let end = ended.unwrap_or(End::Stopping(next));
        let status = match end {
            End::Gone => return,
            End::Stopping(index) => crate::error::stopping(index),
            End::Failed(error) => {
                tracing::error!(%error, "watch stream failed");
                Status::internal("the node could not read its ledger; resume later")
            }
        };
        self.sender.finish(status);
    }

    /// Sends events from `next` on until the subscription ends, keeping `next` at the first index
    /// not yet handed to the client's buffer.
    async fn follow(
        &self,
        next: &mut u64,
        mut live: Option<broadcast::Receiver<crate::context::Committed>>,
    ) -> End {
        loop {
            // Subscribe before reading the size, so nothing committed in between is missed.
            let mut receiver = match live.take() {
                Some(receiver) => receiver,
                None => self.node.ledger.subscribe(),
            };
            let size = self.node.ledger_size();
            let paused = match self.catch_up(next, size).await {
                Ok(None) => self.live(next, &mut receiver).await,
                Ok(Some(paused)) => Ok(paused),
                Err(end) => Err(end),
            };
            // Whatever happens next, this subscriber no longer holds the broadcast's batches.
            drop(receiver);
            match paused {
                Ok(Paused::Full) => {
                    tracing::debug!(
                        watcher = %self.filter.principal.name,
                        resume_from = *next,
                        "watch buffer full: the watcher lets go of the broadcast until its client drains it"
                    );
                    if self.sender.drained().await.is_err() {
                        return End::Gone;
                    }
                }
                Ok(Paused::Behind) => {}
                Err(end) => return end,
            }
        }
    }

    /// Sends the events of entries `next..size` read from the ledger, a bounded number of bytes at
    /// a time; `Some(Full)` if the client's buffer filled first.
    async fn catch_up(&self, next: &mut u64, size: u64) -> Result<Option<Paused>, End> {
        while *next < size {
            let entries = self
                .node
                .ledger
                .entries_within(*next..size, WATCH_BUFFER_BYTES)
                .map_err(|e| End::Failed(e.to_string()))?;
            for (index, entry) in entries {
                if !self.offer(index, &entry)? {
                    return Ok(Some(Paused::Full));
                }
                *next = index + 1;
            }
            // Reading is synchronous: let other tasks run between steps of a long replay.
            tokio::task::yield_now().await;
        }
        Ok(None)
    }

    /// Sends the events of batches as they commit, until the client's buffer fills or the
    /// subscriber falls behind the broadcast.
    async fn live(
        &self,
        next: &mut u64,
        receiver: &mut broadcast::Receiver<crate::context::Committed>,
    ) -> Result<Paused, End> {
        loop {
            let committed = tokio::select! {
                received = receiver.recv() => match received {
                    Ok(committed) => committed,
                    Err(broadcast::error::RecvError::Lagged(_)) => return Ok(Paused::Behind),
                    Err(broadcast::error::RecvError::Closed) => return Err(End::Gone),
                },
                () = self.sender.closed() => return Err(End::Gone),
            };
            for (index, entry) in indexed(&committed) {
                if index < *next {
                    continue;
                }
                if !self.offer(index, entry)? {
                    return Ok(Paused::Full);
                }
                *next = index + 1;
            }
        }
    }

    /// Puts the event of entry `index` (if any, and if the caller may see it) in the client's
    /// buffer; `false` if the buffer has no room for it now.
    fn offer(&self, index: u64, entry: &proto::LedgerEntry) -> Result<bool, End> {
        let Some(event) = self
            .filter
            .event(&self.node, index, entry)
            .map_err(End::Failed)?
        else {
            return Ok(true);
        };
        match self.sender.try_send(event) {
            Ok(()) => Ok(true),
            Err(NotSent::Full) => Ok(false),
            Err(NotSent::Gone) => Err(End::Gone),
        }
    }
}

/// Which events of the ledger a subscriber gets: those of the kinds it asked for (all if none) that
/// its principal may see. `WatchAlerts` and webhook subscriptions share it.
pub(crate) struct EventFilter {
    /// Who the events are for.
    pub(crate) principal: Principal,
    /// The kinds asked for; empty for all.
    pub(crate) kinds: Vec<AlertEventKind>,
}

impl EventFilter {
    /// The event of entry `index`, if any and if the principal may see it; `Err` names what could
    /// not be read.
    pub(crate) fn event(
        &self,
        node: &Context,
        index: u64,
        entry: &proto::LedgerEntry,
    ) -> Result<Option<proto::AlertEvent>, String> {
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
        let stored = match node.state.alert(&id) {
            Ok(Some(stored)) => stored,
            Ok(None) => return Ok(None),
            Err(error) => return Err(error.to_string()),
        };
        if !node.may_see(&self.principal, &stored) {
            return Ok(None);
        }
        let record = node.alert_record(&id, stored).map_err(|e| e.to_string())?;
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
