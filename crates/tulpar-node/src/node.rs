//! What the node's parts share: the handles of [`Shared`] and the ledger operations every part uses.
//! Start-up and shutdown are in `startup`, partners in `partners`.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Result;
use tulpar_core::codes::CountryCode;
use tulpar_core::keys::SigningKey;
use tulpar_core::proto;
use tulpar_core::time::Clock;
use tulpar_ledger::{CommittedBatch, Ledger};
use tulpar_trust::TrustStore;
use tulpar_trust::tls::NodeIdentity;

use crate::client_auth::ClientAuth;
use crate::config::Config;
use crate::delivery::Delivery;
use crate::error::ApiError;
use crate::lifecycle::Lifecycle;
use crate::locks::KeyedLocks;
use crate::partners::RefusedDirectory;
use crate::settle::Settle;
use crate::state::State;
use crate::units::UnitKeys;

/// A committed ledger batch, as broadcast to watchers.
pub(crate) type Committed = Arc<CommittedBatch>;

/// An appended entry: its index and the checkpoint covering it.
pub(crate) struct Appended {
    pub(crate) index: u64,
    pub(crate) checkpoint: proto::Checkpoint,
}

/// Everything the node's services and workers share.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) country: CountryCode,
    pub(crate) ledger: Ledger,
    pub(crate) state: State,
    pub(crate) trust: Arc<TrustStore>,
    pub(crate) identity: NodeIdentity,
    pub(crate) units: UnitKeys,
    pub(crate) ledger_key: SigningKey,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) locks: KeyedLocks,
    /// Deliveries between recording a received object and its receipt, for readers judging receipts.
    pub(crate) settle: Settle,
    pub(crate) auth: ClientAuth,
    pub(crate) delivery: Delivery,
    /// The node's tasks, and the signal on which they and long-lived streams end.
    pub(crate) lifecycle: Lifecycle,
    /// Partners whose directory was refused, so it is not fetched again every interval.
    pub(crate) refused_directories: std::sync::Mutex<HashMap<CountryCode, RefusedDirectory>>,
}

/// The entries of a committed batch with their indexes, in order.
pub(crate) fn indexed(batch: &CommittedBatch) -> impl Iterator<Item = (u64, &proto::LedgerEntry)> {
    (batch.first_index..).zip(&batch.entries)
}

impl Shared {
    /// The ledger entry at `index`.
    pub(crate) fn entry(&self, index: u64) -> Result<proto::LedgerEntry, ApiError> {
        self.ledger.entry(index).map_err(ApiError::internal)
    }

    /// Entries `from..until`.
    pub(crate) fn entries(
        &self,
        from: u64,
        until: u64,
    ) -> Result<Vec<(u64, proto::LedgerEntry)>, ApiError> {
        self.ledger.entries(from..until).map_err(ApiError::internal)
    }

    /// Number of ledger entries.
    pub(crate) fn ledger_size(&self) -> u64 {
        self.ledger.size()
    }

    /// Appends `entry` and waits until it is durable and applied to the state view.
    pub(crate) async fn append(&self, entry: proto::LedgerEntry) -> Result<Appended, ApiError> {
        let mut appended = self.append_all(vec![entry]).await?;
        appended
            .pop()
            .ok_or_else(|| ApiError::internal("the ledger appended nothing"))
    }

    /// Appends `entries` at consecutive indexes in one ledger request and waits until they are all
    /// durable and applied to the state view.
    pub(crate) async fn append_all(
        &self,
        entries: Vec<proto::LedgerEntry>,
    ) -> Result<Vec<Appended>, ApiError> {
        let appended = self.ledger.append_all(entries).await?;
        let Some(first) = appended.first() else {
            return Ok(Vec::new());
        };
        // One batch: every entry shares the first one's checkpoint.
        let checkpoint = first.checkpoint.to_proto();
        Ok(appended
            .iter()
            .map(|a| Appended {
                index: a.index,
                checkpoint: checkpoint.clone(),
            })
            .collect())
    }

    /// The latest signed checkpoint.
    pub(crate) fn latest_checkpoint(&self) -> proto::Checkpoint {
        self.ledger.latest_checkpoint().to_proto()
    }
}
