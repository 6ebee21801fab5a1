//! Points in the ledger where every object received from a partner has its receipt recorded.
//!
//! A received alert or response and the receipt this node issues for it are two appends: the receipt
//! names the checkpoint covering the received entry, so it can only be signed once that entry is
//! committed. A reader judging receipts (a reconciliation) that took the ledger's size between the two
//! would find a received object without its receipt and report a receipt never issued. Deliveries hold
//! [`Settle::receiving`] from before the first append until the receipt is recorded; such readers take
//! their point in the ledger inside [`Settle::settled`], which waits for the deliveries in progress.

use tokio::sync::{RwLock, RwLockReadGuard};

/// Orders deliveries in progress before readers that need every receipt recorded.
#[derive(Default)]
pub(crate) struct Settle(RwLock<()>);

/// Held by a delivery while the objects it records still await their receipts.
pub(crate) type Receiving<'a> = RwLockReadGuard<'a, ()>;

impl Settle {
    /// Taken before recording received objects and dropped once their receipts are recorded (or
    /// failed to be). Deliveries do not wait for each other, only for a reader in [`Settle::settled`];
    /// take it after any per-key lock, so that a reader never waits behind a delivery that waits.
    pub(crate) async fn receiving(&self) -> Receiving<'_> {
        self.0.read().await
    }

    /// Runs `read` when no delivery is between recording an object and recording its receipt. Keep
    /// `read` short (taking a checkpoint): deliveries wait while it runs. New deliveries queue behind
    /// a waiting reader, so the wait ends once the deliveries in progress have finished.
    pub(crate) async fn settled<T>(&self, read: impl FnOnce() -> T) -> T {
        let _settled = self.0.write().await;
        read()
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;

    use futures_util::FutureExt;
    use tulpar_core::keys::SigningKey;
    use tulpar_core::proto::{self, ledger_entry::Kind};
    use tulpar_ledger::{Ledger, LedgerOptions};

    use super::*;

    fn entry(kind: Kind) -> proto::LedgerEntry {
        proto::LedgerEntry {
            alert_id: "01900000-0000-7000-8000-000000000001".into(),
            kind: Some(kind),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_reader_never_sees_a_received_response_without_its_receipt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (ledger, _) = Ledger::open(
            dir.path(),
            LedgerOptions {
                origin: "tulpar/KZ".into(),
                signing_key: SigningKey::generate().expect("key"),
                earlier_keys: Vec::new(),
                views: Vec::new(),
            },
        )
        .expect("open");
        let settle = Settle::default();

        let receiving = settle.receiving().await;
        ledger
            .append(entry(Kind::ResponseReceived(Default::default())))
            .await
            .expect("append");
        // The race as it was: the ledger now ends right after a received response.
        assert_eq!(ledger.latest_checkpoint().size(), 1);
        let mut reader = pin!(settle.settled(|| ledger.latest_checkpoint().size()));
        assert_eq!(reader.as_mut().now_or_never(), None);

        ledger
            .append(entry(Kind::ReceiptIssued(Default::default())))
            .await
            .expect("append");
        assert_eq!(reader.as_mut().now_or_never(), None);
        drop(receiving);
        assert_eq!(reader.now_or_never(), Some(2));
    }

    #[tokio::test]
    async fn deliveries_do_not_wait_for_each_other_and_a_reader_goes_first() {
        let settle = Settle::default();
        let first = settle.receiving().await;
        let second = pin!(settle.receiving()).now_or_never();
        assert!(second.is_some(), "two deliveries at once");
        let mut reader = pin!(settle.settled(|| ()));
        assert_eq!(reader.as_mut().now_or_never(), None);
        // A delivery starting while a reader waits queues behind it: the reader's wait is bounded.
        let mut third = pin!(settle.receiving());
        assert!(third.as_mut().now_or_never().is_none());
        drop((first, second));
        assert_eq!(reader.now_or_never(), Some(()));
        assert!(third.now_or_never().is_some());
    }
}
