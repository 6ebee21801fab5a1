//! Compiles `proto/tulpar/v1` with protox (pure Rust, no system `protoc`), then generates prost messages,
//! tonic services and proto3-JSON serde impls (pbjson) from the same descriptor set.

use std::{env, fs, path::PathBuf};

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let v1 = proto_root.join("tulpar/v1");
    let mut files: Vec<PathBuf> = fs::read_dir(&v1)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|ext| ext == "proto"));
    files.sort();
    println!("cargo:rerun-if-changed={}", v1.display());
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let descriptors = protox::compile(&files, [&proto_root])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("tulpar_descriptor.bin");
    fs::write(&descriptor_path, descriptors.encode_to_vec())?;

    tonic_prost_build::configure()
        .file_descriptor_set_path(&descriptor_path)
        .skip_protoc_run()
        // Undecodable requests are the caller's mistake: INVALID_ARGUMENT, not INTERNAL.
        .codec_path("crate::codec::StrictCodec")
        // Well-known types come from pbjson-types, whose Timestamp serializes as RFC 3339 in JSON.
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_fds(descriptors)?;

    let descriptor_bytes = fs::read(&descriptor_path)?;
    pbjson_build::Builder::new()
        .register_descriptors(&descriptor_bytes)?
        .extern_path(".google.protobuf", "::pbjson_types")
        .build(&[".tulpar"])?;
    Ok(())
}
