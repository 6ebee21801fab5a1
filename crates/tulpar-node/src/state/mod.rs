//! The node's state: alert records, outboxes, idempotency records, deadlines — all a view of the ledger.
//!
//! **Architecture invariant:** nothing here is written except by [`StateView::apply_entry`], which the
//! ledger's commit loop calls for every committed entry (and again for entries the view missed, when the
//! node starts after a crash). Handlers read the view and append to the ledger; they never write state.

mod apply;
pub(crate) mod keys;
mod records;
mod tokens;

use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message;
use tulpar_core::codes::CountryCode;
use tulpar_core::proto;

use crate::config::DeadlinesConfig;

pub(crate) use apply::id_bytes;
pub(crate) use records::{
    OutboxItem, ReceivedRecord, RequestRecord, StoredAlert, UndeliverableRecord,
};
pub(crate) use tokens::{TokenRevocation, TokenRevocations};

/// Name of the sled tree holding the view.
// Renamed whenever what the view stores changes, so that it is rebuilt from the segments.
pub(crate) const VIEW_NAME: &str = "node-state-2";

/// Text as searches compare it: upper case, without spaces or '-'.
pub(crate) fn search_key(text: &str) -> String {
    tulpar_core::normalise::compact(text)
}

/// What can go wrong reading or updating the state view.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The embedded store failed.
    #[error("state store: {0}")]
    Store(String),
    /// A stored record does not decode: the view must be rebuilt from the ledger.
    #[error(
        "state record is corrupt ({0}); delete the index directory to rebuild it from the ledger"
    )]
    Corrupt(String),
}

impl From<sled::Error> for StateError {
    fn from(error: sled::Error) -> Self {
        Self::Store(error.to_string())
    }
}

impl From<StateError> for tulpar_ledger::ViewError {
    fn from(error: StateError) -> Self {
        Self::new(error.to_string())
    }
}

/// Reads and writes of one commit batch, seeing its own pending writes.
pub(crate) trait Txn {
    /// The value at `key`, including writes pending in this batch.
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;
    /// Sets `key`.
    fn insert(&mut self, key: Vec<u8>, value: Vec<u8>);
    /// Removes `key`.
    fn remove(&mut self, key: Vec<u8>);
}

impl Txn for tulpar_ledger::ViewTxn<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        tulpar_ledger::ViewTxn::get(self, key).map_err(|e| StateError::Store(e.to_string()))
    }

    fn insert(&mut self, key: Vec<u8>, value: Vec<u8>) {
        tulpar_ledger::ViewTxn::insert(self, key, value);
    }

    fn remove(&mut self, key: Vec<u8>) {
        tulpar_ledger::ViewTxn::remove(self, key);
    }
}

impl tulpar_ledger::View for StateView {
    fn name(&self) -> &str {
        VIEW_NAME
    }

    fn apply(
        &self,
        index: u64,
        entry: &proto::LedgerEntry,
        txn: &mut tulpar_ledger::ViewTxn<'_>,
    ) -> Result<(), tulpar_ledger::ViewError> {
        Ok(self.apply_entry(index, entry, txn)?)
    }
}

/// The state view: how entries change state. Holds what entries alone do not say (this node's country
/// and its deadline settings).
#[derive(Debug, Clone)]
pub(crate) struct StateView {
    pub(crate) country: CountryCode,
    pub(crate) deadlines: DeadlinesConfig,
}

/// Read access to the state view.
#[derive(Clone)]
pub(crate) struct State {
    tree: sled::Tree,
}

fn decode<M: Message + Default>(bytes: &[u8], what: &str) -> Result<M, StateError> {
    M::decode(bytes).map_err(|e| StateError::Corrupt(format!("{what}: {e}")))
}

impl State {
    /// State read from `tree`.
    pub(crate) fn new(tree: sled::Tree) -> Self {
        Self { tree }
    }

    fn get<M: Message + Default>(&self, key: &[u8], what: &str) -> Result<Option<M>, StateError> {
        self.tree
            .get(key)?
            .map(|bytes| decode(&bytes, what))
            .transpose()
    }

    /// The record of an alert.
    pub(crate) fn alert(&self, id: &[u8; 16]) -> Result<Option<StoredAlert>, StateError> {
        self.get(&keys::alert(id), "alert record")
    }

    /// Alert records, newest first, starting after `after` (an alert id) if given.
    pub(crate) fn alerts_newest_first(
        &self,
        after: Option<[u8; 16]>,
    ) -> impl Iterator<Item = Result<([u8; 16], StoredAlert), StateError>> + '_ {
        let start = keys::alert(&[0u8; 16]);
        let end = match after {
            Some(id) => keys::alert(&id),
            None => {
                let mut end = keys::ALERTS.to_vec();
                end.extend_from_slice(&[0xff; 17]);
                end
            }
        };
        self.tree.range(start..end).rev().map(|item| {
            let (key, value) = item?;
            let id: [u8; 16] = key[keys::ALERTS.len()..]
                .try_into()
                .map_err(|_| StateError::Corrupt("alert key length".into()))?;
            Ok((id, decode(&value, "alert record")?))
        })
    }

    /// Up to `limit` items waiting for `partner` with a ledger index after `after` (from the oldest
    /// when `None`), oldest first, with their ledger index.
    pub(crate) fn outbox(
        &self,
        partner: CountryCode,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, OutboxItem)>, StateError> {
        let start = match after {
            Some(index) => keys::outbox(partner, index.saturating_add(1)),
            None => keys::outbox_prefix(partner),
        };
        let mut end = keys::outbox_prefix(partner);
        end.extend_from_slice(&[0xff; 9]);
        let mut items = Vec::new();
        for item in self.tree.range(start..end).take(limit) {
            let (key, value) = item?;
            let index =
                keys::outbox_index(&key).ok_or_else(|| StateError::Corrupt("outbox key".into()))?;
            items.push((index, decode(&value, "outbox item")?));
        }
        Ok(items)
    }

    /// How many items wait for `partner`.
    pub(crate) fn outbox_depth(&self, partner: CountryCode) -> u64 {
        self.tree.scan_prefix(keys::outbox_prefix(partner)).count() as u64
    }

    /// How many items `partner` refused for good, and the last refusal.
    pub(crate) fn undeliverable(
        &self,
        partner: CountryCode,
    ) -> Result<UndeliverableRecord, StateError> {
        Ok(self
            .get(&keys::undeliverable(partner), "undeliverable record")?
            .unwrap_or_default())
    }

    /// Whether `index` still waits for `partner`.
    pub(crate) fn in_outbox(&self, partner: CountryCode, index: u64) -> Result<bool, StateError> {
        Ok(self.tree.contains_key(keys::outbox(partner, index))?)
    }

    /// The earlier result of a client request.
    pub(crate) fn request(
        &self,
        principal: &str,
        request_id: &str,
    ) -> Result<Option<RequestRecord>, StateError> {
        self.get(&keys::request(principal, request_id), "request record")
    }

    /// What a partner delivered under `id` (an alert or response id).
    pub(crate) fn received(&self, id: &[u8; 16]) -> Result<Option<ReceivedRecord>, StateError> {
        self.get(&keys::received(id), "received record")
    }

    /// Deadlines due at or before `now`: (due time, alert id, recipient country).
    pub(crate) fn due_deadlines(
        &self,
        now: SystemTime,
    ) -> Result<Vec<(SystemTime, [u8; 16], CountryCode)>, StateError> {
        let now_ms = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut end = keys::DEADLINES.to_vec();
        end.extend_from_slice(&(now_ms + 1).to_be_bytes());
        let mut due = Vec::new();
        for item in self.tree.range(keys::DEADLINES.to_vec()..end) {
            let (key, _) = item?;
            let (ms, alert, country) = keys::parse_deadline(&key)
                .ok_or_else(|| StateError::Corrupt("deadline key".into()))?;
            due.push((
                UNIX_EPOCH + std::time::Duration::from_millis(ms),
                alert,
                country,
            ));
        }
        Ok(due)
    }

    /// The latest checkpoint note of `partner` this node cosigned as a witness.
    pub(crate) fn witnessed(&self, partner: CountryCode) -> Result<Option<String>, StateError> {
        self.text(&keys::witnessed(partner))
    }

    /// The latest checkpoint note of this node that `partner` cosigned, with its cosignature.
    pub(crate) fn cosigned_by(&self, partner: CountryCode) -> Result<Option<String>, StateError> {
        self.text(&keys::cosigned(partner))
    }

    /// The latest checkpoint note of the outside log `origin` this node cosigned as a witness.
    pub(crate) fn witnessed_log(&self, origin: &str) -> Result<Option<String>, StateError> {
        self.text(&keys::witnessed_log(origin))
    }

    /// The latest checkpoint note of this node that the external witness `name` cosigned, with its
    /// cosignature.
    pub(crate) fn cosigned_by_witness(&self, name: &str) -> Result<Option<String>, StateError> {
        self.text(&keys::cosigned_by_witness(name))
    }

    /// When `partner`'s latest cosignature of this node's checkpoints was recorded.
    pub(crate) fn cosigned_at(
        &self,
        partner: CountryCode,
    ) -> Result<Option<SystemTime>, StateError> {
        let Some(bytes) = self.tree.get(keys::cosigned_at(partner))? else {
            return Ok(None);
        };
        let seconds = <[u8; 8]>::try_from(bytes.as_ref())
            .map(i64::from_be_bytes)
            .map_err(|_| StateError::Corrupt("cosignature time".into()))?;
        Ok(tulpar_core::time::from_timestamp(
            &tulpar_proto::pbjson_types::Timestamp { seconds, nanos: 0 },
        ))
    }

    fn text(&self, key: &[u8]) -> Result<Option<String>, StateError> {
        self.tree
            .get(key)?
            .map(|bytes| {
                String::from_utf8(bytes.to_vec())
                    .map_err(|_| StateError::Corrupt("checkpoint text".into()))
            })
            .transpose()
    }

    /// Ledger indexes of alarm entries, oldest first.
    pub(crate) fn alarms(&self) -> Result<Vec<u64>, StateError> {
        self.tree
            .scan_prefix(keys::ALARMS)
            .map(|item| {
                let (key, _) = item?;
                key.get(keys::ALARMS.len()..)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_be_bytes)
                    .ok_or_else(|| StateError::Corrupt("alarm key".into()))
            })
            .collect()
    }

    /// Currently overdue (alert id, recipient country) pairs, in alert id order.
    pub(crate) fn overdue(&self) -> Result<Vec<([u8; 16], CountryCode)>, StateError> {
        self.tree
            .scan_prefix(keys::OVERDUE)
            .map(|item| {
                let (key, _) = item?;
                keys::parse_overdue(&key).ok_or_else(|| StateError::Corrupt("overdue key".into()))
            })
            .collect()
    }
}
