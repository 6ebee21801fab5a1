//! Trust: who may sign what for which country, and how nodes recognise each other.
//!
//! - [`directory`]: verifying a country's root-signed directory and answering "was this key valid for
//!   this unit, purpose and time".
//! - [`draft`]: preparing and signing the next version of one's own directory.
//! - [`store`]: the node's [`TrustStore`], one entry per partner country, persistent and live.
//! - [`tls`]: certificates and rustls configurations for mutual TLS between nodes.
//! - [`ceremony`]: everything a new country needs, generated in one go.
//! - [`node_cert`]: the node's TLS certificate: its names, issuing and installing it.
//! - [`keyfile`], [`files`]: key files and atomic writes. They live here rather than in `tulpar-core`,
//!   which does no I/O.

pub mod ceremony;
pub mod directory;
pub mod draft;
pub mod files;
pub mod keyfile;
pub mod node_cert;
pub mod store;
pub mod tls;

pub use store::TrustStore;
