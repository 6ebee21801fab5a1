//! Generated Rust code for the Tulpar v1 protocol.
//!
//! The `.proto` files in `proto/tulpar/v1/` are the public contract; this crate holds only what is
//! generated from them: prost messages, tonic clients and servers, and serde implementations that follow
//! the proto3 JSON mapping. Domain rules and conversions live in `tulpar-core`.
#![allow(missing_docs, unreachable_pub, clippy::all)]

pub mod codec;
pub mod http;

/// Version 1 of the protocol.
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/tulpar.v1.rs"));
    include!(concat!(env!("OUT_DIR"), "/tulpar.v1.serde.rs"));
}

/// The encoded `FileDescriptorSet` of all v1 files and the files they import, for gRPC server
/// reflection, with source comments and extension options (`google.api.http`) included.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/tulpar_descriptor.bin"));

/// Well-known protobuf types (`Timestamp`) with proto3 JSON support.
pub use pbjson_types;
