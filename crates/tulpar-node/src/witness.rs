//! Witnessed checkpoints (C2SP tlog-witness semantics): each node presents its latest checkpoint to every
//! partner with a consistency proof from the size that partner last cosigned; the partner verifies,
//! records, and cosigns. A partner that is shown two checkpoints that cannot both be true records the
//! evidence in its ledger.

use std::sync::Arc;

use tulpar_core::codes::CountryCode;
use tulpar_core::keys::PublicKey;
use tulpar_core::proto::{self, ledger_entry::Kind};
use tulpar_core::time::to_timestamp;
use tulpar_ledger::note::{self, CheckpointBody};
use tulpar_ledger::{ProofError, SignedCheckpoint, verify_consistency_proof};
use tulpar_trust::directory::Purpose;

use crate::context::Context;
use crate::error::ApiError;
use crate::partners::Partners;

/// Why a round of presenting a checkpoint to a partner failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WitnessError {
    /// This node could not read or record (its ledger or state view).
    #[error(transparent)]
    Local(#[from] ApiError),
    /// The partner cannot be reached from here.
    #[error(transparent)]
    Unreachable(#[from] crate::partners::PartnerError),
    /// The partner refused the checkpoint.
    #[error("{partner} refused the checkpoint: {message}")]
    Refused {
        /// The partner.
        partner: CountryCode,
        /// Its answer.
        message: String,
    },
    /// The partner's cosignature does not verify under its checkpoint keys.
    #[error("the cosignature from {0} does not verify")]
    BadCosignature(CountryCode),
    /// The partner kept naming sizes this node could not prove consistency from.
    #[error("{0} keeps refusing the checkpoint")]
    KeepsRefusing(CountryCode),
}

/// Why a partner's checkpoint was not cosigned.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckpointError {
    /// No checkpoint key of the partner's node is valid now.
    #[error("checkpoint from {0}: no checkpoint key of the {0} node is known")]
    NoKey(CountryCode),
    /// The checkpoint does not verify under any of the partner's checkpoint keys.
    #[error("checkpoint from {partner}: {source}")]
    Unverified {
        partner: CountryCode,
        source: note::NoteError,
    },
    /// The witness holds a checkpoint of another size than the request assumed.
    #[error("the witness holds a checkpoint of size {0}")]
    Holds(u64),
    /// The consistency proof proves nothing (missing, malformed, leading to no signed root): the
    /// presenter's mistake, not evidence of a fork.
    #[error(
        "consistency_proof from size {held} to {offered} does not verify ({error}); send the proof \
         the log computes for these sizes"
    )]
    BadProof {
        offered: u64,
        held: u64,
        error: ProofError,
    },
    /// The checkpoint contradicts the one cosigned before; the evidence is recorded.
    #[error("{}; the evidence is recorded", inconsistency(*.offered, *.held))]
    Inconsistent { offered: u64, held: u64 },
    /// A fault of this node (storage).
    #[error(transparent)]
    Node(#[from] ApiError),
}

impl From<crate::state::StateError> for CheckpointError {
    fn from(error: crate::state::StateError) -> Self {
        Self::Node(error.into())
    }
}

impl From<CheckpointError> for ApiError {
    fn from(error: CheckpointError) -> Self {
        use CheckpointError as E;
        match error {
            E::NoKey(_) | E::Unverified { .. } => Self::Refused(error.to_string()),
            E::Holds(size) => Self::WitnessHolds(size),
            E::BadProof { .. } => Self::Invalid(tulpar_core::validation::Violations::single(
                "consistency_proof",
                error.to_string(),
            )),
            E::Inconsistent { .. } => Self::Aborted(error.to_string()),
            E::Node(error) => error,
        }
    }
}

crate::error::status_through_api_error!(CheckpointError);

/// Why a checkpoint of `offered` entries is evidence against the cosigned one of `held`, as recorded
/// and as told to the presenter.
fn inconsistency(offered: u64, held: u64) -> String {
    format!("checkpoint of size {offered} is not consistent with the cosigned one of size {held}")
}

/// The checkpoint origin (and signer name) of `country`'s ledger.
pub(crate) fn origin(country: CountryCode) -> String {
    format!("tulpar/{country}")
}

/// Whether an entry is witnessing bookkeeping: a ledger that grew by these alone needs no new round.
fn is_bookkeeping(entry: &proto::LedgerEntry) -> bool {
    matches!(
        entry.kind,
        Some(Kind::CheckpointCosigned(_) | Kind::CosignatureReceived(_))
    )
}

/// Entries a witness round reads at a time to see whether anything but bookkeeping was appended.
const SCAN_CHUNK: u64 = 256;

/// Both sides of witnessing: cosigning partners' checkpoints, and presenting this node's to them.
pub(crate) struct Witness {
    context: Arc<Context>,
    partners: Arc<Partners>,
    /// The digest of the last checkpoint refused for a bad proof, per partner: logged once.
    last_refused: std::sync::Mutex<std::collections::HashMap<CountryCode, Vec<u8>>>,
}

impl Witness {
    /// Witnessing for `context`'s ledger, reaching `partners`.
    pub(crate) fn new(context: Arc<Context>, partners: Arc<Partners>) -> Self {
        Self {
            context,
            partners,
            last_refused: Default::default(),
        }
    }

    /// The ledger keys of `partner`'s node valid for checkpoints now.
    fn checkpoint_keys(&self, partner: CountryCode) -> Vec<PublicKey> {
        let Some(directory) = self.context.trust.directory(partner) else {
            return Vec::new();
        };
        let now = self.context.clock.now();
        directory
            .node_keys()
            .iter()
            .filter(|key| {
                self.context
                    .trust
                    .check_node_key(partner, &key.key_id, Purpose::Checkpoint, now)
                    .is_ok()
            })
            .map(|key| key.public_key)
            .collect()
    }

    /// Verifies `text` as a checkpoint of `partner`'s ledger signed by its node.
    fn partner_checkpoint(
        &self,
        partner: CountryCode,
        text: &str,
    ) -> Result<SignedCheckpoint, CheckpointError> {
        let origin = origin(partner);
        let mut last_error = CheckpointError::NoKey(partner);
        for key in self.checkpoint_keys(partner) {
            match SignedCheckpoint::verify(text, Some(&origin), &key) {
                Ok(checkpoint) => return Ok(checkpoint),
                Err(source) => last_error = CheckpointError::Unverified { partner, source },
            }
        }
        Err(last_error)
    }

    /// The witness side: checks a partner's checkpoint against the one it cosigned before, records and
    /// cosigns it. Refuses a stale `old_size` (naming the size held) and a rollback; records an
    /// inconsistent checkpoint as evidence and refuses it.
    pub(crate) async fn add_checkpoint(
        &self,
        partner: CountryCode,
        request: proto::AddCheckpointRequest,
    ) -> Result<String, CheckpointError> {
        let offered = self.partner_checkpoint(partner, &request.checkpoint)?;
        let _guard = self
            .context
            .locks
            .lock(format!("witness/{partner}").into_bytes())
            .await;
        // The held checkpoint was verified when it was recorded; only its body is needed now.
        let held = match self.context.state.witnessed(partner)? {
            Some(text) => Some((recorded_body(&text)?, text)),
            None => None,
        };
        let held_size = held.as_ref().map_or(0, |(body, _)| body.size);
        if request.old_size != held_size || offered.size() < held_size {
            return Err(CheckpointError::Holds(held_size));
        }
        if let Some((body, text)) = &held {
            // Only a proven fork is evidence: two signed checkpoints of one size with other roots, or
            // a proof that takes the offered root back to another tree than the one held. A proof
            // that proves nothing is the presenter's mistake, refused without an alarm.
            let forked = if offered.size() == body.size {
                *offered.root() != body.root
            } else {
                let proof = proto::ConsistencyProof {
                    old_size: body.size,
                    new_size: offered.size(),
                    hashes: request.consistency_proof.clone(),
                };
                match verify_consistency_proof(&proof, &body.root, offered.root()) {
                    Ok(()) => false,
                    Err(ProofError::Diverges) => true,
                    Err(error) => {
                        let refused = CheckpointError::BadProof {
                            offered: offered.size(),
                            held: body.size,
                            error,
                        };
                        self.log_refusal(partner, offered.note(), &refused);
                        return Err(refused);
                    }
                }
            };
            if offered.size() == body.size && !forked {
                // The held checkpoint again: the same cosignature (signatures are deterministic),
                // and nothing recorded, however often it comes.
                return note::cosign(
                    offered.note(),
                    &origin(self.context.country),
                    &self.context.ledger_key,
                )
                .map_err(|e| ApiError::internal(e).into());
            }
            if forked {
                let inconsistent = CheckpointError::Inconsistent {
                    offered: offered.size(),
                    held: body.size,
                };
                let reason = inconsistency(offered.size(), body.size);
                self.record(proto::LedgerEntry {
                    recorded_at: Some(to_timestamp(self.context.clock.now())),
                    alert_id: String::new(),
                    kind: Some(Kind::EquivocationDetected(proto::EquivocationDetected {
                        country: partner.to_string(),
                        known_checkpoint: text.clone(),
                        conflicting_checkpoint: offered.note().to_owned(),
                        reason: reason.clone(),
                    })),
                })
                .await?;
                tracing::error!(peer.country = %partner, %reason, "partner ledger equivocation detected");
                return Err(inconsistent);
            }
        }
        let cosignature = note::cosign(
            offered.note(),
            &origin(self.context.country),
            &self.context.ledger_key,
        )
        .map_err(ApiError::internal)?;
        self.record(proto::LedgerEntry {
            recorded_at: Some(to_timestamp(self.context.clock.now())),
            alert_id: String::new(),
            kind: Some(Kind::CheckpointCosigned(proto::CheckpointCosigned {
                country: partner.to_string(),
                checkpoint: offered.note().to_owned(),
                cosignature: cosignature.clone(),
            })),
        })
        .await?;
        Ok(cosignature)
    }

    /// Whether entries `from..until` are all witnessing bookkeeping, read [`SCAN_CHUNK`] at a time and
    /// stopping at the first that is not, so a round holds a bounded part of the ledger in memory.
    fn only_bookkeeping(&self, from: u64, until: u64) -> Result<bool, ApiError> {
        let mut start = from;
        while start < until {
            let end = until.min(start + SCAN_CHUNK);
            let entries = self.context.entries(start, end)?;
            if !entries.iter().all(|(_, entry)| is_bookkeeping(entry)) {
                return Ok(false);
            }
            start = end;
        }
        Ok(true)
    }

    /// Logs a refused proof once per distinct checkpoint and partner, however often it is sent.
    fn log_refusal(&self, partner: CountryCode, checkpoint: &str, error: &CheckpointError) {
        let digest = ring::digest::digest(&ring::digest::SHA256, checkpoint.as_bytes());
        let mut last = self.last_refused.lock().unwrap_or_else(|p| p.into_inner());
        if last.get(&partner).map(|d| d.as_slice()) != Some(digest.as_ref()) {
            last.insert(partner, digest.as_ref().to_vec());
            tracing::warn!(peer.country = %partner, %error, "checkpoint refused");
        }
    }

    async fn record(&self, entry: proto::LedgerEntry) -> Result<(), ApiError> {
        self.context.append(entry).await.map(|_| ())
    }

    /// The presenting side: one round with `partner`. Returns the size cosigned, or `None` when the
    /// ledger has grown only by witnessing bookkeeping since the last cosigned checkpoint.
    pub(crate) async fn witness_round(
        &self,
        partner: CountryCode,
    ) -> Result<Option<u64>, WitnessError> {
        let latest = self.context.ledger.latest_checkpoint();
        if latest.size() == 0 {
            return Ok(None);
        }
        let mut old_size = match self
            .context
            .state
            .cosigned_by(partner)
            .map_err(ApiError::from)?
        {
            Some(text) => recorded_body(&text)?.size,
            None => 0,
        };
        if old_size > 0
            && old_size <= latest.size()
            && self.only_bookkeeping(old_size, latest.size())?
        {
            return Ok(None);
        }
        let endpoint = self.partners.partner_endpoint(partner)?;
        let mut client =
            crate::transport::federation_client(self.partners.connect_partner(partner, &endpoint)?);
        // A witness that lost track (or whose last cosignature this node never recorded) names its
        // size; one more try from there.
        for _ in 0..2 {
            let hashes = if old_size == 0 || old_size >= latest.size() {
                Vec::new()
            } else {
                self.context
                    .ledger
                    .consistency_proof(old_size, latest.size())
                    .map_err(ApiError::from)?
                    .hashes
            };
            let request = proto::AddCheckpointRequest {
                old_size,
                consistency_proof: hashes,
                checkpoint: latest.note().to_owned(),
            };
            match client.add_checkpoint(request).await {
                Ok(response) => {
                    let line = response.into_inner().cosignature;
                    let cosigned = note::add_signature(latest.note(), &line).map_err(|e| {
                        WitnessError::Refused {
                            partner,
                            message: format!("its cosignature line is malformed: {e}"),
                        }
                    })?;
                    let valid = self.checkpoint_keys(partner).iter().any(|key| {
                        note::verify_cosignature(&cosigned, &origin(partner), key).is_ok()
                    });
                    if !valid {
                        return Err(WitnessError::BadCosignature(partner));
                    }
                    self.record(proto::LedgerEntry {
                        recorded_at: Some(to_timestamp(self.context.clock.now())),
                        alert_id: String::new(),
                        kind: Some(Kind::CosignatureReceived(proto::CosignatureReceived {
                            country: partner.to_string(),
                            cosigned_checkpoint: cosigned,
                        })),
                    })
                    .await?;
                    return Ok(Some(latest.size()));
                }
                Err(status) => {
                    let held = crate::error::witness_size(&status)
                        .filter(|n| *n != old_size && *n <= latest.size())
                        .ok_or_else(|| WitnessError::Refused {
                            partner,
                            message: status.message().to_owned(),
                        })?;
                    old_size = held;
                }
            }
        }
        Err(WitnessError::KeepsRefusing(partner))
    }
}

/// The body of a checkpoint note read back from this node's own ledger.
pub(crate) fn recorded_body(text: &str) -> Result<CheckpointBody, ApiError> {
    let parsed = note::Note::parse(text).map_err(ApiError::internal)?;
    CheckpointBody::parse(&parsed.body).map_err(ApiError::internal)
}

/// Presents the latest checkpoint to every partner every `interval` (`witness.interval`).
pub(crate) fn start_witness(witness: &Arc<Witness>, interval: std::time::Duration) {
    let node = witness.clone();
    witness.context.lifecycle.every(interval, move || {
        let node = node.clone();
        async move {
            for partner in node.context.partners() {
                match node.witness_round(partner).await {
                    Ok(Some(size)) => {
                        tracing::debug!(peer.country = %partner, size, "checkpoint cosigned")
                    }
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!(peer.country = %partner, %error, "witnessing failed")
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests;
