//! The README's first command, in the mode that exits after the scripted exchange.

use std::path::Path;
use std::process::{Command, Output};

use tulpar_tests::output_text;

/// Runs `demo --dir <dir> --exit`, with `PATH` emptied when `alone`.
fn run_demo(demo: &Path, dir: &Path, alone: bool) -> Output {
    let mut command = Command::new(demo);
    command.arg("--dir").arg(dir).arg("--exit");
    if alone {
        command.env("PATH", "");
    }
    command.output().expect("run tulpar-demo")
}

#[test]
fn the_demo_runs_the_scripted_exchange_and_verifies_both_ledgers() {
    let demo = tulpar_tests::binary("tulpar-demo").expect("tulpar-demo");
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("federation");
    for run in 0..2 {
        // Running it again replaces the previous federation.
        let output = run_demo(&demo, &folder, false);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "run {run}: {}",
            output_text(&output)
        );
        assert!(stdout.contains("KZ sees the outcome: seizure"), "{stdout}");
        assert!(
            stdout.contains("KZ: ok:") && stdout.contains("UZ: ok:"),
            "{stdout}"
        );
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("http api: https://127.0.0.1:")),
            "{stdout}"
        );
        for code in ["KZ", "UZ"] {
            assert!(
                stdout.lines().any(|l| l
                    .starts_with(&format!("metrics: {code} http://127.0.0.1:"))
                    && l.ends_with("/metrics")),
                "{stdout}"
            );
        }
    }
    // A folder it did not make is never removed.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).expect("mkdir");
    let output = run_demo(&demo, &foreign, false);
    assert!(!output.status.success());
}

/// Links (or copies) `names` from the build's folder into a new folder inside it.
fn alone(names: &[&str]) -> tempfile::TempDir {
    let demo = tulpar_tests::binary("tulpar-demo").expect("tulpar-demo");
    let built = demo.parent().expect("target folder");
    let folder = tempfile::tempdir_in(built).expect("tempdir");
    for name in names {
        let to = folder.path().join(name);
        let from = tulpar_tests::binary(name).expect(name);
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).expect("copy");
        }
    }
    folder
}

#[test]
fn the_demo_runs_from_a_folder_holding_only_the_three_binaries() {
    let folder = alone(&["tulpar-demo", "tulpar", "tulpar-node"]);
    let output = run_demo(
        &folder.path().join("tulpar-demo"),
        &folder.path().join("federation"),
        true,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", output_text(&output));
    assert!(stdout.contains("KZ sees the outcome: seizure"), "{stdout}");
}

#[test]
fn the_demo_alone_names_what_is_missing_and_builds_nothing() {
    let folder = alone(&["tulpar-demo", "tulpar"]);
    let output = run_demo(
        &folder.path().join("tulpar-demo"),
        &folder.path().join("federation"),
        true,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("`tulpar-node` is neither beside")
            && stderr.contains("cargo build --release"),
        "{stderr}"
    );
    // It stopped before making anything.
    assert!(!folder.path().join("federation").exists());
}
