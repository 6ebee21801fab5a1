//! The commit loop: one thread that owns the segment writer and the Merkle frontier.
//!
//! It takes every append waiting in the queue (up to a limit) as one batch, signs one checkpoint
//! covering the batch, writes the entries and the checkpoint as one frame and syncs once. A second
//! thread then updates the index and views and only then answers the appenders.
//!
//! A failed write or sync of the segments (a full disk) fails only the batch it carried: the writer
//! cuts the partial frame, the Merkle frontier stays where it was, the ledger reports itself
//! unwritable, and the next batch (or a probe every [`PROBE_INTERVAL`] while unwritable) tries again.
//! A failed index update still stops further appends: reopening replays the index.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::sync::{Arc, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, oneshot};
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

/// How often the commit loop, while the last write failed and no append is waiting, checks whether
/// the disk takes writes again, so the node reports itself healthy without waiting for traffic.
pub(crate) const PROBE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// Where an appender waits for its answer: the index of its first entry and the checkpoint covering
/// all of them.
type Reply = oneshot::Sender<Result<Appended, LedgerError>>;

/// One entry to append: its encoding, leaf hash and decoded form.
pub(crate) type Item = (Vec<u8>, Hash, LedgerEntry);

/// One append of one or more entries waiting for the commit loop. Its entries get consecutive
/// indexes in one batch, and it is answered once.
pub(crate) struct Request {
    pub(crate) items: Vec<Item>,
    pub(crate) reply: Reply,
    pub(crate) permit: OwnedSemaphorePermit,
}

pub(crate) struct Committer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) writer: Writer,
    pub(crate) frontier: Frontier,
}

/// A batch that is durable in the segments, on its way into the index.
struct Durable {
    first: u64,
    entries: Vec<Item>,
    /// Each request's reply with the index of its first entry.
    replies: Vec<(u64, Reply)>,
    nodes: Vec<(u8, u64, Hash)>,
    loc: FrameLoc,
    checkpoint: SignedCheckpoint,
}

/// Batches synced but not yet applied to sled. The writer syncs batch k + 1 while the applier
/// updates the index for batch k, so a sync and the index writes overlap instead of adding up.
const APPLY_QUEUE: usize = 2;

impl Committer {
    /// Runs until every sender is gone.
    pub(crate) fn run(mut self, rx: Receiver<Request>) {
        let (apply_tx, apply_rx) = sync_channel::<Durable>(APPLY_QUEUE);
        let shared = self.shared.clone();
        let applier = std::thread::Builder::new()
            .name("ledger-apply".to_owned())
            .spawn(move || apply_loop(&shared, apply_rx));
        let applier = match applier {
            Ok(handle) => handle,
            Err(e) => {
                self.shared
                    .stop(format!("cannot start the index thread: {e}"));
                // Still answer every appender, with the error.
                while let Ok(r) = rx.recv() {
                    let _ = r.reply.send(Err(self.shared.stopped_error()));
                }
                return;
            }
        };
        while let Some(first) = self.next_request(&rx) {
            // Requests are taken whole, so a request's entries stay consecutive.
            let mut entries: Vec<Item> = Vec::new();
            let mut replies = Vec::new();
            let mut bytes = 0;
            let mut next = Some(first);
            while let Some(r) = next.take() {
                drop(r.permit);
                bytes += r.items.iter().map(|(b, _, _)| b.len()).sum::<usize>();
                replies.push((entries.len() as u64, r.reply));
                entries.extend(r.items);
                if entries.len() < MAX_BATCH_ENTRIES && bytes < MAX_BATCH_BYTES {
                    next = rx.try_recv().ok();
                }
            }
            if self.shared.is_stopped() {
                for (_, reply) in replies {
                    let _ = reply.send(Err(self.shared.stopped_error()));
                }
                continue;
            }
            match self.write(entries, replies) {
                Ok(durable) => {
                    if let Err(lost) = apply_tx.send(durable) {
                        for (_, reply) in lost.0.replies {
                            let _ = reply.send(Err(LedgerError::Closed));
                        }
                    }
                }
                Err((LedgerError::Io { path, source }, replies)) => {
                    let why = format!("{}: {source}", path.display());
                    tracing::error!(error = %why, "ledger write failed; nothing of the batch was kept, the next append tries again");
                    self.shared.writable.send_replace(false);
                    for (_, reply) in replies {
                        let _ = reply.send(Err(LedgerError::Unwritable(why.clone())));
                    }
                }
                Err((e, replies)) => {
                    let why = e.to_string();
                    tracing::error!(error = %why, "ledger write failed; appends stop until reopen");
                    self.shared.stop(why.clone());
                    for (_, reply) in replies {
                        let _ = reply.send(Err(LedgerError::Commit(why.clone())));
                    }
                }
            }
        }
        drop(apply_tx);
        if applier.join().is_err() {
            tracing::error!("the ledger index thread panicked");
        }
        self.shared.index.flush();
    }

    /// The next request, probing the disk meanwhile while the last write failed. `None` once every
    /// sender is gone.
    fn next_request(&mut self, rx: &Receiver<Request>) -> Option<Request> {
        loop {
            // A held ledger takes no append, so there is no write to probe for.
            if *self.shared.writable.borrow() || self.shared.held.is_some() {
                return rx.recv().ok();
            }
            match rx.recv_timeout(PROBE_INTERVAL) {
                Ok(request) => return Some(request),
                Err(RecvTimeoutError::Disconnected) => return None,
                Err(RecvTimeoutError::Timeout) => match self.probe() {
                    Ok(()) => {
                        tracing::info!("the ledger's storage takes writes again");
                        self.shared.writable.send_replace(true);
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "the ledger's storage still refuses writes")
                    }
                },
            }
        }
    }

    /// Whether the disk takes writes again (an injected fault counts as a refusal).
    fn probe(&mut self) -> Result<(), LedgerError> {
        if self.shared.take_injected_fault() {
            return Err(LedgerError::Unwritable("injected write fault".to_owned()));
        }
        self.writer.probe()
    }

    /// Writes one batch as a frame and syncs it.
    fn write(
        &mut self,
        entries: Vec<Item>,
        replies: Vec<(u64, Reply)>,
    ) -> Result<Durable, (LedgerError, Vec<(u64, Reply)>)> {
        let first = self.frontier.size();
        let mut frontier = self.frontier.clone();
        let mut nodes = Vec::with_capacity(entries.len() * 2 + 64);
        for (_, leaf, _) in &entries {
            frontier.push(*leaf, |level, index, hash| {
                nodes.push((level, index, *hash))
            });
        }
        let size = frontier.size();
        let signed = SignedCheckpoint::sign(
            CheckpointBody {
                origin: self.shared.origin.clone(),
                size,
                root: frontier.root(),
            },
            &self.shared.signing_key(),
        );
        let checkpoint = match signed {
            Ok(cp) => cp,
            Err(source) => {
                let e = LedgerError::Checkpoint {
                    context: "signing".to_owned(),
                    source,
                };
                return Err((e, replies));
            }
        };
        let body_bytes: usize = entries.iter().map(|(b, _, _)| b.len() + 8).sum();
        let mut frame = Vec::with_capacity(body_bytes + checkpoint.note().len() + 32);
        segment::encode_frame(
            first,
            entries.iter().map(|(b, _, _)| b.as_slice()),
            checkpoint.note(),
            &mut frame,
        );
        let fail_after = self.shared.take_injected_fault().then_some(frame.len() / 2);
        let started = std::time::Instant::now();
        let written = self
            .writer
            .roll_if_full(first)
            .and_then(|()| self.writer.write_durable_with(&frame, fail_after));
        self.shared
            .sync_times
            .record(started.elapsed(), frame.len());
        let offset = match written {
            Ok(offset) => offset,
            Err(e) => return Err((e, replies)),
        };
        self.frontier = frontier;
        self.shared.writable.send_if_modified(|writable| {
            let was = std::mem::replace(writable, true);
            if !was {
                tracing::info!("the ledger's storage takes writes again");
            }
            !was
        });
        Ok(Durable {
            first,
            loc: FrameLoc {
                first_index: first,
                count: entries.len() as u32,
                segment: self.writer.first_index(),
                offset,
                len: frame.len() as u32,
            },
            entries,
            replies,
            nodes,
            checkpoint,
        })
    }
}

/// Applies durable batches to the index and views, in order, then answers their appenders.
fn apply_loop(shared: &Shared, rx: Receiver<Durable>) {
    while let Ok(batch) = rx.recv() {
        if let Some(why) = shared.stopped_reason() {
            let why = format!(
                "entries {}..{} are durable, but the index is stopped: {why}",
                batch.first,
                batch.loc.first_index + u64::from(batch.loc.count)
            );
            for (_, reply) in batch.replies {
                let _ = reply.send(Err(LedgerError::Commit(why.clone())));
            }
            continue;
        }
        match apply(shared, &batch) {
            Ok(()) => {
                // Subscribers hear of the batch before its appenders are answered, so a caller that
                // got its index back can count on watchers having been sent the entry.
                if shared.events.receiver_count() > 0 {
                    let event = CommittedBatch {
                        first_index: batch.first,
                        entries: batch.entries.into_iter().map(|(_, _, e)| e).collect(),
                        checkpoint: batch.checkpoint.clone(),
                    };
                    let _ = shared.events.send(Arc::new(event));
                }
                for (offset, reply) in batch.replies {
                    let _ = reply.send(Ok(Appended {
                        index: batch.first + offset,
                        checkpoint: batch.checkpoint.clone(),
                    }));
                }
            }
            Err(e) => {
                let why = format!(
                    "entries {}..{} are durable, but updating the index failed: {e}; \
                     reopen the ledger to rebuild it",
                    batch.first,
                    batch.checkpoint.size()
                );
                tracing::error!(error = %why, "ledger index update failed; appends stop until reopen");
                shared.stop(why.clone());
                for (_, reply) in batch.replies {
                    let _ = reply.send(Err(LedgerError::Commit(why.clone())));
                }
            }
        }
    }
}

fn apply(shared: &Shared, batch: &Durable) -> Result<(), LedgerError> {
    let size = batch.checkpoint.size();
    let index = &shared.index;
    index.write_merkle(&batch.nodes, size)?;
    index.write_frame(&batch.loc)?;
    let ids: Vec<(u64, &[u8])> = batch
        .entries
        .iter()
        .enumerate()
        .map(|(k, (_, _, e))| (batch.first + k as u64, e.alert_id.as_bytes()))
        .collect();
    index.write_alerts(&ids, size)?;
    let refs: Vec<(u64, &LedgerEntry)> = batch
        .entries
        .iter()
        .enumerate()
        .map(|(k, (_, _, e))| (batch.first + k as u64, e))
        .collect();
    // The entries are readable before any view names them, so a reader that finds a record in a
    // view can always read its entry; a view that lags is caught up on the next open.
    *shared
        .checkpoint
        .write()
        .unwrap_or_else(PoisonError::into_inner) = batch.checkpoint.clone();
    shared.size.store(size, Ordering::Release);
    index.apply_views(&refs)?;
    Ok(())
}
