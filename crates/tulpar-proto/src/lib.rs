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

/// The OpenAPI 3.1 document of the node's HTTP/JSON API, generated from the `.proto` files and their
/// `google.api.http` options when this crate is built: pretty-printed JSON with sorted keys, the same
/// bytes for the same `.proto` files. A copy is kept in `deploy/integration/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

/// Well-known protobuf types (`Timestamp`) with proto3 JSON support.
pub use pbjson_types;
