//! The handles every component of the node shares: the ledger, its state view, the trust store, the
//! clock, the ledger key, and the node's lifecycle. Components hold an `Arc<Context>` and own the rest
//! of what they need; none reaches into another's state.

use std::sync::Arc;

use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_core::envelope::{PayloadType, decode_recorded};
use tulpar_core::ids::AlertId;
use tulpar_core::proto::{self, ledger_entry::Kind};
use tulpar_core::time::Clock;
use tulpar_core::validation::shorten;
use tulpar_ledger::{CommittedBatch, Ledger};
use tulpar_trust::TrustStore;

use crate::auth::{AlertSide, Principal};
use crate::error::ApiError;
use crate::lifecycle::Lifecycle;
use crate::locks::KeyedLocks;
use crate::metrics::Metrics;
use crate::settle::Settle;
use crate::state::{State, StoredAlert};

/// A committed ledger batch, as broadcast to watchers.
pub(crate) type Committed = Arc<CommittedBatch>;

/// An appended entry: its index and the checkpoint covering it.
pub(crate) struct Appended {
    pub(crate) index: u64,
    pub(crate) checkpoint: proto::Checkpoint,
}

/// The shared handles of the node.
pub(crate) struct Context {
    pub(crate) country: CountryCode,
    /// The federation's name (`federation.name`): origins are `<name>/<CC>`.
    pub(crate) federation: String,
    pub(crate) ledger: Ledger,
    pub(crate) state: State,
    pub(crate) trust: Arc<TrustStore>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Serialises work on one key (a request id, an alert, a received id) across calls.
    pub(crate) locks: KeyedLocks,
    /// Deliveries between recording a received object and its receipt, for readers judging receipts.
    pub(crate) settle: Settle,
    /// The node's tasks, and the signal on which they and long-lived streams end.
    pub(crate) lifecycle: Lifecycle,
    /// Counts what is appended, for the scrape endpoint.
    pub(crate) metrics: Metrics,
}

/// The entries of a committed batch with their indexes, in order.
pub(crate) fn indexed(batch: &CommittedBatch) -> impl Iterator<Item = (u64, &proto::LedgerEntry)> {
    (batch.first_index..).zip(&batch.entries)
}

impl Context {
    /// The node's ledger key now: it signs checkpoints, receipts and cosignatures, and changes
    /// when the node's key is rotated ([`crate::ledger_key`]).
    pub(crate) fn ledger_key(&self) -> Arc<tulpar_core::keys::SigningKey> {
        self.ledger.signing_key()
    }

    /// Whether `country` is a partner this node may exchange alerts with: pinned, with a verified
    /// directory, and not this node's own country.
    pub(crate) fn is_partner(&self, country: CountryCode) -> bool {
        country != self.country && self.trust.directory(country).is_some()
    }

    /// The checkpoint origin of `country`'s ledger in this federation.
    pub(crate) fn origin_of(&self, country: CountryCode) -> String {
        tulpar_ledger::note::ledger_origin(&self.federation, country)
    }

    /// The cosigner name of `country`'s node as a witness in this federation.
    pub(crate) fn witness_name_of(&self, country: CountryCode) -> String {
        tulpar_ledger::note::witness_name(&self.federation, country)
    }

    /// The partners in the trust store.
    pub(crate) fn partners(&self) -> Vec<CountryCode> {
        self.trust
            .countries()
            .into_iter()
            .filter(|c| *c != self.country)
            .collect()
    }

    /// The ledger entry at `index`.
    pub(crate) fn entry(&self, index: u64) -> Result<proto::LedgerEntry, ApiError> {
        Ok(self.ledger.entry(index)?)
    }

    /// Entries `from..until`.
    pub(crate) fn entries(
        &self,
        from: u64,
        until: u64,
    ) -> Result<Vec<(u64, proto::LedgerEntry)>, ApiError> {
        Ok(self.ledger.entries(from..until)?)
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
        let counted = self.metrics.events_of(&entries, &self.state);
        let appended = self.ledger.append_all(entries).await?;
        self.metrics.record(counted, self.clock.now());
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

    /// The signed alert an `AlertSent`/`AlertReceived` entry at `index` holds.
    pub(crate) fn alert_envelope(&self, index: u64) -> Result<proto::Envelope, ApiError> {
        let entry = self.entry(index)?;
        match entry.kind {
            Some(Kind::AlertSent(sent)) => sent.alert,
            Some(Kind::AlertReceived(received)) => received.alert,
            _ => None,
        }
        .ok_or_else(|| ApiError::internal(format!("ledger entry {index} holds no alert")))
    }

    /// How an alert relates to this node, for visibility checks.
    pub(crate) fn side_of<'a>(
        &self,
        stored: &StoredAlert,
        origin: &'a mut Option<UnitId>,
        recipient: &'a mut Option<tulpar_core::alert::RecipientSpec>,
    ) -> Option<AlertSide<'a>> {
        if stored.direction == proto::Direction::Sent as i32 {
            *origin = UnitId::parse(&stored.origin_unit).ok();
            origin.as_ref().map(|origin| AlertSide::Sent { origin })
        } else {
            let own = stored.recipients.first()?;
            let units = own
                .units
                .iter()
                .filter_map(|u| UnitId::parse(u).ok())
                .collect();
            *recipient = Some(tulpar_core::alert::RecipientSpec {
                country: self.country,
                units,
            });
            recipient
                .as_ref()
                .map(|recipient| AlertSide::Received { recipient })
        }
    }

    /// Whether `principal` may see the alert `stored`.
    pub(crate) fn may_see(&self, principal: &Principal, stored: &StoredAlert) -> bool {
        let (mut origin, mut recipient) = (None, None);
        self.side_of(stored, &mut origin, &mut recipient)
            .is_some_and(|side| principal.may_see(side))
    }

    /// The full record of alert `id`: body, signature, lifecycle. When the entry that recorded the
    /// alert is damaged on disk, the record says so in `damage` and holds what the state view keeps.
    pub(crate) fn alert_record(
        &self,
        id: &[u8; 16],
        stored: StoredAlert,
    ) -> Result<proto::AlertRecord, ApiError> {
        let alert_id = AlertId::from_bytes(*id)
            .map(|id| id.to_string())
            .unwrap_or_default();
        let (alert, signed_alert, damage) = match self.ledger.entry(stored.ledger_index) {
            Ok(entry) => {
                let envelope = match entry.kind {
                    Some(Kind::AlertSent(sent)) => sent.alert,
                    Some(Kind::AlertReceived(received)) => received.alert,
                    _ => None,
                }
                .ok_or_else(|| {
                    ApiError::internal(format!(
                        "ledger entry {} holds no alert",
                        stored.ledger_index
                    ))
                })?;
                let alert = decode_recorded::<proto::Alert>(&envelope, PayloadType::Alert)
                    .map_err(ApiError::internal)?;
                (Some(alert), Some(envelope), None)
            }
            Err(tulpar_ledger::LedgerError::Corrupt {
                path,
                offset,
                reason,
                ..
            }) => {
                let index = stored.ledger_index;
                let damage = self.damage_at(index).unwrap_or_else(|| {
                    let found = tulpar_ledger::Damage {
                        segment: path,
                        offset,
                        entries: index..index + 1,
                        reason,
                        found_at: self.clock.now(),
                    };
                    self.damage_to_proto(&found)
                });
                (None, None, Some(damage))
            }
            Err(other) => return Err(other.into()),
        };
        Ok(proto::AlertRecord {
            alert,
            signed_alert,
            direction: stored.direction,
            ledger_index: stored.ledger_index,
            recipients: stored.recipients,
            alert_id,
            damage,
        })
    }

    /// The damage found in the ledger that covers entry `index`, as the API describes it.
    pub(crate) fn damage_at(&self, index: u64) -> Option<proto::LedgerDamage> {
        let integrity = self.ledger.integrity();
        let integrity = integrity.borrow();
        integrity
            .damage
            .iter()
            .find(|d| d.entries.contains(&index))
            .map(|d| self.damage_to_proto(d))
    }

    /// `damage` as the API describes it.
    pub(crate) fn damage_to_proto(&self, damage: &tulpar_ledger::Damage) -> proto::LedgerDamage {
        proto::LedgerDamage {
            segment: damage.segment_name(),
            offset: damage.offset,
            first_index: damage.entries.start,
            end_index: damage.entries.end,
            reason: damage.reason.clone(),
            found_at: Some(tulpar_core::time::to_timestamp(damage.found_at)),
        }
    }

    /// The record of alert `id` if `principal` may see it; NOT_FOUND otherwise, so that ids of alerts
    /// the caller may not see are not revealed either.
    pub(crate) fn visible_alert(
        &self,
        principal: &Principal,
        id: &[u8; 16],
        text: &str,
    ) -> Result<StoredAlert, ApiError> {
        match self.state.alert(id)? {
            Some(stored) if self.may_see(principal, &stored) => Ok(stored),
            _ => Err(ApiError::NotFound(format!(
                "alert {} not found",
                shorten(text)
            ))),
        }
    }
}
