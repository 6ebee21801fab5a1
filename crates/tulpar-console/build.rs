//! Embeds every catalog under `locales/<language>/*.ftl`, so a language added as a folder is in the
//! next build without a change to the code.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("locales");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    let languages = std::fs::read_dir(&root).expect("locales/ exists");
    for language in languages {
        let language = language.expect("a locales/ entry").path();
        if !language.is_dir() {
            continue;
        }
        println!("cargo:rerun-if-changed={}", language.display());
        for file in std::fs::read_dir(&language).expect("a language folder") {
            let file = file.expect("a catalog entry").path();
            if file.extension().is_some_and(|e| e == "ftl") {
                files.push(file);
            }
        }
    }
    files.sort();
    let mut code = String::from("/// Every embedded catalog: (language, file name, text).\n");
    code.push_str("pub(crate) const EMBEDDED: &[(&str, &str, &str)] = &[\n");
    for file in &files {
        let language = file
            .parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .expect("a language folder name");
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a catalog file name");
        writeln!(
            code,
            "    ({language:?}, {name:?}, include_str!({:?})),",
            file.display().to_string()
        )
        .expect("writing to a string");
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("catalogs.rs");
    std::fs::write(out, code).expect("writing catalogs.rs");
}
