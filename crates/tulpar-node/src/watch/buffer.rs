//! A watcher's buffer of events, bounded in bytes rather than in events: an alert record can weigh
//! megabytes, so a count of events bounds nothing.
//!
//! The subscriber task puts events in with [`EventSender::try_send`], which never waits: when the
//! buffer has no room the subscriber lets go of what it holds and waits with
//! [`EventSender::drained`] until the client has taken everything, then reads on from the ledger.
//! The bytes an event counts are released when the stream hands the event to the transport.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use prost::Message;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::Stream;
use tonic::Status;
use tulpar_core::proto::AlertEvent;

/// An item is boxed in the channel: a decoded `AlertEvent` is over a kilobyte even when empty, and
/// the channel allocates its slots 32 at a time as soon as it is made, so a slot of one pointer keeps
/// that block at about 300 bytes for each of thousands of idle watchers (a kilobyte with the event
/// boxed alone).
type Item = Box<(Result<AlertEvent, Status>, Option<OwnedSemaphorePermit>)>;

/// Why an event was not put in the buffer.
#[derive(Debug)]
pub(crate) enum NotSent {
    /// The buffer has no room for it now.
    Full,
    /// The client went away.
    Gone,
}

/// The subscriber's end of a buffer.
pub(crate) struct EventSender {
    capacity: usize,
    room: Arc<Semaphore>,
    items: mpsc::UnboundedSender<Item>,
}

/// The client's end: the stream `WatchAlerts` returns.
pub(crate) struct EventReceiver {
    items: mpsc::UnboundedReceiver<Item>,
}

/// A buffer that holds at most `capacity` bytes of events (encoded size), or a single event of any
/// size when it holds nothing else.
///
/// The channel underneath has no bound of its own: every event holds at least one byte of the
/// semaphore, so the bytes bound the count too.
pub(crate) fn event_buffer(capacity: usize) -> (EventSender, EventReceiver) {
    let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
    let (items, receiver) = mpsc::unbounded_channel();
    (
        EventSender {
            capacity,
            room: Arc::new(Semaphore::new(capacity)),
            items,
        },
        EventReceiver { items: receiver },
    )
}

impl EventSender {
    /// The bytes `event` counts: its encoded size, at most the whole buffer, so that a single event
    /// larger than the buffer still fits in an empty one.
    fn cost(&self, event: &AlertEvent) -> u32 {
        // `capacity` fits in u32 (checked at construction).
        event.encoded_len().clamp(1, self.capacity) as u32
    }

    /// Puts `event` in the buffer if it has room for it now; never waits.
    pub(crate) fn try_send(&self, event: AlertEvent) -> Result<(), NotSent> {
        if self.items.is_closed() {
            return Err(NotSent::Gone);
        }
        let permit = self
            .room
            .clone()
            .try_acquire_many_owned(self.cost(&event))
            .map_err(|_| NotSent::Full)?;
        self.items
            .send(Box::new((Ok(event), Some(permit))))
            .map_err(|_| NotSent::Gone)
    }

    /// Waits until the client has taken every buffered event; `Err(Gone)` if it went away first.
    pub(crate) async fn drained(&self) -> Result<(), NotSent> {
        // A client that goes away drops what it had not read, which frees the room too: going away
        // is checked first, and again once the room is free.
        tokio::select! {
            biased;
            () = self.items.closed() => Err(NotSent::Gone),
            all = self.room.acquire_many(self.capacity as u32) => {
                drop(all);
                if self.items.is_closed() {
                    Err(NotSent::Gone)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Resolves when the client has gone away.
    pub(crate) async fn closed(&self) {
        self.items.closed().await;
    }

    /// Ends the stream with `status`, whatever the room: it is a few bytes, sent once.
    pub(crate) fn finish(&self, status: Status) {
        let _ = self.items.send(Box::new((Err(status), None)));
    }

    /// Bytes of events buffered now.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.capacity - self.room.available_permits()
    }
}

impl Stream for EventReceiver {
    type Item = Result<AlertEvent, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // The permit is dropped here: the event's bytes leave the buffer as the transport takes it.
        self.items.poll_recv(cx).map(|item| item.map(|item| item.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;

    fn event(index: u64, bytes: usize) -> AlertEvent {
        AlertEvent {
            ledger_index: index,
            alert_id: "x".repeat(bytes),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_client_that_does_not_read_makes_the_buffer_hold_no_more_than_its_bound() {
        let bound = tulpar_core::limits::WATCH_BUFFER_BYTES;
        let (sender, _receiver) = event_buffer(bound);
        let size = 300 * 1024;
        let mut sent = 0;
        // The attack: a watcher that never reads while large alerts keep coming.
        for index in 0..60 {
            match sender.try_send(event(index, size)) {
                Ok(()) => sent += 1,
                Err(NotSent::Full) => {}
                Err(NotSent::Gone) => panic!("the client is still there"),
            }
            assert!(
                sender.buffered() <= bound,
                "{} bytes buffered",
                sender.buffered()
            );
        }
        assert_eq!(sent, bound / event(0, size).encoded_len());
    }

    #[tokio::test]
    async fn an_event_larger_than_the_bound_goes_alone_into_an_empty_buffer() {
        let (sender, mut receiver) = event_buffer(1000);
        sender.try_send(event(1, 10)).expect("room");
        assert!(matches!(
            sender.try_send(event(2, 5000)),
            Err(NotSent::Full)
        ));
        assert_eq!(
            receiver
                .next()
                .await
                .map(|e| e.ok().map(|e| e.ledger_index)),
            Some(Some(1))
        );
        sender.drained().await.expect("drained");
        sender
            .try_send(event(2, 5000))
            .expect("an empty buffer takes it");
        assert!(matches!(sender.try_send(event(3, 1)), Err(NotSent::Full)));
        assert_eq!(
            receiver
                .next()
                .await
                .map(|e| e.ok().map(|e| e.ledger_index)),
            Some(Some(2))
        );
        sender.try_send(event(3, 1)).expect("room again");
    }

    #[tokio::test]
    async fn drained_waits_for_the_client_and_ends_when_it_goes() {
        let (sender, receiver) = event_buffer(1000);
        sender.try_send(event(1, 10)).expect("room");
        let waiting = tokio::spawn(async move {
            let result = sender.drained().await;
            (result, sender)
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(receiver);
        let (result, sender) = waiting.await.expect("task");
        assert!(matches!(result, Err(NotSent::Gone)));
        assert!(matches!(sender.try_send(event(2, 1)), Err(NotSent::Gone)));
    }

    #[tokio::test]
    async fn the_final_status_is_sent_even_when_the_buffer_is_full() {
        let (sender, mut receiver) = event_buffer(100);
        sender.try_send(event(1, 200)).expect("empty buffer");
        sender.finish(Status::resource_exhausted("resume with resume_from = 2"));
        drop(sender);
        let items: Vec<_> = (&mut receiver).collect().await;
        assert_eq!(items.len(), 2);
        assert!(
            items[1]
                .as_ref()
                .is_err_and(|s| s.code() == tonic::Code::ResourceExhausted)
        );
    }
}
