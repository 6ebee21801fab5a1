//! What both ends of Tulpar's gRPC share, so that a client (the `tulpar` command, the tools) links
//! none of the node:
//!
//! - [`channel`]: a lazily connecting channel to a node over TLS with a given rustls configuration
//!   (`tulpar-trust` makes the configurations).
//! - [`status`]: the field violations an `INVALID_ARGUMENT` status carries, written by the node and
//!   read by its clients in one place.

pub mod channel;
pub mod status;

pub use channel::{ChannelError, Keepalive, tls_channel, tls_channel_with_keepalive};
pub use status::{invalid_argument, violations_of};
