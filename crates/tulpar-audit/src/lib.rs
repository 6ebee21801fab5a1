//! Audit of a ledger's contents, shared by the node's `AuditService` and the offline
//! `tulpar ledger verify --config`: both check every signature an entry holds with the same
//! [`EntryChecker`], so a focal point and an operator reading the segments directly reach the same
//! verdict.

pub mod report;
pub mod signatures;

pub use signatures::{
    EntryChecker, OwnDirectoryError, RevokedUse, own_directory, read_own_directory,
};
