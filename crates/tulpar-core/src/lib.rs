//! Tulpar's domain: the validated alert model, identifiers with their check digits, signed envelopes
//! and Ed25519 keys.
//!
//! **Architecture invariant:** this crate performs no I/O: no files, no network, no database. Callers read
//! and write bytes; this crate decides what they mean and whether they are valid.

pub mod alert;
pub mod codes;
pub mod envelope;
pub mod ids;
pub mod keys;
pub mod limits;
pub mod merkle;
pub mod normalise;
pub mod pem;
pub mod response;
pub mod sample;
pub mod time;
pub mod validation;
pub mod webhook;

pub use tulpar_proto::v1 as proto;
