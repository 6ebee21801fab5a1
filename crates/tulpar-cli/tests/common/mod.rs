//! Running the `tulpar` binary the way an operator does, for the CLI's tests.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `tulpar` with `args` in `cwd`.
pub(crate) fn tulpar(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tulpar"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

/// Runs `tulpar`, which must succeed, and returns its standard output, trimmed.
pub(crate) fn ok(args: &[&str], cwd: &Path) -> String {
    let out = tulpar(args, cwd);
    assert!(
        out.status.success(),
        "tulpar {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Runs `tulpar`, which must fail, and returns its standard error.
pub(crate) fn refused(args: &[&str], cwd: &Path) -> String {
    let out = tulpar(args, cwd);
    assert!(!out.status.success(), "tulpar {args:?} should have failed");
    String::from_utf8(out.stderr).unwrap()
}
