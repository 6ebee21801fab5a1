//! The append-only ledger every Tulpar node keeps.
//!
//! Every fact a node learns or creates is appended here first; everything else is derived from it.
//!
//! # On disk
//!
//! ```text
//! <dir>/ledger.pub                       the checkpoint key (SPKI PEM)
//! <dir>/ledger.earlier.pub               keys that signed earlier checkpoints, if the key changed
//! <dir>/segments/<20-digit first index>.seg
//! <dir>/index/                           sled: Merkle nodes, frame locations, alert index, views
//! ```
//!
//! **Segments are the truth.** Each is a header (magic `TULPRSEG`, version, first index, crc32)
//! followed by one *frame* per group commit: a header (magic, body length, first index, count,
//! crc32 over header fields and body), the records (`len | crc32 | prost-encoded LedgerEntry`), and
//! the checkpoint note signed for the batch. A frame is written and `fdatasync`ed before any appender
//! is answered, so every frame checks itself and carries its own signed root. A new segment starts
//! past 16 MiB (readers hold one segment at a time). On open, a damaged frame with no valid frame after it (a torn tail) is cut, its bytes
//! kept in `<dir>/damaged/`, and reported in [`OpenReport::truncated`]; damage followed by valid
//! frames is an error naming the segment, offset and entry. Opening reads only the last segment; the
//! closed ones are checked by [`Ledger::check_closed_segments`], and damage found there or by a read
//! is kept in [`Ledger::integrity`]. A damaged frame's entries that still match their leaf hashes
//! read as written; the others are refused naming them.
//!
//! **Repairs** ([`repair`]) run offline: a damaged frame is replaced by the same bytes from a copy,
//! damage in the last segment that no copy holds is cut (its bytes kept), and the ledger regrows from
//! copies and kept tails, each frame accepted only when it verifies against its signed checkpoint. A
//! ledger cut below a checkpoint it had signed is held ([`HOLD_FILE`]): it appends nothing (so signs
//! nothing) until it has regrown to that checkpoint.
//!
//! **sled holds what is derived**, each part tagged with the number of entries it has applied: the
//! hash of every complete Merkle subtree by `(level, index)`, 16 consecutive nodes of a level per key
//! (so any proof is O(log n) reads),
//! where each frame starts, alert id → indexes, and one tree per [`View`]. Opening replays into each
//! part only the entries it lacks, so losing sled's last writes loses nothing and a large ledger
//! opens without a full scan.
//!
//! **Checkpoints** are C2SP `tlog-checkpoint` signed notes ([`note`]); exactly one is signed per
//! committed batch (not per entry), and [`Appended::checkpoint`] is the one covering the entry.
//!
//! Hashing is RFC 9162: leaf = SHA-256(0x00 || entry bytes), node = SHA-256(0x01 || left || right).
//! Proof verification in [`merkle`] is pure. [`verify::verify_dir`] checks a ledger directory offline.

mod aside;
mod commit;
mod damage;
mod error;
mod hold;
mod index;
mod keys;
mod ledger;
pub mod merkle;
pub mod note;
mod read;
mod recover;
pub mod repair;
mod segment;
mod stats;
pub mod verify;
mod view;

pub use aside::DAMAGED_DIR;
pub use damage::{CheckProgress, CheckReport, Damage, Integrity};
pub use error::LedgerError;
pub use hold::{HOLD_FILE, RESTORED_FILE, mark_restored};
pub use keys::{EARLIER_KEYS_FILE, PUBLIC_KEY_FILE, read_dir_keys, verify_any};
pub use ledger::{
    Appended, CommittedBatch, Ledger, LedgerOptions, MAX_APPEND_ENTRIES, MAX_ENTRY_BYTES,
    OpenReport,
};
pub use merkle::{
    Frontier, Hash, ProofError, leaf_hash, node_hash, verify_consistency, verify_consistency_proof,
    verify_inclusion, verify_inclusion_proof,
};
pub use note::{NoteError, RestoreStatement, SignedCheckpoint};
pub use recover::{SegmentEnd, TailTruncation, read_last_segment};
pub use stats::{CommitTimes, SYNC_BUCKETS};
pub use verify::{VerifyError, VerifyProgress, VerifyReport, verify_dir, verify_dir_entries};
pub use view::{View, ViewError, ViewTxn};
