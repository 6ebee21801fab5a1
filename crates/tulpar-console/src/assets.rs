//! The files pages load, embedded in the binary: nothing comes from the internet.

/// A static file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub bytes: &'static [u8],
}

const ASSETS: &[(&str, Asset)] = &[
    (
        "console.css",
        Asset {
            content_type: "text/css; charset=utf-8",
            bytes: include_bytes!("../assets/console.css"),
        },
    ),
    (
        "console.js",
        Asset {
            content_type: "text/javascript; charset=utf-8",
            bytes: include_bytes!("../assets/console.js"),
        },
    ),
];

/// The asset named `name` (under `/console/assets/`).
pub fn asset(name: &str) -> Option<Asset> {
    ASSETS
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, asset)| *asset)
}
