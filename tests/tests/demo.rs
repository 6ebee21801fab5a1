//! The README's first command, in the mode that exits after the scripted exchange.

use std::process::Command;

#[test]
fn the_demo_runs_the_scripted_exchange_and_verifies_both_ledgers() {
    let demo = tulpar_tests::binary("tulpar-demo").expect("tulpar-demo");
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("federation");
    for run in 0..2 {
        // Running it again replaces the previous federation.
        let output = Command::new(&demo)
            .arg("--dir")
            .arg(&folder)
            .arg("--exit")
            .output()
            .expect("run tulpar-demo");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "run {run}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("KZ sees the outcome: seizure"), "{stdout}");
        assert!(
            stdout.contains("KZ: ok:") && stdout.contains("UZ: ok:"),
            "{stdout}"
        );
    }
    // A folder it did not make is never removed.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).expect("mkdir");
    let output = Command::new(&demo)
        .arg("--dir")
        .arg(&foreign)
        .arg("--exit")
        .output()
        .expect("run");
    assert!(!output.status.success());
}
