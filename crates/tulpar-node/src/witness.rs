//! Witnessed checkpoints (c2sp.org/tlog-witness, cosignatures per c2sp.org/tlog-cosignature): each
//! node presents its latest checkpoint to every partner (over the federation API) and to every external
//! witness configured (over HTTP) with a consistency proof from the size that witness last cosigned;
//! the witness verifies, records, and returns a timestamped `cosignature/v1`. A node is itself such a
//! witness for its partners and for the outside logs it is told to witness, over gRPC and over HTTP
//! (`http` below). A witness shown two checkpoints that cannot both be true records the evidence in its
//! ledger.

pub(crate) mod http;

use std::sync::Arc;

use tulpar_config::ExternalWitness;
use tulpar_core::codes::CountryCode;
use tulpar_core::keys::PublicKey;
use tulpar_core::proto::{self, ledger_entry::Kind};
use tulpar_core::time::to_timestamp;
use tulpar_ledger::note::{self, CheckpointBody, VerifierKey};
use tulpar_ledger::{ProofError, RestoreStatement, SignedCheckpoint, verify_consistency_proof};
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
    /// The witness refused the checkpoint.
    #[error("{witness} refused the checkpoint: {message}")]
    Refused {
        /// The partner's country code or the external witness's name.
        witness: String,
        /// Its answer.
        message: String,
    },
    /// The witness's cosignature does not verify under its key, or is dated ahead of this node's
    /// clock by more than `federation.max_clock_skew`.
    #[error("the cosignature from {0} {1}")]
    BadCosignature(String, String),
    /// The witness holds a checkpoint of this ledger larger than the ledger: entries this node signed
    /// are missing here, as after a restore from a backup older than what partners cosigned.
    #[error(
        "{witness} holds a checkpoint of this ledger of size {held}, but the ledger has only {size} \
         entries: entries {size}..{held} that this node signed are missing here (restored from an \
         older backup?); its checkpoints past {held} will fork from the one {witness} holds \
         (deploy/README.md, \"Backup and restore\")"
    )]
    Ahead {
        /// The partner's country code or the external witness's name.
        witness: String,
        /// The size of the checkpoint the witness holds.
        held: u64,
        /// The size of this ledger's latest checkpoint.
        size: u64,
    },
    /// The witness kept naming sizes this node could not prove consistency from.
    #[error("{0} keeps refusing the checkpoint")]
    KeepsRefusing(String),
    /// An external witness could not be reached or answered other than the protocol says.
    #[error("witness {name}: {message}")]
    External {
        /// The witness's name.
        name: String,
        /// What went wrong.
        message: String,
    },
}

/// Why a checkpoint was not cosigned.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckpointError {
    /// The checkpoint's origin is no log this witness witnesses.
    #[error("checkpoint origin {0:?}: this witness witnesses no such log")]
    UnknownOrigin(String),
    /// No checkpoint key of the partner's node is valid now.
    #[error("checkpoint from {0}: no checkpoint key of the {0} node is known")]
    NoKey(CountryCode),
    /// The checkpoint does not verify under any of the log's keys.
    #[error("checkpoint from {log}: {source}")]
    Unverified {
        log: String,
        source: note::NoteError,
    },
    /// The old size is larger than the checkpoint's.
    #[error("old_size {old} is larger than the checkpoint's size {size}")]
    OldSizeTooLarge { old: u64, size: u64 },
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
    /// A restore statement that does not hold: unsigned, of another log, or not leading to the
    /// checkpoint offered.
    #[error("restore_statement: {0}")]
    BadRestore(String),
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
            E::UnknownOrigin(_) | E::NoKey(_) | E::Unverified { .. } => {
                Self::Refused(error.to_string())
            }
            E::OldSizeTooLarge { .. } => Self::Invalid(
                tulpar_core::validation::Violations::single("old_size", error.to_string()),
            ),
            E::Holds(size) => Self::WitnessHolds(size),
            E::BadProof { .. } => Self::Invalid(tulpar_core::validation::Violations::single(
                "consistency_proof",
                error.to_string(),
            )),
            E::Inconsistent { .. } => Self::Aborted(error.to_string()),
            E::BadRestore(why) => Self::Invalid(tulpar_core::validation::Violations::single(
                "restore_statement",
                why,
            )),
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

/// A log whose checkpoints this node witnesses.
#[derive(Debug, Clone)]
pub(crate) enum Log {
    /// A partner's ledger: its origin in this federation, its keys from its directory.
    Partner(CountryCode),
    /// A log outside the federation, from `witness.logs`: its origin is the key's name.
    Outside(VerifierKey),
}

impl Log {
    /// The entry fields naming the log: a partner's country code, or an outside log's key.
    fn entry_fields(&self) -> (String, String) {
        match self {
            Self::Partner(partner) => (partner.to_string(), String::new()),
            Self::Outside(key) => (String::new(), key.to_string()),
        }
    }

    /// How the log is named in messages and locks.
    fn label(&self) -> String {
        match self {
            Self::Partner(country) => country.to_string(),
            Self::Outside(key) => key.name.clone(),
        }
    }
}

/// One C2SP `add-checkpoint` request: old size, consistency proof, checkpoint note; from a partner
/// restored from a backup, also its signed [`RestoreStatement`] (the gRPC door only).
#[derive(Debug, Clone)]
pub(crate) struct Presented {
    pub(crate) old_size: u64,
    pub(crate) consistency_proof: Vec<Vec<u8>>,
    pub(crate) checkpoint: String,
    pub(crate) restore_statement: String,
}

/// Longest restore statement accepted, in bytes: a header, an origin, two sizes, a root hash and
/// one signature line fit in a few hundred.
const MAX_RESTORE_STATEMENT_BYTES: usize = 1024;

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
    /// The witnessing settings: the policy, external witnesses, outside logs.
    config: tulpar_config::WitnessConfig,
    /// How far ahead of this node's clock a cosignature may be dated.
    max_clock_skew: std::time::Duration,
    /// Connections to external witnesses, by name, and the TLS settings for them.
    senders: tokio::sync::Mutex<std::collections::HashMap<String, crate::webhooks::Sender>>,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// The digest of the last checkpoint refused for a bad proof, per partner: logged once.
    last_refused: std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>,
    /// The size of the checkpoint `tulpar restore` restored this ledger to
    /// ([`tulpar_ledger::RESTORED_FILE`]), if it was restored.
    restored_size: Option<u64>,
}

impl Witness {
    /// Witnessing for `context`'s ledger, reaching `partners` and the external witnesses of
    /// `config`.
    pub(crate) fn new(
        context: Arc<Context>,
        partners: Arc<Partners>,
        config: tulpar_config::WitnessConfig,
        max_clock_skew: std::time::Duration,
        data_dir: &std::path::Path,
    ) -> anyhow::Result<Self> {
        let restored_size = restored_size(&context, data_dir);
        let https = config
            .witnesses
            .iter()
            .any(|w| w.url.scheme_str() == Some("https"));
        let tls = if https {
            Some(crate::webhooks::tls_config(
                &config.ca_certificates,
                "witness.ca_certificates",
            )?)
        } else {
            None
        };
        Ok(Self {
            context,
            partners,
            config,
            max_clock_skew,
            senders: Default::default(),
            tls,
            last_refused: Default::default(),
            restored_size,
        })
    }

    /// Cosignatures a checkpoint needs to count as witnessed (`witness.quorum`; by default every
    /// partner's and every external witness's).
    pub(crate) fn quorum(&self) -> usize {
        self.config
            .quorum
            .unwrap_or_else(|| self.context.partners().len() + self.config.witnesses.len())
    }

    /// The external witnesses this node asks.
    pub(crate) fn external_witnesses(&self) -> &[ExternalWitness] {
        &self.config.witnesses
    }

    /// The log a checkpoint with `origin` belongs to, if this node witnesses it.
    pub(crate) fn log_of(&self, origin: &str) -> Option<Log> {
        if let Some(partner) = self
            .context
            .partners()
            .into_iter()
            .find(|c| self.context.origin_of(*c) == origin)
        {
            return Some(Log::Partner(partner));
        }
        self.config
            .logs
            .iter()
            .find(|log| log.key.name == origin)
            .map(|log| Log::Outside(log.key.clone()))
    }

    /// The ledger keys of `partner`'s node valid for checkpoints now.
    pub(crate) fn checkpoint_keys(&self, partner: CountryCode) -> Vec<PublicKey> {
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

    /// Verifies `text` as a checkpoint of `log` signed by its key.
    fn log_checkpoint(&self, log: &Log, text: &str) -> Result<SignedCheckpoint, CheckpointError> {
        let (origin, keys, mut last_error) = match log {
            Log::Partner(partner) => (
                self.context.origin_of(*partner),
                self.checkpoint_keys(*partner),
                CheckpointError::NoKey(*partner),
            ),
            Log::Outside(key) => (
                key.name.clone(),
                vec![key.key],
                CheckpointError::UnknownOrigin(key.name.clone()),
            ),
        };
        for key in keys {
            match SignedCheckpoint::verify(text, Some(&origin), &key) {
                Ok(checkpoint) => return Ok(checkpoint),
                Err(source) => {
                    last_error = CheckpointError::Unverified {
                        log: log.label(),
                        source,
                    }
                }
            }
        }
        Err(last_error)
    }

    /// This node's `cosignature/v1` of a checkpoint it verified, dated now.
    fn cosign(&self, checkpoint: &SignedCheckpoint) -> Result<String, ApiError> {
        let now = self
            .context
            .clock
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        note::cosign(
            checkpoint.note(),
            &self.context.witness_name_of(self.context.country),
            &self.context.ledger_key(),
            now,
        )
        .map_err(ApiError::internal)
    }

    /// The gRPC door: a partner presenting its own checkpoint.
    pub(crate) async fn add_checkpoint(
        &self,
        partner: CountryCode,
        request: proto::AddCheckpointRequest,
    ) -> Result<String, CheckpointError> {
        let presented = Presented {
            old_size: request.old_size,
            consistency_proof: request.consistency_proof,
            checkpoint: request.checkpoint,
            restore_statement: request.restore_statement,
        };
        self.cosign_checkpoint(&Log::Partner(partner), presented)
            .await
    }

    /// The witness side: checks a checkpoint of `log` against the one cosigned before, records and
    /// cosigns it. Refuses a stale `old_size` (naming the size held) and a rollback; records a
    /// checkpoint proven inconsistent as evidence and refuses it.
    pub(crate) async fn cosign_checkpoint(
        &self,
        log: &Log,
        request: Presented,
    ) -> Result<String, CheckpointError> {
        let offered = self.log_checkpoint(log, &request.checkpoint)?;
        if !request.restore_statement.is_empty() {
            return self.accept_restore(log, offered, request).await;
        }
        if request.old_size > offered.size() {
            return Err(CheckpointError::OldSizeTooLarge {
                old: request.old_size,
                size: offered.size(),
            });
        }
        let _guard = self
            .context
            .locks
            .lock(format!("witness/{}", offered.origin()).into_bytes())
            .await;
        let held_text = match log {
            Log::Partner(partner) => self.context.state.witnessed(*partner)?,
            Log::Outside(key) => self.context.state.witnessed_log(&key.name)?,
        };
        // The held checkpoint was verified when it was recorded; only its body is needed now.
        let held = match held_text {
            Some(text) => Some((recorded_body(&text)?, text)),
            None => None,
        };
        let held_size = held.as_ref().map_or(0, |(body, _)| body.size);
        if request.old_size != held_size {
            return Err(CheckpointError::Holds(held_size));
        }
        let (country, log_key) = log.entry_fields();
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
                        self.log_refusal(&log.label(), offered.note(), &refused);
                        return Err(refused);
                    }
                }
            };
            if offered.size() == body.size && !forked {
                // The held checkpoint again: a fresh cosignature, and nothing recorded, however
                // often it comes.
                return Ok(self.cosign(&offered)?);
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
                        country,
                        known_checkpoint: text.clone(),
                        conflicting_checkpoint: offered.note().to_owned(),
                        reason: reason.clone(),
                        log_key,
                        restore_statement: String::new(),
                    })),
                })
                .await?;
                tracing::error!(log = %log.label(), %reason, "ledger equivocation detected");
                return Err(inconsistent);
            }
        }
        self.cosign_recorded(log, &offered).await
    }

    /// Cosigns `offered` and records it as the checkpoint of `log` held from now on.
    async fn cosign_recorded(
        &self,
        log: &Log,
        offered: &SignedCheckpoint,
    ) -> Result<String, CheckpointError> {
        let cosignature = self.cosign(offered)?;
        let (country, log_key) = log.entry_fields();
        self.record(proto::LedgerEntry {
            recorded_at: Some(to_timestamp(self.context.clock.now())),
            alert_id: String::new(),
            kind: Some(Kind::CheckpointCosigned(proto::CheckpointCosigned {
                country,
                checkpoint: offered.note().to_owned(),
                cosignature: cosignature.clone(),
                log_key,
            })),
        })
        .await?;
        Ok(cosignature)
    }

    /// The witness side of a partner restored from a backup older than the checkpoint held: checks its
    /// signed statement and that the checkpoint offered grows from the restored one, records the
    /// checkpoint held, the one offered and the statement as evidence (an equivocation alarm: entries
    /// the partner signed are gone), and cosigns the offered checkpoint, witnessing the partner's
    /// ledger from the restored history on.
    async fn accept_restore(
        &self,
        log: &Log,
        offered: SignedCheckpoint,
        request: Presented,
    ) -> Result<String, CheckpointError> {
        let bad = |why: String| CheckpointError::BadRestore(why);
        let Log::Partner(partner) = log else {
            return Err(bad(
                "only a partner's node declares a restore, over the federation API".to_owned(),
            ));
        };
        if request.restore_statement.len() > MAX_RESTORE_STATEMENT_BYTES {
            return Err(bad(format!(
                "is {} bytes; at most {MAX_RESTORE_STATEMENT_BYTES} are accepted",
                request.restore_statement.len()
            )));
        }
        let mut statement = Err(bad(format!(
            "no checkpoint key of the {partner} node is known"
        )));
        for key in self.checkpoint_keys(*partner) {
            statement =
                RestoreStatement::verify(&request.restore_statement, offered.origin(), &key)
                    .map_err(|e| bad(e.to_string()));
            if statement.is_ok() {
                break;
            }
        }
        let statement = statement?;
        if request.old_size != statement.lost_size {
            return Err(bad(format!(
                "names the lost size {}, but old_size is {}",
                statement.lost_size, request.old_size
            )));
        }
        let restored = &statement.restored;
        if offered.size() < restored.size {
            return Err(bad(format!(
                "restores size {}, larger than the checkpoint's {}",
                restored.size,
                offered.size()
            )));
        }
        let grows = if restored.size == 0 {
            true
        } else if restored.size == offered.size() {
            restored.root == *offered.root()
        } else {
            let proof = proto::ConsistencyProof {
                old_size: restored.size,
                new_size: offered.size(),
                hashes: request.consistency_proof.clone(),
            };
            verify_consistency_proof(&proof, &restored.root, offered.root()).is_ok()
        };
        if !grows {
            return Err(bad(format!(
                "consistency_proof does not lead from the restored checkpoint of size {} to the \
                 checkpoint of size {}",
                restored.size,
                offered.size()
            )));
        }
        let _guard = self
            .context
            .locks
            .lock(format!("witness/{}", offered.origin()).into_bytes())
            .await;
        // Only the checkpoint held can be declared lost: a statement made for another is answered
        // with the size held, as any stale request is.
        let held_text = self.context.state.witnessed(*partner)?;
        let held = match &held_text {
            Some(text) => recorded_body(text)?,
            None => return Err(CheckpointError::Holds(0)),
        };
        if held.size != statement.lost_size {
            return Err(CheckpointError::Holds(held.size));
        }
        let reason = format!(
            "{partner} declared its ledger restored from a backup to size {}: entries {}..{} of the \
             checkpoint held are lost, and its ledger is witnessed from the restored history on",
            restored.size, restored.size, held.size
        );
        self.record(proto::LedgerEntry {
            recorded_at: Some(to_timestamp(self.context.clock.now())),
            alert_id: String::new(),
            kind: Some(Kind::EquivocationDetected(proto::EquivocationDetected {
                country: partner.to_string(),
                known_checkpoint: held_text.unwrap_or_default(),
                conflicting_checkpoint: offered.note().to_owned(),
                reason: reason.clone(),
                log_key: String::new(),
                restore_statement: request.restore_statement.clone(),
            })),
        })
        .await?;
        tracing::error!(log = %partner, %reason, "ledger restored from a backup");
        self.cosign_recorded(log, &offered).await
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

    /// Logs a refused proof once per distinct checkpoint and log, however often it is sent.
    fn log_refusal(&self, log: &str, checkpoint: &str, error: &CheckpointError) {
        let digest = ring::digest::digest(&ring::digest::SHA256, checkpoint.as_bytes());
        let mut last = self.last_refused.lock().unwrap_or_else(|p| p.into_inner());
        if last.get(log).map(|d| d.as_slice()) != Some(digest.as_ref()) {
            // Bounded: one entry per log this node witnesses.
            last.insert(log.to_owned(), digest.as_ref().to_vec());
            tracing::warn!(log, %error, "checkpoint refused");
        }
    }

    async fn record(&self, entry: proto::LedgerEntry) -> Result<(), ApiError> {
        self.context.append(entry).await.map(|_| ())
    }

    /// The presenting side: one round with `partner` alone. Returns the size cosigned, or `None` when the
    /// ledger has grown only by witnessing bookkeeping since the last cosigned checkpoint.
    #[cfg(test)]
    pub(crate) async fn witness_round(
        &self,
        partner: CountryCode,
    ) -> Result<Option<u64>, WitnessError> {
        let latest = self.context.ledger.latest_checkpoint();
        self.present(Cosigner::Partner(partner), &latest).await
    }

    /// One witnessing pass: the latest checkpoint, taken once, presented to every partner (over the
    /// federation API) and every external witness (c2sp.org/tlog-witness `add-checkpoint` over HTTP),
    /// so that all cosign the same checkpoint although each cosignature recorded grows the ledger.
    /// Returns each cosigner's name (a partner's country code, an external witness's name) with the
    /// size it cosigned (`None`: nothing new since its last cosignature) or why it did not.
    pub(crate) async fn pass(&self) -> Vec<(String, Result<Option<u64>, WitnessError>)> {
        let latest = self.context.ledger.latest_checkpoint();
        let mut results = Vec::new();
        for partner in self.context.partners() {
            let result = self.present(Cosigner::Partner(partner), &latest).await;
            results.push((partner.to_string(), result));
        }
        for witness in &self.config.witnesses {
            let result = self.present(Cosigner::External(witness), &latest).await;
            results.push((witness.key.name.clone(), result));
        }
        results
    }

    async fn present(
        &self,
        cosigner: Cosigner<'_>,
        latest: &SignedCheckpoint,
    ) -> Result<Option<u64>, WitnessError> {
        if latest.size() == 0 {
            return Ok(None);
        }
        let held = match cosigner {
            Cosigner::Partner(partner) => self.context.state.cosigned_by(partner),
            Cosigner::External(witness) => {
                self.context.state.cosigned_by_witness(&witness.key.name)
            }
        }
        .map_err(ApiError::from)?;
        let mut old_size = match held {
            Some(text) => recorded_body(&text)?.size,
            None => 0,
        };
        // Whether this cosigner has cosigned nothing since the restore: then a larger size it holds is
        // one whose entries past the restored checkpoint this ledger lost.
        let restored = self
            .restored_size
            .filter(|restored| matches!(cosigner, Cosigner::Partner(_)) && old_size <= *restored);
        let mut restore_statement = String::new();
        if old_size > 0
            && old_size <= latest.size()
            && self.only_bookkeeping(old_size, latest.size())?
        {
            return Ok(None);
        }
        let (name, keys, label) = match cosigner {
            Cosigner::Partner(partner) => (
                self.context.witness_name_of(partner),
                self.checkpoint_keys(partner),
                partner.to_string(),
            ),
            Cosigner::External(witness) => (
                witness.key.name.clone(),
                vec![witness.key.key],
                witness.key.name.clone(),
            ),
        };
        let mut channel = match cosigner {
            Cosigner::Partner(partner) => {
                let endpoint = self.partners.partner_endpoint(partner)?;
                Channel::Partner(crate::transport::federation_client(
                    self.partners.connect_partner(partner, &endpoint)?,
                ))
            }
            Cosigner::External(witness) => Channel::External(witness),
        };
        // A witness that lost track (or whose last cosignature this node never recorded) names its
        // size; one more try from there.
        for _ in 0..2 {
            // A restore is declared with a proof from the restored checkpoint, which the witness
            // holds no root for; otherwise the proof runs from the size it holds.
            let proof_from = match restored {
                Some(restored) if !restore_statement.is_empty() => restored,
                _ => old_size,
            };
            let consistency_proof = if proof_from == 0 || proof_from >= latest.size() {
                Vec::new()
            } else {
                self.context
                    .ledger
                    .consistency_proof(proof_from, latest.size())
                    .map_err(ApiError::from)?
                    .hashes
            };
            let presented = Presented {
                old_size,
                consistency_proof,
                checkpoint: latest.note().to_owned(),
                restore_statement: restore_statement.clone(),
            };
            let answer = match &mut channel {
                Channel::Partner(client) => {
                    match client.add_checkpoint(presented.to_proto()).await {
                        Ok(response) => Answer::Cosigned(response.into_inner().cosignature),
                        Err(status) => match crate::error::witness_size(&status) {
                            Some(size) => Answer::Holds(size),
                            None => Answer::Refused(status.message().to_owned()),
                        },
                    }
                }
                Channel::External(witness) => self.ask_external(witness, &presented).await?,
            };
            match answer {
                Answer::Cosigned(lines) => {
                    let cosigned = self.check_cosignature(latest, &lines, &name, &keys, &label)?;
                    let (country, witness_key) = match cosigner {
                        Cosigner::Partner(partner) => (partner.to_string(), String::new()),
                        Cosigner::External(witness) => (String::new(), witness.key.to_string()),
                    };
                    self.record(proto::LedgerEntry {
                        recorded_at: Some(to_timestamp(self.context.clock.now())),
                        alert_id: String::new(),
                        kind: Some(Kind::CosignatureReceived(proto::CosignatureReceived {
                            country,
                            cosigned_checkpoint: cosigned,
                            witness_key,
                        })),
                    })
                    .await?;
                    return Ok(Some(latest.size()));
                }
                Answer::Holds(held)
                    if restore_statement.is_empty()
                        && restored.is_some_and(|restored| held > restored) =>
                {
                    restore_statement = self.restore_statement(held)?;
                    old_size = held;
                }
                Answer::Holds(size) if size != old_size && size <= latest.size() => {
                    old_size = size;
                }
                Answer::Holds(held) if held > latest.size() => {
                    return Err(WitnessError::Ahead {
                        witness: label,
                        held,
                        size: latest.size(),
                    });
                }
                Answer::Holds(size) => {
                    return Err(WitnessError::Refused {
                        witness: label,
                        message: format!("it holds a checkpoint of size {size}"),
                    });
                }
                Answer::Refused(message) => {
                    return Err(WitnessError::Refused {
                        witness: label,
                        message,
                    });
                }
            }
        }
        Err(WitnessError::KeepsRefusing(label))
    }

    /// This node's signed statement that its ledger was restored to the checkpoint of
    /// [`Self::restored_size`], so that a witness holding `held` entries lost those past it.
    fn restore_statement(&self, held: u64) -> Result<String, WitnessError> {
        let size = self.restored_size.unwrap_or_default();
        let root = self.context.ledger.root_at(size).map_err(ApiError::from)?;
        RestoreStatement {
            restored: CheckpointBody {
                origin: self.context.origin_of(self.context.country),
                size,
                root,
            },
            lost_size: held,
        }
        .sign(&self.context.ledger_key())
        .map_err(|e| WitnessError::Local(ApiError::internal(e)))
    }

    /// Finds, among the signature `lines` a witness returned, a valid `cosignature/v1` by `name` under
    /// one of `keys`, dated no further ahead than the clock skew allows; returns the checkpoint with it.
    fn check_cosignature(
        &self,
        latest: &SignedCheckpoint,
        lines: &str,
        name: &str,
        keys: &[tulpar_core::keys::PublicKey],
        label: &str,
    ) -> Result<String, WitnessError> {
        let bad = |why: String| WitnessError::BadCosignature(label.to_owned(), why);
        let latest_allowed = self.context.clock.now() + self.max_clock_skew;
        let mut last = "carries no cosignature by its name and key".to_owned();
        for line in lines.lines().filter(|l| !l.is_empty()) {
            let Ok(cosigned) = note::add_signature(latest.note(), line) else {
                last = format!("line {line:?} is not a signature line");
                continue;
            };
            for key in keys {
                match note::verify_cosignature(&cosigned, name, key) {
                    Ok(time) => {
                        let signed_at =
                            std::time::UNIX_EPOCH + std::time::Duration::from_secs(time);
                        if signed_at > latest_allowed {
                            return Err(bad(format!(
                                "is dated {}, ahead of this node's clock",
                                tulpar_trust::directory::fmt_time(signed_at)
                            )));
                        }
                        return Ok(cosigned);
                    }
                    Err(note::NoteError::NoSignature { .. }) => {}
                    Err(error) => last = format!("does not verify: {error}"),
                }
            }
        }
        Err(bad(last))
    }

    /// POSTs `add-checkpoint` to an external witness and reads its answer as the protocol gives it.
    async fn ask_external(
        &self,
        witness: &ExternalWitness,
        presented: &Presented,
    ) -> Result<Answer, WitnessError> {
        let external = |message: String| WitnessError::External {
            name: witness.key.name.clone(),
            message,
        };
        let url: ::http::Uri = format!(
            "{}/add-checkpoint",
            witness.url.to_string().trim_end_matches('/')
        )
        .parse()
        .map_err(|e| external(format!("{}: {e}", witness.url)))?;
        let mut senders = self.senders.lock().await;
        let sender = senders.entry(witness.key.name.clone()).or_insert_with(|| {
            crate::webhooks::Sender::new(url, self.tls.clone(), self.config.timeout)
        });
        let reply = sender
            .post_in_time("text/plain; charset=utf-8", presented.to_body().into())
            .await
            .map_err(external)?;
        let body = reply
            .body
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default()
            .into_owned();
        let size_type = reply
            .headers
            .get(::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(http::SIZE_CONTENT_TYPE));
        Ok(match reply.status.as_u16() {
            200 => Answer::Cosigned(body),
            409 if size_type => match body.trim_end_matches('\n').parse() {
                Ok(size) => Answer::Holds(size),
                Err(_) => {
                    Answer::Refused(format!("409 with a size that is not a number: {body:?}"))
                }
            },
            status => Answer::Refused(format!(
                "answered {status}: {}",
                body.chars().take(300).collect::<String>().trim()
            )),
        })
    }
}

/// Whom this node presents its checkpoints to.
#[derive(Clone, Copy)]
enum Cosigner<'a> {
    /// A partner, over the federation API.
    Partner(CountryCode),
    /// An external witness, over HTTP.
    External(&'a ExternalWitness),
}

/// How a round reaches its cosigner.
enum Channel<'a> {
    /// A partner's federation API.
    Partner(
        tulpar_core::proto::federation_service_client::FederationServiceClient<
            crate::metrics::PartnerChannel,
        >,
    ),
    /// An external witness's HTTP submission prefix.
    External(&'a ExternalWitness),
}

/// A witness's answer to a presented checkpoint.
enum Answer {
    /// Signature lines, the cosignature among them.
    Cosigned(String),
    /// It holds a checkpoint of this size, not the one presented from.
    Holds(u64),
    /// It refused, for this reason.
    Refused(String),
}

impl Presented {
    fn to_proto(&self) -> proto::AddCheckpointRequest {
        proto::AddCheckpointRequest {
            old_size: self.old_size,
            consistency_proof: self.consistency_proof.clone(),
            checkpoint: self.checkpoint.clone(),
            restore_statement: self.restore_statement.clone(),
        }
    }
}

/// The size of the checkpoint `tulpar restore` left in `data_dir` ([`tulpar_ledger::RESTORED_FILE`]),
/// when it is a checkpoint of this ledger; a file that is not is logged and ignored, so a restore
/// is never declared for a history the ledger does not hold.
fn restored_size(context: &Context, data_dir: &std::path::Path) -> Option<u64> {
    let path = data_dir.join(tulpar_ledger::RESTORED_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => {
            tracing::error!(path = %path.display(), %error, "restore marker unreadable; ignored");
            return None;
        }
    };
    let body = match recorded_body(&text) {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(path = %path.display(), %error, "restore marker is no checkpoint; ignored");
            return None;
        }
    };
    let origin = context.origin_of(context.country);
    let ours = body.origin == origin
        && body.size <= context.ledger_size()
        && context.ledger.root_at(body.size).ok() == Some(body.root);
    if !ours {
        tracing::error!(
            path = %path.display(),
            size = body.size,
            "restore marker names no checkpoint of this ledger; ignored"
        );
        return None;
    }
    Some(body.size)
}

/// The body of a checkpoint note read back from this node's own ledger.
pub(crate) fn recorded_body(text: &str) -> Result<CheckpointBody, ApiError> {
    let parsed = note::Note::parse(text).map_err(ApiError::internal)?;
    CheckpointBody::parse(&parsed.body).map_err(ApiError::internal)
}

/// Presents the latest checkpoint to every partner and external witness every `interval`
/// (`witness.interval`).
pub(crate) fn start_witness(witness: &Arc<Witness>, interval: std::time::Duration) {
    let node = witness.clone();
    witness.context.lifecycle.every(interval, move || {
        let node = node.clone();
        async move {
            for (cosigner, result) in node.pass().await {
                match result {
                    Ok(Some(size)) => tracing::debug!(%cosigner, size, "checkpoint cosigned"),
                    Ok(None) => {}
                    Err(error @ WitnessError::Ahead { .. }) => {
                        tracing::error!(%cosigner, %error, "this ledger is behind what a witness holds");
                    }
                    Err(error) => tracing::warn!(%cosigner, %error, "witnessing failed"),
                }
            }
        }
    });
}

#[cfg(test)]
mod tests;
