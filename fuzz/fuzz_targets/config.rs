//! A node's configuration file: TOML parsed, layered and validated by `Config::from_toml`, as
//! `tulpar-node --config` and `--check` read it. No environment variables: the file alone.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tulpar_config::Config;
use tulpar_fuzz as _;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Config::from_toml(text, Path::new("/etc/tulpar/node.toml"), std::iter::empty());
});
