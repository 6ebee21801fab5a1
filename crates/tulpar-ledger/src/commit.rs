//! The commit loop: one thread that owns the segment writer and the Merkle frontier.
//!
//! It takes every append waiting in the queue (up to a limit) as one batch, signs one checkpoint
//! covering the batch, writes the entries and the checkpoint as one frame, syncs once, updates the
//! index and views, and only then answers the appenders. A failed write stops further appends: the
//! state on disk is then re-established by reopening, which cuts any partial frame.

use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, oneshot};
use tulpar_core::keys::SigningKey;
use tulpar_proto::v1::LedgerEntry;

use crate::error::LedgerError;
use crate::index::FrameLoc;
use crate::ledger::{Appended, CommittedBatch, Shared};
use crate::merkle::{Frontier, Hash};
use crate::note::{CheckpointBody, SignedCheckpoint};
use crate::segment::{self, Writer};

/// Most entries in one batch.
const MAX_BATCH_ENTRIES: usize = 4096;
/// A batch stops growing once its entries pass this many bytes.
const MAX_BATCH_BYTES: usize = 8 << 20;

/// One append waiting for the commit loop.
pub(crate) struct Request {
    pub(crate) bytes: Vec<u8>,
    pub(crate) leaf: Hash,
    pub(crate) entry: LedgerEntry,
    pub(crate) reply: oneshot::Sender<Result<Appended, LedgerError>>,
    pub(crate) permit: OwnedSemaphorePermit,
}

pub(crate) struct Committer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) key: SigningKey,
    pub(crate) writer: Writer,
    pub(crate) frontier: Frontier,
    pub(crate) stopped: Option<String>,
}

impl Committer {
    /// Runs until every sender is gone.
    pub(crate) fn run(mut self, rx: Receiver<Request>) {
        while let Ok(first) = rx.recv() {
            let mut bytes = first.bytes.len();
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH_ENTRIES && bytes < MAX_BATCH_BYTES {
                match rx.try_recv() {
                    Ok(r) => {
                        bytes += r.bytes.len();
                        batch.push(r);
                    }
                    Err(_) => break,
                }
            }
            self.commit(batch);
        }
        self.shared.index.flush();
    }

    fn commit(&mut self, batch: Vec<Request>) {
        let mut entries = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        for r in batch {
            drop(r.permit);
            entries.push((r.bytes, r.leaf, r.entry));
            replies.push(r.reply);
        }
        if let Some(why) = &self.stopped {
            for reply in replies {
                let _ = reply.send(Err(LedgerError::Stopped(why.clone())));
            }
            return;
        }
        let first = self.frontier.size();
        match self.write(&entries) {
            Ok(checkpoint) => {
                for (k, reply) in replies.into_iter().enumerate() {
                    let _ = reply.send(Ok(Appended {
                        index: first + k as u64,
                        checkpoint: checkpoint.clone(),
                    }));
                }
                if self.shared.events.receiver_count() > 0 {
                    let batch = CommittedBatch {
                        first_index: first,
                        entries: entries.into_iter().map(|(_, _, e)| e).collect(),
                        checkpoint,
                    };
                    let _ = self.shared.events.send(Arc::new(batch));
                }
            }
            Err(e) => {
                let durable = self.frontier.size() > first;
                let why = if durable {
                    format!(
                        "entries {first}..{} are durable, but updating the index failed: {e}; \
                         reopen the ledger to rebuild it",
                        self.frontier.size()
                    )
                } else {
                    e.to_string()
                };
                tracing::error!(error = %why, "ledger commit failed; appends stop until reopen");
                for reply in replies {
                    let _ = reply.send(Err(LedgerError::Commit(why.clone())));
                }
                self.stopped = Some(why);
            }
        }
    }

    fn write(
        &mut self,
        entries: &[(Vec<u8>, Hash, LedgerEntry)],
    ) -> Result<SignedCheckpoint, LedgerError> {
        let first = self.frontier.size();
        let mut frontier = self.frontier.clone();
        let mut nodes = Vec::with_capacity(entries.len() * 2 + 64);
        for (_, leaf, _) in entries {
            frontier.push(*leaf, |level, index, hash| {
                nodes.push((level, index, *hash))
            });
        }
        let size = frontier.size();
        let checkpoint = SignedCheckpoint::sign(
            CheckpointBody {
                origin: self.shared.origin.clone(),
                size,
                root: frontier.root(),
            },
            &self.key,
        )
        .map_err(|source| LedgerError::Checkpoint {
            context: "signing".to_owned(),
            source,
        })?;
        let body_bytes: usize = entries.iter().map(|(b, _, _)| b.len() + 8).sum();
        let mut frame = Vec::with_capacity(body_bytes + checkpoint.note().len() + 32);
        segment::encode_frame(
            first,
            entries.iter().map(|(b, _, _)| b.as_slice()),
            checkpoint.note(),
            &mut frame,
        );
        self.writer.roll_if_full(first)?;
        let offset = self.writer.write_durable(&frame)?;
        self.frontier = frontier;

        let index = &self.shared.index;
        index.write_merkle(&nodes, size)?;
        index.write_frame(&FrameLoc {
            first_index: first,
            count: entries.len() as u32,
            segment: self.writer.first_index(),
            offset,
            len: frame.len() as u32,
        })?;
        let ids: Vec<(u64, &[u8])> = entries
            .iter()
            .enumerate()
            .map(|(k, (_, _, e))| (first + k as u64, e.alert_id.as_bytes()))
            .collect();
        index.write_alerts(&ids, size)?;
        let refs: Vec<(u64, &LedgerEntry)> = entries
            .iter()
            .enumerate()
            .map(|(k, (_, _, e))| (first + k as u64, e))
            .collect();
        index.apply_views(&refs)?;

        *self
            .shared
            .checkpoint
            .write()
            .unwrap_or_else(PoisonError::into_inner) = checkpoint.clone();
        self.shared.size.store(size, Ordering::Release);
        Ok(checkpoint)
    }
}
