//! The ledger handle: open, append, read, prove.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::ErrorKind;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, mpsc};
use std::thread::JoinHandle;

use prost::Message;
use tokio::sync::{Semaphore, broadcast, oneshot};
use tulpar_core::keys::{PublicKey, SigningKey};
use tulpar_proto::v1::{ConsistencyProof, InclusionProof, LedgerEntry};

use crate::commit::{Committer, Request};
use crate::damage::{self, CheckProgress, CheckReport, Integrity};
use crate::error::LedgerError;
use crate::hold::{self, HOLD_FILE};
use crate::index::{FrameLoc, Index};
use crate::keys::{self, LedgerKeys};
use crate::merkle::{Frontier, Hash, ProofBuilder, leaf_hash};
use crate::note::{self, CheckpointBody, SignedCheckpoint};

/// Segment files kept open for reads: each is a descriptor the node's connection limits leave room
/// for (`DESCRIPTOR_RESERVE` in tulpar-node), and a ledger's segments are countless in time.
#[cfg(not(test))]
const MAX_OPEN_SEGMENTS: usize = 32;
/// Unit tests keep a few, to exercise closing and reopening them.
#[cfg(test)]
const MAX_OPEN_SEGMENTS: usize = 3;
use crate::read::{self, ReadFrame};
use crate::recover::{self, TailTruncation};
use crate::segment;
use crate::view::View;

/// Largest encoded `LedgerEntry` the ledger accepts, in bytes.
pub const MAX_ENTRY_BYTES: usize = tulpar_core::limits::MAX_ENTRY_BYTES;
/// Most entries one [`Ledger::append_all`] takes.
pub const MAX_APPEND_ENTRIES: usize = 1024;
/// Appends that may wait for the commit loop before `append` itself waits.
const QUEUE_DEPTH: usize = 16 * 1024;
/// Committed batches a slow subscriber may fall behind before it misses some.
const EVENT_BACKLOG: usize = 1024;

/// How to open a ledger.
pub struct LedgerOptions {
    /// The checkpoint origin and signer name, `tulpar/<COUNTRY>`.
    pub origin: String,
    /// The node's ledger key; its public half is kept in `ledger.pub`.
    pub signing_key: SigningKey,
    /// The node's other keys its directory names for checkpoints. When `ledger.pub` names one of
    /// them, the ledger was signing with it before and switches to `signing_key` on opening.
    pub earlier_keys: Vec<PublicKey>,
    /// State derived from entries, updated before appenders are answered.
    pub views: Vec<Arc<dyn View>>,
}

/// What opening found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// Number of entries.
    pub size: u64,
    /// A torn tail that was cut off, if any.
    pub truncated: Option<TailTruncation>,
    /// Entries replayed from the segments into the index and views.
    pub replayed: u64,
    /// Index parts rebuilt from scratch because they had seen entries the segments no longer hold.
    pub rebuilt: Vec<String>,
    /// The size of the checkpoint a repair holds the ledger to ([`crate::HOLD_FILE`]), while the
    /// ledger has not regrown to it: appends are refused with [`LedgerError::Held`] meanwhile.
    pub held: Option<u64>,
}

/// An append that is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The entry's index.
    pub index: u64,
    /// The checkpoint of the batch the entry was committed in; it covers the entry.
    pub checkpoint: SignedCheckpoint,
}

/// A batch of entries as committed, for subscribers.
#[derive(Debug, Clone, PartialEq)]
pub struct CommittedBatch {
    /// Index of the first entry.
    pub first_index: u64,
    /// The entries, in index order.
    pub entries: Vec<LedgerEntry>,
    /// The checkpoint signed for this batch.
    pub checkpoint: SignedCheckpoint,
}

/// State shared by handles and the commit loop.
pub(crate) struct Shared {
    pub(crate) origin: String,
    /// The key signing checkpoints now, and every key earlier checkpoints were signed with.
    pub(crate) keys: RwLock<LedgerKeys>,
    /// The ledger directory, where `ledger.pub` is kept.
    dir: PathBuf,
    pub(crate) segments_dir: PathBuf,
    pub(crate) index: Index,
    pub(crate) size: AtomicU64,
    pub(crate) checkpoint: RwLock<SignedCheckpoint>,
    pub(crate) events: broadcast::Sender<Arc<CommittedBatch>>,
    files: Mutex<HashMap<u64, Arc<File>>>,
    stopped: Mutex<Option<String>>,
    /// Whether the last write to the segments succeeded; false while the disk refuses writes.
    pub(crate) writable: tokio::sync::watch::Sender<bool>,
    /// Writes still to fail on purpose ([`Ledger::fail_next_writes`]).
    pub(crate) failing_writes: std::sync::atomic::AtomicU32,
    /// Damage found since opening, and whether the closed segments have been checked.
    pub(crate) integrity: tokio::sync::watch::Sender<Integrity>,
    /// The first index of the segment appended to when the ledger opened: opening checked it, the
    /// segments before it are closed.
    open_segment: u64,
    /// The size of the checkpoint the ledger is held to (see [`crate::HOLD_FILE`]); fixed while open.
    pub(crate) held: Option<u64>,
    /// How long the commit loop's durable writes take.
    pub(crate) sync_times: crate::stats::SyncTimes,
}

impl Shared {
    pub(crate) fn read_keys(&self) -> std::sync::RwLockReadGuard<'_, LedgerKeys> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The key the next checkpoint is signed with.
    pub(crate) fn signing_key(&self) -> Arc<SigningKey> {
        self.read_keys().signing.clone()
    }

    /// Refuses further appends, keeping the first reason.
    pub(crate) fn stop(&self, why: String) {
        self.stopped
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(why);
    }

    pub(crate) fn stopped_reason(&self) -> Option<String> {
        self.stopped
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped_reason().is_some()
    }

    /// Whether the next write is to fail on purpose ([`Ledger::fail_next_writes`]); counts it.
    pub(crate) fn take_injected_fault(&self) -> bool {
        self.failing_writes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }

    pub(crate) fn stopped_error(&self) -> LedgerError {
        LedgerError::Stopped(self.stopped_reason().unwrap_or_default())
    }
}

struct Inner {
    shared: Arc<Shared>,
    tx: Option<mpsc::SyncSender<Request>>,
    permits: Arc<Semaphore>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the queue ends the commit loop once it has answered everything queued.
        self.tx = None;
        self.permits.close();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the ledger commit thread panicked");
        }
    }
}

/// An append-only ledger. Cheap to clone; the last clone dropped stops the commit loop.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("origin", &self.inner.shared.origin)
            .field("size", &self.size())
            .finish()
    }
}

impl Ledger {
    /// Opens the ledger in `dir`, creating it if empty.
    ///
    /// Cuts a torn tail off the last segment, keeping its bytes in [`crate::DAMAGED_DIR`] (reported
    /// in [`OpenReport::truncated`]), refuses damage anywhere else in that segment, and replays into
    /// the index and views whatever they had not applied. The closed segments are not read: see
    /// [`Ledger::check_closed_segments`]. A ledger a repair held ([`crate::HOLD_FILE`]) opens, but
    /// refuses appends until it has regrown to the held checkpoint ([`OpenReport::held`]).
    pub fn open(
        dir: impl AsRef<Path>,
        options: LedgerOptions,
    ) -> Result<(Self, OpenReport), LedgerError> {
        let dir = dir.as_ref();
        note::check_name(&options.origin).map_err(|source| LedgerError::Checkpoint {
            context: "ledger origin".to_owned(),
            source,
        })?;
        let segments_dir = dir.join("segments");
        fs::create_dir_all(&segments_dir).map_err(LedgerError::io(&segments_dir))?;
        let keys = keys::open(dir, options.signing_key, &options.earlier_keys)?;

        let holding = hold::read(dir, Some(&options.origin), &keys.accepted)?;
        // The index is read first: entries it had recorded were durable, so a bad frame among them
        // is damage, never a torn tail to cut.
        let index = Index::open(&dir.join("index"), options.views)?;
        let durable = index.frames_applied()?;
        let recovered = recover::recover(&segments_dir, durable)?;
        let size = recovered.size;
        if durable > size {
            let last = recovered.segments.last();
            return Err(LedgerError::Corrupt {
                path: last.map_or_else(|| segments_dir.clone(), |s| s.path.clone()),
                offset: last
                    .and_then(|s| fs::metadata(&s.path).ok())
                    .map_or(0, |m| m.len()),
                index: Some(size),
                reason: format!(
                    "the segments end at entry {size}, but the index had recorded entries up to \
                     {durable}: those were synced, and are lost or damaged"
                ),
            });
        }
        let checkpoint = match &recovered.last_note {
            Some(text) => {
                let cp = keys.verify(text, Some(&options.origin)).map_err(|source| {
                    LedgerError::Checkpoint {
                        context: format!("last checkpoint in {}", segments_dir.display()),
                        source,
                    }
                })?;
                if cp.size() != size {
                    return Err(LedgerError::Inconsistent(format!(
                        "the last checkpoint is for size {}, the segments hold {size} entries",
                        cp.size()
                    )));
                }
                cp
            }
            None if size == 0 => SignedCheckpoint::sign(
                CheckpointBody {
                    origin: options.origin.clone(),
                    size: 0,
                    root: crate::merkle::EMPTY_ROOT,
                },
                &keys.signing,
            )
            .map_err(|source| LedgerError::Checkpoint {
                context: "signing".to_owned(),
                source,
            })?,
            None => {
                return Err(LedgerError::Inconsistent(format!(
                    "{size} entries but no checkpoint"
                )));
            }
        };

        let rebuilt = index.roll_back(size)?;
        if !rebuilt.is_empty() {
            tracing::warn!(parts = ?rebuilt, size, "ledger index was ahead of the segments; rebuilding");
        }
        let replayed = recover::catch_up(&index, &recovered.segments, size)?;
        let frontier: Frontier = index.frontier(size)?;
        if &frontier.root() != checkpoint.root() {
            return Err(LedgerError::Inconsistent(format!(
                "the Merkle index's root at size {size} does not match the signed checkpoint; \
                 delete {} to rebuild it",
                dir.join("index").display()
            )));
        }

        let held = match holding {
            None => None,
            Some(cp) if cp.size() > size => {
                tracing::error!(
                    size,
                    published = cp.size(),
                    "the ledger is held: a repair cut it below a checkpoint it had signed; it \
                     records nothing until the entries are restored (tulpar ledger repair --from)"
                );
                Some(cp.size())
            }
            Some(cp) => {
                let root = ProofBuilder::new(|level, i| index.node(level, i)).root(cp.size())?;
                if &root != cp.root() {
                    return Err(LedgerError::Inconsistent(format!(
                        "{} holds the ledger to a checkpoint of size {} whose root is not the one \
                         the segments give: they hold another history of that size",
                        dir.join(HOLD_FILE).display(),
                        cp.size()
                    )));
                }
                hold::remove(dir)?;
                tracing::info!(
                    size,
                    published = cp.size(),
                    "the ledger regrew to the checkpoint it was held to; it records again"
                );
                None
            }
        };
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        let shared = Arc::new(Shared {
            origin: options.origin,
            keys: RwLock::new(keys),
            dir: dir.to_owned(),
            segments_dir,
            index,
            size: AtomicU64::new(size),
            checkpoint: RwLock::new(checkpoint),
            events,
            files: Mutex::new(HashMap::new()),
            stopped: Mutex::new(None),
            writable: tokio::sync::watch::Sender::new(held.is_none()),
            failing_writes: std::sync::atomic::AtomicU32::new(0),
            integrity: tokio::sync::watch::Sender::new(Integrity::default()),
            open_segment: recovered.writer.first_index(),
            held,
            sync_times: crate::stats::SyncTimes::default(),
        });
        let (tx, rx) = mpsc::sync_channel(QUEUE_DEPTH);
        let committer = Committer {
            shared: shared.clone(),
            writer: recovered.writer,
            frontier,
        };
        let thread = std::thread::Builder::new()
            .name("ledger-commit".to_owned())
            .spawn(move || committer.run(rx))
            .map_err(LedgerError::io(dir))?;
        let report = OpenReport {
            size,
            truncated: recovered.truncated,
            replayed,
            rebuilt,
            held,
        };
        let ledger = Self {
            inner: Arc::new(Inner {
                shared,
                tx: Some(tx),
                permits: Arc::new(Semaphore::new(QUEUE_DEPTH)),
                thread: Some(thread),
            }),
        };
        Ok((ledger, report))
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// Appends `entry`; returns once it is durable, with its index and the checkpoint covering it.
    ///
    /// Concurrent appends are committed together: one write, one sync and one signed checkpoint per
    /// batch. Entries larger than [`MAX_ENTRY_BYTES`] encoded are refused.
    pub async fn append(&self, entry: LedgerEntry) -> Result<Appended, LedgerError> {
        let mut appended = self.append_all(vec![entry]).await?;
        appended.pop().ok_or(LedgerError::Closed)
    }

    /// Appends `entries` at consecutive indexes in one batch; returns once they are durable, with
    /// each one's index and the checkpoint covering them all. Either every entry is appended or none
    /// is. At most [`MAX_APPEND_ENTRIES`] entries; each is limited as in [`Ledger::append`].
    ///
    /// One call costs the commit loop one queue item and one answer, however many entries it holds,
    /// so callers holding several entries at once should prefer it to concurrent `append`s.
    pub async fn append_all(
        &self,
        entries: Vec<LedgerEntry>,
    ) -> Result<Vec<Appended>, LedgerError> {
        let count = entries.len();
        if count == 0 {
            return Ok(Vec::new());
        }
        if let Some(published) = self.shared().held {
            return Err(LedgerError::Held {
                size: self.size(),
                published,
            });
        }
        if count > MAX_APPEND_ENTRIES {
            return Err(LedgerError::TooManyEntries {
                count,
                max: MAX_APPEND_ENTRIES,
            });
        }
        let mut items = Vec::with_capacity(count);
        for entry in entries {
            let bytes = entry.encode_to_vec();
            if bytes.len() > MAX_ENTRY_BYTES {
                return Err(LedgerError::EntryTooLarge {
                    size: bytes.len(),
                    max: MAX_ENTRY_BYTES,
                });
            }
            // Hashing here spreads the work over the appenders' threads.
            let leaf = leaf_hash(&bytes);
            items.push((bytes, leaf, entry));
        }
        let permit = self
            .inner
            .permits
            .clone()
            .acquire_many_owned(count as u32)
            .await
            .map_err(|_| LedgerError::Closed)?;
        let (reply, answer) = oneshot::channel();
        let tx = self.inner.tx.as_ref().ok_or(LedgerError::Closed)?;
        tx.try_send(Request {
            items,
            reply,
            permit,
        })
        .map_err(|_| LedgerError::Closed)?;
        let first = answer.await.map_err(|_| LedgerError::Closed)??;
        Ok((first.index..)
            .take(count)
            .map(|index| Appended {
                index,
                checkpoint: first.checkpoint.clone(),
            })
            .collect())
    }

    /// Whether the ledger can write: turns false when a write to the segments fails (a full disk)
    /// and true again once a write or the commit loop's periodic probe succeeds. Appends meanwhile
    /// fail with [`LedgerError::Unwritable`] and change nothing. A held ledger is never writable.
    pub fn writable(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shared().writable.subscribe()
    }

    /// Makes the next `count` segment writes (and probes of the disk) fail as a full disk would,
    /// after writing part of their frame; `0` ends the fault. A seam for tests of recovery.
    #[doc(hidden)]
    pub fn fail_next_writes(&self, count: u32) {
        self.shared().failing_writes.store(count, Ordering::Release);
    }

    /// The size of the checkpoint a repair holds the ledger to, while it is held (it then appends
    /// nothing; see [`crate::HOLD_FILE`]).
    pub fn held(&self) -> Option<u64> {
        self.shared().held
    }

    /// How long the durable writes of batches took since the ledger opened, for monitoring.
    pub fn commit_times(&self) -> crate::CommitTimes {
        self.shared().sync_times.snapshot()
    }

    /// The bytes the segment files hold on disk, as their lengths add up now.
    pub fn segment_bytes(&self) -> std::io::Result<u64> {
        let mut bytes = 0;
        for entry in std::fs::read_dir(&self.shared().segments_dir)? {
            bytes += entry?.metadata()?.len();
        }
        Ok(bytes)
    }

    /// Number of entries committed.
    pub fn size(&self) -> u64 {
        self.shared().size.load(Ordering::Acquire)
    }

    /// The checkpoint of the last committed batch.
    pub fn latest_checkpoint(&self) -> SignedCheckpoint {
        self.shared()
            .checkpoint
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The checkpoint origin (`tulpar/<COUNTRY>`).
    pub fn origin(&self) -> &str {
        &self.shared().origin
    }

    /// The key checkpoints are signed with now.
    pub fn public_key(&self) -> PublicKey {
        self.shared().signing_key().public_key()
    }

    /// The key checkpoints are signed with now; the node signs its receipts and cosignatures with
    /// it too.
    pub fn signing_key(&self) -> Arc<SigningKey> {
        self.shared().signing_key()
    }

    /// Every key the ledger's checkpoints may be signed with: the current one first, then the
    /// earlier ones, newest first.
    pub fn checkpoint_keys(&self) -> Vec<PublicKey> {
        self.shared().read_keys().accepted.clone()
    }

    /// Signs checkpoints with `key` from the next batch on; the checkpoints signed before keep
    /// verifying under the key that signed them. Returns false when `key` is already the signing
    /// key. The switch is recorded in `ledger.pub` and [`crate::EARLIER_KEYS_FILE`] before it takes
    /// effect, so the ledger reopens with either key on a crash in between.
    pub fn switch_key(&self, key: SigningKey) -> Result<bool, LedgerError> {
        let shared = self.shared();
        let mut keys = shared.keys.write().unwrap_or_else(PoisonError::into_inner);
        let old = keys.signing.public_key();
        let new = key.public_key();
        if old == new {
            return Ok(false);
        }
        keys::record_switch(&shared.dir, &old, &new)?;
        keys.accepted.retain(|k| *k != new);
        keys.accepted.insert(0, new);
        keys.signing = Arc::new(key);
        Ok(true)
    }

    /// Live stream of committed batches. A receiver that falls more than a thousand batches behind
    /// gets `Lagged` and should re-read the missed range with [`Ledger::entries`].
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<CommittedBatch>> {
        self.shared().events.subscribe()
    }

    /// Damage found in the segments since opening, and whether the closed segments have been checked
    /// ([`Ledger::check_closed_segments`]); changes as damage is found.
    pub fn integrity(&self) -> tokio::sync::watch::Receiver<Integrity> {
        self.shared().integrity.subscribe()
    }

    /// Checks the checksum of every frame in the closed segments (those before the segment appended
    /// to when the ledger opened, which opening checked), with the segments' headers and lengths.
    /// Blocking: one frame is read at a time. What is damaged is recorded in [`Ledger::integrity`]
    /// (and logged), which is marked checked when the check completes; `progress` is called after
    /// each segment and `stop` between frames.
    pub fn check_closed_segments(
        &self,
        progress: impl FnMut(&CheckProgress),
        stop: impl Fn() -> bool,
    ) -> Result<CheckReport, LedgerError> {
        let shared = self.shared();
        let report = damage::check_closed_segments(shared, shared.open_segment, progress, stop)?;
        if report.completed {
            shared
                .integrity
                .send_modify(|integrity| integrity.checked = true);
        }
        Ok(report)
    }

    /// The sled tree of the view called `name`, for reads.
    pub fn view_tree(&self, name: &str) -> Option<sled::Tree> {
        self.shared().index.view_tree(name)
    }

    fn check_index(&self, index: u64) -> Result<u64, LedgerError> {
        let size = self.size();
        if index >= size {
            return Err(LedgerError::NotFound { index, size });
        }
        Ok(size)
    }

    fn frame_loc(&self, index: u64) -> Result<FrameLoc, LedgerError> {
        self.shared().index.frame_for(index)?.ok_or_else(|| {
            LedgerError::Inconsistent(format!("no frame location for entry {index}"))
        })
    }

    /// The open file of the segment starting at `first_index`, kept open for the next read; at most
    /// [`MAX_OPEN_SEGMENTS`] are kept.
    fn segment_file(&self, first_index: u64) -> Result<(Arc<File>, PathBuf), LedgerError> {
        let shared = self.shared();
        let path = segment::segment_path(&shared.segments_dir, first_index);
        let mut files = shared.files.lock().unwrap_or_else(PoisonError::into_inner);
        let file = match files.get(&first_index) {
            Some(f) => f.clone(),
            None => {
                let f = Arc::new(File::open(&path).map_err(LedgerError::io(&path))?);
                if files.len() >= MAX_OPEN_SEGMENTS {
                    // The oldest segment goes first: an audit reads them in order, and recent
                    // entries are read most.
                    if let Some(oldest) = files.keys().min().copied() {
                        files.remove(&oldest);
                    }
                }
                files.insert(first_index, f.clone());
                f
            }
        };
        Ok((file, path))
    }

    /// Reads the frame at `loc` and hands it to `f`. A damaged frame is recorded in
    /// [`Ledger::integrity`]; its records that still match the Merkle tree read as usual.
    fn with_frame<T>(
        &self,
        loc: &FrameLoc,
        f: impl FnOnce(&ReadFrame<'_>) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        let (file, path) = match self.segment_file(loc.segment) {
            Err(LedgerError::Io { path, source }) if source.kind() == ErrorKind::NotFound => {
                let missing = damage::Damage {
                    segment: path.clone(),
                    offset: 0,
                    entries: loc.first_index..loc.first_index + u64::from(loc.count),
                    reason: "the segment file is missing".to_owned(),
                    found_at: std::time::SystemTime::now(),
                };
                damage::record(self.shared(), missing);
                return Err(LedgerError::Corrupt {
                    path,
                    offset: 0,
                    index: Some(loc.first_index),
                    reason: "the segment file is missing".to_owned(),
                });
            }
            other => other?,
        };
        let mut buf = Vec::new();
        let frame = read::frame_from(self.shared(), &file, &path, loc, &mut buf)?;
        if let Some(damage) = &frame.damage {
            damage::record(self.shared(), damage.clone());
        }
        f(&frame)
    }

    /// The stored bytes of entry `index` (the leaf hash input).
    pub fn entry_bytes(&self, index: u64) -> Result<Vec<u8>, LedgerError> {
        self.check_index(index)?;
        let loc = self.frame_loc(index)?;
        self.with_frame(&loc, |frame| frame.record(index).map(<[u8]>::to_vec))
    }

    /// Entry `index`.
    pub fn entry(&self, index: u64) -> Result<LedgerEntry, LedgerError> {
        let bytes = self.entry_bytes(index)?;
        decode(index, &bytes)
    }

    /// The entries in `range`, which must lie inside the ledger.
    pub fn entries(&self, range: Range<u64>) -> Result<Vec<(u64, LedgerEntry)>, LedgerError> {
        let mut out = Vec::with_capacity(range.end.saturating_sub(range.start) as usize);
        self.for_each_record(range, |i, record| {
            out.push((i, decode(i, record)?));
            Ok(())
        })?;
        Ok(out)
    }

    /// The entries of `range` from its start, as many as fit in `max_bytes` of stored bytes, and at
    /// least one when the range is not empty: a reader that must bound its memory (a watcher catching
    /// up) reads on from the index after the last one returned.
    pub fn entries_within(
        &self,
        range: Range<u64>,
        max_bytes: usize,
    ) -> Result<Vec<(u64, LedgerEntry)>, LedgerError> {
        let size = self.size();
        if range.start > range.end || range.end > size {
            return Err(LedgerError::BadRange(format!(
                "entries {}..{} are not inside the ledger of size {size}",
                range.start, range.end
            )));
        }
        let (mut out, mut bytes, mut next) = (Vec::new(), 0usize, range.start);
        while next < range.end {
            let loc = self.frame_loc(next)?;
            let full = self.with_frame(&loc, |frame| {
                for (i, record) in frame.records() {
                    if i < next || i >= range.end {
                        continue;
                    }
                    let record = record?;
                    if !out.is_empty() && bytes.saturating_add(record.len()) > max_bytes {
                        return Ok(true);
                    }
                    bytes += record.len();
                    out.push((i, decode(i, record)?));
                }
                Ok(false)
            })?;
            if full {
                break;
            }
            next = loc.first_index + u64::from(loc.count);
        }
        Ok(out)
    }

    /// The stored bytes of the entries in `range`, which must lie inside the ledger.
    pub fn entries_bytes(&self, range: Range<u64>) -> Result<Vec<(u64, Vec<u8>)>, LedgerError> {
        let mut out = Vec::with_capacity(range.end.saturating_sub(range.start) as usize);
        self.for_each_record(range, |i, record| {
            out.push((i, record.to_vec()));
            Ok(())
        })?;
        Ok(out)
    }

    /// Hands each stored record in `range` to `f` with its index, reading each frame once.
    fn for_each_record(
        &self,
        range: Range<u64>,
        mut f: impl FnMut(u64, &[u8]) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        let size = self.size();
        if range.start > range.end || range.end > size {
            return Err(LedgerError::BadRange(format!(
                "entries {}..{} are not inside the ledger of size {size}",
                range.start, range.end
            )));
        }
        let mut next = range.start;
        while next < range.end {
            let loc = self.frame_loc(next)?;
            self.with_frame(&loc, |frame| {
                for (i, record) in frame.records() {
                    if i >= next && i < range.end {
                        f(i, record?)?;
                    }
                }
                Ok(())
            })?;
            next = loc.first_index + u64::from(loc.count);
        }
        Ok(())
    }

    /// The entries at `indexes`, in the order given. Neighbouring indexes in the same frame share
    /// one read of it, so a sorted list costs one read per frame rather than one per entry.
    pub fn entries_at(&self, indexes: &[u64]) -> Result<Vec<(u64, LedgerEntry)>, LedgerError> {
        let mut out = Vec::with_capacity(indexes.len());
        let mut rest = indexes;
        while let Some(&index) = rest.first() {
            self.check_index(index)?;
            let loc = self.frame_loc(index)?;
            let end = loc.first_index + u64::from(loc.count);
            let inside = rest
                .iter()
                .take_while(|i| (loc.first_index..end).contains(*i))
                .count();
            self.with_frame(&loc, |frame| {
                for &i in &rest[..inside] {
                    out.push((i, decode(i, frame.record(i)?)?));
                }
                Ok(())
            })?;
            rest = &rest[inside..];
        }
        Ok(out)
    }

    /// Indexes of the entries whose `alert_id` is `alert_id`, ascending.
    pub fn indexes_for_alert(&self, alert_id: &[u8]) -> Result<Vec<u64>, LedgerError> {
        let size = self.size();
        let mut found = self.shared().index.alert_indexes(alert_id)?;
        found.retain(|i| *i < size);
        Ok(found)
    }

    fn check_size(&self, size: u64) -> Result<(), LedgerError> {
        let current = self.size();
        if size > current {
            return Err(LedgerError::BadRange(format!(
                "tree size {size} is larger than the ledger ({current})"
            )));
        }
        Ok(())
    }

    fn proofs(&self) -> ProofBuilder<impl FnMut(u8, u64) -> Result<Hash, LedgerError> + '_> {
        let index = &self.shared().index;
        ProofBuilder::new(move |level, i| index.node(level, i))
    }

    /// RFC 9162 leaf hash of entry `index`.
    pub fn leaf_hash(&self, index: u64) -> Result<Hash, LedgerError> {
        self.check_index(index)?;
        self.shared().index.node(0, index)
    }

    /// RFC 9162 root hash of the first `size` entries.
    pub fn root_at(&self, size: u64) -> Result<Hash, LedgerError> {
        self.check_size(size)?;
        self.proofs().root(size)
    }

    /// RFC 9162 inclusion proof of entry `index` in the tree of the first `size` entries.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<InclusionProof, LedgerError> {
        self.check_size(size)?;
        if index >= size {
            return Err(LedgerError::BadRange(format!(
                "entry {index} is not inside a tree of size {size}"
            )));
        }
        let hashes = self.proofs().inclusion(index, size)?;
        Ok(InclusionProof {
            leaf_index: index,
            tree_size: size,
            hashes: hashes.iter().map(|h| h.to_vec()).collect(),
        })
    }

    /// RFC 9162 consistency proof from the tree of `old_size` entries to that of `new_size`.
    /// From size 0 the proof is empty.
    pub fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<ConsistencyProof, LedgerError> {
        self.check_size(new_size)?;
        if old_size > new_size {
            return Err(LedgerError::BadRange(format!(
                "old size {old_size} is larger than new size {new_size}"
            )));
        }
        let hashes = if old_size == 0 {
            Vec::new()
        } else {
            self.proofs().consistency(old_size, new_size)?
        };
        Ok(ConsistencyProof {
            old_size,
            new_size,
            hashes: hashes.iter().map(|h| h.to_vec()).collect(),
        })
    }

    /// The checkpoint signed when the ledger reached exactly `size` entries, if a batch ended there.
    pub fn checkpoint_at(&self, size: u64) -> Result<Option<SignedCheckpoint>, LedgerError> {
        self.check_size(size)?;
        if size == 0 {
            return Ok(None);
        }
        let latest = self.latest_checkpoint();
        if latest.size() == size {
            return Ok(Some(latest));
        }
        let loc = self.frame_loc(size - 1)?;
        if loc.first_index + u64::from(loc.count) != size {
            return Ok(None);
        }
        let shared = self.shared();
        self.with_frame(&loc, |frame| {
            let note = frame.note()?;
            shared
                .read_keys()
                .verify(note, Some(&shared.origin))
                .map(Some)
                .map_err(|source| match frame.damage {
                    Some(_) => frame.corrupt(None),
                    None => LedgerError::Checkpoint {
                        context: format!("checkpoint of size {size}"),
                        source,
                    },
                })
        })
    }
}

fn decode(index: u64, bytes: &[u8]) -> Result<LedgerEntry, LedgerError> {
    LedgerEntry::decode(bytes).map_err(|e| LedgerError::Decode {
        index,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::verify_dir;

    fn options(key: &SigningKey) -> LedgerOptions {
        LedgerOptions {
            origin: "tulpar/KZ".to_owned(),
            signing_key: SigningKey::from_pem(&key.to_pem()).unwrap(),
            earlier_keys: Vec::new(),
            views: vec![],
        }
    }

    fn entry(i: u64) -> LedgerEntry {
        LedgerEntry {
            alert_id: format!("A-{i}-{}", "x".repeat(200)),
            ..Default::default()
        }
    }

    #[test]
    fn ledger_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
        assert_send_sync::<Ledger>();
    }

    #[test]
    fn reads_and_recovery_work_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (ledger, _) = Ledger::open(dir.path(), options(&key)).unwrap();
        for i in 0..120 {
            assert_eq!(rt.block_on(ledger.append(entry(i))).unwrap().index, i);
        }
        let segments = segment::list(&dir.path().join("segments")).unwrap();
        assert!(segments.len() > 5, "{} segments", segments.len());
        let all = ledger.entries(0..120).unwrap();
        assert!(all.iter().all(|(i, e)| *e == entry(*i)));
        let open = ledger.shared().files.lock().unwrap().len();
        assert!(open <= MAX_OPEN_SEGMENTS, "{open} segment files open");
        assert_eq!(
            ledger.entry(0).unwrap(),
            entry(0),
            "a closed one opens again"
        );
        let root = ledger.root_at(120).unwrap();
        drop(ledger);

        // A segment created by a roll whose header never reached the disk.
        let torn = segment::segment_path(&dir.path().join("segments"), 120);
        fs::write(&torn, b"TULP").unwrap();
        let (ledger, report) = Ledger::open(dir.path(), options(&key)).unwrap();
        assert_eq!(report.size, 120);
        assert_eq!(report.truncated.unwrap().segment, torn);
        assert_eq!(ledger.latest_checkpoint().root(), &root);
        assert_eq!(rt.block_on(ledger.append(entry(120))).unwrap().index, 120);
        assert_eq!(ledger.entry(7).unwrap(), entry(7));
        let picked = ledger.entries_at(&[3, 4, 9, 100, 120, 2]).unwrap();
        assert!(picked.iter().all(|(i, e)| *e == entry(*i)));
        assert_eq!(
            picked.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [3, 4, 9, 100, 120, 2]
        );
        assert!(ledger.entries_at(&[5, 121]).is_err());
        drop(ledger);

        fs::remove_dir_all(dir.path().join("index")).unwrap();
        let (ledger, report) = Ledger::open(dir.path(), options(&key)).unwrap();
        assert_eq!(report.replayed, 121);
        assert_eq!(
            ledger
                .indexes_for_alert(entry(77).alert_id.as_bytes())
                .unwrap(),
            vec![77]
        );
        drop(ledger);
        let verified = verify_dir(dir.path(), None, |_| {}).unwrap();
        assert_eq!(verified.size, 121);
        assert!(verified.segments > 5);
    }
}
