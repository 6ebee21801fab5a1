//! The `tulpar` binary as a process: keygen, alert check and offline envelope signing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tulpar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tulpar"))
        .args(args)
        .output()
        .expect("run tulpar")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/examples")
}

fn example_files(prefix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples())
        .expect("examples dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".json"))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_valid_example_passes_with_a_summary() {
    let files = example_files("alert-");
    assert!(files.len() >= 8, "one valid example per threat category");
    for file in files {
        let output = tulpar(&["alert", "check", file.to_str().expect("utf-8 path")]);
        assert!(
            output.status.success(),
            "{}: {}{}",
            file.display(),
            stdout(&output),
            stderr(&output)
        );
        let out = stdout(&output);
        assert_eq!(out.lines().count(), 1, "one-line summary: {out}");
        assert!(out.starts_with("valid: "), "{out}");
    }
}

#[test]
fn every_invalid_example_fails_naming_field_and_rule() {
    let files = example_files("invalid-");
    assert!(files.len() >= 4);
    for file in files {
        let output = tulpar(&["alert", "check", file.to_str().expect("utf-8 path")]);
        assert_eq!(output.status.code(), Some(1), "{}", file.display());
        assert!(!stdout(&output).contains("valid:"), "{}", file.display());
    }
}

#[test]
fn check_digit_violations_are_listed_one_per_line() {
    let file = examples().join("invalid-check-digits.json");
    let output = tulpar(&["alert", "check", file.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(1));
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.contains(
        &r#"consignment.containers[1]: "MSKU1234566" fails the ISO 6346 check digit (expected 5)"#
    ));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("consignment.transport_document.number: "))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("consignment.conveyance.vessel.imo_number: "))
    );
}

#[test]
fn a_file_that_is_not_a_draft_is_refused_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("draft.json");
    std::fs::write(&file, "{ not json").expect("write");
    let output = tulpar(&["alert", "check", file.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("proto3 JSON") || stderr(&output).contains("proto3 JSON"));

    let missing = dir.path().join("missing.json");
    let output = tulpar(&["alert", "check", missing.to_str().expect("utf-8 path")]);
    assert!(!output.status.success());
    assert!(stdout(&output).contains("cannot read") || stderr(&output).contains("cannot read"));
}

/// Writes an `Alert` wrapping the example draft, in proto3 JSON.
fn write_alert(dir: &Path) -> PathBuf {
    let draft =
        std::fs::read_to_string(examples().join("alert-drugs-precursors.json")).expect("draft");
    let alert = format!(
        r#"{{"alertId":"0190c1a2-0000-7000-8000-000000000001","createdAt":"2026-11-24T08:00:00Z","content":{draft}}}"#
    );
    let path = dir.join("alert.json");
    std::fs::write(&path, alert).expect("write alert");
    path
}

fn keygen(dir: &Path, name: &str) -> (String, PathBuf, PathBuf) {
    let output = tulpar(&[
        "keygen",
        "--out",
        dir.to_str().expect("utf-8"),
        "--name",
        name,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let key_id = stdout(&output).trim().to_owned();
    assert_eq!(key_id.len(), 64, "key id is 32 bytes hex: {key_id}");
    (
        key_id,
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    )
}

#[test]
fn keygen_writes_a_private_key_only_its_owner_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, key, public) = keygen(dir.path(), "kz-aktau");
    let mode = std::fs::metadata(&key).expect("key").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(public.exists());
    // Never overwrites an existing key.
    let again = tulpar(&[
        "keygen",
        "--out",
        dir.path().to_str().expect("utf-8"),
        "--name",
        "kz-aktau",
    ]);
    assert!(!again.status.success());
}

#[test]
fn signed_envelope_verifies_and_tampering_or_wrong_key_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key_id, key, public) = keygen(dir.path(), "signer");
    let (_, _, other_public) = keygen(dir.path(), "other");
    let alert = write_alert(dir.path());

    let signed = tulpar(
        &[
            "envelope",
            "sign",
            "--key",
            key.to_str().expect("utf-8"),
            "--type",
            "alert",
        ]
        .into_iter()
        .chain([alert.to_str().expect("utf-8")])
        .collect::<Vec<_>>(),
    );
    assert!(signed.status.success(), "{}", stderr(&signed));
    let envelope = dir.path().join("alert.env.json");
    std::fs::write(&envelope, &signed.stdout).expect("write envelope");

    let verified = tulpar(&[
        "envelope",
        "verify",
        "--pubkey",
        public.to_str().expect("utf-8"),
        envelope.to_str().expect("utf-8"),
    ]);
    assert!(verified.status.success(), "{}", stderr(&verified));
    assert!(stderr(&verified).contains(&key_id) || stdout(&verified).contains(&key_id));

    let wrong_key = tulpar(&[
        "envelope",
        "verify",
        "--pubkey",
        other_public.to_str().expect("utf-8"),
        envelope.to_str().expect("utf-8"),
    ]);
    assert_eq!(wrong_key.status.code(), Some(1));

    let wrong_type = tulpar(&[
        "envelope",
        "verify",
        "--type",
        "receipt",
        "--pubkey",
        public.to_str().expect("utf-8"),
        envelope.to_str().expect("utf-8"),
    ]);
    assert!(!wrong_type.status.success());

    let mut json: serde_json::Value =
        serde_json::from_slice(&signed.stdout).expect("envelope is JSON");
    let payload = json["payload"].as_str().expect("payload").to_owned();
    let mut chars: Vec<char> = payload.chars().collect();
    chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
    json["payload"] = serde_json::Value::String(chars.into_iter().collect());
    std::fs::write(&envelope, serde_json::to_vec(&json).expect("json")).expect("write");
    let tampered = tulpar(&[
        "envelope",
        "verify",
        "--pubkey",
        public.to_str().expect("utf-8"),
        envelope.to_str().expect("utf-8"),
    ]);
    assert_eq!(tampered.status.code(), Some(1));
}

#[test]
fn signing_with_a_group_readable_key_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, key, _) = keygen(dir.path(), "loose");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let alert = write_alert(dir.path());
    let output = tulpar(&[
        "envelope",
        "sign",
        "--key",
        key.to_str().expect("utf-8"),
        "--type",
        "alert",
        alert.to_str().expect("utf-8"),
    ]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("chmod 600"), "{}", stderr(&output));
}

#[test]
fn token_new_prints_a_token_and_its_sha256() {
    let output = tulpar(&["token", "new"]);
    assert!(output.status.success());
    let out = stdout(&output);
    let token = out
        .lines()
        .find_map(|l| l.strip_prefix("token:  "))
        .expect("token line");
    let hash = out
        .lines()
        .find_map(|l| l.strip_prefix("sha256: "))
        .expect("hash line");
    assert!(token.len() >= 43, "256 bits of randomness: {token}");
    assert_eq!(hash.len(), 64);
    assert_ne!(
        token,
        stdout(&tulpar(&["token", "new"]))
            .lines()
            .next()
            .unwrap_or_default()
    );
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let output = tulpar(&["completions", shell]);
        assert!(output.status.success(), "{shell}");
        assert!(stdout(&output).contains("alert"), "{shell}");
    }
    assert!(!tulpar(&["completions", "cmd.exe"]).status.success());
}
