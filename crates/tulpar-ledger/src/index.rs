//! What sled holds: state derived from the segments, each part tagged with the entries it covers.
//!
//! Trees: `merkle` (complete subtree hashes, [`TILE`] consecutive ones of a level per key), `frames`
//! (where each frame of the segments starts), `alerts` (alert id → entry indexes), `meta` (applied
//! markers), and one tree per view. Merkle, frame and alert writes are idempotent, so they are plain
//! inserts written before their marker: after a crash the marker may lag, never lead, and replaying
//! entries rewrites the same keys. A view's writes are not idempotent, so each batch of them goes
//! into its tree together with the view's marker, under the reserved empty key, as one atomic sled
//! batch. Atomic sled writes are few on purpose: each one makes sled write out its log buffer.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use sled::Tree;
use tulpar_proto::v1::LedgerEntry;

use crate::error::LedgerError;
use crate::merkle::{Frontier, Hash, frontier_nodes};
use crate::view::{View, ViewTxn};

const MARK_MERKLE: &[u8] = b"applied/merkle";
const MARK_FRAMES: &[u8] = b"applied/frames";
const MARK_ALERTS: &[u8] = b"applied/alerts";

/// Where a frame is in the segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameLoc {
    /// Index of its first entry.
    pub(crate) first_index: u64,
    /// Number of entries.
    pub(crate) count: u32,
    /// First index of the segment holding it.
    pub(crate) segment: u64,
    /// Byte offset in the segment.
    pub(crate) offset: u64,
    /// Frame length in bytes.
    pub(crate) len: u32,
}

impl FrameLoc {
    fn encode(&self) -> [u8; 24] {
        let mut v = [0u8; 24];
        v[..8].copy_from_slice(&self.segment.to_le_bytes());
        v[8..16].copy_from_slice(&self.offset.to_le_bytes());
        v[16..20].copy_from_slice(&self.len.to_le_bytes());
        v[20..].copy_from_slice(&self.count.to_le_bytes());
        v
    }

    fn decode(key: &[u8], v: &[u8]) -> Option<Self> {
        let first_index = u64::from_be_bytes(key.try_into().ok()?);
        if v.len() != 24 {
            return None;
        }
        let u64_at = |at: usize| v[at..at + 8].try_into().ok().map(u64::from_le_bytes);
        let u32_at = |at: usize| v[at..at + 4].try_into().ok().map(u32::from_le_bytes);
        Some(Self {
            first_index,
            segment: u64_at(0)?,
            offset: u64_at(8)?,
            len: u32_at(16)?,
            count: u32_at(20)?,
        })
    }
}

/// Complete subtree hashes of one level stored per sled key: one insert covers many nodes, which
/// keeps the commit loop's index writes well below the cost of the sync.
pub(crate) const TILE: u64 = 16;

/// The key of the tile holding nodes `tile * TILE .. (tile + 1) * TILE` of `level`.
fn tile_key(level: u8, tile: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = level;
    k[1..].copy_from_slice(&tile.to_be_bytes());
    k
}

fn alert_prefix(alert_id: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(alert_id.len() + 12);
    k.extend_from_slice(&(alert_id.len() as u32).to_be_bytes());
    k.extend_from_slice(alert_id);
    k
}

/// Where earlier versions kept a view's marker, in `meta`; read when the view's tree has none.
fn legacy_view_marker(name: &str) -> Vec<u8> {
    format!("applied/view/{name}").into_bytes()
}

/// The key of a view's applied marker in its own tree (views may not use it).
pub(crate) const VIEW_MARKER: &[u8] = b"";

fn decode_marker(value: Option<sled::IVec>) -> Result<u64, LedgerError> {
    match value {
        None => Ok(0),
        Some(v) => v
            .as_ref()
            .try_into()
            .map(u64::from_be_bytes)
            .map_err(|_| LedgerError::Inconsistent("applied marker is not 8 bytes".into())),
    }
}

/// The sled database of a ledger.
pub(crate) struct Index {
    db: sled::Db,
    merkle: Tree,
    frames: Tree,
    alerts: Tree,
    meta: Tree,
    views: Vec<(Arc<dyn View>, Tree)>,
}

impl Index {
    /// Opens (or creates) the database at `path` with a tree per view.
    pub(crate) fn open(path: &Path, views: Vec<Arc<dyn View>>) -> Result<Self, LedgerError> {
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(256 << 20)
            .mode(sled::Mode::HighThroughput);
        // sled's background flusher lets go of the file lock a moment after the previous handle is
        // dropped, so a reopen right after a close may briefly find it held.
        let mut attempts = 0;
        let db = loop {
            match config.open() {
                // sled reports a held lock only by its message.
                Err(sled::Error::Io(e))
                    if attempts < 100 && e.to_string().contains("could not acquire lock") =>
                {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => break other.map_err(LedgerError::index("open"))?,
            }
        };
        let tree = |name: &str| db.open_tree(name).map_err(LedgerError::index("open tree"));
        let mut seen = std::collections::HashSet::new();
        let mut view_trees = Vec::new();
        for view in views {
            let name = view.name().to_owned();
            let reserved = ["merkle", "frames", "alerts", "meta", "__sled__default"];
            if name.is_empty() || reserved.contains(&name.as_str()) || !seen.insert(name.clone()) {
                return Err(LedgerError::View {
                    view: name,
                    index: 0,
                    reason: "view names must be non-empty, unique and not a built-in tree name"
                        .to_owned(),
                });
            }
            view_trees.push((view, tree(&format!("view/{name}"))?));
        }
        Ok(Self {
            merkle: tree("merkle")?,
            frames: tree("frames")?,
            alerts: tree("alerts")?,
            meta: tree("meta")?,
            views: view_trees,
            db,
        })
    }

    fn marker(&self, key: &[u8]) -> Result<u64, LedgerError> {
        decode_marker(
            self.meta
                .get(key)
                .map_err(LedgerError::index("read marker"))?,
        )
    }

    /// How many entries the view with `tree` has applied.
    fn view_marker(&self, view: &dyn View, tree: &Tree) -> Result<u64, LedgerError> {
        match tree
            .get(VIEW_MARKER)
            .map_err(LedgerError::index("read view marker"))?
        {
            Some(value) => decode_marker(Some(value)),
            None => self.marker(&legacy_view_marker(view.name())),
        }
    }

    fn set_marker(&self, key: &[u8], applied: u64) -> Result<(), LedgerError> {
        self.meta
            .insert(key, &applied.to_be_bytes())
            .map(drop)
            .map_err(LedgerError::index("write marker"))
    }

    /// Forgets everything derived from entries at or past `size` (after the segments lost a tail
    /// that sled had already seen). Merkle nodes inside the first `size` leaves stay valid; alert
    /// index and views are rebuilt from scratch. Returns the names of the rebuilt parts.
    pub(crate) fn roll_back(&self, size: u64) -> Result<Vec<String>, LedgerError> {
        let mut rebuilt = Vec::new();
        if self.marker(MARK_MERKLE)? > size {
            self.set_marker(MARK_MERKLE, size)?;
        }
        if self.marker(MARK_FRAMES)? > size {
            let stale: Vec<_> = self
                .frames
                .range(size.to_be_bytes()..)
                .keys()
                .collect::<Result<_, _>>()
                .map_err(LedgerError::index("scan frames"))?;
            for key in stale {
                self.frames
                    .remove(key)
                    .map_err(LedgerError::index("remove frame"))?;
            }
            // A frame ending past `size` may start before it; truncation is frame-aligned, so
            // the last kept frame ends exactly at `size`.
            self.set_marker(MARK_FRAMES, size)?;
        }
        if self.marker(MARK_ALERTS)? > size {
            self.alerts
                .clear()
                .map_err(LedgerError::index("clear alerts"))?;
            self.set_marker(MARK_ALERTS, 0)?;
            rebuilt.push("alerts".to_owned());
        }
        for (view, tree) in &self.views {
            if self.view_marker(view.as_ref(), tree)? > size {
                tree.clear().map_err(LedgerError::index("clear view"))?;
                self.meta
                    .remove(legacy_view_marker(view.name()))
                    .map_err(LedgerError::index("remove view marker"))?;
                rebuilt.push(format!("view {}", view.name()));
            }
        }
        Ok(rebuilt)
    }

    /// The stored hash of complete subtree `(level, index)`.
    pub(crate) fn node(&self, level: u8, index: u64) -> Result<Hash, LedgerError> {
        let value = self
            .merkle
            .get(tile_key(level, index / TILE))
            .map_err(LedgerError::index("read merkle node"))?;
        let at = (index % TILE) as usize * 32;
        value
            .and_then(|v| v.get(at..at + 32).and_then(|h| h.try_into().ok()))
            .ok_or_else(|| {
                LedgerError::Inconsistent(format!(
                    "merkle node (level {level}, index {index}) is missing"
                ))
            })
    }

    /// The right edge of the tree of `size` leaves, from stored nodes.
    pub(crate) fn frontier(&self, size: u64) -> Result<Frontier, LedgerError> {
        let hashes = frontier_nodes(size)
            .into_iter()
            .map(|(level, index)| self.node(level, index))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Frontier::from_nodes(size, hashes))
    }

    /// Applied marker of the Merkle tree.
    pub(crate) fn merkle_applied(&self) -> Result<u64, LedgerError> {
        self.marker(MARK_MERKLE)
    }

    /// Applied marker of the frame index.
    pub(crate) fn frames_applied(&self) -> Result<u64, LedgerError> {
        self.marker(MARK_FRAMES)
    }

    /// Applied marker of the alert index.
    pub(crate) fn alerts_applied(&self) -> Result<u64, LedgerError> {
        self.marker(MARK_ALERTS)
    }

    /// Applied marker of view number `i`.
    pub(crate) fn view_applied(&self, i: usize) -> Result<u64, LedgerError> {
        let (view, tree) = &self.views[i];
        self.view_marker(view.as_ref(), tree)
    }

    /// Number of views.
    pub(crate) fn view_count(&self) -> usize {
        self.views.len()
    }

    /// Stores completed Merkle nodes, then marks the tree as covering `applied` leaves. Nodes of
    /// each level must come in index order, continuing what is stored.
    pub(crate) fn write_merkle(
        &self,
        nodes: &[(u8, u64, Hash)],
        applied: u64,
    ) -> Result<(), LedgerError> {
        let mut tiles: BTreeMap<(u8, u64), (u64, Vec<u8>)> = BTreeMap::new();
        for (level, index, hash) in nodes {
            let (_, bytes) = tiles
                .entry((*level, index / TILE))
                .or_insert_with(|| (index % TILE, Vec::with_capacity(TILE as usize * 32)));
            bytes.extend_from_slice(hash);
        }
        for ((level, tile), (start, new)) in tiles {
            let key = tile_key(level, tile);
            let value = if start == 0 {
                new
            } else {
                let keep = start as usize * 32;
                let old = self
                    .merkle
                    .get(key)
                    .map_err(LedgerError::index("read merkle tile"))?
                    .filter(|old| old.len() >= keep)
                    .ok_or_else(|| {
                        LedgerError::Inconsistent(format!(
                            "merkle nodes before (level {level}, index {}) are missing",
                            tile * TILE + start
                        ))
                    })?;
                let mut value = old[..keep].to_vec();
                value.extend_from_slice(&new);
                value
            };
            self.merkle
                .insert(key, value)
                .map_err(LedgerError::index("write merkle nodes"))?;
        }
        self.set_marker(MARK_MERKLE, applied)
    }

    /// Records where a frame is, then marks the frame index as covering its entries.
    pub(crate) fn write_frame(&self, loc: &FrameLoc) -> Result<(), LedgerError> {
        self.frames
            .insert(loc.first_index.to_be_bytes(), &loc.encode()[..])
            .map_err(LedgerError::index("write frame location"))?;
        self.set_marker(MARK_FRAMES, loc.first_index + u64::from(loc.count))
    }

    /// Indexes entries by alert id, then marks the alert index as covering `applied` entries.
    pub(crate) fn write_alerts(
        &self,
        entries: &[(u64, &[u8])],
        applied: u64,
    ) -> Result<(), LedgerError> {
        for (index, alert_id) in entries.iter().filter(|(_, id)| !id.is_empty()) {
            let mut key = alert_prefix(alert_id);
            key.extend_from_slice(&index.to_be_bytes());
            self.alerts
                .insert(key, &[][..])
                .map_err(LedgerError::index("write alert index"))?;
        }
        self.set_marker(MARK_ALERTS, applied)
    }

    /// Applies entries to every view that has not seen them, committing each view's writes with
    /// its marker atomically. `entries` must be consecutive.
    pub(crate) fn apply_views(&self, entries: &[(u64, &LedgerEntry)]) -> Result<(), LedgerError> {
        let Some(&(last, _)) = entries.last() else {
            return Ok(());
        };
        for (view, tree) in &self.views {
            let applied = self.view_marker(view.as_ref(), tree)?;
            if applied > last {
                continue;
            }
            let mut txn = ViewTxn::new(tree);
            for (index, entry) in entries.iter().filter(|(i, _)| *i >= applied) {
                view.apply(*index, entry, &mut txn)
                    .map_err(|e| LedgerError::View {
                        view: view.name().to_owned(),
                        index: *index,
                        reason: e.0,
                    })?;
            }
            let mut batch = sled::Batch::default();
            for (key, value) in txn.into_pending() {
                match value {
                    Some(value) => batch.insert(key, value),
                    None => batch.remove(key),
                }
            }
            batch.insert(VIEW_MARKER, &(last + 1).to_be_bytes());
            tree.apply_batch(batch).map_err(|e| LedgerError::View {
                view: view.name().to_owned(),
                index: last,
                reason: format!("commit: {e}"),
            })?;
        }
        Ok(())
    }

    /// Where the frame holding `index` is, if indexed.
    pub(crate) fn frame_for(&self, index: u64) -> Result<Option<FrameLoc>, LedgerError> {
        let found = self
            .frames
            .range(..=index.to_be_bytes())
            .next_back()
            .transpose()
            .map_err(LedgerError::index("read frame location"))?;
        let Some((k, v)) = found else {
            return Ok(None);
        };
        let loc = FrameLoc::decode(&k, &v)
            .ok_or_else(|| LedgerError::Inconsistent("malformed frame location".into()))?;
        Ok((index < loc.first_index + u64::from(loc.count)).then_some(loc))
    }

    /// Indexes of the entries about `alert_id`, ascending.
    pub(crate) fn alert_indexes(&self, alert_id: &[u8]) -> Result<Vec<u64>, LedgerError> {
        let prefix = alert_prefix(alert_id);
        self.alerts
            .scan_prefix(&prefix)
            .keys()
            .map(|k| {
                let k = k.map_err(LedgerError::index("scan alert index"))?;
                k[prefix.len()..]
                    .try_into()
                    .map(u64::from_be_bytes)
                    .map_err(|_| LedgerError::Inconsistent("malformed alert index key".into()))
            })
            .collect()
    }

    /// The tree of the view called `name`.
    pub(crate) fn view_tree(&self, name: &str) -> Option<sled::Tree> {
        self.views
            .iter()
            .find(|(v, _)| v.name() == name)
            .map(|(_, t)| t.clone())
    }

    /// Flushes sled's buffers (not a durability barrier; the segments are).
    pub(crate) fn flush(&self) {
        if let Err(e) = self.db.flush() {
            tracing::warn!(error = %e, "flushing the ledger index failed");
        }
    }
}
