//! What sled holds: state derived from the segments, each part tagged with the entries it covers.
//!
//! Trees: `merkle` (complete subtree hashes, [`TILE`] consecutive ones of a level per key), `frames`
//! (where each frame of the segments starts), `alerts` (alert id → entry indexes, up to
//! [`ALERT_CHUNK`] of them per key), `meta` (applied markers), and one tree per view. sled keeps a
//! record in memory for every page of the database, and a page holds at most 16 keys, so the
//! node's memory grows with the number of keys: what is read together is stored under one key.
//! Merkle, frame and alert writes are idempotent, so they are plain inserts written before their
//! marker: after a crash the marker may lag, never lead, and replaying
//! entries rewrites the same keys. A view's writes are not idempotent (an entry's effect depends on
//! what earlier entries left), so a batch of them must land whole or not at all. sled's atomic
//! batches would do, but each one makes sled write out its log buffer and blocks every other sled
//! reader while it applies, so views use a redo record instead: the batch's final values are stored
//! in `meta` first, then written key by key, then the view's marker (under the reserved empty key of
//! its tree) is moved past the batch. sled recovers a prefix of its writes after a crash, so it
//! comes back with either no trace of the batch (the entries are replayed from the segments) or
//! with the redo record, which [`Index::open`] applies again before anything reads the view.

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
/// In `meta`, the layout of the index. An index with another (or none: earlier versions kept Merkle
/// tiles of 16 nodes and one key per alert entry) is rebuilt from the segments whole, which holds far
/// less memory than rewriting its trees in place.
const LAYOUT_KEY: &[u8] = b"layout";
const LAYOUT: &[u8] = b"merkle tiles of 64, alert index chunks of 32";

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
/// keeps the commit loop's index writes well below the cost of the sync, and the tree's keys few.
pub(crate) const TILE: u64 = 64;

/// The key of the tile holding nodes `tile * TILE .. (tile + 1) * TILE` of `level`.
fn tile_key(level: u8, tile: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = level;
    k[1..].copy_from_slice(&tile.to_be_bytes());
    k
}

/// Entry indexes of one alert stored per key of the `alerts` tree: most alerts have fewer, and a
/// full chunk is never rewritten.
const ALERT_CHUNK: usize = 32;

fn alert_prefix(alert_id: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(alert_id.len() + 8);
    k.extend_from_slice(&(alert_id.len() as u32).to_be_bytes());
    k.extend_from_slice(alert_id);
    k
}

/// The key of chunk `chunk` of an alert's entry indexes.
fn alert_chunk_key(prefix: &[u8], chunk: u32) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(&chunk.to_be_bytes());
    k
}

/// The entry indexes of a chunk: big-endian u64s, ascending.
fn chunk_indexes(value: &[u8]) -> Result<impl Iterator<Item = u64> + '_, LedgerError> {
    if value.is_empty() || value.len() % 8 != 0 || value.len() > ALERT_CHUNK * 8 {
        return Err(LedgerError::Inconsistent(
            "malformed alert index chunk".into(),
        ));
    }
    Ok(value
        .chunks_exact(8)
        .map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes"))))
}

/// Where earlier versions kept a view's marker, in `meta`; read when the view's tree has none.
fn legacy_view_marker(name: &str) -> Vec<u8> {
    format!("applied/view/{name}").into_bytes()
}

/// The key of a view's applied marker in its own tree (views may not use it).
pub(crate) const VIEW_MARKER: &[u8] = b"";

/// The key in `meta` of a view's redo record: the entry count its last batch brings the view to,
/// the number of parts, and the first part of the batch's writes.
fn redo_key(view: &str) -> Vec<u8> {
    format!("redo/view/{view}").into_bytes()
}

/// The key in `meta` of part `part` (from 1) of a view's redo record.
fn redo_part_key(view: &str, part: u32) -> Vec<u8> {
    let mut key = redo_key(view);
    key.push(b'/');
    key.extend_from_slice(&part.to_be_bytes());
    key
}

/// A redo record is split into parts of about this size: sled keeps large values out of line.
const REDO_PART_BYTES: usize = 16 << 10;

/// One write of a view batch: a key and its new value, or `None` to remove it.
type Write = (Vec<u8>, Option<Vec<u8>>);

/// Appends `writes` to `out`: per write, the key's length (u32) and bytes, then 0 for a removal or
/// 1, the value's length (u32) and bytes.
fn encode_writes<'a>(
    writes: impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)>,
    out: &mut Vec<u8>,
) {
    for (key, value) in writes {
        out.extend_from_slice(&(key.len() as u32).to_be_bytes());
        out.extend_from_slice(key);
        match value {
            None => out.push(0),
            Some(value) => {
                out.push(1);
                out.extend_from_slice(&(value.len() as u32).to_be_bytes());
                out.extend_from_slice(value);
            }
        }
    }
}

fn decode_writes(mut bytes: &[u8], out: &mut Vec<Write>) -> Result<(), LedgerError> {
    let corrupt = || LedgerError::Inconsistent("a view's redo record is malformed".into());
    let take = |n: usize, bytes: &mut &[u8]| -> Result<Vec<u8>, LedgerError> {
        let (head, rest) = bytes.split_at_checked(n).ok_or_else(corrupt)?;
        *bytes = rest;
        Ok(head.to_vec())
    };
    let len = |b: Vec<u8>| u32::from_be_bytes(b.try_into().unwrap_or_default()) as usize;
    while !bytes.is_empty() {
        let key_len = len(take(4, &mut bytes)?);
        let key = take(key_len, &mut bytes)?;
        let value = match take(1, &mut bytes)?[0] {
            0 => None,
            1 => {
                let value_len = len(take(4, &mut bytes)?);
                Some(take(value_len, &mut bytes)?)
            }
            _ => return Err(corrupt()),
        };
        out.push((key, value));
    }
    Ok(())
}

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

/// sled's cache of pages. A node's working set (recent alerts' records, the Merkle tree's right edge,
/// outboxes) is a small part of it; a larger cache only grows the node's memory as audits and sled's
/// own cleaning of its log pass through old pages, which the operating system's page cache serves
/// as well.
const CACHE_BYTES: u64 = 16 << 20;

/// Whether the index at `db` is in this version's layout, or empty.
fn layout_is_current(db: &sled::Db) -> Result<bool, LedgerError> {
    let meta = db
        .open_tree("meta")
        .map_err(LedgerError::index("open tree"))?;
    Ok(
        match meta
            .get(LAYOUT_KEY)
            .map_err(LedgerError::index("read index layout"))?
        {
            Some(layout) => layout == LAYOUT,
            None => meta.is_empty(),
        },
    )
}

/// Waits, at most two seconds, until no handle holds the lock sled takes on its database file:
/// sled's background flusher lets go of it a moment after the previous handle is dropped, so a
/// reopen right after a close may briefly find it held. The lock is recognised by its error kind
/// (sled itself reports it only as text); if it stays held, sled's own open reports it.
fn wait_for_lock(path: &Path) {
    use fs2::FileExt;
    // sled's database file; absent before the first open, when nothing can hold it.
    let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path.join("db"))
    else {
        return;
    };
    for _ in 0..100 {
        match file.try_lock_exclusive() {
            Err(e) if e.kind() == fs2::lock_contended_error().kind() => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(_) => return,
            Ok(()) => {
                let _ = FileExt::unlock(&file);
                return;
            }
        }
    }
}

/// Whether another process holds the lock sled takes on the database at `path` (a running node).
fn is_locked(path: &Path) -> bool {
    use fs2::FileExt;
    let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path.join("db"))
    else {
        return false;
    };
    match file.try_lock_exclusive() {
        Ok(()) => {
            let _ = FileExt::unlock(&file);
            false
        }
        Err(e) => e.kind() == fs2::lock_contended_error().kind(),
    }
}

impl Index {
    /// Opens the database at `path` for a repair of the segments, with no view: fails at once when a
    /// node holds it, and leaves the views' trees as they are (the node rebuilds a view the segments
    /// no longer cover when it next opens). Holding it keeps a node from starting meanwhile.
    pub(crate) fn open_for_repair(path: &Path) -> Result<Self, LedgerError> {
        // A ledger closed a moment ago may still be releasing the database (sled's own threads
        // let go of it after the last handle drops), so a lock is waited out briefly before it
        // counts as a running node's.
        let patience = std::time::Instant::now() + std::time::Duration::from_secs(3);
        while is_locked(path) {
            if std::time::Instant::now() >= patience {
                return Err(LedgerError::InUse(path.to_owned()));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let db = sled::Config::new()
            .path(path)
            .open()
            .map_err(LedgerError::index("open"))?;
        let tree = |name: &str| db.open_tree(name).map_err(LedgerError::index("open tree"));
        Ok(Self {
            merkle: tree("merkle")?,
            frames: tree("frames")?,
            alerts: tree("alerts")?,
            meta: tree("meta")?,
            views: Vec::new(),
            db,
        })
    }

    /// Opens (or creates) the database at `path` with a tree per view.
    pub(crate) fn open(path: &Path, views: Vec<Arc<dyn View>>) -> Result<Self, LedgerError> {
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .mode(sled::Mode::HighThroughput);
        wait_for_lock(path);
        let mut db = config.open().map_err(LedgerError::index("open"))?;
        if !layout_is_current(&db)? {
            tracing::info!(
                path = %path.display(),
                "rebuilding the ledger index from the segments: an earlier version wrote it in \
                 another layout"
            );
            drop(db);
            wait_for_lock(path);
            std::fs::remove_dir_all(path).map_err(LedgerError::io(path))?;
            db = config.open().map_err(LedgerError::index("open"))?;
        }
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
        let meta = tree("meta")?;
        meta.insert(LAYOUT_KEY, LAYOUT)
            .map_err(LedgerError::index("write index layout"))?;
        let index = Self {
            merkle: tree("merkle")?,
            frames: tree("frames")?,
            alerts: tree("alerts")?,
            meta,
            views: view_trees,
            db,
        };
        index.drop_retired_views(&seen)?;
        for (view, tree) in &index.views {
            index.finish_view_commit(view.as_ref(), tree)?;
        }
        Ok(index)
    }

    /// Drops the trees of views no longer registered: a version that changes what a view stores
    /// gives it a new name, so the new one is rebuilt from the segments and the old one goes.
    fn drop_retired_views(
        &self,
        registered: &std::collections::HashSet<String>,
    ) -> Result<(), LedgerError> {
        for name in self.db.tree_names() {
            let Some(view) = name.strip_prefix(b"view/") else {
                continue;
            };
            let view = String::from_utf8_lossy(view).into_owned();
            if registered.contains(&view) {
                continue;
            }
            self.db
                .drop_tree(&name)
                .map_err(LedgerError::index("drop retired view"))?;
            for key in [legacy_view_marker(&view), redo_key(&view)] {
                self.meta
                    .remove(key)
                    .map_err(LedgerError::index("remove retired view marker"))?;
            }
            tracing::info!(view, "dropped a view this version no longer keeps");
        }
        Ok(())
    }

    /// Applies again the redo record of a view batch a crash interrupted, if any.
    fn finish_view_commit(&self, view: &dyn View, tree: &Tree) -> Result<(), LedgerError> {
        let name = view.name();
        let Some(record) = self
            .meta
            .get(redo_key(name))
            .map_err(LedgerError::index("read view redo record"))?
        else {
            return Ok(());
        };
        let malformed =
            || LedgerError::Inconsistent(format!("the redo record of view {name} is malformed"));
        let header = record.get(..12).ok_or_else(malformed)?;
        let (target, parts) = header.split_at(8);
        let target = u64::from_be_bytes(target.try_into().map_err(|_| malformed())?);
        let parts = u32::from_be_bytes(parts.try_into().map_err(|_| malformed())?);
        if target <= self.view_marker(view, tree)? {
            return Ok(());
        }
        let mut writes = Vec::new();
        decode_writes(&record[12..], &mut writes)?;
        for part in 1..parts {
            let bytes = self
                .meta
                .get(redo_part_key(name, part))
                .map_err(LedgerError::index("read view redo record"))?
                .ok_or_else(malformed)?;
            decode_writes(&bytes, &mut writes)?;
        }
        tracing::info!(
            view = name,
            entries = target,
            "completing a view update a crash interrupted"
        );
        write_view(
            tree,
            writes.iter().map(|(k, v)| (k.as_slice(), v.as_deref())),
            target,
        )
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
                for key in [legacy_view_marker(view.name()), redo_key(view.name())] {
                    self.meta
                        .remove(key)
                        .map_err(LedgerError::index("remove view marker"))?;
                }
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
        let mut by_alert: BTreeMap<&[u8], Vec<u64>> = BTreeMap::new();
        for (index, alert_id) in entries.iter().filter(|(_, id)| !id.is_empty()) {
            by_alert.entry(alert_id).or_default().push(*index);
        }
        for (alert_id, indexes) in by_alert {
            self.append_alert_indexes(alert_id, &indexes)?;
        }
        self.set_marker(MARK_ALERTS, applied)
    }

    /// Appends ascending `indexes` to an alert's last chunk, starting new chunks as they fill.
    /// Indexes the chunks already hold are skipped, so replaying entries after a crash that came
    /// between these writes and the marker writes nothing twice.
    fn append_alert_indexes(&self, alert_id: &[u8], indexes: &[u64]) -> Result<(), LedgerError> {
        let prefix = alert_prefix(alert_id);
        let last = self
            .alerts
            .scan_prefix(&prefix)
            .next_back()
            .transpose()
            .map_err(LedgerError::index("read alert index"))?;
        let (mut chunk, mut value) = match last {
            Some((key, value)) => {
                let number = key[prefix.len()..].try_into().map(u32::from_be_bytes);
                let number = number
                    .map_err(|_| LedgerError::Inconsistent("malformed alert index key".into()))?;
                (number, value.to_vec())
            }
            None => (0, Vec::new()),
        };
        let mut held = if value.is_empty() {
            None
        } else {
            chunk_indexes(&value)?.last()
        };
        let mut changed = false;
        for &index in indexes {
            if held.is_some_and(|held| index <= held) {
                continue;
            }
            if value.len() == ALERT_CHUNK * 8 {
                if changed {
                    self.insert_alert_chunk(&prefix, chunk, &value)?;
                }
                chunk += 1;
                value.clear();
            }
            value.extend_from_slice(&index.to_be_bytes());
            held = Some(index);
            changed = true;
        }
        if changed {
            self.insert_alert_chunk(&prefix, chunk, &value)?;
        }
        Ok(())
    }

    fn insert_alert_chunk(
        &self,
        prefix: &[u8],
        chunk: u32,
        value: &[u8],
    ) -> Result<(), LedgerError> {
        self.alerts
            .insert(alert_chunk_key(prefix, chunk), value)
            .map(drop)
            .map_err(LedgerError::index("write alert index"))
    }

    /// Applies entries to every view that has not seen them, committing each view's writes with
    /// its marker as one (see the module notes). `entries` must be consecutive.
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
            let pending = txn.into_pending();
            self.commit_view(view.name(), tree, &pending, last + 1)?;
        }
        Ok(())
    }

    /// Commits a view's writes for a batch that brings it to `target` entries: the redo record,
    /// then the writes, then the marker.
    fn commit_view(
        &self,
        name: &str,
        tree: &Tree,
        pending: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
        target: u64,
    ) -> Result<(), LedgerError> {
        self.write_redo(name, pending, target)?;
        write_view(
            tree,
            pending.iter().map(|(k, v)| (k.as_slice(), v.as_deref())),
            target,
        )
    }

    /// Records a view batch's writes in `meta` as its redo record.
    fn write_redo(
        &self,
        name: &str,
        pending: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
        target: u64,
    ) -> Result<(), LedgerError> {
        let mut parts = vec![Vec::new()];
        for (key, value) in pending {
            let part = parts.last_mut().expect("one part at least");
            encode_writes(std::iter::once((key.as_slice(), value.as_deref())), part);
            if part.len() >= REDO_PART_BYTES {
                parts.push(Vec::new());
            }
        }
        // The parts after the first go in first: the record that names them must not outlive them.
        for (part, bytes) in parts.iter().enumerate().skip(1) {
            self.meta
                .insert(redo_part_key(name, part as u32), bytes.as_slice())
                .map_err(LedgerError::index("write view redo record"))?;
        }
        let mut record = Vec::with_capacity(12 + parts[0].len());
        record.extend_from_slice(&target.to_be_bytes());
        record.extend_from_slice(&(parts.len() as u32).to_be_bytes());
        record.extend_from_slice(&parts[0]);
        self.meta
            .insert(redo_key(name), record)
            .map(drop)
            .map_err(LedgerError::index("write view redo record"))
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

    /// Where each frame from the one holding entry `from` on is, in order.
    pub(crate) fn frame_locs(
        &self,
        from: u64,
    ) -> impl Iterator<Item = Result<FrameLoc, LedgerError>> + use<> {
        let start = match self.frame_for(from) {
            Ok(Some(loc)) => loc.first_index,
            _ => from,
        };
        self.frames.range(start.to_be_bytes()..).map(|item| {
            let (k, v) = item.map_err(LedgerError::index("read frame location"))?;
            FrameLoc::decode(&k, &v)
                .ok_or_else(|| LedgerError::Inconsistent("malformed frame location".into()))
        })
    }

    /// Indexes of the entries about `alert_id`, ascending.
    pub(crate) fn alert_indexes(&self, alert_id: &[u8]) -> Result<Vec<u64>, LedgerError> {
        let mut indexes = Vec::new();
        for chunk in self.alerts.scan_prefix(alert_prefix(alert_id)).values() {
            let chunk = chunk.map_err(LedgerError::index("scan alert index"))?;
            indexes.extend(chunk_indexes(&chunk)?);
        }
        Ok(indexes)
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

/// Writes `key` (or removes it when `value` is `None`) in a view's tree.
fn write_one(tree: &Tree, key: &[u8], value: Option<&[u8]>) -> Result<(), LedgerError> {
    match value {
        Some(value) => tree.insert(key, value),
        None => tree.remove(key),
    }
    .map(drop)
    .map_err(LedgerError::index("write view"))
}

/// Writes a view batch key by key, then moves the view's marker to `target`.
fn write_view<'a>(
    tree: &Tree,
    writes: impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)>,
    target: u64,
) -> Result<(), LedgerError> {
    for (key, value) in writes {
        write_one(tree, key, value)?;
    }
    tree.insert(VIEW_MARKER, &target.to_be_bytes())
        .map(drop)
        .map_err(LedgerError::index("write view marker"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::{ViewError, ViewTxn};

    /// Counts entries per alert id and keeps the last index seen: each entry's effect depends on
    /// what came before, as in the node's views.
    struct Counts;

    impl View for Counts {
        fn name(&self) -> &str {
            "counts"
        }

        fn apply(
            &self,
            index: u64,
            entry: &LedgerEntry,
            txn: &mut ViewTxn<'_>,
        ) -> Result<(), ViewError> {
            let key = entry.alert_id.as_bytes().to_vec();
            let count = txn
                .get(&key)?
                .map_or(0, |v| u64::from_be_bytes(v.try_into().unwrap_or_default()));
            txn.insert(key, (count + 1).to_be_bytes().to_vec());
            txn.insert(b"last".to_vec(), index.to_be_bytes().to_vec());
            if count == 1 {
                txn.remove(format!("{}-once", entry.alert_id).into_bytes());
            } else if count == 0 {
                txn.insert(format!("{}-once", entry.alert_id).into_bytes(), vec![1]);
            }
            Ok(())
        }
    }

    fn entries(range: std::ops::Range<u64>, pad: usize) -> Vec<LedgerEntry> {
        range
            .map(|i| LedgerEntry {
                alert_id: format!("A-{}-{}", i % 5, "x".repeat(pad)),
                ..Default::default()
            })
            .collect()
    }

    fn apply(index: &Index, first: u64, batch: &[LedgerEntry]) {
        let refs: Vec<(u64, &LedgerEntry)> = (first..).zip(batch).collect();
        index.apply_views(&refs).unwrap();
    }

    /// The view's tree as a map, without its marker.
    fn contents(index: &Index) -> BTreeMap<Vec<u8>, Vec<u8>> {
        index.views[0]
            .1
            .iter()
            .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
            .filter(|(k, _)| k.as_slice() != VIEW_MARKER)
            .collect()
    }

    /// What applying `all` in batches of `batch` leaves in a fresh index.
    fn expected(all: &[LedgerEntry], batch: usize) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(dir.path(), vec![Arc::new(Counts)]).unwrap();
        for (k, chunk) in all.chunks(batch).enumerate() {
            apply(&index, (k * batch) as u64, chunk);
        }
        contents(&index)
    }

    #[test]
    fn a_view_batch_cut_short_by_a_crash_is_completed_on_open() {
        // Small entries fit the redo record in one part; large ones need several.
        for pad in [10, 6_000] {
            let all = entries(0..40, pad);
            let dir = tempfile::tempdir().unwrap();
            let index = Index::open(dir.path(), vec![Arc::new(Counts)]).unwrap();
            apply(&index, 0, &all[..20]);
            // The next batch's redo record and only two of its writes reach sled: the crash.
            let mut txn = ViewTxn::new(&index.views[0].1);
            for (i, entry) in (20..).zip(&all[20..40]) {
                Counts.apply(i, entry, &mut txn).unwrap();
            }
            let pending = txn.into_pending();
            assert!(pending.len() > 3);
            index.write_redo("counts", &pending, 40).unwrap();
            for (key, value) in pending.iter().take(2) {
                write_one(&index.views[0].1, key, value.as_deref()).unwrap();
            }
            assert_eq!(index.view_applied(0).unwrap(), 20);
            drop(index);

            let index = Index::open(dir.path(), vec![Arc::new(Counts)]).unwrap();
            assert_eq!(index.view_applied(0).unwrap(), 40, "pad {pad}");
            assert_eq!(contents(&index), expected(&all, 20), "pad {pad}");
            // Later batches go on from there, and a stale redo record is not applied again.
            apply(&index, 40, &entries(40..45, pad));
            drop(index);
            let index = Index::open(dir.path(), vec![Arc::new(Counts)]).unwrap();
            assert_eq!(index.view_applied(0).unwrap(), 45);
            assert_eq!(
                contents(&index),
                expected(&entries(0..45, pad), 5),
                "pad {pad}"
            );
        }
    }

    #[test]
    fn a_crash_before_the_redo_record_leaves_the_view_as_it_was() {
        let all = entries(0..30, 10);
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(dir.path(), vec![Arc::new(Counts)]).unwrap();
        apply(&index, 0, &all[..10]);
        let before = contents(&index);
        drop(index);
        let index = Index::open(dir.path(), vec![Arc::new(Counts)]).unwrap();
        assert_eq!(index.view_applied(0).unwrap(), 10);
        assert_eq!(contents(&index), before);
        // Replaying what the view lacks gives what applying everything once gives.
        apply(&index, 10, &all[10..]);
        assert_eq!(contents(&index), expected(&all, 10));
    }

    #[test]
    fn an_alert_s_indexes_fill_chunks_and_a_replay_adds_none_twice() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(dir.path(), Vec::new()).unwrap();
        let one: &[u8] = b"ALERT-ONE";
        let two: &[u8] = b"ALERT-ONE-AND-MORE";
        let mut written = 0u64;
        for batch in [1u64, 7, 30, 2, 45] {
            let entries: Vec<(u64, &[u8])> = (written..written + batch)
                .map(|i| (i, if i % 3 == 0 { two } else { one }))
                .collect();
            index.write_alerts(&entries, written + batch).unwrap();
            // A crash before the marker moved: the same entries come again.
            index.write_alerts(&entries, written + batch).unwrap();
            written += batch;
        }
        let want = |id: &[u8]| -> Vec<u64> {
            (0..written)
                .filter(|i| (i % 3 == 0) == (id == two))
                .collect()
        };
        assert_eq!(index.alert_indexes(one).unwrap(), want(one));
        assert_eq!(index.alert_indexes(two).unwrap(), want(two));
        assert_eq!(index.alert_indexes(b"ALERT").unwrap(), Vec::<u64>::new());
        let keys = index.alerts.len();
        let chunks = |n: usize| n.div_ceil(ALERT_CHUNK);
        assert_eq!(keys, chunks(want(one).len()) + chunks(want(two).len()));
    }

    #[test]
    fn an_index_of_another_layout_is_emptied_for_a_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(dir.path(), vec![Arc::new(Counts)]).unwrap();
        apply(&index, 0, &entries(0..10, 10));
        index.write_alerts(&[(5, b"ALERT")], 10).unwrap();
        drop(index);
        // Reopened in the same layout, it keeps what it holds.
        let index = Index::open(dir.path(), vec![Arc::new(Counts)]).unwrap();
        assert_eq!(index.alert_indexes(b"ALERT").unwrap(), vec![5]);
        assert_eq!(index.view_applied(0).unwrap(), 10);
        index.meta.remove(LAYOUT_KEY).unwrap();
        drop(index);

        let index = Index::open(dir.path(), vec![Arc::new(Counts)]).unwrap();
        assert!(index.alerts.is_empty());
        assert_eq!(index.alerts_applied().unwrap(), 0);
        assert_eq!(index.view_applied(0).unwrap(), 0);
        assert!(contents(&index).is_empty());
        drop(index);
        let index = Index::open(dir.path(), vec![Arc::new(Counts)]).unwrap();
        assert_eq!(index.meta.get(LAYOUT_KEY).unwrap().as_deref(), Some(LAYOUT));
    }

    #[test]
    fn redo_records_round_trip_and_refuse_garbage() {
        let writes: Vec<(&[u8], Option<&[u8]>)> =
            vec![(b"a", Some(b"1")), (b"bb", None), (b"c", Some(b""))];
        let mut bytes = Vec::new();
        encode_writes(writes.iter().copied(), &mut bytes);
        let mut back = Vec::new();
        decode_writes(&bytes, &mut back).unwrap();
        let back: Vec<(&[u8], Option<&[u8]>)> = back
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_deref()))
            .collect();
        assert_eq!(back, writes);
        // Cut inside a write (11 and 18 are where the second and third begin).
        for cut in (1..bytes.len()).filter(|cut| ![11, 18].contains(cut)) {
            assert!(
                decode_writes(&bytes[..cut], &mut Vec::new()).is_err(),
                "cut at {cut}"
            );
        }
        let mut flag = bytes.clone();
        flag[5] = 7;
        assert!(decode_writes(&flag, &mut Vec::new()).is_err());
    }
}
