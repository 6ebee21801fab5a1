//! The `tulpar-node` binary refuses a bad start with one clear line (and, being an integration test,
//! makes `cargo test --workspace` build the binary the end-to-end tests run).

use std::process::Command;

fn node(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tulpar-node"))
        .args(args)
        .output()
        .expect("run tulpar-node");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_missing_configuration_file_is_named() {
    let (ok, stderr) = node(&["--config", "/nonexistent/node.toml", "--check"]);
    assert!(!ok);
    assert!(stderr.contains("/nonexistent/node.toml"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn a_bad_field_is_named_with_its_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let example = include_str!("../../../deploy/node.example.toml");
    let path = dir.path().join("node.toml");
    std::fs::write(
        &path,
        example.replacen("urgent = \"30m\"", "urgent = \"soon\"", 1),
    )
    .expect("write");
    let (ok, stderr) = node(&["--config", path.to_str().expect("utf-8"), "--check"]);
    assert!(!ok);
    assert!(
        stderr.contains("deadlines.urgent: \"soon\" is not a duration"),
        "{stderr}"
    );
}

#[test]
fn missing_keys_are_reported_before_anything_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("node.toml");
    std::fs::write(&path, include_str!("../../../deploy/node.example.toml")).expect("write");
    let (ok, stderr) = node(&["--config", path.to_str().expect("utf-8"), "--check"]);
    assert!(!ok);
    assert!(stderr.contains("tls.certificate"), "{stderr}");
}

#[test]
fn an_unknown_log_format_is_refused_naming_the_choices() {
    let (ok, stderr) = node(&["--log-format", "xml", "--check"]);
    assert!(!ok);
    assert!(
        stderr.contains("\"xml\" is not one of text, json"),
        "{stderr}"
    );
}
