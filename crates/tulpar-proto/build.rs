//! Compiles `proto/tulpar/v1` with protox (pure Rust, no system `protoc`), then generates from the same
//! descriptors:
//! - prost messages, tonic services and proto3-JSON serde impls (pbjson) for `tulpar.v1`;
//! - the encoded descriptor set for server reflection, `google.api.http` options included;
//! - the HTTP route table (`http_routes.rs`) from those options (`build/http_rules.rs`,
//!   `build/routes.rs`);
//! - the OpenAPI 3.1 document of the HTTP/JSON API (`openapi.json`, `build/openapi*.rs`).

use std::{env, fs, path::PathBuf};

use prost::Message;

#[path = "build/comments.rs"]
mod comments;
#[path = "build/http_rules.rs"]
mod http_rules;
#[path = "build/openapi.rs"]
mod openapi;
#[path = "build/openapi_errors.rs"]
mod openapi_errors;
#[path = "build/openapi_schemas.rs"]
mod openapi_schemas;
#[path = "build/routes.rs"]
mod routes;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let v1 = proto_root.join("tulpar/v1");
    let mut files: Vec<PathBuf> = fs::read_dir(&v1)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|ext| ext == "proto"));
    files.sort();
    println!("cargo:rerun-if-changed={}", v1.display());
    println!(
        "cargo:rerun-if-changed={}",
        proto_root.join("google/api").display()
    );
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let mut compiler = protox::Compiler::new([&proto_root])?;
    compiler
        .include_imports(true)
        .include_source_info(true)
        .open_files(&files)?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    // For reflection: every file, with its extension options (prost-types would drop them).
    fs::write(
        out_dir.join("tulpar_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    // The google.api files only carry the http options: nothing needs their Rust types.
    let mut codegen = compiler.file_descriptor_set();
    codegen
        .file
        .retain(|file| !file.package().starts_with("google.api"));
    let codegen_bytes = codegen.encode_to_vec();

    tonic_prost_build::configure()
        // Undecodable requests are the caller's mistake: INVALID_ARGUMENT, not INTERNAL.
        .codec_path("crate::codec::StrictCodec")
        // Well-known types come from pbjson-types, whose Timestamp serializes as RFC 3339 in JSON.
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_fds(codegen)?;

    pbjson_build::Builder::new()
        .register_descriptors(&codegen_bytes)?
        .extern_path(".google.protobuf", "::pbjson_types")
        .build(&[".tulpar"])?;

    let pool = compiler.descriptor_pool();
    let bindings = http_rules::bindings(&pool)?;
    fs::write(out_dir.join("http_routes.rs"), routes::source(&bindings)?)?;
    let version = env::var("CARGO_PKG_VERSION")?;
    fs::write(
        out_dir.join("openapi.json"),
        openapi::document(&bindings, &version)?,
    )?;
    Ok(())
}
